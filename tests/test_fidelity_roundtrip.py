"""Differential test: every value stored in SQLite, read back, is the source
text, up to numeric equality for numbers (and instant equality for timestamps).
Files as data tools write them (pandas' to_csv) and committed tiny files."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import math
import re
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

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


_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def as_json_lines(src: Path, dest: Path) -> Path:
    """A CSV file as JSON Lines: a text that is a JSON number is written as that number,
    digit for digit (``12345678901234567890``, ``0.10000000000000000001``), ``true``/``false``
    as booleans, an empty field as null, anything else (``007``, ``+1.5``, ``inf``) as a string."""
    with open(src, newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))

    def value(text: str) -> str:
        if text == "":
            return "null"
        if _JSON_NUMBER.fullmatch(text) or text in ("true", "false"):
            return text
        return json.dumps(text, ensure_ascii=False)

    lines = [
        "{" + ",".join(f"{json.dumps(k)}:{value(v)}" for k, v in zip(header, row, strict=True)) + "}\n" for row in rows
    ]
    opener = gzip.open if dest.suffix == ".gz" else open
    with opener(dest, "wt", encoding="utf-8") as out:  # type: ignore[operator]
        out.write("".join(lines))
    return dest


def source_texts(src: Path) -> tuple[list[str], list[list[str]]]:
    """The header and every value's text, as the file spells it (a JSON number's own digits)."""
    if ".jsonl" not in src.suffixes:
        with open(src, newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh))
        return header, rows
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        objects = [json.loads(line, parse_int=str, parse_float=str) for line in fh]

    def text(v: object) -> str:
        return "" if v is None else ("true" if v else "false") if isinstance(v, bool) else str(v)

    return list(objects[0]), [[text(v) for v in o.values()] for o in objects]


def stored_rows(db: Path) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Table ``t``'s rows in load order and its declared column types."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
        return rows, [r[2] for r in conn.execute("PRAGMA table_info(t)")]
    finally:
        conn.close()


def assert_lossless(src: Path, db: Path) -> list[str]:
    """Load ``src`` into SQLite; compare every stored value with the source text. Returns the column types."""
    report = load(str(src), str(db), table="t")
    assert (report.status, report.rows_rejected) == ("ok", 0)
    header, rows = source_texts(src)
    stored, types = stored_rows(db)
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


# The committed files' SQLite column types, as CSV and as JSON Lines. As JSON, a value that is not
# a JSON number (+1.5, inf) is a string, so its column is text; big and precise stay text as in CSV.
COMMITTED_TYPES = {
    ("numbers.csv", "csv"): ["INTEGER", "TEXT", "REAL", "REAL", "TEXT", "TEXT", "REAL", "TEXT", "REAL"],
    ("numbers.csv", "jsonl"): ["INTEGER", "TEXT", "REAL", "REAL", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT"],
    ("text.csv", "csv"): ["INTEGER", "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER"],
    ("text.csv", "jsonl"): ["INTEGER", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT"],  # "TRUE" is a string in JSON
}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("name", ["numbers.csv", "text.csv"])
def test_committed_files_load_without_loss(tmp_path: Path, name: str, suffix: str) -> None:
    """id, zip (leading zeros), price, tiny, big (beyond int64), precise (would round), signed,
    mixed, ratio (inf, nan); and text with quotes, commas, dates and booleans."""
    src = DATA / "fidelity" / name
    if suffix != ".csv":
        src = as_json_lines(src, tmp_path / (src.stem + suffix))
    types = assert_lossless(src, tmp_path / "t.db")
    assert types == COMMITTED_TYPES[(name, suffix.split(".")[1])]


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


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_pandas_json_lines_load_without_loss(tmp_path: Path, suffix: str) -> None:
    """JSON Lines as pandas writes them: every stored SQLite value is the number or
    string of the file, compared exactly (numbers as decimals, from their text)."""
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
    src = tmp_path / f"frame{suffix}"
    frame.to_json(src, orient="records", lines=True)  # pandas' default: 10 digits after the point; .gz compressed
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert (report.status, report.rows_rejected) == ("ok", 0)
    stored, types = stored_rows(tmp_path / "t.db")
    assert types == ["INTEGER", "REAL", "TEXT", "TEXT", "INTEGER", "TEXT"]
    lines = (
        gzip.decompress(src.read_bytes()).decode().splitlines()
        if suffix.endswith(".gz")
        else src.read_text().splitlines()
    )
    for line, back in zip(lines, stored, strict=True):
        source = json.loads(line, parse_float=Decimal, parse_int=Decimal)
        expected = [source["id"], source["price"], source["big"], source["zip"], source["flag"], source["tags"]]
        assert back[0] == expected[0] and back[2:4] == tuple(expected[2:4]) and back[4] == expected[4]
        assert (back[1] is None) if expected[1] is None else Decimal(repr(back[1])) == expected[1]
        assert json.loads(back[5]) == expected[5]


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_pandas_arrow_files_load_without_loss(tmp_path: Path, kind: str) -> None:
    """Arrow IPC as pandas and pyarrow write it (Feather v2 file, or the stream format): int64 at
    its limits, exact decimals, leading zeros, floats with NaN and infinities, float32, nullable
    integers, timestamps and categoricals are stored in SQLite without loss."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    import pyarrow as pa
    import pyarrow.ipc as ipc

    rng = np.random.default_rng(29)
    n = 300
    price = rng.random(n) * 1000
    price[::37], price[5], price[6] = np.nan, np.inf, -np.inf
    frame = pd.DataFrame(
        {
            "id": [2**63 - 1 - i if i % 2 else -(2**63) + i for i in range(n)],
            "amount": [Decimal(f"{i * 7919:07d}{i:011d}.{i:03d}") for i in range(n)],  # 21 digits: no float holds them
            "zip": [f"{int(z):05d}" for z in rng.integers(0, 99999, n)],
            "price": price,
            "small": rng.random(n).astype("float32"),
            "count": pd.array([None if i % 11 == 0 else i * 7919 for i in range(n)], dtype="Int64"),
            "at": pd.date_range("2024-02-28 23:00", periods=n, freq="37min"),
            "color": pd.Categorical(rng.choice(["red", "green", "blue, dark"], n)),
        }
    )
    src = tmp_path / f"frame.{'feather' if kind == 'file' else 'arrow'}"
    if kind == "file":
        frame.to_feather(src)
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        with ipc.new_stream(str(src), table.schema) as w:
            for batch in table.to_batches(max_chunksize=64):
                w.write_batch(batch)
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert (report.status, report.rows_written, report.rows_rejected) == ("ok", n, 0)
    stored, types = stored_rows(tmp_path / "t.db")
    assert types == ["INTEGER", "TEXT", "TEXT", "REAL", "REAL", "INTEGER", "TEXT", "TEXT"]
    for i, back in enumerate(stored):
        row = frame.iloc[i]
        assert back[0] == int(row["id"]) and Decimal(back[1]) == row["amount"]
        assert back[2] == row["zip"]
        assert back[3] is None if np.isnan(row["price"]) else back[3] == float(row["price"])
        assert back[4] == float(row["small"])
        assert back[5] == (None if pd.isna(row["count"]) else int(row["count"]))
        assert dt.datetime.fromisoformat(back[6]) == row["at"].to_pydatetime() and back[7] == row["color"]
