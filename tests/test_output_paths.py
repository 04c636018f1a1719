"""Issue 18, items 1, 2, 3 and 8: output paths that could destroy data, reject files shared by
jobs, the lock through a symlink, and exit codes and reports that say what happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loader.cli import main
from loader.lock import TargetLock
from tests.conftest import sqlite_rows, write_csv
from tests.reliability_util import reject_lines, sqlite_state


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def shop(tmp_path: Path, rows: int = 1000) -> tuple[Path, Path]:
    """A CSV input and a database it was loaded into."""
    src = write_csv(tmp_path / "in.csv", ["id", "name"], [[i, f"n{i}"] for i in range(rows)])
    db = tmp_path / "shop.db"
    assert main(["load", str(src), str(db), "--table", "t", "-q"]) == 0
    return src, db


def test_18_1_rejects_path_on_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, db = shop(tmp_path)
    (tmp_path / "link.db").symlink_to(db)
    ldb = tmp_path / "t.ldb"
    assert main(["load", str(src), str(ldb), "--key", "k:{id}", "-q"]) == 0
    before = {p: p.read_bytes() for p in (src, db)}
    cases = [
        (["--rejects", str(db)], f"run.rejects: writing {db} would overwrite the target {db}"),
        (["--report", str(db)], f"run.report: writing {db} would overwrite the target {db}"),
        (
            ["--report", str(tmp_path / "link.db")],
            f"run.report: writing {tmp_path}/link.db would overwrite the target {db}",
        ),
        (
            ["--metrics-file", f"{db}-journal"],
            f"run.metrics_file: writing {db}-journal would overwrite the target {db}",
        ),
        (["--rejects", str(src)], f"run.rejects: writing {src} would overwrite the input {src}"),
        (["--report", str(src)], f"run.report: writing {src} would overwrite the input {src}"),
        (["--metrics-file", str(src)], f"run.metrics_file: writing {src} would overwrite the input {src}"),
        (
            ["--report", str(tmp_path / "x.json"), "--metrics-file", str(tmp_path / "x.json")],
            f"run.metrics_file: {tmp_path}/x.json is also run.report ({tmp_path}/x.json); each output needs a file of its own",
        ),
        (
            ["--report", f"{db}.lock"],
            f"run.report: {db}.lock is also the lock file ({db}.lock); each output needs a file of its own",
        ),
    ]
    for flags, message in cases:
        code, err = run(capsys, "load", str(src), str(db), "--table", "t", *flags)
        assert (code, err.splitlines()[0]) == (2, f"loader: error: {message}"), flags
        assert {p: p.read_bytes() for p in (src, db)} == before, flags
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(1000,)]
    # another database, or a file that is no output of loader's
    other = tmp_path / "other.db"
    assert main(["load", str(src), str(other), "--table", "t", "-q"]) == 0
    notes = tmp_path / "notes.csv"
    notes.write_text("keep,me\n1,2")
    kept = {p: p.read_bytes() for p in (other, notes)}
    for flags, message in [
        (
            ["--rejects", str(other)],
            f"run.rejects: {other} exists and is a SQLite database; the run would overwrite it",
        ),
        (["--report", str(other)], f"run.report: {other} exists and is a SQLite database; the run would overwrite it"),
        (
            ["--rejects", str(notes)],
            f"run.rejects: {notes} exists and is not a file loader wrote; the run would overwrite it",
        ),
        (
            ["--metrics-file", str(notes)],
            f"run.metrics_file: {notes} exists and is not a file loader wrote; the run would overwrite it",
        ),
    ]:
        code, err = run(capsys, "load", str(src), str(tmp_path / "fresh.db"), "--table", "t", *flags)
        assert (code, err.splitlines()[0]) == (2, f"loader: error: {message}"), flags
        assert {p: p.read_bytes() for p in (other, notes)} == kept, flags
    assert not (tmp_path / "fresh.db").exists()
    # its own report, rejects and metrics from an earlier run are replaced as always
    own = [
        "--report",
        str(tmp_path / "r.json"),
        "--rejects",
        str(tmp_path / "r.jsonl"),
        "--metrics-file",
        str(tmp_path / "m.prom"),
    ]
    assert run(capsys, "load", str(src), str(tmp_path / "fresh.db"), "--table", "t", *own)[0] == 0
    (tmp_path / "r.jsonl").write_text('{"job": "table:t"}\n')
    assert run(capsys, "load", str(src), str(tmp_path / "fresh.db"), "--table", "t", "--restart", *own)[0] == 0
    # inside a LevelDB directory
    code, err = run(capsys, "load", str(src), str(ldb), "--key", "k:{id}", "--report", str(ldb / "CURRENT"))
    assert (code, err.splitlines()[0]) == (
        2,
        f"loader: error: run.report: writing {ldb}/CURRENT would overwrite the target {ldb}",
    )
    assert (ldb / "CURRENT").read_text().startswith("MANIFEST-")


def test_18_2_two_jobs_in_one_database_keep_their_own_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "shop.db"
    a = write_csv(tmp_path / "a.csv", ["id", "n"], [[1, 1], [2, "x"], [3, "y"]] + [[i, i] for i in range(4, 60)])
    b = write_csv(tmp_path / "b.csv", ["id", "n"], [[1, 1], [2, "z"]] + [[i, i] for i in range(3, 60)])
    for src, table in ((a, "a"), (b, "b"), (a, "a")):
        assert main(["load", str(src), str(db), "--table", table, "--columns", "n=int64", "-q"]) == 0
    assert [r["row"] for r in reject_lines(Path(f"{db}.table-a.rejects.jsonl"))] == [2, 3]
    assert [r["row"] for r in reject_lines(Path(f"{db}.table-b.rejects.jsonl"))] == [2]
    assert reject_lines(Path(f"{db}.table-b.rejects.jsonl"))[0]["job"] == "table:b"


def test_18_2_a_shared_reject_file_keeps_other_jobs_lines_and_repairs_a_torn_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, shared = tmp_path / "shop.db", tmp_path / "shared.jsonl"
    a1 = write_csv(tmp_path / "a1.csv", ["id", "n"], [[1, "x"], [2, 2]])
    a2 = write_csv(tmp_path / "a2.csv", ["id", "n"], [[3, "y"], [4, 4]])
    b = write_csv(tmp_path / "b.csv", ["id", "n"], [[1, "z"], [2, 2]])

    def load(src: Path, table: str) -> None:
        flags = ["--table", table, "--columns", "n=int64", "--rejects", str(shared), "-q"]
        assert main(["load", str(src), str(db), *flags]) == 0

    load(a1, "a")
    # job a is killed after writing a reject it never committed, then b runs, then a tears a line
    with open(shared, "a", encoding="utf-8") as fh:
        fh.write('{"job": "table:a", "file": "a1.csv", "row": 9, "reason": "uncommitted"}\n')
    load(b, "b")
    with open(shared, "a", encoding="utf-8") as fh:
        fh.write('{"job": "table:a", "file": "a1.csv", "row": 10, "rea')
    load(a2, "a")
    assert [(r["job"], r["file"], r["row"]) for r in reject_lines(shared)] == [
        ("table:a", str(a1), 1),
        ("table:b", str(b), 1),
        ("table:a", str(a2), 1),
    ]
    load(b, "b")  # b's checkpoint predates a's rewrite: it keeps its line and adds none
    assert len(reject_lines(shared)) == 3


def test_18_3_lock_is_taken_on_the_resolved_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", ["id"], [[1], [2]])
    db, link = tmp_path / "t.db", tmp_path / "link.db"
    link.symlink_to(db)
    with TargetLock(str(db)):
        code, err = run(capsys, "load", str(src), str(link), "--table", "t")
    assert (code, err.splitlines()[0]) == (75, f"loader: error: {link}: another loader run is writing this target")
    assert not db.exists()
    assert not (tmp_path / "link.db.lock").exists()


def test_18_3_symlinked_input_directory_cannot_reach_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "a.csv", ["id"], [[1]])
    (tmp_path / "link").symlink_to(data)
    code, err = run(capsys, "load", f"{tmp_path}/link/*", str(data / "out.db"), "--format", "csv", "--table", "t")
    assert (code, err.splitlines()[0]) == (
        2,
        f"loader: error: sink.path: the target {data}/out.db matches the input pattern '{tmp_path}/link/*'",
    )
    assert not (data / "out.db").exists()


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_18_8_a_config_error_after_a_commit_exits_78_with_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_csv(inp / "1.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    write_csv(inp / "2.csv", ["v"], [["c"]])  # lacks the key column
    target, report = tmp_path / "t.ldb", tmp_path / "r.json"
    code, err = run(capsys, "load", f"{inp}/*.csv", str(target), "--key", "k:{id}", "--report", str(report))
    assert code == 78
    assert err.splitlines()[-2] == f"loader: error: {inp}/2.csv: sink.key: no column 'id' in the data"
    assert err.splitlines()[-1] == "  hint: columns are: v; then rerun: committed work is kept and the rerun resumes"
    data = report_of(report)
    assert (data["status"], data["exit_code"], data["rows_written"], data["files_loaded"]) == ("failed", 78, 2, 1)


def test_18_8_reserved_table_name_is_refused_in_any_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, db = shop(tmp_path)
    code, err = run(capsys, "load", str(src), str(db), "--table", "_LOADER_STATE", "--mode", "replace")
    assert err.splitlines()[:2] == [
        "loader: error: sink.table: '_LOADER_STATE' is reserved for the loader's own use",
        "  hint: name another table (--table)",
    ]
    assert code == 2  # fix the job, then rerun: nothing was written
    assert "file:" + str(src) in sqlite_state(db)  # the other job's checkpoint is still there
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(1000,)]


def test_18_8_a_changed_half_loaded_file_is_reported_as_skipped_because_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[list[Any]] = [[i, i] for i in range(1, 101)]
    rows[59][1] = "bad"
    src = write_csv(tmp_path / "in.csv", ["id", "n"], rows)
    db, report = tmp_path / "t.db", tmp_path / "r.json"
    flags = ["--table", "t", "--columns", "n=int64", "--chunk-size", "10", "--batch-size", "10"]
    assert main(["load", str(src), str(db), *flags, "--max-rejects", "0", "-q"]) == 3
    committed = sqlite_rows(db, "SELECT count(*) FROM t")[0][0]
    assert 0 < committed < 99
    capsys.readouterr()
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("101,101\n")
    code, err = run(capsys, "load", str(src), str(db), *flags, "--on-change", "skip", "--report", str(report))
    assert code == 0
    assert err.startswith(
        f"ok: 0 rows written to {db} (table t) from 0 files, 1 changed since loaded and skipped ({committed:,} committed rows kept) in "
    )
    data = report_of(report)
    assert (data["files_skipped"], data["files_changed"]) == (0, 1)
    assert [(f["status"], f["rows_kept"]) for f in data["files"]] == [("changed-skipped", committed)]
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(committed,)]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_18_8_ignored_duplicates_are_counted_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: str
) -> None:
    first = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"], [2, "b"], [3, "c"]])
    second = write_csv(tmp_path / "b.csv", ["id", "v"], [[2, "B"], [3, "C"], [4, "d"], [5, "e"]])
    target, report = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb"), tmp_path / "r.json"
    flags = ["--table", "t", "--primary-key", "id"] if sink == "sqlite" else ["--key", "k:{id}"]
    for src in (first, second):
        code, err = run(
            capsys, "load", str(src), str(target), *flags, "--mode", "ignore", "--report", str(report), "--job", "j"
        )
        assert code == 0, err
    assert "; 2 ignored (key already there, or dropped by the table)" in err
    data = report_of(report)
    counts = [data[k] for k in ("rows_read", "rows_written", "rows_rejected", "rows_filtered", "rows_ignored")]
    assert counts == [4, 2, 0, 0, 2]
    assert data["files"][0]["rows_ignored"] == 2
    if sink == "sqlite":
        assert sqlite_rows(target, "SELECT id, v FROM t ORDER BY id") == [
            (1, "a"),
            (2, "b"),
            (3, "c"),
            (4, "d"),
            (5, "e"),
        ]


def test_an_output_path_under_a_regular_file_says_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_csv(tmp_path / "in.csv", ["id", "n"], [[1, "5"], [2, "oops"]])
    under = tmp_path / "in.csv"
    cases = [
        (["--rejects", f"{under}/r.jsonl", "--columns", "n=int64"], f"{under}/r.jsonl: cannot write the reject file"),
        (["--report", f"{under}/r.json"], f"run.report: cannot write {under}/r.json"),
        (["--set", f"run.metrics_file={under}/m.prom"], f"run.metrics_file: cannot write {under}/m.prom"),
    ]
    for flags, message in cases:
        code, err = run(capsys, "load", str(src), str(tmp_path / "t.db"), "--table", "t", "-q", *flags)
        assert (code, err.splitlines()[0]) == (1, f"loader: error: {message}: Not a directory")
    code, err = run(capsys, "load", str(src), f"{under}/t.db", "--table", "t", "-q")
    assert (code, err.splitlines()[0]) == (
        1,
        f"loader: error: cannot create the lock file {under}/t.db.lock: Not a directory",
    )


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        (["--key", "{id}", "--sort", "always", "--set"], "run.temp_dir"),
        (["--table", "t", "--engine", "processes", "--set"], "run.spill_dir"),
    ],
)
def test_a_working_directory_under_a_regular_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], key: str
) -> None:
    """A temporary or spill directory with a file in its way was an internal error (exit 1)
    at the first spill: it is refused before the target is made."""
    src = write_csv(tmp_path / "in.csv", ["id", "n"], [[1, "5"], [2, "6"]])
    target = tmp_path / ("t.ldb" if key == "run.temp_dir" else "t.db")
    code, err = run(capsys, "load", str(src), str(target), "-q", *flags, f"{key}={src}/work")
    assert (code, err.splitlines()[0]) == (
        2,
        f"loader: error: {key}: {src}/work cannot be a directory: {src} is a file",
    )
    assert not target.exists()


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        (["--key", "{id}", "--sort", "always", "--set"], "run.temp_dir"),
        (["--table", "t", "--engine", "processes", "--set"], "run.spill_dir"),
    ],
)
def test_a_working_directory_whose_folder_name_is_too_long_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], key: str
) -> None:
    """A 300-byte folder name passed the check (``os.path.exists`` says False of it) and the
    first spill failed with an internal OSError (exit 1): it is refused, naming the option."""
    src = write_csv(tmp_path / "in.csv", ["id", "n"], [[1, "5"], [2, "6"]])
    target = tmp_path / ("t.ldb" if key == "run.temp_dir" else "t.db")
    work = tmp_path / ("w" * 300) / "runs"
    for dry in ([], ["--dry-run"]):
        code, err = run(capsys, "load", str(src), str(target), "-q", *dry, *flags, f"{key}={work}")
        assert (code, err.splitlines()) == (
            2,
            [
                f"loader: error: {key}: {work} cannot be a directory: its folder name {'w' * 20}... is 300 bytes, "
                f"longer than the 255 a name holds on {tmp_path}",
                f"  hint: set {key} to a path of shorter folder names",
            ],
        )
    assert not target.exists()


def test_a_long_input_name_gives_a_default_reject_file_name_that_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 237-byte file name (its stem the table) made the default reject file's name 258 bytes:
    every load with a reject failed with exit 1 and "rerun the same command", forever."""
    from loader.rejects import default_rejects_path
    from loader.replay import replay_rejects_path

    stem = "sales_export_" + "x" * 220
    src = tmp_path / f"{stem}.csv"
    src.write_text("id,v\n1,a\n1,b\n", encoding="utf-8")
    db = tmp_path / "t.db"
    for _ in range(2):
        assert main(["load", str(src), str(db), "--primary-key", "id", "-q"]) == 0
    [rejects] = [p for p in tmp_path.iterdir() if p.name.endswith(".rejects.jsonl")]
    assert rejects == Path(default_rejects_path(str(db), f"table:{stem}"))
    assert len(rejects.name.encode()) == 234  # room for .replay and a rewrite's temporary name
    assert rejects.name.startswith("t.db.table-sales_export_xxx")
    assert [(r["job"], r["row"]) for r in reject_lines(rejects)] == [(f"table:{stem}", 2)]
    assert len(Path(replay_rejects_path(str(rejects))).name.encode()) <= 255
    # a name that fits is unchanged; two long names stay apart, whole characters kept
    assert default_rejects_path("/d/t.db", "table:t") == "/d/t.db.table-t.rejects.jsonl"
    longer = Path(default_rejects_path("/d/t.db", f"table:{stem}y")).name
    assert longer != rejects.name and len(longer.encode()) == 234
    wide = Path(default_rejects_path("/d/" + "é" * 120 + ".db", "table:t")).name
    assert len(wide.encode()) <= 234 and wide.encode().decode("utf-8").startswith("é" * 100)


