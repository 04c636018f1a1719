"""Replay of a reject file: the rows a load rejected, fixed by hand, loaded once more.

``loader replay REJECTS.jsonl --job job.toml`` (``Pipeline.replay``) reads the
reject file's lines of that job, turns each back into a row (its ``values``,
or its ``raw`` text split with the file's dialect, or parsed as JSON for a JSON
Lines file; bytes written as ``{"base64": ...}`` decoded), converts it to the column
types the job's checkpoint recorded, and runs it through the job's stages from
where it was rejected: a ``read`` reject through every stage, a stage's reject
from that stage on, a ``write`` reject straight to the target. Rows go into the
same target by the normal run loop.

Exactly once: each row that reaches the target is recorded in the job's checkpoint
(``replayed:<file>#<first>-<last>`` entries listing rows), committed with the row (SQLite: one transaction;
LevelDB: right after it, puts being idempotent). A later replay, or a rerun of
one that was stopped, counts such rows as already replayed. Rows that fail again
go to ``<rejects>.replay.jsonl``, rewritten by each replay, with their original
file, row, line and stage.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, cast

import pyarrow as pa

from . import kernels, storage
from .chunk import BASE64, NOT_UTF8, REJECT_FORMAT, Chunk, Reject, source_path
from .config import COMPRESSED_SUFFIXES, Format, SourceConfig, infer_format
from .convert import Converted, TypeGuess, convert, convert_columns
from .errors import (
    ConfigError,
    LoaderError,
    MissingInputError,
    NothingLoadedError,
    RejectLimitError,
    SourceError,
)
from .lock import TargetLock
from .memory import gc_paused
from .nested import guessed_type, nested_column
from .paths import glob_could_match
from .progress import Progress
from .readers import Naming, Reader, open_reader
from .readers.csv.long_rows import UNTERMINATED
from .readers.csv.parse import BlockParser, na_after_parse
from .readers.decimal_comma import PLAIN, CommaGuess, NumberStyle, convert_comma, number_style
from .readers.partitions import folder_values, loaded_keys
from .rejects import Committed, RejectFile, reject_target
from .report import FileReport, RunReport, ignored_text
from .schema import (
    as_declared,
    binding,
    bound,
    declared_pins,
    decode_types,
    encode_types,
    spellings,
    stored_types,
)
from .sinks.base import Encoded, Encoder
from .state import (
    REPLACING_ENTRY,
    REPLAYED,
    STAMP_ENTRY,
    FileState,
    JobState,
    Ledger,
    file_key,
    identity,
    same_content,
    same_job,
)
from .storage import file_mode, refuse_special
from .suggest import fold
from .transforms import Stage, close_stages, output_schema
from .types import empty_batch, is_numeric, parse_type, value_type
from .writers.base import Writer, naming_file
from .writers.encode import is_nested

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .readers.jsonl import KeyColumns

MARK = REPLAYED


def replay_rejects_path(path: str) -> str:
    """Where rows that fail again go: ``x.rejects.jsonl`` -> ``x.rejects.replay.jsonl``."""
    return (path[: -len(".jsonl")] if path.endswith(".jsonl") else path) + ".replay.jsonl"


def row_id(path: str, row: int, version: int = 1) -> str:
    """A replayed row's name in the checkpoint: its original file's absolute path and row,
    and the file's version past its first (a reloaded file's row ``n`` is another row)."""
    return f"{path}#{row}" if version == 1 else f"{path}#v{version}#{row}"


def mark_entries(ids: Sequence[str]) -> dict[str, str]:
    """Checkpoint entries for rows replayed in one commit: one per file,
    ``replayed:<file>#<first>-<last>`` listing the rows (an entry per row cost
    an INSERT per row at commit)."""
    rows: dict[str, list[int]] = {}
    for i in ids:
        file, row = i.rsplit("#", 1)
        rows.setdefault(file, []).append(int(row))
    return {f"{MARK}{f}#{min(r)}-{max(r)}": json.dumps(sorted(r)) for f, r in rows.items()}


def replayed(entries: dict[str, str]) -> set[str]:
    """The rows that earlier replays committed, from the job's checkpoint entries."""
    out: set[str] = set()
    for key, value in entries.items():
        if key.startswith(MARK):
            file = key[len(MARK) :].rsplit("#", 1)[0]
            out.update(f"{file}#{row}" for row in json.loads(value))
    return out


TYPED_FORMATS = ("parquet", "arrow")  # formats whose files type their own columns


def _plain_text(path: str) -> bool:
    """A ``.txt`` name tells no format: a job reads such files as whatever it declares."""
    return path.lower().endswith(tuple(".txt" + c for c in ("", *COMPRESSED_SUFFIXES)))


def _reads(pattern: str, path: str) -> bool:
    """Whether the job's ``pattern`` reads ``path``: as a glob, or as its exact name (a file
    named with glob characters, ``report[1].txt``, is the file it names)."""
    return storage.key(pattern) == storage.key(path) or glob_could_match(pattern, path)


@dataclass
class Entry:
    """One line of a reject file."""

    number: int  # the line in the reject file, 1-based
    file: str
    path: str  # the source file's absolute path: which file the row came from, wherever the replay runs
    row: int | None
    line: int | None
    stage: str
    values: dict[str, Any] | None
    raw: str | bytes | None
    raw_truncated: bool
    job: str | None
    problem: str | None = None  # why the line cannot be replayed as it is
    target: str | None = None  # the target whose load wrote the line (none: an earlier loader's line)
    version: int = 1  # the source file's version the row came from (``FileState.version``)
    reason: str = ""  # why the row was rejected


# Where a replay stopped on its reject file: rows replayed before the stop stay, and are
# counted as already replayed the next time.
REPLAY_HINT = "fix the reject file, then replay it again: rows already replayed are not loaded twice"


def check_reject_file(path: str) -> None:
    """Refuse a reject file that is a pipe (``<(cat fixed.jsonl)``, ``/dev/stdin``), a socket or
    a device, from its ``stat``, before it is opened: a replay reads the file twice (its last
    lines, then its rows), and what a pipe gave is gone; a FIFO with no writer blocks for ever.
    A missing one is left to ``read_entries``."""
    try:
        refuse_special(path, file_mode(path))
    except MissingInputError as exc:
        exc.hint = "copy it to a file first (`cat ... > fixed.jsonl`) and replay that file; nothing was replayed"
        raise


