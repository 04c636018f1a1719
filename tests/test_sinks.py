"""A third sink is one module and one registration: a JSON Lines file sink, defined
and registered here, loads end to end through ``Pipeline`` (checkpoint, rejects,
resume) with no change to the pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, sinks
from loader.chunk import Chunk
from loader.config import resolve
from loader.errors import ConfigError
from loader.sinks import Encoded, SinkBase
from loader.writers.base import Transactional
from tests.conftest import write_csv


class LinesEncoder:
    """Each row as one JSON line; a row without a name cannot be stored here."""

    def __call__(self, chunk: Chunk) -> Encoded:
        names = chunk.batch.column("name")
        if names.null_count:
            chunk = chunk.reject(names.is_null(), "name is null", stage="write", column="name")
        lines = b"".join(json.dumps(r, default=str).encode() + b"\n" for r in chunk.batch.to_pylist())
        return Encoded(chunk, lines)


class LinesWriter(Transactional):
    """Rows append to the file at commit, then the checkpoint is replaced beside it."""

    def __init__(self, config: SinkConfig) -> None:
        self.target = config.path
        self.config = config
        self.state_path = config.path + ".state"
        self.staged: list[bytes] = []

    def __enter__(self) -> LinesWriter:
        self.states: dict[str, dict[str, str]] = (
            json.loads(Path(self.state_path).read_text()) if os.path.exists(self.state_path) else {}
        )
        return self

    def rollback(self) -> None:
        self.staged.clear()

    def close(self) -> None:
        self.staged.clear()

    def read_state(self, job: str) -> dict[str, str]:
        return dict(self.states.get(job, {}))

    def clear_state(self, job: str) -> None:
        self.states.pop(job, None)
        Path(self.state_path).write_text(json.dumps(self.states))

    def column_types(self) -> dict[str, str]:
        return {}

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None:
        if fresh and self.config.mode == "replace":
            Path(self.target).write_bytes(b"")

    def write(self, encoded: Encoded) -> int:
        self.staged.append(encoded.payload)
        return encoded.num_rows

    def commit(self, job: str, state: dict[str, str]) -> None:
        with open(self.target, "ab") as fh:
            fh.writelines(self.staged)
        self.staged.clear()
        self.states.setdefault(job, {}).update(state)
        Path(self.state_path).write_text(json.dumps(self.states))

    def finish(self) -> None:
        return None

    def describe(self) -> str:
        return self.target


class LinesSink(SinkBase):
    name = "lines"
    suffixes = (".lines",)
    side_files = (".state",)

    def encoder(self, sink: SinkConfig, writer: Any) -> LinesEncoder:
        return LinesEncoder()

    def open_writer(self, sink: SinkConfig, paths: list[str], run: RunConfig | None = None) -> LinesWriter:
        return LinesWriter(sink)


sinks.register(LinesSink())


def lines_job(src: Path, target: Path, **run: Any) -> JobConfig:
    return JobConfig(source=SourceConfig(path=[str(src)]), sink=SinkConfig(path=str(target)), run=RunConfig(**run))


def test_a_registered_sink_loads_end_to_end(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "p.csv", ["id", "name"], [[1, "a"], [2, ""], [3, "c"]])
    target = tmp_path / "out.lines"
    job = lines_job(src, target)
    assert resolve(job).sink.type == "lines"  # chosen by its suffix
    plan = Pipeline(job).plan()
    assert plan.lines()[-1] == f"target: lines {target}, mode append"
    report = Pipeline(job).run()
    assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 3, 2, 1)
    assert report.job == f"lines:{target}"
    assert [json.loads(x) for x in target.read_text().splitlines()] == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]
    rejects = [json.loads(x) for x in Path(report.rejects_path).read_text().splitlines()]
    assert [(r["row"], r["column"], r["reason"]) for r in rejects] == [(2, "name", "name is null")]
    again = Pipeline(lines_job(src, target)).run()  # the checkpoint says the file is loaded
    assert (again.files_skipped, again.rows_read) == (1, 0)
    assert len(target.read_text().splitlines()) == 2


def test_the_sink_owns_its_side_files(tmp_path: Path) -> None:
    """An input glob that would match a file the sink writes beside its target is refused."""
    write_csv(tmp_path / "in.state", ["id", "name"], [[1, "a"]])
    job = JobConfig(
        source=SourceConfig(path=[str(tmp_path / "*.state")], format="csv"),
        sink=SinkConfig(path=str(tmp_path / "out.lines")),
        run=RunConfig(),
    )
    with pytest.raises(ConfigError, match=r"the target .*out\.lines matches the input pattern .*\*\.state"):
        Pipeline(job).plan()


def test_an_unknown_sink_type_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"sink\.type: no sink 'sqlit'") as e:
        sinks.get("sqlit")
    assert e.value.hint == "did you mean 'sqlite'?"


def test_leveldb_replace_deletes_only_its_own_jobs_keys_or_is_refused(tmp_path: Path) -> None:
    """Two jobs load into one store; replace in one used to delete the other's keys while
    the other's checkpoint still said its files were loaded (its next run skipped them)."""
    import plyvel

    from tests.reliability_util import cli, write_job

    (tmp_path / "a.csv").write_text("id,v\n1,x\n2,y\n")
    (tmp_path / "b.csv").write_text("id,v\n1,B\n")
    target = tmp_path / "t.ldb"

    def job(name: str, key: str) -> Path:
        return write_job(
            tmp_path / f"{name}.toml",
            source={"path": str(tmp_path / f"{name[0]}.csv")},
            sink={"path": str(target), "key": key},
        )

    def keys() -> list[bytes]:
        db = plyvel.DB(str(target))
        try:
            return [k for k, _ in db]
        finally:
            db.close()

    for name, key in (("a", "a:{id}"), ("b", "b:{id}")):
        assert cli("run", str(job(name, key)), "-q").returncode == 0
    p = cli("run", str(job("b", "b:{id}")), "--set", "sink.mode=replace", "-q")
    assert p.returncode == 0, p.stderr
    assert [k.split(b":")[0] for k in keys()] == [b"a", b"a", b"b"]  # job a's keys kept
    p = cli("run", str(job("bare", "{id}")), "--set", "sink.mode=replace")
    assert (p.returncode, p.stderr) == (
        2,
        "loader: error: sink.mode = 'replace' would delete keys of 'key:a:{id}', 'key:b:{id}', "
        "loaded into the same LevelDB as 'key:{id}'\n"
        "  hint: give each job's key a prefix of its own (e.g. 'a:{id}'), or load this job into a target of its own\n",
    )
    assert [k.split(b":")[0] for k in keys()] == [b"a", b"a", b"b"]


