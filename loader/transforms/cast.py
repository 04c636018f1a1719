"""The ``cast`` stage: convert columns to declared types, reporting values that do not fit.

Plain conversions go through ``loader.convert.convert`` (the one conversion
path of the project). Three additions live here: text parsed with a
``strptime`` format (or the first of several that reads it), counts since the
epoch (``epoch_ms``...), and wall-clock times read in a time zone.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk, column_values
from ..convert import NO_ZONE, Converted, convert, mask_of
from ..types import is_numeric, is_text, is_zoned, type_name
from ._base import (
    ON_ERROR,
    PER_RUN,
    StageBase,
    did_you_mean,
    first_failure,
    reject_in_order,
    replace_columns,
    value_text,
)


def _check_zone(tz: str) -> None:
    kernels.assume_timezone(pa.array([0], pa.timestamp("s")), tz)  # ArrowInvalid if unknown


# glibc's shorthands, which Arrow's strptime reads and Python's does not, as the directives
# they stand for: both readers then read the one format
_SHORTHANDS = {"D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M", "T": "%H:%M:%S", "e": "%d", "h": "%b"}
_PIECE = re.compile(r"%(:z|.?)|[^%]+", re.DOTALL)


def strptime_format(fmt: str) -> str:
    """``fmt`` as Python's ``strptime`` reads it, glibc's shorthands (``%F``, ``%T``...) spelled
    out. ValueError naming a directive Python's ``strptime`` does not read (``%s``, ``%C``): every
    value would be rejected as not fitting the format, where the format is what is wrong."""
    out = []
    for piece in _PIECE.finditer(fmt):
        directive = piece.group(1)
        if directive is None:
            out.append(piece.group())
        elif directive in _SHORTHANDS:
            out.append(_SHORTHANDS[directive])
        elif _reads_directive(directive):
            out.append(piece.group())
        else:
            what = f"%{directive} in {fmt!r}" if directive else f"the % that ends {fmt!r}"
            raise ValueError(f"{what} is not a directive strptime reads")
    return "".join(out)


def _check_reads_something(fmt: str) -> None:
    """ValueError for a format of no directive: it reads its own text alone, no date, so every
    value would be rejected (or nulled) where the format is what is wrong (``epoch_millis``)."""
    if any(piece.group(1) not in (None, "%") for piece in _PIECE.finditer(fmt)):
        return
    if fmt.lower().startswith("epoch"):
        raise ValueError(
            f"{fmt!r} is no format: a count since 1970 is epoch_s, epoch_ms, epoch_us or epoch_ns"
            + did_you_mean(fmt.lower(), EPOCH_UNITS)
        )
    raise ValueError(f"{fmt!r} holds no % directive: it reads that very text alone, no date or time")


@functools.cache
def _reads_directive(directive: str) -> bool:
    try:
        _dt.datetime.strptime("", f"%{directive}")
    except ValueError as exc:  # a directive it reads fails on the empty text, not on the format
        return "does not match format" in str(exc)
    return True


# Formats that read a count of a unit since 1970-01-01T00:00:00Z (an instant), not text by
# strptime: pandas' to_json and pino write milliseconds, zap float seconds, Go nanoseconds
EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us", "epoch_ns": "ns"}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
# a count as text: JSON's number grammar (no sign, spaces, underscores or NaN that Decimal takes)
_COUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# the seconds from the epoch to 0001-01-01 and to 10000-01-01: the years a timestamp's text holds
_FIRST_SECOND, _PAST_LAST_SECOND = -62135596800, 253402300800


def _epoch_bounds(target: pa.DataType) -> tuple[int, int]:
    """The first and last count of ``target``'s unit it holds: years 1 to 9999, and int64's
    range (nanoseconds: 1677 to 2262)."""
    scale = 10 ** _DIGITS[target.unit]
    return max(_FIRST_SECOND * scale, -(2**63)), min(_PAST_LAST_SECOND * scale - 1, 2**63 - 1)


def convert_epoch(arr: pa.Array, target: pa.DataType, fmt: str) -> Converted:
    """Counts of ``fmt``'s unit since the epoch (integers, floats, decimals, or their text) as
    the instants of the timestamp ``target``, exactly: a float is the number its shortest text
    says (zap's ``1704103200.1234567`` seconds), a count with digits below ``target``'s unit or
    outside its range is rejected, never rounded. Into a target without a zone, the UTC clock."""
    unit = EPOCH_UNITS[fmt]
    low, high = _epoch_bounds(target)
    shift = _DIGITS[target.unit] - _DIGITS[unit]
    if pa.types.is_integer(arr.type) and shift >= 0 and len(arr):  # the usual column: no Python per value
        wide = kernels.cast(arr, pa.int64(), safe=False) if arr.type != pa.uint64() else None
        bounds = kernels.min_max(arr)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if wide is not None and (lo is None or (low <= lo * 10**shift and hi * 10**shift <= high)):
            scaled = kernels.multiply(wide, 10**shift)
            return Converted(scaled.view(pa.timestamp(target.unit, target.tz)), None, None)
    pre = convert(arr, pa.string()) if is_text(arr.type) or pa.types.is_binary(arr.type) else None
    values = (pre.array if pre is not None else arr).to_pylist()
    floats = pa.types.is_floating(arr.type)  # read by the shortest text that reads back as the float
    counts: list[int | None] = []
    why: dict[int, str] = {}
    for i, value in enumerate(values):
        count = None if value is None else _epoch_count(repr(float(value)) if floats else value, shift)
        if isinstance(count, str):
            why[i] = _epoch_reason(value, count, fmt, target)
            count = None
        elif count is not None and not low <= count <= high:
            why[i] = _epoch_reason(value, "range", fmt, target)
            count = None
        counts.append(count)
    out = pa.array(counts, pa.int64()).view(pa.timestamp(target.unit, target.tz))
    bad = mask_of(list(why), len(arr)) if why else None
    if pre is not None and pre.bad is not None:  # not UTF-8: null by now, so not in ``why``
        merged = {**dict(zip(kernels.indices_nonzero(pre.bad).to_pylist(), pre.reasons or [], strict=True)), **why}
        why, bad = merged, mask_of(list(merged), len(arr))
    return Converted(out, bad, [why[i] for i in sorted(why)] if why else None)


def _epoch_count(value: Any, shift: int) -> int | str:
    """A count in the target's unit (``shift``: its digits past the source's), or why not:
    ``"number"`` (no count), ``"digits"`` (a fraction below the target's unit). Exact, in
    integers: no decimal context rounds a long text or overflows on an exponent (``1e9999999``)."""
    if isinstance(value, int):
        return value * 10**shift if shift >= 0 else ("digits" if value % 10**-shift else value // 10**-shift)
    if isinstance(value, str) and not _COUNT.fullmatch(value):
        return "number"
    try:
        number = decimal.Decimal(value)  # exact, whatever the context
    except (decimal.InvalidOperation, ValueError, TypeError):
        return "number"
    if not number.is_finite():
        return "number"
    if number.is_zero():
        return 0
    if number.adjusted() + shift > 20:  # past 2**64, so past any range: no need to write it out
        return 2**64
    sign, digits, exponent = number.as_tuple()
    written = "".join(map(str, digits))
    kept = written.rstrip("0")  # not empty: the number is not zero
    exponent = int(exponent) + shift + len(written) - len(kept)
    if exponent < 0:  # its last digit, not zero, is below the target's unit
        return "digits"
    count: int = int(kept) * 10**exponent  # at most 21 digits: the number is below 10**21
    return -count if sign else count


def _epoch_reason(value: Any, why: str, fmt: str, target: pa.DataType) -> str:
    text = value_text(value)
    if why == "digits":
        return f"{text} has digits below a {_UNIT_NAMES[target.unit]} that {type_name(target)} would drop"
    if why == "range":
        years = "1677 to 2262" if target.unit == "ns" else "1 to 9999"
        return f"{text} is outside the range of {type_name(target)} (years {years})"
    return f"{text} is not a count of {_UNIT_NAMES[EPOCH_UNITS[fmt]]}s since 1970 for format {fmt!r}"


def convert_formats(arr: pa.Array, target: pa.DataType, formats: list[str]) -> Converted:
    """Each value by the first of ``formats`` that reads it (BigQuery writes a timestamp's
    fraction only where it is not zero: two formats); a value none reads is rejected with
    the reason the first gives."""
    return read_by_formats(arr, target, formats)[0]


def reads_instant(fmt: str) -> bool:
    """Whether ``fmt`` reads an instant (an offset, a count since 1970), not a wall-clock time."""
    return "%z" in fmt or fmt in EPOCH_UNITS


def read_by_formats(arr: pa.Array, target: pa.DataType, formats: list[str]) -> tuple[Converted, pa.Array | None]:
    """``convert_formats``, and which values a format reading an instant read (None if no format
    does): a zone applies to the other values only, each value as the format that read it says."""
    conv = _convert_one(arr, target, formats[0])
    instant = pa.array([reads_instant(formats[0])] * len(arr)) if any(map(reads_instant, formats)) else None
    for fmt in formats[1:]:
        if conv.bad is None:
            break
        again = _convert_one(kernels.if_else(conv.bad, arr, pa.scalar(None, arr.type)), target, fmt)
        read = kernels.and_(conv.bad, kernels.invert(again.bad)) if again.bad is not None else conv.bad
        first = dict(zip(kernels.indices_nonzero(conv.bad).to_pylist(), conv.reasons or [], strict=True))
        bad = kernels.and_(conv.bad, kernels.invert(read))
        left = kernels.indices_nonzero(bad).to_pylist()
        conv = Converted(
            kernels.if_else(read, again.array, conv.array),
            bad if left else None,
            [first[i] for i in left] if left else None,
        )
        if instant is not None:
            instant = kernels.if_else(read, pa.scalar(reads_instant(fmt)), instant)
    return conv, instant


def _convert_one(arr: pa.Array, target: pa.DataType, fmt: str) -> Converted:
    return convert_epoch(arr, target, fmt) if fmt in EPOCH_UNITS else convert_with_format(arr, target, fmt)


def convert_with_format(arr: pa.Array, target: pa.DataType, fmt: str) -> Converted:
    """Parse text with a ``strptime`` format into a date or timestamp column.

    Python's ``datetime.strptime`` decides what the format reads; Arrow's is the fast path.
    Arrow's has no ``%f`` (it reads no fraction) and rolls impossible dates over (31/02
    becomes 02/03), so a value it does not read, or whose value does not print back to the
    same text, is read by Python's instead; only those values take the slow path.
    """
    py_fmt = strptime_format(fmt)
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        pre = convert(arr, pa.string())
        arr, bad, reasons = pre.array, pre.bad, pre.reasons
    else:
        bad, reasons = None, None
    unit = target.unit if pa.types.is_timestamp(target) else "s"
    parsed = kernels.strptime(arr, format=py_fmt, unit=unit, error_is_null=True)
    suspect = kernels.and_(kernels.is_valid(arr), kernels.is_null(parsed))
    try:
        printed = kernels.strftime(parsed, format=py_fmt)
        suspect = kernels.or_(suspect, kernels.fill_null(kernels.not_equal(printed, arr), False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # a format strftime cannot print (say %Z): trust the values Arrow read
    if kernels.any(suspect).as_py():
        parsed, failed, why = _read_in_python(arr, parsed, suspect, target, fmt, py_fmt)
        if failed is not None:
            if bad is None:
                bad, reasons = failed, why
            else:  # values bad in the UTF-8 check are null by now, so the masks do not overlap
                union = kernels.or_(bad, failed)
                from_old = kernels.filter(bad, union).to_pylist()
                it_old, it_new = iter(reasons or []), iter(why)
                reasons = [next(it_old) if o else next(it_new) for o in from_old]
                bad = union
    # An offset parsed with %z gives a UTC instant; the cast keeps the instant.
    out = kernels.cast(parsed, target)
    return Converted(out, bad, reasons)


def _read_in_python(
    arr: pa.Array, parsed: pa.Array, suspect: pa.Array, target: pa.DataType, fmt: str, py_fmt: str
) -> tuple[pa.Array, pa.Array | None, list[str]]:
    """``parsed`` with the ``suspect`` values as Python's ``strptime`` reads them (null where it
    does not), and which of them failed and why, in row order (None if none did)."""
    idx = kernels.indices_nonzero(suspect)
    texts = dict(zip(idx.to_pylist(), kernels.take(arr, idx).to_pylist(), strict=True))
    what = "date" if pa.types.is_date(target) else "timestamp"
    why: dict[int, str] = {}
    values: list[_dt.datetime | None] = []
    for i, text in texts.items():
        try:
            value = _dt.datetime.strptime(text, py_fmt)
            values.append(value if value.tzinfo is None else value.astimezone(_dt.UTC))  # %z: the instant
        except (ValueError, OverflowError):
            why[i] = f"{value_text(text)} is not a valid {what} for format {fmt!r}"
            values.append(None)
    read = pa.array(values, pa.timestamp("us", parsed.type.tz))
    if pa.types.is_date(target):  # the time of day goes, as from the values Arrow read
        fitted = kernels.cast(kernels.floor_temporal(read, unit="second"), parsed.type)  # (naive or UTC)
    else:  # a fraction below the target's unit, or a year past its range, does not fit
        conv = convert(read, parsed.type)
        fitted = conv.array
        if conv.bad is not None:
            why.update(
                (i, f"{value_text(texts[i])} {_unfit(target)}") for i in kernels.filter(idx, conv.bad).to_pylist()
            )
    parsed = kernels.replace_with_mask(parsed, suspect, fitted)
    if not why:
        return parsed, None, []
    failed = mask_of(list(why), len(arr))
    return kernels.if_else(failed, pa.scalar(None, parsed.type), parsed), failed, [why[i] for i in sorted(why)]


_UNIT_NAMES = {"s": "second", "ms": "millisecond", "us": "microsecond", "ns": "nanosecond"}


def _unfit(target: pa.DataType) -> str:
    """Why a value Python's ``strptime`` read does not fit ``target``, a timestamp: Python's
    microseconds fit every range but nanoseconds' (years 1677 to 2262) and every unit but s and ms."""
    if target.unit == "ns":
        return f"is outside the range of {type_name(target)} (years 1677 to 2262)"
    return f"has digits below a {_UNIT_NAMES[target.unit]} that {type_name(target)} would drop"


