"""A run's bookkeeping (``loader.state.Ledger``): what the report counts is what was committed."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import plyvel
import pytest

from loader import load
from loader.cli import main
from loader.config import SinkConfig, SourceConfig
from loader.errors import LoaderError, SourceChangedError
from loader.rejects import Committed
from loader.report import FileReport, RunReport
from loader.state import (
    ADDED_READ_OPTIONS,
    LATER_READ_OPTIONS,
    PART_KEY,
    READ_OPTIONS,
    FileState,
    JobState,
    Ledger,
    PartsKept,
    Tally,
    file_key,
    identity,
    left_out,
    plan_files,
    read_options,
    recorded_spellings,
    same_job,
    table_job,
)
from loader.transforms import Dedupe
from loader.writers.leveldb import LevelDBWriter
from loader.writers.leveldb import peek as leveldb_peek
from loader.writers.sqlite import SQLiteWriter
from loader.writers.sqlite_schema import STATE_TABLE
from tests.conftest import sqlite_rows
from tests.reliability_util import cli, write_job


def _commit(ledger: Ledger, durable: int) -> dict[str, str]:
    """A commit as the run loop makes it: the checkpoint handed to the writer, then its return."""
    entries = ledger.checkpoint(Committed(0, 0, None))
    ledger.committed_now(durable)
    return entries


def test_rewind_sets_each_files_counts_back_to_its_last_commit() -> None:
    run = RunReport()
    ledger = Ledger(JobState(), run)
    first, second = FileReport("a.csv"), FileReport("b.csv")
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=5, rows_written=4, rows_rejected=1), {"row": 5})
    _commit(ledger, durable=1)
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=3, rows_written=3), {"row": 8})
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=2, rows_filtered=2), {"row": 2})
    ledger.rewind(durable=1)
    assert Tally.of(run) == Tally.of(first) == Tally(rows_read=5, rows_written=4, rows_rejected=1)
    assert Tally.of(second) == Tally()


def test_a_file_done_in_a_durable_commit_leaves_no_record_to_rewind() -> None:
    """A run of thousands of files keeps nothing of each past the commit that marks it
    done; a failure after still rewinds the file being read to its last commit."""
    run = RunReport()
    ledger = Ledger(JobState(), run)
    files = [FileReport(f"f{i}.csv", status="incomplete") for i in range(100)]
    for file_report in files:
        fs = FileState(file_report.path)
        ledger.count(file_report.path, fs, file_report, Tally(rows_read=2, rows_written=2), {"row": 2})
        ledger.file_done(file_report.path, fs, file_report)
        _commit(ledger, durable=ledger.handed + 1)
    assert (len(ledger.uncommitted), len(ledger._done)) == (0, 0)
    last = FileReport("z.csv", status="incomplete")
    ledger.count("z", FileState("z.csv"), last, Tally(rows_read=3, rows_written=3), {"row": 3})
    ledger.rewind(durable=ledger.handed)
    assert (Tally.of(run), Tally.of(last)) == (Tally(rows_read=200, rows_written=200), Tally())
    assert [f.rows_read for f in files] == [2] * 100


def test_commits_the_writer_holds_count_once_durable_and_a_failure_rewinds_to_the_last_durable() -> None:
    """A writer that holds rows past their commit (LevelDB's sorted runs) says how many
    commits are durable: the counts are those of the last durable one, per file too."""
    run = RunReport()
    ledger = Ledger(JobState(), run)
    first, second = FileReport("a.csv"), FileReport("b.csv")
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=5, rows_written=5), {"row": 5})
    _commit(ledger, durable=0)  # held
    ledger.count("a", FileState("a.csv"), first, Tally(rows_read=3, rows_written=3), {"row": 8})
    _commit(ledger, durable=0)  # held
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=2, rows_written=2), {"row": 2})
    _commit(ledger, durable=1)  # the first is durable now
    assert (ledger.handed, ledger.durable, ledger.committed) == (3, 1, Tally(rows_read=5, rows_written=5))
    ledger.count("b", FileState("b.csv"), second, Tally(rows_read=4, rows_written=4), {"row": 6})
    ledger.rewind(durable=2)  # the writer made the second durable as it failed
    assert Tally.of(run) == Tally.of(first) == Tally(rows_read=8, rows_written=8)
    assert Tally.of(second) == Tally()


def test_a_file_read_whole_whose_last_commit_is_not_durable_is_incomplete_after_a_rewind() -> None:
    """Both files are read whole and marked done, but the writer holds the commit that marks
    b.csv (a sorted run not complete) when the run fails: b.csv is not loaded, the rerun reads it again."""
    run = RunReport()
    ledger = Ledger(JobState(), run)
    files = [FileReport("a.csv", status="incomplete"), FileReport("b.csv", status="incomplete")]
    for file_report in files:
        fs = FileState(file_report.path)
        ledger.count(file_report.path, fs, file_report, Tally(rows_read=3, rows_written=3), {"row": 3})
        ledger.file_done(file_report.path, fs, file_report)
        _commit(ledger, durable=0)  # held
        file_report.status = "loaded"  # as the run marks a file read whole
        run.files_loaded += 1
    ledger.rewind(durable=1)
    assert [(f.status, f.rows_read) for f in files] == [("loaded", 3), ("incomplete", 0)]
    assert (run.files_loaded, run.rows_read) == (1, 3)


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


def test_a_commit_whose_return_was_never_seen_counts_once_the_target_holds_its_stamp() -> None:
    """An interrupt between the writer's commit and the ledger's bookkeeping: the target's
    checkpoint names the last commit of this run it holds, and the counts rewind to it."""
    run = RunReport()
    ledger = Ledger(JobState(), run)
    report = FileReport("a.csv")
    ledger.count("a", FileState("a.csv"), report, Tally(rows_read=5, rows_written=5), {"row": 5})
    _commit(ledger, durable=1)
    ledger.count("a", FileState("a.csv"), report, Tally(rows_read=3, rows_written=3), {"row": 8})
    stored = ledger.checkpoint(Committed(0, 0, None))  # committed; committed_now never ran
    ledger.count("a", FileState("a.csv"), report, Tally(rows_read=4, rows_written=4), {"row": 12})
    assert ledger.stored_commits(stored) == 2
    assert Ledger(JobState(), RunReport()).stored_commits(stored) == 0  # another run's stamp
    ledger.rewind(ledger.stored_commits(stored))
    assert Tally.of(run) == Tally.of(report) == Tally(rows_read=8, rows_written=8)


def _commit_then_interrupt(monkeypatch: pytest.MonkeyPatch, writer: type, at: int) -> None:
    """The writer's ``at``-th commit returns, and a KeyboardInterrupt lands at once."""
    original = writer.commit
    calls = []

    def commit(self: Any, job: str, state: dict[str, str]) -> None:
        original(self, job, state)
        calls.append(job)
        if len(calls) == at:
            raise KeyboardInterrupt

    monkeypatch.setattr(writer, "commit", commit)


def _checkpoint(target: Path, job: str) -> dict[str, str]:
    """The job's checkpoint entries as the target holds them."""
    if target.suffix == ".db":
        return dict(sqlite_rows(target, f"SELECT key, value FROM {STATE_TABLE} WHERE job = '{job}'"))
    return leveldb_peek(str(target), job)


def _stored_rows(target: Path) -> int:
    if target.suffix == ".db":
        return int(sqlite_rows(target, "SELECT count(*) FROM t")[0][0])
    db = plyvel.DB(str(target))
    try:
        return sum(1 for _ in db.iterator(include_value=False))
    finally:
        db.close()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("t.db", {}),
        ("t.ldb", {"sort": "never"}),
        ("t.ldb", {"sort": "always", "sort_run_size": 256 << 10}),
    ],
    ids=["sqlite", "leveldb", "leveldb-sorted"],
)
def test_an_interrupt_right_after_a_commit_returns_counts_that_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, options: dict[str, Any]
) -> None:
    """Whatever moment Ctrl-C lands, the report counts what the target committed: a rerun
    writes the rest, and the two reports add up to the rows the target holds."""
    src = tmp_path / "t.csv"
    src.write_text("id,v\n" + "".join(f"{i * 7919 % 20_000},{'x' * 40}\n" for i in range(20_000)))
    target = tmp_path / name
    writer = SQLiteWriter if name.endswith(".db") else LevelDBWriter
    _commit_then_interrupt(monkeypatch, writer, at=12)
    sink_options: Any = {"batch_size": 1000, **options}
    args: dict[str, Any] = {"table": "t"} if name.endswith(".db") else {"key": "{id:08d}"}
    with pytest.raises(KeyboardInterrupt) as info:
        load(src, target, run_options={"quiet": True}, sink_options=sink_options, **args)
    first = info.value.report  # type: ignore[attr-defined]
    monkeypatch.undo()
    entries = _checkpoint(target, first.job)
    checkpointed = sum(json.loads(v)["rows_written"] for k, v in entries.items() if k.startswith("file:"))
    assert first.status == "interrupted" and first.rows_written == first.files[0].rows_written == checkpointed
    if options.get("sort") != "always":
        assert first.rows_written == _stored_rows(target) == 12_000  # the twelve commits, the last one's too
    second = load(src, target, run_options={"quiet": True}, sink_options=sink_options, **args)
    assert first.rows_written + second.rows_written == 20_000 == _stored_rows(target)


