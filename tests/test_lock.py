"""loader.lock: one run per target, and no lock file left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loader.errors import TargetLockedError
from loader.lock import TargetLock
from loader.paths import lock_path
from tests.conftest import write_csv
from tests.reliability_util import cli, env, holds_open, times_open, wait_until


def test_a_run_that_ends_removes_its_lock_file(tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    with TargetLock(str(target)):
        assert (tmp_path / "t.db.lock").exists()
    assert not (tmp_path / "t.db.lock").exists()


def test_a_waiting_run_locks_the_file_the_path_names_after_the_holder_removed_it(tmp_path: Path) -> None:
    """The waiter opened the old file before the holder removed it: it must not keep a lock
    on that removed file, or a third run would create a new one and run beside it."""
    target = str(tmp_path / "t.db")
    first = TargetLock(target).__enter__()
    second = TargetLock(target, wait=30)
    entered = threading.Event()
    thread = threading.Thread(target=lambda: (second.__enter__(), entered.set()))
    thread.start()
    # the second run has opened the lock file (as the first has) and waits on it
    wait_until(lambda: times_open(os.getpid(), lock_path(target)) == 2, "the second run waiting on the lock file")
    assert not entered.is_set()
    first.__exit__(None, None, None)
    assert entered.wait(30)
    thread.join()
    assert (tmp_path / "t.db.lock").exists()
    with pytest.raises(TargetLockedError):
        TargetLock(target).__enter__()  # a third run is kept out
    second.__exit__(None, None, None)
    assert not (tmp_path / "t.db.lock").exists()


@pytest.mark.parametrize("target", ["t.db", "t.ldb"])
def test_a_clean_run_leaves_only_the_target_beside_its_input(tmp_path: Path, target: str) -> None:
    src = write_csv(tmp_path / "in.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    flags = ["--table", "t"] if target.endswith(".db") else ["--key", "{id}"]
    assert cli("load", str(src), str(tmp_path / target), *flags, "-q").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.csv", target])


def test_a_process_forked_from_a_run_does_not_keep_its_lock_when_the_run_dies(tmp_path: Path) -> None:
    """flock belongs to the open file, which a forked child (a local Dask worker) shares:
    the child must let go of it, or a killed run's lock outlives the run."""
    target = str(tmp_path / "t.db")
    script = (
        "import os, sys, time\n"
        "from loader.lock import TargetLock\n"
        f"held = TargetLock({target!r}).__enter__()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    null = os.open(os.devnull, os.O_WRONLY)\n"
        "    os.dup2(null, 1)\n"  # so the parent's output ends with the parent
        "    os.dup2(null, 2)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "os._exit(0)\n"  # the run dies holding the lock; its child lives on
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=60, check=True
    ).stdout
    child = int(out)
    try:
        os.kill(child, 0)  # still running
        with TargetLock(target):  # the lock went with the run
            pass
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_refusal_s_hint_names_lock_wait_in_each_front_end_s_spelling(tmp_path: Path) -> None:
    """It repeated the message ("another loader run is writing this target") and named no way to wait."""
    from loader import load
    from loader.cli import main

    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    db = tmp_path / "a.db"
    with TargetLock(str(db)):
        with pytest.raises(TargetLockedError) as info:
            load(src, db)
        assert info.value.hint == "retry when it ends, or give run_options.lock_wait the seconds to wait for it"
        proc = cli("load", str(src), str(db))
    assert (proc.returncode, proc.stderr) == (
        75,
        f"loader: error: {db}: another loader run is writing this target\n"
        "  hint: retry when it ends, or give --lock-wait the seconds to wait for it\n",
    )
    assert main(["load", str(src), str(db), "-q"]) == 0


def test_a_run_refused_or_stopped_at_the_lock_leaves_the_holder_s_report_and_metrics(tmp_path: Path) -> None:
    """Every run of a scheduled job is given the same run.report and run.metrics_file: a run
    that never held the lock (75, or SIGTERM while it waited for it) wrote them under the
    holder's feet, and a monitor read `locked`, 0 rows, until the holder ended."""
    src = write_csv(tmp_path / "a.csv", ["id"], [[1], [2]])
    db, rep, prom = tmp_path / "a.db", tmp_path / "rep.json", tmp_path / "a.prom"
    args = ["load", str(src), str(db), "--table", "t", "--report", str(rep), "--metrics-file", str(prom), "-q"]
    assert cli(*args).returncode == 0
    before = (rep.read_bytes(), prom.read_bytes())
    with TargetLock(str(db)):
        assert cli(*args).returncode == 75
        waiting = subprocess.Popen(
            [sys.executable, "-m", "loader", *args, "--lock-wait", "60"], env=env(None), cwd=Path(__file__).parents[1]
        )
        wait_until(lambda: holds_open(waiting.pid, lock_path(str(db))), "waiting for the lock", waiting)
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=60) == 143
    assert (rep.read_bytes(), prom.read_bytes()) == before
