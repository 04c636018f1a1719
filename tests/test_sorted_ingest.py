"""LevelDB sorted ingest (``sink.sort``): real loads through the CLI into real LevelDB,
compared key by key with loads in input order and with what the input says."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import plyvel
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, sinks
from loader.chunk import Chunk
from loader.errors import LoaderError, SinkError
from loader.writers import leveldb_sort, leveldb_tables
from loader.writers.leveldb import LevelDBWriter
from loader.writers.leveldb_sort import SORT_ENTRY as SORT_KEY
from loader.writers.leveldb_sort import SortState, run_prefix
from tests.reliability_util import (
    cli,
    file_totals,
    holds_open,
    leveldb_items,
    leveldb_state,
    popen,
    process_alive,
    wait_until,
)

SMALL_RUN = str(256 << 10)  # the smallest run: many runs from a few thousand rows


def scrambled_csv(path: Path, n: int, *, dup_every: int = 0, start: int = 0) -> Path:
    """Rows with scrambled unique ids; with ``dup_every``, every such row repeats an
    earlier id with a new value (the last value in input order must win)."""
    lines = ["id,name,v"]
    for i in range(start, start + n):
        ident = (i + 1) * 2654435761 % 2**32
        if dup_every and i % dup_every == dup_every - 1:
            ident = (i // 2 + 1) * 2654435761 % 2**32  # an id seen earlier (or later in another run)
        lines.append(f"{ident},name{i},{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load(src: Path, target: Path, *args: str, process: bool = False) -> dict[str, object]:
    report = target.parent / (target.name + ".report.json")
    p = cli("load", str(src), str(target), "--key", "{id}", "--report", str(report), "-q", *args, process=process)
    assert p.returncode == 0, p.stderr
    return dict(json.loads(report.read_text()))


def data(target: Path) -> list[tuple[bytes, bytes]]:
    return leveldb_items(target)[0]


def expected_last(src: Path) -> dict[int, int]:
    """id -> v of the last row with that id, from the CSV itself."""
    out: dict[int, int] = {}
    for line in src.read_text().splitlines()[1:]:
        ident, _, v = line.split(",")
        out[int(ident)] = int(v)
    return out


def as_binary(column: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(column, pa.string()), pa.binary())


def runs_dir(target: Path) -> Path:
    return target.parent / (target.name + ".runs")


def test_scrambled_keys_spill_and_load_the_same_store_as_input_order(tmp_path: Path) -> None:
    """Duplicates within a run and across runs: the last value in input order wins,
    sorted or not; the runs are gone at the end."""
    src = scrambled_csv(tmp_path / "in.csv", 20_000, dup_every=7)
    seen: list[str] = []
    never = load(src, tmp_path / "never.ldb", "--sort", "never")
    auto = load(src, tmp_path / "auto.ldb", "--sort", "auto", "--set", f"sink.sort_run_size={SMALL_RUN}")
    for line in (tmp_path / "auto.ldb" / "loader-state.jsonl").read_text().splitlines():
        sort = json.loads(line)["set"].get("sort")
        if sort and sort != "{}":
            seen.append(json.loads(sort)["phase"])
    assert "spill" in seen and "merge" in seen  # it sorted, through several runs
    assert data(tmp_path / "auto.ldb") == data(tmp_path / "never.ldb")
    values = {int(k): json.loads(v)["v"] for k, v in data(tmp_path / "auto.ldb")}
    assert values == expected_last(src)
    assert auto["rows_written"] == never["rows_written"] == 20_000
    assert auto["sizes"]["sort_run_size"] == 256 << 10  # type: ignore[index]
    assert not runs_dir(tmp_path / "auto.ldb").exists()
    # into the fresh store the merge wrote bottom-level table files, not WriteBatches
    assert files_by_level(tmp_path / "auto.ldb") == {6: len(list((tmp_path / "auto.ldb").glob("*.ldb")))}
    assert 6 not in files_by_level(tmp_path / "never.ldb")


def files_by_level(target: Path) -> dict[int, int]:
    db = plyvel.DB(str(target))
    try:
        counts = {level: int(db.get_property(f"leveldb.num-files-at-level{level}".encode())) for level in range(7)}
    finally:
        db.close()
    return {level: n for level, n in counts.items() if n}


def test_sorted_input_never_spills(tmp_path: Path) -> None:
    """Keys that arrive in order into an empty store are written straight into table
    files on the bottom level: no run file is ever made, no WriteBatch written."""
    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},{i}\n" for i in range(30_000)), encoding="utf-8")
    target = tmp_path / "s.ldb"
    load(src, target, "--set", f"sink.sort_run_size={SMALL_RUN}")
    assert not runs_dir(target).exists()
    log = (target / "loader-state.jsonl").read_text()
    assert '"sort"' not in log
    assert len(data(target)) == 30_000
    assert files_by_level(target) == {6: len(list(target.glob("*.ldb")))}
    assert not list(target.glob("*.log")) or all(p.stat().st_size == 0 for p in target.glob("*.log"))


def small_files(root: Path, files: int, rows: int, width: int) -> list[tuple[bytes, bytes]]:
    """``files`` CSV files of ``rows`` rows each, ids ascending across them; the items a
    load with ``--key '{id}'`` makes of them, in key order."""
    root.mkdir()
    items = []
    for f in range(files):
        lines = ["id,v"]
        for i in range(f * rows, (f + 1) * rows):
            v = f"{i}{'x' * width}"
            lines.append(f"{i},{v}")
            items.append((f"{i:020d}".encode(), json.dumps({"id": i, "v": v}, separators=(",", ":")).encode()))
        (root / f"f{f:04d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return items


def table_sizes(target: Path) -> list[int]:
    return [p.stat().st_size for p in sorted(target.glob("*.ldb"))]


def test_many_small_files_in_key_order_make_table_files_of_the_configured_size(tmp_path: Path) -> None:
    """Each file's end is a commit; a commit does not end the table file being written, so
    300 files of 10 rows (5 MB of keys and values) make three table files, the first two
    of 2 MiB (``sink.max_file_size``), not one per file, and every row is there."""
    expected = small_files(tmp_path / "in", 300, 10, 1700)
    target = tmp_path / "t.ldb"
    report = load(tmp_path / "in" / "*.csv", target)
    assert report["files_loaded"] == 300
    assert data(target) == expected
    sizes = table_sizes(target)
    assert len(sizes) == 3, sizes
    assert all(2 << 20 <= size < (2 << 20) + 64 << 10 for size in sizes[:-1]), sizes
    assert files_by_level(target) == {6: 3}
    _, state = leveldb_items(target)
    assert sum(1 for k, v in state.items() if k.startswith("file:") and v["done"]) == 300


def test_a_stop_between_small_files_commits_the_table_file_being_written(tmp_path: Path) -> None:
    """SIGTERM mid-load: the rows of the commits that wait in the table file being written
    are kept (the file is cut back to the last commit and ended), so the store holds exactly
    the rows its checkpoint counts, none left for the rerun to read again."""
    import signal

    from loader import JobConfig, Pipeline, RunConfig, SourceConfig
    from loader.errors import InterruptedLoad

    expected = small_files(tmp_path / "in", 60, 10, 100)
    target = tmp_path / "t.ldb"
    job = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "in" / "*.csv")]),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}"),
        run=RunConfig(quiet=True),
    )
    seen = [0]

    def stops(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen[0] += batch.num_rows
        if seen[0] == 300:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch

    with pytest.raises(InterruptedLoad):
        Pipeline(job, transforms=[stops], handle_signals=True).run()
    rows, state = leveldb_items(target)
    assert 300 <= len(rows) < 600
    assert rows == expected[: len(rows)]
    assert file_totals(state)["rows_written"] == len(rows)
    assert Pipeline(job).run().status == "ok"
    assert data(target) == expected


def _tables_in_version(target: Path) -> int:
    try:
        return len(leveldb_tables.read_version(str(target)).files)
    except (OSError, leveldb_tables.FormatError):
        return 0


def test_many_small_files_killed_anywhere_then_rerun_equal_a_clean_load(tmp_path: Path) -> None:
    """Small files into table files, SIGKILLed once the first table file is in the store's
    version (the checkpoint of the rows in the next one waits for its MANIFEST), and then
    while the rerun reads: the store holds a prefix of the clean load's rows, at least those
    its checkpoint counts; the last run ends equal to the clean load, every row once."""
    import signal

    expected = small_files(tmp_path / "in", 200, 10, 1500)
    args = ("load", str(tmp_path / "in" / "*.csv"), str(target := tmp_path / "t.ldb"), "--key", "{id}", "-q")
    for moment in ("a table committed", "rerun reading"):
        proc = popen(*args)
        # the rerun, once it has the store open (its LOCK held to the end): a delay (0.4 s was
        # used) killed it while the interpreter still started, before the store was opened
        pid = proc.pid
        if moment == "a table committed":
            wait_until(lambda: _tables_in_version(target) > 0, moment, proc, timeout=60)
        else:
            wait_until(lambda: holds_open(pid, target / "LOCK"), moment, proc, timeout=60)  # noqa: B023
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, f"finished before the kill ({moment})"
        rows, state = leveldb_items(target)
        assert rows == expected[: len(rows)]
        assert (file_totals(state)["rows_written"] if state.get("job") else 0) <= len(rows)
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    rows, state = leveldb_items(target)
    assert rows == expected
    assert file_totals(state)["rows_written"] == len(expected)


def test_keys_in_order_then_out_of_order_load_what_input_order_loads(tmp_path: Path) -> None:
    """A sorted stretch goes into table files; from the first chunk out of order the rest
    is sorted through runs, whose merge (the range now holds keys) writes WriteBatches."""
    src = tmp_path / "in.csv"
    ordered = [f"{i},{i}" for i in range(20_000)]
    scrambled = [f"{(i * 2654435761) % 40_000},{i}" for i in range(20_000, 40_000)]  # some ids again
    src.write_text("id,v\n" + "\n".join(ordered + scrambled) + "\n", encoding="utf-8")
    load(src, tmp_path / "mixed.ldb", "--set", f"sink.sort_run_size={SMALL_RUN}")
    load(src, tmp_path / "never.ldb", "--sort", "never")
    assert data(tmp_path / "mixed.ldb") == data(tmp_path / "never.ldb")
    assert set(files_by_level(tmp_path / "mixed.ldb")) > {6}  # table files, then LevelDB's own


def test_a_load_stopped_between_table_commits_resumes_exactly_once(tmp_path: Path) -> None:
    """Keys in order, committed as table files with each batch: a failure mid-load keeps
    what was committed (rows and checkpoint agree), and the rerun finishes."""
    from loader import JobConfig, Pipeline, RunConfig, SourceConfig

    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},{'x' * 40}{i}\n" for i in range(60_000)), encoding="utf-8")
    target = tmp_path / "t.ldb"
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}", batch_size=1000),
        run=RunConfig(chunk_size=1000, quiet=True),
    )
    seen = [0]

    def fails_late(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen[0] += batch.num_rows
        if seen[0] > 45_000:
            raise RuntimeError("stopped")
        return batch

    with pytest.raises(LoaderError, match="the function raised RuntimeError: stopped"):
        Pipeline(job, transforms=[fails_late]).run()
    rows, state = leveldb_items(target)
    written = sum(int(v.get("rows_written", 0)) for v in state.values() if isinstance(v, dict))
    assert 0 < len(rows) == written < 45_000  # committed table files and their checkpoint agree

    report = Pipeline(job).run()
    assert report.status == "ok" and report.resumed
    rows, _ = leveldb_items(target)
    assert [int(k) for k, _ in rows] == sorted(range(60_000), key=lambda i: f"{i:020d}")
    assert len(rows) == 60_000


def test_keys_already_in_the_store_are_overwritten_by_the_sorted_load(tmp_path: Path) -> None:
    """append/upsert against keys already there: the new load's values win, as in input order."""
    first = scrambled_csv(tmp_path / "a.csv", 5_000)
    second = scrambled_csv(tmp_path / "b.csv", 8_000, start=2_000)  # 3000 ids of the first load again
    for mode in ("append", "upsert"):
        for sort in ("never", "always"):
            target = tmp_path / f"{mode}-{sort}.ldb"
            extra = ("--mode", mode, "--sort", sort, "--set", f"sink.sort_run_size={SMALL_RUN}")
            load(first, target, *extra, "--job", "a")
            load(second, target, *extra, "--job", "b")
        assert data(tmp_path / f"{mode}-never.ldb") == data(tmp_path / f"{mode}-always.ldb")
        values = {int(k): json.loads(v)["v"] for k, v in data(tmp_path / f"{mode}-always.ldb")}
        assert values == expected_last(first) | expected_last(second)
        assert len(values) == 10_000
        # the first load's table files, then the second's WriteBatches over the same keys
        assert set(files_by_level(tmp_path / f"{mode}-always.ldb")) > {6}


