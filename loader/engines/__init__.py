"""Engines: where the parts of a load run. ``threads`` is the pipeline's own loop (one
process); ``processes`` (a local process pool) and ``dask`` (a ``dask.distributed``
cluster) run ``work.run_part`` on every part and leave the results in ``run.spill_dir``.

The target has one writer: this process. It commits finished parts in plan order, each
part's rows with its checkpoint entry (``part:<id>`` and its counts) in one transaction
(SQLite: the part's encoded batches bound into the table, or its side database's records
copied in; LevelDB: the part's sorted runs taken in as runs of the load's sorted ingest,
with the checkpoint). A rerun skips
committed parts and reuses finished results still in the spill directory; a part whose
worker died runs again, and its half-written files are never read (see ``work``).
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import importlib.util
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .. import pool_worker, stopping, storage
from ..chunk import Reject
from ..compat import sha256, spare_pandas_import
from ..cpus import usable_cpus
from ..errors import (
    EXIT_CONFIG,
    EXIT_LOCKED,
    PARTS_KEPT_HINT,
    RELOAD_ALL_HINT,
    ConfigError,
    EngineError,
    InterruptedLoad,
    LoaderError,
    MissingInputError,
    RejectLimitError,
    SchemaMismatchError,
    SourceChangedError,
    SourceReadError,
    gone_at_turn,
)
from ..files import remove_quietly, temporaries
from ..forking import can_fork, quiet_fork
from ..memory import report_sizes
from ..parts import FilePlan as Cut
from ..parts import Part, plan_file
from ..progress import Progress
from ..rejects import reject_target
from ..report import FileReport, RunReport
from ..schema import encode_types, numeric_text, task_types
from ..state import COUNTS, PART_KEY, FilePlan, FileState, JobState, Tally, part_file, part_of, read_options
from ..transforms import output_schema
from ..writers.base import Refused, naming_file
from .forked import (
    LOCAL_HOST,
    QUIET_LOGS,
    WORKER_CONFIG,
    EndedAsItStarted,
    ForkedWorkers,
    forked_workers,
    mute_failed_parts,
    wait_for,
)
from .main_guard import refuse_daemonic, refuse_unguarded
from .work import PartResult, PartTask, decode_schema, files_here, finished, manifest_path, read_numbers, run_part

if TYPE_CHECKING:
    import pyarrow as pa

    from ..pipeline import Pipeline
    from ..rejects import RejectFile
    from ..writers.base import Writer

# Every local cluster: its scheduler and workers on 127.0.0.1 only; no dashboard; the
# scheduler's HTTP routes (health, metrics) on a free port, not Dask's 8787 (two loads at
# once would warn that it is taken); errors only
LOCAL_CLUSTER: dict[str, Any] = {
    "host": LOCAL_HOST,
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard_address": f"{LOCAL_HOST}:0"},
    "silence_logs": QUIET_LOGS,
}


class Result(Protocol):
    """A running part: a ``concurrent.futures`` or a ``dask.distributed`` future."""

    def result(self) -> PartResult: ...

    def done(self) -> bool: ...

    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


Submit = Callable[[PartTask], Result]


def _no_check() -> None:
    pass


@contextlib.contextmanager
def open_engine(
    engine: str, scheduler: str | None, local_workers: int | None, fork: bool = True
) -> Iterator[tuple[Submit, Callable[[], int], Callable[[], None], str]]:
    """A function that starts a part somewhere, one that says how many run at once, one
    that raises ``EngineError`` once no worker is left to run one, and how the workers
    started (``forked``, ``spawned``, or ``remote``: a cluster's own).
    ``local_workers``: the processes of a local pool or cluster (by default one per usable CPU);
    ``fork``: fork them where that is safe (``can_fork``)."""
    if engine == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        refuse_daemonic(engine)  # forked or spawned, a pool's workers are multiprocessing's
        workers = local_workers or usable_cpus()
        # forked, while this process has no other thread to hold a lock the copy would keep
        # (the workers start with loader imported); spawned otherwise (forked.py)
        forking = fork and can_fork()
        if not forking:
            refuse_unguarded(engine, fork)
        context = multiprocessing.get_context("fork" if forking else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=pool_worker.setup, initargs=(os.getpid(),)
        ) as pool:
            with quiet_fork():
                for _ in range(workers):  # all start now (forked at the first), and import loader
                    pool.submit(pool_worker.warm)
            try:
                # a pool's dead worker breaks it: its parts raise BrokenProcessPool
                start = "forked" if forking else "spawned"
                yield (lambda task: pool.submit(run_part, task)), (lambda: workers), _no_check, start
            except BaseException:
                pool.shutdown(cancel_futures=True)  # parts not started are not run; running ones end
                raise
        return
    if engine == "dask":
        _require_distributed()  # a missing extra is said now, not at the first part
        count = local_workers or usable_cpus()
        with contextlib.ExitStack() as stack:
            stack.enter_context(_seceded())
            forked = None
            local = scheduler in (None, "local")
            if local and fork and can_fork():  # before this process has a thread of its own
                importlib.import_module("dask.distributed")  # imported once, here, for every worker
                forked = stack.enter_context(forked_workers(count))
            elif local:  # a nanny starts each worker (forked ones are loader's own: ``os.fork``)
                refuse_daemonic(engine)
                refuse_unguarded(engine, fork)
            held = stack.enter_context(_held_logs())
            # the client (and a LocalCluster) come up on a thread while the types are sampled
            starting = stack.enter_context(_in_background(lambda: _dask_session(scheduler, count, forked)))
            session = _once_up(starting, held)
            # a key per part of a load (``PartTask.key``): Dask runs a part that a dead worker
            # held again, elsewhere, and never hands one load another's result
            yield (
                (lambda task: session()[0].submit(run_part, task, key=task.key, pure=False)),
                (lambda: session()[1]),
                # nothing restarts a forked worker; a nanny restarts a spawned one
                forked.check if forked is not None else _no_check,
                "forked" if forked is not None else "spawned" if local else "remote",
            )
        return
    raise ConfigError(f"run.engine: {engine!r} does not run parts", hint="use 'processes' or 'dask'")


T = TypeVar("T")


@contextlib.contextmanager
def _seceded() -> Iterator[None]:
    """A load run by a Dask worker's task (an orchestrator's step on a cluster) leaves the
    worker's thread pool while it runs, and takes a thread again at its end: its parts may
    need that thread (a cluster whose every thread runs such a task would wait for ever)."""
    if not _on_a_task_thread():
        yield
        return
    distributed: Any = sys.modules["distributed"]
    distributed.secede()
    try:
        yield
    finally:
        distributed.rejoin()


def _on_a_task_thread() -> bool:
    """Whether this thread runs a Dask worker's task, in the worker's thread pool: a thread
    the task started has no task's state, and a task that seceded already has left it."""
    worker: Any = sys.modules.get("distributed.worker")  # not imported: not on a worker
    pool: Any = sys.modules.get("distributed.threadpoolexecutor")
    if worker is None or pool is None:
        return False
    try:
        worker.get_worker()
    except ValueError:
        return False
    # each module keeps its own per-thread state: the task's key; whether the thread is in the pool
    return (
        getattr(worker.thread_state, "key", None) is not None and getattr(pool.thread_state, "proceed", False) is True
    )


@contextlib.contextmanager
def _in_background(start: Callable[[], contextlib.AbstractContextManager[T]]) -> Iterator[Callable[[], T]]:
    """``start()`` entered on a thread while the caller goes on; the function handed out
    waits for what it gives (and raises what it raised). Exited on the same thread (a
    Dask client's context variables are that thread's), once entered."""
    stack = contextlib.ExitStack()
    with ThreadPoolExecutor(1, thread_name_prefix="loader-engine") as pool:
        future = pool.submit(lambda: stack.enter_context(start()))
        try:
            yield future.result
        finally:
            future.exception()  # waited for: nothing is left starting behind the load's back
            pool.submit(stack.close).result()


