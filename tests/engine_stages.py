"""A ``python`` stage for tests/test_engines.py, importable by the workers (the checkout is
on their path as on the test's)."""

from __future__ import annotations

import gc
import os
import sys
import time

import pyarrow as pa

HOLD_AT_MOST = 20.0  # seconds: a run whose coordinator never marks the file still ends


def hold_while_unmarked(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, once the file its ``hold`` column names exists (a null holds nothing)."""
    deadline = time.monotonic() + HOLD_AT_MOST
    for path in {p for p in batch.column("hold").to_pylist() if p}:
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
    return batch


def refuse_pandas(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, where loader's work has not imported pandas in this process (an empty
    batch is the coordinator's, which finds the stages' output schema)."""
    if batch.num_rows and "pandas" in sys.modules:
        raise RuntimeError("pandas is imported in this worker")
    return batch


CYCLE_BYTES = 2 << 20


def leave_a_cycle(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, after making a reference cycle that holds ``CYCLE_BYTES``: garbage that only
    the collector frees, as any Python code may leave."""
    held: dict[str, object] = {"bytes": bytearray(CYCLE_BYTES)}
    held["self"] = held
    return batch


def refuse_a_paused_collector(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, where this process's collector runs (an empty batch is the coordinator's,
    whose collector the load pauses)."""
    if batch.num_rows and not gc.isenabled():
        raise RuntimeError("the collector is paused in this worker")
    return batch


def add_tenfold(row: dict[str, object]) -> dict[str, object]:
    """A row function (``mode = "row"``) that makes a column ``x``: seen only as rows go by."""
    row["x"] = int(str(row["id"])) * 10
    return row


def zip_text_after_three(row: dict[str, object]) -> dict[str, object]:
    """A row function whose new column ``zip`` is an integer for ids 1 to 3, then text ("00004")."""
    n = int(str(row["id"]))
    row["zip"] = 12340 + n if n <= 3 else f"{n:05d}"
    return row


def vat_after_five(row: dict[str, object]) -> dict[str, object]:
    """A row function whose new column ``vat`` first appears at id 6."""
    n = int(str(row["id"]))
    if n > 5:
        row["vat"] = n * 2
    return row


def vat_null_until_six(row: dict[str, object]) -> dict[str, object]:
    """A row function whose new column ``vat`` is null for ids 1 to 5, an integer after."""
    n = int(str(row["id"]))
    row["vat"] = n * 2 if n > 5 else None
    return row


def refuse_oops(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch, unless its ``v`` holds the text ``oops``: then a ValueError for the whole batch."""
    if "oops" in batch.column("v").to_pylist():
        raise ValueError("oops")
    return batch


def add_path(path: str) -> None:
    """``path`` first on this process's ``sys.path`` (run on a cluster's workers), its listing read anew."""
    import importlib

    sys.path.insert(0, path)
    importlib.invalidate_caches()


def remove_path(path: str) -> None:
    sys.path.remove(path)


def die_on_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Kill this worker process at its first rows, as Dask's memory limit or the OOM
    killer does (an empty batch is the coordinator's, which finds the output schema)."""
    if batch.num_rows:
        os.kill(os.getpid(), 9)
    return batch