def test_ignore_keeps_input_order_and_refuses_always(tmp_path: Path) -> None:
    src = scrambled_csv(tmp_path / "in.csv", 3_000, dup_every=5)
    target = tmp_path / "i.ldb"
    load(src, target, "--mode", "ignore", "--set", f"sink.sort_run_size={SMALL_RUN}")
    assert not runs_dir(target).exists()
    first: dict[int, int] = {}
    for line in src.read_text().splitlines()[1:]:
        ident, _, v = line.split(",")
        first.setdefault(int(ident), int(v))
    assert {int(k): json.loads(v)["v"] for k, v in data(target)} == first
    p = cli("load", str(src), str(tmp_path / "x.ldb"), "--key", "{id}", "--mode", "ignore", "--sort", "always")
    assert p.returncode == 2
    assert 'sink.sort: "always" does not apply to mode ignore' in p.stderr


def test_too_little_free_space_for_the_runs_is_one_clear_line(tmp_path: Path) -> None:
    """The free-space check before the first run, with an input estimated far larger
    than the disk: a SinkError (exit 1, a rerun resumes) that names the run directory
    and the sizes, and no run file."""
    target, runs = tmp_path / "f.ldb", tmp_path / "runs"
    config = SinkConfig(path=str(target), type="leveldb", key="{id}", batch_size=100, sort_run_size=256 << 10)
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(SinkError) as caught, LevelDBWriter(config, temp_dir=str(runs), input_bytes=4 * free) as w:
        w.read_state("j")
        batch = pa.record_batch({"id": [(i * 2654435761) % 2**32 for i in range(20_000)]})
        w.prepare(batch.schema, fresh=True)
        w.write(sinks.get("leveldb").encoder(config, w)(_chunk(batch)))
        w.commit("j", {})
    err = caught.value
    assert err.exit_code == 1
    assert str(err).startswith(f"{runs}: not enough free space for sorted runs: about ")
    assert "MB needed" in str(err) and "\n" not in str(err)
    assert "run.temp_dir" in (err.hint or "")
    assert not list(runs.glob("*"))


def test_a_small_first_file_does_not_inflate_the_free_space_needed_for_the_runs(tmp_path: Path) -> None:
    """A 9-byte CSV and then a scrambled one of about 900 KB, with runs of 256 KiB: the
    first run fills from the big file's first block before its bytes are counted. The
    free-space check measured those rows over the 9 bytes alone (about 133,000 MB needed);
    the load fits the disk and finishes, every row there."""
    small = tmp_path / "a.csv"
    small.write_text("id,v\n1,0\n", encoding="utf-8")
    big = scrambled_csv(tmp_path / "b.csv", 20_000, start=1)
    target = tmp_path / "t.ldb"
    p = cli(
        "load", str(small), str(big), str(target), "--key", "{id}", "--value", "v", "--sort-run-size", "256KiB", "-q"
    )
    assert (p.returncode, p.stderr) == (0, "")
    assert len(data(target)) == 20_001
    assert not runs_dir(target).exists()


def _sorter(tmp_path: Path, input_bytes: int) -> leveldb_sort.Sorter:
    return leveldb_sort.Sorter(str(tmp_path / "runs"), "last", 256 << 10, input_bytes)


def test_the_growth_is_measured_over_whole_blocks_once_enough_is_read(tmp_path: Path) -> None:
    """A reader counts a block's bytes with its last chunk: the chunks before it are not
    measured over the bytes before them. Under ``GROWTH_SAMPLE_BYTES`` read, the default
    growth; past it, the growth of the blocks counted."""
    sorter = _sorter(tmp_path, 48_000_000)
    sorter.seen(20, 9)  # a 9-byte first file
    sorter.seen(300_000, 0)  # the next file's first chunks, its block not yet counted
    assert sorter.needed_bytes() == int(48_000_000 * leveldb_sort.DEFAULT_GROWTH)
    sorter.seen(100_000, 1 << 20)  # the block's last chunk: its bytes, with all its chunks'
    assert sorter.needed_bytes() == int(48_000_000 * 400_020 / ((1 << 20) + 9))
    header_only = _sorter(tmp_path, 48_000_000)
    header_only.seen(0, 5)  # "id,v\n": nothing encoded over too few bytes to tell
    assert header_only.needed_bytes() == int(48_000_000 * leveldb_sort.DEFAULT_GROWTH)


