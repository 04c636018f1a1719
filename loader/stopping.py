"""A stop that a signal asked for, for long work deep in a writer (a sorted merge) to check
at its own commit points. Signals are the process's, but a stop request is one run's: the
run that handles them (``Pipeline(handle_signals=True)``) listens in its own context, and
``check()`` raises only there. A load in another thread, or one that handles no signals,
never sees it, and a run that ends leaves every other run's request as it was."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
# How often a wait for a blocking request (``interruptible``) looks for a signal.
WAIT_SLICE_S = 0.05


@dataclass
class Request:
    """One run's stop request: the signal that asked for it, once one did."""

    signum: int | None = None


# the request of the run this code works for; None where that run handles no signals
_current: ContextVar[Request | None] = ContextVar("loader_stop_request", default=None)


@contextlib.contextmanager
def scope(request: Request | None) -> Iterator[None]:
    """``check()`` answers for ``request`` inside (None: nothing stops this run)."""
    token = _current.set(request)
    try:
        yield
    finally:
        _current.reset(token)


def on_main_thread() -> bool:
    """Whether this is the main thread: the only one where Python lets a signal handler be
    set, and runs one."""
    return threading.current_thread() is threading.main_thread()


def asked() -> int | None:
    """The signal that asked this run to stop, if one did."""
    request = _current.get()
    return None if request is None else request.signum


def check() -> None:
    """Raise ``InterruptedLoad`` if a signal asked this run to stop."""
    signum = asked()
    if signum is not None:
        from .errors import InterruptedLoad

        raise InterruptedLoad(signum)


# Runs in this process that handle signals now: pyarrow's own handling is off while any does.
_arrow_off = 0


@contextlib.contextmanager
def arrow_handlers_off() -> Iterator[None]:
    """pyarrow's own SIGINT/SIGTERM handling off (``pyarrow.enable_signal_handlers``) while a
    run handles them: on the main thread it cancels a CSV parse on either (ArrowCancelled),
    and one that lands as the parse ends reaches no handler at all. Back on (pyarrow's
    default) when the last such run ends."""
    import pyarrow as pa

    global _arrow_off
    _arrow_off += 1
    pa.enable_signal_handlers(False)
    try:
        yield
    finally:
        _arrow_off -= 1
        if not _arrow_off:
            pa.enable_signal_handlers(True)


# Signals that came before a run listened: from the command's first line, so a SIGTERM while
# it starts (imports, globs, sampling) stops the run with its report, not the process unsaid.
_early: list[int] = []
_before: dict[int, Any] = {}  # the handlers listen_early replaced
_exit_registered = False  # _ignore_at_exit, registered with atexit once


def _note(signum: int, frame: object) -> None:
    _early.append(signum)


def listen_early() -> None:
    """SIGTERM and SIGINT noted from now on, for the run that will handle them (``take_early``),
    and ignored as the process exits (``_ignore_at_exit``); one the parent set to be ignored
    stays ignored."""
    global _exit_registered
    if not _exit_registered:
        _exit_registered = True
        atexit.register(_ignore_at_exit)
    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            _before[sig] = signal.signal(sig, _note)


def _ignore_at_exit() -> None:
    """The process exits (the command's report written): a signal still noted is ignored from
    here on. Python's finalization, which runs after this, puts back the default action of a
    signal it handled before it tears down threads and modules (tens of ms beside worker
    pools): one landing then killed the process (143) after a report that said exit 0. An
    ignored signal it leaves as it is."""
    for sig in _before:
        if signal.getsignal(sig) is _note:
            signal.signal(sig, signal.SIG_IGN)


def take_early() -> int | None:
    """The first signal noted before the run listened (None if none), forgotten once taken."""
    first = _early[0] if _early else None
    _early.clear()
    return first


def stop_listening_early() -> None:
    """Python's own handlers back, for a command that runs no load; a signal noted meanwhile
    does now what it would have done then."""
    for sig, before in _before.items():
        if signal.getsignal(sig) is _note:
            signal.signal(sig, _as_default if before is signal.SIG_DFL and os.getpid() == 1 else before)
    first = take_early()
    if first is not None:
        signal.raise_signal(first)


def _as_default(signum: int, frame: object) -> None:
    """The default action of SIGTERM (SIGINT), for PID 1 (a container's command without an
    init): the kernel never delivers a default-action signal to a PID namespace's init, so
    ``SIG_DFL`` there ignored the signal for the whole command. It ends it as the action
    would elsewhere: at once, with 128 + N (143, 130)."""
    os._exit(128 + signum)


# Requests a signal stopped the wait for (``interruptible``), which may still be in flight.
_abandoned: list[threading.Thread] = []


def abandoned() -> bool:
    """Whether a request the command stopped waiting for is still in flight: the process
    would wait for it as it exits (pyarrow's S3 client finishes its requests first), for
    as long as the endpoint's timeouts and retries take."""
    return any(worker.is_alive() for worker in _abandoned)


def interruptible(call: Callable[[], T]) -> T:
    """``call()``, a request pyarrow makes in C++ (an object store's listing or HEAD), where
    no Python signal handler runs until it returns: a hung endpoint would hold off SIGTERM
    for its whole timeout. On the main thread it runs in a daemon thread, waited for in
    short slices: a signal that asked the run to stop (or one noted while the command
    starts) stops a request still waiting at once, as ``InterruptedLoad`` (143, with the
    run's report and its committed work kept). Elsewhere, where no handler runs anyway, it
    is called as it is."""
    if not on_main_thread():
        return call()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="loader-storage-request", daemon=True)
    worker.start()
    try:
        while True:
            worker.join(WAIT_SLICE_S)
            if not worker.is_alive():
                break
            _stop_if_asked()
    except BaseException:
        _abandoned.append(worker)  # still in C++: see ``abandoned``
        raise
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]  # the call's own T


def _stop_if_asked() -> None:
    """Raise ``InterruptedLoad`` for a signal noted before the run listened (``listen_early``)
    or one that asked this run to stop (``check``)."""
    first = take_early()
    if first is not None:
        from .errors import InterruptedLoad

        raise InterruptedLoad(first)
    check()


def wait_while_busy(attempt: Callable[[], T], busy: Callable[[Exception], bool], deadline: float) -> T:
    """``attempt()``, tried again while it fails as ``busy`` says (another program holds
    what it needs) until ``deadline`` (``time.monotonic()``). Each try waits a short slice
    itself (SQLite's busy handler set to one): between them a stop this run was asked for
    (``check``) ends the wait as ``InterruptedLoad``, where one wait in C would hold it off
    for the whole timeout."""
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not busy(exc) or time.monotonic() >= deadline:
                raise
        check()
