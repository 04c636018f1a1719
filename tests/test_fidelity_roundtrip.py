"""Differential test: every value stored in SQLite, read back, is the source
text, up to numeric equality for numbers (and instant equality for timestamps).
Files as data tools write them (pandas' to_csv) and committed tiny files."""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from loader import load
from loader.config import NA_VALUES
from tests.conftest import DATA
from tests.reliability_util import sqlite_state

_INT = re.compile(r"[+-]?[0-9]+")
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")
_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?")


def same(source: str, stored: object, typed: bool = False) -> bool:
    """Whether the stored value is the source text without loss; in a ``typed`` (not
    text) column a missing-value spelling (``NA``) is NULL by design (source.na_values)."""
    if stored is None:
        if typed and source in NA_VALUES:
            return True
        return source == "" or source.lower().lstrip("+-") == "nan"  # NaN is NULL in SQLite (documented)
    if isinstance(stored, str):
        if _TS.fullmatch(source) and source != stored:
            return dt.datetime.fromisoformat(source) == dt.datetime.fromisoformat(stored)
        return source == stored
    if isinstance(stored, int) and source.lower() in ("true", "false"):
        return stored == (source.lower() == "true")
    if _LEADING_ZERO.match(source):
        return False  # a number cannot keep it
    if isinstance(stored, int):
        return bool(_INT.fullmatch(source)) and int(source) == stored
    assert isinstance(stored, float)
    if math.isinf(stored):
        return source.lower() in (("inf", "+inf", "infinity", "+infinity") if stored > 0 else ("-inf", "-infinity"))
    return Decimal(source) == Decimal(repr(stored))  # exact: a lost digit shows (SQLite stores -0.0 as 0.0)


def test_the_comparison_catches_every_loss() -> None:
    assert same("007", "007") and same("100.10", 100.1) and same("1e-7", 1e-7) and same("-0.0", -0.0)
    assert same("2024-02-29 23:59:59.5", "2024-02-29T23:59:59.500000") and same("", None) and same("inf", math.inf)
    assert (
        not same("007", 7)
        and not same("0.10000000000000000001", 0.1)
        and not same("12345678901234567890", 1.2345678901234567e19)
    )
    assert not same("-1.5", 1.5) and not same(" a", "a") and not same("a\n", "a") and not same("1.5", None)
    assert (
        same("NA", None, typed=True) and same("NA", "NA") and not same("NA", None) and not same("1", None, typed=True)
    )


def assert_lossless(src: Path, db: Path) -> list[str]:
    """Load ``src`` into SQLite; compare every stored value with the source text. Returns the column types."""
    report = load(str(src), str(db), table="t")
    assert (report.status, report.rows_rejected) == ("ok", 0)
    with open(src, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
        types = [r[2] for r in conn.execute("PRAGMA table_info(t)")]
    finally:
        conn.close()
    assert len(stored) == len(rows)
    arrow_types = sqlite_state(db)["schema"]
    typed = [arrow_types[name] not in ("string", "binary") for name in header]
    lost = [
        (i + 1, name, source, value)
        for i, (row, back) in enumerate(zip(rows, stored, strict=True))
        for name, source, value, is_typed in zip(header, row, back, typed, strict=True)
        if not same(source, value, is_typed)
    ]
    assert lost == []
    return types


@pytest.mark.parametrize("name", ["numbers.csv", "text.csv"])
def test_committed_files_load_without_loss(tmp_path: Path, name: str) -> None:
    types = assert_lossless(DATA / "fidelity" / name, tmp_path / "t.db")
    if name == "numbers.csv":
        # id, zip (leading zeros), price, tiny, big (beyond int64), precise (would round), signed, mixed, ratio (inf, nan)
        assert types == ["INTEGER", "TEXT", "REAL", "REAL", "TEXT", "TEXT", "REAL", "TEXT", "REAL"]
    else:
        assert types == ["INTEGER", "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER"]


@pytest.mark.parametrize("na_rep", ["", "NA"])
def test_pandas_to_csv_loads_without_loss(tmp_path: Path, na_rep: str) -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(17)
    n = 400
    price = rng.random(n) * 1000
    price[::37] = np.nan
    ratio = rng.normal(size=n)
    ratio[5], ratio[50], ratio[77] = np.inf, -np.inf, np.nan
    frame = pd.DataFrame(
        {
            "price": price,
            "ratio": ratio,
            "small": rng.random(n).astype("float32"),
            "count": pd.array([None if i % 11 == 0 else int(i * 7919) for i in range(n)], dtype="Int64"),
            "color": pd.Categorical(rng.choice(["red", "green", "blue, dark"], n)),
            "zip": [f"{int(z):05d}" for z in rng.integers(0, 99999, n)],
            "day": pd.date_range("1999-12-25", periods=n, freq="D"),
            "at": pd.date_range("2024-02-28 23:00", periods=n, freq="37min"),
            # NA for Namibia among other codes: text, and kept as text
            "country": [["NA", "FR", "DE"][i % 3] for i in range(n)],
        }
    )
    src = tmp_path / "frame.csv"
    frame.to_csv(src, index_label="id", na_rep=na_rep)
    types = assert_lossless(src, tmp_path / "t.db")
    assert types == ["INTEGER", "REAL", "REAL", "REAL", "INTEGER", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT"]
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        over = conn.execute("SELECT count(*) FROM t WHERE price > 500").fetchone()[0]
    finally:
        conn.close()
    assert over == int((frame["price"] > 500).sum())  # compared as numbers, not as text


def test_pandas_json_lines_load_without_loss(tmp_path: Path) -> None:
    """JSON Lines as pandas writes them: every stored SQLite value is the number or
    string of the file, compared exactly (numbers as decimals, from their text)."""
    import json

    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(23)
    n = 400
    price = rng.random(n) * 1000
    price[::37] = np.nan
    frame = pd.DataFrame(
        {
            "id": range(n),
            "price": price,
            "big": [str(10**20 + i) for i in range(n)],  # as text: pandas has no integer that wide
            "zip": [f"{int(z):05d}" for z in rng.integers(0, 99999, n)],
            "flag": rng.random(n) > 0.5,
            "tags": [["a"] * (i % 3) for i in range(n)],
        }
    )
    src = tmp_path / "frame.jsonl"
    frame.to_json(src, orient="records", lines=True)  # pandas' default: 10 digits after the point
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert (report.status, report.rows_rejected) == ("ok", 0)
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        stored = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
        types = [r[2] for r in conn.execute("PRAGMA table_info(t)")]
    finally:
        conn.close()
    assert types == ["INTEGER", "REAL", "TEXT", "TEXT", "INTEGER", "TEXT"]
    lines = src.read_text(encoding="utf-8").splitlines()
    for line, back in zip(lines, stored, strict=True):
        source = json.loads(line, parse_float=Decimal, parse_int=Decimal)
        expected = [source["id"], source["price"], source["big"], source["zip"], source["flag"], source["tags"]]
        assert back[0] == expected[0] and back[2:4] == tuple(expected[2:4]) and back[4] == expected[4]
        assert (back[1] is None) if expected[1] is None else Decimal(repr(back[1])) == expected[1]
        assert json.loads(back[5]) == expected[5]
