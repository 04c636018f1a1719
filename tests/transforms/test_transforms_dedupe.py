"""dedupe: repeated keys dropped (as filtered) across a run, with a SQLite side table."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from transforms_testutil import chunk_of, col

from loader.cli import main
from loader.errors import ConfigError, LoaderError, TargetLockedError
from loader.transforms import Dedupe
from loader.writers.sqlite import SQLiteWriter
from tests.conftest import read_only
from tests.reliability_util import write_job


def test_drops_repeats_within_and_across_chunks() -> None:
    stage = Dedupe(columns=["id"])
    try:
        a = stage(chunk_of({"id": [1, 2, 1, 3], "v": ["a", "b", "c", "d"]}, first_row=1))
        b = stage(chunk_of({"id": [3, 4, 2, 4], "v": ["e", "f", "g", "h"]}, first_row=5))
    finally:
        stage.close()
    assert col(a, "v") == ["a", "b", "d"] and a.rows.to_pylist() == [1, 2, 4]
    assert col(b, "v") == ["f"] and b.rows.to_pylist() == [6]
    assert a.rows_filtered == 1 and b.rows_filtered == 3
    assert a.rejects == [] and b.rejects == []


def test_composite_keys_nulls_and_types() -> None:
    stage = Dedupe(columns=["k", "d", "x"])
    c = chunk_of(
        {
            "k": ["ø", "ø", None, None, "ø"],
            "d": pa.array([dt.date(2024, 1, 1)] * 4 + [dt.date(2024, 1, 2)], pa.date32()),
            "x": [1.5, 1.5, None, None, 1.5],
        }
    )
    out = stage(c)
    # nulls in a key compare equal (as in SQL DISTINCT)
    assert out.rows.to_pylist() == [1, 3, 5]
    again = stage(
        chunk_of(
            {"k": [None, "ø"], "d": pa.array([dt.date(2024, 1, 1)] * 2, pa.date32()), "x": pa.array([None, 2.0])},
            first_row=6,
        )
    )
    stage.close()
    assert again.rows.to_pylist() == [7]


def test_null_is_not_confused_with_a_value() -> None:
    stage = Dedupe(columns=["a", "b"])
    out = stage(chunk_of({"a": [None, 1, 1, None], "b": [1, None, 1, None]}))
    stage.close()
    assert out.num_rows == 4


def test_minus_zero_is_the_key_zero_and_nan_one_key() -> None:
    """-0.0 and 0.0 hashed and printed apart ('-0' and '0'), so both rows were kept
    (SQLite then stored two 0.0); SQL's DISTINCT merges them. The kept value is untouched."""
    stage = Dedupe(columns=["x"])
    try:
        a = stage(chunk_of({"x": [-0.0, 0.0, 2.0, float("nan"), -float("nan")]}, first_row=1))
        b = stage(chunk_of({"x": [0.0, float("nan"), 3.0]}, first_row=6))
    finally:
        stage.close()
    assert a.rows.to_pylist() == [1, 3, 4] and b.rows.to_pylist() == [8]
    assert math.copysign(1.0, col(a, "x")[0]) == -1.0  # the first row's -0.0 is loaded as it was
    assert (a.rows_filtered, b.rows_filtered) == (2, 2)


@pytest.mark.parametrize("type_", [pa.float16(), pa.float32(), pa.float64()])
def test_minus_zero_is_zero_in_every_float_width_and_composite_keys(type_: pa.DataType) -> None:
    stage = Dedupe(columns=["k", "x"])
    out = stage(chunk_of({"k": ["a", "a", "b", "a"], "x": pa.array([0.0, -0.0, -0.0, 0.5], type_)}))
    again = stage(chunk_of({"k": ["b"], "x": pa.array([0.0], type_)}, first_row=5))
    stage.close()
    assert out.rows.to_pylist() == [1, 3, 4] and again.num_rows == 0


def test_temp_db_is_removed_on_close() -> None:
    stage = Dedupe(columns=["id"])
    stage(chunk_of({"id": [1]}))
    assert stage._store is not None
    tmpdir = stage._store._tmpdir
    assert tmpdir and os.path.isdir(tmpdir)
    stage.close()
    assert not os.path.exists(tmpdir)
    stage.close()  # twice is fine


