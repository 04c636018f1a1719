"""SIGTERM and SIGINT stop a real load at a batch boundary, and a rerun finishes it exactly once."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest

from loader.paths import lock_path
from tests.conftest import SilentEndpoint
from tests.reliability_util import (
    cli,
    file_totals,
    holds_open,
    leveldb_items,
    leveldb_state,
    popen,
    reject_lines,
    rejects_of,
    sqlite_state,
    sqlite_table,
    wait_until,
)

ROWS = 20_000


def make_input(path: Path) -> Path:
    lines = ["id,name,score"]
    for i in range(1, ROWS + 1):
        lines.append(f"{i},name{i},{'bad' if i % 50 == 0 else i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("workers", ["1", "3"])
def test_signal_stops_at_batch_boundary_and_rerun_completes(
    tmp_path: Path, sink: str, signum: int, code: int, workers: str
) -> None:
    src = make_input(tmp_path / "in.csv")
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    rejects = rejects_of(target, "table:t" if sink == "sqlite" else "key:{id}")
    args = [
        "load",
        str(src),
        str(target),
        "--batch-size",
        "100",
        "--chunk-size",
        "50",
        "--columns",
        "score=int64",
        "--workers",
        workers,
    ]
    args += ["--table", "t"] if sink == "sqlite" else ["--key", "{id}"]
    small_blocks = {"LOADER_SOURCE__BLOCK_SIZE": "4096"}  # many blocks, for the workers to share
    proc = popen(*args, extra_env=small_blocks)
    # signal once the load is under way: the first rejects are on disk, so batches are committing
    while proc.poll() is None and (not rejects.exists() or rejects.stat().st_size < 200):
        time.sleep(0.005)
    proc.send_signal(signal.SIGSTOP)  # so the signal lands mid-load however fast this machine is
    assert proc.poll() is None, "the load finished before it could be interrupted"
    proc.send_signal(signum)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    name = signal.Signals(signum).name

    assert proc.returncode == code
    assert out == ""
    lines = err.splitlines()
    assert lines[-2:] == [
        f"loader: error: stopped by {name}; committed work is kept",
        "  hint: run the same command again to resume where it stopped",
    ]
    summary = re.fullmatch(r"interrupted: ([\d,]+) rows written to (.*?) from 1 file half loaded in .*", lines[0])
    assert summary is not None, lines[0]
    written = int(summary.group(1).replace(",", ""))
    assert 0 < written < ROWS

    # a graceful stop commits: rows, checkpoint and reject file agree, with no uncommitted tail
    if sink == "sqlite":
        rows, state = sqlite_table(target), sqlite_state(target)
    else:
        rows, state = leveldb_items(target)
    totals = file_totals(state)
    assert state["job"]["status"] == "running"
    assert len(rows) == totals["rows_written"] == written
    assert rejects.stat().st_size == state["job"]["rejects_bytes"]
    assert len(reject_lines(rejects)) == totals["rows_rejected"]

    again = cli(*args, extra_env=small_blocks)
    assert again.returncode == 0, again.stderr
    expected = [i for i in range(1, ROWS + 1) if i % 50]
    if sink == "sqlite":
        assert [r[0] for r in sqlite_table(target)] == expected
    else:
        data, state = leveldb_items(target)
        assert sorted(int(k) for k, _ in data) == expected
    assert [r["row"] for r in reject_lines(rejects)] == list(range(50, ROWS + 1, 50))
    assert again.stderr.startswith(f"ok: {ROWS - ROWS // 50 - written:,} rows written")


def test_sigterm_during_the_sorted_merge_stops_it_and_a_rerun_merges_again(tmp_path: Path) -> None:
    """LevelDB with scrambled keys: SIGTERM once the checkpoint says the merge began. The
    merge stops at its next commit point (between groups of runs, or before the next
    table file) with exit 143; the runs stay, and the rerun merges them into the store
    a clean load makes."""
    import json

    src = tmp_path / "in.csv"
    lines = ["id,v"] + [f"{(i + 1) * 2654435761 % 2**32},{i}" for i in range(150_000)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["load", str(src), "--key", "{id}", "--set", f"sink.sort_run_size={256 << 10}"]
    clean = cli(args[0], args[1], str(tmp_path / "clean.ldb"), *args[2:])
    assert clean.returncode == 0, clean.stderr

    target = tmp_path / "t.ldb"

    def phase() -> str:
        entry = leveldb_state(target).get("sort")
        return "" if entry is None else str(json.loads(entry).get("phase", ""))

    proc = popen(args[0], args[1], str(target), *args[2:])
    while proc.poll() is None and phase() != "merge":
        time.sleep(0.001)
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, "the load finished before the merge could be interrupted"
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.splitlines()[-2] == "loader: error: stopped by SIGTERM; committed work is kept"
    assert phase() == "merge"
    assert (tmp_path / "t.ldb.runs").exists()

    again = cli(args[0], args[1], str(target), *args[2:])
    assert again.returncode == 0, again.stderr
    assert leveldb_items(target)[0] == leveldb_items(tmp_path / "clean.ldb")[0]
    assert not (tmp_path / "t.ldb.runs").exists()


def test_sigterm_while_waiting_for_the_lock_stops_with_143_and_leaves_the_holder_s_report(tmp_path: Path) -> None:
    """The report file is the running run's (a scheduled job gives every run the same one)."""
    from loader.lock import TargetLock

    src = make_input(tmp_path / "in.csv")
    target, report = tmp_path / "t.db", tmp_path / "r.json"
    with TargetLock(str(target)):  # another run holds the target
        proc = popen("load", str(src), str(target), "--table", "t", "--lock-wait", "60", "--report", str(report))
        wait_until(lambda: holds_open(proc.pid, lock_path(str(target))), "waiting for the lock", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert err.splitlines()[-2:] == [
        "loader: error: stopped by SIGTERM; committed work is kept",
        "  hint: run the same command again to resume where it stopped",
    ]
    assert not report.exists()
    assert not target.exists()


# ``python -m loader``, with a signal this process sends itself while the interpreter tears
# down after the command (a reference cycle the final collection frees, after Python's own
# signal handling has ended): the window between the report written and the process gone.
SIGNAL_AT_TEARDOWN = """
import gc, os, signal, sys
from loader.__main__ import main

class AtTeardown:
    def __init__(self):
        self.kill, self.pid, self.signum = os.kill, os.getpid(), getattr(signal, os.environ["LATE_SIGNAL"])
        self.cycle = self  # freed by the collection that finalization runs after its signal handling ends
    def __del__(self):
        self.kill(self.pid, self.signum)

sys.argv = ["loader", *sys.argv[1:]]
code = main()
gc.disable()  # no collection before finalization's own
AtTeardown()
sys.exit(code)
"""


@pytest.mark.parametrize(("how", "engine"), [("SIGTERM", "threads"), ("SIGTERM", "processes"), ("SIGINT", "threads")])
def test_a_signal_after_the_report_is_written_leaves_the_reports_exit_code(
    tmp_path: Path, how: str, engine: str
) -> None:
    """A signal that lands once the run has written its report, as the process tears down,
    changes nothing: exit 0 as the report says (the default action Python puts back as it
    finalizes killed the process: 143, 130)."""
    import subprocess
    import sys

    from tests.reliability_util import env

    src, target, report = make_input(tmp_path / "in.csv"), tmp_path / "t.db", tmp_path / "r.json"
    args = ["load", str(src), str(target), "--table", "t", "-q", "--engine", engine, "--report", str(report)]
    p = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT_TEARDOWN, *args],
        capture_output=True,
        text=True,
        env=env({"LATE_SIGNAL": how}),
        timeout=120,
    )
    assert (p.returncode, p.stderr) == (0, "")
    made = json.loads(report.read_text())
    assert (made["status"], made["exit_code"], made["rows_written"]) == ("ok", 0, ROWS)
    assert len(sqlite_table(target, "t")) == ROWS


