"""Checkpoints: what a job has loaded, stored inside the target itself.

Each source file has an entry keyed by its absolute path, holding its
identity (size, modification time, a fingerprint of its first and last
64 KiB, and its real path: a file loaded through a link is known under its own
name too) and the reader position after the last committed chunk. A job entry
holds the run status, what of the reject file belongs to committed work (its
length, this job's line count, and the file's inode), which columns had a
recorded type before this load began, and by which rule the job's columns were named
(``NAMES``); a schema entry holds the column types
the job's files are read with. Writers store these as JSON text: SQLite in the
same transaction as the rows they describe, LevelDB in a log beside the data,
right after those rows are written.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from . import storage
from .suggest import fold

if TYPE_CHECKING:
    from .config import SourceConfig
    from .errors import LoaderError
    from .rejects import Committed
    from .report import FileReport, RunReport

identity = storage.identity


same_content = storage.same_content
file_key = storage.key

TABLE_JOB = "table:"  # a SQLite table's job: TABLE_JOB and the table's name

# Rows a replay loaded (``loader.replay``), one entry per source file and commit:
# ``replayed:<path>#<first>-<last>``, ``<path>#v<version>`` for a version past the first.
REPLAYED = "replayed:"

# The rule a header's empty and repeated names are named by (``readers.base.dedupe_names``):
# 1, a suffix skipping only the names before it (``x,X,x_2`` as ``x, X_2, x_2_2``), earlier
# versions'; 2, one skipping every name the header holds (``x, X_3, x_2``). A job entry records
# the rule of the run that first recorded the job's columns; one without, beside recorded
# columns, is an earlier version's: rule 1.
NAMES = 2


def table_job(table: str) -> str:
    """A SQLite table's job: its name with ASCII letters in lower case, as SQLite compares
    names (``Events`` and ``events`` are one table, ``Ñ`` and ``ñ`` two), so every spelling
    of the table is one checkpoint and one reject file."""
    return TABLE_JOB + fold(table)


def folded_job(job: str) -> bool:
    """``job`` is a table's job as ``table_job`` names it: its checkpoint entries, and its
    reject lines, may be under another spelling of the table's name (a run before job names
    were folded recorded the spelling it was given)."""
    return job.startswith(TABLE_JOB) and job == table_job(job[len(TABLE_JOB) :])


def same_job(recorded: str, job: str) -> bool:
    """A checkpoint's or reject line's ``recorded`` job is ``job``: the same, or for a
    table's job (``folded_job``) any spelling of the same table."""
    if recorded == job:
        return True
    return folded_job(job) and recorded.startswith(TABLE_JOB) and table_job(recorded[len(TABLE_JOB) :]) == job


@dataclass(slots=True)  # slots: a job's checkpoint holds one per file it ever loaded
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
    # which load of the file this is: 1, then one more at each load of a new version of it
    # (``run.on_change = "reload"``); its rejects carry it, so a replay tells the versions' rows apart
    version: int = 1
    # the source options this version is read with (``read_options``; None: a loader's before
    # they were recorded, or a replay's): a run with other ones reads a version every row of
    # which was rejected again, refuses to resume a half-loaded one, and says so of a loaded
    # one (``plan_files``). Loaders before it recorded them only for a version all rejected.
    read_with: dict[str, Any] | None = None
    # earlier versions every row of which was rejected and that a read with other source
    # options replaced: their rows are this version's, so a replay skips their reject lines
    superseded: list[int] = field(default_factory=list)
    # a file moved since it was loaded (``moved_plan``): the path it was loaded as, whose entry
    # holds the rows it loaded then; they count as this file's (``rows_held``, ``left_out``)
    moved_from: str | None = None

    def to_json(self) -> str:
        # not asdict(): its deep copies cost time per file at every commit (bench/NOTES.md)
        entry = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.version == 1:
            del entry["version"]  # a file's first load: its entry as loaders before versions wrote it
        for name in ("read_with", "superseded", "moved_from"):
            if not entry[name]:
                del entry[name]  # as loaders before them wrote the entry
        return json.dumps(entry, sort_keys=True)

    def all_rejected(self) -> bool:
        """Every row of this version was rejected: none of it is in the target."""
        return self.rows_read > 0 and self.rows_rejected == self.rows_read

    def note_read_with(self, options: dict[str, Any]) -> None:
        """This version is read whole with source ``options`` (``read_options``)."""
        self.read_with = options


def next_version(fs: FileState | None) -> int:
    """The version of a file loaded anew over its checkpoint entry ``fs`` (None: its first load)."""
    return 1 if fs is None else fs.version + 1


# The source options that decide how a file's bytes become rows and values: a file every row
# of which was rejected is read again by a run that gives other ones (the fix a "nothing
# loaded" error names: ``--encoding cp1252``, ``--delimiter ';'``).
READ_OPTIONS = (
    "format",
    "encoding",
    "delimiter",
    "quote_char",
    "escape_char",
    "escape_mode",
    "header",
    "column_names",
    "skip_rows",
    "null_values",
    "na_values",
    "quoted_nulls",
    "decimal_separator",
    "thousands_separator",
    "max_row_bytes",
)
# Options added after checkpoints recorded the others: recorded only when set, so an older
# entry (without them) still equals a run that leaves them unset, and its file is not read again.
LATER_READ_OPTIONS = frozenset({"thousands_separator"})


