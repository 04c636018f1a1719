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

from .config import JobConfig


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No full collections during bulk work: chunks make no reference cycles,
    and the collector would otherwise walk every live object again and again.
    Young-generation collections still run at each commit.

    Arrow allocates from jemalloc meanwhile (unless ARROW_DEFAULT_MEMORY_POOL
    chooses): pyarrow's default, mimalloc, kept 30-80 MB more resident for the
    same work in measurements (per-thread caches), and peak RSS is a target."""
    was = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    pool = pa.default_memory_pool()
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        gc.unfreeze()
        if was:
            gc.enable()


# What the process holds before any data (Python, pyarrow's code and first-use
# buffers, SQLite's page cache): measured 100-115 MB with the smallest sizes;
# LevelDB adds ~20 MB of its own (table cache, compaction) beyond its write buffers.
RUNTIME_MB = 96
LEVELDB_MB = 20
# Resident bytes per row in flight (Arrow columns plus the Python values made
# from them), measured at 10 mixed columns: 23 MB more per 8192 more chunk rows.
ROW_BYTES = 700
LEVELDB_ROW_BYTES = 350  # a row's key and JSON value staged in a WriteBatch


def current_rss_mb() -> float:
    """Resident memory now (not the peak), from /proc where there is one."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def fit_memory(job: JobConfig) -> JobConfig:
    """Shrink chunk, batch, CSV block and LevelDB write-buffer sizes to fit ``run.max_memory``.

    The room above the runtime's own footprint is shared out: half to rows in
    flight (a chunk being written, ``read_ahead`` queued, one being parsed),
    the rest to the LevelDB WriteBatch and write buffers. Sizes only ever
    shrink from what the job asked for. Below the runtime's footprint there is
    nothing to shrink: the smallest sizes are used and the report's
    ``peak_rss_mb`` shows the outcome.
    """
    limit = job.run.max_memory
    if limit is None:
        return job
    assert isinstance(limit, int)  # finish() parsed it
    floor = RUNTIME_MB + (LEVELDB_MB if job.sink.type == "leveldb" else 0)
    spare = max(limit / (1 << 20) - floor, 4.0) * (1 << 20)
    read_ahead = min(job.run.read_ahead, 2 if spare >= 40 << 20 else 1)
    rows = int(spare * 0.5 / ((read_ahead + 2) * ROW_BYTES))
    chunk = max(1024, min(job.run.chunk_size, rows))
    batch = int(job.sink.batch_size or chunk)
    source = dataclasses.replace(job.source, block_size=max(64 << 10, min(job.source.block_size, int(spare * 0.05))))
    sink = job.sink
    if sink.type == "leveldb":
        batch = max(chunk, min(batch, int(spare * 0.2 / LEVELDB_ROW_BYTES)))
        # LevelDB keeps up to two memtables of this size resident
        buffer = max(1 << 20, min(sink.write_buffer_size, int(spare * 0.25 / 2)))
        sink = dataclasses.replace(sink, batch_size=batch, write_buffer_size=buffer)
    run = dataclasses.replace(job.run, chunk_size=chunk, read_ahead=read_ahead)
    return dataclasses.replace(job, source=source, sink=sink, run=run)
