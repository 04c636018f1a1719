"""Memory discipline for a run: the collector paused, Arrow's pool chosen and
trimmed, and sizes fitted to ``run.max_memory``.

Peak RSS is a product target (the report carries it), so every technique
here was kept because a measurement showed it paid; see docs/performance.md
for the numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import os
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from . import sinks
from .config import JobConfig, infer_format
from .errors import ConfigError, LoaderError
from .report import RunReport
from .sinks import Sink
from .sinks.base import FLOOR_MARGIN_MB, at_most


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No full collections during bulk work: chunks make no reference cycles,
    and the collector would otherwise walk every live object again and again.
    Young-generation collections still run at each commit (they walk only the young).

    Arrow allocates from jemalloc meanwhile (unless ARROW_DEFAULT_MEMORY_POOL
    chooses): pyarrow's default, mimalloc, kept more resident for the
    same work in measurements (per-thread caches), and peak RSS is a target.

    Both are the process's, so a library call borrows them: the first of any number of
    loads at once (threads, or a load inside a load) takes note of the collector and the
    pool, and the last to end sets them back. Frozen objects stay frozen (nothing here
    freezes or thaws), and jemalloc's own settings are left alone."""
    _borrow()
    try:
        yield
    finally:
        _give_back()


class _Borrowed:
    """The process state that loads running now changed, as it was before the first."""

    lock = threading.Lock()
    loads = 0
    gc_enabled = False
    pool: pa.MemoryPool | None = None  # the pool to set back; None: the loads did not switch it
    ours = ""  # the backend the loads switched to


def _borrow() -> None:
    with _Borrowed.lock:
        _Borrowed.loads += 1
        if _Borrowed.loads > 1:
            return
        _Borrowed.gc_enabled = gc.isenabled()
        # No collection first: after the imports it finds nothing, and a library
        # user's process may hold millions of objects for it to walk.
        gc.disable()
        _Borrowed.pool = None
        if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
            with contextlib.suppress(NotImplementedError):
                jemalloc = pa.jemalloc_memory_pool()
                if pa.default_memory_pool().backend_name != jemalloc.backend_name:
                    _Borrowed.pool = pa.default_memory_pool()
                    _Borrowed.ours = jemalloc.backend_name
                    pa.set_memory_pool(jemalloc)


def _give_back() -> None:
    with _Borrowed.lock:
        _Borrowed.loads -= 1
        if _Borrowed.loads:
            return
        # a pool the host chose meanwhile is its own to keep
        if _Borrowed.pool is not None and pa.default_memory_pool().backend_name == _Borrowed.ours:
            pa.set_memory_pool(_Borrowed.pool)
        _Borrowed.pool = None
        if _Borrowed.gc_enabled:
            gc.enable()


# What the Parquet floors hold of the reader's memory: ``parquet_pages.file_layout`` of
# the files they were measured with (the benchmark's: pyarrow, 100k-row groups, 1 MB
# pages, 10 columns; 11.1 MB from 1M to 16M rows), rounded up. Each column past those
# 10 adds its share of what is in flight at the smallest sizes, measured on a 200-column
# file into LevelDB (more than into SQLite: a row's JSON value holds every column again):
# rows of a Parquet chunk (1024 rows of the benchmark's width; of wider rows, as many
# bytes in fewer: ``scaled_rows``), or a CSV block's per-column arrays (its rows are cut
# by bytes). JSON Lines: a block's per-column tables as parsed and typed, measured into
# SQLite at its 88 MB floor: 500, 1,000 and 2,000 columns of numbers and short text peaked
# at 92, 98 and 118-122 MB (24 KiB a column names 100, 112 and 135 MB for them).
FLOOR_READER_MB = {"parquet": 12, "arrow": 1}  # Arrow: batches as large as a chunk, decoded
FLOOR_COLUMNS = 10
COLUMN_IN_FLIGHT_MB = {"parquet": 96 / 1024, "csv": 32 / 1024, "arrow": 32 / 1024, "jsonl": 24 / 1024}
# An Arrow IPC record batch is decoded whole: the batch and, while it is decoded, the body
# read for it (compressed or not). The floors were measured on batches no larger than a chunk;
# pyarrow's default 64Ki-row batches of the benchmark's rows (6 MB decoded, LZ4) peaked 11 MB
# above them.
ARROW_BATCH_COPIES = 2


