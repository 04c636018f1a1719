"""Prometheus text-format metrics of the last run, for the node exporter's textfile collector.

``--metrics-file PATH`` (``run.metrics_file``) rewrites PATH after every run
that got past the lock: a temp file in the same directory, then a rename, so
the collector never reads half a file. Every value describes the last run,
so every metric is a gauge labelled with the job name. The one value carried
over from run to run is ``loader_last_success_timestamp_seconds``: a failed
run keeps the previous file's value (0 when no run ever succeeded), so an
alert on its age fires when loads stop succeeding, whatever the reason.
``loader_last_run_exit_class`` says what the exit code asks of an operator
(label ``class``: ``ok``, ``fix`` something then rerun, or ``rerun`` and it
resumes), so an alert can page on ``fix`` and let a schedule retry the rest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from .errors import exit_class
from .files import replace_file
from .report import RunReport

LAST_SUCCESS = "loader_last_success_timestamp_seconds"

# name, help, value of the last run
GAUGES: list[tuple[str, str, Callable[[RunReport], float]]] = [
    ("loader_last_run_rows_read", "Rows read by the last run.", lambda r: r.rows_read),
    ("loader_last_run_rows_written", "Rows written to the target by the last run.", lambda r: r.rows_written),
    (
        "loader_last_run_rows_rejected",
        "Rows rejected (sent to the reject file) by the last run.",
        lambda r: r.rows_rejected,
    ),
    (
        "loader_last_run_rows_filtered",
        "Rows dropped by transforms in the last run (filter, dedupe, a row function's None).",
        lambda r: r.rows_filtered,
    ),
    (
        "loader_last_run_rows_ignored",
        "Rows skipped by mode ignore in the last run because their key was already there.",
        lambda r: r.rows_ignored,
    ),
    ("loader_last_run_files_loaded", "Files loaded (or resumed) by the last run.", lambda r: r.files_loaded),
    (
        "loader_last_run_files_skipped",
        "Files skipped by the last run because they were loaded before.",
        lambda r: r.files_skipped,
    ),
    (
        "loader_last_run_files_changed",
        "Files the last run found changed since loaded: skipped (on_change = skip) or the one that stopped it (error).",
        lambda r: r.files_changed,
    ),
    (
        "loader_last_run_files_gone",
        "Files half loaded by an earlier run and not among the last run's inputs.",
        lambda r: r.files_gone,
    ),
    (
        "loader_last_run_files_too_new",
        "Files the last run left for a later one: changed less than source.min_age before it.",
        lambda r: r.files_too_new,
    ),
    ("loader_last_run_duration_seconds", "Wall-clock duration of the last run.", lambda r: r.elapsed_s),
    (
        "loader_last_run_peak_memory_bytes",
        "Peak resident memory of the last run.",
        lambda r: int(r.peak_rss_mb * 1024 * 1024),
    ),
    (
        "loader_last_run_success",
        "1 when the last run loaded everything, else 0.",
        lambda r: 1 if r.exit_code == 0 else 0,
    ),
    (
        "loader_last_run_exit_code",
        "Exit code of the last run (the table is in docs/reliability.md).",
        lambda r: r.exit_code,
    ),
]


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render(report: RunReport, *, now: float, last_success: float | None) -> str:
    """The whole file for one run; ``last_success`` is the previous file's value."""
    labels = f'{{job="{escape_label(report.job)}"}}'
    rows: list[tuple[str, str, float]] = [(name, text, get(report)) for name, text, get in GAUGES]
    rows.append(("loader_last_run_timestamp_seconds", "Unix time the last run finished.", round(now, 3)))
    success = round(now, 3) if report.exit_code == 0 else (last_success or 0)
    rows.append((LAST_SUCCESS, "Unix time the last successful run finished (0: none yet).", success))
    out = []
    for name, text, value in rows:
        out += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name}{labels} {_number(value)}"]
        if name == "loader_last_run_exit_code":
            out += _exit_class(report)
    return "\n".join(out) + "\n"


def _exit_class(report: RunReport) -> list[str]:
    name = "loader_last_run_exit_class"
    labels = f'{{job="{escape_label(report.job)}",class="{exit_class(report.exit_code)}"}}'
    text = "What the last exit code asks for: ok, fix (fix something, then rerun) or rerun (a rerun resumes)."
    return [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name}{labels} 1"]


def previous_success(path: str, job: str) -> float | None:
    """The last success timestamp a previous run of ``job`` wrote to ``path``, if any."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    pattern = re.compile(rf'^{LAST_SUCCESS}\{{job="{re.escape(escape_label(job))}"\}} (\S+)$', re.MULTILINE)
    m = pattern.search(text)
    if m is None:
        return None
    try:
        return float(m.group(1))
    except ValueError:
        return None


def write_metrics(path: str, report: RunReport, now: float | None = None) -> None:
    """Replace ``path`` atomically with the metrics of ``report``."""
    when = time.time() if now is None else now
    last = None if report.exit_code == 0 else previous_success(path, report.job)
    text = render(report, now=when, last_success=last)
    replace_file(path, text, durable=True)
