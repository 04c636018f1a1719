"""The files a run leaves besides its target: the report (``run.report``) and the metrics
(``run.metrics_file``). ``Pipeline.run`` writes them at the end of every run, for the CLI
and the Python API alike (``load()``, ``Pipeline(...).run()``, ``Pipeline.from_config``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from .config import RunConfig
from .errors import EXIT_OK, EXIT_USAGE, LoaderError
from .metrics import write_metrics
from .report import RunReport


def write_outputs(run: RunConfig, report: RunReport, *, lock_refused: bool = False) -> None:
    """The report and the metrics of a finished run (``report.exit_code`` says how it ended).

    After a success, a path the OS refuses is a ``LoaderError`` naming it, and the run's
    outcome: the report is marked failed with it, and the other file is written saying so
    (the process exits with its code, and neither file may say the run was ok). After a
    failure they are written as far as the OS lets (the run's own error is the one to
    raise), except that a usage error writes neither (the report or metrics path may be
    the very mistake), nor does a run that did not get the target's lock (``lock_refused``:
    another run holds it, and the files are that run's, which a monitor reads meanwhile).

    The peak is read again once they are written (the report of thousands of input files may
    be the run's peak), and where it rose they are written again with it: past the ceiling, a
    run is ``memory_exceeded``, never ``ok``."""
    if lock_refused:
        return
    if report.exit_code != EXIT_OK:
        _write_after_failure(run, report)
        if report.peak_again():
            _write_after_failure(run, report)
        return
    try:
        _write_ok(run, report)
        if report.peak_again():  # writing them was the run's peak (thousands of files): they say so
            _write_ok(run, report)
    except LoaderError as exc:
        report.status, report.error, report.exit_code = "failed", str(exc), exc.exit_code
        _write_after_failure(run, report)
        raise


def _write_ok(run: RunConfig, report: RunReport) -> None:
    if run.report:
        _write("run.report", run.report, report.write)
    if run.metrics_file:
        _write("run.metrics_file", run.metrics_file, lambda path: write_metrics(path, report))


def rewrite_report(run: RunConfig, report: RunReport) -> None:
    """The report once more, for a note added after it was written, as far as the OS lets."""
    if run.report:
        with contextlib.suppress(OSError):
            report.write(run.report)


def _write_after_failure(run: RunConfig, report: RunReport) -> None:
    """The report and metrics of a failed run, as far as the OS lets."""
    code = report.exit_code
    if run.report and code != EXIT_USAGE:
        with contextlib.suppress(OSError):
            report.write(run.report)
    if run.metrics_file and code != EXIT_USAGE:
        with contextlib.suppress(OSError):
            write_metrics(run.metrics_file, report)


def _write(key: str, path: str, write: Callable[[str], None]) -> None:
    """A file a successful load writes; a path the OS refuses is the user's to fix, said in
    one line: the rows are committed, and a rerun writes the file."""
    try:
        write(path)
    except OSError as exc:
        raise LoaderError(
            f"{key}: cannot write {path}: {exc.strerror or exc}",
            hint="the load is committed; fix the path or its permissions, and a rerun writes it",
        ) from None
