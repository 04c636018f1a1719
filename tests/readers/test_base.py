"""What the readers share: view-layout and extension-type columns in their plain types."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from loader.cli import main
from loader.config import SourceConfig
from loader.errors import EXIT_DATAERR, ConfigError
from loader.readers import open_reader
from loader.readers.base import declared_types, dedupe_names, plain_array, plain_columns, spelled, unknown_declared
from loader.types import plain_type
from tests.reliability_util import cli


def views() -> pa.Array:
    """Lists by offset and size, out of order and overlapping, one null with a size."""
    values = pa.array(["a", "b", "c", "d"], pa.string_view())
    offsets, sizes = pa.array([2, 0, 1, 0, 3], pa.int32()), pa.array([2, 1, 3, 2, 0], pa.int32())
    return pa.ListViewArray.from_arrays(offsets, sizes, values, mask=pa.array([False, False, False, True, False]))


def test_a_list_view_becomes_a_list_of_the_same_values() -> None:
    arr = views().slice(1)
    out = plain_array(arr)
    out.validate(full=True)
    assert out.type == pa.list_(pa.large_string())
    assert out.to_pylist() == arr.to_pylist() == [["a"], ["b", "c", "d"], None, []]


def test_a_struct_and_a_large_list_keep_their_rows_and_nulls() -> None:
    inner = views()
    rec = pa.StructArray.from_arrays([inner, pa.array(["p", None, "q", "r", "s"], pa.string_view())], ["v", "s"])
    rec = pa.StructArray.from_arrays(
        rec.flatten(), fields=list(rec.type), mask=pa.array([True, False, False, False, False])
    )
    large = pa.array([["x"], None, [], ["y", "z"], ["w"]], pa.large_list_view(pa.binary_view()))
    batch = pa.RecordBatch.from_arrays([rec, large], ["rec", "large"]).slice(1)
    out = plain_columns(batch)
    out.validate(full=True)
    assert out.schema == pa.schema(
        [
            ("rec", pa.struct([("v", pa.list_(pa.large_string())), ("s", pa.large_string())])),
            ("large", pa.large_list(pa.large_binary())),
        ]
    )
    assert out.to_pylist() == batch.to_pylist()


def test_a_dictionary_of_string_view_keeps_its_indices() -> None:
    cat = pa.DictionaryArray.from_arrays(pa.array([1, None, 0], pa.uint32()), pa.array(["x", "y"], pa.string_view()))
    out = plain_array(cat)
    assert out.type == pa.dictionary(pa.uint32(), pa.large_string())
    assert out.indices.to_pylist() == [1, None, 0] and out.to_pylist() == ["y", None, "x"]


def test_a_batch_without_view_types_is_returned_as_it_is() -> None:
    batch = pa.record_batch({"s": ["a"], "l": [["b"]], "d": pa.array(["c"]).dictionary_encode()})
    assert plain_columns(batch) is batch


def uuids() -> pa.Array:
    storage = pa.array([b"\x01" * 16, None, b"\x02" * 16, b"\xff" * 16], pa.binary(16))
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def test_a_uuid_is_its_16_bytes_and_a_bool8_a_bool() -> None:
    bool8 = pa.ExtensionArray.from_storage(pa.bool8(), pa.array([0, 1, None, -3], pa.int8()))
    out = plain_columns(pa.RecordBatch.from_arrays([uuids(), bool8], ["u", "b"]))
    assert out.schema == pa.schema([("u", pa.binary(16)), ("b", pa.bool_())])
    assert out.column("u").to_pylist() == [b"\x01" * 16, None, b"\x02" * 16, b"\xff" * 16]
    assert out.column("b").to_pylist() == [False, True, None, True]  # any value but zero is true


def test_uuids_inside_lists_structs_and_maps_are_their_bytes() -> None:
    u = uuids()
    offsets, mask = pa.array([0, 1, 1, 4], pa.int32()), pa.array([False, True, False])
    nested = {
        "l": pa.ListArray.from_arrays(offsets, u, mask=mask),
        "f": pa.FixedSizeListArray.from_arrays(u, 2, mask=pa.array([False, True])),
        "s": pa.StructArray.from_arrays([u], ["x"], mask=pa.array([False, False, True, False])),
        "m": pa.MapArray.from_arrays(offsets, pa.array(["a", "b", "c", "d"]), u, mask=mask),
    }
    for arr in nested.values():
        for part in (arr, arr.slice(1)):
            out = plain_array(part)
            out.validate(full=True)
            assert "extension" not in str(out.type)
            assert _bytes(out.to_pylist()) == _bytes(part.to_pylist())


def _bytes(value: object) -> object:
    """``value`` with each UUID as its 16 bytes, as the plain array holds it."""
    if isinstance(value, list):
        return [_bytes(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_bytes(v) for v in value)
    if isinstance(value, dict):
        return {k: _bytes(v) for k, v in value.items()}
    return value.bytes if isinstance(value, uuid.UUID) else value


KELVIN = "\u212a"  # the Kelvin sign: Python's lower() makes it an ASCII k, SQLite keeps it apart


def test_a_repeated_name_is_one_sqlite_repeats_folding_ascii_letters_only() -> None:
    """``ñandú`` beside ``ÑANDÚ`` and ``k`` beside the Kelvin sign are two columns to SQLite:
    Python's ``lower`` had renamed the second of each ``_2``."""
    names = ["ñandú", "ÑANDÚ", "k", KELVIN, "Code", "CODE"]
    assert dedupe_names(names) == ["ñandú", "ÑANDÚ", "k", KELVIN, "Code", "CODE_2"]


