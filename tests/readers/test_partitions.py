"""Partition columns from ``key=value`` folders (Hive, Spark, pyarrow's and DuckDB's partitioned writes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import plyvel
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from loader.api import load
from loader.config import SourceConfig
from loader.errors import ConfigError
from loader.readers import open_reader
from loader.readers.partitions import path_values, settle
from tests.conftest import sqlite_rows, write_csv
from tests.reliability_util import cli, sqlite_state


def write_to_dataset(root: Path) -> None:
    table = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "country": ["DE", "FR", "DE"]})
    pq.write_to_dataset(table, str(root), partition_cols=["country"])


def duckdb_export(root: Path) -> None:
    """DuckDB's ``COPY ... PARTITION_BY``: region, an integer year, a code with leading zeros and a date."""
    con = duckdb.connect()
    con.sql(
        "CREATE TABLE t AS SELECT i AS id, ['eu', 'us'][i % 2 + 1] AS region, 2023 + i % 2 AS yr,"
        " '00' || (i % 3) AS code, DATE '2024-01-30' + (i % 2)::INTEGER AS day FROM range(6) r(i)"
    )
    con.sql(f"COPY t TO '{root}' (FORMAT parquet, PARTITION_BY (region, yr, code, day))")
    con.close()


def leveldb_items(path: Path) -> list[tuple[str, Any]]:
    db = plyvel.DB(str(path))
    try:
        return [(k.decode(), json.loads(v)) for k, v in db if not k.startswith(b"\x00")]
    finally:
        db.close()


def test_path_values_are_url_decoded_and_the_hive_default_partition_is_null() -> None:
    path = "s3://bucket/x/country=DE/city=a%2Fb/yr=__HIVE_DEFAULT_PARTITION__/note=/part-0.parquet"
    assert path_values(path) == {"country": "DE", "city": "a/b", "yr": None, "note": None}
    assert path_values("data/k=1/file=name.csv") == {"k": "1"}  # the file name is no folder
    assert path_values("-") == {}


def test_a_pyarrow_dataset_loads_with_its_partition_column(tmp_path: Path) -> None:
    write_to_dataset(tmp_path / "hive")
    report = load(str(tmp_path / "hive" / "*" / "*.parquet"), tmp_path / "wh.db", table="t")
    assert (report.rows_read, report.rows_written) == (3, 3)
    got = sqlite_rows(tmp_path / "wh.db", "SELECT id, v, country FROM t ORDER BY id")
    assert got == [(1, "a", "DE"), (2, "b", "FR"), (3, "c", "DE")]


def test_a_duckdb_export_loads_its_partition_columns_typed(tmp_path: Path) -> None:
    duckdb_export(tmp_path / "out")
    load(str(tmp_path / "out" / "**" / "*.parquet"), tmp_path / "wh.db", table="t")
    got = sqlite_rows(tmp_path / "wh.db", "SELECT id, region, yr, code, day, typeof(yr) FROM t ORDER BY id")
    assert got[:3] == [
        (0, "eu", 2023, "000", "2024-01-30", "integer"),
        (1, "us", 2024, "001", "2024-01-31", "integer"),
        (2, "eu", 2023, "002", "2024-01-30", "integer"),
    ]
    columns = sqlite_rows(tmp_path / "wh.db", "SELECT name, type FROM pragma_table_info('t')")
    assert columns == [("id", "INTEGER"), ("region", "TEXT"), ("yr", "INTEGER"), ("code", "TEXT"), ("day", "TEXT")]


