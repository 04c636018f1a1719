"""The LevelDB sink: a key per row from a template, values as JSON or one raw column."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk
from ..errors import ConfigError
from ..spill import is_sorted
from .base import Encoded, MemoryProfile, Peek, SinkBase, at_most, reject_null_keys, reject_repeated_map_keys

if TYPE_CHECKING:
    from ..config import RunConfig, SinkConfig, SourceConfig
    from ..schema import TextForm
    from ..writers.base import Writer
    from ..writers.encode import KeyTemplate

# LevelDB's sizes above the smallest (what the floors were measured with): each MiB of
# write buffer is two memtables plus a level-0 table in each compaction that maps
# them all (up to 8); each MiB of table file is ~11 tables one compaction maps (a
# table and the ~10 it overlaps one level down). Figures in bench/NOTES.md.
MIN_BUFFER = 1 << 20
MIN_FILE = 256 << 10
MB_PER_BUFFER_MIB = 10
MB_PER_FILE_MIB = 12
# Each open table is mapped, and opening it faults in its index and the pages around it.
MIN_OPEN_FILES = 74
OPEN_FILES_PER_MB = 16
ROW_BYTES = 600
# Sorted runs: the smallest, and the share of the room above the floor a run may take
# (held, then sorted into a copy: twice its size at the sort).
MIN_RUN = 256 << 10
RUN_SHARE = 0.15
# Sorted, at the smallest sizes: Parquet's reader holds a decoded page and a dictionary
# per column (bench/NOTES.md).
SORTED_FLOOR_MB = {"csv": 89, "parquet": 95, "jsonl": 89, "arrow": 89}
# Sorted, the floors are the highest peaks measured, and no compaction of scrambled
# tables makes them vary: peaks at the smallest sizes spread over 3.6 MB from 1M to 16M
# rows (bench/NOTES.md).
SORTED_MARGIN_MB = 5
# Sorted, a CSV block's rows are soon encoded bytes in a run (the run's own share), and
# LevelDB holds none of them: under half the cost of a block at the base rate, measured
# up to 150 MB on 10, 200 and 3-column (2 KB text) files (bench/NOTES.md).
SORTED_BLOCK_MB_PER_MIB = 16

# Rows turned into Python bytes at a time: a slice this size reuses the pymalloc
# arena the last one freed, where a whole chunk's took fresh ones (bench/NOTES.md).
PUT_SLICE = 1024


# ``sink.value = "column:NAME"``: the column NAME, whatever its name (``column:json``)
COLUMN_PREFIX = "column:"


def value_column(value: str) -> str | None:
    """The column ``sink.value`` stores raw; None for ``json``, each row's columns as a JSON object."""
    if value == "json":
        return None
    return value.removeprefix(COLUMN_PREFIX)


def as_bytes(keys: pa.Array, values: pa.Array) -> Iterator[tuple[list[bytes], list[bytes]]]:
    for start in range(0, len(keys), PUT_SLICE):
        yield keys.slice(start, PUT_SLICE).to_pylist(), values.slice(start, PUT_SLICE).to_pylist()


def stage(batch: Any, keys: pa.Array, values: pa.Array) -> Any:
    """``batch`` (a WriteBatch) with a put of each key and value."""
    for ks, vs in as_bytes(keys, values):
        collections.deque(map(batch.put, ks, vs), maxlen=0)  # the loop in C
    return batch


@dataclass(frozen=True, slots=True)
class Puts:
    """A chunk's keys and values, their puts staged in a WriteBatch (None where the writer
    will not write them directly), and whether the keys ascend within the chunk."""

    keys: pa.Array
    values: pa.Array
    staged: Any
    ascending: bool


class LevelDBEncoder:
    """Each row's key and value as bytes; rows whose key would be null go to the rejects, and
    rows whose key or value holds a map that repeats a key (its JSON would keep one value).

    With ``buffers`` (every mode but ``ignore``) the puts are staged in an empty
    WriteBatch taken from it: an in-memory buffer, written only by the writer's
    commit. Staging here, off the writing thread, keeps plyvel's GIL release and
    retake on every put away from the writer (bench/NOTES.md). ``buffers`` gives
    None while the writer sorts (the keys and values go to a run instead), and
    ``ignore`` must look up each key as it writes: neither stages. ``check_order``
    (``sink.sort = auto``) says whether the chunk's keys ascend."""

    def __init__(
        self, template: KeyTemplate, value: str, buffers: Callable[[], Any] | None, check_order: bool = False
    ) -> None:
        self.template = template
        self.column = value_column(value)
        self.buffers = buffers
        self.check_order = check_order

    def __call__(self, chunk: Chunk) -> Encoded:
        from ..writers.encode import UnfitKeys, json_objects, raw_values

        chunk = reject_null_keys(chunk, self.template.columns)
        # the columns the keys and values are made of: a map that repeats a key loses values
        stored = None if self.column is None else [*self.template.columns, self.column]
        chunk = reject_repeated_map_keys(chunk, stored)
        while True:
            if not chunk.batch.num_rows:
                return Encoded(chunk)
            try:
                keys = kernels.cast(self.template.render(chunk.batch), pa.binary())
                break
            except UnfitKeys as unfit:  # a key column's value its format spec cannot take
                chunk = chunk.reject(unfit.bad, unfit.reasons, stage="write", column=unfit.column)
        batch = chunk.batch
        values = json_objects(batch) if self.column is None else raw_values(batch.column(self.column))
        if not len(keys) == len(values) == batch.num_rows:
            raise ValueError(f"{len(keys)} keys and {len(values)} values for {batch.num_rows} rows")
        ascending = self.check_order and is_sorted(keys)
        staged = self.buffers() if self.buffers is not None else None
        if staged is not None:
            stage(staged, keys, values)
        return Encoded(chunk, Puts(keys, values, staged, ascending))