def test_a_new_name_for_a_repeat_is_none_the_header_holds_later() -> None:
    """``X`` beside ``x`` had taken ``x_2`` from the real column after it, which then became
    ``x_2_2``; now every real column keeps its name and the repeat takes a free suffix."""
    assert dedupe_names(["x", "X", "x_2"]) == ["x", "X_3", "x_2"]
    assert dedupe_names(["x", "X", "X_2", "x_3"]) == ["x", "X_4", "X_2", "x_3"]
    assert dedupe_names(["x", "x_2", "x"]) == ["x", "x_2", "x_3"]
    assert dedupe_names(["", "column_1"]) == ["column_1_2", "column_1"]


def test_a_job_recorded_with_the_earlier_names_keeps_them() -> None:
    """Columns recorded as earlier versions named ``x,X,x_2`` keep that naming for the header;
    recorded under the new names, or unrelated ones, the header gets the new names."""
    header = ["x", "X", "x_2"]
    assert dedupe_names(header, ["x", "X_2", "x_2_2"]) == ["x", "X_2", "x_2_2"]
    assert dedupe_names(header, ["x", "X_2", "other"]) == ["x", "X_3", "x_2"]  # x_2_2 was never made
    assert dedupe_names(header, ["x", "X_3", "x_2"]) == ["x", "X_3", "x_2"]
    assert dedupe_names(header, ["id", "v"]) == ["x", "X_3", "x_2"]
    assert dedupe_names(["", "column_1"], ["column_1", "column_1_2"]) == ["column_1", "column_1_2"]


def _as_an_earlier_version_left_it(db: Path) -> None:
    """The job's checkpoint as versions before the naming rule was recorded wrote it: no ``names``."""
    with sqlite3.connect(db) as conn:
        (entry,) = conn.execute("SELECT value FROM _loader_state WHERE key = 'job'").fetchone()
        job = json.loads(entry)
        assert job.pop("names") == 2
        conn.execute("UPDATE _loader_state SET value = ? WHERE key = 'job'", (json.dumps(job),))