class _HeldLogs:
    """Dask's log records in this process (its scheduler's, its client's), held while the
    engine starts and let through once it is up or failed to start, unless a signal
    stopped the run meanwhile: a SIGTERM to the process group kills the workers as they
    start, and Dask logs the comms that broke ("broadcast ... failed") on its own threads,
    before this process's handler has run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[tuple[logging.Handler, logging.LogRecord]] | None = []
        self._filters = [(h, self._holder(h)) for h in logging.getLogger("distributed").handlers]
        for handler, hold in self._filters:
            handler.addFilter(hold)

    def _holder(self, handler: logging.Handler) -> Callable[[logging.LogRecord], bool]:
        def hold(record: logging.LogRecord) -> bool:
            with self._lock:
                if self._records is None:
                    return True
                self._records.append((handler, record))
                return False

        return hold

    def release(self, show: bool = True) -> None:
        """On the run's thread, where its stop request is known (``stopping.asked``).
        ``show``: False drops the records held."""
        with self._lock:
            records, self._records = self._records, None
        if records is None:
            return
        for handler, hold in self._filters:
            handler.removeFilter(hold)
        if show and stopping.asked() is None:
            for handler, record in records:
                handler.handle(record)


@contextlib.contextmanager
def _held_logs() -> Iterator[_HeldLogs]:
    held = _HeldLogs()
    try:
        yield held
    finally:
        held.release()


def _once_up(session: Callable[[], T], held: _HeldLogs) -> Callable[[], T]:
    """``session``, with Dask's logs let through once it is up or failed. A start that
    failed while a signal asked the run to stop failed of that signal (it killed the
    workers as they started, or as they came up): it stops the run as the signal does."""

    def up() -> T:
        try:
            return session()
        except InterruptedLoad:  # a second signal, as the start was awaited
            raise
        except Exception as exc:
            stopping.check()
            # a worker that ended as it started: Dask logged the comms its end broke, which this error says
            held.release(show=not isinstance(exc, EndedAsItStarted))
            raise
        finally:
            held.release()

    return up


def _require_distributed() -> None:
    if importlib.util.find_spec("distributed") is None:
        raise _no_dask()


def _no_dask() -> ConfigError:
    return ConfigError("run.engine = 'dask' needs dask.distributed", hint="pip install 'loader[dask]'")


@contextlib.contextmanager
def _dask_session(
    scheduler: str | None, local_workers: int, forked: ForkedWorkers | None = None
) -> Iterator[tuple[Any, int]]:
    """A client ready for parts, and how many threads its workers have in all."""
    with _dask_client(scheduler, local_workers, forked) as client:
        # on every worker, before loader is imported there; the finder turns away only
        # loader's own imports of pandas, so other tasks on a shared worker import it as usual
        # a forked worker that dies meanwhile is said as one that ended as it started
        with forked.setting_up() if forked is not None else contextlib.nullcontext():
            client.register_worker_callbacks(setup=spare_pandas_import)
            # the workers import what a part needs, as a pool's do, and say which loader they run
            theirs = client.run(pool_worker.warm)
        _same_loader(theirs, scheduler)
        yield client, max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))


def _same_loader(theirs: dict[str, str | None], scheduler: str | None) -> None:
    """Refuse workers that run another loader than this process: a part's checks added since
    are skipped there, silently (an older ``warm`` returns None)."""
    mine = pool_worker.code_version()
    other = sorted(address for address, version in theirs.items() if version != mine)
    if not other:
        return
    sample = theirs[other[0]] or "an older one"
    error = EngineError(
        f"{len(other)} of the {len(theirs)} workers of the Dask scheduler {scheduler} run another loader "
        f"than this process ({mine}): {other[0]} runs {sample}",
        hint='give every worker the loader this process runs (docs/engines.md, "What must be shared") '
        "and restart them, then rerun",
    )
    error.exit_code = EXIT_CONFIG  # the same workers refuse the rerun alike
    raise error


@contextlib.contextmanager
def _dask_client(scheduler: str | None, local_workers: int, forked: ForkedWorkers | None = None) -> Iterator[Any]:
    try:
        distributed: Any = importlib.import_module("dask.distributed")  # an optional extra, untyped
    except ImportError:
        raise _no_dask() from None
    if forked is not None:  # a scheduler here, for the workers forked at the start
        with (
            distributed.LocalCluster(n_workers=0, **LOCAL_CLUSTER) as cluster,
            distributed.Client(cluster) as client,
        ):
            forked.start(cluster.scheduler_address)
            try:
                wait_for(client, forked, local_workers)
                yield client
            finally:
                forked.close()  # the workers leave before their scheduler ends
        return
    if scheduler in (None, "local"):
        dask: Any = importlib.import_module("dask")
        with _environment_kept(dask), dask.config.set(WORKER_CONFIG):  # the nannies hand it to their workers
            cluster = distributed.LocalCluster(
                n_workers=local_workers, threads_per_worker=1, processes=True, **LOCAL_CLUSTER
            )
        with _environment_kept(dask), cluster, distributed.Client(cluster) as client:  # a nanny restarting one
            # a plugin: a worker a nanny restarts mutes them too (forked ones do it in ``_serve``)
            client.register_worker_callbacks(setup=mute_failed_parts)
            yield client
            with contextlib.suppress(Exception):  # quiet before the cluster ends them (``quiet_at_close``)
                client.run(logging.disable, logging.CRITICAL)
        return
    try:
        client = distributed.Client(scheduler)
    except OSError as exc:  # out of reach (the connect timed out): nothing was written yet
        raise EngineError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        # a scheduler lost mid-load: the client logs its reconnect, cancelled now, with a
        # traceback; the run's own error says it was lost (``_dask_lost``)
        with _muted(logging.getLogger("distributed.client")):
            client.close()


@contextlib.contextmanager
def _environment_kept(dask: Any) -> Iterator[None]:
    """The variables a nanny sets in this process's own environment before it spawns a
    worker (``distributed.nanny.pre-spawn-environ``: ``OMP_NUM_THREADS=1``...; and
    ``__DASK_PARENT_PID``), put back as they were once the workers have them: the host's
    later subprocesses and thread pools are not one-threaded for a load it ran."""
    names = [*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "__DASK_PARENT_PID"]
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            elif os.environ.get(name) != value:
                os.environ[name] = value


@contextlib.contextmanager
def _muted(logger: logging.Logger) -> Iterator[None]:
    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def result_side(chosen: str = "auto") -> str:
    """How parts leave their results (``run.part_results``): by default as side databases,
    the least work for this process, the single writer, and no more in all than Arrow files
    (bench/NOTES.md, "loader/engines/")."""
    return "database" if chosen == "auto" else chosen


def spill_dir(pipeline: Pipeline) -> str:
    """``run.spill_dir``, absolute: a cluster's workers, started in other directories, write
    where this process reads."""
    return os.path.abspath(pipeline.job.run.spill_dir or default_spill_dir(pipeline))


def default_spill_dir(pipeline: Pipeline) -> str:
    """The target's own directory for parts' results: ``<target>.parts`` (absolute)."""
    return os.path.abspath(pipeline.job.sink.path.rstrip("/\\") + ".parts")


@dataclass(frozen=True)
class Engine:
    """A started engine: how to start a part, how many run at once (once it is up: a
    cluster starts in the background), and how to end it (once the parts are in: the
    writer's last step needs no workers)."""

    submit: Submit
    count: Callable[[], int]
    check: Callable[[], None]
    stop: Callable[[], None]
    start: str = ""  # how its workers started (``open_engine``)
    halt_file: str = ""  # once it exists, running parts end at their next chunk (``work.run_part``)

    @property
    def workers(self) -> int:
        return self.count()

    def halt(self) -> None:
        """Tell the parts still running to end without a result: the run stops, and
        a pool's shutdown (or a cluster's) need not wait for them to read to their end."""
        if self.halt_file:
            with contextlib.suppress(OSError), open(self.halt_file, "a", encoding="utf-8"):
                pass


@contextlib.contextmanager
def started(pipeline: Pipeline, writer: Writer, plans: list[FilePlan]) -> Iterator[Engine | None]:
    """``run.engine``, once the job is known to load in parts, started before the load's
    types are sampled: a process pool's workers import loader meanwhile. None when no
    file is to be read."""
    check_job(pipeline, writer)
    run = pipeline.job.run
    reads = [p for p in plans if p.reads]
    _refuse_read_whole(str(run.engine), reads)
    if not reads:
        yield None
        return
    halt_file = halt_path(pipeline)
    remove_quietly([halt_file])  # an earlier run's, left for a cluster's workers (below)
    with contextlib.ExitStack() as stack:
        how: list[str] = []

        def remove_halt() -> None:
            # once a local pool or cluster is gone; a cluster's own workers may still be
            # reading parts when the client leaves: theirs stays until this job's next run
            if how != ["remote"]:
                remove_quietly([halt_file])

        stack.callback(remove_halt)
        submit, workers, check, start = stack.enter_context(
            open_engine(str(run.engine), run.scheduler, run.workers, run.fork_workers)
        )
        how.append(start)
        yield Engine(submit, workers, check, stack.close, start, halt_file)


def _refuse_read_whole(engine: str, reads: list[FilePlan]) -> None:
    """Standard input, or a file an earlier ``threads`` run half loaded: not to be cut in parts."""
    for plan in reads:
        if plan.path == storage.STDIN:
            raise _stdin_refused(engine)
        if plan.status == "resumed":
            raise ConfigError(
                f"{plan.path}: half loaded by an earlier run with run.engine = 'threads'",
                hint=f"finish that load with --engine threads, or {RELOAD_ALL_HINT}",
                names=("run.engine",),
            )


def check_checkpoint(pipeline: Pipeline, plans: list[FilePlan], entries: dict[str, str], state: JobState) -> None:
    """What the load refuses on this engine once it has read the job's checkpoint
    (``entries``), for ``--dry-run`` and ``validate`` to refuse alike: a file half loaded
    by ``threads``, or in parts cut otherwise or of another version (``check_committed``)."""
    reads = [p for p in plans if p.reads]
    _refuse_read_whole(str(pipeline.job.run.engine), reads)
    parts = plan_parts(pipeline, reads)
    identities = {p.key: p.state.identity for p in reads if p.state is not None}
    committed = committed_parts(entries, state, identities.get)
    _rename_old_ids(parts, committed)
    check_committed(pipeline, parts, committed, identities.get)


def committed_parts(
    entries: dict[str, str], state: JobState, identity: Callable[[str], Any]
) -> dict[str, dict[str, Any]]:
    """The parts a checkpoint's entries hold committed, by part id. A finished file's parts
    stay in the checkpoint: when it changed and is reloaded (``run.on_change = "reload"``),
    only the parts of the version this run finds (``identity``, by file key: a reload a stop
    cut short) count, not the finished version's nor any older one's."""
    out = {}
    for k, v in entries.items():
        if not k.startswith(PART_KEY):
            continue
        entry = json.loads(v)
        key = part_file(entry)
        if part_of(entry.get("version"), entry.get("identity"), state.files.get(key), identity(key)):
            out[k[len(PART_KEY) :]] = entry
    return out


def _read_again(fs: FileState) -> dict[str, Any]:
    """What a part's entry records of its file's version: one past the first (a version of an
    unchanged file read again, ``committed_parts``), else nothing, as before versions; and the
    source options it is read with (a rerun with others refuses to go on in its parts)."""
    version = {"version": fs.version} if fs.version > 1 else {}
    return version | ({"read_with": fs.read_with} if fs.read_with is not None else {})


def check_committed(
    pipeline: Pipeline,
    parts: list[Part],
    committed: dict[str, dict[str, Any]],
    identity: Callable[[str], Any],
) -> None:
    """A half-loaded file goes on in the parts it was cut into: other cuts would load
    rows of its committed parts again. ``identity``: a file's as this run finds it, by key.
    Errors name the file as this run spells it."""
    planned = {p.id for p in parts}
    paths = {p.key: p.path for p in parts}
    part_size = pipeline.job.run.part_size
    for pid, entry in committed.items():
        key = part_file(entry)
        path = paths.get(key)
        if path is None:
            continue
        # the file as the run that committed the part found it (a checkpoint from before
        # parts recorded it: none); rewritten in place at the same size, its parts keep their ids
        recorded = entry.get("identity")
        if recorded is not None and not storage.same_version(recorded, identity(key)):
            raise _changed_since_parts(path)
        if pid not in planned:
            if entry.get("part_size") == part_size:
                # same size, other ids: of the file as recorded, other cuts (``_cut_otherwise``);
                # without a record, new content
                raise _cut_otherwise(path) if recorded is not None else _changed_since_parts(path)
            raise ConfigError(
                f"{path}: half loaded in parts of run.part_size = {entry.get('part_size')}, now cut at {part_size}",
                hint=f"rerun with run.part_size = {entry.get('part_size')}, or {RELOAD_ALL_HINT}",
                names=("run.part_size",),
            )


def halt_path(pipeline: Pipeline) -> str:
    """The file that tells a job's running parts to end (``Engine.halt``), in the directory
    every worker reads; one name per target and job (a run holds the target's lock)."""
    what = json.dumps([storage.key(pipeline.job.sink.path), pipeline.job_name])
    return os.path.join(spill_dir(pipeline), f"halt-{sha256(what.encode()).hexdigest()[:16]}")


def check_plan(pipeline: Pipeline, writer: Writer, files: list[str]) -> None:
    """What the load refuses on this engine before it reads anything, for ``--dry-run``
    and ``validate`` to refuse alike: the job (``check_job``), standard input among
    ``files``, a missing ``dask.distributed``. ``writer``: not opened."""
    check_job(pipeline, writer)
    if storage.STDIN in files:
        raise _stdin_refused(str(pipeline.job.run.engine))
    if pipeline.job.run.engine == "dask":
        _require_distributed()


def _stdin_refused(engine: str) -> ConfigError:
    return ConfigError(f"run.engine = {engine!r}: standard input cannot be read in parts", hint="use --engine threads")


def check_job(pipeline: Pipeline, writer: Writer) -> None:
    """What keeps a job from loading in parts: a sink that takes no parts, stages that
    cannot travel or that remember rows across the load."""
    engine = pipeline.job.run.engine
    if getattr(writer, "merge_part", None) is None:
        raise ConfigError(
            f"run.engine = {engine!r}: a {pipeline.job.sink.type} sink cannot take parts yet",
            hint="use --engine threads",
        )
    if getattr(pipeline, "code_transforms", False):
        raise ConfigError(
            f"run.engine = {engine!r}: transforms passed in Python cannot travel to workers",
            hint="name the stages in the job file ([[transform]]), or use --engine threads",
        )
    for stage in pipeline.stages:
        if getattr(stage, "remembers_rows", False) or getattr(stage, "state_path", None):
            raise ConfigError(
                f"run.engine = {engine!r}: stage {stage.name} remembers rows across the load, "
                "and each part would see only its own",
                hint="use --engine threads for this job",
            )


def plan_parts(pipeline: Pipeline, plans: list[FilePlan]) -> list[Part]:
    """Every part of the files this run loads, in plan order, each of its plan's checkpoint
    key: a file half loaded in parts under another name of it goes on in those parts."""
    return [replace(part, key=plan.key) for plan in plans for part in cut_file(pipeline, plan.path).parts]


def cut_file(pipeline: Pipeline, path: str) -> Cut:
    """The parts of one file, and how it is cut (or why it is read whole)."""
    src, run = pipeline.job.source, pipeline.job.run
    fmt = str(src.format or "csv")
    # the readers that read a part of a file; the others' files are one part each
    how = fmt if fmt in ("csv", "parquet") else "whole"
    # a CSV file is cut by the quote its reader reads it with: as given, or detected in it
    cut = plan_file(path, how, part_bytes=int(run.part_size), encoding=src.encoding, source=src)
    if how == "whole" and cut.note == "read whole":
        return Cut(cut.parts, f"{fmt} files are read whole")
    return cut


def describe_parts(pipeline: Pipeline, plans: list[FilePlan]) -> list[str]:
    """The plan's lines for the parts (``--dry-run``): how many, and per file how it is cut,
    or why it is read whole or not read at all."""
    lines: list[str] = []
    count = 0
    for plan in plans:
        if not plan.reads:
            lines.append(f"  {plan.path}: {plan.status}, not read")
            continue
        cut = cut_file(pipeline, plan.path)
        count += len(cut.parts)
        lines.append(f"  {plan.path}: {cut.note}" if len(cut.parts) > 1 else f"  {plan.path}: 1 part, {cut.note}")
    part_size = pipeline.job.run.part_size
    return [f"parts ({count}, run.part_size = {part_size:,} bytes):", *lines[:50]] + (
        [f"  ... and {len(lines) - 50} more files"] if len(lines) > 50 else []
    )


@dataclass
class _File:
    """A file's counts over its parts, for its checkpoint entry and its report line."""

    state: FileState
    report: FileReport
    left: int  # parts not committed yet
    committed: int = 0  # parts committed, by this run or one before


@dataclass
class _Open:
    """A part on its way into the target (``Coordinator._open_part``)."""

    task: PartTask
    result: PartResult
    file: _File
    counts: dict[str, Any]
    entries: Callable[[int, int, list[Refused]], dict[str, str]]
    last: bool  # its file's last part (a later part of the file may be in its group: ``file.left`` says 0 for both)

    @contextlib.contextmanager
    def naming(self) -> Iterator[None]:
        """What names the part's file in the errors of its merge: a column the part holds that
        the table lacks, or the file changed meanwhile (``_changed_first``)."""
        with _changed_first(self.task.part.path, self.file.state.identity), naming_file(self.task.part.path):
            yield


class _Ungrouped(Exception):
    """A part of a group that must go in alone (``Coordinator._commit_group``)."""


GROUP_PARTS = 1000  # light parts one commit takes at most (``Coordinator._group``); rows bound it first


LIGHT_WINDOW = 64  # light parts running or waiting for their turn at once (``_window``)


def _window(running: deque[tuple[PartTask, Result | None]], task: PartTask, window: int) -> int:
    """How many parts run or wait for their turn at once: ``window``, and for light parts
    (small results) ``LIGHT_WINDOW``, so that a commit finds a group of them finished."""
    if task.light and all(t.light for t, _ in running):
        return max(window, LIGHT_WINDOW)
    return window


def _groupable(task: PartTask, result: PartResult) -> bool:
    """A part that may share a commit: a light one (rows bound into the target here), finished,
    without rejects (lines in the reject file are not undone with a transaction)."""
    return task.light and not result.halted and not result.rejects and not result.rows_rejected


@dataclass
class Coordinator:
    """Runs the parts on an engine and commits them into the target, in plan order."""

    pipeline: Pipeline
    writer: Writer
    rejects: RejectFile
    state: JobState
    report: RunReport
    signals: Any
    progress: Progress
    files: dict[str, _File] = field(default_factory=dict)
    schema_entry: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)  # the parts' reject reasons, while none wrote
    counted: set[str] = field(default_factory=set)  # parts finished and counted in the progress
    prepared: set[str] = field(default_factory=set)  # files whose schema the target is ready for
    types: dict[str, pa.DataType] = field(default_factory=dict)  # the run's settled types
    skip: Callable[[FilePlan], None] = lambda plan: None  # a file not read: listed (``Pipeline._skip``)
    plans: list[FilePlan] = field(default_factory=list)  # every input, in order
    listed: int = 0  # of ``plans``, those whose turn came (``_turn_of``)
    shown: set[str] = field(default_factory=set)  # files listed in the report
    planned: dict[str, FileState] = field(default_factory=dict)  # the state each file read counts into
    announced: set[str] = field(default_factory=set)  # files whose ``file`` event is out (``_announce``)
    keys: dict[str, str] = field(default_factory=dict)  # each file read's checkpoint key, by its path (``_key``)
    unprepared: tuple[str, bool] | None = None  # the first file and ``fresh``, its preparing undone (``_try_first``)
    _order: dict[str, int] = field(default_factory=dict)  # each input's place in ``plans`` (``_read_between``)
    _unread: list[int] | None = None

    def run(self, plans: list[FilePlan], types: dict[str, pa.DataType], fresh: bool, engine: Engine | None) -> None:
        pipe = self.pipeline
        self._merge: Callable[..., None] = getattr(self.writer, "merge_part")  # noqa: B009  (check_job saw it)
        self.plans, plans = plans, [p for p in plans if p.reads]
        # each file's counts go into the state its plan made (a reloaded one's: its next version)
        self.planned = {p.key: p.state for p in plans if p.state is not None}
        self.keys = {p.path: p.key for p in plans}
        parts = plan_parts(pipe, plans)
        self.types = types
        numeric = self._try_first(plans[0].path if plans else None, fresh)
        entries = self.writer.read_state(pipe.job_name)
        committed = committed_parts(entries, self.state, self._identity)
        directory = spill_dir(pipe)
        encoded = encode_types(types, self.state.schema)
        if encoded != self.state.schema:
            self.state.schema = self.schema_entry = encoded
        run = pipe.job.run
        side = result_side(str(run.part_results))
        allow_python = getattr(pipe, "allow_python", False)
        halt = engine.halt_file if engine is not None else ""
        code = _code(pipe.job.transform)
        tasks = [
            PartTask(
                pipe.job,
                pipe.job_name,
                pipe.table,
                p,
                task_types(types),
                directory,
                allow_python,
                side,
                numeric,
                pipe.type_notes,
                halt,
                pipe.naming,
                pipe.bench_rows,
                code,
                reject_target(pipe.job.sink.path),
                pipe.partition_keys,
                self._identity(p.key),
                pipe.text_forms,
                cwd=os.getcwd(),
                empty=pipe.empty_columns.get(p.path),
            )
            for p in parts
        ]
        _recognise_old_ids(tasks, committed, directory)
        check_committed(pipe, parts, committed, self._identity)
        for task in tasks:
            self._count_parts(task.part, committed)
        todo = [t for t in tasks if t.part.id not in committed]
        for task in tasks:
            if task.part.id in committed:
                _remove_results(task.prefix)  # committed by a run that stopped before it cleaned up
        # removed once empty only if it is the target's own (``<target>.parts``) or this run made it:
        # a run.spill_dir other loads share may be about to take their parts' results
        own = directory == default_spill_dir(pipe) or not os.path.isdir(directory)
        if todo:
            assert engine is not None  # started for the files that read
            os.makedirs(directory, exist_ok=True)
            self.report.workers = engine.workers
            self.report.worker_start = engine.start
            self._commit_in_order(todo, engine, 2 * engine.workers)
        self._turn_of(None)  # the files not read after the last one read
        if engine is not None:
            engine.stop()
        if self.unprepared is not None:  # no part of the first file was committed (none to load)
            self._prepare(*self.unprepared)
        pipe._check_short_run(self.report)
        pipe._finish(self.writer, self.report)
        self.report.add_worker_peak(self.writer.worker_peak_rss_mb)
        self.state.status = "complete"
        self.state.set_rejects(self.rejects.sync())  # a restart that read no part drops the old lines here
        self.writer.commit(pipe.job_name, self._entries(pipe._moved))  # with the entries of files moved since loaded
        self.rejects.settle()
        if own:
            _remove_stale(tasks, directory)
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # left when it holds anything not this run's

    def _try_first(self, path: str | None, fresh: bool) -> dict[str, str]:
        """The target made ready for the first file (``path``) and checked, the table's number
        columns read (``numeric_text``), then undone where the writer can (SQLite: a table
        made, a column added, rolled back): it is made for real with the first part's commit
        (``_commit``), so a run that fails before committing one leaves the target as it was,
        and its rerun stores what a clean run stores."""
        pipe = self.pipeline
        undone = getattr(self.writer, "undone", None)
        with undone() if undone is not None else contextlib.nullcontext():
            if path is not None:
                self._prepare(path, fresh)
            numeric = numeric_text(str(pipe.job.sink.mode), self.writer.column_types(), staged=bool(pipe.stages))
        if undone is not None and path is not None:
            self.prepared.discard(self._key(path))
            self.unprepared = (path, fresh)
        return numeric

    def _prepare(self, path: str, fresh: bool = False, read: PartResult | None = None) -> None:
        """The target's table or keys made ready for a file's schema after the stages, as
        ``threads`` does before it reads the file: a column the table lacks is added
        (``sink.alter``) or refused before its rows are copied in. The file's schema is the
        one its part's reader found (``read``), else this process reads it."""
        pipe = self.pipeline
        if self.unprepared is not None and self.unprepared[0] == path:
            fresh, self.unprepared = self.unprepared[1], None  # the first file, checked before the parts ran
        self._turn_of(path)
        f = self._file(path)
        if read is not None and read.schema is not None:
            found, old_names, source = read.dialect, read.old_names, decode_schema(read.schema)
        else:
            found, old_names, source = self._read_schema(path)
        f.report.dialect = found
        if old_names:  # kept as the target holds them: later runs keep them too
            self.state.names = 1
        schema = output_schema(pipe.stages, source, path, name_clash=pipe.sink.name_clash)
        with naming_file(path):  # a column the key or an index names that this file lacks
            pipe.sink.check_schema(pipe.job.sink, schema)
        pipe._prepare_writer(self.writer, schema, fresh=fresh, file=path, report=self.report)
        self.prepared.add(self._key(path))

    def _read_schema(self, path: str) -> tuple[dict[str, Any] | None, bool, pa.Schema]:
        """The file's CSV dialect, whether its reader kept a target's old names, and its schema."""
        from ..readers import open_reader

        pipe = self.pipeline
        with open_reader(
            path,
            pipe.job.source,
            chunk_size=pipe.job.run.chunk_size,
            types=self.types,
            naming=pipe.naming,
            partitions=pipe.partition_keys,
        ) as reader:
            found = getattr(reader, "dialect", None)
            return (
                found.to_json() if found is not None else None,
                bool(getattr(reader, "old_names", False)),
                reader.schema,
            )

    def _turn_of(self, path: str | None) -> None:
        """The files up to ``path`` (None: every one) listed in the report in input order,
        as ``threads`` reaches them: a file not read as ``skip`` lists it (a changed one
        stops the run there), a file read once its schema is prepared for (the first at
        the start, the others at their first commit). A run that stops lists no file after
        the one it stopped in."""
        key = None if path is None else self._key(path)
        if key in self.shown:
            return
        while self.listed < len(self.plans):
            plan = self.plans[self.listed]
            self.listed += 1
            if not plan.reads:
                self.skip(plan)
                continue
            here = plan.key
            if here not in self.shown:
                self.shown.add(here)
                self.report.files.append(self._file(plan.path).report)
            if here == key:
                return

    def _file(self, path: str) -> _File:
        """A file's counts and report line (listed in the report at its turn: ``_turn_of``)."""
        key = self._key(path)
        f = self.files.get(key)
        if f is None:
            f = self.files[key] = _File(self.planned[key], FileReport(path, status="incomplete"), 0)
        return f

    def _key(self, path: str) -> str:
        """The checkpoint key a file read counts under: its plan's (``state.plan_files``), not
        always its path's (a file half loaded under another name of it goes on in that entry)."""
        return self.keys[path]

    def _identity(self, key: str) -> Any:
        """The identity of the file of ``key`` as this run's plan found it (None: a file this run does not read)."""
        fs = self.planned.get(key)
        return fs.identity if fs is not None else None

    def _count_parts(self, part: Part, committed: dict[str, dict[str, Any]]) -> None:
        f = self._file(part.path)
        if part.id not in committed:
            f.left += 1
            if f.report.status != "resumed":  # a part committed before makes the file a resumed one
                f.report.status = "loaded"
        else:  # its counts stay in the file's checkpoint entry
            f.committed += 1
            f.report.status = "resumed"
            self.report.resumed = True
            Tally(*(int(committed[part.id].get(name, 0)) for name in COUNTS)).add_to(f.state)

    def _commit_in_order(self, todo: list[PartTask], engine: Engine, window: int) -> None:
        """Keep ``window`` parts running; commit each as its turn comes."""
        try:
            self._run_parts(todo, engine, window)
        except RejectLimitError:
            engine.halt()  # the parts still running are not committed: they need not read on
            self._mark_incomplete()
            raise
        except BaseException as exc:
            self._mark_incomplete()
            self._name_kept_parts(exc)
            raise

    def _name_kept_parts(self, exc: BaseException) -> None:
        """A file that changed while its parts were read: the hint says what its rerun does,
        not what ``threads``' would. With parts of it committed, the rerun refuses any other
        version whatever ``run.on_change`` says (``check_committed``); with none, and nothing of
        an earlier version loaded (``run.on_change`` decides about that), it loads it."""
        if not isinstance(exc, SourceChangedError) or exc.message != storage.CHANGED_WHILE_READ:
            return
        if exc.file not in self.keys:
            return
        if self._file(exc.file).committed:
            exc.hint = (
                "rerun once it is written whole: the parts committed from it stay, and a rerun refuses any "
                f"other version than theirs, whatever run.on_change says: {_finish_in_parts(exc.file)}"
            )
        elif self._key(exc.file) not in self.state.files:
            exc.hint = "rerun once it is written whole: no part of it was committed, so the rerun loads it"

    def _mark_incomplete(self) -> None:
        for f in self.files.values():
            if f.left and f.report.status != "unreadable":  # not ``gone_at_turn``'s
                f.report.status = "incomplete"  # the rows its committed parts hold stay

    def _run_parts(self, todo: list[PartTask], engine: Engine, window: int) -> None:
        queue = deque(todo)
        running: deque[tuple[PartTask, Result | None]] = deque()
        wake = threading.Event()  # set by a worker's part finishing

        def top_up() -> None:
            while queue and len(running) < _window(running, queue[0], window):
                task = queue.popleft()
                with self._lost_workers(task):
                    future = None if not task.light and finished(task) else engine.submit(task)
                if future is not None:
                    future.add_done_callback(lambda _: wake.set())
                running.append((task, future))

        top_up()
        while running:
            task, future = running.popleft()
            if future is not None:
                self._await(future, [(task, future), *running], wake, engine.check)
            result = self._result(task, future)
            self._finished(task, result)
            group = self._group(task, result, running)
            top_up()
            self._commit_group(group)

    def _await(
        self,
        head: Result,
        running: list[tuple[PartTask, Result | None]],
        wake: threading.Event,
        check: Callable[[], None],
    ) -> None:
        """Wait for ``head``, counting every part that finishes meanwhile, in whatever order."""
        while True:
            if self.signals.signum is not None:  # between two commits: stop now, not after the next part
                raise InterruptedLoad(self.signals.signum)
            wake.clear()
            for task, future in running:
                if future is not None and task.part.id not in self.counted and future.done():
                    done = _finished_now(task, future)  # a failed part has none, and raises when its turn comes
                    if done is not None:
                        self._finished(task, done)
            if head.done():
                return
            check()
            wake.wait(1.0)

    def _result(self, task: PartTask, future: Result | None) -> PartResult:
        """The finished part's result, from its manifest: a Dask worker that died after the
        part took the future's copy with it (and ``result()`` would wait for a rerun)."""
        done = finished(task)
        if done is not None:
            return done
        assert future is not None  # a part without a future was finished before
        with self._lost_workers(task):
            try:
                result = _own(task, future.result())
            except LoaderError as exc:
                self._number_in_file(task, exc)
                exc.stopped_in = task.part.key  # its committed parts named (``_name_kept_rows``)
                self._turn_of(task.part.path)  # listed, as incomplete, as ``threads`` lists the file it stopped in
                self._announce(task.part.path)  # and logged as begun, as ``threads`` logs it before it reads
                report = self._file(task.part.path).report
                unseen = self._unseen_input(task, exc)
                if unseen is not None:
                    report.status, report.reason = "unreadable", unseen.message
                    raise unseen from None
                gone = gone_at_turn(exc, report)  # moved away before a part of it read
                if gone is not None:
                    raise gone from None
                raise
        # made where this process does not look (a light part has no manifest: its files tell)
        if not result.halted and not (files_here(result) if task.light else finished(task) is not None):
            raise _results_unseen(task, result)
        return result

    def _unseen_input(self, task: PartTask, exc: LoaderError) -> MissingInputError | None:
        """An input a cluster's worker could not read that this process reads: what the
        worker sees (its file system, its environment's storage settings) lacks it, and a
        rerun fails the same way until the workers are given it."""
        if self.report.worker_start != "remote" or exc.worker is None or exc.file != task.part.path:
            return None
        if not isinstance(exc, (MissingInputError, SourceReadError)) or not _readable_here(task.part.path):
            return None
        if storage.is_remote(task.part.path):
            hint = (
                "the workers read objects with their own environment's settings: give every worker the "
                "AWS_* variables this process has (credentials, AWS_ENDPOINT_URL, AWS_REGION; "
                "docs/object-storage.md), then rerun"
            )
        else:
            hint = (
                "every worker must see the inputs at the same absolute path as this process (a shared "
                'file system; docs/engines.md, "What must be shared"), then rerun'
            )
        return MissingInputError(
            f"{exc.message} on worker {exc.worker}, though this process reads it", file=task.part.path, hint=hint
        )

    def _number_in_file(self, task: PartTask, exc: LoaderError) -> None:
        """A worker numbers a byte range's rows from its start (as its rejects): the row an
        error names, counted from the file's start, as ``threads`` names it. The file's rows
        before the part are the earlier parts' (committed first)."""
        if task.part.unit == "bytes" and exc.row is not None:
            before = self._file(task.part.path).state.rows_read
            exc.row += before
            if exc.last_row is not None:  # a batch's rows
                exc.last_row += before

    @contextlib.contextmanager
    def _lost_workers(self, task: PartTask) -> Iterator[None]:
        """A pool whose worker died fails every part, running or submitted: a signal that
        reached the workers too stops the load as at a commit; a worker killed on its own
        (the OOM killer) is the engine's error, committed parts kept. So are a Dask
        scheduler gone while ``task`` ran and a part whose every worker died."""
        try:
            yield
        except BaseException as exc:
            if self.signals.signum is not None:
                raise InterruptedLoad(self.signals.signum) from None
            from concurrent.futures.process import BrokenProcessPool

            if isinstance(exc, BrokenProcessPool):
                raise EngineError(
                    "a worker process of the local pool ended before its part was done",
                    hint=PARTS_KEPT_HINT,
                ) from exc
            lost = _dask_lost(exc, task, str(self.pipeline.job.run.scheduler or "local"))
            if lost is not None:
                raise lost from None
            raise

    def _finished(self, task: PartTask, result: PartResult) -> None:
        """A worker finished the part: its bytes count in the progress now, before its commit."""
        if task.part.id in self.counted:
            return
        self.counted.add(task.part.id)
        self.progress.update(result.bytes_read, result.rows_read)
        self.pipeline._emit(
            "part",
            id=task.part.id,
            path=task.part.path,
            bytes=result.bytes_read,
            rows_read=result.rows_read,
            worker=result.worker,
            retries=result.retries,
            seconds=result.seconds,
            run_bytes_done=self.progress.done,
        )

    def _commit(self, task: PartTask, result: PartResult) -> None:
        """One part's rows and its checkpoint entry, in one atomic unit."""
        part = self._open_part(task, result)
        t0 = time.monotonic()
        try:
            with part.naming():
                self._merge(result.files, result.rows_written, self.pipeline.job_name, part.entries)
        except BaseException as exc:
            self._undo(part.file, result, part.counts)
            if isinstance(exc, EngineError):  # results short of its rows (``_check_part_rows``): read again
                _remove_results(task.prefix)
            raise
        self.rejects.settle()  # a restart's first part: its reject file, without the old lines, in place
        self._close_part(part, time.monotonic() - t0)

    def _group(
        self, head: PartTask, result: PartResult, running: deque[tuple[PartTask, Result | None]]
    ) -> list[tuple[PartTask, PartResult]]:
        """``head`` and the light parts after it, in plan order, that are finished already,
        while their rows stay under ``sink.batch_size``: small files' parts share a commit (its
        fsyncs), as ``threads`` commits many small files in one. Only parts without rejects,
        into a writer that stages parts (``stage_part``)."""
        group = [(head, result)]
        if not (hasattr(self.writer, "stage_part") and _groupable(head, result)):
            return group
        batch = int(self.pipeline.job.sink.batch_size or 1)  # resolved: always set
        rows = result.rows_read
        while running and len(group) < GROUP_PARTS and rows < batch:
            task, future = running[0]
            if future is None or not future.done():
                break
            done = _finished_now(task, future)
            if done is None or not _groupable(task, done) or rows + done.rows_read > batch:
                break
            if done.prefix not in ("", task.prefix) or not files_here(done):
                break  # its turn says what is wrong (``_result``)
            if not self._read_between(group[-1][0].part.path, task.part.path):
                break  # a file not read between them may stop the run at its turn (``_turn_of``)
            running.popleft()
            self._finished(task, done)
            group.append((task, done))
            rows += done.rows_read
        return group

    def _read_between(self, before: str, after: str) -> bool:
        """Whether every input between the files ``before`` and ``after`` (in plan order) is
        one this run reads: listing a file not read may stop the run (a changed one)."""
        if self._unread is None:  # unread[i]: the inputs not read before the i-th
            self._order = {p.key: i for i, p in enumerate(self.plans)}
            self._unread = list(itertools.accumulate((not p.reads for p in self.plans), initial=0))
        start, end = self._order[self._key(before)], self._order[self._key(after)]
        return self._unread[end] == self._unread[start + 1]

    def _commit_group(self, group: list[tuple[PartTask, PartResult]]) -> None:
        """The parts of ``group`` in one transaction with all their checkpoint entries. Any
        failure (a part's file changed, a row the table refuses, a full disk) undoes the whole
        transaction and what this process counted of it; then each part goes in alone, in
        order (``_commit``), as parts not grouped do: the parts before the one that fails
        are committed, and it fails as it would alone."""
        if len(group) > 1:
            self._turn_of(group[0][0].part.path)  # what stops the run before the group's first file does so here
            try:
                self._commit_all(group)
            except Exception:  # each part again, alone: the one that fails says why
                pass
            else:
                self._between_commits(group[-1][0])
                return
        for task, result in group:
            self._commit(task, result)
            self._between_commits(task)  # a stop, or run.max_rejects crossed, after the part that did it

    def _between_commits(self, task: PartTask) -> None:
        if self.signals.signum is not None:
            raise InterruptedLoad(self.signals.signum)
        self._check_rejects(task)

    def _commit_all(self, group: list[tuple[PartTask, PartResult]]) -> None:
        writer: Any = self.writer  # one that stages parts (``_group``)
        kept = (set(self.prepared), self.schema_entry, Counter(self.reasons), self.state.names, self.unprepared)
        listed = (self.listed, set(self.shown), len(self.report.files))
        parts: list[_Open] = []
        entries: dict[str, str] = {}
        t0 = time.monotonic()
        try:
            with writer.staging():
                for task, result in group:
                    part = self._open_part(task, result, grouped=True)
                    parts.append(part)
                    with part.naming():
                        written, refused = writer.stage_part(result.files, result.rows_written)
                    if refused:  # their reject lines would outlive an undone group: the part goes alone
                        raise _Ungrouped
                    entries |= part.entries(written, result.rows_written - written, [])
                writer.commit(self.pipeline.job_name, entries)
        except BaseException:
            for part in reversed(parts):
                self._undo(part.file, part.result, part.counts)
            self.prepared, self.schema_entry, self.reasons, self.state.names, self.unprepared = kept
            self.listed, self.shown, files = listed
            del self.report.files[files:]  # listed again as each part's turn comes
            raise
        self.rejects.settle()
        seconds = (time.monotonic() - t0) / len(parts)  # the commit's time, shared
        for part in parts:
            self._close_part(part, seconds)

    def _open_part(self, task: PartTask, result: PartResult, *, grouped: bool = False) -> _Open:
        """A part about to be committed: its file prepared for and checked, its rejects
        appended and synced, its counts and the function that makes its checkpoint entries
        once the writer says what it wrote (``PartEntries``). A group's part (which has no
        rejects) announces its file after the commit (``_close_part``): each file's ``file``
        event comes after the ``file_done`` of the one before, as ``threads`` sends them."""
        pipe = self.pipeline
        key = task.part.key
        if key not in self.prepared:
            self._prepare(task.part.path, read=result)
        if not grouped:
            self._announce(task.part.path)
        f = self.files[key]
        if f.left == 1:  # its last part: every part of it is read
            storage.check_unchanged(task.part.path, f.state.identity)
        # a byte range's rows are numbered from its start: the file's rows before it are the
        # earlier parts' (committed first); a row group range keeps the file's own numbers
        offset = f.state.rows_read if task.part.unit == "bytes" else 0
        if result.rejects:
            self.rejects.append_from(result.rejects, row_offset=offset, version=f.state.version)
        if not grouped:
            self.state.set_rejects(self.rejects.sync())
        f.left -= 1
        counts = {
            "path": task.part.path,
            "range": [task.part.unit, task.part.start, task.part.end],
            "part_size": pipe.job.run.part_size,
            "rows_read": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "rows_filtered": result.rows_filtered,
            "worker": result.worker,
            "retries": result.retries,
            "seconds": result.seconds,
            "worker_peak_rss_mb": result.peak_rss_mb,
        }

        def entries(written: int, ignored: int, refused: list[Refused]) -> dict[str, str]:
            if refused:  # on disk before the commit, as the part's own rejects
                self._refused(task, result, refused, offset)
            rejected = result.rows_rejected + len(refused)
            counts["rows_written"], counts["rows_ignored"], counts["rows_rejected"] = written, ignored, rejected
            self._add(f, result, written, ignored, rejected)
            # the version a rerun must find, and the file's key wherever it starts (``state.part_file``)
            entry = json.dumps(dict(counts, key=key, identity=f.state.identity, **_read_again(f.state)))
            return self._entries({PART_KEY + task.part.id: entry}, key if f.left == 0 else None)

        self.reasons.update(result.reasons)  # before those of its rows the table refuses (``_refused``)
        return _Open(task, result, f, counts, entries, last=f.left == 0)

    def _close_part(self, part: _Open, seconds: float) -> None:
        """A committed part's bookkeeping: counted, reported, its events sent, its results removed."""
        pipe, task, result, f = self.pipeline, part.task, part.result, part.file
        self._announce(task.part.path)  # a group's part: now (``_open_part``)
        f.committed += 1
        # the single writer's share: the ceiling however many workers read (docs/engines.md)
        self.report.parts.append(dict(part.counts, id=task.part.id, commit_seconds=round(seconds, 4)))
        if self.report.worker_start != "remote":
            self.report.add_worker_peak(result.peak_rss_mb)
        else:  # a cluster's own worker: its peak spans its life, other jobs too, and no ceiling binds it
            self.report.add_cluster_peak(result.peak_rss_mb)
        if f.report.dialect is None:
            f.report.dialect = result.dialect
        pipe._emit("progress", path=task.part.path, rows_read=f.report.rows_read, run_rows_read=self.report.rows_read)
        if part.last:  # its last part committed: the file is done, as ``threads`` logs it
            pipe._emit(
                "file_done",
                path=task.part.path,
                rows_read=f.report.rows_read,
                rows_written=f.report.rows_written,
                rows_rejected=f.report.rows_rejected,
            )
        _remove_results(task.prefix, result)

    def _announce(self, path: str) -> None:
        """The ``file`` event of a file read, once, when its first part is committed (or stops
        the run): its status (``loaded``, or ``resumed`` when a run before committed parts of
        it) is known by then, and the files before it are listed, so the events come in input
        order, as ``threads`` sends them."""
        key = self._key(path)
        if key not in self.announced:
            self.announced.add(key)
            status = self._file(path).report.status
            self.pipeline._emit("file", path=path, status="loaded" if status == "incomplete" else status)

    def _refused(self, task: PartTask, result: PartResult, refused: list[Refused], offset: int) -> None:
        """The part's rows the target's table refused, in the reject file (synced): their
        values as the part holds them, their rows and lines from its ``numbers``."""
        numbers = read_numbers(result.numbers, [r.index for r in refused])
        version = self.files[task.part.key].state.version
        self.rejects.write(
            Reject(
                file=task.part.path,
                row=row + offset if row is not None else None,
                line=line,
                stage="write",
                column=r.column,
                reason=r.reason,
                values=r.values,
                version=version if version > 1 else None,
            )
            for r, (row, line) in zip(refused, numbers, strict=True)
        )
        self.state.set_rejects(self.rejects.sync())
        if not self.report.rows_written:
            self.reasons.update(r.reason for r in refused)

    def _add(self, f: _File, result: PartResult, written: int, ignored: int, rejected: int, sign: int = 1) -> None:
        tally = Tally(result.rows_read, written, rejected, result.rows_filtered, ignored)
        for holder in (f.state, f.report, self.report):
            tally.add_to(holder, sign)
        if f.left == 0 and sign > 0:
            f.state.done = True
            f.state.note_read_with(read_options(self.pipeline.job.source))
            self.report.files_loaded += 1

    def _undo(self, f: _File, result: PartResult, counts: dict[str, Any]) -> None:
        """The commit failed: the counts say what is committed."""
        if "rows_written" in counts:
            self._add(f, result, counts["rows_written"], counts["rows_ignored"], counts["rows_rejected"], sign=-1)
            if f.left == 0:
                f.state.done = False
                self.report.files_loaded -= 1
        f.left += 1

    def _entries(self, extra: dict[str, str] | None = None, done_file: str | None = None) -> dict[str, str]:
        out = dict(extra or {})
        if done_file is not None:
            out[done_file] = self.files[done_file].state.to_json()
        if self.schema_entry is not None:
            out["schema"] = self.schema_entry
            self.schema_entry = None
        out["job"] = self.state.job_entry()
        return out

    def _check_rejects(self, task: PartTask) -> None:
        from ..pipeline import over_max_rejects, rejects_exceeded

        limit = self.pipeline.job.run.max_rejects
        if over_max_rejects(limit, self.report.rows_read, self.report.rows_rejected):
            raise rejects_exceeded(self.report.rows_rejected, self.report.rows_read, limit, task.part.path)


