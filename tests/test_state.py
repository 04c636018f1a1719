"""A run's bookkeeping (``loader.state.Ledger``): what the report counts is what was committed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from loader import load
from loader.errors import LoaderError
from loader.report import FileReport, RunReport
from loader.state import FileState, JobState, Ledger, Tally
from tests.conftest import sqlite_rows


def test_rewind_sets_each_files_counts_back_to_its_last_commit() -> None:
    run = RunReport()
    ledger = Ledger(JobState(), run)
    first, second = FileReport("a.csv"), FileReport("b.csv")
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=5, rows_written=4, rows_rejected=1), {"row": 5})
    ledger.committed_now(durable=1)
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=3, rows_written=3), {"row": 8})
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=2, rows_filtered=2), {"row": 2})
    ledger.rewind(durable=1)
    assert Tally.of(run) == Tally.of(first) == Tally(rows_read=5, rows_written=4, rows_rejected=1)
    assert Tally.of(second) == Tally()


def test_commits_the_writer_holds_count_once_durable_and_a_failure_rewinds_to_the_last_durable() -> None:
    """A writer that holds rows past their commit (LevelDB's sorted runs) says how many
    commits are durable: the counts are those of the last durable one, per file too."""
    run = RunReport()
    ledger = Ledger(JobState(), run)
    first, second = FileReport("a.csv"), FileReport("b.csv")
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=5, rows_written=5), {"row": 5})
    ledger.committed_now(durable=0)  # held
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=3, rows_written=3), {"row": 8})
    ledger.committed_now(durable=0)  # held
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=2, rows_written=2), {"row": 2})
    ledger.committed_now(durable=1)  # the first is durable now
    assert (ledger.commits, ledger.durable, ledger.committed) == (3, 1, Tally(rows_read=5, rows_written=5))
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=4, rows_written=4), {"row": 6})
    ledger.rewind(durable=2)  # the writer made the second durable as it failed
    assert Tally.of(run) == Tally.of(first) == Tally(rows_read=8, rows_written=8)
    assert Tally.of(second) == Tally()


def test_a_file_that_fails_mid_way_reports_the_rows_committed_from_it(tmp_path: Path) -> None:
    src = tmp_path / "t.csv.gz"
    whole = gzip.compress(b"id,v\n" + b"".join(b"%d,%d\n" % (i, i * 2654435761 % 4294967291) for i in range(200_000)))
    src.write_bytes(whole[: len(whole) // 2])
    db = tmp_path / "t.db"
    with pytest.raises(LoaderError) as info:
        load(str(src), str(db), table="t", source_options={"infer_rows": 100}, sink_options={"batch_size": 1000})
    report = info.value.report
    [stored] = sqlite_rows(db, "SELECT count(*) FROM t")
    [file] = report.files
    assert info.value.exit_code == 65
    assert 0 < stored[0] < 200_000
    assert (report.rows_read, report.rows_written) == (stored[0], stored[0])
    assert (file.status, file.rows_read, file.rows_written, file.rows_rejected) == (
        "incomplete",
        stored[0],
        stored[0],
        0,
    )
