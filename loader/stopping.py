"""A stop that a signal asked for, for long work deep in a writer (a sorted merge) to check
at its own commit points. Signals are the process's, so this is too: ``Pipeline`` sets it
while it handles SIGTERM and SIGINT and clears it when the run ends."""

from __future__ import annotations

_signum: int | None = None


def request(signum: int | None) -> None:
    global _signum
    _signum = signum


def check() -> None:
    """Raise ``InterruptedLoad`` if a signal asked the load to stop."""
    if _signum is not None:
        from .errors import InterruptedLoad

        raise InterruptedLoad(_signum)
