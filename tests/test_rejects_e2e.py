"""Every class of bad input, through the CLI: the bad rows land in the reject file
with file, row, line, column, reason and raw text or values; the good rows load;
rows_read = rows_written + rows_rejected + rows_filtered on every run."""

from __future__ import annotations

import gzip
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from tests.conftest import sqlite_rows
from tests.reliability_util import cli, leveldb_items, reject_lines, rejects_of, sqlite_state, sqlite_table, write_job


def report_of(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert data["rows_read"] == data["rows_written"] + data["rows_rejected"] + data["rows_filtered"]
    for f in data["files"]:
        assert f["rows_read"] == f["rows_written"] + f["rows_rejected"] + f["rows_filtered"]
    return data


# name, file bytes, extra flags, expected rows in the table, expected reject lines (without "file")
CASES: list[tuple[str, bytes, list[str], list[tuple[Any, ...]], list[dict[str, Any]]]] = [
    (
        "field_count",
        b"id,name,score\n1,a,10\n2,b\n3,c,30,extra\n4,d,40\n",
        [],
        [(1, "a", 10), (4, "d", 40)],
        [
            {"row": 2, "line": 3, "stage": "read", "reason": "expected 3 fields, found 2", "raw": "2,b"},
            {"row": 3, "line": 4, "stage": "read", "reason": "expected 3 fields, found 4", "raw": "3,c,30,extra"},
        ],
    ),
    (
        "unterminated_quote",
        b'id,name,score\n1,a,10\n2,b,20\n3,"never closed,30\n4,d,40\n',
        [],
        [(1, "a", 10), (2, "b", 20), (4, "d", 40)],
        [
            {
                "row": 3,
                "line": 4,
                "stage": "read",
                "reason": "unterminated quoted field: a quote opened in this line is never closed",
                "raw": '3,"never closed,30',
            }
        ],
    ),
    (
        "invalid_utf8",
        b"id,name,score\n1,a,10\n2,\xff\xfeb,20\n3,c,30\n",
        [],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "read",
                "column": "name",
                "reason": "invalid UTF-8 in '\\xff\\xfeb'",  # the bytes shown as \\xNN
                "values": {"id": "2", "name": {"base64": "//5i"}, "score": "20"},  # the bytes: b"\\xff\\xfeb"
            }
        ],
    ),
    (
        "invalid_in_declared_encoding",
        b"id,name,score\n1,caf\xe9,10\n2,\x81x,20\n3,c,30\n",
        ["--encoding", "cp1252"],
        [(1, "caf\u00e9", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "read",
                "column": "name",
                "reason": "not valid cp1252 text: '\\x81x'",
                "values": {"id": "2", "name": {"base64": "gXg="}, "score": "20"},  # b"\\x81x"
            }
        ],
    ),
    (
        "field_count_and_invalid_utf8_in_one_row",  # pyarrow cannot report this row; it must not fail the load
        b"id,name,score\n1,a,10\n2,b\xff\n3,c,30\n",
        [],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "read",
                "reason": "expected 3 fields, found 2",
                "raw": {"base64": "Mixi/w=="},
            }
        ],  # b"2,b\\xff"
    ),
    (
        "nul_byte",
        b"id,name,score\n1,a,10\n2,b\x00c,20\n3,c,30\n",
        [],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "read",
                "column": "name",
                "reason": "NUL byte in value",
                "values": {"id": "2", "name": "b\x00c", "score": "20"},
            }
        ],
    ),
    (
        "type_mismatch",
        b"id,name,score\n1,a,10\n2,b,x\n3,c,1.5\n4,d,99999999999999999999\n5,e,50\n",
        ["--columns", "score=int64"],
        [(1, "a", 10), (5, "e", 50)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "read",
                "column": "score",
                "reason": "'x' is not a valid int64",
                "values": {"id": "2", "name": "b", "score": "x"},
            },
            {
                "row": 3,
                "line": 4,
                "stage": "read",
                "column": "score",
                "reason": "'1.5' is not a valid int64",
                "values": {"id": "3", "name": "c", "score": "1.5"},
            },
            {
                "row": 4,
                "line": 5,
                "stage": "read",
                "column": "score",
                "reason": "'99999999999999999999' is not a valid int64",
                "values": {"id": "4", "name": "d", "score": "99999999999999999999"},
            },
        ],
    ),
    (
        "inferred_type_later_mismatch",  # types come from the first rows; a later misfit is rejected, not coerced
        b"id,name,score\n1,a,10\n2,b,20\n3,c,oops\n",
        ["--infer-rows", "2"],
        [(1, "a", 10), (2, "b", 20)],
        [
            {
                "row": 3,
                "line": 4,
                "stage": "read",
                "column": "score",
                "reason": "'oops' is not a valid int64",
                "values": {"id": "3", "name": "c", "score": "oops"},
            },
        ],
    ),
    (
        "beyond_sqlite_integer_range",
        b"id,name,score\n1,a,10\n2,b,18446744073709551615\n",
        ["--columns", "score=uint64"],
        [(1, "a", 10)],
        [
            {
                "row": 2,
                "line": 3,
                "stage": "write",
                "column": "score",
                "reason": "value exceeds SQLite's 64-bit integer range",
                "values": {"id": 2, "name": "b", "score": 18446744073709551615},
            },
        ],
    ),
]


