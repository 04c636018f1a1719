"""Memory discipline for a run: the collector paused, Arrow's pool chosen and
trimmed, and sizes fitted to ``run.max_memory``.

Peak RSS is a product target (the report carries it), so every technique
here was kept because a measurement showed it paid; see the README's
Performance section for the numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Iterator

import pyarrow as pa

from .config import JobConfig, infer_format


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
# memtables), measured per reader and sink on the bench data with jemalloc
# returning freed pages at once (`--max-memory 1MB`: the smallest sizes). Peaks,
# 3 runs each: CSV -> SQLite 74.6-74.7 MB, Parquet -> SQLite 90.6-90.7, CSV ->
# LevelDB 80.0-80.6 (2 parse workers), Parquet -> LevelDB 97.0-97.1.
FLOOR_MB = {("csv", "sqlite"): 75, ("parquet", "sqlite"): 91, ("csv", "leveldb"): 80, ("parquet", "leveldb"): 97}
# Peak RSS per MiB of CSV block (raw bytes, the parsed table and its converted
# columns are alive together): 64 KiB -> 87 MB, 256 KiB -> 95 MB, 512 KiB -> 105 MB.
BLOCK_MB_PER_MIB = 40
# Resident bytes per row in flight, at 10 mixed columns: Arrow columns plus what
# the writer takes (Arrow columns for SQLite, Python bytes for LevelDB).
ROW_BYTES = 250
LEVELDB_ROW_BYTES = 600


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
    """Shrink the CSV row cap, CSV block, chunk, batch and LevelDB write-buffer sizes to fit ``run.max_memory``.

    The room above the runtime's own footprint is shared out by what each size
    was measured to cost: the CSV block first (it dominates), then rows in
    flight (a chunk being written, ``read_ahead`` queued, one being built), then
    LevelDB's WriteBatch and memtables. Sizes only ever shrink from what the
    job asked for, and the read-ahead depth stays while there is room for it
    (without it the load ran 1.3x slower). Below the runtime's footprint there
    is nothing to shrink: the smallest sizes are used and the report's
    ``peak_rss_mb`` shows the outcome.
    """
    limit = job.run.max_memory
    if limit is None:
        return job
    assert isinstance(limit, int)  # finish() parsed it
    leveldb = job.sink.type == "leveldb"
    paths = job.source.path
    parquet = (job.source.format or (infer_format(paths[0]) if paths else None)) == "parquet"
    floor = FLOOR_MB["parquet" if parquet else "csv", "leveldb" if leveldb else "sqlite"]
    spare = max(limit / (1 << 20) - floor, 2.0)  # MB
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
    row_bytes = LEVELDB_ROW_BYTES if leveldb else ROW_BYTES
    rows = int(spare * 0.3 * (1 << 20) / ((read_ahead + 2) * row_bytes))
    chunk = max(1024, min(job.run.chunk_size, rows))
    sink = job.sink
    if leveldb:
        batch = max(chunk, min(int(sink.batch_size or chunk), int(spare * 0.2 * (1 << 20) / LEVELDB_ROW_BYTES)))
        # LevelDB keeps up to two memtables of this size resident
        buffer = max(1 << 20, min(sink.write_buffer_size, int(spare * 0.1 * (1 << 20))))
        sink = dataclasses.replace(sink, batch_size=batch, write_buffer_size=buffer)
    run = dataclasses.replace(job.run, chunk_size=chunk, read_ahead=read_ahead)
    return dataclasses.replace(job, source=source, sink=sink, run=run)
