from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from loader import Pipeline, sinks
from loader.cli import main
from loader.config import (
    SECTIONS,
    JobConfig,
    RunConfig,
    SinkConfig,
    SourceConfig,
    apply_overrides,
    infer_format,
    job_from_dict,
    job_from_overrides,
    load_job,
    resolve,
)
from loader.cpus import cgroup_cpu_quota, usable_cpus
from loader.errors import ConfigError
from tests.conftest import read_only, sqlite_rows
from tests.reliability_util import write_job


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text, encoding="utf-8")
    return p


BASIC = """
[source]
path = "in/*.csv"
[sink]
path = "out/x.db"
table = "t"
"""


def test_job_file_defaults_and_inference(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, BASIC), env={})
    assert job.source.format == "csv"
    assert job.source.path == [str(tmp_path / "in/*.csv")]  # relative to the job file
    assert job.sink.type == "sqlite"
    assert job.sink.batch_size == 50_000
    assert job.run.chunk_size == 8192


def test_leveldb_defaults(tmp_path: Path) -> None:
    job = job_from_dict({"source": {"path": "a.parquet"}, "sink": {"path": "o.ldb", "key": "k:{id}"}}, env={})
    assert (job.sink.type, job.source.format, job.sink.batch_size) == ("leveldb", "parquet", 8_192)


def test_leveldb_block_size_is_checked() -> None:
    sink = {"path": "o.ldb", "key": "k:{id}", "block_size": 512}
    with pytest.raises(ConfigError, match=r"^sink\.block_size: expected at least 1024 bytes$"):
        job_from_dict({"source": {"path": "a.parquet"}, "sink": sink}, env={})


@pytest.mark.parametrize("given", [256, 3000, 131072])
def test_sqlite_page_size_is_a_power_of_two_sqlite_takes(given: int) -> None:
    with pytest.raises(
        ConfigError, match=rf"^sink\.page_size: expected a power of two from 512 to 65536 bytes, got {given}$"
    ):
        job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db", "page_size": given}}, env={})


def test_sqlite_cache_size_is_not_negative() -> None:
    with pytest.raises(ConfigError, match=r"^sink\.cache_size: expected a size in bytes, 0 or more, got -1$"):
        job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db", "cache_size": -1}}, env={})
    job = job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db", "cache_size": "2MiB"}}, env={})
    assert job.sink.cache_size == 2 << 20


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("9223372036854775807", 2**63 - 1),  # a float made it 2^63, past the maximum
        ("9007199254740993", 2**53 + 1),  # a float made it 2^53
        ("9007199254740993B", 2**53 + 1),
        ("8191.9999999999999999T", (8192 << 40) - 1),  # the fraction's bytes kept; the rest dropped
        ("1.5G", 3 << 29),
        ("0.5k", 512),
        ("1.5", 1),  # a fraction of a byte is dropped
    ],
)
def test_a_size_given_as_text_is_exact(tmp_path: Path, given: str, expected: int) -> None:
    job = job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db", "cache_size": given}}, env={})
    assert job.sink.cache_size == expected
    job = load_job(write(tmp_path, BASIC), [f"sink.cache_size={given}"], env={})
    assert job.sink.cache_size == expected


def test_a_size_past_the_maximum_is_refused_as_given() -> None:
    with pytest.raises(ConfigError) as info:
        job_from_dict(
            {"source": {"path": "a.csv"}, "sink": {"path": "o.db", "cache_size": "9223372036854775808"}}, env={}
        )
    assert str(info.value) == (
        "sink.cache_size: expected at most 9223372036854775807 (a 64-bit integer), got 9223372036854775808"
    )


def test_sqlite_page_size_takes_a_size() -> None:
    job = job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db", "page_size": "4KiB"}}, env={})
    assert job.sink.page_size == 4096


def test_dialect_is_left_to_the_reader() -> None:
    # the reader sniffs it, for load and inspect alike (.tsv ties go to a tab: tests/test_dialect.py)
    job = job_from_dict({"source": {"path": "a.tsv"}, "sink": {"path": "o.db"}}, env={})
    assert (job.source.delimiter, job.source.quote_char, job.source.header) == (None, None, None)


@pytest.mark.parametrize(
    ("key", "value"), [("quote_char", True), ("escape_char", True), ("quote_char", 0), ("escape_char", 0.0)]
)
def test_no_quote_or_escape_character_is_false_alone(key: str, value: object) -> None:
    """Typed ``str | bool``, True passed the types and 0 would equal false: only false is taken."""
    with pytest.raises(ConfigError) as raised:
        job_from_dict({"source": {"path": "a.csv", key: value}, "sink": {"path": "o.db"}}, env={})
    assert str(raised.value) == f"source.{key}: expected a string or false, got {value!r}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"delimiter": "\n"}, "source.delimiter: expected a character other than a line break, got '\\n'"),
        ({"quote_char": "\r"}, "source.quote_char: expected a character other than a line break, got '\\r'"),
        ({"delimiter": "|", "quote_char": "|"}, "source.quote_char: '|' is also source.delimiter"),
        ({"delimiter": ";", "escape_char": ";"}, "source.escape_char: ';' is also source.delimiter"),
        ({"quote_char": "'", "escape_char": "'"}, 'source.escape_char: "\'" is also source.quote_char'),
        (
            {"escape_char": '"'},
            "source.escape_char: '\"' is also the quote (source.quote_char unset: detected, \" by default)",
        ),
    ],
)
def test_dialect_characters_are_no_line_break_and_differ(source: dict[str, str], message: str) -> None:
    """pyarrow refused a line break as the file's fault (exit 65); equal characters loaded garbage."""
    with pytest.raises(ConfigError) as raised:
        job_from_dict({"source": {"path": "a.csv", **source}, "sink": {"path": "o.db"}}, env={})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"delimiter": "¦"}, "source.delimiter: expected an ASCII character, got '¦'"),
        ({"quote_char": "þ"}, "source.quote_char: expected an ASCII character or false, got 'þ'"),
        ({"escape_char": "¬"}, "source.escape_char: expected an ASCII character or false, got '¬'"),
        # one byte in latin-1, but the parser reads the text transcoded to UTF-8
        (
            {"quote_char": "þ", "encoding": "latin-1"},
            "source.quote_char: expected an ASCII character or false, got 'þ'",
        ),
    ],
)
def test_dialect_characters_are_ascii(source: dict[str, str], message: str) -> None:
    """pyarrow's parser raised ValueError for them mid-read: an internal error, exit 1."""
    with pytest.raises(ConfigError) as raised:
        job_from_dict({"source": {"path": "a.csv", **source}, "sink": {"path": "o.db"}}, env={})
    assert str(raised.value) == message
    char = message.rsplit(" ", 1)[1]
    assert raised.value.hint == (
        f"the CSV parser reads it as one byte of UTF-8 text: rewrite the file's {char}"
        " as an ASCII character that no value holds, then load it"
    )
    assert raised.value.exit_code == 2


