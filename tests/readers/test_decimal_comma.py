"""Decimal-comma columns through the CLI (``--decimal-separator ,``): which stay text, the
missing-value spellings in them, and the text their reject reasons quote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loader.cli import main
from tests.conftest import sqlite_rows


def load(capsys: pytest.CaptureFixture[str], src: Path, *args: str) -> tuple[int, str]:
    code = main(["load", str(src), str(src.with_suffix(".db")), "--table", "t", "--decimal-separator", ",", *args])
    return code, capsys.readouterr().err


def rejects(src: Path) -> list[tuple[Any, ...]]:
    path = Path(f"{src.with_suffix('.db')}.table-t.rejects.jsonl")
    if not path.exists():
        return []
    return [(r["row"], r["column"], r["reason"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_number_column_holding_a_point_stays_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    src = tmp_path / "de.csv"
    src.write_text("id;menge;preis\n1;1.234;3,50\n2;2.500;4,25\n")
    assert load(capsys, src, "--engine", engine, "-q") == (0, "")
    db = src.with_suffix(".db")
    assert sqlite_rows(db, "SELECT typeof(menge), menge, typeof(preis), preis FROM t") == [
        ("text", "1.234", "real", 3.5),
        ("text", "2.500", "real", 4.25),
    ]
    assert rejects(src) == []


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("id,v\n1,0.5\n2,0.25\n", ["0.5", "0.25"]),  # every value a float with a point
        ("id;v\n1;12\n2;1.234\n3;7\n", ["12", "1.234", "7"]),  # integers and a thousand
    ],
)
def test_point_numbers_are_text_for_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, stored: list[str]
) -> None:
    src = tmp_path / "p.csv"
    src.write_text(text)
    assert load(capsys, src, "-q") == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT typeof(v), v FROM t ORDER BY id") == [
        ("text", s) for s in stored
    ]
    assert rejects(src) == []


@pytest.mark.parametrize(
    "flags",
    [(), ("--infer-rows", "1"), ("--columns", "v=float64")],
    ids=["in-sample", "past-sample", "declared"],
)
def test_a_missing_value_spelling_with_a_point_loads_as_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    src = tmp_path / "na.csv"
    src.write_text("id;v\n1;3,5\n2;k.A.\n3;4,25\n")
    assert load(capsys, src, "--na-values", "k.A.", *flags, "-q") == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT typeof(v), v FROM t ORDER BY id") == [
        ("real", 3.5),
        ("null", None),
        ("real", 4.25),
    ]
    assert rejects(src) == []


def test_a_point_outside_the_missing_value_spellings_is_still_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "na.csv"
    src.write_text("id;v\n1;3,5\n2;k.A.\n3;1.500\n")
    assert load(capsys, src, "--na-values", "k.A.", "--columns", "v=float64", "-q")[0] == 0
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, v FROM t ORDER BY id") == [(1, 3.5), (2, None)]
    assert rejects(src) == [(3, "v", "'1.500' holds a '.' but source.decimal_separator is ','")]


def test_reject_reasons_quote_the_files_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "ic.csv"
    src.write_text("id;v\n1;3\n2;1,5\n")
    assert load(capsys, src, "--infer-rows", "1", "-q")[0] == 0
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, v FROM t") == [(1, 3)]
    assert rejects(src) == [(2, "v", "'1,5' is not a valid int64")]
    src = tmp_path / "fl.csv"
    src.write_text("id;v\n1;1,5\n2;0,10000000000000000001\n")
    assert load(capsys, src, "--infer-rows", "1", "-q")[0] == 0
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, v FROM t") == [(1, 1.5)]
    assert rejects(src) == [
        (
            2,
            "v",
            "'0,10000000000000000001' would be stored as 0.1 by float64 (declare the column as decimal(p, s) or string)",
        )
    ]