# Read options added since checkpoints began to record them, with the value an older loader
# read every file with: an entry without one was read so (not "with other options").
ADDED_READ_OPTIONS: dict[str, Any] = {"quoted_nulls": True, "escape_mode": "literal"}


# What a half-loaded CSV file's position records (its dialect), which its resume reads it in
DIALECT_OPTIONS = frozenset({"delimiter", "quote_char", "header"})


def read_options(source: SourceConfig) -> dict[str, Any]:
    """The source options a file is read with, as its checkpoint entry records them."""
    options = {name: getattr(source, name) for name in READ_OPTIONS}
    return {k: v for k, v in options.items() if v is not None or k not in LATER_READ_OPTIONS}


def read_again(fs: FileState, path: str, ident: dict[str, Any] | None) -> FileState:
    """The entry of a file read again over ``fs``, a version none of whose rows loaded, with
    other source options: the next version, which supersedes it (``superseded``)."""
    return FileState(path=path, identity=ident, version=fs.version + 1, superseded=[*fs.superseded, fs.version])


def rejected_with_others(fs: FileState, options: dict[str, Any] | None) -> bool:
    """``fs`` is a file read whole of which every row was rejected, read with other source
    options than ``options`` (None: the caller's run reads none again)."""
    return fs.done and fs.all_rejected() and bool(other_options(fs.read_with, options))


def other_options(recorded: dict[str, Any] | None, options: dict[str, Any] | None, kept: Iterable[str] = ()) -> str:
    """The source options a file was read with (``recorded``) that ``options`` (this run's)
    give otherwise, each as recorded and as given (``escape_mode 'literal', now 'c'``); none
    where either is unknown (an older loader's entry, a replay). ``kept``: options a resume
    reads as recorded whatever the run gives (``DIALECT_OPTIONS``)."""
    if options is None or recorded is None:
        return ""
    recorded = {**ADDED_READ_OPTIONS, **recorded}
    changed = [k for k in READ_OPTIONS if k not in kept and recorded.get(k) != options.get(k)]
    return "; ".join(f"{k} {recorded.get(k)!r}, now {options.get(k)!r}" for k in changed)


def replayed_version(entry: str) -> tuple[str, int]:
    """The file key and version of a replay's checkpoint entry (``REPLAYED``)."""
    file = entry[len(REPLAYED) :].rsplit("#", 1)[0]  # without its rows' range
    path, sep, version = file.rpartition("#v")
    if sep and version.isdigit():
        return file_key(path), int(version)
    return file_key(file), 1


PART_KEY = "part:"  # a part an engine committed (``loader.engines``)
REPLACING_ENTRY = "replacing"  # a job's checkpoint entry while its replace is under way (every sink)


def held_entries(entries: dict[str, str]) -> int:
    """How many of a job's checkpoint ``entries`` are files' and parts', what a run holds per
    loaded file (``MemoryProfile.entry_kb``); the job's own few (its schema, status, commit
    stamp) cost next to nothing."""
    return sum(key.startswith(("file:", PART_KEY)) for key in entries)


def part_file(part: dict[str, Any]) -> str:
    """The key of the file a committed part's entry is of: the one it records (its ``path`` is
    as its run spelled it, maybe relative to where that run started). An entry from before
    parts recorded it: its path's, right from the directory its run started in."""
    key = part.get("key")
    return key if isinstance(key, str) else file_key(str(part.get("path", "")))


def part_of(version: int | None, recorded: dict[str, Any] | None, fs: FileState | None, ident: Any) -> bool:
    """Whether a committed part, of the file version and identity its entry records
    (``version`` None: an entry from before parts recorded it), is of the version of its file
    a run loads over the file's checkpoint entry ``fs`` and finds as ``ident``. Every part of a
    file half loaded in parts is (``engines.check_committed`` refuses one of another identity);
    of a finished file, only one of a later version than its entry's that ``ident`` is: a
    reload a stop cut short. Never the finished version's parts, nor an older one's."""
    if fs is None or not fs.done:
        return True
    finished = (version or 1) <= fs.version and (recorded is None or storage.same_version(recorded, fs.identity))
    return not finished and storage.same_version(recorded, ident)


@dataclass
class PartsKept:
    """The rows of a file's parts an engine committed."""

    path: str
    rows_read: int = 0
    rows_written: int = 0
    real: str | None = None  # the real file its parts read (parts from before they recorded it: None)
    # the source options the latest version's parts were read with (``FileState.read_with``), and it
    read_with: dict[str, Any] | None = None
    read_version: int = 0
    # each version of the file its parts were cut from, as their entries record it (``part_of``):
    # the version (None: from before parts recorded it) and the identity
    cut_from: list[tuple[int | None, dict[str, Any] | None]] = field(default_factory=list)

    def of(self, fs: FileState | None, ident: Any) -> bool:
        """Some of these parts are of the version of the file a run finds as ``ident`` (``part_of``)."""
        return any(part_of(version, recorded, fs, ident) for version, recorded in self.cut_from)


