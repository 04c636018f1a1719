"""Parts of one file (issue 21): CSV byte ranges cut at row boundaries, Parquet row groups."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader.config import SourceConfig
from loader.errors import ConfigError
from loader.readers import open_reader
from tests.conftest import escaped_rows, pyarrow_rows


def quoted_csv(path: Path, rows: int = 400) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "note", "n"])
    for i in range(rows):
        note = f'line one\nline "two" of {i}\n' if i % 3 == 0 else f"plain {i}"
        w.writerow([i, note, "bad" if i % 97 == 5 else i * 10])
    data = out.getvalue().encode()
    path.write_bytes(data)
    return data


def read(path: Path, part: tuple[int, int] | None = None, **kw: Any) -> list[Any]:
    config = SourceConfig(path=[str(path)], block_size=kw.pop("block_size", 512), infer_rows=1000)
    types = {"id": pa.int64(), "note": pa.string(), "n": pa.int64()} if path.suffix == ".csv" else None
    with open_reader(str(path), config, chunk_size=kw.pop("chunk_size", 50), part=part, types=types, **kw) as r:
        return list(r)


def described(chunks: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Rows, rejects (reason and values) and rows read."""
    rows = [x for c in chunks for x in c.batch.to_pylist()]
    rejects = [(r.reason, r.values) for c in chunks for r in c.rejects]
    return rows, rejects, [c.rows_read for c in chunks]


def lines_of(chunks: list[Any]) -> dict[int, int]:
    """Each row's line in the file, where the reader knows it exactly (one line per row)."""
    return {
        x["id"]: line
        for c in chunks
        if c.lines is not None
        for x, line in zip(c.batch.to_pylist(), c.lines.to_pylist(), strict=True)
    }


@pytest.mark.parametrize("step", [61, 1000, 4096])
def test_csv_parts_share_out_every_row_once_with_quoted_newlines_across_the_cuts(tmp_path: Path, step: int) -> None:
    path = tmp_path / "q.csv"
    data = quoted_csv(path)
    inside = data.index(b"line one\n") + 5  # a cut inside a quoted field, before its newline
    cuts = sorted({0, inside, *range(step, len(data), step), len(data)})
    whole = read(path)
    whole_rows, whole_rejects, _ = described(whole)
    rows: list[Any] = []
    rejects: list[Any] = []
    lines: dict[int, int] = {}
    read_counts = 0
    for start, end in itertools.pairwise(cuts):
        chunks = read(path, (start, end), workers=2)
        got, bad, counts = described(chunks)
        rows += got
        rejects += bad
        lines |= lines_of(chunks)
        read_counts += sum(counts)
    assert rows == whole_rows  # in order, each once
    assert rejects == whole_rejects and len(rejects) == 5
    assert read_counts == 400
    assert all(whole_line == lines[i] for i, whole_line in lines_of(whole).items() if i in lines)
    if step == 61:  # small parts hold one-line rows only: their lines are known
        assert len(lines) > 30 and lines[2] == 6  # after the header and row 0's three lines


def test_a_part_resumes_from_each_of_its_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    data = quoted_csv(path)
    part = (len(data) // 3, 2 * len(data) // 3)
    full = read(path, part, chunk_size=20)
    assert len(full) > 3
    for i, chunk in enumerate(full[:-1]):
        rest = read(path, part, chunk_size=20, resume=chunk.end)
        assert described(rest)[0] == described(full[i + 1 :])[0]


def test_parts_the_csv_cannot_be_cut_by_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(ConfigError, match="compressed file cannot be read in byte ranges"):
        read(path, (0, 4))
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"a": 1}\n')
    with pytest.raises(ConfigError, match="read whole, not in parts"):
        open_reader(str(jsonl), SourceConfig(path=[str(jsonl)]), part=(0, 4))


def test_parquet_parts_are_row_group_ranges_and_keep_the_file_s_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"id": list(range(50)), "v": [f"v{i}" for i in range(50)]}), path, row_group_size=10)
    whole = read(path)
    pieces = [read(path, (0, 2)), read(path, (2, 3)), read(path, (3, 9))]
    ids = [x["id"] for p in pieces for c in p for x in c.batch.to_pylist()]
    assert ids == [x["id"] for c in whole for x in c.batch.to_pylist()] == list(range(50))
    assert [r for c in pieces[1] for r in c.rows.to_pylist()] == list(range(21, 31))
    rest = read(path, (2, 5), chunk_size=4, resume={"row": 24})
    assert [x["id"] for c in rest for x in c.batch.to_pylist()] == list(range(24, 50))


def test_csv_parts_of_a_file_with_a_quote_in_an_unquoted_field_hold_whole_rows(tmp_path: Path) -> None:
    """hunt21d: a quote inside an unquoted field (``55" screen``) before quoted values with
    newlines moved every planned cut after it inside such a value, and the second half of a
    cut row loaded as a row of its own (``('line', ' desc"', 'n5144')``). The plan cuts
    where the parser ends rows: the parts' rows are the csv module's, each once."""
    from loader.parts import plan_file

    rnd = random.Random(2)
    lines = ["id,desc,note"]
    for i in range(3000):
        r = rnd.random()
        desc = 'TV 55" screen' if r < 0.05 else '"multi\nline, desc"' if r < 0.15 else f"item{i}"
        lines.append(f"k{i},{desc},n{i}")
    path = tmp_path / "inch.csv"
    path.write_text("\n".join(lines) + "\n")
    source = SourceConfig(path=[str(path)])
    plan = plan_file(str(path), "csv", part_bytes=4096, source=source)
    assert len(plan.parts) > 10
    config = SourceConfig(path=[str(path)], block_size=1024)
    got = []
    for part in plan.parts:
        assert part.end is not None
        with open_reader(str(path), config, part=(part.start, part.end, part.line)) as r:
            chunks = list(r)
        assert [x for c in chunks for x in c.rejects] == []
        got += [list(x.values()) for c in chunks for x in c.batch.to_pylist()]
    assert got == list(csv.reader(io.StringIO(path.read_text(), newline="")))[1:]


