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