def _finished_now(task: PartTask, future: Result) -> PartResult | None:
    """A done part's result, if it succeeded: its manifest's, or a light part's (which has
    none) its future's."""
    if not task.light:
        return finished(task)
    try:
        return future.result()
    except Exception:  # raised again when its turn comes (``_result``)
        return None


def _own(task: PartTask, result: PartResult) -> PartResult:
    """``result``, made for ``task``: a cluster that handed this load another load's result
    (a key two clients both submitted) would have its files committed into this target."""
    if result.prefix and result.prefix != task.prefix:
        raise EngineError(
            f"part {task.part.id} of {task.part.path}: the Dask cluster returned the result of another load's part "
            f"({result.prefix}, not {task.prefix}); nothing of it was committed",
            hint=PARTS_KEPT_HINT,
        )
    return result


def _readable_here(path: str) -> bool:
    """Whether this process reads the input at ``path`` (a remote one: finds it)."""
    if not storage.is_remote(path):
        return os.access(os.path.abspath(path), os.R_OK)
    try:
        return storage.exists(path)
    except LoaderError:
        return False


def _results_unseen(task: PartTask, result: PartResult) -> EngineError:
    """A part a worker finished whose results this process cannot find: ``run.spill_dir`` is
    not the same directory for both (a worker's own disk); a rerun fails the same way."""
    error = EngineError(
        f"{task.part.describe()}: worker {result.worker} wrote its results to {task.spill_dir}, "
        "which this process cannot read",
        hint="run.spill_dir must be a directory the workers and this process share at the same path "
        '(docs/engines.md, "What must be shared"), then rerun',
        names=("run.spill_dir",),
    )
    error.exit_code = EXIT_CONFIG
    return error


