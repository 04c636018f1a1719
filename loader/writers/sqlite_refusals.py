"""Rows a SQLite table's own constraints refuse (a key already there under ``append``, CHECK,
NOT NULL, a trigger's ``RAISE(ABORT)``): found, left out of the load and named by file, row,
line, column and key, so the other rows go in. Many rows refused by one key are found in bulk
(one anti-join). A table whose conflict clause or trigger ends more than the refused row's
statement (``ROLLBACK``, ``FAIL``) stops the load instead (``RefusalStop``).

``Guards`` is what the table's SQL says about how it refuses; ``Refusals`` is the writer's
half that takes refused rows out of a batch, a stage table or a part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from adbc_driver_manager import Error as AdbcError

from ..chunk import Chunk, Reject, row_values
from ..config import SinkConfig
from ..errors import ConstraintError, LoaderError
from ..suggest import fold
from .base import Refused
from .sqlite_errors import db_error, sqlite_message
from .sqlite_schema import REFUSED_TABLE, Rows, is_virtual, quote

if TYPE_CHECKING:
    from .sqlite import _Connection

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
    r"out of memory|interrupted|^no such |constraint failed|^cannot store ",
    re.IGNORECASE,
)
_UNIQUE = re.compile(r"^(?:UNIQUE|PRIMARY KEY) constraint failed: (.+)$")
_NOT_NULL = re.compile(r"^NOT NULL constraint failed: (.+)$")
_CHECK = re.compile(r"^CHECK constraint failed: (.+)$")
# an expression's identifiers: quoted ("a b", `a`, [a]) or bare; its string literals are left out first
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|`([^`]*)`|\[([^\]]*)\]|([A-Za-z_][A-Za-z0-9_$]*)')
# a STRICT table's column refusing a value of another type (SQLITE_CONSTRAINT_DATATYPE)
_STRICT = re.compile(r"^cannot store (\w+) value in (\w+) column (.+)$")
_SEVERITY = ("ABORT", "FAIL", "ROLLBACK")
_REPLACE = re.compile(r"\bON\s+CONFLICT\s+REPLACE\b", re.IGNORECASE)
_FOREIGN = "FOREIGN KEY constraint failed"
_DEFERRED = re.compile(r"\bDEFERRABLE\s+INITIALLY\s+DEFERRED\b", re.IGNORECASE)
BULK_AFTER = 16  # refused rows in one batch before the rest of it is sorted out in bulk (``_append_bulk``)


def is_constraint(message: str) -> bool:
    """SQLite's ``message`` says a constraint refused a row: a column's, the table's, or a
    STRICT table's column type."""
    return "constraint failed" in message.lower() or _STRICT.match(message) is not None


def refusal(message: str, table: str, values: dict[str, Any]) -> tuple[str, str | None]:
    """Why the table refused a row (SQLite's ``message``), and the column(s) it names:
    the key value for a UNIQUE or PRIMARY KEY constraint on columns."""
    # SQLite names each column "table.column"; either may hold a dot (names in any ASCII case)
    prefix = fold(table) + "."
    strict = _STRICT.match(message)
    if strict and fold(strict.group(3)).startswith(prefix):
        column = strict.group(3)[len(prefix) :]
        kind, declared = strict.group(1), strict.group(2)
        return (
            f"column {column!r} of STRICT table {table!r} is {declared} and takes no {kind} value ({message})",
            column,
        )
    null = _NOT_NULL.match(message)
    if null and fold(null.group(1)).startswith(prefix):
        return f"table {table!r} refuses the row ({message})", null.group(1)[len(prefix) :]
    check = _CHECK.match(message)
    if check:
        return f"table {table!r} refuses the row ({message})", checked_columns(check.group(1), values)
    found = _UNIQUE.match(message)
    named = found.group(1).split(", ") if found else []
    cols = [c[len(prefix) :] for c in named if fold(c).startswith(prefix)]
    if not found or len(cols) != len(named):  # an index on an expression, or another table's
        return f"table {table!r} refuses the row ({message})", None
    by_name = {fold(k): v for k, v in values.items()}
    key = [repr(by_name.get(fold(c))) for c in cols]
    shown = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
    return f"key {shown} is already in table {table!r} ({message})", ", ".join(cols)


