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


# ------------------------------------------------------------------ thousands separators


def load_thousands(capsys: pytest.CaptureFixture[str], src: Path, *args: str) -> tuple[int, str]:
    code = main(["load", str(src), str(src.with_suffix(".db")), "--table", "t", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_us_excel_numbers_quoted_with_thousands_commas_load_as_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    src = tmp_path / "us.csv"
    src.write_text('id,amount,qty\n1,"1,234.56","1,234"\n2,"12,345,678.9",7\n3,-5.5,"-1,000"\n')
    assert load_thousands(capsys, src, "--thousands-separator", ",", "--engine", engine, "-q") == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT typeof(amount), amount, typeof(qty), qty FROM t") == [
        ("real", 1234.56, "integer", 1234),
        ("real", 12345678.9, "integer", 7),
        ("real", -5.5, "integer", -1000),
    ]
    assert rejects(src) == []


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_german_excel_numbers_with_thousands_points_and_decimal_commas_load_as_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    src = tmp_path / "de.csv"  # the delimiter detected: ';', every comma and point is inside a number
    src.write_text("id;betrag;menge\n1;1.234,56;1.234\n2;12.345.678,9;7\n3;-5,5;-1.000\n")
    flags = ("--decimal-separator", ",", "--thousands-separator", ".", "--engine", engine, "-q")
    assert load_thousands(capsys, src, *flags) == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT typeof(betrag), betrag, typeof(menge), menge FROM t") == [
        ("real", 1234.56, "integer", 1234),  # 1.234 is a thousand, never 1.234
        ("real", 12345678.9, "integer", 7),
        ("real", -5.5, "integer", -1000),
    ]
    assert rejects(src) == []


def test_unquoted_us_numbers_in_a_semicolon_file_detect_the_semicolon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "sc.csv"
    src.write_text("id;v\n1;1,234.5\n2;2,000\n")
    assert load_thousands(capsys, src, "--thousands-separator", ",", "-q") == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, v FROM t") == [(1, 1234.5), (2, 2000.0)]


@pytest.mark.parametrize("bad", ["1,23", "12,3456", ",123", "123,", "0,123", "1,234,56"])
def test_a_thousands_separator_out_of_place_leaves_an_inferred_column_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    src = tmp_path / "m.csv"
    src.write_text(f'id,v\n1,"1,234"\n2,"{bad}"\n')
    assert load_thousands(capsys, src, "--thousands-separator", ",", "-q") == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT typeof(v), v FROM t ORDER BY id") == [
        ("text", "1,234"),
        ("text", bad),
    ]
    assert rejects(src) == []


@pytest.mark.parametrize(
    "flags",
    [("--infer-rows", "1"), ("--columns", "v=int64"), ("--columns", "v=float64")],
    ids=["past-sample", "declared-int", "declared-float"],
)
def test_a_thousands_separator_out_of_place_in_a_numeric_column_rejects_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    src = tmp_path / "m.csv"
    src.write_text("id;v\n1;1.234\n2;1.23\n3;12.3456\n4;5\n")
    args = ("--decimal-separator", ",", "--thousands-separator", ".", *flags, "-q")
    assert load_thousands(capsys, src, *args) == (0, "")
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, v FROM t ORDER BY id") == [(1, 1234), (4, 5)]
    why = "holds a '.' outside groups of three digits (source.thousands_separator is '.': 1.234.567)"
    assert rejects(src) == [(2, "v", f"'1.23' {why}"), (3, "v", f"'12.3456' {why}")]


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ("--thousands-separator", "."),
            "source.thousands_separator: '.' is also source.decimal_separator\n"
            "  hint: the decimal separator is '.' unless decimal_separator = ',' (then thousands '.' fits)\n",
        ),
        (
            ("--thousands-separator", ",", "--decimal-separator", ","),
            "source.thousands_separator: ',' is also source.decimal_separator\n"
            "  hint: the decimal separator is '.' unless decimal_separator = ',' (then thousands '.' fits)\n",
        ),
        (
            ("--thousands-separator", ",", "--delimiter", ",", "--quote-char", "false"),
            "source.thousands_separator: ',' is also source.delimiter, and source.quote_char is false:"
            " an unquoted 1,234 is two fields\n"
            '  hint: give the file\'s quote character, where its numbers are quoted ("1,234.56")\n',
        ),
    ],
    ids=["decimal-point", "decimal-comma", "unquoted-delimiter"],
)
def test_a_thousands_separator_no_number_could_be_read_with_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], error: str
) -> None:
    src = tmp_path / "r.csv"
    src.write_text("id,v\n1,2\n")
    assert load_thousands(capsys, src, *flags) == (2, f"loader: error: {error}")
    assert not src.with_suffix(".db").exists()


def test_the_thousands_separator_is_a_job_file_key_and_an_environment_variable(tmp_path: Path) -> None:
    from loader.config import load_job

    job = tmp_path / "job.toml"
    job.write_text('[source]\npath = "x.csv"\nthousands_separator = ","\n[sink]\npath = "x.db"\ntable = "t"\n')
    assert load_job(job, env={}).source.thousands_separator == ","
    env = {"LOADER_SOURCE__THOUSANDS_SEPARATOR": ".", "LOADER_SOURCE__DECIMAL_SEPARATOR": ","}
    assert load_job(job, env=env).source.thousands_separator == "."


def test_a_column_without_the_separator_is_converted_unchanged() -> None:
    """The vectorised reading: a column no value of which holds the separator is returned as it was."""
    import pyarrow as pa

    from loader.readers.decimal_comma import NumberStyle, pointed, strays

    style = NumberStyle(".", ",")
    text = pa.array(["1", "2.5", None, "1,234.5", "1,23"])
    assert pointed(text, style).to_pylist() == [b"1", b"2.5", None, b"1234.5", b"1,23"]
    assert strays(text, style).to_pylist() == [False, False, False, False, True]
    assert pointed(pa.array(["1", "2.5"]), style).to_pylist() == [b"1", b"2.5"]
