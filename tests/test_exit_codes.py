"""Exit codes that say what to do: fix something, then rerun, or rerun and it resumes."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest

from loader.cli import main
from loader.errors import (
    EXIT_CLASS,
    EXIT_CONFIG,
    EXIT_DATAERR,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_NOINPUT,
    EXIT_NOTHING_LOADED,
    EXIT_OK,
    EXIT_USAGE,
    FIX,
    RERUN,
    RESUME_HINT,
    ConfigError,
    EngineError,
    InputGoneError,
    InterruptedLoad,
    MissingInputError,
    SchemaMismatchError,
    SinkError,
    SourceChangedError,
    SourceError,
    TargetLockedError,
    exit_class,
)
from tests.conftest import write_csv

_DECLARE = (
    "for the values of other types than earlier runs recorded, declare the type (--columns, or "
    "source.columns in a job file) and rerun with --restart --mode replace (every file of the job loads again)"
)


def _drops(first_day: Path) -> str:
    """What a replace of a job whose earlier file is no input of this run would drop, as the
    advice to reload every file adds it (the file a day named alone: its day 1 is none)."""
    return f"the 1 rows of 1 file the job loaded that is no longer among its inputs ({first_day}: 1 rows)"


_FORGETS = "not --restart: the job would forget the files earlier runs loaded, and load them again when they are inputs"
_LOADS_AGAIN = "not --restart: it would load the files earlier runs loaded again"


def _fix_the_file(db: object, table: str, then: str) -> str:
    """The last line of a nothing-loaded error whose rows were rejected: the reject file, the
    advice to fix the file or its rows, and ``then``."""
    return (
        f"  hint: rejected rows are in {db}.table-{table}.rejects.jsonl; fix the file and rerun with "
        "--set run.on_change=reload (the changed file alone is read again), or fix the rows there and load "
        f"them with `loader replay`; {then}"
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    return code, capsys.readouterr().err.splitlines()


def test_a_new_column_without_alter_is_a_data_error_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    write_csv(tmp_path / "a.csv", ["id", "name"], [[1, "x"]])
    assert run(capsys, "load", str(tmp_path / "a.csv"), db, "--table", "t", "-q")[0] == 0
    write_csv(tmp_path / "b.csv", ["id", "name", "extra"], [[2, "y", "z"]])
    code, err = run(capsys, "load", str(tmp_path / "b.csv"), db, "--table", "t", "-q")
    assert code == EXIT_DATAERR == 65
    assert err == [
        f"loader: error: {tmp_path / 'b.csv'}, column 'extra': table 't' has no column 'extra'",
        "  hint: set sink.alter = true (--alter) to add new columns, then rerun",
    ]
    assert run(capsys, "load", str(tmp_path / "b.csv"), db, "--table", "t", "-q", "--alter")[0] == 0
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_a_changed_source_is_a_data_error_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, db = tmp_path / "a.csv", str(tmp_path / "t.db")
    write_csv(src, ["id"], [[1], [2]])
    assert run(capsys, "load", str(src), db, "-q")[0] == 0
    write_csv(src, ["id"], [[1], [2], [3]])
    code, err = run(capsys, "load", str(src), db, "-q")
    assert code == 65
    assert err == [
        f"loader: error: {src}: changed since it was loaded (size or content differ from the checkpoint)",
        "  hint: 2 rows of it stay loaded: to load it once, delete them and rerun with --set run.on_change=reload "
        "(reload alone adds all its rows beside them), or rerun with --restart --mode replace (every file of the "
        "job loads again); set run.on_change to 'skip' to keep only them",
    ]
    assert run(capsys, "load", str(src), db, "-q")[0] == 65  # a plain rerun repeats it
    import json

    report = tmp_path / "r.json"  # the file that stopped the run is in the report, counted as changed
    assert run(capsys, "load", str(src), db, "-q", "--report", str(report))[0] == 65
    data = json.loads(report.read_text())
    assert data["files_changed"] == 1
    assert [(f["path"], f["status"], f["rows_kept"]) for f in data["files"]] == [(str(src), "changed", 2)]
    assert run(capsys, "load", str(src), db, "-q", "--on-change", "skip")[0] == 0


CHECKED_FIRST = (
    "  hint: fix the path or the file's permissions, then rerun: every input is checked before the first loads, "
    "so this run loaded none"
)


def test_a_hint_names_the_flags_of_the_command_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hints name ``loader load``'s flags; ``loader run`` has no ``--mode`` (following the
    hint was a usage error), so there a key flag it lacks is spelled ``--set KEY=VALUE``."""
    src, db = tmp_path / "a.csv", tmp_path / "t.db"
    write_csv(src, ["id"], [[1], [2]])
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "{src}"\n[sink]\ntype = "sqlite"\npath = "{db}"\ntable = "t"\n')
    assert run(capsys, "run", str(job), "-q")[0] == 0
    write_csv(src, ["id"], [[1], [2], [3]])
    code, err = run(capsys, "run", str(job), "-q")
    assert code == 65
    assert err[-1] == (
        "  hint: 2 rows of it stay loaded: to load it once, delete them and rerun with --set run.on_change=reload "
        "(reload alone adds all its rows beside them), or rerun with --restart --set sink.mode=replace (every file "
        "of the job loads again); set run.on_change to 'skip' to keep only them"
    )
    assert run(capsys, "run", str(job), "-q", "--restart", "--set", "sink.mode=replace")[0] == 0
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_a_missing_input_is_no_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, missing = str(tmp_path / "t.db"), tmp_path / "nope.csv"
    code, err = run(capsys, "load", str(missing), db)
    assert code == EXIT_NOINPUT == 66
    assert err == [f"loader: error: {missing}: no such file", CHECKED_FIRST]


