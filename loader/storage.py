"""Where input files live: the one place that opens, sizes, lists and identifies them.

Readers, the planner and checkpoints go through these functions and never call ``open``
or ``os.stat`` on an input themselves, so a new location (object storage) is added here
once. ``-`` is standard input everywhere.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import os
from typing import IO, Any

import pyarrow as pa

from .errors import SourceError

STDIN = "-"
FINGERPRINT_BYTES = 64 << 10


def check_file(path: str, glob_hint: str = "dir/*.csv") -> None:
    """A one-line error for an input that is a directory (the user meant a glob)."""
    if path != STDIN and os.path.isdir(path):
        raise SourceError("is a directory, not a file", file=path, hint=f"use a glob such as {glob_hint}")


def size(path: str) -> int | None:
    """The input's size in bytes; None for standard input or an input that cannot be stat'ed."""
    if path == STDIN:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def exists(path: str) -> bool:
    return path == STDIN or os.path.exists(path)


def glob(pattern: str) -> list[str]:
    """The files a glob matches (``**`` recurses), sorted."""
    return sorted(p for p in _glob.glob(pattern, recursive=True) if os.path.isfile(p))


def open_input(path: str) -> IO[bytes]:
    """The input's bytes as a seekable binary file; the caller closes it."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SourceError.from_os(exc, path, "open") from None


def open_arrow(path: str, compression: str | None = None) -> pa.NativeFile:
    """The input as an Arrow file (``compression``: decompressed on the fly, not seekable)."""
    try:
        if compression is not None:
            return pa.input_stream(path, compression=compression)
        return pa.OSFile(path)
    except OSError as exc:
        raise SourceError.from_os(exc, path, "open") from None


def identity(path: str) -> dict[str, Any] | None:
    """Size, mtime and a content fingerprint (head and tail); None for standard input."""
    if path == STDIN:
        return None
    check_file(path)  # an input that vanished or is a directory is the user's error, in one line
    h = hashlib.sha256()
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            h.update(fh.read(FINGERPRINT_BYTES))
            if st.st_size > FINGERPRINT_BYTES:
                fh.seek(max(FINGERPRINT_BYTES, st.st_size - FINGERPRINT_BYTES))
                h.update(fh.read(FINGERPRINT_BYTES))
    except OSError as exc:
        raise SourceError.from_os(exc, path, "read") from None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_head_tail": h.hexdigest()}


def key(path: str) -> str:
    """The checkpoint's name for an input: its absolute path."""
    return "file:" + (path if path == STDIN else os.path.abspath(path))
