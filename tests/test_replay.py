"""Replay of a fixed reject file: exactly once, into real SQLite and LevelDB targets."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from loader import load
from loader.errors import ConfigError, NothingLoadedError, RejectLimitError
from loader.paths import lock_path
from loader.pipeline import Pipeline
from loader.replay import ReplayReport
from tests.reliability_util import (
    cli,
    holds_open,
    leveldb_items,
    leveldb_state,
    popen,
    reject_lines,
    rejects_of,
    sqlite_state,
    sqlite_table,
    wait_until,
    write_job,
)

CSV = "id,name,amount\n1,a,10\n2,b,abc\n3,c,30\n4,d\n5,e,x5\n"


def setup(
    tmp_path: Path, sink: str, batch_size: int | None = None, mode: str = "append", **run: Any
) -> tuple[Path, Path, Path]:
    """A load with three rejects (rows 2, 4, 5); the job file, the target, the reject file."""
    src = tmp_path / "in.csv"
    src.write_text(CSV, encoding="utf-8")
    target = tmp_path / ("out.db" if sink == "sqlite" else "out.ldb")
    sink_table: dict[str, Any] = {"type": "sqlite", "path": str(target), "table": "t"}
    if sink == "leveldb":
        sink_table = {"type": "leveldb", "path": str(target), "key": "{id}"}
    if batch_size:
        sink_table["batch_size"] = batch_size
    sink_table["mode"] = mode
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"amount": "int64"}},
        sink=sink_table,
        run=run,
    )
    report = Pipeline.from_config(job).run()
    assert (report.rows_written, report.rows_rejected) == (2, 3)
    return job, target, Path(report.rejects_path or "")


def edit(rejects: Path, fixes: dict[int, dict[str, Any]]) -> None:
    """Rewrite reject lines by row: what the user does by hand."""
    lines = reject_lines(rejects)
    for line in lines:
        line.update(fixes.get(line["row"], {}))
    rejects.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


def rows_of(target: Path) -> list[Any]:
    if target.suffix == ".db":
        return sqlite_table(target)
    data, _ = leveldb_items(target)
    return sorted((json.loads(v)["id"], json.loads(v)["name"], json.loads(v)["amount"]) for _, v in data)


def accounted(r: ReplayReport) -> bool:
    return r.rows_read == r.rows_written + r.rows_rejected + r.rows_filtered + r.rows_ignored + r.rows_already


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_fixed_rows_load_once_with_their_types(tmp_path: Path, sink: str) -> None:
    job, target, rejects = setup(tmp_path, sink)
    assert [x["v"] for x in reject_lines(rejects)] == [2, 2, 2]
    # row 2: a fixed value (a JSON number); row 4: fixed raw text; row 5 still bad, in the old format (no "v")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": 20}}, 4: {"raw": "4,d,40"}})
    old = rejects.read_text(encoding="utf-8").replace('"v": 2, ', "", 1)
    rejects.write_text(old, encoding="utf-8")

    r = Pipeline.from_config(job).replay(rejects)
    assert isinstance(r, ReplayReport)
    assert (r.status, r.rows_read, r.rows_written, r.rows_rejected, r.rows_already) == ("ok", 3, 2, 1, 0)
    assert accounted(r)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40)]
    assert r.rows == [
        {"file": str(tmp_path / "in.csv"), "row": 2, "line": 3, "status": "loaded"},
        {"file": str(tmp_path / "in.csv"), "row": 4, "line": 5, "status": "loaded"},
        {"file": str(tmp_path / "in.csv"), "row": 5, "line": 6, "status": "rejected"},
    ]
    again = Path(str(rejects)[: -len(".jsonl")] + ".replay.jsonl")
    assert r.rejects_path == str(again)
    job_name = "table:t" if sink == "sqlite" else "key:{id}"
    assert reject_lines(again) == [
        {
            "job": job_name,
            "target": os.path.realpath(target),
            "v": 2,
            "file": str(tmp_path / "in.csv"),
            "row": 5,
            "reason": "'x5' is not a valid int64",
            "stage": "read",
            "column": "amount",
            "line": 6,
            "values": {"id": "5", "name": "e", "amount": "x5"},
        }
    ]

    second = Pipeline.from_config(job).replay(rejects)
    assert (second.rows_read, second.rows_written, second.rows_rejected, second.rows_already) == (3, 0, 1, 2)
    assert accounted(second)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40)]
    assert len(reject_lines(again)) == 1  # rewritten by each replay, not appended to

    # the last bad row, fixed in the replay's own reject file, replays from there
    edit(again, {5: {"values": {"id": "5", "name": "e", "amount": "50"}}})
    third = Pipeline.from_config(job).replay(again)
    assert (third.rows_written, third.rows_rejected) == (1, 0)
    assert rows_of(target)[-1] == (5, "e", 50)
    # every row of both files replayed: nothing left to do, and nothing done twice
    for path in (rejects, again):
        last = Pipeline.from_config(job).replay(path)
        assert (last.rows_written, last.rows_rejected, last.rows_already) == (0, 0, last.rows_read)
    assert len(rows_of(target)) == 5


def test_a_row_with_a_column_no_run_had_a_value_in_replays(tmp_path: Path) -> None:
    """`w` is empty in the whole file: no type was recorded for it, and the row still replays."""
    (tmp_path / "in.csv").write_text("id,v,w\n1,3,\n,4,\n", encoding="utf-8")
    target = tmp_path / "out.ldb"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(tmp_path / "in.csv")},
        sink={"type": "leveldb", "path": str(target), "key": "k{id}"},
    )
    report = Pipeline.from_config(job).run()
    rejects = Path(report.rejects_path or "")
    assert [x["values"] for x in reject_lines(rejects)] == [{"id": None, "v": 4, "w": None}]
    edit(rejects, {2: {"values": {"id": "2", "v": 4, "w": None}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 0)
    assert leveldb_items(target)[0] == [
        (b"k00000000000000000001", b'{"id":1,"v":3,"w":null}'),
        (b"k00000000000000000002", b'{"id":2,"v":4,"w":null}'),
    ]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_stopped_replay_rerun_adds_each_row_once(tmp_path: Path, sink: str) -> None:
    job, target, rejects = setup(tmp_path, sink, chunk_size=1, batch_size=1)
    # row 4 stays bad: the replay stops there (max_rejects = 0) after row 2 committed
    edit(
        rejects,
        {
            2: {"values": {"id": "2", "name": "b", "amount": "20"}},
            5: {"values": {"id": "5", "name": "e", "amount": "50"}},
        },
    )
    with pytest.raises(RejectLimitError) as stop:
        Pipeline.from_config(job, ["run.max_rejects=0"]).replay(rejects)
    assert stop.value.report.rows_written == 1  # type: ignore[attr-defined]
    assert [r[0] for r in rows_of(target)] == [1, 2, 3]

    edit(rejects, {4: {"raw": "4,d,40"}})
    r = Pipeline.from_config(job, ["run.max_rejects=0"]).replay(rejects)
    assert (r.rows_written, r.rows_rejected, r.rows_already) == (2, 0, 1)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40), (5, "e", 50)]


def test_cli_replay_line_and_exit_code(tmp_path: Path) -> None:
    job, target, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    p = cli("replay", str(rejects), "--job", str(job), "--report", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    again = str(rejects)[: -len(".jsonl")] + ".replay.jsonl"
    assert p.stderr.splitlines() == [
        f"ok: replayed 3 rows from {rejects} into {target} (table t): 1 written, 2 rejected again, "
        f"0 already replayed; WARNING 2 rows rejected again, see {again}"
    ]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["rows_written"], report["rows_already"], report["replayed_from"]) == (1, 0, str(rejects))


def test_reject_file_of_another_job(tmp_path: Path) -> None:
    job, target, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}, 4: {"job": "table:other"}})
    # some lines of this job: the others are skipped and counted
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_read, r.rows_written, r.rows_rejected, r.rows_other_job) == (2, 1, 1, 1)
    assert "; 1 rows of other jobs skipped" in r.summary()
    # none of this job: refused, nothing written
    edit(rejects, {2: {"job": "table:other"}, 5: {"job": "table:other"}})
    before = sqlite_table(target)
    with pytest.raises(
        ConfigError, match="no line of job 'table:t'; the file holds rows of 'table:other' \\(3 rows\\)"
    ):
        Pipeline.from_config(job).replay(rejects)
    assert sqlite_table(target) == before
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 2
    assert p.stderr.startswith(f"loader: error: {rejects}: no line of job 'table:t'")


def test_a_replay_without_the_load_s_job_name_names_the_job_its_lines_are_of(tmp_path: Path) -> None:
    """hunt28b D4: a ``loader load --job daily``'s rejects replayed without ``--set run.job=daily``
    were told to "load the job first", though the file's every line names job 'daily'."""
    src = tmp_path / "j.csv"
    src.write_text("id;v\n1;2\n2;3;4\n")
    db = tmp_path / "j.db"
    assert cli("load", str(src), str(db), "--delimiter", ";", "--job", "daily", "-q").returncode == 0
    rejects = tmp_path / "j.db.daily.rejects.jsonl"
    p = cli("replay", str(rejects), str(src), str(db), "--delimiter", ";")
    assert (p.returncode, p.stderr.splitlines()) == (
        2,
        [
            f"loader: error: job 'table:j' has no checkpoint in {db}: the reject file's lines are of job 'daily'",
            "  hint: replay them as that job: add --set run.job=daily",
        ],
    )
    p = cli("replay", str(rejects), str(src), str(db), "--delimiter", ";", "--set", "run.job=daily")
    assert p.returncode == 4 and "replayed 1 rows from" in p.stderr  # the row, not fixed, is rejected again


def test_reject_lines_under_an_earlier_spelling_of_the_table_are_the_jobs(tmp_path: Path) -> None:
    """A loader before named a job as the run spelled its table (``--table T``): its lines
    are this job's (``table:t``), not another job's."""
    job, _, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {row: {"job": "table:T"} for row in (2, 4, 5)})
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_read, r.rows_written, r.rows_rejected, r.rows_other_job) == (3, 1, 2, 0)


