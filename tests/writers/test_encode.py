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
    common = pa.array([dt.datetime(999, 1, 2, 3, 4, 5), dt.datetime(2024, 12, 31, 23, 59, 59), None], pa.timestamp(unit))
    assert iso_text(common).to_pylist() == [f"0999-01-02T03:04:05{frac}", f"2024-12-31T23:59:59{frac}", None]
    per_second = {"s": 1, "ms": 1000, "us": 1_000_000}[unit]
    far = pa.array([253_402_300_800 * per_second, 0], pa.timestamp(unit))  # 10000-01-01, 1970-01-01
    assert iso_text(far).to_pylist() == [f"10000-01-01T00:00:00{frac}", f"1970-01-01T00:00:00{frac}"]
    assert iso_text(pa.array([None], pa.timestamp(unit))).to_pylist() == [None]


def test_zoned_timestamps_are_utc_with_z() -> None:
    oslo = pa.array([dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)], pa.timestamp("s", tz="Europe/Oslo"))
    assert iso_text(oslo).to_pylist() == ["2024-06-01T12:00:00Z"]
