"""One schema per load: every file of a multi-file load, and every later run or
append, is read with the same column types, and a value that does not fit is
rejected, never coerced (issue 17, item 2)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import RunReport, load
from loader.cli import main
from loader.convert import TypeGuess
from loader.errors import ConfigError, LoaderError
from loader.schema import (
    Sample,
    TextForm,
    binding,
    declared_pins,
    decode_types,
    encode_types,
    numeric_text,
    rows_per_file,
    task_types,
    text_form,
    twin_columns,
    unify,
)
from tests.conftest import heads_read, sqlite_rows
from tests.reliability_util import cli, leveldb_items, reject_lines, rejects_of, sqlite_state


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def typed(db: Path, column: str, table: str = "t") -> list[tuple[object, str]]:
    return sqlite_rows(db, f"SELECT {column}, typeof({column}) FROM {table} ORDER BY rowid")


def declared(db: Path, table: str = "t") -> dict[str, str]:
    return {r[1]: r[2] for r in sqlite_rows(db, f"PRAGMA table_info({table})")}


# ------------------------------------------------------------ one load, many files


def test_glob_with_a_leading_zero_in_a_later_file_keeps_every_zip_as_text(tmp_path: Path) -> None:
    write(tmp_path / "b1.csv", "id,zip\n1,12345\n")
    write(tmp_path / "b2.csv", "id,zip\n2,01234\n")
    db = tmp_path / "b.db"
    p = cli("load", str(tmp_path / "b*.csv"), str(db), "--table", "z", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert typed(db, "zip", "z") == [("12345", "text"), ("01234", "text")]
    assert declared(db, "z") == {"id": "INTEGER", "zip": "TEXT"}
    assert sqlite_state(db)["schema"] == {"id": "int64", "zip": "string"}


@pytest.mark.parametrize(
    ("first", "second", "sql_type", "stored"),
    [
        ("1", "2.5", "REAL", [(1.0, "real"), (2.5, "real")]),  # int64 + float64 = float64
        (
            "2024-01-01",
            "2024-01-02 10:30:00",
            "TEXT",
            [("2024-01-01T00:00:00.000000", "text"), ("2024-01-02T10:30:00.000000", "text")],
        ),
        (  # a date beside a zoned timestamp: text, each value as its file has it
            "2024-01-01",
            "2024-01-02 10:30:00+02:00",
            "TEXT",
            [("2024-01-01", "text"), ("2024-01-02 10:30:00+02:00", "text")],
        ),
        ("true", "maybe", "TEXT", [("true", "text"), ("maybe", "text")]),  # anything + text = text
        ("7", "", "INTEGER", [(7, "integer"), (None, "null")]),  # a file with no value has no say
    ],
    ids=["int+float", "date+timestamp", "date+zoned", "bool+text", "int+null"],
)
def test_files_unify_to_the_narrowest_type_holding_all(
    tmp_path: Path, first: str, second: str, sql_type: str, stored: list[tuple[object, str]]
) -> None:
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "a.csv", f"id,v\n1,{first}\n")
    write(tmp_path / "in" / "b.csv", f"id,v\n2,{second}\n")
    db = tmp_path / "t.db"
    report = load(str(tmp_path / "in" / "*.csv"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert declared(db)["v"] == sql_type
    assert typed(db, "v") == stored


def test_the_dry_run_plan_shows_the_unified_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "b1.csv", "id,zip\n1,12345\n")
    write(tmp_path / "b2.csv", "id,zip\n2,01234\n")
    assert main(["load", str(tmp_path / "b*.csv"), str(tmp_path / "b.db"), "--table", "z", "--dry-run"]) == 0
    assert "  id: int64\n  zip: string\n" in capsys.readouterr().out
    assert not (tmp_path / "b.db").exists()


def test_a_later_value_past_a_files_sample_is_rejected_with_its_reason(tmp_path: Path) -> None:
    write(tmp_path / "a1.csv", "id,zip\n1,12345\n2,23456\n")
    write(tmp_path / "a2.csv", "id,zip\n3,34567\n4,45678\n5,01234\n6,56789\n")  # row 3 is past a 2-row sample
    db = tmp_path / "a.db"
    report = load(str(tmp_path / "a*.csv"), str(db), table="t", source_options={"infer_rows": 2})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (6, 5, 1)
    assert typed(db, "zip") == [
        (12345, "integer"),
        (23456, "integer"),
        (34567, "integer"),
        (45678, "integer"),
        (56789, "integer"),
    ]
    [reject] = reject_lines(rejects_of(db))
    assert (Path(reject["file"]).name, reject["row"], reject["line"], reject["column"]) == ("a2.csv", 3, 4, "zip")
    assert (
        reject["reason"] == "'01234' has a leading zero that int64 would drop (declare the column as string to keep it)"
    )
    assert reject["values"] == {"id": "5", "zip": "01234"}


def test_the_sample_of_a_many_file_load_stays_bounded() -> None:
    assert rows_per_file(100_000, 1) == 100_000  # one file: its whole infer_rows
    assert rows_per_file(100_000, 20) == 50_000  # ten infer_rows' worth in all
    assert rows_per_file(100_000, 1000) == 1000  # and at least a thousand rows of each file
    assert rows_per_file(500, 1000) == 500  # never more than infer_rows


def test_each_file_head_is_sampled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The load pass reads with the settled types: no file's head is inferred twice."""
    for i in range(5):
        write(tmp_path / f"f{i}.csv", f"id,v\n{i},{i}.5\n")
    sampled = heads_read(monkeypatch)
    load(str(tmp_path / "f*.csv"), str(tmp_path / "f.db"), table="t")
    assert sampled == [f"f{i}.csv" for i in range(5)]
    assert typed(tmp_path / "f.db", "v")[0] == (0.5, "real")


# ------------------------------------------------------- appends and later runs


def test_a_scheduled_run_never_stores_a_leading_zero_as_an_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "day1.csv", "id,zip\n1,12345\n")
    db = tmp_path / "s.db"
    assert main(["load", str(inbox / "*.csv"), str(db), "--table", "t", "-q"]) == 0
    write(inbox / "day2.csv", "id,zip\n2,007\n3,54321\n")  # tomorrow's file
    assert main(["load", str(inbox / "*.csv"), str(db), "--table", "t"]) == 0
    assert "WARNING 1 rows rejected" in capsys.readouterr().err
    assert typed(db, "zip") == [(12345, "integer"), (54321, "integer")]
    [reject] = reject_lines(rejects_of(db))
    assert (Path(reject["file"]).name, reject["row"], reject["column"]) == ("day2.csv", 1, "zip")
    assert reject["reason"] == (
        "'007' has a leading zero that int64 would drop (declare the column as string to keep it); "
        "zip is int64 since an earlier run of this job: "
        'to change it, declare the type and reload every file with --restart and mode = "replace"'
    )
    # the types are those of the first run, recorded with its checkpoint
    assert sqlite_state(db)["schema"] == {"id": "int64", "zip": "int64"}


