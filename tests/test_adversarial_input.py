"""Input built to hurt: rows without newlines (compressed "bombs" among them),
rows around the parse block and the row cap, stray quotes, and inputs and
options that used to fail without naming anything.

Memory is compared as a ratio against a clean file's run in the same test
(peak RSS of each child process), never as an absolute figure; no time is asserted.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader.config import JobConfig, SinkConfig, SourceConfig, job_from_dict, resolve
from loader.errors import ConfigError
from loader.memory import fit_memory
from tests.conftest import sqlite_rows, write_csv
from tests.reliability_util import cli, rejects_of

MiB = 1 << 20


def job_file(tmp_path: Path, source: Path, target: Path, **options: Any) -> Path:
    """A job loading ``source`` into table ``t`` with these ``[source]`` options."""
    lines = ["[source]", f'path = "{source}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    lines += ["[sink]", f'path = "{target}"', 'table = "t"']
    path = tmp_path / f"{target.stem}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_job(job: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``loader run JOB`` and its report (the report's ``peak_rss_mb`` is the child's own peak:
    a real process, not this one's)."""
    report = job.with_suffix(".report.json")
    p = cli("run", str(job), "--report", str(report), process=True)
    return p, json.loads(report.read_text()) if report.exists() else {}


def rejects_in(target: Path) -> list[dict[str, Any]]:
    path = rejects_of(target)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def counts(report: dict[str, Any]) -> tuple[int, int, int]:
    assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] + report["rows_filtered"]
    return report["rows_read"], report["rows_written"], report["rows_rejected"]


# ------------------------------------------------------- item 4: no newline


def write_bomb(path: Path, zeros_mib: int) -> Path:
    """Two good rows around one row of ``zeros_mib`` MiB without a newline."""
    compression = {".gz": "gzip", ".zst": "zstd"}.get(path.suffix)
    with pa.output_stream(str(path), compression=compression) as out:
        out.write(b"id,txt\n1,a\n2,")
        zeros = b"0" * MiB
        for _ in range(zeros_mib):
            out.write(zeros)
        out.write(b"\n3,c\n")
    return path


@pytest.mark.parametrize(("suffix", "zeros_mib"), [(".csv.zst", 128), (".csv.gz", 32), (".csv", 16)])
def test_row_without_newline_is_rejected_in_bounded_memory(tmp_path: Path, suffix: str, zeros_mib: int) -> None:
    """A row that never ends within source.max_row_bytes is read through, not held:
    rejected with its line, the rows after it loaded, and the peak RSS that of a
    clean file's load (the read buffer used to double until the OOM killer came)."""
    bomb = write_bomb(tmp_path / f"bomb{suffix}", zeros_mib)
    clean = write_csv(tmp_path / f"clean{suffix.replace('.csv', '') or ''}.csv", ["id", "txt"], [[1, "a"], [3, "c"]])
    p, report = run_job(job_file(tmp_path, bomb, tmp_path / "bomb.db", max_row_bytes="1MiB", block_size=65536))
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "bomb.db", "SELECT id, txt FROM t ORDER BY id") == [(1, "a"), (3, "c")]
    assert counts(report) == (3, 2, 1)
    [reject] = rejects_in(tmp_path / "bomb.db")
    assert (reject["row"], reject["line"], reject["reason"]) == (
        2,
        3,
        "row longer than 1048576 bytes (source.max_row_bytes)",
    )
    assert reject["raw"].startswith("2,000") and len(reject["raw"]) == 1024  # its start only
    p, baseline = run_job(job_file(tmp_path, clean, tmp_path / "clean.db", max_row_bytes="1MiB", block_size=65536))
    assert p.returncode == 0, p.stderr
    assert report["peak_rss_mb"] < baseline["peak_rss_mb"] * 1.25, (report["peak_rss_mb"], baseline["peak_rss_mb"])


def test_header_past_the_cap_is_a_one_line_error(tmp_path: Path) -> None:
    src = tmp_path / "h.csv.gz"
    with pa.output_stream(str(src), compression="gzip") as out:
        out.write(b"id," + b"0" * (3 * MiB))
    p, _ = run_job(job_file(tmp_path, src, tmp_path / "h.db", max_row_bytes="1MiB"))
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}: the header is longer than 1048576 bytes (source.max_row_bytes) without ending\n"
        "  hint: check source.delimiter, source.quote_char and source.skip_rows, or raise source.max_row_bytes\n"
    )


