"""A chain of stages over many chunks keeps Arrow memory flat (bounded by one chunk)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from transforms_testutil import chunk_of

from loader.chunk import Chunk
from loader.transforms import Cast, Dedupe, Derive, FillNull, Filter, Rename, Validate, apply, close_stages

ROWS = 10_000


def chunks(n: int) -> Iterator[Chunk]:
    for i in range(n):
        ids = pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64())
        age = pc.cast(pc.add(pc.divide(ids, 7), 0), pa.string())
        price = pc.cast(pc.multiply(pc.cast(ids, pa.float64()), 0.5), pa.string())
        country = pc.if_else(pc.equal(pc.bit_wise_and(ids, 1), 0), pa.scalar("NO"), pa.scalar(None, pa.string()))
        yield chunk_of(
            pa.record_batch({"id": ids, "age": age, "price": price, "country": country}), first_row=1 + i * ROWS
        )


def run(n: int) -> tuple[int, int]:
    stages = [
        Cast(columns={"age": "int64", "price": "float64"}),
        Filter(where="age % 10 != 3"),
        Derive(columns={"total": "price * 2", "label": "concat(country, '-', id)"}),
        Rename(columns={"total": "sum"}),
        FillNull(columns={"country": "SE"}),
        Validate(rules={"age": {"min": 0}}),
        Dedupe(columns=["id"]),
    ]
    base = pa.total_allocated_bytes()
    peak, rows = 0, 0
    for out in apply(stages, chunks(n)):
        peak = max(peak, pa.total_allocated_bytes() - base)
        rows += out.num_rows
        del out
    close_stages(stages)
    return peak, rows


def test_peak_memory_is_independent_of_chunk_count() -> None:
    small_peak, small_rows = run(50)
    big_peak, big_rows = run(200)
    assert big_rows > 3 * small_rows
    # One chunk of 10k rows through the chain is a few MB; 200 chunks must not need 4x that.
    assert big_peak <= small_peak * 1.25 + 1_000_000, (small_peak, big_peak)
    assert big_peak < 64 * 1024 * 1024
