"""flatten: struct columns as their leaf columns (hunt25a #10)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transforms_testutil import chunk_of, col

from loader.errors import ConfigError
from loader.transforms import Flatten, build_stages, output_schema
from tests.reliability_util import cli, leveldb_items, reject_lines, write_job

INNER = pa.struct([("c", pa.string()), ("d", pa.float64())])
OUTER = pa.struct([("a", pa.int64()), ("b", INNER)])


def nested() -> pa.RecordBatch:
    """Rows: a whole value, a null struct, a struct whose inner struct is null."""
    s = pa.array([{"a": 1, "b": {"c": "x", "d": 1.5}}, None, {"a": 3, "b": None}], OUTER)
    return pa.record_batch({"id": [1, 2, 3], "s": s, "tail": ["p", "q", "r"]})


def test_every_level_in_place_and_null_structs_give_null_children() -> None:
    out = Flatten()(chunk_of(nested()))
    assert out.batch.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("s__a", pa.int64()),
            ("s__b__c", pa.string()),
            ("s__b__d", pa.float64()),
            ("tail", pa.string()),
        ]
    )
    assert out.batch.to_pylist() == [
        {"id": 1, "s__a": 1, "s__b__c": "x", "s__b__d": 1.5, "tail": "p"},
        {"id": 2, "s__a": None, "s__b__c": None, "s__b__d": None, "tail": "q"},
        {"id": 3, "s__a": 3, "s__b__c": None, "s__b__d": None, "tail": "r"},
    ]
    assert out.rows.to_pylist() == [1, 2, 3] and out.rows_filtered == 0


def test_a_field_is_nullable_where_its_struct_or_itself_is() -> None:
    """A field that may not be null inside a struct that may: its column holds the struct's nulls."""
    inner = pa.struct([pa.field("x", pa.int64(), nullable=False)])
    schema = pa.schema([pa.field("s", inner), pa.field("t", inner, nullable=False)])
    batch = pa.record_batch([pa.array([{"x": 1}, None], inner), pa.array([{"x": 2}, {"x": 3}], inner)], schema=schema)
    out = Flatten()(chunk_of(batch))
    assert [(f.name, f.nullable) for f in out.batch.schema] == [("s__x", True), ("t__x", False)]
    assert col(out, "s__x") == [1, None]


def test_a_slice_keeps_its_rows_and_the_values_are_not_copied() -> None:
    batch = nested().slice(1)
    out = Flatten()(chunk_of(batch))
    assert col(out, "s__a") == [None, 3] and col(out, "s__b__c") == [None, None]
    whole = nested()
    values = whole.column("s").field("a").buffers()[1]
    assert Flatten()(chunk_of(whole)).batch.column("s__a").buffers()[1].address == values.address


def test_max_depth_separator_and_columns() -> None:
    out = Flatten(max_depth=1, separator=".")(chunk_of(nested()))
    assert out.batch.schema.names == ["id", "s.a", "s.b", "tail"]
    assert out.batch.schema.field("s.b").type == INNER
    assert col(out, "s.b") == [{"c": "x", "d": 1.5}, None, None]
    two = pa.record_batch({"s": nested().column("s"), "t": nested().column("s")})
    assert Flatten(columns=["t"])(chunk_of(two)).batch.schema.names == ["s", "t__a", "t__b__c", "t__b__d"]


def test_lists_maps_text_and_empty_structs_stay_as_they_are() -> None:
    batch = pa.record_batch(
        {
            "tags": pa.array([[{"k": 1}], None], pa.list_(pa.struct([("k", pa.int64())]))),
            "m": pa.array([[("x", 1)], None], pa.map_(pa.string(), pa.int64())),
            "payload": ['{"action":"started"}', '{"push_id":1}'],  # JSON text: shapes varied
            "e": pa.array([{}, None], pa.struct([])),
        }
    )
    stage = Flatten(columns=["payload", "e"])
    out = stage(chunk_of(batch))
    assert out.batch.equals(batch)
    assert Flatten()(chunk_of(batch)).batch.equals(batch)


