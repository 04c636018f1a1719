"""The unit that flows through a pipeline: a record batch plus where it came from.

A reader yields ``Chunk`` objects; transform stages map chunk to chunk; the
writer commits them. Beside the batch a chunk carries the source row number of
every batch row (so any stage can reject a row and still say which line it
was), the rows rejected so far, and the reader's resume position.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import kernels
from .types import map_leaves, value_str

if TYPE_CHECKING:
    from .readers.decimal_comma import NumberStyle

# The reject file's format version, written as "v" on each line (docs/reliability.md). 2: bytes
# as {"base64": ...}, a cut raw marked raw_truncated; 1 wrote bytes as \xNN text and marked nothing.
REJECT_FORMAT = 2
BASE64 = "base64"  # the key of the object that holds bytes in a reject line: {"base64": "..."}
# the start of the reason of a value read as UTF-8 whose bytes are not (``convert._decode``): the file's own bytes
NOT_UTF8 = "invalid UTF-8 in"


@dataclass
class Reject:
    """One row that did not load, with everything needed to find and fix it.

    ``raw`` and the ``values`` hold bytes where the source's bytes are not UTF-8 text (or
    the column is binary): a reject line writes them as ``{"base64": ...}``, so a replay
    restores the very bytes. ``path`` is the source file's absolute path, which tells a
    replay which file the row came from whatever directory it runs in (worked out from
    ``file`` when left None). ``version`` tells the rows of a file reloaded as a new version
    (``run.on_change = "reload"``) from those of its earlier versions."""

    file: str
    row: int | None
    reason: str
    stage: str = "read"
    column: str | None = None
    line: int | None = None
    raw: str | bytes | None = None
    values: dict[str, Any] | None = None
    raw_truncated: bool | None = None  # raw holds only the row's first bytes
    path: str | None = None
    version: int | None = None  # the source file's version (``FileState.version``) past its first

    def to_json(self) -> str:
        # a shallow look: asdict would deep-copy every value only for them to be printed
        fields = {
            f.name: value
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name)) is not None and f.name != "path"
        }
        path = self.path or source_path(self.file)
        if path != self.file:  # a relative file: its absolute path goes beside it
            fields = {"file": fields.pop("file"), "path": path} | fields
        line = {"v": REJECT_FORMAT} | fields
        try:
            return json.dumps(line, ensure_ascii=False, default=json_value, allow_nan=False)
        except ValueError:  # a NaN or an infinity: no JSON number (rare, so looked for only now)
            return json.dumps(finite(line), ensure_ascii=False, default=json_value)


def reasons_in_order(rejects: list[Reject]) -> list[str]:
    """The rejects' reasons in input order (a chunk's rejects come grouped by stage):
    counted in this order, the commonest reason ties go to the one whose first row came
    first, on every engine (the "nothing loaded" message's example)."""
    ordered = sorted(rejects, key=lambda r: (r.row is None, r.row or 0))  # stable: no row keeps its place
    return [r.reason for r in ordered]


def of_version(chunks: Iterable[Chunk], version: int) -> Iterator[Chunk]:
    """``chunks``, each of the file's ``version`` where it names none (``Chunk.version``).
    Closed, it closes their iteration: a reader's holds parse workers."""
    inner = iter(chunks)
    try:
        for chunk in inner:
            if chunk.version is None:
                chunk.version = version
            yield chunk
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


def source_path(file: str) -> str:
    """A source file's absolute path (a remote file's URI and ``-`` as they are): the
    checkpoint's name for it, without its ``file:``."""
    from .storage import key

    return key(file).removeprefix("file:")


def json_value(value: Any) -> Any:
    """A value JSON has no type for, in a reject line: bytes as ``{"base64": ...}`` (a
    replay decodes them back), a decimal's plain digits as the targets store it, else its text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BASE64: base64.b64encode(bytes(value)).decode("ascii")}
    return value_str(value)


NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as JSON's JavaScript spells them


def finite(value: Any) -> Any:
    """``value`` with each NaN and infinity, nested or not, as its text (``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``): a replay converts that text back into the column's float."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def text_or_bytes(data: bytes, cut: bool = False) -> str | bytes:
    """Bytes as text when they are UTF-8, else the bytes themselves (a reject line holds
    them as base64). ``cut``: the bytes end where a row was cut, maybe inside a character,
    whose first bytes are dropped."""
    if cut:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            return decoder.decode(data, final=False)
        except UnicodeDecodeError:
            return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


@dataclass
class Chunk:
    """A batch of good rows and the bookkeeping that travels with it.

    ``rows`` holds the 1-based source row number (header excluded) of each
    batch row. ``last_row`` is the highest source row this chunk accounts for,
    good or rejected; ``end`` is the reader's position after the chunk, which
    a checkpoint stores so a rerun resumes there.
    """

    batch: pa.RecordBatch
    file: str
    rows: pa.Array
    last_row: int
    end: dict[str, Any]
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    rows_filtered: int = 0
    lines: pa.Array | None = None
    bytes_read: int = 0
    # the source file's version (``FileState.version``; a later run on standard input is its
    # next): a key store owns a row's key to the row of this version only, so a resumed read of
    # the version keeps its rows' keys and a reload or a later input does not. None: the loop's
    # file's (``_Loop.load``); a replay's rows, numbered by reject line, are version 0's
    version: int | None = None

    @property
    def num_rows(self) -> int:
        return int(self.batch.num_rows)

    def with_batch(self, batch: pa.RecordBatch) -> Chunk:
        """Replace the batch, keeping row numbers (the row count must not change)."""
        if batch.num_rows != self.batch.num_rows:
            raise ValueError(
                f"a stage changed the row count from {self.batch.num_rows} to "
                f"{batch.num_rows}; use Chunk.keep() to drop rows"
            )
        return dataclasses.replace(self, batch=batch)

    def keep(self, mask: pa.Array, *, filtered: bool = True) -> Chunk:
        """Keep the rows where ``mask`` is true; the rest count as filtered out."""
        if pa.types.is_null(mask.type):  # pa.array() of an empty (or all-None) Python list
            mask = kernels.cast(mask, pa.bool_())
        if len(mask) != self.batch.num_rows:  # a mask of other rows would keep the wrong ones
            raise ValueError(f"a keep mask of {len(mask)} values for {self.batch.num_rows} rows")
        mask = kernels.fill_null(mask, False)
        if mask.true_count == self.batch.num_rows:  # usual for a filter: no copy of the columns
            return self
        kept = kernels.filter(self.batch, mask)
        dropped = self.batch.num_rows - kept.num_rows
        return dataclasses.replace(
            self,
            batch=kept,
            rows=kernels.filter(self.rows, mask),
            lines=kernels.filter(self.lines, mask) if self.lines is not None else None,
            rows_filtered=self.rows_filtered + (dropped if filtered else 0),
        )

    def reject(
        self,
        bad: pa.Array,
        reason: str | list[str],
        *,
        stage: str,
        column: str | None = None,
    ) -> Chunk:
        """Move the rows where ``bad`` is true to the rejects, with a reason.

        ``reason`` is one text for all, or one per bad row in row order.
        """
        if len(bad) != self.batch.num_rows:  # a mask of other rows would reject the wrong ones
            raise ValueError(f"a reject mask of {len(bad)} values for {self.batch.num_rows} rows")
        bad = kernels.fill_null(bad, False)
        idx = kernels.indices_nonzero(bad).to_pylist()
        if not idx:
            return self
        reasons = [reason] * len(idx) if isinstance(reason, str) else reason
        rows = self.rows.to_pylist()
        lines = self.lines.to_pylist() if self.lines is not None else None
        bad_rows = row_values(kernels.take(self.batch, pa.array(idx, pa.int64())))
        new = [
            Reject(
                file=self.file,
                row=rows[i],
                line=lines[i] if lines is not None else None,
                stage=stage,
                column=column,
                reason=r,
                values=values,
            )
            for i, r, values in zip(idx, reasons, bad_rows, strict=True)
        ]
        out = self.keep(kernels.invert(bad), filtered=False)
        if out is self:  # pragma: no cover - idx non-empty means rows dropped
            out = dataclasses.replace(self)
        out.rejects = self.rejects + new
        return out


@dataclass(frozen=True)
class TypeNote:
    """Why a column's type was fixed before this run (``fact``: ``amount is int64 since an
    earlier run of this job``) and how values of another type load (``change``)."""

    fact: str
    change: str

    @property
    def full(self) -> str:
        """What a reject's reason ends with where a type but text would hold its value."""
        return f"; {self.fact}: {self.change}"


def explain(rejects: list[Reject], notes: dict[str, TypeNote], *, style: NumberStyle | None = None) -> None:
    """Add to a read's reject reason why its column's type was fixed before this run
    (``notes``: column -> where the type comes from), and how values of another type load:
    not to a value no type but text holds (``2024-13-05`` in a date column), a typo to fix in
    the file, where changing the type would lose it for the column's every value. ``style``:
    how numbers are written (a decimal comma, a thousands separator)."""
    from .convert import other_type_holds  # (it imports this module)

    noted = [r for r in rejects if r.stage == "read" and r.column in notes]
    if not noted:
        return
    # a reject without its value (None) keeps the whole note
    typed = other_type_holds([(r.values or {}).get(r.column or "") for r in noted], style=style)
    for r, held in zip(noted, typed, strict=True):
        note = notes[r.column or ""]
        r.reason += note.full if held else f"; {note.fact}"


def row_values(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """Each row as ``{column: value}`` for a reject line: ``to_pylist``'s Python
    values (datetime for nanosecond timestamps), except in a column holding a value
    Python cannot hold exactly (a nanosecond timestamp with digits below the
    microsecond, a date or timestamp outside years 1..9999): its values as text
    instead (see ``column_text``)."""
    if not batch.num_columns:
        return [{} for _ in range(batch.num_rows)]
    columns = [column_values(col) for col in batch.columns]
    names = batch.schema.names
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def column_values(col: pa.Array) -> list[Any]:
    """A column's values as Python holds them exactly, else as text (``row_values``)."""
    from .writers.encode import interval_text, outside_day, python_type

    if pa.types.is_interval(col.type):  # its ISO text, as the targets store it and a replay reads it
        return list(interval_text(col).to_pylist())
    # nanoseconds as microseconds where no digit is lost: datetime values, with pandas
    # imported or not (to_pylist would give pandas' Timestamp, or fail, or cut a time's digits);
    # durations, nested or not, as their count of the unit, as the targets store them and a
    # replay reads them (a timedelta's text, ``0:01:30``, is neither)
    micro = map_leaves(python_type(col.type), _counted)
    if any(kernels.any(outside_day(times, end_inside=False)).as_py() for times in _time_leaves(col)):
        return column_text(col)  # Python's time would wrap 24:00:00 to midnight
    try:
        return list((col if micro == col.type else kernels.cast(col, micro)).to_pylist())
    except (ValueError, OverflowError, pa.ArrowException):  # rare: the column's values as text
        return column_text(col)


def _time_leaves(arr: pa.Array) -> Iterator[pa.Array]:
    """The time-of-day arrays in ``arr``, itself or nested at any depth."""
    t = arr.type
    if pa.types.is_time(t):
        yield arr
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _time_leaves(arr.field(i))
    elif pa.types.is_map(t):
        yield from _time_leaves(arr.keys)
        yield from _time_leaves(arr.items)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _time_leaves(arr.flatten())
    elif pa.types.is_dictionary(t):
        yield from _time_leaves(arr.dictionary)


def _counted(t: pa.DataType) -> pa.DataType:
    """A duration as the int64 count of its unit; any other type as it is."""
    return pa.int64() if pa.types.is_duration(t) else t


def column_text(col: pa.Array) -> list[Any]:
    """A column whose values Python cannot all hold, with its dates and times as exact
    ISO-8601 text (the text the targets store), nested or not; Arrow's text for
    anything else."""
    from .writers.encode import is_nested, iso_text, text_leaves

    if pa.types.is_dictionary(col.type):
        col = kernels.cast(col, col.type.value_type)
    try:
        if is_nested(col.type):
            return list(text_leaves(col).to_pylist())
        return list(iso_text(col).to_pylist())
    except (ValueError, OverflowError, pa.ArrowException):  # a leaf no text path knows (a dictionary of them)
        return list(kernels.cast(col, pa.string()).to_pylist())


def batches(chunks: Iterator[Chunk]) -> Iterator[pa.RecordBatch]:
    """The plain batch stream inside a chunk stream."""
    for chunk in chunks:
        yield chunk.batch
