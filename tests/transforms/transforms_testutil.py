"""Helpers shared by the transform tests (imported by name; no conftest needed)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from loader.chunk import Chunk


def chunk_of(data: dict[str, Any] | pa.RecordBatch, *, file: str = "t.csv", first_row: int = 1) -> Chunk:
    """A chunk whose rows are numbered first_row, first_row + 1, ..."""
    rb = data if isinstance(data, pa.RecordBatch) else pa.record_batch(data)
    n = rb.num_rows
    return Chunk(
        batch=rb,
        file=file,
        rows=pa.array(range(first_row, first_row + n), pa.int64()),
        last_row=first_row + n - 1,
        end={},
        rows_read=n,
    )


def col(chunk: Chunk, name: str) -> list[Any]:
    return chunk.batch.column(name).to_pylist()