def test_every_type_a_first_run_creates_takes_the_next_runs_values(tmp_path: Path) -> None:
    row = "1,true,2.5,2024-02-29,2024-02-29 23:59:59,x\n"
    write(tmp_path / "g1.csv", "i,b,f,d,ts,s\n" + row)
    db = tmp_path / "g.db"
    load(str(tmp_path / "g*.csv"), str(db), table="t")
    write(tmp_path / "g2.csv", "i,b,f,d,ts,s\n" + row.replace("true", "false"))
    report = load(str(tmp_path / "g*.csv"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert sqlite_rows(db, "SELECT * FROM t") == [
        (1, b, 2.5, "2024-02-29", "2024-02-29T23:59:59.000000", "x") for b in (1, 0)
    ]


# what a reject into a table made elsewhere advises: replace would drop the user's table
ELSEWHERE = (
    "to load such values, change the column's type in the table yourself (replace would drop the table, "
    "with its constraints, triggers and indexes), load into a new table (--table), or convert them "
    "with a cast or derive stage"
)


def test_appending_to_a_table_made_elsewhere_checks_its_declared_types(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER, zip INTEGER, price TEXT, ok TEXT)")
    conn.execute("INSERT INTO t VALUES (0, 11111, 'n/a', 'n/a')")
    conn.commit()
    conn.close()
    write(tmp_path / "new.csv", "id,zip,price,ok\n1,01234,1.50,true\n2,22222,100.10,false\n")
    report = load(str(tmp_path / "new.csv"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert typed(db, "zip") == [(11111, "integer"), (22222, "integer")]  # never 1234
    # numbers and booleans go into TEXT columns as their source text
    assert sqlite_rows(db, "SELECT price, typeof(price), ok FROM t WHERE id = 2") == [("100.10", "text", "false")]
    [reject] = reject_lines(rejects_of(db))
    assert (reject["row"], reject["column"]) == (1, "zip")
    assert reject["reason"] == (
        "'01234' has a leading zero that int64 would drop (declare the column as string to keep it); "
        f"the table's column zip holds int64 values only: {ELSEWHERE}"
    )


def test_a_reject_into_a_table_made_elsewhere_never_advises_replace(tmp_path: Path) -> None:
    """The advice was to reload with mode = "replace": that drops the user's table, its CHECK,
    trigger and index with it. It names what keeps them; the table is left as it was."""
    db = tmp_path / "x.db"
    schema = [
        "CREATE TABLE t (id INTEGER CHECK (id > 0), n INTEGER)",
        "CREATE TABLE audit (id INTEGER)",
        "CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (new.id); END",
        "CREATE INDEX t_n ON t (n)",
    ]
    with sqlite3.connect(db) as conn:
        for sql in schema:
            conn.execute(sql)
    conn.close()
    write(tmp_path / "new.csv", "id,n\n1,12\n2,2.5\n3,x\n")
    report = load(str(tmp_path / "new.csv"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    assert sqlite_rows(db, "SELECT id FROM audit") == [(1,)]
    rejects = reject_lines(rejects_of(db))
    assert [(r["row"], r["column"]) for r in rejects] == [(2, "n"), (3, "n")]
    assert rejects[0]["reason"] == (
        "'2.5' is not a valid int64; the table's column n holds int64 values only: to load such values, change the "
        "column's type in the table yourself (replace would drop the table, with its constraints, triggers and "
        "indexes), load into a new table (--table), or convert them with a cast or derive stage"
    )
    # x is a value of no type but text: a typo to fix, which no other type of the column loads
    assert rejects[1]["reason"] == "'x' is not a valid int64; the table's column n holds int64 values only"
    names = "SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index') AND tbl_name = 't' ORDER BY name"
    assert sqlite_rows(db, names) == [("t_audit",), ("t_n",)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_real_and_numeric_columns_made_elsewhere_never_change_a_value(tmp_path: Path, engine: str) -> None:
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER, x REAL, n NUMERIC, d DECIMAL(20, 2), dt DATETIME)")
    conn.commit()
    conn.close()
    write(
        tmp_path / "new.csv",
        "id,x,n,d,dt\n"
        "1,1,7,1.50,2024-01-01\n"
        "2,9007199254740993,8,2.5,2024-01-02\n"  # a float rounds it
        "3,2,007,3,x\n"  # NUMERIC would store 7
        "4,3,abc,12345678901234567.89,2024-01-04\n"  # NUMERIC would store 12345678901234568
        "5,4,9007199254740993,0.10000000000000000001,5\n"  # 0.1
        "6,5,12345678901234567890,4,2024-01-06\n"  # past int64: a float
        "7,6,9007199254740993,1e3,2024-01-07 10:00\n",  # an int64 is kept exactly; 1e3 is 1000
    )
    report = load(str(tmp_path / "new.csv"), str(db), table="t", run_options={"engine": engine, "workers": 1})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (7, 2, 5)
    assert sqlite_rows(db, "SELECT id, x, n, typeof(n), d, typeof(d), dt FROM t ORDER BY id") == [
        (1, 1.0, 7, "integer", 1.5, "real", "2024-01-01"),
        (7, 6.0, 9007199254740993, "integer", 1000, "integer", "2024-01-07 10:00"),
    ]
    rejects = {r["row"]: (r["column"], r["reason"]) for r in reject_lines(rejects_of(db))}
    assert rejects[2] == (
        "x",
        "'9007199254740993' would be stored as 9007199254740992.0 by float64 (declare the column as decimal(p, s) "
        f"or string); the table's column x holds float64 values only: {ELSEWHERE}",
    )
    numeric = "by the table's NUMERIC column (declare the column TEXT to keep the text)"
    assert {row: rejects[row] for row in (3, 4, 5, 6)} == {
        3: ("n", f"'007' would be stored as the number 7 {numeric}"),
        4: ("d", f"'12345678901234567.89' would be stored as the number 1.2345678901234568e+16 {numeric}"),
        5: ("d", f"'0.10000000000000000001' would be stored as the number 0.1 {numeric}"),
        6: ("n", f"'12345678901234567890' would be stored as the number 1.2345678901234567e+19 {numeric}"),
    }


def test_a_text_column_takes_a_later_files_integers_as_source_text(tmp_path: Path) -> None:
    write(tmp_path / "d1.csv", "id,code\n1,007\n")
    db = tmp_path / "d.db"
    load(str(tmp_path / "d1.csv"), str(db), table="t")
    write(tmp_path / "d2.csv", "id,code\n2,7\n3,8.50\n")  # inferred float64 on its own
    report = load([str(tmp_path / "d1.csv"), str(tmp_path / "d2.csv")], str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert typed(db, "code") == [("007", "text"), ("7", "text"), ("8.50", "text")]


def test_a_declaration_may_not_change_a_type_earlier_runs_wrote(tmp_path: Path) -> None:
    write(tmp_path / "e1.csv", "id,zip\n1,12345\n")
    write(tmp_path / "e2.csv", "id,zip\n2,01234\n")
    db = tmp_path / "e.db"
    load(str(tmp_path / "e1.csv"), str(db), table="t")
    with pytest.raises(ConfigError) as info:
        load(
            [str(tmp_path / "e1.csv"), str(tmp_path / "e2.csv")],
            str(db),
            table="t",
            source_options={"columns": {"zip": "string"}},
        )
    assert str(info.value).startswith(
        "source_options.columns.zip: declared string, but earlier runs of job 'table:t' loaded it as int64"
    )
    assert info.value.hint == (
        'declare it as they did (source_options={"columns": {"zip": "int64"}}), or, to load it as string, rerun with'
        ' run_options={"restart": True} sink_options={"mode": "replace"} (every file of the job loads again)'
    )
    assert info.value.exit_code == 78  # the earlier run's rows stand
    assert typed(db, "zip") == [(12345, "integer")]
    # replace starts over: the declaration is the new table's type
    load(
        str(tmp_path / "e*.csv"),
        str(db),
        table="t",
        sink_options={"mode": "replace"},
        run_options={"restart": True},
        source_options={"columns": {"zip": "string"}},
    )
    assert typed(db, "zip") == [("12345", "text"), ("01234", "text")]


# ------------------------------------------------------------------ LevelDB


def test_leveldb_json_values_have_one_type_per_column_across_files_and_runs(tmp_path: Path) -> None:
    write(tmp_path / "u1.csv", "id,zip\n1,12345\n")
    write(tmp_path / "u2.csv", "id,zip\n2,01234\n")
    target = tmp_path / "u.ldb"
    load(str(tmp_path / "u*.csv"), str(target), key="user:{id}")
    items, state = leveldb_items(target)
    assert items == [
        (b"user:00000000000000000001", b'{"id":1,"zip":"12345"}'),
        (b"user:00000000000000000002", b'{"id":2,"zip":"01234"}'),
    ]
    assert state["schema"] == {"id": "int64", "zip": "string"}
    write(tmp_path / "u3.csv", "id,zip\n3,34567\n")  # alone it would be a number
    load(str(tmp_path / "u*.csv"), str(target), key="user:{id}")
    items, _ = leveldb_items(target)
    assert items[-1] == (b"user:00000000000000000003", b'{"id":3,"zip":"34567"}')


def test_leveldb_key_format_is_fixed_for_a_load_with_a_text_id_in_a_later_file(tmp_path: Path) -> None:
    write(tmp_path / "k1.csv", "id,name\n1,a\n3,c\n")
    write(tmp_path / "k2.csv", "id,name\n007,g\n")
    target = tmp_path / "k.ldb"
    load(str(tmp_path / "k*.csv"), str(target), key="user:{id}")
    items, _ = leveldb_items(target)
    assert [k for k, _ in items] == [
        b"user:007",
        b"user:1",
        b"user:3",
    ]  # one format: text, never user:0...01 beside user:007
    assert items[0][1] == b'{"id":"007","name":"g"}'


@pytest.mark.parametrize("mode", ["upsert", "ignore", "append"])
def test_leveldb_restart_that_would_spell_the_keys_otherwise_is_refused(
    tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--restart forgets the files, not how the job's keys in the store are spelled: inferred
    anew over every file, id would be text and every row would be put again under a second key."""
    write(tmp_path / "d1.csv", "id,name\n1,ann\n2,bob\n")
    target = tmp_path / "u.ldb"
    run = ["load", str(tmp_path / "d*.csv"), str(target), "--key", "user:{id}", "--mode", mode, "-q"]
    assert main(run) == 0
    write(tmp_path / "d2.csv", "id,name\n007,bond\n3,cy\n")
    assert main(run) == 0  # 007 rejected: id is int64 since the first run
    before, _ = leveldb_items(target)
    capsys.readouterr()
    for extra in ([], ["--columns", "id=string"], ["--dry-run"]):
        assert main([*run, "--restart", *extra]) == 78
        err = capsys.readouterr().err
        assert (
            "sink.key: column id is string in this run, but this job's keys in "
            f"{target} were written with it as int64 (int64 keys are zero-padded to 20 digits; string keys are "
            f"the text as read): mode {mode} would write every row again under a second key"
        ) in err
        assert (
            "hint: declare the old type (--columns id=int64) to keep the store's keys, or rerun with --mode replace"
            in err
        )
        assert leveldb_items(target)[0] == before
    assert [k for k, _ in before] == [b"user:%020d" % n for n in (1, 2, 3)]
    # declared as the store has it: each row once (007 as the int64 declared)
    assert main([*run, "--restart", "--columns", "id=int64"]) == 0
    items, state = leveldb_items(target)
    assert [k for k, _ in items] == [b"user:%020d" % n for n in (1, 2, 3, 7)]
    assert state["keys"] == {"template": "user:{id}", "types": {"id": "int64"}, "columns": ["id", "name"]}
    # replace writes the keys anew, and the later runs keep them so
    assert main([*run[:-3], "--mode", "replace", "--restart", "-q"]) == 0
    assert [k for k, _ in leveldb_items(target)[0]] == [b"user:007", b"user:1", b"user:2", b"user:3"]
    assert main([*run, "--restart"]) == 0
    assert [k for k, _ in leveldb_items(target)[0]] == [b"user:007", b"user:1", b"user:2", b"user:3"]


@pytest.mark.parametrize(("sort", "engine"), [("never", "threads"), ("always", "threads"), ("auto", "processes")])
def test_leveldb_run_that_wrote_no_key_binds_no_later_run(
    tmp_path: Path, sort: str, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first run whose every row is rejected (a mistaken declaration) writes no key, so it
    records no spelling: the rerun its hint asks for loads the rows as it reads them."""
    write(tmp_path / "sku.csv", "id,v\nA1,x\nA2,y\n")
    target = tmp_path / "s.ldb"
    run = ["load", str(tmp_path / "sku.csv"), str(target), "--key", "sku:{id}", "--mode", "upsert", "--sort", sort]
    run += ["--set", f"run.engine={engine}"]
    assert main([*run, "--columns", "id=int64", "-q"]) == 4
    assert "fix the cause and rerun with --restart" in capsys.readouterr().err
    items, state = leveldb_items(target)
    assert items == [] and "keys" not in state
    assert main([*run, "--restart", "-q"]) == 0
    items, state = leveldb_items(target)
    assert [k for k, _ in items] == [b"sku:A1", b"sku:A2"]
    assert state["keys"] == {"columns": ["id", "v"], "template": "sku:{id}", "types": {"id": "string"}}
    # the keys written now bind the job
    assert main([*run, "--restart", "--columns", "id=int64", "-q"]) == 78
    assert "column id is int64 in this run, but this job's keys" in capsys.readouterr().err


def test_leveldb_zoned_timestamp_keys_in_another_zone_pass(tmp_path: Path) -> None:
    """A zoned timestamp keys as ISO text in UTC whatever its zone: a later run that reads the
    same instants in Europe/Paris spells the store's keys, and puts each row once."""
    ts = pa.array([dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 2, 13, 30)], pa.timestamp("us", "UTC"))
    pq.write_table(pa.table({"ts": ts, "v": [1, 2]}), tmp_path / "utc.parquet")
    paris = ts.cast(pa.timestamp("us", "Europe/Paris"))
    pq.write_table(pa.table({"ts": paris, "v": [1, 3]}), tmp_path / "paris.parquet")
    target = tmp_path / "ev.ldb"
    run = [str(target), "--key", "e:{ts}", "--mode", "upsert", "-q"]
    assert main(["load", str(tmp_path / "utc.parquet"), *run]) == 0
    assert main(["load", str(tmp_path / "paris.parquet"), *run, "--restart", "--dry-run"]) == 0
    assert main(["load", str(tmp_path / "paris.parquet"), *run, "--restart"]) == 0
    items, _ = leveldb_items(target)
    assert [(k, json.loads(v)["v"]) for k, v in items] == [
        (b"e:2024-01-01T12:00:00.000000Z", 1),
        (b"e:2024-01-02T13:30:00.000000Z", 3),
    ]


def test_leveldb_key_format_recorded_with_the_checkpoint_binds_later_runs(tmp_path: Path) -> None:
    write(tmp_path / "r1.csv", "id,name\n1,a\n2,b\n")
    target = tmp_path / "r.ldb"
    assert main(["load", str(tmp_path / "r*.csv"), str(target), "--key", "user:{id}", "-q"]) == 0
    write(tmp_path / "r2.csv", "id,name\n3,c\n007,g\n")  # tomorrow's file: alone, ids would be text
    assert main(["load", str(tmp_path / "r*.csv"), str(target), "--key", "user:{id}", "--mode", "upsert", "-q"]) == 0
    items, state = leveldb_items(target)
    assert [k for k, _ in items] == [
        b"user:00000000000000000001",
        b"user:00000000000000000002",
        b"user:00000000000000000003",
    ]
    assert state["schema"]["id"] == "int64"
    [reject] = reject_lines(rejects_of(target, "key-user:{id}"))
    assert (Path(reject["file"]).name, reject["row"], reject["column"], reject["values"]) == (
        "r2.csv",
        2,
        "id",
        {"id": "007", "name": "g"},
    )
    assert reject["reason"].startswith("'007' has a leading zero that int64 would drop")


def test_sqlite_affinity_decides_what_an_existing_column_takes() -> None:
    declared = {"a": "BIGINT", "b": "VARCHAR(10)", "c": "DOUBLE PRECISION", "d": "NUMERIC", "e": "", "F": "int"}
    types = {n: pa.string() for n in "abcde"} | {"f": pa.float64()}
    assert declared_pins(declared, types) == {"a": pa.int64(), "c": pa.float64(), "f": pa.int64()}
    numbers = {"a": pa.int64(), "b": pa.float64(), "c": pa.int64(), "d": pa.bool_()}
    # integers into a REAL column are floats there: checked as float64 (2**53 + 1 is rejected)
    assert declared_pins(declared, numbers) == {"b": pa.string(), "c": pa.float64()}
    # a bool is no float64 (nor an int64): it goes in as SQLite's 1 or 0
    assert declared_pins(declared, {"a": pa.bool_(), "c": pa.bool_()}) == {}
    assert numeric_text("append", declared) == {"a": "INTEGER", "c": "REAL", "d": "NUMERIC", "f": "INTEGER"}
    assert numeric_text("append", declared, staged=False) == {"d": "NUMERIC"}  # the pins type the rest
    assert numeric_text("replace", declared) == {}  # the loader makes the table again, with its types


def test_a_text_or_date_named_column_pins_dates_and_timestamps_as_their_text() -> None:
    declared = {"note": "TEXT", "at": "DATETIME", "day": "date", "ts": "TIMESTAMP", "n": "NUMERIC", "x": ""}
    types = {n: pa.timestamp("us", tz="UTC") for n in declared} | {"day": pa.date32()}
    assert declared_pins(declared, types) == {n: pa.string() for n in ("note", "at", "day", "ts")}
    # a plain NUMERIC column, or one without a type, keeps them as dates (written as ISO text)
    # a date or timestamp an earlier run recorded keeps its type: the table's rows hold that form
    assert declared_pins(declared, types, {"NOTE": pa.timestamp("us"), "at": pa.string()}) == {
        n: pa.string() for n in ("at", "day", "ts")
    }


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_csv_dates_into_a_text_or_datetime_column_made_elsewhere_keep_their_text(tmp_path: Path, engine: str) -> None:
    """They were stored as the loader's ISO text, an offset converted to UTC: the file's text was
    nowhere in the table, and rows before 12:30 missed row 2 (``'T' > ' '``)."""
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at DATETIME, note TEXT, day DATE)")
        conn.execute("INSERT INTO events VALUES (1, '2024-01-01 12:00:00', 'x', '2024-01-01')")
    src = write(
        tmp_path / "new.csv",
        "id,created_at,note,day\n"
        "2,2024-01-01 10:00:00,2024-01-01 09:00:00+02:00,2024-01-02\n"
        "3,2024-01-01 13:00:00,2024-01-02 09:00:00+02:00,2024-01-03\n",
    )
    assert main(["load", str(src), str(db), "--table", "events", "--engine", engine, "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, created_at, note, day, typeof(created_at) FROM events ORDER BY id") == [
        (1, "2024-01-01 12:00:00", "x", "2024-01-01", "text"),
        (2, "2024-01-01 10:00:00", "2024-01-01 09:00:00+02:00", "2024-01-02", "text"),
        (3, "2024-01-01 13:00:00", "2024-01-02 09:00:00+02:00", "2024-01-03", "text"),
    ]
    assert sqlite_rows(db, "SELECT id FROM events WHERE created_at < '2024-01-01 12:30:00' ORDER BY id") == [(1,), (2,)]
    assert sqlite_state(db, "table:events")["schema"] == {
        "created_at": "string",
        "day": "string",
        "id": "int64",
        "note": "string",
    }


def test_typed_timestamps_into_a_text_column_made_elsewhere_keep_the_iso_form(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, at TEXT, day DATETIME)")
    at = pa.array([dt.datetime(2024, 1, 1, 7, tzinfo=dt.UTC)], pa.timestamp("us", tz="Europe/Paris"))
    pq.write_table(pa.table({"id": [1], "at": at, "day": pa.array([dt.date(2024, 1, 2)])}), tmp_path / "p.parquet")
    load(str(tmp_path / "p.parquet"), str(db), table="t")
    assert sqlite_rows(db, "SELECT id, at, day FROM t") == [(1, "2024-01-01T07:00:00.000000Z", "2024-01-02")]


def test_a_table_the_loader_made_keeps_the_iso_form_of_its_timestamps_on_later_runs(tmp_path: Path) -> None:
    """The loader declares TEXT for a timestamp column: its recorded type, not the TEXT, decides."""
    db = tmp_path / "t.db"
    write(tmp_path / "a.csv", "id,at\n1,2024-01-01 10:00:00\n")
    write(tmp_path / "b.csv", "id,at\n2,2024-01-02 10:00:00\n")
    assert main(["load", str(tmp_path / "a.csv"), str(db), "--table", "t", "-q"]) == 0
    assert main(["load", str(tmp_path / "b.csv"), str(db), "--table", "t", "-q"]) == 0
    assert sqlite_rows(db, "SELECT at FROM t ORDER BY id") == [
        ("2024-01-01T10:00:00.000000",),
        ("2024-01-02T10:00:00.000000",),
    ]


def test_a_text_column_holding_the_loaders_timestamps_keeps_them_whatever_the_checkpoint() -> None:
    """Its first value decides, not only this job's recorded types: --restart and another job
    found none, took the loader's own table for one made elsewhere, and wrote source text."""
    declared = {"iso": "TEXT", "zoned": "DATETIME", "user": "TEXT", "empty": "TEXT", "day": "TEXT", "n": "TEXT"}
    types = {n: pa.timestamp("us") for n in declared} | {"day": pa.date32(), "n": pa.int64()}
    held = {
        "iso": "2024-01-01T09:00:00.000000",
        "zoned": "2024-01-01T07:00:00.000Z",
        "user": "2024-01-01 09:00:00",
        "day": "2024-01-01",  # a date's text is the source text too: it tells nothing
    }
    asked: list[list[str]] = []

    def first_values(columns: list[str]) -> dict[str, Any]:
        asked.append(columns)
        return {n: held[n] for n in columns if n in held}

    pins = declared_pins(declared, types, {}, first_values=first_values)
    assert pins == {n: pa.string() for n in ("user", "empty", "day", "n")}
    assert asked == [["iso", "zoned", "user", "empty", "day"]]  # dated columns only, in one call
    # an empty column keeps the type an earlier run recorded; a recorded column is not asked
    asked.clear()
    assert declared_pins(
        declared, types, {"EMPTY": pa.timestamp("us"), "iso": pa.timestamp("us")}, first_values=first_values
    ) == {n: pa.string() for n in ("user", "day", "n")}
    assert asked == [["zoned", "user", "day"]]


@pytest.mark.parametrize(
    ("value", "form"),
    [
        ("2024-01-01 10:00:00", TextForm(" ", 0, "")),  # pandas' to_sql
        ("2024-01-01 10:30:00.000000", TextForm(" ", 6, "")),  # SQLAlchemy's DateTime
        ("2024-01-01 10:00:00-05:00", TextForm(" ", 0, "+00:00")),  # pandas', zoned
        ("2024-01-01T10:00:00", TextForm("T", 0, "")),  # isoformat(), sqlite-utils'
        ("2024-01-01T10:00:00.000Z", TextForm("T", 3, "Z")),
        ("2024-01-01T10:00:00.000000000+00:00", TextForm("T", 9, "+00:00")),
        ("2024-01-01", None),  # a date's text tells nothing
        ("2024-01-01 10:00", None),
        ("2024-01-01 10:00:00.12", None),
        (20240101, None),
    ],
)
def test_the_date_time_text_forms_a_table_may_hold(value: Any, form: TextForm | None) -> None:
    assert text_form(value) == form


def test_a_timestamp_column_keeps_its_type_in_a_table_of_another_text_form_unless_read_from_text() -> None:
    """A Parquet file's timestamps go in typed, in the column's form (the encoder's); a CSV's,
    read from text, keep their text. Isoformat text without a fraction is no loader's text of
    microseconds: a CSV's text stays as it is there too."""
    declared = {"pd": "TIMESTAMP", "iso": "TEXT", "own": "TEXT", "odd": "TEXT"}
    types = {n: pa.timestamp("us") for n in declared}
    held = {"pd": "2024-01-01 10:00:00", "iso": "2024-01-01T10:00:00", "own": "2024-01-01T10:00:00.000000", "odd": "x"}

    def first_values(columns: list[str]) -> dict[str, Any]:
        return {n: held[n] for n in columns}

    text = {n: pa.string() for n in ("pd", "iso", "odd")}
    assert declared_pins(declared, types, first_values=first_values) == text
    assert declared_pins(declared, types, first_values=first_values, from_text={"pd", "iso", "odd"}) == text
    assert declared_pins(declared, types, first_values=first_values, from_text={"iso"}) == {
        "iso": pa.string(),
        "odd": pa.string(),
    }
    assert declared_pins(declared, types, first_values=first_values, from_text=set()) == {"odd": pa.string()}
    seconds = {"iso": pa.timestamp("s")}  # the loader's own text of seconds
    assert declared_pins(declared, seconds, first_values=first_values, from_text={"iso"}) == {}


def test_unify_tells_the_columns_a_file_reads_from_text() -> None:
    text, typed = pa.schema([("a", pa.timestamp("us")), ("B", pa.string())]), pa.schema([("c", pa.timestamp("us"))])
    samples = [Sample(text, {"a": TypeGuess(), "B": None}), Sample(typed, {})]
    found: set[str] = set()
    unify(samples, None, found)
    assert found == {"a", "b"}


def test_a_column_the_job_declares_keeps_its_type_in_a_text_column() -> None:
    declared = {"at": "TEXT", "when": "DATETIME", "n": "TEXT", "b": "text", "zip": "INTEGER", "x": "REAL"}
    types = {"at": pa.timestamp("us", "UTC"), "when": pa.timestamp("us"), "n": pa.int64(), "b": pa.bool_()}
    types |= {"zip": pa.string(), "x": pa.decimal128(10, 2)}
    assert declared_pins(declared, types) == {n: pa.string() for n in ("at", "when", "n", "b")} | {
        "zip": pa.int64(),
        "x": pa.float64(),
    }
    # declared: no column takes it as text; an INTEGER or REAL column still checks what it would change
    assert declared_pins(declared, types, own=["AT", "when", "n", "b", "zip", "x"]) == {
        "zip": pa.int64(),
        "x": pa.float64(),
    }


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_upsert_on_a_timestamp_key_after_restart_replaces_the_loaders_rows(tmp_path: Path, engine: str) -> None:
    """After --restart the table the loader made was taken for one made elsewhere: its key
    was written as source text, no row matched and every row was inserted twice."""
    db = tmp_path / "t.db"
    src = write(tmp_path / "a.csv", "ts,v\n2024-01-01 09:00:00,1\n2024-01-01 10:30:00,2\n")
    args = ["load", str(src), str(db), "--table", "t", "--mode", "upsert", "--primary-key", "ts"]
    assert main([*args, "--engine", engine, "-q"]) == 0
    write(src, "ts,v\n2024-01-01 09:00:00,10\n2024-01-01 10:30:00,20\n")
    assert main([*args, "--engine", engine, "--restart", "-q"]) == 0
    assert sqlite_rows(db, "SELECT ts, v FROM t ORDER BY ts") == [
        ("2024-01-01T09:00:00.000000", 10),
        ("2024-01-01T10:30:00.000000", 20),
    ]
    assert sqlite_state(db, "table:t")["schema"]["ts"] == "timestamp[us]"


def test_another_job_appending_to_the_loaders_table_writes_its_timestamps_form(tmp_path: Path, capsys: Any) -> None:
    """A second job wrote 2024-01-01 10:00:00+02:00 beside ...T07:00:00.000000Z: two forms, out of order."""
    db = tmp_path / "u.db"
    b = write(tmp_path / "b.csv", "id,d\n1,2024-01-01 09:00:00+02:00\n")
    c = write(tmp_path / "c.csv", "id,d\n2,2024-01-01 10:00:00+02:00\n")
    assert main(["load", str(b), str(db), "--table", "u", "-q"]) == 0
    capsys.readouterr()
    assert main(["load", str(c), str(db), "--table", "u", "--job", "nightly", "--dry-run"]) == 0
    assert "  d: timestamp[us, UTC]\n" in capsys.readouterr().out  # the plan reads the table as the load does
    assert main(["load", str(c), str(db), "--table", "u", "--job", "nightly", "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, d FROM u ORDER BY d") == [
        (1, "2024-01-01T07:00:00.000000Z"),
        (2, "2024-01-01T08:00:00.000000Z"),
    ]


def test_an_empty_text_column_made_elsewhere_takes_the_source_text(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, at TEXT)")
        conn.execute("INSERT INTO t VALUES (0, NULL)")  # a row, but no value: nothing to follow
    write(tmp_path / "a.csv", "id,at\n1,2024-01-01 09:00:00+02:00\n")
    assert main(["load", str(tmp_path / "a.csv"), str(db), "--table", "t", "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, at FROM t ORDER BY id") == [(0, None), (1, "2024-01-01 09:00:00+02:00")]


def test_a_declared_type_into_a_text_column_made_elsewhere_is_converted_and_checked(tmp_path: Path) -> None:
    """The column was taken as source text, the declaration silently dropped: an invalid value loaded."""
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, d TEXT, at DATETIME, n TEXT, f TEXT)")
    src = write(
        tmp_path / "d.csv",
        "id,d,at,n,f\n1,2024-01-01 09:00:00+02:00,2024-01-01 10:00:00,007,1.50\n2,01/02/2024 10:00,2024-01-02 10:00:00,8,2.25\n",
    )
    columns = {"d": "timestamp[us, UTC]", "at": "timestamp", "n": "int64", "f": "float64"}
    report = load(str(src), str(db), table="t", source_options={"columns": columns})
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert sqlite_rows(db, "SELECT id, d, at, n, typeof(n), f FROM t") == [
        (1, "2024-01-01T07:00:00.000000Z", "2024-01-01T10:00:00.000000", "7", "text", "1.5")
    ]
    assert [r["reason"] for r in reject_lines(Path(f"{db}.table-t.rejects.jsonl"))] == [
        "'01/02/2024 10:00' is not a valid timestamp[us, UTC]"
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_table_made_elsewhere_checks_what_transform_stages_make(tmp_path: Path, engine: str) -> None:
    """With stages the columns are not typed by the table as they are read: the encoder checks."""
    db = tmp_path / "p.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, zip INTEGER, amt REAL, note TEXT, big REAL)")
    write(tmp_path / "p.csv", "id,zip,amt,note\n1,7,9007199254740993,1.50\n2,007,1.5,x\n3,5,7,y\n-9,5,7,z\n")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path / "p.csv"}"\n'
        '[[transform]]\ntype = "derive"\ncolumns = { big = "id + 9007199254740992" }\n'
        f'[sink]\npath = "{db}"\ntable = "t"\n[run]\nengine = "{engine}"\n'
    )
    assert main(["run", str(job), "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, zip, amt, note, big FROM t") == [(-9, 5, 7.0, "z", 9007199254740983.0)]
    rejects = {r["row"]: (r["column"], r["reason"]) for r in reject_lines(rejects_of(db))}
    assert rejects == {
        1: (
            "amt",
            "'9007199254740993' would be stored as the number 9007199254740992.0 by the table's REAL column "
            "(declare the column TEXT to keep the text)",
        ),
        2: (
            "zip",
            "'007' would be stored as the number 7 by the table's INTEGER column (declare the column TEXT to keep the text)",
        ),
        3: ("big", "9007199254740995 would be stored as 9007199254740996.0 by the table's REAL column"),
    }


def test_a_rerun_after_a_failure_reads_the_rest_with_the_first_runs_types(tmp_path: Path) -> None:
    """The first file was committed with the load's types (ids as text, for ``007``);
    the rerun loads only the second, whose ids alone would be integers: its keys
    still take the text format, never ``user:00000000000000000003``."""
    write(tmp_path / "h1.csv", "id,name\n007,g\n")
    write(tmp_path / "h2.csv", "id,name\n3,c\n")
    target = tmp_path / "h.ldb"

    def fail_on_second_file(batch: pa.RecordBatch) -> pa.RecordBatch:
        if "3" in batch.column("id").to_pylist():
            raise RuntimeError("stopped mid-load")
        return batch

    with pytest.raises(LoaderError, match="the function raised RuntimeError: stopped mid-load"):
        load(str(tmp_path / "h*.csv"), str(target), key="user:{id}", transforms=[fail_on_second_file])
    items, state = leveldb_items(target)
    assert (items, state["job"]["status"]) == ([(b"user:007", b'{"id":"007","name":"g"}')], "running")
    report = load(str(tmp_path / "h*.csv"), str(target), key="user:{id}")
    assert (report.resumed, report.files_skipped, report.rows_written) == (True, 1, 1)
    items, _ = leveldb_items(target)
    assert [k for k, _ in items] == [b"user:007", b"user:3"]


def test_parquet_files_unify_their_own_types_and_a_later_run_rejects_what_does_not_fit(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, 2], "v": pa.array([1, 2], pa.int32())}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"id": [3], "v": [2.5]}), tmp_path / "p2.parquet")
    db = tmp_path / "p.db"
    load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert typed(db, "v") == [(1.0, "real"), (2.0, "real"), (2.5, "real")]
    pq.write_table(pa.table({"id": [4, 5], "v": ["7", "x"]}), tmp_path / "p3.parquet")
    report = load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert typed(db, "v")[-1] == (7.0, "real")
    [reject] = reject_lines(rejects_of(db))
    assert (reject["row"], reject["column"], reject["values"]) == (2, "v", {"id": 5, "v": "x"})
    assert reject["reason"].startswith("'x' is not a valid float64; v is float64 since an earlier run of this job")


_LATER = "since an earlier run of this job"


@pytest.mark.parametrize(
    ("first", "later", "reasons"),
    [
        (  # numbers into a bool column: 2, -1 and 2.5 would all be true
            pa.array([True]),
            pa.array([2, -1, 0], pa.int8()),
            [f"'{v}' is a number, not a boolean: bool takes true and false only" for v in (2, -1, 0)],
        ),
        (pa.array([True]), pa.array([2.5]), ["'2.5' is a number, not a boolean: bool takes true and false only"]),
        (  # a bool into an integer column: true would be 1 (in LevelDB's JSON another type)
            pa.array([7]),
            pa.array([True, False]),
            [f"'{v}' is a boolean, not a number: int64 takes numbers only" for v in ("true", "false")],
        ),
        (  # a zoned timestamp into a naive column: its UTC wall clock, the zone dropped
            pa.array([0], pa.timestamp("ms")),
            pa.array([3_600_000], pa.timestamp("ms", "Europe/Paris")),
            ["'1970-01-01 02:00:00+01:00' has a time zone that timestamp[ms] would drop"],
        ),
        (  # a naive timestamp into a zoned column: it would be read as UTC
            pa.array([0], pa.timestamp("ms", "UTC")),
            pa.array([0], pa.timestamp("ms")),
            ["'1970-01-01 00:00:00' has no time zone, and timestamp[ms, UTC] would have to assume one"],
        ),
        (  # a date is no instant either
            pa.array([0], pa.timestamp("us", "UTC")),
            pa.array([dt.date(2024, 1, 2)]),
            ["'2024-01-02' has no time zone, and timestamp[us, UTC] would have to assume one"],
        ),
    ],
)
def test_a_later_runs_parquet_value_of_another_kind_is_rejected_not_cast(
    tmp_path: Path, first: pa.Array, later: pa.Array, reasons: list[str]
) -> None:
    """Arrow calls these casts safe: a number as a bool, a bool as a number, a zone
    dropped or added. Each changes what the value is, so the recorded type rejects it."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"v": first}), tmp_path / "p1.parquet")
    db = tmp_path / "p.db"
    load(str(tmp_path / "p*.parquet"), str(db), table="t")
    pq.write_table(pa.table({"v": pa.concat_arrays([later, pa.nulls(1, later.type)])}), tmp_path / "p2.parquet")
    report = load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, len(reasons))  # the null loads
    assert typed(db, "v")[1:] == [(None, "null")]
    rejects = reject_lines(rejects_of(db))
    assert [(r["file"], r["row"], r["column"]) for r in rejects] == [
        (str(tmp_path / "p2.parquet"), row, "v") for row in range(1, len(reasons) + 1)
    ]
    assert [r["reason"].split(";")[0] for r in rejects] == reasons
    assert all(f"; v is {sqlite_state(db)['schema']['v']} {_LATER}" in r["reason"] for r in rejects)


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_later_runs_one_zero_and_odd_case_are_rejected_by_a_bool_column(tmp_path: Path, sink: str) -> None:
    """The recorded bool column stored 1, 0 and tRUE as true, false and true (exit 0): Arrow's
    cast reads them, inference never does."""
    write(tmp_path / "a.csv", "id,f\n1,true\n2,false\n")
    write(tmp_path / "b.csv", "id,f\n3,1\n4,0\n5,tRUE\n6,FALSE\n")
    target = tmp_path / f"t.{sink}"
    opts: dict[str, Any] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    first, second = _two_runs(tmp_path / "a.csv", tmp_path / "b.csv", target, **opts)
    assert (first.rows_written, second.rows_written, second.rows_rejected) == (2, 1, 3)
    if sink == "db":
        assert sqlite_rows(target, "SELECT id, f FROM t ORDER BY id") == [(1, 1), (2, 0), (6, 0)]
    else:
        assert _leveldb_values(target) == ['{"id":1,"f":true}', '{"id":2,"f":false}', '{"id":6,"f":false}']
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [(r["row"], r["column"], r["reason"].split(";")[0]) for r in rejects] == [
        (row, "f", f"'{v}' is not a valid bool: it takes true, false, True, False, TRUE and FALSE only")
        for row, v in ((1, "1"), (2, "0"), (3, "tRUE"))
    ]


def test_a_one_past_the_sample_of_a_bool_column_is_rejected(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'true' if i % 2 else 'false'}\n" for i in range(1100))
    write(tmp_path / "a.csv", f"id,f\n{rows}1100,1\n1101,True\n")
    db = tmp_path / "t.db"
    report = load(str(tmp_path / "a.csv"), str(db), table="t", source_options={"infer_rows": 10})
    assert (report.rows_written, report.rows_rejected) == (1101, 1)
    assert sqlite_rows(db, "SELECT f FROM t WHERE id > 1098 ORDER BY id") == [(1,), (1,)]
    [reject] = reject_lines(rejects_of(db))
    assert (reject["row"], reject["column"], reject["values"]) == (1101, "f", {"id": "1100", "f": "1"})


def test_a_leveldb_columns_json_type_stays_across_runs_for_parquet_bools(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "n": [7]}), tmp_path / "p1.parquet")
    target = tmp_path / "u.ldb"
    load(str(tmp_path / "p*.parquet"), str(target), key="k:{id}")
    pq.write_table(pa.table({"id": [2, 3], "n": [True, None]}), tmp_path / "p2.parquet")
    report = load(str(tmp_path / "p*.parquet"), str(target), key="k:{id}")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    items, _ = leveldb_items(target)
    assert [v for _, v in items] == [b'{"id":1,"n":7}', b'{"id":3,"n":null}']  # no {"id":2,"n":1}


def test_a_bool_into_a_real_column_made_elsewhere_is_its_number(tmp_path: Path) -> None:
    """SQLite has no bool: 1 and 0 are what an INTEGER or REAL column holds of it."""
    import pyarrow.parquet as pq

    db = tmp_path / "e.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (b REAL)")
    pq.write_table(pa.table({"b": [True, False]}), tmp_path / "b.parquet")
    report = load(str(tmp_path / "b.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert typed(db, "b") == [(1.0, "real"), (0.0, "real")]


def test_json_lines_and_arrow_files_unify_like_csv(tmp_path: Path) -> None:
    """The settled types bind every reader: a JSON Lines or Arrow file whose own type is
    narrower is read with the load's (zip text in every file, id float where one file has 2.5)."""
    write(tmp_path / "j1.jsonl", '{"id": 1, "zip": 12345}\n')
    write(tmp_path / "j2.jsonl", '{"id": 2.5, "zip": "01234"}\n')
    (tmp_path / "out").mkdir()
    db = tmp_path / "out" / "j.db"  # beside the inputs, its reject file would match *.jsonl
    report = load(str(tmp_path / "j*.jsonl"), str(db), table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (2, 2, 0)
    assert declared(db) == {"id": "REAL", "zip": "TEXT"}
    assert typed(db, "zip") == [("12345", "text"), ("01234", "text")]
    assert typed(db, "id") == [(1.0, "real"), (2.5, "real")]

    import pyarrow.feather as feather

    feather.write_feather(pa.table({"id": pa.array([1], pa.int32()), "zip": [12345]}), str(tmp_path / "a1.arrow"))
    feather.write_feather(pa.table({"id": pa.array([2], pa.int32()), "zip": ["01234"]}), str(tmp_path / "a2.arrow"))
    db = tmp_path / "a.db"
    report = load(str(tmp_path / "a*.arrow"), str(db), table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (2, 2, 0)
    assert typed(db, "zip") == [("12345", "text"), ("01234", "text")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_later_files_new_column_is_added_with_alter_on_every_engine(tmp_path: Path, engine: str) -> None:
    write(tmp_path / "a.csv", "x\n1\n2\n")
    write(tmp_path / "b.csv", "x,y\n3,4\n")
    db = tmp_path / "t.db"
    files = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    run = {"engine": engine, "workers": 1}
    with pytest.raises(LoaderError) as info:  # without --alter: refused before its rows are copied
        load(files, str(db), table="t", run_options=run)
    assert (info.value.exit_code, str(info.value)) == (65, f"{files[1]}, column 'y': table 't' has no column 'y'")
    report = load(files, str(db), table="t", sink_options={"alter": True}, run_options=run)
    assert (report.rows_written, report.resumed) == (1, True)  # the first file's rows were committed
    assert sqlite_rows(db, "SELECT x, y FROM t ORDER BY x") == [(1, None), (2, None), (3, 4)]


_NAIVE = dt.datetime(2024, 1, 2, 3, 4, 5)
_ZONED = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.mark.parametrize(
    ("first", "second", "schema", "stored"),
    [
        (  # pandas (ns) beside DuckDB or Spark (us): the finer unit, every value exact
            pa.array([_NAIVE], pa.timestamp("us")),
            pa.array([1704164645123456789], pa.timestamp("ns")),
            "timestamp[ns]",
            ["2024-01-02T03:04:05.000000000", "2024-01-02T03:04:05.123456789"],
        ),
        (
            pa.array([_NAIVE], pa.timestamp("us")),
            pa.array([_NAIVE], pa.timestamp("ms")),
            "timestamp[us]",
            ["2024-01-02T03:04:05.000000", "2024-01-02T03:04:05.000000"],
        ),
        (  # two zones meet in UTC
            pa.array([_ZONED], pa.timestamp("us", tz="+02:00")),
            pa.array([_NAIVE], pa.timestamp("ms", tz="Europe/Berlin")),
            "timestamp[us, UTC]",
            ["2024-01-02T01:04:05.000000Z", "2024-01-02T03:04:05.000000Z"],
        ),
        (
            pa.array([dt.date(2024, 1, 1)]),
            pa.array([_NAIVE], pa.timestamp("ms")),
            "timestamp[ms]",
            ["2024-01-01T00:00:00.000", "2024-01-02T03:04:05.000"],
        ),
        (  # no zone can be assumed for a naive value: text, as each file alone writes it
            pa.array([_NAIVE], pa.timestamp("us")),
            pa.array([_ZONED], pa.timestamp("us", tz="+02:00")),
            "string",
            ["2024-01-02T03:04:05.000000", "2024-01-02T01:04:05.000000Z"],
        ),
        (
            pa.array([dt.date(2024, 1, 1)]),
            pa.array([_ZONED], pa.timestamp("ns", tz="+02:00")),
            "string",
            ["2024-01-01", "2024-01-02T01:04:05.000000000Z"],
        ),
    ],
    ids=["us+ns", "us+ms", "zones", "date+naive-ms", "naive+zoned", "date+zoned"],
)
def test_parquet_dates_and_timestamps_unify_to_a_type_holding_every_value(
    tmp_path: Path, first: pa.Array, second: pa.Array, schema: str, stored: list[str]
) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"d": first}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"d": second}), tmp_path / "p2.parquet")
    db = tmp_path / "p.db"
    report = load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert sqlite_state(db)["schema"] == {"d": schema}
    assert [v for v, _ in typed(db, "d")] == stored


def test_a_timestamp_outside_the_nanosecond_range_is_rejected_when_files_unify_to_it(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    far = pa.array([_NAIVE, dt.datetime(2500, 1, 1)], pa.timestamp("us"))
    pq.write_table(pa.table({"d": far}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"d": pa.array([1], pa.timestamp("ns"))}), tmp_path / "p2.parquet")
    db = tmp_path / "p.db"
    report = load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    assert [v for v, _ in typed(db, "d")] == ["2024-01-02T03:04:05.000000000", "1970-01-01T00:00:00.000000001"]
    [reject] = reject_lines(rejects_of(db))
    assert (reject["file"], reject["row"], reject["column"]) == (str(tmp_path / "p1.parquet"), 2, "d")
    assert reject["reason"] == "'2500-01-01 00:00:00' is outside the range of timestamp[ns] (years 1677 to 2262)"


def test_a_later_runs_finer_timestamps_are_rejected_not_truncated(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"d": pa.array([_NAIVE], pa.timestamp("us"))}), tmp_path / "p1.parquet")
    db = tmp_path / "p.db"
    load(str(tmp_path / "p*.parquet"), str(db), table="t")
    later = pa.array([1704164645000000000, 1704164645123456789], pa.timestamp("ns"))
    pq.write_table(pa.table({"d": later}), tmp_path / "p2.parquet")
    report = load(str(tmp_path / "p*.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert [v for v, _ in typed(db, "d")] == ["2024-01-02T03:04:05.000000", "2024-01-02T03:04:05.000000"]
    [reject] = reject_lines(rejects_of(db))
    assert reject["reason"].startswith(
        "'2024-01-02T03:04:05.123456789' has digits below a microsecond that timestamp[us] would drop; "
    )


def test_names_that_differ_in_case_across_files_are_one_column(tmp_path: Path) -> None:
    """SQLite takes `code` into the column `Code`: the two files' values decide one type."""
    write(tmp_path / "f1.csv", "id,Code\n1,5\n2,6\n")
    write(tmp_path / "f2.csv", "id,code\n3,007\n4,1.50\n")
    db = tmp_path / "o.db"
    report = load([str(tmp_path / "f1.csv"), str(tmp_path / "f2.csv")], str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (4, 0)
    assert typed(db, "Code") == [("5", "text"), ("6", "text"), ("007", "text"), ("1.50", "text")]


def test_a_column_renamed_by_case_in_a_later_run_keeps_its_recorded_type_and_name(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    write(tmp_path / "b" / "d1.csv", "id,code\n1,7\n2,8\n")
    target = tmp_path / "c.ldb"
    args = ["load", str(tmp_path / "b" / "*.csv"), str(target), "--key", "k{id}", "-q"]
    assert main(args) == 0
    write(tmp_path / "b" / "d2.csv", "id,Code\n3,007\n4,9\n")  # tomorrow's export spells it Code
    assert main(args) == 0
    items, state = leveldb_items(target)
    assert [v for _, v in items] == [b'{"id":1,"code":7}', b'{"id":2,"code":8}', b'{"id":4,"code":9}']
    assert state["schema"] == {"id": "int64", "code": "int64"}
    [reject] = reject_lines(rejects_of(target, "key-k{id}"))
    assert (reject["row"], reject["column"], reject["values"]) == (1, "code", {"id": "3", "code": "007"})
    assert reject["reason"] == (
        "'007' has a leading zero that int64 would drop (declare the column as string to keep it); "
        "code is int64 since an earlier run of this job: to change it, declare the type and reload "
        'every file with --restart and mode = "replace"'
    )


@pytest.mark.parametrize("alter", [False, True])
def test_json_lines_spelling_a_column_both_ways_in_a_later_run_load_into_it(tmp_path: Path, alter: bool) -> None:
    """Day 2's file spells `a` as `A` and `a`: within one file as across files, one column
    under the recorded spelling (it had exited 65 for a column `a_2`, or with --alter had
    put day 2's `a` into a new `a_2` and its `A` into `a`). LevelDB's values keep one key."""
    day = tmp_path / "d"
    day.mkdir()
    (day / "1.jsonl").write_text('{"id":1,"a":1}\n', encoding="utf-8")
    db, ldb = tmp_path / "d.db", tmp_path / "d.ldb"
    to_sqlite = ["load", str(day / "*.jsonl"), str(db), "--table", "t", "-q", *(["--alter"] if alter else [])]
    to_leveldb = ["load", str(day / "*.jsonl"), str(ldb), "--key", "k{id}", "-q"]
    for args in (to_sqlite, to_leveldb):
        p = cli(*args)
        assert p.returncode == 0, p.stderr
    (day / "2.jsonl").write_text('{"id":2,"A":3}\n{"id":3,"a":4}\n', encoding="utf-8")
    for args in (to_sqlite, to_leveldb):
        p = cli(*args)
        assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_rows(db, "SELECT sql FROM sqlite_master WHERE name = 't'") == [
        ('CREATE TABLE "t" ("id" INTEGER, "a" INTEGER)',)
    ]
    assert sqlite_rows(db, "SELECT id, a FROM t ORDER BY id") == [(1, 1), (2, 3), (3, 4)]
    items, state = leveldb_items(ldb)
    assert [v for _, v in items] == [b'{"id":1,"a":1}', b'{"id":2,"a":3}', b'{"id":3,"a":4}']
    assert state["schema"] == {"id": "int64", "a": "int64"}


def test_a_sqlite_column_renamed_by_case_in_a_later_run_keeps_its_recorded_date_type(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    write(tmp_path / "b" / "d1.csv", "id,day\n1,2024-01-01\n")
    db = tmp_path / "s.db"
    load(str(tmp_path / "b" / "*.csv"), str(db), table="t")
    write(tmp_path / "b" / "d2.csv", "id,Day\n2,01/03/2024\n3,2024-01-04T10:00:00\n4,2024-01-05\n")
    report = load(str(tmp_path / "b" / "*.csv"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    assert sqlite_rows(db, "SELECT id, day FROM t ORDER BY id") == [(1, "2024-01-01"), (4, "2024-01-05")]
    assert [(r["column"], r["reason"].split(";")[0]) for r in reject_lines(rejects_of(db))] == [
        ("day", "'01/03/2024' is not a valid date"),
        ("day", "'2024-01-04T10:00:00' is not a valid date"),
    ]


def test_leveldb_stores_a_column_under_its_first_spelling_in_every_file(tmp_path: Path) -> None:
    """JSON keys and the key template: `ID` in the second file is the first file's `id`."""
    write(tmp_path / "m1.csv", "id,a,b\n1,x,5\n")
    write(tmp_path / "m2.csv", "ID,A,B\n5,v,50\n")
    target = tmp_path / "m.ldb"
    assert main(["load", str(tmp_path / "m*.csv"), str(target), "--key", "{id}", "-q"]) == 0
    items, state = leveldb_items(target)
    assert items == [
        (b"00000000000000000001", b'{"id":1,"a":"x","b":5}'),
        (b"00000000000000000005", b'{"id":5,"a":"v","b":50}'),
    ]
    assert state["schema"] == {"id": "int64", "a": "string", "b": "int64"}


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_column_without_a_value_in_its_first_run_keeps_its_first_spelling(tmp_path: Path, engine: str) -> None:
    """Run 1 had no value for `Mid`, so no type and no spelling was recorded: LevelDB held
    one column under two JSON keys, `Mid` from run 1 and `mid` from runs 2 and 3."""
    (tmp_path / "d").mkdir()
    target = tmp_path / "s.ldb"
    args = ["load", str(tmp_path / "d" / "*.csv"), str(target), "--key", "{id}", "-q", "--engine", engine]
    write(tmp_path / "d" / "1.csv", "id,Mid\n1,\n")
    assert main(args) == 0
    assert leveldb_items(target)[1]["schema"] == {"id": "int64", "Mid": "null"}
    write(tmp_path / "d" / "2.csv", "id,mid\n2,x\n")
    assert main(args) == 0
    write(tmp_path / "d" / "3.csv", "id,MID\n3,y\n")
    assert main(args) == 0
    items, state = leveldb_items(target)
    assert [v for _, v in items] == [b'{"id":1,"Mid":null}', b'{"id":2,"Mid":"x"}', b'{"id":3,"Mid":"y"}']
    assert state["schema"] == {"id": "int64", "Mid": "string"}


def test_a_column_typed_null_in_the_checkpoint_binds_its_spelling_and_no_type() -> None:
    types = {"id": pa.int64(), "Mid": pa.null()}
    assert decode_types(encode_types(types)) == types
    assert decode_types('{"id": "int64"}') == {"id": pa.int64()}  # a checkpoint from before
    sample = Sample(pa.schema([("id", pa.int64()), ("MID", pa.float64())]), {})
    assert unify([sample], types) == {"id": pa.int64(), "Mid": pa.float64()}
    assert unify([], types) == types  # a run without the column keeps its spelling


def test_names_that_differ_in_a_non_ascii_case_are_two_columns() -> None:
    """SQLite folds ASCII letters only: ``ÑANDÚ`` and ``ñandú`` keep a type each; ``CODE`` is
    the recorded ``code``."""
    samples = [
        Sample(pa.schema([("ÑANDÚ", pa.float64())]), {}),
        Sample(pa.schema([("ñandú", pa.string()), ("CODE", pa.int64())]), {}),
    ]
    assert unify(samples, {"code": pa.int64()}) == {"code": pa.int64(), "ÑANDÚ": pa.float64(), "ñandú": pa.string()}


def _named(*names: str) -> Sample:
    """A Parquet file's sample of int64 columns with these names of its own (deduped as its reader does)."""
    from loader.readers.base import dedupe_names

    return Sample(pa.schema([(n, pa.int64()) for n in dedupe_names(list(names))]), {}, raw=names)


def test_spellings_a_file_holds_side_by_side_are_a_column_each_in_every_file() -> None:
    """Polars writes ``a`` and ``A`` in one file, DuckDB ``A`` alone in another: each spelling has
    its column whichever file comes first (``A`` alone took ``a``'s column, or ``A_2``'s by order)."""
    a, both = _named("rid", "A"), _named("rid", "a", "A")
    assert twin_columns([a.raw, both.raw]) == {"A": "A", "a": "a_2"}
    assert twin_columns([both.raw, a.raw]) == {"a": "a", "A": "A_2"}
    assert twin_columns([a.raw, ("rid", "a")]) == {}  # no file holds both: one column, as before
    assert twin_columns([both.raw], {"rid": pa.int64(), "A": pa.int64()}) == {"A": "A", "a": "a_2"}  # recorded first
    assert twin_columns([both.raw, ("a_2",)]) == {"a": "a", "A": "A_3"}  # a suffix no file's name takes
    apart: dict[str, str] = {}
    assert unify([a, both], None, None, apart) == {"rid": pa.int64(), "A": pa.int64(), "a_2": pa.int64()}
    assert apart == {"A": "A", "a": "a_2"}
    # a third spelling beside the two has no say (its reader refuses its file)
    third = Sample(pa.schema([("rid", pa.int64()), ("Id", pa.string())]), {}, raw=("rid", "Id"))
    assert unify([third, _named("id", "ID")]) == {"rid": pa.int64(), "id": pa.int64(), "ID_2": pa.int64()}


def _case_files(tmp_path: Path, order: str) -> list[str]:
    """DuckDB's ``A`` alone (rid 0) and Polars' ``a`` and ``A`` (rid 1), in ``order`` by name."""
    alone, both = ("1.parquet", "2.parquet") if order == "alone first" else ("2.parquet", "1.parquet")
    pq.write_table(pa.table({"rid": [0], "A": [5]}), tmp_path / alone)
    pq.write_table(pa.table({"rid": [1], "a": [1], "A": [10]}), tmp_path / both)
    return [str(tmp_path / "1.parquet"), str(tmp_path / "2.parquet")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("order", ["alone first", "twins first"])
def test_a_column_spelled_as_one_of_two_case_twins_goes_to_its_own(tmp_path: Path, order: str, engine: str) -> None:
    """The file's ``A`` went into the column of the other file's ``a`` (or ``a`` into ``A``'s), by
    file order: each spelling's values now go to one column, in SQLite and LevelDB alike."""
    files = _case_files(tmp_path, order)
    a, big = ("a_2", "A") if order == "alone first" else ("a", "A_2")
    db = tmp_path / "t.db"
    assert (
        load(files, str(db), table="t", sink_options={"alter": True}, run_options={"engine": engine}).rows_written == 2
    )
    assert sqlite_rows(db, f'SELECT rid, "{big}", "{a}" FROM t ORDER BY rid') == [(0, 5, None), (1, 10, 1)]
    target = tmp_path / "t.ldb"
    load(files, str(target), key="{rid}", run_options={"engine": engine})
    values = [json.loads(v) for _, v in leveldb_items(target)[0]]
    assert [(v.get(big), v.get(a)) for v in values] == [(5, None), (10, 1)]


def test_a_third_spelling_beside_case_twins_is_refused_naming_the_file(tmp_path: Path) -> None:
    """``Id`` alone beside a file of ``id`` and ``ID`` could be either: exit 65, nothing of it loaded."""
    pq.write_table(pa.table({"rid": [0], "id": [1], "ID": [2]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"rid": [1], "Id": [3]}), tmp_path / "2.parquet")
    db = tmp_path / "t.db"
    p = cli("load", str(tmp_path / "*.parquet"), str(db), "--table", "t", "-q")
    assert (p.returncode, p.stdout) == (65, "")
    assert p.stderr == (
        f"loader: error: {tmp_path / '2.parquet'}, column 'Id': could be either of the columns 'id', 'ID_2' "
        "(another file of the load holds id and ID as two columns: names that differ only in case)\n"
        "  hint: rename the column in the file to one of id, ID, or load the file in a job of its own, then rerun: "
        "the files before it stay loaded\n"
    )
    assert sqlite_rows(db, "SELECT * FROM t") == [(0, 1, 2)]


@pytest.mark.parametrize("made_by", ["loader", "sqlite3"])
def test_a_name_in_another_non_ascii_case_in_a_later_run_is_a_column_the_table_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], made_by: str
) -> None:
    """Day 2's ``ñandú`` is not day 1's ``ÑANDÚ`` to SQLite, whoever made the table: exit 65
    without --alter. After a run of the loader it had gone into ``ÑANDÚ`` (its recorded spelling)."""
    db = tmp_path / "v.db"
    day1, day2 = write(tmp_path / "d1.csv", "id,ÑANDÚ\n1,1.5\n"), write(tmp_path / "d2.csv", "id,ñandú\n2,2.5\n")
    if made_by == "loader":
        assert main(["load", str(day1), str(db), "--table", "t", "-q"]) == 0
    else:
        with sqlite3.connect(db) as conn:
            conn.execute('CREATE TABLE t (id INTEGER, "ÑANDÚ" REAL)')
            conn.execute("INSERT INTO t VALUES (1, 1.5)")
        conn.close()
    capsys.readouterr()
    assert main(["load", str(day2), str(db), "--table", "t", "-q"]) == 65
    assert capsys.readouterr().err.splitlines() == [
        f"loader: error: {day2}, column 'ñandú': table 't' has no column 'ñandú'",
        "  hint: set sink.alter = true (--alter) to add new columns, then rerun",
    ]
    assert main(["load", str(day2), str(db), "--table", "t", "-q", "--alter"]) == 0
    assert sqlite_rows(db, 'SELECT id, "ÑANDÚ", "ñandú" FROM t ORDER BY id') == [(1, 1.5, None), (2, None, 2.5)]


def test_a_declared_type_of_a_name_in_another_non_ascii_case_binds_no_recorded_column(tmp_path: Path) -> None:
    """``ñandú = "string"`` declares a new column beside the recorded ``ÑANDÚ`` (float64): it had
    been taken for that column's type changed, a configuration error."""
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "1.csv", "id,ÑANDÚ\n1,1.5\n")
    db = tmp_path / "v.db"
    load(str(tmp_path / "d" / "*.csv"), str(db), table="t")
    write(tmp_path / "d" / "2.csv", "id,ñandú\n2,2.50\n")
    report = load(
        str(tmp_path / "d" / "*.csv"),
        str(db),
        table="t",
        source_options={"columns": {"ñandú": "string"}},
        sink_options={"alter": True},
    )
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert declared(db) == {"id": "INTEGER", "ÑANDÚ": "REAL", "ñandú": "TEXT"}
    assert sqlite_rows(db, 'SELECT id, "ÑANDÚ", "ñandú" FROM t ORDER BY id') == [(1, 1.5, None), (2, None, "2.50")]


def test_a_declared_type_names_its_column_in_any_case(tmp_path: Path) -> None:
    write(tmp_path / "n.csv", "id,code\n1,1.50\n")
    db = tmp_path / "n.db"
    load(str(tmp_path / "n.csv"), str(db), table="t", source_options={"columns": {"CODE": "string"}})
    assert typed(db, "code") == [("1.50", "text")]
    assert declared(db) == {"id": "INTEGER", "code": "TEXT"}


def _daily_and_one_shot(tmp_path: Path, sink: str, first: str, second: str) -> tuple[Path, Path]:
    """The same two exports loaded a day apart, and at once."""
    (tmp_path / "c").mkdir()
    write(tmp_path / "c" / "d1.csv", first)
    daily, once = (tmp_path / f"daily.{sink}", tmp_path / f"once.{sink}")
    opts = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    load(str(tmp_path / "c" / "*.csv"), str(daily), **opts)
    write(tmp_path / "c" / "d2.csv", second)
    load(str(tmp_path / "c" / "*.csv"), str(daily), **opts)
    load(str(tmp_path / "c" / "*.csv"), str(once), **opts)
    return daily, once


@pytest.mark.parametrize(
    ("first", "extra"),
    [("id,v\n", []), ("id,v\n9,\n", [(b"00000000000000000009", b'{"id":9,"v":null}')])],
    ids=["header-only", "empty-column"],
)
def test_a_first_export_without_values_binds_no_type_in_leveldb(
    tmp_path: Path, first: str, extra: list[tuple[bytes, bytes]]
) -> None:
    daily, once = _daily_and_one_shot(tmp_path, "ldb", first, "id,v\n1,2.50\n2,7\n")
    items, state = leveldb_items(daily)
    assert items == [
        (b"00000000000000000001", b'{"id":1,"v":2.5}'),
        (b"00000000000000000002", b'{"id":2,"v":7.0}'),
        *extra,
    ]
    assert items == leveldb_items(once)[0]
    assert state["schema"] == {"id": "int64", "v": "float64"}


def test_a_header_only_first_export_binds_no_type_in_sqlite(tmp_path: Path) -> None:
    daily, once = _daily_and_one_shot(tmp_path, "db", "id,v\n", "id,v\n1,2.50\n2,7\n")
    assert typed(daily, "id") == typed(once, "id") == [(1, "integer"), (2, "integer")]
    assert typed(daily, "v") == typed(once, "v") == [(2.5, "real"), (7.0, "real")]
    # the table was made before any value: its columns have no declared type (no affinity)
    assert declared(daily) == {"id": "", "v": ""}
    assert declared(once) == {"id": "INTEGER", "v": "REAL"}
    assert sqlite_state(daily)["schema"] == {"id": "int64", "v": "float64"}


def test_a_header_only_run_records_no_type(tmp_path: Path) -> None:
    write(tmp_path / "h.csv", "id,v\n")
    db = tmp_path / "h.db"
    load(str(tmp_path / "h.csv"), str(db), table="t")
    assert sqlite_state(db)["schema"] == {"id": "null", "v": "null"}  # their spelling only


def test_a_declared_columns_reject_says_nothing_of_earlier_runs(tmp_path: Path) -> None:
    write(tmp_path / "d1.csv", "id,v\n1,1\n")
    write(tmp_path / "d2.csv", "id,v\n2,x\n3,4\n")
    db = tmp_path / "d.db"
    declared = {"columns": {"v": "int64"}}
    load(str(tmp_path / "d1.csv"), str(db), table="t", source_options=declared)
    load([str(tmp_path / "d1.csv"), str(tmp_path / "d2.csv")], str(db), table="t", source_options=declared)
    assert [r["reason"] for r in reject_lines(rejects_of(db))] == ["'x' is not a valid int64"]


@pytest.mark.parametrize("key", ["ID", "id"])
def test_a_primary_key_whose_case_differs_across_files_is_one_key(tmp_path: Path, key: str) -> None:
    write(tmp_path / "c1.csv", "ID,name\n1,a\n2,b\n")
    write(tmp_path / "c2.csv", "id,name\n2,B\n3,c\n")
    db = tmp_path / "cs.db"
    files = [str(tmp_path / "c1.csv"), str(tmp_path / "c2.csv")]
    report = load(files, str(db), table="t", sink_options={"mode": "upsert", "primary_key": [key]})
    assert (report.rows_written, report.rows_rejected) == (4, 0)
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY 1") == [(1, "a"), (2, "B"), (3, "c")]


def test_a_job_runs_its_expressions_and_rules_on_a_column_without_a_value(tmp_path: Path) -> None:
    """The same job ran yesterday: coalesce() and rule allowed on a column empty in the
    whole file (typed null) were configuration errors (exit 2), depending on the data."""
    write(tmp_path / "a.csv", "id,name,mid\n1,Ann,\n2,Bob,\n")
    job = write(
        tmp_path / "job.toml",
        f'[source]\npath = "{tmp_path / "a.csv"}"\n'
        '[[transform]]\ntype = "derive"\ncolumns = { m2 = "coalesce(mid, name)", m3 = "coalesce(mid, \'x\')" }\n'
        '[[transform]]\ntype = "validate"\nrules = { mid = { allowed = ["a"], min = 1 } }\n'
        f'[sink]\npath = "{tmp_path / "t.db"}"\ntable = "t"\n',
    )
    p = cli("run", str(job), "-q")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "t.db", "SELECT * FROM t ORDER BY id") == [
        (1, "Ann", None, "Ann", "x"),
        (2, "Bob", None, "Bob", "x"),
    ]


def test_a_parquet_float_in_a_column_another_file_makes_text_is_its_text(tmp_path: Path) -> None:
    """`x` is text in p1 and float64 in p2: the load stopped with `internal error: ValueError:
    Non-fixed width type` (exit 1)."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "x": ["a"]}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"id": [2, 3, 4], "x": [1.5, 2.0, 1e20]}), tmp_path / "p2.parquet")
    pq.write_table(pa.table({"id": [5], "x": pa.array([0.1], pa.float32())}), tmp_path / "p3.parquet")
    files = [str(tmp_path / f"p{i}.parquet") for i in (1, 2, 3)]
    db, store = tmp_path / "t.db", tmp_path / "t.ldb"
    assert main(["load", *files, str(db), "--table", "t", "-q"]) == 0
    assert typed(db, "x") == [
        ("a", "text"),
        ("1.5", "text"),
        ("2.0", "text"),
        ("1e+20", "text"),
        ("0.10000000149011612", "text"),  # the float64 a float32 widens to, as stored alone
    ]
    assert main(["load", *files, str(store), "--key", "{id}", "-q"]) == 0
    assert [v for _, v in leveldb_items(store)[0]] == [
        b'{"id":1,"x":"a"}',
        b'{"id":2,"x":"1.5"}',
        b'{"id":3,"x":"2.0"}',
        b'{"id":4,"x":"1e+20"}',
        b'{"id":5,"x":"0.10000000149011612"}',
    ]


def test_integers_past_two_to_the_53_that_float64_holds_load_as_floats(tmp_path: Path) -> None:
    """An int64 column unified with float64 rejected 2**60 and 10**18 as "not a valid float64",
    as a table's REAL column did: float64 holds both exactly. Only an integer it rounds is rejected."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "x": [1.5]}), tmp_path / "a.parquet")
    big = pa.array([2**60, 10**18, 9007199254740993], pa.int64())
    pq.write_table(pa.table({"id": [2, 3, 4], "x": big}), tmp_path / "b.parquet")
    db, table = tmp_path / "u.db", tmp_path / "real.db"
    with sqlite3.connect(table) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, x REAL)")
    conn.close()
    reason = "'9007199254740993' would be stored as 9007199254740992.0 by float64 (declare the column as decimal(p, s) or string)"
    for target, files in ((db, "*.parquet"), (table, "b.parquet")):
        report = load(str(tmp_path / files), str(target), table="t")
        assert (report.rows_written, report.rows_rejected) == (3 if target == db else 2, 1)
        assert typed(target, "x")[-2:] == [(1.152921504606847e18, "real"), (1e18, "real")]
        [reject] = reject_lines(rejects_of(target))
        assert (reject["row"], reject["column"], reject["reason"].split(";")[0]) == (3, "x", reason)
    assert typed(db, "x")[0] == (1.5, "real")


def _float32_then_csv(tmp_path: Path) -> tuple[Path, Path]:
    """Day 1 a Parquet float32 column (DuckDB's REAL), day 2 a CSV of values float32 would round."""
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1], "amt": pa.array([1.5], pa.float32())}), tmp_path / "in" / "d1.parquet")
    return tmp_path / "in" / "d1.parquet", write(tmp_path / "in" / "d2.csv", "id,amt\n2,0.1\n3,16777217\n4,2.675\n")


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_float32_recorded_by_an_earlier_run_never_rounds_a_later_runs_values(tmp_path: Path, sink: str) -> None:
    """The recorded float32 stored day 2's 0.1 as 0.100000001490116 and 16777217 as 16777216.0
    (exit 0, nothing rejected), from CSV and from a Parquet double alike; one load of the
    Parquet files stores them exactly. A run records the float64 the targets store."""
    import pyarrow.parquet as pq

    first, second = _float32_then_csv(tmp_path)
    third = tmp_path / "in" / "d3.parquet"
    pq.write_table(pa.table({"id": [5, 6], "amt": [0.1, 16777217.0]}), third)
    daily, once = tmp_path / f"daily.{sink}", tmp_path / f"once.{sink}"
    opts: dict[str, Any] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    reports = [load(str(f), str(daily), **opts) for f in (first, second, third)]
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (3, 0), (2, 0)]
    load([str(first), str(third)], str(once), **opts)
    amounts = [1.5, 0.1, 16777217.0, 2.675, 0.1, 16777217.0]
    if sink == "db":
        assert typed(daily, "amt") == [(v, "real") for v in amounts]
        assert typed(once, "amt") == [(v, "real") for v in (1.5, 0.1, 16777217.0)]
        state = sqlite_state(daily)
    else:
        assert [json.loads(v)["amt"] for v in _leveldb_values(daily)] == amounts
        assert _leveldb_values(once) == [
            v for v in _leveldb_values(daily) if v.startswith(('{"id":1,', '{"id":5,', '{"id":6,'))
        ]
        assert _leveldb_values(daily)[1] == '{"id":2,"amt":0.1}'
        state = leveldb_items(daily)[1]
    assert state["schema"] == {"id": "int64", "amt": "float64"}


