"""LevelDB writer: a ``WriteBatch`` per chunk, and after each batch of them the checkpoint beside it.

Keys come from a template over columns (see ``KeyTemplate``); values are a
JSON object of the row's columns or one column's raw bytes, both built
column-wise.

Checkpoints live in ``loader-state.jsonl`` inside the LevelDB directory
(LevelDB leaves files it does not know alone), appended after each batch is
written (see ``statelog``). Not in the database: one checkpoint key written with every batch made
every table LevelDB flushed span the whole key range, so each compaction
rewrote all of level 1 (bench/NOTES.md). Puts are
idempotent, so the order "batch, then checkpoint" is enough: a crash between
the two replays that batch, which writes the same keys and values again.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import plyvel
import pyarrow as pa
import pyarrow.ipc

from .. import forking, stopping, suggest
from ..config import SinkConfig
from ..errors import FIX, RESUME_HINT, ConfigError, LoaderError, SinkError, TargetLockedError, exit_class
from ..prefetch import prefetch
from ..sinks.base import Encoded
from ..sinks.leveldb import Puts, as_bytes, stage, value_column
from ..spill import merge_runs, run_bounds
from ..state import REPLACING_ENTRY
from . import leveldb_keys, leveldb_own, leveldb_tables, leveldb_wipe
from .base import Transactional
from .encode import KeyTemplate
from .leveldb_sort import SORT_ENTRY, Sorter, split_ranges
from .statelog import StateLog, StateLogError, read_state_log

if TYPE_CHECKING:
    from ..state import JobState

STATE_FILE = "loader-state.jsonl"
# Rows per WriteBatch written in key order (held rows, or the merge's), and rows turned
# into table entries at a time: counts for rows of the benchmark's width, and bytes that
# keep wider rows (a JSON value per row of hundreds of columns) to the same memory.
MERGE_ROWS, MERGE_BYTES = 16_384, 4 << 20
INGEST_ROWS, INGEST_BYTES = 4_096, 1 << 20
# The open batch is committed at ``sink.batch_size`` rows or at this many bytes of keys and
# values per row of it, whichever comes first: the benchmark's rows (~250 bytes) commit by
# their count, and rows of hundreds of columns (a 5 KB JSON value each) by their bytes.
BATCH_ROW_BYTES = 512
WIPE_BATCH = 100_000  # keys a replace deletes per WriteBatch


def check_schema(config: SinkConfig, schema: pa.Schema, template: KeyTemplate | None = None) -> None:
    """Refuse data the keys or values cannot be made from: a column that the key template
    or ``sink.value`` names and the data lacks, a format spec its column's type cannot take."""
    assert config.key is not None
    template = template or KeyTemplate(config.key)
    template.require(schema.names)
    column = value_column(config.value)
    if column is not None:  # a MissingColumnError: found on a later file, it names that file
        suggest.require_columns("sink.value", [column], schema.names)
    template.check_types(schema)


