from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import Pipeline, load
from loader.chunk import Chunk
from loader.config import JobConfig, RunConfig, SinkConfig, SourceConfig
from loader.errors import ConfigError, ConstraintError, SchemaMismatchError, SinkError, TargetLockedError
from loader.transforms import Derive, Rename
from loader.writers import SQLiteWriter, quote, sqlite_type
from loader.writers.sqlite_refusals import refusal
from loader.writers.sqlite_schema import index_name
from tests.conftest import adapt, encode, put, sqlite_rows
from tests.reliability_util import rejects_of


def sink(path: Path, **kw) -> SinkConfig:
    return SinkConfig(path=str(path), type="sqlite", batch_size=100, **kw)


ALL_TYPES = pa.record_batch(
    {
        "i8": pa.array([-1, None], pa.int8()),
        "i64": pa.array([2**63 - 1, -(2**63)], pa.int64()),
        "u64": pa.array([2**63 - 1, 0], pa.uint64()),
        "f": pa.array([0.1, None], pa.float64()),
        "b": pa.array([True, False]),
        "s": pa.array(["ø\"'; --", ""]),
        "bin": pa.array([b"\x00\xff", None], pa.binary()),
        "d": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, 1, 12, 30, 0, 123456), None], pa.timestamp("us")),
        "tsz": pa.array([dt.datetime(2024, 1, 1, 12, 0), None], pa.timestamp("ms", tz="UTC")),
        "dec": pa.array([decimal.Decimal("12345678901234567890.123456789"), None], pa.decimal128(38, 9)),
        "lst": pa.array([[1, 2], None], pa.list_(pa.int64())),
        "st": pa.array([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "dic": pa.array(["x", "y"]).dictionary_encode(),
    }
)


def test_type_mapping_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with SQLiteWriter(sink(db), "t") as w:
        w.prepare(ALL_TYPES.schema, fresh=True)
        assert put(w, ALL_TYPES) == 2
        w.commit("j", {})
    conn = sqlite3.connect(db)
    declared = {r[1]: r[2] for r in conn.execute('PRAGMA table_info("t")')}
    assert declared == {
        "i8": "INTEGER",
        "i64": "INTEGER",
        "u64": "INTEGER",
        "f": "REAL",
        "b": "INTEGER",
        "s": "TEXT",
        "bin": "BLOB",
        "d": "TEXT",
        "ts": "TEXT",
        "tsz": "TEXT",
        "dec": "TEXT",
        "lst": "TEXT",
        "st": "TEXT",
        "dic": "TEXT",
    }
    row = conn.execute("SELECT * FROM t ORDER BY rowid").fetchone()
    assert row == (
        -1,
        2**63 - 1,
        2**63 - 1,
        0.1,
        1,
        "ø\"'; --",
        b"\x00\xff",
        "2024-02-29",
        "2024-01-01T12:30:00.123456",
        "2024-01-01T12:00:00.000Z",
        "12345678901234567890.123456789",
        "[1,2]",
        '{"a":1,"b":"x"}',
        "x",
    )
    types = conn.execute("SELECT typeof(i64), typeof(f), typeof(dec), typeof(bin) FROM t LIMIT 1").fetchone()
    assert types == ("integer", "real", "text", "blob")
    assert conn.execute("SELECT i8, f, bin, d FROM t WHERE rowid = 2").fetchone() == (None, None, None, None)


def test_sqlite_type() -> None:
    assert sqlite_type(pa.int32()) == "INTEGER"
    assert sqlite_type(pa.decimal128(5, 2)) == "TEXT"  # NUMERIC affinity would round to REAL


def test_uint64_beyond_int64_is_rejected_not_rounded(tmp_path: Path) -> None:
    batch = pa.record_batch({"u": pa.array([1, 2**64 - 1], pa.uint64())})
    chunk = Chunk(batch=batch, file="f", rows=pa.array([1, 2], pa.int64()), last_row=2, end={})
    with SQLiteWriter(sink(tmp_path / "u.db"), "t") as w:
        out = adapt(w, chunk)
    assert out.batch.column("u").to_pylist() == [1]
    assert [(r.row, r.column) for r in out.rejects] == [(2, "u")]


def test_uint64_overflow_in_two_columns_rejects_each_row_once(tmp_path: Path) -> None:
    """The second column's overflow mask is taken from the rows the first column's
    reject left: applied to the smaller batch, it rejected a row that also loaded."""
    batch = pa.record_batch(
        {
            "id": [1, 2, 3, 4],
            "a": pa.array([2**63, 1, 2**64 - 1, 1], pa.uint64()),
            "b": pa.array([1, 2**63, 2**63, 1], pa.uint64()),
        }
    )
    chunk = Chunk(batch=batch, file="f", rows=pa.array([1, 2, 3, 4], pa.int64()), last_row=4, end={})
    with SQLiteWriter(sink(tmp_path / "u.db"), "t") as w:
        out = adapt(w, chunk)
    assert out.batch.column("id").to_pylist() == [4]
    assert sorted((r.row, r.column) for r in out.rejects) == [(1, "a"), (2, "b"), (3, "a")]


def test_uint64_overflow_in_two_columns_loads_the_rest(tmp_path: Path) -> None:
    """Read = written + rejected, and a reject line names only a row that is not in the table."""
    src = tmp_path / "u.parquet"
    a = pa.array([2**64 - 1, 1, 1], pa.uint64())
    pq.write_table(pa.table({"id": [1, 2, 3], "a": a, "b": pa.array([2**63, 5, 6], pa.uint64())}), src)
    db = tmp_path / "u.db"
    report = load(src, db, table="t")
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 2, 1)
    assert sqlite_rows(db, "SELECT id, a, b FROM t ORDER BY id") == [(2, 1, 5), (3, 1, 6)]
    rejected = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert [(r["row"], r["column"]) for r in rejected] == [(1, "a")]


def test_uint64_overflow_in_a_derived_column_rejects_the_row_once(tmp_path: Path) -> None:
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "u": pa.array([2**64 - 1, 1, 1], pa.uint64())}), src)
    db = tmp_path / "d.db"
    report = load(src, db, table="t", transforms=[Derive(columns={"e": "u - 1"})])
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 2, 1)
    assert sqlite_rows(db, "SELECT id, u, e FROM t ORDER BY id") == [(2, 1, 0), (3, 1, 0)]


def test_identifiers_cannot_inject(tmp_path: Path) -> None:
    names = ['"; DROP TABLE x; --', "select", "naïve col", 'a"b']
    batch = pa.record_batch({n: [i] for i, n in enumerate(names)})
    db = tmp_path / "q.db"
    with SQLiteWriter(sink(db), 'tab"le; drop') as w:
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("j", {})
    conn = sqlite3.connect(db)
    assert [r[1] for r in conn.execute("PRAGMA table_info('tab\"le; drop')")] == names
    assert conn.execute('SELECT * FROM "tab""le; drop"').fetchall() == [(0, 1, 2, 3)]
    assert quote('a"b') == '"a""b"'


def test_rollback_on_exception_keeps_only_committed(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    batch = pa.record_batch({"id": [1, 2]})
    with SQLiteWriter(sink(db), "t") as w:
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("j", {"k": "v1"})
    with pytest.raises(RuntimeError, match="boom"), SQLiteWriter(sink(db), "t") as w:
        w.prepare(batch.schema, fresh=False)
        put(w, pa.record_batch({"id": [3, 4]}))
        raise RuntimeError("boom")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT id FROM t").fetchall() == [(1,), (2,)]
    with SQLiteWriter(sink(db), "t") as w:
        assert w.read_state("j") == {"k": "v1"}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("upsert", [(1, "new"), (2, "b"), (3, "c")]),
        ("ignore", [(1, "a"), (2, "b"), (3, "c")]),
    ],
)
def test_upsert_and_ignore(tmp_path: Path, mode: str, expected: list) -> None:
    db = tmp_path / "m.db"
    first = pa.record_batch({"id": [1, 2], "v": ["a", "b"]})
    second = pa.record_batch({"id": [1, 3], "v": ["new", "c"]})
    with SQLiteWriter(sink(db, mode=mode, primary_key=["id"]), "t") as w:
        w.prepare(first.schema, fresh=True)
        put(w, first)
        w.commit("j", {})
        put(w, second)
        w.commit("j", {})
    assert sqlite3.connect(db).execute("SELECT id, v FROM t ORDER BY id").fetchall() == expected


@pytest.mark.parametrize("triggers", [False, True], ids=["plain", "triggers"])
def test_rows_the_table_refuses_are_handed_back_and_the_others_written(tmp_path: Path, triggers: bool) -> None:
    """A repeated key under append failed the whole batch with SQLite's words and no row
    named; now the refused rows come back with the reason, and the others are written in
    their order. A table with triggers (they count in SQLite's change count) goes the same."""
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, v TEXT)")
        conn.execute("CREATE TABLE log (id INTEGER)")
        conn.execute("INSERT INTO t VALUES (5, 'old')")
        if triggers:
            conn.execute("CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END")
    batch = pa.record_batch({"id": [1, 2, 1, 3, 5, 2, 4], "v": list("abcdefg")})
    with SQLiteWriter(sink(db, primary_key=["id"]), "t") as w:
        w.prepare(batch.schema, fresh=False)
        encoded = encode(w, batch)
        assert w.write(encoded) == 4
        w.commit("j", {})
    assert [(r.file, r.row, r.stage, r.column, r.reason, r.values) for r in encoded.refused] == [
        ("f", 3, "write", "id", "key 1 is already in table 't' (UNIQUE constraint failed: t.id)", {"id": 1, "v": "c"}),
        ("f", 5, "write", "id", "key 5 is already in table 't' (UNIQUE constraint failed: t.id)", {"id": 5, "v": "e"}),
        ("f", 6, "write", "id", "key 2 is already in table 't' (UNIQUE constraint failed: t.id)", {"id": 2, "v": "f"}),
    ]
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "b"), (3, "d"), (4, "g"), (5, "old")]
    assert sqlite_rows(db, "SELECT id FROM log ORDER BY rowid") == ([(1,), (2,), (3,), (4,)] if triggers else [])


def test_a_refused_composite_key_names_its_columns_and_values(tmp_path: Path) -> None:
    batch = pa.record_batch({"a": [1, 1], "b": ["x", "x"], "v": [1, 2]})
    with SQLiteWriter(sink(tmp_path / "c.db", primary_key=["a", "b"]), "t") as w:
        w.prepare(batch.schema, fresh=True)
        encoded = encode(w, batch)
        assert w.write(encoded) == 1
    [r] = encoded.refused
    assert (r.row, r.column, r.reason) == (
        2,
        "a, b",
        "key (1, 'x') is already in table 't' (UNIQUE constraint failed: t.a, t.b)",
    )


def test_a_table_whose_conflict_clause_rolls_back_still_stops_the_load(tmp_path: Path) -> None:
    """ON CONFLICT ROLLBACK ends the whole transaction: its refused rows cannot be taken out."""
    db = tmp_path / "r.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY ON CONFLICT ROLLBACK, v TEXT)")
    batch = pa.record_batch({"id": [1, 1], "v": ["a", "b"]})
    with (
        pytest.raises(ConstraintError, match="UNIQUE constraint failed") as e,
        SQLiteWriter(sink(db, primary_key=["id"]), "t") as w,
    ):
        w.prepare(batch.schema, fresh=False)
        put(w, batch)
    assert e.value.exit_code == 65 and "upsert" in (e.value.hint or "")
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(0,)]


ENGINES = [
    pytest.param({"engine": "threads"}, id="threads"),
    pytest.param({"engine": "processes", "workers": 1}, id="processes"),
    pytest.param({"engine": "processes", "workers": 1, "part_results": "arrow"}, id="processes-arrow"),
]
DROPPING_TABLES = [
    pytest.param(["CREATE TABLE t (id INTEGER UNIQUE ON CONFLICT IGNORE, n INTEGER CHECK (n > 0))"], id="column"),
    pytest.param(["CREATE TABLE t (id INTEGER, n INTEGER CHECK (n > 0), UNIQUE (id) ON CONFLICT IGNORE)"], id="table"),
    pytest.param(
        [
            "CREATE TABLE t (id INTEGER, n INTEGER CHECK (n > 0))",
            "CREATE TRIGGER skip BEFORE INSERT ON t WHEN EXISTS (SELECT 1 FROM t WHERE id = new.id) "
            "BEGIN SELECT RAISE(IGNORE); END",
        ],
        id="raise-ignore",
    ),
]


