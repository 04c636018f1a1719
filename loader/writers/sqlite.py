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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import pyarrow as pa
from adbc_driver_manager import Error as AdbcError

from .. import suggest
from ..chunk import Chunk, Reject, row_values
from ..compat import sha256
from ..config import SinkConfig
from ..errors import (
    RESUME_HINT,
    ConfigError,
    ConstraintError,
    LoaderError,
    SchemaMismatchError,
    SinkError,
    TargetLockedError,
)
from ..sinks.base import Encoded
from .base import Refused, Transactional, new_columns
from .encode import sqlite_type

PartEntries = Callable[[int, int, list[Refused]], dict[str, str]]
"""A part's checkpoint entries for its rows written, ignored, and refused by the table."""

STATE_TABLE = "_loader_state"
MAX_COLUMNS = 2000  # SQLITE_MAX_COLUMN as the SQLite inside ADBC's driver is built (its default)
STAGE_TABLE = "_loader_stage"  # a TEMP table: rows on their way into an upsert or ignore
REFUSED_TABLE = "_loader_refused"  # a TEMP table: the rowids of the stage's rows a key refuses
_TEMP_DIR_LOCK = threading.Lock()
RANGE_SAVEPOINT = "loader_range"  # around each statement of a refusing batch's slow path
# A table whose constraints or triggers end more than the one statement that breaks them
# (ROLLBACK ends the transaction, FAIL keeps a statement's earlier rows): its refused rows
# cannot be told apart from the others, so a refusal still stops the load.
_NOT_PER_ROW = re.compile(r"\bON\s+CONFLICT\s+(?:ROLLBACK|FAIL)\b|\bRAISE\s*\(\s*(?:ROLLBACK|FAIL)\b", re.IGNORECASE)
# A table that drops a row without an error: the change count no longer grows by one a row
_DROPPING = re.compile(r"\bON\s+CONFLICT\s+IGNORE\b|\bRAISE\s*\(\s*IGNORE\b", re.IGNORECASE)
_RAISE = re.compile(r"\bRAISE\s*\(\s*(ABORT|FAIL|ROLLBACK)\s*,\s*(?:'((?:[^']|'')*)'\s*\))?", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_BODY = re.compile(r"\bBEGIN\b(.*)", re.IGNORECASE | re.DOTALL)
# SQLite's own failures, never a trigger's RAISE message
_ENGINE = re.compile(
    r"database (?:table )?is locked|disk is full|readonly database|disk i/o error|not a database|"
    r"out of memory|interrupted|^no such |constraint failed",
    re.IGNORECASE,
)
_UNIQUE = re.compile(r"^(?:UNIQUE|PRIMARY KEY) constraint failed: (.+)$")
_SEVERITY = ("ABORT", "FAIL", "ROLLBACK")
_REPLACE = re.compile(r"\bON\s+CONFLICT\s+REPLACE\b", re.IGNORECASE)
BULK_AFTER = 16  # refused rows in one batch before the rest of it is sorted out in bulk (``_append_bulk``)

# ADBC wraps SQLite's message in its own words ("IO: Failed to step query: ...",
# "\nquery was: ..."); the user needs SQLite's part only.
_ADBC_PREFIX = re.compile(
    r"^(?:[A-Z_]+: )?(?:\[SQLite\] )?(?:[Ff]ailed to (?:step query|execute|prepare query)(?: \([^)]*\))?: )?"
)


def sqlite_message(exc: BaseException) -> str:
    """SQLite's own words from a driver error, on one line."""
    text = str(exc).split("\n", 1)[0]
    return _ADBC_PREFIX.sub("", text, count=1).strip() or type(exc).__name__


def db_error(exc: BaseException, path: str, busy_timeout: float, doing: str = "") -> LoaderError:
    """A SQLite error as one the user can act on: locked (exit 75), disk full, read-only."""
    msg = sqlite_message(exc)
    low = msg.lower()
    if "database is locked" in low or "database table is locked" in low:
        return TargetLockedError(
            f"the database is locked by another program (still locked after sink.busy_timeout = {busy_timeout:g}s)",
            file=path,
            hint="another connection holds a write transaction on the target; retry when it ends, or raise sink.busy_timeout",
        )
    if "database or disk is full" in low:
        return SinkError("no space left on the device (SQLite: database or disk is full)", file=path, hint=RESUME_HINT)
    if "readonly database" in low:
        return SinkError(f"the target is read-only (SQLite: {msg})", file=path, hint=RESUME_HINT)
    if "disk i/o error" in low:
        return SinkError(f"the OS refused a read or write (SQLite: {msg})", file=path, hint=RESUME_HINT)
    if "constraint failed" in low:
        keys = "unique constraint" in low or "primary key" in low
        return ConstraintError(
            msg,
            file=path,
            hint='the input repeats a key, or holds one the table has: use mode = "upsert" (the last row wins) or '
            '"ignore" (the first wins); committed work is kept'
            if keys
            else "fix the rows the table's constraint refuses, then rerun: committed work is kept",
        )
    if "file is not a database" in low:  # a rerun fails the same way: the user's to fix
        return ConfigError(
            f"sink.path: {path} is not a SQLite database (SQLite: {msg})",
            hint="name a new file or an existing SQLite database",
        )
    return SinkError(f"{msg}{doing}", file=path)


def is_constraint(message: str) -> bool:
    return "constraint failed" in message.lower()


def refusal(message: str, table: str, values: dict[str, Any]) -> tuple[str, str | None]:
    """Why the table refused a row (SQLite's ``message``), and the column(s) it names:
    the key value for a UNIQUE or PRIMARY KEY constraint on columns."""
    found = _UNIQUE.match(message)
    # SQLite names each column "table.column"; either may hold a dot
    prefix = table.lower() + "."
    named = found.group(1).split(", ") if found else []
    cols = [c[len(prefix) :] for c in named if c.lower().startswith(prefix)]
    if not found or len(cols) != len(named):  # an index on an expression, or another table's
        return f"table {table!r} refuses the row ({message})", None
    by_name = {k.lower(): v for k, v in values.items()}
    key = [repr(by_name.get(c.lower())) for c in cols]
    shown = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
    return f"key {shown} is already in table {table!r} ({message})", ", ".join(cols)


def check_width(columns: int, file: str | None = None) -> None:
    """A table wider than SQLite's limit fails at CREATE TABLE; say so before reading any rows."""
    if columns > MAX_COLUMNS:
        raise ConfigError(
            f"{columns:,} columns, more than a SQLite table can hold ({MAX_COLUMNS:,}, SQLITE_MAX_COLUMN)",
            file=file,
            hint="keep the columns you need with a select or drop transform, or load into LevelDB",
        )


def check_table(table: str) -> None:
    """The loader's own tables take no rows (SQLite's identifiers ignore case)."""
    if table.lower() in (STATE_TABLE, STAGE_TABLE, REFUSED_TABLE):
        raise ConfigError(
            f"sink.table: {table!r} is reserved for the loader's own use", hint="name another table (--table)"
        )


def peek(path: str, table: str, job: str, config: SinkConfig) -> tuple[dict[str, str], dict[str, str]]:
    """An existing database's checkpoint entries of ``job`` and ``table``'s declared
    column types, read through a read-only connection: nothing is created or written
    (``--dry-run``). Nothing for a database that is not there yet. ``upsert`` and ``ignore``
    into an existing table need its key unique: checked here as the load checks it."""
    import sqlite3

    if not os.path.isfile(path):
        return {}, {}
    try:
        with _read_only(path, config.busy_timeout) as conn:
            has_state = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (STATE_TABLE,))
            state_rows = (
                conn.execute(f"SELECT key, value FROM {STATE_TABLE} WHERE job = ?", (job,)).fetchall()
                if has_state.fetchone()
                else []
            )
            columns = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
            # a table not there yet is made by the load, with the key
            keyed = columns and config.mode in ("upsert", "ignore")
            keys = unique_keys(lambda sql: conn.execute(sql).fetchall(), table) if keyed else None
    except sqlite3.Error as exc:
        raise SinkError(f"cannot read SQLite database: {exc}", file=path) from None
    if keys is not None and {c.lower() for c in config.primary_key} not in keys:
        raise key_error(config, table)
    return dict(state_rows), {r[1]: r[2] or "" for r in columns}