def _dask_lost(exc: BaseException, task: PartTask, scheduler: str) -> EngineError | None:
    """Dask's own errors of a part as the engine's: the scheduler gone (its futures
    cancelled: the rerun once it is back goes on), or every worker that ran the part killed
    (Dask's memory limit, the OOM killer: the same part kills them again)."""
    if "distributed" not in sys.modules:
        return None
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    if isinstance(exc, CancelledError):
        error = EngineError(
            f"lost the Dask scheduler {scheduler} while parts ran",
            hint="start the scheduler and its workers again; " + PARTS_KEPT_HINT,
        )
        error.exit_code = EXIT_LOCKED  # EX_TEMPFAIL: the same command succeeds once it is back
        return error
    if isinstance(exc, KilledWorker):
        error = EngineError(
            f"{task.part.describe()}: every Dask worker that ran this part died before it was done "
            "(killed for its memory, by Dask's --memory-limit or the OOM killer)",
            hint="give a part less memory (a smaller run.part_size, --chunk-size or --max-memory) or each "
            "worker more (dask worker --memory-limit), then rerun: committed parts are kept",
            names=("run.part_size", "--chunk-size", "--max-memory"),
        )
        error.exit_code = EXIT_CONFIG  # a rerun on the same workers kills them again
        return error
    return None