@pytest.mark.parametrize("bad", ["b-missing.csv", "b2.csv"])
def test_an_input_missing_or_a_directory_among_others_loads_none_and_the_report_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    """The hint said the files before it stay loaded, and the report listed no file: every
    input is checked before the first loads, so none is, and the report says which and why."""
    write_csv(tmp_path / "a.csv", ["id"], [[1]])
    write_csv(tmp_path / "c.csv", ["id"], [[3]])
    if bad == "b2.csv":
        (tmp_path / bad).mkdir()
    db, report = tmp_path / "t.db", tmp_path / "r.json"
    paths = [str(tmp_path / f) for f in ("a.csv", bad, "c.csv")]
    code, err = run(capsys, "load", *paths, str(db), "--table", "t", "--report", str(report))
    reason = "no such file" if bad == "b-missing.csv" else "is a directory, not a file"
    assert (code, err[0]) == (66 if bad == "b-missing.csv" else 65, f"loader: error: {paths[1]}: {reason}")
    if bad == "b-missing.csv":
        assert err[1] == CHECKED_FIRST
    data = json.loads(report.read_text())
    assert [(f["path"], f["status"], f["reason"]) for f in data["files"]] == [(paths[1], "unreadable", reason)]
    assert data["rows_written"] == 0
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 't'"
    ).fetchone() == (0,)


def test_an_empty_input_is_a_data_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_text("")
    code, err = run(capsys, "load", str(tmp_path / "empty.csv"), str(tmp_path / "t.db"))
    assert code == 65
    assert err == [
        f"loader: error: {tmp_path / 'empty.csv'}: file is empty (no header, no rows)",
        "  hint: fix or replace the file, then rerun: the files before it stay loaded",
    ]


def test_bad_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "a.csv", ["id"], [[1]])
    code, err = run(capsys, "load", str(tmp_path / "a.csv"), str(tmp_path / "t.db"), "--set", "sink.mdoe=append")
    assert code == EXIT_USAGE == 2
    assert err == ["loader: error: sink.mdoe: unknown key", "  hint: did you mean 'mode'?"]


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_line_break_delimiter_is_a_usage_error_not_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: list[str]
) -> None:
    """pyarrow refused it while reading: exit 65, blaming the file."""
    write_csv(tmp_path / "a.csv", ["id"], [[1]])
    code, err = run(capsys, "load", str(tmp_path / "a.csv"), str(tmp_path / "t.db"), "--delimiter", "\n", *dry_run)
    assert code == EXIT_USAGE
    assert err[0] == "loader: error: source.delimiter: expected a character other than a line break, got '\\n'"
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["load"], "--delimiter"),
        (["load", "--dry-run"], "--quote-char"),
        (["inspect"], "--escape-char"),
    ],
)
def test_a_non_ascii_dialect_character_is_a_usage_error_not_internal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], flag: str
) -> None:
    """pyarrow raised "ValueError: Expecting an ASCII character" mid-read: exit 1, "internal error"."""
    (tmp_path / "a.csv").write_text("a¦b\n1¦2\n", encoding="utf-8")
    target = [str(tmp_path / "t.db"), "--table", "t"] if command[0] == "load" else []
    code, err = run(capsys, command[0], str(tmp_path / "a.csv"), *target, *command[1:], flag, "¦")
    assert code == EXIT_USAGE
    key = flag.removeprefix("--").replace("-", "_")
    or_false = "" if key == "delimiter" else " or false"
    assert err[0] == f"loader: error: source.{key}: expected an ASCII character{or_false}, got '¦'"
    assert not (tmp_path / "t.db").exists()


