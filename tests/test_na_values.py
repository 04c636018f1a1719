"""source.na_values: ``NA``, ``N/A``, ``NULL``... are NULL in a column that is typed
but for them, and stay text in a text column (nothing is lost either way)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from loader import load
from loader.config import NA_VALUES, SourceConfig
from loader.convert import TypeGuess, convert
from loader.readers import open_reader
from tests.conftest import heads_read, sqlite_rows
from tests.readers.test_csv import read_all, rows_of
from tests.reliability_util import cli, leveldb_items


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, **kw: Any) -> tuple[dict[str, pa.DataType], list[dict[str, Any]], list[Any]]:
    r, chunks = read_all(path, **kw)
    return {f.name: f.type for f in r.schema}, rows_of(chunks), [rj for c in chunks for rj in c.rejects]


# ------------------------------------------------------------------ the real file


def test_palmerpenguins_loads_its_na_as_null_in_number_columns_and_as_text_in_sex(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    palmerpenguins = pytest.importorskip("palmerpenguins")
    src = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    db = tmp_path / "p.db"
    report = load(str(src), str(db), table="p")
    assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 344, 344, 0)
    types = {r[1]: r[2] for r in sqlite_rows(db, "PRAGMA table_info(p)")}
    assert types == {
        "species": "TEXT",
        "island": "TEXT",
        "bill_length_mm": "REAL",
        "bill_depth_mm": "REAL",
        "flipper_length_mm": "INTEGER",  # whole numbers in the file: no reason to make them floats
        "body_mass_g": "INTEGER",
        "sex": "TEXT",
        "year": "INTEGER",
    }
    numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    nulls = sqlite_rows(db, "SELECT " + ", ".join(f"sum({c} IS NULL)" for c in numbers) + " FROM p")
    assert nulls == [(2, 2, 2, 2)]
    assert sqlite_rows(db, "SELECT sum(sex = 'NA'), sum(sex IS NULL), count(DISTINCT sex) FROM p") == [(11, 0, 3)]
    # every number as pandas reads it, NULL where pandas has NaN
    frame = pd.read_csv(src)
    stored = sqlite_rows(db, "SELECT " + ", ".join(numbers) + " FROM p ORDER BY rowid")
    for name, column in zip(numbers, zip(*stored, strict=True), strict=True):
        expected = [None if math.isnan(v) else v for v in frame[name]]
        assert list(column) == expected, name


# ------------------------------------------------------------------ the rule


def test_integers_with_na_are_int64_with_nulls(tmp_path: Path) -> None:
    types, rows, rejects = read(
        write(tmp_path / "a.csv", "n,f,b,d\n1,1.5,true,2024-01-01\nNA,N/A,NULL,#N/A\n3,,None,n/a\n")
    )
    assert types == {"n": pa.int64(), "f": pa.float64(), "b": pa.bool_(), "d": pa.date32()}
    assert [r["n"] for r in rows] == [1, None, 3]
    assert [r["f"] for r in rows] == [1.5, None, None]
    assert [r["b"] for r in rows] == [True, None, None]
    assert [str(r["d"]) for r in rows] == ["2024-01-01", "None", "None"]
    assert rejects == []


def test_text_with_na_stays_text_and_keeps_na(tmp_path: Path) -> None:
    types, rows, _ = read(write(tmp_path / "c.csv", "country,n\nNA,1\nFR,2\nNULL,3\n"))
    assert types == {"country": pa.string(), "n": pa.int64()}
    assert [r["country"] for r in rows] == ["NA", "FR", "NULL"]


def test_a_column_of_only_na_is_null(tmp_path: Path) -> None:
    """Missing values only, in a file the sample holds whole: no type yet, as an empty column."""
    types, rows, rejects = read(write(tmp_path / "o.csv", "id,x\n1,NA\n2,\n3,NULL\n"))
    assert types == {"id": pa.int64(), "x": pa.null()} and [r["x"] for r in rows] == [None, None, None]
    assert rejects == []


def test_a_settled_text_column_of_only_na_in_a_file_is_null(tmp_path: Path) -> None:
    """Text settled by other files or an earlier run: a file with only missing values in it
    stores NULL, as on a day the column was null; beside other text NA stays text."""
    only = write(tmp_path / "o.csv", "id,x\n1,NA\n2,N/A\n")
    mixed = write(tmp_path / "m.csv", "id,x\n1,NA\n2,FR\n")
    for path, stored in ((only, [None, None]), (mixed, ["NA", "FR"])):
        with open_reader(str(path), SourceConfig(path=[str(path)]), types={"x": pa.string()}) as reader:
            assert [r["x"] for r in rows_of(list(reader))] == stored
    declared = read_all(only, columns={"x": "string"})[1]  # declared text keeps its spellings
    assert [r["x"] for r in rows_of(declared)] == ["NA", "N/A"]


def test_small_files_text_of_only_na_is_null_from_one_read_of_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load of small files: the sample of the load's types saw every row of each, so the main
    pass knows which text columns hold no value in a file without reading it twice, and stores
    them as reading each alone does (``test_a_settled_text_column_of_only_na_in_a_file_is_null``)."""
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "a.csv", "id,x,y\n1,FR,\n2,DE,NA\n")  # y: no value; x settles text
    write(tmp_path / "in" / "b.csv", "id,x,y\n3,NA,N/A\n4,N/A,\n")  # x: only spellings: NULL
    write(tmp_path / "in" / "c.csv", "id,x,y\n5,NA,n\n6,IT,NA\n")  # beside text: NA stays text
    heads = heads_read(monkeypatch)
    db = tmp_path / "t.db"
    report = load(str(tmp_path / "in" / "*.csv"), str(db), table="t")
    assert (report.status, report.rows_written) == ("ok", 6)
    assert heads == ["a.csv", "b.csv", "c.csv"]
    assert sqlite_rows(db, "SELECT id, x, y FROM t ORDER BY id") == [
        (1, "FR", None),
        (2, "DE", None),
        (3, None, None),
        (4, None, None),
        (5, "NA", "n"),
        (6, "IT", "NA"),
    ]