def test_an_ascii_control_character_is_a_delimiter() -> None:
    job = job_from_dict({"source": {"path": "a.csv", "delimiter": "\x14"}, "sink": {"path": "o.db"}}, env={})
    assert job.source.delimiter == "\x14"


def test_a_quote_may_be_the_delimiter_when_the_quote_is_detected() -> None:
    job = job_from_dict({"source": {"path": "a.csv", "delimiter": '"'}, "sink": {"path": "o.db"}}, env={})
    assert (job.source.delimiter, job.source.quote_char) == ('"', None)  # the reader never takes it as the quote


def test_unknown_key_is_an_error_with_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_job(job := write(tmp_path, BASIC + 'tabel = "x"\n'), env={})
    assert str(e.value) == f"{job}: sink.tabel: unknown key"  # the file that says it
    assert e.value.hint == "did you mean 'table'?"
    assert e.value.exit_code == 2


def test_a_nan_in_a_job_file_is_named_with_the_file(tmp_path: Path) -> None:
    """nan equals nothing, not even itself: the key looked changed by an override, and the
    error lacked the file's name that every other key's error starts with."""
    with pytest.raises(ConfigError) as e:
        load_job(job := write(tmp_path, BASIC + "[run]\nmax_rejects = nan\n"), env={})
    assert str(e.value) == f"{job}: run.max_rejects: expected 0 or more (a count, or a fraction below 1), got nan"
    with pytest.raises(ConfigError) as e:  # set by an override: not the file's
        load_job(job, sets=["run.max_rejects=nan"], env={})
    assert e.value.file is None


def test_from_config_names_its_sets_argument_not_the_set_flag(tmp_path: Path) -> None:
    from loader import Pipeline

    job = write(tmp_path, BASIC)
    with pytest.raises(ConfigError) as e:
        Pipeline.from_config(job, sets=["sink.table=t", "mode=replace"], env={})
    assert str(e.value) == "sets[1] mode: expected SECTION.KEY=VALUE, got 'mode'"
    with pytest.raises(ConfigError) as e:
        Pipeline.from_config(job, sets=["sink.path=${NOPE}"], env={})
    assert str(e.value) == "sets[0] sink.path: environment variable NOPE is not set"
    with pytest.raises(ConfigError) as e:  # the command line's, as it was
        load_job(job, sets=["mode=replace"], env={})
    assert str(e.value) == "--set mode: expected SECTION.KEY=VALUE, got 'mode'"


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"job.sinks: unknown key"):
        load_job(job := write(tmp_path, BASIC + "[sinks]\na = 1\n"), env={})
    with pytest.raises(ConfigError) as e:
        load_job(job, env={})
    assert e.value.file == str(job)


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_job(job := write(tmp_path, BASIC + 'batch_size = "many"\n'), env={})
    assert str(e.value) == f"{job}: sink.batch_size: expected an integer, got 'many'"


def test_bad_literal_value(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"sink.mode: expected one of 'append', 'replace', 'upsert', 'ignore', got 'merge'"
    ):
        load_job(write(tmp_path, BASIC + 'mode = "merge"\n'), env={})


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_job(write(tmp_path, "[source\n"), env={})