def test_csv_parts_of_a_file_with_an_escape_character_hold_whole_rows(tmp_path: Path) -> None:
    """A file read with escape_char was one part: its cuts could not be found by counting
    quotes (an escaped quote or newline, a quote that is text in an unquoted field). The plan
    cuts it where pyarrow ends rows, and so does a part's reader given any byte range:
    every row once, every cell as pyarrow reads the whole file."""
    from loader.parts import plan_file

    path = tmp_path / "esc.csv"
    body, good, bad = escaped_rows(random.Random(4), 400)
    path.write_text("c0,c1,c2\n" + body, newline="")
    want = pyarrow_rows(good.encode())
    source = SourceConfig(path=[str(path)], escape_char="\\", block_size=1024)
    plan = plan_file(str(path), "csv", part_bytes=1024, source=source)
    assert len(plan.parts) > 5
    planned = [(p.start, p.end, p.line) for p in plan.parts]
    size = path.stat().st_size
    for ranges in (planned, list(itertools.pairwise(sorted({0, *range(97, size, 97), size})))):
        got: list[Any] = []
        rejected: list[Any] = []
        for part in ranges:
            with open_reader(str(path), source, part=part) as r:
                chunks = list(r)
            rejected += [x.row for c in chunks for x in c.rejects]
            got += [tuple(x.values()) for c in chunks for x in c.batch.to_pylist()]
        assert got == want  # the rows with text after a closing quote rejected, each once
        assert len(rejected) == len(bad) > 0


def test_csv_parts_of_a_one_column_file_share_out_its_empty_lines_as_rows(tmp_path: Path) -> None:
    """An empty line of a one-column file is a row (a NULL): each part holds those it starts."""
    path = tmp_path / "one.csv"
    data = b"n\n" + b"".join(b"\n" if i % 4 == 1 else b"%d\n" % i for i in range(300))
    path.write_bytes(data)
    config = SourceConfig(path=[str(path)], block_size=64)
    cuts = sorted({0, *range(37, len(data), 37), len(data)})
    got: list[Any] = []
    for start, end in itertools.pairwise(cuts):
        with open_reader(str(path), config, chunk_size=20, part=(start, end), types={"n": pa.int64()}) as r:
            got += [x["n"] for c in r for x in c.batch.to_pylist()]
    assert got == [None if i % 4 == 1 else i for i in range(300)]


SPARK_FIELDS = ["plain", '"say \\"hi\\", ok"', "C:\\temp\\new", '"C:\\temp, x"', '"a\\\\"', "\\", '"x\\ny"', ""]
PG_FIELDS = ["plain", "tab\\there", "line1\\nline2", "C:\\\\temp", "\\N", "\\\\N", "cr\\rlf", "end\\\\", ""]


@pytest.mark.parametrize(
    ("mode", "fields", "delimiter", "quote"),
    [("quote", SPARK_FIELDS, ",", None), ("c", PG_FIELDS, "\t", False)],
)
def test_csv_parts_of_a_file_in_an_escape_mode_read_as_the_whole_file(
    tmp_path: Path, mode: str, fields: list[str], delimiter: str, quote: Any
) -> None:
    """Spark's quote-only escapes and PostgreSQL's C escapes: the plan's parts, and parts of
    any byte range, hold every row once, each read as the whole file reads it."""
    from loader.parts import plan_file

    rnd = random.Random(7)
    path = tmp_path / "esc.csv"
    rows = [delimiter.join(rnd.choice(fields) for _ in range(3)) + "\n" for _ in range(500)]
    path.write_text(delimiter.join(["c0", "c1", "c2"]) + "\n" + "".join(rows), newline="")
    source = SourceConfig(
        path=[str(path)],
        escape_char="\\",
        escape_mode=mode,
        delimiter=delimiter,
        quote_char=quote,
        null_values=["\\N", ""],
        block_size=1024,
    )
    text = {f"c{i}": pa.string() for i in range(3)}

    def rows_of(part: tuple[int, int] | None) -> tuple[list[Any], list[Any]]:
        with open_reader(str(path), source, part=part, types=text) as r:
            chunks = list(r)
        return [tuple(x.values()) for c in chunks for x in c.batch.to_pylist()], [
            x.row for c in chunks for x in c.rejects
        ]

    want, want_rejected = rows_of(None)
    assert len(want) + len(want_rejected) == 500
    assert (
        any("\t" in (v or "") for row in want for v in row)
        if mode == "c"
        else any('"' in (v or "") for row in want for v in row)
    )
    plan = plan_file(str(path), "csv", part_bytes=1024, source=source)
    assert len(plan.parts) > 5
    size = path.stat().st_size
    for ranges in (
        [(p.start, p.end) for p in plan.parts],
        list(itertools.pairwise(sorted({0, *range(89, size, 89), size}))),
    ):
        got: list[Any] = []
        rejected: list[Any] = []
        for part in ranges:
            g, r = rows_of(part)
            got += g
            rejected += r
        assert got == want
        assert len(rejected) == len(want_rejected)