def read_entries(path: str) -> Iterator[Entry]:
    """The reject file's lines, split on ``\\n`` only (a value may hold U+2028)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except (FileNotFoundError, PermissionError) as exc:
        why = "no such file" if isinstance(exc, FileNotFoundError) else "permission denied"
        raise MissingInputError(
            f"cannot read the reject file: {why}", file=path, hint="check the reject file's path; nothing was replayed"
        ) from None
    except OSError as exc:
        raise SourceError(
            f"cannot read the reject file: {exc.strerror or exc}", file=path, hint="nothing was replayed"
        ) from None
    with fh:
        for number, data in enumerate(fh, 1):
            if data.strip():
                yield _entry(path, number, data)


def _entry(path: str, number: int, data: bytes) -> Entry:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise SourceError(f"not a JSON object: {exc}", file=path, line=number, hint=REPLAY_HINT) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("file"), str):
        raise SourceError(
            'not a reject line: expected a JSON object with a "file"', file=path, line=number, hint=REPLAY_HINT
        )
    version = obj.get("v", 1)
    if not isinstance(version, int) or version > REJECT_FORMAT:
        raise SourceError(
            f"reject format v{version} is newer than this loader reads (v{REJECT_FORMAT})",
            file=path,
            line=number,
            hint="replay it with the loader version that wrote it, or a newer one",
        )
    values = obj.get("values")
    if values is not None and not isinstance(values, dict):
        raise SourceError('"values" must be a JSON object of column: value', file=path, line=number, hint=REPLAY_HINT)
    raw, problem = obj.get("raw"), None
    if _is_bytes(raw):
        try:
            raw = _bytes(raw)
        except ValueError as exc:
            raw, problem = None, f"raw: {exc}"
    if version < 2:
        problem = problem or _v1_problem(obj, values, raw)
    # lines written before "path" was: the file as the load named it, from this directory
    where = obj.get("path")
    return Entry(
        number=number,
        file=obj["file"],
        path=where if isinstance(where, str) else source_path(obj["file"]),
        row=obj.get("row") if isinstance(obj.get("row"), int) else None,
        line=obj.get("line") if isinstance(obj.get("line"), int) else None,
        stage=str(obj.get("stage") or "read"),
        values=values,
        raw=raw if isinstance(raw, (str, bytes)) else None,
        raw_truncated=obj.get("raw_truncated") is True,
        job=obj.get("job") if isinstance(obj.get("job"), str) else None,
        target=obj.get("target") if isinstance(obj.get("target"), str) else None,
        problem=problem,
        version=obj["version"] if type(obj.get("version")) is int and obj["version"] > 1 else 1,
        reason=str(obj.get("reason") or ""),
    )


_ESCAPED_BYTE = re.compile(r"\\x[0-9a-f]{2}")


def _v1_problem(obj: dict[str, Any], values: Any, raw: Any) -> str | None:
    """Why a line of format 1 cannot be replayed as it is: that format cut a long row's
    ``raw`` at 1 KiB without saying so, and wrote bytes that are not text as ``\\xNN``
    escapes, which read back as those characters. Fixed rows (fields in ``values``, or
    no escape left) replay."""
    reason = str(obj.get("reason") or "")
    if values is None and reason.startswith("row longer than"):
        return 'raw was cut at 1 KiB by a loader writing reject format 1: write the row\'s fields in "values"'
    bytes_reason = NOT_UTF8 in reason or re.search(r"not valid \S+ text", reason) is not None
    if bytes_reason and _ESCAPED_BYTE.search(json.dumps(values if values is not None else raw)):
        return (
            "bytes that are not text were written as \\xNN escapes by a loader writing reject format 1: "
            "write the value as text"
        )
    return None


def _is_bytes(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a reject line's value is bytes written as ``{"base64": "..."}``."""
    return isinstance(value, dict) and list(value) == [BASE64]


def _bytes(value: dict[str, Any]) -> bytes:
    """The bytes of ``{"base64": "..."}``; ValueError if that is not base64."""
    text = value[BASE64]
    try:
        if not isinstance(text, str):
            raise binascii.Error
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{{{BASE64!r}: {json.dumps(text)[:40]}}} is not valid base64") from None