def test_a_non_ascii_delimiter_in_a_job_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.csv").write_text("a¦b\n1¦2\n", encoding="utf-8")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path / "a.csv"}"\ndelimiter = "¦"\n[sink]\npath = "{tmp_path / "t.db"}"\ntable = "t"\n',
        encoding="utf-8",
    )
    for command in ("validate", "run"):
        code, err = run(capsys, command, str(job))
        assert code == EXIT_USAGE
        assert err[0] == f"loader: error: {job}: source.delimiter: expected an ASCII character, got '¦'"
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_config_error_after_a_commit_is_a_config_error_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_csv(inp / "1.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    write_csv(inp / "2.csv", ["v"], [["c"]])  # lacks the key column
    target = tmp_path / "t.ldb"
    code, err = run(
        capsys, "load", f"{inp}/*.csv", str(target), "--key", "k:{id}", "--engine", engine, "--workers", "1"
    )
    assert code == EXIT_CONFIG == 78
    assert target.is_dir()  # the first file's rows are committed, and kept
    assert err[-2:] == [
        f"loader: error: {inp}/2.csv: sink.key: no column 'id' in the data",  # the file that lacks it
        "  hint: columns are: v; then rerun: committed work is kept and the rerun resumes",
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(
    ("target", "key", "setting"),
    [("t.db", ["--table", "t", "--primary-key", "id"], "sink.primary_key"), ("t.ldb", ["--key", "{id}"], "sink.key")],
)
def test_a_later_runs_file_without_the_key_column_is_a_config_error_after_a_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, key: list[str], setting: str, engine: str
) -> None:
    """The earlier run's file is skipped, not committed again by this run: its rows still stand."""
    inp = tmp_path / "in"
    inp.mkdir()
    write_csv(inp / "a.csv", ["id", "name"], [[1, "a"]])
    args = ["load", f"{inp}/*.csv", str(tmp_path / target), *key, "--engine", engine, "--workers", "1", "-q"]
    assert main(args) == 0
    write_csv(inp / "b.csv", ["name"], [["b"]])
    code, err = run(capsys, *args, "--report", str(tmp_path / "r.json"))
    assert code == EXIT_CONFIG == 78
    assert err == [
        f"loader: error: {inp}/b.csv: {setting}: no column 'id' in the data",
        "  hint: columns are: name; then rerun: committed work is kept and the rerun resumes",
    ]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["status"], report["exit_code"], report["files_skipped"]) == ("failed", 78, 1)