@dataclasses.dataclass(frozen=True)
class ReaderNeed:
    """The input file whose reading needs the most memory beyond the floor: its columns
    and (Parquet) the MB of its pages and dictionaries, and its bytes per row."""

    path: str
    pages_mb: float
    columns: int
    reader: str = "parquet"
    row_bytes: float = 0.0

    @property
    def mb(self) -> float:
        per_column = COLUMN_IN_FLIGHT_MB[self.reader]
        if self.reader == "parquet":  # rows in flight: the smallest chunk, of this file's rows
            per_column *= scaled_rows(SMALLEST_CHUNK, RowWidth(self.path, self.row_bytes, "parquet")) / SMALLEST_CHUNK
        return self.pages_mb + max(0, self.columns - FLOOR_COLUMNS) * per_column

    @property
    def extra_mb(self) -> int:
        return max(0, math.ceil(self.mb) - FLOOR_READER_MB.get(self.reader, 0))

    def describe(self) -> str:
        if self.reader == "arrow":
            return (
                f"{self.mb:.0f} MB to read {self.path} as it was written ({self.columns} columns,"
                f" record batches of {self.pages_mb / ARROW_BATCH_COPIES:.1f} MB decoded)"
            )
        if self.reader == "parquet":
            return (
                f"{self.mb:.0f} MB to read {self.path} as it was written ({self.columns} columns,"
                f" {self.pages_mb:.0f} MB of pages and dictionaries)"
            )
        return f"{self.mb:.0f} MB for the {self.columns} columns of {self.path}"


def reader_need(job: JobConfig, files: list[str]) -> ReaderNeed | None:
    """The file among ``files`` that needs the most memory to read: how wide it is, and
    for Parquet how it was written (pages, dictionaries: ``parquet_pages``)."""
    return most_needed(reader_needs(job, files))


def most_needed(needs: list[ReaderNeed] | None) -> ReaderNeed | None:
    return max(needs or [], key=lambda n: n.mb, default=None)


def reader_needs(job: JobConfig, files: list[str]) -> list[ReaderNeed] | None:
    """What reading each of ``files`` needs, with its bytes per row (``input_width`` takes
    them, so a file's footer or head is read once): CSV and JSON Lines by the columns of their
    heads; Arrow IPC by its first record batch, with no width (counted at the benchmark's)."""
    paths = [f for f in files if f != "-"]
    fmt = job.source.format or (infer_format(paths[0]) if paths else None)
    if fmt == "parquet":
        from .readers.parquet_pages import file_layout

        needs = []
        for f in paths:
            pages, columns, row_bytes = file_layout(f)
            needs.append(ReaderNeed(f, pages, columns, row_bytes=row_bytes))
        return needs
    if fmt == "csv":
        heads = [(f, *_csv_head(job, f)) for f in paths]
        return [ReaderNeed(f, 0.0, columns, "csv", _csv_row_bytes(columns, line)) for f, columns, line in heads]
    if fmt == "jsonl":
        heads = [(f, *_jsonl_head(job, f)) for f in paths]
        return [ReaderNeed(f, 0.0, columns, "jsonl", line) for f, columns, line in heads]
    if fmt == "arrow":
        return [ReaderNeed(f, *_arrow_batch(f), "arrow") for f in paths]
    return None


def _arrow_batch(path: str) -> tuple[float, int]:
    """The MB an Arrow IPC file's first record batch holds while it is decoded (writers cut
    batches of one row count: the first is the largest) and the file's columns; (0, 0) where it
    cannot be read (the load says why)."""
    import pyarrow.ipc as ipc

    from . import storage

    try:
        with storage.open_arrow(path) as source:
            file = source.read(6) == b"ARROW1"
            source.seek(0)
            reader = ipc.open_file(source) if file else ipc.open_stream(source)
            columns = len(reader.schema)
            if file and reader.num_record_batches == 0:
                return 0.0, columns
            batch = reader.get_batch(0) if file else reader.read_next_batch()
            return ARROW_BATCH_COPIES * batch.nbytes / (1 << 20), columns
    except (LoaderError, OSError, pa.ArrowException, StopIteration):
        return 0.0, 0