@contextlib.contextmanager
def _read_only(path: str, timeout: float) -> Iterator[Any]:
    """A connection that creates and writes nothing beside the database."""
    import sqlite3

    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    if _in_wal_mode(path) and not os.path.exists(path + "-wal"):
        # all of it is in the file: read as it is, or SQLite would make a -wal and -shm beside it
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


def unique_keys(execute: Callable[[str], Any], table: str) -> list[set[str]]:
    """The column sets (lower case) a table's PRIMARY KEY and UNIQUE constraints or indexes
    hold unique: the conflict targets SQLite accepts."""
    keys = [{r[1].lower() for r in execute(f"PRAGMA table_info({quote(table)})") if r[5]}]
    keys += [set(cols) for unique, cols in full_indexes(execute, table) if unique]
    return [k for k in keys if k]


def full_indexes(execute: Callable[[str], Any], table: str) -> list[tuple[bool, tuple[str, ...]]]:
    """Whether each index of ``table`` is unique, and its columns (lower case, in order); a
    partial index, or one on an expression, is left out: it covers no column list whole."""
    out = []
    for _, name, unique, _, partial in execute(f"PRAGMA index_list({quote(table)})"):
        cols = tuple(r[2] for r in execute(f"PRAGMA index_info({quote(name)})"))
        if not partial and None not in cols:
            out.append((bool(unique), tuple(c.lower() for c in cols)))
    return out


def key_error(config: SinkConfig, table: str) -> ConfigError:
    cols = ", ".join(config.primary_key)
    return ConfigError(
        f"sink.primary_key: table {table!r} has no PRIMARY KEY or UNIQUE index on ({cols}), "
        f"which mode {config.mode!r} needs",
        hint=f"create one (CREATE UNIQUE INDEX ... ON {quote(table)} ("
        + ", ".join(quote(c) for c in config.primary_key)
        + ')), or load with mode = "append" (--mode append)',
    )