def test_a_config_error_after_earlier_runs_that_wrote_no_row_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier run whose every row was rejected committed nothing to keep: exit 2, not
    78 with "committed work is kept"."""
    write_csv(tmp_path / "a.csv", ["id", "v"], [["a", "x"], ["b", "y"]])
    args = ["load", str(tmp_path / "a.csv"), str(tmp_path / "t.db"), "--table", "t", "-q"]
    assert main([*args, "--set", "source.columns.id=int64"]) == EXIT_NOTHING_LOADED
    capsys.readouterr()
    code, err = run(capsys, *args, "--set", "source.columns.id=string")
    assert code == EXIT_USAGE
    assert err == [
        "loader: error: source.columns.id: declared string, but earlier runs of job 'table:t' loaded it as int64",
        "  hint: declare it as they did (--columns id=int64), or, to load it as string, rerun with --restart"
        " --mode replace (every file of the job loads again)",
    ]
    # each command's hint names its own flags: `loader run` has no --columns nor --mode
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path / "a.csv"}"\ncolumns = {{id = "string"}}\n[sink]\npath = "{tmp_path / "t.db"}"\ntable = "t"\n'
    )
    code, err = run(capsys, "run", str(job), "-q")
    assert (code, err[1]) == (
        EXIT_USAGE,
        "  hint: declare it as they did (--set source.columns.id=int64), or, to load it as string, rerun with"
        " --restart --set sink.mode=replace (every file of the job loads again)",
    )


def test_every_error_class_carries_its_code_and_class() -> None:
    cases = [
        (ConfigError("x"), 2, FIX),
        (SourceError("file is empty", file="a.csv"), 65, FIX),
        (SourceChangedError("changed", file="a.csv"), 65, FIX),
        (SchemaMismatchError("no column"), 65, FIX),
        (SourceError.from_os(FileNotFoundError(errno.ENOENT, "x"), "a.csv", "open"), 66, FIX),
        (SourceError.from_os(PermissionError(errno.EACCES, "x"), "a.csv", "open"), 66, FIX),
        (SourceError.from_os(OSError(errno.EIO, "Input/output error"), "a.csv", "read"), 1, RERUN),
        (SinkError("no space left on the device", hint=RESUME_HINT), EXIT_FAILED, RERUN),
        (TargetLockedError("locked"), EXIT_LOCKED, RERUN),
        (InputGoneError("no such file: moved or deleted after the run listed its inputs", file="c.csv"), 75, RERUN),
        (EngineError("no scheduler"), EXIT_FAILED, RERUN),
        (InterruptedLoad(15), 143, RERUN),
        (InterruptedLoad(2), 130, RERUN),
    ]
    for exc, code, kind in cases:
        assert (exc.exit_code, exit_class(exc.exit_code)) == (code, kind), exc
        assert exc.hint, exc
    assert isinstance(cases[4][0], MissingInputError)
    assert str(cases[6][0]) == "a.csv: cannot read: Input/output error"
    # every documented code has a class, and only signals are outside the table
    assert sorted(EXIT_CLASS) == [0, 1, 2, 3, 4, 65, 66, 75, 78, 130, 143]
    assert exit_class(137) == RERUN  # SIGKILL, as a shell reports it


def test_docs_table_lists_every_code_with_its_class() -> None:
    text = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    table = text[text.index("## Exit codes") :]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    documented = {}
    for codes, kind in rows:
        for code in codes.split("/"):
            documented[int(code)] = kind.strip()
    assert documented == EXIT_CLASS


def test_a_primary_key_the_data_lacks_is_a_config_error_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "a.csv", ["user_id", "name"], [[1, "x"]])
    db = tmp_path / "t.db"
    code, err = run(capsys, "load", str(tmp_path / "a.csv"), str(db), "--table", "t", "--primary-key", "userid", "-q")
    assert code == EXIT_USAGE
    assert err == [
        f"loader: error: {tmp_path / 'a.csv'}: sink.primary_key: no column 'userid' in the data",
        "  hint: did you mean 'user_id'?",
    ]


NAMED_WRONG = {
    "index": ("t.db", ["--index", "nmae"], "sink.indexes: no column 'nmae' in the data", "did you mean 'name'?"),
    "primary key": (
        "t.db",
        ["--mode", "upsert", "--primary-key", "idd"],
        "sink.primary_key: no column 'idd' in the data",
        "did you mean 'id'?",
    ),
    "key": ("t.ldb", ["--key", "{idd}"], "sink.key: no column 'idd' in the data", "did you mean 'id'?"),
}


@pytest.mark.parametrize("case", sorted(NAMED_WRONG))
def test_a_column_named_wrong_leaves_no_new_target_and_dry_run_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, args, message, hint = NAMED_WRONG[case]
    src = write_csv(tmp_path / "a.csv", ["id", "name"], [[1, "x"]])
    target = tmp_path / name
    expected = [f"loader: error: {src}: {message}", f"  hint: {hint}"]
    assert run(capsys, "load", str(src), str(target), *args, "--dry-run") == (EXIT_USAGE, expected)
    assert run(capsys, "load", str(src), str(target), *args) == (EXIT_USAGE, expected)
    # exit 2 says nothing was written: the target this run made is gone, with its side files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_column_named_wrong_keeps_a_target_that_was_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "a.csv", ["id", "name"], [[1, "x"]])
    target = tmp_path / "t.db"
    assert run(capsys, "load", str(src), str(target), "-q") == (0, [])
    code, _ = run(capsys, "load", str(src), str(target), "--table", "u", "--index", "nmae")
    assert code == EXIT_USAGE
    assert sqlite3.connect(target).execute("SELECT id, name FROM a").fetchall() == [(1, "x")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_the_file_a_run_stopped_in_is_reported_incomplete(tmp_path: Path, engine: str) -> None:
    import json

    a = write_csv(tmp_path / "a.csv", ["x"], [[1], [2]])
    c = write_csv(tmp_path / "c.csv", ["x", "y"], [[1, 2]])  # a column the table lacks
    report = tmp_path / "r.json"
    args = ["load", str(a), str(c), str(tmp_path / "t.db"), "--table", "t", "--report", str(report)]
    assert main([*args, "--engine", engine, "--workers", "1", "-q"]) == EXIT_DATAERR
    data = json.loads(report.read_text())
    assert [(f["path"], f["status"], f["rows_written"]) for f in data["files"]] == [
        (str(a), "loaded", 2),
        (str(c), "incomplete", 0),
    ]
    assert data["files_loaded"] == 1


def test_a_key_the_table_has_already_rejects_its_row_naming_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It stopped the load with 65 and ``c.db: UNIQUE constraint failed: t.id``: neither the
    input file nor the row named, and the good rows of the batch not loaded."""
    db = str(tmp_path / "c.db")
    ok, dup = tmp_path / "ok.csv", tmp_path / "d2.csv"
    write_csv(ok, ["id", "v"], [[1, "a"]])
    write_csv(dup, ["id", "v"], [[1, "a"], [2, "b"], [3, "c"], [2, "d"]])
    assert run(capsys, "load", str(ok), db, "--table", "t", "--primary-key", "id", "--mode", "upsert", "-q")[0] == 0
    code, err = run(capsys, "load", str(dup), db, "--table", "t", "--primary-key", "id")
    assert code == EXIT_OK
    rejects = f"{db}.table-t.rejects.jsonl"
    assert err[-1].endswith(f"WARNING 2 rows rejected, see {rejects}")
    lines = [json.loads(line) for line in Path(rejects).read_text().splitlines()]
    assert [(r["file"], r["line"], r["column"], r["reason"]) for r in lines] == [
        (str(dup), 2, "id", "key 1 is already in table 't' (UNIQUE constraint failed: t.id)"),
        (str(dup), 5, "id", "key 2 is already in table 't' (UNIQUE constraint failed: t.id)"),
    ]
    assert sqlite3.connect(db).execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b"), (3, "c")]


