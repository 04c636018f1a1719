"""Read ahead in a background thread; map over parts on several threads.

pyarrow releases the GIL while it parses and computes, and the writers'
databases release it while they write, so parsing the next chunk while the
current one is written uses the second core. The queue holds at most
``depth`` chunks, which keeps memory bounded; closing the consumer stops the
producer. ``ordered_map`` runs pure per-part work on a pool, in order.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextvars
import itertools
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _ReadAhead:
    """The producer's side: a thread that puts items on a bounded queue until told to stop."""

    def __init__(self, items: Iterator[Any], depth: int) -> None:
        self.items = items
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        # in the run's context: a stop it was asked for reaches a wait in the stages (``stopping.check``)
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._produce,), name="loader-read-ahead", daemon=True)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, never lost
            self._put(_Failed(exc))
        finally:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()

    def finish(self) -> None:
        """Stop the producer, emptying the queue so that a blocked put returns."""
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get_nowait()
            except queue.Empty:
                self.thread.join(timeout=0.05)


def prefetch(items: Iterator[T], depth: int) -> Generator[T, None, None]:
    if depth <= 0:
        yield from items
        return
    ahead = _ReadAhead(items, depth)
    ahead.thread.start()
    try:
        while True:
            item = ahead.queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        ahead.finish()


def ordered_map(fn: Callable[[T], R], items: Iterator[T], workers: int) -> Generator[R, None, None]:
    """``map(fn, items)`` on ``workers`` threads, results in input order.

    For pure per-part work that pyarrow runs mostly without the GIL (parsing
    and converting a CSV block). While the caller handles one result, the next
    ``workers`` parts are in flight, one for each worker, and no more, so memory
    stays bounded; an exception comes out at its part's place in the order,
    after every earlier result.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    items = iter(items)
    head = list(itertools.islice(items, 2))  # one part (a small file's) starts no pool
    if len(head) < 2:
        yield from map(fn, head)
        return
    items = itertools.chain(head, items)
    pending: collections.deque[concurrent.futures.Future[R]] = collections.deque()
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="loader-worker")
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
