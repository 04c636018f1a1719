"""The error family as a caller handles it: pickled by a process pool, copied."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from loader import errors
from loader.errors import InterruptedLoad, LoaderError, MissingInputError
from loader.report import RunReport
from loader.writers.sqlite_refusals import RefusalStop

ROUND_TRIPS: list[Callable[[Any], Any]] = [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy]


# Every error class of loader.errors, and the one of its own __init__ elsewhere.
_OWN = (v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, LoaderError))
CLASSES = [*sorted(_OWN, key=lambda c: c.__name__), RefusalStop]


def _made(cls: type[LoaderError]) -> LoaderError:
    """An error of ``cls``, with its own arguments where its ``__init__`` takes others."""
    if cls is InterruptedLoad:
        return InterruptedLoad(signal.SIGTERM)
    if cls is RefusalStop:
        return RefusalStop("t", "CHECK constraint failed: n > 0", "its clause", 3, "out.db", "fix the row")
    return cls("bad value", stage="read", file="a.csv", row=6, line=7, column="amount", hint="fix it")


def _attributes(error: LoaderError) -> dict[str, Any]:
    return {
        **vars(error),
        "str": str(error),
        "repr": repr(error),
        "args": error.args,
        "type": type(error),
        "exit_code": error.exit_code,
    }


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_survives_pickle_and_copy_with_its_attributes(
    cls: type[LoaderError], round_trip: Callable[[Any], Any]
) -> None:
    error = _made(cls)
    error.report = RunReport(status="failed", rows_written=5)
    again = round_trip(error)
    assert _attributes(again) == _attributes(error)
    assert again.report is not None and again.report.rows_written == 5


def test_interrupted_load_keeps_its_signal_and_exit_code_through_pickle() -> None:
    again = pickle.loads(pickle.dumps(InterruptedLoad(signal.SIGINT)))
    assert (str(again), again.signum, again.exit_code, again.hint) == (
        "stopped by SIGINT; committed work is kept",
        signal.SIGINT,
        130,
        "run the same command again to resume where it stopped",
    )


def test_a_missing_input_stays_an_oserror_through_pickle() -> None:
    again = pickle.loads(pickle.dumps(MissingInputError("no such file", file="a.csv")))
    assert isinstance(again, OSError) and (str(again), again.exit_code) == ("a.csv: no such file", 66)


def test_an_oserror_kind_keeps_its_args_and_repr_through_pickle() -> None:
    again = pickle.loads(pickle.dumps(errors.SourceError("bad bytes", file="x.csv", line=3)))
    assert (again.args, repr(again), str(again)) == (
        ("bad bytes",),
        "SourceError('bad bytes')",
        "x.csv, line 3: bad bytes",
    )


def _interrupted(signum: int) -> None:
    raise InterruptedLoad(signum)


def test_a_process_pool_reports_interrupted_load_from_its_worker() -> None:
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    with pool, pytest.raises(InterruptedLoad) as raised:
        pool.submit(_interrupted, signal.SIGTERM).result(timeout=60)
    assert (str(raised.value), raised.value.exit_code) == ("stopped by SIGTERM; committed work is kept", 143)