def test_the_plan_and_the_checkpoint_hold_the_partition_types(tmp_path: Path) -> None:
    duckdb_export(tmp_path / "out")
    args = ["load", str(tmp_path / "out" / "**" / "*.parquet"), str(tmp_path / "wh.db"), "--table", "t"]
    plan = cli(*args, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "  yr: int64\n  code: string\n  day: date\n" in plan.stdout
    assert cli(*args, "--quiet").returncode == 0
    assert sqlite_state(tmp_path / "wh.db")["schema"] == {
        "id": "int64",
        "region": "string",
        "yr": "int64",
        "code": "string",
        "day": "date",
    }


def test_a_value_that_does_not_fit_the_type_an_earlier_run_recorded_rejects_the_files_rows(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for yr, ids in (("2023", [1, 2]), ("2024", [3])):
        (root / f"yr={yr}").mkdir(parents=True)
        write_csv(root / f"yr={yr}" / "a.csv", ["id"], [[i] for i in ids])
    load(str(root / "*" / "*.csv"), tmp_path / "wh.db", table="t")
    for yr, ids in (("2025", [6]), ("soon", [4, 5])):
        (root / f"yr={yr}").mkdir()
        write_csv(root / f"yr={yr}" / "a.csv", ["id"], [[i] for i in ids])
    report = load(str(root / "*" / "*.csv"), tmp_path / "wh.db", table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 1, 2)
    lines = [json.loads(x) for x in Path(report.rejects_path).read_text().splitlines()]
    assert [(r["row"], r["column"], r["values"]) for r in lines] == [
        (1, "yr", {"id": 4, "yr": "soon"}),
        (2, "yr", {"id": 5, "yr": "soon"}),
    ]
    assert lines[0]["reason"].startswith("'soon' is not a valid int64 (the folder yr=soon)")
    got = sqlite_rows(tmp_path / "wh.db", "SELECT id, yr FROM t ORDER BY id")
    assert got == [(1, 2023), (2, 2023), (3, 2024), (6, 2025)]


def test_types_come_from_every_files_values(tmp_path: Path) -> None:
    """``yr=2024`` and ``yr=next`` make text, as a CSV column of both values would be."""
    root = tmp_path / "in"
    for yr in ("2024", "next"):
        (root / f"yr={yr}").mkdir(parents=True)
        write_csv(root / f"yr={yr}" / "a.csv", ["id"], [[1]])
    load(str(root / "*" / "*.csv"), tmp_path / "wh.db", table="t")
    got = sqlite_rows(tmp_path / "wh.db", "SELECT yr, typeof(yr) FROM t ORDER BY yr")
    assert got == [("2024", "text"), ("next", "text")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arrow"])
def test_every_format_gets_its_partition_columns(tmp_path: Path, fmt: str) -> None:
    for country, ids in (("DE", [1, 3]), ("FR", [2])):
        folder = tmp_path / "in" / f"country={country}" / "day=2024-01-31"
        folder.mkdir(parents=True)
        path = folder / f"part.{fmt}"
        if fmt == "csv":
            write_csv(path, ["id"], [[i] for i in ids])
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
        else:
            feather.write_feather(pa.table({"id": ids}), str(path))
    load(str(tmp_path / "in" / "*" / "*" / f"*.{fmt}"), tmp_path / "wh.db", table="t")
    got = sqlite_rows(tmp_path / "wh.db", "SELECT id, country, day FROM t ORDER BY id")
    assert got == [(1, "DE", "2024-01-31"), (2, "FR", "2024-01-31"), (3, "DE", "2024-01-31")]


def test_leveldb_keys_and_json_values_take_partition_columns(tmp_path: Path) -> None:
    write_to_dataset(tmp_path / "hive")
    load(str(tmp_path / "hive" / "*" / "*.parquet"), tmp_path / "wh.ldb", key="{country}/{v}")
    assert leveldb_items(tmp_path / "wh.ldb") == [
        ("DE/a", {"id": 1, "v": "a", "country": "DE"}),
        ("DE/c", {"id": 3, "v": "c", "country": "DE"}),
        ("FR/b", {"id": 2, "v": "b", "country": "FR"}),
    ]


def test_the_processes_engine_loads_the_same_rows(tmp_path: Path) -> None:
    duckdb_export(tmp_path / "out")
    glob = str(tmp_path / "out" / "**" / "*.parquet")
    load(glob, tmp_path / "threads.db", table="t")
    load(glob, tmp_path / "procs.db", table="t", run_options={"engine": "processes", "workers": 2})
    sql = "SELECT id, region, yr, code, day, typeof(yr) FROM t ORDER BY id"
    got = sqlite_rows(tmp_path / "procs.db", sql)
    assert got == sqlite_rows(tmp_path / "threads.db", sql) and len(got) == 6 and got[0][1:3] == ("eu", 2023)


@pytest.mark.parametrize("pattern", ["out/**/*.parquet", "out/**"])
def test_a_spark_output_loads_each_row_once_before_and_after_its_job_commits(tmp_path: Path, pattern: str) -> None:
    """While a Spark job runs (or after it failed) its task output waits under
    ``_temporary/.../attempt_*/``; the job's commit moves it into place and writes ``_SUCCESS``.
    The glob skips the attempt folder and the marker, as Spark and pyarrow do: the scheduled
    run before the commit loads the committed partition, the one after it the new one, each
    row once (before, the attempt's rows loaded and then loaded again once moved)."""
    out = tmp_path / "out"
    (out / "country=DE").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), out / "country=DE" / "part-00000-a.snappy.parquet")
    attempt = out / "_temporary" / "0" / "_temporary" / "attempt_1_m_000001_0" / "country=FR"
    attempt.mkdir(parents=True)
    pq.write_table(pa.table({"id": [4, 5]}), attempt / "part-00001-a.snappy.parquet")
    stale = out / "_temporary" / "1" / "_temporary" / "attempt_2_m_000000_0" / "country=DE"  # a failed job's
    stale.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), stale / "part-00000-a.snappy.parquet")
    args = ["load", pattern, "t.db", "--table", "t", "--format", "parquet", "--partitioning", "hive"]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert sqlite_rows(tmp_path / "t.db", "SELECT country, id FROM t ORDER BY id") == [("DE", 1), ("DE", 2), ("DE", 3)]
    (out / "country=FR").mkdir()
    (attempt / "part-00001-a.snappy.parquet").rename(out / "country=FR" / "part-00001-a.snappy.parquet")
    (out / "_SUCCESS").write_bytes(b"")  # empty: a file the load would stop at
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    got = sqlite_rows(tmp_path / "t.db", "SELECT country, id FROM t ORDER BY id")
    assert got == [("DE", 1), ("DE", 2), ("DE", 3), ("FR", 4), ("FR", 5)]


