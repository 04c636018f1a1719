"""Page headers read before a load, and the memory they say a Parquet file needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import load
from loader.readers import parquet_pages
from loader.readers.parquet_pages import DICTIONARY_PAGE, chunk_pages, column_needs, file_layout, reader_bytes

DATA = Path(__file__).parents[1] / "data" / "parquet-testing"
# files whose column chunks do not end where their headers say (Arrow reads them all)
ODD = {
    "nation.dict-malformed.parquet",  # a dictionary page the metadata does not count
    "column_chunk_key_value_metadata.parquet",  # no rows: data_page_offset 0 points at the magic
}


def _chunks(path: Path):  # type: ignore[no-untyped-def]
    meta = pq.ParquetFile(path).metadata
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            yield meta.row_group(g).column(c)


def _walk_matches(path: Path) -> None:
    with pa.OSFile(str(path)) as source:
        for column in _chunks(path):
            pages = chunk_pages(source, column, limit=10**9)
            assert sum(p.header + p.compressed for p in pages) == column.total_compressed_size, (path.name, column)
            assert pages and pages[-1].kind != DICTIONARY_PAGE
            assert sum(p.uncompressed + p.header for p in pages) == column.total_uncompressed_size, path.name


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.parquet")))
def test_the_page_headers_of_third_party_files_add_up_to_their_column_chunks(name: str) -> None:
    """apache/parquet-testing's files (parquet-mr, arrow-rs, Arrow C++; data page v1 and
    v2, delta and byte-stream-split encodings, checksums, 216 nested columns)."""
    path = DATA / name
    if name in ODD:
        with pa.OSFile(str(path)) as source:
            needs = column_needs(source, pq.ParquetFile(path).metadata)  # read without an error
        assert len(needs) == pq.ParquetFile(path).metadata.num_columns
        return
    _walk_matches(path)


def test_the_page_headers_of_duckdb_pandas_and_pyarrow_files_add_up(tmp_path: Path) -> None:
    """Writers other than loader's own bench: DuckDB, pandas (pyarrow's defaults), and
    pyarrow with page statistics longer than the first read of a header."""
    table = pa.table(
        {
            "id": pa.array(range(20_000), pa.int64()),
            "name": [f"name {i % 700}" for i in range(20_000)],
            "long": ["x" * 3000 + str(i) for i in range(20_000)],  # min/max statistics of 3 KB in each header
        }
    )
    pq.write_table(table, tmp_path / "pyarrow_v2.parquet", data_page_version="2.0", row_group_size=5_000)
    pq.write_table(table, tmp_path / "plain_zstd.parquet", compression="zstd", use_dictionary=False)
    table.to_pandas().to_parquet(tmp_path / "pandas.parquet")
    duckdb.from_arrow(table).write_parquet(str(tmp_path / "duckdb.parquet"))
    for name in ("pyarrow_v2", "plain_zstd", "pandas", "duckdb"):
        _walk_matches(tmp_path / f"{name}.parquet")


def test_a_header_that_cannot_be_read_falls_back_to_the_column_chunk_totals(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), path, compression="none")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(0)
    data = bytearray(path.read_bytes())
    data[column.data_page_offset] = 0x0E  # a field of an unknown Thrift type where the header starts
    path.write_bytes(bytes(data))
    with pa.OSFile(str(path)) as source:
        (need,) = column_needs(source, meta)
    assert (need.page_compressed, need.page_uncompressed) == (
        column.total_compressed_size,
        column.total_uncompressed_size,
    )


def test_a_file_that_is_not_parquet_needs_nothing_here(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet at all")
    assert file_layout(str(path)) == (0.0, 0, 0.0)


_ALLOCATED = """
import json, os, sys
os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
import pyarrow as pa
from loader import compat
reader = compat.parquet_reader(pa.OSFile(sys.argv[1]), buffer_size=1 << 16)
groups = list(range(reader.metadata.num_row_groups))
for batch in reader.iter_batches(batch_size=1024, row_groups=groups, use_threads=False):
    pass