def test_empty_batch_opens_nothing() -> None:
    stage = Dedupe(columns=["id"])
    out = stage(chunk_of(pa.record_batch({"id": pa.array([], pa.int64())})))
    assert out.num_rows == 0 and stage._store is None


class _CommitFailsFull:
    """A store's connection whose COMMIT fails as SQLite's on a full disk does: the transaction
    rolled back, then SQLITE_FULL."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)


@pytest.mark.parametrize("state", [False, True])
def test_a_full_disk_at_commit_says_so_naming_the_store_not_cannot_rollback(tmp_path: Path, state: bool) -> None:
    stage = Dedupe(
        columns=["id"], name="transform[1] (dedupe)", state_path=str(tmp_path / "k.sqlite") if state else None
    )
    stage(chunk_of({"id": [1]}))
    store = stage._store
    assert store is not None
    store.conn = _CommitFailsFull(store.conn)  # type: ignore[assignment]
    with pytest.raises(LoaderError) as caught:
        stage(chunk_of({"id": [2]}, first_row=2))
    path = str(tmp_path / "k.sqlite") if state else os.path.join(str(store._tmpdir), "keys.sqlite")
    assert str(caught.value) == (
        f"transform[1] (dedupe): key store {path}: no space left on the device (SQLite: database or disk is full)"
    )
    where = (
        "free space on its disk, or set state_path to a larger one"
        if state
        else f"without state_path the key store lives in the temporary directory ({tempfile.gettempdir()}): "
        "set TMPDIR or state_path to a larger disk"
    )
    assert caught.value.hint == f"{where}; committed work is kept; fix this and rerun the same command to resume"
    assert caught.value.exit_code == 1
    stage.close()


def test_a_key_store_in_a_read_only_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """An absolute state_path in a read-only directory: exit 1 ("rerun", retried forever) before."""
    folder = tmp_path / "ro"
    folder.mkdir()
    stage = Dedupe(columns=["id"], name="transform[1] (dedupe)", state_path=str(folder / "k.sqlite"))
    with read_only(folder), pytest.raises(ConfigError) as caught:
        stage(chunk_of({"id": [1]}))
    assert str(caught.value) == (
        f"transform[1] (dedupe): state_path: cannot create the key store {folder / 'k.sqlite'}: its directory is "
        "not writable"
    )
    assert caught.value.hint == "give state_path a path in a writable directory (next to the target, say)"
    stage.close()


def test_state_path_remembers_keys_for_a_resumed_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = str(tmp_path / "target.dedupe.sqlite")
    first = Dedupe(columns=["id"], state_path=state)
    out = first(chunk_of({"id": [1, 2]}, file="a.csv", first_row=1))
    assert out.num_rows == 2
    first.close()  # as if the run stopped here
    assert os.path.exists(state)
    second = Dedupe(columns=["id"], state_path=state)
    # A resumed run re-reads row 2 of a.csv (not committed yet): it owns key 2, so it stays.
    redo = second(chunk_of({"id": [2, 3, 1]}, file="a.csv", first_row=2))
    assert redo.rows.to_pylist() == [2, 3]
    # Another file repeating key 1 is a duplicate.
    other = second(chunk_of({"id": [1, 9]}, file="b.csv"))
    second.close()
    assert col(other, "id") == [9]
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT count(*) FROM keys_1").fetchone()[0] == 4


def test_a_resumed_run_owns_its_rows_keys_however_it_spells_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys were owned by the file's name as spelled: resumed from another directory
    (``../a/d.csv``), rows re-read after the stop were their own keys' duplicates, and dropped."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state = str(tmp_path / "keys.sqlite")
    monkeypatch.chdir(tmp_path / "a")
    first = Dedupe(columns=["id"], state_path=state)
    first(chunk_of({"id": [1, 2, 3]}, file="d.csv", first_row=1))
    first.close()
    monkeypatch.chdir(tmp_path / "b")
    second = Dedupe(columns=["id"], state_path=state)
    redo = second(chunk_of({"id": [2, 3, 1]}, file="../a/d.csv", first_row=2))
    second.close()
    assert redo.rows.to_pylist() == [2, 3]


def test_a_key_store_that_knows_files_by_relative_names_still_owns_their_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store an earlier version kept names files as spelled: from that run's directory, a
    resumed run still owns the keys its rows claimed, and keeps those rows."""
    state = str(tmp_path / "keys.sqlite")
    monkeypatch.chdir(tmp_path)
    first = Dedupe(columns=["id"], state_path=state)
    first(chunk_of({"id": [1, 2, 3]}, file="d.csv", first_row=1))
    first.close()
    with sqlite3.connect(state) as conn:  # as an earlier version left it
        conn.execute("UPDATE files SET path = 'd.csv'")
    conn.close()
    second = Dedupe(columns=["id"], state_path=state)
    redo = second(chunk_of({"id": [2, 3, 1, 4]}, file="d.csv", first_row=2))
    other = second(chunk_of({"id": [4, 5]}, file="e.csv"))
    second.close()
    assert (redo.rows.to_pylist(), col(other, "id")) == ([2, 3, 5], [5])
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT path FROM files ORDER BY id").fetchall() == [("d.csv",), (str(tmp_path / "e.csv"),)]
    conn.close()