CSV: dict[str, Any] = {"format": "csv", "infer_rows": 100}  # a.csv.gz and b.csv


def _half_loaded(directory: Path, db: Path) -> int:
    """``directory/a.csv.gz`` loaded in part: its second half cut off, so the run stops in
    it after committing some batches. The rows committed from it."""
    directory.mkdir()
    rows = b"".join(b"%d,%d\n" % (i, i * 2654435761 % 4294967291) for i in range(200_000))
    whole = gzip.compress(b"id,v\n" + rows)
    (directory / "a.csv.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(LoaderError):
        load(str(directory / "*.csv*"), str(db), table="t", source_options=CSV, sink_options={"batch_size": 1000})
    [(kept,)] = sqlite_rows(db, "SELECT count(*) FROM t")
    assert kept > 0
    return int(kept)


def test_a_half_loaded_file_gone_before_the_rerun_is_reported_with_the_rows_kept(tmp_path: Path) -> None:
    """Deleted after a run stopped in it: the rerun loads the other files, lists it as
    ``gone`` with the rows committed from it, and its summary line warns."""
    db = tmp_path / "t.db"
    kept = _half_loaded(tmp_path / "in", db)
    (tmp_path / "in" / "a.csv.gz").unlink()
    (tmp_path / "in" / "b.csv").write_text("id,v\n1,2\n")
    report = load(str(tmp_path / "in" / "*.csv*"), str(db), table="t", source_options=CSV)
    gone = str(tmp_path / "in" / "a.csv.gz")
    assert (report.status, report.rows_written, report.files_loaded, report.files_gone) == ("ok", 1, 1, 1)
    assert [(f.path, f.status, f.rows_kept) for f in report.files] == [
        (gone, "gone", kept),
        (str(tmp_path / "in" / "b.csv"), "loaded", None),
    ]
    assert report.summary().endswith(
        f"; WARNING 1 half-loaded file gone since an earlier run ({gone}; {kept:,} committed rows kept)"
    )
    again = load(
        str(tmp_path / "in" / "*.csv*"), str(db), table="t", source_options=CSV
    )  # each run says so: the rows are a part
    assert [(f.status, f.rows_kept) for f in again.files] == [("gone", kept), ("skipped", None)]


def test_a_half_loaded_file_changed_within_min_age_waits_and_is_not_gone(tmp_path: Path) -> None:
    """A file a run stopped in, written again since (the copy goes on): left for a later run
    as ``too-new`` while it changes, not called ``gone``; once settled, it is a changed file."""
    db = tmp_path / "t.db"
    kept = _half_loaded(tmp_path / "in", db)
    src = tmp_path / "in" / "a.csv.gz"
    src.write_bytes(gzip.compress(b"id,v\n" + b"".join(b"%d,0\n" % i for i in range(200_000))))
    options = {**CSV, "min_age": 60}
    report = load(str(tmp_path / "in" / "*.csv*"), str(db), table="t", source_options=options)
    assert (report.status, report.files_gone, report.files_too_new) == ("ok", 0, 1)
    assert [(f.path, f.status) for f in report.files] == [(str(src), "too-new")]
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(kept,)]
    os.utime(src, (time.time() - 120, time.time() - 120))
    with pytest.raises(SourceChangedError):  # settled: as any file changed since rows of it loaded
        load(str(tmp_path / "in" / "*.csv*"), str(db), table="t", source_options=options)