def test_rows_reenter_the_stages_where_they_left(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name,amount\n1,a,10\n2,b,abc\n3,c,-5\n4,d,-7\n", encoding="utf-8")
    db = tmp_path / "out.db"
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{src}"\ncolumns = {{ amount = "int64" }}\n'
        f'[sink]\ntype = "sqlite"\npath = "{db}"\ntable = "t"\n'
        '[[transform]]\ntype = "rename"\ncolumns = { name = "label" }\n'
        '[[transform]]\ntype = "validate"\nrules = { amount = { min = 0 } }\n',
        encoding="utf-8",
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    stages = [(x["row"], x["stage"], x["values"]) for x in reject_lines(rejects)]
    assert stages == [
        (2, "read", {"id": "2", "name": "b", "amount": "abc"}),
        (3, "transform[2] (validate)", {"id": 3, "label": "c", "amount": -5}),
        (4, "transform[2] (validate)", {"id": 4, "label": "d", "amount": -7}),
    ]
    # row 2 enters before rename; rows 3 and 4 at the validate stage, after it; row 4 breaks the rule again
    edit(
        rejects,
        {2: {"values": {"id": "2", "name": "b", "amount": "20"}}, 3: {"values": {"id": 3, "label": "c", "amount": 5}}},
    )
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (2, 1)
    assert sqlite_table(db) == [(1, "a", 10), (2, "b", 20), (3, "c", 5)]
    [again] = reject_lines(Path(r.rejects_path or ""))
    assert (again["row"], again["line"], again["stage"], again["reason"]) == (
        4,
        5,
        "transform[2] (validate)",
        "rule min=0 failed for amount: -7",
    )


def test_target_rejects_go_straight_to_the_target(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n,b\n3,c\n", encoding="utf-8")
    target = tmp_path / "out.ldb"
    job = write_job(
        tmp_path / "job.toml", source={"path": str(src)}, sink={"type": "leveldb", "path": str(target), "key": "{id}"}
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    [line] = reject_lines(rejects)
    assert (line["stage"], line["values"]) == ("write", {"id": None, "name": "b"})
    edit(rejects, {2: {"values": {"id": 2, "name": "b"}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 0)
    data, state = leveldb_items(target)
    assert [(k, json.loads(v)) for k, v in data] == [
        (f"{1:020d}".encode(), {"id": 1, "name": "a"}),
        (f"{2:020d}".encode(), {"id": 2, "name": "b"}),
        (f"{3:020d}".encode(), {"id": 3, "name": "c"}),
    ]
    assert state[f"replayed:{src}#2-2"] == [2]  # the rows replayed in one commit, per file


def test_killed_replay_rerun_adds_each_row_once(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    n = 2000  # 1,000 commits of a row: seconds, so the kill lands mid-replay on a busy machine too
    src.write_text(
        "id,amount\n" + "".join(f"{i},{i * 10 if i % 2 else f'x{i}'}\n" for i in range(1, n + 1)), encoding="utf-8"
    )
    db = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"amount": "int64"}},
        sink={"type": "sqlite", "path": str(db), "table": "t"},
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    edit(rejects, {i: {"values": {"id": str(i), "amount": str(i * 10)}} for i in range(2, n + 1, 2)})
    # a commit per row: the kill lands between two of them, or inside one
    args = ("replay", str(rejects), "--job", str(job), "--set", "sink.batch_size=1", "--set", "run.chunk_size=1")
    proc = popen(*args)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if any(k.startswith("replayed:") for k in sqlite_state(db, "table:t")):
                break
        except sqlite3.OperationalError:
            pass  # locked by the replay's commit
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    marked = sum(len(v) for k, v in sqlite_state(db, "table:t").items() if k.startswith("replayed:"))
    assert 0 < marked < n // 2
    assert len(sqlite_table(db)) == n // 2 + marked  # the marks and the rows committed together

    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_already, r.rows_rejected) == (n // 2 - marked, marked, 0)
    assert sqlite_table(db) == [(i, i * 10) for i in range(1, n + 1)]


def _ignore_job(tmp_path: Path, n: int) -> Path:
    """``n`` rows into LevelDB under ``ignore``, every other one's amount not a number; a commit a 50 rows."""
    src = tmp_path / "in.csv"
    src.write_text("id,amount\n" + "".join(f"{i},{i if i % 2 else f'{i}x'}\n" for i in range(n)), encoding="utf-8")
    return write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"amount": "int64"}},
        sink={"path": str(tmp_path / "out.ldb"), "key": "{id}", "mode": "ignore", "batch_size": 50},
        run={"chunk_size": 50},
    )


def _killed(tmp_path: Path, at: int, *args: str) -> None:
    """``loader ARGS`` SIGKILLed right after its ``at``-th WriteBatches, before their checkpoint."""
    import subprocess
    import sys

    from tests.reliability_util import env
    from tests.writers.test_leveldb import KILL_BEFORE_CHECKPOINT

    hook = env({"KILL_HOOK": "write", "KILL_AT": str(at)})
    p = subprocess.run([sys.executable, "-c", KILL_BEFORE_CHECKPOINT, *args], capture_output=True, text=True, env=hook)
    assert p.returncode == -signal.SIGKILL, p.stderr


def test_an_ignore_replay_killed_before_its_checkpoint_counts_its_rows_written_on_rerun(tmp_path: Path) -> None:
    """The rows a killed replay wrote, its checkpoint not: the rerun found their keys and counted
    them "ignored (key already there)". They count as written, as for a load (``leveldb_own``)."""
    job = _ignore_job(tmp_path, 400)
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    edit(rejects, {i + 1: {"values": {"id": str(i), "amount": str(i)}} for i in range(0, 400, 2)})
    _killed(tmp_path, 2, "replay", str(rejects), "--job", str(job))
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_ignored, r.rows_already) == (150, 0, 50)
    assert len(leveldb_items(tmp_path / "out.ldb")[0]) == 400


def test_a_replay_between_a_killed_ignore_load_and_its_rerun_keeps_the_loads_note(tmp_path: Path) -> None:
    """The load's note of its rows written before its checkpoint: a replay in between took its
    bits for the replayed rows and dropped it, and the load's rerun counted its own rows ignored."""
    job = _ignore_job(tmp_path, 400)
    _killed(tmp_path, 2, "run", str(job))
    rejects = next(tmp_path.glob("out.ldb*.rejects.jsonl"))
    edit(rejects, {r["row"]: {"values": {"id": str(r["row"] - 1), "amount": "0"}} for r in reject_lines(rejects)})
    replayed = Pipeline.from_config(job).replay(rejects)
    assert (replayed.rows_ignored, replayed.rows_written) == (0, replayed.rows_read)
    r = Pipeline.from_config(job).run()
    assert (r.rows_written + r.rows_rejected, r.rows_ignored) == (r.rows_read, 0)
    assert len(leveldb_items(tmp_path / "out.ldb")[0]) == 200 + replayed.rows_written


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_replay_never_wipes_a_replace_target(tmp_path: Path, sink: str) -> None:
    job, target, rejects = setup(tmp_path, sink, mode="replace")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 2)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30)]
    # the next load replaces the target and forgets what was replayed into the old one
    assert Pipeline.from_config(job).run().rows_written == 2
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    assert Pipeline.from_config(job).replay(rejects).rows_written == 1
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30)]


