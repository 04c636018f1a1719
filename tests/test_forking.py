"""Forked work: when a fork is safe, and ``fork_map`` in a fresh interpreter (one thread,
so the fork is safe whatever threads this test process has)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from loader.forking import can_fork, foreign_threads
from tests.reliability_util import process_alive, wait_until

ROOT = Path(__file__).resolve().parents[1]


def run_script(body: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    script = "import json, os, sys, time\nfrom loader.forking import can_fork, fork_map\nassert can_fork()\n" + body
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout)


def test_fork_map_returns_each_childs_result_in_order_with_its_peak() -> None:
    out = run_script(
        "def work(n):\n"
        "    time.sleep(0.2 * (3 - n))  # the last to start ends first\n"
        "    return [os.getpid(), os.getppid(), n * n]\n"
        "done = fork_map(work, [1, 2, 3], check=lambda: None)\n"
        "print(json.dumps([os.getpid(), [[*r, peak] for r, peak in done]]))\n"
    )
    assert out.returncode == 0, out.stderr
    parent, results = json.loads(out.stdout)
    assert [r[2] for r in results] == [1, 4, 9]
    assert {r[1] for r in results} == {parent} and len({r[0] for r in results}) == 3
    assert all(peak > 5 for *_, peak in results)  # a process's peak, in MB, from the OS


def test_a_childs_exception_is_raised_in_the_parent_as_it_was() -> None:
    out = run_script(
        "def work(n):\n"
        "    if n == 2:\n"
        "        raise OSError(28, 'No space left on device', '/full/run.arrow')\n"
        "    return n\n"
        "try:\n"
        "    fork_map(work, [1, 2], check=lambda: None)\n"
        "except OSError as exc:\n"
        "    print(json.dumps([exc.errno, exc.strerror, exc.filename]))\n"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [28, "No space left on device", "/full/run.arrow"]


def test_a_child_killed_before_its_result_is_one_clear_error() -> None:
    """The kernel's OOM killer, say: the load fails with one line, and its rerun resumes."""
    out = run_script(
        "import signal\n"
        "from loader.errors import SinkError\n"
        "def work(n):\n"
        "    if n == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return n\n"
        "try:\n"
        "    fork_map(work, [1, 2], check=lambda: None)\n"
        "except SinkError as exc:\n"
        "    print(json.dumps([str(exc), exc.hint, exc.exit_code]))\n"
    )
    assert out.returncode == 0, out.stderr
    message, hint, code = json.loads(out.stdout)
    assert message.startswith("a forked process (pid ") and message.endswith(") ended by SIGKILL before its result")
    assert hint.startswith("committed work is kept") and code == 1


def test_a_stop_asked_for_kills_the_children_at_once() -> None:
    """``check`` raising (SIGTERM's stop) kills children still working, and waits for them."""
    out = run_script(
        "pids = []\n"
        "def work(n):\n"
        "    time.sleep(60)\n"
        "start = time.monotonic()\n"
        "def check():\n"
        "    pids[:] = [int(p) for p in open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read().split()]\n"
        "    if time.monotonic() - start > 0.5:\n"
        "        raise KeyboardInterrupt\n"
        "try:\n"
        "    fork_map(work, [1, 2], check=check)\n"
        "except KeyboardInterrupt:\n"
        "    alive = [p for p in pids if os.path.exists(f'/proc/{p}')]\n"
        "    print(json.dumps([len(pids), alive]))\n",
        timeout=30,  # the children sleep for 60 s: waiting for them fails here
    )
    assert out.returncode == 0, out.stderr
    forked, alive = json.loads(out.stdout)
    assert forked == 2 and alive == []


