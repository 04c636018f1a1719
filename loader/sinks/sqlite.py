"""The SQLite sink: a table in one database file, rows bound as Arrow columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..chunk import Chunk
from ..errors import ConfigError
from ..suggest import fold
from .base import Encoded, MemoryProfile, Peek, SinkBase, at_most, reject_null_keys, reject_repeated_map_keys

if TYPE_CHECKING:
    from ..config import RunConfig, SinkConfig, SourceConfig
    from ..schema import TextForm
    from ..writers.base import Writer


def default_table(paths: list[str]) -> str:
    """The table of a job that names none: the first file's name without its compression
    suffix and extension (``sales.2024-01.csv.gz`` gives ``sales.2024-01``; ``.hidden.csv``,
    ``.hidden``). Other dots stay: two months' files are two tables, not one ``sales``."""
    from ..config import COMPRESSED_SUFFIXES

    first = os.path.basename(paths[0]) if paths and paths[0] != "-" else "data"
    if first.lower().endswith(COMPRESSED_SUFFIXES):  # read decompressed in any case (``readers.stream``)
        first = os.path.splitext(first)[0]
    return os.path.splitext(first)[0] or "data"


class SQLiteEncoder:
    """A chunk's columns as SQLite stores them without loss; rows with a null in a
    primary-key column (``key``) go to the rejects, rows with a uint64 value above
    SQLite's signed 64-bit range too, rows with a map that repeats a key (its JSON text
    would keep one value), and rows whose value an existing table's number
    column (``numeric``: lower-case name -> affinity) would change into another number.
    Timestamps go into an existing column of date-time text in its form (``forms``: lower-case
    name -> ``TextForm``). No database: any thread."""

    def __init__(
        self,
        numeric: Mapping[str, str] | None = None,
        key: tuple[str, ...] = (),
        forms: Mapping[str, TextForm] | None = None,
    ) -> None:
        self.numeric = dict(numeric or {})
        self.key = key
        self.forms = dict(forms or {})

    def __call__(self, chunk: Chunk) -> Encoded:
        from ..writers.encode import affinity_loss, sqlite_array, uint64_overflow

        # SQLite stores a null key: an INTEGER PRIMARY KEY makes it the next rowid (which
        # a later row of the load then overwrites), any other key never conflicts
        chunk = reject_null_keys(chunk, self.key, fold_case=True)
        for i, name in enumerate(chunk.batch.schema.names):
            # the column as it is now: a reject by an earlier column has dropped rows
            mask = uint64_overflow(chunk.batch.column(i))
            if mask is not None:
                chunk = chunk.reject(mask, "value exceeds SQLite's 64-bit integer range", stage="write", column=name)
        chunk = reject_repeated_map_keys(chunk)
        batch = chunk.batch
        if not batch.num_rows:
            return Encoded(chunk)
        columns = [
            sqlite_array(c, self.forms.get(fold(n))) for n, c in zip(batch.schema.names, batch.columns, strict=True)
        ]
        for name, col in zip(batch.schema.names, columns, strict=True):
            affinity = self.numeric.get(fold(name))
            if affinity is not None:
                lost = affinity_loss(col, affinity)
                if lost is not None:
                    chunk = chunk.reject(lost[0], lost[1], stage="write", column=name)
                    return self(chunk)  # the other columns again, for the rows left
        rows = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        return Encoded(chunk, rows)


MIN_CACHE = 1 << 20  # SQLite's page cache under the lowest ceilings


