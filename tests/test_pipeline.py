from __future__ import annotations

import contextlib
import datetime as dt
import gc
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import plyvel
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, load
from loader.errors import (
    ConfigError,
    InputGoneError,
    LoaderError,
    MissingInputError,
    NothingLoadedError,
    RejectLimitError,
    SourceChangedError,
    TransformError,
    exit_class,
)
from loader.pipeline import SMALL_FILE_BYTES
from loader.transforms import FillNull
from tests.conftest import sqlite_rows, write_csv
from tests.reliability_util import cli, rejects_of, sqlite_state


def job(src: Path | list[Path], target: Path, sink: dict | None = None, run: dict | None = None, **source) -> JobConfig:
    paths = [str(p) for p in (src if isinstance(src, list) else [src])]
    return JobConfig(
        source=SourceConfig(path=paths, **source),
        sink=SinkConfig(path=str(target), **(sink or {})),
        run=RunConfig(**(run or {})),
    )


def test_csv_to_sqlite_round_trip_values_and_types(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "t.db"
    report = Pipeline(job(data_dir / "types.csv", db, {"table": "t"})).run()
    assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 3, 3, 0)
    rows = sqlite_rows(db, "SELECT id, zip, name, amount, big, precise, day, at, flag FROM t ORDER BY id")
    assert rows[0] == (
        1,
        "0042",
        "Ann",
        1.5,
        "12345678901234567890",
        "0.1",
        "2024-01-31",
        "2024-01-31T10:00:00.000000",
        1,
    )
    assert rows[1][5] == "0.10000000000000000001"
    assert rows[2][2] == "ø ü 中" and rows[2][8] is None
    assert sqlite_rows(db, "SELECT typeof(id), typeof(zip), typeof(amount) FROM t LIMIT 1") == [
        ("integer", "text", "real")
    ]


def test_parquet_to_leveldb_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "u.parquet"
    table = pa.table(
        {"id": [3, 1, 2], "name": ["c", "a", "b"], "day": pa.array([dt.date(2024, 1, d) for d in (3, 1, 2)])}
    )
    pq.write_table(table, src)
    target = tmp_path / "u.ldb"
    report = load(str(src), str(target), key="user:{id}")
    assert report.rows_written == 3
    db = plyvel.DB(str(target))
    items = [(k, json.loads(v)) for k, v in db if not k.startswith(b"\xff")]
    db.close()
    assert [k for k, _ in items] == [f"user:{i:020d}".encode() for i in (1, 2, 3)]
    assert items[0][1] == {"id": 1, "name": "a", "day": "2024-01-01"}


def test_accounting_invariant_and_reject_file(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "b.db"
    report = Pipeline(job(data_dir / "bad.csv", db, {"table": "t"}, infer_rows=3)).run()
    assert report.rows_read == report.rows_written + report.rows_rejected + report.rows_filtered == 7
    assert report.rows_rejected == 3
    lines = [json.loads(x) for x in Path(report.rejects_path).read_text().splitlines()]
    assert [(x["row"], x["reason"]) for x in lines] == [
        (4, "expected 3 fields, found 2"),
        (5, "expected 3 fields, found 4"),
        (6, "'abc' is not a valid int64"),
    ]
    assert Path(report.rejects_path) == tmp_path / "b.db.table-t.rejects.jsonl"
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (7,)]


def test_rerun_skips_loaded_files_and_loads_new_ones(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    write_csv(inp / "a.csv", ["id"], [[1], [2]])
    db = tmp_path / "x.db"
    j = job(inp / "*.csv", db, {"table": "t"})
    assert Pipeline(j).run().rows_written == 2
    write_csv(inp / "b.csv", ["id"], [[3]])
    r2 = Pipeline(job(inp / "*.csv", db, {"table": "t"})).run()
    assert (r2.rows_written, r2.files_loaded, r2.files_skipped) == (1, 1, 1)
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]
    r3 = Pipeline(job(inp / "*.csv", db, {"table": "t"}, {"restart": True})).run()
    assert r3.rows_written == 3
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(6,)]


class Boom(Exception):
    pass


def crash_after(n_chunks: int):
    seen = {"n": 0}

    def stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen["n"] += 1
        if seen["n"] > n_chunks:
            raise Boom("simulated crash")
        return batch

    return stage


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("crash_at", [0, 1, 3, 7])
def test_resume_after_crash_is_exactly_once(tmp_path: Path, sink: str, crash_at: int) -> None:
    rows = [[i, f"v{i}", "bad" if i % 97 == 0 else i * 2] for i in range(1, 3001)]
    src = write_csv(tmp_path / "in.csv", ["id", "v", "n"], rows)
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    sink_cfg = {"table": "t", "batch_size": 300} if sink == "sqlite" else {"key": "{id}", "batch_size": 300}
    j = lambda: job(src, target, sink_cfg, {"chunk_size": 100, "read_ahead": 0}, block_size=2048, infer_rows=50)  # noqa: E731
    with pytest.raises(LoaderError, match="simulated crash"):
        Pipeline(j(), transforms=[crash_after(crash_at)]).run()
    report = Pipeline(j()).run()
    if crash_at >= 7:  # by then at least one batch of 300 rows had committed
        assert report.resumed is True
    if sink == "sqlite":
        ids = [r[0] for r in sqlite_rows(target, "SELECT id FROM t ORDER BY id")]
    else:
        db = plyvel.DB(str(target))
        ids = [json.loads(v)["id"] for k, v in db if not k.startswith(b"\xff")]
        db.close()
    expected = [i for i in range(1, 3001) if i % 97]
    assert ids == expected
    rejects = [
        json.loads(x)["row"]
        for x in rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}").read_text().splitlines()
    ]
    assert rejects == [i for i in range(1, 3001) if i % 97 == 0]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("read_ahead", [0, 2])
