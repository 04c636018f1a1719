"""Inputs in object storage: s3:// URIs read from a real S3-compatible server on localhost.

The server is moto in server mode (``tests/s3_server.py``); the loader reaches it over
HTTP through pyarrow's S3 client, configured only by the AWS_* environment.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import time
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from typing import Any

import plyvel
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from loader import memory, storage
from loader.api import load
from loader.errors import ConfigError, LoaderError, MissingInputError, SourceChangedError, SourceError
from tests.conftest import SilentEndpoint, sqlite_rows
from tests.reliability_util import cli, sqlite_state, write_job
from tests.s3_server import Bucket, S3Server

ROWS = [
    {"id": 1, "name": "Zoë", "zip": "00501", "amount": 3.25},
    {"id": 2, "name": 'a, "quoted" name', "zip": "10001", "amount": None},
    {"id": 3, "name": "two\nlines", "zip": "02134", "amount": -0.5},
    {"id": 9007199254740993, "name": "big", "zip": "99999", "amount": 1e-7},
]
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("zip", pa.string()), ("amount", pa.float64())])


def encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    """``rows`` as the bytes of a ``fmt`` file."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    out = io.BytesIO()
    if fmt in ("csv", "csv.gz"):
        lines = ["id,name,zip,amount"]
        for r in rows:
            name = '"' + r["name"].replace('"', '""') + '"' if set(',"\n') & set(r["name"]) else r["name"]
            amount = "" if r["amount"] is None else repr(r["amount"])
            lines.append(f"{r['id']},{name},{r['zip']},{amount}")
        text = ("\n".join(lines) + "\n").encode()
        return gzip.compress(text) if fmt == "csv.gz" else text
    if fmt == "jsonl":
        return b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    if fmt == "parquet":
        pq.write_table(table, out)
    else:
        with pa.ipc.new_file(out, SCHEMA) as w:
            w.write_table(table)
    return out.getvalue()


def leveldb_values(path: Path) -> list[dict[str, Any]]:
    db = plyvel.DB(str(path))
    try:
        return [json.loads(v) for k, v in db if not k.startswith(b"\x00")]
    finally:
        db.close()


@pytest.mark.parametrize(
    "fmt,sink",
    [
        *[(fmt, "sqlite") for fmt in ("csv", "csv.gz", "parquet", "jsonl", "arrow")],
        *[(fmt, "leveldb") for fmt in ("csv", "parquet", "jsonl")],
    ],
)
def test_each_format_loads_from_s3_with_its_values(tmp_path: Path, s3: Bucket, fmt: str, sink: str) -> None:
    uri = s3.put(f"exports/data.{fmt}", encode(ROWS, fmt))
    if sink == "sqlite":
        report = load(uri, tmp_path / "t.db", table="t")
        got = sqlite_rows(tmp_path / "t.db", "SELECT id, name, zip, amount FROM t ORDER BY id")
        assert got == [(r["id"], r["name"], r["zip"], r["amount"]) for r in ROWS]
    else:
        report = load(uri, tmp_path / "t.ldb", key="{id:020d}")
        assert leveldb_values(tmp_path / "t.ldb") == ROWS
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 4, 0)
    assert [f.path for f in report.files] == [uri]


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_an_object_loads_in_parts_on_local_workers_as_with_threads(
    tmp_path: Path, s3: Bucket, s3_server: S3Server, engine: str
) -> None:
    """The coordinator has read the object's size and head through the S3 client, whose
    event-loop thread does not survive a fork: its local workers are spawned instead."""
    lines = ["id,name,amount"] + [f"{i},name {i},{i * 0.25}" for i in range(30_000)]
    uri = s3.put("parts/big.csv", ("\n".join(lines) + "\n").encode())

    def load_into(target: Path, *flags: str) -> Any:
        args = ["load", uri, str(target), "--table", "t", "--quiet", "--part-size", "200000", *flags]
        return cli(*args, "--report", str(target) + ".json", extra_env=s3_server.env)

    threads = load_into(tmp_path / "threads.db")
    parts = load_into(tmp_path / "parts.db", "--engine", engine)
    assert threads.returncode == parts.returncode == 0, parts.stderr
    assert json.loads((tmp_path / "parts.db.json").read_text())["worker_start"] == "spawned"
    sql = "SELECT id, name, amount FROM t ORDER BY id"
    got = sqlite_rows(tmp_path / "parts.db", sql)
    assert got == sqlite_rows(tmp_path / "threads.db", sql) and len(got) == 30_000


def test_a_glob_lists_the_prefix_and_double_star_recurses(tmp_path: Path, s3: Bucket) -> None:
    s3.put("in/a.csv", encode(ROWS[:1], "csv"))
    s3.put("in/2026/b.csv", encode(ROWS[1:2], "csv"))
    s3.put("in/2026/12/c.csv", encode(ROWS[2:3], "csv"))
    s3.put("in/notes.txt", b"not data\n")
    s3.put("other/d.csv", encode(ROWS[3:], "csv"))
    assert storage.glob(s3.uri("in/*.csv")) == [s3.uri("in/a.csv")]
    assert storage.glob(s3.uri("in/*/*.csv")) == [s3.uri("in/2026/b.csv")]
    everything = [s3.uri("in/2026/12/c.csv"), s3.uri("in/2026/b.csv"), s3.uri("in/a.csv")]
    assert storage.glob(s3.uri("in/**/*.csv")) == everything
    assert storage.glob(s3.uri("in/[ab].csv")) == [s3.uri("in/a.csv")]
    assert storage.glob(s3.uri("nothing/*.csv")) == []
    report = load(s3.uri("in/**/*.csv"), tmp_path / "t.db", table="t")
    assert [f.path for f in report.files] == everything
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]


def test_a_glob_skips_hidden_keys_as_a_local_glob_does(tmp_path: Path, s3: Bucket) -> None:
    """A macOS ``._a.csv`` (AppleDouble bytes) beside ``a.csv``, and a ``.git`` folder: ``*``
    and ``**`` skip names that start with a dot, locally and in a bucket alike."""
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
    files = {"in/a.csv": b"id\n1\n", "in/._a.csv": apple_double, "in/.git/b.csv": b"id\n2\n", "in/x/c.csv": b"id\n3\n"}
    for key, data in files.items():
        s3.put(key, data)
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(data)
    for pattern in ("in/*.csv", "in/**/*.csv", "in/.*.csv", "in/.git/*.csv"):
        local = [os.path.relpath(p, tmp_path) for p in storage.glob(str(tmp_path / pattern))]
        assert [u.removeprefix(s3.uri("")) for u in storage.glob(s3.uri(pattern))] == local, pattern
    assert storage.glob(s3.uri("in/*.csv")) == [s3.uri("in/a.csv")]
    report = load(s3.uri("in/**/*.csv"), tmp_path / "t.db", table="t")
    assert [f.path for f in report.files] == [s3.uri("in/a.csv"), s3.uri("in/x/c.csv")]
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM t ORDER BY id") == [(1,), (3,)]