def checked_columns(expression: str, values: dict[str, Any]) -> str | None:
    """The row's columns a CHECK constraint's expression (as SQLite's message gives it)
    reads, in their order there; None for a named constraint, whose message holds its name."""
    names = {fold(k): k for k in values}
    found: list[str] = []
    for match in _IDENTIFIER.finditer(_LITERAL.sub("", expression)):
        word = next(g for g in match.groups() if g is not None).replace('""', '"')
        column = names.get(fold(word))
        if column is not None and column not in found:
            found.append(column)
    return ", ".join(found) or None


@dataclass(frozen=True)
class ForeignKey:
    """One of the table's foreign keys: its columns, and the parent table's it references."""

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]

    def reason(self, table: str, values: dict[str, Any]) -> str:
        """Why a row with ``values`` is refused by this key (its parent row is not there)."""
        by_name = {fold(k): v for k, v in values.items()}
        shown = [repr(by_name.get(fold(c))) for c in self.columns]
        value = shown[0] if len(shown) == 1 else "(" + ", ".join(shown) + ")"
        return (
            f"{', '.join(self.columns)} {value} is not in table {self.parent!r} ({', '.join(self.parent_columns)}), "
            f"which the foreign key of table {table!r} references ({_FOREIGN})"
        )


def foreign_keys(execute: Callable[[str], list[Any]], table: str) -> tuple[ForeignKey, ...]:
    """``table``'s foreign keys (``PRAGMA foreign_key_list``: id, seq, table, from, to, ...); a
    key naming no parent column references the parent's primary key."""
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in execute(f"PRAGMA foreign_key_list({quote(table)})"):
        grouped.setdefault(row[0], []).append(row)
    keys = []
    for rows in grouped.values():
        rows.sort(key=lambda r: r[1])
        parent = rows[0][2]
        to = [r[4] for r in rows]
        if None in to:
            info = sorted((r for r in execute(f"PRAGMA table_info({quote(parent)})") if r[5]), key=lambda r: r[5])
            to = [r[1] for r in info]
        keys.append(ForeignKey(tuple(r[3] for r in rows), parent, tuple(to)))
    return tuple(keys)


def has_deferred_keys(sql: str | None) -> bool:
    """The table's SQL declares a foreign key SQLite checks only at COMMIT."""
    return _DEFERRED.search(sql or "") is not None


@dataclass(frozen=True)
class Guards:
    """How the table's constraints and triggers refuse a row (``read_guards``); the
    defaults: as a table without any."""

    refusing: bool = True  # rows the table's constraints refuse go to the rejects
    exact: bool = True  # the change count grows by one for each row bound, and by nothing else
    bulk: bool = True  # many rows refused by a key can be found in bulk (no REPLACE clause)
    raises: Mapping[str, tuple[str, str]] = field(
        default_factory=dict
    )  # a trigger's RAISE message: its kind, the trigger
    raise_other: str | None = None  # the gravest kind a trigger raises with a computed message
    foreign: tuple[ForeignKey, ...] = ()  # the table's foreign keys, enforced (``SQLiteWriter.__enter__``)
    deferred: bool = False  # one of them is checked at COMMIT only, where no row can be told apart

    def raised(self, message: str) -> tuple[str, str | None] | None:
        """The kind of ``RAISE`` (ABORT, FAIL, ROLLBACK) and trigger (if known) that
        ``message`` comes from; None: not a trigger's."""
        if message in self.raises:
            return self.raises[message]
        if self.raise_other is not None and not _ENGINE.search(message):
            return self.raise_other, None
        return None

    def refuses(self, message: str) -> bool:
        """SQLite's ``message`` says the table refused a row (a constraint, a trigger's RAISE)."""
        return is_constraint(message) or self.raised(message) is not None