def test_a_file_loaded_whole_and_gone_since_is_no_news(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text("id\n1\n")
    load(str(src / "*.csv"), str(tmp_path / "t.db"), table="t")
    (src / "a.csv").unlink()
    (src / "b.csv").write_text("id\n2\n")
    report = load(str(src / "*.csv"), str(tmp_path / "t.db"), table="t")
    assert [f.status for f in report.files] == ["loaded"]
    assert "WARNING" not in report.summary() and report.files_gone == 0


def test_a_file_half_loaded_in_parts_and_gone_since_is_reported(tmp_path: Path) -> None:
    """On ``processes`` a half-loaded file's rows are in its committed parts' entries."""
    src = tmp_path / "in"
    src.mkdir()
    lines = [f"{i},v{i}" for i in range(20_000)]
    lines[0] = "oops,v"  # the first part's reject stops the run once that part is committed
    (src / "a.csv").write_text("id,v\n" + "\n".join(lines) + "\n")
    db = tmp_path / "t.db"
    run = {"engine": "processes", "workers": 1, "part_size": 64 << 10, "max_rejects": 0}
    with pytest.raises(LoaderError) as stop:
        load(str(src / "*.csv"), str(db), table="t", source_options={"columns": {"id": "int64"}}, run_options=run)
    assert stop.value.exit_code == 3
    [(kept,)] = sqlite_rows(db, "SELECT count(*) FROM t")
    assert 0 < kept < 20_000
    (src / "a.csv").unlink()
    (src / "b.csv").write_text("id,v\n1,b\n")
    report = load(str(src / "*.csv"), str(db), table="t", run_options={"engine": "processes", "workers": 1})
    assert [(f.path, f.status, f.rows_kept) for f in report.files] == [
        (str(src / "a.csv"), "gone", kept),
        (str(src / "b.csv"), "loaded", None),
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_tables_name_in_another_case_is_one_job(tmp_path: Path, engine: str) -> None:
    """SQLite takes ``Events`` and ``events`` for one table: they were two checkpoints, so the
    second spelling loaded every file again, into a reject file of its own name."""
    src = tmp_path / "a.csv"
    src.write_text("id,n\n1,5\n2,6,extra\n3,7\n")
    db = tmp_path / "t.db"
    run = {"engine": engine, "workers": 1}
    first = load(str(src), db, table="Events", run_options=run)
    assert (first.rows_written, first.rows_rejected, first.job) == (2, 1, "table:events")
    assert first.rejects_path == str(tmp_path / "t.db.table-events.rejects.jsonl")
    again = load(str(src), db, table="EVENTS", run_options=run)
    assert (again.rows_written, again.files_skipped, again.rejects_path) == (0, 1, first.rejects_path)
    assert sqlite_rows(db, "SELECT count(*) FROM events") == [(2,)]
    assert sqlite_rows(db, f"SELECT DISTINCT job FROM {STATE_TABLE}") == [("table:events",)]


def test_a_checkpoint_under_an_earlier_spelling_of_the_table_still_counts(tmp_path: Path) -> None:
    """A job a loader before named as the run spelled its table (``table:Events``): its files
    still count as loaded under any spelling, and its entries move under the job's one name
    with the first commit; where both names hold a key, the one name's wins."""
    import sqlite3

    for name, rows in (("a.csv", "1\n2\n"), ("b.csv", "3\n")):
        (tmp_path / name).write_text("id\n" + rows)
    db = tmp_path / "t.db"
    load(str(tmp_path / "a.csv"), db, table="Events")
    with sqlite3.connect(db) as conn:  # as the loader before wrote it for --table Events
        conn.execute(f"UPDATE {STATE_TABLE} SET job = 'table:Events'")
        conn.execute(f"INSERT INTO {STATE_TABLE} VALUES ('table:EVENTS', 'stale', '1', '')")
    conn.close()
    with SQLiteWriter(SinkConfig(path=str(db), type="sqlite"), "events") as w:
        assert w.read_state("table:events")["stale"] == "1"
        assert "file:" + str(tmp_path / "a.csv") in w.read_state("table:events")
    report = load([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], db, table="events")
    assert (report.rows_written, report.files_loaded, report.files_skipped) == (1, 1, 1)
    assert sqlite_rows(db, "SELECT id FROM events ORDER BY id") == [(1,), (2,), (3,)]
    assert sqlite_rows(db, f"SELECT DISTINCT job FROM {STATE_TABLE}") == [("table:events",)]
    restarted = load(str(tmp_path / "a.csv"), db, table="EVENTS", run_options={"restart": True})
    assert restarted.rows_written == 2  # --restart forgets every spelling's entries


def test_the_naming_rule_is_recorded_and_a_checkpoint_without_it_is_an_earlier_versions() -> None:
    """A job's columns keep the naming rule of the run that first recorded them: a checkpoint
    with columns and no rule is an earlier version's (their names bind a header's repeats)."""
    schema = json.dumps({"column_2": "string", "id": "int64"})
    new = JobState.parse({"job": json.dumps({"status": "complete"})})
    assert (new.names, new.legacy_names(), json.loads(new.job_entry())["names"]) == (2, [], 2)
    old = JobState.parse({"job": json.dumps({"status": "complete"}), "schema": schema})
    assert (old.names, old.legacy_names(), json.loads(old.job_entry())["names"]) == (1, ["column_2", "id"], 1)
    recorded = JobState.parse({"job": old.job_entry(), "schema": schema})
    assert (recorded.names, recorded.legacy_names()) == (1, ["column_2", "id"])
    ours = JobState.parse({"job": json.dumps({"status": "complete", "names": 2}), "schema": schema})
    assert (ours.names, ours.legacy_names()) == (2, [])


def test_only_ascii_letters_fold_in_a_tables_job_as_in_sqlite() -> None:
    """SQLite folds ASCII letters only in names: ``Ñ`` and ``ñ`` are two tables, two jobs."""
    assert table_job("ÑandúEvents") == "table:Ñandúevents"
    assert table_job("Ñ") != table_job("ñ")
    assert same_job("table:Events", "table:events") and not same_job("table:Ñ", "table:ñ")
    assert not same_job("table:events", "table:Events")  # a job named by hand keeps its spelling
    assert not same_job("key:Events", "key:events")


def _linked(tmp_path: Path) -> Path:
    """``in/d1.csv`` (ids 1, 2) and ``in/0latest.csv``, a link to it that sorts first."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "d1.csv").write_text("id\n1\n2\n")
    (folder / "0latest.csv").symlink_to("d1.csv")
    return folder


def test_a_file_loaded_with_a_link_to_it_is_not_loaded_again_once_the_link_is_gone(tmp_path: Path) -> None:
    folder, db = _linked(tmp_path), tmp_path / "o.db"
    assert load(str(folder / "*.csv"), str(db), table="t").rows_written == 2
    (folder / "0latest.csv").unlink()
    report = load(str(folder / "*.csv"), str(db), table="t")
    assert (report.rows_written, [(f.path, f.status) for f in report.files]) == (
        0,
        [(str(folder / "d1.csv"), "skipped")],
    )
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY rowid") == [(1,), (2,)]


@pytest.mark.parametrize("on_change", ["skip", "reload"])
def test_a_latest_link_pointed_at_a_new_file_loads_each_file_once(tmp_path: Path, on_change: Any) -> None:
    """The link had kept d1's checkpoint: pointed at d2 it counted as d1 changed, d1 loaded
    again under its own name and d2, a duplicate of the link, never loaded."""
    folder, db = _linked(tmp_path), tmp_path / "o.db"
    load(str(folder / "*.csv"), str(db), table="t")
    (folder / "d2.csv").write_text("id\n3\n4\n")
    (folder / "0latest.csv").unlink()
    (folder / "0latest.csv").symlink_to("d2.csv")
    report = load(str(folder / "*.csv"), str(db), table="t", run_options={"on_change": on_change})
    assert (report.status, report.rows_written, report.files_changed) == ("ok", 2, 0)
    assert [(f.path, f.status) for f in report.files] == [
        (str(folder / "d1.csv"), "skipped"),
        (str(folder / "d2.csv"), "loaded"),
    ]
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (4,)]


def test_a_file_loaded_through_a_link_alone_is_known_under_its_own_name(tmp_path: Path) -> None:
    folder, db = _linked(tmp_path), tmp_path / "o.db"
    load(str(folder / "0latest.csv"), str(db), table="t")
    (folder / "d2.csv").write_text("id\n3\n4\n")
    (folder / "0latest.csv").unlink()
    (folder / "0latest.csv").symlink_to("d2.csv")
    report = load(str(folder / "d*.csv"), str(db), table="t", run_options={"on_change": "skip"})
    assert [(f.path, f.status) for f in report.files] == [
        (str(folder / "d1.csv"), "skipped"),
        (str(folder / "d2.csv"), "loaded"),
    ]
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (4,)]


def test_an_entry_from_before_identities_named_the_real_file_counts_through_its_link(tmp_path: Path) -> None:
    """A checkpoint an earlier version kept under a link's name: the file the link still
    reaches, with the same content, is loaded; another file of that content is not."""
    folder = _linked(tmp_path)
    (folder / "copy.csv").write_text("id\n1\n2\n")
    link, d1, copy = (str(folder / n) for n in ("0latest.csv", "d1.csv", "copy.csv"))
    old = {k: v for k, v in (identity(link) or {}).items() if k != "real"}
    state = JobState(files={file_key(link): FileState(path=link, identity=old, done=True)})
    assert [p.status for p in plan_files([d1, copy], state, "error")] == ["skipped", "loaded"]


def _half_loaded_through(tmp_path: Path) -> tuple[Path, Path]:
    """``z.csv`` (ids 1..10, row 7 bad) half loaded through ``link.csv``: 8 rows committed, up
    to row 9's batch."""
    (tmp_path / "z.csv").write_text("id\n" + "".join(f"{'bad' if i == 7 else i}\n" for i in range(1, 11)))
    (tmp_path / "link.csv").symlink_to("z.csv")
    db = tmp_path / "o.db"
    small = {"chunk_size": 2}
    with pytest.raises(LoaderError) as info:
        load(
            str(tmp_path / "link.csv"),
            str(db),
            table="t",
            source_options={"columns": {"id": "int64"}},
            sink_options={"batch_size": 2},
            run_options={**small, "max_rejects": 0},
        )
    assert info.value.exit_code == 3
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(8,)]
    return tmp_path, db


def test_a_file_half_loaded_through_a_link_goes_on_under_it_when_both_names_are_inputs(tmp_path: Path) -> None:
    """The glob reaches the file as ``link.csv`` and ``z.csv``: its own name had won, so the
    file loaded again from its start (its 8 rows twice, exit 0) and link.csv was reported gone."""
    folder, db = _half_loaded_through(tmp_path)
    report = load(
        str(folder / "*.csv"),
        str(db),
        table="t",
        source_options={"columns": {"id": "int64"}},
        sink_options={"batch_size": 2},
        run_options={"chunk_size": 2},
    )
    assert [(f.path, f.status) for f in report.files] == [(str(folder / "link.csv"), "resumed")]
    assert (report.rows_written, report.files_gone) == (1, 0)
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY rowid") == [(i,) for i in (1, 2, 3, 4, 5, 6, 8, 9, 10)]


def test_the_spelling_a_checkpoint_has_an_entry_for_wins_else_the_files_own(tmp_path: Path) -> None:
    """A half-loaded or done entry under a link's name (an older version's, without the real
    path, too) names the file; an entry under the file's own name first; an entry a link
    made of another file (since pointed here) does not."""
    folder = _linked(tmp_path)
    (folder / "d2.csv").write_text("id\n3\n")
    link, d1, d2 = (str(folder / n) for n in ("0latest.csv", "d1.csv", "d2.csv"))
    names = [[d1, link]]  # as ``readers.spellings`` gives them: the own name first
    old = {k: v for k, v in (identity(link) or {}).items() if k != "real"}
    half = FileState(path=link, identity=old, position={"offset": 3}, rows_read=1, rows_written=1)
    assert recorded_spellings(names, JobState()) == [d1]
    assert recorded_spellings(names, JobState(files={file_key(link): half})) == [link]
    assert recorded_spellings(names, JobState(parts={file_key(link): PartsKept(link, 1, 1)})) == [link]
    both = {file_key(link): half, file_key(d1): FileState(path=d1, identity=identity(d1), done=True)}
    assert recorded_spellings(names, JobState(files=both)) == [d1]
    elsewhere = FileState(path=link, identity=identity(d2), done=True)  # the link reached d2 then
    assert recorded_spellings(names, JobState(files={file_key(link): elsewhere})) == [d1]


def test_a_file_reached_through_a_linked_folder_is_checkpointed_under_its_own_name(tmp_path: Path) -> None:
    """``0latest/d.csv`` sorted before ``data/2024/d.csv`` and was kept: with 0latest pointed
    at data/2025 the next run stopped with "changed since it was loaded" (65), and with
    on_change = reload loaded data/2025/d.csv's rows a second time."""
    for year, ids in (("2024", "1\n2\n"), ("2025", "3\n4\n5\n")):
        (tmp_path / "data" / year).mkdir(parents=True)
        (tmp_path / "data" / year / "d.csv").write_text("id\n" + ids)
    (tmp_path / "0latest").symlink_to(tmp_path / "data" / "2024")
    paths, db = [str(tmp_path / "data" / "*" / "d.csv"), str(tmp_path / "0latest" / "*.csv")], tmp_path / "o.db"
    first = load(paths, str(db), table="t")
    assert [f.path for f in first.files] == [str(tmp_path / "data" / y / "d.csv") for y in ("2024", "2025")]
    (tmp_path / "0latest").unlink()
    (tmp_path / "0latest").symlink_to(tmp_path / "data" / "2025")
    for on_change in ("error", "reload"):
        report = load(paths, str(db), table="t", run_options={"on_change": on_change})
        assert (report.status, report.rows_written, report.files_skipped) == ("ok", 0, 2)
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,), (4,), (5,)]