def test_a_glob_skips_underscore_keys_as_a_local_glob_does(tmp_path: Path, s3: Bucket) -> None:
    """A Spark output copied to a bucket: ``_temporary/`` attempt files, ``_SUCCESS`` and
    ``.crc`` sidecars are skipped by ``*`` and ``**``, as in the local folder."""
    part = encode(ROWS[:2], "parquet")
    files = {
        "out/country=DE/part-0.parquet": part,
        "out/country=DE/.part-0.parquet.crc": b"crc",
        "out/_SUCCESS": b"",
        "out/_temporary/0/_temporary/attempt_1/country=FR/part-1.parquet": encode(ROWS[2:], "parquet"),
    }
    for key, data in files.items():
        s3.put(key, data)
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(data)
    for pattern in ("out/**/*.parquet", "out/**", "out/*/*.parquet", "out/_*", "out/_temporary/*/_temporary/**/*"):
        local = [os.path.relpath(p, tmp_path) for p in storage.glob(str(tmp_path / pattern))]
        assert [u.removeprefix(s3.uri("")) for u in storage.glob(s3.uri(pattern))] == local, pattern
    assert storage.glob(s3.uri("out/**")) == [s3.uri("out/country=DE/part-0.parquet")]
    report = load(s3.uri("out/**"), tmp_path / "t.db", table="t", source_options={"format": "parquet"})
    assert [f.path for f in report.files] == [s3.uri("out/country=DE/part-0.parquet")]
    assert sqlite_rows(tmp_path / "t.db", "SELECT id, country FROM t ORDER BY id") == [(1, "DE"), (2, "DE")]


