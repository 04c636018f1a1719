"""Engines (issue 21): the same load on threads, a local process pool and a Dask
LocalCluster gives the same target, and a worker or coordinator killed mid-load loses
and doubles nothing.

One LocalCluster (2 single-threaded worker processes) serves the whole module."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import plyvel
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig
from loader.engines import LOCAL_CLUSTER, halt_path
from loader.engines.work import PartTask, note_start, run_part
from loader.errors import (
    EXIT_NOTHING_LOADED,
    RELOAD_ALL_HINT,
    ConfigError,
    EngineError,
    LoaderError,
    NothingLoadedError,
    RejectLimitError,
    SchemaMismatchError,
    SourceChangedError,
    TransformError,
)
from loader.parts import plan_file
from loader.readers import open_reader
from loader.readers.csv.parts import bounds
from loader.schema import encode_types
from tests.conftest import escaped_rows, pyarrow_rows, sqlite_rows
from tests.engine_stages import HOLD_AT_MOST, add_path, remove_path
from tests.reliability_util import cli as any_cli
from tests.reliability_util import popen, sqlite_state, toml_value, wait_until, write_job

# real processes: in the test's process the local workers are spawned, not forked, Dask leaves its
# scheduler's log handler behind, and a worker's peak is not its own (12 tests failed in-process)
cli = functools.partial(any_cli, process=True)

distributed = pytest.importorskip("dask.distributed")

ENGINES = ["threads", "processes", "dask"]
NOTES = ["plain", 'say "hi"\nthen go', "a,b", "multi\nline\nvalue", ""]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    # the engine's own local settings: no scheduler HTTP server on 8787 (another test process's cluster holds it)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **LOCAL_CLUSTER) as local:
        yield local


def csv_files(directory: Path, files: int = 2, rows: int = 3000) -> list[Path]:
    """CSV files whose quoted values hold newlines (so byte-range cuts land inside them)
    and some of whose rows are rejected (``n`` declared int64)."""
    rnd = random.Random(5)
    paths = []
    for f in range(files):
        path = directory / f"in{f}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["id", "note", "n"])
            for i in range(rows):
                n = "bad" if i % 211 == 7 else str(rnd.randint(0, 999))
                w.writerow([f * rows + i, rnd.choice(NOTES), n])
        paths.append(path)
    return paths


def parquet_file(directory: Path, rows: int = 6000) -> list[Path]:
    path = directory / "in.parquet"
    n = ["bad" if i % 211 == 7 else str(i * 3) for i in range(rows)]  # rejected by the declared int64
    table = pa.table({"id": list(range(rows)), "note": [NOTES[i % 5] for i in range(rows)], "n": n})
    pq.write_table(table, path, row_group_size=500)
    return [path]


def job(
    paths: list[Path],
    target: Path,
    engine: str,
    scheduler: str | None = None,
    sink: str = "sqlite",
    part_size: int = 16_000,
) -> JobConfig:
    sink_config = (
        SinkConfig(path=str(target), table="t") if sink == "sqlite" else SinkConfig(path=str(target), key="r:{id}")
    )
    return JobConfig(
        source=SourceConfig(path=[str(p) for p in paths], columns={"n": "int64"}),
        sink=sink_config,
        transform=[{"type": "filter", "where": "id % 13 != 0"}],
        run=RunConfig(engine=engine, scheduler=scheduler, part_size=part_size),  # type: ignore[arg-type]
    )


def processes_job_file(directory: Path, paths: list[Path], target: Path, part_size: int = 16_000) -> Path:
    """``job(paths, target, "processes", part_size=...)`` as a job file, for ``loader run``."""
    job_file = directory / "job.toml"
    job_file.write_text(
        f'[source]\npath = {json.dumps([str(p) for p in paths])}\ncolumns = {{ n = "int64" }}\n'
        f'[sink]\npath = "{target}"\ntable = "t"\n'
        '[[transform]]\ntype = "filter"\nwhere = "id % 13 != 0"\n'
        f'[run]\nengine = "processes"\npart_size = {part_size}\n'
    )
    return job_file


def contents(target: Path, sink: str) -> list[Any]:
    if sink == "sqlite":
        conn = sqlite3.connect(target)
        try:
            return conn.execute("SELECT id, note, n FROM t ORDER BY id").fetchall()
        finally:
            conn.close()
    db = plyvel.DB(str(target))
    try:
        return list(db)
    finally:
        db.close()


def reject_lines(path: str) -> list[str]:
    """The reject file's lines, in order (file, row and line numbers, reasons, values), without
    the target each names (every engine loads a target of its own here)."""
    with open(path, encoding="utf-8") as fh:
        return [re.sub(r'^(\{"job": "[^"]*", )"target": "[^"]*", ', r"\1", line) for line in fh]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("make", [csv_files, parquet_file], ids=["csv", "parquet"])
def test_every_engine_loads_the_same_rows(tmp_path: Path, cluster: Any, sink: str, make: Any) -> None:
    paths = make(tmp_path)
    suffix = ".db" if sink == "sqlite" else ".ldb"
    results = {}
    for engine in ENGINES:
        target = tmp_path / f"{engine}{suffix}"
        report = Pipeline(job(paths, target, engine, cluster.scheduler_address, sink)).run()
        assert report.status == "ok"
        assert (
            report.worker_start in {"threads": {None}, "processes": {"forked", "spawned"}, "dask": {"remote"}}[engine]
        )
        assert report.rows_read == report.rows_written + report.rows_rejected + report.rows_filtered
        assert report.rows_filtered > 0
        if engine != "threads":
            assert len(report.parts) > 3  # byte ranges or row-group ranges, not whole files
            assert sum(p["rows_read"] for p in report.parts) == report.rows_read
            assert all(40 < p["worker_peak_rss_mb"] < 400 for p in report.parts)  # measured in the worker
            assert not (tmp_path / f"{engine}{suffix}.parts").exists()  # side results removed once committed
        # local workers' highest peak, held to a ceiling; a cluster's own worker's spans its life
        expected = max(p["worker_peak_rss_mb"] for p in report.parts) if engine == "processes" else None
        assert report.worker_peak_rss_mb == expected
        rejects = reject_lines(report.rejects_path) if report.rows_rejected else []
        results[engine] = (contents(target, sink), report.rows_read, report.rows_written, report.rows_rejected, rejects)
    assert results["processes"] == results["threads"]
    assert results["dask"] == results["threads"]
    rows = results["threads"][0]
    assert len(rows) == results["threads"][2] > 0
    if make is parquet_file:  # a row group range's rows keep their numbers in the file
        assert [json.loads(line)["row"] for line in results["threads"][4]] == [i + 1 for i in range(7, 6000, 211)]
    if make is csv_files:
        assert results["threads"][3] == 2 * 15  # the rows whose n is "bad" (i % 211 == 7 over 3000 rows, per file)
        newline = "\n" if sink == "sqlite" else b"\\n"  # JSON values escape it
        assert any(newline in (r[1] or "") for r in rows)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_every_engine_names_a_rejects_file_as_the_run_spelled_it(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """``processes`` (and ``dask``, which shares its parts code) wrote ``file`` absolute and no
    ``path``; ``threads`` the file as the run spelled it and ``path`` absolute: now all do that."""
    src = tmp_path / "in" / f"r.{fmt}"
    src.parent.mkdir()
    src.write_text('{"id":1,"n":2,"n":3}\n{"id":2,"n":1}\n' if fmt == "jsonl" else "id,n\n1,x\n2,1\n")
    monkeypatch.chdir(tmp_path)
    got = {}
    for engine in ENGINES:
        report = Pipeline(
            job([Path("in", src.name)], tmp_path / f"{engine}.db", engine, cluster.scheduler_address)
        ).run()
        [reject] = [json.loads(line) for line in reject_lines(report.rejects_path)]
        got[engine] = (reject["file"], reject.get("path"), reject["row"], reject["line"])
    assert got == {engine: (f"in/r.{fmt}", str(src), 1, 1 if fmt == "jsonl" else 2) for engine in ENGINES}


@pytest.mark.parametrize("side", ["database", "arrow"])
def test_every_engine_rejects_the_rows_the_table_refuses_alike(tmp_path: Path, cluster: Any, side: str) -> None:
    """Keys the table has, or an earlier row of the input has: the load stopped with 65 and
    SQLite's words. Now each engine loads the other rows and rejects those, with the same file,
    row, line, reason and values, in parts whose rows are numbered from the part's start."""
    paths = csv_files(tmp_path, files=1)
    with open(paths[0], "a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([[i, "again", 1] for i in (1, 1500, 2999, 2999)])
    results = {}
    for engine in ENGINES:
        target = tmp_path / f"{engine}.db"
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT, n INTEGER CHECK (n <> 500))")
            conn.execute("INSERT INTO t VALUES (2, 'there', 0)")
        base = job(paths, target, engine, cluster.scheduler_address)
        run = replace(base.run, part_results=side)
        report = Pipeline(replace(base, run=run, sink=replace(base.sink, primary_key=["id"]))).run()
        assert report.status == "ok"
        assert report.rows_read == report.rows_written + report.rows_rejected + report.rows_filtered
        if engine != "threads":
            assert len(report.parts) > 3
        refused = [json.loads(line) for line in reject_lines(report.rejects_path) if '"stage": "write"' in line]
        results[engine] = (contents(target, "sqlite"), report.rows_written, report.rows_rejected, refused)
    assert results["processes"] == results["threads"]
    assert results["dask"] == results["threads"]
    refused = sorted(results["threads"][3], key=lambda r: r["row"])
    assert [(r["row"], r["values"]["id"], r["column"]) for r in refused if r["values"]["n"] != 500] == [
        (3, 2, "id"),  # in the table before the load
        (3001, 1, "id"),
        (3002, 1500, "id"),
        (3003, 2999, "id"),
        (3004, 2999, "id"),
    ]
    assert refused[0]["reason"] == "key 2 is already in table 't' (UNIQUE constraint failed: t.id)"
    checked = [r for r in refused if r["values"]["n"] == 500]
    assert checked and {r["reason"] for r in checked} == {
        "table 't' refuses the row (CHECK constraint failed: n <> 500)"
    }
    with open(paths[0], encoding="utf-8") as fh:
        text = fh.read().split("\n")
    # the line a row starts on, where its block has one line a row (multi-line values elsewhere)
    assert all(text[r["line"] - 1].startswith(f"{r['values']['id']},") for r in refused if "line" in r)


THIRD_PARTY = {  # files data packages on the package index ship, and the first row each loads as
    "airports": ("vega_datasets", "_data/airports.csv", ("00M", "Thigpen", "Bay Springs", "MS", "USA", 31.95376472)),
    "penguins-raw": (  # quoted commas, NA, free text
        "palmerpenguins",
        "data/penguins-raw.csv",
        ("PAL0708", 1, "Adelie Penguin (Pygoscelis adeliae)", "Anvers", "Torgersen", "Adult, 1 Egg Stage"),
    ),
    "sf-temps": ("vega_datasets", "_data/sf-temps.csv", (47.8, "2010/01/01 00:00:00")),
}


def loads_on_every_engine(path: Path, tmp_path: Path, cluster: Any, part_size: int) -> Iterator[tuple[str, Path, Any]]:
    """``path`` loaded into a SQLite table by each engine, cut in parts of ``part_size`` bytes:
    each engine, its target and its report."""
    for engine in ENGINES:
        target = tmp_path / f"{engine}.db"
        config = JobConfig(
            source=SourceConfig(path=[str(path)]),
            sink=SinkConfig(path=str(target), table="t"),
            run=RunConfig(engine=engine, scheduler=cluster.scheduler_address, part_size=part_size),  # type: ignore[arg-type]
        )
        yield engine, target, Pipeline(config).run()


@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_every_engine_loads_a_third_party_file_as_threads_does(tmp_path: Path, cluster: Any, name: str) -> None:
    """Cut in byte ranges of 16 KB, each worker reads its own: the same rows, values and
    declared types as one pass of ``threads``, in the file's order."""
    package, relative, first = THIRD_PARTY[name]
    module = pytest.importorskip(package)
    path = Path(module.__file__).parent / relative
    loaded = {}
    for engine, target, report in loads_on_every_engine(path, tmp_path, cluster, part_size=16_000):
        assert report.status == "ok" and report.rows_rejected == 0
        if engine != "threads":
            assert len(report.parts) > 4
        conn = sqlite3.connect(target)
        try:
            types = conn.execute("SELECT name, type FROM pragma_table_info('t')").fetchall()
            rows = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
        finally:
            conn.close()
        loaded[engine] = (types, rows)
    assert loaded["processes"] == loaded["threads"]
    assert loaded["dask"] == loaded["threads"]
    rows = loaded["threads"][1]
    assert rows[0][: len(first)] == first
    with open(path, encoding="utf-8", newline="") as fh:
        assert len(rows) == sum(1 for _ in csv.reader(fh)) - 1  # every record, once


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_csv_file_not_in_utf8_is_one_part_and_loads_as_threads_does(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("".join(["id,name\n", *(f"{i},café {i}\n" for i in range(3000))]).encode(encoding))
    loaded = {}
    for engine in ("threads", "processes"):
        target = tmp_path / f"{engine}.db"
        config = JobConfig(
            source=SourceConfig(path=[str(path)], encoding=encoding),
            sink=SinkConfig(path=str(target), table="t"),
            run=RunConfig(engine=engine, part_size=4096),  # type: ignore[arg-type]
        )
        report = Pipeline(config).run()
        assert (report.status, report.rows_written, report.rows_rejected) == ("ok", 3000, 0)
        loaded[engine] = sqlite_rows(target, "SELECT id, name FROM t ORDER BY rowid")
        if engine == "processes":
            assert len(report.parts) == 1
    assert loaded["processes"] == loaded["threads"]
    assert loaded["threads"][-1] == (2999, "café 2999")


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_logs_each_files_file_and_file_done_events_in_input_order(
    tmp_path: Path, cluster: Any, engine: str
) -> None:
    """docs/schedule.md's per-file events: ``processes`` and ``dask`` logged only ``part``
    events for the files they loaded, no ``file`` nor ``file_done``; a skipped file's came
    alone. Each file read is several parts here."""
    paths = csv_files(tmp_path, files=3, rows=600)
    target = tmp_path / "t.db"
    Pipeline(job(paths[:1], target, "threads")).run()  # the first file loaded already: skipped
    events: list[tuple[str, dict[str, Any]]] = []
    config = job(paths, target, engine, scheduler=cluster.scheduler_address, part_size=8_000)
    report = Pipeline(config, on_event=lambda *e: events.append(e)).run()
    logged = [(n, Path(d["path"]).name, d.get("status")) for n, d in events if n in ("file", "file_done")]
    assert logged == [
        ("file", "in0.csv", "skipped"),
        ("file", "in1.csv", "loaded"),
        ("file_done", "in1.csv", None),
        ("file", "in2.csv", "loaded"),
        ("file_done", "in2.csv", None),
    ]
    done = [{k: d[k] for k in ("rows_read", "rows_written", "rows_rejected")} for n, d in events if n == "file_done"]
    counts = [
        {"rows_read": f.rows_read, "rows_written": f.rows_written, "rows_rejected": f.rows_rejected}
        for f in report.files
    ]
    assert done == counts[1:] and all(c["rows_read"] == 600 and c["rows_rejected"] for c in done)
    if engine != "threads":
        assert len(report.parts) > 2


def test_a_csv_file_quoted_with_a_detected_apostrophe_loads_the_same_rows_on_every_engine(
    tmp_path: Path, cluster: Any
) -> None:
    """Its parts were cut by ``"`` parity: rows whose quoted values hold newlines were split
    in two and both halves rejected under ``processes`` and ``dask``."""
    path = tmp_path / "sq.csv"
    notes = [f"'first line {i}\nsecond, line'" if i % 2 else f"'a, b {i}'" for i in range(3000)]
    path.write_text("id,note,v\n" + "".join(f"{i},{note},{i % 7}\n" for i, note in enumerate(notes)))
    loaded = {}
    for engine, target, report in loads_on_every_engine(path, tmp_path, cluster, part_size=8192):
        assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 3000, 3000, 0)
        assert report.files[0].dialect is not None and report.files[0].dialect["quote"] == "'"
        if engine != "threads":
            assert len(report.parts) > 5
        loaded[engine] = sqlite_rows(target, "SELECT id, note, v FROM t ORDER BY rowid")
    assert loaded["processes"] == loaded["threads"] == loaded["dask"]
    assert loaded["threads"][1] == (1, "first line 1\nsecond, line", 1)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_csv_file_with_an_escape_character_loads_every_cell_as_pyarrow_reads_it_whole(
    tmp_path: Path, engine: str
) -> None:
    """Escaped quotes, delimiters and newlines, and quotes that are text in unquoted fields,
    in blocks of 1 KiB and (``processes``) parts of 4 KiB: the rows pyarrow reads the whole
    file as, each once. Blocks were cut by counting quotes, and such a file was one part."""
    path = tmp_path / "esc.csv"
    # the rows with text after a closing quote are rejected (``escaped_rows``), the rest load
    body, kept, bad = escaped_rows(random.Random(6), 600)
    path.write_text("c0,c1,c2\n" + body, newline="")
    target = tmp_path / "t.db"
    config = JobConfig(
        source=SourceConfig(path=[str(path)], escape_char="\\", block_size=1024),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine=engine, part_size=4096),  # type: ignore[arg-type]
    )
    report = Pipeline(config).run()
    counts = (report.status, report.rows_read, report.rows_written, report.rows_rejected)
    assert counts == ("ok", 600, 600 - len(bad), len(bad)) and bad
    assert engine == "threads" or len(report.parts) > 4
    assert sqlite_rows(target, "SELECT c0, c1, c2 FROM t ORDER BY rowid") == pyarrow_rows(kept.encode())
    rows = [json.loads(line)["row"] for line in reject_lines(report.rejects_path or "")]
    assert sorted(rows) == sorted(i + 1 for i in bad)


def test_a_rerun_skips_committed_parts_and_loads_nothing_twice(tmp_path: Path) -> None:
    paths = csv_files(tmp_path, files=1)
    target = tmp_path / "t.db"
    first = Pipeline(job(paths, target, "processes")).run()
    again = Pipeline(job(paths, target, "processes")).run()
    assert again.files_skipped == 1 and again.rows_read == 0
    assert len(contents(target, "sqlite")) == first.rows_written