def test_a_run_directory_too_small_for_the_measured_growth_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The growth measured after a small first file, the real shortage still refused with
    its clear line; and a disk with room for the runs passes."""
    sorter = _sorter(tmp_path, 10_000_000)
    sorter.seen(20, 9)
    sorter.seen(2 << 20, 1 << 20)  # 2 encoded bytes per input byte: about 20 MB needed
    (tmp_path / "runs").mkdir()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(leveldb_sort.shutil, "disk_usage", lambda _: usage._replace(free=15_000_000))
    with pytest.raises(SinkError) as caught:
        sorter._check_space()
    assert str(caught.value) == (
        f"{tmp_path / 'runs'}: not enough free space for sorted runs: about 20 MB needed, 15 MB free"
    )
    monkeypatch.setattr(leveldb_sort.shutil, "disk_usage", lambda _: usage._replace(free=25_000_000))
    sorter._check_space()


def test_a_full_run_directory_stops_with_one_line_and_keeps_the_complete_runs(tmp_path: Path) -> None:
    """ENOSPC while a run is written (its file is /dev/full, which fails every write with
    ENOSPC): a SinkError (exit 1, a rerun resumes) with one line naming the directory; the
    complete run stays in the checkpoint and on disk, the partial one goes."""
    target, runs = tmp_path / "f.ldb", tmp_path / "runs"
    config = SinkConfig(path=str(target), type="leveldb", key="{id}", batch_size=100, sort_run_size=256 << 10)
    encoder_of = sinks.get("leveldb").encoder
    with pytest.raises(SinkError) as caught, LevelDBWriter(config, temp_dir=str(runs)) as w:
        w.read_state("j")
        runs.mkdir()
        prefix = w.sorter.prefix
        (runs / f"{prefix}000001.arrow.partial").symlink_to("/dev/full")
        for start in range(0, 200_000, 10_000):
            batch = pa.record_batch({"id": [(i * 2654435761) % 2**32 for i in range(start, start + 10_000)]})
            w.prepare(batch.schema, fresh=start == 0)
            w.write(encoder_of(config, w)(_chunk(batch)))
            w.commit("j", {"file": str(start)})
    err = caught.value
    assert (err.exit_code, str(err)) == (1, f"{runs}: the run directory is full")
    assert (err.hint or "").startswith("free space or set run.temp_dir to a larger disk; ")
    kept = sorted(x.name for x in runs.iterdir())
    assert kept == [f"{prefix}000000.arrow"]  # the partial run removed at once

    with LevelDBWriter(config, temp_dir=str(runs)) as again:
        entries = again.read_state("j")
        assert json.loads(entries["sort"]) == {"phase": "spill", "dir": str(runs), "runs": [[kept[0], 1]]}
        assert entries["file"] != "190000"  # the rows after the complete run are read again
    assert sorted(x.name for x in runs.iterdir()) == [kept[0]]


def test_a_run_whose_fsync_fails_keeps_the_runs_before_it_and_none_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs are fsynced by a thread of their own while the next is sorted: when one's fsync
    fails, the runs before it are checkpointed (returned by ``spill``, or ``salvaged`` for
    the writer to write) and no run after it is, though written, so no input position
    past the failed run is ever recorded."""
    import errno
    import time

    from loader.writers import leveldb_sort

    real = leveldb_sort.make_durable

    def failing(path: str) -> None:
        if path.endswith("000002.arrow"):
            time.sleep(0.3)  # still being fsynced when the next run is handed over
            raise OSError(errno.EIO, "Input/output error")
        real(path)

    monkeypatch.setattr(leveldb_sort, "make_durable", failing)
    sorter = leveldb_sort.Sorter(str(tmp_path / "runs"), "last", 16 << 10, 0)
    sorter.resume("job", None)
    sorter.start()
    checkpoints: list[dict[str, str]] = []
    spilled: list[str] = []  # the position given with each run
    with pytest.raises(SinkError, match="cannot write a sorted run: Input/output error"):
        for start in range(0, 20_000, 500):
            ids = range(start, start + 500)
            sorter.add(pa.array([b"%010d" % ((i * 7919) % 20_000) for i in ids]), pa.array([b"v%d" % i for i in ids]))
            if sorter.full():
                spilled.append(str(start + 500))
                done = sorter.spill({"position": spilled[-1]})
                if done is not None:
                    checkpoints.append(done)
        checkpoints += sorter.end_spill({"position": "20000"})
    assert len(spilled) >= 4  # a run after the failed one was handed over too
    assert sorter.salvaged is not None or checkpoints
    last = sorter.salvaged or checkpoints[-1]
    assert last["position"] == spilled[1]  # the rows of runs 0 and 1, and no more
    runs = [Path(p).name for p in SortState.parse(last["sort"]).runs]
    assert runs == [f"{sorter.prefix}{n:06d}.arrow" for n in (0, 1)]
    assert all(
        Path(p).name in runs for entry in checkpoints for p in SortState.parse(entry["sort"]).runs
    )  # no checkpoint named a later run
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == runs


def _chunk(batch: pa.RecordBatch) -> Chunk:
    return Chunk(batch=batch, file="f", rows=pa.array(range(1, batch.num_rows + 1)), last_row=batch.num_rows, end={})


def test_restart_removes_the_runs_of_an_abandoned_load(tmp_path: Path) -> None:
    """Runs a killed load left are removed by a --restart, which loads everything again."""
    src = scrambled_csv(tmp_path / "in.csv", 3_000)
    target = tmp_path / "r.ldb"
    load(src, target)
    stale = runs_dir(target)
    stale.mkdir()
    job = "key:{id}"

    prefix = "run-" + hashlib.sha1(job.encode()).hexdigest()[:10] + "-"
    (stale / f"{prefix}000000.arrow.partial").write_bytes(b"half")
    load(src, target, "--restart")
    assert not stale.exists()


@pytest.mark.parametrize("sort", ["auto", "always"])
def test_sort_on_a_store_written_through_plyvel_keeps_its_keys(tmp_path: Path, sort: str) -> None:
    target = tmp_path / "p.ldb"
    db = plyvel.DB(str(target), create_if_missing=True)
    db.put(b"zzz-other", b"kept")
    db.close()
    src = scrambled_csv(tmp_path / "in.csv", 2_000)
    load(src, target, "--sort", sort, "--set", f"sink.sort_run_size={SMALL_RUN}")
    items = dict(data(target))
    assert items[b"zzz-other"] == b"kept" and len(items) == 2_001


def test_a_ceiling_sorts_with_small_runs_and_input_order_needs_more(tmp_path: Path) -> None:
    """Under ``--max-memory`` the sorted path keeps LevelDB out of compaction, so its lowest
    ceiling is below that of input order: at its lowest, 94 MB, ``auto`` sorts in runs of the
    smallest size (merged in groups when there are many), while ``never`` is refused before loading."""
    src = scrambled_csv(tmp_path / "in.csv", 30_000, dup_every=5)
    # a real process: under a ceiling a load shrinks its batches by its own resident memory
    report = load(src, tmp_path / "auto.ldb", "--max-memory", "94MB", process=True)
    assert report["sizes"]["sort_run_size"] == 256 << 10  # type: ignore[index]
    log = (tmp_path / "auto.ldb" / "loader-state.jsonl").read_text()
    assert '"phase\\": \\"merge' in log  # it sorted through runs
    load(src, tmp_path / "plain.ldb", "--sort", "never")
    assert data(tmp_path / "auto.ldb") == data(tmp_path / "plain.ldb")

    p = cli("load", str(src), str(tmp_path / "never.ldb"), "--key", "{id}", "--sort", "never", "--max-memory", "100MB")
    assert p.returncode == 2
    assert "set --max-memory 125MB or more" in p.stderr