def test_long_multiline_values_load_whole_under_the_lowest_ceiling(tmp_path: Path) -> None:
    """The lowest ceiling used to lower the row cap to 64 KiB: each long value was rejected
    and its later lines read as rows, some stored as rows whose text was cut short."""
    src = tmp_path / "long.csv"
    bodies = [('lorem ipsum, ""dolor"" sit amet\n' * 8000)[: 200_000 + i] for i in range(3)]
    src.write_text("id,body\n" + "".join(f'{i},"{b}"\n' for i, b in enumerate(bodies)))
    job = job_file(tmp_path, src, tmp_path / "low.db")
    # a real process: under a ceiling a load shrinks its batches by its own resident memory
    p = cli("run", str(job), "--max-memory", "86MB", "--report", str(tmp_path / "low.json"), process=True)
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "low.json").read_text())
    assert counts(report) == (3, 3, 0)
    assert report["sizes"]["max_row_bytes"] == 64 << 20  # the default, not lowered
    expected = [(i, b.replace('""', '"')) for i, b in enumerate(bodies)]
    assert sqlite_rows(tmp_path / "low.db", "SELECT id, body FROM t ORDER BY id") == expected


def test_row_cap_is_never_lowered_by_max_memory() -> None:
    """A ceiling shares out the block and batches, never the row cap: a quoted value past a
    cap the user did not choose would be rejected and its later lines read as rows."""
    job = job_from_dict(
        {
            "source": {"path": "a.csv", "max_row_bytes": "32MiB"},
            "sink": {"path": "a.db"},
            "run": {"max_memory": "92MB"},  # near the lowest (86 MB): the block shrinks
        }
    )
    assert job.source.max_row_bytes == 32 * MiB
    fitted = fit_memory(job)
    assert fitted.source.max_row_bytes == 32 * MiB
    assert fitted.source.block_size < job.source.block_size  # type: ignore[operator]
    with pytest.raises(ConfigError, match=r"^source\.max_row_bytes: expected at least 1024 bytes$"):
        resolve(JobConfig(source=SourceConfig(path=["a.csv"], max_row_bytes=10), sink=SinkConfig(path="a.db")))


def test_a_ceiling_counts_the_chunk_read_ahead_of_an_encoder_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """LevelDB's encoder has a thread of its own (``Sink.encoder_thread``): one more chunk
    is in flight, so under a ceiling its chunks are smaller than they would be without."""
    from loader import sinks

    def chunk() -> int:
        job = job_from_dict(
            {"source": {"path": "a.csv"}, "sink": {"path": "a.ldb", "key": "{id}"}, "run": {"max_memory": "140MB"}}
        )
        return fit_memory(job).run.chunk_size

    with_thread = chunk()
    monkeypatch.setattr(type(sinks.get("leveldb")), "encoder_thread", False)
    without = chunk()
    assert 1024 < with_thread < without < 8192  # read_ahead 2: 5 chunks in flight against 4
    assert abs(with_thread / without - 4 / 5) < 0.01


# -------------------------------------------------------- item 5: long rows


def test_rows_around_the_block_size_and_the_cap(tmp_path: Path) -> None:
    """Rows up to the cap load whatever their size, a row bigger than pyarrow's parse
    block among them (it used to stop the file: 'straddling object'); a row past the
    cap is rejected with its line, and the rows after it load."""
    block, cap = 64 << 10, 4 * MiB
    sizes = [block - 10, block + 10, 3 * block, 3 * MiB, cap - 100]
    rows: list[list[Any]] = [[i, "y" * n] for i, n in enumerate(sizes)]
    rows.insert(3, [100, "z" * (cap + 10)])  # past the cap, with newlines after it
    rows.insert(2, [200, 'multi\n"line"\n' + "q" * (3 * MiB)])  # quoted, over pyarrow's block
    rows += [[i, "tail"] for i in range(10, 15)]
    src = write_csv(tmp_path / "long.csv", ["id", "txt"], rows)
    p, report = run_job(job_file(tmp_path, src, tmp_path / "long.db", max_row_bytes=cap, block_size=block))
    assert p.returncode == 0, p.stderr
    got = sqlite_rows(tmp_path / "long.db", "SELECT id, length(txt) FROM t ORDER BY id")
    assert got == [(i, n) for i, n in enumerate(sizes)] + [(i, 4) for i in range(10, 15)] + [(200, 13 + 3 * MiB)]
    assert counts(report) == (12, 11, 1)
    [reject] = rejects_in(tmp_path / "long.db")
    assert (reject["row"], reject["line"], reject["reason"]) == (
        5,
        8,
        f"row longer than {cap} bytes (source.max_row_bytes)",
    )


