"""A SQLite target as ``--dry-run`` and ``loader validate`` read it (``peek``): a target the load
refuses, they refuse in the load's words and with its exit code."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loader.errors import EXIT_LOCKED, EXIT_USAGE
from tests.conftest import write_csv
from tests.reliability_util import cli, in_process


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


_FTS = (
    'CREATE TABLE "docs" ("id" INTEGER PRIMARY KEY, "title" TEXT);'
    "INSERT INTO docs VALUES (1, 'hello world'), (2, 'goodbye moon');"
    # as sqlite-utils' enable_fts(create_triggers=True) makes it
    'CREATE VIRTUAL TABLE "docs_fts" USING FTS5 ("title", content="docs");'
    'CREATE TRIGGER "docs_ai" AFTER INSERT ON "docs" BEGIN '
    'INSERT INTO "docs_fts" (rowid, "title") VALUES (new.rowid, new."title"); END;'
    "INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');"
)
_FK = (
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO parent VALUES (1, 'a'), (2, 'b');"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);"
    "INSERT INTO child VALUES (1, 1), (2, 2);"
)


@pytest.mark.parametrize(
    ("ddl", "table", "named"),
    [
        (_FTS, "docs", "virtual table 'docs_fts' (it indexes the text of 'docs': content=docs)"),
        (_FK, "parent", "table 'child' (its foreign key references 'parent')"),
    ],
    ids=["fts5-content", "foreign-key"],
)
def test_a_replace_of_a_table_others_depend_on_is_refused_before_anything_changes(
    tmp_path: Path, ddl: str, table: str, named: str
) -> None:
    """``replace`` dropped the table and made it anew: the FTS index answered searches with
    the old rows' rowids (wrong rows, exit 0), the child's foreign key lost its parent key
    ("foreign key mismatch" on every write of the application) and the cascade's rows."""
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(ddl)
    conn.close()
    before = _content(db, table)
    src = write_csv(tmp_path / "n.csv", ["id", "title" if table == "docs" else "name"], [[1, "apples"]])
    load = ["load", str(src), str(db), "--table", table, "--mode", "replace"]
    refused = [
        f"loader: error: sink.mode: replace would drop table {table!r} in {db} and make it anew, which would leave "
        f"what depends on it stale or broken: {named}",
        '  hint: load with mode = "append" (--mode append) or "upsert" (--mode upsert), which keep them right; '
        "or drop them, replace, and make them again",
    ]
    for args in (load, [*load, "--dry-run"]):
        done = in_process(*args)
        assert (done.returncode, done.stderr.splitlines()[:2]) == (EXIT_USAGE, refused)
    assert _content(db, table) == before


def _content(db: Path, table: str) -> tuple[list[tuple[str, str]], list[tuple[object, ...]]]:
    """The user's schema (not the loader's checkpoint table) and the table's rows."""
    with sqlite3.connect(db) as conn:
        schema = conn.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name <> '_loader_state' ORDER BY name")
        found = (schema.fetchall(), conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
    conn.close()
    return found


def test_a_replace_of_a_table_only_views_and_its_own_triggers_name_goes_on(tmp_path: Path) -> None:
    """A view reads the new table, the table's own triggers go with it, a self-reference too."""
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, up INTEGER REFERENCES t(id)); CREATE VIEW v AS SELECT * FROM t;"
            "CREATE TABLE log (x); CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END;"
        )
    conn.close()
    src = write_csv(tmp_path / "n.csv", ["id", "up"], [[1, ""]])
    assert in_process("load", str(src), str(db), "--table", "t", "--mode", "replace", "-q").returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM v").fetchall() == [(1,)]
    conn.close()


_FUNCTION_HINT = "  hint: an application registers such a function on its own connection"