def test_the_folders_value_replaces_a_column_of_the_same_name_in_the_file(tmp_path: Path) -> None:
    """As DuckDB reads it: the folder decides."""
    (tmp_path / "in" / "Country=DE").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "country": ["XX", None]}), tmp_path / "in" / "Country=DE" / "p.parquet")
    load(str(tmp_path / "in" / "*" / "*.parquet"), tmp_path / "wh.db", table="t")
    assert sqlite_rows(tmp_path / "wh.db", "SELECT * FROM t ORDER BY id") == [(1, "DE"), (2, "DE")]
    assert sqlite_rows(tmp_path / "wh.db", "SELECT name FROM pragma_table_info('t')") == [("id",), ("Country",)]


def test_a_folder_key_in_another_non_ascii_case_is_a_column_of_its_own(tmp_path: Path) -> None:
    """``ÑANDÚ=DE`` is not the file's ``ñandú`` to SQLite: the folder adds a column, the file's keeps its values."""
    (tmp_path / "in" / "ÑANDÚ=DE").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "ñandú": ["XX", None]}), tmp_path / "in" / "ÑANDÚ=DE" / "p.parquet")
    load(str(tmp_path / "in" / "*" / "*.parquet"), tmp_path / "wh.db", table="t")
    assert sqlite_rows(tmp_path / "wh.db", "SELECT * FROM t ORDER BY id") == [(1, "XX", "DE"), (2, None, "DE")]
    assert sqlite_rows(tmp_path / "wh.db", "SELECT name FROM pragma_table_info('t')") == [
        ("id",),
        ("ñandú",),
        ("ÑANDÚ",),
    ]