@pytest.mark.parametrize("block", [1024, 64 << 10])
def test_rows_at_the_cap_load_and_one_byte_more_is_rejected(tmp_path: Path, block: int) -> None:
    cap = 8192
    line = [[1, "x" * (cap - 3)], [2, "x" * (cap - 2)], [3, "ok"]]  # "1," + value + "\n": cap, then cap + 1 bytes
    src = write_csv(tmp_path / "edge.csv", ["id", "v"], line)
    p, report = run_job(job_file(tmp_path, src, tmp_path / "edge.db", max_row_bytes=cap, block_size=block))
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "edge.db", "SELECT id FROM t ORDER BY id") == [(1,), (3,)]
    assert [(r["row"], r["line"]) for r in rejects_in(tmp_path / "edge.db")] == [(2, 3)]
    assert counts(report) == (3, 2, 1)


def stray_quote_file(path: Path, n: int, unterminated: list[int], literal: list[int]) -> Path:
    """Rows ``i,row i``; some open a quoted field never closed, some hold a quote as text."""
    with path.open("w") as fh:
        fh.write("id,txt\n")
        for i in range(n):
            fh.write(
                f'{i},"never closed\n' if i in unterminated else f'{i},12" pipe\n' if i in literal else f"{i},row {i}\n"
            )
    return path


@pytest.mark.parametrize(("cap", "unterminated"), [(64 << 10, [10, 59_999]), (64 * MiB, [10])])
def test_stray_quote_mid_file_rejects_its_line_and_the_rest_loads(
    tmp_path: Path, cap: int, unterminated: list[int]
) -> None:
    """A quoted field never closed, far from the end of the file (it used to stop the
    file, or swallow rows into one reject): not closed within the cap or by the end of
    the file, it rejects the line it opens in, and reading resumes at the next line.
    A quote inside an unquoted field is text, as the parser reads it."""
    n = 60_000
    literal = [30_000] if cap < MiB else []  # a quote within the cap of an open one closes it: one long value
    src = stray_quote_file(tmp_path / "stray.csv", n, unterminated, literal)
    assert src.stat().st_size > 8 * (64 << 10)
    p, report = run_job(job_file(tmp_path, src, tmp_path / "stray.db", max_row_bytes=cap, block_size=64 << 10))
    assert p.returncode == 0, p.stderr
    k = len(unterminated)
    assert counts(report) == (n, n - k, k)
    loaded = sqlite_rows(tmp_path / "stray.db", "SELECT count(*), sum(id) FROM t")
    assert loaded == [(n - k, n * (n - 1) // 2 - sum(unterminated))]
    assert sqlite_rows(tmp_path / "stray.db", "SELECT id FROM t WHERE txt = '12\" pipe' ORDER BY id") == [
        (i,) for i in literal
    ]
    rejects = rejects_in(tmp_path / "stray.db")
    assert [(r["row"], r["line"], r["raw"]) for r in rejects] == [
        (i + 1, i + 2, f'{i},"never closed') for i in unterminated
    ]
    within = f"unterminated quoted field: a quote opened in this line is not closed within {cap} bytes (source.max_row_bytes)"
    never = "unterminated quoted field: a quote opened in this line is never closed"
    assert [r["reason"] for r in rejects] == ([within, never] if k == 2 else [never])


def test_stray_quote_load_resumes_exactly(tmp_path: Path) -> None:
    """Rejected lines count as read: a rerun over a finished load reads nothing again."""
    src = stray_quote_file(tmp_path / "s.csv", 5000, [7, 4999], [])
    job = job_file(tmp_path, src, tmp_path / "s.db", max_row_bytes=4096, block_size=1024)
    p, report = run_job(job)
    assert (p.returncode, counts(report)) == (0, (5000, 4998, 2))
    p, report = run_job(job)
    assert p.returncode == 0, p.stderr
    assert report["rows_read"] == 0
    assert sqlite_rows(tmp_path / "s.db", "SELECT count(*) FROM t") == [(4998,)]
    assert len(rejects_in(tmp_path / "s.db")) == 2


def test_dropped_rows_cut_and_resume_alike_however_reads_fall(tmp_path: Path) -> None:
    """Blocks around dropped rows (too long, unterminated) and literal quotes depend only
    on the bytes from their start: resuming from any chunk's checkpoint reads exactly
    the rest, with the same rejects, and a stream read 7 bytes at a time cuts the same."""
    from tests.readers.test_csv import _Trickle, read_all, rows_of

    rows = [f"{i},row {i}" for i in range(600)]
    rows[50] = '50,"never closed'
    rows[120] = "120," + "z" * 9000  # past the cap
    rows[200] = '200,12" pipe'
    rows[599] = '599,"open at the end'
    src = tmp_path / "d.csv"
    src.write_text("id,txt\n" + "\n".join(rows) + "\n")
    # the quote given: sniffed, the file quotes no value and its ``12" pipe`` closes row 50's
    # quote with text after it, so it reads unquoted (as bcp writes such a file)
    opts: dict[str, Any] = {"block_size": 1024, "max_row_bytes": 4096, "quote_char": '"'}
    reader, full = read_all(src, chunk_size=40, **opts)
    ids = [x["id"] for c in full for x in c.batch.to_pylist()]
    assert ids == [i for i in range(600) if i not in (50, 120, 599)]
    rejects = [(r.row, r.line, r.reason[:30]) for c in full for r in c.rejects]
    assert rejects == [
        (51, 52, "unterminated quoted field: a q"),
        (121, 122, "row longer than 4096 bytes (so"),
        (600, 601, "unterminated quoted field: a q"),
    ]
    for i, chunk in enumerate(full):
        _, rest = read_all(src, chunk_size=40, resume=chunk.end, **opts)
        assert [x["id"] for x in rows_of(rest)] == [x["id"] for c in full[i + 1 :] for x in c.batch.to_pylist()]
        assert [r.row for c in rest for r in c.rejects] == [r.row for c in full[i + 1 :] for r in c.rejects]
        assert sum(c.rows_read for c in full[: i + 1]) + sum(c.rows_read for c in rest) == 600
    data = src.read_bytes()
    with src.open("rb") as fh:
        fh.seek(reader.data_offset)
        whole = list(reader._cut(fh, b"", reader.data_offset))
    trickled = list(reader._cut(_Trickle(data[reader.data_offset :]), b"", reader.data_offset))
    assert [(bytes(b), o, d) for b, o, d in trickled] == [(bytes(b), o, d) for b, o, d in whole]


# ------------------------------------------------ item 9: errors with a name


def test_a_utf16_file_read_as_utf8_stops_at_its_header_with_the_encoding_to_use(tmp_path: Path) -> None:
    src = tmp_path / "u.csv"
    src.write_bytes("id,v\n1,2\n".encode("utf-16-le"))
    p = cli("load", str(src), str(tmp_path / "u.db"))
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}, line 1, column 'i\\x00d\\x00': the header's column name holds a NUL byte\n"
        '  hint: it looks like UTF-16: read it with --encoding utf-16-le (source.encoding = "utf-16-le")\n'
    )


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    import gzip

    src = tmp_path / "t.csv.gz"
    src.write_bytes(gzip.compress(b"id\n" + b"".join(b"%d\n" % i for i in range(100_000)))[:5000])
    p = cli("load", str(src), str(tmp_path / "t.db"))
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}: compressed data is truncated or corrupt (Truncated compressed stream)\n"
        "  hint: the file is incomplete or damaged: copy or download it again\n"
    )