def _csv_head(job: JobConfig, path: str) -> tuple[int, float]:
    """The columns of a CSV file's header and the bytes of its lines after it (``typical_line``;
    (0, 0) where it cannot be read: the load says why)."""
    from .readers.csv.header import read_head

    assert isinstance(job.source.max_row_bytes, int)
    try:
        head = read_head(path, job.source, job.source.max_row_bytes, None)
    except (LoaderError, OSError, UnicodeError):
        return 0, 0.0
    try:
        longest = job.source.max_row_bytes
        return len(head.raw_names), typical_line(head.pending, head.stream, job.source.block_size, longest)
    except (LoaderError, OSError):
        return len(head.raw_names), 0.0
    finally:
        head.stream.close()


# A width needs this many lines: a few long ones first (a 1 MB note in row 1) must not make
# every row of the file count as 1 MB wide; the longest of them are left out of the mean.
WIDTH_LINES = 64
WIDTH_BLOCKS = 8  # blocks read at most, to find them, past lines longer than a block
WIDTH_TRIM = 0.05


def typical_line(first: bytes, stream: Any, block_size: int, longest: int) -> float:
    """Mean bytes of the lines at the start of a file (``first`` and then ``stream``, read a
    block at a time until ``WIDTH_LINES`` whole lines are in), the longest ``WIDTH_TRIM`` of
    them left out once there are enough; the bytes read when no line ends in them.

    Lines longer than a block are read past (counted, not kept) without using up the
    ``WIDTH_BLOCKS`` blocks: one line longer than all of them first would otherwise stand for
    every row of the file. At most ``longest`` bytes of them (``source.max_row_bytes``: a
    longer row is rejected), so a file of long lines alone stops soon and counts as wide."""
    lengths: list[int] = []
    line = 0  # bytes of the line not ended yet
    long_bytes = 0  # of the ended lines longer than a block
    read = 0
    data = first
    while True:
        read += len(data)
        *ended, rest = data.split(b"\n")
        for piece in ended:
            lengths.append(line + len(piece) + 1)
            line = 0
            long_bytes += lengths[-1] if lengths[-1] > block_size else 0
        line += len(rest)
        past = long_bytes + (line if line > block_size else 0)  # bytes of long lines read past
        if len(lengths) >= WIDTH_LINES or past > longest or read - past >= WIDTH_BLOCKS * block_size:
            break
        data = stream.read(block_size)
        if not data:
            break
    if not lengths:
        return float(line)  # no whole line: a row at least that long
    lengths.sort()
    kept = lengths[: len(lengths) - int(len(lengths) * WIDTH_TRIM)] if len(lengths) >= WIDTH_LINES else lengths
    return sum(kept) / len(kept)


# The benchmark's rows (bench/gen.py: 10 columns of numbers, dates and short text) as
# ``input_width`` measures them, rounded up: Parquet 92 bytes decoded (from the footer),
# CSV 155 (115 a line, and 4 per column: a number's text is shorter than its 8 bytes),
# JSON Lines 212 a line; Arrow IPC as Parquet's, decoded. The sinks' row costs and ``run.chunk_size`` are for rows this
# wide: a row N times as wide counts as N rows.
BENCH_ROW_BYTES = {"parquet": 96, "csv": 160, "jsonl": 224, "arrow": 96}
CSV_COLUMN_BYTES = 4
# The fewest rows a chunk is made of, however wide: below that, per-chunk work dominates.
MIN_CHUNK_ROWS = 16
SMALLEST_CHUNK = 1024  # rows of the benchmark's width at the smallest sizes (the floors')
# Without a ceiling, the widest of this many files spread over the inputs is measured
# (a head or a footer each); with one, every file, as ``reader_need`` reads them all.
WIDTH_SAMPLE = 32


@dataclasses.dataclass(frozen=True)
class RowWidth:
    """How wide the rows of the input's widest file are: bytes per row as its reader
    measures them (``BENCH_ROW_BYTES``)."""

    path: str
    row_bytes: float
    reader: str

    @property
    def scale(self) -> float:
        """How many of the benchmark's rows one row costs (never fewer than one)."""
        return max(1.0, self.row_bytes / BENCH_ROW_BYTES[self.reader])


def scaled_rows(rows: int, width: RowWidth | None) -> int:
    """``rows`` of the benchmark's width, as rows of ``width``: as many bytes, in fewer rows."""
    if width is None:
        return rows
    return min(rows, max(MIN_CHUNK_ROWS, int(rows / width.scale)))


