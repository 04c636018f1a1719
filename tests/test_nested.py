"""Nested values rebuilt from a reject line's JSON (``loader.nested``)."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from loader.convert import Converted, convert
from loader.nested import guessed_type, nested_column


def _leaf(col: pa.Array, t: pa.DataType) -> Converted:
    return convert(col, t, strict=True)


def _built(texts: list[str | None], t: pa.DataType) -> Converted:
    return nested_column(pa.array(texts, pa.string()), t, _leaf)


def test_lists_structs_and_maps_come_back_in_their_types() -> None:
    t = pa.struct([("l", pa.list_(pa.float64())), ("m", pa.map_(pa.string(), pa.decimal128(5, 2)))])
    out = _built(['{"l": [1.5, "NaN", "-Infinity"], "m": [["k", "1.50"]]}', None, '{"l": null, "m": {"j": 2}}'], t)
    assert out.bad is None
    first, empty, last = out.array.to_pylist()
    assert first["l"][0] == 1.5 and math.isnan(first["l"][1]) and first["l"][2] == -math.inf
    assert str(first["m"][0][1]) == "1.50"
    assert (empty, last["l"], str(last["m"][0][1])) == (None, None, "2.00")


def test_fixed_size_lists_and_bytes_inside() -> None:
    out = _built(['[{"base64": "/w=="}, "a"]'], pa.list_(pa.binary(), 2))
    assert out.bad is None and out.array.to_pylist() == [[b"\xff", b"a"]]


@pytest.mark.parametrize(
    ("text", "t", "reason"),
    [
        ('[1, "x"]', pa.list_(pa.int64()), "at [1]: 'x' is not a valid int64"),
        ('{"a": 1}', pa.struct([("a", pa.int64()), ("b", pa.string())]), "lacks key 'b'"),
        ('{"a": 1, "c": 2}', pa.struct([("a", pa.int64())]), "key 'c' is not a field of struct<a: int64>"),
        ('[{"a": [1, {}]}]', pa.list_(pa.struct([("a", pa.list_(pa.int64()))])), "at [0].a[1]: an object, not a int64"),
        ("[1, 2, 3]", pa.list_(pa.int64(), 2), "an array of 3 values, not 2"),
        ('"x"', pa.list_(pa.int64()), "the string 'x', not an array"),
        ("[1", pa.list_(pa.int64()), "'[1' is not JSON: Expecting ',' delimiter: line 1 column 3 (char 2)"),
        ("[[null, 1]]", pa.map_(pa.string(), pa.int64()), "at [0]: a null key"),
    ],
)
def test_a_value_that_does_not_fit_says_where_and_why(text: str, t: pa.DataType, reason: str) -> None:
    out = _built([text], t)
    assert out.reasons == [reason]
    assert out.bad is not None and out.bad.to_pylist() == [True]


@pytest.mark.parametrize(
    ("values", "t"),
    [
        ([[1.5, "NaN"], ["Infinity"], None], pa.list_(pa.float64())),
        ([["a", "NaN"]], pa.list_(pa.string())),
        (['[{"x": 1}]', [{"x": 2}]], pa.list_(pa.struct([("x", pa.int64())]))),
        ([[1], "x"], None),  # a value neither an array nor an object
        ([[["k", 1]]], None),  # a map's pairs: no one type
    ],
)
def test_a_type_no_checkpoint_recorded_is_guessed_from_the_values(values: list[Any], t: pa.DataType | None) -> None:
    assert guessed_type(values) == t
