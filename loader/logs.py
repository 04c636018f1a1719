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
import re
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


# The ``finish`` line lists at most this many files and parts, and only while the line stays
# under FINISH_BYTES: one line, under the 16 KiB Docker and the CRI runtimes cut lines at,
# whatever the glob matches, however many parts an engine cut the files into and however long
# their paths and reasons (the report lists every file and part).
FINISH_FILES = 50
FINISH_PARTS = 10
FINISH_BYTES = 12_000
# Where the line's other fields alone pass FINISH_BYTES (paths of thousands of characters, a long
# error), each of their texts, and each list of texts (``warnings``), is cut to this many bytes
# of JSON: 9 fields can be long (job, target, table, rejects_path, checkpoint_stale, error,
# log_error, warnings, not_utf8_reads_as), so with the short ones they take under 6 KB.
FINISH_TEXT = 500
# Where the ``error`` line would pass FINISH_BYTES (a hint listing thousands of names, a path of
# thousands of characters), each of its texts but a --debug traceback is cut to this many bytes
# of JSON: its 6 texts (error, message, hint, stage, file, column) then take under 12 KB.
ERROR_TEXT = 1_900

# Half a surrogate pair, as ``os.fsdecode`` holds a name's bytes that are not UTF-8
_SURROGATE = re.compile("[\ud800-\udfff]")


def finish_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``finish`` line's fields: the report's ``fields``, with ``files`` (those not skipped
    as loaded already) and ``parts`` listing the first ``FINISH_FILES`` and ``FINISH_PARTS`` of
    them that fit under ``FINISH_BYTES``, ``files_omitted`` and ``parts_omitted`` counting the
    report's others, and the other texts cut where they alone would pass it."""
    files, parts = fields["files"], fields["parts"]
    # the counts can only shrink once the lists are chosen: measured at their largest
    line = fields | {"files": [], "files_omitted": len(files), "parts": [], "parts_omitted": len(parts)}
    if _size(line) > FINISH_BYTES:
        line = {key: _cut(value) for key, value in line.items()}
    line["files"] = _fitting([f for f in files if f.get("status") != "skipped"], FINISH_FILES, line)
    line["parts"] = _fitting(parts, FINISH_PARTS, line)
    line["files_omitted"] = len(files) - len(line["files"])
    line["parts_omitted"] = len(parts) - len(line["parts"])
    return line


def _fitting(entries: list[Any], most: int, line: dict[str, Any]) -> list[Any]:
    """The first ``most`` of ``entries`` that fit in the room ``line`` leaves under ``FINISH_BYTES``."""
    room = FINISH_BYTES - _size(line)
    listed: list[Any] = []
    for entry in entries:
        room -= _size(entry) + 1  # and its comma
        if len(listed) == most or room < 0:
            break
        listed.append(entry)
    return listed


def _cut(value: Any) -> Any:
    """``value`` in at most ``FINISH_TEXT`` bytes of JSON: a text cut (``...`` at its end), a
    list of texts cut each and kept while they fit; other values (numbers, the sizes) as they are."""
    if isinstance(value, str):
        return _cut_text(value, FINISH_TEXT)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return value
    kept: list[str] = []
    for text in value:  # the first always fits: the brackets are left room for
        entry = _cut_text(text, FINISH_TEXT - 2)
        if _size([*kept, entry]) > FINISH_TEXT:
            break
        kept.append(entry)
    return kept


def _cut_text(text: str, limit: int) -> str:
    """``text``, or its longest start that with ``...`` fits in ``limit`` bytes of JSON."""
    if _size(text) <= limit:
        return text
    short, long = 0, len(text)  # a start of ``short`` characters fits, of ``long`` does not
    while long - short > 1:
        mid = (short + long) // 2
        short, long = (mid, long) if _size(text[:mid] + "...") <= limit else (short, mid)
    return text[:short] + "..."


def _size(value: Any) -> int:
    """Bytes of ``value`` on a JSON line, as the line is written."""
    return len(_json_line(value).encode())


def _json_line(record: Any) -> str:
    """``record`` as one line of the JSON log. A name's bytes that are not UTF-8 (held as
    surrogates) are written as JSON's ``\\udce9``: the line is text any stream writes, and
    ``_size`` measures it as written (it raised, and the ``finish`` line was lost)."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return line if line.isascii() else _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


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
        fields = finish_fields(report.to_dict() | {"exit_class": exit_class(report.exit_code)})
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
        if _size(fields) > FINISH_BYTES:  # one line a container runtime does not cut apart
            fields = {k: _cut_text(v, ERROR_TEXT) if isinstance(v, str) else v for k, v in fields.items()}
        if debug:
            fields["traceback"] = "".join(traceback.format_exception(exc))
        # a refused overlap (75) or a stop by signal (130/143) is resumed by the next run, not a failure
        self.emit("error", "warning" if exit_code in (EXIT_LOCKED, 130, 143) else "error", **fields)