def test_rows_python_cannot_hold_replay_from_their_text(tmp_path: Path) -> None:
    """A rejected row's nanosecond timestamps are ISO text in the reject line and replay to
    the same instant; a date past year 9999 is that text too, which the text conversion
    does not read (4-digit years only): the row is rejected again, with the reason."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    table = pa.table(
        {
            "id": [1, 2, 3],
            "u": pa.array([1, 2**64 - 1, 2**64 - 1], pa.uint64()),
            "ns": pa.array([1, 2, 3], pa.timestamp("ns", "UTC")),
            "day": pa.array([0, 1, 2_932_897], pa.date32()),  # 10000-01-01
        }
    )
    pq.write_table(table, src)
    target = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml", source={"path": str(src)}, sink={"type": "sqlite", "path": str(target), "table": "t"}
    )
    report = Pipeline.from_config(job).run()
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    rejects = Path(report.rejects_path or "")
    assert [x["values"] for x in reject_lines(rejects)] == [
        {"id": 2, "u": 2**64 - 1, "ns": "1970-01-01T00:00:00.000000002Z", "day": "1970-01-02"},
        {"id": 3, "u": 2**64 - 1, "ns": "1970-01-01T00:00:00.000000003Z", "day": "10000-01-01"},
    ]
    edit(rejects, {2: {"values": {"id": 2, "u": 2, "ns": "1970-01-01T00:00:00.000000002Z", "day": "1970-01-02"}},
                   3: {"values": {"id": 3, "u": 3, "ns": "1970-01-01T00:00:00.000000003Z", "day": "10000-01-01"}}})  # fmt: skip
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 1)
    assert sqlite_table(target) == [
        (1, 1, "1970-01-01T00:00:00.000000001Z", "1970-01-01"),
        (2, 2, "1970-01-01T00:00:00.000000002Z", "1970-01-02"),
    ]
    [again] = reject_lines(Path(r.rejects_path or ""))
    assert (again["row"], again["column"], again["reason"]) == (3, "day", "'10000-01-01' is not a valid date")


def test_a_parquet_large_string_column_replays(tmp_path: Path) -> None:
    """pandas' strings through pyarrow are large_string: recorded as string with the
    checkpoint, so a replayed row finds its column (it was left out, every row rejected again)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    names = pa.array(["a", "b"], pa.large_string())
    pq.write_table(pa.table({"id": [1, 2], "name": names, "n": pa.array([5, 2**64 - 1], pa.uint64())}), src)
    target = tmp_path / "out.db"
    job = write_job(tmp_path / "job.toml", source={"path": str(src)}, sink={"path": str(target), "table": "t"})
    assert cli("run", str(job), "-q").returncode == 0
    assert sqlite_state(target)["schema"] == {"id": "int64", "n": "uint64", "name": "string"}
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(rejects.read_text().replace("18446744073709551615", "7"))
    p = cli("replay", str(fixed), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert sqlite_table(target) == [(1, "a", 5), (2, "b", 7)]


def test_a_nul_in_text_replays_as_the_reader_reads_it(tmp_path: Path) -> None:
    """A Parquet file's text keeps its NUL at the read and at the replay (the replay rejected
    it); a CSV field's NUL is rejected at both."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"id": [1, 2], "name": ["a\x00b", "c\x00d"], "n": pa.array([5, 2**64 - 1], pa.uint64())}), src
    )
    job = write_job(tmp_path / "job.toml", source={"path": str(src)}, sink={"path": "out.db", "table": "t"})
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    edit(rejects, {2: {"values": {"id": 2, "name": "c\x00d", "n": 7}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 0)
    assert sqlite_table(tmp_path / "out.db") == [(1, "a\x00b", 5), (2, "c\x00d", 7)]

    (tmp_path / "in.csv").write_bytes(b"id,name\n1,a\n2,b\x00c\n")
    job = write_job(tmp_path / "csv.toml", source={"path": "in.csv"}, sink={"path": "csv.db", "table": "t"})
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(job).replay(rejects)
    assert [(x["row"], x["reason"]) for x in reject_lines(again_of(rejects))] == [(2, "NUL byte in value")]


def again_of(rejects: Path) -> Path:
    """Where a replay of ``rejects`` puts the rows that fail again."""
    return rejects.with_suffix(".replay.jsonl")


def test_a_json_lines_raw_line_replays_as_the_reader_parses_it(tmp_path: Path) -> None:
    """A fixed JSON Lines line is parsed as JSON (numbers as written), not split as CSV."""
    (tmp_path / "in.jsonl").write_text(
        '{"id": 1, "n": 9007199254740993, "name": "ann"}\n{"id": 2, "n": 9007199254740995, "name": "bob, jr"\n'
    )
    job = write_job(tmp_path / "job.toml", source={"path": "in.jsonl"}, sink={"path": "out.db", "table": "t"})
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    [line] = reject_lines(rejects)
    assert line["raw"] == '{"id": 2, "n": 9007199254740995, "name": "bob, jr"'
    edit(rejects, {2: {"raw": line["raw"] + "}"}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "out.db") == [(1, 9007199254740993, "ann"), (2, 9007199254740995, "bob, jr")]


def test_a_json_lines_raw_line_replays_with_another_spelling_of_a_column(tmp_path: Path) -> None:
    """`A` is the file's column `a` (keys that differ only in case are one column): a fixed
    line spelling it so replays into `a`; one holding both is rejected again, both named."""
    (tmp_path / "in.jsonl").write_text(
        '{"id": 1, "a": 1}\n{"id": 2, "A": 2}\n{"id": 3, "A": "x"}\n{"id": 4, "A": "y"}\n'
    )
    job = write_job(
        tmp_path / "job.toml", source={"path": "in.jsonl", "infer_rows": 2}, sink={"path": "out.db", "table": "t"}
    )
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    assert [r["row"] for r in reject_lines(rejects)] == [3, 4]
    edit(rejects, {3: {"raw": '{"id": 3, "A": 3}'}, 4: {"raw": '{"id": 4, "a": 4, "A": 4}'}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "out.db") == [(1, 1), (2, 2), (3, 3)]
    [again] = reject_lines(again_of(rejects))
    assert (again["row"], again["reason"]) == (4, "keys 'a' and 'A' differ only in case: one column of the file")


def test_a_json_lines_row_replayed_with_alter_writes_nan_in_json_text_as_the_load_does(tmp_path: Path) -> None:
    """A key past the sample rejects its row; replayed with --alter, the nested NaN and
    Infinity in its JSON text are written as the load writes them: RFC 8259 JSON."""
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n{"id": 2, "u": [1, "a", NaN, {"k": -Infinity}]}\n')
    job = write_job(
        tmp_path / "job.toml", source={"path": "in.jsonl", "infer_rows": 1}, sink={"path": "out.db", "table": "t"}
    )
    assert cli("run", str(job), "-q").returncode == 0
    p = cli("replay", str(tmp_path / "out.db.table-t.rejects.jsonl"), "--job", str(job), "--alter")
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "out.db") == [(1, None), (2, '[1,"a",null,{"k":"-Infinity"}]')]


def test_raw_lines_of_each_format_replay_in_their_files_format_with_a_job_of_another(tmp_path: Path) -> None:
    """Runs of CSV and of JSON Lines into one table share its reject file. Replayed with the
    CSV job, a JSON Lines line was split as CSV: "no column '{"id": 4' in the job's columns"."""
    (tmp_path / "a.csv").write_text("id,amount\n1,10\n2,2,x\n")
    (tmp_path / "b.jsonl").write_text('{"id": 4, "amount": 40}\n{"id": 5, "amount": "5x"}\n')
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "a.csv", "columns": {"amount": "int64"}},
        sink={"path": "out.db", "table": "t"},
    )
    assert cli("run", "job.toml", "-q", cwd=tmp_path).returncode == 0
    assert (
        cli("load", "b.jsonl", "out.db", "--table", "t", "--columns", "amount=int64", "-q", cwd=tmp_path).returncode
        == 0
    )
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    assert [(r["file"], r["raw"]) for r in reject_lines(rejects)] == [
        ("a.csv", "2,2,x"),
        ("b.jsonl", '{"id": 5, "amount": "5x"}'),
    ]
    (tmp_path / "fixed.jsonl").write_text(rejects.read_text().replace("2,2,x", "2,20").replace('\\"5x\\"', "50"))
    p = cli("replay", "fixed.jsonl", "--job", str(job), "-q", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_table(tmp_path / "out.db") == [(1, 10), (2, 20), (4, 40), (5, 50)]


@pytest.mark.parametrize(
    ("name", "path", "later"), [("in.txt", "*.txt", "in2/*.txt"), ("in[1].txt", "in[1].txt", None)]
)
def test_a_raw_line_of_a_file_the_job_reads_in_its_declared_format_replays_in_it(
    tmp_path: Path, name: str, path: str, later: str | None
) -> None:
    """``format = "jsonl"`` for ``.txt`` files (a name that tells no format): their lines replay
    as JSON Lines, also once the job's path names other files (a monthly folder), and for a file
    the job names exactly, ``[`` and all (they were split as CSV: "no column 'id'")."""
    (tmp_path / name).write_text('{"id": 1, "amount": 10}\n{"id": 2, "amount": "2x"}\n')
    job = write_job(
        tmp_path / "job.toml",
        source={"path": path, "format": "jsonl", "columns": {"amount": "int64"}},
        sink={"path": "out.db", "table": "t"},
    )
    assert cli("run", "job.toml", "-q", cwd=tmp_path).returncode == 0
    if later is not None:
        write_job(
            tmp_path / "job.toml",
            source={"path": later, "format": "jsonl", "columns": {"amount": "int64"}},
            sink={"path": "out.db", "table": "t"},
        )
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    edit(rejects, {2: {"raw": '{"id": 2, "amount": 20}'}})
    p = cli("replay", str(rejects), "--job", str(job), "-q", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_table(tmp_path / "out.db") == [(1, 10), (2, 20)]


def test_a_raw_line_of_a_parquet_file_is_rejected_again(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1, -2]}), tmp_path / "in.parquet")
    job = tmp_path / "job.toml"
    job.write_text(
        '[source]\npath = "in.parquet"\n[sink]\npath = "out.db"\ntable = "t"\n'
        '[[transform]]\ntype = "validate"\nrules = { id = { min = 0 } }\n'
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    edit(rejects, {2: {"values": None, "raw": "2"}})
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(job).replay(rejects)
    [again] = reject_lines(again_of(rejects))
    assert again["reason"] == 'a Parquet file has no raw text: write the row\'s fields in "values"'


def test_a_replay_from_another_directory_loads_each_row_once(tmp_path: Path) -> None:
    """A reject line's file, relative to where the load ran, goes with its absolute path:
    the replay's marks name the same file from any directory."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "in.csv").write_text("id,v\n1,1\n2,x\n")
    write_job(
        sub / "job.toml", source={"path": "in.csv", "columns": {"v": "int64"}}, sink={"path": "out.db", "table": "t"}
    )
    assert cli("run", "sub/job.toml", "-q", cwd=tmp_path).returncode == 0
    rejects = sub / "out.db.table-t.rejects.jsonl"
    [line] = reject_lines(rejects)
    assert (line["file"], line["path"]) == ("sub/in.csv", str(sub / "in.csv"))
    edit(rejects, {2: {"values": {"id": "2", "v": "2"}}})
    first = cli("replay", "sub/out.db.table-t.rejects.jsonl", "--job", "sub/job.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = cli("replay", "out.db.table-t.rejects.jsonl", "--job", "job.toml", cwd=sub)
    assert second.returncode == 0, second.stderr
    assert "0 written, 0 rejected again, 1 already replayed" in second.stderr
    assert sqlite_table(sub / "out.db") == [(1, 1), (2, 2)]


def test_a_line_without_path_names_its_file_from_the_current_directory(tmp_path: Path) -> None:
    """Lines an older loader wrote have no "path": their file is read from here, as then."""
    job, target, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    assert all("path" not in x for x in reject_lines(rejects))  # the job named the file absolutely
    assert Pipeline.from_config(job).replay(rejects).rows_written == 1
    assert sqlite_state(target)[f"replayed:{tmp_path / 'in.csv'}#2-2"] == [2]


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_binary_values_replay_as_their_bytes(tmp_path: Path, source: str) -> None:
    """A binary column's values are base64 in the reject line, and replay as those bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ""
    if source == "csv":
        (tmp_path / "in.csv").write_text("id,b\n1,abc\n-2,xyz\n")
        raw = b"xyz"
        columns = 'columns = { b = "binary" }\n'
    else:
        raw = b"\xff\x00z"
        pq.write_table(pa.table({"id": [1, -2], "b": pa.array([b"abc", raw], pa.binary())}), tmp_path / "in.parquet")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "in.{source}"\n{columns}[sink]\npath = "out.db"\ntable = "t"\n'
        '[[transform]]\ntype = "validate"\nrules = { id = { min = 0 } }\n'
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    [line] = reject_lines(rejects)
    assert line["values"] == {"id": -2, "b": {"base64": base64.b64encode(raw).decode()}}
    edit(rejects, {2: {"values": {"id": 2, "b": line["values"]["b"]}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 0)
    assert sqlite_table(tmp_path / "out.db") == [(1, b"abc"), (2, raw)]


def test_invalid_utf8_is_rejected_again_until_the_value_is_fixed(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are base64 in the reject line (not ``\\xNN`` text, which a value
    may hold): replayed unedited they fail the same way; written as text they load."""
    (tmp_path / "in.csv").write_bytes(b"id,name\n1,a\n2,b\xff\xfe\n3,\\xff,x\xff\n")
    job = write_job(tmp_path / "job.toml", source={"path": "in.csv"}, sink={"path": "out.db", "table": "t"})
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    lines = reject_lines(rejects)
    assert [(x["reason"], x.get("values"), x.get("raw")) for x in lines] == [
        ("invalid UTF-8 in 'b\\xff\\xfe'", {"id": "2", "name": {"base64": "Yv/+"}}, None),
        ("expected 2 fields, found 3", None, {"base64": base64.b64encode(b"3,\\xff,x\xff").decode()}),
    ]
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(job).replay(rejects)
    assert [(x["row"], x["reason"]) for x in reject_lines(again_of(rejects))] == [
        (2, "invalid UTF-8 in 'b\\xff\\xfe'"),
        (3, "expected 2 fields, found 3"),
    ]
    edit(rejects, {2: {"values": {"id": "2", "name": "b\\xff"}}, 3: {"raw": "3,\\xff"}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (2, 0)
    assert sqlite_table(tmp_path / "out.db") == [(1, "a"), (2, "b\\xff"), (3, "\\xff")]


def test_bytes_a_transcoded_file_held_fail_again_with_the_same_reason(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(b"id,name\n1,caf\xe9\n2,\x81x\n")
    job = write_job(
        tmp_path / "job.toml", source={"path": "in.csv", "encoding": "cp1252"}, sink={"path": "out.db", "table": "t"}
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(job).replay(rejects)
    [again] = reject_lines(again_of(rejects))
    assert (again["reason"], again["values"]) == (
        "not valid cp1252 text: '\\x81x'",
        {"id": "2", "name": {"base64": "gXg="}},
    )


def test_a_cut_raw_is_rejected_again_until_the_row_is_written_whole(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,amount,name\n1,1,a\n3,3," + "z" * 3000 + "\n")
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "in.csv", "max_row_bytes": 1024},
        sink={"path": "out.db", "table": "t"},
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    [line] = reject_lines(rejects)
    assert (len(line["raw"]), line["raw_truncated"]) == (1024, True)
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 4, p.stderr
    [again] = reject_lines(again_of(rejects))
    assert again["reason"] == (
        'raw was cut at 1024 bytes (raw_truncated): write the row\'s fields in "values", '
        'or the whole row in "raw" without "raw_truncated"'
    )
    assert again["raw_truncated"] is True
    edit(rejects, {2: {"values": {"id": "3", "amount": "3", "name": "z" * 3000}}})
    assert Pipeline.from_config(job).replay(rejects).rows_written == 1
    assert sqlite_table(tmp_path / "out.db") == [(1, 1, "a"), (3, 3, "z" * 3000)]


def test_a_json_lines_line_too_long_is_marked_cut(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n{"id": 2, "pad": "' + "z" * 3000 + '"}\n')
    job = write_job(
        tmp_path / "job.toml", source={"path": "in.jsonl", "max_row_bytes": 1024}, sink={"path": "out.db", "table": "t"}
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    [line] = reject_lines(rejects)
    assert (len(line["raw"]), line["raw_truncated"]) == (1024, True)


def test_replay_exit_codes_and_hints(tmp_path: Path) -> None:
    job, _, rejects = setup(tmp_path, "sqlite")
    again = again_of(rejects)
    # every row rejected again, none replayed before: not a success
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 4
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {rejects}: nothing replayed: all 3 rows rejected again",
        f"  hint: the rows rejected again are in {again} with their reasons: fix them there and replay that file",
    ]
    # stopped by --max-rejects, which replay takes: the reject file named, and how to go on
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    p = cli("replay", str(rejects), "--job", str(job), "--max-rejects", "0", "--set", "run.chunk_size=1")
    assert p.returncode == 3, p.stderr
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {rejects}: 1 rows rejected, more than max_rejects = 0",
        f"  hint: rows replayed so far are kept; the rows rejected again are listed in {again}: fix them in this "
        "file and replay it again, or replay it with a higher --max-rejects (rows already replayed are not loaded twice)",
    ]
    # some rows replayed before: the rest rejected again is no failure (as a resumed load)
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    # a reject file that is not there
    p = cli("replay", str(tmp_path / "nope.jsonl"), "--job", str(job))
    assert p.returncode == 66
    assert p.stderr.splitlines() == [
        f"loader: error: {tmp_path / 'nope.jsonl'}: cannot read the reject file: no such file",
        "  hint: check the reject file's path; nothing was replayed",
    ]


def test_a_reject_file_given_as_a_pipe_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """A reject file through a pipe (``/dev/stdin``, ``<(cat ...)``, a FIFO with no writer):
    a replay reads it twice, so it once replayed 0 rows and exited 0, or hung in ``open()``
    on a FIFO. Refused from its ``stat`` with 66; the table untouched, then the copy replays."""
    job, _, rejects = setup(tmp_path, "sqlite")
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(rejects.read_bytes())
    edit(fixed, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    before = sqlite_table(tmp_path / "out.db", "t")
    # /dev/stdin is the process's descriptor 0, a pipe only in a real process
    p = cli("replay", "/dev/stdin", "--job", str(job), input=fixed.read_text(encoding="utf-8"), process=True)
    assert p.returncode == 66, p.stderr
    assert p.stderr.splitlines() == [
        "loader: error: /dev/stdin: is a pipe (FIFO), not a regular file",
        "  hint: copy it to a file first (`cat ... > fixed.jsonl`) and replay that file; nothing was replayed",
    ]
    fifo = tmp_path / "rejects.fifo"
    os.mkfifo(fifo)
    p = cli("replay", str(fifo), "--job", str(job), timeout=60)  # no writer: never opened, so no hang
    assert p.returncode == 66
    assert p.stderr.splitlines()[0] == f"loader: error: {fifo}: is a pipe (FIFO), not a regular file"
    assert sqlite_table(tmp_path / "out.db", "t") == before
    p = cli("replay", str(fixed), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert len(sqlite_table(tmp_path / "out.db", "t")) == len(before) + 1


def test_a_row_the_table_refuses_again_is_rejected_again_not_marked_replayed(tmp_path: Path) -> None:
    """A replayed row the table's constraint refuses goes to the replay's reject file under
    its original file, row and line, and is not marked replayed: fixed, it replays later."""
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n2,b\n1,c\n", encoding="utf-8")
    target = tmp_path / "out.db"
    sink_table = {"type": "sqlite", "path": str(target), "table": "t", "primary_key": ["id"]}
    job = write_job(tmp_path / "job.toml", source={"path": str(src)}, sink=sink_table)
    report = Pipeline.from_config(job).run()
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    rejects = Path(report.rejects_path or "")
    with pytest.raises(NothingLoadedError, match="nothing replayed: all 1 rows rejected again") as info:
        Pipeline.from_config(job).replay(rejects)
    r = info.value.report
    assert isinstance(r, ReplayReport)
    assert (r.rows_read, r.rows_written, r.rows_rejected, r.rows_already) == (1, 0, 1, 0)
    assert accounted(r)
    assert r.rows == [{"file": str(src), "row": 3, "line": 4, "status": "rejected"}]
    [again] = reject_lines(Path(r.rejects_path or ""))
    assert (again["file"], again["row"], again["line"], again["reason"]) == (
        str(src),
        3,
        4,
        "key 1 is already in table 't' (UNIQUE constraint failed: t.id)",
    )
    edit(rejects, {3: {"values": {"id": 3, "name": "c"}}})
    fixed = Pipeline.from_config(job).replay(rejects)
    assert (fixed.rows_written, fixed.rows_rejected, fixed.rows_already) == (1, 0, 0)
    assert sqlite_table(target) == [(1, "a"), (2, "b"), (3, "c")]


def test_leveldb_replay_of_keys_out_of_order_stores_every_row(tmp_path: Path) -> None:
    """Keys that do not ascend turned the replay's writer to sorting (sink.sort = auto), whose
    held rows no replay wrote: it reported them written and the store lacked them."""
    ids = [907, 13, 550, 2, 78, 301, 44, 999, 120, 5]
    src = tmp_path / "in.csv"
    src.write_text("id,amount\n" + "".join(f"{i},{'x' if n % 2 else i}\n" for n, i in enumerate(ids)), encoding="utf-8")
    target = tmp_path / "out.ldb"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"amount": "int64"}},
        sink={"type": "leveldb", "path": str(target), "key": "{id}"},
    )
    first = Pipeline.from_config(job).run()
    assert (first.rows_written, first.rows_rejected) == (5, 5)
    rejects = Path(first.rejects_path or "")
    edit(rejects, {row: {"values": {"id": ids[row - 1], "amount": ids[row - 1]}} for row in (2, 4, 6, 8, 10)})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.status, r.rows_read, r.rows_written, r.rows_rejected) == ("ok", 5, 5, 0)
    data, _ = leveldb_items(target)
    assert sorted(json.loads(v)["id"] for _, v in data) == sorted(ids)
    assert all(json.loads(v)["amount"] == json.loads(v)["id"] for _, v in data)
    again = Pipeline.from_config(job).run()  # the load's own checkpoint is as the load left it
    assert (again.status, again.rows_read, again.files_skipped) == ("ok", 0, 1)


def test_sigterm_while_a_replay_waits_for_the_lock_stops_it_with_143(tmp_path: Path) -> None:
    """The replay took the lock before it listened for signals: the signal was only noted,
    and the replay waited out --lock-wait and exited 75. Like a load stopped at the lock, it
    writes no report: the run holding the lock may share the report file."""
    from loader.lock import TargetLock

    job, target, rejects = setup(tmp_path, "sqlite")
    report = tmp_path / "rr.json"
    with TargetLock(str(target)):  # another run holds the target
        proc = popen("replay", str(rejects), "--job", str(job), "--lock-wait", "60", "--report", str(report))
        # started (a signal while it starts is noted too), and waiting for the lock
        wait_until(lambda: holds_open(proc.pid, lock_path(str(target))), "waiting for the lock", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert not report.exists()  # a run that never got the lock leaves the holder's report as it is


def strict_json(line: str) -> Any:
    """A line as a JSON parser that holds to the standard reads it: NaN and Infinity are no tokens of it."""

    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_nan_and_infinities_in_a_reject_line_are_json_text(tmp_path: Path, sink: str) -> None:
    src = tmp_path / "nan.csv"
    src.write_text("id,f\n,nan\n,inf\n,-inf\n4,1.5\n", encoding="utf-8")
    if sink == "sqlite":
        report = load(src, tmp_path / "out.db", table="t", sink_options={"primary_key": ["id"]})
    else:
        report = load(src, tmp_path / "out.ldb", key="{id}")
    assert (report.rows_written, report.rows_rejected) == (1, 3)
    lines = [strict_json(line) for line in Path(report.rejects_path or "").read_text(encoding="utf-8").splitlines()]
    assert [x["values"] for x in lines] == [
        {"id": None, "f": "NaN"},
        {"id": None, "f": "Infinity"},
        {"id": None, "f": "-Infinity"},
    ]


def test_nan_and_infinities_replay_as_the_floats_they_were(tmp_path: Path) -> None:
    """Rows a stage rejected re-enter it with the column's floats: NaN, inf and -inf again
    (the derived text shows which), not text and not null."""
    src = tmp_path / "nan.csv"
    src.write_text("id,f\n,nan\n,inf\n,-inf\n4,1.5\n", encoding="utf-8")
    target = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src)},
        sink={"type": "sqlite", "path": str(target), "table": "t"},
        transform=[
            {"type": "validate", "rules": {"id": {"not_null": True}}},
            {"type": "derive", "columns": {"ft": "cast(f, 'string')"}},
        ],
    )
    report = Pipeline.from_config(job).run()
    assert (report.rows_written, report.rows_rejected) == (1, 3)
    rejects = Path(report.rejects_path or "")
    assert [strict_json(line)["values"]["f"] for line in rejects.read_text().splitlines()] == [
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    edit(rejects, {row: {"values": {"id": row, "f": f}} for row, f in ((1, "NaN"), (2, "Infinity"), (3, "-Infinity"))})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (3, 0)
    stored = sqlite_table(target)
    assert [(i, ft) for i, _, ft in stored] == [(1, "nan"), (2, "inf"), (3, "-inf"), (4, "1.5")]
    assert [f for _, f, _ in stored] == [None, float("inf"), float("-inf"), 1.5]  # SQLite stores a NaN as NULL


def _nested_file(path: Path, ok: list[int | None]) -> Path:
    """Lists (NaN and infinities inside), a struct, a map and a list of structs, with rows 1-3
    failing a rule on ``ok`` where it is null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nan, inf = float("nan"), float("inf")
    point = pa.struct([("x", pa.float64())])
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "ok": pa.array(ok, pa.int64()),
            "l": pa.array([[1.5, nan], [inf, -inf], None, [2.0]], pa.list_(pa.float64())),
            "s": pa.array(
                [{"a": 1, "b": "x"}, {"a": None, "b": "y"}, None, {"a": 4, "b": "z"}],
                pa.struct([("a", pa.int64()), ("b", pa.string())]),
            ),
            "m": pa.array([[("k", 1)], [], None, [("j", 2)]], pa.map_(pa.string(), pa.int64())),
            "ls": pa.array([[{"x": 0.5}], [{"x": nan}], [], [{"x": -inf}]], pa.list_(point)),
        }
    )
    pq.write_table(table, path)
    return path


def _nested_job(tmp_path: Path, src: Path, sink: str, name: str) -> tuple[Path, Path]:
    target = tmp_path / (f"{name}.db" if sink == "sqlite" else f"{name}.ldb")
    sink_table = {"type": "sqlite", "table": "t"} if sink == "sqlite" else {"type": "leveldb", "key": "{id}"}
    job = write_job(
        tmp_path / f"{name}.toml",
        source={"path": str(src)},
        sink={**sink_table, "path": str(target)},
        transform=[{"type": "validate", "rules": {"ok": {"not_null": True}}}],
    )
    return job, target


def _stored(target: Path) -> list[Any]:
    if target.suffix == ".db":
        return sqlite_table(target)
    return [v.decode() for _, v in leveldb_items(target)[0]]


def _replay_nested(tmp_path: Path, sink: str) -> tuple[Path, Path, Path]:
    """The nested file loaded with rows 1-3 rejected at the rule; the job, target and rejects,
    the rejected rows' ``ok`` fixed."""
    job, target = _nested_job(tmp_path, _nested_file(tmp_path / "in.parquet", [None, None, None, 1]), sink, "out")
    report = Pipeline.from_config(job).run()
    assert (report.rows_written, report.rows_rejected) == (1, 3)
    rejects = Path(report.rejects_path or "")
    edit(rejects, {row: {"values": {**line["values"], "ok": 1}} for row, line in enumerate(reject_lines(rejects), 1)})
    return job, target, rejects


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_nested_columns_replay_as_a_direct_load_stores_them(tmp_path: Path, sink: str) -> None:
    """Lists, structs, maps and lists of structs, NaN and infinities inside, come back value for
    value as a load of the fixed rows stores them (every row was rejected again: no column 'l')."""
    job, target, rejects = _replay_nested(tmp_path, sink)
    assert reject_lines(rejects)[1]["values"]["l"] == ["Infinity", "-Infinity"]
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.status, r.rows_written, r.rows_rejected) == ("ok", 3, 0)
    direct_job, direct = _nested_job(tmp_path, _nested_file(tmp_path / "ok.parquet", [1, 1, 1, 1]), sink, "direct")
    assert Pipeline.from_config(direct_job).run().rows_written == 4
    assert _stored(target) == _stored(direct)
    if sink == "sqlite":
        assert sqlite_table(target)[1][2:] == (
            '["Infinity","-Infinity"]',
            '{"a":null,"b":"y"}',
            "{}",
            '[{"x":null}]',
        )


def test_nested_columns_of_a_checkpoint_without_their_types_replay(tmp_path: Path) -> None:
    """A checkpoint written before nested types were recorded: the columns' types come from the
    rows' file, as the load read it, and the rows load as they would have."""
    job, target, rejects = _replay_nested(tmp_path, "sqlite")
    schema = sqlite_state(target)["schema"]
    old = {n: t for n, t in schema.items() if not t.startswith("arrow:")}
    assert old == {"id": "int64", "ok": "int64"}
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE _loader_state SET value = ? WHERE key = 'schema'", (json.dumps(old),))
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.status, r.rows_written, r.rows_rejected) == ("ok", 3, 0)
    assert [row[2] for row in sqlite_table(target)] == ["[1.5,null]", '["Infinity","-Infinity"]', None, "[2.0]"]


def test_a_nested_value_that_does_not_fit_its_type_is_rejected_again_saying_where(tmp_path: Path) -> None:
    job, _, rejects = _replay_nested(tmp_path, "sqlite")
    lines = reject_lines(rejects)
    edit(rejects, {1: {"values": {**lines[0]["values"], "ls": [{"x": "far"}]}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (2, 1)
    [again] = reject_lines(Path(r.rejects_path or ""))
    assert (again["row"], again["column"], again["reason"]) == (1, "ls", "at [0].x: 'far' is not a valid float64")


def test_cli_replays_rows_of_a_parquet_file_with_a_list_column(tmp_path: Path) -> None:
    """Rows the table refused (a key already there) go straight to the target again: exit 0."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [2, 3], "l": [[1.0], [2.0]]}), tmp_path / "a.parquet")
    db = tmp_path / "t.db"
    job = write_job(
        tmp_path / "job.toml", source={"path": str(tmp_path / "*.parquet")}, sink={"path": str(db), "table": "t"}
    )
    assert cli("run", str(job), "-q").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE UNIQUE INDEX u ON t(id)")
    pq.write_table(pa.table({"id": [1, 2, 3], "l": [[1.5], [float("nan")], [float("inf")]]}), tmp_path / "b.parquet")
    assert cli("run", str(job), "-q").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX u")
        conn.execute("UPDATE t SET id = id + 100 WHERE id IN (2, 3) AND l IN ('[1.0]', '[2.0]')")
    p = cli("replay", str(tmp_path / "t.db.table-t.rejects.jsonl"), "--job", str(job), "-q")
    assert p.returncode == 0, p.stderr
    assert sqlite_table(db) == [(1, "[1.5]"), (2, "[null]"), (3, '["Infinity"]'), (102, "[1.0]"), (103, "[2.0]")]


def _replayed_unedited(tmp_path: Path, table: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """``table`` (its ``s`` column '0x' in the row to reject) loaded from Parquet through a
    validate stage that rejects that row; its reject line, then replayed with ``s`` fixed
    and every other value as the line holds it. The line's values, and the target."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table(table), src)
    target = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src)},
        transform=[{"type": "validate", "rules": {"s": {"regex": "^[a-z]$"}}}],
        sink={"path": str(target), "table": "t"},
    )
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    [line] = reject_lines(rejects)
    edit(rejects, {2: {"values": {**line["values"], "s": "b"}}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    return line["values"], target


def test_unedited_rows_with_times_in_a_coarser_unit_replay(tmp_path: Path) -> None:
    """A time32[ms] and a timestamp[ms] are written into the reject line in microseconds
    (``00:00:01.500000``): the line replays as it is, to the same values."""
    import pyarrow as pa

    table = {
        "id": [1, 2],
        "tm": pa.array([3_600_000, 1_500], pa.time32("ms")),
        "ts": pa.array([0, 1_700_000_000_123], pa.timestamp("ms")),
        "s": ["a", "0x"],
    }
    values, target = _replayed_unedited(tmp_path, table)
    assert values == {"id": 2, "tm": "00:00:01.500000", "ts": "2023-11-14 22:13:20.123000", "s": "0x"}
    assert sqlite_table(target) == [
        (1, "01:00:00.000", "1970-01-01T00:00:00.000", "a"),
        (2, "00:00:01.500", "2023-11-14T22:13:20.123", "b"),
    ]


def test_an_unedited_row_with_a_duration_replays(tmp_path: Path) -> None:
    """A duration was written into the reject line as Python's text (``0:00:02.500000``),
    which a replay reads as no count of the column's unit: the line is its count now."""
    import pyarrow as pa

    table = {"id": [1, 2], "d": pa.array([1_500, 2_500], pa.duration("ms")), "s": ["a", "0x"]}
    values, target = _replayed_unedited(tmp_path, table)
    assert values == {"id": 2, "d": 2500, "s": "0x"}
    assert sqlite_table(target) == [(1, 1500, "a"), (2, 2500, "b")]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_replay_into_a_target_gone_since_the_load_is_refused(tmp_path: Path, sink: str) -> None:
    """A dropped table or deleted store was made anew with only the replayed rows, and the
    next run trusted the checkpoint and skipped every file: the other rows lost for good.
    The refusal leaves the checkpoint as it is (a replay never clears one, and the deleted
    store is not made anew): the job's next run finds the target gone and starts over."""
    import plyvel

    job, target, rejects = setup(tmp_path, sink)
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    if sink == "sqlite":
        with sqlite3.connect(target) as db:
            db.execute("DROP TABLE t")
        why = "the checkpoint tells of 2 rows written to table 't', which is not there (dropped since)"
        checkpoint = sqlite_state(target)
    else:
        plyvel.destroy_db(str(target))
        why = "loader-state.jsonl held checkpoints of 'key:{id}', and the store they tell of was gone (deleted since)"
        checkpoint = leveldb_state(target)
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        f"loader: error: {target}: {why}: the target is gone since the job loaded it; nothing replayed",
        f"  hint: copy {rejects} to another name first (the rerun rewrites the job's reject file, "
        "and the fixes in it are lost), rerun the job (it finds the target gone, starts over and loads "
        "its files again), then replay the copy",
    ]
    assert not again_of(rejects).exists()
    assert (sqlite_state(target) if sink == "sqlite" else leveldb_state(target)) == checkpoint
    assert not (target / "CURRENT").exists()  # the store is not made anew (a SQLite target: no such file)
    # as the hint says: the fixed file copied aside (whose replay the rerun leaves to do), the rerun
    # finds the target gone and loads the file again (rewriting the reject file: the fix is gone
    # there); the copy then adds the fixed row
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(rejects.read_bytes())
    p = cli("replay", str(fixed), "--job", str(job))
    assert (p.returncode, p.stderr.splitlines()[1:]) == (
        2,
        [
            "  hint: rerun the job (it finds the target gone, starts over and loads its files again), "
            f"then replay {fixed}"
        ],
    )
    rerun = cli("run", str(job))
    assert rerun.returncode == 0
    assert rerun.stderr.rstrip().endswith(f"WARNING started over: {why}")
    assert reject_lines(rejects)[0]["values"]["amount"] == "abc"
    r = Pipeline.from_config(job).replay(fixed)
    assert (r.rows_written, r.rows_rejected) == (1, 2)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30)]


def test_a_row_rejected_again_keeps_the_stage_it_left_at(tmp_path: Path) -> None:
    """A stage's row whose fixed value did not convert went to the replay's reject file as a
    ``read`` reject, its values named after the stage: that file could never be replayed."""
    src = tmp_path / "in.csv"
    src.write_text("id,name,amount\n1,a,10\n2,b,-5\n", encoding="utf-8")
    db = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"amount": "int64"}},
        sink={"type": "sqlite", "path": str(db), "table": "t"},
        transform=[
            {"type": "rename", "columns": {"name": "label"}},
            {"type": "validate", "rules": {"amount": {"min": 0}}},
        ],
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    edit(rejects, {2: {"values": {"id": 2, "label": "b", "amount": "5x"}}})  # a typo in the fix
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(job).replay(rejects)
    again = again_of(rejects)
    [line] = reject_lines(again)
    assert (line["row"], line["stage"], line["column"], line["reason"]) == (
        2,
        "transform[2] (validate)",
        "amount",
        "'5x' is not a valid int64",
    )
    # fixed there, the replay's reject file replays from that stage
    edit(again, {2: {"values": {"id": 2, "label": "b", "amount": "5"}}})
    r = Pipeline.from_config(job).replay(again)
    assert (r.rows_written, r.rows_rejected) == (1, 0)
    assert sqlite_table(db) == [(1, "a", 10), (2, "b", 5)]