def _in_wal_mode(path: str) -> bool:
    """Whether the database file's header says WAL (its read and write versions are 2)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


def check_schema(config: SinkConfig, names: list[str]) -> None:
    """The key and index columns are in the data: said by ``--dry-run`` too."""
    suggest.require_columns("sink.primary_key", config.primary_key, names, fold_case=True)
    for cols in config.indexes:
        suggest.require_columns("sink.indexes", cols, names, fold_case=True)


def index_name(table: str, cols: list[str]) -> str:
    """The name of the loader's index on ``table`` (``cols``): readable, and unique to the
    exact table and columns by a hash of them (``t`` on ``a_b`` and ``t`` on ``a, b``
    would join alike)."""
    digest = sha256(json.dumps([table, cols]).encode()).hexdigest()[:8]
    return f"idx_{table}_{'_'.join(cols)}_{digest}"


def quote(name: str) -> str:
    """A SQL identifier in double quotes, inner quotes doubled (so it cannot end early)."""
    if "\x00" in name:
        raise SinkError(f"identifier {name!r} holds a NUL byte")
    return '"' + name.replace('"', '""') + '"'


class _Connection:
    """ADBC's SQLite driver through ``adbc_driver_manager``'s own API, one
    statement reused. Its DB-API module would import ``pyarrow.dataset`` (and so
    ``pyarrow.compute``) at every SQLite run's start, for nothing the
    writer uses. Autocommit is on, ADBC's default."""

    def __init__(self, path: str) -> None:
        self.db = adbc_driver_sqlite.connect(path)
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
        try:
            stream, _ = self.stmt.execute_query()
            result = pa.RecordBatchReader.from_stream(stream).read_all()
        except AdbcError:
            self._renew()  # a failed statement keeps its parameters: the next one would find them bound
            raise
        return list(zip(*(column.to_pylist() for column in result.columns), strict=True))

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