def test_an_object_whose_key_has_glob_characters_is_the_object_it_names(tmp_path: Path, s3: Bucket) -> None:
    """``report[1].csv`` as a glob matches ``report1.csv``: the object named exactly so is the
    one loaded; a glob with ``[`` that matches nothing says how to match a ``[`` in a key."""
    s3.put("sp/report[1].csv", b"id\n1\n")
    s3.put("sp/report1.csv", b"id\n999\n")
    assert storage.glob(s3.uri("sp/report[1].csv")) == [s3.uri("sp/report[1].csv")]
    assert storage.glob(s3.uri("sp/report[[]1].csv")) == [s3.uri("sp/report[1].csv")]
    assert storage.glob(s3.uri("sp/report[0-9].csv")) == [s3.uri("sp/report1.csv")]
    db = tmp_path / "t.db"
    load(s3.uri("sp/report[1].csv"), db, table="t")
    assert sqlite_rows(db, "SELECT id FROM t") == [(1,)]
    p = cli("load", s3.uri("sp/report[2].csv"), str(db), "--table", "t", extra_env=s3.env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.splitlines() == [
        f"loader: error: source.path: no file matches '{s3.uri('sp/report[2].csv')}'",
        "  hint: check the pattern, or set source.allow_empty = true for scheduled runs; '[' starts a set of "
        f"characters in a glob: write '[[]' for a '[' in a name ('{s3.uri('sp/report[[]2].csv')}')",
    ]


def test_scheduled_runs_load_only_new_objects_and_notice_changed_ones(tmp_path: Path, s3: Bucket) -> None:
    """A CronJob's runs over one prefix: objects arrive between runs, one is rewritten."""
    target = tmp_path / "t.db"
    pattern = s3.uri("drop/*.csv")

    def run(on_change: str = "error") -> Any:
        return load(
            pattern,
            target,
            table="t",
            source_options={"allow_empty": True},
            sink_options={"mode": "upsert", "primary_key": ["id"]},
            run_options={"on_change": on_change},
        )

    assert run().files == []  # the prefix is empty before the first export arrives
    s3.put("drop/1.csv", b"id,v\n1,a\n2,b\n")
    s3.put("drop/2.csv", b"id,v\n3,c\n")
    first = run()
    assert [(f.path, f.status) for f in first.files] == [
        (pattern[:-5] + "1.csv", "loaded"),
        (pattern[:-5] + "2.csv", "loaded"),
    ]
    s3.put("drop/3.csv", b"id,v\n4,d\n5,e\n")
    second = run()
    assert [f.status for f in second.files] == ["skipped", "skipped", "loaded"]
    assert (second.rows_read, second.rows_written) == (2, 2)
    assert sqlite_rows(target, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]

    # same size, same second: only the ETag tells the new object from the old one
    s3.put("drop/2.csv", b"id,v\n3,C\n")
    with pytest.raises(SourceChangedError) as err:
        run("error")
    assert (
        str(err.value)
        == f"{s3.uri('drop/2.csv')}: changed since it was loaded (size or content differ from the checkpoint)"
    )
    skipped = run("skip")
    assert [f.status for f in skipped.files] == ["skipped", "changed-skipped", "skipped"]
    reloaded = run("reload")
    assert [f.status for f in reloaded.files] == ["skipped", "loaded", "skipped"]
    assert sqlite_rows(target, "SELECT v FROM t WHERE id = 3") == [("C",)]
    assert run().files[1].status == "skipped"  # the reloaded object is the checkpoint's now


def test_a_remote_checkpoint_keeps_the_uri_and_the_objects_etag(tmp_path: Path, s3: Bucket) -> None:
    uri = s3.put("k/x.csv", b"id\n1\n")
    assert storage.key(uri) == "file:" + uri
    ident = storage.identity(uri)
    assert ident is not None and ident["size"] == 5 and ident["etag"].startswith('"')
    assert ident["mtime_ns"] > 0
    load(uri, tmp_path / "t.db", table="t")
    entry = sqlite_state(tmp_path / "t.db")["file:" + uri]
    assert entry["identity"] == ident and entry["path"] == uri and entry["done"]


def test_memory_stays_flat_reading_a_large_remote_object(tmp_path: Path, s3: Bucket) -> None:
    """Objects are read in ranged pieces, never whole: a 12x larger object (23 MB) peaks
    where the small one does, well short of the difference in size. Types are sampled from
    500 rows in both: sampling parses up to 8 MB of a file at once, which the small object
    never reaches."""
    peaks, sizes = {}, {}
    for name, rows in (("small", 1_000), ("large", 12_000)):
        src = tmp_path / f"{name}.csv"
        with open(src, "w", encoding="utf-8") as fh:
            fh.write("id,pad\n")
            fh.writelines(f"{i},{'x' * 2000}\n" for i in range(rows))
        sizes[name] = src.stat().st_size / 2**20
        uri = s3.upload(src, f"big/{name}.csv")
        report = tmp_path / f"{name}.json"
        p = cli(
            "load",
            uri,
            str(tmp_path / f"{name}.db"),
            "--table",
            "t",
            "--quiet",
            "--infer-rows",
            "500",
            "--report",
            str(report),
            extra_env=s3.env,
            process=True,  # its peak, not this process's
        )
        assert p.returncode == 0, p.stderr
        data = json.loads(report.read_text())
        assert data["rows_written"] == rows
        peaks[name] = data["peak_rss_mb"]
    grown = sizes["large"] - sizes["small"]
    assert grown > 20
    assert peaks["large"] < peaks["small"] + grown / 2, (peaks, sizes)


def test_a_missing_object_or_bucket_is_one_line_naming_the_uri(tmp_path: Path, s3: Bucket) -> None:
    s3.put("in/a.csv", b"id\n1\n")
    with pytest.raises(SourceError) as err:
        load(s3.uri("in/b.csv"), tmp_path / "t.db", table="t")
    assert str(err.value) == f"{s3.uri('in/b.csv')}: no such object"
    assert err.value.hint is not None and "glob" in err.value.hint
    with pytest.raises(SourceError) as err:
        load("s3://no-such-bucket-here/in/a.csv", tmp_path / "t.db", table="t")
    assert str(err.value) == "s3://no-such-bucket-here/in/a.csv: no such bucket"
    assert err.value.hint == "check the bucket name in the URI"
    with pytest.raises(SourceError) as err:
        load("s3://no-such-bucket-here/in/*.csv", tmp_path / "t.db", table="t")
    assert str(err.value) == "s3://no-such-bucket-here/in: cannot list: no such bucket"
    assert not (tmp_path / "t.db").exists()
    # each names an input that cannot be found: EX_NOINPUT, the same code as a missing file
    for uri in (s3.uri("in/b.csv"), "s3://no-such-bucket-here/in/a.csv", "s3://no-such-bucket-here/in/*.csv"):
        p = cli("load", uri, str(tmp_path / "t.db"), "--table", "t", extra_env=s3.env)
        assert p.returncode == 66, p.stderr


def test_a_glob_at_the_root_of_a_bucket_that_does_not_exist_is_an_error_even_if_empty_is_allowed(
    tmp_path: Path, s3: Bucket
) -> None:
    s3.put("a.csv", b"id\n1\n")
    assert storage.glob(s3.uri("*.csv")) == [s3.uri("a.csv")]  # a bucket's root lists as a prefix does
    with pytest.raises(MissingInputError) as err:
        load("s3://no-such-bucket-here/*.csv", tmp_path / "t.db", table="t", source_options={"allow_empty": True})
    assert str(err.value) == "s3://no-such-bucket-here: cannot list: no such bucket"
    assert err.value.hint == "check the bucket name in the URI"
    args = ["load", "s3://no-such-bucket-here/*.csv", str(tmp_path / "t.db"), "--table", "t", "--allow-empty"]
    p = cli(*args, extra_env=s3.env)
    assert p.returncode == 66, p.stderr
    assert p.stderr.splitlines()[0] == "loader: error: s3://no-such-bucket-here: cannot list: no such bucket"
    assert not (tmp_path / "t.db").exists()


ROWS_WHILE_WRITTEN = 30_000


def csv_version(tag: str, rows: int = ROWS_WHILE_WRITTEN) -> bytes:
    """A CSV object whose rows say which version of it they came from."""
    return ("id,v\n" + "".join(f"{i},{tag}{i:05d}\n" for i in range(rows))).encode()


def load_while(s3: Bucket, target: Path, key: str, change: Any, at_chunk: int = 3) -> Any:
    """Load ``key`` in small ranged reads; ``change()`` runs once, as chunk ``at_chunk`` is
    staged (a JSON Lines reader gives its first chunks from the sample, then reopens). The
    stages run ahead of the commits, by a few chunks: a later chunk leaves some committed."""
    chunks: list[int] = []

    def after_some_chunks(batch: pa.RecordBatch) -> pa.RecordBatch:
        chunks.append(batch.num_rows)
        if len(chunks) == at_chunk:
            change()
        return batch

    return load(
        s3.uri(key),
        target,
        table="t",
        transforms=[after_some_chunks],
        source_options={"block_size": 16 << 10},
        sink_options={"batch_size": 1000},
        run_options={"chunk_size": 1000},
    )


@pytest.mark.parametrize(
    "new",
    [csv_version("new", ROWS_WHILE_WRITTEN // 2), csv_version("neu")],
    ids=["shorter", "same-size"],  # a ranged read past the new end fails; the same size reads on to the end
)
def test_an_object_rewritten_during_its_load_stops_the_run_and_is_not_marked_done(
    tmp_path: Path, s3: Bucket, new: bytes
) -> None:
    uri = s3.put("in/big.csv", csv_version("old"))
    target = tmp_path / "t.db"
    with pytest.raises(SourceChangedError) as err:
        load_while(s3, target, "in/big.csv", lambda: s3.put("in/big.csv", new), at_chunk=8)
    assert str(err.value) == f"{uri}: changed while it was read"
    assert err.value.exit_code == 65
    entry = sqlite_state(target)["file:" + uri]
    assert not entry["done"] and entry["rows_written"] > 0  # the committed batches stay
    assert entry["rows_written"] == sqlite_rows(target, "SELECT count(*) FROM t")[0][0]
    # each commit asks first: no batch read after the object changed is committed
    assert sqlite_rows(target, "SELECT count(*) FROM t WHERE v NOT LIKE 'old%'") == [(0,)]
    assert err.value.hint == (
        "rerun once it is written whole: the rows committed from it stay, and run_options.on_change "
        "(error, skip or reload) decides what the rerun does with them"
    )
    # the rerun sees what the checkpoint holds is not the object there now: run.on_change decides
    with pytest.raises(SourceChangedError, match="changed since it was loaded"):
        load(uri, target, table="t")
    load(uri, target, table="t", sink_options={"mode": "replace"}, run_options={"restart": True})
    rows = len(new.splitlines()) - 1
    assert sqlite_rows(target, "SELECT count(*), min(v), max(v) FROM t") == [
        (rows, "new00000" if rows < ROWS_WHILE_WRITTEN else "neu00000", new.splitlines()[-1].decode()[-8:])
    ]


def after_the_second_of(moment: float) -> None:
    """Wait for the next whole second after ``moment``: an object's LastModified counts seconds."""
    time.sleep(max(0.0, math.floor(moment) + 1.05 - time.time()))


@pytest.mark.parametrize("versioned", [False, True], ids=["last-modified", "version-id"])
def test_an_object_put_back_after_it_changed_while_read_is_a_changed_one(
    tmp_path: Path, s3: Bucket, versioned: bool
) -> None:
    """The run stops on the change; a producer's retry (or a restore) then puts the very
    bytes it began with back: same size, same ETag. The rerun must not resume over the rows
    committed as if the object had never changed: its LastModified tells it is another put
    (in whole seconds), a versioned bucket's version id at once."""
    if versioned:
        s3.keep_versions()
    old = csv_version("old")
    uri = s3.put("in/big.csv", old)
    put_at = time.time()
    began = storage.identity(uri)
    assert began is not None and ("version_id" in began) == versioned
    target = tmp_path / "t.db"
    with pytest.raises(SourceChangedError, match="changed while it was read"):
        load_while(s3, target, "in/big.csv", lambda: s3.put("in/big.csv", csv_version("neu")))
    if not versioned:
        after_the_second_of(put_at)
    s3.put("in/big.csv", old)
    back = storage.identity(uri)
    assert back is not None and (back["size"], back["etag"]) == (began["size"], began["etag"])
    assert storage.same_content(began, back) and not storage.same_version(began, back)
    with pytest.raises(SourceChangedError, match="changed since it was loaded"):
        load(uri, target, table="t")


def test_a_remote_identity_without_a_version_id_compares_as_before() -> None:
    """A checkpoint from before version ids were recorded (or a bucket without versioning)
    compares size, ETag and LastModified; a version id counts where both sides have one."""
    before = {"size": 5, "mtime_ns": 10**18, "etag": '"a"'}
    assert storage.same_version(before, dict(before, version_id="v1"))
    assert storage.same_version(dict(before, version_id="v1"), dict(before, version_id="v1"))
    assert not storage.same_version(dict(before, version_id="v1"), dict(before, version_id="v2"))
    assert not storage.same_version(before, dict(before, mtime_ns=10**18 + 10**9))
    # loaded whole, an object put again with the same bytes is still the same content
    assert storage.same_content(before, dict(before, mtime_ns=10**18 + 10**9, version_id="v2"))


def test_parts_read_from_an_object_put_again_are_never_committed(tmp_path: Path, s3: Bucket) -> None:
    """The new version's rows sit at other offsets than the plan's cuts: a part reading its
    range from it would commit rows cut in the middle. Each worker checks, after its range
    is read, that the object is still the version the plan cut; a part that is not stops
    the run before it is committed, so only parts of the planned version are."""
    from loader.config import JobConfig, RunConfig, SinkConfig, SourceConfig
    from loader.pipeline import Pipeline

    rows = 20_000
    old = ("id,v\n" + "".join(f"{i},old{i:05d}\n" for i in range(rows))).encode()
    new = ("id,v\n" + "".join(f"{i},{'n' * (1 + i % 13)}\n" for i in range(rows))).encode()
    uri = s3.put("in/big.csv", old)
    target = tmp_path / "t.db"
    config = JobConfig(
        source=SourceConfig(path=[uri]),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine="processes", workers=2, part_size=16_000),  # type: ignore[arg-type]
    )
    commits: list[str] = []

    def put_again_after_a_commit(name: str, data: dict[str, Any]) -> None:
        commits.extend([name] if name == "progress" else [])  # a part's rows are committed
        if len(commits) == 1 and name == "progress":
            s3.put("in/big.csv", new)

    with pytest.raises(SourceChangedError) as err:
        Pipeline(config, on_event=put_again_after_a_commit).run()
    assert str(err.value) == f"{uri}: changed while it was read"
    state = sqlite_state(target)
    assert any(k.startswith("part:") for k in state)  # the parts read before the put stay committed
    got = sqlite_rows(target, "SELECT id, v FROM t ORDER BY id")
    assert got and all(v == f"old{i:05d}" for i, v in got)  # and none of another version
    assert err.value.hint == (
        "rerun once it is written whole: the parts committed from it stay, and a rerun refuses "
        "any other version than theirs, whatever run.on_change says: rerun with --restart --mode replace "
        "(every file of the job loads again)"
    )
    s3.put("in/big.csv", old)  # put back: another put of it all the same, never resumed
    with pytest.raises(SourceChangedError) as err:
        Pipeline(replace(config, run=replace(config.run, on_change="reload"))).run()
    assert str(err.value) == f"{uri}: changed since parts of it were loaded: its committed parts are not this version's"
    assert err.value.hint == "rerun with --restart --mode replace (every file of the job loads again)"
    assert sqlite_rows(target, "SELECT id, v FROM t ORDER BY id") == got


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "csv.gz"])
def test_an_object_deleted_during_its_load_is_one_line_naming_the_uri(tmp_path: Path, s3: Bucket, fmt: str) -> None:
    """Read in ranged pieces (a compressed object in pieces of 1 MiB, which its random
    names make it outgrow), so pieces are still to be read when it is deleted."""
    rows = [dict(ROWS[0], id=i, name=sha256(str(i).encode()).hexdigest()) for i in range(ROWS_WHILE_WRITTEN)]
    assert len(encode(rows, fmt)) > storage.SEQUENTIAL_READ_BYTES
    uri = s3.put(f"in/big.{fmt}", encode(rows, fmt))
    with pytest.raises(MissingInputError) as err:
        load_while(s3, tmp_path / "t.db", f"in/big.{fmt}", lambda: s3.delete(f"in/big.{fmt}"))
    assert str(err.value) == f"{uri}: no such object"
    assert err.value.exit_code == 66
    assert not sqlite_state(tmp_path / "t.db").get("file:" + uri, {}).get("done")