def _file_state(entry: dict[str, Any], shared: dict[Any, Any]) -> FileState:
    """A file's checkpoint entry, its source options and dialect one object with every other
    entry's equal ones (``shared``): nearly every file of a job is read with the same, and a
    job holds an entry per file it ever loaded (docs/schedule.md: a few KB each, unshared)."""
    entry["read_with"] = _shared(entry.get("read_with"), shared)
    _intern_keys(entry, ("identity", "position"))
    position = entry.get("position")
    if isinstance(position, dict) and "dialect" in position:
        position["dialect"] = _shared(position["dialect"], shared)
    return FileState(**entry)


def _intern_keys(entry: dict[str, Any], names: tuple[str, ...]) -> None:
    """``entry``'s documents of ``names`` with keys one string for all entries: each document's
    keys are new strings as parsed."""
    for name in names:
        if isinstance(entry.get(name), dict):
            entry[name] = {sys.intern(k): v for k, v in entry[name].items()}


def _shared(value: Any, shared: dict[Any, Any]) -> Any:
    """``value`` (a dict of scalars and lists of them, never changed in place), or an equal
    one met before."""
    if not isinstance(value, dict):
        return value
    try:
        frozen = tuple((k, type(v), tuple(v) if isinstance(v, list) else v) for k, v in value.items())
        return shared.setdefault(frozen, value)
    except TypeError:  # a value in it that is no scalar: kept as is
        return value


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
    parts: dict[str, PartsKept] = field(default_factory=dict)  # by file key: rows of the parts engines committed
    names: int = NAMES  # the rule the job's columns were named by (``NAMES``)
    # (file key, version) of each file version some rows of which a replay loaded (``REPLAYED``)
    replayed: set[tuple[str, int]] = field(default_factory=set)

    @classmethod
    def parse(cls, entries: dict[str, str], *, drop_parsed: bool = False) -> JobState:
        """The state ``entries`` record; with ``drop_parsed``, the file and part entries are
        taken out of ``entries`` as they are parsed (a run keeps the rest, which it reads
        again, and a job's checkpoint, an entry per file it ever loaded, is not held twice)."""
        state = cls()
        job = json.loads(entries.get("job", "{}"))
        state.status = job.get("status", "new")
        state.rejects_bytes = int(job.get("rejects_bytes", 0))
        state.rejects_lines = job.get("rejects_lines", 0 if "job" not in entries else None)
        state.rejects_inode = job.get("rejects_inode")
        state.schema = entries.get("schema")
        state.fixed = list(job.get("fixed", []))
        state.names = int(job.get("names", 1 if state.schema else NAMES))
        shared: dict[Any, Any] = {}
        keys = list(entries)
        named = set(keys) if drop_parsed else entries  # every key, those taken out too
        for key in keys:
            parsed = drop_parsed and key.startswith(("file:", PART_KEY))
            value = entries.pop(key) if parsed else entries[key]
            if key.startswith("file:"):
                name = "file:" + storage.normal(key[5:])  # an S3:// URI's entry from before schemes were lower-cased
                if name == key or name not in named:
                    state.files[name] = _file_state(json.loads(value), shared)
            elif key.startswith(PART_KEY):
                state.add_part(json.loads(value), shared)
            elif key.startswith(REPLAYED):
                state.replayed.add(replayed_version(key))
        return state

    def rows_replayed(self, key: str, fs: FileState) -> bool:
        """A replay loaded rows of the version ``fs`` of the file ``key``: some of it is in the
        target, so it is not one "none of whose rows loaded" (``rejected_with_others``)."""
        return (key, fs.version) in self.replayed

    def half_in_parts(self, key: str, ident: Any) -> bool:
        """An engine committed parts of the file ``key``, as found now (``ident``), and did
        not finish it: its first load (no entry of the file's own yet), or a reload a stop cut
        short (parts of the version ``ident`` is, past the file's finished entry)."""
        kept = self.parts.get(key)
        fs = self.files.get(key)
        return kept is not None and (fs is None or (fs.done and kept.of(fs, ident)))

    def add_part(self, part: dict[str, Any], shared: dict[Any, Any] | None = None) -> None:
        """A part an engine committed (``loader.engines``): its rows, counted to its file
        (``shared``: as in ``_file_state``, the source options one object with equal ones)."""
        if shared is not None:  # a part per file an engine ever loaded: kept small as the files' entries
            part["read_with"] = _shared(part.get("read_with"), shared)
            _intern_keys(part, ("identity",))
        kept = self.parts.setdefault(part_file(part), PartsKept(str(part.get("path", ""))))
        kept.real = kept.real or (part.get("identity") or {}).get("real")
        version = int(part.get("version") or 1)
        if part.get("read_with") is not None and version >= kept.read_version:  # the latest version's
            kept.read_with, kept.read_version = part["read_with"], version
        cut_from = (part.get("version"), part.get("identity"))
        if cut_from not in kept.cut_from:  # a few versions at most: each one's parts record the same
            kept.cut_from.append(cut_from)
        kept.rows_read += int(part.get("rows_read", 0))
        kept.rows_written += int(part.get("rows_written", 0))

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
        entry["names"] = self.names
        return json.dumps(entry)

    def legacy_names(self) -> list[str]:
        """The columns the job recorded where an earlier version named them (``NAMES`` 1): a
        header they hold the old names of keeps those (``readers.base.dedupe_names``)."""
        if self.names >= NAMES or not self.schema:
            return []
        return list(json.loads(self.schema))