def _decimal_then(tmp_path: Path, later: pa.Table | str, scale: int = 0) -> tuple[Path, Path]:
    """Day 1 a Parquet decimal column (Spark's for Oracle's NUMBER(10)), day 2 ``later``:
    a CSV file's text or a Parquet table."""
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    first = tmp_path / "in" / "d1.parquet"
    pq.write_table(pa.table({"id": [1], "acct": pa.array([Decimal("12345")], pa.decimal128(10, scale))}), first)
    if isinstance(later, str):
        return first, write(tmp_path / "in" / "d2.csv", later)
    pq.write_table(later, tmp_path / "in" / "d2.parquet")
    return first, tmp_path / "in" / "d2.parquet"


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_decimal_recorded_by_an_earlier_run_rejects_what_it_would_store_otherwise(tmp_path: Path, sink: str) -> None:
    """A recorded decimal(10, 0) stored day 2's 0012345 as 12345 (beside day 1's 12345) and 007 as
    7, +2 as 2 and 1e1 as 10, exit 0: a recorded int64 rejects them, and one load of both files
    keeps their text. From a Parquet string column alike."""
    first, second = _decimal_then(tmp_path, "id,acct\n2,0012345\n3,007\n4,+2\n5,1e1\n6,678\n")
    target = tmp_path / f"t.{sink}"
    opts: dict[str, Any] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    reports = _two_runs(first, second, target, **opts)
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 4)]
    third = tmp_path / "in" / "d3.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [7, 8], "acct": ["007", "9"]}), third)
    report = load(str(third), str(target), **opts)
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    if sink == "db":
        assert sqlite_rows(target, "SELECT id, acct FROM t ORDER BY id") == [(1, "12345"), (6, "678"), (8, "9")]
    else:
        assert [json.loads(v)["acct"] for v in _leveldb_values(target)] == [12345, 678, 9]
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    keep = "(declare the column as string to keep it)"
    assert [(r["values"]["acct"], r["column"], r["reason"].split(";")[0]) for r in rejects] == [
        ("0012345", "acct", f"'0012345' has a leading zero that decimal(10, 0) would drop {keep}"),
        ("007", "acct", f"'007' has a leading zero that decimal(10, 0) would drop {keep}"),
        ("+2", "acct", f"'+2' has a plus sign that decimal(10, 0) would drop {keep}"),
        ("1e1", "acct", f"'1e1' would be stored as 10 by decimal(10, 0) {keep}"),
        ("007", "acct", f"'007' has a leading zero that decimal(10, 0) would drop {keep}"),
    ]
    assert all(f"; acct is decimal(10, 0) {_LATER}" in r["reason"] for r in rejects)


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_float32_into_a_decimal_recorded_by_an_earlier_run_is_the_float64_it_widens_to(
    tmp_path: Path, sink: str
) -> None:
    """A later Parquet float32 0.1 and 2.3 were stored as 0.10 and 2.30 in a recorded
    decimal(10, 2), where one load of both files stores 0.10000000149011612 (as text) and a
    float64 that decimal(10, 2) would round is rejected."""
    later = pa.table({"id": [2, 3, 4], "acct": pa.array([0.1, 2.3, 1.25], pa.float32())})
    first, second = _decimal_then(tmp_path, later, scale=2)
    target = tmp_path / f"t.{sink}"
    opts: dict[str, Any] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    reports = _two_runs(first, second, target, **opts)
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 2)]
    if sink == "db":
        assert sqlite_rows(target, "SELECT id, acct FROM t ORDER BY id") == [(1, "12345.00"), (4, "1.25")]
    else:
        assert _leveldb_values(target) == ['{"id":1,"acct":12345.00}', '{"id":4,"acct":1.25}']
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [r["reason"].split(";")[0] for r in rejects] == [
        "0.10000000149011612 would be rounded by decimal(10, 2)",
        "2.299999952316284 would be rounded by decimal(10, 2)",
    ]


