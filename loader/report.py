"""The run report: counts, timing and peak memory, as JSON and as one summary line."""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, is_dataclass
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


def reset_peak_rss() -> bool:
    """Start this process's peak anew from its resident memory now (Linux: "5" written to
    ``/proc/self/clear_refs`` resets VmHWM). False where that is not possible (another OS,
    a kernel or sandbox that refuses the write): the peak then counts from the process's start."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


class _Runs:
    """Runs under way in this process: only the first resets the peak, so a load that
    starts while another is running does not hide the first one's peak so far."""

    lock = threading.Lock()
    running = 0
    reset = False  # whether the peak was reset when the first of them started


@dataclass
class FileReport:
    """One input file of a run, in ``RunReport.files``."""

    path: str
    """The file, as the job names it."""
    status: str = "loaded"
    """``loaded``, ``resumed`` (an earlier run loaded part of it), ``skipped`` (loaded before),
    ``changed-skipped`` (changed since loaded; ``run.on_change = "skip"``), ``changed`` (the
    run stopped on it), ``other-options`` (half loaded by an earlier run with other source
    options than this run's: the run stopped on it, exit 65; ``reason`` names them), ``incomplete`` (the run stopped in it, or before its rows were committed: LevelDB's
    sorted ingest commits rows with the sorted run that holds them), ``unreadable`` (an object
    whose key pyarrow cannot open: the run loads the other files, then stops with exit 66; or
    an input missing, not a file, or that cannot be opened: every input is checked before
    the first loads, so the run stops with none loaded; or a file another program moved
    or deleted after the run listed its inputs: the run stops with exit 75, on ``threads``
    once the others are loaded; ``reason`` says why) or
    ``gone`` (half loaded by an earlier run and not among the inputs any more: deleted,
    moved, or left out of the glob; its committed rows stay) or ``too-new`` (changed less than
    ``source.min_age`` ago: left for a later run, not read; ``reason`` says when) or ``empty``
    (a CSV or JSON Lines file of 0 bytes: no header, no rows, so none loaded from it; the
    other files load, and where every input is one, the run stops on the first, exit 65)."""
    rows_read: int = 0
    """Rows read from it by this run."""
    rows_written: int = 0
    """Rows of it this run wrote to the target."""
    rows_rejected: int = 0
    """Rows of it sent to the reject file."""
    rows_filtered: int = 0
    """Rows of it dropped by filter stages."""
    dialect: dict[str, Any] | None = None
    """A CSV file's delimiter, quote and header, and which of them were detected."""
    rows_ignored: int = 0
    """Rows of it skipped by ``mode = "ignore"`` because their key was already there, or
    dropped by the SQLite table itself (``ON CONFLICT IGNORE``, a trigger's ``RAISE(IGNORE)``)."""
    rows_kept: int | None = None
    """``changed-skipped``, ``other-options`` and ``gone``: the rows an earlier run committed from it, left in place."""
    reason: str | None = None
    """``skipped``: the source options it was loaded with that this run gives otherwise
    (``loaded with other source options: escape_mode 'literal', now 'c'``), else none;
    ``other-options``: those options; ``unreadable``: why it cannot be read (``permission denied``, ``no such file``,
    ``is a directory, not a file``); ``too-new``: when it changed (``modified 3s ago, under
    source.min_age = 60s``)."""


