"""Streaming JSON Lines reader: one JSON object per line, read in blocks.

The byte stream is cut into blocks at newlines (a raw newline cannot occur
inside a JSON value), so the reader knows the byte offset, row and line of
every block boundary: that is what resume and the rejects' line numbers rest
on. A line longer than ``max_row_bytes`` is dropped unread into memory.

Types come from the first ``infer_rows`` rows, read with the number texts
kept: a column of JSON numbers is ``int64`` or ``float64`` by the same
lossless rules as CSV text (``loader.convert``), and stays text when float64
would round one; JSON strings stay strings; objects and arrays keep their
nested Arrow type if it holds every sampled number in them exactly by the same
rules, else they are JSON text, numbers as written (so are those the sample
left open, ``[]`` or ``{}`` only, where rows follow it). A block is parsed by
``pyarrow.json`` against that schema; a block it refuses (a malformed line, a
value that does not fit, a new key) or that holds a number float64 would round
(inside objects and arrays too) is read line by line, so exactly the lines
that do not fit are rejected, each with its line number and reason, and the
rest of the block loads. Keys that differ only in case are one column: a block
holding another spelling of a column's key is parsed with each spelling a column
in the column's type, and the spellings merged, unless a row holds two of them.
"""

from __future__ import annotations

import bisect
import codecs
import json
import math
import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from .. import compat, kernels, storage
from ..chunk import Chunk, Reject, text_or_bytes
from ..convert import BOOL_TEXT, TypeGuess, convert, float_loses
from ..errors import ConfigError, SourceError, one_line
from ..nested import JSONNumber as _Number
from ..nested import leaves_mapped, plain
from ..prefetch import ordered_map
from ..suggest import fold
from ..types import empty_batch, int_range, is_text, is_utf8, leaf_types, map_leaves, type_name
from .base import Position, ReaderBase, declared_types, row_numbers, spelled, split_chunk, stdin_hint
from .stream import (
    CHECKED_HEAD,
    KEPT_OF_LONG_ROW,
    DiskProgress,
    lone_cr_fix,
    not_text,
    open_stream,
    read_past_line,
    skip,
    utf16_hint,
)

# Numbers float64 could round: 16 characters or more, or a 3-digit exponent. Only where JSON
# has numbers (after ``:``, ``,`` or ``[``, before ``,``, ``}`` or ``]``): digits inside a
# string ("k2ad1e191") would send a block of exact numbers line by line, 5-10 times slower.
_LONG_NUMBER = re.compile(rb"[:,\[]\s*(-?[0-9][0-9.eE+-]{15,}|-?[0-9.]*[0-9][eE][+-]?[0-9]{3,})(?=\s*[,}\]])")
# A first look over the whole block, in RE2 without the GIL: a number float64 rounds has 16
# significant digits or more (16 digits and points in a row) or a 3-digit exponent.
_MAY_ROUND = r"[0-9.]{16}|[0-9][eE][+-]?[0-9]{3}"