def test_a_failed_load_stops_its_parse_workers_without_a_collection(tmp_path: Path, read_ahead: int, sink: str) -> None:
    """A stage failing mid-file leaves no parse worker behind: the reader's iteration
    is closed when the load fails, not when the collector reaches the exception's
    traceback (it is off here, as in a run). LevelDB's reading has a thread of its own
    (its sink's ``encoder_thread``): stopped too."""
    src = write_csv(tmp_path / "in.csv", ["id", "v"], [[i, f"v{i}"] for i in range(1, 3001)])
    j = job(
        src,
        tmp_path / ("t.db" if sink == "sqlite" else "t.ldb"),
        {"table": "t"} if sink == "sqlite" else {"key": "{id}"},
        {"chunk_size": 100, "read_ahead": read_ahead, "workers": 2},
        block_size=2048,
    )
    was = gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(LoaderError, match="simulated crash"):
            Pipeline(j, transforms=[crash_after(3)]).run()
        assert [t.name for t in threading.enumerate() if t.name.startswith("loader-")] == []
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize(
    ("target", "ceiling", "apart"), [("t.ldb", None, True), ("t.ldb", "4GB", True), ("t.db", None, False)]
)
def test_a_heavy_encoder_gets_a_thread_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, ceiling: str | None, apart: bool
) -> None:
    """LevelDB's encoder (JSON values, keys) runs on one thread, the reading and the
    stages on another, under a memory ceiling too (which counts the chunk read ahead of
    it); SQLite's light one where the rows are read. (The ceiling is far above this test
    process, which holds the whole suite's imports.)"""
    import loader.pipeline as pipeline_module

    reading: set[int] = set()
    encoding: set[int] = set()
    real_apply, real_map = pipeline_module.apply, pipeline_module.ordered_map

    def apply(stages, chunks):  # type: ignore[no-untyped-def]
        for chunk in real_apply(stages, chunks):
            reading.add(threading.get_ident())
            yield chunk

    def ordered_map(fn, items, workers):  # type: ignore[no-untyped-def]
        def encode(chunk):  # type: ignore[no-untyped-def]
            encoding.add(threading.get_ident())
            return fn(chunk)

        return real_map(encode, items, workers)

    monkeypatch.setattr(pipeline_module, "apply", apply)
    monkeypatch.setattr(pipeline_module, "ordered_map", ordered_map)
    # past SMALL_FILE_BYTES: a smaller file is read without read-ahead threads
    src = write_csv(tmp_path / "in.csv", ["id", "v"], [[(i * 7919) % 20000, f"v{i}"] for i in range(20000)])
    assert src.stat().st_size > pipeline_module.SMALL_FILE_BYTES
    report = load(
        str(src),
        str(tmp_path / target),
        key="{id}" if target.endswith(".ldb") else None,
        run_options={"chunk_size": 2000, "max_memory": ceiling} if ceiling else {"chunk_size": 2000},
    )
    assert (report.status, report.rows_written) == ("ok", 20000)
    assert reading and encoding
    assert reading.isdisjoint(encoding) == apart
    assert len(reading) == len(encoding) == 1


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads started while the test runs."""
    names: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        names.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return names


@pytest.mark.parametrize("target", ["t.ldb", "t.db"])
def test_a_small_file_is_read_without_threads(tmp_path: Path, started: list[str], target: str) -> None:
    """Many small files: a file of a few chunks is read, encoded and written on the load's own
    thread (a thread started per file cost more than the file), with every row there."""
    files = [
        write_csv(tmp_path / f"in{i}.csv", ["id", "v"], [[i * 100 + j, f"v{j}"] for j in range(100)]) for i in range(3)
    ]
    report = load(
        str(tmp_path / "in*.csv"),
        str(tmp_path / target),
        key="{id}" if target.endswith(".ldb") else None,
        table=None if target.endswith(".ldb") else "t",
        run_options={"chunk_size": 40, "workers": 2},
    )
    assert (report.status, report.rows_written) == ("ok", 300)
    assert all(f.stat().st_size <= SMALL_FILE_BYTES for f in files)
    # none per file (a LevelDB load's end writes its table files with a thread of its own)
    assert [n for n in started if n.startswith(("loader-read-ahead", "loader-worker"))] == []
    assert report.rows_read == 300


def test_a_compressed_file_small_on_disk_is_read_ahead_by_the_rows_it_holds(tmp_path: Path, started: list[str]) -> None:
    """Small means the bytes the reader parses: a 14 KB .gz of 630 KB of CSV is read ahead as
    a large file is (it was read on the load's own thread by its size on disk)."""
    src = tmp_path / "in.csv.gz"
    with gzip.open(src, "wt") as fh:
        fh.write("id,v\n" + "".join(f"{i},{'lorem ipsum ' * 10}\n" for i in range(5000)))
    assert src.stat().st_size <= SMALL_FILE_BYTES
    report = load(str(src), str(tmp_path / "t.db"), run_options={"chunk_size": 500})
    assert (report.status, report.rows_written) == ("ok", 5000)
    assert [n for n in started if n.startswith("loader-read-ahead")]


def test_a_plan_refuses_files_whose_every_row_the_load_rejects(tmp_path: Path) -> None:
    """The dry run read the type sample and called the source valid; the load then wrote nothing (exit 4)."""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n" + b"".join(b"%d,Zo\xeb\n" % i for i in range(1, 2001)))
    j = job(bad, tmp_path / "t.db", {"table": "t"}, {"chunk_size": 100}, block_size=2048, infer_rows=50)
    with pytest.raises(NothingLoadedError) as info:
        Pipeline(j).plan()
    # past the sample and every chunk: the whole file's rows, as the load counts them
    assert str(info.value) == (
        f"{bad}: nothing loaded: all 2,000 rows were rejected (invalid UTF-8 in 'Zo\\xeb');"
        " the file reads as cp1252: try --encoding cp1252"
    )
    assert info.value.exit_code == 4
    assert not (tmp_path / "t.db").exists()
    # one good row, past the sample, is written by the load: the plan stands
    bad.write_bytes(bad.read_bytes() + b"2001,Zoe\n")
    assert Pipeline(j).plan().schema is not None


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_new_file_the_filter_drops_whole_is_a_warning_once_the_job_loaded_rows(tmp_path: Path, engine: str) -> None:
    """A scheduled glob with a filter: a new file none of whose rows pass exited 4, "fix the file
    and rerun with on_change=reload", though the job asked for it and the next run skips the
    file as loaded (exit 0). Once the job has loaded rows it is exit 0 with a warning, from a
    dry run too; a job's first rows all filtered out stay exit 4 (a mistaken filter?), its hint
    saying the file is recorded as loaded and how to load it again; rejects stay exit 4."""
    (tmp_path / "data").mkdir()
    job = tmp_path / "job.toml"
    job.write_text(
        '[source]\npath = "data/*.csv"\nallow_empty = true\n'
        '[[transform]]\ntype = "filter"\nwhere = "country = \'NO\'"\n'
        '[sink]\npath = "t.db"\ntable = "events"\n'
        f'[run]\njob = "events"\nreport = "r.json"\nengine = "{engine}"\nworkers = 1\n'
    )

    def run(name: str, text: str, *args: str) -> tuple[int, str, list[str]]:
        if text:
            (tmp_path / "data" / name).write_text(f"id,country\n{text}")
        p = cli("run", str(job), "-q", *args)
        return p.returncode, p.stderr, json.loads((tmp_path / "r.json").read_text())["warnings"]

    first = f"{tmp_path}/data/a.csv"
    assert run("a.csv", "1,SE\n2,FI\n") == (
        4,
        f"loader: error: {first}: nothing loaded: all 2 rows were filtered out by the transforms\n"
        "  hint: the job's checkpoint records this file as loaded, so a rerun skips it; if the transforms "
        "are wrong, fix them and rerun with --restart (the job's files load again)\n",
        [],
    )
    assert run("b.csv", "3,NO\n4,SE\n") == (0, "", [])
    dropped = f"{tmp_path}/data/c.csv: nothing new loaded: all 2 rows were filtered out by the transforms"
    (tmp_path / "data" / "c.csv").write_text("id,country\n5,SE\n6,FI\n")
    planned = cli("run", str(job), "--dry-run")
    assert (planned.returncode, planned.stdout.splitlines()[-2]) == (0, f"WARNING {dropped}")
    assert run("c.csv", "") == (0, "", [dropped])
    assert run("c.csv", "") == (0, "", [])  # skipped as loaded
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM events") == [(3,)]
    rejected = run("d.csv", "x,NO\n")
    assert (rejected[0], rejected[1].splitlines()[0], rejected[2]) == (
        4,
        f"loader: error: {tmp_path}/data/d.csv: nothing loaded: the one row was rejected "
        "('x' is not a valid int64; id is int64 since an earlier run of this job)",
        [],
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_replace_that_writes_no_row_keeps_the_old_table(tmp_path: Path, engine: str) -> None:
    """hunt27e 0b: a replace whose rows were all rejected, or all filtered out, swapped an empty
    table in at its last commit, then exited 4: yesterday's table was gone. It exits 4 with the
    old table whole, as a stop at max_rejects does, and the next run starts the replace over."""
    (tmp_path / "in").mkdir()
    job = tmp_path / "job.toml"
    job.write_text(
        '[source]\npath = "in/*.csv"\n[source.columns]\namount = "int64"\n'
        '[[transform]]\ntype = "filter"\nwhere = "amount > 0"\n'
        '[sink]\npath = "out.db"\ntable = "t"\nmode = "replace"\n'
        f'[run]\nengine = "{engine}"\nworkers = 1\n'
    )

    def run(rows: str) -> tuple[int, list[tuple[Any, ...]]]:
        (tmp_path / "in" / "a.csv").write_text(f"id,amount\n{rows}")
        code = cli("run", str(job), "-q").returncode
        return code, sqlite_rows(tmp_path / "out.db", "SELECT id, amount FROM t ORDER BY id")

    assert run("1,5\n2,6\n") == (0, [(1, 5), (2, 6)])
    assert run("1,x\n2,y\n") == (4, [(1, 5), (2, 6)])  # every row rejected
    assert run("1,-5\n2,-6\n") == (4, [(1, 5), (2, 6)])  # every row filtered out
    assert run("1,x\n2,y\n") == (4, [(1, 5), (2, 6)])  # not skipped as loaded: the replace starts over
    assert run("3,7\n") == (0, [(3, 7)])
    tables = sqlite_rows(tmp_path / "out.db", "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [("_loader_state",), ("t",)]  # no stage table left


def planned_and_loaded(j: JobConfig, error: type[LoaderError], **kw: Any) -> tuple[LoaderError, LoaderError]:
    """The error the plan stops with and the one the load stops with, for the same job."""
    with pytest.raises(error) as planned:
        Pipeline(j, **kw).plan()
    assert not Path(j.sink.path).exists()  # the check writes nothing
    with pytest.raises(error) as loaded:
        Pipeline(j, **kw).run()
    return planned.value, loaded.value


@pytest.mark.parametrize(
    ("stages", "message", "would"),
    [
        (
            [{"type": "filter", "where": "age >= 18"}],
            "all 3 rows were filtered out by the transforms",
            "filter out every row of this file",
        ),
        (
            [{"type": "cast", "columns": {"name": "int64"}}],
            "all 3 rows were rejected ('a' is not a valid int64)",
            "reject every row of this file the same way",
        ),
        (
            [{"type": "validate", "rules": {"age": {"min": 11}}}, {"type": "filter", "where": "age > 15"}],
            "3 rows read and none written: 1 rejected, 2 filtered out",
            "write no row of this file",
        ),
    ],
    ids=["filter", "cast", "mixed"],
)
def test_a_plan_runs_the_stages_and_refuses_a_load_they_leave_nothing_to_write(
    tmp_path: Path, stages: list[dict[str, Any]], message: str, would: str
) -> None:
    """The dry run read the rows without the stages: "sources are valid" where the load wrote nothing (exit 4)."""
    src = write_csv(tmp_path / "in.csv", ["id", "age", "name"], [[1, 10, "a"], [2, 12, "b"], [3, 15, "c"]])
    j = replace(job(src, tmp_path / "t.db", {"table": "t"}), transform=stages)
    planned, loaded = planned_and_loaded(j, NothingLoadedError)
    assert str(planned) == str(loaded) == f"{src}: nothing loaded: {message}"
    assert planned.exit_code == loaded.exit_code == 4
    assert planned.hint == f"`loader load` would {would}: fix the cause, then check again (the dry run wrote nothing)"


class DropAll:
    """A stage object of the caller's that drops every row."""

    name = "drop_all"

    def __init__(self) -> None:
        self.rows: list[int] = []

    def __call__(self, chunk: Any) -> Any:
        self.rows.append(chunk.num_rows)
        return chunk.keep(pa.array([False] * chunk.num_rows, pa.bool_()))


def test_a_plan_runs_no_stage_from_the_first_it_may_not_run(tmp_path: Path) -> None:
    """A stage of the caller's (its code), and a dedupe (it remembers rows, in a store), are
    not run by the dry run, nor any stage after them: the plan stands where the load writes nothing."""
    src = write_csv(tmp_path / "in.csv", ["id", "age"], [[1, 10], [2, 12]])
    base = job(src, tmp_path / "t.db", {"table": "t"})
    own = DropAll()
    assert Pipeline(base, transforms=[own]).plan().schema is not None
    assert own.rows == [0]  # the schema's empty chunk, never the rows
    stages = [{"type": "dedupe", "columns": ["id"]}, {"type": "filter", "where": "age >= 18"}]
    assert Pipeline(replace(base, transform=stages)).plan().schema is not None
    with pytest.raises(NothingLoadedError):
        Pipeline(replace(base, transform=stages)).run()


def test_a_plan_after_an_earlier_run_recorded_a_type_gives_the_loads_reason_and_fix(tmp_path: Path) -> None:
    """The dry run said "('30.5' is not a valid int64)" and "fix the cause": the load says why
    the type is int64, and that only declaring the type and reloading every file loads them."""
    day1 = write_csv(tmp_path / "day1.csv", ["id", "amount"], [[1, 10], [2, 20]])
    day2 = write_csv(tmp_path / "day2.csv", ["id", "amount"], [[3, "30.5"], [4, "40.5"]])
    target = tmp_path / "t.db"
    Pipeline(job(day1, target, {"table": "t"}, {"job": "j"})).run()
    j = job(day2, target, {"table": "t"}, {"job": "j"})
    with pytest.raises(NothingLoadedError) as planned:
        Pipeline(j).plan()
    with pytest.raises(NothingLoadedError) as loaded:
        Pipeline(j).run()
    # day 1 is no input of this run: the reload would drop its rows, and both say so
    drops = f"the 2 rows of 1 file the job loaded that is no longer among its inputs ({day1}: 2 rows)"
    assert (
        str(planned.value)
        == str(loaded.value)
        == (
            f"{day2}: nothing loaded: all 2 rows were rejected ('30.5' is not a valid int64; amount is int64"
            " since an earlier run of this job: to change it, declare the type and reload every file with --restart"
            f' and mode = "replace"; but that would drop {drops})'
        )
    )
    fix = (
        "their values are of other types than earlier runs recorded: declare the type (--columns, or source.columns"
        " in a job file) and rerun with --restart --mode replace (every file of the job loads again); but it would"
        f" drop {drops}: put them back first, or add --drop-gone"
    )
    assert loaded.value.hint == f"rejected rows are in {target}.j.rejects.jsonl; {fix}"
    assert planned.value.hint == f"`loader load` would reject every row of this file the same way: {fix}"


def test_a_plan_stops_at_max_rejects_where_the_load_does(tmp_path: Path) -> None:
    """The dry run said "nothing loaded" (exit 4) where the load stops past max_rejects (exit 3)."""
    src = write_csv(tmp_path / "in.csv", ["id", "name"], [["x", "a"], ["y", "b"], [3, "c"]])
    j = job(src, tmp_path / "t.db", {"table": "t"}, {"max_rejects": 1}, columns={"id": "int64"})
    planned, loaded = planned_and_loaded(j, RejectLimitError)
    assert str(planned) == str(loaded) == f"{src}: 2 rows rejected, more than max_rejects = 1"
    assert planned.exit_code == loaded.exit_code == 3
    assert planned.hint == (
        "the load would stop there: fix the input or allow more with --max-rejects,"
        " then check again (the dry run wrote nothing)"
    )
    # within the limit, the good row is written: the plan stands, as the load
    assert Pipeline(replace(j, run=RunConfig(max_rejects=2))).plan().schema is not None


def test_a_plan_resuming_a_file_whose_rows_left_are_all_rejected_stands(tmp_path: Path) -> None:
    """A resumed load wrote rows before: it ends with rejects, exit 0, not "nothing loaded"."""
    rows = [[i, i if i <= 600 else "bad"] for i in range(1, 1001)]
    src = write_csv(tmp_path / "in.csv", ["id", "n"], rows)
    target = tmp_path / "t.db"
    j = lambda **run: job(src, target, {"table": "t"}, {"chunk_size": 100, **run}, block_size=2048, infer_rows=50)  # noqa: E731
    with pytest.raises(RejectLimitError):  # commits the good rows, and the first chunk of rejects
        Pipeline(j(max_rejects=0)).run()
    Pipeline(j()).plan()  # no NothingLoadedError
    report = Pipeline(j()).run()
    assert report.resumed and report.rows_written == 0 and report.rows_rejected > 0


def test_max_rejects_stops_with_committed_work_kept(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "r.csv", ["id"], [[i] for i in range(1, 201)] + [["x"]] * 5)
    db = tmp_path / "m.db"
    with pytest.raises(RejectLimitError) as e:
        Pipeline(job(src, db, {"table": "t"}, {"max_rejects": 2}, infer_rows=10)).run()
    assert e.value.exit_code == 3
    assert e.value.report.status == "rejects_exceeded"  # type: ignore[attr-defined]
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(200,)]


def test_strict_mode_zero_rejects(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(RejectLimitError):
        Pipeline(job(data_dir / "bad.csv", tmp_path / "s.db", {"table": "t"}, {"max_rejects": 0}, infer_rows=3)).run()


def test_changed_file_is_an_error_unless_told(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "c.csv", ["id"], [[1]])
    db = tmp_path / "c.db"
    sink = {"table": "t", "mode": "upsert", "primary_key": ["id"]}
    Pipeline(job(src, db, sink)).run()
    write_csv(src, ["id"], [[1], [2]])
    with pytest.raises(SourceChangedError, match="changed since it was loaded") as e:
        Pipeline(job(src, db, sink)).run()
    assert "on_change" in (e.value.hint or "")
    r = Pipeline(job(src, db, sink, {"on_change": "skip"})).run()
    assert (r.rows_written, r.files_skipped, r.files_changed) == (0, 0, 1)
    r = Pipeline(job(src, db, sink, {"on_change": "reload"})).run()
    assert r.rows_written == 2
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def rows_saying(tags: list[str]) -> bytes:
    """A CSV file of one row per tag, each row's ``v`` the tag and its row number."""
    return ("id,v\n" + "".join(f"{i},{tag}{i:05d}\n" for i, tag in enumerate(tags))).encode()


def after_chunks(n: int, action: Callable[[], None]) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """A stage that runs ``action`` once, as the ``n``-th chunk goes through."""
    seen: list[int] = []

    def stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(batch.num_rows)
        if len(seen) == n:
            action()
        return batch

    return stage


def test_a_file_rewritten_in_place_during_its_load_stops_the_run_and_is_not_marked_done(tmp_path: Path) -> None:
    """Same size, same first and last 64 KiB: only its modification time tells, and the
    reader's open handle reads the new middle."""
    src, db = tmp_path / "big.csv", tmp_path / "t.db"
    src.write_bytes(rows_saying(["old"] * 30_000))
    new = rows_saying(["old"] * 10_000 + ["neu"] * 10_000 + ["old"] * 10_000)

    def rewrite() -> None:
        before = src.stat().st_mtime_ns
        with open(src, "r+b") as fh:
            fh.write(new)
        os.utime(src, ns=(before + 10**9, before + 10**9))  # a later time, however coarse the filesystem's clock

    config = job(src, db, {"table": "t", "batch_size": 1000}, {"chunk_size": 1000}, block_size=16 << 10)
    with pytest.raises(SourceChangedError) as e:
        Pipeline(config, transforms=[after_chunks(8, rewrite)]).run()  # the stages run a few chunks ahead
    assert str(e.value) == f"{src}: changed while it was read"
    assert e.value.exit_code == 65
    entry = sqlite_state(db)["file:" + str(src)]
    assert not entry["done"] and entry["rows_written"] == sqlite_rows(db, "SELECT count(*) FROM t")[0][0] > 0
    # each commit checks the file first: no batch read after it changed is committed
    assert sqlite_rows(db, "SELECT count(*) FROM t WHERE v NOT LIKE 'old%'") == [(0,)]
    with pytest.raises(SourceChangedError, match="changed since it was loaded"):  # not resumed: run.on_change decides
        Pipeline(config).run()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_renamed_over_during_its_load_is_loaded_whole_in_the_version_read(tmp_path: Path, fmt: str) -> None:
    """A new version delivered by rename (a log shipper's atomic write) while the file is
    read: the open descriptor reads the old one whole, so its rows are one version. The run
    finishes it and checkpoints it; the next run finds the path changed."""
    src, db = tmp_path / f"big.{fmt}", tmp_path / "t.db"
    old, new = pa.table({"id": list(range(30_000)), "v": ["old"] * 30_000}), pa.table({"id": [1], "v": ["neu"]})
    tmp = tmp_path / f"new.{fmt}"
    if fmt == "csv":
        src.write_bytes(rows_saying(["old"] * 30_000))
        tmp.write_bytes(rows_saying(["neu"] * 30_000))
    else:
        pq.write_table(old, src, row_group_size=1000)
        pq.write_table(new, tmp)
    config = job(src, db, {"table": "t", "batch_size": 1000}, {"chunk_size": 1000}, block_size=16 << 10)
    r = Pipeline(config, transforms=[after_chunks(3, lambda: os.replace(tmp, src))]).run()
    assert r.rows_written == 30_000
    assert sqlite_rows(db, "SELECT count(*), min(v), max(v) FROM t") == [
        (30_000, "old00000" if fmt == "csv" else "old", "old29999" if fmt == "csv" else "old")
    ]
    assert sqlite_state(db)["file:" + str(src)]["done"]
    with pytest.raises(SourceChangedError, match="changed since it was loaded"):
        Pipeline(config).run()


def test_a_globbed_file_moved_away_before_its_turn_is_a_rerun_not_a_fix(tmp_path: Path) -> None:
    """An archiver moves a matched file out of the inbox while the run loads the one before
    it: the others load, the run stops with 75 (class rerun), the report says why the file
    was not read, and the rerun has nothing left to do."""
    inbox, archive, db = tmp_path / "in", tmp_path / "archive", tmp_path / "t.db"
    inbox.mkdir(), archive.mkdir()
    for name, n in (("a", 30_000), ("c", 10), ("d", 20)):
        (inbox / f"{name}.csv").write_bytes(rows_saying([name] * n))
    config = job(inbox / "*.csv", db, {"table": "t", "batch_size": 1000}, {"chunk_size": 1000}, block_size=16 << 10)
    move = after_chunks(3, lambda: os.replace(inbox / "c.csv", archive / "c.csv"))
    with pytest.raises(InputGoneError, match=r"c\.csv: no such file: moved or deleted after the run listed") as e:
        Pipeline(config, transforms=[move]).run()
    assert (e.value.exit_code, exit_class(e.value.exit_code)) == (75, "rerun")
    report = e.value.report  # type: ignore[attr-defined]
    assert report.status == "failed"
    assert [(Path(f.path).name, f.status, f.reason) for f in report.files] == [
        ("a.csv", "loaded", None),
        ("c.csv", "unreadable", "no such file: moved or deleted after the run listed its inputs"),
        ("d.csv", "loaded", None),
    ]
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(30_020,)]
    again = Pipeline(config).run()
    assert (again.status, again.rows_read, again.files_skipped, again.files_gone) == ("ok", 0, 2, 0)


def test_a_globbed_file_renamed_over_before_its_turn_loads_in_its_new_version(tmp_path: Path) -> None:
    """A new version delivered by rename after the run listed the file and before any byte of
    it was read: nothing of the old one was read, so the new one loads (not "changed while it
    was read"), and the file read meanwhile is loaded whole."""
    inbox, db = tmp_path / "in", tmp_path / "t.db"
    inbox.mkdir()
    for name, n in (("a", 30_000), ("c", 10)):
        (inbox / f"{name}.csv").write_bytes(rows_saying([name] * n))
    (tmp_path / "c.new").write_bytes(rows_saying(["C"] * 20))
    config = job(inbox / "*.csv", db, {"table": "t", "batch_size": 50_000}, {"chunk_size": 1000}, block_size=16 << 10)
    deliver = after_chunks(3, lambda: os.replace(tmp_path / "c.new", inbox / "c.csv"))
    assert Pipeline(config, transforms=[deliver]).run().rows_written == 30_020
    assert sqlite_rows(db, "SELECT substr(v, 1, 1), count(*) FROM t GROUP BY 1") == [("C", 20), ("a", 30_000)]
    assert Pipeline(config).run().rows_written == 0  # its checkpoint holds the version loaded


def test_a_globbed_file_moved_away_as_the_run_checks_its_inputs_is_a_rerun_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gone between the glob's listing and the check of every input: the same race, no
    input to fix (a file named in source.path and missing stays 66)."""
    import loader.pipeline as pipeline_module

    (tmp_path / "a.csv").write_bytes(rows_saying(["a"] * 10))
    (tmp_path / "c.csv").write_bytes(rows_saying(["c"] * 10))
    planned = pipeline_module.plan_files

    def moved_first(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(FileNotFoundError):
            os.replace(tmp_path / "c.csv", tmp_path / "c.moved")
        return planned(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "plan_files", moved_first)
    config = job(tmp_path / "*.csv", tmp_path / "t.db", {"table": "t"})
    with pytest.raises(InputGoneError) as e:
        Pipeline(config).run()
    assert e.value.exit_code == 75
    gone = [(Path(f.path).name, f.status, f.reason) for f in e.value.report.files]  # type: ignore[attr-defined]
    assert gone == [("c.csv", "unreadable", "no such file: moved or deleted after the run listed its inputs")]
    assert Pipeline(config).run().rows_written == 10
    (tmp_path / "c.moved").rename(tmp_path / "c.csv")
    config = job([tmp_path / "a.csv", tmp_path / "c.csv"], tmp_path / "u.db", {"table": "t"})
    with pytest.raises(MissingInputError) as named:
        Pipeline(config).run()
    assert (named.value.exit_code, str(named.value)) == (66, f"{tmp_path / 'c.csv'}: no such file")


def test_a_file_appended_to_during_its_load_still_stops_the_run(tmp_path: Path) -> None:
    """Changed in place under the open descriptor: the rows may mix two versions."""
    src, db = tmp_path / "big.csv", tmp_path / "t.db"
    src.write_bytes(rows_saying(["old"] * 30_000))

    def append() -> None:
        with open(src, "ab") as fh:
            fh.write(b"99999,late\n")

    config = job(src, db, {"table": "t", "batch_size": 1000}, {"chunk_size": 1000}, block_size=16 << 10)
    with pytest.raises(SourceChangedError, match="changed while it was read"):
        Pipeline(config, transforms=[after_chunks(3, append)]).run()


def test_a_half_loaded_file_with_a_new_mtime_is_changed_and_a_whole_one_is_not(tmp_path: Path) -> None:
    """A half-loaded file goes on at its byte offset only if it is the very version the
    checkpoint holds: a new mtime may be a rewrite in place that kept the size and the
    first and last 64 KiB. For a file loaded whole, a new mtime alone is no change."""
    src, db = tmp_path / "big.csv", tmp_path / "t.db"
    src.write_bytes(rows_saying(["a"] * 5_000))

    def fail() -> None:
        raise RuntimeError("stopped on purpose")

    sink = {"table": "t", "batch_size": 1000, "mode": "upsert", "primary_key": ["id"]}
    config = job(src, db, sink, {"chunk_size": 1000})
    with pytest.raises(TransformError, match="stopped on purpose"):
        Pipeline(config, transforms=[after_chunks(3, fail)]).run()
    assert 0 < sqlite_rows(db, "SELECT count(*) FROM t")[0][0] < 5_000

    def touch() -> None:
        later = src.stat().st_mtime_ns + 10**9
        os.utime(src, ns=(later, later))

    touch()
    with pytest.raises(SourceChangedError, match="changed since it was loaded"):
        Pipeline(config).run()
    reloaded = Pipeline(job(src, db, sink, {"chunk_size": 1000, "on_change": "reload"})).run()
    assert reloaded.rows_read == 5_000
    touch()
    assert [f.status for f in Pipeline(config).run().files] == ["skipped"]
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT v) FROM t") == [(5_000, 5_000)]


def test_replace_mode_reloads_everything(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "r.csv", ["id"], [[1], [2]])
    db = tmp_path / "r.db"
    for _ in range(2):
        Pipeline(job(src, db, {"table": "t", "mode": "replace"})).run()
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(2,)]


def test_header_only_file_creates_the_table(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "h.db"
    r = Pipeline(job(data_dir / "header_only.csv", db, {"table": "t"})).run()
    assert r.rows_read == 0
    # no declared type (not TEXT): a later file's values are stored as they come
    assert sqlite_rows(db, "SELECT name, type FROM pragma_table_info('t')") == [("a", ""), ("b", "")]


def test_dry_run_plan_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "p.db"
    plan = Pipeline(job(data_dir / "types.csv", db, {"table": "t"})).plan()
    assert not db.exists()
    lines = plan.lines()
    assert lines[0] == "files (1):"
    assert "  zip: string" in lines and "  id: int64" in lines
    assert lines[-1] == f"target: sqlite {db}, table 't', mode append"


def test_target_may_not_be_an_input(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "x.csv", ["id"], [[1]])
    from loader.errors import ConfigError

    with pytest.raises(ConfigError, match="is also an input file"):
        Pipeline(job(src, src, {"type": "sqlite", "table": "t"})).run()


def test_report_fields(tmp_path: Path, data_dir: Path) -> None:
    r = Pipeline(job(data_dir / "small.csv", tmp_path / "r.db")).run()
    d = r.to_dict()
    for key in (
        "status",
        "rows_read",
        "rows_written",
        "rows_rejected",
        "files",
        "elapsed_s",
        "rows_per_s",
        "peak_rss_mb",
    ):
        assert key in d
    assert d["table"] == "small" and d["peak_rss_mb"] > 0 and d["files"][0]["rows_written"] == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_leveldb_values_made_beside_the_parsing_fit_their_rows(tmp_path: Path, workers: int) -> None:
    """With no stages, keys and JSON values are made per CSV block on the parse
    workers and cut with the block; blocks with a bad value or a null key make
    theirs after the rejects. Every stored value is its own row's."""
    rows = [[i if i % 89 else "", f'n"{i}', "x" if i % 97 == 0 else i * 10] for i in range(1, 3001)]
    src = write_csv(tmp_path / "in.csv", ["id", "name", "n"], rows)
    target = tmp_path / "t.ldb"
    run = {"chunk_size": 7, "workers": workers}
    report = Pipeline(job(src, target, {"key": "k:{id}"}, run, block_size=1024, infer_rows=50)).run()
    good = [i for i in range(1, 3001) if i % 89 and i % 97]
    assert (report.rows_written, report.rows_rejected) == (len(good), 3000 - len(good))
    db = plyvel.DB(str(target))
    try:
        items = [(k, json.loads(v)) for k, v in db]
    finally:
        db.close()
    assert items == [(f"k:{i:020d}".encode(), {"id": i, "name": f'n"{i}', "n": i * 10}) for i in good]


def test_paths_may_be_pathlib_paths(tmp_path: Path, data_dir: Path) -> None:
    """load() and the config classes take os.PathLike wherever a path goes."""
    src = data_dir / "small.csv"
    assert load(src, tmp_path / "a.db", table="t", run_options={"quiet": True}).rows_written == 2
    assert load([src], tmp_path / "a.ldb", key="{a}", run_options={"quiet": True}).rows_written == 2
    job = JobConfig(
        source=SourceConfig(path=[src]),  # type: ignore[list-item]
        sink=SinkConfig(path=tmp_path / "b.db", table="t"),  # type: ignore[arg-type]
        run=RunConfig(quiet=True),
    )
    assert Pipeline(job).run().rows_written == 2
    assert sqlite_rows(tmp_path / "b.db", "SELECT count(*) FROM t") == [(2,)]


@pytest.mark.parametrize(
    ("options", "message", "hint"),
    [
        ({"sink_options": {"mdoe": "replace"}}, "sink_options.mdoe: unknown key", "did you mean 'mode'?"),
        ({"source_options": {"delimter": ";"}}, "source_options.delimter: unknown key", "did you mean 'delimiter'?"),
        ({"run_options": {"chunksize": 10}}, "run_options.chunksize: unknown key", "did you mean 'chunk_size'?"),
    ],
)
def test_unknown_option_names_get_the_job_files_did_you_mean(
    tmp_path: Path, data_dir: Path, options: dict[str, dict[str, object]], message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load(data_dir / "small.csv", tmp_path / "x.db", **options)  # type: ignore[arg-type]
    assert (str(e.value), e.value.hint) == (message, hint)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("target", "flags", "message"),
    [
        (
            "o.ldb",
            ["--key", "k:{name:08d}"],
            "sink.key: format spec '08d' does not fit column type string: Unknown format code 'd' for object of type 'str'",
        ),
        (
            "o.ldb",
            ["--key", "k:{amount:.2x}"],
            "sink.key: format spec '.2x' does not fit column type double: Unknown format code 'x' for object of type 'float'",
        ),
        ("o.ldb", ["--key", "k:{name}", "--value", "nope"], "{src}: sink.value: no column 'nope' in the data"),
        ("o.db", ["--table", "_loader_state"], "sink.table: '_loader_state' is reserved for the loader's own use"),
        ("o.db", ["--table", "_LOADER_STAGE"], "sink.table: '_LOADER_STAGE' is reserved for the loader's own use"),
        (
            "o.db",
            ["--table", "_Loader_Replace_t"],
            "sink.table: '_Loader_Replace_t' is reserved for the loader's own use (a replace's new rows)",
        ),
    ],
)
def test_dry_run_refuses_what_the_run_refuses_with_its_message_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, flags: list[str], message: str
) -> None:
    from loader.cli import main

    src = write_csv(tmp_path / "a.csv", ["name", "amount"], [["ann", 1.5], ["bob", 2.5]])
    ended = []
    for extra in (["--dry-run"], []):
        code = main(["load", str(src), str(tmp_path / target), *flags, *extra])
        ended.append((code, capsys.readouterr().err.splitlines()[0]))
    assert ended == [(2, f"loader: error: {message.format(src=src)}")] * 2
    assert not (tmp_path / target).exists()


@pytest.mark.parametrize(
    ("target", "flags"), [("o.ldb", ["--key", "{cafe\u0301}"]), ("o.db", ["--primary-key", "cafe\u0301"])]
)
def test_a_key_naming_a_column_in_another_unicode_normalization_spells_both_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, flags: list[str]
) -> None:
    """The data's ``café`` is NFC, the key's NFD: the hint was "did you mean 'café'?", the very
    name given, as it looks. Both are spelled out, with how they differ."""
    from loader.cli import main

    src = write_csv(tmp_path / "a.csv", ["id", "caf\u00e9"], [[1, "a"]])
    for extra in (["--dry-run"], []):
        assert main(["load", str(src), str(tmp_path / target), *flags, *extra]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"loader: error: {src}: sink.{'key' if target.endswith('.ldb') else 'primary_key'}: no column"
            " 'cafe\\u0301' in the data: it has 'caf\\xe9', which differs only in Unicode normalization",
            '  hint: write the name as the data spells it: "caf\\u00e9" (a TOML string)',
        ]