def columnar(fmt: str, rows: int = 100_000) -> bytes:
    """A Parquet or Arrow IPC file of ``rows`` rows in groups (record batches) of 10,000."""
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "v": [f"value {i}" for i in range(rows)]})
    out = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, out, row_group_size=10_000)
    else:
        feather.write_feather(table, out, chunksize=10_000, compression="uncompressed")
    return out.getvalue()


def load_calling(uri: str, target: Path, at_chunk: int, call: Any) -> Any:
    """Load ``uri`` in chunks of 1,000 rows; ``call()`` runs once, as chunk ``at_chunk`` is staged."""
    chunks: list[int] = []

    def after_some_chunks(batch: pa.RecordBatch) -> pa.RecordBatch:
        chunks.append(batch.num_rows)
        if len(chunks) == at_chunk:
            call()
        return batch

    return load(
        uri,
        target,
        table="t",
        transforms=[after_some_chunks],
        sink_options={"batch_size": 1000},
        run_options={"chunk_size": 1000},
    )


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_columnar_object_deleted_during_its_load_is_missing_not_bad_data(
    tmp_path: Path, s3: Bucket, fmt: str
) -> None:
    """Deleted as its first chunk is staged: its next row group (record batch) is not there,
    which is exit 66 as for CSV and JSON Lines, not 65 ("fix the data")."""
    uri = s3.put(f"in/big.{fmt}", columnar(fmt))
    with pytest.raises(MissingInputError) as err:
        load_calling(uri, tmp_path / "t.db", 1, lambda: s3.delete(f"in/big.{fmt}"))
    assert str(err.value) == f"{uri}: no such object"
    assert err.value.exit_code == 66


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_storage_service_gone_during_a_columnar_load_is_a_rerun_that_resumes(tmp_path: Path, fmt: str) -> None:
    """A server of its own, stopped mid-load: exit 1 (rerun), and the rerun, once it is back,
    loads the rest (moto keeps its objects in this process across the restart)."""
    from moto.server import ThreadedMotoServer

    server = S3Server()
    try:
        bucket = Bucket(server)
        with pytest.MonkeyPatch.context() as env:
            for name, value in server.env.items():
                env.setenv(name, value)
            uri = bucket.put(f"in/big.{fmt}", columnar(fmt))
            db = tmp_path / "t.db"
            with pytest.raises(SourceError) as err:
                load_calling(uri, db, 25, server.stop)
            assert str(err.value) == f"{uri}: cannot read: cannot reach the storage service"
            assert err.value.exit_code == 1
            kept = sqlite_rows(db, "SELECT count(*) FROM t")[0][0]
            assert 0 < kept < 100_000
            server.server = ThreadedMotoServer(ip_address="127.0.0.1", port=server.port, verbose=False)
            server.server.start()
            report = load(uri, db, table="t")
    finally:
        server.stop()
    assert report.rows_written == 100_000 - kept
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id), max(id) FROM t") == [(100_000, 100_000, 99_999)]


def test_the_services_no_such_key_reads_as_a_missing_object() -> None:
    exc = OSError("AWS Error NO_SUCH_KEY during GetObject operation: The specified key does not exist.")
    err = storage.remote_error(exc, "s3://b/in/a.csv", "read")
    assert isinstance(err, MissingInputError) and err.exit_code == 66
    assert str(err) == "s3://b/in/a.csv: cannot read: no such object"


