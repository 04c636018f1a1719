"""JSON Lines: types by the lossless rules, nested values kept, bad lines rejected
with their line number, compressed files, resume by byte offset, and JSON that
a data package on PyPI ships."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from loader import load
from loader.config import SourceConfig
from loader.readers import open_reader
from tests.conftest import calls_made, sqlite_rows
from tests.reliability_util import cli, leveldb_items, reject_lines, rejects_of, sqlite_table

# a key past the sample: the remedy for a file whose other rows loaded (a larger infer_rows reads only new files)
REPLAY = ": replay this reject file to load the row, with --alter to add the column"

LINES = [
    {
        "id": 1,
        "zip": "01234",
        "big": 123456789012345678901,
        "price": 0.6369616873214543,
        "tags": ["a", "b"],
        "at": {"x": 1},
        "ok": True,
    },
    {"id": 2, "zip": "12345", "big": 5, "price": 100.10, "tags": [], "at": {"x": None}, "ok": False},
    {"id": 3, "zip": None, "big": None, "price": -0.0, "tags": None, "at": None, "ok": None},
    {"id": 4, "zip": "007", "big": 9, "price": 1e-7, "tags": ["c"], "at": {"x": 9}, "ok": True},
]


def write_lines(path: Path, lines: list[Any], raw: list[str] | None = None) -> Path:
    text = "".join(json.dumps(x) + "\n" for x in lines) + "".join(r + "\n" for r in raw or [])
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        fh.write(text)
    return path


def source(path: Path, **kw: Any) -> SourceConfig:
    return SourceConfig(path=[str(path)], **kw)


def test_types_follow_the_lossless_rules(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "a.jsonl", LINES, ['{"id": 5, "price": 0.10000000000000000001}'])
    with open_reader(str(src), source(src, infer_rows=4)) as r:
        types = {f.name: str(f.type) for f in r.schema}
    # big stays text (beyond int64), zip stays a string (JSON strings stay strings)
    assert types == {
        "id": "int64",
        "zip": "string",
        "big": "string",
        "price": "double",
        "tags": "list<item: string>",
        "at": "struct<x: int64>",
        "ok": "bool",
    }
    with open_reader(str(src), source(src)) as r:  # the rounding value in the sample: the column is text
        assert str(r.schema.field("price").type) == "string"


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson.gz"])
def test_sqlite_and_leveldb_hold_the_source_values(tmp_path: Path, suffix: str) -> None:
    src = write_lines(tmp_path / f"a{suffix}", LINES)
    load(str(src), str(tmp_path / "t.db"), table="t")
    stored = sqlite_table(tmp_path / "t.db")
    assert stored == [
        (1, "01234", "123456789012345678901", 0.6369616873214543, '["a","b"]', '{"x":1}', 1),
        (2, "12345", "5", 100.1, "[]", '{"x":null}', 0),
        (3, None, None, -0.0, None, None, None),
        (4, "007", "9", 1e-7, '["c"]', '{"x":9}', 1),
    ]
    load(str(src), str(tmp_path / "t.ldb"), key="row:{id}")
    items, _ = leveldb_items(tmp_path / "t.ldb")
    values = {json.loads(v)["id"]: json.loads(v, parse_float=Decimal) for _, v in items}
    assert values[1] == {
        "id": 1,
        "zip": "01234",
        "big": "123456789012345678901",
        "price": Decimal("0.6369616873214543"),
        "tags": ["a", "b"],
        "at": {"x": 1},
        "ok": True,
    }
    assert values[4]["price"] == Decimal("1E-7") and values[3]["tags"] is None


def test_bad_lines_are_rejected_with_line_numbers_and_the_rest_loads(tmp_path: Path) -> None:
    good = [{"id": i, "name": f"n{i}", "score": i * 10} for i in range(1, 4)]
    raw = [
        '{"id": 4, "name": "d", "score": 40',  # line 4: malformed
        "",  # line 5: blank, no row
        '{"id": 5, "name": "e", "score": "x"}',  # a string in a number column
        '{"id": 6, "name": "f", "score": 1.5}',  # not an integer
        '{"id": 7, "name": "g", "score": 99999999999999999999}',  # beyond int64
        '[7, "g"]',
        '{"id": 8, "name": "h", "score": 80, "extra": 1}',
        '{"id": 9, "name": "i", "score": 90, "name": "j"}',
        '{"id": 10, "name": "k", "score": 100}',
    ]
    src = write_lines(tmp_path / "a.jsonl", good, raw)
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t", source_options={"infer_rows": 3})
    assert sqlite_table(db) == [(1, "n1", 10), (2, "n2", 20), (3, "n3", 30), (10, "k", 100)]
    got = [(r["row"], r["line"], r.get("column"), r["reason"]) for r in reject_lines(rejects_of(db))]
    assert got == [
        (4, 4, None, "not valid JSON: expecting ',' delimiter at character 35 of the line"),
        (5, 6, "score", "'x' is a string, not a number"),
        (6, 7, "score", "'1.5' is not a valid int64"),
        (7, 8, "score", "'99999999999999999999' is not a valid int64"),
        (8, 9, None, "a JSON Lines row is an object, not an array"),
        (
            9,
            10,
            "extra",
            "key 'extra' is not a column (columns come from the first 3 rows, source.infer_rows)" + REPLAY,
        ),
        (10, 11, None, "not valid JSON: key 'name' appears twice in one object"),
    ]
    assert reject_lines(rejects_of(db))[0]["raw"] == raw[0]
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (11, 4, 7)


def test_a_malformed_line_is_placed_within_its_line_not_at_line_1(tmp_path: Path) -> None:
    """Python's reason said 'line 1 column 7 (char 6)' of the one line it was given, whatever
    the file's line (5 here), and 'column' beside the reject's own column."""
    src, db = tmp_path / "jl.jsonl", tmp_path / "t.db"
    src.write_text('\n\n{"a":1}\n\n{"a":2\n{"a":"b\n{"a":tru}\n{"a" 1}\n{"a":3}\n')
    load(str(src), str(db), table="t", source_options={"columns": {"a": "int64"}})
    assert [(r["row"], r["line"], r["reason"]) for r in reject_lines(rejects_of(db))] == [
        (2, 5, "not valid JSON: expecting ',' delimiter at character 7 of the line"),
        (3, 6, "not valid JSON: unterminated string starting at character 6 of the line"),
        (4, 7, "not valid JSON: expecting value at character 6 of the line"),
        (5, 8, "not valid JSON: expecting ':' delimiter at character 6 of the line"),
    ]
    assert sqlite_rows(db, "SELECT a FROM t") == [(1,), (3,)]


def test_a_key_first_met_past_the_sample_in_its_last_block_is_no_column(tmp_path: Path) -> None:
    """The sample ends inside a block pyarrow parses whole: a key only the rows past it hold
    was made a column (text, the number 3 stored as '3'); it is rejected as the docs say, and
    a key the sample holds as null stays a column."""
    for rows, expected in (
        ('{"a":1}\n{"a":2}\n{"zz":3}\n', ["a: int64"]),
        ('{"a":1,"zz":null}\n{"a":2}\n{"zz":3}\n', ["a: int64", "zz: string"]),  # null so far: text
    ):
        src = tmp_path / "z.jsonl"
        src.write_text(rows)
        names, table, rejects = read_all(src, infer_rows=2)
        assert names == expected
        if len(expected) == 1:
            assert table.column("a").to_pylist() == [1, 2]
            reason = "key 'zz' is not a column (columns come from the first 2 rows, source.infer_rows)" + REPLAY
            assert rejects == [(3, 3, "zz", reason, '{"zz":3}')]


def test_a_key_only_null_in_the_whole_file_is_null(tmp_path: Path) -> None:
    p = tmp_path / "n.jsonl"
    p.write_text('{"id":1,"v":null}\n{"id":2}\n{"id":3,"v":null}\n')
    with open_reader(str(p), source(p)) as r:
        assert [f.type for f in r.schema] == [pa.int64(), pa.null()]
        assert [row for c in r for row in c.batch.to_pylist()] == [
            {"id": 1, "v": None},
            {"id": 2, "v": None},
            {"id": 3, "v": None},
        ]
    with open_reader(str(p), source(p, infer_rows=2)) as r:  # a value may come past the sample
        assert [f.type for f in r.schema] == [pa.int64(), pa.string()]


def test_a_float_that_would_round_later_is_rejected_not_coerced(tmp_path: Path) -> None:
    lines = [{"id": i, "p": i + 0.5} for i in range(1, 4)]
    src = write_lines(
        tmp_path / "a.jsonl", lines, ['{"id": 4, "p": 0.10000000000000000001}', '{"id": 5, "p": 2.8251599147121498}']
    )
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t", source_options={"infer_rows": 3})
    assert sqlite_table(db) == [(1, 1.5), (2, 2.5), (3, 3.5), (5, 2.8251599147121498)]
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["line"], bad["column"]) == (4, "p") and "would be stored as 0.1 by float64" in bad["reason"]


@pytest.mark.parametrize("block_size", [1024, 1 << 20])  # the long line within one read, or across reads
def test_a_line_longer_than_the_cap_is_rejected_and_reading_goes_on(tmp_path: Path, block_size: int) -> None:
    long = json.dumps({"id": 2, "text": "x" * 5000})
    src = write_lines(tmp_path / "a.jsonl", [{"id": 1, "text": "a"}], [long, '{"id": 3, "text": "c"}'])
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t", source_options={"max_row_bytes": 1024, "block_size": block_size})
    assert sqlite_table(db) == [(1, "a"), (3, "c")]
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["row"], bad["line"], bad["reason"]) == (2, 2, "line longer than 1024 bytes (source.max_row_bytes)")
    assert len(bad["raw"]) == 1024


@pytest.mark.parametrize("block_size", [1024, 1 << 20])
def test_more_than_the_cap_after_a_long_line_is_cut_within_the_cap(tmp_path: Path, block_size: int) -> None:
    # the bytes read past the long line's newline (up to 1 MiB) are more than max_row_bytes:
    # they were asked for with a negative read length; a second long line among them is dropped too
    lines = [json.dumps({"id": i, "s": "c" * 40}) for i in range(3, 80)]
    lines[40] = json.dumps({"id": 43, "s": "d" * 5000})
    src = write_lines(tmp_path / "a.jsonl", [{"id": 1, "s": "a"}, {"id": 2, "s": "b" * 5000}], lines)
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t", source_options={"max_row_bytes": 2500, "block_size": block_size})
    assert [r[0] for r in sqlite_table(db)] == [1, *range(3, 43), *range(44, 80)]
    rejects = reject_lines(rejects_of(db))
    assert [(r["row"], r["line"], r["reason"]) for r in rejects] == [
        (2, 2, "line longer than 2500 bytes (source.max_row_bytes)"),
        (43, 43, "line longer than 2500 bytes (source.max_row_bytes)"),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_resume_from_every_checkpoint_reads_exactly_the_rest(tmp_path: Path, suffix: str) -> None:
    lines = [{"id": i, "v": f"value {i}"} for i in range(1, 301)]
    raw = ['{"id": 301, "v": oops}', '{"id": 302, "v": "last"}']
    src = write_lines(tmp_path / f"a{suffix}", lines, raw)
    cfg = source(src, block_size=1024, infer_rows=50)
    with open_reader(str(src), cfg, chunk_size=7) as r:
        chunks = list(r)
    everything = [row for c in chunks for row in c.batch.column("id").to_pylist()]
    assert everything == [*range(1, 301), 302]
    for cut in range(0, len(chunks), 5):
        with open_reader(str(src), cfg, chunk_size=7, resume=chunks[cut].end) as r:
            rest = list(r)
        assert [row for c in rest for row in c.batch.column("id").to_pylist()] == [
            row for c in chunks[cut + 1 :] for row in c.batch.column("id").to_pylist()
        ]
        assert sum(c.rows_read for c in rest) == 302 - chunks[cut].end["row"]
        assert [rj.line for c in rest for rj in c.rejects] == ([301] if chunks[cut].end["row"] < 301 else [])
    assert [rj.line for c in chunks for rj in c.rejects] == [301]


def test_json_a_data_package_ships_loads_end_to_end(tmp_path: Path) -> None:
    vega = pytest.importorskip("vega_datasets")
    cars = json.loads((Path(os.path.dirname(vega.__file__)) / "_data" / "cars.json").read_text())
    src = write_lines(tmp_path / "cars.jsonl", cars)
    db = tmp_path / "cars.db"
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (len(cars), 0) == (406, 0)
    stored = sqlite_table(db, order="rowid")
    names = list(cars[0])
    assert [dict(zip(names, row, strict=True)) for row in stored] == cars
    load(str(src), str(tmp_path / "cars.ldb"), key="car:{Name}:{Year}:{Origin}:{Weight_in_lbs}")
    items, _ = leveldb_items(tmp_path / "cars.ldb")
    assert sorted(json.loads(v)["Weight_in_lbs"] for _, v in items) == sorted(c["Weight_in_lbs"] for c in cars)


def test_inspect_shows_the_inferred_schema(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "a.jsonl", LINES)
    p = cli("inspect", str(src))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[:9] == [
        f"{src}: 7 columns",
        "  id     int64",
        "  zip    string",
        "  big    string",
        "  price  float64",
        "  tags   list<item: string>",
        "  at     struct<x: int64>",
        "  ok     bool",
        "first rows:",
    ]


def test_keys_become_names_sqlite_can_hold(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "a.jsonl", [{"": 1, "ID": 2, "id": 3}, {"": 4, "ID": 5, "id": 6}])
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t")
    assert sqlite_table(db, order="rowid") == [(1, 2, 3), (4, 5, 6)]
    with open_reader(str(src), source(src)) as r:
        assert r.schema.names == ["column_1", "ID", "id_2"]


def test_long_integer_ids_beside_floats_load_and_a_rounding_integer_is_still_caught(tmp_path: Path) -> None:
    lines = [{"id": 1234567890123456789 + i, "x": i + 0.5} for i in range(5)]
    src = write_lines(tmp_path / "a.jsonl", lines, ['{"id": 7, "x": 12345678901234567}'])
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t", source_options={"infer_rows": 5})
    assert sqlite_table(db, order="rowid") == [(e["id"], e["x"]) for e in lines]
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["line"], bad["column"]) == (6, "x") and "would be stored as 1.2345678901234568e+16" in bad["reason"]


def test_bytes_read_of_a_compressed_file_count_the_file_on_disk(tmp_path: Path) -> None:
    """Progress compares bytes read with the file's size: compressed bytes for a .gz."""
    text = "".join(json.dumps({"id": i, "tag": f"{i * 2654435761 % 2**32:x}"}) + "\n" for i in range(20_000))
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with open_reader(str(path), source(path, block_size=1 << 16), chunk_size=1000) as r:
        chunks = list(r)
    assert sum(c.num_rows for c in chunks) == 20_000
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size < len(text) / 2
    assert sum(1 for c in chunks if c.bytes_read > 0) > 1  # it grows along the file (read 64 KiB at a time)