def test_a_job_file_with_a_byte_order_mark_reads(tmp_path: Path) -> None:
    """Notepad's and PowerShell's UTF-8 starts with one: it was "not valid TOML: Invalid statement
    (at line 1, column 1)", in a file that looks right in any editor."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASIC.replace("\n", "\r\n").encode())
    assert load_job(path, env={}) == load_job(write(tmp_path, BASIC), env={})


def test_home_is_expanded_in_paths_given_by_set_the_environment_flags_and_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job file's ``~/x.csv`` is the home directory's; the same key by --set, LOADER_* or a
    quoted flag (``'~/data/*.csv'``: a glob is quoted) stayed a literal ``~``: exit 66."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ev.csv").write_text("a\n1\n")
    job = job_from_overrides(
        {},
        ["sink.path=~/out/h.db", "run.report=~/r.json"],
        {"LOADER_RUN__METRICS_FILE": "~/m.prom"},
        [("source.path", ["~/ev*.csv"]), ("sink.table", "t")],
    )
    assert job.source.path == [str(tmp_path / "ev*.csv")]
    assert (job.sink.path, job.run.report, job.run.metrics_file) == tuple(
        str(tmp_path / n) for n in ("out/h.db", "r.json", "m.prom")
    )
    assert job_from_overrides({}, [], {}, [("source.path", ["-"]), ("sink.path", "~x.db")]).sink.path == "~x.db"
    assert load_job(write(tmp_path, '[source]\npath = "~/ev.csv"\n[sink]\npath = "~/o.db"\n'), env={}) == job_from_dict(
        {"source": {"path": "~/ev.csv"}, "sink": {"path": "~/o.db"}}, env={}
    )


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such job file"):
        load_job(tmp_path / "nope.toml", env={})


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    p = write(tmp_path, BASIC + "batch_size = 10\n")
    assert load_job(p, env={}).sink.batch_size == 10
    assert load_job(p, env={"LOADER_SINK__BATCH_SIZE": "20"}).sink.batch_size == 20
    assert load_job(p, ["sink.batch_size=30"], env={"LOADER_SINK__BATCH_SIZE": "20"}).sink.batch_size == 30


def test_set_parses_toml_values(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, BASIC), ['sink.primary_key=["id"]', "sink.mode=upsert", "run.quiet=true"], env={})
    assert job.sink.primary_key == ["id"]
    assert job.sink.mode == "upsert"
    assert job.run.quiet is True


def test_env_interpolation_and_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, '[source]\npath = "${IN}/a.csv"\n[sink]\npath = "${OUT:-out}/x.db"\n')
    job = load_job(p, env={"IN": "/data"})
    assert job.source.path == ["/data/a.csv"]
    assert job.sink.path == str(tmp_path / "out/x.db")  # relative to the job file


def test_a_stages_state_path_is_relative_to_the_job_file_like_its_other_paths(tmp_path: Path) -> None:
    """``state_path`` (dedupe, validate's ``unique``) stayed relative to the current directory."""
    p = write(
        tmp_path,
        BASIC
        + '[[transform]]\ntype = "dedupe"\ncolumns = ["id"]\nstate_path = "out/x.db.dedupe.sqlite"\n'
        + '[[transform]]\ntype = "validate"\nrules = { id = { unique = true } }\nstate_path = "/abs/u.sqlite"\n'
        + '[[transform]]\ntype = "filter"\nwhere = "id > 0"\n',
    )
    job = load_job(p, env={})
    assert [t.get("state_path") for t in job.transform] == [
        str(tmp_path / "out/x.db.dedupe.sqlite"),
        "/abs/u.sqlite",
        None,
    ]


def test_home_is_expanded_in_a_job_file_named_without_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hunt27e 0: ``loader run job.toml`` left ``~`` as it was (its directory is ''), so the
    target went to ``./~/x/out.db``; ``loader run ./job.toml`` expanded it: one job, two targets."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.toml").write_text(
        '[source]\npath = "~/in/*.csv"\n[sink]\npath = "~/x/out.db"\ntable = "t"\n'
        '[[transform]]\ntype = "dedupe"\ncolumns = ["a"]\nstate_path = "~/x/keys.sqlite"\n'
    )
    jobs = [load_job(name, env={}) for name in ("job.toml", "./job.toml")]
    for job in jobs:
        assert (job.source.path, job.sink.path) == ([f"{home}/in/*.csv"], f"{home}/x/out.db")
        assert job.transform[0]["state_path"] == f"{home}/x/keys.sqlite"
    (home / "in").mkdir(parents=True)
    (home / "x").mkdir()
    (home / "in" / "a.csv").write_text("a\n1\n")
    assert main(["run", "job.toml", "-q"]) == 0
    assert sqlite_rows(home / "x" / "out.db", "SELECT a FROM t") == [(1,)]
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(
    ("stage", "filtered", "rejected"),
    [
        ({"type": "dedupe", "columns": ["id"]}, 5, 0),
        ({"type": "validate", "rules": {"id": {"unique": True}}}, 0, 5),
    ],
    ids=["dedupe", "validate-unique"],
)
def test_a_job_run_from_another_directory_keeps_one_key_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: dict[str, Any], filtered: int, rejected: int
) -> None:
    """Day 1 run from the job's directory, day 2 from cron's: day 2 opened an empty key store
    of its own in the current directory and loaded ids 5-9 a second time (exit 0)."""
    cfg, cron = tmp_path / "cfg", tmp_path / "cron"
    (cfg / "in").mkdir(parents=True)
    cron.mkdir()
    (cfg / "in" / "day1.csv").write_text("id,v\n" + "".join(f"{i},day1\n" for i in range(10)))
    write_job(
        cfg / "job.toml",
        source={"path": "in/*.csv"},
        transform=[{**stage, "state_path": "out.db.keys.sqlite"}],
        sink={"path": "out.db", "table": "t"},
    )
    monkeypatch.chdir(cfg)
    assert main(["run", "job.toml", "-q"]) == 0
    (cfg / "in" / "day2.csv").write_text("id,v\n" + "".join(f"{i},day2\n" for i in range(5, 15)))
    monkeypatch.chdir(cron)
    assert main(["run", "../cfg/job.toml", "-q", "--report", "rep.json"]) == 0
    report = json.loads((cron / "rep.json").read_text())
    assert (report["rows_written"], report["rows_filtered"], report["rows_rejected"]) == (5, filtered, rejected)
    assert sqlite_rows(cfg / "out.db", "SELECT count(*), count(DISTINCT id) FROM t") == [(15, 15)]
    assert sorted(p.name for p in cron.iterdir()) == ["rep.json"]  # no key store of its own here


@pytest.mark.parametrize("command", [["run"], ["validate"], ["run", "--dry-run"]])
def test_a_key_store_left_in_the_current_directory_by_an_earlier_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Upgrade hazard: a deployment started from another directory (cron from $HOME) kept its
    key store there; the job's relative state_path now names a new, empty store next to the
    job file, and the run loaded again every key the old store held (exit 0)."""
    cfg, cron = tmp_path / "cfg", tmp_path / "cron"
    cfg.mkdir()
    cron.mkdir()
    (cfg / "a.csv").write_text("id,v\n1,a\n2,b\n")
    stage = {"type": "dedupe", "columns": ["id"], "state_path": "keys.sqlite"}
    write_job(cfg / "job.toml", source={"path": "a.csv"}, transform=[stage], sink={"path": "out.db", "table": "t"})
    (cron / "keys.sqlite").write_bytes(b"")  # the store an earlier version kept where cron starts
    monkeypatch.chdir(cron)
    assert main([*command, "../cfg/job.toml"]) == 78
    old, new = cron / "keys.sqlite", cfg / "keys.sqlite"
    assert capsys.readouterr().err == (
        f"loader: error: transform[1] (dedupe): state_path: {new} does not exist, but {old} does: a relative "
        "state_path is relative to the job file now, not to the current directory, and a run would start an "
        "empty key store and load again the keys the old one holds\n"
        f"  hint: move {old} to {new} (with its -wal and -shm files, if any) and rerun; if that store is not "
        "this job's, give state_path as an absolute path\n"
    )
    assert sorted(p.name for p in cfg.iterdir()) == ["a.csv", "job.toml"]  # nothing loaded, no new store
    old.rename(new)
    assert main(["run", "../cfg/job.toml", "-q"]) == 0
    assert sqlite_rows(cfg / "out.db", "SELECT count(*) FROM t") == [(2,)]


@pytest.mark.parametrize("command", [["run"], ["validate"]])
def test_a_relative_key_store_in_a_read_only_job_directory_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A ConfigMap job (its directory read-only) with state_path = "keys.sqlite": exit 1,
    "cannot open key store ...: unable to open database file", retried by a scheduler forever,
    the target made first."""
    cfg, out = tmp_path / "cfg", tmp_path / "out"
    cfg.mkdir()
    out.mkdir()
    (out / "a.csv").write_text("id,v\n1,a\n")
    stage = {"type": "dedupe", "columns": ["id"], "state_path": "keys.sqlite"}
    write_job(
        cfg / "job.toml",
        source={"path": str(out / "a.csv")},
        transform=[stage],
        sink={"path": str(out / "t.db"), "table": "t"},
    )
    monkeypatch.chdir(out)
    with read_only(cfg):
        assert main([*command, str(cfg / "job.toml")]) == 2
    assert capsys.readouterr().err == (
        f"loader: error: transform[1] (dedupe): state_path: cannot create the key store {cfg / 'keys.sqlite'}: "
        f"its directory is not writable (a relative state_path is resolved against the job file's directory, {cfg})\n"
        "  hint: give state_path as an absolute path in a writable directory (next to the target, say)\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.csv"]  # no target made