def test_a_fixed_copy_appended_after_its_line_replaces_it(tmp_path: Path) -> None:
    """A fixed copy of a line appended after the unfixed original counted as already
    replayed, marked before the first copy was rejected again: the row never loaded, exit 0."""
    job, target, rejects = setup(tmp_path, "sqlite")
    fixed = tmp_path / "fixed.jsonl"
    lines = reject_lines(rejects)
    copy = dict(lines[0], values={"id": "2", "name": "b", "amount": "20"})
    fixed.write_text("".join(json.dumps(x) + "\n" for x in [*lines, copy]), encoding="utf-8")
    p = cli("replay", str(fixed), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1] == (
        f"ok: replayed 3 rows from {fixed} into {target} (table t): 1 written, 2 rejected again, 0 already replayed; "
        "1 earlier lines of a row skipped (a later line of the row, or a later read of its file, replaces each); "
        f"WARNING 2 rows rejected again, see {again_of(fixed)}"
    )
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30)]
    assert [x["row"] for x in reject_lines(again_of(fixed))] == [4, 5]
    r = Pipeline.from_config(job).replay(fixed)
    assert (r.rows_read, r.rows_written, r.rows_already, r.rows_superseded) == (4, 0, 2, 0)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_reloaded_files_fixed_rejects_replay(tmp_path: Path, engine: str) -> None:
    """After a changed file was reloaded (run.on_change = reload), the fixed rejects of its
    new version counted as already replayed: a row's mark named its file and row only."""
    job, target, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    assert Pipeline.from_config(job).replay(rejects).rows_written == 1
    # a new version of the file: row 2 bad again, another row
    (tmp_path / "in.csv").write_text("id,name,amount\n6,f,60\n7,g,x7\n", encoding="utf-8")
    reload = cli("run", str(job), "--set", "run.on_change=reload", "--set", f"run.engine={engine}")
    assert reload.returncode == 0, reload.stderr
    lines = reject_lines(rejects)
    assert [(x["row"], x.get("version")) for x in lines] == [(2, None), (4, None), (5, None), (2, 2)]
    edit(rejects, {2: {"values": {"id": "7", "name": "g", "amount": "70"}}})  # both lines of row 2
    r = Pipeline.from_config(job).replay(rejects)
    # the first version's row 2 stays replayed once; the new version's row 2 loads; the first
    # version's rows 4 and 5 are the reload's (superseded)
    assert (r.rows_read, r.rows_written, r.rows_rejected, r.rows_already) == (2, 1, 0, 1)
    assert (r.rows_superseded, r.rows_reloaded_since) == (2, 2)
    assert reject_lines(again_of(rejects)) == []
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30), (6, "f", 60), (7, "g", 70)]


