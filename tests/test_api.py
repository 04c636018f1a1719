"""The resolved job (frozen, resolved once), relative paths in job files, and the typed Python API."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import signal
import time
import typing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import loader
from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, load
from loader.api import RunOptions, SinkOptions, SourceOptions
from loader.config import SECTIONS, job_from_dict, resolve
from loader.errors import ConfigError, LoaderError, SourceChangedError
from tests.conftest import sqlite_rows
from tests.reliability_util import cli

ROOT = Path(__file__).parents[1]


def test_a_resolved_job_is_frozen_and_resolved_once() -> None:
    job = job_from_dict({"source": {"path": "a.csv"}, "sink": {"path": "o.db"}, "run": {"max_memory": "1GiB"}}, env={})
    assert job.resolved and (job.source.format, job.sink.type, job.sink.batch_size, job.run.max_memory) == (
        "csv",
        "sqlite",
        50_000,
        1 << 30,
    )
    assert resolve(job) is job  # a second resolve is the identity, not a second pass
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.run.quiet = True  # type: ignore[misc]
    built = JobConfig(source=SourceConfig(path=["a.csv"]), sink=SinkConfig(path="o.db"), run=RunConfig(workers=1))
    assert not built.resolved and built.source.format is None  # built in Python: resolved by Pipeline
    assert Pipeline(built).job.source.format == "csv"


@pytest.mark.parametrize(
    ("section", "options"), [("source", SourceOptions), ("sink", SinkOptions), ("run", RunOptions)]
)
def test_typed_options_name_every_key(section: str, options: type) -> None:
    keys = {f.name for f in dataclasses.fields(SECTIONS[section])} - {"path"}
    assert set(typing.get_type_hints(options)) == keys


def test_load_documents_each_parameter() -> None:
    doc = inspect.getdoc(load) or ""
    for name in inspect.signature(load).parameters:
        assert f"\n    {name}: " in doc, name


def test_option_errors_from_python_carry_a_python_hint(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir / "small.csv", tmp_path / "x.db", run_options={"chunk_size": "big"})  # type: ignore[typeddict-item]
    assert (str(e.value), e.value.hint) == (
        "run_options.chunk_size: expected an integer, got 'big'",
        "check the job file or the keyword options; docs/job-files.md lists every key",
    )
    assert not (tmp_path / "x.db").exists()


def test_load_takes_sizes_as_text_and_paths_as_pathlib(tmp_path: Path, data_dir: Path) -> None:
    report = load(
        data_dir / "small.csv",
        tmp_path / "s.db",
        source_options={"max_row_bytes": "1MiB"},
        run_options={"max_memory": "500MB", "quiet": True, "report": tmp_path / "r.json"},
    )
    assert report.rows_written == 2 and (tmp_path / "r.json").exists()


def test_job_file_paths_are_relative_to_the_job_file(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "configs" / "data").mkdir(parents=True)
    (project / "configs" / "data" / "a.csv").write_text("id,name\n1,x\n2,y\n")
    job = project / "configs" / "job.toml"
    job.write_text(
        '[source]\npath = "data/*.csv"\n[sink]\npath = "../out/a.db"\ntable = "a"\n[run]\nreport = "../out/a.json"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = cli("run", str(job), "-q", cwd=elsewhere)
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_rows(project / "out" / "a.db", "SELECT count(*) FROM a") == [(2,)]
    assert (project / "out" / "a.json").exists()
    # flags and --set are relative to the current directory
    p = cli("run", str(job), "-q", "--set", "sink.path=here.db", "--report", "here.json", cwd=elsewhere)
    assert (p.returncode, p.stderr) == (0, "")
    assert sorted(x.name for x in elsewhere.iterdir() if not x.name.startswith("here.db.")) == ["here.db", "here.json"]


def test_lazy_names_have_type_checking_imports() -> None:
    """Go-to-definition works: each lazily imported name is imported under TYPE_CHECKING too."""
    tree = ast.parse(Path(loader.__file__).read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    imported = {a.name: n.module for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    lazy = loader._MODULES  # type: ignore[attr-defined]
    assert imported == lazy
    for name in lazy:
        assert getattr(loader, name) is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": "t", "sink_options": {"table": "x"}}, "sink_options.table: load() takes it as its table= argument"),
        ({"sink_options": {"path": "y.db"}}, "sink_options.path: load() takes it as its target argument"),
        ({"source_options": {"path": "z.csv"}}, "source_options.path: load() takes it as its source argument"),
    ],
)
def test_an_option_load_takes_as_an_argument_says_so(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    src = tmp_path / "a.csv"
    src.write_text("a\n1\n")
    with pytest.raises(ConfigError) as info:
        load(src, tmp_path / "x.db", **options)
    assert str(info.value) == message
    assert not (tmp_path / "x.db").exists()


def _last_run(metrics: Path) -> tuple[str, str]:
    """The exit code and last-success time a metrics file gives for job ``table:t``."""
    lines = dict(line.rsplit(" ", 1) for line in metrics.read_text().splitlines() if not line.startswith("#"))
    return lines['loader_last_run_exit_code{job="table:t"}'], lines[
        'loader_last_success_timestamp_seconds{job="table:t"}'
    ]


def test_a_failed_load_writes_its_report_and_metrics_as_the_cli_does(tmp_path: Path) -> None:
    src = tmp_path / "ok.csv"
    src.write_text("id,v\n1,a\n")
    outputs: RunOptions = {"report": tmp_path / "r.json", "metrics_file": tmp_path / "m.prom"}
    load(src, tmp_path / "rp.db", table="t", run_options=outputs)
    succeeded = _last_run(tmp_path / "m.prom")[1]
    with src.open("a") as fh:
        fh.write("3,c\n")
    with pytest.raises(SourceChangedError) as info:
        load(src, tmp_path / "rp.db", table="t", run_options=outputs)
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["status"], report["exit_code"], report["files_changed"]) == ("failed", 65, 1)
    assert info.value.report is not None and report == info.value.report.to_dict()
    assert _last_run(tmp_path / "m.prom") == ("65", succeeded)  # the last success is kept


def test_pipeline_run_and_from_config_write_report_and_metrics(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id,v\n1,a\n2,b\n")
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "a.db"), table="t"),
        run=RunConfig(report=str(tmp_path / "r.json"), metrics_file=str(tmp_path / "m.prom")),
    )
    Pipeline(job).run()
    assert json.loads((tmp_path / "r.json").read_text())["rows_written"] == 2
    assert _last_run(tmp_path / "m.prom")[0] == "0"
    # a job file, as `loader run` reads it: its report and metrics paths relative to it
    (tmp_path / "job.toml").write_text(
        '[source]\npath = "a.csv"\n[sink]\npath = "b.db"\ntable = "t"\n[run]\nreport = "job.json"\nmetrics_file = "job.prom"\n'
    )
    Pipeline.from_config(tmp_path / "job.toml", env={}).run()
    assert json.loads((tmp_path / "job.json").read_text())["rows_written"] == 2
    with src.open("a") as fh:
        fh.write("3,c\n")
    with pytest.raises(SourceChangedError):
        Pipeline.from_config(tmp_path / "job.toml", env={}).run()
    report = json.loads((tmp_path / "job.json").read_text())
    assert (report["status"], report["exit_code"]) == ("failed", 65)
    assert _last_run(tmp_path / "job.prom")[0] == "65"


def test_a_report_path_the_os_refuses_after_a_library_load_names_it(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LoaderError) as info:
        load(data_dir / "small.csv", tmp_path / "a.db", run_options={"report": tmp_path / "file" / "r.json"})
    # load() names the key as it took it; the OS's reason is the file in the way, not "File exists"
    assert str(info.value) == f"run_options.report: cannot write {tmp_path / 'file' / 'r.json'}: Not a directory"
    assert info.value.report is not None and info.value.report.rows_written == 2  # committed
    assert sqlite_rows(tmp_path / "a.db", "SELECT count(*) FROM small") == [(2,)]


def test_log_format_json_logs_the_runs_events_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    (tmp_path / "job.toml").write_text('[source]\npath = "a.csv"\n[sink]\npath = "a.db"\n[run]\nlog_format = "json"\n')
    Pipeline.from_config(tmp_path / "job.toml", env={}).run()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["start", "file", "file_done", "finish"]
    assert (events[-1]["status"], events[-1]["rows_written"], events[-1]["exit_class"]) == ("ok", 2, "ok")
    seen: list[str] = []  # the caller's own listener takes the events instead
    Pipeline.from_config(tmp_path / "job.toml", env={}, on_event=lambda name, data: seen.append(name)).run()
    assert capsys.readouterr().err == "" and seen[-1] == "finish"
    load(tmp_path / "a.csv", tmp_path / "b.db")  # text: a library call prints nothing
    assert capsys.readouterr().err == ""


def test_ctrl_c_during_a_library_load_reports_interrupted_with_130(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id\n" + "".join(f"{i}\n" for i in range(5000)))

    def ctrl_c(batch: pa.RecordBatch) -> pa.RecordBatch:  # runs on the read-ahead thread
        os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt in the main thread
        time.sleep(0.5)
        return batch

    # Python's own SIGINT handler, as in a terminal (a background job of a script inherits SIGINT ignored)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            load(src, tmp_path / "a.db", transforms=[ctrl_c], run_options={"report": tmp_path / "r.json"})
    finally:
        signal.signal(signal.SIGINT, old)
    report = info.value.report  # type: ignore[attr-defined]
    assert (report.status, report.exit_code, report.error) == (
        "interrupted",
        130,
        "stopped by SIGINT; committed work is kept",
    )
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "interrupted"


def test_every_error_loader_exports_is_in_the_api_reference() -> None:
    errors = [
        n for n in loader.__all__ if isinstance(getattr(loader, n), type) and issubclass(getattr(loader, n), Exception)
    ]
    assert loader.NothingLoadedError.exit_code == 4 and "NothingLoadedError" in errors
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert [n for n in errors if f"::: loader.{n}\n" not in page] == []


def test_a_missing_input_is_caught_as_the_api_reference_names_it(tmp_path: Path) -> None:
    from loader import MissingInputError

    assert "MissingInputError" in loader.__all__
    with pytest.raises(MissingInputError) as info:
        load([tmp_path / "a.csv", tmp_path / "gone.csv"], tmp_path / "a.db", table="t")
    assert (info.value.exit_code, str(info.value)) == (66, f"{tmp_path / 'a.csv'}: no such file")


def _a_fn(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch


WRONG_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"source": 5}, "source: expected a path or a list of paths, got 5"),
    ({"source": None}, "source: expected a path or a list of paths, got None"),
    ({"source": b"a.csv"}, "source: expected a path or a list of paths, got b'a.csv'"),
    ({"source": {"a.csv": 1}}, "source: expected a path or a list of paths, got {'a.csv': 1}"),
    ({"source": ["a.csv", 5]}, "source: expected a path or a list of paths, got ['a.csv', 5]"),
    ({"target": None}, "target: expected a path, got None"),
    ({"target": 5}, "target: expected a path, got 5"),
    ({"table": 5}, "table: expected a string, got 5"),
    ({"transforms": _a_fn}, f"transforms: expected a list of stages or functions, got {_a_fn!r}"),
    ({"transforms": "rename"}, "transforms: expected a list of stages or functions, got 'rename'"),
    ({"source_options": "csv"}, "source_options: expected a dict of the job file's [source] keys, got 'csv'"),
    ({"run_options": ["quiet"]}, "run_options: expected a dict of the job file's [run] keys, got ['quiet']"),
    # a key the run refuses later is named as load() took it too
    ({"run_options": {"chunk_size": 0}}, "run_options.chunk_size: expected 1 or more"),
    ({"run_options": {"read_ahead": -1}}, "run_options.read_ahead: expected 0 or more"),
    (
        {"sink_options": {"busy_timeout": float("nan")}},
        "sink_options.busy_timeout: expected a number of seconds, from 0 to 2147483, got nan",
    ),
    ({"target": "x.ldb", "table": None}, 'key: a leveldb sink needs a key template, e.g. "user:{id}"'),
    (
        {"run_options": {"engine": "processes"}, "transforms": [_a_fn]},
        "run_options.engine = 'processes': transforms passed in Python cannot travel to workers",
    ),
    (
        {"source": "-", "run_options": {"engine": "processes"}},
        "run_options.engine = 'processes': standard input cannot be read in parts",
    ),
    ({"source": []}, "source: the iterable of paths given is empty (a Path.glob() that matched no file?)"),
]


@pytest.mark.parametrize(("arguments", "message"), WRONG_ARGUMENTS, ids=[next(iter(a)) for a, _ in WRONG_ARGUMENTS])
def test_an_argument_of_the_wrong_type_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError) as info:
        load(**{"source": "a.csv", "target": "x.db", "table": "t", **arguments})
    assert str(info.value) == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # nothing written


def test_a_dataframe_is_refused_not_read_as_a_list_of_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("a\n1\n")  # the frame's one column name: it was loaded, and ok returned
    with pytest.raises(ConfigError) as info:
        load(pandas.DataFrame({"a.csv": [1, 2]}), "t.db", table="t")  # type: ignore[arg-type]
    assert (str(info.value), info.value.hint) == (
        "source: expected a path or a list of paths, got a DataFrame",
        "pass a path or glob (str or os.PathLike), or a list of them",
    )
    assert not (tmp_path / "t.db").exists()


def test_pipeline_given_a_job_files_path_says_to_use_from_config() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline("job.toml")  # type: ignore[arg-type]
    assert (str(info.value), info.value.hint) == (
        "job: expected a JobConfig, got 'job.toml'",
        "Pipeline.from_config(path) reads a job file",
    )
    with pytest.raises(ConfigError, match=r"^job: expected a JobConfig, got None$"):
        Pipeline(None)  # type: ignore[arg-type]


def test_pipeline_refuses_a_lone_transform_function(tmp_path: Path) -> None:
    job = JobConfig(source=SourceConfig(path=[str(tmp_path / "a.csv")]), sink=SinkConfig(path=str(tmp_path / "x.db")))
    with pytest.raises(ConfigError) as info:
        Pipeline(job, transforms=_a_fn)  # type: ignore[arg-type]
    assert (str(info.value), info.value.hint) == (
        f"transforms: expected a list of stages or functions, got {_a_fn!r}",
        "pass it in a list: transforms=[fn]",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sets": "sink.path=x.db"}, "sets: expected a list of SECTION.KEY=VALUE texts, got 'sink.path=x.db'"),
        (
            {"sets": [("sink.path", "x.db")]},
            "sets: expected a list of SECTION.KEY=VALUE texts, got [('sink.path', 'x.db')]",
        ),
        (
            {"env": "LOADER_RUN__QUIET=true"},
            "env: expected a dict of environment variables, got 'LOADER_RUN__QUIET=true'",
        ),
        ({"path": 5}, "path: expected the job file's path, got 5"),  # open(5) would read file descriptor 5
    ],
)
def test_from_config_refuses_arguments_of_the_wrong_type(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[source]\npath = "a.csv"\n[sink]\npath = "a.db"\n')
    with pytest.raises(ConfigError) as info:
        Pipeline.from_config(**{"path": job, "env": {}, **arguments})
    assert str(info.value) == message


def test_any_iterable_of_paths_is_a_source(tmp_path: Path) -> None:
    """Path.glob's generator, a set, a numpy array or a pandas Series of paths load as a list
    does (the check that refuses a DataFrame refused them too, for a while)."""
    import numpy
    import pandas

    for name, text in (("a.csv", "id\n1\n"), ("b.csv", "id\n2\n")):
        (tmp_path / name).write_text(text)
    names = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    sources = [tmp_path.glob("*.csv"), set(names), numpy.array(names), pandas.Series(names), (p for p in names)]
    for i, source in enumerate(sources):
        report = load(source, tmp_path / f"t{i}.db", table="t")  # type: ignore[arg-type]
        assert (report.rows_written, report.files_loaded) == (2, 2)


def test_load_takes_every_leveldb_size_as_text(tmp_path: Path, data_dir: Path) -> None:
    report = load(
        data_dir / "small.csv",
        tmp_path / "s.ldb",
        key="{a}",
        source_options={"block_size": "512KiB"},
        sink_options={
            "write_buffer_size": "4MiB",
            "max_file_size": "1MiB",
            "lru_cache_size": "2MiB",
            "block_size": "16KiB",
            "sort_run_size": "1MiB",
        },
    )
    assert report.rows_written == 2
    assert {k: report.sizes[k] for k in ("block_size", "write_buffer_size", "max_file_size", "lru_cache_size")} == {
        "block_size": 512 << 10,
        "write_buffer_size": 4 << 20,
        "max_file_size": 1 << 20,
        "lru_cache_size": 2 << 20,
    }
    assert report.sizes["sort_run_size"] == 1 << 20


def test_a_size_past_what_pyarrow_takes_is_a_config_error_named_as_load_took_it(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir / "small.csv", tmp_path / "x.db", source_options={"block_size": "1G"})
    assert str(e.value) == (
        "source_options.block_size: expected at most 1023MB (1072693248 bytes: pyarrow parses less than 2 GiB "
        "at a time), got 1073741824"
    )
    assert not (tmp_path / "x.db").exists()


def test_a_key_within_an_option_table_is_named_as_load_took_it(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir / "small.csv", tmp_path / "x.db", source_options={"columns": {"a": "bogus"}})
    assert str(e.value) == "source_options.columns.a: unknown type 'bogus'"


def test_a_hint_from_load_names_its_keywords_not_flags(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id,n\n1,2\n2,x\n", encoding="utf-8")
    with pytest.raises(LoaderError) as e:
        load(
            path,
            tmp_path / "x.db",
            table="t",
            source_options={"columns": {"n": "int64"}},
            run_options={"max_rejects": 0},
        )
    assert e.value.hint == (
        "committed rows are kept; read the reject file, then rerun with a higher run_options.max_rejects to resume, "
        'or fix the input and rerun with run_options={"restart": True}'
    )


@pytest.mark.parametrize(
    ("hint", "given"),
    [
        (  # the key with its value and its flag: one keyword
            "set sink.alter = true (--alter) to add new columns",
            'set sink_options={"alter": True} to add new columns',
        ),
        ("name another table (--table)", "name another table (table=)"),
        ("retry when it ends, or raise sink.busy_timeout", "retry when it ends, or raise sink_options.busy_timeout"),
        ("or use run.engine = 'threads'", 'or use run_options={"engine": "threads"}'),
        (  # a list of values: the key alone is renamed
            'set source.format = "csv", "parquet" or "arrow" (or --format)',
            'set source_options.format = "csv", "parquet" or "arrow" (or source_options.format)',
        ),
        (
            'read it with --encoding utf-16 (source.encoding = "utf-16")',
            'read it with source_options={"encoding": "utf-16"}',
        ),
        ("set run.on_change to 'skip'", "set run_options.on_change to 'skip'"),
        ("see /tmp/run.report or run.report.json", "see /tmp/run.report or run.report.json"),  # file names
        ('load with mode = "append" (--mode append)', 'load with mode = "append" (sink_options={"mode": "append"})'),
        ("set --max-memory 94MB or more", 'set run_options={"max_memory": "94MB"} or more'),
        ("try --delimiter ';'", 'try source_options={"delimiter": ";"}'),
        ("rerun with --set run.on_change=reload", 'rerun with run_options={"on_change": "reload"}'),
        ("run again with --debug", "run again with --debug"),  # no key's flag: as it is
        (  # a switch does not take the next flag as its value
            "rerun with --restart --mode replace (every file",
            'rerun with run_options={"restart": True} sink_options={"mode": "replace"} (every file',
        ),
    ],
)
def test_hint_flags_become_load_keywords(hint: str, given: str) -> None:
    from loader.api import _as_given

    error = LoaderError("failed", hint=hint)
    _as_given(error)
    assert error.hint == given


def test_column_names_and_user_text_like_job_keys_stay_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns named ``source.path`` or ``run.job`` (a flattened export's) are data, not job keys."""
    from loader.transforms import Select, Validate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("id,source.path,run.job\n1,a,-3\n")
    with pytest.raises(ConfigError) as e:
        load("a.csv", "o.db", table="t", transforms=[Select(columns=["id", "sink.table"])])
    assert (str(e.value), e.value.hint) == (
        "select: a.csv: columns: no column 'sink.table' in the data",
        "columns are: id, source.path, run.job",
    )
    with pytest.raises(LoaderError) as caught:
        load("a.csv", "o.db", table="t", transforms=[Validate(rules={"run.job": {"min": 0}}, on_error="fail")])
    assert str(caught.value) == "validate: a.csv, line 2, column 'run.job': rule min=0 failed for run.job: -3"

    def bad(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad sink.mode")

    with pytest.raises(LoaderError) as caught:
        load("a.csv", "o.db", table="t", transforms=[bad])
    assert "ValueError: bad sink.mode" in str(caught.value)


def test_a_nothing_loaded_hint_keeps_the_paths_and_the_job_files_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reject file's path (``--key`` in it is no flag) and ``source.columns in a job file``
    (no ``source_options`` there) stay as they are; the rest is ``load()``'s keywords."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("id,v\nsee --mode x,1\nb,2\n")
    with pytest.raises(LoaderError) as e:
        load("a.csv", "out--key.db", table="t", source_options={"columns": {"id": "int64"}})
    assert (str(e.value), e.value.hint) == (
        "a.csv: nothing loaded: all 2 rows were rejected ('see --mode x' is not a valid int64)",
        'rejected rows are in out--key.db.table-t.rejects.jsonl; fix the cause and rerun with run_options={"restart": True} '
        '(and sink_options={"mode": "replace"} if this run created the table with the wrong columns)',
    )
    (tmp_path / "k1.csv").write_text("id,v\n1,a\n2,b\n")
    (tmp_path / "k2.csv").write_text("id,v\n007,c\n")
    load("k1.csv", "s.ldb", key="{id}", sink_options={"mode": "upsert"})
    with pytest.raises(LoaderError) as e:
        load("k2.csv", "s.ldb", key="{id}", sink_options={"mode": "upsert"})
    assert e.value.hint == (
        "rejected rows are in s.ldb.key-id.rejects.jsonl; their values are of other types than earlier runs recorded: "
        "declare the type (source_options.columns, or source.columns in a job file) and rerun with "
        'run_options={"restart": True} sink_options={"mode": "replace"} (every file of the job loads again); but it '
        "would drop the 2 rows of 1 file the job loaded that is no longer among its inputs (k1.csv: 2 rows): put them "
        'back first, or add run_options={"drop_gone": True}'
    )


def test_the_tab_a_nothing_loaded_message_says_to_try_is_a_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message's own advice is ``load()``'s keyword, with a Python tab."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.csv").write_text("a\tb\tc\n1,x\t2\t3\n4,y\t5\t6\n")
    with pytest.raises(LoaderError) as e:
        load("w.csv", "w.db", table="t", source_options={"delimiter": ","})
    assert str(e.value) == (
        "w.csv: nothing loaded: all 2 rows have 2 fields but the header has 1; "
        'the file looks \'\\t\'-delimited: try source_options={"delimiter": "\\t"}'
    )
    report = load("w.csv", "w2.db", table="t", source_options={"delimiter": "\t"})
    assert report.rows_written == 2
    assert SourceConfig(path=["w.csv"], delimiter="\\t").delimiter == "\t"  # the two characters a shell passes


