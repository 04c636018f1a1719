from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from loader import load
from loader.writers.sqlite_refusals import refusal
from tests.conftest import sqlite_rows
from tests.reliability_util import rejects_of

ENGINES = [
    pytest.param({"engine": "threads"}, id="threads"),
    pytest.param({"engine": "processes", "workers": 1}, id="processes"),
    pytest.param({"engine": "processes", "workers": 1, "part_results": "arrow"}, id="processes-arrow"),
]


def _made(db: Path, ddl: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(ddl)
    conn.close()


@pytest.mark.parametrize("run", ENGINES)
def test_an_rtree_table_rejects_the_row_it_refuses_and_keeps_the_others(tmp_path: Path, run: dict) -> None:
    """An R*Tree writes its shadow tables for each row, and those rows grew the change count
    that named the refused row: good rows 4-6 were lost, row 7 rejected in row 3's place,
    19 rows reported written; a refusal late in a batch was an IndexError (exit 1)."""
    db = tmp_path / "rt.db"
    _made(db, "CREATE VIRTUAL TABLE rt USING rtree(id, minx, maxx)")
    bad = {3, 18}
    src = tmp_path / "rt.csv"
    src.write_text("id,minx,maxx\n" + "".join(f"{i},{5 if i in bad else 0},1\n" for i in range(1, 21)))
    report = load(str(src), db, table="rt", run_options=run)
    assert (report.rows_read, report.rows_written, report.rows_rejected, report.rows_ignored) == (20, 18, 2, 0)
    assert sqlite_rows(db, "SELECT id FROM rt ORDER BY id") == [(i,) for i in range(1, 21) if i not in bad]
    rejects = [json.loads(line) for line in rejects_of(db, "table:rt").read_text().splitlines()]
    assert [(r["row"], r["line"], r["reason"], r["values"]) for r in rejects] == [
        (
            i,
            i + 1,
            "table 'rt' refuses the row (rtree constraint failed: rt.(minx<=maxx))",
            {"id": i, "minx": 5.0, "maxx": 1.0},
        )
        for i in sorted(bad)
    ]


@pytest.mark.parametrize("run", ENGINES)
def test_an_fts5_table_counts_the_rows_it_takes_not_its_shadow_rows(tmp_path: Path, run: dict) -> None:
    """FTS5 writes several shadow rows a row: every row is in, and counted once, over
    several batches and a rerun that finds them done."""
    db = tmp_path / "ft.db"
    _made(db, "CREATE VIRTUAL TABLE ft USING fts5(title, body)")
    src = tmp_path / "ft.csv"
    src.write_text("title,body\n" + "".join(f"t{i},word{i} and more words\n" for i in range(50)))
    report = load(str(src), db, table="ft", run_options={**run, "chunk_size": 16})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (50, 50, 0)
    again = load(str(src), db, table="ft", run_options={**run, "chunk_size": 16})
    assert again.rows_written == 0
    assert sqlite_rows(db, "SELECT count(*) FROM ft") == [(50,)]
    assert sqlite_rows(db, "SELECT title FROM ft WHERE ft MATCH 'word7'") == [("t7",)]


def test_a_refused_key_is_the_value_of_the_column_sqlite_names_folding_ascii_letters_only() -> None:
    """``ñandú`` and ``ÑANDÚ`` are two columns: the key is ``ñandú``'s value (Python's ``lower``
    had shown ``ÑANDÚ``'s); the table's name still matches in any ASCII case."""
    message = "UNIQUE constraint failed: T.ñandú"
    assert refusal(message, "t", {"ñandú": "a", "ÑANDÚ": "b"}) == (
        f"key 'a' is already in table 't' ({message})",
        "ñandú",
    )


@pytest.mark.parametrize("run", ENGINES)
@pytest.mark.parametrize(("mode", "kept"), [("upsert", "second"), ("ignore", "first")])
def test_an_input_column_named_rowid_leaves_the_rows_in_their_order(
    tmp_path: Path, run: dict, mode: str, kept: str
) -> None:
    """The stage was merged ORDER BY rowid, which named the input's ``rowid`` column (as
    ``sqlite3 -header -csv db "select rowid,* ..."`` makes): the row with the lower value
    won, the first under upsert and the last under ignore."""
    src = tmp_path / "d.csv"
    src.write_text("id,ROWID,v\n1,2,first\n1,1,second\n")
    db = tmp_path / "d.db"
    load(str(src), db, table="t", sink_options={"mode": mode, "primary_key": ["id"]}, run_options=run)
    assert sqlite_rows(db, "SELECT * FROM t") == [(1, 2 if kept == "first" else 1, kept)]


@pytest.mark.parametrize("run", ENGINES)
def test_a_refused_row_beside_a_rowid_column_is_rejected_alone(tmp_path: Path, run: dict) -> None:
    """Rows were merged range by range WHERE rowid BETWEEN 1 AND 3, which held the input's
    ``rowid`` values (100 to 300): no row went in, and all 3 were reported written."""
    db = tmp_path / "u.db"
    _made(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, rowid INTEGER, n INTEGER CHECK (n > 0))")
    src = tmp_path / "h1.csv"
    src.write_text("id,rowid,n\n1,100,5\n2,200,-1\n3,300,7\n")
    report = load(str(src), db, table="t", sink_options={"mode": "upsert", "primary_key": ["id"]}, run_options=run)
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY id") == [(1, 100, 5), (3, 300, 7)]
    rejects = [json.loads(line) for line in rejects_of(db, "table:t").read_text().splitlines()]
    assert [(r["row"], r["values"]) for r in rejects] == [(2, {"id": 2, "rowid": 200, "n": -1})]


@pytest.mark.parametrize("run", ENGINES)
def test_an_append_through_a_trigger_beside_a_rowid_column_writes_its_rows(tmp_path: Path, run: dict) -> None:
    """A table whose trigger writes rows is appended to through the stage: its rows were
    taken by their ``rowid`` column, none matched, and all 3 were reported ignored."""
    db = tmp_path / "tr.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, rowid INTEGER, n INTEGER CHECK (n > 0));"
            "CREATE TABLE log (x); CREATE TRIGGER tg AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END;"
        )
    conn.close()
    src = tmp_path / "h1.csv"
    src.write_text("id,rowid,n\n1,100,5\n2,200,-1\n3,300,7\n")
    report = load(str(src), db, table="t", run_options=run)
    assert (report.rows_written, report.rows_ignored, report.rows_rejected) == (2, 0, 1)
    assert sqlite_rows(db, "SELECT id, rowid FROM t ORDER BY id") == [(1, 100), (3, 300)]
    assert sqlite_rows(db, "SELECT x FROM log ORDER BY x") == [(1,), (3,)]