def test_dry_run_checks_every_files_columns_not_only_the_first(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["name", "k"], [["ann", 1]])
    b = write_csv(tmp_path / "b.csv", ["name"], [["bob"]])  # lacks the key column
    config = job([a, b], tmp_path / "o.ldb", {"key": "k:{k}"})
    with pytest.raises(ConfigError) as caught:
        Pipeline(config).plan()
    assert (str(caught.value), caught.value.hint) == (f"{b}: sink.key: no column 'k' in the data", "columns are: name")
    assert caught.value.exit_code == 2 and not (tmp_path / "o.ldb").exists()


def test_dry_run_refuses_a_column_the_table_lacks_as_the_load_does(tmp_path: Path) -> None:
    from loader.errors import SchemaMismatchError

    a = write_csv(tmp_path / "a.csv", ["id", "a"], [[1, "x"]])
    b = write_csv(tmp_path / "b.csv", ["id", "a", "c"], [[2, "y", "new"]])
    db = tmp_path / "o.db"
    Pipeline(job(a, db, {"table": "t"})).run()
    with pytest.raises(SchemaMismatchError) as planned:
        Pipeline(job([a, b], db, {"table": "t"})).plan()
    with pytest.raises(SchemaMismatchError) as loaded:
        Pipeline(job([a, b], db, {"table": "t"})).run()
    assert str(planned.value) == str(loaded.value) == f"{b}, column 'c': table 't' has no column 'c'"
    assert planned.value.exit_code == loaded.value.exit_code == 65
    Pipeline(job([a, b], db, {"table": "t", "alter": True})).plan()  # --alter adds it
    with pytest.raises(SchemaMismatchError):  # replace makes the table again, from a.csv's columns
        Pipeline(job([a, b], db, {"table": "t", "mode": "replace"})).plan()
    Pipeline(job([a, b], db, {"table": "t", "mode": "replace", "alter": True})).plan()


