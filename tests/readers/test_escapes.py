"""Exports with a backslash escape (``loader.readers.csv.escapes``): MySQL's ``INTO OUTFILE``
(``\\N`` NULL), PostgreSQL's ``COPY TO`` text format (C escapes) and Spark's CSV (the escape
escapes only a quote) load as their own readers read them back."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loader.cli import main
from loader.config import SourceConfig, resolve_source
from loader.readers import open_reader
from loader.readers.csv.escapes import Escapes
from loader.readers.dialect import Dialect
from tests.conftest import sqlite_rows

MYSQL_TAB = "1\t\\N\tC:\\\\temp\t7\n2\tx\t\\\\N\t\\N\n3\tline1\\\nline2\t\\N\t9\n"
MYSQL_OPTIONS = ("--no-header", "--delimiter", "\\t", "--quote-char", "false", "--escape-char", "\\")
PG_TEXT = "1\ttab\\there\t\\N\n2\tline1\\nline2\tC:\\\\temp\n3\t\\\\N\tcr\\rlf\n"
SPARK = 'id,path,n\n1,C:\\temp\\new,2\n2,"C:\\temp, x",3\n3,"say \\"hi\\", ok",4\n4,"x \\"y\\"",5\n'


def load(src: Path, out: Path, *args: str) -> int:
    table = ["--table", "t"] if out.suffix == ".db" else []
    return main(["load", str(src), str(out), *table, "-q", *args])


def rejects(out: Path) -> list[Any]:
    path = Path(f"{out}.table-t.rejects.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_mysql_outfile_reads_backslash_n_as_null_and_an_escaped_one_as_text(tmp_path: Path, engine: str) -> None:
    """``\\N`` was unescaped before the null spellings were matched: every NULL loaded as
    the text ``N`` (making integer columns text), and the text ``\\N`` (``\\\\N``) as NULL."""
    src, out = tmp_path / "my.txt", tmp_path / "my.db"
    src.write_text(MYSQL_TAB)
    assert load(src, out, *MYSQL_OPTIONS, "--null-values", "\\N", "--engine", engine) == 0
    sql = "SELECT quote(column_1), quote(column_2), quote(column_3), quote(column_4), typeof(column_4) FROM t"
    assert sqlite_rows(out, sql) == [
        ("1", "NULL", "'C:\\temp'", "7", "integer"),
        ("2", "'x'", "'\\N'", "NULL", "null"),
        ("3", "'line1\nline2'", "NULL", "9", "integer"),
    ]
    assert rejects(out) == []


def test_a_mysql_csv_outfile_keeps_integer_columns_with_nulls(tmp_path: Path) -> None:
    src, out = tmp_path / "my.csv", tmp_path / "my.db"
    src.write_text('1,"a\\"b",\\N,5\n2,"x",\\N,\\N\n3,"\\\\N",7,8\n4,"a,\\N",\\N,1\n')
    assert load(src, out, "--no-header", "--escape-char", "\\", "--null-values", "\\N") == 0
    assert sqlite_rows(out, "SELECT * FROM t") == [
        (1, 'a"b', None, 5),
        (2, "x", None, None),
        (3, "\\N", 7, 8),
        (4, "a,N", None, 1),  # inside a quoted value: not a whole field
    ]
    assert [c[2] for c in sqlite_rows(out, "PRAGMA table_info(t)")] == ["INTEGER", "TEXT", "INTEGER", "INTEGER"]


def test_a_mysql_outfile_loads_into_leveldb(tmp_path: Path) -> None:
    plyvel = pytest.importorskip("plyvel")
    src, out = tmp_path / "my.txt", tmp_path / "o.ldb"
    src.write_text(MYSQL_TAB)
    assert load(src, out, *MYSQL_OPTIONS, "--null-values", "\\N", "--key", "{column_1}") == 0
    store = plyvel.DB(str(out))
    try:
        items = {k: json.loads(v) for k, v in store}
    finally:
        store.close()
    assert [(v["column_2"], v["column_3"]) for _, v in sorted(items.items())] == [
        (None, "C:\\temp"),
        ("x", "\\N"),
        ("line1\nline2", None),
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_postgres_text_format_reads_c_escapes(tmp_path: Path, engine: str) -> None:
    """``\\t``, ``\\n``, ``\\r`` loaded as the letters t, n, r: ``--escape-mode c`` reads them as
    PostgreSQL's ``COPY FROM`` does (and the escape character is ``\\`` unless given)."""
    src, out = tmp_path / "pg.txt", tmp_path / "pg.db"
    src.write_text(PG_TEXT)
    args = ("--no-header", "--delimiter", "\\t", "--quote-char", "false", "--escape-mode", "c")
    assert load(src, out, *args, "--null-values", "\\N", "--engine", engine) == 0
    assert sqlite_rows(out, "SELECT quote(column_1), quote(column_2), quote(column_3) FROM t") == [
        ("1", "'tab\there'", "NULL"),
        ("2", "'line1\nline2'", "'C:\\temp'"),
        ("3", "'\\N'", "'cr\rlf'"),
    ]


