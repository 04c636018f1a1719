"""Streaming Parquet reader: row group by row group, never the whole file.

``pre_buffer`` is off because pyarrow's read-ahead buffering grows memory
with file size, and column chunks are read in small buffered pieces; chunks
come from ``iter_batches`` at ``chunk_size`` rows.
Resuming skips whole row groups from the file's metadata and re-reads only
the one that was half loaded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from .. import compat, storage
from ..chunk import Chunk
from ..convert import Converted
from ..errors import SourceError
from . import parquet_pages
from .base import TypedFileReader


class ParquetReader(TypedFileReader):
    """Reads one Parquet file as chunks. Use as a context manager."""

    KIND = "Parquet"
    PARTS = "row groups"
    GLOB = "dir/*.parquet"

    def _open(self) -> None:
        path = self.path
        self._check_path()
        self.source = storage.open_arrow(path)
        self.opened = storage.opened_identity(path, self.source)
        try:
            # buffer_size streams each column chunk in 64 KiB reads instead of holding it whole
            self.file = compat.parquet_reader(self.source, buffer_size=1 << 16)
            encrypted = parquet_pages.encrypted(self.source, self.file.metadata)
        except pa.ArrowNotImplementedError as exc:  # a type pyarrow lacks (Polars' Int128): the file may be fine
            raise self._unreadable_type("not a readable Parquet file", exc) from None
        except (pa.ArrowException, OSError) as exc:
            raise storage.failed_read(path, exc, self.opened, "not a readable Parquet file") from None
        if encrypted:
            raise SourceError(
                "not a readable Parquet file (its columns are encrypted: Parquet modular encryption is not read)",
                file=path,
                hint="write the file again unencrypted, then rerun: the files before it stay loaded",
            )
        file_schema = self.file.schema_arrow
        intervals = interval_columns(self.file.metadata, file_schema)
        self._settle_schema(
            pa.schema(f.with_type(INTERVAL) if i in intervals else f for i, f in enumerate(file_schema))
        )
        self.intervals = frozenset(self.names[i] for i in intervals)
        self.uuids |= {self.names[i] for i in uuid_columns(self.file.metadata, file_schema)}
        self._fit_chunk()
        self._untyped(parquet_pages.valueless(self.file.metadata, self.file.schema_arrow.names, self.names))

    def _fit_chunk(self) -> None:
        """Fewer rows to a chunk where this file's rows are wider than the run sized its chunks
        for (``bench_rows``): ``iter_batches`` cuts by rows, so a wide file outside the run's
        sample of widths would otherwise hold many times the bytes."""
        if self.bench_rows:
            from ..memory import RowWidth, scaled_rows

            width = RowWidth(self.path, parquet_pages.reader_row_bytes(self.file, self.source), "parquet")
            self.chunk_size = min(self.chunk_size, scaled_rows(self.bench_rows, width))

    def __iter__(self) -> Iterator[Chunk]:
        meta = self.file.metadata
        total = parquet_pages.file_rows(meta)
        done = int((self.resume or {}).get("row", 0))
        first_group, stop = self.part or (0, meta.num_row_groups)
        first_group, stop = max(first_group, 0), min(stop, meta.num_row_groups)
        row_base = sum(meta.row_group(g).num_rows for g in range(first_group))  # rows keep their numbers in the file
        while first_group < stop and row_base + meta.row_group(first_group).num_rows <= done:
            row_base += meta.row_group(first_group).num_rows
            first_group += 1
        groups = list(range(first_group, stop))
        if not groups:
            return
        try:
            # One decoding thread: the pipeline already reads in a thread of its own, and
            # Arrow's thread pool costs allocator caches for no gain on 2 cores (bench/NOTES.md).
            batches = self.file.iter_batches(batch_size=self.chunk_size, row_groups=groups, use_threads=False)
            for batch in batches:
                n = batch.num_rows
                rows = pa.array(range(row_base + 1, row_base + n + 1), pa.int64())
                last = row_base + n
                if last <= done:
                    row_base = last
                    continue
                batch = batch.rename_columns(self.names)
                chunk = self._convert(batch, rows, last, done, row_base)
                chunk.rows_read = last - max(row_base, done)
                chunk.bytes_read = int(self.size * n / total) if self.size and total else 0
                row_base = last
                yield chunk
        except (pa.ArrowException, OSError) as exc:
            what = f"cannot read Parquet data near row {row_base + 1}"
            raise storage.failed_read(self.path, exc, self.opened, what) from None

    def _read_column(self, name: str, col: pa.Array) -> Converted:
        return interval_values(col) if name in self.intervals else Converted(col)

    def close(self) -> None:
        # the source opened here (the Parquet reader leaves a file it was given open); either
        # may be missing after a failed open
        for opened in (getattr(self, "file", None), getattr(self, "source", None)):
            if opened is not None:
                opened.close()


INTERVAL = pa.month_day_nano_interval()
_INTERVAL_BYTES = pa.binary(12)
_UUID_BYTES = pa.binary(16)
_INT32_MAX = (1 << 31) - 1  # Arrow counts an interval's months and days in signed 32 bits


def interval_columns(metadata: Any, schema: pa.Schema) -> frozenset[int]:
    """The top-level columns (by position in ``schema``) of Parquet's INTERVAL type, DuckDB's
    INTERVAL: pyarrow reads them as their 12 bytes. One nested in a list or struct stays bytes."""
    return _marked_columns(metadata, schema, _INTERVAL_BYTES, _is_interval)


def uuid_columns(metadata: Any, schema: pa.Schema) -> frozenset[int]:
    """The top-level columns (by position in ``schema``) of Parquet's UUID logical type (DuckDB's
    UUID, pyarrow's without its stored schema), which the loader's reader reads as 16 bytes
    (``arrow.uuid`` where the stored schema says so: ``types.is_uuid``)."""
    return _marked_columns(metadata, schema, _UUID_BYTES, lambda c: str(c.logical_type) == "UUID")


def _marked_columns(
    metadata: Any, schema: pa.Schema, stored: pa.DataType, marked: Callable[[Any], bool]
) -> frozenset[int]:
    """The top-level columns read as ``stored`` whose footer column is ``marked``. The footer's
    schema only where a column is of that type (``parquet_pages.leaf_paths``: a cycle)."""
    if not any(f.type.equals(stored) for f in schema):
        return frozenset()
    leaves = {metadata.schema.column(i).path: metadata.schema.column(i) for i in range(metadata.num_columns)}
    return frozenset(
        i for i, f in enumerate(schema) if f.type.equals(stored) and (c := leaves.get(f.name)) is not None and marked(c)
    )


def _is_interval(column: Any) -> bool:
    return bool(column.converted_type == "INTERVAL" or str(column.logical_type) == "Interval")


def interval_values(arr: pa.Array) -> Converted:
    """Parquet INTERVAL values (months, days and milliseconds, little-endian unsigned 32-bit
    integers) as Arrow's month-day-nanosecond intervals, which the targets write as ISO-8601
    durations (``P1M2DT3S``); months or days past Arrow's signed 32 bits are rejected."""
    parts = [None if v is None else struct.unpack("<III", v) for v in arr.to_pylist()]
    over = [p is not None and max(p[0], p[1]) > _INT32_MAX for p in parts]
    values = [None if p is None or o else (p[0], p[1], p[2] * 1_000_000) for p, o in zip(parts, over, strict=True)]
    out = pa.array(values, INTERVAL)
    if not any(over):
        return Converted(out)
    reasons = [
        f"an interval of {p[0]} months, {p[1]} days and {p[2]} ms: Arrow holds at most {_INT32_MAX} months or days"
        for p, o in zip(parts, over, strict=True)
        if p is not None and o
    ]
    return Converted(out, pa.array(over, pa.bool_()), reasons)
