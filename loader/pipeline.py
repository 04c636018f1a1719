"""The pipeline: read, transform, write, checkpoint; the one ``run`` behind CLI and API.

A run takes the target's lock, reads the job's checkpoint from the target,
skips files already loaded, resumes a half-loaded one, and streams every
other file chunk by chunk through the transform stages into the writer.
Rows commit in batches together with the checkpoint (and after the rejects
they produced are on disk), so a crash at any moment leaves a target that a
rerun completes without duplicates or gaps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from . import storage
from .chunk import Chunk
from .config import JobConfig, RunConfig, SinkConfig, SourceConfig, load_job, unknown_key
from .errors import (
    EXIT_FAILED,
    EXIT_USAGE,
    RESUME_HINT,
    ConfigError,
    InterruptedLoad,
    LoaderError,
    NothingLoadedError,
    RejectLimitError,
    SourceChangedError,
)
from .lock import TargetLock
from .memory import chosen_sizes, current_rss_mb, fit_memory, gc_paused
from .paths import check_paths, lock_path
from .prefetch import prefetch
from .progress import Progress
from .readers import expand_paths, open_reader
from .rejects import Committed, RejectFile, default_rejects_path
from .report import FileReport, RunReport
from .schema import Sample, decode_types, encode_types, rows_per_file, sqlite_pins, unify
from .state import FileState, JobState, file_key, identity, same_content
from .transforms import Stage, apply, as_stage, build_stages
from .types import parse_type, type_name
from .writers import open_writer
from .writers.base import Writer

Event = Callable[[str, dict[str, Any]], None]


def _imported(stage: Stage) -> bool:
    """False for a job file's python stage whose code is not imported yet (see ``plan``)."""
    return getattr(stage, "resolved", True) is not False


def default_table(paths: list[str]) -> str:
    first = os.path.basename(paths[0]) if paths and paths[0] != "-" else "data"
    stem = first.split(".")[0] if not first.startswith(".") else first
    return stem or "data"


@dataclass
class Plan:
    """What a run would do, without writing anything (``--dry-run``)."""

    files: list[str]
    schema: pa.Schema | None
    sink: str
    target: str
    table: str | None
    key: str | None
    value: str | None
    mode: str
    stages: list[str] = field(default_factory=list)
    dialect: str | None = None  # the first file's CSV dialect, described
    deferred: str | None = None  # the first stage whose code is imported only at run time

    def lines(self) -> list[str]:
        out = [f"files ({len(self.files)}):"]
        out += [f"  {f}" for f in self.files[:50]]
        if len(self.files) > 50:
            out.append(f"  ... and {len(self.files) - 50} more")
        if self.dialect:
            out.append(f"dialect ({self.files[0]}): {self.dialect}")
        if self.stages:
            out.append("transforms: " + " -> ".join(self.stages))
        if self.deferred is not None:
            out.append(f"{self.deferred}: function syntax checked, not imported; it is imported at run time")
        if self.schema is not None:
            out.append(f"schema (before {self.deferred}):" if self.deferred else "schema (after transforms):")
            out += [f"  {f.name}: {type_name(f.type)}" for f in self.schema]
        if self.sink == "sqlite":
            out.append(f"target: sqlite {self.target}, table {self.table!r}, mode {self.mode}")
        else:
            out.append(f"target: leveldb {self.target}, key {self.key!r}, value {self.value!r}, mode {self.mode}")
        return out