def input_width(job: JobConfig, files: list[str], needs: list[ReaderNeed] | None = None) -> RowWidth | None:
    """The widest of the input files (a sample of them without a ceiling): Parquet from
    its footer (``parquet_pages.row_bytes``), CSV and JSON Lines from their first lines;
    from ``needs`` where they measured them (``reader_needs``). None for standard input
    and Arrow IPC (counted at the benchmark's width)."""
    if needs is not None:
        return max((RowWidth(n.path, n.row_bytes, n.reader) for n in needs), key=lambda w: w.scale, default=None)
    paths = [f for f in files if f != "-"]
    if job.run.max_memory is None and len(paths) > WIDTH_SAMPLE:
        step = len(paths) / WIDTH_SAMPLE
        paths = [paths[int(i * step)] for i in range(WIDTH_SAMPLE)]
    fmt = job.source.format or (infer_format(paths[0]) if paths else None)
    if fmt == "parquet":
        from .readers.parquet_pages import file_row_bytes

        widths = [RowWidth(f, file_row_bytes(f), "parquet") for f in paths]
    elif fmt == "csv":
        widths = [RowWidth(f, _csv_row_bytes(*_csv_head(job, f)), "csv") for f in paths]
    elif fmt == "jsonl":
        widths = [RowWidth(f, _jsonl_head(job, f, columns=False)[1], "jsonl") for f in paths]
    else:
        return None
    return max(widths, key=lambda w: w.scale, default=None)


def _csv_row_bytes(columns: int, line: float) -> float:
    return line + CSV_COLUMN_BYTES * columns if line else 0.0


def _jsonl_head(job: JobConfig, path: str, *, columns: bool = True) -> tuple[int, float]:
    """The columns of a JSON Lines file's first block (``object_keys``; 0 unless ``columns``:
    a width alone parses no line) and the bytes of its lines at the start (``typical_line``);
    (0, 0) where it cannot be read (the load says why)."""
    from .readers.stream import open_stream

    assert isinstance(job.source.max_row_bytes, int)
    try:
        stream, _ = open_stream(path, job.source.encoding, "dir/*.jsonl")
    except (LoaderError, OSError):
        return 0, 0.0
    try:
        first = stream.read(job.source.block_size)
        keys = object_keys(first) if columns else 0
        return keys, typical_line(first, stream, job.source.block_size, job.source.max_row_bytes)
    except (LoaderError, OSError, UnicodeError):
        return 0, 0.0
    finally:
        stream.close()


def object_keys(block: bytes) -> int:
    """The most keys an object holds among the whole lines of ``block`` (up to ``WIDTH_LINES``
    of them): a JSON Lines file's columns, as a CSV header's names are (nested objects count
    as the one column they are); lines that are not objects count none."""
    most = 0
    for line in block.removeprefix(b"\xef\xbb\xbf").split(b"\n")[:-1][:WIDTH_LINES]:
        try:
            value = json.loads(line)
        except ValueError:  # a malformed line, rejected by the load
            continue
        most = max(most, len(value) if isinstance(value, dict) else 0)
    return most


def pair(job: JobConfig) -> tuple[str, Sink]:
    """The job's reader ("csv", "parquet", "jsonl" or "arrow", as the floors name them) and its sink."""
    paths = job.source.path
    return job.source.format or (infer_format(paths[0]) if paths else None) or "csv", sinks.get(str(job.sink.type))


# What ``run.engine = "dask"`` adds to every process under the ceiling: the coordinator
# imports Dask's client (30 MB resident), and local workers are forked from it. Peaks of
# CSV -> LevelDB under the same ceiling, dask against threads: +25 to +31 MB (bench/NOTES.md).
DASK_MB = 32
# What ``processes`` adds to its coordinator: the pool's pipes, queues and threads, and its
# parts' bookkeeping (measured on one file in 6 and in 703 parts: bench/NOTES.md).
PROCESSES_MB = 5


# By engine: what it adds to the floor of each of its processes, and a refusal's words for it
ENGINE_COSTS = {
    "dask": (DASK_MB, "Dask's client in every process"),
    "processes": (PROCESSES_MB, "the process pool"),
}


def engine_mb(job: JobConfig) -> int:
    """Resident MB the job's engine adds to the floor of each of its processes."""
    return ENGINE_COSTS.get(str(job.run.engine), (0, ""))[0]


def files_mb(files: int, sink: Sink) -> int:
    """Resident MB a run's records of ``files`` input files add into ``sink`` (none for one
    file): its plan, checkpoint state and report entry of each (``MemoryProfile.file_kb``)."""
    return math.ceil(max(0, files - 1) * sink.memory.file_kb / 1024)


