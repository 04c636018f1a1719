from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from loader.prefetch import ordered_map, prefetch


def slow_square(n: int) -> int:
    time.sleep(random.uniform(0, 0.003))  # parts finish out of order
    return n * n


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_ordered_map_keeps_input_order(workers: int) -> None:
    assert list(ordered_map(slow_square, iter(range(60)), workers)) == [n * n for n in range(60)]


def test_ordered_map_raises_at_the_failing_part_after_every_earlier_result() -> None:
    def fail_at_7(n: int) -> int:
        if n == 7:
            raise ValueError("part 7")
        return slow_square(n)

    got: list[int] = []
    with pytest.raises(ValueError, match="part 7"):
        for value in ordered_map(fail_at_7, iter(range(20)), 3):
            got.append(value)
    assert got == [n * n for n in range(7)]


def test_ordered_map_keeps_every_worker_busy_and_no_more() -> None:
    """While the caller handles a result, each worker has the next part: ``workers``
    parts ahead of the one in hand, and never more (memory stays bounded)."""
    lock = threading.Lock()
    started = 0
    most_ahead = 0
    consumed = 0

    def work(n: int) -> int:
        nonlocal started, most_ahead
        with lock:
            started += 1
            most_ahead = max(most_ahead, started - consumed)
        return slow_square(n)

    for _ in ordered_map(work, iter(range(50)), 3):
        # a slow caller: every submitted part starts meanwhile (waited for, not slept on: a busy
        # machine may start a worker later than any fixed pause; bounded, for a map that submits fewer)
        deadline = time.monotonic() + 2
        while started < min(consumed + 3 + 1, 50) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.01)  # and a moment more, for a part submitted beyond them
        with lock:
            consumed += 1
    assert most_ahead == 3 + 1  # three ahead, plus the one in hand


def test_closing_ordered_map_early_stops_submitting() -> None:
    calls = 0

    def work(n: int) -> int:
        nonlocal calls
        calls += 1
        return n

    out = ordered_map(work, iter(range(1000)), 2)
    assert [next(out) for _ in range(5)] == [0, 1, 2, 3, 4]
    out.close()
    assert calls <= 8
    assert not [t for t in threading.enumerate() if t.name.startswith("loader-worker")]


def test_prefetch_hands_on_the_producer_error() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise RuntimeError("reader failed")

    out = prefetch(items(), 2)
    assert next(out) == 1
    with pytest.raises(RuntimeError, match="reader failed"):
        next(out)


def test_ordered_map_of_one_part_runs_it_here_without_a_pool() -> None:
    """A small file's one block or chunk: a pool's threads would cost more than the part."""
    where: list[int] = []

    def square(n: int) -> int:
        where.append(threading.get_ident())
        return n * n

    before = threading.active_count()
    assert list(ordered_map(square, iter([3]), 4)) == [9]
    assert where == [threading.get_ident()]
    assert threading.active_count() == before
    assert list(ordered_map(square, iter([]), 4)) == []
