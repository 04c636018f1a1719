from __future__ import annotations

import pyarrow as pa

from loader.chunk import Chunk


def make() -> Chunk:
    return Chunk(
        batch=pa.record_batch({"a": [1, 2, 3]}),
        file="f",
        rows=pa.array([1, 2, 3], pa.int64()),
        last_row=3,
        end={},
        premade=(pa.array([b"1", b"2", b"3"]),),
    )


def test_premade_stays_while_the_batch_does_and_goes_when_it_changes() -> None:
    chunk = make()
    assert chunk.keep(pa.array([True, True, True])).premade == chunk.premade  # nothing dropped: the same batch
    assert chunk.reject(pa.array([False, False, False]), "bad", stage="write").premade == chunk.premade
    assert chunk.keep(pa.array([True, False, True])).premade is None
    assert chunk.reject(pa.array([False, True, False]), "bad", stage="write").premade is None
    assert chunk.with_batch(pa.record_batch({"a": [4, 5, 6]})).premade is None
