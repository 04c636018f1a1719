"""CSV dialect detection, decimal commas, and the nothing-loaded exit (issue 17, items 3 and 4)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from loader.cli import main
from loader.config import SourceConfig
from loader.errors import EXIT_NOTHING_LOADED, SourceError
from loader.readers import open_reader
from loader.readers.dialect import Dialect, nothing_loaded_cause, numeric_commas, sniff
from tests.conftest import sqlite_rows
from tests.reliability_util import cli, env, reject_lines, rejects_of


def read(
    path: Path, chunk_size: int = 65536, resume: dict[str, Any] | None = None, **kw: Any
) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    config = SourceConfig(path=[str(path)], format="csv", **kw)
    with open_reader(str(path), config, chunk_size=chunk_size, resume=resume) as r:
        chunks = list(r)
    return r, [row for c in chunks for row in c.batch.to_pylist()], chunks


@pytest.mark.parametrize(
    ("name", "text", "delimiter"),
    [
        ("semi.csv", "id;name;price\n1;ann;3\n2;bob;4\n", ";"),
        ("tab.txt", "id\tname\tprice\n1\tann\t3\n2\tbob\t4\n", "\t"),
        ("pipe.csv", "id|name|price\n1|ann|3\n2|bob|4\n", "|"),
        ("comma.csv", "id,name,price\n1,ann,3\n2,bob,4\n", ","),
    ],
)
def test_delimiter_is_detected(tmp_path: Path, name: str, text: str, delimiter: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    r, rows, _ = read(p)
    assert r.dialect == Dialect(delimiter, '"', True, ("delimiter", "quote", "header"))
    assert rows == [{"id": 1, "name": "ann", "price": 3}, {"id": 2, "name": "bob", "price": 4}]


def test_quoted_fields_holding_the_other_delimiters(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text('a;b;c\n"x,y|z";"1,5";"tab\there"\n"p,q";"2,5";"r|s"\n')
    r, rows, _ = read(p)
    assert r.dialect.delimiter == ";"
    assert rows == [{"a": "x,y|z", "b": "1,5", "c": "tab\there"}, {"a": "p,q", "b": "2,5", "c": "r|s"}]
    p.write_text('a,b\n"x;y;z",1\n"p;q;r",2\n"u;v;w",3\n')
    r, rows, _ = read(p)
    assert r.dialect.delimiter == "," and rows[0] == {"a": "x;y;z", "b": 1}


def test_single_quote_is_detected_where_it_encloses_fields(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("name,n\n'Smith, J',1\n'Doe, A',2\n")
    r, rows, _ = read(p)
    assert r.dialect.quote == "'" and rows == [{"name": "Smith, J", "n": 1}, {"name": "Doe, A", "n": 2}]
    p.write_text("name,n\nO'Brien,1\nD'Arcy,2\n")  # apostrophes inside fields are not quotes
    r, rows, _ = read(p)
    assert r.dialect.quote == '"' and rows[0] == {"name": "O'Brien", "n": 1}


def test_single_quote_is_detected_beside_double_quotes_in_fields(tmp_path: Path) -> None:
    """Python's csv.writer(quotechar="'"): one " anywhere in the sample made the file unquoted,
    its columns named "'id'" and its values kept their quotes, with exit 0."""
    p = tmp_path / "sq.csv"
    p.write_text("'id','name'\n1,'5\" pipe'\n2,'x'\n3,'y, z'\n")
    r, rows, _ = read(p)
    assert r.dialect.quote == "'"
    assert rows == [{"id": 1, "name": '5" pipe'}, {"id": 2, "name": "x"}, {"id": 3, "name": "y, z"}]
    p.write_text('name,size\n"O\'Brien, J",12" pipe\n\'x\' y,"3, 4"\n')  # " encloses fields, ' does not
    r, rows, _ = read(p)
    assert r.dialect.quote == '"' and rows == [
        {"name": "O'Brien, J", "size": '12" pipe'},
        {"name": "'x' y", "size": "3, 4"},
    ]


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
@pytest.mark.parametrize(
    "notes",
    [
        ["Great product", "Arrived late,\nbut works", "It's fine"],
        ["Great product", "Arrived late,\nbut works", "It's fine", "'x'"],
        ["Great product", "two\nlines", "'x'"],  # ' splits it into rows of one field too
    ],
)
def test_an_apostrophe_does_not_make_a_one_column_file_single_quoted(
    tmp_path: Path, quoting: int, notes: list[str]
) -> None:
    """pandas' to_csv of one text column: ' won on the split rows' score, so the multi-line value
    was split (or rejected) and every value kept its ", the column named '"comment"' too."""
    p = tmp_path / "reviews.csv"
    pd.DataFrame({"comment": notes}).to_csv(p, index=False, quoting=quoting)
    r, rows, _ = read(p)
    assert r.dialect.quote == '"' and rows == [{"comment": n} for n in notes]