@pytest.mark.parametrize("target", ["out.db", "out.ldb"])
def test_a_later_runs_small_file_of_only_na_in_a_text_column_is_null_beside_an_untyped_column(
    tmp_path: Path, target: str
) -> None:
    """Day 2's file has a column still without a type (empty on day 1), so its head is sampled
    for types, and a column day 1 made text that holds only NA: that column is checked too."""
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "day1.csv", "id,country,note\n1,FR,\n2,DE,\n")
    sink = ["--key", "{id}"] if target.endswith(".ldb") else ["--table", "t"]
    assert cli("load", str(tmp_path / "in" / "*.csv"), str(tmp_path / target), *sink, "-q").returncode == 0
    write(tmp_path / "in" / "day2.csv", "id,country,note\n3,NA,hello\n4,NA,x\n")
    assert cli("load", str(tmp_path / "in" / "*.csv"), str(tmp_path / target), *sink, "-q").returncode == 0
    if target.endswith(".db"):
        assert sqlite_rows(tmp_path / target, "SELECT id, country, note FROM t ORDER BY id") == [
            (1, "FR", None),
            (2, "DE", None),
            (3, None, "hello"),
            (4, None, "x"),
        ]
    else:
        values = [json.loads(v) for _, v in leveldb_items(tmp_path / target)[0]]
        assert [(v["id"], v["country"]) for v in values] == [(1, "FR"), (2, "DE"), (3, None), (4, None)]


def test_a_pipeline_run_again_samples_a_reloaded_file_afresh(tmp_path: Path) -> None:
    """The columns a run's sample found without a value in each file are that run's: the same
    ``Pipeline`` run again reloads a changed file as a new one reads it."""
    from loader import JobConfig, Pipeline, RunConfig, SinkConfig

    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "a.csv", "id,x\n1,FR\n")
    b = write(tmp_path / "in" / "b.csv", "id,x\n2,DE\n")
    db = tmp_path / "out.db"
    job = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "in" / "*.csv")]),
        sink=SinkConfig(path=str(db), table="t"),
        run=RunConfig(on_change="reload"),
    )
    pipeline = Pipeline(job)
    assert pipeline.run().status == "ok"
    b.write_text("id,x\n2,NA\n3,NA\n", encoding="utf-8")
    os.utime(b, (b.stat().st_atime, b.stat().st_mtime + 5))
    assert pipeline.run().status == "ok"
    # reload appends the new version's rows (mode append)
    assert sqlite_rows(db, "SELECT id, x FROM t WHERE rowid > 2 ORDER BY rowid") == [(2, None), (3, None)]