@pytest.mark.parametrize("run", ENGINES)
@pytest.mark.parametrize("ddl", DROPPING_TABLES)
def test_a_row_the_table_drops_is_ignored_and_the_refused_row_rejected(
    tmp_path: Path, ddl: list[str], run: dict
) -> None:
    """A row the table dropped without an error (ON CONFLICT IGNORE, RAISE(IGNORE)) added no
    change, so the change count put the refused row one too early: the stored row (2, 7)
    went to the rejects, and the dropped row counted as written."""
    db = tmp_path / "ig.db"
    with sqlite3.connect(db) as conn:
        for sql in ddl:
            conn.execute(sql)
    src = csv_file(tmp_path / "a.csv", "id,n\n1,5\n1,6\n2,7\n3,-1\n4,8\n")
    report = load(src, db, table="t", run_options=run)
    counts = (report.rows_read, report.rows_written, report.rows_rejected, report.rows_ignored)
    assert counts == (5, 3, 1, 1)
    assert "; 1 ignored (key already there, or dropped by the table);" in report.summary()  # not by mode = "ignore"
    assert sqlite_rows(db, "SELECT id, n FROM t ORDER BY rowid") == [(1, 5), (2, 7), (4, 8)]
    [reject] = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert (reject["row"], reject["line"], reject["reason"], reject["values"]) == (
        4,
        5,
        "table 't' refuses the row (CHECK constraint failed: n > 0)",
        {"id": 3, "n": -1},
    )


def test_a_replaced_row_keeps_the_refused_row_named_right(tmp_path: Path) -> None:
    """ON CONFLICT REPLACE stores one row for each bound: the change count still names the refused one."""
    db = tmp_path / "re.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY ON CONFLICT REPLACE, n INTEGER CHECK (n > 0))")
        conn.execute("INSERT INTO t VALUES (1, 9)")
    batch = pa.record_batch({"id": [1, 1, 2, 3, 4], "n": [5, 6, 7, -1, 8]})
    with SQLiteWriter(sink(db), "t") as w:
        w.prepare(batch.schema, fresh=False)
        encoded = encode(w, batch)
        assert w.write(encoded) == 4
        w.commit("j", {})
    assert [(r.row, r.values) for r in encoded.refused] == [(4, {"id": 3, "n": -1})]
    assert sqlite_rows(db, "SELECT id, n FROM t ORDER BY id") == [(1, 6), (2, 7), (4, 8)]


@pytest.mark.parametrize("run", ENGINES)
def test_a_trigger_that_aborts_a_row_rejects_it(tmp_path: Path, run: dict) -> None:
    """RAISE(ABORT) undoes only the row's statement, as a CHECK does: the row is rejected
    (it stopped the load with exit 1, a rerun failing the same way)."""
    db = tmp_path / "ab.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, n INTEGER)")
        conn.execute("CREATE TABLE log (id INTEGER)")
        conn.execute(
            "CREATE TRIGGER positive BEFORE INSERT ON t WHEN new.n < 0 BEGIN SELECT RAISE(ABORT, 'n must be positive'); END"
        )
        conn.execute("CREATE TRIGGER logged AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END")
    src = csv_file(tmp_path / "a.csv", "id,n\n1,5\n2,-1\n3,7\n")
    report = load(src, db, table="t", run_options=run)
    assert (report.rows_read, report.rows_written, report.rows_rejected, report.rows_ignored) == (3, 2, 1, 0)
    assert sqlite_rows(db, "SELECT id, n FROM t ORDER BY rowid") == [(1, 5), (3, 7)]
    assert sqlite_rows(db, "SELECT id FROM log ORDER BY rowid") == [(1,), (3,)]
    [reject] = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert (reject["row"], reject["line"], reject["reason"]) == (
        2,
        3,
        "table 't' refuses the row (trigger 'positive': n must be positive)",
    )


def test_a_trigger_that_aborts_with_a_computed_message_rejects_the_row(tmp_path: Path) -> None:
    """Its message is not in the trigger's text: any message but SQLite's own failures is the trigger's.
    (The SQLite inside ADBC's driver takes an expression in RAISE; Python's may not.)"""
    batch = pa.record_batch({"id": [1, 2, 3], "n": [5, -1, 7]})
    with SQLiteWriter(sink(tmp_path / "cm.db"), "t") as w:
        w._execute("CREATE TABLE t (id INTEGER, n INTEGER)")
        w._execute(
            "CREATE TRIGGER positive BEFORE INSERT ON t WHEN new.n < 0 BEGIN SELECT RAISE(ABORT, 'n is ' || new.n); END"
        )
        w.prepare(batch.schema, fresh=False)
        encoded = encode(w, batch)
        assert w.write(encoded) == 2
        w.commit("j", {})
        assert w._execute("SELECT id FROM t ORDER BY rowid") == [(1,), (3,)]
    assert [(r.row, r.reason) for r in encoded.refused] == [(2, "table 't' refuses the row (n is -1)")]


@pytest.mark.parametrize("kind", ["ROLLBACK", "FAIL"])
@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_trigger_that_rolls_back_stops_the_load_as_a_data_error(tmp_path: Path, kind: str, engine: str) -> None:
    """RAISE(ROLLBACK) ended the transaction, savepoint and all: the load failed on
    "no such savepoint: loader_range", exit 1. Now the trigger's own words, exit 65, and
    on threads the file and line of the row."""
    db = tmp_path / "rb.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, n INTEGER)")
        conn.execute(
            f"CREATE TRIGGER positive BEFORE INSERT ON t WHEN new.n < 0 BEGIN SELECT RAISE({kind}, 'n must be positive'); END"
        )
    src = csv_file(tmp_path / "a.csv", "id,n\n1,5\n2,-1\n")
    with pytest.raises(ConstraintError) as e:
        load(src, db, table="t", run_options={"engine": engine, "workers": 1})
    said = (
        f"(n must be positive), and its trigger 'positive' (RAISE({kind})) ends more than the row's "
        "statement, so the row cannot be rejected alone: the load stops"
    )
    if engine == "threads":
        assert str(e.value) == f"{src}, line 3: table 't' of {db} refuses the row {said}"
    else:
        assert str(e.value) == f"{db}: table 't' refuses a row {said}"
    assert e.value.exit_code == 65
    assert e.value.hint == "fix the rows the table's trigger refuses, then rerun: committed work is kept"
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(0,)]


def test_a_refused_key_in_a_table_whose_name_holds_a_dot(tmp_path: Path) -> None:
    """SQLite names the column "my.t.id": split at the first dot, the key was None and the column "t.id"."""
    db = tmp_path / "dot.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "my.t" (id INTEGER PRIMARY KEY, n INTEGER)')
        conn.execute('INSERT INTO "my.t" VALUES (3, 0)')
    src = csv_file(tmp_path / "c.csv", "id,n\n3,1\n4,2\n")
    report = load(src, db, table="my.t")
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    [reject] = [json.loads(line) for line in rejects_of(db, "table:my.t").read_text().splitlines()]
    assert (reject["row"], reject["column"], reject["reason"]) == (
        1,
        "id",
        "key 3 is already in table 'my.t' (UNIQUE constraint failed: my.t.id)",
    )


def test_refusal_strips_the_table_name_whatever_dots_either_name_holds() -> None:
    assert refusal("UNIQUE constraint failed: My.T.a.b, My.T.c", "my.t", {"a.b": 1, "c": "x"}) == (
        "key (1, 'x') is already in table 'my.t' (UNIQUE constraint failed: My.T.a.b, My.T.c)",
        "a.b, c",
    )
    # a trigger's insert into another table: not this table's key
    assert refusal("UNIQUE constraint failed: log.id", "t", {"id": 1}) == (
        "table 't' refuses the row (UNIQUE constraint failed: log.id)",
        None,
    )


def many_refused(n: int) -> pa.RecordBatch:
    """Keys 0 to n-1, each even one there already, each one repeated at once: 3 of 4 rows refused."""
    ids = [i for i in range(n) for _ in (0, 1)]
    return pa.record_batch({"k": [f"k{i}" for i in ids], "v": list(range(2 * n))})


def load_many(db: Path, batch: pa.RecordBatch, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list, int]:
    """The rows written, those refused (row, values), and how many times the batch was bound."""
    from loader.writers import sqlite as module

    binds = []
    bind = module._Connection.ingest
    monkeypatch.setattr(module._Connection, "ingest", lambda self, *a, **kw: binds.append(a[0]) or bind(self, *a, **kw))
    with SQLiteWriter(sink(db), "t") as w:
        w.prepare(batch.schema, fresh=False)
        encoded = encode(w, batch)
        written = w.write(encoded)
        w.commit("j", {})
    return written, [(r.row, r.values["k"], r.column) for r in encoded.refused], len(binds)


def test_many_refused_keys_are_found_in_bulk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refused row took its own bind and change count (45 s for 100,000 keys already
    there); past a few in a batch, the rest of the batch is sorted out in a few statements."""
    db = tmp_path / "bulk.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, -1)", [(f"k{i}",) for i in range(0, 1000, 2)])
    written, refused, binds = load_many(db, many_refused(1000), monkeypatch)
    assert written == 500 and binds <= 20  # the first refusals one by one, then a stage for the rest
    assert refused == [(r + 1, f"k{r // 2}", "k") for r in range(2000) if r % 4 != 2]
    expected = [(f"k{i}", -1 if i % 2 == 0 else 2 * i) for i in range(1000)]
    assert sqlite_rows(db, "SELECT k, v FROM t ORDER BY k") == sorted(expected)


@pytest.mark.parametrize("run", ENGINES)
def test_a_part_with_many_refused_keys_is_sorted_out_in_bulk(
    tmp_path: Path, run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part the table refused went range by range, each under a savepoint: about two
    statements for each refused row (73 s for 100,000 keys already there)."""
    from loader.writers import sqlite as module

    db = tmp_path / "part.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, -1)", [(f"k{i}",) for i in range(0, 1000, 2)])
    batch = many_refused(1000)
    src = csv_file(
        tmp_path / "m.csv", "k,v\n" + "".join(f"{k},{v}\n" for k, v in zip(*batch.to_pydict().values(), strict=True))
    )
    savepoints = []
    execute = module._Connection.execute

    def counted(self: module._Connection, sql: str, *args: object) -> list:
        if sql.startswith("SAVEPOINT"):
            savepoints.append(sql)
        return execute(self, sql, *args)

    monkeypatch.setattr(module._Connection, "execute", counted)
    report = load(src, db, table="t", run_options=run)
    assert (report.rows_written, report.rows_rejected) == (500, 1500)
    assert len(savepoints) <= 2
    rejects = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert sorted((r["line"], r["values"]["k"]) for r in rejects) == [
        (r + 2, f"k{r // 2}") for r in range(2000) if r % 4 != 2
    ]
    expected = [(f"k{i}", -1 if i % 2 == 0 else 2 * i) for i in range(1000)]
    assert sqlite_rows(db, "SELECT k, v FROM t ORDER BY k") == sorted(expected)


BULK_MISSES = [
    pytest.param("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER CHECK (v <> 1500))", id="another-constraint"),
    pytest.param("CREATE TABLE t (k TEXT UNIQUE COLLATE NOCASE, v INTEGER)", id="collation"),
    pytest.param(
        "CREATE TABLE t (k TEXT COLLATE NOCASE, v INTEGER); CREATE UNIQUE INDEX u ON t (k COLLATE BINARY)",
        id="index-collation",
    ),
]