def test_url_encoded_and_null_values(tmp_path: Path) -> None:
    for folder in ("city=a%2Fb", "city=__HIVE_DEFAULT_PARTITION__"):
        (tmp_path / "in" / folder).mkdir(parents=True)
    write_csv(tmp_path / "in" / "city=a%2Fb" / "x.csv", ["id"], [[1]])
    write_csv(tmp_path / "in" / "city=__HIVE_DEFAULT_PARTITION__" / "x.csv", ["id"], [[2]])
    load(str(tmp_path / "in" / "*" / "*.csv"), tmp_path / "wh.db", table="t")
    assert sqlite_rows(tmp_path / "wh.db", "SELECT id, city FROM t ORDER BY id") == [(1, "a/b"), (2, None)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_folder_named_in_bytes_that_are_not_utf8_loads_its_value_as_the_reject_file_spells_it(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], engine: str
) -> None:
    """A Latin-1 folder ``city=Z\\xfcrich`` stopped the load and its dry run with an internal error
    (exit 1; pyarrow cannot encode the byte's surrogate). Its value and a key so named load as the
    reject file spells such a name: the byte as its JSON escape, which no folder's value holds."""
    from loader.cli import main

    inbox = os.fsencode(tmp_path / "in")
    for folder in (b"st\xe4dt=Bern", b"st\xe4dt=Z\xfcrich"):
        os.makedirs(os.path.join(inbox, folder))
        with open(os.path.join(inbox, folder, b"a.csv"), "wb") as fh:
            fh.write(b"id\n%d\n" % len(folder))
    assert path_values(os.fsdecode(os.path.join(inbox, b"st\xe4dt=Z\xfcrich", b"a.csv"))) == {
        "st\\udce4dt": "Z\\udcfcrich"
    }
    glob = str(tmp_path / "in" / "*" / "*.csv")
    db = tmp_path / "wh.db"
    assert main(["load", glob, str(db), "--table", "t", "--dry-run"]) == 0
    assert capsysbinary.readouterr().out.endswith(b"ok: configuration and sources are valid; nothing was written\n")
    for rerun in (False, True):
        report = load(glob, db, table="t", run_options={"engine": engine})
        assert (report.rows_written, report.files_skipped) == ((0, 2) if rerun else (2, 0))
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY id") == [(10, "Bern"), (12, "Z\\udcfcrich")]
    assert sqlite_rows(db, "SELECT name FROM pragma_table_info('t')") == [("id",), ("st\\udce4dt",)]


def test_none_loads_the_files_own_columns_only(tmp_path: Path) -> None:
    write_to_dataset(tmp_path / "hive")
    glob = str(tmp_path / "hive" / "*" / "*.parquet")
    load(glob, tmp_path / "wh.db", table="t", source_options={"partitioning": "none"})
    assert sqlite_rows(tmp_path / "wh.db", "SELECT name FROM pragma_table_info('t')") == [("id",), ("v",)]


def test_auto_gives_a_file_outside_the_layout_null_partition_columns(tmp_path: Path) -> None:
    """A stray file beside the partitions made auto add no column to any file: every row lost
    its country. Now the stray's rows alone have none, as pyarrow's hive discovery reads them."""
    write_to_dataset(tmp_path / "hive")
    (tmp_path / "hive" / "extra").mkdir()
    pq.write_table(pa.table({"id": [4], "v": ["d"]}), tmp_path / "hive" / "extra" / "p.parquet")
    load(str(tmp_path / "hive" / "*" / "*.parquet"), tmp_path / "wh.db", table="t")
    assert sqlite_rows(tmp_path / "wh.db", "SELECT id, v, country FROM t ORDER BY id") == [
        (1, "a", "DE"),
        (2, "b", "FR"),
        (3, "c", "DE"),
        (4, "d", None),
    ]


def test_auto_over_folders_of_mixed_depth_adds_each_files_own_keys(tmp_path: Path) -> None:
    """``a=1/x.csv`` beside ``a=1/b=2/y.csv``: auto dropped a and b from every file, exit 0.
    Each file now has the columns of its own path, a key its path lacks NULL (pyarrow's
    ``partitioning="hive"`` reads the same rows), and a rerun with a new file of either depth loads."""
    data, db = tmp_path / "data", tmp_path / "o.db"
    (data / "a=1" / "b=2").mkdir(parents=True)
    write_csv(data / "a=1" / "x.csv", ["id"], [[1]])
    write_csv(data / "a=1" / "b=2" / "y.csv", ["id"], [[2]])
    args = ["load", str(data / "**" / "*.csv"), str(db), "--table", "t", "-q"]
    assert cli(*args).returncode == 0
    expected = [(1, 1, None), (2, 1, 2)]
    assert sqlite_rows(db, "SELECT id, a, b FROM t ORDER BY id") == expected
    pyarrow_rows = pads.dataset(str(data), format="csv", partitioning="hive").to_table().to_pylist()
    assert sorted((r["id"], r["a"], r["b"]) for r in pyarrow_rows) == expected
    (data / "a=3" / "b=4").mkdir(parents=True)
    write_csv(data / "a=3" / "z.csv", ["id"], [[3]])
    write_csv(data / "a=3" / "b=4" / "w.csv", ["id"], [[4]])
    assert cli(*args).returncode == 0
    assert sqlite_rows(db, "SELECT id, a, b FROM t ORDER BY id") == [*expected, (3, 3, None), (4, 3, 4)]


