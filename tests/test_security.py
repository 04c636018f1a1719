"""No input injects SQL, no config value runs as code, and nothing a run writes can be read back as input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import sqlite_rows, write_csv
from tests.reliability_util import cli, in_process, leveldb_items, write_job

KEY_HINT = "  hint: a key template names columns and format specs only, e.g. user:{id} or {id:08d}\n"


def test_hostile_column_and_table_names_load_as_plain_names(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "w.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE x (keep INTEGER)")
    conn.execute("CREATE TABLE y (keep INTEGER)")
    conn.execute("INSERT INTO x VALUES (42)")
    conn.commit()
    conn.close()
    table = 'x"; DROP TABLE y; --'
    p = cli("load", str(data_dir / "weird_names.csv"), str(db), "--table", table)
    assert p.returncode == 0, p.stderr
    # header: "; DROP TABLE x; --, select, (empty), dup, dup, naïve col, with space
    names = [
        r[0] for r in sqlite_rows(db, f"SELECT name FROM pragma_table_info('{table.replace(chr(39), chr(39) * 2)}')")
    ]
    assert names == ['"; DROP TABLE x; --', "select", "column_3", "dup", "dup_2", "naïve col", "with space"]
    rows = sqlite_rows(db, 'SELECT * FROM "x""; DROP TABLE y; --" ORDER BY "select"')
    assert rows == [(1, 2, 3, 4, 5, 6, 7), (8, 9, 10, 11, 12, 13, 14)]
    assert sqlite_rows(db, 'SELECT """; DROP TABLE x; --", "naïve col" FROM "x""; DROP TABLE y; --"') == [
        (1, 6),
        (8, 13),
    ]
    # the tables the names talk about are untouched
    assert sqlite_rows(db, "SELECT keep FROM x") == [(42,)]
    assert sqlite_rows(db, "SELECT count(*) FROM y") == [(0,)]


def test_hostile_values_are_data(tmp_path: Path) -> None:
    evil = ["'); DROP TABLE t; --", '" OR 1=1 --', "{id.__class__}", "${HOME}", "$(rm -rf /)"]
    src = write_csv(tmp_path / "v.csv", ["id", "text"], [[i, v] for i, v in enumerate(evil, 1)])
    db = tmp_path / "v.db"
    p = cli("load", str(src), str(db), "--table", "t")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT text FROM t ORDER BY id") == [(v,) for v in evil]
    target = tmp_path / "v.ldb"
    assert cli("load", str(src), str(target), "--key", "k:{text}").returncode == 0
    assert sorted(k for k, _ in leveldb_items(target)[0]) == sorted(f"k:{v}".encode() for v in evil)


def test_hostile_names_in_a_leveldb_key(tmp_path: Path, data_dir: Path) -> None:
    target = tmp_path / "w.ldb"
    p = cli("load", str(data_dir / "weird_names.csv"), str(target), "--key", "{select}/{dup_2}/{with space}")
    assert p.returncode == 0, p.stderr
    data, _ = leveldb_items(target)
    assert [k for k, _ in data] == [
        b"00000000000000000002/00000000000000000005/00000000000000000007",
        b"00000000000000000009/00000000000000000012/00000000000000000014",
    ]


@pytest.mark.parametrize(
    "template, stderr",
    [
        (
            "{a.__class__}",
            "loader: error: sink.key: {a.__class__} in '{a.__class__}' is not a column name\n" + KEY_HINT,
        ),
        ("{a!r}", "loader: error: sink.key: {a!r} in '{a!r}' is not a column name\n" + KEY_HINT),
        ("{a[0]}", "loader: error: sink.key: {a[0]} in '{a[0]}' is not a column name\n" + KEY_HINT),
        ("{}", "loader: error: sink.key: {} in '{}' is not a column name\n" + KEY_HINT),
        (
            "{__import__}",
            "loader: error: {small}: sink.key: no column '__import__' in the data\n  hint: columns are: a, b\n",
        ),
    ],
)
def test_key_template_is_never_code(tmp_path: Path, data_dir: Path, template: str, stderr: str) -> None:
    target = tmp_path / "k.ldb"
    p = in_process("load", str(data_dir / "small.csv"), str(target), "--key", template)
    assert (p.returncode, p.stderr) == (2, stderr.replace("{small}", str(data_dir / "small.csv")))
    assert not target.exists() or leveldb_items(target) == ([], {})  # nothing loaded