class SQLiteWriter(Transactional):
    """Loads batches into one SQLite table. Use as a context manager."""

    def __init__(self, config: SinkConfig, table: str) -> None:
        check_table(table)  # before the database is opened: also what --dry-run says
        self.config = config
        self.target = config.path
        self.table = table
        self.conn: _Connection | None = None
        self.columns: list[str] = []
        self._merge: dict[tuple[str, ...], str] = {}
        self._in_txn = False
        self._truncating = False  # journal_mode=TRUNCATE set by this writer (put back to DELETE at close)
        self._refusing = True  # rows the table's constraints refuse go to the rejects (``_read_guards``)
        self._exact = True  # the change count grows by one for each row bound, and by nothing else
        self._bulk = True  # many rows refused by a key can be found in bulk (no REPLACE clause)
        self._raises: dict[str, tuple[str, str]] = {}  # a trigger's RAISE message: its kind, the trigger
        self._raise_other: str | None = None  # the gravest kind a trigger raises with a computed message

    # ----------------------------------------------------------- lifecycle

    def __enter__(self) -> SQLiteWriter:
        path = self.config.path
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ConfigError(
                f"sink.path: {path} is a directory, not a SQLite database file", hint="name a file, e.g. dir/out.db"
            )
        if not os.path.isdir(parent):
            raise SinkError(f"cannot open SQLite database: no directory {parent}", file=path)
        try:
            # autocommit on: the writer says BEGIN IMMEDIATE and COMMIT itself, so a
            # batch and its checkpoint share one transaction and nothing else does.
            self.conn = _Connection(path)
            self._execute(f"PRAGMA busy_timeout={int(self.config.busy_timeout * 1000)}")
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
            self._execute("PRAGMA temp_store=MEMORY")
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
        return self

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
            except AdbcError:
                pass
        self._in_txn = False

    def _execute(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if any."""
        try:
            assert self.conn is not None
            return self.conn.execute(sql, params)
        except AdbcError as exc:
            raise db_error(exc, self.config.path, self.config.busy_timeout, f" (while running {sql[:80]!r})") from None

    def describe(self) -> str:
        return f"{self.config.path} (table {self.table})"

    # --------------------------------------------------------------- state

    def read_state(self, job: str) -> dict[str, str]:
        return {k: v for k, v in self._execute(f"SELECT key, value FROM {STATE_TABLE} WHERE job = ?", (job,))}

    def clear_state(self, job: str) -> None:
        self._execute("BEGIN IMMEDIATE")
        self._execute(f"DELETE FROM {STATE_TABLE} WHERE job = ?", (job,))
        self._execute("COMMIT")

    # --------------------------------------------------------------- table

    def existing_columns(self) -> list[str]:
        return list(self.column_types())

    def column_types(self) -> dict[str, str]:
        """The existing table's columns and their declared types (none if there is no table)."""
        return {r[1]: r[2] or "" for r in self._table_info()}

    def _not_null(self) -> list[tuple[Any, ...]]:
        """The table's NOT NULL columns (``PRAGMA table_info`` rows), but an INTEGER
        PRIMARY KEY (SQLite gives a null there the next rowid)."""
        info = self._table_info()
        keys = [r for r in info if r[5]]
        rowid = keys[0][1] if len(keys) == 1 and (keys[0][2] or "").upper() == "INTEGER" else None
        return [r for r in info if r[3] and r[1] != rowid]

    def _table_info(self) -> list[tuple[Any, ...]]:
        """``PRAGMA table_info``: cid, name, type, notnull, default, pk."""
        return list(self._execute(f"PRAGMA table_info({quote(self.table)})"))

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None:
        """Create the table (drop it first for ``replace`` on a fresh run)."""
        for cols in self.config.indexes:  # an unknown name would index a string constant
            suggest.require_columns("sink.indexes", cols, schema.names, fold_case=True)
        # every file has the key: the encoder would reject each of its rows as a null key
        suggest.require_columns("sink.primary_key", self.config.primary_key, schema.names, fold_case=True)
        if fresh and self.config.mode == "replace":
            self._execute(f"DROP TABLE IF EXISTS {quote(self.table)}")
        self.columns = self.existing_columns()
        if not self.columns:
            self._create(schema)
        elif self.config.mode in ("upsert", "ignore"):
            self._check_key()
        self._check_columns(schema)
        self._read_guards()

    def _read_guards(self) -> None:
        """How a refused row can be taken out of a batch: not at all where the table's
        constraints or triggers end more than one statement; through the stage table where
        the connection's change count does not grow by one a row (see ``_append``): rows a
        trigger writes count too, rows an ``ON CONFLICT IGNORE`` or ``RAISE(IGNORE)`` drops
        do not. Also the messages of the triggers' ``RAISE``, which say a row is refused."""
        found = self._execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? COLLATE NOCASE", (self.table,)
        )
        self._refusing = not any(_NOT_PER_ROW.search(sql or "") for _, _, sql in found)
        triggers = [(name, sql or "") for kind, name, sql in found if kind == "trigger"]
        writes = any(_WRITES.search(_STRING.sub("''", _trigger_body(sql))) for _, sql in triggers)
        self._exact = not writes and not any(_DROPPING.search(sql or "") for _, _, sql in found)
        self._bulk = not any(_REPLACE.search(sql or "") for _, _, sql in found)
        self._raises, self._raise_other = {}, None
        for name, sql in triggers:
            for raised in _RAISE.finditer(sql):
                kind = raised.group(1).upper()
                if raised.group(2) is not None:
                    self._raises[raised.group(2).replace("''", "'")] = (kind, name)
                elif self._raise_other is None or _SEVERITY.index(kind) > _SEVERITY.index(self._raise_other):
                    self._raise_other = kind

    def _raised(self, message: str) -> tuple[str, str | None] | None:
        """The kind of ``RAISE`` (ABORT, FAIL, ROLLBACK) and trigger (if known) that
        ``message`` comes from; None: not a trigger's."""
        if message in self._raises:
            return self._raises[message]
        if self._raise_other is not None and not _ENGINE.search(message):
            return self._raise_other, None
        return None

    def _refuses(self, message: str) -> bool:
        """SQLite's ``message`` says the table refused a row (a constraint, a trigger's RAISE)."""
        return is_constraint(message) or self._raised(message) is not None

    def _create(self, schema: pa.Schema) -> None:
        """The table for ``schema``; its key columns NOT NULL (the encoder rejects null keys)."""
        key = {c.lower() for c in self.config.primary_key}  # SQLite's names match in any case
        cols = [_column_sql(f) + (" NOT NULL" if f.name.lower() in key else "") for f in schema]
        if self.config.primary_key:
            cols.append("PRIMARY KEY (" + ", ".join(quote(c) for c in self.config.primary_key) + ")")
        self._execute(f"CREATE TABLE {quote(self.table)} (" + ", ".join(cols) + ")")
        self.columns = list(schema.names)

    def _check_key(self) -> None:
        """``upsert`` and ``ignore`` find a row by its key: the existing table must hold the
        key columns unique, or every row would be added again (SQLite refuses the upsert)."""
        key = {c.lower() for c in self.config.primary_key}
        if key not in unique_keys(self._execute, self.table):
            raise key_error(self.config, self.table)

    def _check_columns(self, schema: pa.Schema) -> None:
        names = {n.lower() for n in schema.names}
        for _, name, _, _, default, _ in self._not_null():
            if default is None and name.lower() not in names:  # every row would fail
                raise SchemaMismatchError(
                    f"table {self.table!r} has column {name!r} NOT NULL without a default, and the input has no such column",
                    column=name,
                    hint="give the input the column (a derive stage can make it), or give the table's column a default",
                )
        for f in new_columns(self.table, self.columns, schema, alter=self.config.alter):
            self._execute(f"ALTER TABLE {quote(self.table)} ADD COLUMN {_column_sql(f)}")
            self.columns.append(f.name)

    def _merge_sql(self, names: tuple[str, ...], source: str = f"temp.{STAGE_TABLE}", ranged: bool = False) -> str:
        """Move rows from ``source`` into the table by the mode's rules (``ignore``,
        ``upsert``), in their order (so the last of repeated keys wins, as row by row would);
        ``ranged``: those of rowids ``?`` to ``?`` only."""
        sql = self._merge.get((source, str(ranged), *names))
        if sql is None:
            cols = ", ".join(quote(n) for n in names)
            # a WHERE clause tells SQLite's parser the ON CONFLICT belongs to the INSERT
            where = "rowid BETWEEN ? AND ?" if ranged else "true"
            sql = f"INSERT INTO main.{quote(self.table)} ({cols}) SELECT {cols} FROM {source} WHERE {where} ORDER BY rowid"
            if self.config.mode in ("upsert", "ignore"):  # append and replace: a repeated key is refused
                pk = {c.lower() for c in self.config.primary_key}
                updates = [f"{quote(n)} = excluded.{quote(n)}" for n in names if n.lower() not in pk]
                conflict = ", ".join(quote(c) for c in self.config.primary_key)
                # only a conflict on the key: any other constraint (NOT NULL, CHECK, another
                # UNIQUE) refuses its row into the rejects, where INSERT OR IGNORE would drop it unsaid
                sql += f" ON CONFLICT ({conflict}) " + (
                    "DO UPDATE SET " + ", ".join(updates) if updates and self.config.mode == "upsert" else "DO NOTHING"
                )
            self._merge[(source, str(ranged), *names)] = sql
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
        except _Stop as stop:
            raise stop.at(encoded.chunk) from None
        if refused:
            encoded.refused.extend(refused_rejects(encoded.chunk, refused))
        return written

    def _write_rows(self, rows: pa.RecordBatch | pa.RecordBatchReader) -> tuple[int, list[Refused]]:
        """``rows`` (a batch, or in ``append`` and ``replace`` a stream of them, bound in
        one call) in the open transaction (begun here if needed); the rows written, and
        those of a batch the table's constraints refused (a stream's refusal raises)."""
        assert self.conn is not None
        if self.columns and len(rows.schema) and not self._in_txn:
            self._check_columns(rows.schema)
        if not self._in_txn:
            self._begin()
        if self.config.mode in ("ignore", "upsert") or not self._exact:
            # rows the table drops are not written: the statement's change count says how many were
            count = rows.num_rows if isinstance(rows, pa.RecordBatch) and self._exact else None
            try:
                self._stage(rows)
                return self._merge_rows(f"temp.{STAGE_TABLE}", tuple(rows.schema.names), count)
            except AdbcError as exc:
                raise self._failure(exc) from None
        before = self._total_changes() if not self._refusing and isinstance(rows, pa.RecordBatch) else None
        try:
            if isinstance(rows, pa.RecordBatchReader) or not self._refusing:
                return self.conn.ingest(self.table, rows), []
            return self._append(rows)
        except AdbcError as exc:
            # the rows bound before the refused one, as the change count grew: it names the row
            index = self._total_changes() - before if before is not None else None
            raise self._failure(exc, index) from None

    def _failure(self, exc: AdbcError, index: int | None = None) -> LoaderError:
        """A driver error as the user's: a refusal that stops the load (the table's conflict
        clause or trigger undoes more than the row) is a data error, its row at ``index``
        of the batch where known; anything else as ``db_error`` says."""
        message = sqlite_message(exc)
        raised = self._raised(message)
        if raised is None and not is_constraint(message):
            return db_error(exc, self.config.path, self.config.busy_timeout)
        if raised is None:
            cause = "its conflict clause"
            hint = db_error(exc, self.config.path, self.config.busy_timeout).hint
        else:
            kind, trigger = raised
            cause = f"its trigger {trigger!r}" if trigger else "its trigger"
            cause += f" (RAISE({kind}))"
            hint = "fix the rows the table's trigger refuses, then rerun: committed work is kept"
        return _Stop(self.table, message, cause, index, self.config.path, hint)

    def _stage(self, rows: pa.RecordBatch | pa.RecordBatchReader) -> None:
        """``rows`` in the TEMP stage table, made anew: rowids 1 to n in their order."""
        assert self.conn is not None
        self._execute(f"DROP TABLE IF EXISTS temp.{STAGE_TABLE}")
        self.conn.ingest(STAGE_TABLE, rows, create=True, temporary=True)

    def _append(self, rows: pa.RecordBatch) -> tuple[int, list[Refused]]:
        """``rows`` bound into the table. ADBC inserts a batch one row at a time: a refused
        row stops it with the rows before it inserted, as many as the connection's change
        count grew, so the bulk bind goes on after it. The fast path pays one count a batch."""
        assert self.conn is not None
        written, start, bulk_after = 0, 0, BULK_AFTER
        refused: list[Refused] = []
        while True:
            before = self._total_changes()
            try:
                return written + self.conn.ingest(self.table, rows.slice(start)), refused
            except AdbcError as exc:
                message = sqlite_message(exc)
                if not self._refuses(message):
                    raise
                done = self._total_changes() - before
                at = start + done
                written += done
                refused.append(self._refused(at, message, row_values(rows.slice(at, 1))[0]))
                start = at + 1
                if start == rows.num_rows:
                    return written, refused
                if len(refused) == bulk_after:
                    bulk = self._append_bulk(rows, start, message)
                    if bulk is not None:
                        return written + bulk[0], refused + bulk[1]
                    bulk_after *= 4  # the bulk path missed: tried again only after many more refusals

    def _append_bulk(self, rows: pa.RecordBatch, start: int, message: str) -> tuple[int, list[Refused]] | None:
        """The rows of ``rows`` from ``start`` on, where many were refused already by the
        key SQLite's ``message`` names, through the stage table in bulk (``_bulk_refuse``)."""
        if not self._bulk_ok(message):
            return None
        self._stage(rows.slice(start))
        bulk = self._bulk_refuse(f"temp.{STAGE_TABLE}", tuple(rows.schema.names), message)
        if bulk is None:
            return None
        written, left = bulk
        values = row_values(rows.take(pa.array([start + r - 1 for r in left], pa.int64())))
        return written, [self._refused(start + r - 1, message, v) for r, v in zip(left, values, strict=True)]

    def _bulk_ok(self, message: str) -> bool:
        """Rows refused by a key (``message``) can be found in bulk: an append into a table
        whose change count is exact (no trigger writes a row a refused row's insert would
        leave behind) and that replaces no row (which would change what a later row meets)."""
        found = _UNIQUE.match(message)
        return (
            bool(self.config.mode in ("append", "replace") and self._exact and self._bulk and found)
            and refusal(message, self.table, {})[1] is not None
        )

    def _bulk_refuse(self, source: str, names: tuple[str, ...], message: str) -> tuple[int, list[int]] | None:
        """The rows of ``source`` (rowids 1 to n) into the table in bulk: those whose key (the
        one SQLite's ``message`` names) the table or an earlier row holds are found in one
        anti-join and left out, the others inserted in one statement. SQLite checks both
        halves under a savepoint: the others must all go in, and the left-out rows must all
        conflict; else nothing is kept (None). The rows written, and the rowids left out."""
        assert self.conn is not None
        key = str(refusal(message, self.table, {})[1])
        by_name = {n.lower(): n for n in names}
        keys = [quote(by_name[k.lower()]) for k in key.split(", ") if k.lower() in by_name]
        if len(keys) != key.count(", ") + 1:
            return None
        table, refused = f"main.{quote(self.table)}", f"temp.{REFUSED_TABLE}"
        cols = ", ".join(quote(n) for n in names)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        # a null in the key conflicts with nothing, as in a UNIQUE index
        repeated = " AND ".join([f"s.{k} IS NOT NULL" for k in keys] + ["row_number() OVER w > 1"])
        self._execute(f"DROP TABLE IF EXISTS {refused}")
        self._execute(
            f"CREATE TEMP TABLE {REFUSED_TABLE} AS SELECT r FROM (SELECT s.rowid AS r, "
            f"EXISTS (SELECT 1 FROM {table} t WHERE {on}) OR ({repeated}) AS taken FROM {source} s "
            f"WINDOW w AS (PARTITION BY {', '.join('s.' + k for k in keys)} ORDER BY s.rowid)) WHERE taken"
        )
        self._execute(f"SAVEPOINT {RANGE_SAVEPOINT}")
        try:
            self.conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} "
                f"WHERE rowid NOT IN (SELECT r FROM {refused}) ORDER BY rowid"
            )
            written = int(self.conn.execute("SELECT changes()")[0][0])
            self.conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} "
                f"WHERE rowid IN (SELECT r FROM {refused}) ON CONFLICT DO NOTHING"
            )
            slipped = int(self.conn.execute("SELECT changes()")[0][0])
        except AdbcError as exc:
            if not self._refuses(sqlite_message(exc)):
                raise
            slipped = -1
        if slipped:
            self._execute(f"ROLLBACK TO {RANGE_SAVEPOINT}")
            self._execute(f"RELEASE {RANGE_SAVEPOINT}")
            return None
        self._execute(f"RELEASE {RANGE_SAVEPOINT}")
        return written, [int(r[0]) for r in self._execute(f"SELECT r FROM {refused} ORDER BY r")]

    def _total_changes(self) -> int:
        return int(self._execute("SELECT total_changes()")[0][0])

    def _merge_rows(self, source: str, names: tuple[str, ...], count: int | None) -> tuple[int, list[Refused]]:
        """Every row of ``source`` (rowids 1 to n) merged into the table in one statement;
        if the table refuses one, the statement is undone whole and the rows go range by
        range. Written: ``count`` (the rows, for ``upsert``), or the rows SQLite inserted
        (``ignore``, or ``count`` None)."""
        assert self.conn is not None
        try:
            self.conn.execute(self._merge_sql(names, source))
        except AdbcError as exc:
            message = sqlite_message(exc)
            if not (self._refusing and self._refuses(message)):
                raise
            rows = int(self.conn.execute(f"SELECT count(*) FROM {source}")[0][0])
            return self._refuse_rows(source, names, rows, message, by_changes=count is None)
        if count is None or self.config.mode == "ignore":  # rows whose key was there are counted apart
            return int(self.conn.execute("SELECT changes()")[0][0]), []
        return count, []

    def _refuse_rows(
        self, source: str, names: tuple[str, ...], count: int, message: str, by_changes: bool = False
    ) -> tuple[int, list[Refused]]:
        """The rows of ``source`` (rowids 1 to ``count``), of which the table refused one
        with ``message``: in bulk if a key refused it (``_bulk_refuse``), else merged range by
        range, halving a range the table refuses down to the rows it refuses: those are left
        out, the others written in their order. Each range is one statement under a savepoint
        (a table's conflict clause may keep a failed statement's first rows)."""
        assert self.conn is not None
        bulk = self._bulk_refuse(source, names, message) if self._bulk_ok(message) else None
        if bulk is not None:
            return bulk[0], self._refused_in(source, names, bulk[1], message)
        sql = self._merge_sql(names, source, ranged=True)
        written = 0
        refused: list[Refused] = []
        todo = [(1, count)] if count else []
        while todo:
            lo, hi = todo.pop()
            self._execute(f"SAVEPOINT {RANGE_SAVEPOINT}")
            try:
                self.conn.execute(sql, (lo, hi))
            except AdbcError as exc:
                message = sqlite_message(exc)
                if not self._refuses(message):
                    raise  # as it is: the failure may have ended the transaction, savepoint and all
                self._execute(f"ROLLBACK TO {RANGE_SAVEPOINT}")
                self._execute(f"RELEASE {RANGE_SAVEPOINT}")
                if lo == hi:
                    cols = ", ".join(quote(n) for n in names)
                    values = self.conn.execute(f"SELECT {cols} FROM {source} WHERE rowid = ?", (lo,))
                    refused.append(self._refused(lo - 1, message, dict(zip(names, values[0], strict=True))))
                else:  # the first half first: rows go in in their order
                    mid = (lo + hi) // 2
                    todo += [(mid + 1, hi), (lo, mid)]
                continue
            changed = int(self.conn.execute("SELECT changes()")[0][0])
            self._execute(f"RELEASE {RANGE_SAVEPOINT}")
            written += changed if by_changes or self.config.mode == "ignore" else hi - lo + 1
        return written, refused

    def _refused_in(self, source: str, names: tuple[str, ...], rowids: list[int], message: str) -> list[Refused]:
        """The rows of ``source`` at ``rowids`` (in order), refused with ``message``."""
        cols = ", ".join(quote(n) for n in names)
        found = self._execute(
            f"SELECT {cols} FROM {source} WHERE rowid IN (SELECT r FROM temp.{REFUSED_TABLE}) ORDER BY rowid"
        )
        return [
            self._refused(r - 1, message, dict(zip(names, row, strict=True)))
            for r, row in zip(rowids, found, strict=True)
        ]

    def _refused(self, index: int, message: str, values: dict[str, Any]) -> Refused:
        raised = self._raised(message)
        if raised is not None and raised[1] is not None:
            message = f"trigger {raised[1]!r}: {message}"
        reason, column = refusal(message, self.table, values)
        return Refused(index, reason, column, values)

    def _begin(self) -> None:
        self._execute("BEGIN IMMEDIATE")
        self._in_txn = True

    def commit(self, job: str, state: dict[str, str]) -> None:
        """Write checkpoint entries and commit them with the staged rows."""
        if not self._in_txn:
            self._begin()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for k, v in state.items():
            self._execute(
                f"INSERT INTO {STATE_TABLE} (job, key, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (job, k, v, now),
            )
        self._execute("COMMIT")
        self._in_txn = False
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
                if not self._refusing:
                    raise
                self.rollback()  # the stream stopped at a refused row: the part again, batch by batch
                written, refused = self._merge_files(files, stream=False)
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
            with pa.OSFile(path) as source:
                part = pa.ipc.open_file(source)
                if stream and self.config.mode in ("append", "replace") and self._exact:
                    written += self._write_rows(pa.RecordBatchReader.from_batches(part.schema, _batches(part)))[0]
                    continue
                for batch in _batches(part):
                    done, out = self._write_rows(batch)
                    written += done
                    refused += [dataclasses.replace(r, index=r.index + seen) for r in out]
                    seen += batch.num_rows
        return written, refused

    def _copy_part(self, path: str, rows: int, job: str, entries: PartEntries) -> None:
        """A side database's table copied in by SQLite, in the transaction of the checkpoint."""
        # read-only: BEGIN IMMEDIATE would hold a write transaction on a writable attached
        # database too, and a commit over two such databases makes a super-journal
        # (target-mjNNNN), which a kill in the commit leaves behind for ever
        self._execute("ATTACH DATABASE ? AS part", ("file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro",))
        try:
            names = tuple(r[1] for r in self._execute(f"PRAGMA part.table_info({quote(self.table)})"))
            source = f"part.{quote(self.table)}"
            self._begin()
            written, refused = self._copy_rows(names, source)
            self.commit(job, entries(written, rows - written - len(refused), refused))
        except BaseException:
            self.rollback()
            raise
        finally:
            self._execute("DETACH DATABASE part")

    def _copy_rows(self, names: tuple[str, ...], source: str) -> tuple[int, list[Refused]]:
        """The side table's rows (rowids 1 to n, in the part's order) into the table."""
        assert self.conn is not None
        try:
            if self.config.mode not in ("append", "replace") or list(names) != self.existing_columns():
                return self._merge_rows(source, names, None)
            # SQLite's transfer optimization: records copied as they are, in rowid order
            try:
                self.conn.execute(f"INSERT INTO main.{quote(self.table)} SELECT * FROM {source}")
            except AdbcError as exc:
                message = sqlite_message(exc)
                if not (self._refusing and self._refuses(message)):
                    raise
                rows = int(self.conn.execute(f"SELECT count(*) FROM {source}")[0][0])
                return self._refuse_rows(source, names, rows, message, by_changes=True)
            return int(self.conn.execute("SELECT changes()")[0][0]), []
        except AdbcError as exc:
            raise self._failure(exc) from None

    def finish(self) -> None:
        """Indexes are built once, after the load: cheaper than maintaining them per row."""
        if self.config.indexes:
            self._sort_on_disk()
        for cols in self.config.indexes:
            self._index(cols)

    def _index(self, cols: list[str]) -> None:
        """An index on ``cols``, unless the table has one on them already, whatever its name
        (an older loader's, the user's own, the primary key's)."""
        if tuple(c.lower() for c in cols) in {c for _, c in full_indexes(self._execute, self.table)}:
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
        cache_size in memory and merges runs from temp files, which it puts next to the
        target: /tmp may be small or RAM (a container's emptyDir), and the target's
        filesystem holds the index anyway. Switching temp_store drops the TEMP schema
        (the upsert stage table), which the load no longer needs here."""
        directory = os.path.dirname(os.path.abspath(self.config.path))
        # temp_store_directory is process-wide in SQLite: set it only when it changes,
        # under a lock, so two writers in one process never set it at once.
        with _TEMP_DIR_LOCK:
            if self._execute("PRAGMA temp_store_directory") != [(directory,)]:
                self._execute(f"PRAGMA temp_store_directory = '{directory.replace(chr(39), chr(39) * 2)}'")
        self._execute("PRAGMA temp_store=FILE")

    def count(self) -> int:
        return int(self._execute(f"SELECT count(*) FROM {quote(self.table)}")[0][0])


class _Stop(ConstraintError):
    """A row refused by a table whose conflict clause or trigger undoes more than the row:
    the load stops. ``index``: the row's place in its batch, where the change count told it."""

    def __init__(self, table: str, message: str, cause: str, index: int | None, path: str, hint: str | None) -> None:
        self.said = f"({message}), and {cause} ends more than the row's statement, so the row cannot be rejected alone: the load stops"
        super().__init__(f"table {table!r} refuses a row {self.said}", file=path, hint=hint)
        self.table, self.index, self.path = table, index, path

    def at(self, chunk: Chunk) -> ConstraintError:
        """The error naming the input file, and its row and line where known."""
        if self.index is None:
            return ConstraintError(
                f"table {self.table!r} of {self.path} refuses a row of this file {self.said}",
                file=chunk.file,
                hint=self.hint,
            )
        row = chunk.rows[self.index].as_py()
        line = chunk.lines[self.index].as_py() if chunk.lines is not None else None
        return ConstraintError(
            f"table {self.table!r} of {self.path} refuses the row {self.said}",
            file=chunk.file,
            row=row,
            line=line,
            hint=self.hint,
        )


def _trigger_body(sql: str) -> str:
    """A CREATE TRIGGER's statements (after its BEGIN)."""
    found = _BODY.search(sql)
    return found.group(1) if found else ""


def refused_rejects(chunk: Chunk, refused: list[Refused]) -> list[Reject]:
    """The rejects of a chunk's rows the table refused: its file, row and line, and the
    row's values as read (a replay loads them again)."""
    rows = chunk.rows.to_pylist()
    lines = chunk.lines.to_pylist() if chunk.lines is not None else None
    taken = row_values(chunk.batch.take(pa.array([r.index for r in refused], pa.int64())))
    return [
        Reject(
            file=chunk.file,
            row=rows[r.index],
            line=lines[r.index] if lines is not None else None,
            stage="write",
            column=r.column,
            reason=r.reason,
            values=values,
        )
        for r, values in zip(refused, taken, strict=True)
    ]


def _batches(part: pa.ipc.RecordBatchFileReader) -> Iterator[pa.RecordBatch]:
    return (part.get_batch(i) for i in range(part.num_record_batches))


def _column_sql(f: pa.Field) -> str:
    """A column's definition: its name and declared type (none for a column without values yet)."""
    return f"{quote(f.name)} {sqlite_type(f.type)}".rstrip()
