"""The reject file: one JSON object per line, for every row that did not load.

Each line names the source file, the row (1-based, header excluded), the
line where known, the stage and column, the reason, and the raw text or
values. Lines are flushed and fsynced before the batch they belong to
commits; a resumed run first truncates the file to the length recorded in
the checkpoint, so no reject is written twice and none goes missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO, Any

from .chunk import Reject
from .errors import RESUME_HINT, ConfigError, SinkError


def _write_error(path: str, exc: OSError) -> SinkError:
    return SinkError(
        f"cannot write the reject file: {exc.strerror or exc}",
        file=path,
        hint=RESUME_HINT,
    )


def default_rejects_path(target: str) -> str:
    return target.rstrip("/\\") + ".rejects.jsonl"


class RejectFile:
    """Appends rejects; opened lazily so a clean run leaves no empty file."""

    def __init__(self, path: str) -> None:
        if os.path.isdir(path):
            raise ConfigError(f"run.rejects: {path} is a directory, expected a file path")
        self.path = path
        self._fh: IO[bytes] | None = None
        self.count = 0
        self.size = 0

    def start(self, keep_bytes: int) -> None:
        """Keep the first ``keep_bytes`` (committed rejects of a resumed run), drop the rest."""
        self.size = 0
        if os.path.exists(self.path):
            current = os.path.getsize(self.path)
            if current > keep_bytes:
                try:
                    with open(self.path, "r+b") as fh:
                        fh.truncate(keep_bytes)
                except OSError as exc:
                    raise _write_error(self.path, exc) from None
            self.size = min(current, keep_bytes)

    def write(self, rejects: Iterable[Reject]) -> None:
        try:
            for r in rejects:
                if self._fh is None:
                    parent = os.path.dirname(os.path.abspath(self.path))
                    os.makedirs(parent, exist_ok=True)
                    self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
                data = (r.to_json() + "\n").encode("utf-8")
                self._fh.write(data)
                self.size += len(data)
                self.count += 1
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def sync(self) -> int:
        """Make written rejects durable; returns the committed length."""
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise _write_error(self.path, exc) from None
        return self.size

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError:
                pass  # unsynced lines belong to an uncommitted batch; the next run truncates them

    def __enter__(self) -> RejectFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
