"""Local workers forked from the coordinator before it has a thread of its own: the
processes of ``run.scheduler = "local"`` (here) and of a local pool (``open_engine``).

A ``LocalCluster``'s nannies spawn fresh interpreters, each importing Dask and loader
again: most of a small load's start on two cores. A fork copies what this process has
already imported. It is safe only while no other Python thread can hold a lock the
child would inherit, so the fork happens first thing, on the main thread, while that
is still so and no native thread of an unknown library runs (``can_fork``); otherwise
the cluster starts as Dask's own does. The native threads that may exist by then
(jemalloc's background thread, OpenBLAS's pool) are reset by those libraries' own fork
handlers.

Each child waits on a pipe for the scheduler's address, runs one single-threaded Dask
worker, and ends when the pipe closes: when the coordinator ends the engine, or dies.
The kernel kills it too when the coordinator dies (``die_with``), so no worker outlives
it, even one still connecting to the scheduler or running a part.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from ..errors import PARTS_KEPT_HINT, EngineError
from ..forking import fork
from ..pool_worker import die_with, leave_signals

START_TIMEOUT = 60.0  # seconds for the workers to reach the scheduler
ENDED_WAIT = 2.0  # seconds from a worker's comms breaking until the worker is seen ended
LOCAL_HOST = "127.0.0.1"  # where a local cluster's scheduler and workers listen: nothing reaches them from outside
# Dask's own warnings of a local cluster are not the user's business: a part's results
# are on disk, so "lost computed tasks" when a worker dies loses nothing, and a worker
# left when its coordinator was killed has nobody to tell
QUIET_LOGS = logging.ERROR
# Every local worker's Dask configuration: no dashboard, so nobody sees the sampling
# profiler; off, it leaves the parts its CPU
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def _not_a_failed_part(record: logging.LogRecord) -> bool:
    """A part that raised is the coordinator's to report, in one line: not a worker's
    "Compute Failed" block with the traceback."""
    return not str(record.msg).startswith("Compute Failed")


def mute_failed_parts() -> None:
    """In a local worker, forked or spawned: a failed part is said once, by the coordinator."""
    logging.getLogger("distributed.worker").addFilter(_not_a_failed_part)


class ForkedWorkers:
    """``count`` processes forked now, each starting a Dask worker once given the
    scheduler's address (``start``), and ending when ``close`` closes their pipe."""

    def __init__(self, count: int) -> None:
        self.pids: list[int] = []
        self._pipes: list[int] = []
        try:
            for i in range(count):
                self._fork(i)
        except BaseException:
            self.close()
            raise

    def _fork(self, index: int) -> None:
        read, write = os.pipe()
        parent = os.getpid()
        pid = fork()
        if pid == 0:  # the child never returns from here
            os.close(write)
            for fd in self._pipes:  # its siblings' pipes, which would keep them open
                os.close(fd)
            _child(read, index, parent)
        os.close(read)
        self.pids.append(pid)
        self._pipes.append(write)

    def start(self, address: str) -> None:
        for pid, fd in zip(self.pids, self._pipes, strict=True):
            try:
                os.write(fd, address.encode() + b"\n")
            except BrokenPipeError:  # it ended before it was given the address
                raise _ended_as_it_started(pid, _how_it_ended(pid, block=True) or "") from None

    def ended(self) -> EndedAsItStarted | None:
        """The error naming the first worker that has ended (reaping it), if one has."""
        for pid in self.pids:
            how = _how_it_ended(pid)
            if how is not None:
                return _ended_as_it_started(pid, how)
        return None

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        """The client's calls to every worker (its setup callback, ``warm``) raise Dask's
        error when one dies (the OOM killer) meanwhile: ``CommClosedError``, or a
        ``KeyError`` of its address. Raised as the engine's error naming the worker once it
        has ended (a moment after its sockets closed); as Dask's, if none has."""
        try:
            yield
        except Exception:
            deadline = time.monotonic() + ENDED_WAIT
            while (ended := self.ended()) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if ended is None:
                raise
            raise ended from None

    def check(self) -> None:
        """Raise ``EngineError`` once every worker has ended (nothing forks new ones)."""
        if self.pids and not any(_running(pid) for pid in self.pids):
            raise EngineError(
                f"every local Dask worker ended (pids {', '.join(map(str, self.pids))})",
                hint=PARTS_KEPT_HINT,
            )

    def close(self, timeout: float = 10.0) -> None:
        """Tell every worker to end (their pipes close), and wait for them; SIGKILL any
        still there after ``timeout`` seconds."""
        pipes, self._pipes = self._pipes, []
        for fd in pipes:
            os.close(fd)
        deadline = time.monotonic() + timeout
        for pid in self.pids:
            while _running(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        self.pids = []


def _how_it_ended(pid: int, block: bool = False) -> str | None:
    """How worker ``pid`` ended (``killed by SIGKILL``, the OOM killer's; ``exit status 1``),
    reaping it; "" once reaped already, None while it runs. ``block``: it is ending."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return ""
    if not done:
        return None
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal has no name
        return f"killed by signal {-code}"


class EndedAsItStarted(EngineError):
    """A forked worker ended before the engine was up: the comms its end broke are what
    Dask logged meanwhile ("broadcast ... failed"), which this error says in one line."""


def _ended_as_it_started(pid: int, how: str) -> EndedAsItStarted:
    return EndedAsItStarted(
        f"local Dask worker {pid} ended as it started" + (f" ({how})" if how else ""), hint=PARTS_KEPT_HINT
    )


def _running(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:  # reaped already
        return False


def _child(read: int, index: int, parent: int) -> None:
    code = 1
    try:
        leave_signals()
        # the pipe is watched only once the worker has reached the scheduler: the kernel ends
        # a worker whose coordinator dies before (connecting to it for ever), or mid-part
        die_with(parent)
        # A Dask worker collects as Dask's own do: the coordinator's pause is not for its
        # event loop, whose garbage it would keep. What it copied is frozen, never walked.
        gc.freeze()
        gc.enable()
        with os.fdopen(read, "rb", buffering=0, closefd=False) as pipe:
            address = pipe.readline().decode().strip()
        if address:
            import asyncio

            asyncio.run(_serve(address, read, index))
        code = 0
    finally:
        os._exit(code)  # nothing of the coordinator's (buffers, atexit) runs twice


async def _serve(address: str, read: int, index: int) -> None:
    import asyncio

    import dask
    from distributed import Worker

    from ..compat import spare_pandas_import

    spare_pandas_import()
    logging.getLogger("distributed").setLevel(QUIET_LOGS)
    mute_failed_parts()
    dask.config.set(WORKER_CONFIG)
    # on the loopback interface only, as the scheduler (``LOCAL_CLUSTER``): Dask's worker protocol
    # is unauthenticated, and without a host a worker listens on every interface
    worker: Any = await Worker(address, host=LOCAL_HOST, nthreads=1, name=f"loader-{index}")
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    loop.add_reader(read, gone.set)  # readable at EOF only: nothing more is written
    waits = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(worker.finished())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)  # the coordinator or the scheduler ended
    loop.remove_reader(read)
    quiet_at_close()
    await worker.close(reason="the coordinator ended the engine")


def quiet_at_close() -> None:
    """Nothing a worker logs once the coordinator ends the engine: closing, it closes its
    connections under a heartbeat or a report still in flight, and Dask logs each as an
    error with its traceback (``distributed.worker``: "Failed to communicate with scheduler
    during heartbeat", ``CommClosedError``), about a connection the load's own end closed.
    The parts' results are committed, or the coordinator reports why not."""
    logging.disable(logging.CRITICAL)


@contextlib.contextmanager
def forked_workers(count: int) -> Iterator[ForkedWorkers]:
    workers = ForkedWorkers(count)
    try:
        yield workers
    finally:
        workers.close()


def wait_for(client: Any, workers: ForkedWorkers, count: int) -> None:
    """Until ``count`` workers reached the scheduler; a worker that died starting says so."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(TimeoutError):
            client.wait_for_workers(count, timeout=0.5)
            return
        ended = workers.ended()
        if ended is not None:
            raise ended
        if time.monotonic() > deadline:
            raise EngineError(f"the local Dask workers did not reach the scheduler in {START_TIMEOUT:.0f} s")
