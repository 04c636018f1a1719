"""Replacing a small file atomically (the run report, the metrics file, LevelDB's checkpoint),
removing a target a failed run created, and fsyncs: of a path, and early ones of a file
while it is written (``EarlyFsync``)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

# A file name holds at most 255 bytes (NAME_MAX, every common file system).
NAME_MAX = 255


def make_parent(path: str) -> str:
    """The directory ``path`` goes in, made if missing. A file in its way is the OS's
    ``Not a directory``, as opening ``path`` would say (``makedirs`` says ``File exists``)."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except FileExistsError:  # exist_ok takes a directory only
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), parent) from None
    return parent


def replace_file(path: str, text: str | Iterable[bytes], *, durable: bool) -> None:
    """Write ``text`` (or byte strings in turn) to a temporary file beside ``path`` and rename it over ``path``.

    A reader sees the old file or the new one, never half of one. A symlink stays: the file
    it reaches is replaced, in that file's directory. The temporary
    name starts with a dot and ends in ``.tmp``, so a collector that reads
    ``*.prom`` or ``*.json`` never picks it up. ``durable`` fsyncs the file
    before the rename and the directory after it, so the new file survives a
    power loss, not only a killed process. A missing directory is created.
    """
    import tempfile  # on first use: a run without a report never needs it, and it slows every start

    if os.path.islink(path):  # the file the link reaches is the one replaced: a collector reading it sees each
        path = os.path.realpath(path)
    parent = make_parent(path)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(fh, text, durable=durable)
        os.chmod(tmp, mode_for(path))  # mkstemp makes it 0600; readers often run as another user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_path(parent)


def write_durably(path: str, lines: Iterable[bytes], *, like: str) -> None:
    """``lines`` written to ``path`` anew with ``like``'s mode (``mode_for``), the file and its
    directory fsynced: on disk before whatever names it commits."""
    with open(path, "wb") as fh:
        _write(fh, lines, durable=True)
    os.chmod(path, mode_for(like))
    fsync_path(os.path.dirname(path) or ".")


def _write(fh: IO[bytes], text: str | Iterable[bytes], *, durable: bool) -> None:
    """``text`` (or byte strings in turn) into ``fh``; ``durable``: fsynced."""
    if isinstance(text, str):
        fh.write(text.encode("utf-8"))
    else:
        fh.writelines(text)
    if durable:
        fh.flush()
        os.fsync(fh.fileno())


def mode_for(path: str) -> int:
    """The mode a rewritten ``path`` keeps: the old file's, else what ``open`` gives a new file
    under the process's umask (a report or checkpoint follows the user's choice either way)."""
    import stat

    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # /proc says it without setting it: os.umask() sets it, and another thread may create a file meanwhile
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporaries(path: str) -> list[str]:
    """The temporary files ``replace_file`` left beside ``path``: a process killed while it
    wrote one leaves it under its ``.<name>.<random>.tmp`` name."""
    import glob

    parent, name = os.path.split(os.path.abspath(path))
    return glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*.tmp"))


def remove_quietly(paths: Iterable[str]) -> None:
    """Files removed where they can be: one that cannot (gone already, not ours) is left, as
    the error being handled, or the work that follows, is the one to tell."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.remove(path)


def remove_target(path: str, side_files: tuple[str, ...] = ()) -> None:
    """A target file or directory and the files its database wrote beside it, gone."""
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    for name in (path, *(path + suffix for suffix in side_files)):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.remove(name)


def fsync_path(path: str) -> None:
    """Flush a file, or a directory's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EarlyFsync:
    """fsyncs of a file while it is written, each started on a thread of its own when
    ``start`` is called and none is running: its bytes reach the disk as it grows, so the
    fsync that makes it whole waits for little. Each one's error is raised (at the next
    ``start``, or by ``close``): Linux reports a failed writeback once, and that last
    fsync might not see it again."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None

    def start(self) -> None:
        if self._running is not None:
            if not self._running.done():
                return
            done, self._running = self._running, None
            done.result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="loader-early-fsync")
        self._running = self._pool.submit(fsync_path, self.path)

    def close(self) -> None:
        """Wait for the one running; its error is raised."""
        running, self._running = self._running, None
        try:
            if running is not None:
                running.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __enter__(self) -> EarlyFsync:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            self.close()
            return
        with contextlib.suppress(OSError):  # the error being raised is the news
            self.close()
