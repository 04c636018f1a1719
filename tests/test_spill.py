"""Sorted runs and their merge, against a dict that applies the same rules row by row."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.__main__ import JEMALLOC_CONF
from loader.spill import RunSpiller, is_sorted, key_ranges, merge_runs, split_keys


def _oracle(rows: list[tuple[bytes, bytes]], keep: str) -> list[tuple[bytes, bytes]]:
    seen: dict[bytes, bytes] = {}
    for k, v in rows:
        if keep == "last" or k not in seen:
            seen[k] = v
    return sorted(seen.items())


def _load(tmp_path, rows, keep, run_rows, batch_rows=7):
    spiller = RunSpiller(str(tmp_path), "t-", keep=keep)
    for start in range(0, len(rows), batch_rows):
        part = rows[start : start + batch_rows]
        spiller.add(pa.array([k for k, _ in part], pa.binary()), pa.array([v for _, v in part], pa.binary()))
        if spiller.held_rows >= run_rows:
            spiller.spill()
    spiller.spill()
    return spiller.runs


def _rows(table):
    return list(zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True))


def _merged(runs, keep, after=None):
    out = []
    for table in merge_runs(runs, keep, after=after):
        assert is_sorted(table.column("key").combine_chunks())
        out += zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True)
    return out


@pytest.mark.parametrize("keep", ["last", "first"])
@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(st.tuples(st.binary(max_size=3), st.binary(max_size=4)), max_size=200),
    run_rows=st.integers(1, 60),
)
def test_the_merge_holds_each_key_once_with_the_value_input_order_chose(tmp_path_factory, keep, rows, run_rows):
    tmp = tmp_path_factory.mktemp("runs")
    runs = _load(tmp, rows, keep, run_rows)
    merged = _merged(runs, keep)
    assert merged == _oracle(rows, keep)
    assert len({k for k, _ in merged}) == len(merged)


@pytest.mark.parametrize("keep", ["last", "first"])
@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(st.tuples(st.binary(max_size=3), st.binary(max_size=4)), max_size=200),
    run_rows=st.integers(1, 60),
    parts=st.integers(2, 5),
)
def test_key_ranges_merged_apart_hold_what_the_whole_merge_holds(tmp_path_factory, keep, rows, run_rows, parts):
    """Each range is merged by a process of its own: together, in order, they are the whole
    merge (a key's every row falls in one range, so ties resolve as in one merge)."""
    runs = _load(tmp_path_factory.mktemp("runs"), rows, keep, run_rows)
    cuts = split_keys(runs, parts, samples=4)
    assert cuts == sorted(set(cuts)) and len(cuts) < parts
    pieces = []
    for after, through in key_ranges(cuts):
        piece = [kv for t in merge_runs(runs, keep, after=after, through=through) for kv in _rows(t)]
        assert all((after is None or k > after) and (through is None or k <= through) for k, _ in piece)
        pieces += piece
    assert pieces == _oracle(rows, keep)


def test_split_keys_cut_the_runs_bytes_about_evenly(tmp_path):
    rng = random.Random(5)
    rows = [(rng.randbytes(8), b"v" * rng.randint(0, 200)) for _ in range(20_000)]
    runs = _load(tmp_path, rows, "last", 2_000, batch_rows=500)
    cuts = split_keys(runs, 3)
    assert len(cuts) == 2
    sizes = [
        sum(len(k) + len(v) for k, v in rows if (a is None or k > a) and (b is None or k <= b))
        for a, b in key_ranges(cuts)
    ]
    assert max(sizes) < 1.15 * min(sizes)  # measured within 5%
    assert key_ranges([]) == [(None, None)]


def test_a_merge_from_a_key_reads_no_batch_wholly_below_it(tmp_path, monkeypatch):
    """A range's process, or a resumed merge, skips the batches below its start unread."""
    from loader import spill

    rows = [(b"%06d" % i, b"v") for i in range(5_000)]
    table = pa.Table.from_pylist([{"key": k, "value": v} for k, v in rows], schema=spill.SCHEMA)
    with spill.ipc_file(str(tmp_path / "run.arrow")) as out:
        for batch in table.to_batches(max_chunksize=50):
            out.write_batch(batch)
    read = []
    real = pa.ipc.RecordBatchFileReader.get_batch
    monkeypatch.setattr(pa.ipc.RecordBatchFileReader, "get_batch", lambda self, i: read.append(i) or real(self, i))
    merged = [kv for t in merge_runs([str(tmp_path / "run.arrow")], "last", after=b"004900") for kv in _rows(t)]
    assert merged == rows[4901:]
    assert len(read) < 15  # a binary search over 100 batches, then the last two


def test_a_key_repeated_across_batches_of_one_run_and_across_runs_is_resolved(tmp_path, monkeypatch):
    import loader.spill as spill

    monkeypatch.setattr(spill, "MERGE_BATCH_BYTES", 1)  # runs of several batches, a key spanning two of them
    monkeypatch.setattr(spill, "MIN_BATCH_BYTES", 1)
    rows = [(b"k%02d" % (i % 5), b"v%d" % i) for i in range(40)]
    random.Random(1).shuffle(rows)
    runs = _load(tmp_path, rows, "last", run_rows=9, batch_rows=3)
    assert len(runs) == 5
    assert _merged(runs, "last") == _oracle(rows, "last")


def test_a_resumed_merge_starts_after_the_last_key_written(tmp_path):
    rows = [(b"%05d" % ((i * 7919) % 1000), b"v%d" % i) for i in range(1000)]
    runs = _load(tmp_path, rows, "last", run_rows=300, batch_rows=50)
    everything = _merged(runs, "last")
    assert len(everything) == 1000
    assert _merged(runs, "last", after=b"00499") == everything[500:]


def test_a_run_is_written_whole_or_not_at_all(tmp_path):
    runs = _load(tmp_path, [(b"b", b"2"), (b"a", b"1")], "last", run_rows=10)
    assert [p.name for p in tmp_path.iterdir()] == ["t-000000.arrow"]
    assert runs == [str(tmp_path / "t-000000.arrow")]


def test_is_sorted_means_strictly_increasing():
    assert is_sorted(pa.array([b"a", b"b", b"c"]))
    assert not is_sorted(pa.array([b"a", b"a"]))
    assert not is_sorted(pa.array([b"b", b"a"]))
    assert is_sorted(pa.array([], pa.binary()))


def test_a_run_far_longer_than_the_others_gets_its_share_of_the_read_ahead(tmp_path, monkeypatch):
    """A merged group beside short runs: with an equal share its few held rows would span
    a narrow range of keys and end every step after a handful of rows."""
    import loader.spill as spill

    monkeypatch.setattr(spill, "MERGE_BATCH_BYTES", 1)
    monkeypatch.setattr(spill, "MIN_BATCH_BYTES", 16 * 17)  # 16 rows: 8-byte keys, 1-byte values, offsets
    rnd = random.Random(3)
    keys = [b"%08d" % k for k in rnd.sample(range(10**8), 6000)]
    (tmp_path / "long").mkdir()
    (tmp_path / "short").mkdir()
    long_run = _load(tmp_path / "long", [(k, b"L") for k in keys[:4000]], "last", run_rows=4000)
    short = _load(tmp_path / "short", [(k, b"S") for k in keys[4000:]], "last", run_rows=100)
    assert len(long_run) == 1 and len(short) == 20
    steps = list(merge_runs(long_run + short, "last", held_bytes=64 << 10))
    assert sum(t.num_rows for t in steps) == 6000
    assert len(steps) <= 25  # 22; by equal shares 41


def test_runs_of_wide_rows_are_written_in_batches_of_bytes_not_rows(tmp_path):
    """The merge holds a batch or two of every run: a batch of 64 rows of 5 KB values
    (200 columns as JSON) at each of 32 runs was 8-13 MB over a 97 MB ceiling."""
    import pyarrow.ipc as ipc

    import loader.spill as spill

    rows = [(b"%08d" % ((i * 7919) % 10_000), b"v" * 5000) for i in range(400)]
    runs = _load(tmp_path, rows, "last", run_rows=200)
    with pa.OSFile(runs[0]) as source:
        batches = [b.num_rows for b in ipc.open_file(source).read_all().to_batches()]
    assert max(batches) <= -(-spill.MIN_BATCH_BYTES // 5000) + 1  # 4 rows of 5 KB, not 64
    assert sum(batches) >= 200  # the first run: spilled once it held 200 rows
    (tmp_path / "narrow").mkdir()
    narrow = _load(tmp_path / "narrow", [(b"%08d" % i, b"v") for i in range(400)], "last", run_rows=400)
    with pa.OSFile(narrow[0]) as source:
        assert max(b.num_rows for b in ipc.open_file(source).read_all().to_batches()) >= 64  # small rows: as before


def test_runs_of_rows_wider_than_a_batch_are_merged_fewer_at_once(tmp_path):
    """A batch holds a row at least: each run of 100 KB rows costs the merge six times what
    16 KB batches do, so fewer are taken at once (600 rows of 100 KB peaked 8 MB past a
    100 MB ceiling at the fan-in of narrow runs). Narrow runs keep theirs."""
    import loader.spill as spill

    wide = _load(tmp_path, [(b"%08d" % ((i * 7919) % 1000), b"v" * 100_000) for i in range(40)], "last", run_rows=4)
    (tmp_path / "narrow").mkdir()
    narrow = _load(tmp_path / "narrow", [(b"%08d" % i, b"v" * 200) for i in range(400)], "last", run_rows=100)
    assert 100_000 < spill.widest_row(wide) < 100_100
    assert 200 < spill.widest_row(narrow) < 300
    assert spill.widest_row([*narrow, *wide]) == spill.widest_row(wide)  # the widest run's rows count
    run_bytes = 1 << 20
    assert spill.max_fan_in(run_bytes, spill.widest_row(narrow)) == spill.max_fan_in(run_bytes) == 50
    assert spill.max_fan_in(run_bytes, spill.MERGE_BATCH_BYTES) == 50  # rows of a batch each: as before
    assert spill.max_fan_in(run_bytes, spill.widest_row(wide)) == 8  # 50 * 16 KiB / 100 KB, at least MIN_FAN_IN
    assert spill.max_fan_in(8 << 20, 4 * spill.MERGE_BATCH_BYTES) == spill.max_fan_in(8 << 20) // 4


MERGE_MEMORY = """
import os, random, sys
import pyarrow as pa
from loader import spill

run_bytes, directory = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
rows = run_bytes // 250
paths = []
for r in range(spill.max_fan_in(run_bytes)):
    keys = [str(rng.randrange(1 << 32)).encode() for _ in range(rows)]
    values = [b'{"n":%d,"text":"' % i + b"x" * 230 + b'"}' for i in range(rows)]
    paths.append(os.path.join(directory, f"run-{r:06d}.arrow"))
    batch = pa.record_batch([pa.array(keys, pa.binary()), pa.array(values, pa.binary())], schema=spill.SCHEMA)
    spill.write_sorted_run(paths[-1], [batch], "last", durable=False)
    pa.default_memory_pool().release_unused()


def peak_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024


before = peak_mb()
spill.write_merged_run(os.path.join(directory, "merged.arrow"), spill.merge_runs(paths, "last"))
print(len(paths), peak_mb() - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_the_merge_takes_no_more_runs_at_once_than_its_memory_allows(tmp_path: Path) -> None:
    """Each run costs the merge its read-ahead and its piece of every step (copied by the
    concatenation and the sort): ~135 KB, not the 16 KB batch. With 1 MiB runs (a
    ceiling's), the fan-in is 50 and the merge's peak grows by ~10 MB; at the old
    fan-in (128: a batch of each within two runs' bytes) it grew by 20-21 MB."""
    p = subprocess.run(
        [sys.executable, "-c", MERGE_MEMORY, str(1 << 20), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc", "JE_ARROW_MALLOC_CONF": JEMALLOC_CONF},
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    runs, grew = p.stdout.split()
    assert int(runs) == 50 and float(grew) <= 15, p.stdout


def test_a_merged_run_goes_to_the_disk_as_it_is_written_and_is_whole_after(tmp_path, monkeypatch):
    """Early fsyncs of the run being written, on a thread, before the one that makes it whole."""
    import threading

    from loader import files, spill

    seen = []
    real = files.fsync_path

    def fsync(path):
        seen.append((os.path.basename(path), threading.get_ident() == me))
        real(path)

    me = threading.get_ident()
    monkeypatch.setattr(files, "fsync_path", fsync)
    monkeypatch.setattr(spill, "fsync_path", fsync)
    monkeypatch.setattr(spill, "EARLY_FSYNC_BYTES", 1)
    tables = [pa.table({"key": [b"k%03d" % i], "value": [b"v"]}, schema=spill.SCHEMA) for i in range(5)]
    path = str(tmp_path / "m.arrow")
    spill.write_merged_run(path, iter(tables))
    partial = [here for name, here in seen if name == "m.arrow.partial"]
    assert False in partial and partial[-1] is True  # early ones on a thread, then the whole file's
    assert seen[-1] == (tmp_path.name, True)  # the rename, made durable last
    with pa.OSFile(path) as source:
        assert pa.ipc.open_file(source).read_all().column("key").to_pylist() == [b"k%03d" % i for i in range(5)]
