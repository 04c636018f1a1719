"""SQLite writer: Arrow batches bound in C through ADBC, one transaction per batch.

Rows never become Python objects: the sink's encoder (``loader.sinks.sqlite``) turns
each batch into SQLite-ready Arrow columns (``sqlite_array``) off this thread, and ADBC's SQLite driver binds
them column by column into one prepared INSERT, in C and without the GIL, so
parsing the next block runs on the other core meanwhile. Every identifier is
quoted, so any column name works and none can inject SQL. The checkpoint
lives in the ``_loader_state`` table and is written inside the same
transaction as the rows it describes: after a crash, rows and checkpoint agree.

ADBC's driver carries its own SQLite library. Two SQLite libraries must never
hold the same file open in one process (their POSIX locks would not see each
other), so the loader opens its targets only through this writer.

Beside it: ``sqlite_refusals`` (rows the table's own constraints refuse, taken out of a
batch and named), ``sqlite_schema`` (the checks made before a load and by ``--dry-run``,
and the read-only ``peek``), ``sqlite_errors`` (SQLite's failures in the user's words).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import pyarrow as pa
from adbc_driver_manager import Error as AdbcError

from .. import stopping, suggest
from ..config import SinkConfig
from ..errors import (
    PARTS_KEPT_HINT,
    ConfigError,
    ConstraintError,
    EngineError,
    LoaderError,
    SchemaMismatchError,
    SinkError,
)
from ..sinks.base import Encoded
from ..state import REPLACING_ENTRY, JobState, rows_committed, table_job
from ..suggest import fold
from ..types import is_utf8
from .base import Refused, Transactional, check_generated, check_required, new_columns
from .encode import sqlite_type
from .sqlite_errors import db_error, is_locked, sqlite_message
from .sqlite_refusals import Guards, Refusals, RefusalStop, foreign_keys, read_guards, refused_rejects
from .sqlite_schema import (
    KIND_SQL,
    STAGE_TABLE,
    STATE_TABLE,
    TABLE_OBJECTS_SQL,
    Rows,
    check_dependents,
    check_kind,
    check_names,
    check_table,
    check_target,
    declared_types,
    file_uri,
    first_values,
    full_indexes,
    generated_columns,
    index_name,
    insert_sql,
    is_strict,
    is_virtual,
    job_rows,
    key_error,
    partial_key,
    quote,
    replace_stage,
    required_columns,
    rowid_name,
    rows_table,
    stage_seq,
    state_entries,
    state_sql,
    stored_key,
    unique_keys,
    unusable,
)

PartEntries = Callable[[int, int, list[Refused]], dict[str, str]]
"""A part's checkpoint entries for its rows written, ignored, and refused by the table."""

_TEMP_DIR_LOCK = threading.Lock()