def _mixed_depth(data: Path, shallow_first: bool) -> list[tuple[int, int, int | None]]:
    """``a=1/x.csv`` and ``a=1/b=2/y.csv``, and where ``shallow_first``, ``a=0/w.csv``, which
    sorts before both and has no b= folder; the rows pyarrow's hive discovery reads of them."""
    (data / "a=1" / "b=2").mkdir(parents=True)
    write_csv(data / "a=1" / "x.csv", ["id"], [[1]])
    write_csv(data / "a=1" / "b=2" / "y.csv", ["id"], [[2]])
    if shallow_first:
        (data / "a=0").mkdir()
        write_csv(data / "a=0" / "w.csv", ["id"], [[0]])
    rows = pads.dataset(str(data), format="csv", partitioning="hive").to_table().to_pylist()
    return sorted((r["id"], r["a"], r["b"]) for r in rows)


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("shallow_first", [True, False])
def test_a_fresh_load_over_mixed_depth_makes_the_table_with_every_files_keys(
    tmp_path: Path, engine: str, shallow_first: bool
) -> None:
    """The table was made from the first file's columns: where a file without b= sorted first,
    the b=2 file stopped the load (exit 65, table has no column 'b'). Every key of any path
    is the load's column from the first file on, typed over every file's folders."""
    data, db = tmp_path / "data", tmp_path / "o.db"
    expected = _mixed_depth(data, shallow_first)
    done = cli("load", str(data / "**" / "*.csv"), str(db), "--table", "t", "-q", "--engine", engine, "--workers", "2")
    assert (done.returncode, done.stderr) == (0, "")
    assert sqlite_rows(db, "SELECT id, a, b FROM t ORDER BY id") == expected
    assert sqlite_rows(db, "SELECT name, type FROM pragma_table_info('t')") == [
        ("id", "INTEGER"),
        ("a", "INTEGER"),
        ("b", "INTEGER"),
    ]


def test_the_dry_run_and_inspect_of_mixed_depth_show_every_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _mixed_depth(data, shallow_first=True)
    glob = str(data / "**" / "*.csv")
    plan = cli("load", glob, str(tmp_path / "o.db"), "--table", "t", "--dry-run")
    assert plan.returncode == 0 and "  id: int64\n  a: int64\n  b: int64\n" in plan.stdout + plan.stderr
    shown = cli("inspect", glob)
    assert shown.returncode == 0 and "  b   int64\n" in shown.stdout and "id=0, a=0, b=null" in shown.stdout


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_leveldb_keys_over_mixed_depth_take_a_key_a_shallower_path_lacks_as_null(tmp_path: Path, engine: str) -> None:
    """A key template naming b stopped the load at the first file (no column 'b' in the data):
    its rows have b NULL and are rejected for it; ``{a}`` keys hold every row, b null in the values."""
    _mixed_depth(tmp_path / "data", shallow_first=True)
    glob, run = str(tmp_path / "data" / "**" / "*.csv"), {"engine": engine, "workers": 2}
    load(glob, tmp_path / "a.ldb", key="{a}/{id:02d}", run_options=run)
    assert leveldb_items(tmp_path / "a.ldb") == [
        ("00000000000000000000/00", {"id": 0, "a": 0, "b": None}),
        ("00000000000000000001/01", {"id": 1, "a": 1, "b": None}),
        ("00000000000000000001/02", {"id": 2, "a": 1, "b": 2}),
    ]
    report = load(glob, tmp_path / "b.ldb", key="{b}/{id:02d}", run_options=run)
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    assert leveldb_items(tmp_path / "b.ldb") == [("00000000000000000002/02", {"id": 2, "a": 1, "b": 2})]
    assert report.rejects_path is not None
    lines = Path(report.rejects_path).read_text().splitlines()
    assert {json.loads(line)["reason"] for line in lines} == {"key column 'b' is null"}


