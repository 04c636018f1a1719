"""Transcoded input (``--encoding``): bytes the encoding cannot decode reject their row only."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from loader.cli import main
from loader.errors import SourceError
from tests.conftest import sqlite_rows


def load(capsys: pytest.CaptureFixture[str], src: Path, encoding: str) -> tuple[int, str, list[tuple[int, int, str]]]:
    db = src.with_suffix(".db")
    code = main(["load", str(src), str(db), "--table", "t", "--encoding", encoding, "--infer-rows", "100", "-q"])
    path = Path(f"{db}.table-t.rejects.jsonl")
    lines = path.read_text().splitlines() if path.exists() else []
    return code, capsys.readouterr().err, [(r["row"], r["line"], r["reason"]) for r in map(json.loads, lines)]


def test_a_stray_utf16_surrogate_rejects_its_row_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["id\tname"] + [f"{i}\tname{i}" for i in range(20_000)]
    head, tail = "\n".join(rows[:15_000]) + "\n", "\n".join(rows[15_000:]) + "\n"
    src = tmp_path / "late16.csv"  # the stray unit lies past the first 64 KiB the transcoder reads
    src.write_bytes(head.encode("utf-16-le") + b"\x00\xd8" + tail.encode("utf-16-le"))
    assert load(capsys, src, "utf-16-le") == (
        0,
        "",
        [(15_000, 15_001, "not valid utf-16-le text: '\\xc0\\x80\\xd814999'")],
    )
    db = src.with_suffix(".db")
    assert sqlite_rows(db, "SELECT count(*), min(id), max(id) FROM t") == [(19_999, 0, 19_999)]
    assert sqlite_rows(db, "SELECT count(*) FROM t WHERE id = 14999") == [(0,)]


def test_an_undecodable_utf32_unit_of_low_bytes_does_not_cut_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad32.csv"
    # U+11000A is past Unicode: its bytes 0a 00 11 00 hold a newline, which must not end the row
    src.write_bytes("id,name\n1,a\n2,b".encode("utf-32-le") + b"\x0a\x00\x11\x00" + "\n3,c\n".encode("utf-32-le"))
    code, err, rejects = load(capsys, src, "utf-32-le")
    assert (code, err) == (0, "")
    assert rejects == [(2, 3, "not valid utf-32-le text: 'b\\xc0\\x8a\\xc0\\x80\\xc0\\x91\\xc0\\x80'")]
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, name FROM t ORDER BY id") == [(1, "a"), (3, "c")]


def test_cp1252_undecodable_bytes_still_show_as_themselves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "cp.csv"
    src.write_bytes(b"id,name\n1,caf\xe9\n2,x\x81y\n")
    assert load(capsys, src, "cp1252") == (0, "", [(2, 3, "not valid cp1252 text: 'x\\x81y'")])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT id, name FROM t") == [(1, "café")]


ASCII = "id,name\n1,a\n2,b\n3,c\n"


@pytest.mark.parametrize(
    ("data", "encoding", "found", "hint"),
    [
        (ASCII.encode(), "utf-16-le", "it reads as utf-8 text", '--encoding utf-8 (source.encoding = "utf-8")'),
        (
            "id,t\n1,café\n".encode("cp1252"),
            "utf-16-le",
            "it reads as cp1252 text",
            '--encoding cp1252 (source.encoding = "cp1252")',
        ),
        (
            ASCII.encode("utf-16-le"),
            "utf-16-be",
            "it reads as utf-16-le text",
            '--encoding utf-16-le (source.encoding = "utf-16-le")',
        ),
        (
            ASCII.encode("utf-16-be"),
            "utf-16",
            "it reads as utf-16-be text",
            '--encoding utf-16-be (source.encoding = "utf-16-be")',
        ),
        # pandas' to_csv(encoding="utf-16"): a little-endian byte order mark
        (
            ASCII.encode("utf-16"),
            "utf-16-be",
            "it starts with the byte order mark of utf-16-le",
            '--encoding utf-16 (source.encoding = "utf-16"), which follows the mark',
        ),
    ],
    ids=["utf-8", "cp1252", "le-as-be", "be-as-utf-16", "le-mark-as-be"],
)
def test_an_input_that_is_not_utf16_in_the_declared_byte_order_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, encoding: str, found: str, hint: str
) -> None:
    """It loaded as one column named by CJK-looking characters and no rows: ok, exit 0."""
    src = tmp_path / "s.csv"
    src.write_bytes(data)
    code, err, rejects = load(capsys, src, encoding)
    assert (code, rejects) == (65, [])
    assert err.splitlines() == [
        f"loader: error: {src}: not {encoding} text: {found}",
        f"  hint: read it with {hint}",
    ]


RUSSIAN = "город,население\nМосква,13010112\nКиев,2952301\nМинск,1995471\n"


@pytest.mark.parametrize(
    ("text", "written", "declared"),
    [
        (RUSSIAN, "utf-16-le", "utf-16-be"),
        (RUSSIAN, "utf-16-be", "utf-16-le"),
        ("id,name\n1,Zoë\n2,日本\n", "utf-16-le", "utf-16-be"),
        ("όνομα;πόλη\nΑθήνα;Ελλάδα\n", "utf-16-be", "utf-16"),
        ("город", "utf-16-le", "utf-16-be"),  # one line, no ASCII: letters read as rare CJK characters
    ],
    ids=["cyrillic-le-as-be", "cyrillic-be-as-le", "latin-and-cjk", "greek-be-as-utf-16", "one-cyrillic-word"],
)
def test_text_mostly_not_ascii_in_the_other_byte_order_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, written: str, declared: str
) -> None:
    """Too little ASCII to pass for ASCII in the other order: it loaded as no rows and one
    column named by CJK-looking characters, ok, exit 0."""
    src = tmp_path / "s.csv"
    src.write_bytes(text.encode(written))
    code, err, rejects = load(capsys, src, declared)
    assert (code, rejects) == (65, [])
    assert err.splitlines() == [
        f"loader: error: {src}: not {declared} text: it reads as {written} text",
        f'  hint: read it with --encoding {written} (source.encoding = "{written}")',
    ]
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name FROM sqlite_master WHERE name = 't'") == []


@pytest.mark.parametrize("order", ["utf-16-le", "utf-16-be"])
def test_text_mostly_not_ascii_in_its_own_byte_order_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str
) -> None:
    src = tmp_path / "ru.csv"
    src.write_bytes((RUSSIAN + "가가가,1\n一一一,2\n").encode(order))  # U+AC00, U+4E00: a NUL byte each
    assert load(capsys, src, order) == (0, "", [])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT город, население FROM t") == [
        ("Москва", 13010112),
        ("Киев", 2952301),
        ("Минск", 1995471),
        ("가가가", 1),
        ("一一一", 2),
    ]


def test_a_file_read_in_the_wrong_byte_order_is_a_failed_run_not_an_empty_load(tmp_path: Path) -> None:
    """A non-empty file that yields one garbage column and no rows is no success: the report
    says so, and no table is made."""
    src, db, report = tmp_path / "ru.csv", tmp_path / "o.db", tmp_path / "r.json"
    src.write_bytes(RUSSIAN.encode("utf-16-le"))
    code = main(["load", str(src), str(db), "--table", "t", "--encoding", "utf-16-be", "--report", str(report), "-q"])
    written = json.loads(report.read_text())
    assert (code, written["status"], written["exit_code"], written["rows_read"]) == (65, "failed", 65, 0)
    assert written["error"] == f"{src}: not utf-16-be text: it reads as utf-16-le text"
    assert sqlite_rows(db, "SELECT name FROM sqlite_master WHERE name = 't'") == []


def test_utf16_text_of_long_cjk_values_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hardly any ASCII (a comma, a newline), and its bytes read as no other text: UTF-16 all the same."""
    names = ["北京市海淀区中关村大街二十七号院", "上海市浦东新区世纪大道一百号楼"]
    src = tmp_path / "cjk.csv"
    src.write_bytes(("地址,城市名称\n" + "".join(f"{n},{n[:3]}\n" for n in names * 50)).encode("utf-16-le"))
    assert load(capsys, src, "utf-16-le") == (0, "", [])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT count(*), min(城市名称) FROM t") == [(100, "上海市")]