def test_children_die_with_their_parent_however_it_dies(tmp_path: Path) -> None:
    """SIGKILL of the parent: the kernel kills its forked children too (no orphan merges)."""
    pids = tmp_path / "pids"
    out = run_script(
        "def work(n):\n"
        f"    open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "    time.sleep(60)\n"
        "import signal, threading\n"
        "def started():\n"
        f"    return len(open({str(pids)!r}).read().split()) if os.path.exists({str(pids)!r}) else 0\n"
        "def kill_once_both_work():  # not after a delay: on a busy machine the children may not have begun\n"
        "    deadline = time.monotonic() + 20\n"
        "    while started() < 2 and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "threading.Thread(target=kill_once_both_work, daemon=True).start()\n"
        "fork_map(work, [1, 2], check=lambda: None)\n",
        timeout=30,
    )
    assert out.returncode == -9
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    wait_until(
        lambda: not any(process_alive(p) for p in children), f"children {children} gone with their parent", timeout=30
    )


def test_with_threads_about_a_local_cluster_starts_as_dask_starts_it() -> None:
    """A fork copies no other thread, and any lock one holds stays locked in the child:
    a library user's process with threads gets Dask's own spawned workers."""

    # an earlier test in this process may have left a library's native thread, and a
    # pytest-xdist worker has a thread of its own that ``threading`` does not list
    alone = set(sys._current_frames()) == {threading.get_ident()}
    assert can_fork() == (alone and not foreign_threads())
    go = threading.Event()
    other = threading.Thread(target=go.wait)
    other.start()
    try:
        assert not can_fork()
    finally:
        go.set()
        other.join()


def test_a_merges_fork_may_leave_idle_pools_behind_but_no_other_thread() -> None:
    """A child that runs loader's merge alone is forked beside a pool's idle workers (a Dask
    client leaves two when it closes), not beside a pool running a task nor a thread
    started without ``threading``; the strict rule (a Dask worker's fork) takes none."""
    out = run_script(
        "import _thread, threading\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def settle():\n"
        "    for _ in range(1000):  # a pool's thread back to its queue: at once, unless the machine is busy\n"
        "        if can_fork(idle_pools=True): return True\n"
        "        time.sleep(0.01)\n"
        "    return False\n"
        "pool = ThreadPoolExecutor(2)\n"
        "pool.submit(lambda: None).result()\n"
        "seen = [settle(), can_fork()]\n"
        "go, started = threading.Event(), threading.Event()\n"
        "busy = pool.submit(lambda: (started.set(), go.wait()))\n"
        "started.wait(10)\n"
        "seen.append(can_fork(idle_pools=True))\n"
        "go.set(); busy.result()\n"
        "seen.append(settle())\n"
        "gone = threading.Event()\n"
        "_thread.start_new_thread(gone.wait, ())\n"
        "time.sleep(0.1)\n"
        "seen.append(can_fork(idle_pools=True))\n"
        "gone.set()\n"
        "time.sleep(0.1)\n"
        "began = threading.Event()\n"
        "pool.submit(lambda: (began.set(), time.sleep(0.3)))  # ends after the merge asks: waited for\n"
        "began.wait(10)\n"
        "seen.append(can_fork(idle_pools=True))\n"
        "print(json.dumps(seen))\n"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, False, False, True, False, True]


def test_a_fork_waits_for_no_native_thread_but_those_known_to_survive_one(tmp_path: Path) -> None:

    def task(tid: int, name: str) -> None:
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "comm").write_text(name + "\n")

    task(os.getpid(), "python")
    task(1_000_001, "python")  # unnamed: OpenBLAS's pool, Arrow's
    task(1_000_002, "jemalloc_bg_thd")
    assert foreign_threads(str(tmp_path)) == []
    task(1_000_003, "AwsEventLoop1")  # an S3 client's, once a remote input was read
    assert foreign_threads(str(tmp_path)) == ["AwsEventLoop1"]
    task(1_000_004, "Dask-Offload_0")  # a Python thread named by Python 3.14+, vetted already
    assert foreign_threads(str(tmp_path), {1_000_004}) == ["AwsEventLoop1"]
    assert foreign_threads(str(tmp_path / "gone")) == ["?"]