def test_many_runs_merge_in_groups_and_a_rerun_resumes_between_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More runs than the merge takes at once are merged in groups first; a load stopped
    between two groups resumes from the checkpoint and ends with the same store."""
    from loader.writers import leveldb_sort

    monkeypatch.setattr(leveldb_sort, "max_fan_in", lambda run_bytes, row_bytes=0.0: 3)
    src = scrambled_csv(tmp_path / "in.csv", 20_000, dup_every=7)
    expected = load(src, tmp_path / "clean.ldb", "--sort", "never")
    sorter = leveldb_sort.Sorter(str(tmp_path / "runs"), "last", 16 << 10, 0)
    sorter.resume("job", None)
    sorter.start()
    for batch in pa_csv.read_csv(src).to_batches(max_chunksize=1000):
        sorter.add(as_binary(batch.column("id")), as_binary(batch.column("v")))
        if sorter.full():
            sorter.spill({})
    entries = list(sorter.end_spill({}))
    assert len(sorter.state.runs) > 9
    groups = sorter.merge_groups()
    checkpoint = next(groups)  # one group merged, then the load stops
    groups.close()

    again = leveldb_sort.Sorter(str(tmp_path / "runs"), "last", 16 << 10, 0)
    again.resume("job", checkpoint[leveldb_sort.SORT_ENTRY])
    assert len(again.state.runs) == len(sorter.state.runs)
    for _ in again.merge_groups():
        pass
    assert len(again.state.runs) <= 3
    merged = {
        k: v for t in again.merged() for k, v in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True)
    }
    assert {int(k): int(v) for k, v in merged.items()} == expected_last(src)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(r).name for r in again.state.runs)
    assert entries and expected["rows_written"] == 20_000


def _parts_in_state(target: Path) -> int:
    """Parts whose runs the coordinator has taken in (their checkpoint entries)."""
    return sum(key.startswith("part:") for key in leveldb_state(target))


def test_engine_parts_become_runs_of_one_merge_and_a_killed_coordinator_reruns_to_the_same_store(
    tmp_path: Path,
) -> None:
    """With ``run.engine = processes`` each part's sorted runs join the sorted ingest as
    runs, checkpointed with the part; the merge at the end writes the store. SIGKILL the
    coordinator once parts are in, rerun: the store equals a load with threads."""
    import os
    import signal
    import subprocess
    import sys
    import time

    src = scrambled_csv(tmp_path / "in.csv", 60_000, dup_every=9)
    clean = tmp_path / "clean.ldb"
    load(src, clean)
    target = tmp_path / "t.ldb"
    args = ["load", str(src), str(target), "--key", "{id}", "-q", "--engine", "processes"]
    args += ["--set", "run.part_size=200000"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "loader", *args], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while _parts_in_state(target) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the load ended before two parts were in"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    state = SortState.parse(json.loads((target / "loader-state.jsonl").read_text().splitlines()[-1])["set"]["sort"])
    assert state.phase == "spill" and len(state.runs) >= 2  # parts in as runs, nothing merged yet
    assert data(target) == []

    p = cli(*args)
    assert p.returncode == 0, p.stderr
    assert data(target) == data(clean)
    assert files_by_level(target) == {6: len(list(target.glob("*.ldb")))}
    assert not runs_dir(target).exists()


def test_the_checkpoint_names_consecutive_runs_as_one_span() -> None:
    """Tens of thousands of small runs (a low ceiling, a large input) fit in a short entry,
    written at every commit; an older checkpoint's full paths still parse."""
    import json

    from loader.writers.leveldb_sort import SORT_ENTRY

    d = "/data/t.ldb.runs"
    runs = [f"{d}/run-abc-{i:06d}.arrow" for i in range(16_500)]
    merged = [f"{d}/run-abc-000000m.arrow", f"{d}/run-abc-000032m.arrow"]
    elsewhere = ["/other/run-abc-000001.arrow"]
    for paths in (runs, merged + runs[64:], runs[:3] + elsewhere + runs[5:9], []):
        state = SortState("spill", list(paths), b"\x00k")
        entry = state.entry()[SORT_ENTRY]
        assert len(entry) < 400
        back = SortState.parse(entry)
        assert (back.phase, back.runs, back.after) == ("spill", paths, b"\x00k")
    assert json.loads(SortState("merge", runs).entry()[SORT_ENTRY])["runs"] == [["run-abc-000000.arrow", 16_500]]
    old = json.dumps({"phase": "merge", "runs": runs[:3], "after": "6b"})
    assert SortState.parse(old).runs == runs[:3] and SortState.parse(old).after == b"k"


def test_the_span_entry_follows_runs_added_one_by_one_and_a_list_replaced() -> None:
    """Runs join at the end between commits (only the new ones are folded), and merged
    groups replace the list: each entry is what a fresh state would write."""
    from loader.writers.leveldb_sort import SortState

    d = "/data/t.ldb.runs"
    state = SortState("spill")
    for i in range(40):
        state.runs.append(f"{d}/run-abc-{i:06d}.arrow")
        if i % 7 == 0:
            assert state.entry() == SortState("spill", list(state.runs)).entry()
    state.runs = [f"{d}/run-abc-000000m.arrow", *state.runs[32:]]
    assert state.entry() == SortState("spill", list(state.runs)).entry()
    assert SortState.parse(state.entry()["sort"]).runs == state.runs
    state.runs = [f"{d}/run-abc-{i:06d}.arrow" for i in (0, 1, 5)]  # as long as before, other paths
    assert SortState.parse(state.entry()["sort"]).runs == state.runs


# The merge split over processes, as it runs on inputs of hundreds of MB: every run's
# bytes worth a split, and groups of at most 6 runs. MARKS: a line per fork_map, naming
# the phase; SLOW: seconds a forked process of phase SLOW_PHASE waits after its work
# (marked by a line "PHASE-done PID"), before its result; FULL: a path made /dev/full as the group merge's processes start;
# IDLE_POOL: a thread pool that ran a task waits idle beside the load, as a program's may.
SPLIT_SCRIPT = """
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
from loader import forking
from loader.writers import leveldb_sort
leveldb_sort.SPLIT_MERGE_BYTES = 0
leveldb_sort.max_fan_in = lambda run_bytes, row_bytes=0.0: 6
marks, slow = os.environ.get("MARKS"), float(os.environ.get("SLOW", "0"))

def marked(phase, real):
    wait = slow if os.environ.get("SLOW_PHASE") == phase else 0.0
    def fork_map(fn, items, *, check):
        if marks:
            with open(marks, "a") as out:
                out.write(phase + "\\n")
        if phase == "group" and os.environ.get("FULL"):  # the disk fills as the processes start
            os.symlink("/dev/full", os.environ["FULL"])
        def work(item):
            result = fn(item)
            if wait and marks:
                with open(marks, "a") as out:
                    out.write(f"{phase}-done {os.getpid()}\\n")
            time.sleep(wait)
            return result
        return real(work, items, check=check)
    return fork_map

leveldb_sort.fork_map = marked("group", leveldb_sort.fork_map)
forking.fork_map = marked("final", forking.fork_map)
if os.environ.get("IDLE_POOL"):
    pool = ThreadPoolExecutor(2)
    pool.submit(time.sleep, 0).result()
from loader.__main__ import main
sys.argv = ["loader", *sys.argv[1:]]
sys.exit(main())
"""


def split_load(src: Path, target: Path, *args: str, extra: dict[str, str] | None = None) -> list[str]:
    """The argv of a load of ``src`` whose merge splits (SPLIT_SCRIPT), small runs."""
    import sys

    return [sys.executable, "-c", SPLIT_SCRIPT, "load", str(src), str(target), "--key", "{id}", "-q",
            "--set", f"sink.sort_run_size={SMALL_RUN}", *args]  # fmt: skip


def only_versioned_tables(target: Path) -> None:
    """Every table file in the store is in its version: none left by a killed process."""
    from loader.writers.leveldb_tables import read_version

    numbers = {int(p.stem) for p in target.glob("*.ldb")}
    assert numbers and numbers == set(read_version(str(target)).files)


def test_the_merge_split_over_processes_loads_what_one_process_loads(tmp_path: Path) -> None:
    """Groups of runs and the final merge, each cut into key ranges merged by 2 forked
    processes: the same store as one process's merge and as input order, duplicates
    across runs and ranges resolved; the processes' peak is in the report."""
    import os
    import subprocess

    src = scrambled_csv(tmp_path / "in.csv", 60_000, dup_every=7)
    never = tmp_path / "never.ldb"
    load(src, never, "--sort", "never")
    marks = tmp_path / "marks"
    for processes in (2, 1):
        target, report = tmp_path / f"split{processes}.ldb", tmp_path / f"split{processes}.json"
        argv = split_load(src, target, "--report", str(report), "--set", f"sink.merge_processes={processes}")
        p = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, MARKS=str(marks), PYTHONPATH=str(Path(__file__).resolve().parents[1])), timeout=120)  # fmt: skip
        assert p.returncode == 0, p.stderr
        assert data(target) == data(never)
        made = json.loads(report.read_text())
        assert made["rows_written"] == 60_000 and made["status"] == "ok"
        if processes == 2:
            phases = marks.read_text().split()
            assert phases == ["group", "final"], phases  # a group of the runs, then the rest
            assert 10 < made["worker_peak_rss_mb"] < 300
        else:
            assert made["worker_peak_rss_mb"] is None
        assert files_by_level(target) == {6: len(list(target.glob("*.ldb")))}
        only_versioned_tables(target)
        assert not runs_dir(target).exists()
    assert {int(k): json.loads(v)["v"] for k, v in data(tmp_path / "split2.ldb")} == expected_last(src)