def test_a_transform_failing_on_the_data_is_a_data_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, db = tmp_path / "ovf.csv", str(tmp_path / "t.db")
    write_csv(src, ["id", "n"], [[1, 5], [2, 9223372036854775807], [3, 1]])
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{src}"\n[[transform]]\ntype = "derive"\ncolumns = {{ n2 = "n * 2" }}\n'
        f'[sink]\npath = "{db}"\ntable = "t"\n'
    )
    code, err = run(capsys, "run", str(job), "-q")
    assert code == EXIT_DATAERR
    assert err == [
        f"loader: error: transform[1] (derive): {src}, line 3: columns.n2: operator '*' failed: overflow at position 3 "
        'in "n * 2"',
        "  hint: fix the data or the stage, then rerun: committed work is kept and the rerun resumes",
    ]


@pytest.mark.parametrize("args", [["--index", "c"], ["--mode", "upsert", "--primary-key", "c"]])
def test_a_later_file_without_an_index_or_key_column_is_named_on_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    first = write_csv(tmp_path / "g1.csv", ["a", "b", "c"], [[1, 2, 3]])
    later = write_csv(tmp_path / "g2.csv", ["a", "b"], [[4, 5]])
    db = tmp_path / "u.db"
    code, err = run(
        capsys, "load", str(first), str(later), str(db), "--table", "t", *args, "--engine", "processes", "-q"
    )
    assert code == EXIT_CONFIG
    setting = "sink.indexes" if "--index" in args else "sink.primary_key"
    assert err[0] == f"loader: error: {later}: {setting}: no column 'c' in the data"