def test_standard_input_that_is_a_text_stream_is_read_as_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loader import load

    # the text is decoded already: source.encoding does not apply to it
    monkeypatch.setattr("sys.stdin", io.StringIO("id,name\n1,zoë\n2,\udce9t\u00e9\n"))
    report = load("-", tmp_path / "s.db", table="t", source_options={"encoding": "cp1252"}, run_options={"quiet": True})
    assert (report.rows_written, report.rows_rejected) == (1, 1)  # \udce9: a byte that was not UTF-8
    assert sqlite_rows(tmp_path / "s.db", "SELECT id, name FROM t") == [(1, "zoë")]


def test_text_bytes_reads_as_many_bytes_as_asked() -> None:
    from loader.readers.stream import TextBytes

    stream = TextBytes(io.StringIO("ab€c"))
    assert [stream.read(2), stream.read(2), stream.read(10), stream.read(1)] == [b"ab", b"\xe2\x82", b"\xacc", b""]


def test_no_standard_input_is_a_missing_input_before_the_target_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loader import load
    from loader.errors import MissingInputError

    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(MissingInputError) as raised:
        load("-", tmp_path / "n.db", table="t")
    assert (str(raised.value), raised.value.exit_code) == ("-: there is no standard input (sys.stdin is None)", 66)
    assert not (tmp_path / "n.db").exists()


# ------------------------------------------------- compressed data under a wrong name


def _load_error(path: Path, tmp_path: Path, **options: Any) -> SourceError:
    from loader import load

    with pytest.raises(SourceError) as caught:
        load(str(path), str(tmp_path / "o.db"), table="t", **options)
    return caught.value


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_gzip_data_named_csv_is_named_gzip_not_an_encoding(tmp_path: Path, encoding: str) -> None:
    """It got the hint 'it reads as cp1252', and read so, a NUL in the header."""
    src = tmp_path / "g.csv"
    src.write_bytes(gzip.compress(b"id,name\n1,a\n2,b\n"))
    error = _load_error(src, tmp_path, source_options={"encoding": encoding})
    assert (str(error), error.hint, error.exit_code) == (
        f"{src}: is gzip data, not CSV text",
        "name it g.csv.gz: a .gz file is decompressed as it is read",
        65,
    )