def check_target(path: str) -> None:
    """A file where the store's directory should be: refused by the load and the dry run alike."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(
            f"sink.path: {path} is a file, not a LevelDB directory",
            hint="name a new directory or an existing LevelDB, e.g. out/data.ldb",
        )


def peek(path: str, job: str) -> dict[str, str]:
    """An existing store's checkpoint entries of ``job``, read from its checkpoint file
    without opening the store (which would write its log): ``--dry-run``. A store the load
    could not open is refused as the load refuses it."""
    check_target(path)
    if not os.path.isdir(path):
        return {}
    reason = unusable(path)
    if reason is not None:
        raise _unusable_error(path, reason)
    if not os.path.isfile(os.path.join(path, "CURRENT")):
        return {}  # the store is gone: the load starts over (``LevelDBWriter.gone``)
    try:
        jobs, _ = read_state_log(os.path.join(path, STATE_FILE))
    except (OSError, StateLogError) as exc:
        raise _state_error(path, exc) from None
    return dict(jobs.get(job, {}))


def store_gone(path: str) -> str | None:
    """Why the checkpoints of ``path``'s checkpoint file are stale, read without opening the
    store (which would make it anew, and hide that it was gone): the file holds checkpoints
    and the store is not there (``LevelDBWriter.gone``). None where the store is, or where
    the file holds none."""
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "CURRENT")):
        return None
    try:
        jobs, _ = read_state_log(os.path.join(path, STATE_FILE))
    except (OSError, StateLogError) as exc:
        raise _state_error(path, exc) from None
    return _gone_reason([name for name, entries in jobs.items() if entries])


def _gone_reason(jobs: list[str]) -> str | None:
    """Why checkpoints of ``jobs`` tell of a store that was gone when a run came to it."""
    if not jobs:
        return None
    named = ", ".join(repr(name) for name in sorted(jobs))
    return f"{STATE_FILE} held checkpoints of {named}, and the store they tell of was gone (deleted since)"


def unusable(path: str) -> str | None:
    """Why the LevelDB directory ``path`` is no store of bytewise keys LevelDB can open (another
    comparator, a CURRENT or MANIFEST that is damaged or missing), read without writing; None
    where nothing is found wrong (no CURRENT: LevelDB makes a new store there), or where a
    file cannot be read (the load's open says why, as an I/O error)."""
    if not os.path.isfile(os.path.join(path, "CURRENT")):
        return None
    try:
        leveldb_tables.read_version(path)
    except FileNotFoundError as exc:
        return f"CURRENT names {os.path.basename(exc.filename or '')}, which is not there"
    except leveldb_tables.ForeignComparator as exc:
        return f"its keys are ordered by the comparator {exc.name!r}, not LevelDB's bytewise one the loader writes"
    except leveldb_tables.FormatError as exc:
        return str(exc)
    except OSError:
        return None
    return None


def _unusable_error(path: str, reason: str) -> ConfigError:
    """A store no rerun can open as it is (``unusable``): the user's to fix, as a file that is
    no SQLite database."""
    return ConfigError(
        f"sink.path: {path} is not a LevelDB the loader can open: {reason}",
        hint="name a new directory, or an existing LevelDB made with its default (bytewise) comparator; "
        "plyvel.repair_db may recover a damaged one (on a copy)",
    )


def _state_error(path: str, exc: Exception) -> LoaderError:
    """The checkpoint file cannot be read: an I/O error resumes once it is gone; one that
    does not parse must be deleted first (a rerun fails the same way)."""
    cls = SinkError if isinstance(exc, OSError) else ConfigError
    return cls(
        f"cannot read the checkpoint file {STATE_FILE}: {exc}",
        file=path,
        hint="delete it and load with --restart (puts are idempotent: the rows are written again)",
    )


def slices(table: pa.Table, rows: int, nbytes: int) -> list[pa.RecordBatch]:
    """``table`` in batches of at most ``rows`` rows and, by its mean row, ``nbytes`` bytes."""
    per_row = table.nbytes / max(1, table.num_rows)
    batches: list[pa.RecordBatch] = table.to_batches(max_chunksize=max(1, min(rows, int(nbytes / max(1.0, per_row)))))
    return batches


def _locked_error(config: SinkConfig) -> TargetLockedError:
    return TargetLockedError(
        f"LevelDB is locked by another program (still locked after sink.busy_timeout = {config.busy_timeout:g}s)",
        file=config.path,
        hint="another process has this LevelDB open; retry when it ends, or raise sink.busy_timeout",
        names=("sink.busy_timeout",),
    )


def _write_error(config: SinkConfig, exc: OSError) -> SinkError:
    """Writing table files failed (a full disk, say): the words of LevelDB's own write errors."""
    return SinkError(f"LevelDB write failed: IO error: {exc.strerror}", file=config.path, hint=RESUME_HINT)


def _text(exc: BaseException) -> str:
    """plyvel puts LevelDB's status text in bytes; show it as text."""
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _job_prefix(job: str) -> str | None:
    """The literal prefix of a job's keys, from its default name (``key:a:{id}``); None
    where the name does not say (``run.job``)."""
    if not job.startswith("key:"):
        return None
    try:
        return KeyTemplate(job[4:]).prefix
    except ConfigError:
        return None


def _disjoint(mine: str, theirs: str | None) -> bool:
    """Whether no key under one literal prefix can be under the other."""
    return bool(mine and theirs and not mine.startswith(theirs) and not theirs.startswith(mine))


def _held_lock(text: str) -> bool:
    """LevelDB's words for a LOCK another process (or this one) holds, not any error
    that names the LOCK file (a file where the directory should be: "Not a directory")."""
    return text.startswith("IO error: lock ") and (
        "Resource temporarily unavailable" in text or "already held by process" in text
    )


class LevelDBWriter(Transactional):
    """Loads batches into a LevelDB directory. Use as a context manager."""

    def __init__(
        self, config: SinkConfig, *, temp_dir: str | None = None, input_bytes: int = 0, merge_processes: int = 1
    ) -> None:
        self.config = config
        self.merge_processes = merge_processes
        self.target = config.path
        assert config.key is not None
        self.template = KeyTemplate(config.key)
        self.db: Any = None
        # The open batch: staged WriteBatches, written in order at commit. Appending
        # each to one WriteBatch copied every put again while holding the GIL.
        self.staged: list[Any] = []
        self._staged_bytes = 0
        self._batch_bytes = (config.batch_size or 1) * BATCH_ROW_BYTES
        # Written batches, cleared, for the encoder to fill again (``empty_batch``).
        self._spare: collections.deque[Any] = collections.deque()
        self.columns: list[str] = []
        self.state_path = os.path.join(config.path, STATE_FILE)
        self._state: StateLog | None = None
        self._staged_keys: set[bytes] = set()  # mode ignore: keys put in the open batch
        self._own = leveldb_own.OwnRows()  # mode ignore: which rows put their key (``leveldb_own``)
        self._note = (leveldb_own.OWN_ENTRY, "")  # its entry and stream: a load's, or a replay's
        self.write: Callable[[Encoded], int] = self._write_new_keys if config.mode == "ignore" else self._write_staged
        # Sorted ingest (``sink.sort``; see leveldb_sort). Every mode has a sorter, ignore
        # (which never sorts) and ``sort = never`` included: to merge the runs a killed run of
        # another mode or sort committed (``_finish_inherited_merge``).
        self.sorts = "never" if config.mode == "ignore" else config.sort
        # the last value in input order: append, upsert, replace, and the runs ignore inherits
        home = config.path.rstrip("/") + ".runs"  # the store's own run directory
        self.sorter = Sorter(temp_dir or home, "last", config.sort_run_size, input_bytes, target=config.path, home=home)
        self._job = ""
        self._last_key: bytes | None = None  # the last key written directly (``sort = auto``)
        self._pending: dict[str, str] = {}  # checkpoint entries waiting for the next run to be complete
        self._handed = 0  # calls to commit; of them, ``durable_commits`` are durable
        # Keys in order into an empty store go straight into table files (``_arm_tables``):
        # the store's version while armed, the files being written once rows come.
        self._armed: leveldb_tables.Version | None = None
        self._tables: leveldb_tables.TableLoad | None = None
        # Commits whose rows are still in the table file being written: how many rows had
        # been added by each, its number among the commits handed, its checkpoint entries.
        self._marks: list[tuple[int, int, dict[str, str]]] = []
        self._lock: contextlib.AbstractContextManager[None] | None = None
        self._arm_tried = False
        self._made = False  # the store was not there when this run opened it (``gone``)
        self._new_store = False  # likewise, kept: a new store holds no keys of any job
        self._keys: str | None = None  # how the job's keys in the store are spelled (``leveldb_keys``)
        self._spelling: str | None = None  # how this run spells them: recorded with its first key
        self._unrecorded = False  # keys written under ``_spelling`` that the checkpoint does not record yet
        self._recorded = False  # the job's checkpoint held anything when the run began (``leveldb_wipe``)

    @property
    def worker_peak_rss_mb(self) -> float | None:  # type: ignore[override]
        """The highest peak of the processes the merge forked, if any."""
        return self.sorter.worker_peak_rss_mb

    def __enter__(self) -> LevelDBWriter:
        self._made = not os.path.isfile(os.path.join(self.config.path, "CURRENT"))  # LevelDB makes the store
        self._new_store = self._made
        self._open_db()
        self._state = self._open_state()
        return self

    def _open_db(self) -> None:
        # another process holding LOCK: retry with a growing delay for up to sink.busy_timeout
        check_target(self.config.path)
        deadline = time.monotonic() + self.config.busy_timeout
        delay = 0.05
        while True:
            try:
                self.db = plyvel.DB(
                    os.fsencode(self.config.path),  # a name in any bytes
                    create_if_missing=True,
                    write_buffer_size=self.config.write_buffer_size,
                    max_file_size=self.config.max_file_size,
                    max_open_files=self.config.max_open_files,
                    lru_cache_size=self.config.lru_cache_size,
                    block_size=self.config.block_size,
                    compression=None if self.config.compression == "none" else "snappy",
                )
                return
            except plyvel.IOError as exc:
                if not _held_lock(_text(exc)):
                    raise SinkError(f"cannot open LevelDB: {_text(exc)}", file=self.config.path) from None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _locked_error(self.config) from None
                stopping.check()  # SIGTERM while waiting: stop as a run would (143), as the loader's lock does
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)
            except plyvel.Error as exc:  # another comparator, corruption: no rerun opens it as it is
                path = self.config.path
                raise _unusable_error(path, unusable(path) or f"LevelDB: {_text(exc)}") from None

    def rollback(self) -> None:
        for wb in self.staged:
            wb.clear()  # staged puts are dropped, never written
        self.staged.clear()
        self._staged_bytes = 0
        self._spare.clear()
        self._staged_keys.clear()
        self._own.bits.clear()
        self._pending.clear()
        self._unrecorded = False  # the keys since the last commit are dropped with it
        self._keep_committed_tables()
        self._abandon_tables()
        self.sorter.drop_held()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc_type is not None:
                self.rollback()
                self._settle_runs(exc)
        finally:
            self.close()

    def _settle_runs(self, exc: BaseException | None) -> None:
        """A failed run whose complete sorted runs hold committed rows. A stop to fix first
        (a configuration or data error, the reject limit: ``exit_class`` "fix") merges them
        into the store now, as the end of the load would: the store then holds every row
        the report counts as written, as a load that never sorted does, and the rerun goes on
        in input order after them. Other stops (an I/O error, a signal), or a merge that
        fails, leave them in the runs for the rerun to merge, and the error says where."""
        sorter = self.sorter
        if not sorter.state.runs or sorter.missing or not isinstance(exc, LoaderError):
            return  # runs gone: ``require_runs`` said what then
        if sorter.spilling and self.sorts != "never" and exit_class(exc.exit_code) == FIX:
            try:
                self._merge_committed(sorter)
                return
            except Exception:  # a full disk, a signal meanwhile: the checkpoint still names the runs
                pass
        where = ", ".join(sorter.run_dirs(sorter.state.runs))  # the checkpoint's, maybe not this run's temp_dir
        note = f"until then the rows counted as written wait in the sorted runs in {where}, not in the store"
        if note not in (exc.hint or ""):
            exc.hint = f"{exc.hint}; {note}" if exc.hint else note

    def _merge_committed(self, sorter: Sorter) -> None:
        """The complete runs (rows held for one not complete are dropped) merged into the
        store. Every checkpoint on the way stays in the spill phase, never naming a last
        key written: if this stops, the rerun reads on into new runs and merges them all."""
        for entries in sorter.merge_groups(self.merge_processes):
            self._set_state(entries)
        if not self._ingest_merged(sorter):
            self._merge(sorter, mark=False)
        sorter.finished()
        self._set_state(sorter.state.entry())
        sorter.remove_runs()

    def close(self) -> None:
        self._abandon_tables()  # after a commit or a rollback: nothing left to lose
        self.sorter.close()
        self.staged.clear()
        if self._state is not None:
            self._state.close()
        self._close_db()

    def describe(self) -> str:
        return f"{self.config.path} (key {self.config.key})"

    # --------------------------------------------------------------- state

    def _open_state(self) -> StateLog:
        try:
            return StateLog(self.state_path, durable=self.config.sync)
        except (OSError, StateLogError) as exc:
            self.close()
            raise _state_error(self.config.path, exc) from None

    @contextlib.contextmanager
    def _salvaging(self, job: str) -> Iterator[None]:
        """A spill that fails: the runs before it that were complete are checkpointed
        (a rerun keeps them) before the error goes on."""
        try:
            yield
        except SinkError:
            saved, self.sorter.salvaged = self.sorter.salvaged, None
            if saved:
                self._write_state(lambda log: log.set(job, saved))
                self.durable_commits = self.sorter.complete_mark
            raise

    def _set_state(self, entries: dict[str, str]) -> None:
        self._write_state(lambda log: log.set(self._job, entries))

    def _write_state(self, change: Callable[[StateLog], None]) -> None:
        assert self._state is not None
        try:
            change(self._state)
        except OSError as exc:
            raise SinkError(
                f"cannot write the checkpoint file {STATE_FILE}: {exc.strerror}",
                file=self.config.path,
                hint=RESUME_HINT,
            ) from None

    def replaying(self, rejects: str) -> None:
        """The rows are a replay of ``rejects``: an ``ignore`` note of them is the replay's
        (``leveldb_own.replay_note``), and a load's stays for the load's rerun. Before ``read_state``."""
        self._note = leveldb_own.replay_note(rejects)

    def read_state(self, job: str) -> dict[str, str]:
        assert self._state is not None
        entries = dict(self._state.jobs.get(job, {}))
        self._job = job
        self._recorded = self._recorded or bool(entries)  # before a replace clears them
        self._keys = entries.get(leveldb_keys.KEYS_ENTRY)
        self._own = leveldb_own.OwnRows(entries.get(self._note[0], ""), *self._note)
        if self.config.mode != "ignore" and self._own.logged != leveldb_own.NO_NOTE:
            # a stopped ignore run's note: this mode counts every row it puts as written
            self._own.drop()
            self._set_state(self._own.committed())
        self.sorter.resume(job, entries.get(SORT_ENTRY))
        return entries

    def gone(self, job: str, state: JobState) -> str | None:
        """The checkpoint file holds checkpoints, and the store they tell of was not there when
        this run opened it (LevelDB's ``DestroyDB`` or a user removed its files, and left this
        file it does not know): every job's is stale. The other jobs' are cleared here (their
        rows went too), this job's by the run that starts over."""
        assert self._state is not None
        jobs = sorted(name for name, entries in self._state.jobs.items() if entries)
        if not (self._made and jobs):
            return None
        self._made = False  # asked once a run

        def clear_others(log: StateLog) -> None:
            for other in jobs:
                if other != job:
                    log.clear(other)

        self._write_state(clear_others)
        return _gone_reason(jobs)

    def clear_state(self, job: str, *, now: bool = False) -> None:
        """Forget the job's checkpoint (``--restart``, a replace that starts over, a store gone):
        not how its keys in the store are spelled, which binds the modes that keep them
        (``leveldb_keys``). A store this run made holds none: the record goes too. The file
        forgets it with the run's first checkpoint write (or ``_wipe``), unless ``now``: a run
        refused or stopped before then leaves the job as it was."""
        self.sorter.resume(job, None)  # a restart: the runs of the load it abandons go
        keep = () if self._new_store else (leveldb_keys.KEYS_ENTRY,)
        if now:
            self._write_state(lambda log: log.clear(job, keep))
        else:
            self._write_state(lambda log: log.clear_later(job, keep))
        self._own = leveldb_own.OwnRows("", *self._note)
        if self._new_store:
            self._keys = None

    def column_types(self) -> dict[str, str]:
        """Keys and values declare no column types (the checkpoint records the load's)."""
        return {}

    # ---------------------------------------------------------------- rows

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None:
        check_schema(self.config, schema, self.template)
        leveldb_keys.check(self.config, self.template, schema, self._binding())
        self._finish_inherited_merge()
        if fresh and self.config.mode == "replace":
            self._wipe(schema)
            self._forget_keys()
        self._spelling = leveldb_keys.updated(self.config, self.template, schema, self._binding())
        if self.sorts == "auto" and not self._arm_tried:  # prepare runs for every file
            self._arm_tried = True
            self._arm_tables()

    def _binding(self) -> str | None:
        """How the job's keys are spelled, for this run to keep: the checkpoint's record, or
        this run's spelling once it wrote a key that the next commit records."""
        return self._spelling if self._unrecorded and self._spelling is not None else self._keys

    def _record_spelling(self, job: str) -> None:
        """How this run spells the job's keys, in the checkpoint before the commit that writes
        its first key puts a row in the store (or a run holding it): a run that writes no
        key (every row rejected) binds no later run to types none of its keys were spelled by."""
        if self._unrecorded and self._spelling is not None and self._spelling != self._keys:
            spelling = self._spelling
            self._write_state(lambda log: log.set(job, {leveldb_keys.KEYS_ENTRY: spelling}))
            self._keys = spelling
        self._unrecorded = False

    def _forget_keys(self) -> None:
        """The job's keys are deleted (``replace``): so is the record of their spelling, until
        this run commits a key of its own, and the note that the deletion was under way."""
        assert self._state is not None
        entries = self._state.jobs.get(self._job, {})
        if leveldb_keys.KEYS_ENTRY not in entries and REPLACING_ENTRY not in entries:
            return
        gone = (leveldb_keys.KEYS_ENTRY, REPLACING_ENTRY)
        others = tuple(name for name in entries if name not in gone)
        self._write_state(lambda log: log.clear(self._job, others))
        self._keys = None

    def _finish_inherited_merge(self) -> None:
        """A stopped run's merge, finished before this run writes a row (prepare comes
        first). Its runs hold rows earlier in the input than any this run reads, so they
        reach the store first and this run's values win; and the merge's resume key
        (``after``) stays the resume key of those runs alone, never of runs this run adds.
        A run stopped in the spill phase is merged here too where this run adds no runs to
        it (``sort = never``, mode ``ignore``): it writes straight to the store."""
        sorter = self.sorter
        sorter.require_runs()
        if sorter.spilling and self.sorts == "never":
            for entries in sorter.end_spill({}):  # the last names the merge phase
                self._set_state(entries)
        if sorter.state.phase == "merge":
            self._merge_runs(sorter)

    # ------------------------------------------------------ keys in order, into tables

    def _arm_tables(self) -> None:
        """An empty store (no table file, nothing in its log): while keys come in order
        they are written as table files, each committed with the checkpoints of its rows
        once it reaches its size (``_commit_tables``); the store stays closed (its LOCK
        held) until they stop (``_end_tables``). Decided before any chunk is encoded, so no
        WriteBatch is staged for a closed store."""
        self._close_db()
        try:
            self._lock = self._take_lock()
            self._armed = leveldb_tables.plan(self.target, b"", None)
        finally:
            if self._armed is None:
                self._release_lock()
                self._open_db()

    def _take_lock(self) -> contextlib.AbstractContextManager[None]:
        lock = leveldb_tables.locked(self.target)
        try:
            lock.__enter__()
        except BlockingIOError:
            raise _locked_error(self.config) from None
        return lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def _close_db(self) -> None:
        self._spare.clear()  # WriteBatches belong to the DB object that is closed here
        if self.db is not None:
            self.db.close()
            self.db = None

    def _add_to_tables(self, puts: Puts) -> None:
        if self._tables is None:
            assert self._armed is not None
            self._tables = leveldb_tables.TableLoad(
                self.target,
                self._armed,
                block_size=self.config.block_size,
                file_size=self._table_file_size(),
                compression=self._table_compression(),
            )
            self._armed = None
        try:
            self._tables.add(puts.keys, puts.values)
        except OSError as exc:
            raise _write_error(self.config, exc) from None

    def _commit_tables(self, job: str, *, end: bool) -> None:
        """The table files ended so far (with ``end``, the one being written too) in the
        store's version, then the checkpoint entries of the commits whose rows they hold.
        A commit does not end the file being written, so that files reach their size
        whatever the batches or input files: a load of many small files would otherwise
        leave a file per file, on a level LevelDB never compacts."""
        assert self._tables is not None
        try:
            in_version = self._tables.commit(end=end)
        except OSError as exc:
            raise _write_error(self.config, exc) from None
        done: dict[str, str] = {}
        durable = None
        while self._marks and self._marks[0][0] <= in_version:
            _, durable, entries = self._marks.pop(0)
            done.update(entries)  # entries changed since the commit before: applied in order
        if durable is not None:
            self._write_state(lambda log: log.set(job, done))
            self.durable_commits = durable

    def _end_tables(self) -> None:
        """Keys stopped coming in order, or the input is done: the table files committed
        with their checkpoint, the store opened again."""
        if self._tables is not None:
            self._commit_tables(self._job, end=True)
            assert not self._marks
            self._tables.__exit__(None, None, None)
            self._tables = None
        if self._armed is not None or self._lock is not None:
            self._armed = None
            self._release_lock()
            self._open_db()

    def _keep_committed_tables(self) -> None:
        """A rollback: the rows of the commits that wait in the table file being written are
        kept (the file cut back to the last commit, ended, and listed, then their checkpoint),
        the rows since dropped; as a stop or a failure keeps a batch committed before it. If
        the last commit failed, or this does (a full disk), the rerun reads those rows again."""
        if self._tables is None or not self._marks:
            return
        with contextlib.suppress(OSError, SinkError):
            if self._tables.rewind():
                self._commit_tables(self._job, end=True)

    def _abandon_tables(self) -> None:
        """A rollback: table files not yet committed are left out of any version."""
        if self._tables is not None:
            self._tables.__exit__(RuntimeError, None, None)
            self._tables = None
        self._marks.clear()
        self._armed = None
        self._release_lock()

    def _table_file_size(self) -> int:
        # not below LevelDB's default: a ceiling shrinks what its compaction maps, and these are never compacted
        return max(self.config.max_file_size, 2 << 20)

    def _table_compression(self) -> int:
        return leveldb_tables.SNAPPY if self.config.compression == "snappy" else leveldb_tables.NO_COMPRESSION

    def _wipe(self, schema: pa.Schema) -> None:
        """``replace``: delete the keys this job could have written (checkpoints live in their
        own file), none other (``leveldb_wipe``): those under its template's literal prefix,
        or, without one, every key, refused where the store holds any the job cannot account
        for. Refused too, before a key goes, where another job's keys could be among them
        (its checkpoint would still say its rows are loaded)."""
        assert self._state is not None
        types = leveldb_keys.spelled_types(self.template, schema)
        mine = leveldb_wipe.JobKeys.of(self.template, types, self._keys, recorded=self._recorded)
        others = [job for job, entries in self._state.jobs.items() if job != self._job and entries]
        sharing = [job for job in others if any(not _disjoint(p or "", _job_prefix(job)) for p in mine.ranges())]
        if sharing:
            raise ConfigError(
                "sink.mode = 'replace' would delete keys of "
                + ", ".join(repr(job) for job in sharing)
                + f", loaded into the same LevelDB as {self._job!r}",
                hint="give each job's key a prefix of its own (e.g. 'a:{id}'), "
                "or load this job into a target of its own",
            )
        if mine.whole_store:
            count, sample = leveldb_wipe.foreign(self.db.iterator(include_value=False), mine)
            if count:
                raise leveldb_wipe.foreign_error(self.config.path, self._job, mine, count, sample)
        # a checkpoint a restart forgets goes before the keys it tells of: never one beside a store without them
        self._write_state(lambda log: log.flush_clear(self._job))
        # a rerun after a kill mid-wipe finds the job's checkpoint holding this: its keys
        # left are still its own (``_forget_keys`` drops it once they are gone)
        self._set_state({REPLACING_ENTRY: "1"})
        for prefix in mine.ranges():
            self._delete_keys(b"" if prefix is None else prefix.encode("utf-8"))

    def _delete_keys(self, prefix: bytes) -> None:
        """Delete every key starting with ``prefix``; in bounded batches, which a rerun after a
        crash mid-way deletes again."""
        wb = self.db.write_batch(transaction=True)
        for n, k in enumerate(self.db.iterator(prefix=prefix, include_value=False), 1):
            wb.delete(k)
            if n % WIPE_BATCH == 0:
                wb.write()
                wb = self.db.write_batch(transaction=True)
        wb.write()

    def encoder_batch(self) -> Any:
        """An empty WriteBatch for the encoder, or None while rows go to sorted runs or
        table files."""
        if self.sorts == "always" or self.sorter.spilling or self.db is None:
            return None
        return self.empty_batch()

    def empty_batch(self) -> Any:
        """An empty WriteBatch for the encoder to stage a chunk's puts in: a spare one
        if a commit has handed one back (a cleared WriteBatch keeps its buffer, where a
        new one grows by doubling). Called from encoding threads: deques are thread-safe."""
        try:
            return self._spare.popleft()
        except IndexError:
            return self.db.write_batch(transaction=True, sync=self.config.sync)

    def _write_staged(self, encoded: Encoded) -> int:
        """A WriteBatch staged by the encoder joins the open batch; or, once keys came
        out of order (``sink.sort``), the keys and values join the sorter's run."""
        puts: Puts | None = encoded.payload
        sorter = self.sorter
        if self.sorts != "never":  # a chunk of no puts too: its input bytes count for the growth
            sorter.seen(0 if puts is None else puts.keys.nbytes + puts.values.nbytes, encoded.chunk.bytes_read)
        if puts is None:
            return 0
        self._unrecorded = self._unrecorded or len(puts.keys) > 0
        if self.sorts != "never":
            if sorter.spilling or not self._ascends(puts):
                self._end_tables()
                self._hold(sorter, puts)
                return encoded.num_rows
            self._last_key = puts.keys[-1].as_py()
            if self.db is None:
                self._add_to_tables(puts)
                return encoded.num_rows
        self.staged.append(
            puts.staged if puts.staged is not None else stage(self.empty_batch(), puts.keys, puts.values)
        )
        self._staged_bytes += puts.keys.nbytes + puts.values.nbytes
        return encoded.num_rows

    def full(self) -> bool:
        """The sorter's run is full, or the staged WriteBatches hold ``batch_size`` rows'
        worth of bytes (``BATCH_ROW_BYTES`` each)."""
        if self.sorter.spilling:
            return self.sorter.full()
        return self._staged_bytes >= self._batch_bytes

    def _ascends(self, puts: Puts) -> bool:
        """Whether the chunk's keys continue the ascending order of those written directly."""
        if self.sorts == "always" or not puts.ascending:
            return False
        return self._last_key is None or puts.keys[0].as_py() > self._last_key

    def _hold(self, sorter: Sorter, puts: Puts) -> None:
        if not sorter.spilling:
            sorter.start()
        if puts.staged is not None:  # staged before the writer began to sort
            puts.staged.clear()
        sorter.add(puts.keys, puts.values)

    def _write_new_keys(self, encoded: Encoded) -> int:
        """``ignore``: put only keys that are neither stored nor in the open batch;
        rows whose key was there are counted apart."""
        puts: Puts | None = encoded.payload
        if puts is None:
            return 0
        wb = self.empty_batch()
        self.staged.append(wb)
        self._staged_bytes += puts.keys.nbytes + puts.values.nbytes
        put, get, staged = wb.put, self.db.get, self._staged_keys
        bits = self._own.bits
        inherited = self._own.inherited_of(self._own.stream)
        written = 0
        for ks, vs in as_bytes(puts.keys, puts.values):
            for k, v in zip(ks, vs, strict=True):
                # the database does not see the open batch: its keys are remembered here
                if k in staged:
                    bits.append(0)
                elif get(k) is None:
                    staged.add(k)
                    put(k, v)
                    bits.append(1)
                elif self._own.stopped_run_put(inherited):
                    staged.add(k)  # the job's own
                    bits.append(1)
                else:
                    bits.append(0)
                written += bits[-1]
        self._unrecorded = self._unrecorded or written > 0
        return written

    def commit(self, job: str, state: dict[str, str]) -> None:
        """The staged rows written with ``state``; rows held for a sorted run are durable,
        and ``state`` written, only once that run is (``durable_commits`` says when)."""
        self._handed += 1
        self._record_spelling(job)
        if self.config.mode == "ignore" and self.staged:
            self._note_own(job)
        self._write_batches(self.staged)
        if self._tables is not None:
            # rows in table files are committed with the MANIFEST that lists their file:
            # until then their checkpoint entries wait (a rerun reads those rows again)
            self._marks.append((self._tables.rows_added, self._handed, state))
            self._commit_tables(job, end=False)
            return
        sorter = self.sorter
        if sorter.spilling:
            # Held rows are committed with the run that holds them: until it is
            # complete, the checkpoint entries wait (a rerun reads those rows again).
            self._pending.update(state)
            if not sorter.full():
                return
            with self._salvaging(job):
                done = sorter.spill(self._pending, self._handed)
            self._pending = {}
            if done is None:
                return
            self._write_state(lambda log: log.set(job, done))
            self.durable_commits = sorter.complete_mark
            return
        self._write_state(lambda log: log.set(job, state | self._own.committed()))
        self.durable_commits = self._handed

    def _note_own(self, job: str, part: str | None = None) -> None:
        """``ignore``: which rows of the open batch (of the part) put their key, in the
        checkpoint before its WriteBatches are written (``leveldb_own``)."""
        text = self._own.intent(part)
        if text is not None:
            self._write_state(lambda log: log.set(job, {self._own.key: text}))
            self._own.logged = text

    def _write_batches(self, batches: list[Any]) -> None:
        try:
            # One Write each, GIL released. A crash between two leaves rows without
            # their checkpoint; the rerun puts them again, and puts are idempotent.
            for wb in batches:
                wb.write()
                wb.clear()
                self._spare.append(wb)
        except plyvel.Error as exc:
            raise SinkError(f"LevelDB write failed: {_text(exc)}", file=self.config.path, hint=RESUME_HINT) from None
        finally:
            batches.clear()
            self._staged_bytes = 0
            self._staged_keys.clear()

    def merge_part(
        self, files: list[str], rows: int, job: str, entries: Callable[[int, int, list[Any]], dict[str, str]]
    ) -> None:
        """A part's sorted runs (``files``, in input order), with the checkpoint
        ``entries(written, ignored, refused)`` (a store refuses no row): taken in as runs of the sorted ingest, merged with
        every other part's when the load ends (``finish``); under ``sort = never`` or
        ``ignore``, merged into key-ordered WriteBatches at once, then the checkpoint (a
        crash between the two puts the part again: puts are idempotent)."""
        self._unrecorded = self._unrecorded or rows > 0
        self._record_spelling(job)
        sorter = self.sorter
        if self.sorts != "never":
            sorter.adopt(files)
            self._write_state(lambda log: log.set(job, entries(rows, 0, []) | sorter.state.entry()))
            return
        if self.config.mode == "ignore":
            self._merge_part_ignoring(files, rows, job, entries)
            return
        try:
            for table in merge_runs(files, "last"):  # one run: its batches as they are
                wb = self.db.write_batch(transaction=True, sync=self.config.sync)
                for ks, vs in as_bytes(table.column("key").combine_chunks(), table.column("value").combine_chunks()):
                    collections.deque(map(wb.put, ks, vs), maxlen=0)
                wb.write()
        except plyvel.Error as exc:
            raise SinkError(f"LevelDB write failed: {_text(exc)}", file=self.config.path, hint=RESUME_HINT) from None
        self.commit(job, entries(rows, 0, []))

    def _merge_part_ignoring(
        self, files: list[str], rows: int, job: str, entries: Callable[[int, int, list[Any]], dict[str, str]]
    ) -> None:
        """``ignore``: the part's rows whose key is not stored yet (of a key's rows the first),
        in key order, in WriteBatches of about ``MERGE_BYTES``; before each group is written the
        checkpoint notes which of the part's rows so far put their key (``leveldb_own``: a
        rerun stopped before the part's checkpoint counts them written), then the checkpoint."""
        part = leveldb_own.part_of(files)
        inherited, bits = self._own.inherited_of(part), self._own.bits
        get = self.db.get
        batches: list[Any] = []
        size = 0
        try:
            for table in merge_runs(files, "first"):  # one run: its batches as they are
                wb = self.empty_batch()
                for ks, vs in as_bytes(table.column("key").combine_chunks(), table.column("value").combine_chunks()):
                    for k, v in zip(ks, vs, strict=True):
                        if get(k) is None:
                            wb.put(k, v)
                            bits.append(1)
                        else:  # stored: the job's own if a run stopped before its checkpoint put it
                            bits.append(1 if self._own.stopped_run_put(inherited) else 0)
                batches.append(wb)
                size += table.nbytes
                if size >= MERGE_BYTES:
                    self._note_own(job, part)
                    self._write_batches(batches)
                    size = 0
            self._note_own(job, part)
            self._write_batches(batches)
        except plyvel.Error as exc:
            raise SinkError(f"LevelDB write failed: {_text(exc)}", file=self.config.path, hint=RESUME_HINT) from None
        written = bits.count(1)
        bits.clear()
        self._own.drop()  # the part's note goes with its checkpoint
        self.commit(job, entries(written, rows - written, []))

    def finish(self) -> None:
        """The input is done: rows held for sorting are written in key order (directly
        when they never filled a run, else through the merge of the runs): as table
        files beside the store's own when it holds nothing in their key range
        (``leveldb_tables``), else through WriteBatches."""
        self._own.drop()  # the last commit drops the note: no row it tells of is read again
        self._end_tables()
        sorter = self.sorter
        sorter.require_runs()  # no file read: no ``prepare`` asked
        if sorter.spilling and not sorter.has_runs:
            assert sorter.spiller is not None
            table = sorter.spiller.take_sorted()
            keys = table.column(0)
            if table.num_rows and not self._ingest([table], keys[0].as_py(), keys[-1].as_py()):
                self._write_batches([self._staged(b) for b in slices(table, MERGE_ROWS, MERGE_BYTES)])
            sorter.finished()
            self._set_state(self._pending | sorter.state.entry())
            self.durable_commits = self._handed
            sorter.remove_runs()
        elif sorter.spilling:
            with self._salvaging(self._job):
                for entries in sorter.end_spill(self._pending, self._handed):
                    self._set_state(entries)
                    self.durable_commits = sorter.complete_mark
        self._pending = {}
        if sorter.state.phase == "merge":
            self._merge_runs(sorter)  # one that stops says where its rows wait (``_settle_runs``)

    def _merge_runs(self, sorter: Sorter) -> None:
        """The merge phase: groups of runs merged first where there are too many, then
        every run into the store (as table files where it can), then the runs removed."""
        for entries in sorter.merge_groups(self.merge_processes):
            self._set_state(entries)
            stopping.check()
        whole = sorter.state.after is None  # a merge through WriteBatches resumes after its last key
        # no runs: a spill phase of parts with no rows (``merge_part``), ended by ``_finish_inherited_merge``
        if sorter.state.runs and not (whole and self._ingest_merged(sorter)):
            self._merge(sorter)
        sorter.finished()
        self._set_state(sorter.state.entry())
        sorter.remove_runs()  # after the checkpoint that no longer names them

    def _ingest(self, rows: Iterable[pa.Table], lo: bytes, hi: bytes) -> bool:
        """Sorted, unique ``rows`` added to the store as bottom-level table files, if the
        store holds nothing between their first and last keys ``lo`` and ``hi``; False,
        with nothing written, if it does."""

        def write(version: leveldb_tables.Version) -> None:
            leveldb_tables.ingest(self.target, version, _columns(rows), **self._table_options())

        return self._into_tables(lo, hi, write)

    def _ingest_merged(self, sorter: Sorter) -> bool:
        """The runs merged into bottom-level table files, as ``_ingest``; split into key
        ranges merged at once by ``merge_processes`` forked processes where that is safe
        and the runs are worth it (the merge is Python's work, one core's, GIL held)."""
        runs = sorter.state.runs
        ranges = split_ranges(runs, self.merge_processes)
        if not ranges:
            return self._ingest(_stopping(sorter.merged()), *run_bounds(runs))
        held = sorter.merge_held_bytes()
        span = leveldb_tables.numbers_needed(sum(os.path.getsize(p) for p in runs), self._table_file_size())

        def write(version: leveldb_tables.Version) -> None:
            leveldb_tables.remove_orphans(self.target, version)
            sequence = version.last_sequence + 1

            def merge_range(i: int) -> list[leveldb_tables.TableFile]:  # in a process of its own, its own file numbers
                after, through = ranges[i]
                merged = merge_runs(runs, sorter.keep, after=after, through=through, held_bytes=held)
                first = version.next_file + i * span
                return leveldb_tables.write_tables(
                    self.target, first, sequence, _columns(merged), **self._table_options()
                )

            done = forking.fork_map(merge_range, range(len(ranges)), check=stopping.check)
            sorter.add_worker_peak(max(peak for _, peak in done))
            files = [f for written, _ in done for f in written]
            leveldb_tables.commit_files(self.target, version, files, sequence, version.next_file + len(ranges) * span)

        return self._into_tables(*run_bounds(runs), write)

    def _table_options(self) -> dict[str, int]:
        return {
            "block_size": self.config.block_size,
            "file_size": self._table_file_size(),
            "compression": self._table_compression(),
        }

    def _into_tables(self, lo: bytes, hi: bytes, write: Callable[[leveldb_tables.Version], None]) -> bool:
        """``write`` run with the store's version, if the store holds nothing between ``lo``
        and ``hi``; False, with nothing written, if it does. The store is closed meanwhile
        and its LOCK held by this process."""
        self._close_db()
        pa.default_memory_pool().release_unused()  # the reading's buffers, before the merge's
        try:
            self._lock = self._take_lock()
            version = leveldb_tables.plan(self.target, lo, hi)
            if version is not None:
                write(version)
        except OSError as exc:
            error = _write_error(self.config, exc)
            self._after_failed_tables(error)
            raise error from None
        except BaseException as exc:
            self._after_failed_tables(exc)
            raise
        self._release_lock()
        self._open_db()
        return version is not None

    def _after_failed_tables(self, error: BaseException) -> None:
        """Writing table files failed (a full disk, a stop): the files it wrote, in no version,
        removed (the store is closed, its LOCK still held: LevelDB would remove them when it
        next opens the store, which a full disk may prevent), then the store opened again.
        The error stays the one shown, with its hint: a reopen that fails too (LevelDB cannot
        write its log on a full disk) is left to the rerun, files not removed are a note."""
        if self._lock is not None:
            try:
                leveldb_tables.remove_orphans(self.target, leveldb_tables.read_version(self.target))
            except (OSError, leveldb_tables.FormatError):
                note = f"the table files it left in {self.target} go when LevelDB next opens the store"
                if isinstance(error, LoaderError):
                    error.hint = f"{error.hint}; {note}" if error.hint else note
        self._release_lock()
        with contextlib.suppress(LoaderError):
            self._open_db()

    def _staged(self, rows: pa.Table | pa.RecordBatch) -> Any:
        return stage(self.empty_batch(), rows.column(0), rows.column(1))

    def _merge(self, sorter: Sorter, *, mark: bool = True) -> None:
        """The runs merged into the store through WriteBatches in key order, the last
        key written checkpointed with each (``mark``); a rerun resumes after it."""
        pieces = (b for t in sorter.merged() for b in slices(t, MERGE_ROWS, MERGE_BYTES))
        staged = ((self._staged(b), b.column(0)[-1].as_py()) for b in pieces if b.num_rows)
        for wb, last in prefetch(staged, 2):  # merged and staged in a thread, written here
            self._write_batches([wb])
            if mark:
                sorter.state.after = last
                self._set_state(sorter.state.entry())
            stopping.check()


def _columns(tables: Iterable[pa.Table]) -> Iterator[tuple[pa.Array, pa.Array]]:
    """Keys and values of sorted tables, in slices: the copies made downstream (table
    entries, blocks) stay small. Merged and written in one thread: a second one only
    contended for the GIL."""
    for table in tables:
        for b in slices(table, INGEST_ROWS, INGEST_BYTES):
            if b.num_rows:
                yield b.column(0), b.column(1)


def _stopping(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``tables``, checking for a stop before each (the merge writing table files: a stop
    abandons them, and the rerun writes them again)."""
    for table in tables:
        stopping.check()
        yield table