@pytest.mark.parametrize("ddl", BULK_MISSES)
def test_rows_the_bulk_path_misjudges_go_one_at_a_time(
    tmp_path: Path, ddl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the key's comparison is not the table's own, or another constraint refuses a
    row, SQLite's own check of the bulk insert undoes it: the rows go one at a time, as exact."""
    db = tmp_path / "miss.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(ddl)
        conn.executemany("INSERT INTO t VALUES (?, -1)", [(f"k{i}",) for i in range(0, 1000, 2)])
    batch = many_refused(1000)
    if "COLLATE" in ddl:  # keys that differ only in case: one of them refused or not, by the key's collation
        batch = pa.record_batch(
            {"k": [k.upper() if i % 4 == 1 else k for i, k in enumerate(batch["k"].to_pylist())], "v": batch["v"]}
        )
    written, refused, _ = load_many(db, batch, monkeypatch)
    with sqlite3.connect(":memory:") as conn:  # what row by row gives: SQLite's own answer
        conn.executescript(ddl)
        conn.executemany("INSERT INTO t VALUES (?, -1)", [(f"k{i}",) for i in range(0, 1000, 2)])
        expected = []
        for i, (k, v) in enumerate(zip(batch["k"].to_pylist(), batch["v"].to_pylist(), strict=True)):
            try:
                conn.execute("INSERT INTO t VALUES (?, ?)", (k, v))
            except sqlite3.IntegrityError:
                expected.append((i + 1, k))
        stored = conn.execute("SELECT k, v FROM t ORDER BY rowid").fetchall()
    assert [(row, k) for row, k, _ in refused] == expected
    assert written == len(batch) - len(expected)
    assert sqlite_rows(db, "SELECT k, v FROM t ORDER BY rowid") == stored


def test_replace_drops_on_fresh_run_only(tmp_path: Path) -> None:
    db = tmp_path / "rep.db"
    batch = pa.record_batch({"id": [1]})
    for fresh in (True, True, False):
        with SQLiteWriter(sink(db, mode="replace"), "t") as w:
            w.read_state("j")
            w.prepare(batch.schema, fresh=fresh)
            put(w, batch)
            w.finish()
            w.commit("j", {})
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_new_column_needs_alter(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with SQLiteWriter(sink(db), "t") as w:
        w.prepare(pa.schema([("a", pa.int64())]), fresh=True)
        with pytest.raises(SinkError, match="table 't' has no column 'b'"):
            w.prepare(pa.schema([("a", pa.int64()), ("b", pa.string())]), fresh=False)
    with SQLiteWriter(sink(db, alter=True), "t") as w:
        w.prepare(pa.schema([("a", pa.int64()), ("b", pa.string())]), fresh=False)
        put(w, pa.record_batch({"a": [1], "b": ["x"]}))
        w.commit("j", {})
    assert sqlite3.connect(db).execute("SELECT a, b FROM t").fetchall() == [(1, "x")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_column_named_in_another_non_ascii_case_is_a_new_column(tmp_path: Path, engine: str) -> None:
    """SQLite folds only ASCII letters: ``ÑANDÚ`` is not its column ``ñandú``. Python's
    ``lower`` took it for that column, and SQLite's "no column named ÑANDÚ" ended every run with exit 1."""
    db = tmp_path / "u.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE t (ID INTEGER, "ñandú" TEXT)')
    src = csv_file(tmp_path / "u.csv", "id,ÑANDÚ\n1,x\n")
    run = {"engine": engine, "workers": 1}
    with pytest.raises(SchemaMismatchError) as info:
        load(src, db, table="t", run_options=run)
    assert (info.value.exit_code, info.value.message) == (65, "table 't' has no column 'ÑANDÚ'")
    report = load(src, db, table="t", sink_options={"alter": True}, run_options=run)
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert sqlite_rows(db, 'SELECT ID, "ñandú", "ÑANDÚ" FROM t') == [(1, None, "x")]


@pytest.mark.parametrize("made", [True, False], ids=["existing", "new"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_columns_named_in_two_non_ascii_cases_are_two_columns(tmp_path: Path, made: bool, fmt: str) -> None:
    """``ñandú`` and ``ÑANDÚ`` are two columns to SQLite, each value into its own. Python's ``lower``
    had renamed the second ``ÑANDÚ_2``: exit 65 on a table that has both, a column ``ÑANDÚ_2``
    in a new table."""
    db = tmp_path / "n.db"
    if made:
        with sqlite3.connect(db) as conn:
            conn.execute('CREATE TABLE t (id INTEGER, "ñandú" TEXT, "ÑANDÚ" TEXT)')
        conn.close()
    if fmt == "csv":
        src = csv_file(tmp_path / "e.csv", "id,ñandú,ÑANDÚ\n1,lower,UPPER\n")
    else:
        src = str(tmp_path / "e.parquet")
        pq.write_table(pa.table({"id": [1], "ñandú": ["lower"], "ÑANDÚ": ["UPPER"]}), src)
    report = load(src, db, table="t")
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert sqlite_rows(db, "SELECT name FROM pragma_table_info('t')") == [("id",), ("ñandú",), ("ÑANDÚ",)]
    assert sqlite_rows(db, 'SELECT id, "ñandú", "ÑANDÚ" FROM t') == [(1, "lower", "UPPER")]


def test_indexes_are_created_after_load(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    with SQLiteWriter(sink(db, indexes=[["a", "b"]]), "t") as w:
        w.prepare(pa.schema([("a", pa.int64()), ("b", pa.int64())]), fresh=True)
        w.finish()
    idx = (
        sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't'").fetchall()
    )
    assert idx == [(index_name("t", ["a", "b"]),)]


def test_journal_mode_new_database_rollback_existing_wal_kept(tmp_path: Path) -> None:
    batch = pa.record_batch({"a": [1, 2]})
    fresh, wal = tmp_path / "fresh.db", tmp_path / "wal.db"
    conn = sqlite3.connect(wal)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    for db in (fresh, wal):
        with SQLiteWriter(sink(db), "t") as w:
            w.prepare(batch.schema, fresh=True)
            put(w, batch)
            w.commit("j", {"k": "v"})
    modes = {db.name: sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] for db in (fresh, wal)}
    assert modes == {"fresh.db": "delete", "wal.db": "wal"}
    for db in (fresh, wal):
        assert sqlite3.connect(db).execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (2,)]


def _page_size(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def test_a_new_database_takes_the_page_size_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    batch = pa.record_batch({"a": [1, 2]})
    fresh, small, existing = tmp_path / "fresh.db", tmp_path / "small.db", tmp_path / "existing.db"
    conn = sqlite3.connect(existing)
    conn.execute("CREATE TABLE other (x)")  # SQLite's default page size, fixed once a page is written
    conn.close()
    for db, config in ((fresh, sink(fresh)), (small, sink(small, page_size=4096)), (existing, sink(existing))):
        with SQLiteWriter(config, "t") as w:
            w.prepare(batch.schema, fresh=True)
            put(w, batch)
            w.commit("j", {"k": "v"})
        assert sqlite3.connect(db).execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (2,)]
    assert [_page_size(db) for db in (fresh, small, existing)] == [32768, 4096, 4096]


def test_the_page_cache_is_the_configured_size(tmp_path: Path) -> None:
    """``sink.cache_size`` in bytes becomes SQLite's cache in KiB (a negative cache_size)."""
    for size, pragma in ((4 << 20, -4096), (1 << 20, -1024), (100, -1)):
        with SQLiteWriter(sink(tmp_path / f"c{size}.db", cache_size=size), "t") as w:
            assert w._execute("PRAGMA cache_size") == [(pragma,)]


def test_upserts_keep_sqlites_temp_files_on_disk_beside_the_target(tmp_path: Path) -> None:
    """Each merge's statement journal copies every page it changes: on disk (temp_store FILE,
    next to the target) for upsert and ignore, whose merges change a text key's index all
    over; in memory for append and replace, which stage nothing."""
    for mode, store in (("upsert", 1), ("ignore", 1), ("append", 2), ("replace", 2)):
        keys = {"primary_key": ["u"]} if mode in ("upsert", "ignore") else {}
        with SQLiteWriter(sink(tmp_path / f"{mode}.db", mode=mode, **keys), "t") as w:
            assert w._execute("PRAGMA temp_store") == [(store,)], mode
            if store == 1:
                assert w._execute("PRAGMA temp_store_directory") == [(str(tmp_path),)]


def test_a_statement_that_failed_runs_again_once_it_can(tmp_path: Path) -> None:
    """The writer keeps one ADBC statement: after BEGIN fails on another
    process's lock, the same BEGIN succeeds once the lock is gone, and the
    checkpoint it then commits is there. (Another process: Python's sqlite3 in
    this one would not see the driver's locks.)"""
    db = tmp_path / "l.db"
    holder = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('ROLLBACK')\n"
    )
    with SQLiteWriter(sink(db, busy_timeout=0.05), "t") as w:
        w.prepare(pa.schema([("id", pa.int64())]), fresh=True)
        with subprocess.Popen(
            [sys.executable, "-c", holder, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as other:
            assert other.stdout is not None and other.stdout.readline() == "locked\n"
            with pytest.raises(TargetLockedError):
                w.commit("j", {"k": "1"})
            other.communicate("go\n")
        w.commit("j", {"k": "2"})
        assert w.read_state("j") == {"k": "2"}


def test_a_table_the_writer_made_binds_no_type_of_its_own_on_the_next_run(tmp_path: Path) -> None:
    """``column_types`` reads the declared types back, and every Arrow type fits the column made for it."""
    from loader.schema import declared_pins

    db = tmp_path / "t.db"
    with SQLiteWriter(sink(db), "t") as w:
        assert w.column_types() == {}
        w.prepare(ALL_TYPES.schema, fresh=True)
        declared = w.column_types()
    assert declared == {f.name: sqlite_type(f.type) for f in ALL_TYPES.schema}
    # the next run's types, as the run that made the table recorded them: a date or timestamp is
    # held as the TEXT the writer declared for it because it was recorded so
    types = {f.name: f.type for f in ALL_TYPES.schema}
    assert declared_pins(declared, types, types) == {}


def test_first_values_reads_each_columns_first_value_that_is_not_null(tmp_path: Path) -> None:
    """What tells a table whose timestamps are the loader's text (``declared_pins``); the dry
    run reads it read-only, as the load does."""
    from loader.sinks import sqlite as sqlite_sink
    from loader.writers.sqlite_schema import peek_first_values

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE t (id INTEGER, "a b" TEXT, c TEXT, n INTEGER)')
        conn.executemany("INSERT INTO t VALUES (?, ?, NULL, ?)", [(1, None, None), (2, "x", 5), (3, "y", 6)])
    with SQLiteWriter(sink(db), "t") as w:
        assert w.first_values(["a b", "c", "N"]) == {"a b": "x", "N": 5}  # c: no value, left out
        assert w.first_values([]) == {}
    assert peek_first_values(str(db), "t", ["a b", "c"], sink(db)) == {"a b": "x"}
    assert peek_first_values(str(tmp_path / "none.db"), "t", ["c"], sink(db)) == {}
    assert not (tmp_path / "none.db").exists()
    assert sqlite_sink.SQLiteSink().first_values(sink(db, table="t"), [], ["a b"]) == {"a b": "x"}


def _parquet(path: Path, **columns: pa.Array) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_typed_timestamps_go_into_a_pandas_made_table_in_its_text_form(tmp_path: Path, engine: str) -> None:
    """They went in as the loader's ``2024-06-01T12:00:00.000000``: pandas' read_sql made NaT of
    them (it takes one format from the first row), and comparisons and ORDER BY, done on text,
    put ``T`` after the table's space."""
    pd = pytest.importorskip("pandas")
    from loader.cli import main

    db = tmp_path / "pd.db"
    new_york = pd.Timestamp("2024-01-01 10:00:00", tz="America/New_York")
    frame = pd.DataFrame({"id": [1], "ts": [pd.Timestamp("2024-01-01 10:00:00")], "tz": [new_york]})
    with sqlite3.connect(db) as conn:
        frame.to_sql("t", conn, index=False)  # ts TIMESTAMP: "2024-01-01 10:00:00"; tz: "...-05:00"
    utc = dt.UTC
    src = _parquet(
        tmp_path / "t.parquet",
        id=pa.array([2, 3, 4]),
        ts=pa.array([dt.datetime(2024, 6, 1, 9), dt.datetime(2024, 6, 1, 20), None], pa.timestamp("us")),
        tz=pa.array([dt.datetime(2024, 6, 1, 12, tzinfo=utc)] * 2 + [None], pa.timestamp("us", "America/New_York")),
    )
    assert main(["load", src, str(db), "--table", "t", "--engine", engine, "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, ts, tz FROM t ORDER BY id") == [
        (1, "2024-01-01 10:00:00", "2024-01-01 10:00:00-05:00"),
        (2, "2024-06-01 09:00:00", "2024-06-01 12:00:00+00:00"),  # a zoned value in UTC, in the table's offset style
        (3, "2024-06-01 20:00:00", "2024-06-01 12:00:00+00:00"),
        (4, None, None),
    ]
    assert sqlite_rows(db, "SELECT id FROM t WHERE ts >= '2024-06-01 18:00:00' ORDER BY ts") == [(3,)]
    with sqlite3.connect(db) as conn:
        read = pd.read_sql("SELECT ts, tz FROM t ORDER BY id", conn, parse_dates={"ts": {}, "tz": {"utc": True}})
    assert read["ts"].iloc[:3].notna().all() and read["tz"].iloc[:3].notna().all()
    assert str(read["ts"].iloc[2]) == "2024-06-01 20:00:00"


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_typed_timestamps_go_into_a_sqlalchemy_made_table_in_its_text_form(tmp_path: Path, engine: str) -> None:
    """SQLAlchemy's DateTime text, ``2024-01-01 10:30:00.000000``: a Parquet timestamp and a CSV
    column the job declares a timestamp are written so (a fraction the form has no room for
    keeps its digits); the query ``at >= 18:00`` no longer returns the 09:00 row."""
    from loader.cli import main

    db = tmp_path / "sa.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (id INTEGER NOT NULL, at DATETIME, PRIMARY KEY (id))")
        conn.execute("INSERT INTO events VALUES (1, '2024-01-01 10:30:00.000000')")
    stamps = [dt.datetime(2024, 6, 1, 9), dt.datetime(2024, 6, 1, 20)]
    src = _parquet(tmp_path / "e.parquet", id=pa.array([2, 3]), at=pa.array(stamps, pa.timestamp("s")))
    assert main(["load", src, str(db), "--table", "events", "--engine", engine, "-q"]) == 0
    csv = tmp_path / "e.csv"
    csv.write_text("id,at\n4,2024-06-02T08:00:00.5\n")
    declared = ["--columns", "at=timestamp[ms]", "--engine", engine, "-q"]  # as the first load recorded it
    assert main(["load", str(csv), str(db), "--table", "events", *declared]) == 0
    assert sqlite_rows(db, "SELECT id, at FROM events ORDER BY at") == [
        (1, "2024-01-01 10:30:00.000000"),
        (2, "2024-06-01 09:00:00.000000"),
        (3, "2024-06-01 20:00:00.000000"),
        (4, "2024-06-02 08:00:00.500000"),
    ]
    assert sqlite_rows(db, "SELECT id FROM events WHERE at >= '2024-06-01 18:00:00.000000'") == [(3,), (4,)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_typed_timestamps_take_a_t_form_columns_fraction_digits(tmp_path: Path, engine: str) -> None:
    """A ``T`` form with a fraction (JavaScript's ``toISOString()``: ``.000Z``) was taken for the
    loader's own: microseconds went in as ``.000000Z``, which sorts before ``.000Z`` as text, so
    ``at >= '2024-06-01T09:00:00.000Z'`` missed the 09:00 row. A fraction the form has no room
    for keeps its digits."""
    from loader.cli import main

    db = tmp_path / "js.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, z TIMESTAMP, nine TIMESTAMP, naive TIMESTAMP)")
        row = (0, "2024-01-01T10:00:00.000Z", "2024-01-01T10:00:00.000000000Z", "2024-01-01T10:00:00.000")
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?)", row)
    utc = [dt.datetime(2024, 6, 1, 9, tzinfo=dt.UTC), dt.datetime(2024, 6, 1, 9, 0, 0, 250_001, tzinfo=dt.UTC)]
    naive = [v.replace(tzinfo=None) for v in utc]
    src = _parquet(
        tmp_path / "t.parquet",
        id=pa.array([1, 2]),
        z=pa.array(utc, pa.timestamp("us", "UTC")),
        nine=pa.array(utc, pa.timestamp("us", "UTC")),
        naive=pa.array(naive, pa.timestamp("us")),
    )
    assert main(["load", src, str(db), "--table", "t", "--engine", engine, "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, z, nine, naive FROM t WHERE id > 0 ORDER BY id") == [
        (1, "2024-06-01T09:00:00.000Z", "2024-06-01T09:00:00.000000000Z", "2024-06-01T09:00:00.000"),
        (2, "2024-06-01T09:00:00.250001Z", "2024-06-01T09:00:00.250001000Z", "2024-06-01T09:00:00.250001"),
    ]
    assert sqlite_rows(db, "SELECT id FROM t WHERE z >= '2024-06-01T09:00:00.000Z' ORDER BY id") == [(1,), (2,)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_text_column_of_isoformat_text_keeps_a_csvs_own_text(tmp_path: Path, engine: str) -> None:
    """A first value ``2024-01-01T10:00:00`` (Python's isoformat(), sqlite-utils') was taken for
    the loader's own text: every CSV value was rewritten as ``...T09:00:00.000000``, and the
    application's lookups by its own text found nothing. A Parquet timestamp takes its form."""
    from loader.cli import main

    db = tmp_path / "su.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE [ev] ([id] INTEGER PRIMARY KEY, [at] TEXT, [d] TEXT)")
        conn.execute("INSERT INTO ev VALUES (1, '2024-01-01T10:00:00', '2024-01-01')")
    csv = tmp_path / "ev.csv"
    csv.write_text("id,at,d\n2,2024-06-04 09:00:00,2024-06-04\n3,2024-06-05T10:00:00,2024-06-05\n")
    assert main(["load", str(csv), str(db), "--table", "ev", "--engine", engine, "-q"]) == 0
    # a Parquet file into another table of the same form (this job's checkpoint records ``at`` as text)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE [ev2] ([id] INTEGER PRIMARY KEY, [at] TEXT)")
        conn.execute("INSERT INTO ev2 VALUES (1, '2024-01-01T10:00:00')")
    stamps = [dt.datetime(2024, 6, 6, 9), dt.datetime(2024, 6, 6, 9, 0, 0, 250000)]
    src = _parquet(tmp_path / "ev2.parquet", id=pa.array([2, 3]), at=pa.array(stamps, pa.timestamp("us")))
    assert main(["load", src, str(db), "--table", "ev2", "--engine", engine, "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, at, d FROM ev ORDER BY id") == [
        (1, "2024-01-01T10:00:00", "2024-01-01"),
        (2, "2024-06-04 09:00:00", "2024-06-04"),
        (3, "2024-06-05T10:00:00", "2024-06-05"),
    ]
    assert sqlite_rows(db, "SELECT id FROM ev WHERE at = '2024-06-05T10:00:00'") == [(3,)]
    assert sqlite_rows(db, "SELECT id, at FROM ev2 ORDER BY id") == [
        (1, "2024-01-01T10:00:00"),
        (2, "2024-06-06T09:00:00"),
        (3, "2024-06-06T09:00:00.250000"),  # as isoformat() writes it
    ]


def csv_file(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def latin1_inbox(tmp_path: Path) -> tuple[Path, str]:
    """An inbox of ``a.csv`` and a file named in Latin-1 bytes (``caf\\xe9.csv``, as a copy from
    a Windows share names it), whose second row is rejected as an int; and that name as Python
    holds it (``os.fsdecode``: the byte as a surrogate)."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id,v\n1,2\n")
    latin = os.path.join(os.fsencode(inbox), b"caf\xe9.csv")
    with open(latin, "wb") as fh:
        fh.write(b"id,v\n2,3\n3,x\n")
    return inbox, os.fsdecode(latin)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_file_named_in_bytes_that_are_not_utf8_loads_resumes_and_plans_alike(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], engine: str
) -> None:
    """Binding the Latin-1 name's checkpoint key failed (pyarrow cannot encode its surrogate):
    exit 1, nothing of any file committed, at every run, while the dry run said ok. Its key is
    held as its JSON string (LevelDB's spelling), read back as the same name; the plan prints
    the name as its bytes on a stdout that refuses surrogates (a pytest capture, a non-C locale)."""
    from loader.cli import main

    inbox, name = latin1_inbox(tmp_path)
    db = tmp_path / "t.db"
    args = ["load", str(inbox / "*.csv"), str(db), "--table", "t", "--columns", "v=int", "--engine", engine]
    assert main(args) == 0
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(1, 2), (2, 3)]
    keys = sqlite_rows(db, "SELECT key FROM _loader_state WHERE key LIKE '%file:%' ORDER BY key")
    assert keys == [(json.dumps("file:" + name),), ("file:" + str(inbox / "a.csv"),)]
    reject = json.loads((tmp_path / "t.db.table-t.rejects.jsonl").read_bytes().decode("utf-8"))
    assert (reject["file"], reject["row"], reject["values"]) == (name, 2, {"id": "3", "v": "x"})
    capsysbinary.readouterr()
    assert main([*args, "--dry-run"]) == 0
    assert b"  " + os.fsencode(name) + b": loaded already: skipped" in capsysbinary.readouterr().out.splitlines()
    assert main(args) == 0
    assert capsysbinary.readouterr().err.startswith(b"ok: 0 rows written to ")
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(2,)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_target_named_in_bytes_that_are_not_utf8_loads_and_resumes(tmp_path: Path, engine: str) -> None:
    """A database path in Latin-1 bytes (``d\xe9/out\xe9.db``): ADBC encodes its filename as
    UTF-8, which the byte's surrogate is not (exit 1 at every run, while the dry run said ok).
    It opens as a ``file:`` URI of the path's bytes; an upsert's temp files, whose directory a
    pragma names in text, stay where SQLite keeps them; a worker's part files open by bytes."""
    folder = os.path.join(os.fsencode(tmp_path), b"d\xe9")
    os.mkdir(folder)
    db = os.fsdecode(os.path.join(folder, b"out\xe9.db"))
    src = csv_file(tmp_path / "a.csv", "id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(3000)))
    run = {"engine": engine, "workers": 2, "part_size": 16 << 10}
    for mode, table in (("append", "t"), ("upsert", "u")):
        sink = {"mode": mode, "primary_key": ["id"]}
        for rerun in (False, True):
            report = load(src, db, table=table, sink_options=sink, run_options=run)
            assert (report.status, report.rows_written, report.files_skipped) == ("ok", 0 if rerun else 3000, rerun)
    assert os.listdir(folder) == [b"out\xe9.db"]
    assert sqlite_rows(db, "SELECT count(*), sum(v) FROM t") == [(3000, 2999 * 3000)]
    assert sqlite_rows(db, "SELECT count(*), sum(v) FROM u") == [(3000, 2999 * 3000)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_null_primary_key_is_rejected_not_stored_under_a_rowid(tmp_path: Path, engine: str) -> None:
    """An INTEGER PRIMARY KEY is the rowid: a null id took the next rowid, which the row
    with id 2 then overwrote, and the report counted 3 written."""
    db = tmp_path / "t2.db"
    src = csv_file(tmp_path / "n2.csv", "id,name\n1,a\n,b\n2,c\n")
    report = load(
        src,
        db,
        table="t",
        sink_options={"mode": "upsert", "primary_key": ["id"]},
        run_options={"engine": engine, "workers": 1},
    )
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    assert sqlite_rows(db, "SELECT id, name FROM t ORDER BY id") == [(1, "a"), (2, "c")]
    [reject] = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert (reject["reason"], reject["column"], reject["line"]) == ("key column 'id' is null", "id", 3)
    assert sqlite_rows(db, "SELECT \"notnull\" FROM pragma_table_info('t') WHERE name = 'id'") == [(1,)]


def test_a_key_named_in_another_case_is_not_null_in_the_created_table(tmp_path: Path) -> None:
    """``--primary-key ID`` over a column ``id``: the key check matched in any case, the
    created table's NOT NULL only in the exact spelling."""
    db = tmp_path / "k.db"
    src = csv_file(tmp_path / "k.csv", "id,name\n1,a\n2,b\n")
    report = load(src, db, table="t", sink_options={"mode": "upsert", "primary_key": ["ID"]})
    assert (report.status, report.rows_written) == ("ok", 2)
    assert sqlite_rows(db, "SELECT name, \"notnull\", pk FROM pragma_table_info('t') ORDER BY cid") == [
        ("id", 1, 1),
        ("name", 0, 0),
    ]


@pytest.mark.parametrize("mode", ["upsert", "ignore"])
def test_a_null_in_a_composite_key_is_not_added_again_on_each_rerun(tmp_path: Path, mode: str) -> None:
    db = tmp_path / "c.db"
    src = csv_file(tmp_path / "c.csv", "a,b,v\n1,1,x\n1,,y\n")
    for _ in range(2):
        report = load(
            src, db, table="t", sink_options={"mode": mode, "primary_key": ["a", "b"]}, run_options={"restart": True}
        )
        assert report.rows_rejected == 1
    assert sqlite_rows(db, "SELECT a, b, v FROM t") == [(1, 1, "x")]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_null_in_a_not_null_column_of_the_table_rejects_its_row(tmp_path: Path, engine: str) -> None:
    """A table made elsewhere with NOT NULL columns: a null failed the whole load (65,
    "NOT NULL constraint failed"); now its row goes to the rejects and the others load.
    A column the input lacks takes its default; an INTEGER PRIMARY KEY takes a null as SQLite does."""
    db = tmp_path / "nn.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, Name TEXT NOT NULL, note TEXT, at TEXT NOT NULL DEFAULT 'now')"
        )
    src = csv_file(tmp_path / "nn.csv", "id,name,note\n1,a,x\n2,,y\n,c,z\n")
    report = load(src, db, table="t", run_options={"engine": engine, "workers": 1})
    assert (report.status, report.rows_read, report.rows_written, report.rows_rejected) == ("ok", 3, 2, 1)
    assert sqlite_rows(db, "SELECT id, name, note, at FROM t ORDER BY id") == [
        (1, "a", "x", "now"),
        (2, "c", "z", "now"),
    ]
    [reject] = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert (reject["line"], reject["column"], reject["reason"]) == (
        3,
        "Name",
        "table 't' refuses the row (NOT NULL constraint failed: t.Name)",
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_not_null_columns_that_replace_a_null_and_a_replaced_table_take_their_nulls(
    tmp_path: Path, engine: str
) -> None:
    """NOT NULL ON CONFLICT REPLACE stores the column's default for a null; mode replace
    makes the table anew, so the old table's NOT NULL no longer applies."""
    db = tmp_path / "r.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, n INTEGER NOT NULL ON CONFLICT REPLACE DEFAULT 0)")
        conn.execute("CREATE TABLE u (a INTEGER, x INTEGER NOT NULL)")
    src = csv_file(tmp_path / "nn.csv", "id,n\n1,5\n2,\n3,7\n")
    report = load(src, db, table="t", run_options={"engine": engine, "workers": 1})
    assert (report.rows_written, report.rows_rejected) == (3, 0)
    assert sqlite_rows(db, "SELECT id, n FROM t ORDER BY id") == [(1, 5), (2, 0), (3, 7)]
    src = csv_file(tmp_path / "u.csv", "a,x\n1,\n2,5\n")
    report = load(src, db, table="u", sink_options={"mode": "replace"}, run_options={"engine": engine, "workers": 1})
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    assert sqlite_rows(db, "SELECT a, x FROM u ORDER BY a") == [(1, None), (2, 5)]


def test_a_not_null_column_without_a_default_that_the_input_lacks_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "nd.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT NOT NULL)")
    src = csv_file(tmp_path / "nd.csv", "id\n1\n")
    with pytest.raises(SchemaMismatchError) as info:
        load(src, db, table="t")
    assert info.value.exit_code == 65
    assert info.value.message == (
        "table 't' has column 'name' NOT NULL without a default, and the input has no such column"
    )
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(0,)]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("mode", ["ignore", "upsert"])
def test_ignore_and_upsert_reject_a_row_another_constraint_refuses(tmp_path: Path, mode: str, engine: str) -> None:
    """INSERT OR IGNORE dropped a row its CHECK refused, counted as a key already there; then
    the CHECK failed the whole load (65). Now that row goes to the rejects and the others load."""
    db = tmp_path / "nn.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT CHECK (name <> 'bad'))")
        conn.execute("INSERT INTO t VALUES (1, 'old')")
    src = csv_file(tmp_path / "nn.csv", "id,name\n1,a\n2,bad\n3,c\n")
    options = {"mode": mode, "primary_key": ["id"]}
    report = load(src, db, table="t", sink_options=options, run_options={"engine": engine, "workers": 1})
    counts = (report.rows_read, report.rows_written, report.rows_rejected, report.rows_ignored)
    assert counts == ((3, 1, 1, 1) if mode == "ignore" else (3, 2, 1, 0))
    kept = "old" if mode == "ignore" else "a"
    assert sqlite_rows(db, "SELECT id, name FROM t ORDER BY id") == [(1, kept), (3, "c")]
    [reject] = [json.loads(line) for line in rejects_of(db).read_text().splitlines()]
    assert (reject["row"], reject["line"], reject.get("column"), reject["reason"], reject["values"]) == (
        2,
        3,
        "name",
        "table 't' refuses the row (CHECK constraint failed: name <> 'bad')",
        {"id": 2, "name": "bad"},
    )


@pytest.mark.parametrize(
    ("index", "why"),
    [("(email) WHERE deleted = 0", "partial (it has a WHERE clause)"), ("(lower(email))", "on an expression")],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_an_upsert_key_whose_only_unique_index_is_partial_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], index: str, why: str, dry_run: bool
) -> None:
    """The message said the table had no UNIQUE index on (email), and hinted to create one,
    where the user had one: a partial or expression index cannot serve as the key."""
    from loader.cli import main

    db = tmp_path / "p.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(f"CREATE TABLE t (email TEXT, deleted INTEGER); CREATE UNIQUE INDEX ue ON t {index};")
    conn.close()
    src = csv_file(tmp_path / "u.csv", "email,deleted\na@x,0\n")
    args = ["load", src, str(db), "--table", "t", "--mode", "upsert", "--primary-key", "email"]
    capsys.readouterr()
    assert main([*args, *(["--dry-run"] if dry_run else [])]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "loader: error: sink.primary_key: table 't' has no PRIMARY KEY or UNIQUE index on (email), which mode "
        f"'upsert' needs: its UNIQUE index 'ue' is {why}, which SQLite cannot match an upsert's conflict against"
    )


@pytest.mark.parametrize("mode", ["upsert", "ignore"])
def test_upsert_and_ignore_need_the_key_unique_in_an_existing_table(tmp_path: Path, mode: str) -> None:
    """Without it, ignore added every row again and upsert failed on SQLite's words, exit 1."""
    db = tmp_path / "e1.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'old')")
    src = csv_file(tmp_path / "u.csv", "id,name\n1,a\n2,b\n")
    with pytest.raises(ConfigError) as info:
        load(src, db, table="t", sink_options={"mode": mode, "primary_key": ["id"]})
    assert (info.value.exit_code, info.value.message) == (
        2,
        f"sink_options.primary_key: table 't' has no PRIMARY KEY or UNIQUE index on (id), which mode {mode!r} needs",
    )
    assert (
        info.value.hint
        == 'create one (CREATE UNIQUE INDEX ... ON "t" ("id")), or load with mode = "append" (sink_options={"mode": "append"})'
    )
    assert sqlite_rows(db, "SELECT id, name FROM t") == [(1, "old")]
    from loader import Pipeline
    from loader.config import job_from_dict

    job = job_from_dict(
        {"source": {"path": str(src)}, "sink": {"path": str(db), "table": "t", "mode": mode, "primary_key": ["id"]}}
    )
    with pytest.raises(ConfigError) as planned:  # --dry-run and validate say so too, reading only
        Pipeline(job).plan()
    assert planned.value.message == info.value.message.replace("sink_options.", "sink.")  # a job file's key there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.db", "u.csv"]


def test_a_unique_index_on_the_key_columns_in_any_order_is_the_key(tmp_path: Path) -> None:
    db = tmp_path / "e2.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b INTEGER, v TEXT)")
        conn.execute("CREATE UNIQUE INDEX u ON t (b, a)")
        conn.execute("INSERT INTO t VALUES (1, 1, 'old')")
    src = csv_file(tmp_path / "c.csv", "a,b,v\n1,1,new\n1,2,y\n")
    report = load(src, db, table="t", sink_options={"mode": "upsert", "primary_key": ["a", "b"]})
    assert report.rows_written == 2
    assert sqlite_rows(db, "SELECT a, b, v FROM t ORDER BY b") == [(1, 1, "new"), (1, 2, "y")]


def indexes(db: Path) -> list[tuple[str, list[str]]]:
    """Each index the loader could have made: its table and columns."""
    conn = sqlite3.connect(db)
    try:
        names = conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return sorted((t, [r[2] for r in conn.execute(f"PRAGMA index_info({quote(n)})")]) for n, t in names)
    finally:
        conn.close()


def test_index_names_never_collide(tmp_path: Path) -> None:
    """``a_b`` and ``a, b`` were both named idx_t_a_b, as was table ``t_a`` on ``b``: one index was never made."""
    db = tmp_path / "o.db"
    src = csv_file(tmp_path / "f.csv", "a,b,a_b\n1,2,3\n")
    load(src, db, table="t", sink_options={"indexes": [["a_b"], ["a", "b"]]})
    load(src, db, table="t_a", sink_options={"indexes": [["b"]]})
    assert indexes(db) == [("t", ["a", "b"]), ("t", ["a_b"]), ("t_a", ["b"])]
    assert index_name("t", ["a_b"]) != index_name("t", ["a", "b"]) != index_name("t_a", ["b"])


def test_an_index_on_the_same_columns_under_another_name_is_kept(tmp_path: Path) -> None:
    """An older loader's index (idx_t_a) or the user's own is not made again on the next run."""
    db = tmp_path / "o.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b INTEGER)")
        conn.execute('CREATE INDEX "idx_t_a" ON t (a)')
    src = csv_file(tmp_path / "f.csv", "a,b\n1,2\n")
    load(src, db, table="t", sink_options={"indexes": [["a"], ["b"]]})
    load(src, db, table="t", sink_options={"indexes": [["a"], ["b"]]})
    assert sqlite_rows(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't' ORDER BY name") == [
        ("idx_t_a",),
        (index_name("t", ["b"]),),
    ]


def test_an_index_name_taken_on_other_columns_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    name = index_name("t", ["a"])
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b INTEGER)")
        conn.execute(f"CREATE INDEX {quote(name)} ON t (b)")
    src = csv_file(tmp_path / "f.csv", "a,b\n1,2\n")
    with pytest.raises(ConfigError) as info:
        load(src, db, table="t", sink_options={"indexes": [["a"]]})
    assert (info.value.exit_code, info.value.message) == (
        78,
        f"sink_options.indexes: cannot index 't' (a): the name {name!r} is taken by another object on table 't'",
    )
    assert indexes(db) == [("t", ["b"])]


@pytest.mark.parametrize(
    ("run", "staged"),
    [
        *(pytest.param(p.values[0], False, id=p.id) for p in ENGINES),
        pytest.param({"engine": "threads"}, True, id="staged"),
    ],
)
def test_a_value_a_strict_table_refuses_rejects_its_row_naming_the_column(
    tmp_path: Path, run: dict, staged: bool
) -> None:
    """A STRICT column refusing a value of another type ("cannot store TEXT value in BLOB
    column t.b") ended the run with exit 1, naming neither row nor column."""
    db = tmp_path / "s.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, b BLOB) STRICT")
    src = csv_file(tmp_path / "s.csv", "id,n,b\n1,5,x\n2,6,\n3,abc,\n4,8,\n")
    report = load(src, db, table="t", transforms=[Rename(columns={"n": "n"})] if staged else [], run_options=run)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 2, 2)
    assert sqlite_rows(db, "SELECT id, n, b FROM t ORDER BY id") == [(2, 6, None), (4, 8, None)]
    rejects = sorted((json.loads(line) for line in rejects_of(db).read_text().splitlines()), key=lambda r: r["line"])
    assert [(r["line"], r.get("column")) for r in rejects] == [(2, "b"), (4, "n")]
    assert rejects[0]["reason"] == (
        "column 'b' of STRICT table 't' is BLOB and takes no TEXT value (cannot store TEXT value in BLOB column t.b)"
    )


