from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import plyvel
import pyarrow as pa
import pytest

from loader.chunk import Chunk
from loader.config import SinkConfig
from loader.errors import ConfigError
from loader.sinks.leveldb import PUT_SLICE
from loader.writers import KeyTemplate, LevelDBWriter
from loader.writers.encode import UnfitKeys
from loader.writers.leveldb import STATE_FILE
from tests.conftest import adapt, encode, put


def sink(path: Path, key: str = "k:{id}", **kw) -> SinkConfig:
    """Rows in input order unless a test asks for ``sort``: sorted rows are written by
    ``finish``, which these tests of the direct path do not call."""
    kw.setdefault("sort", "never")
    return SinkConfig(path=str(path), type="leveldb", key=key, batch_size=100, **kw)


def items_of(db: plyvel.DB) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in db if not k.startswith(b"\xff")]


def data_items(path: Path) -> list[tuple[bytes, bytes]]:
    db = plyvel.DB(str(path))
    try:
        return items_of(db)
    finally:
        db.close()


def table_blocks(path: Path) -> int:
    """Data blocks in the LevelDB table files: the index block has one entry
    (and one restart point) per data block (see LevelDB's table_format.md)."""

    def varint(buf: bytes, pos: int) -> tuple[int, int]:
        n = shift = 0
        while True:
            b = buf[pos]
            n |= (b & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if b < 0x80:
                return n, pos

    blocks = 0
    for table in path.glob("*.ldb"):
        data = table.read_bytes()
        _, pos = varint(data, len(data) - 48)  # the footer: metaindex handle, then index handle
        _, pos = varint(data, pos)
        offset, pos = varint(data, pos)
        size, _ = varint(data, pos)
        blocks += int.from_bytes(data[offset + size - 4 : offset + size], "little")
    return blocks


def test_table_block_size_is_applied(tmp_path: Path) -> None:
    """The writer's own flushes (a 1 MiB write buffer, filled 4 times) cut blocks
    of about sink.block_size bytes (a block closes at the first put past it)."""
    rows = 40_000
    batch = pa.record_batch({"id": list(range(rows)), "v": [f"{i:0100d}" for i in range(rows)]})
    for size in (4096, 65536):
        db = tmp_path / f"b{size}.ldb"
        with LevelDBWriter(sink(db, value="v", block_size=size, write_buffer_size=1 << 20)) as w:
            w.prepare(batch.schema, fresh=True)
            for start in range(0, rows, 1000):  # a full memtable is flushed before the next write
                part = batch.slice(start, 1000)
                put(w, part)
                w.commit("j", {})
        tables = sum(t.stat().st_size for t in db.glob("*.ldb"))
        assert tables > 3_000_000
        per_block = tables / table_blocks(db)
        assert 0.8 * size < per_block < 1.2 * size, per_block  # each table file ends in a shorter block


def test_integer_keys_sort_numerically() -> None:
    values = [5, -1, 10, 0, -(2**63), 2**63 - 1, -20, 100]
    keys = KeyTemplate("{id}").render(pa.record_batch({"id": values})).to_pylist()
    assert [v for _, v in sorted(zip(keys, values, strict=True))] == sorted(values)
    assert keys[0] == "00000000000000000005"


def _sortable(n: int) -> str:
    return f"{n:020d}" if n >= 0 else f"-{n + 2**63:019d}"


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        ([0, 7, 10**18 - 1, None], pa.int64()),  # every value below 10**18: the one-pass path
        ([0, 7, 10**18], pa.int64()),  # one value at 10**18: padded, then joined
        ([3, -5, None], pa.int64()),
        ([1, 10**18 - 1], pa.uint64()),
        ([1, 2**64 - 1], pa.uint64()),
        ([9, 1], pa.int8()),
    ],
)
def test_integer_keys_with_a_prefix_are_the_same_text_on_every_path(
    values: list[int | None], arrow_type: pa.DataType
) -> None:
    batch = pa.record_batch({"id": pa.array(values, arrow_type)})
    expected = [None if v is None else f"order:{_sortable(v)}/x" for v in values]
    assert KeyTemplate("order:{id}/x").render(batch).to_pylist() == expected
    assert KeyTemplate("{id}").render(batch).to_pylist() == [None if v is None else _sortable(v) for v in values]


def test_format_specs_and_literals() -> None:
    batch = pa.record_batch({"id": [7], "day": pa.array([dt.date(2024, 5, 1)]), "x": [1.5]})
    assert KeyTemplate("{day}/{id:08d}").render(batch).to_pylist() == ["2024-05-01/00000007"]
    assert KeyTemplate("n:{id:d}|{x:.2f}").render(batch).to_pylist() == ["n:7|1.50"]


def test_bytes_fields_go_into_keys_as_they_are() -> None:
    """Bytes need not be UTF-8 (a Parquet fixed_len_byte_array id, a hash): they used to fail
    the cast to text with 'Invalid UTF8 payload'; now the key holds them byte for byte."""
    raw = [b"\x00\x00\x03\xe8", None, b"\xff\xfe\x01\x02"]
    for t in (pa.binary(), pa.large_binary(), pa.binary(4)):
        batch = pa.record_batch({"h": pa.array(raw, t), "n": [1, 2, 3]})
        assert KeyTemplate("{h}").render(batch).to_pylist() == raw
        assert KeyTemplate("k:{h}/{n}").render(batch).to_pylist() == [
            b"k:\x00\x00\x03\xe8/00000000000000000001",
            None,
            b"k:\xff\xfe\x01\x02/00000000000000000003",
        ]


@pytest.mark.parametrize("template", ["{a.__class__}", "{a[0]}", "{a!r}", "{}", "{a:{b}}", "plain", "{0}x{a"])
def test_templates_reach_only_column_values(template: str) -> None:
    """Refused as the template is made, or (a field that may be a column's name, ``{a.b}``)
    once the data's columns are known, and by ``render`` had they never been checked."""
    with pytest.raises(ConfigError, match=r"^sink\.key"):
        KeyTemplate(template).require(["a", "b"])
    with pytest.raises(ConfigError, match=r"^sink\.key"):
        KeyTemplate(template).render(pa.record_batch({"a": [1], "b": [2]}))


def test_values_round_trip_as_json(tmp_path: Path) -> None:
    batch = pa.record_batch(
        {
            "id": [1, 2],
            "name": ['quote " and \\ and \n', None],
            "score": [0.1, float("nan")],
            "ok": [True, False],
            "day": pa.array([dt.date(2024, 1, 2), None]),
            "tags": pa.array([["a"], []], pa.list_(pa.string())),
        }
    )
    db = tmp_path / "v.ldb"
    with LevelDBWriter(sink(db)) as w:
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("j", {"s": "1"})
    items = data_items(db)
    assert [k for k, _ in items] == [b"k:00000000000000000001", b"k:00000000000000000002"]
    assert json.loads(items[0][1]) == {
        "id": 1,
        "name": 'quote " and \\ and \n',
        "score": 0.1,
        "ok": True,
        "day": "2024-01-02",
        "tags": ["a"],
    }
    assert json.loads(items[1][1]) == {"id": 2, "name": None, "score": None, "ok": False, "day": None, "tags": []}


def test_raw_value_column(tmp_path: Path) -> None:
    db = tmp_path / "raw.ldb"
    batch = pa.record_batch({"id": [1], "blob": pa.array([b"\x00\x01"], pa.binary())})
    with LevelDBWriter(sink(db, value="blob")) as w:
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("j", {})
    assert data_items(db) == [(b"k:00000000000000000001", b"\x00\x01")]


def test_exception_writes_nothing_of_the_open_batch(tmp_path: Path) -> None:
    db = tmp_path / "a.ldb"
    with pytest.raises(RuntimeError), LevelDBWriter(sink(db)) as w:
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        put(w, pa.record_batch({"id": [1, 2, 3]}))
        raise RuntimeError("crash before commit")
    assert data_items(db) == []


def test_chunks_staged_off_thread_commit_in_order_or_not_at_all(tmp_path: Path) -> None:
    """The encoder stages each chunk's puts in a WriteBatch of its own (the pipeline
    runs it on its encoding threads); a commit writes them in order, so a key a
    later chunk repeats ends with the later value, and a rollback writes none."""
    db = tmp_path / "s.ldb"
    first = pa.record_batch({"id": [1, 2], "v": ["a", "b"]})
    second = pa.record_batch({"id": [1, 3], "v": ["c", "d"]})
    with pytest.raises(RuntimeError), LevelDBWriter(sink(db, value="v")) as w:
        w.prepare(first.schema, fresh=True)
        staged = [encode(w, first), encode(w, second)]
        w.write(staged[0])
        w.write(staged[1])
        raise RuntimeError("crash before commit")
    assert data_items(db) == []
    with LevelDBWriter(sink(db, value="v")) as w:
        w.prepare(first.schema, fresh=True)
        put(w, first)
        put(w, second)
        w.rollback()
        w.commit("j", {})
        assert items_of(w.db) == []
        put(w, first)
        put(w, second)
        w.commit("j", {})
    assert [v for _, v in data_items(db)] == [b"c", b"b", b"d"]