def test_bad_credentials_fail_in_one_line_with_a_hint(tmp_path: Path, s3: Bucket, s3_server: S3Server) -> None:
    uri = s3.put("in/a.csv", b"id\n1\n")
    env = {**s3.env, "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG0", "AWS_SECRET_ACCESS_KEY": "wrong"}
    with s3_server.authenticating():
        p = cli("load", uri, str(tmp_path / "t.db"), "--table", "t", extra_env=env)
    assert p.returncode == 66  # EX_NOINPUT: the keys must be fixed; a rerun alone fails the same way
    lines = p.stderr.strip().splitlines()
    assert lines[0] == f"loader: error: {uri}: cannot read: access denied", p.stderr
    assert lines[1].startswith("  hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    assert len(lines) == 2


def test_credentials_come_from_secret_files_and_the_s3_endpoint_wins(
    tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret").write_text("from-a-file\n")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    settings = dict(storage._s3_settings())
    assert settings["secret_key"] == "from-a-file"
    assert settings["endpoint_override"] == s3.env["AWS_ENDPOINT_URL"].removeprefix("http://")
    assert settings["scheme"] == "http"
    load(s3.put("in/a.csv", b"id\n7\n"), tmp_path / "t.db", table="t")
    assert sqlite_rows(tmp_path / "t.db", "SELECT id FROM t") == [(7,)]


def test_credentials_are_refused_in_a_uri_or_the_job_file(tmp_path: Path, s3: Bucket) -> None:
    with pytest.raises(ConfigError) as err:
        load("s3://AKIAX:topsecret@bucket/in/a.csv", tmp_path / "t.db", table="t")
    assert "topsecret" not in str(err.value) and "credentials are never read from a URI" in str(err.value)
    job = write_job(
        tmp_path / "job.toml",
        source={"path": s3.uri("in/*.csv"), "aws_secret_access_key": "topsecret"},
        sink={"path": str(tmp_path / "t.db"), "table": "t"},
    )
    p = cli("run", str(job), extra_env=s3.env)
    assert p.returncode == 2
    assert "topsecret" not in p.stderr
    assert p.stderr.splitlines()[0] == (
        f"loader: error: {job}: source.aws_secret_access_key: credentials are never read from the job file"
    )


def test_gs_and_hdfs_uris_name_their_filesystems() -> None:
    gs = storage.remote("gs://bucket/exports/a.csv")
    assert gs is not None and type(gs.fs).__name__ == "GcsFileSystem"
    assert (gs.path, gs.uri(gs.path)) == ("bucket/exports/a.csv", "gs://bucket/exports/a.csv")
    with pytest.raises(ConfigError, match=r"no filesystem for ftp://"):
        storage.remote("ftp://host/a.csv")
    # without a JVM and libhdfs (or a name node at that address): one line, not libhdfs's list of paths tried
    with pytest.raises(SourceError) as err:
        storage.exists("hdfs://namenode.invalid:8020/data/a.csv")
    assert str(err.value).startswith("cannot connect to hdfs://namenode.invalid:8020")
    assert "\n" not in str(err.value)


def test_a_parquet_objects_page_headers_set_its_memory_ceiling_as_on_disk(tmp_path: Path, s3: Bucket) -> None:
    """The page headers of an object are read with ranged requests before the load: a
    file written with pandas' defaults names the same lowest ceiling from S3 as on disk."""
    rows = 300_000
    table = pa.table(
        {f"c{c}": pa.array([(i * (2 * c + 1) * 2654435761) % 2**40 for i in range(rows)]) for c in range(8)}
    )
    src = tmp_path / "pandas.parquet"
    table.to_pandas().to_parquet(src)
    uri = s3.upload(src, "in/pandas.parquet")
    lowest = {}
    for where, path in (("disk", str(src)), ("s3", uri)):
        p = cli("load", path, str(tmp_path / f"{where}.db"), "--max-memory", "99MB", extra_env=s3.env)
        assert p.returncode == 2, p.stderr
        first, hint = p.stderr.splitlines()
        assert f" MB to read {path} as it was written (8 columns, " in first, first
        lowest[where] = hint
        assert not (tmp_path / f"{where}.db").exists()
    assert lowest["s3"] == lowest["disk"] and lowest["disk"] != "  hint: set --max-memory 99MB or more"


def test_the_schemes_case_names_one_object_once(tmp_path: Path, s3: Bucket) -> None:
    """``S3://`` and ``s3://`` are one object: loaded once, one checkpoint entry, under the
    lower-case spelling an ``s3://`` job has always had."""
    uri = s3.put("in/a.csv", b"id\n1\n2\n3\n")
    upper = "S3" + uri[2:]
    db = tmp_path / "t.db"
    report = load([uri, upper], db, table="t")
    assert (report.rows_written, report.files_loaded, [f.path for f in report.files]) == (3, 1, [uri])
    assert [k for k in sqlite_state(db) if k.startswith("file:")] == ["file:" + uri]
    again = load(upper, db, table="t")
    assert (again.rows_written, again.files_skipped) == (0, 1)


def test_a_checkpoint_keyed_by_an_upper_case_scheme_still_counts(tmp_path: Path, s3: Bucket) -> None:
    """A job that spelled ``S3://`` before schemes were lower-cased: its entry still says
    the object is loaded, and an entry under the new spelling wins over it."""
    import sqlite3

    uri = s3.put("in/a.csv", b"id\n1\n")
    upper = "S3" + uri[2:]
    db = tmp_path / "t.db"
    load(uri, db, table="t")
    with sqlite3.connect(db) as conn:  # as the loader before wrote it for the job's S3:// URI
        conn.execute("UPDATE _loader_state SET key = ? WHERE key = ?", ("file:" + upper, "file:" + uri))
    report = load(upper, db, table="t")
    assert (report.rows_written, report.files_skipped) == (0, 1)
    s3.put("in/a.csv", b"id\n1\n2\n")
    changed = load(uri, db, table="t", run_options={"on_change": "reload"})
    assert changed.rows_written == 2
    assert load(upper, db, table="t").files_skipped == 1  # the new entry, not the stale one
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(3,)]


def put_raw(s3: Bucket, key: str, data: bytes) -> str:
    """An object at a key pyarrow will not write (``in//b.csv``), put by another S3 client."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3.env["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3.env["AWS_SECRET_ACCESS_KEY"],
        region_name=s3.env["AWS_REGION"],
    )
    client.put_object(Bucket=s3.name, Key=key, Body=data)
    return s3.uri(key)


def test_a_key_with_an_empty_path_segment_is_unreadable_and_the_other_objects_load(tmp_path: Path, s3: Bucket) -> None:
    """S3 allows ``in//b.csv`` and a glob lists it, but pyarrow cannot open it: the other
    objects load, and the run ends with exit 66 naming it (a rerun fails so until it is fixed)."""
    s3.put("in/a.csv", b"id\n1\n")
    bad = put_raw(s3, "in//b.csv", b"id\n2\n")
    s3.put("in/c.csv", b"id\n3\n")
    db, report = tmp_path / "t.db", tmp_path / "report.json"
    args = ["load", s3.uri("in/**/*.csv"), str(db), "--table", "t", "--report", str(report)]
    message = f"loader: error: {bad}: cannot read: its key has an empty path segment ('//'), which pyarrow cannot open"
    for statuses in (["unreadable", "loaded", "loaded"], ["unreadable", "skipped", "skipped"]):
        p = cli(*args, extra_env=s3.env)
        assert p.returncode == 66, p.stderr
        assert message in p.stderr.splitlines()
        assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]
        data = json.loads(report.read_text())
        assert [(f["path"], f["status"]) for f in data["files"]] == list(
            zip([bad, s3.uri("in/a.csv"), s3.uri("in/c.csv")], statuses, strict=True)
        )
    with pytest.raises(MissingInputError) as err:  # named on its own
        load(bad, tmp_path / "one.db", table="t")
    assert str(err.value) == message.removeprefix("loader: error: ")


@pytest.mark.parametrize("key", ["dd//b.csv", "dd/./b.csv"])
def test_a_named_unreadable_key_lets_the_other_inputs_load_first(tmp_path: Path, s3: Bucket, key: str) -> None:
    """Named in source.path (not matched by a glob), a ``//`` or ``.`` key stops the run as
    one a glob lists does: after the other inputs load, listed in the report as unreadable."""
    good = s3.put("dd/a.csv", b"id\n98\n")
    bad = put_raw(s3, key, b"id\n99\n")
    db, report = tmp_path / "t.db", tmp_path / "report.json"
    p = cli("load", good, bad, str(db), "--table", "t", "--report", str(report), extra_env=s3.env)
    assert p.returncode == 66, p.stderr
    assert p.stderr.splitlines()[-2].startswith(f"loader: error: {bad}: cannot read: its key has a")
    assert p.stderr.splitlines()[-1].endswith("then rerun: the other files stay loaded")
    assert sqlite_rows(db, "SELECT id FROM t") == [(98,)]
    assert [(f["path"], f["status"]) for f in json.loads(report.read_text())["files"]] == [
        (bad, "unreadable"),
        (good, "loaded"),
    ]


def test_a_key_with_a_dot_segment_is_never_read_as_the_object_it_normalizes_to(tmp_path: Path, s3: Bucket) -> None:
    """``in/./y.csv`` and ``in/sub/../x.csv`` are objects of their own, but pyarrow's client
    normalizes the key and reads ``in/y.csv`` and ``in/x.csv``. ``*`` and ``**`` skip such
    segments as any hidden name; named, the key is refused as a ``//`` key is (exit 66)."""
    for key, data in {"in/x.csv": b"id\n666\n", "in/y.csv": b"id\n777\n"}.items():
        s3.put(key, data)
    dotted = {put_raw(s3, "in/./y.csv", b"id\n2\n"): ".", put_raw(s3, "in/sub/../x.csv", b"id\n1\n"): ".."}
    db = tmp_path / "t.db"
    for pattern in ("in/**/*.csv", "in/**", "**/*.csv", "in/*.csv"):
        assert storage.glob(s3.uri(pattern)) == [s3.uri("in/x.csv"), s3.uri("in/y.csv")], pattern
    assert storage.glob(s3.uri("in/*/*.csv")) == storage.glob(s3.uri("in/*/*/*.csv")) == []
    p = cli("load", s3.uri("in/**/*.csv"), str(db), "--table", "t", extra_env=s3.env)
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(666,), (777,)]
    hint = (
        "  hint: copy the object to a key without '.' or '..' segments (or leave it out of source.path), then rerun: "
    )
    hint += "the other files stay loaded"
    for uri, segment in dotted.items():
        message = f"{uri}: cannot read: its key has a '{segment}' path segment, which pyarrow would read as another object's key"
        named = cli("load", uri, str(tmp_path / "one.db"), "--table", "t", extra_env=s3.env)
        assert (named.returncode, named.stderr.splitlines()) == (66, [f"loader: error: {message}", hint])
        with pytest.raises(MissingInputError) as err:
            storage.open_input(uri)
        assert str(err.value) == message
    report = tmp_path / "r.json"
    listed = cli("load", s3.uri("in/.*/*.csv"), str(db), "--table", "t", "--report", str(report), extra_env=s3.env)
    assert listed.returncode == 66, listed.stderr  # a dotted pattern segment lists it: refused by name
    assert [(f["path"], f["status"]) for f in json.loads(report.read_text())["files"]] == [
        (s3.uri("in/./y.csv"), "unreadable")
    ]
    assert sqlite_rows(db, "SELECT id FROM t ORDER BY id") == [(666,), (777,)]
    globs = (s3.uri("in/.*/*.csv"), s3.uri("in/*/.*/*.csv"), s3.uri("in/x.csv"))  # each lists a dotted key
    both = cli("load", *globs, str(tmp_path / "two.db"), "--table", "t", extra_env=s3.env)
    first = next(iter(dotted))  # the first listed: its error, with its hint, counts the other
    assert (both.returncode, both.stderr.splitlines()[-2:]) == (
        66,
        [
            f"loader: error: {first}: cannot read: its key has a '.' path segment, which pyarrow would read as "
            "another object's key (1 more such input, listed in the report as unreadable)",
            hint,
        ],
    )
    assert sqlite_rows(tmp_path / "two.db", "SELECT id FROM t") == [(666,)]  # the readable input loads first


