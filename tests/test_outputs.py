"""loader.outputs: the report and metrics a run leaves, and what they say when one of them
cannot be written after the load committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader.cli import main
from tests.conftest import sqlite_rows, write_csv

HINT = "  hint: the load is committed; fix the path or its permissions, and a rerun writes it"


def load_with(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, list[str]]:
    src = write_csv(tmp_path / "in.csv", ["id"], [[1], [2]])
    code = main(["load", str(src), str(tmp_path / "t.db"), "--table", "t", *flags])
    return code, capsys.readouterr().err.splitlines()


def test_a_metrics_file_that_cannot_be_written_is_the_outcome_the_report_and_log_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The process exits 1: the report, the summary and the JSON log's finish line say so
    too, not ``ok`` and exit code 0."""
    (tmp_path / "file").write_text("")
    metrics, report = tmp_path / "file" / "m.prom", tmp_path / "r.json"
    error = f"run.metrics_file: cannot write {metrics}: Not a directory"
    code, err = load_with(tmp_path, capsys, "--report", str(report), "--metrics-file", str(metrics))
    assert code == 1
    assert err[0].startswith("failed: 2 rows written to ")
    assert err[1:] == [f"loader: error: {error}", HINT]
    written = json.loads(report.read_text())
    assert (written["status"], written["exit_code"], written["error"]) == ("failed", 1, error)
    assert (written["rows_written"], written["files_loaded"]) == (2, 1)  # the load itself is committed
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM t ORDER BY id") == [(1,), (2,)]

    code, err = load_with(tmp_path, capsys, "--metrics-file", str(metrics), "--log-format", "json", "--restart")
    finish = next(json.loads(line) for line in err if '"event":"finish"' in line)
    assert code == 1
    assert (finish["level"], finish["status"], finish["exit_code"], finish["exit_class"]) == (
        "error",
        "failed",
        1,
        "rerun",
    )
    assert finish["error"] == error


def test_a_report_that_cannot_be_written_leaves_metrics_of_a_failed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    report, metrics = tmp_path / "file" / "r.json", tmp_path / "m.prom"
    code, err = load_with(tmp_path, capsys, "--report", str(report), "--metrics-file", str(metrics))
    assert code == 1
    assert err[1:] == [f"loader: error: run.report: cannot write {report}: Not a directory", HINT]
    text = metrics.read_text()
    assert 'loader_last_run_exit_code{job="table:t"} 1\n' in text
    assert 'loader_last_run_success{job="table:t"} 0\n' in text
    assert 'loader_last_run_rows_written{job="table:t"} 2\n' in text


def test_the_peak_is_read_again_once_the_report_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the report of thousands of files was the run's peak, and came after the peak
    was read: 10,000 files said ``ok`` at 156 MB under a 160 MB ceiling, with 169.5 MB used.
    The peak is read again after the report and the metrics are written; past the ceiling,
    they are written again saying so, and the summary line too."""
    from loader import report as report_module

    report, metrics = tmp_path / "r.json", tmp_path / "m.prom"

    def peak() -> float:  # the OS's peak: the writing of the report took it past the ceiling
        return 180.0 if report.exists() else 100.0

    monkeypatch.setattr(report_module, "peak_rss_mb", peak)
    code, err = load_with(
        tmp_path, capsys, "--report", str(report), "--metrics-file", str(metrics), "--max-memory", "150MB"
    )
    assert code == 0
    assert err[0].startswith("memory_exceeded: 2 rows written to ")
    assert err[0].endswith("peak 180 MB); WARNING peak memory 180 MB went past --max-memory 150 MB")
    written = json.loads(report.read_text())
    assert (written["status"], written["peak_rss_mb"], written["memory_exceeded"]) == ("memory_exceeded", 180.0, True)
    assert f'loader_last_run_peak_memory_bytes{{job="table:t"}} {180 << 20}\n' in metrics.read_text()