@pytest.mark.parametrize(
    "name,data,what,hint",
    [
        (
            "b.csv",
            bz2.compress(b"id\n1\n"),
            "bzip2 data",
            "name it b.csv.bz2: a .bz2 file is decompressed as it is read",
        ),
        (
            "p.csv",
            b"PAR1" + bytes(40) + b"PAR1",
            "a Parquet file",
            'name it .parquet, or pass source_options={"format": "parquet"}',
        ),
    ],
)
def test_other_packed_data_named_csv_is_named(tmp_path: Path, name: str, data: bytes, what: str, hint: str) -> None:
    src = tmp_path / name
    src.write_bytes(data)
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (f"{src}: is {what}, not CSV text", hint)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("name", ["z.csv", "z.jsonl"])
def test_a_zip_archive_named_csv_is_refused_not_loaded_as_rows(tmp_path: Path, method: int, name: str) -> None:
    """A small stored zip (Info-ZIP's way) loaded a column named 'PK\\x03\\x04' and a row of its bytes, exit 0."""
    src = tmp_path / name
    with zipfile.ZipFile(src, "w", method) as archive:
        archive.writestr("small.csv", "id,name\n1,a\n2,b\n")
    error = _load_error(src, tmp_path)
    kind = "CSV" if name.endswith(".csv") else "JSON Lines"
    assert (str(error), error.hint) == (
        f"{src}: is a zip archive (or an xlsx workbook), not {kind} text",
        "unzip it first, then load the files it holds",
    )
    assert not (tmp_path / "o.db").exists() or "t" not in {
        r[0] for r in sqlite3.connect(tmp_path / "o.db").execute("SELECT name FROM sqlite_master")
    }


def test_plain_text_named_gz_is_not_called_truncated(tmp_path: Path) -> None:
    """It was 'compressed data is truncated or corrupt': download it again, the wrong way."""
    src = tmp_path / "n.csv.gz"
    src.write_bytes(b"id,name\n1,a\n2,b\n")
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (f"{src}: is not gzip data: it is plain text", "name it n.csv, without .gz")


def test_truncated_gzip_is_still_truncated(tmp_path: Path) -> None:
    src = tmp_path / "t.csv.gz"
    src.write_bytes(gzip.compress(b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(5000)))[:200])
    error = _load_error(src, tmp_path)
    assert str(error).startswith(f"{src}: compressed data is truncated or corrupt")


_PADDED_ROWS = 100_000


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_gzip_padded_with_zero_bytes_loads_every_row(tmp_path: Path, engine: str) -> None:
    """Zero bytes after the last member (tape and block writers, some uploaders leave them):
    gzip(1) reads them as the end; it was 'truncated or corrupt ... download it again' after
    committing part of the file."""
    src, db = tmp_path / "pad.csv.gz", tmp_path / "o.db"
    data = b"id,name\n" + b"".join(b"%d,name%d\n" % (i, i) for i in range(_PADDED_ROWS))
    src.write_bytes(gzip.compress(data[:300_000]) + gzip.compress(data[300_000:]) + b"\x00" * 512)
    assert main(["load", str(src), str(db), "--table", "t", "--engine", engine, "-q"]) == 0
    assert sqlite_rows(db, "SELECT count(*), sum(id), max(name) FROM t") == [
        (_PADDED_ROWS, sum(range(_PADDED_ROWS)), "name99999")
    ]


@pytest.mark.parametrize("size", [1000, 65536, 1 << 20])
@pytest.mark.parametrize("into", [False, True])
def test_a_zero_padded_gzip_decompresses_whole_in_reads_of_any_size(tmp_path: Path, size: int, into: bool) -> None:
    from loader.readers.stream import Decompressing

    src = tmp_path / "pad.csv.gz"
    data = b"".join(b"%d,name%d\n" % (i, i) for i in range(_PADDED_ROWS))
    src.write_bytes(gzip.compress(data) + gzip.compress(b"") + b"\x00" * 3)  # an empty member ends in 8 zeros
    stream, got = Decompressing(str(src), "gzip"), bytearray()
    try:
        while True:
            if into:
                view = memoryview(bytearray(size))
                chunk = bytes(view[: stream.readinto(view)])
            else:
                chunk = stream.read(size)
            if not chunk:
                break
            got += chunk
    finally:
        stream.close()
    assert bytes(got) == data


def test_bytes_after_the_gzip_data_are_named_not_called_truncated(tmp_path: Path) -> None:
    src = tmp_path / "trail.csv.gz"
    data = b"id,name\n" + b"".join(b"%d,name%d\n" % (i, i) for i in range(_PADDED_ROWS))
    src.write_bytes(gzip.compress(data) + b"\x00\x00garbage\n")
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (
        f"{src}: 10 bytes after the end of the gzip data",
        "gzip -dc trail.csv.gz > trail.csv reads the data before them (it says 'trailing garbage ignored'): "
        "load that if the data is whole",
    )


