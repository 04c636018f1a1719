"""Configuration from the environment and mounted files, as a scheduled container gets it.

Precedence, strongest first: command-line flags (and --set) > LOADER_<SECTION>__<KEY>
environment variables > the job file > the defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader import config
from loader.config import env_overrides, load_job, read_secret
from loader.errors import ConfigError
from tests.conftest import sqlite_rows
from tests.reliability_util import cli

ROOT = Path(__file__).parents[1]


def job_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_run_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TARGET").write_text("/out/secret.db\n")
    monkeypatch.setattr(config, "SECRETS_DIR", str(secrets))
    p = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "${TARGET}"\n')
    assert load_job(p, env={}).sink.path == "/out/secret.db"
    # a mounted secret beats the ${VAR:-default}
    p = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "${TARGET:-x.db}"\n')
    assert load_job(p, env={}).sink.path == "/out/secret.db"


def test_secret_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "NAME").write_text("from-run-secrets")
    named = tmp_path / "named"
    named.write_text("from-name-file\r\n")
    monkeypatch.setattr(config, "SECRETS_DIR", str(secrets))
    assert read_secret("NAME", {"NAME": "from-env", "NAME_FILE": str(named)}) == "from-env"
    assert read_secret("NAME", {"NAME_FILE": str(named)}) == "from-name-file"
    assert read_secret("NAME", {}) == "from-run-secrets"
    assert read_secret("OTHER", {}) is None


def test_name_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        read_secret("TARGET", {"TARGET_FILE": str(tmp_path / "missing")})
    assert str(e.value) == f"TARGET_FILE: cannot read {tmp_path / 'missing'}: No such file or directory"
    p = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "${TARGET:-x.db}"\n')
    with pytest.raises(ConfigError, match="TARGET_FILE: cannot read"):
        load_job(p, env={"TARGET_FILE": str(tmp_path / "missing")})


def test_key_ending_in_file_is_a_plain_value(tmp_path: Path) -> None:
    secret = tmp_path / "where"
    secret.write_text("/out/from-file.prom\n")
    assert env_overrides({"LOADER_RUN__METRICS_FILE": "/out/m.prom"}) == [("run.metrics_file", "/out/m.prom")]
    assert env_overrides({"LOADER_RUN__METRICS_FILE_FILE": str(secret)}) == [
        ("run.metrics_file", "/out/from-file.prom")
    ]
    assert env_overrides({"LOADER_SINK__PATH_FILE": str(secret)}) == [("sink.path", "/out/from-file.prom")]
    with pytest.raises(ConfigError, match="LOADER_SINK__PATH_FILE: cannot read"):
        env_overrides({"LOADER_SINK__PATH_FILE": str(tmp_path / "missing")})


def test_a_file_variable_sets_a_typed_key_as_its_plain_variable_does(tmp_path: Path) -> None:
    """``LOADER_SINK__BATCH_SIZE_FILE`` holding ``5000`` was refused ("expected an integer, got
    '5000'"), and a list from a file too: the file's text was passed raw, not parsed as the
    plain variable's is. Text where the key takes text stays the text given."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n')
    values = {"batch_size": "5000", "primary_key": '["id", "day"]', "table": "2024", "mode": "upsert"}
    env: dict[str, str] = {}
    for key, text in values.items():
        (tmp_path / key).write_text(text + "\n")
        env[f"LOADER_SINK__{key.upper()}_FILE"] = str(tmp_path / key)
    from_files = load_job(job, env=env).sink
    plain = load_job(job, env={f"LOADER_SINK__{k.upper()}": v for k, v in values.items()}).sink
    for got in (from_files, plain):
        assert (got.batch_size, got.primary_key, got.table, got.mode) == (5000, ["id", "day"], "2024", "upsert")


def test_new_run_keys_from_file_and_environment(tmp_path: Path) -> None:
    p = job_file(
        tmp_path,
        '[source]\npath = "a.csv"\n[sink]\npath = "x.db"\n[run]\nlog_format = "json"\nmetrics_file = "a.prom"\n',
    )
    job = load_job(p, env={})
    assert (job.run.log_format, job.run.metrics_file) == ("json", str(tmp_path / "a.prom"))  # next to the job file
    job = load_job(p, env={"LOADER_RUN__LOG_FORMAT": "text", "LOADER_RUN__METRICS_FILE": "b.prom"})
    assert (job.run.log_format, job.run.metrics_file) == ("text", "b.prom")  # the environment's: the current directory
    with pytest.raises(ConfigError, match=r"run\.log_format: expected one of 'text', 'json', got 'xml'"):
        load_job(p, env={"LOADER_RUN__LOG_FORMAT": "xml"})


# ------------------------------------------------------------------- CLI