# What an engine's coordinator holds for each part beyond what ``threads`` holds for its
# file: the part's task, its result and report entry, and its ``part:`` checkpoint entry
# (measured against threads on one-row files: bench/NOTES.md).
PART_KB = 6.0


def parts_mb(job: JobConfig, files: int) -> int:
    """Resident MB an engine's parts of ``files`` input files add to its coordinator (none
    under ``threads``, nor for one file: the floors hold its parts): a part of each file at least."""
    return 0 if job.run.engine == "threads" else math.ceil(max(0, files - 1) * PART_KB / 1024)


def entries_mb(entries: int, sink: Sink, files: int = 0) -> int:
    """Resident MB the job's checkpoint of ``entries`` entries adds into ``sink`` beyond the
    records of the run's ``files`` input files: a run reads and keeps it whole
    (``MemoryProfile.entry_kb``), but an input's own entry is the checkpoint state its record
    counts already (``files_mb``: a rerun of 4,000 loaded files peaked below their load), so
    only the entries beyond the inputs' count: files no longer among them, an engine's parts."""
    return math.ceil(max(0, entries - files) * sink.memory.entry_kb / 1024)


def lowest_ceiling_mb(job: JobConfig, need: ReaderNeed | None = None, files: int = 1, entries: int = 0) -> int:
    """The lowest ``run.max_memory`` this job's reader, sink and engine can keep to (with
    ``need``: for the input files it names the most demanding of; ``files``: how many;
    ``entries``: how many the job's checkpoint holds)."""
    fmt, sink = pair(job)
    floor = sink.floor_mb(job.sink, fmt) + sink.margin_mb(job.sink) + engine_mb(job)
    return floor + (need.extra_mb if need else 0) + files_mb(files, sink) + _beyond_files_mb(job, sink, files, entries)


def _beyond_files_mb(job: JobConfig, sink: Sink, files: int, entries: int) -> int:
    """The checkpoint's entries beyond the inputs' or an engine's parts, whichever is more: a
    rerun's checkpoint holds the parts' entries the first load made."""
    return max(entries_mb(entries, sink, files), parts_mb(job, files))


def _engine_words(job: JobConfig) -> str:
    """What the job's engine adds to the lowest figure, in a refusal's words."""
    mb, what = ENGINE_COSTS.get(str(job.run.engine), (0, ""))
    return f", {what} ({mb} MB)" if mb else ""