STAMP_ENTRY = "commit"  # which run's which commit the checkpoint is (``Ledger.stored_commits``)

COUNTS = ("rows_read", "rows_written", "rows_rejected", "rows_filtered", "rows_ignored")


@dataclass(frozen=True)
class Tally:
    """Row counts: what one chunk adds, or a run's totals at a commit."""

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    rows_ignored: int = 0

    @classmethod
    def of(cls, holder: Any) -> Tally:
        return cls(*(getattr(holder, name) for name in COUNTS))

    @classmethod
    def of_chunk(cls, chunk: Any, written: int = 0, ignored: int = 0, refused: int = 0) -> Tally:
        """What a chunk adds: its rows read, filtered and rejected (on reading, by the stages,
        and ``refused`` by the target), and of its rows, ``written`` and ``ignored``."""
        return cls(chunk.rows_read, written, len(chunk.rejects) + refused, chunk.rows_filtered, ignored)

    def add_to(self, holder: Any, sign: int = 1) -> None:
        """Add these counts to ``holder``'s (``sign=-1``: take them back)."""
        for name in COUNTS:
            setattr(holder, name, getattr(holder, name) + sign * getattr(self, name))

    def set_on(self, holder: Any) -> None:
        for name in COUNTS:
            setattr(holder, name, getattr(self, name))


class Ledger:
    """A run's bookkeeping: counts per file (checkpoint and report) and for the run,
    and the checkpoint entries the next commit writes with its rows.

    A commit handed to the writer may become durable later (``Writer.durable_commits``):
    the counts at each such commit wait until it is, and a failure rewinds to the last one."""

    def __init__(self, state: JobState, run: RunReport) -> None:
        self.state = state
        self.run = run  # the run's report: its totals
        self.entries: dict[str, FileState | str] = {}  # files' states and the types, changed since the last commit
        self.committed = Tally()  # the run's totals at the last durable commit
        # the files counted into since the last durable commit, with their counts at it
        self.uncommitted: dict[int, tuple[FileReport, Tally]] = {}
        self._touched: dict[int, FileReport] = {}  # the files counted into since the last commit
        # commits handed to the writer and not durable yet: the run's totals and the counts of
        # the files counted into since the commit before, at each
        self._waiting: collections.deque[tuple[Tally, dict[int, tuple[FileReport, Tally]]]] = collections.deque()
        self.handed = 0  # commits handed to the writer (each checkpoint made)
        self.durable = 0  # of them, durable
        # files read whole, and the commit that says so, until that commit is durable
        self._done: collections.deque[tuple[FileReport, int]] = collections.deque()
        self.pending = 0  # rows read since the last commit
        # stamps this run's checkpoints apart from other runs' (``secrets`` would load libcrypto)
        self.run_id = os.urandom(8).hex()

    def count(self, key: str, fs: FileState, file_report: FileReport, tally: Tally, end: dict[str, Any]) -> None:
        self.uncommitted.setdefault(id(file_report), (file_report, Tally.of(file_report)))
        self._touched[id(file_report)] = file_report
        for holder in (fs, file_report, self.run):
            tally.add_to(holder)
        if end:
            fs.position = end
        self.entries[key] = fs
        self.pending += tally.rows_read

    def file_done(self, key: str, fs: FileState, file_report: FileReport) -> None:
        fs.done = True
        self.entries[key] = fs
        self._done.append((file_report, self.handed + 1))  # the next checkpoint marks it done

    def set_schema(self, encoded: str) -> None:
        """The column types files are read with, committed with the first rows read so."""
        self.state.schema = self.entries["schema"] = encoded

    def checkpoint(self, rejects: Committed) -> dict[str, str]:
        """The entries to commit now, with the reject file's committed length and the
        commit's stamp. From here the commit counts as handed to the writer: its counts
        wait for it to be durable, whenever the writer's ``commit`` returns, if at all."""
        self.state.set_rejects(rejects)
        out = {key: fs if isinstance(fs, str) else fs.to_json() for key, fs in self.entries.items()}
        out["job"] = self.state.job_entry()
        touched = {i: (fr, Tally.of(fr)) for i, fr in self._touched.items()}
        self._waiting.append((Tally.of(self.run), touched))
        self._touched.clear()
        self.handed += 1
        out[STAMP_ENTRY] = json.dumps({"run": self.run_id, "commit": self.handed})
        return out

    def committed_now(self, durable: int) -> None:
        """The writer's ``commit`` of the last checkpoint returned; it holds ``durable`` of
        the commits handed to it durable (``Writer.durable_commits``)."""
        self.entries.clear()
        self.pending = 0
        self.made_durable(durable)

    def stored_commits(self, entries: dict[str, str]) -> int:
        """How many of this run's commits a target holds whose checkpoint of the job is
        ``entries``: the stamp of the last one it holds (another run's stamp: none)."""
        try:
            stamp = json.loads(entries.get(STAMP_ENTRY, "{}"))
        except ValueError:
            return 0
        if not isinstance(stamp, dict) or stamp.get("run") != self.run_id:
            return 0
        return int(stamp.get("commit", 0))

    def made_durable(self, durable: int) -> None:
        """The first ``durable`` commits are in the target: their counts are committed."""
        while self.durable < durable and self._waiting:
            self.committed, files = self._waiting.popleft()
            self.uncommitted.update(files)
            self.durable += 1
        # a file marked done by a durable commit is counted into no more: nothing of it to rewind
        # (a run of thousands of files keeps no record of each past its commit)
        while self._done and self._done[0][1] <= self.durable:
            file_report, _ = self._done.popleft()
            self.uncommitted.pop(id(file_report), None)

    def rewind(self, durable: int) -> None:
        """After a failure the run's and each file's counts say what was committed (the
        first ``durable`` commits): staged rows were rolled back."""
        self.made_durable(durable)
        self.committed.set_on(self.run)
        for file_report, at_commit in self.uncommitted.values():
            at_commit.set_on(file_report)
        self.uncommitted.clear()
        for file_report, commit in self._done:
            if commit > self.durable and file_report.status != "incomplete":
                # read whole, but the commit that marks it done never reached the target
                # (a sorted run not complete yet): the rerun reads it again
                file_report.status = "incomplete"
                self.run.files_loaded -= 1