def test_a_uri_without_a_bucket_is_a_configuration_error(tmp_path: Path, s3: Bucket) -> None:
    with pytest.raises(ConfigError) as err:
        load("s3:///x.csv", tmp_path / "t.db", table="t")
    assert str(err.value) == "source: s3:///x.csv: no bucket in the URI"  # named as load() took it
    assert err.value.hint == "name the bucket: s3://bucket/key"
    p = cli("load", "s3:///x.csv", str(tmp_path / "t.db"), "--table", "t", extra_env=s3.env)
    assert p.returncode == 2, p.stderr
    assert not (tmp_path / "t.db").exists()


def test_a_bucket_alone_that_does_not_exist_is_named(tmp_path: Path, s3: Bucket) -> None:
    for uri in ("s3://no-such-bucket-here", "s3://no-such-bucket-here/"):
        with pytest.raises(MissingInputError) as err:
            load(uri, tmp_path / "t.db", table="t", source_options={"format": "csv"})
        assert str(err.value) == f"{uri}: no such bucket"
        assert err.value.hint == "check the bucket name in the URI"


def test_a_half_loaded_object_deleted_before_the_rerun_is_reported(tmp_path: Path, s3: Bucket) -> None:
    rows = "".join(f"{i},v{i}\n" for i in range(5000))
    s3.put("in/a.csv", ("id,v\n" + rows + "oops,v\n").encode())
    db = tmp_path / "t.db"
    run = {"chunk_size": 1000, "max_rejects": 0}
    source = {"columns": {"id": "int64"}}
    with pytest.raises(LoaderError) as stop:  # stops at the reject, the rows before it committed
        load(
            s3.uri("in/*.csv"), db, table="t", source_options=source, sink_options={"batch_size": 1000}, run_options=run
        )
    assert stop.value.exit_code == 3
    s3.delete("in/a.csv")
    s3.put("in/b.csv", b"id,v\n1,b\n")
    p = cli("load", s3.uri("in/*.csv"), str(db), "--table", "t", extra_env=s3.env)
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1].endswith(
        f"; WARNING 1 half-loaded file gone since an earlier run ({s3.uri('in/a.csv')}; 5,000 committed rows kept)"
    )