def test_a_quote_given_as_the_delimiter_is_not_the_quote(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text('a"b"c\n1"2"3\n')
    r, rows, _ = read(p, delimiter='"')
    assert (r.dialect.delimiter, r.dialect.quote, rows) == ('"', None, [{"a": 1, "b": 2, "c": 3}])


def test_no_header_is_detected_and_columns_are_numbered(tmp_path: Path) -> None:
    p = tmp_path / "n.csv"
    p.write_text("1,ann,2026-01-02\n2,bob,2026-01-03\n")
    r, rows, _ = read(p)
    assert (r.dialect.header, r.schema.names) == (False, ["column_1", "column_2", "column_3"])
    assert [row["column_1"] for row in rows] == [1, 2]


def test_an_empty_first_line_is_still_an_empty_header(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("\n1,2\n3,4\n")  # data-like rows after it must not make it a header-less file
    with pytest.raises(SourceError, match="header row is empty"):
        read(p)


@pytest.mark.parametrize(
    "text, header, rows",
    [
        ("14,14\n", False, [{"column_1": 14, "column_2": 14}]),  # statsmodels' one-line files
        ("0.00,0.00,1.00\n", False, [{"column_1": 0.0, "column_2": 0.0, "column_3": 1.0}]),
        ("2024-05-01,7\n", False, [{"column_1": dt.date(2024, 5, 1), "column_2": 7}]),
        ("id,2024\n", True, []),  # a name: a header-only export
    ],
)
def test_a_single_line_of_numbers_or_dates_is_a_row_not_a_header(
    tmp_path: Path, text: str, header: bool, rows: list[dict[str, object]]
) -> None:
    """It named columns "14" and "14_2" and loaded nothing, with exit 0."""
    p = tmp_path / "one.csv"
    p.write_text(text)
    r, read_rows, _ = read(p)
    assert (r.dialect.header, read_rows) == (header, rows)


def test_header_over_numbers_is_a_header(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("id,2024\n1,5\n2,6\n")  # a numeric name, but 'id' is text over numbers
    r, rows, _ = read(p)
    assert r.dialect.header and r.schema.names == ["id", "2024"] and len(rows) == 2


@pytest.mark.parametrize(
    ("text", "names", "first"),
    [
        # pandas' df.pivot().to_csv(): dates naming columns of numbers
        ("store,2024-01-01,2024-01-02\nA,10,30\nB,20,40\n", ["store", "2024-01-01", "2024-01-02"], 30),
        ("country,code,2023\nFrance,FR,yes\nSpain,ES,no\n", ["country", "code", "2023"], "yes"),  # a year over text
        ("region,2019,2020\nNorth,1.5,2.5\nSouth,2.0,3.25\n", ["region", "2019", "2020"], 2.5),  # years over decimals
    ],
)
def test_numbers_or_dates_naming_columns_of_another_kind_are_a_header(
    tmp_path: Path, text: str, names: list[str], first: object
) -> None:
    """The first row loaded as a data row of column_1..column_3, all TEXT, with exit 0."""
    p = tmp_path / "pivot.csv"
    p.write_text(text)
    r, rows, _ = read(p)
    assert (r.dialect.header, r.schema.names, len(rows)) == (True, names, 2)
    assert rows[0][names[-1]] == first


@pytest.mark.parametrize(
    "text",
    [
        "1,2\n2,2.5\n3,3.5\n",  # numbers over numbers: a whole number may sit in a decimal column
        "2019,2020\n1.5,2.5\n",  # numbers only: no name among them
        "1,ann,2.5\n2,bob,3\n",  # each number and date of its column's kind
        "5\nNA\nNA\n",  # NA says nothing of its column's kind
        "apple,1\nbanana,0.5\ncherry,2.25\n",  # a whole number over decimals names a column as a year only
    ],
)
def test_a_first_row_of_numbers_like_its_columns_is_data(tmp_path: Path, text: str) -> None:
    p = tmp_path / "data.csv"
    p.write_text(text)
    r, rows, _ = read(p)
    assert (r.dialect.header, r.schema.names[0], len(rows)) == (False, "column_1", text.count("\n"))


def test_given_dialect_is_never_overridden(tmp_path: Path) -> None:
    p = tmp_path / "g.csv"
    p.write_text("a;b\n1;2\n3;4\n")
    r, rows, _ = read(p, delimiter=",")
    assert r.dialect == Dialect(",", '"', True, ("quote", "header")) and rows == [{"a;b": "1;2"}, {"a;b": "3;4"}]
    p.write_text("1,2\n3,4\n")
    r, rows, _ = read(p, header=True, quote_char=False)
    assert r.dialect == Dialect(",", None, True, ("delimiter",)) and rows == [{"1": 3, "2": 4}]


def test_tsv_ties_go_to_a_tab_and_a_csv_to_a_comma(tmp_path: Path) -> None:
    one = "name\nann\nbob\n"  # one column: every candidate ties
    for name, expected in (("x.tsv", "\t"), ("x.tsv.gz", "\t"), ("x.csv", ",")):
        p = tmp_path / name
        p.write_bytes(gzip.compress(one.encode()) if name.endswith(".gz") else one.encode())
        assert read(p)[0].dialect.delimiter == expected


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``loader ARGS`` in this process (as tests/test_cli.py's subprocess, at a fraction of the cost)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_on_a_tsv_uses_the_tab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "t.tsv"
    p.write_text("id\tcity\n1\tOslo, NO\n2\tBergen\n")
    code, out, err = run_cli(capsys, "inspect", str(p), "--rows", "1")
    assert (code, err) == (0, "")
    assert out == (
        f"{p}: 2 columns\n"
        "dialect: delimiter '\\t' (detected), quote '\"' (detected), header (detected)\n"
        "  id    int64\n  city  string\nfirst rows:\n  id=1, city='Oslo, NO'\n"
    )


def test_detected_dialect_in_dry_run_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "semi.csv"
    p.write_text("id;name\n1;ann\n2;bob\n")
    db, report = tmp_path / "s.db", tmp_path / "r.json"
    code, out, _ = run_cli(capsys, "load", str(p), str(db), "--dry-run")
    assert code == 0
    assert f"dialect ({p}): delimiter ';' (detected), quote '\"' (detected), header (detected)\n" in out
    code, _, err = run_cli(capsys, "load", str(p), str(db), "--report", str(report))
    assert code == 0, err
    assert sqlite_rows(db, "SELECT id, name FROM semi") == [(1, "ann"), (2, "bob")]
    entry = json.loads(report.read_text())["files"][0]["dialect"]
    assert entry == {"delimiter": ";", "quote": '"', "header": True, "detected": ["delimiter", "quote", "header"]}


def test_dry_run_shows_each_dialect_with_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "dd"
    d.mkdir()
    (d / "a.csv").write_text("id,name\n1,ann\n")
    (d / "b.csv").write_text("id;name\n2;bob\n")
    for i in range(5):
        (d / f"c{i}.csv").write_text(f"id,name\n{i + 3},cy\n")
    code, out, err = run_cli(capsys, "load", str(d / "*.csv"), str(tmp_path / "dd.db"), "--table", "t", "--dry-run")
    assert (code, err) == (0, "")
    detected = "quote '\"' (detected), header (detected)"
    assert [line for line in out.splitlines() if line.startswith("dialect")] == [
        f"dialect ({d / 'a.csv'}, {d / 'c0.csv'}, {d / 'c1.csv'} and 3 more): delimiter ',' (detected), {detected}",
        f"dialect ({d / 'b.csv'}): delimiter ';' (detected), {detected}",
    ]
    assert not (tmp_path / "dd.db").exists()


def test_stdin_and_gzip_are_sniffed_from_what_is_read_once(tmp_path: Path) -> None:
    text = "id;v\n" + "".join(f"{i};x{i}\n" for i in range(20000))  # > the 64 KiB sample
    db = tmp_path / "in.db"
    p = subprocess.run(
        [sys.executable, "-m", "loader", "load", "-", str(db), "--table", "t", "-q"],
        input=text,
        capture_output=True,
        text=True,
        env=env(None),
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT count(*), sum(id), max(v) FROM t") == [(20000, 199990000, "x9999")]
    gz = tmp_path / "g.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    r, rows, _ = read(gz)
    assert r.dialect.delimiter == ";" and len(rows) == 20000


def test_resume_keeps_the_recorded_dialect(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("a;b\n" + "".join(f"{i};{i}\n" for i in range(10)))
    _, rows, chunks = read(p, chunk_size=4)
    end = chunks[0].end
    assert end["dialect"] == {
        "delimiter": ";",
        "quote": '"',
        "header": True,
        "detected": ["delimiter", "quote", "header"],
    }
    _, rest, _ = read(p, chunk_size=4, resume=end)
    assert rest == rows[4:]
    # what the checkpoint says wins over a fresh sniff
    forced = dict(end, dialect={"delimiter": ",", "quote": '"', "header": True, "detected": []})
    r, _, _ = read(p, chunk_size=4, resume=forced)
    assert r.schema.names == ["a;b"]


def test_decimal_commas_stay_text_unless_declared(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("id;price;label\n1;3,50;a.b\n2;4,25;x\n3;10;y,z\n")
    r, rows, _ = read(p)
    assert r.schema.field("price").type == pa.string() and rows[0]["price"] == "3,50"
    r, rows, _ = read(p, decimal_separator=",")
    assert {f.name: f.type for f in r.schema} == {"id": pa.int64(), "price": pa.float64(), "label": pa.string()}
    assert rows == [
        {"id": 1, "price": 3.5, "label": "a.b"},  # text columns keep their own characters
        {"id": 2, "price": 4.25, "label": "x"},
        {"id": 3, "price": 10.0, "label": "y,z"},
    ]
    r, rows, _ = read(p, decimal_separator=",", columns={"price": "decimal(10, 2)"})
    assert [str(row["price"]) for row in rows] == ["3.50", "4.25", "10.00"]


def test_the_declared_decimal_separator_is_never_the_delimiter(tmp_path: Path) -> None:
    """`,` was sniffed as the delimiter of a one-column file of decimal commas: every row rejected."""
    p = tmp_path / "b.csv"
    p.write_text("Betrag\n1,5\n2,5\n")
    r, rows, _ = read(p, decimal_separator=",")
    assert (r.dialect.delimiter, rows) == (";", [{"Betrag": 1.5}, {"Betrag": 2.5}])
    p.write_text("id|Betrag\n1|1,5\n2|2,5\n")
    r, rows, _ = read(p, decimal_separator=",")
    assert (r.dialect.delimiter, rows) == ("|", [{"id": 1, "Betrag": 1.5}, {"id": 2, "Betrag": 2.5}])
    p.write_text('id,Betrag\n1,"1,5"\n2,"2,5"\n')  # a comma between letters: a delimiter still
    r, rows, _ = read(p, decimal_separator=",")
    assert (r.dialect.delimiter, rows) == (",", [{"id": 1, "Betrag": 1.5}, {"id": 2, "Betrag": 2.5}])


@pytest.mark.parametrize("option", [{"thousands_separator": ","}, {"decimal_separator": ","}])
def test_a_declared_comma_separator_keeps_the_comma_a_delimiter_where_it_wins_alone(
    tmp_path: Path, option: dict[str, str]
) -> None:
    """A headerless edge list (``1001,2002``) given a comma separator loaded as one text (or
    REAL) column: the comma was dropped as a candidate wherever every comma sat between digits."""
    p = tmp_path / "edges.csv"
    p.write_text("1001,2002\n1002,2050\n1003,2002\n")
    r, rows, _ = read(p, **option)
    assert (r.dialect.delimiter, [tuple(row.values()) for row in rows]) == (
        ",",
        [(1001, 2002), (1002, 2050), (1003, 2002)],
    )


def test_grouped_thousands_under_a_header_keep_the_comma_out() -> None:
    """Where the comma's rows disagree on their width (a header without it), it is no delimiter;
    ``1,234`` is grouped thousands, ``1001,2002`` and ``1,2`` are not."""
    config = SourceConfig(path=["x.csv"], thousands_separator=",")
    assert sniff(config, "x.csv", b"amount\n1,234\n12,345,678\n", True).delimiter == ";"
    assert numeric_commas(config, "amount\n1,234\n12,345,678\n")
    assert not numeric_commas(config, "1001,2002\n") and not numeric_commas(config, "1,2\n")
    assert numeric_commas(SourceConfig(path=["x.csv"], decimal_separator=","), "1,2\n")


@pytest.mark.parametrize(
    ("name", "text", "delimiter", "first"),
    [
        # a logger's decimal commas, as many as its semicolons: `5;45` fits no type
        (
            "logger.csv",
            "2024-01-01 10:00;21,5;45,2\r\n2024-01-01 10:10;21,7;45,0\r\n2024-01-01 10:20;22,1;44,8\r\n",
            ";",
            ["2024-01-01 10:00", "21,5", "45,2"],
        ),
        ("two.csv", "12,5;3,75\n1,25;0,5\n7,0;8,25\n", ";", ["12,5", "3,75"]),
        # a header-less tab export whose names hold one comma a row
        ("names.txt", "Smith, John\t42\r\nDoe, Jane\t37\r\nRoe, Rick\t51\r\n", "\t", ["Smith, John", "42"]),
    ],
)
def test_a_delimiter_inside_every_value_loses_to_the_one_between_them(
    tmp_path: Path, name: str, text: str, delimiter: str, first: list[str]
) -> None:
    """The comma tied (or beat) the real delimiter and split every value: exit 0, corrupt rows."""
    p = tmp_path / name
    p.write_bytes(text.encode())
    r, rows, _ = read(p)
    assert (r.dialect.delimiter, r.dialect.header) == (delimiter, False)
    assert [
        str(v) if not isinstance(v, dt.datetime) else v.strftime("%Y-%m-%d %H:%M") for v in rows[0].values()
    ] == first
    assert len(rows) == 3


def test_a_comma_in_a_header_name_does_not_split_decimal_commas(tmp_path: Path) -> None:
    p = tmp_path / "de.csv"
    p.write_bytes(b"Datum;Umsatz, EUR;Anteil, %\r\n31.12.2024;1234,56;12,5\r\n01.01.2025;99,90;0,75\r\n")
    r, rows, _ = read(p, decimal_separator=",")
    assert r.dialect.delimiter == ";"
    assert rows == [
        {"Datum": "31.12.2024", "Umsatz, EUR": 1234.56, "Anteil, %": 12.5},
        {"Datum": "01.01.2025", "Umsatz, EUR": 99.9, "Anteil, %": 0.75},
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_decimal_comma_logger_loads_its_three_columns(tmp_path: Path, engine: str) -> None:
    p = tmp_path / "logger.csv"
    p.write_bytes(b"2024-01-01 10:00;21,5;45,2\r\n2024-01-01 10:10;21,7;45,0\r\n")
    db = tmp_path / "out.db"
    done = cli("load", str(p), str(db), "--table", "t", "--engine", engine)
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "select column_2, column_3 from t") == [("21,5", "45,2"), ("21,7", "45,0")]


def test_decimal_comma_rejects_a_point_instead_of_reading_a_thousand_as_one(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("id;amount\n1;1.500\n2;2,5\n")
    r, rows, _ = read(p, decimal_separator=",")
    assert r.schema.field("amount").type == pa.string()  # inferred: a '.' rules the number out
    _, rows, chunks = read(p, decimal_separator=",", columns={"amount": "float64"})
    assert rows == [{"id": 2, "amount": 2.5}]
    [reject] = [j for c in chunks for j in c.rejects]
    assert (reject.row, reject.column, reject.reason) == (
        1,
        "amount",
        "'1.500' holds a '.' but source.decimal_separator is ','",
    )


def test_nothing_loaded_exits_4_naming_the_delimiter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "eu.csv"
    p.write_text("a;b\n1;3,50\n2;4,25\n3;1,5\n")
    db, report = tmp_path / "eu.db", tmp_path / "r.json"
    run = cli("load", str(p), str(db), "--delimiter", ",", "--report", str(report))  # a real process: the exit status
    assert run.returncode == EXIT_NOTHING_LOADED == 4
    assert run.stderr.splitlines()[-2:] == [
        f"loader: error: {p}: nothing loaded: all 3 rows have 2 fields but the header has 1; "
        "the file looks ';'-delimited: try --delimiter ';'",
        f"  hint: rejected rows are in {db}.table-eu.rejects.jsonl; rerun with that as it is: a file none of "
        "whose rows loaded is read again under other source options, the job's other files are not",
    ]
    data = json.loads(report.read_text())
    assert (data["status"], data["exit_code"], data["rows_read"], data["rows_rejected"]) == ("nothing_loaded", 4, 3, 3)
    again = run_cli(capsys, "load", str(p), str(db), "--delimiter", ",", "-q")  # read so already: nothing new
    assert again == (0, "", "")
    # the hint's rerun, as it says: no --restart, and the table the header read at ',' made, column "a;b", made anew
    dry = cli("load", str(p), str(db), "--delimiter", ";", "--decimal-separator", ",", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"  {p}: none of it loaded: read again with other source options" in dry.stdout.splitlines()
    fixed = run_cli(capsys, "load", str(p), str(db), "--delimiter", ";", "--decimal-separator", ",", "-q")
    assert fixed == (0, "", "")
    assert sqlite_rows(db, "SELECT a, b FROM eu") == [(1, 3.5), (2, 4.25), (3, 1.5)]
    assert [c[1] for c in sqlite_rows(db, "PRAGMA table_info(eu)")] == ["a", "b"]
    assert len(reject_lines(Path(f"{db}.table-eu.rejects.jsonl"))) == 3  # the first read's, once
    assert run_cli(capsys, "load", str(p), str(db), "--delimiter", ";", "--decimal-separator", ",", "-q") == (0, "", "")
    assert sqlite_rows(db, "SELECT count(*) FROM eu") == [(3,)]


def test_nothing_loaded_from_8_bit_text_names_the_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.csv"
    p.write_bytes("id,t\n1,café\n2,naïve\n".encode("cp1252"))
    db = tmp_path / "c.db"
    code, _, err = run_cli(capsys, "load", str(p), str(db), "--table", "t", "-q")
    assert code == EXIT_NOTHING_LOADED
    assert err.splitlines()[0] == (
        f"loader: error: {p}: nothing loaded: all 2 rows were rejected (invalid UTF-8 in 'caf\\xe9'); "
        "the file reads as cp1252: try --encoding cp1252"
    )
    # what it says to try, no --restart: the file none of whose rows loaded is read again, once
    again = run_cli(capsys, "load", str(p), str(db), "--table", "t", "--encoding", "cp1252", "-q")
    assert again == (0, "", "")
    assert run_cli(capsys, "load", str(p), str(db), "--table", "t", "--encoding", "cp1252", "-q") == (0, "", "")
    assert sqlite_rows(db, "SELECT id, t FROM t") == [(1, "café"), (2, "naïve")]


def test_empty_input_is_still_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "h.csv"
    p.write_text("a;b\n")
    assert run_cli(capsys, "load", str(p), str(tmp_path / "h.db"), "-q") == (0, "", "")


def test_every_row_an_ignored_duplicate_is_not_nothing_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.csv").write_text("id,v\n1,x\n2,y\n")
    (tmp_path / "b.csv").write_text("id,v\n1,z\n2,w\n")
    db = tmp_path / "i.db"
    flags = ("--table", "t", "--mode", "ignore", "--primary-key", "id", "-q")
    assert run_cli(capsys, "load", str(tmp_path / "a.csv"), str(db), *flags) == (0, "", "")
    assert run_cli(capsys, "load", str(tmp_path / "b.csv"), str(db), *flags) == (0, "", "")
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(1, "x"), (2, "y")]


def test_all_filtered_is_nothing_loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "f.csv"
    p.write_text("a,b\n1,x\n2,y\n")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{p}"\n[[transform]]\ntype = "filter"\nwhere = "a > 5"\n[sink]\npath = "{tmp_path / "f.db"}"\n'
    )
    run = cli("run", str(job), "-q")
    assert run.returncode == 4
    assert (
        run.stderr.splitlines()[0]
        == f"loader: error: {p}: nothing loaded: all 2 rows were filtered out by the transforms"
    )


def test_nothing_loaded_causes() -> None:
    config = SourceConfig(path=["x.csv"])
    assert (
        nothing_loaded_cause(5, 2, 3, Counter(), None, config, None).text
        == "5 rows read and none written: 2 rejected, 3 filtered out"
    )
    why = Counter({"'x' is not a valid int64": 2})
    assert (
        nothing_loaded_cause(2, 2, 0, why, None, config, None).text
        == "all 2 rows were rejected ('x' is not a valid int64)"
    )
    one = Counter({"'x' is not a valid int64": 1})
    assert (
        nothing_loaded_cause(1, 1, 0, one, None, config, None).text
        == "the one row was rejected ('x' is not a valid int64)"
    )
    assert (
        nothing_loaded_cause(1, 0, 1, Counter(), None, config, None).text
        == "the one row was filtered out by the transforms"
    )
    widths = Counter({"expected 3 fields, found 2": 4})
    no_header = {"delimiter": ",", "header": False}
    assert (
        nothing_loaded_cause(4, 4, 0, widths, None, config, no_header).text
        == "all 4 rows have 2 fields but the first row has 3"
    )


def test_sniff_is_deterministic_and_cut_rows_do_not_count() -> None:
    config = SourceConfig(path=["x.csv"])
    head = b"a;b;c\n" + b"1;2;3\n" * 50 + b"4;5"  # the sample ends inside a row
    assert sniff(config, "x.csv", head, complete=False) == sniff(config, "x.csv", head, complete=False)
    assert sniff(config, "x.csv", head, complete=False).delimiter == ";"


BCP = b'1|"Deluxe" pack|2\r\n2|plain|3\r\n3|"quoted"|4\r\n4|12" pipe|5\r\n'


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_an_unquoted_export_s_values_keep_their_quotes(tmp_path: Path, engine: str) -> None:
    """bcp, MySQL OUTFILE and psql -A never quote: ``"Deluxe" pack`` (text after a closing
    quote) counts against ``"`` as the quote. It was sniffed as the quote and the values lost theirs."""
    (tmp_path / "b.txt").write_bytes(BCP)
    db = tmp_path / "b.db"
    args = ("load", str(tmp_path / "b.txt"), str(db), "--table", "t", "--column-names", "id,name,n")
    p = cli(*args, "--engine", engine)
    assert (p.returncode, p.stderr.split(" in ")[0]) == (0, f"ok: 4 rows written to {db} (table t) from 1 file")
    assert sqlite_rows(db, "SELECT name FROM t ORDER BY id") == [
        ('"Deluxe" pack',),
        ("plain",),
        ('"quoted"',),
        ('12" pipe',),
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_text_after_a_closing_quote_rejects_the_row_naming_the_column_and_the_text(tmp_path: Path, engine: str) -> None:
    """Where ``"`` is the quote, ``"Deluxe" pack`` is no CSV value (DuckDB refuses it): the row
    is rejected, not loaded as ``Deluxe pack``."""
    (tmp_path / "b.txt").write_bytes(BCP)
    db = tmp_path / "b.db"
    args = ("load", str(tmp_path / "b.txt"), str(db), "--table", "t", "--column-names", "id,name,n")
    p = cli(*args, "--quote-char", '"', "--engine", engine)
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT id, name FROM t ORDER BY id") == [(2, "plain"), (3, "quoted"), (4, '12" pipe')]
    [reject] = reject_lines(rejects_of(db))
    assert (reject["row"], reject["line"], reject["raw"]) == (1, 1, '1|"Deluxe" pack|2')
    assert reject["reason"] == (
        "text after the closing quote in column 'name': ' pack' "
        "(a value is quoted whole; where quotes are text, --quote-char false reads the file unquoted)"
    )


@pytest.mark.parametrize("block_size", [64, 1 << 20])
def test_a_quoted_file_s_row_with_text_after_a_closing_quote_is_its_one_reject(tmp_path: Path, block_size: int) -> None:
    """Among many quoted values (so ``"`` stays the quote), the one broken row goes, with its
    row and line; rows around it, multi-line and with doubled quotes, load as they were."""
    p = tmp_path / "q.csv"
    rows = [f'{i},"note ""{i}""\nsecond, line",{i}\n' for i in range(40)]
    rows[17] = '17,"ok",18\n'
    rows[20] = '20,"Deluxe" pack, here,21\n'
    p.write_text("id,note,n\n" + "".join(rows))
    r, got, chunks = read(p, block_size=block_size)
    assert r.dialect.quote == '"'
    assert [x["id"] for x in got] == [i for i in range(40) if i != 20]
    assert got[0]["note"] == 'note "0"\nsecond, line' and got[17]["note"] == "ok"
    [reject] = [rj for c in chunks for rj in c.rejects]
    assert (reject.row, reject.raw) == (21, '20,"Deluxe" pack, here,21')
    assert reject.reason.startswith("text after the closing quote in column 'note': ' pack' ")
    assert sum(c.rows_read for c in chunks) == 40


def test_a_stray_quote_early_in_the_sample_keeps_the_delimiter() -> None:
    """Quoted, the comma reading ends in one value that swallows the sample; the
    one-column tab reading must not win over it: a stray quote is the reader's to reject."""
    config = SourceConfig(path=["x.csv"])
    head = b"id,txt\n" + b"".join(b'%d,"never closed\n' % i if i == 7 else b"%d,row %d\n" % (i, i) for i in range(2000))
    dialect = sniff(config, "x.csv", head, complete=False)
    assert (dialect.delimiter, dialect.quote, dialect.header) == (",", '"', True)


# csv-spectrum's tricky cases, rebuilt: (file text, the rows csv-spectrum's JSON expects)
SPECTRUM = {
    "comma_in_quotes": (
        'first,last,address,city,zip\nJohn,Doe,120 any st.,"Anytown, WW",08123\n',
        [{"first": "John", "last": "Doe", "address": "120 any st.", "city": "Anytown, WW", "zip": "08123"}],
    ),
    "escaped_quotes": ('a,b\n1,"ha ""ha"" ha"\n3,4\n', [{"a": "1", "b": 'ha "ha" ha'}, {"a": "3", "b": "4"}]),
    "newlines": (
        'a,b,c\n1,2,3\n"Once upon \na time",5,6\n7,8,9\n',
        [
            {"a": "1", "b": "2", "c": "3"},
            {"a": "Once upon \na time", "b": "5", "c": "6"},
            {"a": "7", "b": "8", "c": "9"},
        ],
    ),
    "quotes_and_newlines": (
        'a,b\n1,"ha \n""ha"" \nha"\n3,4\n',
        [{"a": "1", "b": 'ha \n"ha" \nha'}, {"a": "3", "b": "4"}],
    ),
    "utf8": ("a,b,c\n1,2,3\n4,5,ʤ\n", [{"a": "1", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "ʤ"}]),
    "empty_crlf": ('a,b,c\r\n1,"",""\r\n2,3,4\r\n', [{"a": "1", "b": None, "c": None}, {"a": "2", "b": "3", "c": "4"}]),
}


@pytest.mark.parametrize("case", sorted(SPECTRUM))
def test_csv_spectrum_cases(tmp_path: Path, case: str) -> None:
    text, expected = SPECTRUM[case]
    p = tmp_path / f"{case}.csv"
    p.write_bytes(text.encode())
    names = list(expected[0])
    r, rows, _ = read(p, columns={n: "string" for n in names})  # every value as its text
    assert (r.dialect.delimiter, r.dialect.quote, r.dialect.header) == (",", '"', True)
    assert rows == expected  # an empty field is NULL (source.null_values), where the JSON has ""


def test_each_file_of_a_load_is_sniffed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load opens each file for its types, then to read it: the second open takes the
    dialect the first found (a sniff of the same head under the same settings)."""
    import loader.readers.dialect as dialect
    from loader.api import load

    sniffed: list[str] = []
    real = dialect._sniff

    def counting(config: SourceConfig, path: str, sample: bytes, complete: bool) -> Dialect:
        sniffed.append(path)
        return real(config, path, sample, complete)

    monkeypatch.setattr(dialect, "_sniff", counting)
    for i in range(12):  # a head of its own each: the first value differs
        (tmp_path / f"f{i:02d}.csv").write_text(f"id;name\n{i};a\n{i + 100};b\n")
    report = load(str(tmp_path / "*.csv"), str(tmp_path / "o.db"), table="t")
    assert (report.rows_written, len(sniffed), len(set(sniffed))) == (24, 12, 12)
    assert sqlite_rows(tmp_path / "o.db", "SELECT count(*), sum(id) FROM t") == [(24, 2 * 66 + 1200)]


def test_a_sniff_remembered_is_one_of_the_same_head_and_settings() -> None:
    head = b"a|b\n1|x\n2|y\n"
    found = sniff(SourceConfig(path=["x.csv"]), "x.csv", head, True)
    assert (found.delimiter, found.header) == ("|", True)
    # the same head under other settings, or another head, is sniffed on its own
    assert sniff(SourceConfig(path=["x.csv"], delimiter=","), "x.csv", head, True).delimiter == ","
    assert sniff(SourceConfig(path=["x.csv"], header=False), "x.csv", head, True).header is False
    assert sniff(SourceConfig(path=["x.csv"]), "x.csv", b"a;b\n1;x\n", True).delimiter == ";"
    assert sniff(SourceConfig(path=["x.csv"]), "x.csv", head, True) == found


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_part_files_that_disagree_on_the_header_are_refused(tmp_path: Path, engine: str) -> None:
    """Sniffed per file, Spark's header-less part-00000 (`A-1` over `17`) lost its first row as a
    header, and the hint said --alter, which loaded the other parts into new columns."""
    parts = tmp_path / "spark"
    parts.mkdir()
    (parts / "part-00000.csv").write_text("A-1,alice,3.5\n17,bob,4.25\n23,carl,1.5\n")
    (parts / "part-00001.csv").write_text("18,dan,2.5\n19,eve,3.0\n")
    db = tmp_path / "out.db"
    done = cli("load", "spark/*.csv", str(db), "--table", "t", "--engine", engine, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "loader: error: spark/part-00001.csv: read without a header, but spark/part-00000.csv with one:"
        " the files of one load are read with one header rule\n"
        "  hint: give --header if every file starts with column names, else --no-header\n"
    )
    assert not db.exists()
    done = cli("load", "spark/*.csv", str(db), "--table", "t", "--engine", engine, "--no-header", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "select column_1 from t order by rowid") == [("A-1",), ("17",), ("23",), ("18",), ("19",)]


def test_part_files_with_headers_alike_load_as_one(tmp_path: Path) -> None:
    for i, rows in enumerate(["1,a\n2,b\n", "3,c\n"]):
        (tmp_path / f"part-{i}.csv").write_text("id,name\n" + rows)
    db = tmp_path / "out.db"
    done = cli("load", str(tmp_path / "part-*.csv"), str(db), "--table", "t")
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "select id, name from t order by id") == [(1, "a"), (2, "b"), (3, "c")]
