"""Arrow IPC input: the file format (Feather v2) and the stream format, batch by batch,
values and types kept, declared types converted with rejects, resume by batch index."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sqlite3
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

from loader import load
from loader.api import RunOptions
from loader.config import SourceConfig
from loader.errors import EXIT_DATAERR, SourceError
from loader.readers import open_reader
from loader.transforms import Filter, output_schema
from tests.reliability_util import cli, leveldb_items, reject_lines, rejects_of, sqlite_table

TABLE = pa.table(
    {
        "id": pa.array(range(1, 11), pa.int64()),
        "name": pa.array(["a", "b", None, "d", "e", "f", "g", "h", "i", "j"]).dictionary_encode(),
        "price": pa.array([0.6369616873214543, 100.1, None, -0.0, 1e-7, 2.5, 3.5, 4.5, 5.5, 6.5]),
        "day": pa.array([dt.date(2024, 1, i) for i in range(1, 11)]),
        "nested": pa.array([{"x": i, "tags": ["t"] * (i % 3)} for i in range(1, 11)]),
        "score": pa.array(["10", "20", "x", "40", "50", "60", "70", "80", "90", "100"]),
    }
)


def write(path: Path, kind: str, table: pa.Table = TABLE, batch: int = 3) -> Path:
    if kind == "file":
        feather.write_feather(table, str(path), chunksize=batch, compression="zstd")
    else:
        with ipc.new_stream(str(path), table.schema) as w:
            for b in table.to_batches(max_chunksize=batch):
                w.write_batch(b)
    return path


@pytest.mark.parametrize("kind,suffix", [("file", ".feather"), ("stream", ".arrow")])
def test_sqlite_and_leveldb_hold_the_source_values(tmp_path: Path, kind: str, suffix: str) -> None:
    src = write(tmp_path / f"in{suffix}", kind)
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert (report.rows_written, report.rows_rejected) == (10, 0)
    stored = sqlite_table(tmp_path / "t.db")
    expected = TABLE.to_pylist()
    assert [r[:3] for r in stored] == [(e["id"], e["name"], e["price"]) for e in expected]
    assert [r[3] for r in stored] == [e["day"].isoformat() for e in expected]
    assert [json.loads(r[4]) for r in stored] == [e["nested"] for e in expected]
    load(str(src), str(tmp_path / "t.ldb"), key="row:{id}")
    items, _ = leveldb_items(tmp_path / "t.ldb")
    values = sorted((json.loads(v) for _, v in items), key=lambda v: v["id"])
    assert values == [{**e, "day": e["day"].isoformat()} for e in expected]


def test_declared_types_convert_and_misfits_are_rejected(tmp_path: Path) -> None:
    src = write(tmp_path / "in.arrow", "file")
    db = tmp_path / "t.db"
    p = cli("load", str(src), str(db), "--table", "t", "--columns", "score=int64", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    assert [r[5] for r in sqlite_table(db)] == [10, 20, 40, 50, 60, 70, 80, 90, 100]
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["row"], bad["column"], bad["reason"]) == (3, "score", "'x' is not a valid int64")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] == 10


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_resume_from_every_checkpoint_reads_exactly_the_rest(tmp_path: Path, kind: str) -> None:
    src = write(tmp_path / "in.arrow", kind, batch=4)
    config = SourceConfig(path=[str(src)], columns={"score": "int64"})
    with open_reader(str(src), config, chunk_size=3) as r:
        chunks = list(r)
    assert [c.end["batch"] for c in chunks] == [0, 1, 1, 2, 3]  # batches of 4, 4, 2 rows; chunks of at most 3
    assert src.stat().st_size - 16 <= sum(c.bytes_read for c in chunks) <= src.stat().st_size  # progress ends at 100%
    for cut, chunk in enumerate(chunks):
        with open_reader(str(src), config, chunk_size=3, resume=chunk.end) as r:
            rest = list(r)
        ids = [i for c in rest for i in c.batch.column("id").to_pylist()]
        assert ids == [i for c in chunks[cut + 1 :] for i in c.batch.column("id").to_pylist()]
        assert sum(c.rows_read for c in rest) == 10 - chunk.end["row"]
        assert [rj.row for c in rest for rj in c.rejects] == ([3] if chunk.end["row"] < 3 else [])


def test_a_file_that_is_not_arrow_is_one_clear_line(tmp_path: Path) -> None:
    src = tmp_path / "in.arrow"
    src.write_bytes(b"id,name\n1,a\n")
    with pytest.raises(SourceError) as exc:
        open_reader(str(src), SourceConfig(path=[str(src)]))
    assert str(exc.value).startswith(f"{src}: not a readable Arrow IPC file or stream (")
    assert "\n" not in str(exc.value)


def test_inspect_shows_the_schema(tmp_path: Path) -> None:
    src = write(tmp_path / "in.ipc", "stream")
    p = cli("inspect", str(src))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[:3] == [
        f"{src}: 6 columns",
        "  id      int64",
        "  name    dictionary<values=string, indices=int32, ordered=0>",
    ]


POLARS = Path(__file__).parents[1] / "data" / "polars"  # written by Polars (see its README.md)


def sqlite_columns(db: Path, table: str = "t") -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{table}")')]


def test_a_polars_file_of_view_types_loads_with_its_rejects(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    p = cli("load", str(POLARS / "views.arrow"), str(db), "--table", "t")
    assert p.returncode == 0, p.stderr
    assert "2 rows written" in p.stderr and "1 rows rejected" in p.stderr
    assert sqlite_columns(db) == [
        ("id", "INTEGER"),
        ("name", "TEXT"),
        ("big", "INTEGER"),
        ("cat", "TEXT"),
        ("raw", "BLOB"),
        ("tags", "TEXT"),
        ("rec", "TEXT"),
    ]
    assert sqlite_table(db) == [
        (1, "ann", 1, "x", b"\x00\x01", '["a","b"]', '{"k":"p","n":1}'),
        (3, None, 3, "x", b"\xff", None, '{"k":null,"n":3}'),
    ]
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["row"], bad["column"], bad["reason"]) == (2, "big", "value exceeds SQLite's 64-bit integer range")
    assert bad["values"] == {"id": 2, "name": "bob", "big": 2**63, "cat": "y", "raw": None, "tags": [], "rec": None}


VIEWS = pa.table(
    {
        "id": pa.array([1, 2, None, 4], pa.int64()),
        "k": pa.array(["a", "b", "c", None], pa.string_view()),
        "raw": pa.array([b"\x00", None, b"\xff", b"z"], pa.binary_view()),
        "tags": pa.array([["p", "q"], [], None, ["r"]], pa.list_(pa.string_view())),
        "views": pa.array([["s"], None, ["t", "u"], []], pa.list_view(pa.string_view())),
        "rec": pa.array([{"s": "m"}, {"s": None}, None, {"s": "n"}], pa.struct([("s", pa.string_view())])),
    }
)
STORED = [  # VIEWS as SQLite holds it
    (1, "a", b"\x00", '["p","q"]', '["s"]', '{"s":"m"}'),
    (2, "b", None, "[]", None, '{"s":null}'),
    (None, "c", b"\xff", None, '["t","u"]', None),
    (4, None, b"z", '["r"]', "[]", '{"s":"n"}'),
]


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_view_types_load_as_text_and_bytes_into_sqlite(tmp_path: Path, kind: str) -> None:
    src = write(tmp_path / "in.arrow", kind, VIEWS, batch=3)
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert (report.rows_written, report.rows_rejected) == (4, 0)
    assert [t for _, t in sqlite_columns(tmp_path / "t.db")] == ["INTEGER", "TEXT", "BLOB", "TEXT", "TEXT", "TEXT"]
    assert sqlite_table(tmp_path / "t.db", order="rowid") == STORED


def test_a_filter_compares_a_string_view_column_with_text(tmp_path: Path) -> None:
    src = write(tmp_path / "in.arrow", "file", VIEWS)
    report = load(str(src), str(tmp_path / "t.db"), table="t", transforms=[Filter(where="k != 'b'")])
    assert (report.rows_written, report.rows_filtered) == (2, 2)  # k = 'b', and k null
    assert sqlite_table(tmp_path / "t.db", order="rowid") == [STORED[0], STORED[2]]


def test_a_dictionary_of_string_view_loads_as_its_text(tmp_path: Path) -> None:
    cat = pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], pa.int32()), pa.array(["x", "y"], pa.string_view()))
    src = write(tmp_path / "in.arrow", "file", pa.table({"id": [1, 2, 3, 4], "cat": cat}))
    assert load(str(src), str(tmp_path / "t.db"), table="t").rows_written == 4
    assert sqlite_columns(tmp_path / "t.db") == [("id", "INTEGER"), ("cat", "TEXT")]
    assert sqlite_table(tmp_path / "t.db") == [(1, "y"), (2, "x"), (3, None), (4, "y")]


def test_view_types_load_into_leveldb_beside_a_rejected_null_key(tmp_path: Path) -> None:
    src = write(tmp_path / "in.arrow", "file", VIEWS, batch=2)
    report = load(str(src), str(tmp_path / "t.ldb"), key="row:{id}")
    assert (report.rows_written, report.rows_rejected) == (3, 1)
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [(k, json.loads(v)) for k, v in items] == [
        (b"row:%020d" % 1, {"id": 1, "k": "a", "raw": "AA==", "tags": ["p", "q"], "views": ["s"], "rec": {"s": "m"}}),
        (b"row:%020d" % 2, {"id": 2, "k": "b", "raw": None, "tags": [], "views": None, "rec": {"s": None}}),
        (b"row:%020d" % 4, {"id": 4, "k": None, "raw": "eg==", "tags": ["r"], "views": [], "rec": {"s": "n"}}),
    ]
    (bad,) = reject_lines(rejects_of(tmp_path / "t.ldb", "key:row:{id}"))
    assert (bad["row"], bad["column"], bad["values"]["k"], bad["values"]["views"]) == (3, "id", "c", ["t", "u"])


def test_the_reader_gives_no_view_type(tmp_path: Path) -> None:
    src = str(POLARS / "views.arrow")
    with open_reader(src, SourceConfig(path=[src])) as r:
        chunks = list(r)
    text, raw = pa.large_string(), pa.large_binary()
    assert r.schema.types == [
        pa.int64(),
        text,
        pa.uint64(),
        pa.dictionary(pa.uint32(), text),
        raw,
        pa.large_list(pa.field("item", text)),
        pa.struct([("k", text), ("n", pa.int64())]),
    ]
    assert [c.batch.schema.types for c in chunks] == [r.schema.types]
    assert output_schema([Filter(where="cat = 'x'")], r.schema) == r.schema  # an empty batch of the schema


def test_a_type_pyarrow_cannot_read_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    for src, kind in ((POLARS / "int128.arrow", "file"), (POLARS / "int128.arrows", "file or stream")):
        p = cli("load", str(src), str(tmp_path / "t.db"), "--table", "t")
        assert p.returncode == EXIT_DATAERR, p.stderr
        assert p.stderr.splitlines()[0] == (
            f"loader: error: {src}: not a readable Arrow IPC {kind}: a column's type is not one pyarrow reads "
            "(Integers with more than 64 bits not implemented)"
        )


def test_the_stream_format_suffix_is_arrow(tmp_path: Path) -> None:
    src = write(tmp_path / "in.arrows", "stream")
    report = load(str(src), str(tmp_path / "t.db"), table="t")
    assert report.rows_written == 10


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_fields_that_differ_only_in_case_are_two_columns_as_in_a_csv_header(tmp_path: Path, kind: str) -> None:
    """A schema holding `a` and `A` is as a CSV header `a,A`: two columns, the second `A_2`."""
    src = write(tmp_path / "t.arrow", kind, pa.table({"id": [1, 2], "a": [1, None], "A": [None, 3]}))
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t")
    assert sqlite_table(db) == [(1, 1, None), (2, None, 3)]
    with open_reader(str(src), SourceConfig(path=[str(src)])) as r:
        assert r.schema.names == ["id", "a", "A_2"]


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_extension_types_load_as_their_meaning(tmp_path: Path, kind: str) -> None:
    """A UUID is its 16 bytes (base64 in LevelDB's JSON, as a Parquet UUID without pyarrow's
    schema), in a list too; a bool8 is a bool. The UUID's JSON was its dashed text, the
    bool8 TEXT '1', the list an internal error."""
    raw = [b"\x00" * 15 + b"\x01", b"\xff" * 16]
    u = pa.ExtensionArray.from_storage(pa.uuid(), pa.array(raw, pa.binary(16)))
    table = pa.table(
        {
            "id": [1, 2],
            "u": u,
            "lu": pa.ListArray.from_arrays(pa.array([0, 2, 2], pa.int32()), u),
            "b": pa.ExtensionArray.from_storage(pa.bool8(), pa.array([1, 0], pa.int8())),
        }
    )
    src = write(tmp_path / "x.arrow", kind, table)
    load(str(src), str(tmp_path / "t.db"), table="t")
    assert sqlite_table(tmp_path / "t.db") == [
        (1, raw[0], '["AAAAAAAAAAAAAAAAAAAAAQ==","/////////////////////w=="]', 1),
        (2, raw[1], "[]", 0),
    ]
    load(str(src), str(tmp_path / "t.ldb"), key="{u}")
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [k for k, _ in items] == raw
    assert [json.loads(v) for _, v in items] == [
        {
            "id": 1,
            "u": "AAAAAAAAAAAAAAAAAAAAAQ==",
            "lu": ["AAAAAAAAAAAAAAAAAAAAAQ==", "/////////////////////w=="],
            "b": True,
        },
        {"id": 2, "u": "/////////////////////w==", "lu": [], "b": False},
    ]


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_a_uuid_declared_text_is_its_canonical_text(tmp_path: Path, kind: str) -> None:
    """``--columns u=string`` on an ``arrow.uuid`` column: the UUID's 8-4-4-4-12 text, in a
    key too; its bytes were decoded as UTF-8 (``\\xff`` rejected)."""
    raw = [b"\x00" * 15 + b"\x01", b"\xff" * 16, None]
    u = pa.ExtensionArray.from_storage(pa.uuid(), pa.array(raw, pa.binary(16)))
    src = write(tmp_path / "x.arrow", kind, pa.table({"id": [1, 2, 3], "u": u}))
    text = ["00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff"]
    options = {"columns": {"u": "string"}}
    assert load(str(src), str(tmp_path / "t.db"), table="t", source_options=options).rows_written == 3
    assert sqlite_table(tmp_path / "t.db") == [(1, text[0]), (2, text[1]), (3, None)]
    load(str(src), str(tmp_path / "t.ldb"), key="u:{u}", source_options=options)
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [k for k, _ in items] == [f"u:{t}".encode() for t in text]


# A dictionary of each value type other than text, with a null: pandas writes a Categorical
# of dates or timestamps so.
DICTIONARY_VALUES = {
    "ts": (pa.timestamp("us"), [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2), None, dt.datetime(2024, 1, 3)]),
    "zoned": (
        pa.timestamp("us", tz="Europe/Paris"),
        [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 2 + [None, dt.datetime(2024, 1, 5, tzinfo=dt.UTC)],
    ),
    "day": (pa.date32(), [dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3), None]),
    "time": (pa.time64("us"), [dt.time(1, 2, 3), None, dt.time(4, 5, 6), dt.time(1, 2, 3)]),
    "dec": (pa.decimal128(6, 2), [decimal.Decimal("1.25"), decimal.Decimal("2.50"), None, decimal.Decimal("3.75")]),
    "dur": (pa.duration("s"), [dt.timedelta(seconds=5), dt.timedelta(seconds=7), dt.timedelta(seconds=9), None]),
}
PLAIN_VALUES = pa.table(
    {"id": pa.array([1, 2, 3, 4], pa.int64())} | {k: pa.array(v, t) for k, (t, v) in DICTIONARY_VALUES.items()}
)
STORED_VALUES = [
    (1, "2024-01-01T00:00:00.000000", "2024-01-01T00:00:00.000000Z", "2024-01-01", "01:02:03.000000", "1.25", 5),
    (2, "2024-01-02T00:00:00.000000", "2024-01-01T00:00:00.000000Z", "2024-01-02", None, "2.50", 7),
    (3, None, None, "2024-01-03", "04:05:06.000000", None, 9),
    (4, "2024-01-03T00:00:00.000000", "2024-01-05T00:00:00.000000Z", None, "01:02:03.000000", "3.75", None),
]


def _encoded(rows: pa.Table, upto: int) -> pa.RecordBatch:
    """``rows`` with every column but ``id`` a dictionary of the values of rows 0..``upto``
    (so a later batch's dictionary extends an earlier one's)."""
    head = PLAIN_VALUES.slice(0, upto)
    arrays = [rows["id"].combine_chunks()]
    for name in DICTIONARY_VALUES:
        dictionary = head[name].combine_chunks().dictionary_encode().dictionary
        indices = pc.index_in(rows[name], value_set=dictionary)
        arrays.append(pa.DictionaryArray.from_arrays(indices, dictionary))
    return pa.RecordBatch.from_arrays(arrays, names=PLAIN_VALUES.column_names)


def write_dictionaries(path: Path, layout: str) -> Path:
    """One dictionary (file), one for each batch (stream, replaced), or one that grows
    (stream, deltas); two rows a batch."""
    batches = [_encoded(PLAIN_VALUES.slice(lo, 2), 4 if layout == "file" else lo + 2) for lo in (0, 2)]
    if layout == "file":
        with ipc.new_file(str(path), batches[0].schema) as w:
            for b in batches:
                w.write_batch(b)
        return path
    options = ipc.IpcWriteOptions(emit_dictionary_deltas=layout == "deltas")
    with ipc.new_stream(str(path), batches[0].schema, options=options) as w:
        for b in batches:
            w.write_batch(b)
    with ipc.open_stream(str(path)) as r:
        r.read_all()
        assert (r.stats.num_dictionary_deltas, r.stats.num_replaced_dictionaries) == (
            (6, 0) if layout == "deltas" else (0, 6)
        )
    return path


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("layout", ["file", "replaced", "deltas"])
def test_a_dictionary_of_timestamps_dates_times_decimals_or_durations_loads_its_values(
    tmp_path: Path, layout: str, engine: str
) -> None:
    """Such a dictionary ended the load as an internal error (exit 1): its empty batch, of
    the schema the stages make, could not be built."""
    src = write_dictionaries(tmp_path / "in.arrow", layout)
    run: RunOptions = {"engine": engine}  # type: ignore[typeddict-item]
    assert load(str(src), str(tmp_path / "t.db"), table="t", run_options=run).rows_written == 4
    assert sqlite_columns(tmp_path / "t.db") == [
        ("id", "INTEGER"),
        *[(n, "TEXT") for n in ("ts", "zoned", "day", "time", "dec")],
        ("dur", "INTEGER"),
    ]
    assert sqlite_table(tmp_path / "t.db") == STORED_VALUES
    assert load(str(src), str(tmp_path / "t.ldb"), key="row:{id}", run_options=run).rows_written == 4
    items, _ = leveldb_items(tmp_path / "t.ldb")
    names = PLAIN_VALUES.column_names
    expected = [{**dict(zip(names, row, strict=True)), "dec": row[5] and float(row[5])} for row in STORED_VALUES]
    assert [json.loads(v) for _, v in items] == expected


def test_a_dictionary_of_dates_is_filtered_and_planned_as_its_values(tmp_path: Path) -> None:
    src = write_dictionaries(tmp_path / "in.arrow", "replaced")
    report = load(str(src), str(tmp_path / "t.db"), table="t", transforms=[Filter(where="day > '2024-01-01'")])
    assert (report.rows_written, report.rows_filtered) == (2, 2)
    assert sqlite_table(tmp_path / "t.db") == STORED_VALUES[1:3]
    done = cli("load", str(src), str(tmp_path / "d.db"), "--table", "t", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "d.db").exists()


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_later_runs_value_of_another_kind_is_rejected_by_the_recorded_type(tmp_path: Path, sink: str) -> None:
    """A date into a column an earlier run made a time stopped the run ('cannot read Arrow record
    batch 0 ... Unsupported cast from date32[day] to time64'); an int32 into a date was a count of
    days (20240101 loaded as 57385-07-07)."""
    feather.write_feather(
        pa.table({"id": [1], "t": [dt.time(1, 2, 3)], "d": [dt.date(2024, 1, 1)]}), tmp_path / "a.arrow"
    )
    later = pa.table(
        {"id": [2, 3, 4], "t": [dt.date(2024, 1, 2), None, None], "d": pa.array([None, 20240101, None], pa.int32())}
    )
    feather.write_feather(later, tmp_path / "b.arrow")
    target = tmp_path / f"t.{sink}"
    opts: dict[str, str] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    assert load(str(tmp_path / "a.arrow"), str(target), **opts).rows_written == 1
    report = load(str(tmp_path / "b.arrow"), str(target), **opts)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 1, 2)  # the nulls load
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [(r["row"], r["column"], r["reason"].split(": to change it")[0]) for r in rejects] == [
        (1, "t", "'2024-01-02' is not a valid time64[us]; t is time64[us] since an earlier run of this job"),
        (2, "d", "'20240101' is not a valid date; d is date since an earlier run of this job"),
    ]
    if sink == "db":
        assert sqlite_table(target, "t") == [(1, "01:02:03.000000", "2024-01-01"), (4, None, None)]
    else:
        items, _ = leveldb_items(target)
        assert [json.loads(v) for _, v in items] == [
            {"id": 1, "t": "01:02:03.000000", "d": "2024-01-01"},
            {"id": 4, "t": None, "d": None},
        ]


def damaged_offsets(path: Path) -> Path:
    """An Arrow file whose first batch's text column has an offset far past its data: pyarrow
    reads the batch without looking, and the loader crashed on it (a segfault, exit 139)."""
    table = pa.table({"id": list(range(1000)), "s": [f"str{i}" for i in range(1000)]})
    with ipc.new_file(str(path), table.schema) as w:
        for b in table.to_batches(max_chunksize=250):
            w.write_batch(b)
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<4i", 0, 4, 8, 12))  # the offsets of the first batch's text
    data[at + 40 : at + 44] = struct.pack("<i", 10**8)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_damaged_record_batch_stops_with_65_naming_the_file_and_batch(tmp_path: Path, engine: str) -> None:
    src = damaged_offsets(tmp_path / "corrupt.arrow")
    p = cli("load", str(src), str(tmp_path / "t.db"), "--table", "t", "--engine", engine)
    assert p.returncode == EXIT_DATAERR, p.stderr
    assert p.stderr.splitlines()[0] == (
        f"loader: error: {src}: cannot read Arrow record batch 0 near row 1 (column 's': Offset invariant "
        "failure: offset for slot 10 out of bounds: 100000000 > 1408)"
    )


def not_utf8(values: list[bytes | None], kind: pa.DataType) -> pa.Array:
    """Text of type ``kind`` holding ``values`` as they are, UTF-8 or not."""
    raw = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary(), pa.string_view(): pa.binary_view()}[kind]
    return pa.array(values, raw).view(kind)


@pytest.mark.parametrize("kind", ["file", "stream"])
@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_text_that_is_not_utf8_rejects_only_its_rows(tmp_path: Path, kind: str, sink: str) -> None:
    """Such text loaded as it was: SQLite stored the bytes as TEXT, LevelDB JSON that is not UTF-8."""
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "s": not_utf8([b"ok", b"\xff\xfe", None, b"x"], pa.string()),
            "ls": not_utf8([b"a", b"b", b"c", b"d"], pa.large_string()),
            "vs": not_utf8([b"ok", b"fine", None, b"\xc3"], pa.string_view()),
            "d": pa.DictionaryArray.from_arrays(pa.array([0, 0, None, 0]), not_utf8([b"a", b"\xe9"], pa.string())),
        }
    )
    src = write(tmp_path / "in.arrow", kind, table, batch=2)
    target = tmp_path / f"t.{sink}"
    opts: dict[str, str] = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    report = load(str(src), str(target), **opts)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 2, 2)
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [(r["row"], r["column"], r["reason"], r["values"]) for r in rejects] == [
        (2, "s", r"invalid UTF-8 in '\xff\xfe'", {"id": 2, "s": {"base64": "//4="}, "ls": "b", "vs": "fine", "d": "a"}),
        (4, "vs", r"invalid UTF-8 in '\xc3'", {"id": 4, "s": "x", "ls": "d", "vs": {"base64": "ww=="}, "d": "a"}),
    ]
    if sink == "db":
        assert sqlite_table(target) == [(1, "ok", "a", "ok", "a"), (3, None, "c", None, None)]
    else:
        items, _ = leveldb_items(target)
        assert [json.loads(v) for _, v in items] == [
            {"id": 1, "s": "ok", "ls": "a", "vs": "ok", "d": "a"},
            {"id": 3, "s": None, "ls": "c", "vs": None, "d": None},
        ]


def test_text_not_utf8_inside_a_list_stops_the_file(tmp_path: Path) -> None:
    """Only a top-level text column's rows can be told apart: a nested one's values are checked whole."""
    values = pa.ListArray.from_arrays(pa.array([0, 1, 2]), not_utf8([b"a", b"\xff"], pa.string()))
    src = write(tmp_path / "in.arrow", "stream", pa.table({"id": [1, 2], "l": values}))
    p = cli("load", str(src), str(tmp_path / "t.db"), "--table", "t")
    assert p.returncode == EXIT_DATAERR, p.stderr
    assert p.stderr.splitlines()[0] == (
        f"loader: error: {src}: cannot read Arrow record batch 0 near row 1 (column 'l': List child array "
        "invalid: Invalid: Invalid UTF8 sequence at string index 1)"
    )


ZIPS = pa.table({"id": [3, 4], "zip": [501, 2134]})


def empty_zips(path: Path, kind: str, rows: int) -> Path:
    """``rows`` rows whose ``zip`` is a string column without a value, in batches of 2."""
    nulls = pa.table({"id": list(range(1, rows + 1)), "zip": pa.nulls(rows, pa.string())})
    if rows:
        return write(path, kind, nulls, batch=2)
    opener = ipc.new_file if kind == "file" else ipc.new_stream
    with opener(str(path), nulls.schema):
        pass
    return path


@pytest.mark.parametrize(("kind", "rows"), [("file", 3), ("file", 0), ("stream", 0)])
@pytest.mark.parametrize("runs", [1, 2])
def test_a_column_without_a_value_has_no_say_in_the_load_types(tmp_path: Path, kind: str, rows: int, runs: int) -> None:
    """It made the next file's integers text (`"zip" TEXT`, '501'), where the same as Parquet gives INTEGER."""
    first = empty_zips(tmp_path / "a.arrow", kind, rows)
    write(tmp_path / "b.arrow", "file", ZIPS)
    db = tmp_path / "t.db"
    if runs == 1:
        load(str(tmp_path / "*.arrow"), str(db), table="t")
    else:
        load(str(first), str(db), table="t")
        load(str(tmp_path / "b.arrow"), str(db), table="t")
    with sqlite3.connect(db) as conn:
        got = conn.execute(
            "SELECT id, zip, typeof(zip) FROM t WHERE id >= 3 AND zip IS NOT NULL ORDER BY id"
        ).fetchall()
    assert got == [(3, 501, "integer"), (4, 2134, "integer")]


def test_valueless_columns_of_each_arrow_layout(tmp_path: Path) -> None:
    """The file format checks every batch; a stream is not read twice, so only one without rows counts."""
    later_value = pa.table({"id": [1, 2, 3], "zip": [None, None, "9"], "n": pa.nulls(3, pa.int64())})
    cases = {
        empty_zips(tmp_path / "f.arrow", "file", 5): {"zip"},
        empty_zips(tmp_path / "e.arrow", "file", 0): {"id", "zip"},
        empty_zips(tmp_path / "e.arrows", "stream", 0): {"id", "zip"},
        empty_zips(tmp_path / "s.arrows", "stream", 3): set(),
        write(tmp_path / "v.arrow", "file", later_value, batch=1): {"n"},  # zip has a value in batch 2
    }
    for src, valueless in cases.items():
        with open_reader(str(src), SourceConfig(path=[str(src)])) as r:
            assert r.valueless == valueless, src


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_run_end_encoded_columns_load_as_their_values(tmp_path: Path, sink: str) -> None:
    """They reached SQLite as JSON text: `"p"` with its quotes, the int32 7 as TEXT '7'."""
    runs = pa.RunEndEncodedArray.from_arrays
    table = pa.table(
        {
            "id": [1, 2, 3],
            "rs": runs(pa.array([2, 3], pa.int32()), pa.array(["p", "q"])),
            "ri": runs(pa.array([1, 3], pa.int32()), pa.array([7, None], pa.int32())),
        }
    )
    src = write(tmp_path / "ree.arrow", "file", table)
    target = tmp_path / f"t.{sink}"
    if sink == "ldb":
        load(str(src), str(target), key="{id}")
        items, _ = leveldb_items(target)
        assert [json.loads(v) for _, v in items] == [
            {"id": 1, "rs": "p", "ri": 7},
            {"id": 2, "rs": "p", "ri": None},
            {"id": 3, "rs": "q", "ri": None},
        ]
        return
    load(str(src), str(target), table="t")
    with sqlite3.connect(target) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 't'").fetchone()
        rows = conn.execute("SELECT id, rs, ri, typeof(ri) FROM t ORDER BY id").fetchall()
    assert sql == 'CREATE TABLE "t" ("id" INTEGER, "rs" TEXT, "ri" INTEGER)'
    assert rows == [(1, "p", 7, "integer"), (2, "p", None, "null"), (3, "q", None, "null")]
