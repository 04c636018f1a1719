from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import load
from loader.config import SourceConfig
from loader.errors import SourceError
from loader.readers import open_reader
from loader.transforms import Filter
from tests.conftest import sqlite_rows
from tests.reliability_util import cli, leveldb_items, reject_lines, rejects_of


def make(tmp_path: Path, n: int = 1000, group: int = 300) -> Path:
    p = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"id": range(n), "s": [str(i) if i % 10 else "x" for i in range(n)]}), p, row_group_size=group
    )
    return p


def read(p: Path, chunk_size: int = 128, resume=None, **kw):
    with open_reader(str(p), SourceConfig(path=[str(p)], **kw), chunk_size=chunk_size, resume=resume) as r:
        return r, list(r)


def test_streams_in_chunks_with_row_numbers(tmp_path: Path) -> None:
    r, chunks = read(make(tmp_path))
    assert r.schema.names == ["id", "s"]
    assert max(c.num_rows for c in chunks) <= 128
    assert [i for c in chunks for i in c.batch.column("id").to_pylist()] == list(range(1000))
    assert [i for c in chunks for i in c.rows.to_pylist()] == list(range(1, 1001))
    assert sum(c.rows_read for c in chunks) == 1000


@pytest.mark.parametrize("done", [0, 1, 299, 300, 301, 640, 999, 1000])
def test_resume_skips_exactly_the_committed_rows(tmp_path: Path, done: int) -> None:
    _, chunks = read(make(tmp_path), resume={"row": done})
    assert [i for c in chunks for i in c.batch.column("id").to_pylist()] == list(range(done, 1000))
    assert sum(c.rows_read for c in chunks) == 1000 - done


def test_type_override_rejects_values_that_do_not_fit(tmp_path: Path) -> None:
    _, chunks = read(make(tmp_path, 100, 50), columns={"s": "int64"})
    rejects = [rj for c in chunks for rj in c.rejects]
    assert [rj.row for rj in rejects] == list(range(1, 101, 10))
    assert rejects[0].column == "s" and rejects[0].reason == "'x' is not a valid int64"
    assert sum(c.num_rows for c in chunks) == 90


def test_rejected_row_values_keep_bytes_that_are_not_text(tmp_path: Path) -> None:
    p = tmp_path / "b.parquet"
    pq.write_table(pa.table({"n": ["1", "two"], "blob": pa.array([b"ok", b"\x00\xff"], pa.binary())}), p)
    _, chunks = read(p, columns={"n": "int64"})
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert (rj.row, rj.column) == (2, "n")
    assert rj.values == {"n": "two", "blob": b"\x00\xff"}
    assert json.loads(rj.to_json())["values"]["blob"] == {"base64": "AP8="}


def test_rejected_row_values_keep_nanoseconds_and_far_years_as_iso_text(tmp_path: Path) -> None:
    """Values Python's datetime cannot hold go into the reject as the text the targets store."""
    p = tmp_path / "ns.parquet"
    columns = {
        "ts": pa.array([1704067200123456789], pa.timestamp("ns")),
        "t": pa.array([1], pa.time64("ns")),
        "d": pa.array([-800000000], pa.date32()),
        "big": pa.array([9007199254740993]),
    }
    pq.write_table(pa.table(columns), p)
    _, chunks = read(p, columns={"big": "float64"})
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert (rj.row, rj.column, rj.reason) == (
        1,
        "big",
        "'9007199254740993' would be stored as 9007199254740992.0 by float64 (declare the column as decimal(p, s) or string)",
    )
    assert rj.values == {
        "ts": "2024-01-01T00:00:00.123456789",
        "t": "00:00:00.000000001",
        "d": "-2188356-05-24",
        "big": 9007199254740993,
    }


@pytest.mark.parametrize(
    ("declared", "reasons"),
    [
        ({"b": "bool"}, ["'2' is a number, not a boolean: bool takes true and false only"]),
        ({"ts": "timestamp"}, ["'1970-01-01 01:00:00+01:00' has a time zone that timestamp[us] would drop"]),
        (
            {"n": "timestamp[ms, UTC]"},
            ["'1970-01-01 00:00:00' has no time zone, and timestamp[ms, UTC] would have to assume one"],
        ),
        ({"f": "int64"}, ["'true' is a boolean, not a number: int64 takes numbers only"]),
    ],
)
def test_a_declared_type_rejects_a_value_of_another_kind(
    tmp_path: Path, declared: dict[str, str], reasons: list[str]
) -> None:
    p = tmp_path / "d.parquet"
    columns = {
        "b": pa.array([2, None], pa.int8()),
        "ts": pa.array([0, None], pa.timestamp("ms", "Europe/Paris")),
        "n": pa.array([0, None], pa.timestamp("ms")),
        "f": [True, None],
    }
    pq.write_table(pa.table(columns), p)
    _, chunks = read(p, columns=declared)
    assert [(rj.row, rj.column, rj.reason) for c in chunks for rj in c.rejects] == [(1, *declared, *reasons)]
    assert [c.batch.column(*declared).to_pylist() for c in chunks if c.num_rows] == [[None]]


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    p = make(tmp_path)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        read(bad)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(SourceError):
        read(cut)
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="file is empty"):
        read(empty)