def _planned(src: str, db: Path, table: str, **sink_keys: object) -> None:
    """``--dry-run``'s checks (``Pipeline.plan``), reading the target only."""
    from loader import Pipeline
    from loader.config import job_from_dict

    Pipeline(job_from_dict({"source": {"path": src}, "sink": {"path": str(db), "table": table, **sink_keys}})).plan()


VIEWS = [
    pytest.param([], id="view"),
    pytest.param(
        ["CREATE TRIGGER ti INSTEAD OF INSERT ON t BEGIN INSERT INTO base VALUES (new.id, new.n); END"],
        id="instead-of-insert",
    ),
]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("mode", ["append", "replace"])
@pytest.mark.parametrize("triggers", VIEWS)
def test_a_view_named_like_the_table_is_refused_up_front(
    tmp_path: Path, triggers: list[str], mode: str, engine: str
) -> None:
    """A view failed at the first insert with exit 1 ("failed to prepare: cannot modify t"),
    ``replace`` at DROP TABLE; one with an INSTEAD OF INSERT trigger took every row but counted
    each as ignored (SQLite counts no change an INSTEAD OF trigger makes). A view is refused
    before any row, and left as it is."""
    db = tmp_path / "v.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE base (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.execute("CREATE VIEW t AS SELECT * FROM base")
        for sql in triggers:
            conn.execute(sql)
    src = csv_file(tmp_path / "a.csv", "id,n\n1,5\n2,6\n")
    with pytest.raises(ConfigError) as info:
        load(src, db, table="T", sink_options={"mode": mode}, run_options={"engine": engine, "workers": 1})
    message = f"'T' in {db} is a view, not a table: the loader loads into tables only"
    assert (info.value.exit_code, info.value.message) == (2, "table: " + message)  # load()'s argument
    assert sqlite_rows(db, "SELECT type, name FROM sqlite_master WHERE name IN ('t', 'base') ORDER BY name") == [
        ("table", "base"),
        ("view", "t"),
    ]
    assert sqlite_rows(db, "SELECT count(*) FROM base") == [(0,)]
    with pytest.raises(ConfigError) as planned:
        _planned(src, db, "T", mode=mode)
    assert planned.value.message == "sink.table: " + message


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("alter", [False, True])
def test_an_input_column_the_table_generates_is_refused_up_front(tmp_path: Path, alter: bool, engine: str) -> None:
    """A generated column is not in ``PRAGMA table_info``: the load said the table has no
    column 's' (use --alter), and with --alter SQLite's "duplicate column name" was exit 1."""
    db = tmp_path / "g.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE g (a INT, b INT, s INT GENERATED ALWAYS AS (a + b) STORED, v INT AS (a * 2))")
    for header, name in (("a,b,s", "s"), ("a,b,V", "v")):
        src = csv_file(tmp_path / "g.csv", f"{header}\n1,2,99\n")
        with pytest.raises(SchemaMismatchError) as info:
            load(src, db, table="g", sink_options={"alter": alter}, run_options={"engine": engine, "workers": 1})
        message = f"table 'g' has column {name!r} GENERATED ALWAYS: SQLite computes its values, and the input's cannot be written"
        assert (info.value.exit_code, info.value.message) == (65, message)
        assert info.value.hint == 'leave the column out of the input (a [[transform]] type = "drop"), then rerun'
        with pytest.raises(SchemaMismatchError) as planned:
            _planned(src, db, "g", alter=alter)
        assert planned.value.message == message
    report = load(csv_file(tmp_path / "ok.csv", "a,b\n1,2\n"), db, table="g")
    assert report.rows_written == 1
    assert sqlite_rows(db, "SELECT a, b, s, v FROM g") == [(1, 2, 3, 2)]