def _two_directories(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    """``cfg/d.csv`` (``rows`` rows, ids 0..rows-1) beside an ``elsewhere`` directory."""
    cfg, elsewhere = tmp_path / "cfg", tmp_path / "elsewhere"
    cfg.mkdir()
    elsewhere.mkdir()
    (cfg / "d.csv").write_text("id,v\n" + "".join(f"{i},{'x' * 30}\n" for i in range(rows)))
    return cfg, elsewhere


@pytest.mark.parametrize(
    ("target", "sink"),
    [("out.db", {"table": "t", "batch_size": 1000}), ("out.ldb", {"key": "{id:08d}", "batch_size": 1000})],
    ids=["sqlite", "leveldb"],
)
def test_a_file_half_loaded_from_one_directory_resumes_from_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, sink: dict[str, Any]
) -> None:
    """The checkpoint kept ``d.csv`` as the first run spelled it, and the resumed run checked
    that name from its own directory after its last read: exit 66 "d.csv: no such file" on
    every rerun from there, for a file that is there."""
    cfg, elsewhere = _two_directories(tmp_path, 20_000)
    write_job(cfg / "job.toml", source={"path": "d.csv"}, sink={"path": target, **sink})
    monkeypatch.chdir(cfg)
    _commit_then_interrupt(monkeypatch, SQLiteWriter if target.endswith(".db") else LevelDBWriter, at=5)
    assert main(["run", "job.toml", "-q", "--report", "first.json"]) == 130
    monkeypatch.undo()  # the writer's commit as it is; back in the test's directory
    monkeypatch.chdir(elsewhere)
    assert main(["run", "../cfg/job.toml", "-q", "--report", "rep.json"]) == 0
    first = json.loads((cfg / "first.json").read_text())
    report = json.loads((elsewhere / "rep.json").read_text())
    assert [(f["path"], f["status"]) for f in report["files"]] == [("../cfg/d.csv", "resumed")]
    assert (report["files_gone"], first["rows_written"] + report["rows_written"]) == (0, 20_000)
    assert _stored_rows(cfg / target) == 20_000
    if target.endswith(".db"):
        assert sqlite_rows(cfg / target, "SELECT count(DISTINCT id) FROM t") == [(20_000,)]
    again = main(["run", "../cfg/job.toml", "-q", "--report", "rep.json"])
    assert (again, json.loads((elsewhere / "rep.json").read_text())["rows_written"]) == (0, 0)


def _half_loaded_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: dict[str, Any] | None = None, engine: str = "processes"
) -> tuple[Path, Path, int]:
    """``cfg/d.csv`` half loaded in parts by ``cfg/job.toml`` run from ``cfg`` (the first
    part's reject stops it) into ``sink`` (by default ``out.db``, table ``t``): the two
    directories and the rows committed."""
    cfg, elsewhere = _two_directories(tmp_path, 20_000)
    text = (cfg / "d.csv").read_text().replace("\n0,", "\noops,", 1)
    (cfg / "d.csv").write_text(text)
    run = {"engine": engine, "workers": 1, "part_size": 64 << 10}
    source = {"path": "d.csv", "columns": {"id": "int64"}}
    sink = sink or {"path": "out.db", "table": "t"}
    write_job(cfg / "job.toml", source=source, sink=sink, run=run)
    monkeypatch.chdir(cfg)
    assert main(["run", "job.toml", "-q", "--set", "run.max_rejects=0"]) == 3
    kept = _stored_rows(cfg / str(sink["path"]))
    assert 0 < kept < 19_999
    return cfg, elsewhere, kept


