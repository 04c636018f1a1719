"""Turning Arrow columns into what a database stores, column-wise.

SQLite gets Arrow columns of the kinds it stores (integers, floats, text,
blobs), which ADBC binds in C. LevelDB gets ready-made bytes: the
JSON objects and the keys are built with ``pyarrow.compute`` for whole
columns at once; only nested types and format specs take a per-value path.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import functools
import itertools
import json
import math
import re
import string
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .. import kernels, suggest
from ..convert import decimal_text, float_loses, leading_zero, mask_of, value_bytes
from ..errors import ConfigError
from ..types import inner_types, is_bytes, is_text, leaf_types, map_leaves, type_name, value_type

if TYPE_CHECKING:
    from ..schema import TextForm

INT64_MAX = (1 << 63) - 1


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}  # of the fraction the cast writes
_DAY = 86_400
# 0000-01-01 and 10000-01-01 in seconds since the epoch: the years the cast spells in 4 digits
_YEAR_0, _YEAR_10000 = -62_167_219_200, 253_402_300_800
# -32767-01-01 and 32768-01-01 in days since the epoch: the years Arrow's cast to text
# spells right (it keeps the year in 16 bits; outside, it writes "<value out of range: n>",
# a wrong year, or fails)
_CAST_FIRST_DAY, _CAST_END_DAY = -12_687_428, 11_248_738


def civil_from_days(days: int) -> tuple[int, int, int]:
    """Year, month and day of the proleptic Gregorian calendar, ``days`` after
    1970-01-01: Howard Hinnant's ``civil_from_days``, exact for any integer."""
    z = days + 719_468
    era = z // 146_097  # Python's // floors: no correction for negative days
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _date_text(days: int) -> str:
    """A date as the cast spells it: the year in at least 4 digits, a minus sign before it."""
    year, month, day = civil_from_days(days)
    sign = "-" if year < 0 else ""
    return f"{sign}{abs(year):04d}-{month:02d}-{day:02d}"


def interval_text(arr: pa.Array) -> pa.Array:
    """Month-day-nanosecond intervals (DuckDB's INTERVAL) as ISO-8601 durations, each part
    exact and signed as stored: ``P1M2DT0.000000003S``. Arrow has no cast to text for them,
    and the parts do not convert into one another (a month has no fixed number of days)."""
    return pa.array([None if v is None else _interval(*v) for v in arr.to_pylist()], pa.string())


def _interval(months: int, days: int, nanoseconds: int) -> str:
    seconds = Decimal(nanoseconds).scaleb(-9)
    return f"P{months}M{days}DT{format(seconds.normalize() if seconds else Decimal(0), 'f')}S"


def _far_text(value: int, t: pa.DataType) -> str:
    """One date or timestamp of a year Arrow's cast cannot spell, as the cast would spell it
    (``T`` between date and time; ``Z`` for a UTC timestamp): exact integer arithmetic."""
    if pa.types.is_date32(t):
        return _date_text(value)
    if pa.types.is_date64(t):
        # the cast truncates milliseconds toward zero to a day
        days = abs(value) // (_DAY * 1_000)
        return _date_text(days if value >= 0 else -days)
    per_second = _PER_SECOND[t.unit]
    seconds, fraction = divmod(value, per_second)
    days, seconds = divmod(seconds, _DAY)
    minutes, second = divmod(seconds, 60)
    digits = _DIGITS[t.unit]
    frac = f".{fraction:0{digits}d}" if digits else ""
    zone = "Z" if t.tz else ""
    return f"{_date_text(days)}T{minutes // 60:02d}:{minutes % 60:02d}:{second:02d}{frac}{zone}"


def _storage(arr: pa.Array) -> pa.Array:
    """A date or timestamp column's integers (a view, no copy)."""
    return arr.view(pa.int32() if pa.types.is_date32(arr.type) else pa.int64())


def _per_day(t: pa.DataType) -> int:
    if pa.types.is_date32(t):
        return 1
    if pa.types.is_date64(t):
        return _DAY * 1_000
    return _DAY * _PER_SECOND[t.unit]


def _time_counts(arr: pa.Array) -> pa.Array:
    """A time column's counts of its unit (a view, no copy)."""
    return arr.view(pa.int32() if pa.types.is_time32(arr.type) else pa.int64())


def outside_day(arr: pa.Array, end_inside: bool = True) -> pa.Array:
    """Where a time of day lies outside 00:00:00..24:00:00 (``end_inside``: 24:00:00 itself
    inside, DuckDB's and PostgreSQL's end of the day, which Python's time cannot hold); false
    for a null. A Parquet TIME can hold any count (a fastparquet timedelta): Arrow keeps it,
    but spells it ``<value out of range: N>``."""
    counts = _time_counts(arr)
    day = pa.scalar(_per_day(arr.type), counts.type)
    above = kernels.greater(counts, day) if end_inside else kernels.greater_equal(counts, day)
    return kernels.fill_null(kernels.or_(kernels.less(counts, pa.scalar(0, counts.type)), above), False)


def time_text(arr: pa.Array) -> pa.Array:
    """Times of day as ISO-8601 text (Arrow's cast, ``HH:MM:SS`` and the unit's digits), the
    rare value at or past the day's end (``24:00:00``, or the counts ``outside_day`` finds) as
    its hours, minutes and seconds from midnight, never Arrow's diagnostic text."""
    beyond = outside_day(arr, end_inside=False)
    if not kernels.any(beyond).as_py():
        return kernels.cast(arr, pa.string())
    inside = kernels.cast(kernels.if_else(beyond, pa.scalar(None, arr.type), arr), pa.string())
    far = kernels.filter(_time_counts(arr), beyond).to_pylist()
    return kernels.replace_with_mask(inside, beyond, pa.array([_clock_text(v, arr.type) for v in far], pa.string()))


def _clock_text(value: int, t: pa.DataType) -> str:
    """A count of ``t``'s unit as ``[-]H:MM:SS`` with the unit's digits (``24:00:00.000000``)."""
    per_second = _PER_SECOND[t.unit]
    seconds, fraction = divmod(abs(value), per_second)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    digits = _DIGITS[t.unit]
    tail = f".{fraction:0{digits}d}" if digits else ""
    return f"{'-' if value < 0 else ''}{hour:02d}:{minute:02d}:{second:02d}{tail}"


def iso_text(arr: pa.Array) -> pa.Array:
    """Dates, times and timestamps as ISO-8601 text (UTC timestamps end in ``Z``), of any
    year Arrow holds, and intervals as ISO-8601 durations (``interval_text``). One min/max
    over the column tells whether every value lies within the years Arrow's cast spells
    (the usual case: the cast alone); the rare values outside are written one by one
    (``_far_text``)."""
    t = arr.type
    if pa.types.is_interval(t):
        return interval_text(arr)
    if pa.types.is_timestamp(t) and t.tz:
        arr = kernels.cast(arr, pa.timestamp(t.unit, "UTC"))
        t = arr.type
    if pa.types.is_time(t):
        return time_text(arr)
    if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        return kernels.cast(arr, pa.string())
    storage = _storage(arr)
    low, high = kernels.min_max(storage).values()
    if not low.is_valid:  # empty or all null
        return kernels.cast(arr, pa.string())
    lo, hi = low.as_py(), high.as_py()
    per_day = _per_day(t)
    first, end = _CAST_FIRST_DAY * per_day, _CAST_END_DAY * per_day
    if first <= lo and hi < end:
        return _cast_text(arr, _four_digit_years(t, lo, hi))
    beyond = []
    if lo < first:
        beyond.append(kernels.less(storage, pa.scalar(first, storage.type)))
    if hi >= end:
        beyond.append(kernels.greater_equal(storage, pa.scalar(end, storage.type)))
    outside = kernels.fill_null(beyond[0] if len(beyond) == 1 else kernels.or_(*beyond), False)
    inside = kernels.if_else(outside, pa.scalar(None, t), arr)
    low, high = kernels.min_max(_storage(inside)).values()
    four = not low.is_valid or _four_digit_years(t, low.as_py(), high.as_py())
    far = kernels.filter(storage, outside).to_pylist()
    return kernels.replace_with_mask(_cast_text(inside, four), outside, pa.array([_far_text(v, t) for v in far]))