def test_key_template_from_a_job_file_is_checked_the_same(tmp_path: Path, data_dir: Path) -> None:
    job = write_job(
        tmp_path / "j.toml",
        source={"path": str(data_dir / "small.csv")},
        sink={"path": str(tmp_path / "k.ldb"), "key": "{a.__init__.__globals__}"},
    )
    p = in_process("run", str(job))
    assert p.returncode == 2
    assert p.stderr.startswith("loader: error: sink.key: {a.__init__.__globals__} in ")


def test_target_inside_the_input_glob_is_refused_before_writing(tmp_path: Path, data_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_bytes((data_dir / "small.csv").read_bytes())
    cases = [
        (
            ["load", f"{data}/*", f"{data}/out.db", "--format", "csv", "--table", "t"],
            f"sink.path: the target {data}/out.db matches the input pattern '{data}/*'",
        ),
        (
            ["load", f"{data}/*.csv", f"{data}/out.csv", "--sink", "sqlite", "--table", "t"],
            f"sink.path: the target {data}/out.csv matches the input pattern '{data}/*.csv'",
        ),
        (
            ["load", f"{tmp_path}/**", f"{data}/deep/out.ldb", "--key", "{a}", "--format", "csv"],
            f"sink.path: the target {data}/deep/out.ldb matches the input pattern '{tmp_path}/**'",
        ),
        (
            [
                "load",
                f"{data}/*",
                f"{tmp_path}/o.db",
                "--format",
                "csv",
                "--table",
                "t",
                "--rejects",
                f"{data}/bad.jsonl",
            ],
            f"run.rejects: the file {data}/bad.jsonl matches the input pattern '{data}/*'",
        ),
        (
            ["load", f"{data}/*", f"{tmp_path}/o.db", "--format", "csv", "--table", "t", "--report", f"{data}/r.json"],
            f"run.report: the file {data}/r.json matches the input pattern '{data}/*'",
        ),
    ]
    for args, message in cases:
        p = in_process(*args)
        assert p.returncode == 2, p.stderr
        assert p.stderr == (
            f"loader: error: {message}\n"
            "  hint: a later run would read it as input; write it outside the input directory or narrow the pattern\n"
        )
        p = in_process(*args, "--dry-run")
        assert p.returncode == 2 and p.stderr.startswith(f"loader: error: {message}\n")
    assert sorted(p.name for p in data.iterdir()) == ["a.csv"]  # nothing was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    # the same glob with the target elsewhere is fine
    assert cli("load", f"{data}/*.csv", str(tmp_path / "out.db"), "--table", "t").returncode == 0


def test_target_named_as_an_input_file_is_refused(tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "x.db"
    src.write_bytes((data_dir / "small.csv").read_bytes())
    p = in_process("load", str(src), str(src), "--format", "csv")
    assert p.returncode == 2
    assert p.stderr.startswith(f"loader: error: sink.path: the target {src} is also an input file\n")


@pytest.mark.parametrize("flag, key", [("--rejects", "run.rejects"), ("--report", "run.report")])
def test_reject_or_report_path_that_is_a_directory(tmp_path: Path, data_dir: Path, flag: str, key: str) -> None:
    d = tmp_path / "somedir"
    d.mkdir()
    db = tmp_path / "x.db"
    p = in_process("load", str(data_dir / "small.csv"), str(db), flag, str(d))
    assert p.returncode == 2
    assert p.stderr == (
        f"loader: error: {key}: {d} is a directory, expected a file path\n"
        "  hint: check the flags; `loader load --help` lists them\n"
    )
    assert not db.exists()


# ---------------------------------------------------------------- a job file's code runs only when allowed

TRUST_HINT = (
    "  hint: if you trust this job file, allow its code: --allow-python, LOADER_ALLOW_PYTHON=1, "
    "or Pipeline(..., allow_python=True)\n"
)


def _code_job(tmp_path: Path, function: str) -> tuple[Path, Path, Path]:
    """A job whose row-mode python stage is ``function``; its CSV header is ``touch,<marker>``,
    so ``subprocess:call`` on a row runs ``touch <marker>``."""
    marker = tmp_path / "ran"
    src = write_csv(tmp_path / "in.csv", ["touch", str(marker)], [[1, 2]])
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src)},
        transform={"type": "python", "function": function, "mode": "row"},
        sink={"path": str(tmp_path / "out.db"), "table": "t"},
    )
    job.write_text(job.read_text().replace("[transform]", "[[transform]]"))
    return job, marker, tmp_path / "out.db"