@dataclass
class FilePlan:
    """What a run does with one input: load it (from ``resume``), or skip it."""

    path: str
    key: str
    # loaded | resumed | skipped | changed-skipped | changed (on_change = "error") | unreadable
    # | other-options (half loaded with other source options: refused)
    status: str
    state: FileState | None = None  # the checkpoint entry the load counts into
    kept: int = 0  # changed-skipped, other-options: the rows an earlier run committed from it
    error: LoaderError | None = None  # unreadable: why, raised once the other files are loaded
    # skipped, other-options: the source options it was read with that this run gives otherwise,
    # as ``options_text`` words them
    options: str = ""
    # skipped as a file moved since it was loaded (``LoadedElsewhere.moved``): the path it was
    # loaded as, and the entry that records it under its new path with the run's last commit
    moved: tuple[str, FileState] | None = None

    @property
    def reads(self) -> bool:
        return self.status in ("loaded", "resumed")


def recorded_spellings(spellings: list[list[str]], state: JobState) -> list[str]:
    """Each input file under the spelling the checkpoint has an entry for (loaded, half loaded,
    or in parts), else its first (``readers.spellings``: its own name where the inputs hold
    it); sorted. A file half loaded through a link goes on under the link's name, and one a
    run loaded through a link is not loaded again under its own."""
    out = [names[0] if len(names) == 1 else _recorded(names, state) for names in spellings]
    return sorted(out, key=lambda p: (p == "-", p))


def _recorded(names: list[str], state: JobState) -> str:
    return next((f for f in names if _entry_for(f, state)), names[0])


def _entry_for(path: str, state: JobState) -> bool:
    """Whether the checkpoint has an entry for ``path`` made of the file it reaches now (one
    made before identities held the real path: taken to be)."""
    key = file_key(path)
    fs = state.files.get(key)
    if fs is None:
        return key in state.parts
    real = (fs.identity or {}).get("real")
    return real is None or real == os.path.realpath(path)


def has_entry(names: list[str], state: JobState) -> bool:
    """Whether the job's checkpoint has an entry of the input ``names`` spell, made of the file it reaches now."""
    return _entry_for(_recorded(names, state), state)


def left_to_plan(names: list[str], state: JobState, on_change: str) -> bool:
    """Whether the input ``names`` spell (``readers.spellings``) is the plan's to tell by its
    checkpoint entry, unread (``readers.empty_text_files``): loaded, it is skipped, or changed
    (emptied since too: truncated in place). Under run.on_change = reload, one of another size
    than its entry's is a new version to load, looked in as a new file is (empty: no rows)."""
    path = _recorded(names, state)
    if not _entry_for(path, state):
        return False
    if on_change != "reload":
        return True
    fs = state.files.get(file_key(path))
    return fs is not None and fs.identity is not None and storage.size(path) == fs.identity.get("size")


def emptied_version(names: list[str], state: JobState, on_change: str) -> tuple[str, FileState] | None:
    """The checkpoint entry (key and state) of the new version of a loaded file emptied since
    that run.on_change = reload lists empty, unread (``left_to_plan``): the next version of
    its entry, as the reload of a changed file makes it, done with none of its rows (its
    earlier version's stay in the target), so the next run skips it rather than finding it
    changed again. None where the checkpoint holds no entry of it, or holds this version."""
    path = _recorded(names, state)
    key = file_key(path)
    fs = state.files.get(key)
    if fs is None or not _entry_for(path, state):
        return None
    found = _against_entry(path, key, fs, identity(path), on_change, None, rows_held(state, fs))
    if isinstance(found, FilePlan) or found is fs:
        return None
    found.done = True
    return key, found