def read_guards(found: list[tuple[Any, ...]], foreign: tuple[ForeignKey, ...] = ()) -> Guards:
    """How a refused row can be taken out of a batch, from the table's ``sqlite_master``
    rows (type, name, sql): not at all where the table's constraints or triggers end more
    than one statement; through the stage table where the connection's change count does
    not grow by one a row (see ``Refusals._append``): rows a trigger or a virtual table's
    shadow tables take count too, rows an ``ON CONFLICT IGNORE`` or ``RAISE(IGNORE)`` drops
    do not. Also the messages of the
    triggers' ``RAISE``, which say a row is refused."""
    triggers = [(name, sql or "") for kind, name, sql in found if kind == "trigger"]
    writes = any(_WRITES.search(_STRING.sub("''", _trigger_body(sql))) for _, sql in triggers)
    raises: dict[str, tuple[str, str]] = {}
    raise_other: str | None = None
    for name, sql in triggers:
        for raised in _RAISE.finditer(sql):
            kind = raised.group(1).upper()
            if raised.group(2) is not None:
                raises[raised.group(2).replace("''", "'")] = (kind, name)
            elif raise_other is None or _SEVERITY.index(kind) > _SEVERITY.index(raise_other):
                raise_other = kind
    return Guards(
        refusing=not any(_NOT_PER_ROW.search(sql or "") for _, _, sql in found),
        exact=not writes
        and not any(_DROPPING.search(sql or "") or (kind == "table" and is_virtual(sql)) for kind, _, sql in found),
        bulk=not any(_REPLACE.search(sql or "") for _, _, sql in found),
        raises=raises,
        raise_other=raise_other,
        foreign=foreign,
        deferred=bool(foreign) and any(kind == "table" and has_deferred_keys(sql) for kind, _, sql in found),
    )