def test_a_float32_recorded_by_an_older_checkpoint_is_read_as_float64(tmp_path: Path) -> None:
    first, second = _float32_then_csv(tmp_path)
    db = tmp_path / "t.db"
    load(str(first), str(db), table="t")
    with sqlite3.connect(db) as conn:  # as an older run recorded it
        conn.execute("""UPDATE _loader_state SET value = '{"amt": "float32", "id": "int32"}' WHERE key = 'schema'""")
    conn.close()
    report = load(str(second), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (3, 0)
    assert typed(db, "amt")[1:] == [(0.1, "real"), (16777217.0, "real"), (2.675, "real")]
    assert sqlite_state(db)["schema"] == {"id": "int64", "amt": "float64"}


@pytest.mark.parametrize("narrow", ["INTEGER", "SMALLINT"])
def test_a_narrow_integer_recorded_from_parquet_takes_a_later_runs_int64(tmp_path: Path, narrow: str) -> None:
    """DuckDB's INTEGER (int32) recorded int32: day 2's 3000000000 was rejected ("is not a valid
    int32", exit 4), though the INTEGER column holds it and one load of both files is int64."""
    import duckdb

    for day, value in (("d1", f"1::{narrow}"), ("d2", "3000000000::BIGINT")):
        duckdb.sql(f"COPY (SELECT {value} AS id) TO '{tmp_path / day}.parquet'")
    db = tmp_path / "t.db"
    reports = _two_runs(tmp_path / "d1.parquet", tmp_path / "d2.parquet", db, table="t")
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 0)]
    assert typed(db, "id") == [(1, "integer"), (3000000000, "integer")]
    assert sqlite_state(db)["schema"] == {"id": "int64"}