def _page_damaged(tmp_path: Path) -> Path:
    """3 row groups of 2000 rows with page CRCs (as parquet-mr and Spark write them), 40
    bytes of one data page of the second group flipped: the page still decodes, to other
    values."""
    n = 6000
    table = pa.table({"id": pa.array(range(1, n + 1), pa.int64()), "amount": pa.array(range(n), pa.int64())})
    good = tmp_path / "crc.parquet"
    pq.write_table(table, good, row_group_size=2000, compression="none", use_dictionary=False, write_page_checksum=True)
    data = bytearray(good.read_bytes())
    offset = pq.ParquetFile(good).metadata.row_group(1).column(1).data_page_offset
    for i in range(offset + 1000, offset + 1040):
        data[i] ^= 0x55
    bad = tmp_path / "crc_flip.parquet"
    bad.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_page_whose_checksum_fails_is_a_data_error_not_values_stored_as_they_decode(
    tmp_path: Path, engine: str
) -> None:
    """A damaged page that still decoded was stored with changed values, exit 0: its CRC is checked."""
    bad = _page_damaged(tmp_path)
    db = tmp_path / "t.db"
    done = cli("load", str(bad), str(db), "--table", "t", "--no-progress", "--engine", engine)
    assert done.returncode == 65, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"loader: error: {bad}: cannot read Parquet data near row 1 (could not verify page integrity, "
        "CRC checksum verification failed for page_ordinal 0)"
    )
    if db.exists():
        with sqlite3.connect(db) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()
            assert not tables or conn.execute("SELECT count(*) FROM t WHERE amount != id - 1").fetchone() == (0,)


def test_a_file_with_page_checksums_loads_whole(tmp_path: Path) -> None:
    good = _page_damaged(tmp_path).with_name("crc.parquet")
    db = tmp_path / "t.db"
    assert load(str(good), str(db), table="t").rows_written == 6000
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), sum(amount != id - 1) FROM t").fetchone() == (6000, 0)


def test_int96_timestamps_from_spark_keep_years_past_2262(tmp_path: Path) -> None:
    """INT96 read in microseconds, as Spark and DuckDB read it: in pyarrow's default
    nanoseconds Spark's 9999-12-31T01:00:00-02:00 wrapped round to 1816-03-29."""
    src = Path(__file__).parents[1] / "data" / "parquet-testing" / "int96_from_spark.parquet"
    r, chunks = read(src)
    assert r.schema.field("a").type == pa.timestamp("us")
    values = [v for c in chunks for v in c.batch.column("a").view(pa.int64()).to_pylist()]
    # the file's own README: the microseconds since the epoch Spark wrote (the sixth, year
    # 290000, Arrow's INT96 conversion still wraps: not asserted)
    assert values[:5] == [1704141296123456, 1704070800000000, 253402225200000000, 1735599600000000, None]


def test_view_types_in_the_stored_arrow_schema_load_as_text_and_bytes(tmp_path: Path) -> None:
    p = tmp_path / "v.parquet"
    table = pa.table(
        {
            "k": pa.array(["a", "b", "c", None], pa.string_view()),
            "raw": pa.array([b"\x00", None, b"\xff", b"z"], pa.binary_view()),
            "big": pa.array([1, 2**63, 3, 4], pa.uint64()),
        }
    )
    pq.write_table(table, p)  # the stored Arrow schema keeps the view types: pyarrow reads them back
    assert pq.read_schema(p).field("k").type == pa.string_view()
    db = tmp_path / "t.db"
    report = load(str(p), str(db), table="t")
    assert (report.rows_written, report.rows_rejected) == (3, 1)
    (bad,) = reject_lines(rejects_of(db))
    assert (bad["row"], bad["column"], bad["values"]) == (2, "big", {"k": "b", "raw": None, "big": 2**63})
    with sqlite3.connect(db) as conn:
        assert [r[2] for r in conn.execute('PRAGMA table_info("t")')] == ["TEXT", "BLOB", "INTEGER"]
        rows = conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    assert rows == [("a", b"\x00", 1), ("c", b"\xff", 3), (None, b"z", 4)]
    report = load(str(p), str(tmp_path / "f.db"), table="t", transforms=[Filter(where="k != 'c'")])
    assert (report.rows_written, report.rows_rejected, report.rows_filtered) == (1, 1, 2)