class _Signals:
    """SIGTERM/SIGINT ask for a stop at the next batch boundary; a second one stops now."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise InterruptedLoad(signum, "stopped at once by a second signal; committed work is kept")
        self.signum = signum

    def __enter__(self) -> _Signals:
        if self.enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Pipeline:
    """Reads a source, applies transform stages, writes a sink, and reports.

    >>> Pipeline.from_config("configs/quickstart.toml").run()  # doctest: +SKIP
    """

    report_class: type[RunReport] = RunReport  # a replay's run reports more

    def __init__(
        self,
        job: JobConfig,
        *,
        transforms: Sequence[Stage | Callable[[pa.RecordBatch], pa.RecordBatch]] = (),
        handle_signals: bool = False,
        progress: bool = False,
        on_event: Event | None = None,
        allow_python: bool | None = None,
    ) -> None:
        """``allow_python`` lets the job's ``python`` stages import and run the code they
        name (None: when ``LOADER_ALLOW_PYTHON=1``); ``transforms`` passed here are trusted."""
        self.job = fit_memory(job)
        if allow_python is None:
            allow_python = os.environ.get("LOADER_ALLOW_PYTHON") == "1"
        # imported by run() before it writes anything; plan() imports nothing
        job_stages = build_stages(job.transform, allow_code=allow_python, defer_imports=True)
        self.stages: list[Stage] = job_stages + [as_stage(t) for t in transforms]
        self.handle_signals = handle_signals
        self.progress = progress
        self.on_event = on_event
        self.type_notes: dict[str, str] = {}  # column -> why its type was fixed before this run

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        sets: list[str] | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        return cls(load_job(path, sets, env), **kwargs)

    # ------------------------------------------------------------ naming

    @property
    def table(self) -> str | None:
        if self.job.sink.type != "sqlite":
            return None
        return self.job.sink.table or default_table(self.job.source.path)

    @property
    def job_name(self) -> str:
        if self.job.run.job:
            return self.job.run.job
        return f"table:{self.table}" if self.job.sink.type == "sqlite" else f"key:{self.job.sink.key}"

    @property
    def rejects_path(self) -> str:
        return self.job.run.rejects or default_rejects_path(self.job.sink.path, self.job_name)

    def _emit(self, event: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, data)

    # -------------------------------------------------------------- plan

    def plan(self) -> Plan:
        """Check the config and the sources and describe the run; writes nothing."""
        src, sink = self.job.source, self.job.sink
        files = expand_paths(src)
        self._check_paths(files)  # before any input is opened: the target may match the input glob
        schema = None
        dialect = None
        if files and files[0] != "-":
            types = self._settle_types(files, {})
            with open_reader(
                files[0], src, chunk_size=self.job.run.chunk_size, check_width=self._header_check(), types=types
            ) as reader:
                schema = self._output_schema(reader.schema, files[0])
                found = getattr(reader, "dialect", None)
                dialect = found.describe() if found is not None else None
            writer = open_writer(sink, self.table)
            if self._deferred() is None:
                self._check_width(schema, files[0])
            if sink.type == "leveldb" and self._deferred() is None:
                missing = writer.template.missing(schema.names)  # type: ignore[attr-defined]
                if missing:
                    raise ConfigError(
                        f"sink.key: no column {missing[0]!r} in the data",
                        hint="columns are: " + ", ".join(schema.names),
                    )
        return Plan(
            files=files,
            schema=schema,
            sink=str(sink.type),
            target=sink.path,
            table=self.table,
            key=sink.key,
            value=sink.value if sink.type == "leveldb" else None,
            mode=sink.mode,
            stages=[s.name for s in self.stages],
            dialect=dialect,
            deferred=self._deferred(),
        )

    def _check_width(self, schema: pa.Schema, path: str) -> None:
        """A table too wide for the sink is a config error before any row is read."""
        check = self._header_check(stages=False)
        if check is not None:
            check(len(schema), path)

    def _header_check(self, *, stages: bool = True) -> Callable[[int, str], None] | None:
        """The sink's column limit, for a reader to check on the header; not where stages
        may change the columns (then the output schema is checked)."""
        if self.job.sink.type != "sqlite" or (stages and self.stages):
            return None
        from .writers.sqlite import check_width

        return check_width

    def _deferred(self) -> str | None:
        return next((s.name for s in self.stages if not _imported(s)), None)

    def _output_schema(self, schema: pa.Schema, path: str) -> pa.Schema:
        """The schema the stages make of ``schema``; up to the first stage not imported yet."""
        empty = Chunk(
            batch=pa.RecordBatch.from_pylist([], schema=schema),
            file=path,
            rows=pa.array([], pa.int64()),
            last_row=0,
            end={},
        )
        ready = list(itertools.takewhile(_imported, self.stages))
        for chunk in apply(ready, iter([empty])):
            return chunk.batch.schema
        return schema

    def _settle_types(self, files: list[str], fixed: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """The column types every file of this load is read with: ``fixed`` ones (from
        earlier runs), and for the rest, what each file's head holds, unified. Only
        heads are read, fewer rows of each as files add up (``rows_per_file``)."""
        paths = [f for f in files if f != "-"]  # standard input is sampled as it is read
        if not paths:
            return dict(fixed)
        src = replace(self.job.source, infer_rows=rows_per_file(self.job.source.infer_rows, len(paths)))
        samples = []
        for path in paths:
            try:
                with open_reader(
                    path, src, chunk_size=self.job.run.chunk_size, workers=self.job.run.workers or 1, types=fixed
                ) as reader:
                    samples.append(Sample(reader.schema, reader.guesses))
            except LoaderError:
                continue  # the file fails the same way when its turn comes, after the files before it
        return unify(samples) | fixed

    def _load_types(self, files: list[str], state: JobState, writer: Writer, fresh: bool) -> dict[str, pa.DataType]:
        """The settled types of this run: those earlier runs recorded with the checkpoint,
        the files' own for the rest, and over both, what an existing SQLite table's columns hold
        without loss (when rows go in as read: with no stages between)."""
        if fresh and self.job.sink.mode == "replace":
            self.type_notes = {}
            return self._settle_types(files, {})  # the table or keys are wiped: nothing earlier binds this load
        recorded = decode_types(state.schema)
        self._check_declared(recorded)
        todo = [f for f in files if not getattr(state.files.get(file_key(f)), "done", False)]
        if fresh and todo:
            state.fixed = sorted(recorded)  # kept by a resumed run: its rejects read as the first attempt's
        types = self._settle_types(todo, recorded)
        pins = {} if self.stages else sqlite_pins(writer.column_types(), types)
        # A value rejected for a type fixed before this run says where that type comes from.
        change = 'to change it, declare the type and reload every file with --restart and mode = "replace"'
        notes = {n: f"; {n} is {type_name(t)} since an earlier run of this job: {change}" for n, t in recorded.items() if n in state.fixed}
        notes |= {n: f"; the table's column {n} holds {type_name(t)} values only: {change}" for n, t in pins.items()}
        self.type_notes = {n: note for n, note in notes.items() if not pa.types.is_string((recorded | pins)[n])}
        return types | pins

    def _check_declared(self, recorded: dict[str, pa.DataType]) -> None:
        """A column keeps one type across runs (one JSON type, one key format): a
        declaration may not change what earlier runs wrote."""
        for name, t in recorded.items():
            spelled = self.job.source.columns.get(name)
            if spelled is not None and not parse_type(spelled, where=f"source.columns.{name}").equals(t):
                raise ConfigError(
                    f"source.columns.{name}: declared {spelled}, but earlier runs of job {self.job_name!r} loaded it as {type_name(t)}",
                    hint=f'declare {name} = "{type_name(t)}", or reload every file as {spelled} with --restart and mode = "replace"',
                )

    def _check_paths(self, files: list[str]) -> None:
        """Refuse a run that would write over its target, an input or another output."""
        run = self.job.run
        outputs: list[tuple[str, str | None]] = [
            ("the lock file", lock_path(self.job.sink.path)),
            ("run.report", run.report),
            ("run.rejects", self.rejects_path),
            ("run.metrics_file", run.metrics_file),
        ]
        outputs += [(f"{s.name}.state_path", getattr(s, "state_path", None)) for s in self.stages]
        check_paths(self.job.sink.path, str(self.job.sink.type), files, self.job.source.path, outputs)

    # --------------------------------------------------------------- run

    def run(self) -> RunReport:
        """Load everything not loaded yet; returns the report (also on failure, via ``error.report``)."""
        report = self.report_class(
            job=self.job_name,
            sink=str(self.job.sink.type),
            target=self.job.sink.path,
            table=self.table,
            rejects_path=self.rejects_path,
        )
        report.start()
        try:
            self._run(report)
        except LoaderError as exc:
            self._rewind(report)
            loop = getattr(self, "_loop", None)
            if exc.exit_code == EXIT_USAGE and (report.resumed or (loop is not None and loop.commits)):
                # "nothing was written" is no longer true: committed work stays, and a rerun resumes
                exc.exit_code = EXIT_FAILED
                exc.hint = f"{exc.hint}; {RESUME_HINT}" if exc.hint else RESUME_HINT
            status = {
                InterruptedLoad: "interrupted",
                RejectLimitError: "rejects_exceeded",
                NothingLoadedError: "nothing_loaded",
            }.get(type(exc), "locked" if exc.exit_code == 75 else "failed")
            report.error = str(exc)
            report.exit_code = exc.exit_code
            report.finish(status)
            exc.report = report  # type: ignore[attr-defined]
            self._emit("finish", report=report)
            raise
        except BaseException as exc:
            self._rewind(report)
            report.error = f"{type(exc).__name__}: {exc}"
            report.exit_code = 1
            report.finish("failed")
            exc.report = report  # type: ignore[attr-defined]
            self._emit("finish", report=report)
            raise
        report.finish("ok")
        self._emit("finish", report=report)
        return report

    def replay(self, path: str | os.PathLike[str]) -> RunReport:
        """Load the rows of a reject file of this job again, once each (see ``loader.replay``)."""
        from .replay import replay_pipeline

        return replay_pipeline(self, path).run()

    def _rewind(self, report: RunReport) -> None:
        """After a failure the totals say what was committed: staged rows were rolled back."""
        loop = getattr(self, "_loop", None)
        if loop is not None:
            report.rows_read, report.rows_written, report.rows_rejected, report.rows_filtered, report.rows_ignored = (
                loop.committed
            )

    def _run(self, report: RunReport) -> None:
        self._loop: _Loop | None = None
        job, run = self.job, self.job.run
        for stage in self.stages:  # a job file's code is imported now, before anything is written
            resolve = getattr(stage, "resolve", None)
            if callable(resolve):
                resolve()
        files = expand_paths(job.source)
        self._check_paths(files)
        total = sum(storage.size(f) or 0 for f in files)
        self._emit("start", job=self.job_name, files=len(files), bytes=total, target=job.sink.path)
        with contextlib.ExitStack() as stack:
            stack.enter_context(TargetLock(job.sink.path, wait=run.lock_wait))
            writer = stack.enter_context(open_writer(job.sink, self.table))
            rejects = stack.enter_context(RejectFile(self.rejects_path, self.job_name, run.lock_wait))
            signals = stack.enter_context(_Signals(self.handle_signals))
            progress = stack.enter_context(Progress(total, enabled=self.progress and not run.quiet))
            stack.enter_context(gc_paused(release_at_once=run.max_memory is not None))
            for stage in self.stages:
                if hasattr(stage, "close"):
                    stack.callback(stage.close)

            state = JobState.parse(writer.read_state(self.job_name))
            if run.restart or (state.status != "running" and job.sink.mode == "replace"):
                writer.clear_state(self.job_name)
                state = JobState()
            fresh = state.status != "running"
            report.resumed = not fresh
            # keep every committed reject (earlier runs' and other jobs' too); drop lines of uncommitted batches
            rejects.start(Committed(state.rejects_bytes, state.rejects_lines, state.rejects_inode))
            state.status = "running"
            state.set_rejects(rejects.committed())
            loop = self._loop = _Loop(self, writer, rejects, signals, progress, state, report)
            types = self._load_types(files, state, writer, fresh)
            prepared = False
            for path in files:
                key = file_key(path)
                ident = identity(path)
                fs = state.files.get(key)
                if fs is not None and path != "-":
                    if not same_content(fs.identity, ident):
                        if run.on_change == "error":
                            raise SourceChangedError(
                                "changed since it was loaded (size or content differ from the checkpoint)",
                                file=path,
                            )
                        if run.on_change == "skip":
                            report.files.append(FileReport(path, status="changed-skipped", rows_kept=fs.rows_written))
                            report.files_changed += 1
                            self._emit("file", path=path, status="changed-skipped")
                            continue
                        fs = None  # reload
                    elif fs.done:
                        report.files.append(FileReport(path, status="skipped"))
                        report.files_skipped += 1
                        self._emit("file", path=path, status="skipped")
                        continue
                resuming = fs is not None and not fs.done and bool(fs.position)
                if fs is None or fs.done:
                    fs = FileState(path=path, identity=ident)
                    state.files[key] = fs
                fr = FileReport(path, status="resumed" if resuming else "loaded")
                report.files.append(fr)
                with open_reader(
                    path,
                    job.source,
                    chunk_size=loop.chunk_rows,
                    resume=fs.position if resuming else None,
                    workers=run.workers or 1,
                    # Stages change batches: only a stage-less job's writer can encode beside the parsing.
                    premake=None if self.stages else writer.encode_columns,
                    check_width=self._header_check(),
                    types=types,
                ) as reader:
                    found = getattr(reader, "dialect", None)
                    fr.dialect = found.to_json() if found is not None else None
                    types |= {f.name: f.type for f in reader.schema if f.name not in types}  # standard input's
                    encoded_types = encode_types(types)
                    if encoded_types != state.schema:
                        state.schema = loop.dirty["schema"] = encoded_types  # committed with the first rows read this way
                    schema = self._output_schema(reader.schema, path)
                    self._check_width(schema, path)
                    writer.prepare(schema, fresh=fresh and not prepared)
                    prepared = True
                    self._emit("file", path=path, status=fr.status)
                    loop.load(reader, key, fs, fr)
                report.files_loaded += 1
                self._emit(
                    "file_done",
                    path=path,
                    rows_read=fr.rows_read,
                    rows_written=fr.rows_written,
                    rows_rejected=fr.rows_rejected,
                )
            writer.finish()
            state.status = "complete"
            loop.commit()
            if report.rows_read and not report.rows_written and not report.rows_ignored and not report.resumed:
                raise self._nothing_loaded(report, loop)

    def _nothing_loaded(self, report: RunReport, loop: _Loop) -> NothingLoadedError:
        """Rows were read and none written: committed as such, but not a success."""
        from .readers.dialect import nothing_loaded_cause

        first = next((f for f in report.files if f.rows_read), None)
        cause = nothing_loaded_cause(
            report.rows_read,
            report.rows_rejected,
            report.rows_filtered,
            loop.reasons,
            first.path if first else None,
            self.job.source,
            first.dialect if first else None,
        )
        single = len([f for f in report.files if f.rows_read]) == 1
        return NothingLoadedError(
            f"nothing loaded: {cause}",
            file=first.path if first and single else None,
            hint=("rejected rows are in " + self.rejects_path + "; " if report.rows_rejected else "")
            + "fix the cause and rerun with --restart (and --mode replace if this run created the table with the wrong columns)",
        )


class _Loop:
    """The hot loop for one run: stage chunks into the writer, commit in batches."""

    def __init__(
        self,
        pipeline: Pipeline,
        writer: Writer,
        rejects: RejectFile,
        signals: _Signals,
        progress: Progress,
        state: JobState,
        report: RunReport,
    ) -> None:
        self.p = pipeline
        self.job = pipeline.job
        self.writer = writer
        self.rejects = rejects
        self.signals = signals
        self.progress = progress
        self.state = state
        self.report = report
        self.batch_size = int(self.job.sink.batch_size or 50_000)
        # A chunk never outgrows a transaction, so a commit always lands on a chunk boundary.
        self.chunk_rows = min(self.job.run.chunk_size, self.batch_size)
        limit = self.job.run.max_memory
        self.max_memory_mb = limit / (1 << 20) if isinstance(limit, int) else None
        report.max_memory_mb = round(self.max_memory_mb, 1) if self.max_memory_mb else None
        report.chunk_size, report.batch_size = self.chunk_rows, self.batch_size
        report.sizes = chosen_sizes(self.job)
        report.workers = self.job.run.workers or 1
        self.pending = 0
        self.dirty: dict[str, FileState | str] = {}  # checkpoint entries to commit: files' states, the types
        self.committed = (0, 0, 0, 0, 0)  # run totals (read, written, rejected, filtered, ignored) at the last commit
        self.commits = 0
        self.reasons: Counter[str] = Counter()  # why rows were rejected, while none has been written

    def _staged(self, reader: Any) -> Iterator[tuple[Chunk, Any]]:
        """Chunks through the stages, adapted and encoded for the writer. This runs
        in the read-ahead thread: turning Arrow columns into Python values or bytes
        is a third of the work, and it needs no database."""
        chunks = apply(self.p.stages, iter(reader))
        try:
            for chunk in chunks:
                chunk = self.writer.adapt(chunk)
                encoded = self.writer.encode(chunk.batch, chunk.premade) if chunk.batch.num_rows else None
                chunk.premade = None  # encoded: no need to keep it while the chunk waits
                yield chunk, encoded
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def load(self, reader: Any, key: str, fs: FileState, fr: FileReport) -> None:
        chunks = prefetch(self._staged(reader), self.job.run.read_ahead)
        try:
            for chunk, encoded in chunks:
                if self.p.type_notes and chunk.rejects:
                    self._explain(chunk)
                self.rejects.write(chunk.rejects)
                if not self.report.rows_written:
                    self.reasons.update(r.reason for r in chunk.rejects)
                written = self.writer.write(chunk.batch, encoded)
                del encoded  # a chunk's Python values live no longer than its write
                n_rej = len(chunk.rejects)
                for counts in (fs, fr, self.report):
                    counts.rows_read += chunk.rows_read
                    counts.rows_written += written
                    counts.rows_rejected += n_rej
                    counts.rows_filtered += chunk.rows_filtered
                    counts.rows_ignored += chunk.batch.num_rows - written  # mode ignore: keys already there
                if chunk.end:
                    fs.position = chunk.end
                self.dirty[key] = fs
                self.pending += chunk.rows_read
                self.progress.update(chunk.bytes_read, chunk.rows_read)
                # per chunk; listeners that log (logs.JsonLog) throttle it to a bounded rate
                self.p._emit(
                    "progress",
                    path=fr.path,
                    rows_read=fr.rows_read,
                    rows_written=fr.rows_written,
                    rows_rejected=fr.rows_rejected,
                    run_rows_read=self.report.rows_read,
                )
                over = self._over_limit()
                if self.pending >= self.batch_size or self.signals.signum is not None or over:
                    self.commit()
                if over:
                    raise RejectLimitError(
                        f"{self.report.rows_rejected:,} rows rejected, more than max_rejects = {self.job.run.max_rejects}",
                        file=chunk.file,
                    )
                if self.signals.signum is not None:
                    raise InterruptedLoad(self.signals.signum)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        fs.done = True
        self.dirty[key] = fs
        self.commit()

    def _explain(self, chunk: Chunk) -> None:
        for r in chunk.rejects:
            note = self.p.type_notes.get(r.column or "") if r.stage == "read" else None
            if note:
                r.reason += note

    def _over_limit(self) -> bool:
        limit = self.job.run.max_rejects
        rejected = self.report.rows_rejected
        if limit is None or rejected == 0:
            return False
        if 0 < limit < 1:
            # A fraction means something only once enough rows were seen.
            return self.report.rows_read >= 1000 and rejected / self.report.rows_read > limit
        return rejected > limit

    def commit(self) -> None:
        self.state.set_rejects(self.rejects.sync())
        entries = {key: fs if isinstance(fs, str) else fs.to_json() for key, fs in self.dirty.items()}
        entries["job"] = self.state.job_entry()
        self.writer.commit(self.p.job_name, entries)
        r = self.report
        self.committed = (r.rows_read, r.rows_written, r.rows_rejected, r.rows_filtered, r.rows_ignored)
        self.commits += 1
        self.dirty.clear()
        self.pending = 0
        gc.collect(0)
        pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back between batches
        if (
            self.max_memory_mb is not None
            and self.job.sink.type == "leveldb"
            and current_rss_mb() > 0.9 * self.max_memory_mb
        ):
            # Near the ceiling: smaller WriteBatches (held whole in memory until written)
            # from here on, never below a chunk. SQLite's page cache is bounded already.
            self.batch_size = max(self.chunk_rows, self.batch_size // 2)
            self.report.batch_size = self.batch_size


def load(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str],
    *,
    table: str | None = None,
    key: str | None = None,
    transforms: Sequence[Stage | Callable[[pa.RecordBatch], pa.RecordBatch]] = (),
    source_options: dict[str, Any] | None = None,
    sink_options: dict[str, Any] | None = None,
    run_options: dict[str, Any] | None = None,
) -> RunReport:
    """Load files into a SQLite or LevelDB target in one call; returns the run report.

    ``source`` is a path, a glob, or a list of them, and ``target`` the database (text or
    ``pathlib.Path``). ``source_options``, ``sink_options`` and ``run_options`` take the
    keys of the job file's ``[source]``, ``[sink]`` and ``[run]`` tables; an unknown key is
    a ``ConfigError`` with a did-you-mean, as in a job file. ``transforms`` are stage
    objects or batch functions: the caller's own code, trusted."""
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    job = JobConfig(
        source=_section(SourceConfig, "source_options", source_options, path=paths),
        sink=_section(SinkConfig, "sink_options", sink_options, path=target, table=table, key=key),
        run=_section(RunConfig, "run_options", run_options),
    )
    return Pipeline(job, transforms=transforms).run()


def _section(cls: type[Any], where: str, options: dict[str, Any] | None, **given: Any) -> Any:
    """A config section from keyword options, with the job file's check of their names."""
    known = [f.name for f in dataclasses.fields(cls)]
    for key in options or {}:
        if key not in known:
            raise unknown_key(where, key, known)
    return cls(**given, **(options or {}))