def _text(value: Any, style: NumberStyle) -> str | None:
    """A JSON value as the text a reader would have read (a number's point as ``style``'s
    decimal separator; ungrouped, as a thousands separator may be left out)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text.replace(".", style.decimal)
    return json.dumps(value, ensure_ascii=False)


def _column(values: list[Any], style: NumberStyle, t: pa.DataType) -> pa.Array:
    """One column of replayed values as text, or as bytes where a value is bytes (a
    conversion checks those are UTF-8 unless the column is binary). A nested column's
    values as their JSON text (a raw JSON Lines line's, or a text value, as it is)."""
    if is_nested(t):
        return pa.array(
            [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values], pa.string()
        )
    texts = [v if isinstance(v, bytes) else _text(v, style) for v in values]
    if any(isinstance(t, bytes) for t in texts):
        return pa.array([t.encode() if isinstance(t, str) else t for t in texts], pa.binary())
    return pa.array(texts, pa.string())


@dataclass
class _Split:
    """How to turn an original file's raw line into values: its column names (and, for
    JSON Lines, the keys they come from and the column of each key), and the CSV dialect
    (None: JSON Lines)."""

    names: list[str]
    keys: list[str]
    dialect: dict[str, Any] | None
    columns: KeyColumns | None = None
    # JSON Lines: the job's columns the file's sample lacks, by ``fold``ed name (the checkpoint's,
    # the table's): a key first met past the sample goes to its column, as a load of a later
    # file with it would read it; a key none has is a new column, but where ``closed`` (a
    # table, no --alter) names the table that takes none
    job: dict[str, str] = field(default_factory=dict)
    closed: str | None = None
    # CSV: the file's parser: its escapes translate a raw line and its ``nulls`` read the line's
    # NULLs (escaped spellings as written, quoted_nulls) as the load did
    parser: BlockParser | None = None

    def csv(self, raw: str | bytes, nulls: set[str], reason: str = "") -> dict[str, Any] | str:
        """A CSV row split as the reader splits it; bytes that are not UTF-8 stay bytes.
        One ending inside a quoted value is rejected, as the reader rejects it (again with
        ``reason``, the line's, where that was it): Python's csv module would close the
        quote at the end and store a cut row's first half with its value cut short."""
        escapes = self.parser.escapes if self.parser is not None else None
        if escapes is not None:  # read as the reader reads a block: C escapes, \\N as written
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
            raw, nulls = bytes(escapes.translate(bytearray(data))), set(escapes.null_values(sorted(nulls)))
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        if _quote_left_open(text, self.dialect or {}):
            return reason if reason.startswith("unterminated quoted field:") else UNTERMINATED
        fields = list(csv.reader(io.StringIO(text, newline=""), **(self.dialect or {})))
        if len(fields) != 1 or len(fields[0]) != len(self.names):
            found = sum(len(f) for f in fields) if len(fields) == 1 else f"{len(fields)} rows"
            return f"expected {len(self.names)} fields, found {found}"
        null = self.parser.nulls(fields[0], text) if self.parser is not None else [v in nulls for v in fields[0]]
        if self.parser is not None:  # a text column's na spelling with the escape, as written
            fields[0] = [self.parser.na_field_as_written(n, v) for n, v in zip(self.names, fields[0], strict=True)]
        return {n: None if x else _unescaped(v) for n, v, x in zip(self.names, fields[0], null, strict=True)}

    def jsonl(self, raw: str | bytes) -> dict[str, Any] | str:
        """A JSON Lines row parsed as the reader parses it: each value as the text the reader
        converts (numbers as written, objects and arrays as compact JSON)."""
        from .readers.jsonl import _row_object, json_value_text

        obj = _row_object(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
        if isinstance(obj, str):
            return obj  # why the line is no row, as the reader says it
        beyond = self._beyond(obj)
        if isinstance(beyond, str):
            return beyond
        inside = {k: v for k, v in obj.items() if k not in beyond}
        keyed = self.columns.keyed(inside) if self.columns is not None else inside
        if isinstance(keyed, tuple):
            key, twin = keyed
            if twin is None:  # a third spelling beside two the sample held apart
                return f"key {key!r} is not a column of the file"
            return f"keys {key!r} and {twin!r} differ only in case: one column of the file"
        row = {
            n: None if keyed.get(k) is None else json_value_text(keyed[k])
            for n, k in zip(self.names, self.keys, strict=True)
        }
        return row | {c: None if obj[k] is None else json_value_text(obj[k]) for k, c in beyond.items()}

    def _beyond(self, obj: dict[str, Any]) -> dict[str, str] | str:
        """The object's keys that are no column of the file's sample (the load rejected their
        row for that), each with the job's column it goes to; or why one goes to none."""
        sampled = {fold(k) for k in self.keys}
        out: dict[str, str] = {}
        for key in obj:
            if fold(key) in sampled:
                continue  # the sample's column, or a spelling of it that ``keyed`` tells apart
            column = self.job.get(fold(key), key if self.closed is None else None)
            if column is None:
                assert self.closed is not None
                return not_in_table(key, self.closed)
            first = next((k for k, c in out.items() if fold(c) == fold(column)), None)
            if first is not None:
                return f"keys {first!r} and {key!r} differ only in case: one column, {column!r}"
            out[key] = column
        return out


def not_in_table(name: str, table: str) -> str:
    """Why a row's column new to the job (a JSON Lines key past its file's sample, a name in
    "values") is rejected again by a replay without ``sink.alter``."""
    return (
        f"no column {name!r} in the job's columns or table {table!r}: replay with --alter (sink.alter = true) to add it"
    )


# A line after a CSV row's raw text: a quote the row leaves open reads it into its value.
_PROBE = "\ue000"


def _quote_left_open(text: str, dialect: dict[str, Any]) -> bool:
    """Whether CSV ``text`` ends inside a quoted value."""
    rows = list(csv.reader(io.StringIO(text + "\n" + _PROBE, newline=""), **dialect))
    return not rows or rows[-1] != [_PROBE]


def _leaf(col: pa.Array, t: pa.DataType) -> Converted:
    """A nested value's leaves converted as a column of their type (none declared: strict)."""
    return convert(col, t, strict=True)


def _with_empty(schema: pa.Schema, names: list[str], group: list[tuple[Entry, dict[str, Any] | str]]) -> pa.Schema:
    """``schema`` with the rows' columns that no run had a value in (none was recorded for
    them: ``null``), while these rows have none either."""
    empty = [
        n for n in names if n not in schema.names and all(isinstance(v, dict) and v.get(n) is None for _, v in group)
    ]
    return pa.schema([*schema, *(pa.field(n, pa.null()) for n in empty)])


def _inferred(values: list[Any], style: NumberStyle, na: tuple[str, ...]) -> pa.DataType:
    """The type a load infers for a column of ``values`` (a reject line's: text, JSON values,
    bytes), ``na`` spellings set aside; numbers written in ``style``.
    Bytes that are not text make the column text, as a load keeps such a column."""
    col = _column(values, style, pa.string())
    if not pa.types.is_string(col.type):
        return pa.string()
    guess = TypeGuess(na=na)
    guess.add(col)
    if style.plain:
        return guess.result()
    commas = CommaGuess(style, na)
    commas.add(col)
    return commas.result(guess.result())


def _unescaped(value: str) -> str | bytes:
    """A field split from bytes that are not UTF-8 (held as surrogates) as those bytes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


@dataclass
class ReplayReport(RunReport):
    """A run report with what only a replay has: rows already replayed before, rows of
    other jobs, and each replayed row's original file, row, line and outcome."""

    replayed_from: str = ""
    rows_already: int = (
        0  # replayed by an earlier replay: rows_read = written + rejected + filtered + ignored + already
    )
    rows_other_job: int = 0  # lines of other jobs in the reject file, skipped (not counted as read)
    # lines of a row followed by a later line of it, or of a version of its file a later read
    # replaced, skipped (not counted as read)
    rows_superseded: int = 0
    rows_reloaded_since: int = 0  # of them, lines of a version of their file that a reload replaced
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        where = f"{self.target} (table {self.table})" if self.table else self.target
        parts = [f"{self.rows_written:,} written", f"{self.rows_rejected:,} rejected again"]
        parts += [f"{self.rows_filtered:,} filtered out"] if self.rows_filtered else []
        parts += [ignored_text(self.rows_ignored)] if self.rows_ignored else []
        parts.append(f"{self.rows_already:,} already replayed")
        line = f"{self.status}: replayed {self.rows_read:,} rows from {self.replayed_from} into {where}: " + ", ".join(
            parts
        )
        if self.rows_other_job:
            line += f"; {self.rows_other_job:,} rows of other jobs skipped"
        earlier = self.rows_superseded - self.rows_reloaded_since
        if earlier:
            line += f"; {earlier:,} earlier lines of a row skipped (a later line of the row, or a later read of its file, replaces each)"
        if self.rows_reloaded_since:
            line += (
                f"; {self.rows_reloaded_since:,} lines of a file reloaded since skipped "
                "(run.on_change = reload loaded its new version, which holds their rows)"
            )
        if self.rows_rejected:
            line += f"; WARNING {self.rows_rejected:,} rows rejected again, see {self.rejects_path}"
        return line


class _Entered:
    """A stage that leaves alone the chunks whose rows enter the pipeline after it."""

    def __init__(self, stage: Stage, index: int) -> None:
        self.stage = stage
        self.index = index
        self.name = stage.name

    def __call__(self, chunk: Chunk) -> Chunk:
        return chunk if chunk.end.get("entry", 0) > self.index else self.stage(chunk)

    def __getattr__(self, name: str) -> Any:  # resolve, close, state_path
        return getattr(self.stage, name)


@dataclass(frozen=True)
class _Marked(Encoded):
    """An encoded chunk of replayed rows, with the marks of the rows that reach the target,
    each row's outcome, and how many rows of the chunk were replayed before."""

    marks: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    already: int = 0


def marking(encoder: Encoder) -> Encoder:
    """The sink's encoder, plus the replay's bookkeeping: the rejects of a replayed row get
    its original file, row and line back, and the rows the target will hold are marked.
    Pure like the encoder it wraps: everything it learns travels with the chunk."""

    def encode(chunk: Chunk) -> Encoded:
        encoded = encoder(chunk)
        chunk = encoded.chunk
        # the chunk's rows by reject line: (file, row, line) where they were first read
        origin: dict[int, tuple[str, int | None, int | None]] = chunk.end.get("origin", {})
        paths: dict[int, str] = chunk.end.get("paths", {})  # and their files' absolute paths
        versions: dict[int, int] = chunk.end.get("versions", {})  # and versions
        outcome = dict.fromkeys(origin, "filtered")
        for r in chunk.rejects:
            number = r.row or 0
            r.file, r.row, r.line = origin[number]
            r.path = paths[number]
            r.version = versions[number] if versions[number] > 1 else None
            outcome[number] = "rejected"
        marks = []
        for number in chunk.rows.to_pylist():
            _, row, _ = origin[number]
            assert row is not None  # a row without a number is rejected before the stages
            marks.append(row_id(paths[number], row, versions[number]))
            outcome[number] = "loaded"
        rows = [
            dict(zip(("file", "row", "line", "status"), (*origin[n], s), strict=True))
            for n, s in sorted(outcome.items())
        ]
        return _Marked(chunk, encoded.payload, marks=marks, outcomes=rows, already=int(chunk.end.get("already", 0)))

    return encode


class _Marking:
    """The target's writer, plus the replay's bookkeeping: each commit writes a mark for
    every row that reached the target, in the same commit as the rows."""

    def __init__(self, inner: Writer, report: ReplayReport) -> None:
        self.inner = inner
        self.report = report
        self.marks: list[str] = []
        self.outcomes: list[dict[str, Any]] = []
        self.already = 0
        self.recorded: Callable[[], dict[str, str]] = dict  # the types entry, where the replay adds columns

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write(self, encoded: Encoded) -> int:
        assert isinstance(encoded, _Marked)
        written = int(self.inner.write(encoded))
        refused = _unmark(encoded)
        self.marks += [m for m in encoded.marks if m not in refused]
        self.outcomes += encoded.outcomes
        self.already += encoded.already
        return written

    def commit(self, job: str, state: dict[str, str]) -> None:
        # only the marks, and the commit's stamp: the job's own checkpoint stays as it is
        stamp = {k: v for k, v in state.items() if k == STAMP_ENTRY}
        self.inner.commit(job, mark_entries(self.marks) | stamp | self.recorded())
        r = self.report
        r.rows += self.outcomes
        r.rows_read += self.already
        r.rows_already += self.already
        self.marks, self.outcomes, self.already = [], [], 0

    def __enter__(self) -> _Marking:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)


def _unmark(encoded: _Marked) -> set[str]:
    """The marks of the rows the target's table refused as the writer wrote them (they are
    rejected again, not replayed): their rejects get their original file, row and line back."""
    if not encoded.refused:
        return set()
    origin: dict[int, tuple[str, int | None, int | None]] = encoded.chunk.end.get("origin", {})
    paths: dict[int, str] = encoded.chunk.end.get("paths", {})
    versions: dict[int, int] = encoded.chunk.end.get("versions", {})
    refused = set()
    for r in encoded.refused:
        number = r.row or 0
        r.file, r.row, r.line = origin[number]
        r.path = paths[number]
        r.version = versions[number] if versions[number] > 1 else None
        refused.add(row_id(r.path, r.row or 0, versions[number]))
        for outcome in encoded.outcomes:
            if (outcome["file"], outcome["row"], outcome["line"]) == origin[number]:
                outcome["status"] = "rejected"
    return refused


def _keys(values: dict[str, Any] | str) -> tuple[str, ...] | None:
    return tuple(values) if isinstance(values, dict) else None


class Rows:
    """The reject file's lines of one job as chunks of typed rows, each chunk one
    original file's rows entering the stages at the same place."""

    def __init__(
        self, p: Pipeline, path: str, state: JobState, done: set[str], chunk_rows: int, table: dict[str, str]
    ) -> None:
        self.p = p
        self.state = state
        self.src = p.job.source
        self.read = p._source.path  # the job's own paths (``src`` reads the reject file)
        self.path = path
        self.size: int | None = None  # a reject file is read ahead as a large input is (``_Loop.load``)
        self.others: Counter[str | None] = Counter()  # lines of other jobs or targets, by ``_whose``
        self.target = reject_target(p.job.sink.path)  # as its loads' lines name it
        self.superseded = 0  # lines of a row that a later line of the file, or a later read of its file, replaces
        self.reloaded = 0  # of them, lines of a version of their file that a reload replaced
        self.done = done  # marks of rows replayed before
        self.chunk_rows = chunk_rows
        declared = {n: parse_type(t, where=f"source.columns.{n}") for n, t in self.src.columns.items()}
        # as a later run reads them: older checkpoints' int32 as int64, a declared int32 as declared
        recorded = as_declared(stored_types(decode_types(state.schema)), declared)
        # and, as a load reads them, over those what the table's declared columns hold now (``table``,
        # a user's table whose column's type was changed since: a TEXT zip takes ``01234``)
        pins = {} if p.stages else declared_pins(table, bound(recorded), recorded, own=declared)
        self.types = recorded | pins
        self.nested: dict[str, dict[str, pa.DataType]] = {}  # by original file: ``_file_types``
        # the columns of the rows' Parquet and Arrow files of a type the checkpoint does not record
        self.unrecorded = self._unrecorded()
        # a column typed null has no type yet: rows bring theirs (``_with_empty``)
        base = pa.schema([pa.field(n, t) for n, t in (bound(self.types) | self.unrecorded).items()])
        self.schemas = [base]  # the rows' schema before each stage, and after the last
        for i in range(len(p.stages)):
            self.schemas.append(output_schema(p.stages[: i + 1], base))
        self.entry_of = {s.name: i for i, s in reversed(list(enumerate(p.stages)))}
        spelled = spellings(self.types)  # a declared name in another case is the same column
        self.lenient = {
            spelled[fold(n)]
            for n, t in declared.items()
            if fold(n) in spelled and self.types[spelled[fold(n)]].equals(t)
        }
        # the partition columns the job's loads added from its files' folders, as they settled it
        self.folders = loaded_keys(self.src, [fs.path for fs in state.files.values()], self.types)
        self.headers: dict[str, _Split | str] = {}
        self.identities: dict[str, dict[str, Any] | None] = {}  # by original file: its identity now
        # columns recorded as null, and columns new to the job, typed by this replay's values
        self.settled: dict[str, pa.DataType] = {}
        self.table = table  # the target's columns now, with their declared types

    def entry(self, e: Entry) -> int:
        if e.stage == "read":
            return 0
        if e.stage == "write":
            return len(self.p.stages)
        return self.entry_of.get(e.stage, 0)  # a stage no longer in the job: through every stage

    def _mine(self, e: Entry) -> bool:
        """A line of this job's loads into this target: another target's load of a job of the
        same name (day1.db and day2.db loading table events) wrote rows of its own input."""
        job = e.job is None or same_job(e.job, self.p.job_name)
        return job and (e.target is None or e.target == self.target)

    def _whose(self, e: Entry) -> str | None:
        """Another job's or target's line, as the counts of skipped lines name it."""
        if e.job is not None and e.target is not None and same_job(e.job, self.p.job_name):
            return f"{e.job!r} into {e.target}"
        return None if e.job is None else repr(e.job)

    def _last_lines(self) -> dict[str, int]:
        """Each row's last line in the reject file: a fixed copy appended after the line
        it fixes replaces that line."""
        return {
            row_id(e.path, e.row, e.version): e.number
            for e in read_entries(self.path)
            if e.row is not None and self._mine(e)
        }

    def __iter__(self) -> Iterator[Chunk]:
        group: list[tuple[Entry, dict[str, Any] | str]] = []
        already = 0
        mine = 0
        last = self._last_lines()
        for e in read_entries(self.path):
            if not self._mine(e):
                self.others[self._whose(e)] += 1
                continue
            mine += 1
            mark = row_id(e.path, e.row, e.version) if e.row is not None else None
            if mark is not None and mark in self.done:
                already += 1  # in the target already, whatever replaced its file since
                continue
            replaced = self._replaced(e)
            if replaced is not None:
                self.superseded += 1  # a later version of its file holds the row: loaded, or a line of its own
                self.reloaded += replaced == "reload"
                continue
            if mark is not None and last.get(mark) != e.number:
                self.superseded += 1  # a later line of the row replays it
                continue
            values = self._values(e)
            if group and (len(group) >= self.chunk_rows or not self._same(group[0], e, values)):
                yield self._chunk(group, already)
                group, already = [], 0
            group.append((e, values))
        if group or already:
            yield self._chunk(group, already)
        if self.others and not mine:
            raise _wrong_job(self.path, self.p.job_name, self.others)

    def _replaced(self, e: Entry) -> Literal["read again", "reload"] | None:
        """Whether a later version of the line's file replaced the one it is of, and how: a
        read with other source options of a version none of whose rows loaded
        (``FileState.superseded``), or a reload of the file changed since (``run.on_change =
        "reload"``); its rows are the new version's. A file's version grows only so; standard
        input's each run's (another text each time): it replaces none."""
        key = file_key(e.path)
        fs = self.state.files.get(key)
        if fs is None or e.version >= fs.version or key == file_key(storage.STDIN):
            return None
        return "read again" if e.version in fs.superseded else "reload"

    def _same(self, first: tuple[Entry, dict[str, Any] | str], e: Entry, values: dict[str, Any] | str) -> bool:
        a, av = first
        # rows that cannot be replayed are rejected again together, with the first one's reason
        alike = av == values if isinstance(av, str) else _keys(av) == _keys(values)
        return a.path == e.path and self.entry(a) == self.entry(e) and alike

    def _values(self, e: Entry) -> dict[str, Any] | str:
        """The row's values by column (bytes decoded), or why there are none."""
        if e.row is None:
            return "no row number: the row cannot be told apart, so it is not replayed"
        if e.problem is not None:
            return e.problem
        if e.values is not None:
            return self._decoded(e, self._without_twins(e.values))
        if e.raw is None:
            return 'neither "values" nor "raw": nothing to replay'
        if e.raw_truncated:
            cut = len(e.raw.encode("utf-8") if isinstance(e.raw, str) else e.raw)
            return (
                f'raw was cut at {cut} bytes (raw_truncated): write the row\'s fields in "values", '
                'or the whole row in "raw" without "raw_truncated"'
            )
        split = self._header(e.path)
        if isinstance(split, str):
            return split
        changed = self._changed(e) if split.dialect is not None else None
        if changed is not None:
            return changed
        values = split.jsonl(e.raw) if split.dialect is None else split.csv(e.raw, set(self.src.null_values), e.reason)
        return values if isinstance(values, str) else values | folder_values(e.path, self.folders, self.types)

    def _without_twins(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` without the file's own column that a partition column of its name in
        another case replaced (``Country`` beside the folder's ``country``, in lines a loader
        wrote before ``Partitioned`` left it out): the load read the folder's value."""
        names = spellings(self.types)
        folders = {names[k] for k in self.folders}
        return {
            k: v
            for k, v in values.items()
            if k in folders or fold(k) not in self.folders or names[fold(k)] not in values
        }

    def _decoded(self, e: Entry, values: dict[str, Any]) -> dict[str, Any] | str:
        """``values`` with the bytes written as ``{"base64": ...}`` decoded, in the columns
        that are not nested (where an object is a value of its own)."""
        schema = self.schemas[self.entry(e)]
        out = dict(values)
        for name, value in values.items():
            i = schema.get_field_index(name)
            if _is_bytes(value) and (i < 0 or not is_nested(schema.field(i).type)):
                try:
                    out[name] = self._in_encoding(e, _bytes(value))
                except ValueError as exc:
                    return f"column {name!r}: {exc}"
        return out

    def _in_encoding(self, e: Entry, data: bytes) -> str | bytes:
        """Bytes of a row that a read as UTF-8 rejected as not (``invalid UTF-8 in ...``) are the
        file's own, as it holds them: read in the encoding this replay is given (``--encoding
        cp1252``), as a load in it reads them. Bytes not of its text stay bytes, rejected again."""
        if e.stage != "read" or not e.reason.startswith(NOT_UTF8) or codecs.lookup(self.src.encoding).name == "utf-8":
            return data
        try:
            return data.decode(self.src.encoding)
        except UnicodeDecodeError:
            return data

    def _changed(self, e: Entry) -> str | None:
        """Why a CSV row's raw text cannot be split with its file's header as it is now: the
        file is another version than the one the row was read from (columns reordered, say,
        would put values in the wrong columns). None where the checkpoint does not know it."""
        fs = self.state.files.get(file_key(e.path))
        if fs is None:
            return None
        if e.path not in self.identities:
            try:
                self.identities[e.path] = identity(e.path)
            except LoaderError:
                self.identities[e.path] = None
        if e.version == fs.version and same_content(fs.identity, self.identities[e.path]):
            return None
        return (
            "the file changed since the row was read (size or content differ from the checkpoint): raw text is "
            'split only with the header it was read with; write the row\'s fields in "values"'
        )

    def _header(self, path: str) -> _Split | str:
        """How to split the original file's raw lines, with its column names."""
        if path not in self.headers:
            fmt = self._format(path)
            if fmt in TYPED_FORMATS:
                self.headers[path] = f'a {fmt.capitalize()} file has no raw text: write the row\'s fields in "values"'
                return self.headers[path]
            try:
                # the file's own columns split its raw lines; its folders' values are added (``folder_values``)
                with self._open_original(path) as reader:
                    names = list(reader.schema.names)
                    keys = list(getattr(reader, "keys", names))
                    found = getattr(reader, "dialect", None)
                    parser = getattr(reader, "parser", None)
                    columns = getattr(reader, "columns", None)
            except LoaderError as exc:
                self.headers[path] = f'raw text cannot be split ({exc.message}): write the row\'s fields in "values"'
            else:
                if fmt != "jsonl":
                    self.headers[path] = _Split(names, keys, self._dialect(found), parser=parser)
                else:
                    self.headers[path] = _Split(names, keys, None, columns, self._job_columns(names), self._closed())
        return self.headers[path]

    def _job_columns(self, names: list[str]) -> dict[str, str]:
        """The job's columns a file's sample lacks (its ``names``), by ``fold``ed name: the
        table's, and the checkpoint's (its spelling first)."""
        own = {fold(n) for n in names}
        job = {fold(n): n for n in [*self.table, *reversed(self.types)]}
        return {f: n for f, n in job.items() if f not in own}

    def _closed(self) -> str | None:
        """The table that takes no new column (no ``sink.alter``), or None: a row's new
        column is added (a LevelDB store's values take any)."""
        return None if self.p.job.sink.alter or self.p.table is None else self.p.table

    def _takes(self, name: str) -> bool:
        """Whether a column the checkpoint does not know reaches the target: the table has it,
        or adds it."""
        return self._closed() is None or fold(name) in {fold(n) for n in self.table}

    def recorded(self) -> dict[str, str]:
        """The checkpoint's types entry with the columns this replay gave the job (a key a
        file's sample lacked, new to the job), so later runs read them as it did; none if none."""
        new = {n: t for n, t in self.settled.items() if n not in self.types}
        if not new:
            return {}
        return {"schema": encode_types(decode_types(self.state.schema) | new, self.state.schema)}

    def _with_nested(
        self, schema: pa.Schema, names: list[str], group: list[tuple[Entry, dict[str, Any] | str]], at: int
    ) -> pa.Schema:
        """``schema`` with the rows' columns whose type no checkpoint recorded: a nested one
        (one from before nested types were) takes the type its file has, as the load read it,
        else one from these rows' values (``guessed_type``); one recorded without a type
        (``null``), the type its values give (``_first_type``)."""
        path = group[0][0].path if group else ""
        if at == 0 and any(n in self.unrecorded for n in names):  # as the row's own file has it
            own = self._file_types(path)
            schema = pa.schema(
                [f.with_type(own[f.name]) if f.name in self.unrecorded and f.name in own else f for f in schema]
            )
        added = []
        for n in [n for n in names if n not in schema.names]:
            values = [v.get(n) for _, v in group if isinstance(v, dict)]
            t = self._file_types(path).get(n) or guessed_type(values) or self._first_type(n, values, at)
            added += [pa.field(n, t)] if t is not None else []
        return pa.schema([*schema, *added])

    def _first_type(self, name: str, values: list[Any], at: int) -> pa.DataType | None:
        """The type of a column the checkpoint records as ``null`` (no run had a value in it:
        a first run that loaded nothing), from the replayed values, as a first load with
        these values would infer it; the replay's later rows are held to it, as a load's rows
        past its sample are. None for a column the checkpoint does not know."""
        if name not in self.settled:
            known = name in self.types
            if (known and not pa.types.is_null(self.types[name])) or (not known and (at or not self._takes(name))):
                return None
            style = number_style(self.src) if at == 0 else PLAIN
            t = _inferred(values, style, na_after_parse(self.src) if at == 0 else ())
            # a column new to the job (read past a file's sample): as a load of a file with it reads it
            self.settled[name] = t if known else declared_pins(self.table, {name: t}).get(name, t)
        return self.settled[name]

    def _file_types(self, path: str) -> dict[str, pa.DataType]:
        """The original file's columns whose type the checkpoint does not record, as the load read
        them (none if the file is gone): a nested one (recorded only since nested types were), and
        in a Parquet or Arrow file one of a type no job file names (a UUID's or other fixed-width
        bytes, large_binary, an interval; a dictionary as its values, which the targets store)."""
        if path not in self.nested:
            self.nested[path] = {}
            typed = self._format(path) in TYPED_FORMATS
            known = spellings(self.types)
            with contextlib.suppress(LoaderError), self._open_original(path) as reader:
                self.nested[path] = {
                    f.name: value_type(f.type)
                    for f in reader.schema
                    if fold(f.name) not in known and (typed or is_nested(f.type))
                }
        return self.nested[path]

    def _unrecorded(self) -> dict[str, pa.DataType]:
        """The columns of the reject lines' Parquet and Arrow files of a type the checkpoint does
        not record (``_file_types``), the first file's type for each: in the rows' schema from
        the start, so that a key or primary key naming one (a categorical's) is a column of it."""
        paths: dict[str, None] = {}
        with contextlib.suppress(LoaderError):  # a line that is none: the replay stops there, naming it
            for e in read_entries(self.path):
                if self._mine(e) and self._format(e.path) in TYPED_FORMATS:
                    paths[e.path] = None
        out: dict[str, pa.DataType] = {}
        for path in paths:
            for name, t in self._file_types(path).items():
                if fold(name) not in {fold(n) for n in out}:
                    out[name] = t
        return out

    def _open_original(self, path: str) -> Reader:
        """The original file's reader, as the load read its own columns (its folders' values
        are added apart: ``folder_values``), in its format, with the job's types and naming."""
        return open_reader(
            path, self._own(path), types=self.types, naming=Naming(legacy=tuple(self.state.legacy_names()))
        )

    def _own(self, path: str) -> SourceConfig:
        """How to read the original file's own columns (its folders' are added apart), in its format."""
        return dataclasses.replace(self.src, partitioning="none", format=self._format(path))

    def _format(self, path: str) -> Format | None:
        """The format a line's file was read in. The job's, for a file its paths match, as its
        loads read it; another file was loaded by a run of another format into the same table
        (each format loads in a run of its own, and they share the table's reject file), in
        the format its name tells, as that run inferred it."""
        named = infer_format(path)
        if named is None or named == self.src.format or _plain_text(path) or any(_reads(p, path) for p in self.read):
            return self.src.format
        return named

    def _dialect(self, found: Any) -> dict[str, Any]:
        quote = found.quote if found is not None else '"'
        return {
            "delimiter": found.delimiter if found is not None else ",",
            "quotechar": quote or None,
            "quoting": csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
            "escapechar": self.src.escape_char if isinstance(self.src.escape_char, str) else None,
        }

    def _chunk(self, group: list[tuple[Entry, dict[str, Any] | str]], already: int) -> Chunk:
        first = group[0][0] if group else None
        at = self.entry(first) if first is not None else len(self.p.stages)
        values = group[0][1] if group else {}
        names = list(values) if isinstance(values, dict) else []
        schema = self._with_nested(_with_empty(self.schemas[at], names, group), names, group, at)
        unknown = [n for n in names if n not in schema.names]
        numbers = [e.number for e, _ in group]
        end = {
            "entry": at,
            "origin": {e.number: (e.file, e.row, e.line) for e, _ in group},
            "paths": {e.number: e.path for e, _ in group},
            "versions": {e.number: e.version for e, _ in group},
            "already": already,
        }
        why = values if isinstance(values, str) else self._unknown(unknown[0]) if unknown else ""
        if not group or why:  # no row left to convert (only rows replayed before), or none that can be
            return self._rejected(group, schema, why, end)
        target = pa.schema([schema.field(n) for n in names])
        style = number_style(self.src) if at == 0 else PLAIN
        columns = [
            _column([v[n] for _, v in group if isinstance(v, dict)], style, f.type)
            for n, f in zip(names, target, strict=True)
        ]
        na = na_after_parse(self.src) if at == 0 else ()
        # bytes read from a transcoded file that did not decode: named by its encoding, as at the read
        encoding = self.src.encoding if at == 0 else "utf-8"
        nul = at == 0 and first is not None and self._format(first.path) == "csv"  # CSV's rule, as at the read

        def one(f: pa.Field, col: pa.Array) -> Converted:
            if is_nested(f.type):  # its JSON, each leaf converted as a column of its type
                return nested_column(col, f.type, _leaf)
            strict = f.name not in self.lenient
            if not style.plain and is_numeric(f.type):
                return convert_comma(col, f.type, style, strict=strict, encoding=encoding, may_hold_nul=nul, na=na)
            return convert(col, f.type, strict=strict, encoding=encoding, may_hold_nul=nul, na=na)

        out = convert_columns(columns, target, one)
        chunk = Chunk(
            batch=out.batch,
            file=first.file if first else "",
            rows=pa.array(numbers, pa.int64()),
            lines=pa.array([e.line for e, _ in group], pa.int64()),
            last_row=max(numbers),
            end=end,
            rows_read=len(group),
            version=0,  # numbered by reject line: no load's rows, whose keys a key store holds
        )
        if out.bad is not None:
            chunk = chunk.keep(kernels.invert(out.bad), filtered=False)
            chunk.rejects = [
                self._reject(group[i][0], column, reason) for i, (column, reason) in sorted(out.why.items())
            ]
        return chunk

    def _unknown(self, name: str) -> str:
        """Why a row's column that no run of the job had is rejected again."""
        closed = self._closed()
        if closed is None or fold(name) in {fold(n) for n in self.table}:
            return f"no column {name!r} in the job's columns"
        return not_in_table(name, closed)

    def _rejected(
        self, group: list[tuple[Entry, dict[str, Any] | str]], schema: pa.Schema, why: str, end: dict[str, Any]
    ) -> Chunk:
        """A chunk whose rows are all rejected again, for ``why``."""
        numbers = list(end["origin"])
        return Chunk(
            batch=empty_batch(schema),
            file=group[0][0].file if group else "",
            rows=pa.array([], pa.int64()),
            last_row=max(numbers, default=0),
            end=end,
            rows_read=len(group),
            rejects=[self._reject(e, None, why) for e, _ in group],
        )

    @staticmethod
    def _reject(e: Entry, column: str | None, reason: str) -> Reject:
        # the row is the reject line's number until the writer gives the original back; its
        # stage stays the one it left at, where its values' columns are named (a replay of the
        # replay's reject file enters there again)
        return Reject(
            file=e.file,
            row=e.number,
            line=e.line,
            stage=e.stage,
            column=column,
            reason=reason,
            values=e.values,
            raw=e.raw if e.values is None else None,
            raw_truncated=e.raw_truncated if e.values is None and e.raw_truncated else None,
            path=e.path,
        )


def _wrong_job(path: str, job: str, others: Counter[str | None]) -> ConfigError:
    """A reject file with no line of the job: most likely replayed with the wrong job file."""
    named = ", ".join(f"{j} ({n} rows)" for j, n in others.most_common(3))
    return ConfigError(
        f"{path}: no line of job {job!r}; the file holds rows of {named}",
        hint="replay it with the job file of that job and target (run.job names a job)",
    )


def _no_checkpoint(path: str, job: str, target: str) -> ConfigError:
    """The refusal of a replay into a target that holds no load of ``job``: where the reject
    file's lines name other jobs of this target (a ``loader load --job daily`` replayed without
    ``--set run.job=daily``), their names, as the way to replay them."""
    own_target = reject_target(target)
    others = Counter(
        e.job
        for e in read_entries(path)
        if e.job is not None and not same_job(e.job, job) and e.target in (None, own_target)
    )
    if not others:
        return ConfigError(
            f"job {job!r} has no checkpoint in {target}: there is no load to replay into",
            hint="load the job first; replay takes the column types that load settled",
        )
    if len(others) == 1:
        (name,) = others
        return ConfigError(
            f"job {job!r} has no checkpoint in {target}: the reject file's lines are of job {name!r}",
            hint=f"replay them as that job: add --set run.job={shlex.quote(name)}",
        )
    named = ", ".join(f"{j!r} ({n} rows)" for j, n in others.most_common(3))
    return ConfigError(
        f"job {job!r} has no checkpoint in {target}: the reject file's lines are of jobs {named}",
        hint="replay them as one of those jobs: add --set run.job=NAME",
    )


def replay_run(p: Pipeline, path: str, report: RunReport, job_rejects: str) -> None:
    """The body of a replay run (``Pipeline.run`` wraps it as it wraps a load); ``job_rejects``:
    the reject file the job's runs write."""
    assert isinstance(report, ReplayReport)
    from .pipeline import _Signals

    job, run = p.job, p.job.run
    p._import_stages()
    p._check_paths([path])
    check_reject_file(path)
    report.replayed_from = path
    with contextlib.ExitStack() as stack:
        signals = stack.enter_context(_Signals(p.handle_signals))  # first: a signal stops the lock wait too
        stack.enter_context(TargetLock(job.sink.path, wait=run.lock_wait))
        stack.enter_context(p._counted_as_stored())
        # rows written as they come (a sorting LevelDB writer would hold them for a merge, and
        # its checkpoint entries are the load's, not the replay's)
        sink = dataclasses.replace(job.sink, sort="never")
        gone_hint = _gone_hint(path, job_rejects)
        _refuse_gone(p.sink.gone(sink), job.sink.path, gone_hint)  # before an open makes it anew
        inner = stack.enter_context(p.sink.open_writer(sink, job.source.path))
        inner.replaying(path)  # its rows are another sequence than the load's (LevelDB ``ignore``'s note)
        writer = _Marking(inner, report)
        rejects = stack.enter_context(
            RejectFile(p.rejects_path, p.job_name, run.lock_wait, reject_target(job.sink.path))
        )
        progress = stack.enter_context(Progress(0, enabled=False))
        stack.enter_context(gc_paused())
        stack.callback(close_stages, p.stages)
        found = writer.read_state(p.job_name)
        state = JobState.parse(found)
        if not state.schema:
            raise _no_checkpoint(path, p.job_name, job.sink.path)
        _refuse_gone(inner.gone(p.job_name, state), job.sink.path, gone_hint)
        _refuse_replacing(found, p.job_name, job.sink.path)
        # a declaration that contradicts the recorded types is refused, as a load refuses it
        p._check_declared(binding(decode_types(state.schema)))
        rejects.start(Committed(0, 0, None))  # each replay writes its rows that fail again anew
        loop = p._new_loop(
            cast("Writer", writer),
            marking(p.sink.encoder(sink, inner)),
            Ledger(state, report),
            rejects,
            signals,
            progress,
        )
        rows = Rows(p, path, state, replayed(found), loop.chunk_rows, inner.column_types())
        writer.recorded = rows.recorded
        fr = FileReport(path, status="replayed")
        with naming_file(path):  # a column the table has lost since the load: the reject file's
            writer.prepare(rows.schemas[-1], fresh=False)
            report.files.append(fr)
            loop.load(rows, "replay", FileState(path=path), fr)
        loop.settle()
        report.rows_other_job = rows.others.total()
        report.rows_superseded = rows.superseded
        report.rows_reloaded_since = rows.reloaded
        report.files_loaded = 1


def _refuse_replacing(entries: dict[str, str], job: str, target: str) -> None:
    """A replace of the job stopped before its end: its rows wait beside the table (SQLite's
    stage table, swapped in at its end) or its old keys are half deleted (LevelDB), and the
    rerun that finishes it starts from its own checkpoint: a row replayed now would wait
    unseen in the stage table, or be deleted by the rerun. The replay waits for it."""
    if REPLACING_ENTRY in entries:
        raise ConfigError(
            f"a replace of job {job!r} in {target} stopped before its end: a replayed row would not be in"
            " the table it ends with",
            hint="rerun the load to finish the replace, then replay",
        )


def _refuse_gone(why: str | None, target: str, hint: tuple[str, str]) -> None:
    """A target dropped or deleted since the job loaded it (``why``: ``Sink.gone``,
    ``Writer.gone``): a replay would make it anew with only the replayed rows. Refused, the
    checkpoint left as it is: a replay never clears one (a replay that took a table's name
    wrongly would make the next run load every file again). The job's next run finds the
    target gone as the replay did, and starts over."""
    if why is not None:
        raise ConfigError(
            f"{why}: the target is gone since the job loaded it; nothing replayed",
            file=target,
            hint=hint[0],
            verbatim=(hint[1],),
        )


def _gone_hint(path: str, job_rejects: str) -> tuple[str, str]:
    """What to do about a gone target, and the path it names (verbatim). The job's rerun that
    starts over rewrites the job's reject file: replayed from there, the user's fixes are copied
    aside first, or that rerun loses them."""
    rerun = "rerun the job (it finds the target gone, starts over and loads its files again)"
    try:
        rewritten = os.path.samefile(path, job_rejects)
    except OSError:  # no reject file of the job's (another --rejects): not the one replayed
        rewritten = False
    if not rewritten:
        return f"{rerun}, then replay {path}", path
    return (
        f"copy {path} to another name first (the rerun rewrites the job's reject file, and the fixes "
        f"in it are lost), {rerun}, then replay the copy",
        path,
    )


def _check_replayed(report: RunReport, path: str, again: str) -> None:
    """Rows to replay and none loaded (every one rejected again or filtered out), none replayed
    before either: committed as such, but not a success, as for a load (where a rerun that
    resumes is not held to it, nor is a replay with rows an earlier replay loaded)."""
    assert isinstance(report, ReplayReport)
    if not report.rows_read or report.rows_already or report.rows_written or report.rows_ignored:
        return
    rows, rejected, filtered = report.rows_read, report.rows_rejected, report.rows_filtered
    if rejected and filtered:
        what = f"of {rows:,} rows, {rejected:,} rejected again and {filtered:,} filtered out"
    else:
        what = f"all {rows:,} rows " + ("rejected again" if rejected else "filtered out")
    raise NothingLoadedError(
        f"nothing replayed: {what}",
        file=path,
        hint=f"the rows rejected again are in {again} with their reasons: fix them there and replay that file"
        if report.rows_rejected
        else "the job's stages filter these rows out",
    )


def replay_pipeline(p: Pipeline, path: str | os.PathLike[str]) -> Pipeline:
    """A pipeline like ``p`` that replays ``path``: same job name, stages and target (never
    wiped: the target is prepared as for a resumed run), and its rows that fail again in
    ``<path>.replay.jsonl``."""
    from .pipeline import Pipeline

    class Replay(Pipeline):
        report_class = ReplayReport

        def _run(self, report: RunReport) -> None:
            try:
                replay_run(self, text, report, job_rejects)
            except RejectLimitError as exc:
                exc.file = text  # the file being replayed, not the rows' source
                exc.hint = (
                    f"rows replayed so far are kept; the rows rejected again are listed in {self.rejects_path}: "
                    "fix them in this file and replay it again, or replay it with a higher --max-rejects "
                    "(rows already replayed are not loaded twice)"
                )
                raise
            _check_replayed(report, text, self.rejects_path)

    text = os.fspath(path)
    job, job_rejects = p.job, p.rejects_path
    run = dataclasses.replace(job.run, job=p.job_name, rejects=replay_rejects_path(text), restart=False)
    # what the job's own paths name (its table, by default the first file's name) is fixed
    # before they are swapped for the reject file's, which would name another table
    sink = dataclasses.replace(job.sink, table=p.table)
    source = dataclasses.replace(job.source, path=[text])
    out = Replay.__new__(Replay)
    out.__dict__.update(p.__dict__)
    out.job = dataclasses.replace(job, source=source, sink=sink, run=run)
    out.stages = [_Entered(s, i) for i, s in enumerate(p.stages)]
    out.type_notes, out.recorded_notes = {}, frozenset()
    return out
