"""Chunk.reject: a rejected row's values, whatever Arrow holds."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from loader.chunk import Reject, TypeNote, explain
from tests.conftest import as_chunk


def test_reject_keeps_values_python_cannot_hold_as_exact_text() -> None:
    """A nanosecond timestamp or time with digits below the microsecond, dates and timestamps
    outside Python's years 1..9999, nested or not: the column's values as the ISO text the
    targets store; columns Python can hold keep their Python values."""
    batch = pa.record_batch(
        {
            "id": [1, 2, 3],
            "ns": pa.array([1, 2, None], pa.timestamp("ns")),
            "nsz": pa.array([1_000, 2_001, 3_000], pa.timestamp("ns", "UTC")),
            "day": pa.array([0, -719_529, 2_932_897], pa.date32()),  # -0001-12-31, 10000-01-01
            "far": pa.array([0, 10**12, -1_096_225_401_600], pa.timestamp("s")),  # years 33658 and -32768
            "span": pa.array(
                [{"at": 1, "n": Decimal("0.10")}, {"at": 5, "n": None}, None],
                pa.struct([("at", pa.timestamp("ns")), ("n", pa.decimal128(5, 2))]),
            ),
            "us": pa.array([0, 1, 2], pa.timestamp("us")),
            "clock": pa.array([0, 1, 86_399_999_999_999], pa.time64("ns")),  # to_pylist would cut the digits
        }
    )
    chunk = as_chunk(batch).reject(pa.array([False, True, True]), "bad", stage="write", column="id")
    assert chunk.batch.column("id").to_pylist() == [1]
    assert [(r.row, r.reason, r.stage, r.column) for r in chunk.rejects] == [
        (2, "bad", "write", "id"),
        (3, "bad", "write", "id"),
    ]
    assert [r.values for r in chunk.rejects] == [
        {
            "id": 2,
            "ns": "1970-01-01T00:00:00.000000002",
            "nsz": "1970-01-01T00:00:00.000002001Z",
            "day": "-0001-12-31",
            "far": "33658-09-27T01:46:40",
            "span": {"at": "1970-01-01T00:00:00.000000005", "n": None},
            "us": dt.datetime(1970, 1, 1, 0, 0, 0, 1),
            "clock": "00:00:00.000000001",
        },
        {
            "id": 3,
            "ns": None,
            "nsz": "1970-01-01T00:00:00.000003000Z",
            "day": "10000-01-01",
            "far": "-32768-01-01T00:00:00",
            "span": None,
            "us": dt.datetime(1970, 1, 1, 0, 0, 0, 2),
            "clock": "23:59:59.999999999",
        },
    ]
    line = json.loads(chunk.rejects[0].to_json())
    assert (line["v"], line["values"]["ns"], line["values"]["us"]) == (
        2,
        "1970-01-01T00:00:00.000000002",
        "1970-01-01 00:00:00.000001",
    )


def test_reject_of_rows_python_holds_is_unchanged() -> None:
    batch = pa.record_batch(
        {
            "id": [1, 2],
            "ns": pa.array([1_000, 2_000], pa.timestamp("ns")),  # whole microseconds
            "d": pa.array([Decimal("0.10"), None], pa.decimal128(5, 2)),
            "m": pa.array([[("a", 1)], []], pa.map_(pa.string(), pa.int64())),
        }
    )
    chunk = as_chunk(batch).reject(pa.array([True, True]), ["one", "two"], stage="read")
    assert chunk.num_rows == 0
    assert [(r.reason, r.values) for r in chunk.rejects] == [
        ("one", {"id": 1, "ns": dt.datetime(1970, 1, 1, 0, 0, 0, 1), "d": Decimal("0.10"), "m": [("a", 1)]}),
        ("two", {"id": 2, "ns": dt.datetime(1970, 1, 1, 0, 0, 0, 2), "d": None, "m": []}),
    ]


def test_reject_without_columns() -> None:
    chunk = as_chunk(pa.RecordBatch.from_pydict({"a": [1, 2]}).select([]))
    out = chunk.reject(pa.array([True, False]), "bad", stage="read")
    assert [(r.row, r.values) for r in out.rejects] == [(1, {})]


def test_reject_refuses_a_mask_of_another_length() -> None:
    """A mask made for the rows before an earlier reject would move the wrong rows."""
    chunk = as_chunk(pa.record_batch({"a": [1, 2]}))
    with pytest.raises(ValueError, match=r"^a reject mask of 3 values for 2 rows$"):
        chunk.reject(pa.array([True, False, False]), "bad", stage="write")
    assert chunk.rejects == [] and chunk.num_rows == 2


def test_keep_takes_a_null_typed_mask_and_refuses_one_of_another_length() -> None:
    """``pa.array([])`` (a mask made from a Python list over a 0-row batch) is typed null:
    keep() raised ArrowInvalid on it; a mask of other rows is named with both lengths."""
    empty = as_chunk(pa.record_batch({"a": pa.array([], pa.int64())}))
    assert empty.keep(pa.array([])).num_rows == 0
    chunk = as_chunk(pa.record_batch({"a": [1, 2]}))
    dropped = chunk.keep(pa.array([None, None]))  # null entries drop their rows
    assert (dropped.num_rows, dropped.rows_filtered) == (0, 2)
    with pytest.raises(ValueError, match=r"^a keep mask of 3 values for 2 rows$"):
        chunk.keep(pa.array([True, False, True]))


def test_a_reject_line_writes_nan_and_infinities_as_text() -> None:
    """JSON has no NaN or Infinity: the reject line holds their text, nested or not."""
    values = {"f": math.nan, "g": [1.5, math.inf, None], "m": [("a", -math.inf)], "d": Decimal("NaN")}
    line = Reject(file="/in.csv", row=1, reason="bad", values=values).to_json()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {line}"))["values"] == {
        "f": "NaN",
        "g": [1.5, "Infinity", None],
        "m": [["a", "-Infinity"]],
        "d": "NaN",
    }


def test_explain_gives_the_way_to_change_the_type_only_to_values_of_another_type() -> None:
    """A typo (no type but text holds it) is to be fixed in the file: its reason says where the
    column's type comes from, not to change the type."""
    note = TypeNote("d is date since an earlier run of this job", "to change it, declare the type")
    rejects = [
        Reject("f.csv", 1, "'2024-01-05 10:00' is not a valid date", column="d", values={"d": "2024-01-05 10:00"}),
        Reject("f.csv", 2, "'2024-13-05' is not a valid date", column="d", values={"d": "2024-13-05"}),
        Reject("f.csv", 3, "no value to judge", column="d"),
        Reject("f.csv", 4, "refused by the table", stage="write", column="d", values={"d": "2024-13-05"}),
        Reject("f.csv", 5, "'x' is not a valid int64", column="n", values={"n": "x"}),
    ]
    explain(rejects, {"d": note})
    assert [r.reason for r in rejects] == [
        "'2024-01-05 10:00' is not a valid date; d is date since an earlier run of this job: to change it, "
        "declare the type",
        "'2024-13-05' is not a valid date; d is date since an earlier run of this job",
        "no value to judge; d is date since an earlier run of this job: to change it, declare the type",
        "refused by the table",
        "'x' is not a valid int64",
    ]