def test_a_declared_int32_binds_every_run_though_int64_is_recorded(tmp_path: Path) -> None:
    write(tmp_path / "d1.csv", "id,n\n1,7\n")
    write(tmp_path / "d2.csv", "id,n\n2,3000000000\n3,8\n")
    db = tmp_path / "t.db"
    declared = {"columns": {"N": "int32"}}
    reports = [load(str(tmp_path / f), str(db), table="t", source_options=declared) for f in ("d1.csv", "d2.csv")]
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 1)]
    assert sqlite_state(db)["schema"] == {"id": "int64", "n": "int64"}
    assert [r["reason"] for r in reject_lines(rejects_of(db))] == ["'3000000000' is not a valid int32"]


def test_narrow_numbers_are_recorded_as_stored_and_reach_a_worker_exactly() -> None:
    types = {"i": pa.int32(), "u": pa.uint16(), "f": pa.float32(), "h": pa.float16(), "big": pa.uint64()}
    recorded = {"i": "int64", "u": "int64", "f": "float64", "h": "float64", "big": "uint64"}
    assert json.loads(encode_types(types)) == recorded
    assert binding(types) == {
        n: pa.uint64() if n == "big" else pa.int64() if n in "iu" else pa.float64() for n in types
    }
    assert decode_types(task_types(types)) == types