def test_a_relative_key_store_refused_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as ``loader run rw/job.toml``, ``../ro/keys.sqlite`` was named ``ro/keys.sqlite``
    (relative to the current directory) beside "resolved against the job file's directory"."""
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (rw / "a.csv").write_text("id\n1\n")
    stage = {"type": "dedupe", "columns": ["id"], "state_path": "../ro/keys.sqlite"}
    write_job(rw / "job.toml", source={"path": "a.csv"}, transform=[stage], sink={"path": "t.db", "table": "t"})
    monkeypatch.chdir(tmp_path)
    with read_only(ro):
        assert main(["run", "rw/job.toml"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"loader: error: transform[1] (dedupe): state_path: cannot create the key store {ro / 'keys.sqlite'}: "
        f"its directory is not writable (a relative state_path is resolved against the job file's directory, {rw})"
    )


def test_a_key_store_left_behind_with_a_read_only_job_directory_is_kept_by_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 0.1 upgrade refusal in a container: the hint said to move the store into the job
    file's directory, a read-only ConfigMap; the absolute state_path is the way."""
    cfg, out = tmp_path / "cfg", tmp_path / "out"
    cfg.mkdir()
    out.mkdir()
    stage = {"type": "dedupe", "columns": ["id"], "state_path": "keys.sqlite"}
    write_job(cfg / "job.toml", source={"path": "a.csv"}, transform=[stage], sink={"path": "out.db", "table": "t"})
    (out / "keys.sqlite").write_bytes(b"")  # the store 0.1 kept in the WORKDIR
    monkeypatch.chdir(out)
    with read_only(cfg):
        assert main(["run", str(cfg / "job.toml")]) == 78
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"loader: error: transform[1] (dedupe): state_path: {cfg / 'keys.sqlite'} does not exist")
    assert err[1:] == [
        f'  hint: {cfg} is not writable: give state_path as an absolute path, state_path = "{out / "keys.sqlite"}", '
        "and rerun"
    ]


def test_missing_env_variable(tmp_path: Path) -> None:
    p = write(tmp_path, '[source]\npath = "${IN}/a.csv"\n[sink]\npath = "x.db"\n')
    with pytest.raises(ConfigError) as e:
        load_job(p, env={})
    assert str(e.value) == "job.source.path: environment variable IN is not set"


def test_secret_from_file_variable(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("/secret/target.db\n")
    p = write(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "${TARGET}"\n')
    assert load_job(p, env={"TARGET_FILE": str(secret)}).sink.path == "/secret/target.db"
    assert load_job(p, env={"LOADER_SINK__PATH_FILE": str(secret), "TARGET": "x.db"}).sink.path == "/secret/target.db"


def test_env_override_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"sink\.pth: unknown key"):
        job_from_dict(
            apply_overrides({"source": {"path": "a.csv"}, "sink": {"path": "x.db"}}, [], {"LOADER_SINK__PTH": "x"}),
            env={},
        )


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ({"path": "x.ldb"}, "sink.key: a leveldb sink needs a key template"),
        ({"path": "x.bin"}, "sink.type: cannot tell the database from 'x.bin'"),
        ({"path": "x.db", "key": "{id}"}, "sink.key: applies to leveldb sinks, not sqlite"),
        ({"path": "x.db", "mode": "upsert"}, "sink.primary_key: mode 'upsert' needs a primary key"),
    ],
)
def test_cross_key_rules(sink: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        job_from_dict({"source": {"path": "a.csv"}, "sink": sink}, env={})


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError, match=r"^run\.workers: expected 1 or more$"):
        job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "x.db"}, "run": {"workers": 0}}, env={})


NAN, INF = float("nan"), float("inf")
BUSY = "expected a number of seconds, from 0 to 2147483, got"
LOCK = "expected a number of seconds, 0 or more, got"
REJECTS = "expected 0 or more (a count, or a fraction below 1), got"


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("sink", "busy_timeout", NAN, f"{BUSY} nan"),
        ("sink", "busy_timeout", INF, f"{BUSY} inf"),
        ("sink", "busy_timeout", -1.0, f"{BUSY} -1.0"),
        ("sink", "busy_timeout", 1e10, f"{BUSY} 10000000000.0"),  # SQLite would not wait at all
        ("run", "lock_wait", NAN, f"{LOCK} nan"),
        ("run", "lock_wait", INF, f"{LOCK} inf"),
        ("run", "lock_wait", -0.5, f"{LOCK} -0.5"),
        ("run", "max_rejects", NAN, f"{REJECTS} nan"),  # the limit would be off
        ("run", "max_rejects", INF, f"{REJECTS} inf"),
        ("run", "max_rejects", -1, f"{REJECTS} -1"),
        ("run", "read_ahead", -1, "expected 0 or more"),
        ("sink", "write_buffer_size", -1, "expected a size in bytes, 0 or more"),
        ("sink", "max_file_size", -1, "expected a size in bytes, 0 or more"),
        ("sink", "lru_cache_size", -1, "expected a size in bytes, 0 or more"),
        ("sink", "max_open_files", -1, "expected 0 or more"),
    ],
)
def test_numbers_that_make_no_sense_are_refused_by_key(section: str, key: str, value: float, message: str) -> None:
    sink = {"path": "x.ldb", "key": "{a}"} if section == "sink" and key != "busy_timeout" else {"path": "x.db"}
    tables: dict[str, dict[str, Any]] = {"source": {"path": "a.csv"}, "sink": sink, "run": {}}
    tables[section] = {**tables[section], key: value}
    with pytest.raises(ConfigError) as raised:
        job_from_dict(tables, env={})
    assert str(raised.value) == f"{section}.{key}: {message}"