class SQLiteSink(SinkBase):
    name = "sqlite"
    suffixes: tuple[str, ...] = (".db", ".sqlite", ".sqlite3")
    side_files: tuple[str, ...] = ("-wal", "-shm", "-journal")
    keys = frozenset({"table", "primary_key", "indexes", "alter", "page_size", "cache_size"})
    # Floors per reader: Python, the libraries' pages, SQLite's 4 MiB page cache (bench/NOTES.md).
    # Arrow IPC (of batches no larger than a chunk) peaks as CSV does; JSON Lines 2 MB above
    # (two parsing workers by default).
    # file_kb: 1,000 / 4,000 / 10,000 one-row CSV files peaked 5.4 / 3.4 / 2.8 KB a file above
    # one (the first thousand's share of the small files typed together counts most), Parquet 1.0
    # entry_kb: a no-op run over a 10,000-file checkpoint peaked 23.6 MB above an empty one's
    # (threads and processes alike): 2.4 KB an entry
    memory = MemoryProfile({"csv": 78, "parquet": 91, "jsonl": 80, "arrow": 78}, row_bytes=250, entry_kb=2.8)

    def resolve(self, sink: SinkConfig, source: SourceConfig) -> SinkConfig:
        from ..config import is_glob

        if sink.table is None and not source.path:  # no input named (allow_empty): nothing to name it after
            raise ConfigError(
                "sink.table: needed when source.path names no file",
                hint="set sink.table (--table); the table name is taken from the first input file's",
                names=("source.path",),
            )
        if sink.table is None and is_glob(source.path[0]):
            raise ConfigError(
                f"sink.table: needed when source.path is a glob ({source.path[0]!r})",
                hint="set sink.table (--table); the table name is not guessed from a pattern",
                names=("source.path",),
            )
        if sink.mode in ("upsert", "ignore") and not sink.primary_key:
            raise ConfigError(f"sink.primary_key: mode {sink.mode!r} needs a primary key")
        return super().resolve(sink, source)

    def default_workers(self, source_format: str | None, cpus: int) -> int:
        # JSON Lines blocks parse on a second worker while the writer keeps its own core
        return 2 if source_format == "jsonl" and cpus >= 2 else 1

    def table(self, sink: SinkConfig, paths: list[str]) -> str:
        return sink.table or default_table(paths)

    def job_name(self, sink: SinkConfig, paths: list[str]) -> str:
        from ..state import table_job

        return table_job(self.table(sink, paths))

    def plan_line(self, sink: SinkConfig, paths: list[str]) -> str:
        return f"target: sqlite {sink.path}, table {self.table(sink, paths)!r}, mode {sink.mode}"

    def width_check(self) -> Callable[[int, str], None]:
        from ..writers.sqlite_schema import check_width

        return check_width

    def check_schema(self, sink: SinkConfig, schema: pa.Schema, entries: dict[str, str] | None = None) -> None:
        from ..writers.sqlite_schema import check_schema

        check_schema(sink, schema.names)

    def name_clash(self, names: list[str]) -> str | None:
        first: dict[str, str] = {}
        for name in names:
            twin = first.setdefault(fold(name), name)
            if twin != name:
                return f"columns {twin!r} and {name!r} differ only in case: one column to SQLite"
        return None

    def peek(self, sink: SinkConfig, paths: list[str], job: str) -> Peek:
        from ..writers.sqlite_schema import peek

        return peek(sink.path, self.table(sink, paths), job, sink)

    def first_values(self, sink: SinkConfig, paths: list[str], columns: list[str]) -> dict[str, Any]:
        from ..writers.sqlite_schema import peek_first_values

        return peek_first_values(sink.path, self.table(sink, paths), columns, sink)

    def fit_memory(self, sink: SinkConfig, chunk: int, spare_mb: float) -> SinkConfig:
        """The page cache within its share of the room: at the smallest sizes, 1 MiB."""
        cache = MIN_CACHE + int(spare_mb * 0.05 * (1 << 20))
        return replace(sink, cache_size=at_most(sink.cache_size, cache, MIN_CACHE))

    def sizes(self, sink: SinkConfig) -> dict[str, int]:
        return {"cache_size": sink.cache_size}

    def encoder(self, sink: SinkConfig, writer: Writer, forms: Mapping[str, TextForm] | None = None) -> SQLiteEncoder:
        from ..schema import numeric_text

        return SQLiteEncoder(numeric_text(sink.mode, writer.column_types()), tuple(sink.primary_key), forms)

    def open_writer(self, sink: SinkConfig, paths: list[str], run: RunConfig | None = None) -> Writer:
        from ..writers.sqlite import SQLiteWriter

        return SQLiteWriter(sink, self.table(sink, paths))
