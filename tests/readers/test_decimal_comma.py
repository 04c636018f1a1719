"""Decimal-comma columns through the CLI (``--decimal-separator ,``): which stay text."""

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