def test_the_longest_waits_are_taken() -> None:
    job = job_from_dict(
        {"source": {"path": "a.csv"}, "sink": {"path": "x.db", "busy_timeout": 2147483}, "run": {"lock_wait": 1e9}},
        env={},
    )
    assert (job.sink.busy_timeout, job.run.lock_wait, job.run.read_ahead) == (2147483, 1e9, 2)


@pytest.mark.parametrize(
    ("source", "sink", "cpus", "run", "workers"),
    [
        ("a.csv", "o.ldb", 2, {}, 1),  # the sorted ingest sorts its runs on a thread of its own
        ("a.csv", "o.ldb", 1, {}, 1),
        ("a.csv", "o.db", 8, {}, 1),  # SQLite's writer needs a core of its own
        ("a.parquet", "o.ldb", 8, {}, 1),
        ("a.jsonl", "o.db", 2, {}, 2),  # JSON Lines blocks parse beside SQLite's writer
        ("a.jsonl.gz", "o.db", 1, {}, 1),
        ("a.csv", "o.ldb", 2, {"workers": 3}, 3),
        ("a.csv", "o.db", 2, {"workers": 2}, 2),
    ],
)
def test_workers_default_by_pair_and_cpus(
    monkeypatch: pytest.MonkeyPatch, source: str, sink: str, cpus: int, run: dict, workers: int
) -> None:
    monkeypatch.setattr("loader.cpus.usable_cpus", lambda: cpus)
    job = job_from_dict(
        {
            "source": {"path": source},
            "sink": {"path": sink, "key": "k:{id}"} if sink.endswith(".ldb") else {"path": sink},
            "run": run,
        },
        env={},
    )
    assert job.run.workers == workers


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, docker run --cpus 1.5
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_quota(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(str(tmp_path)) == quota


def test_usable_cpus_is_capped_by_the_quota_never_below_one(tmp_path: Path) -> None:
    unlimited = usable_cpus(str(tmp_path))
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU
    assert usable_cpus(str(tmp_path)) == 1
    (tmp_path / "cpu.max").write_text(f"{(unlimited + 4) * 100000} 100000\n")  # more than the machine has
    assert usable_cpus(str(tmp_path)) == unlimited


def test_glob_source_needs_a_table_name() -> None:
    with pytest.raises(ConfigError) as e:
        job_from_dict({"source": {"path": "in/*.csv"}, "sink": {"path": "x.db"}}, env={})
    assert str(e.value) == "sink.table: needed when source.path is a glob ('in/*.csv')"


def test_unknown_format() -> None:
    with pytest.raises(ConfigError, match=r"source\.format: cannot tell the format of a\.xml"):
        job_from_dict({"source": {"path": "a.xml"}, "sink": {"path": "x.db"}}, env={})


def test_a_globs_format_comes_from_the_files_it_matches_where_its_text_tells_none(tmp_path: Path) -> None:
    """``inbox/*`` and ``*.csv*`` over CSV files were "cannot tell the format": the docs say
    the format comes from the file extension, and every matched file has one."""
    import gzip

    (tmp_path / "a.csv").write_text("a\n1\n")
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"a\n2\n"))

    def source(path: str) -> Any:
        return job_from_dict({"source": {"path": path}, "sink": {"path": "x.db", "table": "t"}}, env={}).source

    assert source(str(tmp_path / "*")).format == "csv"
    assert source(str(tmp_path / "*.csv*")).format == "csv"
    (tmp_path / "c.parquet").write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        source(str(tmp_path / "*"))
    assert str(info.value) == "source.path: the inputs mix formats (csv, parquet); one load reads one format"
    (tmp_path / "c.parquet").unlink()
    (tmp_path / "notes").write_text("x")  # a file whose name tells no format
    with pytest.raises(ConfigError, match=r"source\.format: cannot tell the format of "):
        source(str(tmp_path / "*"))


@pytest.mark.parametrize("name", ["a.json", "part-00000-x.json.gz", "A.JSON"])
def test_json_suffixes_are_json_lines_as_bigquery_mongoexport_and_spark_write_them(name: str) -> None:
    assert infer_format(name) == "jsonl"


@pytest.mark.parametrize("name", ["a.arrow", "a.ARROWS", "dir/a.feather", "a.ipc"])
def test_arrow_ipc_suffixes_name_the_arrow_format(name: str) -> None:
    assert infer_format(name) == "arrow"  # .arrows is the stream format's registered suffix


def test_reference_config_is_valid() -> None:
    root = Path(__file__).parents[1]
    for name in ("quickstart.toml", "parquet_to_leveldb.toml", "reference.toml"):
        load_job(root / "configs" / name, env={"DATA_DIR": "data", "OUT_DIR": "out"})


def test_the_reference_job_file_names_every_key() -> None:
    """configs/reference.toml says it holds every key: each field, set or commented out."""
    import dataclasses
    import re

    from loader.config import RunConfig, SinkConfig, SourceConfig

    text = (Path(__file__).parents[1] / "configs" / "reference.toml").read_text()
    named = set(re.findall(r"^#? ?([a-z_]+) =", text, flags=re.M))
    for section in (SourceConfig, SinkConfig, RunConfig):
        missing = {f.name for f in dataclasses.fields(section)} - named
        assert not missing, f"{section.__name__}: {sorted(missing)} not in configs/reference.toml"


def test_inputs_of_several_formats_are_refused_by_name() -> None:
    with pytest.raises(ConfigError) as info:
        job_from_dict({"source": {"path": ["a.csv", "b.jsonl", "c.parquet"]}, "sink": {"path": "x.db"}}, env={})
    assert str(info.value) == "source.path: the inputs mix formats (csv, jsonl, parquet); one load reads one format"


