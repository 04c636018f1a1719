"""An advisory lock so two runs never write the same target at once.

A cron schedule that overlaps itself is the common case: the second run
waits up to ``run.lock_wait`` seconds, then exits with code 75. The lock is
``flock`` on a sibling file ``<target>.lock`` of the resolved target (a
symlink to the target shares its lock); the kernel releases it when
the process dies, so a killed run never leaves a stale lock behind.

A run that ends removes the file while it still holds the lock. A run that
was waiting on it then holds a lock on a removed file, so after locking it
checks that the path still names the file it locked, and starts over if not:
two runs never hold locks on two different files of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import weakref
from typing import IO, Any

from . import stopping
from .errors import InterruptedLoad, SinkError, TargetLockedError
from .files import make_parent
from .paths import lock_path

_held: weakref.WeakSet[IO[Any]] = weakref.WeakSet()


def acquire(fh: IO[Any], wait: float) -> bool:
    """``flock`` ``fh`` exclusively, retrying for up to ``wait`` seconds; False if still held."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            _held.add(fh)
            return True
        except BlockingIOError:
            stopping.check()  # SIGTERM while waiting: stop as a run would, not die where it waits
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.5, max(0.01, deadline - time.monotonic())))


def _let_go_in_child() -> None:
    """A forked child (a local Dask worker) shares the open files this process locked, and
    ``flock`` lasts while any process holds one: it would keep a killed run's lock. The
    child's descriptors are pointed at /dev/null instead (closing them could let its
    copies of the files' buffers write there, unlocking would free the parent's lock)."""
    if not _held:
        return
    null = os.open(os.devnull, os.O_RDWR)
    for fh in list(_held):
        with contextlib.suppress(OSError, ValueError):  # ValueError: closed already
            os.dup2(null, fh.fileno())
    os.close(null)


os.register_at_fork(after_in_child=_let_go_in_child)


class TargetLock:
    def __init__(self, target: str, wait: float = 0.0) -> None:
        self.target = target
        self.path = lock_path(target)
        self.wait = wait
        self._fh: IO[str] | None = None

    def __enter__(self) -> TargetLock:
        try:
            fh = self._acquire()
        except (TargetLockedError, InterruptedLoad) as exc:  # refused, or stopped as it waited
            exc.lock_refused = True
            raise
        try:  # the pid is for people; a full disk must not stop the run here
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except OSError:
            pass
        self._fh = fh
        return self

    def _acquire(self) -> IO[str]:
        """The lock file, locked (waiting up to ``wait`` seconds for another run's)."""
        deadline = time.monotonic() + self.wait
        while True:
            fh = self._open()
            try:
                got = acquire(fh, max(0.0, deadline - time.monotonic()))
            except BaseException:  # stopped as it waited
                fh.close()
                raise
            if not got:
                fh.close()
                raise TargetLockedError("another loader run is writing this target", file=self.target)
            if self._still_named(fh):
                return fh
            fh.close()  # the run before removed it as it ended: lock the file the path names now

    def _open(self) -> IO[str]:
        try:
            make_parent(self.path)
            return open(self.path, "a+")  # held until __exit__
        except OSError as exc:
            raise SinkError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None

    def _still_named(self, fh: IO[str]) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                os.unlink(self.path)  # still holding the lock: no target is left with a stray file
            except OSError:
                pass  # a read-only directory: the file stays, and the next run locks it as before
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
            except OSError:
                pass  # the kernel drops the lock with the descriptor anyway