def test_a_file_half_loaded_in_parts_from_one_directory_resumes_from_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts were counted to their file by the path their run spelled: from another directory
    the file was listed twice, once ``gone`` (with a WARNING on every later run)."""
    cfg, elsewhere, kept = _half_loaded_in_parts(tmp_path, monkeypatch)
    monkeypatch.chdir(elsewhere)
    assert main(["run", "../cfg/job.toml", "-q", "--report", "rep.json", "--metrics-file", "m.prom"]) == 0
    report = json.loads((elsewhere / "rep.json").read_text())
    assert [(f["path"], f["status"]) for f in report["files"]] == [("../cfg/d.csv", "resumed")]
    assert (report["files_gone"], report["rows_written"]) == (0, 19_999 - kept)
    assert 'loader_last_run_files_gone{job="table:t"} 0' in (elsewhere / "m.prom").read_text()
    assert sqlite_rows(cfg / "out.db", "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]
    assert main(["run", "../cfg/job.toml", "-q", "--report", "rep.json"]) == 0
    again = json.loads((elsewhere / "rep.json").read_text())
    assert (again["rows_written"], again["files_gone"], [f["status"] for f in again["files"]]) == (0, 0, ["skipped"])


@pytest.mark.parametrize(
    "sink",
    [{"path": "out.db", "table": "t"}, {"path": "out.ldb", "key": "{id:08d}"}],
    ids=["sqlite", "leveldb"],
)
def test_a_file_half_loaded_in_parts_resumes_through_a_linked_deploy_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sink: dict[str, Any]
) -> None:
    """Run as ``cfg/job.toml``, resumed as ``current/job.toml`` (``current -> cfg``): the
    parts were committed under ``cfg/d.csv``, the rerun found none under ``current/d.csv``
    and loaded every part again (the committed rows twice, exit 0, ``cfg/d.csv`` gone), as
    did ``threads``, which now refuses the file as under its first name."""
    cfg, elsewhere, kept = _half_loaded_in_parts(tmp_path, monkeypatch, sink)
    (tmp_path / "current").symlink_to(cfg)
    monkeypatch.chdir(elsewhere)
    job, linked = str(tmp_path / "current" / "job.toml"), str(tmp_path / "current" / "d.csv")
    target = cfg / str(sink["path"])
    capsys.readouterr()
    assert main(["run", job, "-q", "--set", "run.engine=threads"]) == 78
    assert capsys.readouterr().err.splitlines()[0] == (
        f"loader: error: {linked}: half loaded in parts by an earlier run with run.engine = 'processes' or 'dask'"
    )
    assert _stored_rows(target) == kept
    assert main(["run", job, "--dry-run"]) == 0
    assert f"  {linked}: half loaded in parts: its other parts are loaded" in capsys.readouterr().out.splitlines()
    assert main(["run", job, "-q", "--report", "rep.json"]) == 0
    report = json.loads((elsewhere / "rep.json").read_text())
    assert [(f["path"], f["status"]) for f in report["files"]] == [(linked, "resumed")]
    assert (report["files_gone"], report["rows_written"]) == (0, 19_999 - kept)
    assert _stored_rows(target) == 19_999
    if target.suffix == ".db":
        assert sqlite_rows(target, "SELECT count(*), count(DISTINCT id), min(id) FROM t") == [(19_999, 19_999, 1)]
    for again in (job, str(cfg / "job.toml")):  # loaded once, under either name
        assert main(["run", again, "-q", "--report", "rep.json"]) == 0
        rerun = json.loads((elsewhere / "rep.json").read_text())
        assert (rerun["rows_written"], rerun["files_gone"], [f["status"] for f in rerun["files"]]) == (
            0,
            0,
            ["skipped"],
        )


def test_parts_an_earlier_version_recorded_by_a_relative_path_resume_from_their_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Part entries from before they recorded their file's key hold only the path as their run
    spelled it: from that run's directory the file still goes on, its parts loaded once."""
    cfg, _, kept = _half_loaded_in_parts(tmp_path, monkeypatch)
    conn = sqlite3.connect(cfg / "out.db")
    with conn:
        for key, value in conn.execute(f"SELECT key, value FROM {STATE_TABLE} WHERE key LIKE 'part:%'").fetchall():
            entry = json.loads(value)
            assert entry.pop("key") == file_key(str(cfg / "d.csv")) and entry["path"] == "d.csv"
            conn.execute(f"UPDATE {STATE_TABLE} SET value = ? WHERE key = ?", (json.dumps(entry), key))
    conn.close()
    report = load(
        "d.csv", "out.db", table="t", run_options={"engine": "processes", "workers": 1, "part_size": 64 << 10}
    )
    assert [(f.path, f.status) for f in report.files] == [("d.csv", "resumed")]
    assert (report.files_gone, report.rows_written) == (0, 19_999 - kept)
    assert sqlite_rows(cfg / "out.db", "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]


def test_a_half_loaded_entry_under_another_spelling_of_the_file_is_resumed(tmp_path: Path) -> None:
    """An entry half loaded through ``lnk/d.csv`` (``lnk`` a link to ``cfg``) names the file the
    run reaches as ``cfg/d.csv``: it goes on in that entry (an earlier version's, without the
    real path, too), not from its start beside it. A file the entry's spelling is an input of
    this run under, or one of other content at another real path, does not."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "d.csv").write_text("id\n1\n2\n3\n")
    (tmp_path / "lnk").symlink_to(cfg)
    linked, real = str(tmp_path / "lnk" / "d.csv"), str(cfg / "d.csv")
    ident = identity(linked) or {}
    old = {k: v for k, v in ident.items() if k != "real"}
    for recorded in (ident, old):
        half = FileState(path=linked, identity=recorded, position={"offset": 5}, rows_read=1, rows_written=1)
        [plan] = plan_files([real], JobState(files={file_key(linked): half}), "error")
        assert (plan.key, plan.status, plan.path, plan.state and plan.state.rows_written) == (
            file_key(linked),
            "resumed",
            real,
            1,
        )
    (cfg / "e.csv").write_text("id\n4\n")
    other = str(cfg / "e.csv")
    [plan] = plan_files([other], JobState(files={file_key(linked): half}), "error")
    assert (plan.key, plan.status) == (file_key(other), "loaded")


def test_a_file_half_loaded_in_parts_under_another_spelling_goes_on_in_its_parts(tmp_path: Path) -> None:
    """Parts committed of ``lnk/d.csv`` (``lnk -> cfg``) count to the file the run reaches as
    ``cfg/d.csv``: its plan is of their key (the parts' ids are made of it), by the real path
    they recorded, or, parts from before they recorded the file's identity, the one their key
    reaches now. Not a file of the parts' own key among the inputs, nor another file."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "d.csv").write_text("id\n1\n2\n3\n")
    (cfg / "e.csv").write_text("id\n4\n")
    (tmp_path / "lnk").symlink_to(cfg)
    linked, real, other = str(tmp_path / "lnk" / "d.csv"), str(cfg / "d.csv"), str(cfg / "e.csv")
    part = {"path": linked, "key": file_key(linked), "rows_read": 1, "rows_written": 1}
    for recorded in ({"identity": identity(linked)}, {}):
        state = JobState()
        state.add_part({**part, **recorded})
        [plan] = plan_files([real], state, "error")
        assert (plan.key, plan.status, plan.path) == (file_key(linked), "loaded", real)
        assert plan.state is not None and (plan.state.path, plan.state.rows_read) == (real, 0)
        assert [(p.key, p.status) for p in plan_files([other, linked], state, "error")] == [
            (file_key(other), "loaded"),
            (file_key(linked), "loaded"),
        ]


def test_a_reload_in_parts_a_stop_cut_short_goes_on_in_its_parts_under_another_spelling(tmp_path: Path) -> None:
    """``lnk/d.csv`` (``lnk -> cfg``) finished, changed, and its reload in parts stopped: its
    entry is the finished version's, so ``cfg/d.csv`` was planned as a new file of its own key
    and every part loaded again. Its plan is of the parts' key, as the next version, where
    parts of the version it is now were committed (an entry from before parts recorded their
    version too, by its identity); not where they are of the finished version or another one."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "d.csv").write_text("id\n1\n2\n3\n")
    (tmp_path / "lnk").symlink_to(cfg)
    linked, real = str(tmp_path / "lnk" / "d.csv"), str(cfg / "d.csv")
    now = identity(real) or {}
    before = {**now, "size": 3, "sha256_head_tail": "0" * 64}  # the version it finished as
    finished = FileState(path=linked, identity=before, rows_read=2, rows_written=2, done=True)
    part = {"path": linked, "key": file_key(linked), "rows_read": 1, "rows_written": 1}
    other = {**now, "mtime_ns": 1}  # rewritten in place since its parts were committed

    def plan(*parts: dict[str, Any]) -> tuple[str, str, int]:
        state = JobState(files={file_key(linked): finished})
        for entry in parts:
            state.add_part({**part, **entry})
        [found] = plan_files([real], state, "reload")
        assert found.state is not None
        assert state.half_in_parts(found.key, found.state.identity) == (found.key == file_key(linked))
        return found.key, found.status, found.state.version

    for reloading in ({"version": 2, "identity": now}, {"identity": now}):
        assert plan({"identity": before}, reloading) == (file_key(linked), "loaded", 2)
    for not_reloading in ({"identity": before}, {"version": 2, "identity": other}, {"identity": other}, {}):
        assert plan(not_reloading) == (file_key(real), "loaded", 1)


@pytest.mark.parametrize("stages", ["none", "dedupe"])
def test_a_file_half_loaded_then_resumed_through_a_linked_folder_loads_each_row_once(
    tmp_path: Path, stages: str
) -> None:
    """Stopped part way through ``cfg/d.csv``, resumed as ``lnk/d.csv`` (``lnk -> cfg``, a
    deploy's ``current`` link): the file loaded again from its start (its committed rows
    twice, exit 0, and ``cfg/d.csv`` reported gone); with ``dedupe`` the key store credited
    the stopped run's keys to another file, and the rows re-read after the stop were lost."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (tmp_path / "lnk").symlink_to(cfg)
    (cfg / "d.csv").write_text("id\n" + "".join(f"{i % 1500}\n" for i in range(2000)))
    keys = str(tmp_path / "keys.sqlite")
    sizes = {"sink_options": {"batch_size": 100}, "run_options": {"chunk_size": 100}}

    def stages_then(*more: Any) -> list[Any]:
        return [*([Dedupe(columns=["id"], state_path=keys)] if stages == "dedupe" else []), *more]

    def boom(batch: Any) -> Any:
        if max(batch.column("id").to_pylist(), default=0) >= 850:
            raise RuntimeError("injected failure")
        return batch

    with pytest.raises(LoaderError):
        load(str(cfg / "d.csv"), str(tmp_path / "o.db"), table="t", transforms=stages_then(boom), **sizes)
    assert sqlite_rows(tmp_path / "o.db", "SELECT count(*) FROM t") == [(800,)]
    report = load(str(tmp_path / "lnk" / "d.csv"), str(tmp_path / "o.db"), table="t", transforms=stages_then(), **sizes)
    assert [(f.path, f.status) for f in report.files] == [(str(tmp_path / "lnk" / "d.csv"), "resumed")]
    assert report.files_gone == 0
    want = (1500, 1500) if stages == "dedupe" else (2000, 1500)
    assert sqlite_rows(tmp_path / "o.db", "SELECT count(*), count(DISTINCT id) FROM t") == [want]


def test_a_file_every_row_of_which_was_rejected_is_read_again_with_other_source_options(tmp_path: Path) -> None:
    """The fix a "nothing loaded" error names (``--encoding cp1252``) reads such a file again,
    as its next version; with the same options it stays loaded, and a file of which rows
    loaded stays loaded whatever the options."""
    rejected, loaded = tmp_path / "d2.csv", tmp_path / "d1.csv"
    rejected.write_bytes(b"id;name\n3;Zo\xeb\n")
    loaded.write_text("id;name\n1;Anna\n")
    utf8 = read_options(SourceConfig(path=[str(rejected)]))
    cp1252 = read_options(SourceConfig(path=[str(rejected)], encoding="cp1252"))
    counts = {"rows_read": 1, "done": True, "position": {"row": 1}}
    state = JobState(
        files={
            file_key(str(rejected)): FileState(
                str(rejected), identity(str(rejected)), **counts, rows_rejected=1, read_with=utf8
            ),
            file_key(str(loaded)): FileState(str(loaded), identity(str(loaded)), **counts, rows_written=1),
        }
    )
    files = [str(loaded), str(rejected)]
    assert [p.status for p in plan_files(files, state, "error", utf8)] == ["skipped", "skipped"]
    skipped, again = plan_files(files, state, "error", cp1252)
    assert (skipped.status, again.status) == ("skipped", "loaded")
    assert again.state == FileState(str(rejected), identity(str(rejected)), version=2, superseded=[1], read_with=cp1252)
    # its entry as committed: the version it replaced, for a replay to skip its reject lines,
    # and the options it is read with
    assert json.loads(again.state.to_json())["superseded"] == [1]
    assert json.loads(again.state.to_json())["read_with"] == cp1252


@pytest.mark.parametrize(("option", "other"), [("quoted_nulls", False), ("escape_mode", "c")])
def test_an_entry_recorded_before_an_option_was_read_with_its_old_default(
    tmp_path: Path, option: str, other: object
) -> None:
    """An older loader's entry lacks ``quoted_nulls`` (``escape_mode``) and read with today's
    default: the same options, not other ones (an upgrade read a fully rejected file again);
    a run with ``quoted_nulls = false`` (``escape_mode = "c"``) reads the file again."""
    src = tmp_path / "d.csv"
    src.write_text('id;n\n3;""\n')
    older = read_options(SourceConfig(path=[str(src)]))
    del older[option]
    counts = {"rows_read": 1, "rows_rejected": 1, "done": True, "position": {"row": 1}, "read_with": older}
    state = JobState(files={file_key(str(src)): FileState(str(src), identity(str(src)), **counts)})
    same = read_options(SourceConfig(path=[str(src)]))
    assert [p.status for p in plan_files([str(src)], state, "error", same)] == ["skipped"]
    others = read_options(SourceConfig(path=[str(src)], **{option: other}))
    assert [p.status for p in plan_files([str(src)], state, "error", others)] == ["loaded"]


# the read options the first checkpoints to record them (a15cb2b) wrote
ORIGINAL_READ_OPTIONS = (
    "format",
    "encoding",
    "delimiter",
    "quote_char",
    "escape_char",
    "header",
    "column_names",
    "skip_rows",
    "null_values",
    "na_values",
    "decimal_separator",
    "max_row_bytes",
)


def test_every_read_option_is_recorded_or_has_its_old_default() -> None:
    """An option added to ``READ_OPTIONS`` without either made every older entry "read with
    other options" (hunt25b #4)."""
    added = set(READ_OPTIONS) - set(ORIGINAL_READ_OPTIONS)
    assert added == LATER_READ_OPTIONS | set(ADDED_READ_OPTIONS)


def test_a_version_a_replay_loaded_rows_of_is_not_read_again_with_other_source_options(tmp_path: Path) -> None:
    """A replay's checkpoint entries (``replayed:<path>[#v<version>]#<rows>``) name the file
    versions with rows in the target: such a version is skipped whatever the options; a
    replay of another version of the file does not hold it back."""
    src = tmp_path / "d.csv"
    src.write_bytes(b"id;name\n3;Zo\xeb\n")
    utf8 = read_options(SourceConfig(path=[str(src)]))
    cp1252 = read_options(SourceConfig(path=[str(src)], encoding="cp1252"))
    counts = {"rows_read": 1, "rows_rejected": 1, "done": True, "position": {"row": 1}, "read_with": utf8}
    key = file_key(str(src))
    entry = FileState(str(src), identity(str(src)), **counts).to_json()
    state = JobState.parse({key: entry, f"replayed:{src}#1-1": "[1]"})
    assert state.replayed == {(key, 1)}
    assert [p.status for p in plan_files([str(src)], state, "error", cp1252)] == ["skipped"]
    # the replayed rows are of version 2: version 1's read is still read again
    state = JobState.parse({key: entry, f"replayed:{src}#v2#1-1": "[1]"})
    assert state.replayed == {(key, 2)}
    assert [p.status for p in plan_files([str(src)], state, "error", cp1252)] == ["loaded"]


def _fix_rejects(path: Path, column: str, fixed: dict[str, str]) -> None:
    """The user's fix of a reject file: each line's ``column`` by its row's ``id``."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        line["values"][column] = fixed[line["values"]["id"]]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_file_whose_rejects_were_replayed_is_not_read_again_under_other_source_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Every row of day1.csv rejected (exit 4), its fixed rejects replayed: its rows are in the
    target. The next day's run with --encoding cp1252 read day1.csv again and loaded its rows
    a second time (exit 0)."""
    monkeypatch.chdir(tmp_path)
    Path("day1.csv").write_bytes(b"id,name\n1,Zo\xeb\n2,caf\xe9\n")
    load = ["load", "day*.csv", "o.db", "--table", "t", "-q", "--engine", engine]
    assert main(load) == 4
    _fix_rejects(tmp_path / "o.db.table-t.rejects.jsonl", "name", {"1": "Zoë", "2": "café"})
    assert main(["replay", "o.db.table-t.rejects.jsonl", "day*.csv", "o.db", "--table", "t", "-q"]) == 0
    Path("day2.csv").write_bytes(b"id,name\n3,na\xefve\n")
    assert main([*load, "--encoding", "cp1252", "--report", "r.json"]) == 0
    report = json.loads(Path("r.json").read_text())
    assert [(f["path"], f["status"]) for f in report["files"]] == [("day1.csv", "skipped"), ("day2.csv", "loaded")]
    assert sqlite_rows(tmp_path / "o.db", "SELECT id, name FROM t ORDER BY rowid") == [
        (1, "Zoë"),
        (2, "café"),
        (3, "naïve"),
    ]


def test_a_file_whose_type_rejects_were_replayed_is_not_read_again_with_other_na_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every amount not an int64 (exit 4), the fixed rejects replayed; a later run with other
    --na-values read the file again: its rows twice, the second time with NULL amounts."""
    monkeypatch.chdir(tmp_path)
    Path("d.csv").write_text("id,amount\n1,x1\n2,x2\n")
    load = ["load", "d.csv", "o.db", "--table", "t", "-q", "--columns", "amount=int64"]
    assert main(load) == 4
    _fix_rejects(tmp_path / "o.db.table-t.rejects.jsonl", "amount", {"1": "10", "2": "20"})
    assert main(["replay", "o.db.table-t.rejects.jsonl", *load[1:]]) == 0
    assert main([*load, "--na-values", "x1", "--na-values", "x2"]) == 0
    assert sqlite_rows(tmp_path / "o.db", "SELECT id, amount FROM t ORDER BY id") == [(1, 10), (2, 20)]


def test_left_out_names_the_files_whose_rows_a_replace_would_drop(tmp_path: Path) -> None:
    """Loaded whole, half loaded, in parts, or replayed from its rejects, and none of the inputs
    (a link's file is its real file's; a file without rows drops none)."""
    real = tmp_path / "real.csv"
    real.write_text("id\n1\n")
    here = tmp_path / "here.csv"
    state = JobState()
    for name, rows, done in (
        ("gone.csv", 3, True),
        ("half.csv", 2, False),
        ("none.csv", 0, True),
        ("here.csv", 5, True),
    ):
        state.files[file_key(str(tmp_path / name))] = FileState(str(tmp_path / name), rows_written=rows, done=done)
    state.files[file_key(str(tmp_path / "link.csv"))] = FileState(
        str(tmp_path / "link.csv"), identity={"real": str(real)}, rows_written=4, done=True
    )
    state.parts[file_key(str(tmp_path / "parts.csv"))] = PartsKept(str(tmp_path / "parts.csv"), 7, 6)
    replayed = {f"replayed:{tmp_path / 'gone.csv'}#2-3": "[2, 3]", f"replayed:{tmp_path / 'none.csv'}#v2#1-1": "[1]"}
    assert left_out(state, replayed, [str(here), str(real)]) == [
        (str(tmp_path / "gone.csv"), 5),
        (str(tmp_path / "half.csv"), 2),
        (str(tmp_path / "none.csv"), 1),
        (str(tmp_path / "parts.csv"), 6),
    ]
    inputs = ("gone.csv", "half.csv", "parts.csv", "link.csv", "here.csv")
    assert left_out(state, {}, [str(tmp_path / n) for n in inputs]) == []


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_a_restart_in_mode_replace_that_would_drop_files_gone_since_is_refused_and_changes_nothing(
    tmp_path: Path, sink: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder's retention removed a file the job loaded: --restart --mode replace loaded the
    others only, dropping its rows, exit 0. Refused now (exit 2), the target, its checkpoint and
    the reject file as they were; --drop-gone lets it. A file waiting for source.min_age is an
    input still. A restart in upsert drops nothing: not refused, the gone file's rows stay."""
    src = tmp_path / "in"
    src.mkdir()
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    how = ["--table", "t", "--primary-key", "id"] if sink == "sqlite" else ["--key", "{id}"]
    args = ["load", str(src / "*.csv"), str(target), *how, "--mode", "upsert", "-q"]
    (src / "d1.csv").write_text("id,v\n1,1\n")
    assert main(args) == 0
    (src / "d2.csv").write_text("id,v\n2,2\n3,x\n")  # row 3 rejected: v is int64
    assert main(args) == 0
    rejects = next(tmp_path.glob("*.rejects.jsonl"))

    def snapshot() -> tuple[list[Any], Any]:
        """The target's rows (ids first) and its checkpoint."""
        if sink == "sqlite":
            with sqlite3.connect(target) as conn:
                return conn.execute("SELECT * FROM t ORDER BY id").fetchall(), conn.execute(
                    f"SELECT * FROM {STATE_TABLE} ORDER BY job, key"
                ).fetchall()
        db = plyvel.DB(str(target))
        try:
            return [(int(k), v) for k, v in db], (target / "loader-state.jsonl").read_bytes()
        finally:
            db.close()

    def ids() -> list[int]:
        return sorted(row[0] for row in snapshot()[0])

    (src / "d1.csv").rename(tmp_path / "d1.csv")  # retention
    before, lines = snapshot(), rejects.read_bytes()
    replace = [*args, "--restart", "--mode", "replace"]
    assert main([*replace, "--min-age", "60"]) == 2  # d2.csv, written just now, waits: not gone
    assert capsys.readouterr().err.splitlines()[-2] == (
        "loader: error: run.restart with sink.mode = 'replace' would drop the 1 rows of 1 file the job loaded "
        f"that is no longer among its inputs ({src / 'd1.csv'}: 1 rows)"
    )
    assert (snapshot(), rejects.read_bytes()) == (before, lines)
    assert main([*args, "--restart"]) == 0  # upsert: the rows of d1.csv stay
    # d1.csv's row stays; row 3 loads where v is inferred anew (LevelDB), not into SQLite's INTEGER column
    assert ids() == ([1, 2] if sink == "sqlite" else [1, 2, 3])
    assert main([*replace, "--drop-gone"]) == 0
    assert ids() == [2, 3]  # d2.csv's alone, v inferred anew over it: text


def test_a_thousands_separator_left_unset_keeps_an_older_checkpoints_read_options_equal() -> None:
    """Checkpoints recorded before ``thousands_separator`` existed lack it: a run that leaves it
    unset reads with the same options (an all-rejected file is not read again for it)."""
    from loader.state import read_options

    assert "thousands_separator" not in read_options(SourceConfig(path=["a.csv"]))
    assert read_options(SourceConfig(path=["a.csv"], thousands_separator=","))["thousands_separator"] == ","


def test_a_half_loaded_file_is_not_resumed_with_other_source_options(tmp_path: Path) -> None:
    """A file half loaded with ``--escape-char '\\'`` resumed with ``--escape-mode c`` read its
    first rows one way and the rest the other, in one table, silently (hunt25b #6). A run
    with other options refuses to resume it, exit 65; with the same it goes on. Its dialect
    (delimiter, quote, header) is the recorded one whatever the run gives: no refusal."""
    src = tmp_path / "h.csv"
    src.write_text("id,v\n1,a\n2,b\n")
    literal = read_options(SourceConfig(path=[str(src)], escape_char="\\"))
    c_mode = read_options(SourceConfig(path=[str(src)], escape_char="\\", escape_mode="c"))
    position = {"offset": 9, "row": 1, "dialect": {"delimiter": ",", "quote": '"', "header": True}}
    half = FileState(str(src), identity(str(src)), position=position, rows_read=1, rows_written=1, read_with=literal)
    state = JobState(files={file_key(str(src)): half})
    [refused] = plan_files([str(src)], state, "error", c_mode)
    assert (refused.status, refused.kept, refused.options) == ("other-options", 1, "escape_mode 'literal', now 'c'")
    assert [p.status for p in plan_files([str(src)], state, "error", literal)] == ["resumed"]
    semicolon = read_options(SourceConfig(path=[str(src)], escape_char="\\", delimiter=";", header=False))
    assert [p.status for p in plan_files([str(src)], state, "error", semicolon)] == ["resumed"]
    older = replace(half, read_with=None)  # an entry of a loader before it recorded them: resumed
    assert [p.status for p in plan_files([str(src)], JobState(files={file_key(str(src)): older}), "error", c_mode)] == [
        "resumed"
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_rerun_with_other_escape_options_refuses_a_half_loaded_file_and_names_a_loaded_one(
    tmp_path: Path, engine: str
) -> None:
    src, other, db = tmp_path / "h.csv", tmp_path / "done.csv", tmp_path / "o.db"
    src.write_text("id,v\n" + "".join(f"{'bad' if i == 15000 else i},x\\ty\n" for i in range(20000)))
    other.write_text("id,v\n1,a\\tb\n")
    load = ["load", str(other), str(src), str(db), "--table", "t", "--batch-size", "1000", "--engine", engine]
    load += ["--set", "run.part_size=64KiB", "--columns", "id=int64", "--escape-char", "\\"]
    assert cli(*load, "--max-rejects", "0", "-q").returncode == 3
    kept = sqlite_rows(db, "SELECT count(*) FROM t")[0][0] - 1
    again = cli(*load, "--escape-mode", "c", "--max-rejects", "10")
    assert (again.returncode, again.stdout) == (65, "")
    assert again.stderr == (
        f"loader: error: {src}: half loaded with other source options (escape_mode 'literal', now 'c'): "
        "resumed, its rows would be read two ways\n"
        "  hint: rerun with the options it was started with to finish it, or rerun with --restart --mode replace "
        "(every file of the job loads again)\n"
    )
    assert sqlite_rows(db, "SELECT count(*) FROM t")[0][0] == kept + 1  # nothing read
    assert cli(*load, "--max-rejects", "10", "-q").returncode == 0
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT v) FROM t") == [(20000, 2)]  # x\ty, a\tb: literal
    done = cli(*load, "--escape-mode", "c")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        "ok: 0 rows written to " + str(db) + " (table t) from 0 files, 2 already loaded "
        "(2 loaded with other source options: escape_mode 'literal', now 'c') in "
    ), done.stderr


def test_a_checkpoint_of_many_files_is_held_small() -> None:
    """A job's checkpoint holds an entry per file it ever loaded, parsed whole by every run:
    the source options and dialect nearly every file shares are one object, and each entry
    costs about 1 KB parsed (4.5 KB before they were shared)."""
    import tracemalloc

    from loader import sinks

    def entry(i: int) -> str:
        fs = FileState(
            path=f"in/f{i:06d}.csv",
            identity={"mtime_ns": 1796672435498664707 + i, "real": f"/data/in/f{i:06d}.csv", "size": 49 + i % 7},
            position={"dialect": {"delimiter": ",", "detected": ["delimiter"], "header": True}, "line": 5, "row": 3},
            rows_read=3,
            rows_written=3,
            done=True,
            read_with={"encoding": "utf-8", "na_values": ["NA", "N/A", "NULL", "null"], "delimiter": None},
        )
        fs.identity["sha256_head_tail"] = f"{i:064x}"  # type: ignore[index]
        return fs.to_json()

    entries = {f"file:/data/in/f{i:06d}.csv": entry(i) for i in range(2000)}
    tracemalloc.start()
    try:
        state = JobState.parse(entries)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    first, second = state.files["file:/data/in/f000000.csv"], state.files["file:/data/in/f000001.csv"]
    assert first.read_with is second.read_with and first.position["dialect"] is second.position["dialect"]
    assert first.identity is not None and first.identity["size"] == 49 and second.position["row"] == 3
    raw = sum(len(k) + len(v) + 100 for k, v in entries.items())  # the entries as read, held beside
    # parsed and as read, within what a ceiling counts for each (``MemoryProfile.entry_kb``)
    assert held / 2000 < 1300 and (held + raw) / 2000 < sinks.get("sqlite").memory.entry_kb * 1024


def _moved_folder(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """``srv/data/day1.csv`` loaded into ``o.db`` by the CLI, the folder then moved to
    ``mnt/data`` (as a disk migration, or the volume a container mounts at ``/data``) and a new
    day added; returns the new folder, the database and the load's arguments there."""
    old, new, db = tmp_path / "srv" / "data", tmp_path / "mnt" / "data", tmp_path / "o.db"
    old.mkdir(parents=True)
    (old / "day1.csv").write_text("id,v\n1,a\n2,b\n")
    assert cli("load", str(old / "*.csv"), str(db), "--table", "t", "-q").returncode == 0
    new.parent.mkdir()
    old.rename(new)
    (new / "day2.csv").write_text("id,v\n3,c\n")
    return new, db, ["load", str(new / "*.csv"), str(db), "--table", "t"]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_loaded_folder_moved_elsewhere_loads_only_its_new_files(tmp_path: Path, engine: str) -> None:
    """Every file of a moved folder had a new path: each one loaded again beside its rows, exit 0."""
    new, db, load_new = _moved_folder(tmp_path)
    was = tmp_path / "srv" / "data" / "day1.csv"
    dry = cli(*load_new, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"  {new / 'day1.csv'}: loaded already as {was} (moved since): skipped\n" in dry.stdout
    assert f"  {new / 'day2.csv'}: new\n" in dry.stdout
    done = cli(*load_new, "--engine", engine, "--report", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        f"ok: 1 rows written to {db} (table t) from 1 file, 1 already loaded (1 moved: loaded as {was}) in "
    ), done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(f["path"], f["status"], f.get("reason")) for f in report["files"]] == [
        (str(new / "day1.csv"), "skipped", f"moved: loaded as {was}"),
        (str(new / "day2.csv"), "loaded", None),
    ]
    assert (report["status"], report["files_loaded"], report["files_skipped"]) == ("ok", 1, 1)
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    # recorded under its new path: the next run finds it there, and the old folder back (the
    # host's, after the container's run) has entries of its own
    again = cli(*load_new, "--engine", engine)
    assert again.stderr.startswith(f"ok: 0 rows written to {db} (table t) from 0 files, 2 already loaded in ")
    entries = dict(sqlite_rows(db, f"SELECT key, value FROM {STATE_TABLE}"))
    assert json.loads(entries[file_key(str(new / "day1.csv"))])["rows_written"] == 0  # its rows: the old entry's
    new.rename(was.parent)
    back = cli("load", str(was.parent / "*.csv"), str(db), "--table", "t")
    assert back.stderr.startswith(f"ok: 0 rows written to {db} (table t) from 0 files, 2 already loaded (1 moved: ")
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(3, 3)]


def _done(path: Path, rows: int = 2) -> tuple[str, FileState]:
    return file_key(str(path)), FileState(str(path), identity(str(path)), rows_read=rows, rows_written=rows, done=True)


def test_identical_moved_files_pair_one_to_one_with_the_entries_they_were_loaded_as(tmp_path: Path) -> None:
    """``a/x.csv`` and ``b/x.csv``, the same bytes, loaded and moved: each new path is one of
    them; a third copy is no moved file, and neither is a copy whose original is still there."""
    for folder in ("a", "b", "kept"):
        (tmp_path / "old" / folder).mkdir(parents=True)
        (tmp_path / "old" / folder / "x.csv").write_text("id\n1\n")
    state = JobState(files=dict(_done(tmp_path / "old" / f / "x.csv") for f in ("a", "b", "kept")))
    (tmp_path / "old").rename(tmp_path / "new")
    (tmp_path / "old" / "kept").mkdir(parents=True)
    (tmp_path / "new" / "kept" / "x.csv").rename(tmp_path / "old" / "kept" / "x.csv")  # the original stays
    for folder in ("c", "copy"):
        (tmp_path / "new" / folder).mkdir()
        (tmp_path / "new" / folder / "x.csv").write_text("id\n1\n")
    (tmp_path / "new" / "y.csv").write_text("id\n1\n")  # the same bytes under another name
    files = [str(tmp_path / "new" / p) for p in ("a/x.csv", "b/x.csv", "c/x.csv", "copy/x.csv", "y.csv")]
    plans = plan_files(files, state, "error")
    assert [(p.status, p.moved and p.moved[0]) for p in plans] == [
        ("skipped", str(tmp_path / "old" / "a" / "x.csv")),
        ("skipped", str(tmp_path / "old" / "b" / "x.csv")),
        ("loaded", None),
        ("loaded", None),
        ("loaded", None),
    ]
    moved = plans[0].moved
    assert moved is not None and moved[1].done and (moved[1].path, moved[1].rows_written) == (files[0], 0)


def test_a_moved_file_matches_no_half_loaded_entry_nor_one_of_other_content(tmp_path: Path) -> None:
    """Half loaded entries of a moved file are reported gone, as before; a file of the same name
    and other bytes is a new one."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "half.csv").write_text("id\n1\n2\n")
    (old / "other.csv").write_text("id\n1\n")
    half_key, half = _done(old / "half.csv", rows=1)
    state = JobState(
        files={half_key: replace(half, done=False, position={"row": 1}), **dict([_done(old / "other.csv")])}
    )
    old.rename(tmp_path / "new")
    (tmp_path / "new" / "other.csv").write_text("id\n9\n")
    files = [str(tmp_path / "new" / "half.csv"), str(tmp_path / "new" / "other.csv")]
    assert [(p.status, p.moved) for p in plan_files(files, state, "error")] == [("loaded", None), ("loaded", None)]


def test_an_engines_parts_of_many_files_are_held_small() -> None:
    """An engine's job holds a part entry per file it ever loaded beside the file's: the
    parts' source options are one object too, and their identities' keys one string each."""
    read_with = {"encoding": "utf-8", "na_values": ["NA", "N/A", "NULL", "null"], "delimiter": None}

    def part(i: int) -> str:
        identity = {"size": 49, "mtime_ns": 1796672435498664707 + i, "real": f"/data/in/f{i:06d}.csv"}
        entry = {"path": f"in/f{i:06d}.csv", "key": f"file:/data/in/f{i:06d}.csv", "rows_read": 3}
        return json.dumps(entry | {"rows_written": 3, "identity": identity, "read_with": read_with})

    state = JobState.parse({f"{PART_KEY}{i:016x}": part(i) for i in range(3)})
    first, second = state.parts["file:/data/in/f000000.csv"], state.parts["file:/data/in/f000001.csv"]
    assert first.read_with is second.read_with and first.read_with == read_with
    assert (first.rows_written, first.real, second.cut_from[0][0]) == (3, "/data/in/f000000.csv", None)
    (_, one), (_, two) = first.cut_from[0], second.cut_from[0]
    assert one is not None and two is not None
    assert [id(k) for k in one] == [id(k) for k in two]  # the keys: one string each for all


def test_parsing_can_take_the_file_and_part_entries_out() -> None:
    """``drop_parsed``: a run's entries keep what it reads again (the job's, replays'), the
    file and part entries only in the state; an old ``S3://`` spelling's entry still yields
    to the normal one's, wherever the dict has it."""
    new, old = FileState("s3://b/k.csv", rows_written=2, done=True), FileState("S3://b/k.csv", rows_written=1)
    part = json.dumps({"path": "in/a.csv", "key": "file:/in/a.csv", "rows_written": 4})
    entries = {
        "job": '{"status": "complete"}',
        "file:S3://b/k.csv": old.to_json(),
        "file:s3://b/k.csv": new.to_json(),
        f"{PART_KEY}00ff": part,
        "replayed:file:/in/b.csv:1": "[1]",
    }
    state = JobState.parse(dict(entries))
    held = dict(entries)
    assert JobState.parse(held, drop_parsed=True) == state
    assert held == {"job": '{"status": "complete"}', "replayed:file:/in/b.csv:1": "[1]"}
    assert (state.files["file:s3://b/k.csv"].rows_written, state.parts["file:/in/a.csv"].rows_written) == (2, 4)


def _daily_snapshot(path: Path, changed: bool) -> None:
    """A daily full snapshot of 20,000 accounts; ``changed``: ten rows in its middle (past its
    first and last 64 KiB) of the same width changed, so size and fingerprint stay."""
    path.parent.mkdir(parents=True)
    rows = [f"{i:06d},shut,2000" if changed and 9000 <= i < 9010 else f"{i:06d},open,1000" for i in range(20000)]
    path.write_text("id,status,balance\n" + "\n".join(rows) + "\n")


def test_a_new_days_file_of_the_same_name_size_and_fingerprint_as_a_deleted_one_loads(tmp_path: Path) -> None:
    """Hunt26e #1: a landing folder cleaned after each load gets the next day's snapshot; the
    same name, size, first and last 64 KiB, but a new mtime: a new file, not the old one moved."""
    db, landing = tmp_path / "o.db", tmp_path / "landing"
    load_args = ["load", str(landing / "*" / "accounts.csv"), str(db), "--table", "acc", "--mode", "upsert"]
    _daily_snapshot(landing / "2024-01-01" / "accounts.csv", changed=False)
    assert cli(*load_args, "--primary-key", "id", "-q").returncode == 0
    (landing / "2024-01-01" / "accounts.csv").unlink()
    (landing / "2024-01-01").rmdir()
    _daily_snapshot(landing / "2024-01-02" / "accounts.csv", changed=True)
    os.utime(landing / "2024-01-02" / "accounts.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    done = cli(*load_args, "--primary-key", "id")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"ok: 20,000 rows written to {db} (table acc) from 1 file in "), done.stderr
    assert sqlite_rows(db, "SELECT status, count(*) FROM acc GROUP BY 1 ORDER BY 1") == [("open", 19990), ("shut", 10)]


def test_a_file_in_a_renamed_partition_folder_is_no_file_moved(tmp_path: Path) -> None:
    """``day=1/x.csv`` renamed to ``day=2/x.csv`` (mtime kept): its rows' ``day`` is the folder's,
    so it holds other rows; a folder above the partitions renamed is a move."""
    for folder in ("a/day=1", "b/day=1"):
        (tmp_path / "old" / folder).mkdir(parents=True)
        (tmp_path / "old" / folder / "x.csv").write_text("id\n1\n")
    state = JobState(files=dict(_done(tmp_path / "old" / f / "x.csv") for f in ("a/day=1", "b/day=1")))
    (tmp_path / "old").rename(tmp_path / "new")
    (tmp_path / "new" / "a" / "day=1").rename(tmp_path / "new" / "a" / "day=2")
    files = [str(tmp_path / "new" / p / "x.csv") for p in ("a/day=2", "b/day=1")]
    assert [(p.status, p.moved and p.moved[0]) for p in plan_files(files, state, "error")] == [
        ("loaded", None),
        ("skipped", str(tmp_path / "old" / "b" / "day=1" / "x.csv")),
    ]


def _moved_and_appended(tmp_path: Path, moved: bool) -> list[str]:
    """``old/d1.csv`` loaded, its folder renamed ``new`` (or left: ``moved`` False, then loaded
    as ``new/d1.csv`` from the start), a rerun, then a row appended to it."""
    db = tmp_path / "o.db"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "d1.csv").write_text("id,v\n1,a\n2,b\n")
    if not moved:
        (tmp_path / "old").rename(tmp_path / "new")
    first = "new" if not moved else "old"
    assert cli("load", str(tmp_path / first / "*.csv"), str(db), "--table", "t", "-q").returncode == 0
    if moved:
        (tmp_path / "old").rename(tmp_path / "new")
    load_new = ["load", str(tmp_path / "new" / "*.csv"), str(db), "--table", "t"]
    assert cli(*load_new, "-q").returncode == 0
    with open(tmp_path / "new" / "d1.csv", "a") as fh:
        fh.write("3,c\n")
    return load_new


def test_a_moved_file_changed_since_says_its_rows_stay_loaded_as_an_unmoved_one_does(tmp_path: Path) -> None:
    """Hunt26e #2: the moved file's entry holds none of its rows (they stay under its old
    path): its "changed" hint and ``rows_kept`` count them still, so following the hint loads
    it once."""
    said = []
    for moved in (False, True):
        where = tmp_path / str(moved)
        where.mkdir()
        load_new = _moved_and_appended(where, moved)
        changed = cli(*load_new)
        assert changed.returncode == 65, changed.stderr
        said.append(changed.stderr.replace(str(where), "W"))
        kept = cli(*load_new, "--on-change", "skip", "--report", str(where / "r.json"))
        assert kept.returncode == 0, kept.stderr
        report = json.loads((where / "r.json").read_text())
        assert [(f["status"], f["rows_kept"]) for f in report["files"]] == [("changed-skipped", 2)]
    assert said[1] == said[0]
    assert "  hint: 2 rows of it stay loaded: to load it once, delete them and rerun with " in said[1], said[1]


def test_a_restart_replace_after_a_folder_moved_is_not_refused_and_loads_the_moved_file(tmp_path: Path) -> None:
    """Hunt26e #3: the moved file's rows are of an input (its entry says which it was loaded as)."""
    db = tmp_path / "o.db"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "d1.csv").write_text("id,v\n1,a\n2,b\n")
    assert cli("load", str(tmp_path / "old" / "*.csv"), str(db), "--table", "t", "-q").returncode == 0
    (tmp_path / "old").rename(tmp_path / "new")
    load_new = ["load", str(tmp_path / "new" / "*.csv"), str(db), "--table", "t"]
    assert cli(*load_new, "-q").returncode == 0
    assert left_out(*_job_state(db), [str(tmp_path / "new" / "d1.csv")]) == []
    again = cli(*load_new, "--restart", "--mode", "replace")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith(f"ok: 2 rows written to {db} (table t) from 1 file in "), again.stderr
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b")]


def _job_state(db: Path) -> tuple[JobState, dict[str, str]]:
    entries = dict(sqlite_rows(db, f"SELECT key, value FROM {STATE_TABLE}"))
    return JobState.parse(dict(entries)), entries