def test_declared_float_takes_na_as_null_and_declared_string_keeps_it(tmp_path: Path) -> None:
    p = write(tmp_path / "d.csv", "x,s\n1.5,N/A\nN/A,b\n")
    types, rows, rejects = read(p, columns={"x": "float64", "s": "string"})
    assert types == {"x": pa.float64(), "s": pa.string()}
    assert rows == [{"x": 1.5, "s": "N/A"}, {"x": None, "s": "b"}] and rejects == []


def test_na_past_the_sample_is_null_and_other_text_is_rejected(tmp_path: Path) -> None:
    lines = [str(i) for i in range(1, 501)]
    lines[300], lines[400] = "NA", "unknown"
    types, rows, rejects = read(
        write(tmp_path / "late.csv", "n\n" + "\n".join(lines) + "\n"), infer_rows=100, block_size=1024
    )
    assert types == {"n": pa.int64()}
    assert [(rj.row, rj.column) for rj in rejects] == [(401, "n")]
    assert len(rows) == 499 and rows[300] == {"n": None} and rows[299] == {"n": 300}


def test_na_values_off_keeps_text_as_before(tmp_path: Path) -> None:
    types, rows, _ = read(write(tmp_path / "off.csv", "n\n1\nNA\n"), na_values=[])
    assert types == {"n": pa.string()} and [r["n"] for r in rows] == ["1", "NA"]


def test_a_spelling_that_is_a_number_is_null_too(tmp_path: Path) -> None:
    types, rows, _ = read(write(tmp_path / "s.csv", "n\n5\n-999\n"), na_values=["-999"])
    assert types == {"n": pa.int64()} and [r["n"] for r in rows] == [5, None]


def test_null_values_still_null_everywhere(tmp_path: Path) -> None:
    types, rows, _ = read(write(tmp_path / "nv.csv", "n,s\n1,a\n-,-\n"), null_values=["-"])
    assert types == {"n": pa.int64(), "s": pa.string()} and rows[1] == {"n": None, "s": None}


def test_convert_looks_for_na_only_after_a_failed_cast() -> None:
    """Clean columns pay no lookup; the answer is the same either way."""
    clean = convert(pa.array(["1", "2"]), pa.int64(), strict=True, na=NA_VALUES)
    assert clean.array.to_pylist() == [1, 2] and clean.bad is None
    mixed = convert(pa.array(["1", "None", "x", "007"]), pa.int64(), strict=True, na=NA_VALUES)
    assert mixed.array.to_pylist() == [1, None, None, None]
    assert mixed.bad is not None and mixed.bad.to_pylist() == [False, False, True, True]
    guess = TypeGuess(na=NA_VALUES)
    guess.add(pa.array(["1", "NA", None]))
    assert (guess.result(), guess.values) == (pa.int64(), 1)


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([["1", "2"], ["NA", "3"], ["4.5", "N/A"]], pa.float64()),  # NA in pieces after the type settled
        ([["true"], ["NULL", "false"]], pa.bool_()),
        ([["1"], ["NA", "007"]], pa.string()),  # a leading zero still makes it text
        ([["NA"], ["x", "1"]], pa.string()),
    ],
)
def test_guess_fed_in_pieces_sets_na_aside_wherever_it_falls(pieces: list[list[str]], expected: pa.DataType) -> None:
    guess = TypeGuess(na=NA_VALUES)
    for piece in pieces:
        guess.add(pa.array(piece))
    assert guess.result() == expected
    assert guess.values == sum(v not in NA_VALUES for p in pieces for v in p)


# ------------------------------------------------------------------ many files, one schema


@pytest.mark.parametrize(
    ("first", "second", "sql_type", "stored"),
    [
        ("1\nNA\n", "NA\n2\n", "INTEGER", [1, None, None, 2]),
        ("NA\nNA\n", "2.5\n", "REAL", [None, None, 2.5]),  # only NA in a file's head: no say
        ("1\nNA\n", "NA\nNamibia\n", "TEXT", ["1", "NA", "NA", "Namibia"]),  # text somewhere: NA is text everywhere
    ],
)
def test_files_unify_as_one_file_holding_all_rows(
    tmp_path: Path, first: str, second: str, sql_type: str, stored: list[object]
) -> None:
    write(tmp_path / "f1.csv", "x\n" + first)
    write(tmp_path / "f2.csv", "x\n" + second)
    write(tmp_path / "one.csv", "x\n" + first + second)
    for name, src in (("many", str(tmp_path / "f*.csv")), ("one", str(tmp_path / "one.csv"))):
        db = tmp_path / f"{name}.db"
        assert load(src, str(db), table="t").rows_rejected == 0
        assert sqlite_rows(db, "PRAGMA table_info(t)")[0][2] == sql_type, name
        assert [r[0] for r in sqlite_rows(db, "SELECT x FROM t ORDER BY rowid")] == stored, name


