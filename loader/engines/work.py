"""One part of a load, on a worker: read it, run the stages, encode for the sink, and
leave the result in the spill directory for the coordinator to commit.

``run_part`` is a top-level function of plain, picklable arguments, so a process pool
or a Dask worker on another machine runs it the same way. Its results travel through
files, not through the scheduler: the part's rows as SQLite stores them (Arrow IPC files,
or a side database), or sorted runs of LevelDB keys and values, the
part's rejects, and last a manifest with the counts. Every file is written under a
temporary name and renamed when whole, and the manifest comes last, so a part with a
manifest is finished, whichever worker did it and however often it was retried. Each
execution of a part names its files apart (``attempt_base``): two at once (a killed run's
worker that lives on, and the rerun's) never write, rename or remove each other's, and the
manifest names one execution's files, all whole.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import gc
import json
import os
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, astuple, dataclass, field, replace
from functools import cached_property
from typing import Any

import pyarrow as pa

from .. import storage
from ..chunk import Chunk, Reject, TypeNote, explain, reasons_in_order
from ..chunk import source_path as chunk_source_path
from ..compat import sha256
from ..config import JobConfig
from ..errors import EXIT_CONFIG, RESUME_HINT, ConfigError, LoaderError, SinkError
from ..files import EarlyFsync, fsync_path, remove_quietly, replace_file
from ..parts import Part
from ..readers import Naming, open_reader
from ..readers.decimal_comma import PLAIN, NumberStyle, number_style
from ..rejects import RejectFile
from ..report import peak_rss_mb
from ..schema import TextForm, decode_types
from ..sinks.base import Encoded
from ..spill import ipc_file, make_durable, partial_path
from ..state import Tally
from ..transforms import apply, build_stages, close_stages, output_schema, wait_as_sink
from ..writers.base import naming_file
from ..writers.sqlite_errors import DISK_FULL

SPILL_BYTES = 8 << 20  # LevelDB keys and values held before a sorted run is written
LIGHT_SHARE = 32  # a part of at most run.part_size / LIGHT_SHARE is light (``PartTask.light``)
REASONS_KEPT = 10  # a part's reject reasons in its manifest, for "nothing loaded" (only the commonest counts)


@dataclass(frozen=True)
class PartTask:
    """Everything a worker needs for one part (picklable)."""

    job: JobConfig  # resolved
    job_name: str
    table: str | None
    part: Part
    types: str  # the settled column types (``schema.task_types``)
    spill_dir: str
    allow_python: bool = False
    # "database": results the coordinator copies in as they are; "arrow": rows it binds
    side: str = "database"
    numeric: dict[str, str] = field(default_factory=dict)  # the target's number columns (``SQLiteEncoder``)
    notes: dict[str, TypeNote] = field(default_factory=dict)  # why a column's type was fixed before (``explain``)
    halt: str = ""  # once this file exists the run has stopped: the part ends unfinished (``Engine.halt``)
    naming: Naming = field(default_factory=Naming)  # what keeps an earlier version's names (``Pipeline.naming``)
    bench_rows: int = 0  # ``run.chunk_size`` as the job gives it (``ReaderBase.bench_rows``)
    code: str = ""  # what the job's python stages' code is (``code_identity``): a fixed stage's results are new
    target: str = ""  # the target as the reject lines name it (``rejects.reject_target``), the coordinator's
    partitions: tuple[str, ...] = ()  # the load's partition keys, NULL where the part's path lacks one (``load_keys``)
    # the file's identity as the run's plan found it (``storage.identity``): a part whose range
    # was read from another version (rewritten, an object put again) is never finished
    identity: dict[str, Any] | None = None
    forms: dict[str, TextForm] = field(default_factory=dict)  # the target's date-time text (``SQLiteEncoder``)
    # the coordinator's working directory: a relative path of the job's is its, not a
    # cluster's worker's, started elsewhere (``source_path``)
    cwd: str = ""
    # a small file's columns with no value, as the run's sampling of the whole file found them
    # (``Pipeline.empty_columns``): its reader need not sample it again, as with ``threads``
    empty: dict[str, bool] | None = None

    @cached_property  # a hash of the job's settings, asked for many times per part
    def prefix(self) -> str:
        """The part's result files' common name: its id and what decides its contents
        (the file's version, how the source is read, types, stages and their code, sink), so
        a result made from another version of the file, under other settings or by a stage
        since changed is never reused."""
        reading = repr(replace(self.job.source, path=[]))  # null_values, decimal_separator...: not the paths
        what = json.dumps(
            [
                self.part.version,
                reading,
                self.types,
                self.job.transform,
                repr(self.job.sink),
                self.side,
                sorted(self.numeric.items()),
                *([self.code] if self.code else []),  # absent: the prefixes of jobs without code stay
                *([sorted((n, astuple(f)) for n, f in self.forms.items())] if self.forms else []),  # likewise
            ],
            sort_keys=True,
            default=str,
        )
        return os.path.join(self.spill_dir, f"{self.part.id}-{sha256(what.encode()).hexdigest()[:8]}")

    @property
    def light(self) -> bool:
        """A part of a local pool (``processes``) of at most ``run.part_size / LIGHT_SHARE`` of
        input (1 MiB by default: a small file's): its results are neither fsynced nor named by
        a manifest, so only this run commits them and a rerun reads the part again, which costs
        less than their fsyncs; its SQLite rows come as Arrow files (no side database to make).
        The target's commit is what makes them durable. Not on Dask: a worker that dies after
        the part takes the future's copy of its result with it, and without a manifest the
        coordinator would wait for a rerun of the part that no worker may be left to run."""
        return self.job.run.engine == "processes" and self.part.size <= self.job.run.part_size // LIGHT_SHARE

    @property
    def key(self) -> str:
        """The part's name on a cluster (Dask's key: one task per key, whichever clients submit
        it). The part id names only the file's range: two loads of one file at once (into two
        targets, with other stages) would be handed each other's results. So it names what
        decides the result too: its files' name as this process finds them (``prefix``: the
        version, reading, types, stages, code and sink), the target, job and table its reject
        lines name. The same part of the same load keeps its key: a retry, or a rerun while a
        killed run's part still runs on the cluster, waits for that part."""
        what = json.dumps([os.path.abspath(self.prefix), self.target, self.job_name, self.table])
        return f"loader-part-{self.part.id}-{sha256(what.encode()).hexdigest()[:16]}"


