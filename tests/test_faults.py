"""Faults with real processes: a second run, a foreign program holding the database
lock, a full disk, a read-only target. Each ends in one clear line and an exit code,
leaves the target at its last checkpoint, and a rerun completes exactly once."""

from __future__ import annotations

import contextlib
import json
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loader.paths import lock_path
from tests.reliability_util import (
    cli,
    env,
    file_totals,
    holds_open,
    leveldb_items,
    lock_held_by,
    popen,
    reject_lines,
    rejects_of,
    sqlite_state,
    sqlite_table,
    wait_until,
    write_job,
)

RESUME_HINT = "  hint: committed work is kept; fix this and rerun the same command to resume"


def make_input(path: Path, rows: int, bad_every: int = 500, width: int = 60) -> Path:
    pad = "x" * width
    lines = ["id,name,score"]
    lines += [f"{i},{pad}{i},{'bad' if i % bad_every == 0 else i}" for i in range(1, rows + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_ids(rows: int, bad_every: int = 500) -> list[int]:
    return [i for i in range(1, rows + 1) if i % bad_every]


def target_ids(target: Path, sink: str) -> list[int]:
    if sink == "sqlite":
        return [r[0] for r in sqlite_table(target)]
    data, _ = leveldb_items(target)
    return sorted(int(k) for k, _ in data)


def sink_args(target: Path, sink: str) -> list[str]:
    # score is declared, so 'bad' scores are rejected (inference would make the column text)
    return ["--columns", "score=int64", *(["--table", "t"] if sink == "sqlite" else ["--key", "{id}"])]


def job_of(sink: str) -> str:
    return "table:t" if sink == "sqlite" else "key:{id}"


def assert_at_checkpoint(target: Path, sink: str) -> int:
    """Rows present are exactly the rows the checkpoint counts; returns that count."""
    if sink == "sqlite":
        rows, state = sqlite_table(target), sqlite_state(target)
    else:
        rows, state = leveldb_items(target)
    ids = [r[0] for r in rows] if sink == "sqlite" else [int(k) for k, _ in rows]
    assert len(ids) == len(set(ids))
    committed = file_totals(state)["rows_written"] if state else 0
    assert len(ids) == committed
    return committed


def assert_one_error(stderr: str, first: str, hint: str | None = None) -> None:
    """The error is one line (plus its hint), after at most the summary line; no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("failed: ")]
    assert lines[0] == first, stderr
    assert lines[1:] == ([hint] if hint else []), stderr


# ------------------------------------------------------------------ two runs


def load_b_as_another_program(data_dir: Path, db: Path) -> subprocess.CompletedProcess[str]:
    """``small.csv`` into table ``b`` of ``db`` waiting 0.3 s for a lock, in a process of its own:
    SQLite's file locks are per process, and a holder in this one does not block it."""
    return cli(
        "load",
        str(data_dir / "small.csv"),
        str(db),
        "--table",
        "b",
        extra_env={"LOADER_SINK__BUSY_TIMEOUT": "0.3"},
        process=True,
    )


def test_second_run_on_same_target_exits_75_or_waits(tmp_path: Path) -> None:
    rows = 20_000
    src = make_input(tmp_path / "in.csv", rows, bad_every=100, width=4)
    db = tmp_path / "t.db"
    args = ["load", str(src), str(db), *sink_args(db, "sqlite"), "--batch-size", "100", "--chunk-size", "50"]
    first = popen(*args)
    rejects = rejects_of(db)
    while first.poll() is None and not rejects.exists():
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)  # paused mid-load, holding the lock, however fast this machine is
    assert first.poll() is None, "the first run ended before the second started"
    second = cli(*args)
    assert second.returncode == 75
    assert second.stderr == (
        f"loader: error: {db}: another loader run is writing this target\n"
        "  hint: retry when it ends, or give --lock-wait the seconds to wait for it\n"
    )
    waiting = popen(*args, "--lock-wait", "120")  # waits for the first run, then finds everything loaded
    wait_until(lambda: holds_open(waiting.pid, lock_path(str(db))), "waiting for the lock", waiting)
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert err.startswith(f"ok: 0 rows written to {db} (table t) from 0 files, 1 already loaded in ")
    assert target_ids(db, "sqlite") == expected_ids(rows, 100)
    assert len(reject_lines(rejects)) == rows // 100


# ------------------------------------------------------- foreign lock holders


def test_sqlite_locked_by_another_connection_retries_then_exits_75(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "t.db"
    assert cli("load", str(data_dir / "small.csv"), str(db), "--table", "a").returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a foreign write transaction
    try:
        p = load_b_as_another_program(data_dir, db)
        assert p.returncode == 75
        assert_one_error(
            p.stderr,
            f"loader: error: {db}: the database is locked by another program "
            "(still locked after sink.busy_timeout = 0.3s)",
            "  hint: another connection holds a transaction on the target (a write, or in a rollback-journal database a read too); retry when it ends, or raise sink.busy_timeout",
        )
        # released while the loader retries: it goes on
        late = popen(
            "load", str(data_dir / "small.csv"), str(db), "--table", "b", extra_env={"LOADER_SINK__BUSY_TIMEOUT": "60"}
        )
        wait_until(lambda: holds_open(late.pid, db), "at the locked database", late)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _, err = late.communicate(timeout=120)
    assert late.returncode == 0, err
    assert sqlite_table(db, "b", order="a") == [(1, "x"), (2, "y")]


HOLD_LEVELDB = """
import sys, plyvel
db = plyvel.DB(sys.argv[1], create_if_missing=True)
print("holding", flush=True)
sys.stdin.read()
db.close()
"""


@contextlib.contextmanager
def leveldb_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEVELDB, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate(input="", timeout=30)


def test_leveldb_locked_by_another_process_retries_then_exits_75(tmp_path: Path, data_dir: Path) -> None:
    target = tmp_path / "t.ldb"
    with leveldb_held(target) as holder:
        p = cli(
            "load",
            str(data_dir / "small.csv"),
            str(target),
            "--key",
            "{a}",
            extra_env={"LOADER_SINK__BUSY_TIMEOUT": "0.3"},
        )
        assert p.returncode == 75
        assert_one_error(
            p.stderr,
            f"loader: error: {target}: LevelDB is locked by another program (still locked after sink.busy_timeout = 0.3s)",
            "  hint: another process has this LevelDB open; retry when it ends, or raise sink.busy_timeout",
        )
        late = popen(
            "load",
            str(data_dir / "small.csv"),
            str(target),
            "--key",
            "{a}",
            extra_env={"LOADER_SINK__BUSY_TIMEOUT": "60"},
        )
        wait_until(lambda: lock_held_by(late.pid, target), "opening the target", late)
        time.sleep(0.5)  # its first tries fail: plyvel opens LOCK for a moment only, nothing to watch
        holder.communicate(input="", timeout=30)  # let go while the loader retries
    _, err = late.communicate(timeout=120)
    assert late.returncode == 0, err
    assert [k for k, _ in leveldb_items(target)[0]] == [b"00000000000000000001", b"00000000000000000002"]


def test_sqlite_held_by_another_program_waits_one_busy_timeout_in_all(tmp_path: Path, data_dir: Path) -> None:
    """A foreign EXCLUSIVE transaction at open: every statement of the open shares one
    ``busy_timeout``, and the checkpoint read after the failure does not wait again."""
    db = tmp_path / "t.db"
    assert cli("load", str(data_dir / "small.csv"), str(db), "--table", "a").returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    report = tmp_path / "r.json"
    try:
        # another program: SQLite's file locks are per process, a holder in this one does not block it
        p = cli(
            "load",
            str(data_dir / "small.csv"),
            str(db),
            "--table",
            "b",
            "--report",
            str(report),
            extra_env={"LOADER_SINK__BUSY_TIMEOUT": "4"},
            process=True,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == 75, p.stderr
    # the run's own time (not the interpreter's start, which a busy machine makes seconds long):
    # one wait, no second or third (was 3 x 4 s)
    took = json.loads(report.read_text())["elapsed_s"]
    assert 4 <= took < 2 * 4, took


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_sigterm_while_waiting_for_a_target_another_program_holds_stops_with_143(
    tmp_path: Path, data_dir: Path, sink: str
) -> None:
    target, report = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb"), tmp_path / "r.json"
    how = ["--table", "t"] if sink == "sqlite" else ["--key", "{a}"]
    args = ("load", str(data_dir / "small.csv"), str(target), *how, "--report", str(report))
    with contextlib.ExitStack() as stack:
        if sink == "sqlite":
            assert cli(*args).returncode == 0
            holder = sqlite3.connect(target, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            stack.callback(holder.close)
            stack.callback(holder.execute, "ROLLBACK")
        else:
            stack.enter_context(leveldb_held(target))
        proc = popen(*args, extra_env={"LOADER_SINK__BUSY_TIMEOUT": "60"})
        wait_until(lambda: lock_held_by(proc.pid, target), "opening the target", proc)
        if sink == "sqlite":
            wait_until(lambda: holds_open(proc.pid, target), "waiting for the target", proc)
        else:
            time.sleep(0.5)  # plyvel opens LOCK for a moment only, nothing to watch: its retries have begun
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - stopped < 5
    assert proc.returncode == 143, err
    assert err.splitlines()[-2] == "loader: error: stopped by SIGTERM; committed work is kept"
    assert json.loads(report.read_text())["status"] == "interrupted"


# ------------------------------------------------------------ disk full, read-only


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    p = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if p.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({p.stderr.strip() or 'mount failed'}); the RLIMIT_FSIZE test covers this path"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True, capture_output=True)


DISK_FULL_ERRORS = {
    "sqlite": (
        "no space left on the device (SQLite: database or disk is full)",
        "the OS refused a read or write (SQLite: disk I/O error)",
        "cannot write the reject file: No space left on device",
    ),
    "leveldb": ("LevelDB write failed: IO error: ", "cannot write the reject file: No space left on device"),
}


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_disk_full_mid_load_then_rerun_with_space_completes_once(tmp_path: Path, sink: str) -> None:
    """A real ENOSPC: the target lives on a 2 MB tmpfs that fills up mid-load."""
    rows = 60_000
    src = make_input(tmp_path / "in.csv", rows)
    with small_tmpfs(tmp_path / "small", "2m") as small:
        target = small / ("t.db" if sink == "sqlite" else "t.ldb")
        args = ["load", str(src), str(target), *sink_args(target, sink), "--batch-size", "2000"]
        # LevelDB's WriteBatches: table files (keys in order into an empty store) are 2 MiB,
        # more than this disk holds (test_disk_full_under_table_files_... below)
        args += ["--sort", "never"] if sink == "leveldb" else []
        p = cli(*args)
        assert p.returncode == 1, p.stderr
        assert "Traceback" not in p.stderr
        error, hint = p.stderr.splitlines()[-2:]
        prefix = (
            f"loader: error: {target}: "
            if "reject file" not in error
            else f"loader: error: {rejects_of(target, job_of(sink))}: "
        )
        assert error.startswith(prefix), error
        assert error[len(prefix) :].startswith(DISK_FULL_ERRORS[sink]), error
        assert hint == RESUME_HINT
        remount(small, "size=64m")  # room again
        committed = assert_at_checkpoint(target, sink)
        assert 0 < committed < len(expected_ids(rows))
        p = cli(*args)
        assert p.returncode == 0, p.stderr
        assert target_ids(target, sink) == expected_ids(rows)
        assert [r["row"] for r in reject_lines(rejects_of(target, job_of(sink)))] == list(range(500, rows + 1, 500))


@pytest.mark.parametrize("store", ["tmp", "state_path"])
def test_a_full_disk_under_the_dedupe_key_store_names_it_then_rerun_with_space_completes_once(
    tmp_path: Path, store: str
) -> None:
    """A dedupe key store on a 1 MB tmpfs (TMPDIR, or its state_path) fills up: SQLite's
    failed COMMIT has rolled back already, so the run says the disk is full, naming the store
    (not "cannot rollback"); with room, the rerun loads every row once."""
    rows = 100_000
    src = make_input(tmp_path / "in.csv", rows, bad_every=rows + 1)
    target = tmp_path / "t.db"
    with small_tmpfs(tmp_path / "small", "1m") as small:
        stage = {"type": "dedupe", "columns": ["id"]}
        stage |= {"state_path": str(small / "keys.sqlite")} if store == "state_path" else {}
        job = write_job(
            tmp_path / "job.toml",
            source={"path": str(src)},
            transform=[stage],
            sink={"path": str(target), "table": "t"},
            run={"job": "j"},
        )
        p = cli("run", str(job), extra_env={"TMPDIR": str(small)}, process=True)
        assert p.returncode == 1, p.stderr
        error, hint = p.stderr.splitlines()[-2:]
        # the temporary store (removed as the run ends) is in a directory of its own there
        keys = (
            re.escape(f"{small}/") + r"loader-keys-\w+/keys\.sqlite"
            if store == "tmp"
            else re.escape(f"{small}/keys.sqlite")
        )
        full = re.escape(": no space left on the device (SQLite: database or disk is full)")
        assert re.fullmatch(re.escape("loader: error: transform[1] (dedupe): key store ") + keys + full, error), error
        where = (
            f"without state_path the key store lives in the temporary directory ({small}): set TMPDIR or "
            "state_path to a larger disk"
            if store == "tmp"
            else "free space on its disk, or set state_path to a larger one"
        )
        assert hint == f"  hint: {where}; committed work is kept; fix this and rerun the same command to resume"
        committed = assert_at_checkpoint(target, "sqlite")
        assert committed < rows  # the state_path store (its WAL) may fill before the first commit
        remount(small, "size=64m")
        p = cli("run", str(job), extra_env={"TMPDIR": str(small)}, process=True)
        assert p.returncode == 0, p.stderr
        assert target_ids(target, "sqlite") == list(range(1, rows + 1))


def test_disk_full_under_table_files_then_rerun_with_space_completes_once(tmp_path: Path) -> None:
    """Keys in order into an empty LevelDB, on a 5 MB tmpfs that fills up with the third
    table file: the rows of the files before are in the store with their checkpoint (it may hold
    up to a batch more, which the rerun puts again); with room, the rerun loads every row once."""
    rows = 120_000
    src = make_input(tmp_path / "in.csv", rows)
    with small_tmpfs(tmp_path / "small", "5m") as small:
        target = small / "t.ldb"
        args = ["load", str(src), str(target), *sink_args(target, "leveldb"), "--batch-size", "2000"]
        p = cli(*args)
        assert p.returncode == 1, p.stderr
        assert p.stderr.splitlines()[-2:] == [
            f"loader: error: {target}: LevelDB write failed: IO error: No space left on device",
            RESUME_HINT,
        ]
        remount(small, "size=64m")
        stored, state = leveldb_items(target)
        committed = file_totals(state)["rows_written"]
        assert 0 < committed <= len(stored) < committed + 2000 + 50
        p = cli(*args)
        assert p.returncode == 0, p.stderr
        assert target_ids(target, "leveldb") == expected_ids(rows)


def test_disk_full_under_the_merges_table_files_keeps_the_write_error_then_rerun_completes_once(
    tmp_path: Path,
) -> None:
    """Keys out of order: sorted runs (on another disk), then their merge written as table
    files into a store on a 4 MB tmpfs that they fill. The store, opened again on the full
    disk, failed too, and its "cannot open LevelDB" replaced the write's error and its resume
    hint; the table files of the failed merge (in no version) stayed, filling the disk. With
    room, the rerun merges the runs: every row once."""
    rows = 60_000
    src = tmp_path / "in.csv"
    pad = "x" * 60
    lines = [f"{i},{pad}{i},{'bad' if i % 500 == 0 else i}" for i in (j * 7919 % rows + 1 for j in range(rows))]
    src.write_text("id,name,score\n" + "\n".join(lines) + "\n", encoding="utf-8")
    runs = tmp_path / "runs"
    with small_tmpfs(tmp_path / "small", "4m") as small:
        target = small / "t.ldb"
        args = ["load", str(src), str(target), *sink_args(target, "leveldb"), "--sort-run-size", "1MB"]
        args += ["--set", f"run.temp_dir={runs}"]
        p = cli(*args)
        assert p.returncode == 1, p.stderr
        assert p.stderr.splitlines()[-2:] == [
            f"loader: error: {target}: LevelDB write failed: IO error: No space left on device",
            f"{RESUME_HINT}; until then the rows counted as written wait in the sorted runs in {runs}, "
            "not in the store",
        ]
        assert not list(target.glob("*.ldb"))  # the failed merge's table files are gone
        remount(small, "size=64m")
        p = cli(*args)
        assert p.returncode == 0, p.stderr
        assert target_ids(target, "leveldb") == expected_ids(rows)
        assert not runs.exists()


@pytest.mark.parametrize(("sink", "results"), [("sqlite", "arrow"), ("sqlite", "database"), ("leveldb", "arrow")])
def test_a_full_spill_directory_names_it_and_a_rerun_with_room_completes_once(
    tmp_path: Path, sink: str, results: str
) -> None:
    """Part results (LevelDB's runs, SQLite's Arrow files or side database) on a full disk:
    Arrow's OSError was an internal error naming no path, and the failed part's files were left
    there (``.partial``), holding the space the rerun needed."""
    rows = 60_000
    src = make_input(tmp_path / "in.csv", rows)
    target = tmp_path / ("t.db" if sink == "sqlite" else "t.ldb")
    with small_tmpfs(tmp_path / "small", "512k") as small:
        spill = small / "sp"
        args = ["load", str(src), str(target), *sink_args(target, sink), "--engine", "processes", "--workers", "1"]
        args += ["--part-size", "4000000", "--spill-dir", str(spill), "--part-results", results]
        p = cli(*args)
        assert p.returncode == 1, p.stderr
        assert p.stderr.splitlines()[-2:] == spill_full(spill, "results")
        # one part, failed: nothing of it holds the disk (its start count is all)
        assert sorted(f.name for f in spill.iterdir() if f.suffix != ".starts") == [], list(spill.iterdir())
        remount(small, "size=64m")
        p = cli(*args)
        assert p.returncode == 0, p.stderr
    assert target_ids(target, sink) == expected_ids(rows)


def spill_full(spill: Path, what: str) -> list[str]:
    """The error and hint of a full ``run.spill_dir`` as a part writes its ``what``."""
    return [
        f"loader: error: {spill}: no space left on the device for the part's {what}",
        f"  hint: free space or set run.spill_dir to a larger disk ({spill} holds the results of the parts "
        "made and not committed yet: the rerun commits a large part's and reads a small file's part again, "
        "removing its results; a part that failed left none there); " + RESUME_HINT.removeprefix("  hint: "),
    ]


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_a_spill_directory_filled_by_a_parts_rejects_names_it_and_a_rerun_with_room_completes_once(
    tmp_path: Path, engine: str
) -> None:
    """A part whose bad rows fill run.spill_dir as it writes their reject lines: the error
    named the part's internal ``.rejects.jsonl.partial`` as "the reject file" (read as the
    user's own, on another disk), with no word of run.spill_dir."""
    rows = 3000
    src = make_input(tmp_path / "in.csv", rows, bad_every=1, width=2000)  # a big reject line per row
    lines = src.read_text(encoding="utf-8").splitlines()
    lines[1::10] = [f"{i},n,{i}" for i in range(1, rows + 1, 10)]  # every 10th row loads, and is small
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "t.db"
    with small_tmpfs(tmp_path / "small", "512k") as small:
        spill = small / "sp"
        args = ["load", str(src), str(target), *sink_args(target, "sqlite"), "--engine", engine, "--workers", "1"]
        args += ["--spill-dir", str(spill), "--rejects", str(tmp_path / "rejects.jsonl")]
        p = cli(*args)
        assert p.returncode == 1, p.stderr
        assert p.stderr.splitlines()[-2:] == spill_full(spill, "rejects")
        remount(small, "size=64m")
        p = cli(*args)
        assert p.returncode == 0, p.stderr
    assert target_ids(target, "sqlite") == list(range(1, rows + 1, 10))
    assert len((tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()) == rows - rows // 10


def no_bigger_than(limit: int):  # type: ignore[no-untyped-def]
    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


def test_write_error_from_the_os_mid_load_then_rerun_completes_once(tmp_path: Path) -> None:
    """The OS refuses a write mid-load (RLIMIT_FSIZE makes write(2) fail with EFBIG past
    1 MB, like a full disk); works without mount permission."""
    rows = 30_000
    src = make_input(tmp_path / "in.csv", rows)
    db = tmp_path / "t.db"
    args = [sys.executable, "-m", "loader", "load", str(src), str(db), *sink_args(db, "sqlite"), "--batch-size", "2000"]
    p = subprocess.run(args, capture_output=True, text=True, env=env(), preexec_fn=no_bigger_than(1 << 20), timeout=120)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {db}: the OS refused a read or write (SQLite: disk I/O error)",
        RESUME_HINT,
    ]
    committed = assert_at_checkpoint(db, "sqlite")
    assert 0 < committed < len(expected_ids(rows))
    p = cli(*args[3:])
    assert p.returncode == 0, p.stderr
    assert target_ids(db, "sqlite") == expected_ids(rows)
    assert [r["row"] for r in reject_lines(rejects_of(db))] == list(range(500, rows + 1, 500))


@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_read_only_target_is_a_clear_error_and_rerun_resumes(tmp_path: Path, sink: str) -> None:
    """The target's file system is remounted read-only between a stopped run and its rerun.
    (Linux refuses to remount read-only while the loader holds files open for writing,
    so the read-only state cannot begin mid-load; the disk-full tests cover mid-load.)"""
    rows = 20_000
    src = make_input(tmp_path / "in.csv", rows, width=4)
    with small_tmpfs(tmp_path / "ro", "64m") as where:
        target = where / ("t.db" if sink == "sqlite" else "t.ldb")
        args = ["load", str(src), str(target), *sink_args(target, sink), "--batch-size", "100", "--chunk-size", "50"]
        first = popen(*args)
        rejects = rejects_of(target, job_of(sink))
        while first.poll() is None and not rejects.exists():
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)  # so the stop lands mid-load however fast this machine is
        first.send_signal(signal.SIGTERM)
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=60) == 143
        committed = assert_at_checkpoint(target, sink)
        remount(where, "ro")
        p = cli(*args)
        assert p.returncode == 1
        assert_one_error(p.stderr, f"loader: error: cannot create the lock file {target}.lock: Read-only file system")
        remount(where, "rw")
        assert assert_at_checkpoint(target, sink) == committed  # the refused run changed nothing
        p = cli(*args)
        assert p.returncode == 0, p.stderr
        assert target_ids(target, sink) == expected_ids(rows)
        assert [r["row"] for r in reject_lines(rejects)] == list(range(500, rows + 1, 500))


def test_sqlite_read_by_another_connection_in_rollback_journal_mode_exits_75(tmp_path: Path, data_dir: Path) -> None:
    """A reader blocks a rollback-journal database's writer too: the hint said only a write
    transaction could."""
    db = tmp_path / "t.db"
    assert cli("load", str(data_dir / "small.csv"), str(db), "--table", "a").returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM a").fetchall()  # a foreign read transaction
    try:
        p = load_b_as_another_program(data_dir, db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == 75
    assert p.stderr.splitlines()[-1] == (
        "  hint: another connection holds a transaction on the target (a write, or in a rollback-journal database "
        "a read too); retry when it ends, or raise sink.busy_timeout"
    )