def _changed_since_parts(path: str) -> SourceChangedError:
    return SourceChangedError(
        "changed since parts of it were loaded: its committed parts are not this version's",
        file=path,
        hint=_finish_in_parts(path),
    )


def _finish_in_parts(path: str) -> str:
    """What finishes a file half loaded in parts now that it is another version: a local file's
    version put back, modification time and all; an object put back is another put (its
    LastModified, its version id), which its parts never match, so only a reload of the job."""
    if storage.is_remote(path):
        return RELOAD_ALL_HINT
    return f"put the earlier version back (its modification time too) to finish it, or {RELOAD_ALL_HINT}"


def _cut_otherwise(path: str) -> ConfigError:
    """The same file (as its committed parts recorded it) cut into other parts at the same
    ``run.part_size``: the plan changed, not the file (a loader upgraded in the middle of the
    load, or a flag the cuts follow)."""
    return ConfigError(
        f"{path}: half loaded in parts this run cuts otherwise: the file is unchanged, how it is cut changed "
        "(a newer version of loader, or flags such as --skip-rows or --quote-char)",
        hint=f"finish it with the loader and flags that began it, or {RELOAD_ALL_HINT}",
    )


def _code(transforms: list[dict[str, Any]]) -> str:
    """What the job's python stages' code is (``code_identity``); none without stages."""
    if not transforms:
        return ""
    from ..transforms.python import code_identity  # the python stage's module, only for a job with stages

    return code_identity(transforms)