def test_the_drivers_words_around_sqlites_message_are_dropped() -> None:
    from loader.writers.sqlite_errors import sqlite_message

    said = 'INTERNAL: failed to prepare: cannot modify t because it is a view\nquery was: INSERT INTO main . "t"'
    assert sqlite_message(RuntimeError(said)) == "cannot modify t because it is a view"


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_alter_adds_a_column_without_values_to_a_strict_table_as_any(tmp_path: Path, engine: str) -> None:
    """A column without values has no declared type, which a STRICT table refuses: "missing
    datatype for t.c" was exit 1 on every rerun."""
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, a TEXT) STRICT")
    src = csv_file(tmp_path / "a.csv", "id,a,c\n1,x,\n")
    report = load(src, db, table="t", sink_options={"alter": True}, run_options={"engine": engine, "workers": 1})
    assert report.rows_written == 1
    assert sqlite_rows(db, "SELECT name, type FROM pragma_table_info('t')") == [
        ("id", "INTEGER"),
        ("a", "TEXT"),
        ("c", "ANY"),
    ]
    later = load(csv_file(tmp_path / "b.csv", "id,a,c\n2,y,7\n"), db, table="t")
    assert later.rows_written == 1
    assert sqlite_rows(db, "SELECT id, a, c, typeof(c) FROM t ORDER BY id") == [
        (1, "x", None, "null"),
        (2, "y", 7, "integer"),
    ]


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("alter", [False, True])
def test_a_virtual_table_lacking_an_input_column_is_refused_up_front(tmp_path: Path, alter: bool, engine: str) -> None:
    """SQLite alters no virtual table: with --alter "virtual tables may not be altered" was
    exit 1 on every rerun, and without it the hint said to set --alter."""
    db = tmp_path / "f.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(a)")
    src = csv_file(tmp_path / "b.csv", "a,b\nx,y\n")
    message = "table 't' has no column 'b', and it is a virtual table, to which SQLite adds no columns"
    hint = (
        'leave the column out of the input (a [[transform]] type = "drop"), or make the table anew with it, then rerun'
    )
    with pytest.raises(SchemaMismatchError) as info:
        load(src, db, table="t", sink_options={"alter": alter}, run_options={"engine": engine, "workers": 1})
    assert (info.value.exit_code, info.value.message, info.value.hint) == (65, message, hint)
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(0,)]
    with pytest.raises(SchemaMismatchError) as planned:
        _planned(src, db, "t", alter=alter)
    assert (planned.value.message, planned.value.hint) == (message, hint)


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_table_named_like_an_index_is_refused_up_front(tmp_path: Path, engine: str) -> None:
    """CREATE TABLE failed with "there is already an index named ix", exit 1 on every rerun."""
    db = tmp_path / "i.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a TEXT)")
        conn.execute("CREATE INDEX ix ON t (a)")
    src = csv_file(tmp_path / "b.csv", "a,b\nx,y\n")
    message = f"'IX' in {db} is the name of an index, which no table can take"
    with pytest.raises(ConfigError) as info:
        load(src, db, table="IX", sink_options={"mode": "replace"}, run_options={"engine": engine, "workers": 1})
    assert (info.value.exit_code, info.value.message, info.value.hint) == (
        2,
        "table: " + message,
        "name another table (table=)",  # load()'s keyword, as load() took it
    )
    assert sqlite_rows(db, "SELECT type, name FROM sqlite_master WHERE tbl_name = 't'") == [
        ("table", "t"),
        ("index", "ix"),
    ]
    with pytest.raises(ConfigError) as planned:
        _planned(src, db, "IX")
    assert planned.value.message == "sink.table: " + message


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("sqlite_export", []),
        ("sqlite_foo", ["--table", "sqlite_foo"]),
        ("SQLite_Master", ["--table", "SQLite_Master", "--alter"]),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_table_name_sqlite_reserves_is_refused_by_dry_run_and_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, flags: list[str], dry_run: bool
) -> None:
    """Names starting with sqlite_ are SQLite's: --dry-run said ok, the load exited 1 ("object
    name reserved for internal use"), or into sqlite_master 65 with a hint to set --alter."""
    from loader.cli import main

    src = csv_file(tmp_path / "sqlite_export.csv", "id,v\n1,x\n")
    db = tmp_path / "s.db"
    code = main(["load", src, str(db), *flags, *(["--dry-run"] if dry_run else [])])
    assert code == 2
    assert capsys.readouterr().err.splitlines()[:2] == [
        f"loader: error: sink.table: {name!r} is a reserved table name: "
        "SQLite keeps names starting with sqlite_ for its own tables",
        "  hint: name another table (--table); without one the table is named after the first input file",
    ]
    assert not db.exists()