def test_a_file_whose_path_lacks_a_key_keeps_its_own_column_of_that_name(tmp_path: Path) -> None:
    """As pyarrow's hive discovery reads it: only a file's own folder replaces its column."""
    data, db = tmp_path / "data", tmp_path / "o.db"
    (data / "a=0").mkdir(parents=True)
    (data / "a=1" / "b=2").mkdir(parents=True)
    write_csv(data / "a=0" / "w.csv", ["id", "b"], [[0, 7]])
    write_csv(data / "a=1" / "b=2" / "y.csv", ["id"], [[2]])
    load(str(data / "**" / "*.csv"), db, table="t")
    assert sqlite_rows(db, "SELECT id, a, b FROM t ORDER BY id") == [(0, 0, 7), (2, 1, 2)]


def test_hive_refuses_a_file_outside_the_layout_naming_it(tmp_path: Path) -> None:
    write_to_dataset(tmp_path / "hive")
    (tmp_path / "hive" / "extra").mkdir()
    pq.write_table(pa.table({"id": [4], "v": ["d"]}), tmp_path / "hive" / "extra" / "p.parquet")
    args = ["load", str(tmp_path / "hive" / "*" / "*.parquet"), str(tmp_path / "wh.db"), "--table", "t"]
    done = cli(*args, "--partitioning", "hive")
    assert done.returncode == 2
    outside = tmp_path / "hive" / "extra" / "p.parquet"
    assert done.stderr.splitlines()[0] == (
        f"loader: error: {outside}: source.partitioning = 'hive': no key=value folder in its path"
    )
    assert not (tmp_path / "wh.db").exists()


def test_hive_refuses_files_with_other_keys() -> None:
    files = ["d/a=1/x.csv", "d/b=2/y.csv"]
    assert settle(SourceConfig(path=files), files).partitioning == "auto"  # each file adds its own
    with pytest.raises(ConfigError) as err:
        settle(SourceConfig(path=files, partitioning="hive"), files)
    assert str(err.value) == "d/b=2/y.csv: source.partitioning = 'hive': partition keys b, not a as in d/a=1/x.csv"


def test_auto_after_a_run_that_loaded_partition_columns_refuses_a_file_without_their_folders(tmp_path: Path) -> None:
    """A stray file beside a scheduled glob's partitions made auto load none: the next day's
    rows lost day=2 (NULL), ok, exit 0. The earlier run's partition columns now hold the files
    to them, as hive does; nothing of this run is written, and without the file it loads."""
    data, db = tmp_path / "data", tmp_path / "o.db"
    for day in ("1", "2"):
        (data / f"day={day}").mkdir(parents=True)
    write_csv(data / "day=1" / "a.csv", ["id"], [[1]])
    args = ["load", str(data / "**" / "*.csv"), str(db), "--table", "t", "-q"]
    assert cli(*args).returncode == 0
    write_csv(data / "day=2" / "b.csv", ["id"], [[2]])
    stray = write_csv(data / "c.csv", ["id"], [[3]])
    hint = '  hint: move the file into the partitioned folders, leave it out of source.path, or set source.partitioning = "none"'
    # the run: exit 78, as the earlier runs' rows stand; --dry-run writes nothing: exit 2
    for dry, code, then in (
        ([], 78, "; then rerun: committed work is kept and the rerun resumes"),
        (["--dry-run"], 2, ""),
    ):
        done = cli(*args, *dry)
        assert (done.returncode, done.stderr.splitlines()) == (
            code,
            [
                f"loader: error: {stray}: source.partitioning = 'auto': no day= folder in its path, "
                "but earlier runs of the job loaded day from such folders",
                hint + then,
            ],
        )
    assert sqlite_rows(db, "SELECT id, day FROM t") == [(1, 1)]
    stray.unlink()
    assert cli(*args).returncode == 0
    assert sqlite_rows(db, "SELECT id, day FROM t ORDER BY id") == [(1, 1), (2, 2)]