def test_killing_the_coordinator_between_part_commits_then_rerunning_loads_each_row_once(tmp_path: Path) -> None:
    paths = csv_files(tmp_path, files=2, rows=20_000)
    target = tmp_path / "t.db"
    job_file = processes_job_file(tmp_path, paths, target, part_size=40_000)
    cmd = [sys.executable, "-m", "loader", "run", str(job_file)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    committed = 0
    while committed < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        committed = _parts_committed(target)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGKILL)  # the coordinator and its pool's processes
    proc.wait()
    assert len(contents(target, "sqlite")) > 0
    with pytest.raises(ConfigError, match=r"half loaded in parts of run\.part_size = 40000, now cut at 16000"):
        Pipeline(job(paths, target, "processes")).run()
    events: list[tuple[str, dict[str, Any]]] = []
    report = Pipeline(job(paths, target, "processes", part_size=40_000), on_event=lambda *e: events.append(e)).run()
    assert report.resumed and report.status == "ok"
    assert "resumed" in [f.status for f in report.files]  # the file whose parts were committed, as threads says
    # and its ``file`` event says so (an engine logged none)
    assert [(d["path"], d["status"]) for n, d in events if n == "file"] == [(f.path, f.status) for f in report.files]
    expected = Pipeline(job(paths, tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")
    assert len(contents(target, "sqlite")) == expected.rows_written
    with open(report.rejects_path, encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == expected.rows_rejected  # each reject once too


def _signal_group_mid_load(target: Path, args: list[str], signum: int, after: int = 0) -> tuple[int, str]:
    """``python -m loader ARGS`` in a process group of its own, ``signum`` sent to the whole
    group once a part is committed (past the ``after`` the target held before); its exit code
    and standard error."""
    cmd = [sys.executable, "-m", "loader", *args]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _parts_committed(target) <= after and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGSTOP)  # so the signal lands mid-load however fast this machine is
    assert proc.poll() is None, "the load finished before it could be interrupted"
    os.killpg(proc.pid, signum)
    os.killpg(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("engine", ["processes", "dask"])  # a pool; a local cluster's forked workers
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_whole_process_group_stops_cleanly_between_commits(
    tmp_path: Path, signum: int, code: int, engine: str
) -> None:
    """Ctrl-C reaches the coordinator and its workers at once (SIGTERM too, from a
    supervisor that signals the group): the load stops as with threads, and a rerun ends it."""
    target, args = _load_args(tmp_path, engine)
    returncode, err = _signal_group_mid_load(target, args, signum)
    assert returncode == code, err
    assert err.splitlines()[-2:] == [
        f"loader: error: stopped by {signal.Signals(signum).name}; committed work is kept",
        "  hint: run the same command again to resume where it stopped",
    ]
    assert 0 < len(contents(target, "sqlite")) < 40_000
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    loaded = contents(target, "sqlite")
    assert loaded == _threads_load(tmp_path, target, args)
    assert len(loaded) == 40_000 - 2 * 95  # the rows whose n is "bad" are rejected


# ``python -m loader`` whose process group gets SIGTERM at a chosen moment of the local
# cluster's start (argv[1]), sent from where that moment is: the coordinator, or a worker
GROUP_STOPPED_AT = """
import os, signal, sys, time
from loader import pool_worker
from loader.engines import forked
import loader.__main__ as entry

def stop_group():
    os.killpg(os.getpgrp(), signal.SIGTERM)

def zombie(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"

def address_to_dead_workers(self, address, start=forked.ForkedWorkers.start):
    stop_group()
    while not all(map(zombie, self.pids)):  # their pipes closed: the address is written to none
        time.sleep(0.01)
    start(self, address)

async def serve(address, read, index):
    stop_group()

def warm():
    stop_group()
    time.sleep(30)

moment = sys.argv.pop(1)
if moment == "address":
    forked.ForkedWorkers.start = address_to_dead_workers
elif moment == "serve":
    forked._serve = serve  # the workers die before they reach the scheduler
else:
    pool_worker.warm = warm  # they die as the client has them import loader
sys.exit(entry.main())
"""


@pytest.mark.parametrize(
    "moment",
    [
        "address",  # was: internal error, BrokenPipeError
        "serve",  # was: "a local Dask worker ended as it started"
        "warm",  # was: internal error, CommClosedError, and Dask's "broadcast ... failed" lines
    ],
)
def test_sigterm_to_the_process_group_while_the_local_cluster_starts_stops_with_143(
    tmp_path: Path, moment: str
) -> None:
    paths = csv_files(tmp_path, files=1)
    target, report = tmp_path / "t.db", tmp_path / "report.json"
    args = ["load", str(paths[0]), str(target), "--table", "t", "--engine", "dask", "--workers", "2"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-c", GROUP_STOPPED_AT, moment, *args, "--report", str(report), "-q"]
    proc = subprocess.run(cmd, env=env, start_new_session=True, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.splitlines() == [  # nothing of Dask's own
        "loader: error: stopped by SIGTERM; committed work is kept",
        "  hint: run the same command again to resume where it stopped",
    ]
    written = json.loads(report.read_text())
    assert (written["status"], written["exit_code"], written["rows_written"]) == ("interrupted", 143, 0)


# ``python -m loader`` whose forked worker ``loader-1`` kills itself (the OOM killer, say) as
# the client sets the workers up: as it runs the setup callback, or ``warm`` (argv[1])
WORKER_KILLED_AT = """
import os, signal, sys
from loader import engines, pool_worker
import loader.__main__ as entry

def killed_if_second(then):
    def run(dask_worker):  # Dask hands the worker to a callback that takes it
        if dask_worker.name == "loader-1":
            os.kill(os.getpid(), signal.SIGKILL)
        return then()
    return run

if sys.argv.pop(1) == "setup":
    engines.spare_pandas_import = killed_if_second(engines.spare_pandas_import)
else:
    pool_worker.warm = killed_if_second(pool_worker.warm)
sys.exit(entry.main())
"""


@pytest.mark.parametrize(
    "moment",
    [
        "setup",  # was: internal error, CommClosedError (register_worker_plugin), or KeyError
        "warm",  # was: internal error, CommClosedError (Scheduler Broadcast)
    ],
)
def test_a_forked_worker_killed_as_the_client_sets_it_up_is_the_engines_error(tmp_path: Path, moment: str) -> None:
    paths = csv_files(tmp_path, files=1)
    target = tmp_path / "t.db"
    args = ["load", str(paths[0]), str(target), "--table", "t", "--engine", "dask", "--workers", "2", "-q"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-c", WORKER_KILLED_AT, moment, *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert [re.sub(r"\d+", "N", line) for line in proc.stderr.splitlines()] == [  # nothing of Dask's own
        "loader: error: local Dask worker N ended as it started (killed by SIGKILL)",
        "  hint: committed parts are kept: run the same command again to load the rest",
    ]


@pytest.mark.parametrize("signum, shown", [(None, ["broadcast failed"]), (signal.SIGTERM, [])])
def test_dasks_logs_while_the_engine_starts_are_shown_once_it_is_up_unless_a_signal_stopped_the_run(
    signum: int | None, shown: list[str]
) -> None:
    import io
    import logging

    from loader import stopping
    from loader.engines import _held_logs

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("distributed")
    logger.addHandler(handler)
    try:
        with stopping.scope(stopping.Request(signum)), _held_logs() as held:
            logging.getLogger("distributed.scheduler").error("broadcast failed")
            assert out.getvalue() == ""  # held while the engine starts
            held.release()
            logging.getLogger("distributed.scheduler").error("after the start")
    finally:
        logger.removeHandler(handler)
    assert out.getvalue().splitlines() == [*shown, "after the start"]


@pytest.mark.parametrize("given_the_address", [False, True])
def test_a_forked_worker_that_ends_as_the_cluster_starts_is_named_with_how_it_ended(given_the_address: bool) -> None:
    """Killed on its own (the coordinator not signalled): the engine's error, not an internal
    error (BrokenPipeError, before it was given the address), nor a hint about the scheduler."""
    from loader.engines.forked import ForkedWorkers, wait_for

    class Unreached:  # a scheduler no worker reaches
        def wait_for_workers(self, count: int, timeout: float) -> None:
            raise TimeoutError

    workers = ForkedWorkers(2)
    try:
        killed = workers.pids[0]
        os.kill(killed, signal.SIGTERM)
        while _running(killed):
            time.sleep(0.01)
        with pytest.raises(EngineError) as caught:
            if given_the_address:
                wait_for(Unreached(), workers, 2)
            else:
                workers.start("tcp://127.0.0.1:9")
    finally:
        workers.close()
    assert str(caught.value) == f"local Dask worker {killed} ended as it started (killed by SIGTERM)"
    assert caught.value.hint == "committed parts are kept: run the same command again to load the rest"


def test_a_local_worker_logs_no_heartbeat_error_once_the_coordinator_ends_the_engine() -> None:
    """Closing, a worker closes its connections under a heartbeat in flight, and Dask logged
    "Failed to communicate with scheduler during heartbeat" with a traceback on stderr after
    a load that succeeded. ``_serve`` quiets the worker before it closes (``quiet_at_close``),
    and a local cluster's spawned workers are quieted so too."""
    from distributed.comm.core import CommClosedError

    from loader.engines.forked import quiet_at_close

    seen: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    def heartbeat_fails() -> None:
        try:
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")
        except OSError:  # as Worker.heartbeat logs it
            logging.getLogger("distributed.worker").exception("Failed to communicate with scheduler during heartbeat.")

    handler = Seen()
    logging.getLogger("distributed").addHandler(handler)
    try:
        heartbeat_fails()
        assert seen == ["Failed to communicate with scheduler during heartbeat."]
        quiet_at_close()
        heartbeat_fails()
        logging.getLogger("distributed.core").error("Exception while handling op heartbeat_worker")
        assert seen == ["Failed to communicate with scheduler during heartbeat."]
    finally:
        logging.disable(logging.NOTSET)
        logging.getLogger("distributed").removeHandler(handler)


def in_a_process(script: str) -> Any:
    """What ``script``, run by a new interpreter with this checkout's loader, prints as JSON."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_local_clusters_workers_are_forked_from_the_coordinator_and_end_with_the_engine() -> None:
    script = (
        "import json, os\n"
        "from loader.engines import _dask_client\n"
        "from loader.engines.forked import forked_workers\n"
        "from loader.forking import can_fork\n"
        "assert can_fork()\n"
        "with forked_workers(2) as forked, _dask_client('local', 2, forked) as client:\n"
        "    names = sorted(w['name'] for w in client.scheduler_info()['workers'].values())\n"
        "    print(json.dumps([os.getpid(), list(client.run(os.getppid).values()), names, list(client.run(os.getpid).values())]))\n"
    )
    coordinator, parents, names, pids = in_a_process(script)
    assert parents == [coordinator] * 2
    assert names == ["loader-0", "loader-1"]
    assert not any(_running(pid) for pid in pids)  # waited for by the engine's end


def test_a_local_clusters_scheduler_and_forked_workers_listen_on_127_0_0_1_only() -> None:
    """A local load needs no network: Dask's worker protocol is unauthenticated (its ``run``
    takes pickled functions), and a forked worker once listened on every interface."""
    script = (
        "import json, psutil\n"
        "from loader.engines import _dask_client\n"
        "from loader.engines.forked import forked_workers\n"
        "with forked_workers(2) as forked, _dask_client('local', 2, forked) as client:\n"
        "    listening = {pid: sorted({c.laddr.ip for c in psutil.Process(pid).net_connections('inet')\n"
        "                             if c.status == 'LISTEN'}) for pid in [psutil.Process().pid, *forked.pids]}\n"
        "    print(json.dumps([list(client.scheduler_info()['workers']), list(listening.values())]))\n"
    )
    addresses, listening = in_a_process(script)
    assert len(addresses) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in addresses)
    assert listening == [["127.0.0.1"]] * 3  # the coordinator (scheduler), then each worker


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_local_workers_are_forked_unless_told_not_to_and_load_the_same_rows(tmp_path: Path, engine: str) -> None:
    paths = csv_files(tmp_path, files=1)
    loaded = {}
    for how, flags in (("forked", []), ("spawned", ["--no-fork-workers"])):
        target, report = tmp_path / f"{how}.db", tmp_path / f"{how}.json"
        args = ["load", str(paths[0]), str(target), "--table", "t", "--columns", "n=int64", "--quiet"]
        p = cli(*args, "--engine", engine, "--part-size", "16000", "--report", str(report), *flags)
        assert p.returncode == 0, p.stderr
        assert json.loads(report.read_text())["worker_start"] == how
        loaded[how] = contents(target, "sqlite")
    assert loaded["forked"] == loaded["spawned"] and len(loaded["forked"]) == 3000 - 15


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_local_workers_end_when_their_coordinator_is_killed(tmp_path: Path, engine: str) -> None:
    """No orphans: a pool's workers would wait on their task queue for ever, a forked Dask
    worker on its scheduler."""
    target, args = _load_args(tmp_path, engine)
    proc = _one_part_in(target, args)
    proc.kill()  # the coordinator alone
    proc.wait()
    spill = Path(str(target) + ".parts")
    workers = {int(line.rsplit(":", 1)[1]) for f in spill.glob("*.starts") for line in f.read_text().split()}
    assert workers
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in workers)
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert contents(target, "sqlite") == _threads_load(tmp_path, target, args)


def test_forked_workers_end_when_their_coordinator_is_killed_while_they_connect() -> None:
    """Killed (SIGKILL, the OOM killer) while its workers reach the scheduler, before they
    watch the pipe: they retried a dead scheduler for ever, holding the target open."""
    script = (
        "import socket, sys, time\n"
        "from loader.engines.forked import ForkedWorkers\n"
        "with socket.socket() as s:  # a port nothing listens on: the workers go on connecting\n"
        "    s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]\n"
        "workers = ForkedWorkers(2)\n"
        "workers.start(f'tcp://127.0.0.1:{port}')\n"
        "print(*workers.pids, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(1.0)  # they are in Worker(...) now, connecting
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def _one_part_in(target: Path, args: list[str]) -> subprocess.Popen[str]:
    """The load of ``args`` started, once it has committed a part and is still running."""
    proc = popen(*args)
    deadline = time.monotonic() + 60
    while _parts_committed(target) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the load finished before it could be stopped"
    return proc


def _kill_local_workers(tmp_path: Path, args: list[str], count: int) -> tuple[subprocess.Popen[str], list[int], str]:
    """Start the load, kill ``count`` of its forked workers mid-load; the load's end."""
    proc = _one_part_in(tmp_path / "t.db", args)
    os.kill(proc.pid, signal.SIGSTOP)  # mid-load, however fast this machine is
    assert proc.poll() is None, "the load finished before its workers could be killed"
    workers = _children(proc.pid)
    assert len(workers) == 2
    for pid in workers[:count]:
        os.kill(pid, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    return proc, workers[:count], err


def test_a_forked_local_worker_killed_mid_load_leaves_its_parts_to_the_other(tmp_path: Path) -> None:
    target, args = _load_args(tmp_path, "dask")
    proc, _, err = _kill_local_workers(tmp_path, args, 1)
    assert proc.returncode == 0, err
    assert contents(target, "sqlite") == _threads_load(tmp_path, target, args)
    assert len(contents(target, "sqlite")) == 40_000 - 2 * 95  # the rows whose n is "bad" are rejected


@pytest.mark.parametrize(
    "engine, killed, error",
    [
        # a pool whose worker died fails every part it holds (BrokenProcessPool)
        ("processes", 1, "a worker process of the local pool ended before its part was done"),
        # nothing restarts a forked Dask worker (a nanny would restart a spawned one)
        ("dask", 2, "every local Dask worker ended (pids {pids})"),
    ],
)
def test_local_workers_killed_mid_load_stop_it_with_an_engine_error_and_a_rerun_ends_it(
    tmp_path: Path, engine: str, killed: int, error: str
) -> None:
    """Said as the engine's error (exit 1), not an internal one, instead of waiting for ever;
    the committed parts are kept."""
    target, args = _load_args(tmp_path, engine)
    proc, workers, err = _kill_local_workers(tmp_path, args, killed)
    assert proc.returncode == 1, err
    assert err.splitlines()[-2:] == [
        "loader: error: " + error.format(pids=", ".join(map(str, workers))),
        "  hint: committed parts are kept: run the same command again to load the rest",
    ]
    assert _parts_committed(target) >= 1
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert len(contents(target, "sqlite")) == 40_000 - 2 * 95  # the rows whose n is "bad" are rejected


def _threads_load(tmp_path: Path, target: Path, args: list[str]) -> list[Any]:
    """What ``args`` (from ``_load_args``) load with ``threads`` into a target of their own."""
    clean = tmp_path / "clean.db"
    p = cli(*[clean.name if a == str(target) else a for a in args[:-4]], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return contents(clean, "sqlite")


def _load_args(tmp_path: Path, engine: str) -> tuple[Path, list[str]]:
    """Two CSV files of 20,000 rows each, loaded in parts of 40 KB on ``engine``."""
    paths = csv_files(tmp_path, files=2, rows=20_000)
    target = tmp_path / "t.db"
    args = ["load", *map(str, paths), str(target), "--table", "t", "--columns", "n=int64"]
    return target, [*args, "--engine", engine, "--part-size", "40000"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
    return sorted(out)


def _running(pid: int) -> bool:
    """A process that exists and is not a zombie (one its reparenting init has not reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _parts_committed(target: Path) -> int:
    if not target.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(conn.execute("SELECT count(*) FROM _loader_state WHERE key LIKE 'part:%'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_a_part_reads_whole_while_a_profiler_holds_the_frames_it_sampled(tmp_path: Path) -> None:
    """A Dask worker's sampling profiler holds the frames it sampled, and so their locals,
    past their return: views of the reader's buffers that outlive the calls that made them.
    Emulated here for every frame, deterministically, in the thread that reads."""
    path = tmp_path / "in.csv"
    path.write_text("id,note\n" + "".join(f"{i},note {i}\n" for i in range(60_000)), encoding="utf-8")
    config = SourceConfig(path=[str(path)])
    held: list[Any] = []

    def sample(frame: Any, event: str, arg: Any) -> None:
        if event == "return":
            held.append(frame)
            del held[:-100]

    sys.setprofile(sample)
    try:
        with open_reader(str(path), config, chunk_size=10_000, workers=1, part=(0, path.stat().st_size)) as reader:
            ids = [i for chunk in reader for i in chunk.batch.column("id").to_pylist()]
    finally:
        sys.setprofile(None)
    assert len(held) == 100
    assert ids == list(range(60_000))


UNIFORM_ENCRYPTION = Path(__file__).parent / "data" / "parquet-testing" / "uniform_encryption.parquet.encrypted"


def _ended(tmp_path: Path, name: str, sources: list[Path], flags: list[str]) -> tuple[Any, ...]:
    """A load's exit code, error line, and report's exit code and files (engine's name hidden)."""
    db, report = tmp_path / f"{name}.db", tmp_path / f"{name}.json"
    run = cli("load", *map(str, sources), str(db), "--table", "t", "--report", str(report), "--engine", name, *flags)
    data = json.loads(report.read_text())
    files = [(f["path"], f["status"], f["rows_written"]) for f in data["files"]]
    error = [line for line in run.stderr.splitlines() if line.startswith("loader: ")]
    return run.returncode, error[0], data["exit_code"], files


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_an_unreadable_parquet_file_fails_after_the_files_before_it_as_with_threads(
    tmp_path: Path, cluster: Any, engine: str
) -> None:
    """Planning its row groups raised pyarrow's own error: exit 1 ("internal error"), which
    a scheduler retries for ever, the report's files empty and nothing loaded."""
    good, cut = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), good)
    cut.write_bytes(good.read_bytes()[:100])
    flags = ["--scheduler", cluster.scheduler_address] if engine == "dask" else []
    ended = {name: _ended(tmp_path, name, [good, cut], flags if name == "dask" else []) for name in ("threads", engine)}
    assert (
        ended[engine]
        == ended["threads"]
        == (
            65,
            f"loader: error: {cut}: not a readable Parquet file (Parquet magic bytes not found in footer. "
            "Either the file is corrupted or this is not a parquet file.)",
            65,
            [(str(good), "loaded", 3), (str(cut), "incomplete", 0)],
        )
    )
    assert sqlite_rows(tmp_path / f"{engine}.db", "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]


def test_a_parquet_file_with_an_encrypted_footer_is_a_data_error_on_processes(tmp_path: Path) -> None:
    """pyarrow raises OSError (not ArrowInvalid) for a footer it cannot decrypt."""
    src = tmp_path / "enc.parquet"
    src.write_bytes(UNIFORM_ENCRYPTION.read_bytes())
    ended = {name: _ended(tmp_path, name, [src], []) for name in ("threads", "processes")}
    assert (
        ended["processes"]
        == ended["threads"]
        == (
            65,
            f"loader: error: {src}: not a readable Parquet file "
            "(Could not read encrypted metadata, no decryption found in reader's properties)",
            65,
            [(str(src), "incomplete", 0)],
        )
    )


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_nothing_loaded_ends_as_with_threads(tmp_path: Path, cluster: Any, engine: str) -> None:
    p = tmp_path / "eu.csv"
    p.write_text("a;b\n1;3,50\n2;4,25\n3;1,5\n")
    ended = {}
    for name in ("threads", engine):
        db, report = tmp_path / f"{name}.db", tmp_path / f"{name}.json"
        flags = ["--engine", name] + (["--scheduler", cluster.scheduler_address] if name == "dask" else [])
        run = cli("load", str(p), str(db), "--delimiter", ",", "--report", str(report), *flags)
        data = json.loads(report.read_text())
        counts = [data[k] for k in ("status", "exit_code", "rows_read", "rows_written", "rows_rejected")]
        counts.append(data["files"][0]["dialect"])
        ended[name] = (run.returncode, run.stderr.replace(name, "ENGINE").splitlines()[-2:], counts)
    assert ended[engine] == ended["threads"]
    assert ended[engine][0] == EXIT_NOTHING_LOADED == 4
    assert ended[engine][1][0] == (
        f"loader: error: {p}: nothing loaded: all 3 rows have 2 fields but the header has 1; "
        "the file looks ';'-delimited: try --delimiter ';'"
    )
    assert ended[engine][2][:5] == ["nothing_loaded", 4, 3, 0, 3]
    assert ended[engine][2][5]["delimiter"] == ","

    paths = csv_files(tmp_path, files=2)  # every row rejected or filtered out, over many parts
    errors = {}
    for name in ("threads", engine):
        config = job(paths, tmp_path / f"all-{name}.db", name, cluster.scheduler_address)
        config = replace(config, transform=[{"type": "filter", "where": "id < 0"}])
        with pytest.raises(NothingLoadedError) as caught:
            Pipeline(config).run()
        r = caught.value.report
        assert r.rows_read == r.rows_rejected + r.rows_filtered > 0 and r.rows_written == 0
        errors[name] = (str(caught.value).replace(name, "ENGINE"), r.rows_read, r.rows_rejected, r.status)
        assert name == "threads" or len(r.parts) > 3
    assert errors[engine] == errors["threads"]
    assert (
        errors[engine][0]
        == f"nothing loaded: {errors[engine][1]:,} rows read and none written: 30 rejected, {errors[engine][1] - 30:,} filtered out"
    )


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_progress_counts_each_part_when_its_worker_finishes_it(tmp_path: Path, cluster: Any, engine: str) -> None:
    """The first file's part waits (a python stage) until the coordinator has reported the
    three parts after it finished: so the progress must move before the first commit."""
    marker = tmp_path / "the-others-are-counted"
    paths = []
    for f in range(4):
        path = tmp_path / f"in{f}.csv"
        hold = str(marker) if f == 0 else ""
        path.write_text("id,hold\n" + "".join(f"{f * 100 + i},{hold}\n" for i in range(100)), encoding="utf-8")
        paths.append(path)
    events: list[tuple[str, dict[str, Any]]] = []

    def watch(name: str, data: dict[str, Any]) -> None:
        events.append((name, data))
        if sum(1 for n, _ in events if n == "part") == 3:
            marker.touch()

    config = JobConfig(
        source=SourceConfig(path=[str(p) for p in paths]),
        sink=SinkConfig(path=str(tmp_path / "t.db"), table="t"),
        transform=[{"type": "python", "function": "tests.engine_stages:hold_while_unmarked"}],
        run=RunConfig(engine=engine, scheduler=cluster.scheduler_address),  # type: ignore[arg-type]
    )
    report = Pipeline(config, on_event=watch, allow_python=True).run()
    assert report.rows_written == 400
    order = [(n, Path(d["path"]).name) for n, d in events if n in ("part", "progress")]
    assert sorted(order[:3]) == [("part", "in1.csv"), ("part", "in2.csv"), ("part", "in3.csv")]
    assert order[3:5] == [("part", "in0.csv"), ("progress", "in0.csv")]  # then the commits, in plan order
    finished = [d for n, d in events if n == "part"]
    sizes = [d["bytes"] for d in finished]
    assert sizes == [paths[int(Path(d["path"]).stem[2:])].stat().st_size for d in finished]
    assert [d["run_bytes_done"] for d in finished] == [sum(sizes[: i + 1]) for i in range(4)]
    assert [(p["rows_read"], p["retries"]) for p in report.parts] == [(100, 0)] * 4
    assert {p["worker"] for p in report.parts} == {d["worker"] for d in finished}


def test_a_globbed_file_moved_away_before_its_parts_are_read_is_a_rerun(tmp_path: Path) -> None:
    """An archiver moves a listed file out of the inbox while the parts of the one before it
    load: its part finds no file. Not the user's to fix (exit 75, class rerun); the report
    says why it was not read, and the rerun loads the rest with nothing to fix."""
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    inbox.mkdir(), archive.mkdir()
    paths = csv_files(inbox, files=3)
    target = tmp_path / "t.db"

    def move_after_a_part(name: str, data: dict[str, Any]) -> None:
        if name == "part" and paths[1].exists():
            os.replace(paths[1], archive / paths[1].name)

    config = job(paths, target, "processes")
    config = replace(
        config, source=replace(config.source, path=[str(inbox / "*.csv")]), run=replace(config.run, workers=1)
    )
    with pytest.raises(LoaderError) as err:
        Pipeline(config, on_event=move_after_a_part).run()
    assert str(err.value) == f"{paths[1]}: no such file: moved or deleted after the run listed its inputs"
    assert (err.value.exit_code, err.value.report.status) == (75, "failed")  # type: ignore[attr-defined]
    files = err.value.report.files  # type: ignore[attr-defined]
    assert [(Path(f.path).name, f.status) for f in files] == [("in0.csv", "loaded"), ("in1.csv", "unreadable")]
    again = Pipeline(config).run()
    assert (again.status, again.files_skipped, again.files_loaded) == ("ok", 1, 1)


def test_a_file_renamed_over_with_a_new_header_while_its_parts_are_read_is_changed_not_a_table_to_alter(
    tmp_path: Path,
) -> None:
    """A later part opens the path and reads the new file's header (`mame`): the error blamed
    the table and said to add --alter, which only reached `changed since it was loaded`."""
    src, new = tmp_path / "a.csv", tmp_path / "new.csv"
    rows = "".join(f"{i},n{i:06d}\n" for i in range(20_000))
    src.write_text("id,name\n" + rows)
    new.write_text("id,mame\n" + rows)  # same size

    def rename_after_a_part(name: str, data: dict[str, Any]) -> None:
        if name == "part" and new.exists():
            os.replace(new, src)

    config = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "t.db"), table="t"),
        run=RunConfig(engine="processes", workers=1, part_size=16_000),
    )
    with pytest.raises(SourceChangedError) as err:
        Pipeline(config, on_event=rename_after_a_part).run()
    assert str(err.value) == f"{src}: changed while it was read"


def test_a_file_rewritten_while_its_parts_are_read_is_not_marked_done(tmp_path: Path) -> None:
    """Its parts are read by other processes, each opening it: each checks, after its range
    is read, that it is still the file the run began with, and so does the last part's commit."""
    paths = csv_files(tmp_path, files=1)
    target = tmp_path / "t.db"

    commits: list[str] = []

    def rewrite_after_a_part(name: str, data: dict[str, Any]) -> None:
        commits.extend([name] if name == "progress" else [])  # a part's rows are committed
        if name == "progress" and len(commits) == 1:
            text = paths[0].read_bytes()
            with paths[0].open("r+b") as f:  # in place: a part opening it meanwhile never finds it empty
                f.write(text.replace(b"plain", b"PLAIN"))  # same size, same head and tail
            later = paths[0].stat().st_mtime_ns + 10**9  # however coarse the filesystem's clock
            os.utime(paths[0], ns=(later, later))

    with pytest.raises(SourceChangedError) as err:
        Pipeline(job(paths, target, "processes"), on_event=rewrite_after_a_part).run()
    assert str(err.value) == f"{paths[0]}: changed while it was read"
    state = sqlite_state(target)
    assert any(k.startswith("part:") for k in state)  # its parts before the last stay committed
    assert not state.get("file:" + str(paths[0]), {}).get("done")
    # each worker checks the file after its range is read: no part of the new version is committed
    assert sqlite_rows(target, "SELECT count(*) FROM t WHERE instr(note, 'PLAIN')") == [(0,)]
    # their rerun refuses the new version whatever run.on_change says: the hint says so
    back = "put the earlier version back (its modification time too) to finish it, or " + RELOAD_ALL_HINT
    assert err.value.hint == (
        "rerun once it is written whole: the parts committed from it stay, and a rerun refuses any other "
        f"version than theirs, whatever run.on_change says: {back}"
    )
    with pytest.raises(SourceChangedError, match="changed since parts of it were loaded") as err:
        Pipeline(job(paths, target, "processes")).run()
    assert err.value.hint == back


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_max_rejects_commits_the_part_that_passes_it_and_ends_the_parts_still_running(
    tmp_path: Path, cluster: Any, engine: str
) -> None:
    """in0.csv's part holds the first reject; in1.csv's worker holds its chunk until the
    coordinator halts the run: it ends unfinished, leaving nothing to commit or reuse."""
    target = tmp_path / "t.db"
    config = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "in0.csv"), str(tmp_path / "in1.csv")], columns={"v": "int64"}),
        sink=SinkConfig(path=str(target), table="t"),
        transform=[{"type": "python", "function": "tests.engine_stages:hold_while_unmarked"}],
        run=RunConfig(engine=engine, scheduler=cluster.scheduler_address, workers=2, max_rejects=0),  # type: ignore[arg-type]
    )
    halt = halt_path(Pipeline(config, allow_python=True))
    for f, hold in ((0, ""), (1, halt)):
        rows = "".join(f"{f * 100 + i},{'x' if (f, i) == (0, 5) else i},{hold}\n" for i in range(100))
        (tmp_path / f"in{f}.csv").write_text("id,v,hold\n" + rows, encoding="utf-8")
    t0 = time.monotonic()
    with pytest.raises(RejectLimitError) as caught:
        Pipeline(config, allow_python=True).run()
    assert time.monotonic() - t0 < HOLD_AT_MOST  # in1.csv's worker did not wait its hold out
    assert str(caught.value) == f"{tmp_path / 'in0.csv'}: 1 rows rejected, more than max_rejects = 0"
    r = caught.value.report
    assert [Path(p["path"]).name for p in r.parts] == ["in0.csv"]
    assert (r.rows_read, r.rows_written, r.rows_rejected) == (100, 99, 1)
    assert [(Path(f.path).name, f.status) for f in r.files] == [("in0.csv", "loaded")]  # in1.csv's turn never came
    manifests = [n for n in os.listdir(str(target) + ".parts") if n.endswith(".json")]
    assert manifests == []  # in1.csv's part is read again by the next run
    # a cluster's own workers may still be reading when the client leaves: theirs stays till the next run
    assert os.path.exists(halt) == (engine == "dask")
    _wait_idle(cluster)
    rerun = replace(config, transform=[], run=replace(config.run, max_rejects=None))
    again = Pipeline(rerun).run()
    assert (again.rows_read, again.rows_written, again.rows_rejected) == (100, 100, 0)
    assert len(sqlite_rows(target, "SELECT id FROM t")) == 199
    assert not os.path.exists(halt)
    assert len(reject_lines(str(target) + ".table-t.rejects.jsonl")) == 1