def test_dry_run_refuses_an_input_without_a_not_null_column_as_the_load_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column the table holds NOT NULL without a default: the load refused the input up
    front, --dry-run said it was valid (peek read only the columns' types)."""
    import sqlite3

    from loader.cli import main

    db = tmp_path / "o.db"
    with sqlite3.connect(db) as conn:  # id: the rowid, c: its default; b needs a value
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT NOT NULL, c TEXT NOT NULL DEFAULT 'x')")
    conn.close()
    good = write_csv(tmp_path / "good.csv", ["a", "b"], [["p", "q"]])
    bad = write_csv(tmp_path / "bad.csv", ["a"], [["r"]])

    def ended(*files: Path, flags: tuple[str, ...] = ()) -> tuple[int, str]:
        before = db.read_bytes()
        code = main(["load", *map(str, files), str(db), "--table", "t", *flags])
        assert "--dry-run" not in flags or db.read_bytes() == before
        return code, capsys.readouterr().err.splitlines()[0] if code else ""

    said = "table 't' has column 'b' NOT NULL without a default, and the input has no such column"
    assert ended(good, flags=("--dry-run",)) == (0, "")
    assert ended(bad, flags=("--dry-run", "--mode", "replace")) == (0, "")  # replace makes the table anew
    for files in ([bad], [good, bad]):  # the first file, and a later one
        planned = ended(*files, flags=("--dry-run",))
        assert planned == ended(*files) == (65, f"loader: error: {bad}, column 'b': {said}")


def test_dry_run_of_a_new_table_refuses_a_later_files_new_column_as_the_load_does(tmp_path: Path) -> None:
    """The first file makes the table: --dry-run said "valid" for a load that then stopped with 65."""
    from loader.errors import SchemaMismatchError

    a = write_csv(tmp_path / "a.csv", ["id", "a"], [[1, "x"]])
    b = write_csv(tmp_path / "b.csv", ["id", "a", "c"], [[2, "y", "new"]])
    db = tmp_path / "o.db"
    with pytest.raises(SchemaMismatchError) as planned:
        Pipeline(job([a, b], db, {"table": "t"})).plan()
    assert not db.exists()
    with pytest.raises(SchemaMismatchError) as loaded:
        Pipeline(job([a, b], db, {"table": "t"})).run()
    assert str(planned.value) == str(loaded.value) == f"{b}, column 'c': table 't' has no column 'c'"
    Pipeline(job([a, b], tmp_path / "p.db", {"table": "t", "alter": True})).plan()
    Pipeline(job([a, b], tmp_path / "p.ldb", {"key": "{id}"})).plan()  # keys and values take any column


def test_dry_run_shows_the_types_earlier_runs_recorded_and_changes_nothing(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, 1]])
    b = write_csv(tmp_path / "b.csv", ["id", "v"], [[3, "x"], [4, 4]])
    db = tmp_path / "out.db"
    Pipeline(job(a, db, {"table": "t"})).run()
    before = db.read_bytes()
    plan = Pipeline(job([a, b], db, {"table": "t"})).plan()
    assert "  v: int64" in plan.lines()  # what the load reads v as: b.csv's x is rejected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "out.db"] and db.read_bytes() == before
    report = Pipeline(job([a, b], db, {"table": "t"})).run()
    assert (report.files_skipped, report.rows_written, report.rows_rejected) == (1, 1, 1)
    # --restart with mode replace: nothing earlier binds the load, as the run sees it
    fresh = Pipeline(job([a, b], db, {"table": "t", "mode": "replace"}, {"restart": True})).plan()
    assert "  v: string" in fresh.lines()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_dry_run_shows_the_types_a_tables_declared_columns_pin(tmp_path: Path, journal: str) -> None:
    import sqlite3

    db = tmp_path / "made.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE t (id INTEGER, v INTEGER)")
    conn.commit()
    conn.close()
    # 'x' is rejected by the pinned type; with no row to write the plan refuses the file, as the load does
    src = write_csv(tmp_path / "b.csv", ["id", "v"], [[3, "x"], [4, 5]])
    plan = Pipeline(job(src, db, {"table": "t"})).plan()
    assert "  v: int64" in plan.lines()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "made.db"]  # no -wal, -shm or -journal made


def test_dry_run_shows_the_types_a_leveldb_jobs_checkpoint_recorded(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, 1]])
    b = write_csv(tmp_path / "b.csv", ["id", "v"], [[3, "x"], [4, 5]])  # a row to write: see above
    store = tmp_path / "o.ldb"
    Pipeline(job(a, store, {"key": "k:{id}"})).run()
    listing = sorted((p.name, p.stat().st_mtime_ns) for p in store.iterdir())
    plan = Pipeline(job([a, b], store, {"key": "k:{id}"})).plan()
    assert "  v: int64" in plan.lines()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in store.iterdir()) == listing  # the store is not opened


@pytest.mark.parametrize(
    ("hint", "said"),
    [
        (
            "drop or rename that object, then rerun",
            "drop or rename that object; then rerun: committed work is kept and the rerun resumes",
        ),
        ("columns are: id, name", "columns are: id, name; then rerun: committed work is kept and the rerun resumes"),
        (None, "fix this, then rerun: committed work is kept and the rerun resumes"),
        (  # a rerun that resumes or one that loads everything again: said already, not contradicted
            "finish that load with --engine threads, or rerun with --restart --mode replace (every file of the job loads again)",
            "finish that load with --engine threads, or rerun with --restart --mode replace (every file of the job loads again)",
        ),
    ],
)
def test_a_config_error_after_a_commit_says_then_rerun_once(hint: str | None, said: str) -> None:
    from loader.pipeline import _then_resume

    assert _then_resume(hint) == said


def test_a_load_that_fails_midway_leaves_no_reference_cycles(tmp_path: Path) -> None:
    """Nothing of a failed load waits for a full collection: not its reader's unread bytes,
    not its writer (the host's collector may run rarely, or not at all)."""
    src = tmp_path / "a.csv"
    src.write_text("id,name\n" + "".join(f"{i},name{i}\n" for i in range(20_000)))

    def boom(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("no")

    def failed_load() -> None:
        with pytest.raises(TransformError):
            load(src, tmp_path / "a.db", transforms=[boom], run_options={"chunk_size": 1000})

    failed_load()  # first imports and caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        failed_load()
        gc.collect()
        cyclic = sorted({type(o).__name__ for o in gc.garbage if type(o).__module__.startswith("loader")})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cyclic == []


def test_an_on_event_that_raises_stops_no_load_and_loses_no_report(tmp_path: Path) -> None:
    """A host's callback that fails on ``finish``: the run is committed, its report and
    metrics are written, and the failure is the report's note, not the run's error."""
    src = write_csv(tmp_path / "a.csv", ["id"], [[1], [2]])
    outputs = {"report": str(tmp_path / "r.json"), "metrics_file": str(tmp_path / "m.prom")}

    def down_at_finish(name: str, data: dict) -> None:
        if name == "finish":
            raise RuntimeError("host log is down")

    report = Pipeline(job(src, tmp_path / "o.db", {"table": "t"}, outputs), on_event=down_at_finish).run()
    assert (report.status, report.exit_code, report.rows_written) == ("ok", 0, 2)
    assert report.log_error == "finish event: RuntimeError: host log is down"
    assert json.loads((tmp_path / "r.json").read_text())["log_error"] == report.log_error
    assert 'loader_last_run_success{job="table:t"} 1\n' in (tmp_path / "m.prom").read_text()
    assert report.summary().endswith("; WARNING the log missed events (finish event: RuntimeError: host log is down)")
    assert sqlite_rows(tmp_path / "o.db", "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def test_an_on_event_that_raises_keeps_a_failed_runs_own_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1], [2]])
    (tmp_path / "b.csv").write_bytes(b"\n")  # an empty header line (a file of no text is passed over)
    seen: list[str] = []

    def always_down(name: str, data: dict) -> None:
        seen.append(name)
        raise OSError(28, "No space left on device")

    config = job([src, tmp_path / "b.csv"], tmp_path / "o.db", {"table": "t"}, {"report": str(tmp_path / "r.json")})
    with pytest.raises(LoaderError) as err:
        Pipeline(config, on_event=always_down).run()
    assert str(err.value) == f"{tmp_path / 'b.csv'}, line 1: header row is empty"
    assert err.value.report is not None and (err.value.report.exit_code, err.value.report.rows_written) == (65, 2)
    assert seen == ["start", "file", "progress", "file_done", "finish"]  # every event still sent
    written = json.loads((tmp_path / "r.json").read_text())
    assert (written["status"], written["log_error"]) == (
        "failed",
        "start event: OSError: [Errno 28] No space left on device",
    )


def small_files(root: Path, count: int, rows: int = 3) -> list[Path]:
    return [
        write_csv(root / f"f{i:02d}.csv", ["id", "name"], [[i * rows + r, f"n{r}"] for r in range(rows)])
        for i in range(count)
    ]


def commits_made(db: Path) -> int:
    """How many commits the last run made: the number its checkpoint's stamp carries."""
    return int(sqlite_state(db, "table:t")["commit"]["commit"])


def test_small_files_share_a_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 3600.0)  # the clock plays no part here
    files = small_files(tmp_path, 40)
    db = tmp_path / "o.db"
    report = Pipeline(job(files, db, {"table": "t"})).run()
    assert (report.status, report.rows_written, report.files_loaded) == ("ok", 120, 40)
    # the files' rows in one commit, and the job marked complete in one more (not 41 commits)
    assert commits_made(db) == 2
    state = sqlite_state(db, "table:t")
    assert sorted(k for k, v in state.items() if k.startswith("file:") and v["done"]) == sorted(
        f"file:{f}" for f in files
    )
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(120, 120)]