@pytest.mark.parametrize("beside", ["idle pool", "dask"])
def test_the_merge_splits_beside_the_idle_threads_of_a_program_or_of_dask(tmp_path: Path, beside: str) -> None:
    """A program whose thread pool waits idle, and a Dask engine's client (it leaves two
    idle pool threads when it closes), still merge on every core: the same store."""
    import os
    import subprocess

    src = scrambled_csv(tmp_path / "in.csv", 30_000, dup_every=7)
    never = tmp_path / "never.ldb"
    load(src, never, "--sort", "never")
    marks, target, report = tmp_path / "marks", tmp_path / "split.ldb", tmp_path / "split.json"
    args = ["--engine", "dask", "--workers", "2"] if beside == "dask" else []
    env = dict(os.environ, MARKS=str(marks), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    if beside == "idle pool":
        env["IDLE_POOL"] = "1"
    argv = split_load(src, target, "--report", str(report), "--set", "sink.merge_processes=2", *args)
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
    assert p.returncode == 0, p.stderr
    assert "final" in marks.read_text().split()
    assert data(target) == data(never)
    assert json.loads(report.read_text())["worker_peak_rss_mb"] > 10
    only_versioned_tables(target)


@pytest.mark.parametrize(("phase", "how"), [("group", "kill"), ("final", "kill"), ("final", "term")])
def test_a_coordinator_killed_while_its_processes_merge_reruns_to_the_same_store(
    tmp_path: Path, phase: str, how: str
) -> None:
    """SIGKILL the coordinator once its merge processes have written their runs or table
    files, before it takes them in (or SIGTERM the whole process group, as Ctrl-C or a
    container's stop reaches it): the processes end with it, and the rerun (merging in
    one process) ends with the store a clean load makes, and no table file outside it."""
    import os
    import signal
    import subprocess
    import time

    src = scrambled_csv(tmp_path / "in.csv", 60_000, dup_every=7)
    never = tmp_path / "never.ldb"
    load(src, never, "--sort", "never")
    target, marks = tmp_path / "t.ldb", tmp_path / "marks"
    env = dict(
        os.environ, MARKS=str(marks), SLOW="30", SLOW_PHASE=phase, PYTHONPATH=str(Path(__file__).resolve().parents[1])
    )
    proc = subprocess.Popen(
        split_load(src, target, "--set", "sink.merge_processes=2"),
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while phase not in (marks.read_text() if marks.exists() else "") and time.monotonic() < deadline:
        assert proc.poll() is None, "the load ended before its merge forked"
        time.sleep(0.01)
    children_of = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    while len(children_of.read_text().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    children = [int(pid) for pid in children_of.read_text().split()]

    def done() -> int:  # processes whose work is done, each waiting to hand over its result
        return sum(line.startswith(f"{phase}-done ") for line in marks.read_text().splitlines())

    wait_until(lambda: done() >= 2, "both merge processes' work done", proc)
    if how == "kill":
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        assert proc.stderr is not None
        assert proc.stderr.read().splitlines()[-2:] == [
            "loader: error: stopped by SIGTERM; committed work is kept",
            "  hint: run the same command again to resume where it stopped; until then the rows counted as"
            f" written wait in the sorted runs in {runs_dir(target)}, not in the store",
        ]
    # died with it (the kernel's SIGKILL to each is delivered at once, its exit takes a moment)
    wait_until(lambda: not [pid for pid in children if process_alive(pid)], "the merge processes gone", timeout=30)
    state = SortState.parse(json.loads((target / "loader-state.jsonl").read_text().splitlines()[-1])["set"]["sort"])
    assert state.phase == "merge"

    p = cli("load", str(src), str(target), "--key", "{id}", "-q", "--set", f"sink.sort_run_size={SMALL_RUN}")
    assert p.returncode == 0, p.stderr
    assert data(target) == data(never)
    only_versioned_tables(target)
    assert not runs_dir(target).exists()


def test_a_full_disk_under_a_merge_process_is_one_line_and_the_rerun_finishes(tmp_path: Path) -> None:
    """ENOSPC in a forked merge process (the second key range's run of the first group is
    /dev/full): the load stops with the line a full run directory gives, exit 1; freed,
    the rerun finishes with the store a clean load makes."""
    import os
    import subprocess

    src = scrambled_csv(tmp_path / "in.csv", 60_000, dup_every=7)
    never = tmp_path / "never.ldb"
    load(src, never, "--sort", "never")
    target = tmp_path / "t.ldb"
    runs = runs_dir(target)
    prefix = run_prefix(str(target), "key:{id}")
    full = runs / f"{prefix}000000m1.arrow.partial"
    env = dict(os.environ, FULL=str(full), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    p = subprocess.run(split_load(src, target, "--set", "sink.merge_processes=2"), capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert p.returncode == 1, p.stderr
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {runs}: the run directory is full",
        "  hint: free space or set run.temp_dir to a larger disk; committed work is kept; fix this and rerun the"
        f" same command to resume; until then the rows counted as written wait in the sorted runs in {runs}, not in the store",
    ]
    assert full.is_symlink()  # left for the rerun, which removes it with any partial run

    again = cli("load", str(src), str(target), "--key", "{id}", "-q", "--set", f"sink.sort_run_size={SMALL_RUN}")
    assert again.returncode == 0, again.stderr
    assert data(target) == data(never)
    assert not runs.exists()


def _spill_then_fail(src: Path, target: str, rows: int) -> None:
    """A sorted load that stops in the spill phase with runs committed (a crash's state):
    SIGTERM, which leaves the complete runs for the rerun to merge."""
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=target, type="leveldb", key="{id}", batch_size=2000, sort_run_size=256 << 10),
        run=RunConfig(chunk_size=2000, quiet=True),
    )
    with pytest.raises(LoaderError, match="stopped by SIGTERM"):
        Pipeline(job, transforms=[_stopping_at(rows, "term")], handle_signals=True).run()


@pytest.mark.parametrize("spelling", ["relative", "symlink"])
def test_a_rerun_that_names_the_target_otherwise_keeps_the_runs_and_finishes(tmp_path: Path, spelling: str) -> None:
    src = scrambled_csv(tmp_path / "in.csv", 40_000)
    target = tmp_path / "t.ldb"
    _spill_then_fail(src, str(target), 36_000)
    state = SortState.parse(leveldb_state(target)[SORT_KEY])
    assert state.phase == "spill" and len(state.runs) >= 4 and all(Path(r).exists() for r in state.runs)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    if spelling == "relative":  # the same target from another directory, by a relative path
        again = Path("..") / "t.ldb"
    else:
        (tmp_path / "link").symlink_to(tmp_path)
        again = tmp_path / "link" / "t.ldb"
    args = ("--key", "{id}", "-q", "--set", f"sink.sort_run_size={SMALL_RUN}")
    p = cli("load", str(src), str(again), *args, cwd=cwd)
    assert p.returncode == 0, p.stderr
    rows = data(target)
    assert {int(k): int(json.loads(v)["v"]) for k, v in rows} == expected_last(src)
    assert len(rows) == 40_000
    assert not runs_dir(target).exists()


def test_a_kill_while_the_runs_are_removed_after_the_merge_reruns_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint that ends the merge comes before the runs go: killed while they go,
    the rerun finds nothing to merge (it used to find a checkpoint naming deleted runs)."""
    import loader.writers.leveldb_sort as leveldb_sort
    from loader import JobConfig, Pipeline, RunConfig, SourceConfig

    src = scrambled_csv(tmp_path / "in.csv", 20_000)
    target = tmp_path / "t.ldb"
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}", sort_run_size=256 << 10),
        run=RunConfig(quiet=True),
    )
    real_remove = os.remove

    def killed_after_one(path: str) -> None:
        real_remove(path)
        if os.path.dirname(path) == str(runs_dir(target)):  # os.remove is every module's: a run's only
            raise KeyboardInterrupt  # the process ends here, a run gone and the others left

    monkeypatch.setattr(leveldb_sort.os, "remove", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(job).run()
    monkeypatch.setattr(leveldb_sort.os, "remove", real_remove)
    assert SortState.parse(leveldb_state(target)[SORT_KEY]).phase == "direct"
    report = Pipeline(job).run()
    assert (report.status, report.rows_written) == ("ok", 0)
    assert len(data(target)) == 20_000
    assert not runs_dir(target).exists()


def _sorted_job(src: Path, target: Path) -> JobConfig:
    return JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}", batch_size=2000, sort_run_size=256 << 10),
        run=RunConfig(chunk_size=2000, quiet=True),
    )


def _stopping_at(rows: int, how: str) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """A stage that, once ``rows`` rows went by, raises (``fail``) or sends this process
    one SIGTERM (``term``) or two (``term twice``: the second stops at once)."""
    seen = [0]

    def stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        before, seen[0] = seen[0], seen[0] + batch.num_rows
        if before <= rows < seen[0]:
            if how == "fail":
                raise RuntimeError("stopped")
            os.kill(os.getpid(), signal.SIGTERM)
            if how == "term twice":
                os.kill(os.getpid(), signal.SIGTERM)
        return batch

    return stage


@pytest.mark.parametrize("how", ["fail", "term", "term twice"])
def test_a_load_stopped_in_the_spill_phase_counts_what_its_checkpoint_holds(tmp_path: Path, how: str) -> None:
    """Rows held for a run that is not complete are not committed: a load stopped in the
    spill phase (a failure, SIGTERM, a second SIGTERM) counts the rows its checkpoint
    holds, and the rerun, which reads the others again, counts those: 40,000 in all. After
    the failure (fix first) those rows are in the store; after a signal, in the runs."""
    src = scrambled_csv(tmp_path / "in.csv", 40_000)
    target = tmp_path / "t.ldb"
    with pytest.raises(LoaderError) as caught:
        Pipeline(_sorted_job(src, target), transforms=[_stopping_at(30_000, how)], handle_signals=True).run()
    stopped = caught.value.report
    assert stopped is not None and stopped.status == ("failed" if how == "fail" else "interrupted")
    state = leveldb_items(target)[1]
    # a stop to fix first (the stage's error) merges the committed runs into the store
    assert state[SORT_KEY].get("phase", "direct") == ("direct" if how == "fail" else "spill")
    held = file_totals(state)
    assert 0 < held["rows_written"] < 30_000
    assert len(data(target)) == (held["rows_written"] if how == "fail" else 0)
    assert (stopped.rows_read, stopped.rows_written) == (held["rows_read"], held["rows_written"])
    assert [(f.rows_read, f.rows_written) for f in stopped.files] == [(held["rows_read"], held["rows_written"])]

    again = Pipeline(_sorted_job(src, target)).run()
    assert (again.status, again.rows_written + stopped.rows_written) == ("ok", 40_000)
    assert again.rows_read + stopped.rows_read == 40_000
    assert len(data(target)) == 40_000


def test_a_merge_that_fails_says_its_rows_wait_in_the_runs_and_the_rerun_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target's disk full while the runs are merged into it: the rows are committed in
    complete runs (counted as written, as the checkpoint counts them, and not read again),
    and the error says they wait in the runs, not in the store; the rerun merges them,
    counting no row again."""
    import errno

    from loader.writers import leveldb_tables

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    src = scrambled_csv(tmp_path / "in.csv", 40_000)
    target = tmp_path / "t.ldb"
    monkeypatch.setattr(leveldb_tables, "ingest", full)
    with pytest.raises(SinkError) as caught:
        Pipeline(_sorted_job(src, target)).run()
    err = caught.value
    assert str(err) == f"{target}: LevelDB write failed: IO error: No space left on device"
    assert err.hint == (
        "committed work is kept; fix this and rerun the same command to resume; until then the rows "
        f"counted as written wait in the sorted runs in {runs_dir(target)}, not in the store"
    )
    assert err.report is not None and err.report.rows_written == 40_000
    assert file_totals(leveldb_items(target)[1])["rows_written"] == 40_000
    assert data(target) == []

    monkeypatch.undo()
    again = Pipeline(_sorted_job(src, target)).run()
    assert (again.status, again.rows_read, again.rows_written) == ("ok", 0, 0)
    assert len(data(target)) == 40_000
    assert not runs_dir(target).exists()


@pytest.mark.parametrize("restart", [False, True])
def test_a_rerun_with_another_temp_dir_makes_it_and_removes_the_earlier_runs(tmp_path: Path, restart: bool) -> None:
    """Following the hint of a full run directory: the rerun names a new ``--temp-dir``
    (not made yet). It makes it, resumes with the complete runs where they are (or, with
    --restart, deletes them), and once merged no run is left in either directory."""
    src = scrambled_csv(tmp_path / "in.csv", 40_000)
    target = tmp_path / "t.ldb"
    _spill_then_fail(src, str(target), 36_000)
    assert len(list(runs_dir(target).glob("*.arrow"))) >= 4
    bigger = tmp_path / "bigger" / "runs"
    args = ("--key", "{id}", "-q", "--temp-dir", str(bigger), "--set", f"sink.sort_run_size={SMALL_RUN}")
    p = cli("load", str(src), str(target), *args, *(["--restart"] if restart else []))
    assert p.returncode == 0, p.stderr
    rows = data(target)
    assert {int(k): int(json.loads(v)["v"]) for k, v in rows} == expected_last(src)
    assert not runs_dir(target).exists()
    assert not bigger.exists()


def test_a_config_error_on_a_later_file_while_rows_are_held_says_nothing_was_written(tmp_path: Path) -> None:
    """The first file's rows wait for a sorted run that is never complete: a key column the
    second file lacks is a usage error (exit 2), as before any commit, not 78."""
    (tmp_path / "a.csv").write_text("id,n\n1,5\n2,x\n3,7\n")
    (tmp_path / "c.csv").write_text("id,q\n9,1\n")
    target = tmp_path / "k.ldb"
    p = cli("load", str(tmp_path / "a.csv"), str(tmp_path / "c.csv"), str(target), "--key", "{n}")
    assert p.returncode == 2
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {tmp_path / 'c.csv'}: sink.key: no column 'n' in the data",
        "  hint: columns are: id, q",
    ]
    assert not target.exists()  # made by this run, which committed nothing
    again = load(tmp_path / "a.csv", target, "--key", "{n}")
    assert (again["rows_written"], len(data(target))) == (3, 3)


@pytest.mark.parametrize("sort", ["auto", "always"])
@pytest.mark.parametrize(
    ("second", "text", "code", "status"),
    [
        ("c.csv", "n,q\n9,1\n", 2, "failed"),  # the key's column it lacks
        ("e.csv", "\n", 65, "failed"),  # an empty header line (a file of no text is passed over)
        ("r.csv", "id,n\n4,x\n5,y\n", 3, "rejects_exceeded"),  # past max_rejects
    ],
)
def test_a_failure_on_a_later_file_while_rows_are_held_reports_no_file_loaded(
    tmp_path: Path, sort: str, second: str, text: str, code: int, status: str
) -> None:
    """Nothing is committed: the file read whole is ``incomplete`` with no rows, as the
    rerun, which reads it again, finds it."""
    (tmp_path / "a.csv").write_text("id,n\n3,5\n1,6\n2,7\n")
    (tmp_path / second).write_text(text, encoding="utf-8")
    target = tmp_path / "t.ldb"
    job = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "a.csv"), str(tmp_path / second)], columns={"n": "int64"}),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}", sort=sort),  # type: ignore[arg-type]
        run=RunConfig(max_rejects=1),
    )
    with pytest.raises(LoaderError) as caught:
        Pipeline(job).run()
    report = caught.value.report
    assert report is not None and (report.exit_code, report.status) == (code, status)
    assert (report.files_loaded, report.rows_read, report.rows_written) == (0, 0, 0)
    assert [(Path(f.path).name, f.status, f.rows_read) for f in report.files] == [
        ("a.csv", "incomplete", 0),
        (second, "incomplete", 0),
    ]