@pytest.mark.parametrize("recorded_by", ["this version", "an earlier version"])
def test_a_resumed_run_owns_its_rows_keys_through_another_link_to_the_file(tmp_path: Path, recorded_by: str) -> None:
    """The store knew a file by its absolute path: run through ``lnk/d.csv`` (``lnk -> cfg``)
    and resumed as ``cfg/d.csv``, rows re-read after the stop were their own keys' duplicates,
    and dropped. It knows a file by its real path now; a store an earlier version kept under
    the link's name still owns the keys, while the link reaches the file."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "d.csv").write_text("id\n1\n2\n3\n")
    (tmp_path / "lnk").symlink_to(tmp_path / "cfg")
    state, linked, real = (
        str(tmp_path / "keys.sqlite"),
        str(tmp_path / "lnk" / "d.csv"),
        str(tmp_path / "cfg" / "d.csv"),
    )
    first = Dedupe(columns=["id"], state_path=state)
    first(chunk_of({"id": [1, 2, 3]}, file=linked, first_row=1))
    first.close()
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT path FROM files").fetchall() == [(real,)]
        if recorded_by == "an earlier version":
            conn.execute("UPDATE files SET path = ?", (linked,))
    conn.close()
    second = Dedupe(columns=["id"], state_path=state)
    redo = second(chunk_of({"id": [2, 3, 1, 4]}, file=real, first_row=2))
    other = second(chunk_of({"id": [4, 1, 5]}, file=str(tmp_path / "cfg" / "e.csv")))
    second.close()
    assert (redo.rows.to_pylist(), col(other, "id")) == ([2, 3, 5], [5])


def test_a_job_resumed_from_another_directory_loads_the_rows_its_stop_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after a few commits from the job's directory and resumed from another: the
    rows read ahead of the last commit had claimed their keys under ``d.csv``, and the resumed
    run, reading ``../cfg/d.csv``, dropped them as duplicates (4,000 rows lost, exit 0)."""
    cfg, elsewhere = tmp_path / "cfg", tmp_path / "elsewhere"
    cfg.mkdir()
    elsewhere.mkdir()
    (cfg / "d.csv").write_text("id,v\n" + "".join(f"{i},{'x' * 30}\n" for i in range(20_000)))
    dedupe = {"type": "dedupe", "columns": ["id"], "state_path": "out.db.dedupe.sqlite"}
    sink = {"path": "out.db", "table": "t", "batch_size": 1000}
    write_job(cfg / "job.toml", source={"path": "d.csv"}, transform=[dedupe], sink=sink)
    monkeypatch.chdir(cfg)
    original, commits = SQLiteWriter.commit, []

    def commit(self: Any, job: str, state: dict[str, str]) -> None:  # the fifth commit, then Ctrl-C
        original(self, job, state)
        commits.append(job)
        if len(commits) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(SQLiteWriter, "commit", commit)
    assert main(["run", "job.toml", "-q"]) == 130
    monkeypatch.setattr(SQLiteWriter, "commit", original)
    monkeypatch.chdir(elsewhere)
    assert main(["run", "../cfg/job.toml", "-q", "--report", "rep.json"]) == 0
    report = json.loads((elsewhere / "rep.json").read_text())
    assert (report["rows_written"], report["rows_filtered"]) == (15_000, 0)
    with sqlite3.connect(cfg / "out.db") as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchall() == [(20_000, 20_000)]
    conn.close()


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"columns: no column 'idd' in the data"):
        Dedupe(columns=["idd"])(chunk_of({"id": [1]}))
    with pytest.raises(ConfigError, match=r"columns: expected a list of column names"):
        Dedupe(columns="id")
    with pytest.raises(ConfigError, match=r"state_path: directory .* does not exist"):
        Dedupe(columns=["id"], state_path="/nonexistent/dir/x.sqlite")(chunk_of({"id": [1]}))