def plan_files(
    files: list[str], state: JobState, on_change: str, read_with: dict[str, Any] | None = None
) -> list[FilePlan]:
    """Each file against its checkpoint: loaded already (skip), half-loaded (resume),
    changed since (``run.on_change``: error, skip or reload), or new. ``read_with``: this
    run's source options (``read_options``), which read a file again of which every row was
    rejected when it was read with others (``rejected_with_others``)."""
    out = []
    elsewhere = LoadedElsewhere(state)
    inputs = {file_key(path) for path in files}
    for path in files:
        key = file_key(path)
        error = storage.unaddressable(path)
        if error is not None:  # a key the store lists and pyarrow cannot open: the others load first
            out.append(FilePlan(path, key, "unreadable", error=error))
            continue
        ident = identity(path)
        key = _entry_key(key, ident, state, elsewhere, inputs)
        fs = state.files.get(key)
        if fs is None and (skipped := _loaded_elsewhere(path, key, ident, state, elsewhere, read_with)) is not None:
            out.append(skipped)
            continue
        if fs is not None and path != "-":
            # a version a replay loaded rows of holds rows in the target: never read again
            again = None if state.rows_replayed(key, fs) else read_with
            found = _against_entry(path, key, fs, ident, on_change, again, rows_held(state, fs))
            if isinstance(found, FilePlan):
                out.append(found)
                continue
            fs = found
        resuming = fs is not None and not fs.done and bool(fs.position)
        refused = _parts_read_otherwise(path, key, ident, state, read_with)
        if refused is not None:
            out.append(refused)
            continue
        if fs is None or fs.done:
            fs = FileState(path=path, identity=ident, version=next_version(fs))
        elif fs.path != path:  # the entry's key is this file's: read, checked and named as this run spells it
            fs = replace(fs, path=path)  # (its run's spelling may be relative to another directory)
        if not resuming and read_with is not None:  # read from its start: with this run's options
            fs = replace(fs, read_with=read_with)
        out.append(FilePlan(path, key, "resumed" if resuming else "loaded", fs))
    return out


def identify_at_turn(plan: FilePlan) -> None:
    """A file read from its start takes its identity again as its turn comes: put again (an
    object), renamed over or rewritten (a local file) since the run listed it, before any byte
    of it was read, it loads in the version there now, as one changed before the run began
    would; the checks while it is read compare with that one. A file resumed keeps its
    entry's: its committed rows are of that version."""
    fs = plan.state
    if plan.status != "loaded" or fs is None or fs.identity is None or fs.position or fs.rows_written:
        return
    now = identity(plan.path)
    if not storage.same_version(fs.identity, now):
        fs.identity = now


def _loaded_elsewhere(
    path: str,
    key: str,
    ident: dict[str, Any] | None,
    state: JobState,
    elsewhere: LoadedElsewhere,
    read_with: dict[str, Any] | None,
) -> FilePlan | None:
    """The plan skipping a file with no entry of its own that a done entry under another name
    is of: reached through a link (``LoadedElsewhere.holds``), or moved since (``moved``)."""
    if elsewhere.holds(ident):
        return FilePlan(path, key, "skipped")
    moved = None if key in state.parts else elsewhere.moved(key, ident, read_with)
    return None if moved is None else moved_plan(path, key, ident, moved, read_with)


def moved_plan(
    path: str, key: str, ident: dict[str, Any] | None, old: tuple[str, FileState], read_with: dict[str, Any] | None
) -> FilePlan:
    """The plan skipping a file moved since it was loaded as ``old`` (its key and entry): loaded
    already, said so, and recorded under its new path so later runs find it there. The new
    entry holds no rows: they stay counted in the old one (``rows_committed``), which it names
    (``moved_from``: a file moved twice, the one its rows are in), so they are still its own."""
    old_key, fs = old
    old_path = old_key[len("file:") :]
    entry = FileState(
        path=path, identity=ident, done=True, read_with=fs.read_with, moved_from=fs.moved_from or old_path
    )
    options = other_options(fs.read_with, read_with)
    return FilePlan(path, key, "skipped", options=options, moved=(old_path, entry))


def _parts_read_otherwise(
    path: str, key: str, ident: dict[str, Any] | None, state: JobState, read_with: dict[str, Any] | None
) -> FilePlan | None:
    """The plan refusing a file half loaded in parts with other source options than
    ``read_with`` (its parts go on so too: ``_against_entry``'s rule), else None."""
    kept = state.parts.get(key)
    if kept is None or not state.half_in_parts(key, ident):
        return None
    changed = other_options(kept.read_with, read_with)
    return FilePlan(path, key, "other-options", kept=kept.rows_written, options=changed) if changed else None


def _against_entry(
    path: str,
    key: str,
    fs: FileState,
    ident: dict[str, Any] | None,
    on_change: str,
    read_with: dict[str, Any] | None,
    held: int,
) -> FileState | FilePlan:
    """A file with a checkpoint entry ``fs``, which holds ``held`` rows of it in the target
    (``rows_held``): the plan that leaves it (loaded already, or changed and not reloaded),
    else the entry its rows count into (``plan_files``)."""
    # a half-loaded file goes on at its byte offset: only from the very same version
    unchanged = same_content if fs.done else storage.same_version
    if not unchanged(fs.identity, ident):
        if on_change != "reload":
            status = "changed" if on_change == "error" else "changed-skipped"
            return FilePlan(path, key, status, kept=held)
        # a moved file's earlier rows stay in the entry it was loaded as: still its own
        return FileState(
            path=path, identity=ident, version=next_version(fs), superseded=fs.superseded, moved_from=fs.moved_from
        )
    if rejected_with_others(fs, read_with):
        return read_again(fs, path, ident)  # none of it loaded: the fix its error named, another encoding say
    changed = other_options(fs.read_with, read_with)
    if fs.done:
        return FilePlan(path, key, "skipped", options=changed)  # loaded already, said so where read otherwise
    # resumed, its rows would be read two ways in one table (but in the dialect its position records)
    changed = other_options(fs.read_with, read_with, DIALECT_OPTIONS if "dialect" in fs.position else ())
    if changed and fs.position:
        return FilePlan(path, key, "other-options", fs, kept=held, options=changed)
    return fs


