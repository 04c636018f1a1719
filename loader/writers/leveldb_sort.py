"""Sorted ingest for LevelDB: rows whose keys arrive out of order reach the store in
key order, through sorted runs on disk and their merge (``loader.spill``).

A load goes through phases, recorded in the job's checkpoint under ``sort``:

- ``direct`` (no entry): rows are written as they come, while their keys ascend;
- ``spill``: rows are held and sorted into runs; once a run is fsynced (by a thread of
  its own, while the next run is sorted), the checkpoint names every complete run
  (consecutive ones as one span) together with the input positions they cover;
- ``merge``: every row is in a run; the merge writes them in key order, and the
  checkpoint records the last key written.

A rerun reuses the complete runs (and removes partial ones) and resumes the input
after them, or resumes the merge after the last key written. LevelDB's later writes
win, so rows written directly before the first run stay correct under ``append``
and ``upsert``: any value for the same key in a run came later in the input.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pyarrow as pa

from .. import stopping
from ..compat import sha1
from ..errors import EXIT_CONFIG, RESUME_HINT, SinkError
from ..files import fsync_path
from ..forking import can_fork, fork_map
from ..spill import (
    MERGE_HELD_BYTES,
    MERGE_RUN_READ,
    MIN_FAN_IN,
    Keep,
    RunSpiller,
    key_ranges,
    make_durable,
    max_fan_in,
    merge_runs,
    split_keys,
    widest_row,
    write_merged_run,
    write_sorted_run,
)

SORT_ENTRY = "sort"
# Runs' bytes from which their merge is split over processes: below, the fork and the
# key sampling cost more than they save.
SPLIT_MERGE_BYTES = 64 << 20
# Encoded bytes per input byte assumed before any row was seen (JSON values of a
# CSV row take about twice its bytes; compressed Parquet more).
DEFAULT_GROWTH = 3.0
# Input bytes read before the growth measured replaces DEFAULT_GROWTH: a first file of a
# row or two (or a header alone) tells little of how the rest of the input grows.
GROWTH_SAMPLE_BYTES = 64 << 10


@dataclass
class SortState:
    """What the checkpoint says of the sort: its phase, its complete runs, the merge's last key,
    and the run directories the load made (a rerun removes them once empty, as the run would have)."""

    phase: str = "direct"
    runs: list[str] = field(default_factory=list)
    after: bytes | None = None
    made: list[str] = field(default_factory=list)
    _folded: _Folded | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, entry: str | None) -> SortState:
        found = json.loads(entry) if entry else {}
        after = found.get("after")
        runs = _unfold(found.get("dir", ""), found.get("runs", []))
        made = [str(d) for d in found.get("made", [])]
        return cls(found.get("phase", "direct"), runs, bytes.fromhex(after) if after else None, made)

    def entry(self) -> dict[str, str]:
        if self.phase == "direct":
            return {SORT_ENTRY: "{}"}
        directory = os.path.dirname(self.runs[0]) if self.runs else ""
        folded = self._folded
        if folded is None or not folded.extends(directory, self.runs):
            folded = self._folded = _Folded(directory)
        folded.add(self.runs)
        out: dict[str, object] = {"phase": self.phase, "dir": directory, "runs": folded.spans}
        if self.after is not None:
            out["after"] = self.after.hex()
        if self.made:
            out["made"] = self.made
        return {SORT_ENTRY: json.dumps(out)}


def committed_sort(entry: str | None, directory: str) -> SortState:
    """The sort a checkpoint's entry tells of, its runs by their paths: an older checkpoint's
    runs, named relative to where that run started, are in ``directory`` (this run's)."""
    state = SortState.parse(entry)
    state.runs = [p if os.path.isabs(p) else os.path.join(directory, os.path.basename(p)) for p in state.runs]
    return state


def missing_runs(runs: list[str]) -> list[str]:
    """Those of ``runs`` that are not there."""
    return [p for p in runs if not os.path.exists(p)]


def runs_gone(runs: list[str], missing: list[str]) -> SinkError:
    """The refusal of a load whose checkpoint's committed ``runs`` are ``missing`` in part or
    whole (``run.temp_dir`` on a tmpfs after a reboot, a temp cleaner): they held rows counted
    as written that no store holds, and that no rerun reads again: the user's to decide
    (exit 78), before a row is read, never a merge that fails on them at the end of every
    rerun. The run's and the dry run's alike."""
    where = ", ".join(Sorter.run_dirs(missing))
    error = SinkError(
        f"{len(missing):,} of the {len(runs):,} sorted runs an earlier run committed are gone "
        f"from {where} ({os.path.basename(missing[0])} the first): the rows they held are in no store",
        hint=f"if {where} is on a disk not mounted now, mount it and rerun; otherwise rerun with --restart "
        "and --mode upsert or replace (every file of the job loads again)",
    )
    error.exit_code = EXIT_CONFIG
    return error


# A run's name: a prefix, its number, ".arrow". Consecutive numbers are checkpointed as one
# [first name, count] span: a low ceiling makes tens of thousands of small runs, and their
# list written out whole at every commit grew each commit and its memory with the input.
_NUMBERED = re.compile(r"^(.*?)(\d+)(\.arrow)$")


class _Folded:
    """Paths in ``directory`` as spans, consecutive numbers folded into [name, count]
    (others as the paths they are); runs only ever join at the end between two commits,
    so only the new ones are folded each time."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.spans: list[object] = []
        self.count = 0  # paths folded
        self.first_path = self.last_path = ""
        self.last: tuple[str, int, int, str] | None = None  # stem, number, width, suffix of the open span

    def extends(self, directory: str, paths: list[str]) -> bool:
        """Whether ``paths`` are the paths folded so far and maybe more."""
        ok = directory == self.directory and len(paths) >= self.count
        return ok and (self.count == 0 or (paths[0], paths[self.count - 1]) == (self.first_path, self.last_path))

    def add(self, paths: list[str]) -> None:
        for path in paths[self.count :]:
            self._add(path)
        self.count = len(paths)
        self.first_path, self.last_path = (paths[0], paths[-1]) if paths else ("", "")

    def _add(self, path: str) -> None:
        name = os.path.basename(path)
        found = _NUMBERED.match(name) if os.path.dirname(path) == self.directory else None
        if found is None:
            self.spans.append(path)
            self.last = None
            return
        stem, digits, suffix = found.groups()
        span = self.spans[-1] if self.spans else None
        if self.last == (stem, int(digits) - 1, len(digits), suffix) and isinstance(span, list):
            span[1] += 1
        else:
            self.spans.append([name, 1])
        self.last = (stem, int(digits), len(digits), suffix)


def run_prefix(target: str, job: str) -> str:
    """What the names of a target's runs for ``job`` start with: a hash of the target's real
    path and the job, so loads of two stores by one job (one key template) that share a
    ``run.temp_dir`` never take or remove each other's runs. ``target`` empty: the job's
    alone, as loaders before named runs (a checkpoint of theirs names runs so)."""
    what = job.encode("utf-8")
    if target:
        what = os.fsencode(os.path.realpath(target)) + b"\0" + what
    return "run-" + str(sha1(what).hexdigest())[:10] + "-"


def _names_in(paths: set[str], here: str) -> set[str]:
    """The names of those of ``paths`` in the directory whose real path is ``here``."""
    dirs = {d for d in {os.path.dirname(p) for p in paths} if os.path.realpath(d) == here}  # one call a spelling
    return {os.path.basename(p) for p in paths if os.path.dirname(p) in dirs}


def split_ranges(runs: list[str], processes: int) -> list[tuple[bytes | None, bytes | None]]:
    """Key ranges (``merge_runs``' ``after``, ``through``) of about equal bytes to merge
    ``runs`` in at once, one per process; none where that does not pay (one process, or
    runs under ``SPLIT_MERGE_BYTES``) or a fork is not safe (``forking.can_fork``: idle
    pools' threads may stay, as the processes run the merge alone). The merge is Python's
    work, one core's with the GIL held, whichever thread runs it."""
    if processes < 2 or sum(os.path.getsize(p) for p in runs) < SPLIT_MERGE_BYTES or not can_fork(idle_pools=True):
        return []
    ranges = key_ranges(split_keys(runs, processes))
    return ranges if len(ranges) > 1 else []


def _unfold(directory: str, runs: list[Any]) -> list[str]:
    """The paths ``_Folded`` made its spans of; a full path (an older checkpoint's) as it is."""
    paths: list[str] = []
    for item in runs:
        if isinstance(item, str):
            paths.append(item)
            continue
        name, count = str(item[0]), int(item[1])
        found = _NUMBERED.match(name)
        if found is None or count == 1:
            paths.append(os.path.join(directory, name))
            continue
        stem, digits, suffix = found.groups()
        first = int(digits)
        paths.extend(os.path.join(directory, f"{stem}{first + i:0{len(digits)}d}{suffix}") for i in range(count))
    return paths


@dataclass
class _Entries:
    """A run's checkpoint entries, and the caller's mark of what they cover."""

    entries: dict[str, str]
    mark: int


class Sorter:
    """Holds rows in memory up to ``run_bytes``, spills them as sorted runs in
    ``directory``, and merges the runs; the phases are in ``state``. ``target``: the store
    the runs are of (their names tell it, ``run_prefix``); ``home``: the directory that is
    the target's own (``<store>.runs``), removed once it holds no run."""

    def __init__(
        self, directory: str, keep: Keep, run_bytes: int, input_bytes: int, *, target: str = "", home: str = ""
    ) -> None:
        # absolute: the checkpoint names runs by it, and a rerun may start elsewhere
        self.directory = os.path.abspath(directory)
        self.target = target
        # Directories this run may remove once empty: the target's own, and those this process
        # made; never another (a shared run.temp_dir another load is about to write runs in).
        self._home = os.path.realpath(home or directory)
        self._removable = {self._home}
        self.keep = keep
        self.run_bytes = run_bytes
        self.input_bytes = input_bytes  # for the free-space check; 0 when unknown
        self.state = SortState()
        self.spiller: RunSpiller | None = None
        self.prefix = self._legacy = "run-"
        self.encoded_bytes = 0  # encoded bytes and input bytes seen so far: how runs grow with the input
        self.read_bytes = 0
        self._pending_bytes = 0  # encoded bytes of a block whose input bytes are not yet counted
        # The run being sorted and written by a thread: its future (which gives the future of
        # its fsync), path and checkpoint entries with their mark; then the runs written, being fsynced.
        self._flight: tuple[Future[Future[None]], str, _Entries] | None = None
        self._syncing: deque[tuple[Future[None], str, _Entries]] = deque()
        # The caller's mark (``spill``) of the last run complete: what its checkpoint covers
        self.complete_mark = 0
        self._executor: ThreadPoolExecutor | None = None
        self._syncer: ThreadPoolExecutor | None = None
        # A failed spill's runs before it that were durable: their checkpoint entries, to write
        self.salvaged: dict[str, str] | None = None
        self.worker_peak_rss_mb: float | None = None  # the highest peak of a forked merge process
        # Directories an earlier run's checkpoint named runs in (its run.temp_dir): cleaned
        # with this one. And whether this process made ``directory`` (it writes runs there).
        self._earlier_dirs: set[str] = set()
        self._made = False
        # Runs the checkpoint names that were gone when this run took it up (``require_runs``)
        self.missing: list[str] = []
        # The runs the checkpoint named when this run took it up: the target's, whatever their
        # names (an older loader's, ``run_prefix``), removed by name once merged or left
        self._inherited: set[str] = set()

    @property
    def spilling(self) -> bool:
        return self.state.phase == "spill"

    @property
    def has_runs(self) -> bool:
        """Whether a run is complete or being written."""
        return bool(self.state.runs) or self._in_flight > 0

    @property
    def _in_flight(self) -> int:
        """Runs being written or fsynced."""
        return (self._flight is not None) + len(self._syncing)

    def resume(self, job: str, entry: str | None) -> None:
        """Take up the phase a killed run of ``job`` reached; remove files it left half written."""
        self.prefix = run_prefix(self.target, job)
        # an older loader's names for the job's runs: in the target's own directory, the target's
        self._legacy = run_prefix("", job)
        self.state = committed_sort(entry, self.directory)
        self._earlier_dirs.update(os.path.dirname(p) for p in self.state.runs)
        self._inherited.update(self.state.runs)
        self._removable.update(self.state.made)
        self.missing = missing_runs(self.state.runs)
        if self.state.phase == "spill":
            self._open_spiller()
        self._remove_stale(keep=set(self.state.runs))

    def require_runs(self) -> None:
        """Before this run reads a row: the runs a stopped run committed are all there
        (``runs_gone``), as they were when it took up the checkpoint."""
        if self.missing:
            raise runs_gone(self.state.runs, self.missing)

    @staticmethod
    def run_dirs(paths: list[str]) -> list[str]:
        """The directories ``paths`` are in, in their order."""
        return list(dict.fromkeys(os.path.dirname(p) for p in paths))

    def seen(self, encoded: int, read: int) -> None:
        """A chunk's encoded bytes and the input bytes it moved past. A reader counts a
        block's bytes with its last chunk only: the chunks before it wait for them, so the
        growth is measured over the same rows on both sides (counted apart, a run filled
        from a big file's first block over a small file's bytes asked for terabytes)."""
        self._pending_bytes += encoded
        if read:
            self.encoded_bytes += self._pending_bytes
            self.read_bytes += read
            self._pending_bytes = 0

    def start(self) -> None:
        """Enter the spill phase: rows are held from here on (on disk once a run fills)."""
        # a merge resumed after its last key would skip the new runs' keys up to it
        # (the writer finishes an inherited merge before any row: ``prepare``)
        assert self.state.phase != "merge", "a stopped merge is finished before new rows are held"
        self.state.phase = "spill"
        self._open_spiller()

    def adopt(self, paths: list[str]) -> None:
        """Complete runs made elsewhere (an engine's part, in input order), moved in as
        the next runs; the caller checkpoints them (``state.entry()``)."""
        if not self.spilling:
            self.start()
        assert self.spiller is not None
        self._make_directory()
        for path in paths:
            target = self.spiller.next_path()
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise self._spill_error(exc) from None
                shutil.copyfile(path, target)  # run.spill_dir on another file system
                fsync_path(target)
                os.remove(path)
            self.spiller.runs.append(target)
        self.state.runs = list(self.spiller.runs)

    def _make_directory(self) -> None:
        """Before the first run this process writes: the directory made (a rerun may name
        another than the runs it resumes are in), and before the load's first run, its
        free space checked."""
        try:  # each time: a shared directory another load removed once empty is made again
            if not os.path.isdir(self.directory):
                os.makedirs(self.directory)
                made = os.path.realpath(self.directory)
                self._removable.add(made)
                if made not in self.state.made:  # checkpointed with the runs: a rerun removes it too
                    self.state.made.append(made)
        except FileExistsError:
            pass  # made by another load meanwhile
        except OSError as exc:
            raise SinkError(
                f"cannot create the run directory: {exc.strerror}",
                file=self.directory,
                # with committed runs, not sort = never: their merge in groups writes here too
                hint="set run.temp_dir to a writable directory" + ("" if self.state.runs else ", or sink.sort = never"),
            ) from None
        if self._made:
            return
        self._made = True
        if not self.state.runs and not self._in_flight:
            self._check_space()

    def _open_spiller(self) -> None:
        self.spiller = RunSpiller(self.directory, self.prefix, self.keep, runs=list(self.state.runs))

    def needed_bytes(self) -> int:
        measured = self.read_bytes >= GROWTH_SAMPLE_BYTES
        growth = self.encoded_bytes / self.read_bytes if measured else DEFAULT_GROWTH
        return int(self.input_bytes * growth)

    def _check_space(self) -> None:
        need = self.needed_bytes()
        free = shutil.disk_usage(self.directory).free
        if need > free:
            raise SinkError(
                f"not enough free space for sorted runs: about {need / 1e6:,.0f} MB needed, {free / 1e6:,.0f} MB free",
                file=self.directory,
                hint="free space or set run.temp_dir to a larger disk (or sink.sort = never), then rerun",
            )

    def drop_held(self) -> None:
        """A rollback: held rows are not committed (a rerun reads them again), nor is a
        run still in flight."""
        self.close()
        if self.spiller is not None:
            self.spiller.take_held()
            if not self.spiller.runs:
                self.state.phase, self.spiller = "direct", None

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        assert self.spiller is not None
        self.spiller.add(keys, values)

    def full(self) -> bool:
        return self.spiller is not None and self.spiller.held_bytes >= self.run_bytes

    def spill(self, entries: dict[str, str], mark: int = 0) -> dict[str, str] | None:
        """What is held, handed to a thread that sorts it into the next run, and then to
        another that fsyncs it; ``entries`` (the checkpoint of the rows held) are written
        once it is durable, and ``complete_mark`` becomes ``mark`` (the caller's count of
        what the run covers). The run before it is waited for until written, and the one
        before that until durable: returned are the entries of the runs now durable, with
        the sort's (None if none is yet)."""
        assert self.spiller is not None
        self._written()
        self._make_directory()
        if self._executor is None or self._syncer is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="loader-spill")
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="loader-spill-sync")
        path = self.spiller.next_path(ahead=self._in_flight)
        held = self.spiller.take_held()
        self._flight = (self._executor.submit(self._write_run, self._syncer, path, held), path, _Entries(entries, mark))
        return self._durable(left=1)

    def _write_run(self, syncer: ThreadPoolExecutor, path: str, held: list[pa.RecordBatch]) -> Future[None]:
        # fsynced by the other thread: the next run is sorted meanwhile. The directory made again
        # if a load sharing it (run.temp_dir) removed it once empty since ``_make_directory``.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_sorted_run(path, held, self.keep, durable=False)
        return syncer.submit(make_durable, path)

    def wait(self) -> dict[str, str] | None:
        """Every run in flight, durable: their checkpoint entries with the sort's (None if none)."""
        self._written()
        return self._durable(left=0)

    def _written(self) -> None:
        """The run being written, waited for: it joins the runs being fsynced."""
        if self._flight is None:
            return
        future, path, entries = self._flight
        self._flight = None
        try:
            synced = future.result()
        except OSError as exc:
            self._failed(exc)
        self._syncing.append((synced, path, entries))

    def _durable(self, left: int) -> dict[str, str] | None:
        """The runs fsynced, in order, added to the complete runs (waited for until no
        more than ``left`` are still being fsynced): their checkpoint entries with the
        sort's (None if none)."""
        assert self.spiller is not None
        done: dict[str, str] | None = None
        while self._syncing and (len(self._syncing) > left or self._syncing[0][0].done()):
            future, path, entries = self._syncing.popleft()
            try:
                future.result()
            except OSError as exc:
                self._syncing.clear()  # the runs after it are not complete either
                self._failed(exc, done)
            done = self._complete(path, entries, done)
        return None if done is None else done | self.state.entry()

    def _complete(self, path: str, entries: _Entries, done: dict[str, str] | None) -> dict[str, str]:
        """A durable run added to the complete runs; its checkpoint entries over ``done``."""
        assert self.spiller is not None
        self.spiller.runs.append(path)
        self.state.runs = self.spiller.runs  # one list: a copy per run grew with the runs
        self.complete_mark = entries.mark
        return (done or {}) | entries.entries

    def _failed(self, exc: OSError, done: dict[str, str] | None = None) -> NoReturn:
        """A run not written or not fsynced: the runs before it that are durable are
        complete (their checkpoint entries, with ``done``, those of runs already found
        durable, in ``salvaged``), the others removed, and the error raised."""
        assert self.spiller is not None
        if self._flight is not None:
            self._flight[0].exception()
            self._flight = None
        while self._syncing and self._syncing[0][0].exception() is None:
            _, path, entries = self._syncing.popleft()
            done = self._complete(path, entries, done)
        self.salvaged = None if done is None else done | self.state.entry()
        self.close()
        self._remove_stale(keep=set(self.spiller.runs))
        raise self._spill_error(exc) from None

    def _spill_error(self, exc: OSError) -> SinkError:
        full = exc.errno == errno.ENOSPC
        return SinkError(
            "the run directory is full" if full else f"cannot write a sorted run: {exc.strerror}",
            file=self.directory,
            hint=("free space or set run.temp_dir to a larger disk; " if full else "") + RESUME_HINT,
        )

    def end_spill(self, entries: dict[str, str], mark: int = 0) -> Iterator[dict[str, str]]:
        """The input is done: the last run written, the merge begins. Yields the
        checkpoint entries that become durable, in order (the last names the merge, and
        covers ``mark``)."""
        if not self.spilling:
            return
        assert self.spiller is not None
        if self.spiller.held_rows:
            done = self.spill(entries, mark)
            entries = {}
            if done is not None:
                yield done
        last = self.wait() or {}
        self._end_threads()  # every run is durable; and a merge forks only without other threads
        self.spiller = None
        self.state.phase = "merge"
        self.complete_mark = mark
        yield last | entries | self.state.entry()

    def close(self) -> None:
        """Runs in flight are waited for (not recorded: a rerun removes them)."""
        if self._flight is not None:
            self._flight[0].exception()
            self._flight = None
        self._end_threads()
        self._syncing.clear()

    def _end_threads(self) -> None:
        for executor in (self._executor, self._syncer):
            if executor is not None:
                executor.shutdown(wait=True)
        self._executor = self._syncer = None

    def merge_groups(self, processes: int = 1) -> Iterator[dict[str, str]]:
        """More runs than the merge takes at once (``max_fan_in`` of a run's bytes):
        consecutive runs from the first are merged into longer runs in their place (input
        order kept, so ties resolve as before), no more of them than it takes to bring the
        count down to the fan-in. A group is merged by up to ``processes`` forked processes
        at once (``split_ranges``), into a run per key range. Yields the checkpoint entries
        after each group (the new runs durable; the group's runs are removed after)."""
        runs = self.state.runs  # their rows' width matters only where there are more than the fewest taken
        fan_in = max_fan_in(self.run_bytes, widest_row(runs) if len(runs) > MIN_FAN_IN else 0.0)
        processes = processes if processes > 1 and can_fork(idle_pools=True) else 1  # the runs a group becomes, at most
        while len(self.state.runs) > fan_in:
            self._make_directory()  # the merged runs' (the runs may all be in an earlier run's)
            runs = self.state.runs
            size = min(fan_in, len(runs) - fan_in + processes)
            done: list[str] = []
            start = 0
            while start < len(runs) and len(done) + len(runs) - start > fan_in:
                group = runs[start : start + size]
                try:
                    done += self._merge_group(group, processes if len(group) > processes else 1)
                except OSError as exc:
                    raise self._spill_error(exc) from None
                start += len(group)
                size = min(fan_in, len(done) + len(runs) - start - fan_in + processes)
                self.state.runs = done + runs[start:]
                yield self.state.entry()
                self._remove_stale(keep=set(self.state.runs))

    def _merge_group(self, group: list[str], processes: int) -> list[str]:
        """``group`` merged into one run, or into a run per key range by forked processes
        (runs of disjoint keys: their order among the others does not matter)."""
        held = self._merge_held(len(group))
        ranges = split_ranges(group, processes)
        if not ranges:
            path = self._merged_path(group[0])
            write_merged_run(path, merge_runs(group, self.keep, held_bytes=held))
            return [path]
        paths = [self._merged_path(group[0], str(i)) for i in range(len(ranges))]

        def merge_range(i: int) -> None:
            after, through = ranges[i]
            write_merged_run(paths[i], merge_runs(group, self.keep, after=after, through=through, held_bytes=held))

        done = fork_map(merge_range, range(len(ranges)), check=stopping.check)
        self.add_worker_peak(max(peak for _, peak in done))
        return paths

    def add_worker_peak(self, mb: float) -> None:
        self.worker_peak_rss_mb = max(self.worker_peak_rss_mb or 0.0, mb)

    def _merged_path(self, first: str, piece: str = "") -> str:
        """A name for a merged group (or its ``piece``) that sorts with the runs' and is new."""
        name = os.path.basename(first)[len(self.prefix) :].removesuffix(".arrow")
        return os.path.join(self.directory, f"{self.prefix}{name}m{piece}.arrow")

    def _merge_held(self, runs: int) -> int:
        """What the merge of ``runs`` reads ahead: a couple of batches of each run (fewer
        made each merge step end early), within what one run held while the input was read."""
        return min(self.run_bytes // 2, max(MERGE_HELD_BYTES, runs * MERGE_RUN_READ))

    def merge_held_bytes(self) -> int:
        """What the merge of every run reads ahead."""
        return self._merge_held(len(self.state.runs))

    def merged(self) -> Iterator[pa.Table]:
        return merge_runs(self.state.runs, self.keep, after=self.state.after, held_bytes=self.merge_held_bytes())

    def finished(self) -> None:
        """Every run merged: the phase back to direct. The caller checkpoints that, then
        calls ``remove_runs``: a checkpoint never names a run that is gone."""
        self.state = SortState()

    def remove_runs(self) -> None:
        """The runs, once a checkpoint says the merge is done."""
        self._remove_stale(keep=set())

    def _remove_stale(self, keep: set[str]) -> None:
        """Run files of this target's job other than ``keep`` (partial ones, or after the merge
        all), in the run directory and in those an earlier run's checkpoint named runs in."""
        self._remove_stale_in(self.directory, keep)
        self._made = self._made and os.path.isdir(self.directory)
        here = {os.path.realpath(self.directory)}
        for directory in sorted(self._earlier_dirs):
            if os.path.realpath(directory) not in here:
                here.add(os.path.realpath(directory))
                self._remove_stale_in(directory, keep)

    def _remove_stale_in(self, directory: str, keep: set[str]) -> None:
        """Run files of this target's job in ``directory`` other than ``keep``: those named
        by its prefix (and in the target's own directory an older loader's, ``run_prefix``), and
        the runs its checkpoint named; and the directory, when none is kept and it is one this
        run may remove (``_removable``) and is empty. Compared as real paths: a rerun may spell the directory otherwise
        (relative, through a symlink) than the run whose checkpoint named the runs."""
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return
        here = os.path.realpath(directory)
        kept, inherited = _names_in(keep, here), _names_in(self._inherited, here)
        prefixes = (self.prefix, self._legacy) if here == self._home else (self.prefix,)
        for name in names:
            if (name.startswith(prefixes) or name in inherited) and name not in kept:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(directory, name))
        if not kept and here in self._removable:
            with contextlib.suppress(OSError):  # not empty: another job's runs, or the user's files
                os.rmdir(directory)