def test_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    p = cli("load", str(src), str(tmp_path / "a.db"), "--encoding", "nosuch")
    assert p.returncode == 2
    assert p.stderr == (
        "loader: error: source.encoding: 'nosuch' is not a text encoding Python knows\n  hint: e.g. utf-8, cp1252, latin-1, utf-16\n"
    )


def test_utf16_without_a_bom_names_the_file_and_the_fix(tmp_path: Path) -> None:
    src = tmp_path / "u.csv"
    src.write_bytes("id,name\n1,a\n".encode("utf-16-le"))
    p = cli("load", str(src), str(tmp_path / "u.db"), "--encoding", "utf-16")
    assert p.returncode == 65
    assert p.stderr == (
        f"loader: error: {src}: cannot read as utf-16: UTF-16 stream does not start with BOM\n"
        "  hint: for UTF-16 or UTF-32 without a byte order mark, name the byte order: utf-16-le, utf-16-be\n"
    )
    p = cli("load", str(src), str(tmp_path / "u.db"), "--encoding", "utf-16-le")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(tmp_path / "u.db", "SELECT id, name FROM u") == [(1, "a")]


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    job = tmp_path / "deep.toml"
    job.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    p = cli("run", str(job))
    assert p.returncode == 2
    assert p.stderr == (
        f"loader: error: {job}: not valid TOML: nested too deeply\n"
        "  hint: check the job file or flags; `loader run --help` lists them\n"
    )