def test_a_gzip_member_cut_after_zero_padding_is_still_truncated(tmp_path: Path) -> None:
    src = tmp_path / "t.csv.gz"
    data = b"id,name\n" + b"".join(b"%d,name%d\n" % (i, i) for i in range(_PADDED_ROWS))
    src.write_bytes(gzip.compress(data)[:-20_000] + b"\x00" * 64)
    error = _load_error(src, tmp_path)
    assert str(error).startswith(f"{src}: compressed data is truncated or corrupt")


# ------------------------------------------------------ UTF-16 cut at an odd byte


def test_utf16_cut_inside_its_last_row_rejects_it_as_not_utf16(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The half code unit of the last comma became an overlong pair: 'expected 3 fields, found 2'."""
    src = tmp_path / "u16cut.csv"
    src.write_bytes("id,name,amount\r\n1,café,1\r\n2,b,2\r\n3,cdef,3".encode("utf-16")[:-3])
    code, _, rejects = load(capsys, src, "utf-16")
    assert code == 0
    assert rejects == [(3, 4, "not valid utf-16 text: '3,cdef\\xc0\\xac' (expected 3 fields, found 2)")]
    assert sqlite_rows(src.with_suffix(".db"), "SELECT * FROM t ORDER BY id") == [(1, "café", 1), (2, "b", 2)]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_cut_inside_its_last_line_end_adds_no_phantom_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    """Half a line end's code unit was a row of its own, rejected and counted in rows_read."""
    src = tmp_path / "u16nl.csv"
    src.write_bytes("id,name,amount\r\n1,café,1\r\n2,b,2\r\n3,cdef,3\r\n".encode(encoding)[:-1])
    assert load(capsys, src, encoding) == (0, "", [])
    db = src.with_suffix(".db")
    assert sqlite_rows(db, "SELECT * FROM t ORDER BY id") == [(1, "café", 1), (2, "b", 2), (3, "cdef", 3)]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zst"])
def test_a_compressed_file_is_small_by_the_bytes_it_holds_not_its_size_on_disk(tmp_path: Path, suffix: str) -> None:
    """A file small on disk may hold megabytes: what a reader parses decides, and no more of
    it than the limit and a byte is read to tell."""
    import pyarrow as pa

    from loader.readers import stream

    text = b"id,note\n" + b"".join(b"%d,%s\n" % (i, b"lorem ipsum " * 100) for i in range(500))
    big, small = tmp_path / f"big.csv{suffix}", tmp_path / f"small.csv{suffix}"
    codec = stream.COMPRESSION[suffix]
    for path, data in ((big, text), (small, text[:1000])):
        with pa.CompressedOutputStream(str(path), codec) as out:
            out.write(data)
    assert big.stat().st_size < 64 << 10 < len(text)
    reads: list[int] = []
    real_read = stream.Decompressing.read

    def read(self: stream.Decompressing, n: int) -> bytes:
        reads.append(n)
        return real_read(self, n)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream.Decompressing, "read", read)
        assert not stream.parses_at_most(str(big), big.stat().st_size, 64 << 10)
        assert sum(reads) <= (64 << 10) + 1  # never the whole stream
        assert stream.parses_at_most(str(small), small.stat().st_size, 1000)
        assert not stream.parses_at_most(str(small), small.stat().st_size, 999)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text[:1000])
    assert stream.parses_at_most(str(plain), 1000, 1000) and not stream.parses_at_most(str(plain), 1000, 999)
    assert not stream.parses_at_most(str(plain), None, 1000)  # not known: not small
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b not gzip")
    assert not stream.parses_at_most(str(broken), broken.stat().st_size, 1000)  # the reader says why


@pytest.mark.parametrize(
    "name,data",
    [
        ("cr.jsonl.gz", gzip.compress(b'{"a":1}\r{"a":2}\r')),
        ("nul.jsonl.gz", gzip.compress(b"null\n")),
        ("nul.jsonl.bz2", bz2.compress(b"null\nnull\n")),
    ],
    ids=["cr", "null", "null-bz2"],  # gzip's bytes hold the time: no id of theirs
)
def test_a_compressed_file_without_an_object_is_not_called_misnamed(tmp_path: Path, name: str, data: bytes) -> None:
    """The raw file's gzip magic named it 'gzip data, not JSON Lines text': rename it x.jsonl.gz.gz."""
    src = tmp_path / name
    src.write_bytes(data)
    error = _load_error(src, tmp_path)
    why = "holds no JSON object in its first rows" if "cr" in name else "holds no JSON object it can load: line 1: "
    assert str(error).startswith(f"{src}: {why}") and error.exit_code == 65
    assert ".gz.gz" not in str(error.hint) and ".bz2.bz2" not in str(error.hint)