def _wait_idle(cluster: Any) -> None:
    """Until no worker of ``cluster`` runs a task (a part the last run left running ends)."""
    with distributed.Client(cluster) as client:
        deadline = time.monotonic() + 60  # a part's end on a busy machine; 0.1 s when idle
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)


def planned(tmp_path: Path, rows: int = 3000) -> tuple[JobConfig, Path, Any, list[Any]]:
    """A processes job over one CSV file, and the parts its plan cuts (as a worker gets them)."""
    paths = csv_files(tmp_path, files=1, rows=rows)
    target = tmp_path / "t.db"
    config = job(paths, target, "processes")
    pipe = Pipeline(config)
    types = encode_types(pipe._settle_types([str(p) for p in paths], {}))
    parts = plan_file(str(paths[0]), "csv", part_bytes=16_000).parts
    return config, target, (pipe, types), parts


def as_the_run_makes_it(pipe: Pipeline, part: Any, types: str, spill: str) -> PartTask:
    """A part's task as the run makes it for a new table: the table's number columns
    (``numeric``, in the name of the part's results) those the stages' output creates."""
    from loader.schema import decode_types, numeric_text
    from loader.transforms import output_schema
    from loader.writers.encode import sqlite_type

    out = output_schema(pipe.stages, pa.schema(list(decode_types(types).items())))
    declared = {f.name: sqlite_type(f.type) for f in out}
    numeric = numeric_text(str(pipe.job.sink.mode), declared, staged=bool(pipe.stages))
    return PartTask(pipe.job, pipe.job_name, pipe.table, part, types, spill, numeric=numeric)


def test_a_part_started_before_by_a_worker_that_died_counts_a_retry(tmp_path: Path) -> None:
    config, target, (pipe, types), parts = planned(tmp_path)
    task = as_the_run_makes_it(pipe, parts[2], types, str(target) + ".parts")
    os.makedirs(task.spill_dir)
    assert note_start(task) == 1  # as a worker killed in the middle of the part left it
    report = Pipeline(config).run()
    assert [p["retries"] for p in report.parts] == [0, 0, 1] + [0] * (len(parts) - 3)
    assert not os.path.exists(task.spill_dir)


def test_run_workers_sizes_the_local_pool(tmp_path: Path) -> None:
    paths = csv_files(tmp_path, files=1)
    config = job(paths, tmp_path / "t.db", "processes")
    report = Pipeline(replace(config, run=replace(config.run, workers=1))).run()
    assert report.workers == 1 and len(report.parts) > 3
    assert len({p["worker"] for p in report.parts}) == 1
    assert all(p["commit_seconds"] > 0 for p in report.parts)


def test_parts_seconds_adds_up_the_parts_and_the_phase_has_its_own_wall_time(tmp_path: Path) -> None:
    paths = csv_files(tmp_path, files=2)
    config = job(paths, tmp_path / "t.db", "processes")
    report = Pipeline(replace(config, run=replace(config.run, workers=2))).run()
    assert report.workers == 2 and len(report.parts) > 3
    assert report.parts_seconds == round(sum(p["seconds"] for p in report.parts), 3) > 0
    assert 0 < report.parts_elapsed_s <= report.elapsed_s


def test_a_planned_part_is_where_the_readers_scan_puts_it_so_its_worker_scans_nothing(tmp_path: Path) -> None:
    [path] = csv_files(tmp_path, files=1)
    planned = plan_file(str(path), "csv", part_bytes=16_000).parts
    assert len(planned) > 3 and all(p.line > 0 for p in planned)
    config = SourceConfig(path=[str(path)])
    with open_reader(str(path), config, workers=1, part=(0, 1)) as reader:
        for p in planned:
            assert p.end is not None
            assert bounds(reader, p.start, p.end, p.line) == bounds(reader, p.start, p.end)  # the plan's, the scan's


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_workers_do_not_import_pandas_for_loaders_own_conversions(tmp_path: Path, cluster: Any, engine: str) -> None:
    """As the command keeps pyarrow's pandas probe from importing it (loader.compat): the
    workers are where the memory goes."""
    paths = csv_files(tmp_path, files=1, rows=500)
    config = job(paths, tmp_path / "t.db", engine, cluster.scheduler_address)
    config = replace(config, transform=[{"type": "python", "function": "tests.engine_stages:refuse_pandas"}])
    report = Pipeline(config, allow_python=True).run()
    assert report.status == "ok" and report.rows_written == 500 - 3  # three rows' n is "bad"


def test_transforms_passed_in_python_are_refused_clearly(tmp_path: Path) -> None:
    paths = csv_files(tmp_path, files=1, rows=10)
    for step in ("plan", "run"):
        with pytest.raises(ConfigError, match="transforms passed in Python cannot travel to workers"):
            getattr(Pipeline(job(paths, tmp_path / "t.db", "processes"), transforms=[lambda b: b]), step)()


@pytest.mark.parametrize("dry_run", [False, True])
def test_standard_input_is_refused_off_threads_by_the_load_and_its_dry_run_alike(tmp_path: Path, dry_run: bool) -> None:
    target = tmp_path / "s.db"
    args = ["load", "-", str(target), "--table", "t", "--engine", "processes", *(["--dry-run"] if dry_run else [])]
    p = cli(*args, input="id,s\n1,a\n")
    assert (p.returncode, p.stderr) == (
        2,
        "loader: error: run.engine = 'processes': standard input cannot be read in parts\n"
        "  hint: use --engine threads\n",  # loader load's own flag, as its other hints name them
    )
    assert not target.exists()