def test_date_and_time_strings_stay_strings_and_the_file_is_parsed_in_blocks(tmp_path: Path) -> None:
    """pyarrow reads ISO-looking strings as timestamps while sampling; they are JSON strings,
    kept as written, and the file still goes through pyarrow's block parser, not line by line."""
    lines = [{"id": i, "day": f"2024-01-{i:02d}", "at": f"2024-01-{i:02d} 10:00:0{i % 10}"} for i in range(1, 21)]
    src = write_lines(tmp_path / "a.jsonl", lines)
    with open_reader(str(src), source(src)) as r:
        assert [str(f.type) for f in r.schema] == ["int64", "string", "string"]
        assert not r.by_line
    load(str(src), str(tmp_path / "t.db"), table="t")
    assert sqlite_table(tmp_path / "t.db") == [(e["id"], e["day"], e["at"]) for e in lines]


@pytest.mark.parametrize(
    "line,found",
    [
        (b'{"p": 1.25, "d": "2024-01-01", "t": "e-1000"}', None),
        (b'{"p": 1.5e+300, "q": -2.5E-99}', None),
        (b'{"p": 1e-400}', "other"),
        (b'{"p": 2E+400}', "other"),
        (b'{"p": -0.10000000000000000001}', "other"),
        (b'{"p": -12345678901234567891}', "integers"),
    ],
)
def test_the_first_look_finds_every_number_float64_would_round(line: bytes, found: str | None) -> None:
    from loader.readers.jsonl import _rounding

    assert _rounding(line + b"\n") == found


def test_a_second_open_reuses_the_sample_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load opens each file twice (types, then rows): the head is sampled once. A file
    rewritten in place, even at the same size, is sampled again."""
    from loader.readers.jsonl import JSONLReader

    reads: list[str] = []
    real = JSONLReader._read_sample
    monkeypatch.setattr(JSONLReader, "_read_sample", lambda self: reads.append(self.path) or real(self))
    src = tmp_path / "a.jsonl"
    src.write_text('{"a": 1.5}\n', encoding="utf-8")
    for _ in range(2):
        with open_reader(str(src), source(src)) as r:
            assert str(r.schema.field("a").type) == "double"
    assert len(reads) == 1
    src.write_text('{"a":"15"}\n', encoding="utf-8")  # the same size, maybe the same mtime
    with open_reader(str(src), source(src)) as r:
        assert str(r.schema.field("a").type) == "string"
    with open_reader(str(src), source(src, infer_rows=5)) as r:
        assert str(r.schema.field("a").type) == "string"
    assert len(reads) == 3


# Where loader's type differs from pandas' default reading, and why: JSON strings stay strings
# (pandas makes numbers of them), a number column with nulls stays integer (pandas: float64 with
# NaN), and 10.0 is a float (pandas: int64 when every float is whole).
PANDAS_DIFFERS = {("wheat", "year"): "TEXT", ("cars", "Horsepower"): "INTEGER", ("anscombe", "X"): "REAL"}


@pytest.mark.parametrize("name", ["cars", "ohlc", "anscombe", "wheat", "burtin"])
def test_a_data_package_table_as_json_lines_loads_as_pandas_reads_it(tmp_path: Path, name: str) -> None:
    """A vega-datasets JSON table (from PyPI) as JSON Lines: every SQLite value equals the value
    pandas' read_json(lines=True) reads, and every column type matches pandas' dtype but where
    the JSON types say otherwise (PANDAS_DIFFERS)."""
    vega = pytest.importorskip("vega_datasets")
    pd = pytest.importorskip("pandas")
    records = json.loads((Path(os.path.dirname(vega.__file__)) / "_data" / f"{name}.json").read_text())
    src = write_lines(tmp_path / f"{name}.jsonl", records)
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (len(records), 0)
    inferred = pd.read_json(src, lines=True, precise_float=True)
    as_parsed = pd.read_json(src, lines=True, precise_float=True, dtype=False)  # JSON's own types, no coercion
    conn = sqlite3.connect(db)
    try:
        types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(t)")}
        stored = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    finally:
        conn.close()
    sqlite_of = {"int64": "INTEGER", "float64": "REAL", "bool": "INTEGER"}
    expected = {c: PANDAS_DIFFERS.get((name, c), sqlite_of.get(str(t), "TEXT")) for c, t in inferred.dtypes.items()}
    assert types == expected
    values = [[None if pd.isna(v) else v for v in row] for row in as_parsed.itertuples(index=False)]
    assert [list(row) for row in stored] == values


# Nested values (objects and arrays) are never changed: a number inside one that its nested type
# does not hold exactly is rejected past the sample, and inside the sample it keeps the column
# JSON text, every number digit for digit.


def load_lines(tmp_path: Path, raw: list[str], **options: Any) -> tuple[Any, list[tuple[Any, ...]], list[Any]]:
    """``raw`` lines loaded into SQLite: the report, the stored rows in file order, and the rejects."""
    src = tmp_path / "a.jsonl"
    src.write_text("".join(r + "\n" for r in raw), encoding="utf-8")
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t", source_options=options)
    rejects = [(r["line"], r.get("column"), r["reason"]) for r in reject_lines(rejects_of(db))]
    assert report.rows_read == report.rows_written + report.rows_rejected == len(raw)
    assert report.rows_rejected == len(rejects)
    return report, sqlite_table(db, order="rowid"), rejects


def shape_hint(column: str, rows: int) -> str:
    """What a reject of a value of another shape than its nested column's adds."""
    return (
        f" (the type comes from the first {rows} rows, source.infer_rows; to keep every value as its JSON text, "
        f"declare the column a string: source.columns, --columns {column}=string)"
    )


REPRO = ['{"n":{"x":1}}', '{"n":{"x":1.5}}', '{"n":[2.5]}']


def test_the_repro_past_the_sample_rejects_the_fraction_in_an_int64_field(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text("".join(r + "\n" for r in REPRO), encoding="utf-8")
    p = cli("load", str(src), str(tmp_path / "o.db"), "--table", "t", "--infer-rows", "1")
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "o.db", order="rowid") == [('{"x":1}',)]
    got = [
        (r["row"], r["line"], r["column"], r["reason"], r["raw"]) for r in reject_lines(rejects_of(tmp_path / "o.db"))
    ]
    assert got == [
        (2, 2, "n", """'{"x":1.5}' does not fit struct<x: int64>: 1.5 at .x is not a valid int64""", REPRO[1]),
        (3, 3, "n", "'[2.5]' does not fit struct<x: int64>: an array is not an object" + shape_hint("n", 1), REPRO[2]),
    ]


def test_the_repro_within_the_sample_keeps_the_column_json_text(tmp_path: Path) -> None:
    _, stored, rejects = load_lines(tmp_path, REPRO)
    assert stored == [('{"x":1}',), ('{"x":1.5}',), ("[2.5]",)] and rejects == []
    src = tmp_path / "a.jsonl"
    with open_reader(str(src), source(src)) as r:
        assert str(r.schema.field("n").type) == "string"