@pytest.mark.parametrize("alter", [False, True])
def test_a_later_run_loads_into_the_columns_an_earlier_version_named(tmp_path: Path, alter: bool) -> None:
    """A job an earlier version loaded ``x,X,x_2`` with recorded the columns ``x, X_2, x_2_2``
    (made here by a file of those names, its checkpoint then made an earlier version's): a new
    file of that header loads each value under its column. With the new names, X's value went
    into a new ``X_3`` and the real x_2's into ``X_2`` (SQLite matches names in any case) with
    --alter, and the load stopped with 65 without."""
    (tmp_path / "d1.csv").write_text("x,X_2,x_2_2\n1,a,p\n", encoding="utf-8")
    (tmp_path / "d2.csv").write_text("x,X,x_2\n2,b,q\n", encoding="utf-8")
    db = tmp_path / "o.db"
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "t", "-q"]) == 0
    _as_an_earlier_version_left_it(db)
    more = ["--alter"] if alter else []
    assert main(["load", str(tmp_path / "d2.csv"), str(db), "--table", "t", "-q", *more]) == 0
    with sqlite3.connect(db) as conn:
        cur = conn.execute("SELECT * FROM t ORDER BY rowid")
        assert [d[0] for d in cur.description] == ["x", "X_2", "x_2_2"]
        assert cur.fetchall() == [(1, "a", "p"), (2, "b", "q")]


def _write_empty_named(src: Path, fmt: str, row: tuple[int, str, str]) -> None:
    """A file of the columns ``id``, an empty name, and ``column_2`` (pandas' ``to_csv`` with its index)."""
    if fmt == "csv":
        src.write_text("id,,column_2\n{},{},{}\n".format(*row), encoding="utf-8")
    elif fmt == "jsonl":
        src.write_text(json.dumps(dict(zip(["id", "", "column_2"], row, strict=True))) + "\n", encoding="utf-8")
    else:
        pq.write_table(pa.table([[v] for v in row], names=["id", "", "column_2"]), src)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_real_column_named_as_an_empty_name_would_be_keeps_its_values(tmp_path: Path, fmt: str) -> None:
    """``id,,column_2``: the empty name becomes ``column_2_2`` and the real ``column_2`` keeps
    its values, as ``inspect`` shows, on the first run and a later one. The load took the earlier
    versions' names (its own settled names are theirs in another order): ``column_2`` held the
    empty name's values."""
    db = tmp_path / "o.db"
    for n, row in enumerate([(1, "empty-1", "real-1"), (2, "empty-2", "real-2")]):
        src = tmp_path / f"d{n}.{fmt}"
        _write_empty_named(src, fmt, row)
        assert main(["load", str(src), str(db), "--table", "t", "-q"]) == 0
    with sqlite3.connect(db) as conn:
        cur = conn.execute("SELECT * FROM t ORDER BY rowid")
        assert [d[0] for d in cur.description] == ["id", "column_2_2", "column_2"]
        assert cur.fetchall() == [(1, "empty-1", "real-1"), (2, "empty-2", "real-2")]
        (entry,) = conn.execute("SELECT value FROM _loader_state WHERE key = 'job'").fetchone()
    assert json.loads(entry)["names"] == 2


def test_a_leveldb_key_over_a_real_column_named_as_an_empty_name_would_be(tmp_path: Path) -> None:
    """The key ``{column_2}`` is built from the real ``column_2``, not the empty name's values."""
    plyvel = pytest.importorskip("plyvel")
    src, out = tmp_path / "d.csv", tmp_path / "o.ldb"
    _write_empty_named(src, "csv", (1, "empty", "real"))
    assert main(["load", str(src), str(out), "--key", "{column_2}", "-q"]) == 0
    store = plyvel.DB(str(out))
    try:
        rows = [(k, json.loads(v)) for k, v in store]
    finally:
        store.close()
    assert rows == [(b"real", {"id": 1, "column_2_2": "empty", "column_2": "real"})]


def test_an_earlier_versions_job_keeps_its_names_for_an_empty_name(tmp_path: Path) -> None:
    """A job an earlier version loaded ``id,,column_2`` with named the empty column ``column_2``
    and the real one ``column_2_2`` (the same names, in another order): a later file of that
    header goes on under them, each column's values where its first went."""
    db = tmp_path / "o.db"
    # the table and checkpoint such a run left (made by a file of those names)
    (tmp_path / "d1.csv").write_text("id,column_2,column_2_2\n1,empty-1,real-1\n", encoding="utf-8")
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "t", "-q"]) == 0
    _as_an_earlier_version_left_it(db)
    _write_empty_named(tmp_path / "d.csv", "csv", (2, "empty-2", "real-2"))
    assert main(["load", str(tmp_path / "d.csv"), str(db), "--table", "t", "-q"]) == 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, column_2, column_2_2 FROM t ORDER BY rowid").fetchall()
        (entry,) = conn.execute("SELECT value FROM _loader_state WHERE key = 'job'").fetchone()
    assert rows == [(1, "empty-1", "real-1"), (2, "empty-2", "real-2")]
    assert json.loads(entry)["names"] == 1  # still an earlier version's: later runs go on so


