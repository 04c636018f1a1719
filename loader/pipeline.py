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
import copy
import gc
import itertools
import os
import re
import shlex
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from . import sinks, stopping, storage
from .chunk import TypeNote, explain, of_version, reasons_in_order
from .config import JobConfig, SourceConfig, load_job, resolve
from .cpus import usable_cpus
from .errors import (
    EXIT_CONFIG,
    EXIT_DATAERR,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_USAGE,
    NOT_THERE,
    RELOAD_ALL_HINT,
    THEN_RESUME,
    ConfigError,
    EngineError,
    InputGoneError,
    InterruptedLoad,
    LoaderError,
    MissingInputError,
    NothingLoadedError,
    RejectLimitError,
    SchemaMismatchError,
    SinkError,
    SourceChangedError,
    SourceError,
    SourceReadError,
    TargetLockedError,
    gone_at_turn,
    no_load_hint,
    one_line,
)
from .files import remove_target
from .lock import TargetLock
from .logs import JsonLog
from .memory import (
    ReaderNeed,
    current_rss_mb,
    fit_memory,
    gc_paused,
    input_width,
    most_needed,
    reader_need,
    reader_needs,
    report_sizes,
    sample_bytes,
)
from .outputs import rewrite_report, write_outputs
from .paths import check_directory, check_paths, lock_path
from .prefetch import ordered_map, prefetch
from .progress import Progress
from .readers import (
    EMPTY_REASON,
    Naming,
    empty_lines,
    empty_text_files,
    expand_paths,
    file_format,
    input_spellings,
    open_reader,
    too_new,
)
from .readers.base import unknown_declared
from .readers.decimal_comma import PLAIN, NumberStyle, number_style
from .readers.dialect import HeaderRule
from .readers.partitions import folder_rejected, load_keys, recorded_keys, settle
from .readers.stream import parses_at_most
from .rejects import Committed, NotUtf8, RejectFile, default_rejects_path, reject_target, versioned
from .report import FileReport, RunReport
from .schema import (
    Sample,
    TextForm,
    as_declared,
    binding,
    bound,
    declared_pins,
    decode_types,
    encode_types,
    rows_per_file,
    stored_type,
    text_forms,
    unify,
)
from .sinks import Encoded, Encoder, Sink
from .state import (
    FilePlan,
    FileState,
    JobState,
    Ledger,
    Tally,
    emptied_version,
    file_key,
    gone,
    has_entry,
    held_entries,
    identify_at_turn,
    left_out,
    left_to_plan,
    plan_files,
    read_options,
    recorded_spellings,
    rejected_with_others,
    rows_committed,
)
from .suggest import fold
from .transforms import (
    Stage,
    apply,
    as_stages,
    build_stages,
    close_stages,
    code_allowed,
    for_load,
    hint_sink_column,
    output_schema,
    wait_as_sink,
)
from .types import parse_type, type_name
from .writers.base import Writer, check_generated, check_required, naming_file, new_columns, prepare_for

Event = Callable[[str, dict[str, Any]], None]
# A file ending this long after the last commit is committed at once, though fewer than
# batch_size rows wait: many small files share a commit, and none waits for long.
COMMIT_SECONDS = 1.0
SMALL_FILE_BYTES = 64 << 10  # read without read-ahead threads (the bytes parsed: a compressed file's decompressed)


def _refuse_with_inputs(job: JobConfig) -> None:
    """A ceiling below the floor, refused with the whole figure the input files need (a wide
    CSV, a Parquet file's pages, the run's records of each file), as the run would refuse it
    once they are known: one refusal names a figure that then holds. Nothing where they
    cannot be looked at yet (the run says why)."""
    try:
        files = expand_paths(job.source)
        need = reader_need(job, files)
    except (LoaderError, OSError, pa.ArrowException):
        return
    fit_memory(job, need, files=len(files))


def _then_resume(hint: str | None) -> str:
    """A fix-first hint once rows are committed: the rerun resumes (said once)."""
    if not hint:
        return f"fix this, {THEN_RESUME}"
    if RELOAD_ALL_HINT in hint:  # it says already what a rerun does: resume, or load everything again
        return hint
    return f"{re.sub(r',? (?:then|and) rerun$', '', hint)}; {THEN_RESUME}"


def _remembered(first_values: Callable[[list[str]], dict[str, Any]]) -> Callable[[list[str]], dict[str, Any]]:
    """``first_values`` asking the table once per column (one query a column)."""
    held: dict[str, Any] = {}
    asked: set[str] = set()

    def remembered(columns: list[str]) -> dict[str, Any]:
        new = [c for c in columns if c not in asked]
        if new:
            held.update(first_values(new))
            asked.update(new)
        return {c: held[c] for c in columns if c in held}

    return remembered


def _imported(stage: Stage) -> bool:
    """False for a job file's python stage whose code is not imported yet (see ``plan``)."""
    return getattr(stage, "resolved", True) is not False


@dataclass
class Plan:
    """What a run would do, without writing anything (``--dry-run``)."""

    files: list[str]
    schema: pa.Schema | None
    sink: str
    target: str
    table: str | None
    mode: str
    stages: list[str] = field(default_factory=list)
    dialects: dict[str, list[str]] = field(default_factory=dict)  # each CSV dialect, described: its files
    deferred: str | None = None  # the first stage whose code is imported only at run time
    target_line: str = ""  # the sink's own description of its target
    engine: str = "threads"  # ``run.engine``, described (workers, scheduler)
    parts: list[str] = field(default_factory=list)  # off threads: the parts, per file (``engines.describe_parts``)
    statuses: dict[str, str] = field(default_factory=dict)  # each file against the job's checkpoint, in words
    target_note: str | None = None  # why the target was not read (``Peek.note``)
    too_new: list[str] = field(default_factory=list)  # files left for a later run (``source.min_age``), each with why
    empty: list[str] = field(default_factory=list)  # CSV and JSON Lines files of 0 bytes: no rows to load
    warnings: list[str] = field(default_factory=list)  # the sink's for the files' columns (``RunReport.warnings``)

    @property
    def stdin(self) -> bool:
        """Standard input is an input: a dry run does not read it (it would take the rows)."""
        return storage.STDIN in self.files

    def ok_line(self) -> str:
        """The dry run's last line: what it checked."""
        if self.stdin:
            return "ok: configuration and target are valid; standard input was not read; nothing was written"
        return "ok: configuration and sources are valid; nothing was written"

    def lines(self) -> list[str]:
        out = [f"files ({len(self.files)}):"]
        out += [f"  {f}: {self.statuses[f]}" if f in self.statuses else f"  {f}" for f in self.files[:50]]
        if len(self.files) > 50:
            out.append(f"  ... and {len(self.files) - 50} more")
        if self.too_new:
            out.append(f"too new ({len(self.too_new)}): left for a later run (source.min_age)")
            out += [f"  {f}" for f in self.too_new[:50]]
            out += [f"  ... and {len(self.too_new) - 50} more"] if len(self.too_new) > 50 else []
        out += empty_lines(self.empty) if self.empty else []
        if self.stdin:
            out.append("standard input: not read by a dry run; its columns are checked by the load only")
        for described, paths in self.dialects.items():
            out.append(f"dialect ({_some(paths, DIALECT_FILES_SHOWN)}): {described}")
        if self.stages:
            out.append("transforms: " + " -> ".join(self.stages))
        if self.deferred is not None:
            out.append(f"{self.deferred}: function syntax checked, not imported; it is imported at run time")
        if self.schema is not None:
            out.append(f"schema (before {self.deferred}):" if self.deferred else "schema (after transforms):")
            out += [f"  {f.name}: {type_name(f.type)}" for f in self.schema]
        out.append(f"engine: {self.engine}")
        out += self.parts
        if self.target_note is not None:
            out.append(self.target_note)
        out.append(self.target_line)
        out += [f"WARNING {w}" for w in self.warnings]
        return out


# Files named on a plan's dialect line; the others are counted.
DIALECT_FILES_SHOWN = 3


def _too_new_reason(age: float, min_age: float) -> str:
    """Why a file waits for a later run: ``modified 3s ago, under source.min_age = 60s``."""
    when = f"modified {age:.0f}s ago" if age >= 0 else f"modified {-age:.0f}s ahead of this machine's clock"
    return f"{when}, under source.min_age = {min_age:g}s"


def _some(paths: list[str], shown: int) -> str:
    """``a.csv, b.csv, c.csv and 4 more``."""
    names = ", ".join(paths[:shown])
    return f"{names} and {len(paths) - shown} more" if len(paths) > shown else names