class LevelDBSink(SinkBase):
    default_batch_size = 8_192
    encoder_thread = True  # JSON values: about a third of a sorted load's CPU (bench/NOTES.md)
    name = "leveldb"
    suffixes: tuple[str, ...] = (".ldb", ".leveldb")
    keys = frozenset(
        {
            "key",
            "value",
            "sync",
            "write_buffer_size",
            "max_file_size",
            "max_open_files",
            "lru_cache_size",
            "block_size",
            "compression",
            "sort",
            "sort_run_size",
            "merge_processes",
        }
    )
    inner_files: tuple[str, ...] = (
        "CURRENT",
        "LOCK",
        "LOG",
        "LOG.old",
        "MANIFEST-000001",
        "000001.log",
        "000001.ldb",
        "000001.sst",
    )
    # Floors with scrambled keys at the smallest sizes (1 MiB write buffer, 256 KiB tables,
    # 74 open files): compaction maps every table it merges (bench/NOTES.md).
    memory = MemoryProfile(
        {"csv": 117, "parquet": 132, "jsonl": 117, "arrow": 117},
        row_bytes=ROW_BYTES,
        holds="LevelDB's memtables and compaction, or the sorted runs and their merge",
        batches_in_memory=True,
        # sorted, a commit's checkpoint entries wait for the sorted run that holds its rows:
        # 1,000 / 4,000 / 10,000 one-row CSV files peaked 4.0 / 4.6 / 6.6 KB a file above one
        file_kb=7.0,
        # a no-op run (processes) over 10,000 loaded files (a file: and a part: entry each, the
        # log holding them as text besides) peaked 40 MB above an empty one's: 2.0 KB an entry
        entry_kb=2.5,
    )

    def resolve(self, sink: SinkConfig, source: SourceConfig) -> SinkConfig:
        if not sink.key:
            raise ConfigError('sink.key: a leveldb sink needs a key template, e.g. "user:{id}"')
        if sink.mode == "ignore" and sink.sort == "always":
            raise ConfigError(
                'sink.sort: "always" does not apply to mode ignore',
                hint="ignore looks up each key in the store as it writes, in input order; use sort = auto or never",
            )
        if sink.merge_processes is not None and sink.merge_processes < 1:
            raise ConfigError("sink.merge_processes: expected 1 or more")
        if sink.sort_run_size < MIN_RUN:
            raise ConfigError(f"sink.sort_run_size: expected at least {MIN_RUN} bytes")
        return super().resolve(sink, source)

    def floor_mb(self, sink: SinkConfig, reader: str) -> int:
        # Sorted, LevelDB is written only by the merge, through table files or (into a
        # store with keys in the range) WriteBatches of sorted keys: no compaction of
        # scrambled tables to hold.
        return self.memory.floor_mb[reader] if sink.sort == "never" else SORTED_FLOOR_MB[reader]

    def margin_mb(self, sink: SinkConfig) -> int:
        return super().margin_mb(sink) if sink.sort == "never" else SORTED_MARGIN_MB

    def block_mb_per_mib(self, sink: SinkConfig) -> int:
        return super().block_mb_per_mib(sink) if sink.sort == "never" else SORTED_BLOCK_MB_PER_MIB

    def job_name(self, sink: SinkConfig, paths: list[str]) -> str:
        return f"key:{sink.key}"

    def plan_line(self, sink: SinkConfig, paths: list[str]) -> str:
        return f"target: leveldb {sink.path}, key {sink.key!r}, value {sink.value!r}, mode {sink.mode}"

    def check_schema(self, sink: SinkConfig, schema: pa.Schema, entries: dict[str, str] | None = None) -> None:
        from ..writers import leveldb_keys
        from ..writers.encode import KeyTemplate
        from ..writers.leveldb import check_schema

        template = KeyTemplate(str(sink.key))
        check_schema(sink, schema, template)
        if entries:  # the dry run: refused as the load's prepare refuses it
            leveldb_keys.check(sink, template, schema, entries.get(leveldb_keys.KEYS_ENTRY))

    def warnings(self, sink: SinkConfig, schema: pa.Schema) -> list[str]:
        from ..writers.encode import KeyTemplate

        out = KeyTemplate(str(sink.key)).run_together(schema)
        if sink.value == "json" and "json" in schema.names:  # the whole row wins: say how to name the column
            out.append(
                'value "json" stores each row as a JSON object of its columns, not the column named json; '
                f'"{COLUMN_PREFIX}json" stores that column'
            )
        return out

    def named_columns(self, entries: dict[str, str], declared: dict[str, str]) -> list[str]:
        """The columns the record of the job's keys holds (``leveldb_keys.columns``): it
        outlives --restart, as the keys do."""
        from ..writers import leveldb_keys

        return leveldb_keys.columns(entries.get(leveldb_keys.KEYS_ENTRY))

    def gone(self, sink: SinkConfig) -> str | None:
        from ..writers.leveldb import store_gone

        return store_gone(sink.path)

    def peek(self, sink: SinkConfig, paths: list[str], job: str) -> Peek:
        from ..writers.leveldb import peek

        return Peek(peek(sink.path, job), {})

    def fit_memory(self, sink: SinkConfig, chunk: int, spare_mb: float) -> SinkConfig:
        """The WriteBatch, write buffer, table file, open tables and block cache within their share."""
        batch = at_most(int(sink.batch_size or chunk), int(spare_mb * 0.2 * (1 << 20) / ROW_BYTES), chunk)
        buffer = MIN_BUFFER + int(spare_mb * 0.1 / MB_PER_BUFFER_MIB * (1 << 20))
        table = MIN_FILE + int(spare_mb * 0.1 / MB_PER_FILE_MIB * (1 << 20))
        open_files = MIN_OPEN_FILES + int(spare_mb * 0.05 * OPEN_FILES_PER_MB)
        run = int(spare_mb * RUN_SHARE * (1 << 20))
        return replace(
            sink,
            batch_size=batch,
            write_buffer_size=at_most(sink.write_buffer_size, buffer, MIN_BUFFER),
            max_file_size=at_most(sink.max_file_size, table, MIN_FILE),
            max_open_files=at_most(sink.max_open_files, open_files, MIN_OPEN_FILES),
            lru_cache_size=at_most(sink.lru_cache_size, int(spare_mb * 0.05 * (1 << 20)), 64 << 10),
            sort_run_size=at_most(sink.sort_run_size, run, MIN_RUN),
        )

    def sizes(self, sink: SinkConfig) -> dict[str, int]:
        return {
            "write_buffer_size": sink.write_buffer_size,
            "max_file_size": sink.max_file_size,
            "max_open_files": sink.max_open_files,
            "lru_cache_size": sink.lru_cache_size,
            "sort_run_size": sink.sort_run_size,
        }

    def encoder(self, sink: SinkConfig, writer: Writer, forms: Mapping[str, TextForm] | None = None) -> LevelDBEncoder:
        from ..writers.leveldb import LevelDBWriter

        assert isinstance(writer, LevelDBWriter)  # (``forms``: a store has no columns of text to match)
        buffers = None if sink.mode == "ignore" else writer.encoder_batch
        return LevelDBEncoder(writer.template, sink.value, buffers, check_order=writer.sorts == "auto")

    def check_checkpoint(self, sink: SinkConfig, run: RunConfig, entries: dict[str, str]) -> None:
        from ..writers.leveldb_sort import SORT_ENTRY, committed_sort, missing_runs, runs_gone

        runs = committed_sort(entries.get(SORT_ENTRY), _runs_dir(sink, run)).runs
        missing = missing_runs(runs)
        if missing:
            raise runs_gone(runs, missing)

    def open_writer(self, sink: SinkConfig, paths: list[str], run: RunConfig | None = None) -> Writer:
        from ..writers.leveldb import LevelDBWriter

        return LevelDBWriter(
            sink,
            temp_dir=_runs_dir(sink, run),
            input_bytes=_input_bytes(paths),
            merge_processes=merge_processes(sink, run),
        )


def _runs_dir(sink: SinkConfig, run: RunConfig | None) -> str:
    """Where a load's sorted runs go: ``run.temp_dir``, else beside the store."""
    return run.temp_dir if run is not None and run.temp_dir else sink.path.rstrip("/\\") + ".runs"


def merge_processes(sink: SinkConfig, run: RunConfig | None) -> int:
    """``sink.merge_processes``, or unset one per usable CPU, 1 under a ceiling."""
    if sink.merge_processes is not None:
        return sink.merge_processes
    if run is not None and run.max_memory is not None:
        return 1
    from ..cpus import usable_cpus

    return usable_cpus()


def _input_bytes(paths: list[str]) -> int:
    """The inputs' size on disk, as far as it can be known (0 for standard input)."""
    from .. import storage
    from ..config import is_glob

    total = 0
    for pattern in paths:
        try:
            found = storage.glob(pattern) if is_glob(pattern) else [pattern]
        except Exception:  # a size for a free-space estimate is never a reason to fail
            continue
        total += sum(storage.size(p) or 0 for p in found)
    return total
