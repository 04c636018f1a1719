"""Column-wise encoding shared by the writers."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from loader.writers.encode import iso_text


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamps_as_iso_text_for_every_year_width(unit: str) -> None:
    """Four-digit years take the fast path (the separator is byte 10); a year of
    five digits, or before year 0, falls back to finding the space."""
    frac = {"s": "", "ms": ".000", "us": ".000000"}[unit]
    common = pa.array(
        [dt.datetime(999, 1, 2, 3, 4, 5), dt.datetime(2024, 12, 31, 23, 59, 59), None], pa.timestamp(unit)
    )
    assert iso_text(common).to_pylist() == [f"0999-01-02T03:04:05{frac}", f"2024-12-31T23:59:59{frac}", None]
    per_second = {"s": 1, "ms": 1000, "us": 1_000_000}[unit]
    far = pa.array([253_402_300_800 * per_second, 0], pa.timestamp(unit))  # 10000-01-01, 1970-01-01
    assert iso_text(far).to_pylist() == [f"10000-01-01T00:00:00{frac}", f"1970-01-01T00:00:00{frac}"]
    assert iso_text(pa.array([None], pa.timestamp(unit))).to_pylist() == [None]


def test_zoned_timestamps_are_utc_with_z() -> None:
    oslo = pa.array([dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)], pa.timestamp("s", tz="Europe/Oslo"))
    assert iso_text(oslo).to_pylist() == ["2024-06-01T12:00:00Z"]


# days and microseconds since 1970-01-01 of 0000-01-01 and 10000-01-01 (proleptic Gregorian)
_YEAR_0_DAYS, _YEAR_10000_DAYS = -719_528, 2_932_897


def _far_table() -> pa.Table:
    """Dates and timestamps outside Python's years 1..9999, nested and not; floats
    that JSON has no number for; an empty map."""
    day_us = 86_400_000_000
    dates = pa.array([_YEAR_0_DAYS, _YEAR_10000_DAYS - 1], pa.date32())
    stamps = pa.array([_YEAR_0_DAYS * day_us - 1, _YEAR_10000_DAYS * day_us], pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "id": [1, 2],
            "day": dates,
            "at": stamps,
            "span": pa.StructArray.from_arrays([dates, stamps], ["first", "last"]),
            "days": pa.array([[_YEAR_0_DAYS], []], pa.list_(pa.date32())),
            "tags": pa.array([[("a", _YEAR_0_DAYS)], []], pa.map_(pa.string(), pa.date32())),
            "x": [float("inf"), float("-inf")],
            "xs": pa.array([[float("nan"), 1.5], [float("inf")]], pa.list_(pa.float64())),
            "y": [float("nan"), 2.5],
        }
    )


_FAR_JSON = [
    {"id": 1, "day": "0000-01-01", "at": "-0001-12-31T23:59:59.999999Z",
     "span": {"first": "0000-01-01", "last": "-0001-12-31T23:59:59.999999Z"},
     "days": ["0000-01-01"], "tags": {"a": "0000-01-01"}, "x": "Infinity", "xs": [None, 1.5], "y": None},
    {"id": 2, "day": "9999-12-31", "at": "10000-01-01T00:00:00.000000Z",
     "span": {"first": "9999-12-31", "last": "10000-01-01T00:00:00.000000Z"},
     "days": [], "tags": {}, "x": "-Infinity", "xs": ["Infinity"], "y": 2.5},
]  # fmt: skip


def test_far_dates_infinities_and_empty_maps_as_json() -> None:
    import json

    from loader.writers.encode import json_objects

    objects = json_objects(_far_table().to_batches()[0]).to_pylist()
    assert [json.loads(o) for o in objects] == _FAR_JSON


def test_far_dates_and_infinities_load_into_sqlite_and_leveldb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Parquet case of apache/parquet-testing's nested_structs.rust.parquet
    (a timestamp of year -12585 inside a struct), rebuilt here."""
    import json
    import math

    import pyarrow.parquet as pq

    from loader import load
    from tests.conftest import sqlite_rows
    from tests.reliability_util import leveldb_items

    src = tmp_path / "far.parquet"
    pq.write_table(_far_table(), src)
    report = load(str(src), str(tmp_path / "far.db"), table="t")
    assert (report.status, report.rows_written, report.rows_rejected) == ("ok", 2, 0)
    rows = sqlite_rows(tmp_path / "far.db", "SELECT day, at, span, days, tags, x, xs, y FROM t ORDER BY id")
    for row, want in zip(rows, _FAR_JSON, strict=True):
        day, at, span, days, tags, x, xs, y = row
        assert (day, at) == (want["day"], want["at"])
        assert (json.loads(span), json.loads(days), json.loads(tags)) == (want["span"], want["days"], want["tags"])
        assert json.loads(xs) == want["xs"]
        assert math.isinf(x) and (x > 0) == (want["x"] == "Infinity")  # SQLite keeps infinities as REAL
        assert y == want["y"]  # NaN is NULL in SQLite
    assert sqlite_rows(tmp_path / "far.db", "SELECT typeof(x) FROM t") == [("real",), ("real",)]
    report = load(str(src), str(tmp_path / "far.ldb"), key="row:{id}")
    assert (report.status, report.rows_written) == ("ok", 2)
    items, _ = leveldb_items(tmp_path / "far.ldb")
    assert [json.loads(v) for _, v in items] == _FAR_JSON