class _Connection:
    """ADBC's SQLite driver through ``adbc_driver_manager``'s own API, one
    statement reused. Its DB-API module would import ``pyarrow.dataset`` (and so
    ``pyarrow.compute``) at every SQLite run's start, for nothing the
    writer uses. Autocommit is on, ADBC's default."""

    def __init__(self, path: str) -> None:
        self.db = adbc_driver_sqlite.connect(file_uri(path))  # a name in any bytes (``file_uri``)
        try:
            self.conn = adbc.AdbcConnection(self.db)
            self.stmt = adbc.AdbcStatement(self.conn)
        except BaseException:
            self.close()
            raise
        self._sql: str | None = None

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement with positional parameters; its rows."""
        if sql != self._sql:
            self.stmt.set_sql_query(sql)
            self._sql = sql
        if params:
            self.stmt.bind(pa.record_batch([[p] for p in params], names=[str(i) for i in range(len(params))]))
        rows: list[tuple[Any, ...]] = []
        try:
            stream, _ = self.stmt.execute_query()
            # batch by batch: a job's checkpoint (an entry per file it ever loaded) is not held
            # whole in Arrow beside its rows in Python
            for batch in pa.RecordBatchReader.from_stream(stream):
                rows.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
        except AdbcError:
            self._renew()  # a failed statement keeps its parameters: the next one would find them bound
            raise
        return rows

    def _renew(self) -> None:
        self.stmt.close()
        self.stmt = adbc.AdbcStatement(self.conn)
        self._sql = None

    def ingest(
        self, table: str, rows: pa.RecordBatch | pa.RecordBatchReader, *, create: bool = False, temporary: bool = False
    ) -> int:
        """Insert a batch or a stream of them into ``table`` (made first with ``create``),
        bound in C; the rows inserted."""
        self.stmt.set_options(
            **{
                adbc.INGEST_OPTION_TARGET_TABLE: table,
                adbc.INGEST_OPTION_MODE: adbc.INGEST_OPTION_MODE_CREATE if create else adbc.INGEST_OPTION_MODE_APPEND,
                adbc.StatementOptions.INGEST_TEMPORARY.value: "true" if temporary else "false",
            }
        )
        self._sql = None  # the statement is an ingest now, no longer the last query
        if isinstance(rows, pa.RecordBatchReader):
            self.stmt.bind_stream(rows)
        else:
            self.stmt.bind(rows)
        try:
            return int(self.stmt.execute_update())
        except AdbcError:
            self._renew()
            raise

    def close(self) -> None:
        for handle in ("stmt", "conn", "db"):
            resource = self.__dict__.pop(handle, None)
            if resource is not None:
                resource.close()


# SQLite's busy handler waits this long at a time outside a transaction (and at COMMIT):
# between two slices the writer looks for a stop (``stopping.wait_while_busy``), up to
# ``sink.busy_timeout`` in all.
BUSY_SLICE_S = 0.2


class SQLiteWriter(Refusals, Transactional):
    """Loads batches into one SQLite table. Use as a context manager."""

    def __init__(self, config: SinkConfig, table: str) -> None:
        check_table(table)  # before the database is opened: also what --dry-run says
        self.config = config
        self.target = config.path
        self.table = table
        # where rows go: ``table``, or while a replace is under way its stage table (``replace_stage``)
        self.into = table
        self._clearing: set[str] = set()  # jobs whose checkpoint the next commit deletes (``clear_state``)
        # the open transaction put the stage table in the table's place (``_swap``), or dropped it (``keep_table``)
        self._swapped = False
        self._unswapped = table  # the stage table ``_swap`` renamed: where the rows are if its transaction is undone
        self._job = table_job(table)  # the job whose state was read last: a fresh replace's stage is named after it
        self.conn: _Connection | None = None
        self.columns: list[str] = []
        self._merge: dict[tuple[str, ...], str] = {}
        self._in_txn = False
        self._deadline: float | None = None  # while opening: one busy_timeout for every statement of it
        self._truncating = False  # journal_mode=TRUNCATE set by this writer (put back to DELETE at close)
        self._guards = Guards()  # how the table refuses a row (``_read_guards``)
        self._virtual = False  # the table is a virtual one: SQLite adds no columns to it
        self._remake: set[str] | None = None  # an empty table's columns it may be made anew from (``remake_if_empty``)
        self._respelled: set[str] = set()  # jobs whose entries ``_respell`` moved
        self._checked: tuple[str, ...] = ()  # the columns ``_check_columns`` last found the table has
        self._added: dict[str, str] = {}  # fold(name) -> declared type of each column this writer added
        self._prepared: pa.Schema | None = None  # the schema ``prepare`` last checked the table for

    # ----------------------------------------------------------- lifecycle

    def __enter__(self) -> SQLiteWriter:
        path = self.config.path
        parent = os.path.dirname(os.path.abspath(path))
        check_target(path)
        if not os.path.isdir(parent):
            raise SinkError(f"cannot open SQLite database: no directory {parent}", file=path)
        try:
            # autocommit on: the writer says BEGIN IMMEDIATE and COMMIT itself, so a
            # batch and its checkpoint share one transaction and nothing else does.
            self.conn = _Connection(path)
            self._deadline = time.monotonic() + self.config.busy_timeout
            self._busy_wait(BUSY_SLICE_S)
            # before anything writes a page: a new database takes it, an existing one keeps its own
            self._execute(f"PRAGMA page_size={int(self.config.page_size)}")
            # A rollback journal writes each new page once; WAL writes it twice (into the
            # WAL, then back at each checkpoint): TRUNCATE loads faster (bench/NOTES.md). A
            # database already in WAL mode stays so: its owner chose readers that never
            # block the writer. Either way a commit survives a killed process, and the
            # table and its checkpoint always agree, which is what resume needs.
            if self._execute("PRAGMA journal_mode")[0][0].lower() != "wal":
                self._execute("PRAGMA journal_mode=TRUNCATE")
                self._truncating = True
            self._execute("PRAGMA synchronous=NORMAL")
            # in KiB (a negative cache_size), at least the one page SQLite needs
            self._execute(f"PRAGMA cache_size=-{max(1, int(self.config.cache_size) >> 10)}")
            # In WAL mode: checkpoint every ~40 MB of WAL instead of 4 MB, fewer and
            # larger copies into the database (bench/NOTES.md).
            self._execute("PRAGMA wal_autocheckpoint=10000")
            if self.config.mode in ("upsert", "ignore"):
                # each merge's statement journal keeps a copy of every page it changes: a text
                # key's index changes pages all over (32 KiB each), and in memory that went past
                # a ceiling; on disk SQLite keeps 64 KiB of it in memory
                self._temp_beside_target()
            else:
                self._execute("PRAGMA temp_store=MEMORY")
            self._enforce_foreign_keys()
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
                "job TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                "updated_at TEXT NOT NULL, PRIMARY KEY (job, key))"
            )
        except LoaderError:
            self.close()
            raise
        except AdbcError as exc:
            self.close()
            raise SinkError(f"cannot open SQLite database: {sqlite_message(exc)}", file=path) from None
        finally:
            self._deadline = None
        return self

    def _enforce_foreign_keys(self) -> None:
        """The table's foreign keys refuse a row whose parent row is not there, as they do in
        its owner's connections: SQLite enforces them only where a connection turns them on,
        which it can outside a transaction only, so here. Not in ``replace``: its new table
        declares none, and with them on, dropping the old one would delete as ON DELETE
        CASCADE says in the tables referencing it (``check_dependents`` refuses those)."""
        if self.config.mode != "replace" and self._execute(f"PRAGMA foreign_key_list({quote(self.table)})"):
            self._execute("PRAGMA foreign_keys=ON")

    def _busy_wait(self, seconds: float) -> None:
        """SQLite's own wait for a lock: the whole ``sink.busy_timeout`` inside a transaction,
        where a statement that gave up could not be tried again; a slice outside it."""
        assert self.conn is not None
        self.conn.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            if not self._in_txn:
                # PASSIVE copies what no reader still needs and never waits: TRUNCATE would
                # wait out busy_timeout behind any open read transaction, and the rows are
                # committed already. What is left in the WAL, a later checkpoint (the
                # next run's autocheckpoint, or the last connection to close) copies.
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self._truncating:
                    # TRUNCATE leaves an empty -journal beside the database; leaving the mode
                    # for DELETE has SQLite remove it under its own locks
                    self.conn.execute("PRAGMA journal_mode=DELETE")
        except AdbcError:
            pass
        finally:
            self.conn.close()
            self.conn = None

    def rollback(self) -> None:
        if self.conn is not None and self._in_txn:
            try:
                self.conn.execute("ROLLBACK")
                self._busy_wait(BUSY_SLICE_S)
            except AdbcError:
                pass
        self._in_txn = False
        if self._swapped:  # undone with the transaction: the rows are in the stage table still
            self.into, self._swapped = self._unswapped, False

    def _execute(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if any."""
        conn = self.conn
        assert conn is not None
        try:
            if self._in_txn and sql != "COMMIT":
                return conn.execute(sql, params)
            # outside a transaction (or its COMMIT) a statement that found the database
            # locked changed nothing: tried again slice by slice, a stop looked for between
            deadline = self._deadline or time.monotonic() + self.config.busy_timeout
            return stopping.wait_while_busy(lambda: conn.execute(sql, params), is_locked, deadline)
        except AdbcError as exc:
            raise db_error(exc, self.config.path, self.config.busy_timeout, f" (while running {sql[:80]!r})") from None

    def describe(self) -> str:
        return f"{self.config.path} (table {self.table})"

    # --------------------------------------------------------------- state

    def read_state(self, job: str) -> dict[str, str]:
        """``job``'s checkpoint entries (none once ``clear_state`` forgot them); where they tell
        of a replace under way, its rows go on into the replace's stage table. Read again by an
        engine's coordinator after ``prepare``: a replace that started over there (its
        checkpoint deleted, its stage table made) keeps loading into its stage table."""
        self._job = job
        if job in self._clearing:
            return {}
        entries = state_entries(self._execute(state_sql(job), (job, job)))
        held = rows_table(entries, self.table, job)
        if held != self.table and not self._swapped:
            self.into = held
        return entries

    def gone(self, job: str, state: JobState) -> str | None:
        """The checkpoint tells of rows written to the table, and the table is not there:
        dropped since (the checkpoint lives in its own table, which stays)."""
        rows = rows_committed(state)
        if not rows or self._execute(KIND_SQL, (self.into,)):
            return None
        if self.into != self.table:
            return (
                f"the checkpoint tells of {rows:,} rows written to the stage table {self.into!r} of table "
                f"{self.table!r}'s replace under way, which is not there (dropped since; the table kept its old rows)"
            )
        return (
            f"the checkpoint tells of {rows:,} rows written to table {self.table!r}, which is not there (dropped since)"
        )

    def clear_state(self, job: str, *, now: bool = False) -> None:
        """Forget ``job``'s checkpoint. A run that starts over (``--restart``, a new replace)
        keeps it, and the table it tells of, until its first commit deletes it: a run refused
        or stopped before then leaves both as they were (a rerun finds the files loaded, not
        an empty checkpoint beside a full table). It goes at once with ``now`` (the table it
        tells of is gone), and where it is of a replace under way, whose rows are in its stage
        table: that table goes with it (no checkpoint tells of its rows any more)."""
        self._job = job
        staged, self.into = self.into, self.table
        if not now and staged == self.table:
            self._clearing.add(job)
            return
        self._begin()
        self._execute(f"DELETE FROM {STATE_TABLE} WHERE {job_rows(job)}", (job,))
        if staged != self.table:
            self._execute(f"DROP TABLE IF EXISTS {quote(staged)}")
        self._commit()

    def _respell(self, job: str) -> None:
        """``job``'s entries under an earlier spelling of its table's name (``job_rows``) moved
        under ``job`` in its first commit, ``job``'s own kept where both have a key."""
        if job in self._respelled:
            return
        self._respelled.add(job)
        if job_rows(job) != "job = ?":
            others = f"WHERE {job_rows(job)} AND job <> ?"
            self._execute(f"UPDATE OR IGNORE {STATE_TABLE} SET job = ? {others}", (job, job, job))
            self._execute(f"DELETE FROM {STATE_TABLE} {others}", (job, job))

    # --------------------------------------------------------------- table

    def existing_columns(self) -> list[str]:
        return list(self.column_types())

    def column_types(self) -> dict[str, str]:
        """The existing table's columns and their declared types (none if there is no table), as
        SQLite applies them (``declared_types``)."""
        columns = self._table_info()
        return declared_types(columns, bool(columns) and is_strict(self._execute, self.into))

    def first_values(self, columns: list[str]) -> dict[str, Any]:
        """Each column's first value that is not null (``first_values``), one query a column."""
        return first_values(self._execute, self.into, columns)

    def _table_info(self) -> list[tuple[Any, ...]]:
        """``PRAGMA table_info``: cid, name, type, notnull, default, pk."""
        return list(self._execute(f"PRAGMA table_info({quote(self.into)})"))

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None:
        """Create the table; for ``replace`` on a fresh run, its stage table (``_stage_replace``)."""
        if self._in_txn and self._prepared is not None and schema.equals(self._prepared):
            return  # the file before had these columns, and the table cannot change in our transaction
        self._prepared = None
        check_names(schema.names)
        for cols in self.config.indexes:  # an unknown name would index a string constant
            suggest.require_columns("sink.indexes", cols, schema.names, fold_case=True)
        # every file has the key: the encoder would reject each of its rows as a null key
        suggest.require_columns("sink.primary_key", self.config.primary_key, schema.names, fold_case=True)
        kind = self._execute(KIND_SQL, (self.table,))
        check_kind(kind[0][0] if kind else None, self.config.path, self.table)
        if kind and self.config.mode == "replace":  # before anything changes
            check_dependents(self._execute, self.table, self.config.path)
        self._virtual = bool(kind) and is_virtual(kind[0][1]) and self.into == self.table
        self.columns = self.existing_columns()
        if fresh and self.config.mode == "replace":
            self._stage_replace()
        elif self._remade(schema):
            self._execute(f"DROP TABLE IF EXISTS {quote(self.into)}")
            self._virtual = False
            self.columns = []
        if not self.columns:
            self._create(schema)
        elif self.config.mode in ("upsert", "ignore"):
            self._check_key()
        self._check_columns(schema)
        self._read_guards()
        self._check_insert(schema.names)
        self._prepared = schema

    def _check_insert(self, names: list[str]) -> None:
        """An INSERT of the rows' columns compiled once (of no row: nothing runs), before any row
        is written: a trigger, CHECK or DEFAULT calling a function only its application's
        connections have, or writing a table dropped since, fails every row alike, and no
        rerun mends it (``unusable``: exit 65, naming it)."""
        assert self.conn is not None
        if not names:  # rows of no column yet (a replay's first, of a job whose columns are null): none to insert
            return
        sql = insert_sql(self.into, names, explain=False)
        try:
            self.conn.execute(sql)
        except AdbcError as exc:
            if is_locked(exc):  # busy reading the schema: waited for as any statement is
                self._execute(sql)
                return
            error = unusable(self._said(exc), self.table, self._execute(TABLE_OBJECTS_SQL, (self.into,)))
            if error is None:
                raise db_error(exc, self.config.path, self.config.busy_timeout) from None
            error.file = self.config.path
            raise error from None

    @contextlib.contextmanager
    def staging(self) -> Iterator[None]:
        """A transaction (begun here) for several parts (``stage_part``), committed inside;
        an exception rolls it back, and what it made of the table (``prepare``: the table
        made, a column added) is forgotten, as ``undone`` forgets it."""
        kept = self._kept()
        self._begin()
        try:
            yield
        except BaseException:
            self.rollback()
            self._restore(kept)
            raise

    def stage_part(self, files: list[str], rows: int) -> tuple[int, list[Refused]]:
        """A part's Arrow files (``rows`` rows, as its worker counted) into the open
        transaction (``staging``), as ``merge_part`` writes them; a stream the table refuses a
        row of raises (the transaction is the caller's: its other parts are in it)."""
        written, refused = self._merge_files(files, stream=True)
        _check_arrow_rows(files, rows, written, refused)
        return written, refused

    def _kept(self) -> tuple[Any, ...]:
        return (self.into, self._remake, dict(self._added), list(self.columns))

    def _restore(self, kept: tuple[Any, ...]) -> None:
        self.into, self._remake, self._added, self.columns = kept
        self._prepared = None

    @contextlib.contextmanager
    def undone(self) -> Iterator[None]:
        """What runs inside (``prepare``: the table made, a column added) checked, then rolled
        back: an engine's coordinator prepares for its first file up front (the job refused
        before any part runs, the table's columns known) and for real with its first part's
        commit, so a run that fails before committing a part leaves the target as it was. A
        table left empty by such a run would bind its rerun to it (its dates and timestamps
        stored as the source's text, ``declared_pins``), unlike a clean run."""
        kept = self._kept()
        self._begin()
        try:
            yield
        finally:
            self.rollback()
            self._restore(kept)

    def _stage_replace(self) -> None:
        """A fresh ``replace`` loads into a stage table of its own, made anew (one left by a run
        stopped before its first commit holds rows no checkpoint tells of); the table keeps
        its rows, for its readers and for a run that fails, until ``finish`` swaps them."""
        self.into = replace_stage(self.table, self._job)
        self._execute(f"DROP TABLE IF EXISTS {quote(self.into)}")
        self._virtual = False
        self.columns = []

    def remake_if_empty(self, columns: list[str]) -> None:
        self._remake = {fold(c) for c in columns}

    def _remade(self, schema: pa.Schema) -> bool:
        """The table is the one a read none of whose rows loaded made (``remake_if_empty``), and
        the columns read now with other source options do not fit it: made anew for them."""
        remake, self._remake = self._remake, None  # the first file's columns only
        have = {fold(c) for c in self.columns}
        if not remake or have != remake or {fold(n) for n in schema.names} <= have:
            return False
        return not self._execute(f"SELECT 1 FROM {quote(self.into)} LIMIT 1")

    def _read_guards(self) -> None:
        """How the table refuses a row, from its constraints' and triggers' SQL (``read_guards``)."""
        enforced = self.into == self.table and self._execute("PRAGMA foreign_keys")[0][0]
        self._guards = read_guards(
            self._execute(TABLE_OBJECTS_SQL, (self.into,)),
            foreign_keys(self._execute, self.into) if enforced else (),
        )

    def _create(self, schema: pa.Schema) -> None:
        """The table for ``schema``; its key columns NOT NULL (the encoder rejects null keys)."""
        key = {fold(c) for c in self.config.primary_key}  # SQLite's names match in any ASCII case
        cols = [_column_sql(f) + (" NOT NULL" if fold(f.name) in key else "") for f in schema]
        if self.config.primary_key:
            cols.append("PRIMARY KEY (" + ", ".join(quote(c) for c in self.config.primary_key) + ")")
        self._execute(f"CREATE TABLE {quote(self.into)} (" + ", ".join(cols) + ")")
        self.columns = list(schema.names)

    def _check_key(self) -> None:
        """``upsert`` and ``ignore`` find a row by its key: the existing table must hold the
        key columns unique, or every row would be added again (SQLite refuses the upsert)."""
        key = {fold(c) for c in self.config.primary_key}
        if key not in unique_keys(self._execute, self.into):
            near = partial_key(self._execute, self.into, self.config.primary_key)
            raise key_error(self.config, self.table, near, self.into)

    def _check_columns(self, schema: pa.Schema) -> None:
        generated = generated_columns(self._execute(f"PRAGMA table_xinfo({quote(self.into)})"))
        check_generated(self.table, generated, schema)
        check_required(self.table, required_columns(self._table_info()), schema)
        self._check_kinds(schema)
        new = new_columns(self.table, self.columns, schema, alter=self.config.alter, fixed=self._virtual)
        strict = bool(new) and is_strict(self._execute, self.into)
        for f in new:
            self._execute(f"ALTER TABLE {quote(self.into)} ADD COLUMN {_column_sql(f, strict=strict)}")
            self.columns.append(f.name)
            self._added[fold(f.name)] = sqlite_type(f.type)
        self._checked = tuple(schema.names)

    def _check_kinds(self, schema: pa.Schema) -> None:
        """A column this writer added for a stage's first values (``sink.alter``) gets values
        of that kind only: SQLite's affinity would turn others into it (text ``'007'`` into 7 in
        an INTEGER column), so another kind (a part whose stage typed it apart) stops the load."""
        for f in schema if self._added else ():
            made, now = self._added.get(fold(f.name)), sqlite_type(f.type)
            if made and now and made != now:
                raise SchemaMismatchError(
                    f"table {self.table!r} has column {f.name!r} {made}, added for the values a stage made first, "
                    f"and these rows have {now} values for it, which SQLite would convert",
                    column=f.name,
                    hint='give the column one type: declare it in the stage (a python stage\'s columns = { name = "type" }), '
                    "then rerun with --restart",
                )

    def _merge_sql(self, names: tuple[str, ...], source: Rows, ranged: bool = False) -> str:
        """Move rows from ``source`` into the table by the mode's rules (``ignore``,
        ``upsert``), in their order (so the last of repeated keys wins, as row by row would);
        ``ranged``: those numbered ``?`` to ``?`` only."""
        sql = self._merge.get((self.into, source.table, source.seq, str(ranged), *names))
        if sql is None:
            cols = ", ".join(quote(n) for n in names)
            # a WHERE clause tells SQLite's parser the ON CONFLICT belongs to the INSERT
            where = f"{source.seq} BETWEEN ? AND ?" if ranged else "true"
            sql = (
                f"INSERT INTO main.{quote(self.into)} ({cols}) SELECT {cols} FROM {source.table} "
                f"WHERE {where} ORDER BY {source.seq}"
            )
            if self.config.mode in ("upsert", "ignore"):  # append and replace: a repeated key is refused
                pk = {fold(c) for c in self.config.primary_key}
                updates = [f"{quote(n)} = excluded.{quote(n)}" for n in names if fold(n) not in pk]
                conflict = ", ".join(quote(c) for c in self.config.primary_key)
                # only a conflict on the key: any other constraint (NOT NULL, CHECK, another
                # UNIQUE) refuses its row into the rejects, where INSERT OR IGNORE would drop it unsaid
                sql += f" ON CONFLICT ({conflict}) " + (
                    "DO UPDATE SET " + ", ".join(updates) if updates and self.config.mode == "upsert" else "DO NOTHING"
                )
            self._merge[(self.into, source.table, source.seq, str(ranged), *names)] = sql
        return sql

    # ---------------------------------------------------------------- rows

    def write(self, encoded: Encoded) -> int:
        """Stage an encoded chunk in the open transaction (begun here if needed); the rows
        written (for ``ignore``, those whose key was not there yet)."""
        rows = encoded.payload
        if rows is None or rows.num_rows == 0:
            return 0
        try:
            written, refused = self._write_rows(rows)
        except RefusalStop as stop:
            raise stop.at(encoded.chunk) from None
        if refused:
            encoded.refused.extend(refused_rejects(encoded.chunk, refused))
        return written

    def _write_rows(self, rows: pa.RecordBatch | pa.RecordBatchReader) -> tuple[int, list[Refused]]:
        """``rows`` (a batch, or in ``append`` and ``replace`` a stream of them, bound in
        one call) in the open transaction (begun here if needed); the rows written, and
        those of a batch the table's constraints refused (a stream's refusal raises)."""
        assert self.conn is not None
        if self.columns and len(rows.schema):
            schema = _valued(rows)
            # at a transaction's start, and wherever a stage's output gains a column within one
            if not self._in_txn or tuple(schema.names) != self._checked:
                self._check_columns(schema)
            else:
                self._check_kinds(schema)
        if not self._in_txn:
            self._begin()
        if self.config.mode in ("ignore", "upsert") or not self._guards.exact:
            # rows the table drops are not written: the statement's change count says how many were
            count = rows.num_rows if isinstance(rows, pa.RecordBatch) and self._guards.exact else None
            try:
                return self._merge_rows(self._stage(rows), tuple(rows.schema.names), count)
            except AdbcError as exc:
                raise self._failure(exc) from None
        before = self._total_changes() if not self._guards.refusing and isinstance(rows, pa.RecordBatch) else None
        try:
            if isinstance(rows, pa.RecordBatchReader) or not self._guards.refusing:
                return self.conn.ingest(self.into, rows), []
            return self._append(rows)
        except AdbcError as exc:
            # the rows bound before the refused one, as the change count grew: it names the row
            index = self._total_changes() - before if before is not None else None
            raise self._failure(exc, index) from None

    def _stage(self, rows: pa.RecordBatch | pa.RecordBatchReader) -> Rows:
        """``rows`` in the TEMP stage table, made anew and numbered 1 to n in their order by
        its own INTEGER PRIMARY KEY, named apart from the input's columns. Its columns have no
        type: the values stay as the encoder made them, as in columns of the batch's types."""
        assert self.conn is not None
        seq = quote(stage_seq(rows.schema.names))
        cols = "".join(", " + quote(n) for n in rows.schema.names)
        self._execute(f"DROP TABLE IF EXISTS temp.{STAGE_TABLE}")
        self._execute(f"CREATE TEMP TABLE {STAGE_TABLE} ({seq} INTEGER PRIMARY KEY{cols})")
        self.conn.ingest(STAGE_TABLE, rows, temporary=True)  # binds by name: the sequence fills itself
        return Rows(f"temp.{STAGE_TABLE}", seq)

    def _merge_rows(self, source: Rows, names: tuple[str, ...], count: int | None) -> tuple[int, list[Refused]]:
        """Every row of ``source`` (numbered 1 to n) merged into the table in one statement;
        if the table refuses one, the statement is undone whole and the rows go range by
        range. Written: ``count`` (the rows, for ``upsert``), or the rows SQLite inserted
        (``ignore``, or ``count`` None)."""
        assert self.conn is not None
        try:
            self.conn.execute(self._merge_sql(names, source))
        except AdbcError as exc:
            message = self._said(exc)
            if not (self._guards.refusing and self._guards.refuses(message)):
                raise
            rows = int(self.conn.execute(f"SELECT count(*) FROM {source.table}")[0][0])
            return self._refuse_rows(source, names, rows, message, by_changes=count is None)
        if count is None or self.config.mode == "ignore":  # rows whose key was there are counted apart
            return int(self.conn.execute("SELECT changes()")[0][0]), []
        return count, []

    def _begin(self) -> None:
        self._execute("BEGIN IMMEDIATE")
        self._in_txn = True
        self._busy_wait(self.config.busy_timeout)

    def _commit(self) -> None:
        self._busy_wait(BUSY_SLICE_S)
        try:
            self._execute("COMMIT")
        except ConstraintError as exc:
            if self._guards.deferred and "FOREIGN KEY" in str(exc):
                self.rollback()  # a failed COMMIT leaves its transaction open
                raise self._deferred_stop() from None
            raise
        self._in_txn = False

    def _deferred_stop(self) -> ConstraintError:
        return ConstraintError(
            f"table {self.table!r} has a deferred foreign key (DEFERRABLE INITIALLY DEFERRED), which SQLite checks "
            "at COMMIT only, and a row of this commit's has no parent row: no row can be rejected alone, so the "
            "load stops (SQLite: FOREIGN KEY constraint failed)",
            file=self.config.path,
            hint="load the parent rows first, or declare the key without DEFERRABLE INITIALLY DEFERRED (a row "
            "without its parent is then rejected alone), then rerun: committed work is kept",
        )

    def commit(self, job: str, state: dict[str, str]) -> None:
        """Write checkpoint entries and commit them with the staged rows."""
        if not self._in_txn:
            self._begin()
        if job in self._clearing:  # the checkpoint a replace starts over from goes with its first rows
            self._execute(f"DELETE FROM {STATE_TABLE} WHERE {job_rows(job)}", (job,))
        self._respell(job)
        if self.into != self.table:  # a rerun goes on into the stage table, whatever its mode
            state = state | {REPLACING_ENTRY: self.into}
        elif self._swapped:
            self._execute(f"DELETE FROM {STATE_TABLE} WHERE {job_rows(job)} AND key = ?", (job, REPLACING_ENTRY))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for k, v in state.items():
            self._execute(
                f"INSERT INTO {STATE_TABLE} (job, key, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (job, stored_key(k), v, now),
            )
        self._commit()
        self._clearing.discard(job)
        self._swapped = False
        self.durable_commits += 1

    def merge_part(self, files: list[str], rows: int, job: str, entries: PartEntries) -> None:
        """A part's rows (``files``: Arrow IPC files of encoded batches, or one side
        database of the same table) written into the table, committed with the checkpoint
        ``entries(written, ignored, refused)``: one transaction. Rows the table's
        constraints refuse are left out, and handed to ``entries`` (by their place in the part)."""
        if len(files) == 1 and files[0].endswith(".db"):
            self._copy_part(files[0], rows, job, entries)
            return
        try:
            try:
                written, refused = self._merge_files(files, stream=True)
            except ConstraintError:
                if not self._guards.refusing:
                    raise
                self.rollback()  # the stream stopped at a refused row: the part again, batch by batch
                written, refused = self._merge_files(files, stream=False)
            _check_arrow_rows(files, rows, written, refused)
            self.commit(job, entries(written, rows - written - len(refused), refused))
        except BaseException:
            self.rollback()
            raise

    def _merge_files(self, files: list[str], *, stream: bool) -> tuple[int, list[Refused]]:
        """The part's Arrow files into the open transaction: in ``append`` and ``replace``
        with ``stream``, each one stream bound in C; else batch by batch (a staged merge
        needs its stage table per batch), refused rows numbered across the part."""
        written = seen = 0
        refused: list[Refused] = []
        for path in files:  # read, not mapped: mapped pages would count in the peak RSS
            with pa.OSFile(os.fsencode(path)) as source:
                part = pa.ipc.open_file(source)
                if (
                    stream
                    and self.config.mode in ("append", "replace")
                    and self._guards.exact
                    and self._bound_whole(part.schema)
                ):
                    written += self._write_rows(pa.RecordBatchReader.from_batches(part.schema, _batches(part)))[0]
                    continue
                for batch in _batches(part):
                    done, out = self._write_rows(batch)
                    written += done
                    refused += [dataclasses.replace(r, index=r.index + seen) for r in out]
                    seen += batch.num_rows
        return written, refused

    def _bound_whole(self, schema: pa.Schema) -> bool:
        """Whether an Arrow part file's rows may go in as one stream, checked by its schema
        alone: it adds no column, nor holds one added for a stage's values. Else batch by
        batch: a column without a value in a batch is typed apart (``_valued``)."""
        known = {fold(c) for c in self.columns}
        return all(fold(n) in known and not self._added.get(fold(n)) for n in schema.names)

    def _copy_part(self, path: str, rows: int, job: str, entries: PartEntries) -> None:
        """A side database's table copied in by SQLite, in the transaction of the checkpoint."""
        # read-only: BEGIN IMMEDIATE would hold a write transaction on a writable attached
        # database too, and a commit over two such databases makes a super-journal
        # (target-mjNNNN), which a kill in the commit leaves behind for ever
        self._execute("ATTACH DATABASE ? AS part", (file_uri(path) + "?mode=ro",))
        try:
            side = list(self._execute(f"PRAGMA part.table_info({quote(self.table)})"))
            names = tuple(r[1] for r in side)
            # a column a stage made as the rows went by (a row function's), which the worker's
            # side table took on: added here too (``sink.alter``), as ``threads`` adds it
            self._check_columns(pa.schema([(r[1], _DECLARED.get(str(r[2]).upper(), pa.null())) for r in side]))
            source = Rows(f"part.{quote(self.table)}", _side_seq(path, names))
            self._begin()
            written, refused = self._copy_rows(names, source)
            if rows - written - len(refused):
                _check_part_rows([path], int(self._execute(f"SELECT count(*) FROM {source.table}")[0][0]), rows)
            self.commit(job, entries(written, rows - written - len(refused), refused))
        except BaseException:
            self.rollback()
            raise
        finally:
            self._execute("DETACH DATABASE part")

    def _copy_rows(self, names: tuple[str, ...], source: Rows) -> tuple[int, list[Refused]]:
        """The side table's rows (rowids 1 to n, in the part's order) into the table."""
        assert self.conn is not None
        try:
            if self.config.mode not in ("append", "replace") or list(names) != self.existing_columns():
                return self._merge_rows(source, names, None)
            # SQLite's transfer optimization: records copied as they are, in rowid order
            try:
                self.conn.execute(f"INSERT INTO main.{quote(self.into)} SELECT * FROM {source.table}")
            except AdbcError as exc:
                message = self._said(exc)
                if not (self._guards.refusing and self._guards.refuses(message)):
                    raise
                rows = int(self.conn.execute(f"SELECT count(*) FROM {source.table}")[0][0])
                return self._refuse_rows(source, names, rows, message, by_changes=True)
            return int(self.conn.execute("SELECT changes()")[0][0]), []
        except AdbcError as exc:
            raise self._failure(exc) from None

    def finish(self) -> None:
        """Indexes are built once, after the load: cheaper than maintaining them per row. A
        replace's rows take the table's place first (``_swap``), in the transaction the final
        checkpoint commits."""
        if self.config.indexes:
            self._sort_on_disk()  # before a transaction: SQLite changes temp_store only outside one
        if self.into != self.table:
            self._swap()
        for cols in self.config.indexes:
            self._index(cols)

    def _swap(self) -> None:
        """The replace's stage table renamed to the table, the old one dropped, in the open
        transaction (left open: ``commit`` ends it with the final checkpoint). Readers see the
        old table whole until that commit, the new one after; a run stopped before it leaves
        the old one, and a rerun finishes the swap. Indexes follow in the same transaction:
        the old table's hold their names until it is dropped."""
        if not self._in_txn:
            self._begin()
        self._execute(f"DROP TABLE IF EXISTS {quote(self.table)}")
        # Legacy renaming leaves views and triggers that name the table as they are, so that
        # they read the new one: SQLite's own rewrites each and fails on one that names the
        # table just dropped ("error in view v: no such table").
        self._execute("PRAGMA legacy_alter_table=ON")
        try:
            self._execute(f"ALTER TABLE {quote(self.into)} RENAME TO {quote(self.table)}")
        finally:
            self._execute("PRAGMA legacy_alter_table=OFF")
        self._unswapped, self.into, self._swapped = self.into, self.table, True

    def keep_table(self) -> None:
        """Instead of ``finish``, for a replace that wrote no row (every row rejected or filtered
        out: exit 4): its stage table dropped in the open transaction, which the final
        checkpoint commits (``_swapped`` tells ``commit`` to drop the replace's entry), so the
        table keeps its old rows, whole, and the next run starts the replace over."""
        if self.into == self.table:
            return
        if not self._in_txn:
            self._begin()
        self._execute(f"DROP TABLE IF EXISTS {quote(self.into)}")
        self._unswapped, self.into, self._swapped = self.into, self.table, True

    def _index(self, cols: list[str]) -> None:
        """An index on ``cols``, unless the table has one on them already, whatever its name
        (an older loader's, the user's own, the primary key's)."""
        if tuple(fold(c) for c in cols) in {c for _, c in full_indexes(self._execute, self.table)}:
            return
        name = index_name(self.table, cols)
        taken = self._execute("SELECT tbl_name FROM sqlite_master WHERE name = ? COLLATE NOCASE", (name,))
        if taken:  # only the same table and columns make this name: not ours, so not done
            raise ConfigError(
                f"sink.indexes: cannot index {self.table!r} ({', '.join(cols)}): the name {name!r} is taken "
                f"by another object on table {taken[0][0]!r}",
                hint="drop or rename that object, then rerun",
            )
        self._execute(f"CREATE INDEX {quote(name)} ON {quote(self.table)} (" + ", ".join(quote(c) for c in cols) + ")")

    def _sort_on_disk(self) -> None:
        """CREATE INDEX sorts the whole column: in memory (temp_store=MEMORY) that grows with
        the table, past any --max-memory. On disk, SQLite keeps a sort run of about
        cache_size in memory and merges runs from temp files (``_temp_beside_target``).
        Switching temp_store drops the TEMP schema (the upsert stage table), which the load
        no longer needs here."""
        self._temp_beside_target()

    def _temp_beside_target(self) -> None:
        """SQLite's temp files (sort runs, statement journals, the TEMP schema past its cache)
        on disk, next to the target: /tmp may be small or RAM (a container's emptyDir), and
        the target's filesystem holds the data anyway."""
        directory = os.path.dirname(os.path.abspath(self.config.path))
        if not is_utf8(directory):
            # a pragma names it in text: a directory named in other bytes keeps SQLite's own
            self._execute("PRAGMA temp_store=FILE")
            return
        # temp_store_directory is process-wide in SQLite: set it only when it changes,
        # under a lock, so two writers in one process never set it at once.
        with _TEMP_DIR_LOCK:
            if self._execute("PRAGMA temp_store_directory") != [(directory,)]:
                self._execute(f"PRAGMA temp_store_directory = '{directory.replace(chr(39), chr(39) * 2)}'")
        self._execute("PRAGMA temp_store=FILE")

    def count(self) -> int:
        return int(self._execute(f"SELECT count(*) FROM {quote(self.into)}")[0][0])


