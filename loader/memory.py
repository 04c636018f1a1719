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
import os
from collections.abc import Iterator

import pyarrow as pa

from .config import JobConfig, SinkConfig, infer_format
from .errors import ConfigError


@contextlib.contextmanager
def gc_paused(*, release_at_once: bool = False) -> Iterator[None]:
    """No full collections during bulk work: chunks make no reference cycles,
    and the collector would otherwise walk every live object again and again.
    Young-generation collections still run at each commit.

    Arrow allocates from jemalloc meanwhile (unless ARROW_DEFAULT_MEMORY_POOL
    chooses): pyarrow's default, mimalloc, kept 30-80 MB more resident for the
    same work in measurements (per-thread caches), and peak RSS is a target.
    ``release_at_once`` (under ``run.max_memory``) has jemalloc return freed
    pages immediately instead of after its 1 s decay: Parquet -> SQLite at
    100 MB peaked at 98 MB instead of 103 MB."""
    was = gc.isenabled()
    # No collection first: after the imports it found nothing, and a library
    # user's process may hold millions of objects for it to walk.
    gc.freeze()
    gc.disable()
    pool = pa.default_memory_pool()
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    decay = release_at_once and pa.default_memory_pool().backend_name == "jemalloc"
    if decay:
        pa.jemalloc_set_decay_ms(0)
    try:
        yield
    finally:
        if decay:
            pa.jemalloc_set_decay_ms(JEMALLOC_DECAY_MS)
        pa.set_memory_pool(pool)
        gc.unfreeze()
        if was:
            gc.enable()


JEMALLOC_DECAY_MS = 1000  # Arrow's own setting for its jemalloc


# What the process holds before any data, at the smallest sizes (Python, the
# libraries' pages, SQLite's 4 MiB page cache, Parquet's page buffers, LevelDB's
# memtables and the tables its compaction maps), measured per reader and sink
# with jemalloc returning freed pages at once on the bench data. LevelDB's with
# scrambled keys (1M rows; 1 MiB write buffer, 256 KiB tables, 74 open files): its
# compaction merges overlapping tables then, and the pages of every table it reads
# stay resident (mapped) until the table is deleted.
FLOOR_MB = {("csv", "sqlite"): 75, ("parquet", "sqlite"): 91, ("csv", "leveldb"): 117, ("parquet", "leveldb"): 132}
# Room above the floor kept for run-to-run variation (LevelDB's compaction timing):
# never shared out among the sizes.
FLOOR_MARGIN_MB = 8
# Peak RSS per MiB of CSV block (raw bytes, the parsed table and its converted
# columns are alive together): 64 KiB -> 87 MB, 256 KiB -> 95 MB, 512 KiB -> 105 MB.
BLOCK_MB_PER_MIB = 40
# Resident bytes per row in flight, at 10 mixed columns: Arrow columns plus what
# the writer takes (Arrow columns for SQLite, Python bytes for LevelDB).
ROW_BYTES = 250
LEVELDB_ROW_BYTES = 600
# LevelDB's sizes above the smallest (what FLOOR_MB was measured with): each MiB of
# write buffer is two memtables plus a level-0 table in each compaction that maps
# them all (up to 8); each MiB of table file is ~11 tables one compaction maps (a
# table and the ~10 it overlaps one level down).
LEVELDB_MIN_BUFFER = 1 << 20
LEVELDB_MIN_FILE = 256 << 10
LEVELDB_MB_PER_BUFFER_MIB = 10
LEVELDB_MB_PER_FILE_MIB = 12
# Each open table is mapped, and opening it faults in its index and the pages
# around it: at the smallest sizes 1000 open tables peaked at 134 MB, 74 (LevelDB's
# least) at 117 MB (CSV -> LevelDB, scrambled keys).
LEVELDB_MIN_OPEN_FILES = 74
LEVELDB_OPEN_FILES_PER_MB = 16


def pair(job: JobConfig) -> tuple[str, str]:
    """The job's reader and sink, as FLOOR_MB names them."""
    paths = job.source.path
    parquet = (job.source.format or (infer_format(paths[0]) if paths else None)) == "parquet"
    return "parquet" if parquet else "csv", "leveldb" if job.sink.type == "leveldb" else "sqlite"


def lowest_ceiling_mb(job: JobConfig) -> int:
    """The lowest ``run.max_memory`` this job's reader and sink can keep to."""
    return FLOOR_MB[pair(job)] + FLOOR_MARGIN_MB


