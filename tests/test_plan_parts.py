"""Plans of parts: byte ranges cut between rows (quoted newlines included), row-group
ranges, whole files where a cut is not safe, and ids that name the same part the same way."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq

from loader.parts import UNREADABLE, Part, plan_file


def _csv_with_quoted_newlines(path, rows=3000):
    rnd = random.Random(7)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "note", "n"])
    expected = []
    for i in range(rows):
        note = rnd.choice(["plain", 'say "hi"\nthen go', "a,b", "multi\nline\nvalue", ""])
        expected.append([str(i), note, str(rnd.randint(0, 99))])
        w.writerow(expected[-1])
    path.write_text(buf.getvalue())
    return expected


def _rows(data: bytes, header: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO((header + data).decode())))[1:]


def test_csv_byte_ranges_end_between_rows_even_with_quoted_newlines(tmp_path):
    path = tmp_path / "q.csv"
    expected = _csv_with_quoted_newlines(path)
    data = path.read_bytes()
    plan = plan_file(str(path), "csv", part_bytes=4096)
    assert len(plan.parts) > 10 and "byte ranges" in plan.note
    assert plan.parts[0].start == 0 and plan.parts[-1].end == len(data)
    header = data[: data.index(b"\n") + 1]
    got = []
    for i, part in enumerate(plan.parts):
        assert part.unit == "bytes" and part.size == part.end - part.start
        piece = data[part.start : part.end]
        got += _rows(piece, b"") if i == 0 else _rows(piece, header)
        if i:
            assert plan.parts[i - 1].end == part.start
    assert got == expected


def test_a_csv_file_is_cut_by_the_quote_its_reader_detects_and_from_its_first_data_row(tmp_path):
    """Cut by ``"`` parity, a file quoted with ``'`` (detected, as ``source.quote_char`` is
    unset) was cut inside its values that hold newlines, as was a file whose skipped preamble
    holds an odd quote: the reader trusts the plan's cuts, and rows were split and lost."""
    from loader.config import SourceConfig

    path = tmp_path / "sq.csv"
    preamble = 'Sales "Q1 report\n'
    expected = [[str(i), f"first {i}\nsecond, line" if i % 2 else f"a, b {i}", str(i % 7)] for i in range(3000)]
    body = "".join(f"{i},'{note}',{v}\n" for i, note, v in expected)
    path.write_text(preamble + "id,note,v\n" + body)
    data = path.read_bytes()
    plan = plan_file(str(path), "csv", part_bytes=4096, source=SourceConfig(path=[str(path)], skip_rows=1))
    assert len(plan.parts) > 10 and plan.parts[0].start == 0 and plan.parts[-1].end == len(data)
    first = len(preamble) + len("id,note,v\n")
    got = []
    for part in plan.parts:
        piece = data[max(part.start, first) : part.end].decode()
        assert part.line == 1 + data[: part.start].count(b"\n")  # the line the part starts on
        got += list(csv.reader(io.StringIO(piece), quotechar="'"))
    assert got == expected


def test_a_csv_file_whose_head_cannot_be_read_is_one_part_its_reader_says_why(tmp_path):
    from loader.config import SourceConfig
    from loader.parts import UNREADABLE_HEAD

    path = tmp_path / "h.csv"
    path.write_text("a,b\n" + "1,2\n" * 2000)
    source = SourceConfig(path=[str(path)], skip_rows=5000)  # more lines than the file has
    plan = plan_file(str(path), "csv", part_bytes=1000, source=source)
    assert (len(plan.parts), plan.parts[0].unit, plan.note) == (1, "file", UNREADABLE_HEAD)


def test_a_newline_inside_quotes_is_never_a_cut(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b'a,b\n1,"' + b"x\n" * 5000 + b'"\n2,y\n')
    plan = plan_file(str(path), "csv", part_bytes=1000)
    cuts = [p.start for p in plan.parts[1:]]
    assert cuts == [len(b'a,b\n1,"' + b"x\n" * 5000 + b'"\n')]


def test_files_that_cannot_be_cut_are_one_part_and_the_plan_says_why(tmp_path):
    small = tmp_path / "s.csv"
    small.write_text("a\n1\n")
    assert [p.unit for p in plan_file(str(small), "csv").parts] == ["file"]
    gz = tmp_path / "big.csv.gz"
    gz.write_bytes(gzip.compress(b"a\n" + b"1\n" * 100_000))
    plan = plan_file(str(gz), "csv", part_bytes=1000)
    assert len(plan.parts) == 1 and plan.note == "compressed: read whole"


def test_a_csv_file_not_in_utf8_is_one_part_and_the_plan_says_why(tmp_path):
    path = tmp_path / "l.csv"
    path.write_bytes(b"a,b\n" + "1,café\n".encode("latin-1") * 2000)
    for encoding in ("latin-1", "cp1252", "utf-16", "utf-8-sig"):
        plan = plan_file(str(path), "csv", part_bytes=1000, encoding=encoding)
        assert ([p.unit for p in plan.parts], plan.note) == (["file"], f"encoding {encoding}: read whole")
    assert len(plan_file(str(path), "csv", part_bytes=1000, encoding="UTF8").parts) > 5