@pytest.mark.parametrize("spelling", ["S3", "s3"])
def test_parts_committed_under_an_upper_case_scheme_resume_once(
    tmp_path: Path, s3: Bucket, s3_server: S3Server, spelling: str
) -> None:
    """A job on ``S3://b/k`` that an engine half loaded before schemes were lower-cased: its
    parts' ids were hashed from ``file:S3://b/k``. The rerun finishes it, under either
    spelling, loading each row once."""
    import sqlite3

    from loader.parts import plan_file

    rows = "".join(f"{i},{'oops' if i == 6000 else i}\n" for i in range(20_000))
    uri = s3.put("big/big.csv", ("id,n\n" + rows).encode())
    upper = "S3" + uri[2:]
    db = tmp_path / "t.db"
    flags = ["--table", "t", "--columns", "n=int64", "-q", "--engine", "processes", "--workers", "2"]
    flags += ["--part-size", "40000"]
    stop = cli("load", upper, str(db), *flags, "--max-rejects", "0", extra_env=s3_server.env)
    assert stop.returncode == 3, stop.stderr  # the parts up to the reject's are committed
    planned = {(p.unit, p.start, p.end): p for p in plan_file(uri, "csv", part_bytes=40_000).parts}
    with sqlite3.connect(db) as conn:  # each part's entry as the loader before wrote it for S3://
        entries = conn.execute("SELECT key, value FROM _loader_state WHERE key LIKE 'part:%'").fetchall()
        for key, value in entries:
            entry = json.loads(value)
            part = planned[tuple(entry["range"])]
            assert key == "part:" + part.id
            spelled = json.dumps(["file:" + upper, part.fingerprint, part.unit, part.start, part.end])
            old = "part:" + sha256(spelled.encode()).hexdigest()[:16]
            conn.execute(
                "UPDATE _loader_state SET key = ?, value = ? WHERE key = ?",
                (old, json.dumps(dict(entry, path=upper)), key),
            )
    assert 0 < len(entries) < len(planned)
    spill = tmp_path / "t.db.parts"  # a result that run finished and did not commit, and a temporary manifest
    spill.mkdir(exist_ok=True)
    last = planned[max(planned)]
    unfinished = sha256(json.dumps(["file:" + upper, last.fingerprint, "bytes", last.start, last.end]).encode())
    (spill / f"{unfinished.hexdigest()[:16]}-0123abcd.json").write_text("{}")
    (spill / f".{unfinished.hexdigest()[:16]}-0123abcd.json.x1.tmp").write_text("{")
    report = tmp_path / "report.json"
    again = cli("load", spelling + uri[2:], str(db), *flags, "--report", str(report), extra_env=s3_server.env)
    assert again.returncode == 0, again.stderr
    done = json.loads(report.read_text())
    assert done["resumed"] is True
    assert [(f["path"], f["status"]) for f in done["files"]] == [(uri, "resumed")]
    assert done["rows_read"] == 20_000 - sum(json.loads(v)["rows_read"] for _, v in entries)
    clean = tmp_path / "clean.db"
    assert (
        cli("load", uri, str(clean), "--table", "t", "--columns", "n=int64", "-q", extra_env=s3_server.env).returncode
        == 0
    )
    sql = "SELECT id, n FROM t ORDER BY id"
    assert sqlite_rows(db, sql) == sqlite_rows(clean, sql)
    assert sqlite_rows(db, "SELECT count(*), count(DISTINCT id) FROM t") == [(19_999, 19_999)]
    assert not spill.exists()  # nothing of either run's left
    rejects = (tmp_path / "t.db.table-t.rejects.jsonl").read_text().splitlines()
    assert [json.loads(r)["row"] for r in rejects] == [6001]  # once: its part was committed before
    assert cli("load", upper, str(db), *flags, extra_env=s3_server.env).returncode == 0  # done: nothing to load
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(19_999,)]


def test_partition_folders_in_object_keys_become_columns(tmp_path: Path, s3: Bucket) -> None:
    s3.put("x/country=DE/part-0.parquet", encode(ROWS[:2], "parquet"))
    s3.put("x/country=FR/part-0.parquet", encode(ROWS[2:], "parquet"))
    load(s3.uri("x/*/*.parquet"), tmp_path / "t.db", table="t")
    got = sqlite_rows(tmp_path / "t.db", "SELECT id, country FROM t ORDER BY id")
    assert got == [(1, "DE"), (2, "DE"), (3, "FR"), (9007199254740993, "FR")]


class CountingFilesystem:
    """The store's filesystem, counting the requests a load makes of it by name: an info
    (a HEAD, or a listing), and an object opened (a HEAD: pyarrow asks for its headers)."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.infos: list[str] = []
        self.opened: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fs, name)

    def get_file_info(self, what: Any) -> Any:
        self.infos.append(what if isinstance(what, str) else f"list {what.base_dir}")
        return self.fs.get_file_info(what)

    def open_input_file(self, path: Any) -> Any:
        self.opened.append(path)
        return self.fs.open_input_file(path)


def counting_store(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[Any, ...], CountingFilesystem]:
    """The filesystems the loader makes from here, each a ``CountingFilesystem``."""
    made = storage._filesystem
    counting: dict[tuple[Any, ...], CountingFilesystem] = {}
    monkeypatch.setattr(storage, "_filesystem", lambda *a: counting.setdefault(a, CountingFilesystem(made(*a))))
    return counting


def test_a_load_asks_the_store_of_each_object_only_to_identify_it(
    tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"in/p{i}.csv" for i in range(3)]
    for i, key in enumerate(keys):
        s3.put(key, encode(ROWS[i : i + 1], "csv"))
    counting = counting_store(monkeypatch)
    report = load(s3.uri("in/*.csv"), tmp_path / "t.db", table="t")
    assert report.rows_written == 3
    [fs] = counting.values()
    # the glob's listing gives each object's size and type; its identity, taken before and
    # after it is read (a change is seen by it), is the headers of the object opened (it was
    # 5 more asks an object, then 2 an identity: an info and an open)
    assert fs.infos == [f"list {s3.name}/in"]
    assert storage._KNOWN == {}  # forgotten once the run is over


@pytest.mark.parametrize(("fmt", "engine"), [("csv", "threads"), ("jsonl", "threads"), ("csv", "processes")])
def test_a_rerun_with_nothing_new_asks_one_head_an_object_and_reads_none(
    tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch, fmt: str, engine: str
) -> None:
    """A scheduled rerun over a prefix of small objects, all loaded: it opened and read each
    to see whether it was empty (a HEAD and a GET), then asked its identity twice (two HEADs)."""
    keys = [f"in/p{i}.{fmt}" for i in range(4)]
    for i, key in enumerate(keys):
        s3.put(key, encode(ROWS[i : i + 1], fmt))
    options = {"table": "t", "run_options": {"engine": engine}}
    assert load(s3.uri(f"in/*.{fmt}"), tmp_path / "t.db", **options).rows_written == 4
    monkeypatch.setattr(memory, "WIDTH_SAMPLE", 1)  # the rows' width, sampled from this many heads
    counting = counting_store(monkeypatch)
    again = load(s3.uri(f"in/*.{fmt}"), tmp_path / "t.db", **options)
    assert (again.rows_written, again.files_skipped, again.files_empty) == (0, 4, 0)
    [fs] = counting.values()
    assert fs.infos == [f"list {s3.name}/in"]
    # each object's identity (one HEAD, no data read), and the head the width is sampled from
    assert sorted(fs.opened) == sorted([*(f"{s3.name}/{k}" for k in keys), f"{s3.name}/{keys[0]}"])


def test_an_objects_identity_from_its_headers_is_the_one_its_info_gave(s3: Bucket) -> None:
    """Checkpoints written when the identity asked the object's info stay valid."""
    uri = s3.put("k/x.csv", b"id\n1\n")
    info = s3.server.fs.get_file_info(f"{s3.name}/k/x.csv")
    ident = storage.identity(uri)
    assert ident is not None and (ident["size"], ident["mtime_ns"]) == (5, info.mtime_ns)