def test_a_written_batch_is_filled_again_empty(tmp_path: Path) -> None:
    """After a commit the chunk's WriteBatch is cleared and staged again for the
    next chunk (its buffer kept): the next commit writes that chunk's puts only."""
    db = tmp_path / "r.ldb"
    with LevelDBWriter(sink(db, value="v")) as w:
        w.prepare(pa.schema([("id", pa.int64()), ("v", pa.string())]), fresh=True)
        first = encode(w, pa.record_batch({"id": [1, 2], "v": ["a", "b"]}))
        w.write(first)
        w.commit("j", {})
        w.db.delete(b"k:" + b"0" * 19 + b"1")  # gone from the database: must stay gone
        second = encode(w, pa.record_batch({"id": [3], "v": ["c"]}))
        assert second.payload.staged is first.payload.staged  # the same batch, reused
        w.write(second)
        w.commit("j", {})
    assert [v for _, v in data_items(db)] == [b"b", b"c"]


@pytest.mark.parametrize("mode", ["append", "ignore"])
def test_written_batches_handed_back_stay_as_few_as_are_in_flight(tmp_path: Path, mode: str) -> None:
    """A cleared WriteBatch keeps its buffer (~2 MB for a default chunk): however many
    commits a load makes, the spares stay as few as the batches one commit wrote, in
    ignore mode (whose batches the writer fills itself) as in the others."""
    with LevelDBWriter(sink(tmp_path / "n.ldb", mode=mode)) as w:
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        for i in range(20):
            batch = pa.record_batch({"id": list(range(i * 10, i * 10 + 10))})
            put(w, batch)
            w.commit("j", {})
        assert len(w._spare) == 1
    assert len(data_items(tmp_path / "n.ldb")) == 200


@pytest.mark.parametrize(("mode", "expected"), [("append", b"new"), ("upsert", b"new"), ("ignore", b"old")])
def test_modes_on_existing_and_repeated_keys(tmp_path: Path, mode: str, expected: bytes) -> None:
    """append and upsert overwrite a key; ignore keeps the first value, whether it
    is stored already or staged earlier in the same batch."""
    db = tmp_path / "m.ldb"
    with LevelDBWriter(sink(db, value="v")) as w:
        w.prepare(pa.schema([("id", pa.int64()), ("v", pa.string())]), fresh=True)
        put(w, pa.record_batch({"id": [1], "v": ["old"]}))
        w.commit("j", {})
    with LevelDBWriter(sink(db, value="v", mode=mode)) as w:
        w.prepare(pa.schema([("id", pa.int64()), ("v", pa.string())]), fresh=False)
        put(w, pa.record_batch({"id": [1, 2, 2], "v": ["new", "first", "second"]}))
        put(w, pa.record_batch({"id": [2], "v": ["third"]}))
        w.commit("j", {})
    assert [v for _, v in data_items(db)] == [expected, b"first" if mode == "ignore" else b"third"]


@pytest.mark.parametrize(("mode", "first"), [("append", b"last"), ("ignore", b"v0")])
def test_a_chunk_longer_than_a_put_slice(tmp_path: Path, mode: str, first: bytes) -> None:
    """Keys and values become Python bytes PUT_SLICE rows at a time: every row of a
    longer chunk is put, in order, and ignore sees keys from earlier slices."""
    n = 2 * PUT_SLICE + 5
    batch = pa.record_batch({"id": [*range(n), 0], "v": [f"v{i}" for i in range(n)] + ["last"]})
    db = tmp_path / "l.ldb"
    with LevelDBWriter(sink(db, value="v", mode=mode)) as w:
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("j", {})
    items = data_items(db)
    assert len(items) == n
    assert items[0] == (b"k:00000000000000000000", first)
    assert items[-1] == (f"k:{n - 1:020d}".encode(), f"v{n - 1}".encode())


def test_state_lives_beside_the_data_not_among_it(tmp_path: Path) -> None:
    """Checkpoints go to loader-state.jsonl in the LevelDB directory: a checkpoint key
    in every batch made each flushed table span the whole key range."""
    db = tmp_path / "s.ldb"
    with LevelDBWriter(sink(db)) as w:
        put(w, pa.record_batch({"id": [1]}))
        w.commit("job1", {"file:x": '{"a": 1}'})
        assert w.read_state("job1") == {"file:x": '{"a": 1}'}
        assert w.read_state("job2") == {}
    raw = plyvel.DB(str(db))
    assert [k for k, _ in raw] == [b"k:00000000000000000001"]
    raw.close()
    assert [json.loads(line) for line in (db / STATE_FILE).read_text().splitlines()] == [
        {"job": "job1", "set": {"file:x": '{"a": 1}'}}
    ]
    with LevelDBWriter(sink(db)) as w:  # read back by the next run
        assert w.read_state("job1") == {"file:x": '{"a": 1}'}
        w.clear_state("job1")
        assert w.read_state("job1") == {}


def test_a_damaged_state_file_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "d.ldb"
    with LevelDBWriter(sink(db)) as w:
        w.commit("j", {"x": "1"})
    (db / STATE_FILE).write_text("{not json\n")
    with (
        pytest.raises(ConfigError, match=r"cannot read the checkpoint file loader-state\.jsonl: line 1") as e,
        LevelDBWriter(sink(db)),
    ):
        pass
    assert "--restart" in (e.value.hint or "")


def test_a_damaged_state_file_is_a_fix_code_to_the_load_and_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was exit 1 ("rerun, it resumes") though the hint says to delete the file first."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"]])
    db = tmp_path / "d.ldb"
    assert main(["load", str(src), str(db), "--key", "{id}", "--quiet"]) == 0
    (db / STATE_FILE).write_text("{not json\n")
    ended = []
    for extra in (["--dry-run"], []):
        code = main(["load", str(src), str(db), "--key", "{id}", *extra])
        ended.append((code, [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("failed: ")]))
    refused = [
        f"loader: error: {db}: cannot read the checkpoint file loader-state.jsonl: line 1: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "  hint: delete it and load with --restart (puts are idempotent: the rows are written again)",
    ]
    assert ended == [(2, refused)] * 2


def test_a_file_named_as_the_store_is_refused_by_the_dry_run_as_by_the_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run took a file where the store's directory should be for a store not made yet: exit 0."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"]])
    db = tmp_path / "f.ldb"
    db.write_text("hi\n")
    ended = []
    for extra in (["--dry-run"], []):
        code = main(["load", str(src), str(db), "--key", "{id}", *extra])
        ended.append((code, [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("failed: ")]))
    refused = [
        f"loader: error: sink.path: {db} is a file, not a LevelDB directory",
        "  hint: name a new directory or an existing LevelDB, e.g. out/data.ldb",
    ]
    assert ended == [(2, refused)] * 2
    assert db.read_text() == "hi\n"


def _other_comparator(db: Path) -> str:
    plyvel.DB(
        str(db), create_if_missing=True, comparator=lambda a, b: (a < b) - (a > b), comparator_name=b"rev"
    ).close()
    return "its keys are ordered by the comparator 'rev', not LevelDB's bytewise one the loader writes"


def _garbage_current(db: Path) -> str:
    db.mkdir()
    (db / "CURRENT").write_text("garbage\n")
    return "CURRENT names 'garbage', not a MANIFEST"


def _manifest_gone(db: Path) -> str:
    plyvel.DB(str(db), create_if_missing=True).close()
    manifest = (db / "CURRENT").read_text().strip()
    (db / manifest).unlink()
    return f"CURRENT names {manifest}, which is not there"


