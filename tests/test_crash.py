"""SIGKILL real loads at random moments, rerun them, and compare with a clean load.

Each trial starts `python -m loader run` on three CSV files (with bad rows,
quoted newlines and small blocks, chunks and batches so that a commit happens
every few milliseconds), kills it with SIGKILL one to three times, then runs
it to the end. Kill moments come from two strategies, both seeded:

* timed: a moment drawn across the CPU time of a calibration run (the clean
  load), stratified over the trials so the start (parse, type inference, the
  first batch), the middle and the end of the run are all hit. The killed run
  is watched in /proc until it has used that much CPU: a busy machine stretches
  a run's wall time (a delay in seconds then kills earlier in the load than
  meant, or after its end), its CPU time much less;
* commit: the test watches the loader's threads in /proc and kills while one
  of them is blocked in a system call on the target or its reject file
  (fsync of the rejects before a commit, LevelDB's log fdatasync with
  ``sync = true``), that is, in the middle of a commit.

After every kill the target must agree with its own checkpoint (rows present
== rows the checkpoint counts, no duplicates, committed rejects on disk and a
prefix of the clean load's reject file); after the final run it must equal
the clean load: same rows, same reject file bytes, same checkpoint counts.
The phase of every kill is recorded and each phase must have been hit.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.reliability_util import (
    children_cpu_seconds,
    cli,
    cpu_seconds,
    file_totals,
    leveldb_items,
    leveldb_state,
    popen,
    sqlite_state,
    sqlite_table,
    write_job,
)
from tests.reliability_util import rejects_of as default_rejects_of
from tests.s3_server import Bucket

FILES = 3
ROWS_PER_FILE = 2500
TRIALS = 10  # per sink; each has 1-3 kills
BATCH = 100  # rows per commit: a batch closes at the first chunk that reaches it
CHUNK = 50
# Between two looks at /proc: a busy loop took a core from the load it watches (2 cores on
# CI). fsync/fdatasync last longer than this: every commit-strategy kill still landed in one
# (sqlite: fsync of the database, its journal, the rejects; leveldb: fdatasync of its log,
# fsync of its state log), after ~1-2k looks instead of ~6-12k.
POLL_PAUSE_S = 0.0005
SYSCALLS = {0: "read", 1: "write", 17: "pread64", 18: "pwrite64", 20: "writev", 74: "fsync", 75: "fdatasync"}


def make_inputs(root: Path, fmt: str = "csv") -> Path:
    """Three CSV files; every 37th row has a score that is not an integer, every
    61st a missing field, every 29th a quoted note spanning two lines. As JSON
    Lines (``jsonl``, ``jsonl.gz``), the 61st row is a malformed line; as Arrow (``arrow``:
    the IPC file format, ``ipc``: the stream format), its score is 1.5."""
    inp = root / "in"
    inp.mkdir()
    row = 0
    for f in range(1, FILES + 1):
        lines = ["id,name,score,note"]
        objects: list[dict[str, Any]] = []
        for _ in range(ROWS_PER_FILE):
            row += 1
            note = f'"line one, {row}\nline two"' if row % 29 == 0 else f"n{row}"
            score = "x" if row % 37 == 0 else str(row * 7)
            if row % 61 == 0:
                lines.append(f"{row},name{row},{note}")
            else:
                lines.append(f"{row},name{row},{score},{note}")
            text = f"line one, {row}\nline two" if row % 29 == 0 else f"n{row}"
            objects.append({"id": row, "name": f"name{row}", "score": "1.5" if row % 61 == 0 else score, "note": text})
        if fmt == "csv":
            (inp / f"part-{f}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif fmt.startswith("jsonl"):
            out = [
                f'{{"id": {o["id"]}, "name": "{o["name"]}", "note": '
                if o["id"] % 61 == 0
                else json.dumps({**o, "score": "x" if o["score"] == "x" else int(o["score"])})
                for o in objects
            ]
            text = ("\n".join(out) + "\n").encode()
            (inp / f"part-{f}.{fmt}").write_bytes(gzip.compress(text) if fmt.endswith(".gz") else text)
        else:
            table = pa.Table.from_pylist(objects)
            with (pa.ipc.new_file if fmt == "arrow" else pa.ipc.new_stream)(
                str(inp / f"part-{f}.{fmt}"), table.schema
            ) as w:
                for batch in table.to_batches(max_chunksize=70):
                    w.write_batch(batch)
    return inp


def job_file(
    root: Path,
    name: str,
    sink: str,
    inp: Path | str,
    table: str = "t",
    target: Path | None = None,
    fmt: str = "csv",
    sort: str | None = None,
    **run: Any,
) -> tuple[Path, Path]:
    target = target or root / (f"{name}.db" if sink == "sqlite" else f"{name}.ldb")
    sink_table: dict[str, Any] = {"path": str(target), "batch_size": BATCH}
    if sink == "sqlite":
        sink_table["table"] = table
    else:
        sink_table.update(key="row:{id:08d}", sync=True)
        if sort is not None:
            sink_table["sort"] = sort
    job = write_job(
        root / f"{name}.toml",
        # JSON Lines infers score from rows that are all integers (each file's first
        # misfit is after its 10th row), so misfits are found while parsing
        source={
            "path": f"{inp}/*.{fmt}",
            "block_size": 1024,
            "infer_rows": 10 if fmt.startswith("jsonl") else 200,
            "columns": {} if fmt.startswith("jsonl") else {"id": "int64", "score": "int64"},
        },
        sink=sink_table,
        run={"chunk_size": CHUNK, "quiet": True, **run},
    )
    return job, target


def snapshot(target: Path, sink: str) -> tuple[list[Any], dict[str, Any]]:
    if sink == "sqlite":
        return sqlite_table(target), sqlite_state(target)
    return leveldb_items(target)


def rejects_of(target: Path) -> Path:
    return default_rejects_of(target, "table:t" if target.suffix == ".db" else "key:row:{id:08d}")


def in_syscall_on_target(pid: int, target: Path) -> str | None:
    """'fsync ...rejects.jsonl' when a thread of ``pid`` is blocked in a write-side
    system call on a file of the target, else None. Linux only."""
    for path in glob.glob(f"/proc/{pid}/task/*/syscall"):
        try:
            with open(path) as fh:
                fields = fh.read().split()
        except OSError:
            continue
        if not fields or not fields[0].lstrip("-").isdigit():
            continue
        name = SYSCALLS.get(int(fields[0]))
        if name is None or name in ("read", "pread64"):
            continue
        try:
            fd_path = os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}")
        except (OSError, ValueError, IndexError):
            continue
        if fd_path.startswith(str(target)):
            return f"{name} {os.path.basename(fd_path)}"
    return None


def proc_readable() -> bool:
    try:
        with open(f"/proc/{os.getpid()}/syscall") as fh:
            fh.read()
        return True
    except OSError:
        return False


class Trials:
    """The clean load, and the runner that kills, checks and completes."""

    def __init__(
        self,
        root: Path,
        sink: str,
        fmt: str = "csv",
        trials: int = TRIALS,
        remote: Bucket | None = None,
        sort: str | None = None,
    ) -> None:
        self.root, self.sink, self.fmt, self.trials, self.sort = root, sink, fmt, trials, sort
        self.inp: Path | str = make_inputs(root, fmt)
        self.env = None
        if remote is not None:  # the same files as objects of a local S3-compatible server
            for path in sorted(Path(self.inp).iterdir()):
                remote.upload(path, f"in/{path.name}")
            self.inp, self.env = remote.uri("in"), remote.env
        job, target = job_file(root, "clean", sink, self.inp, fmt=fmt, sort=sort)
        before = children_cpu_seconds()
        # a real process, as the killed runs are: the kills' moments are fractions of its CPU time
        p = cli("run", str(job), extra_env=self.env, process=True)
        self.cpu = children_cpu_seconds() - before  # calibration: the CPU one whole run takes
        assert p.returncode == 0, p.stderr
        self.rows, self.state = snapshot(target, sink)
        self.reject_bytes = rejects_of(target).read_bytes()
        self.clean_target = target
        self.phases: collections.Counter[str] = collections.Counter()
        self.kills = 0

    def check_clean(self) -> None:
        totals = file_totals(self.state)
        expected_bad = sum(1 for r in range(1, FILES * ROWS_PER_FILE + 1) if r % 37 == 0 or r % 61 == 0)
        assert totals == {
            "rows_read": FILES * ROWS_PER_FILE,
            "rows_written": FILES * ROWS_PER_FILE - expected_bad,
            "rows_rejected": expected_bad,
            "rows_filtered": 0,
        }
        assert len(self.rows) == totals["rows_written"]
        assert len(self.reject_bytes.splitlines()) == expected_bad

    def kill_once(self, job: Path, target: Path, rng: random.Random, fraction: float | None) -> bool:
        """Start a run and SIGKILL it; False if it finished before the kill."""
        proc = popen("run", str(job), extra_env=self.env)
        seen_syscall = None
        try:
            if fraction is None and proc_readable():
                # commit strategy: kill while a thread is inside a write-side call on the target
                skip = rng.randint(0, 25)
                deadline = time.monotonic() + 120  # a bound only: the run ends, or the syscall is seen
                while proc.poll() is None and time.monotonic() < deadline:
                    hit = in_syscall_on_target(proc.pid, target)
                    if hit is not None:
                        if skip == 0:
                            seen_syscall = hit
                            break
                        skip -= 1
                        time.sleep(rng.uniform(0, 0.01))
                    else:
                        time.sleep(POLL_PAUSE_S)
            else:
                self.wait_for_cpu(proc, self.cpu * (fraction if fraction is not None else rng.random()) * 1.05)
                seen_syscall = in_syscall_on_target(proc.pid, target) if proc.poll() is None else None
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        finally:
            _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            self.phases["finished before the kill"] += 1
            return False
        assert proc.returncode == -signal.SIGKILL, err
        self.kills += 1
        phase = self.check_after_kill(target)
        self.phases[phase] += 1
        if seen_syscall is not None:
            self.phases["mid-commit (" + seen_syscall.split(" ")[0] + ")"] += 1
        return True

    def wait_for_cpu(self, proc: Any, cpu: float) -> None:
        """Until ``proc`` has used ``cpu`` seconds of CPU time, or ended."""
        deadline = time.monotonic() + 120  # a bound only: a run uses its CPU time, or ends
        while proc.poll() is None and (cpu_seconds(proc.pid) or 0.0) < cpu and time.monotonic() < deadline:
            time.sleep(0.002)

    def rejects_for(self, target: Path) -> bytes:
        """The clean load's reject file as a load into ``target`` writes it (each line names its target)."""
        return self.reject_bytes.replace(_target_tag(self.clean_target), _target_tag(target))

    def check_after_kill(self, target: Path) -> str:
        """The target agrees with its checkpoint; returns which phase the kill hit."""
        rows, state = snapshot(target, self.sink)
        keys = [r[0] for r in rows]
        assert len(keys) == len(set(keys)), "duplicate rows after a kill"
        assert set(rows) <= set(self.rows), "a row that the clean load does not have"
        job = state.get("job")
        on_disk = rejects_of(target).read_bytes() if rejects_of(target).exists() else b""
        clean = self.rejects_for(target)
        # LevelDB writes a batch, then its checkpoint file: a kill between the two leaves
        # that one batch ahead, and the rerun puts the same keys and values again
        ahead = BATCH + CHUNK - 1 if self.sink == "leveldb" else 0
        if job is None:
            assert len(rows) <= ahead, "rows committed without a checkpoint"
            return "before the first commit (parse, inference, first batch)"
        committed = job["rejects_bytes"]
        # every reject of a committed batch is on disk, and none is doubled or out of order
        assert len(on_disk) >= committed
        assert on_disk[:committed] == clean[:committed]
        assert committed == 0 or on_disk[committed - 1 : committed] == b"\n"
        totals = file_totals(state)
        assert totals["rows_written"] <= len(rows) <= totals["rows_written"] + ahead, "rows and checkpoint disagree"
        assert totals["rows_read"] == totals["rows_written"] + totals["rows_rejected"] + totals["rows_filtered"]
        assert len(clean[:committed].splitlines()) == totals["rows_rejected"]
        if job["status"] == "complete":
            return "after the final commit"
        if len(on_disk) > committed:
            return "mid-batch (rejects written, batch not committed)"
        return "between commits (mid-file)"

    def trial(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        job, target = job_file(self.root, f"trial{n}", self.sink, self.inp, fmt=self.fmt, sort=self.sort)
        strategies: list[float | None] = []
        for i in range(rng.randint(1, 3)):
            if i == 0 and n % 3 != 2:
                # stratified over trials, so early, middle and late moments all occur
                strategies.append((n + rng.random()) / self.trials)
            else:
                strategies.append(None if rng.random() < 0.5 else rng.random())
        for fraction in strategies:
            if not self.kill_once(job, target, rng, fraction):
                break
        p = cli("run", str(job), extra_env=self.env)
        assert p.returncode == 0, p.stderr
        rows, state = snapshot(target, self.sink)
        assert rows == self.rows, f"trial {n} (seed {seed}): rows differ from the clean load"
        assert rejects_of(target).read_bytes() == self.rejects_for(target), f"trial {n}: reject file differs"
        assert file_totals(state) == file_totals(self.state)
        # the inode names the trial's own reject file
        expected = {**self.state["job"], "status": "complete", "rejects_inode": None}
        expected["rejects_bytes"] = len(self.rejects_for(target))  # each line names its target
        assert {**state["job"], "rejects_inode": None} == expected


@pytest.mark.slow
@pytest.mark.parametrize("sink", ["sqlite", "leveldb"])
def test_sigkill_anywhere_then_rerun_equals_clean_load(tmp_path: Path, sink: str) -> None:
    # LevelDB through WriteBatches, a checkpoint with each: keys in order into an empty
    # store go into table files, whose checkpoints wait for a file's 2 MiB (these trials
    # hold less); the other inputs' trials below, and tests/test_sorted_ingest.py, kill those
    trials = Trials(tmp_path, sink, sort="never" if sink == "leveldb" else None)
    trials.check_clean()
    for n in range(TRIALS):
        trials.trial(n, seed=1000 * (sink == "leveldb") + n)
    print(f"{sink}: {trials.kills} kills over {TRIALS} trials; phases: {dict(trials.phases)}")
    # a trial aimed at the end of a load on a busier moment than the clean one misses it
    assert trials.kills >= TRIALS * 3 // 4
    hit = set(trials.phases)
    assert "before the first commit (parse, inference, first batch)" in hit
    assert hit & {"between commits (mid-file)", "mid-batch (rejects written, batch not committed)"}
    if proc_readable():
        assert any(p.startswith("mid-commit") for p in hit), trials.phases


@pytest.mark.slow
@pytest.mark.parametrize(
    "fmt,sink,where",
    [
        ("jsonl", "sqlite", "local"),
        ("jsonl.gz", "leveldb", "local"),
        ("arrow", "leveldb", "local"),
        ("ipc", "sqlite", "local"),
        ("csv", "sqlite", "s3"),
    ],
)
def test_other_inputs_killed_then_rerun_equal_a_clean_load(
    tmp_path: Path, fmt: str, sink: str, where: str, request: pytest.FixtureRequest
) -> None:
    """The same trials, fewer of them, for JSON Lines, plain and gzipped (resumed by byte
    offset), Arrow IPC files and streams (resumed by record batch) and CSV objects in S3
    (resumed by byte offset, by a ranged read)."""
    remote = request.getfixturevalue("s3") if where == "s3" else None
    trials = Trials(tmp_path, sink, fmt, trials=2, remote=remote)
    trials.check_clean()
    for n in range(trials.trials):
        trials.trial(n, seed=2000 + n)
    assert trials.kills >= 1, trials.phases


SHARED_ROUNDS = 2  # each kills job a and job b once, in turn


def _target_tag(target: Path) -> bytes:
    """How a reject line names its target."""
    return b'"target": ' + json.dumps(os.path.realpath(target)).encode() + b", "


def lines_of(path: Path, job: str, target: Path) -> list[bytes]:
    """The job's lines of a shared reject file, without the job and target fields."""
    tag = b'{"job": "' + job.encode() + b'", ' + _target_tag(target)
    if not path.exists():
        return []
    return [b"{" + line[len(tag) :] for line in path.read_bytes().splitlines(keepends=True) if line.startswith(tag)]


def test_two_jobs_on_one_database_killed_in_turn_share_a_reject_file(tmp_path: Path) -> None:
    """Tables a and b of one database, one explicit reject file: runs interleaved and
    SIGKILLed; each job keeps exactly its own committed lines, none torn or doubled."""
    trials = Trials(tmp_path, "sqlite")
    tag = b'{"job": "table:t", ' + _target_tag(trials.clean_target)
    clean = [b"{" + line[len(tag) :] for line in trials.reject_bytes.splitlines(keepends=True)]
    db, shared = tmp_path / "shared.db", tmp_path / "shared.rejects.jsonl"
    jobs = {
        t: job_file(tmp_path, f"shared-{t}", "sqlite", trials.inp, table=t, target=db, rejects=str(shared))[0]
        for t in "ab"
    }
    rng = random.Random(18)
    for _ in range(SHARED_ROUNDS):
        for job in jobs.values():
            proc = popen("run", str(job))
            trials.wait_for_cpu(proc, trials.cpu * rng.uniform(0.1, 0.9))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            for t in "ab":  # after every kill: each table agrees with its own checkpoint and reject lines
                state = sqlite_state(db, f"table:{t}")
                rows = sqlite_table(db, t)
                assert len({r[0] for r in rows}) == len(rows) == file_totals(state)["rows_written"]
                committed = state.get("job", {}).get("rejects_lines", 0)
                assert lines_of(shared, f"table:{t}", db)[:committed] == clean[:committed]
    for job in jobs.values():
        p = cli("run", str(job))
        assert p.returncode == 0, p.stderr
    for t in "ab":
        assert sqlite_table(db, t) == trials.rows
        assert lines_of(shared, f"table:{t}", db) == clean
    assert shared.read_bytes().endswith(b"\n") and shared.read_bytes().count(b"\n") == 2 * len(clean)


def test_runs_through_a_symlink_and_its_target_exclude_each_other(tmp_path: Path) -> None:
    inp = make_inputs(tmp_path)
    db, link = tmp_path / "t.db", tmp_path / "link.db"
    link.symlink_to(db)
    direct, _ = job_file(tmp_path, "direct", "sqlite", inp, target=db)
    linked, _ = job_file(tmp_path, "linked", "sqlite", inp, target=link)
    first = popen("run", str(direct))
    while first.poll() is None and not rejects_of(db).exists():
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)  # mid-load, holding the lock
    assert first.poll() is None, "the first run ended before the second started"
    second = cli("run", str(linked))
    assert second.returncode == 75, second.stderr
    # refused by loader's own lock, not by SQLite's (which holds only while a batch is open)
    assert second.stderr.startswith(f"loader: error: {link}: another loader run is writing this target\n")
    waiting = popen("run", str(linked), "--lock-wait", "120")  # waits, then finds everything loaded
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0
    assert waiting.wait(timeout=120) == 0
    ids = [r[0] for r in sqlite_table(db)]
    assert len(ids) == len(set(ids)) == file_totals(sqlite_state(db))["rows_written"] > 0
    assert rejects_of(link) == rejects_of(db)  # one reject file for every name of the target