def test_a_name_flattening_makes_twice_is_an_error_naming_both() -> None:
    clash = pa.record_batch({"s": nested().column("s"), "s__a": [7, 8, 9]})
    with pytest.raises(ConfigError) as exc:
        Flatten(name="transform[1] (flatten)")(chunk_of(clash))
    assert str(exc.value) == (
        "transform[1] (flatten): column 's__a': flattening gives two columns named 's__a': "
        "field a of column 's' and column 's__a'"
    )
    assert exc.value.hint == "rename one of them in a stage before this one, or choose another separator"
    inner = pa.struct([("b__c", pa.int64())])
    two = pa.record_batch(
        {"a": pa.array([{"b__c": 1}], inner), "a__b": pa.array([{"c": 2}], pa.struct([("c", pa.int64())]))}
    )
    with pytest.raises(ConfigError, match=r"named 'a__b__c': field b__c of column 'a' and field c of column 'a__b'"):
        Flatten()(chunk_of(two))
    # the same batch again fails again: a schema whose check failed is not remembered
    stage = Flatten()
    for _ in range(2):
        with pytest.raises(ConfigError):
            stage(chunk_of(two))


def test_case_twins_are_one_column_to_sqlite_only() -> None:
    twins = pa.schema([("o", pa.struct([("K", pa.int64()), ("k", pa.int64())]))])
    stages = build_stages([{"type": "flatten"}])
    assert output_schema(stages, twins).names == ["o__K", "o__k"]  # LevelDB: two keys

    def sqlite(names: list[str]) -> str | None:
        lower = [n.lower() for n in names]
        return "one column to SQLite" if len(set(lower)) < len(lower) else None

    with pytest.raises(ConfigError, match="one column to SQLite") as exc:
        output_schema(stages, twins, name_clash=sqlite)
    assert exc.value.hint == (  # flatten has no rename or drop, and no stage before it reaches o's fields
        "leave the struct out of the stage's columns (it stays as it is), "
        "or choose another separator where one of them is a column of the input"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"columns": []}, "columns: the list is empty"),
        ({"columns": "s"}, "columns: expected a list of column names, got 's'"),
        ({"separator": ""}, "separator: expected non-empty text, got ''"),
        ({"max_depth": 0}, "max_depth: expected a whole number of levels, 1 or more, got 0"),
        ({"max_depth": True}, "max_depth: expected a whole number of levels, 1 or more, got True"),
        ({"depth": 1}, "depth: unknown key (did you mean 'max_depth'?); flatten takes: columns, separator, max_depth"),
    ],
)
def test_options_are_checked_before_a_row_is_read(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_stages([{"type": "flatten", **options}])
    assert str(exc.value) == f"transform[1] (flatten): {message}"


def test_a_named_column_the_data_lacks_is_named() -> None:
    with pytest.raises(ConfigError, match="columns: no column 'x'"):
        Flatten(columns=["x"])(chunk_of(nested()))


# ---- real shapes, through the command line

MONGO = [
    {"_id": {"$oid": "5f1d7d5e8c1a2b3c4d5e6f70"}, "name": "a", "n": {"$numberLong": "12"}},
    {"_id": {"$oid": "5f1d7d5e8c1a2b3c4d5e6f71"}, "name": "b", "n": {"$numberLong": "13"}},
]


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_mongoexport_ids_key_a_leveldb_store(tmp_path: Path) -> None:
    """The finding: ``{"_id":{"$oid":...}}`` keyed the store as ``{"$oid":...}``; after flatten
    a key template names the flattened column."""
    jsonl(tmp_path / "users.json", MONGO)
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "users.json"},
        transform=[{"type": "flatten"}],
        sink={"path": "users.ldb", "key": "user:{_id__$oid}"},
    )
    p = cli("run", str(job), "-q", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (0, "")
    data, _ = leveldb_items(tmp_path / "users.ldb")
    assert [(k, json.loads(v)) for k, v in data] == [
        (
            b"user:5f1d7d5e8c1a2b3c4d5e6f70",
            {"_id__$oid": "5f1d7d5e8c1a2b3c4d5e6f70", "name": "a", "n__$numberLong": "12"},
        ),
        (
            b"user:5f1d7d5e8c1a2b3c4d5e6f71",
            {"_id__$oid": "5f1d7d5e8c1a2b3c4d5e6f71", "name": "b", "n__$numberLong": "13"},
        ),
    ]


def github_events(n: int) -> list[dict[str, Any]]:
    """GitHub Archive's shape: actor and repo in every event, org in some, payload by type."""
    events = []
    for i in range(1, n + 1):
        push = i % 2 == 1
        event: dict[str, Any] = {
            "id": str(1000 + i),
            "type": "PushEvent" if push else "WatchEvent",
            "actor": {"id": i, "login": f"user{i}", "url": f"https://api.github.com/users/user{i}"},
            "repo": {"id": 10 * i, "name": f"o/r{i}"},
            "payload": {"push_id": i, "size": 1} if push else {"action": "started"},
            "public": True,
        }
        if i % 3 == 0:
            event["org"] = {"id": 7, "login": "acme"}
        events.append(event)
    return events


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_github_events_into_sqlite(tmp_path: Path, engine: str) -> None:
    jsonl(tmp_path / "events.json", github_events(40))
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "events.json"},
        transform=[{"type": "flatten"}, {"type": "filter", "where": "actor__id <= 4"}],
        sink={"path": "gh.db", "table": "events"},
        run={"engine": engine, "chunk_size": 7},
    )
    p = cli("run", str(job), "-q", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (0, "")
    db = sqlite3.connect(tmp_path / "gh.db")
    names = [r[1] for r in db.execute("PRAGMA table_info(events)")]
    assert names == [
        "id", "type", "actor__id", "actor__login", "actor__url", "repo__id", "repo__name", "payload", "public",
        "org__id", "org__login",
    ]  # fmt: skip
    rows = db.execute("SELECT id, actor__login, repo__id, payload, org__login FROM events ORDER BY id").fetchall()
    assert rows == [
        ("1001", "user1", 10, '{"push_id":1,"size":1}', None),  # no org: null fields
        ("1002", "user2", 20, '{"action":"started"}', None),
        ("1003", "user3", 30, '{"push_id":3,"size":1}', "acme"),
        ("1004", "user4", 40, '{"action":"started"}', None),
    ]


def write_structs(path: Path) -> None:
    """A Parquet file pyarrow writes with a struct of a struct, a list of structs and nulls
    at each level, in row groups of 2 rows (parts of their own on processes)."""
    geo = pa.struct([("lat", pa.float64()), ("lon", pa.float64())])
    place = pa.struct([("city", pa.string()), ("geo", geo)])
    table = pa.table(
        {
            "id": [1, 2, 3, 4, 5],
            "place": pa.array(
                [
                    {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}},
                    {"city": "Bergen", "geo": None},
                    None,
                    {"city": None, "geo": {"lat": 1.0, "lon": None}},
                    {"city": "Tromsø", "geo": {"lat": 69.6, "lon": 18.9}},
                ],
                place,
            ),
            "items": pa.array([[{"sku": "a"}], [], None, [{"sku": "b"}, {"sku": "c"}], None]),
        }
    )
    pq.write_table(table, path, row_group_size=2)


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("target", ["sqlite", "leveldb"])
def test_parquet_structs(tmp_path: Path, engine: str, target: str) -> None:
    write_structs(tmp_path / "places.parquet")
    sink = {"path": "p.db", "table": "t"} if target == "sqlite" else {"path": "p.ldb", "key": "{id}"}
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "places.parquet"},
        transform=[
            {"type": "flatten", "columns": ["place"]},
            {"type": "cast", "columns": {"place__geo__lat": "int64"}},
        ],
        sink=sink,
        run={"engine": engine, "part_size": 1},
    )
    p = cli("run", str(job), "-q", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (0, "")
    # 59.9 and 69.6 are no int64: rows 1 and 5 are rejected, naming the flattened column
    want = [
        (2, "Bergen", None, None, []),
        (3, None, None, None, None),
        (4, None, 1, None, [{"sku": "b"}, {"sku": "c"}]),
    ]
    names = ["id", "place__city", "place__geo__lat", "place__geo__lon", "items"]
    if target == "sqlite":
        db = sqlite3.connect(tmp_path / "p.db")
        assert [r[1] for r in db.execute("PRAGMA table_info(t)")] == names
        got = [(*r[:4], json.loads(r[4]) if r[4] else r[4]) for r in db.execute("SELECT * FROM t ORDER BY id")]
    else:
        data, _ = leveldb_items(tmp_path / "p.ldb")
        got = [tuple(json.loads(v).get(n) for n in names) for _, v in data]
    assert got == want
    rejects = reject_lines(next(tmp_path.glob("*.rejects.jsonl")))
    assert sorted((r["row"], r["column"]) for r in rejects) == [(1, "place__geo__lat"), (5, "place__geo__lat")]


def test_a_column_flatten_left_as_text_is_named_where_a_later_stage_wants_its_fields(tmp_path: Path) -> None:
    """payload's objects have other keys by event type: it is JSON text, which flatten leaves."""
    jsonl(tmp_path / "events.json", github_events(2))
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "events.json"},
        transform=[{"type": "flatten"}, {"type": "filter", "where": "payload__action = 'started'"}],
        sink={"path": "gh.db", "table": "events"},
    )
    p = cli("run", str(job), "--dry-run", cwd=tmp_path)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == (
        f"loader: error: transform[2] (filter): {tmp_path / 'events.json'}: where: unknown column 'payload__action' at position 1 "
        "in \"payload__action = 'started'\" (did you mean 'payload'?); available: id, type, actor__id, "
        "actor__login, actor__url, repo__id, repo__name, payload, public\n"
        "  hint: transform[1] (flatten) left 'payload' as it is: it is string, not a struct (JSON Lines objects "
        "are read as JSON text where their keys vary, or are only null in the sample: see flatten in "
        "docs/transforms.md)\n"
    )