def test_small_files_commit_once_a_batch_of_rows_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 3600.0)
    db = tmp_path / "o.db"
    Pipeline(job(small_files(tmp_path, 12, rows=5), db, {"table": "t", "batch_size": 20})).run()
    # a commit at each 20 rows (within the 4th, 8th and 12th file), the 12th file's end, the final one
    assert commits_made(db) == 3 + 1 + 1


def test_small_files_commit_at_a_file_end_once_a_second_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 0.0)  # every file ends past the interval
    db = tmp_path / "o.db"
    Pipeline(job(small_files(tmp_path, 5), db, {"table": "t"})).run()
    assert commits_made(db) == 5 + 1


@pytest.mark.parametrize("bad", ["empty", "columns"])
def test_a_file_that_stops_the_run_before_its_rows_leaves_the_files_before_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 3600.0)
    files = small_files(tmp_path, 3)
    last = tmp_path / "z.csv"
    if bad == "empty":
        last.write_bytes(b"\n")  # an empty header line (a file of no text is passed over)
    else:
        write_csv(last, ["id", "extra"], [[99, "x"]])  # a column the table lacks
    db = tmp_path / "o.db"
    with pytest.raises(LoaderError) as err:
        Pipeline(job([*files, last], db, {"table": "t"})).run()
    assert err.value.report is not None
    assert [(f.path, f.status) for f in err.value.report.files] == [
        *((str(f), "loaded") for f in files),
        (str(last), "incomplete"),
    ]
    assert err.value.report.rows_written == 9
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(9,)]
    state = sqlite_state(db, "table:t")
    assert all(state[f"file:{f}"]["done"] for f in files)


def test_a_file_failing_midway_after_small_files_leaves_them_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 3600.0)
    files = small_files(tmp_path, 3)
    body = "id,name\n" + "".join(f"{100 + i},big{i}\n" for i in range(3000))
    whole = gzip.compress(body.encode())
    big = tmp_path / "z.csv.gz"
    big.write_bytes(whole[: len(whole) * 3 // 4])  # cut short: its first chunks read, then the stream ends
    db = tmp_path / "o.db"
    config = job([*files, big], db, {"table": "t"}, {"chunk_size": 200})
    with pytest.raises(LoaderError) as err:
        Pipeline(config).run()
    assert err.value.exit_code == 65
    assert err.value.report is not None and err.value.report.rows_written == 9
    # the small files were committed before the big one's first chunk; its own rows rolled back
    assert sqlite_rows(db, "SELECT count(*), max(id) FROM t") == [(9, 8)]
    big.write_bytes(whole)  # mended under the same name: it was never committed, so it is new
    report = Pipeline(config).run()
    assert (report.status, report.rows_written, report.files_skipped) == ("ok", 3000, 3)
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(3009, 3009)]


def test_a_changed_file_that_stops_the_run_leaves_the_new_files_before_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loader.pipeline

    monkeypatch.setattr(loader.pipeline, "COMMIT_SECONDS", 3600.0)
    db = tmp_path / "o.db"
    last = tmp_path / "z.csv"
    write_csv(last, ["id", "name"], [[99, "x"]])
    Pipeline(job([last], db, {"table": "t"})).run()
    files = small_files(tmp_path, 3)  # new files listed before the one that changes
    write_csv(last, ["id", "name"], [[99, "x"], [100, "y"]])
    with pytest.raises(SourceChangedError) as err:
        Pipeline(job([*files, last], db, {"table": "t"})).run()
    report = err.value.report
    assert report is not None
    assert [(f.path, f.status) for f in report.files] == [*((str(f), "loaded") for f in files), (str(last), "changed")]
    assert report.rows_written == 9
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(10,)]
    assert report.summary().startswith(
        f"failed: 9 rows written to {db} (table t) from 3 files, 1 changed since loaded and stopped the run (1 committed rows kept)"
    )


def _errors(p: Any) -> tuple[int, list[str]]:
    """A command's exit code and error lines (a load's summary and the run's resume hint left out)."""
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("loader: error:")]
    return p.returncode, lines


def test_the_dry_run_refuses_a_file_changed_since_it_was_loaded_as_the_run_does(tmp_path: Path) -> None:
    """It said all was well (exit 0); the run stops with exit 65."""
    src, db = tmp_path / "a.csv", tmp_path / "o.db"
    src.write_text("id,v\n1,10\n2,20\n")
    load = ["load", str(src), str(db), "--table", "t"]
    assert cli(*load).returncode == 0
    src.write_text("id,v\n1,10\n2,20\n9,90\n")
    refused = (65, [f"loader: error: {src}: changed since it was loaded (size or content differ from the checkpoint)"])
    assert _errors(cli(*load, "--dry-run")) == refused
    assert _errors(cli(*load)) == refused