@dataclass
class PartResult:
    """What a finished part holds: its files and counts, who made it and how long it took."""

    id: str
    files: list[str] = field(default_factory=list)  # the rows' Arrow IPC files or database, or the sorted runs
    rejects: str | None = None  # the part's reject lines (this job's format)
    numbers: str | None = None  # the source row and line of each row in ``files`` (``RowNumbers``)
    rows_read: int = 0
    rows_written: int = 0  # rows in the side results (for ``ignore``, before the target's keys are seen)
    rows_rejected: int = 0
    rows_filtered: int = 0
    rows_ignored: int = 0  # none: the coordinator finds the target's keys when it commits the part
    bytes_read: int = 0
    worker: str = ""
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the worker process's peak so far
    retries: int = 0  # starts before the one that finished it (a worker died, Dask ran it again; a halted run)
    dialect: dict[str, Any] | None = None  # the CSV dialect the part was read with
    # the reader's schema (Arrow IPC, base64) and whether it kept a target's old names: the
    # coordinator prepares the target for the file by them, without reading it again
    schema: str | None = None
    old_names: bool = False
    reasons: dict[str, int] = field(default_factory=dict)  # the commonest reject reasons, while it wrote nothing
    halted: bool = False  # ended unfinished: the run stopped (no manifest; never committed)
    prefix: str = ""  # the task's (``PartTask.prefix``): the coordinator commits only its own parts' results

    @classmethod
    def load(cls, path: str) -> PartResult:
        with open(path, encoding="utf-8") as fh:
            return cls(**json.load(fh))


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def manifest_path(prefix: str) -> str:
    return prefix + ".json"