def _localize(arr: pa.Array, tz: str) -> tuple[pa.Array, pa.Array | None, list[str]]:
    """Read naive timestamps as wall-clock times in ``tz``; DST gaps/overlaps are reported."""
    try:
        return kernels.assume_timezone(arr, tz), None, []
    except pa.ArrowInvalid:
        pass
    bad, why = [], []
    for i in range(len(arr)):  # slow path: only for a batch holding an impossible local time
        value = arr.slice(i, 1)  # not as_py(): a nanosecond's digits would be lost, or fail
        ok = True
        if value.null_count == 0:
            try:
                kernels.assume_timezone(value, tz)
            except pa.ArrowInvalid as exc:
                ok = False
                what = "is ambiguous" if "ambiguous" in str(exc) else "does not exist"
                why.append(f"{value_text(str(column_values(value)[0]))} {what} in time zone {tz}")
        bad.append(not ok)
    mask = pa.array(bad, pa.bool_())
    fixed = kernels.if_else(mask, pa.scalar(None, arr.type), arr)
    return kernels.assume_timezone(fixed, tz), mask, why


# A time of day followed by an offset: "2024-01-01T10:00:00+05:00", "... 10:00Z".
_OFFSET = r"[Tt ]\d{2}[^+-]*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def _offset_text(arr: pa.Array) -> pa.Array | None:
    """Which values are text with an offset (instants already), or None if none is."""
    if not (is_text(arr.type) or pa.types.is_binary(arr.type)):
        return None
    mask = kernels.fill_null(kernels.match_substring_regex(arr, _OFFSET), False)
    return mask if kernels.any(mask).as_py() else None