@pytest.mark.parametrize("engine", ["threads", "processes", "dask"])
def test_a_config_error_after_committed_runs_merges_them_into_the_store(tmp_path: Path, engine: str) -> None:
    """A later file lacks the key column (exit 78) once complete sorted runs hold committed
    rows: they are merged into the store before the run ends, so the store holds what
    ``rows_written`` counts, on every engine; the rerun, the file fixed, loads the rest."""
    src = scrambled_csv(tmp_path / "a.csv", 40_000)
    bad = tmp_path / "b.csv"
    bad.write_text("code,v\n1,2\n", encoding="utf-8")
    target, report = tmp_path / "t.ldb", tmp_path / "r.json"
    args = ["--key", "{id}", "--engine", engine, "--workers", "2", "--report", str(report), "-q"]
    args += ["--set", f"sink.sort_run_size={SMALL_RUN}", "--set", "run.part_size=256KB"]
    # Dask's scheduler leaves its log handler on "distributed.scheduler" in the process it ran in
    process = engine == "dask"
    p = cli("load", str(src), str(bad), str(target), *args, process=process)
    assert p.returncode == 78, p.stderr
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {bad}: sink.key: no column 'id' in the data",
        "  hint: columns are: code, v; then rerun: committed work is kept and the rerun resumes",
    ]
    written = json.loads(report.read_text())["rows_written"]
    assert 0 < written <= 40_000
    assert len(data(target)) == written  # in the store, not parked in the runs
    assert not runs_dir(target).exists()
    assert leveldb_state(target)[SORT_KEY] == "{}"

    bad.write_text("id,name,v\n1,x,2\n", encoding="utf-8")
    again = cli("load", str(src), str(bad), str(target), *args, process=process)
    assert again.returncode == 0, again.stderr
    assert written + json.loads(report.read_text())["rows_written"] == 40_001
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected_last(src) | {1: 2}