def test_a_restart_forgets_the_rows_replayed_before(tmp_path: Path) -> None:
    job, target, rejects = setup(tmp_path, "sqlite")
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}})
    assert Pipeline.from_config(job).replay(rejects).rows_written == 1
    (tmp_path / "in.csv").write_text("id,name,amount\n6,f,60\n7,g,x7\n", encoding="utf-8")
    assert cli("run", str(job), "--restart", "--set", "sink.mode=replace").returncode == 0
    assert [(x["row"], x.get("version")) for x in reject_lines(rejects)] == [(2, None)]
    edit(rejects, {2: {"values": {"id": "7", "name": "g", "amount": "70"}}})
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_already) == (1, 0)
    assert rows_of(target) == [(6, "f", 60), (7, "g", 70)]


def test_a_raw_row_of_a_changed_file_is_rejected_again(tmp_path: Path) -> None:
    """A fixed raw row was split with the file's header as it is now: a file regenerated
    with its columns reordered stored the row's values in the wrong columns, exit 0."""
    job, target, rejects = setup(tmp_path, "sqlite")
    src = tmp_path / "in.csv"
    first = src.read_bytes()
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "20"}}, 4: {"raw": "4,d,40"}})
    src.write_text("id,amount,name\n1,10,a\n", encoding="utf-8")
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_rejected) == (1, 2)  # the row in "values" loads
    raw, _ = reject_lines(again_of(rejects))
    assert (raw["row"], raw["raw"], raw["reason"]) == (
        4,
        "4,d,40",
        "the file changed since the row was read (size or content differ from the checkpoint): raw text is split "
        'only with the header it was read with; write the row\'s fields in "values"',
    )
    src.write_bytes(first)  # the version the row was read from
    r = Pipeline.from_config(job).replay(rejects)
    assert (r.rows_written, r.rows_already) == (1, 1)
    assert rows_of(target) == [(1, "a", 10), (2, "b", 20), (3, "c", 30), (4, "d", 40)]


def test_a_column_the_table_lost_since_the_load_names_the_reject_file(tmp_path: Path) -> None:
    src, target = tmp_path / "d.csv", tmp_path / "t.db"
    src.write_text("id,code,n\n1,a,1\n2,b,x\n")
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"n": "int64"}},
        sink={"path": str(target), "table": "t"},
    )
    assert cli("run", str(job), "-q").returncode == 0
    with sqlite3.connect(target) as conn:
        conn.execute("ALTER TABLE t DROP COLUMN code")
    rejects = tmp_path / "t.db.table-t.rejects.jsonl"
    [line] = reject_lines(rejects)
    edit(rejects, {2: {"values": {**line["values"], "n": "2"}}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 65
    assert p.stderr.splitlines()[0] == f"loader: error: {rejects}, column 'code': table 't' has no column 'code'"


def test_a_declared_column_into_a_text_column_made_elsewhere_replays_with_its_type(tmp_path: Path) -> None:
    """As the load reads it: a declared int64 keeps its check in a TEXT column, so ``x`` is
    rejected again, not taken as text; once fixed, it loads as the number."""
    src, target = tmp_path / "n.csv", tmp_path / "t.db"
    src.write_text("id,n\n1,007\n2,x\n")
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT)")
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "columns": {"n": "int64"}},
        sink={"path": str(target), "table": "t"},
    )
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "t.db.table-t.rejects.jsonl"
    assert cli("replay", str(rejects), "--job", str(job), "-q").returncode == 4  # rejected again
    assert [r["reason"] for r in reject_lines(tmp_path / "t.db.table-t.rejects.replay.jsonl")] == [
        "'x' is not a valid int64"
    ]
    [line] = reject_lines(rejects)
    edit(rejects, {2: {"values": {**line["values"], "n": "08"}}})
    assert cli("replay", str(rejects), "--job", str(job), "-q").returncode == 0
    assert sqlite_table(target) == [(1, "7"), (2, "8")]


def test_an_unedited_row_with_a_quote_left_open_is_rejected_again(tmp_path: Path) -> None:
    """A truncated last line replayed unedited: Python's csv module closed the quote at the end
    of raw, so it was written with its value cut short. Closed by hand, it loads."""
    src = tmp_path / "cut.csv"
    src.write_text('id,name,note\n1,a,"fine"\n2,b,"this note was trunc')
    target = tmp_path / "out.db"
    job = write_job(tmp_path / "job.toml", source={"path": str(src)}, sink={"path": str(target), "table": "t"})
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    [line] = reject_lines(rejects)
    assert line["reason"] == "unterminated quoted field: a quote opened in this line is never closed"
    p = cli("replay", str(rejects), "--job", str(job), "-q")
    assert p.returncode == 4 and sqlite_table(target) == [(1, "a", "fine")]
    [again] = reject_lines(tmp_path / "out.db.table-t.rejects.replay.jsonl")
    assert (again["row"], again["reason"], again["raw"]) == (2, line["reason"], line["raw"])
    edit(rejects, {2: {"raw": line["raw"] + '"'}})
    assert cli("replay", str(rejects), "--job", str(job), "-q").returncode == 0
    assert sqlite_table(target) == [(1, "a", "fine"), (2, "b", "this note was trunc")]