def test_sigterm_while_a_storage_request_hangs_stops_at_once_with_143_and_a_report(
    tmp_path: Path, silent_endpoint: SilentEndpoint
) -> None:
    """The glob's listing blocks in pyarrow, where no Python handler runs: the SIGTERM was
    ignored (a second one too) until the request gave up, and the run ended with exit 1,
    `cannot reach the storage service`, never naming the signal."""
    report = tmp_path / "r.json"
    s3 = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}
    proc = popen(
        "load",
        "s3://bk1/csv/*.csv",
        str(tmp_path / "t.db"),
        "--table",
        "t",
        "--report",
        str(report),
        extra_env={**s3, "AWS_ENDPOINT_URL": silent_endpoint.url, "AWS_ENDPOINT_URL_S3": silent_endpoint.url},
    )
    wait_until(lambda: bool(silent_endpoint.held), "waiting for the listing", proc)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    # at once: not after the request's ~11 s (a busy machine may take a second or two to end the process)
    assert time.monotonic() - sent < 5, err
    assert proc.returncode == 143, err
    assert err.splitlines()[-2:] == [
        "loader: error: stopped by SIGTERM; committed work is kept",
        "  hint: run the same command again to resume where it stopped",
    ]
    assert json.loads(report.read_text())["status"] == "interrupted"
    assert not (tmp_path / "t.db").exists()