def test_a_config_error_whose_merge_fails_leaves_the_runs_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge after a config error fails too (the store's disk full): the committed rows
    stay in the runs the checkpoint names, the error says so, and the rerun merges them."""
    import errno

    src = scrambled_csv(tmp_path / "a.csv", 40_000)
    bad = tmp_path / "b.csv"
    bad.write_text("code,v\n1,2\n", encoding="utf-8")
    target = tmp_path / "t.ldb"
    job = _sorted_job(src, target)
    job = replace(job, source=replace(job.source, path=[str(src), str(bad)]))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(leveldb_tables, "ingest", full)
    with pytest.raises(LoaderError) as caught:
        Pipeline(job).run()
    err = caught.value
    assert err.exit_code == 78
    assert err.hint == (
        "columns are: code, v; until then the rows counted as written wait in the sorted runs in "
        f"{runs_dir(target)}, not in the store; then rerun: committed work is kept and the rerun resumes"
    )
    assert err.report is not None and err.report.rows_written > 0
    assert data(target) == []
    assert SortState.parse(leveldb_state(target)[SORT_KEY]).phase == "spill"

    monkeypatch.undo()
    again = Pipeline(_sorted_job(src, target)).run()
    assert again.rows_written + err.report.rows_written == 40_000
    assert len(data(target)) == 40_000
    assert not runs_dir(target).exists()


# The load, stopped by a signal it sends itself once a merge through WriteBatches has
# checkpointed its first last-key-written: a stop in the merge, at a known point.
STOP_IN_MERGE = """
import os, signal, sys
from loader.writers import leveldb
real, sent = leveldb.LevelDBWriter._set_state, []
def set_state(self, entries):
    real(self, entries)
    if '"after"' in entries.get("sort", "") and not sent:
        sent.append(1)
        os.kill(os.getpid(), getattr(signal, os.environ["STOP_SIGNAL"]))
leveldb.LevelDBWriter._set_state = set_state
from loader.__main__ import main
sys.argv = ["loader", *sys.argv[1:]]
sys.exit(main())
"""


def _tagged_csv(path: Path, start: int, n: int, tag: str) -> None:
    """Rows ``start`` to ``start + n`` of ``scrambled_csv``'s ids, named after ``tag``: an
    id in two files has a value of each."""
    rows = "".join(f"{(i + 1) * 2654435761 % 2**32},{tag}{i},{i}\n" for i in range(start, start + n))
    path.write_text("id,name,v\n" + rows, encoding="utf-8")


def _stopped_in_merge(args: list[str], how: str, expected_rc: int) -> SortState:
    import subprocess
    import sys

    from tests.reliability_util import env

    argv = [sys.executable, "-c", STOP_IN_MERGE, *args]
    p = subprocess.run(argv, capture_output=True, text=True, env=env({"STOP_SIGNAL": how}), timeout=120)
    assert p.returncode == expected_rc, p.stderr
    state = SortState.parse(leveldb_state(Path(args[2]))[SORT_KEY])
    assert state.phase == "merge" and state.after is not None  # stopped after a key it wrote
    return state


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_merge_stopped_after_a_key_then_rerun_with_a_new_file_loads_every_row(
    tmp_path: Path, engine: str, how: str
) -> None:
    """A merge into a store that holds keys in its range (through WriteBatches, resuming
    after its last key written) is stopped; a new file joins the glob. The rerun finishes
    the stopped merge before it reads the new file (stopped there too, the next rerun
    does): every row of the new file is loaded (the merge used to skip those whose keys
    sort before the stopped merge's last key), and of ids in both files the new file's
    values win: the store a clean load of the three files in input order makes."""
    src = tmp_path / "in"
    src.mkdir()
    target, report = tmp_path / "t.ldb", tmp_path / "report.json"
    args = ["load", str(src / "*.csv"), str(target), "--key", "{id}", "-q", "--engine", engine]
    args += ["--set", f"sink.sort_run_size={SMALL_RUN}"]
    _tagged_csv(src / "a.csv", 0, 5_000, "a")
    assert cli(*args).returncode == 0  # the store holds keys across the range
    _tagged_csv(src / "b.csv", 5_000, 20_000, "b")
    rc = 143 if how == "SIGTERM" else -signal.SIGKILL
    first = _stopped_in_merge(args, how, rc)
    _tagged_csv(src / "c.csv", 20_000, 10_000, "c")  # half of its ids are b's
    again = _stopped_in_merge(args, how, rc)  # in the merge it took up, before reading c.csv
    assert again.runs == first.runs and again.after is not None and first.after is not None
    assert again.after > first.after
    assert not [k for k in leveldb_state(target) if "c.csv" in k]

    p = cli(*args, "--report", str(report))
    assert p.returncode == 0, p.stderr
    made = json.loads(report.read_text())
    assert (made["status"], made["rows_written"]) == ("ok", 10_000)
    expected: dict[int, dict[str, object]] = {}  # a clean load's: the last row of an id in input order
    for name in ("a", "b", "c"):
        for row in pa_csv.read_csv(src / f"{name}.csv").to_pylist():
            expected[row["id"]] = row
    assert {int(k): json.loads(v) for k, v in data(target)} == expected
    assert len(expected) == 30_000 and sum(str(v["name"]).startswith("c") for v in expected.values()) == 10_000
    assert not runs_dir(target).exists()


def _upsert_then_ignore(src: Path, upserted: int) -> dict[int, int]:
    """id -> v a store holds after the first ``upserted`` rows of ``src`` were loaded in
    mode upsert (the last value wins) and the rest in mode ignore (a stored key keeps its value)."""
    out: dict[int, int] = {}
    for n, line in enumerate(src.read_text().splitlines()[1:]):
        ident, _, v = line.split(",")
        if n < upserted or int(ident) not in out:
            out[int(ident)] = int(v)
    return out


@pytest.mark.parametrize("rerun", [["--sort", "never"], ["--mode", "ignore"]])
def test_a_rerun_in_input_order_merges_the_runs_a_stopped_load_committed_before_its_first_row(
    tmp_path: Path, rerun: list[str]
) -> None:
    """A load stopped in the spill phase leaves committed runs; the rerun writes straight to the
    store (``sort = never``, or mode ``ignore``, which never sorts). The runs hold rows earlier in
    the input than any it reads: merged first, so the later rows win (upsert), or find their
    keys stored (ignore). They used to be merged at the end over the newer values, or, under
    ignore, never: the store equals a load that was not stopped."""
    src = scrambled_csv(tmp_path / "in.csv", 40_000, dup_every=3)  # later rows repeat ids of the runs'
    target, report = tmp_path / "t.ldb", tmp_path / "r.json"
    _spill_then_fail(src, str(target), 36_000)
    assert SortState.parse(leveldb_state(target)[SORT_KEY]).phase == "spill"
    committed = file_totals(leveldb_items(target)[1])["rows_written"]
    assert committed > 0

    p = cli("load", str(src), str(target), "--key", "{id}", "-q", "--report", str(report), *rerun)
    assert p.returncode == 0, p.stderr
    made = json.loads(report.read_text())
    assert made["rows_read"] == made["rows_written"] + made["rows_ignored"] == 40_000 - committed
    ignore = "ignore" in rerun
    expected = _upsert_then_ignore(src, committed) if ignore else expected_last(src)
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected
    assert expected != expected_last(src) if ignore else made["rows_ignored"] == 0
    assert leveldb_state(target)[SORT_KEY] == "{}"
    assert not runs_dir(target).exists()


def test_a_rerun_under_sort_never_on_processes_merges_the_parts_a_stopped_coordinator_took_in_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--engine processes``: the coordinator stops (as killed) once parts are in as runs; the
    rerun under ``sort = never`` merges each new part into the store at once, after the runs
    of the earlier parts (they used to come last, their older values over the newer ones)."""
    src = scrambled_csv(tmp_path / "in.csv", 60_000, dup_every=3)
    target = tmp_path / "t.ldb"
    real, calls = LevelDBWriter.merge_part, [0]

    def stopped_at_the_fourth(self: LevelDBWriter, *args: object, **kwargs: object) -> None:
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt  # the coordinator ends here, three parts in
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LevelDBWriter, "merge_part", stopped_at_the_fourth)
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(target), type="leveldb", key="{id}"),
        run=RunConfig(quiet=True, engine="processes", part_size=200_000),
    )
    with pytest.raises(KeyboardInterrupt):
        Pipeline(job).run()
    monkeypatch.undo()
    state = SortState.parse(leveldb_state(target)[SORT_KEY])
    assert state.phase == "spill" and len(state.runs) == 3 and data(target) == []

    args = ["--key", "{id}", "-q", "--engine", "processes", "--set", "run.part_size=200000", "--sort", "never"]
    p = cli("load", str(src), str(target), *args)
    assert p.returncode == 0, p.stderr
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected_last(src)
    assert not runs_dir(target).exists()


