"""Wide files and long readers: per-column work stays linear, a too-wide table is refused
before any row is read, and a WAL reader never stalls the end of a load."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from loader import load
from loader.writers.sqlite_schema import MAX_COLUMNS
from tests.conftest import calls_made, sqlite_rows
from tests.reliability_util import cli


def write_table(path: Path, columns: int, rows: int) -> Path:
    """Integers in every third column, text elsewhere: inference has work on each."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for r in range(rows):
            f.write(",".join(str(r * columns + i) if i % 3 else f"x{r}_{i}" for i in range(columns)) + "\n")
    return path


def calls(src: Path, target: Path) -> int:
    options = {"key": "{c0}"} if target.suffix == ".ldb" else {"table": "t"}
    report, made = calls_made(lambda: load(str(src), str(target), run_options={"quiet": True}, **options))  # type: ignore[arg-type]
    assert report.rows_written == report.rows_read > 0
    return made


@pytest.mark.parametrize("sink", [".db", ".ldb"])
def test_wide_files_cost_the_same_per_cell_as_narrow_ones(tmp_path: Path, sink: str) -> None:
    """The same rows at two widths 4x apart: linear work makes at most ~4x the function
    calls (fewer, as a run's fixed costs are shared); work per column per block (blocks held a
    fixed number of bytes, so a wider file had more blocks), or per column per column, made
    it 12x or more. A narrow file of as many cells is no baseline here: its own fixed costs
    dominate at this size."""
    rows = 300
    made = {}
    for width in (500, MAX_COLUMNS):
        wide_csv = write_table(tmp_path / f"w{width}.csv", width, rows)
        calls(wide_csv, tmp_path / f"w{width}-warm{sink}")  # the first load imports what loads use
        made[width] = calls(wide_csv, tmp_path / f"w{width}-0{sink}")
    assert made[MAX_COLUMNS] < 6.0 * made[500], made
    if sink == ".db":
        assert sqlite_rows(
            tmp_path / f"w{MAX_COLUMNS}-0.db", f"SELECT count(*), sum(c1), max(c{MAX_COLUMNS - 1}) FROM t"
        ) == [(rows, sum(r * MAX_COLUMNS + 1 for r in range(rows)), (rows - 1) * MAX_COLUMNS + MAX_COLUMNS - 1)]


def test_a_table_too_wide_for_sqlite_is_refused_before_loading(tmp_path: Path) -> None:
    src = write_table(tmp_path / "wide.csv", MAX_COLUMNS + 1, 3)
    db = tmp_path / "wide.db"
    expected = (
        f"loader: error: {src}: 2,001 columns, more than a SQLite table can hold (2,000, SQLITE_MAX_COLUMN)\n"
        "  hint: keep the columns you need with a select or drop transform, or load into LevelDB\n"
    )
    for extra in (["--dry-run"], []):
        p = cli("load", str(src), str(db), "--table", "t", "-q", *extra)
        assert (p.returncode, p.stderr) == (2, expected)
    assert sqlite_rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 't'") == [(0,)]
    # a stage that keeps it within the limit lets it load (the stages' output is checked)
    from loader.transforms import Select

    keep = Select(columns=[f"c{i}" for i in range(0, MAX_COLUMNS + 1, 2)])
    report = load(str(src), str(tmp_path / "narrowed.db"), table="t", transforms=[keep], run_options={"quiet": True})
    assert report.rows_written == 3
    assert sqlite_rows(tmp_path / "narrowed.db", "SELECT count(*) FROM pragma_table_info('t')") == [(1001,)]


def _wal_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (c0 TEXT, c1 INTEGER, c2 INTEGER)")  # c0 holds text (write_table)
    conn.execute("INSERT INTO t VALUES ('x', 2, 3)")
    conn.commit()
    conn.close()
    return path


def test_wal_load_does_not_wait_for_a_long_reader(tmp_path: Path) -> None:
    """A reader holding its snapshot open all through the load: the load ends without
    waiting for it. Its busy_timeout (how long it would wait) is far past the command's
    time limit, so a wait fails the test instead of only making the load slower."""
    src = write_table(tmp_path / "in.csv", 3, 20_000)
    db = _wal_db(tmp_path / "read.db")
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)  # holds its snapshot open
        p = cli("load", str(src), str(db), "--table", "t", "-q", "--set", "sink.busy_timeout=3600", timeout=120)
        assert p.returncode == 0, p.stderr
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(20_001,)]
    assert sqlite_rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_a_header_of_one_name_repeated_is_named_in_linear_time() -> None:
    from loader.readers.base import _dedupe, dedupe_names, new_name

    assert dedupe_names(["a", "A", "a", "a_2", "", "a"]) == ["a", "A_3", "a_4", "a_2", "column_5", "a_5"]

    def steps(n: int) -> int:
        """Lines the function runs for ``n`` names (counted, not timed: the same on any machine)."""
        count = 0

        def trace(frame: Any, event: str, arg: Any) -> Any:
            nonlocal count
            if frame.f_code not in (dedupe_names.__code__, _dedupe.__code__, new_name.__code__):
                return None
            count += event == "line"
            return trace

        sys.settrace(trace)
        try:
            names = dedupe_names(["x"] * n)
        finally:
            sys.settrace(None)
        assert names[-1] == f"x_{n}" and len(set(names)) == n
        return count

    small, large = steps(1_000), steps(4_000)
    assert large <= 4 * small + 10, (small, large)  # 4x the names: 4x the steps, not 16x


def test_a_header_too_wide_for_sqlite_is_refused_before_its_types_are_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header says it: no column of the file is sampled for its type first (2,001 columns
    of guesses took most of the refusal's seconds)."""
    from loader.convert import TypeGuess
    from loader.errors import ConfigError

    src = write_table(tmp_path / "wide.csv", MAX_COLUMNS + 1, 3)
    guessed: list[int] = []
    real_add = TypeGuess.add
    monkeypatch.setattr(TypeGuess, "add", lambda self, sample: guessed.append(1) or real_add(self, sample))
    with pytest.raises(ConfigError, match="2,001 columns, more than a SQLite table can hold"):
        load(str(src), str(tmp_path / "wide.db"), table="t", run_options={"quiet": True})
    assert guessed == []