@pytest.mark.parametrize(
    "raw,stored",
    [
        (['{"n":[1, 9007199254740993]}', '{"n":[1.5]}'], ["[1,9007199254740993]", "[1.5]"]),
        (['{"n":[0.10000000000000000001]}'], ["[0.10000000000000000001]"]),
        (['{"n":[12345678901234567890,1]}'], ["[12345678901234567890,1]"]),
        (['{"n":{"a":[1e400]}}', '{"n":{"a":[2]}}'], ['{"a":[1e400]}', '{"a":[2]}']),
        (['{"n":{"t":"2024-01-01","u":"2024-01-01 10:00:00"}}'], ['{"t":"2024-01-01","u":"2024-01-01 10:00:00"}']),
    ],
)
def test_nested_numbers_in_the_sample_no_type_holds_exactly_stay_json_text(
    tmp_path: Path, raw: list[str], stored: list[str]
) -> None:
    _, rows, rejects = load_lines(tmp_path, raw)
    assert rows == [(s,) for s in stored] and rejects == []


def test_a_nested_type_is_inferred_when_it_holds_every_value_exactly(tmp_path: Path) -> None:
    raw = ['{"n":[1, 9007199254740992]}', '{"n":[1.5, -0.0, 1e5]}', '{"n":[]}']
    _, rows, rejects = load_lines(tmp_path, raw)
    assert rows == [("[1.0,9007199254740992.0]",), ("[1.5,-0.0,100000.0]",), ("[]",)] and rejects == []


def test_an_integer_beyond_float64_in_one_block_and_a_fraction_in_another_stay_json_text(tmp_path: Path) -> None:
    """Blocks parsed apart give list<int64> and list<double>: merged, float64 would round the integer."""
    raw = ['{"n":[9007199254740993]}'.ljust(31)] * 32 + ['{"n":[1.5]}'.ljust(31)] * 32  # 32 lines a block
    _, rows, rejects = load_lines(tmp_path, raw, block_size=1024)
    assert rows == [("[9007199254740993]",)] * 32 + [("[1.5]",)] * 32 and rejects == []


@pytest.mark.parametrize(
    ("raw", "stored"),
    [  # hunt15a defect 7: the sample (2 rows) shows no element or key; the values after it load
        (['{"id":1,"meta":{}}', '{"id":2,"meta":{}}', '{"id":3,"meta":{"k":"v"}}'], ["{}", "{}", '{"k":"v"}']),
        (
            ['{"id":1,"tags":[]}', '{"id":2,"tags":[]}', '{"id":3,"tags":["a"]}', '{"id":4,"tags":[1]}'],
            ["[]", "[]", '["a"]', "[1]"],
        ),
        (
            ['{"id":1,"tags":[]}', '{"id":2,"tags":[]}', '{"id":3,"tags":["a"]}', '{"id":4,"tags":["b"]}'],
            ["[]", "[]", '["a"]', '["b"]'],
        ),
        (
            ['{"id":1,"o":{"x":null}}', '{"id":2,"o":{"x":null}}', '{"id":3,"o":{"x":[1.5]}}'],
            ['{"x":null}', '{"x":null}', '{"x":[1.5]}'],
        ),
        (['{"id":1,"o":[{}]}', '{"id":2,"o":[]}', '{"id":3,"o":[{"a":1}]}'], ["[{}]", "[]", '[{"a":1}]']),
    ],
)
def test_a_nested_type_the_sample_left_open_takes_the_values_past_it(
    tmp_path: Path, raw: list[str], stored: list[str]
) -> None:
    _, rows, rejects = load_lines(tmp_path, raw, infer_rows=2)
    assert rejects == [] and [r[1] for r in rows] == stored


def test_a_nested_type_left_open_is_json_text_past_the_sample_and_kept_in_a_whole_file(tmp_path: Path) -> None:
    """As a column without a value: ``null`` where the sample is the whole file, text where
    values may come past it."""
    src = write_lines(tmp_path / "a.jsonl", [{"l": [], "s": {}, "o": {"x": None}, "n": [[]], "ok": {"a": [1]}}] * 3)
    with open_reader(str(src), source(src, infer_rows=10)) as r:
        assert [str(f.type) for f in r.schema] == [
            "list<item: null>",
            "struct<>",
            "struct<x: null>",
            "list<item: list<item: null>>",
            "struct<a: list<item: int64>>",
        ]
    with open_reader(str(src), source(src, infer_rows=2)) as r:
        assert [str(f.type) for f in r.schema] == ["string"] * 4 + ["struct<a: list<item: int64>>"]


@pytest.mark.parametrize("block_size", [1024, 1 << 20])  # the sample over blocks pyarrow parses, or one
def test_one_load_and_the_same_rows_as_two_files_store_the_same_values(tmp_path: Path, block_size: int) -> None:
    head = [{"id": i, "tags": [], "meta": {}} for i in range(300)]
    tail = [{"id": i, "tags": ["a"], "meta": {"k": "v"}} for i in range(300, 310)]
    one = write_lines(tmp_path / "one.jsonl", head + tail)
    (tmp_path / "days").mkdir()
    write_lines(tmp_path / "days" / "1.jsonl", head)
    write_lines(tmp_path / "days" / "2.jsonl", tail)
    options = {"infer_rows": 100, "block_size": block_size}
    load(str(one), str(tmp_path / "one.db"), table="t", source_options=options)
    load(str(tmp_path / "days" / "*.jsonl"), str(tmp_path / "days.db"), table="t", source_options=options)
    stored = sqlite_table(tmp_path / "one.db")
    assert len(stored) == 310 and reject_lines(rejects_of(tmp_path / "one.db")) == []
    assert stored[299:301] == [(299, "[]", "{}"), (300, '["a"]', '{"k":"v"}')]
    assert stored == sqlite_table(tmp_path / "days.db")


@pytest.mark.parametrize("block_size", [1024, 1 << 20])  # the bad lines in blocks of their own, or with good ones
def test_nested_numbers_past_the_sample_that_would_change_are_rejected(tmp_path: Path, block_size: int) -> None:
    good = [f'{{"id": {i}, "n": {{"i": [{i}], "f": [{i}.5, -{i}]}}}}' for i in range(1, 41)]
    bad = {  # the value, and why it does not fit
        '{"i": [1.5], "f": []}': "1.5 at .i[0] is not a valid int64",
        '{"i": [1e2], "f": []}': "1e2 at .i[0] is not a valid int64",
        '{"i": [9223372036854775808], "f": []}': "9223372036854775808 at .i[0] is not a valid int64",
        '{"i": [true], "f": []}': "a boolean at .i[0] is not a number",
        '{"i": [], "f": [9007199254740993]}': "9007199254740993 would be stored as 9007199254740992.0 by float64",
        '{"i": [], "f": [0.10000000000000000001]}': "0.10000000000000000001 would be stored as 0.1 by float64",
        '{"i": [], "f": [12345678901234567890]}': (
            "12345678901234567890 would be stored as 1.2345678901234567e+19 by float64"
        ),
        '{"i": [], "f": ["1.5"]}': "the string '1.5' at .f[0] is not a number",
        '{"i": [], "g": 1}': "an object has key 'g', not a field of the type" + shape_hint("n", 40),
    }
    lines = [f'{{"id": {41 + k}, "n": {value}}}' for k, value in enumerate(bad)]
    tail = ['{"id": 50, "n": {"i": [-9223372036854775808], "f": [1e300, 9007199254740992]}}']
    report, rows, rejects = load_lines(tmp_path, good + lines + tail, infer_rows=40, block_size=block_size)
    t = "struct<i: list<item: int64>, f: list<item: double>>"
    assert rejects == [
        (41 + k, "n", f"{value.replace(' ', '')!r} does not fit {t}: {why}")
        for k, (value, why) in enumerate(bad.items())
    ]
    expected = [(i, f'{{"i":[{i}],"f":[{i}.5,{-float(i)}]}}') for i in range(1, 41)]
    expected.append((50, '{"i":[-9223372036854775808],"f":[1e+300,9007199254740992.0]}'))
    assert rows == expected
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (50, 41, 9)