@pytest.mark.parametrize("run", ENGINES)
def test_many_repeated_keys_beside_a_rowid_column_are_rejected_in_bulk(tmp_path: Path, run: dict) -> None:
    """Past 16 refusals a batch's repeated keys are found in bulk, by the stage's row
    numbers: those were the input's ``rowid`` values (5001 to 5100), and taking row 5152 of
    the batch was an internal ArrowIndexError (exit 1)."""
    db = tmp_path / "dup.db"
    _made(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, rowid INTEGER, v TEXT)")
    src = tmp_path / "dup.csv"
    src.write_text("id,rowid,v\n" + "".join(f"{i % 60},{5000 + i},v{i}\n" for i in range(1, 101)))
    report = load(str(src), db, table="t", run_options=run)
    assert (report.rows_written, report.rows_rejected) == (60, 40)
    assert sqlite_rows(db, "SELECT count(*), min(rowid), max(rowid) FROM t") == [(60, 5001, 5060)]
    rejects = [json.loads(line) for line in rejects_of(db, "table:t").read_text().splitlines()]
    assert [(r["row"], r["values"]["rowid"]) for r in rejects] == [(i, 5000 + i) for i in range(61, 101)]


@pytest.mark.parametrize("run", ENGINES)
def test_columns_named_every_name_of_a_rowid_keep_the_rows_order(tmp_path: Path, run: dict) -> None:
    """Input columns take all of SQLite's names for a rowid, and the stage's own sequence
    column's name too: the last row of a key still wins."""
    src = tmp_path / "z.csv"
    src.write_text("id,rowid,OID,_rowid_,_loader_seq\n1,9,9,9,9\n1,8,8,8,8\n2,1,1,1,1\n")
    db = tmp_path / "z.db"
    load(str(src), db, table="t", sink_options={"mode": "upsert", "primary_key": ["id"]}, run_options=run)
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY id") == [(1, 8, 8, 8, 8), (2, 1, 1, 1, 1)]