# The same for JSON Lines: the names start with "jsonl" (the file's suffix).
CASES += [
    (
        "jsonl_malformed_line",
        b'{"id": 1, "name": "a", "score": 10}\n{"id": 2, "name": "b", "score": 20\n\n{"id": 3, "name": "c", "score": 30}\n',
        [],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 2,
                "stage": "read",
                "reason": "not valid JSON: expecting ',' delimiter at character 35 of the line",
                "raw": '{"id": 2, "name": "b", "score": 20',
            },
        ],
    ),
    (
        "jsonl_inferred_type_later_mismatch",
        b'{"id": 1, "name": "a", "score": 10}\n{"id": 2, "name": "b", "score": 20}\n{"id": 3, "name": "c", "score": "oops"}\n'
        b'{"id": 4, "name": "d", "score": 1e400}\n',
        ["--infer-rows", "2"],
        [(1, "a", 10), (2, "b", 20)],
        [
            {
                "row": 3,
                "line": 3,
                "stage": "read",
                "column": "score",
                "reason": "'oops' is a string, not a number",
                "raw": '{"id": 3, "name": "c", "score": "oops"}',
            },
            {
                "row": 4,
                "line": 4,
                "stage": "read",
                "column": "score",
                "reason": "'1e400' is not a valid int64",
                "raw": '{"id": 4, "name": "d", "score": 1e400}',
            },
        ],
    ),
    (
        "jsonl_invalid_utf8",
        b'{"id": 1, "name": "a", "score": 10}\n{"id": 2, "name": "b\xff", "score": 20}\n{"id": 3, "name": "c", "score": 30}\n',
        [],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 2,
                "stage": "read",
                "column": "name",
                "reason": "not valid UTF-8: 'utf-8' codec can't decode byte 0xff in position 20: invalid start byte",
                "raw": {"base64": "eyJpZCI6IDIsICJuYW1lIjogImL/IiwgInNjb3JlIjogMjB9"},  # not UTF-8: the line's bytes
            },
        ],
    ),
    (
        "jsonl_declared_type",
        b'{"id": 1, "name": "a", "score": "10"}\n{"id": 2, "name": "b", "score": "x"}\n{"id": 3, "name": "c", "score": 30}\n',
        ["--columns", "score=int64"],
        [(1, "a", 10), (3, "c", 30)],
        [
            {
                "row": 2,
                "line": 2,
                "stage": "read",
                "column": "score",
                "reason": "'x' is not a valid int64",
                "raw": '{"id": 2, "name": "b", "score": "x"}',
            },
        ],
    ),
]


# The JSON Lines cases again, gzipped: "jsonlgz" names are written as .jsonl.gz.
CASES += [("jsonlgz" + c[0][len("jsonl") :], *c[1:]) for c in CASES if c[0].startswith("jsonl_")]


def arrow_bytes(table: pa.Table, kind: str) -> bytes:
    """``table`` as an Arrow IPC file or stream, in batches of two rows."""
    sink = pa.BufferOutputStream()
    with (ipc.new_file if kind == "file" else ipc.new_stream)(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=2):
            w.write_batch(batch)
    return bytes(sink.getvalue())


# Arrow IPC (file and stream): a declared type a value does not fit, and a uint64 SQLite cannot hold.
ARROW_TABLE = pa.table(
    {
        "id": [1, 2, 3, 4, 5],
        "score": ["10", "x", "30", "4.5", "50"],
        "big": pa.array([1, 2, 3, 4, 2**64 - 1], pa.uint64()),
    }
)
CASES += [
    (
        f"arrow_{kind}",
        arrow_bytes(ARROW_TABLE, kind),
        ["--columns", "score=int64"],
        [(1, 10, 1), (3, 30, 3)],
        [
            {
                "row": 2,
                "reason": "'x' is not a valid int64",
                "stage": "read",
                "column": "score",
                "values": {"id": 2, "score": "x", "big": 2},
            },
            {
                "row": 4,
                "reason": "'4.5' is not a valid int64",
                "stage": "read",
                "column": "score",
                "values": {"id": 4, "score": "4.5", "big": 4},
            },
            {
                "row": 5,
                "reason": "value exceeds SQLite's 64-bit integer range",
                "stage": "write",
                "column": "big",
                "values": {"id": 5, "score": 50, "big": 2**64 - 1},
            },
        ],
    )
    for kind in ("file", "stream")
]


SUFFIXES = [("jsonlgz", ".jsonl.gz"), ("jsonl", ".jsonl"), ("arrow", ".arrow")]


def suffix_of(name: str) -> str:
    """A case's file suffix, from its name."""
    return next((s for p, s in SUFFIXES if name.startswith(p)), ".csv")