def finished(task: PartTask) -> PartResult | None:
    """The part's result when a worker finished it already and its files are all there."""
    path = manifest_path(task.prefix)
    try:
        result = PartResult.load(path)
    except (OSError, ValueError, TypeError):
        return None
    return result if files_here(result) else None


def attempt_base(task: PartTask) -> str:
    """The name one execution of the part gives its files: the part's prefix and a token of
    its own (the process and a random one). A worker whose coordinator was killed may finish
    the part while the rerun's worker runs it too: under shared names one would rename the
    other's half-written files into place under a manifest counting the whole part."""
    return f"{task.prefix}.{os.getpid()}-{secrets.token_hex(4)}"


def files_here(result: PartResult) -> bool:
    """Whether every file ``result`` names is where this process looks."""
    needed = [*result.files, *(f for f in (result.rejects, result.numbers) if f)]
    return all(os.path.exists(f) for f in needed)


def run_part(task: PartTask) -> PartResult:
    """Read, transform and encode one part into its side results; reuses a finished one."""
    try:
        return _run_part(task)
    except LoaderError as exc:
        full_for = _spill_full(task, exc)
        if full_for:
            full = _no_space(task, full_for)
            full.worker = worker_label()
            raise full from None
        exc.worker = exc.worker or worker_label()  # the coordinator tells what this worker lacks
        if exc.file == source_path(task):  # named as the job spells it, as the coordinator does
            exc.file = task.part.path
        raise
    except OSError as exc:
        error = _spill_error(task, exc)
        if error is None:
            raise
        raise error from None
    finally:
        collect_garbage(_after_part(task))


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # a full disk, or the user's quota on it
# What keeps a worker from writing run.spill_dir that the rerun does not change by itself
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR)


def _spill_error(task: PartTask, exc: OSError) -> SinkError | None:
    """``exc`` as the error it is for the part's results: a full disk, or a spill directory
    this worker may not write (Arrow's and the OS's words name neither whose nor which)."""
    if exc.errno in _NO_SPACE:
        return _no_space(task)
    within = within_dir(exc.filename, task.spill_dir)
    if exc.errno not in _NOT_WRITABLE or not (within or exc.filename == task.spill_dir):
        return None
    error = SinkError(
        f"worker {worker_label()} cannot write run.spill_dir {task.spill_dir}: {exc.strerror or exc}",
        hint="the workers need write access to run.spill_dir, a directory the workers and this process "
        'share at the same path (docs/engines.md, "What must be shared"), then rerun',
    )
    error.exit_code = EXIT_CONFIG  # a rerun fails the same way until the directory changes
    return error


def _spill_full(task: PartTask, exc: LoaderError) -> str | None:
    """What of the part ``exc`` says filled run.spill_dir's disk: its side database (SQLite's
    words), its rejects (the reject file's error, raised from the OS's); None for another error."""
    if not within_dir(exc.file, task.spill_dir):
        return None
    if exc.message == DISK_FULL:
        return "results"
    cause = exc.__context__  # ``RejectFile`` raises its error as it handles the OS's (``from None``)
    return "rejects" if isinstance(cause, OSError) and cause.errno in _NO_SPACE else None


def _no_space(task: PartTask, what: str = "results") -> SinkError:
    """The part's results (``what``: or its rejects) do not fit: ``run.spill_dir`` named, and
    what it holds (the part's own files are removed as it fails: ``remove_quietly``)."""
    return SinkError(
        f"no space left on the device for the part's {what}",
        file=task.spill_dir,
        hint=f"free space or set run.spill_dir to a larger disk ({task.spill_dir} holds the results of the "
        "parts made and not committed yet: the rerun commits a large part's and reads a small file's part "
        "again, removing its results; a part that failed left none there); " + RESUME_HINT,
    )