def test_cli_precedence_flag_env_file_default(tmp_path: Path, data_dir: Path) -> None:
    """run.report names a file, so which layer won is visible on disk."""
    base = f'[source]\npath = "{data_dir / "small.csv"}"\n[sink]\npath = "{tmp_path / "a.db"}"\n'
    bare = job_file(tmp_path, base)
    p = cli("run", str(bare), "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in tmp_path.glob("*.json")) == []  # default: no report

    with_report = tmp_path / "full.toml"
    with_report.write_text(base + f'[run]\nreport = "{tmp_path / "file.json"}"\n')
    env = {"LOADER_RUN__REPORT": str(tmp_path / "env.json")}
    assert cli("run", str(with_report), "--quiet", "--restart").returncode == 0
    assert cli("run", str(with_report), "--quiet", "--restart", extra_env=env).returncode == 0
    assert (
        cli(
            "run", str(with_report), "--quiet", "--restart", "--report", str(tmp_path / "flag.json"), extra_env=env
        ).returncode
        == 0
    )
    assert (
        cli(
            "run",
            str(with_report),
            "--quiet",
            "--restart",
            "--set",
            f"run.report={tmp_path / 'set.json'}",
            extra_env=env,
        ).returncode
        == 0
    )
    assert sorted(f.name for f in tmp_path.glob("*.json")) == ["env.json", "file.json", "flag.json", "set.json"]
    for name in ("env.json", "file.json", "flag.json", "set.json"):
        assert json.loads((tmp_path / name).read_text())["rows_written"] == 2


def test_cli_load_flag_beats_environment(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "a.db"
    env = {"LOADER_SINK__TABLE": "from_env"}
    assert cli("load", str(data_dir / "small.csv"), str(db), "--quiet", extra_env=env).returncode == 0
    assert (
        cli("load", str(data_dir / "small.csv"), str(db), "--quiet", "--table", "from_flag", extra_env=env).returncode
        == 0
    )
    assert sqlite_rows(
        db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'from%' ORDER BY name"
    ) == [
        ("from_env",),
        ("from_flag",),
    ]


def test_cli_secret_file_for_the_target(tmp_path: Path, data_dir: Path) -> None:
    secret = tmp_path / "sink-path"
    secret.write_text(str(tmp_path / "secret.db") + "\n")
    job = job_file(tmp_path, f'[source]\npath = "{data_dir / "small.csv"}"\n[sink]\ntable = "s"\n')
    p = cli("run", str(job), "--quiet", extra_env={"LOADER_SINK__PATH_FILE": str(secret)})
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "secret.db", "SELECT count(*) FROM s") == [(2,)]


def test_cli_load_paths_beat_the_environment(tmp_path: Path, data_dir: Path) -> None:
    """The image sets LOADER_SINK__PATH_FILE; `loader load SOURCE TARGET` still writes TARGET."""
    secret = tmp_path / "sink-path"
    secret.write_text(str(tmp_path / "secret.db") + "\n")
    env = {"LOADER_SINK__PATH_FILE": str(secret), "LOADER_SOURCE__PATH": str(tmp_path / "nothere.csv")}
    db = tmp_path / "typed.db"
    p = cli("load", str(data_dir / "small.csv"), str(db), "--table", "t", "--quiet", extra_env=env)
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(2,)]
    assert not (tmp_path / "secret.db").exists()


@pytest.mark.parametrize(
    ("variable", "message", "hint"),
    [
        ("LOADER_SINK__TABEL", "environment LOADER_SINK__TABEL: sink.tabel: unknown key", "did you mean 'table'?"),
        ("LOADER_sink__tabel", "environment LOADER_sink__tabel: sink.tabel: unknown key", "did you mean 'table'?"),
        (
            "LOADER_SINKK__TABLE",
            "environment LOADER_SINKK__TABLE: 'sinkk' is not a section (source, sink, run)",
            "did you mean 'sink'?",
        ),
    ],
)
def test_an_unknown_key_or_section_from_the_environment_names_the_variable(
    tmp_path: Path, variable: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_job(job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n'), env={variable: "x"})
    assert (str(info.value), info.value.hint) == (message, hint)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "run.chunk_size: expected an integer, got 'abc'"),
        ("0", "run.chunk_size: expected 1 or more"),
    ],
)
def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path, value: str, message: str) -> None:
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n')
    with pytest.raises(ConfigError) as info:
        load_job(job, env={"LOADER_RUN__CHUNK_SIZE": value})
    assert str(info.value) == f"environment LOADER_RUN__CHUNK_SIZE: {message}"
    # the variable's value overridden: nothing to say of it
    assert load_job(job, env={"LOADER_RUN__CHUNK_SIZE": value}, sets=["run.chunk_size=100"]).run.chunk_size == 100
    # the job file's own bad value names the file, not the variable
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n[run]\nchunk_size = 0\n')
    with pytest.raises(ConfigError) as info:
        load_job(job, env={})
    assert str(info.value) == f"{job}: run.chunk_size: expected 1 or more"