def test_nothing_loaded_after_earlier_runs_hints_a_reload_of_that_file_not_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scheduled glob's new file whose every row is rejected: --restart, as the hint said,
    loaded the earlier runs' files again (their rows twice in an append table). (A malformed
    row: a value a type earlier runs recorded refuses has its own hint, below.)"""
    write_csv(tmp_path / "a.csv", ["id", "zip"], [[1, 12345], [2, 23456]])
    args = ["load", str(tmp_path / "*.csv"), str(tmp_path / "t.db"), "--table", "z", "-q"]
    assert main(args) == 0
    write_csv(tmp_path / "b.csv", ["id", "zip"], [[3, 1234, "x"]])
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == _fix_the_file(tmp_path / "t.db", "z", _LOADS_AGAIN)
    write_csv(tmp_path / "b.csv", ["id", "zip"], [[3, 1234]])
    assert main([*args, "--set", "run.on_change=reload"]) == 0
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT id, zip FROM z ORDER BY id").fetchall() == [(1, 12345), (2, 23456), (3, 1234)]


def test_nothing_loaded_after_earlier_runs_of_other_files_hints_a_reload_not_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file a day into one table: the earlier days' files are no input of this run, and
    --restart, as the hint said, made the job forget them."""
    db = tmp_path / "t.db"
    day1 = write_csv(tmp_path / "d1.csv", ["id", "zip"], [[1, 12345]])
    assert main(["load", str(day1), str(db), "--table", "z", "-q"]) == 0
    day2 = write_csv(tmp_path / "d2.csv", ["id", "zip"], [[2, 1234, "x"]])
    args = ["load", str(day2), str(db), "--table", "z", "-q"]
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == _fix_the_file(db, "z", _FORGETS)
    write_csv(day2, ["id", "zip"], [[2, 1234]])
    assert main([*args, "--set", "run.on_change=reload"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, zip FROM z ORDER BY id").fetchall() == [(1, 12345), (2, 1234)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_nothing_loaded_for_a_type_earlier_runs_recorded_hints_declare_and_reload_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """Day 2's amounts gain cents: each is rejected as "amount is int64 since an earlier run of
    this job: ... declare the type and reload every file with --restart", and the hint said to fix
    the file or replay the rows (both rejected again) and "not --restart". It now names the route
    the reason names, which loads them."""
    (tmp_path / "daily").mkdir()
    write_csv(tmp_path / "daily" / "d1.csv", ["id", "amount"], [[1, 10], [2, 20]])
    db = tmp_path / "t.db"
    args = ["load", str(tmp_path / "daily" / "*.csv"), str(db), "--table", "s", "--engine", engine, "-q"]
    assert main(args) == 0
    write_csv(tmp_path / "daily" / "d2.csv", ["id", "amount"], [[3, "30.5"], [4, "40.25"]])
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {db}.table-s.rejects.jsonl; their values are of other types than earlier "
        "runs recorded: declare the type (--columns, or source.columns in a job file) and rerun with "
        "--restart --mode replace (every file of the job loads again)"
    )
    assert main([*args, "--columns", "amount=float64", "--restart", "--mode", "replace"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, amount FROM s ORDER BY id").fetchall() == [
            (1, 10.0),
            (2, 20.0),
            (3, 30.5),
            (4, 40.25),
        ]


def test_nothing_loaded_for_a_recorded_type_and_a_malformed_row_hints_both_fixes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "d1.csv", ["id", "amount"], [[1, 10]])
    db = tmp_path / "t.db"
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "s", "-q"]) == 0
    day2 = write_csv(tmp_path / "d2.csv", ["id", "amount"], [[3, "30.5"], [4, 5, 6]])
    assert main(["load", str(day2), str(db), "--table", "s", "-q"]) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == _fix_the_file(
        db, "s", f"{_DECLARE}; but it would drop {_drops(tmp_path / 'd1.csv')}: put them back first, or add --drop-gone"
    )


# what the reason of a value of another type than an earlier run recorded ends with
_CHANGE = ': to change it, declare the type and reload every file with --restart and mode = "replace"'


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_nothing_loaded_for_typos_in_columns_earlier_runs_typed_hints_fixing_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """A month 13 in a date column, x or 1.2.3 in an int64 one: values of no type but text,
    typos. The hint said to declare the type and reload every file (the column's every date
    made text for a typo), and each reason to change the type: they say to fix the file."""
    write_csv(tmp_path / "d1.csv", ["id", "day", "n"], [[1, "2024-01-05", 7]])
    db = tmp_path / "h.db"
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "t", "--engine", engine, "-q"]) == 0
    rows = [[2, "2024-13-05", 8], [3, "2024-01-06", "x"], [4, "2024-01-07", "1.2.3"]]
    day2 = write_csv(tmp_path / "d2.csv", ["id", "day", "n"], rows)
    args = ["load", str(day2), str(db), "--table", "t", "--engine", engine, "-q"]
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == _fix_the_file(db, "t", _FORGETS)
    lines = [json.loads(line) for line in Path(f"{db}.table-t.rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in lines] == [
        "'2024-13-05' is not a valid date; day is date since an earlier run of this job",
        "'x' is not a valid int64; n is int64 since an earlier run of this job",
        "'1.2.3' is not a valid int64; n is int64 since an earlier run of this job",
    ]
    write_csv(day2, ["id", "day", "n"], [[2, "2024-12-05", 8], [3, "2024-01-06", 9], [4, "2024-01-07", 1]])
    assert main([*args, "--set", "run.on_change=reload"]) == 0  # the fix the hint names loads them
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, day, n FROM t ORDER BY id").fetchall() == [
            (1, "2024-01-05", 7),
            (2, "2024-12-05", 8),
            (3, "2024-01-06", 9),
            (4, "2024-01-07", 1),
        ]


def test_nothing_loaded_for_typos_and_values_of_other_types_in_typed_columns_hints_both_fixes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Values of other types than the recorded ones (a timestamp in a date column, 30.5, a
    leading zero and an integer past int64 in an int64 one) take the declare-and-reload route;
    a typo beside them (2024-13-05), the fix of the file."""
    write_csv(tmp_path / "d1.csv", ["id", "day", "n"], [[1, "2024-01-05", 7]])
    db = tmp_path / "h.db"
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "t", "-q"]) == 0
    rows = [
        [2, "2024-01-05 10:00", 1],
        [3, "2024-01-06", "30.5"],
        [4, "2024-01-07", "007"],
        [5, "2024-01-08", "99999999999999999999"],
        [6, "2024-13-05", 2],
    ]
    day2 = write_csv(tmp_path / "d2.csv", ["id", "day", "n"], rows)
    assert main(["load", str(day2), str(db), "--table", "t", "-q"]) == EXIT_NOTHING_LOADED
    drops = _drops(tmp_path / "d1.csv")  # day 1 is no input of this run
    assert capsys.readouterr().err.splitlines()[-1] == _fix_the_file(
        db, "t", f"{_DECLARE}; but it would drop {drops}: put them back first, or add --drop-gone"
    )
    lines = [json.loads(line) for line in Path(f"{db}.table-t.rejects.jsonl").read_text().splitlines()]
    day, n = "; day is date since an earlier run of this job", "; n is int64 since an earlier run of this job"
    change = f"{_CHANGE}; but that would drop {drops}"
    assert [(r["row"], r["reason"].split("; ", 1)[1]) for r in lines] == [
        (1, day[2:] + change),
        (2, n[2:] + change),
        (3, n[2:] + change),
        (4, n[2:] + change),
        (5, day[2:]),
    ]


