"""Run logs for machines: one JSON object per line on stderr.

``--log-format text`` (the default) keeps the output made for people: a
progress bar on a terminal, one summary line, ``loader: error:`` lines.
``--log-format json`` (or ``LOADER_RUN__LOG_FORMAT=json``, which the
container image sets) replaces all of that with JSON lines a log collector
can parse. The format is never guessed from the terminal or the
environment, so the same command always logs the same way.

Every line has ``ts`` (ISO-8601 UTC), ``level``, ``event``, then the event's
fields. Events, in order: ``start``; per file ``file`` and ``file_done``;
``progress`` at most once every ``progress_every`` seconds; ``rejects``
(a warning, when rows were rejected); ``finish`` with every field of the run
report; ``error`` with the one-line message, its hint, the exit code and
its class (``fix`` or ``rerun``, see ``errors.exit_class``).
``--quiet`` keeps only ``rejects``, ``finish`` and ``error``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from . import __version__
from .errors import EXIT_LOCKED, LoaderError, exit_class
from .report import RunReport

PROGRESS_EVERY = 10.0
"""Seconds between two ``progress`` lines: enough to see a long load move, few enough to keep logs small."""

# How loud each final status is: a refused overlap or a stop by signal is not a failure of the data.
FINISH_LEVEL = {"ok": "info", "locked": "warning", "interrupted": "warning", "memory_exceeded": "warning"}
CHATTY = frozenset({"start", "file", "progress", "file_done", "part"})


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# The ``finish`` line lists at most this many files, and only while the line stays under
# FINISH_BYTES: one line, under the 16 KiB Docker and the CRI runtimes cut lines at, whatever
# the glob matches and however long its paths and reasons (the report lists every file).
FINISH_FILES = 50
FINISH_BYTES = 12_000


def finish_files(files: list[dict[str, Any]], room: int = FINISH_BYTES) -> tuple[list[dict[str, Any]], int]:
    """The files the ``finish`` line lists (those not skipped as loaded already, the first
    ``FINISH_FILES`` of them that fit in ``room`` bytes of JSON), and how many of the
    report's it leaves out."""
    listed: list[dict[str, Any]] = []
    for entry in (f for f in files if f.get("status") != "skipped"):
        room -= len(_json_line(entry).encode()) + 1  # and its comma
        if len(listed) == FINISH_FILES or room < 0:
            break
        listed.append(entry)
    return listed, len(files) - len(listed)


def _json_line(record: dict[str, Any]) -> str:
    """``record`` as one line of the JSON log."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


class JsonLog:
    """Writes JSON lines; ``on_event`` is the ``Pipeline(on_event=...)`` callback."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        progress_every: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.quiet = quiet
        self.progress_every = progress_every
        self.clock = clock
        self._t0 = clock()
        self._next_progress = self._t0 + progress_every

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if self.quiet and event in CHATTY:
            return
        record = {"ts": utc_now(), "level": level, "event": event, **fields}
        line = _json_line(record)
        stream = self.stream if self.stream is not None else sys.stderr
        # one write per line, so lines from a dying process are never half-merged
        stream.write(line + "\n")
        stream.flush()

    def on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "start":
            self.emit("start", version=__version__, **data)
        elif name == "progress":
            now = self.clock()
            if now < self._next_progress:
                return
            self._next_progress = now + self.progress_every
            elapsed = now - self._t0
            rate = round(data["run_rows_read"] / elapsed, 1) if elapsed > 0 else 0.0
            self.emit("progress", **data, rows_per_s=rate)
        elif name == "finish":
            self.finish(data["report"])
        else:
            self.emit(name, **data)

    def finish(self, report: RunReport) -> None:
        if report.rows_rejected:
            self.emit(
                "rejects",
                "warning",
                rows_rejected=report.rows_rejected,
                rows_read=report.rows_read,
                rejects_path=report.rejects_path,
            )
        fields = report.to_dict() | {"exit_class": exit_class(report.exit_code)}
        files = fields["files"]
        # the room left for the files list once every other field is on the line
        room = FINISH_BYTES - len(_json_line(fields | {"files": [], "files_omitted": len(files)}).encode())
        fields["files"], fields["files_omitted"] = finish_files(files, room)
        self.emit("finish", FINISH_LEVEL.get(report.status, "error"), **fields)

    def error(self, exc: BaseException, exit_code: int, debug: bool = False) -> None:
        """The JSON twin of ``loader: error: <message>`` and ``  hint: <hint>``."""
        fields: dict[str, Any] = {
            "error": type(exc).__name__,
            "exit_code": exit_code,
            "exit_class": exit_class(exit_code),
        }
        if isinstance(exc, LoaderError):
            fields["message"] = str(exc)
            fields["hint"] = exc.hint
            for key in ("stage", "file", "row", "line", "column"):
                if getattr(exc, key) is not None:
                    fields[key] = getattr(exc, key)
        elif isinstance(exc, KeyboardInterrupt):
            fields["message"] = "interrupted"
            fields["hint"] = "run the same command again to resume where it stopped"
        else:
            fields["message"] = f"internal error: {type(exc).__name__}: {exc}"
            fields["hint"] = None if debug else "run again with --debug to see the traceback"
        if debug:
            fields["traceback"] = "".join(traceback.format_exception(exc))
        # a refused overlap (75) or a stop by signal (130/143) is resumed by the next run, not a failure
        self.emit("error", "warning" if exit_code in (EXIT_LOCKED, 130, 143) else "error", **fields)
