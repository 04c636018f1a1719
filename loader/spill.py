"""Sorted runs on disk and their streaming merge: how keys that arrive in any order reach
a sorted store in order, with memory bounded by one run.

A run is the keys and values of a stretch of the input, sorted by key (Arrow's stable
sort, in C) with duplicate keys resolved, in an Arrow IPC file. The merge reads every
run a batch at a time and yields key-ordered batches in which each key appears once:
the last value in input order (``keep="last"``) or the first (``keep="first"``). Runs
are numbered in input order, which is what breaks ties between runs.
"""

from __future__ import annotations

import bisect
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.ipc as ipc

from . import kernels  # without pyarrow.compute's import: order checks run on every LevelDB load
from .files import EarlyFsync, fsync_path

Keep = Literal["last", "first"]
SCHEMA = pa.schema([("key", pa.binary()), ("value", pa.binary())])
MERGE_BATCH_BYTES = 16 << 10  # bytes of a run's IPC batches: a read of a run holds one at least
WRITE_BUFFER = 1 << 20
EARLY_FSYNC_BYTES = 32 << 20  # a merged run's bytes written between two early fsyncs
# Bytes the merge reads ahead over all runs together: with few runs, each read takes
# several batches (fewer merge steps); with many, one batch each.
MERGE_HELD_BYTES = 2 << 20
MERGE_RUN_READ = 128 << 10  # read ahead per run when many are merged (a few of their batches)
# A run's IPC batches hold this many bytes at least (64 rows of ~256 bytes): smaller ones
# cost a call each for little memory. In bytes, not rows: the merge holds a batch or two of
# every run, and a floor in rows would hold 64 rows of every run however wide they are.
MIN_BATCH_BYTES = 16 << 10
MIN_FAN_IN = 8
SPLIT_SAMPLES = 16  # keys sampled per run to cut a merge into key ranges of about equal bytes
MAX_FAN_IN = 256  # a step costs a Python call per run
# Resident bytes the merge holds per run it takes at once: two read-ahead batches, and
# the run's piece of each step, copied by the concatenation, the sort and the block
# entries (130-150 KB a run measured with 16 KB batches; bench/NOTES.md).
MERGE_RUN_BYTES = 128 << 10
# The merge's memory in runs' bytes: a run is a share of the room under a ceiling (the
# CSV block's and the rows in flight, free once the input is read, are larger).
MERGE_RUNS = 3
# What the LevelDB floors already hold of a merge: 32 runs at once of their smallest
# runs (256 KiB), beyond ``MERGE_RUNS`` of those runs' bytes.
FLOOR_MERGE_BYTES = 32 * MERGE_RUN_BYTES - MERGE_RUNS * (256 << 10)


