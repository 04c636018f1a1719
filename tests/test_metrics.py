from __future__ import annotations

import os
import stat
from pathlib import Path

from loader.lock import TargetLock
from loader.metrics import escape_label, previous_success, render, write_metrics
from loader.report import RunReport
from tests.reliability_util import cli

ROOT = Path(__file__).parents[1]


def report(job: str = "events", exit_code: int = 0, status: str = "ok") -> RunReport:
    r = RunReport(
        job=job,
        rows_read=1000,
        rows_written=990,
        rows_rejected=7,
        rows_filtered=3,
        files_loaded=2,
        files_skipped=5,
        elapsed_s=12.5,
        peak_rss_mb=150.5,
        exit_code=exit_code,
    )
    r.status = status
    return r


EXPECTED = """\
# HELP loader_last_run_rows_read Rows read by the last run.
# TYPE loader_last_run_rows_read gauge
loader_last_run_rows_read{job="events"} 1000
# HELP loader_last_run_rows_written Rows written to the target by the last run.
# TYPE loader_last_run_rows_written gauge
loader_last_run_rows_written{job="events"} 990
# HELP loader_last_run_rows_rejected Rows rejected (sent to the reject file) by the last run.
# TYPE loader_last_run_rows_rejected gauge
loader_last_run_rows_rejected{job="events"} 7
# HELP loader_last_run_rows_filtered Rows dropped by transforms in the last run (filter, dedupe, a row function's None).
# TYPE loader_last_run_rows_filtered gauge
loader_last_run_rows_filtered{job="events"} 3
# HELP loader_last_run_rows_ignored Rows skipped by mode ignore in the last run because their key was already there.
# TYPE loader_last_run_rows_ignored gauge
loader_last_run_rows_ignored{job="events"} 0
# HELP loader_last_run_files_loaded Files loaded (or resumed) by the last run.
# TYPE loader_last_run_files_loaded gauge
loader_last_run_files_loaded{job="events"} 2
# HELP loader_last_run_files_skipped Files skipped by the last run because they were loaded before.
# TYPE loader_last_run_files_skipped gauge
loader_last_run_files_skipped{job="events"} 5
# HELP loader_last_run_files_changed Files the last run found changed since loaded: skipped (on_change = skip) or the one that stopped it (error).
# TYPE loader_last_run_files_changed gauge
loader_last_run_files_changed{job="events"} 0
# HELP loader_last_run_files_gone Files half loaded by an earlier run and not among the last run's inputs.
# TYPE loader_last_run_files_gone gauge
loader_last_run_files_gone{job="events"} 0
# HELP loader_last_run_files_too_new Files the last run left for a later one: changed less than source.min_age before it.
# TYPE loader_last_run_files_too_new gauge
loader_last_run_files_too_new{job="events"} 0
# HELP loader_last_run_duration_seconds Wall-clock duration of the last run.
# TYPE loader_last_run_duration_seconds gauge
loader_last_run_duration_seconds{job="events"} 12.5
# HELP loader_last_run_peak_memory_bytes Peak resident memory of the last run.
# TYPE loader_last_run_peak_memory_bytes gauge
loader_last_run_peak_memory_bytes{job="events"} 157810688
# HELP loader_last_run_success 1 when the last run loaded everything, else 0.
# TYPE loader_last_run_success gauge
loader_last_run_success{job="events"} 1
# HELP loader_last_run_exit_code Exit code of the last run (the table is in docs/reliability.md).
# TYPE loader_last_run_exit_code gauge
loader_last_run_exit_code{job="events"} 0
# HELP loader_last_run_exit_class What the last exit code asks for: ok, fix (fix something, then rerun) or rerun (a rerun resumes).
# TYPE loader_last_run_exit_class gauge
loader_last_run_exit_class{job="events",class="ok"} 1
# HELP loader_last_run_timestamp_seconds Unix time the last run finished.
# TYPE loader_last_run_timestamp_seconds gauge
loader_last_run_timestamp_seconds{job="events"} 1700000000.25
# HELP loader_last_success_timestamp_seconds Unix time the last successful run finished (0: none yet).
# TYPE loader_last_success_timestamp_seconds gauge
loader_last_success_timestamp_seconds{job="events"} 1700000000.25
"""