def test_fields_that_differ_only_in_case_are_two_columns_as_in_a_csv_header(tmp_path: Path) -> None:
    """A schema holding `a` and `A` is as a CSV header `a,A`: two columns, the second `A_2`."""
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": [1, 2], "a": [1, None], "A": [None, 3]}), p)
    (tmp_path / "t.csv").write_text("id,a,A\n1,1,\n2,,3\n", encoding="utf-8")
    for src in (p, tmp_path / "t.csv"):
        r, chunks = read(src)
        assert r.schema.names == ["id", "a", "A_2"]
        assert [row for c in chunks for row in c.batch.to_pylist()] == [
            {"id": 1, "a": 1, "A_2": None},
            {"id": 2, "a": None, "A_2": 3},
        ]


# ------------------------------------------------------------ Arrow extension types

UUIDS = [uuid.UUID(int=1), uuid.UUID(bytes=b"\xff" * 16)]
BASE64 = ["AAAAAAAAAAAAAAAAAAAAAQ==", "/////////////////////w=="]


def write_uuids(path: Path, writer: str) -> Path:
    """Two rows of ``id`` and ``u``, a UUID, with ``lu`` (a list of them) and ``su`` (a struct
    of one) where the writer can: pyarrow keeps ``arrow.uuid`` in the file's stored Arrow
    schema, DuckDB and pyarrow without that schema write Parquet's UUID alone."""
    u = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([x.bytes for x in UUIDS], pa.binary(16)))
    lists = pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), pa.concat_arrays([u, u]))
    table = pa.table({"id": [1, 2], "u": u, "lu": lists, "su": pa.StructArray.from_arrays([u], ["x"])})
    if writer == "pyarrow":
        pq.write_table(table, path)
    elif writer == "pyarrow-bare":
        pq.write_table(table, path, store_schema=False)
    elif writer == "pandas":
        pd.DataFrame({"id": [1, 2], "u": UUIDS}).to_parquet(path)  # arrow.uuid in the stored schema
    else:
        rows = " UNION ALL ".join(
            f"SELECT {i} AS id, '{x}'::UUID AS u, {lu} AS lu, {{'x': '{x}'::UUID}} AS su"
            for i, x, lu in [
                (1, UUIDS[0], f"['{UUIDS[0]}'::UUID]"),
                (2, UUIDS[1], f"['{UUIDS[1]}'::UUID, '{UUIDS[0]}'::UUID]"),
            ]
        )
        duckdb.sql(f"COPY ({rows} ORDER BY id) TO '{path}' (FORMAT parquet)")
    return path


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("writer", ["pyarrow", "pyarrow-bare", "pandas", "duckdb"])
def test_a_uuid_is_its_16_bytes_whichever_tool_wrote_the_file(tmp_path: Path, writer: str, engine: str) -> None:
    """SQLite: a BLOB (lists and structs: JSON of base64 text); LevelDB: base64 in the JSON
    value, the bytes themselves in a key. Nested UUIDs were an internal error."""
    src = write_uuids(tmp_path / "u.parquet", writer)
    nested = writer != "pandas"
    run = {"engine": engine}
    db = tmp_path / "t.db"
    assert load(str(src), str(db), table="t", run_options=run).rows_written == 2
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    assert [r[:2] for r in rows] == [(1, UUIDS[0].bytes), (2, UUIDS[1].bytes)]
    if nested:
        assert [r[2:] for r in rows] == [
            (f'["{BASE64[0]}"]', f'{{"x":"{BASE64[0]}"}}'),
            (f'["{BASE64[1]}","{BASE64[0]}"]', f'{{"x":"{BASE64[1]}"}}'),
        ]
    target = tmp_path / "t.ldb"
    assert load(str(src), str(target), key="u:{u}", run_options=run).rows_written == 2
    items, _ = leveldb_items(target)
    assert [k for k, _ in items] == [b"u:" + UUIDS[0].bytes, b"u:" + UUIDS[1].bytes]
    values = [json.loads(v) for _, v in items]
    assert [(v["id"], v["u"]) for v in values] == [(1, BASE64[0]), (2, BASE64[1])]
    if nested:
        assert [(v["lu"], v["su"]) for v in values] == [
            ([BASE64[0]], {"x": BASE64[0]}),
            ([BASE64[1], BASE64[0]], {"x": BASE64[1]}),
        ]