@pytest.mark.parametrize("make", [_other_comparator, _garbage_current, _manifest_gone])
def test_a_store_leveldb_cannot_open_is_a_fix_code_to_the_load_and_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str]
) -> None:
    """Another comparator or a damaged CURRENT was exit 1 ("rerun, it resumes": a scheduler
    retried it forever), and the dry run said all was well."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"]])
    db = tmp_path / "c.ldb"
    reason = make(db)
    before = sorted(p.name for p in db.iterdir())
    ended = []
    for extra in (["--dry-run"], []):
        code = main(["load", str(src), str(db), "--key", "{id}", *extra])
        ended.append((code, [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("failed: ")]))
        if extra:
            assert sorted(p.name for p in db.iterdir()) == before  # the dry run wrote nothing
    refused = [
        f"loader: error: sink.path: {db} is not a LevelDB the loader can open: {reason}",
        "  hint: name a new directory, or an existing LevelDB made with its default (bytewise) comparator; "
        "plyvel.repair_db may recover a damaged one (on a copy)",
    ]
    assert ended == [(2, refused)] * 2
    assert not (db / STATE_FILE).exists()


def test_null_keys_are_rejected(tmp_path: Path) -> None:
    chunk = Chunk(
        batch=pa.record_batch({"id": [1, None]}), file="f", rows=pa.array([1, 2], pa.int64()), last_row=2, end={}
    )
    with LevelDBWriter(sink(tmp_path / "n.ldb")) as w:
        out = adapt(w, chunk)
    assert out.num_rows == 1
    assert [(r.row, r.reason) for r in out.rejects] == [(2, "key column 'id' is null")]


def test_missing_key_column(tmp_path: Path) -> None:
    with (
        LevelDBWriter(sink(tmp_path / "m.ldb", key="{nope}")) as w,
        pytest.raises(ConfigError, match=r"sink\.key: no column 'nope' in the data"),
    ):
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)


def test_replace_wipes_data_but_not_state(tmp_path: Path) -> None:
    db = tmp_path / "r.ldb"
    with LevelDBWriter(sink(db)) as w:
        put(w, pa.record_batch({"id": [1, 2]}))
        w.commit("j", {"x": "1"})
    with LevelDBWriter(sink(db, mode="replace")) as w:
        assert w.read_state("j") == {"x": "1"}  # read first, as a run does: the job replaced is "j"
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        put(w, pa.record_batch({"id": [3]}))
        w.commit("j", {})
        # and the keys it writes anew are recorded (``leveldb_keys``)
        assert w.read_state("j") == {
            "x": "1",
            "keys": '{"columns": ["id"], "template": "k:{id}", "types": {"id": "int64"}}',
        }
    assert [k for k, _ in data_items(db)] == [b"k:00000000000000000003"]


def _one_key_committed(db: Path) -> None:
    """Job ``j`` upserts the key of an int64 ``id`` 1 and commits it."""
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        put(w, pa.record_batch({"id": [1]}))
        w.commit("j", {"x": "1"})


def test_clear_state_keeps_how_the_job_keys_are_spelled(tmp_path: Path) -> None:
    """--restart forgets the files loaded, not the keys in the store: a run that would spell
    them otherwise is refused before it writes a key; a store made anew holds none."""
    db = tmp_path / "c.ldb"
    _one_key_committed(db)
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.clear_state("j")
        assert w.read_state("j") == {"keys": '{"columns": ["id"], "template": "k:{id}", "types": {"id": "int64"}}'}
        with pytest.raises(ConfigError, match="column id is string in this run") as refused:
            w.prepare(pa.schema([("id", pa.string())]), fresh=True)
        assert refused.value.exit_code == 78
        w.prepare(pa.schema([("id", pa.int32())]), fresh=True)  # an int32 keys as an int64 does
    assert [k for k, _ in data_items(db)] == [b"k:00000000000000000001"]
    for name in os.listdir(db):
        if name != STATE_FILE:
            os.remove(db / name)  # the store deleted, its checkpoint file left
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.clear_state("j")
        assert w.read_state("j") == {}
        w.prepare(pa.schema([("id", pa.string())]), fresh=True)


def test_the_spelling_is_recorded_with_the_first_key_committed(tmp_path: Path) -> None:
    """A run that writes no key (every row rejected, or rolled back) binds no later run; the
    commit that writes the first key records how it is spelled before the key is in the store."""
    db = tmp_path / "f.ldb"
    spelled = '{"columns": ["id"], "template": "k:{id}", "types": {"id": "int64"}}'
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        w.commit("j", {"x": "1"})  # no row written
        put(w, pa.record_batch({"id": [1]}))
        w.rollback()  # nor kept
        w.commit("j", {"x": "2"})
        assert w.read_state("j") == {"x": "2"}
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.clear_state("j")
        w.prepare(pa.schema([("id", pa.string())]), fresh=True)  # not refused: no key was written
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        put(w, pa.record_batch({"id": [1]}))
        with pytest.raises(ConfigError, match="column id is string in this run") as refused:
            w.prepare(pa.schema([("id", pa.string())]), fresh=False)  # a key is staged: bound already
        assert refused.value.exit_code == 78
        seen = []
        write_batches = w._write_batches

        def written(batches: list) -> None:
            seen.append((len(batches), w.read_state("j").get("keys")))
            write_batches(batches)

        w._write_batches = written  # type: ignore[method-assign]
        w.commit("j", {"x": "3"})
        assert seen == [(1, spelled)]  # in the checkpoint before the key is written
    assert [k for k, _ in data_items(db)] == [b"k:00000000000000000001"]


def test_replace_forgets_the_spelling_of_the_keys_it_deletes(tmp_path: Path) -> None:
    db = tmp_path / "w.ldb"
    _one_key_committed(db)
    with LevelDBWriter(sink(db, mode="replace")) as w:
        w.read_state("j")
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        w.commit("j", {"x": "2"})  # every row rejected: the store holds none of the job's keys
        assert w.read_state("j") == {"x": "2"}
    assert data_items(db) == []
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        w.read_state("j")
        w.prepare(pa.schema([("id", pa.string())]), fresh=True)
        put(w, pa.record_batch({"id": ["a"]}))
        w.commit("j", {})
        assert w.read_state("j")["keys"] == '{"columns": ["id"], "template": "k:{id}", "types": {"id": "string"}}'


@pytest.mark.parametrize("with_nulls", [False, True])
def test_json_objects_parse_back_for_every_escape_and_null(with_nulls: bool) -> None:
    """Text without nulls gets its quotes from the join's literals; with nulls, from its own pass."""
    from loader.writers.encode import json_objects

    texts = ["plain", 'q"uote', "back\\slash", "tab\there", "nl\nx", "ünïcode ☃"]
    cols = {
        "s": texts,
        "f": [1.5, float("nan"), float("inf"), -0.25, 2.0, 3.0],
        "b": [True, False, True, False, True, False],
        "d": [dt.date(2024, 2, 29)] * 6,
        "ts": [dt.datetime(2024, 1, 1, 12, 30)] * 6,
    }
    if with_nulls:
        for values in cols.values():
            values[1] = None
    batch = pa.record_batch(cols)
    parsed = [json.loads(v) for v in json_objects(batch).to_pylist()]
    assert [p["s"] for p in parsed] == cols["s"]
    assert [p["f"] for p in parsed] == [1.5, None, "Infinity", -0.25, 2.0, 3.0]  # NaN is null; JSON has no infinity
    assert parsed[0]["d"] == "2024-02-29" and parsed[0]["ts"] == "2024-01-01T12:30:00.000000"
    assert parsed[1]["b"] is None if with_nulls else parsed[1]["b"] is False
    assert list(parsed[0]) == ["s", "f", "b", "d", "ts"]


def test_json_booleans_first_after_text_and_last() -> None:
    """A boolean column without nulls carries the literal before it in its two spellings."""
    from loader.writers.encode import json_objects

    batch = pa.record_batch({"a": [True, False], "s": ['x"', "y"], "b": [False, True], "n": pa.array([None, True])})
    assert json_objects(batch).to_pylist() == [
        b'{"a":true,"s":"x\\"","b":false,"n":null}',
        b'{"a":false,"s":"y","b":true,"n":true}',
    ]


def test_json_objects_for_chunks_of_one_schema_with_and_without_nulls() -> None:
    """The literal parts are made once per shape of chunk (names, and how each value
    is quoted): chunks of one schema with and without nulls each get theirs."""
    from loader.writers.encode import json_objects

    dense = pa.record_batch({"s": ["x", "y"], "b": [True, False]})
    sparse = pa.record_batch({"s": ["x", None], "b": pa.array([None, False])})
    for batch, expected in [
        (dense, [b'{"s":"x","b":true}', b'{"s":"y","b":false}']),
        (sparse, [b'{"s":"x","b":null}', b'{"s":null,"b":false}']),
        (dense, [b'{"s":"x","b":true}', b'{"s":"y","b":false}']),
    ]:
        assert json_objects(batch).to_pylist() == expected


def test_key_ordered_writes_are_cut_by_bytes_for_wide_rows() -> None:
    """A WriteBatch or a slice of table entries holds as many rows of the benchmark's
    width as before, and as many bytes of wider rows (not 16,384 values of 5 KB)."""
    import pyarrow as pa

    from loader.writers.leveldb import INGEST_BYTES, INGEST_ROWS, MERGE_BYTES, MERGE_ROWS, slices

    def table(rows: int, value: int) -> pa.Table:
        keys = pa.array([b"%020d" % i for i in range(rows)], pa.binary())
        return pa.table({"key": keys, "value": pa.array([b"v" * value] * rows, pa.binary())})

    narrow, wide = table(40_000, 200), table(2_000, 5_000)
    assert [b.num_rows for b in slices(narrow, MERGE_ROWS, MERGE_BYTES)] == [16_384, 16_384, 7_232]
    assert max(b.num_rows for b in slices(narrow, INGEST_ROWS, INGEST_BYTES)) == INGEST_ROWS
    cut = slices(wide, MERGE_ROWS, MERGE_BYTES)
    assert sum(b.num_rows for b in cut) == 2_000 and max(b.nbytes for b in cut) <= MERGE_BYTES
    assert max(b.nbytes for b in slices(wide, INGEST_ROWS, INGEST_BYTES)) <= INGEST_BYTES