@pytest.mark.parametrize(
    ("message", "column"),
    [
        ("CHECK constraint failed: name <> 'bad'", "name"),
        ("CHECK constraint failed: N > 0 AND \"my col\" < [id] OR `Id` = 'n'", "n, my col, id"),
        ("CHECK constraint failed: length(name) < 3 AND 'id' <> name", "name"),
        ("CHECK constraint failed: positive", None),  # a named constraint: its name, no column
    ],
)
def test_a_check_constraints_reject_names_the_columns_its_expression_reads(message: str, column: str | None) -> None:
    values = {"id": 2, "n": -1, "name": "bad", "my col": 3}
    assert refusal(message, "t", values) == (f"table 't' refuses the row ({message})", column)


def _fk_db(db: Path, deferred: bool = False) -> None:
    """A parent with rows 1 and 2, and a child whose owner declares its foreign key (with
    ON DELETE CASCADE, as applications do) and turns enforcing on in its own connections."""
    defer = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);"
            "INSERT INTO parent VALUES (1, 'a'), (2, 'b');"
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            f"parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE{defer}, v TEXT);"
        )
    conn.close()


@pytest.mark.parametrize("run", ENGINES)
@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_a_row_whose_parent_row_is_not_there_is_rejected_naming_the_column_and_parent(
    tmp_path: Path, run: dict, mode: str
) -> None:
    """The loader's connection never enforced foreign keys: the orphan row loaded (exit 0),
    and the owner's app, which enforces them, then found its table inconsistent."""
    db = tmp_path / "fk.db"
    _fk_db(db)
    src = tmp_path / "child.csv"
    src.write_text("id,parent_id,v\n1,1,ok\n2,2,ok\n3,99,orphan\n4,1,ok\n")
    report = load(str(src), db, table="child", sink_options={"mode": mode, "primary_key": ["id"]}, run_options=run)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 3, 1)
    assert sqlite_rows(db, "SELECT id, parent_id FROM child ORDER BY id") == [(1, 1), (2, 2), (4, 1)]
    assert sqlite_rows(db, "PRAGMA foreign_key_check") == []
    rejects = [json.loads(line) for line in rejects_of(db, "table:child").read_text().splitlines()]
    assert [(r["row"], r["column"], r["reason"]) for r in rejects] == [
        (
            3,
            "parent_id",
            "parent_id 99 is not in table 'parent' (id), which the foreign key of table 'child' references "
            "(FOREIGN KEY constraint failed)",
        )
    ]


def test_a_deferred_foreign_key_stops_the_load_at_commit_and_keeps_nothing_of_the_batch(tmp_path: Path) -> None:
    """SQLite checks a deferred foreign key at COMMIT only, where no row can be told apart:
    the load stops (exit 65) naming the table's deferred key, its transaction undone."""
    from loader.errors import ConstraintError

    db = tmp_path / "fk.db"
    _fk_db(db, deferred=True)
    src = tmp_path / "child.csv"
    src.write_text("id,parent_id,v\n1,1,ok\n3,99,orphan\n")
    with pytest.raises(ConstraintError) as err:
        load(str(src), db, table="child")
    assert err.value.exit_code == 65
    assert "deferred foreign key" in str(err.value)
    assert sqlite_rows(db, "SELECT count(*) FROM child") == [(0,)]
    assert sqlite_rows(db, "PRAGMA foreign_key_check") == []
