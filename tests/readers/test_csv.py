from __future__ import annotations

import bz2
import csv
import datetime as dt
import functools
import gzip
import io
import json
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from loader.cli import main
from loader.config import SourceConfig
from loader.errors import ConfigError, SourceError
from loader.readers import CSVReader, expand_paths, input_spellings, open_reader
from loader.readers.csv import _fill, row_numbers
from loader.readers.csv.header import preamble_rows
from tests.conftest import ESCAPED_FIELDS, escaped_rows, escaped_text, pyarrow_rows, sqlite_rows, write_csv
from tests.reliability_util import cli, leveldb_items


def cfg(path: Path | str, **kw: Any) -> SourceConfig:
    return SourceConfig(path=[str(path)], format="csv", **kw)


def read_all(
    path: Path | str, chunk_size: int = 65536, resume: dict[str, Any] | None = None, workers: int = 1, **kw: Any
):
    with open_reader(str(path), cfg(path, **kw), chunk_size=chunk_size, resume=resume, workers=workers) as r:
        chunks = list(r)
        return r, chunks


def rows_of(chunks: list[Any]) -> list[dict[str, Any]]:
    return [row for c in chunks for row in c.batch.to_pylist()]


def test_types_are_inferred_without_loss(data_dir: Path) -> None:
    r, chunks = read_all(data_dir / "types.csv")
    types = {f.name: f.type for f in r.schema}
    assert types == {
        "id": pa.int64(),
        "zip": pa.string(),  # leading zeros: stays text
        "name": pa.string(),
        "amount": pa.float64(),
        "big": pa.string(),  # beyond int64: every digit kept as text
        "precise": pa.string(),  # float64 would round it to 0.1
        "day": pa.date32(),
        "at": pa.timestamp("us"),
        "flag": pa.bool_(),
    }
    rows = rows_of(chunks)
    assert [r["zip"] for r in rows] == ["0042", "1234", "9999"]
    assert rows[0]["big"] == "12345678901234567890"
    assert rows[1]["precise"] == "0.10000000000000000001"
    assert rows[1]["name"] == "Bo, Jr"
    assert rows[2]["name"] == "ø ü 中"
    assert rows[2]["amount"] == 300.0
    assert rows[1]["day"] == dt.date(2024, 2, 29)
    assert rows[1]["at"] == dt.datetime(2024, 2, 29, 23, 59, 59, 500000)
    assert [r["flag"] for r in rows] == [True, False, None]


def test_declared_types_win(data_dir: Path) -> None:
    r, chunks = read_all(data_dir / "types.csv", columns={"zip": "int64", "amount": "decimal(10, 2)"})
    assert r.schema.field("zip").type == pa.int64()
    assert rows_of(chunks)[0]["zip"] == 42  # asked for explicitly
    assert str(rows_of(chunks)[0]["amount"]) == "1.50"


def test_a_declared_column_the_file_lacks_is_left_out(data_dir: Path) -> None:
    # another input of the load may have it: the pipeline refuses a name none has
    reader, chunks = read_all(data_dir / "types.csv", columns={"nope": "int64"})
    assert "nope" not in reader.schema.names and rows_of(chunks)


def test_bad_rows_are_rejected_with_row_and_reason(data_dir: Path) -> None:
    _r, chunks = read_all(data_dir / "bad.csv", infer_rows=3)
    rows = rows_of(chunks)
    assert [x["id"] for x in rows] == [1, 2, 3, 7]
    assert rows[2]["name"] == "gamma\nwith newline"
    rejects = [rj for c in chunks for rj in c.rejects]
    assert [(rj.row, rj.column, rj.reason) for rj in rejects] == [
        (4, None, "expected 3 fields, found 2"),
        (5, None, "expected 3 fields, found 4"),
        (6, "score", "'abc' is not a valid int64"),
    ]
    assert rejects[0].raw == "4,delta"
    assert rejects[2].values == {"id": "6", "name": "zeta", "score": "abc"}
    assert all(rj.file == str(data_dir / "bad.csv") for rj in rejects)
    # accounting: every source row is either in a batch or in the rejects
    assert sum(c.rows_read for c in chunks) == 7 == len(rows) + len(rejects)


