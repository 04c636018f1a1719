"""A SQLite target as ``--dry-run`` and ``loader validate`` read it (``peek``): a target the load
refuses, they refuse in the load's words and with its exit code."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from loader.errors import EXIT_LOCKED, EXIT_USAGE
from tests.conftest import write_csv
from tests.reliability_util import cli


def commands(tmp_path: Path, db: Path) -> list[list[str]]:
    """The load, its dry run, and ``validate`` of the same job, each waiting 0.2 s for a lock."""
    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "{src}"\n[sink]\npath = "{db}"\ntable = "t"\nbusy_timeout = 0.2\n')
    load = ["load", str(src), str(db), "--table", "t", "--busy-timeout", "0.2"]
    return [load, [*load, "--dry-run"], ["validate", str(job)]]


def outcomes(tmp_path: Path, db: Path) -> list[tuple[int, list[str]]]:
    """Each command's exit code and error lines (the load's ``failed:`` summary left out). Real
    processes: a test's holder in this process would not block a load in it (SQLite's file
    locks are per process)."""
    done = [cli(*args, process=True) for args in commands(tmp_path, db)]
    return [(p.returncode, [ln for ln in p.stderr.splitlines() if not ln.startswith("failed: ")]) for p in done]


def test_a_file_that_is_not_a_database_is_the_same_usage_error_to_a_dry_run(tmp_path: Path) -> None:
    """The dry run and ``validate`` had said exit 1, ``cannot read SQLite database``."""
    db = tmp_path / "notes.db"
    db.write_text("hello")
    refused = (
        EXIT_USAGE,
        [
            f"loader: error: sink.path: {db} is not a SQLite database (SQLite: file is not a database)",
            "  hint: name a new file or an existing SQLite database",
        ],
    )
    assert outcomes(tmp_path, db) == [refused] * 3
    assert db.read_text() == "hello"


def test_a_directory_named_as_the_database_is_the_same_usage_error_to_a_dry_run(tmp_path: Path) -> None:
    """The dry run and ``validate`` took a directory for a database not made yet: exit 0."""
    db = tmp_path / "d.db"
    db.mkdir()
    refused = (
        EXIT_USAGE,
        [
            f"loader: error: sink.path: {db} is a directory, not a SQLite database file",
            "  hint: name a file, e.g. dir/out.db",
        ],
    )
    assert outcomes(tmp_path, db) == [refused] * 3
    assert list(db.iterdir()) == []


def test_a_database_another_program_holds_is_exit_75_to_a_dry_run_too(tmp_path: Path) -> None:
    """The dry run and ``validate`` had said exit 1, ``database is locked``, without the hint."""
    db = tmp_path / "held.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER)")
    conn.close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program's transaction: no reader gets in
    try:
        found = outcomes(tmp_path, db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    locked = (
        EXIT_LOCKED,
        [
            f"loader: error: {db}: the database is locked by another program "
            "(still locked after sink.busy_timeout = 0.2s)",
            "  hint: another connection holds a transaction on the target (a write, or in a rollback-journal "
            "database a read too); retry when it ends, or raise sink.busy_timeout",
        ],
    )
    assert found == [locked] * 3
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (0,)


def _crashed_writer(db: Path) -> None:
    """A process killed mid-transaction after its pages spilled into the file: a hot journal."""
    code = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA cache_size=1'); c.execute('BEGIN')\n"
        "for i in range(20000): c.execute('INSERT INTO t VALUES (?, ?)', (i, 'x' * 100))\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=False)


def test_a_crashed_writers_journal_is_a_note_to_the_dry_run_not_a_read_only_target(tmp_path: Path) -> None:
    """The dry run said exit 1, "the target is read-only", where the load rolls the journal back and loads."""
    a = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, 2]])
    db = tmp_path / "o.db"
    assert cli("load", str(a), str(db), "--table", "t", "-q").returncode == 0
    _crashed_writer(db)
    journal = tmp_path / "o.db-journal"
    before = (db.read_bytes(), journal.read_bytes())
    assert journal.stat().st_size > 0
    b = write_csv(tmp_path / "b.csv", ["id", "v"], [[5, 6]])
    load = ["load", str(a), str(b), str(db), "--table", "t"]
    dry = cli(*load, "--dry-run")
    assert (dry.returncode, dry.stderr) == (0, "")
    assert (
        f"note: {db} holds the journal of a writer that stopped mid-transaction (o.db-journal); the load rolls it "
        "back first. The dry run writes nothing, so it read none of the target's checkpoint or tables"
    ) in dry.stdout.splitlines()
    assert (db.read_bytes(), journal.read_bytes()) == before  # not rolled back by the dry run
    assert cli(*load, "-q").returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, 2), (5, 6)]
    conn.close()


def test_a_checkpoint_key_not_utf8_is_stored_as_its_json_string_and_read_back() -> None:
    """A key SQLite holds as text must be UTF-8: a name's surrogate (``os.fsdecode``) is held
    escaped in the key's JSON string; every other key, ``\\u`` or not, as it was."""
    from loader.writers.sqlite_schema import state_entries, stored_key

    name = "file:/in/caf\udce9.csv"
    assert stored_key(name) == '"file:/in/caf\\udce9.csv"'
    kept = ["file:/in/café.csv", "file:/in/a\\udce9.csv", "job", "part:1f"]
    assert [stored_key(k) for k in kept] == kept
    rows = [(stored_key(k), str(i)) for i, k in enumerate([name, *kept])]
    assert state_entries(rows) == {name: "0", **{k: str(i) for i, k in enumerate(kept, 1)}}