def within_dir(path: object, directory: str) -> bool:
    """Whether ``path`` (an OSError's filename, an error's file) lies inside ``directory``."""
    return str(path or "").startswith(os.path.join(directory, ""))


def source_path(task: PartTask) -> str:
    """The part's file as this worker opens it: a relative local path is the coordinator's,
    from its working directory (a cluster's worker runs in its own)."""
    path = task.part.path
    if not task.cwd or storage.is_remote(path) or os.path.isabs(path):
        return path
    return os.path.join(task.cwd, path)


def _spelled(task: PartTask) -> Callable[[list[Reject]], None] | None:
    """What names the part's rejects as the threads engine does, ``file`` as the job spells it
    and ``path`` absolute, where this worker opened the file by another name (``source_path``:
    from the coordinator's directory); None where it opened it as spelled."""
    opened = source_path(task)
    if opened == task.part.path:
        return None
    spelled, path = task.part.path, chunk_source_path(opened)

    def name(rejects: list[Reject]) -> None:
        for r in rejects:
            if r.file == opened:
                r.file, r.path = spelled, r.path or path

    return name


LIGHT_COLLECT_EVERY = 32  # light parts between two walks of every generation in a worker
_light_parts = 0


def _after_part(task: PartTask) -> int:
    """The generations to collect after ``task``: every one after a part that is not light
    and after every ``LIGHT_COLLECT_EVERY``-th light one (a walk of them all takes about as
    long as a small file's part), else the young one."""
    global _light_parts
    if not task.light:
        return 2
    _light_parts += 1
    return 2 if _light_parts % LIGHT_COLLECT_EVERY == 0 else 0


def collect_garbage(generation: int = 2) -> None:
    """Free the reference cycles work left, where the collector is paused: a worker forked
    from the coordinator inherits its pause (``memory.gc_paused``), and nothing else would
    free them while the worker lives. The young generation after each chunk, as the single
    writer does at each commit; every generation after each part (``pool_worker.setup``
    froze what the worker started with, so that walks only what its parts made). Where the
    collector runs (a Dask worker's own), the young generation after each chunk still: its
    threshold counts allocations, and a chunk's cycles (a stage's) may hold megabytes in few."""
    if not gc.isenabled():
        gc.collect(generation)
    elif generation == 0:
        gc.collect(0)


def _run_part(task: PartTask) -> PartResult:
    done = None if task.light else finished(task)
    if done is not None:
        return done
    os.makedirs(task.spill_dir, exist_ok=True)
    t0 = time.monotonic()
    starts = note_start(task)
    stages = _stages(task)
    result = PartResult(id=task.part.id, worker=worker_name(), retries=starts - 1, prefix=task.prefix)
    part = _reader_part(task.part)
    base = attempt_base(task)  # a killed execution's files are the coordinator's to remove (``_remove_results``)
    rejects_tmp = base + ".rejects.jsonl.partial"
    run = task.job.run
    chunk_rows = min(run.chunk_size, int(task.job.sink.batch_size or run.chunk_size))
    try:
        with (
            open_reader(
                source_path(task),
                task.job.source,
                chunk_size=chunk_rows,
                bench_rows=task.bench_rows,
                workers=1,
                types=decode_types(task.types),
                part=part,
                naming=task.naming,
                partitions=task.partitions,
                empty_columns=task.empty if task.part.unit == "file" else None,
            ) as reader,
            RejectFile(rejects_tmp, task.job_name, target=task.target) as rejects,
        ):
            _note_reader(result, reader)
            out = side_writer(task, output_schema(stages, reader.schema, task.part.path), base)
            try:
                with naming_file(task.part.path):  # a column the table lacks that a stage made
                    _write_chunks(
                        out,
                        apply(stages, iter(reader)),
                        rejects,
                        result,
                        task.notes,
                        task.halt,
                        style=number_style(task.job.source),
                        spelled=_spelled(task),
                    )
                if not result.halted:
                    # after its last read: the plan's byte range of a new version starts and ends
                    # inside its rows, which would be committed whenever they parse
                    storage.check_unchanged(source_path(task), task.identity)
                if result.halted:
                    out.abort()
                else:
                    result.files = out.close()
                    result.numbers = out.numbers.close() if out.numbers is not None else None
            except BaseException:
                out.abort()
                raise
            rejects.sync()
            wrote_rejects = rejects.lines > 0
    except BaseException:
        remove_quietly([rejects_tmp])  # the part is not committed: its rejects are read again
        raise
    finally:
        close_stages(stages)
    if result.halted:
        with contextlib.suppress(FileNotFoundError):
            os.remove(rejects_tmp)
        return result  # no manifest: the part is read again by the next run
    if wrote_rejects:
        result.rejects = base + ".rejects.jsonl"
        os.replace(rejects_tmp, result.rejects)
    result.bytes_read = task.part.size
    result.seconds = round(time.monotonic() - t0, 3)
    result.peak_rss_mb = peak_rss_mb()
    if not task.light:
        _write_manifest(manifest_path(task.prefix), result)
    return result


