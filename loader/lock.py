"""An advisory lock so two runs never write the same target at once.

A cron schedule that overlaps itself is the common case: the second run
waits up to ``run.lock_wait`` seconds, then exits with code 75. The lock is
``flock`` on a sibling file ``<target>.lock`` of the resolved target (a
symlink to the target shares its lock); the kernel releases it when
the process dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import IO, Any

from .errors import SinkError, TargetLockedError
from .paths import lock_path


def acquire(fh: IO[Any], wait: float) -> bool:
    """``flock`` ``fh`` exclusively, retrying for up to ``wait`` seconds; False if still held."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.5, max(0.01, deadline - time.monotonic())))


class TargetLock:
    def __init__(self, target: str, wait: float = 0.0) -> None:
        self.target = target
        self.path = lock_path(target)
        self.wait = wait
        self._fh: IO[str] | None = None

    def __enter__(self) -> TargetLock:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            fh = open(self.path, "a+")  # held until __exit__
        except OSError as exc:
            raise SinkError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        if not acquire(fh, self.wait):
            fh.close()
            raise TargetLockedError("another loader run is writing this target", file=self.target)
        try:  # the pid is for people; a full disk must not stop the run here
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except OSError:
            pass
        self._fh = fh
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
            except OSError:
                pass  # the kernel drops the lock with the descriptor anyway