def test_uuid_files_of_every_writer_load_together(tmp_path: Path) -> None:
    """One column type whatever the writer: files of all of them in one load, and in runs one after another."""
    files = [
        str(write_uuids(tmp_path / f"{i}.parquet", w)) for i, w in enumerate(["pyarrow", "duckdb", "pyarrow-bare"])
    ]
    db = tmp_path / "t.db"
    assert load(files, str(db), table="t").rows_written == 6
    for f in files:
        assert load(f, str(tmp_path / "runs.db"), table="t").rows_written == 2
    for name in ("t.db", "runs.db"):
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("SELECT DISTINCT typeof(u), hex(u) FROM t ORDER BY 2").fetchall() == [
                ("blob", UUIDS[0].hex.upper()),
                ("blob", UUIDS[1].hex.upper()),
            ]


# What DuckDB and pandas print for UUIDS: the text a file holding them as text has
UUID_TEXT = ["00000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff"]


def uuid_and_text(tmp_path: Path, writer: str) -> tuple[str, str]:
    """A file of ``id`` and ``u``, UUIDS, written as ``write_uuids``' ``writer`` does, and one of
    ``id`` 3 and the second UUID as text, as pandas writes a UUID."""
    src, text = tmp_path / "u.parquet", tmp_path / "text.parquet"
    u = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([x.bytes for x in UUIDS], pa.binary(16)))
    pq.write_table(pa.table({"id": [1, 2], "u": u}), src, store_schema=writer == "pyarrow")
    pq.write_table(pa.table({"id": [3], "u": [UUID_TEXT[1]]}), text)
    return str(src), str(text)


@pytest.mark.parametrize("engine", ["threads", "processes"])
@pytest.mark.parametrize("writer", ["pyarrow", "pyarrow-bare"])
def test_a_uuid_in_a_text_column_is_its_canonical_text(tmp_path: Path, writer: str, engine: str) -> None:
    """A UUID file beside one holding the UUIDs as text (pandas writes them so), or declared
    text: the UUID's 8-4-4-4-12 text, in SQLite and in LevelDB's values and keys, so one entity
    has one key. Its 16 bytes were decoded as UTF-8: most rejected, the rest stored as garbage.
    ``pyarrow-bare`` marks it by Parquet's UUID logical type alone, as DuckDB does."""
    src, text = uuid_and_text(tmp_path, writer)
    run = {"engine": engine}
    db = tmp_path / "t.db"
    assert load([src, text], str(db), table="t", run_options=run).rows_written == 3
    assert sqlite_rows(db, "SELECT id, u, typeof(u) FROM t ORDER BY id") == [
        (1, UUID_TEXT[0], "text"),
        (2, UUID_TEXT[1], "text"),
        (3, UUID_TEXT[1], "text"),
    ]
    declared = tmp_path / "d.db"
    assert (
        load(src, str(declared), table="t", source_options={"columns": {"u": "string"}}, run_options=run).rows_written
        == 2
    )
    assert sqlite_rows(declared, "SELECT u FROM t ORDER BY id") == [(UUID_TEXT[0],), (UUID_TEXT[1],)]
    target = tmp_path / "t.ldb"
    load([src, text], str(target), key="u:{u}", sink_options={"mode": "upsert"}, run_options=run)
    items, _ = leveldb_items(target)
    assert [(k, json.loads(v)["u"]) for k, v in items] == [  # one key for the UUID both files hold
        (f"u:{UUID_TEXT[0]}".encode(), UUID_TEXT[0]),
        (f"u:{UUID_TEXT[1]}".encode(), UUID_TEXT[1]),
    ]


def test_plain_16_bytes_beside_text_are_bytes_not_a_uuid(tmp_path: Path) -> None:
    """Only a column the file marks as a UUID is one: 16 bytes without the mark are decoded
    as UTF-8 where the column is text, as any bytes are (the rest rejected)."""
    src = tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1, 2], "u": pa.array([b"0123456789abcdef", b"\xff" * 16], pa.binary(16))}), src)
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"id": [3], "u": ["x"]}), text)
    db = tmp_path / "t.db"
    result = load([str(src), str(text)], str(db), table="t")
    assert (result.rows_written, result.rows_rejected) == (2, 1)
    assert sqlite_rows(db, "SELECT id, u FROM t ORDER BY id") == [(1, "0123456789abcdef"), (3, "x")]


