"""LevelDB's checkpoints: an append-only file of JSON lines beside the data.

Each commit appends one line with only the entries it changed, so a commit
costs the same whether the job has loaded ten files or ten thousand (rewriting
the whole state each time grew with the files: bench/NOTES.md). A line
written whole ends in a newline; a kill mid-append leaves a last line without
one, which is ignored: it belonged to a commit that did not finish, and the
batch it described is replayed (LevelDB puts are idempotent). When the log
has grown to twice its compacted size it is rewritten, one line per job,
atomically, so reading it stays proportional to the state itself.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import BinaryIO

from ..files import replace_file

COMPACT_MIN_BYTES = 1 << 20
COMPACT_PIECE = 1000  # entries written at a time by a compaction


class StateLogError(ValueError):
    """The file is not a checkpoint log (a line in the middle does not parse)."""


def read_state_log(path: str) -> tuple[dict[str, dict[str, str]], bool]:
    """The state the log describes, and whether its last line was torn."""
    jobs, torn, _ = _read_log(path)
    return jobs, torn


def _read_log(path: str) -> tuple[dict[str, dict[str, str]], bool, int]:
    """``read_state_log``, and about how large the log was when last compacted: its first line
    per job (a compaction writes one a job, commits append after them; about: in characters).
    Read a line at a time: a job's checkpoint is held once as text, not the whole log twice."""
    jobs: dict[str, dict[str, str]] = {}
    lengths: list[int] = []
    torn = False
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.endswith("\n"):  # text after the last newline: an append that did not finish
                    torn = True
                    break
                lengths.append(len(line))
                _apply(jobs, line, number)
    except FileNotFoundError:
        return jobs, False, 0
    return jobs, torn, sum(lengths[: len(jobs)])


def _apply(jobs: dict[str, dict[str, str]], line: str, number: int) -> None:
    """The log's line ``number`` applied to ``jobs``."""
    try:
        record = json.loads(line)
        job = record["job"]
        if record.get("clear"):
            jobs.pop(job, None)
            if "set" in record:  # a clear that keeps some entries (``StateLog.clear``)
                jobs[job] = dict(record["set"])
        else:
            jobs.setdefault(job, {}).update(record["set"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StateLogError(f"line {number}: {exc}") from None


class StateLog:
    """Checkpoint entries per job, kept in ``path`` (see the module docstring)."""

    def __init__(self, path: str, *, durable: bool) -> None:
        self.path = path
        self.durable = durable
        # not rewritten before it has doubled since its last compaction, as within a run (else
        # every run's first commit rewrote the whole log, held twice more as text)
        self.jobs, torn, self._compacted = _read_log(path)
        self._size = os.path.getsize(path) if os.path.exists(path) else 0
        self._fh: BinaryIO | None = None  # open while appending: an open() per commit is measurable
        # jobs forgotten in memory whose entries stay on disk until their next write (``clear_later``)
        self._clearing: dict[str, dict[str, str]] = {}
        if torn:
            self.compact()  # drop the torn line before anything is appended after it

    def set(self, job: str, entries: dict[str, str]) -> None:
        self.jobs.setdefault(job, {}).update(entries)
        if self._clearing.pop(job, None) is not None:  # the clear and the first entries after it: one line
            self._append({"job": job, "clear": True, "set": self.jobs[job]})
            return
        self._append({"job": job, "set": entries})

    def clear(self, job: str, keep: tuple[str, ...] = ()) -> None:
        """Forget ``job``'s entries but those named in ``keep``, in one line: a kill cannot
        leave the job cleared without them."""
        entries = self.jobs.pop(job, None)
        if self._clearing.pop(job, None) is None and entries is None:
            return
        entries = entries or {}  # a clear_later's: forgotten in memory, not yet in the file
        kept = {name: entries[name] for name in keep if name in entries}
        if kept:
            self.jobs[job] = kept
        self._append({"job": job, "clear": True, "set": kept} if kept else {"job": job, "clear": True})

    def clear_later(self, job: str, keep: tuple[str, ...] = ()) -> None:
        """``clear`` in memory at once, on disk with the job's next write (``set``, ``clear``,
        ``flush_clear``): a run that stops or is refused before then leaves the file as it was."""
        entries = self.jobs.pop(job, None)
        if entries is None:
            return
        self._clearing.setdefault(job, entries)  # what the file holds of the job still
        kept = {name: entries[name] for name in keep if name in entries}
        if kept:
            self.jobs[job] = kept

    def flush_clear(self, job: str) -> None:
        """A ``clear_later`` of ``job`` written now (before what must not outlive the old entries)."""
        if job in self._clearing:
            kept = self.jobs.get(job, {})
            del self._clearing[job]
            self._append({"job": job, "clear": True, "set": kept} if kept else {"job": job, "clear": True})

    def _append(self, record: dict[str, object]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        if self._fh is None:
            self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed by close() and compact()
        self._fh.write(line)  # unbuffered: one write(2), in the OS before the commit returns
        if self.durable:
            os.fsync(self._fh.fileno())
        self._size += len(line)
        if self._size >= max(COMPACT_MIN_BYTES, 2 * self._compacted):
            self.compact()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def compact(self) -> None:
        self.close()  # the file is replaced: appends go to the new one
        on_disk = self.jobs | self._clearing  # a clear not written yet is not compacted in either
        written = [0]

        def pieces() -> Iterator[bytes]:
            for job, entries in on_disk.items():
                for piece in _job_line(job, entries):
                    written[0] += len(piece)
                    yield piece

        replace_file(self.path, pieces(), durable=self.durable)
        self._compacted = self._size = written[0]


def _job_line(job: str, entries: dict[str, str]) -> Iterator[bytes]:
    """A job's line as ``json.dumps({"job": job, "set": entries})`` writes it (compact), in
    pieces of ``COMPACT_PIECE`` entries: a job's checkpoint (an entry per file it ever loaded)
    is not held again whole as text while it is written."""
    items = iter(entries.items())
    head = '{"job":' + json.dumps(job) + ',"set":{'
    while piece := list(itertools.islice(items, COMPACT_PIECE)):
        yield (head + ",".join(json.dumps(k) + ":" + json.dumps(v) for k, v in piece)).encode("utf-8")
        head = ","  # between pieces
    yield ("" if head == "," else head).encode("utf-8") + b"}}\n"