def _wide_csv(path: Path, rows: int) -> None:
    """Rows of ~4 KB in no key order (a JSON value each of about that size)."""
    lines = ["id,note"] + [f"{(i + 1) * 2654435761 % 2**32},{'n' * 4000}{i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def test_a_run_of_wide_rows_is_spilled_at_its_size_not_at_batch_size_rows(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Held rows are committed (and sorted into a run) once they fill ``sort_run_size``:
    8,192 rows of 4 KB would have been one 32 MB run in memory at a 1 MiB run size."""
    import loader.writers.leveldb_sort as leveldb_sort
    from loader import load
    from tests.reliability_util import leveldb_items

    src = tmp_path / "wide.csv"
    _wide_csv(src, 3000)
    held: list[int] = []
    real = leveldb_sort.write_sorted_run

    def counted(path, rows, keep, **options):  # type: ignore[no-untyped-def]
        held.append(sum(b.nbytes for b in rows))
        return real(path, rows, keep, **options)

    monkeypatch.setattr(leveldb_sort, "write_sorted_run", counted)
    report = load(
        str(src), str(tmp_path / "t.ldb"), key="{id}", sink_options={"sort": "always", "sort_run_size": 1 << 20}
    )
    assert (report.status, report.rows_written) == ("ok", 3000)
    assert len(held) >= 10 and max(held) < 2 << 20, held  # ~12 MB in runs of about 1 MiB
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert len(items) == 3000 and [k for k, _ in items] == sorted(k for k, _ in items)


def test_wide_rows_in_writebatches_commit_by_their_bytes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``sort = never``: the open WriteBatches are committed at ``batch_size`` rows or
    ``batch_size`` x 512 bytes, whichever comes first (8,192 rows of 4 KB: 32 MB held)."""
    from loader import load
    from loader.writers.leveldb import BATCH_ROW_BYTES

    src = tmp_path / "wide.csv"
    _wide_csv(src, 3000)
    staged: list[int] = []
    real = LevelDBWriter.commit

    def counted(self, job, state):  # type: ignore[no-untyped-def]
        staged.append(self._staged_bytes)
        return real(self, job, state)

    monkeypatch.setattr(LevelDBWriter, "commit", counted)
    report = load(str(src), str(tmp_path / "t.ldb"), key="{id}", sink_options={"sort": "never"})
    assert (report.status, report.rows_written, report.batch_size) == ("ok", 3000, 8192)
    limit = 8192 * BATCH_ROW_BYTES
    assert len(staged) >= 3 and max(staged) < limit + 2 * 1024 * 4100, staged  # at most a chunk past it


def test_a_zero_padded_spec_takes_uint64_values_past_int64() -> None:
    u = pa.array([1, 2**63, 2**64 - 1, None], pa.uint64())
    keys = KeyTemplate("{u:025d}").render(pa.record_batch({"u": u})).to_pylist()
    assert keys == [f"{v:025d}" if v is not None else None for v in u.to_pylist()]


def test_a_date_takes_a_strftime_spec() -> None:
    batch = pa.record_batch({"d": pa.array([dt.date(2024, 5, 1), None]), "id": [7, 8]})
    assert KeyTemplate("{d:%Y%m%d}/{id}").render(batch).to_pylist() == ["20240501/" + _sortable(7), None]
    with pytest.raises(ConfigError, match=r"format spec '%Y' does not fit column type int64"):
        KeyTemplate("{id:%Y}").render(batch)
    with pytest.raises(ConfigError, match=r"is not a format spec"):
        KeyTemplate("{d:%Y{x}}")


def test_a_zoned_timestamp_spec_formats_in_utc_and_nanoseconds_load() -> None:
    """Two instants either side of a DST fall-back share a local time: in UTC they keep two keys."""
    ny = pa.array([1730611800 * 10**6, 1730615400 * 10**6], pa.timestamp("us", "America/New_York"))
    ns = pa.array([1704078000 * 10**9 + 7, -1], pa.timestamp("ns"))
    batch = pa.record_batch({"ts": ny, "n": ns})
    assert KeyTemplate("{ts:%Y%m%d%H%M%z}").render(batch).to_pylist() == ["202411030530+0000", "202411030630+0000"]
    assert KeyTemplate("{n:%Y%m%d%H%M%S.%f}").render(batch).to_pylist() == [
        "20240101030000.000000",
        "19691231235959.999999",  # cut toward the past, as the second it falls in
    ]


def test_a_float32_from_parquet_is_one_number_top_level_nested_and_in_sqlite(tmp_path: Path) -> None:
    """The repro: ``{"f":0.1,"l":[0.10000000149011612]}`` spelled one float32 two ways."""
    import sqlite3

    import pyarrow.parquet as pq

    from loader import load
    from tests.reliability_util import leveldb_items

    src = tmp_path / "f32.parquet"
    f32 = pa.array([0.1], pa.float32())
    pq.write_table(pa.table({"id": [1], "f": f32, "l": pa.array([[0.1]], pa.list_(pa.float32()))}), src)
    load(str(src), str(tmp_path / "o.ldb"), key="{id}")
    items, _ = leveldb_items(tmp_path / "o.ldb")
    assert [v for _, v in items] == [b'{"id":1,"f":0.10000000149011612,"l":[0.10000000149011612]}']
    load(str(src), str(tmp_path / "o.db"), table="t")
    conn = sqlite3.connect(tmp_path / "o.db")
    try:
        assert conn.execute("SELECT f FROM t").fetchall() == [(f32[0].as_py(),)] == [(0.10000000149011612,)]
    finally:
        conn.close()


def test_a_nested_nanosecond_duration_loads_as_its_count_into_both_sinks(tmp_path: Path) -> None:
    """The repro: ``[1500]`` of duration("ns") made ``loader load`` exit 1 with an internal
    error (1500 ns is no whole microsecond), and duration("us") was stored as ``"0:00:00.001500"``."""
    import os
    import sqlite3
    import subprocess
    import sys

    import pyarrow.feather as pf

    root = Path(__file__).parents[2]
    src = tmp_path / "d.arrow"
    counts = pa.array([[1500], [-86_400_000_001, None]], pa.list_(pa.int64()))
    table = {
        "id": [1, 2],
        "ns": counts.cast(pa.list_(pa.duration("ns"))),
        "us": counts.cast(pa.list_(pa.duration("us"))),
    }
    pf.write_feather(pa.table(table), src)
    env = {**os.environ, "PYTHONPATH": str(root)}
    for target, option in (("o.ldb", ["--key", "{id:d}"]), ("o.db", ["--table", "t"])):
        cmd = [sys.executable, "-m", "loader", "load", str(src), str(tmp_path / target), *option, "-q"]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=120)
        assert (p.returncode, p.stderr) == (0, "")
    db = plyvel.DB(str(tmp_path / "o.ldb"))
    try:
        assert [json.loads(v) for _, v in db] == [
            {"id": 1, "ns": [1500], "us": [1500]},
            {"id": 2, "ns": [-86_400_000_001, None], "us": [-86_400_000_001, None]},
        ]
    finally:
        db.close()
    conn = sqlite3.connect(tmp_path / "o.db")
    try:
        assert conn.execute("SELECT ns, us FROM t ORDER BY id").fetchall() == [
            ("[1500]", "[1500]"),
            ("[-86400000001,null]", "[-86400000001,null]"),
        ]
    finally:
        conn.close()


@pytest.mark.parametrize("sort", ["auto", "never"])
def test_a_raw_value_of_any_bytes_type_is_stored_as_its_bytes(tmp_path: Path, sort: str) -> None:
    """large_binary (Polars), fixed_size_binary and a UUID (DuckDB's Parquet): the bytes as they are,
    on the table-file path (keys in order into an empty store) and through WriteBatches."""
    import pyarrow.parquet as pq

    from loader import load

    uuids = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([b"\xff" * 16, b"\x00\x01" * 8, None], pa.binary(16)))
    table = pa.table(
        {
            "id": [1, 2, 3],
            "large": pa.array([b"\xff\x00", b"a", b""], pa.large_binary()),
            "fixed": pa.array([b"\xfe\xff", b"ab", None], pa.binary(2)),
            "u": uuids,
        }
    )
    pq.write_table(table, tmp_path / "b.parquet")
    for column in ("large", "fixed", "u"):
        target = tmp_path / f"{column}.ldb"
        load(tmp_path / "b.parquet", target, key="r:{id}", sink_options={"value": column, "sort": sort})
        with plyvel.DB(str(target)) as db:
            stored = [v for _, v in db]
        values = table.column(column).combine_chunks()
        values = values.storage if isinstance(values.type, pa.BaseExtensionType) else values
        expected = [v or b"" for v in values.to_pylist()]  # NULL as empty, as documented
        assert stored == expected, column


def test_a_value_its_key_spec_cannot_take_rejects_its_row(tmp_path: Path) -> None:
    """A date past 9999 under %Y (Python's dates stop there) was a configuration error (78)
    that stopped the load; the type takes the spec, so only that row is refused."""
    import pyarrow.parquet as pq

    from loader import load
    from loader.writers.encode import UnfitKeys
    from tests.reliability_util import leveldb_items

    far = pa.array([19_000, 2_932_897, None], pa.date32())  # 2022-01-08, 10000-01-01
    batch = pa.record_batch({"id": [1, 2, 3], "day": far})
    with pytest.raises(UnfitKeys) as unfit:
        KeyTemplate("{day:%Y%m%d}/{id:d}").render(batch)
    assert (unfit.value.column, unfit.value.bad.to_pylist()) == ("day", [False, True, False])
    src = tmp_path / "far.parquet"
    pq.write_table(pa.Table.from_batches([batch]), src)
    report = load(str(src), str(tmp_path / "o.ldb"), key="{day:%Y%m%d}/{id:d}")
    assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 3, 1, 2)
    items, _ = leveldb_items(tmp_path / "o.ldb")
    assert [k for k, _ in items] == [b"20220108/1"]
    rejects = [json.loads(line) for line in Path(report.rejects_path).read_text().splitlines()]
    assert sorted((r["row"], r["column"], r["reason"]) for r in rejects) == [
        (2, "day", "key column 'day': format spec '%Y%m%d' does not fit the value: date value out of range"),
        (3, "day", "key column 'day' is null"),
    ]