def max_fan_in(run_bytes: int, row_bytes: float = 0.0) -> int:
    """Runs of about ``run_bytes`` merged at once at most: the merge's memory within
    ``MERGE_RUNS`` runs' bytes beyond what the floors hold. More runs are first merged in
    groups into longer runs, which writes their data once more. ``row_bytes``: the runs'
    widest rows (``widest_row``); a batch holds one row at least, so rows wider than
    ``MERGE_BATCH_BYTES`` cost each run that many times ``MERGE_RUN_BYTES``."""
    per_run = MERGE_RUN_BYTES * max(1.0, row_bytes / MERGE_BATCH_BYTES)
    fan_in = int((MERGE_RUNS * run_bytes + FLOOR_MERGE_BYTES) // per_run)
    return max(MIN_FAN_IN, min(fan_in, MAX_FAN_IN, _open_files() // 4))


def widest_row(paths: Sequence[str]) -> float:
    """Bytes of a row (key and value) in the run of ``paths`` whose rows are widest, from
    each run's first batch (a run's rows are cut into batches of about one size)."""
    widest = 0.0
    for path in paths:
        with pa.OSFile(os.fsencode(path), "rb") as source:
            reader = ipc.open_file(source)
            batch = reader.get_batch(0) if reader.num_record_batches else None
            if batch is not None and batch.num_rows:
                widest = max(widest, batch.nbytes / batch.num_rows)
    return widest


def _batch_rows(data: pa.Table | pa.RecordBatch, batch_bytes: int) -> int:
    """Rows of ``data`` in about ``batch_bytes``."""
    return max(1, int(max(batch_bytes, MIN_BATCH_BYTES) * data.num_rows // max(data.nbytes, 1)))


def _open_files() -> int:
    """The files this process may have open (a run open per merged run, and LevelDB's)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1024
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def is_sorted(keys: pa.Array) -> bool:
    """Whether ``keys`` are in strictly increasing order (no duplicates)."""
    n = len(keys)
    if n < 2:
        return True
    return bool(kernels.all(kernels.less(keys.slice(0, n - 1), keys.slice(1))).as_py())


def _last_of_each(keys: pa.Array, keep: Keep) -> pa.Array:
    """For sorted keys, a mask of the one row to keep from each group of equal keys."""
    n = len(keys)
    if n < 2:
        return pa.array([True] * n)
    differs = kernels.not_equal(keys.slice(0, n - 1), keys.slice(1))
    if keep == "last":  # row i is kept if the next key differs, and the last row always
        return pa.concat_arrays([differs, pa.array([True])])
    return pa.concat_arrays([pa.array([True]), differs])


def _unique_order(table: pa.Table, keep: Keep) -> pa.Array:
    """Indices of ``table``'s rows sorted by ``key`` (stable: equal keys stay in input
    order), one per key."""
    order = kernels.sort_indices(table, sort_keys=[("key", "ascending")])
    keys = kernels.take(table.column("key"), order)
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    mask = _last_of_each(keys, keep)
    return order if kernels.all(mask).as_py() else kernels.filter(order, mask)


def sort_unique(table: pa.Table, keep: Keep) -> pa.Table:
    """Rows sorted by ``key`` (stable: equal keys stay in input order), one per key."""
    if table.num_rows == 0:
        return table
    return kernels.take(table, _unique_order(table, keep))


def _binary(arr: pa.Array) -> pa.Array:
    return arr if arr.type == pa.binary() else kernels.cast(arr, pa.binary())


def write_merged_run(path: str, tables: Iterator[pa.Table]) -> None:
    """Key-ordered tables (a merge of runs) written as one run, renamed into place whole.
    A merged run is long: its bytes go to the disk as it is written (``EarlyFsync``)."""
    written = 0
    with ipc_file(path) as out, EarlyFsync(partial_path(path)) as early:  # ended before the rename
        for table in tables:
            for batch in table.to_batches(max_chunksize=_batch_rows(table, MERGE_BATCH_BYTES)):
                out.write_batch(batch)
            written += table.nbytes
            if written >= EARLY_FSYNC_BYTES:
                early.start()
                written = 0


def partial_path(path: str) -> str:
    """Where ``ipc_file`` writes ``path`` until it is whole."""
    return path + ".partial"


@contextmanager
def ipc_file(path: str, schema: pa.Schema = SCHEMA, durable: bool = True) -> Iterator[ipc.RecordBatchFileWriter]:
    """An IPC file written under a temporary name (a dead writer's replaced), fsynced, and
    renamed to ``path`` once whole (the rename fsynced too); left unnamed on an error.
    ``durable=False``: renamed without either fsync (``make_durable`` does them later)."""
    tmp = partial_path(path)
    # buffered: an IPC batch is several small writes, a system call each unbuffered
    with (
        pa.OSFile(os.fsencode(tmp), "wb") as raw,
        pa.BufferedOutputStream(raw, WRITE_BUFFER) as sink,
        ipc.new_file(sink, schema) as out,
    ):
        yield out
    if durable:
        fsync_path(tmp)
    os.replace(tmp, path)
    if durable:
        fsync_path(os.path.dirname(os.path.abspath(path)))


def make_durable(path: str) -> None:
    """A file written with ``durable=False`` made what ``ipc_file`` makes: its bytes and
    its name on disk."""
    fsync_path(path)
    fsync_path(os.path.dirname(os.path.abspath(path)))


def write_sorted_run(path: str, held: list[pa.RecordBatch], keep: Keep, durable: bool = True) -> None:
    """Held rows sorted by key with duplicates resolved, written as the run ``path``: taken
    in sorted order a batch at a time from one combined copy (no sorted copy of the run).
    ``durable``: as ``ipc_file``'s."""
    table = pa.Table.from_batches(held, schema=SCHEMA)
    held.clear()
    order = _unique_order(table, keep)
    chunks = table.combine_chunks().to_batches()  # one chunk: taken from without resolving chunks
    del table  # the chunks go: the combined copy replaces them
    if not chunks:
        chunks = [pa.RecordBatch.from_pylist([], schema=SCHEMA)]
    rows = _batch_rows(chunks[0], MERGE_BATCH_BYTES)
    with ipc_file(path, durable=durable) as out:
        for start in range(0, len(order), rows):
            out.write_batch(kernels.take(chunks[0], order.slice(start, rows)))


@dataclass
class RunSpiller:
    """Collects keys and values; ``spill`` sorts what it holds into the next run file."""

    directory: str
    prefix: str
    keep: Keep = "last"
    runs: list[str] = field(default_factory=list)
    _held: list[pa.RecordBatch] = field(default_factory=list)
    held_rows: int = 0
    held_bytes: int = 0

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        batch = pa.RecordBatch.from_arrays([_binary(keys), _binary(values)], schema=SCHEMA)
        self._held.append(batch)
        self.held_rows += batch.num_rows
        self.held_bytes += batch.nbytes

    def take_sorted(self) -> pa.Table:
        """What is held, sorted with duplicates resolved; nothing is held after."""
        return sort_unique(pa.Table.from_batches(self.take_held(), schema=SCHEMA), self.keep)

    def take_held(self) -> list[pa.RecordBatch]:
        """What is held, in input order; nothing is held after."""
        held, self._held = self._held, []
        self.held_rows = self.held_bytes = 0
        return held

    def next_path(self, ahead: int = 0) -> str:
        """The next run's path, after ``ahead`` runs being written."""
        return os.path.join(self.directory, f"{self.prefix}{len(self.runs) + ahead:06d}.arrow")

    def spill(self, durable: bool = True) -> str | None:
        """Sort and write what is held as a run; its path (None when nothing is held).
        ``durable``: as ``ipc_file``'s."""
        if not self._held:
            return None
        path = self.next_path()
        write_sorted_run(path, self.take_held(), self.keep, durable)
        self.runs.append(path)
        return path


def run_bounds(paths: Sequence[str]) -> tuple[bytes, bytes]:
    """The smallest and the largest key over sorted runs (their first and last rows)."""
    firsts, lasts = [], []
    for path in paths:
        with pa.OSFile(os.fsencode(path), "rb") as source:
            reader = ipc.open_file(source)
            batches = [reader.get_batch(i) for i in (0, reader.num_record_batches - 1)]
            firsts.append(batches[0].column(0)[0].as_py())
            lasts.append(batches[1].column(0)[-1].as_py())
    return min(firsts), max(lasts)


def split_keys(paths: Sequence[str], parts: int, samples: int = SPLIT_SAMPLES) -> list[bytes]:
    """Up to ``parts - 1`` ascending keys that cut the runs' keys into ranges of about
    equal bytes: quantiles of the first keys of ``samples`` evenly spaced batches of each
    run, each weighted by its run's bytes per sample. Fewer where the keys are few."""
    sampled: list[tuple[bytes, float]] = []
    for path in paths:
        with pa.OSFile(os.fsencode(path), "rb") as source:
            reader = ipc.open_file(source)
            count = reader.num_record_batches
            picks = sorted({int((i + 0.5) * count / samples) for i in range(samples)})
            weight = os.path.getsize(path) / max(1, len(picks))
            for i in picks:
                keys = reader.get_batch(i).column(0)
                if len(keys):
                    sampled.append((keys[0].as_py(), weight))
    sampled.sort()
    total = sum(w for _, w in sampled)
    cuts: list[bytes] = []
    seen, part = 0.0, 1
    for key, weight in sampled:
        seen += weight
        while part < parts and seen >= total * part / parts:
            if not cuts or key > cuts[-1]:
                cuts.append(key)
            part += 1
    return cuts


def key_ranges(cuts: Sequence[bytes]) -> list[tuple[bytes | None, bytes | None]]:
    """The ranges ``split_keys``' cuts make, as ``merge_runs``' ``(after, through)``."""
    ends: list[bytes | None] = [*cuts, None]
    return [(None if i == 0 else cuts[i - 1], end) for i, end in enumerate(ends)]


class _Cursor:
    """One run read ahead about ``read_bytes`` at a time, as the batches it was written in
    (never copied into one); ``held`` is what of them is unmerged, each with its last key.

    The read-ahead is topped up whenever less than half of it is left, so every run
    always offers a wide key range: were a run refilled only once empty, its small
    remainders would make each merge step end at a nearby key, and the merge would take
    a step per batch of every run."""

    def __init__(self, path: str, read_bytes: int, after: bytes | None = None) -> None:
        # read, not mapped: pages of a mapped run stay resident (and count in RSS) once read
        self.source = pa.OSFile(os.fsencode(path), "rb")
        self.reader = ipc.open_file(self.source)
        self.next_batch = 0 if after is None else self._first_after(after)
        self.held: deque[tuple[pa.RecordBatch, bytes]] = deque()  # each with its last key
        self.want = 1
        self._fill()
        if self.held:  # a run's batches are of about one size: the read-ahead counted in them
            self.want = max(2, -(-read_bytes // max(1, self.held[0][0].nbytes)))
            self._fill()

    def _fill(self) -> None:
        count = self.reader.num_record_batches
        while self.next_batch < count and len(self.held) < self.want:
            batch = self.reader.get_batch(self.next_batch)
            self.next_batch += 1
            if batch.num_rows:
                self.held.append((batch, batch.column(0)[-1].as_py()))

    def _first_after(self, after: bytes) -> int:
        """The first batch whose last key is greater than ``after`` (a binary search
        reading a batch per probe): the batches before it hold nothing to merge."""
        lo, hi = 0, self.reader.num_record_batches
        while lo < hi:
            mid = (lo + hi) // 2
            batch = self.reader.get_batch(mid)
            if batch.num_rows and batch.column(0)[-1].as_py() > after:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def last_key(self) -> bytes:
        return self.held[-1][1]

    def take_through(self, bound: bytes, taken: list[pa.RecordBatch]) -> None:
        """The rows up to and including ``bound`` (a prefix, the run being sorted) added
        to ``taken``: whole batches, and a slice of the batch ``bound`` falls in."""
        held = self.held
        while held:
            batch, last = held[0]
            if last <= bound:
                taken.append(batch)
                held.popleft()
                continue
            n = bisect.bisect_right(_Keys(batch.column(0)), bound)
            if n:
                taken.append(batch.slice(0, n))
                held[0] = (batch.slice(n), last)
            break
        if len(held) <= self.want // 2:
            self._fill()

    def close(self) -> None:
        self.source.close()


class _Keys:
    """Sorted keys seen as a sequence of bytes, for ``bisect`` (a few lookups per search)."""

    def __init__(self, keys: pa.Array) -> None:
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> bytes:
        return self.keys[i].as_py()  # type: ignore[no-any-return]


def merge_runs(
    paths: Sequence[str],
    keep: Keep = "last",
    after: bytes | None = None,
    held_bytes: int = MERGE_HELD_BYTES,
    through: bytes | None = None,
) -> Iterator[pa.Table]:
    """Key-ordered tables of ``key``/``value``, each key once over all runs (later runs
    win for ``keep="last"``). ``after``: only keys greater than it (a merge resumed, or
    a key range's lower end); the batches of each run below it are skipped unread.
    ``through``: only keys up to it (a key range's upper end).

    Each step takes, from every run, the rows up to the smallest last key among the
    runs' read-ahead (``held_bytes`` over all runs together by their sizes, at least a
    batch of each):
    no run holds a row at or below that key any more, since each run's keys are unique
    and ascending. The pieces, concatenated in run order, are sorted by key with a stable
    sort, so of equal keys the later run's row comes last.
    """
    # each run's share by its size: a run many times longer than the others (a merged
    # group) with an equal share would cover a narrow range of keys, and end every step early
    sizes = [max(1, os.path.getsize(p)) for p in paths]
    total = sum(sizes)
    cursors = [_Cursor(p, max(1, held_bytes * size // total), after) for p, size in zip(paths, sizes, strict=True)]
    try:
        last = False
        while not last:
            live = [c for c in cursors if c.held]
            if not live:
                break
            bound = min(c.last_key() for c in live)
            if through is not None and bound >= through:
                bound, last = through, True  # this step is the range's last
            parts: list[pa.RecordBatch] = []
            runs = 0
            for c in live:
                had = len(parts)
                c.take_through(bound, parts)
                runs += len(parts) > had
            if runs == 1:  # one run's rows: already sorted, each key once
                yield _after(pa.Table.from_batches(parts), after)
            elif parts:
                # combined first: sorting and taking across a piece of each run cost more
                yield _after(sort_unique(pa.Table.from_batches(parts).combine_chunks(), keep), after)
    finally:
        for c in cursors:
            c.close()


def _after(table: pa.Table, after: bytes | None) -> pa.Table:
    if after is None or table.num_rows == 0:
        return table
    return kernels.filter(table, kernels.greater(table.column("key"), pa.scalar(after, pa.binary())))