def test_a_held_target_names_busy_timeout_as_load_took_it(tmp_path: Path) -> None:
    """docs/api.md's example: the key inside the message and the hint, not only at its start."""
    import plyvel

    (tmp_path / "a.csv").write_text("id\n1\n")
    holder = plyvel.DB(str(tmp_path / "held.ldb"), create_if_missing=True)  # another holder of the store
    try:
        with pytest.raises(LoaderError) as e:
            load(tmp_path / "a.csv", tmp_path / "held.ldb", key="{id}", sink_options={"busy_timeout": 0.1})
    finally:
        holder.close()
    assert str(e.value) == (
        f"{tmp_path / 'held.ldb'}: LevelDB is locked by another program (still locked after sink_options.busy_timeout = 0.1s)"
    )
    assert e.value.hint is not None and "sink.busy_timeout" not in e.value.hint
    assert e.value.hint.endswith("or raise sink_options.busy_timeout")


def test_a_job_key_inside_a_message_or_hint_is_named_as_load_took_it(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "a.csv", tmp_path / "x.db", transforms=[lambda b: b], run_options={"engine": "processes"})
    assert str(e.value).startswith("run_options.engine = 'processes': transforms passed in Python")
    assert e.value.hint is not None and e.value.hint.endswith('or use run_options={"engine": "threads"}')
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "*.csv", tmp_path / "x.db")
    assert (str(e.value), e.value.hint) == (
        "table: needed when source is a glob ('" + str(tmp_path / "*.csv") + "')",
        "set table (table=); the table name is not guessed from a pattern",
    )