def test_a_c_escaped_nul_is_rejected_as_a_nul_in_a_value(tmp_path: Path) -> None:
    src, out = tmp_path / "pg.txt", tmp_path / "pg.db"
    src.write_text("1\ta\\0b\n2\tok\n")
    args = ("--no-header", "--delimiter", "\\t", "--quote-char", "false", "--escape-mode", "c")
    assert load(src, out, *args) == 0
    assert sqlite_rows(out, "SELECT * FROM t") == [(2, "ok")]
    assert [r["line"] for r in rejects(out)] == [1]
    assert "NUL" in rejects(out)[0]["reason"]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_spark_csv_keeps_backslashes_that_escape_no_quote(tmp_path: Path, engine: str) -> None:
    """With ``--escape-char '\\'`` every backslash was deleted (``C:tempnew``); Spark escapes
    only a quote, which ``--escape-mode quote`` reads."""
    folder = tmp_path / "spark"
    folder.mkdir()
    (folder / "part-00000-x-c000.csv").write_text(SPARK)
    out = tmp_path / "sp.db"
    assert (
        main(
            [
                "load",
                str(folder / "*.csv"),
                str(out),
                "--table",
                "t",
                "-q",
                "--escape-mode",
                "quote",
                "--engine",
                engine,
            ]
        )
        == 0
    )
    assert sqlite_rows(out, "SELECT * FROM t") == [
        (1, "C:\\temp\\new", 2),
        (2, "C:\\temp, x", 3),
        (3, 'say "hi", ok', 4),
        (4, 'x "y"', 5),
    ]
    assert rejects(out) == []


def _read(path: Path, **kw: Any) -> list[dict[str, Any]]:
    config = resolve_source(SourceConfig(path=[str(path)], format="csv", **kw))
    with open_reader(str(path), config, chunk_size=65536) as reader:
        return [row for chunk in reader for row in chunk.batch.to_pylist()]


def test_blocks_cut_inside_escape_runs_read_as_the_whole_file(tmp_path: Path) -> None:
    """Small blocks cut between rows holding runs of escapes, ``\\N`` and escaped line breaks:
    every cut falls somewhere else; the values are the ones written."""
    rnd = random.Random(7)
    pieces = ["\\\\", "\\\t", "\\\n", "\\t", "a", "\\N"]
    rows, lines = [], []
    for i in range(1500):
        if i % 4 == 0:
            rows.append({"id": i, "v": None})
            lines.append(f"{i}\t\\N\n")
            continue
        written = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 8)))
        value = written.replace("\\\\", "\x01").replace("\\t", "\t").replace("\\", "").replace("\x01", "\\")
        rows.append({"id": i, "v": value})
        lines.append(f"{i}\tx{written}\n")
        rows[-1]["v"] = "x" + value
    src = tmp_path / "runs.txt"
    src.write_text("".join(lines))
    kw: dict[str, Any] = {"header": False, "column_names": ["id", "v"], "delimiter": "\t", "quote_char": False}
    got = _read(src, block_size=1024, escape_mode="c", null_values=["\\N"], **kw)
    assert got == rows


def test_a_spark_value_ending_in_a_backslash_ends_its_row(tmp_path: Path) -> None:
    """In quote mode a backslash before a line break escapes nothing: the cut, as the parser, ends the row there."""
    src = tmp_path / "s.csv"
    src.write_text("".join(f"{i},C:\\dir{i}\\\n" for i in range(2000)))
    kw: dict[str, Any] = {"header": False, "column_names": ["id", "p"], "escape_mode": "quote"}
    rows = _read(src, block_size=1024, max_row_bytes=4096, **kw)  # a row longer is rejected
    assert rows == [{"id": i, "p": f"C:\\dir{i}\\"} for i in range(2000)]


def test_a_block_without_the_escape_is_parsed_as_it_is(tmp_path: Path) -> None:
    """No copy, no translation: the block itself; and the same values as without an escape mode."""
    config = SourceConfig(path=["x.csv"], format="csv", escape_char="\\", escape_mode="c", null_values=["\\N", ""])
    escapes = Escapes.of(config, Dialect(",", '"', True))
    assert escapes is not None
    block = bytearray(b"1,a\n2,\n")
    assert escapes.translate(block) is block
    assert Escapes.of(SourceConfig(path=["x.csv"], format="csv", escape_char="\\"), Dialect(",", '"', True)) is None
    src = tmp_path / "plain.csv"
    src.write_text("id,name,n\n1,a,\n2,b,3\n")
    assert _read(src, escape_mode="quote") == _read(src) == _read(src, escape_mode="c", null_values=["\\N", ""])


def test_an_escape_mode_defaults_the_escape_char_to_a_backslash() -> None:
    assert resolve_source(SourceConfig(path=["x.csv"], escape_mode="c")).escape_char == "\\"
    assert resolve_source(SourceConfig(path=["x.csv"], escape_mode="quote", escape_char="^")).escape_char == "^"
    assert resolve_source(SourceConfig(path=["x.csv"])).escape_char is False


