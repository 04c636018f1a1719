"""Checkpoints: what a job has loaded, stored inside the target itself.

Each source file has an entry keyed by its absolute path, holding its
identity (size, modification time, and a fingerprint of its first and last
64 KiB) and the reader position after the last committed chunk. A job entry
holds the run status, what of the reject file belongs to committed work (its
length, this job's line count, and the file's inode), and which columns had a
recorded type before this load began; a schema entry holds the column types
the job's files are read with. Writers store these as JSON text: SQLite in the
same transaction as the rows they describe, LevelDB in a log beside the data,
right after those rows are written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from . import storage

if TYPE_CHECKING:
    from .rejects import Committed

identity = storage.identity


same_content = storage.same_content
file_key = storage.key


@dataclass
class FileState:
    path: str
    identity: dict[str, Any] | None = None
    position: dict[str, Any] = field(default_factory=dict)
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    rows_ignored: int = 0
    done: bool = False

    def to_json(self) -> str:
        # not asdict(): its deep copies cost 0.1 ms per file at every commit
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, sort_keys=True)


@dataclass
class JobState:
    status: str = "new"  # new | running | complete
    rejects_bytes: int = 0
    rejects_lines: int | None = (
        0  # this job's committed reject lines (None: a checkpoint from before they were counted)
    )
    rejects_inode: int | None = None
    files: dict[str, FileState] = field(default_factory=dict)
    schema: str | None = None  # the column types the job's loads were read with (``loader.schema``)
    fixed: list[str] = field(default_factory=list)  # columns whose type was recorded before this load began

    @classmethod
    def parse(cls, entries: dict[str, str]) -> JobState:
        state = cls()
        job = json.loads(entries.get("job", "{}"))
        state.status = job.get("status", "new")
        state.rejects_bytes = int(job.get("rejects_bytes", 0))
        state.rejects_lines = job.get("rejects_lines", 0 if "job" not in entries else None)
        state.rejects_inode = job.get("rejects_inode")
        state.schema = entries.get("schema")
        state.fixed = list(job.get("fixed", []))
        for key, value in entries.items():
            if key.startswith("file:"):
                state.files[key] = FileState(**json.loads(value))
        return state

    def set_rejects(self, committed: Committed) -> None:
        self.rejects_bytes, self.rejects_lines, self.rejects_inode = committed.size, committed.lines, committed.inode

    def job_entry(self) -> str:
        entry: dict[str, Any] = {
            "status": self.status,
            "rejects_bytes": self.rejects_bytes,
            "rejects_lines": self.rejects_lines,
            "rejects_inode": self.rejects_inode,
        }
        if self.fixed:
            entry["fixed"] = self.fixed
        return json.dumps(entry)