def _load(db: Path, key: str, ids: list[int], mode: str = "append") -> None:
    """One job's run as the pipeline makes it: named by its key, state read first."""
    job = f"key:{key}"
    with LevelDBWriter(sink(db, key=key, mode=mode)) as w:
        w.read_state(job)
        w.prepare(pa.schema([("id", pa.int64())]), fresh=mode == "replace")
        put(w, pa.record_batch({"id": ids}))
        w.commit(job, {"f": "1"})


def test_replace_under_an_escaped_brace_prefix_keeps_other_keys_starting_with_a_brace(tmp_path: Path) -> None:
    """``{{x}}:{id}`` has the prefix ``{x}:``; it used to be ``{`` (the escape splits the
    literal), so replace deleted every key starting with a brace."""
    db = tmp_path / "b.ldb"
    other = plyvel.DB(str(db), create_if_missing=True)
    other.put(b"{other}:keep", b"mine")
    other.close()
    _load(db, "b:{id:d}", [1, 2])
    _load(db, "{{x}}:{id:d}", [1, 2])
    _load(db, "{{x}}:{id:d}", [3], mode="replace")
    assert [k for k, _ in data_items(db)] == [b"b:1", b"b:2", b"{other}:keep", b"{x}:3"]


def test_replace_is_not_refused_for_templates_differing_after_an_escaped_brace(tmp_path: Path) -> None:
    db = tmp_path / "o.ldb"
    _load(db, "{{x}}:{id:d}", [1])
    _load(db, "{{y}}:{id:d}", [1])
    _load(db, "{{y}}:{id:d}", [2], mode="replace")
    assert [k for k, _ in data_items(db)] == [b"{x}:1", b"{y}:2"]
    with pytest.raises(ConfigError, match=r"would delete keys of 'key:\{\{x\}\}:\{id:d\}'"):
        _load(db, "{{x}}{id:d}", [3], mode="replace")  # prefix {x} is under {x}: too


def test_intervals_load_as_iso_durations_into_both_sinks(tmp_path: Path) -> None:
    """DuckDB's INTERVAL reaches Arrow as month_day_nano_interval, which Arrow casts to no
    text: any such column (top level or nested) stopped the load with an internal error."""
    import sqlite3

    import pyarrow.feather as pf

    from loader import load

    mdn = pa.MonthDayNano
    table = {
        "id": [1, 2, 3],
        "i": pa.array([mdn([1, 2, 3]), None, mdn([-1, 0, -1_500_000_000])], pa.month_day_nano_interval()),
        "li": pa.array([[mdn([0, 1, 86_400 * 10**9])], None, []], pa.list_(pa.month_day_nano_interval())),
    }
    src = tmp_path / "i.arrow"
    pf.write_feather(pa.table(table), src)
    for target, options in (("o.ldb", {"key": "{id:d}"}), ("o.db", {"table": "t"})):
        report = load(str(src), str(tmp_path / target), run_options={"quiet": True}, **options)  # type: ignore[arg-type]
        assert (report.status, report.rows_written) == ("ok", 3)
    db = plyvel.DB(str(tmp_path / "o.ldb"))
    try:
        assert [json.loads(v) for _, v in db] == [
            {"id": 1, "i": "P1M2DT0.000000003S", "li": ["P0M1DT86400S"]},
            {"id": 2, "i": None, "li": None},
            {"id": 3, "i": "P-1M0DT-1.5S", "li": []},
        ]
    finally:
        db.close()
    with sqlite3.connect(tmp_path / "o.db") as conn:
        assert conn.execute("SELECT id, i, li FROM t ORDER BY id").fetchall() == [
            (1, "P1M2DT0.000000003S", '["P0M1DT86400S"]'),
            (2, None, None),
            (3, "P-1M0DT-1.5S", "[]"),
        ]


def test_a_value_column_missing_from_a_later_file_names_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "sink.value: expected 'json' or a column name, got 'v'", naming no file,
    though the first file has the column."""
    from loader.cli import main
    from tests.conftest import write_csv

    write_csv(tmp_path / "1.csv", ["id", "v"], [[1, "a"], [2, "b"]])
    later = write_csv(tmp_path / "2.csv", ["id", "w"], [[3, "c"]])
    db = tmp_path / "vm.ldb"
    ended = []
    for extra in (["--dry-run"], []):
        code = main(["load", str(tmp_path / "*.csv"), str(db), "--key", "{id}", "--value", "v", *extra])
        ended.append((code, [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("loader: error")]))
    assert ended == [
        (2, [f"loader: error: {later}: sink.value: no column 'v' in the data"]),
        (78, [f"loader: error: {later}: sink.value: no column 'v' in the data"]),
    ]
    assert data_items(db) == [(b"00000000000000000001", b"a"), (b"00000000000000000002", b"b")]


def test_a_float_key_field_is_spelled_as_its_value_and_nan_rejects_its_row(tmp_path: Path) -> None:
    """``{f}`` wrote 3.0 as key ``3`` and -0.0 as ``-0`` where the value says ``3.0`` and
    ``-0.0``; NaN, equal to nothing, became the key ``nan`` of every such row."""
    import pyarrow.parquet as pq

    from loader import load
    from tests.reliability_util import leveldb_items

    src = tmp_path / "f.parquet"
    f = [3.0, -0.0, float("nan"), 2.5, float("inf"), float("nan")]
    pq.write_table(pa.table({"f": f, "n": [1, 2, 3, 4, 5, 6]}), src)
    report = load(str(src), str(tmp_path / "o.ldb"), key="{f}", sink_options={"value": "f"})
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (6, 4, 2)
    items, _ = leveldb_items(tmp_path / "o.ldb")
    assert sorted(items) == [(b"-0.0", b"-0.0"), (b"2.5", b"2.5"), (b"3.0", b"3.0"), (b"inf", b"inf")]
    rejects = [json.loads(line) for line in Path(report.rejects_path).read_text().splitlines()]
    assert [(r["row"], r["column"], r["reason"]) for r in rejects] == [
        (3, "f", "key column 'f' is NaN, which makes no key"),
        (6, "f", "key column 'f' is NaN, which makes no key"),
    ]
    with pytest.raises(UnfitKeys) as unfit:  # under a format spec too
        KeyTemplate("{f:.1f}").render(pa.record_batch({"f": [1.0, float("nan")]}))
    assert (unfit.value.column, unfit.value.bad.to_pylist()) == ("f", [False, True])


def test_a_store_destroyed_under_its_checkpoint_file_is_loaded_again_whole(tmp_path: Path) -> None:
    """``plyvel.destroy_db`` removes LevelDB's files and leaves loader-state.jsonl: the rerun
    said "1 already loaded" and exited 0 with an empty store. Every job's checkpoint told
    of the deleted store, so the other job's goes too: its next run loads everything."""
    from loader import load
    from tests.conftest import write_csv
    from tests.reliability_util import leveldb_items

    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"], ["", "no key"]])
    db = tmp_path / "ds.ldb"
    assert load(str(src), str(db), key="a:{id}").rows_written == 1
    assert load(str(src), str(db), key="b:{id}").rows_written == 1
    plyvel.destroy_db(str(db))
    assert sorted(p.name for p in db.iterdir()) == [STATE_FILE]
    again = load(str(src), str(db), key="a:{id}")
    warning = (
        "WARNING started over: loader-state.jsonl held checkpoints of 'key:a:{id}', 'key:b:{id}', "
        "and the store they tell of was gone (deleted since)"
    )
    assert (again.files_loaded, again.files_skipped, again.rows_written, again.rows_rejected) == (1, 0, 1, 1)
    assert again.summary().endswith(warning)
    assert len(Path(again.rejects_path).read_text().splitlines()) == 1  # the row rejected again, once
    other = load(str(src), str(db), key="b:{id}")  # the store is there now: the checkpoint it finds is cleared
    assert (other.files_loaded, other.rows_written, other.checkpoint_stale) == (1, 1, None)
    items, _ = leveldb_items(db)
    assert [k for k, _ in items] == [b"a:00000000000000000001", b"b:00000000000000000001"]
    assert load(str(src), str(db), key="a:{id}").files_skipped == 1  # a checkpoint of a store that is there


def test_a_store_named_in_bytes_that_are_not_utf8_loads_and_resumes(tmp_path: Path) -> None:
    """A store path in Latin-1 bytes (``out\\xe9.ldb``): plyvel encoded the name as UTF-8, which
    the byte's surrogate is not (exit 1). It opens by the path's bytes."""
    import os

    from loader import load

    src = tmp_path / "a.csv"
    src.write_text("id,v\n1,2\n2,3\n")
    store = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"out\xe9.ldb"))
    reports = [load(str(src), store, key="{id}") for _ in range(2)]
    assert [(r.rows_written, r.files_skipped) for r in reports] == [(2, 0), (0, 1)]
    with plyvel.DB(os.fsencode(store)) as db:
        assert sorted(k for k, _ in db if not k.startswith(b"\x00")) == [b"%020d" % 1, b"%020d" % 2]