print(json.dumps(pa.default_memory_pool().max_memory()))
"""


def _allocated(path: Path) -> int:
    """What Arrow allocated at most reading ``path`` as the Parquet reader does (a fresh process)."""
    p = subprocess.run([sys.executable, "-c", _ALLOCATED, str(path)], capture_output=True, text=True, check=True)
    return int(json.loads(p.stdout))


def _mixed(rows: int, columns: int = 8) -> pa.Table:
    arrays = {}
    for c in range(columns):
        kind = c % 4
        if kind == 0:
            arrays[f"c{c}"] = pa.array([(i * 2654435761) % 2**32 for i in range(rows)], pa.int64())
        elif kind == 1:
            arrays[f"c{c}"] = pa.array([i * 0.37 for i in range(rows)])
        elif kind == 2:
            arrays[f"c{c}"] = pa.array([f"customer {i % 5000:05d}" for i in range(rows)])
        else:
            arrays[f"c{c}"] = pa.array([f"note {i}" for i in range(rows)])
    return pa.table(arrays)


def test_the_estimate_covers_what_arrow_allocates_for_each_layout(tmp_path: Path) -> None:
    """However the file was written, the estimate is at least what Arrow's reader holds,
    and not far above it."""
    table = _mixed(300_000)
    files = {
        "pandas_defaults": lambda p: table.to_pandas().to_parquet(p),  # one row group, 1 MB pages
        "page_per_chunk": lambda p: pq.write_table(table, p, data_page_size=1 << 30, row_group_size=100_000),
        "uncompressed": lambda p: pq.write_table(table, p, compression="none", row_group_size=50_000),
        "zstd_plain": lambda p: pq.write_table(table, p, compression="zstd", use_dictionary=False),
        "duckdb": lambda p: duckdb.from_arrow(table).write_parquet(str(p)),
    }
    for name, write in files.items():
        path = tmp_path / f"{name}.parquet"
        write(path)
        with pa.OSFile(str(path)) as source:
            estimate = reader_bytes(column_needs(source, pq.ParquetFile(path).metadata))
        actual = _allocated(path)
        assert actual <= estimate <= actual * 1.6 + (1 << 20), (name, actual, estimate)


def test_headers_are_read_for_the_largest_row_group_and_a_few_pages_of_each_column(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.parquet"
    table = pd.DataFrame({"a": range(50_000), "b": [f"v{i}" for i in range(50_000)]})
    pq.write_table(pa.Table.from_pandas(table), path, row_group_size=10_000, data_page_size=4096)
    offsets = []
    real = parquet_pages._header_at

    def counted(source, offset):  # type: ignore[no-untyped-def]
        offsets.append(offset)
        return real(source, offset)

    monkeypatch.setattr(parquet_pages, "_header_at", counted)
    monkeypatch.setattr(parquet_pages, "MAX_PAGES", 5)
    with pa.OSFile(str(path)) as source:
        needs = column_needs(source, pq.ParquetFile(path).metadata)
    assert len(needs) == 2 and len(offsets) == 10  # 5 headers of each column, of one row group


def test_encrypted_columns_are_known_from_the_footer_before_their_metadata_is_read(tmp_path: Path) -> None:
    """Reading an encrypted column's metadata without keys ends the process in pyarrow; such
    a file counts as unreadable here (the reader says why), the others are read."""
    enc = DATA / "encrypt_columns_plaintext_footer.parquet.encrypted"
    with pa.OSFile(str(enc)) as source:
        assert parquet_pages.encrypted(source, pq.ParquetFile(enc).metadata)
    assert file_layout(str(enc)) == (0.0, 0, 0.0)
    assert parquet_pages.file_row_bytes(str(enc)) == 0.0
    for path in DATA.glob("*.parquet"):
        with pa.OSFile(str(path)) as source:
            assert not parquet_pages.encrypted(source, pq.ParquetFile(path).metadata), path.name
    assert file_layout(str(DATA / "int96_from_spark.parquet"))[1] == 1


def test_long_text_without_statistics_is_measured_by_its_dictionary_values(tmp_path: Path) -> None:
    """A writer leaves out min/max of values past 4 KB, and one long text repeated in every
    row is a one-value dictionary: the footer says 16 KB for the column chunk, so its rows
    were taken for 12 bytes and a default load of 200,000 of them peaked at 490 MB."""
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({"id": range(2000), "s": ["x" * 16_000] * 2000}), path)
    assert not pq.ParquetFile(path).metadata.row_group(0).column(1).statistics.has_min_max
    assert parquet_pages.file_row_bytes(str(path)) == 8 + 16_000 + 4
    report = load(str(path), str(tmp_path / "t.db"), table="t")
    assert report.rows_written == 2000 and report.chunk_size < 2000


def test_a_dictionary_written_whole_in_every_row_group_is_not_counted_per_row(tmp_path: Path) -> None:
    """An Arrow dictionary column (a pandas Categorical) is written whole in every row group:
    its 20,000 values in each group of 777 rows, and in the last of 575 counted 466 bytes a
    row, so chunks fell to a fifth (16 rows at 150,000 values: four times slower). Its rows
    hold an index and their text; the dictionary is held once (``file_layout``'s pages)."""
    n = 20_000
    values = pa.array([f"v{i:08d}" for i in range(n)])  # 9 characters each
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": range(n), "s": values.dictionary_encode()}), path, row_group_size=777)
    assert parquet_pages.file_row_bytes(str(path)) == 8 + 9 + 4  # id, the text, its offset
    assert file_layout(str(path))[0] > 0.25  # the dictionary's 20,000 values, held while a group is read
    report = load(str(path), str(tmp_path / "t.db"), table="t")
    assert (report.rows_written, report.chunk_size) == (n, 8192)


def test_columns_without_a_value_are_known_from_the_footer(tmp_path: Path) -> None:
    from loader.readers.parquet_pages import valueless

    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "gone": pa.array([None, None, None], pa.float64()),
            "some": pa.array([None, 1.5, None], pa.float64()),
            "nested": pa.array([None, None, None], pa.list_(pa.int64())),
        }
    )
    names = table.column_names
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=2)
    assert valueless(pq.ParquetFile(tmp_path / "a.parquet").metadata, names, names) == {"gone"}
    # without statistics nothing is known; a file without rows holds no value in any column
    pq.write_table(table, tmp_path / "b.parquet", write_statistics=False)
    assert valueless(pq.ParquetFile(tmp_path / "b.parquet").metadata, names, names) == frozenset()
    pq.write_table(table.slice(0, 0), tmp_path / "c.parquet")
    assert valueless(pq.ParquetFile(tmp_path / "c.parquet").metadata, names, [n.upper() for n in names]) == {
        "ID",
        "GONE",
        "SOME",
        "NESTED",
    }