def test_an_upsert_keyed_on_uuid_bytes_refuses_their_text_next_run(tmp_path: Path) -> None:
    """The job's keys were the UUIDs' 16 bytes; a later file holding them as text would key
    each entity a second time: refused (exit 78), as for any key column of another spelling."""
    src, text = uuid_and_text(tmp_path, "pyarrow-bare")
    target = tmp_path / "t.ldb"
    assert cli("load", src, str(target), "--key", "u:{u}", "--mode", "upsert").returncode == 0
    refused = cli("load", text, str(target), "--key", "u:{u}", "--mode", "upsert")
    assert (refused.returncode, refused.stdout) == (78, "")
    assert refused.stderr == (
        f"loader: error: sink.key: column u is string in this run, but this job's keys in {target} were written "
        "with it as fixed_size_binary[16] (fixed_size_binary[16] keys are the value's bytes as they are, a UUID's "
        "16 bytes and not its text; string keys are the text as read): mode upsert would write every row again "
        "under a second key\n"
        "  hint: load u as the job's earlier files hold it (fixed_size_binary[16]) to keep the store's keys, or "
        "rerun with --mode replace to write the job's keys anew\n"
    )
    assert [k for k, _ in leveldb_items(target)[0]] == [b"u:" + UUIDS[0].bytes, b"u:" + UUIDS[1].bytes]


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_bool8_column_is_a_bool(tmp_path: Path, engine: str) -> None:
    """Arrow's bool8 (an int8 holding a bool) was TEXT '1'/'0' in SQLite."""
    src = tmp_path / "b.parquet"
    flags = pa.ExtensionArray.from_storage(pa.bool8(), pa.array([1, 0, None, 2], pa.int8()))
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "b": flags}), src)
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t", run_options={"engine": engine})
    with sqlite3.connect(db) as conn:
        assert [r[2] for r in conn.execute('PRAGMA table_info("t")')] == ["INTEGER", "INTEGER"]
        assert conn.execute("SELECT b, typeof(b) FROM t ORDER BY id").fetchall() == [
            (1, "integer"),
            (0, "integer"),
            (None, "null"),
            (1, "integer"),
        ]
    load(str(src), str(tmp_path / "t.ldb"), key="{id}", run_options={"engine": engine})
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [json.loads(v)["b"] for _, v in items] == [True, False, None, True]


# ------------------------------------------------------------ NUL in text


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_nul_in_large_string_text_is_kept_whatever_the_engine_files_and_runs(tmp_path: Path, engine: str) -> None:
    """pandas 3 and Polars write large_string: its NUL was rejected by the processes engine,
    beside a string file, or in a later run into a table that recorded string."""
    small, large = tmp_path / "n1.parquet", tmp_path / "n2.parquet"
    pq.write_table(pa.table({"id": [1], "s": pa.array(["a\x00b"], pa.string())}), small)
    pq.write_table(pa.table({"id": [2], "s": pa.array(["c\x00d"], pa.large_string())}), large)
    run = {"engine": engine}
    stored = [(1, "a\x00b"), (2, "c\x00d")]
    alone = tmp_path / "alone.db"
    assert load(str(large), str(alone), table="t", run_options=run).rows_rejected == 0
    assert load([str(small), str(large)], str(tmp_path / "both.db"), table="t", run_options=run).rows_rejected == 0
    for f in (small, large):
        assert load(str(f), str(tmp_path / "runs.db"), table="t", run_options=run).rows_rejected == 0
    for name, rows in (("alone.db", stored[1:]), ("both.db", stored), ("runs.db", stored)):
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("SELECT id, s FROM t ORDER BY id").fetchall() == rows


ENCRYPTED = (
    Path(__file__).parents[1] / "data" / "parquet-testing" / "encrypt_columns_plaintext_footer.parquet.encrypted"
)


@pytest.mark.parametrize("flags", [[], ["--dry-run"], ["--max-memory", "300MB"], ["--engine", "processes"]])
def test_a_file_of_encrypted_columns_under_a_plaintext_footer_is_a_data_error_with_a_report(
    tmp_path: Path, flags: list[str]
) -> None:
    """pyarrow aborted the process reading such a file's column metadata (SIGABRT, no report)."""
    src = tmp_path / "enc.parquet"
    src.write_bytes(ENCRYPTED.read_bytes())
    report = tmp_path / "r.json"
    done = cli("load", str(src), str(tmp_path / "e.db"), "--table", "t", "--report", str(report), *flags)
    assert done.returncode == 65, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"loader: error: {src}: not a readable Parquet file "
        "(its columns are encrypted: Parquet modular encryption is not read)"
    )
    if not flags or flags[0] != "--dry-run":
        assert json.loads(report.read_text())["status"] == "failed"