@pytest.mark.parametrize(
    "said",
    [
        "virtual tables may not be altered",
        "there is already an index named ix",
        "object name reserved for internal use: sqlite_x",
        "error in table t after add column: missing datatype for t.c",
    ],
)
def test_sqlite_refusing_the_schema_is_a_data_error_not_a_rerun(said: str) -> None:
    """Messages SQLite gives for the target's schema as it stands were exit 1 (rerun, it
    resumes), which fails the same way every time."""
    from loader.writers.sqlite_errors import db_error

    error = db_error(RuntimeError(f"INTERNAL: failed to execute: {said}"), "t.db", 30.0, " (while running 'X')")
    assert (type(error), error.exit_code) == (SchemaMismatchError, 65)
    assert str(error) == f"t.db: the target's schema refuses the load (SQLite: {said}) (while running 'X')"
    assert error.hint == "change the table or the job (--table, --alter), then rerun: committed work is kept"


@pytest.mark.parametrize("table", ["main.t", "TEMP.t"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_schema_qualified_table_name_is_refused_not_taken_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, dry_run: bool
) -> None:
    """``--table main.t`` made a new table literally named "main.t" beside ``t``, exit 0."""
    from loader.cli import main

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, x INTEGER)")
    src = csv_file(tmp_path / "a.csv", "id,x\n1,5\n")
    code = main(["load", src, str(db), "--table", table, *(["--dry-run"] if dry_run else [])])
    assert code == 2
    assert capsys.readouterr().err.splitlines()[:2] == [
        f"loader: error: sink.table: {table!r} is taken literally, as one table name: the loader loads into "
        f"the main schema, and would make a table named {table!r} there",
        "  hint: name the table alone (--table t)",
    ]
    assert sqlite_rows(db, "SELECT name FROM sqlite_master") == [("t",)]
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(0,)]


NFC, NFD = "caf\u00e9", "cafe\u0301"  # one name, as Windows and as macOS write it


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_column_the_table_has_in_another_unicode_normalization_is_spelled_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    """The table's ``café`` is NFC, the file's NFD: "table 't' has no column 'café'" looked
    wrong, and its hint's --alter added a second ``café``. Both are spelled out, the message
    says how they differ, and the hint renames the column; that rename loads it."""
    from loader.cli import main

    db = tmp_path / "n.db"
    assert load(csv_file(tmp_path / "n1.csv", f"id,{NFC}\n1,a\n"), db, table="t").rows_written == 1
    src = csv_file(tmp_path / "n2.csv", f"id,{NFD}\n2,b\n")
    capsys.readouterr()
    assert main(["load", src, str(db), "--table", "t", *(["--dry-run"] if dry_run else [])]) == 65
    assert capsys.readouterr().err.splitlines() == [
        f"loader: error: {src}, column '{NFD}': table 't' has no column 'cafe\\u0301': it has 'caf\\xe9',"
        " which differs only in Unicode normalization",
        '  hint: rename the column to the table\'s spelling ([[transform]] type = "rename", columns = '
        '{ "cafe\\u0301" = "caf\\u00e9" }), then rerun: --alter would add a second column that looks the same',
    ]
    (tmp_path / "r.toml").write_text(
        f'[source]\npath = "{src}"\n[sink]\npath = "{db}"\ntable = "t"\n'
        '[[transform]]\ntype = "rename"\ncolumns = { "cafe\\u0301" = "caf\\u00e9" }\n',
        encoding="utf-8",
    )
    assert main(["run", str(tmp_path / "r.toml"), "-q"]) == 0
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY id") == [(1, "a"), (2, "b")]


@pytest.mark.parametrize(("header", "key"), [("Name ", "Name "), ("name\t", "name\t")])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_column_the_table_has_without_the_spaces_around_it_is_said_with_a_rename_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str, key: str, fmt: str
) -> None:
    """A spreadsheet's header ``Name `` for the table's ``name`` was told to --alter, which added
    a second, near-identical column and split the rows between the two."""
    from loader.cli import main

    db = tmp_path / "s.db"
    assert load(csv_file(tmp_path / "s1.csv", "id,name\n1,a\n"), db, table="t").rows_written == 1
    src = tmp_path / f"s2.{fmt}"
    if fmt == "csv":
        src.write_text(f"id,{header}\n2,b\n", encoding="utf-8")
    else:
        src.write_text(json.dumps({"id": 2, key: "b"}) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["load", str(src), str(db), "--table", "t"]) == 65
    assert capsys.readouterr().err.splitlines() == [
        f"loader: error: {src}, column {key!r}: table 't' has no column {key!r}: it has 'name', "
        "which differs only in the spaces around it",
        '  hint: rename the column to the table\'s spelling ([[transform]] type = "rename", columns = '
        f'{{ {json.dumps(key)} = "name" }}), then rerun: --alter would add a second column that looks the same',
    ]


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("events.csv", "events"),  # no other dot: as before
        ("events.csv.gz", "events"),
        ("Events.CSV.GZ", "Events"),
        ("events.dat", "events"),  # read with --format csv
        ("sales.2024-01.csv", "sales.2024-01"),
        ("sales.2024-01.tsv.gz", "sales.2024-01"),
        (".hidden.csv", ".hidden"),
        (".hidden", ".hidden"),
    ],
)
def test_the_default_table_is_the_first_files_name_without_its_extension(tmp_path: Path, name: str, table: str) -> None:
    """As docs/job-files.md says: the name was cut at its first dot (two months' files both went
    into ``sales``), and one starting with a dot was kept whole (``.hidden.csv``)."""
    import gzip

    data = b"id,v\n1,a\n".replace(b",", b"\t" if ".tsv" in name else b",")
    (tmp_path / name).write_bytes(gzip.compress(data) if name.lower().endswith(".gz") else data)
    db = tmp_path / "o.db"
    report = load(str(tmp_path / name), db, source_options={"format": "csv"})
    assert report.rows_written == 1
    assert sqlite_rows(
        db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'"
    ) == [(table,)]
    assert sqlite_rows(db, f"SELECT * FROM {quote(table)}") == [(1, "a")]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_default_table_name_that_is_not_utf8_is_refused_by_the_load_and_the_dry_run(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], dry_run: bool
) -> None:
    """``caf\\xe9.csv`` without ``--table``: its table ``caf\\udce9`` cannot be named to SQLite,
    and the load exited 1 (internal error, "rerun and it resumes") at every run while the dry
    run said ok. Both refuse it now (exit 2) and name the way out; ``--table`` loads it."""
    from loader.cli import main

    latin = os.path.join(os.fsencode(tmp_path), b"caf\xe9.csv")
    with open(latin, "wb") as fh:
        fh.write(b"id,amount\n1,2.5\n")
    db = tmp_path / "out.db"
    assert main(["load", os.fsdecode(latin), str(db), *(["--dry-run"] if dry_run else [])]) == 2
    assert capsysbinary.readouterr().err.decode().splitlines() == [
        "loader: error: sink.table: 'caf\\udce9' holds bytes that are not UTF-8, and SQLite names a table in UTF-8 "
        "text (without sink.table, the table is named after the first input file)",
        "  hint: name the table (--table NAME)",
    ]
    assert not db.exists()
    assert main(["load", os.fsdecode(latin), str(db), "--table", "t"]) == 0
    assert sqlite_rows(db, "SELECT * FROM t") == [(1, 2.5)]