@pytest.mark.parametrize("name", ["twice.csv.gz", "twice.jsonl.gz"])
def test_compressed_data_inside_a_compressed_file_is_named(tmp_path: Path, name: str) -> None:
    """What the reader decoded is gzip data again: named so, from the decompressed bytes."""
    src = tmp_path / name
    src.write_bytes(gzip.compress(gzip.compress(b'{"a":1}\n' if "jsonl" in name else b"a\n1\n")))
    error = _load_error(src, tmp_path)
    kind = "JSON Lines" if "jsonl" in name else "CSV"
    assert (str(error), error.hint) == (
        f"{src}: is gzip data, not {kind} text",
        f"name it {name}.gz: a .gz file is decompressed as it is read",
    )


def test_a_zip_inside_a_gz_is_named_a_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("small.csv", "id,name\n1,a\n")
    src = tmp_path / "z.csv.gz"
    src.write_bytes(gzip.compress(buf.getvalue()))
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (
        f"{src}: is a zip archive (or an xlsx workbook), not CSV text",
        "unzip it first, then load the files it holds",
    )


@pytest.mark.parametrize(
    "name,compress,tool",
    [("mac.jsonl.gz", gzip.compress, "gzip"), ("mac.jsonl.bz2", bz2.compress, "bzip2")],
)
def test_a_compressed_file_of_lone_carriage_returns_is_told_to_decompress_first(
    tmp_path: Path, name: str, compress: Any, tool: str
) -> None:
    """The hint said tr '\\r' '\\n' < file: on compressed bytes, which it corrupts."""
    src = tmp_path / name
    src.write_bytes(compress(b'{"id":1}\r{"id":2}\r'))
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (
        f"{src}: holds no JSON object in its first rows",
        "its lines end in a carriage return alone (classic Mac OS): decompress it and end them in newlines, "
        f"e.g. {tool} -dc {name} | tr '\\r' '\\n' > mac.jsonl, then load that",
    )


def test_a_compressed_csv_of_lone_carriage_returns_is_told_to_decompress_first(tmp_path: Path) -> None:
    src = tmp_path / "old mac.csv.gz"
    src.write_bytes(gzip.compress(b"a,b\rx,1\ry,2\r"))
    error = _load_error(src, tmp_path)
    assert (
        error.hint
        == "convert the line ends first, e.g. gzip -dc 'old mac.csv.gz' | tr '\\r' '\\n' > 'old mac.csv', then load that"
    )


@pytest.mark.parametrize(
    "name,data",
    [
        ("par.csv", b"PAR1;Gr\xf6\xdfe;PAR3\n1;2;3\n"),  # "PAR1" at the start only: text
        ("arr.csv", b"ARROW1,Stra\xdfe\n1,2\n"),  # "ARROW1" without its NUL padding: text
        ("par.csv.gz", gzip.compress(b"PAR1;Gr\xf6\xdfe;PAR3\n1;2;3\n", mtime=0)),
    ],
    ids=["parquet", "arrow", "parquet-gz"],
)
def test_eight_bit_text_starting_as_a_binary_format_gets_the_encoding_hint(
    tmp_path: Path, name: str, data: bytes
) -> None:
    """ASCII markers are no proof: a cp1252 header starting with PAR1 or ARROW1 was called a
    Parquet or Arrow file; it gets the encoding hint, and read so it loads."""
    from loader import load

    src = tmp_path / name
    src.write_bytes(data)
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (
        f"{src}, line 1: header is not valid text in the declared encoding",
        'it reads as cp1252: read it with source_options={"encoding": "cp1252"}',
    )
    report = load(str(src), str(tmp_path / "ok.db"), table="t", source_options={"encoding": "cp1252"})
    assert report.rows_written == 1


def test_a_real_arrow_file_named_csv_is_still_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.feather as feather

    src = tmp_path / "a.csv"
    feather.write_feather(pa.table({"a": [1, 2]}), str(src))
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (
        f"{src}: is an Arrow IPC file, not CSV text",
        'name it .arrow, or pass source_options={"format": "arrow"}',
    )


def test_plain_text_starting_par1_named_gz_is_not_called_parquet(tmp_path: Path) -> None:
    src = tmp_path / "p.csv.gz"
    src.write_bytes(b"PAR1,b\n1,2\n")
    error = _load_error(src, tmp_path)
    assert (str(error), error.hint) == (f"{src}: is not gzip data: it is plain text", "name it p.csv, without .gz")


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_gzip_data_piped_to_standard_input_is_named_gzip(tmp_path: Path, encoding: str) -> None:
    """Its first bytes were read by the reader already: named from them (not read again),
    with how to pipe it decompressed; it got 'read it with --encoding cp1252', then a NUL."""
    from tests.reliability_util import env

    data = gzip.compress(b"id,v\n" + b"".join(b"%d,x\n" % i for i in range(1000)))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "loader",
            "load",
            "-",
            str(tmp_path / "t.db"),
            "--format",
            "csv",
            "--encoding",
            encoding,
        ],
        input=data,
        capture_output=True,
        env=env(),
        timeout=120,
    )
    assert p.returncode == 65
    assert p.stderr.decode().splitlines() == [
        "loader: error: -: is gzip data, not CSV text",
        "  hint: pipe it decompressed: `gzip -dc x.gz | loader load - ...`",
    ]