@pytest.mark.parametrize("name, data, flags, rows, rejects", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_with_reason_and_good_rows_load(
    tmp_path: Path, name: str, data: bytes, flags: list[str], rows: list[tuple[Any, ...]], rejects: list[dict[str, Any]]
) -> None:
    src = tmp_path / f"{name}{suffix_of(name)}"
    src.write_bytes(gzip.compress(data) if src.suffix == ".gz" else data)
    db = tmp_path / "t.db"
    p = cli("load", str(src), str(db), "--table", "t", "--report", str(tmp_path / "r.json"), *flags)
    assert p.returncode == 0, p.stderr
    warning = f"WARNING {len(rejects)} rows rejected, see {rejects_of(db)}"
    # rows of bytes that are not UTF-8: which of them, and the encoding those bytes read as
    not_utf8 = sum(r["reason"].startswith("invalid UTF-8 in") for r in rejects)
    warning += f": {not_utf8} of them is not UTF-8 but read as cp1252: " if not_utf8 else ""
    assert warning in p.stderr.splitlines()[-1]
    assert sqlite_table(db) == rows
    assert reject_lines(rejects_of(db)) == [
        {"job": "table:t", "target": os.path.realpath(db), "v": 2, "file": str(src), **r} for r in rejects
    ]
    report = report_of(tmp_path / "r.json")
    assert (report["rows_written"], report["rows_rejected"]) == (len(rows), len(rejects))


def test_null_key_is_rejected_by_leveldb(tmp_path: Path) -> None:
    src = tmp_path / "k.csv"
    src.write_text("id,name\n1,a\n,b\n3,c\n")
    target = tmp_path / "k.ldb"
    p = cli("load", str(src), str(target), "--key", "{id}", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    data, _ = leveldb_items(target)
    assert [k for k, _ in data] == [b"00000000000000000001", b"00000000000000000003"]
    assert reject_lines(rejects_of(target, "key:{id}")) == [
        {
            "job": "key:{id}",
            "target": os.path.realpath(target),
            "v": 2,
            "file": str(src),
            "row": 2,
            "line": 3,
            "stage": "write",
            "column": "id",
            "reason": "key column 'id' is null",
            "values": {"id": None, "name": "b"},
        }
    ]
    assert report_of(tmp_path / "r.json")["rows_rejected"] == 1


def test_a_reject_from_a_file_named_in_bytes_that_are_not_utf8_is_written_and_replayed(tmp_path: Path) -> None:
    """A file named in Latin-1 bytes (``caf\\xe9.csv``): its reject line failed to encode (exit 1
    on either target). The name's byte is written as its JSON escape, a line of valid UTF-8
    whose ``file`` reads back as the name, and its fixed row replays from it."""
    from loader.rejects import utf8_line

    assert utf8_line('{"file": "caf\udce9.csv", "é": 1}\n') == b'{"file": "caf\\udce9.csv", "\xc3\xa9": 1}\n'
    latin = os.path.join(os.fsencode(tmp_path), b"caf\xe9.csv")
    with open(latin, "wb") as fh:
        fh.write(b"id,v\n1,2\n2,x\n")
    target = tmp_path / "k.ldb"
    p = cli("load", os.fsdecode(latin), str(target), "--key", "{id}", "--columns", "v=int")
    assert p.returncode == 0, p.stderr
    rejects = rejects_of(target, "key:{id}")
    (line,) = rejects.read_bytes().decode("utf-8").splitlines()
    assert json.loads(line)["file"] == os.fsdecode(latin)
    rejects.write_text(line.replace('"x"', '"7"') + "\n")
    job = tmp_path / "job.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path}/*.csv"\ncolumns = {{ v = "int" }}\n[sink]\ntype = "leveldb"\npath = "{target}"\nkey = "{{id}}"\n'
    )
    p = cli("replay", str(rejects), "--job", str(job))
    assert p.returncode == 0, p.stderr
    assert [k for k, _ in leveldb_items(target)[0]] == [b"00000000000000000001", b"00000000000000000002"]


def test_reject_path_flag_job_file_and_default(tmp_path: Path, data_dir: Path) -> None:
    bad = data_dir / "bad.csv"
    p = cli(
        "load", str(bad), str(tmp_path / "a.db"), "--infer-rows", "3", "--rejects", str(tmp_path / "sub" / "flag.jsonl")
    )
    assert p.returncode == 0, p.stderr
    assert len(reject_lines(tmp_path / "sub" / "flag.jsonl")) == 3
    assert not rejects_of(tmp_path / "a.db", "table:bad").exists()
    job = write_job(
        tmp_path / "j.toml",
        source={"path": str(bad), "infer_rows": 3},
        sink={"path": str(tmp_path / "b.db")},
        run={"rejects": str(tmp_path / "job.jsonl")},
    )
    assert cli("run", str(job)).returncode == 0
    assert len(reject_lines(tmp_path / "job.jsonl")) == 3
    assert cli("load", str(bad), str(tmp_path / "c.db"), "--infer-rows", "3").returncode == 0
    assert len(reject_lines(rejects_of(tmp_path / "c.db", "table:bad"))) == 3
    # a clean load leaves no empty reject file behind
    assert cli("load", str(data_dir / "small.csv"), str(tmp_path / "d.db")).returncode == 0
    assert not rejects_of(tmp_path / "d.db", "table:small").exists()


def many_rows(path: Path, n: int, bad_every: int) -> Path:
    lines = ["id,score"] + [f"{i},{'x' if i % bad_every == 0 else i}" for i in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_max_rejects_fraction_stops_with_exit_3_and_resumes_without_doubles(tmp_path: Path) -> None:
    src = many_rows(tmp_path / "f.csv", 3000, bad_every=10)  # 10% bad
    db = tmp_path / "f.db"
    rejects = rejects_of(db)
    args = [
        "load",
        str(src),
        str(db),
        "--table",
        "t",
        "--columns",
        "score=int64",
        "--batch-size",
        "200",
        "--chunk-size",
        "100",
    ]
    p = cli(*args, "--max-rejects", "0.05", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 3
    # the fraction is judged once 1000 rows were read (chunks hold 100 good rows: 1111 read)
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {src}: 111 of 1,111 rows rejected (10.0%), more than max_rejects = 0.05",
        "  hint: committed rows are kept; read the reject file, then rerun with a higher --max-rejects to resume, or fix the input and rerun with --restart",
    ]
    report = report_of(tmp_path / "r.json")
    assert report["status"] == "rejects_exceeded" and report["exit_code"] == 3
    state = sqlite_state(db)
    # the stop commits what was read
    assert state["job"]["status"] == "running"
    assert (report["rows_read"], report["rows_rejected"]) == (1111, 111)
    assert len(sqlite_table(db)) == report["rows_written"] == 1000
    assert rejects.stat().st_size == state["job"]["rejects_bytes"]
    # a line of an uncommitted batch (a crash between writing rejects and the commit) is dropped on resume
    with open(rejects, "ab") as fh:
        fh.write(b'{"job": "table:t", "uncommitted": true}\n')
    p = cli(*args, "--max-rejects", "0.2")
    assert p.returncode == 0, p.stderr
    assert [r[0] for r in sqlite_table(db)] == [i for i in range(1, 3001) if i % 10]
    assert [r["row"] for r in reject_lines(rejects)] == list(range(10, 3001, 10))


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_max_rejects_fraction_holds_a_short_run_at_its_end(tmp_path: Path, engine: str) -> None:
    # 30 of 300 rows bad: fewer than the 1,000 a fraction waits for mid-run
    src = many_rows(tmp_path / "f.csv", 300, bad_every=10)
    db = tmp_path / "f.db"
    args = ["load", str(src), str(db), "--table", "t", "--columns", "score=int64", "--engine", engine]
    p = cli(*args, "--max-rejects", "0.05", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 3, p.stderr
    assert p.stderr.splitlines()[-2:] == [
        f"loader: error: {src}: 30 of 300 rows rejected (10.0%), more than max_rejects = 0.05",
        "  hint: the run read every row first: the good ones are committed and the rejected ones are in"
        " the reject file; fix them there and load them with `loader replay`, or fix the input and rerun"
        ' with --restart (with mode = "replace", the table is not swapped in until then)',
    ]
    report = report_of(tmp_path / "r.json")
    assert (report["status"], report["rows_written"], report["rows_rejected"]) == ("rejects_exceeded", 270, 30)
    assert [r[0] for r in sqlite_table(db)] == [i for i in range(1, 301) if i % 10]
    assert [r["row"] for r in reject_lines(rejects_of(db))] == list(range(10, 301, 10))
    # the file is loaded: a rerun has nothing to do
    p = cli(*args, "--max-rejects", "0.05")
    assert p.returncode == 0, p.stderr
    assert len(sqlite_table(db)) == 270
    # within the fraction, a short run succeeds
    p = cli(*args, "--max-rejects", "0.1", "--restart", "--mode", "replace")
    assert p.returncode == 0, p.stderr


def test_max_rejects_fraction_of_a_short_replace_keeps_the_old_table(tmp_path: Path) -> None:
    """hunt24a 5: a short run past its fraction was judged after its last commit, so a replace
    had swapped the new table in already: the old one was gone though the run failed."""
    db = tmp_path / "f.db"
    good = many_rows(tmp_path / "good.csv", 50, bad_every=1000)
    args = ["--table", "t", "--columns", "score=int64", "--mode", "replace", "--max-rejects", "0.05"]
    assert cli("load", str(good), str(db), *args).returncode == 0
    bad = many_rows(tmp_path / "bad.csv", 300, bad_every=10)
    p = cli("load", str(bad), str(db), *args)
    assert p.returncode == 3, p.stderr
    assert [r[0] for r in sqlite_table(db)] == list(range(1, 51))  # the old table, whole


def test_max_rejects_fraction_does_not_judge_a_resumed_runs_tail_alone(tmp_path: Path) -> None:
    """hunt24a 6: a resumed run of fewer than 1,000 rows was held to the fraction on its own
    rows, the tail of the job's: 2 rejects in 1,200 rows exited 3 after a stop and a rerun."""
    lines = ["id,score"] + [f"{i},{'x' if i in (1100, 1150, 1160) else i}" for i in range(1, 1201)]
    src = tmp_path / "f.csv"
    src.write_text("\n".join(lines) + "\n")
    db = tmp_path / "f.db"
    args = ["load", str(src), str(db), "--table", "t", "--columns", "score=int64", "--chunk-size", "100"]
    assert cli(*args, "--batch-size", "100", "--max-rejects", "0").returncode == 3  # stops at row 1100
    p = cli(*args, "--max-rejects", "0.01")  # the tail: 2 of its 100 rows rejected
    assert p.returncode == 0, p.stderr
    assert len(sqlite_table(db)) == 1197


def test_max_rejects_fraction_under_the_limit_succeeds(tmp_path: Path) -> None:
    src = many_rows(tmp_path / "g.csv", 2000, bad_every=50)  # 2% bad
    p = cli(
        "load",
        str(src),
        str(tmp_path / "g.db"),
        "--columns",
        "score=int64",
        "--max-rejects",
        "0.05",
        "--report",
        str(tmp_path / "r.json"),
    )
    assert p.returncode == 0, p.stderr
    assert report_of(tmp_path / "r.json")["rows_rejected"] == 40


def test_max_rejects_count_stops_and_strict_zero(tmp_path: Path) -> None:
    src = many_rows(tmp_path / "c.csv", 500, bad_every=100)
    db = tmp_path / "c.db"
    p = cli("load", str(src), str(db), "--columns", "score=int64", "--max-rejects", "3", "--batch-size", "50")
    assert p.returncode == 3
    assert "loader: error: " + str(src) + ": 4 rows rejected, more than max_rejects = 3" in p.stderr
    committed = len(sqlite_table(db, "c"))
    assert 396 <= committed < 500  # everything read up to the fourth bad row, committed
    assert sqlite_state(db)["job"]["status"] == "running"
    # strict, resuming: stops at the next bad row (row 500), committing the good rows before it
    p = cli("load", str(src), str(db), "--columns", "score=int64", "--max-rejects", "0")
    assert p.returncode == 3
    assert "loader: error: " + str(src) + ": 1 rows rejected, more than max_rejects = 0" in p.stderr
    assert len(sqlite_table(db, "c")) == 495
    p = cli("load", str(src), str(db), "--columns", "score=int64")
    assert p.returncode == 0, p.stderr
    assert [r[0] for r in sqlite_table(db, "c")] == [i for i in range(1, 501) if i % 100]
    assert [r["row"] for r in reject_lines(rejects_of(db, "table:c"))] == [100, 200, 300, 400, 500]


def test_header_only_loads_zero_rows_and_creates_the_table(tmp_path: Path, data_dir: Path) -> None:
    db = tmp_path / "h.db"
    p = cli("load", str(data_dir / "header_only.csv"), str(db), "--table", "t", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(f"ok: 0 rows written to {db} (table t) from 1 file in ")
    assert sqlite_table(db, order="a") == []
    assert sqlite_rows(db, "SELECT name FROM pragma_table_info('t')") == [("a",), ("b",)]
    assert report_of(tmp_path / "r.json")["rows_read"] == 0


# ----------------------------------------------------------- unreadable files

FIX = "  hint: fix or replace the file, then rerun: the files before it stay loaded\n"  # an input to fix: exit 65


def _unreadable_cases(tmp_path: Path) -> list[tuple[str, Path, str]]:
    import pyarrow as pa
    import pyarrow.feather
    import pyarrow.parquet as pq

    directory = tmp_path / "dir.csv"
    directory.mkdir()
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_bytes(b"")
    empty_pq = tmp_path / "empty.parquet"
    empty_pq.write_bytes(b"")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), good)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    not_parquet = tmp_path / "text.parquet"
    not_parquet.write_bytes(b"id,name\n1,a\n")
    empty_jsonl = tmp_path / "empty.jsonl"
    empty_jsonl.write_bytes(b"")
    feather = tmp_path / "good.feather"
    pa.feather.write_feather(pa.table({"a": list(range(1000))}), str(feather), compression="uncompressed")
    truncated_arrow = tmp_path / "truncated.arrow"
    truncated_arrow.write_bytes(feather.read_bytes()[: feather.stat().st_size // 2])
    no_magic = "Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file."
    return [
        (
            "directory",
            directory,
            f"loader: error: {directory}: is a directory, not a file\n"
            "  hint: use a glob such as dir/*.csv, or dir/**/*.csv for the files in its folders too\n",
        ),
        ("empty_csv", empty_csv, f"loader: error: {empty_csv}: file is empty (no header, no rows)\n{FIX}"),
        ("empty_parquet", empty_pq, f"loader: error: {empty_pq}: file is empty\n{FIX}"),
        (
            "truncated_parquet",
            truncated,
            f"loader: error: {truncated}: not a readable Parquet file ({no_magic})\n{FIX}",
        ),
        ("not_parquet", not_parquet, f"loader: error: {not_parquet}: not a readable Parquet file ({no_magic})\n{FIX}"),
        ("empty_jsonl", empty_jsonl, f"loader: error: {empty_jsonl}: file is empty\n{FIX}"),
        (
            "truncated_arrow",
            truncated_arrow,
            f"loader: error: {truncated_arrow}: not a readable Arrow IPC file (Not an Arrow file)\n"
            "  hint: the file is incomplete or damaged, or not Arrow IPC\n",
        ),
    ]


@pytest.mark.parametrize(
    "case",
    ["directory", "empty_csv", "empty_parquet", "truncated_parquet", "not_parquet", "empty_jsonl", "truncated_arrow"],
)
def test_unreadable_input_is_one_clear_line(tmp_path: Path, case: str) -> None:
    ((_, path, stderr),) = [c for c in _unreadable_cases(tmp_path) if c[0] == case]
    db = tmp_path / "out.db"
    p = cli("load", str(path), str(db), "--table", "t")
    assert (p.returncode, p.stdout, p.stderr) == (65, "", stderr)
    p = cli("load", str(path), str(db), "--table", "t", "--debug")
    assert p.returncode == 65 and "Traceback (most recent call last)" in p.stderr and p.stderr.endswith(stderr)


@pytest.mark.parametrize(
    "name,flags,glob",
    [
        ("out.parquet", [], "*.parquet"),
        ("out", ["--format", "parquet"], "*.parquet"),
        ("out.csv", ["--format", "parquet"], "*.parquet"),
        ("out.arrow", [], "*.arrow"),
        ("out.jsonl", ["--engine", "processes"], "*.jsonl"),
        ("out.parquet", ["--dry-run"], "*.parquet"),
    ],
)
def test_a_directory_input_is_hinted_a_glob_of_its_format(
    tmp_path: Path, name: str, flags: list[str], glob: str
) -> None:
    """The hint said dir/*.csv whatever the format (the first check of an input did not know it)."""
    (tmp_path / name).mkdir()
    (tmp_path / name / "part=1").mkdir()  # a Spark output: its files in partition folders
    p = cli("load", str(tmp_path / name), str(tmp_path / "out.db"), "--table", "t", *flags)
    assert (p.returncode, p.stderr) == (
        65,
        f"loader: error: {tmp_path / name}: is a directory, not a file\n"
        f"  hint: use a glob such as dir/{glob}, or dir/**/{glob} for the files in its folders too\n",
    )


PIPE_HINT = "  hint: write it to a file first, or pipe it to standard input: `... | loader load - TARGET ...`\n"


@pytest.mark.parametrize("flags", [[], ["--format", "csv"], ["--engine", "processes"], ["--dry-run"]])
def test_a_fifo_input_is_refused_unopened(tmp_path: Path, flags: list[str]) -> None:
    """A FIFO whose writer had gone hung the run in open(), past SIGTERM: never opened now."""
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    p = cli("load", str(fifo), str(tmp_path / "f.db"), "--table", "t", *flags, timeout=60)
    assert (p.returncode, p.stderr) == (66, f"loader: error: {fifo}: is a pipe (FIFO), not a regular file\n{PIPE_HINT}")
    assert not (tmp_path / "f.db").exists()


@pytest.mark.parametrize("rows,flags", [(2, ["--format", "csv"]), (200_000, ["--format", "csv"]), (2, [])])
def test_process_substitution_is_refused_as_a_pipe(tmp_path: Path, rows: int, flags: list[str]) -> None:
    """``<(cat a.csv)`` was 'file is empty' (its head went to the fingerprint), an internal
    error past 64 KiB (a seek), or without --format 'cannot tell the format'."""
    import shlex
    import subprocess
    import sys

    from tests.reliability_util import ROOT, env

    src = tmp_path / "a.csv"
    src.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(rows)))
    loader = shlex.join([sys.executable, "-m", "loader", "load"])
    command = (
        f"{loader} <(cat {shlex.quote(str(src))}) {shlex.quote(str(tmp_path / 'p.db'))} --table t {shlex.join(flags)}"
    )
    p = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, env=env(), timeout=60)
    assert p.returncode == 66, p.stderr
    assert re.fullmatch(
        r"loader: error: /dev/fd/\d+: is a pipe \(FIFO\), not a regular file\n", p.stderr.splitlines(True)[0]
    )
    assert p.stderr.splitlines(True)[1] == PIPE_HINT


def test_a_directory_named_without_an_extension_is_called_a_directory(tmp_path: Path) -> None:
    """It was 'cannot tell the format' (exit 2), whose answer, --format, met this error next."""
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "a.csv").write_text("id\n1\n")
    p = cli("load", str(exports), str(tmp_path / "d.db"), "--table", "t")
    assert (p.returncode, p.stderr) == (
        65,
        f"loader: error: {exports}: is a directory, not a file\n"
        "  hint: use a glob such as dir/*.csv, or dir/**/*.csv for the files in its folders too\n",
    )


