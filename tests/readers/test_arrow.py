"""Arrow IPC input: the file format (Feather v2) and the stream format, batch by batch,
values and types kept, declared types converted with rejects, resume by batch index."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

from loader import load
from loader.config import SourceConfig
from loader.errors import SourceError
from loader.readers import open_reader
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


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_fields_that_differ_only_in_case_are_two_columns_as_in_a_csv_header(tmp_path: Path, kind: str) -> None:
    """A schema holding `a` and `A` is as a CSV header `a,A`: two columns, the second `A_2`."""
    src = write(tmp_path / "t.arrow", kind, pa.table({"id": [1, 2], "a": [1, None], "A": [None, 3]}))
    db = tmp_path / "t.db"
    load(str(src), str(db), table="t")
    assert sqlite_table(db) == [(1, 1, None), (2, None, 3)]
    with open_reader(str(src), SourceConfig(path=[str(src)])) as r:
        assert r.schema.names == ["id", "a", "A_2"]