# ------------------------------------------------- text declared in an 8-bit or legacy encoding

WESTERN = "id,name,city\n1,Zoë,Zürich\n2,François,Besançon\n"


@pytest.mark.parametrize("declared", ["cp1252", "latin-1", "shift_jis", "gb18030"])
def test_utf8_text_declared_in_an_8_bit_encoding_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], declared: str
) -> None:
    """It loaded as mojibake ('ZoÃ«', 'Zoﾃｫ'), exit 0: a job whose vendor's feed turned UTF-8."""
    src = tmp_path / "u8.csv"
    src.write_text(WESTERN, encoding="utf-8")
    assert load(capsys, src, declared) == (
        65,
        f"loader: error: {src}: not {declared} text: it reads as utf-8 text\n"
        '  hint: read it with --encoding utf-8 (source.encoding = "utf-8")\n',
        [],
    )
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name FROM sqlite_master WHERE name = 't'") == []


@pytest.mark.parametrize(
    ("text", "declared"),
    [
        (WESTERN + "3,“Ÿves” – €5,Œuvre\n", "cp1252"),
        (WESTERN + "3,Ã©,Â\n", "latin-1"),  # what UTF-8 read as latin-1 stores: valid UTF-8 only as a pair
        ("名前,都市\n山田太郎,東京\nｶﾀｶﾅ,大阪\n", "shift_jis"),
        ("id,名前\n1,髙橋①\n", "cp932"),
        ("姓名,城市\n张三,北京\n", "gb18030"),
        ("이름,도시\n홍길동,서울\n", "cp949"),
        ("город,страна\nМосква,Россия\n", "cp1251"),
        ("id,name\n1,plain ascii\n", "cp1252"),
    ],
    ids=["cp1252", "latin-1", "shift-jis", "cp932", "gb18030", "cp949", "cp1251", "ascii"],
)
def test_text_in_its_declared_8_bit_encoding_still_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, declared: str
) -> None:
    src = tmp_path / "s.csv"
    src.write_bytes(text.encode(declared))
    assert load(capsys, src, declared) == (0, "", [])
    header, *rows = [line.split(",") for line in text.splitlines()]
    assert sqlite_rows(src.with_suffix(".db"), f'SELECT "{header[1]}" FROM t') == [(r[1],) for r in rows]


def test_utf8_past_the_checked_head_of_a_file_declared_cp1252_is_read_as_cp1252(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the head is checked: ASCII there passes, and the rest is read as declared."""
    src = tmp_path / "late.csv"
    src.write_bytes(("id,name\n" + "".join(f"{i},name{i}\n" for i in range(1000)) + "1000,Zoë\n").encode("utf-8"))
    assert load(capsys, src, "cp1252") == (0, "", [])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name FROM t WHERE id = 1000") == [("ZoÃ«",)]


def test_a_cp1252_file_with_mojibake_in_its_head_loads_as_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text a wrong decode upstream left (``donâ€™t``, ``Ã©``) is valid UTF-8 in cp1252: a file
    with it in its first rows was refused as UTF-8, and UTF-8 rejected its own cp1252 rows."""
    rows = ["id,name,city", "1,donâ€™t call,Lyon", "2,Ã©tÃ©,Paris"]
    rows += [f"{i},name{i},Paris" for i in range(3, 1000)] + ["1000,Zoë,Orléans"]
    src = tmp_path / "feed.csv"
    src.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    assert load(capsys, src, "cp1252") == (0, "", [])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name, city FROM t WHERE id IN (1, 2, 1000) ORDER BY id") == [
        ("donâ€™t call", "Lyon"),
        ("Ã©tÃ©", "Paris"),
        ("Zoë", "Orléans"),
    ]


def test_utf8_is_refused_only_where_all_the_checked_bytes_are_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the head, UTF-8 throughout ``UTF8_CHECKED`` bytes refuses it (of a file that long,
    whatever is further); one byte that is not UTF-8 within them loads it as declared."""
    from loader.readers import stream

    monkeypatch.setattr(stream, "UTF8_CHECKED", 1 << 17)
    body = "id,name\n1,Zoë\n" + "".join(f"{i},name{i}\n" for i in range(2, 20000))  # about 250 KB
    src = tmp_path / "u8.csv"
    src.write_bytes(body.encode("utf-8") + b"20000,caf\xe9\n")  # cp1252 past the checked bytes
    assert load(capsys, src, "cp1252")[:2] == (
        65,
        f"loader: error: {src}: not cp1252 text: it reads as utf-8 text\n"
        '  hint: read it with --encoding utf-8 (source.encoding = "utf-8")\n',
    )
    cut = body.index("\n", 100_000) + 1  # within them
    src.write_bytes(body[:cut].encode("utf-8") + b"99999,caf\xe9\n" + body[cut:].encode("utf-8"))
    assert load(capsys, src, "cp1252") == (0, "", [])
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name FROM t WHERE id IN (1, 99999) ORDER BY id") == [
        ("ZoÃ«",),
        ("café",),
    ]


@pytest.mark.parametrize(
    "body",
    [b"id,name\n1,cafe\n", b"id,name\n1,caf\xe9\n", "id,name\n1,Zoë\n".encode()],
    ids=["ascii", "cp1252", "utf-8"],
)
@pytest.mark.parametrize("declared", ["cp1252", "latin-1", "shift_jis"])
def test_a_utf8_byte_order_mark_under_an_8_bit_encoding_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, declared: str
) -> None:
    """Read as cp1252 it started the first column's name (``ï»¿id``), whatever followed it."""
    src = tmp_path / "bom.csv"
    src.write_bytes(codecs.BOM_UTF8 + body)
    assert load(capsys, src, declared) == (
        65,
        f"loader: error: {src}: not {declared} text: it starts with a UTF-8 byte order mark\n"
        '  hint: read it with --encoding utf-8 (source.encoding = "utf-8")\n',
        [],
    )
    assert sqlite_rows(src.with_suffix(".db"), "SELECT name FROM sqlite_master WHERE name = 't'") == []