@pytest.mark.parametrize(
    ("ddl", "error", "hint"),
    [
        (
            "CREATE TABLE t (id INTEGER, name TEXT, slug TEXT); CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
            "UPDATE t SET slug = slugify(new.name) WHERE rowid = new.rowid; END;",
            "trigger 'tr' on table 't' calls slugify(), a function the loader's connection does not have "
            "(SQLite: no such function: slugify)",
            f"{_FUNCTION_HINT}s only: drop or change trigger 'tr', or load into another table, then rerun",
        ),
        (
            "CREATE TABLE t (id INTEGER, name TEXT, c TEXT DEFAULT (uuid4()));",
            "a CHECK constraint, DEFAULT or generated column of table 't' calls uuid4(), a function the loader's "
            "connection does not have (SQLite: unknown function: uuid4())",
            f"{_FUNCTION_HINT}s only: drop or change the table's definition, or load into another table, then rerun",
        ),
        (
            "CREATE TABLE t (id INTEGER, name TEXT CHECK (regexp('^[A-Z]', name)));",
            "a CHECK constraint, DEFAULT or generated column of table 't' calls regexp(), a function the loader's "
            "connection does not have (SQLite: unknown function: regexp())",
            f"{_FUNCTION_HINT}s only: drop or change the table's definition, or load into another table, then rerun",
        ),
        (
            "CREATE TABLE t (id INTEGER, name TEXT); CREATE TABLE audit (x); CREATE TRIGGER tr AFTER INSERT ON t "
            "BEGIN INSERT INTO audit VALUES (new.id); END; DROP TABLE audit;",
            "trigger 'tr' on table 't' names table 'audit', which is not there (SQLite: no such table: main.audit)",
            "  hint: make table 'audit' again, or drop or change trigger 'tr', or load into another table, then rerun",
        ),
    ],
    ids=["trigger-function", "default-function", "check-function", "trigger-dropped-table"],
)
def test_a_table_whose_schema_no_insert_can_compile_is_exit_65_naming_it_before_any_row(
    tmp_path: Path, ddl: str, error: str, hint: str
) -> None:
    """Exit 1 ("rerun and it resumes") with SQLite's bare text, and the dry run said ok."""
    db = tmp_path / "fn.db"
    with sqlite3.connect(db) as conn:
        conn.create_function("regexp", 2, lambda p, v: 1)  # as the application's own connection has it
        conn.executescript(ddl)
    conn.close()
    src = write_csv(tmp_path / "fn.csv", ["id", "name"], [[1, "Hello World"]])
    load = ["load", str(src), str(db), "--table", "t"]
    expected = [f"loader: error: {db}: table 't' cannot take rows: {error}", hint]
    done = in_process(*load)
    assert (done.returncode, done.stderr.splitlines()[:2]) == (65, expected)
    # the dry run's read-only connection compiles no CHECK: it makes the table in memory, where
    # SQLite words the same refusal its own way
    said = error.replace("unknown function: regexp()", "no such function: regexp")
    dry = in_process(*load, "--dry-run")
    assert (dry.returncode, dry.stderr.splitlines()[:2]) == (65, [expected[0].replace(error, said), hint])
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_a_default_that_cannot_compile_is_no_error_when_the_input_gives_its_column(tmp_path: Path) -> None:
    db = tmp_path / "fn.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, c TEXT DEFAULT (uuid4()))")
    conn.close()
    src = write_csv(tmp_path / "fn.csv", ["id", "c"], [[1, "x"]])
    for args in (["--dry-run"], ["-q"]):
        assert in_process("load", str(src), str(db), "--table", "t", *args).returncode == 0


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_column_name_holding_nul_is_data_to_fix_naming_file_and_rename(
    tmp_path: Path, engine: str, dry_run: bool
) -> None:
    """A JSON key ``"a\\u0000b"``: no SQLite name holds NUL. It stopped the load with exit 1
    ("rerun and it resumes") naming no file; it is exit 65, and the hint's stage loads it."""
    src = tmp_path / "n.jsonl"
    src.write_text('{"id":1,"a\\u0000b":1}\n{"id":2,"a\\u0000b":3}\n')
    db = tmp_path / "n.db"
    p = cli("load", str(src), str(db), "--table", "t", "--engine", engine, *(["--dry-run"] if dry_run else []))
    assert p.returncode == 65
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {src}, column 'a\\x00b': its name holds a NUL byte, which no SQLite column name can",
        '  hint: rename it ([[transform]] type = "rename", columns = { "a\\u0000b" = "a_b" }), then rerun',
    ]
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{src}"\n[sink]\npath = "{db}"\ntable = "t"\n'
        '[[transform]]\ntype = "rename"\ncolumns = { "a\\u0000b" = "a_b" }\n'
    )
    assert cli("run", str(job), "--engine", engine).returncode == 0
    assert sqlite3.connect(db).execute("SELECT id, a_b FROM t").fetchall() == [(1, 1), (2, 3)]