class Refusals:
    """``SQLiteWriter``'s rows the table refuses: its batches appended row by row past a
    refusal, or sorted out in bulk; a stage table's rows merged range by range; a refusal
    that stops the load. The writer supplies the connection and the statements below."""

    config: SinkConfig
    table: str
    into: str  # the table rows go into: ``table``, or a replace's stage table
    conn: _Connection | None
    _guards: Guards

    def _execute(self, sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _stage(self, rows: pa.RecordBatch | pa.RecordBatchReader) -> Rows:
        raise NotImplementedError

    def _merge_sql(self, names: tuple[str, ...], source: Rows, ranged: bool = False) -> str:
        raise NotImplementedError

    def _failure(self, exc: AdbcError, index: int | None = None) -> LoaderError:
        """A driver error as the user's: a refusal that stops the load (the table's conflict
        clause or trigger undoes more than the row) is a data error, its row at ``index``
        of the batch where known; anything else as ``db_error`` says."""
        message = self._said(exc)
        raised = self._guards.raised(message)
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
        return RefusalStop(self.table, message, cause, index, self.config.path, hint)

    def _said(self, exc: AdbcError) -> str:
        """SQLite's message, naming the table as the user does where a replace's rows go into
        its stage table ("UNIQUE constraint failed: t.id"), as the reject reasons always name it."""
        message = sqlite_message(exc)
        return message if self.into == self.table else message.replace(f"{self.into}.", f"{self.table}.")

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
                return written + self.conn.ingest(self.into, rows.slice(start)), refused
            except AdbcError as exc:
                message = self._said(exc)
                if not self._guards.refuses(message):
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
        bulk = self._bulk_refuse(self._stage(rows.slice(start)), tuple(rows.schema.names), message)
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
            bool(self.config.mode in ("append", "replace") and self._guards.exact and self._guards.bulk and found)
            and refusal(message, self.table, {})[1] is not None
        )

    def _bulk_refuse(self, source: Rows, names: tuple[str, ...], message: str) -> tuple[int, list[int]] | None:
        """The rows of ``source`` (numbered 1 to n) into the table in bulk: those whose key (the
        one SQLite's ``message`` names) the table or an earlier row holds are found in one
        anti-join and left out, the others inserted in one statement. SQLite checks both
        halves under a savepoint: the others must all go in, and the left-out rows must all
        conflict; else nothing is kept (None). The rows written, and the numbers of those left out."""
        assert self.conn is not None
        key = str(refusal(message, self.table, {})[1])
        by_name = {fold(n): n for n in names}
        keys = [quote(by_name[fold(k)]) for k in key.split(", ") if fold(k) in by_name]
        if len(keys) != key.count(", ") + 1:
            return None
        table, refused, seq = f"main.{quote(self.into)}", f"temp.{REFUSED_TABLE}", source.seq
        cols = ", ".join(quote(n) for n in names)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        # a null in the key conflicts with nothing, as in a UNIQUE index
        repeated = " AND ".join([f"s.{k} IS NOT NULL" for k in keys] + ["row_number() OVER w > 1"])
        self._execute(f"DROP TABLE IF EXISTS {refused}")
        self._execute(
            f"CREATE TEMP TABLE {REFUSED_TABLE} AS SELECT r FROM (SELECT s.{seq} AS r, "
            f"EXISTS (SELECT 1 FROM {table} t WHERE {on}) OR ({repeated}) AS taken FROM {source.table} s "
            f"WINDOW w AS (PARTITION BY {', '.join('s.' + k for k in keys)} ORDER BY s.{seq})) WHERE taken"
        )
        self._execute(f"SAVEPOINT {RANGE_SAVEPOINT}")
        try:
            self.conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source.table} "
                f"WHERE {seq} NOT IN (SELECT r FROM {refused}) ORDER BY {seq}"
            )
            written = int(self.conn.execute("SELECT changes()")[0][0])
            self.conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source.table} "
                f"WHERE {seq} IN (SELECT r FROM {refused}) ON CONFLICT DO NOTHING"
            )
            slipped = int(self.conn.execute("SELECT changes()")[0][0])
        except AdbcError as exc:
            if not self._guards.refuses(self._said(exc)):
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

    def _refuse_rows(
        self, source: Rows, names: tuple[str, ...], count: int, message: str, by_changes: bool = False
    ) -> tuple[int, list[Refused]]:
        """The rows of ``source`` (numbered 1 to ``count``), of which the table refused one
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
                message = self._said(exc)
                if not self._guards.refuses(message):
                    raise  # as it is: the failure may have ended the transaction, savepoint and all
                self._execute(f"ROLLBACK TO {RANGE_SAVEPOINT}")
                self._execute(f"RELEASE {RANGE_SAVEPOINT}")
                if lo == hi:
                    cols = ", ".join(quote(n) for n in names)
                    values = self.conn.execute(f"SELECT {cols} FROM {source.table} WHERE {source.seq} = ?", (lo,))
                    refused.append(self._refused(lo - 1, message, dict(zip(names, values[0], strict=True))))
                else:  # the first half first: rows go in in their order
                    mid = (lo + hi) // 2
                    todo += [(mid + 1, hi), (lo, mid)]
                continue
            changed = int(self.conn.execute("SELECT changes()")[0][0])
            self._execute(f"RELEASE {RANGE_SAVEPOINT}")
            written += changed if by_changes or self.config.mode == "ignore" else hi - lo + 1
        return written, refused

    def _refused_in(self, source: Rows, names: tuple[str, ...], numbers: list[int], message: str) -> list[Refused]:
        """The rows of ``source`` numbered ``numbers`` (in order), refused with ``message``."""
        cols = ", ".join(quote(n) for n in names)
        found = self._execute(
            f"SELECT {cols} FROM {source.table} WHERE {source.seq} IN (SELECT r FROM temp.{REFUSED_TABLE}) "
            f"ORDER BY {source.seq}"
        )
        return [
            self._refused(r - 1, message, dict(zip(names, row, strict=True)))
            for r, row in zip(numbers, found, strict=True)
        ]

    def _refused(self, index: int, message: str, values: dict[str, Any]) -> Refused:
        if message == _FOREIGN:
            broken = self._broken_key(values)
            if broken is not None:
                return Refused(index, broken.reason(self.table, values), ", ".join(broken.columns), values)
        raised = self._guards.raised(message)
        if raised is not None and raised[1] is not None:
            message = f"trigger {raised[1]!r}: {message}"
        reason, column = refusal(message, self.table, values)
        return Refused(index, reason, column, values)

    def _broken_key(self, values: dict[str, Any]) -> ForeignKey | None:
        """The foreign key whose parent row a refused row's ``values`` do not find (SQLite's
        message names none); a key with a null column checks nothing (MATCH SIMPLE)."""
        by_name = {fold(k): v for k, v in values.items()}
        for key in self._guards.foreign:
            wanted = [by_name.get(fold(c)) for c in key.columns]
            if None in wanted or len(key.parent_columns) != len(wanted):
                continue
            where = " AND ".join(f"{quote(c)} = ?" for c in key.parent_columns)
            if not self._execute(f"SELECT 1 FROM {quote(key.parent)} WHERE {where} LIMIT 1", tuple(wanted)):
                return key
        return None


class RefusalStop(ConstraintError):
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