@dataclass
class RunReport:
    """What a run did: returned by ``Pipeline.run()`` and ``load()``, attached to a failed
    run's error as ``error.report``, and written as JSON to ``run.report``. The counts say
    what is committed: after a failure, rows of the batch rolled back are not in them."""

    status: str = "running"
    """How the run ended: ``ok``, ``memory_exceeded`` (everything loaded, but the peak went
    past ``run.max_memory``), ``failed``, ``interrupted`` (a signal, Ctrl-C),
    ``rejects_exceeded``, ``nothing_loaded``, ``locked`` (another run holds the target)."""
    job: str = ""
    """The job's name (``run.job``, or one made from the table or key template)."""
    sink: str = ""
    """``sqlite`` or ``leveldb``."""
    target: str = ""
    """The database's path."""
    table: str | None = None
    """SQLite: the table loaded."""
    rows_read: int = 0
    """Rows read from the input; ``rows_read = rows_written + rows_rejected + rows_filtered + rows_ignored``."""
    rows_written: int = 0
    """Rows written to the target."""
    rows_rejected: int = 0
    """Rows sent to the reject file (``rejects_path``) with their reasons."""
    rows_filtered: int = 0
    """Rows dropped by filter stages."""
    rows_ignored: int = 0
    """``mode = "ignore"``: rows skipped because their key was already there; also rows a
    SQLite table drops by itself (``ON CONFLICT IGNORE``, a trigger's ``RAISE(IGNORE)``)."""
    files: list[FileReport] = field(default_factory=list)
    """Each input file: its status and counts (``FileReport``)."""
    files_loaded: int = 0
    """Files loaded, or resumed, by this run."""
    files_skipped: int = 0
    """Files skipped because an earlier run loaded them."""
    files_changed: int = 0
    """Files changed since they were loaded (skipped with ``run.on_change = "skip"``)."""
    files_gone: int = 0
    """Files an earlier run half loaded that are not among the inputs any more (status ``gone``)."""
    files_too_new: int = 0
    """Files changed less than ``source.min_age`` ago, left for a later run (status ``too-new``)."""
    files_empty: int = 0
    """CSV and JSON Lines files of 0 bytes (status ``empty``): no header, no rows; the other files load."""
    resumed: bool = False
    """Whether the run went on from an earlier run's checkpoint."""
    checkpoint_stale: str | None = None
    """Why an earlier run's checkpoint was left behind: it told of rows the target no longer
    held (a SQLite table dropped, a LevelDB store deleted since), so the run started over and
    loaded every file, as ``--restart`` does. The summary line warns of it."""
    rejects_path: str | None = None
    """The reject file."""
    rows_not_utf8: int = 0
    """Of ``rows_rejected``, CSV rows rejected as ``invalid UTF-8 in ...``: read as UTF-8
    (the default ``source.encoding``), they hold bytes that are not."""
    not_utf8_reads_as: list[str] = field(default_factory=list)
    """The encoding the text of those rows reads as (``["cp1252"]``), told as a file's that
    none of whose rows loaded is (docs/reliability.md): several where it reads about as well in
    each, none where in no one plainly. Those rows load with a replay of the reject file given
    ``--encoding`` (``source.encoding``) of it; the summary line says so."""
    started_at: str = ""
    """When the run started (ISO-8601, UTC)."""
    finished_at: str = ""
    """When the run ended (ISO-8601, UTC)."""
    elapsed_s: float = 0.0
    """Seconds from start to end."""
    rows_per_s: float = 0.0
    """``rows_read`` per second."""
    peak_rss_mb: float = 0.0
    """Peak resident memory of this process during the run, in MB: the whole process's, a
    library host's memory held through the load included. On Linux the peak is
    reset as the run starts, so a library host's earlier peak (or an earlier load's) is
    not counted, nor kept (``ru_maxrss`` is lowered too: docs/api.md); where it cannot be (other systems), it is the process's peak since it
    started, and only a peak that rose during the run counts as past ``max_memory_mb``."""
    max_memory_mb: float | None = None
    """``run.max_memory`` in MB, when set."""
    memory_exceeded: bool = False
    """A peak (this process's or a worker's) went past ``run.max_memory``."""
    worker_peak_rss_mb: float | None = None
    """The highest peak of a local worker or a merge process, in MB (each held to the ceiling)."""
    cluster_peak_rss_mb: float | None = None
    """The highest peak a cluster's own Dask worker (``run.scheduler``) reported with a part, in
    MB: the worker process's over its whole life, other loads' work included. ``run.max_memory``
    does not bound those workers (``dask worker --memory-limit`` does), but one whose peak went
    past it makes the status ``memory_exceeded``."""
    chunk_size: int = 0
    """Rows per chunk the run used (after fitting the sizes to the input's row width and
    under ``run.max_memory``)."""
    batch_size: int = 0
    """Rows per commit the run used."""
    sizes: dict[str, int] = field(default_factory=dict)
    """The other sizes memory depends on (the CSV block, read-ahead, LevelDB's buffers)."""
    workers: int = 1
    """Threads that parsed CSV blocks (engines: parts run at once)."""
    engine: str = "threads"
    """``run.engine``: ``threads``, ``processes`` or ``dask``."""
    worker_start: str | None = None
    """Engines: ``forked`` or ``spawned`` local workers, ``remote`` a cluster's."""
    parts: list[dict[str, Any]] = field(default_factory=list)
    """Engines: each part's counts, worker and seconds."""
    parts_seconds: float = 0.0
    """Engines: seconds the parts took, added up (each part's ``seconds`` in ``parts``, this
    run's): with workers reading at once, more than ``parts_elapsed_s``."""
    parts_elapsed_s: float = 0.0
    """Engines: seconds the parts phase took, wall clock: the files cut into parts, the parts
    read on the workers at once and each committed, the target finished."""
    error: str | None = None
    """A failed run's error, as one line."""
    exit_code: int = 0
    """The exit code ``loader`` exits with for this run (docs/reliability.md)."""
    log_error: str | None = None
    """The first event the run could not log (``on_event`` raised: the JSON log's stderr on
    a full disk or a closed pipe, a host's callback), as one line. The load went on: this
    changes neither ``status`` nor ``exit_code``."""
    warnings: list[str] = field(default_factory=list)
    """What the settings made of the data that loaded but may not be what was meant, each
    once: LevelDB key fields that run together (``{a:d}{b:d}``: two rows may spell one key),
    ``value = "json"`` beside a column named json (docs/leveldb.md). The summary line says
    each; they change neither ``status`` nor ``exit_code``."""
    _t0: float = field(default=0.0, repr=False)
    _peak_before: float | None = field(default=None, repr=False)  # the peak at the start, where not reset
    _counted: bool = field(default=False, repr=False)  # among ``_Runs.running``

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.started_at = _now()
        with _Runs.lock:
            if not _Runs.running:
                _Runs.reset = reset_peak_rss()
            _Runs.running += 1
            self._counted = True
            self._peak_before = None if _Runs.reset else peak_rss_mb()

    def finish(self, status: str) -> None:
        self.status = status
        self.finished_at = _now()
        self.elapsed_s = round(time.perf_counter() - self._t0, 3)
        self.rows_per_s = round(self.rows_read / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0
        self.peak_rss_mb = peak_rss_mb()
        if self._counted:
            with _Runs.lock:
                _Runs.running -= 1
            self._counted = False
        self._check_ceiling()

    def peak_again(self) -> bool:
        """Read the peak again, once the run's files are written (``outputs``): whether it
        rose. Past ``max_memory_mb`` then, the run did not keep to it: never ``ok``."""
        peak = max(self.peak_rss_mb, peak_rss_mb())
        if peak == self.peak_rss_mb:
            return False
        self.peak_rss_mb = peak
        self._check_ceiling()
        return True

    def _check_ceiling(self) -> None:
        self.memory_exceeded = self.max_memory_mb is not None and self._highest_peak()[0] > self.max_memory_mb
        if self.memory_exceeded and self.status == "ok":
            self.status = "memory_exceeded"  # everything loaded, but not within the ceiling

    def add_worker_peak(self, mb: float | None) -> None:
        """Another process of the load peaked at ``mb`` (None: there was none)."""
        if mb is not None:
            self.worker_peak_rss_mb = max(self.worker_peak_rss_mb or 0.0, mb)

    def add_cluster_peak(self, mb: float) -> None:
        """A cluster's own worker ran a part and had peaked at ``mb`` by its end."""
        self.cluster_peak_rss_mb = max(self.cluster_peak_rss_mb or 0.0, mb)

    def _highest_peak(self) -> tuple[float, str]:
        """The highest peak of the load's processes, and which it was (this process's
        counted only where it is the run's own: reset at the start, or risen since)."""
        own = self.peak_rss_mb if self._peak_before is None or self.peak_rss_mb > self._peak_before else 0.0
        peaks = [
            (own, ""),
            (self.worker_peak_rss_mb or 0.0, " (a worker's)"),
            (self.cluster_peak_rss_mb or 0.0, " (a cluster worker's, which --max-memory does not bound)"),
        ]
        return max(peaks, key=lambda peak: peak[0])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for private in ("_t0", "_peak_before", "_counted"):
            data.pop(private)
        return data

    def write(self, path: str) -> None:
        replace_file(path, self.json_pieces(), durable=False)

    def json_pieces(self) -> Iterator[bytes]:
        """``to_dict()`` as indented JSON, its lists (the input files, an engine's parts, a
        replay's rows) an entry at a time: made whole, the text of thousands of entries took
        the run's peak past its ceiling after the peak was read."""
        shown = [f.name for f in fields(self) if not f.name.startswith("_")]
        listed = [name for name in shown if isinstance(getattr(self, name), list) and getattr(self, name)]
        rest = json.dumps({name: [] if name in listed else getattr(self, name) for name in shown}, indent=2)
        for name in listed:  # in the order they come: the text before each, then its entries
            before, rest = rest.split(f'\n  "{name}": []', 1)  # raw newlines are never in a JSON string
            yield f'{before}\n  "{name}": [\n'.encode()
            for i, entry in enumerate(getattr(self, name)):
                text = json.dumps(
                    asdict(entry) if is_dataclass(entry) and not isinstance(entry, type) else entry, indent=2
                )
                yield (",\n" if i else "").encode() + b"    " + text.replace("\n", "\n    ").encode()
            yield b"\n  ]"
        yield f"{rest}\n".encode()

    def summary(self) -> str:
        where = f"{self.target} (table {self.table})" if self.table else self.target
        files = self._files_text()
        line = (
            f"{self.status}: {self.rows_written:,} rows written to {where} from {files} "
            f"in {self.elapsed_s:.1f}s ({self.rows_per_s:,.0f} rows read/s, peak {self.peak_rss_mb:.0f} MB)"
        )
        if self.rows_filtered:
            line += f"; {self.rows_filtered:,} filtered out"
        if self.rows_ignored:
            line += f"; {ignored_text(self.rows_ignored)}"
        if self.rows_rejected:
            line += f"; WARNING {self.rows_rejected:,} rows rejected, see {self.rejects_path}{self._not_utf8_text()}"
        line += _gone_warning([f for f in self.files if f.status == "gone"])
        if self.checkpoint_stale:
            line += f"; WARNING started over: {self.checkpoint_stale}"
        if self.memory_exceeded:
            peak, whose = self._highest_peak()
            line += f"; WARNING peak memory {_past(peak, self.max_memory_mb)} MB{whose} went past --max-memory {self.max_memory_mb:g} MB"
        if self.log_error:
            line += f"; WARNING the log missed events ({self.log_error})"
        line += "".join(f"; WARNING {w}" for w in self.warnings)
        return line

    def warn(self, warnings: list[str]) -> None:
        """Add ``warnings`` (the sink's for a file's columns) that are not in ``warnings`` yet."""
        self.warnings += [w for w in warnings if w not in self.warnings]

    def _not_utf8_text(self) -> str:
        """After the rejected rows' warning, those that are not UTF-8: what their text reads as,
        and how they load. Not where nothing loaded: that error's fix, a rerun with the
        encoding, reads the file again."""
        if not self.rows_not_utf8 or self.status == "nothing_loaded":
            return ""
        from .readers.stream import rows_encoding_fix

        return f": {rows_encoding_fix(self.rows_not_utf8, tuple(self.not_utf8_reads_as))}"

    def _files_text(self) -> str:
        """The summary's files: ``2 files, 1 already loaded, 1 empty (no rows)``."""
        files = self._files_loaded_text()
        if self.files_skipped:
            files += f", {self.files_skipped} already loaded"
            other = [f.reason for f in self.files if f.status == "skipped" and f.reason]
            if other:  # read then with options this run gives otherwise: not read again
                first = "" if len(set(other)) == 1 else "the first "
                files += f" ({len(other)} {first}{other[0]})"
        if self.files_too_new:
            files += f", {self.files_too_new} too new to load yet (source.min_age: left for a later run)"
        if self.files_empty:
            files += f", {self.files_empty} empty (no rows)"
        if self.files_changed:
            changed = ("changed", "changed-skipped", "other-options")
            kept = sum(f.rows_kept or 0 for f in self.files if f.status in changed)
            # on_change = "error": the changed file stopped the run, nothing after it was read
            what = "stopped the run" if any(f.status in ("changed", "other-options") for f in self.files) else "skipped"
            files += f", {self.files_changed} changed since loaded and {what} ({kept:,} committed rows kept)"
        return files

    def _files_loaded_text(self) -> str:
        """``2 files``; a stopped run also counts the files it wrote rows of without finishing
        them (``1 file half loaded``), so an interrupted load does not read as "from 0 files"."""
        half = sum(1 for f in self.files if f.status == "incomplete" and f.rows_read)
        whole = f"{self.files_loaded} file{'s' if self.files_loaded != 1 else ''}"
        if not half:
            return whole
        if not self.files_loaded:
            return f"{half} file{'s' if half != 1 else ''} half loaded"
        return f"{whole} and {half} half loaded"


def _past(peak: float, ceiling: float | None) -> str:
    """``peak`` in whole MB, or with one decimal where whole MB would not show it above ``ceiling``."""
    whole = f"{peak:.0f}"
    return whole if ceiling is None or float(whole) > ceiling else f"{peak:.1f}"


def ignored_text(rows: int) -> str:
    """Rows the target skipped without an error: a key already there (``mode = "ignore"``),
    or a table's own ``ON CONFLICT IGNORE`` or trigger ``RAISE(IGNORE)``."""
    return f"{rows:,} ignored (key already there, or dropped by the table)"


def _gone_warning(gone: list[FileReport]) -> str:
    """The summary's warning of files half loaded before and gone now: their rows are a part of them."""
    if not gone:
        return ""
    kept = sum(f.rows_kept or 0 for f in gone)
    names = ", ".join(f.path for f in gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
    files = "file" if len(gone) == 1 else "files"
    return (
        f"; WARNING {len(gone)} half-loaded {files} gone since an earlier run ({names}; {kept:,} committed rows kept)"
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