def test_a_target_made_by_one_naming_keeps_it_where_the_two_differ() -> None:
    """Without a checkpoint's columns, a target's (in order) tell which rule made them: the one
    whose names it holds in the header's order. Where both or neither fit, this rule names."""
    header = ["id", "", "column_2"]
    old, new = ["id", "column_2", "column_2_2"], ["id", "column_2_2", "column_2"]
    assert dedupe_names(header, target=old) == old
    assert dedupe_names(header, target=["id", "column_2", "v", "COLUMN_2_2"]) == old  # in order, in any case
    assert dedupe_names(header, target=new) == new
    assert dedupe_names(header, target=["id", "v", "column_2_2", "column_2"]) == new
    assert dedupe_names(header, target=["id", "column_2"]) == new  # the empty name's column is new
    assert dedupe_names(header, target=["id", "v"]) == new
    assert dedupe_names(["x", "X", "x_2"], target=["x", "X_2", "x_2_2"]) == ["x", "X_2", "x_2_2"]
    assert dedupe_names(["x", "X", "x_2"], target=["x", "X_3", "x_2"]) == ["x", "X_3", "x_2"]


def _earlier_versions_table(db: Path) -> None:
    """The table an earlier version made of ``id,,column_2`` (upsert on id): the empty name's
    values in ``column_2``, the real column_2's in ``column_2_2``; no checkpoint of this job."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            'CREATE TABLE IF NOT EXISTS "t" ("id" INTEGER NOT NULL, "column_2" TEXT, "column_2_2" TEXT, PRIMARY KEY ("id"))'
        )
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, "empty-1", "real-1"), (2, "empty-2", "real-2")])


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_table_an_earlier_version_named_keeps_its_columns_without_its_checkpoint(
    tmp_path: Path, fmt: str, engine: str
) -> None:
    """hunt18a: ``--restart`` (or another job) forgets the checkpoint that kept the earlier
    names, and the new names put the real column_2's values into the empty name's column and
    back (``3|real-3|empty-3``): the table's columns keep the names they were made by, and the
    job records so for its later runs."""
    db = tmp_path / "o.db"
    _earlier_versions_table(db)
    upsert = ["--table", "t", "--mode", "upsert", "--primary-key", "id", "--engine", engine, "-q"]
    runs = [["--restart"], [], ["--job", "other"]]  # after --restart; the job's next run; another job
    for n, extra in enumerate(runs, 3):
        _write_empty_named(tmp_path / f"d{n}.{fmt}", fmt, (n, f"empty-{n}", f"real-{n}"))
        assert main(["load", str(tmp_path / f"d{n}.{fmt}"), str(db), *upsert, *extra]) == 0
    with sqlite3.connect(db) as conn:
        cur = conn.execute("SELECT * FROM t ORDER BY id")
        assert [d[0] for d in cur.description] == ["id", "column_2", "column_2_2"]
        assert cur.fetchall() == [(n, f"empty-{n}", f"real-{n}") for n in range(1, 6)]
        names = conn.execute("SELECT job, value FROM _loader_state WHERE key = 'job' ORDER BY job").fetchall()
    assert [(job, json.loads(entry)["names"]) for job, entry in names] == [("other", 1), ("table:t", 1)]


def test_a_table_this_version_named_keeps_its_columns_after_a_restart(tmp_path: Path) -> None:
    """The control: a table made by this rule (``column_2_2`` before ``column_2``) keeps it."""
    db = tmp_path / "o.db"
    upsert = ["--table", "t", "--mode", "upsert", "--primary-key", "id", "-q"]
    for n, extra in enumerate([[], ["--restart"], ["--job", "other"]], 1):
        _write_empty_named(tmp_path / f"d{n}.csv", "csv", (n, f"empty-{n}", f"real-{n}"))
        assert main(["load", str(tmp_path / f"d{n}.csv"), str(db), *upsert, *extra]) == 0
    with sqlite3.connect(db) as conn:
        cur = conn.execute("SELECT * FROM t ORDER BY id")
        assert [d[0] for d in cur.description] == ["id", "column_2_2", "column_2"]
        assert cur.fetchall() == [(n, f"empty-{n}", f"real-{n}") for n in range(1, 4)]
        names = conn.execute("SELECT value FROM _loader_state WHERE key = 'job'").fetchall()
    assert [json.loads(entry)["names"] for (entry,) in names] == [2, 2]


def test_a_column_the_table_gained_from_a_later_header_keeps_the_jobs_naming(tmp_path: Path) -> None:
    """``id,column_2`` made the table, and ``id,,column_2`` added ``column_2_2`` (--alter): the
    table looks as an earlier version would have made it, but the job's checkpoint records
    this rule, which a later file of that header keeps."""
    db = tmp_path / "o.db"
    (tmp_path / "d1.csv").write_text("id,column_2\n1,real-1\n", encoding="utf-8")
    assert main(["load", str(tmp_path / "d1.csv"), str(db), "--table", "t", "-q"]) == 0
    for n in (2, 3):
        _write_empty_named(tmp_path / f"d{n}.csv", "csv", (n, f"empty-{n}", f"real-{n}"))
        assert main(["load", str(tmp_path / f"d{n}.csv"), str(db), "--table", "t", "--alter", "-q"]) == 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, column_2, column_2_2 FROM t ORDER BY id").fetchall()
    assert rows == [(1, "real-1", None), (2, "real-2", "empty-2"), (3, "real-3", "empty-3")]


@pytest.mark.parametrize(("first", "stored"), [("id,column_2,column_2_2", "old"), ("id,,column_2", "new")])
def test_a_leveldb_jobs_keys_record_keeps_its_naming_over_a_restart(tmp_path: Path, first: str, stored: str) -> None:
    """The record of a LevelDB job's keys, which --restart keeps, holds the columns its rows were
    written with: a store whose rows named the empty column ``column_2`` (as a run resuming an
    earlier version's checkpoint writes them) keeps that name for its values and keys."""
    plyvel = pytest.importorskip("plyvel")
    out = tmp_path / "o.ldb"
    (tmp_path / "d1.csv").write_text(f"{first}\n1,empty-1,real-1\n", encoding="utf-8")
    _write_empty_named(tmp_path / "d2.csv", "csv", (2, "empty-2", "real-2"))
    for src, extra in (("d1.csv", []), ("d2.csv", ["--restart"])):
        assert (
            main(
                ["load", str(tmp_path / src), str(out), "--key", "k:{id}/{column_2}", "--mode", "upsert", "-q", *extra]
            )
            == 0
        )
    store = plyvel.DB(str(out))
    try:
        rows = [(k, json.loads(v)) for k, v in store]
    finally:
        store.close()
    empty, real = ("column_2", "column_2_2") if stored == "old" else ("column_2_2", "column_2")
    keyed = "empty" if stored == "old" else "real"  # the key's {column_2}
    assert rows == [
        (f"k:{n:020d}/{keyed}-{n}".encode(), {"id": n, empty: f"empty-{n}", real: f"real-{n}"}) for n in (1, 2)
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "arrow"])
def test_every_format_keeps_a_real_column_a_repeat_could_have_named(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / f"b.{fmt}"
    table = pa.table([[4], [5], [6]], names=["x", "X", "x_2"])
    if fmt == "csv":
        src.write_text("x,X,x_2\n4,5,6\n", encoding="utf-8")
    elif fmt == "jsonl":
        src.write_text('{"x":4,"X":5,"x_2":6}\n', encoding="utf-8")
    elif fmt == "parquet":
        pq.write_table(table, src)
    else:
        feather.write_feather(table, src, compression="uncompressed")
    with open_reader(str(src), SourceConfig(path=[str(src)])) as r:
        assert r.schema.names == ["x", "X_3", "x_2"]
        assert [row for c in r for row in c.batch.to_pylist()] == [{"x": 4, "X_3": 5, "x_2": 6}]


def test_a_later_file_repeating_a_name_loads_each_value_into_its_own_column(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,x_2\n1,2\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("x,X,x_2\n4,5,6\n", encoding="utf-8")
    db = tmp_path / "o.db"
    paths = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert main(["load", *paths, str(db), "--table", "t", "--alter", "-q"]) == 0
    with sqlite3.connect(db) as conn:
        cur = conn.execute("SELECT * FROM t ORDER BY rowid")
        assert [d[0] for d in cur.description] == ["x", "x_2", "X_3"]
        assert cur.fetchall() == [(1, 2, None), (4, 6, 5)]


def test_a_file_takes_the_settled_spelling_of_a_name_in_another_ascii_case_only() -> None:
    assert spelled(["ñandú", "CODE", "k"], ["ÑANDÚ", "code", KELVIN]) == ["ñandú", "code", "k"]


def test_a_declared_type_names_its_column_in_another_ascii_case_only() -> None:
    config = SourceConfig(path=["a.csv"], columns={"CODE": "string"})
    assert declared_types(config, ["code", "ÑANDÚ"], "a.csv") == {"code": pa.string()}
    config = SourceConfig(path=["a.csv"], columns={"ñandú": "string"})
    # a file without the column leaves it out (another input may have it: the load checks that)
    assert declared_types(config, ["code", "ÑANDÚ"], "a.csv") == {}
    with pytest.raises(ConfigError) as info:  # standard input, never sampled, must have it
        declared_types(config, ["code", "ÑANDÚ"], "-")
    assert (info.value.message, info.value.hint) == (
        "source.columns: no column 'ñandú' in -",
        "columns are: code, ÑANDÚ",
    )


def test_a_declared_name_of_two_case_spellings_of_one_header_goes_only_where_spelled_as_the_first() -> None:
    """hunt28d 6: `CODE` on `code,CODE` typed `code`; every row was rejected for a value there."""
    raw, names = ["code", "CODE", "n"], ["code", "CODE_2", "n"]
    config = SourceConfig(path=["a.csv"], columns={"code": "string", "CODE_2": "float64", "N": "int64"})
    assert declared_types(config, names, "a.csv", raw) == {"code": pa.string(), "CODE_2": pa.float64(), "n": pa.int64()}
    for declared in ("CODE", "Code"):
        with pytest.raises(ConfigError) as info:
            declared_types(SourceConfig(path=["a.csv"], columns={declared: "float64"}), names, "a.csv", raw)
        assert info.value.message == (
            f"source.columns: {declared!r} matches the columns 'code' and 'CODE' (loaded as 'CODE_2') of a.csv"
            " (names that differ only in case): declare one of code, CODE_2"
        )
    # a file after one of `CODE` alone: `CODE` keeps its name, and a declaration spelled so goes there
    upper = SourceConfig(path=["b.parquet"], columns={"CODE": "float64"})
    assert declared_types(upper, ["code_2", "CODE"], "b.parquet", ["code", "CODE"]) == {"CODE": pa.float64()}
    same = SourceConfig(path=["a.csv"], columns={"id": "string"})  # one spelling repeated: the first, as before
    assert declared_types(same, ["id", "id_2"], "a.csv", ["id", "id"]) == {"id": pa.string()}


@pytest.mark.parametrize("name", ["dupc.csv", "dupc.parquet"])
def test_a_declared_name_of_two_case_spellings_is_refused_before_loading(tmp_path: Path, name: str) -> None:
    src, db = tmp_path / name, tmp_path / "t.db"
    if name.endswith(".csv"):
        src.write_text("code,CODE\nabc,1.5\ndef,2.5\n")
    else:
        pq.write_table(pa.table({"code": ["abc", "def"], "CODE": [1.5, 2.5]}), src)
    p = cli("load", str(src), str(db), "--table", "t", "--columns", "CODE=float64", "--no-progress")
    assert (p.returncode, p.stderr.splitlines()[0]) == (
        2,
        f"loader: error: source.columns: 'CODE' matches the columns 'code' and 'CODE' (loaded as 'CODE_2') of {src}"
        " (names that differ only in case): declare one of code, CODE_2",
    )
    assert not db.exists()
    p = cli("load", str(src), str(db), "--table", "t", "--columns", "CODE_2=float64", "--no-progress")
    assert p.returncode == 0, p.stderr
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT code, CODE_2 FROM t").fetchall() == [("abc", 1.5), ("def", 2.5)]


def test_a_declared_column_no_input_has_lists_the_columns_only_where_there_are_some() -> None:
    """hunt27a 2: no hint that lists nothing ("columns are: ")."""
    err = unknown_declared("id", "x.jsonl", [])
    assert (err.message, err.hint, err.verbatim) == (
        "source.columns: no column 'id' in x.jsonl",
        ConfigError.default_hint,
        (),
    )
    assert unknown_declared("id", "-", ["a", "b"]).hint == "columns are: a, b"


def ree(run_ends: list[int], values: pa.Array) -> pa.Array:
    return pa.RunEndEncodedArray.from_arrays(pa.array(run_ends, pa.int32()), values)


def test_run_end_encoded_values_are_their_rows_also_sliced_nested_and_of_a_dictionary() -> None:
    cat = ree([1, 3, 6], pa.array(["a", None, "c"]).dictionary_encode())
    assert plain_type(cat.type) == pa.dictionary(pa.int32(), pa.string())
    assert plain_array(cat).to_pylist() == ["a", None, None, "c", "c", "c"]
    assert plain_array(cat.slice(2, 3)).to_pylist() == [None, "c", "c"]
    nested = pa.StructArray.from_arrays([ree([2, 3], pa.array(["p", "q"], pa.string_view()))], names=["r"])
    assert plain_type(nested.type) == pa.struct([("r", pa.large_string())])
    assert plain_array(nested).to_pylist() == [{"r": "p"}, {"r": "p"}, {"r": "q"}]
    listed = pa.ListArray.from_arrays(pa.array([0, 1, 3, 3]), ree([2, 3], pa.array([7, None])))
    assert plain_array(listed).to_pylist() == [[7], [7, None], []]


@pytest.mark.parametrize("name", ["n.arrow", "n.arrows", "n.parquet"])
def test_a_file_without_columns_is_a_data_error_naming_it(tmp_path: Path, name: str) -> None:
    """It failed with exit 1: `near ")": syntax error (while running 'CREATE TABLE "t" ()')`."""
    src = tmp_path / name
    table = pa.table({"x": [1, 2, 3]}).drop_columns(["x"])
    if name.endswith(".parquet"):
        pq.write_table(table, src)
    elif name.endswith(".arrow"):
        feather.write_feather(table, src)
    else:
        _stream(src, table)
    for _ in range(2):  # a rerun says the same
        p = cli("load", str(src), str(tmp_path / "t.db"), "--table", "t")
        assert p.returncode == EXIT_DATAERR, p.stderr
        assert p.stderr.splitlines()[0] == f"loader: error: {src}: has no columns"


def _stream(path: Path, table: pa.Table) -> None:
    with ipc.new_stream(str(path), table.schema) as w:
        w.write_table(table)


@pytest.mark.parametrize("name", ["s.arrow", "s.parquet"])
def test_a_struct_repeating_a_field_name_is_a_data_error_naming_file_and_column(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """pyarrow writes it; every run failed after creating the table, with exit 1 ("internal
    error: ... duplicate field names"), and ``inspect`` too. A JSON object holds one of the two."""
    src = tmp_path / name
    twice = pa.StructArray.from_arrays(
        [pa.array([1]), pa.array(["x"])], fields=[pa.field("a", pa.int64()), pa.field("a", pa.string())]
    )
    deep = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), pa.StructArray.from_arrays([twice], ["t"]))
    table = pa.table({"id": [1], "l": deep})
    pq.write_table(table, src) if name.endswith(".parquet") else feather.write_feather(table, src)
    said = (
        f"loader: error: {src}, column 'l': struct<a: int64, a: string> holds two fields named 'a': "
        "a JSON object holds one member per name, so one field's values would be lost"
    )
    db = tmp_path / "t.db"
    for command in (["load", str(src), str(db), "--table", "t"], ["load", str(src), str(db), "--table", "t"],
                    ["load", str(src), str(tmp_path / "t.ldb"), "--key", "r:{id}"], ["inspect", str(src)]):  # fmt: skip
        assert main(command) == EXIT_DATAERR
        assert capsys.readouterr().err.splitlines()[0] == said
    with sqlite3.connect(db) as con:  # no table was created
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []


def test_a_file_that_fails_to_open_is_closed_though_its_error_is_kept(tmp_path: Path) -> None:
    """A reader (or a CSV head's read) that failed left its file open, held by the error's
    traceback: a host keeping each failed load's error (a report of the inbox's bad files) ran
    out of file descriptors, and Python warned of an unclosed file twice a call. In a child
    process, where ResourceWarning is an error and nothing else opens files."""
    (tmp_path / "empty.csv").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "zip.csv", "w") as z:
        z.writestr("a.csv", "id\n1\n")
    (tmp_path / "utf16.csv").write_bytes("id,name\n1,a\n".encode("utf-16"))
    (tmp_path / "ok.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(2100)) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "empty.csv.gz", "wb"):
        pass
    pq.write_table(pa.table({"a": [1]}), tmp_path / "p.parquet")
    (tmp_path / "j.jsonl").write_text('{"a": 1}\n', encoding="utf-8")
    nope = {"columns": {"nope": "int64"}}
    cases = {
        "empty.csv": {},
        "zip.csv": {},
        "utf16.csv": {},
        "ok.csv": {"column_names": ["a", "b", "c"], "header": True},
        "wide.csv": {},
        "empty.csv.gz": {},
        "p.parquet": nope,
        "j.jsonl": nope,
    }
    code = f"""
import gc, os
import loader
kept, grew = [], {{}}
for name, options in {cases!r}.items():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        try:
            loader.load(os.path.join({str(tmp_path)!r}, name), {str(tmp_path / "t.db")!r}, table="t", source_options=options)
        except loader.LoaderError as exc:
            kept.append(exc)
    grew[name] = len(os.listdir("/proc/self/fd")) - before
print(len(kept), grew)
del kept
gc.collect()
"""
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{5 * len(cases)} {dict.fromkeys(cases, 0)}\n"


def test_spellings_held_apart_go_to_their_own_column_and_a_third_is_refused() -> None:
    """``schema.twin_columns``' columns: each spelling to its own, the file's other names as they
    were; a third spelling of the name could be either column (SourceError, exit 65)."""
    from loader.errors import SourceError
    from loader.readers.base import spelled_apart

    apart = {"A": "A", "a": "a_2"}
    assert spelled_apart(["rid", "a", "A"], ["rid", "a", "A_2"], apart, "f") == ["rid", "a_2", "A"]
    assert spelled_apart(["rid", "A"], ["rid", "A"], apart, "f") == ["rid", "A"]
    assert spelled_apart(["x", "X"], ["x", "X_2"], {}, "f") == ["x", "X_2"]  # nothing held apart
    assert spelled_apart(["a", "A", "a"], ["a", "A_2", "a_2"], apart, "f") == ["a", "A_2", "a_2"]  # a repeat: its own
    with pytest.raises(SourceError) as refused:
        spelled_apart(["rid", "Id"], ["rid", "Id"], {"id": "id", "ID": "ID_2"}, "f")
    assert (refused.value.exit_code, refused.value.file, refused.value.column) == (EXIT_DATAERR, "f", "Id")
    assert str(refused.value) == (
        "f, column 'Id': could be either of the columns 'id', 'ID_2' (another file of the load holds id and ID as two columns: "
        "names that differ only in case)"
    )