def test_an_object_emptied_since_it_was_loaded_is_a_changed_one(tmp_path: Path, s3: Bucket) -> None:
    """An export rewritten as 0 bytes was a new empty file, exit 0: the rows loaded from it unsaid."""
    s3.put("in/a.csv", b"id,v\n1,a\n2,b\n")
    s3.put("in/b.csv", b"id,v\n5,e\n")
    db = tmp_path / "t.db"
    args = ["load", s3.uri("in/*.csv"), str(db), "--table", "t"]
    assert cli(*args, extra_env=s3.env).returncode == 0
    s3.put("in/a.csv", b"")
    done = cli(*args, extra_env=s3.env)
    assert (done.returncode, done.stderr.splitlines()[0]) == (
        65,
        f"loader: error: {s3.uri('in/a.csv')}: changed since it was loaded (size or content differ from the checkpoint)",
    )
    skipped = cli(*args, "--set", "run.on_change=skip", extra_env=s3.env)
    assert skipped.returncode == 0, skipped.stderr
    assert " 1 already loaded, 1 changed since loaded and skipped (2 committed rows kept) in " in skipped.stderr


def three_objects(s3: Bucket) -> None:
    """a.csv and c.csv small, b.csv read in some chunks (and in parts by ``processes``)."""
    for name, rows in (("a", 3000), ("b", 30_000), ("c", 3000)):
        s3.put(f"in/{name}.csv", csv_version(name, rows))


def load_three_while(s3: Bucket, target: Path, change: Any, engine: str) -> Any:
    """The three objects of ``three_objects``; ``change()`` runs once, as b.csv is read
    (``threads``: its second chunk staged; the parts engines: a part's rows committed)."""
    from loader.config import JobConfig, RunConfig, SinkConfig, SourceConfig
    from loader.pipeline import Pipeline

    if engine == "threads":
        return load_calling(s3.uri("in/*.csv"), target, 5, change)
    config = JobConfig(
        source=SourceConfig(path=[s3.uri("in/*.csv")]),
        sink=SinkConfig(path=str(target), table="t"),
        run=RunConfig(engine=engine, workers=2, part_size=64_000),  # type: ignore[arg-type]
    )
    progress: list[str] = []

    def after_a_commit(name: str, data: dict[str, Any]) -> None:
        progress.extend([name] if name == "progress" else [])
        if len(progress) == 1 and name == "progress":
            change()

    return Pipeline(config, on_event=after_a_commit).run()


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_an_object_deleted_after_the_run_listed_it_is_a_rerun_as_a_local_file(
    tmp_path: Path, s3: Bucket, engine: str
) -> None:
    """Deleted before its turn (a retention job): nothing to fix, exit 75 as for a local
    file the run listed, not 66 "check the URI"; the objects before it stay committed."""
    three_objects(s3)
    target = tmp_path / "t.db"
    with pytest.raises(LoaderError) as err:
        load_three_while(s3, target, lambda: s3.delete("in/c.csv"), engine)
    uri = s3.uri("in/c.csv")
    assert str(err.value) == f"{uri}: no such object: moved or deleted after the run listed its inputs"
    assert err.value.exit_code == 75
    assert err.value.hint is not None and err.value.hint.startswith("nothing to fix: rerun the same command")
    assert sqlite_rows(target, "SELECT substr(v, 1, 1), count(*) FROM t GROUP BY 1") == [("a", 3000), ("b", 30_000)]
    assert load(s3.uri("in/*.csv"), target, table="t").rows_written == 0  # the rerun: the two, loaded


def test_an_object_put_again_before_its_turn_loads_in_its_new_version(tmp_path: Path, s3: Bucket) -> None:
    """Put again after the run listed it and before any byte of it was read (a producer's
    retry): no change while it was read, so it loads in the version there at its turn, as a
    local file renamed over then does, and the object read meanwhile is not cut off."""
    three_objects(s3)
    target = tmp_path / "t.db"
    report = load_three_while(s3, target, lambda: s3.put("in/c.csv", csv_version("C", 10)), "threads")
    assert report.rows_written == 33_010
    assert sqlite_rows(target, "SELECT substr(v, 1, 1), count(*) FROM t GROUP BY 1") == [
        ("C", 10),
        ("a", 3000),
        ("b", 30_000),
    ]
    assert load(s3.uri("in/*.csv"), target, table="t").rows_written == 0  # its checkpoint holds that version


def test_the_endpoints_scheme_is_read_in_either_case_and_blanks_around_it_dropped(tmp_path: Path, s3: Bucket) -> None:
    uri = s3.put("in/a.csv", b"id\n7\n")
    endpoint = s3.env["AWS_ENDPOINT_URL"]
    for i, spelled in enumerate([endpoint.replace("http://", "HTTP://"), f" {endpoint}/ \n"]):
        db = tmp_path / f"t{i}.db"
        done = cli("load", uri, str(db), "--table", "t", extra_env={**s3.env, "AWS_ENDPOINT_URL": spelled})
        assert done.returncode == 0, done.stderr
        assert sqlite_rows(db, "SELECT id FROM t") == [(7,)]


@pytest.mark.parametrize("path", ["ftp://127.0.0.1:9000", "http://127.0.0.1:9000/s3", "http://127.0.0.1:9000?x=1"])
def test_an_endpoint_of_another_scheme_or_with_a_path_is_a_configuration_error(
    tmp_path: Path, s3: Bucket, path: str
) -> None:
    """Not the file's error (65, "fix or replace the file"), nor a path taken for the bucket."""
    done = cli(
        "load",
        s3.uri("in/*.csv"),
        str(tmp_path / "t.db"),
        "--table",
        "t",
        extra_env={**s3.env, "AWS_ENDPOINT_URL_S3": path},
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [
            f"loader: error: AWS_ENDPOINT_URL_S3: {path!r}: expected http:// or https:// and host[:port]",
            "  hint: set AWS_ENDPOINT_URL_S3 to the service's address, such as http://minio:9000",
        ],
    )


def test_a_service_too_slow_to_answer_is_said_to_have_timed_out_and_its_limits_are_settings(
    tmp_path: Path, silent_endpoint: SilentEndpoint
) -> None:
    """Up but answering no byte within AWS_REQUEST_TIMEOUT, each of AWS_MAX_ATTEMPTS: exit 1
    (rerun), said to be a timeout with the settings that lengthen it, not "cannot reach"."""
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}
    env |= {"AWS_ENDPOINT_URL": silent_endpoint.url, "AWS_REQUEST_TIMEOUT": "0.5", "AWS_MAX_ATTEMPTS": "1"}
    began = time.monotonic()
    done = cli("load", "s3://bk/in/a.csv", str(tmp_path / "t.db"), "--table", "t", extra_env=env)
    assert time.monotonic() - began < 5  # one attempt of 0.5 s, not three of 3 s
    assert (done.returncode, done.stderr.splitlines()[:2]) == (
        1,
        [
            "loader: error: s3://bk/in/a.csv: cannot read: the storage service did not answer in time (timed out)",
            "  hint: " + storage.TIMED_OUT_HINT,
        ],
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AWS_REQUEST_TIMEOUT", "3s", "a number of seconds above 0"),
        ("AWS_CONNECT_TIMEOUT", "0", "a number of seconds above 0"),
        ("AWS_MAX_ATTEMPTS", "2.5", "a whole number of attempts, 1 or more"),
    ],
)
def test_a_storage_limit_that_is_no_number_is_a_configuration_error(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        storage._s3_settings()
    assert (str(err.value), err.value.exit_code) == (f"{name}: {value!r}: expected {expected}", 2)
