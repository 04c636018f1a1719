"""Type names used in job files, and the Arrow types they stand for.

The same names serve ``[source] columns`` and the ``cast`` stage:
``string``, ``int8`` … ``int64``, ``uint8`` … ``uint64``, ``int`` (int64),
``float32``, ``float64`` (``float``, ``double``), ``bool``, ``date``,
``timestamp`` (microseconds), ``timestamp[ms]``, ``timestamp[us, UTC]``,
``decimal(p, s)``, ``binary``, ``json``-free on purpose: nested types come
from Parquet only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa

from . import kernels
from .errors import ConfigError

_ALIASES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "str": pa.string(),
    "text": pa.string(),
    "utf8": pa.string(),
    "large_string": pa.large_string(),
    "int": pa.int64(),
    "integer": pa.int64(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "date32": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "datetime": pa.timestamp("us"),
    "binary": pa.binary(),
    "bytes": pa.binary(),
}

_TIMESTAMP = re.compile(r"^timestamp\[\s*(s|ms|us|ns)\s*(?:,\s*(?:tz\s*=\s*)?([\w/+:-]+)\s*)?\]$")
_DECIMAL = re.compile(r"^decimal(?:128)?\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")

TYPE_NAMES = [*sorted(_ALIASES), "timestamp[unit, tz]", "decimal(precision, scale)"]


def parse_type(name: str, *, where: str = "type") -> pa.DataType:
    """Turn a type name from a job file into an Arrow type, or raise ConfigError."""
    if not isinstance(name, str):
        raise ConfigError(f"{where}: expected a type name, got {name!r}")
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    m = _TIMESTAMP.match(key)
    if m:
        tz = name.strip()[name.lower().index(m.group(2)) :].rstrip("] ").strip() if m.group(2) else None
        return pa.timestamp(m.group(1), tz=tz)
    m = _DECIMAL.match(key)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= precision <= 76 or scale > precision:
            raise ConfigError(f"{where}: decimal({precision}, {scale}) is out of range")
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    if key == "json":  # JSON text is text: a declared string keeps an object or array as its JSON text
        raise ConfigError(
            f"{where}: unknown type {name!r}",
            hint="declare it string: a JSON Lines object or array is kept as its JSON text",
        )
    raise ConfigError(
        f"{where}: unknown type {name!r}",
        hint="types: string, int64, float64, bool, date, timestamp, timestamp[us, UTC], "
        "decimal(p, s), binary (and the other int/uint/float widths)",
    )


def is_text(t: pa.DataType) -> bool:
    """A string or large_string type."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def is_bytes(t: pa.DataType) -> bool:
    """Bytes of any layout: binary, large_binary or fixed_size_binary."""
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))


def is_numeric(t: pa.DataType) -> bool:
    """An integer, float or decimal type."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def int_range(t: pa.DataType) -> tuple[int, int]:
    """The smallest and largest value of an integer type."""
    bits = t.bit_width
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if pa.types.is_signed_integer(t) else (0, (1 << bits) - 1)


def value_str(value: Any) -> str:
    """``str(value)``, a decimal in plain digits with its scale as the targets store it
    (``0.000000100``, ``12300``): Python's ``str`` writes ``1.00E-7`` and ``1.23E+4``."""
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    return str(value)


def decimal_type(precision: int, scale: int) -> pa.DataType:
    """A decimal of ``precision`` digits (at most 76): 128 bits up to 38 digits, else 256."""
    return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)


def value_type(t: pa.DataType) -> pa.DataType:
    """The type of a column's values: a dictionary column's value type, else ``t``."""
    return t.value_type if pa.types.is_dictionary(t) else t