def form_text(arr: pa.Array, form: TextForm) -> pa.Array:
    """Timestamps as the text of an existing column's ``form`` (``schema.text_form``: its first
    value's), so that they compare and sort with its rows: its separator, its fraction's digits
    (more where a value's fraction needs them: nothing is cut), its offset style for a zoned
    value, in UTC (``Z`` or ``+00:00``; none where its rows have none). A value without a zone
    gets no offset: none is made up."""
    text = iso_text(arr)  # the loader's own: "T", the unit's digits, "Z" where zoned
    zoned = bool(arr.type.tz)
    if zoned:
        text = kernels.utf8_slice_codeunits(text, 0, -1)
    text = _fraction_digits(text, _DIGITS[arr.type.unit], form.digits)
    if form.sep != "T":
        text = kernels.replace_substring(text, "T", form.sep, max_replacements=1)
    if zoned and form.offset:
        text = kernels.binary_join_element_wise(text, form.offset, "")
    return text


def _fraction_digits(text: pa.Array, unit: int, digits: int) -> pa.Array:
    """Texts whose fractions have ``unit`` digits with ``digits`` instead: zeros added, or
    trailing zeros dropped where a value's fraction has them (else its ``unit`` digits stay)."""
    if digits > unit:
        return kernels.binary_join_element_wise(text, ("" if unit else ".") + "0" * (digits - unit), "")
    if digits < unit:
        kept = r".\1" if digits else ""
        return kernels.replace_substring_regex(text, rf"\.(\d{{{digits}}})0{{{unit - digits}}}$", kept)
    return text


def _four_digit_years(t: pa.DataType, low: int, high: int) -> bool:
    """Whether a timestamp column's values from ``low`` to ``high`` all lie in years 0..9999."""
    if not pa.types.is_timestamp(t):
        return True  # dates need no separator replaced
    per_second = _PER_SECOND[t.unit]
    return bool(_YEAR_0 * per_second <= low and high < _YEAR_10000 * per_second)


def _cast_text(arr: pa.Array, four_digit_years: bool) -> pa.Array:
    """Dates and timestamps (UTC or without a zone) within the years Arrow's cast spells."""
    text = kernels.cast(arr, pa.string())
    if not pa.types.is_timestamp(arr.type):
        return text
    # The cast spells "YYYY-MM-DD HH:MM:SS[.frac][Z]" exactly as strftime's
    # %Y-%m-%dT%H:%M:%S[Z] would, but faster: only the separator differs.
    # With 4-digit years it is byte 10: replacing that slice is cheaper
    # than searching for the space (bench/NOTES.md).
    if four_digit_years:
        return kernels.binary_replace_slice(text, 10, 11, "T")
    return kernels.replace_substring(text, " ", "T", max_replacements=1)


def _plain(arr: pa.Array) -> pa.Array:
    """A dictionary decoded; a float16 or float32 widened to float64, so its text (JSON, raw
    value, key) is the float64 that SQLite stores, pyarrow returns and a nested one is written
    as (``0.10000000149011612``, not float32's shortest ``0.1``, which reads back as another float64)."""
    if pa.types.is_dictionary(arr.type):
        arr = kernels.cast(arr, arr.type.value_type)
    if pa.types.is_floating(arr.type) and arr.type.bit_width < 64:
        return kernels.cast(arr, pa.float64())
    return arr


def is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_map(t))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


_INFINITY = {math.inf: "Infinity", -math.inf: "-Infinity"}  # JSON has no infinity: the spelling JSON libraries read


def _is_date_or_time(t: pa.DataType) -> bool:
    return pa.types.is_temporal(t) and not pa.types.is_duration(t)


def _is_instant(t: pa.DataType) -> bool:
    """A date, time or timestamp type: its key field is ISO text, its spec strftime's (an
    interval's or a duration's is neither)."""
    return bool(pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_timestamp(t))