def _duckdb_intervals(tmp_path: Path) -> Path:
    """DuckDB's INTERVAL in Parquet: 12 bytes (months, days, milliseconds) marked INTERVAL."""
    p = tmp_path / "iv.parquet"
    duckdb.sql(
        "copy (select * from (values (1, interval '1 month 2 days 3 seconds'), (2, null), "
        f"(3, interval '100 years 25 hours 0.5 seconds')) t(id, iv)) to '{p}'"
    )
    return p


def test_a_parquet_interval_is_read_as_an_interval_and_stored_as_iso_text(tmp_path: Path) -> None:
    """pyarrow reads Parquet's INTERVAL as fixed_size_binary[12]: it was stored as a 12-byte BLOB."""
    src = _duckdb_intervals(tmp_path)
    r, chunks = read(src)
    assert r.schema.field("iv").type == pa.month_day_nano_interval()
    assert chunks[0].batch.column("iv").to_pylist()[0] == pa.MonthDayNano([1, 2, 3_000_000_000])
    db, ldb = tmp_path / "iv.db", tmp_path / "iv.ldb"
    assert load(str(src), str(db), table="t").rows_written == 3
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, iv, typeof(iv) FROM t ORDER BY id").fetchall()
        declared = {c[1]: c[2] for c in conn.execute("PRAGMA table_info(t)")}
    assert rows == [(1, "P1M2DT3S", "text"), (2, None, "null"), (3, "P1200M0DT90000.5S", "text")]
    assert declared["iv"] == "TEXT"
    load(str(src), str(ldb), key="{id}")
    assert [v for _, v in leveldb_items(ldb)[0]] == [
        b'{"id":1,"iv":"P1M2DT3S"}',
        b'{"id":2,"iv":null}',
        b'{"id":3,"iv":"P1200M0DT90000.5S"}',
    ]


def test_a_parquet_interval_arrow_cannot_hold_is_rejected() -> None:
    """Parquet counts months and days unsigned, Arrow in signed 32 bits."""
    from loader.readers.parquet import interval_values

    raw = [(1).to_bytes(4, "little") * 2 + (1500).to_bytes(4, "little"), None, (2**31).to_bytes(4, "little") * 3]
    out = interval_values(pa.array(raw, pa.binary(12)))
    assert out.array.to_pylist() == [pa.MonthDayNano([1, 1, 1_500_000_000]), None, None]
    assert out.bad is not None and out.bad.to_pylist() == [False, False, True]
    assert out.reasons == [
        "an interval of 2147483648 months, 2147483648 days and 2147483648 ms: "
        "Arrow holds at most 2147483647 months or days"
    ]


# ------------------------------------------------------------ footer row counts

NO_FOOTER_ROWS = Path(__file__).parents[1] / "data" / "parquet-testing" / "repeated_no_annotation.parquet"


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_footer_that_counts_no_rows_over_a_row_group_of_rows_loads_them(tmp_path: Path, engine: str) -> None:
    """parquet-rs 0.3.0 wrote num_rows 0 in the footer over a row group of 6 rows: every
    column was taken for valueless and all 6 rows were rejected."""
    assert pq.ParquetFile(NO_FOOTER_ROWS).metadata.num_rows == 0
    db = tmp_path / "t.db"
    result = load(str(NO_FOOTER_ROWS), str(db), table="t", run_options={"engine": engine})
    assert (result.rows_written, result.rows_rejected) == (6, 0)
    with sqlite3.connect(db) as conn:
        assert [r[1:3] for r in conn.execute('PRAGMA table_info("t")')] == [("id", "INTEGER"), ("phoneNumbers", "TEXT")]
        rows = conn.execute('SELECT id, "phoneNumbers" FROM t ORDER BY id').fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[5][1] == (
        '{"phone":[{"number":1111111111,"kind":"home"},{"number":2222222222,"kind":null},'
        '{"number":3333333333,"kind":"mobile"}]}'
    )
    load(str(NO_FOOTER_ROWS), str(tmp_path / "t.ldb"), key="{id}", run_options={"engine": engine})
    items, _ = leveldb_items(tmp_path / "t.ldb")
    assert [json.loads(v)["id"] for _, v in items] == [1, 2, 3, 4, 5, 6]


def test_inspect_shows_the_rows_of_a_footer_that_counts_none() -> None:
    done = cli("inspect", str(NO_FOOTER_ROWS))
    assert done.returncode == 0, done.stderr
    assert "  id            int32" in done.stdout.splitlines()
    assert "  id=3, phoneNumbers={'phone': []}" in done.stdout.splitlines()


# ------------------------------------------------------------ a later run's value of another kind


_NOTE = (
    "; d is date since an earlier run of this job: to change it, declare the type and reload every"
    ' file with --restart and mode = "replace"'
)