def test_a_reject_file_name_too_long_is_a_fix_error_naming_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENAMETOOLONG was exit 1 (class rerun), which no rerun gets past."""
    src = write_csv(tmp_path / "in.csv", ["id", "n"], [[1, "5"], [2, "oops"]])
    path = tmp_path / ("r" * 300 + ".jsonl")
    flags = ["--rejects", str(path), "--columns", "n=int64"]
    code, err = run(capsys, "load", str(src), str(tmp_path / "t.db"), "--table", "t", "-q", *flags)
    assert code == 2  # fix-class: nothing was committed (the reject goes before the batch's commit)
    assert err.splitlines()[0] == f"loader: error: {path}: cannot write the reject file: File name too long"
    assert "name a shorter reject file with --rejects PATH (run.rejects)" in err


def test_two_jobs_whose_names_spell_the_same_share_the_default_reject_file_line_by_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As docs/reliability.md says: ``table:a/b`` and ``table:a:b`` both spell ``table-a-b``."""
    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"], [1, "b"]])
    db = tmp_path / "t.db"
    for table in ("a/b", "a:b", "a/b"):
        assert main(["load", str(src), str(db), "--table", table, "--primary-key", "id", "-q"]) == 0
    [shared] = [p for p in tmp_path.iterdir() if p.name.endswith(".rejects.jsonl")]
    assert shared.name == "t.db.table-a-b.rejects.jsonl"
    assert [(r["job"], r["row"]) for r in reject_lines(shared)] == [("table:a/b", 2), ("table:a:b", 2)]