def test_many_keys_stay_out_of_python_memory() -> None:
    stage = Dedupe(columns=["id"])
    total = 0
    for i in range(20):
        ids = pa.array(range(i * 5000 - 2500 if i else 0, (i + 1) * 5000), pa.int64())  # half overlap
        out = stage(chunk_of({"id": ids}, first_row=1 + i * 10000))
        total += out.num_rows
    stage.close()
    assert total == 100_000


def test_a_run_drops_the_row_whose_key_is_minus_zero(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The CSV's -0.0 made a second key, and SQLite stored both rows as 0.0."""
    (tmp_path / "z.csv").write_text("id,x\n1,0.0\n2,-0.0\n3,2.0\n")
    job = write_job(
        tmp_path / "z.toml",
        source={"path": str(tmp_path / "z.csv")},
        sink={"type": "sqlite", "path": str(tmp_path / "z.db"), "table": "t"},
        transform=[{"type": "dedupe", "columns": ["x"]}],
    )
    assert main(["run", str(job), "-q"]) == 0
    with sqlite3.connect(tmp_path / "z.db") as conn:
        assert conn.execute("SELECT id, x FROM t ORDER BY id").fetchall() == [(1, 0.0), (3, 2.0)]


def test_a_store_another_run_holds_is_waited_for_then_exit_75_naming_it(tmp_path: Path) -> None:
    """A ``state_path`` shared by two runs at once: the one that finds it held waits the
    sink's busy_timeout for it (then goes on), or stops with 75 naming the store, never an
    internal ``database is locked``."""
    state = str(tmp_path / "keys.sqlite")
    Dedupe(columns=["id"], state_path=state).close()  # the store made
    holder = sqlite3.connect(state, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another run, writing its keys
    stage = Dedupe(columns=["id"], state_path=state)
    stage.store_wait = 0.3
    try:
        with pytest.raises(TargetLockedError) as e:
            stage(chunk_of({"id": [1, 2]}, file="a.csv", first_row=1))
    finally:
        holder.execute("ROLLBACK")
    assert e.value.exit_code == 75
    assert str(e.value) == (
        f"dedupe: state_path: the key store {state} is locked by another run "
        "(still locked after sink.busy_timeout = 0.3s)"
    )
    assert stage(chunk_of({"id": [1, 2]}, file="a.csv", first_row=1)).num_rows == 2  # released: it goes on
    stage.close()
    holder.close()


KEY_STAGES = {
    "dedupe": {"type": "dedupe", "columns": ["id"], "state_path": "keys.sqlite"},
    "unique": {"type": "validate", "rules": {"id": {"unique": True}}, "state_path": "keys.sqlite"},
}


def _run_job(job: Path, monkeypatch: pytest.MonkeyPatch, stdin: str | None = None) -> dict[str, Any]:
    """``loader run job`` in the job's directory (``stdin`` piped in): its report."""
    import io

    monkeypatch.chdir(job.parent)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["run", str(job), "-q", "--report", "rep.json"]) == 0
    report: dict[str, Any] = json.loads((job.parent / "rep.json").read_text())
    return report


def _table(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, val FROM t ORDER BY id, rowid").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("stage", KEY_STAGES)
@pytest.mark.parametrize("edit", ["in place", "a line inserted at the top"])
def test_a_reloaded_version_repeats_the_keys_an_earlier_one_loaded_wherever_its_lines_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, edit: str
) -> None:
    """``run.on_change = "reload"`` into an upsert target: a key counted as the row's own
    wherever the file's path and row number matched, so the rows of a version edited in place
    loaded (and updated the table) while those of one with a line inserted at the top were
    dropped: the outcome hung on whether lines moved. A key an earlier version loaded is a
    duplicate in a later one, wherever its row is."""
    (tmp_path / "a.csv").write_text("id,val\n1,a\n2,b\n3,c\n")
    sink = {"path": "out.db", "table": "t", "mode": "upsert", "primary_key": ["id"]}
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "a.csv"},
        transform=[KEY_STAGES[stage]],
        sink=sink,
        run={"on_change": "reload"},
    )
    _run_job(job, monkeypatch)
    new, added = ("1,A\n2,B\n3,C\n4,d\n", (4, "d")) if edit == "in place" else ("0,z\n1,A\n2,B\n3,C\n", (0, "z"))
    (tmp_path / "a.csv").write_text("id,val\n" + new)
    report = _run_job(job, monkeypatch)
    dropped = report["rows_filtered"] if stage == "dedupe" else report["rows_rejected"]
    assert (report["rows_written"], dropped) == (1, 3)
    assert _table(tmp_path / "out.db") == sorted([added, (1, "a"), (2, "b"), (3, "c")])