def test_a_directory_of_parquet_parts_is_hinted_a_parquet_glob(tmp_path: Path) -> None:
    """A Spark output folder (parts under partition folders, ``_SUCCESS``, a stale
    ``_temporary``): the hint gave ``dir/*.csv`` without ``--format``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spark = tmp_path / "spark"
    (spark / "country=DE").mkdir(parents=True)
    (spark / "_temporary" / "0").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), spark / "country=DE" / "part-0.parquet")
    (spark / "_temporary" / "0" / "a.csv").write_text("id\n1\n")
    (spark / "_temporary" / "0" / "b.csv").write_text("id\n1\n")
    (spark / "_SUCCESS").write_text("")
    p = cli("load", str(spark), str(tmp_path / "d.db"), "--table", "t")
    assert (p.returncode, p.stderr) == (
        65,
        f"loader: error: {spark}: is a directory, not a file\n"
        "  hint: use a glob such as dir/*.parquet, or dir/**/*.parquet for the files in its folders too\n",
    )


def test_corrupt_parquet_data_mid_file_keeps_committed_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "c.parquet"
    pq.write_table(
        pa.table({"a": list(range(100_000)), "b": [str(i) for i in range(100_000)]}), src, row_group_size=10_000
    )
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = b"\x07" * 5000  # page data, not the footer: found only when read
    src.write_bytes(bytes(data))
    db = tmp_path / "c.db"
    p = cli("load", str(src), str(db), "--table", "t", "--batch-size", "10000", "--chunk-size", "10000")
    assert p.returncode == 65
    summary, error, hint = p.stderr.splitlines()
    committed = len(sqlite_table(db, order="a"))
    assert committed > 0
    assert summary.startswith(f"failed: {committed:,} rows written to {db} (table t) from 1 file half loaded in ")
    assert (
        error
        == f"loader: error: {src}: cannot read Parquet data near row {committed + 1} (Corrupt snappy compressed data.)"
    )
    # the batches before the damage stay: the hint counts them and says what loads a new copy once
    assert hint == FIX.rstrip("\n") + (
        f"; {committed:,} rows of it stay committed, so the rerun finds a new copy changed: to load it once, "
        "delete them and rerun with --set run.on_change=reload (reload alone adds all its rows beside them), "
        "or rerun with --restart --mode replace (every file of the job loads again)"
    )
    assert 0 < committed < 100_000 and committed % 10_000 == 0


def _unprivileged() -> list[str]:
    """The command prefix that runs the loader as nobody where the tests run as root, whom
    chmod does not stop (setpriv); skipped where there is none."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: chmod 000 does not deny root reads")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_unreadable_for_permissions(data_dir: Path) -> None:
    """chmod 000 does not stop root, so as root the loader runs as nobody (setpriv)."""
    import subprocess
    import sys
    import tempfile

    from tests.reliability_util import ROOT, env

    prefix = _unprivileged()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)  # the unprivileged loader writes its target here
        src = Path(tmp) / "secret.csv"
        src.write_bytes((data_dir / "small.csv").read_bytes())
        (Path(tmp) / "a.csv").write_bytes((data_dir / "small.csv").read_bytes())
        src.chmod(0)

        def load(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, sys.executable, "-m", "loader", "load", *args],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env(),
                timeout=120,
            )

        p = load(str(src), str(Path(tmp) / "out.db"))
        # with a file before it: none loads, and the report names the one at fault
        report = Path(tmp) / "r.json"
        both = load(str(Path(tmp) / "*.csv"), str(Path(tmp) / "both.db"), "--table", "t", "--report", str(report))
        data = json.loads(report.read_text())
    hint = (
        "  hint: fix the path or the file's permissions, then rerun: every input is checked before the first "
        "loads, so this run loaded none\n"
    )
    assert (p.returncode, p.stderr) == (66, f"loader: error: {src}: permission denied\n{hint}")
    assert (both.returncode, both.stderr) == (66, f"loader: error: {src}: permission denied\n{hint}")
    assert [(f["path"], f["status"], f["reason"]) for f in data["files"]] == [
        (str(src), "unreadable", "permission denied")
    ]
    assert data["rows_written"] == 0