@pytest.mark.parametrize("sink", ["db", "ldb"])
def test_a_later_runs_value_arrow_cannot_cast_to_the_recorded_type_is_rejected(tmp_path: Path, sink: str) -> None:
    """A time, bool or integer into a column an earlier run made a date stopped the run: 'cannot
    read Parquet data near row 1 (Unsupported cast from time64[us] to date32 ...)', exit 65."""
    # a folder a file lands in each day, loaded by its glob: the earlier files stay inputs
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1], "d": [dt.date(2024, 1, 1)]}), tmp_path / "in" / "a.parquet")
    later = {"b": [dt.time(1, 2, 3), None], "c": [True, None], "e": [20240101, None]}
    target = tmp_path / f"t.{sink}"
    opts = {"key": "{id}"} if sink == "ldb" else {"table": "t"}
    day = str(tmp_path / "in" / "*.parquet")
    assert load(day, str(target), **opts).rows_written == 1
    for name, values in later.items():
        pq.write_table(pa.table({"id": [2, 3], "d": values}), tmp_path / "in" / f"{name}.parquet")
        report = load(day, str(target), **opts)
        assert (report.rows_read, report.rows_written, report.rows_rejected) == (2, 1, 1)  # the null loads
    rejects = reject_lines(rejects_of(target, "table:t" if sink == "db" else "key:id"))
    assert [(Path(r["file"]).name, r["row"], r["column"], r["reason"]) for r in rejects] == [
        ("b.parquet", 1, "d", "'01:02:03.000000' is not a valid date" + _NOTE),
        ("c.parquet", 1, "d", "'true' is not a valid date" + _NOTE),
        ("e.parquet", 1, "d", "'20240101' is not a valid date" + _NOTE),
    ]
    if sink == "db":
        assert sqlite_rows(target, "SELECT id, d FROM t ORDER BY rowid") == [(1, "2024-01-01")] + [(3, None)] * 3
    else:
        items, _ = leveldb_items(target)
        assert [json.loads(v) for _, v in items] == [{"id": 1, "d": "2024-01-01"}, {"id": 3, "d": None}]


def test_a_later_file_with_no_value_the_recorded_type_takes_loads_nothing_and_exits_4(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1], "d": [dt.date(2024, 1, 1)]}), tmp_path / "in" / "a.parquet")
    db, day = tmp_path / "t.db", str(tmp_path / "in" / "*.parquet")
    assert cli("load", day, str(db), "--table", "t", "-q").returncode == 0
    pq.write_table(pa.table({"id": [2], "d": [dt.time(1, 2, 3)]}), tmp_path / "in" / "b.parquet")
    p = cli("load", day, str(db), "--table", "t", "-q")
    assert p.returncode == 4
    assert p.stderr.splitlines()[0] == (
        f"loader: error: {tmp_path / 'in' / 'b.parquet'}: nothing loaded: the one row was rejected"
        f" ('01:02:03.000000' is not a valid date{_NOTE})"
    )


def test_a_later_runs_values_of_another_kind_are_rejected_by_every_worker_process(tmp_path: Path) -> None:
    """The processes engine converts in its workers: a bool into a recorded date there too."""
    run = {"engine": "processes"}
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": [1], "d": [dt.date(2024, 1, 1)]}), tmp_path / "in" / "a.parquet")
    db, day = tmp_path / "t.db", str(tmp_path / "in" / "*.parquet")
    assert load(day, str(db), table="t", run_options=run).rows_written == 1
    pq.write_table(
        pa.table({"id": [2, 3, 4], "d": [True, None, False]}), tmp_path / "in" / "b.parquet", row_group_size=1
    )
    report = load(day, str(db), table="t", run_options=run)
    assert (report.rows_written, report.rows_rejected) == (1, 2)
    rejects = reject_lines(rejects_of(db))
    assert sorted((r["row"], r["reason"]) for r in rejects) == [
        (1, "'true' is not a valid date" + _NOTE),
        (3, "'false' is not a valid date" + _NOTE),
    ]
    assert sqlite_rows(db, "SELECT id, d FROM t ORDER BY id") == [(1, "2024-01-01"), (3, None)]