@pytest.mark.parametrize("stage", KEY_STAGES)
def test_a_grown_file_reloaded_loads_only_its_new_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """A log appended to and reloaded (``on_change = "reload"``, mode append): each old row
    sat at the row number that claimed its key, so it counted as its own and loaded again."""
    (tmp_path / "log.csv").write_text("id,val\n1,a\n2,b\n")
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "log.csv"},
        transform=[KEY_STAGES[stage]],
        sink={"path": "out.db", "table": "t"},
        run={"on_change": "reload"},
    )
    _run_job(job, monkeypatch)
    with (tmp_path / "log.csv").open("a") as fh:
        fh.write("3,c\n")
    report = _run_job(job, monkeypatch)
    assert report["rows_written"] == 1
    assert _table(tmp_path / "out.db") == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize("stage", KEY_STAGES)
def test_a_later_run_on_standard_input_owns_no_key_an_earlier_one_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """Every standard input is ``-``: a key claimed by row 1 of one day's input counted as
    the own key of row 1 of the next day's, which loaded again (row 3's, id 2, did not)."""
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "-"},
        transform=[KEY_STAGES[stage]],
        sink={"path": "out.db", "table": "t"},
    )
    _run_job(job, monkeypatch, stdin="id,val\n1,a\n2,b\n")
    report = _run_job(job, monkeypatch, stdin="id,val\n1,a-again\n3,c\n2,b-again\n")
    dropped = report["rows_filtered"] if stage == "dedupe" else report["rows_rejected"]
    assert (report["rows_written"], dropped) == (1, 2)
    assert _table(tmp_path / "out.db") == [(1, "a"), (2, "b"), (3, "c")]


def test_a_key_is_its_rows_own_in_the_version_that_claimed_it_only(tmp_path: Path) -> None:
    """Row 2 of a file's second version re-read (a resumed reload) keeps the key it claimed;
    row 2 of its third version, or of the first read as the first, repeats it."""
    state = str(tmp_path / "keys.sqlite")
    first = Dedupe(columns=["id"], state_path=state)
    chunk = chunk_of({"id": [1, 2]}, file="a.csv")
    chunk.version = 2
    assert first(chunk).rows.to_pylist() == [1, 2]
    first.close()
    second = Dedupe(columns=["id"], state_path=state)
    kept = {}
    for version in (None, 2, 3):
        again = chunk_of({"id": [2]}, file="a.csv", first_row=2)
        again.version = version
        kept[version] = second(again).num_rows
    second.close()
    assert kept == {None: 0, 2: 1, 3: 0}


def test_a_store_from_before_versions_owns_its_claims_to_the_files_first_version(tmp_path: Path) -> None:
    """A key table without the version column (an earlier loader's): it gains one, and its
    claims are the first version's, so a resumed first load keeps its rows and a reload does not."""
    state = str(tmp_path / "keys.sqlite")
    first = Dedupe(columns=["id"], state_path=state)
    first(chunk_of({"id": [1, 2]}, file="a.csv"))
    first.close()
    with sqlite3.connect(state) as conn:  # as an earlier version left it
        conn.execute("CREATE TABLE old AS SELECT k0, nulls, src, row FROM keys_1")
        conn.execute("DROP TABLE keys_1")
        conn.execute(
            "CREATE TABLE keys_1 (k0, nulls INTEGER NOT NULL, src INTEGER, row INTEGER, "
            "PRIMARY KEY (k0, nulls)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO keys_1 SELECT * FROM old")
        conn.execute("DROP TABLE old")
    conn.close()
    second = Dedupe(columns=["id"], state_path=state)
    resumed = second(chunk_of({"id": [2, 3]}, file="a.csv", first_row=2))
    reload = chunk_of({"id": [1, 4]}, file="a.csv")
    reload.version = 2
    reloaded = second(reload)
    second.close()
    assert (col(resumed, "id"), col(reloaded, "id")) == ([2, 3], [4])