def test_good_blocks_of_nested_numbers_are_still_parsed_by_pyarrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the block holding a nested number float64 would round is read line by line."""
    from loader.readers.jsonl import JSONLReader

    by_line: list[int] = []
    real = JSONLReader._by_line
    monkeypatch.setattr(
        JSONLReader, "_by_line", lambda self, data, *a: by_line.append(len(data)) or real(self, data, *a)
    )
    raw = [f'{{"n": {{"f": [{i}.25], "i": {i}}}}}' for i in range(200)] + ['{"n": {"f": [0.10000000000000000001]}}']
    src = tmp_path / "a.jsonl"
    src.write_text("".join(r + "\n" for r in raw), encoding="utf-8")
    with open_reader(str(src), source(src, infer_rows=10, block_size=1024)) as r:
        assert not r.by_line
        chunks = list(r)
    assert sum(c.num_rows for c in chunks) == 200 and [rj.line for c in chunks for rj in c.rejects] == [201]
    assert len(by_line) == 1


def test_json_text_keeps_every_number_as_written(tmp_path: Path) -> None:
    raw = ['{"n":[1e5, 1.50, -0, {"a": 0.10000000000000000001}], "m": "x"}', '{"n":"text", "m": {"k": 2E-3}}']
    _, rows, rejects = load_lines(tmp_path, raw)
    assert rows == [('[1e5,1.50,-0,{"a":0.10000000000000000001}]', "x"), ("text", '{"k":2E-3}')] and rejects == []


# Python's json.dumps writes NaN, Infinity and -Infinity; inside an object or array kept as JSON
# text they are written as a typed nested value writes them, so the text is RFC 8259 JSON.
NON_FINITE = [
    '{"id":1,"l":[NaN,1.5,Infinity,-Infinity],"t":[NaN,1e400],"u":[1,"a",Infinity],"s":"NaN"}',
    '{"id":2,"l":[2.5],"t":[1],"u":{"k":NaN,"NaN":["Infinity",-Infinity]},"s":[1]}',
]


def test_nan_and_infinities_in_json_text_are_written_as_in_a_typed_value(tmp_path: Path) -> None:
    _, rows, rejects = load_lines(tmp_path, NON_FINITE)
    assert rejects == []
    assert rows == [
        (1, '[null,1.5,"Infinity","-Infinity"]', "[null,1e400]", '[1,"a","Infinity"]', "NaN"),
        (2, "[2.5]", "[1]", '{"k":null,"NaN":["Infinity","-Infinity"]}', "[1]"),
    ]
    with sqlite3.connect(tmp_path / "t.db") as con:
        assert con.execute("select json_extract(t, '$[0]'), json_valid(u) from t order by id").fetchall() == [
            (None, 1),
            (1, 1),
        ]
    db = tmp_path / "t.ldb"
    load(str(tmp_path / "a.jsonl"), str(db), key="{id}")
    values = [json.loads(v) for _, v in leveldb_items(db)[0]]
    assert [(v["t"], v["u"]) for v in values] == [
        ("[null,1e400]", '[1,"a","Infinity"]'),
        ("[1]", '{"k":null,"NaN":["Infinity","-Infinity"]}'),
    ]


# Declared types JSON has no values of (dates, timestamps, decimals) convert from the
# strings and numbers as written, through the one conversion path: what does not fit is rejected.


def test_declared_dates_timestamps_and_decimals_convert_strings_and_numbers(tmp_path: Path) -> None:
    raw = [
        '{"id":1,"d":"2024-01-01","ts":"2024-01-01T01:02:03+02:00","us":"2024-01-01 10:00:00","a":1.50}',
        '{"id":2,"d":"2024-02-29","ts":"2024-01-02T00:00:00Z","us":null,"a":"2.25"}',
        '{"id":3,"d":null,"ts":null,"us":"2024-03-01T00:00:00.123456","a":-1e1}',
    ]
    columns = {"d": "date", "ts": "timestamp[ms, UTC]", "us": "timestamp", "a": "decimal(10, 2)"}
    report, stored, rejects = load_lines(tmp_path, raw, columns=columns)
    assert rejects == [] and report.rows_written == 3
    assert stored == [
        (1, "2024-01-01", "2023-12-31T23:02:03.000Z", "2024-01-01T10:00:00.000000", "1.50"),
        (2, "2024-02-29", "2024-01-02T00:00:00.000Z", None, "2.25"),
        (3, None, None, "2024-03-01T00:00:00.123456", "-10.00"),
    ]


def test_declared_values_that_do_not_convert_are_rejected_not_rounded(tmp_path: Path) -> None:
    raw = [
        '{"id":1,"d":"2024-01-01","a":1.505}',
        '{"id":2,"d":"2024-02-30","a":1}',
        '{"id":3,"d":{"y":2024},"a":2}',
        '{"id":4,"d":"2024-01-04","a":123456789.5}',
        '{"id":5,"d":"2024-01-05","a":0.01}',
    ]
    _, stored, rejects = load_lines(tmp_path, raw, columns={"d": "date", "a": "decimal(10, 2)"})
    assert stored == [(5, "2024-01-05", "0.01")]
    assert rejects == [
        (1, "a", "'1.505' is not a valid decimal(10, 2)"),
        (2, "d", "'2024-02-30' is not a valid date"),
        (3, "d", """'{"y":2024}' is an object, not a string or number"""),
        (4, "a", "'123456789.5' is not a valid decimal(10, 2)"),
    ]


def test_a_lone_surrogate_escape_rejects_its_line_and_the_rest_loads(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    src.write_text('{"id":1,"s":"x\\ud800y"}\n{"id":2,"s":"ok"}\n{"id":3,"s":"\\ud83d\\ude00"}\n')
    db = tmp_path / "s.db"
    report = load(src, db, table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 2, 1)
    assert sqlite_table(db) == [(2, "ok"), (3, "\N{GRINNING FACE}")]  # a whole pair is one character
    [r] = reject_lines(rejects_of(db))
    assert (r["line"], r["column"], r["reason"]) == (
        1,
        "s",
        "a lone surrogate \\ud800 in 'x\\ud800y' at .s: not valid Unicode",
    )


@pytest.mark.parametrize("suffix", [".db", ".ldb"])
def test_objects_keep_the_keys_they_were_written_with(tmp_path: Path, suffix: str) -> None:
    """pyarrow fills a key an object lacks with null; an explicit null stays one."""
    src = tmp_path / "k.jsonl"
    src.write_text(
        '{"id":1,"o":{"x":1}}\n{"id":2,"o":{"y":2}}\n{"id":3,"o":{"x":null}}\n'
        '{"id":4,"o":{"x":1,"y":null},"l":[{"k":1},{"k":2,"j":"z"}]}\n'
    )
    target = tmp_path / f"k{suffix}"
    assert (
        load(src, target, table="t" if suffix == ".db" else None, key="{id}" if suffix == ".ldb" else None).rows_written
        == 4
    )
    if suffix == ".db":
        rows = [(json.loads(o), json.loads(lst) if lst else None) for _, o, lst in sqlite_table(target)]
    else:
        values = [json.loads(value) for _, value in leveldb_items(target)[0]]
        # objects of several shapes are a column of JSON text: a string in the value's JSON
        rows = [tuple(json.loads(v[c]) if isinstance(v.get(c), str) else v.get(c) for c in "ol") for v in values]
    assert rows == [
        ({"x": 1}, None),
        ({"y": 2}, None),
        ({"x": None}, None),
        ({"x": 1, "y": None}, [{"k": 1}, {"k": 2, "j": "z"}]),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "iris",
        '[{"a": 1}, {"a": 2}]\n',
        '\ufeff[\r\n    {\r\n        "a":  1\r\n    }\r\n]\r\n',  # PowerShell 5.1's ConvertTo-Json | Out-File
        '\ufeff[{"a":1}]',
    ],
)
def test_a_json_array_file_is_refused_as_json_lines_with_what_to_do(tmp_path: Path, text: str) -> None:
    src = tmp_path / "a.json"
    if text == "iris":  # pretty-printed, as the data package ships it
        vega = pytest.importorskip("vega_datasets")
        text = (Path(os.path.dirname(vega.__file__)) / "_data" / "iris.json").read_text()
    src.write_text(text)
    p = cli("load", str(src), str(tmp_path / "a.db"))  # .json is read as JSON Lines
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}: is a JSON array of objects, not JSON Lines (one object per line)\n"
        "  hint: write it as JSON Lines, e.g. jq -c '.[]' file.json > file.jsonl, then load that\n"
    )


def test_a_json_lines_file_named_json_loads_as_bigquery_and_mongoexport_name_them(tmp_path: Path) -> None:
    src = tmp_path / "export.json"
    src.write_text('{"id":"1","n":2}\n{"id":"2","n":3}\n')
    p = cli("load", str(src), str(tmp_path / "a.db"), "--table", "t", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite3.connect(tmp_path / "a.db").execute("SELECT id, n FROM t ORDER BY id").fetchall() == [
        ("1", 2),
        ("2", 3),
    ]


DEFAULT_HINT = "  hint: fix or replace the file, then rerun: the files before it stay loaded\n"


@pytest.mark.parametrize(
    ("text", "args", "said"),
    [
        ("\r\n \n\n", [], "file is empty (blank lines only)\n" + DEFAULT_HINT),
        ("{}\n{}\n", [], "holds only empty objects ({}): no key to make a column of\n" + DEFAULT_HINT),
        (
            '{}\n{}\n{"id":1}\n',
            ["--infer-rows", "2"],
            "its first 2 rows are empty objects ({}): no key to make a column of\n"
            "  hint: read past them with a larger source.infer_rows (--infer-rows)\n",
        ),
        (
            '{\n  "id": 1\n}\n{\n  "id": 2\n}\n',  # jq . without -c
            [],
            "holds objects written over many lines (pretty-printed), not JSON Lines (one object per line)\n"
            "  hint: write it as JSON Lines, e.g. jq -c . file.json > file.jsonl, then load that\n",
        ),
        (
            '\n{"id":1,"a":2,"a":3}\n',
            [],
            "holds no JSON object it can load: line 2: not valid JSON: key 'a' appears twice in one object\n"
            + DEFAULT_HINT,
        ),
        (
            "null\n",
            [],
            "holds no JSON object it can load: line 1: a JSON Lines row is an object, not null\n" + DEFAULT_HINT,
        ),
    ],
    ids=["blank", "empty-objects", "empty-objects-sample", "pretty", "duplicate-key", "null"],
)
def test_a_file_that_gives_no_column_says_why(tmp_path: Path, text: str, args: list[str], said: str) -> None:
    """Each said "holds no JSON object in its first rows": false for {} and unhelpful for the rest."""
    src = tmp_path / "a.jsonl"
    src.write_text(text)
    p = cli("load", str(src), str(tmp_path / "a.db"), "--table", "t", *args)
    assert (p.returncode, p.stderr) == (65, f"loader: error: {src}: {said}")


def test_keys_that_differ_only_in_case_in_one_file_are_one_column(tmp_path: Path) -> None:
    """As across files and in SQLite: `a` in one row and `A` in the next are one column,
    under the spelling met first."""
    src = tmp_path / "one.jsonl"
    src.write_text('{"id":1,"a":1}\n{"id":2,"A":3}\n{"id":3,"a":4}\n', encoding="utf-8")
    with open_reader(str(src), source(src)) as r:
        assert [(f.name, str(f.type)) for f in r.schema] == [("id", "int64"), ("a", "int64")]
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (3, 0)
    assert sqlite_rows(db, "SELECT sql FROM sqlite_master WHERE name = 't'") == [
        ('CREATE TABLE "t" ("id" INTEGER, "a" INTEGER)',)
    ]
    assert sqlite_table(db) == [(1, 1), (2, 3), (3, 4)]
    load(str(src), str(tmp_path / "t.ldb"), key="row:{id}")
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [v for _, v in items] == [b'{"id":1,"a":1}', b'{"id":2,"a":3}', b'{"id":3,"a":4}']


def test_blocks_of_another_spelling_past_the_sample_load_into_its_column(tmp_path: Path) -> None:
    """pyarrow parses a block against the columns' first spellings: a block holding `A` is
    read line by line into `a`, also past the sample."""
    lines = [{"id": i, "a" if i % 100 < 50 else "A": i * 10} for i in range(1, 301)]
    src = write_lines(tmp_path / "a.jsonl", lines)
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t", source_options={"block_size": 1024, "infer_rows": 10})
    assert (report.rows_written, report.rows_rejected) == (300, 0)
    assert sqlite_table(db) == [(i, i * 10) for i in range(1, 301)]


def test_the_spellings_of_one_column_decide_its_type_together(tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text('{"Code":1,"n":1}\n{"code":2.5,"n":"x"}\n{"CODE":3,"n":2}\n', encoding="utf-8")
    with open_reader(str(src), source(src)) as r:
        assert [(f.name, str(f.type)) for f in r.schema] == [("Code", "double"), ("n", "string")]
    load(str(src), str(tmp_path / "t.db"), table="t")
    assert sqlite_table(tmp_path / "t.db", order="rowid") == [(1.0, "1"), (2.5, "x"), (3.0, "2")]


def test_keys_that_differ_only_in_case_in_one_object_are_two_columns_as_in_a_header(tmp_path: Path) -> None:
    """One object holding `a` and `A` is as a CSV header `a,A`: two columns, the second `A_2`,
    and every row's keys go to the column of their own spelling."""
    src = tmp_path / "a.jsonl"
    src.write_text('{"id":1,"a":1,"A":2}\n{"id":2,"A":3}\n{"id":3,"a":4}\n', encoding="utf-8")
    with open_reader(str(src), source(src)) as r:
        assert r.schema.names == ["id", "a", "A_2"]
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t")
    assert sqlite_table(db) == [(1, 1, 2), (2, None, 3), (3, 4, None)]


