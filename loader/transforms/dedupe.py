"""The ``dedupe`` stage, and the key store it shares with ``validate``'s ``unique`` rule.

Keys seen during a run live in a SQLite side table, not in a Python set, so
memory stays bounded however many distinct keys a run has: SQLite keeps a
fixed page cache (16 MB here) and the rest on disk. Per batch:

1. duplicates inside the batch are found column-wise with an Arrow
   ``group_by`` (the first row of each key wins);
2. the remaining keys go into a small temp table with one ``executemany``;
3. one ``LEFT JOIN`` against the keyed table (``PRIMARY KEY`` on the key
   columns) finds which are new; ``INSERT OR IGNORE`` then records them.

Each key remembers the (file, version, row) that claimed it first. When a resumed
run reads that same row of the same version of the file again, it is recognised as
the owner and kept, so keys recorded just before a crash do not turn their own rows
into duplicates; a reloaded version of the file (``run.on_change = "reload"``) or a
later run's standard input is another version, whose rows own no key claimed before.
Without ``state_path`` the table lives in a temporary directory removed by
``close()``; with ``state_path`` it is kept, so a resumed run remembers keys.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

from .. import kernels, stopping
from ..chunk import Chunk, source_path
from ..config import PATH, unwritable_dir
from ..errors import RESUME_HINT, ConfigError, LoaderError, TargetLockedError
from ..types import type_name
from ..writers.sqlite_errors import DISK_FULL, is_full
from ._base import PER_RUN, StageBase

_CACHE_KIB = 16 * 1024
# SQLite's own wait for the store's lock, a slice at a time: between two, a stop is looked for
# (``stopping.wait_while_busy``), up to the sink's busy_timeout in all
_BUSY_SLICE_S = 0.2
T = TypeVar("T")


def _real_source(file: str) -> str:
    """A source file's identity in the store: its real path (links resolved); a remote file's
    URI and ``-`` as they are."""
    path = source_path(file)
    return os.path.realpath(path) if os.path.isabs(path) else path


def _cleanup(conn: sqlite3.Connection, tmpdir: str | None) -> None:
    try:
        conn.close()
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _sqlite_column(arr: pa.Array, *, stage: str, column: str) -> pa.Array:
    """A key column in a form sqlite3 can bind: int64, text or bytes."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = kernels.cast(arr, t.value_type), t.value_type
    if pa.types.is_boolean(t) or (pa.types.is_integer(t) and not pa.types.is_uint64(t)):
        return kernels.cast(arr, pa.int64())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return arr
    try:
        # Floats, dates, timestamps, decimals, uint64: exact text, one form per value.
        return kernels.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ConfigError(
            f"columns: key column {column!r} is {type_name(t)}; keys must be plain values", stage=stage, column=column
        ) from None


def canonical_floats(arr: pa.Array) -> pa.Array:
    """A float key column with -0.0 read as 0.0 and every NaN as one NaN: SQL's DISTINCT
    merges them, though they hash apart (and -0.0 is '-0' as text)."""
    if pa.types.is_dictionary(arr.type) and pa.types.is_floating(arr.type.value_type):
        arr = kernels.cast(arr, arr.type.value_type)
    t = arr.type
    if pa.types.is_float16(t):  # Arrow adds no halffloats; float32 holds each exactly
        return kernels.cast(canonical_floats(kernels.cast(arr, pa.float32())), t)
    if not pa.types.is_floating(t):
        return arr
    out = kernels.add(arr, pa.scalar(0.0, t))  # -0.0 + 0.0 is 0.0
    nan = kernels.is_nan(out)
    if _any(nan):  # -NaN keeps its sign bit
        out = kernels.if_else(nan, pa.scalar(float("nan"), t), out)
    return out


def _any(mask: pa.Array) -> bool:
    return bool(kernels.any(mask).as_py())