def test_partition_keys_earlier_runs_loaded_are_those_every_loaded_path_has_and_the_schema_records() -> None:
    from loader.readers.partitions import recorded_keys

    assert recorded_keys(["d/Day=1/yr=2024/a.csv", "d/day=2/b.csv"], ["id", "DAY", "yr"]) == {"day"}
    assert recorded_keys(["d/day=1/a.csv", "d/c.csv"], ["id", "day"]) == frozenset()  # auto loaded none
    assert recorded_keys(["d/day=1/a.csv"], ["id"]) == frozenset()  # partitioning = "none"
    assert recorded_keys([], ["day"]) == frozenset()
    files = ["d/day=3/x.csv", "d/month=3/y.csv"]
    with pytest.raises(ConfigError) as err:  # hive too: no file loses a column earlier runs loaded
        settle(SourceConfig(path=files, partitioning="hive"), files, frozenset({"day"}))
    assert str(err.value) == (
        "d/month=3/y.csv: source.partitioning = 'hive': no day= folder in its path, "
        "but earlier runs of the job loaded day from such folders"
    )
    assert settle(SourceConfig(path=files[:1]), files[:1], frozenset({"day"})).partitioning == "auto"


def test_a_single_files_reader_adds_its_folders(tmp_path: Path) -> None:
    (tmp_path / "yr=2024").mkdir()
    path = write_csv(tmp_path / "yr=2024" / "a.csv", ["id"], [[1], [2]])
    with open_reader(str(path), SourceConfig(path=[str(path)])) as reader:
        assert reader.schema == pa.schema([("id", pa.int64()), ("yr", pa.int64())])
        assert [c.batch.to_pylist() for c in reader] == [[{"id": 1, "yr": 2024}, {"id": 2, "yr": 2024}]]


def test_a_declared_type_applies_to_a_partition_column(tmp_path: Path) -> None:
    (tmp_path / "yr=2024").mkdir()
    write_csv(tmp_path / "yr=2024" / "a.csv", ["id"], [[1]])
    load(
        str(tmp_path / "yr=2024" / "a.csv"), tmp_path / "wh.db", table="t", source_options={"columns": {"yr": "string"}}
    )
    assert sqlite_rows(tmp_path / "wh.db", "SELECT yr, typeof(yr) FROM t") == [("2024", "text")]


def test_a_replayed_raw_row_gets_its_folders_values(tmp_path: Path) -> None:
    (tmp_path / "in" / "yr=2024").mkdir(parents=True)
    (tmp_path / "in" / "yr=2024" / "a.csv").write_text("id,name\n1,a\n2,b,extra\n")
    report = load(str(tmp_path / "in" / "*" / "*.csv"), tmp_path / "wh.db", table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    rejects = Path(report.rejects_path)
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    line["raw"] = "2,b\n"
    rejects.write_text(json.dumps(line) + "\n")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path / "in" / "*" / "*.csv"}"\n[sink]\npath = "{tmp_path / "wh.db"}"\ntable = "t"\n'
    )
    done = cli("replay", str(rejects), "--job", str(job))
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(tmp_path / "wh.db", "SELECT id, name, yr FROM t ORDER BY id") == [(1, "a", 2024), (2, "b", 2024)]


def _replay_fixed(tmp_path: Path, old: str, new: str) -> Any:
    """The reject file of ``tmp_path``'s job.toml with ``old`` replaced by ``new`` (a hand fix), replayed."""
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    assert old in rejects.read_text()
    (tmp_path / "fixed.jsonl").write_text(rejects.read_text().replace(old, new))
    return cli("replay", "fixed.jsonl", "--job", "job.toml", "-q", cwd=tmp_path)


def test_a_replayed_raw_row_gets_its_own_paths_folders_beside_a_file_outside_the_layout(tmp_path: Path) -> None:
    """``auto`` over ``x=1/a.csv`` and ``b.csv``: a.csv's rows take the folder's x, b.csv keeps
    its own. a.csv's raw row replayed got no folder value (the load then added none) and kept
    the row's 6; it loads now as the load read the file."""
    (tmp_path / "in" / "x=1").mkdir(parents=True)
    (tmp_path / "in" / "x=1" / "a.csv").write_text("id,x,amount\n1,5,10\n2,6,20,extra\n")
    (tmp_path / "in" / "b.csv").write_text("id,x,amount\n3,7,30\n")
    paths = '["in/*.csv", "in/*/*.csv"]'
    (tmp_path / "job.toml").write_text(f'[source]\npath = {paths}\n[sink]\npath = "out.db"\ntable = "t"\n')
    assert cli("run", "job.toml", "-q", cwd=tmp_path).returncode == 0
    done = _replay_fixed(tmp_path, '"raw": "2,6,20,extra"', '"raw": "2,6,20"')
    assert (done.returncode, done.stderr) == (0, "")
    assert sqlite_rows(tmp_path / "out.db", "SELECT id, x, amount FROM t ORDER BY id") == [
        (1, 1, 10),
        (2, 1, 20),
        (3, 7, 30),
    ]


