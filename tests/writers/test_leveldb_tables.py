"""LevelDB table files and MANIFEST written by ``loader.writers.leveldb_tables``, read back by
the LevelDB that plyvel bundles: checksums verified, paranoid checks on, compacted after."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pyarrow as pa
import pytest

from loader.writers import leveldb_tables as lt

# The LevelDB this format was checked against (plyvel's bundled copy); the formats are
# LevelDB's documented ones, but a new LevelDB is a reason to look again.
CHECKED_LEVELDB = {"1.22", "1.23"}


def make_store(path: Path, items: dict[bytes, bytes]) -> None:
    """A store holding each of ``items`` in a table file of its own, its log empty."""
    plyvel.DB(str(path), create_if_missing=True).close()
    for k, v in items.items():
        db = plyvel.DB(str(path))
        db.put(k, v)
        db.close()
        plyvel.DB(str(path)).close()  # the log replayed into a table; the new log is empty


def rows(n: int, seed: int = 1) -> tuple[list[bytes], list[bytes]]:
    """Sorted unique keys (bytes 0-255, lengths 1-40) and values of every shape: empty,
    binary, and some larger than a block."""
    rnd = random.Random(seed)
    keys = sorted({b"m" + rnd.randbytes(rnd.randint(0, 39)) for _ in range(n)})
    values = []
    for i, _ in enumerate(keys):
        if i % 97 == 0:
            values.append(rnd.randbytes(70_000))  # larger than a 64 KiB block
        elif i % 13 == 0:
            values.append(b"")
        else:
            values.append(rnd.randbytes(rnd.randint(1, 300)))
    return keys, values


def batches(keys: list[bytes], values: list[bytes], size: int = 1000) -> Iterator[tuple[pa.Array, pa.Array]]:
    for i in range(0, len(keys), size):
        yield pa.array(keys[i : i + size], pa.binary()), pa.array(values[i : i + size], pa.binary())


def read_all(path: Path) -> list[tuple[bytes, bytes]]:
    db = plyvel.DB(str(path), paranoid_checks=True)
    try:
        return list(db.iterator(verify_checksums=True))
    finally:
        db.close()


def test_the_leveldb_checked_is_the_one_plyvel_bundles() -> None:
    assert plyvel.__leveldb_version__ in CHECKED_LEVELDB


@pytest.mark.parametrize("compression", [lt.NO_COMPRESSION, lt.SNAPPY])
def test_ingested_tables_read_back_checked_and_survive_compaction(tmp_path: Path, compression: int) -> None:
    store = tmp_path / "s.ldb"
    outside = {b"a-before": b"1", b"z-after": b"2"}
    make_store(store, outside)
    keys, values = rows(3000)
    version = lt.plan(str(store), keys[0], keys[-1])
    assert version is not None
    added = lt.ingest(
        str(store), version, batches(keys, values), block_size=4096, file_size=64 << 10, compression=compression
    )
    assert len(added) > 5 and all(f.level == lt.BOTTOM for f in added)

    expected = sorted([*outside.items(), *zip(keys, values, strict=True)])
    assert read_all(store) == expected
    db = plyvel.DB(str(store), paranoid_checks=True)
    try:
        assert db.get_property(b"leveldb.num-files-at-level6") == str(len(added)).encode()
        for i in random.Random(2).sample(range(len(keys)), 200):
            assert db.get(keys[i], verify_checksums=True) == values[i]
        assert db.get(keys[0] + b"\x00") is None or keys[1] == keys[0] + b"\x00"
        # later writes win over ingested values, deletes hide them, and compaction keeps both
        db.put(keys[5], b"new")
        db.delete(keys[6])
        db.compact_range()
        assert db.get(keys[5]) == b"new" and db.get(keys[6]) is None and db.get(keys[7]) == values[7]
    finally:
        db.close()
    assert len(read_all(store)) == len(expected) - 1


def test_ranges_written_apart_and_committed_together_read_as_one_store(tmp_path: Path) -> None:
    """The merge's processes each write a key range's tables under numbers of their own
    (``numbers_needed`` apart); one commit lists them all."""
    from loader import spill

    store = tmp_path / "s.ldb"
    make_store(store, {b"a-before": b"1"})
    keys, values = rows(3000, seed=4)
    run = tmp_path / "run.arrow"
    spill.write_merged_run(
        str(run), iter([pa.table({"key": pa.array(keys, pa.binary()), "value": pa.array(values, pa.binary())})])
    )
    span = lt.numbers_needed(run.stat().st_size, 16 << 10)
    version = lt.plan(str(store), keys[0], keys[-1])
    assert version is not None
    sequence, half = version.last_sequence + 1, len(keys) // 2
    files = []
    for i, (lo, hi) in enumerate([(0, half), (half, len(keys))]):
        written = lt.write_tables(str(store), version.next_file + i * span, sequence, batches(keys[lo:hi], values[lo:hi]), block_size=4096, file_size=16 << 10)  # fmt: skip
        assert 5 < len(written) <= span
        files += written
    lt.commit_files(str(store), version, files, sequence, version.next_file + 2 * span)
    assert read_all(store) == sorted([(b"a-before", b"1"), *zip(keys, values, strict=True)])


def test_numbers_needed_bounds_the_files_of_the_narrowest_rows(tmp_path: Path) -> None:
    """A table entry adds at most 15 bytes to what a row takes in a run: one-byte keys and
    empty values, the most entry per run byte, still fit the numbers set aside."""
    from loader import spill

    keys = [bytes([a, b]) for a in range(1, 256) for b in range(256)][:20_000]
    run = tmp_path / "run.arrow"
    table = pa.table({"key": pa.array(keys, pa.binary()), "value": pa.array([b""] * len(keys), pa.binary())})
    spill.write_merged_run(str(run), iter([table]))
    files = lt.write_tables(str(tmp_path), 1, 1, batches(keys, [b""] * len(keys)), block_size=1024, file_size=4096)
    assert len(files) <= lt.numbers_needed(run.stat().st_size, 4096)
    assert len(files) > 0.3 * lt.numbers_needed(run.stat().st_size, 4096)  # not a bound far too loose to matter


def test_a_manifest_longer_than_a_log_block_is_written_in_fragments(tmp_path: Path) -> None:
    store = tmp_path / "s.ldb"
    make_store(store, {})
    keys, values = rows(8000, seed=3)
    version = lt.plan(str(store), keys[0], keys[-1])
    assert version is not None
    added = lt.ingest(str(store), version, batches(keys, values), block_size=1024, file_size=1024)
    manifest = (store / "CURRENT").read_text().strip()
    assert (store / manifest).stat().st_size > lt.LOG_BLOCK  # several fragments
    assert len(added) > 500
    assert read_all(store) == list(zip(keys, values, strict=True))


def test_log_records_round_trip_across_blocks() -> None:
    records = [b"", b"x" * 10, bytes(range(256)) * 300, b"y" * (lt.LOG_BLOCK - lt.LOG_HEADER - 3), b"tail"]
    assert list(lt.log_records(lt.log_file(records))) == records


def test_plan_refuses_a_store_with_keys_in_the_range_or_unflushed_writes(tmp_path: Path) -> None:
    store = tmp_path / "s.ldb"
    make_store(store, {b"k5": b"old"})
    assert lt.plan(str(store), b"k1", b"k4") is not None  # beside the stored key
    assert lt.plan(str(store), b"k1", b"k9") is None  # around it: the new files would hide nothing, but
    # a key in the range must keep LevelDB's own order of writes, so the load goes through WriteBatches

    db = plyvel.DB(str(store))
    db.put(b"a", b"in the log only")
    db.close()
    assert lt.plan(str(store), b"k1", b"k4") is None  # the log would be replayed over the new files


def test_a_killed_ingest_leaves_the_store_as_it_was_and_a_rerun_completes(tmp_path: Path) -> None:
    store = tmp_path / "s.ldb"
    make_store(store, {b"a": b"1"})
    keys, values = rows(12_000, seed=4)

    def dies() -> Iterator[tuple[pa.Array, pa.Array]]:
        for i, piece in enumerate(batches(keys, values, 200)):
            if i == 40:
                raise KeyboardInterrupt  # as a signal would, between two batches
            yield piece

    version = lt.plan(str(store), keys[0], keys[-1])
    assert version is not None
    with pytest.raises(KeyboardInterrupt):
        lt.ingest(str(store), version, dies(), block_size=4096, file_size=16 << 10)
    left = sorted(p.name for p in store.glob("*.ldb"))
    assert len(left) > 2  # table files written, in no version
    assert read_all(store) == [(b"a", b"1")]

    version = lt.plan(str(store), keys[0], keys[-1])
    assert version is not None
    lt.ingest(str(store), version, batches(keys, values), block_size=4096, file_size=16 << 10)
    assert read_all(store) == sorted([(b"a", b"1"), *zip(keys, values, strict=True)])


def test_a_commit_keeps_the_file_being_written_open_and_counts_the_rows_in_the_version(tmp_path: Path) -> None:
    """``commit(end=False)`` lists only the files that reached their size: the rows of the one
    being written are not in the version (``rows_ended`` says how many are). Killed then,
    that file (numbered below the MANIFEST's) is an orphan the next load removes."""
    store = tmp_path / "s.ldb"
    make_store(store, {})
    keys, values = rows(3000, seed=5)
    version = lt.plan(str(store), b"", None)
    assert version is not None
    load = lt.TableLoad(str(store), version, block_size=4096, file_size=64 << 10)
    for k, v in batches(keys, values, 100):
        load.add(k, v)
        in_version = load.commit(end=False)
    assert 0 < in_version < load.rows_added == len(keys)
    committed = lt.read_version(str(store)).files
    assert len(committed) == len(load.added) > 1
    assert all(f.size >= 64 << 10 for f in committed.values())
    load.__exit__(KeyboardInterrupt, None, None)  # killed with a file open
    orphans = {p.name for p in store.glob("*.ldb")} - {lt.table_path("", n) for n in committed}
    assert len(orphans) == 1
    assert read_all(store) == list(zip(keys, values, strict=True))[:in_version]

    version = lt.plan(str(store), keys[-1] + b"\x00", None)
    assert version is not None
    lt.TableLoad(str(store), version, block_size=4096, file_size=64 << 10).__exit__(None, None, None)
    assert not any((store / name).exists() for name in orphans)  # removed with the orphans


def test_a_rewind_drops_the_rows_added_since_the_last_commit_and_the_files_they_began(tmp_path: Path) -> None:
    """Rows added after a commit fill the file then being written and begin two more; a
    rewind cuts that file back to the commit and removes the others, so the file ended
    then holds the committed rows and nothing else."""
    store = tmp_path / "s.ldb"
    make_store(store, {})
    keys = [b"k%05d" % i for i in range(10_000)]
    values = [b"v" * 100 + k for k in keys]
    version = lt.plan(str(store), b"", None)
    assert version is not None
    load = lt.TableLoad(str(store), version, block_size=4096, file_size=64 << 10)
    load.add(pa.array(keys[:20], pa.binary()), pa.array(values[:20], pa.binary()))
    assert load.commit(end=False) == 0  # no file ended yet
    for k, v in batches(keys[20:], values[20:], 100):
        load.add(k, v)
    before = {p.name for p in store.glob("*.ldb")}
    assert len(before) > 2
    assert load.rewind()
    assert {p.name for p in store.glob("*.ldb")} < before
    load.commit(end=True)
    load.__exit__(None, None, None)
    assert not load.rewind()  # ended: nothing to go back to
    assert read_all(store) == list(zip(keys, values, strict=True))[:20]
    assert len(lt.read_version(str(store)).files) == 1


def test_the_lock_is_refused_while_another_process_has_the_store_open(tmp_path: Path) -> None:
    store = tmp_path / "s.ldb"
    make_store(store, {})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import plyvel, sys; db = plyvel.DB({str(store)!r}); print('open', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(BlockingIOError), lt.locked(str(store)):
            pass
    finally:
        holder.communicate("", timeout=30)
    with lt.locked(str(store)):  # free once it closed
        pass


def test_each_commit_removes_the_manifest_it_supersedes(tmp_path: Path) -> None:
    """Every MANIFEST lists every file so far: kept until the load ended, a load of N
    files kept N of them, N squared over two entries in all (39 files: 49 KB of them)."""
    store = tmp_path / "s.ldb"
    make_store(store, {})
    keys, values = rows(3000, seed=6)
    version = lt.plan(str(store), b"", None)
    assert version is not None
    with lt.TableLoad(str(store), version, block_size=4096, file_size=16 << 10) as load:
        for k, v in batches(keys, values, 100):
            load.add(k, v)
            load.commit(end=False)
        load.commit(end=True)
    assert len(load.added) > 10
    assert [p.name for p in store.glob("MANIFEST-*")] == [(store / "CURRENT").read_text().strip()]
    assert read_all(store) == list(zip(keys, values, strict=True))


def test_the_superseded_manifest_stays_until_current_is_durable(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """CURRENT renamed but the directory not synced (a crash may undo the rename): the
    MANIFEST it named before stays, and the store opens whichever CURRENT holds."""
    store = tmp_path / "s.ldb"
    make_store(store, {b"a": b"1"})
    before = (store / "CURRENT").read_text().strip()
    version = lt.read_version(str(store))

    def fails(path: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(lt, "fsync_path", fails)
    with pytest.raises(OSError):
        lt.write_version(str(store), version, version.next_file)
    assert sorted(p.name for p in store.glob("MANIFEST-*")) == sorted([before, f"MANIFEST-{version.next_file:06d}"])
    assert read_all(store) == [(b"a", b"1")]