@pytest.mark.parametrize(
    "stage",
    [
        {"type": "dedupe", "columns": ["id"]},
        {"type": "validate", "rules": {"id": {"unique": True}}},
    ],
)
def test_a_stage_that_remembers_rows_is_refused_off_threads(tmp_path: Path, stage: dict[str, Any]) -> None:
    """Each part would see only its own rows: duplicates across parts would load."""
    src = tmp_path / "d.csv"
    src.write_text("id\n" + "".join(f"{i % 10}\n" for i in range(100)))
    target = tmp_path / "d.db"
    job = write_job(tmp_path / "job.toml", source={"path": str(src)}, sink={"path": str(target), "table": "t"})
    job.write_text(job.read_text() + "[[transform]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in stage.items()))
    kind = stage["type"]
    # validate and --dry-run refuse it as the load does, with its message and exit code
    for engine in ("processes", "dask"):
        for command in (["run"], ["validate"], ["run", "--dry-run"]):
            p = cli(command[0], str(job), *command[1:], "--set", f"run.engine={engine}")
            threads = "--set run.engine=threads" if command == ["validate"] else "--engine threads"  # no key flags
            assert (p.returncode, p.stderr) == (
                2,
                f"loader: error: run.engine = '{engine}': stage transform[1] ({kind}) remembers rows across the load, "
                f"and each part would see only its own\n  hint: use {threads} for this job\n",
            ), command
    assert not target.exists()
    assert cli("run", str(job), "-q").returncode == 0
    assert sqlite3.connect(target).execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (10, 10)


def test_a_dask_worker_killed_mid_load_loses_and_doubles_nothing(tmp_path: Path, cluster: Any) -> None:
    paths = csv_files(tmp_path, files=2, rows=20_000)
    target = tmp_path / "t.db"
    client = distributed.Client(cluster)
    killed: list[int] = []

    def kill_one(event: str, data: dict[str, Any]) -> None:
        if event == "progress" and not killed:  # the first part is committed, others are running
            pids = client.run(os.getpid)
            killed.append(next(iter(pids.values())))
            os.kill(killed[0], signal.SIGKILL)

    try:
        config = job(paths, target, "dask", cluster.scheduler_address)
        report = Pipeline(config, on_event=kill_one).run()
    finally:
        client.close()
    assert killed
    assert report.status == "ok"
    expected = Pipeline(job(paths, tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")
    assert report.rows_written == expected.rows_written and report.rows_rejected == expected.rows_rejected


@pytest.mark.parametrize("engine", ["processes", "dask"])  # parts as Arrow files; as side databases (the default)
@pytest.mark.parametrize("mode", ["append", "upsert", "ignore"])
def test_every_mode_treats_repeated_keys_across_parts_as_threads_do(
    tmp_path: Path, cluster: Any, mode: str, engine: str
) -> None:
    parts_engine = engine
    paths = csv_files(tmp_path, files=1, rows=3000)
    again = tmp_path / "in1.csv"  # the same ids with new values: the second file updates or is ignored
    again.write_text(paths[0].read_text(encoding="utf-8").replace("plain", "PLAIN"), encoding="utf-8")
    results = []
    for engine in ("threads", parts_engine):
        config = job([paths[0], again], tmp_path / f"{engine}.db", engine, cluster.scheduler_address)
        config = JobConfig(
            config.source,
            SinkConfig(path=config.sink.path, table="t", mode=mode, primary_key=[] if mode == "append" else ["id"]),
            config.transform,
            # many chunks per part, each its own batch in the part's file
            replace(config.run, chunk_size=64, part_results="arrow" if engine == "processes" else "auto"),
        )
        report = Pipeline(config).run()
        assert (
            report.rows_read == report.rows_written + report.rows_rejected + report.rows_filtered + report.rows_ignored
        )
        results.append((contents(tmp_path / f"{engine}.db", "sqlite"), report.rows_written, report.rows_ignored))
    assert results[0] == results[1]
    rows = results[0][0]
    if mode == "append":
        assert len(rows) == 2 * len({r[0] for r in rows})  # both files' rows, each once
        return
    assert any(r[1] == ("PLAIN" if mode == "upsert" else "plain") for r in rows)
    assert not any(r[1] == ("plain" if mode == "upsert" else "PLAIN") for r in rows)


def test_a_part_finished_before_the_run_is_reused_not_read_again(tmp_path: Path) -> None:
    config, target, (pipe, types), parts = planned(tmp_path)
    spill = str(target) + ".parts"
    here = run_part(as_the_run_makes_it(pipe, parts[1], types, spill))  # as a worker would
    report = Pipeline(config).run()
    assert [p["id"] for p in report.parts] == [p.id for p in parts]
    assert report.parts[1]["worker"] == here.worker  # this process made it; the run reused it
    assert all(p["worker"] != here.worker for i, p in enumerate(report.parts) if i != 1)
    Pipeline(job([Path(p) for p in config.source.path], tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")


@pytest.mark.parametrize("first_done", ["first started", "last started"])
def test_two_executions_of_a_part_at_once_keep_their_files_apart_and_the_rows_load_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_done: str
) -> None:
    """A killed run's worker that lives on (a forked Dask worker) and the rerun's run one part
    at once: each writes its own files (``attempt_base``), so whichever manifest the run
    finds names whole files, and the part's rows load once; the other execution's files go
    at the end of the run. Under shared names the first to finish renamed the other's
    half-written side database into place, and the run booked the missing rows as ignored."""
    import threading

    from loader.engines import work

    config, target, (pipe, types), parts = planned(tmp_path)
    task = as_the_run_makes_it(pipe, parts[1], types, str(target) + ".parts")
    both_writing = threading.Barrier(2, timeout=60)
    first_gone = threading.Event()
    real = work._write_chunks

    def write_chunks(out: Any, *args: Any, **kwargs: Any) -> None:
        who = threading.current_thread().name
        both_writing.wait()  # both side writers made, under their names
        if who != first_done:
            assert first_gone.wait(60)
        real(out, *args, **kwargs)

    monkeypatch.setattr(work, "_write_chunks", write_chunks)
    results: dict[str, Any] = {}

    def execute(name: str) -> None:
        try:
            results[name] = run_part(task)
        except Exception as exc:  # the assertion below names it
            results[name] = exc
        finally:
            if name == first_done:  # the manifest there now names whole files, the other still writing
                found = work.finished(task)
                assert found is not None
                (side,) = found.files
                with contextlib.closing(sqlite3.connect(side)) as conn:
                    results["held then"] = (conn.execute("SELECT count(*) FROM t").fetchone()[0], found.rows_written)
                first_gone.set()

    threads = []
    for name in ("first started", "last started"):
        threads.append(threading.Thread(target=execute, args=(name,), name=name))
        threads[-1].start()
        wait_until(lambda: started(task) == len(threads), f"execution {len(threads)} started")
    for thread in threads:
        thread.join(60)
    held, counted = results.pop("held then")
    assert held == counted
    assert all(isinstance(r, work.PartResult) for r in results.values()), results
    a, b = results.values()
    assert a.files != b.files and a.rows_written == b.rows_written > 0
    monkeypatch.setattr(work, "_write_chunks", real)
    report = Pipeline(config).run()
    assert report.rows_ignored == 0 and report.parts[1]["worker"] == a.worker  # reused: this process made it
    Pipeline(job([Path(p) for p in config.source.path], tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")
    assert not os.path.exists(task.spill_dir)  # the other execution's files too


def started(task: PartTask) -> int:
    """The executions of ``task`` started (``note_start``'s lines)."""
    try:
        with open(task.prefix + ".starts", encoding="utf-8") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def test_a_side_database_short_of_its_manifests_rows_is_refused_and_the_rerun_reads_the_part_again(
    tmp_path: Path,
) -> None:
    """Defense in depth: the rows a side database lacks are never booked as ignored."""
    config, target, (pipe, types), parts = planned(tmp_path)
    result = run_part(as_the_run_makes_it(pipe, parts[1], types, str(target) + ".parts"))  # as a worker would
    (side,) = result.files
    with contextlib.closing(sqlite3.connect(side)) as conn, conn:
        conn.execute("DELETE FROM t WHERE rowid > 10")
    with pytest.raises(EngineError) as caught:
        Pipeline(config).run()
    assert caught.value.message == (
        f"{side}: the part's results hold 10 rows where its worker counted {result.rows_written:,}; "
        "nothing of the part was committed, and its results are removed"
    )
    assert not os.path.exists(side)
    report = Pipeline(config).run()
    assert report.rows_ignored == 0
    Pipeline(job([Path(p) for p in config.source.path], tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")


def test_a_part_whose_batches_change_schema_goes_to_a_file_per_schema_and_loads_whole(tmp_path: Path) -> None:
    from loader.engines.work import SQLiteArrowSide
    from loader.writers.sqlite import SQLiteWriter
    from tests.conftest import as_chunk

    config, target, (pipe, types), parts = planned(tmp_path)
    task = PartTask(pipe.job, pipe.job_name, pipe.table, parts[0], types, str(target) + ".parts")
    os.makedirs(task.spill_dir)
    schema = pa.schema({"id": pa.int64(), "note": pa.string()})
    side = SQLiteArrowSide(task, schema, task.prefix + ".a")
    batches = [
        pa.record_batch({"id": [1, 2], "note": ["a", "b"]}),
        pa.record_batch({"id": [3], "note": [7]}),  # a stage's output typed by its values
        pa.record_batch({"id": [4], "note": ["d"]}),
    ]
    assert sum(side.write(side.encode(as_chunk(b))) for b in batches) == 4
    files = side.close()
    assert len(files) == 3 and all(f.endswith(".arrow") and os.path.exists(f) for f in files)
    with SQLiteWriter(replace(config.sink, path=str(target)), "t") as writer:
        writer.prepare(schema, fresh=True)
        writer.merge_part(
            files, 4, "j", lambda written, ignored, refused: {"done": f"{written},{ignored},{len(refused)}"}
        )
        assert writer.read_state("j") == {"done": "4,0,0"}
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT id, note FROM t ORDER BY id").fetchall() == [
        (1, "a"),
        (2, "b"),
        (3, "7"),
        (4, "d"),
    ]  # TEXT affinity
    conn.close()


def test_a_local_cluster_loader_starts_runs_its_workers_without_the_sampling_profiler() -> None:
    import dask

    from loader.engines import _dask_client

    def profiling() -> bool:
        return bool(dask.config.get("distributed.worker.profile.enabled"))

    with _dask_client("local", 1) as client:
        assert list(client.run(profiling).values()) == [False]
    assert profiling()  # this process's configuration is as it was


def test_parts_travel_as_side_databases_unless_told_to_travel_as_arrow() -> None:
    from loader.engines import result_side

    assert result_side() == result_side("auto") == result_side("database") == "database"
    assert result_side("arrow") == "arrow"


@pytest.mark.parametrize("side", ["database", "arrow"])
def test_parts_as_side_databases_or_arrow_files_load_the_same_rows(tmp_path: Path, side: str) -> None:
    paths = csv_files(tmp_path, files=1)
    threads = Pipeline(job(paths, tmp_path / "threads.db", "threads")).run()
    conn = sqlite3.connect(tmp_path / "db.db")
    conn.execute("CREATE TABLE other (x)")  # a target of SQLite's default page size; side databases take 32 KiB
    conn.close()
    config = job(paths, tmp_path / "db.db", "processes")
    report = Pipeline(replace(config, run=replace(config.run, part_results=side))).run()  # type: ignore[arg-type]
    assert len(report.parts) > 3
    assert contents(tmp_path / "db.db", "sqlite") == contents(tmp_path / "threads.db", "sqlite")
    pages = {}
    for name in ("db.db", "threads.db"):
        with contextlib.closing(sqlite3.connect(tmp_path / name)) as conn:
            pages[name] = conn.execute("PRAGMA page_size").fetchone()[0]
    assert pages == {"db.db": 4096, "threads.db": 32768}
    assert (report.rows_written, report.rows_rejected) == (threads.rows_written, threads.rows_rejected)
    p = cli("load", str(paths[0]), str(tmp_path / "x.db"), "--engine", "processes", "--set", "run.part_results=sql")
    assert p.returncode == 2 and "run.part_results" in p.stderr


@pytest.mark.parametrize("sink_settings", [{"sort": "never"}, {"mode": "ignore"}], ids=["never", "ignore"])
def test_leveldb_parts_written_at_their_commit_hold_what_threads_writes(
    tmp_path: Path, sink_settings: dict[str, str]
) -> None:
    """Under ``sort = never`` or ``ignore`` a part's runs are merged into WriteBatches when
    it commits (not adopted into one merge at the end)."""
    paths = csv_files(tmp_path, files=1)
    results = []
    for engine in ("threads", "processes"):
        config = job(paths, tmp_path / f"{engine}.ldb", engine, sink="leveldb")
        config = replace(config, sink=replace(config.sink, **sink_settings))
        report = Pipeline(config).run()
        assert report.rows_read == (
            report.rows_written + report.rows_rejected + report.rows_filtered + report.rows_ignored
        )
        results.append((contents(tmp_path / f"{engine}.ldb", "leveldb"), report.rows_written, report.rows_ignored))
    assert results[0] == results[1]
    assert len(results[0][0]) > 2000


def test_a_dask_engine_starts_on_a_thread_while_the_load_goes_on_and_ends_on_that_thread() -> None:
    import contextlib
    import threading

    from loader.engines import _in_background

    seen: list[tuple[str, int]] = []
    go = threading.Event()

    @contextlib.contextmanager
    def slow_start() -> Iterator[int]:
        go.wait(10)
        seen.append(("entered", threading.get_ident()))
        yield 42
        seen.append(("exited", threading.get_ident()))

    with _in_background(slow_start) as ready:
        seen.append(("caller went on", threading.get_ident()))
        go.set()
        assert ready() == 42
    assert [what for what, _ in seen] == ["caller went on", "entered", "exited"]
    assert seen[1][1] == seen[2][1] != seen[0][1]


def test_a_dask_engine_that_fails_to_start_says_so_at_its_first_use() -> None:
    import dask

    from loader.engines import open_engine

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        open_engine("dask", "tcp://127.0.0.1:9", None) as (_, workers, _, _),  # nothing listens there
        pytest.raises(EngineError, match=r"^cannot reach the Dask scheduler tcp://127\.0\.0\.1:9: ") as caught,
    ):
        workers()
    assert caught.value.exit_code == 1 and isinstance(caught.value, ConnectionError)


def _one_part(tmp_path: Path, sink: str) -> PartTask:
    """The whole of a CSV file as one part, its results in small pieces: side database
    commits of 500 rows, sorted runs of 4 KiB."""
    paths = csv_files(tmp_path, files=1)
    config = job(paths, tmp_path / ("t.db" if sink == "sqlite" else "t.ldb"), "processes", sink=sink)
    config = replace(config, sink=replace(config.sink, batch_size=500))
    pipe = Pipeline(config)
    types = encode_types(pipe._settle_types([str(p) for p in paths], {}))
    (part,) = plan_file(str(paths[0]), "csv", part_bytes=1 << 30).parts
    return PartTask(pipe.job, pipe.job_name, pipe.table, part, types, str(tmp_path / "spill"))


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_parts_files_are_fsynced_on_a_thread_and_all_durable_before_its_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: str
) -> None:
    import threading

    from loader import files
    from loader.engines import work

    task = _one_part(tmp_path, sink)
    events: list[tuple[str, str, bool]] = []  # (what, file, on the part's own thread)
    me = threading.get_ident()

    def synced(real: Any) -> Any:
        def sync(path: str) -> None:
            real(path)
            events.append(("sync", os.path.basename(path), threading.get_ident() == me))

        return sync

    def manifest(path: str, result: Any) -> None:
        events.append(("manifest", os.path.basename(path), True))
        real_manifest(path, result)

    real_manifest = work._write_manifest
    monkeypatch.setattr(work, "fsync_path", synced(work.fsync_path))
    monkeypatch.setattr(files, "fsync_path", synced(files.fsync_path))  # EarlyFsync's
    monkeypatch.setattr(work, "make_durable", synced(work.make_durable))
    monkeypatch.setattr(work, "_write_manifest", manifest)
    monkeypatch.setattr(work, "SPILL_BYTES", 4096)
    result = run_part(task)
    at = events.index(("manifest", os.path.basename(work.manifest_path(task.prefix)), True))
    before, after = events[:at], events[at + 1 :]
    if sink == "sqlite":
        partial = os.path.basename(result.files[0]) + ".partial"
        syncs = [here for what, f, here in before if f == partial]
        assert False in syncs and syncs[-1] is True  # early ones on a thread, then the whole file's
    else:
        runs = sorted(os.path.basename(f) for f in result.files)
        assert len(runs) > 5 and sorted(f for _, f, here in before if f in runs and not here) == runs
    assert not any(f in (partial if sink == "sqlite" else runs) for _, f, _ in after)
    assert work.finished(task) is not None


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_failed_fsync_on_the_parts_thread_fails_the_part_and_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: str
) -> None:
    import errno
    import threading

    from loader import files
    from loader.engines import work

    task = _one_part(tmp_path, sink)
    me = threading.get_ident()

    def failing(path: str) -> None:
        if threading.get_ident() != me:  # the background fsync: Linux reports a lost writeback once
            raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(work, "fsync_path", failing)
    monkeypatch.setattr(files, "fsync_path", failing)
    monkeypatch.setattr(work, "make_durable", failing)
    monkeypatch.setattr(work, "SPILL_BYTES", 4096)
    with pytest.raises(OSError) as caught:
        run_part(task)
    assert caught.value.errno == errno.EIO
    assert work.finished(task) is None
    assert not os.path.exists(work.manifest_path(task.prefix))


def test_a_side_database_is_copied_in_attached_read_only(tmp_path: Path) -> None:
    """Read-only, the attached part takes no write transaction: the commit touches one
    database, so SQLite makes no super-journal a kill could leave beside the target."""
    from loader.writers.sqlite import SQLiteWriter

    side = tmp_path / "part?#1.db"  # characters a URI must escape
    conn = sqlite3.connect(side)
    conn.execute("CREATE TABLE t (id INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    conn.commit()
    conn.close()
    config, target, _, _ = planned(tmp_path)
    refused: list[str] = []

    def entries(written: int, ignored: int, left_out: list[Any]) -> dict[str, str]:
        assert writer.conn is not None
        try:  # inside the copy's transaction, before its commit
            writer.conn.execute("INSERT INTO part.t VALUES (3)")
        except Exception as exc:  # ADBC's error for SQLite's
            refused.append(str(exc))
        return {"done": f"{written},{ignored}"}

    with SQLiteWriter(replace(config.sink, path=str(target)), "t") as writer:
        writer.prepare(pa.schema({"id": pa.int64()}), fresh=True)
        writer.merge_part([str(side)], 2, "j", entries)
        assert writer.read_state("j") == {"done": "2,0"}
    assert len(refused) == 1 and "readonly database" in refused[0]
    assert sqlite3.connect(target).execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    assert sqlite3.connect(side).execute("SELECT count(*) FROM t").fetchall() == [(2,)]


def test_a_part_made_under_other_source_options_is_not_reused(tmp_path: Path) -> None:
    """Parsed with other null_values, a leftover part's rows are not this run's."""
    _config, target, (pipe, types), parts = planned(tmp_path)
    task = as_the_run_makes_it(pipe, parts[0], types, str(target) + ".parts")
    other = replace(task, job=replace(task.job, source=replace(task.job.source, null_values=["NONE"])))
    assert task.prefix != other.prefix
    more = replace(task, job=replace(task.job, source=replace(task.job.source, path=["another/*.csv"])))
    assert task.prefix == more.prefix  # the paths name the files; the part names its own


def test_threads_refuse_a_file_half_loaded_in_parts(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,n\n" + "".join(f"{i},{'oops' if i == 6000 else i}\n" for i in range(20_000)))
    args = [str(src), str(tmp_path / "t.db"), "--table", "t", "--columns", "n=int64", "-q"]
    parts = ["--engine", "processes", "--workers", "2", "--part-size", "40000", "--max-rejects", "0"]
    assert cli("load", *args, *parts).returncode == 3  # parts before the reject's are committed
    rerun = cli("load", *args)
    assert rerun.returncode == 78  # a config error while the target holds this job's commits
    assert rerun.stderr.startswith(
        f"loader: error: {src}: half loaded in parts by an earlier run with run.engine = 'processes' or 'dask'\n"
        "  hint: finish that load with the same --engine, or rerun with --restart --mode replace "
        "(every file of the job loads again)"
    )
    assert cli("load", *args, "--engine", "processes", "--part-size", "40000").returncode == 0
    assert sqlite_rows(tmp_path / "t.db", "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]


def test_the_hint_of_a_file_half_loaded_in_parts_loads_each_row_once_when_followed(tmp_path: Path) -> None:
    """It said "reload it with --restart": in append mode --restart alone loads the committed
    parts' rows a second time. Its --mode replace loads each row once."""
    src = tmp_path / "in.csv"
    src.write_text("id,n\n" + "".join(f"{i},{'oops' if i == 6000 else i}\n" for i in range(20_000)))
    args = [str(src), str(tmp_path / "t.db"), "--table", "t", "-q"]
    parts = ["--engine", "processes", "--workers", "2", "--part-size", "40000", "--max-rejects", "0"]
    assert cli("load", *args, "--columns", "n=int64", *parts).returncode == 3
    rerun = cli("load", *args, "--columns", "n=int64")
    hint = rerun.stderr.splitlines()[1]
    assert hint.endswith("or rerun with --restart --mode replace (every file of the job loads again)"), hint
    assert cli("load", *args, "--columns", "n=string", "--restart", "--mode", "replace").returncode == 0
    assert sqlite_rows(tmp_path / "t.db", "SELECT count(*), count(DISTINCT id) FROM t") == [(20_000, 20_000)]


# spawned: as an object-storage input has them (the AWS SDK's thread makes a fork unsafe)
@pytest.mark.parametrize("flags", [[], ["--no-fork-workers"]], ids=["forked", "spawned"])
def test_a_part_that_fails_on_a_dask_worker_is_one_line_not_the_workers_traceback(
    tmp_path: Path, flags: list[str]
) -> None:
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(50_000)))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\n")  # an empty header line (a file of no text is passed over)
    db = tmp_path / "e.db"
    p = cli("load", str(big), str(empty), str(db), "--table", "t", "--engine", "dask", "--workers", "2", "-q", *flags)
    assert (p.returncode, p.stderr) == (
        65,
        f"loader: error: {empty}, line 1: header row is empty\n"
        "  hint: fix or replace the file, then rerun: the files before it stay loaded\n",
    )
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(50_000,)]


def test_a_file_changed_after_parts_of_it_were_committed_is_a_changed_source(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,n\n" + "".join(f"{i},{'oops' if i == 6000 else i}\n" for i in range(20_000)))
    args = [str(src), str(tmp_path / "t.db"), "--table", "t", "--columns", "n=int64", "-q", "--engine", "processes"]
    args += ["--workers", "2", "--part-size", "40000"]
    assert cli("load", *args, "--max-rejects", "0").returncode == 3
    src.write_text("id,n\n" + "".join(f"{i},{i}\n" for i in range(30_000)))  # another version: other part ids
    rerun = cli("load", *args)
    assert rerun.returncode == 65
    assert rerun.stderr.startswith(
        f"loader: error: {src}: changed since parts of it were loaded: its committed parts are not this version's\n"
    )


def _edit_in_place(path: Path, old: bytes, new: bytes) -> None:
    """``old`` replaced by ``new`` (as long) in ``path`` between its first and last 64 KiB,
    written in place, and its mtime moved on (however coarse the filesystem's clock): its
    size and its head and tail digest stay, so its parts keep their ids."""
    data = path.read_bytes()
    at = data.index(old, 64 << 10)
    assert len(new) == len(old) and at + len(old) <= len(data) - (64 << 10)
    with path.open("r+b") as f:
        f.seek(at)
        f.write(new)
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_a_file_rewritten_in_place_after_parts_of_it_were_committed_stops_the_rerun(
    tmp_path: Path, cluster: Any, engine: str
) -> None:
    """As with threads: the rerun does not finish the new version over the old one's rows."""
    src, target = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,n,name\n" + "".join(f"{i},{'x' if i == 15_000 else i},n{i}\n" for i in range(20_000)))
    scheduler = cluster.scheduler_address if engine == "dask" else None
    config = JobConfig(
        source=SourceConfig(path=[str(src)], columns={"n": "int64"}),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine=engine, scheduler=scheduler, workers=2, part_size=40_000, max_rejects=0),  # type: ignore[arg-type]
    )
    with pytest.raises(RejectLimitError):
        Pipeline(config).run()
    kept = sqlite_rows(target, "SELECT count(*), max(id) FROM t")
    assert 8_000 < kept[0][1] < 19_999  # the parts up to the reject's are committed
    _edit_in_place(src, b"\n8000,8000,n8000\n", b"\n8000,8000,N8000\n")  # a committed part's row
    with pytest.raises(SourceChangedError) as caught:
        Pipeline(replace(config, run=replace(config.run, max_rejects=None))).run()
    assert (
        str(caught.value) == f"{src}: changed since parts of it were loaded: its committed parts are not this version's"
    )
    assert caught.value.exit_code == 65
    assert sqlite_rows(target, "SELECT count(*), max(id) FROM t") == kept
    assert sqlite_rows(target, "SELECT name FROM t WHERE id = 8000") == [("n8000",)]


def test_an_unchanged_file_whose_parts_this_run_cuts_otherwise_is_not_called_changed(tmp_path: Path) -> None:
    """A loader upgraded in the middle of a load cut the same file otherwise (14241c4): the
    rerun said it "changed since parts of it were loaded", exit 65, which no fix of the input
    nor run.on_change helps. It says the cuts changed, not the file, and how to go on."""
    src, target = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,n\n" + "".join(f"{i},{'x' if i == 15_000 else i}\n" for i in range(20_000)))
    config = JobConfig(
        source=SourceConfig(path=[str(src)], columns={"n": "int64"}),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine="processes", workers=2, part_size=40_000, max_rejects=0),
    )
    with pytest.raises(RejectLimitError):
        Pipeline(config).run()
    kept = sqlite_rows(target, "SELECT count(*) FROM t")
    with sqlite3.connect(target) as conn:  # the committed parts as another plan named them
        conn.execute("UPDATE _loader_state SET key = key || '0' WHERE key LIKE 'part:%'")
    with pytest.raises(ConfigError) as caught:
        Pipeline(replace(config, run=replace(config.run, max_rejects=None))).run()
    assert str(caught.value) == (
        f"{src}: half loaded in parts this run cuts otherwise: the file is unchanged, how it is cut changed "
        "(a newer version of loader, or flags such as --skip-rows or --quote-char)"
    )
    assert caught.value.hint == (
        "finish it with the loader and flags that began it, or rerun with --restart --mode replace "
        "(every file of the job loads again)"
    )
    assert caught.value.exit_code == 78
    assert sqlite_rows(target, "SELECT count(*) FROM t") == kept


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_a_file_half_loaded_in_parts_resumes_through_a_linked_folder(
    tmp_path: Path, cluster: Any, engine: str, sink: str
) -> None:
    """Stopped after some parts of ``a/x.csv`` committed, resumed as ``link/x.csv``
    (``link -> a``): the parts' ids and entries were of the first name, so the rerun loaded
    every part again (the committed rows twice, exit 0, ``a/x.csv`` reported gone)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    src, linked = tmp_path / "a" / "x.csv", tmp_path / "link" / "x.csv"
    src.write_text("id,n,name\n" + "".join(f"{i},{'x' if i == 15_000 else i},n{i}\n" for i in range(20_000)))
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    sink_config = (
        SinkConfig(path=str(target), table="t") if sink == "sqlite" else SinkConfig(path=str(target), key="r:{id}")
    )
    scheduler = cluster.scheduler_address if engine == "dask" else None
    config = JobConfig(
        source=SourceConfig(path=[str(src)], columns={"n": "int64"}),
        sink=sink_config,
        run=RunConfig(engine=engine, scheduler=scheduler, workers=2, part_size=40_000, max_rejects=0),  # type: ignore[arg-type]
    )
    with pytest.raises(RejectLimitError) as caught:
        Pipeline(config).run()
    first = caught.value.report.rows_written
    assert 0 < first < 19_999
    resumed = replace(
        config, source=replace(config.source, path=[str(linked)]), run=replace(config.run, max_rejects=None)
    )
    report = Pipeline(resumed).run()
    assert [(f.path, f.status) for f in report.files] == [(str(linked), "resumed")]
    assert (report.files_gone, first + report.rows_written) == (0, 19_999)
    if sink == "sqlite":
        assert sqlite_rows(target, "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]
    else:
        assert len(contents(target, sink)) == 19_999
    again = Pipeline(resumed).run()
    assert (again.rows_written, again.files_gone, [f.status for f in again.files]) == (0, 0, ["skipped"])


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_a_file_rewritten_in_place_after_a_signal_stopped_its_load_stops_the_rerun(tmp_path: Path, engine: str) -> None:
    target, args = _load_args(tmp_path, engine)
    returncode, err = _signal_group_mid_load(target, args, signal.SIGTERM)
    assert returncode == 143, err
    state = sqlite_state(target)
    half = {e["path"] for k, e in state.items() if k.startswith("part:")} - {
        e["path"] for k, e in state.items() if k.startswith("file:") and e["done"]
    }
    assert len(half) == 1  # in0.csv, its parts partly committed
    src = Path(half.pop())
    kept = sqlite_rows(target, "SELECT count(*) FROM t")
    _edit_in_place(src, b",plain,", b",PLAIN,")
    again = cli(*args)
    assert again.returncode == 65, again.stderr
    assert again.stderr.splitlines()[0] == (
        f"loader: error: {src}: changed since parts of it were loaded: its committed parts are not this version's"
    )
    assert sqlite_rows(target, "SELECT count(*) FROM t") == kept


def test_parts_committed_before_they_recorded_their_files_identity_still_resume(tmp_path: Path) -> None:
    src, target = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,n\n" + "".join(f"{i},{'x' if i == 15_000 else i}\n" for i in range(20_000)))
    args = [str(src), str(target), "--table", "t", "--columns", "n=int64", "-q", "--engine", "processes"]
    args += ["--workers", "2", "--part-size", "40000"]
    assert cli("load", *args, "--max-rejects", "0").returncode == 3
    conn = sqlite3.connect(target)
    with conn:  # as a run before parts recorded it left them
        for key, value in conn.execute("SELECT key, value FROM _loader_state WHERE key LIKE 'part:%'").fetchall():
            entry = json.loads(value)
            assert entry.pop("identity")["size"] == src.stat().st_size
            conn.execute("UPDATE _loader_state SET value = ? WHERE key = ?", (json.dumps(entry), key))
    conn.close()
    rerun = cli("load", *args)
    assert rerun.returncode == 0, rerun.stderr
    assert sqlite_rows(target, "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]


def test_a_part_finished_from_another_version_of_its_file_is_not_reused(tmp_path: Path) -> None:
    """A part's results left in the spill directory are of the file as it was then: rewritten
    in place since (same size, head and tail: the part's id is the same), it is read again."""
    config, target, (pipe, types), parts = planned(tmp_path, rows=20_000)
    src = Path(config.source.path[0])
    middle = next(i for i, p in enumerate(parts) if p.start <= src.stat().st_size // 2 < (p.end or 0))
    before = run_part(as_the_run_makes_it(pipe, parts[middle], types, str(target) + ".parts"))
    old = src.read_bytes()[parts[middle].start : parts[middle].end]
    _edit_in_place(src, old, old.replace(b"plain", b"PLAIN"))
    report = Pipeline(config).run()
    assert [p["id"] for p in report.parts] == [p.id for p in parts]  # the same ids
    assert report.parts[middle]["worker"] != before.worker  # read again by the run's own workers
    Pipeline(job([src], tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")


def oops_at_row_30001(
    tmp_path: Path, cluster: Any, engine: str, stage: dict[str, Any], **run: Any
) -> tuple[Path, JobConfig]:
    """40,000 rows in parts of 64 KiB, ``oops`` in column v of row 30,001, a two-line note in
    every 1000th row (no line is known in its block), and the job that runs ``stage`` on them."""
    src = tmp_path / "in.csv"
    notes = ['"two\nlines"' if i % 1000 == 0 else "x" for i in range(40_001)]
    rows = (f"{i},{'oops' if i == 30_001 else i},{notes[i]}\n" for i in range(1, 40_001))
    src.write_text("id,v,note\n" + "".join(rows), encoding="utf-8")
    scheduler = cluster.scheduler_address if engine == "dask" else None
    return src, JobConfig(
        source=SourceConfig(path=[str(src)], columns={"v": "string"}),
        sink=SinkConfig(path=str(tmp_path / "t.db"), table="t"),
        transform=[stage],
        run=RunConfig(engine=engine, scheduler=scheduler, part_size=65_536, **run),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "stage, why",
    [
        ({"type": "cast", "columns": {"v": "int64"}, "on_error": "fail"}, "'oops' is not a valid int64"),
        (
            {"type": "validate", "rules": {"v": {"regex": "^[0-9]+$"}}, "on_error": "fail"},
            "rule regex='^[0-9]+$' failed for v: 'oops'",
        ),
    ],
    ids=["cast", "validate"],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_a_stage_that_fails_names_the_row_counted_from_the_files_start_on_every_engine(
    tmp_path: Path, cluster: Any, engine: str, stage: dict[str, Any], why: str
) -> None:
    """A part's worker numbers its rows from the part's start; the error names the file's row.
    A multi-line value in the row's block: no line is known, the row is shown."""
    src, config = oops_at_row_30001(tmp_path, cluster, engine, stage)
    with pytest.raises(TransformError) as caught:
        Pipeline(config).run()
    assert (caught.value.file, caught.value.row, caught.value.line, caught.value.column) == (
        str(src),
        30_001,
        None,
        "v",
    )
    assert str(caught.value) == f"transform[1] ({stage['type']}): {src}, row 30001, column 'v': {why}"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_batch_function_that_raises_names_its_batchs_rows_counted_from_the_files_start_on_every_engine(
    tmp_path: Path, cluster: Any, engine: str
) -> None:
    """A batch function's failure names the batch's first and last row (no line is known where
    multi-line values are): a part's worker numbers both from the part's start."""
    stage = {"type": "python", "function": "tests.engine_stages:refuse_oops"}
    src, config = oops_at_row_30001(tmp_path, cluster, engine, stage, chunk_size=1000)
    with pytest.raises(TransformError) as caught:
        Pipeline(config, allow_python=True).run()
    first, last = caught.value.row, caught.value.last_row
    assert first is not None and last is not None
    assert first <= 30_001 <= last and last - first < 1000
    assert (caught.value.line, caught.value.last_line) == (None, None)
    assert str(caught.value) == (
        f"transform[1] (python): {src}, rows {first}-{last}: the function raised ValueError: oops"
    )


@pytest.mark.parametrize(
    "engine, side", [("threads", "database"), ("processes", "database"), ("processes", "arrow"), ("dask", "database")]
)
@pytest.mark.parametrize("alter", [True, False])
def test_a_row_functions_new_column_is_added_with_alter_on_every_engine(
    tmp_path: Path, cluster: Any, engine: str, side: str, alter: bool
) -> None:
    """The stages' output schema cannot show a row function's new column: the table takes
    it on as the rows come (``sink.alter``), or the error names the file, as with threads."""
    src, target = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,v\n1,a\n2,b\n3,c\n", encoding="utf-8")
    scheduler = cluster.scheduler_address if engine == "dask" else None
    config = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(target), table="t", alter=alter),
        transform=[{"type": "python", "function": "tests.engine_stages:add_tenfold", "mode": "row"}],
        run=RunConfig(engine=engine, scheduler=scheduler, part_results=side),  # type: ignore[arg-type]
    )
    if not alter:
        with pytest.raises(SchemaMismatchError) as caught:
            Pipeline(config, allow_python=True).run()
        assert str(caught.value) == f"{src}, column 'x': table 't' has no column 'x'"
        assert caught.value.exit_code == 65
        return
    report = Pipeline(config, allow_python=True).run()
    assert report.rows_written == 3
    assert sqlite_rows(target, "SELECT id, v, x FROM t ORDER BY id") == [(1, "a", 10), (2, "b", 20), (3, "c", 30)]
    assert sqlite_rows(target, "SELECT type FROM pragma_table_info('t') WHERE name = 'x'") == [("INTEGER",)]


def test_a_rejects_line_is_given_where_the_engines_reader_knows_it(tmp_path: Path) -> None:
    """A multi-line value in row 1: threads' one block holds it and gives no line; the part
    that holds row 30001 has none, so processes gives its line (docs/reliability.md)."""
    src = tmp_path / "in.csv"
    rows = "".join(f"{i},{'oops' if i == 30_001 else i},x\n" for i in range(2, 40_001))
    src.write_text('id,v,note\n1,1,"two\nlines"\n' + rows, encoding="utf-8")
    found = {}
    for engine in ("threads", "processes"):
        config = JobConfig(
            source=SourceConfig(path=[str(src)], columns={"v": "int64"}),
            sink=SinkConfig(path=str(tmp_path / f"{engine}.db"), table="t"),
            run=RunConfig(engine=engine, part_size=65_536),  # type: ignore[arg-type]
        )
        report = Pipeline(config).run()
        found[engine] = [json.loads(line) for line in reject_lines(str(report.rejects_path))]
    assert [(r["row"], r.get("line")) for r in found["threads"]] == [(30_001, None)]
    assert [(r["row"], r.get("line")) for r in found["processes"]] == [(30_001, 30_003)]


def test_processes_append_into_a_table_of_other_columns_keeps_append_semantics(tmp_path: Path) -> None:
    """A part copied column by column (the table's order differs, or it has more columns) is
    appended: a repeated key is rejected as with threads, and without a key nothing is skipped."""
    src = tmp_path / "d.csv"
    src.write_text("id,name\n1,a\n1,dup\n2,b\n")
    keyed = tmp_path / "k.db"
    with sqlite3.connect(keyed) as conn:
        conn.execute("CREATE TABLE d (name TEXT, id INTEGER PRIMARY KEY)")
    p = cli("load", str(src), str(keyed), "--table", "d", "--primary-key", "id", "--engine", "processes", "-q")
    assert p.returncode == 0
    [reject] = [json.loads(line) for line in reject_lines(f"{keyed}.table-d.rejects.jsonl")]
    assert (reject["line"], reject["reason"]) == (3, "key 1 is already in table 'd' (UNIQUE constraint failed: d.id)")
    assert sqlite_rows(keyed, "SELECT name, id FROM d ORDER BY id") == [("a", 1), ("b", 2)]
    plain = tmp_path / "p.db"
    with sqlite3.connect(plain) as conn:
        conn.execute("CREATE TABLE d (extra TEXT, name TEXT, id INTEGER)")
    assert cli("load", str(src), str(plain), "--table", "d", "--engine", "processes", "-q").returncode == 0
    assert sqlite_rows(plain, "SELECT extra, name, id FROM d ORDER BY rowid") == [
        (None, "a", 1),
        (None, "dup", 1),
        (None, "b", 2),
    ]


def test_a_parts_results_go_with_the_temporary_manifest_a_killed_worker_left(tmp_path: Path) -> None:
    """A worker killed while it wrote its part's manifest leaves it under its temporary
    name (``files.replace_file``'s ``.<name>.<random>.tmp``); once the part is committed
    (by the worker that did it again) its results go, that file with them, and the parts
    directory can go."""
    from loader.engines import _remove_results
    from loader.engines.work import manifest_path

    task = _one_part(tmp_path, "leveldb")
    result = run_part(task)
    assert result.files
    spill = tmp_path / "spill"
    left = spill / f".{os.path.basename(manifest_path(task.prefix))}.0wuhdlj6.tmp"
    left.write_text('{"rows_', encoding="utf-8")
    other = spill / ".another-part.json.0wuhdlj6.tmp"  # another part's, not committed yet
    other.write_text("{", encoding="utf-8")
    _remove_results(task.prefix)
    assert sorted(p.name for p in spill.iterdir()) == [other.name]


# A process of a pool (issue 21): at most 150 MB. Growth over the parts of one load: none
# but a little warm-up, far below the MB a part would leave behind if its memory outlived it.
WORKER_TARGET_MB = 150
WORKER_GROWTH_MB = 20


def _many_parts(tmp_path: Path, parts: int, stage: str | None = None, engine: str = "processes") -> dict[str, Any]:
    """The report of a CSV -> SQLite load in at least ``parts`` parts on one forked worker
    (the command, forked as a user's is; an optional python ``stage``)."""
    src = tmp_path / "in.csv"
    rnd = random.Random(1)
    rows = parts * 8192 // 25  # 25 bytes a row or more: ``parts`` parts of 8 KiB
    src.write_text(
        "id,rsn,p\n" + "".join(f"{i:05},rs{rnd.randrange(10**8):08},{rnd.random():.5f}\n" for i in range(rows))
    )
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src)},
        sink={"path": str(tmp_path / "t.db"), "table": "t"},
        run={"engine": engine, "workers": 1, "part_size": 8192},
    )
    if stage is not None:
        job.write_text(job.read_text() + f'[[transform]]\ntype = "python"\nfunction = "{stage}"\n')
    report = tmp_path / "report.json"
    p = cli("run", str(job), "--allow-python", "--report", str(report), "-q")
    assert p.returncode == 0, p.stderr
    loaded: dict[str, Any] = json.loads(report.read_text())
    assert (loaded["rows_written"], loaded["worker_start"]) == (rows, "forked")
    assert len(loaded["parts"]) >= parts
    return loaded


def _growth_mb(report: dict[str, Any]) -> float:
    """How far the worker's peak rose from its first part to its last."""
    peaks = [p["worker_peak_rss_mb"] for p in report["parts"]]
    return max(peaks) - min(peaks)


@pytest.mark.slow
def test_a_workers_peak_stays_flat_however_many_parts_it_reads(tmp_path: Path) -> None:
    """Each part's CSV reader once outlived it in a forked worker (a reference cycle, and the
    collector the worker inherits paused), with the block it had read: a MiB a part, so 60
    parts grow it three times past the limit."""
    report = _many_parts(tmp_path, 60)
    assert report["worker_peak_rss_mb"] < WORKER_TARGET_MB
    assert _growth_mb(report) < WORKER_GROWTH_MB


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["processes", "dask"])  # a pool's worker; a local cluster's
def test_the_reference_cycles_a_part_makes_are_freed_on_its_worker(tmp_path: Path, engine: str) -> None:
    """A python stage that leaves a cycle holding 2 MiB for every batch: a worker forked from
    the paused coordinator would keep them all."""
    report = _many_parts(tmp_path, 60, "tests.engine_stages:leave_a_cycle", engine)
    assert report["worker_peak_rss_mb"] < WORKER_TARGET_MB
    assert _growth_mb(report) < WORKER_GROWTH_MB


def test_a_forked_dask_worker_collects_as_dasks_own_workers_do(tmp_path: Path) -> None:
    """Its event loop makes reference cycles between parts too (futures, frames): the
    coordinator's pause is not for it."""
    _many_parts(tmp_path, 1, "tests.engine_stages:refuse_a_paused_collector", "dask")


def test_a_json_lines_file_longer_than_a_part_is_read_as_one_part(tmp_path: Path) -> None:
    """As run.part_size says: only CSV and Parquet files are cut."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(f'{{"id": {i}, "s": "v{i}"}}\n' for i in range(2000)))
    target, report = tmp_path / "t.db", tmp_path / "r.json"
    args = ["--table", "t", "--engine", "processes", "--part-size", "4096", "--report", str(report), "-q"]
    p = cli("load", str(src), str(target), *args)
    assert p.returncode == 0, p.stderr
    parts = json.loads(report.read_text())["parts"]
    assert [(p["range"], p["rows_read"]) for p in parts] == [(["file", 0, None], 2000)]


def test_the_dry_run_plan_shows_the_engine_and_the_parts_the_load_uses(tmp_path: Path) -> None:
    """The plan names the engine and, off threads, the parts per file: byte ranges, and why
    a file is read whole; a file loaded already is not read. The load then uses those parts."""
    import gzip

    big, small = tmp_path / "a.csv", tmp_path / "b.csv"
    big.write_text("id,n\n" + "".join(f"{i},{i}\n" for i in range(20_000)))
    small.write_text("id,n\n1,2\n")
    packed = tmp_path / "c.csv.gz"
    packed.write_bytes(gzip.compress(big.read_bytes()))
    target = tmp_path / "t.db"
    config = job([big, small, packed], target, "processes", part_size=40_000)
    config = replace(config, run=replace(config.run, workers=2))
    ranges = len(plan_file(str(big), "csv", part_bytes=40_000).parts)
    assert ranges > 4
    lines = Pipeline(config).plan().lines()
    assert lines[lines.index("engine: processes (2 local workers)") :] == [
        "engine: processes (2 local workers)",
        f"parts ({ranges + 2}, run.part_size = 40,000 bytes):",
        f"  {big}: {ranges} byte ranges cut at row boundaries",
        f"  {small}: 1 part, not larger than run.part_size: read whole",
        f"  {packed}: 1 part, compressed: read whole",
        f"target: sqlite {target}, table 't', mode append",
    ]
    assert len(Pipeline(config).run().parts) == ranges + 2

    assert Pipeline(replace(config, run=replace(config.run, engine="threads"))).plan().lines()[-2:] == [
        "engine: threads",
        f"target: sqlite {target}, table 't', mode append",
    ]
    lines = Pipeline(replace(config, run=replace(config.run, scheduler="tcp://h:8786", engine="dask"))).plan().lines()
    assert lines[-6:-4] == ["engine: dask (scheduler tcp://h:8786)", "parts (0, run.part_size = 40,000 bytes):"]
    assert lines[-4:-1] == [f"  {p}: skipped, not read" for p in (big, small, packed)]


def test_a_failed_run_lists_the_same_files_statuses_and_dialects_on_every_engine(tmp_path: Path, cluster: Any) -> None:
    """A later file with a column the table lacks (exit 65): every engine lists the files up
    to the one it stopped in, with its dialect, and none after; the rerun lists the first as
    skipped and the failing one again (it used to be missing with processes and dask)."""
    (tmp_path / "a.csv").write_text("id;s\n1;a\n2;b\n")
    (tmp_path / "b.csv").write_text("id;s;extra\n3;c;x\n")
    (tmp_path / "c.csv").write_text("id;s\n4;d\n")
    paths = [tmp_path / n for n in ("a.csv", "b.csv", "c.csv")]
    seen = {}
    for engine in ENGINES:
        config = job(paths, tmp_path / f"{engine}.db", engine, cluster.scheduler_address)
        config = replace(config, transform=[], source=replace(config.source, columns={}))
        runs = []
        for _ in range(2):
            with pytest.raises(LoaderError) as caught:
                Pipeline(config).run()
            report = caught.value.report
            assert report is not None and report.exit_code == 65
            runs.append([(Path(f.path).name, f.status, (f.dialect or {}).get("delimiter")) for f in report.files])
        seen[engine] = runs
    assert seen["threads"] == [
        [("a.csv", "loaded", ";"), ("b.csv", "incomplete", ";")],
        [("a.csv", "skipped", None), ("b.csv", "incomplete", ";")],
    ]
    assert seen["processes"] == seen["dask"] == seen["threads"]


def test_nothing_loaded_cites_the_same_reason_on_every_engine_when_counts_tie(tmp_path: Path, cluster: Any) -> None:
    """Two reasons rejected as often: the example is the one whose first row comes first in
    the input, on every engine (a part counts its reasons in that order too, and the
    coordinator adds the parts' up in input order)."""
    path = tmp_path / "n.csv"
    k = 3000
    path.write_text("id,n\n" + "".join(f"{i},{v}\n" for i, v in enumerate(["y"] + ["x"] * k + ["y"] * (k - 1))))
    messages = {}
    for engine in ENGINES:
        config = job([path], tmp_path / f"{engine}.db", engine, cluster.scheduler_address)
        with pytest.raises(NothingLoadedError) as caught:
            Pipeline(replace(config, transform=[])).run()
        assert engine == "threads" or len(caught.value.report.parts) > 3
        messages[engine] = str(caught.value)
    assert messages["threads"] == f"{path}: nothing loaded: all {2 * k:,} rows were rejected ('y' is not a valid int64)"
    assert messages["processes"] == messages["dask"] == messages["threads"]


_SCRIPT = """
import os, threading, time
import loader
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # no fork: workers are spawned
os.write(1, b"script ran\\n")  # one write: spawned workers run this line too, at once
{call}
"""
_LOAD = 'loader.load("a.csv", "t.db", table="t", run_options={"engine": "processes", "workers": 2, "quiet": True})'


def _script(
    tmp_path: Path, call: str, thread: bool = True, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``call`` at line 6 of a script run as the main module; ``thread``: it starts a thread
    first; ``environment``: its variables besides this process's (less Dask's own)."""
    (tmp_path / "a.csv").write_text("id,n\n1,2\n2,3\n", encoding="utf-8")
    script = _SCRIPT if thread else re.sub(r"threading\.Thread.*", "pass  # no other thread", _SCRIPT)
    (tmp_path / "job.py").write_text(script.format(call=call), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in _DASK_ENVIRONMENT} | (environment or {})
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "job.py"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )


def test_an_unguarded_script_is_told_to_guard_its_load_before_a_worker_runs_it_again(tmp_path: Path) -> None:
    p = _script(tmp_path, _LOAD)
    assert p.returncode == 1 and p.stdout == "script ran\n"  # once: no worker ran the script again
    assert p.stderr.splitlines()[-1] == (
        "loader.errors.EngineError: run_options.engine = 'processes' spawns its workers (this process has other "
        "threads: Thread-1 (sleep)), and each runs the main script's top level again: "
        f'{tmp_path / "job.py"} calls this load at line 6, outside if __name__ == "__main__"'
    )
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    "engine, thread, spawned",
    [
        ("processes", False, "its workers (fork_workers = false)"),
        ("dask", False, "its local Dask cluster's workers (fork_workers = false)"),
        ("dask", True, "its local Dask cluster's workers (this process has other threads: Thread-1 (sleep))"),
    ],
)
def test_the_unguarded_error_says_why_the_workers_are_spawned(
    tmp_path: Path, engine: str, thread: bool, spawned: str
) -> None:
    options = f'{{"engine": "{engine}", "workers": 2, "quiet": True, "fork_workers": {thread}}}'
    p = _script(tmp_path, f'loader.load("a.csv", "t.db", table="t", run_options={options})', thread=thread)
    assert p.returncode == 1 and p.stdout == "script ran\n"
    assert p.stderr.splitlines()[-1] == (
        f"loader.errors.EngineError: run_options.engine = '{engine}' spawns {spawned}, and each runs the main "
        f'script\'s top level again: {tmp_path / "job.py"} calls this load at line 6, outside if __name__ == "__main__"'
    )


def test_workers_are_spawned_off_the_main_thread_and_off_linux_and_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from loader.engines.main_guard import spawn_reason

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(spawn_reason, True).result() == "the load runs off the main thread"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert spawn_reason(True) == "workers are forked on Linux only, this is darwin"
    assert spawn_reason(False) == "fork_workers = false"


_IN_A_THREAD = """def go():
    try:
        r = {load}
        print(r.rows_written, r.worker_start, flush=True)
    except loader.errors.EngineError as error:
        print(error.exit_code, error, flush=True)
t = threading.Thread(target=go); t.start(); t.join()"""


@pytest.mark.parametrize(
    "engine, spawned", [("processes", "its workers"), ("dask", "its local Dask cluster's workers")]
)
def test_a_load_on_a_thread_of_an_unguarded_script_is_refused_before_a_worker_starts(
    tmp_path: Path, engine: str, spawned: str
) -> None:
    """The main thread waits at line 12, outside the guard: a spawned worker importing the
    script would start the thread, and the load, again."""
    load = _LOAD.replace("processes", engine)
    p = _script(tmp_path, _IN_A_THREAD.format(load=load))
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout == (
        f"script ran\n2 run_options.engine = '{engine}' spawns {spawned} (the load runs off the main thread), and "
        f"each runs the main script's top level again: {tmp_path / 'job.py'} runs line 12 on its main thread, "
        'outside if __name__ == "__main__", while this load runs\n'
    )  # once: no worker ran the script again
    assert not (tmp_path / "t.db").exists()


def test_a_load_on_a_thread_of_a_guarded_script_runs_on_spawned_workers(tmp_path: Path) -> None:
    body = _IN_A_THREAD.format(load=_LOAD).replace("\nt = ", '\nif __name__ == "__main__":\n    t = ')
    p = _script(tmp_path, body)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()  # the workers print the script's unguarded line again
    assert lines[-1] == "2 spawned" and set(lines[:-1]) == {"script ran"}
    assert sqlite3.connect(tmp_path / "t.db").execute("SELECT id, n FROM t ORDER BY id").fetchall() == [(1, 2), (2, 3)]


def test_the_unguarded_error_is_not_retryable() -> None:
    from loader.engines.main_guard import unguarded_error
    from loader.errors import exit_class

    error = unguarded_error("processes", "why", "fork_workers = false")
    assert (error.exit_code, exit_class(error.exit_code)) == (2, "fix")
    assert error.hint == 'put the script\'s load under if __name__ == "__main__":, then rerun (docs/engines.md)'


def test_a_guarded_script_loads_on_spawned_workers(tmp_path: Path) -> None:
    p = _script(tmp_path, f'if "__main__" == __name__:\n    r = {_LOAD}\n    print(r.rows_written)')
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "script ran" and p.stdout.splitlines()[-1] == "2"
    assert sqlite3.connect(tmp_path / "t.db").execute("SELECT id, n FROM t ORDER BY id").fetchall() == [(1, 2), (2, 3)]


def test_a_load_in_a_spawned_worker_importing_the_script_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from loader.engines.main_guard import refuse_unguarded
    from loader.errors import EngineError

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(EngineError, match=r"this process is a spawned worker importing the main script$"):
        refuse_unguarded("processes", True)


@pytest.mark.parametrize(
    "engine, whose", [("processes", "its worker processes"), ("dask", "its local Dask cluster's worker processes")]
)
def test_a_load_in_a_daemonic_process_is_refused_before_a_worker_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, whose: str
) -> None:
    """A multiprocessing.Pool's worker, a Dask worker's task: multiprocessing refuses a
    daemonic process children (a forked local Dask cluster's workers are loader's own, so
    ``fork_workers = false`` here)."""
    import multiprocessing

    import loader

    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)  # type: ignore[attr-defined]
    (tmp_path / "a.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    with pytest.raises(EngineError) as caught:
        loader.load(
            tmp_path / "a.csv", tmp_path / "t.db", table="t", run_options={"engine": engine, "fork_workers": False}
        )
    assert str(caught.value) == (
        f"run_options.engine = '{engine}' starts {whose}, and this process is a daemonic worker (a "
        "multiprocessing.Pool's, a Dask worker's), which cannot start worker processes"
    )
    assert caught.value.hint == (
        'use run_options={"engine": "threads"} in this process, or load from a process that is not daemonic '
        "(docs/engines.md)"
    )
    report = caught.value.report
    assert (caught.value.exit_code, report.exit_code, report.engine) == (2, 2, engine)
    assert not (tmp_path / "t.db").exists()


def test_a_load_in_a_pool_worker_is_refused_with_an_engine_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    (tmp_path / "job.py").write_text(
        "import multiprocessing, loader\n"
        "def job(_):\n"
        "    try:\n"
        f"        return {_LOAD}.status\n"
        "    except loader.LoaderError as error:\n"
        "        return type(error).__name__, error.exit_code, error.report.engine\n"
        'if __name__ == "__main__":\n'
        "    with multiprocessing.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.map(job, [0]))\n",
        encoding="utf-8",
    )
    environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.run(
        [sys.executable, "job.py"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert (p.returncode, p.stdout, p.stderr) == (0, "[('EngineError', 2, 'processes')]\n", "")


@pytest.mark.parametrize("engine, whose", [("processes", "its workers"), ("dask", "its local Dask cluster's workers")])
def test_a_script_read_from_standard_input_is_refused_before_spawned_workers_fail_to_import_it(
    tmp_path: Path, engine: str, whose: str
) -> None:
    (tmp_path / "a.csv").write_text("id,n\n1,2\n2,3\n", encoding="utf-8")
    script = _SCRIPT.format(
        call='if __name__ == "__main__":\n'
        "    try:\n"
        f"        {_LOAD.replace('processes', engine)}\n"
        "    except loader.errors.EngineError as error:\n"
        "        print(error.exit_code, error, '|', error.hint)"
    )
    environment = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.run(
        [sys.executable, "-"], input=script, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout == (
        f"script ran\n2 run_options.engine = '{engine}' spawns {whose} (this process has other threads: Thread-1 (sleep)), and each "
        "imports the main script, which this process read from standard input: no worker can import it | save the "
        'script to a file and run that, or use run_options={"engine": "threads"} (docs/engines.md)\n'
    )
    assert not (tmp_path / "t.db").exists()


# what a nanny sets in the environment of the process that starts it (this module's ``cluster`` too)
_DASK_ENVIRONMENT = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MALLOC_TRIM_THRESHOLD_",
    "__DASK_PARENT_PID",
)


def test_a_spawned_local_cluster_leaves_the_hosts_environment_as_it_was(tmp_path: Path) -> None:
    """Dask's nannies set their workers' variables in the host's own environment before they
    spawn them: put back once the workers have them."""
    load = _LOAD.replace("processes", "dask").replace('"workers": 2', '"workers": 1')
    call = f'if __name__ == "__main__":\n    print({load}.worker_start, [os.environ.get(k) for k in {_DASK_ENVIRONMENT!r}])'
    p = _script(tmp_path, call, environment={"MKL_NUM_THREADS": "3"})
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.splitlines()[-1] == "spawned [None, '3', None, None, None]"


def test_an_unguarded_script_refused_after_a_dask_load_is_told_which_threads_dask_left(tmp_path: Path) -> None:
    """A forked local cluster's load leaves Dask's two idle threads: the next load spawns."""
    dask = _LOAD.replace("processes", "dask").replace('"t.db"', '"d.db"')
    p = _script(tmp_path, f"{dask}\n{_LOAD}", thread=False)
    assert p.returncode == 1 and p.stdout == "script ran\n"
    assert p.stderr.splitlines()[-1] == (
        "loader.errors.EngineError: run_options.engine = 'processes' spawns its workers (this process has other "
        "threads: Dask-Offload_0, Dask-Callback-Thread_0), and each runs the main script's top level again: "
        f'{tmp_path / "job.py"} calls this load at line 7, outside if __name__ == "__main__"'
    )


def test_a_finished_file_changed_since_reloads_on_processes_and_a_stopped_reload_resumes(tmp_path: Path) -> None:
    """A finished file keeps its parts' entries in the checkpoint: reloaded when it changed
    (run.on_change = "reload"), those were taken for this version's, and the run stopped with
    exit 65 ("changed since parts of it were loaded"). The old version's parts count no more;
    a reload a stop cut short goes on in the parts it committed, none loaded twice."""
    src = tmp_path / "a.csv"
    rows = [f"{i},{i * 10},n{i}" for i in range(1, 20_001)]
    src.write_text("id,v,name\n" + "\n".join(rows) + "\n")
    db = tmp_path / "t.db"
    args = ["load", str(src), str(db), "--table", "t", "--engine", "processes", "--workers", "2", "-q"]
    args += ["--set", "run.part_size=64KB", "--set", "source.columns.v=int64"]
    assert cli(*args).returncode == 0
    src.write_text(src.read_text().replace("\n5,50,n5\n", "\n5,55,n5\n"))  # same size, new content
    reload = [*args, "--set", "run.on_change=reload"]
    done = cli(*reload)
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "SELECT count(*), sum(v = 55) FROM t") == [(40_000, 1)]
    src.write_text(src.read_text().replace("\n15000,150000,", "\n15000,bad,"))  # a third version
    assert cli(*reload, "--max-rejects", "0").returncode == 3  # stopped in its later parts
    [(partial,)] = sqlite_rows(db, "SELECT count(*) FROM t")
    assert 40_000 < partial < 60_000
    done = cli(*reload, "--max-rejects", "10")
    assert done.returncode == 0, done.stderr
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(59_999, 20_000)]


def _reload_stopped_in_parts(tmp_path: Path, sink: str) -> tuple[JobConfig, Path, int]:
    """``a/x.csv`` loaded in parts, changed, and its reload (``run.on_change = "reload"``)
    stopped by a reject after some of its parts committed (``link -> a``): the job, the target
    and the rows the reload committed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    src = tmp_path / "a" / "x.csv"
    src.write_text("id,n,name\n" + "".join(f"{i},{i},v1-{i}\n" for i in range(20_000)))
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    config = JobConfig(
        source=SourceConfig(path=[str(src)], columns={"n": "int64"}),
        sink=SinkConfig(path=str(target), table="t")
        if sink == "sqlite"
        else SinkConfig(path=str(target), key="{name}"),
        run=RunConfig(engine="processes", workers=2, part_size=40_000, on_change="reload"),
    )
    assert Pipeline(config).run().rows_written == 20_000
    src.write_text("id,n,name\n" + "".join(f"{i},{'x' if i == 15_000 else i},v2-{i}\n" for i in range(20_000)))
    with pytest.raises(RejectLimitError) as caught:
        Pipeline(replace(config, run=replace(config.run, max_rejects=0))).run()
    assert 0 < caught.value.report.rows_written < 19_999
    return config, target, caught.value.report.rows_written


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("name", ["a/x.csv", "link/x.csv", "relative link/x.csv"])
def test_a_reload_in_parts_stopped_part_way_resumes_under_any_name_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: str, name: str
) -> None:
    """Resumed as ``link/x.csv``, the reload's parts were not found: the file's entry is the
    finished version's, so the new version was planned as a new file of another key and every
    part of it loaded again (its committed rows twice, exit 0). ``threads`` read it whole. Now
    it goes on in the parts of this version under any name, as under its own; threads refuses it."""
    config, target, first = _reload_stopped_in_parts(tmp_path, sink)
    monkeypatch.chdir(tmp_path)
    path = name.removeprefix("relative ") if name.startswith("relative ") else str(tmp_path / name)
    resumed = replace(config, source=replace(config.source, path=[path]))
    with pytest.raises(ConfigError, match=r"half loaded in parts by an earlier run with run\.engine = 'processes'"):
        Pipeline(replace(resumed, run=replace(resumed.run, engine="threads"))).run()
    report = Pipeline(resumed).run()
    assert [(f.path, f.status) for f in report.files] == [(path, "resumed")]
    assert (report.files_gone, report.rows_written) == (0, 19_999 - first)
    if sink == "sqlite":
        assert sqlite_rows(target, "SELECT count(*), count(DISTINCT name), sum(name LIKE 'v2-%') FROM t") == [
            (39_999, 39_999, 19_999)
        ]
    else:
        assert len(contents(target, sink)) == 39_999
    for again in (path, str(tmp_path / "a" / "x.csv")):  # loaded once, under either name
        rerun = Pipeline(replace(config, source=replace(config.source, path=[again]))).run()
        assert (rerun.rows_written, rerun.files_gone, [f.status for f in rerun.files]) == (0, 0, ["skipped"])


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_a_reload_in_parts_killed_part_way_resumes_through_a_linked_folder(
    tmp_path: Path, signum: int, code: int
) -> None:
    """The reload of a changed file stopped by a signal after some of its parts committed,
    then run through ``link`` (``link -> a``): every row of each version once."""
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    paths = csv_files(tmp_path / "a", files=2, rows=20_000)
    target = tmp_path / "t.db"
    options = ["--columns", "n=int64", "--engine", "processes", "--part-size", "40000", "--set", "run.on_change=reload"]
    args = ["load", *map(str, paths), str(target), "--table", "t", *options]
    assert cli(*args).returncode == 0
    for path in paths:  # a new version of each, of the same size
        path.write_text(path.read_text().replace("plain", "PLAIN"))
    returncode, err = _signal_group_mid_load(target, args, signum, after=_parts_committed(target))
    assert returncode == code, err
    assert 39_810 < sqlite_rows(target, "SELECT count(*) FROM t")[0][0] < 2 * 39_810
    linked = [str(tmp_path / "link" / p.name) for p in paths]
    again = cli("load", *linked, str(target), "--table", "t", *options)
    assert again.returncode == 0, again.stderr
    [(rows, plain, changed)] = sqlite_rows(target, "SELECT count(*), sum(note = 'plain'), sum(note = 'PLAIN') FROM t")
    assert (rows, changed) == (2 * 39_810, plain) and plain > 0
    assert sqlite_rows(target, "SELECT count(*) FROM (SELECT id FROM t GROUP BY id HAVING count(*) != 2)") == [(0,)]


def test_json_lines_lines_that_are_not_one_object_are_rejected_alike_on_every_engine(
    tmp_path: Path, cluster: Any
) -> None:
    """A `null` line beside another bad line, and two objects on one line: ``processes``
    failed on more rows than lines (and `null` with a KeyError); every engine now rejects
    each such line with its own line number, as ``threads`` does."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id":1,"v":1}\nnull\n[1]\n{"id":2,"v":2} {"id":3,"v":3}\n{"id":4,"v":4}\n')
    loaded = {}
    for engine, target, report in loads_on_every_engine(path, tmp_path, cluster, part_size=16_000):
        assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 5, 2, 3)
        rejects = [json.loads(line) for line in reject_lines(str(target) + ".table-t.rejects.jsonl")]
        loaded[engine] = (
            sqlite_rows(target, "SELECT id, v FROM t ORDER BY rowid"),
            [(r["row"], r["line"], r["reason"]) for r in rejects],
        )
    assert loaded["processes"] == loaded["dask"] == loaded["threads"]
    assert loaded["threads"] == (
        [(1, 1), (4, 4)],
        [
            (2, 2, "a JSON Lines row is an object, not null"),
            (3, 3, "a JSON Lines row is an object, not an array"),
            (4, 4, "a JSON Lines row is one object, not two values on one line (the second at column 16)"),
        ],
    )


def test_a_file_damaged_part_way_names_its_committed_parts_rows(tmp_path: Path) -> None:
    """On an engine, a Parquet file damaged in a later part keeps the parts before it: the 65
    hint says how many rows stay (as on threads) and what loads a new copy once: the engine
    refuses a reload of a file changed since its parts, so --restart --mode replace."""
    n = 20_000
    good = tmp_path / "good.parquet"
    table = pa.table({"id": pa.array(range(n), pa.int64()), "v": pa.array([f"v{i}" for i in range(n)])})
    pq.write_table(table, good, row_group_size=2000, use_dictionary=False, compression="NONE", write_page_checksum=True)
    col = pq.ParquetFile(good).metadata.row_group(6).column(1)
    data = bytearray(good.read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 1
    src, db = tmp_path / "m.parquet", tmp_path / "p.db"
    src.write_bytes(bytes(data))
    job = JobConfig(
        source=SourceConfig(path=str(src)),
        sink=SinkConfig(type="sqlite", path=str(db), table="t"),
        run=RunConfig(engine="processes", workers=2, part_size=48 * 1024),
    )
    with pytest.raises(LoaderError) as e:
        Pipeline(job).run()
    kept = sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone()[0]
    assert e.value.exit_code == 65 and 0 < kept < n
    assert e.value.hint is not None
    assert e.value.hint.endswith(
        f"; {kept:,} rows of it stay committed, so the rerun finds a new copy changed: to load it once, "
        "rerun with --restart --mode replace (every file of the job loads again)"
    )
    src.write_bytes(good.read_bytes())  # the hint followed: every row once
    Pipeline(replace(job, sink=replace(job.sink, mode="replace"), run=replace(job.run, restart=True))).run()
    assert sqlite3.connect(db).execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (n, n)


_STAGE_CODE = """import pyarrow as pa


def f(batch):
    i = batch.schema.get_field_index("note")
    return batch.set_column(i, "note", pa.array([{note!r}] * batch.num_rows, pa.string()))
"""


def test_a_part_made_by_a_python_stage_since_changed_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage fixed after a failed run: a part its old code finished (a worker ran ahead of
    the failure) is not loaded, as a result made under other settings is not: every row goes
    through the code as it is now. Its results were named by the stage's configuration alone."""
    import importlib

    from loader.transforms.python import code_identity

    module = tmp_path / "changed_stage.py"
    module.write_text(_STAGE_CODE.format(note="old"))
    monkeypatch.syspath_prepend(str(tmp_path))
    config, target, _, parts = planned(tmp_path)
    config = replace(config, transform=[{"type": "python", "function": "changed_stage:f"}])
    pipe = Pipeline(config, allow_python=True)
    types = encode_types(pipe._settle_types(list(config.source.path), {}))
    task = replace(as_the_run_makes_it(pipe, parts[2], types, str(target) + ".parts"), allow_python=True)
    task = replace(task, code=code_identity(config.transform))
    os.makedirs(task.spill_dir)
    assert run_part(task).rows_written > 0  # the old code's result, whole, as a worker left it
    module.write_text(_STAGE_CODE.format(note="fixed!"))
    sys.modules.pop("changed_stage", None)
    importlib.invalidate_caches()
    assert code_identity(config.transform) != task.code
    report = Pipeline(config, allow_python=True).run()
    assert report.rows_written == 3000 - report.rows_rejected
    assert sqlite_rows(target, "SELECT DISTINCT note FROM t") == [("fixed!",)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_quote_in_an_unquoted_field_loads_every_multi_line_address_whole(tmp_path: Path, engine: str) -> None:
    """hunt21a and hunt21d: a quote inside an unquoted field (``12" pipe``), then addresses
    whose second line holds as many commas as the header. The cuts (blocks of 1 KiB, parts of
    16 KB) fell inside the addresses, and their second lines loaded as rows (``id =
    'Springfield'``) in place of the real rows, exit 0. Every cell is the csv module's, on
    either engine, and ``id`` stays an integer."""
    lines = ["id,item,address", '1,pipe 12" long,warehouse']
    for i in range(2, 3000):
        lines.append(f'{i},item{i},"{i} Main St\nSpringfield, IL, 62701"' if i % 5 == 0 else f"{i},item{i},shelf {i}")
    src = tmp_path / "addr.csv"
    src.write_text("\n".join(lines) + "\n")
    db = tmp_path / "t.db"
    flags = ["--engine", engine, "--source-block-size", "1KiB", "--set", "run.part_size=16KB", "-q"]
    done = cli("load", str(src), str(db), "--table", "t", *flags)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT type FROM pragma_table_info('t') WHERE name = 'id'").fetchone() == ("INTEGER",)
        got = [[str(v) for v in row] for row in conn.execute("SELECT id, item, address FROM t ORDER BY rowid")]
    finally:
        conn.close()
    assert got == list(csv.reader(io.StringIO(src.read_text(), newline="")))[1:]
    assert not (tmp_path / "t.db.table-t.rejects.jsonl").exists()


def test_parts_of_a_file_read_again_after_none_of_it_loaded_count_as_committed(tmp_path: Path) -> None:
    """A file every row of which was rejected is read again, unchanged, with other source
    options, as version 2: its parts committed by a run that stopped count on the rerun (not
    read a second time), and the parts of version 1 never do."""
    from loader.engines import committed_parts
    from loader.state import FileState, JobState, file_key, identity

    src = tmp_path / "a.csv"
    src.write_text("id\n1\n")
    key, ident = file_key(str(src)), identity(str(src))
    state = JobState(files={key: FileState(str(src), ident, done=True, rows_read=1, rows_rejected=1)})
    first = {"key": key, "identity": ident, "rows_read": 1, "rows_rejected": 1}
    now = {key: ident}.__getitem__  # the file as this run finds it, by key
    assert committed_parts({"part:p1": json.dumps(first)}, state, now) == {}
    again = dict(first, version=2, rows_rejected=0, rows_written=1)
    assert committed_parts({"part:p1": json.dumps(again)}, state, now) == {"p1": again}


@pytest.mark.parametrize("made", [True, False])
def test_a_spill_dir_the_run_did_not_make_stays_once_the_parts_are_in(tmp_path: Path, made: bool) -> None:
    """``run.spill_dir`` shared by loads of several targets (a scratch disk the user made):
    the results go, the directory stays for the others; one the run made goes with them."""
    config, _, _, _ = planned(tmp_path)
    spill = tmp_path / "scratch"
    if made:
        spill.mkdir()
    config = replace(config, run=replace(config.run, spill_dir=str(spill)))
    assert Pipeline(config).run().status == "ok"
    assert (spill.is_dir() and list(spill.iterdir()) == []) if made else not spill.exists()


def test_two_loads_of_one_file_at_once_on_one_cluster_get_their_own_parts(tmp_path: Path, cluster: Any) -> None:
    """One daily file fanned out to two targets on a shared cluster, at the same time, with
    other filters: each load commits its own parts' rows. A part's Dask key named only the
    file's range, so the second load was handed the first one's results (its rows, or files
    it had committed and removed already)."""
    marker = tmp_path / "release"
    source = tmp_path / "in.csv"
    rnd = random.Random(3)
    rows = [(i, rnd.randint(0, 999)) for i in range(3000)]
    source.write_text("id,n,hold\n" + "".join(f"{i},{n},{marker}\n" for i, n in rows), encoding="utf-8")
    procs = {}
    for name, where in (("low", "n < 500"), ("high", "n >= 500")):
        job_file = write_job(
            tmp_path / f"{name}.toml",
            source={"path": str(source)},
            transform=[
                {"type": "python", "function": "tests.engine_stages:hold_while_unmarked"},
                {"type": "filter", "where": where},
            ],
            sink={"path": str(tmp_path / f"{name}.db"), "table": "t"},
            run={"engine": "dask", "scheduler": cluster.scheduler_address, "part_size": 20_000},
        )
        procs[name] = popen("run", str(job_file), "--allow-python")

    # both loads have submitted their parts, held by the stage: each load's client wants some
    # (waited for, not slept on: a busy machine took longer than any fixed pause)
    def submitting(dask_scheduler: Any) -> int:
        return sum(1 for c in dask_scheduler.clients.values() if c.wants_what)

    def ready() -> bool:  # or a load ended: its error is shown below
        return client.run_on_scheduler(submitting) >= 2 or any(p.poll() is not None for p in procs.values())

    with distributed.Client(cluster) as client:
        wait_until(ready, "both loads' parts submitted", timeout=60)
    marker.touch()
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err)
    low = sorted(r for r in rows if r[1] < 500)
    high = sorted(r for r in rows if r[1] >= 500)
    for name, expected in (("low", low), ("high", high)):
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        try:
            assert conn.execute("SELECT id, n FROM t ORDER BY id").fetchall() == expected, name
        finally:
            conn.close()


def test_a_part_key_names_its_load_not_only_its_range(tmp_path: Path) -> None:
    """Two tasks of the same part for other stages or targets have other Dask keys; the same
    task has the same key (a retry, a rerun while the part still runs on the cluster)."""
    paths = csv_files(tmp_path, files=1)
    part = plan_file(str(paths[0]), "csv", part_bytes=16_000).parts[0]
    config = job(paths, tmp_path / "a.db", "dask")
    task = PartTask(config, "table:t", "t", part, "{}", str(tmp_path / "spill"), target=str(tmp_path / "a.db"))
    other_stage = replace(task, job=replace(config, transform=[{"type": "filter", "where": "id % 7 != 0"}]))
    other_target = replace(
        task, job=replace(config, sink=replace(config.sink, path=str(tmp_path / "b.db"))), target=str(tmp_path / "b.db")
    )
    assert task.key == replace(task).key
    assert len({task.key, other_stage.key, other_target.key}) == 3
    assert all(k.startswith(f"loader-part-{part.id}-") for k in (task.key, other_stage.key, other_target.key))


TAG_STAGE = """import pyarrow as pa
import pyarrow.compute as pc


def tag(batch):
    i = batch.schema.get_field_index("note")
    return batch.set_column(i, "note", pc.binary_join_element_wise(batch.column("note"), pa.scalar("-v{v}"), ""))
"""


@contextlib.contextmanager
def stage_module(
    cluster: Any, client_dir: Path, worker_dir: Path, monkeypatch: pytest.MonkeyPatch, versions: dict[Path, int]
) -> Iterator[str]:
    """A module name unique to the test, importable from ``client_dir`` here and from
    ``worker_dir`` on the cluster's (long-lived) workers, written in each directory of
    ``versions`` as ``TAG_STAGE`` of that version."""
    name = f"tagmod_{os.getpid()}_{time.time_ns()}"
    for where, version in versions.items():
        (where / f"{name}.py").write_text(TAG_STAGE.format(v=version), encoding="utf-8")
    monkeypatch.syspath_prepend(str(client_dir))
    with distributed.Client(cluster.scheduler_address) as client:
        client.run(add_path, str(worker_dir))
        try:
            yield name
        finally:
            client.run(remove_path, str(worker_dir))


def tag_job(paths: list[Path], target: Path, module: str, cluster: Any) -> JobConfig:
    return JobConfig(
        source=SourceConfig(path=[str(p) for p in paths]),
        sink=SinkConfig(path=str(target), table="t", mode="replace"),
        transform=[{"type": "python", "function": f"{module}:tag"}],
        run=RunConfig(engine="dask", scheduler=cluster.scheduler_address, part_size=16_000),  # type: ignore[arg-type]
    )


def test_a_python_stage_fixed_since_runs_fixed_on_the_workers_that_ran_it(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster's workers outlive a run: the module a stage names stayed imported there as the
    first run found it, and the rerun after the user fixed the stage ran the old function
    (exit 0, the old output). The fix is the same size, written in the same second."""
    mods = tmp_path / "mods"
    mods.mkdir()
    paths = csv_files(tmp_path, files=1)
    target = tmp_path / "t.db"
    with stage_module(cluster, mods, mods, monkeypatch, {mods: 1}) as name:
        config = tag_job(paths, target, name, cluster)
        for version in (1, 2, 3):
            (mods / f"{name}.py").write_text(TAG_STAGE.format(v=version), encoding="utf-8")
            report = Pipeline(config, allow_python=True).run()
            assert report.rows_written == 3000 and len(report.parts) > 2
            conn = sqlite3.connect(target)
            try:
                tags = conn.execute("SELECT DISTINCT substr(note, -3) FROM t WHERE note IS NOT NULL").fetchall()
            finally:
                conn.close()
            assert tags == [(f"-v{version}",)]


def test_a_worker_that_finds_other_code_for_a_python_stage_is_refused(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers import another copy of the stage's module than this process (an old one
    on their path): their results would be named after code that did not make them."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    paths = csv_files(tmp_path, files=1)
    with (
        stage_module(cluster, here, there, monkeypatch, {here: 2, there: 1}) as name,
        pytest.raises(ConfigError) as caught,
    ):
        Pipeline(tag_job(paths, tmp_path / "t.db", name, cluster), allow_python=True).run()
    assert re.fullmatch(
        rf"python stages: worker [^ ]+:\d+ finds other code for {name} \({re.escape(str(there))}/{name}\.py\) than this process",
        caught.value.message,
    )
    assert (
        caught.value.hint
        == "give the workers the same files or installed package of the stages as this process, then rerun"
    )


def ts_rows(directory: Path) -> list[Path]:
    path = directory / "in.csv"
    path.write_text(
        "id,name,ts\n" + "".join(f"{i},n{i},2024-01-{1 + i % 28:02d}T10:00:00\n" for i in range(3000)), encoding="utf-8"
    )
    return [path]


def ts_job(paths: list[Path], target: Path, engine: str, cluster: Any, **run: Any) -> JobConfig:
    scheduler = cluster.scheduler_address if engine == "dask" else None
    return JobConfig(
        source=SourceConfig(path=[str(p) for p in paths]),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine=engine, scheduler=scheduler, part_size=16_000, **run),  # type: ignore[arg-type]
    )


def test_a_run_that_fails_before_its_first_part_commits_changes_nothing(tmp_path: Path, cluster: Any) -> None:
    """A load in parts that failed before committing a part (here: its scheduler is out of
    reach) left an empty table behind, and no checkpoint: its rerun took the table's TEXT
    column as the user's, and stored the timestamps as the source's text
    (``2024-01-01T10:00:00``), where a clean run stores the loader's (``...T10:00:00.000000``)."""
    import dask

    engine = "dask"
    paths = ts_rows(tmp_path)
    clean = tmp_path / "clean.db"
    Pipeline(ts_job(paths, clean, engine, cluster)).run()
    target = tmp_path / "t.db"
    unreached = replace(
        ts_job(paths, target, engine, cluster), run=RunConfig(engine="dask", scheduler="tcp://127.0.0.1:9")
    )
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(EngineError, match=r"^cannot reach the Dask scheduler "),
    ):
        Pipeline(unreached).run()
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []
    finally:
        conn.close()
    report = Pipeline(ts_job(paths, target, engine, cluster)).run()
    assert report.rows_written == 3000
    assert sqlite_rows(target, "SELECT * FROM t ORDER BY id") == sqlite_rows(clean, "SELECT * FROM t ORDER BY id")
    schema = [
        sqlite3.connect(db).execute("SELECT sql FROM sqlite_master WHERE name = 't'").fetchall()
        for db in (clean, target)
    ]
    assert schema[0] == schema[1]


def test_results_a_failed_run_left_under_other_names_are_removed_once_the_parts_are_in(
    tmp_path: Path, cluster: Any
) -> None:
    """Results of the run's parts made under another name (other types, a stage's earlier
    code) are never reused: the run that commits the parts removes them from the target's
    own spill directory, and the directory with them."""
    paths = ts_rows(tmp_path)
    target = tmp_path / "t.db"
    config = ts_job(paths, target, "processes", cluster)
    config = replace(config, sink=replace(config.sink, mode="replace"))
    ids = [p["id"] for p in Pipeline(config).run().parts]
    assert len(ids) > 1
    spill = tmp_path / "t.db.parts"
    spill.mkdir()
    for pid in ids:
        for suffix in (".json", ".db", ".starts"):
            (spill / f"{pid}-0badc0de{suffix}").write_text("", encoding="utf-8")
    Pipeline(config).run()
    assert not spill.exists()


# A cluster's own workers (``run.scheduler``): started elsewhere, with their own environment


def test_relative_paths_load_on_a_cluster_whose_workers_run_in_another_directory(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module's cluster started in the test's first directory: the job's relative input,
    target and spill directory are this process's, made absolute before the parts go out."""
    paths = csv_files(tmp_path, files=1)
    expected = {}
    for sink, target in (("sqlite", "t.db"), ("leveldb", "t.ldb")):
        Pipeline(job(paths, tmp_path / f"threads-{target}", "threads", sink=sink)).run()
        expected[sink] = contents(tmp_path / f"threads-{target}", sink)
    monkeypatch.chdir(tmp_path)
    for sink, target in (("sqlite", "t.db"), ("leveldb", "t.ldb")):
        report = Pipeline(job([Path("in0.csv")], Path(target), "dask", cluster.scheduler_address, sink=sink)).run()
        assert (report.status, report.files[0].path, report.worker_start) == ("ok", "in0.csv", "remote")
        assert contents(tmp_path / target, sink) == expected[sink]
        assert not os.path.exists(f"{target}.parts")
        # a cluster's worker's peak spans its life: not the load's workers' peak, but measured
        assert report.worker_peak_rss_mb is None and report.cluster_peak_rss_mb
    assert not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t.db.parts"))


def test_a_python_stage_the_cluster_workers_cannot_import_says_so_with_a_report(
    tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importable here (the module's folder on this process's path only), not on the workers."""
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "only_here.py").write_text("def same(batch):\n    return batch\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    paths = csv_files(tmp_path, files=1)
    config = job(paths, tmp_path / "t.db", "dask", cluster.scheduler_address)
    config = replace(
        config,
        transform=[{"type": "python", "function": "only_here:same"}],
        run=replace(config.run, report=str(tmp_path / "report.json")),
    )
    with pytest.raises(ConfigError) as caught:
        Pipeline(config, allow_python=True).run()
    assert caught.value.exit_code == 78
    assert re.fullmatch(
        r"transform\[1\] \(python\): function: cannot import 'only_here' for 'only_here:same': "
        r"No module named 'only_here' \(on worker [^ ]+:\d+ \(tcp://127\.0\.0\.1:\d+\); this process builds it\)",
        str(caught.value),
    )
    assert caught.value.hint == (
        "the workers must import what this process imports: give them the same PYTHONPATH or installed "
        'packages (docs/engines.md, "What must be shared"), then rerun'
    )
    assert json.loads((tmp_path / "report.json").read_text())["exit_code"] == 78


def test_an_object_the_cluster_workers_cannot_read_names_the_worker_and_their_aws_settings(
    tmp_path: Path, cluster: Any, s3: Any
) -> None:
    """The AWS settings in this process's environment only (the cluster's workers started
    before the test set them): the plan reads the object, the workers cannot."""
    uri = s3.upload(csv_files(tmp_path, files=1)[0], "in/a.csv")
    with pytest.raises(LoaderError) as caught:
        Pipeline(job([uri], tmp_path / "t.db", "dask", cluster.scheduler_address)).run()  # type: ignore[list-item]
    error = caught.value
    assert error.exit_code == 66 and error.file == uri
    assert re.search(r" on worker [^ ]+:\d+ \(tcp://127\.0\.0\.1:\d+\), though this process reads it$", error.message)
    assert error.hint is not None and error.hint.startswith(
        "the workers read objects with their own environment's settings: give every worker the AWS_* variables"
    )
    assert error.report is not None and error.report.files[0].status == "unreadable"


def test_a_part_whose_every_dask_worker_died_is_the_engines_error_naming_the_part(tmp_path: Path) -> None:
    """Killed as Dask's memory limit kills a worker: not Dask's ``KilledWorker``."""
    paths = csv_files(tmp_path, files=1)
    dask = pytest.importorskip("dask")
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, **LOCAL_CLUSTER) as local,
    ):
        config = job(paths, tmp_path / "t.db", "dask", local.scheduler_address, part_size=1 << 30)
        config = replace(config, transform=[{"type": "python", "function": "tests.engine_stages:die_on_rows"}])
        with pytest.raises(EngineError) as caught:
            Pipeline(config, allow_python=True).run()
    assert caught.value.exit_code == 78
    assert str(caught.value) == (
        f"{paths[0]}: every Dask worker that ran this part died before it was done "
        "(killed for its memory, by Dask's --memory-limit or the OOM killer)"
    )
    assert caught.value.hint == (
        "give a part less memory (a smaller run.part_size, --chunk-size or --max-memory) or each worker more "
        "(dask worker --memory-limit), then rerun: committed parts are kept"
    )


def _load_on_its_cluster(paths: list[Path], target: Path, scheduler: str) -> tuple[str, int, str]:
    """A Dask task (an orchestrator's step) that loads on the cluster it runs on."""
    config = job(paths, target, "dask", scheduler, part_size=4000)
    report = Pipeline(replace(config, transform=[])).run()
    return report.status, report.rows_written, report.worker_start


def test_a_dask_load_run_by_a_task_of_its_own_cluster_gives_its_parts_the_tasks_thread(tmp_path: Path) -> None:
    """One worker of one thread, held by the task: the task leaves the worker's pool while the
    parts run (``distributed.secede``), or they would wait for it for ever."""
    paths = csv_files(tmp_path, files=1, rows=600)
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, **LOCAL_CLUSTER) as local,
        distributed.Client(local) as client,
    ):
        address = local.scheduler_address
        future = client.submit(_load_on_its_cluster, paths, tmp_path / "t.db", address, pure=False)
        assert future.result(timeout=60) == ("ok", 597, "remote")
        assert client.submit(lambda: 1, pure=False).result(timeout=30) == 1  # the task gave its thread back
    assert sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM t").fetchone() == (597,)


def test_a_lost_dask_scheduler_is_the_engines_error_a_rerun_resumes_from(tmp_path: Path) -> None:
    """Its futures cancelled (``FutureCancelledError``, a ``CancelledError``): exit 75, the
    parts committed before kept (``Coordinator._result`` commits those with a manifest)."""
    from concurrent.futures import CancelledError

    from loader.engines import _dask_lost

    task = _one_part(tmp_path, "sqlite")
    lost = _dask_lost(CancelledError("scheduler-connection-lost"), task, "tcp://127.0.0.1:8786")
    assert lost is not None and (str(lost), lost.exit_code) == (
        "lost the Dask scheduler tcp://127.0.0.1:8786 while parts ran",
        75,
    )
    assert lost.hint == (
        "start the scheduler and its workers again; committed parts are kept: run the same command again to load the rest"
    )
    assert _dask_lost(ValueError("x"), task, "tcp://127.0.0.1:8786") is None


def test_a_spill_dir_a_worker_cannot_write_names_the_worker_and_the_directory(tmp_path: Path) -> None:
    """As a read-only mount or a directory the worker's user may not write: not the OS's
    error, and a fix-first exit code (the rerun fails the same way)."""
    from loader.engines.work import worker_name

    task = _one_part(tmp_path, "sqlite")
    (tmp_path / "a-file").write_text("")
    task = replace(task, spill_dir=str(tmp_path / "a-file" / "spill"))
    with pytest.raises(LoaderError) as caught:
        run_part(task)
    assert caught.value.exit_code == 78
    assert str(caught.value) == (f"worker {worker_name()} cannot write run.spill_dir {task.spill_dir}: Not a directory")
    assert caught.value.hint == (
        "the workers need write access to run.spill_dir, a directory the workers and this process share at the "
        'same path (docs/engines.md, "What must be shared"), then rerun'
    )


def test_workers_that_run_another_loader_are_refused_by_name() -> None:
    from loader import pool_worker
    from loader.engines import _same_loader

    mine = pool_worker.code_version()
    assert pool_worker.warm() == mine and re.fullmatch(r"\d+\.\d+\.\d+\S* \(code [0-9a-f]{12}\)", mine)
    _same_loader({"tcp://h:1": mine, "tcp://h:2": mine}, "tcp://s:8786")
    with pytest.raises(EngineError) as caught:
        _same_loader({"tcp://h:1": mine, "tcp://h:2": None, "tcp://h:3": "0.0.1 (code 0)"}, "tcp://s:8786")
    assert (str(caught.value), caught.value.exit_code) == (
        f"2 of the 3 workers of the Dask scheduler tcp://s:8786 run another loader than this process ({mine}): "
        "tcp://h:2 runs an older one",
        78,
    )


def _small_files(directory: Path, files: int = 24) -> list[Path]:
    """Many one-part files of a few rows each, one of whose rows is rejected."""
    paths = []
    for f in range(files):
        path = directory / f"s{f:03}.csv"
        bad = "bad" if f == 5 else str(f)
        path.write_text(f"id,note,n\n{2 * f},a,{f}\n{2 * f + 1},b,{bad}\n", encoding="utf-8")
        paths.append(path)
    return paths


def test_small_files_killed_as_their_parts_commit_then_rerun_load_each_row_once(tmp_path: Path) -> None:
    """The coordinator and its pool SIGKILLed twice while many small files' parts commit: the
    rerun ends with what threads loads, each row and reject once."""
    paths = _small_files(tmp_path, files=150)
    target = tmp_path / "t.db"
    job_file = processes_job_file(tmp_path, paths, target)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    for kill in range(2):
        before = _parts_committed(target)
        proc = subprocess.Popen([sys.executable, "-m", "loader", "run", str(job_file)], env=env, start_new_session=True)
        deadline = time.monotonic() + 120
        while _parts_committed(target) < before + 10 + kill * 7 and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before kill {kill}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    report = Pipeline(job(paths, target, "processes")).run()
    assert report.status == "ok" and report.resumed
    expected = Pipeline(job(paths, tmp_path / "clean.db", "threads")).run()
    assert contents(target, "sqlite") == contents(tmp_path / "clean.db", "sqlite")
    assert len(contents(target, "sqlite")) == expected.rows_written
    assert reject_lines(report.rejects_path or "") == reject_lines(expected.rejects_path or "")


def small_files(directory: Path, count: int, bad: int | None = None) -> list[Path]:
    """``count`` CSV files of two rows each; file ``bad`` has a column the others lack."""
    paths = []
    for i in range(count):
        path = directory / f"s{i:03d}.csv"
        extra = i == bad
        head = "id,note,n" + (",more" if extra else "")
        rows = [f"{2 * i + j},n{i},{j}" + (",x" if extra else "") for j in range(2)]
        path.write_text("\n".join([head, *rows]) + "\n")
        paths.append(path)
    return paths


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the groups of parts committed together, negative for one that failed
    (then committed part by part); the first wait is held for a second, so that every small
    part is finished by the first commit (a group is the parts finished in order: otherwise
    how many depends on timing)."""
    from loader.engines import Coordinator

    sizes: list[int] = []
    real_all, real_await = Coordinator._commit_all, Coordinator._await
    held: list[bool] = []

    def commit_all(self: Any, group: list[Any]) -> None:
        try:
            real_all(self, group)
        except Exception:
            sizes.append(-len(group))
            raise
        sizes.append(len(group))

    def wait(self: Any, *args: Any) -> None:
        if not held:
            held.append(True)
            time.sleep(1.0)
        real_await(self, *args)

    monkeypatch.setattr(Coordinator, "_commit_all", commit_all)
    monkeypatch.setattr(Coordinator, "_await", wait)
    return sizes


def small_job(paths: list[Path], target: Path, engine: str) -> JobConfig:
    return JobConfig(
        source=SourceConfig(path=[str(p) for p in paths]),
        sink=SinkConfig(path=str(target), table="t"),  # alter false: a new column stops the file
        run=RunConfig(engine=engine),  # type: ignore[arg-type]
    )


def test_small_files_parts_share_a_commit_and_load_as_threads_does(tmp_path: Path, groups: list[int]) -> None:
    paths = small_files(tmp_path, 30)
    report = Pipeline(small_job(paths, tmp_path / "p.db", "processes")).run()
    assert groups and max(groups) > 1, groups  # grouped: fewer commits than parts
    assert report.rows_written == 60 and report.files_loaded == 30
    assert [p["rows_written"] for p in report.parts] == [2] * 30
    Pipeline(small_job(paths, tmp_path / "t.db", "threads")).run()
    assert contents(tmp_path / "p.db", "sqlite") == contents(tmp_path / "t.db", "sqlite")
    assert not os.path.exists(str(tmp_path / "p.db") + ".parts")  # light parts leave nothing


def test_a_failing_file_in_a_group_keeps_the_files_before_it_committed_as_threads_does(
    tmp_path: Path, groups: list[int]
) -> None:
    paths = small_files(tmp_path, 12, bad=7)  # s007.csv has a column the table lacks (alter never)
    stops = {}
    for engine in ("threads", "processes"):
        with pytest.raises(LoaderError) as stopped:
            Pipeline(small_job(paths, tmp_path / f"{engine}.db", engine)).run()
        stops[engine] = (type(stopped.value), stopped.value.file, stopped.value.exit_code)
    assert groups and groups[0] < -1, groups  # the bad file's part was in a group, which failed
    assert stops["processes"] == stops["threads"]
    assert stops["threads"][1] == str(paths[7])
    rows = contents(tmp_path / "processes.db", "sqlite")
    assert rows == contents(tmp_path / "threads.db", "sqlite")
    assert [r[0] for r in rows] == list(range(14))  # the 7 files before it, every row once
    with sqlite3.connect(tmp_path / "processes.db") as conn:  # each committed with its checkpoint
        parts = conn.execute("SELECT count(*) FROM _loader_state WHERE key LIKE 'part:%'").fetchone()[0]
    assert parts == 7


def test_a_light_part_writes_no_manifest_and_is_read_again_by_a_rerun(tmp_path: Path) -> None:
    from loader.engines.work import finished, manifest_path

    _, target, (pipe, types), parts = planned(tmp_path, rows=200)
    task = as_the_run_makes_it(pipe, parts[0], types, str(target) + ".parts")
    task = replace(task, job=replace(task.job, run=replace(task.job.run, part_size=32 << 20)))
    assert task.light  # a few KB: at most run.part_size / 32 (1 MiB by default)
    os.makedirs(task.spill_dir)
    result = run_part(task)
    assert result.files and all(f.endswith(".arrow") and os.path.exists(f) for f in result.files)
    assert not os.path.exists(manifest_path(task.prefix)) and finished(task) is None
    heavy = replace(task, job=replace(task.job, run=replace(task.job.run, part_size=32 * parts[0].size - 1)))
    assert not heavy.light
    # on Dask a dead worker takes a finished part's result with it: only a manifest keeps it
    assert not replace(task, job=replace(task.job, run=replace(task.job.run, engine="dask"))).light


def test_the_coordinator_prepares_each_file_by_its_parts_schema_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loader.engines import Coordinator

    read: list[str] = []
    real = Coordinator._read_schema

    def reading(self: Any, path: str) -> Any:
        read.append(path)
        return real(self, path)

    monkeypatch.setattr(Coordinator, "_read_schema", reading)
    paths = small_files(tmp_path, 5)
    report = Pipeline(small_job(paths, tmp_path / "p.db", "processes")).run()
    assert report.rows_written == 10
    assert read == [str(paths[0])]  # the first file, checked before any part ran


def test_a_changed_file_between_small_files_stops_the_run_at_its_turn_as_threads_does(
    tmp_path: Path, groups: list[int]
) -> None:
    paths = small_files(tmp_path, 10)
    stops = {}
    for engine in ("threads", "processes"):
        target = tmp_path / f"{engine}.db"
        Pipeline(small_job([paths[0], paths[3]], target, "threads")).run()
        paths[3].write_text("id,note,n\n6,n3,0\n7,changed,1\n")  # loaded, then changed: stops the run at its turn
        with pytest.raises(LoaderError) as stopped:
            Pipeline(small_job(paths, target, engine)).run()
        stops[engine] = (type(stopped.value), stopped.value.file, contents(target, "sqlite"))
        paths[3].write_text("id,note,n\n6,n3,0\n7,n3,1\n")
    assert stops["processes"] == stops["threads"]
    assert groups and min(groups) > 1, groups  # s001 and s002 share a commit; no group passed over s003
    assert stops["threads"][1] == str(paths[3])
    assert [r[0] for r in stops["threads"][2]] == [0, 1, 2, 3, 4, 5, 6, 7]  # s001 and s002 before it, none after


def test_max_rejects_crossed_inside_a_shared_commit_stops_at_the_file_that_crossed_it(
    tmp_path: Path, groups: list[int]
) -> None:
    paths = small_files(tmp_path, 12)
    paths[4].write_text("id,note,n\n8,,0\n9,n4,1\n")  # a NULL note: the table refuses it
    got = {}
    for engine in ("threads", "processes"):
        target = tmp_path / f"{engine}.db"
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE t (id INTEGER, note TEXT NOT NULL, n INTEGER)")
        config = small_job(paths, target, engine)
        config = replace(config, run=replace(config.run, max_rejects=0))
        with pytest.raises(RejectLimitError) as stopped:
            Pipeline(config).run()
        got[engine] = (stopped.value.file, contents(target, "sqlite"))
    assert groups and groups[0] < -1, groups  # the refused row's group failed: its parts went alone
    assert got["processes"] == got["threads"]
    assert got["threads"][0] == str(paths[4])
    assert [r[0] for r in got["threads"][1]] == [*range(8), 9]  # s000-s003 and s004 but its refused row: none after