def _sort_phase(target: Path) -> dict[str, Any]:
    """The last sort entry the target's checkpoint log holds ({} when none yet), its runs
    as paths."""
    from loader.writers.leveldb_sort import SortState

    entry = leveldb_state(target).get("sort")
    if entry is None:
        return {}
    return {**json.loads(entry), "runs": SortState.parse(entry).runs}


def _stop_in_phase(proc: Any, target: Path, phase: str, how: signal.Signals) -> str:
    """``how`` sent to a sorted load once its checkpoint says ``phase`` (two runs complete,
    or the merge begun); its stderr."""

    def there(now: dict[str, Any]) -> bool:
        return now.get("phase") == phase and (phase == "merge" or len(now["runs"]) >= 2)

    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if there(_sort_phase(target)):
                # paused, then looked at again: a busy machine may let the load move on between
                # the look and the signal (a SIGTERM waits for the SIGCONT to be taken)
                proc.send_signal(signal.SIGSTOP)
                if there(_sort_phase(target)):
                    proc.send_signal(how)
                    proc.send_signal(signal.SIGCONT)
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.001)
    finally:
        _, err = proc.communicate(timeout=60)
    return str(err)


@pytest.mark.parametrize(
    ("phase", "how"),
    [("spill", signal.SIGKILL), ("merge", signal.SIGKILL), ("spill", signal.SIGTERM), ("merge", signal.SIGTERM)],
)
def test_sorted_ingest_killed_in_each_phase_then_rerun_equals_clean_load(
    tmp_path: Path, phase: str, how: signal.Signals
) -> None:
    """LevelDB with scrambled keys sorts through runs: SIGKILL (or SIGTERM) once the
    checkpoint says the load is in ``phase`` (two runs complete, or the merge begun), then
    rerun. The killed target holds only rows of the clean load; the rerun reuses the
    complete runs or resumes the merge after its last key, and ends equal to the clean
    load with its runs removed. A stopped run's report counts the rows its checkpoint
    holds (rows in complete runs among them), and the rerun's counts complete them."""
    inp = tmp_path / "in"
    inp.mkdir()
    for f in range(2):
        lines = ["id,v"] + [f"{(f * 20_000 + i + 1) * 2654435761 % 2**32},{f}-{i}" for i in range(20_000)]
        (inp / f"p{f}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sink = {"key": "{id}", "sync": True, "sort_run_size": 256 << 10}

    def job(name: str) -> tuple[Path, Path]:
        target = tmp_path / f"{name}.ldb"
        path = write_job(
            tmp_path / f"{name}.toml",
            source={"path": f"{inp}/*.csv"},
            sink={"path": str(target), **sink},
            run={"quiet": True},
        )
        return path, target

    clean_job, clean = job("clean")
    assert cli("run", str(clean_job)).returncode == 0
    expected, clean_state = leveldb_items(clean)
    assert len(expected) == 40_000

    killed_job, target = job("killed")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    proc = popen("run", str(killed_job), "--report", str(first))
    err = _stop_in_phase(proc, target, phase, how)
    stopped = -signal.SIGKILL if how == signal.SIGKILL else 128 + how
    assert proc.returncode == stopped, f"the load ended before a stop in the {phase} phase: {err}"
    at_stop = _sort_phase(target)
    assert at_stop["phase"] == phase
    assert all(Path(r).exists() for r in at_stop["runs"])  # the complete runs the checkpoint names
    rows, state = leveldb_items(target)
    assert set(rows) <= set(expected)  # values written are final ones, never an earlier duplicate's
    if phase == "spill":
        assert rows == []  # every key was held for the runs: none written before the merge
    if how == signal.SIGTERM:
        report = json.loads(first.read_text())
        assert report["rows_written"] == file_totals(state)["rows_written"] > 0
        assert report["rows_read"] == file_totals(state)["rows_read"]

    p = cli("run", str(killed_job), "--report", str(second))
    assert p.returncode == 0, p.stderr
    rows, state = leveldb_items(target)
    assert rows == expected
    assert file_totals(state) == file_totals(clean_state)
    assert state["sort"] == {}
    assert not (tmp_path / "killed.ldb.runs").exists()
    if how == signal.SIGTERM:
        reports = [json.loads(r.read_text()) for r in (first, second)]
        assert sum(r["rows_written"] for r in reports) == 40_000
        assert sum(r["rows_read"] for r in reports) == 40_000


def test_keys_in_order_into_table_files_killed_anywhere_then_rerun_equals_clean_load(tmp_path: Path) -> None:
    """Keys in order into an empty LevelDB go into table files, each batch a new MANIFEST
    and then the checkpoint of its rows. SIGKILL at moments spread over the load (default
    batch and chunk sizes): the store holds only rows of the clean load, at least those its
    checkpoint counts and at most a table file and a batch more; the rerun ends equal to
    the clean load."""
    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},{'x' * 60}{i}\n" for i in range(150_000)), encoding="utf-8")

    def job(name: str) -> tuple[Path, Path]:
        target = tmp_path / f"{name}.ldb"
        sink = {"path": str(target), "key": "{id}", "sync": True}
        return write_job(tmp_path / f"{name}.toml", source={"path": str(src)}, sink=sink, run={"quiet": True}), target

    clean_job, clean = job("clean")
    assert cli("run", str(clean_job)).returncode == 0
    expected, _ = leveldb_items(clean)
    rows_per_commit = 2 * 8192  # a batch, closed by the chunk that reaches it
    # A commit lists the table files ended so far, then writes the checkpoint of the commits
    # they hold whole: a kill between the two leaves a file's rows (and the part of the next
    # batch it holds) above the checkpoint, which the rerun writes again, equal.
    full_files = sorted(clean.glob("*.ldb"), key=lambda f: f.stat().st_size)[1:]
    rows_per_file = -(-len(expected) // len(full_files))

    def table_files(store: Path) -> int:
        return len(list(store.glob("*.ldb"))) if store.exists() else 0

    killed_job, target = job("killed")
    kills = 0
    # Killed by progress, not by a fraction of the clean run's time (a busy machine makes
    # the two differ): each run is killed once the load has written `files` table files
    # more, `pause` seconds later, so the moments fall between and inside commits.
    for files, pause in ((2, 0.0), (1, 0.004), (2, 0.001), (1, 0.0)):
        before = table_files(target)
        proc = popen("run", str(killed_job))
        deadline = time.monotonic() + 60
        while proc.poll() is None and table_files(target) < before + files and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if proc.returncode != -signal.SIGKILL:
            break  # it finished
        kills += 1
        rows, state = leveldb_items(target)
        assert set(rows) <= set(expected)
        written = file_totals(state)["rows_written"] if state.get("job") else 0
        assert written <= len(rows) <= written + rows_per_file + rows_per_commit, "rows and checkpoint disagree"
    assert kills >= 2
    p = cli("run", str(killed_job))
    assert p.returncode == 0, p.stderr
    assert leveldb_items(target)[0] == expected