def test_nothing_loaded_after_earlier_runs_that_wrote_no_row_hints_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Earlier runs whose every row was rejected: --restart loads nothing twice."""
    db = tmp_path / "t.db"
    day1 = write_csv(tmp_path / "d1.csv", ["id", "zip"], [[1, "x0123"]])
    assert main(["load", str(day1), str(db), "--table", "z", "--set", "source.columns.zip=int64", "-q"]) == 4
    capsys.readouterr()
    day2 = write_csv(tmp_path / "d2.csv", ["id", "zip"], [[2, "x0124"]])
    assert main(["load", str(day2), str(db), "--table", "z", "-q"]) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {db}.table-z.rejects.jsonl; fix the cause and rerun with --restart "
        "(and --mode replace if this run created the table with the wrong columns)"
    )


def test_nothing_loaded_in_a_first_run_hints_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "a.csv", ["id", "zip"], [[1, "x0123"]])
    args = ["load", str(src), str(tmp_path / "t.db"), "--table", "z", "--columns", "zip=int64", "-q"]
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {tmp_path / 't.db'}.table-z.rejects.jsonl; fix the cause and rerun with "
        "--restart (and --mode replace if this run created the table with the wrong columns)"
    )


def test_nothing_loaded_for_a_partition_folders_value_hints_a_rename_of_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The value is in the folder's name: "fix the file and rerun with --set run.on_change=reload",
    as the hint said, read the same folder again. A renamed folder's file loads on a plain rerun."""
    src, db = tmp_path / "s", tmp_path / "t.db"
    for day in ("2024-01-31", "later"):
        (src / f"day={day}").mkdir(parents=True)
    write_csv(src / "day=2024-01-31" / "a.csv", ["id"], [[1]])
    args = ["load", str(src / "*" / "*.csv"), str(db), "--table", "t", "-q"]
    assert main(args) == 0
    write_csv(src / "day=later" / "c.csv", ["id"], [[2], [3]])
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {db}.table-t.rejects.jsonl; rename the folder day=later to a value of "
        "day's type (the value is the folder's name, not the file's) and rerun, or declare it string "
        "(--columns day=string) and reload every file: rerun with --restart --mode replace (every file of the job loads again)"
    )
    (src / "day=later").rename(src / "day=2024-02-01")
    assert main(args) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, day FROM t ORDER BY id").fetchall() == [
            (1, "2024-01-31"),
            (2, "2024-02-01"),
            (3, "2024-02-01"),
        ]


