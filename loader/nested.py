"""A nested column's values (lists, structs, maps) built from their JSON, for a replay.

A reject line holds such a value as JSON: a list as an array, a struct as an object, a map as
``[key, value]`` pairs (or an object), with its leaves as the reject file writes them (NaN and
infinities as text, bytes as ``{"base64": ...}``, decimals, dates and timestamps as their text).
The value is rebuilt in the column's type, each leaf converted as a column of its own type is
(``loader.convert``), so a replayed value is the one the load read. A value that does not fit
its type is rejected with where in it (``[0].a``) and why.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from . import kernels
from .chunk import BASE64, NON_FINITE
from .convert import Converted
from .types import is_bytes, type_name

# Converts a leaf column (text, or bytes) to a leaf type.
LeafConvert = Callable[[pa.Array, pa.DataType], Converted]


class JSONNumber(str):
    """A JSON number, as the text it was written with (a leaf converts it as such; the JSON
    Lines reader reads numbers so too)."""


def parse(text: str) -> Any:
    """A nested value's JSON text as Python values, each number as its text; ValueError if it
    is not JSON."""
    return json.loads(text, parse_int=JSONNumber, parse_float=JSONNumber, parse_constant=JSONNumber)


@dataclass
class _Built:
    array: pa.Array
    why: list[str | None]  # by value: why it does not fit, where in it


def nested_column(texts: pa.Array, t: pa.DataType, leaf: LeafConvert) -> Converted:
    """A column of JSON texts (``texts``) as values of the nested type ``t``; values that are not
    JSON, or do not fit ``t``, are marked bad with their reasons."""
    values: list[Any] = []
    why: list[str | None] = []
    for text in texts.to_pylist():
        try:
            values.append(None if text is None else parse(text))
            why.append(None)
        except ValueError as exc:
            values.append(None)
            why.append(f"{_quoted(text)} is not JSON: {exc}")
    built = _build(values, t, leaf)
    why = [w or b for w, b in zip(why, built.why, strict=True)]
    if not any(w is not None for w in why):
        return Converted(built.array)
    bad = pa.array([w is not None for w in why], pa.bool_())
    # a row rejected here is dropped: null keeps the other rows' values in their places
    array = kernels.if_else(bad, pa.scalar(None, t), built.array)
    return Converted(array, bad, [w for w in why if w is not None])


def _build(values: list[Any], t: pa.DataType, leaf: LeafConvert) -> _Built:
    if pa.types.is_struct(t):
        return _struct(values, t, leaf)
    if pa.types.is_map(t):
        return _map(values, t, leaf)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _list(values, t, leaf)
    return _leaves(values, t, leaf)


def _struct(values: list[Any], t: pa.StructType, leaf: LeafConvert) -> _Built:
    names = [f.name for f in t]
    why = [None if v is None or isinstance(v, dict) else f"{_what(v)}, not an object" for v in values]
    for i, v in enumerate(values):
        if why[i] is None and isinstance(v, dict) and sorted(v) != sorted(names):
            other = next((k for k in v if k not in names), None)
            lacks = next((k for k in names if k not in v), None)
            why[i] = f"key {other!r} is not a field of {type_name(t)}" if other else f"lacks key {lacks!r}"
    fit = [isinstance(v, dict) and why[i] is None for i, v in enumerate(values)]
    children = []
    for f in t:
        child = _build([v[f.name] if ok else None for v, ok in zip(values, fit, strict=True)], f.type, leaf)
        _nulls_held(child, f, [v[f.name] is None if ok else False for v, ok in zip(values, fit, strict=True)])
        why = [w or _at(f".{f.name}", c) for w, c in zip(why, child.why, strict=True)]
        children.append(child.array)
    mask = pa.array([not ok for ok in fit], pa.bool_())
    return _Built(pa.StructArray.from_arrays(children, fields=list(t), mask=mask), why)


def _list(values: list[Any], t: pa.DataType, leaf: LeafConvert) -> _Built:
    size = t.list_size if pa.types.is_fixed_size_list(t) else None
    why: list[str | None] = []
    for v in values:
        if v is not None and not isinstance(v, list):
            why.append(f"{_what(v)}, not an array")
        elif size is not None and v is not None and len(v) != size:
            why.append(f"an array of {len(v)} values, not {size}")
        else:
            why.append(None)
    items, offsets = _flatten([v if w is None else None for v, w in zip(values, why, strict=True)], size)
    child = _build(items, t.value_type, leaf)
    _nulls_held(child, t.value_field, [item is None for item in items])
    why = [w or _first(child.why, offsets[i], offsets[i + 1]) for i, w in enumerate(why)]
    mask = pa.array([v is None or w is not None for v, w in zip(values, why, strict=True)], pa.bool_())
    if size is not None:
        return _Built(pa.FixedSizeListArray.from_arrays(child.array, type=t, mask=mask), why)
    cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
    return _Built(
        cls.from_arrays(
            pa.array(offsets, pa.int64() if cls is pa.LargeListArray else pa.int32()), child.array, type=t, mask=mask
        ),
        why,
    )


def _map(values: list[Any], t: pa.MapType, leaf: LeafConvert) -> _Built:
    pairs: list[list[Any] | None] = []
    why: list[str | None] = []
    for v in values:
        found = _pairs(v)
        pairs.append(found if isinstance(found, list) else None)
        why.append(found if isinstance(found, str) else None)
    entries, offsets = _flatten(pairs, None)
    keys = _build([k for k, _ in entries], t.key_type, leaf)
    items = _build([v for _, v in entries], t.item_type, leaf)
    _nulls_held(items, t.item_field, [v is None for _, v in entries])
    keyless = [f"{_what(None)} key" if k is None else None for k, _ in entries]
    inner = [a or b or c for a, b, c in zip(keyless, keys.why, items.why, strict=True)]
    why = [w or _first(inner, offsets[i], offsets[i + 1]) for i, w in enumerate(why)]
    if any(p is not None and w is not None for p, w in zip(pairs, why, strict=True)):
        # a map holds no null key, not even in a value dropped: built again without those values
        return _Built(_map([None if w else v for v, w in zip(values, why, strict=True)], t, leaf).array, why)
    mask = pa.array([p is None for p in pairs], pa.bool_())
    array = pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), keys.array, items.array, type=t, mask=mask)
    return _Built(array, why)


def _pairs(value: Any) -> list[tuple[Any, Any]] | str | None:
    """A map's entries: ``[[key, value], ...]`` as a reject line writes them, or an object."""
    if value is None:
        return None
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return [(k, v) for k, v in value]
    return f"{_what(value)}, not a map's [key, value] pairs"