def _remove_results(prefix: str, result: PartResult | None = None) -> None:
    """A part's result files, and the temporary manifest of a worker killed as it wrote it.
    Given the ``result`` of a part started once, the files it names: listing the spill
    directory for each part would take time growing with the parts."""
    if result is not None and not result.retries:
        made = [*result.files, *(f for f in (result.rejects, result.numbers) if f)]
        remove_quietly([*made, prefix + ".starts"])
    else:
        remove_quietly(glob.glob(glob.escape(prefix) + ".*") + temporaries(manifest_path(prefix)))
    remove_quietly([manifest_path(prefix)])


def _remove_stale(tasks: list[PartTask], directory: str) -> None:
    """Results of this run's parts, all committed, left in the target's own spill directory:
    under another name than this run's (a failed run's, made with other types or a stage's
    earlier code), never reused; under this run's, another execution's of a committed part
    (a killed run's worker that finished it after, or while, this run's did), never committed."""
    for task in tasks:
        for pattern in (f"{task.part.id}-*", f".{task.part.id}-*.tmp"):  # a temporary manifest too
            remove_quietly(glob.glob(os.path.join(glob.escape(directory), pattern)))


def _respelled(committed: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """By file key, the spellings of its URI other than the normal one (``S3://b/k``) that
    committed parts record: a run before schemes were lower-cased hashed its ids from them."""
    out: dict[str, set[str]] = {}
    for entry in committed.values():
        path = str(entry.get("path", ""))
        if storage.is_remote(path) and storage.normal(path) != path:
            out.setdefault(storage.key(path), set()).add(path)
    return out


def _rename_old_ids(parts: list[Part], committed: dict[str, dict[str, Any]]) -> list[str]:
    """A part committed under the id a run before schemes were lower-cased gave it counts as
    committed under this run's id (it is the same part: loaded once). Returns those old ids."""
    spellings = _respelled(committed)
    olds = []
    for part in parts:
        for uri in sorted(spellings.get(part.key, ())):
            old = part.id_spelled(uri)
            if old in committed and part.id not in committed:
                committed[part.id] = committed.pop(old)
            olds.append(old)
    return olds


def _recognise_old_ids(tasks: list[PartTask], committed: dict[str, dict[str, Any]], directory: str) -> None:
    """Old ids counted as this run's (``_rename_old_ids``); results such a run left
    unfinished in ``directory`` are of ids no run plans again: removed."""
    for old in _rename_old_ids([t.part for t in tasks], committed):
        for pattern in (f"{old}-*", f".{old}-*.tmp"):  # its results, a killed worker's temporary manifest
            remove_quietly(glob.glob(os.path.join(glob.escape(directory), pattern)))


def load_parts(
    pipeline: Pipeline,
    writer: Writer,
    rejects: RejectFile,
    state: JobState,
    report: RunReport,
    signals: Any,
    progress: Progress,
    plans: list[FilePlan],
    types: dict[str, pa.DataType],
    fresh: bool,
    engine: Engine | None,
    skip: Callable[[FilePlan], None],
) -> Counter[str]:
    """Load ``plans`` (every input; those that read) in parts on ``engine`` (``started``);
    commit them here. ``skip`` lists a file not read in the report, at its turn. Returns
    the commonest reasons rows were rejected (for "nothing loaded")."""
    job = pipeline.job
    report.engine = str(job.run.engine)
    # the sizes every worker and the coordinator use, fitted under the ceiling each process keeps to
    report_sizes(report, job, job.run.chunk_size, int(job.sink.batch_size or 0))
    t0 = time.monotonic()
    coordinator = Coordinator(pipeline, writer, rejects, state, report, signals, progress, skip=skip)
    coordinator.run(plans, types, fresh, engine)
    report.parts_elapsed_s = round(time.monotonic() - t0, 3)
    # the parts run at once: their own seconds add up to more than the phase's
    report.parts_seconds = round(sum(p["seconds"] for p in report.parts), 3)
    return coordinator.reasons


@contextlib.contextmanager
def _changed_first(path: str, before: dict[str, Any] | None) -> Iterator[None]:
    """A part whose columns the table lacks, of a file that changed since the run began (one
    renamed over with a new header: each part opens the path and reads the header there):
    the change is the cause, said so (65, ``run.on_change``), not a table to ``--alter``."""
    try:
        yield
    except SchemaMismatchError:
        storage.check_unchanged(path, before)
        raise