def _microseconds(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", t.tz)
    if pa.types.is_time64(t) and t.unit == "ns":
        return pa.time64("us")
    return t


def python_type(t: pa.DataType) -> pa.DataType:
    """``t`` with its nanosecond timestamps and times in microseconds, which Python's
    datetime holds (a safe cast to it fails where a value has digits below the microsecond)."""
    return map_leaves(t, _microseconds)


def _text(t: pa.DataType) -> pa.DataType:
    """Leaves that ``nested_json`` has Arrow turn into text: dates and times, and
    decimals (their exact digits, written as JSON numbers); durations become their
    integer count of the unit, as at top level (Python's timedelta would hold no
    nanoseconds, and JSON has no timedelta)."""
    if pa.types.is_duration(t):
        return pa.int64()
    return pa.string() if _is_date_or_time(t) or pa.types.is_decimal(t) else t


def _has_decimal(t: pa.DataType) -> bool:
    return any(pa.types.is_decimal(leaf) for leaf in leaf_types(t))


def _nulls(arr: pa.Array) -> pa.Array | None:
    return kernels.is_null(arr) if arr.null_count else None


def _untext_keys(t: pa.DataType) -> bool:
    """Whether a map in ``t`` has keys other than text (``map_key_text`` spells them)."""
    return any(pa.types.is_map(inner) and not pa.types.is_string(inner.key_type) for inner in inner_types(t))


def text_leaves(arr: pa.Array, map_keys: bool = False) -> pa.Array:
    """``arr`` with its date, time and decimal leaves as text (``iso_text``; ``decimal_text``
    for decimals) and its duration leaves as int64 counts of their unit, the nesting and
    nulls kept. Only the leaves are new arrays. ``map_keys``: each map's keys as the names
    of a JSON object's members (``map_key_text``), as ``nested_json`` writes them."""
    t = arr.type
    if map_leaves(t, _text) == t and not (map_keys and _untext_keys(t)):
        return arr
    if pa.types.is_struct(t):
        children = [text_leaves(arr.field(i), map_keys) for i in range(t.num_fields)]
        fields = [f.with_type(c.type) for f, c in zip(t, children, strict=True)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=_nulls(arr))
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        values = text_leaves(arr.values.slice(arr.offset * size, len(arr) * size), map_keys)
        kind = pa.list_(t.value_field.with_type(values.type), size)
        return pa.FixedSizeListArray.from_arrays(values, type=kind, mask=_nulls(arr))
    if pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = arr.offsets  # of the slice, into the whole child
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        if start:
            offsets = kernels.subtract(offsets, pa.scalar(start, offsets.type))
        if pa.types.is_map(t):
            keys = arr.keys.slice(start, end - start)
            keys = map_key_text(keys) if map_keys else text_leaves(keys)
            items = text_leaves(arr.items.slice(start, end - start), map_keys)
            kind = pa.map_(t.key_field.with_type(keys.type), t.item_field.with_type(items.type), t.keys_sorted)
            return pa.MapArray.from_arrays(offsets, keys, items, type=kind, mask=_nulls(arr))
        values = text_leaves(arr.values.slice(start, end - start), map_keys)
        field = t.value_field.with_type(values.type)
        if pa.types.is_large_list(t):
            return pa.LargeListArray.from_arrays(offsets, values, type=pa.large_list(field), mask=_nulls(arr))
        return pa.ListArray.from_arrays(offsets, values, type=pa.list_(field), mask=_nulls(arr))
    if pa.types.is_decimal(t):
        return decimal_text(arr)
    if pa.types.is_duration(t):
        return kernels.cast(arr, pa.int64())
    return iso_text(arr)


def python_value(value: Any, t: pa.DataType) -> Any:
    """A value of Arrow type ``t`` as JSON-ready Python: maps as objects (an empty
    one too), infinities as ``"Infinity"``/``"-Infinity"``, NaN as None; dates and
    times, and map keys, come as text already (see ``nested_json``)."""
    if value is None:
        return None
    if pa.types.is_map(t):
        return {k: python_value(v, t.item_type) for k, v in value}
    if pa.types.is_struct(t):
        return {f.name: python_value(value.get(f.name), f.type) for f in t}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [python_value(v, t.value_type) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return _INFINITY.get(value)
    return value


_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_text(value: Any, t: pa.DataType) -> str:
    """JSON text of a value of a type ``t`` that holds decimals, which come as their
    plain digits (``decimal_text``) and are written as they are: a JSON number, as LevelDB's top-level
    decimals are (json.dumps cannot write a number from text)."""
    if value is None:
        return "null"
    if pa.types.is_decimal(t):
        return str(value)
    if pa.types.is_map(t):
        members = {k: _json_text(v, t.item_type) for k, v in value}
    elif pa.types.is_struct(t):
        members = {f.name: _json_text(value.get(f.name), f.type) for f in t}
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "[" + ",".join([_json_text(v, t.value_type) for v in value]) + "]"
    else:
        return _dumps(python_value(value, t))
    return "{" + ",".join([_dumps(k) + ":" + v for k, v in members.items()]) + "}"


def nested_json(arr: pa.Array) -> list[str | None]:
    """Each value as JSON text, one by one (maps as objects, bytes as base64): the
    slow path, for nested values and for text holding control characters.
    Dates, times and decimals are turned into text, durations into integers, and map keys
    into their members' names (``map_key_text``), column-wise (``text_leaves``) before any
    value reaches Python, so every year Arrow holds keeps its exact value, decimals their
    exact digits (written as JSON numbers) and durations their count of the unit,
    nanoseconds included. A map that repeats a key keeps its last value for it: the
    writers reject such rows first (``repeated_map_keys``)."""
    t = arr.type
    text = text_leaves(arr, map_keys=True)
    if _has_decimal(t):
        return [None if v is None else _json_text(v, t) for v in text.to_pylist()]
    return [None if v is None else _dumps(python_value(v, t)) for v in text.to_pylist()]


def map_key_text(keys: pa.Array) -> pa.Array:
    """Map keys as the names of a JSON object's members: each key's JSON text as a value of
    its type is written (``1``, ``1.5``, ``2.0``, ``true``, ``2024-01-31``, a decimal's exact
    digits, a duration's count, a list's or struct's compact JSON), a string's and a
    ``"Infinity"``'s without their quotes, bytes as base64 (``AP8=``), NaN as ``null``. Never
    Python's spelling (``b'ab'``, ``True``, ``None``)."""
    keys = _key_plain(keys)  # decoded, a float16 or float32 widened, a duration its count
    if isinstance(keys.type, pa.BaseExtensionType):  # a UUID's 16 bytes, say
        keys = keys.storage
    t = keys.type
    if is_text(t):
        return kernels.cast(keys, pa.string())
    if is_bytes(t):
        return pa.array([base64.b64encode(v).decode("ascii") for v in keys.to_pylist()], pa.string())
    if pa.types.is_floating(t):  # a key is never null: a null here is a NaN (``_json_float``)
        return kernels.fill_null(kernels.replace_substring(_json_float(keys), '"', ""), "null")
    return kernels.cast(_plain_field(keys), pa.string())


def _holds_map(t: pa.DataType) -> bool:
    return any(pa.types.is_map(inner) for inner in inner_types(t))


def repeated_map_keys(arr: pa.Array, column: str | None) -> tuple[pa.Array, list[str]] | None:
    """The rows of column ``column`` (None: not named in the reasons) whose map, at any depth, holds one key more than once,
    with a reason for each (in row order); None where no map does. Arrow and Parquet maps
    may repeat a key (pyarrow writes them), but a JSON object holds one member per name:
    all values but the last would be lost. Keys are compared as the names they get
    (``map_key_text``: two NaN keys are both ``null``), by a group-by of each map's keys
    (Arrow's hash kernels, no pass in Python)."""
    t = arr.type
    if not _holds_map(t.value_type if pa.types.is_dictionary(t) else t):
        return None
    found: dict[int, str] = {}
    for entries, rows, place in _map_arrays(_plain(arr), None, ""):
        maps = kernels.list_parent_indices(entries)
        names = map_key_text(kernels.list_flatten(entries).flatten()[0])
        counts = pa.table({"map": maps, "key": names}).group_by(["map", "key"], use_threads=False)
        counts = counts.aggregate([([], "count_all")])
        if counts.num_rows == len(names):  # every key once in its map: the usual case
            continue
        repeated = counts.filter(kernels.greater(counts["count_all"], 1))
        which = repeated["map"] if rows is None else kernels.take(rows, repeated["map"])
        keys, times = repeated["key"].to_pylist(), repeated["count_all"].to_pylist()
        for row, key, n in zip(which.to_pylist(), keys, times, strict=True):
            found.setdefault(row, _repeated_key_reason(column, place, key, n))
    if not found:
        return None
    rows_found = sorted(found)
    return mask_of(rows_found, len(arr)), [found[r] for r in rows_found]


def _repeated_key_reason(column: str | None, place: str, key: str, n: int) -> str:
    shown = key if len(key) <= 40 else key[:40] + "..."
    times = "twice" if n == 2 else f"{n} times"
    at = f" at {place}" if place else ""
    of = f" in column {column!r}" if column is not None else ""
    return f"the map{at}{of} holds the key {shown!r} {times}: a JSON object keeps one value per key"


def _map_arrays(arr: pa.Array, rows: pa.Array | None, place: str) -> Iterator[tuple[pa.Array, pa.Array | None, str]]:
    """Each map array within ``arr`` as a list of its entries (structs of key and value), the
    row of ``arr``'s top level each of its maps is in (None: its own index), and its place
    (``.a``, ``[]`` for the items of a list or the values of a map, as jq writes them)."""
    t = arr.type
    if not _holds_map(t):
        return
    if pa.types.is_struct(t):
        for f, child in zip(t, arr.flatten(), strict=True):  # flatten: a null struct's fields are null
            yield from _map_arrays(child, rows, f"{place}.{f.name}")
        return
    if pa.types.is_map(t):
        # as a list of entries: Arrow's list kernels take no map
        arr = kernels.cast(arr, pa.list_(pa.struct([t.key_field, t.item_field])))
        yield arr, rows, place
    parents = kernels.list_parent_indices(arr)
    inner = parents if rows is None else kernels.take(rows, parents)
    values = kernels.list_flatten(arr)
    if pa.types.is_map(t):
        values = values.flatten()[1]
    yield from _map_arrays(values, inner, place + "[]")


# ------------------------------------------------------------------- SQLite


def sqlite_type(t: pa.DataType) -> str:
    """The declared SQLite type for an Arrow type (see the type mapping in docs/types.md)."""
    if pa.types.is_dictionary(t):
        return sqlite_type(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_duration(t):
        return "INTEGER"
    if pa.types.is_floating(t):
        return "REAL"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BLOB"
    if pa.types.is_null(t):
        return ""  # no value yet: no affinity, so a later load's values are stored as they are
    return "TEXT"  # strings, dates, times, timestamps, decimals (exact digits), nested as JSON


def sqlite_array(arr: pa.Array, form: TextForm | None = None) -> pa.Array:
    """One column as Arrow values SQLite stores without loss: integers, floats,
    text and blobs (ADBC binds each kind directly). ``form``: the existing column's
    date-time text, which its timestamps are written in (``form_text``)."""
    arr = _plain(arr)
    t = arr.type
    if form is not None and pa.types.is_timestamp(t):
        return form_text(arr, form)
    if pa.types.is_temporal(t) and not pa.types.is_duration(t):
        return iso_text(arr)
    if pa.types.is_duration(t) or pa.types.is_unsigned_integer(t):
        return kernels.cast(arr, pa.int64())  # the SQLite encoder has rejected uint64 above INT64_MAX
    if pa.types.is_decimal(t):
        return decimal_text(arr)
    if is_nested(t):
        return pa.array(nested_json(arr), pa.string())
    if pa.types.is_fixed_size_binary(t):
        return kernels.cast(arr, pa.binary())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    return arr


# Text SQLite's NUMERIC affinity turns into a number: its well-formed integer and real literals
_SQLITE_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_INTEGER_LITERAL = re.compile(r"\s*[+-]?\d+\s*")


def affinity_loss(arr: pa.Array, affinity: str) -> tuple[pa.Array, list[str]] | None:
    """Where a column of ``affinity`` (NUMERIC, INTEGER or REAL) would store another number
    than the value says, with a reason for each; None where nothing would change."""
    if pa.types.is_string(arr.type):
        return numeric_affinity_loss(arr, affinity)
    if affinity == "REAL" and pa.types.is_integer(arr.type):
        return _real_loss(arr)
    return None


def _real_loss(arr: pa.Array) -> tuple[pa.Array, list[str]] | None:
    """Integers a REAL column would round (past 2**53)."""
    big = kernels.fill_null(kernels.greater(kernels.abs(kernels.cast(arr, pa.float64(), safe=False)), 2.0**53), False)
    if not kernels.any(big).as_py():
        return None
    values = arr.to_pylist()
    lost = [v is not None and b and float(v) != v for v, b in zip(values, big.to_pylist(), strict=True)]
    if not any(lost):
        return None
    why = [
        f"{v} would be stored as {float(v)!r} by the table's REAL column"
        for v, x in zip(values, lost, strict=True)
        if x
    ]
    return pa.array(lost, pa.bool_()), why


def numeric_affinity_loss(arr: pa.Array, affinity: str = "NUMERIC") -> tuple[pa.Array, list[str]] | None:
    """Where a NUMERIC, INTEGER or REAL column would change text into a number that is
    not what it says: a leading zero (``007`` -> 7), an integer past int64 or a decimal with
    more digits than a float holds; with a reason for each. None where nothing would change."""
    looks = kernels.fill_null(kernels.match_substring_regex(arr, _SQLITE_NUMBER), False)
    if not kernels.any(looks).as_py():
        return None
    text = kernels.filter(arr, looks)
    lost = kernels.or_(leading_zero(text, decimal=True), float_loses(text))
    if not kernels.any(lost).as_py():
        return None
    mask = kernels.replace_with_mask(looks, looks, lost)
    reasons, keep = [], []
    for value in kernels.filter(arr, mask).to_pylist():
        number = float(value) if affinity == "REAL" else _sqlite_number(value)
        keep.append(str(number) == value.strip().lstrip("+"))  # an integer within int64: stored as written
        reasons.append(
            f"{value!r} would be stored as the number {number!r} by the table's {affinity} column "
            "(declare the column TEXT to keep the text)"
        )
    if all(keep):
        return None
    mask = kernels.replace_with_mask(mask, mask, pa.array([not k for k in keep], pa.bool_()))
    return mask, [r for r, k in zip(reasons, keep, strict=True) if not k]


def _sqlite_number(text: str) -> int | float:
    """The number SQLite stores for a literal: an integer within int64, else a float."""
    if _INTEGER_LITERAL.fullmatch(text) and -(1 << 63) <= int(text) <= INT64_MAX:
        return int(text)
    return float(text)


def uint64_overflow(arr: pa.Array) -> pa.Array | None:
    """Where a uint64 value exceeds SQLite's signed 64-bit integers."""
    if arr.type != pa.uint64():
        return None
    mask = kernels.fill_null(kernels.greater(arr, pa.scalar(INT64_MAX, pa.uint64())), False)
    return mask if kernels.any(mask).as_py() else None


# ------------------------------------------------------------------ LevelDB


def _escaped_text(arr: pa.Array) -> pa.Array | None:
    """Strings escaped for a JSON literal, without the quotes; None when a value
    holds a control character (rare: json.dumps then spells the escapes).
    What needs escaping is decided once per column from the raw bytes (a SIMD
    min and two memchr scans, far cheaper than a regex over every value)."""
    data = value_bytes(arr)
    if data is None or data.size == 0:
        return arr
    if kernels.min(pa.Array.from_buffers(pa.uint8(), data.size, [None, data])).as_py() < 0x20:
        return None
    raw = data.to_pybytes()
    if b"\\" in raw:
        arr = kernels.replace_substring(arr, "\\", "\\\\")
    if b'"' in raw:
        arr = kernels.replace_substring(arr, '"', '\\"')
    return arr


_QUOTE = pa.scalar('"')
_EMPTY = pa.scalar("")
_TRUE = pa.scalar("true")
_FALSE = pa.scalar("false")


def _json_value(arr: pa.Array) -> tuple[pa.Array, str]:
    """A column as JSON text (null where the value is null), and the quote still
    to be put around each value.

    Text without nulls comes back unquoted with ``'"'``: the quotes then go into
    the literal parts of the object's join, one pass over the column fewer.
    Nulls are spelled ``null`` by that join too, not by a pass of their own."""
    arr = _plain(arr)
    t = arr.type
    text: pa.Array | None = None  # escaped text, to be quoted
    if pa.types.is_integer(t):
        out = kernels.cast(arr, pa.string())
    elif pa.types.is_decimal(t):
        out = decimal_text(arr)  # a JSON number with its exact digits
    elif pa.types.is_floating(t):
        out = _json_float(arr)
    elif pa.types.is_boolean(t):
        out = kernels.if_else(arr, _TRUE, _FALSE)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = _escaped_text(kernels.cast(arr, pa.string()))
        if text is None:
            out = pa.array(nested_json(arr), pa.string())
    elif pa.types.is_temporal(t) and not pa.types.is_duration(t):
        text = iso_text(arr)  # ISO text never needs escapes
    elif pa.types.is_duration(t):
        out = kernels.cast(kernels.cast(arr, pa.int64()), pa.string())
    elif pa.types.is_null(t):
        out = pa.nulls(len(arr), pa.string())
    else:
        out = pa.array(nested_json(arr), pa.string())
    return (out, "") if text is None else _quoted(text)


def float_text(arr: pa.Array) -> pa.Array:
    """Floats as Arrow's shortest text, a whole number keeping its ``.0`` (``3.0``, ``-0.0``,
    as Python's json writes them: ``3`` would read back as an integer)."""
    out = kernels.cast(arr, pa.string())
    whole = kernels.fill_null(kernels.and_(kernels.is_finite(arr), kernels.equal(kernels.floor(arr), arr)), False)
    if not kernels.any(whole).as_py():
        return out
    # only the whole ones are rewritten: a pass over their text, not the column's
    text = kernels.filter(out, whole)
    text = kernels.if_else(kernels.match_substring(text, "e"), text, kernels.binary_join_element_wise(text, ".0", ""))
    return kernels.replace_with_mask(out, whole, text)  # 1e+16 is a float already


def _json_float(arr: pa.Array) -> pa.Array:
    out = float_text(arr)
    if not kernels.all(kernels.is_finite(arr)).as_py():  # NaN and infinities are no JSON numbers
        infinity = kernels.if_else(kernels.greater(arr, 0), '"Infinity"', '"-Infinity"')
        out = kernels.if_else(
            kernels.is_finite(arr), out, kernels.if_else(kernels.is_inf(arr), infinity, pa.scalar(None, pa.string()))
        )
    return out


def _quoted(text: pa.Array) -> tuple[pa.Array, str]:
    """Escaped text: as it is with the quote still to put around it, or quoted where it has nulls."""
    if text.null_count == 0:
        return text, '"'
    return kernels.binary_join_element_wise(_QUOTE, text, _QUOTE, _EMPTY), ""  # null stays null


_BOOL = "bool"  # a boolean column without nulls: its literal goes into the two values


@functools.lru_cache(maxsize=64)
def _literals(names: tuple[str, ...], openings: tuple[str, ...]) -> tuple[Any, ...]:
    """The literal parts of a JSON object, as Arrow scalars: made once per shape of
    batch, not per chunk (a dozen conversions of Python text each cost ~3 us of GIL)."""
    out: list[Any] = []
    quote = ""  # the closing quote the previous value still needs
    for i, (name, opening) in enumerate(zip(names, openings, strict=True)):
        literal = quote + ("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":"
        if opening == _BOOL:
            out.append((pa.scalar(literal + "true"), pa.scalar(literal + "false")))
            quote = ""
        else:
            out.append(pa.scalar(literal + opening))
            quote = opening
    out.append(pa.scalar(quote + "}"))
    return tuple(out)


def json_objects(batch: pa.RecordBatch) -> pa.Array:
    """A JSON object per row (binary), built for the whole batch at once."""
    if len(batch.schema.names) == 0 or batch.num_rows == 0:
        return pa.array([b"{}"] * batch.num_rows, pa.binary())
    values: list[pa.Array] = []
    openings: list[str] = []
    for col in batch.columns:
        if pa.types.is_boolean(col.type) and col.null_count == 0:
            values.append(col)
            openings.append(_BOOL)
            continue
        out, opening = _json_value(col)
        values.append(out)
        openings.append(opening)
    literals = _literals(tuple(batch.schema.names), tuple(openings))
    parts: list[Any] = []
    for value, opening, literal in zip(values, openings, literals[:-1], strict=True):
        if opening == _BOOL:
            parts.append(kernels.if_else(value, *literal))  # one piece fewer to join
        else:
            parts.append(literal)
            parts.append(value)
    parts.append(literals[-1])
    joined = kernels.binary_join_element_wise(*parts, _EMPTY, null_handling="replace", null_replacement="null")
    return kernels.cast(joined, pa.binary())


def raw_values(arr: pa.Array) -> pa.Array:
    """One column stored as the value (binary): bytes as-is, text as UTF-8, others as text."""
    arr = _plain(arr)
    if isinstance(arr.type, pa.BaseExtensionType):  # a UUID's 16 bytes, say
        arr = arr.storage
    t = arr.type
    if is_bytes(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        out = kernels.cast(arr, pa.binary())  # bytes as they are (binary, large or fixed size), text as UTF-8
    elif pa.types.is_temporal(t) and not pa.types.is_duration(t):
        out = kernels.cast(iso_text(arr), pa.binary())
    elif is_nested(t):
        out = pa.array([None if v is None else v.encode() for v in nested_json(arr)], pa.binary())
    elif pa.types.is_floating(t):
        out = kernels.cast(float_text(arr), pa.binary())
    elif pa.types.is_decimal(t):
        out = kernels.cast(decimal_text(arr), pa.binary())
    else:
        out = kernels.cast(kernels.cast(arr, pa.string()), pa.binary())
    return kernels.fill_null(out, b"")


_DIRECTIVE_OF_VALUE = re.compile(r"%[A-Za-z]")  # ``%%`` is a literal percent sign


def _refuse_constant_spec(name: str, spec: str, t: pa.DataType, template: str) -> None:
    """A date's, time's or timestamp's spec is strftime's: without a directive it is literal
    text, the same key for every row (``{day:d}`` made every key ``d``: one row kept)."""
    value = value_type(t)  # a pandas Categorical of datetimes
    if _is_instant(value) and not _DIRECTIVE_OF_VALUE.search(spec.replace("%%", "")):
        raise ConfigError(
            f"sink.key: format spec {spec!r} of column {name!r} ({type_name(value)}) has no strftime "
            f"directive: the field would be the same text in every row's key (in {template!r})",
            hint="use directives such as {day:%Y%m%d}, or no spec for ISO text",
        )


# ------------------------------------------------------------ key templates

# A key is a few dozen bytes; a width or precision past this only costs memory.
MAX_SPEC_WIDTH = 1000
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?\d*[,_]?(?:\.\d+)?[bcdeEfFgGnosxX%]?$")
# A date's or a time's strftime spec ({day:%Y%m%d}): directives and plain text, no braces
_DATE_SPEC = re.compile(r"^[^{}%]*(?:%[A-Za-z%][^{}%]*)+$")
_PAD_INT = re.compile(r"^0(\d+)d$")
_DIRECTIVE = re.compile(r"%.")
# Signed 64-bit integers as fixed-width text that sorts like the numbers do.
SORTABLE_WIDTH = 20


_SMALL = 10**18  # below it, n + 10**18 spells "1" and n in 18 digits


def sortable_int(arr: pa.Array, prefix: str = "") -> pa.Array:
    """``prefix`` and then integers as text whose byte order is numeric order.

    Non-negative values are zero-padded to 20 digits; negative ones are
    ``-`` followed by the 19-digit zero-padded value of ``n + 2**63``, so
    every negative sorts before every non-negative (``-`` < ``0``) and in order.
    """
    arr = kernels.cast(arr, pa.int64()) if arr.type != pa.uint64() else arr
    low, high = kernels.min_max(arr).values()
    if low.is_valid and low.as_py() >= 0 and high.as_py() < _SMALL:
        # The usual keys: one cast of n + 10**18, its leading "1" replaced by the
        # prefix and "00". A third of the cost of padding and then joining the prefix.
        shifted = kernels.cast(kernels.add(arr, pa.scalar(_SMALL, arr.type)), pa.string())
        return kernels.binary_replace_slice(shifted, 0, 1, prefix + "0" * (SORTABLE_WIDTH - 18))
    positive = kernels.utf8_lpad(kernels.cast(arr, pa.string()), SORTABLE_WIDTH, "0")
    if arr.type == pa.uint64() or not (low.is_valid and low.as_py() < 0):
        out = positive
    else:
        # n + 2**63 for the negatives only (if_else discards the wrapped positives)
        shifted = kernels.cast(kernels.subtract(arr, pa.scalar(-(1 << 63), pa.int64())), pa.string())
        negative = kernels.binary_join_element_wise("-", kernels.utf8_lpad(shifted, SORTABLE_WIDTH - 1, "0"), "")
        out = kernels.if_else(kernels.less(arr, 0), negative, positive)
    return kernels.binary_join_element_wise(prefix, out, "") if prefix else out


def _python_instants(arr: pa.Array) -> pa.Array:
    """Timestamps and times as Python's ``strftime`` takes them: a zoned timestamp in UTC, as
    ``{ts}`` writes it (local time would give two instants of a DST change one key), nanoseconds
    cut to the microseconds Python's ``datetime`` and ``time`` hold."""
    t = arr.type
    if pa.types.is_time64(t) and t.unit == "ns":
        # a time of day is never negative: the unsafe cast's truncation is the floor
        return kernels.cast(arr, pa.time64("us"), safe=False)
    if not pa.types.is_timestamp(t):
        return arr
    if t.tz is not None:
        # the UTC view first: Arrow floors a zoned value in local wall time and raises on the
        # repeated hour of a DST change, where that wall time names two instants
        arr = kernels.cast(arr, pa.timestamp(t.unit, "UTC"))
    if t.unit == "ns":
        arr = kernels.cast(kernels.floor_temporal(arr, unit="microsecond"), pa.timestamp("us", arr.type.tz))
    return arr


class KeyTemplate:
    """A LevelDB key template such as ``user:{id}`` or ``{day}/{id:08d}``.

    Fields name columns and may carry a format spec; attribute access,
    indexing and conversions (``{a.b}``, ``{a[0]}``, ``{a!r}``) are refused,
    so a template can never reach anything but a column's value.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.parts: list[tuple[str, str | None, str]] = []
        self.unplain: list[str] = []  # fields that are no plain name ({a.b}, {a[0]}, {a!r}), as written
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ConfigError(f"sink.key: {exc} in {template!r}") from None
        for literal, name, spec, conversion in parsed:
            if name is None:
                self.parts.append((literal, None, ""))
                continue
            if not name or any(c in name for c in "{}"):
                raise self._not_a_name(name + ("!" + conversion if conversion else ""))
            if any(c in name for c in ".[]") or conversion:
                # refused once the data's columns are known (``require``), which can then say
                # whether the text is a column's name (``user.id``): kept whole, as one field
                text = name + ("!" + conversion if conversion else "") + (":" + spec if spec else "")
                self.unplain.append(text)
                self.parts.append((literal, text, ""))
                continue
            if spec and ("{" in spec or not (_SPEC.match(spec) or _DATE_SPEC.match(spec))):
                raise ConfigError(f"sink.key: {spec!r} is not a format spec (in {template!r})")
            if spec and max(int(n) for n in [*re.findall(r"\d+", spec), "0"]) > MAX_SPEC_WIDTH:
                raise ConfigError(
                    f"sink.key: {spec!r} asks for more than {MAX_SPEC_WIDTH} characters (in {template!r})"
                )
            self.parts.append((literal, name, spec or ""))
        self.columns = [n for _, n, _ in self.parts if n is not None]
        if not self.columns:
            raise ConfigError(f"sink.key: {template!r} names no column, so every row would get the same key")

    @property
    def prefix(self) -> str:
        """The literal text every key starts with (``a:`` of ``a:{id}``; empty for ``{id}``;
        ``{x}:`` of ``{{x}}:{id}``, whose escaped brace splits the literal into parts)."""
        text = []
        for literal, name, _ in self.parts:
            text.append(literal)
            if name is not None:
                break
        return "".join(text)

    def require(self, names: list[str]) -> None:
        """Refuse data without a column the template names, and a field that is no plain
        name, told apart from a column whose name holds ``.`` or ``:`` (``{user.id}``)."""
        for text in self.unplain:
            raise self._unplain(text, names)
        for _, name, spec in self.parts:  # {a:b} where the column is named a:b
            if name is not None and spec and name not in names and f"{name}:{spec}" in names:
                raise self._unplain(f"{name}:{spec}", names)
        suggest.require_columns("sink.key", self.columns, names)

    def run_together(self, schema: pa.Schema) -> list[str]:
        """A warning for each two fields of varying width with no text between them (only
        fields of one width, if any): rows then may spell one key ({a:d}{b:d}: a=1, b=23 and
        a=12, b=3). One varying field among fixed-width ones cannot: the others' widths
        place it ({a:d}{b}: b is 20 digits)."""
        out = []
        for run in self._runs(schema):
            varying = [i for i, (name, spec) in enumerate(run) if not _fixed_width(schema.field(name).type, spec)]
            for i, j in itertools.pairwise(varying):
                if run[i] == run[j]:
                    continue  # {a:d}{b}{a:d}: one text twice, so the run's width tells it
                out.append(self._run_together_warning(schema, run[i : j + 1]))
        return out

    def _runs(self, schema: pa.Schema) -> list[list[tuple[str, str]]]:
        """The template's fields in groups with no text between them (fields naming no
        column of ``schema`` left out: ``require`` refuses them)."""
        runs: list[list[tuple[str, str]]] = [[]]
        for literal, name, spec in self.parts:
            if literal:
                runs.append([])
            if name is not None and name not in self.unplain and name in schema.names:
                runs[-1].append((name, spec))
        return [run for run in runs if len(run) > 1]

    def _run_together_warning(self, schema: pa.Schema, fields: list[tuple[str, str]]) -> str:
        first, last = _field_text(*fields[0]), _field_text(*fields[-1])
        texts = "".join(_field_text(*f) for f in fields)
        example = self._same_key_example(schema, fields[0], fields[-1]) if len(fields) == 2 else None
        return (
            f"key fields {texts} run together: {first} and {last} vary in width, so two rows can "
            f"spell one key{f' ({example})' if example else ''} and the later overwrites the other; "
            f"put text between them, e.g. {first}/{texts[len(first) :]}"
        )

    def _same_key_example(self, schema: pa.Schema, x: tuple[str, str], y: tuple[str, str]) -> str | None:
        """Two rows this template gives one key, told as ``a=1, b=23 and a=12, b=3 are both
        123``: small values of each column's type tried, the keys rendered as the load does
        (None where none of them meet, or a column of the template has no value at hand)."""
        tx, ty = (_example_values(schema.field(n).type) for n, _ in (x, y))
        for x1, x2 in itertools.permutations(tx, 2):
            for y1, y2 in itertools.permutations(ty, 2):
                keys = self._keys_of(schema, {x[0]: [x1, x2], y[0]: [y1, y2]})
                if keys is not None and keys[0] == keys[1]:
                    shown = [f"{x[0]}={v!r}, {y[0]}={w!r}" for v, w in ((x1, y1), (x2, y2))]
                    key = keys[0].decode("utf-8", "replace") if isinstance(keys[0], bytes) else keys[0]
                    return f"{shown[0]} and {shown[1]} are both {key}"
        return None

    def _keys_of(self, schema: pa.Schema, values: dict[str, list[Any]]) -> list[Any] | None:
        """The keys of two rows holding ``values`` (the template's other columns: one value
        of their type); None where a value does not fit its column or its spec."""
        try:
            columns = {n: _two_of(values.get(n), schema.field(n).type) for n in dict.fromkeys(self.columns)}
            keys: list[Any] = self.render(pa.RecordBatch.from_pydict(columns)).to_pylist()
        except (pa.ArrowException, TypeError, ValueError, ConfigError, UnfitKeys):
            return None
        return keys

    def _not_a_name(self, text: str) -> ConfigError:
        return ConfigError(
            f"sink.key: {{{text}}} in {self.template!r} is not a column name",
            hint="a key template names columns and format specs only, e.g. user:{id} or {id:08d}",
        )

    def _unplain(self, text: str, names: list[str]) -> ConfigError:
        """The refusal of field ``text``: a column's name a field cannot hold, or no name at all."""
        if text not in names:
            return self._not_a_name(text)
        plain = re.sub(r"\W+", "_", text).strip("_") or "column"
        return ConfigError(
            f"sink.key: {{{text}}} in {self.template!r} names column {text!r}, but a key template's "
            "field cannot hold '.', '[', ']', '!' or ':'",
            hint=f'a rename stage gives the column a plain name: columns = {{ {json.dumps(text)} = "{plain}" }}, '
            f"then the key names {{{plain}}}",
        )

    def check_types(self, schema: pa.Schema) -> None:
        """Refuse a format spec the column's type cannot take, before a row is read: the
        spec is tried on one value of that type (zero, empty, the epoch), with the error a
        row's value would raise."""
        for _, name, spec in self.parts:
            if name is None or not spec or name not in schema.names:
                continue
            _refuse_constant_spec(name, spec, schema.field(name).type, self.template)
            sample = _sample(schema.field(name).type)
            if sample is not None:
                self._field(_key_plain(sample), spec, name, sample.type)

    def render(self, batch: pa.RecordBatch) -> pa.Array:
        """The key of every row as text (null where a key column is null)."""
        if self.unplain:  # never reached: ``require`` refuses it first
            raise self._not_a_name(self.unplain[0])
        pieces: list[Any] = []
        for literal, name, spec in self.parts:
            arr = _key_plain(batch.column(name)) if name is not None else None
            if arr is not None and not spec and pa.types.is_integer(arr.type):
                pieces.append(sortable_int(arr, literal))  # the literal goes in in the same pass
                continue
            if literal:
                pieces.append(literal)
            if arr is not None and name is not None:
                pieces.append(self._field(arr, spec, name))
        if len(pieces) == 1 and not isinstance(pieces[0], str):
            return pieces[0]
        if any(isinstance(p, pa.Array) and is_bytes(p.type) for p in pieces):
            # a bytes field goes in as it is (it need not be UTF-8), so the key is bytes throughout
            pieces = [
                pa.scalar(p.encode(), pa.binary()) if isinstance(p, str) else kernels.cast(p, pa.binary())
                for p in pieces
            ]
            return kernels.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))
        return kernels.binary_join_element_wise(*pieces, "")

    def _field(self, arr: pa.Array, spec: str, name: str, column_type: pa.DataType | None = None) -> pa.Array:
        """One field, other than a spec-less integer (``sortable_int``); ``UnfitKeys`` names
        the rows of column ``name`` whose values its spec cannot take. ``column_type``: the
        column's own type, for a message, where ``arr`` is another (a duration's counts)."""
        t = arr.type
        if pa.types.is_floating(t):
            _refuse_nan(arr, name)
        if not spec:
            return _plain_field(arr)
        pad = _PAD_INT.match(spec)
        # unsigned: no sign to pad around (and a comparison with 0 would cast a uint64 to int64)
        unsigned = pa.types.is_unsigned_integer(t)
        if (
            pad
            and pa.types.is_integer(t)
            and (unsigned or not kernels.any(kernels.fill_null(kernels.less(arr, 0), False)).as_py())
        ):
            return kernels.utf8_lpad(kernels.cast(arr, pa.string()), int(pad.group(1)), "0")
        fmt = _formatter(spec, t, name)
        if pa.types.is_time(t):
            _refuse_day_end(arr, name, spec)
        arr = _python_instants(arr)
        try:
            return pa.array([None if v is None else fmt(v) for v in arr.to_pylist()], pa.string())
        except (ValueError, TypeError, OverflowError) as exc:
            sample = _sample(t)
            if sample is None or _unfit(fmt, _plain(sample)[0]) is not None:
                raise _unfit_type(name, spec, column_type or t, exc) from None
        # the type takes the spec but some values do not (a date past 9999 for %Y): those rows
        raise UnfitKeys.of_spec(name, spec, [_unfit(fmt, v) for v in arr])


def _unfit_type(name: str, spec: str, t: pa.DataType, exc: Exception) -> ConfigError:
    """The refusal of a format spec column ``name``'s type ``t`` cannot take, with the way
    that fits where there is one: a date's spec on text whose values did not read as dates
    (``2012/01/01``: a cast stage's formats reads them), any spec on bytes (a key's field of
    bytes is the bytes themselves)."""
    if is_text(t) and _DIRECTIVE_OF_VALUE.search(spec.replace("%%", "")):
        return ConfigError(
            f"sink.key: format spec {spec!r} of column {name!r} is a date's, but the column is text "
            "(its values did not read as dates)",
            hint=f'a cast stage reads them with formats, e.g. formats = {{ {_toml_key(name)} = "%Y/%m/%d" }}; '
            f"ISO dates (2024-01-31) read as dates with --columns {name}=date",
        )
    message = f"sink.key: format spec {spec!r} does not fit column type {t}: {exc}"
    if is_bytes(t):
        return ConfigError(
            message, hint=f"a bytes field takes no format spec: {{{name}}} puts its bytes in the key as they are"
        )
    return ConfigError(message)


def _field_text(name: str, spec: str) -> str:
    return f"{{{name}:{spec}}}" if spec else f"{{{name}}}"


# A spec padded to a width with zeros (08d, 0>8, +08.2f): every value at least that wide
_ZERO_WIDTH = re.compile(r"^(?:0[>=]|[+\- ]?z?#?0)\d")
# strftime directives of one width for every date of years 1000-9999 (%% is a literal %)
_FIXED_DIRECTIVES = frozenset({"%Y", "%m", "%d", "%H", "%M", "%S", "%f", "%j", "%y", "%%"})


# Values whose texts run into each other's (1 and 23, 12 and 3: 123) under most specs
_EXAMPLE_VALUES: tuple[tuple[Any, ...], ...] = ((1, 12, 3, 23), ("1", "12", "3", "23"), (1.5, 1.52, 23.5, 3.5))


def _example_values(t: pa.DataType) -> list[Any]:
    """The first of ``_EXAMPLE_VALUES``' lists whose values are all of type ``t``."""
    for values in _EXAMPLE_VALUES:
        try:
            back = pa.array(values, t).to_pylist()
            if [(type(v), v) for v in back] == [(type(v), v) for v in values]:  # 1 is no float's value
                return list(values)
        except (pa.ArrowException, TypeError, ValueError):
            continue
    return []


def _two_of(values: list[Any] | None, t: pa.DataType) -> pa.Array:
    """``values`` as an array of type ``t``, or (None) one value of it twice."""
    if values is not None:
        return pa.array(values, t)
    sample = _sample(t)
    if sample is None:
        raise TypeError(f"no value of {t} at hand")
    return sample.take([0, 0])


def _fixed_width(t: pa.DataType, spec: str) -> bool:
    """Whether a key field's text has one width in every row: an integer's or a duration's
    20 digits without a spec, a zero-filled width no value of the type can pass, a date's,
    time's or timestamp's ISO text or a strftime spec of fixed-width directives only,
    fixed-size bytes. A field after it cannot run into it."""
    t = value_type(t)
    instant = _is_instant(t)
    if spec and instant:
        return all(d in _FIXED_DIRECTIVES for d in _DIRECTIVE.findall(spec))
    if spec:
        return bool(_ZERO_WIDTH.match(spec)) and _fits_width(t, spec)
    plain_width = (pa.types.is_integer, pa.types.is_duration, pa.types.is_fixed_size_binary)
    return instant or any(test(t) for test in plain_width)


def _fits_width(t: pa.DataType, spec: str) -> bool:
    """Whether zero-filled ``spec`` spells every value of type ``t`` in one width: a width is
    a minimum, so ``02d`` on an int64 is not fixed (101 is wider) where ``03d`` on a uint8 is.
    The type's extremes are the widest values; text and bytes have none (any may be longer)."""
    extremes = _extremes(t)
    if extremes is None:
        return False
    try:
        fmt = _formatter(spec, t, "")
        return len({len(fmt(v)) for v in extremes}) == 1
    except (ValueError, TypeError, OverflowError, ConfigError):
        return True  # a spec the type cannot take is refused by the load itself, not warned of


def _extremes(t: pa.DataType) -> list[Any] | None:
    """The values of type ``t`` whose text is widest under a numeric spec, with 0; a
    duration's count is an int64 (``_key_plain``)."""
    if pa.types.is_duration(t):
        t = pa.int64()
    if pa.types.is_integer(t):
        bits = t.bit_width
        signed = pa.types.is_signed_integer(t)
        return [-(1 << (bits - 1)) if signed else 0, (1 << (bits - signed)) - 1, 0]
    if pa.types.is_floating(t):
        return [-math.inf, -sys.float_info.max, 0.0, sys.float_info.max, math.inf]
    if pa.types.is_decimal(t):
        largest = Decimal(10**t.precision - 1).scaleb(-t.scale)
        return [-largest, Decimal(0), largest]
    if pa.types.is_boolean(t):
        return [False, True]
    return None


def _toml_key(name: str) -> str:
    """``name`` as a key of a TOML table: bare where it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _key_plain(arr: pa.Array) -> pa.Array:
    """A key column as ``_plain`` has it, a duration as its count of its unit (as it is stored):
    it sorts, and takes format specs, as an integer does (a timedelta's text would not sort)."""
    arr = _plain(arr)
    return kernels.cast(arr, pa.int64()) if pa.types.is_duration(arr.type) else arr


def _refuse_nan(arr: pa.Array, name: str) -> None:
    """NaN equals no value, itself included: as a key it names nothing (every NaN row would
    share one key), so its rows are rejected, as a null key's are."""
    nan = kernels.fill_null(kernels.is_nan(arr), False)
    if kernels.any(nan).as_py():
        reason = f"key column {name!r} is NaN, which makes no key"
        raise UnfitKeys(name, [reason if v else None for v in nan.to_pylist()])


def _refuse_day_end(arr: pa.Array, name: str, spec: str) -> None:
    """24:00:00 (DuckDB's end of the day) has no Python time: formatted it would be 00:00,
    the key of another instant, so its rows are rejected (without a spec it is ``24:00:00``)."""
    end = outside_day(arr, end_inside=False)
    if kernels.any(end).as_py():
        reason = f"key column {name!r}: format spec {spec!r} cannot spell 24:00:00 (it would be 00:00:00's key)"
        raise UnfitKeys(name, [reason if v else None for v in end.to_pylist()])


def _formatter(spec: str, t: pa.DataType, name: str) -> Callable[[Any], str]:
    """``format`` with ``spec``, spelled as in the C locale whatever locale the host set, so
    every process writes the same key for a row: a date's names (``%b %a %p``, and ``%c %x
    %X %r`` made of them) are written here in English, and a number's ``n`` is ``d`` (an
    integer) or ``g``, without the locale's digit grouping. Its ``%s`` is written here as the
    value's seconds since the epoch: strftime's own reads the value as the host's local time,
    so keys would change with TZ. A zoned timestamp counts in UTC, a naive one and a date as
    UTC wall time."""
    directives = _DIRECTIVE.findall(spec)
    if "%s" in directives and not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        raise ConfigError(f"sink.key: %s in {{{name}:{spec}}} takes a date or a timestamp, not column type {t}")
    if not _is_instant(value_type(t)):
        return ("{:" + _c_number_spec(spec, t) + "}").format
    if not _C_SPELLED.intersection(directives):
        return ("{:" + spec + "}").format
    spec = _DIRECTIVE.sub(lambda m: _C_FORMATS.get(m.group(), m.group()), spec)

    def fmt(value: dt.date | dt.time) -> str:
        return format(value, _DIRECTIVE.sub(lambda m: _c_text(value, m.group()), spec))

    return fmt


# The C locale's spelling of the directives that follow LC_TIME: the composite ones as the
# plain directives glibc's C locale makes them of, the others written out by ``_c_text``.
_C_FORMATS = {"%c": "%a %b %e %H:%M:%S %Y", "%x": "%m/%d/%y", "%X": "%H:%M:%S", "%r": "%I:%M:%S %p"}
_C_NAMES = frozenset({"%a", "%A", "%b", "%h", "%B", "%p", "%P", "%s"})
_C_SPELLED = _C_NAMES | _C_FORMATS.keys()
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


def _c_text(value: dt.date | dt.time, directive: str) -> str:
    """One directive of ``_C_NAMES`` for ``value`` as the C locale writes it (a time of day's
    date is 1900-01-01, a Monday, as its ``strftime`` takes it); any other directive as it is."""
    if directive not in _C_NAMES:
        return directive
    if isinstance(value, dt.time):
        value = dt.datetime.combine(dt.date(1900, 1, 1), value)
    if directive == "%s":  # the epoch seconds of a date, or of a timestamp in UTC
        tt = value.utctimetuple() if isinstance(value, dt.datetime) else value.timetuple()
        return str(calendar.timegm(tt))
    if directive in ("%p", "%P"):
        half = "PM" if isinstance(value, dt.datetime) and value.hour >= 12 else "AM"
        return half if directive == "%p" else half.lower()
    day, month = _DAYS[value.weekday()], _MONTHS[value.month - 1]
    return {"%a": day[:3], "%A": day, "%b": month[:3], "%h": month[:3], "%B": month}[directive]


def _c_number_spec(spec: str, t: pa.DataType) -> str:
    """A number's spec with ``n`` (the locale's) as the C locale writes it: ``d`` for an
    integer, ``g`` otherwise. With ``,`` or ``_`` it stays, which Python refuses."""
    value = value_type(t)
    if not spec.endswith("n") or "," in spec or "_" in spec:
        return spec
    if pa.types.is_integer(value):
        return spec[:-1] + "d"
    if pa.types.is_floating(value) or pa.types.is_decimal(value):
        return spec[:-1] + "g"
    return spec


def _plain_field(arr: pa.Array) -> pa.Array:
    """A field without a format spec, as ``{ts}`` or ``{name}`` writes it."""
    t = arr.type
    if pa.types.is_temporal(t) and not pa.types.is_duration(t):
        return iso_text(arr)
    if pa.types.is_boolean(t):
        return kernels.if_else(arr, "true", "false")
    if is_bytes(t):
        return kernels.cast(arr, pa.binary())
    if is_nested(t):
        return pa.array(nested_json(arr), pa.string())
    if pa.types.is_decimal(t):
        return decimal_text(arr)
    if pa.types.is_floating(t):
        return float_text(arr)  # as values write it: 3.0 and -0.0, not 3 and -0
    return kernels.cast(arr, pa.string())


class UnfitKeys(Exception):
    """Rows whose value in key column ``column`` makes no key (NaN, or a value its format spec
    cannot take): ``reasons`` holds each row's reason, None where the value fits."""

    def __init__(self, column: str, reasons: list[str | None]) -> None:
        super().__init__(column)
        self.column = column
        self.bad = pa.array([r is not None for r in reasons], pa.bool_())
        self.reasons = [r for r in reasons if r]

    @classmethod
    def of_spec(cls, column: str, spec: str, errors: list[str | None]) -> UnfitKeys:
        """The rows whose value the format spec ``spec`` cannot take (``errors``: each one's error)."""
        return cls(
            column,
            [
                None if e is None else f"key column {column!r}: format spec {spec!r} does not fit the value: {e}"
                for e in errors
            ],
        )


def _unfit(fmt: Callable[[Any], str], value: pa.Scalar) -> str | None:
    """Why ``fmt`` cannot format one value (Python cannot hold it, or the spec refuses it); None if it can."""
    try:
        if value.is_valid:
            fmt(value.as_py())
    except (ValueError, TypeError, OverflowError) as exc:
        return str(exc)
    return None


def _sample(t: pa.DataType) -> pa.Array | None:
    """One value of type ``t`` to try a format spec on; None for a type that has none at hand."""
    if pa.types.is_fixed_size_binary(t):  # b"" is no value of it: bytes of its width are
        return pa.array([b"\0" * t.byte_width], t)
    values: tuple[Any, ...] = (0, False, "", b"", [], {})
    for value in values:
        try:
            return pa.array([value], t)
        except (pa.ArrowException, TypeError, ValueError):
            continue
    return None