def current_rss_mb() -> float:
    """Resident memory now (not the peak), from /proc where there is one."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def fit_memory(
    job: JobConfig, need: ReaderNeed | None = None, width: RowWidth | None = None, files: int = 1, entries: int = 0
) -> JobConfig:
    """Shrink the CSV block, chunk, batch and LevelDB sizes to fit ``run.max_memory``, and
    chunks of rows wider than the benchmark's (``width``) to as many bytes, with or without it.

    The room above the runtime's own footprint is shared out by what each size
    was measured to cost: the CSV block first (it dominates), then rows in
    flight (a chunk being written, ``read_ahead`` queued, one being built, and one
    read ahead of the encoder where the sink gives it a thread of its own), then
    LevelDB's WriteBatch, memtables and the tables its compaction maps. Sizes
    only ever shrink from what the job asked for, and the read-ahead depth stays
    while there is room for it (without it the load ran slower). A ceiling
    below the runtime's footprint is refused before anything is read. ``need``: the
    input's most demanding Parquet file (``reader_need``), once the files are known;
    ``width``: how wide the input's rows are (``input_width``): a row costs that many of
    the benchmark's in flight, so a chunk holds proportionally fewer; ``files``: how many
    input files the run keeps a record of (``files_mb``); ``entries``: how many its job's
    checkpoint holds (``entries_mb``: those beyond the inputs' count), once read.
    """
    limit = job.run.max_memory
    if limit is None:
        return dataclasses.replace(
            job, run=dataclasses.replace(job.run, chunk_size=scaled_rows(job.run.chunk_size, width))
        )
    fmt, sink = pair(job)
    assert isinstance(limit, int)  # finish() parsed it
    lowest = lowest_ceiling_mb(job, need, files, entries)
    if limit < lowest << 20:
        reading = f", and {need.describe()}" if need is not None and need.extra_mb else ""
        if files_mb(files, sink):
            reading += f", and the run's records of its {files:,} input files ({files_mb(files, sink)} MB)"
        if parts_mb(job, files) and parts_mb(job, files) >= entries_mb(entries, sink, files):
            reading += f", and the {job.run.engine} engine's parts of them ({parts_mb(job, files)} MB)"
        elif entries_mb(entries, sink, files):
            reading += (
                f", and the job's checkpoint of {entries:,} entries, {entries - files:,} of them beyond "
                f"the input files' ({entries_mb(entries, sink, files)} MB)"
            )
        raise ConfigError(
            f"run.max_memory: {limit / (1 << 20):g} MB is below what {fmt} -> {sink.name} needs at its smallest sizes "
            f"({lowest} MB: the runtime and its libraries"
            + (f", {sink.memory.holds}" if sink.memory.holds else "")
            + _engine_words(job)
            + reading
            + ")",
            hint=f"set --max-memory {lowest}MB or more",
        )
    # the room shared out keeps the full margin: a sink whose floors vary less accepts a
    # lower ceiling (``Sink.margin_mb``), at the smallest sizes until that margin is met
    spare = max(0.0, limit / (1 << 20) - lowest - (FLOOR_MARGIN_MB - sink.margin_mb(job.sink)))  # MB
    # each worker parses a block of its own
    block = int(spare * 0.6 / sink.block_mb_per_mib(job.sink) * (1 << 20) / (job.run.workers or 1))
    # The row cap (source.max_row_bytes) is never lowered here: a quoted value longer than
    # the cap is rejected and its later lines read as rows, so a cap the user did not choose
    # would turn long text into wrong rows. A long row may take the peak past the ceiling
    # instead, which the report says (memory_exceeded).
    source = dataclasses.replace(job.source, block_size=at_most(job.source.block_size, block, 64 << 10))
    read_ahead = min(job.run.read_ahead, 2 if spare >= 8 else 1)
    # a chunk being written, the queued ones, one being encoded, and one being read
    # ahead of the encoder where it has a thread of its own (``Sink.encoder_thread``)
    in_flight = read_ahead + 2 + sink.encoder_thread
    row_bytes = sink.memory.row_bytes * (width.scale if width is not None else 1.0)
    rows = int(spare * 0.3 * (1 << 20) / (in_flight * row_bytes))
    chunk = at_most(scaled_rows(job.run.chunk_size, width), rows, scaled_rows(SMALLEST_CHUNK, width))
    run = dataclasses.replace(job.run, chunk_size=chunk, read_ahead=read_ahead)
    return dataclasses.replace(job, source=source, sink=sink.fit_memory(job.sink, chunk, spare), run=run)


# Resident bytes per byte of the small files' rows typed together (``csv.infer.SmallFiles``),
# as parsed: the rows, and a column at a time its values as one array and as text being guessed.
# Measured 1.1 (2 KB rows of 21 columns) to 1.9 (of 2: one column nearly all the bytes) above
# the floor under a 150 MB ceiling (bench/NOTES.md); 3 leaves the rest of the room unused.
SAMPLE_COPIES = 3


def sample_bytes(job: JobConfig) -> int:
    """What small CSV files' rows typed together may hold as parsed (``csv.infer.SmallFiles``):
    the room the run's CSV blocks get (``fit_memory``: each worker's block, at the sink's MB per
    MiB of it), none of which is in use while the load's types are settled, at
    ``SAMPLE_COPIES``. It follows ``run.max_memory`` as the blocks do."""
    sink = sinks.get(str(job.sink.type))
    room = job.source.block_size * (job.run.workers or 1) * sink.block_mb_per_mib(job.sink)
    return int(room / SAMPLE_COPIES)


def report_sizes(report: RunReport, job: JobConfig, chunk_size: int, batch_size: int) -> None:
    """The ceiling and the sizes a run uses (after ``fit_memory``), in its report."""
    limit = job.run.max_memory
    report.max_memory_mb = round(limit / (1 << 20), 1) if isinstance(limit, int) and limit else None
    report.chunk_size, report.batch_size = chunk_size, batch_size
    assert isinstance(job.source.max_row_bytes, int)
    sizes = {"block_size": job.source.block_size, "read_ahead": job.run.read_ahead}
    sizes["max_row_bytes"] = job.source.max_row_bytes
    report.sizes = sizes | sinks.get(str(job.sink.type)).sizes(job.sink)