def test_directory_as_sqlite_target_is_a_config_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    target = tmp_path / "out.db"
    target.mkdir()
    p = cli("load", str(src), str(target))
    assert p.returncode == 2
    assert p.stderr == (
        f"loader: error: sink.path: {target} is a directory, not a SQLite database file\n  hint: name a file, e.g. dir/out.db\n"
    )


def test_lines_ending_in_a_carriage_return_alone_are_one_line_to_fix(tmp_path: Path) -> None:
    src = tmp_path / "mac.csv"
    src.write_bytes(b"a,b\rx,1\ry,2\r")  # classic Mac OS and old Excel exports
    for command in (["load", str(src), str(tmp_path / "m.db")], ["inspect", str(src)]):
        p = cli(*command)
        assert p.returncode == 65
        assert p.stderr == (
            f"loader: error: {src}, line 1: lines end in a carriage return alone (old Mac style); "
            "loader reads LF or CRLF line ends\n"
            "  hint: convert the line ends first, e.g. tr '\\r' '\\n' < in.csv > out.csv\n"
        )


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    target = tmp_path / "notes.db"
    target.write_text("not a database, the user's own notes\n" * 100)
    p = cli("load", str(src), str(target))
    assert p.returncode == 2
    assert p.stderr == (
        f"loader: error: sink.path: {target} is not a SQLite database (SQLite: file is not a database)\n"
        "  hint: name a new file or an existing SQLite database\n"
    )
    assert target.read_text() == "not a database, the user's own notes\n" * 100


@pytest.mark.parametrize("existing", ["sqlite", "text"])
def test_a_file_as_leveldb_target_is_a_config_error_not_a_lock(tmp_path: Path, existing: str) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    target = tmp_path / "out.db"
    if existing == "sqlite":
        assert cli("load", str(src), str(target)).returncode == 0
    else:
        target.write_text("x\n")
    before = target.read_bytes()
    # LevelDB names the LOCK in its error ("out.db/LOCK: Not a directory"): not a held lock to wait out
    p = cli("load", str(src), str(target), "--sink", "leveldb", "--key", "{id}")
    assert p.returncode == 2
    assert p.stderr == (
        f"loader: error: sink.path: {target} is a file, not a LevelDB directory\n"
        "  hint: name a new directory or an existing LevelDB, e.g. out/data.ldb\n"
    )
    assert target.read_bytes() == before


def test_index_on_an_unknown_column_is_a_config_error(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id", "name"], [[1, "x"]])
    p = cli("load", str(src), str(tmp_path / "a.db"), "--index", "nmae")
    assert p.returncode == 2
    assert (
        p.stderr == f"loader: error: {src}: sink.indexes: no column 'nmae' in the data\n  hint: did you mean 'name'?\n"
    )
    p = cli("load", str(src), str(tmp_path / "a.db"), "--index", "nosuch")
    assert p.returncode == 2
    assert (
        p.stderr
        == f"loader: error: {src}: sink.indexes: no column 'nosuch' in the data\n  hint: columns are: id, name\n"
    )
    assert not (tmp_path / "a.db").exists()


def test_key_format_width_is_capped(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", ["id"], [[1], [2], [3]])
    p = cli("load", str(src), str(tmp_path / "a.ldb"), "--key", "{id:>100000000}")
    assert p.returncode == 2
    assert p.stderr == (
        "loader: error: sink.key: '>100000000' asks for more than 1000 characters (in '{id:>100000000}')\n"
        "  hint: check the flags; `loader load --help` lists them\n"
    )
    p = cli("load", str(src), str(tmp_path / "b.ldb"), "--key", "{id:>1000}")
    assert p.returncode == 0, p.stderr


def test_corrupt_parquet_footer_is_one_line(tmp_path: Path) -> None:
    good = tmp_path / "g.parquet"
    pq.write_table(pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]}), good)
    data = bytearray(good.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    for i in range(len(data) - 8 - footer, len(data) - 8):  # a byte of the footer's thrift that breaks it
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(data[:i] + b"\xff" + data[i + 1 :])
        try:
            pq.ParquetFile(bad)
        except OSError as exc:
            if "\n" in str(exc):
                break
    else:
        pytest.fail("no corrupt footer with a multi-line message")
    p = cli("load", str(bad), str(tmp_path / "x.db"))
    assert p.returncode == 65
    assert p.stderr.startswith(f"loader: error: {bad}: not a readable Parquet file (Couldn't deserialize thrift: ")
    assert (
        p.stderr.endswith(")\n  hint: fix or replace the file, then rerun: the files before it stay loaded\n")
        and p.stderr.count("\n") == 2
    )
