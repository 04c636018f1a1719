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