# Calls docs/api.md and README.md document, as a caller's strictly typed code makes them.
_DOCUMENTED_CALLS = """
import os
from pathlib import Path

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, load

Pipeline.from_config("job.toml", sets=("run.chunk_size=5",), env=os.environ)
load("a.csv", "q.db", table="t", source_options={"quote_char": False, "escape_char": "\\\\"})
SourceConfig(path="a.csv", quote_char=None, escape_char=False)

JobConfig(
    source=SourceConfig(path="a.csv"),
    sink=SinkConfig(path=Path("x.db"), page_size="64KiB"),
    run=RunConfig(max_memory="1GB", report=Path("r.json")),
)
JobConfig(source={"path": "a.csv"}, sink={"path": "x.db", "mode": "replace"})
SourceConfig(path=[Path("a.csv"), "b/*.csv"])
load(Path(".").glob("*.csv"), "y.db", table="t")
load({"a.csv", "b.csv"}, Path("y.db"), table="t", source_options={"header": None, "block_size": "4MB"})
load("a.csv", "y.db", run_options={"workers": None, "report": Path("r.json")}, sink_options={"batch_size": None})
"""


def test_documented_calls_pass_mypy_strict(tmp_path: Path) -> None:
    from mypy import api

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = readme.split("<!-- python-example -->\n```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "calls.py").write_text(_DOCUMENTED_CALLS, encoding="utf-8")
    (tmp_path / "readme_example.py").write_text(example, encoding="utf-8")
    wrong = 'from loader import SourceConfig, load\nload("a.csv", "q.db", source_options={"quote_char": True})\n'
    (tmp_path / "wrong.py").write_text(wrong + 'SourceConfig(path="a.csv", escape_char=True)\n', encoding="utf-8")
    os.environ["MYPYPATH"] = str(ROOT)  # this checkout's loader, not an installed one
    try:
        flags = ["--strict", "--ignore-missing-imports", "--follow-imports=silent", "--config-file", ""]
        files = [str(tmp_path / "calls.py"), str(tmp_path / "readme_example.py"), str(tmp_path / "wrong.py")]
        out, err, status = api.run([*flags, "--cache-dir", str(tmp_path / "cache"), *files])
    finally:
        del os.environ["MYPYPATH"]
    # only false is taken for no quote or escape character: True is refused by the types, as by the run
    errors = [line.split(": error: ")[1] for line in out.splitlines() if ": error: " in line]
    assert (status, err, [line.split(":")[0] for line in out.splitlines()[:-1]]) == (
        1,
        "",
        [str(tmp_path / "wrong.py")] * 2,
    )
    assert errors == [
        'Argument "source_options" to "load" has incompatible type "dict[str, bool]"; '
        'expected "SourceOptions | None"  [arg-type]',
        'Argument "escape_char" to "SourceConfig" has incompatible type "Literal[True]"; '
        'expected "str | Literal[False]"  [arg-type]',
    ], out


@pytest.mark.parametrize("closed", [False, True], ids=["none", "closed"])
def test_a_progress_line_with_no_stderr_to_draw_on_leaves_the_load_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed: bool
) -> None:
    """A host whose ``sys.stderr`` is None or a closed stream: ``progress=True`` raised
    AttributeError / ValueError mid-load, a failed run to rerun that failed again."""
    import io

    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr("sys.stderr", stream if closed else None)
    (tmp_path / "in.csv").write_text("id\n1\n2\n", encoding="utf-8")
    job = JobConfig(source={"path": str(tmp_path / "in.csv")}, sink={"path": str(tmp_path / "t.db"), "table": "t"})
    report = Pipeline(job, progress=True).run()
    assert (report.status, report.rows_written) == ("ok", 2)
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM t") == [(1,), (2,)]