def _zone_hint(reason: str) -> str:
    """A reason for a value without a zone, with what the stage takes to give it one."""
    return f"{reason} (say which in the stage's timezone)" if reason.endswith(NO_ZONE) else reason


def _number_hint(col: str, source: pa.DataType, target: pa.DataType) -> str | None:
    """How a number becomes a date or timestamp: a count since the epoch by its unit, or one that
    spells a date (``20240101``) by a format, as text. A number is no count of days."""
    if not (is_numeric(source) and (pa.types.is_date(target) or pa.types.is_timestamp(target))):
        return None
    spelled = f'cast {col} to "string" in a stage before this one, then read it with formats.{col} (say "%Y%m%d")'
    if pa.types.is_date(target):
        return spelled
    return f'a count since 1970: formats.{col} = "epoch_ms" (or epoch_s, epoch_us, epoch_ns); a date spelled as digits: {spelled}'


@dataclass(kw_only=True)
class Cast(StageBase):
    """Convert columns to types: ``columns = { age = "int64", day = "date" }``.

    ``formats`` gives strptime formats for date/timestamp columns parsed from
    text; ``timezone`` (one zone, or a table per column) says in which zone
    naive wall-clock times are. ``on_error``: ``reject`` (default) moves a
    row whose value does not fit to the rejects, ``null`` nulls the value,
    ``fail`` stops the run.
    """

    kind: ClassVar[str] = "cast"
    columns: dict[str, str]
    formats: dict[str, str | list[str]] = field(default_factory=dict)
    timezone: str | dict[str, str] | None = None
    on_error: str = "reject"
    name: str = ""
    _types: dict[str, pa.DataType] = field(default_factory=dict, init=False, repr=False)
    _formats: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)  # each column's, in order
    _zones: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _schema: pa.Schema | None = field(default=None, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.mapping("columns", self.columns)
        self.on_error = self.choice("on_error", self.on_error, ON_ERROR)
        self._types = {col: self.column_type(col, tname) for col, tname in self.columns.items()}
        self._zones = self._time_zones()
        self._check_formats()

    def _check_formats(self) -> None:
        if self.formats:
            self.formats = self.mapping("formats", self.formats, values="any")
        for col, given in self.formats.items():
            if col not in self.columns:
                raise self.error(f"formats.{col}: {col!r} is not in columns", column=col)
            listed = [given] if isinstance(given, str) else given
            if not isinstance(listed, list) or not listed or not all(isinstance(f, str) for f in listed):
                raise self.error(f"formats.{col}: expected a format, or a list of them, got {given!r}", column=col)
            self._formats[col] = listed
            for fmt in listed:
                self._check_format(col, fmt)

    def _check_format(self, col: str, fmt: str) -> None:
        t = self._types[col]
        if not (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            raise self.error(f"formats.{col}: a format applies to date and timestamp columns only", column=col)
        if fmt in EPOCH_UNITS:
            if not pa.types.is_timestamp(t):
                raise self.error(f"formats.{col}: {fmt} (a count since 1970) applies to timestamp columns", column=col)
            return
        try:
            strptime_format(fmt)
            _check_reads_something(fmt)
        except ValueError as exc:
            raise self.error(
                f"formats.{col}: {exc}",
                column=col,
                hint="formats take the directives of Python's datetime.strptime, e.g. %d.%m.%Y %H:%M:%S.%f, "
                "or a count since 1970: epoch_s, epoch_ms, epoch_us, epoch_ns",
            ) from None
        if "%z" in fmt and pa.types.is_timestamp(t) and t.tz is None and col not in self._zones:
            raise self.error(
                f"formats.{col}: %z reads an offset, which {type_name(t)} has no zone to keep",
                column=col,
                hint=f'declare {col} = "timestamp[{t.unit}, UTC]", or give the zone to convert to in timezone',
            )

    def _time_zones(self) -> dict[str, str]:
        """The zone of each timestamp column read as wall-clock time, each checked to exist."""
        if isinstance(self.timezone, str):
            zones = {c: self.timezone for c, t in self._types.items() if pa.types.is_timestamp(t)}
            where = dict.fromkeys(zones, "timezone")
        elif isinstance(self.timezone, Mapping):
            zones = self.mapping("timezone", self.timezone)
            where = {c: f"timezone.{c}" for c in zones}
            for col in zones:
                if col not in self.columns or not pa.types.is_timestamp(self._types[col]):
                    raise self.error(f"timezone.{col}: {col!r} is not a timestamp column in columns", column=col)
        elif self.timezone is None:
            return {}
        else:
            raise self.error(f"timezone: expected a zone name like 'Europe/Oslo', got {self.timezone!r}")
        for col, tz in zones.items():
            try:
                _check_zone(tz)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise self.error(f"{where[col]}: unknown time zone {tz!r}", column=col) from None
        return zones

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.columns)
        for col, formats in self._formats.items():
            t = schema.field(col).type
            counts = all(f in EPOCH_UNITS for f in formats) and is_numeric(t)  # epoch_ms reads numbers too
            if not (is_text(t) or pa.types.is_binary(t) or counts):
                raise self.error(f"formats.{col}: the column is {type_name(t)}; a format parses text", column=col)

    def _convert(self, col: str, arr: pa.Array) -> tuple[pa.Array, list[tuple[pa.Array, list[str]]]]:
        """Convert one column: the new array, and (bad mask, reasons) per step that found bad values."""
        fmt = self._formats.get(col)
        tz = self._zones.get(col)
        target = self._types[col]
        # every format reads an offset, or a count since 1970: instants already (a list that
        # mixes them with wall-clock formats localizes the values those read: _convert_local)
        counted = bool(fmt) and all(map(reads_instant, fmt or []))
        if tz and ((pa.types.is_timestamp(arr.type) and arr.type.tz is not None) or counted):
            # already instants (an offset in the text or the type): nothing to localize, and
            # a target without a zone takes the given one, as for the values localized in it
            target = target if target.tz else pa.timestamp(target.unit, tz)
            tz = None
        offset = _offset_text(arr) if tz and not fmt else None
        if offset is None:
            return self._convert_local(col, arr, target, fmt, tz)
        # Text with an offset is an instant already; the rest is wall-clock time in tz.
        local, steps = self._convert_local(
            col, kernels.if_else(offset, pa.scalar(None, arr.type), arr), target, None, tz
        )
        instants = convert(kernels.if_else(offset, arr, pa.scalar(None, arr.type)), local.type)
        if instants.bad is not None:
            steps.append((instants.bad, instants.reasons or []))
        return kernels.if_else(offset, instants.array, local), steps

    def _convert_local(
        self, col: str, arr: pa.Array, target: pa.DataType, fmt: list[str] | None, tz: str | None
    ) -> tuple[pa.Array, list[tuple[pa.Array, list[str]]]]:
        """``_convert`` to ``target`` for values that are wall-clock times in ``tz`` (if given)."""
        # With a zone, values are read as naive wall-clock times first.
        step_target = pa.timestamp(target.unit) if tz else target
        instant = None  # the values a format read as instants (their UTC clock): not localized
        try:
            if fmt:
                conv, instant = read_by_formats(arr, step_target, fmt)
            else:
                conv = convert(arr, step_target, explicit=True)
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise self.error(
                f"columns.{col}: cannot convert {type_name(arr.type)} to {type_name(target)}",
                column=col,
                hint=_number_hint(col, arr.type, target),
            ) from None
        out = conv.array
        steps: list[tuple[pa.Array, list[str]]] = []
        if conv.bad is not None:
            reasons = conv.reasons or []
            steps.append((conv.bad, reasons if tz or not is_zoned(target) else [_zone_hint(r) for r in reasons]))
        if tz:
            zoned = target if target.tz else pa.timestamp(target.unit, tz)
            out, bad, why = _localize(
                out if instant is None else kernels.if_else(instant, pa.scalar(None, out.type), out), tz
            )
            if bad is not None:
                steps.append((bad, why))
            out = kernels.cast(out, zoned)
            if instant is not None:  # a naive timestamp cast to a zoned one is read as UTC
                out = kernels.if_else(instant, kernels.cast(conv.array, zoned), out)
        return out, steps

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        if self._schema is None or not (self._schema is batch.schema or self._schema.equals(batch.schema)):
            self._bind(batch.schema)
            self._schema = batch.schema
        converted: dict[str, pa.Array] = {}
        failures: list[tuple[pa.Array, list[str], str | None]] = []
        for col in self.columns:
            converted[col], steps = self._convert(col, batch.column(col))
            failures.extend((mask, why, col) for mask, why in steps)
        if failures and self.on_error == "fail":
            first_failure(chunk, failures, stage=self.name)
        if failures and self.on_error == "reject":
            # Rejects carry the original values, so reject before swapping columns in.
            chunk, alive = reject_in_order(chunk, failures, stage=self.name)
            if alive is not None:
                converted = {c: kernels.filter(a, alive) for c, a in converted.items()}
        return chunk.with_batch(replace_columns(chunk.batch, converted))