class _Signals:
    """SIGTERM/SIGINT ask for a stop at the next batch boundary; a second one stops now.
    The request is this run's own (``stopping``): other runs, in other threads or that
    handle no signals, neither see it nor clear it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and stopping.on_main_thread()  # (a Pipeline's run refuses it elsewhere)
        self.request = stopping.Request()
        self._old: dict[int, Any] = {}
        self._scope = stopping.scope(self.request if self.enabled else None)
        self._arrow: contextlib.AbstractContextManager[None] = (
            stopping.arrow_handlers_off() if self.enabled else contextlib.nullcontext()
        )

    @property
    def signum(self) -> int | None:
        return self.request.signum

    def _handle(self, signum: int, frame: Any) -> None:
        if self.request.signum is not None:
            raise InterruptedLoad(signum, "stopped at once by a second signal; committed work is kept")
        self.request.signum = signum

    def __enter__(self) -> _Signals:
        self._scope.__enter__()
        self._arrow.__enter__()
        if self.enabled:
            self.request.signum = stopping.take_early()  # one that came while the command started
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._arrow.__exit__(None, None, None)
        self._scope.__exit__(None, None, None)


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
        """A load of ``job``, ready to ``plan()`` (check, write nothing) or ``run()``.

        Args:
            job: the job, as a job file, the CLI or ``load()`` build it (``load_job``,
                ``JobConfig``); resolved here if it is not yet.
            transforms: stages run after the job's own ``[[transform]]`` stages: stage objects
                or plain ``RecordBatch -> RecordBatch`` functions. The caller's code, trusted.
            handle_signals: stop at the next batch boundary on SIGTERM/SIGINT, with the
                checkpoint committed (``InterruptedLoad``, exit 143/130). Main thread only:
                ``run()`` in another thread raises ConfigError.
            progress: draw the progress line on stderr; never with ``run.log_format = "json"``.
            on_event: called as ``on_event(name, data)`` for ``start``, ``file``,
                ``progress``, ``file_done``, ``part`` (engines: a worker finished a part)
                and ``finish`` (see ``loader.logs``). None: with ``run.log_format = "json"``,
                these events as JSON lines on stderr, as ``loader run`` logs them; else none.
                An exception it raises stops nothing: the first is the report's ``log_error``.
            allow_python: let the job's ``python`` stages import and run the code they name;
                None: when ``LOADER_ALLOW_PYTHON=1``.

        Raises:
            ConfigError: the job is invalid (with a did-you-mean for a misspelt key)."""
        self._resolved = resolve(job)  # a JobConfig built in Python is resolved here, once
        self._source = self._resolved.source  # ``partitioning`` as the job gives it (``_settle_partitioning``)
        self.partition_keys: tuple[str, ...] = ()  # every file's reader adds them (``_settle_partitioning``)
        try:
            self.job = fit_memory(self._resolved)
        except ConfigError:
            _refuse_with_inputs(self._resolved)  # below the floor: with the figure the inputs need
            raise
        self.sink: Sink = sinks.get(str(self.job.sink.type))
        # imported by run() before it writes anything; plan() imports nothing
        job_stages = build_stages(job.transform, allow_code=allow_python, defer_imports=True)
        # the caller's stage objects as this load's own copies: a list of them may serve other loads
        self.stages: list[Stage] = job_stages + for_load(as_stages(transforms))
        wait_as_sink(self.stages, job.sink.busy_timeout)
        self.allow_python, self.code_transforms = code_allowed(allow_python), bool(transforms)  # for engines' workers
        self.handle_signals = handle_signals
        # JSON logs make stderr JSON lines only: the progress goes as ``progress`` events
        self.progress = progress and self.job.run.log_format != "json"
        if on_event is None and self.job.run.log_format == "json":
            on_event = JsonLog(quiet=self.job.run.quiet).on_event  # the lines ``loader run`` logs
        self.on_event = on_event
        self.log_error: str | None = None  # the first event on_event failed to take (``_emit``)
        self.type_notes: dict[str, TypeNote] = {}  # column -> why its type was fixed before this run
        # the endings of reasons for values of another type than earlier runs recorded (``explain``)
        self.recorded_notes: frozenset[str] = frozenset()
        # file -> its columns without a value, where the types' sample saw every row of it
        self.empty_columns: dict[str, dict[str, bool]] = {}
        self.read_as_text: set[str] = set()  # the columns (``fold``ed) a sampled file reads from text
        self.unsampled: set[str] = set()  # files whose head failed to read: each fails on its turn
        # an existing table's columns (``fold``ed) whose date-time text timestamps are written in
        self.text_forms: dict[str, TextForm] = {}
        # what keeps an earlier version's naming of a header's empty and repeated names: the
        # columns the checkpoint recorded under it, or an existing target's (``_naming``)
        self.naming = Naming()
        self._entries: dict[str, str] = {}  # the job's entries in the target as the run found them
        self._loop: _Loop | None = None  # the run loop while a run is under way
        self._stored: int | None = None  # after a failure: this run's commits the target holds
        self._too_new: list[tuple[str, str]] = []  # inputs left for a later run (source.min_age), with why
        self._empty: list[str] = []  # CSV and JSON Lines inputs of 0 bytes: files of 0 rows
        # of them, loaded files emptied since, reloaded: their new versions' entries (``_without_empty``)
        self._emptied: dict[str, FileState] = {}
        # files the job's checkpoint holds rows of that are none of this run's inputs (``left_out``)
        self._left_out: list[tuple[str, int]] = []
        # entries of files this run reads none of, moved or emptied since they were loaded
        # (``_record_unread``), which an engine's last commit writes, or threads' first (``_ledger``)
        self._moved: dict[str, str] = {}

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        sets: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        """A pipeline for a job file, as ``loader run`` builds it.

        Args:
            path: The job file (TOML); its relative paths are relative to it.
            sets: ``KEY=VALUE`` overrides, as ``--set`` takes them (``"sink.path=out/x.db"``).
            env: The environment for ``${VAR}`` and ``LOADER_*`` overrides (default: ``os.environ``).
            **kwargs: ``Pipeline``'s own keywords (``progress``, ``on_event``, ...).
        """
        return cls(load_job(path, sets, env, sets_name="sets"), **kwargs)

    # ------------------------------------------------------------ naming

    @property
    def table(self) -> str | None:
        return self.sink.table(self.job.sink, self.job.source.path)

    @property
    def job_name(self) -> str:
        return self.job.run.job or self.sink.job_name(self.job.sink, self.job.source.path)

    @property
    def rejects_path(self) -> str:
        return self.job.run.rejects or default_rejects_path(self.job.sink.path, self.job_name)

    def _emit(self, event: str, **data: Any) -> None:
        """``event`` to ``on_event``. The data load is the job: an event that cannot be logged
        (stderr on a full disk or a closed pipe, a callback that raises) stops nothing; the
        first such failure is the report's ``log_error``, and later events are still sent."""
        if self.on_event is None:
            return
        try:
            self.on_event(event, data)
        except InterruptedLoad:
            raise  # a second signal, come while the event was logged
        except Exception as exc:
            if self.log_error is None:
                self.log_error = f"{event} event: {type(exc).__name__}: {one_line(exc)}"

    # -------------------------------------------------------------- plan

    def plan(self) -> Plan:
        """Check the config and the sources and describe the run; writes nothing."""
        try:
            return self._plan_run()
        except LoaderError as exc:  # a load's hint tells of files loaded: the dry run loaded none
            hint_sink_column(exc, self.stages)
            no_load_hint(exc, ", then check again (the dry run wrote nothing)")
            raise

    def _plan_run(self) -> Plan:
        self.stages = for_load(self.stages)  # as each run does: nothing an earlier run learnt is taken as checked
        spelled, files = self._inputs()
        self._check_paths(files)  # before any input is opened: the target may match the input glob
        self._settle_partitioning(files)
        self._fit_files(files)
        src, sink = self.job.source, self.job.sink
        # checks its settings (a key template, a table name); opens nothing
        writer = self.sink.open_writer(sink, src.path)
        if self.job.run.engine != "threads":  # what the engine refuses before the load reads anything
            from .engines import check_plan

            check_plan(self, writer, files)
        schema = None
        dialects: dict[str, list[str]] = {}
        self._peeked = JobState()
        self._peeked_entries: dict[str, str] = {}  # its entries (``engines.check_checkpoint``)
        self._target_entries: dict[str, str] = {}  # the job's entries in the target, before any restart
        self._target_note: str | None = None  # why the target was not read (``Peek.note``)
        plans: list[FilePlan] = []
        unwritten: _Unwritten | None = None
        warnings: list[str] = []
        if files:  # standard input's target too: only its rows are not read
            types, spelled = self._plan_types(spelled)
            files = recorded_spellings(spelled, self._peeked)  # as the run names them
            plans = plan_files(files, self._peeked, self.job.run.on_change, read_options(self.job.source))
            self._refuse_half_loaded(self._peeked, plans, self._peeked_entries)
            self._plan_remade(plans)
            unwritten = self._unwritten(plans)
            for plan in (p for p in plans if p.path != "-"):  # each file's columns, as the run prepares for each
                self._refuse_changed(plan)  # at its turn, as the run refuses it
                if not plan.reads:  # skipped (loaded already, or changed and on_change = skip): not opened
                    continue
                out = self._plan_read(plan, types, dialects, warnings, unwritten)
                schema = out if schema is None else schema
            loaded = next((p for p in plans if self._read_before(p)), None)
            if schema is None and loaded is not None:
                # every input is loaded already: the stages and the target are checked against one's
                # head all the same, as the next run's new file of its columns will be
                schema = self._plan_read(loaded, types, dialects, warnings, None)
            if unwritten is not None and unwritten.writes_nothing:
                warnings.append(self._would_write_nothing(unwritten))
        return Plan(
            files=files,
            schema=schema,
            sink=str(sink.type),
            target=sink.path,
            table=self.table,
            mode=sink.mode,
            stages=[s.name for s in self.stages],
            dialects=dialects,
            deferred=self._deferred(),
            target_line=self.sink.plan_line(sink, src.path),
            engine=self._engine_line(),
            parts=self._plan_parts(plans),
            statuses=self._statuses(plans),
            target_note=self._target_note,
            too_new=[f"{path}: {reason}" for path, reason in self._too_new],
            empty=self._empty,
            warnings=warnings,
        )

    def _read_before(self, plan: FilePlan) -> bool:
        """A file loaded already, unchanged since, that gave rows: its head reads as it did."""
        fs = self._peeked.files.get(plan.key)
        return plan.status == "skipped" and fs is not None and fs.rows_read > 0

    def _plan_read(
        self,
        plan: FilePlan,
        types: dict[str, pa.DataType],
        dialects: dict[str, list[str]],
        warnings: list[str],
        unwritten: _Unwritten | None,
    ) -> pa.Schema:
        """For the dry run: one file's head read as the run reads it, its dialect noted, the
        stages and the target checked against it, as the load checks them; its rows typed
        (``unwritten``) where the load may write none. The schema after the stages."""
        path, src, sink = plan.path, self.job.source, self.job.sink
        with open_reader(
            path,
            src,
            chunk_size=self.job.run.chunk_size,
            resume=_resume_at(plan),  # a half-loaded file keeps its recorded dialect
            check_width=self._header_check(),
            types=types,
            naming=self.naming,
            partitions=self.partition_keys,
        ) as reader:
            out = self._output_schema(reader.schema, path)
            found = getattr(reader, "dialect", None)
            if found is not None:  # files may differ: each dialect is shown with its files
                dialects.setdefault(found.describe(), []).append(path)
            if unwritten is not None and not unwritten.writes:
                unwritten.read(reader, self.job.run.max_rejects)
        if self._deferred() is None:
            self._check_width(out, path)
            with naming_file(path):
                self.sink.check_schema(sink, out, self._target_entries)
            warnings += [w for w in self.sink.warnings(sink, out) if w not in warnings]
            if self._target_note is None:  # else the table was not read
                self._check_table_columns(out, path)
        return out

    def _would_write_nothing(self, unwritten: _Unwritten) -> str:
        """A dry run's load that writes no row: its "nothing loaded" error (exit 4), or where
        the transforms filter out every row as the job asks (``_filtered_as_asked``), the
        warning the load ends with (exit 0)."""
        if not self._filtered_as_asked(unwritten.report, unwritten.earlier):
            raise self._nothing_loaded(unwritten.report, unwritten.reasons, check=True, earlier=unwritten.earlier)
        return _filtered_warning(unwritten.report, self.job.source)

    def _unwritten(self, plans: list[FilePlan]) -> _Unwritten | None:
        """For a dry run whose load may end "nothing loaded" (exit 4, ``_check_loaded``) or
        stop at ``run.max_rejects`` (exit 3) before it writes a row: a fresh run (a resumed
        one wrote rows before) of CSV or JSON Lines files only, whose rows are read to type
        them (not standard input, which the dry run does not read). Its rows go through the
        stages it may run (``_dry_runnable``), their rejects explained as the load's are."""
        if self._peeked.status == "running" or self.job.source.format not in ("csv", "jsonl"):
            return None
        if any(p.path == storage.STDIN or p.error is not None for p in plans):
            return None
        stages = list(itertools.takewhile(_dry_runnable, self.stages))
        style = number_style(self.job.source)
        return _Unwritten(stages, self.type_notes, earlier=rows_committed(self._peeked) > 0, style=style)

    def _engine_line(self) -> str:
        run = self.job.run
        if run.engine == "threads":
            return "threads"
        if run.engine == "dask" and run.scheduler not in (None, "local"):
            return f"dask (scheduler {run.scheduler})"
        workers = run.workers or usable_cpus()
        return f"{run.engine} ({workers} local worker{'s' if workers != 1 else ''})"

    def _plan_parts(self, plans: list[FilePlan]) -> list[str]:
        """Off ``threads``: the parts the load cuts the files it reads into (as ``_plan``
        finds them against the checkpoint the dry run read)."""
        if self.job.run.engine == "threads":
            return []
        from .engines import describe_parts

        return describe_parts(self, plans)

    def _statuses(self, plans: list[FilePlan]) -> dict[str, str]:
        """Each file against the job's checkpoint, in words; none where it holds no file yet."""
        state = self._peeked
        if not (state.files or state.parts):
            return {}
        on_change = str(self.job.run.on_change)
        return {p.path: _status_words(p, state, on_change) for p in plans if p.path != storage.STDIN}

    def _plan_types(self, spelled: list[list[str]]) -> tuple[dict[str, pa.DataType], list[list[str]]]:
        """The types a run would read the inputs (``spelled``: every spelling of each) with
        (``_load_types``): an existing target's checkpoint and declared columns bind them,
        read without creating or changing it; and the inputs but the empty ones, as the run
        leaves them out against that checkpoint (``_without_empty``)."""
        peeked = self.sink.peek(self.job.sink, self.job.source.path, self.job_name)
        self._target_note = peeked.note
        self._fit_checkpoint(spelled, held_entries(peeked.entries))  # as the run refuses it
        state = JobState.parse(peeked.entries)
        starts_over = self._starts_over(state)
        self._note_left_out(state, peeked.entries, spelled, starts_over=starts_over)  # as the run refuses it
        if starts_over:
            state = JobState()
        self._peeked = state  # what the files are planned against (``_plan_parts``)
        spelled = self._without_empty(spelled, state)
        files = [names[0] for names in spelled]
        self._peeked_entries = {} if starts_over else peeked.entries
        self.sink.check_checkpoint(self.job.sink, self.job.run, self._peeked_entries)  # as the run refuses it
        self._target_entries = peeked.entries  # as the target holds them (what --restart keeps binds too)
        # the table's columns, as the load will find them (a replace that starts over makes it anew)
        dropped = starts_over and self.job.sink.mode == "replace"
        self._table_columns = {} if dropped else peeked.declared
        self._required = () if dropped else peeked.required
        self._generated = () if dropped else peeked.generated
        self._fixed = not dropped and peeked.fixed
        self._unusable = () if dropped else peeked.unusable
        self._check_recorded_partitions(files, state)

        def first_values(columns: list[str]) -> dict[str, Any]:
            return self.sink.first_values(self.job.sink, self.job.source.path, columns)

        types = self._load_types(files, state, peeked.declared, state.status != "running", first_values, peeked.entries)
        return types, spelled

    def _plan_remade(self, plans: list[FilePlan]) -> None:
        """For the dry run: a table the load makes anew (``_forget_superseded_read``; the dry
        run takes it to be empty, as the job wrote no row) is made by the first file read."""
        columns = self._superseded_columns(self._peeked, plans, _rows_in_target(self._peeked))
        table = getattr(self, "_table_columns", {})
        if columns is not None and {fold(c) for c in columns} == {fold(c) for c in table}:
            self._table_columns = {}

    def _check_table_columns(self, schema: pa.Schema, path: str) -> None:
        """A column an existing table requires (NOT NULL without a default) that the file
        lacks, or one the file has that the table lacks, or the table the first file makes,
        without ``sink.alter``: refused as the load refuses it."""
        columns = getattr(self, "_table_columns", {})
        if columns:
            with naming_file(path):
                check_required(self.table, getattr(self, "_required", ()), schema)
                check_generated(self.table, getattr(self, "_generated", ()), schema)
                names = {fold(n) for n in schema.names}
                for column, error in getattr(self, "_unusable", ()):
                    if column is None or fold(column) not in names:
                        raise error
                fixed = getattr(self, "_fixed", False)
                for f in new_columns(self.table, columns, schema, alter=self.job.sink.alter, fixed=fixed):
                    columns[f.name] = ""  # added by --alter: in the table for the files after
        elif self.table is not None:  # the first file's rows make the table
            self._table_columns = dict.fromkeys(schema.names, "")

    def _settle_partitioning(self, files: list[str]) -> None:
        """Whether this load adds partition columns from its files' folders, decided once
        over all of them (``partitions.settle``), from the job's own setting on every run,
        and the partition keys every file's reader adds (``partitions.load_keys``)."""
        source = settle(self._source, files)
        self.partition_keys = load_keys(source, files)
        self._resolved = replace(self._resolved, source=source)
        self.job = replace(self.job, source=source)

    def _check_recorded_partitions(self, files: list[str], state: JobState) -> None:
        """Partition columns earlier runs loaded (``partitions.recorded_keys``) hold this run's
        files to them, under ``auto`` too: a file without their folders is refused (it made
        ``auto`` load none, every file's values as NULL). Asked once the checkpoint is read:
        it can only refuse what ``_settle_partitioning`` settled, never change it."""
        loaded = [fs.path for fs in state.files.values()]
        settle(self._source, files, recorded_keys(loaded, decode_types(state.schema)))

    def _fit_files(self, files: list[str], entries: int = 0) -> JobConfig:
        """The job's sizes fitted again once its input files are known: wide rows make
        fewer rows to a chunk, and under ``run.max_memory`` a wide file, or a Parquet
        file's own pages, may need more than the floors hold (``entries``: the job's
        checkpoint's, once read: it is held whole)."""
        needs = reader_needs(self._resolved, files) if self.job.run.max_memory is not None else None
        self.job = fit_memory(
            self._resolved,
            most_needed(needs),
            input_width(self._resolved, files, needs),
            files=len(files),
            entries=entries,
        )
        return self.job

    def _fit_checkpoint(self, spelled: list[list[str]], entries: int) -> None:
        """The job's sizes fitted again once its checkpoint of ``entries`` entries is read (held
        whole): a ceiling too low for it too is refused before any row is read, by the dry run
        as by the load, and the rows in flight get the room it leaves."""
        if self.job.run.max_memory is not None and entries:
            self._fit_files([names[0] for names in spelled], entries)

    @property
    def bench_rows(self) -> int:
        """``run.chunk_size`` as the job gives it, before ``fit_memory`` (``ReaderBase.bench_rows``)."""
        return self._resolved.run.chunk_size

    def _check_stdin_columns(self, columns: int) -> None:
        """Standard input's header is read only now: a ceiling below what its columns need is
        refused as the same file's would be before the run, before any of its rows is loaded."""
        if self.job.run.max_memory is not None and self.job.source.format in (None, "csv"):
            fit_memory(self._resolved, ReaderNeed("standard input", 0.0, columns, "csv"))

    def _check_width(self, schema: pa.Schema, path: str) -> None:
        """A table too wide for the sink is a config error before any row is read."""
        check = self._header_check(stages=False)
        if check is not None:
            check(len(schema), path)

    def _header_check(self, *, stages: bool = True) -> Callable[[int, str], None] | None:
        """The sink's column limit, for a reader to check on the header; not where stages
        may change the columns (then the output schema is checked)."""
        return None if stages and self.stages else self.sink.width_check()

    def _deferred(self) -> str | None:
        return next((s.name for s in self.stages if not _imported(s)), None)

    def _output_schema(self, schema: pa.Schema, path: str) -> pa.Schema:
        """The schema the stages make of ``schema``; up to the first stage not imported yet."""
        stages = list(itertools.takewhile(_imported, self.stages))
        return output_schema(stages, schema, path, name_clash=self.sink.name_clash)

    def new_load_types(self, files: list[str]) -> dict[str, pa.DataType]:
        """The column types a load of ``files`` into a new target reads every one of them
        with: their heads' types, unified (what ``loader inspect`` of a glob shows)."""
        return self._settle_types(files, {})

    def _settle_types(self, files: list[str], fixed: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """The column types every file of this load is read with: ``fixed`` ones (from
        earlier runs), and for the rest, what each file's head holds, unified. Only
        heads are read, fewer rows of each as files add up (``rows_per_file``)."""
        paths = [f for f in files if f != "-"]  # standard input is sampled as it is read
        self.empty_columns = {}  # this run's: a file changed since an earlier run is sampled again
        self.read_as_text = set()
        self.unsampled = set()
        if not paths:
            return dict(fixed)
        src = replace(self.job.source, infer_rows=rows_per_file(self.job.source.infer_rows, len(paths)))
        # Small files are guessed together where every file's types are guessed from text
        # (beside a typed file's, each text file's own type counts: ``unify``).
        small = None
        if all(file_format(p, src) == "csv" for p in paths):
            from .readers.csv.infer import SmallFiles
            from .readers.csv.parse import na_after_parse

            small = SmallFiles(na_after_parse(src), sample_bytes(self.job))

        headers = HeaderRule()

        def samples() -> Iterator[Sample]:  # folded in as they come (``unify``): none is kept
            for path in paths:
                found = None
                try:
                    with open_reader(
                        path,
                        src,
                        chunk_size=self.job.run.chunk_size,
                        workers=self.job.run.workers or 1,
                        types=fixed,
                        defer_types=small is not None,
                        naming=self.naming,
                        check_width=self._header_check(),  # a header too wide is not sampled
                        partitions=self.partition_keys,
                    ) as reader:
                        sample = Sample(
                            reader.schema, reader.guesses, reader.valueless, getattr(reader, "file_names", ())
                        )
                        kept = reader.sample
                        found = getattr(reader, "dialect", None)
                except LoaderError:
                    self.unsampled.add(path)
                    continue  # the file fails the same way when its turn comes, after the files before it
                headers.check(path, found)
                if small is not None and kept is not None and small.add(path, sample.schema, kept):
                    continue
                if small is not None:
                    yield from small.samples()  # in file order: the first file spells a column
                    if kept is not None and small.add(path, sample.schema, kept):
                        continue
                yield sample
            if small is not None:
                yield from small.samples()

        apart: dict[str, str] = {}
        types = unify(samples(), fixed, self.read_as_text, apart)
        self.naming = replace(self.naming, apart=tuple(apart.items()))  # every reader of the load names them so
        self.empty_columns = small.empty if small is not None else {}
        return types

    def _load_types(
        self,
        files: list[str],
        state: JobState,
        declared: dict[str, str],
        fresh: bool,
        first_values: Callable[[list[str]], dict[str, Any]],
        entries: dict[str, str],
    ) -> dict[str, pa.DataType]:
        """The settled types of this run: those earlier runs recorded with the checkpoint,
        the files' own for the rest, and over both, what an existing table's declared columns hold
        without loss (when rows go in as read: with no stages between). ``first_values``: the
        table's columns' first values, which tell whether its timestamps are the loader's text.
        ``entries``: the job's checkpoint entries in the target, before a restart."""
        columns = self.sink.named_columns(entries, declared)  # made by earlier loads, in order
        self.naming = self._naming(state, columns, wiped=fresh and self.job.sink.mode == "replace")
        self.text_forms = {}
        if fresh and self.job.sink.mode == "replace":
            self.type_notes, self.recorded_notes = {}, frozenset()
            types = self._settle_types(files, {})  # the table or keys are wiped: nothing earlier binds this load
            self._check_declared_names(files, types)
            return types
        first_values = _remembered(first_values)  # asked by the pins and the forms alike
        # a column typed null: only its spelling is recorded; a nested type is recorded for a replay only
        recorded = self._check_declared(binding(decode_types(state.schema)))
        todo = [f for f in files if not getattr(state.files.get(file_key(f)), "done", False)]
        if fresh and todo:
            state.fixed = sorted(bound(recorded))  # kept by a resumed run: its rejects read as the first attempt's
        types = self._settle_types(todo, recorded)
        self._check_declared_names(todo, types, *recorded, *declared, *columns)
        own = self.job.source.columns  # declared by the job: they keep their type and its checks
        pins = {}
        if not self.stages:
            pins = declared_pins(
                declared, types, recorded, own=own, first_values=first_values, from_text=self.read_as_text
            )
        if declared:  # a table there already: the forms its columns hold (the stages run on no row for them)
            self.text_forms = text_forms(declared, self._written_types(types | pins), first_values)
        # A value rejected for a type fixed before this run says where that type comes from.
        change = 'to change it, declare the type and reload every file with --restart and mode = "replace"'
        if self._left_out:  # not every file the job loaded is an input still
            change += f"; but that would drop {_left_out_words(self._left_out)}"
        declared_names = {fold(n) for n in self.job.source.columns}
        notes = {
            n: TypeNote(f"{n} is {type_name(t)} since an earlier run of this job", change)
            for n, t in bound(recorded).items()
            if n in state.fixed and fold(n) not in declared_names  # a declared type is this run's own
        }
        # a table made elsewhere has the user's constraints, triggers and indexes: replace would drop them
        elsewhere = (
            "to load such values, change the column's type in the table yourself (replace would drop the table,"
            " with its constraints, triggers and indexes), load into a new table (--table), or convert them"
            " with a cast or derive stage"
        )
        notes |= {
            n: TypeNote(f"the table's column {n} holds {type_name(t)} values only", elsewhere) for n, t in pins.items()
        }
        self.type_notes = {n: note for n, note in notes.items() if not pa.types.is_string((recorded | pins)[n])}
        self.recorded_notes = frozenset(note.full for n, note in self.type_notes.items() if n not in pins)
        return types | pins

    def _encoder(self, writer: Writer) -> Encoder:
        """The sink's encoder; told the table's date-time text forms only where it has some (a
        sink registered before they were has no such argument)."""
        if self.text_forms:
            return self.sink.encoder(self.job.sink, writer, forms=self.text_forms)
        return self.sink.encoder(self.job.sink, writer)

    def _written_types(self, types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """The types the encoder gets of rows read with ``types``: the stages' output, as far as
        they are imported and take an empty batch (else the types read)."""
        if not self.stages:
            return types
        try:
            schema = self._output_schema(pa.schema([pa.field(n, t) for n, t in bound(types).items()]), "")
        except (LoaderError, pa.ArrowException):  # said again, with the file, when it is read
            return types
        return dict(zip(schema.names, schema.types, strict=True))

    @staticmethod
    def _naming(state: JobState, columns: list[str], *, wiped: bool) -> Naming:
        """What keeps an earlier version's naming of a header (``readers.base.Naming``): the
        job's checkpoint where it records columns, by the rule it records; without one (a new
        job, --restart), the columns of the target earlier loads made, by either rule (a table
        left by an earlier version keeps its columns, and a later file's values go where its
        first file's went). Not a target this run wipes (a new replace)."""
        if state.schema:
            return Naming(legacy=tuple(state.legacy_names()))
        return Naming(target=() if wiped else tuple(columns))

    def _plan(self, files: list[str], state: JobState, report: RunReport, writer: Writer) -> list[FilePlan]:
        """Each input against the job's checkpoint (``plan_files``); the files half loaded
        before and gone since, in the report; the columns of a read none of whose rows loaded
        that this run's replaces, forgotten (``_forget_superseded_read``)."""
        with _inputs_checked(report, named=self.job.source.path):
            plans = plan_files(files, state, self.job.run.on_change, read_options(self.job.source))
        self._moved = {}  # this run's (``_skip``)
        self._record_emptied(state)
        if self.job.run.engine == "threads":
            self._refuse_half_loaded_in_parts(state, plans)
        self._report_gone(state, plans, report)
        self._forget_superseded_read(state, plans, writer)
        return plans

    def _refuse_half_loaded(self, state: JobState, plans: list[FilePlan], entries: dict[str, str]) -> None:
        """For the dry run: a file half loaded in a way this run's engine cannot go on with,
        refused as the run refuses it (``_plan``; off threads, ``engines.check_checkpoint``)."""
        if self.job.run.engine == "threads":
            self._refuse_half_loaded_in_parts(state, plans)
            return
        from .engines import check_checkpoint

        check_checkpoint(self, plans, entries, state)

    def _refuse_half_loaded_in_parts(self, state: JobState, plans: list[FilePlan]) -> None:
        """A file that an earlier run's engine committed parts of, and did not finish, goes on in
        those parts: read whole by ``threads`` it would load their rows again."""
        for plan in plans:
            if plan.reads and plan.state is not None and state.half_in_parts(plan.key, plan.state.identity):
                raise ConfigError(
                    f"{plan.path}: half loaded in parts by an earlier run with run.engine = 'processes' or 'dask'",
                    hint=f"finish that load with the same --engine, or {RELOAD_ALL_HINT}",
                    names=("run.engine",),
                )

    def _check_declared_names(self, files: list[str], types: dict[str, pa.DataType], *known: str) -> None:
        """Each ``source.columns`` name is a column of some input whose head this run read
        (``types``), or one the target or the checkpoint knows (``known``): a file may lack a
        column the files before or after it have, but a name none has is a mistake (a typo).
        Standard input, read unsampled, checks its own header (``declared_types``). Where no
        input's head could be read (an empty file alone), the first one's own error tells why
        when its turn comes: that it lacks the column would hide it."""
        if all(f == "-" or f in self.unsampled for f in files):
            return
        have = {fold(n) for n in (*types, *known)}
        missing = [n for n in self.job.source.columns if fold(n) not in have]
        if missing:
            where = files[0] if len(files) == 1 else f"any of the {len(files):,} inputs"
            raise unknown_declared(missing[0], where, list(types))

    def _check_declared(self, recorded: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
        """A column keeps one type across runs (one JSON type, one key format): a
        declaration may not change what earlier runs wrote. The recorded types, those declared
        as declared (``as_declared``: an ``int32`` is recorded as the int64 stored)."""
        declared = {fold(n): t for n, t in self.job.source.columns.items()}  # in any ASCII case: one column
        for name, t in bound(recorded).items():
            spelled = declared.get(fold(name))
            if spelled is not None and not stored_type(parse_type(spelled, where=f"source.columns.{name}")).equals(t):
                raise ConfigError(
                    f"source.columns.{name}: declared {spelled}, but earlier runs of job {self.job_name!r} loaded it as {type_name(t)}",
                    # in flags, as every hint is: each front end spells them its way (``cli.hint_for``, ``api._as_given``)
                    hint=f"declare it as they did ({_columns_flag(name, type_name(t))}), or, to load it as {spelled}, {self._reload_all()}",
                )
        own = {n: parse_type(t, where=f"source.columns.{n}") for n, t in self.job.source.columns.items()}
        return as_declared(recorded, own)

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
        check_directory("run.temp_dir", run.temp_dir)
        check_directory("run.spill_dir", run.spill_dir)
        for stage in self.stages:  # a key store the run could not open: the dry run refuses it too
            state_path = getattr(stage, "state_path", None)
            if isinstance(state_path, str) and state_path:
                from .transforms.dedupe import check_store_directory  # the key store's module, loaded lazily

                check_store_directory(state_path, stage.name)

    # --------------------------------------------------------------- run

    def run(self) -> RunReport:
        """Load everything not loaded yet; returns the report (also on failure, via ``error.report``).

        The report and the metrics go where ``run.report`` and ``run.metrics_file`` say, after
        a failure too, as ``loader run`` writes them (``loader.outputs``)."""
        report = self.report_class(
            job=self.job_name,
            sink=str(self.job.sink.type),
            target=self.job.sink.path,
            table=self.table,
            rejects_path=self.rejects_path,
            engine=str(self.job.run.engine),  # the engine asked for, in a report of a run that stopped early too
        )
        report.start()
        self.log_error = None
        self._earlier = False  # whether the job's checkpoint holds rows an earlier run committed
        self._left_out = []  # this run's own (``_note_left_out``): none where its target is gone
        # what the stages learnt in an earlier run or plan (a schema found valid, a key store)
        # is not this run's: a host that retries a failed run must see its checks fail again
        self.stages = for_load(self.stages)
        try:
            self._check_signal_thread()
            with storage.remembering():  # each object's size and type asked of the store once
                self._run(report)
        except BaseException as exc:
            hint_sink_column(exc, self.stages)
            self._failed(report, exc)
            raise
        finally:
            self._loop = None  # it refers back to this pipeline: no cycle to keep its writer and state alive
        report.finish("ok")
        report.log_error = self.log_error
        try:
            # before the finish event: a file that cannot be written is the run's outcome (exit 1)
            write_outputs(self.job.run, report)
        except LoaderError as exc:
            exc.report = report  # the load is committed: its counts still stand
            self._announce_written(report)
            raise
        self._announce_written(report)
        return report

    def _check_signal_thread(self) -> None:
        """``handle_signals`` off the main thread, where Python sets no handler: a ConfigError,
        not a run that a SIGTERM ends with the process, with no report."""
        if self.handle_signals and not stopping.on_main_thread():
            raise ConfigError(
                "handle_signals=True: signal handlers can be set in the main thread only, and this run is in "
                f"thread {threading.current_thread().name!r}",
                hint="run the pipeline in the main thread, or without handle_signals: a signal then does what the "
                "process's own handler says (SIGINT raises KeyboardInterrupt in the main thread)",
            )

    def _failed(self, report: RunReport, exc: BaseException) -> None:
        """The report of a run that stopped on ``exc``: finished, attached to it as
        ``exc.report``, announced, and written where ``run.report`` and ``run.metrics_file`` say."""
        self._rewind(report)
        if isinstance(exc, LoaderError):
            self._name_kept_rows(exc)
            if exc.exit_code == EXIT_USAGE and self._committed(report):
                # "nothing was written" is no longer true: committed work stays, and a rerun resumes
                exc.exit_code = EXIT_CONFIG
                exc.hint = _then_resume(exc.hint)
            status = {
                InterruptedLoad: "interrupted",
                RejectLimitError: "rejects_exceeded",
                NothingLoadedError: "nothing_loaded",
                InputGoneError: "failed",  # a 75 of its own: no other run or program holds the target
                EngineError: "failed",  # a Dask scheduler lost (75): nor here
            }.get(type(exc), "locked" if exc.exit_code == EXIT_LOCKED else "failed")
            report.error, report.exit_code = str(exc), exc.exit_code
        elif isinstance(exc, KeyboardInterrupt):  # SIGINT where no handler of ours stops at a batch boundary
            stop = InterruptedLoad(signal.SIGINT)
            status, report.error, report.exit_code = "interrupted", str(stop), stop.exit_code
        else:
            status, report.error, report.exit_code = "failed", f"{type(exc).__name__}: {exc}", EXIT_FAILED
        report.finish(status)
        exc.report = report  # type: ignore[attr-defined]  # any exception: the caller still has the report
        self._announce(report)
        write_outputs(self.job.run, report, lock_refused=getattr(exc, "lock_refused", False))

    def _name_kept_rows(self, exc: LoaderError) -> None:
        """A file that stopped the run part way for its data (damaged, truncated, a value a
        stage refused) keeps the batches of it committed before: the hint says how many rows,
        and what loads its fixed or new copy once, which the rerun finds changed."""
        key = exc.stopped_in
        if key is None or exc.exit_code != EXIT_DATAERR or isinstance(exc, SourceChangedError):
            return  # a changed file's own hint speaks of its committed rows
        state = JobState.parse(self._stored_entries or {})
        fs = state.files.get(key)
        kept = (fs.rows_written if fs is not None and not fs.done else 0) + (
            state.parts[key].rows_written if key in state.parts else 0
        )
        if not kept:
            return
        # an engine's committed parts bind its rerun to this version: a new copy is refused, not reloaded
        reload_all = self._reload_all()
        once = f"to load it once, {reload_all}" if key in state.parts else self._load_once()
        if exc.stage is not None:
            exc.hint = _stage_kept_rows(exc.hint, kept, once, reload_all, parts=key in state.parts)
            return
        exc.hint = (
            f"{exc.hint or 'fix or replace the file'}; {kept:,} rows of it stay committed, so the rerun "
            f"finds a new copy changed: {once}"
        )

    def _announce(self, report: RunReport) -> None:
        """The ``finish`` event; the report notes an event that could not be logged (an
        earlier one's failure is in the event too)."""
        report.log_error = self.log_error
        self._emit("finish", report=report)
        report.log_error = self.log_error

    def _announce_written(self, report: RunReport) -> None:
        """``_announce`` after the report was written: a finish event that could not be
        logged is noted in the report file too."""
        noted = report.log_error
        self._announce(report)
        if report.log_error != noted:
            rewrite_report(self.job.run, report)

    def _committed(self, report: RunReport) -> bool:
        """Whether the target holds a commit of this job: an earlier run's (a file it loaded or
        began) or this one's (a durable batch: not one held for a sorted run that is not complete; or an engine's part).
        The writer's own count may be ahead of the ledger's: its rollback may make a commit durable."""
        loop = getattr(self, "_loop", None)
        durable = loop is not None and max(loop.ledger.durable, loop.writer.durable_commits) > 0
        return report.resumed or bool(report.parts) or durable or self._earlier

    @contextlib.contextmanager
    def _removed_unless_committed(self, report: RunReport) -> Iterator[None]:
        """A target this run created goes again if the run stops on a usage error before
        its first commit (a column named wrong): exit 2 promises nothing was written.
        Entered under the target's lock, so no other run can have opened it meanwhile."""
        path = self.job.sink.path
        existed = os.path.lexists(path)
        try:
            yield
        except LoaderError as exc:
            if not existed and exc.exit_code == EXIT_USAGE and not self._committed(report):
                remove_target(path, self.sink.side_files)
            raise

    def replay(self, path: str | os.PathLike[str]) -> RunReport:
        """Load the rows of a reject file of this job again, once each (see ``loader.replay``)."""
        from .replay import replay_pipeline

        return replay_pipeline(self, path).run()

    def _rewind(self, report: RunReport) -> None:
        """After a failure the totals say what was committed: staged rows were rolled back,
        and rows the writer held past their commit count only if they became durable."""
        loop = getattr(self, "_loop", None)
        if loop is not None:
            stored = self._stored
            loop.ledger.rewind(loop.writer.durable_commits if stored is None else stored)

    @contextlib.contextmanager
    def _counted_as_stored(self) -> Iterator[None]:
        """Entered under the target's lock, before the writer: after a failure, once the
        writer has rolled back and closed, how many of this run's commits the target's
        checkpoint holds (``_rewind``). What the target holds is what a rerun resumes
        from; an interrupt between a commit and its bookkeeping loses no count of it."""
        self._stored = None
        self._stored_entries: dict[str, str] | None = None
        try:
            yield
        except BaseException as exc:
            # a target another program holds, or a stop: read it without waiting for it again
            busy = isinstance(exc, (TargetLockedError, InterruptedLoad))
            self._stored = self._stored_commits(wait=not busy)
            raise

    def _stored_commits(self, *, wait: bool = True) -> int | None:
        """This run's commits in the target's checkpoint (None: no run loop, or unreadable:
        without ``wait``, one locked now); the checkpoint's entries are kept
        (``_name_kept_rows``), an engine's committed parts too."""
        sink = self.job.sink if wait else replace(self.job.sink, busy_timeout=0)
        try:
            entries = self.sink.peek(sink, self.job.source.path, self.job_name).entries
        except Exception:  # the failure may be the target's own: the writer's count then
            return None
        self._stored_entries = entries
        loop = self._loop
        return None if loop is None else loop.ledger.stored_commits(entries)

    def _import_stages(self) -> None:
        """A job file's code is imported now, before anything is written."""
        for stage in self.stages:
            resolve = getattr(stage, "resolve", None)
            if callable(resolve):
                resolve()

    def _run(self, report: RunReport) -> None:
        self._loop = None
        job, run = self.job, self.job.run
        self._import_stages()
        spelled, files = self._inputs(report)
        self._check_paths(files)
        self._settle_partitioning(files)
        job, run = self._fit_files(files), self.job.run
        self._started(files, report)
        with contextlib.ExitStack() as stack:
            # handled from here: a signal while the lock is awaited stops the run with its exit code and report
            signals = stack.enter_context(_Signals(self.handle_signals))
            stack.enter_context(TargetLock(job.sink.path, wait=run.lock_wait))
            stack.enter_context(self._counted_as_stored())
            stack.enter_context(self._removed_unless_committed(report))
            writer = stack.enter_context(self.sink.open_writer(job.sink, job.source.path, job.run))
            rejects = stack.enter_context(self._reject_file(report))
            stopping.check()
            stack.enter_context(gc_paused())
            stack.callback(close_stages, self.stages)
            state, fresh, files = self._start_state(writer, rejects, report, spelled)
            self._check_recorded_partitions(files, state)
            plans = self._plan(files, state, report, writer)
            total = sum(storage.size(p.path) or 0 for p in plans if p.reads)
            progress = stack.enter_context(Progress(total, enabled=self.progress))
            engine = None
            if run.engine != "threads":  # parts on other processes or machines (loader.engines)
                from .engines import started

                engine = stack.enter_context(started(self, writer, plans))
            types = self._load_types(files, state, writer.column_types(), fresh, writer.first_values, self._entries)
            if run.engine != "threads":
                from .engines import load_parts

                reasons = load_parts(
                    self,
                    writer,
                    rejects,
                    state,
                    report,
                    signals,
                    progress,
                    plans,
                    types,
                    fresh,
                    engine,
                    skip=lambda plan: self._skip(plan, report),  # at its turn, as threads lists it
                )
                _raise_unreadable(plans)
                self._check_loaded(report, reasons)
                return
            loop = self._new_loop(
                writer, self._encoder(writer), self._ledger(state, report), rejects, signals, progress
            )
            prepared = False
            for plan in plans:
                if not plan.reads:
                    with (
                        loop.settled_unless_staged()
                    ):  # a changed file that stops the run leaves the files before it loaded
                        self._skip(plan, report)
                    continue
                loaded = self._load_listed(plan, state, types, loop, writer, fresh=fresh and not prepared)
                if loaded is not None:
                    types, prepared = loaded, True
            loop.settle()  # the last files' rows: the files loaded stay so whatever follows
            _raise_unreadable(plans)
            self._check_short_run(report)
            self._finish(writer, report)
            report.add_worker_peak(writer.worker_peak_rss_mb)
            state.status = "complete"
            loop.commit()
            self._check_loaded(report, loop.reasons)

    def _inputs(self, report: RunReport | None = None) -> tuple[list[list[str]], list[str]]:
        """Each input file's spellings (``input_spellings``), and the first of each; those
        changed more recently than ``source.min_age`` are left out, kept in ``_too_new``
        with why (``modified 3s ago``). The empty ones are left out once the checkpoint is
        read (``_without_empty``)."""
        with _inputs_checked(report):
            spelled = input_spellings(self.job.source)
        spelled, young = too_new(spelled, self.job.source.min_age)
        self._too_new = [(path, _too_new_reason(age, self.job.source.min_age)) for path, age in young]
        self._empty, self._emptied = [], {}
        return spelled, [names[0] for names in spelled]

    def _without_empty(self, spelled: list[list[str]], state: JobState) -> list[list[str]]:
        """The inputs but the CSV and JSON Lines files of 0 bytes (of no text), kept in
        ``_empty`` (``empty_text_files``): asked once the checkpoint is read, as a file it
        holds loaded is the plan's, unread (``left_to_plan``): skipped where unchanged, and
        changed where emptied since (truncated in place), never a new file of no rows."""
        on_change = self.job.run.on_change
        kept, self._empty = empty_text_files(
            spelled,
            self.job.source,
            lambda names: left_to_plan(names, state, on_change),
            lambda names: has_entry(names, state),
        )
        empty = set(self._empty)
        versions = (emptied_version(names, state, on_change) for names in spelled if names[0] in empty)
        self._emptied = dict(v for v in versions if v is not None)
        return kept

    def _record_emptied(self, state: JobState) -> None:
        """The new, empty versions of loaded files emptied since (``_without_empty``: listed
        ``empty`` under run.on_change = reload) into the checkpoint: with the loop's first
        commit (``_ledger``) or an engine's last (``_record_unread``)."""
        for key, entry in self._emptied.items():
            state.files[key] = entry
            self._record_unread(key, entry)

    def _ledger(self, state: JobState, report: RunReport) -> Ledger:
        """The ``threads`` loop's ledger, its first commit to write the entries the plan
        recorded of files it reads none of (``_record_emptied``)."""
        ledger = Ledger(state, report)
        ledger.entries.update(self._moved)
        return ledger

    def _started(self, files: list[str], report: RunReport) -> None:
        """The ``start`` event, then the files left for a later run (``source.min_age``):
        listed ``too-new``, counted, and logged."""
        self._emit(
            "start",
            job=self.job_name,
            files=len(files),
            bytes=sum(storage.size(f) or 0 for f in files),
            target=self.job.sink.path,
        )
        for path, reason in self._too_new:
            report.files.append(FileReport(path, status="too-new", reason=reason))
            report.files_too_new += 1
            self._emit("file", path=path, status="too-new", reason=reason)

    def _report_empty(self, report: RunReport) -> None:
        """The empty inputs (``_without_empty``), as files of 0 rows: listed ``empty``, counted, logged."""
        for path in self._empty:
            report.files.append(FileReport(path, status="empty", reason=EMPTY_REASON))
            report.files_empty += 1
            self._emit("file", path=path, status="empty", reason=EMPTY_REASON)

    def _start_state(
        self, writer: Writer, rejects: RejectFile, report: RunReport, spelled: list[list[str]]
    ) -> tuple[JobState, bool, list[str]]:
        """The job's checkpoint (none after --restart, for a new replace, or where the target it
        tells of was deleted or dropped since); whether this run is fresh; the input files as
        the checkpoint names them (``recorded_spellings``: a file loaded or begun through a link
        goes on under the link's name)."""
        # what the target records, before a restart; its file and part entries once parsed are
        # the state's alone (nothing reads them from here: held once)
        self._entries = writer.read_state(self.job_name)
        count = held_entries(self._entries)
        state = JobState.parse(self._entries, drop_parsed=True)
        self._fit_checkpoint(spelled, count)
        report.checkpoint_stale = writer.gone(self.job_name, state)
        if report.checkpoint_stale is not None:
            self._entries = {}  # of a target deleted since: they bind nothing
        # keep every committed reject (earlier runs' and other jobs' too); drop lines of uncommitted batches
        rejects.start(Committed(state.rejects_bytes, state.rejects_lines, state.rejects_inode))
        starts_over = self._starts_over(state)
        if report.checkpoint_stale is None:  # else the target it tells of is gone: nothing of it to drop
            self._note_left_out(state, self._entries, spelled, starts_over=starts_over)
        if report.checkpoint_stale is not None:  # it tells of rows gone: it binds nothing, even if this run stops
            writer.clear_state(self.job_name, now=True)
            rejects.start_over(now=True)
            state = JobState()
        elif starts_over:
            # forgotten with the run's first commit: a run refused or stopped before it changes nothing
            writer.clear_state(self.job_name)
            rejects.start_over()
            state = JobState()
        else:  # before anything else is refused: nothing the run does can go on without it
            self.sink.check_checkpoint(self.job.sink, self.job.run, self._entries)
        fresh = state.status != "running"
        report.resumed = not fresh
        self._earlier = rows_committed(state) > 0  # rows earlier runs wrote stay in the target
        state.status = "running"
        state.set_rejects(rejects.committed())
        spelled = self._without_empty(spelled, state)
        self._report_empty(report)
        return state, fresh, recorded_spellings(spelled, state)

    def _starts_over(self, state: JobState) -> bool:
        """Whether this run leaves the job's checkpoint behind: --restart, or a new replace."""
        return self.job.run.restart or (state.status != "running" and self.job.sink.mode == "replace")

    def _note_left_out(
        self, state: JobState, entries: dict[str, str], spelled: list[list[str]], *, starts_over: bool
    ) -> None:
        """The files the job's checkpoint holds rows of that are none of this run's inputs
        (``left_out``; those waiting for a later run and the empty ones are inputs still),
        named by the hints that advise a replace that starts over (``_reload_all``). A
        --restart in mode replace, which such a hint advises, would drop their rows with the
        table: refused, before anything changes, unless run.drop_gone lets it. A job that
        replaces at every run (no --restart) holds its last run's inputs by design."""
        names = [name for names in spelled for name in names] + [path for path, _ in self._too_new] + self._empty
        left = left_out(state, entries, names)
        run = self.job.run
        if left and run.restart and self.job.sink.mode == "replace" and not run.drop_gone:
            raise ConfigError(
                f"run.restart with sink.mode = 'replace' would drop {_left_out_words(left)}",
                hint="put them back where source.path finds them and rerun (they load again with the others), or "
                "rerun with --drop-gone to drop their rows; nothing was changed",
                names=("run.restart", "sink.mode"),
                verbatim=tuple(path for path, _ in left[:_SHOWN_LEFT_OUT]),
            )
        self._left_out = [] if starts_over else left  # a job that starts over knows no file of before

    def _load_once(self) -> str:
        """``_load_once`` of the job, naming the files a reload of every file would drop."""
        return _load_once(self.job, self._reload_all())

    def _reload_all(self) -> str:
        """The advice to reload every file of the job (``RELOAD_ALL_HINT``), which says which
        of its files the replace would drop, where some are no inputs any more."""
        if not self._left_out:
            return RELOAD_ALL_HINT
        return f"{RELOAD_ALL_HINT}; but it would drop {_left_out_words(self._left_out)}: put them back first, or add --drop-gone"

    def _forget_superseded_read(self, state: JobState, plans: list[FilePlan], writer: Writer) -> None:
        """A job none of whose rows is in the target that reads a file again with other source
        options: the columns it recorded came of the read this one replaces (a header split at
        the wrong delimiter), so they bind nothing, and the empty table made of them is made
        anew if the columns read now do not fit it."""
        columns = self._superseded_columns(state, plans, _rows_in_target(state))
        if columns is not None:
            writer.remake_if_empty(columns)
            state.schema, state.fixed = None, []

    def _superseded_columns(self, state: JobState, plans: list[FilePlan], earlier: bool) -> list[str] | None:
        """The columns the job recorded, where no row of it is in the target (not ``earlier``)
        and this run reads a file again of which every row was rejected under other source
        options (``rejected_with_others``); else None."""
        if earlier or state.schema is None or self.job.sink.mode == "replace":
            return None
        options = read_options(self.job.source)
        old = (state.files.get(p.key) for p in plans if p.reads)
        if not any(fs is not None and rejected_with_others(fs, options) for fs in old):
            return None
        return list(decode_types(state.schema))

    def _report_gone(self, state: JobState, plans: list[FilePlan], report: RunReport) -> None:
        """Files half loaded by an earlier run that are not among the inputs now: listed as
        ``gone`` with the rows kept from them, and warned of in the summary line."""
        for path, kept in gone(state, plans, [path for path, _ in self._too_new]):
            report.files.append(FileReport(path, status="gone", rows_kept=kept))
            report.files_gone += 1
            self._emit("file", path=path, status="gone")

    def _skip(self, plan: FilePlan, report: RunReport) -> None:
        """A file loaded already, changed since (refused, or skipped by ``run.on_change``),
        or unreadable (raised by ``_raise_unreadable`` once the others are loaded)."""
        if plan.status == "unreadable":
            reason = plan.error.message if plan.error is not None else None
            report.files.append(FileReport(plan.path, status=plan.status, reason=reason))
        elif plan.status in ("changed", "changed-skipped"):
            report.files.append(FileReport(plan.path, status=plan.status, rows_kept=plan.kept))
            report.files_changed += 1
            # counted first: the report and the metrics name the file that stopped the run
            self._refuse_changed(plan)
        elif plan.status == "other-options":
            report.files.append(FileReport(plan.path, status=plan.status, rows_kept=plan.kept, reason=plan.options))
            report.files_changed += 1
            self._refuse_other_options(plan)
        else:
            reason = f"loaded with other source options: {plan.options}" if plan.options else None
            if plan.moved is not None:
                reason = "; ".join(filter(None, [f"moved: loaded as {plan.moved[0]}", reason]))
                self._record_unread(plan.key, plan.moved[1])
            report.files.append(FileReport(plan.path, status=plan.status, reason=reason))
            report.files_skipped += 1
        self._emit("file", path=plan.path, status=plan.status)

    def _record_unread(self, key: str, entry: FileState) -> None:
        """The entry of a file this run reads none of (moved since it was loaded: under its new
        path, ``state.moved_plan``; emptied since and reloaded: its empty version): with the next
        commit of ``threads``' loop (its first, where there is none yet: ``_ledger``), or an
        engine's last (``_moved``)."""
        if self._loop is not None:
            self._loop.ledger.entries[key] = entry
        else:
            self._moved[key] = entry.to_json()

    def _refuse_changed(self, plan: FilePlan) -> None:
        """A file changed since it was loaded, with ``run.on_change = "error"``: the run stops at
        it. Where rows of it were committed, the hint says what loads its new version once."""
        if plan.status == "changed":
            hint = None  # nothing of it in the target: the default's every way loads it once
            if plan.kept:
                hint = f"{plan.kept:,} rows of it stay loaded: {self._load_once()}; set run.on_change to 'skip' to keep only them"
            raise SourceChangedError(
                "changed since it was loaded (size or content differ from the checkpoint)", file=plan.path, hint=hint
            )

    def _refuse_other_options(self, plan: FilePlan) -> None:
        """A file half loaded with other source options (``plan.options``): resumed, its rows
        would be read two ways in one table, so the run stops at it."""
        raise SourceChangedError(
            f"half loaded with other source options ({plan.options}): resumed, its rows would be read two ways",
            file=plan.path,
            hint=f"rerun with the options it was started with to finish it, or {self._reload_all()}",
        )

    def _load_listed(
        self,
        plan: FilePlan,
        state: JobState,
        types: dict[str, pa.DataType],
        loop: _Loop,
        writer: Writer,
        *,
        fresh: bool,
    ) -> dict[str, pa.DataType] | None:
        """``_load_file`` with ``plan``'s checkpoint entry in ``state``; None where another program
        moved the file away before its turn (``gone_at_turn``): the other files load, then
        ``_raise_unreadable`` stops the run with its error, the entry as it was."""
        assert plan.state is not None
        before = state.files.get(plan.key)
        state.files[plan.key] = plan.state
        try:
            return self._load_file(plan, types, loop, writer, fresh=fresh)
        except InputGoneError as exc:
            _put_back(state.files, plan.key, before)
            plan.status, plan.error = "unreadable", exc
            return None

    def _load_file(
        self, plan: FilePlan, types: dict[str, pa.DataType], loop: _Loop, writer: Writer, *, fresh: bool
    ) -> dict[str, pa.DataType]:
        """Stream one file into the writer; the settled types, with standard input's added."""
        fs = plan.state
        assert fs is not None
        fr = FileReport(plan.path, status="incomplete")  # until the whole file is in
        loop.report.files.append(fr)
        with (
            _stopping_in(plan.key),
            loop.settled_unless_staged(),
            _gone_at_turn(fr) as turn,
            _identified(plan),
            open_reader(
                plan.path,
                self.job.source,
                chunk_size=loop.chunk_rows,
                bench_rows=self.bench_rows,
                resume=_resume_at(plan),
                workers=self.job.run.workers or 1,
                check_width=self._header_check(),
                types=types,
                empty_columns=self.empty_columns.get(plan.path),
                naming=self.naming,
                partitions=self.partition_keys,
            ) as reader,
        ):
            turn.append(True)
            found = getattr(reader, "dialect", None)
            fr.dialect = found.to_json() if found is not None else None
            if getattr(reader, "old_names", False):  # kept as the target holds them: later runs keep them too
                loop.ledger.state.names = 1
            typed = bound(types)
            types = types | {f.name: f.type for f in reader.schema if f.name not in typed}  # standard input's
            encoded_types = encode_types(types, loop.ledger.state.schema)
            if encoded_types != loop.ledger.state.schema:
                loop.ledger.set_schema(encoded_types)
            schema = self._output_schema(reader.schema, plan.path)
            self._check_width(schema, plan.path)
            if plan.path == storage.STDIN:
                self._check_stdin_columns(len(reader.schema))
            self._prepare_writer(writer, schema, fresh=fresh, file=plan.path, report=loop.report)
            self._emit("file", path=plan.path, status=plan.status)
            loop.load(reader, plan.key, fs, fr, read_options(self.job.source))
            fr.status = plan.status
        loop.report.files_loaded += 1
        self._emit(
            "file_done",
            path=plan.path,
            rows_read=fr.rows_read,
            rows_written=fr.rows_written,
            rows_rejected=fr.rows_rejected,
        )
        return types

    def _new_loop(
        self,
        writer: Writer,
        encoder: Encoder,
        ledger: Ledger,
        rejects: RejectFile,
        signals: _Signals,
        progress: Progress,
    ) -> _Loop:
        """The run loop over this pipeline's stages, events and type notes (a load's or a replay's)."""
        self._loop = loop = _Loop(
            self.job,
            writer,
            encoder,
            ledger,
            stages=self.stages,
            rejects=rejects,
            signals=signals,
            progress=progress,
            emit=self._emit,
            job_name=self.job_name,
            type_notes=self.type_notes,
            shrink_batches=self.sink.memory.batches_in_memory,
            encoder_thread=self.sink.encoder_thread,
        )
        return loop

    @contextlib.contextmanager
    def _reject_file(self, report: RunReport) -> Iterator[RejectFile]:
        """The run's reject file; however the run ends, its rows rejected as not UTF-8 go in ``report``."""
        target = reject_target(self.job.sink.path)
        with RejectFile(self.rejects_path, self.job_name, self.job.run.lock_wait, target) as rejects:
            try:
                yield rejects
            finally:
                self._note_not_utf8(rejects.not_utf8, report)

    def _note_not_utf8(self, rows: NotUtf8, report: RunReport) -> None:
        """The CSV rows this run rejected as not UTF-8, and what their bytes read as, as the
        head of a file none of whose rows loaded is told (``guess_encoding``): a mostly-ASCII
        file in an 8-bit encoding rejects only its accented rows, and the run succeeds."""
        if not rows.rows or self.job.source.format not in (None, "csv"):
            return
        from .readers.stream import guess_encoding

        report.rows_not_utf8 = rows.rows
        report.not_utf8_reads_as = [e for e in guess_encoding(bytes(rows.sample)) if e != "utf-8"]

    def _prepare_writer(self, writer: Writer, schema: pa.Schema, *, fresh: bool, file: str, report: RunReport) -> None:
        """The writer made ready for one input file's rows of ``schema`` (``prepare_for``), and
        what the sink warns of such data (``Sink.warnings``) in the report: every engine alike."""
        prepare_for(writer, schema, fresh=fresh, file=file)
        report.warn(self.sink.warnings(self.job.sink, schema))

    def _check_loaded(self, report: RunReport, reasons: Counter[str]) -> None:
        """Rows were read and none written: committed as such, but not a success; unless the
        transforms filtered out every row of a job that loaded rows before, as it asked."""
        if _wrote_none(report):
            if self._filtered_as_asked(report, self._earlier):
                report.warn([_filtered_warning(report, self.job.source)])
                return
            raise self._nothing_loaded(report, reasons)

    def _finish(self, writer: Writer, report: RunReport) -> None:
        """The writer's work left once the input is done (``finish``: a replace's table swapped
        in). Not for a replace that wrote no row, which stops "nothing loaded" (exit 4,
        ``_check_loaded``) after its final commit: as a stop at ``run.max_rejects``, it leaves
        the table as it was, and its stage table goes (``keep_table``) with that commit, whose
        checkpoint is complete: the next run starts the replace over."""
        keep = getattr(writer, "keep_table", None)
        if keep is not None and self.job.sink.mode == "replace" and _wrote_none(report):
            keep()
            return
        writer.finish()

    def _filtered_as_asked(self, report: RunReport, earlier: bool) -> bool:
        """Whether a run that wrote no row is the job's filter at work, not a mistake: every row
        was filtered out (none rejected) and earlier runs loaded rows into the target (a new
        file of a scheduled glob none of whose rows pass). Exit 0 with a warning: the files
        are recorded as loaded, and a "fix" exit code would page for what the job asked. Not
        in mode replace, whose table would hold this run's rows alone: none."""
        return earlier and report.rows_filtered == report.rows_read and self.job.sink.mode != "replace"

    def _check_short_run(self, report: RunReport) -> None:
        """A run of fewer than 1,000 rows that rejected more than its ``run.max_rejects``
        fraction stops before its last commit (a replace's table is not swapped in), its rows
        committed so far, as a stop past a count does. Not a resumed run: its rows are the tail
        of the job's, which the fraction is not of."""
        limit = self.job.run.max_rejects
        if report.resumed or report.rows_read >= MIN_ROWS_FOR_FRACTION:
            return
        if over_max_rejects(limit, report.rows_read, report.rows_rejected, final=True):
            last = next(f.path for f in reversed(report.files) if f.rows_rejected)
            raise rejects_exceeded(report.rows_rejected, report.rows_read, limit, last, complete=True)

    def _nothing_loaded(
        self, report: RunReport, reasons: Counter[str], *, check: bool = False, earlier: bool | None = None
    ) -> NothingLoadedError:
        """The load's "nothing loaded" error; ``earlier``: whether earlier runs wrote rows (for
        a load, ``self._earlier``). For a dry run (``check``), the same cause and fix said of
        the load to come: nothing of these files is written or rejected yet."""
        from .readers.dialect import nothing_loaded_cause

        first = next((f for f in report.files if f.rows_read), None)
        cause = nothing_loaded_cause(
            report.rows_read,
            report.rows_rejected,
            report.rows_filtered,
            reasons,
            first.path if first else None,
            self.job.source,
            first.dialect if first else None,
        )
        single = len([f for f in report.files if f.rows_read]) == 1
        lead = "rejected rows are in " + self.rejects_path + "; " if report.rows_rejected else ""
        top = reasons.most_common(1)[0][0] if reasons else ""
        folder = folder_rejected(top, first.path, self.job.source) if first and top else None
        # earlier runs wrote rows (from this run's inputs or others): --restart would load them again
        earlier = (self._earlier if earlier is None else earlier) and self.job.sink.mode != "replace"
        if report.rows_filtered == report.rows_read and not check:
            how = _filtered_fix(single, replace=self.job.sink.mode == "replace")
        elif folder is not None:
            how = _folder_fix(folder, earlier, check=check)
        elif cause.names and not check:  # a file none of whose rows loaded is read again with other options
            how = _READ_AGAIN
        elif earlier:
            how = self._fix_after_earlier_runs(report, reasons, check=check)
        elif check:
            how = _CHECK_AGAIN
        else:
            how = "fix the cause and rerun with --restart (and --mode replace if this run created the table with the wrong columns)"
        if check:  # no reject file yet: what the load would do instead
            lead = _load_would(report, single)
        return NothingLoadedError(
            f"nothing loaded: {cause.text}",
            file=first.path if first and single else None,
            hint=lead + how,
            names=cause.names,
            verbatim=(self.rejects_path, _COLUMNS_IN_A_JOB_FILE),
        )

    def _fix_after_earlier_runs(self, report: RunReport, reasons: Counter[str], *, check: bool = False) -> str:
        """The fix for rows rejected after earlier runs wrote theirs: a wrong value is fixed in
        the file, which alone loads again (not --restart: the earlier runs' files would load
        again too). A value of another type than an earlier run recorded (30.5 where it recorded
        int64) is right as it is: neither a fix of the file nor a replay loads it, only the type
        declared and every file reloaded, as its reason says. A value of no type but text
        (2024-13-05 in a date column) is a typo: its reason does not say so (``explain``). For a
        dry run (``check``) the file is not loaded yet: fixed, it loads as any new file does."""
        fix = _CHECK_AGAIN
        if not check:
            fix = "fix the file and rerun with --set run.on_change=reload (the changed file alone is read again)" + (
                ", or fix the rows there and load them with `loader replay`" if report.rows_rejected else ""
            )
        bound = sum(n for reason, n in reasons.items() if any(reason.endswith(note) for note in self.recorded_notes))
        if not bound:
            if check:
                return fix
            return f"{fix}; not --restart: {_RESTART_RELOADS if report.files_skipped else _RESTART_FORGETS}"
        # the one way a value of another type than an earlier run recorded loads, as its note says (``_load_types``)
        declare = f"declare the type (--columns, or {_COLUMNS_IN_A_JOB_FILE}) and {self._reload_all()}"
        if bound == sum(reasons.values()):
            return f"their values are of other types than earlier runs recorded: {declare}"
        return f"{fix}; for the values of other types than earlier runs recorded, {declare}"


_COLUMNS_IN_A_JOB_FILE = "source.columns in a job file"  # a job file's key, in every front end's advice


def _wrote_none(report: RunReport) -> bool:
    """Rows were read and none written (nor ignored as there already) by a run that started
    afresh: a resumed one's rows are the tail of the job's."""
    return bool(report.rows_read) and not report.rows_written and not report.rows_ignored and not report.resumed


def _filtered_fix(single: bool, *, replace: bool) -> str:
    """The hint of a load whose rows the transforms all filtered out, where that is exit 4 (a
    job's first rows, or mode replace: ``_filtered_as_asked``): its files are recorded as
    loaded all the same, and a rerun skips them; a replace reads every input again."""
    if replace:
        return "if the transforms are wrong, fix them and rerun (mode replace reads every input again)"
    files, them = ("this file", "it") if single else ("these files", "them")
    return (
        f"the job's checkpoint records {files} as loaded, so a rerun skips {them}; if the transforms are wrong, "
        "fix them and rerun with --restart (the job's files load again)"
    )


def _filtered_warning(report: RunReport, source: SourceConfig) -> str:
    """The warning of a run whose rows the transforms all filtered out (``_filtered_as_asked``):
    ``c.csv: nothing new loaded: all 2 rows were filtered out by the transforms``."""
    from .readers.dialect import nothing_loaded_cause

    read = [f.path for f in report.files if f.rows_read]
    cause = nothing_loaded_cause(report.rows_read, 0, report.rows_filtered, Counter(), None, source, None)
    where = read[0] if len(read) == 1 else f"{len(read):,} files"
    return f"{where}: nothing new loaded: {cause.text}"


_SHOWN_LEFT_OUT = 3  # files named of those left out (``_left_out_words``)


def _left_out_words(left: list[tuple[str, int]]) -> str:
    """``the 1 rows of 1 file the job loaded that is no longer among its inputs (in/d1.csv: 1 rows)``."""
    rows = sum(n for _, n in left)
    one = len(left) == 1
    named = _some([f"{path}: {n:,} rows" for path, n in left], _SHOWN_LEFT_OUT)
    return (
        f"the {rows:,} rows of {len(left):,} file{'' if one else 's'} the job loaded that "
        f"{'is' if one else 'are'} no longer among its inputs ({named})"
    )


_RESTART_RELOADS = "it would load the files earlier runs loaded again"
_RESTART_FORGETS = "the job would forget the files earlier runs loaded, and load them again when they are inputs"


def _columns_flag(name: str, type_text: str) -> str:
    """``--columns NAME=TYPE``, quoted where a shell would split it (``'amount=decimal(10,2)'``)."""
    return f"--columns {shlex.quote(f'{name}={type_text}')}"


def _folder_fix(folder: str, earlier: bool, *, check: bool = False) -> str:
    """The fix for rows rejected for a partition folder's value: it is in the folder's name,
    which neither a reload of the file nor a replay of its rows changes (``check``: said by
    a dry run, before this run wrote anything)."""
    key = folder.split("=", 1)[0]
    rename = f"rename the folder {folder} to a value of {key}'s type (the value is the folder's name, not the file's)"
    declare = f"declare it string ({_columns_flag(key, 'string')})"
    if earlier:  # the renamed file is a new one: a plain rerun loads it
        return f"{rename} and rerun, or {declare} and reload every file: {RELOAD_ALL_HINT}"
    if check:
        return f"{rename}, or {declare}; then check again (the dry run wrote nothing)"
    return f"{rename}, or {declare}; then rerun with --restart (and --mode replace if this run created the table)"


_CHECK_AGAIN = "fix the cause, then check again (the dry run wrote nothing)"
# ``state.plan_files``: the file is read again by a run with other source options, no other file is
_READ_AGAIN = (
    "rerun with that as it is: a file none of whose rows loaded is read again under other source options, "
    "the job's other files are not"
)


def _load_would(report: RunReport, single: bool) -> str:
    """How a dry run's "nothing loaded" hint begins: what the load would do with the files."""
    files = "this file" if single else "these files"
    if report.rows_filtered == report.rows_read:
        return f"`loader load` would filter out every row of {files}: "
    if report.rows_rejected == report.rows_read:
        return f"`loader load` would reject every row of {files} the same way: "
    return f"`loader load` would write no row of {files}: "


def _stage_kept_rows(hint: str | None, kept: int, once: str, reload_all: str, *, parts: bool) -> str:
    """The hint of a stage's error that stopped a file part way: the fix is mostly the job's,
    and the file, unchanged, resumes after the rows committed before (which went through the
    stage as it was); only a fixed copy of the file is a changed one (``once`` loads it once;
    ``reload_all``: the advice to reload every file; ``parts``: an engine's, one way for both)."""
    fix = re.sub(rf",? {re.escape(THEN_RESUME)}$", "", hint or "") or "fix the data or the stage"
    head = f"{fix}; {kept:,} rows of it stay committed as the stage made them, and a rerun with the stage fixed loads the rest after them"
    if parts:
        return f"{head}; to put every row through the fixed stage, or load a fixed copy of the file once, {reload_all}"
    return (
        f"{head}; to put every row through the fixed stage, {reload_all}; "
        f"a fixed copy of the file is a changed file to the rerun: {once}"
    )


def _load_once(job: JobConfig, reload_all: str = RELOAD_ALL_HINT) -> str:
    """What loads a changed file's new version exactly once over the rows committed from the
    one before ("them"), in the job's mode: a reload puts its every row, beside them where the
    target has no key to put it at (``append``, or ``replace`` resuming a run); ``reload_all``:
    the advice to reload every file (``Pipeline._reload_all``)."""
    mode = job.sink.mode
    if mode == "ignore":
        return "rerun with --set run.on_change=reload (a row whose key they hold keeps its values: delete them first to take the new ones)"
    if mode == "upsert" or job.sink.type == "leveldb":  # each row at its key, over theirs
        return "rerun with --set run.on_change=reload to load it over them, each row at its key"
    return (
        "to load it once, delete them and rerun with --set run.on_change=reload (reload alone adds all its rows "
        f"beside them), or {reload_all}"
    )


def _resume_at(plan: FilePlan) -> dict[str, Any] | None:
    """Where a half-loaded file goes on, with the dialect its checkpoint recorded; None: from its start."""
    return plan.state.position if plan.status == "resumed" and plan.state is not None else None


def _status_words(plan: FilePlan, state: JobState, on_change: str) -> str:
    """What the run does with one file, for the plan: new, loaded already, resumed, or changed."""
    if plan.status == "loaded" and plan.state is not None and plan.state.superseded[-1:] == [plan.state.version - 1]:
        return "none of it loaded: read again with other source options"
    if plan.status == "loaded" and plan.state is not None and state.half_in_parts(plan.key, plan.state.identity):
        return "half loaded in parts: its other parts are loaded"  # a first load, or a reload a stop cut short
    if plan.status == "loaded" and plan.key in state.files:
        return (
            "changed since it was loaded: loaded again (run.on_change = reload)" if on_change == "reload" else "to load"
        )
    return {
        "loaded": "new",
        "resumed": "half loaded: resumed",
        "skipped": _skipped_words(plan),
        "changed-skipped": "changed since it was loaded: skipped (run.on_change = skip)",
        "other-options": f"half loaded with other source options ({plan.options}): refused",
        "unreadable": "cannot be read",
    }.get(plan.status, plan.status)


def _skipped_words(plan: FilePlan) -> str:
    """A file loaded already, for the plan: where it was moved from, and how it was read otherwise."""
    words = "loaded already"
    if plan.moved is not None:
        words += f" as {plan.moved[0]} (moved since)"
    if plan.options:
        words += f" with other source options ({plan.options})"
    return words + ": skipped"


@contextlib.contextmanager
def _stopping_in(key: str) -> Iterator[None]:
    """An error that stops the run while file ``key`` is loaded names it (``_name_kept_rows``)."""
    try:
        yield
    except LoaderError as exc:
        exc.stopped_in = key
        raise


@contextlib.contextmanager
def _gone_at_turn(fr: FileReport) -> Iterator[list[bool]]:
    """A file the run listed that is not there when its turn comes: ``gone_at_turn``. The
    caller appends to what it yields once the file's reader is open (``reading``)."""
    reading: list[bool] = []
    try:
        yield reading
    except MissingInputError as exc:
        gone = gone_at_turn(exc, fr, bool(reading))
        if gone is None:
            raise
        raise gone from None


@contextlib.contextmanager
def _identified(plan: FilePlan) -> Iterator[None]:
    """``identify_at_turn`` as the file's turn comes (one gone since is ``_gone_at_turn``'s)."""
    identify_at_turn(plan)
    yield


def _put_back(entries: dict[str, Any], key: str, before: Any) -> None:
    """The checkpoint's entry for ``key`` as it was before (none: none)."""
    if before is None:
        entries.pop(key, None)
    else:
        entries[key] = before


# An input found missing or unreadable as the run checks them all, before the first loads.
CHECKED_FIRST_HINT = (
    "fix the path or the file's permissions, then rerun: every input is checked before the first "
    "loads, so this run loaded none"
)


@contextlib.contextmanager
def _inputs_checked(report: RunReport | None, named: Sequence[str] | None = None) -> Iterator[None]:
    """While the inputs are listed and planned, before any loads: an input that is not there,
    not a file (a directory, a pipe) or not readable stops the run with no file loaded. The
    report (None: the dry run's plan) lists it as ``unreadable`` with the reason, and the hint
    says none loaded (the default one speaks of files before it, true of an input that fails
    as it is read). Once the inputs are listed (``named``: ``source.path``), a file a glob
    matched that is not there now was moved away meanwhile: ``InputGoneError``, no fix."""
    try:
        yield
    except SourceError as exc:
        if exc.file is None or isinstance(exc, SourceReadError):  # not the service's failure
            raise
        error: SourceError = exc
        if named is not None and exc.message in NOT_THERE and exc.file not in named:
            error = InputGoneError.of(exc.file, exc.message)  # an object deleted from its bucket alike
        elif isinstance(exc, MissingInputError) and exc.hint == MissingInputError.default_hint:
            exc.hint = CHECKED_FIRST_HINT
        if report is not None:
            report.files.append(FileReport(exc.file, status="unreadable", reason=error.message))
        if error is exc:
            raise
        raise error from None


def over_max_rejects(limit: float | None, rows_read: int, rejected: int, *, final: bool = False) -> bool:
    """Whether ``rejected`` of ``rows_read`` rows is past ``run.max_rejects``; a fraction is
    judged once 1,000 rows were read, or on all of a run's rows at its end (``final``)."""
    if limit is None or rejected == 0:
        return False
    if 0 < limit < 1:
        # mid-run, a fraction means something only once enough rows were seen
        return (final or rows_read >= MIN_ROWS_FOR_FRACTION) and rejected / rows_read > limit
    return rejected > limit


MIN_ROWS_FOR_FRACTION = 1000


def rejects_exceeded(
    rejected: int, rows_read: int, limit: float | None, file: str, *, check: bool = False, complete: bool = False
) -> RejectLimitError:
    """The error a load stops with past ``run.max_rejects``; for a dry run (``check``), said
    of the load to come; for a run that read all its rows first (``complete``: a fraction of
    fewer than 1,000 rows, judged at its end), what stays of it."""
    fraction = limit is not None and 0 < limit < 1
    counted = (
        f"{rejected:,} of {rows_read:,} rows rejected ({rejected / rows_read:.1%})"
        if fraction
        else f"{rejected:,} rows rejected"
    )
    error = RejectLimitError(f"{counted}, more than max_rejects = {limit}", file=file)
    if check:
        error.hint = (
            "the load would stop there: fix the input or allow more with --max-rejects,"
            " then check again (the dry run wrote nothing)"
        )
    elif complete:
        error.hint = (
            "the run read every row first: the good ones are committed and the rejected ones are in"
            " the reject file; fix them there and load them with `loader replay`, or fix the input"
            ' and rerun with --restart (with mode = "replace", the table is not swapped in until then)'
        )
    return error


def _dry_runnable(stage: Stage) -> bool:
    """Whether a dry run may pass rows through ``stage``: the loader's own stages that decide
    a row by its own values (not a ``python`` stage or a stage object of the caller's, whose
    code a dry run does not run, nor one that remembers rows: ``dedupe``, ``validate``'s
    ``unique``, kept in a store)."""
    own = type(stage).__module__.startswith("loader.transforms.")
    if not own or getattr(stage, "kind", "python") == "python":
        return False
    return not getattr(stage, "remembers_rows", True) and getattr(stage, "state_path", None) is None


@dataclass
class _Unwritten:
    """What a dry run reads of its files past their head, through the readers the load reads
    them with and the stages it may run (``_dry_runnable``, in order up to the first it may
    not): on to the first row the load would write. Where none has one, the load would write
    nothing and stop with exit 4 (``writes_nothing``: the plan raises the load's error); where
    ``run.max_rejects`` stops the load before, so does ``read`` (exit 3)."""

    stages: list[Stage]
    notes: dict[str, TypeNote]  # why a column's type was fixed before (``Pipeline.type_notes``)
    earlier: bool  # earlier runs of the job wrote rows
    style: NumberStyle = PLAIN  # how numbers are written: 30,5 is a number with a decimal comma (``explain``)
    writes: bool = False  # a row the load would write was read: the rest are not
    report: RunReport = field(default_factory=RunReport)  # the rows read, as the load would count them
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def writes_nothing(self) -> bool:
        return not self.writes and self.report.rows_read > 0

    def read(self, reader: Any, max_rejects: float | None) -> None:
        from .sinks.base import reject_repeated_map_keys

        dialect = getattr(reader, "dialect", None)
        fr = FileReport(reader.path, dialect=dialect.to_json() if dialect is not None else None)
        report = self.report
        chunks = apply(self.stages, iter(reader))
        try:
            for chunk in chunks:
                chunk = reject_repeated_map_keys(chunk)  # rejected by either target on write
                explain(chunk.rejects, self.notes, style=self.style)
                tally = Tally.of_chunk(chunk)
                tally.add_to(fr)
                tally.add_to(report)
                self.reasons.update(reasons_in_order(chunk.rejects))
                if over_max_rejects(max_rejects, report.rows_read, report.rows_rejected):
                    raise rejects_exceeded(report.rows_rejected, report.rows_read, max_rejects, chunk.file, check=True)
                if chunk.num_rows:
                    self.writes = True
                    return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a read stopped early: the reader's parse workers stop too
            if fr.rows_read:
                report.files.append(fr)


def _raise_unreadable(plans: list[FilePlan]) -> None:
    """The first input that cannot be read, once the others are loaded (a key pyarrow cannot
    name: ``storage.unaddressable``); the others' names are in the report."""
    errors = [p.error for p in plans if p.error is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        first, more = errors[0], len(errors) - 1
        also = f" ({more} more such input{'s' if more > 1 else ''}, listed in the report as unreadable)"
        error = copy.copy(first)  # all it holds (hint, names, verbatim, ...), the message extended
        error.message = first.message + also
        error.args = (error.message,)
        raise error


class _Loop:
    """The hot loop for one run: staged, encoded chunks into the writer, committed in batches."""

    def __init__(
        self,
        job: JobConfig,
        writer: Writer,
        encoder: Encoder,
        ledger: Ledger,
        *,
        stages: list[Stage],
        rejects: RejectFile,
        signals: _Signals,
        progress: Progress,
        emit: Callable[..., None],
        job_name: str,
        type_notes: dict[str, TypeNote],
        shrink_batches: bool,
        encoder_thread: bool = False,
    ) -> None:
        self.job = job
        self.writer = writer
        self.encoder = encoder
        self.ledger = ledger
        self.report = ledger.run
        self.stages = stages
        self.rejects = rejects
        self.signals = signals
        self.progress = progress
        self.emit = emit
        self.job_name = job_name
        self.type_notes = type_notes  # column -> why its type was fixed before this run
        self.shrink_batches = shrink_batches  # near the memory ceiling: the sink holds open batches in memory
        self.batch_size = int(job.sink.batch_size or 50_000)
        self.committed_at = time.monotonic()
        self.staged = False  # rows of the file being loaded handed to the writer
        self.carried = False  # files loaded since the last commit, waiting for the next
        # A chunk never outgrows a transaction, so a commit always lands on a chunk boundary.
        self.chunk_rows = min(job.run.chunk_size, self.batch_size)
        limit = job.run.max_memory
        self.max_memory_mb = limit / (1 << 20) if isinstance(limit, int) else None
        report = self.report
        self.encoder_thread = encoder_thread  # its chunk counted under a ceiling (``memory.fit_memory``)
        report_sizes(report, job, self.chunk_rows, self.batch_size)
        report.workers = job.run.workers or 1
        self.reasons: Counter[str] = Counter()  # why rows were rejected, while none has been written

    def _encoded(self, reader: Any, ahead: bool, version: int) -> Iterator[Encoded]:
        """Chunks through the stages and the sink's encoder. This runs in the read-ahead
        thread; the encoder, pure, on a pool of ``run.workers`` threads: turning Arrow
        columns into what the target stores is a third of the work, and needs no database.
        With the sink's ``encoder_thread``, the reading and the stages run on one more
        thread, a chunk ahead of the encoder (when the file is read ``ahead``)."""
        chunks = apply(self.stages, of_version(reader, version))
        reading = prefetch(chunks, 1) if self.encoder_thread and ahead else None
        try:
            yield from ordered_map(self.encoder, reading or chunks, (self.job.run.workers or 1) if ahead else 1)
        finally:
            if reading is not None:
                reading.close()  # its thread stopped first: the chunks are its to close
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def load(
        self, reader: Any, key: str, fs: FileState, fr: FileReport, read_with: dict[str, Any] | None = None
    ) -> None:
        """Load one file; ``read_with``: the source options it is read with (a load's, not a
        replay's), recorded when every row of it is rejected (``FileState.read_with``)."""
        # a small file is read in a moment: threads reading it ahead would cost more than they save
        ahead = not parses_at_most(reader.path, reader.size, SMALL_FILE_BYTES)
        batches = prefetch(self._encoded(reader, ahead, fs.version), self.job.run.read_ahead if ahead else 0)
        try:
            for encoded in self._settling(batches):
                chunk = encoded.chunk
                self.staged = True
                with naming_file(chunk.file):
                    written = self.writer.write(encoded)
                # the chunk's rejects, and the rows the table refused: on disk before the commit
                rejects = chunk.rejects + encoded.refused
                del encoded  # a chunk's encoded values live no longer than its write
                if self.type_notes and rejects:
                    explain(rejects, self.type_notes, style=number_style(self.job.source))
                if fs.version > 1:
                    versioned(rejects, fs.version)
                self.rejects.write(rejects)
                if not self.report.rows_written:
                    self.reasons.update(reasons_in_order(rejects))
                refused = len(rejects) - len(chunk.rejects)  # by the target's table
                # mode ignore: keys already there
                tally = Tally.of_chunk(chunk, written, chunk.batch.num_rows - written - refused, refused)
                self.ledger.count(key, fs, fr, tally, chunk.end)
                self.progress.update(chunk.bytes_read, chunk.rows_read)
                # per chunk; listeners that log (logs.JsonLog) throttle it to a bounded rate
                self.emit(
                    "progress",
                    path=fr.path,
                    rows_read=fr.rows_read,
                    rows_written=fr.rows_written,
                    rows_rejected=fr.rows_rejected,
                    run_rows_read=self.report.rows_read,
                )
                over = self._over_limit()
                if (
                    self.ledger.pending >= self.batch_size
                    or self.writer.full()
                    or self.signals.signum is not None
                    or over
                ):
                    # a batch read after the file changed is never committed: rows of a rewritten
                    # file, or of another version an object's later ranged reads found, would pass
                    # for the version its checkpoint names (an object: two HEADs a commit; a local
                    # file: its open descriptor, so a file renamed over goes on as the version read)
                    _check_unchanged(reader, fs)
                    self.commit()
                if over:
                    raise rejects_exceeded(
                        self.report.rows_rejected, self.report.rows_read, self.job.run.max_rejects, chunk.file
                    )
                if self.signals.signum is not None:
                    raise InterruptedLoad(self.signals.signum)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        self._read_whole(reader, key, fs, fr, read_with)
        self.staged = False
        # Small files share a transaction: a commit per file would cost an fsync or two each.
        if (
            self.ledger.pending >= self.batch_size
            or self.writer.full()
            or time.monotonic() - self.committed_at >= COMMIT_SECONDS
        ):
            self.commit()
        else:
            self.carried = True

    def _read_whole(
        self, reader: Any, key: str, fs: FileState, fr: FileReport, read_with: dict[str, Any] | None
    ) -> None:
        """The file is read to its end: done with the next commit (``load``)."""
        _check_unchanged(reader, fs)
        if read_with is not None:  # a load's, not a replay's
            fs.note_read_with(read_with)
        self.ledger.file_done(key, fs, fr)

    def _settling(self, batches: Iterator[Encoded]) -> Iterator[Encoded]:
        """The file's encoded chunks. With earlier files waiting for a commit, a file of more
        than one chunk commits them before its first is written: whatever stops it midway
        then leaves the files before it loaded (a file of one chunk stops, if at all, before
        any of its rows reach the writer: ``settled_unless_staged``)."""
        if not self.carried:
            yield from batches
            return
        first = next(batches, None)
        if first is None:
            return
        second = next(batches, None)
        if second is not None:
            self.settle()
        yield first
        if second is not None:
            yield second
            yield from batches

    def settle(self) -> None:
        """Commit what is staged or counted since the last commit, if anything."""
        if self.ledger.entries or self.ledger.pending:
            self.commit()

    @contextlib.contextmanager
    def settled_unless_staged(self) -> Iterator[None]:
        """A file that stops the run before any of its rows reached the writer (it cannot
        be opened or read, or its columns do not fit) leaves the files before it loaded,
        as if each had its own commit; a failure of the target's own rolls back."""
        self.staged = False
        try:
            yield
        except LoaderError as exc:
            own = isinstance(exc, SinkError) and not isinstance(exc, SchemaMismatchError)
            if self.carried and not self.staged and not own:
                with contextlib.suppress(LoaderError, OSError):
                    self.settle()
            raise

    def _over_limit(self) -> bool:
        return over_max_rejects(self.job.run.max_rejects, self.report.rows_read, self.report.rows_rejected)

    def commit(self) -> None:
        self.writer.commit(self.job_name, self.ledger.checkpoint(self.rejects.sync()))
        self.committed_at, self.carried = time.monotonic(), False
        self.ledger.committed_now(self.writer.durable_commits)
        if self.ledger.durable == self.ledger.handed:  # a restart's new reject file waits for a durable commit
            self.rejects.settle()
        gc.collect(0)
        pa.default_memory_pool().release_unused()  # hand freed Arrow buffers back between batches
        if self.max_memory_mb is not None and self.shrink_batches and current_rss_mb() > 0.9 * self.max_memory_mb:
            # Near the ceiling, for a sink that holds its open batch whole in memory
            # until written: smaller batches from here on, never below a chunk.
            self.batch_size = max(self.chunk_rows, self.batch_size // 2)
            self.report.batch_size = self.batch_size


def _rows_in_target(state: JobState) -> bool:
    """Whether the job's rows are in the target: its runs' (``rows_committed``) or a replay's
    (rows of a file none of whose rows a run loaded count too)."""
    return rows_committed(state) > 0 or bool(state.replayed)


def _check_unchanged(reader: Any, fs: FileState) -> None:
    """A file rewritten while it was read stops the run: its rows may mix two versions. The
    open file's identity where the reader knows it: one renamed over meanwhile was read
    whole, one version. Nothing to check for standard input or a replay's reject file."""
    if fs.identity is not None:
        storage.check_unchanged(fs.path, fs.identity, reader.read_version())
