from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loader import sinks
from loader.cli import main
from tests.conftest import sqlite_rows
from tests.reliability_util import cli, env, rejects_of

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("command", [[], ["load"], ["run"], ["validate"], ["inspect"]])
def test_every_command_has_help(command: list[str]) -> None:
    p = cli(*command, "--help")
    assert p.returncode == 0
    assert p.stdout.startswith("usage: loader")


def test_version() -> None:
    p = cli("--version")
    assert (p.returncode, p.stdout) == (0, "loader 0.1.0\n")


def closed_stdout(*args: str, unbuffered: bool) -> subprocess.CompletedProcess[str]:
    """``python -m loader ARGS`` with stdout a pipe whose reader went away (``| head`` done)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    run_env = env({"PYTHONUNBUFFERED": "1"})
    if not unbuffered:  # stdout block-buffered, as a terminal-less Python has it by default
        del run_env["PYTHONUNBUFFERED"]
    try:
        return subprocess.run(
            [sys.executable, "-m", "loader", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=run_env,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize(
    "command",
    [
        ["inspect", "configs/sample/events.csv"],
        ["validate", "configs/quickstart.toml", "--set", "sink.path=VALIDATE_DB"],
        ["--help"],
        ["load", "--help"],
        ["inspect", "--help"],
        ["--version"],
    ],
    ids=["inspect", "validate", "help", "load-help", "inspect-help", "version"],
)
def test_output_whose_reader_went_away_ends_quietly_as_unix_tools_do(
    tmp_path: Path, command: list[str], unbuffered: bool
) -> None:
    """``loader inspect f.csv | head -1``: exit 141 (as a tool SIGPIPE ended), no message."""
    args = [a.replace("VALIDATE_DB", str(tmp_path / "v.db")) for a in command]
    p = closed_stdout(*args, unbuffered=unbuffered)
    assert (p.returncode, p.stderr) == (141, "")


def test_load_csv_to_sqlite(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "s.db"
    report = tmp_path / "r.json"
    p = cli("load", str(data_dir / "small.csv"), str(db), "--table", "s", "--report", str(report))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith(f"ok: 2 rows written to {db} (table s) from 1 file in ")
    assert sqlite_rows(db, "SELECT a, b FROM s") == [(1, "x"), (2, "y")]
    data = json.loads(report.read_text())
    assert (data["status"], data["rows_read"], data["rows_written"], data["rows_rejected"]) == ("ok", 2, 2, 0)


def test_quiet_prints_nothing(tmp_path: Path, data_dir: Path) -> None:
    p = cli("load", str(data_dir / "small.csv"), str(tmp_path / "q.db"), "--quiet")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_rejects_warn_but_succeed(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "b.db"
    p = cli("load", str(data_dir / "bad.csv"), str(db), "--infer-rows", "3")
    assert p.returncode == 0
    assert p.stderr.rstrip().endswith(f"WARNING 3 rows rejected, see {rejects_of(db, 'table:bad')}")


def test_strict_mode_exit_3(tmp_path: Path, data_dir: Path) -> None:
    p = cli("load", str(data_dir / "bad.csv"), str(tmp_path / "b.db"), "--infer-rows", "3", "--max-rejects", "0")
    assert p.returncode == 3
    assert "loader: error: " in p.stderr and "more than max_rejects = 0" in p.stderr
    assert "Traceback" not in p.stderr


def test_usage_error_exit_2(tmp_path: Path) -> None:
    p = cli("load", "only-one-arg")
    assert p.returncode == 2
    assert (
        p.stderr
        == "loader: error: load: expected one or more SOURCE files and a TARGET\n  hint: check the flags; `loader load --help` lists them\n"
    )
    p = cli("load", "a.csv", "b.db", "--bogus")
    assert (p.returncode, p.stderr) == (
        2,
        "usage: loader load [options] SOURCE [SOURCE ...] TARGET\nloader load: error: unrecognized arguments: --bogus\n",
    )


@pytest.mark.parametrize(
    ("argv", "stderr"),
    [
        (
            ["load", "a.csv", "b.db", "--tabel", "t"],
            "usage: loader load [options] SOURCE [SOURCE ...] TARGET\n"
            "loader load: error: unrecognized arguments: --tabel t (did you mean --table?)\n",
        ),
        (
            ["run", "job.toml", "--chunk-sise", "5"],
            "usage: loader run JOB.toml [options]\nloader run: error: unrecognized arguments: --chunk-sise 5 (did you mean --chunk-size?)\n",
        ),
        (
            ["inspect", "f.csv", "--delimter=,"],
            "usage: loader inspect FILE [options]\nloader inspect: error: unrecognized arguments: --delimter=, (did you mean --delimiter?)\n",
        ),
        (  # a key of two sections: the source's where the target's sink does not take the sink's
            ["load", "a.csv", "b.db", "--block-size", "100"],
            "usage: loader load [options] SOURCE [SOURCE ...] TARGET\nloader load: error: unrecognized arguments: "
            "--block-size 100 (did you mean --source-block-size?)\n",
        ),
        (
            ["load", "a.csv", "b.out", "--sink", "sqlite", "--block-size", "100"],
            "usage: loader load [options] SOURCE [SOURCE ...] TARGET\nloader load: error: unrecognized arguments: "
            "--block-size 100 (did you mean --source-block-size?)\n",
        ),
        (
            ["load", "a.csv", "b.ldb", "--block-size", "100"],
            "usage: loader load [options] SOURCE [SOURCE ...] TARGET\nloader load: error: unrecognized arguments: "
            "--block-size 100 (did you mean --source-block-size or --sink-block-size?)\n",
        ),
        (
            ["lod", "a.csv", "b.db"],
            "usage: loader [-h] [--version] COMMAND ...\nloader: error: unknown command 'lod'; did you mean 'load'?\n",
        ),
        (
            ["xyzzy"],
            "usage: loader [-h] [--version] COMMAND ...\nloader: error: unknown command 'xyzzy'; commands: load, run, validate, replay, inspect\n",
        ),
    ],
)
def test_mistyped_flags_and_commands_get_a_did_you_mean(
    argv: list[str], stderr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", stderr)


@pytest.mark.parametrize("command", ["load", "run", "validate", "inspect"])
def test_help_shows_a_usage_that_says_what_it_means_and_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    usage = {"load": "[options] SOURCE [SOURCE ...] TARGET", "inspect": "FILE [options]"}.get(
        command, "JOB.toml [options]"
    )
    assert text.startswith(f"usage: loader {command} {usage}\n")
    assert f"examples:\n  loader {command} " in text


def test_every_job_file_key_is_a_load_flag_with_the_fields_help(capsys: pytest.CaptureFixture[str]) -> None:
    from loader.config import SECTIONS, field_docs
    from loader.config import flag_name as _flag_name

    assert main(["load", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.name != "path":
                assert _flag_name(section, f.name) in text, f"{section}.{f.name} has no flag"
    assert "--source-block-size SIZE Bytes of CSV parsed at a time" in text
    assert "--sink-block-size SIZE LevelDB table block in bytes" in text
    from loader.cli import _short_help

    assert _short_help(field_docs(SECTIONS["sink"])["alter"], False) in text  # its first sentence
    assert "type (ANY in a STRICT table)" in text


def test_generated_flags_reach_their_keys(tmp_path: Path, data_dir: Path) -> None:
    from loader.cli import build_parser, job_for

    db = tmp_path / "f.db"
    argv = [
        "load",
        str(data_dir / "small.csv"),
        str(db),
        "--column-names",
        "x,y",
        "--no-header",
    ]
    argv += ["--source-block-size", "65536", "--max-memory", "200MB", "--busy-timeout", "2.5", "--escape-char", "\\"]
    argv += ["--allow-empty", "--index", "x", "--index", "x,y", "--quote-char", "false", "--no-quiet"]
    job = job_for(build_parser().parse_args(argv), env={})
    src, sink, run = job.source, job.sink, job.run
    assert (src.column_names, src.header, src.block_size, src.escape_char, src.allow_empty, src.quote_char) == (
        ["x", "y"],
        False,
        65536,
        "\\",
        True,
        False,
    )
    assert (sink.busy_timeout, sink.indexes, run.max_memory, run.quiet) == (
        2.5,
        [["x"], ["x", "y"]],
        200 << 20,
        False,
    )
    # LevelDB's key, on a LevelDB target (SQLite refuses it)
    argv = ["load", str(data_dir / "small.csv"), str(tmp_path / "f.ldb"), "--key", "{a}", "--sink-block-size", "4096"]
    assert job_for(build_parser().parse_args(argv), env={}).sink.block_size == 4096


def test_config_error_names_key(tmp_path: Path) -> None:
    job = tmp_path / "j.toml"
    job.write_text('[source]\npath = "a.csv"\n[sink]\npath = "x.db"\nbatchsize = 1\n')
    p = cli("run", str(job))
    assert p.returncode == 2
    assert p.stderr == f"loader: error: {job}: sink.batchsize: unknown key\n  hint: did you mean 'batch_size'?\n"


def test_missing_input_exit_66_one_line(tmp_path: Path) -> None:
    p = cli("load", str(tmp_path / "nope.csv"), str(tmp_path / "x.db"))
    assert p.returncode == 66
    assert p.stderr == (
        f"loader: error: {tmp_path / 'nope.csv'}: no such file\n"
        "  hint: fix the path or the file's permissions, then rerun: every input is checked before the first "
        "loads, so this run loaded none\n"
    )


def test_corrupt_parquet_one_line_and_debug_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    p = cli("load", str(bad), str(tmp_path / "x.db"))
    assert p.returncode == 65
    assert p.stderr.startswith(f"loader: error: {bad}: not a readable Parquet file")
    assert (
        p.stderr.endswith(")\n  hint: fix or replace the file, then rerun: the files before it stay loaded\n")
        and p.stderr.count("\n") == 2
    )
    p = cli("load", str(bad), str(tmp_path / "x.db"), "--debug")
    assert "Traceback" in p.stderr


def test_run_with_set_and_env(tmp_path: Path, data_dir: Path) -> None:
    job = tmp_path / "j.toml"
    job.write_text(f'[source]\npath = "{data_dir / "small.csv"}"\n[sink]\npath = "${{OUT}}/a.db"\ntable = "a"\n')
    p = cli("run", str(job), "--set", "sink.table=b", extra_env={"OUT": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "a.db", "SELECT count(*) FROM b") == [(2,)]
    p = cli("run", str(job), extra_env={"OUT": str(tmp_path), "LOADER_SINK__TABLE": "c"})
    assert sqlite_rows(tmp_path / "a.db", "SELECT count(*) FROM c") == [(2,)]


def test_validate_and_dry_run(tmp_path: Path) -> None:
    p = cli("validate", "configs/quickstart.toml", "--set", f"sink.path={tmp_path / 'v.db'}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "files (1):"
    assert "  zip: string" in p.stdout.splitlines()
    assert p.stdout.rstrip().endswith("ok: configuration and sources are valid; nothing was written")
    assert not (tmp_path / "v.db").exists()
    p = cli("run", "configs/quickstart.toml", "--dry-run", "--set", f"sink.path={tmp_path / 'v.db'}")
    assert p.returncode == 0 and not (tmp_path / "v.db").exists()


def test_validate_checks_the_stages_against_a_loaded_inputs_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With every input loaded already it read none: a stage naming no column of the data
    passed (exit 0), and the next run with a new file stopped with exit 78."""
    (tmp_path / "tr.csv").write_text("id,name\n1,Ann\n")
    job = tmp_path / "tr.toml"
    text = '[source]\npath = "tr*.csv"\n[[transform]]\ntype = "select"\ncolumns = ["id", "name"]\n'
    job.write_text(text + '[sink]\npath = "tr.db"\ntable = "t"\n')
    assert main(["run", str(job), "-q"]) == 0
    capsys.readouterr()
    assert main(["validate", str(job)]) == 0
    assert capsys.readouterr().out.splitlines()[:8] == [
        "files (1):",
        f"  {tmp_path / 'tr.csv'}: loaded already: skipped",
        f"dialect ({tmp_path / 'tr.csv'}): delimiter ',' (detected), quote '\"' (detected), header (detected)",
        "transforms: transform[1] (select)",
        "schema (after transforms):",
        "  id: int64",
        "  name: string",
        "engine: threads",
    ]
    job.write_text(job.read_text().replace('"name"]', '"nme"]'))
    assert main(["validate", str(job)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"loader: error: transform[1] (select): {tmp_path / 'tr.csv'}: columns: no column 'nme' in the data",
        "  hint: did you mean 'name'?",
    ]


def test_inspect(data_dir: Path) -> None:
    p = cli("inspect", str(data_dir / "small.csv"), "--rows", "1")
    assert p.returncode == 0
    assert (
        p.stdout
        == f"{data_dir / 'small.csv'}: 2 columns\ndialect: delimiter ',' (detected), quote '\"' (detected), header (detected)\n  a  int64\n  b  string\nfirst rows:\n  a=1, b='x'\n"
    )


def test_quickstart_and_leveldb_example(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = cli(
        "run", "configs/quickstart.toml", "--set", f"sink.path={out / 'q.db'}", "--set", f"run.report={out / 'q.json'}"
    )
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(out / "q.db", "SELECT count(*), count(DISTINCT zip) > 100 FROM events") == [(1000, 1)]
    assert sqlite_rows(out / "q.db", "SELECT zip, amount FROM events WHERE id = 2") == [("0614", "665.10")]
    p = cli(
        "run",
        "configs/parquet_to_leveldb.toml",
        "--set",
        f"sink.path={out / 'u.ldb'}",
        "--set",
        f"run.report={out / 'u.json'}",
    )
    assert p.returncode == 0, p.stderr
    assert json.loads((out / "u.json").read_text())["rows_written"] == 500


def test_main_returns_int_in_process(tmp_path: Path, data_dir: Path) -> None:
    assert main(["load", str(data_dir / "small.csv"), str(tmp_path / "m.db"), "--quiet"]) == 0
    assert main(["load", "x"]) == 2


def test_a_plain_load_imports_no_toml_parser_nor_tempfile(tmp_path: Path, data_dir: Path) -> None:
    """They serve job files, overrides and reports only: every start would pay for them.
    (Into SQLite, the ADBC driver's lookup imports tempfile itself; so does python-dateutil's
    time-zone module in 4.0, which pyarrow imports, so tempfile is only checked
    where dateutil leaves it out.)"""
    import subprocess
    import sys

    code = (
        "import sys; from loader.cli import main; "
        f"assert main(['load', {str(data_dir / 'small.csv')!r}, {str(tmp_path / 'p.ldb')!r}, '--key', '{{a}}', '--quiet']) == 0; "
        "print(sorted({'tomllib', 'tempfile'} & set(sys.modules)))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LOADER_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    probe = "import sys, dateutil.tz; print('tempfile' in sys.modules)"
    dateutil_imports_it = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    expected = "['tempfile']\n" if dateutil_imports_it == "True" else "[]\n"
    assert (done.returncode, done.stdout) == (0, expected), done.stderr


def test_load_takes_the_csv_keys_as_flags_and_any_key_with_set(tmp_path: Path) -> None:
    """--quote-char, --escape-char, --null-values, --na-values, --max-row-bytes, and --set for
    the rest, as `run` takes it (flags win over --set)."""
    src = tmp_path / "q.csv"
    src.write_text("id;name;n\n1;'a;b';NA\n2;-;7\n3;'c';\n")
    db = tmp_path / "q.db"
    args = ["load", str(src), str(db), "--table", "t", "--delimiter", ";", "--quote-char", "'"]
    nulls = ["--null-values", "-", "--null-values", ""]
    assert main([*args, *nulls, "--na-values", "NA", "--max-row-bytes", "4KiB", "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, name, n, typeof(n) FROM t ORDER BY id") == [
        (1, "a;b", None, "null"),
        (2, None, 7, "integer"),
        (3, "c", None, "null"),
    ]
    # --set reaches keys without a flag of their own; a flag beats --set
    assert main([*args, "--set", "sink.mode=replace", "--set", "sink.table=ignored", "--restart", "-q"]) == 0
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(3,)]
    bad = cli("load", str(src), str(db), "--set", "sink.mdoe=replace")
    assert (bad.returncode, bad.stderr) == (
        2,
        "loader: error: sink.mdoe: unknown key\n  hint: did you mean 'mode'?\n",
    )


def test_columns_flag_takes_types_with_commas(tmp_path: Path) -> None:
    from loader.cli import build_parser, job_for

    argv = [
        "load",
        "a.csv",
        str(tmp_path / "a.db"),
        "--columns",
        "zip=string, amount=decimal(10, 2),ts=timestamp[us, UTC]",
    ]
    job = job_for(build_parser().parse_args(argv), env={})
    assert job.source.columns == {"zip": "string", "amount": "decimal(10, 2)", "ts": "timestamp[us, UTC]"}
    src = tmp_path / "a.csv"
    src.write_text("zip,amount\n00501,3.10\n")
    p = cli("load", str(src), str(tmp_path / "a.db"), "--columns", "amount=decimal(10, 2)")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "a.db", "SELECT zip, amount FROM a") == [("00501", "3.10")]


def test_a_report_path_the_os_refuses_is_one_line_after_the_committed_load(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id\n1\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    report = blocker / "r.json"  # its directory is a file
    p = cli("load", str(src), str(tmp_path / "a.db"), "--report", str(report))
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert lines[0].startswith("failed: 1 rows written to ")  # the run's outcome: exit 1
    assert lines[1:] == [
        f"loader: error: run.report: cannot write {report}: Not a directory",
        "  hint: the load is committed; fix the path or its permissions, and a rerun writes it",
    ]
    assert sqlite_rows(tmp_path / "a.db", "SELECT id FROM a") == [(1,)]


def test_replay_help_names_the_reject_file_loader_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "events.csv"
    src.write_text("id,n\n1,x\n2,3\n")
    target = tmp_path / "events.db"
    assert main(["load", str(src), str(target), "--columns", "n=int64", "-q"]) == 0
    assert main(["replay", "--help"]) == 0
    example = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  loader replay "))
    named = example.split()[2]  # out/events.db.<job>.rejects.jsonl
    assert (tmp_path / named.removeprefix("out/")).exists()


def test_a_job_file_error_names_the_file_and_an_override_error_does_not(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[source]\npath = "a.csv"\n[sink]\npath = "o.db"\nbatch_size = "big"\n')
    hint = "  hint: check the job file or flags; `loader run --help` lists them\n"
    p = cli("run", str(job))
    assert (p.returncode, p.stderr) == (
        2,
        f"loader: error: {job}: sink.batch_size: expected an integer, got 'big'\n{hint}",
    )
    p = cli("run", str(job), "--set", "sink.batch_size=many")  # the override's value is the mistake
    assert (p.returncode, p.stderr) == (2, f"loader: error: sink.batch_size: expected an integer, got 'many'\n{hint}")


def test_inspect_shows_nanoseconds_and_far_years_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    ts = pa.array([1, 2], pa.timestamp("ns"))
    pq.write_table(pa.table({"id": [1, 2], "ts": ts, "far": pa.array([0, 10**12], pa.timestamp("s"))}), path)
    assert main(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "  id=1, ts='1970-01-01T00:00:00.000000001', far='1970-01-01T00:00:00.000'",
        "  id=2, ts='1970-01-01T00:00:00.000000002', far='33658-09-27T01:46:40.000'",
    ]


def test_inspect_shows_values_inside_structs_and_lists_as_top_level_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    s = pa.array([{"at": dt.time(12, 30), "day": dt.date(2024, 1, 31)}])
    pq.write_table(pa.table({"s": s, "l": pa.array([[dt.date(2024, 2, 1), None]])}), path)
    assert main(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  s={'at': 12:30:00, 'day': 2024-01-31}, l=[2024-02-01, null]"


def test_load_and_inspect_write_small_decimals_in_plain_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repro: decimal(38, 9) stored as Arrow's cast wrote it, ``1E-9``, ``0E-9``, ``1.00E-7``."""
    src = tmp_path / "dc.csv"
    src.write_text("id,v\n1,0.000000001\n2,0\n3,0.0000001\n", encoding="utf-8")
    p = cli("load", str(src), str(tmp_path / "dc.db"), "--table", "t", "--set", 'source.columns={v="decimal(38, 9)"}')
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "dc.db", "SELECT v FROM t ORDER BY id") == [
        ("0.000000001",),
        ("0.000000000",),
        ("0.000000100",),
    ]
    assert main(["inspect", str(src), "--columns", "v=decimal(38, 9)", "--rows", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  id=1, v=Decimal('0.000000001')"


@pytest.mark.parametrize("target", ["p.db", "p.ldb"])
def test_a_plain_load_maps_no_libcrypto(tmp_path: Path, data_dir: Path, target: str) -> None:
    """hashlib maps OpenSSL's libcrypto, ~3.6 MB of every run's peak: loader.compat's digests
    come from CPython's own modules. (Run as the command runs, which spares pandas' import.)"""
    import subprocess
    import sys

    sink = ["--key", "{a}"] if target.endswith(".ldb") else ["--table", "t"]
    argv = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "loader",
        "load",
        str(data_dir / "small.csv"),
        str(tmp_path / target),
    ]
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LOADER_")}
    done = subprocess.run([*argv, *sink, "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert done.returncode == 0 and imported, done.stderr
    assert not {"hashlib", "_hashlib"} & imported


def _decimal_job(tmp_path: Path, csv: str, columns: str, stages: str) -> Path:
    (tmp_path / "in.csv").write_text(csv, encoding="utf-8")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "in.csv"\n{columns}\n[sink]\ntype = "sqlite"\npath = "out.db"\ntable = "t"\n{stages}',
        encoding="utf-8",
    )
    return job


def test_a_filter_keeps_the_decimal_equal_to_its_number_literal(tmp_path: Path) -> None:
    """The repro: price <= 0.35 on a decimal(10,2) dropped the row holding 0.35 (Arrow read it as
    0.35000000000000003); DuckDB and SQLite keep it."""
    job = _decimal_job(
        tmp_path,
        "id,price\n1,0.35\n2,0.34\n3,0.36\n",
        'columns = { price = "decimal(10,2)" }',
        '[[transform]]\ntype = "filter"\nwhere = "price <= 0.35"\n',
    )
    p = cli("run", str(job), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "2 rows written" in p.stderr and "1 filtered out" in p.stderr
    assert sqlite_rows(tmp_path / "out.db", "SELECT id, price FROM t ORDER BY id") == [(1, "0.35"), (2, "0.34")]


def test_floats_cast_to_a_decimal_all_load_with_their_digits(tmp_path: Path) -> None:
    """The repro: 0.35, 1.005 and 0.41 were rejected as "would be rounded by decimal(10, 3)"."""
    job = _decimal_job(
        tmp_path,
        "id,x\n1,0.35\n2,0.1\n3,1.005\n4,0.41\n",
        "",
        '[[transform]]\ntype = "derive"\ncolumns = { d = "x" }\n'
        '[[transform]]\ntype = "cast"\ncolumns = { d = "decimal(10,3)" }\n'
        '[[transform]]\ntype = "derive"\ncolumns = { back = "cast(d, \'float64\')", r = "round(d, -9)" }\n',
    )
    p = cli("run", str(job), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "4 rows written" in p.stderr and "rejected" not in p.stderr
    assert sqlite_rows(tmp_path / "out.db", "SELECT id, d, back, r FROM t ORDER BY id") == [
        (1, "0.350", 0.35, "0"),
        (2, "0.100", 0.1, "0"),
        (3, "1.005", 1.005, "0"),
        (4, "0.410", 0.41, "0"),
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--set", "sink.busy_timeout=nan"],
            "sink.busy_timeout: expected a number of seconds, from 0 to 2147483, got nan",
        ),
        (
            ["--set", "sink.busy_timeout=inf"],
            "sink.busy_timeout: expected a number of seconds, from 0 to 2147483, got inf",
        ),
        (["--max-rejects", "inf"], "run.max_rejects: expected 0 or more (a count, or a fraction below 1), got inf"),
        (["--max-rejects", "nan"], "run.max_rejects: expected 0 or more (a count, or a fraction below 1), got nan"),
    ],
)
def test_a_number_that_makes_no_sense_is_a_usage_error_before_the_target_is_made(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    db = tmp_path / "v.db"
    code = main(["load", str(data_dir / "small.csv"), str(db), "--table", "t", "-q", *flags])
    assert (code, capsys.readouterr().err.splitlines()[0]) == (2, f"loader: error: {message}")
    assert not db.exists()


def test_a_config_errors_hint_names_the_help_of_the_command_used(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    p = cli("load", str(tmp_path / "a.csv"), str(tmp_path / "a.ldb"), "--key", "{id:q}")
    assert (p.returncode, p.stderr) == (
        2,
        "loader: error: sink.key: 'q' is not a format spec (in '{id:q}')\n"
        "  hint: check the flags; `loader load --help` lists them\n",
    )
    job = tmp_path / "job.toml"
    job.write_text('[source]\npath = "a.csv"\n[sink]\npath = "a.db"\nbatch_size = "big"\n')
    run_hint = "  hint: check the job file or flags; `loader run --help` lists them\n"
    for command, hint in [
        (["run", str(job)], run_hint),
        (["validate", str(job)], run_hint),  # validate takes no key flags: run's help lists them
        (["replay", "r.jsonl", "--job", str(job)], run_hint.replace("loader run", "loader replay")),
    ]:
        p = cli(*command)
        assert (p.returncode, p.stderr) == (
            2,
            f"loader: error: {job}: sink.batch_size: expected an integer, got 'big'\n{hint}",
        )
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.csv", "job.toml"]


def test_every_size_flag_takes_size_text_and_its_help_says_size(capsys: pytest.CaptureFixture[str]) -> None:
    from loader.cli import build_parser, job_for, parse
    from loader.config import flag_name as _flag_name
    from tests.test_config import BYTE_KEYS

    assert main(["load", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "A SIZE is a number of bytes or text such as 64MiB, 100MB or 1.5G." in shown
    for dotted in sorted(BYTE_KEYS):
        section, key = dotted.split(".")
        flag = _flag_name(section, key)
        assert f"{flag} SIZE " in shown, flag
        leveldb = section == "sink" and key in sinks.get("leveldb").keys  # SQLite refuses LevelDB's keys
        target = ["a.ldb", "--key", "{id}"] if leveldb else ["a.db", "--table", "t"]
        kib = 256 if key == "sort_run_size" else 64  # at least its floor, at most page_size's ceiling
        args = parse(build_parser(helps=False), ["load", "a.csv", *target, flag, f"{kib}KiB"])
        assert getattr(getattr(job_for(args, env={}), section), key) == kib << 10, flag


def test_a_stage_making_names_sqlite_takes_for_one_is_refused_by_validate_and_run(tmp_path: Path) -> None:
    """validate said ok and the run failed at the CREATE TABLE, exit 1: "duplicate column
    name: ID". Into LevelDB the two names are two keys of its JSON."""
    (tmp_path / "case.csv").write_text("id,b,c\n1,x,10\n2,y,20\n")
    job = '[source]\npath = "case.csv"\n[[transform]]\ntype = "derive"\ncolumns = { ID = "id * 2" }\n[sink]\n'
    (tmp_path / "case.toml").write_text(job + 'path = "case.db"\ntable = "t"\n')
    expected = "loader: error: transform[1] (derive): case.csv: columns 'id' and 'ID' differ only in case: one column to SQLite"
    for args in (["validate", "case.toml"], ["run", "case.toml", "--dry-run"], ["run", "case.toml"]):
        out = cli(*args, cwd=tmp_path)
        assert (out.returncode, out.stderr.splitlines()[0]) == (2, expected), args
    assert not (tmp_path / "case.db").exists()
    (tmp_path / "kv.toml").write_text(job + 'path = "case.ldb"\nkey = "k:{id}"\n')
    out = cli("run", "kv.toml", cwd=tmp_path)
    assert out.returncode == 0 and "2 rows written" in out.stderr


def test_a_stage_column_a_later_file_lacks_names_the_file_with_the_command_line_s_hint(tmp_path: Path) -> None:
    """It named no file, and its hint was the Python API's ("check the job file or the
    keyword options")."""
    (tmp_path / "mf").mkdir()
    (tmp_path / "mf" / "f1.csv").write_text("id,a,b\n1,x,1\n2,y,2\n")
    (tmp_path / "mf" / "f2.csv").write_text("id,b,c\n3,3,z\n")
    (tmp_path / "mf.toml").write_text(
        '[source]\npath = "mf/*.csv"\n[[transform]]\ntype = "filter"\nwhere = "a is not null or b > 1"\n'
        '[sink]\npath = "mf.db"\ntable = "t"\nalter = true\n'
    )
    out = cli("run", "mf.toml", cwd=tmp_path)
    assert out.returncode == 78
    assert out.stderr.splitlines()[-2:] == [
        "loader: error: transform[1] (filter): mf/f2.csv: where: unknown column 'a' at position 1 in "
        '"a is not null or b > 1"; available: id, b, c',
        "  hint: check the stage in the job file (docs/transforms.md lists each stage's keys and syntax); "
        "then rerun: committed work is kept and the rerun resumes",
    ]
    assert sqlite_rows(tmp_path / "mf.db", "SELECT id FROM t") == [(1,), (2,)]  # f1 stays loaded


@pytest.mark.parametrize(
    ("target", "flags", "message"),
    [
        (
            "g.db",
            ["--source-block-size", "1G"],
            "source.block_size: expected at most 1023MB (1072693248 bytes: pyarrow parses less than 2 GiB at a time), got 1073741824",
        ),
        (
            "g.db",
            ["--source-block-size", "1G", "--dry-run"],
            "source.block_size: expected at most 1023MB (1072693248 bytes: pyarrow parses less than 2 GiB at a time), got 1073741824",
        ),
        (
            "g.ldb",
            ["--key", "{a}", "--max-open-files", "5000000000"],
            "sink.max_open_files: expected at most 2147483647 (LevelDB takes a C int), got 5000000000",
        ),
        (
            "g.ldb",
            ["--key", "{a}", "--sink-block-size", str(2**70)],
            f"sink.block_size: expected at most 9223372036854775807 (a 64-bit integer), got {2**70}",
        ),
    ],
)
def test_a_number_past_what_the_libraries_take_exits_2_before_anything_is_made(
    tmp_path: Path, data_dir: Path, target: str, flags: list[str], message: str
) -> None:
    p = cli("load", str(data_dir / "small.csv"), str(tmp_path / target), *flags)
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == f"loader: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_a_size_flag_takes_the_largest_integer_as_typed(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["load", str(data_dir / "small.csv"), str(tmp_path / "s.db"), "--table", "t", "--dry-run"]
    assert main([*args, "--cache-size", "9223372036854775807"]) == 0
    capsys.readouterr()
    assert main([*args, "--cache-size", "9223372036854775808"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "loader: error: sink.cache_size: expected at most 9223372036854775807 (a 64-bit integer), "
        "got 9223372036854775808"
    )


def test_a_dry_run_that_finds_a_bad_input_says_to_check_again_not_that_files_stay_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run loads nothing: the load's hints of files loaded (before it, or none) are not its own."""
    (tmp_path / "a.csv").write_text("id\n1\n")
    (tmp_path / "b.parquet").write_text("not parquet\n")
    target = str(tmp_path / "t.db")
    assert main(["load", str(tmp_path / "b.parquet"), target, "--table", "t", "--dry-run"]) == 65
    assert capsys.readouterr().err.splitlines()[1] == (
        "  hint: fix or replace the file, then check again (the dry run wrote nothing)"
    )
    assert main(["load", str(tmp_path / "a.csv"), str(tmp_path / "no.csv"), target, "--table", "t", "--dry-run"]) == 66
    assert capsys.readouterr().err.splitlines() == [
        f"loader: error: {tmp_path / 'no.csv'}: no such file",
        "  hint: fix the path or the file's permissions, then check again (the dry run wrote nothing)",
    ]
    assert not (tmp_path / "t.db").exists()


def test_a_dry_run_of_standard_input_says_it_did_not_read_it(tmp_path: Path) -> None:
    """It said "sources are valid" for a key naming a column standard input lacks, which the load refuses."""
    db = tmp_path / "o.ldb"
    p = cli("load", "-", str(db), "--key", "{nope}", "--dry-run", input="id,v\n1,2\n")
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[:3] == [
        "files (1):",
        "  -",
        "standard input: not read by a dry run; its columns are checked by the load only",
    ]
    assert lines[-1] == "ok: configuration and target are valid; standard input was not read; nothing was written"
    assert not db.exists()
    assert cli("load", "-", str(db), "--key", "{nope}", input="id,v\n1,2\n").returncode == 2


def test_a_dry_run_of_standard_input_still_checks_the_target(tmp_path: Path) -> None:
    (tmp_path / "d.db").mkdir()
    p = cli("load", "-", str(tmp_path / "d.db"), "--table", "t", "--dry-run", input="id\n1\n")
    assert (p.returncode, p.stderr.splitlines()[0]) == (
        2,
        f"loader: error: sink.path: {tmp_path / 'd.db'} is a directory, not a SQLite database file",
    )


def inspected(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    """``loader inspect ARGS`` in this process: exit code, stdout's and stderr's lines."""
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_inspect_counts_the_rows_of_its_head_the_load_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repro: row 2 (``2,b,extra``) was left out of "first rows" without a word."""
    src = tmp_path / "ragged.csv"
    src.write_text("id,name\n1,a\n2,b,extra\n3,c\n")
    code, out, err = inspected(capsys, str(src), "--rows", "3")
    assert (code, err) == (0, [])
    assert out[-4:] == [
        "first rows:",
        "  id=1, name='a'",
        "  id=3, name='c'",
        "rejected: 1 of the first 3 rows, as a load would (line 3: expected 2 fields, found 3)",
    ]
    assert main(["load", str(src), str(tmp_path / "r.db"), "-q"]) == 0  # the load's reject says the same
    capsys.readouterr()
    (reject,) = [json.loads(line) for line in rejects_of(tmp_path / "r.db", "table:ragged").read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (3, "expected 2 fields, found 3")


def test_inspect_names_the_first_rejected_rows_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("id,n\n1,5\n2,x\n3,7,8\n4,9\n5,y\n")
    code, out, _ = inspected(capsys, str(src), "--columns", "n=int64", "--rows", "2")
    assert code == 0
    assert out[-3:] == [
        "  id=1, n=5",
        "  id=4, n=9",
        "rejected: 2 of the first 4 rows, as a load would (the first: line 3, column 'n': 'x' is not a valid int64)",
    ]
    # rows past the last one shown are not counted: here none is rejected before it
    code, out, _ = inspected(capsys, str(src), "--columns", "n=int64", "--rows", "1")
    assert (code, out[-2:]) == (0, ["first rows:", "  id=1, n=5"])


def test_inspect_counts_and_fails_on_maps_that_repeat_a_key_as_the_load_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows whose map repeats a key, which both targets reject on write, showed as good rows
    with exit 0; a file of only such rows too, where the load exits 4."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)
    m = pa.map_(pa.string(), pa.int64())
    rows = [[("a", 1), ("a", 2)], [("b", 1)], [("c", 1), ("c", 3)]]
    pq.write_table(pa.table({"id": [1, 2, 3], "m": pa.array(rows, m)}), "rep.parquet")
    pq.write_table(pa.table({"id": [1, 3], "m": pa.array([rows[0], rows[2]], m)}), "all.parquet")
    reason = "the map in column 'm' holds the key 'a' twice: a JSON object keeps one value per key"
    code, out, err = inspected(capsys, "rep.parquet")
    assert (code, err) == (0, [])
    assert out[-3:] == [
        "first rows:",
        "  id=2, m=[('b', 1)]",
        f"rejected: 2 of the first 3 rows, as a load would (the first: row 1, column 'm': {reason})",
    ]
    code, out, err = inspected(capsys, "all.parquet")
    assert main(["load", "all.parquet", "out.db"]) == 4
    (load_error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("loader: error:")]
    assert (code, err[0]) == (4, load_error)
    assert load_error == f"loader: error: all.parquet: nothing loaded: all 2 rows were rejected ({reason})"


@pytest.mark.parametrize(
    ("name", "data", "flags"),
    [
        ("lat.csv", b"name,n\ncaf\xe9,1\nna\xefve,2\n", []),  # the repro: Latin-1 read as UTF-8
        ("semi.csv", b"a,b\n1;2\n3;4\n", ["--delimiter", ","]),
    ],
    ids=["encoding", "delimiter"],
)
def test_inspect_fails_as_the_load_does_on_a_file_whose_every_row_it_rejects(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: bytes,
    flags: list[str],
) -> None:
    """It printed the schema and an empty "first rows:" with exit 0, where the load exits 4 naming the cause."""
    (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)  # the file named as typed, in both messages
    code, out, err = inspected(capsys, name, *flags)
    assert "first rows:" not in out
    assert main(["load", name, "out.db", *flags]) == 4
    (load_error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("loader: error:")]
    assert (code, err[0]) == (4, load_error)
    assert err[0].startswith(f"loader: error: {name}: nothing loaded: all 2 rows ")
    assert err[0].endswith(
        "the file reads as cp1252: try --encoding cp1252" if name == "lat.csv" else "try --delimiter ';'"
    )
    assert err[1] == (
        "  hint: `loader load` would reject every row of this file the same way: fix the cause, then inspect it again"
    )


@pytest.mark.parametrize(
    ("name", "data", "flags"),
    [
        ("lat.csv", b"id,name\n1,Zo\xeb\n2,Fran\xe7ois\n", []),  # cp1252 under an ASCII header
        ("semi.csv", b"a,b\n1;2\n3;4\n", ["--delimiter", ","]),
        ("lat.jsonl", b'{"id":"x\xe9"}\n{"id":"y\xe9"}\n', []),
    ],
    ids=["encoding", "delimiter", "jsonl"],
)
def test_a_dry_run_fails_as_the_load_does_on_a_file_whose_every_row_it_rejects(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: bytes,
    flags: list[str],
) -> None:
    """``validate`` and ``--dry-run`` said "sources are valid" (exit 0) where inspect and the load exit 4."""
    (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    delimiter = 'delimiter = ","\n' if flags else ""
    (tmp_path / "job.toml").write_text(f'[source]\npath = "{name}"\n{delimiter}[sink]\npath = "out.db"\ntable = "t"\n')
    hint = (
        "  hint: `loader load` would reject every row of this file the same way:"
        " fix the cause, then check again (the dry run wrote nothing)"
    )
    errors = []
    for argv in (["load", name, "out.db", "--table", "t", "--dry-run", *flags], ["validate", "job.toml"]):
        assert main(argv) == 4
        out, err = capsys.readouterr()
        assert "ok:" not in out
        assert err.splitlines()[1] == hint
        errors.append(err.splitlines()[0])
    assert not (tmp_path / "out.db").exists()  # read-only
    assert main(["load", name, "out.db", "--table", "t", *flags]) == 4
    (load_error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("loader: error:")]
    # validate takes no --encoding nor --delimiter: the flag to try is spelled as it takes it
    spelled = load_error.replace("try --encoding cp1252", "try --set source.encoding=cp1252")
    assert errors == [load_error, spelled.replace("try --delimiter ';'", "try --set source.delimiter=';'")]
    assert load_error.startswith(f"loader: error: {name}: nothing loaded: all 2 rows ")


def test_a_dry_run_of_files_one_of_which_the_load_writes_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load writes the good file's row and exits 0 (the bad file's rows rejected): so does the check."""
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,Zo\xeb\n")
    (tmp_path / "b.csv").write_bytes(b"id,name\n2,Zoe\n")
    (tmp_path / "c.csv").write_bytes(b"id,name\n3,Zo\xeb\n4,Zo\xeb\n")
    monkeypatch.chdir(tmp_path)
    assert main(["load", "a.csv", "b.csv", "out.db", "--table", "t", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: configuration and sources are valid; nothing was written"
    # every file's rows rejected: the load's line names none of them, and counts them all
    assert main(["load", "a.csv", "c.csv", "out.db", "--table", "t", "--dry-run"]) == 4
    assert capsys.readouterr().err.splitlines() == [
        "loader: error: nothing loaded: all 3 rows were rejected (invalid UTF-8 in 'Zo\\xeb');"
        " the file reads as cp1252: try --encoding cp1252",
        "  hint: `loader load` would reject every row of these files the same way:"
        " fix the cause, then check again (the dry run wrote nothing)",
    ]
    assert main(["load", "a.csv", "c.csv", "out.db", "--table", "t"]) == 4
    (load_error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("loader: error:")]
    assert load_error == (
        "loader: error: nothing loaded: all 3 rows were rejected (invalid UTF-8 in 'Zo\\xeb');"
        " the file reads as cp1252: try --encoding cp1252"
    )


def source_flags(command: str) -> set[str]:
    """The ``[source]`` keys' flags a command takes."""
    from loader.cli import _commands, build_parser

    parser = _commands(build_parser(helps=False))[command]
    return {o for a in parser._actions if a.dest.startswith("source.") for o in a.option_strings}


def test_inspect_takes_every_source_flag_load_takes() -> None:
    """It took six of them: a file that needs --skip-rows or --null-values could not be shown as the load reads it."""
    flags = source_flags("inspect")
    assert flags == source_flags("load") - {"--min-age", "--allow-empty", "--no-allow-empty"}  # which files load
    assert {"--skip-rows", "--null-values", "--na-values", "--quote-char", "--escape-char", "--column-names"} <= flags
    assert {"--infer-rows", "--max-row-bytes", "--partitioning", "--source-block-size", "--encoding"} <= flags


def schema_lines(out: list[str], start: str, end: str) -> list[tuple[str, str]]:
    """``(column, type)`` from the lines between ``start`` and ``end`` (``  a  int64``, ``  a: int64``)."""
    lines = out[out.index(start) + 1 : out.index(end)] if end in out else out[out.index(start) + 1 :]
    return [tuple(line.strip().replace(":", "").split(None, 1)) for line in lines]  # type: ignore[misc]


def test_inspect_with_skip_rows_shows_the_schema_the_load_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repro: a World Bank export's preamble; inspect refused --skip-rows (exit 2)."""
    from loader.types import parse_type
    from loader.writers.encode import sqlite_type

    src = tmp_path / "wb.csv"
    src.write_text(
        '"Data Source","World Development Indicators",\n\n"Last Updated Date","2024-06-28",\n\n'
        "country,code,y2020\nNorway,NOR,5.4\nSweden,SWE,10.4\n"
    )
    code, out, err = inspected(capsys, str(src), "--skip-rows", "4")
    assert (code, err) == (0, [])
    shown = schema_lines(out, out[1], "first rows:")
    assert shown == [("country", "string"), ("code", "string"), ("y2020", "float64")]
    assert out[-2:] == ["  country='Norway', code='NOR', y2020=5.4", "  country='Sweden', code='SWE', y2020=10.4"]
    db = tmp_path / "wb.db"
    assert main(["load", str(src), str(db), "--skip-rows", "4", "-q"]) == 0
    stored = sqlite_rows(db, "SELECT name, type FROM pragma_table_info('wb') ORDER BY cid")
    assert stored == [(n, sqlite_type(parse_type(t))) for n, t in shown]
    assert sqlite_rows(db, "SELECT * FROM wb") == [("Norway", "NOR", 5.4), ("Sweden", "SWE", 10.4)]


@pytest.mark.parametrize(
    ("data", "flags"),
    [
        ("a,b\n1,-\n2,3\n", ["--null-values", "-"]),
        ("a,b\n1,NA\n2,3\n", ["--na-values", "-"]),
        ("a,b\n1,'2'\n3,'4'\n", ["--quote-char", "false"]),
        ("1,x\n2,y\n", ["--column-names", "id,name"]),
        ("a,b\n1,2\n3,x\n", ["--infer-rows", "1"]),
        ("a,b\n1,2\\,5\n", ["--escape-char", "\\"]),
    ],
    ids=["null-values", "na-values", "quote-char", "column-names", "infer-rows", "escape-char"],
)
def test_inspect_reads_with_a_source_flag_as_the_dry_run_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, flags: list[str]
) -> None:
    src = tmp_path / "f.csv"
    src.write_text(data)
    code, out, err = inspected(capsys, str(src), *flags)
    assert (code, err) == (0, [])
    assert main(["load", str(src), str(tmp_path / "f.db"), "--dry-run", *flags]) == 0
    planned = capsys.readouterr().out.splitlines()
    assert schema_lines(out, out[1], "first rows:") == schema_lines(
        planned, "schema (after transforms):", "engine: threads"
    )


def test_inspect_refuses_a_file_outside_hive_folders_as_the_load_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "f.csv"
    src.write_text("a\n1\n")
    code, _, err = inspected(capsys, str(src), "--partitioning", "hive")
    assert main(["load", str(src), str(tmp_path / "f.db"), "--partitioning", "hive"]) == 2
    assert (code, err[0]) == (2, capsys.readouterr().err.splitlines()[0])
    assert err[0] == f"loader: error: {src}: source.partitioning = 'hive': no key=value folder in its path"
    (tmp_path / "day=1").mkdir()
    (tmp_path / "day=1" / "f.csv").write_text("a\n1\n")
    code, out, _ = inspected(capsys, str(tmp_path / "day=1" / "f.csv"), "--partitioning", "hive")
    assert (code, out[-1]) == (0, "  a=1, day=1")


@pytest.mark.parametrize(
    ("command", "given"),
    [
        ("load", "rerun with --restart --mode replace (every file); read it with --encoding cp1252"),
        ("run", "rerun with --restart --set sink.mode=replace (every file); read it with --set source.encoding=cp1252"),
        # replay takes load's flags (a load's rejects replay with its command line as it was)
        ("replay", "rerun with --restart --mode replace (every file); read it with --encoding cp1252"),
    ],
)
def test_a_hint_names_flags_the_command_takes(command: str, given: str) -> None:
    """Hints name ``loader load``'s flags; a key flag a job command lacks is ``--set KEY=VALUE``."""
    from loader.cli import hint_for

    assert (
        hint_for("rerun with --restart --mode replace (every file); read it with --encoding cp1252", command) == given
    )
    # but for the job's name: replay's --job is the job file
    assert hint_for("rerun with --job daily", "replay") == "rerun with --set run.job=daily"


@pytest.mark.parametrize(
    ("sink", "hint"),
    [
        (  # a glob and no table
            'path = "job.db"',
            "set sink.table (--set sink.table=NAME); the table name is not guessed from a pattern",
        ),
        (
            'path = "job.foo"\ntable = "t"',
            "use a path ending in {suffixes}, or set sink.type (--set sink.type=TYPE)",  # the sinks registered
        ),
        (
            'path = "job.db"\ntable = "sqlite_x"',
            "name another table (--set sink.table=NAME); without one the table is named after the first input file",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_job_commands_hint_names_no_flag_it_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, sink: str, hint: str
) -> None:
    """``run`` and ``validate`` take no ``--table`` nor ``--sink``: a hint's bare flag is
    spelled as ``--set`` takes it, with the flag's placeholder."""
    (tmp_path / "a.csv").write_text("id,v\n1,a\n")
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "*.csv"\n[sink]\n{sink}\n')
    assert main([command, str(job)]) == 2
    hint = hint.replace("{suffixes}", sinks.suffix_list())  # tests/test_sinks.py registers one more
    assert capsys.readouterr().err.splitlines()[1:] == [f"  hint: {hint}"]


@pytest.mark.parametrize(
    ("hint", "command", "given"),
    [
        ("declare the old type (--columns id=int64)", "run", "declare the old type (--set source.columns.id=int64)"),
        (
            "declare the type (--columns, or a job file)",
            "run",
            "declare the type (--set source.columns.NAME=TYPE, or a job file)",
        ),
        ("rerun with a higher --max-rejects to resume", "run", "rerun with a higher --max-rejects to resume"),
        (
            "rerun with a higher --max-rejects to resume",
            "validate",
            "rerun with a higher --set run.max_rejects=N to resume",
        ),
        ("finish it with the same --engine, or", "validate", "finish it with the same --set run.engine=ENGINE, or"),
        (
            "read it with (--encoding NAME, source.encoding)",
            "run",
            "read it with (--set source.encoding=NAME, source.encoding)",
        ),
        ("all rejected ('--table' is not an int64)", "run", "all rejected ('--table' is not an int64)"),  # quoted data
        ("rejected rows are in out--key.db.rejects.jsonl", "run", "rejected rows are in out--key.db.rejects.jsonl"),
    ],
)
def test_a_hints_bare_flag_is_spelled_for_the_command(hint: str, command: str, given: str) -> None:
    from loader.cli import hint_for

    assert hint_for(hint, command) == given


def test_a_run_hint_leaves_a_flag_like_word_in_a_path_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--key`` inside the target's name and ``--table``/``--mode`` in the input's are no flags:
    the reject file's path stays as it is; the hint's own advice is spelled for ``run``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in--table").mkdir()
    (tmp_path / "in--table" / "a--mode.csv").write_text("id,v\nx,1\ny,2\n")
    (tmp_path / "job.toml").write_text(
        '[source]\npath = "in--table/a--mode.csv"\ncolumns = { id = "int64" }\n[sink]\npath = "out--key.db"\ntable = "t"\n'
    )
    assert main(["run", "job.toml", "-q"]) == 4
    assert capsys.readouterr().err.splitlines() == [
        "loader: error: in--table/a--mode.csv: nothing loaded: all 2 rows were rejected ('x' is not a valid int64)",
        "  hint: rejected rows are in out--key.db.table-t.rejects.jsonl; fix the cause and rerun with --restart "
        "(and --set sink.mode=replace if this run created the table with the wrong columns)",
    ]


def test_a_run_leaves_a_rejected_value_with_a_flag_in_it_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The nothing-loaded line quotes the reject reason, and the value in it, as the file has it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("id,v\nsee --mode x,1\nb,2\n")
    (tmp_path / "job.toml").write_text('[source]\npath="a.csv"\ncolumns={id="int64"}\n[sink]\npath="o.db"\ntable="t"\n')
    assert main(["run", "job.toml", "-q"]) == 4
    assert capsys.readouterr().err.splitlines()[0] == (
        "loader: error: a.csv: nothing loaded: all 2 rows were rejected ('see --mode x' is not a valid int64)"
    )


@pytest.mark.parametrize(
    ("command", "tried"),
    [
        (["run", "w.toml"], "--set source.delimiter='\\t'"),
        (["load", "w.csv", "w.db", "--table", "t", "--delimiter", ","], "--delimiter '\\t'"),
    ],
)
def test_the_tab_a_nothing_loaded_line_says_to_try_is_taken_as_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str], tried: str
) -> None:
    """``try --delimiter '\\t'``: a shell passes the two characters ``\\t``, which are a tab as a delimiter."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.csv").write_text("a\tb\tc\n1,x\t2\t3\n4,y\t5\t6\n7,z\t8\t9\n")
    (tmp_path / "w.toml").write_text('[source]\npath="w.csv"\ndelimiter=","\n[sink]\npath="w.db"\ntable="t"\n')
    assert main([*command, "-q"]) == 4
    assert capsys.readouterr().err.splitlines()[0] == (
        "loader: error: w.csv: nothing loaded: all 3 rows have 2 fields but the header has 1; "
        f"the file looks '\\t'-delimited: try {tried}"
    )
    pasted = tried.replace("'", "").split(" ")  # as the shell passes it: '\\t' is the two characters
    again = [*command, *pasted] if command[0] == "run" else [*command[:-2], *pasted]
    assert main([*again, "--restart", "--set", "sink.mode=replace", "-q"]) == 0
    assert sqlite_rows(tmp_path / "w.db", "select * from t") == [("1,x", 2, 3), ("4,y", 5, 6), ("7,z", 8, 9)]


def test_a_file_too_new_is_left_for_a_later_run_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--min-age``, ``LOADER_SOURCE__MIN_AGE``: a dry run lists the file apart, a run logs it and exits 0."""
    import re

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id\n1\n")  # just written
    glob = str(tmp_path / "in" / "*.csv")
    assert main(["load", glob, str(tmp_path / "t.db"), "--table", "t", "--min-age", "60", "--dry-run"]) == 0
    assert re.sub(r"\d+s ago", "Ns ago", capsys.readouterr().out).splitlines() == [
        "files (0):",
        "too new (1): left for a later run (source.min_age)",
        f"  {tmp_path / 'in' / 'a.csv'}: modified Ns ago, under source.min_age = 60s",
        "engine: threads",
        f"target: sqlite {tmp_path / 't.db'}, table 't', mode append",
        "ok: configuration and sources are valid; nothing was written",
    ]
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "{glob}"\n[sink]\npath = "t.db"\ntable = "t"\n')
    monkeypatch.setenv("LOADER_SOURCE__MIN_AGE", "60")
    assert main(["run", str(job), "--log-format", "json", "--report", str(tmp_path / "r.json")]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"event":"file"' in x]
    assert (line["path"], line["status"], line["level"]) == (str(tmp_path / "in" / "a.csv"), "too-new", "info")
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["status"], report["files_too_new"], report["rows_written"]) == ("ok", 1, 0)


def test_inspect_of_a_glob_passes_over_its_empty_files_as_the_load_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0-byte first file (a part Spark wrote for a task without rows) stopped inspect with
    exit 65 and "fix or replace the file", where the load and its dry run pass it over."""
    (tmp_path / "a0.csv").write_bytes(b"")
    (tmp_path / "a1.csv.gz").write_bytes(gzip.compress(b"", mtime=0))
    (tmp_path / "b1.csv").write_text("id,v\n1,x\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = inspected(capsys, "*.csv*", "--format", "csv")
    assert (code, err) == (0, [])
    assert out[:5] == [
        "*.csv*: 3 files; the first, read as a load of them all reads it:",
        "empty (2): 0 bytes: no header, no rows, nothing to load",
        "  a0.csv",
        "  a1.csv.gz",
        "b1.csv: 2 columns",
    ]
    assert out[-1] == "  id=1, v='x'"


def test_inspect_of_a_glob_shows_its_first_file_with_the_partition_columns_a_load_adds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A glob was opened as a file: "no such file", hinting that "the files before it stay loaded"."""
    for day in (2, 1):
        (tmp_path / "in" / f"day={day}").mkdir(parents=True)
        (tmp_path / "in" / f"day={day}" / "a.csv").write_text(f"id\n{day}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = inspected(capsys, "in/**/*.csv")
    assert (code, err) == (0, [])
    assert out[:2] == [
        "in/**/*.csv: 2 files; the first, read as a load of them all reads it:",
        "in/day=1/a.csv: 2 columns",
    ]
    assert out[-1] == "  id=1, day=1"
    assert inspected(capsys, "in/*.csv")[::2] == (
        2,
        [
            "loader: error: no file matches 'in/*.csv'",
            "  hint: check the pattern: inspect shows the first file it matches",
        ],
    )


def test_inspect_hints_say_nothing_of_files_a_load_leaves_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.csv").write_text("")
    monkeypatch.chdir(tmp_path)
    assert inspected(capsys, "nope.csv")[::2] == (
        66,
        [
            "loader: error: nope.csv: no such file",
            "  hint: fix the path or the file's permissions, then inspect it again",
        ],
    )
    assert inspected(capsys, "empty.csv")[::2] == (
        65,
        [
            "loader: error: empty.csv: file is empty (no header, no rows)",
            "  hint: fix or replace the file, then inspect it again",
        ],
    )


def test_a_load_runs_rejects_replay_with_its_command_line_run_flags_and_all(tmp_path: Path) -> None:
    """README: a load's rejects replay "with the load's own arguments"; its run flags
    (``--workers``, ``--engine``, ``--progress``) were refused as unrecognized (exit 2). A replay
    takes them (it runs in this process, so an engine's flags change nothing); the load's job
    name is ``--set run.job=NAME``, replay's ``--job`` being the job file."""
    (tmp_path / "small.csv").write_text("id,amount\n1,5\n2,x\n3,7\n")
    flags = ("--columns", "amount=int64", "--engine", "processes", "--workers", "2", "--part-size", "1MiB")
    flags += ("--max-memory", "500MB", "--chunk-size", "100", "--progress", "--max-rejects", "5", "-q")
    assert cli("load", "small.csv", "r.db", *flags, "--job", "daily", cwd=tmp_path).returncode == 0
    rejects = tmp_path / "r.db.daily.rejects.jsonl"
    rejects.write_text(rejects.read_text().replace('"amount": "x"', '"amount": "6"'))
    p = cli("replay", rejects.name, "small.csv", "r.db", *flags, "--set", "run.job=daily", cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert sqlite_rows(tmp_path / "r.db", "SELECT * FROM small ORDER BY id") == [(1, 5), (2, 6), (3, 7)]


def test_a_load_runs_rejects_replay_with_its_sources_target_and_flags(tmp_path: Path) -> None:
    """A `loader load` run has no job file: its replay is given the load's own paths and
    flags, names the same job and table, and loads each fixed row once."""
    (tmp_path / "small.csv").write_text("id;name;amount\n1;a;5\n2;b\n3;c;7\n")
    load = ("load", "small.csv", "r.db", "--delimiter", ";", "-q")
    assert cli(*load, cwd=tmp_path).returncode == 0
    rejects = tmp_path / "r.db.table-small.rejects.jsonl"
    rejects.write_text(rejects.read_text().replace('"raw": "2;b"', '"raw": "2;b;9"'))
    # the load's paths before or after its flags
    for already, replay in enumerate(
        [
            ("replay", rejects.name, "small.csv", "r.db", "--delimiter", ";"),
            ("replay", rejects.name, "--delimiter", ";", "small.csv", "r.db"),
        ]
    ):
        p = cli(*replay, cwd=tmp_path)
        assert (p.returncode, p.stdout, p.stderr) == (
            0,
            "",
            f"ok: replayed 1 rows from {rejects.name} into r.db (table small): "
            f"{1 - already} written, 0 rejected again, {already} already replayed\n",
        )
    assert cli(*load, cwd=tmp_path).returncode == 0  # loaded already: not a row twice
    assert sqlite_rows(tmp_path / "r.db", "SELECT * FROM small ORDER BY id") == [(1, "a", 5), (2, "b", 9), (3, "c", 7)]


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (
            [],
            "replay: expected --job JOB.toml, or the SOURCE ... TARGET of the `loader load` that wrote the reject file",
            "e.g. loader replay out.db.table-events.rejects.jsonl events.csv out.db",
        ),
        (
            ["--job", "job.toml", "small.csv", "r.db"],
            "replay: --job job.toml and SOURCE ... TARGET (small.csv r.db) both name the job",
            "give the job file, or the sources and target of the `loader load` that wrote the reject file; "
            "replay's --job is the job file: a load's --job job.toml (the job's name) is --set run.job=job.toml here",
        ),
        (
            ["--job", "daily", "small.csv", "r.db"],
            "replay: --job daily and SOURCE ... TARGET (small.csv r.db) both name the job",
            "give the job file, or the sources and target of the `loader load` that wrote the reject file; "
            "replay's --job is the job file: a load's --job daily (the job's name) is --set run.job=daily here",
        ),
        (["r.db"], "replay: expected one or more SOURCE files and a TARGET", None),
    ],
)
def test_a_replay_is_given_a_job_file_or_a_loads_paths(
    tmp_path: Path, args: list[str], message: str, hint: str | None
) -> None:
    p = cli("replay", "r.jsonl", *args, cwd=tmp_path)
    hint = hint or "check the job file or flags; `loader replay --help` lists them"
    assert (p.returncode, p.stderr) == (2, f"loader: error: {message}\n  hint: {hint}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags", [["--log-format", "json"], ["--quiet"], ["--log-format", "json", "--quiet"]])
def test_progress_is_never_drawn_with_json_logs_nor_quiet(tmp_path: Path, data_dir: Path, flags: list[str]) -> None:
    p = cli("load", str(data_dir / "small.csv"), str(tmp_path / "p.db"), "--progress", *flags)
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr and "\x1b" not in p.stderr
    for line in p.stderr.splitlines():  # JSON logs: every line parses
        assert json.loads(line)["event"] in {"start", "file", "progress", "file_done", "finish"}


def test_inspect_of_a_glob_shows_the_types_the_load_of_the_glob_reads_its_first_file_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It showed the first file's own types: ``zip int64`` and ``zip=123``, which the load stores as '123'."""
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "a.csv").write_text("id,zip\n1,123\n")
    (tmp_path / "g" / "b.csv").write_text("id,zip\n2,0456\n")
    glob = str(tmp_path / "g" / "*.csv")
    code, out, err = inspected(capsys, glob)
    assert (code, err) == (0, [])
    assert out == [
        f"{glob}: 2 files; the first, read as a load of them all reads it:",
        f"{tmp_path / 'g' / 'a.csv'}: 2 columns",
        "dialect: delimiter ',' (detected), quote '\"' (detected), header (detected)",
        "  id   int64",
        "  zip  string",
        "first rows:",
        "  id=1, zip='123'",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # nothing written


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--min-age", "600"], "unrecognized arguments: --min-age 600"),
        (["--allow-empty"], "unrecognized arguments: --allow-empty"),
        (["--rows", "-1"], "argument --rows: expected 0 or more, got -1"),
        (["--rows", "x"], "argument --rows: expected a whole number, got 'x'"),
    ],
)
def test_inspect_refuses_the_flags_it_would_ignore_and_a_negative_row_count(
    data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], error: str
) -> None:
    """``--min-age`` and ``--allow-empty`` say which files a load takes; inspect took them and ignored them."""
    code, out, err = inspected(capsys, str(data_dir / "small.csv"), *flags)
    assert (code, out, err) == (2, [], ["usage: loader inspect FILE [options]", f"loader inspect: error: {error}"])


def test_in_process_runs_leave_the_process_as_they_found_it(tmp_path: Path, data_dir: Path) -> None:
    """``cli()`` runs the command in the test's process (``reliability_util.in_process``): each
    run gets its own environment, directory and standard input, and leaves every one of them,
    and what else of the process a command could change (signal handlers, the collector,
    logging, warnings, umask, Arrow's pool), as it found it, whatever the run before did."""
    from tests.reliability_util import process_state, state_changes

    (tmp_path / "sub").mkdir()
    before = process_state()
    # JSON logs from the environment, a relative target in another directory, rows from stdin
    p = cli(
        "load",
        "-",
        "one.db",
        "--table",
        "t",
        extra_env={"LOADER_RUN__LOG_FORMAT": "json"},
        cwd=tmp_path,
        input="a,b\n1,x\n2,y\n",
    )
    assert p.returncode == 0, p.stderr
    assert [json.loads(line)["event"] for line in p.stderr.splitlines()][-1] == "finish"
    assert sqlite_rows(tmp_path / "one.db", "SELECT a, b FROM t ORDER BY a") == [(1, "x"), (2, "y")]
    assert state_changes(before, process_state()) == {}
    # a run that fails, with its traceback, text logs, no stdin, another directory and variable
    p = cli("load", str(data_dir / "bad.csv"), "two.db", "--set", "run.max_rejects=0", "--debug",
            extra_env={"LOADER_SINK__BATCH_SIZE": "1"}, cwd=tmp_path / "sub")  # fmt: skip
    assert p.returncode != 0
    assert "Traceback (most recent call last):\n" in p.stderr and "loader: error: " in p.stderr, p.stderr
    assert (tmp_path / "sub" / "two.db").exists() and not (tmp_path / "two.db").exists()
    assert state_changes(before, process_state()) == {}


def test_in_process_run_that_changes_the_process_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check behind ``cli()``: a command that leaves the process changed is a failure."""
    import loader.cli

    def leaky(argv: list[str]) -> int:
        os.umask(0o077)
        return 0

    monkeypatch.setattr(loader.cli, "main", leaky)
    mask = os.umask(0o022)
    os.umask(mask)
    try:
        with pytest.raises(AssertionError, match="umask"):
            cli("--version")
    finally:
        os.umask(mask)


def test_a_load_with_stderr_closed_runs_without_a_progress_line(tmp_path: Path, data_dir: Path) -> None:
    """With fd 2 closed (``2>&-``) Python's ``sys.stderr`` is None: the terminal check raised
    AttributeError, an internal error before anything was loaded."""
    report = tmp_path / "r.json"
    args = ["load", str(data_dir / "small.csv"), str(tmp_path / "t.db"), "--table", "t", "--report", str(report)]
    p = subprocess.run(
        ["sh", "-c", 'exec "$0" -m loader "$@" 2>&-', sys.executable, *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    # the summary is not printed on stdout instead (Python's print(file=None) would): it may be another program's input
    assert p.returncode == 0 and p.stdout == "", p.stdout
    assert json.loads(report.read_text())["status"] == "ok"
    assert sqlite_rows(tmp_path / "t.db", "SELECT * FROM t") == [(1, "x"), (2, "y")]
    (tmp_path / "none.csv").write_text("")
    p = subprocess.run(
        [
            "sh",
            "-c",
            'exec "$0" -m loader "$@" 2>&-',
            sys.executable,
            "load",
            str(tmp_path / "none.csv"),
            str(tmp_path / "t.db"),
            "--table",
            "t",
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert p.returncode == 65 and p.stdout == "", p.stdout


def test_the_reference_job_file_s_own_usage_line_works_as_written(tmp_path: Path) -> None:
    """Its header says ``loader validate configs/reference.toml``: that failed with exit 66,
    as its inputs defaulted to configs/data/, which does not exist."""
    p = cli("validate", "configs/reference.toml")
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip().endswith("ok: configuration and sources are valid; nothing was written")


_NORMALISE = """import pyarrow.compute as pc
def normalise(batch):
    i = batch.schema.get_field_index("country")
    return batch.set_column(i, "country", pc.utf8_lower(batch.column(i)))
"""


def _entry_points() -> list[list[str]]:
    """``python -m loader`` and the installed ``loader`` command (its script, as pip made it)."""
    script = Path(sys.executable).parent / "loader"
    return [[sys.executable, "-m", "loader"], *([[str(script)]] if script.exists() else [])]


def test_a_python_stage_s_module_is_found_beside_the_job_file_by_every_entry_point(tmp_path: Path) -> None:
    """hunt28b D1: a package beside the job file imported under ``python -m loader`` (the current
    directory on the path) but not under the ``loader`` command; the hint pointed at --help."""
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    (proj / "mypkg").mkdir(parents=True)
    elsewhere.mkdir()
    (proj / "mypkg" / "__init__.py").write_text("")
    (proj / "mypkg" / "cleaning.py").write_text(_NORMALISE)
    (proj / "events.csv").write_text("id,country\n1,SE\n")
    (proj / "py.toml").write_text(
        '[source]\npath = "events.csv"\n[[transform]]\ntype = "python"\nfunction = "mypkg.cleaning:normalise"\n'
        '[sink]\npath = "OUT"\ntable = "e"\n'
    )
    for i, command in enumerate(_entry_points()):
        for cwd in (proj, elsewhere):
            job = (proj / "py.toml").read_text().replace('"OUT"', json.dumps(str(tmp_path / f"o{i}{cwd.name}.db")))
            (proj / "py.toml").write_text(job)
            p = subprocess.run(
                [*command, "run", str(proj / "py.toml"), "--allow-python", "-q"],
                capture_output=True,
                text=True,
                cwd=cwd,
                env=env(),
                timeout=120,
            )
            assert (p.returncode, p.stderr) == (0, ""), (command, cwd)
            (proj / "py.toml").write_text(job.replace(json.dumps(str(tmp_path / f"o{i}{cwd.name}.db")), '"OUT"'))


def test_a_python_stage_s_module_in_the_current_directory_only_is_not_found_by_any_entry_point(
    tmp_path: Path,
) -> None:
    """Under ``python -m loader`` it was (the current directory on the path), not under ``loader``."""
    jobs, cwd = tmp_path / "jobs", tmp_path / "cwd"
    jobs.mkdir()
    (cwd / "mypkg").mkdir(parents=True)
    (cwd / "mypkg" / "__init__.py").write_text("")
    (cwd / "mypkg" / "cleaning.py").write_text(_NORMALISE)
    (cwd / "events.csv").write_text("id,country\n1,SE\n")
    (jobs / "py.toml").write_text(
        f'[source]\npath = {json.dumps(str(cwd / "events.csv"))}\n[[transform]]\ntype = "python"\n'
        f'function = "mypkg.cleaning:normalise"\n[sink]\npath = {json.dumps(str(tmp_path / "o.db"))}\ntable = "e"\n'
    )
    for command in _entry_points():
        p = subprocess.run(
            [*command, "run", str(jobs / "py.toml"), "--allow-python"],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env(),
            timeout=120,
        )
        assert (p.returncode, p.stderr.splitlines()) == (
            2,
            [
                "loader: error: transform[1] (python): function: cannot import 'mypkg.cleaning' for "
                "'mypkg.cleaning:normalise': No module named 'mypkg'",
                f"  hint: loader looks for 'mypkg' in the job file's directory ({jobs}), then among the installed "
                "packages and PYTHONPATH: put it beside the job file, pip install it, or add its directory "
                "to PYTHONPATH",
            ],
        ), command
    assert not (tmp_path / "o.db").exists()


def test_errors_that_run_help_cannot_answer_get_their_own_hint(tmp_path: Path) -> None:
    """hunt28b D11: "check the flags; `loader load --help` lists them" for JSON Lines or Parquet
    on standard input and for a stage's syntax, though --help says nothing of either."""
    for fmt, message, data in [
        ("jsonl", "source.path: JSON Lines is read from files, not standard input", '{"a": 1}\n'),
        ("parquet", "source.path: Parquet cannot be read from standard input", "PAR1"),
    ]:
        p = cli("load", "-", str(tmp_path / "s.db"), "--table", "t", "--format", fmt, input=data)
        assert (p.returncode, p.stderr.splitlines()) == (
            2,
            [
                f"loader: error: {message}",
                f"  hint: save it to a file and load the file: `cat > in.{fmt}`, then `loader load in.{fmt} ...`",
            ],
        ), fmt
    (tmp_path / "a.csv").write_text("a\n1\n")
    job = tmp_path / "f.toml"
    job.write_text(
        '[source]\npath = "a.csv"\n[[transform]]\ntype = "filter"\nwhere = "a > 1)"\n[sink]\npath = "f.db"\n'
    )
    p = cli("validate", str(job))
    assert p.returncode == 2 and p.stderr.splitlines()[-1] == (
        "  hint: check the stage in the job file (docs/transforms.md lists each stage's keys and syntax)"
    ), p.stderr
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "f.db").exists()


@pytest.mark.parametrize("command", ["load", "run", "replay"])
def test_help_shows_no_markdown_links_but_the_docs_page(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """hunt28b D5: --mode's help read "see [Reliability](reliability.md#replace-is-atomic-in-sqlite)",
    raw link syntax naming a path relative to nothing a user has."""
    assert main([command, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "](" not in shown
    if command != "run":  # run takes the [run] keys alone
        assert "see Reliability (docs/reliability.md); LevelDB:" in shown