def _note_reader(result: PartResult, reader: Any) -> None:
    """What the part's reader found that the coordinator prepares the target by."""
    found = getattr(reader, "dialect", None)
    result.dialect = found.to_json() if found is not None else None
    result.schema = encode_schema(reader.schema)
    result.old_names = bool(getattr(reader, "old_names", False))


def _stages(task: PartTask) -> list[Any]:
    """The job's stages, built and their functions imported, for one part, as the coordinator
    built them: one it could build and this worker cannot (a module it cannot import) is this
    worker's environment's lack."""
    if task.code and task.allow_python:  # a long-lived worker runs the code the client hashed (``load_code``)
        from ..transforms.python import load_code

        load_code(task.job.transform, task.code, worker_name())
    try:
        stages = build_stages(task.job.transform, allow_code=task.allow_python)
    except ConfigError as exc:
        exc.message += f" (on worker {worker_label()}; this process builds it)"
        exc.hint = (
            "the workers must import what this process imports: give them the same PYTHONPATH or "
            'installed packages (docs/engines.md, "What must be shared"), then rerun'
        )
        exc.exit_code = EXIT_CONFIG  # the workers' setup, not the job: found once the run began, with a report
        raise
    wait_as_sink(stages, task.job.sink.busy_timeout)
    for stage in stages:
        resolve = getattr(stage, "resolve", None)
        if callable(resolve):
            resolve()
    return stages


def _reader_part(part: Part) -> tuple[int, ...] | None:
    if part.unit == "file":
        return None
    assert part.end is not None  # a range's end
    if part.line:  # where the plan found its rows: the reader scans nothing to find them
        return (part.start, part.end, part.line)
    return (part.start, part.end)


def _write_chunks(
    out: SideWriter,
    chunks: Iterator[Chunk],
    rejects: RejectFile,
    result: PartResult,
    notes: dict[str, TypeNote],
    halt: str = "",
    style: NumberStyle = PLAIN,
    spelled: Callable[[list[Reject]], None] | None = None,
) -> None:
    """The part's chunks encoded into ``out``, their rejects into ``rejects`` (``spelled`` names
    their file), counted in ``result``; up to the chunk that finds ``halt`` there (then ``result.halted``)."""
    reasons: Counter[str] = Counter()
    for encoded in (out.encode(c) for c in chunks):
        if halt and os.path.exists(halt):  # one stat a chunk: the run stopped, this part is not committed
            result.halted = True
            return
        chunk = encoded.chunk
        if spelled is not None and chunk.rejects:
            spelled(chunk.rejects)
        if notes and chunk.rejects:
            explain(chunk.rejects, notes, style=style)
        rejects.write(chunk.rejects)
        if not result.rows_written:
            reasons.update(reasons_in_order(chunk.rejects))
        Tally.of_chunk(chunk, written=out.write(encoded)).add_to(result)
        collect_garbage(0)
    if not result.rows_written:
        result.reasons = kept_reasons(reasons)