def test_json_lines_cut_at_any_newline(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text("".join(f'{{"id": {i}, "s": "v{i}"}}\n' for i in range(2000)))
    plan = plan_file(str(path), "jsonl", part_bytes=2000)
    data = path.read_bytes()
    assert len(plan.parts) > 5
    assert all(data[p.start - 1 : p.start] == b"\n" for p in plan.parts[1:])


def test_parquet_is_cut_in_row_group_ranges(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"id": list(range(10_000)), "s": [f"v{i}" for i in range(10_000)]}), path, row_group_size=1000
    )
    plan = plan_file(str(path), "parquet", part_bytes=20_000)
    assert [p.unit for p in plan.parts] == ["row_groups"] * len(plan.parts)
    assert plan.parts[0].start == 0 and plan.parts[-1].end == 10
    assert all(a.end == b.start for a, b in zip(plan.parts, plan.parts[1:], strict=False))


def test_a_parquet_file_whose_footer_cannot_be_read_is_one_part_its_reader_reports(tmp_path):
    good = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(10_000))}), good, row_group_size=1000)
    for name, data in (("cut.parquet", good.read_bytes()[:1000]), ("text.parquet", b"id\n1\n" * 1000)):
        path = tmp_path / name
        path.write_bytes(data)
        plan = plan_file(str(path), "parquet", part_bytes=100)
        assert ([(p.unit, p.size) for p in plan.parts], plan.note) == ([("file", len(data))], UNREADABLE)


def test_part_ids_are_stable_and_change_with_the_file(tmp_path):
    path = tmp_path / "q.csv"
    _csv_with_quoted_newlines(path)
    ids = [p.id for p in plan_file(str(path), "csv", part_bytes=4096).parts]
    assert ids == [p.id for p in plan_file(str(path), "csv", part_bytes=4096).parts]
    assert len(set(ids)) == len(ids)
    path.write_text(path.read_text().replace("plain", "PLAIN", 1))
    assert plan_file(str(path), "csv", part_bytes=4096).parts[0].id != ids[0]


def test_a_file_longer_than_a_part_starts_and_ends_with_smaller_parts(tmp_path):
    path = tmp_path / "q.csv"
    _csv_with_quoted_newlines(path, rows=20_000)
    size = path.stat().st_size
    sizes = [p.size for p in plan_file(str(path), "csv", part_bytes=64_000).parts]
    # an eighth, a quarter, a half, whole parts, then a half, a quarter, an eighth (each part
    # ends at the next row boundary, so it is its size or a row longer)
    assert [s // 1000 for s in sizes[:3]] == [8, 16, 32]
    assert [s // 1000 for s in sizes[-3:]] in ([32, 16, 8], [32, 16, 7])
    body = size - 2 * (8_000 + 16_000 + 32_000)
    count = -(-body // 64_000)
    assert len(sizes) == 6 + count
    assert all(body // count <= s < body // count + 1000 for s in sizes[3:-3])
    assert sum(sizes) == size
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(64_000))}), parquet, row_group_size=250)
    groups = [p.end - p.start for p in plan_file(str(parquet), "parquet", part_bytes=64_000).parts]
    per_group = pq.ParquetFile(parquet).metadata.row_group(0).total_byte_size
    # cut at the first row group boundary past where the sizes add up to
    assert all(abs(n * per_group - 64_000 // d) < 2 * per_group for n, d in zip(groups[:3], (8, 4, 2), strict=True))
    assert all(abs(n * per_group - 64_000 // d) < 2 * per_group for n, d in zip(groups[-3:], (2, 4, 8), strict=True))
    assert sum(groups) == 256
    # a file with no room for a whole ramp at its end takes what fits
    short = plan_file(str(path), "csv", part_bytes=size * 2 // 3)
    assert [round(p.size * 8 / (size * 2 // 3)) for p in short.parts] == [1, 2, 4, 2, 2, 1]
    # a file no longer than a part stays one
    assert [p.unit for p in plan_file(str(path), "csv", part_bytes=size).parts] == ["file"]


def test_counting_newlines_and_quotes_in_slices_counts_every_byte_once():
    from loader.readers.csv import cut

    rnd = random.Random(3)
    data = bytes(rnd.choice(b'ab"\n,') for _ in range(3 * cut._COUNT_SLICE + 12345))
    for start, stop in [(0, None), (1, None), (70_000, cut._COUNT_SLICE + 1), (5, 2 * cut._COUNT_SLICE)]:
        for byte in (10, 34):
            want = data.count(byte, start, len(data) if stop is None else stop)
            assert cut.byte_count(data, byte, start, stop) == want
            assert cut.byte_count(bytearray(data), byte, start, stop) == want


def test_a_parts_id_hashes_its_uri_with_the_scheme_in_lower_case_and_knows_the_old_spellings():
    """``S3://b/k`` and ``s3://b/k`` name one part; a run before schemes were lower-cased
    hashed the URI as its job spelled it, and ``id_spelled`` is that id."""
    part = Part("s3://b/k.csv", "bytes", 0, 100, fingerprint="100:abc")

    def digest(*fields):
        return hashlib.sha256(json.dumps(list(fields)).encode()).hexdigest()[:16]

    assert part.id == Part("S3://b/k.csv", "bytes", 0, 100, fingerprint="100:abc").id
    assert part.id == digest("file:s3://b/k.csv", "100:abc", "bytes", 0, 100)
    assert part.id_spelled("S3://b/k.csv") == digest("file:S3://b/k.csv", "100:abc", "bytes", 0, 100)