def _as_array(data: bytes) -> pa.Array:
    """The block as one binary value, not copied."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


def _rounding(data: bytes) -> str | None:
    """Whether the block holds number texts that float64 would round: None, ``"integers"``
    (only integers, which round only beyond 2**53, so a parse can tell whether one reached
    a float column), or ``"other"``."""
    if not kernels.match_substring_regex(_as_array(data), _MAY_ROUND)[0].as_py():
        return None
    found = _LONG_NUMBER.findall(data)
    if not found:
        return None
    texts = pa.array([t.decode("ascii", "replace") for t in found])
    lost = float_loses(texts)
    if not kernels.any(lost).as_py():
        return None
    return "integers" if _all_match(kernels.filter(texts, lost), r"^-?[0-9]+$") else "other"


def _all_match(texts: pa.Array, pattern: str) -> bool:
    return bool(kernels.all(kernels.match_substring_regex(texts, pattern)).as_py())


def _floats_exact(table: pa.Table) -> bool:
    """No float column, nor float inside an object or array, holds a value of 2**53 or more:
    no integer text rounded into one."""
    for column in table.columns:
        if not _has_float(column.type) or column.null_count == len(column):
            continue
        for _, leaf in _leaves(column.combine_chunks()):
            if pa.types.is_floating(leaf.type) and leaf.null_count < len(leaf):
                top = kernels.max(kernels.abs(leaf)).as_py()
                if top is not None and not top < 2.0**53:
                    return False
    return True


# A step of a path into a nested value: a struct field's name, or None for a list's items.
_Path = tuple[str | None, ...]


def _leaves(arr: pa.Array, path: _Path = ()) -> Iterator[tuple[_Path, pa.Array]]:
    """The leaf arrays of a (nested) array, each with its path; a null object or array
    has no leaves (``flatten`` applies the parents' nulls)."""
    t = arr.type
    if pa.types.is_struct(t):
        for i, child in enumerate(arr.flatten()):
            yield from _leaves(child, (*path, t.field(i).name))
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        yield from _leaves(arr.flatten(), (*path, None))
    else:
        yield path, arr


def _has_object(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return True
    return bool((pa.types.is_list(t) or pa.types.is_large_list(t)) and _has_object(t.value_type))


def _null_fields(arr: pa.Array, found: Counter[str]) -> None:
    """Count, by key, the null fields of the objects in ``arr`` (their parents not null)."""
    t = arr.type
    if pa.types.is_struct(t):
        for i, child in enumerate(arr.flatten()):  # the parents' nulls applied
            if child.null_count > arr.null_count:
                found[t.field(i).name] += child.null_count - arr.null_count
            _null_fields(child, found)
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        _null_fields(arr.flatten(), found)


def _objects_as_written(table: pa.Table, data: bytes) -> bool:
    """Whether every null field of an object in ``table`` was a ``"key": null`` in ``data``:
    pyarrow fills a key an object lacks with null too. Each key's ``"key": null`` pairs in the
    text must cover its null fields plus its top-level nulls (which may use some of them); a
    pair cannot occur inside a string, whose quotes are escaped."""
    needed: Counter[str] = Counter()
    for column in table.columns:
        if _has_object(column.type):
            _null_fields(column.combine_chunks(), needed)
    if not needed:
        return True
    pairs = Counter(_NULL_PAIR.findall(data))  # one pass for every key
    for key, n in needed.items():
        top = table.column(key).null_count if key in table.column_names else 0
        if pairs[json.dumps(key, ensure_ascii=False)[1:-1].encode()] < n + top:
            return False
    return True


# A key with a null value: after { or , so that it starts no string's content. A key with an
# escape in it is not counted (its block is then read line by line): the pattern stays simple
_NULL_PAIR = re.compile(rb'[{,]\s*"([^"\\]*)"\s*:\s*null')


def _has_float(t: pa.DataType) -> bool:
    return any(pa.types.is_floating(leaf) for leaf in leaf_types(t))


def _leaf_at(t: pa.DataType, path: _Path) -> pa.DataType | None:
    """The type at ``path`` inside ``t``, or None if ``t`` has no such path."""
    for step in path:
        if step is None and (pa.types.is_list(t) or pa.types.is_large_list(t)):
            t = t.value_type
        elif step is not None and pa.types.is_struct(t) and t.get_field_index(step) >= 0:
            t = t.field(t.get_field_index(step)).type
        else:
            return None
    return t


def _big_ints(arr: pa.Array) -> frozenset[_Path]:
    """Paths of the integer leaves holding a value beyond ±2**53, which float64 would round."""
    found = set()
    for path, leaf in _leaves(arr):
        if pa.types.is_integer(leaf.type) and leaf.null_count < len(leaf):
            bounds = kernels.min_max(leaf)
            if bounds["min"].as_py() < -(2**53) or bounds["max"].as_py() > 2**53:
                found.add(path)
    return frozenset(found)


def _dates_as_strings(t: pa.DataType) -> pa.DataType:
    """``t`` with the timestamps pyarrow reads ISO-looking strings as turned back into strings."""
    return map_leaves(t, lambda leaf: pa.string() if pa.types.is_temporal(leaf) else leaf)


# Leaf types a nested JSON column is inferred with: each holds its JSON values exactly.
_NESTED_LEAVES = (pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.null())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {twice!r} appears twice in one object")
    return out


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# How deep arrays and objects may nest in a value: deeper, a row is rejected. Python recurses
# once or twice per level on the way (json, the checks here, the sinks' encoders: far below its
# limit of 1000 frames), and Arrow's IPC (the processes engine) carries a type of at most 124 levels.
MAX_DEPTH = 100


class _BadValue(ValueError):
    """Why a line's text is no row (``reason``), and the top-level key to blame, if any."""

    def __init__(self, reason: str, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


class _Why(str):
    """A reason a line is no row, with the key whose value it is about (None: the line's)."""

    key: str | None = None


def _loads(line: bytes) -> Any:
    text = _utf8(line)  # json reads bytes with surrogates passed (CESU-8), which no text can hold
    deep = _too_deep(line)
    if deep is not None:
        at = f" at .{deep}" if deep else ""
        raise _BadValue(f"the value{at} is nested deeper than {MAX_DEPTH} levels of arrays and objects", deep or None)
    obj = _decoded(text)
    if _SURROGATE_ESCAPE.search(line):  # json takes "\ud800" alone; no text can hold it
        _check_text(obj)
    return obj


def _decoded(text: str) -> Any:
    """A JSON text's value, numbers as their text, a key twice in one object refused."""
    return json.loads(
        text, parse_int=_Number, parse_float=_Number, parse_constant=_Number, object_pairs_hook=_no_duplicates
    )


# Finds a JSON value's end in a text (building its value, which is dropped)
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def _value_texts(line: bytes) -> dict[str, str]:
    """The text, as written, of each top-level value of a line's object (one ``_loads`` read)."""
    text = line.decode("utf-8-sig")
    out: dict[str, str] = {}
    at = _past_space(text, _past_space(text, 0) + 1)  # past the opening brace
    while text[at] != "}":
        key, at = scanstring(text, at + 1)
        start = _past_space(text, _past_space(text, at) + 1)  # past the colon
        end = _SCAN(text, start)[1]
        out[key] = text[start:end]
        at = _past_space(text, end)
        at = _past_space(text, at + 1) if text[at] == "," else at
    return out


def _past_space(text: str, at: int) -> int:
    """Where the whitespace from ``at`` ends."""
    found = _SPACE.match(text, at)
    assert found is not None  # it matches nothing at least
    return found.end()


def _utf8(line: bytes) -> str:
    """A line's text; ``_BadValue`` where it is not UTF-8, naming CESU-8 for an encoded surrogate."""
    try:
        return line.decode("utf-8-sig")  # a byte order mark is no part of the line, as json reads it
    except UnicodeDecodeError as exc:
        pair = _CESU8_PAIR.match(line, exc.start)
        if pair is not None:
            why = (
                f"the bytes {pair.group().hex(' ')} at position {exc.start} are one character written as a "
                "surrogate pair, as CESU-8 (Java's modified UTF-8, MySQL's 3-byte utf8, Oracle's UTF8) writes it: "
                "export the file as UTF-8 (utf8mb4, AL32UTF8)"
            )
        elif _SURROGATE_BYTES.match(line, exc.start):
            code = line[exc.start : exc.start + 3].decode("utf-8", "surrogatepass")
            why = (
                f"the bytes {line[exc.start : exc.start + 3].hex(' ')} at position {exc.start} encode the surrogate "
                f"\\u{ord(code):04x}, which no Unicode text holds (CESU-8, WTF-8)"
            )
        else:
            why = one_line(exc)
        raise _BadValue(f"{_NOT_UTF8}{why}", _key_text(_key_at(line, exc.start)) or None) from None


_NOT_UTF8 = "not valid UTF-8: "
# A UTF-16 surrogate encoded as UTF-8 bytes, and a pair of them (CESU-8's character past U+FFFF)
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
_CESU8_PAIR = re.compile(rb"\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]")
# A JSON string, or a bracket outside one
_TOKEN = re.compile(rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|[\[\]{}]')


def _too_deep(line: bytes) -> str | None:
    """The top-level key whose value nests deeper than ``MAX_DEPTH`` (``""`` for a line that
    is no object), or None, told by the brackets outside strings without parsing: json and
    every step after it recurse once a level at least."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH + 1:
        return None
    over = _first_too_deep(line)
    if over is None:
        return None
    return _key_text(_key_at(line, over))


def _key_at(line: bytes, at: int) -> bytes:
    """The top-level key (its token, quotes and all) whose value holds byte ``at``: ``b""`` for
    none (a line that is no object, or ``at`` in a key)."""
    depth, key = 0, b""
    for m in _TOKEN.finditer(line):
        if m.start() > at:
            break
        token = m.group()
        if token[:1] == b'"':
            if depth == 1:
                if m.end() > at:  # in this string: a key's name holds no value
                    return b"" if _COLON.match(line, m.end()) else key
                key = token  # a top-level key, or its string value (the next key replaces it)
        else:
            depth += 1 if token in b"[{" else -1
    return key


_COLON = re.compile(rb"[ \t\r\n]*:")


# The bytes of a line ``_first_too_deep`` looks at at once: its memory is a few times this,
# however long the line (a GeoJSON line of 30 MB holds millions of brackets)
_WINDOW = 1 << 16


def _first_too_deep(line: bytes) -> int | None:
    """Where the first bracket nested past ``MAX_DEPTH + 1`` levels is (strings' brackets not
    counted), or None: numpy passes, not a loop, over windows of the line, each carrying on the
    depth, the string and the run of backslashes the one before it ended in."""
    a = np.frombuffer(line, np.uint8)
    depth, inside, odd = 0, False, False
    for start in range(0, len(a), _WINDOW):
        step, inside, odd = _steps(a[start : start + _WINDOW], inside, odd)
        depths = np.cumsum(step, dtype=np.int32)  # within a window: int32 holds it
        over = np.flatnonzero(depths > MAX_DEPTH + 1 - depth)
        if len(over):
            return start + int(over[0])
        depth += int(depths[-1])
    return None


def _steps(a: np.ndarray, inside: bool, odd: bool) -> tuple[np.ndarray, bool, bool]:
    """Each byte's change of depth (+1 opening, -1 closing, 0 in a string), whether the bytes end
    in a string, and whether in an odd run of backslashes: ``inside`` and ``odd`` are the bytes'
    before these."""
    step = np.zeros(len(a), np.int8)
    step[(a == ord("[")) | (a == ord("{"))] = 1
    step[(a == ord("]")) | (a == ord("}"))] = -1
    quotes = a == ord('"')
    backslashes = a == ord("\\")
    if backslashes.any():  # a quote after an odd run of backslashes is escaped
        at = np.arange(len(a), dtype=np.int32)
        # the backslashes ending at each byte (as many more as ``odd`` says before the first)
        runs = at - np.maximum.accumulate(np.where(backslashes, np.int32(-1 - odd), at))
        quotes[1:] &= runs[:-1] % 2 == 0
        quotes[0] &= not odd
        odd = bool(runs[-1] % 2)
    else:
        quotes[0] &= not odd
        odd = False
    if quotes.any() or inside:
        strings = np.cumsum(quotes, dtype=np.int32) + inside
        step[strings % 2 == 1] = 0  # inside a string
        inside = bool(strings[-1] % 2)
    return step, inside, odd


def _key_text(token: bytes) -> str:
    try:
        return str(json.loads(token)) if token else ""
    except ValueError:
        return token.decode("utf-8", "replace")[1:-1]


def _row_object(line: bytes) -> dict[str, Any] | str:
    """A line's object, or why the line is no row: a JSON Lines row is one object on its line."""
    try:
        obj = _loads(line)
    except _BadValue as exc:
        why = _Why(exc.reason)
        why.key = exc.key
        return why
    except json.JSONDecodeError as exc:
        return _two_values(exc) or f"not valid JSON: {_within_the_line(exc)}"
    except (ValueError, RecursionError) as exc:
        return f"not valid JSON: {one_line(exc)}"
    if isinstance(obj, dict):
        return obj
    what = _what(obj) if obj is None or isinstance(obj, list) else f"{_what(obj)}, {_json_text(obj)[:40]!r}"
    return f"a JSON Lines row is an object, not {what}"


def _within_the_line(exc: json.JSONDecodeError) -> str:
    """Python's reason placed in the line: its own ``line 1 column 7 (char 6)`` counts in the
    one line it was given, which the reader took for the file's line 1, and says column
    beside the reject's column."""
    msg = exc.msg[:1].lower() + exc.msg[1:]
    place = f"character {exc.pos + 1} of the line"
    return f"{msg} {place}" if msg.endswith(" at") else f"{msg} at {place}"


def _two_values(exc: json.JSONDecodeError) -> str | None:
    """Why a line is no row, where it holds a JSON value after its first one (two objects
    one writer appended after another's, or parted by a carriage return alone); else None."""
    if exc.msg != "Extra data":
        return None
    try:
        json.JSONDecoder().raw_decode(exc.doc, exc.pos)
    except (ValueError, RecursionError):
        return None  # not a value after the first: malformed
    between = exc.doc[len(exc.doc[: exc.pos].rstrip()) : exc.pos]
    parted = ", after a lone carriage return" if "\r" in between else ""
    return f"a JSON Lines row is one object, not two values on one line (the second at column {exc.colno}{parted})"


def _check_text(value: Any, at: str = "", top: str | None = None) -> None:
    """``_BadValue`` for a string or key holding half a surrogate pair, naming where it is
    (``at .o.k``) and the top-level key it is under (``top``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            under = k if top is None else top
            _no_surrogate(k, f"the key {k[:40]!r}", at, under)
            _check_text(v, f"{at}.{k}", under)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_text(v, f"{at}[{i}]", top)
    elif isinstance(value, str):
        _no_surrogate(value, repr(value[:40]), at, top)


def _no_surrogate(text: str, what: str, at: str, top: str | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = f" at {at}" if at else ""
        bad = ord(text[exc.start])
        raise _BadValue(f"a lone surrogate \\u{bad:04x} in {what}{where}: not valid Unicode", top) from None


def _what(value: Any) -> str:
    """A JSON value's kind, for a reason: ``an object``, ``an array``, ``a string``..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return {"number": "a number", "bool": "a boolean", "string": "a string"}[_kind(value)]


def _kind(value: Any) -> str:
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "nested"


class _Misfit(Exception):
    """Where and why a nested value does not fit its type exactly."""

    def __init__(self, value: Any, why: str, *, shape: bool = False) -> None:
        super().__init__(why)
        self.value = value
        self.why = why
        # another shape (keys, an object or array where the type has none or another), not a leaf's value
        self.shape = shape or isinstance(value, (dict, list))
        self.steps: list[str] = []  # the path to the value, innermost step first

    def reason(self) -> str:
        what = str.__str__(self.value) if isinstance(self.value, _Number) else _what(self.value)
        if isinstance(self.value, str) and not isinstance(self.value, _Number):
            what = f"the string {_json_text(self.value)[:40]!r}"
        at = "".join(reversed(self.steps))
        return f"{what} at {at} {self.why}" if at else f"{what} {self.why}"


_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _exact(value: Any, t: pa.DataType, floats: list[str]) -> Any:
    """An object or array (numbers as their text) as Python values for ``pa.array(..., t)``,
    checked on the way to fit ``t`` exactly: every key a field of its struct (pyarrow drops
    unknown keys) and every field a key (pyarrow adds a null), every array a list, an int64 leaf an integer within int64, a bool leaf
    true or false, a string leaf a string. The texts of numbers in float64 leaves are added
    to ``floats``, for one ``float_loses`` over all of them. Raises ``_Misfit``."""
    if value is None:
        return None
    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            raise _Misfit(value, "is not an object", shape=True)
        return _exact_object(value, t, floats)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not isinstance(value, list):
            raise _Misfit(value, "is not an array", shape=True)
        return _exact_array(value, t.value_type, floats)
    return _exact_leaf(value, t, floats)


def _exact_object(value: dict[str, Any], t: pa.StructType, floats: list[str]) -> dict[str, Any]:
    if len(value) < t.num_fields:  # a key it lacks would come back as null: not what was written
        missing = next(f.name for f in t if f.name not in value)
        raise _Misfit(value, f"lacks key {missing!r} of the type", shape=True)
    out = {}
    for k, v in value.items():
        i = t.get_field_index(k)
        if i < 0:
            raise _Misfit(value, f"has key {k!r}, not a field of the type", shape=True)
        try:
            out[k] = _exact(v, t.field(i).type, floats)
        except _Misfit as misfit:
            misfit.steps.append(f".{k}")
            raise
    return out


def _exact_array(value: list[Any], item: pa.DataType, floats: list[str]) -> list[Any]:
    items = []
    for i, v in enumerate(value):
        try:
            items.append(_exact(v, item, floats))
        except _Misfit as misfit:
            misfit.steps.append(f"[{i}]")
            raise
    return items


def _exact_leaf(value: Any, t: pa.DataType, floats: list[str]) -> Any:
    """A value that is not an object or array, checked to be one of ``t`` exactly."""
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if not isinstance(value, _Number):
            raise _Misfit(value, "is not a number")
        return _exact_number(value, t, floats)
    if pa.types.is_boolean(t) and isinstance(value, bool):
        return value
    if (pa.types.is_string(t) or pa.types.is_large_string(t)) and _kind(value) == "string":
        return value
    if pa.types.is_boolean(t):
        raise _Misfit(value, "is not a JSON true or false")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        raise _Misfit(value, "is not a string")
    # an object or array where a leaf is, null, or a type JSON has no values of (a date, a
    # decimal... from Parquet): no conversion is guessed
    raise _Misfit(value, f"is not a {type_name(t)}")


def _exact_number(value: _Number, t: pa.DataType, floats: list[str]) -> Any:
    if pa.types.is_integer(t):
        low, high = int_range(t)
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise _Misfit(value, f"is not a valid {type_name(t)}")
        return int(value)
    floats.append(str.__str__(value))
    number = float(value)
    if t.bit_width < 64:  # a float32 or float16 (from Parquet): it must hold the float64 too
        form = "<f" if t.bit_width == 32 else "<e"
        try:
            narrow = struct.unpack(form, struct.pack(form, number))[0]
        except OverflowError:
            narrow = math.copysign(math.inf, number)
        if narrow != number and not (math.isnan(narrow) and math.isnan(number)):
            raise _Misfit(value, f"would be stored as {narrow!r} by {type_name(t)}")
    return number


def _json_text(value: Any) -> str:
    """Any JSON value as text, numbers exactly as written (objects and arrays compact)."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _dump(value)
    return "true" if value is True else "false" if value is False else "null"


def _dump(value: Any) -> str:
    """A JSON value as compact JSON text, each number as the text it was written with."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return "true" if value is True else "false" if value is False else "null"


# JSON has no NaN or infinity (RFC 8259): inside an object or array kept as JSON text they are
# written as a typed nested value writes them (docs/types.md), so one source value is stored one way
_NON_FINITE = {"NaN": None, "Infinity": "Infinity", "-Infinity": "-Infinity"}


def _finite(value: Any) -> Any:
    """``value`` with each NaN and infinity the file wrote as its JSON stand-in (``_NON_FINITE``)."""
    return leaves_mapped(value, lambda leaf: _NON_FINITE.get(leaf, leaf) if isinstance(leaf, _Number) else leaf)


def json_value_text(value: Any) -> str:
    """A column value's text: an object or array as RFC 8259 JSON text (``_finite``), else as
    ``_json_text`` writes it."""
    return _dump(_finite(value)) if isinstance(value, (dict, list)) else _json_text(value)


def _text_column(values: list[Any], t: pa.DataType) -> pa.Array:
    """A text column of a block's values: each value's text (``json_value_text``)."""
    return pa.array(
        [None if v is None else _object_text(v) if isinstance(v, (dict, list)) else _json_text(v) for v in values], t
    )


def _object_text(value: dict[str, Any] | list[Any]) -> str:
    """An object's or array's JSON text, NaN and the infinities as ``_text_column`` writes them."""
    text = _json_text(value)
    return json_value_text(value) if "NaN" in text or "Infinity" in text else text


# Values of a key read line by line that wait to be typed together: a sample of 100k rows holds
# at most this many of them per key, whatever ``source.infer_rows`` is.
FOLD_VALUES = 8192
# The sample's blocks are typed in groups of this many lines, or of GROUP_BLOCKS blocks' bytes
GROUP_ROWS = 1024
GROUP_BLOCKS = 2
GROUP_BYTES = 1 << 20  # and at least this many (blocks under a memory ceiling are small)


@dataclass
class _Guess:
    """What the sample showed of one key."""

    kinds: set[str] = field(default_factory=set)
    numbers: TypeGuess = field(default_factory=TypeGuess)
    texts: list[str] = field(default_factory=list)  # numbers not yet fed to ``numbers``
    floats: bool = False  # pyarrow read floats, none of them one float64 rounds
    nested: list[str] = field(default_factory=list)  # the texts of objects and arrays not yet typed
    held: int = 0  # characters of them
    # the types objects and arrays were read with, each with the paths of its integers beyond ±2**53
    nested_types: list[tuple[pa.DataType, frozenset[_Path]]] = field(default_factory=list)
    settled: pa.DataType | None = None  # the nested type, once worked out

    def add(self, value: Any) -> None:
        kind = _kind(value)
        self.kinds.add(kind)
        if kind == "number":
            self.texts.append(str.__str__(value))
            if len(self.texts) >= FOLD_VALUES:
                self.flush()

    @property
    def typing(self) -> bool:
        """Whether one nested type may still hold every value: only objects and arrays met, and
        all of them typed so far. Once not, the column is JSON text, and their texts are not kept."""
        return self.kinds <= {"nested"}

    def add_nested(self, text: str | None) -> None:
        """An object or array, with its JSON text as written while the key is ``typing``."""
        self.kinds.add("nested")
        if text is not None:
            self.nested.append(text)
            self.held += len(text)
            if len(self.nested) >= FOLD_VALUES:
                self.flush()  # typed a piece at a time: the sample's values never pile up

    def add_parsed(self, column: pa.ChunkedArray) -> None:
        """A column as pyarrow parsed it (from a block holding no number float64 rounds)."""
        t = column.type
        if column.null_count == len(column) or pa.types.is_null(t):
            return
        if pa.types.is_integer(t):
            self.kinds.add("number")
            self.numbers.add(kernels.cast(kernels.drop_null(column.combine_chunks()), pa.string()))
        elif pa.types.is_floating(t):
            self.kinds.add("number")
            self.floats = True
        elif pa.types.is_temporal(t):
            self.kinds.add("string")  # pyarrow reads ISO-looking strings as timestamps; they stay strings
        else:
            self.kinds.add(_kind_of_type(t))
            if pa.types.is_struct(t) or pa.types.is_list(t):
                # every number is exact (no text float64 rounds, no float of 2**53 or more)
                self.nested_types.append((_dates_as_strings(t), _big_ints(column.combine_chunks())))

    def flush(self) -> None:
        if self.texts:
            self.numbers.add(pa.array(self.texts, pa.string()))
            self.texts = []
        if self.nested:
            typed = _typed_texts(self.nested) if self.kinds == {"nested"} else None
            if typed is None:
                self.kinds.add("mixed")  # objects beside arrays, or values no one type holds exactly
            else:
                self.nested_types.extend(typed)
            self.nested, self.held = [], 0

    def absorb(self, other: _Guess) -> None:
        """Fold in what the sample showed of another spelling of this key (``Code`` beside ``code``)."""
        self.flush()
        other.flush()
        self.kinds |= other.kinds
        self.numbers.merge(other.numbers)
        self.floats = self.floats or other.floats
        self.nested_types.extend(other.nested_types)

    def result(self) -> pa.DataType:
        self.flush()
        if self.kinds == {"number"}:
            found = self.numbers.result() if self.numbers.values else pa.float64()
            return pa.float64() if self.floats and found.equals(pa.int64()) else found
        if self.kinds == {"bool"}:
            return pa.bool_()
        if self.kinds == {"nested"}:
            if self.settled is None:
                self.settled = _unified(self.nested_types)
            return self.settled
        return pa.string()


# JSON text of objects and arrays typed at once as Python values (``_typed_exactly``), where
# pyarrow refuses them: those take tens of bytes per byte of their text
OBJECT_CHARS = 64 << 10


def _typed_texts(texts: list[str]) -> list[tuple[pa.DataType, frozenset[_Path]]] | None:
    """The nested types of objects or arrays (``texts``, as written) if they hold every number
    exactly, else None: pyarrow parses and types them as it does a block of rows (without a
    Python object per value); where it refuses them (mixed values, a number float64 would round,
    a key an object lacks), their values are typed a piece at a time by ``_typed_exactly``."""
    data = "".join([f'{{"v":{t}}}\n' for t in texts]).encode()
    table = _parsed_exactly(data, _rounding(data), None) if _for_pyarrow(data) else None
    del data
    if table is not None and table.num_columns == 1 and _kind_of_type(table.schema.types[0]) == "nested":
        column = table.column(0).combine_chunks()
        return [(_dates_as_strings(column.type), _big_ints(column))]
    del table
    typed = []
    start = size = 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= OBJECT_CHARS or i == len(texts) - 1:
            one = _typed_exactly([_decoded(t) for t in texts[start : i + 1]])
            if one is None:
                return None
            typed.append(one)
            start, size = i + 1, 0
    return typed


def _typed_exactly(values: list[Any]) -> tuple[pa.DataType, frozenset[_Path]] | None:
    """The nested type pyarrow gives objects or arrays, if it holds every number in them
    exactly (with the paths of integers beyond ±2**53), else None: JSON text keeps them."""
    try:
        array = pa.array([plain(v) for v in values])
    except (pa.ArrowException, OverflowError):
        return None
    t = array.type
    if not all(leaf in _NESTED_LEAVES for leaf in leaf_types(t)):
        return None  # uint64 for integers beyond int64
    floats: list[str] = []
    try:
        for v in values:
            _exact(v, t, floats)
    except _Misfit:
        return None
    if floats and kernels.any(float_loses(pa.array(floats, pa.string()))).as_py():
        return None  # 1 beside 1.5 is float64, unless float64 would round one of them
    return t, _big_ints(array)


def _unified(types: list[tuple[pa.DataType, frozenset[_Path]]]) -> pa.DataType:
    """One nested type holding every sampled object or array exactly, else string (JSON text):
    an integer beyond ±2**53 where another block has a fraction would round in float64."""
    try:
        unified = pa.unify_schemas([pa.schema([("v", t)]) for t, _ in types], promote_options="permissive")
    except (pa.ArrowException, TypeError):
        return pa.string()
    t = unified.field("v").type
    if not all(leaf in _NESTED_LEAVES for leaf in leaf_types(t)):
        return pa.string()
    for _, big in types:
        for path in big:
            leaf = _leaf_at(t, path)
            if leaf is None or not pa.types.is_integer(leaf):
                return pa.string()
    return t


def _guessed(guess: _Guess, whole: bool) -> pa.DataType:
    """A key's type from the sample; ``null`` where it held only nulls in a sample of the whole
    file: no value says what it is (values past the sample would, so it is text there). So too
    inside objects and arrays: a nested type the sample left open (``[]``, ``{}``) is JSON text
    where values past the sample may give it its shape."""
    if whole:
        return guess.result() if guess.kinds else pa.null()
    t = guess.result()
    return pa.string() if _open(t) else t


def _open(t: pa.DataType) -> bool:
    """Whether a nested type has a part no sampled value gave a shape: ``list<null>`` (``[]``,
    ``[null]``), ``struct<>`` (``{}``), a field only ever null (``{"x": null}``)."""
    if pa.types.is_null(t):
        return True
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_open(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _open(t.value_type)
    return False


def _kind_of_type(t: pa.DataType) -> str:
    """The JSON kind a column of Arrow type ``t`` holds; ``"converted"`` for a type JSON
    has no values of (a date, a timestamp, a decimal...), which strings and numbers convert to."""
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_boolean(t):
        return "bool"
    if is_text(t):
        return "string"
    if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        return "nested"
    return "converted"


@dataclass
class _Block:
    """A block of whole lines, parsed: its good rows and the lines it rejects."""

    offset: int
    size: int  # bytes of the file it spans
    newlines: int
    rows: int  # non-blank lines
    batch: pa.RecordBatch
    numbers: list[int]  # block-relative row number of each batch row
    lines: list[int] | None  # block-relative line of each batch row (None: row i is line i)
    # row, line, reason, column, raw (bytes when not UTF-8), and whether raw is only the line's first bytes
    rejects: list[tuple[int, int, str, str | None, str | bytes, bool]]


def _refuse_a_json_array(data: bytes, path: str) -> None:
    """A file that is one JSON array of objects (``[{...}, {...}]``) is not JSON Lines: its rows
    would be rejected one by one for the array's brackets and commas."""
    first = data.removeprefix(_BOM).lstrip().split(b"\n", 1)[0].strip()  # PowerShell writes a BOM
    if not first.startswith(b"["):
        return
    try:
        # ``[]`` is a line that is no object, not an array of objects
        whole = first == b"[" or _of_objects(json.loads(first))
    except ValueError:
        whole = first.startswith((b"[{", b"[ {"))  # an array of objects longer than its first line
    if whole:
        raise SourceError(
            "is a JSON array of objects, not JSON Lines (one object per line)",
            file=path,
            hint="write it as JSON Lines, e.g. jq -c '.[]' file.json > file.jsonl, then load that",
        )


# The bytes of a file's head read to tell why its sample gave no column
_HEAD = 1 << 16


def _lone_cr_hint(head: bytes, path: str) -> str | None:
    """A hint for a file whose lines end in a carriage return alone (classic Mac OS): one line of
    many values, rejected as one; None for another."""
    if b"\r" not in head or b"\n" in head.rstrip(b"\r\n"):
        return None
    plain = "end them in newlines, e.g. tr '\\r' '\\n' < file > file.jsonl, then load that"
    fix = lone_cr_fix(path, plain)
    if fix != plain:
        fix = f"decompress it and end them in newlines, e.g. {fix}"
    return f"its lines end in a carriage return alone (classic Mac OS): {fix}"


def _of_objects(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, dict) for v in values)


def _blank(line: bytes) -> bool:
    return not line.strip()


_BOM = b"\xef\xbb\xbf"
# A line after the first that does not start with an object at once: blank, indented, or no object
_OTHER_LINE = re.compile(rb"\n[^{]")


def _object_lines(data: bytes) -> int | None:
    """How many lines of a block start with an object, the others blank; None where one starts
    with anything else. pyarrow reads a ``null`` line as an object with no keys, and two values
    on one line (or parted by a lone carriage return) as two rows: only a block whose every
    line starts with an object, parsed into as many rows, holds one object per line."""
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    if body[:1] == b"{" and not _OTHER_LINE.search(body):  # the usual block: one pass, no copies
        return body.count(b"\n") + (not body.endswith(b"\n"))
    rows = 0
    for line in body.split(b"\n"):
        if _blank(line):
            continue
        if not line.lstrip(b" \t\r").startswith(b"{"):
            return None
        rows += 1
    return rows


def _parsed_exactly(data: bytes, rounding: str | None, options: pajson.ParseOptions | None) -> pa.Table | None:
    """The block as pyarrow parses it, or None where it refuses the block (a line that
    does not fit, a byte that is not UTF-8) or a number in it would round."""
    if rounding == "other":
        return None
    rows = _object_lines(data)
    if rows is None:
        return None  # a line that is no object: rejected line by line
    try:
        table = compat.read_json_block(data, pajson.ReadOptions(use_threads=False, block_size=len(data) + 1), options)
        if options is not None:
            table.validate(full=True)  # pyarrow does not check UTF-8: a bad byte is read line by line
    except pa.ArrowInvalid:
        return None
    if table.num_rows != rows:
        return None  # a line holding two values, which pyarrow reads as two rows
    if options is None and any(_deeper(f.type) for f in table.schema):
        return None  # an explicit schema's types are the sample's, which holds no deeper one
    if not _objects_as_written(table, data):
        return None  # read line by line: an object keeps the keys it has
    return table if rounding is None or _floats_exact(table) else None


def _grouped(blocks: Iterator[bytes], most: int) -> Iterator[bytes]:
    """Consecutive blocks of whole lines joined while they hold fewer than ``GROUP_ROWS`` lines
    and ``most`` bytes: a wide file's block holds a few rows, and each block's columns cost a
    guess of their own (kernels per column), where a group of them costs one."""
    group: list[bytes] = []
    size = lines = 0
    for data in blocks:
        group.append(data)
        size += len(data)
        lines += data.count(b"\n")
        if lines >= GROUP_ROWS or size >= most:
            yield b"".join(group) if len(group) > 1 else group[0]
            group, size, lines = [], 0, 0
    if group:
        yield b"".join(group)


def _parse_sample(data: bytes) -> tuple[bytes, pa.Table | None]:
    """A block of the sample as pyarrow parses it, or None where it refuses the block or
    a number in it would round (then it is read line by line, with every number's text)."""
    return data, _parsed_exactly(data, _rounding(data), None) if _for_pyarrow(data) else None


def _for_pyarrow(data: bytes) -> bool:
    """Whether pyarrow may parse a block: UTF-8 throughout (it reads a key's bytes as they are,
    and a name not UTF-8 is an error on every use), and no line of many brackets nested past
    ``MAX_DEPTH`` (pyarrow's parser overflows its stack near 20,000 levels). A line nested past
    it with fewer is rejected all the same: pyarrow's type is too deep (``_deeper``), or does
    not hold it (an explicit schema's types are the sample's), and the block is read line by line."""
    try:
        kernels.cast(_as_array(data), pa.large_string())
    except pa.ArrowInvalid:
        return False
    if len(data) < _PARSER_SAFE:
        return True
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    lines = (data[starts[i] : stops[i]] for i in np.flatnonzero(stops - starts >= _PARSER_SAFE))
    return not any(_too_deep(x) is not None for x in lines if x.count(b"[") + x.count(b"{") >= _PARSER_SAFE)


# A line of fewer opening brackets (so of fewer bytes) nests less deep, which pyarrow's parser takes
_PARSER_SAFE = 8192


def _deeper(t: pa.DataType) -> bool:
    """Whether a type pyarrow inferred nests deeper than ``MAX_DEPTH``: its lines are read one
    by one, and those too deep rejected (told without recursion: there may be thousands of levels)."""
    level, depth = [t], 0
    while level:
        level = [t.field(i).type for t in level if pa.types.is_nested(t) for i in range(t.num_fields)]
        depth += bool(level)
        if depth > MAX_DEPTH:
            return True
    return False


def _sample_block(
    data: bytes, table: pa.Table | None, guesses: dict[str, _Guess], most: int, twins: set[str], held: int
) -> int:
    """Rows of one block (at most ``most``) folded into ``guesses``; how many. Keys that differ
    only in case and were met in one object are added to ``twins``; ``held``: the characters of
    objects and arrays the guesses may hold untyped."""
    if table is None:
        return _sample_lines(data, guesses, most, twins, held)
    sliced = table.slice(0, min(most, table.num_rows))  # a table of no columns takes any length
    if sliced.num_rows < table.num_rows and any(c.null_count == sliced.num_rows for c in sliced.columns):
        # the sample ends in this block: a key only its later rows have is no column, and
        # only the lines tell it from a key the sample holds as null
        return _sample_lines(data, guesses, most, twins, held)
    table = sliced
    groups = _spelling_groups(table.column_names)
    if groups and _held_together(table, groups, data) is not False:  # lines tell which keys are twins
        return _sample_lines(data, guesses, most, twins, held)
    for name in table.column_names:
        guesses.setdefault(name, _Guess()).add_parsed(table.column(name))
    return int(table.num_rows)


def _sample_lines(data: bytes, guesses: dict[str, _Guess], most: int, twins: set[str], held: int) -> int:
    """Rows of one block (at most ``most``) folded into ``guesses`` line by line; how many. The
    objects and arrays are kept as their texts, and typed once they hold ``held`` characters."""
    rows = 0
    kept = sum(g.held for g in guesses.values())
    for line in data.split(b"\n"):
        if rows >= most:
            break
        if _blank(line):
            continue
        try:
            obj = _loads(line)
        except _BadValue as exc:
            if exc.reason.startswith(_NOT_UTF8):  # its row is rejected when read; its keys are columns
                _keys_of_undecodable(line, guesses)
            continue
        except (ValueError, RecursionError):
            continue  # a malformed line is rejected when it is read, and says nothing of types
        if not isinstance(obj, dict):
            continue
        twins.update(_twins(obj))
        kept += _fold_object(obj, line, guesses)
        if kept >= held:  # the texts of every key typed: what the sample holds stays bounded
            for guess in guesses.values():
                guess.flush()
            kept = 0
        rows += 1
    return rows


def _fold_object(obj: dict[str, Any], line: bytes, guesses: dict[str, _Guess]) -> int:
    """A line's object folded into ``guesses``; the characters of the texts of objects and
    arrays they now hold (each read from the line once one is wanted)."""
    kept = 0
    texts: dict[str, str] | None = None
    for k, v in obj.items():
        guess = guesses.setdefault(k, _Guess())
        if not isinstance(v, (dict, list)):
            if v is not None:
                guess.add(v)
            continue
        text = None
        if guess.typing:
            texts = _value_texts(line) if texts is None else texts
            text = texts[k]
            kept += len(text)
        guess.add_nested(text)
    return kept


def _keys_of_undecodable(line: bytes, guesses: dict[str, _Guess]) -> None:
    """The keys (those that are text) of a line whose bytes are not all UTF-8: a file in
    another encoding (Latin-1) then has its columns, and every row is rejected with the
    reason and the encoding's hint, as a CSV file's are, rather than the file refused whole."""
    try:
        obj = json.loads(line.decode("utf-8", "surrogateescape"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        return
    if isinstance(obj, dict):
        for k in obj:
            if is_utf8(k):
                guesses.setdefault(k, _Guess())


def _spelling_groups(keys: list[str]) -> list[list[str]]:
    """The keys among ``keys`` that differ only in case, grouped by name, each group in order."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(fold(k), []).append(k)
    return [g for g in groups.values() if len(g) > 1]


def _null_pairs(keys: list[str]) -> re.Pattern[bytes]:
    """``"key": null`` for one of ``keys`` written plainly, or for any key written with an
    escape (which may be one of them: the caller decodes it). It starts no string's content
    (see ``_NULL_PAIR``); it also finds keys of nested objects, which only makes more rows
    suspect."""
    plain = b"|".join(re.escape(json.dumps(k, ensure_ascii=False)[1:-1].encode()) for k in keys)
    return re.compile(rb'[{,]\s*"(' + plain + rb'|[^"\\]*\\.(?:[^"\\]|\\.)*)"\s*:\s*null')


def _null_rows(data: bytes, pattern: re.Pattern[bytes], keys: set[str], n: int) -> dict[str, np.ndarray] | None:
    """For each of ``keys``, the rows (of the first ``n`` of the block, blank lines not counted)
    where some object writes it with the value null: pyarrow reads an absent key as null too.
    None where an escaped key cannot be told."""
    found: dict[str, np.ndarray] = {}
    if b"null" not in data:
        return found
    line, at = 0, 0
    rows: list[int] | None = None  # the line of each row (blank lines are no rows), once needed
    for m in pattern.finditer(data):
        line += data.count(b"\n", at, m.start())
        at = m.start()
        key = m.group(1).decode("utf-8", "surrogateescape")
        if "\\" in key:
            try:
                key = json.loads(f'"{key}"')
            except ValueError:
                return None
        if key not in keys:
            continue
        if rows is None:
            rows = [i for i, ln in enumerate(data.split(b"\n")) if not _blank(ln)]
        row = bisect.bisect_left(rows, line)
        if row < n:
            found.setdefault(key, np.zeros(n, np.bool_))[row] = True
    return found


def _held_together(table: pa.Table, groups: list[list[str]], data: bytes) -> bool | None:
    """Whether a row of ``table`` holds two keys of one group (a value each, or ``"key": null``);
    None where that cannot be told."""
    keys = [k for g in groups for k in g]
    nulls = _null_rows(data, _null_pairs(keys), set(keys), table.num_rows)
    if nulls is None:
        return None
    for group in groups:
        held = np.zeros(table.num_rows, np.int8)
        for key in group:
            present = kernels.is_valid(table.column(key)).to_numpy()
            held += present | nulls[key] if key in nulls else present
        if (held > 1).any():
            return True
    return False


def _twins(keys: Any) -> list[str]:
    """The keys among ``keys`` that differ from another of them only in case."""
    if len(keys) < 2:
        return []
    folded = [fold(k) for k in keys]
    if len(set(folded)) == len(folded):
        return []
    names = Counter(folded)
    return [k for k, name in zip(keys, folded, strict=True) if names[name] > 1]


@dataclass(frozen=True)
class KeyColumns:
    """Which column each key of an object goes to. Keys that differ only in case are one
    column (as across files, and in SQLite), under the spelling the sample met first; but
    where the sample met them in one object (``{"ID": 1, "id": 2}``), they are as a CSV
    header's ``ID,id``: a column each, every spelling its own."""

    exact: dict[str, str]  # the spellings met together in one object: each its own column
    folded: dict[str, str]  # by name ``fold``ed: the one column of its every spelling
    spelled: frozenset[str]  # the keys spelled as their column
    others: dict[str, str]  # the sample's other spellings, each with its column

    @classmethod
    def of(cls, keys: list[str], twins: set[str]) -> KeyColumns:
        """``keys`` in order of first use; ``twins``: those met in one object with another spelling."""
        exact = {k: k for k in keys if k in twins}
        paired = {fold(k) for k in twins}
        folded: dict[str, str] = {}
        for k in keys:
            # a spelling met only alone beside twins (``Id`` beside ``ID`` and ``id``) could be
            # either of them: no column
            if fold(k) not in paired:
                folded.setdefault(fold(k), k)
        others = {k: folded[fold(k)] for k in keys if folded.get(fold(k), k) != k}
        return cls(exact, folded, frozenset(exact) | frozenset(folded.values()), others)

    def column(self, key: str) -> str | None:
        """The column (its key as first spelled) that ``key`` goes to, or None."""
        if key in self.exact:
            return self.exact[key]
        return self.folded.get(fold(key))

    def twins_of(self, key: str) -> list[str]:
        """The columns of ``key``'s name that the sample met together, each its own."""
        return [k for k in self.exact if fold(k) == fold(key)]

    def keyed(self, obj: dict[str, Any]) -> dict[str, Any] | tuple[str, str | None]:
        """The object keyed by its columns; else a key that is no column (and None), or the
        two keys that are one column."""
        if all(k in self.spelled for k in obj):
            return obj
        out: dict[str, Any] = {}
        first: dict[str, str] = {}  # the key each column was met as
        for k, v in obj.items():
            c = self.column(k)
            if c is None:
                return k, None
            if c in out:
                return first[c], k
            out[c] = v
            first[c] = k
        return out


def _by_column(guesses: dict[str, _Guess], columns: KeyColumns) -> dict[str, _Guess]:
    """The keys' guesses as the columns': each spelling's folded into its column's (first met)."""
    out: dict[str, _Guess] = {}
    for key, guess in guesses.items():
        column = columns.column(key)
        if column == key:
            out[key] = guess
        elif column is not None:
            out[column].absorb(guess)
    return out


@dataclass(frozen=True)
class _Spellings:
    """The other spellings of columns met in a file so far (``a`` beside the column ``A``), and
    how pyarrow parses a block holding them: each spelling a column of its own, in the type of
    the column it goes to, merged into that column once no row holds two of them."""

    of: dict[str, str]  # each other spelling, with its column
    options: pajson.ParseOptions
    groups: list[list[str]]  # each column that has other spellings: its key, then theirs

    @classmethod
    def of_keys(cls, by_key: pa.Schema, others: dict[str, str]) -> _Spellings:
        """``by_key``: the columns under their keys, in order."""
        fields = list(by_key) + [by_key.field(c).with_name(k) for k, c in others.items()]
        options = pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="error")
        groups = [[c, *(k for k, to in others.items() if to == c)] for c in by_key.names if c in others.values()]
        return cls(others, options, groups)

    def merged(self, table: pa.Table, data: bytes, keys: list[str]) -> pa.Table | None:
        """The block with each column's spellings merged into it, columns in the order of
        ``keys``; None where a row holds two spellings of one column (a value, or null, each),
        which the block read line by line rejects."""
        if not self.groups:
            return table
        if _held_together(table, self.groups, data) is not False:
            return None
        merged = {g[0]: kernels.coalesce(*(table.column(k) for k in g)) for g in self.groups}
        return pa.table([merged[k] if k in merged else table.column(k) for k in keys], names=keys)


# The last sample read: (path, identity and sampling settings), its guesses (by column), whether it is
# the whole file, and the columns of its keys.
_LAST_SAMPLE: list[tuple[tuple[Any, ...], dict[str, _Guess], bool, KeyColumns]] = []


class JSONLReader(ReaderBase):
    """Reads one JSON Lines file as chunks. Use as a context manager."""

    _stream: Any = None  # the file, while it is read

    def _open(self) -> None:
        if self.path == "-":
            raise ConfigError(
                "source.path: JSON Lines is read from files, not standard input", hint=stdin_hint("jsonl")
            )
        storage.check_file(self.path, "dir/*.jsonl")
        if self.size == 0:
            raise SourceError("file is empty", file=self.path)
        assert isinstance(self.config.max_row_bytes, int)  # finish() parsed it
        self.max_row_bytes = self.config.max_row_bytes
        self._check_utf16()
        guesses, whole, self.columns = self._sample()
        if not guesses:
            raise not_text(self.path, "JSON Lines") or self._no_column(whole)
        # each column's key as first spelled in the file; the columns' names are those SQLite and LevelDB can hold
        self.keys = list(guesses)
        self.names = spelled(self.header_names(self.keys), self.spelling)
        self._name_of = dict(zip(self.keys, self.names, strict=True))
        self.declared = declared_types(self.config, self.names, self.path)
        self.schema = pa.schema(
            # a type the load settled (other files, earlier runs) wins, then a declared one
            pa.field(n, self.types.get(n, self.declared.get(n)) or _guessed(guesses[k], whole))
            for n, k in zip(self.names, self.keys, strict=True)
        )
        # Columns pyarrow cannot parse straight into their type (numbers kept as text,
        # JSON text of mixed values, declared conversions): those files are read line by line.
        self.by_line = any(
            n in self.declared or guesses[k].kinds - {_kind_of_type(f.type)}
            for n, k, f in zip(self.names, self.keys, self.schema, strict=True)
        )
        self.checks_floats = any(_has_float(f.type) for f in self.schema)  # inside objects and arrays too
        self._by_key = pa.schema(f.with_name(k) for k, f in zip(self.keys, self.schema, strict=True))
        # replaced whole (workers read it) when a block holds a spelling met for the first time
        self._spellings = _Spellings.of_keys(self._by_key, self.columns.others)

    def _check_utf16(self) -> None:
        """Refuse a file read as UTF-8 that is UTF-16 (as Windows PowerShell 5 writes JSON
        Lines), as a CSV file is: json would read each line as UTF-16 in the byte order it
        guesses for it, so the first line loads, the others are rejected, and half the last
        line end is a row. One in another encoding is transcoded: its stream checks its head."""
        if codecs.lookup(self.config.encoding).name != "utf-8":
            return
        stream, _ = open_stream(self.path, self.config.encoding)
        try:
            head = bytes(stream.read(CHECKED_HEAD))
        finally:
            stream.close()
        hint = utf16_hint(head)
        if hint is not None:
            raise not_text(self.path, "JSON Lines") or SourceError("not utf-8 text", file=self.path, hint=hint)

    def _no_column(self, whole: bool) -> SourceError:
        """Why the sample gave no column (``whole``: it read the whole file), as the file's head
        shows it: lines parted by carriage returns alone, blank lines only, objects over many
        lines (pretty-printed), empty objects only, or the first line's reason for being no row."""
        stream, _ = open_stream(self.path, self.config.encoding)
        try:
            head = bytes(stream.read(_HEAD))
        finally:
            stream.close()
        hint = _lone_cr_hint(head, self.path)
        lines = head.removeprefix(_BOM).split(b"\n")
        if len(head) == _HEAD:
            lines.pop()  # cut short: no line to judge
        found = [(n, line) for n, line in enumerate(lines, 1) if not _blank(line)]
        if hint is not None or not found:
            blank = whole and hint is None and len(head) < _HEAD
            why = "file is empty (blank lines only)" if blank else "holds no JSON object in its first rows"
            return SourceError(why, file=self.path, hint=hint)
        if found[0][1].strip() == b"{":  # jq ., json.dump(indent=...), JSON.stringify(v, null, 2)
            return SourceError(
                "holds objects written over many lines (pretty-printed), not JSON Lines (one object per line)",
                file=self.path,
                hint="write it as JSON Lines, e.g. jq -c . file.json > file.jsonl, then load that",
            )
        if not whole:  # the sample read infer_rows objects, none with a key
            return SourceError(
                f"its first {self.config.infer_rows} rows are empty objects ({{}}): no key to make a column of",
                file=self.path,
                hint="read past them with a larger source.infer_rows (--infer-rows)",
            )
        bad = next(((n, reason) for n, line in found if isinstance(reason := _row_object(line), str)), None)
        if bad is None:
            return SourceError("holds only empty objects ({}): no key to make a column of", file=self.path)
        return SourceError(f"holds no JSON object it can load: line {bad[0]}: {bad[1]}", file=self.path)

    def _sample(self) -> tuple[dict[str, _Guess], bool, KeyColumns]:
        """What each column holds over the first ``infer_rows`` parsable rows, columns in order of
        first use, whether those rows are all the file holds, and the column of each key. A load
        opens a file twice (to settle its types, then to read it): the second open of an unchanged
        file reuses the first one's sample."""
        c = self.config
        key = (
            self.path,
            json.dumps(storage.identity(self.path)),
            c.infer_rows,
            c.block_size,
            c.encoding,
            c.max_row_bytes,
        )
        last = _LAST_SAMPLE[0] if _LAST_SAMPLE else None
        if last is not None and last[0] == key:
            return last[1], last[2], last[3]
        guesses, whole, twins = self._read_sample()
        columns = KeyColumns.of(list(guesses), twins)
        guesses = _by_column(guesses, columns)
        for guess in guesses.values():
            guess.flush()  # nothing left to change in a guess readers share
        _LAST_SAMPLE[:] = [(key, guesses, whole, columns)]
        return guesses, whole, columns

    def _read_sample(self) -> tuple[dict[str, _Guess], bool, set[str]]:
        """What each key holds over the sample, whether it is the whole file, and the keys met
        in one object with another spelling of theirs."""
        guesses: dict[str, _Guess] = {}
        twins: set[str] = set()
        rows = 0
        stream, _ = open_stream(self.path, self.config.encoding)
        blocks = (data for data, _offset, dropped, _span in self._cut(stream) if dropped is None)
        # blocks parse on the workers, and fold into the guesses in order
        held = GROUP_BLOCKS * self.config.block_size  # untyped objects and arrays, as texts: follows the ceiling
        parsed = ordered_map(_parse_sample, _grouped(blocks, max(held, GROUP_BYTES)), self.workers)
        try:
            for data, table in parsed:
                if not rows and not guesses:
                    _refuse_a_json_array(data, self.path)
                rows += _sample_block(data, table, guesses, self.config.infer_rows - rows, twins, held)
                if rows >= self.config.infer_rows:
                    return guesses, False, twins
        finally:
            parsed.close()
            stream.close()
        return guesses, True, twins

    # ------------------------------------------------------------- cutting

    def _cut(self, stream: Any, offset: int = 0) -> Iterator[tuple[bytes, int, str | None, int]]:
        """Blocks of whole lines: bytes, byte offset, why a line was dropped (or None),
        and bytes of the file spanned. A line with no newline within ``max_row_bytes``
        is read through, not kept."""
        size, cap = self.config.block_size, self.max_row_bytes
        data = b""
        rest = b""  # bytes read past a dropped line's newline: cut as if read again, the cap kept
        while True:
            # doubling (a long line costs no rescans), and never past the cap unlooked at
            want = min(max(size, len(data)), cap + 1 - len(data))
            if rest:
                more, rest = rest[:want], rest[want:]
            else:
                more = stream.read(want)
            if not more:
                if data:
                    yield data, offset, None, len(data)
                return
            data += more
            nl = data.rfind(b"\n")
            if nl >= 0:
                block, data = data[: nl + 1], data[nl + 1 :]
                yield block, offset, None, len(block)
                offset += len(block)
            elif len(data) > cap:
                kept = data[:KEPT_OF_LONG_ROW]
                span, rest = _past_line(stream, len(data), rest)
                data = b""
                yield kept, offset, f"line longer than {cap} bytes (source.max_row_bytes)", span
                offset += span

    # ------------------------------------------------------------- parsing

    def _prepare(self, item: tuple[bytes, int, str | None, int]) -> _Block:
        data, offset, dropped, span = item
        newlines = data.count(b"\n") if dropped is None else 1
        if dropped is not None:
            text = text_or_bytes(data.rstrip(b"\r\n"), cut=len(data) < span)
            empty = empty_batch(self.schema)
            return _Block(offset, span, newlines, 1, empty, [], [], [(1, 1, dropped, None, text, len(data) < span)])
        if not self.by_line:
            rounding = _rounding(data) if self.checks_floats else None
            table = self._parsed(data, rounding)
            if table is not None:
                return self._parsed_block(table, data, offset, span, newlines)
        return self._by_line(data, offset, span, newlines)

    def _parsed(self, data: bytes, rounding: str | None) -> pa.Table | None:
        """The block as pyarrow parses it, each column's spellings merged into it; None to read
        it line by line."""
        if not _for_pyarrow(data):
            return None
        spellings = self._spellings
        table = _parsed_exactly(data, rounding, spellings.options)
        if table is None:
            found = self._spellings_in(data, spellings)
            if found is None:
                return None
            spellings = found
            table = _parsed_exactly(data, rounding, spellings.options)
            if table is None:
                return None
        return spellings.merged(table, data, self.keys)

    def _spellings_in(self, data: bytes, known: _Spellings) -> _Spellings | None:
        """``known`` and the new spellings of columns a block pyarrow refused holds; None where
        it holds none (it was refused for something else) or a key that is no column."""
        options = pajson.ParseOptions(explicit_schema=known.options.explicit_schema, unexpected_field_behavior="infer")
        try:
            found = compat.read_json_block(
                data, pajson.ReadOptions(use_threads=False, block_size=len(data) + 1), options
            ).column_names
        except pa.ArrowInvalid:
            return None
        unknown = [k for k in found if k not in known.options.explicit_schema.names]
        new = {k: c for k in unknown if (c := self.columns.column(k)) is not None}
        if not new or len(new) < len(unknown):
            return None
        spellings = _Spellings.of_keys(self._by_key, known.of | new)
        self._spellings = spellings
        return spellings

    def _parsed_block(self, table: pa.Table, data: bytes, offset: int, span: int, newlines: int) -> _Block:
        """A block pyarrow parsed whole, with each row's line."""
        n = table.num_rows
        batch = table.combine_chunks().to_batches()[0].rename_columns(self.names) if n else empty_batch(self.schema)
        lines_here = newlines + (0 if data.endswith(b"\n") else 1)
        lines = None if n == lines_here else [i for i, ln in enumerate(data.split(b"\n"), 1) if not _blank(ln)]
        return _Block(offset, span, newlines, n, batch, list(range(1, n + 1)), lines, [])

    def _by_line(self, data: bytes, offset: int, span: int, newlines: int) -> _Block:
        """The block parsed one line at a time: exactly the lines that do not fit are rejected."""
        objects: list[dict[str, Any]] = []
        numbers: list[int] = []  # block-relative row, line and text of each object
        lines: list[int] = []
        raws: list[bytes] = []
        rejects: list[tuple[int, int, str, str | None, str | bytes, bool]] = []
        row = 0
        for line_no, line in enumerate(data.split(b"\n"), 1):
            if _blank(line):
                continue
            row += 1
            obj = self._object(line)
            if isinstance(obj, tuple):
                rejects.append((row, line_no, obj[0], obj[1], _text(line), False))
                continue
            objects.append(obj)
            numbers.append(row)
            lines.append(line_no)
            raws.append(line)
        batch, why = self._batch(objects)
        if why:
            for i in sorted(why):
                rejects.append((numbers[i], lines[i], why[i][1], why[i][0], _text(raws[i]), False))
            keep = [i not in why for i in range(len(objects))]
            batch = batch.filter(pa.array(keep))
            numbers = [n for n, k in zip(numbers, keep, strict=True) if k]
            lines = [n for n, k in zip(lines, keep, strict=True) if k]
        rejects.sort()
        return _Block(offset, span, newlines, row, batch, numbers, lines, rejects)

    def _object(self, line: bytes) -> dict[str, Any] | tuple[str, str | None]:
        """One line's object, or why it is rejected (and the column to blame)."""
        obj = _row_object(line)
        if isinstance(obj, str):
            return obj, self._blamed(getattr(obj, "key", None))
        keyed = self.columns.keyed(obj)
        return keyed if isinstance(keyed, dict) else self._misplaced(*keyed)

    def _blamed(self, key: str | None) -> str | None:
        """The column a reason about ``key``'s value names: the key's column, or the key if it is none."""
        column = self.columns.column(key) if key is not None else None
        return self._name_of.get(column, key) if column is not None else key

    def _misplaced(self, key: str, twin: str | None) -> tuple[str, str]:
        """Why a key is no column (``twin`` None), or why two keys of one column reject their
        row; and the column to blame."""
        rows = f"the first {self.config.infer_rows} rows"
        if twin is None:
            twins = [self._name_of[k] for k in self.columns.twins_of(key)]
            if not twins:
                # a larger infer_rows reads only files not loaded yet: this one's row loads by a replay
                return (
                    f"key {key!r} is not a column (columns come from {rows}, source.infer_rows): "
                    "replay this reject file to load the row, with --alter to add the column"
                ), key
            return (
                f"key {key!r} is not a column: it differs only in case from the columns "
                f"{', '.join(map(repr, twins))}, which an object of {rows} held together (source.infer_rows)"
            ), key
        column = self.columns.column(key)
        assert column is not None  # keyed() put the first key into it
        name = self._name_of[column]
        why = f"keys {key!r} and {twin!r} differ only in case: one column, {name!r} (none of {rows} held both, source.infer_rows)"
        return why, name

    def _batch(self, objects: list[dict[str, Any]]) -> tuple[pa.RecordBatch, dict[int, tuple[str, str]]]:
        """The objects as a batch in the schema, and for each object that does not fit, the first column and reason."""
        columns = []
        why: dict[int, tuple[str, str]] = {}
        for key, f in zip(self.keys, self.schema, strict=True):
            array, failed = self._column(f, [o.get(key) for o in objects])
            columns.append(array)
            for i, reason in failed.items():
                why.setdefault(i, (f.name, reason))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema), why

    def _column(self, f: pa.Field, values: list[Any]) -> tuple[pa.Array, dict[int, str]]:
        """One column of a block's objects in its type; the rows that do not fit, and why."""
        t = f.type
        kind = _kind_of_type(t)
        declared = f.name in self.declared
        if kind == "string" and not declared:
            return _text_column(values, t), {}
        if kind == "nested":
            return _nested_column(t, values, self._shape_hint(f.name))
        if kind == "string":  # declared: an object, array or boolean is its JSON text, as in a mixed column
            values = [
                _object_text(v) if isinstance(v, (dict, list)) else _json_text(v) if isinstance(v, bool) else v
                for v in values
            ]
        if pa.types.is_boolean(t):
            return _bool_column(t, values, declared)
        return _number_column(t, values, declared=declared or kind == "converted")

    def _shape_hint(self, name: str) -> str:
        """Where a nested type came from, and how to keep every value whatever its shape: a
        payload whose shape depends on its event's kind has another past the sample."""
        return (
            f" (the type comes from the first {self.config.infer_rows} rows, source.infer_rows; "
            f"to keep every value as its JSON text, declare the column a string: source.columns, --columns {name}=string)"
        )

    # ------------------------------------------------------------- reading

    def __iter__(self) -> Iterator[Chunk]:
        resume = self.resume or {}
        offset = int(resume.get("offset", 0))
        at = Position(int(resume.get("offset_row", 0)), int(resume.get("line", 1)), int(resume.get("row", 0)))
        self._stream, _ = open_stream(self.path, self.config.encoding)
        skip(self._stream, offset)
        disk = DiskProgress(self._stream)
        for block in ordered_map(self._prepare, disk.tag(self._cut(self._stream, offset)), self.workers):
            bytes_read = disk.bytes_read(block.size)
            if at.row_base + block.rows <= at.done:  # wholly committed before
                at.past(block.rows, block.newlines)
                continue
            chunk = self._chunk(block, at, bytes_read)
            end, end_line = block.offset + block.size, at.line + block.newlines
            yield from self._split(chunk, block.offset, at.row_base, at.line, end, end_line, max(at.done, at.row_base))
            at.past(block.rows, block.newlines)

    def _chunk(self, block: _Block, at: Position, bytes_read: int) -> Chunk:
        """A parsed block as a chunk, its rows and lines numbered, without the rows an earlier run committed."""
        if block.numbers:
            rows = kernels.add(pa.array(block.numbers, pa.int64()), at.row_base)
        else:
            rows = row_numbers(at.row_base, 0, set())
        if block.lines is None:
            lines = kernels.add(rows, at.line - at.row_base - 1)
        else:
            lines = pa.array([at.line + n - 1 for n in block.lines], pa.int64())
        rejects = [
            Reject(
                file=self.path,
                row=at.row_base + r,
                line=at.line + ln - 1,
                reason=reason,
                column=column,
                raw=raw,
                raw_truncated=cut or None,
            )
            for r, ln, reason, column, raw, cut in block.rejects
            if at.row_base + r > at.done
        ]
        chunk = Chunk(
            batch=block.batch,
            file=self.path,
            rows=rows,
            lines=lines,
            last_row=at.row_base + block.rows,
            end={},
            rejects=rejects,
            bytes_read=bytes_read,
        )
        if at.done > at.row_base:
            chunk = chunk.keep(kernels.greater(chunk.rows, at.done), filtered=False)
        return chunk

    def _split(
        self, chunk: Chunk, start: int, row_base: int, line: int, end: int, end_line: int, floor: int
    ) -> Iterator[Chunk]:
        """At most ``chunk_size`` rows per chunk; every piece knows where to resume."""
        final = {"offset": end, "offset_row": chunk.last_row, "line": end_line, "row": chunk.last_row}
        within = {"offset": start, "offset_row": row_base, "line": line}
        return split_chunk(chunk, self.chunk_size, floor, final, within)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = None


def _nested_column(t: pa.DataType, values: list[Any], shape_hint: str = "") -> tuple[pa.Array, dict[int, str]]:
    """Objects and arrays in their nested type; those that do not fit it exactly, and why
    (``shape_hint`` after the reason of one of another shape: keys or kind)."""
    failed: dict[int, str] = {}
    out: list[Any] = []
    floats: list[str] = []  # the numbers in float64 leaves, and the row of each
    rows: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        before = len(floats)
        try:
            out.append(_exact(v, t, floats))
        except _Misfit as misfit:
            hint = shape_hint if misfit.shape else ""
            failed[i] = f"{_json_text(v)[:60]!r} does not fit {type_name(t)}: {misfit.reason()}{hint}"
            out.append(None)
            del floats[before:]
        rows.extend([i] * (len(floats) - before))
    if floats:
        lost = float_loses(pa.array(floats, pa.string()))
        for at in kernels.indices_nonzero(lost).to_pylist():
            i = rows[at]
            if i not in failed:
                failed[i] = (
                    f"{_json_text(values[i])[:60]!r} does not fit {type_name(t)}: "
                    f"{floats[at]} would be stored as {float(floats[at])!r} by float64"
                )
                out[i] = None
    try:
        return pa.array(out, t), failed
    except (pa.ArrowException, OverflowError):
        pass
    for i, v in enumerate(out):
        try:
            pa.array([v], t)
        except (pa.ArrowException, OverflowError) as exc:
            failed[i] = f"{_json_text(values[i])[:60]!r} does not fit {type_name(t)} ({one_line(exc)})"
            out[i] = None
    return pa.array(out, t), failed


def _bool_column(t: pa.DataType, values: list[Any], declared: bool) -> tuple[pa.Array, dict[int, str]]:
    """JSON true and false; a declared column reads the strings inference reads as a bool too
    (``"true"``, ``"False"``...), as a declared number or date reads strings."""
    failed: dict[int, str] = {}
    out: list[bool | None] = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, bool):
            out.append(v)
        elif declared and _kind(v) == "string" and str.__str__(v) in _BOOL_SPELLINGS:
            out.append(_BOOL_SPELLINGS[str.__str__(v)])
        else:
            failed[i] = f"{_json_text(v)[:60]!r} is not a JSON true or false" + (
                f" (nor one of {', '.join(_BOOL_SPELLINGS)})" if declared else ""
            )
            out.append(None)
    return pa.array(out, t), failed


# the spellings a CSV column is inferred a bool from (loader.convert)
_BOOL_SPELLINGS = {text: text.lower() == "true" for text in BOOL_TEXT.to_pylist()}


def _number_column(t: pa.DataType, values: list[Any], declared: bool) -> tuple[pa.Array, dict[int, str]]:
    """Numbers, and declared types: converted from their text by the CSV rules (a number
    from its text as written, so ``1.50`` is ``1.50`` in a decimal and ``1.505`` does not fit)."""
    failed: dict[int, str] = {}
    wanted = "a number" if _kind_of_type(t) == "number" else "a string or number"
    texts: list[str | None] = []
    for i, v in enumerate(values):
        if v is None:
            texts.append(None)
        elif isinstance(v, _Number) or (declared and isinstance(v, str) and not isinstance(v, bool)):
            texts.append(str.__str__(v))
        else:
            failed[i] = f"{_json_text(v)[:60]!r} is {_what(v)}, not {wanted}"
            texts.append(None)
    converted = convert(pa.array(texts, pa.string()), t, strict=not declared)
    if converted.bad is not None:
        for i, reason in zip(kernels.indices_nonzero(converted.bad).to_pylist(), converted.reasons or [], strict=True):
            failed.setdefault(i, reason)
    return converted.array, failed


def _past_line(stream: Any, size: int, rest: bytes) -> tuple[int, bytes]:
    """``read_past_line`` where ``rest`` was read already: the bytes the line spans (``size``
    of them before ``rest``), and the bytes after its newline."""
    nl = rest.find(b"\n")
    if nl >= 0:
        return size + nl + 1, rest[nl + 1 :]
    span, after, _ = read_past_line(stream, size + len(rest))
    return span, after


def _text(line: bytes) -> str | bytes:
    """A line as a reject's raw: text, or its bytes when they are not UTF-8."""
    return text_or_bytes(line.rstrip(b"\r"))
