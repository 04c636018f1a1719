"""A one-line progress display on stderr: percent of bytes, rows, speeds, ETA, memory.

Bytes are those of the input files as stored (for a compressed file, the
compressed bytes read), against the size of the files this run has to load,
so the percentage and the ETA hold for ``.gz`` inputs and for a glob whose
earlier files were loaded before. The line is fitted to the terminal's width
at each redraw: fields are dropped least important first, and the bar is
drawn only when it can be wide enough to read.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .memory import current_rss_mb

REDRAW_EVERY = 0.5
"""Seconds between two redraws: lively enough for a person, cheap for the loop."""

MIN_BAR = 10  # a narrower bar says nothing the percentage does not
MAX_BAR = 30
MB = 1 << 20

# Fields by importance, most important first; the narrowest terminal keeps the first.
ORDER = ("percent", "rows", "eta", "rss", "mb_s", "rows_s", "bytes")
DISPLAY = ("percent", "bytes", "rows", "mb_s", "rows_s", "eta", "rss")  # left to right


def writable(stream: TextIO | None) -> TextIO | None:
    """``stream`` if it can be written to: a host may set ``sys.stderr`` to None (a service,
    ``pythonw``) or close it, and then nothing is drawn rather than the load failing."""
    return None if stream is None or getattr(stream, "closed", False) else stream


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is an open terminal (None or closed: not one)."""
    out = writable(stream)
    try:
        return out is not None and out.isatty()
    except (OSError, ValueError, AttributeError):  # closed meanwhile, or no isatty of its own
        return False


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GB"


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def fields(done: int, total: int | None, rows: int, elapsed: float, rss_mb: float) -> dict[str, str]:
    """The texts the line is made of; the ones that mean nothing yet (a rate at 0 s,
    a percentage of an unknown total) are left out."""
    out: dict[str, str] = {}
    if total:
        out["percent"] = f"{min(100.0, 100.0 * done / total):3.0f}%"
        out["bytes"] = f"{_size(min(done, total))}/{_size(total)}"
    else:
        out["bytes"] = _size(done)
    out["rows"] = f"{rows:,} rows"
    if elapsed > 0 and done:
        out["mb_s"] = f"{done / MB / elapsed:.1f} MB/s"
        out["rows_s"] = f"{rows / elapsed:,.0f} rows/s"
        if total:
            out["eta"] = "ETA " + _duration(max(total - done, 0) * elapsed / done)
    if rss_mb:
        out["rss"] = f"RSS {rss_mb:,.0f} MB"
    return out


def layout(parts: dict[str, str], width: int) -> str:
    """One line of at most ``width - 1`` characters (the last column would wrap on some
    terminals): the most important fields that fit, a bar when ten or more columns are left."""
    room = max(width - 1, 1)
    keep = [k for k in ORDER if k in parts]
    while len(keep) > 1 and len(_join(parts, keep)) > room:
        keep.pop()
    text = _join(parts, keep)[:room]
    bar = min(room - len(text) - 3, MAX_BAR)  # "[", "]" and a space
    if "percent" in parts and bar >= MIN_BAR:
        fill = round(bar * float(parts["percent"].rstrip("%")) / 100)
        text = f"[{'#' * fill}{'.' * (bar - fill)}] {text}"
    return text


def _join(parts: dict[str, str], keep: list[str]) -> str:
    return "  ".join(parts[k] for k in DISPLAY if k in keep)


class Progress:
    """Redraws at most every ``REDRAW_EVERY`` seconds; ``enabled`` False makes it a no-op.
    Whether to show it (a terminal, ``--progress``) is the caller's decision."""

    def __init__(
        self,
        total_bytes: int | None,
        *,
        enabled: bool,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.enabled = enabled
        self.total = total_bytes or None
        self.done = 0
        self.rows = 0
        self.stream = stream
        self.clock = clock
        self.width = width or (lambda: shutil.get_terminal_size((80, 24)).columns)
        self.t0 = clock()
        self._next = self.t0  # the first chunk draws at once
        self._drawn = False

    def update(self, nbytes: int, rows: int) -> None:
        self.done += nbytes
        self.rows += rows
        if self.enabled and self.clock() >= self._next:
            self.draw()

    def line(self) -> str:
        now = self.clock()
        parts = fields(self.done, self.total, self.rows, now - self.t0, current_rss_mb())
        return layout(parts, self.width())

    def draw(self) -> None:
        self._next = self.clock() + REDRAW_EVERY
        self._write("\r" + self.line() + "\x1b[K")  # clear what a longer line left
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.draw()  # the last state, then leave the line for what follows
            self._write("\n")
        self.enabled = False

    def _write(self, text: str) -> None:
        """A display that stderr cannot take (a full disk, a closed pipe, none at all) stops;
        the load goes on."""
        out = writable(self.stream if self.stream is not None else sys.stderr)
        try:
            if out is None:
                raise OSError("no stream to draw on")
            out.write(text)
            out.flush()
        except (OSError, ValueError):  # ValueError: closed meanwhile
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: Any) -> None:
        if exc_type is None and self.total:
            # every file of the run was read to its end; what readers do not count
            # as read (a header, a gzip trailer) is read too
            self.done = max(self.done, self.total)
        self.close()