def current_rss_mb() -> float:
    """Resident memory now (not the peak), from /proc where there is one."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


# Copies of a long row alive at once while it loads (read buffer, parsed column,
# converted batch, the bound SQLite value), with room for the read buffer's growth.
ROW_COPIES = 8


def fit_memory(job: JobConfig) -> JobConfig:
    """Shrink the CSV row cap, CSV block, chunk, batch and LevelDB sizes to fit ``run.max_memory``.

    The room above the runtime's own footprint is shared out by what each size
    was measured to cost: the CSV block first (it dominates), then rows in
    flight (a chunk being written, ``read_ahead`` queued, one being built), then
    LevelDB's WriteBatch, memtables and the tables its compaction maps. Sizes
    only ever shrink from what the job asked for, and the read-ahead depth stays
    while there is room for it (without it the load ran 1.3x slower). A ceiling
    below the runtime's footprint is refused before anything is read.
    """
    limit = job.run.max_memory
    if limit is None:
        return job
    fmt, sink_type = pair(job)
    assert isinstance(limit, int)  # finish() parsed it
    lowest = lowest_ceiling_mb(job)
    if limit < lowest << 20:
        raise ConfigError(
            f"run.max_memory: {limit / (1 << 20):g} MB is below what {fmt} -> {sink_type} needs at its smallest sizes "
            f"({lowest} MB: the runtime and its libraries"
            + (", LevelDB's memtables and compaction" if sink_type == "leveldb" else "")
            + ")",
            hint=f"set --max-memory {lowest}MB or more",
        )
    spare = limit / (1 << 20) - lowest  # MB
    # each worker parses a block of its own
    block = int(spare * 0.6 / BLOCK_MB_PER_MIB * (1 << 20) / (job.run.workers or 1))
    # a long row is held as read, as parsed and as written, in each worker
    longest = int(spare / ROW_COPIES * (1 << 20) / (job.run.workers or 1))
    assert isinstance(job.source.max_row_bytes, int)  # finish() parsed it
    source = dataclasses.replace(
        job.source,
        block_size=max(64 << 10, min(job.source.block_size, block)),
        max_row_bytes=max(64 << 10, min(job.source.max_row_bytes, longest)),
    )
    read_ahead = min(job.run.read_ahead, 2 if spare >= 8 else 1)
    leveldb = sink_type == "leveldb"
    row_bytes = LEVELDB_ROW_BYTES if leveldb else ROW_BYTES
    rows = int(spare * 0.3 * (1 << 20) / ((read_ahead + 2) * row_bytes))
    chunk = max(1024, min(job.run.chunk_size, rows))
    sink = job.sink
    if leveldb:
        sink = fit_leveldb(sink, chunk, spare)
    run = dataclasses.replace(job.run, chunk_size=chunk, read_ahead=read_ahead)
    return dataclasses.replace(job, source=source, sink=sink, run=run)


def fit_leveldb(sink: SinkConfig, chunk: int, spare: float) -> SinkConfig:
    """LevelDB's WriteBatch, write buffer, table file, open tables and block cache within their share of ``spare`` MB."""
    batch = max(chunk, min(int(sink.batch_size or chunk), int(spare * 0.2 * (1 << 20) / LEVELDB_ROW_BYTES)))
    buffer = LEVELDB_MIN_BUFFER + int(spare * 0.1 / LEVELDB_MB_PER_BUFFER_MIB * (1 << 20))
    table = LEVELDB_MIN_FILE + int(spare * 0.1 / LEVELDB_MB_PER_FILE_MIB * (1 << 20))
    return dataclasses.replace(
        sink,
        batch_size=batch,
        write_buffer_size=max(LEVELDB_MIN_BUFFER, min(sink.write_buffer_size, buffer)),
        max_file_size=max(LEVELDB_MIN_FILE, min(sink.max_file_size, table)),
        max_open_files=max(
            LEVELDB_MIN_OPEN_FILES,
            min(sink.max_open_files, LEVELDB_MIN_OPEN_FILES + int(spare * 0.05 * LEVELDB_OPEN_FILES_PER_MB)),
        ),
        lru_cache_size=max(64 << 10, min(sink.lru_cache_size, int(spare * 0.05 * (1 << 20)))),
    )


def chosen_sizes(job: JobConfig) -> dict[str, int]:
    """The sizes a run uses (after ``fit_memory``), for its report."""
    sizes = {"block_size": job.source.block_size, "read_ahead": job.run.read_ahead}
    assert isinstance(job.source.max_row_bytes, int)
    sizes["max_row_bytes"] = job.source.max_row_bytes
    if job.sink.type == "leveldb":
        sink = job.sink
        sizes.update(
            write_buffer_size=sink.write_buffer_size,
            max_file_size=sink.max_file_size,
            max_open_files=sink.max_open_files,
            lru_cache_size=sink.lru_cache_size,
        )
    return sizes
