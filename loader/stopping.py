"""A stop that a signal asked for, for long work deep in a writer (a sorted merge) to check
at its own commit points. Signals are the process's, but a stop request is one run's: the
run that handles them (``Pipeline(handle_signals=True)``) listens in its own context, and
``check()`` raises only there. A load in another thread, or one that handles no signals,
never sees it, and a run that ends leaves every other run's request as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


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


def check() -> None:
    """Raise ``InterruptedLoad`` if a signal asked this run to stop."""
    request = _current.get()
    if request is not None and request.signum is not None:
        from .errors import InterruptedLoad

        raise InterruptedLoad(request.signum)