def test_keys_in_two_non_ascii_cases_are_two_columns(tmp_path: Path) -> None:
    """SQLite folds ASCII letters only: ``ñandú`` in one row and ``ÑANDÚ`` in the next are two
    columns (Python's ``lower`` had made them one, ``ñandú``)."""
    src = tmp_path / "a.jsonl"
    src.write_text('{"id":1,"ñandú":"a"}\n{"id":2,"ÑANDÚ":"b"}\n', encoding="utf-8")
    with open_reader(str(src), source(src)) as r:
        assert r.schema.names == ["id", "ñandú", "ÑANDÚ"]
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t")
    assert sqlite_table(db) == [(1, "a", None), (2, None, "b")]


def test_an_object_past_the_sample_holding_two_spellings_of_one_column_is_rejected(tmp_path: Path) -> None:
    """The sample made `a` and `A` one column: a later object holding both has no single
    value for it, and is rejected with both keys named; the rest loads."""
    src = tmp_path / "a.jsonl"
    src.write_text('{"id":1,"a":1}\n{"id":2,"A":3}\n{"id":3,"a":4,"A":5}\n{"id":4,"A":6}\n', encoding="utf-8")
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t", source_options={"infer_rows": 2})
    assert (report.rows_written, report.rows_rejected) == (3, 1)
    assert sqlite_table(db) == [(1, 1), (2, 3), (4, 6)]
    [bad] = reject_lines(rejects_of(db))
    assert (bad["line"], bad["column"], bad["raw"]) == (3, "a", '{"id":3,"a":4,"A":5}')
    assert bad["reason"] == (
        "keys 'a' and 'A' differ only in case: one column, 'a' (none of the first 2 rows held both, source.infer_rows)"
    )


def test_a_spelling_met_apart_from_two_that_are_columns_is_rejected_naming_them(tmp_path: Path) -> None:
    """`code` and `CODE` met in one object are two columns: `Code` alone could be either."""
    src = tmp_path / "a.jsonl"
    src.write_text('{"k":0,"Code":0}\n{"k":1,"code":1,"CODE":2}\n', encoding="utf-8")
    db = tmp_path / "t.db"
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert sqlite_table(db, order="k") == [(1, 1, 2)]
    [bad] = reject_lines(rejects_of(db))
    assert (bad["line"], bad["column"]) == (1, "Code")
    assert bad["reason"] == (
        "key 'Code' is not a column: it differs only in case from the columns 'code', 'CODE_2', "
        "which an object of the first 100000 rows held together (source.infer_rows)"
    )


# Rows whose keys differ only in case from their columns `A`, `s` and `o` (met first), of each
# kind the line-by-line reading tells apart: a value, a null, an absent key, a null inside an
# object, a nested key of the column's name, an escaped key...
SPELLED = [
    '{"id":%d,"A":1,"s":"x","o":{"a":0,"k":1}}',
    '{"id":%d,"a":2,"S":"y","O":{"a":0,"k":2}}',
    '{"id":%d,"a":null,"s":null}',
    '{"id":%d}',
    '{"id":%d,"O":{"a":1,"k":null},"S":"z"}',
    '{"id":%d,"o":{"a":3,"k":3},"a":5,"s":"w"}',
    '{"id":%d,"\\u0061":7,"O":null}',
]
# ... two spellings in one object, one of them null (pyarrow reads an absent key as null too)...
NULL_BESIDE = [
    '{"id":%d,"A":null,"a":3}',
    '{"id":%d,"a":null,"A":null}',
    '{"id":%d,"s":"q","S":null}',
    '{"id":%d,"\\u0061":null,"A":4}',
]
# ... and rows that do not fit otherwise.
MISFITS = [
    '{"id":%d,"a":"str"}',
    '{"id":%d,"a":1,"A":2}',
    '{"id":%d,"O":{"a":1,"k":4},"o":null,"a":6}',
    '{"id":%d,"zz":1}',
    '{"id":%d,"a":1.5}',
]


def read_all(src: Path, **options: Any) -> tuple[list[str], pa.Table, list[tuple[Any, ...]]]:
    """The columns a reader gives, its rows with their row and line numbers, and its rejects."""
    batches, rejects = [], []
    with open_reader(str(src), source(src, **options)) as r:
        names = [f"{f.name}: {f.type}" for f in r.schema]
        for chunk in r:
            batches.append(chunk.batch.append_column("_row", chunk.rows).append_column("_line", chunk.lines))
            rejects += [(x.row, x.line, x.column, x.reason, x.raw) for x in chunk.rejects]
    return names, pa.Table.from_batches(batches), rejects


def spelled_file(path: Path, odd: dict[int, str], blank_after: tuple[int, ...]) -> Path:
    """1,000 rows in the first two spellings of ``SPELLED`` but those of ``odd`` (by row),
    and blank lines."""
    lines = [(odd.get(i) or SPELLED[i % 2]) % i + ("\n  " if i in blank_after else "") for i in range(1000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_both_ways(
    src: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[tuple[list[str], pa.Table, list[tuple[Any, ...]]], int, int]:
    """What the reader gives, the same as what it gives reading and sampling every line on its
    own; and how many blocks it read and sampled line by line."""
    from loader.readers import jsonl

    counted = {"_by_line": 0, "_sample_lines": 0}

    def counting(name: str, owner: Any) -> None:
        real = getattr(owner, name)

        def call(*a: Any) -> Any:
            counted[name] += 1
            return real(*a)

        monkeypatch.setattr(owner, name, call)

    counting("_by_line", jsonl.JSONLReader)
    counting("_sample_lines", jsonl)
    got = read_all(src, **options)
    by_line, sampled_by_line = counted["_by_line"], counted["_sample_lines"]
    monkeypatch.setattr(jsonl, "_parsed_exactly", lambda *a: None)  # no block parsed whole
    each = src.with_name("each_line.jsonl")  # another path: the sample is not reused
    each.write_bytes(src.read_bytes())
    assert read_all(each, **options) == got
    return got, by_line, sampled_by_line


def test_blocks_of_two_spellings_are_read_whole_as_they_are_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow parses a block holding `a` beside the column `A` with each spelling a column,
    then merges them: the same values, rejects (reasons, rows, lines, columns) as reading each
    line gives. Only the blocks holding a row that does not fit are read line by line: each
    row of ``NULL_BESIDE`` is in a block of its own (blocks of some 45 rows)."""
    odd = {60 + i: row for i, row in enumerate(SPELLED)}
    odd |= {150: '{"ID":%d,"a":9}'}  # a spelling the sample did not meet
    odd |= {301 + 100 * i: row for i, row in enumerate(NULL_BESIDE)}
    odd |= {800 + i: row for i, row in enumerate(MISFITS)}
    src = spelled_file(tmp_path / "a.jsonl", odd, blank_after=(63, 300))  # rows are not lines
    (names, table, rejects), by_line, _ = read_both_ways(src, monkeypatch, block_size=2048, infer_rows=40)
    assert len(NULL_BESIDE) + 1 <= by_line <= len(NULL_BESIDE) + 2 < src.stat().st_size // 2048
    assert names == ["id: int64", "A: int64", "s: string", "o: struct<a: int64, k: int64>"]
    assert table.num_rows == 1000 - len(NULL_BESIDE) - len(MISFITS)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert [rows[i]["A"] for i in (60, 61, 62, 63, 64, 65, 66, 150)] == [1, 2, None, None, None, 5, 7, 9]
    assert [(rows[i]["s"], rows[i]["o"]) for i in (61, 64, 65)] == [
        ("y", {"a": 0, "k": 2}),
        ("z", {"a": 1, "k": None}),
        ("w", {"a": 3, "k": 3}),
    ]
    assert [(rows[i]["_row"], rows[i]["_line"]) for i in (63, 64, 999)] == [(64, 64), (65, 66), (1000, 1002)]
    both = "differ only in case: one column, {!r} (none of the first 40 rows held both, source.infer_rows)"
    assert [r[:4] for r in rejects] == [  # row, line, column, reason
        (302, 304, "A", "keys 'A' and 'a' " + both.format("A")),
        (402, 404, "A", "keys 'a' and 'A' " + both.format("A")),
        (502, 504, "s", "keys 's' and 'S' " + both.format("s")),
        (602, 604, "A", "keys 'a' and 'A' " + both.format("A")),
        (801, 803, "A", "'str' is a string, not a number"),
        (802, 804, "A", "keys 'a' and 'A' " + both.format("A")),
        (803, 805, "o", "keys 'O' and 'o' " + both.format("o")),
        (804, 806, "zz", "key 'zz' is not a column (columns come from the first 40 rows, source.infer_rows)" + REPLAY),
        (805, 807, "A", "'1.5' is not a valid int64"),
    ]


@pytest.mark.parametrize("twice", [False, True])
def test_a_sample_of_two_spellings_is_read_whole_as_it_is_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twice: bool
) -> None:
    """The sample's blocks too: `a` beside `A` is one column unless an object holds both,
    one of them null (then two, `A` and `a_2`), the same as sampling each line tells; only the
    block holding that object is sampled line by line."""
    odd = {60 + i: row for i, row in enumerate(SPELLED)}
    odd |= {500: NULL_BESIDE[0]} if twice else {}
    src = spelled_file(tmp_path / "a.jsonl", odd, blank_after=(63, 499))
    (names, table, rejects), _, by_line = read_both_ways(src, monkeypatch, block_size=2048)
    assert by_line == (1 if twice else 0)
    assert rejects == []
    a_2 = ["a_2: int64"] if twice else []
    assert names == ["id: int64", "A: int64", "s: string", "o: struct<a: int64, k: int64>", *a_2]
    spelled = [(r["A"], r.get("a_2")) for r in table.to_pylist()[60:67]]
    if twice:  # each key into the column of its spelling
        assert spelled == [(1, None), (None, 2), (None, None), (None, None), (None, None), (None, 5), (None, 7)]
    else:
        assert spelled == [(1, None), (2, None), (None, None), (None, None), (None, None), (5, None), (7, None)]


def test_a_file_alternating_two_spellings_costs_about_what_one_spelling_costs(tmp_path: Path) -> None:
    """Its blocks are parsed whole, not a line at a time: function calls (a measure of work
    the same on any machine) within a small factor of the same file in one spelling, where
    reading each line made some 120 calls a row."""
    rows = 20_000
    made = {}
    for name, spellings in (("one", "aa"), ("two", "Aa")):
        src = tmp_path / f"{name}.jsonl"
        src.write_text("".join(json.dumps({"id": i, spellings[i % 2]: i, "pad": "x" * 20}) + "\n" for i in range(rows)))
        read_all(src)  # the first read imports what reading uses
        (names, table, rejects), made[name] = calls_made(
            lambda src=src: read_all(src.rename(src.with_suffix(".2.jsonl")))
        )
        assert (names, rejects) == (["id: int64", f"{spellings[0]}: int64", "pad: string"], [])
        assert table.column(1).to_pylist() == list(range(rows))
    assert made["two"] < 1.5 * made["one"], made


def test_digits_inside_strings_do_not_send_a_block_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hex ids ("k35ec2da341e191d4": "1e191" looks like a 3-digit exponent) and long digit runs
    inside strings are no numbers float64 rounds: the block goes through pyarrow's parser, in
    the sample and in the load; a real number that rounds is still caught."""
    from loader.readers.jsonl import _rounding

    assert _rounding(b'{"u": "k35ec2da341e191d4", "a": 0.5, "s": "id 12345678901234567890"}\n') is None
    assert _rounding(b'{"u": "x1e191", "a": [1, 2e+400]}\n') == "other"
    assert _rounding(b'{"a":\t-12345678901234567891 }\n') == "integers"
    lines = [{"id": i, "u": f"k{i * 2654435761 % 2**64:x}e191", "a": i + 0.25} for i in range(2000)]
    src = write_lines(tmp_path / "a.jsonl", lines)
    import loader.readers.jsonl as jsonl

    parsed_lines: list[bytes] = []
    loads = jsonl._loads
    monkeypatch.setattr(jsonl, "_loads", lambda line: (parsed_lines.append(line), loads(line))[1])
    with open_reader(str(src), source(src)) as r:
        assert [str(f.type) for f in r.schema] == ["int64", "string", "double"] and not r.by_line
        assert sum(c.num_rows for c in r) == 2000
    assert parsed_lines == []
    load(str(src), str(tmp_path / "t.db"), table="t")
    assert sqlite_table(tmp_path / "t.db", order="rowid") == [(e["id"], e["u"], e["a"]) for e in lines]


def test_nested_values_read_line_by_line_are_typed_a_piece_at_a_time() -> None:
    """The sample holds at most ``FOLD_VALUES`` objects of a key at once (as their texts),
    however many rows it reads line by line; the type is the one the whole sample gives."""
    from loader.readers.jsonl import FOLD_VALUES, _Guess

    guess = _Guess()
    for i in range(FOLD_VALUES * 2 + 5):
        guess.add_nested(f'{{"n": {i}, "tags": ["a"]}}')
        assert len(guess.nested) < FOLD_VALUES
    assert guess.result() == pa.struct([("n", pa.int64()), ("tags", pa.list_(pa.string()))])
    guess.add("text")
    assert guess.result() == pa.string()


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_later_runs_json_value_of_another_kind_is_rejected_by_a_type_a_parquet_file_recorded(
    tmp_path: Path, sink: str
) -> None:
    """An object, array or bool into a column an earlier run's Parquet file made a date or an
    int64: rejected with the recorded type, as the same value in a Parquet or CSV file."""
    import datetime as dt

    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "d": [dt.date(2024, 1, 1)], "n": [7]}), tmp_path / "a.parquet")
    lines = [{"id": 2, "d": {"x": 1}}, {"id": 3, "n": [1, 2]}, {"id": 4, "d": True}, {"id": 5, "d": None, "n": None}]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    target = tmp_path / f"t.{sink}"
    opts: dict[str, Any] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    assert load(str(tmp_path / "a.parquet"), str(target), **opts).rows_written == 1
    report = load(str(tmp_path / "b.jsonl"), str(target), **opts)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 1, 3)
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [(r["line"], r["column"], r["reason"].split(": to change it")[0]) for r in rejects] == [
        (1, "d", "'{\"x\":1}' is an object, not a string or number; d is date since an earlier run of this job"),
        (2, "n", "'[1,2]' is an array, not a number; n is int64 since an earlier run of this job"),
        (3, "d", "'true' is a boolean, not a string or number; d is date since an earlier run of this job"),
    ]
    if sink == "db":
        assert sqlite_table(target, "t") == [(1, "2024-01-01", 7), (5, None, None)]
    else:
        items, _ = leveldb_items(target)
        assert [json.loads(v) for _, v in items] == [
            {"id": 1, "d": "2024-01-01", "n": 7},
            {"id": 5, "d": None, "n": None},
        ]