def _stopped_at_the_fifth_commit(monkeypatch: pytest.MonkeyPatch, job: Path, stdin: str | None = None) -> None:
    """``loader run job`` stopped by Ctrl-C just after its fifth commit."""
    import io

    original, commits = SQLiteWriter.commit, []

    def commit(self: Any, job: str, state: dict[str, str]) -> None:
        original(self, job, state)
        commits.append(job)
        if len(commits) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(SQLiteWriter, "commit", commit)
    monkeypatch.chdir(job.parent)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["run", str(job), "-q"]) == 130
    monkeypatch.setattr(SQLiteWriter, "commit", original)


@pytest.mark.parametrize("stage", KEY_STAGES)
@pytest.mark.parametrize("input_", ["a reloaded file", "standard input"])
def test_a_reload_or_standard_input_stopped_and_resumed_loads_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, input_: str
) -> None:
    """The rows read ahead of the last commit before a stop claimed their keys: resumed, the
    version they are of (a file's second, a second run's standard input) owns them, and
    they load, once; the keys of the run before stay taken."""
    data = "id,val\n" + "".join(f"{i},{'x' * 30}\n" for i in range(20_000))
    sink = {"path": "out.db", "table": "t", "batch_size": 1000}
    path = "-" if input_ == "standard input" else "d.csv"
    job = write_job(
        tmp_path / "job.toml",
        source={"path": path},
        transform=[KEY_STAGES[stage]],
        sink=sink,
        run={"on_change": "reload"},
    )
    before = "id,val\n0,first\n1,first\n"
    if path == "-":
        _run_job(job, monkeypatch, stdin=before)
        _stopped_at_the_fifth_commit(monkeypatch, job, stdin=data)
        report = _run_job(job, monkeypatch, stdin=data)
    else:
        (tmp_path / "d.csv").write_text(before)
        _run_job(job, monkeypatch)
        (tmp_path / "d.csv").write_text(data)
        _stopped_at_the_fifth_commit(monkeypatch, job)
        report = _run_job(job, monkeypatch)
    assert report["rows_written"] == 15_000  # the first run's 2 keys were dropped before the stop
    with sqlite3.connect(tmp_path / "out.db") as conn:
        found = conn.execute("SELECT count(*), count(DISTINCT id), sum(val = 'first') FROM t").fetchall()
    conn.close()
    assert found == [(20_000, 20_000, 2)]


def _store_job(tmp_path: Path, state_path: str) -> Path:
    (tmp_path / "a.csv").write_text("id\n1\n")
    stage = {"type": "dedupe", "columns": ["id"], "state_path": state_path}
    sink = {"path": str(tmp_path / "t.db"), "table": "t"}
    return write_job(tmp_path / "job.toml", source={"path": str(tmp_path / "a.csv")}, transform=[stage], sink=sink)


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["validate"]])
def test_an_absolute_key_store_in_a_read_only_directory_is_refused_by_the_dry_run_as_by_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """``validate`` and ``--dry-run`` said ok of a store the run refused with exit 2."""
    folder = tmp_path / "ro"
    folder.mkdir()
    job = _store_job(tmp_path, str(folder / "k.sqlite"))
    with read_only(folder):
        assert main([*command, str(job)]) == 2
    assert capsys.readouterr().err == (
        f"loader: error: transform[1] (dedupe): state_path: cannot create the key store {folder / 'k.sqlite'}: "
        "its directory is not writable\n"
        "  hint: give state_path a path in a writable directory (next to the target, say)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "job.toml", "ro"]  # no target made


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["validate"]])
def test_a_key_store_in_a_missing_directory_is_refused_by_the_dry_run_as_by_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    job = _store_job(tmp_path, "state/keys.sqlite")
    assert main([*command, str(job)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"loader: error: transform[1] (dedupe): state_path: directory {tmp_path / 'state'} does not exist\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "job.toml"]
