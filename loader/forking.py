"""Work forked onto the other cores: when a fork is safe, and a map over forked children.

A fork copies what this process has imported and holds, so a child starts at once
with the coordinator's modules and data. It is safe only while no other Python thread
can hold a lock the child would inherit, and no native thread of an unknown library
runs (``can_fork``). The native threads that may exist (jemalloc's background thread,
OpenBLAS's and Arrow's pools) are reset by those libraries' own fork handlers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from .compat import idle_pool_threads, pool_threads
from .errors import RESUME_HINT, SinkError

T = TypeVar("T")
R = TypeVar("R")

# Native threads known to reset themselves in a forked child (jemalloc's background
# thread; OpenBLAS's and Arrow's pools are unnamed, so they carry the process's name).
FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd"})
POLL_SECONDS = 0.05  # how often the coordinator looks for a stop while children work


@contextlib.contextmanager
def quiet_fork() -> Iterator[None]:
    """Python 3.12+ warns on a fork with any thread, native ones too: those here (jemalloc's,
    OpenBLAS's) reset themselves in the child."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        yield


def fork() -> int:
    """``os.fork()``, the standard streams flushed first (as multiprocessing does: no text
    written twice)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()
    with quiet_fork():
        return os.fork()


def can_fork(tasks: str = "/proc/self/task", *, idle_pools: bool = False) -> bool:
    """On Linux, on the main thread, no other Python thread (a library user's own count)
    and no native thread of a library not known to survive a fork: an S3 or GCS client's
    event loop (``AwsEventLoop1``), say, once a remote input was read.

    ``idle_pools``: for a child that runs loader's own code and nothing else (a merge),
    the workers of a ``ThreadPoolExecutor`` that wait for work may stay: they hold no lock,
    and the child hands their pools no work (in the child a pool has no thread to run it).
    A Dask client leaves two such threads behind when it closes."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return False
    me = threading.get_ident()
    others = {t.ident: t for t in threading.enumerate() if t.ident != me}
    idents = set(others) | (set(sys._current_frames()) - {me})  # threads not started by ``threading`` too
    if idents and not (idle_pools and _pools_idle(idents)):
        return False
    return not foreign_threads(tasks, {t.native_id for t in others.values() if t.native_id is not None})


# A pool's worker that has just handed back a task's result is still in the future's code a
# moment after the caller woke (on a busy machine, a while): it is waited for this long.
IDLE_GRACE_S = 1.0


def _pools_idle(idents: set[int | None]) -> bool:
    """Whether the threads ``idents`` are all pool workers waiting for work, now or, for pool
    workers still returning from a task, within ``IDLE_GRACE_S``."""
    deadline = time.monotonic() + IDLE_GRACE_S
    while True:
        busy = (idents & set(sys._current_frames())) - idle_pool_threads()  # those that ended are no obstacle
        if not busy:
            return True
        if not busy <= pool_threads() or time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def foreign_threads(tasks: str = "/proc/self/task", python: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """The names of this process's native threads that are neither unnamed (the process's
    own name), in ``FORK_SAFE_THREADS``, nor ``python`` (the native ids of Python threads
    already vetted: from Python 3.14 they carry their names); every name when they cannot be read."""
    try:
        names = []
        for tid in os.listdir(tasks):
            if int(tid) in python:
                continue
            with open(os.path.join(tasks, tid, "comm"), encoding="utf-8", errors="replace") as fh:
                names.append(fh.read().strip())
        with open(os.path.join(tasks, str(os.getpid()), "comm"), encoding="utf-8", errors="replace") as fh:
            own = fh.read().strip()
    except (OSError, ValueError):
        return ["?"]
    return sorted(n for n in names if n != own and n not in FORK_SAFE_THREADS)


def fork_map(fn: Callable[[T], R], items: Sequence[T], *, check: Callable[[], None]) -> list[tuple[R, float]]:
    """``fn(item)`` for every item at once, each in a child forked now (call only when
    ``can_fork``): the results in order, each with its child's peak RSS in MB.

    A child dies with this process, and leaves Ctrl-C and SIGTERM to it. ``check`` runs
    while the children work; whatever it raises (a stop asked for) kills them first. A
    child's exception is raised here, the first in order; a child that ended without its
    result (killed: out of memory, say) raises ``SinkError``."""
    from .pool_worker import die_with, leave_signals
    from .report import peak_rss_mb

    parent = os.getpid()
    children: list[tuple[int, int]] = []  # (pid, the read end of its pipe)
    try:
        for item in items:
            read, write = os.pipe()
            pid = fork()
            if pid == 0:  # the child never returns from here
                os.close(read)
                leave_signals()
                die_with(parent)
                _child(fn, item, write, peak_rss_mb)
            os.close(write)
            children.append((pid, read))
        outcomes = _gather([read for _, read in children], check)
    except BaseException:
        for pid, _ in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise
    finally:
        for _, read in children:
            os.close(read)
        statuses = [_reap(pid) for pid, _ in children]
    check()  # children that a signal to the process group ended: the stop is the news, not their end
    results = []
    for (pid, _), data, status in zip(children, outcomes, statuses, strict=True):
        if not data:
            code = os.waitstatus_to_exitcode(status)
            how = f"by {signal.Signals(-code).name}" if code < 0 else f"with exit code {code}"
            raise SinkError(f"a forked process (pid {pid}) ended {how} before its result", hint=RESUME_HINT)
        ok, value, peak = pickle.loads(data)
        if not ok:
            raise value
        results.append((value, peak))
    return results


def _reap(pid: int) -> int:
    """The child's wait status (0 if it was reaped elsewhere)."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _child(fn: Callable[[T], R], item: T, write: int, peak: Callable[[], float]) -> None:
    code = 1
    outcome: tuple[bool, object, float]
    try:
        try:
            outcome = (True, fn(item), peak())
            code = 0
        except BaseException as exc:  # handed to the parent, which raises it
            outcome = (False, exc, peak())
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # an exception that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {exc}"), peak()))
        with os.fdopen(write, "wb") as out:
            out.write(data)
    finally:
        os._exit(code)  # nothing of the parent's (buffers, atexit) runs twice


def _gather(reads: list[int], check: Callable[[], None]) -> list[bytes]:
    """Every pipe read to its end, ``check`` run between reads."""
    data = {fd: bytearray() for fd in reads}
    open_fds = set(reads)
    while open_fds:
        check()
        ready, _, _ = select.select(list(open_fds), [], [], POLL_SECONDS)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                data[fd] += chunk
            else:
                open_fds.discard(fd)
    return [bytes(data[fd]) for fd in reads]