def kept_reasons(reasons: Counter[str]) -> dict[str, int]:
    """The commonest ``REASONS_KEPT`` reasons (ties: the first seen), in the order first
    seen: the coordinator adds them up in input order, and ties go to the first, as with threads."""
    kept = {reason for reason, _ in reasons.most_common(REASONS_KEPT)}
    return {reason: count for reason, count in reasons.items() if reason in kept}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_label() -> str:
    """This worker as errors name it: ``host:pid``, and a Dask worker's address."""
    distributed = sys.modules.get("distributed")  # imported in every Dask worker; never here for it
    if distributed is not None:
        with contextlib.suppress(ValueError):  # not a Dask worker's thread
            return f"{worker_name()} ({distributed.get_worker().address})"
    return worker_name()


def note_start(task: PartTask) -> int:
    """Note that a worker starts the part; how many times it was started, this one too."""
    path = task.prefix + ".starts"
    with open(path, "a", encoding="utf-8") as fh:  # one short append per start: whole lines
        fh.write(worker_name() + "\n")
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def _write_manifest(path: str, result: PartResult) -> None:
    replace_file(path, json.dumps(asdict(result)), durable=True)  # written last: the part is whole


class RowNumbers:
    """The source row and line of each row a side writer wrote, in its order (an Arrow IPC
    file): the coordinator names the rows the target's table refuses by them."""

    SCHEMA = pa.schema([("row", pa.int64()), ("line", pa.int64())])

    def __init__(self, prefix: str, durable: bool = True) -> None:
        self.path = prefix + ".numbers.arrow"
        self.durable = durable
        self.file: contextlib.ExitStack | None = None
        self.out: pa.ipc.RecordBatchFileWriter | None = None

    def add(self, chunk: Chunk) -> None:
        if self.out is None:
            self.file = contextlib.ExitStack()
            self.out = self.file.enter_context(ipc_file(self.path, self.SCHEMA, durable=self.durable))
        lines = chunk.lines if chunk.lines is not None else pa.nulls(chunk.num_rows, pa.int64())
        self.out.write_batch(pa.record_batch([chunk.rows.cast(pa.int64()), lines.cast(pa.int64())], schema=self.SCHEMA))

    def close(self) -> str | None:
        """The file's path once whole (None: no rows)."""
        if self.file is None:
            return None
        self.file.close()
        return self.path

    def abort(self) -> None:
        try:
            if self.file is not None:
                self.file.__exit__(RuntimeError, RuntimeError("part aborted"), None)  # left unnamed
        finally:
            remove_quietly([partial_path(self.path)])