def test_the_plan_says_what_the_run_does_with_each_file_it_has_a_checkpoint_of(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    db = tmp_path / "o.db"
    Pipeline(job(a, db, {"table": "t"})).run()
    b = write_csv(tmp_path / "b.csv", ["id"], [[2]])
    lines = Pipeline(job(tmp_path / "*.csv", db, {"table": "t"})).plan().lines()
    assert lines[:3] == ["files (2):", f"  {a}: loaded already: skipped", f"  {b}: new"]
    a.write_text("id\n3\n")
    skip = Pipeline(job(tmp_path / "*.csv", db, {"table": "t"}, {"on_change": "skip"})).plan().lines()
    assert skip[1] == f"  {a}: changed since it was loaded: skipped (run.on_change = skip)"


def _half_loaded(tmp_path: Path, *engine: str) -> tuple[list[str], Path]:
    """A file whose last rows a bad value stopped (``max_rejects = 0``): half loaded by ``engine``."""
    src, db = tmp_path / "big.csv", tmp_path / "o.db"
    src.write_text("id,v\n" + "".join(f"{i},{'bad' if i == 19000 else i}\n" for i in range(20000)))
    load = ["load", str(src), str(db), "--table", "t", "--batch-size", "1000", "--columns", "v=int64"]
    assert cli(*load, *engine, "--max-rejects", "0").returncode == 3
    return load, src


def test_the_dry_run_refuses_a_file_half_loaded_in_parts_as_the_run_does(tmp_path: Path) -> None:
    """Exit 0; the runs stopped with exit 78 (2 from a dry run, which writes nothing)."""
    load, src = _half_loaded(tmp_path, "--engine", "processes", "--set", "run.part_size=20000")
    threads = f"loader: error: {src}: half loaded in parts by an earlier run with run.engine = 'processes' or 'dask'"
    assert _errors(cli(*load, "--max-rejects", "10", "--dry-run")) == (2, [threads])
    other = [*load, "--engine", "processes", "--set", "run.part_size=100000", "--max-rejects", "10"]
    cut = f"loader: error: {src}: half loaded in parts of run.part_size = 20000, now cut at 100000"
    assert _errors(cli(*other, "--dry-run")) == (2, [cut])
    assert _errors(cli(*other)) == (78, [cut])
    same = cli(*load, "--engine", "processes", "--set", "run.part_size=20000", "--dry-run")
    assert same.returncode == 0
    assert f"  {src}: half loaded in parts: its other parts are loaded" in same.stdout.splitlines()


def test_the_dry_run_refuses_a_file_half_loaded_by_threads_on_another_engine(tmp_path: Path) -> None:
    load, src = _half_loaded(tmp_path)
    refused = (2, [f"loader: error: {src}: half loaded by an earlier run with run.engine = 'threads'"])
    assert _errors(cli(*load, "--engine", "processes", "--dry-run")) == refused
    resumed = cli(*load, "--max-rejects", "10", "--dry-run")
    assert resumed.returncode == 0
    assert f"  {src}: half loaded: resumed" in resumed.stdout.splitlines()


def test_the_dry_run_reads_a_half_loaded_csv_in_the_dialect_its_checkpoint_recorded(tmp_path: Path) -> None:
    """Loaded with header = false and stopped, the file was planned with its header detected:
    exit 65, "table 't' has no column 'id'", where the run resumes it in the recorded dialect."""
    src, db = tmp_path / "h.csv", tmp_path / "o.db"
    src.write_text("id,v\n" + "".join(f"{'bad' if i == 15000 else i},{i}\n" for i in range(20000)))
    load = ["load", str(src), str(db), "--table", "t", "--batch-size", "1000"]
    first = cli(*load, "--set", "source.header=false", "--columns", "column_1=int64", "--max-rejects", "1")
    assert first.returncode == 3
    dry = cli(*load, "--max-rejects", "10", "--dry-run")
    assert (dry.returncode, dry.stderr) == (0, "")
    assert f"dialect ({src}): delimiter ',' (detected), quote '\"' (detected), no header" in dry.stdout.splitlines()
    assert "  column_1: int64" in dry.stdout.splitlines()
    assert cli(*load, "--max-rejects", "10").returncode == 0


@pytest.mark.parametrize("changed", ["id,other\n9,z\n", ""])
def test_the_dry_run_does_not_open_a_changed_file_on_change_skip_skips(tmp_path: Path, changed: str) -> None:
    """The run skips it unread; the dry run opened it and refused its new column, or its
    emptiness, with exit 65. A file emptied to 0 bytes is a changed one too (its rows stay)."""
    a, b, db = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "o.db"
    a.write_text("id,name\n1,a\n2,b\n")
    b.write_text("id,name\n3,c\n")
    args = ["load", str(a), str(b), str(db), "--table", "t", "-q"]
    assert cli(*args).returncode == 0
    b.write_text(changed)
    skip = [*args, "--set", "run.on_change=skip"]
    dry = cli(*skip, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    skipped = "changed since it was loaded: skipped (run.on_change = skip)"
    assert f"{b}: {skipped}" in dry.stdout and "empty (" not in dry.stdout
    assert cli(*skip).returncode == 0
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]


def test_the_dry_run_of_a_database_with_a_hot_journal_makes_no_claim_of_its_table(tmp_path: Path) -> None:
    """It reads none of the table then: a later file's column the table has was refused as
    missing (exit 65), where the load rolls the journal back and loads it."""
    files = {n: tmp_path / f"{n}.csv" for n in "abcd"}
    files["a"].write_text("id,name\n1,a\n")
    files["b"].write_text("id,name,extra\n2,b,x\n")
    files["c"].write_text("id,name\n3,c\n")
    files["d"].write_text("id,name,extra\n4,d,y\n")
    db = tmp_path / "o.db"
    assert cli("load", str(files["a"]), str(files["b"]), str(db), "--table", "t", "--alter", "-q").returncode == 0
    crash = (
        "import sqlite3, os, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('pragma cache_size=1'); c.execute('begin')\n"
        "c.execute('create table junk(x)')\n"
        "[c.execute('insert into junk values (?)', ('x' * 500,)) for _ in range(3000)]\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(db)], check=True)
    assert (tmp_path / "o.db-journal").exists()
    args = ["load", str(files["c"]), str(files["d"]), str(db), "--table", "t", "-q"]
    dry = cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "holds the journal of a writer that stopped mid-transaction" in dry.stdout
    assert cli(*args).returncode == 0
    assert sqlite3.connect(db).execute("SELECT id, extra FROM t ORDER BY id").fetchall() == [
        (1, None),
        (2, "x"),
        (3, None),
        (4, "y"),
    ]


def _cut_gzip(tmp_path: Path, rows: int = 150_000) -> tuple[Path, bytes]:
    """A ``.gz`` cut in half (a download that stopped), and the whole file's bytes."""
    import gzip

    text = "id,name\n" + "".join(f"{i},name{i * 7919 % 1000003}\n" for i in range(1, rows + 1))
    whole = gzip.compress(text.encode(), compresslevel=1, mtime=0)
    src = tmp_path / "m.csv.gz"
    src.write_bytes(whole[: len(whole) // 2])
    return src, whole


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """``loader ARGS`` in this process: its exit code and its standard error's lines."""
    from loader.cli import main

    code = main([*args, "--no-progress"])
    return code, capsys.readouterr().err.splitlines()


def _count(db: Path) -> tuple[int, int]:
    return sqlite3.connect(db).execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone()


_ONCE = {
    "append": "to load it once, delete them and rerun with --set run.on_change=reload (reload alone adds all its "
    "rows beside them), or rerun with --restart --mode replace (every file of the job loads again)",
    "upsert": "rerun with --set run.on_change=reload to load it over them, each row at its key",
}


def _kept_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path, mode: str) -> tuple[list[str], Path, int]:
    """A cut ``.gz`` loaded past its first batch (its hint says how many rows stay), then
    downloaded again: the load's command, the target and the rows committed before the damage."""
    src, whole = _cut_gzip(tmp_path)
    db = tmp_path / "m.db"
    load = ["load", str(src), str(db), "--table", "t", "--batch-size", "5000", "--infer-rows", "500", "--mode", mode]
    load += ["--primary-key", "id"] if mode == "upsert" else []
    code, err = _main(capsys, *load)
    kept = _count(db)[0]
    assert code == 65 and 0 < kept < 150_000
    assert err[-2:] == [
        f"loader: error: {src}: compressed data is truncated or corrupt (Truncated compressed stream)",
        "  hint: the file is incomplete or damaged: copy or download it again; "
        f"{kept:,} rows of it stay committed, so the rerun finds a new copy changed: " + _ONCE[mode],
    ]
    src.write_bytes(whole)  # "copy or download it again"
    code, err = _main(capsys, *load)
    assert code == 65
    assert (
        err[-1]
        == f"  hint: {kept:,} rows of it stay loaded: {_ONCE[mode]}; set run.on_change to 'skip' to keep only them"
    )
    return load, db, kept


def test_a_damaged_file_that_kept_rows_says_how_many_and_what_loads_its_new_copy_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated .gz commits the batches before the damage. The hint said only "download it
    again", and then every way the changed file's hint offered left a wrong table in append mode
    (reload: the kept rows twice). Now both hints name the way that loads it once, and it does."""
    load, db, _ = _kept_rows(capsys, tmp_path, "append")
    assert _main(capsys, *load, "--restart", "--mode", "replace")[0] == 0
    assert _count(db) == (150_000, 150_000)
    assert _main(capsys, *load)[0] == 0  # loaded: a plain rerun skips it
    assert _count(db) == (150_000, 150_000)


def test_a_damaged_file_whose_kept_rows_are_deleted_loads_once_with_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load, db, _ = _kept_rows(capsys, tmp_path, "append")
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM t")
    assert _main(capsys, *load, "--set", "run.on_change=reload")[0] == 0
    assert _count(db) == (150_000, 150_000)


def test_a_damaged_file_in_upsert_mode_is_loaded_once_by_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load, db, _ = _kept_rows(capsys, tmp_path, "upsert")
    assert _main(capsys, *load, "--set", "run.on_change=reload")[0] == 0
    assert _count(db) == (150_000, 150_000)


_STAGE_ONCE = {
    "threads": "; to put every row through the fixed stage, rerun with --restart --mode replace (every file of "
    "the job loads again); a fixed copy of the file is a changed file to the rerun: " + _ONCE["append"],
    "processes": "; to put every row through the fixed stage, or load a fixed copy of the file once, rerun with "
    "--restart --mode replace (every file of the job loads again)",
}


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_stages_error_part_way_says_the_rerun_with_the_stage_fixed_resumes(tmp_path: Path, engine: str) -> None:
    """hunt23a #7: a stage that failed part way through an unchanged file got the damaged
    file's hint, "the rerun finds a new copy changed", where the fix is the job's and the
    rerun resumes. The hint says so, and what loads every row through the fixed stage."""
    src, db = tmp_path / "p.csv", tmp_path / "p.db"
    src.write_text("id\n" + "".join(f"{i}\n" for i in range(300)))
    run = {"engine": engine, "chunk_size": 50, "part_size": 1000}
    overflow = [{"type": "derive", "columns": {"y": "id * 92233720368547758"}}]  # from id 100 on
    config = replace(job(src, db, {"table": "t", "batch_size": 50}, run), transform=overflow)
    with pytest.raises(LoaderError) as e:
        Pipeline(config).run()
    kept = sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone()[0]
    assert e.value.exit_code == 65 and 0 < kept <= 100
    assert e.value.hint == (
        f"fix the data or the stage; {kept:,} rows of it stay committed as the stage made them, and a rerun "
        "with the stage fixed loads the rest after them" + _STAGE_ONCE[engine]
    )
    fixed = [{"type": "derive", "columns": {"y": "id * 2"}}]
    Pipeline(replace(config, transform=fixed)).run()  # the hint followed: the rest loads, once
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(300, 300)]
    made = sqlite_rows(db, "SELECT id, y FROM t ORDER BY id")  # the kept rows as the old stage made them
    assert made == [(i, i * (92233720368547758 if i < kept else 2)) for i in range(300)]


def test_processes_commits_none_of_a_damaged_compressed_file_and_loads_its_new_copy_as_new(tmp_path: Path) -> None:
    """A compressed file is one part, committed whole: the engines differ in what a damaged file
    leaves (docs/engines.md), and either ends with the new copy loaded once."""
    src, whole = _cut_gzip(tmp_path)
    db = tmp_path / "m.db"
    load = ["load", str(src), str(db), "--table", "t", "--batch-size", "5000", "--engine", "processes"]
    p = cli(*load)
    assert p.returncode == 65
    assert p.stderr.splitlines()[-1] == "  hint: the file is incomplete or damaged: copy or download it again"
    src.write_bytes(whole)
    assert cli(*load).returncode == 0
    assert _count(db) == (150_000, 150_000)


def test_a_plan_with_a_decimal_comma_tells_a_number_from_a_typo_as_the_load_does(tmp_path: Path) -> None:
    """Under ``decimal_separator = ","``, ``30,5`` in a column an earlier run recorded as int64 is
    a number of another type (declare and reload), as the load says, not a typo to fix."""
    opts = {"delimiter": ";", "decimal_separator": ","}
    day1 = tmp_path / "day1.csv"
    day1.write_text("id;amount\n1;10\n2;20\n", encoding="utf-8")
    day2 = tmp_path / "day2.csv"
    day2.write_text("id;amount\n3;30,5\n4;40,5\n", encoding="utf-8")
    target = tmp_path / "t.db"
    Pipeline(job(day1, target, {"table": "t"}, {"job": "j"}, **opts)).run()
    j = job(day2, target, {"table": "t"}, {"job": "j"}, **opts)
    with pytest.raises(NothingLoadedError) as planned:
        Pipeline(j).plan()
    with pytest.raises(NothingLoadedError) as loaded:
        Pipeline(j).run()
    assert str(planned.value) == str(loaded.value)
    fix = "their values are of other types than earlier runs recorded: declare the type"
    assert fix in str(loaded.value.hint), loaded.value.hint
    assert fix in str(planned.value.hint), planned.value.hint


def _loads_at_once(loads: dict[str, Callable[[], object]], first: str, started: threading.Event) -> dict[str, object]:
    """Each of ``loads`` in a thread named after its key, ``first`` started alone until
    ``started`` is set; what each returned or raised."""
    out: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            out[name] = loads[name]()
        except BaseException as exc:
            out[name] = exc

    threads = {name: threading.Thread(target=run, args=(name,), name=name) for name in loads}
    threads[first].start()
    assert started.wait(10)
    for name, t in threads.items():
        if name != first:
            t.start()
    for t in threads.values():
        t.join(30)
    return out


def test_one_list_of_stages_serves_two_loads_at_once_each_with_its_own_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage kept what it learnt of a schema on itself: with one list of stages shared by two
    loads in threads, load A's batch was renamed with load B's column names between A's check
    of its schema and the rename (values under the wrong columns, status ok). The interleaving
    is made certain here: B stops in its schema's check until A has checked its own, and A's
    next batch waits until B renamed its first."""
    from loader import suggest
    from loader.transforms import Rename

    n = 300
    rows = [[i, f"n{i}", i + 0.5] for i in range(n)]
    write_csv(tmp_path / "A.csv", ["id", "name", "amount"], rows)
    write_csv(tmp_path / "B.csv", ["amount", "id", "name"], [[a, i, s] for i, s, a in rows])
    b_checking, a_checked, b_renamed, a_renamed_again = (threading.Event() for _ in range(4))
    require = suggest.require_columns

    def checked(key: str, wanted: Any, names: Any, **kw: Any) -> None:
        me = threading.current_thread().name
        if me == "B" and not b_checking.is_set():
            b_checking.set()
            a_checked.wait(10)  # B has taken the stage's schema for its own, and waits here
        elif me == "A" and b_checking.is_set():
            a_checked.set()
        require(key, wanted, names, **kw)

    calls = {"A": 0, "B": 0}

    def probe(batch: pa.RecordBatch) -> pa.RecordBatch:  # after the rename, in the load's own thread
        me = threading.current_thread().name
        calls[me] += 1
        if me == "B" and calls[me] == 1:
            b_renamed.set()
            a_renamed_again.wait(10)
        elif me == "A" and calls[me] == 1:
            b_renamed.wait(10)
        elif me == "A" and calls[me] == 2:
            a_renamed_again.set()
        return batch

    monkeypatch.setattr(suggest, "require_columns", checked)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # and the threads switch often besides
    stages = [Rename(columns={"id": "key"}), probe]  # one list, as a module keeps it
    try:
        out = _loads_at_once(
            {
                name: lambda name=name: load(  # type: ignore[misc]
                    tmp_path / f"{name}.csv",
                    tmp_path / f"{name}.db",
                    table="t",
                    transforms=stages,
                    run_options={"chunk_size": 100},
                )
                for name in "AB"
            },
            first="B",
            started=b_checking,
        )
    finally:
        sys.setswitchinterval(interval)
    for name in "AB":
        report = out[name]
        assert getattr(report, "status", report) == "ok"
        assert (report.rows_written, report.rows_rejected) == (n, 0)  # type: ignore[attr-defined]
        got = sqlite_rows(tmp_path / f"{name}.db", "SELECT key, name, amount FROM t ORDER BY key")
        assert got == [(i, s, a) for i, s, a in rows], name
    assert stages[0]._schema is None  # type: ignore[attr-defined]  # the caller's object learnt nothing


def test_one_dedupe_stage_serves_two_loads_at_once_each_with_its_own_keys(tmp_path: Path) -> None:
    """Two loads sharing one Dedupe object shared its key store: one load's keys dropped the
    other's rows, and the first to end closed the SQLite connection the other was using
    (a segmentation fault of the host). Each load now has its own; in a child process, as
    the crash took the process down."""
    code = f"""
import sqlite3, sys, threading
from loader import load
from loader.transforms import Dedupe
d = {str(tmp_path)!r}
for name, ids in (("A", range(0, 20_000)), ("B", range(10_000, 30_000))):
    with open(f"{{d}}/{{name}}.csv", "w") as f:
        f.write("id,v\\n" + "".join(f"{{i}},{{name}}\\n" for i in ids) + "".join(f"{{i}},dup\\n" for i in ids))
sys.setswitchinterval(1e-6)
stages = [Dedupe(columns=["id"])]
reports = {{}}
def run(name):
    reports[name] = load(f"{{d}}/{{name}}.csv", f"{{d}}/{{name}}.db", table="t", transforms=stages,
                         run_options={{"chunk_size": 100}})
threads = [threading.Thread(target=run, args=(n,)) for n in "AB"]
[t.start() for t in threads]; [t.join() for t in threads]
for name in "AB":
    r = reports[name]
    got = sqlite3.connect(f"{{d}}/{{name}}.db").execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id), min(v), max(v) FROM t").fetchone()
    print(name, r.status, r.rows_written, r.rows_filtered, got)
print(stages[0]._store)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "A ok 20000 20000 (20000, 20000, 0, 19999, 'A', 'A')",
        "B ok 20000 20000 (20000, 20000, 10000, 29999, 'B', 'B')",
        "None",
    ]


def _written(path: Path, text: str, age: float) -> None:
    """``path`` holding ``text``, last changed ``age`` seconds ago."""
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))


def test_a_file_still_being_written_into_the_glob_waits_for_min_age(tmp_path: Path) -> None:
    """A copy into a scheduled glob was loaded cut short (its cut last row a value), then
    stopped every later run as a changed file: with ``source.min_age`` it waits, reported."""
    (tmp_path / "in").mkdir()
    _written(tmp_path / "in" / "old.csv", "id,name\n1,n1\n", 120)
    _written(tmp_path / "in" / "new.csv", "id,name\n2,n2\n3,n", 1)  # the copy is under way
    glob, db = str(tmp_path / "in" / "*.csv"), tmp_path / "t.db"
    report = load(glob, db, table="t", source_options={"min_age": 60})
    assert (report.status, report.files_loaded, report.files_too_new, report.rows_written) == ("ok", 1, 1, 1)
    waiting = report.files[0]
    assert (waiting.path, waiting.status, waiting.rows_read) == (str(tmp_path / "in" / "new.csv"), "too-new", 0)
    assert waiting.reason is not None and waiting.reason.endswith("s ago, under source.min_age = 60s")
    assert ", 1 too new to load yet (source.min_age: left for a later run) in " in report.summary()
    _written(tmp_path / "in" / "new.csv", "id,name\n2,n2\n3,n3\n", 120)  # done
    again = load(glob, db, table="t", source_options={"min_age": 60})
    assert (again.files_loaded, again.files_skipped, again.files_too_new) == (1, 1, 0)
    assert sqlite_rows(db, "SELECT id, name FROM t ORDER BY id") == [(1, "n1"), (2, "n2"), (3, "n3")]


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf")])
def test_min_age_is_a_number_of_seconds(tmp_path: Path, value: float) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path / "a.csv", tmp_path / "t.db", source_options={"min_age": value})
    assert str(e.value) == f"source_options.min_age: expected a number of seconds, 0 or more, got {value!r}"


@pytest.mark.parametrize("plan_first", [False, True])
def test_a_pipeline_run_again_checks_its_stages_again(tmp_path: Path, plan_first: bool) -> None:
    """A host that retries ``run()`` on the same Pipeline: the stage whose check failed the
    first run fails the second one too, not a load with the fill never applied."""
    src = tmp_path / "a.csv"
    src.write_text("id,v,n\n1,,\n2,b,5\n")
    db = tmp_path / "out.db"
    p = Pipeline(job(src, db, {"table": "t"}), transforms=[FillNull(columns={"v": "x", "n": "abc"})])
    if plan_first:
        with pytest.raises(ConfigError):
            p.plan()
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"columns\.n: cannot use 'abc' as a int64 value"):
            p.run()
    assert sqlite_rows(db, "select name from sqlite_master where name = 't'") == []


@pytest.mark.parametrize(("fmt", "engine"), [("csv", "threads"), ("jsonl", "threads"), ("csv", "processes")])
def test_a_zero_byte_text_file_among_a_globs_files_is_a_file_of_no_rows(tmp_path: Path, fmt: str, engine: str) -> None:
    """Spark writes a 0-byte part file for a task without rows: it stopped the whole load
    (exit 65, "file is empty"). The other files load; the report lists it as ``empty``."""
    (tmp_path / "in").mkdir()
    for name, i in (("a", 1), ("c", 3)):
        text = f'{{"id": {i}}}\n' if fmt == "jsonl" else f"id\n{i}\n"
        (tmp_path / "in" / f"{name}.{fmt}").write_text(text)
    empty = tmp_path / "in" / f"b.{fmt}"
    empty.write_bytes(b"")
    db, report = tmp_path / "o.db", tmp_path / "r.json"
    args = ["load", str(tmp_path / "in" / f"*.{fmt}"), str(db), "--table", "t", "--engine", engine]
    plan = cli(*args, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"empty (1): 0 bytes: no header, no rows, nothing to load\n  {empty}\n" in plan.stdout
    done = cli(*args, "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("ok: 2 rows written to ") and " from 2 files, 1 empty (no rows) in " in done.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]
    written = json.loads(report.read_text())
    assert [
        (f["path"], f["status"], f["rows_read"], f["reason"]) for f in written["files"] if f["status"] == "empty"
    ] == [(str(empty), "empty", 0, "0 bytes: no header, no rows")]
    assert (written["files_loaded"], written["files_empty"], written["exit_code"]) == (2, 1, 0)


@pytest.mark.parametrize(("fmt", "engine"), [("csv", "threads"), ("jsonl", "threads"), ("csv", "processes")])
@pytest.mark.parametrize("emptied", [b"", b"\n"], ids=["0-bytes", "blank"])
def test_a_loaded_file_emptied_since_is_a_changed_one_not_an_empty_one(
    tmp_path: Path, fmt: str, engine: str, emptied: bytes
) -> None:
    """logrotate's copytruncate (``: > app.csv``) left a file loaded with rows at 0 bytes: it
    was a new file of no rows (``empty``, exit 0), the rows loaded from it unsaid."""
    if fmt == "csv" and emptied:
        emptied = b"\xef\xbb\xbf"  # a blank line is a header's place in CSV: a byte order mark alone holds no text
    (tmp_path / "in").mkdir()
    rows = {"a": [1, 2], "b": [5]}
    for name, ids in rows.items():
        text = "".join(f'{{"id": {i}}}\n' for i in ids) if fmt == "jsonl" else "id\n" + "".join(f"{i}\n" for i in ids)
        (tmp_path / "in" / f"{name}.{fmt}").write_text(text)
    db, report = tmp_path / "o.db", tmp_path / "r.json"
    args = ["load", str(tmp_path / "in" / f"*.{fmt}"), str(db), "--table", "t", "--engine", engine]
    assert cli(*args).returncode == 0
    emptied_file = tmp_path / "in" / f"a.{fmt}"
    emptied_file.write_bytes(emptied)
    plan = cli(*args, "--dry-run")
    assert plan.returncode == 65 and "empty (" not in plan.stdout
    done = cli(*args, "--report", str(report))
    assert done.returncode == 65
    assert done.stderr.splitlines()[:2] == [
        f"loader: error: {emptied_file}: changed since it was loaded (size or content differ from the checkpoint)",
        "  hint: 2 rows of it stay loaded: to load it once, delete them and rerun with --set run.on_change=reload "
        "(reload alone adds all its rows beside them), or rerun with --restart --mode replace (every file of the "
        "job loads again); set run.on_change to 'skip' to keep only them",
    ]
    written = json.loads(report.read_text())
    assert [(f["status"], f["rows_kept"]) for f in written["files"] if f["path"] == str(emptied_file)] == [
        ("changed", 2)
    ]
    skipped = cli(*args, "--set", "run.on_change=skip", "--report", str(report))
    assert skipped.returncode == 0, skipped.stderr
    assert " 1 already loaded, 1 changed since loaded and skipped (2 committed rows kept) in " in skipped.stderr
    # reloaded, its new version is a file of no rows as a new one would be: the 2 rows stay
    reloaded = cli(*args, "--set", "run.on_change=reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert " from 0 files, 1 already loaded, 1 empty (no rows) in " in reloaded.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (5,)]
    # hunt26e 5: the reload recorded its new version, so the next plain run skips it (it
    # stopped with 65 "changed" at every run after)
    for again in (cli(*args), cli(*args, "--set", "run.on_change=reload"), cli(*args, "--dry-run")):
        assert again.returncode == 0, again.stderr
    assert " from 0 files, 2 already loaded in " in cli(*args).stderr
    entry = json.loads(sqlite_rows(db, f"SELECT value FROM _loader_state WHERE key = 'file:{emptied_file}'")[0][0])
    assert (entry["version"], entry["done"], entry["rows_written"], entry["identity"]["size"]) == (
        2,
        True,
        0,
        len(emptied),
    )
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (5,)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_lone_input_emptied_since_and_reloaded_is_recorded_not_refused(tmp_path: Path, engine: str) -> None:
    """A job of one log file truncated in place: its reload stopped with "file is empty" (the
    rule for a run whose every input is empty), and every plain run after with 65 "changed"
    again, though the user did what the hint said. A new empty file alone is still refused."""
    src, db = tmp_path / "app.csv", tmp_path / "o.db"
    src.write_text("id\n1\n2\n")
    args = ["load", str(src), str(db), "--table", "t", "--engine", engine]
    assert cli(*args).returncode == 0
    src.write_bytes(b"")
    assert cli(*args).returncode == 65
    reloaded = cli(*args, "--set", "run.on_change=reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert " from 0 files, 1 empty (no rows) in " in reloaded.stderr
    again = cli(*args)
    assert again.returncode == 0 and " from 0 files, 1 already loaded in " in again.stderr, again.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]
    (tmp_path / "new.csv").write_bytes(b"")
    assert cli("load", str(tmp_path / "new.csv"), str(db), "--table", "t").returncode == 65


def test_a_loaded_file_unchanged_is_not_opened_to_see_whether_it_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun over a folder of small files, all loaded, read each again to see whether it
    held any text; the checkpoint tells they are loaded (an object in S3: a GET each)."""
    from loader.readers import stream

    (tmp_path / "in").mkdir()
    for i in range(3):
        (tmp_path / "in" / f"{i}.csv").write_text(f"id\n{i}\n")
    db = tmp_path / "o.db"
    assert load(str(tmp_path / "in" / "*.csv"), db, table="t").rows_written == 3
    (tmp_path / "in" / "new.csv").write_bytes(b"")
    (tmp_path / "in" / "tiny.csv").write_text("id\n7\n")
    looked: list[str] = []
    real = stream.holds_no_text
    monkeypatch.setattr(stream, "holds_no_text", lambda path, *a, **k: looked.append(path) or real(path, *a, **k))
    again = load(str(tmp_path / "in" / "*.csv"), db, table="t")
    assert (again.rows_written, again.files_skipped, again.files_empty) == (1, 3, 1)
    assert sorted(looked) == [str(tmp_path / "in" / "new.csv"), str(tmp_path / "in" / "tiny.csv")]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("b.csv.gz", gzip.compress(b"", mtime=0)),  # Hadoop's GzipCodec: 20 bytes holding nothing
        ("b.jsonl.gz", gzip.compress(b"", mtime=0)),
        ("b.csv", b"\xef\xbb\xbf"),  # a byte order mark alone
        ("b.csv.gz", gzip.compress(b"\xef\xbb\xbf", mtime=0)),
        ("b.jsonl", b"\n"),  # pandas' to_json(orient="records", lines=True) of a frame of no rows
        ("b.jsonl", b"\r\n \n\t\n"),  # blank lines, whitespace only
        ("b.jsonl", b"\xef\xbb\xbf\n"),
        ("b.jsonl.gz", gzip.compress(b"\n" * 100_000, mtime=0)),
    ],
    ids=[
        "gzip",
        "jsonl-gzip",
        "bom",
        "gzip-bom",
        "jsonl-newline",
        "jsonl-blank",
        "jsonl-bom-newline",
        "jsonl-gzip-blank",
    ],
)
def test_a_text_file_that_decodes_to_nothing_is_a_file_of_no_rows_as_one_of_0_bytes(
    tmp_path: Path, name: str, data: bytes
) -> None:
    """Spark's empty part written with compression = gzip stopped the whole glob (exit 65)."""
    fmt = "jsonl" if ".jsonl" in name else "csv"
    (tmp_path / "in").mkdir()
    for other, i in (("a", 1), ("c", 3)):
        (tmp_path / "in" / f"{other}.{fmt}").write_text(f'{{"id": {i}}}\n' if fmt == "jsonl" else f"id\n{i}\n")
    (tmp_path / "in" / name).write_bytes(data)
    db = tmp_path / "o.db"
    done = cli("load", str(tmp_path / "in" / f"*.{fmt}*"), str(db), "--table", "t", "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert " from 2 files, 1 empty (no rows) in " in done.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]


def test_only_a_tiny_file_is_opened_to_see_whether_it_holds_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file past a few hundred bytes holds text if it holds anything: not read twice."""
    from loader.readers import stream

    opened: list[str] = []
    real = stream.open_stream
    monkeypatch.setattr(stream, "open_stream", lambda path, *a: opened.append(path) or real(path, *a))
    big = tmp_path / "big.csv.gz"
    big.write_bytes(gzip.compress(b"id\n" + b"1\n" * 100_000, mtime=0) + b"\0" * stream.NO_TEXT_MAX_BYTES)
    tiny = tmp_path / "tiny.csv.gz"
    tiny.write_bytes(gzip.compress(b"id\n1\n", mtime=0))
    assert (stream.holds_no_text(str(big), "utf-8"), stream.holds_no_text(str(tiny), "utf-8")) == (False, False)
    assert opened == [str(tiny)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_pandas_json_lines_of_an_empty_day_is_a_file_of_no_rows(tmp_path: Path, engine: str) -> None:
    """pandas writes one newline for a frame of no rows: it stopped the glob (exit 65, "holds no
    JSON object in its first rows"), and every later day with it. It is ``empty`` as 0 bytes are."""
    daily = tmp_path / "daily"
    daily.mkdir()
    (daily / "d1.jsonl").write_text('{"id":1,"v":1.5}\n')
    (daily / "d2.jsonl").write_bytes(b"\n")
    (daily / "d3.jsonl").write_text('{"id":3,"v":2.5}\n')
    db, report = tmp_path / "o.db", tmp_path / "r.json"
    args = ["load", str(daily / "*.jsonl"), str(db), "--table", "t", "--engine", engine]
    plan = cli(*args, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"empty (1): 0 bytes: no header, no rows, nothing to load\n  {daily / 'd2.jsonl'}\n" in plan.stdout
    done = cli(*args, "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]
    written = json.loads(report.read_text())
    assert [(f["path"], f["status"]) for f in written["files"]] == [
        (str(daily / "d2.jsonl"), "empty"),
        (str(daily / "d1.jsonl"), "loaded"),
        (str(daily / "d3.jsonl"), "loaded"),
    ]
    assert (written["files_loaded"], written["files_empty"], written["exit_code"]) == (2, 1, 0)


def test_a_json_lines_file_is_opened_to_see_whether_it_is_blank_only_when_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whitespace is no text in JSON Lines (not in CSV, where a blank line is a header's place);
    a file past BLANK_MAX_BYTES on disk is not opened to tell."""
    from loader.readers import stream

    opened: list[str] = []
    real = stream.open_stream
    monkeypatch.setattr(stream, "open_stream", lambda path, *a: opened.append(path) or real(path, *a))
    blank, text, big = tmp_path / "blank.jsonl", tmp_path / "text.jsonl", tmp_path / "big.jsonl"
    blank.write_bytes(b"\n \r\n" * 1000)
    text.write_bytes(b"\n" * 1000 + b'{"id":1}\n')
    big.write_bytes(b"\n" * (stream.BLANK_MAX_BYTES + 1))
    assert [stream.holds_no_text(str(p), "utf-8", blank_lines=True) for p in (blank, text, big)] == [True, False, False]
    assert stream.holds_no_text(str(blank), "utf-8") is False
    assert opened == [str(blank), str(text)]


def test_every_input_of_zero_bytes_still_stops_the_load_and_so_does_a_zero_byte_parquet_file(tmp_path: Path) -> None:
    """Input that loads nothing is no success: where every file is empty, the first is the
    error it was. A Parquet file of 0 bytes is a corrupt one, named, beside other files too."""
    (tmp_path / "a.csv").write_bytes(b"")
    (tmp_path / "b.csv").write_bytes(b"")
    done = cli("load", str(tmp_path / "*.csv"), str(tmp_path / "o.db"), "--table", "t", "-q")
    assert (done.returncode, done.stderr) == (
        65,
        f"loader: error: {tmp_path / 'a.csv'}: file is empty (no header, no rows)\n"
        "  hint: fix or replace the file, then rerun: the files before it stay loaded\n",
    )
    pq.write_table(pa.table({"id": [1]}), tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"")
    done = cli("load", str(tmp_path / "*.parquet"), str(tmp_path / "p.db"), "--table", "t", "-q")
    assert (done.returncode, done.stderr) == (
        65,
        f"loader: error: {tmp_path / 'b.parquet'}: file is empty\n"
        "  hint: fix or replace the file, then rerun: the files before it stay loaded\n",
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_day_none_of_whose_rows_loaded_loads_once_with_the_encoding_its_error_names(
    tmp_path: Path, engine: str
) -> None:
    """A daily glob whose day 2 is cp1252: exit 4 naming `--encoding cp1252`; the rerun with
    it, no --restart, reads day 2 alone and loads it once; each run's counts add up."""
    daily, target = tmp_path / "daily", tmp_path / "dl.db"
    daily.mkdir()
    (daily / "d1.csv").write_text("id;name\n1;Anna\n2;Bo\n")
    glob, run = str(daily / "*.csv"), {"engine": engine}
    assert load(glob, target, table="t", run_options=run).rows_written == 2
    (daily / "d2.csv").write_bytes(b"id;name\n3;Zo\xeb\n4;Ren\xe9e\n")
    with pytest.raises(NothingLoadedError) as info:
        load(glob, target, table="t", run_options=run)
    assert str(info.value).endswith('the file reads as cp1252: try source_options={"encoding": "cp1252"}')
    assert info.value.hint == (
        f"rejected rows are in {rejects_of(target)}; rerun with that as it is: a file none of whose rows loaded "
        "is read again under other source options, the job's other files are not"
    )
    failed = info.value.report
    assert (failed.rows_read, failed.rows_written, failed.rows_rejected, failed.files_skipped) == (2, 0, 2, 1)
    fixed = load(glob, target, table="t", source_options={"encoding": "cp1252"}, run_options=run)
    assert (fixed.status, fixed.files_loaded, fixed.files_skipped) == ("ok", 1, 1)
    assert (fixed.rows_read, fixed.rows_written, fixed.rows_rejected, fixed.rows_filtered) == (2, 2, 0, 0)
    again = load(glob, target, table="t", source_options={"encoding": "cp1252"}, run_options=run)
    assert (again.rows_read, again.files_skipped) == (0, 2)
    assert sqlite_rows(target, "SELECT id, name FROM t ORDER BY id") == [
        (1, "Anna"),
        (2, "Bo"),
        (3, "Zoë"),
        (4, "Renée"),
    ]
    assert len(rejects_of(target).read_text().splitlines()) == 2  # the first read's lines, once


def _job_state(target: Path) -> bytes:
    """The checkpoint a target holds, byte for byte (SQLite: every job's rows)."""
    if target.suffix == ".ldb":
        return (target / "loader-state.jsonl").read_bytes()
    return json.dumps(sqlite_state(target), sort_keys=True).encode()


def _daily(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[list[str], Path]:
    """A daily job: day 1, then day 2 adds column x (``--alter``) and a row whose id is
    rejected (id is int64 since day 1); the command, and the target."""
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "d1.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    db = tmp_path / "t.db"
    load = ["load", str(tmp_path / "in" / "*.csv"), str(db), "--table", "t", "--alter", "-q"]
    assert _main(capsys, *load)[0] == 0
    write_csv(tmp_path / "in" / "d2.csv", ["id", "v", "x"], [[3, "c", 5], ["q", "d", 6]])
    assert _main(capsys, *load)[0] == 0
    return load, db


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--columns", "nosuch=string", "--mode", "replace"], "loader: error: source.columns: no column 'nosuch' in "),
        (
            ["--mode", "upsert", "--primary-key", "id"],
            "loader: error: sink.primary_key: table 't' has no PRIMARY KEY or UNIQUE index on (id), which mode 'upsert' needs",
        ),
    ],
)
def test_a_refused_restart_keeps_the_checkpoint_and_the_reject_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str, flags: list[str], error: str
) -> None:
    """hunt23c 1: a --restart refused with exit 2 (a column named wrong, or a table without
    the key upsert needs) had cleared the job's checkpoint and emptied its reject file
    already: the next scheduled run loaded every file again (every row twice, exit 0) and the
    rejected rows' only record was gone. A refused run changes nothing."""
    load, db = _daily(capsys, tmp_path)
    rejects = rejects_of(db)
    state, lines = _job_state(db), rejects.read_bytes()
    code, err = _main(capsys, *load, "--restart", "--engine", engine, *flags)
    assert code == 2 and err[0].startswith(error)
    assert (_job_state(db), rejects.read_bytes()) == (state, lines)
    assert _main(capsys, *load, "--engine", engine)[0] == 0  # the cron command: nothing loads twice
    assert sqlite_rows(db, "SELECT id, v, x FROM t ORDER BY id") == [(1, "a", None), (2, "b", None), (3, "c", 5)]
    assert rejects.read_bytes() == lines


def test_a_declared_column_may_be_missing_from_some_files_not_from_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hunt23c 4: a declared column had to be in every file: the export that dropped it
    stopped the job (exit 78), and one a later export added could never be declared (exit 2),
    though the drift hint advised it. A file may lack it; a name no input has is a typo."""
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "d1.csv", ["id", "amount", "zip"], [[1, "1.50", "01234"]])
    db = tmp_path / "t.db"
    load = ["load", str(tmp_path / "in" / "*.csv"), str(db), "--table", "t", "-q"]
    declare = ["--columns", "amount=decimal(10,2),zip=string"]
    assert _main(capsys, *load, *declare)[0] == 0
    write_csv(tmp_path / "in" / "d2.csv", ["id", "zip"], [[2, "02345"]])  # amount dropped
    assert _main(capsys, *load, *declare)[0] == 0
    assert sqlite_rows(db, "SELECT id, amount, zip FROM t ORDER BY id") == [(1, "1.50", "01234"), (2, None, "02345")]
    # a column that only the later file has, declared on a fresh target
    write_csv(tmp_path / "in" / "d3.csv", ["id", "zip", "code"], [[3, "03456", "007"]])
    fresh = ["load", str(tmp_path / "in" / "*.csv"), str(tmp_path / "f.db"), "--table", "t", "--alter", "-q"]
    assert _main(capsys, *fresh, "--columns", "code=string,zip=string")[0] == 0
    assert sqlite_rows(tmp_path / "f.db", "SELECT id, zip, code FROM t ORDER BY id") == [
        (1, "01234", None),
        (2, "02345", None),
        (3, "03456", "007"),
    ]
    code, err = _main(capsys, *fresh, "--restart", "--mode", "replace", "--columns", "cdoe=string")
    assert (code, err[0]) == (2, "loader: error: source.columns: no column 'cdoe' in any of the 3 inputs")


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize(
    ("name", "why"), [("e.csv", "file is empty (no header, no rows)"), ("e.jsonl", "file is empty")]
)
def test_an_empty_file_alone_with_declared_columns_says_it_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sink: str, name: str, why: str
) -> None:
    """hunt27a 2: an empty file loaded alone with ``--columns`` was refused "no column 'id'"
    (exit 2) with a hint listing no columns; without them it is "file is empty" (exit 65).
    No input's head could be read: the file's own error, declared columns or not."""
    src = tmp_path / name
    src.write_bytes(b"")
    target = ["--table", "t"] if sink == "sqlite" else ["--key", "{id}"]
    load = ["load", str(src), str(tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")), *target]
    expected = (
        65,
        [
            f"loader: error: {src}: {why}",
            "  hint: fix or replace the file, then rerun: the files before it stay loaded",
        ],
    )
    assert _main(capsys, *load) == expected
    assert _main(capsys, *load, "--columns", "id=int64,v=string") == expected


def _leveldb_daily(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str) -> tuple[list[str], Path]:
    """A LevelDB job keyed by ``key``: day 1's int64 ids, then day 2's ``A7``, rejected; the
    command, the target."""
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "d1.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    ldb = tmp_path / "t.ldb"
    load = ["load", str(tmp_path / "in" / "*.csv"), str(ldb), "--key", key, "-q"]
    assert _main(capsys, *load)[0] == 0
    write_csv(tmp_path / "in" / "d2.csv", ["id", "v"], [["A7", "c"]])
    assert _main(capsys, *load)[0] == 4
    return load, ldb


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(
    ("key", "flags", "code", "error"),
    [
        (
            "k:{id}",
            ["--mode", "upsert"],
            78,
            "loader: error: sink.key: column id is string in this run, but this job's keys",
        ),
        (
            "k:{id:08d}",
            ["--columns", "id=float64", "--mode", "replace"],
            2,
            "loader: error: sink.key: format spec '08d' does not fit column type double",
        ),
    ],
)
def test_a_refused_leveldb_restart_keeps_the_checkpoint_and_the_reject_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str, key: str, flags: list[str], code: int, error: str
) -> None:
    """hunt23c 1 on LevelDB: the refused --restart had written ``"clear": true`` to the
    checkpoint file, which forgot how the job's keys are typed: every later plain run then
    stopped the same way (the job stuck)."""
    load, ldb = _leveldb_daily(capsys, tmp_path, key)
    rejects = rejects_of(ldb, f"key:{key}")
    state, lines = _job_state(ldb), rejects.read_bytes()
    got, err = _main(capsys, *load, "--restart", "--engine", engine, *flags)
    assert got == code and err[0].startswith(error)
    assert (_job_state(ldb), rejects.read_bytes()) == (state, lines)
    write_csv(tmp_path / "in" / "d3.csv", ["id", "v"], [[3, "d"]])
    assert _main(capsys, *load, "--engine", engine)[0] == 0  # the cron command goes on with day 3 alone
    db = plyvel.DB(str(ldb))
    keys = [k for k, _ in db if not k.startswith(b"\xff")]
    db.close()
    assert len(keys) == 3 and rejects.read_bytes() == lines


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("mode", ["append", "replace"])
def test_a_restart_stopped_before_its_first_commit_leaves_the_job_as_it_was(
    tmp_path: Path, sink: str, mode: str
) -> None:
    """The checkpoint and the reject file are forgotten with a restart's first commit: one
    killed before it leaves both, and the plain rerun loads nothing again."""
    rows = [[i, "bad" if i % 10 == 0 else i] for i in range(1, 51)]
    src = write_csv(tmp_path / "in.csv", ["id", "n"], rows)
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    sink_cfg = {"table": "t"} if sink == "sqlite" else {"key": "{id}"}
    j = lambda **run: job(src, target, sink_cfg, run, columns={"n": "int64"})  # noqa: E731
    Pipeline(j()).run()
    rejects = rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}")
    state, lines = _job_state(target), rejects.read_bytes()
    restart = job(src, target, {**sink_cfg, "mode": mode}, {"restart": True}, columns={"n": "int64"})
    with pytest.raises(LoaderError, match="simulated crash"):
        Pipeline(restart, transforms=[crash_after(0)]).run()
    assert (_job_state(target), rejects.read_bytes()) == (state, lines)
    report = Pipeline(j()).run()
    assert (report.rows_written, report.files_skipped) == (0, 1)
    if sink == "sqlite":
        assert sqlite_rows(target, "SELECT count(*) FROM t") == [(45,)]
    # and a restart that commits forgets them: the file holds this run's lines alone
    assert Pipeline(restart).run().rows_written == 45
    assert len(rejects.read_text().splitlines()) == 5


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_rerun_keeps_the_checkpoints_file_entries_parsed_only(tmp_path: Path, engine: str) -> None:
    """A run parses the job's checkpoint (an entry per file it ever loaded, and per part an
    engine committed) and holds it so, not also as the text it was read as."""
    for i in range(3):
        (tmp_path / f"f{i}.csv").write_text(f"id,v\n{i},a\n")
    job = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "*.csv")]),
        sink=SinkConfig(path=str(tmp_path / "a.ldb"), key="{id}"),
        run=RunConfig(engine=engine),
    )
    assert Pipeline(job).run().files_loaded == 3
    again = Pipeline(job)
    report = again.run()
    assert (report.files_loaded, report.files_skipped) == (0, 3)
    assert again._entries and not [k for k in again._entries if k.startswith(("file:", "part:"))]


@pytest.mark.parametrize("gone", ["no such file", "no such object"])
def test_an_input_a_glob_listed_gone_as_the_inputs_are_checked_is_a_rerun_file_or_object(gone: str) -> None:
    """An object deleted between the listing and the check of the inputs was exit 66 "check
    the URI", where a local file is 75 "moved or deleted after the run listed its inputs"."""
    from loader.errors import EXIT_LOCKED, InputGoneError, MissingInputError
    from loader.pipeline import _inputs_checked
    from loader.report import RunReport

    report = RunReport()
    with pytest.raises(InputGoneError) as info, _inputs_checked(report, named=["s3://b/d/*.csv"]):
        raise MissingInputError(gone, file="s3://b/d/f190.csv")
    assert (info.value.message, info.value.exit_code) == (
        f"{gone}: moved or deleted after the run listed its inputs",
        EXIT_LOCKED,
    )
    assert [(f.path, f.status) for f in report.files] == [("s3://b/d/f190.csv", "unreadable")]
    with pytest.raises(MissingInputError) as named, _inputs_checked(report, named=["s3://b/d/f190.csv"]):
        raise MissingInputError(gone, file="s3://b/d/f190.csv")  # named in source.path: the job's to fix
    assert not isinstance(named.value, InputGoneError)