def _entry_key(
    key: str, ident: dict[str, Any] | None, state: JobState, elsewhere: LoadedElsewhere, inputs: set[str]
) -> str:
    """The checkpoint key an input of key ``key`` counts under: its own; else that of an entry
    half loaded under another spelling of this very file (through a linked folder), which it
    goes on in, not from its start beside it."""
    if key in state.files or key in state.parts:
        return key
    return elsewhere.half_loaded(ident, inputs) or key


class LoadedElsewhere:
    """The files a checkpoint holds done (by content) or half loaded (by real path): an input
    without an entry of its own may have been loaded under another spelling (a link to it,
    since gone or pointed elsewhere; a path through a linked folder), or at another path it
    was moved from (``moved``). Indexed once, when the first such input asks."""

    def __init__(self, state: JobState) -> None:
        self.state = state
        self._by_content: dict[tuple[Any, Any], list[tuple[str, FileState]]] | None = None
        self._half_by_real: dict[str, str] | None = None
        self._parts_by_real: dict[str, list[str]] | None = None
        self._claimed: set[str] = set()  # done entries a moved input was matched to: one input each

    def holds(self, ident: dict[str, Any] | None) -> bool:
        """A done entry of the same content that reached the same real file (``ident`` a local
        file's identity); None or an object's identity: never."""
        if ident is None or "real" not in ident:
            return False
        entries = self._by_content_of(ident)
        return any(_real(key, (fs.identity or {}).get("real")) == ident["real"] for key, fs in entries)

    def moved(
        self, key: str, ident: dict[str, Any] | None, read_with: dict[str, Any] | None
    ) -> tuple[str, FileState] | None:
        """The done entry (key and state) of the file an input of key ``key`` is, moved since
        it was loaded (its folder renamed, moved, or mounted elsewhere: a container's ``/data``):
        of the same version (``same_version``: size, fingerprint and mtime, which ``mv``, a
        mount, ``cp -p`` and ``rsync -t`` keep and a new day's export of the same name and size
        has not), base name and partition values (``same_partitions``), whose path, and the
        real file it reached, exist no more; one the input would be read again over is none
        (``rejected_with_others``). Each entry is matched to one input at most (identical files
        pair one to one), those holding rows first. None for a remote object (never moved so)."""
        if ident is None or "real" not in ident:
            return None
        new = key[len("file:") :]
        for old, fs in sorted(self._by_content_of(ident), key=lambda entry: entry[1].rows_read == 0):
            path = old[len("file:") :]
            if old in self._claimed or os.path.basename(path) != os.path.basename(new):
                continue
            if not storage.same_version(fs.identity, ident) or not same_partitions(path, new):
                continue
            if rejected_with_others(fs, read_with):
                continue
            if not os.path.lexists(path) and not os.path.lexists(_real(old, (fs.identity or {}).get("real"))):
                self._claimed.add(old)
                return old, fs
        return None

    def _by_content_of(self, ident: dict[str, Any]) -> list[tuple[str, FileState]]:
        """The local done entries of ``ident``'s content, indexed at the first call."""
        if self._by_content is None:
            self._by_content = {}
            for key, fs in self.state.files.items():
                if fs.done and fs.identity is not None and key.startswith("file:/"):
                    self._by_content.setdefault(_content(fs.identity), []).append((key, fs))
        return self._by_content.get(_content(ident), [])

    def half_loaded(self, ident: dict[str, Any] | None, inputs: set[str]) -> str | None:
        """The key of an entry half loaded (rows read, not done; or in parts, ``gone``'s
        kind) from the real file ``ident`` reaches, under a spelling that is none of this
        run's ``inputs``; else None. Matched by the real path, as done entries are
        (``holds``): whether the file is still the version it was is the caller's check (an
        engine's, of the parts: ``engines.check_committed``), as under its own spelling.
        Else that of a finished entry with parts committed of the version ``ident`` is: a
        reload in parts a stop cut short goes on in them (``JobState.half_in_parts``)."""
        if ident is None or "real" not in ident:
            return None
        found = self._half(ident) or self._reloading(ident)
        return found if found is not None and found not in inputs else None

    def _half(self, ident: dict[str, Any]) -> str | None:
        if self._half_by_real is None:
            self._half_by_real = {}
            for key, fs in self.state.files.items():
                if not fs.done and fs.rows_read and fs.identity is not None and key.startswith("file:/"):
                    self._half_by_real.setdefault(_real(key, fs.identity.get("real")), key)
            for key, kept in self.state.parts.items():
                if key not in self.state.files and kept.rows_read and key.startswith("file:/"):
                    self._half_by_real.setdefault(_real(key, kept.real), key)
        return self._half_by_real.get(ident["real"])

    def _reloading(self, ident: dict[str, Any]) -> str | None:
        if self._parts_by_real is None:
            self._parts_by_real = {}
            for key, kept in self.state.parts.items():
                fs = self.state.files.get(key)
                if fs is not None and fs.done and kept.rows_read and key.startswith("file:/"):
                    reals = {_real(key, (recorded or {}).get("real")) for _, recorded in kept.cut_from}
                    for real in reals:
                        self._parts_by_real.setdefault(real, []).append(key)
        keys = self._parts_by_real.get(ident["real"], ())
        return next((key for key in keys if self.state.half_in_parts(key, ident)), None)