def _valued(rows: pa.RecordBatch | pa.RecordBatchReader) -> pa.Schema:
    """The rows' schema, a batch's columns without a value typed null (the encoder makes them
    text): a column added for them gets no type, whose affinity would convert later values."""
    if not isinstance(rows, pa.RecordBatch):
        return rows.schema
    fields = [
        f.with_type(pa.null()) if c.null_count == len(c) else f for f, c in zip(rows.schema, rows.columns, strict=True)
    ]
    return pa.schema(fields)


def _batches(part: pa.ipc.RecordBatchFileReader) -> Iterator[pa.RecordBatch]:
    return (part.get_batch(i) for i in range(part.num_record_batches))


def _check_arrow_rows(files: list[str], rows: int, written: int, refused: list[Refused]) -> None:
    """Rows neither written nor refused are ignored ones only if the Arrow files hold them all."""
    if rows - written - len(refused):
        _check_part_rows(files, sum(_arrow_rows(f) for f in files), rows)


def _arrow_rows(path: str) -> int:
    """The rows of an Arrow IPC part file (its batches' lengths, from their metadata)."""
    with pa.OSFile(os.fsencode(path)) as source:
        return int(pa.ipc.open_file(source).count_rows())


def _check_part_rows(files: list[str], held: int, rows: int) -> None:
    """A part's results must hold the rows its manifest counts: a row the table did not take
    is then one it ignored (a key already there, a conflict clause). Results that hold fewer
    (another execution's files, half written) are refused, not booked as ignored."""
    if held != rows:
        raise EngineError(
            f"{files[0]}: the part's results hold {held:,} rows where its worker counted {rows:,}; "
            "nothing of the part was committed, and its results are removed",
            hint="the part is read again by the rerun; " + PARTS_KEPT_HINT,
        )


def _side_seq(path: str, names: tuple[str, ...]) -> str:
    """The name of a side table's rowid, which numbers its rows in the part's order (a side
    table has no INTEGER PRIMARY KEY). A part whose columns take all of SQLite's names for it
    is written as Arrow files instead (``engines.work.side_writer``)."""
    name = rowid_name(names)
    if name is None:
        raise SinkError(
            "the part's side database has columns named rowid, _rowid_ and oid: its rows' order is lost",
            file=path,
            hint='set run.part_results = "arrow" and rerun with --restart',
        )
    return name


# the Arrow type of each type a side table declares (``sqlite_type``), for ``_column_sql`` to declare it again
_DECLARED = {"INTEGER": pa.int64(), "REAL": pa.float64(), "BLOB": pa.binary(), "TEXT": pa.string()}


def _column_sql(f: pa.Field, *, strict: bool = False) -> str:
    """A column's definition: its name and declared type (none for a column without values yet;
    in a STRICT table, which needs a type for each, ``ANY``, which converts nothing either)."""
    return f"{quote(f.name)} {sqlite_type(f.type) or ('ANY' if strict else '')}".rstrip()