def test_line_numbers_when_rows_are_single_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n3\n4,5\n")
    _, chunks = read_all(p)
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert (rj.row, rj.line) == (2, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_numbers_below_one_and_signed_zeros_keep_their_numeric_types(tmp_path: Path, workers: int) -> None:
    """0.5, -0.25 and 0 start with a zero that no type drops; 007 and -01 do not fit."""
    rows = [[f"0.{i}", f"-0.{i}", "0", "1.5"] for i in range(1, 300)] + [
        ["0.5", "-0.5", "0", "007"],
        ["0.5", "-0.5", "-01", "2"],
    ]
    p = write_csv(tmp_path / "small.csv", ["f", "neg", "zero", "late"], rows)
    r, chunks = read_all(p, infer_rows=100, block_size=1024, workers=workers)
    assert [f.type for f in r.schema] == [pa.float64(), pa.float64(), pa.int64(), pa.float64()]
    rejects = sorted((rj.row, rj.column) for c in chunks for rj in c.rejects)
    assert rejects == [(300, "late"), (301, "zero")]
    assert rows_of(chunks)[0] == {"f": 0.1, "neg": -0.1, "zero": 0, "late": 1.5}


def test_late_value_that_does_not_fit_inferred_type_is_rejected_not_fatal(tmp_path: Path) -> None:
    rows = [[i, f"{i:05d}" if i > 1 else "12345"] for i in range(1, 2001)]
    rows[1500][0] = "unknown"
    p = write_csv(tmp_path / "late.csv", ["id", "code"], rows)
    r, chunks = read_all(p, infer_rows=100, block_size=4096)
    assert r.schema.field("id").type == pa.int64()
    rejects = [rj for c in chunks for rj in c.rejects]
    assert next((rj.row, rj.column) for rj in rejects) == (1501, "id")
    assert len(rows_of(chunks)) + len(rejects) == 2000


@pytest.mark.parametrize("workers", [1, 3])
def test_inference_on_workers_sees_exactly_the_first_infer_rows(tmp_path: Path, workers: int) -> None:
    """The sample ends inside a block: a value just past it does not count, one
    in a late block of the sample does, whether blocks are guessed in order or
    on several threads and merged."""
    lines = []
    for i in range(1, 1001):
        a = b"unknown" if i == 260 else b"%d" % i
        b = b"1.5" if i == 240 else b"%d" % i
        c = b"\xff" if i == 150 else b"%d" % i
        lines.append(b",".join([a, b, c]))
    p = tmp_path / "sample.csv"
    p.write_bytes(b"a,b,c\n" + b"\n".join(lines) + b"\n")
    r, chunks = read_all(p, infer_rows=250, block_size=1024, workers=workers)
    assert [f.type for f in r.schema] == [pa.int64(), pa.float64(), pa.string()]
    rejects = sorted((rj.row, rj.column) for c in chunks for rj in c.rejects)
    assert rejects == [(150, "c"), (260, "a")]
    assert len(rows_of(chunks)) == 998


def test_leading_zero_after_sample_is_not_silently_dropped(tmp_path: Path) -> None:
    rows = [[str(10000 + i)] for i in range(500)] + [["01234"]]
    p = write_csv(tmp_path / "zips.csv", ["zip"], rows)
    r, chunks = read_all(p, infer_rows=100, block_size=1024)
    assert r.schema.field("zip").type == pa.int64()
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert rj.row == 501
    assert "leading zero" in rj.reason
    # with a larger sample, inference sees it and keeps text
    r2, chunks2 = read_all(p, infer_rows=1000, block_size=1024)
    assert r2.schema.field("zip").type == pa.string()
    assert rows_of(chunks2)[-1]["zip"] == "01234"


def test_invalid_utf8_and_nul_are_rejected(tmp_path: Path) -> None:
    p = tmp_path / "enc.csv"
    p.write_bytes(b"a,b\n1,ok\n2,bad\xff\n3,nul\x00here\n4,fine\n")
    _, chunks = read_all(p)
    assert [x["a"] for x in rows_of(chunks)] == [1, 4]
    reasons = {rj.row: rj.reason for c in chunks for rj in c.rejects}
    assert reasons[2].startswith("invalid UTF-8")
    assert reasons[3] == "NUL byte in value"


def test_malformed_row_with_undecodable_bytes_is_one_reject(tmp_path: Path) -> None:
    # pyarrow cannot describe such a row (its text is not UTF-8): the block is parsed again, every byte kept
    p = tmp_path / "m.csv"
    p.write_bytes(b"a,b\n1,ok\n2,x\xff,extra\n3,fine\n")
    hook = sys.unraisablehook
    _, chunks = read_all(p)
    assert sys.unraisablehook is hook
    assert [x["a"] for x in rows_of(chunks)] == [1, 3]
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert (rj.row, rj.line, rj.reason) == (2, 3, "expected 2 fields, found 3")
    assert rj.raw == b"2,x\xff,extra"  # the very bytes: the reject line holds them as base64


def messy_csv(path: Path) -> Path:
    """Every kind of bad row, spread over many small blocks."""
    lines = [b"id,name,score"]
    for i in range(1, 1201):
        if i % 97 == 0:
            lines.append(b"%d,short" % i)  # too few fields
        elif i % 89 == 0:
            lines.append(b"%d,x\xff,1,extra" % i)  # too many fields, and not UTF-8
        elif i % 83 == 0:
            lines.append(b"%d,n,not a number" % i)
        elif i % 79 == 0:
            lines.append(b"%d,bad\xfe,3" % i)
        elif i % 13 == 0:
            lines.append(b'%d,"two\nlines",%d' % (i, i))
        else:
            lines.append(b"%d,name %d,%d" % (i, i, i * 10))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def described(chunks: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    rejects = [(r.row, r.line, r.column, r.reason, r.raw, r.values) for c in chunks for r in c.rejects]
    ends = [(c.end, c.rows_read, c.bytes_read) for c in chunks]
    return rows_of(chunks), rejects, ends


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_read_exactly_what_one_thread_reads(tmp_path: Path, workers: int) -> None:
    p = messy_csv(tmp_path / "messy.csv")
    hook = sys.unraisablehook
    _, one = read_all(p, chunk_size=100, block_size=1024, infer_rows=50)
    _, many = read_all(p, chunk_size=100, block_size=1024, infer_rows=50, workers=workers)
    assert sys.unraisablehook is hook
    assert described(many) == described(one)
    rows, rejects, _ = described(one)
    assert len(rows) + len(rejects) == 1200 == sum(c.rows_read for c in many)
    assert {r[3] for r in rejects} >= {
        "expected 3 fields, found 2",
        "expected 3 fields, found 4",
        "'not a number' is not a valid int64",
    }
    assert any(r[3].startswith("invalid UTF-8") for r in rejects)


def test_unterminated_quote_rejects_its_line_and_the_rest_loads(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text('a,b\n1,x\n2,"never closed\n3,y\n')
    _, chunks = read_all(p)
    assert [x["a"] for x in rows_of(chunks)] == [1, 3]
    rejects = [rj for c in chunks for rj in c.rejects]
    assert [(r.row, r.line, r.raw) for r in rejects] == [(2, 3, '2,"never closed')]
    assert rejects[0].reason.startswith("unterminated quoted field")
    assert sum(c.rows_read for c in chunks) == 3


def test_a_quote_in_an_unquoted_field_moves_no_cut_into_a_later_quoted_value(tmp_path: Path) -> None:
    """A quote inside an unquoted field (``55" screen``) is text, as the parser reads it:
    counting it as an opening quote put the next cut inside a later quoted value with a
    newline, and the row was read in two halves. Every row is read whole."""
    lines = ["id,name,note\n", '1,tv,55" screen\n']
    for i in range(2, 120):
        lines.append(f'{i},n{i},"multi\nline {i}"\n' if i == 40 else f"{i},n{i},plain{i}\n")
    p = tmp_path / "inch.csv"
    p.write_text("".join(lines))
    _, chunks = read_all(p, block_size=1024)
    rows = rows_of(chunks)
    assert [r["id"] for r in rows] == list(range(1, 120))
    assert rows[0]["note"] == '55" screen'
    assert rows[39]["note"] == "multi\nline 40"
    assert [r for c in chunks for r in c.rejects] == []
    assert sum(c.rows_read for c in chunks) == 119


def test_the_second_line_of_a_quoted_address_is_never_read_as_a_row(tmp_path: Path) -> None:
    """hunt21a: the rest of a multi-line value holds as many delimiters as the header
    (``"12 Main St\nSpringfield, IL, 62701"``); cut in two, its second line loaded as a row
    (``id='Springfield'``) and made ``id`` text. Read in 1 KiB blocks, every row is the csv
    module's and ``id`` stays an integer."""
    lines = ["id,item,address", '1,pipe 12" long,warehouse']
    for i in range(2, 400):
        lines.append(f'{i},item{i},"{i} Main St\nSpringfield, IL, 62701"' if i % 5 == 0 else f"{i},item{i},shelf {i}")
    p = tmp_path / "addr.csv"
    p.write_text("\n".join(lines) + "\n")
    r, chunks = read_all(p, block_size=1024)
    assert r.schema.field("id").type == pa.int64()
    want = list(csv.reader(io.StringIO(p.read_text(), newline="")))[1:]
    assert [[str(v) for v in row.values()] for row in rows_of(chunks)] == want
    assert [r for c in chunks for r in c.rejects] == []


def test_blocks_end_where_the_csv_module_ends_rows(tmp_path: Path) -> None:
    """Rows of stray quotes (``12" pipe``, ``z"``, `` "sp"``), quoted values with newlines,
    doubled quotes and text after a closing quote, cut into tiny blocks: the blocks' rows are
    the whole text's, as the csv module reads them (and pyarrow, which agrees on these)."""
    from loader.readers.csv.cut import Cutter
    from loader.readers.dialect import Dialect, csv_rows

    pieces = [
        "a",
        '12" pipe',
        '"q,1"',
        '"multi\nline"',
        '""',
        '"x""y"',
        '"a\nb, c"',
        ' "sp"',
        'z"',
        '""""',
        '"e"f"g',
        '12""',
    ]
    rnd = random.Random(7)
    rows = functools.partial(csv_rows, Dialect(",", '"', True), None)
    for _ in range(300):
        text = "\n".join(",".join(rnd.choice(pieces) for _ in range(3)) for _ in range(rnd.randint(1, 20)))
        text += rnd.choice(["\n", ""])
        cutter = Cutter(b'"', None, 1 << 20, rnd.choice([1, 8, 40]), rows, b",")
        blocks = list(cutter.cut(io.BytesIO(text.encode()), b"", 0))
        assert all(dropped is None for _, _, dropped in blocks)
        got = [row for b, _, _ in blocks for row in csv.reader(io.StringIO(b.decode(), newline=""))]
        assert got == list(csv.reader(io.StringIO(text, newline=""))), text


@pytest.mark.parametrize("quote", ['"', None], ids=["quoted", "no-quote"])
def test_blocks_of_a_file_with_an_escape_character_end_where_pyarrow_ends_rows(quote: str | None) -> None:
    """With escape_char "\\", blocks were cut by counting quotes: a quote that is text in an
    unquoted field, or an escaped newline (``x\\`` then a newline is one value), put a cut
    inside a row. Cut into blocks from 1 byte up (a cut and each read of a growing block
    fall on every byte, between an escape and what it escapes too), the blocks' rows are the
    rows pyarrow reads the whole text as, every cell."""
    from loader.readers.csv.cut import Cutter
    from loader.readers.dialect import Dialect, csv_rows

    rnd = random.Random(5)
    rows = functools.partial(csv_rows, Dialect(",", quote, True), "\\")
    fields = ESCAPED_FIELDS if quote else [f for f in ESCAPED_FIELDS if '"' not in f]
    for _ in range(120):
        data = escaped_text(rnd, rnd.randint(1, 20), fields=fields).encode()
        data = data[:-1] if rnd.random() < 0.3 else data  # the file's last row without its newline
        want = pyarrow_rows(data, quote=quote)
        for size in (1, 3, 8, 40):
            cutter = Cutter(quote.encode() if quote else None, b"\\", 1 << 20, size, rows, b",")
            blocks = list(cutter.cut(io.BytesIO(data), b"", 0))
            assert all(dropped is None for _, _, dropped in blocks)
            assert [row for b, _, _ in blocks for row in pyarrow_rows(bytes(b), quote=quote)] == want, (data, size)


def test_a_file_with_an_escape_character_loads_every_cell_as_pyarrow_reads_it_whole(tmp_path: Path) -> None:
    """Read in blocks of 1 KiB, the first row padded a byte more each time so that the
    blocks' ends fall on every byte of the rows after it: every row and cell as pyarrow
    reads the whole file, only the rows with text after a closing quote rejected."""
    rnd = random.Random(3)
    body, good, bad = escaped_rows(rnd, 150)
    want = pyarrow_rows(good.encode())
    assert bad and len(want) == 150 - len(bad)
    p = tmp_path / "esc.csv"
    for pad in range(1, 70, 3):
        p.write_text("c0,c1,c2\n" + "p" * pad + ",a,a\n" + body, newline="")
        _, chunks = read_all(p, block_size=1024, escape_char="\\")
        rejects = [r for c in chunks for r in c.rejects]
        assert [r.row for r in rejects] == [i + 2 for i in sorted(bad)], pad
        assert all(r.reason.startswith("text after the closing quote in column 'c") for r in rejects)
        assert [tuple(row.values()) for row in rows_of(chunks)] == [("p" * pad, "a", "a"), *want], pad


def _quotes_step_by_step(data: bytes, inside: bool) -> list[int]:
    """The quotes of ``data`` that open or close a value, one step per quote (from a row's
    start, ``inside`` a value or not): the reference ``real_quotes`` must agree with."""
    kept: list[int] = []
    closed_at = -2
    for at, byte in enumerate(data):
        if byte != ord('"'):
            continue
        if inside:
            inside, closed_at = False, at
            kept.append(at)
        elif at == 0 or data[at - 1] in b",\r\n" or closed_at == at - 1:
            inside = True
            kept.append(at)
    return kept


def test_real_quotes_read_in_pieces_agree_with_a_step_per_quote() -> None:
    """Runs of text quotes, doubled quotes and quoted newlines, read whole and in pieces that
    cut anywhere (between the two quotes of ``""`` too), from inside a value or not: the
    vectorised reading finds the quotes a step per quote finds, and ends in its state."""
    from loader.readers.csv.cut import QuoteState, real_quotes

    rnd = random.Random(11)
    for _ in range(3000):
        data = bytes(rnd.choice(b',"\n\ra"') for _ in range(rnd.randint(0, 40)))
        inside = rnd.random() < 0.3
        want = _quotes_step_by_step(data, inside)
        cuts = sorted(rnd.sample(range(len(data) + 1), min(len(data) + 1, rnd.randint(0, 4))))
        state, got = QuoteState(inside=inside), []
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            got += real_quotes(data, ord('"'), ord(","), start, end, state).tolist()
        assert got == want, data
        assert state.inside is ((inside + len(want)) % 2 == 1), data


def test_a_long_quoted_value_is_scanned_once_while_its_block_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quoted value of many lines of ``""`` longer than the block: the cutter reads on
    from where it stood as the block grows, each byte once, and cuts after the value (it
    scanned the whole grown block again at each read, and stepped back a line at a time)."""
    from loader.readers.csv import cut
    from loader.readers.dialect import Dialect, csv_rows

    scanned = []
    real_quotes = cut.real_quotes

    def counted(data: Any, quote: int, delimiter: int, start: int, end: int, state: Any) -> Any:
        scanned.append(end - start)
        return real_quotes(data, quote, delimiter, start, end, state)

    monkeypatch.setattr(cut, "real_quotes", counted)
    text = b'1,pipe 12" steel,"' + b'a ""q"" b\n' * 50_000 + b'"\n2,x,"y"\n'
    rows = functools.partial(csv_rows, Dialect(",", '"', True), None)
    blocks = list(cut.Cutter(b'"', None, 1 << 22, 4096, rows, b",").cut(io.BytesIO(text), b"", 0))
    assert [bytes(b) for b, _, _ in blocks] == [text]
    assert sum(scanned) == len(text)


@pytest.mark.parametrize(
    ("names", "block", "kept", "invalid"),
    [
        (["a", "b"], b'1,x\n2,"multi\n', [(b"1", b"x")], [(2, 2, '2,"multi', True)]),
        (["a", "b"], b'1,x\r\n2,"m\r\n', [(b"1", b"x")], [(2, 2, '2,"m', True)]),
        (["a", "b"], b'1,x\n2,"ab""', [(b"1", b"x")], [(2, 2, '2,"ab""', True)]),  # the file's end, no newline
        (["a", "b"], b'1,"a\nb"\n2,"c"', [(b"1", b"a\nb"), (b"2", b"c")], []),
        (["a", "b"], b"1,x\n2,y,z\n", [(b"1", b"x")], [(2, 3, "2,y,z", False)]),
        (["a", "b"], b'1,"x\n', [], [(1, 2, '1,"x', True)]),
        (["a"], b'x\n"open\n', [(b"x",)], [(2, 1, '"open', True)]),
        (["a"], b'x\n"y"\n', [(b"x",), (b"y",)], []),
        (["a", "b"], b'1,\xff,4\n2,"multi\n', [], [(1, 3, b"1,\xff,4", False), (2, 2, '2,"multi', True)]),  # not UTF-8
    ],
)
def test_a_block_ending_inside_a_quoted_value_rejects_its_last_row(
    tmp_path: Path, names: list[str], block: bytes, kept: list[tuple[bytes, ...]], invalid: list[Any]
) -> None:
    from loader.readers.csv.parse import CUT_IN_VALUE, BlockParser
    from loader.readers.dialect import Dialect

    parser = BlockParser("f.csv", cfg(tmp_path / "f.csv"), Dialect(",", '"', True), names, 1024)
    table, bad = parser.parse(bytearray(block))
    assert [tuple(row.values()) for row in table.to_pylist()] == kept
    assert [(r.number, r.actual_columns, r.text, getattr(r, "reason", None) == CUT_IN_VALUE) for r in bad] == invalid


def test_chunks_are_bounded_by_chunk_size(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "n.csv", ["n"], [[i] for i in range(1000)])
    _, chunks = read_all(p, chunk_size=64)
    assert max(c.num_rows for c in chunks) <= 64
    assert [x["n"] for x in rows_of(chunks)] == list(range(1000))


@pytest.mark.parametrize(("block_size", "workers"), [(1024, 1), (1024, 3), (4096, 1), (1 << 20, 2)])
def test_resume_from_every_chunk_end_gives_exactly_the_rest(tmp_path: Path, block_size: int, workers: int) -> None:
    rows = [[i, f"name {i}", "multi\nline" if i % 7 == 0 else "x"] for i in range(1, 801)]
    rows[100] = [101, "short"]  # a malformed row in the middle
    p = write_csv(tmp_path / "r.csv", ["id", "name", "note"], rows)
    _, full = read_all(p, chunk_size=50, block_size=block_size, workers=workers)
    all_ids = [x["id"] for x in rows_of(full)]
    for i, chunk in enumerate(full):
        _, rest = read_all(p, chunk_size=50, block_size=block_size, resume=chunk.end, workers=workers)
        expect = [x["id"] for c in full[i + 1 :] for x in c.batch.to_pylist()]
        assert [x["id"] for x in rows_of(rest)] == expect
        assert sum(c.rows_read for c in full[: i + 1]) + sum(c.rows_read for c in rest) == 800
    assert len(all_ids) == 799


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zst"])
def test_compressed_inputs(tmp_path: Path, data_dir: Path, suffix: str) -> None:
    raw = (data_dir / "small.csv").read_bytes()
    p = tmp_path / f"small.csv{suffix}"
    if suffix == ".gz":
        p.write_bytes(gzip.compress(raw))
    elif suffix == ".bz2":
        p.write_bytes(bz2.compress(raw))
    else:
        with pa.output_stream(str(p), compression="zstd") as out:
            out.write(raw)
    _, chunks = read_all(p)
    assert rows_of(chunks) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_latin1_encoding(tmp_path: Path) -> None:
    p = tmp_path / "l1.csv"
    p.write_bytes("name,city\nJosé,Århus\n".encode("latin-1"))
    _, chunks = read_all(p, encoding="latin-1")
    assert rows_of(chunks) == [{"name": "José", "city": "Århus"}]


def test_bom_tsv_skip_rows_and_no_header(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_bytes(b"\xef\xbb\xbfgenerated by a tool\n1\tx\n2\ty\n")
    _, chunks = read_all(p, delimiter="\t", skip_rows=1, header=False)
    assert rows_of(chunks) == [{"column_1": 1, "column_2": "x"}, {"column_1": 2, "column_2": "y"}]
    _, chunks = read_all(p, delimiter="\t", skip_rows=1, header=False, column_names=["n", "s"])
    assert rows_of(chunks)[0] == {"n": 1, "s": "x"}


@pytest.mark.parametrize(
    "data",
    [
        b"id,name\r1,a\n2,b\n",  # the header's line ends in a carriage return alone
        b"id,name\n1,a\r2,b\n",  # as a row's did, and loaded
        "\ufeffid,na\u00efve\r1,a\r\n2,b\r\n".encode(),  # after a BOM, a name past ASCII, then CRLF
    ],
    ids=["header", "row", "bom"],
)
def test_a_carriage_return_alone_ends_the_header_as_it_ends_a_row(tmp_path: Path, data: bytes) -> None:
    """Python's csv refused the header: "new-line character seen in unquoted field - do you
    need to open the file in universal-newline mode?" (exit 65); it reads such a file as 3 rows."""
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    r, chunks = read_all(p)
    name = "naïve" if b"\xc3" in data else "name"
    assert r.schema.names == ["id", name]
    assert rows_of(chunks) == [{"id": 1, name: "a"}, {"id": 2, name: "b"}]
    assert [rj for c in chunks for rj in c.rejects] == []


def test_a_header_ending_in_a_carriage_return_alone_keeps_its_rows_line_numbers(tmp_path: Path) -> None:
    """Lines are counted at each LF, as in the rest of the file: the header and row 1 share line 1."""
    p = tmp_path / "x.csv"
    p.write_bytes(b"id,name\r1,a\nx,b\n3,c\n")
    _, chunks = read_all(p, columns={"id": "int64"})
    (rj,) = [rj for c in chunks for rj in c.rejects]
    assert (rj.row, rj.line) == (2, 2)
    assert rows_of(chunks) == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]


def test_lines_ending_in_two_carriage_returns_and_a_lf_keep_their_line_numbers(tmp_path: Path) -> None:
    """Python's csv writing CRLF to a file opened in text mode on Windows ends each line in
    \\r\\r\\n. The header ended at its first CR and the data began with an empty line, so
    no reject had a line."""
    p = tmp_path / "x.csv"
    p.write_bytes(b"id,name\r\r\n1,a\r\r\nx,b\r\r\n3,c,d\r\r\n4,e\r\r\n")
    r, chunks = read_all(p, columns={"id": "int64"})
    assert r.schema.names == ["id", "name"]
    assert rows_of(chunks) == [{"id": 1, "name": "a"}, {"id": 4, "name": "e"}]
    assert [(rj.row, rj.line, rj.reason) for c in chunks for rj in c.rejects] == [
        (2, 3, "'x' is not a valid int64"),
        (3, 4, "expected 2 fields, found 3"),
    ]


def test_a_quoted_carriage_return_in_the_header_stays_in_its_name(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b'"i\rd",name\r1,a\n')
    r, chunks = read_all(p)
    assert (r.schema.names, rows_of(chunks)) == (["i\rd", "name"], [{"i\rd": 1, "name": "a"}])


def test_a_first_row_ending_in_a_carriage_return_alone_without_a_header(tmp_path: Path) -> None:
    """Its width was counted by Python's csv, which raised: an internal error, exit 1."""
    p = tmp_path / "x.csv"
    p.write_bytes(b"1,a\r2,b\n3,c\n")
    _, chunks = read_all(p, header=False)
    assert rows_of(chunks) == [
        {"column_1": 1, "column_2": "a"},
        {"column_1": 2, "column_2": "b"},
        {"column_1": 3, "column_2": "c"},
    ]


@pytest.mark.parametrize("mode", ["c", "literal"])  # (in "quote" mode the escape escapes only a quote)
@pytest.mark.parametrize("header", [True, False])
def test_an_escaped_newline_in_the_first_row_is_in_its_value(tmp_path: Path, mode: str, header: bool) -> None:
    """MySQL's tab export writes a line break in a value as the escape and a line feed: in the
    first row, its width (no header) or the header's names were cut there, counting quotes
    only, and every row was rejected for its field count (exit 4)."""
    p = tmp_path / "my.tsv"
    head = "id\ttx\\\nt\tn\n" if header else ""
    p.write_text(head + "1\tline1\\\nline2\t5\n3\tx\t7\n")
    config = {"delimiter": "\t", "quote_char": False, "escape_mode": mode, "escape_char": "\\"}
    r, chunks = read_all(p, header=header, **config)
    names = ["id", "tx\nt", "n"] if header else ["column_1", "column_2", "column_3"]
    assert r.schema.names == names
    assert [list(row.values()) for row in rows_of(chunks)] == [[1, "line1\nline2", 5], [3, "x", 7]]


def test_a_file_whose_lines_all_end_in_a_carriage_return_alone_is_still_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b"id,name\r1,a\r2,b\r")
    with pytest.raises(SourceError) as info:
        read_all(p)
    assert str(info.value) == (
        f"{p}, line 1: lines end in a carriage return alone (old Mac style); loader reads LF or CRLF line ends"
    )
    p.write_bytes(b"id,name\r")  # a header alone: its line end is no matter
    r, chunks = read_all(p)
    assert (r.schema.names, chunks) == (["id", "name"], [])


@pytest.mark.parametrize(
    ("head", "where"),
    [
        ('id,"name\n', "line 1: unterminated quoted field in the header: the quote that opens its field 2"),
        ('id;"name\n', "line 1: unterminated quoted field in the header: the quote that opens its field 2"),
        ('"first\nname",id,"x\n', "line 2: unterminated quoted field in the header: the quote that opens its field 3"),
    ],
    ids=["comma", "semicolon", "second-line"],
)
@pytest.mark.parametrize("rows", [3, 20_000], ids=["short", "past-csv-field-limit"])
def test_a_quote_the_header_never_closes_stops_the_file(tmp_path: Path, head: str, where: str, rows: int) -> None:
    """The header ran to the end of the file: every row became one column's name, and the
    file loaded as 0 rows, "ok"; past 128 KiB, Python's csv "field larger than field limit
    (131072)" was named at the file's last line."""
    p = tmp_path / "hq.csv"
    delimiter = ";" if ";" in head else ","
    p.write_text(head + "".join(f"{i}{delimiter}n{i}{delimiter}{i}\n" for i in range(rows)))
    with pytest.raises(SourceError) as info:
        read_all(p)
    assert str(info.value) == f"{p}, {where} is never closed"


@pytest.mark.parametrize("data", [b'id,na"me\n1,a\n', b'"first\nname",id\n1,a\n'], ids=["text-quote", "two-lines"])
def test_a_quote_that_is_text_or_closes_in_the_header_is_no_unterminated_field(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(data)
    r, chunks = read_all(p)
    assert len(r.schema.names) == 2 and len(rows_of(chunks)) == 1


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_header_quote_never_closed_exits_65_and_makes_no_table(tmp_path: Path, engine: str) -> None:
    p = tmp_path / "hq.csv"
    p.write_text('id,"name\n' + "".join(f"{i},n{i}\n" for i in range(2000)))
    db = tmp_path / "o.db"
    got = cli("load", str(p), str(db), "--table", "t", "--engine", engine, "--no-progress")
    assert (got.returncode, got.stdout, got.stderr) == (
        65,
        "",
        f"loader: error: {p}, line 1: unterminated quoted field in the header: the quote that opens its field 2"
        " is never closed\n  hint: close or remove the quote in the header (or read quotes as text:"
        " --quote-char false), then rerun\n",
    )
    assert not db.exists() or sqlite_rows(db, "SELECT name FROM sqlite_master WHERE name = 't'") == []


SALARIES_COMMENTS = "#one:line one\n#two:line 2\n#three:Hello World!\nS,X,E,M\n" + "".join(
    f"{10000 + i},{i % 20},{i % 3 + 1},{i % 2}\n" for i in range(46)
)  # pandas' tests/io/parser/data/salaries_comments.csv, its shape


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_lines_before_the_header_stop_the_file_naming_skip_rows(tmp_path: Path, engine: str) -> None:
    """Its comment lines loaded as rows under the first one as header, every real row was
    rejected (`expected 1 fields, found 4`) and the run said ok, exit 0."""
    p = tmp_path / "salaries_comments.csv"
    p.write_text(SALARIES_COMMENTS)
    db = tmp_path / "o.db"
    got = cli("load", str(p), str(db), "--table", "t", "--engine", engine, "--no-progress")
    assert (got.returncode, got.stderr) == (
        65,
        f"loader: error: {p}: the first 3 lines have 1 field and the 47 rows after them have 4: lines before"
        " the header? try --skip-rows 3\n  hint: skip them with --skip-rows 3 (or remove them from the file),"
        " then rerun: the files before it stay loaded\n",
    )
    assert sqlite_rows(db, "SELECT name FROM sqlite_master WHERE name = 't'") == []
    got = cli("load", str(p), str(db), "--table", "t", "--engine", engine, "--no-progress", "--skip-rows", "3")
    assert got.returncode == 0 and sqlite_rows(db, "SELECT count(*), min(S) FROM t") == [(46, 10000)]


def test_lines_before_the_header_are_counted_from_the_skipped_ones(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text(SALARIES_COMMENTS.replace("#two:line 2\n", "#two:line 2\n\n#2b, with a comma\n"))
    with pytest.raises(SourceError) as info:
        read_all(p, skip_rows=1)
    assert str(info.value) == (
        f"{p}: lines 2-5 have 2 fields or fewer and the 47 rows after them have 4: lines before the header?"
        " try --skip-rows 5"
    )
    assert len(rows_of(read_all(p, skip_rows=5)[1])) == 46


@pytest.mark.parametrize(
    ("widths", "header", "rows"),
    [
        ([1, 1, 4, 4, 4, 4], 1, 2),
        ([1, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3], 1, 1),  # one short row of ten after: nearly every
        ([4, 4, 4, 4], 1, 0),  # the header alone: a name missing, or a title; "nothing loaded" says which widths
        ([1, 4, 4], 1, 0),  # too few rows to tell
        ([1, 4, 4, 3, 3], 1, 0),  # not nearly every row
        ([5, 4, 4, 4, 4], 1, 0),  # a line before wider than the rows after
        ([1, 4, 4, 4, 4], 4, 0),  # the header's width: a short first row
        ([2, 4, 4, 4, 4], 2, 0),  # a header of 2 and a row of 2, then wider rows: a ragged file's data
        ([3, 4, 4, 4, 4], 3, 0),  # a first row without the trailing comma the others have
        ([2, 1, 4, 4, 4, 4], 1, 2),  # a one-field header (a title): lines of other widths after it still are
        ([], 1, 0),
    ],
)
def test_preamble_rows(widths: list[int], header: int, rows: int) -> None:
    assert preamble_rows(widths, header) == rows


def test_header_only_has_schema_and_no_rows(data_dir: Path) -> None:
    r, chunks = read_all(data_dir / "header_only.csv")
    assert r.schema.names == ["a", "b"] and chunks == []


def test_a_column_without_a_value_in_the_whole_file_is_null(tmp_path: Path) -> None:
    """No value says what a column is: header only, or empty (or `NA`, a missing value's
    spelling) in every row of a file the sample holds whole; a file longer than the sample
    may have values past it, so its empty head is text as before."""
    (tmp_path / "h.csv").write_text("id,v\n")
    (tmp_path / "e.csv").write_text("id,v,w\n1,,NA\n2,,NA\n")
    (tmp_path / "l.csv").write_text("id,v\n1,\n2,\n3,x\n")
    assert [f.type for f in read_all(tmp_path / "h.csv")[0].schema] == [pa.null(), pa.null()]
    r, chunks = read_all(tmp_path / "e.csv")
    assert [f.type for f in r.schema] == [pa.int64(), pa.null(), pa.null()]
    assert rows_of(chunks) == [{"id": 1, "v": None, "w": None}, {"id": 2, "v": None, "w": None}]
    r, chunks = read_all(tmp_path / "l.csv", infer_rows=2)
    assert [f.type for f in r.schema] == [pa.int64(), pa.string()]
    assert rows_of(chunks)[2] == {"id": 3, "v": "x"}


def test_unreadable_inputs_are_source_errors(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file is empty"):
        read_all(data_dir / "empty.csv")
    with pytest.raises(SourceError, match="no such file"):
        read_all(tmp_path / "missing.csv")
    with pytest.raises(SourceError, match="is a directory"):
        CSVReader(str(tmp_path), cfg(tmp_path))


def test_weird_header_names_are_kept_and_made_unique(data_dir: Path) -> None:
    r, _ = read_all(data_dir / "weird_names.csv")
    assert r.schema.names == ['"; DROP TABLE x; --', "select", "column_3", "dup", "dup_2", "naïve col", "with space"]


def test_expand_paths_sorted_unique(tmp_path: Path) -> None:
    for n in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / n).write_text("x\n1\n")
    files = expand_paths(SourceConfig(path=[str(tmp_path / "*.csv"), str(tmp_path / "a.csv")]))
    assert files == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    with pytest.raises(ConfigError, match="no file matches"):
        expand_paths(SourceConfig(path=[str(tmp_path / "*.parquet")]))
    assert expand_paths(SourceConfig(path=[str(tmp_path / "*.parquet")], allow_empty=True)) == []


def refused_by_every_glob(patterns: tuple[str, ...], message: str) -> Any:
    """The error each of ``patterns`` stops with (exit 66, ``message``), ``allow_empty`` or not."""
    from loader.errors import MissingInputError

    for pattern in patterns:
        for allow_empty in (False, True):
            with pytest.raises(MissingInputError) as err:
                expand_paths(SourceConfig(path=[pattern], allow_empty=allow_empty))
            assert (str(err.value), err.value.exit_code) == (message, 66)
    return err.value


def test_a_glob_whose_directory_is_missing_is_an_error_with_allow_empty_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data/*.csv`` where ``data`` is not there (a typo, an unmounted volume, a job file's
    relative path) matched nothing, and with ``allow_empty`` every run was "ok, 0 files":
    it is exit 66 naming the directory; ``allow_empty`` covers a directory with no match."""
    from loader.errors import MissingInputError

    monkeypatch.chdir(tmp_path)
    err = refused_by_every_glob(("data/*.csv", "data/day*/*.csv", "data/**/*.csv"), "directory data does not exist")
    assert err.hint == (
        "check source.path: a relative path in a job file is relative to the job file's directory "
        "(one given by a flag, --set or the environment, to the current directory)"
    )
    (tmp_path / "data").write_text("")
    with pytest.raises(MissingInputError, match=r"^data is not a directory$"):
        expand_paths(SourceConfig(path=["data/*.csv"], allow_empty=True))
    (tmp_path / "data").unlink()
    (tmp_path / "data" / "day1").mkdir(parents=True)
    for pattern in ("data/*.csv", "data/day*/*.csv", "data/**/*.csv", "data/day*/in/*.csv"):
        assert expand_paths(SourceConfig(path=[pattern], allow_empty=True)) == []


def test_a_directory_the_glob_cannot_list_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's glob passes over a directory it cannot list: ``**/*.csv`` and ``day*/*.csv``
    loaded the readable days only, exit 0, every run. A folder the glob has to list and
    cannot is exit 66 naming it; one it never enters (a hidden or ``_temporary`` folder, a
    day the pattern does not name) is none of its business."""
    from loader.errors import MissingInputError

    for name in ["day1/a.csv", "day2/b.csv", "other/c.csv", "_temporary/d.csv", ".git/e.csv"]:
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_text("id\n1\n")
    monkeypatch.chdir(tmp_path)
    real = os.scandir
    refused = {os.path.join("data", d) for d in ("day2", "other", "_temporary", ".git")}

    def scandir(path: str) -> Any:
        if path in refused:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    patterns = ("data/**/*.csv", "data/day*/*.csv", "data/*/*.csv", "data/day2/*.csv")
    err = refused_by_every_glob(patterns, "cannot list data/day2: permission denied")
    assert err.hint == ("give the user the loader runs as read and search (x) permission on the directory, then rerun")
    assert expand_paths(SourceConfig(path=["data/day1/*.csv"])) == ["data/day1/a.csv"]
    assert expand_paths(SourceConfig(path=["data/d*1/*.csv"])) == ["data/day1/a.csv"]
    refused.add(os.path.join("data", "day1"))
    with pytest.raises(MissingInputError, match=r"^cannot list data/day1: permission denied$"):
        expand_paths(SourceConfig(path=["data/day1/*.csv"]))


def test_expand_paths_skips_underscore_and_dot_names_unless_the_pattern_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Spark output folder: its ``_temporary/`` attempt files, ``_SUCCESS`` marker and ``.crc``
    sidecars are no rows of the output, and ``*`` and ``**`` skip them (as Spark, Hive and
    pyarrow do); a pattern segment that starts with ``_`` loads them on purpose."""
    names = ["country=DE/part-0.parquet", "_SUCCESS", "country=DE/.part-0.parquet.crc", "_committed_1"]
    names += ["_temporary/0/_temporary/attempt_1/country=FR/part-1.parquet"]
    for name in names:
        (tmp_path / "out" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    for pattern in ("out/**/*.parquet", "out/*/*.parquet", "out/**", "./out/**/*"):
        assert expand_paths(SourceConfig(path=[pattern])) == [pattern.split("out")[0] + "out/country=DE/part-0.parquet"]
    attempt = "out/_temporary/0/_temporary/attempt_1/country=FR/part-1.parquet"
    assert expand_paths(SourceConfig(path=["out/_temporary/*/_temporary/**/*.parquet"])) == [attempt]
    assert expand_paths(SourceConfig(path=["out/_temporary/**/*.parquet"], allow_empty=True)) == []  # each named
    assert expand_paths(SourceConfig(path=["out/_*"])) == ["out/_SUCCESS", "out/_committed_1"]


def test_a_users_own_names_that_start_with_an_underscore_are_matched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the folders and markers Spark, Hadoop and Delta write beside an output are passed
    over: ``_b.csv`` and ``_2024/`` are a user's data, which ``*`` and ``**`` matched before."""
    for name in ["a.csv", "_b.csv", "_2024/e.csv", "_SUCCESS", "_temporary/0/c.csv", "_delta_log/d.csv"]:
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_text("id\n1\n")
    monkeypatch.chdir(tmp_path)
    assert expand_paths(SourceConfig(path=["data/**/*.csv"])) == ["data/_2024/e.csv", "data/_b.csv", "data/a.csv"]
    assert expand_paths(SourceConfig(path=["data/*"])) == ["data/_b.csv", "data/a.csv"]


def test_a_file_whose_name_has_glob_characters_is_the_file_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``report[1].csv`` as a glob matches ``report1.csv`` only: the file named exactly so is the
    one loaded; a glob with ``[`` that matches nothing says how to match a ``[`` in a name."""
    (tmp_path / "loc").mkdir()
    (tmp_path / "loc" / "report[1].csv").write_text("id\n1\n")
    monkeypatch.chdir(tmp_path)
    assert expand_paths(SourceConfig(path=["loc/report[1].csv"])) == ["loc/report[1].csv"]
    (tmp_path / "loc" / "report1.csv").write_text("id\n999\n")
    assert expand_paths(SourceConfig(path=["loc/report[1].csv"])) == ["loc/report[1].csv"]
    assert expand_paths(SourceConfig(path=["loc/report[[]1].csv"])) == ["loc/report[1].csv"]
    assert expand_paths(SourceConfig(path=["loc/report[0-9].csv"])) == ["loc/report1.csv"]
    with pytest.raises(ConfigError) as err:
        expand_paths(SourceConfig(path=["loc/report[1]*.txt"]))
    assert str(err.value) == "source.path: no file matches 'loc/report[1]*.txt'"
    assert err.value.hint == (
        "check the pattern, or set source.allow_empty = true for scheduled runs; '[' starts a set of "
        "characters in a glob: write '[[]' for a '[' in a name ('loc/report[[]1]*.txt')"
    )
    with pytest.raises(ConfigError) as plain:
        expand_paths(SourceConfig(path=["loc/*.txt"]))
    assert plain.value.hint == "check the pattern, or set source.allow_empty = true for scheduled runs"


def test_expand_paths_loads_a_file_named_two_ways_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("x\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "in" / "a.csv")
    monkeypatch.chdir(tmp_path)
    names = ["in/a.csv", "./in/a.csv", str(tmp_path / "in" / "*.csv"), "link.csv"]
    assert expand_paths(SourceConfig(path=names)) == ["./in/a.csv"]  # the first name in sorted order


def test_expand_paths_keeps_a_files_own_name_over_a_link_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``0latest.csv`` sorts first, but the checkpoint must name ``d1.csv``: a link that goes or
    is pointed elsewhere would leave d1 unknown to the next run, which loaded it again."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d1.csv").write_text("x\n1\n")
    (tmp_path / "in" / "0latest.csv").symlink_to("d1.csv")
    (tmp_path / "in" / "1also.csv").symlink_to("0latest.csv")
    monkeypatch.chdir(tmp_path)
    assert expand_paths(SourceConfig(path=["in/*.csv"])) == ["in/d1.csv"]
    assert expand_paths(SourceConfig(path=["in/1also.csv", "in/0latest.csv"])) == ["in/0latest.csv"]  # links only


def test_expand_paths_keeps_a_files_own_name_over_a_path_through_a_linked_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``0latest/d.csv`` (0latest a link to data/2024) sorts first and its last part is no link:
    it was kept, and the checkpoint named a file 0latest would later reach no more."""
    (tmp_path / "data" / "2024").mkdir(parents=True)
    (tmp_path / "data" / "2024" / "d.csv").write_text("x\n1\n")
    (tmp_path / "0latest").symlink_to("data/2024")
    monkeypatch.chdir(tmp_path)
    source = SourceConfig(path=["data/*/d.csv", "0latest/*.csv"])
    assert expand_paths(source) == ["data/2024/d.csv"]
    assert input_spellings(source) == [["data/2024/d.csv", "0latest/d.csv"]]  # every spelling, the own name first


def test_row_numbers_count_on_from_the_base_less_the_malformed() -> None:
    assert row_numbers(10, 5, set()).to_pylist() == [11, 12, 13, 14, 15]
    assert row_numbers(10, 5, {2, 4}).to_pylist() == [11, 13, 15]
    empty = row_numbers(7, 0, set())
    assert (empty.type, len(empty)) == (pa.int64(), 0)


@pytest.mark.parametrize("workers", [1, 2])
def test_blocks_cut_between_rows_when_many_fields_hold_quoted_newlines(tmp_path: Path, workers: int) -> None:
    """Blocks of 64 KiB and more are cut where the quotes balance (counted in
    Arrow from that size): every row comes back whole, in order."""
    import csv as pycsv

    path = tmp_path / "quoted.csv"
    rows = [[str(i), f'line one of {i}\nline "two"\n{"x" * (i % 50)}' if i % 3 else f"plain {i}"] for i in range(6000)]
    with path.open("w", newline="") as fh:
        writer = pycsv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "text"])
        writer.writerows(rows)
    assert path.stat().st_size > 4 * (64 << 10)
    _, chunks = read_all(path, block_size=64 << 10, workers=workers, chunk_size=1000)
    got = rows_of(chunks)
    assert [(str(r["id"]), r["text"]) for r in got] == [tuple(r) for r in rows]
    assert [n for c in chunks for n in c.rows.to_pylist()] == list(range(1, 6001))


class _Trickle(io.RawIOBase):
    """A pipe-like stream: ``readinto`` gives at most 7 bytes a call."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(7, len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


class _ReadOnly:
    """A stream with ``read`` only (as the transcoder is), 5 bytes a call."""

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self.f.read(min(n, 5))


@pytest.mark.parametrize("stream", [_Trickle, _ReadOnly, io.BytesIO])
def test_fill_reads_up_to_n_bytes_after_the_head_however_reads_fall(stream: Any) -> None:
    data = bytes(range(40))
    buf = _fill(stream(data), b"head", 20)
    assert (type(buf), buf) == (bytearray, b"head" + data[:16])
    rest = stream(data[30:])
    assert _fill(rest, b"xy", 64) == b"xy" + data[30:]  # the stream's end: fewer
    assert _fill(stream(data), b"0123456789", 4) == b"0123456789"  # the head alone is enough


def test_blocks_do_not_depend_on_how_reads_fall(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    write_csv(path, ["id", "text"], [[i, f'a "quoted"\n{i}' if i % 4 else "x" * (i % 90)] for i in range(800)])
    with open_reader(str(path), cfg(path, block_size=1024), chunk_size=100) as r:
        with path.open("rb") as fh:
            whole = list(r._cut(fh, b"", 0))
        trickled = list(r._cut(_Trickle(path.read_bytes()), b"", 0))
    assert len(whole) > 10
    assert [(bytes(b), o, q) for b, o, q in trickled] == [(bytes(b), o, q) for b, o, q in whole]
    assert b"".join(b for b, _, _ in whole) == path.read_bytes()
    assert all(b.endswith(b"\n") and len(b) <= 1024 for b, _, _ in whole)


def test_the_reader_takes_no_writer_code(tmp_path: Path) -> None:
    """Encoding for a sink is a pipeline stage: a reader has no hook to run it."""
    path = write_csv(tmp_path / "p.csv", ["id"], [[1], [2]])
    with pytest.raises(TypeError, match="premake"):
        open_reader(str(path), cfg(path), premake=lambda batch: None)


def test_line_numbers_stay_exact_after_blocks_counted_in_arrow(tmp_path: Path) -> None:
    """Blocks of 64 KiB and more count their newlines in Arrow; a reject after
    many of them, past rows that span two lines each, names its exact line."""
    two_line = [[i, f"first\nsecond {i}"] for i in range(1, 6001)]
    plain = [[i, "x"] for i in range(6001, 30001)]
    plain[15000][0] = "not a number"  # row 21001, on line 1 + 2 * 6000 + 15001
    path = write_csv(tmp_path / "lines.csv", ["id", "text"], two_line + plain)
    _, chunks = read_all(path, block_size=64 << 10, infer_rows=100)
    rejects = [r for c in chunks for r in c.rejects]
    assert [(r.row, r.line, r.column) for r in rejects] == [(21001, 27002, "id")]


def _compressible_rows(rows: int) -> bytes:
    rng = random.Random(7)
    body = "".join(f"{i},{rng.getrandbits(64):x},{rng.choice(['red', 'green', 'blue'])}\n" for i in range(rows))
    return ("id,hash,colour\n" + body).encode()


@pytest.mark.parametrize("suffix, codec", [(".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd")])
def test_bytes_read_of_a_compressed_file_count_the_file_on_disk(tmp_path: Path, suffix: str, codec: str) -> None:
    """Progress compares bytes read with the file's size: for a compressed file they are
    bytes of the compressed file (its position), not the more bytes it decompresses to."""
    data = _compressible_rows(30_000)
    path = tmp_path / f"rows.csv{suffix}"
    with pa.output_stream(str(path), compression=codec) as out:
        out.write(data)
    size = path.stat().st_size
    assert len(data) > 1.5 * size  # counting decompressed bytes would overshoot the size
    for workers in (1, 2):
        _, chunks = read_all(path, chunk_size=1000, block_size=1 << 16, workers=workers)
        assert sum(c.num_rows for c in chunks) == 30_000
        counts = [c.bytes_read for c in chunks]
        assert sum(counts) == size and min(counts) >= 0
        if codec != "bz2":  # bz2 decompresses nothing before a whole block of 900 kB of text is read
            assert sum(1 for n in counts if n > 0) > 5  # it grows along the file, not all at the end


def test_bytes_read_of_a_re_encoded_file_count_the_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(_compressible_rows(5_000).decode().encode("utf-16"))  # twice the bytes of its UTF-8
    _, chunks = read_all(path, chunk_size=1000, block_size=1 << 14, encoding="utf-16")
    assert sum(c.num_rows for c in chunks) == 5_000
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size


def test_a_wide_files_blocks_are_guessed_a_few_at_a_time_with_the_same_types(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """60 columns, blocks of ~20 rows: each guess takes up to 16 blocks (enough for a
    couple of thousand rows if they held more), and the types are those of one guess over every row (a float column
    whose only decimal is on the last row, a text column whose only letter is late)."""
    import loader.readers.csv.infer as infer

    rows = 3000
    lines = [",".join(f"c{c}" for c in range(60))]
    for i in range(rows):
        values = []
        for c in range(60):
            if c % 3 == 0:
                values.append(str(i * c))
            elif c % 3 == 1:
                values.append(f"{i}.5" if i == rows - 1 else str(i))
            else:
                values.append("x" if i == 2500 else str(i % 7))
        lines.append(",".join(values))
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    guessed = []
    real = infer.guess_column

    def counted(values, so_far):  # type: ignore[no-untyped-def]
        guessed.append(len(values))
        return real(values, so_far)

    monkeypatch.setattr(infer, "guess_column", counted)
    reader, chunks = read_all(path, block_size=4096)
    types = {str(f.type) for f in reader.schema}
    assert types == {"int64", "double", "string"}
    assert [str(reader.schema.field(f"c{c}").type) for c in (3, 4, 5)] == ["int64", "double", "string"]
    assert sum(c.batch.num_rows for c in chunks) == rows
    assert max(guessed) >= 16 * 15 and len(guessed) <= 60 * 20  # block by block: 60 x ~150


def test_column_names_read_a_file_as_headerless_unless_header_is_set(tmp_path: Path) -> None:
    """An all-text first row, or a one-row file, looks like a header: with names given it is data."""
    from loader import load

    src = tmp_path / "p.csv"
    src.write_text("alice,paris\nbob,london\n")
    report = load(src, tmp_path / "p.db", table="t", source_options={"column_names": ["name", "city"]})
    assert (report.rows_read, report.rows_written) == (2, 2)
    one = tmp_path / "one.csv"
    one.write_text("1,2\n")
    assert load(one, tmp_path / "o.db", table="t", source_options={"column_names": ["a", "b"]}).rows_written == 1
    named = tmp_path / "h.csv"
    named.write_text("id,city\n1,x\n")
    report = load(named, tmp_path / "h.db", table="t", source_options={"column_names": ["a", "b"], "header": True})
    assert report.rows_written == 1
    assert sqlite3.connect(tmp_path / "h.db").execute("SELECT a, b FROM t").fetchall() == [(1, "x")]


@pytest.mark.parametrize(("names", "said"), [("x,y,z", "3 names"), ("x", "1 name")])
@pytest.mark.parametrize("command", ["load", "inspect"])
def test_column_names_that_do_not_fit_a_headerless_file_are_the_same_config_error_as_with_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: str, said: str, command: str
) -> None:
    """Every row was rejected (exit 4) blaming "the first row has 3"; the first row is the names."""
    src = tmp_path / "cn.csv"
    src.write_text("id,name\n1,a\n2,b\n")
    target = [str(tmp_path / "cn.db")] if command == "load" else []
    for header in ([], ["--header"]):
        code = main([command, str(src), *target, "--column-names", names, *header])
        assert (code, capsys.readouterr().err) == (
            2,
            f"loader: error: source.column_names: {said} for 2 columns in {src}\n"
            f"  hint: check the flags; `loader {command} --help` lists them\n",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cn.csv"]  # nothing written


@pytest.mark.parametrize("first", ["3,c,z,EXTRA\n", "3,c,z,\n"], ids=["extra-field", "trailing-delimiter"])
def test_a_malformed_first_row_of_a_headerless_file_is_rejected_not_a_column_names_error(
    tmp_path: Path, first: str
) -> None:
    """The names fit the rows the file mostly has: one bad first row is the file's, rejected as
    any row is (it stopped the glob with exit 78 blaming the right flags)."""
    (tmp_path / "f1.csv").write_text("1,a,x\n2,b,y\n")
    (tmp_path / "f2.csv").write_text(first + "4,d,w\n5,e,v\n")
    flags = ["--table", "t", "--no-header", "--column-names", "id,name,code", "-q"]
    assert main(["load", str(tmp_path / "f*.csv"), str(tmp_path / "o.db"), *flags]) == 0
    rows = sqlite3.connect(tmp_path / "o.db").execute("SELECT id, name, code FROM t ORDER BY id").fetchall()
    assert rows == [(1, "a", "x"), (2, "b", "y"), (4, "d", "w"), (5, "e", "v")]
    reject = json.loads((tmp_path / "o.db.table-t.rejects.jsonl").read_text())
    assert (reject["row"], reject["reason"]) == (1, "expected 3 fields, found 4")
    two = tmp_path / "g.csv"  # a file of two rows, the first bad: a tie is no evidence against the names
    two.write_text(first + "2,b,y\n")
    assert main(["load", str(two), str(tmp_path / "g.db"), *flags]) == 0


def test_column_names_that_fit_few_rows_of_a_headerless_file_are_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three names where most rows have two, though one row has three: the names are wrong."""
    src = tmp_path / "few.csv"
    src.write_text("1,a\n2,b,c\n3,c\n4,d\n")
    assert main(["load", str(src), str(tmp_path / "few.db"), "--no-header", "--column-names", "x,y,z"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"loader: error: source.column_names: 3 names for 2 columns in {src}"
    )


def test_column_names_for_a_file_of_one_column_say_column_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "one.csv"
    src.write_text("id\n1\n")
    assert main(["load", str(src), str(tmp_path / "o.db"), "--column-names", "a,b"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"loader: error: source.column_names: 2 names for 1 column in {src}"
    )


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (
            "id,café\n1,2\n".encode("cp1252"),
            'it reads as cp1252: read it with --encoding cp1252 (source.encoding = "cp1252")',
        ),
        (b"id,caf\x81\n1,2\n", 'it reads as latin-1: read it with --encoding latin-1 (source.encoding = "latin-1")'),
    ],
    ids=["cp1252", "latin-1"],
)
def test_a_header_not_in_utf8_names_the_8_bit_encoding_it_reads_in(tmp_path: Path, data: bytes, hint: str) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as info:
        read_all(path)
    assert (info.value.line, info.value.message, info.value.hint) == (
        1,
        "header is not valid text in the declared encoding",
        hint,
    )


@pytest.mark.parametrize(
    ("data", "column", "hint"),
    [
        (b"a\0b,c\n1,2\n", "a\x00b", SourceError.default_hint),
        ("id,v\n1,2\n".encode("utf-16-le"), "i\x00d\x00", "read it with --encoding utf-16-le"),
    ],
    ids=["nul", "utf-16-le"],
)
def test_a_nul_byte_in_the_header_names_the_file_line_and_column(
    tmp_path: Path, data: bytes, column: str, hint: str
) -> None:
    path = tmp_path / "n.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as info:
        read_all(path)
    err = info.value
    assert (err.exit_code, err.file, err.line, err.column) == (65, str(path), 1, column)
    assert err.message == "the header's column name holds a NUL byte"
    assert hint in str(err.hint)


def test_a_utf16_header_without_a_byte_order_mark_gets_a_hint_with_its_order(tmp_path: Path) -> None:
    big = tmp_path / "be.csv"
    big.write_bytes("id,v\r\n1,2\r\n".encode("utf-16-be"))
    with pytest.raises(SourceError) as info:
        read_all(big)
    assert info.value.hint == 'it looks like UTF-16: read it with --encoding utf-16-be (source.encoding = "utf-16-be")'
    marked = tmp_path / "bom.csv"
    marked.write_bytes("id,v\n1,2\n".encode("utf-16"))
    with pytest.raises(SourceError) as info:
        read_all(marked)
    assert info.value.hint == 'it looks like UTF-16: read it with --encoding utf-16 (source.encoding = "utf-16")'
    _, chunks = read_all(big, encoding="utf-16-be")
    assert rows_of(chunks) == [{"id": 1, "v": 2}]


def test_names_given_for_a_header_with_a_nul_byte_replace_it(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_bytes(b"a\0b,c\n1,2\n")
    r, chunks = read_all(path, column_names=["a", "c"])
    assert (r.schema.names, rows_of(chunks)) == (["a", "c"], [{"a": 1, "c": 2}])


def test_a_parse_pyarrow_cancelled_for_a_signal_is_done_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's read_csv cancels on a SIGINT or SIGTERM that has a Python handler: it hands
    the signal to that handler and raises ArrowCancelled, which failed the load. The handler
    decides about the stop; the block is parsed again, and no row is lost or doubled."""
    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},x{i}\n" for i in range(3000)), encoding="utf-8")
    real = pacsv.read_csv
    heard: list[int] = []

    def cancelled_once(source: Any, **options: Any) -> pa.Table:
        if not heard:  # as pyarrow does: the signal to the Python handler, then the error
            signal.raise_signal(signal.SIGTERM)
            raise pa.ArrowCancelled("Operation cancelled. Detail: received signal 15")
        return real(source, **options)

    monkeypatch.setattr(pacsv, "read_csv", cancelled_once)
    old = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    try:
        _, chunks = read_all(src, chunk_size=1000)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert heard == [signal.SIGTERM]
    assert [row["id"] for row in rows_of(chunks)] == list(range(3000))


def test_a_quoted_empty_field_is_null_as_an_unquoted_one_unless_null_values_leaves_it_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "e.csv"
    src.write_text('id,s,n\n1,"",\n2,,5\n3,x,""\n')
    db = tmp_path / "e.db"
    assert main(["load", str(src), str(db), "--table", "t", "-q"]) == 0
    assert sqlite_rows(db, "SELECT id, s, n FROM t") == [
        (1, None, None),
        (2, None, 5),
        (3, "x", None),
    ]
    # as docs/types.md says: no NULL spelling, and "" a missing value in typed columns only
    keep = ["--set", "source.null_values=[]", "--set", 'source.na_values=[""]', "--mode", "replace"]
    assert main(["load", str(src), str(db), "--table", "t", "-q", *keep]) == 0
    assert sqlite_rows(db, "SELECT id, s, n FROM t") == [
        (1, "", None),
        (2, "", 5),
        (3, "x", None),
    ]
    assert capsys.readouterr().err == ""


def test_an_excel_sep_line_gives_the_delimiter_and_is_no_row(tmp_path: Path) -> None:
    """Excel's `sep=;` first line: it was sniffed as a header `sep=` over columns of ids and names."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"sep=;\r\nid;name\r\n1;a\r\n2;b;c\r\n")
    r, chunks = read_all(path)
    assert (r.dialect.delimiter, r.raw_names, rows_of(chunks)) == (";", ["id", "name"], [{"id": 1, "name": "a"}])
    [reject] = [j for c in chunks for j in c.rejects]
    assert (reject.row, reject.line, reject.reason) == (2, 4, "expected 2 fields, found 3")


def test_an_excel_sep_line_of_a_tab_gives_the_tab(tmp_path: Path) -> None:
    """Excel writes `sep=` and a literal tab for tab-separated text: it was read as a header
    `sep=` over one column, and the real header stored as a row."""
    path = tmp_path / "tab.csv"
    path.write_bytes(b"sep=\t\r\nid\tname\r\n1\tA\r\n2\tB\r\n")
    r, chunks = read_all(path)
    assert (r.dialect.delimiter, r.raw_names) == ("\t", ["id", "name"])
    assert rows_of(chunks) == [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"delimiter": ","}, ["id", "v"]),  # a delimiter given wins; the line is still no row
        ({"skip_rows": 1}, ["id", "v"]),  # skipped already: not twice
        ({"skip_rows": 2}, ["1", "2"]),
    ],
)
def test_an_excel_sep_line_leaves_what_the_job_gives(tmp_path: Path, options: dict[str, Any], names: list[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"sep=,\nid,v\n1,2\n3,4\n")
    r, _ = read_all(path, header=True, **options)
    assert (r.dialect.delimiter, r.raw_names) == (",", names)


def test_a_wide_files_block_stays_within_what_pyarrow_parses() -> None:
    from loader.config import MAX_CSV_BLOCK
    from loader.readers.csv.cut import block_bytes

    assert block_bytes(MAX_CSV_BLOCK, 5000) == MAX_CSV_BLOCK  # 16 times it would overflow pyarrow's int32
    assert block_bytes(1 << 20, 5000) == 16 << 20


def test_the_largest_block_size_loads(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,code\n1,007\n")
    assert main(["load", str(path), str(tmp_path / "a.db"), "--source-block-size", "1023MB", "--quiet"]) == 0
    assert sqlite_rows(tmp_path / "a.db", "SELECT id, code FROM a") == [(1, "007")]


# ------------------------------------------------- small files guessed together

# one column's values per file, each kind a guess ends differently on
_KINDS = {
    "int": ["1", "-20", ""],
    "zero": ["007", "8"],
    "float": ["1.5", "2"],
    "big": ["9007199254740993", "1"],
    "bool": ["true", "False"],
    "date": ["2024-01-02", ""],
    "ts": ["2024-01-02 03:04:05", "2024-01-03T00:00"],
    "tstz": ["2024-01-02T03:04:05Z", "2024-01-02 03:04+01:00"],
    "na": ["NA", ""],
    "text": ["abc", "1"],
    "empty": ["", ""],
}


def _kind_files(folder: Path, kinds: tuple[str, ...]) -> list[str]:
    paths = []
    for i, kind in enumerate(kinds):
        path = folder / f"f{i}.csv"
        path.write_text("id,v\n" + "".join(f"{i}{j},{v}\n" for j, v in enumerate(_KINDS[kind])), encoding="utf-8")
        paths.append(str(path))
    return paths


def _unified(paths: list[str], together: bool) -> dict[str, pa.DataType]:
    from loader.readers.csv.infer import SmallFiles
    from loader.schema import Sample, unify

    config = SourceConfig(path=paths)
    small = SmallFiles(config.na_values, max_bytes=64 << 20)
    samples: list[Sample] = []
    for path in paths:
        with open_reader(path, config, defer_types=together) as reader:
            if reader.sample is not None:
                assert small.add(path, reader.schema, reader.sample)
            else:
                samples.append(Sample(reader.schema, reader.guesses, reader.valueless))
    return unify(samples + small.samples())


def test_a_small_file_of_infer_rows_rows_is_no_whole_sample(tmp_path: Path) -> None:
    """``sample_guesses`` cannot tell a file of exactly ``infer_rows`` rows has no more: a column
    without a value there stays text (it may have values past the sample), not ``null``."""
    paths = []
    for i, rows in enumerate((3, 2)):
        path = tmp_path / f"f{i}.csv"
        path.write_text("id,v\n" + "".join(f"{j},\n" for j in range(rows)), encoding="utf-8")
        paths.append(str(path))
    for together in (False, True):
        config = SourceConfig(path=paths, infer_rows=3)
        with open_reader(paths[0], config, defer_types=together) as reader:
            assert reader.sample is None and reader.schema.field("v").type == pa.string()
        with open_reader(paths[1], config, defer_types=together) as reader:
            assert (reader.sample is not None) == together
            if not together:
                assert reader.schema.field("v").type == pa.null()


@pytest.mark.parametrize("first", sorted(_KINDS))
def test_small_files_guessed_together_unify_as_guessed_one_by_one(tmp_path: Path, first: str) -> None:
    """One guess for many small files' values gives each column the type their guesses, one a
    file, unify to: for every pair and a few triples of kinds of values, dates beside
    timestamps (whose own types decide) among them."""
    for second in sorted(_KINDS):
        for third in ((), ("date",), ("int",)):
            folder = tmp_path / f"{second}-{'-'.join(third)}"
            folder.mkdir()
            paths = _kind_files(folder, (first, second, *third))
            expected = _unified(paths, together=False)
            assert _unified(paths, together=True) == expected, (first, second, third, expected)


def test_small_files_are_guessed_with_one_guess_per_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two thousand files of 50 rows cost a guess each otherwise: each file's kernel calls."""
    from loader.convert import TypeGuess

    for i in range(40):
        write_csv(
            tmp_path / f"p{i:02d}.csv",
            ["id", "zip", "t"],
            [[i * 10 + j, f"{j:05d}", f"2024-01-0{j + 1}"] for j in range(5)],
        )
    added: list[int] = []
    real_add = TypeGuess.add

    def add(self: TypeGuess, sample: pa.Array) -> None:
        if not self.presence:  # the main pass asks of a text column only whether it holds a value
            added.append(len(sample))
        real_add(self, sample)

    monkeypatch.setattr(TypeGuess, "add", add)
    db = tmp_path / "p.db"
    assert main(["load", str(tmp_path / "p*.csv"), str(db), "--table", "t", "-q"]) == 0
    assert added == [200, 200, 200]  # each column once, over all 40 files' rows
    assert sqlite_rows(db, "SELECT typeof(id), typeof(zip), typeof(t), count(*) FROM t GROUP BY 1, 2, 3") == [
        ("integer", "text", "text", 200)
    ]
    assert sqlite_rows(db, "SELECT zip, t FROM t WHERE id = 394") == [("00004", "2024-01-05")]


def test_small_files_hold_no_more_together_than_their_bytes_allow(tmp_path: Path) -> None:
    """Wide rows reach the bytes before the rows: 2 KB rows held 65,536 of them (130 MB) at once."""
    from loader.readers.csv.infer import SmallFiles, held_bytes

    paths = [
        str(write_csv(tmp_path / f"w{i}.csv", ["id", "note"], [[i * 10 + j, "x" * 2000] for j in range(10)]))
        for i in range(5)
    ]
    samples = _small_samples(paths)
    each = held_bytes(samples[0][2].table)
    assert each > 20_000  # ten rows of 2 KB
    small = SmallFiles(SourceConfig(path=paths).na_values, max_bytes=2 * each + each // 2)
    assert [small.add(*s) for s in samples[:3]] == [True, True, False]
    assert (small.rows, small.nbytes) == (20, sum(held_bytes(s[2].table) for s in samples[:2]))
    [sample] = small.samples()  # a fresh start: the next files are held anew
    assert sample.schema.field("id").type == pa.int64() and sample.schema.field("note").type == pa.string()
    assert [small.add(*s) for s in samples[2:]] == [True, True, False]
    assert small.nbytes == sum(held_bytes(s[2].table) for s in samples[2:4])


def _small_samples(paths: list[str]) -> list[tuple[str, pa.Schema, Any]]:
    """Each small file's sample, as ``Pipeline._settle_types`` hands it to ``SmallFiles``."""
    config = SourceConfig(path=paths)
    samples = []
    for path in paths:
        with open_reader(path, config, defer_types=True) as reader:
            assert reader.sample is not None
            samples.append((path, reader.schema, reader.sample))
    return samples


def test_tiny_files_typed_together_count_what_arrow_holds_for_each(tmp_path: Path) -> None:
    """A table of a few rows holds about 1 KB a column beyond its bytes: counted by their bytes
    alone, 1,659 files of 20 rows (0.9 MB) were held together at once, 8 MB resident, under a
    98 MB ceiling; the memory went up with the number of files."""
    from loader.readers.csv.infer import TABLE_COLUMN_BYTES, SmallFiles, held_bytes

    paths = [str(write_csv(tmp_path / f"t{i}.csv", ["id", "a", "b"], [[i, "x", 0.5]])) for i in range(8)]
    samples = _small_samples(paths)
    table = samples[0][2].table
    assert held_bytes(table) == table.nbytes + 3 * TABLE_COLUMN_BYTES > 10 * table.nbytes
    small = SmallFiles(SourceConfig(path=paths).na_values, max_bytes=4 * held_bytes(table))
    assert [small.add(*s) for s in samples[:5]] == [True] * 4 + [False]


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_a_compressed_file_small_on_disk_is_no_whole_sample_when_it_holds_more(tmp_path: Path, suffix: str) -> None:
    """Its rows decompressed, not its size on disk, make it small: a 158 KB .gz of 60 MB of CSV
    was parsed whole and held as its sample (203 MB under a 100 MB ceiling)."""
    from loader.readers.csv.infer import SMALL_FILE_BYTES

    opener = gzip.open if suffix == ".gz" else bz2.open
    big, small = tmp_path / f"big.csv{suffix}", tmp_path / f"small.csv{suffix}"
    with opener(big, "wt") as fh:
        fh.write("id,note\n" + "".join(f"{i},{'lorem ipsum ' * 100}\n" for i in range(500)))
    with opener(small, "wt") as fh:
        fh.write("id,note\n" + "".join(f"{i},n{i}\n" for i in range(50)))
    assert big.stat().st_size < SMALL_FILE_BYTES < 500 * 1200
    config = SourceConfig(path=[str(big), str(small)])
    with open_reader(str(big), config, defer_types=True) as reader:
        assert reader.sample is None  # guessed from its head as a large file is
        assert reader.schema.field("id").type == pa.int64()
    with open_reader(str(small), config, defer_types=True) as reader:
        assert reader.sample is not None and reader.sample.table.num_rows == 50


def test_an_escaped_backslash_before_a_closing_quote_keeps_the_cuts_between_rows(tmp_path: Path) -> None:
    """With escape_char "\\", the cutter took every \\" for an escaped quote, also the one after
    an escaped backslash ("C:\\temp\\\\" closes there): its quote count went odd, blocks were cut
    inside later multi-line values and both halves of each such row were rejected."""
    import csv

    p = tmp_path / "esc.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f, escapechar="\\", doublequote=False, quoting=csv.QUOTE_ALL)
        w.writerow(["id", "path", "note"])
        w.writerow([1, "C:\\temp\\", 'say \\"hi\\"'])  # an escaped backslash, then \\ and \"
        for i in range(2, 301):
            w.writerow([i, f"p{i}", f"first {i}\nsecond {i}" if i % 3 == 0 else f"n{i}"])
    _, chunks = read_all(p, block_size=1024, escape_char="\\")
    rows = rows_of(chunks)
    assert [rj.reason for c in chunks for rj in c.rejects] == []
    assert [row["id"] for row in rows] == list(range(1, 301))
    assert rows[0] == {"id": 1, "path": "C:\\temp\\", "note": 'say \\"hi\\"'}
    assert rows[299]["note"] == "first 300\nsecond 300"


def test_a_glob_that_matches_nothing_names_the_files_it_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``*/c.csv`` over ``_temporary/c.csv`` and ``.hidden/c.csv`` matched nothing and said only
    "check the pattern": the hint now says what it passed over and how to name it."""
    from loader.cli import main

    for name in ["_temporary/c.csv", ".hidden/c.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("id\n1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        expand_paths(SourceConfig(path=["*/c.csv"]))
    assert e.value.hint == (
        "check the pattern, or set source.allow_empty = true for scheduled runs; it passes over 2 files "
        "under hidden names or a job's output markers ('.hidden/c.csv'): a pattern segment that starts "
        "with the same character names them"
    )
    assert expand_paths(SourceConfig(path=["_temporary/c.csv"])) == ["_temporary/c.csv"]
    assert main(["inspect", "*/c.csv"]) == 2


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("block_size", [8, 1 << 20])
def test_an_empty_line_of_a_one_column_file_is_a_row_of_null(tmp_path: Path, workers: int, block_size: int) -> None:
    """SQLite, PostgreSQL and Excel write a one-column NULL (or empty cell) as an empty line,
    and read it back as a row: it was skipped, the row lost (exit 0)."""
    p = tmp_path / "x.csv"
    p.write_bytes(b"email\r\na@x.org\r\n\r\nb@x.org\r\n\r\n\r\nc@x.org,x\r\nd\r\n\r\n")
    _, chunks = read_all(p, workers=workers, block_size=block_size)
    assert [r["email"] for r in rows_of(chunks)] == ["a@x.org", None, "b@x.org", None, None, "d", None]
    assert [(rj.row, rj.line) for c in chunks for rj in c.rejects] == [(6, 7)]
    assert sum(c.rows_read for c in chunks) == 8


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_one_column_export_loads_its_null_rows(tmp_path: Path, engine: str) -> None:
    """sqlite3 -csv of a column holding NULL, '007', 3 and '': 4 rows (3 loaded, exit 0)."""
    p = tmp_path / "sq1.csv"
    p.write_bytes(b'n\n\n007\n3\n""\n')
    db, report = tmp_path / "o.db", tmp_path / "r.json"
    got = cli("load", str(p), str(db), "--table", "t", "--engine", engine, "--report", str(report))
    assert (got.returncode, got.stderr.split(" in ")[0]) == (0, f"ok: 4 rows written to {db} (table t) from 1 file")
    assert sqlite_rows(db, "SELECT n FROM t") == [(None,), ("007",), ("3",), (None,)]
    assert json.loads(report.read_text())["rows_read"] == 4


def test_an_empty_line_of_a_one_column_file_with_undecodable_bytes_is_a_row(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b"n\n\xff,x\n\n3\n")
    _, chunks = read_all(p)
    assert rows_of(chunks) == [{"n": None}, {"n": 3}]
    assert [(rj.row, rj.line) for c in chunks for rj in c.rejects] == [(1, 2)]


def test_empty_lines_of_a_wider_file_or_a_one_column_file_ending_lines_in_cr_cr_lf_are_no_rows(
    tmp_path: Path,
) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes(b"a,b\n1,2\n\n3,4\n")
    assert rows_of(read_all(p)[1]) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    p.write_bytes(b"n\r\r\n1\r\r\n2\r\r\n")
    assert rows_of(read_all(p)[1]) == [{"n": 1}, {"n": 2}]


# ------------------------------------------------------------------ quoted_nulls

# PostgreSQL's COPY ... CSV (and Spark's) writes NULL unquoted and empty text quoted; R's
# write.csv writes NA unquoted and text quoted: the note and name of rows 1 and 2 differ
POSTGRES_CSV = 'id,note,name\n1,,"NA"\n2,"",NA\n3,x,"Namibia"\n'


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_quoted_nulls_false_tells_null_from_text_by_quoting_as_postgres_and_r_write_it(
    tmp_path: Path, engine: str
) -> None:
    src = tmp_path / "q.csv"
    src.write_text(POSTGRES_CSV)
    runs = {
        "default": ((None, "NA"), (None, "NA")),
        "postgres": ((None, "NA"), ("", "NA")),
        "r": ((None, "NA"), ("", None)),
    }
    flags = {
        "default": (),
        "postgres": ("--no-quoted-nulls",),
        "r": ("--no-quoted-nulls", "--null-values", "NA", "--null-values", ""),
    }
    for name, want in runs.items():
        db = tmp_path / f"{name}.db"
        p = cli("load", str(src), str(db), "--table", "t", "--engine", engine, "-q", *flags[name])
        assert (p.returncode, p.stdout, p.stderr) == (0, "", ""), name
        assert sqlite_rows(db, "SELECT note, name FROM t ORDER BY id") == [*want, ("x", "Namibia")], name
    ldb = tmp_path / "r.ldb"
    p = cli("load", str(src), str(ldb), "--key", "{id}", "--engine", engine, "-q", *flags["r"])
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    items = leveldb_items(ldb)[0]
    assert [json.loads(v) for _, v in items] == [  # each row once
        {"id": 1, "note": None, "name": "NA"},
        {"id": 2, "note": "", "name": None},
        {"id": 3, "note": "x", "name": "Namibia"},
    ]


def test_quoted_nulls_false_keeps_a_quoted_na_spelling_text_and_nulls_an_unquoted_one(tmp_path: Path) -> None:
    """``na_values`` apply to unquoted values only: a quoted ``"NA"`` in a numeric column is
    text (the column is text; declared a number, its row is rejected); an unquoted one is NULL
    in a numeric column and text in a text column, as with quoted NULLs allowed."""
    src = tmp_path / "n.csv"
    src.write_text('id,n,m,s\n1,NA,NA,"NA"\n2,"NA",5,NA\n3,7,"6",x\n')
    r, chunks = read_all(src, quoted_nulls=False)
    assert [f.type for f in r.schema] == [pa.int64(), pa.string(), pa.int64(), pa.string()]
    assert [(row["n"], row["m"], row["s"]) for row in rows_of(chunks)] == [
        ("NA", None, "NA"),
        ("NA", 5, "NA"),
        ("7", 6, "x"),
    ]
    r, chunks = read_all(src, quoted_nulls=False, columns={"n": "int64"})
    assert [row["n"] for row in rows_of(chunks)] == [None, 7]
    assert [(rj.row, rj.column, rj.reason) for c in chunks for rj in c.rejects] == [
        (2, "n", "'NA' is not a valid int64")
    ]
    r, chunks = read_all(src)  # as before: every spelling is NULL in a column typed but for them
    assert [(row["n"], row["m"]) for row in rows_of(chunks)] == [(None, None), (None, 5), (7, 6)]


def test_quoted_nulls_false_reads_a_block_parsed_by_the_csv_module_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block holding a malformed row with bytes that are not UTF-8 is parsed by Python's
    csv module, which drops the quotes: the quoting is read from the row's text there."""
    from loader.readers.csv.parse import BlockParser

    body = 'id,note,name,n\n1,,"NA",NA\n2,"",NA,7\n3,"a"",""b",x,"8"\n'
    clean, bad = tmp_path / "c.csv", tmp_path / "b.csv"
    clean.write_text(body)
    bad.write_bytes(body.encode() + b"4,caf\xe9,y,1,extra\n")
    used: list[int] = []
    keeping = BlockParser._parse_keeping_bytes

    def spy(self: BlockParser, block: bytearray, *args: Any) -> Any:
        used.append(1)
        return keeping(self, block, *args)

    monkeypatch.setattr(BlockParser, "_parse_keeping_bytes", spy)
    for nulls in ([""], ["", "NA"]):
        _, want = read_all(clean, quoted_nulls=False, null_values=nulls)
        assert not used
        _, got = read_all(bad, quoted_nulls=False, null_values=nulls)
        assert used
        assert rows_of(got) == rows_of(want)
        assert [rj.row for c in got for rj in c.rejects] == [4]
        used.clear()
    assert [(r["note"], r["name"], r["n"]) for r in rows_of(want)] == [
        (None, "NA", None),
        ("", None, 7),
        ('a","b', "x", 8),
    ]


@pytest.mark.parametrize(
    ("raw", "escape", "want"),
    [
        ('1,,"NA"', False, [False, False, True]),
        ('"",NA,"a""b",x"y"', False, [True, False, True, False]),
        ('"a,b","c\nd",', False, [True, True, False]),
        ('"a\\",b",c', "\\", [True, False]),
        ("", False, [False]),
    ],
)
def test_quoted_fields_tells_which_fields_open_with_the_quote(raw: str, escape: Any, want: list[bool]) -> None:
    from loader.readers.csv.parse import quoted_fields

    assert quoted_fields(raw, ",", '"', escape) == want
    assert quoted_fields(raw.replace('"', "'"), ",", "'", escape) == want


@pytest.mark.parametrize("workers", [1, 2])
def test_a_repeated_header_of_concatenated_exports_is_rejected_and_a_bom_starting_a_row_is_no_data(
    tmp_path: Path, workers: int
) -> None:
    """``cat a.csv b.csv`` of two Excel "CSV UTF-8" exports: the second's header is no data
    row (it turned ``id`` into text), and its byte order mark no part of a value."""
    bom = b"\xef\xbb\xbf"
    first = b"".join(b"%d,a%d\n" % (i, i) for i in range(1, 301))
    second = b"".join(b"%d,b%d\n" % (i, i) for i in range(301, 601))
    p = tmp_path / "cat.csv"
    p.write_bytes(bom + b"id,name\n" + first + bom + b"id,name\n" + second + bom + b"601,c\n")
    r, chunks = read_all(p, block_size=1024, workers=workers)
    assert r.schema.field("id").type == pa.int64()
    rows = rows_of(chunks)
    assert [x["id"] for x in rows] == list(range(1, 602)) and rows[-1]["name"] == "c"
    rejects = [rj for c in chunks for rj in c.rejects]
    assert [(rj.row, rj.line, rj.reason, rj.raw) for rj in rejects] == [
        (301, 302, "repeats the header row (files concatenated?)", "id,name")
    ]
    assert sum(c.rows_read for c in chunks) == 602 == len(rows) + len(rejects)


def test_a_row_spelled_as_the_header_of_a_one_column_file_is_data(tmp_path: Path) -> None:
    p = tmp_path / "words.csv"
    p.write_text("word\nword\nother\n")
    _, chunks = read_all(p)
    assert [x["word"] for x in rows_of(chunks)] == ["word", "other"]
    assert [rj for c in chunks for rj in c.rejects] == []


def test_a_repeated_header_is_a_reject_the_load_warns_of(tmp_path: Path) -> None:
    src, db, rejects = tmp_path / "cat.csv", tmp_path / "t.db", tmp_path / "r.jsonl"
    src.write_bytes(b"\xef\xbb\xbfid,name\n1,a\n\xef\xbb\xbfid,name\n2,b\n")
    p = cli("load", str(src), str(db), "--table", "t", "--rejects", str(rejects), "--no-progress")
    assert (p.returncode, p.stdout) == (0, "")
    assert p.stderr.startswith(f"ok: 2 rows written to {db} (table t) from 1 file in "), p.stderr
    assert p.stderr.endswith(f"; WARNING 1 rows rejected, see {rejects}\n"), p.stderr
    assert sqlite_rows(db, "SELECT id, name FROM t") == [(1, "a"), (2, "b")]
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert (line["row"], line["line"], line["reason"]) == (2, 3, "repeats the header row (files concatenated?)")