def test_runs_gone_before_the_rerun_stop_it_before_it_reads_and_restart_loads_them_again(tmp_path: Path) -> None:
    """``run.temp_dir`` on a tmpfs wiped by a reboot: the runs the checkpoint names are gone.
    The rerun stops before it reads a row (exit 78: every rerun would fail the same way; it used
    to read the rest, count it as written, and fail at the merge with an internal error), and
    says what the rows were and what loads them; --restart does."""
    src = scrambled_csv(tmp_path / "in.csv", 40_000, dup_every=3)
    target, report, runs = tmp_path / "t.ldb", tmp_path / "r.json", tmp_path / "tmpfs" / "runs"
    job = _sorted_job(src, target)
    job = replace(job, run=replace(job.run, temp_dir=str(runs)))
    with pytest.raises(LoaderError, match="stopped by SIGTERM"):
        Pipeline(job, transforms=[_stopping_at(36_000, "term")], handle_signals=True).run()
    named = SortState.parse(leveldb_state(target)[SORT_KEY]).runs
    assert len(named) >= 2
    shutil.rmtree(runs.parent)

    args = ["load", str(src), str(target), "--key", "{id}", "--temp-dir", str(runs), "--report", str(report)]
    # the checkpoint is left as it was: the same again; the dry run refuses as the run does (it
    # said "ok"), and so does --engine processes (its first refusal was the file half loaded by
    # threads, whose hint, --engine threads, led to this one)
    for more in ([], [], ["--dry-run"], ["--engine", "processes"], ["--engine", "processes", "--dry-run"]):
        report.unlink(missing_ok=True)
        p = cli(*args, *more)
        assert p.returncode == 78
        assert p.stderr.splitlines() == [
            f"loader: error: {len(named)} of the {len(named)} sorted runs an earlier run committed are gone from "
            f"{runs} ({Path(named[0]).name} the first): the rows they held are in no store",
            f"  hint: if {runs} is on a disk not mounted now, mount it and rerun; otherwise rerun with --restart "
            "and --mode upsert or replace (every file of the job loads again)",
        ]
        if "--dry-run" not in more:
            made = json.loads(report.read_text())
            assert (made["rows_read"], made["rows_written"], made["exit_code"]) == (0, 0, 78)
        assert data(target) == []
        assert SortState.parse(leveldb_state(target)[SORT_KEY]).runs == named

    p = cli(*args, "--restart", "-q")
    assert p.returncode == 0, p.stderr
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected_last(src)
    assert not runs.exists()


def test_a_run_directory_that_cannot_be_made_names_where_the_committed_runs_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun whose ``run.temp_dir`` cannot be made (a read-only disk): the hint names the
    directory the committed runs are in (the checkpoint's, not this run's temp_dir), and offers
    no ``sink.sort = never``; with a writable one the rerun finishes."""
    import errno

    src = scrambled_csv(tmp_path / "in.csv", 40_000, dup_every=3)
    target, elsewhere = tmp_path / "t.ldb", tmp_path / "ro" / "runs"
    _spill_then_fail(src, str(target), 36_000)
    real = os.makedirs

    def read_only(name: str, *args: object, **kwargs: object) -> None:
        if str(name).startswith(str(elsewhere.parent)):
            raise OSError(errno.EROFS, "Read-only file system", str(name))
        real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "makedirs", read_only)
    job = _sorted_job(src, target)
    with pytest.raises(SinkError) as caught:
        Pipeline(replace(job, run=replace(job.run, temp_dir=str(elsewhere)))).run()
    err = caught.value
    assert (err.exit_code, str(err)) == (1, f"{elsewhere}: cannot create the run directory: Read-only file system")
    assert err.hint == (
        "set run.temp_dir to a writable directory; until then the rows counted as written wait in the sorted runs "
        f"in {runs_dir(target)}, not in the store"
    )
    monkeypatch.undo()
    again = Pipeline(replace(job, run=replace(job.run, temp_dir=str(tmp_path / "rw")))).run()
    assert again.status == "ok"
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected_last(src)
    assert not runs_dir(target).exists()


def _with_temp_dir(job: JobConfig, directory: Path) -> JobConfig:
    return replace(job, run=replace(job.run, temp_dir=str(directory)))


def test_two_stores_of_one_job_sharing_a_temp_dir_keep_their_own_runs(tmp_path: Path) -> None:
    """Two stores loaded with one key template (one job) and one ``run.temp_dir``: a load of
    the first stopped with committed runs there, then a whole load of the second. The second
    neither takes nor removes the first's runs (their names tell the target), nor the
    directory the user made; the first's rerun merges its own runs: each store holds its input."""
    a_src = scrambled_csv(tmp_path / "a.csv", 40_000)
    b_src = scrambled_csv(tmp_path / "b.csv", 30_000, start=40_000)
    a, b, shared = tmp_path / "a.ldb", tmp_path / "b.ldb", tmp_path / "scratch"
    shared.mkdir()
    with pytest.raises(LoaderError, match="stopped by SIGTERM"):
        job = _with_temp_dir(_sorted_job(a_src, a), shared)
        Pipeline(job, transforms=[_stopping_at(36_000, "term")], handle_signals=True).run()
    a_runs = sorted(p.name for p in shared.iterdir())
    assert len(a_runs) >= 4 and all(n.startswith(run_prefix(str(a), "key:{id}")) for n in a_runs)
    assert run_prefix(str(a), "key:{id}") != run_prefix(str(b), "key:{id}")

    done = Pipeline(_with_temp_dir(_sorted_job(b_src, b), shared)).run()
    assert (done.status, done.rows_written) == ("ok", 30_000)
    assert sorted(p.name for p in shared.iterdir()) == a_runs  # the first store's runs, untouched
    again = Pipeline(_with_temp_dir(_sorted_job(a_src, a), shared)).run()
    assert again.status == "ok"
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(a)} == expected_last(a_src)
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(b)} == expected_last(b_src)
    assert shared.is_dir() and list(shared.iterdir()) == []  # the user's directory stays


@pytest.mark.parametrize("where", ["temp_dir", "beside the store"])
def test_a_rerun_merges_the_runs_an_older_loader_named_by_the_job_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A checkpoint of a loader that named runs by the job alone: the rerun finds its
    committed runs, merges them with its own, and removes them after, leaving a shared
    directory another store's load of the job writes in, and that store's runs, alone."""
    src = scrambled_csv(tmp_path / "in.csv", 40_000, dup_every=5)
    target, shared = tmp_path / "t.ldb", tmp_path / "scratch"
    shared.mkdir()
    job = _sorted_job(src, target)
    job = _with_temp_dir(job, shared) if where == "temp_dir" else job
    before = leveldb_sort.run_prefix
    monkeypatch.setattr(leveldb_sort, "run_prefix", lambda target, job: before("", job))
    with pytest.raises(LoaderError, match="stopped by SIGTERM"):
        Pipeline(job, transforms=[_stopping_at(30_000, "term")], handle_signals=True).run()
    monkeypatch.undo()
    committed = SortState.parse(leveldb_state(target)[SORT_KEY]).runs
    assert len(committed) >= 3 and all(Path(p).name.startswith(before("", "key:{id}")) for p in committed)
    other = shared / (run_prefix(str(tmp_path / "other.ldb"), "key:{id}") + "000000.arrow")
    other.write_bytes(b"another store's run")

    again = Pipeline(job).run()
    assert again.status == "ok"
    assert {int(k): int(json.loads(v)["v"]) for k, v in data(target)} == expected_last(src)
    assert not any(os.path.exists(p) for p in committed)
    assert other.exists()
    # an older loader's run the checkpoint did not name (written as it was stopped) is the
    # target's only in its own directory; in a shared one it may be another store's: left
    assert not runs_dir(target).exists()