# The load SIGKILLs itself in the window between a batch's WriteBatches and its checkpoint:
# ``write``, right after the Nth write of a batch of rows (threads); ``commit``, as the Nth
# commit begins (the processes engine: a part's WriteBatches are written, its checkpoint not).
KILL_BEFORE_CHECKPOINT = """
import os, signal, sys
from loader.writers import leveldb
hook, at, calls = os.environ["KILL_HOOK"], int(os.environ["KILL_AT"]), []
real_write, real_commit = leveldb.LevelDBWriter._write_batches, leveldb.LevelDBWriter.commit
def write_batches(self, batches):
    rows = bool(batches)
    real_write(self, batches)
    calls.extend([1] if rows else [])
    if rows and len(calls) == at:
        os.kill(os.getpid(), signal.SIGKILL)
def commit(self, job, state):
    calls.append(1)
    if len(calls) == at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_commit(self, job, state)
if hook == "write":
    leveldb.LevelDBWriter._write_batches = write_batches
else:
    leveldb.LevelDBWriter.commit = commit
from loader.__main__ import main
sys.argv = ["loader", *sys.argv[1:]]
sys.exit(main())
"""


def _ignore_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """Three CSVs of 3,000 rows (every 97th repeats the id before it), and a store that
    holds every fifth id already (written by another program)."""
    src = tmp_path / "in"
    src.mkdir()
    for f in range(3):
        ids = [f * 3000 + i - (i % 97 == 1) for i in range(3000)]
        (src / f"p{f}.csv").write_text("id,v\n" + "".join(f"{i},f{f}r{i}\n" for i in ids), encoding="utf-8")
    store = tmp_path / "pre.ldb"
    with plyvel.DB(str(store), create_if_missing=True) as db:
        for i in range(0, 9000, 5):
            db.put(b"%020d" % i, b"there before")
    return src, store


def _committed_counts(store: Path) -> tuple[int, int]:
    """Rows written and ignored, over the checkpoint's file (or, under an engine, part) entries."""
    from tests.reliability_util import leveldb_state

    entries = [json.loads(v) for k, v in leveldb_state(store).items() if k.startswith("part:")]
    entries = entries or [json.loads(v) for k, v in leveldb_state(store).items() if k.startswith("file:")]
    return sum(e["rows_written"] for e in entries), sum(e["rows_ignored"] for e in entries)


@pytest.mark.parametrize(("engine", "hook"), [("threads", "write"), ("processes", "commit")])
def test_ignore_killed_between_its_writebatches_and_their_checkpoint_counts_its_own_rows_written(
    tmp_path: Path, engine: str, hook: str
) -> None:
    """``ignore`` killed after a batch's (a part's) WriteBatches are written, before their
    checkpoint: the rerun looks the batch's keys up again and finds them, written by the
    killed run itself. It counted them "ignored (key already there)"; the checkpoint notes,
    before the WriteBatches, which of the batch's rows put their key, and the rerun counts
    those written: the counts and the store are a clean load's."""
    import shutil
    import subprocess
    import sys

    from tests.reliability_util import cli, env

    src, pre = _ignore_inputs(tmp_path)
    args = [str(src / "*.csv"), "--key", "{id}", "--mode", "ignore", "--batch-size", "1000", "--chunk-size", "250"]
    args += ["--engine", engine, "--part-size", "40KB", "-q"]
    clean, killed = tmp_path / "clean.ldb", tmp_path / "killed.ldb"
    shutil.copytree(pre, clean)
    shutil.copytree(pre, killed)
    assert cli("load", args[0], str(clean), *args[1:]).returncode == 0
    argv = [sys.executable, "-c", KILL_BEFORE_CHECKPOINT, "load", args[0], str(killed), *args[1:]]
    p = subprocess.run(argv, capture_output=True, text=True, env=env({"KILL_HOOK": hook, "KILL_AT": "3"}), timeout=120)
    assert p.returncode == -9, p.stderr
    stopped = _committed_counts(killed)
    assert 0 < stopped[0] + stopped[1] < 9000
    assert cli("load", args[0], str(killed), *args[1:]).returncode == 0
    assert _committed_counts(killed) == _committed_counts(clean)
    assert _committed_counts(clean) == (7125, 1875)  # keys there before, or repeated
    assert data_items(killed) == data_items(clean)


def _stopped_before_checkpoint(w: LevelDBWriter, ids: list[int]) -> None:
    """``ids`` staged and written, as a commit does, and the run killed before their checkpoint."""
    put(w, pa.record_batch({"id": ids}))
    w._note_own("j")
    w._write_batches(w.staged)


def test_an_ignore_rerun_in_smaller_batches_stopped_again_counts_each_row_once(tmp_path: Path) -> None:
    """The note of a stopped batch outlives a rerun's smaller commits, and a rerun stopped
    again notes what is left of it with its own batch's rows; the last run's counts and the
    first commit's add up to a clean load's (1, 2, 4, 5, 6, 7 written; 3 there before, 2 repeated)."""
    from loader.writers import leveldb_own

    db = tmp_path / "o.ldb"
    with plyvel.DB(str(db), create_if_missing=True) as other:
        other.put(b"k:%020d" % 3, b"there before")
    ids, schema = [1, 2, 3, 4, 2, 5, 6, 7], pa.schema([("id", pa.int64())])
    with LevelDBWriter(sink(db, mode="ignore")) as w:
        w.read_state("j")
        w.prepare(schema, fresh=True)
        _stopped_before_checkpoint(w, ids)
    with LevelDBWriter(sink(db, mode="ignore")) as w:
        w.read_state("j")
        w.prepare(schema, fresh=True)
        assert put(w, pa.record_batch({"id": ids[:3]})) == 2
        w.commit("j", {"x": "3"})
        _stopped_before_checkpoint(w, ids[3:5])
    with LevelDBWriter(sink(db, mode="ignore")) as w:
        assert w.read_state("j")["x"] == "3"
        w.prepare(schema, fresh=False)
        assert put(w, pa.record_batch({"id": ids[3:]})) == 4
        w.commit("j", {"x": "8"})
        w.finish()
        w.commit("j", {"x": "done"})
        assert w.read_state("j")[leveldb_own.OWN_ENTRY] == "{}"  # no row it told of is read again
    assert [v for _, v in data_items(db)] == [b'{"id":%d}' % i if i != 3 else b"there before" for i in range(1, 8)]


def test_a_note_of_a_stopped_ignore_run_goes_with_a_rerun_in_another_mode(tmp_path: Path) -> None:
    """Upsert counts every row it puts: the note is dropped before it writes, so no later
    ignore run takes it for rows of its own."""
    from loader.writers import leveldb_own

    db, schema = tmp_path / "m.ldb", pa.schema([("id", pa.int64())])
    with LevelDBWriter(sink(db, mode="ignore")) as w:
        w.read_state("j")
        w.prepare(schema, fresh=True)
        _stopped_before_checkpoint(w, [1, 2])
        assert w.read_state("j")[leveldb_own.OWN_ENTRY] != "{}"
    with LevelDBWriter(sink(db, mode="upsert")) as w:
        assert w.read_state("j")[leveldb_own.OWN_ENTRY] != "{}"  # as the run found it
        assert w.read_state("j")[leveldb_own.OWN_ENTRY] == "{}"