def test_a_volumes_lost_and_found_is_not_entered_by_a_glob() -> None:
    """``lost+found`` (root's, 0700) sits at the root of every ext4 volume a pod mounts: a
    ``*/*.csv`` or ``**/*.csv`` glob over the volume loads its folders, as it did before globs'
    folders the user cannot list stopped the run, instead of stopping at it (exit 66)."""
    import subprocess
    import sys
    import tempfile

    from tests.reliability_util import ROOT, env

    prefix = _unprivileged()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        (Path(tmp) / "data" / "day1").mkdir(parents=True)
        (Path(tmp) / "data" / "day1" / "a.csv").write_text("id\n1\n")
        for name in ("lost+found", "System Volume Information"):
            (Path(tmp) / "data" / name).mkdir()
            (Path(tmp) / "data" / name / "x.csv").write_text("id\n9\n")
            (Path(tmp) / "data" / name).chmod(0o700)
        for n, pattern in enumerate(("data/*/*.csv", "data/**/*.csv")):
            p = subprocess.run(
                [*prefix, sys.executable, "-m", "loader", "load", f"{tmp}/{pattern}", f"{tmp}/t{n}.db", "--table", "t"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env(),
                timeout=120,
            )
            assert p.returncode == 0, p.stderr
            assert sqlite3.connect(f"{tmp}/t{n}.db").execute("SELECT id FROM t").fetchall() == [(1,)]


def test_a_folder_the_glob_cannot_list_stops_the_run_with_allow_empty_too() -> None:
    """A day folder of mode 0700 owned by another user: ``day*/*.csv`` and ``**/*.csv`` loaded
    the readable days only, and with ``allow_empty`` an inbox the user cannot list was "ok, 0
    files", exit 0 every run. Both are exit 66 naming the folder, and so are a dry run and
    ``validate``; a job file's glob whose directory is missing names it, resolved."""
    import subprocess
    import sys
    import tempfile

    from tests.reliability_util import ROOT, env

    prefix = _unprivileged()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)  # the unprivileged loader writes its target here
        for day in (1, 2):
            (Path(tmp) / "data" / f"day{day}").mkdir(parents=True)
            (Path(tmp) / "data" / f"day{day}" / "a.csv").write_text(f"id\n{day}\n")
        (Path(tmp) / "data" / "day2").chmod(0o700)  # root's: nobody cannot list it
        config = Path(tmp) / "config"
        config.mkdir()

        def run(path: str, *args: str) -> tuple[int, str]:
            job = f'[source]\npath = "{path}"\nallow_empty = true\n[sink]\npath = "{tmp}/t.db"\ntable = "t"\n'
            (config / "job.toml").write_text(job)
            p = subprocess.run(
                [*prefix, sys.executable, "-m", "loader", *args, str(config / "job.toml")],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env(),
                timeout=120,
            )
            return p.returncode, p.stderr

        denied = (
            f"loader: error: cannot list {tmp}/data/day2: permission denied\n"
            "  hint: give the user the loader runs as read and search (x) permission on the directory, then rerun\n"
        )
        for pattern in ("../data/day*/*.csv", "../data/**/*.csv"):
            assert run(pattern, "run") == (66, denied)
        assert run("../data/*/*.csv", "run", "--dry-run") == (66, denied)
        assert run("../data/*/*.csv", "validate") == (66, denied)
        assert run("data/*.csv", "run") == (
            66,
            f"loader: error: directory {config}/data does not exist\n"
            "  hint: check source.path: a relative path in a job file is relative to the job file's directory "
            "(one given by a flag, --set or the environment, to the current directory)\n",
        )
        assert not (Path(tmp) / "t.db").exists()
        (Path(tmp) / "data" / "day2").chmod(0o744)  # listed, not searchable: its files cannot be opened
        assert run("../data/day2/*.csv", "run") == (66, denied)
        assert run("../data/*/*.csv", "run") == (66, denied)
        (Path(tmp) / "data" / "day2").chmod(0o755)
        assert run("../data/**/*.csv", "run")[0] == 0
        assert sqlite_rows(Path(tmp) / "t.db", "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def _temporal_parquet(path: Path) -> None:
    """Three rows of dates and timestamps Python's datetime cannot hold (digits below the
    microsecond, years -32768, 10000, 32768 and 33658), top-level and nested, and nested
    decimals; row 2's uint64 exceeds SQLite's integers, row 3's key is null."""
    from decimal import Decimal

    import pyarrow.parquet as pq

    far_us = [10**12 * 1_000_000, -1_096_225_401_600 * 1_000_000, 971_890_963_200 * 1_000_000 + 1]
    cents = pa.decimal128(5, 2)
    table = pa.table(
        {
            "id": [1, 2, 3],
            "k": [1, 2, None],
            "u": pa.array([1, 2**64 - 1, 3], pa.uint64()),
            "ns": pa.array([1, 2, 3], pa.timestamp("ns")),
            "nsz": pa.array([1, 2, 3], pa.timestamp("ns", "UTC")),
            "ms": pa.array([v // 1000 for v in far_us], pa.timestamp("ms", "UTC")),
            "us": pa.array(far_us, pa.timestamp("us")),
            "day": pa.array([-719_529, 2_932_897, 11_248_738], pa.date32()),
            "span": pa.array(
                [{"at": v, "n": Decimal("0.10")} for v in far_us],
                pa.struct([("at", pa.timestamp("us", "UTC")), ("n", cents)]),
            ),
            "list": pa.array([[v // 1000, 0] for v in far_us], pa.list_(pa.timestamp("ms"))),
            "nslist": pa.array([[1], [2], [3]], pa.list_(pa.timestamp("ns"))),
            "dec": pa.array([[Decimal("0.10")], [Decimal("-1.50"), None], []], pa.list_(cents)),
        }
    )
    pq.write_table(table, path)


_TEMPORAL = [
    {
        "ns": "1970-01-01T00:00:00.000000001",
        "nsz": "1970-01-01T00:00:00.000000001Z",
        "ms": "33658-09-27T01:46:40.000Z",
        "us": "33658-09-27T01:46:40.000000",
        "day": "-0001-12-31",
        "span": '{"at":"33658-09-27T01:46:40.000000Z","n":0.10}',
        "list": '["33658-09-27T01:46:40.000","1970-01-01T00:00:00.000"]',
        "nslist": '["1970-01-01T00:00:00.000000001"]',
        "dec": "[0.10]",
    },
    {
        "ns": "1970-01-01T00:00:00.000000002",
        "nsz": "1970-01-01T00:00:00.000000002Z",
        "ms": "-32768-01-01T00:00:00.000Z",
        "us": "-32768-01-01T00:00:00.000000",
        "day": "10000-01-01",
        "span": '{"at":"-32768-01-01T00:00:00.000000Z","n":0.10}',
        "list": '["-32768-01-01T00:00:00.000","1970-01-01T00:00:00.000"]',
        "nslist": '["1970-01-01T00:00:00.000000002"]',
        "dec": "[-1.50,null]",
    },
    {
        "ns": "1970-01-01T00:00:00.000000003",
        "nsz": "1970-01-01T00:00:00.000000003Z",
        "ms": "32768-01-01T00:00:00.000Z",
        "us": "32768-01-01T00:00:00.000001",
        "day": "32768-01-01",
        "span": '{"at":"32768-01-01T00:00:00.000001Z","n":0.10}',
        "list": '["32768-01-01T00:00:00.000","1970-01-01T00:00:00.000"]',
        "nslist": '["1970-01-01T00:00:00.000000003"]',
        "dec": "[]",
    },
]


def test_parquet_dates_and_timestamps_of_any_year_load_and_reject_exactly(tmp_path: Path) -> None:
    """Through the CLI into SQLite and LevelDB: every date and timestamp as its exact ISO
    text, nested or not, nested decimals as JSON numbers; the row the target cannot hold
    is rejected with its reason and its values (nanoseconds and far years as that text)
    while the others load."""
    src = tmp_path / "far.parquet"
    _temporal_parquet(src)
    names = list(_TEMPORAL[0])
    rejected_values = {
        name: json.loads(text) if text.startswith(("[", "{")) else text for name, text in _TEMPORAL[1].items()
    }
    rejected_values["span"]["n"] = "0.10"  # a Decimal in the reject line is its text
    rejected_values["dec"] = ["-1.50", None]

    db = tmp_path / "far.db"
    p = cli("load", str(src), str(db), "--table", "t")
    assert p.returncode == 0, p.stderr
    got = sqlite_rows(db, f"SELECT id, {', '.join(names)} FROM t ORDER BY id")
    assert got == [(i, *(row[n] for n in names)) for i, row in ((1, _TEMPORAL[0]), (3, _TEMPORAL[2]))]
    [line] = reject_lines(rejects_of(db))
    assert (line["row"], line["stage"], line["column"], line["reason"]) == (
        2,
        "write",
        "u",
        "value exceeds SQLite's 64-bit integer range",
    )
    assert line["values"] == {"id": 2, "k": 2, "u": 2**64 - 1, **rejected_values}

    ldb = tmp_path / "far.ldb"
    p = cli("load", str(src), str(ldb), "--key", "{k}")
    assert p.returncode == 0, p.stderr
    data, _ = leveldb_items(ldb)
    want = []
    for i, row in ((1, _TEMPORAL[0]), (2, _TEMPORAL[1])):
        fields = [f'"id":{i}', f'"k":{i}', f'"u":{[1, 2**64 - 1][i - 1]}']
        fields += [f'"{n}":{row[n] if row[n].startswith(("[", "{")) else json.dumps(row[n])}' for n in names]
        want.append((f"{i:020d}".encode(), ("{" + ",".join(fields) + "}").encode()))
    assert data == want  # byte for byte: 0.10 stays 0.10
    [line] = reject_lines(rejects_of(ldb, "key:{k}"))
    assert (line["row"], line["stage"], line["reason"]) == (3, "write", "key column 'k' is null")
    third = {name: json.loads(text) if text.startswith(("[", "{")) else text for name, text in _TEMPORAL[2].items()}
    third["span"]["n"] = "0.10"
    assert line["values"] == {"id": 3, "k": None, "u": 3, **third}


def test_a_read_reject_in_a_parquet_file_with_nanoseconds_names_them_exactly(tmp_path: Path) -> None:
    """A row rejected as it is read holds its nanosecond values as ISO text, as a write
    reject does: Python's datetime (without pandas) cannot hold them."""
    import pyarrow.parquet as pq

    columns = {
        "ts": pa.array([1704067200123456789], pa.timestamp("ns")),
        "t": pa.array([1], pa.time64("ns")),
        "big": pa.array([9007199254740993]),
    }
    pq.write_table(pa.table(columns), tmp_path / "ns1.parquet")
    pq.write_table(pa.table({"big": [2.5]}), tmp_path / "f2.parquet")  # big unifies to float64
    db = tmp_path / "y.db"
    p = cli("load", str(tmp_path / "ns1.parquet"), str(tmp_path / "f2.parquet"), str(db), "--table", "t", "--alter")
    assert p.returncode == 0, p.stderr
    assert sqlite_rows(db, "SELECT ts, t, big FROM t") == [(None, None, 2.5)]
    [line] = reject_lines(rejects_of(db))
    assert (line["row"], line["stage"], line["column"], line["reason"]) == (
        1,
        "read",
        "big",
        "'9007199254740993' would be stored as 9007199254740992.0 by float64 (declare the column as decimal(p, s) or string)",
    )
    assert line["values"] == {"ts": "2024-01-01T00:00:00.123456789", "t": "00:00:00.000000001", "big": 9007199254740993}


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_rows_the_table_refuses_are_rejected_once_across_a_stop_and_a_resume(tmp_path: Path, engine: str) -> None:
    """Repeated keys under append stopped the load with 65; now their rows go to the reject
    file, written before the batch (or part) that left them out commits: a stop on
    max_rejects and the rerun that resumes write each line once, and every count adds up."""
    src = tmp_path / "k.csv"
    ids = [i if i % 100 else i - 1 for i in range(1, 1001)]  # every 100th row repeats the key before it
    src.write_text("id,v\n" + "".join(f"{i},{n}\n" for n, i in enumerate(ids, 1)))
    db = tmp_path / "k.db"
    args = ["load", str(src), str(db), "--table", "t", "--primary-key", "id", "--batch-size", "200"]
    args += ["--chunk-size", "100", "--engine", engine, "--workers", "1", "--part-size", "2000"]
    p = cli(*args, "--max-rejects", "3", "--report", str(tmp_path / "r.json"))
    assert p.returncode == 3, p.stderr
    stopped = report_of(tmp_path / "r.json")
    assert stopped["rows_rejected"] == 4
    assert rejects_of(db).stat().st_size == sqlite_state(db)["job"]["rejects_bytes"]
    p = cli(*args, "--report", str(tmp_path / "r2.json"))
    assert p.returncode == 0, p.stderr
    resumed = report_of(tmp_path / "r2.json")
    assert stopped["rows_read"] + resumed["rows_read"] == 1000
    assert stopped["rows_rejected"] + resumed["rows_rejected"] == 10
    assert [r[0] for r in sqlite_table(db)] == sorted(set(ids))
    lines = reject_lines(rejects_of(db))
    assert [(r["row"], r["line"], r["column"], r["values"]) for r in lines] == [
        (n, n + 1, "id", {"id": n - 1, "v": n}) for n in range(100, 1001, 100)
    ]
    assert {r["reason"] for r in lines} == {
        f"key {n - 1} is already in table 't' (UNIQUE constraint failed: t.id)" for n in range(100, 1001, 100)
    }


def _bad_every(path: Path, ids: range, every: int) -> Path:
    """``id,v`` rows whose ``v`` is ``bad`` (not an int64) at every ``every``-th id."""
    text = "".join(f"{i},{'bad' if i % every == 3 else i}\n" for i in ids)
    path.write_text("id,v\n" + text, encoding="utf-8")
    return path


def test_two_targets_of_one_job_sharing_a_reject_file_keep_each_others_lines(tmp_path: Path) -> None:
    """Per-shard databases loading one table (one job, ``table:t``) with one reject file:
    each line names its target, so a run of one shard keeps the other's lines (it took them
    for its own uncommitted ones and dropped them), and every rejected row is there once."""
    a, b = _bad_every(tmp_path / "a.csv", range(0, 1000), 250), _bad_every(tmp_path / "b.csv", range(1000, 2000), 250)
    shared = tmp_path / "shared.rej.jsonl"
    flags = ["--table", "t", "--columns", "v=int64", "--rejects", str(shared), "-q"]
    for src, db in ((a, "s1.db"), (b, "s2.db"), (a, "s1.db"), (b, "s2.db")):
        p = cli("load", str(src), str(tmp_path / db), *flags)
        assert p.returncode == 0, p.stderr
    lines = reject_lines(shared)
    assert [(x["target"], x["row"]) for x in lines] == [
        *((os.path.realpath(tmp_path / "s1.db"), r) for r in (4, 254, 504, 754)),
        *((os.path.realpath(tmp_path / "s2.db"), r) for r in (4, 254, 504, 754)),
    ]
    assert [x["job"] for x in lines] == ["table:t"] * 8


def test_a_fixed_copy_appended_to_the_reject_file_outlives_the_next_scheduled_runs(tmp_path: Path) -> None:
    """docs/reliability.md, "Replaying fixed rows": a fixed copy appended after the line it
    fixes. The next cron ticks (one with nothing new, one with a new file) keep it, where they
    took it for a stopped run's uncommitted line and deleted it; the replay then loads it."""
    _bad_every(tmp_path / "a.csv", range(0, 1000), 250)
    db = tmp_path / "out.db"
    args = ["load", str(tmp_path / "*.csv"), str(db), "--table", "t", "--columns", "v=int64", "-q"]
    assert cli(*args).returncode == 0
    rejects = rejects_of(db)
    line = next(x for x in rejects.read_text(encoding="utf-8").splitlines() if '"row": 254,' in x)
    with open(rejects, "a", encoding="utf-8") as fh:
        fh.write(line.replace('"v": "bad"', '"v": "7"') + "\n")
    assert cli(*args).returncode == 0
    _bad_every(tmp_path / "b.csv", range(1000, 2000), 250)
    assert cli(*args).returncode == 0
    assert [(x["file"][-5:], x["row"], x["values"]["v"]) for x in reject_lines(rejects)] == [
        *(("a.csv", r, "bad") for r in (4, 254, 504, 754)),
        ("a.csv", 254, "7"),
        *(("b.csv", r, "bad") for r in (4, 254, 504, 754)),
    ]
    p = cli("replay", str(rejects), *args[1:-1])
    assert p.returncode == 0, p.stderr
    assert ": 1 written, 7 rejected again, 0 already replayed; 1 earlier lines of a row skipped" in p.stderr
    assert sqlite_rows(db, "select v from t where id = 253") == [(7,)]