def test_a_parquet_decimal_into_a_real_column_is_the_float_nearest_it(tmp_path: Path) -> None:
    """A table's REAL column rejected decimals 0.35 and 0.41 ("would be rounded by float64"):
    Arrow's cast made them 0.35000000000000003 and 0.41000000000000003. Now each is the float
    nearest it, which SQLite also reads from the text 0.35."""
    import pyarrow.parquet as pq

    values = [Decimal(v) for v in ["0.35", "1.00", "0.41", "1.005", "12345678901234567.890"]]
    pq.write_table(
        pa.table({"id": [1, 2, 3, 4, 5], "v": pa.array(values, pa.decimal128(21, 3))}), tmp_path / "d.parquet"
    )
    db = tmp_path / "d.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER, v REAL)")
    conn.close()
    report = load(str(tmp_path / "d.parquet"), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (4, 1)
    assert typed(db, "v") == [(0.35, "real"), (1.0, "real"), (0.41, "real"), (1.005, "real")]
    [reject] = reject_lines(rejects_of(db))
    assert reject["row"] == 5 and reject["reason"].startswith("12345678901234567.890 would be rounded by float64; ")


# ------------------------------------------- types the files carry, as the tools write them


def _unified(*types: pa.DataType) -> pa.DataType:
    return unify([Sample(pa.schema([("v", t)]), {}) for t in types])["v"]


_UUID = pa.uuid()


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ((pa.duration("s"), pa.duration("ms")), pa.duration("ms")),
        ((pa.duration("ns"), pa.duration("us")), pa.duration("ns")),
        ((pa.binary(), pa.large_binary()), pa.large_binary()),
        ((pa.binary(2), pa.binary(3)), pa.binary()),
        ((_UUID, pa.binary(16)), pa.binary(16)),
        ((_UUID, pa.binary()), pa.binary()),
        ((pa.decimal128(5, 2), pa.decimal128(6, 2)), pa.decimal128(6, 2)),
        ((pa.decimal128(5, 2), pa.decimal128(8, 4)), pa.decimal128(8, 4)),
        ((pa.decimal128(38, 10), pa.decimal128(38, 0)), pa.decimal256(48, 10)),
        ((pa.decimal128(5, 2), pa.int64()), pa.decimal128(21, 2)),
        ((pa.decimal128(5, 2), pa.uint64()), pa.decimal128(22, 2)),
        ((pa.decimal256(76, 0), pa.decimal128(2, 1)), pa.string()),  # 77 digits
        ((pa.decimal128(5, 2), pa.float64()), pa.string()),
        ((pa.list_(pa.int32()), pa.list_(pa.int64())), pa.list_(pa.int64())),
        ((pa.list_(pa.string()), pa.large_list(pa.large_string())), pa.large_list(pa.string())),
        ((pa.list_(pa.int64(), 2), pa.list_(pa.int64())), pa.list_(pa.int64())),
        ((pa.list_(pa.field("element", pa.int64(), nullable=False)), pa.list_(pa.int64())), pa.list_(pa.int64())),
        ((pa.list_(pa.null()), pa.list_(pa.string())), pa.list_(pa.string())),
        (
            (pa.struct([("a", pa.int32()), ("b", pa.string())]), pa.struct([("b", pa.string()), ("a", pa.int64())])),
            pa.struct([("a", pa.int64()), ("b", pa.string())]),
        ),
        ((pa.map_(pa.string(), pa.int32()), pa.map_(pa.string(), pa.int64())), pa.map_(pa.string(), pa.int64())),
        # no nested type holds both as they are: JSON text
        ((pa.struct([("a", pa.int64())]), pa.struct([("a", pa.int64()), ("b", pa.string())])), pa.string()),
        ((pa.list_(pa.int64()), pa.list_(pa.string())), pa.string()),
        ((pa.list_(pa.timestamp("us")), pa.list_(pa.timestamp("us", "UTC"))), pa.string()),
        ((pa.list_(pa.int64()), pa.string()), pa.string()),
        ((pa.list_(pa.int64()), pa.struct([("a", pa.int64())])), pa.string()),
        ((pa.duration("s"), pa.int64()), pa.string()),
        ((pa.time32("s"), pa.time32("ms")), pa.time32("ms")),
        ((pa.time32("ms"), pa.time64("us")), pa.time64("us")),  # Parquet's millis beside DuckDB's micros
        ((pa.time64("ns"), pa.time64("us")), pa.time64("ns")),  # Polars beside pandas
        ((pa.time64("us"), pa.duration("us")), pa.string()),
    ],
)
def test_known_types_unify_to_the_narrowest_type_holding_both(
    types: tuple[pa.DataType, pa.DataType], expected: pa.DataType
) -> None:
    assert _unified(*types).equals(expected)
    assert _unified(*reversed(types)).equals(expected) or pa.types.is_struct(expected)  # a struct: first's order


def test_types_the_checkpoint_leaves_out_reach_a_worker_process_exactly() -> None:
    types = {"d": pa.duration("ms"), "l": pa.large_list(pa.int64()), "b": pa.large_binary(), "n": pa.null()}
    assert {n: t for n, t in json.loads(encode_types(types)).items() if n != "l"} == {"d": "duration[ms]", "n": "null"}
    assert decode_types(encode_types(types)) == {"d": pa.duration("ms"), "l": pa.large_list(pa.int64()), "n": pa.null()}
    assert decode_types(task_types(types)) == types


@pytest.mark.parametrize("t", [pa.time32("s"), pa.time32("ms"), pa.time64("us"), pa.time64("ns")], ids=str)
def test_a_times_unit_is_recorded_and_binds_later_runs(t: pa.DataType) -> None:
    assert json.loads(encode_types({"at": t})) == {"at": str(t)}
    assert binding(decode_types(encode_types({"at": t}))) == {"at": t}


NESTED = [
    pa.list_(pa.field("element", pa.float64(), nullable=False)),
    pa.large_list(pa.int64()),
    pa.list_(pa.string(), 3),
    pa.struct([("b", pa.string()), ("a", pa.list_(pa.struct([("x", pa.timestamp("ns", "UTC"))])))]),
    pa.map_(pa.string(), pa.decimal128(5, 2), keys_sorted=True),
]


@pytest.mark.parametrize("t", NESTED, ids=str)
def test_nested_types_are_recorded_exactly_and_bind_no_later_run(t: pa.DataType) -> None:
    recorded = decode_types(encode_types({"id": pa.int64(), "v": t}))
    assert recorded["v"].equals(t) and str(recorded["v"]) == str(t)  # field names and nullability too
    assert binding(recorded) == {"id": pa.int64()}


def test_nested_types_recorded_before_stay_for_the_columns_a_run_lacks() -> None:
    before = encode_types({"id": pa.int64(), "v": pa.list_(pa.int64()), "w": pa.list_(pa.string())})
    after = decode_types(encode_types({"id": pa.int64(), "V": pa.list_(pa.float64())}, before))
    assert after == {"id": pa.int64(), "V": pa.list_(pa.float64()), "w": pa.list_(pa.string())}


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_later_runs_list_is_stored_as_its_file_holds_it(tmp_path: Path, engine: str) -> None:
    """Nested types are recorded for a replay, never to read a later file with: tomorrow's list of
    integers beside today's list of floats stores [2], not [2.0]; a run without the column keeps
    its type recorded."""
    import pyarrow.parquet as pq

    files = [tmp_path / f"{n}.parquet" for n in ("a", "b", "c")]
    pq.write_table(pa.table({"id": [1], "l": pa.array([[1.5]], pa.list_(pa.float64()))}), files[0])
    pq.write_table(pa.table({"id": [2], "l": pa.array([[2]], pa.list_(pa.int64()))}), files[1])
    pq.write_table(pa.table({"id": [3]}), files[2])
    db = tmp_path / "t.db"
    run = {"engine": engine, "workers": 1}
    recorded = []
    for f in files:
        assert load(str(f), str(db), table="t", run_options=run).rows_written == 1
        recorded.append(decode_types(json.dumps(sqlite_state(db)["schema"]))["l"])
    assert sqlite_rows(db, "SELECT id, l FROM t ORDER BY id") == [(1, "[1.5]"), (2, "[2]"), (3, None)]
    assert recorded == [pa.list_(pa.float64()), pa.list_(pa.int64()), pa.list_(pa.int64())]


