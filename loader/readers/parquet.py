"""Streaming Parquet reader: row group by row group, never the whole file.

``pre_buffer`` is off because pyarrow's read-ahead buffering grows memory
with file size, and column chunks are read in small buffered pieces; chunks
come from ``iter_batches`` at ``chunk_size`` rows.
Resuming skips whole row groups from the file's metadata and re-reads only
the one that was half loaded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .. import compat, storage
from ..chunk import Chunk
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
        except (pa.ArrowException, OSError) as exc:
            self.source.close()
            raise storage.failed_read(path, exc, self.opened, "not a readable Parquet file") from None
        if encrypted:
            self.close()
            raise SourceError(
                "not a readable Parquet file (its columns are encrypted: Parquet modular encryption is not read)",
                file=path,
                hint="write the file again unencrypted, then rerun: the files before it stay loaded",
            )
        self._settle_schema(self.file.schema_arrow)
        self._untyped(parquet_pages.valueless(self.file.metadata, self.file.schema_arrow.names, self.names))

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

    def close(self) -> None:
        self.file.close()
        self.source.close()  # opened here: the Parquet reader leaves a file it was given open