# hunt15a's lines that are not one object, each a file: its rows loaded, and each reject's row,
# line and reason. pandas writes a missing record as a `null` line (Series.to_json(orient="records",
# lines=True) of dicts holding a None).
NOT_ONE_OBJECT = {
    "null first, as pandas writes it": (
        'null\n{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n',
        [(1, "a"), (2, "b")],
        [(1, 1, "a JSON Lines row is an object, not null")],
    ),
    "null within a block": (
        '{"id":1,"v":"a"}\nnull\n{"id":2,"v":"b"}\n',
        [(1, "a"), (2, "b")],
        [(2, 2, "a JSON Lines row is an object, not null")],
    ),
    "null beside a truncated line": (
        '{"id":1,"v":"a"}\nnull\n{"id":2,"v":"b"}\n{"id":3,"v":"c"\n',
        [(1, "a"), (2, "b")],
        [
            (2, 2, "a JSON Lines row is an object, not null"),
            (4, 4, "not valid JSON: expecting ',' delimiter at character 16 of the line"),
        ],
    ),
    "null beside an array line": (
        '{"id":1,"v":"a"}\nnull\n[1]\n{"id":2,"v":"b"}\n',
        [(1, "a"), (2, "b")],
        [(2, 2, "a JSON Lines row is an object, not null"), (3, 3, "a JSON Lines row is an object, not an array")],
    ),
    "two objects on one line": (
        '{"id":1,"v":1}\n{"id":2,"v":2} {"id":3,"v":3}\n{"id":4,"v":4}\n',
        [(1, 1), (4, 4)],
        [(2, 2, "a JSON Lines row is one object, not two values on one line (the second at column 16)")],
    ),
    "two objects on one line beside a misfit": (
        '{"id":1,"v":1}\n{"id":2,"v":2} {"id":3,"v":3}\n{"id":4,"v":4}\n{"id":5,"v":"x"}\n',
        [(1, 1), (4, 4)],
        [
            (2, 2, "a JSON Lines row is one object, not two values on one line (the second at column 16)"),
            (4, 4, "'x' is a string, not a number"),
        ],
    ),
    "two objects parted by a lone CR": (
        '{"id":1,"v":1}\n{"id":2,"v":2}\r{"id":3,"v":3}\n{"id":4,"v":4}\n',
        [(1, 1), (4, 4)],
        [
            (
                2,
                2,
                "a JSON Lines row is one object, not two values on one line "
                "(the second at column 16, after a lone carriage return)",
            )
        ],
    ),
    "an empty array first": (
        '[]\n{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n',
        [(1, "a"), (2, "b")],
        [(1, 1, "a JSON Lines row is an object, not an array")],
    ),
}


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("name", sorted(NOT_ONE_OBJECT))
def test_a_line_that_is_not_one_object_is_rejected_with_its_line_and_the_rest_loads(
    tmp_path: Path, name: str, engine: str
) -> None:
    """Whatever shares its block: pyarrow crashed the process on a block starting with `null`,
    read a `null` elsewhere as a row of nulls, and two objects on one line as two rows (so
    ``processes`` failed on more rows than lines); line by line, `null` failed with a KeyError."""
    text, rows, rejected = NOT_ONE_OBJECT[name]
    src = tmp_path / "in.jsonl"
    src.write_text(text, newline="")
    db, report = tmp_path / "t.db", tmp_path / "r.json"
    # in a process of its own: the crash was a segfault; infer_rows=1: `"x"` does not fit `v`
    args = ["--table", "t", "--engine", engine, "--set", "source.infer_rows=1", "--report", str(report), "-q"]
    p = cli("load", str(src), str(db), *args)
    assert p.returncode == 0, p.stderr
    assert sqlite_table(db) == rows
    assert [(r["row"], r["line"], r["reason"]) for r in reject_lines(rejects_of(db))] == rejected
    counts = json.loads(report.read_text())
    assert (counts["rows_read"], counts["rows_written"], counts["rows_rejected"]) == (
        len(rows) + len(rejected),
        len(rows),
        len(rejected),
    )


def test_a_repeated_key_after_two_objects_on_one_line_is_rejected_with_its_own_line(tmp_path: Path) -> None:
    """Line 2 read as two rows shifted the line of every later reject: the repeated key on
    line 4 was said to be on line 5."""
    src = tmp_path / "two_pk.jsonl"
    src.write_text('{"id":1,"v":1}\n{"id":2,"v":2} {"id":3,"v":3}\n{"id":4,"v":4}\n{"id":4,"v":5}\n{"id":6,"v":6}\n')
    db = tmp_path / "pk.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t(id integer primary key, v integer)")
    conn.close()
    load(str(src), str(db), table="t")
    assert sqlite_table(db) == [(1, 1), (4, 4), (6, 6)]
    got = [(r["row"], r["line"], r["stage"], r["reason"]) for r in reject_lines(rejects_of(db))]
    assert got == [
        (2, 2, "read", "a JSON Lines row is one object, not two values on one line (the second at column 16)"),
        (4, 4, "write", "key 4 is already in table 't' (UNIQUE constraint failed: t.id)"),
    ]


def test_a_null_line_starting_a_later_block_is_rejected_and_the_rest_loads(tmp_path: Path) -> None:
    """hunt15a's 1 MB file: the `null` line starts the second 1 MiB block, which the sample
    parses ahead on a worker even with infer_rows=100; it crashed the process."""
    out, size, i = [], 0, 0
    while True:
        line = json.dumps({"id": i, "pad": "x" * 40}) + "\n"
        if size + len(line) > 1048574 - 200:
            break
        out.append(line)
        size += len(line)
        i += 1
    base = json.dumps({"id": i, "pad": ""}) + "\n"
    out.append(json.dumps({"id": i, "pad": "x" * (1048574 - size - len(base))}) + "\n")
    first = i + 1
    rest = "".join(json.dumps({"id": j, "pad": "y"}) + "\n" for j in range(first, first + 1000))
    src = tmp_path / "blk.jsonl"
    src.write_text("".join(out) + "null\n" + rest)
    assert len("".join(out)) < 1 << 20 < len("".join(out)) + len("null\n")  # it straddles the 1 MiB mark
    db = tmp_path / "blk.db"
    p = cli("load", str(src), str(db), "--table", "t", "--set", "source.infer_rows=100", "-q")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT count(*), min(id), max(id) FROM t") == [(first + 1000, 0, first + 999)]
    [null] = reject_lines(rejects_of(db))
    assert (null["row"], null["line"], null["reason"], null["raw"]) == (
        first + 1,
        first + 1,
        "a JSON Lines row is an object, not null",
        "null",
    )