def read_numbers(path: str | None, indices: list[int]) -> list[tuple[int | None, int | None]]:
    """The source (row, line) of the part's rows at ``indices`` (None: not known)."""
    if path is None:
        return [(None, None)] * len(indices)
    with pa.OSFile(os.fsencode(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    taken = table.take(pa.array(indices, pa.int64()))
    return list(zip(taken.column("row").to_pylist(), taken.column("line").to_pylist(), strict=True))


class SideWriter:
    """A part's results on disk for one sink."""

    numbers: RowNumbers | None = None  # where each row written came from, for the sinks that refuse rows

    def encode(self, chunk: Chunk) -> Encoded:
        raise NotImplementedError

    def write(self, encoded: Encoded) -> int:
        raise NotImplementedError

    def close(self) -> list[str]:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class SQLiteArrowSide(SideWriter):
    """The part's rows as SQLite stores them (the encoder's batches) in Arrow IPC files,
    which the coordinator binds into the target in C: the part is written to SQLite
    once, by the single writer. A new file starts where a stage changes the batches' schema."""

    def __init__(self, task: PartTask, schema: pa.Schema, base: str) -> None:
        from ..sinks.sqlite import SQLiteEncoder

        self.prefix = base
        self.durable = not task.light
        self.encode = SQLiteEncoder(task.numeric, tuple(task.job.sink.primary_key), task.forms)  # type: ignore[method-assign]
        self.files: list[str] = []
        self.file: contextlib.ExitStack | None = None  # the file being written, until whole
        self.out: pa.ipc.RecordBatchFileWriter | None = None
        self.schema: pa.Schema | None = None
        self.numbers = RowNumbers(base, durable=not task.light)

    def write(self, encoded: Encoded) -> int:
        rows = encoded.payload
        if rows is None or not rows.num_rows:
            return 0
        assert self.numbers is not None
        self.numbers.add(encoded.chunk)
        if self.file is not None and not rows.schema.equals(self.schema):
            self._end_file()
        if self.file is None:
            self.file = contextlib.ExitStack()
            self.out = self.file.enter_context(ipc_file(self._path(), rows.schema, durable=self.durable))
            self.schema = rows.schema
        assert self.out is not None
        self.out.write_batch(rows)
        return int(rows.num_rows)

    def _path(self) -> str:
        return f"{self.prefix}.{len(self.files)}.arrow"

    def _end_file(self) -> None:
        assert self.file is not None
        self.file.close()  # whole: fsynced and renamed
        self.file = self.out = None
        self.files.append(self._path())

    def close(self) -> list[str]:
        if self.file is not None:
            self._end_file()
        return self.files

    def abort(self) -> None:
        try:
            if self.file is not None:
                self.file.__exit__(RuntimeError, RuntimeError("part aborted"), None)  # left unnamed
        finally:
            remove_quietly([*self.files, partial_path(self._path())])  # whole files too: no manifest names them
            if self.numbers is not None:
                self.numbers.abort()


class SQLiteDatabaseSide(SideWriter):
    """The part's rows in a side database: the target's table, with no keys or indexes
    (the target's own constraints apply when the coordinator copies them in). The least
    work for the single writer: SQLite copies the records as they are."""

    def __init__(self, task: PartTask, schema: pa.Schema, base: str) -> None:
        from ..sinks.sqlite import SQLiteEncoder
        from ..writers.sqlite import SQLiteWriter

        self.path = base + ".db"
        self.tmp = self.path + ".partial"
        assert task.table is not None
        # ``alter`` as the job says: a row function's new column goes into the side table, and
        # the coordinator adds it to the target before the copy
        config = replace(task.job.sink, path=self.tmp, mode="append", primary_key=[], indexes=[])
        self.writer = SQLiteWriter(config, task.table).__enter__()
        try:
            # a side database is whole or thrown away (its temporary name): no journal, no sync
            # per commit; one fsync before its rename, and the manifest after that
            assert self.writer.conn is not None
            self.writer.conn.execute("PRAGMA journal_mode=OFF")
            self.writer.conn.execute("PRAGMA synchronous=OFF")
            self.writer.prepare(schema, fresh=True)
        except BaseException:  # no side writer to abort yet (a full disk as the table is made)
            try:
                self.writer.__exit__(RuntimeError, None, None)
            finally:
                remove_quietly(self._partial_files())
            raise
        self.encode = SQLiteEncoder(task.numeric, tuple(task.job.sink.primary_key), task.forms)  # type: ignore[method-assign]
        self.batch = int(task.job.sink.batch_size or 50_000)
        self.pending = 0
        self.early = EarlyFsync(self.tmp)  # what is committed goes to the disk as the part goes on
        self.numbers = RowNumbers(base, durable=not task.light)

    def write(self, encoded: Encoded) -> int:
        n = self.writer.write(encoded)
        if n:
            assert self.numbers is not None
            self.numbers.add(encoded.chunk)
        self.pending += n
        if self.pending >= self.batch:
            self.writer.commit("part", {})
            self.pending = 0
            self.early.start()
        return n

    def close(self) -> list[str]:
        self.writer.commit("part", {})
        self.writer.__exit__(None, None, None)
        self.early.close()
        fsync_path(self.tmp)
        os.replace(self.tmp, self.path)
        return [self.path]

    def _partial_files(self) -> tuple[str, ...]:
        return (self.tmp, self.tmp + "-journal", self.tmp + "-wal")

    def abort(self) -> None:
        try:
            self.early.__exit__(RuntimeError, None, None)
            self.writer.__exit__(RuntimeError, None, None)
        finally:
            remove_quietly(self._partial_files())
            if self.numbers is not None:
                self.numbers.abort()


class LevelDBSide(SideWriter):
    """The part's keys and values in sorted runs (``loader.spill``), each key once per run.
    A thread fsyncs each run while the next is encoded; the part ends once all are durable."""

    def __init__(self, task: PartTask, schema: pa.Schema, base: str) -> None:
        from ..sinks.leveldb import LevelDBEncoder
        from ..spill import RunSpiller
        from ..writers.encode import KeyTemplate

        sink = task.job.sink
        assert sink.key is not None
        template = KeyTemplate(sink.key)
        template.require(schema.names)
        self.encode = LevelDBEncoder(template, sink.value, None)  # type: ignore[method-assign]
        # ``ignore`` keeps a key's first row, as the writer does; the others its last
        keep: Any = "first" if sink.mode == "ignore" else "last"
        self.spiller = RunSpiller(task.spill_dir, os.path.basename(base) + ".run", keep=keep)
        self.syncer = None if task.light else ThreadPoolExecutor(1, thread_name_prefix="loader-part-sync")
        self.syncing: list[Future[None]] = []

    def write(self, encoded: Encoded) -> int:
        if encoded.payload is None:
            return 0
        puts = encoded.payload
        self.spiller.add(puts.keys, puts.values)
        if self.spiller.held_bytes >= SPILL_BYTES:
            self._spill()
        return encoded.num_rows

    def _spill(self) -> None:
        path = self.spiller.spill(durable=False)
        if path is not None and self.syncer is not None:
            self.syncing.append(self.syncer.submit(make_durable, path))

    def close(self) -> list[str]:
        self._spill()
        try:
            for synced in self.syncing:
                synced.result()  # an fsync's error, raised here: the part has no manifest
        finally:
            if self.syncer is not None:
                self.syncer.shutdown(wait=True)
        return list(self.spiller.runs)

    def abort(self) -> None:
        try:
            if self.syncer is not None:
                self.syncer.shutdown(wait=True, cancel_futures=True)
        finally:  # the part's sorted runs, and the one being written
            remove_quietly([*self.spiller.runs, partial_path(self.spiller.next_path())])


def _side_kind(task: PartTask, schema: pa.Schema) -> str:
    """``task.side``, but Arrow files for a SQLite part whose columns take all of SQLite's names
    for a rowid (a side table's rowid is what keeps its rows in the part's order), and for a
    light one (binding its few rows costs the single writer less than making a database)."""
    from ..writers.sqlite_schema import rowid_name

    if task.side == "database" and task.job.sink.type == "sqlite" and (task.light or rowid_name(schema.names) is None):
        return "arrow"
    return task.side


SIDES: dict[tuple[str, str], type[SideWriter]] = {
    ("sqlite", "arrow"): SQLiteArrowSide,
    ("sqlite", "database"): SQLiteDatabaseSide,
    ("leveldb", "arrow"): LevelDBSide,
    ("leveldb", "database"): LevelDBSide,
}


def side_writer(task: PartTask, schema: pa.Schema, base: str) -> SideWriter:
    """The part's side writer, its files named ``base`` (``attempt_base``)."""
    side = SIDES.get((str(task.job.sink.type), _side_kind(task, schema)))
    if side is None:
        raise ConfigError(
            f"run.engine: parts cannot be loaded into a {task.job.sink.type} sink yet",
            hint="use --engine threads",
        )
    with naming_file(task.part.path):  # a column the key names that this file lacks
        return side(task, schema, base)  # type: ignore[call-arg]