def same_partitions(old: str, new: str) -> bool:
    """Two paths' ``key=value`` folders (``readers.partitions.path_values``) are the same, in
    order: a file whose folders give other values holds other rows (a partition column's value
    is in its folder's name), so a file found at ``new`` is no ``old`` moved."""
    from .readers.partitions import path_values  # with pyarrow: only once a moved file is looked for

    return list(path_values(old).items()) == list(path_values(new).items())


def _content(ident: dict[str, Any]) -> tuple[Any, Any]:
    return ident.get("size"), ident.get("sha256_head_tail")


def _real(key: str, real: str | None) -> str:
    """The file an entry's spelling reached when loaded, as its identity recorded it (``real``;
    an entry from before identities held it: the one it reaches now)."""
    return real or os.path.realpath(key[len("file:") :])


def rows_held(state: JobState, fs: FileState) -> int:
    """The rows of the file ``fs`` is the entry of that the job's checkpoint holds committed:
    its own, and a file moved since it was loaded those of the entry it was loaded as
    (``moved_from``), which stay counted there."""
    old = state.files.get(file_key(fs.moved_from)) if fs.moved_from else None
    return fs.rows_written + (old.rows_written if old is not None else 0)


def rows_committed(state: JobState) -> int:
    """The rows the job's checkpoint says its runs wrote to the target (whole files and parts)."""
    return sum(fs.rows_written for fs in state.files.values()) + sum(p.rows_written for p in state.parts.values())


def left_out(state: JobState, entries: dict[str, str], inputs: Iterable[str]) -> list[tuple[str, int]]:
    """Files the job's checkpoint holds rows of in the target (loaded, half loaded, in parts, or
    replayed from their rejects, ``entries``) that are none of ``inputs`` (this run's, every
    spelling, and those waiting for a later run): each one's path as its run named it and
    those rows, sorted. A replace that starts over drops them and loads only the inputs
    (retention removed a daily export, say). One that reaches an input's real file (loaded
    through a link since gone), or that an input moved since was loaded as (``moved_from``),
    is that input."""
    inputs = list(inputs)
    keys = {file_key(path) for path in inputs}
    # the entries inputs moved since they were loaded were loaded as: those inputs' rows
    keys |= {file_key(fs.moved_from) for key in list(keys) if (fs := state.files.get(key)) and fs.moved_from}
    rows: collections.Counter[str] = collections.Counter()
    names: dict[str, str] = {}
    for key, fs in state.files.items():
        rows[key] += fs.rows_written
        names[key] = fs.path
    for key, kept in state.parts.items():
        rows[key] += 0 if key in state.files else kept.rows_written  # an engine's done file counts in its entry
        names.setdefault(key, kept.path)
    for mark, value in entries.items():
        key = replayed_version(mark)[0] if mark.startswith(REPLAYED) else ""
        if key and key not in keys:  # rows listed in JSON: read for the files that are no input only
            rows[key] += len(json.loads(value))
    candidates = [key for key, n in rows.items() if n and key not in keys]
    if not candidates:
        return []
    reals = {os.path.realpath(p) for p in inputs if p != storage.STDIN and not storage.is_remote(p)}
    out = []
    for key in candidates:
        whole, parts = state.files.get(key), state.parts.get(key)
        real = (whole.identity or {}).get("real") if whole is not None else None
        real = real or (parts.real if parts is not None else None)
        if real is None or real not in reals:
            out.append((names.get(key, key.removeprefix("file:")), rows[key]))
    return sorted(out)


def gone(state: JobState, plans: list[FilePlan], waiting: Iterable[str] = ()) -> list[tuple[str, int]]:
    """Files the checkpoint holds half loaded (rows committed, not done) that are not among
    this run's inputs any more (deleted, moved, left out of the glob): each one's path as
    its run named it and the rows committed from it, which stay in the target. A file
    ``waiting`` for a later run (``source.min_age``) is there still: not gone."""
    inputs = {p.key for p in plans} | {file_key(storage.STDIN)} | {file_key(path) for path in waiting}
    out = [
        (fs.path, fs.rows_written)
        for key, fs in state.files.items()
        if key not in inputs and not fs.done and fs.rows_read
    ]
    out += [  # half loaded in parts: an engine writes the file's own entry once it is done
        (p.path, p.rows_written)
        for key, p in state.parts.items()
        if key not in inputs and key not in state.files and p.rows_read
    ]
    return sorted(out)