def test_a_full_disk_under_the_merges_table_files_is_the_write_error_with_its_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table files fill the disk: the store, opened again on the same full disk, failed too,
    and its error ("cannot open LevelDB: ...") replaced the write's and its resume hint. The
    write's error stays; the table files it left, in no version, are removed (LevelDB would
    only remove them at the next open, which the full disk refused)."""
    from loader.errors import RESUME_HINT, SinkError
    from loader.writers import leveldb_tables

    db = tmp_path / "full.ldb"
    left = db / "000099.ldb"

    def fills_the_disk(directory: str, version: object, batches: object, **options: object) -> None:
        left.write_bytes(b"half a table")
        raise OSError(28, "No space left on device")

    def full(self: LevelDBWriter) -> None:
        raise SinkError("cannot open LevelDB: IO error: MANIFEST-000006: No space left on device", file=str(db))

    monkeypatch.setattr(leveldb_tables, "ingest", fills_the_disk)
    with pytest.raises(SinkError) as failed, LevelDBWriter(sink(db, mode="upsert", sort="always")) as w:
        w.read_state("j")
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        put(w, pa.record_batch({"id": [2, 1]}))
        w.commit("j", {"x": "1"})
        monkeypatch.setattr(LevelDBWriter, "_open_db", full)
        w.finish()
    assert (str(failed.value), failed.value.hint) == (
        f"{db}: LevelDB write failed: IO error: No space left on device",
        RESUME_HINT,
    )
    assert not left.exists()
    monkeypatch.undo()
    assert data_items(db) == []


def _foreign_store(db: Path) -> None:
    """A store another program wrote: keys of its own, none under ``k:``."""
    other = plyvel.DB(str(db), create_if_missing=True)
    other.put(b"meta:version", b"3")
    other.put(b"zzz", b"keep me")
    for i in range(5):
        other.put(b"other:%d" % i, b"\x80\x04pickle")
    other.close()


_FOREIGN = [b"meta:version", b"other:0", b"other:1", b"other:2", b"other:3", b"other:4", b"zzz"]


def test_replace_deletes_only_under_its_prefix_in_a_store_other_programs_write(tmp_path: Path) -> None:
    """A store no other loader job loads into was taken for the job's own: replace deleted
    every key in it, those the template ``k:{id}`` can never write too, exit 0."""
    db = tmp_path / "p.ldb"
    _foreign_store(db)
    _load(db, "k:{id}", [1, 2])
    plyvel_db = plyvel.DB(str(db))
    plyvel_db.put(b"session:1", b"the application's, beside the job's")
    plyvel_db.put(b"k:app", b"under the job's prefix: the job's")
    plyvel_db.close()
    _load(db, "k:{id}", [3], mode="replace")
    assert [k for k, _ in data_items(db)] == [b"k:00000000000000000003", *_FOREIGN[:6], b"session:1", b"zzz"]


def _replace_bare(db: Path, ids: list[int], id_type: pa.DataType | None = None) -> None:
    job, id_type = "key:{id}", id_type or pa.int64()
    with LevelDBWriter(sink(db, key="{id}", mode="replace")) as w:
        w.read_state(job)
        w.clear_state(job)  # a new replace starts over, as the pipeline's
        w.prepare(pa.schema([("id", id_type)]), fresh=True)
        put(w, pa.record_batch({"id": pa.array(ids, id_type)}))
        w.commit(job, {"f": "1"})


def test_replace_without_a_prefix_is_refused_where_the_store_holds_keys_the_job_did_not_write(
    tmp_path: Path,
) -> None:
    """``{id}`` has no prefix to tell its keys by: in a store the job has no checkpoint in,
    every key is another's; where it has one, a key of another shape than its keys' is.
    Refused before a key goes; the job's own keys alone are deleted as before."""
    db = tmp_path / "f.ldb"
    _foreign_store(db)
    with pytest.raises(ConfigError) as refused:
        _replace_bare(db, [1])
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        f"sink.mode = 'replace' would delete 7 keys of {db} that job 'key:{{id}}' cannot account for "
        "('meta:version', 'other:0', 'other:1', ...): its key template '{id}' has no literal prefix, "
        "and the job has no checkpoint in the store (it wrote none of its keys)"
    )
    assert refused.value.hint == (
        "give the key template a prefix of its own (e.g. 'u:{id}'): replace then deletes only the keys under it; "
        "or delete those keys, or the store, and load again"
    )
    assert [k for k, _ in data_items(db)] == _FOREIGN

    own = tmp_path / "o.ldb"
    _replace_bare(own, [1, 2])
    _replace_bare(own, [3])  # only the job's keys: deleted
    assert [k for k, _ in data_items(own)] == [b"00000000000000000003"]
    app = plyvel.DB(str(own))
    app.put(b"session:\xff", b"the application's")
    app.close()
    with pytest.raises(ConfigError) as refused:
        _replace_bare(own, [4])
    assert "would delete 1 key of" in str(refused.value)
    assert str(refused.value).endswith(
        "('session:\\xff'): its key template '{id}' has no literal prefix, and '{id}' spells no key like this one"
    )
    assert [k for k, _ in data_items(own)] == [b"00000000000000000003", b"session:\xff"]


def test_replace_without_a_prefix_deletes_keys_of_the_recorded_spelling_too(tmp_path: Path) -> None:
    """The job's keys were written with ``id`` an int64; a replace with ``id`` text (what
    replace is for: the keys written anew) accounts for them by the checkpoint's record."""
    db = tmp_path / "s.ldb"
    _replace_bare(db, [1, -2])
    _replace_bare(db, [7], pa.date32())  # a date is no integer: the record's shape accounts for them
    assert [k for k, _ in data_items(db)] == [b"1970-01-08"]
    _replace_bare(db, [3])  # and the date's shape for this one
    assert [k for k, _ in data_items(db)] == [b"00000000000000000003"]


# A replace SIGKILLed at a moment of its own: ``delete``, once the wipe has deleted KILL_AT
# keys; ``wiped``, after the wipe, before the record of the keys' spelling goes; ``forgot``,
# after that; ``commit``, after the KILL_AT-th commit (the rerun resumes, deleting nothing).
KILL_REPLACE = """
import os, signal, sys
from loader.writers import leveldb
hook, at, commits = os.environ["KILL_HOOK"], int(os.environ["KILL_AT"]), []
real_wipe, real_forget, real_commit = (
    leveldb.LevelDBWriter._wipe, leveldb.LevelDBWriter._forget_keys, leveldb.LevelDBWriter.commit
)
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def delete_keys(self, prefix):
    wb = self.db.write_batch(sync=True)
    for k in list(self.db.iterator(prefix=prefix, include_value=False))[:at]:
        wb.delete(k)
    wb.write()
    die()
def wipe(self, schema):
    real_wipe(self, schema)
    die()
def forget(self):
    real_forget(self)
    die()
def commit(self, job, state):
    real_commit(self, job, state)
    commits.append(1)
    if len(commits) == at:
        die()
if hook == "delete":
    leveldb.LevelDBWriter._delete_keys = delete_keys
elif hook == "wiped":
    leveldb.LevelDBWriter._wipe = wipe
elif hook == "forgot":
    leveldb.LevelDBWriter._forget_keys = forget
else:
    leveldb.LevelDBWriter.commit = commit
from loader.__main__ import main
sys.argv = ["loader", *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.parametrize(
    ("key", "kills"),
    [
        ("u:{id}", [("delete", 5)]),
        ("u:{id}", [("delete", 5), ("delete", 300)]),
        ("u:{id}", [("wiped", 0)]),
        ("u:{id}", [("forgot", 0)]),
        ("u:{id}", [("commit", 2), ("commit", 3)]),
        ("{id}", [("delete", 5), ("wiped", 0)]),
        ("{id}", [("forgot", 0), ("commit", 2)]),
        ("{id} unrecorded", [("delete", 5), ("delete", 5)]),
    ],
)
def test_a_replace_killed_anywhere_then_rerun_equals_a_clean_replace_and_keeps_others_keys(
    tmp_path: Path, key: str, kills: list[tuple[str, int]]
) -> None:
    """SIGKILL mid-wipe, after it, and after commits: every rerun deletes only the job's keys
    (the other program's stay, under ``u:{id}``) and is never refused for the job's own keys
    a killed wipe left (its checkpoint notes the wipe under way, also where it records no
    spelling, as a store of an earlier loader); the last one's store and counts are a clean
    replace's."""
    import shutil
    import subprocess
    import sys

    from loader.writers.statelog import StateLog
    from tests.reliability_util import cli, env

    template, unrecorded = key.split(" ")[0], key.endswith("unrecorded")
    src = tmp_path / "in"
    src.mkdir()
    for f in range(3):
        rows = range(f * 200 + 1, f * 200 + 201)
        (src / f"p{f}.csv").write_text("id,v\n" + "".join(f"{i},new{i}\n" for i in rows), encoding="utf-8")
    (tmp_path / "old.csv").write_text("id,v\n" + "".join(f"{i},old{i}\n" for i in range(1, 801)), encoding="utf-8")
    pre = tmp_path / "pre.ldb"
    if template == "u:{id}":
        _foreign_store(pre)
    assert cli("load", str(tmp_path / "old.csv"), str(pre), "--key", template, "-q").returncode == 0
    if unrecorded:  # as an earlier loader left it: the job's checkpoint records no spelling
        log = StateLog(str(pre / STATE_FILE), durable=True)
        job = f"key:{template}"
        log.clear(job, tuple(name for name in log.jobs[job] if name != "keys"))
        log.close()
    args = [str(src / "*.csv"), "--key", template, "--mode", "replace", "--batch-size", "50", "--chunk-size", "25"]
    clean, killed = tmp_path / "clean.ldb", tmp_path / "killed.ldb"
    shutil.copytree(pre, clean)
    shutil.copytree(pre, killed)
    assert cli("load", args[0], str(clean), *args[1:], "-q").returncode == 0
    foreign = [item for item in data_items(pre) if not item[0].startswith(b"u:")] if template == "u:{id}" else []
    for hook, at in kills:
        argv = [sys.executable, "-c", KILL_REPLACE, "load", args[0], str(killed), *args[1:], "-q"]
        p = subprocess.run(argv, capture_output=True, text=True, env=env({"KILL_HOOK": hook, "KILL_AT": str(at)}))
        assert p.returncode == -9, p.stderr
        assert [item for item in data_items(killed) if item in foreign] == foreign
    p = cli("load", args[0], str(killed), *args[1:], "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert data_items(killed) == data_items(clean)
    assert len(data_items(clean)) == 600 + len(foreign)
    assert _committed_counts(killed) == _committed_counts(clean) == (600, 0)


_KILL_STATE = """
import json, os, sys
from loader import load
from loader.writers.statelog import StateLog

at, kwargs, count, set_ = int(sys.argv[1]), json.loads(sys.argv[2]), 0, StateLog.set

def killing_set(self, *args, **kw):
    global count
    count += 1
    if count == at:
        os._exit(9)  # the checkpoint line not written
    return set_(self, *args, **kw)

StateLog.set = killing_set
load(**kwargs)
sys.exit(3)  # not killed
"""


@pytest.mark.parametrize("at", [1, 2])
def test_a_restart_killed_before_its_first_checkpoint_keeps_the_reject_file(tmp_path: Path, at: int) -> None:
    """hunt24a #4: a --restart killed before its first checkpoint line (``at`` 1) leaves the
    reject file as the old checkpoint counts it, so the rerun, which loads nothing, keeps the
    rejected row's line; killed after it (``at`` 2), the rerun goes on and rejects it once."""
    import subprocess
    import sys

    from loader import load
    from tests.reliability_util import rejects_of

    (tmp_path / "in").mkdir()
    for n in range(3):
        rows = "".join(f"{i},{'oops' if i == 6 else i * 10}\n" for i in range(n * 4 + 1, n * 4 + 5))
        (tmp_path / "in" / f"{n}.csv").write_text("id,v\n" + rows, encoding="utf-8")
    kwargs: dict[str, object] = {
        "source": str(tmp_path / "in" / "*.csv"),
        "target": str(tmp_path / "r.ldb"),
        "key": "r:{id}",
        "source_options": {"columns": {"v": "int64"}},
        "sink_options": {"batch_size": 2},
        "run_options": {"chunk_size": 2},
    }
    load(**kwargs)  # type: ignore[arg-type]
    rejects = rejects_of(tmp_path / "r.ldb", "key:r:{id}")
    before = rejects.read_bytes()
    restart = dict(kwargs, run_options={"chunk_size": 2, "restart": True})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", _KILL_STATE, str(at), json.dumps(restart)], env=env, capture_output=True)
    assert p.returncode == 9, p.stderr
    report = load(**kwargs)  # type: ignore[arg-type]
    assert report.rows_written == (0 if at == 1 else 9)
    assert rejects.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "r.ldb", rejects.name]


def _refused_alike(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, src: Path, key: str
) -> list[tuple[int, list[str]]]:
    """The exit code and stderr of ``loader validate``, ``--dry-run`` and the load of ``src`` with ``key``."""
    from loader.cli import main

    db = tmp_path / "k.ldb"
    job = tmp_path / "k.toml"
    job.write_text(f'[source]\npath = "{src}"\n[sink]\ntype = "leveldb"\npath = "{db}"\nkey = "{key}"\n')
    ended = []
    for args in (["validate", str(job)], ["load", str(src), str(db), "--key", key, "--dry-run"]):
        ended.append((main(args), capsys.readouterr().err.splitlines()))
    ended.append((main(["load", str(src), str(db), "--key", key, "-q"]), capsys.readouterr().err.splitlines()))
    return ended


@pytest.mark.parametrize("spec", ["x", ">40", "s"])
def test_a_spec_on_a_uuid_column_is_refused_by_validate_and_the_dry_run_as_by_the_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str
) -> None:
    """hunt26c 1: a fixed_size_binary column (a UUID) had no sample value to try the spec on,
    so validate and --dry-run passed a key the load refused."""
    import pyarrow.parquet as pq

    src = tmp_path / "u.parquet"
    pq.write_table(pa.table({"u": pa.array([bytes(range(16))], pa.binary(16))}), src)
    refused = [
        f"loader: error: sink.key: format spec {spec!r} does not fit column type fixed_size_binary[16]: "
        "unsupported format string passed to bytes.__format__",
        "  hint: a bytes field takes no format spec: {u} puts its bytes in the key as they are",
    ]
    assert _refused_alike(capsys, tmp_path, src, f"k:{{u:{spec}}}") == [(2, refused)] * 3


