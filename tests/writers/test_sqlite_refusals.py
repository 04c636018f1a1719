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