def test_a_utf8_byte_order_mark_under_an_8_bit_encoding_is_refused_in_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bom.jsonl"
    src.write_bytes(codecs.BOM_UTF8 + b'{"id": 1}\n')
    assert main(["load", str(src), str(tmp_path / "j.db"), "--table", "t", "--encoding", "cp1252", "-q"]) == 65
    assert capsys.readouterr().err.splitlines()[0] == (
        f"loader: error: {src}: not cp1252 text: it starts with a UTF-8 byte order mark"
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        # the hunt's 2-row file: too short for the NUL pattern of the header once transcoded
        (b"\xff\xfei\x00d\x00,\x00n\x00\r\x00\n\x001\x00,\x00a\x00\r\x00\n\x00", "utf-16"),
        ("id,name\r\n1,a\r\n2,b\r\n3,c\r\n".encode("utf-16-le"), "utf-16-le"),
        ("id,name\n1,a\n".encode("utf-16-be"), "utf-16-be"),
    ],
    ids=["bom", "le", "be"],
)
@pytest.mark.parametrize("declared", ["latin-1", "cp1252"])
def test_utf16_text_declared_in_an_8_bit_encoding_is_refused_naming_utf16(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, named: str, declared: str
) -> None:
    """It got Python's "new-line character seen in unquoted field - do you need to open the
    file in universal-newline mode?", and for a file with a byte order mark, utf-16-le."""
    src = tmp_path / "u16.csv"
    src.write_bytes(data)
    assert load(capsys, src, declared) == (
        65,
        f"loader: error: {src}: not {declared} text\n"
        f'  hint: it looks like UTF-16: read it with --encoding {named} (source.encoding = "{named}")\n',
        [],
    )


# ------------------------------------------------- which encoding a file that is not UTF-8 is in

JAPANESE = "id,name,city\r\n1,山田太郎,東京\r\n2,鈴木花子,大阪\r\n"
CYRILLIC = "id,name,city\r\n1,Иван,Москва\r\n2,Пётр,Самара\r\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (JAPANESE, "cp932"),
        ("名前,都市\nさとう たろう,とうきょう\n", "cp932"),
        ("名前,都市\n", "cp932"),
        (CYRILLIC, "cp1251"),
        ("МІСТО,КРАЇНА\nКиїв,Україна\n", "cp1251"),
        ("姓名,城市\n张三,北京\n李四,上海\n", "gb18030"),
        ("名前,都市\n", "gb18030"),
        ("번호,이름,주소\n1,김민준,서울특별시 강남구\n", "cp949"),
        ("id,t\n1,café\n2,naïve\n", "cp1252"),
        ("NAME,GRÖßE\nMÜLLER,1\n", "cp1252"),
        ("a,b\n1,“quoted” – dash…\n", "cp1252"),
        ("id,caf\x81\n", "latin-1"),  # one byte cp1252 has no character for: too few to tell by
        ("id,andar,turma\n1,1º andar,2ª\n2,3º andar,1ª\n3,térreo,4ª\n", "cp1252"),
        ("n,r\nNº 12,Mª José\n", "cp1252"),
        ("item,size\nflour,1½ cup\nboard,3×4 m\nrod,5² mm\n", "cp1252"),
        ("id,item,price\n1,coffee,2 €\n2,tea,3 €\n3,cake,4 €\n", "cp1252"),
        ("id,item,price\n1,coffee,2 £\n2,tea,3 £\n3,cake,4 £\n", "cp1252"),
        ("адрес\nг. Москва, ул. Ленина, д. 5, кв. 3\n", "cp1251"),
    ],
    ids=[
        "japanese",
        "kana",
        "japanese-header",
        "russian",
        "ukrainian-caps",
        "chinese",
        "chinese-header",
        "korean",
        "french",
        "german-caps",
        "punctuation",
        "one-byte",
        "ordinals",
        "ordinals-beside-letters",
        "fraction-times-superscript",
        "euro",
        "pound",
        "russian-one-letter-words",
    ],
)
def test_the_encoding_guessed_is_the_one_the_text_was_written_in(text: str, encoding: str) -> None:
    from loader.readers.stream import guess_encoding

    assert guess_encoding(text.encode(encoding)) == (encoding,)


