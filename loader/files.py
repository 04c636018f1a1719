"""Replacing a small file atomically: the run report, the metrics file, LevelDB's checkpoint."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable


def replace_file(path: str, text: str | Iterable[bytes], *, durable: bool) -> None:
    """Write ``text`` (or byte strings in turn) to a temporary file beside ``path`` and rename it over ``path``.

    A reader sees the old file or the new one, never half of one. The temporary
    name starts with a dot and ends in ``.tmp``, so a collector that reads
    ``*.prom`` or ``*.json`` never picks it up. ``durable`` fsyncs the file
    before the rename and the directory after it, so the new file survives a
    power loss, not only a killed process. A missing directory is created.
    """
    import tempfile  # on first use: a run without a report never needs it, and it slows every start

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(text, str):
                fh.write(text.encode("utf-8"))
            else:
                fh.writelines(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; readers often run as another user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_path(parent)


def fsync_path(path: str) -> None:
    """Flush a file, or a directory's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
