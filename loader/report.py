"""The run report: counts, timing and peak memory, as JSON and as one summary line."""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .files import replace_file


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (from the OS).

    Linux's VmHWM comes first: ``ru_maxrss`` survives exec, so a loader started
    by a large parent (a scheduler, a test runner) would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


@dataclass
class FileReport:
    path: str
    status: str = (
        "loaded"  # loaded | resumed | skipped | changed-skipped | changed | incomplete (the run stopped in it)
    )
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    dialect: dict[str, Any] | None = None  # a CSV file's delimiter, quote and header, and which were detected
    rows_ignored: int = 0
    rows_kept: int | None = None  # changed-skipped: rows an earlier run committed from it, left in place


@dataclass
class RunReport:
    status: str = "running"  # ok | memory_exceeded | failed | interrupted | rejects_exceeded | locked | planned
    job: str = ""
    sink: str = ""
    target: str = ""
    table: str | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    # mode ignore: rows whose key was already there; rows_read = written + rejected + filtered + ignored
    rows_ignored: int = 0
    files: list[FileReport] = field(default_factory=list)
    files_loaded: int = 0
    files_skipped: int = 0  # already loaded
    files_changed: int = 0  # changed since loaded, skipped by on_change = "skip"
    resumed: bool = False
    rejects_path: str | None = None
    started_at: str = ""
    finished_at: str = ""
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    peak_rss_mb: float = 0.0
    max_memory_mb: float | None = None  # run.max_memory, when set
    memory_exceeded: bool = False  # a peak went past run.max_memory (status memory_exceeded when the load succeeded)
    # the highest peak of a local worker or of a merge process (each held to the ceiling)
    worker_peak_rss_mb: float | None = None
    chunk_size: int = 0  # the sizes the run used (after fitting them under max_memory)
    batch_size: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # the other sizes memory depends on (CSV block, LevelDB's)
    workers: int = 1  # threads that parsed CSV blocks (engines: parts run at once)
    engine: str = "threads"
    worker_start: str | None = None  # engines: "forked" or "spawned" local workers, "remote" a cluster's
    parts: list[dict[str, Any]] = field(default_factory=list)  # engines: each part's counts, worker and seconds
    parts_seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0
    _t0: float = field(default=0.0, repr=False)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.started_at = _now()

    def finish(self, status: str) -> None:
        self.status = status
        self.finished_at = _now()
        self.elapsed_s = round(time.perf_counter() - self._t0, 3)
        self.rows_per_s = round(self.rows_read / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0
        self.peak_rss_mb = peak_rss_mb()
        self.memory_exceeded = self.max_memory_mb is not None and self._highest_peak()[0] > self.max_memory_mb
        if self.memory_exceeded and status == "ok":
            self.status = "memory_exceeded"  # everything loaded, but not within the ceiling

    def add_worker_peak(self, mb: float | None) -> None:
        """Another process of the load peaked at ``mb`` (None: there was none)."""
        if mb is not None:
            self.worker_peak_rss_mb = max(self.worker_peak_rss_mb or 0.0, mb)

    def _highest_peak(self) -> tuple[float, str]:
        """The highest peak of the load's processes, and which it was."""
        if self.worker_peak_rss_mb is not None and self.worker_peak_rss_mb > self.peak_rss_mb:
            return self.worker_peak_rss_mb, " (a worker's)"
        return self.peak_rss_mb, ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_t0")
        return data

    def write(self, path: str) -> None:
        replace_file(path, json.dumps(self.to_dict(), indent=2) + "\n", durable=False)

    def summary(self) -> str:
        where = f"{self.target} (table {self.table})" if self.table else self.target
        files = f"{self.files_loaded} file{'s' if self.files_loaded != 1 else ''}"
        if self.files_skipped:
            files += f", {self.files_skipped} already loaded"
        if self.files_changed:
            kept = sum(f.rows_kept or 0 for f in self.files if f.status == "changed-skipped")
            files += f", {self.files_changed} changed since loaded and skipped ({kept:,} committed rows kept)"
        line = (
            f"{self.status}: {self.rows_written:,} rows written to {where} from {files} "
            f"in {self.elapsed_s:.1f}s ({self.rows_per_s:,.0f} rows/s, peak {self.peak_rss_mb:.0f} MB)"
        )
        if self.rows_filtered:
            line += f"; {self.rows_filtered:,} filtered out"
        if self.rows_ignored:
            line += f"; {self.rows_ignored:,} ignored (key already there)"
        if self.rows_rejected:
            line += f"; WARNING {self.rows_rejected:,} rows rejected, see {self.rejects_path}"
        if self.memory_exceeded:
            peak, whose = self._highest_peak()
            line += f"; WARNING peak memory {peak:.0f} MB{whose} went past --max-memory {self.max_memory_mb:g} MB"
        return line


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