@pytest.mark.parametrize(
    ("text", "encoding", "found"),
    [
        ("이름\n서울\n", "cp949", ("gb18030", "cp949")),  # common hanzi as well as common Hangul, and short
        ("όνομα,πόλη\nΑθήνα,Ελλάδα\n", "cp1253", ()),  # Greek: none of those tried
        ("miasto,kraj\nŁódź,Polska\nGdańsk,Polska\n", "cp1250", ()),
        ("id,text\n1," + "ab\x80\x81\x82\x83\x84" * 3 + "\n", "latin-1", ()),  # no text of any
    ],
    ids=["korean-or-chinese", "greek", "polish", "binary"],
)
def test_text_that_reads_as_no_one_encoding_says_so(text: str, encoding: str, found: tuple[str, ...]) -> None:
    from loader.readers.stream import guess_encoding

    assert guess_encoding(text.encode(encoding)) == found


@pytest.mark.parametrize(
    "text",
    [
        "id,andar,turma\n1,1º andar,2ª\n2,3º andar,1ª\n3,térreo,4ª\n",
        "id,item,price\n1,coffee,2 €\n2,tea,3 €\n3,cake,4 €\n",
    ],
    ids=["ordinals", "euro"],
)
def test_nothing_loaded_from_western_text_of_signs_names_cp1252(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """``1º``, ``2ª`` and ``€`` read as cp1251 are ``1є``, ``2Є`` and ``Ђ``: the hint named cp1251
    (following it stored ``1є andar``, exit 0), or cp1252 and cp1251 alike."""
    src = tmp_path / "w.csv"
    src.write_bytes(text.encode("cp1252"))
    code, err, _ = load(capsys, src, "utf-8")
    assert code == 4
    assert err.splitlines()[0].endswith("; the file reads as cp1252: try --encoding cp1252")
    db = str(src.with_suffix(".db"))
    assert main(["load", str(src), db, "--table", "t", "--encoding", "cp1252", "--restart", "-q"]) == 0
    assert sqlite_rows(db, "SELECT * FROM t") == [
        tuple(int(v) if v.isdigit() else v for v in line.split(",")) for line in text.splitlines()[1:]
    ]


def test_nothing_loaded_from_japanese_or_cyrillic_text_names_its_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said latin-1 and cp1252, and following the hint stored mojibake, exit 0."""
    for text, encoding, name in [(JAPANESE, "cp932", "ja"), (CYRILLIC, "cp1251", "ru")]:
        src = tmp_path / f"{name}.csv"
        src.write_bytes(text.encode(encoding))
        code, err, _ = load(capsys, src, "utf-8")
        assert code == 4
        assert err.splitlines()[0].endswith(f"; the file reads as {encoding}: try --encoding {encoding}")
        db = str(src.with_suffix(".db"))
        assert main(["load", str(src), db, "--table", "t", "--encoding", encoding, "--restart", "-q"]) == 0
        assert sqlite_rows(db, "SELECT name, city FROM t") == [
            tuple(line.split(",")[1:]) for line in text.splitlines()[1:]
        ]


@pytest.mark.parametrize(
    ("text", "encoding", "hint"),
    [
        (
            "名前,都市\n山田,東京\n",
            "cp932",
            'it reads as cp932: read it with --encoding cp932 (source.encoding = "cp932")',
        ),
        (
            "이름,도시\n서울,부산\n",
            "cp949",
            "it is not UTF-8 but may be gb18030 or cp949: read it with the encoding it was written in (--encoding NAME, source.encoding)",
        ),
        (
            "Łódź,Gdańsk\n1,2\n",
            "cp1250",
            "it is not UTF-8, nor plainly in another encoding: "
            "read it with the encoding it was written in (--encoding NAME, source.encoding)",
        ),
    ],
    ids=["japanese", "korean-or-chinese", "polish"],
)
def test_a_header_not_in_utf8_is_told_its_encoding_only_where_it_is_plain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, encoding: str, hint: str
) -> None:
    """A Shift-JIS or GB18030 header got 'it reads as cp1252: read it with --encoding cp1252'."""
    src = tmp_path / "h.csv"
    src.write_bytes(text.encode(encoding))
    assert load(capsys, src, "utf-8") == (
        65,
        f"loader: error: {src}, line 1: header is not valid text in the declared encoding\n  hint: {hint}\n",
        [],
    )


def test_8_bit_text_of_no_plain_encoding_declared_utf16_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where no encoding tried reads it plainly, it is refused all the same, without naming one."""
    src = tmp_path / "pl.csv"
    src.write_bytes("id,miasto,kraj\n1,Łódź,Polska\n2,Gdańsk,Polska\n3,Warszawa,Polska\n".encode("cp1250"))
    assert load(capsys, src, "utf-16-le") == (
        65,
        f"loader: error: {src}: not utf-16-le text: it is not UTF-8, nor plainly in another encoding\n"
        "  hint: read it with the encoding it was written in (--encoding NAME, source.encoding)\n",
        [],
    )