def decoded(arr: pa.Array) -> pa.Array:
    """``arr`` with a dictionary column decoded: its rows hold the values, not indices."""
    return kernels.cast(arr, arr.type.value_type) if pa.types.is_dictionary(arr.type) else arr


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A batch of no rows of ``schema``: ``from_pylist([])`` cannot build a dictionary of
    values other than text (dates, timestamps, decimals) and fails on it."""
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def type_name(t: pa.DataType) -> str:
    """A short, readable name for an Arrow type (for plans and messages)."""
    if is_text(t):
        return "string"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision}, {t.scale})"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    return str(t)


def _nests_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def map_leaves(t: pa.DataType, leaf: Callable[[pa.DataType], pa.DataType]) -> pa.DataType:
    """``t`` with every leaf type mapped through ``leaf``, the nesting kept."""
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(map_leaves(f.type, leaf)) for f in t])
    if pa.types.is_map(t):
        key, item = map_leaves(t.key_type, leaf), t.item_field.with_type(map_leaves(t.item_type, leaf))
        return pa.map_(key, item, t.keys_sorted)
    if _nests_list(t):
        field = t.value_field.with_type(map_leaves(t.value_type, leaf))
        if pa.types.is_fixed_size_list(t):
            return pa.list_(field, t.list_size)
        return pa.large_list(field) if pa.types.is_large_list(t) else pa.list_(field)
    return leaf(t)


def is_zoned(t: pa.DataType) -> bool:
    """A timestamp with a time zone."""
    return bool(pa.types.is_timestamp(t) and t.tz is not None)


BOOL8 = "arrow.bool8"  # a bool stored as int8, zero false
UUID = "arrow.uuid"  # a UUID stored as its 16 bytes


def is_uuid(t: pa.DataType) -> bool:
    """A column a file marks as a UUID (``arrow.uuid``, which pyarrow reads Parquet's UUID
    logical type as): 16 bytes whose text is the UUID's 8-4-4-4-12 hex, not UTF-8. Plain
    ``fixed_size_binary(16)`` without the mark is bytes like any other."""
    return isinstance(t, pa.BaseExtensionType) and t.extension_name == UUID


def is_list_view(t: pa.DataType) -> bool:
    """A list_view or large_list_view type (lists by offset and size, in any order)."""
    return bool(pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` in Arrow's plain layouts, at any depth: string_view as large_string, binary_view
    as large_binary, list_view as list, a dictionary's values likewise, a run-end-encoded column
    as its values' type. Polars writes the view
    layouts by default; Arrow's kernels and the loader's writers take the plain ones, which
    hold the same values. An extension type (pyarrow writes ``arrow.uuid`` into the file's
    schema, pandas its own) is its storage type, as a reader without the schema reads it
    (DuckDB's UUID, 16 bytes); ``arrow.bool8`` is what it means, a bool."""
    return map_leaves(t, _plain_leaf)


def _plain_leaf(t: pa.DataType) -> pa.DataType:
    if isinstance(t, pa.BaseExtensionType):
        return pa.bool_() if t.extension_name == BOOL8 else plain_type(t.storage_type)
    if pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary_view(t):
        return pa.large_binary()
    if is_list_view(t):
        field = t.value_field.with_type(plain_type(t.value_type))
        return pa.large_list(field) if pa.types.is_large_list_view(t) else pa.list_(field)
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, plain_type(t.value_type), t.ordered)
    if pa.types.is_run_end_encoded(t):
        return plain_type(t.value_type)
    return t


def inner_types(t: pa.DataType) -> Iterator[pa.DataType]:
    """``t`` and every type nested in it, at any depth (a map's entries: its key and item types)."""
    yield t
    if pa.types.is_struct(t):
        for f in t:
            yield from inner_types(f.type)
    elif pa.types.is_map(t):
        yield from inner_types(t.key_type)
        yield from inner_types(t.item_type)
    elif _nests_list(t):
        yield from inner_types(t.value_type)


def repeated_field(t: pa.DataType) -> tuple[pa.DataType, str] | None:
    """The first struct in ``t`` (at any depth) holding two fields of one name, and that name;
    None where every struct's names differ. pyarrow writes such a struct (in Parquet and Arrow
    files alike), but a JSON object, and Python's dict of a row, hold one member per name."""
    for inner in inner_types(t):
        if pa.types.is_struct(inner):
            seen: set[str] = set()
            for f in inner:
                if f.name in seen:
                    return inner, f.name
                seen.add(f.name)
    return None


def leaf_types(t: pa.DataType) -> Iterator[pa.DataType]:
    """The leaf types of ``t`` (``t`` itself when it does not nest)."""
    return (x for x in inner_types(t) if not (pa.types.is_struct(x) or pa.types.is_map(x) or _nests_list(x)))


def is_utf8(text: str) -> bool:
    """Whether ``text`` is UTF-8 text, not bytes held as surrogates (``os.fsdecode``, a JSON
    key decoded with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