# A config object made in Python is checked as the job file's table would be.
REQUIRED: dict[str, dict[str, Any]] = {"source": {"path": ["g.csv"]}, "sink": {"path": "g.db"}, "run": {}}
WRONG_VALUES = [
    ("source", "null_values", "NA", "expected a list of strings, got 'NA'"),
    ("sink", "mode", "Replace", "expected one of 'append', 'replace', 'upsert', 'ignore', got 'Replace'"),
    ("run", "on_change", "reloaad", "expected one of 'error', 'skip', 'reload', got 'reloaad'"),
    ("sink", "compression", "zstd", "expected one of 'none', 'snappy', got 'zstd'"),
    ("sink", "sort", "sometimes", "expected one of 'auto', 'always', 'never', got 'sometimes'"),
    ("run", "part_results", "parquet", "expected one of 'auto', 'arrow', 'database', got 'parquet'"),
    ("run", "log_format", "xml", "expected one of 'text', 'json', got 'xml'"),
    ("source", "decimal_separator", ";", "expected one of '.', ',', got ';'"),
    ("source", "header", "yes", "expected true or false, got 'yes'"),
    ("sink", "busy_timeout", "5", "expected a number, got '5'"),
    ("run", "chunk_size", "100", "expected an integer, got '100'"),
    ("run", "max_rejects", "10", "expected an integer or a number, got '10'"),
    ("sink", "primary_key", "id", "expected a list of strings, got 'id'"),
    ("sink", "indexes", ["a"], "expected a list of lists of strings, got ['a']"),
    ("source", "columns", ["zip"], "expected a table of strings, got ['zip']"),
    ("source", "column_names", [1], "expected a list of strings, got [1]"),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), WRONG_VALUES)