def _two_runs(first: Path, second: Path, target: Path, **kwargs: Any) -> list[RunReport]:
    return [load(str(f), str(target), **kwargs) for f in (first, second)]


def _leveldb_values(target: Path) -> list[str]:
    items, _ = leveldb_items(target)
    return [v.decode() for _, v in items]


def _pandas_durations(tmp_path: Path) -> tuple[Path, Path]:
    """pandas' timedelta64 columns in two units, as two exports write them."""
    import pandas as pd

    seconds, millis = tmp_path / "s.parquet", tmp_path / "ms.parquet"
    pd.DataFrame({"id": [1], "v": pd.to_timedelta([90], unit="s").astype("timedelta64[s]")}).to_parquet(seconds)
    pd.DataFrame({"id": [2, 3], "v": pd.to_timedelta([90, 2000], unit="ms").astype("timedelta64[ms]")}).to_parquet(
        millis
    )
    return seconds, millis


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_durations_of_two_units_load_as_counts_of_the_finer_one(tmp_path: Path, engine: str) -> None:
    """90 s beside 90 ms: both as milliseconds, never two bare 90s; the unit is recorded."""
    files = [str(f) for f in _pandas_durations(tmp_path)]
    run = {"engine": engine, "workers": 1}
    db, ldb = tmp_path / "d.db", tmp_path / "d.ldb"
    assert load(files, str(db), table="t", run_options=run).rows_written == 3
    assert declared(db)["v"] == "INTEGER"
    assert sqlite_rows(db, "SELECT id, v, typeof(v) FROM t ORDER BY id") == [
        (1, 90000, "integer"),
        (2, 90, "integer"),
        (3, 2000, "integer"),
    ]
    assert sqlite_state(db)["schema"]["v"] == "duration[ms]"
    load(files, str(ldb), key="{id}", run_options=run)
    assert _leveldb_values(ldb) == ['{"id":1,"v":90000}', '{"id":2,"v":90}', '{"id":3,"v":2000}']
    assert leveldb_items(ldb)[1]["schema"]["v"] == "duration[ms]"


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_later_runs_duration_of_a_finer_unit_is_rejected_not_recounted(tmp_path: Path, sink: str) -> None:
    """Seconds recorded by the first run: 90 ms is no whole second (rejected), 2000 ms is 2 s."""
    seconds, millis = _pandas_durations(tmp_path)
    target = tmp_path / ("d.db" if sink == "sqlite" else "d.ldb")
    where: dict[str, Any] = {"table": "t"} if sink == "sqlite" else {"key": "{id}"}
    reports = _two_runs(seconds, millis, target, **where)
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 1)]
    write(tmp_path / "later.csv", "id,v\n4,45\n5,1.5\n")  # a CSV of counts, as the targets store them
    report = load(str(tmp_path / "later.csv"), str(target), **where)
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    if sink == "sqlite":
        assert typed(target, "v") == [(90, "integer"), (2, "integer"), (45, "integer")]
    else:
        assert _leveldb_values(target) == ['{"id":1,"v":90}', '{"id":3,"v":2}', '{"id":4,"v":45}']
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}"))
    assert [(r["row"], r["reason"].split(";")[0]) for r in rejects] == [
        (1, "'90 ms' has digits below a second that duration[s] would drop"),
        (2, "'1.5' is not a valid duration[s] (a count of its unit)"),
    ]
    assert all(f"; v is duration[s] {_LATER}" in r["reason"] for r in rejects)


def _times_in_two_units(tmp_path: Path) -> tuple[Path, Path]:
    """01:00 as pyarrow writes a time32[s] (Parquet keeps it in milliseconds), and 01:00 and a
    microsecond past it as DuckDB and pandas write a time (microseconds)."""
    import pyarrow.parquet as pq

    millis, micros = tmp_path / "day1.parquet", tmp_path / "day2.parquet"
    pq.write_table(pa.table({"slot": pa.array([3600], pa.time32("s")), "v": [1]}), millis)
    pq.write_table(pa.table({"slot": pa.array([3_600_000_000, 3_600_000_001], pa.time64("us")), "v": [10, 11]}), micros)
    return millis, micros


def test_times_of_two_units_in_one_load_are_written_in_the_finer_one(tmp_path: Path) -> None:
    """A time's text has as many fraction digits as its unit: 01:00 was two keys,
    ``01:00:00.000`` and ``01:00:00.000000``, and two spellings in a TEXT column."""
    files = [str(f) for f in _times_in_two_units(tmp_path)]
    db, ldb = tmp_path / "t.db", tmp_path / "t.ldb"
    assert load(files, str(db), table="t").rows_written == 3
    assert typed(db, "slot") == [
        ("01:00:00.000000", "text"),
        ("01:00:00.000000", "text"),
        ("01:00:00.000001", "text"),
    ]
    assert sqlite_state(db)["schema"]["slot"] == "time64[us]"
    load(files, str(ldb), key="slot:{slot}")
    items, checkpoint = leveldb_items(ldb)
    assert [k for k, _ in items] == [b"slot:01:00:00.000000", b"slot:01:00:00.000001"]
    assert checkpoint["schema"]["slot"] == "time64[us]"


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_later_runs_time_keeps_the_recorded_unit(tmp_path: Path, sink: str) -> None:
    """Milliseconds recorded by the first run: 01:00 in microseconds is the same key (v=10
    replaces v=1), 01:00 and a microsecond is rejected; a CSV file's text is read as a time."""
    millis, micros = _times_in_two_units(tmp_path)
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    where: dict[str, Any] = {"table": "t"} if sink == "sqlite" else {"key": "slot:{slot}"}
    reports = _two_runs(millis, micros, target, **where)
    assert [(r.rows_written, r.rows_rejected) for r in reports] == [(1, 0), (1, 1)]
    write(tmp_path / "day3.csv", "slot,v\n02:00:00.5,20\n2 pm,21\n")
    report = load(str(tmp_path / "day3.csv"), str(target), **where)
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    if sink == "sqlite":
        assert typed(target, "slot") == [("01:00:00.000", "text"), ("01:00:00.000", "text"), ("02:00:00.500", "text")]
    else:
        items, _ = leveldb_items(target)
        assert items == [
            (b"slot:01:00:00.000", b'{"slot":"01:00:00.000","v":10}'),
            (b"slot:02:00:00.500", b'{"slot":"02:00:00.500","v":20}'),
        ]
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "sqlite" else "key:slot:{slot}"))
    assert [(Path(r["file"]).name, r["row"], r["column"], r["reason"].split(";")[0]) for r in rejects] == [
        ("day2.parquet", 2, "slot", "'01:00:00.000001' has digits below a millisecond that time32[ms] would drop"),
        ("day3.csv", 2, "slot", "'2 pm' is not a valid time32[ms]"),
    ]
    assert all(f"; slot is time32[ms] {_LATER}" in r["reason"] for r in rejects)


def _polars_beside_pyarrow(tmp_path: Path) -> list[str]:
    """Polars' Arrow file (binary_view bytes, large_list of string_view, a struct of string_view
    and int64) and one pyarrow writes of the same columns (binary, list of string, the struct's
    fields in another order)."""
    import shutil

    import pyarrow.feather as feather

    polars, mine = tmp_path / "a_polars.arrow", tmp_path / "b_pyarrow.arrow"  # the load's order
    shutil.copy(POLARS / "views.arrow", polars)
    table = {
        "id": [4],
        "name": ["dan"],
        "big": pa.array([4], pa.uint64()),
        "cat": pa.array(["z"]).dictionary_encode(),
        "raw": pa.array([b"\xfe\x00"], pa.binary()),
        "tags": pa.array([["c"]], pa.list_(pa.string())),
        "rec": pa.array([{"n": 4, "k": "q"}]),
    }
    feather.write_feather(pa.table(table), str(mine), compression="uncompressed")
    return [str(polars), str(mine)]


POLARS = Path(__file__).parent / "data" / "polars"  # written by Polars (see its README.md)
_POLARS_ROWS = [  # row 2's uint64 2**63 is past SQLite's integers: rejected
    (1, b"\x00\x01", '["a","b"]', '{"k":"p","n":1}'),
    (3, b"\xff", None, '{"k":null,"n":3}'),
]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_bytes_lists_and_structs_of_polars_and_pyarrow_load_together_as_they_are(tmp_path: Path, engine: str) -> None:
    """binary_view beside binary stays bytes (BLOB), never text; large_list beside list and a
    struct's fields in another order unify, never an exit 65 blaming either file."""
    files = _polars_beside_pyarrow(tmp_path)
    db = tmp_path / "p.db"
    report = load(files, str(db), table="t", run_options={"engine": engine, "workers": 1})
    assert (report.rows_written, report.rows_rejected) == (3, 1)
    assert {c: declared(db)[c] for c in ("raw", "tags", "rec")} == {"raw": "BLOB", "tags": "TEXT", "rec": "TEXT"}
    assert sqlite_rows(db, "SELECT id, raw, tags, rec FROM t ORDER BY id") == [
        *_POLARS_ROWS,
        (4, b"\xfe\x00", '["c"]', '{"k":"q","n":4}'),  # in the first file's field order
    ]
    ldb = tmp_path / "p.ldb"
    load(files, str(ldb), key="{id}", run_options={"engine": engine, "workers": 1})
    values = [json.loads(v) for v in _leveldb_values(ldb)]
    assert [(v["id"], v["raw"], v["tags"], v["rec"]) for v in values] == [
        (1, "AAE=", ["a", "b"], {"k": "p", "n": 1}),
        (2, None, [], None),
        (3, "/w==", None, {"k": None, "n": 3}),
        (4, "/gA=", ["c"], {"k": "q", "n": 4}),
    ]


def test_bytes_of_polars_and_pyarrow_store_the_same_values_in_one_load_and_in_runs(tmp_path: Path) -> None:
    files = _polars_beside_pyarrow(tmp_path)
    one, runs = tmp_path / "one.db", tmp_path / "runs.db"
    load(files, str(one), table="t")
    for f in files:
        load(f, str(runs), table="t")
    query = "SELECT id, raw, typeof(raw), tags FROM t ORDER BY id"
    assert sqlite_rows(one, query) == sqlite_rows(runs, query)


def _duckdb_beside_pandas(tmp_path: Path) -> list[str]:
    """DuckDB's export (DECIMAL(5,2), INTEGER[], STRUCT(a INTEGER, b VARCHAR)) and pandas' of the
    same columns: the decimal's precision inferred from its values, lists and dicts of int64."""
    import duckdb
    import pandas as pd

    duck, pandas = tmp_path / "duck.parquet", tmp_path / "pandas.parquet"
    duckdb.sql(
        "COPY (SELECT 1::BIGINT AS id, 1.50::DECIMAL(5, 2) AS d, [1, 2]::INTEGER[] AS l, "
        f"{{'a': 1, 'b': 'x'}} AS s, {{'a': 1}} AS o) TO '{duck}'"
    )
    pd.DataFrame(
        {
            "id": [2],
            "d": [Decimal("1234.50")],
            "l": [[2**40]],
            "s": [{"a": 2**40, "b": "y"}],
            "o": [{"a": 2, "c": "z"}],  # other fields: no one struct holds both without adding a key
        }
    ).to_parquet(pandas)
    return [str(duck), str(pandas)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_decimals_lists_and_structs_of_duckdb_and_pandas_unify_exactly(tmp_path: Path, engine: str) -> None:
    files = _duckdb_beside_pandas(tmp_path)
    run = {"engine": engine, "workers": 1}
    ldb = tmp_path / "x.ldb"
    report = load(files, str(ldb), key="{id}", run_options=run)
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert _leveldb_values(ldb) == [
        '{"id":1,"d":1.50,"l":[1,2],"s":{"a":1,"b":"x"},"o":"{\\"a\\":1}"}',
        '{"id":2,"d":1234.50,"l":[1099511627776],"s":{"a":1099511627776,"b":"y"},"o":"{\\"a\\":2,\\"c\\":\\"z\\"}"}',
    ]
    assert {n: t for n, t in leveldb_items(ldb)[1]["schema"].items() if n in ("d", "o")} == {
        "d": "decimal(6, 2)",
        "o": "string",
    }
    db = tmp_path / "x.db"
    load(files, str(db), table="t", run_options=run)
    assert sqlite_rows(db, "SELECT d, l, s, o FROM t ORDER BY id") == [
        ("1.50", "[1,2]", '{"a":1,"b":"x"}', '{"a":1}'),
        ("1234.50", "[1099511627776]", '{"a":1099511627776,"b":"y"}', '{"a":2,"c":"z"}'),
    ]


TEMPORAL = [
    (
        pa.timestamp("ns", "Europe/Oslo"),
        dt.datetime(2024, 1, 1, 0, 0, 1),
        "INTEGER",
        "'2024-01-01 01:00:01+01:00' is a timestamp",
    ),
    (pa.timestamp("us"), dt.datetime(2024, 1, 1, 0, 0, 1), "INTEGER", "'2024-01-01 00:00:01' is a timestamp"),
    (pa.time64("us"), dt.time(0, 0, 1), "INTEGER", "'00:00:01' is a time of day"),
    (pa.time32("s"), dt.time(0, 0, 1), "INTEGER", "'00:00:01' is a time of day"),
    (pa.date32(), dt.date(2024, 1, 1), "INTEGER", "'2024-01-01' is a date"),
    (pa.date64(), dt.date(2024, 1, 1), "BIGINT", "'2024-01-01' is a date"),
    (pa.timestamp("ms"), dt.datetime(2024, 1, 1), "REAL", "'2024-01-01 00:00:00' is a timestamp"),
    (pa.date32(), dt.date(2024, 1, 1), "DOUBLE", "'2024-01-01' is a date"),
    (pa.duration("s"), dt.timedelta(seconds=90), "REAL", "'90 s' is a duration"),
]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(
    ("arrow_type", "value", "column_type", "said"), TEMPORAL, ids=[f"{t[0]}-{t[2]}" for t in TEMPORAL]
)
def test_a_files_dates_and_times_into_a_number_column_made_elsewhere_are_rejected(
    tmp_path: Path, engine: str, arrow_type: pa.DataType, value: Any, column_type: str, said: str
) -> None:
    """Arrow casts a timestamp or time to its count since the epoch or midnight, in the writing
    tool's unit: an INTEGER column stored 1704067201000000000 for a timestamp, no reject. A date
    (or any into a REAL column) ended the run as a file Arrow could not read (exit 65)."""
    import pyarrow.parquet as pq

    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE t (id INTEGER, c {column_type})")
    conn.close()
    src = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": [1, 2], "c": pa.array([value, None], arrow_type)}), src)
    report = load(str(src), str(db), table="t", run_options={"engine": engine, "workers": 1})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (2, 1, 1)
    assert sqlite_rows(db, "SELECT id, c FROM t") == [(2, None)]
    [reject] = reject_lines(rejects_of(db))
    number = "int64" if "INT" in column_type else "float64"
    assert (reject["row"], reject["column"]) == (1, "c")
    assert reject["reason"].startswith(f"{said}, not a number: {number} takes numbers only; the table's column c holds")


NESTED = [
    (pa.list_(pa.int64()), [1, 2], "INTEGER", "'[1,2]' is a list"),
    (pa.large_list(pa.string()), ["x"], "REAL", "'[\"x\"]' is a list"),
    (pa.struct([("a", pa.int64())]), {"a": 1}, "BIGINT", "'{\"a\":1}' is a struct"),
    (pa.map_(pa.string(), pa.int64()), [("a", 1)], "DOUBLE", "'{\"a\":1}' is a map"),
]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(("arrow_type", "value", "column_type", "said"), NESTED, ids=[f"{t[0]}-{t[2]}" for t in NESTED])
def test_a_files_lists_and_structs_into_a_number_column_made_elsewhere_are_rejected(
    tmp_path: Path, engine: str, arrow_type: pa.DataType, value: Any, column_type: str, said: str
) -> None:
    """Arrow has no cast from a nested type to a number: the run ended as a file it could not
    read (exit 65, 'fix or replace the file'), though the file was fine."""
    import pyarrow.parquet as pq

    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE t (id INTEGER, c {column_type})")
    conn.close()
    src = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "c": pa.array([value, None, value], arrow_type)}), src)
    report = load(str(src), str(db), table="t", run_options={"engine": engine, "workers": 1})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 1, 2)
    assert sqlite_rows(db, "SELECT id, c FROM t") == [(2, None)]
    number = "int64" if "INT" in column_type else "float64"
    assert [(r["row"], r["column"], r["reason"]) for r in reject_lines(rejects_of(db))] == [
        (
            row,
            "c",
            f"{said}, not a number: {number} takes numbers only; the table's column c holds {number} values "
            f"only: {ELSEWHERE}",
        )
        for row in (1, 3)
    ]