def test_inspect_and_validate_reject_a_null_first_line_as_a_load_would(tmp_path: Path) -> None:
    src = tmp_path / "series.jsonl"
    src.write_text('null\n{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n')
    p = cli("inspect", str(src))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == (
        "rejected: 1 of the first 3 rows, as a load would (line 1: a JSON Lines row is an object, not null)"
    )
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "{src}"\n[sink]\npath = "{tmp_path / "t.db"}"\ntable = "t"\n')
    p = cli("validate", str(job))
    assert p.returncode == 0, p.stderr


def test_lines_that_are_not_one_object_are_read_whole_as_they_are_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of some 45 rows, a `null` or two objects on one line at a block's start, within
    one, and beside other bad lines: every block gives what reading each line gives."""
    lines = [json.dumps({"id": i, "v": f"v{i}"}) for i in range(400)]
    for at in (0, 46, 100, 101, 250):
        lines[at] = "null"
    for at in (47, 150, 300):
        lines[at] = lines[at] + " " + lines[at + 1]
    lines[151] = '{"id": 151, "v": 151'  # malformed beside the two objects on line 151
    lines[220] = lines[220] + "\r" + lines[221]
    lines[350] = "  null  "
    src = tmp_path / "a.jsonl"
    src.write_text("\n".join(lines) + "\n")
    (names, table, rejects), _, _ = read_both_ways(src, monkeypatch, block_size=2048, infer_rows=40)
    assert names == ["id: int64", "v: string"]
    bad = {0, 46, 100, 101, 250, 350, 47, 150, 151, 300, 220}
    assert table.column("_line").to_pylist() == [i + 1 for i in range(400) if i not in bad]
    assert table.column("id").to_pylist() == [i for i in range(400) if i not in bad]
    assert [(row, line) for row, line, *_ in rejects] == [(i + 1, i + 1) for i in sorted(bad)]
    reasons = {line: reason.split(" (the second")[0] for _, line, _, reason, _ in rejects}
    assert {reasons[i + 1] for i in (0, 46, 100, 101, 250, 350)} == {"a JSON Lines row is an object, not null"}
    assert {reasons[i + 1] for i in (47, 150, 220, 300)} == {
        "a JSON Lines row is one object, not two values on one line"
    }


def test_a_file_whose_lines_end_in_a_lone_carriage_return_is_refused_with_a_hint(tmp_path: Path) -> None:
    """Classic Mac OS line ends: one line of many objects, rejected as one, so nothing to type."""
    src = tmp_path / "mac.jsonl"
    src.write_bytes(b'{"id":1,"v":1}\r{"id":2,"v":2}\r{"id":3,"v":3}\r')
    p = cli("load", str(src), str(tmp_path / "m.db"), "--table", "t")
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}: holds no JSON object in its first rows\n"
        "  hint: its lines end in a carriage return alone (classic Mac OS): end them in newlines, "
        "e.g. tr '\\r' '\\n' < file > file.jsonl, then load that\n"
    )


# -------------------------------------------------------------- UTF-16 (Windows PowerShell 5)

POWERSHELL = [{"id": 0, "name": "Zoë"}, {"id": 1, "name": "东京"}, {"id": 2, "name": "x"}]


def _powershell_lines(encoding: str) -> bytes:
    """JSON Lines as Windows PowerShell 5 writes them (``>``, ``Out-File``): UTF-16, CRLF."""
    return "".join(json.dumps(x, ensure_ascii=False) + "\r\n" for x in POWERSHELL).encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")],
    ids=["bom", "le-without-bom", "be-without-bom"],
)
def test_a_utf16_file_read_as_utf8_is_refused_naming_the_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, named: str
) -> None:
    """It loaded the first line, rejected the others ("'utf-16-be' codec can't decode"), and
    counted half the last line end as a fourth row: ok, exit 0. Without a mark, the file
    holding no JSON object in the first lines json read as UTF-16 of the wrong order."""
    from loader.cli import main

    src, db, report = tmp_path / "u16.jsonl", tmp_path / "u16.db", tmp_path / "r.json"
    src.write_bytes(_powershell_lines(encoding))
    code = main(["load", str(src), str(db), "--table", "t", "--report", str(report), "-q"])
    assert (code, capsys.readouterr().err.splitlines()) == (
        65,
        [
            f"loader: error: {src}: not utf-8 text",
            f'  hint: it looks like UTF-16: read it with --encoding {named} (source.encoding = "{named}")',
        ],
    )
    written = json.loads(report.read_text())
    assert (written["rows_read"], written["rows_written"], written["rows_rejected"]) == (0, 0, 0)
    assert sqlite_rows(db, "SELECT name FROM sqlite_master WHERE name = 't'") == []
    assert main(["load", str(src), str(db), "--table", "t", "--encoding", named, "--report", str(report), "-q"]) == 0
    written = json.loads(report.read_text())
    assert (written["rows_read"], written["rows_written"], written["rows_rejected"]) == (3, 3, 0)
    assert sqlite_rows(db, "SELECT id, name FROM t ORDER BY id") == [(0, "Zoë"), (1, "东京"), (2, "x")]


def test_a_utf16_file_declared_in_an_8_bit_encoding_is_refused(tmp_path: Path) -> None:
    """The transcoded stream checks its head as a CSV file's: it loaded one row of NUL-laced text."""
    from loader.errors import SourceError

    src = tmp_path / "u16.jsonl"
    src.write_bytes(_powershell_lines("utf-16"))
    with pytest.raises(SourceError) as caught:
        load(str(src), str(tmp_path / "o.db"), table="t", source_options={"encoding": "cp1252"})
    assert (str(caught.value), caught.value.hint, caught.value.exit_code) == (
        f"{src}: not cp1252 text",
        'it looks like UTF-16: read it with source_options={"encoding": "utf-16"}',
        65,
    )


