"""SIGTERM and SIGINT stop a real load at a batch boundary, and a rerun finishes it exactly once."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.reliability_util import (
    cli,
    file_totals,
    leveldb_items,
    popen,
    reject_lines,
    rejects_of,
    sqlite_state,
    sqlite_table,
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
    summary = re.fullmatch(r"interrupted: ([\d,]+) rows written to (.*?) from 0 files in .*", lines[0])
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