def _load_a_country_file_with_a_bad_amount(tmp_path: Path) -> None:
    """``Country`` in ``country=DE/a.csv``, its second row's amount rejected, loaded by a job file."""
    (tmp_path / "in" / "country=DE").mkdir(parents=True)
    (tmp_path / "in" / "country=DE" / "a.csv").write_text("id,Country,amount\n1,FR,10\n2,FR,2x\n")
    paths = '"in/**/*.csv"'
    (tmp_path / "job.toml").write_text(
        f'[source]\npath = {paths}\ncolumns = {{ amount = "int64" }}\n[sink]\npath = "out.db"\ntable = "t"\n'
    )
    assert cli("run", "job.toml", "-q", cwd=tmp_path).returncode == 0


def test_a_file_column_the_folder_replaces_in_another_case_is_not_in_the_rejects_values(tmp_path: Path) -> None:
    """``Country`` in ``country=DE/a.csv`` loads as the folder's ``country``: the reject's
    values hold that column once, so the fixed row replays (it failed: no column 'Country')."""
    _load_a_country_file_with_a_bad_amount(tmp_path)
    (line,) = [json.loads(x) for x in (tmp_path / "out.db.table-t.rejects.jsonl").read_text().splitlines()]
    assert line["values"] == {"id": "2", "country": "DE", "amount": "2x"}
    done = _replay_fixed(tmp_path, '"amount": "2x"', '"amount": "20"')
    assert (done.returncode, done.stderr) == (0, "")
    assert sqlite_rows(tmp_path / "out.db", "SELECT id, country, amount FROM t ORDER BY id") == [
        (1, "DE", 10),
        (2, "DE", 20),
    ]


def test_a_reject_line_holding_the_file_column_beside_its_folders_replays(tmp_path: Path) -> None:
    """A line an earlier loader wrote with both ``Country`` (the file's) and ``country`` (the
    folder's): the replay loads the folder's, as the load read the row."""
    _load_a_country_file_with_a_bad_amount(tmp_path)
    old = '"values": {"id": "2", "country": "DE", "amount": "2x"}'
    done = _replay_fixed(tmp_path, old, '"values": {"id": "2", "Country": "FR", "amount": "20", "country": "DE"}')
    assert (done.returncode, done.stderr) == (0, "")
    assert sqlite_rows(tmp_path / "out.db", "SELECT id, country, amount FROM t ORDER BY id") == [
        (1, "DE", 10),
        (2, "DE", 20),
    ]


def test_a_table_without_the_folders_column_names_both_ways_on(tmp_path: Path) -> None:
    # a table an earlier version made from the same layout, without its folders' columns
    for country, n in (("DE", 1), ("FR", 2)):
        (tmp_path / f"country={country}").mkdir()
        write_csv(tmp_path / f"country={country}" / "a.csv", ["id"], [[n]])
    db = tmp_path / "t.db"
    first = cli("load", str(tmp_path / "country=DE" / "a.csv"), str(db), "--table", "t", "--partitioning", "none")
    assert first.returncode == 0, first.stderr
    p = cli("load", str(tmp_path / "*" / "a.csv"), str(db), "--table", "t")
    assert p.returncode == 65
    assert p.stderr.splitlines() == [
        f"loader: error: {tmp_path / 'country=FR' / 'a.csv'}, column 'country': table 't' has no column 'country'",
        "  hint: the column is the path's folder country=...: set sink.alter = true (--alter) to add it, "
        'or source.partitioning = "none" (--partitioning none) to load without folder columns, then rerun',
    ]
    again = cli("load", str(tmp_path / "*" / "a.csv"), str(db), "--table", "t", "--partitioning", "none")
    assert again.returncode == 0, again.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]