def test_a_date_spec_on_dates_read_as_text_names_the_cast_stages_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hunt26c 2: Python's exception text and "check the flags" for 2012/01/01 read as text."""
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "w.csv", ["date", "v"], [["2012/01/01", 1], ["2012/01/02", 2]])
    message = (
        "loader: error: sink.key: format spec '%Y%m%d' of column 'date' is a date's, but the column is text "
        "(its values did not read as dates)"
    )
    hint = '  hint: a cast stage reads them with formats, e.g. formats = { date = "%Y/%m/%d" }; ISO dates (2024-01-31) read as dates with '
    assert _refused_alike(capsys, tmp_path, src, "w:{date:%Y%m%d}") == [
        (2, [message, hint + "--set source.columns.date=date"]),
        (2, [message, hint + "--columns date=date"]),
        (2, [message, hint + "--columns date=date"]),
    ]


@pytest.mark.parametrize(
    ("column", "field", "plain"),
    [("user.id", "user.id", "user_id"), ("items[0]", "items[0]", "items_0"), ("a:b", "a:b", "a_b")],
)
def test_a_key_field_naming_a_column_with_a_dot_says_it_is_a_column_and_names_rename(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, field: str, plain: str
) -> None:
    """hunt26c 3: ``{user.id}`` was "not a column name" though the data has the column."""
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "d.csv", [column, "v"], [[1, "a"]])
    refused = [
        f"loader: error: sink.key: {{{field}}} in 'u:{{{field}}}' names column {column!r}, but a key template's "
        "field cannot hold '.', '[', ']', '!' or ':'",
        f'  hint: a rename stage gives the column a plain name: columns = {{ "{column}" = "{plain}" }}, '
        f"then the key names {{{plain}}}",
    ]
    assert _refused_alike(capsys, tmp_path, src, f"u:{{{field}}}") == [(2, refused)] * 3
    assert not (tmp_path / "k.ldb").exists()


def test_a_key_field_with_a_dot_naming_no_column_is_no_column_name() -> None:
    template = KeyTemplate("u:{user.name}")
    with pytest.raises(ConfigError) as caught:
        template.require(["user.id", "v"])
    assert str(caught.value) == "sink.key: {user.name} in 'u:{user.name}' is not a column name"
    assert caught.value.hint == "a key template names columns and format specs only, e.g. user:{id} or {id:08d}"


_RUN_TOGETHER = (
    "key fields {a:d}{b:d} run together: {a:d} and {b:d} vary in width, so two rows can spell one key "
    "(a=1, b=23 and a=12, b=3 are both 123) and the later overwrites the other; put text between them, e.g. {a:d}/{b:d}"
)
_JSON_COLUMN = (
    'value "json" stores each row as a JSON object of its columns, not the column named json; '
    '"column:json" stores that column'
)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_key_fields_that_run_together_are_warned_of_by_the_dry_run_and_the_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """hunt26c 5: 2 rows written, 1 key stored, no word of it."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "c.csv", ["a", "b", "v"], [[1, 23, "first"], [12, 3, "second"]])
    db = tmp_path / "c.ldb"
    load = ["load", str(src), str(db), "--key", "{a:d}{b:d}", "--value", "v", "--engine", engine]
    assert main([*load, "--dry-run"]) == 0
    assert f"WARNING {_RUN_TOGETHER}\nok: configuration" in capsys.readouterr().out
    assert main([*load, "--no-progress", "--report", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().err.rstrip().endswith(f"; WARNING {_RUN_TOGETHER}")
    assert json.loads((tmp_path / "r.json").read_text())["warnings"] == [_RUN_TOGETHER]


def test_a_column_named_json_is_stored_raw_by_column_json_and_value_json_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hunt26c 4: ``value = "json"`` is the whole row, and a column named json could not be named."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "j.csv", ["id", "json"], [[1, '{"a":1}']])
    for value, stored, warned in [
        ("json", b'{"id":1,"json":"{\\"a\\":1}"}', f"; WARNING {_JSON_COLUMN}"),
        ("column:json", b'{"a":1}', ""),
        ("column:id", b"1", ""),
    ]:
        db = tmp_path / f"{value.replace(':', '_')}.ldb"
        load = ["load", str(src), str(db), "--key", "{id}", "--value", value]
        assert main([*load, "--dry-run"]) == 0
        assert (f"WARNING {_JSON_COLUMN}\n" in capsys.readouterr().out) == bool(warned)
        assert main([*load, "--no-progress"]) == 0
        summary = capsys.readouterr().err.rstrip()
        assert summary.endswith(warned) and ("WARNING" in summary) == bool(warned)
        with plyvel.DB(str(db)) as store:
            assert list(store) == [(b"00000000000000000001", stored)]


def test_value_column_names_a_column_the_data_lacks_as_value_does(tmp_path: Path) -> None:
    from loader.writers.leveldb import check_schema

    config = SinkConfig(type="leveldb", path=str(tmp_path / "x.ldb"), key="{id}", value="column:json")
    with pytest.raises(ConfigError, match=r"^sink\.value: no column 'json' in the data$"):
        check_schema(config, pa.schema([("id", pa.int64())]))


def test_key_fields_of_which_only_one_varies_in_width_are_not_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hunt28b D9: {a:d}{b} was warned of as running together, though {b} of an int64 is 20
    digits in every row, so no two rows can spell one key."""
    from loader.cli import main
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "k2.csv", ["a", "b"], [[1, 23], [12, 3]])
    db = tmp_path / "k4.ldb"
    assert main(["load", str(src), str(db), "--key", "{a:d}{b}", "--no-progress"]) == 0
    assert "WARNING" not in capsys.readouterr().err
    with plyvel.DB(str(db)) as store:
        assert [k for k, _ in store] == [b"100000000000000000023", b"1200000000000000000003"]