def test_an_empty_iterable_of_paths_with_allow_empty_is_a_run_of_no_files(tmp_path: Path) -> None:
    """``Path.glob`` over an empty inbox gave exit 2 "source: expected at least one path" though
    ``allow_empty`` was asked for, where the same glob as text loads nothing and succeeds."""
    (tmp_path / "inbox").mkdir()
    allow = {"allow_empty": True}
    for source in [(tmp_path / "inbox").glob("*.csv"), []]:
        report = load(source, tmp_path / "t.db", table="t", source_options=allow)  # type: ignore[arg-type]
        assert (report.status, report.files_loaded, report.rows_written) == ("ok", 0, 0)
        with pytest.raises(ConfigError) as e:
            load(source, tmp_path / "t.db", table="t")
        assert (str(e.value), e.value.hint, e.value.exit_code) == (
            "source: the iterable of paths given is empty (a Path.glob() that matched no file?)",
            'pass source_options={"allow_empty": True} to load no file and succeed (a scheduled run), '
            "or the glob as text, whose error names it",
            2,
        )
    with pytest.raises(ConfigError) as e:
        load([], tmp_path / "t.db", source_options=allow)
    assert (str(e.value), e.value.hint) == (
        "table: needed when source names no file",
        "set table (table=); the table name is taken from the first input file's",
    )
    assert load([], tmp_path / "t.ldb", key="{id}", source_options=allow).status == "ok"