def test_leveldb_replace_into_a_store_another_program_wrote_keeps_its_keys(tmp_path: Path) -> None:
    """hunt23b 1: a store plain plyvel wrote holds no other loader job, so replace took it
    for the job's own and deleted every key in it, exit 0, no word."""
    import plyvel

    from tests.reliability_util import cli

    target = tmp_path / "pv.ldb"
    db = plyvel.DB(str(target), create_if_missing=True, compression="snappy")
    db.put(b"meta:version", b"3")
    db.put(b"zzz", b"keep me")
    for i in range(1000):
        db.put(b"other:%d" % i, b"\x80\x04pickle")
    db.close()
    src = tmp_path / "h.csv"
    src.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 101)))

    def counts() -> tuple[int, int, int]:
        db = plyvel.DB(str(target))
        try:
            under = [sum(1 for _ in db.iterator(prefix=p, include_value=False)) for p in (b"u:", b"other:")]
            return under[0], under[1], sum(1 for _ in db.iterator(include_value=False))
        finally:
            db.close()

    p = cli("load", str(src), str(target), "--key", "{id}", "--mode", "replace")
    assert (p.returncode, p.stdout, p.stderr) == (
        2,
        "",
        f"loader: error: sink.mode = 'replace' would delete 1,002 keys of {target} that job 'key:{{id}}' cannot "
        "account for ('meta:version', 'other:0', 'other:1', ...): its key template '{id}' has no literal prefix, "
        "and the job has no checkpoint in the store (it wrote none of its keys)\n"
        "  hint: give the key template a prefix of its own (e.g. 'u:{id}'): replace then deletes only the keys "
        "under it; or delete those keys, or the store, and load again\n",
    )
    assert counts() == (0, 1000, 1002)  # nothing deleted
    p = cli("load", str(src), str(target), "--key", "u:{id}", "--mode", "replace", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert counts() == (100, 1000, 1102)
    p = cli("load", str(src), str(target), "--key", "u:{id}", "--mode", "replace", "-q")
    assert (p.returncode, p.stderr) == (0, "")
    assert counts() == (100, 1000, 1102)


def test_the_sqlite_encoder_rejects_a_null_in_any_key_column() -> None:
    """Shared with LevelDB's key: a row the key cannot be made of is rejected, its column named."""
    from loader.sinks.sqlite import SQLiteEncoder

    batch = pa.record_batch({"a": [1, None, 3, 4], "b": ["x", "y", None, "z"], "v": [None, 2, 3, 4]})
    chunk = Chunk(batch, file="f.csv", rows=pa.array([1, 2, 3, 4], pa.int64()), last_row=4, end={})
    encoded = SQLiteEncoder(key=("a", "b"))(chunk)
    assert encoded.payload.to_pydict() == {"a": [1, 4], "b": ["x", "z"], "v": [None, 4]}
    assert [(r.row, r.column, r.reason) for r in encoded.chunk.rejects] == [
        (2, "a", "key column 'a' is null"),
        (3, "b", "key column 'b' is null"),
    ]
    missing = SQLiteEncoder(key=("c",))(chunk)
    assert (missing.num_rows, {r.reason for r in missing.chunk.rejects}) == (0, {"key column 'c' is null"})


def test_the_encoders_reject_a_map_that_repeats_a_key_naming_column_and_key() -> None:
    """Its JSON object kept one value of the key: the row loaded with the others gone."""
    from loader.sinks.leveldb import LevelDBEncoder
    from loader.sinks.sqlite import SQLiteEncoder
    from loader.writers.encode import KeyTemplate

    m = pa.map_(pa.string(), pa.int64())
    batch = pa.record_batch(
        {
            "id": [1, 2, 3],
            "m": pa.array([[("a", 1), ("a", 2)], [("a", 1)], [("b", 1)]], m),
            "s": pa.array(
                [{"l": [[("k", 1)]]}, {"l": [[("k", 1)], [("k", 2)]]}, {"l": [[("k", 1), ("k", 2)]]}],
                pa.struct([("l", pa.list_(m))]),
            ),
        }
    )
    chunk = Chunk(batch, file="f.parquet", rows=pa.array([1, 2, 3], pa.int64()), last_row=3, end={})
    expected = [
        (1, "m", "the map in column 'm' holds the key 'a' twice: a JSON object keeps one value per key"),
        (3, "s", "the map at .l[] in column 's' holds the key 'k' twice: a JSON object keeps one value per key"),
    ]
    sqlite = SQLiteEncoder()(chunk)
    assert sqlite.payload.to_pydict() == {"id": [2], "m": ['{"a":1}'], "s": ['{"l":[{"k":1},{"k":2}]}']}
    assert [(r.row, r.column, r.reason) for r in sqlite.chunk.rejects] == expected
    leveldb = LevelDBEncoder(KeyTemplate("r:{id}"), "json", None)(chunk)
    assert leveldb.payload.values.to_pylist() == [b'{"id":2,"m":{"a":1},"s":{"l":[{"k":1},{"k":2}]}}']
    assert [(r.row, r.column, r.reason) for r in leveldb.chunk.rejects] == expected
    # a raw value of another column stores no map: nothing is lost, no row rejected
    raw = LevelDBEncoder(KeyTemplate("r:{id}"), "id", None)(chunk)
    assert (raw.num_rows, raw.chunk.rejects) == (3, [])
    keyed = LevelDBEncoder(KeyTemplate("r:{m}"), "id", None)(chunk)  # a key made of the map loses it too
    assert [(r.row, r.column) for r in keyed.chunk.rejects] == [(1, "m")]


def test_a_map_repeating_a_key_is_rejected_by_a_load_into_sqlite_and_leveldb(tmp_path: Path) -> None:
    """pyarrow writes such a Parquet file; the load said ok, 1 row written, ``{"a":2}`` stored."""
    import sqlite3

    import plyvel
    import pyarrow.parquet as pq

    src = tmp_path / "m.parquet"
    maps = pa.array([[("a", 1), ("a", 2)], [("a", 1), ("b", 2)]], pa.map_(pa.string(), pa.int64()))
    pq.write_table(pa.table({"id": [1, 2], "m": maps}), src)
    reason = "the map in column 'm' holds the key 'a' twice: a JSON object keeps one value per key"
    for target, key in ((tmp_path / "m.db", None), (tmp_path / "m.ldb", "r:{id}")):
        job = JobConfig(source=SourceConfig(path=[str(src)]), sink=SinkConfig(path=str(target), key=key))
        report = Pipeline(job).run()
        assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 2, 1, 1)
        rejects = [json.loads(x) for x in Path(report.rejects_path).read_text().splitlines()]
        assert [(r["row"], r["column"], r["reason"], r["values"]["m"]) for r in rejects] == [
            (1, "m", reason, [["a", 1], ["a", 2]])  # every entry kept in the reject file
        ]
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT id, m FROM m").fetchall() == [(2, '{"a":1,"b":2}')]
    store = plyvel.DB(str(tmp_path / "m.ldb"))
    try:
        assert list(store) == [(b"r:00000000000000000002", b'{"id":2,"m":{"a":1,"b":2}}')]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("target", "flags", "message"),
    [
        ("x.db", ["--sync"], "sink.sync: applies to leveldb sinks, not sqlite"),
        ("x.db", ["--value", "a"], "sink.value: applies to leveldb sinks, not sqlite"),
        ("x.db", ["--compression", "snappy"], "sink.compression: applies to leveldb sinks, not sqlite"),
        ("x.db", ["--sort", "always"], "sink.sort: applies to leveldb sinks, not sqlite"),
        ("x.db", ["--write-buffer-size", "16MB"], "sink.write_buffer_size: applies to leveldb sinks, not sqlite"),
        ("x.db", ["--key", "{a}"], "sink.key: applies to leveldb sinks, not sqlite"),
        ("x.ldb", ["--key", "{a}", "--page-size", "4096"], "sink.page_size: applies to sqlite sinks, not leveldb"),
        ("x.ldb", ["--key", "{a}", "--cache-size", "8MB"], "sink.cache_size: applies to sqlite sinks, not leveldb"),
        ("x.ldb", ["--key", "{a}", "--alter"], "sink.alter: applies to sqlite sinks, not leveldb"),
        ("x.ldb", ["--key", "{a}", "--table", "t"], "sink.table: applies to sqlite sinks, not leveldb"),
        ("x.ldb", ["--key", "{a}", "--index", "a"], "sink.indexes: applies to sqlite sinks, not leveldb"),
    ],
)
def test_a_key_of_the_other_sink_is_refused_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, flags: list[str], message: str
) -> None:
    """``--sync`` or ``--value`` on SQLite, ``--page-size`` on LevelDB, passed without a word."""
    from loader.cli import main

    write_csv(tmp_path / "s.csv", ["a"], [[1]])
    assert main(["load", str(tmp_path / "s.csv"), str(tmp_path / target), *flags]) == 2
    assert capsys.readouterr().err == (
        f"loader: error: {message}\n  hint: check the flags; `loader load --help` lists them\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_a_sink_of_its_own_refuses_the_keys_of_every_other_and_shared_keys_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^sink.table: applies to sqlite sinks, not lines$"):
        resolve(JobConfig(source=SourceConfig(path=["a.csv"]), sink=SinkConfig(path="x.lines", table="t")))
    shared = SinkConfig(path="x.ldb", key="{a}", busy_timeout=3, batch_size=10, mode="replace")
    assert resolve(JobConfig(source=SourceConfig(path=["a.csv"]), sink=shared)).sink.busy_timeout == 3