def test_a_files_durations_into_an_integer_column_made_elsewhere_are_their_counts(tmp_path: Path) -> None:
    """A duration is stored as its count of its unit: an INTEGER column takes it so."""
    import pyarrow.parquet as pq

    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (c INTEGER)")
    conn.close()
    src = tmp_path / "x.parquet"
    pq.write_table(pa.table({"c": pa.array([dt.timedelta(seconds=90)], pa.duration("s"))}), src)
    report = load(str(src), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert typed(db, "c") == [(90, "integer")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_an_any_column_of_a_strict_table_made_elsewhere_takes_text_as_it_is(tmp_path: Path, engine: str) -> None:
    """A STRICT table's ANY column converts nothing: '007' was rejected as a NUMERIC column's 7.
    Elsewhere ANY has NUMERIC affinity, and '007' is still rejected there."""
    write(tmp_path / "x.csv", "id,x\n1,007\n2,abc\n")
    run = {"engine": engine, "workers": 1}
    for strict in (" STRICT", ""):
        db = tmp_path / f"x{len(strict)}.db"
        with sqlite3.connect(db) as conn:
            conn.execute(f"CREATE TABLE t (id INTEGER, x ANY){strict}")
        conn.close()
        report = load(str(tmp_path / "x.csv"), str(db), table="t", run_options=run)
        if strict:
            assert (report.rows_written, report.rows_rejected) == (2, 0)
            assert typed(db, "x") == [("007", "text"), ("abc", "text")]
        else:
            assert (report.rows_written, report.rows_rejected) == (1, 1)
            [reject] = reject_lines(rejects_of(db))
            assert reject["reason"].startswith("'007' would be stored as the number 7 by the table's NUMERIC column")


def test_an_empty_day_or_an_all_missing_column_pandas_writes_as_double_has_no_say(tmp_path: Path) -> None:
    """pandas writes an empty DataFrame's columns, and an integer column with every value
    missing, as double: those files made id REAL (1.0), LevelDB keys k1 instead of
    k00000000000000000001, and rejected an id above 2**53 as no float64."""
    import pandas as pd

    pd.DataFrame({"id": [1, 2], "n": [10, 20]}).to_parquet(tmp_path / "a.parquet", index=False)
    pd.DataFrame({"id": [], "n": []}).to_parquet(tmp_path / "b.parquet", index=False)  # an empty day
    pd.DataFrame({"id": [2**53 + 1], "n": [None]}).astype({"n": "float64"}).to_parquet(
        tmp_path / "c.parquet", index=False
    )  # n missing in every row
    files = [str(tmp_path / f) for f in ("a.parquet", "b.parquet", "c.parquet")]
    report = load(files, str(tmp_path / "t.db"), table="t")
    assert (report.rows_written, report.rows_rejected) == (3, 0)
    assert sqlite_rows(tmp_path / "t.db", "SELECT id, typeof(id), n, typeof(n) FROM t ORDER BY id") == [
        (1, "integer", 10, "integer"),
        (2, "integer", 20, "integer"),
        (2**53 + 1, "integer", None, "null"),
    ]
    load(files[:2], str(tmp_path / "t.ldb"), key="k{id}")
    assert [k for k, _ in leveldb_items(tmp_path / "t.ldb")[0]] == [
        b"k00000000000000000001",
        b"k00000000000000000002",
    ]


def test_unify_folds_each_file_in_and_keeps_no_files_guesses() -> None:
    import gc
    import weakref

    from loader.convert import TypeGuess

    seen: list[weakref.ref[TypeGuess]] = []

    def samples() -> Iterator[Sample]:
        for i in range(8):  # a full collection per file, in a test process of many objects: few files
            guess = TypeGuess()
            guess.add(pa.array([str(i), "007" if i == 5 else "1"]))
            gc.collect()
            # the guesses of the files before the last are gone: a load of many files stays bounded
            assert [r() is None for r in seen[:-1]] == [True] * len(seen[:-1])
            seen.append(weakref.ref(guess))
            yield Sample(pa.schema([("v", pa.int64())]), {"v": guess})

    assert unify(samples()) == {"v": pa.string()}  # one file's leading zero makes the column text


def _days_of_pandas_parquet(tmp_path: Path) -> list[Path]:
    """Day 1 with ``x`` missing in every row (pandas writes it as double), day 2 with integers."""
    import pandas as pd

    days = [tmp_path / "day1.parquet", tmp_path / "day2.parquet"]
    pd.DataFrame({"k": [1, 2], "x": [None, None]}).astype({"x": "float64"}).to_parquet(days[0], index=False)
    pd.DataFrame({"k": [3, 4], "x": [7, 2**60 + 1]}).to_parquet(days[1], index=False)
    return days


def test_a_parquet_column_without_values_loaded_alone_binds_no_later_run_to_double(tmp_path: Path) -> None:
    """Day 1's all-missing column, loaded alone, was recorded as float64: day 2's integers were
    stored as 7.0 in LevelDB, and SQLite made the column REAL and rejected 2**60 + 1."""
    days = _days_of_pandas_parquet(tmp_path)
    one_db, one_ldb = tmp_path / "one.db", tmp_path / "one.ldb"
    load([str(d) for d in days], str(one_db), table="t")
    load([str(d) for d in days], str(one_ldb), key="{k}")
    daily_db, daily_ldb = tmp_path / "daily.db", tmp_path / "daily.ldb"
    for db in (daily_db, daily_ldb):
        target = {"table": "t"} if db.suffix == ".db" else {"key": "{k}"}
        first = load(str(days[0]), str(db), **target)
        assert (first.rows_written, first.rows_rejected) == (2, 0)
        second = load([str(d) for d in days], str(db), **target)
        assert (second.rows_written, second.rows_rejected) == (2, 0)
    assert declared(daily_db) == {"k": "INTEGER", "x": ""}  # day 1 made it without a type: not REAL
    stored = "SELECT k, x, typeof(x) FROM t ORDER BY k"
    assert (
        sqlite_rows(daily_db, stored)
        == sqlite_rows(one_db, stored)
        == [
            (1, None, "null"),
            (2, None, "null"),
            (3, 7, "integer"),
            (4, 2**60 + 1, "integer"),
        ]
    )
    assert sqlite_state(daily_db)["schema"] == sqlite_state(one_db)["schema"] == {"k": "int64", "x": "int64"}
    assert leveldb_items(daily_ldb)[0] == leveldb_items(one_ldb)[0]
    assert json.loads(leveldb_items(daily_ldb)[0][2][1]) == {"k": 3, "x": 7}


def test_a_parquet_column_without_values_has_no_type_yet_as_a_csv_column_without_values(tmp_path: Path) -> None:
    _days_of_pandas_parquet(tmp_path)
    write(tmp_path / "day1.csv", "k,x\n1,\n2,\n")
    for name in ("day1.parquet", "day1.csv"):
        db = tmp_path / f"{name}.db"
        load(str(tmp_path / name), str(db), table="t")
        assert sqlite_rows(db, "PRAGMA table_info(t)")[1][1:3] == ("x", "")  # no declared type
        assert sqlite_state(db)["schema"] == {"k": "int64", "x": "null"}


def test_integers_past_2_53_in_lists_and_structs_unify_with_floats(tmp_path: Path) -> None:
    """A list or struct of int64 beside one of float64 is stored as floats: an integer the float
    holds exactly (2**60) loads, one it rounds rejects its row."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "xs": [[1.5]], "r": [{"n": 0.5}]}), tmp_path / "a.parquet")
    table = {"id": [2, 3], "xs": [[2**60], [2**53 + 1]], "r": [{"n": 10**18}, {"n": 3}]}
    pq.write_table(pa.table(table), tmp_path / "b.parquet")
    db = tmp_path / "t.db"
    report = load([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    assert sqlite_rows(db, "SELECT id, xs, r FROM t ORDER BY id") == [
        (1, "[1.5]", '{"n":0.5}'),
        (2, "[1.152921504606847e+18]", '{"n":1e+18}'),
    ]
    [rejected] = reject_lines(rejects_of(db, "table:t"))
    assert (rejected["row"], rejected["column"], rejected["reason"]) == (
        2,
        "xs",
        "'[9007199254740993]' holds an integer that list<element: double> would round (declare the column as string)",
    )


def test_a_later_fraction_or_hex_in_an_integer_column_is_rejected_for_what_it_is(tmp_path: Path) -> None:
    """``0.5`` has no leading zero to keep: it is no integer. ``0x1F`` is hexadecimal text
    the integer cast would read as 31. ``007`` keeps its own reason. ``-0.0`` is the whole
    number 0 (its sign is no digit)."""
    write(tmp_path / "a1.csv", "id,qty\n1,10\n2,20\n")
    db = tmp_path / "a.db"
    load(str(tmp_path / "a*.csv"), str(db), table="t")  # qty is int64 from here on
    write(tmp_path / "a2.csv", "id,qty\n3,0.5\n4,0x1F\n5,007\n6,-0.0\n7,30\n")
    report = load(str(tmp_path / "a*.csv"), str(db), table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (5, 2, 3)
    assert typed(db, "qty") == [(10, "integer"), (20, "integer"), (0, "integer"), (30, "integer")]
    since = "; qty is int64 since an earlier run of this job"
    reasons = {r["values"]["qty"]: r["reason"].split(since)[0] for r in reject_lines(rejects_of(db))}
    assert reasons == {
        "0.5": "'0.5' is not a valid int64",
        "0x1F": "'0x1F' is hexadecimal text that int64 would read as a number (declare the column as string to keep it)",
        "007": "'007' has a leading zero that int64 would drop (declare the column as string to keep it)",
    }


# Day 2 of a pandas export: a missing value made the int64 column float64, written as each format does.
_WHOLE_FLOATS_DAY2 = {
    "csv": "id,qty\n3,2.0\n4,\n5,1e+16\n6,2.5\n",
    "jsonl": '{"id":3,"qty":2.0}\n{"id":4,"qty":null}\n{"id":5,"qty":10000000000000000.0}\n{"id":6,"qty":2.5}\n',
}


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_a_later_runs_whole_float_loads_into_a_recorded_int64_column_in_every_format(tmp_path: Path, ext: str) -> None:
    """One rule for every format: a whole number written as a float (``2.0``, ``1e+16``) is
    that integer in a column an earlier run recorded ``int64``, as a Parquet float is; ``2.5``
    is rejected in each."""
    day1 = {"csv": "id,qty\n1,5\n2,7\n", "jsonl": '{"id":1,"qty":5}\n{"id":2,"qty":7}\n'}
    if ext == "parquet":
        pq.write_table(pa.table({"id": [1, 2], "qty": [5, 7]}), tmp_path / "d1.parquet")
    else:
        write(tmp_path / f"d1.{ext}", day1[ext])
    db = tmp_path / "t.db"
    load(str(tmp_path / f"d*.{ext}"), str(db), table="t")  # qty is int64 from here on
    if ext == "parquet":
        pq.write_table(pa.table({"id": [3, 4, 5, 6], "qty": [2.0, None, 1e16, 2.5]}), tmp_path / "d2.parquet")
    else:
        write(tmp_path / f"d2.{ext}", _WHOLE_FLOATS_DAY2[ext])
    report = load(str(tmp_path / f"d*.{ext}"), str(db), table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 3, 1)
    assert typed(db, "qty") == [(5, "integer"), (7, "integer"), (2, "integer"), (None, "null"), (10**16, "integer")]
    [reject] = reject_lines(rejects_of(db))
    assert reject["reason"].startswith("'2.5' is not a valid int64; qty is int64 since an earlier run of this job")


def test_whole_float_text_is_its_exact_integer_where_the_type_is_declared_or_settled(tmp_path: Path) -> None:
    """Decided from the text, never through a float: ``12345678901234567.0`` is
    12345678901234567 (float64 would make it ...568), ``1.5e3`` is 1500. The same holds for a
    declared column and past the sample of one the sample settled as int64; text beyond int64
    or no number stays rejected."""
    rows = "".join(f"{i},{i}\n" for i in range(20))
    later = ["12345678901234567.0", "1.5e3", "-0.0", "2.000", "9223372036854775808.0", "1e400", "NaN"]
    text = f"id,n\n{rows}" + "".join(f"{20 + i},{v}\n" for i, v in enumerate(later))
    write(tmp_path / "a.csv", text)
    write(tmp_path / "b.csv", text)
    settled, declared_db = tmp_path / "s.db", tmp_path / "d.db"
    report = load(str(tmp_path / "a.csv"), str(settled), table="t", source_options={"infer_rows": 10})
    assert (report.rows_written, report.rows_rejected) == (24, 3)
    report = load(str(tmp_path / "b.csv"), str(declared_db), table="t", source_options={"columns": {"n": "int64"}})
    assert (report.rows_written, report.rows_rejected) == (24, 3)
    for db in (settled, declared_db):
        assert declared(db)["n"] == "INTEGER"
        assert typed(db, "n")[20:] == [
            (12345678901234567, "integer"),
            (1500, "integer"),
            (0, "integer"),
            (2, "integer"),
        ]
        assert [r["reason"] for r in reject_lines(rejects_of(db))] == [
            "'9223372036854775808.0' is not a valid int64",
            "'1e400' is not a valid int64",
            "'NaN' is not a valid int64",
        ]


def test_a_sample_of_whole_floats_is_still_a_float_column(tmp_path: Path) -> None:
    """Inference is unchanged: ``1.0, 2.0`` in a new table make a float64 column."""
    write(tmp_path / "a.csv", "id,x\n1,1.0\n2,2.0\n")
    db = tmp_path / "t.db"
    load(str(tmp_path / "a.csv"), str(db), table="t")
    assert typed(db, "x") == [(1.0, "real"), (2.0, "real")]


def test_leveldb_json_value_of_a_later_whole_float_in_an_int64_column_is_the_integer(tmp_path: Path) -> None:
    write(tmp_path / "u1.csv", "id,qty\n1,5\n")
    target = tmp_path / "u.ldb"
    load(str(tmp_path / "u*.csv"), str(target), key="user:{id}")
    write(tmp_path / "u2.csv", "id,qty\n2,2.0\n3,1e+16\n")
    report = load(str(tmp_path / "u*.csv"), str(target), key="user:{id}")
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    items, state = leveldb_items(target)
    assert [v for _, v in items] == [b'{"id":1,"qty":5}', b'{"id":2,"qty":2}', b'{"id":3,"qty":10000000000000000}']
    assert state["schema"] == {"id": "int64", "qty": "int64"}