def test_a_dotted_table_name_that_names_no_schema_is_one_name(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    report = load(csv_file(tmp_path / "a.csv", "id,x\n1,5\n"), db, table="other.t")
    assert report.rows_written == 1
    assert sqlite_rows(db, 'SELECT * FROM "other.t"') == [(1, 5)]


def test_a_table_dropped_under_its_checkpoint_is_loaded_again_whole(tmp_path: Path) -> None:
    """The checkpoint lives in its own table: after ``DROP TABLE t`` the rerun said
    "1 already loaded" and exited 0 without the table."""
    from tests.conftest import write_csv

    src = write_csv(tmp_path / "a.csv", ["id", "v"], [[1, "a"], ["x", "b"]])
    db = tmp_path / "o.db"
    options = {"source_options": {"columns": {"id": "int64"}}}
    first = load(str(src), str(db), table="t", **options)  # type: ignore[arg-type]
    assert (first.rows_written, first.rows_rejected) == (1, 1)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE t")
    conn.close()
    again = load(str(src), str(db), table="t", **options)  # type: ignore[arg-type]
    assert (again.files_loaded, again.files_skipped, again.rows_written, again.rows_rejected) == (1, 0, 1, 1)
    assert again.summary().endswith(
        "WARNING started over: the checkpoint tells of 1 rows written to table 't', which is not there (dropped since)"
    )
    assert len(Path(again.rejects_path).read_text().splitlines()) == 1  # the row rejected again, once
    assert sqlite_rows(db, "SELECT id, v FROM t") == [(1, "a")]
    assert load(str(src), str(db), table="t", **options).checkpoint_stale is None  # type: ignore[arg-type]


@pytest.mark.parametrize("alter", [True, False])
def test_a_parts_side_table_with_a_column_the_table_lacks_adds_it_with_alter(tmp_path: Path, alter: bool) -> None:
    """An engine's part whose side table took on a column (a row function's) as its rows came:
    the copy adds it as its declared type (no type: ANY in a STRICT table), or refuses it."""
    side = tmp_path / "part.db"
    conn = sqlite3.connect(side)
    conn.execute('CREATE TABLE t (id INTEGER, x INTEGER, "n" )')
    conn.executemany("INSERT INTO t VALUES (?, ?, NULL)", [(1, 10), (2, 20)])
    conn.commit()
    conn.close()
    target = tmp_path / "t.db"
    sqlite3.connect(target).execute("CREATE TABLE t (id INTEGER) STRICT").connection.close()
    with SQLiteWriter(SinkConfig(path=str(target), table="t", alter=alter), "t") as writer:
        writer.prepare(pa.schema({"id": pa.int64()}), fresh=True)
        if not alter:
            with pytest.raises(SchemaMismatchError, match=r"^column 'x': table 't' has no column 'x'$"):
                writer.merge_part([str(side)], 2, "j", lambda *_: {})
            return
        writer.merge_part([str(side)], 2, "j", lambda *_: {})
    assert sqlite_rows(target, "SELECT name, type FROM pragma_table_info('t')") == [
        ("id", "INTEGER"),
        ("x", "INTEGER"),
        ("n", "ANY"),
    ]
    assert sqlite_rows(target, "SELECT * FROM t ORDER BY id") == [(1, 10, None), (2, 20, None)]


def _row_function_job(tmp_path: Path, function: str, engine: str, *, alter: bool = True, **run: Any) -> JobConfig:
    """Eight rows through a row function of tests/engine_stages.py, three to a chunk, one open
    transaction (``sink.batch_size`` 50,000) for all of them."""
    src = csv_file(tmp_path / "s.csv", "id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 9)))
    return JobConfig(
        source=SourceConfig(path=[src]),
        sink=SinkConfig(path=str(tmp_path / "t.db"), table="t", alter=alter),
        transform=[{"type": "python", "function": f"tests.engine_stages:{function}", "mode": "row"}],
        run=RunConfig(engine=engine, chunk_size=3, workers=1, **run),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_column_a_stage_first_makes_inside_an_open_transaction_is_added(tmp_path: Path, engine: str) -> None:
    """The columns were checked only at a transaction's start: a column first made by a later
    chunk in it was "table main.t has no column named vat", exit 1, with or without --alter."""
    report = Pipeline(_row_function_job(tmp_path, "vat_after_five", engine), allow_python=True).run()
    assert (report.rows_written, report.rows_rejected) == (8, 0)
    db = tmp_path / "t.db"
    assert sqlite_rows(db, "SELECT id, vat FROM t WHERE vat IS NOT NULL ORDER BY id") == [(6, 12), (7, 14), (8, 16)]
    assert sqlite_rows(db, "SELECT type FROM pragma_table_info('t') WHERE name = 'vat'") == [("INTEGER",)]
    (tmp_path / "no").mkdir()
    job = _row_function_job(tmp_path / "no", "vat_after_five", engine, alter=False)
    with pytest.raises(SchemaMismatchError) as info:
        Pipeline(job, allow_python=True).run()
    assert (info.value.exit_code, str(info.value)) == (
        65,
        f"{job.source.path[0]}, column 'vat': table 't' has no column 'vat'",
    )


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_column_added_while_it_has_no_value_takes_later_values_as_they_are(tmp_path: Path, engine: str) -> None:
    """A chunk whose new column was null throughout added it as TEXT (the encoder's type for
    no value), and SQLite stored the later integers as text ('12')."""
    Pipeline(_row_function_job(tmp_path, "vat_null_until_six", engine), allow_python=True).run()
    db = tmp_path / "t.db"
    assert sqlite_rows(db, "SELECT id, vat, typeof(vat) FROM t WHERE id > 5 ORDER BY id") == [
        (6, 12, "integer"),
        (7, 14, "integer"),
        (8, 16, "integer"),
    ]
    assert sqlite_rows(db, "SELECT type FROM pragma_table_info('t') WHERE name = 'vat'") == [("",)]


@pytest.mark.parametrize("side", ["database", "arrow"])
def test_parts_whose_stage_types_an_added_column_apart_stop_the_load(tmp_path: Path, side: str) -> None:
    """Each part's stage types a new column by its own first values: a part of integers added
    ``zip`` INTEGER, and SQLite turned the next part's text '00004' into 4, exit 0."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,name\n1,a\n2,b\n3,c\n", encoding="utf-8")
    second.write_text("id,name\n4,d\n5,e\n", encoding="utf-8")
    config = JobConfig(
        source=SourceConfig(path=[str(first), str(second)]),
        sink=SinkConfig(path=str(tmp_path / "t.db"), table="t", alter=True),
        transform=[{"type": "python", "function": "tests.engine_stages:zip_text_after_three", "mode": "row"}],
        run=RunConfig(engine="processes", workers=1, part_results=side),  # type: ignore[arg-type]
    )
    with pytest.raises(SchemaMismatchError) as info:
        Pipeline(config, allow_python=True).run()
    assert (info.value.exit_code, info.value.file, info.value.column) == (65, str(second), "zip")
    assert info.value.message == (
        "table 't' has column 'zip' INTEGER, added for the values a stage made first, "
        "and these rows have TEXT values for it, which SQLite would convert"
    )
    assert sqlite_rows(tmp_path / "t.db", "SELECT id, zip FROM t ORDER BY id") == [(1, 12341), (2, 12342), (3, 12343)]


def test_small_files_in_one_transaction_read_the_tables_columns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files that share a commit and have the same columns: the table is read (its kind, columns,
    constraints) for the first, and cannot change inside the transaction for the rest; a file
    with another column is checked again and adds it."""
    asked: list[str] = []
    real = SQLiteWriter._execute

    def execute(self: SQLiteWriter, sql: str, *args: Any) -> Any:
        asked.append(sql)
        return real(self, sql, *args)

    monkeypatch.setattr(SQLiteWriter, "_execute", execute)
    (tmp_path / "in").mkdir()
    for i in range(20):
        (tmp_path / "in" / f"f{i:02d}.csv").write_text(f"id,v\n{i},x{i}\n", encoding="utf-8")
    (tmp_path / "in" / "f99.csv").write_text("id,v,w\n99,y,1.5\n", encoding="utf-8")
    db = tmp_path / "t.db"
    report = load(str(tmp_path / "in" / "*.csv"), str(db), table="t", sink_options={"alter": True})
    assert (report.status, report.rows_written) == ("ok", 21)
    assert sum(sql.startswith("PRAGMA table_xinfo") for sql in asked) == 3  # the first file, the commit's start, f99
    assert sqlite3.connect(db).execute("SELECT id, v, w FROM t WHERE id >= 19 ORDER BY id").fetchall() == [
        (19, "x19", None),
        (99, "y", 1.5),
    ]


# --------------------------------------------------------------- an atomic replace

_OLD = [(100, "old"), (101, "old"), (102, "old")]


def _old_table(db: Path) -> None:
    """Table t with the rows of an earlier load, a view and another table's trigger naming it."""
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", _OLD)
        conn.execute("CREATE VIEW tv AS SELECT id, v FROM t")
        conn.execute("CREATE TABLE audit (id INTEGER)")
        conn.execute(
            "CREATE TRIGGER audit_t AFTER INSERT ON audit BEGIN INSERT INTO t (id, v) VALUES (new.id, 'x'); END"
        )
    conn.close()


def test_a_reader_sees_the_old_table_whole_until_the_replace_commits(tmp_path: Path) -> None:
    """A replace loads into a stage table: another connection reads the old table, whole, after
    each of its commits and through the swap's open transaction, and the new table, whole,
    once the final checkpoint commits; a view of the table and another table's trigger that
    names it read and write the new one; ``sink.indexes`` index it."""
    db = tmp_path / "r.db"
    _old_table(db)
    reader = sqlite3.connect(db, isolation_level=None)

    def seen() -> list[tuple[Any, ...]]:
        return reader.execute("SELECT id, v FROM tv ORDER BY id").fetchall()

    with SQLiteWriter(sink(db, mode="replace", indexes=[["id"]]), "t") as w:
        w.read_state("table:t")
        w.clear_state("table:t")
        batch = pa.record_batch({"id": [1, 2], "v": ["a", "b"]})
        w.prepare(batch.schema, fresh=True)
        put(w, batch)
        w.commit("table:t", {})
        assert seen() == _OLD
        put(w, pa.record_batch({"id": [3], "v": ["c"]}))
        w.commit("table:t", {})
        assert seen() == _OLD
        w.finish()  # the swap, in the transaction the final checkpoint commits
        assert seen() == _OLD
        w.commit("table:t", {"job": '{"status": "complete"}'})
    assert seen() == [(1, "a"), (2, "b"), (3, "c")]
    reader.close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO audit VALUES (4)")
    names = sqlite_rows(db, "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
    assert names == [
        ("table", "_loader_state"),
        ("table", "audit"),
        ("index", index_name("t", ["id"])),
        ("index", "sqlite_autoindex__loader_state_1"),
        ("table", "t"),
    ]
    assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == [(1, "a"), (2, "b"), (3, "c"), (4, "x")]
    assert sqlite_rows(db, "SELECT key FROM _loader_state ORDER BY key") == [("job",)]  # no stage table told of


_KILL = """
import os, sys
from loader import load
from loader.writers import SQLiteWriter

moment, at, src, db, engine = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
commit, swap = SQLiteWriter.commit, SQLiteWriter._swap
count = 0

def killing_commit(self, job, state):
    global count
    count += job != "part"  # a worker's side database commits as job "part"
    if moment == "before" and count == at:
        os._exit(9)  # its rows staged, not committed
    commit(self, job, state)
    if moment == "after" and count == at or moment == "final" and '"complete"' in state.get("job", ""):
        os._exit(9)

def killing_swap(self):
    swap(self)
    os._exit(9)  # the old table dropped and the new one renamed, uncommitted

SQLiteWriter.commit = killing_commit
if moment == "swap":
    SQLiteWriter._swap = killing_swap
load(src, db, table="t", sink_options={"mode": "replace", "primary_key": ["id"], "batch_size": 2},
     run_options={"engine": engine, "workers": 1, "chunk_size": 2})
sys.exit(3)  # not killed
"""

_NEW = [(i, f"n{i}") for i in range(1, 12)]


def _new_inputs(root: Path) -> str:
    """Four files of new rows, the third repeating key 1 (a row the table refuses)."""
    root.mkdir()
    rows = [*_NEW[:6], (1, "again"), *_NEW[6:]]
    for n, part in enumerate((rows[0:3], rows[3:6], rows[6:9], rows[9:])):
        (root / f"{n}.csv").write_text("id,v\n" + "".join(f"{i},{v}\n" for i, v in part), encoding="utf-8")
    return str(root / "*.csv")


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize(
    "kills",
    [
        [("before", 1)],
        [("after", 1)],
        [("after", 2), ("before", 1)],
        [("swap", 0)],
        [("after", 1), ("swap", 0), ("swap", 0)],
        [("final", 0)],  # the swap committed with the final checkpoint: a rerun is a new replace
    ],
)
def test_a_replace_killed_anywhere_keeps_the_old_table_then_its_rerun_swaps_once(
    tmp_path: Path, engine: str, kills: list[tuple[str, int]]
) -> None:
    """SIGKILL-like deaths (``os._exit``, the transaction left open for SQLite's journal to undo)
    before the first commit, after some, and inside the swap: the table keeps its old rows
    whole, and the rerun finishes the staged load and swaps once: every new row once, the
    refused row rejected once, no stage table or its checkpoint entry left."""
    db = tmp_path / "k.db"
    _old_table(db)
    src = _new_inputs(tmp_path / "in")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for moment, at in kills:
        p = subprocess.run(
            [sys.executable, "-c", _KILL, moment, str(at), src, str(db), engine],
            env=env,
            capture_output=True,
            text=True,
        )
        assert p.returncode == 9, p.stderr
        assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == (_NEW if moment == "final" else _OLD)
    report = load(
        src,
        db,
        table="t",
        sink_options={"mode": "replace", "primary_key": ["id"], "batch_size": 2},
        run_options={"engine": engine, "workers": 1, "chunk_size": 2},
    )
    assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == _NEW
    tables = sqlite_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [("_loader_state",), ("audit",), ("t",)]
    assert sqlite_rows(db, "SELECT count(*) FROM _loader_state WHERE key = 'replacing'") == [(0,)]
    lines = rejects_of(db).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and "key 1 is already in table 't' (UNIQUE constraint failed: t.id)" in lines[0]
    assert report.files_loaded + report.files_skipped == 4


_KILL_AT = """
import json, os, sys
from loader import load
from loader.writers import SQLiteWriter

moment, at, kwargs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
commit, count = SQLiteWriter.commit, 0

def killing_commit(self, job, state):
    global count
    count += job != "part"
    if moment == "before" and count == at:
        os._exit(9)
    commit(self, job, state)
    if moment == "after" and count == at:
        os._exit(9)

SQLiteWriter.commit = killing_commit
load(**kwargs)
sys.exit(3)  # not killed
"""


def _killed_load(moment: str, at: int, **kwargs: Any) -> None:
    """``load(**kwargs)`` in a child killed (``os._exit``) ``moment`` its ``at``-th commit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-c", _KILL_AT, moment, str(at), json.dumps(kwargs)]
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    assert p.returncode == 9, p.stderr


def _replace_of(src: str, db: Path, table: str = "t", engine: str = "threads", **run: Any) -> dict[str, Any]:
    return {
        "source": src,
        "target": str(db),
        "table": table,
        "sink_options": {"mode": "replace", "primary_key": ["id"], "batch_size": 2},
        "run_options": {"engine": engine, "chunk_size": 2, **run},
    }


def _tables(db: Path) -> list[tuple[Any, ...]]:
    return sqlite_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("how", ["restart", "stage dropped", "table dropped"])
def test_a_replace_that_starts_over_loads_into_its_stage_table_on_every_engine(
    tmp_path: Path, engine: str, how: str
) -> None:
    """hunt24a #1: an engine's coordinator reads the checkpoint again after it prepared the
    table: a replace that started over there (--restart of one killed mid-way, a stage table
    or table dropped since) kept its stage table, not the old table, to load into."""
    db = tmp_path / "k.db"
    _old_table(db)
    (tmp_path / "in").mkdir()
    for n in range(3):
        rows = "".join(f"{i},n{i}\n" for i in range(n * 4 + 1, n * 4 + 5))
        (tmp_path / "in" / f"{n}.csv").write_text("id,v\n" + rows, encoding="utf-8")
    replace = _replace_of(str(tmp_path / "in" / "*.csv"), db, engine=engine)
    replace["sink_options"].pop("primary_key")  # a part's rows go in by a plain copy
    if how == "table dropped":
        load(**replace)
        with sqlite3.connect(db) as conn:
            conn.execute("DROP VIEW tv")
            conn.execute("DROP TRIGGER audit_t")
            conn.execute("DROP TABLE t")
        conn.close()
    else:
        _killed_load("after", 1, **replace)
    if how == "stage dropped":
        (stage,) = [n for (n,) in _tables(db) if n.startswith("_loader_replace_")]
        with sqlite3.connect(db) as conn:
            conn.execute(f'DROP TABLE "{stage}"')
        conn.close()
    replace["run_options"]["restart"] = how == "restart"
    report = load(**replace)
    assert sqlite_rows(db, "SELECT id, v FROM t ORDER BY id") == [(i, f"n{i}") for i in range(1, 13)]
    assert _tables(db) == [("_loader_state",), ("audit",), ("t",)]
    if how == "stage dropped":
        assert report.checkpoint_stale is not None and "stage table '_loader_replace_t_" in report.checkpoint_stale


def test_a_replace_resumed_under_another_spelling_of_the_table_goes_on_into_its_stage_table(tmp_path: Path) -> None:
    """hunt24a #2: the stage table recorded in the checkpoint is found whatever the ASCII case
    the rerun spells the table in (one table, one job): the rest of the rows go there, and
    the swap puts them all in the table's place."""
    db = tmp_path / "k.db"
    _old_table(db)
    src = _new_inputs(tmp_path / "in")
    _killed_load("after", 2, **_replace_of(src, db))
    load(**_replace_of(src, db, table="T"))
    assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == _NEW
    assert _tables(db) == [("T",), ("_loader_state",), ("audit",)]
    assert sqlite_rows(db, "SELECT count(*) FROM _loader_state WHERE key = 'replacing'") == [(0,)]


def test_a_replace_resumed_from_a_legacy_stage_table_name_goes_on_into_it(tmp_path: Path) -> None:
    """A checkpoint of a loader that named the stage table after the table alone
    (``_loader_replace_t``): its rerun goes on into that table."""
    db = tmp_path / "k.db"
    _old_table(db)
    src = _new_inputs(tmp_path / "in")
    _killed_load("after", 2, **_replace_of(src, db))
    (stage,) = [n for (n,) in _tables(db) if n.startswith("_loader_replace_")]
    with sqlite3.connect(db) as conn:
        conn.execute(f'ALTER TABLE "{stage}" RENAME TO _loader_replace_t')
        conn.execute("UPDATE _loader_state SET value = '_loader_replace_t' WHERE key = 'replacing'")
    conn.close()
    load(**_replace_of(src, db))
    assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == _NEW
    assert _tables(db) == [("_loader_state",), ("audit",), ("t",)]


def test_two_jobs_replacing_one_table_each_have_their_own_stage_table(tmp_path: Path) -> None:
    """hunt24a #3: job B's fresh replace does not drop job A's stage table: A's rerun swaps in
    its own rows, all of them, and none of B's."""
    db = tmp_path / "k.db"
    _old_table(db)
    a = _new_inputs(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "0.csv").write_text("id,v\n201,b\n202,b\n203,b\n204,b\n", encoding="utf-8")
    _killed_load("after", 1, **_replace_of(a, db, job="A"))
    _killed_load("after", 1, **_replace_of(str(tmp_path / "b" / "*.csv"), db, job="B"))
    load(**_replace_of(a, db, job="A"))
    assert sqlite_rows(db, "SELECT id, v FROM tv ORDER BY id") == _NEW
    stages = [n for (n,) in _tables(db) if n.startswith("_loader_replace_t_")]
    assert len(stages) == 1  # B's, which its rerun goes on with
    assert sqlite_rows(db, f'SELECT id FROM "{stages[0]}" ORDER BY id') == [(201,), (202,)]


def test_an_upsert_rerun_of_an_unfinished_replace_names_its_stage_table(tmp_path: Path) -> None:
    """hunt24a #9: the stage table (made by a replace without a key) lacks the key, not the
    table: the message says so, and how to go on."""
    db = tmp_path / "k.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.close()
    src = _new_inputs(tmp_path / "in")
    kwargs = _replace_of(src, db)
    kwargs["sink_options"] = {"mode": "replace", "batch_size": 2}
    _killed_load("after", 1, **kwargs)
    kwargs["sink_options"] = {"mode": "upsert", "primary_key": ["id"], "batch_size": 2}
    with pytest.raises(ConfigError) as info:
        load(**kwargs)
    assert str(info.value).startswith(
        "sink_options.primary_key: the replace of table 't' under way (stopped before its end) loads into its "
        "stage table "
        "'_loader_replace_t_"
    )
    assert 'rerun with mode = "replace"' in (info.value.hint or "")


def _rejecting_inputs(root: Path) -> str:
    """Three files of ids 1..12, row 6's ``v`` not a number: one reject, in the second file."""
    root.mkdir()
    for n in range(3):
        rows = "".join(f"{i},{'oops' if i == 6 else i * 10}\n" for i in range(n * 4 + 1, n * 4 + 5))
        (root / f"{n}.csv").write_text("id,v\n" + rows, encoding="utf-8")
    return str(root / "*.csv")


def _append_of(src: str, db: Path, engine: str, **run: Any) -> dict[str, Any]:
    return {
        "source": src,
        "target": str(db),
        "table": "t",
        "source_options": {"columns": {"v": "int64"}},
        "sink_options": {"batch_size": 2},
        "run_options": {"engine": engine, "chunk_size": 2, "workers": 1, **run},
    }


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("how", ["killed", "locked"])
def test_a_restart_whose_first_commit_fails_keeps_the_reject_file(tmp_path: Path, engine: str, how: str) -> None:
    """hunt24a #4: a --restart killed before its first commit, or refused it by a reader's lock
    (exit 75, "rerun to resume"), leaves the reject file as the checkpoint it did not forget
    counts it: the rerun loads nothing twice and the rejected row stays in the file. A restart
    that commits drops the old lines, as before."""
    db = tmp_path / "r.db"
    src = _rejecting_inputs(tmp_path / "in")
    load(**_append_of(src, db, engine))
    rejects = rejects_of(db)
    before = rejects.read_bytes()
    assert before.count(b"\n") == 1
    if how == "killed":
        _killed_load("before", 1, **_append_of(src, db, engine, restart=True))
    else:
        # another process's read transaction (a dashboard's): COMMIT waits for it, in vain
        hold = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN'); c.execute('SELECT count(*) FROM t').fetchall(); print(flush=True); sys.stdin.read()"
        with subprocess.Popen(
            [sys.executable, "-c", hold, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as reader:
            assert reader.stdout is not None and reader.stdin is not None
            reader.stdout.readline()
            with pytest.raises(TargetLockedError):
                load(
                    **dict(
                        _append_of(src, db, engine, restart=True), sink_options={"batch_size": 2, "busy_timeout": 0.01}
                    )
                )
            reader.stdin.close()
    assert rejects.read_bytes() == before  # its new file waits beside it: the next run removes it
    report = load(**_append_of(src, db, engine))
    assert report.rows_written == 0 and rejects.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".restart")]
    report = load(**_append_of(src, db, engine, restart=True))  # a restart that commits: the old line goes
    assert rejects.read_bytes() == before and report.rows_rejected == 1
    assert sqlite_rows(db, "SELECT count(*) FROM t") == [(22,)]  # append: the restart loads the rows again