def test_exact_file_content() -> None:
    assert render(report(), now=1700000000.25, last_success=None) == EXPECTED


def test_failed_run_keeps_the_previous_success() -> None:
    text = render(report(exit_code=3, status="rejects_exceeded"), now=1700000600, last_success=1700000000.25)
    assert 'loader_last_run_success{job="events"} 0\n' in text
    assert 'loader_last_run_exit_code{job="events"} 3\n' in text
    assert 'loader_last_run_exit_class{job="events",class="fix"} 1\n' in text
    assert 'loader_last_run_timestamp_seconds{job="events"} 1700000600\n' in text
    assert text.endswith('loader_last_success_timestamp_seconds{job="events"} 1700000000.25\n')
    # never succeeded: 0, so an alert on its age fires at once
    text = render(report(exit_code=1, status="failed"), now=1700000600, last_success=None)
    assert text.endswith('loader_last_success_timestamp_seconds{job="events"} 0\n')
    assert 'loader_last_run_exit_class{job="events",class="rerun"} 1\n' in text


def test_label_values_are_escaped() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    text = render(report(job='we"ird\\job\n2'), now=1, last_success=None)
    assert 'loader_last_run_rows_read{job="we\\"ird\\\\job\\n2"} 1000\n' in text
    assert text.count("\n") == 51  # the newline in the label did not split a sample line


def test_write_is_atomic_and_carries_last_success_across_failures(tmp_path: Path) -> None:
    path = tmp_path / "metrics" / "events.prom"
    write_metrics(str(path), report(), now=1000.5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert previous_success(str(path), "events") == 1000.5
    write_metrics(str(path), report(exit_code=1, status="failed"), now=2000)
    assert previous_success(str(path), "events") == 1000.5
    assert 'loader_last_run_timestamp_seconds{job="events"} 2000\n' in path.read_text()
    write_metrics(str(path), report(), now=3000)
    assert previous_success(str(path), "events") == 3000
    assert os.listdir(path.parent) == ["events.prom"]  # no temp file left behind


def test_another_jobs_success_is_not_borrowed(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    write_metrics(str(path), report(job='a"b'), now=1000)
    assert previous_success(str(path), 'a"b') == 1000
    write_metrics(str(path), report(job="other", exit_code=1, status="failed"), now=2000)
    assert previous_success(str(path), "other") == 0


def test_unreadable_previous_file_counts_as_no_success(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_text('garbage\nloader_last_success_timestamp_seconds{job="events"} not-a-number\n')
    assert previous_success(str(path), "events") is None
    assert previous_success(str(tmp_path / "missing.prom"), "events") is None


# ------------------------------------------------------------------- CLI


def sample(text: str, name: str) -> float:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(name + "{")]
    return float(line.rsplit(" ", 1)[1])


def test_cli_metrics_across_success_failure_and_lock(tmp_path: Path, data_dir: Path) -> None:
    db, prom = tmp_path / "b.db", tmp_path / "b.prom"
    base = ["load", str(data_dir / "bad.csv"), str(db), "--infer-rows", "3", "--metrics-file", str(prom), "--quiet"]
    assert cli(*base).returncode == 0
    first = prom.read_text()
    assert sample(first, "loader_last_run_rows_read") == 7
    assert sample(first, "loader_last_run_rows_written") == 4
    assert sample(first, "loader_last_run_rows_rejected") == 3
    assert sample(first, "loader_last_run_peak_memory_bytes") > 0
    succeeded = sample(first, "loader_last_success_timestamp_seconds")
    assert succeeded == sample(first, "loader_last_run_timestamp_seconds") > 0

    assert cli(*base, "--restart", "--max-rejects", "0").returncode == 3
    failed = prom.read_text()
    assert (sample(failed, "loader_last_run_exit_code"), sample(failed, "loader_last_run_success")) == (3, 0)
    assert 'loader_last_run_exit_class{job="table:bad",class="fix"} 1' in failed
    assert sample(failed, "loader_last_success_timestamp_seconds") == succeeded

    with TargetLock(str(db)):
        assert cli(*base, "--restart").returncode == 75
    assert prom.read_text() == failed  # the run holding the lock owns the file