def test_both_halves_of_a_row_cut_in_its_value_are_rejected_again_with_their_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inch mark moved the cuts into multi-line values: each first half (``63,item63,"first 63``)
    replayed unedited was written with its value cut at the newline; consecutive lines that
    could not be replayed also all took the first one's reason. The rejects are those of an
    earlier loader, which cut blocks by counting quotes."""
    from loader.cli import main
    from loader.readers.csv import cut

    src = tmp_path / "tv.csv"
    with src.open("w", newline="") as f:
        f.write("id,item,note\n")
        for i in range(1, 400):
            item = '55" screen' if i == 3 else f"item{i}"
            f.write(f"{i},{item},{f'{chr(34)}first {i}{chr(10)}second {i}{chr(34)}' if i % 7 == 0 else f'n{i}'}\n")
    target = tmp_path / "out.db"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": str(src), "block_size": "1KB"},
        sink={"path": str(target), "table": "t"},
    )
    with monkeypatch.context() as m:
        m.setattr(cut.Marks, "of", classmethod(lambda cls, *_: None))  # every quote counted
        assert main(["run", str(job), "-q"]) == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    before = [(x["row"], x["reason"], x["raw"]) for x in reject_lines(rejects)]
    assert (
        len(before) == 16
        and before[0][2] == '63,item63,"first 63'
        and before[0][1].startswith("unterminated quoted field: the row was cut")
    )
    p = cli("replay", str(rejects), "--job", str(job), "-q")
    assert p.returncode == 4, p.stderr
    again = reject_lines(tmp_path / "out.db.table-t.rejects.replay.jsonl")
    assert [(x["row"], x["reason"], x["raw"]) for x in again] == before
    assert len(sqlite_table(target)) == 391  # none of the halves


def test_a_replay_after_the_tables_column_type_is_changed_loads_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reject's reason says to change the column's type in the table; the replay converted with
    the int64 the first run recorded for the old INTEGER column and rejected the row again, and a
    ``source.columns`` declaration on the replay was silently ignored."""
    from loader.cli import main

    monkeypatch.chdir(tmp_path)
    with sqlite3.connect("t.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, zip INTEGER)")
    Path("a.csv").write_text("id,zip\n1,12345\n2,01234\n", encoding="utf-8")
    Path("job.toml").write_text('[source]\npath = "a.csv"\n[sink]\npath = "t.db"\ntable = "t"\n', encoding="utf-8")
    assert main(["run", "job.toml", "-q"]) == 0
    [line] = reject_lines(Path("t.db.table-t.rejects.jsonl"))
    assert "change the column's type in the table yourself" in line["reason"]
    with sqlite3.connect("t.db") as conn:  # the reason's advice
        conn.executescript(
            "CREATE TABLE t2 (id INTEGER PRIMARY KEY, zip TEXT); INSERT INTO t2 SELECT * FROM t;"
            "DROP TABLE t; ALTER TABLE t2 RENAME TO t;"
        )
    capsys.readouterr()
    # a declaration the recorded type contradicts is refused, as a load refuses it: nothing replayed
    declared = ["--set", 'source.columns={zip="string"}']
    assert main(["replay", "t.db.table-t.rejects.jsonl", "--job", "job.toml", *declared, "-q"]) == 2
    err = capsys.readouterr().err
    assert "source.columns.zip: declared string, but earlier runs of job 'table:t' loaded it as int64" in err
    assert sqlite_table(Path("t.db")) == [(1, "12345")]
    assert main(["replay", "t.db.table-t.rejects.jsonl", "--job", "job.toml", "-q"]) == 0
    assert sqlite_table(Path("t.db")) == [(1, "12345"), (2, "01234")]
    assert sqlite_state(Path("t.db"), "table:t")["schema"] == {"id": "int64", "zip": "int64"}  # the load's own


def test_json_lines_lines_that_are_not_one_object_replay_once_fixed_and_say_why_until_then(tmp_path: Path) -> None:
    """A `null` line failed the replay with a KeyError; one holding two objects is fixed
    by keeping one of them, and a `null` left as it is is rejected again for what it is."""
    (tmp_path / "in.jsonl").write_text('{"id":1,"v":1}\nnull\n{"id":2,"v":2} {"id":3,"v":3}\n{"id":4,"v":4}\n')
    job = write_job(tmp_path / "job.toml", source={"path": "in.jsonl"}, sink={"path": "out.db", "table": "t"})
    assert cli("run", str(job), "-q").returncode == 0
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    assert [(r["line"], r["raw"]) for r in reject_lines(rejects)] == [(2, "null"), (3, '{"id":2,"v":2} {"id":3,"v":3}')]
    edit(rejects, {3: {"raw": '{"id":2,"v":2}'}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert sqlite_table(tmp_path / "out.db") == [(1, 1), (2, 2), (4, 4)]
    [again] = reject_lines(again_of(rejects))
    assert (again["row"], again["reason"]) == (2, "a JSON Lines row is an object, not null")


SMALL = "id,name,amount\n1,a,5\n2,b\n3,c,7\n"


def test_a_job_file_that_names_no_table_replays_into_its_default_table(tmp_path: Path) -> None:
    """The table a job names by default is its first source file's name: the replay took it
    from the reject file's name (``out.db.table-small.rejects``), found that table missing,
    cleared the job's checkpoint, and the next run loaded the file again: every row twice."""
    (tmp_path / "small.csv").write_text(SMALL, encoding="utf-8")
    job = write_job(tmp_path / "job.toml", source={"path": "small.csv"}, sink={"path": "out.db"})
    target, rejects = tmp_path / "out.db", tmp_path / "out.db.table-small.rejects.jsonl"
    assert cli("run", str(job)).returncode == 0
    checkpoint = sqlite_state(target)
    edit(rejects, {2: {"raw": "2,b,9"}})
    p = cli("replay", str(rejects), "--job", str(job))
    assert (p.returncode, p.stdout) == (0, "")
    assert p.stderr == (
        f"ok: replayed 1 rows from {rejects} into {target} (table small): "
        "1 written, 0 rejected again, 0 already replayed\n"
    )
    kept = {k: v for k, v in sqlite_state(target).items() if not k.startswith("replayed:")}
    assert kept | {"commit": None} == checkpoint | {"commit": None}  # only the commit's stamp moved on
    rerun = cli("run", str(job))
    assert (rerun.returncode, "0 rows written" in rerun.stderr, "1 already loaded" in rerun.stderr) == (0, True, True)
    assert sqlite_table(target, "small") == [(1, "a", 5), (2, "b", 9), (3, "c", 7)]


@pytest.mark.parametrize("stdin", [False, True])
def test_a_job_made_in_python_that_names_no_table_replays_into_its_default_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdin: bool
) -> None:
    """``Pipeline(JobConfig(...)).replay`` after ``load``, with a file (table ``small``) and
    with standard input (table ``data``): the replay cleared the checkpoint, exit 2, and the
    next load of the file wrote its rows again."""
    import io

    from loader import JobConfig

    src, target = tmp_path / "small.csv", tmp_path / "out.db"
    src.write_text(SMALL, encoding="utf-8")
    source, table = ("-", "data") if stdin else (str(src), "small")
    if stdin:
        monkeypatch.setattr("sys.stdin", io.StringIO(SMALL))
    rejects = Path(load(source, target).rejects_path or "")
    assert rejects == tmp_path / f"out.db.table-{table}.rejects.jsonl"
    # standard input is not read again: the row's fields are written out
    edit(rejects, {2: {"values": {"id": "2", "name": "b", "amount": "9"}}})
    r = Pipeline(JobConfig(source={"path": source}, sink={"path": str(target)})).replay(rejects)
    assert (r.status, r.table, r.rows_written, r.rows_rejected) == ("ok", table, 1, 0)
    assert sqlite_state(target, f"table:{table}")["commit"]
    if not stdin:  # the file is loaded already: not a row twice
        assert load(source, target).rows_written == 0
    assert sqlite_table(target, table) == [(1, "a", 5), (2, "b", 9), (3, "c", 7)]


def test_the_fixed_rows_of_a_load_that_wrote_nothing_replay_with_the_types_their_values_give(
    tmp_path: Path,
) -> None:
    """A first run that loaded nothing recorded each column as ``null`` (no value yet): the
    replay rejected every fixed row, "no column 'id' in the job's columns" (with no table
    named, it crashed making a table named after the reject file). The rows' values type the
    columns, as a first load's would, and the replay's later rows are held to those types."""
    (tmp_path / "s.csv").write_text("id,name,amount\n1,a\n2,b\n3,c\n", encoding="utf-8")
    job = write_job(tmp_path / "job.toml", source={"path": "s.csv"}, sink={"path": "out.db"})
    target, rejects = tmp_path / "out.db", tmp_path / "out.db.table-s.rejects.jsonl"
    assert cli("run", str(job)).returncode == 4
    assert sqlite_state(target, "table:s")["schema"] == {"amount": "null", "id": "null", "name": "null"}
    edit(rejects, {1: {"raw": "1,a,5"}, 2: {"raw": "2,b,6"}, 3: {"raw": "3,c,x7"}})
    p = cli("replay", str(rejects), "--job", str(job), "--set", "run.chunk_size=2")
    assert (p.returncode, p.stderr.splitlines()[0]) == (
        0,
        f"ok: replayed 3 rows from {rejects} into {target} (table s): 2 written, 1 rejected again, "
        f"0 already replayed; WARNING 1 rows rejected again, see {again_of(rejects)}",
    )
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT id, typeof(id), name, amount, typeof(amount) FROM s ORDER BY id").fetchall() == [
            (1, "integer", "a", 5, "integer"),
            (2, "integer", "b", 6, "integer"),
        ]
    [again] = reject_lines(again_of(rejects))
    assert (again["row"], again["column"], again["reason"]) == (3, "amount", "'x7' is not a valid int64")
    assert cli("run", str(job)).returncode == 0  # the file is loaded already: no row twice
    assert len(sqlite_table(target, "s")) == 2


def test_lines_of_a_read_that_loaded_nothing_and_was_read_again_are_not_replayed(tmp_path: Path) -> None:
    """Every row of a cp1252 file read as UTF-8 rejected (exit 4); the rerun with the encoding
    its error named loads them: their reject lines, fixed by hand or not, load nothing twice."""
    src = tmp_path / "cp.csv"
    src.write_bytes(b"id,name\n1,Zo\xeb\n2,Ren\xe9e\n")
    target = tmp_path / "out.db"
    first = write_job(tmp_path / "a.toml", source={"path": str(src)}, sink={"path": str(target), "table": "t"})
    with pytest.raises(NothingLoadedError):
        Pipeline.from_config(first).run()
    fixed = write_job(
        tmp_path / "b.toml", source={"path": str(src), "encoding": "cp1252"}, sink={"path": str(target), "table": "t"}
    )
    assert Pipeline.from_config(fixed).run().rows_written == 2
    rejects = tmp_path / "out.db.table-t.rejects.jsonl"
    edit(rejects, {1: {"values": {"id": "1", "name": "Zoë"}}, 2: {"values": {"id": "2", "name": "Renée"}}})
    r = Pipeline.from_config(fixed).replay(rejects)
    assert (r.rows_read, r.rows_written, r.rows_superseded) == (0, 0, 2)
    assert accounted(r)
    assert sqlite_table(target) == [(1, "Zoë"), (2, "Renée")]


def _latin1(tmp_path: Path) -> Path:
    """A Latin-1 export, mostly ASCII: only its accented rows are not UTF-8."""
    rows = ["id,name,city"] + [f"{i},{'José' if i % 30 == 0 else 'John'},Paris" for i in range(1, 101)]
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return path


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_rows_rejected_as_not_utf8_are_named_with_their_encoding_and_replay_with_it_once(
    tmp_path: Path, engine: str
) -> None:
    """A cp1252 file loaded as UTF-8 rejected its accented rows as `invalid UTF-8 in 'Jos\\xe9'`,
    exit 0, with no word of the encoding; and a replay given --encoding cp1252 rejected them again."""
    _latin1(tmp_path)
    load_args = ["latin1.csv", "out.db", "--table", "t"]
    p = cli("load", *load_args, "--engine", engine, "--part-size", "1KiB", "--report", "r.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1].endswith(
        "; WARNING 3 rows rejected, see out.db.table-t.rejects.jsonl: 3 of them are not UTF-8 but read as cp1252:"
        " replay them with `loader replay` as the run was given (its job file, or its sources, target and flags)"
        " and --encoding cp1252"
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["rows_rejected"], report["rows_not_utf8"], report["not_utf8_reads_as"]) == (3, 3, ["cp1252"])
    for already in (0, 3):  # once each: a second replay finds them replayed
        p = cli("replay", "out.db.table-t.rejects.jsonl", *load_args, "--encoding", "cp1252", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert f"{3 - already} written, 0 rejected again, {already} already replayed" in p.stderr
    assert rows_of(tmp_path / "out.db")[29:31] == [(30, "José", "Paris"), (31, "John", "Paris")]
    assert len(rows_of(tmp_path / "out.db")) == 100


def test_a_job_files_rows_not_utf8_replay_with_its_job_file_and_the_encoding(tmp_path: Path) -> None:
    _latin1(tmp_path)
    (tmp_path / "job.toml").write_text('[source]\npath = "latin1.csv"\n[sink]\npath = "out.db"\ntable = "t"\n')
    p = cli("run", "job.toml", cwd=tmp_path)
    assert p.returncode == 0 and "3 of them are not UTF-8 but read as cp1252" in p.stderr, p.stderr
    p = cli("replay", "out.db.table-t.rejects.jsonl", "--job", "job.toml", "--encoding", "cp1252", cwd=tmp_path)
    assert p.returncode == 0 and "3 written, 0 rejected again" in p.stderr, p.stderr
    assert rows_of(tmp_path / "out.db")[59] == (60, "José", "Paris")


def test_a_replay_in_another_encoding_keeps_bytes_not_of_its_text_and_text_that_was_utf8(tmp_path: Path) -> None:
    """Only bytes a UTF-8 read rejected are the file's own: \\x81 is no cp1252 character, so
    its row is rejected again as not cp1252 text; a row rejected for another reason keeps its text."""
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,Zo\xc3\xab\n2,Zo\xeb\n3,Zo\x81\nx,y\n")
    p = cli("load", "a.csv", "out.db", "--table", "t", "--columns", "id=int64", cwd=tmp_path)
    assert p.returncode == 0 and "2 of them are not UTF-8" in p.stderr, p.stderr
    p = cli("replay", "out.db.table-t.rejects.jsonl", "a.csv", "out.db", "--table", "t", "--columns", "id=int64",
            "--encoding", "cp1252", cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0 and "1 written, 2 rejected again" in p.stderr, p.stderr
    again = [json.loads(line) for line in (tmp_path / "out.db.table-t.rejects.replay.jsonl").read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in again] == [
        (3, "not valid cp1252 text: 'Zo\\x81'"),
        (4, "'x' is not a valid int64"),
    ]
    assert rows_of(tmp_path / "out.db") == [(1, "Zoë"), (2, "Zoë")]


def test_a_replay_takes_only_its_targets_lines_of_a_shared_reject_file(tmp_path: Path) -> None:
    """Two databases loaded by one job (``table:t``) into one reject file: a replay into one
    loads its own rows only, and counts the other's as another's; lines an earlier loader
    wrote (no ``target``) are its job's, and replay."""
    shared = tmp_path / "shared.rej.jsonl"
    flags = ["--table", "t", "--columns", "v=int64"]
    for name, start in (("a", 0), ("b", 100)):
        rows = "".join(f"{i},{'bad' if i % 10 == 3 else i}\n" for i in range(start, start + 20))
        (tmp_path / f"{name}.csv").write_text("id,v\n" + rows, encoding="utf-8")
        p = cli("load", str(tmp_path / f"{name}.csv"), str(tmp_path / f"s{name}.db"), *flags, "--rejects", str(shared))
        assert p.returncode == 0, p.stderr
    text = shared.read_text(encoding="utf-8").replace('"v": "bad"', '"v": "5"')
    legacy = text.splitlines(keepends=True)
    legacy[0] = re.sub(r'"target": "[^"]*", ', "", legacy[0])  # as an earlier loader wrote it
    shared.write_text("".join(legacy), encoding="utf-8")

    p = cli("replay", str(shared), str(tmp_path / "a.csv"), str(tmp_path / "sa.db"), *flags)
    assert p.returncode == 0, p.stderr
    rows = sqlite_table(tmp_path / "sa.db")
    assert (len(rows), [r for r in rows if r[0] in (3, 13, 103, 113)]) == (20, [(3, 5), (13, 5)])
    other = f"'table:t' into {os.path.realpath(tmp_path / 'sb.db')}"
    alone = tmp_path / "b-only.jsonl"
    alone.write_text("".join(legacy[2:]), encoding="utf-8")
    p = cli("replay", str(alone), str(tmp_path / "a.csv"), str(tmp_path / "sa.db"), *flags)
    assert (p.returncode, p.stderr.splitlines()) == (
        2,
        [
            f"loader: error: {alone}: no line of job 'table:t'; the file holds rows of {other} (2 rows)",
            "  hint: replay it with the job file of that job and target (run.job names a job)",
        ],
    )


@pytest.mark.parametrize(
    ("sink", "mode", "engine"),
    [
        ("sqlite", "append", "threads"),
        ("sqlite", "append", "processes"),
        ("sqlite", "upsert", "threads"),
        ("leveldb", "append", "threads"),
    ],
)
def test_the_rejects_of_a_version_a_reload_replaced_are_superseded(
    tmp_path: Path, sink: str, mode: str, engine: str
) -> None:
    """A re-exported file reloaded (run.on_change = reload) holds its rows anew: the earlier
    version's reject lines replayed as well, the row twice (append) or the corrected value
    overwritten by the stale one (upsert, LevelDB), exit 0."""
    folder = tmp_path / "in"
    folder.mkdir()
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    how = ["--table", "t"] if sink == "sqlite" else ["--key", "{id}"]
    how += ["--mode", mode, "--engine", engine] + (["--primary-key", "id"] if mode == "upsert" else [])
    glob = str(folder / "*.csv")

    def run(*extra: str) -> None:
        p = cli("load", glob, str(target), *how, "-q", *extra)
        assert p.returncode == 0, p.stderr

    (folder / "d1.csv").write_text("id,amount\n1,10\n2,20\n")
    run()
    (folder / "d2.csv").write_text("id,amount\n3,30\n4,4x0\n")
    run()  # row 4 rejected: amount is int64
    (folder / "d2.csv").write_text("id,amount\n3,30\n4,40\n")  # re-exported, corrected
    if sink == "sqlite" and mode == "append":  # the changed-file hint: delete its rows, then reload
        with sqlite3.connect(target) as conn:
            conn.execute("DELETE FROM t WHERE id = 3")
    run("--set", "run.on_change=reload")
    rejects = rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}")
    [line] = reject_lines(rejects)
    assert (line["row"], line.get("version")) == (2, None)
    edit(rejects, {2: {"values": {"id": "4", "amount": "41"}}})  # the old reject, fixed
    p = cli("replay", str(rejects), glob, str(target), *how)
    assert p.returncode == 0, p.stderr
    where = f"{target} (table t)" if sink == "sqlite" else str(target)
    assert p.stderr.splitlines()[-1] == (
        f"ok: replayed 0 rows from {rejects} into {where}: 0 written, 0 rejected again, 0 already replayed; "
        "1 lines of a file reloaded since skipped (run.on_change = reload loaded its new version, which holds "
        "their rows)"
    )
    if sink == "sqlite":
        assert sqlite_table(target) == [(1, 10), (2, 20), (3, 30), (4, 40)]
    else:
        assert [json.loads(v)["amount"] for _, v in leveldb_items(target)[0]] == [10, 20, 30, 40]
    # the report counts the line with the superseded ones, and says why
    report = tmp_path / "report.json"
    p = cli("replay", str(rejects), glob, str(target), *how, "--report", str(report))
    data = json.loads(report.read_text())
    assert (data["rows_read"], data["rows_superseded"], data["rows_reloaded_since"]) == (0, 1, 1)


# the reasons a JSON Lines key first met past the sample gets, at the load and at a replay
PAST_SAMPLE = (
    "key 'extra' is not a column (columns come from the first 2 rows, source.infer_rows): "
    "replay this reject file to load the row, with --alter to add the column"
)
NOT_IN_TABLE = "no column 'extra' in the job's columns or table 't': replay with --alter (sink.alter = true) to add it"


def _past_the_sample(tmp_path: Path, sink: str) -> tuple[Path, list[str], Path]:
    """A day's JSON Lines export whose key ``extra`` first appears past the sample: the row
    holding it rejected (the others load); the glob, the target and the way to name it."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "d1.jsonl").write_text('{"id":1,"v":1}\n{"id":2,"v":2}\n{"id":3,"v":3,"extra":"new"}\n{"id":4,"v":4}\n')
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    how = [str(folder / "*.jsonl"), str(target)]
    how += ["--table", "t"] if sink == "sqlite" else ["--key", "{id}"]
    p = cli("load", *how, "--set", "source.infer_rows=2", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    rejects = rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}")
    assert [(r["row"], r["column"], r["reason"]) for r in reject_lines(rejects)] == [(3, "extra", PAST_SAMPLE)]
    return target, how, rejects


def test_a_json_lines_key_past_the_sample_replays_with_alter_and_is_recorded(tmp_path: Path) -> None:
    """The reason of a key past the sample pointed at source.infer_rows, which no rerun uses
    for a file already loaded, and the replay rejected the row again with "not a column of the
    file", --alter or not: a replay with --alter adds the column, and the checkpoint records
    its type for later runs; without --alter the reason says to give it."""
    target, how, rejects = _past_the_sample(tmp_path, "sqlite")
    p = cli("replay", str(rejects), *how)
    assert p.returncode == 4
    assert [r["reason"] for r in reject_lines(again_of(rejects))] == [NOT_IN_TABLE]
    p = cli("replay", str(rejects), *how, "--alter", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert sqlite_table(target) == [(1, 1, None), (2, 2, None), (3, 3, "new"), (4, 4, None)]
    assert sqlite_state(target, "table:t")["schema"] == {"extra": "string", "id": "int64", "v": "int64"}
    # a later file's number in the column is refused as of another type than recorded, as after a load
    (tmp_path / "in" / "d2.jsonl").write_text('{"id":5,"v":5,"extra":"x"}\n{"id":6,"v":6,"extra":7}\n')
    p = cli("load", *how, "-q")
    assert p.returncode == 0, p.stderr
    assert sqlite_table(target)[4:] == [(5, 5, "x"), (6, 6, "7")]


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_json_lines_key_past_the_sample_replays_into_the_column_the_job_has_since(tmp_path: Path, sink: str) -> None:
    """hunt23c #6: a later file brought the column (--alter): the replay parses the line's raw
    against the job's columns, not its file's sample, and loads the row with no flag (a LevelDB
    store's values take any key)."""
    target, how, rejects = _past_the_sample(tmp_path, sink)
    (tmp_path / "in" / "d2.jsonl").write_text('{"id":5,"v":5,"EXTRA":"x"}\n')
    p = cli("load", *how, *(["--alter"] if sink == "sqlite" else []), "-q")
    assert (p.returncode, p.stderr) == (0, "")
    p = cli("replay", str(rejects), *how)
    assert p.returncode == 0, p.stderr
    assert reject_lines(again_of(rejects)) == []
    if sink == "sqlite":
        assert sqlite_table(target) == [(1, 1, None), (2, 2, None), (3, 3, "new"), (4, 4, None), (5, 5, "x")]
    else:
        values = [json.loads(v) for _, v in leveldb_items(target)[0]]
        assert values[2] == {"id": 3, "v": 3, "EXTRA": "new"}  # the column's recorded spelling


def test_a_replay_waits_for_a_replace_stopped_before_its_end(tmp_path: Path) -> None:
    """hunt24a 8: a replay while a replace was unfinished said "1 written ... (table t)", but
    the row went into the replace's stage table, unseen until a rerun swapped it in (into
    LevelDB, a rerun of the replace would delete it). The replay is refused until the load
    ends; then it loads the fixed row."""
    src, db = tmp_path / "a.csv", tmp_path / "o.db"
    src.write_text("id,score\n" + "".join(f"{i},{'x' if i == 250 else i}\n" for i in range(1, 301)))
    load_args = ["load", str(src), str(db), "--table", "t", "--columns", "score=int64", "-q"]
    assert cli(*load_args).returncode == 0
    replace = [*load_args, "--mode", "replace", "--batch-size", "100", "--chunk-size", "100"]
    assert cli(*replace, "--restart", "--max-rejects", "0").returncode == 3  # stopped mid-replace
    rejects = rejects_of(db)
    edit(rejects, {250: {"values": {"id": "250", "score": "250"}}})
    replay = ["replay", str(rejects), str(src), str(db), "--table", "t", "--columns", "score=int64"]
    p = cli(*replay)
    assert (p.returncode, p.stderr.splitlines()) == (
        2,
        [
            f"loader: error: a replace of job 'table:t' in {db} stopped before its end: a replayed row would not be in"
            " the table it ends with",
            "  hint: rerun the load to finish the replace, then replay",
        ],
    )
    assert cli(*replace).returncode == 0  # the rerun ends the replace: row 250 rejected again
    edit(rejects, {250: {"values": {"id": "250", "score": "250"}}})
    assert cli(*replay).returncode == 0
    assert [r[0] for r in sqlite_table(db)] == list(range(1, 301))


def test_a_fixed_value_replays_with_the_loads_thousands_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reject of a column read with ``--thousands-separator ,``, fixed in the reject file as
    the file writes numbers (``1,230``), loads as that number; one still malformed is rejected again."""
    from loader.cli import main

    src, db = tmp_path / "rp.csv", tmp_path / "rp.db"
    src.write_text('id,v\n1,"1,234"\n2,"1,23"\n3,"4,5"\n')
    flags = ["--table", "t", "--thousands-separator", ",", "--columns", "v=int64", "-q"]
    assert main(["load", str(src), str(db), *flags]) == 0
    rejects = Path(f"{db}.table-t.rejects.jsonl")
    edit(rejects, {2: {"values": {"id": "2", "v": "1,230"}}})
    assert main(["replay", str(rejects), str(src), str(db), *flags]) == 0
    capsys.readouterr()
    assert sqlite3.connect(db).execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, 1234), (2, 1230)]
    again = [json.loads(line) for line in Path(f"{db}.table-t.rejects.replay.jsonl").read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in again] == [
        (3, "'4,5' holds a ',' outside groups of three digits (source.thousands_separator is ',': 1,234,567)")
    ]


def test_a_raw_csv_line_replays_its_nulls_by_quoting_as_the_load_read_them(tmp_path: Path) -> None:
    """``quoted_nulls = false``: a fixed raw line's ``""`` is the empty string and its
    unquoted ``NA`` NULL in a number column, text in a text column, as the load reads them;
    a quoted ``"NA"`` is no NULL either (the reject of row 4), until it is fixed."""
    (tmp_path / "in.csv").write_text('id,note,name,n\n1,,"NA",NA\n2,"",NA,7\n3,x,y,z,extra\n4,"",NA,"NA"\n')
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "in.csv", "quoted_nulls": False, "columns": {"n": "int64"}},
        sink={"path": "out.db", "table": "t"},
    )
    rejects = Path(Pipeline.from_config(job).run().rejects_path or "")
    assert [(line["row"], line.get("values")) for line in reject_lines(rejects)] == [
        (3, None),
        (4, {"id": "4", "note": "", "name": "NA", "n": "NA"}),
    ]
    edit(rejects, {3: {"raw": '3,"",NA,NA'}, 4: {"values": {"id": "4", "note": "", "name": "NA", "n": "8"}}})
    assert Pipeline.from_config(job).replay(rejects).rows_written == 2
    assert sqlite_table(tmp_path / "out.db") == [
        (1, None, "NA", None),
        (2, "", "NA", 7),
        (3, "", "NA", None),
        (4, "", "NA", 8),
    ]


def test_escaped_nulls_and_quoted_nulls_read_alike_in_a_load_its_csv_module_path_and_a_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``\\N`` as written (escape), ``""`` kept text (quoted_nulls false) together: the block
    with a non-UTF-8 bad row (read by the csv module), and its fixed raw line replayed, read
    NULLs as the parser does."""
    from loader.cli import main

    src, db = tmp_path / "m.csv", tmp_path / "m.db"
    src.write_bytes(b'id,a,b\n1,\\N,""\n2,"x\\"y",\\N\n3,"",C:\\\\t\n4,\xff\xfe,"a,b",extra\n')
    flags = ["--table", "t", "--escape-char", "\\", "--null-values", "\\N", "--no-quoted-nulls", "-q"]
    assert main(["load", str(src), str(db), *flags, "--columns", "id=int64"]) == 0
    rejects = Path(f"{db}.table-t.rejects.jsonl")
    assert [r["reason"] for r in reject_lines(rejects)] == ["expected 3 fields, found 4"]
    edit(rejects, {4: {"raw": '4,\\N,""'}})
    assert main(["replay", str(rejects), str(src), str(db), *flags, "--columns", "id=int64"]) == 0
    capsys.readouterr()
    assert sqlite3.connect(db).execute("SELECT id, a, b FROM t ORDER BY id").fetchall() == [
        (1, None, ""),
        (2, 'x"y', None),
        (3, "", "C:\\t"),
        (4, None, ""),
    ]


def test_objects_a_sampled_struct_rejected_replay_as_json_text_with_a_declared_string(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    src.write_text('{"id":1,"p":{"a":1}}\n{"id":2,"p":{"b":[1]}}\n', encoding="utf-8")
    db = tmp_path / "t.db"
    p = cli("load", str(src), str(db), "--table", "t", "--infer-rows", "1")
    assert p.returncode == 0, p.stderr
    rejects = tmp_path / "t.db.table-t.rejects.jsonl"
    p = cli("replay", str(rejects), str(src), str(db), "--table", "t", "--infer-rows", "1", "--columns", "p=string")
    assert p.returncode == 0, p.stderr
    assert sqlite3.connect(db).execute("SELECT id, p FROM t ORDER BY id").fetchall() == [
        (1, '{"a":1}'),
        (2, '{"b":[1]}'),
    ]


def _typed_cases() -> dict[str, tuple[dict[str, Any], str]]:
    """Columns of the types Parquet and Arrow writers use whose reject values once failed to
    replay, or replayed changed; each case's ``k`` (the key) null in its second row, and the
    file's suffix."""
    import datetime as dt

    import pyarrow as pa

    def two(values: list[Any], t: pa.DataType) -> pa.Array:
        return pa.array(values, t)

    amsterdam = pa.timestamp("us", "Europe/Amsterdam")  # before 1937: +00:19:32, in summer +01:19:32
    kolkata = pa.timestamp("us", "Asia/Kolkata")  # before 1906: +05:21:10
    early = int(dt.datetime(1900, 6, 1, 10, 40, 28, tzinfo=dt.UTC).timestamp() * 1_000_000)
    return {
        # DuckDB's INTERVAL: the load writes P1M2DT0.003S
        "interval": ({"iv": two([(1, 2, 3_000_000), (-1, 0, 5)], pa.month_day_nano_interval())}, ".arrow"),
        # DuckDB's UUID: 16 bytes
        "uuid": ({"u": pa.array([bytes(range(16)), bytes(range(16, 32))], pa.uuid())}, ".parquet"),
        # Polars' Binary
        "binary_view": ({"b": two([b"\xff\x00", b"\xff\x01"], pa.binary_view())}, ".arrow"),
        "zone_with_seconds": ({"ts": two([early, early], amsterdam)}, ".parquet"),
        "zone_with_seconds_in_a_list": ({"lt": two([[early], [early, None]], pa.list_(kolkata))}, ".parquet"),
        # Polars' Duration inside a struct and a list
        "nested_duration": (
            {
                "st": two([{"d": 90_000}, {"d": -5}], pa.struct([("d", pa.duration("ms"))])),
                "ld": two([[172_800_005], [1, None]], pa.list_(pa.duration("ms"))),
            },
            ".parquet",
        ),
    }


def _typed_file(path: Path, columns: dict[str, Any], k: Any) -> Path:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    table = pa.table({"rid": [0, 1], "k": k, **columns})
    if path.suffix == ".arrow":
        feather.write_feather(table, path, compression="uncompressed")
    else:
        pq.write_table(table, path)
    return path


def _sink(target: Path) -> list[str]:
    """A sink whose key (LevelDB) or primary key (SQLite) is column ``k``: a row with a null one is rejected."""
    if target.suffix == ".db":
        return [str(target), "--table", "t", "--mode", "upsert", "--primary-key", "k"]
    return [str(target), "--key", "{k}"]


def _stored_rows(target: Path) -> list[Any]:
    if target.suffix == ".db":
        return sqlite_table(target, order="rid")
    return [json.loads(v) for _, v in leveldb_items(target)[0]]


def _replays_as_loaded(
    tmp_path: Path, sink: str, columns: dict[str, Any], suffix: str, k: Any, fixed: Any, fixed_k: Any
) -> None:
    """A file whose row 2 has a null key (column ``k``), loaded; its reject line replayed with
    only the key fixed (to ``fixed``): the target holds what a load of the fixed file (its key
    column ``fixed_k``) stores, and the checkpoint's types are the load's."""
    target = tmp_path / ("out.db" if sink == "sqlite" else "out.ldb")
    rejects = tmp_path / "rejects.jsonl"
    src = _typed_file(tmp_path / f"in{suffix}", columns, k)
    assert cli("load", str(src), *_sink(target), "--rejects", str(rejects), "-q").returncode == 0
    [line] = reject_lines(rejects)
    recorded = sqlite_state(target) if sink == "sqlite" else leveldb_items(target)[1]
    line["values"]["k"] = fixed
    rejects.write_text(json.dumps(line) + "\n", encoding="utf-8")
    p = cli("replay", str(rejects), str(src), *_sink(target))
    assert p.returncode == 0, (p.stderr, line)
    assert ": 1 written, 0 rejected again, 0 already replayed" in p.stderr
    direct = tmp_path / ("direct.db" if sink == "sqlite" else "direct.ldb")
    assert cli("load", str(_typed_file(tmp_path / f"fixed{suffix}", columns, fixed_k)), *_sink(direct)).returncode == 0
    assert _stored_rows(target) == _stored_rows(direct)
    after = sqlite_state(target) if sink == "sqlite" else leveldb_items(target)[1]
    assert after["schema"] == recorded["schema"]  # the replay settles no type the load left open


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("case", list(_typed_cases()))
def test_an_unedited_value_of_each_typed_column_replays_as_the_load_stores_it(
    tmp_path: Path, sink: str, case: str
) -> None:
    columns, suffix = _typed_cases()[case]
    _replays_as_loaded(tmp_path, sink, columns, suffix, [0, None], 1, [0, 1])


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_uuid_in_a_text_column_is_rejected_and_replayed_as_its_text(tmp_path: Path, sink: str) -> None:
    """A UUID loaded into a text column (``--columns u=string``) is its 8-4-4-4-12 text in the
    reject line too, and replays as that text; its bytes were rejected as invalid UTF-8 again."""
    import pyarrow as pa

    text = ["00010203-0405-0607-0809-0a0b0c0d0e0f", "10111213-1415-1617-1819-1a1b1c1d1e1f"]
    src = _typed_file(
        tmp_path / "in.parquet", {"u": pa.array([bytes(range(16)), bytes(range(16, 32))], pa.uuid())}, [0, None]
    )
    target = tmp_path / ("out.db" if sink == "sqlite" else "out.ldb")
    rejects = tmp_path / "rejects.jsonl"
    declared = ["--columns", "u=string"]
    assert cli("load", str(src), *_sink(target), *declared, "--rejects", str(rejects), "-q").returncode == 0
    [line] = reject_lines(rejects)
    assert line["values"] == {"rid": 1, "k": None, "u": text[1]}
    line["values"]["k"] = 1
    rejects.write_text(json.dumps(line) + "\n", encoding="utf-8")
    p = cli("replay", str(rejects), str(src), *_sink(target), *declared)
    assert p.returncode == 0, p.stderr
    rows = _stored_rows(target)
    assert rows == (
        [(0, 0, text[0]), (1, 1, text[1])] if sink == "sqlite" else [{"rid": r, "k": r, "u": text[r]} for r in (0, 1)]
    )


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_row_whose_key_is_a_categorical_replays(tmp_path: Path, sink: str) -> None:
    """A dictionary column (pandas' and Polars' categoricals) as the key, null in the rejected
    row: the replay knows the column, though the checkpoint records no type for it."""
    import pyarrow as pa

    key, fixed = (pa.array(["a", k]).dictionary_encode() for k in (None, "b"))
    _replays_as_loaded(tmp_path, sink, {"s": ["p", "q"]}, ".parquet", key, "b", fixed)