def _flatten(values: list[Any], size: int | None) -> tuple[list[Any], list[int]]:
    """The items of lists end to end, and each list's offsets (a null list: none, or ``size``
    nulls for a list of fixed size)."""
    items: list[Any] = []
    offsets = [0]
    for v in values:
        items += [None] * size if v is None and size is not None else v or []
        offsets.append(len(items))
    return items, offsets


def _leaves(values: list[Any], t: pa.DataType, leaf: LeafConvert) -> _Built:
    why: list[str | None] = [None] * len(values)
    texts: list[str | bytes | None] = []
    for i, v in enumerate(values):
        text = _leaf_text(v, t)
        if isinstance(text, _Misfit):
            why[i], text = text.why, None
        texts.append(text)
    if any(isinstance(x, bytes) for x in texts):
        column = pa.array([x.encode() if isinstance(x, str) else x for x in texts], pa.binary())
    else:
        column = pa.array(texts, pa.string())
    out = leaf(column, t)
    if out.bad is not None:
        for i, reason in zip(kernels.indices_nonzero(out.bad).to_pylist(), out.reasons or [], strict=True):
            why[i] = why[i] or reason
    return _Built(out.array, why)


@dataclass
class _Misfit:
    why: str


def _leaf_text(value: Any, t: pa.DataType) -> str | bytes | _Misfit | None:
    """A leaf's JSON value as the text (or bytes) its type converts from."""
    if value is None or isinstance(value, str):
        return value  # a JSONNumber's text too, and "NaN" or "Infinity" for a float
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):  # not from ``parse``: a value a caller made
        return NON_FINITE.get(repr(value), repr(value)) if not math.isfinite(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict) and list(value) == [BASE64] and is_bytes(t):
        try:
            return base64.b64decode(str(value[BASE64]), validate=True)
        except binascii.Error:
            return _Misfit(f"{{{BASE64!r}: ...}} is not valid base64")
    return _Misfit(f"{_what(value)}, not a {type_name(t)}")


def _nulls_held(child: _Built, f: pa.Field, nulls: list[bool]) -> None:
    """A null where the type's field holds none (``not null``) does not fit."""
    if not f.nullable:
        for i, null in enumerate(nulls):
            if null:
                child.why[i] = child.why[i] or f"null, which {f.name!r} of the type does not hold"


def _first(why: list[str | None], start: int, end: int) -> str | None:
    """The first reason among a list's items ``start``..``end``, with the item's place."""
    for i in range(start, end):
        if why[i] is not None:
            return _at(f"[{i - start}]", why[i])
    return None


def _at(step: str, why: str | None) -> str | None:
    """A reason from inside a value, with the step to it: ``at [0].a: ...``."""
    if why is None:
        return None
    return f"at {step}{why[3:]}" if why.startswith("at ") else f"at {step}: {why}"


def _what(value: Any) -> str:
    if value is None:
        return "a null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (JSONNumber, int, float)):
        return f"the number {value}"
    return f"the string {_quoted(value)}"


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def guessed_type(values: list[Any]) -> pa.DataType | None:
    """The nested type of a column whose type no checkpoint recorded (one written before nested
    types were), from its values' JSON: numbers as integers or floats, NaN and infinities as
    floats where the column holds no other text beside them. None unless every value (JSON text
    or a parsed value) is an array or object of one type."""
    parsed = []
    for v in values:
        try:
            parsed.append(parse(v) if isinstance(v, str) else v)
        except ValueError:
            return None
    if not any(isinstance(v, (list, dict)) for v in parsed) or any(
        v is not None and not isinstance(v, (list, dict)) for v in parsed
    ):
        return None
    for floats in (True, False):
        try:
            t = pa.array([plain(v, floats) for v in parsed]).type
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            continue
        return t
    return None


def leaves_mapped(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """A parsed JSON value with ``leaf`` applied to each value that is no object or array."""
    if isinstance(value, dict):
        return {k: leaves_mapped(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [leaves_mapped(v, leaf) for v in value]
    return leaf(value)


def plain(value: Any, floats: bool = False) -> Any:
    """A parsed value as Python values for Arrow to type: numbers as numbers, and with
    ``floats``, the reject file's ``"NaN"`` and ``"Infinity"`` as the floats they stand for."""

    def one(leaf: Any) -> Any:
        if isinstance(leaf, JSONNumber):
            text = str.__str__(leaf)
            return int(text) if text.lstrip("-").isdigit() else float(text)
        if isinstance(leaf, str) and floats and leaf in NON_FINITE.values():
            return float(leaf.replace("Infinity", "inf"))
        return leaf

    return leaves_mapped(value, one)