def test_config_objects_check_values_as_job_files_do(section: str, key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as made:
        SECTIONS[section](**REQUIRED[section], **{key: value})
    with pytest.raises(ConfigError) as read:
        job_from_dict({**REQUIRED, section: {**REQUIRED[section], key: value}}, env={})
    assert str(made.value) == f"{section}.{key}: {message}"
    assert (str(made.value), made.value.hint) == (str(read.value), read.value.hint)


def test_null_values_as_one_string_is_refused_not_read_as_characters(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("id,grade\n1,A\n2,B\n3,NA\n4,N\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^source\.null_values: expected a list of strings, got 'NA'$"):
        Pipeline(
            JobConfig(
                source=SourceConfig(path=[str(tmp_path / "g.csv")], null_values="NA"),  # type: ignore[arg-type]
                sink=SinkConfig(path=str(tmp_path / "g.db"), table="t"),
            )
        ).run()
    assert not (tmp_path / "g.db").exists()


def test_replace_on_a_resolved_job_checks_the_new_value() -> None:
    job = job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db"}}, env={})
    with pytest.raises(ConfigError, match=r"^sink\.mode: expected one of .*, got 'Replace'$"):
        dataclasses.replace(job.sink, mode="Replace")  # type: ignore[arg-type]


def test_config_objects_take_paths_and_sizes_as_python_callers_give_them(tmp_path: Path) -> None:
    source = SourceConfig(path=tmp_path / "a.csv")  # type: ignore[arg-type]
    assert source.path == [str(tmp_path / "a.csv")]
    assert SourceConfig(path=(tmp_path / "a.csv", "b.csv")).path == [str(tmp_path / "a.csv"), "b.csv"]  # type: ignore[arg-type]
    assert SinkConfig(path=tmp_path / "o.db").path == str(tmp_path / "o.db")  # type: ignore[arg-type]
    assert RunConfig(max_memory="1GiB", report=tmp_path / "r.json").max_memory == 1 << 30  # type: ignore[arg-type]


def test_a_section_given_as_a_dict_is_built_as_a_job_files_table() -> None:
    job = JobConfig(source={"path": "a.csv", "null_values": ["NA"]}, sink={"path": "o.db"}, run={"quiet": True})  # type: ignore[arg-type]
    assert job.source == SourceConfig(path=["a.csv"], null_values=["NA"])
    assert (job.sink, job.run) == (SinkConfig(path="o.db"), RunConfig(quiet=True))
    with pytest.raises(ConfigError) as e:
        JobConfig(source={"path": "a.csv", "nul_values": ["NA"]}, sink={"path": "o.db"})  # type: ignore[arg-type]
    assert (str(e.value), e.value.hint) == ("source.nul_values: unknown key", "did you mean 'null_values'?")
    with pytest.raises(ConfigError, match=r"^sink\.primary_key: expected a list of strings, got 'id'$"):
        JobConfig(source={"path": "a.csv"}, sink={"path": "o.db", "primary_key": "id"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "message", "hint"),
    [
        ({"source": "a.csv"}, "source: expected a SourceConfig, got 'a.csv'", "SourceConfig(...)"),
        ({"run": None}, "run: expected a RunConfig, got None", "RunConfig(...)"),
        ({"sink": SourceConfig(path=["b.csv"])}, "sink: expected a SinkConfig, got SourceConfig(", "SinkConfig(...)"),
        ({"transform": "upper(name)"}, "transform: expected [[transform]] tables", None),
    ],
)
def test_a_section_of_another_type_says_what_to_pass(given: dict[str, Any], message: str, hint: str | None) -> None:
    sections: dict[str, Any] = {"source": SourceConfig(path=["a.csv"]), "sink": SinkConfig(path="o.db"), **given}
    with pytest.raises(ConfigError) as e:
        JobConfig(**sections)
    assert str(e.value).startswith(message)
    assert hint is None or f"pass {hint} or a dict of the job file's [" in (e.value.hint or "")


def test_tuples_where_a_field_takes_lists_are_taken_as_lists() -> None:
    sink = SinkConfig(path="o.db", table="t", primary_key=("id",), indexes=[("a", "b"), ["c"]])  # type: ignore[arg-type]
    assert (sink.primary_key, sink.indexes) == (["id"], [["a", "b"], ["c"]])
    with pytest.raises(ConfigError, match=r"sink.primary_key: expected a list of strings"):
        SinkConfig(path="o.db", table="t", primary_key=(1,))  # type: ignore[arg-type]


def test_a_config_keeps_the_values_it_was_checked_with_not_the_callers_lists() -> None:
    """A caller's list or dict, changed after the config was made (reused for another job),
    changes nothing of it: every list and dict field, and a stage's, holds copies."""
    nulls, names, columns, key, index = [""], ["a", "b"], {"a": "int64"}, ["a"], ["b"]
    na: list[str] = ["NA"]
    mapping = {"a": "x"}
    fn = str.upper
    stage: dict[str, Any] = {"type": "rename", "columns": mapping}
    job = JobConfig(
        source=SourceConfig(path=["a.csv"], null_values=nulls, na_values=na, column_names=names, columns=columns),
        sink=SinkConfig(path="o.db", table="t", primary_key=key, indexes=[index]),
        transform=[stage, {"type": "python", "function": fn}],
    )
    for changed in (nulls, na, names, key, index):
        changed.append("Adelie")
    columns["b"] = "string"
    mapping["b"] = "y"
    stage["columns"] = {}
    source, sink = job.source, job.sink
    assert (source.null_values, source.na_values, source.column_names, source.columns) == (
        [""],
        ["NA"],
        ["a", "b"],
        {"a": "int64"},
    )
    assert (sink.primary_key, sink.indexes) == (["a"], [["b"]])
    assert job.transform == [{"type": "rename", "columns": {"a": "x"}}, {"type": "python", "function": fn}]
    assert job.transform[1]["function"] is fn  # a stage's other objects are the caller's own
    assert type(source.null_values) is list and type(source.columns) is dict and type(sink.indexes[0]) is list


def test_a_stages_ordered_or_default_dict_is_copied_keeping_its_type() -> None:
    """An ``OrderedDict`` of a stage's (a rename in order) was kept as the caller's: renaming
    ``species`` otherwise after ``JobConfig(...)`` renamed the load's column so. The standard
    library's dicts are copied with their type, order and default; a dict class of the
    caller's own is still the caller's object."""
    import collections

    class Own(dict[str, str]):
        pass

    ordered = collections.OrderedDict(species="sp", v="value")
    default: collections.defaultdict[str, list[str]] = collections.defaultdict(list, a=["x"])
    own = Own(a="b")
    job = JobConfig(
        source=SourceConfig(path=["a.csv"]),
        sink=SinkConfig(path="o.db", table="t"),
        transform=[
            {"type": "rename", "columns": ordered},
            {"type": "python", "function": str.upper, "args": {"lookup": default, "own": own}},
        ],
    )
    ordered["species"] = "changed_after"
    ordered.move_to_end("species")
    default["a"].append("y")
    default["b"] = ["z"]
    copied, args = job.transform[0]["columns"], job.transform[1]["args"]
    assert type(copied) is collections.OrderedDict and list(copied.items()) == [("species", "sp"), ("v", "value")]
    assert type(args["lookup"]) is collections.defaultdict and dict(args["lookup"]) == {"a": ["x"]}
    assert args["lookup"]["missing"] == []  # its default_factory kept
    assert args["own"] is own


def test_stages_as_a_tuple_of_mappings_and_numbers_of_numpy_are_taken() -> None:
    import types

    import numpy as np

    stage = types.MappingProxyType({"type": "rename", "columns": {"a": "b"}})
    job = JobConfig(
        source=SourceConfig(path=["a.csv"], skip_rows=np.int64(1)),  # type: ignore[arg-type]
        sink=SinkConfig(path="o.db"),
        transform=(stage,),  # type: ignore[arg-type]
        run=RunConfig(chunk_size=np.int64(100)),  # type: ignore[arg-type]
    )
    assert job.transform == [{"type": "rename", "columns": {"a": "b"}}]
    assert (job.source.skip_rows, job.run.chunk_size) == (1, 100) and type(job.run.chunk_size) is int
    with pytest.raises(ConfigError, match=r"^transform: expected \[\[transform\]\] tables, got 'rename'$"):
        JobConfig(source=SourceConfig(path=["a.csv"]), sink=SinkConfig(path="o.db"), transform=["rename"])  # type: ignore[list-item]


# Every key that holds bytes; batch_size and chunk_size are rows.
BYTE_KEYS = {
    "source.block_size",
    "source.max_row_bytes",
    "sink.page_size",
    "sink.cache_size",
    "sink.write_buffer_size",
    "sink.max_file_size",
    "sink.lru_cache_size",
    "sink.block_size",
    "sink.sort_run_size",
    "run.max_memory",
    "run.part_size",
}


def test_every_key_of_bytes_is_a_size() -> None:
    sizes = {f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls) if f.metadata.get("size")}
    assert sizes == BYTE_KEYS
    named = {
        f"{s}.{f.name}"
        for s, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
        if f.name.endswith(("_size", "_bytes", "_memory"))
    }
    assert named - BYTE_KEYS == {"sink.batch_size", "run.chunk_size"}  # a new key of bytes must be a size too


def _basic_with(section: str, line: str, base: str = BASIC) -> str:
    """``base`` with one more line in ``section``."""
    if section not in ("source", "sink"):
        return base + f"[{section}]\n{line}\n"
    return base.replace(f"[{section}]\n", f"[{section}]\n{line}\n")


@pytest.mark.parametrize("dotted", sorted(BYTE_KEYS))
def test_a_size_key_takes_size_text_from_the_job_file_the_environment_and_set(tmp_path: Path, dotted: str) -> None:
    section, key = dotted.split(".")
    with_key, basic = tmp_path / "with_key.toml", tmp_path / "basic.toml"
    base = BASIC
    if section == "sink" and key in sinks.get("leveldb").keys:  # SQLite refuses LevelDB's keys
        base = BASIC.replace('path = "out/x.db"\ntable = "t"', 'path = "out/x.ldb"\nkey = "{id}"')
    kib = 256 if key == "sort_run_size" else 64  # at least its floor, at most page_size's ceiling
    with_key.write_text(_basic_with(section, f'{key} = "{kib}KiB"', base))
    basic.write_text(base)
    got = {
        "job file": load_job(with_key, env={}),
        "environment": load_job(basic, env={f"LOADER_{section.upper()}__{key.upper()}": f"{kib}KiB"}),
        "--set": load_job(basic, [f"{dotted}={kib}KiB"], env={}),
    }
    assert {route: getattr(getattr(j, section), key) for route, j in got.items()} == dict.fromkeys(got, kib << 10)


# (section, key, the most it takes, the error's words for it)
CEILINGS = [
    ("source", "block_size", 1023 << 20, "1023MB (1072693248 bytes: pyarrow parses less than 2 GiB at a time)"),
    ("source", "max_row_bytes", 2047 << 20, "2047MB (2146435072 bytes: pyarrow parses less than 2 GiB at a time)"),
    ("source", "skip_rows", 2**63 - 1, "9223372036854775807 (a 64-bit integer)"),
    ("source", "infer_rows", 2**63 - 1, "9223372036854775807 (a 64-bit integer)"),
    ("sink", "max_open_files", 2**31 - 1, "2147483647 (LevelDB takes a C int)"),
    *[
        ("sink", key, 2**63 - 1, "9223372036854775807 (a 64-bit integer)")
        for key in ("batch_size", "write_buffer_size", "max_file_size", "lru_cache_size", "block_size")
    ],
    *[
        ("sink", key, 2**63 - 1, "9223372036854775807 (a 64-bit integer)")
        for key in ("sort_run_size", "merge_processes")
    ],
    *[
        ("run", key, 2**63 - 1, "9223372036854775807 (a 64-bit integer)")
        for key in ("chunk_size", "read_ahead", "workers", "max_memory", "part_size")
    ],
]


def _tables(section: str, key: str, value: int) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {"source": {"path": "a.csv"}, "sink": {"path": "x.ldb", "key": "{a}"}}
    tables.setdefault(section, {})[key] = value
    return tables


@pytest.mark.parametrize(("section", "key", "most", "words"), CEILINGS)
def test_numbers_past_what_the_libraries_take_are_refused_with_the_maximum(
    section: str, key: str, most: int, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        job_from_dict(_tables(section, key, most + 1), env={})
    assert str(raised.value) == f"{section}.{key}: expected at most {words}, got {most + 1}"


@pytest.mark.parametrize(("section", "key", "most", "words"), CEILINGS)
def test_the_maximum_of_each_number_is_taken(section: str, key: str, most: int, words: str) -> None:
    job = job_from_dict(_tables(section, key, most), env={})
    assert getattr(getattr(job, section), key) == most


def test_sqlite_cache_size_has_the_64_bit_ceiling() -> None:
    tables = {"source": {"path": "a.csv"}, "sink": {"path": "x.db", "cache_size": 2**70}}
    with pytest.raises(ConfigError) as raised:
        job_from_dict(tables, env={})
    assert str(raised.value) == f"sink.cache_size: expected at most 9223372036854775807 (a 64-bit integer), got {2**70}"


def test_a_size_given_as_text_is_held_to_its_maximum() -> None:
    with pytest.raises(ConfigError) as raised:
        job_from_dict(_tables("source", "block_size", "1G"), env={})  # type: ignore[arg-type]
    assert str(raised.value) == (
        "source.block_size: expected at most 1023MB (1072693248 bytes: pyarrow parses less than 2 GiB at a time), "
        "got 1073741824"
    )


def test_max_rejects_takes_any_large_number() -> None:
    assert job_from_dict({**_tables("run", "max_rejects", 10**30)}, env={}).run.max_rejects == 10**30


@pytest.mark.parametrize("cls", [*SECTIONS.values(), JobConfig], ids=lambda c: c.__name__)
def test_the_typed_constructor_takes_every_field_in_order(cls: type) -> None:
    """The ``__init__`` mypy sees (what a caller may pass) is the dataclass's own, less its types."""
    import ast
    import inspect

    import loader.config

    tree = ast.parse(inspect.getsource(loader.config))
    (body,) = [n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    (init,) = [f for n in body if isinstance(n, ast.If) for f in n.body if isinstance(f, ast.FunctionDef)]
    names = [a.arg for a in init.args.args[1:]]
    required = names[: len(names) - len(init.args.defaults)]
    fields = dataclasses.fields(cls)
    assert names == [f.name for f in fields]
    assert required == [f.name for f in fields if f.default is f.default_factory is dataclasses.MISSING]


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ({}, "/data/a.csv"),
        ({"IN": ""}, "/data/a.csv"),  # was "/a.csv": an empty VAR taken as its value
        ({"IN": "/in"}, "/in/a.csv"),
    ],
)
def test_a_default_is_taken_when_the_variable_is_unset_or_empty_as_in_the_shell(
    tmp_path: Path, env: dict[str, str], path: str
) -> None:
    p = write(tmp_path, '[source]\npath = "${IN:-/data}/a.csv"\n[sink]\npath = "/out/${NAME}x.db"\n')
    job = load_job(p, env={**env, "NAME": ""})
    assert (job.source.path, job.sink.path) == ([path], "/out/x.db")  # ${NAME} of an empty NAME: empty


def test_an_empty_variable_with_a_default_is_read_from_its_file_as_an_unset_one(tmp_path: Path) -> None:
    """``:-`` passes over an empty ``VAR`` as over an unset one: ``VAR_FILE`` next, then the
    default, also for a file that holds nothing."""
    named = tmp_path / "in"
    p = write(tmp_path, '[source]\npath = "${IN:-/data}/a.csv"\n[sink]\npath = "/out/x.db"\n')
    named.write_text("/mounted\n")
    assert load_job(p, env={"IN": "", "IN_FILE": str(named)}).source.path == ["/mounted/a.csv"]
    named.write_text("\n")
    assert load_job(p, env={"IN_FILE": str(named)}).source.path == ["/data/a.csv"]


def test_a_job_with_no_path_is_refused_unless_it_allows_an_empty_run() -> None:
    empty = {"source": {"path": []}, "sink": {"path": "o.ldb", "key": "{id}"}}
    with pytest.raises(ConfigError) as e:
        resolve(job_from_dict(empty, env={}))
    assert (str(e.value), e.value.hint) == (
        "source.path: expected at least one path",
        "name the input files, or set source.allow_empty = true to load no file and succeed",
    )
    allowed = resolve(job_from_dict({**empty, "source": {"path": [], "allow_empty": True}}, env={}))
    assert (allowed.source.path, allowed.source.format) == ([], "csv")
