"""A SQLite target's tables as the loader checks them before it writes: its own reserved
tables, the column limit, key and index columns, the unique keys an upsert needs, index
names, quoted identifiers, and ``peek``, which reads an existing database without writing
(``--dry-run``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import suggest
from ..compat import sha256
from ..config import SinkConfig
from ..errors import ConfigError, SchemaMismatchError, SinkError
from ..sinks.base import Peek
from ..state import REPLACING_ENTRY, JobState, folded_job, rows_committed
from ..suggest import fold
from ..types import is_utf8
from .sqlite_errors import db_error

# A read-only connection finding a hot journal: reading on would need its rollback.
SQLITE_READONLY_ROLLBACK = 776
STATE_TABLE = "_loader_state"
MAX_COLUMNS = 2000  # SQLITE_MAX_COLUMN as the SQLite inside ADBC's driver is built (its default)
STAGE_TABLE = "_loader_stage"  # a TEMP table: rows on their way into an upsert or ignore
REFUSED_TABLE = "_loader_refused"  # a TEMP table: the sequence numbers of the stage's rows a key refuses
REPLACE_PREFIX = "_loader_replace_"  # + the table: a replace's new rows, swapped in at its end (``replace_stage``)
SEQ_COLUMN = "_loader_seq"  # the stage table's INTEGER PRIMARY KEY: its rows' order, 1 to n
ROWID_NAMES = ("rowid", "_rowid_", "oid")  # SQLite's names for a rowid, unless a column takes one
# The schemas of the loader's connection when it names the table (it attaches a part's side
# database only while it copies it in): a name "main.t" would not mean main's table t
SCHEMAS = ("main", "temp")
VIRTUAL = re.compile(r"^\s*CREATE\s+VIRTUAL\s+TABLE\b", re.IGNORECASE)  # an R*Tree or FTS5 table


@dataclass(frozen=True)
class Rows:
    """A table of rows on their way into the target (the TEMP stage, a part's side table):
    its name as SQL, and ``seq``, the quoted column that numbers its rows 1 to n in their
    order. Never a bare ``rowid``: an input column may be named so."""

    table: str
    seq: str


def stage_seq(names: Iterable[str]) -> str:
    """The stage table's sequence column: ``SEQ_COLUMN``, or a variant of it that no input
    column (``names``) takes, in any case."""
    taken = {fold(n) for n in names}
    seq, n = SEQ_COLUMN, 0
    while fold(seq) in taken:
        n += 1
        seq = f"{SEQ_COLUMN}_{n}"
    return seq


def rowid_name(names: Iterable[str]) -> str | None:
    """A name for the rowid of a table with columns ``names``: each of SQLite's names for it
    means a column so named where the table has one. None: the columns take all three."""
    taken = {fold(n) for n in names}
    return next((alias for alias in ROWID_NAMES if alias not in taken), None)


def check_width(columns: int, file: str | None = None) -> None:
    """A table wider than SQLite's limit fails at CREATE TABLE; say so before reading any rows."""
    if columns > MAX_COLUMNS:
        raise ConfigError(
            f"{columns:,} columns, more than a SQLite table can hold ({MAX_COLUMNS:,}, SQLITE_MAX_COLUMN)",
            file=file,
            hint="keep the columns you need with a select or drop transform, or load into LevelDB",
        )


def check_table(table: str) -> None:
    """The loader's own tables take no rows, nor do SQLite's (any name starting with
    ``sqlite_``: SQLite's identifiers ignore ASCII case); a name qualified by a schema
    (``main.t``) is refused, not taken as one name, and so is one in bytes that are not UTF-8
    (a default from a Latin-1 file name, ``caf\\xe9.csv``), which SQLite cannot name."""
    if fold(table) in (STATE_TABLE, STAGE_TABLE, REFUSED_TABLE):
        raise ConfigError(
            f"sink.table: {table!r} is reserved for the loader's own use", hint="name another table (--table)"
        )
    if fold(table).startswith(REPLACE_PREFIX):
        raise ConfigError(
            f"sink.table: {table!r} is reserved for the loader's own use (a replace's new rows)",
            hint="name another table (--table)",
        )
    if fold(table).startswith("sqlite_"):
        raise ConfigError(
            f"sink.table: {table!r} is a reserved table name: SQLite keeps names starting with sqlite_ for its own tables",
            hint="name another table (--table); without one the table is named after the first input file",
        )
    if not is_utf8(table):
        raise ConfigError(
            f"sink.table: {table!r} holds bytes that are not UTF-8, and SQLite names a table in UTF-8 text "
            "(without sink.table, the table is named after the first input file)",
            hint="name the table (--table NAME)",
            names=("sink.table",),
        )
    schema, dot, name = table.partition(".")
    if dot and fold(schema) in SCHEMAS:
        raise ConfigError(
            f"sink.table: {table!r} is taken literally, as one table name: the loader loads into the main schema, "
            f"and would make a table named {table!r} there",
            hint=f"name the table alone (--table {name})",
        )


def replace_stage(table: str, job: str) -> str:
    """The table a ``replace`` of ``job`` loads ``table``'s new rows into, in the same database:
    renamed to ``table`` in the transaction of the load's last checkpoint (``SQLiteWriter.finish``).
    Named after the job too: two jobs replacing one table (``run.job``) each have their own,
    and one's fresh start never drops the other's committed rows."""
    tag = sha256(job.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{REPLACE_PREFIX}{table}_{tag}"


def rows_table(entries: dict[str, str], table: str, job: str) -> str:
    """The table a job's checkpoint ``entries`` tell of rows in: its replace's stage table while
    the replace is under way (``REPLACING_ENTRY``, the name as recorded: a rerun may spell the table
    in another ASCII case, and a loader before stage tables were named after the job named
    it ``_loader_replace_<table>``), else ``table``."""
    recorded = entries.get(REPLACING_ENTRY)
    if recorded is not None and fold(recorded) in (fold(replace_stage(table, job)), fold(REPLACE_PREFIX + table)):
        return recorded
    return table


def declared_types(columns: list[Any], strict: bool) -> dict[str, str]:
    """The declared types of ``columns`` (``PRAGMA table_info`` rows) as SQLite applies them: an
    ``ANY`` column of a STRICT table converts nothing, as a column without a type (elsewhere
    ``ANY`` has NUMERIC affinity)."""
    return {r[1]: "" if strict and (r[2] or "").upper() == "ANY" else r[2] or "" for r in columns}


def first_values(execute: Callable[..., list[Any]], table: str, columns: list[str]) -> dict[str, Any]:
    """Of ``columns`` of ``table``, each one's first value that is not null, in the table's own
    order; a column without one is left out. A query a column, which stops at its first value
    (a column null in every row is read through once)."""
    out = {}
    for name in columns:
        rows = execute(f"SELECT {quote(name)} FROM {quote(table)} WHERE {quote(name)} IS NOT NULL LIMIT 1")
        if rows:
            out[name] = rows[0][0]
    return out


def is_strict(execute: Callable[[str], list[Any]], table: str) -> bool:
    """``table`` of the main database is a STRICT table."""
    return any(r[0] == "main" and r[5] for r in execute(f"PRAGMA table_list({quote(table)})"))


def job_rows(job: str) -> str:
    """The condition that finds ``job``'s checkpoint rows (one ``?``: the job). A table's job
    (``folded_job``) under any spelling of the table's name: NOCASE folds ASCII letters only,
    as SQLite does in names."""
    return "job = ? COLLATE NOCASE" if folded_job(job) else "job = ?"


def state_sql(job: str) -> str:
    """``job``'s checkpoint entries (two ``?``: the job, twice), those under its own spelling
    last, so that they win over an earlier spelling's (read back with ``state_entries``)."""
    return f"SELECT key, value FROM {STATE_TABLE} WHERE {job_rows(job)} ORDER BY job = ?"


def stored_key(key: str) -> str:
    """A checkpoint key as the state table holds it. A file name that is not UTF-8 (its bytes
    held as surrogates, ``os.fsdecode``) cannot be bound as text: that key is held as its JSON
    string, quotes included, as LevelDB's state log spells it. No other key starts with a
    quote (``file:``, ``part:``, ``job``, ``schema``), so the spelling is read back unambiguously
    and every key that is UTF-8 stays as loaders before this one wrote it."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(key)
    return key


def state_entries(rows: Iterable[tuple[Any, ...]]) -> dict[str, str]:
    """The checkpoint entries of ``state_sql``'s rows, each key as ``stored_key`` was given it."""
    return {(json.loads(k) if k.startswith('"') else k): v for k, v in rows}


def check_target(path: str) -> None:
    """A directory where the database should be: refused by the load and the dry run alike."""
    if os.path.isdir(path):
        raise ConfigError(
            f"sink.path: {path} is a directory, not a SQLite database file", hint="name a file, e.g. dir/out.db"
        )


def peek(path: str, table: str, job: str, config: SinkConfig) -> Peek:
    """An existing database's checkpoint entries of ``job``, and ``table``'s declared
    column types and the columns it requires, read through a read-only connection: nothing
    is created or written (``--dry-run``). Nothing for a database that is not there yet. ``upsert`` and ``ignore``
    into an existing table need its key unique: checked here as the load checks it."""
    import sqlite3

    check_target(path)
    if not os.path.isfile(path):
        return Peek({}, {})
    try:
        with _read_only(path, config.busy_timeout) as conn:
            has_state = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (STATE_TABLE,))
            state_rows = conn.execute(state_sql(job), (job, job)).fetchall() if has_state.fetchone() else []
            kind = conn.execute(KIND_SQL, (table,)).fetchone()
            check_kind(kind[0] if kind else None, path, table)
            if kind is not None and config.mode == "replace":
                check_dependents(lambda sql, params=(): conn.execute(sql, params).fetchall(), table, path)
            # a replace under way: its rows, in their stage table, are those the load goes on with
            held = rows_table(state_entries(state_rows), table, job)
            if held != table:
                kind = conn.execute(KIND_SQL, (held,)).fetchone()
            columns = conn.execute(f"PRAGMA table_info({quote(held)})").fetchall()
            generated = generated_columns(conn.execute(f"PRAGMA table_xinfo({quote(held)})").fetchall())
            strict = bool(columns) and is_strict(lambda sql: conn.execute(sql).fetchall(), held)
            # a table not there yet is made by the load, with the key
            keyed = columns and config.mode in ("upsert", "ignore")
            keys = unique_keys(lambda sql: conn.execute(sql).fetchall(), held) if keyed else None
            near = partial_key(lambda sql: conn.execute(sql).fetchall(), held, config.primary_key) if keyed else None
            broken = unusable_inserts(lambda *a: conn.execute(*a).fetchall(), held, table, columns) if kind else ()
    except sqlite3.Error as exc:  # in the load's words and exit code: a locked database is 75, not 1
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_READONLY_ROLLBACK:
            return Peek({}, {}, note=pending_journal(path))
        raise db_error(exc, path, config.busy_timeout, " (while reading it for --dry-run)") from None
    if keys is not None and {fold(c) for c in config.primary_key} not in keys:
        raise key_error(config, table, near, held)
    declared = declared_types(columns, strict)
    entries = state_entries(state_rows)
    if kind is None and rows_committed(JobState.parse(entries)):
        entries = {}  # the table was dropped since: the load starts over (``SQLiteWriter.gone``)
    for _, error in broken:
        error.file = path
    return Peek(
        entries,
        declared,
        tuple(required_columns(columns)),
        tuple(generated),
        is_virtual(kind and kind[1]),
        unusable=broken,
    )


def unusable_inserts(
    execute: Callable[..., list[Any]], held: str, table: str, columns: list[tuple[Any, ...]]
) -> tuple[tuple[str | None, SchemaMismatchError], ...]:
    """The dry run's ``SQLiteWriter._check_insert``, before it knows each file's columns: an
    INSERT of every column (``columns``: ``PRAGMA table_info`` rows) that SQLite cannot compile
    (None: any input fails), else each column whose DEFAULT expression cannot be (an input
    without it fails)."""
    import sqlite3

    names = [r[1] for r in columns]

    def fails(cols: list[str]) -> SchemaMismatchError | None:
        try:
            execute(insert_sql(held, cols))
        except sqlite3.Error as exc:
            error = unusable(str(exc), table, execute(TABLE_OBJECTS_SQL, (held,)))
            if error is None:
                raise
            return error
        return None

    every = fails(names) or _check_fails(execute, held, table)
    if every is not None:
        return ((None, every),)
    defaults = [(r[1], fails([n for n in names if n != r[1]])) for r in columns if "(" in str(r[4] or "")]
    return tuple((name, error) for name, error in defaults if error is not None)


def peek_first_values(path: str, table: str, columns: list[str], config: SinkConfig) -> dict[str, Any]:
    """``first_values`` of an existing table, read as ``peek`` reads it (``--dry-run``)."""
    import sqlite3

    if not columns or not os.path.isfile(path):
        return {}
    try:
        with _read_only(path, config.busy_timeout) as conn:
            return first_values(lambda sql: conn.execute(sql).fetchall(), table, columns)
    except sqlite3.Error as exc:
        raise db_error(exc, path, config.busy_timeout, " (while reading it for --dry-run)") from None


def pending_journal(path: str) -> str:
    """The plan's note on a hot journal: reading past it would take its rollback, a write."""
    return (
        f"note: {path} holds the journal of a writer that stopped mid-transaction ({os.path.basename(path)}-journal); "
        "the load rolls it back first. The dry run writes nothing, so it read none of the target's checkpoint or tables"
    )


def file_uri(path: str) -> str:
    """``path`` as a SQLite ``file:`` URI, absolute. Its bytes are percent-escaped, so a name
    in bytes that are not UTF-8 (held as surrogates, ``os.fsdecode``), which SQLite's text
    filename cannot carry, opens the file of those bytes."""
    return "file:" + urllib.parse.quote(os.fsencode(os.path.abspath(path)))


@contextlib.contextmanager
def _read_only(path: str, timeout: float) -> Iterator[Any]:
    """A connection that creates and writes nothing beside the database."""
    import sqlite3

    uri = file_uri(path) + "?mode=ro"
    if _in_wal_mode(path) and not os.path.exists(path + "-wal"):
        # all of it is in the file: read as it is, or SQLite would make a -wal and -shm beside it
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


TABLE_OBJECTS_SQL = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? COLLATE NOCASE"
"""The table and its indexes and triggers: type, name, SQL."""
KIND_SQL = "SELECT type, sql FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type <> 'trigger'"
"""The type and SQL of what holds the table's name (triggers have names of their own)."""


# an FTS table's external content option: content=docs, 'docs', "docs", [docs] or `docs`
_CONTENT = re.compile(
    r"""\bcontent\s*=\s*(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)"|\[([^\]]*)\]|`([^`]*)`|([^\s,)]+))""", re.I
)


def _named(match: re.Match[str]) -> str:
    """The identifier a regex's groups caught, unquoted."""
    return next(g for g in match.groups() if g is not None).replace('""', '"').replace("''", "'")


def dependents(execute: Callable[..., list[Any]], table: str) -> list[str]:
    """What outside ``table`` would go stale or break if it were dropped and made anew: an FTS
    table indexing its text (``content=``), another table's foreign key referencing it. Views
    and other tables' triggers are not: they name the new table (``SQLiteWriter._swap``)."""
    found = [
        f"table {name!r} (its foreign key references {table!r})"
        for (name,) in execute(
            "SELECT DISTINCT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.\"table\" = ? COLLATE NOCASE AND m.name <> ? COLLATE NOCASE",
            (table, table),
        )
    ]
    for name, sql in execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name <> ?", (table,)):
        if is_virtual(sql) and any(fold(_named(m)) == fold(table) for m in _CONTENT.finditer(sql or "")):
            found.append(f"virtual table {name!r} (it indexes the text of {table!r}: content={table})")
    return found


def check_dependents(execute: Callable[..., list[Any]], table: str, path: str) -> None:
    """``replace`` drops the table and makes it anew, without its key: what depends on it from
    outside (``dependents``) would answer with the old rows or fail, so it is refused first."""
    found = dependents(execute, table)
    if found:
        raise ConfigError(
            f"sink.mode: replace would drop table {table!r} in {path} and make it anew, which would leave what "
            f"depends on it stale or broken: {'; '.join(found)}",
            hint='load with mode = "append" (--mode append) or "upsert" (--mode upsert), which keep them right; '
            "or drop them, replace, and make them again",
        )


# SQLite refusing to compile an INSERT into the table as its schema stands
_NO_FUNCTION = re.compile(r"^(?:no such function: (\S+)|unknown function: (\S+?)\(\))$")
_NO_TABLE = re.compile(r"^no such table: (?:main\.)?(.+)$")
_MISMATCH = re.compile(r"^foreign key mismatch")


def _check_fails(execute: Callable[..., list[Any]], held: str, table: str) -> SchemaMismatchError | None:
    """A read-only connection compiles no CHECK into an INSERT: the table's CREATE statement
    made again in memory, where SQLite resolves its CHECKs' functions."""
    import sqlite3

    found = execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", (held,))
    if not found or is_virtual(found[0][0]):
        return None
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(found[0][0])
    except sqlite3.Error as exc:
        return unusable(str(exc), table, [])
    finally:
        scratch.close()
    return None


def insert_sql(table: str, names: Iterable[str], *, explain: bool = True) -> str:
    """An INSERT of no row of ``names`` into ``table``, which SQLite compiles with the table's
    triggers, CHECKs, DEFAULTs of the columns left out and foreign keys: under EXPLAIN for a
    read-only connection (the dry run's); without, for the load's, whose driver reads EXPLAIN's
    rows as typed columns and refuses their mix of numbers and text (a wide table's)."""
    cols = [quote(n) for n in names]
    head = "EXPLAIN " if explain else ""
    return f"{head}INSERT INTO main.{quote(table)} ({', '.join(cols)}) SELECT {', '.join(['NULL'] * len(cols))} WHERE 0"


def unusable(message: str, table: str, objects: Iterable[tuple[Any, ...]]) -> SchemaMismatchError | None:
    """Where SQLite's ``message`` says an INSERT into ``table`` cannot even be compiled (a
    function an application registers on its own connections, a table dropped since, a
    foreign key to columns that are not a key): the error naming the table's trigger or
    constraint (``objects``: its ``sqlite_master`` rows, type, name, sql). A rerun meets it again."""
    function, gone = _NO_FUNCTION.match(message), _NO_TABLE.match(message)
    if function:
        name = next(g for g in function.groups() if g)
        said = f"calls {name}(), a function the loader's connection does not have"
        found = re.compile(rf"(?<![\w$]){re.escape(name)}\s*\(", re.IGNORECASE)
        hint = "an application registers such a function on its own connections only: "
    elif gone:
        name = gone.group(1)
        said = f"names table {name!r}, which is not there"
        found = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
        hint = f"make table {name!r} again, or "
    elif _MISMATCH.match(message):
        return SchemaMismatchError(
            f"table {table!r} cannot take rows: its foreign key references columns of the parent table that are "
            f"not its PRIMARY KEY or a UNIQUE index (SQLite: {message})",
            hint="give the parent table that key (or the child's foreign key the parent's key), then rerun",
        )
    else:
        return None
    where, it = f"a CHECK constraint, DEFAULT or generated column of table {table!r}", "the table's definition"
    for kind, obj, sql in objects:
        if kind == "trigger" and found.search(sql or ""):
            where, it = f"trigger {obj!r} on table {table!r}", f"trigger {obj!r}"
            break
    return SchemaMismatchError(
        f"table {table!r} cannot take rows: {where} {said} (SQLite: {message})",
        hint=f"{hint}drop or change {it}, or load into another table, then rerun",
    )


def check_kind(kind: str | None, path: str, table: str) -> None:
    """The name is free, or a table's (``kind``: its type in ``sqlite_master``). A view takes
    no rows of the loader's: SQLite counts none an INSTEAD OF trigger writes, so no count,
    reject or checkpoint could be told right, and ``replace`` cannot drop it as a table. An
    index's name no table can take."""
    if kind == "view":
        raise ConfigError(
            f"sink.table: {table!r} in {path} is a view, not a table: the loader loads into tables only",
            hint="name a table (--table), such as the one the view reads",
        )
    if kind == "index":
        raise ConfigError(
            f"sink.table: {table!r} in {path} is the name of an index, which no table can take",
            hint="name another table (--table)",
        )


def is_virtual(sql: str | None) -> bool:
    """A table's ``CREATE`` statement makes a virtual table (FTS5, R*Tree): SQLite adds no
    columns to one."""
    return VIRTUAL.match(sql or "") is not None


def generated_columns(xinfo: list[tuple[Any, ...]]) -> list[str]:
    """A table's generated columns, from its ``PRAGMA table_xinfo`` rows (cid, name, type,
    notnull, default, pk, hidden: 2 and 3 are generated)."""
    return [r[1] for r in xinfo if r[6] in (2, 3)]


def required_columns(info: list[tuple[Any, ...]]) -> list[str]:
    """The columns of a table (its ``PRAGMA table_info`` rows: cid, name, type, notnull,
    default, pk) that every row needs a value for: NOT NULL without a default, but an
    INTEGER PRIMARY KEY (SQLite gives a null there the next rowid)."""
    keys = [r for r in info if r[5]]
    rowid = keys[0][1] if len(keys) == 1 and (keys[0][2] or "").upper() == "INTEGER" else None
    return [r[1] for r in info if r[3] and r[4] is None and r[1] != rowid]


def unique_keys(execute: Callable[[str], Any], table: str) -> list[set[str]]:
    """The column sets (``fold``ed) a table's PRIMARY KEY and UNIQUE constraints or indexes
    hold unique: the conflict targets SQLite accepts."""
    keys = [{fold(r[1]) for r in execute(f"PRAGMA table_info({quote(table)})") if r[5]}]
    keys += [set(cols) for unique, cols in full_indexes(execute, table) if unique]
    return [k for k in keys if k]


def full_indexes(execute: Callable[[str], Any], table: str) -> list[tuple[bool, tuple[str, ...]]]:
    """Whether each index of ``table`` is unique, and its columns (``fold``ed, in order); a
    partial index, or one on an expression, is left out: it covers no column list whole."""
    out = []
    for _, name, unique, _, partial in execute(f"PRAGMA index_list({quote(table)})"):
        cols = tuple(r[2] for r in execute(f"PRAGMA index_info({quote(name)})"))
        if not partial and None not in cols:
            out.append((bool(unique), tuple(fold(c) for c in cols)))
    return out


def partial_key(execute: Callable[[str], Any], table: str, key: Iterable[str]) -> str | None:
    """A UNIQUE index of ``table`` on the ``key`` columns that cannot be an upsert's conflict
    target (``full_indexes`` leaves it out): its name and why, or None."""
    wanted = {fold(k) for k in key}
    for _, name, unique, _, partial in execute(f"PRAGMA index_list({quote(table)})"):
        cols = [r[2] for r in execute(f"PRAGMA index_info({quote(name)})")]
        named = {fold(c) for c in cols if c is not None}
        if None in cols:  # an expression's columns are not listed: those of the key it names
            sql = fold(str(execute(f"SELECT sql FROM sqlite_master WHERE name = {_literal(name)}")[0][0]))
            named |= {k for k in wanted if re.search(rf"(?<![\w$]){re.escape(k)}(?![\w$])", sql)}
        if unique and named and named <= wanted and (partial or None in cols):
            return f"{name!r} is " + ("partial (it has a WHERE clause)" if partial else "on an expression")
    return None


def _literal(text: str) -> str:
    """``text`` as a SQL string literal (these callers bind no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def key_error(config: SinkConfig, table: str, near: str | None = None, held: str | None = None) -> ConfigError:
    """``near``: a UNIQUE index on the key that cannot serve (``partial_key``). ``held``: the
    table the rows go into, where it is a replace's stage table (``rows_table``), which the
    replace made with its own key or none."""
    cols = ", ".join(config.primary_key)
    why = f": its UNIQUE index {near}, which SQLite cannot match an upsert's conflict against" if near else ""
    if held is not None and held != table:
        return ConfigError(
            f"sink.primary_key: the replace of table {table!r} under way (stopped before its end) loads into its "
            f"stage table {held!r}, which it made without a PRIMARY KEY or UNIQUE index on ({cols}){why}; "
            f"mode {config.mode!r} needs one",
            hint='finish the replace first: rerun with mode = "replace" (it goes on where it stopped and swaps '
            "the new rows in), then load in this mode; or start over in this mode with --restart (the stage table "
            "and its rows are dropped, the table keeps its old rows)",
        )
    return ConfigError(
        f"sink.primary_key: table {table!r} has no PRIMARY KEY or UNIQUE index on ({cols}), "
        f"which mode {config.mode!r} needs{why}",
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
    """The key and index columns are in the data, and every name is one SQLite can hold:
    said by ``--dry-run`` too."""
    check_names(names)
    suggest.require_columns("sink.primary_key", config.primary_key, names, fold_case=True)
    for cols in config.indexes:
        suggest.require_columns("sink.indexes", cols, names, fold_case=True)


def check_names(names: list[str]) -> None:
    """Every column name is one SQLite can hold (a ``SchemaMismatchError``: the data must change)."""
    nul = next((n for n in names if "\x00" in n), None)
    if nul is not None:  # a JSON key "a\u0000b", a Parquet column: LevelDB's JSON holds it, SQLite no name
        raise SchemaMismatchError(
            "its name holds a NUL byte, which no SQLite column name can",
            column=nul,
            hint=f'rename it ([[transform]] type = "rename", columns = {{ {json.dumps(nul)} = '
            f"{json.dumps(nul.replace(chr(0), '_'))} }}), then rerun",
        )


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