@pytest.mark.parametrize(
    "variable", ["LOADER_run__chunk_size", "LOADER_Run__Chunk_Size", "LOADER_RUN__CHUNK_SIZE_FILE"]
)
def test_a_bad_value_from_the_environment_names_the_variable_as_it_is_spelled(tmp_path: Path, variable: str) -> None:
    """The name was rebuilt from the key (``LOADER_RUN__CHUNK_SIZE``): for a ``_FILE`` variable,
    as a Kubernetes secret sets it, or one spelled in lower case, a variable set nowhere."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n')
    named = tmp_path / "chunk"
    named.write_text("abc\n")
    value = str(named) if variable.endswith("_FILE") else "abc"
    with pytest.raises(ConfigError) as info:
        load_job(job, env={variable: value})
    where = f"{variable} ({named})" if variable.endswith("_FILE") else variable
    assert str(info.value) == f"environment {where}: run.chunk_size: expected an integer, got 'abc'"


@pytest.mark.parametrize(
    ("dotted", "raw"),
    [
        ("sink.table", "2024"),
        ("sink.table", "2024-01-01"),  # TOML's date
        ("sink.table", "07:30:00"),  # TOML's time
        ("sink.table", "true"),
        ("sink.table", "1e3"),
        ("run.job", "20240101"),
        ("run.report", "2024"),
    ],
)
def test_text_toml_reads_as_another_type_is_the_text_given_for_a_string_key(
    tmp_path: Path, dotted: str, raw: str
) -> None:
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\ntable = "t"\n')
    section, key = dotted.split(".")
    from_env = load_job(job, env={f"LOADER_{section.upper()}__{key.upper()}": raw})
    from_set = load_job(job, sets=[f"{dotted}={raw}"], env={})
    assert getattr(getattr(from_env, section), key) == getattr(getattr(from_set, section), key) == raw


def test_a_value_toml_reads_is_kept_where_the_key_takes_it(tmp_path: Path) -> None:
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n')
    sets = ['sink.primary_key=["id"]', "run.chunk_size=100", "source.quote_char=false", "sink.cache_size=1.5G"]
    loaded = load_job(job, sets=sets, env={"LOADER_RUN__MAX_REJECTS": "0.5", "LOADER_SINK__TABLE": '"x"'})
    assert loaded.sink.primary_key == ["id"] and loaded.run.chunk_size == 100 and loaded.source.quote_char is False
    assert (loaded.sink.cache_size, loaded.run.max_rejects, loaded.sink.table) == (3 << 29, 0.5, "x")


@pytest.mark.parametrize(
    ("dotted", "raw", "message"),
    [
        ("run.max_memory", "1e8", "run.max_memory: expected a size such as 100MB or 1GB, got '1e8'"),
        ("run.chunk_size", "2024-01-01", "run.chunk_size: expected an integer, got '2024-01-01'"),
        ("run.chunk_size", "1e3", "run.chunk_size: expected an integer, got '1e3'"),
        ("run.restart", "1", "run.restart: expected true or false, got '1'"),
    ],
)
def test_a_value_a_key_refuses_is_quoted_as_typed(tmp_path: Path, dotted: str, raw: str, message: str) -> None:
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\n')
    with pytest.raises(ConfigError) as info:
        load_job(job, sets=[f"{dotted}={raw}"], env={})
    assert str(info.value) == message
    variable = "LOADER_" + dotted.upper().replace(".", "__")
    with pytest.raises(ConfigError) as info:
        load_job(job, env={variable: raw})
    assert str(info.value) == f"environment {variable}: {message}"


def test_cli_load_takes_a_numeric_table_and_job_name(tmp_path: Path, data_dir: Path) -> None:
    env = {"LOADER_RUN__JOB": "20240101"}
    args = ("load", str(data_dir / "small.csv"), str(tmp_path / "t.db"), "--set", "sink.table=2024", "-q")
    p = cli(*args, "--report", str(tmp_path / "r.json"), extra_env=env)
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_rows(tmp_path / "t.db", 'SELECT count(*) FROM "2024"') == [(2,)]
    assert json.loads((tmp_path / "r.json").read_text())["job"] == "20240101"


def test_cli_load_names_the_variable_of_a_bad_value(tmp_path: Path, data_dir: Path) -> None:
    env = {"LOADER_SINK__BUSY_TIMEOUT": "nan"}
    p = cli("load", str(data_dir / "small.csv"), str(tmp_path / "t.db"), "--table", "t", "-q", extra_env=env)
    assert (p.returncode, p.stderr.splitlines()[0]) == (
        2,
        "loader: error: environment LOADER_SINK__BUSY_TIMEOUT: sink.busy_timeout: expected a number of seconds, "
        "from 0 to 2147483, got nan",
    )
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message", "hint"),
    [
        (
            "LOADER_run__chunk_size",
            "abc",
            "environment LOADER_run__chunk_size: run.chunk_size: expected an integer, got 'abc'",
            "fix or unset the environment variable LOADER_run__chunk_size",
        ),
        (
            "LOADER_RUN__CHUNK_SIZE_FILE",
            "/nonexistent/chunk",
            "LOADER_RUN__CHUNK_SIZE_FILE: cannot read /nonexistent/chunk: No such file or directory",
            "mount the file it names, or unset the environment variable LOADER_RUN__CHUNK_SIZE_FILE",
        ),
    ],
)
@pytest.mark.parametrize("command", ["load", "run"])
def test_a_bad_variable_s_hint_names_the_variable_not_the_flags(
    tmp_path: Path, data_dir: Path, variable: str, value: str, message: str, hint: str, command: str
) -> None:
    """It said "check the flags; `loader load --help` lists them", where no flag was wrong."""
    job = job_file(tmp_path, f'[source]\npath = "{data_dir / "small.csv"}"\n[sink]\npath = "t.db"\n')
    args = ["load", str(data_dir / "small.csv"), str(tmp_path / "t.db")] if command == "load" else ["run", str(job)]
    p = cli(*args, extra_env={variable: value})
    assert (p.returncode, p.stderr) == (2, f"loader: error: {message}\n  hint: {hint}\n")
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(("text", "refused"), [("", "sink.path is empty"), ("/out/events.csv\n", None)])
@pytest.mark.parametrize("variable", ["LOADER_SINK__PATH_FILE", "LOADER_SINK__PATH"])
def test_a_sink_path_the_type_cannot_be_told_from_names_the_variable(
    tmp_path: Path, variable: str, text: str, refused: str | None
) -> None:
    """A Secret's sink path refused by the later check of the sink type was reported bare
    (``sink.type: cannot tell the database from ''``), naming neither the variable nor its file."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\ntable = "t"\n')
    secret = tmp_path / "sink-path"
    secret.write_text(text)
    value = str(secret) if variable.endswith("_FILE") else text.strip()
    where = f"{variable} ({secret})" if variable.endswith("_FILE") else variable
    message = refused or "sink.type: cannot tell the database from '/out/events.csv'"
    with pytest.raises(ConfigError) as info:
        load_job(job, env={variable: value})
    assert str(info.value) == f"environment {where}: {message}"
    hint = f"fix or unset the environment variable {variable}" if refused else info.value.hint
    assert info.value.hint == hint and hint.startswith("fix" if refused else "use a path ending in .db")