def test_a_wide_files_small_blocks_are_typed_together_and_every_row_has_its_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block of the sample was typed column by column: a wide file's blocks hold a row or
    two, and 2,000 columns took ~0.3 s a block in kernel calls. Blocks are now typed in groups;
    a value in the sample's last rows still decides its column's type."""
    from loader import convert

    rows = []
    for i in range(300):
        row: dict[str, Any] = {"id": i}
        for c in range(20):
            row[f"i{c}"] = i * c
            row[f"f{c}"] = i + 0.5
            row[f"s{c}"] = f"t{i}"
        rows.append(row)
    rows[-1]["i3"] = 2.5  # the last row makes i3 a float column
    rows[-2]["i4"] = "x"  # and i4 a text one
    src = tmp_path / "wide.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fed = 0
    add = convert.TypeGuess.add

    def counted(self: convert.TypeGuess, sample: pa.Array) -> None:
        nonlocal fed
        fed += 1
        add(self, sample)

    monkeypatch.setattr(convert.TypeGuess, "add", counted)
    with open_reader(str(src), source(src, block_size=1024)) as r:  # a block holds a row or two
        schema = r.schema
    assert fed <= 2 * 21  # the integer columns, once each (old: once per block, ~400 each)
    types = {f.name: str(f.type) for f in schema}
    assert types["id"] == types["i0"] == types["i19"] == "int64"
    assert (types["i3"], types["i4"], types["f0"], types["s0"]) == ("double", "string", "double", "string")


# An object or array column declared a string keeps each value as its JSON text, as a column
# mixing kinds does: shapes past the sample (GitHub Archive payloads, ``omitempty``) then load.

SHAPES = ['{"id":1,"p":{"a":1}}', '{"id":2,"p":{"b":[1, 2.50]}}', '{"id":3,"p":[1,"x"]}', '{"id":4,"p":"s"}']


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("infer_rows", [1, 100])
def test_a_declared_string_keeps_objects_and_arrays_as_json_text(tmp_path: Path, engine: str, infer_rows: int) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text("".join(r + "\n" for r in SHAPES), encoding="utf-8")
    flags = ["--columns", "p=string", "--infer-rows", str(infer_rows), "--engine", engine]
    p = cli("load", str(src), str(tmp_path / "o.db"), "--table", "t", *flags)
    assert p.returncode == 0, p.stderr
    texts = ['{"a":1}', '{"b":[1,2.50]}', '[1,"x"]', "s"]
    assert sqlite_table(tmp_path / "o.db", order="rowid") == list(enumerate(texts, 1))
    p = cli("load", str(src), str(tmp_path / "o.ldb"), "--key", "{id}", *flags)
    assert p.returncode == 0, p.stderr
    assert [json.loads(v)["p"] for _, v in leveldb_items(tmp_path / "o.ldb")[0]] == texts


def test_a_struct_reject_past_the_sample_says_where_its_type_came_from_and_the_way_out(tmp_path: Path) -> None:
    _, stored, rejects = load_lines(tmp_path, ['{"p":{"a":1}}', '{"p":{"b":2}}'], infer_rows=1)
    assert stored == [('{"a":1}',)]
    assert rejects == [
        (
            2,
            "p",
            """'{"b":2}' does not fit struct<a: int64>: an object has key 'b', not a field of the type"""
            + shape_hint("p", 1),
        )
    ]


def test_a_declared_string_keeps_true_and_false_as_their_json_text(tmp_path: Path) -> None:
    raw = ['{"s":true}', '{"s":"x"}', '{"s":false}', '{"s":1.50}', '{"s":null}']
    _, stored, rejects = load_lines(tmp_path, raw, columns={"s": "string"})
    assert stored == [("true",), ("x",), ("false",), ("1.50",), (None,)] and rejects == []


def test_a_declared_bool_reads_the_strings_inference_reads_as_a_bool(tmp_path: Path) -> None:
    raw = ['{"b":"true"}', '{"b":"False"}', '{"b":true}', '{"b":"TRUE"}', '{"b":"yes"}', '{"b":1}', '{"b":null}']
    _, stored, rejects = load_lines(tmp_path, raw, columns={"b": "bool"})
    assert stored == [(1,), (0,), (1,), (1,), (None,)]
    spellings = "(nor one of true, false, TRUE, FALSE, True, False)"
    assert rejects == [
        (5, "b", f"'yes' is not a JSON true or false {spellings}"),
        (6, "b", f"'1' is not a JSON true or false {spellings}"),
    ]


def test_an_inferred_bool_takes_json_true_and_false_only(tmp_path: Path) -> None:
    _, stored, rejects = load_lines(tmp_path, ['{"b":true}', '{"b":"true"}'], infer_rows=1)
    assert stored == [(1,)] and rejects == [(2, "b", "'true' is not a JSON true or false")]


def test_a_declared_string_writes_nan_and_the_infinities_in_its_json_text_as_a_mixed_column_does(
    tmp_path: Path,
) -> None:
    raw = ['{"p":{"x":NaN,"y":[Infinity,-Infinity]}}', '{"p":"NaN"}', '{"p":[1.5]}']
    _, stored, rejects = load_lines(tmp_path, raw, columns={"p": "string"})
    assert rejects == []
    assert stored == [('{"x":null,"y":["Infinity","-Infinity"]}',), ("NaN",), ("[1.5]",)]


def _deep(depth: int) -> str:
    return f'{{"id":{depth},"d":' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("suffix", [".db", ".ldb"])
@pytest.mark.parametrize("past_sample", [False, True])
def test_a_value_nested_too_deep_rejects_its_row_and_the_rest_loads(
    tmp_path: Path, engine: str, suffix: str, past_sample: bool
) -> None:
    """Valid JSON nested past ``MAX_DEPTH`` (100) levels would overflow Python's recursion (json,
    the checks, the encoders), Arrow's IPC, or pyarrow's parser (a segfault at 100,000): the row
    is rejected, naming the column; 100 levels load."""
    head = [f'{{"id":{i},"d":[[1]]}}' for i in range(1, 4)]
    deep = [_deep(101), _deep(600), _deep(100_000), '{"id":7,"d":' + '{"a":' * 150 + "1" + "}" * 150 + "}"]
    lines = [*head, _deep(100), *deep] if past_sample else [_deep(100), *deep, *head]
    src = tmp_path / "deep.jsonl"
    src.write_text("".join(x + "\n" for x in lines))
    target = tmp_path / f"t{suffix}"
    sink = ["--table", "t"] if suffix == ".db" else ["--key", "{id}"]
    p = cli("load", str(src), str(target), *sink, "--engine", engine, "--infer-rows", "4" if past_sample else "1000")
    assert p.returncode == 0, p.stderr
    job = "table:t" if suffix == ".db" else "key:id"
    got = [(r["line"], r["column"], r["reason"]) for r in reject_lines(rejects_of(target, job))]
    first = 5 if past_sample else 2
    why = "the value at .d is nested deeper than 100 levels of arrays and objects"
    assert got == [(line, "d", why) for line in range(first, first + 4)]
    n = len(leveldb_items(target)[0]) if suffix == ".ldb" else len(sqlite_table(target))
    assert n == 4  # the three shallow rows and the one 100 levels deep


def _deepest_at(line: bytes, most: int) -> int | None:
    """Where a bracket first nests past ``most`` levels, outside strings: a byte at a time."""
    depth, inside, escaped = 0, False, False
    for i, byte in enumerate(line):
        if inside:
            inside = escaped or byte != ord('"')
            escaped = not escaped and byte == ord("\\")
        elif byte == ord('"'):
            inside = True
        elif byte in b"[{":
            depth += 1
            if depth > most:
                return i
        elif byte in b"]}":
            depth -= 1
    return None


@pytest.mark.parametrize("window", [1, 2, 3, 7, 64])
def test_the_depth_check_carries_strings_and_backslashes_across_its_windows(
    monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    from loader.readers import jsonl

    monkeypatch.setattr(jsonl, "_WINDOW", window)
    nest = "[" * 102 + "]" * 102
    lines = [
        '{"a":' + nest + "}",
        '{"k\\\\":"x\\"' + "[" * 200 + '","b":' + nest + "}",  # an escaped quote, then brackets in a string
        '{"s":"\\\\\\\\","t":"' + "{" * 150 + '","c":' + "[" * 100 + "]" * 100 + "}",  # 100 levels: fine
        '{"a":"\\\\\\"' + "[" * 300 + '"}',
        '{"p":[' + "[1,2]," * 50 + '[1]],"q":{"r":' + nest + "}}",
    ]
    for text in lines:
        line = text.encode()
        assert json.loads(text)  # each is valid JSON
        assert jsonl._first_too_deep(line) == _deepest_at(line, jsonl.MAX_DEPTH + 1), text
    assert [jsonl._too_deep(x.encode()) for x in lines] == ["a", "b", None, None, "q"]


def test_the_depth_check_of_a_long_line_costs_memory_of_its_window_not_of_the_line() -> None:
    """A GeoJSON line of 1.2 million points nests 5 levels: checking it cost ~35 bytes a byte."""
    import tracemalloc

    from loader.readers import jsonl

    line = (
        '{"id":1,"name":"a \\"q\\" \\\\","geom":{"coordinates":[[' + "[1.5,-2.25]," * 800_000 + "[0,0]]]}}"
    ).encode()
    tracemalloc.start()
    try:
        assert jsonl._too_deep(line) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20 < len(line) // 2


CESU8 = [
    b'{"id":1,"s":"ok"}',
    b'{"id":2,"s":"smile \xed\xa0\xbd\xed\xb8\x80"}',  # U+1F600 as CESU-8 (Java's modified UTF-8)
    b'{"id":3,"s":"x\xed\xa0\x80y"}',  # a lone surrogate as WTF-8
    b'{"id":4,"x\xed\xa0\x80y":1}',  # in a key
    b'{"id":5,"s":"Z\xfcrich"}',  # Latin-1
    b'{"id":6,"s":"fine"}',
]
NOT_UTF8 = [
    "not valid UTF-8: the bytes ed a0 bd ed b8 80 at position 19 are one character written as a surrogate pair, "
    "as CESU-8 (Java's modified UTF-8, MySQL's 3-byte utf8, Oracle's UTF8) writes it: export the file as UTF-8 "
    "(utf8mb4, AL32UTF8)",
    "not valid UTF-8: the bytes ed a0 80 at position 14 encode the surrogate \\ud800, which no Unicode text holds "
    "(CESU-8, WTF-8)",
    "not valid UTF-8: the bytes ed a0 80 at position 10 encode the surrogate \\ud800, which no Unicode text holds "
    "(CESU-8, WTF-8)",
    "not valid UTF-8: 'utf-8' codec can't decode byte 0xfc in position 14: invalid start byte",
]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("suffix", [".db", ".ldb"])
@pytest.mark.parametrize("past_sample", [False, True])
def test_encoded_surrogates_reject_their_row_as_invalid_utf8(
    tmp_path: Path, engine: str, suffix: str, past_sample: bool
) -> None:
    """CESU-8 and WTF-8 bytes (a surrogate encoded as UTF-8) are not UTF-8: json reads bytes with
    them passed, and the load stopped (exit 1) on the first use of the text; in a key, in the sample too."""
    src = tmp_path / "c.jsonl"
    src.write_bytes(b"".join(x + b"\n" for x in CESU8))
    target = tmp_path / f"t{suffix}"
    sink = ["--table", "t"] if suffix == ".db" else ["--key", "{id}"]
    p = cli("load", str(src), str(target), *sink, "--engine", engine, "--infer-rows", "1" if past_sample else "100")
    assert p.returncode == 0, p.stderr
    job = "table:t" if suffix == ".db" else "key:id"
    got = [(r["line"], r.get("column"), r["reason"]) for r in reject_lines(rejects_of(target, job))]
    columns = ["s", "s", None, "s"]  # the value's key; no column for bytes in a key
    assert got == list(zip(range(2, 6), columns, NOT_UTF8, strict=True))
    n = len(leveldb_items(target)[0]) if suffix == ".ldb" else len(sqlite_table(target))
    assert n == 2


def test_a_lone_surrogate_reject_names_its_key_and_path(tmp_path: Path) -> None:
    raw = [
        '{"id":1,"name":"b\\udc00","o":{"k":"v"}}',
        '{"id":2,"name":"b","o":{"k":["x\\ud800"]}}',
        '{"id":3,"name":"b","o":{"k\\ud800":"v"}}',
        '{"id":4,"name":"b","o":{"k":"v"}}',
    ]
    _, stored, rejects = load_lines(tmp_path, raw)
    assert stored == [(4, "b", '{"k":"v"}')]
    assert rejects == [
        (1, "name", "a lone surrogate \\udc00 in 'b\\udc00' at .name: not valid Unicode"),
        (2, "o", "a lone surrogate \\ud800 in 'x\\ud800' at .o.k[0]: not valid Unicode"),
        (3, "o", "a lone surrogate \\ud800 in the key 'k\\ud800' at .o: not valid Unicode"),
    ]


def test_a_file_in_another_encoding_has_its_columns_and_every_row_rejected_as_csv_rows_are(tmp_path: Path) -> None:
    """Latin-1 JSON Lines: no line is UTF-8, so the sample found no column and the file was
    refused whole (exit 65, no reject); its keys are columns, its rows rejected with the reason."""
    src = tmp_path / "lat.jsonl"
    src.write_bytes(b'{"id":"x\xe9","n":1}\n{"id":"y\xe9","n":2}\n')
    p = cli("load", str(src), str(tmp_path / "o.db"), "--table", "t", "-q")
    assert p.returncode == 4, p.stderr
    reasons = [r["reason"] for r in reject_lines(rejects_of(tmp_path / "o.db"))]
    assert (
        reasons
        == ["not valid UTF-8: 'utf-8' codec can't decode byte 0xe9 in position 8: invalid continuation byte"] * 2
    )
    p = cli("load", str(src), str(tmp_path / "o.db"), "--table", "t", "--encoding", "latin-1", "--restart", "-q")
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "o.db", order="rowid") == [("xé", 1), ("yé", 2)]


def _nested_row(i: int) -> dict[str, Any]:
    """A row of lists of objects beside an object holding a mixed array (hunt27d's shape)."""
    items = [
        {"sku": f"s{j}", "qty": j, "tags": ["a", "b", "c"][: j % 3 + 1], "attrs": {"w": j * 1.5, "h": [j, j + 1]}}
        for j in range(i % 20)
    ]
    return {"id": i, "items": items, "meta": {"src": "x", "deep": {"a": {"b": {"c": [1, 2, {"d": i}]}}}}}


def test_nested_sample_held_as_text_within_the_blocks_room(tmp_path: Path) -> None:
    """The sample's objects and arrays are held as their texts, typed by pyarrow a couple of
    blocks' bytes at a time: 3,000 rows (2.5 MB) read with 64 KB blocks held 51 MB of Python
    objects before (every value of a key, up to 8,192, at once), 8 MB now; the types are the same."""
    import tracemalloc

    src = tmp_path / "nested.jsonl"
    src.write_text("".join(json.dumps(_nested_row(i)) + "\n" for i in range(3000)))
    tracemalloc.start()
    try:
        with open_reader(str(src), SourceConfig(path=[str(src)], block_size=64 << 10)) as r:
            schema = r.schema
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"{peak / 2**20:.1f} MB"
    attrs = pa.struct([("w", pa.float64()), ("h", pa.list_(pa.int64()))])
    item = pa.struct([("sku", pa.string()), ("qty", pa.int64()), ("tags", pa.list_(pa.string())), ("attrs", attrs)])
    assert schema == pa.schema([("id", pa.int64()), ("items", pa.list_(item)), ("meta", pa.string())])


def test_a_bom_starting_a_later_line_is_no_data_as_in_csv(tmp_path: Path) -> None:
    """Exports joined with ``cat``, each starting with a UTF-8 byte order mark: as the CSV reader."""
    src, db = tmp_path / "cat.jsonl", tmp_path / "t.db"
    src.write_bytes(b'\xef\xbb\xbf{"a":1,"s":"x"}\n\xef\xbb\xbf{"a":2,"s":"y"}\n')
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert sqlite_table(db, order="rowid") == [(1, "x"), (2, "y")]