@pytest.mark.parametrize(
    ("sink", "setting"),
    [
        ({"type": "leveldb", "path": "h.ldb", "key": "u:{actor__login}"}, "sink.key"),
        ({"type": "sqlite", "path": "h.db", "table": "t", "primary_key": ["actor__login"]}, "sink.primary_key"),
        ({"type": "sqlite", "path": "h.db", "table": "t", "indexes": [["actor__login"]]}, "sink.indexes"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_sink_setting_naming_a_field_of_a_column_flatten_left_as_text_gets_why(
    tmp_path: Path, sink: dict[str, Any], setting: str, dry_run: bool
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "1.jsonl").write_text('{"id":1,"actor":{"login":"a"}}\n')
    (tmp_path / "m" / "2.jsonl").write_text('{"id":4,"actor":{"login":"d","x":1}}\n')  # keys vary: JSON text
    job = write_job(tmp_path / "job.toml", source={"path": "m/*.jsonl"}, transform=[{"type": "flatten"}], sink=sink)
    p = cli("run", str(job), *(["--dry-run"] if dry_run else []), cwd=tmp_path)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == (
        f"loader: error: {tmp_path / 'm' / '1.jsonl'}: {setting}: no column 'actor__login' in the data\n"
        "  hint: columns are: id, actor; transform[1] (flatten) left 'actor' as it is: it is string, not a struct "
        "(JSON Lines objects are read as JSON text where their keys vary, or are only null in the sample: see "
        "flatten in docs/transforms.md)\n"
    )