def _filler(t: pa.DataType) -> pa.Scalar:
    """The fixed stand-in stored for a null key part (the nulls bitmask tells them apart)."""
    if pa.types.is_integer(t):
        return pa.scalar(0, t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.scalar(b"", t)
    return pa.scalar("", t)


def check_store_directory(state_path: str, stage: str) -> None:
    """Refused (exit 2): a key store whose directory does not exist, or that this process cannot
    create files in (the store's -wal and -shm files live beside it). Checked by the dry run as
    by the run, before anything is written: every run would fail alike."""
    parent = os.path.dirname(os.path.abspath(state_path))
    if not os.path.isdir(parent):
        raise ConfigError(f"state_path: directory {parent} does not exist", stage=stage)
    if unwritable_dir(state_path):
        path = os.path.abspath(state_path)
        raise ConfigError(
            f"state_path: cannot create the key store {path}: its directory is not writable",
            stage=stage,
            hint="give state_path a path in a writable directory (next to the target, say)",
            verbatim=(path,),
        )


class KeyStore:
    """Keys seen so far in a run, in SQLite, one table per key spec."""

    def __init__(self, state_path: str | None, *, stage: str, busy_timeout: float = 30.0) -> None:
        self.stage = stage
        self.path, self.busy_timeout = state_path, busy_timeout
        self._tmpdir: str | None = None
        if state_path:
            path = state_path
            check_store_directory(path, stage)
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="loader-keys-")
            path = os.path.join(self._tmpdir, "keys.sqlite")
        self._db = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_SLICE_S)
            if state_path:
                self._run("PRAGMA journal_mode=WAL")
                self._run("PRAGMA synchronous=NORMAL")
            else:  # scratch data: durability buys nothing
                self._run("PRAGMA journal_mode=OFF")
                self._run("PRAGMA synchronous=OFF")
            self._run(f"PRAGMA cache_size=-{_CACHE_KIB}")
            self._run(
                "CREATE TABLE IF NOT EXISTS key_tables (id INTEGER PRIMARY KEY, spec TEXT UNIQUE NOT NULL, width INTEGER)"
            )
            self._run("CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL)")
        except sqlite3.Error as exc:
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise LoaderError(f"state_path: cannot open key store {path}: {exc}", stage=stage) from None
        except LoaderError:  # locked by another run, or its disk full
            _cleanup(self.conn, self._tmpdir)
            raise
        self._finalizer = weakref.finalize(self, _cleanup, self.conn, self._tmpdir)
        self._tables: dict[str, tuple[str, int]] = {}
        self._files: dict[str, int] = {}
        self._linked: dict[str, int] | None = None  # recorded links' real paths: their files' ids

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """A statement outside a transaction (or BEGIN IMMEDIATE): one that found the store
        locked by another run changed nothing, and is tried again (``_waiting``)."""
        return self._waiting(lambda: self.conn.execute(sql, params))

    def _waiting(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` while another run holds the store, up to ``busy_timeout`` as the
        target is waited for, a stop looked for between slices; then exit 75 naming it."""
        deadline = time.monotonic() + self.busy_timeout
        try:
            return stopping.wait_while_busy(attempt, _locked, deadline)
        except sqlite3.OperationalError as exc:
            if is_full(exc):
                raise self._full() from None
            if not _locked(exc):
                raise
            raise TargetLockedError(
                f"state_path: the key store {self.path} is locked by another run "
                f"(still locked after sink.busy_timeout = {self.busy_timeout:g}s)",
                stage=self.stage,
                hint="another load keeps its keys in this store now; retry when it ends, or give each job its own state_path",
                names=("sink.busy_timeout",),
            ) from None

    def _table(self, spec: str, width: int) -> str:
        if spec in self._tables:
            return self._tables[spec][0]
        row = self._run("SELECT id, width FROM key_tables WHERE spec = ?", (spec,)).fetchone()
        if row is None:
            self._run("INSERT INTO key_tables (spec, width) VALUES (?, ?)", (spec, width))
            row = self._run("SELECT id, width FROM key_tables WHERE spec = ?", (spec,)).fetchone()
        name = f"keys_{row[0]}"
        ks = ", ".join(f"k{i}" for i in range(width))
        # Untyped key columns keep values as bound; "nulls" is a bitmask of null key parts
        # (their k column holds a filler), so null is a key value like any other.
        self._run(
            f"CREATE TABLE IF NOT EXISTS {name} ({ks}, nulls INTEGER NOT NULL, src INTEGER, row INTEGER, "
            f"version INTEGER, PRIMARY KEY ({ks}, nulls)) WITHOUT ROWID"
        )
        columns = {r[1] for r in self._run(f"PRAGMA table_info({name})")}
        if "version" not in columns:  # a store from before claims recorded the file's version:
            self._run(f"ALTER TABLE {name} ADD COLUMN version INTEGER")  # its claims read as the first's
        self._run(f"CREATE TEMP TABLE IF NOT EXISTS new_{name} (row INTEGER PRIMARY KEY, {ks}, nulls INTEGER)")
        self._tables[spec] = (name, width)
        return name

    def _candidates(self, table: str, rows: pa.Array, keys: Sequence[pa.Array], names: Sequence[str]) -> None:
        """Put the rows' keys (canonical, bindable, null parts folded into a bitmask) in
        ``table``'s temp table, inside the caller's transaction."""
        bound, nulls = [], None
        for i, (k, name) in enumerate(zip(keys, names, strict=True)):
            col = _sqlite_column(k, stage=self.stage, column=name)
            if col.null_count:
                bit = kernels.multiply(kernels.cast(kernels.is_null(col), pa.int64()), 1 << i)
                nulls = bit if nulls is None else kernels.add(nulls, bit)
                col = kernels.fill_null(col, _filler(col.type))
            bound.append(col.to_pylist())
        null_list = nulls.to_pylist() if nulls is not None else [0] * len(rows)
        ks = ", ".join(f"k{i}" for i in range(len(keys)))
        marks = ", ".join("?" for _ in range(len(keys) + 2))
        self.conn.executemany(
            f"INSERT INTO new_{table} (row, {ks}, nulls) VALUES ({marks})",
            zip(rows.to_pylist(), *bound, null_list, strict=True),
        )

    def _free(self, table: str, width: int, src: int, version: int) -> set[int]:
        """The temp table's rows whose key is new, or was claimed by this very row of this
        version of the file (a resumed run). A claim from before versions were recorded is
        the first version's."""
        on = " AND ".join(f"s.k{i} = b.k{i}" for i in range(width))
        found = self.conn.execute(
            f"SELECT b.row FROM new_{table} b LEFT JOIN {table} s ON {on} AND s.nulls = b.nulls "
            f"WHERE s.nulls IS NULL OR (s.src = ? AND s.row = b.row AND IFNULL(s.version, 1) = ?)",
            (src, version),
        )
        return {r for (r,) in found}

    def _claim(self, table: str, width: int, src: int, version: int, taken: Sequence[int] = ()) -> None:
        """Record the temp table's keys, but those of the rows ``taken`` (which claim nothing), as
        this version's rows', a key claimed already keeping its claim; empty the temp table."""
        c = self.conn
        c.executemany(f"DELETE FROM new_{table} WHERE row = ?", ((r,) for r in taken))
        ks = ", ".join(f"k{i}" for i in range(width))
        c.execute(
            f"INSERT OR IGNORE INTO {table} ({ks}, nulls, src, row, version) SELECT {ks}, nulls, ?, row, ? FROM new_{table}",
            (src, version),
        )
        c.execute(f"DELETE FROM new_{table}")

    def _transaction(self, work: Callable[[], T]) -> T:
        """``work()`` in one write transaction of the store."""
        # IMMEDIATE: the write lock up front, waited for; a read turned write inside a
        # transaction would fail at once ("database is locked") while another run writes
        self._run("BEGIN IMMEDIATE")
        try:
            out = work()
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # A COMMIT that failed on a full disk has rolled back already: a ROLLBACK then
            # raises "no transaction is active" in place of the cause
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and is_full(exc):
                raise self._full() from None
            raise
        return out

    def _full(self) -> LoaderError:
        """The store's disk is full: said as the target's is (``db_error``), naming the store and,
        without ``state_path``, the temporary directory it lives in (TMPDIR) as the disk to change."""
        if self._tmpdir:
            where = (
                f"without state_path the key store lives in the temporary directory "
                f"({os.path.dirname(self._tmpdir)}): set TMPDIR or state_path to a larger disk"
            )
        else:
            where = "free space on its disk, or set state_path to a larger one"
        return LoaderError(
            f"key store {self._db}: {DISK_FULL}", stage=self.stage, hint=f"{where}; {RESUME_HINT}", verbatim=(self._db,)
        )

    def _file_id(self, file: str) -> int:
        """The store's id for a source file, known by its real path: a run resumed through
        another spelling of it (from another directory, through a linked folder) owns the keys
        its rows claimed, as the checkpoint knows its half-loaded entry (``state.plan_files``)."""
        if file not in self._files:
            found = self._recorded_id(file)
            if found is None:
                real = _real_source(file)
                self._run("INSERT OR IGNORE INTO files (path) VALUES (?)", (real,))
                found = self._run("SELECT id FROM files WHERE path = ?", (real,)).fetchone()[0]
            self._files[file] = found
        return self._files[file]

    def _recorded_id(self, file: str) -> int | None:
        """The id a store already holds for ``file``. One an earlier version kept knows it by its
        absolute path, or by its name as spelled then (relative to where that run started), or
        by another spelling that reaches the same file (a link): the last, looked up once."""
        real, path = _real_source(file), source_path(file)
        spellings = (real, path, file)
        row = self._run(
            "SELECT id FROM files WHERE path IN (?, ?, ?) ORDER BY path = ? DESC, path = ? DESC",
            (*spellings, real, path),
        ).fetchone()
        if row is not None:
            return int(row[0])
        if self._linked is None:
            recorded = self._run("SELECT id, path FROM files").fetchall()
            self._linked = {}
            for i, p in recorded:
                if os.path.isabs(p) and os.path.realpath(p) != p:
                    self._linked.setdefault(os.path.realpath(p), i)
        return self._linked.get(real)

    def first_seen(
        self,
        spec: str,
        keys: Sequence[pa.Array],
        rows: pa.Array,
        file: str,
        names: Sequence[str],
        version: int | None = None,
    ) -> pa.Array:
        """True for each row whose key is new to the run (or was claimed by this very row of
        this ``version`` of the file: ``Chunk.version``, None the first).

        ``rows`` are the source row numbers (unique within a chunk); they order
        the rows, so the first of equal keys in a batch wins.
        """
        n = len(rows)
        if n == 0:
            return pa.array([], pa.bool_())
        keys = [canonical_floats(k) for k in keys]
        # 1. Within the batch, column-wise: the first row of each distinct key.
        cols = {f"k{i}": k for i, k in enumerate(keys)}
        grouped = (
            pa.table({**cols, "__row": rows}).group_by(list(cols), use_threads=False).aggregate([("__row", "min")])
        )
        firsts = grouped.column("__row_min").combine_chunks()
        first_mask = kernels.is_in(rows, value_set=firsts)
        cand = first_mask if len(firsts) < n else None
        cand_rows = kernels.filter(rows, cand) if cand is not None else rows
        cand_keys = [kernels.filter(k, cand) for k in keys] if cand is not None else keys
        table = self._table(spec, len(keys))
        src, at = self._file_id(file), version or 1

        def claim() -> set[int]:
            # 2. The candidates' keys into the temp table; 3. new keys, or keys this same source
            # row of this version claimed before (a resumed run); then recorded.
            self._candidates(table, cand_rows, cand_keys, names)
            free = self._free(table, len(keys), src, at)
            self._claim(table, len(keys), src, at)
            return free

        ok = self._transaction(claim)
        if len(ok) == len(cand_rows):
            return first_mask
        return kernels.and_(first_mask, kernels.is_in(rows, value_set=pa.array(sorted(ok), pa.int64())))

    def repeated_each(
        self, columns: Sequence[tuple[str, pa.Array, str]], rows: pa.Array, file: str, version: int | None = None
    ) -> list[pa.Array]:
        """For several one-column keys (spec, values, name) checked together (``validate``'s
        ``unique`` on several columns): per column, the rows that repeat a value seen before.
        A row repeats at most one, the first it repeats; it claims none of its values, so the
        next row with one of them is its first (a row rejected for a later column claimed the
        value of an earlier one, and a valid row with it was rejected). Nulls repeat nothing."""
        n = len(rows)
        values = [_sqlite_column(canonical_floats(a), stage=self.stage, column=name) for _, a, name in columns]
        tables = [self._table(spec, 1) for spec, _, _ in columns]
        src, at = self._file_id(file), version or 1
        numbers = rows.to_pylist()

        def claim() -> list[list[bool]]:
            held: list[set[int]] = []  # per column: the rows whose value another row claimed
            for table, col, (_, _, name) in zip(tables, values, columns, strict=True):
                present = kernels.is_valid(col)
                some = kernels.filter(rows, present) if col.null_count else rows
                self._candidates(table, some, [kernels.filter(col, present) if col.null_count else col], [name])
                held.append(set(some.to_pylist()) - self._free(table, 1, src, at))
            repeats = _repeats([c.to_pylist() for c in values], numbers, held)
            taken = [numbers[j] for j in range(n) if any(r[j] for r in repeats)]
            for table in tables:
                self._claim(table, 1, src, at, taken)
            return repeats

        return [pa.array(r, pa.bool_()) for r in self._transaction(claim)]

    def close(self) -> None:
        self._finalizer()


def _repeats(values: list[list[Any]], rows: list[int], held: list[set[int]]) -> list[list[bool]]:
    """Per column, the rows (in order) that repeat a value: one another row holds (``held``),
    or one an earlier row of the batch kept. A row flags its first such column and keeps no value."""
    seen: list[set[Any]] = [set() for _ in values]
    out = [[False] * len(rows) for _ in values]
    for j, row in enumerate(rows):
        bad = next(
            (i for i, col in enumerate(values) if col[j] is not None and (row in held[i] or col[j] in seen[i])),
            None,
        )
        if bad is not None:
            out[bad][j] = True
            continue
        for i, col in enumerate(values):
            if col[j] is not None:
                seen[i].add(col[j])
    return out


def _locked(exc: Exception) -> bool:
    """SQLite's busy answer: another connection holds the store's lock."""
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)


@dataclass(kw_only=True)
class Dedupe(StageBase):
    """Drop rows whose key (``columns``) was seen before in the run; they count as filtered.

    Nulls in key columns compare equal (as in SQL ``DISTINCT``).
    """

    kind: ClassVar[str] = "dedupe"
    columns: list[str]
    state_path: str | None = field(default=None, metadata=PATH)  # in a job file, next to it (``rebase_paths``)
    name: str = ""
    store_wait: float = field(default=30.0, init=False, repr=False)  # the sink's busy_timeout (``wait_as_sink``)
    _store: KeyStore | None = field(default=None, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.names("columns", self.columns)
        if self.state_path is not None:
            self.text("state_path", self.state_path)

    @property
    def remembers_rows(self) -> bool:
        return True

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        self.require(batch.schema, self.columns)
        if batch.num_rows == 0:
            return chunk
        if self._store is None:  # opened lazily: building a plan must not create files
            self._store = KeyStore(self.state_path, stage=self.name, busy_timeout=self.store_wait)
        keys = [batch.column(c) for c in self.columns]
        mask = self._store.first_seen(
            "dedupe:" + json.dumps(self.columns), keys, chunk.rows, chunk.file, self.columns, chunk.version
        )
        return chunk.keep(mask)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