def test_python_stage_in_a_job_file_runs_only_when_allowed(tmp_path: Path) -> None:
    job, marker, db = _code_job(tmp_path, "subprocess:call")
    refused = (
        "loader: error: transform[1] (python): function: 'subprocess:call' is code to import and run; "
        "a job file may run code only when allowed\n" + TRUST_HINT
    )
    for command in ("run", "validate"):
        p = in_process(command, str(job))
        assert (p.returncode, p.stdout, p.stderr) == (2, "", refused)
    assert not marker.exists() and not db.exists()
    # each opt-in lets the job run its code: here the header as a command line (the call's
    # int result then stops the run)
    returned_int = (
        "the function returned int for a row; expected a dict or None\n"
        "  hint: fix the data or the stage, then rerun: committed work is kept and the rerun resumes\n"
    )
    for opt_in, extra in (("--allow-python", {}), ("--quiet", {"LOADER_ALLOW_PYTHON": "1"})):
        p = cli("run", str(job), opt_in, extra_env=extra)
        assert p.returncode == 65 and p.stderr.endswith(returned_int), p.stderr
        assert marker.exists()
        marker.unlink()


def test_validate_imports_nothing(tmp_path: Path) -> None:
    (tmp_path / "sideeffect.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n\ndef fn(row):\n    return row\n"
    )
    job, _, db = _code_job(tmp_path, "sideeffect:fn")
    pythonpath = {"PYTHONPATH": f"{Path(__file__).parents[1]}{':'}{tmp_path}"}
    # real processes: PYTHONPATH is read as an interpreter starts, and what validate imports is the process's
    p = cli("validate", str(job), "--allow-python", extra_env=pythonpath, process=True)
    assert p.returncode == 0, p.stderr
    assert "transform[1] (python): function syntax checked, not imported; it is imported at run time\n" in p.stdout
    assert not (tmp_path / "imported").exists() and not db.exists()
    # a run imports it, before anything is written
    assert cli("run", str(job), "--allow-python", "-q", extra_env=pythonpath, process=True).returncode == 0
    assert (tmp_path / "imported").exists()
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(1,)]


def test_python_callers_opt_in_or_pass_their_own_stages(tmp_path: Path) -> None:
    from loader import ConfigError, JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig
    from loader.transforms import Python

    src = write_csv(tmp_path / "in.csv", ["a"], [[1], [2]])

    def job(**extra: object) -> JobConfig:
        return JobConfig(
            source=SourceConfig(path=[str(src)]),
            sink=SinkConfig(path=str(tmp_path / "out.db"), table="t"),
            run=RunConfig(quiet=True, restart=True),
            **extra,  # type: ignore[arg-type]
        )

    spec = [{"type": "python", "function": "json:dumps", "mode": "row"}]
    with pytest.raises(ConfigError) as info:
        Pipeline(job(transform=spec), allow_python=False)
    assert info.value.hint is not None and "allow_python=True" in info.value.hint
    spec = [{"type": "python", "function": "copy:copy", "mode": "row"}]
    assert Pipeline(job(transform=spec), allow_python=True).run().rows_written == 2
    # stage objects built in Python are the caller's own code
    own = Python(function="copy:copy", mode="row")
    assert Pipeline(job(), transforms=[own], allow_python=False).run().rows_written == 2