def test_a_wide_file_holds_its_chunks_to_the_bytes_of_the_runs_rows(tmp_path: Path) -> None:
    """``bench_rows``: the footer's width makes fewer rows to a chunk (16 KB rows are 167 of
    the benchmark's 96 bytes: 8192 of them make 49), never more than ``chunk_size``, so a file
    the run's sample of widths left out holds as many bytes as the files it measured."""
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"id": range(200), "txt": ["y" * 16_000 + str(i) for i in range(200)]}), path)
    narrow = make(tmp_path)

    def rows(p: Path, chunk_size: int, bench_rows: int) -> list[int]:
        with open_reader(str(p), SourceConfig(path=[str(p)]), chunk_size=chunk_size, bench_rows=bench_rows) as r:
            return [c.num_rows for c in r]

    assert rows(path, 8192, 0) == [200]  # no width asked for: rows as given
    assert rows(path, 8192, 8192) == [49, 49, 49, 49, 4]
    assert rows(path, 20, 8192) == [20] * 10  # the run's own chunk is smaller still
    assert rows(narrow, 8192, 8192) == [1000]  # narrow rows: as given


def test_reading_a_file_leaves_no_reference_cycle(tmp_path: Path) -> None:
    """pyarrow's footer and its ``metadata.schema`` refer to each other: a cycle per file read,
    which the run's paused collector kept to its end (4,000 small files: 30 MB, peaking 112 MB
    under the 111 MB named for them). A file's reader leaves no garbage for a collector."""
    import gc

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": [1, 2], "none": pa.array([None, None], pa.int64()), "t": ["x", "y"]}), path)
    gc.collect()
    gc.disable()
    try:
        with open_reader(str(path), SourceConfig(path=[str(path)])) as reader:
            assert [c.rows_read for c in reader] == [2]
            assert reader.valueless == frozenset({"none"})  # the footer's statistics still tell it
        del reader
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_parquet_column_in_a_type_pyarrow_cannot_read_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    """Polars' Int128 column: pyarrow refuses the whole file. It was opened first to size the
    load's memory, outside the reader's errors: an internal error (exit 1, rerun forever)."""
    src = Path(__file__).parent.parent / "data" / "polars" / "int128.parquet"
    for engine in ("threads", "processes"):
        p = cli("load", str(src), str(tmp_path / f"{engine}.db"), "--table", "t", "--engine", engine)
        assert p.returncode == 65, p.stderr
        assert p.stderr.splitlines() == [
            f"loader: error: {src}: not a readable Parquet file: a column's type is not one pyarrow reads "
            "(Integers with more than 64 bits not implemented)",
            "  hint: write that column in another type (a 128-bit integer as int64 or decimal), then rerun: "
            "the files before it stay loaded",
        ]


def test_a_time_past_the_end_of_the_day_is_rejected_and_24_00_is_stored_as_24_00(tmp_path: Path) -> None:
    """A Parquet TIME holds any count: DuckDB writes TIME '24:00:00' as a day's microseconds,
    fastparquet a timedelta. Both were stored as Arrow's `<value out of range: N>` text (keys
    too), and rejects wrapped them to midnight."""
    src = tmp_path / "t.parquet"
    day = 86_400_000_000
    times = pa.array([day, 3_600_000_000, day + 7_200_000_000, -5_000_000], pa.time64("us"))
    nested = pa.array([[day], [], None, None], pa.list_(pa.time64("us")))
    pq.write_table(pa.table({"rid": [1, 2, 3, 4], "t": times, "lt": nested}), src)
    db, rejects = tmp_path / "t.db", tmp_path / "r.jsonl"
    p = cli("load", str(src), str(db), "--table", "t", "--rejects", str(rejects))
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY rid") == [
        (1, "24:00:00.000000", '["24:00:00.000000"]'),
        (2, "01:00:00.000000", "[]"),
    ]
    assert [(r["row"], r["column"], r["reason"], r["values"]["t"]) for r in reject_lines(rejects)] == [
        (3, "t", "26:00:00.000000 is not a time of day (00:00:00 to 24:00:00)", "26:00:00.000000"),
        (4, "t", "-00:00:05.000000 is not a time of day (00:00:00 to 24:00:00)", "-00:00:05.000000"),
    ]
    ldb = tmp_path / "k.ldb"
    p = cli("load", str(src), str(ldb), "--key", "t:{t}", "--rejects", str(tmp_path / "k.jsonl"))
    assert p.returncode == 0, p.stderr
    assert [k for k, _ in leveldb_items(ldb)[0]] == [b"t:01:00:00.000000", b"t:24:00:00.000000"]
    # under a strftime spec 24:00 would be 00:00's key: its row is rejected, its values exact
    p = cli("load", str(src), str(tmp_path / "h.ldb"), "--key", "k{t:%H%M}", "--rejects", str(tmp_path / "h.jsonl"))
    assert p.returncode == 0, p.stderr
    (end,) = [r for r in reject_lines(tmp_path / "h.jsonl") if r["stage"] == "write"]
    assert end["values"] == {"rid": 1, "t": "24:00:00.000000", "lt": ["24:00:00.000000"]}