def test_nothing_loaded_for_a_partition_folders_value_in_a_first_run_hints_a_rename_then_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "day=later").mkdir()
    write_csv(tmp_path / "day=later" / "c.csv", ["id"], [[2]])
    db = tmp_path / "t.db"
    args = ["load", str(tmp_path / "*" / "*.csv"), str(db), "--table", "t", "--set", "source.columns.day=date", "-q"]
    assert main(args) == EXIT_NOTHING_LOADED
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {db}.table-t.rejects.jsonl; rename the folder day=later to a value of "
        "day's type (the value is the folder's name, not the file's), or declare it string "
        "(--columns day=string); then rerun with --restart (and --mode replace if this run created the table)"
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_the_reload_every_file_hint_names_the_files_retention_removed_and_the_restart_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """The type-drift hint promised "every file of the job loads again"; followed, the replace
    dropped the rows of the files retention had removed from the folder, exit 0. The hint and
    the reason name them, the --restart is refused (exit 2) before it changes anything, and
    --drop-gone lets it drop them."""
    daily = tmp_path / "daily"
    daily.mkdir()
    db = tmp_path / "t.db"
    args = ["load", str(daily / "*.csv"), str(db), "--table", "s", "--engine", engine, "-q"]
    for day in (1, 2, 3):
        write_csv(daily / f"d{day}.csv", ["id", "amount"], [[day * 10 + 1, day]])
        assert main(args) == 0
    (daily / "d1.csv").unlink()  # retention
    write_csv(daily / "d4.csv", ["id", "amount"], [[41, "4.5"]])
    assert main(args) == EXIT_NOTHING_LOADED
    gone = f"the 1 rows of 1 file the job loaded that is no longer among its inputs ({daily / 'd1.csv'}: 1 rows)"
    rejects = Path(f"{db}.table-s.rejects.jsonl")
    assert json.loads(rejects.read_text())["reason"] == (
        "'4.5' is not a valid int64; amount is int64 since an earlier run of this job: to change it, declare the "
        f'type and reload every file with --restart and mode = "replace"; but that would drop {gone}'
    )
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"  hint: rejected rows are in {rejects}; their values are of other types than earlier "
        "runs recorded: declare the type (--columns, or source.columns in a job file) and rerun with "
        f"--restart --mode replace (every file of the job loads again); but it would drop {gone}: put them back "
        "first, or add --drop-gone"
    )
    before = rejects.read_bytes()
    reload = [*args, "--columns", "amount=float64", "--restart", "--mode", "replace"]
    for dry in ([], ["--dry-run"]):
        assert main([*reload, *dry]) == 2
        assert capsys.readouterr().err.splitlines()[-2:] == [
            f"loader: error: run.restart with sink.mode = 'replace' would drop {gone}",
            "  hint: put them back where source.path finds them and rerun (they load again with the others), or "
            "rerun with --drop-gone to drop their rows; nothing was changed",
        ]
    with sqlite3.connect(db) as conn:  # nothing changed: the rows, the checkpoint, the reject file
        assert conn.execute("SELECT id, amount FROM s ORDER BY id").fetchall() == [(11, 1), (21, 2), (31, 3)]
        assert conn.execute("SELECT count(*) FROM _loader_state WHERE key LIKE 'file:%'").fetchone() == (4,)
    assert rejects.read_bytes() == before
    assert main([*reload, "--drop-gone"]) == 0  # as the user says
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, amount FROM s ORDER BY id").fetchall() == [(21, 2.0), (31, 3.0), (41, 4.5)]