def daily(tmp_path: Path, days: list[str], target: str, **kw: Any) -> Path:
    """Each file added to the glob's folder and loaded, one run a day."""
    folder = tmp_path / f"in_{target}"
    folder.mkdir()
    for day in days:
        (folder / Path(day).name).write_bytes(Path(day).read_bytes())
        assert load(str(folder / "*.csv"), str(tmp_path / target), **kw).rows_rejected == 0
    return tmp_path / target


@pytest.mark.parametrize(
    ("files", "stored"),
    [
        (["NA\nNA\n", "1.5\n2\n"], [None, None, 1.5, 2.0]),
        (["NA\nNULL\n", "FR\nNA\n", "\nNA\n"], [None, None, "FR", "NA", None, None]),
        (["FR\nNA\n", "NA\nNULL\n"], ["FR", "NA", None, None]),  # text recorded first
    ],
)
def test_a_file_of_only_na_stores_the_same_in_one_load_and_daily_runs(
    tmp_path: Path, files: list[str], stored: list[object]
) -> None:
    """A column with only missing values in a file is null there, in whichever run the file
    comes: the values stored do not depend on how the files were batched."""
    rows = iter(range(1, 100))
    texts = ["id,x\n" + "".join(f"{next(rows)},{v}\n" for v in day.splitlines()) for day in files]
    paths = [str(write(tmp_path / f"d{i}.csv", text)) for i, text in enumerate(texts)]
    glob = str(tmp_path / "d*.csv")
    assert load(glob, str(tmp_path / "one.db"), table="t").rows_rejected == 0
    for db in (tmp_path / "one.db", daily(tmp_path, paths, "daily.db", table="t")):
        assert [r[0] for r in sqlite_rows(db, "SELECT x FROM t ORDER BY id")] == stored, db.name
    assert load(glob, str(tmp_path / "one.ldb"), key="{id}").rows_rejected == 0
    for ldb in (tmp_path / "one.ldb", daily(tmp_path, paths, "daily.ldb", key="{id}")):
        assert [json.loads(v)["x"] for _, v in leveldb_items(ldb)[0]] == stored, ldb.name


def test_job_file_turns_na_values_off(tmp_path: Path) -> None:
    src = write(tmp_path / "j.csv", "n\n1\nNA\n")
    job = write(
        tmp_path / "job.toml",
        f'[source]\npath = "{src}"\nna_values = []\n\n[sink]\npath = "{tmp_path / "j.db"}"\ntable = "t"\n',
    )
    p = cli("run", str(job), "-q")
    assert (p.returncode, p.stderr) == (0, "")
    conn = sqlite3.connect(tmp_path / "j.db")
    try:
        assert conn.execute("SELECT n, typeof(n) FROM t ORDER BY rowid").fetchall() == [("1", "text"), ("NA", "text")]
    finally:
        conn.close()


def test_given_na_values_replace_the_default_list_as_help_says(tmp_path: Path) -> None:
    """pandas' na_values add to its defaults; these replace them: ``--help`` says so."""
    p = tmp_path / "x.csv"
    p.write_text("ratio\n#DIV/0!\n0.5\n#N/A\n")
    alone = tmp_path / "a.db"
    assert cli("load", str(p), str(alone), "--table", "t", "--na-values", "#DIV/0!", "-q").returncode == 0
    assert sqlite_rows(alone, "SELECT ratio FROM t") == [("#DIV/0!",), ("0.5",), ("#N/A",)]
    both = tmp_path / "b.db"
    flags = ("--na-values", "#DIV/0!", "--na-values", "#N/A", "-q")
    assert cli("load", str(p), str(both), "--table", "t", *flags).returncode == 0
    assert sqlite_rows(both, "SELECT ratio FROM t") == [(None,), (0.5,), (None,)]
    text = " ".join(cli("load", "--help").stdout.split())
    assert "given, they replace the default list, unlike pandas' na_values, so name each default to keep" in text