def test_an_empty_sink_path_is_refused_as_empty(tmp_path: Path, data_dir: Path) -> None:
    """It read "sink.path: the input a.csv belongs to the target " with sink.type set."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\npath = "n.db"\ntype = "sqlite"\n')
    with pytest.raises(ConfigError) as info:
        load_job(job, sets=["sink.path="], env={})
    assert str(info.value) == "sink.path is empty"
    p = cli("load", str(data_dir / "small.csv"), "", "--table", "t")
    assert (p.returncode, p.stderr) == (
        2,
        "loader: error: sink.path is empty\n  hint: check the flags; `loader load --help` lists them\n",
    )


@pytest.mark.parametrize("text", [" \n", "\t\r\n", "  "])
@pytest.mark.parametrize("variable", ["LOADER_SINK__PATH_FILE", "LOADER_SINK__PATH"])
def test_a_blank_sink_path_is_refused_as_empty_with_the_type_set(tmp_path: Path, variable: str, text: str) -> None:
    """A Secret holding " \\n" loaded into a database file named " " in the working directory."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\ntable = "t"\ntype = "sqlite"\n')
    secret = tmp_path / "sink-path"
    secret.write_text(text)
    value = str(secret) if variable.endswith("_FILE") else text
    where = f"{variable} ({secret})" if variable.endswith("_FILE") else variable
    with pytest.raises(ConfigError) as info:
        load_job(job, env={variable: value})
    assert str(info.value) == f"environment {where}: sink.path is empty"


def test_a_value_file_s_trailing_whitespace_is_not_part_of_the_value(tmp_path: Path) -> None:
    """``sp.db \\n`` from a Secret was kept as ``sp.db ``: a second database beside ``sp.db``."""
    job = job_file(tmp_path, '[source]\npath = "a.csv"\n[sink]\ntable = "t"\n')
    secret = tmp_path / "sink-path"
    secret.write_text("sp.db \t\n")
    assert load_job(job, env={"LOADER_SINK__PATH_FILE": str(secret)}).sink.path == "sp.db"