@pytest.mark.parametrize(
    ("mode", "line"),
    [("literal", "2\t\\N"), ("quote", "2\tC:\\temp\\"), ("c", "2\ta\\\\b")],
)
def test_a_malformed_rows_reject_holds_its_text_as_written(tmp_path: Path, mode: str, line: str) -> None:
    """Not as translated for the parser: no NUL for ``\\N``, no doubled backslash."""
    src, out = tmp_path / "r.txt", tmp_path / "r.db"
    src.write_text(f"1\ta\tb\n{line}\n3\tc\td\n")
    args = ("--no-header", "--delimiter", "\\t", "--quote-char", "false", "--escape-char", "\\")
    assert load(src, out, *args, "--escape-mode", mode, "--null-values", "\\N") == 0
    assert [(r["line"], r["raw"]) for r in rejects(out)] == [(2, line)]


def test_a_replayed_row_reads_its_escapes_as_the_load_did(tmp_path: Path) -> None:
    """A fixed reject replayed read ``\\t`` as the letter t and ``\\N`` as the text N."""
    src, out = tmp_path / "pg.txt", tmp_path / "pg.db"
    src.write_text("1\ta\\tb\t\\N\n2\tx\n")
    args = ["--no-header", "--delimiter", "\\t", "--quote-char", "false", "--escape-mode", "c", "--null-values", "\\N"]
    assert load(src, out, *args) == 0
    path = Path(f"{out}.table-t.rejects.jsonl")
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(entry | {"raw": "2\tx\\tz\t\\N"}) + "\n")
    assert main(["replay", str(path), str(src), str(out), "--table", "t", "-q", *args]) == 0
    assert sqlite_rows(out, "SELECT * FROM t ORDER BY column_1") == [(1, "a\tb", None), (2, "x\tz", None)]


def replay_the_reject_as(src: Path, out: Path, args: tuple[str, ...], edit: Callable[[str], str]) -> dict[str, Any]:
    """The load's one reject line, replayed with its raw line edited (as a user fixes it);
    the line as the load wrote it."""
    path = Path(f"{out}.table-t.rejects.jsonl")
    [entry] = rejects(out)
    path.write_text(json.dumps(entry | {"raw": edit(entry["raw"])}) + "\n")
    assert main(["replay", str(path), str(src), str(out), "--table", "t", "-q", *args]) == 0
    return entry


def test_a_quote_mode_reject_keeps_every_escaped_null_and_replays_them_as_nulls(tmp_path: Path) -> None:
    """Spark's ``\\N``s were restored before the doubled backslashes were undone, which
    then dropped one of them: the raw read ``52,\\N,N`` and its replay stored the text ``N``."""
    src, out = tmp_path / "rq.csv", tmp_path / "rq.db"
    src.write_text("id,a,b,c\n1,x,y,z\n52,\\N,\\N\n53,\\N,x,\\N\n")
    args = ("--escape-mode", "quote", "--null-values", "\\N")
    assert load(src, out, *args) == 0
    entry = replay_the_reject_as(src, out, args, lambda raw: raw + ',"C:\\temp\\\\"')
    assert (entry["line"], entry["raw"]) == (3, "52,\\N,\\N")
    assert sqlite_rows(out, "SELECT * FROM t WHERE id = 52") == [(52, None, None, "C:\\temp\\")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_an_na_spelling_holding_the_escape_is_matched_as_written(tmp_path: Path, engine: str) -> None:
    """``--na-values '\\N'`` never matched (the field was unescaped first): ``\\N`` loaded as
    the text ``N`` and an integer column turned text. Now NULL in typed columns, ``\\N`` as
    written in text ones; an escaped ``\\\\N`` is the text ``\\N``, no na spelling."""
    src, out = tmp_path / "nav.csv", tmp_path / "nav.db"
    src.write_text("id,n,s,t\n1,\\N,x,\\\\N\n2,5,\\N,y\n")
    assert load(src, out, "--escape-mode", "c", "--na-values", "\\N", "--engine", engine) == 0
    assert sqlite_rows(out, "SELECT * FROM t ORDER BY id") == [(1, None, "x", "\\N"), (2, 5, "\\N", "y")]
    assert sqlite_rows(out, "SELECT typeof(n) FROM t WHERE id = 2") == [("integer",)]


def test_a_replayed_row_reads_an_na_spelling_holding_the_escape_as_the_load_did(tmp_path: Path) -> None:
    src, out = tmp_path / "nav.csv", tmp_path / "nav.db"
    src.write_text("id,n,s\n1,\\N,x\n2,5,\\N\n3,7\n")
    args = ("--escape-mode", "c", "--na-values", "\\N")
    assert load(src, out, *args) == 0
    entry = replay_the_reject_as(src, out, args, lambda raw: "3,\\N,\\N")
    assert entry["raw"] == "3,7"
    assert sqlite_rows(out, "SELECT * FROM t ORDER BY id") == [(1, None, "x"), (2, 5, "\\N"), (3, None, "\\N")]
