"""The benchmark suite runs end to end on tiny inputs: generator, runner, tables.

No timing assertions: only that every case ran and produced positive numbers.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).parents[2]
BENCH = ROOT / "bench"


def test_generator_is_deterministic_and_realistic(tmp_path: Path) -> None:
    for out in (tmp_path / "a", tmp_path / "b"):
        subprocess.run(
            [sys.executable, str(BENCH / "gen.py"), "--rows", "500", "--out", str(out)], check=True, timeout=60
        )
    a, b = tmp_path / "a" / "bench_500_scrambled.csv", tmp_path / "b" / "bench_500_scrambled.csv"
    assert a.read_bytes() == b.read_bytes()
    with open(a, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert len(header) == 10 and len(body) == 500
    col = {name: [r[i] for r in body] for i, name in enumerate(header)}
    ids = [int(i) for i in col["id"]]
    assert ids[:3] == [2654435761, 1013904226, 3668339987] and len(set(ids)) == 500  # scrambled, unique
    other = tmp_path / "other"
    for ids_mode in ("sorted", "uuid"):
        gen = [
            sys.executable,
            str(BENCH / "gen.py"),
            "--rows",
            "500",
            "--out",
            str(other),
            "--ids",
            ids_mode,
            "--format",
            "csv",
        ]
        subprocess.run(gen, check=True, timeout=60)
    with open(other / "bench_500_sorted.csv", newline="", encoding="utf-8") as fh:
        sorted_rows = list(csv.reader(fh))[1:]
    assert [r[0] for r in sorted_rows[:3]] == ["1", "2", "3"]
    assert [r[1:] for r in sorted_rows] == [r[1:] for r in body]  # only the id differs
    with open(other / "bench_500_uuid.csv", newline="", encoding="utf-8") as fh:
        uuids = [r[0] for r in list(csv.reader(fh))[1:]]
    assert len(set(uuids)) == 500
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", u) for u in uuids)
    assert any(z.startswith("0") for z in col["zip"]) and all(len(z) == 5 for z in col["zip"])
    assert any("," in n for n in col["name"]) and any('"' in n for n in col["name"])
    assert "" in col["score"] and "" in col["note"]  # nullable columns hold nulls
    assert set(col["active"]) == {"true", "false"}
    table = pq.read_table(tmp_path / "a" / "bench_500_scrambled.parquet")
    assert table.num_rows == 500 and table.column_names == header


@pytest.mark.slow
def test_runner_prints_both_tables(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    p = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--rows",
            "2000",
            "--runs",
            "1",
            "--series",
            "1000,2000",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(out),
            # every case but the Dask ones, whose LocalCluster start is most of the run here
            # (test_engines runs that engine; the cases are built as the others are)
            "--only",
            "^(?!.*--engine dask)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text == p.stdout
    assert "failed" not in text, text

    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("| ")]
    assert len(tables) == 2, text
    results = json.loads(out.with_suffix(".json").read_text())  # what bench/plot.py draws from
    assert {
        (s["name"], s["rows"]) for s in results["series"] if s.get("seconds", 0) > 0 and s.get("rss_mb", 0) > 0
    } == {
        (name, n)
        for n in (1000, 2000)
        for name in (
            "loader csv -> sqlite",
            "loader csv -> leveldb",
            "loader parquet -> sqlite",
            "loader parquet -> leveldb",
            *(c["name"] for c in results["cases"] if c["group"] == "baseline"),
        )
    }
    assert len(results["cases"]) == len(tables[0]) - 2
    assert tables[0][0].startswith("| case | rows | median s | rows/s |")
    main = tables[0][2:]
    names = [line.split("|")[1].strip() for line in main]
    for expected in (
        "loader csv -> sqlite",
        "loader parquet -> sqlite",
        "loader csv -> leveldb (json values)",
        "loader csv -> leveldb, --workers 2",
        "loader parquet -> leveldb (json values)",
        "loader parquet -> leveldb, compression snappy",
        "loader csv -> leveldb, UUID keys",
        "loader csv -> leveldb, sorted ids (extra: LevelDB's best case)",
        "loader parquet -> leveldb, sorted ids (extra)",
        "loader csv -> sqlite, --max-memory 100MB",
        "loader parquet -> sqlite, --max-memory 100MB",
        "loader csv -> leveldb, --max-memory 100MB",
        "loader parquet -> leveldb, --max-memory 100MB",
        "loader csv -> sqlite, 5 transform stages",
        "loader parquet -> sqlite, 5 transform stages",
        "loader parquet -> sqlite, the chain's output as input, no stages",
        "pyarrow open_csv thread -> executemany (hand-written)",
    ):
        assert expected in names, names
    assert re.search(
        r"^Transform chain \(cast, filter, derive, rename, fill_null; .*\): [+-]\d+\.\d% time ", text, re.M
    ), text
    assert re.search(r" no stages, [+-]\d+\.\d% .*; so the stages themselves [+-]\d+\.\d%\.$", text, re.M), text
    shell = Path("/usr/bin/sqlite3").exists()
    assert ("sqlite3 shell `.import` (typed table)" in names) == shell
    if not shell:
        assert "`.import` baseline skipped" in text
    for line in main:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 7, line
        assert cells[1] == "2,000"
        seconds, rate, rss = float(cells[2]), float(cells[3].replace(",", "")), float(cells[6])
        assert seconds > 0 and rate > 0 and rss > 0, line
        if shell:
            assert re.fullmatch(r"\d+\.\d\dx", cells[4]), line

    growth = tables[1][2:]
    assert sorted(line.split("|")[1].strip() for line in growth) == [
        "csv -> leveldb",
        "csv -> sqlite",
        "parquet -> leveldb",
        "parquet -> sqlite",
    ]
    for line in growth:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 5, line  # pair, two sizes, RSS growth, speed change
        for cell in cells[1:3]:
            rate, rss = (float(x.replace(",", "")) for x in cell.split(", "))
            assert rate > 0 and rss > 0
        assert re.fullmatch(r"\d+\.\d\dx", cells[3]) and re.fullmatch(r"\d+\.\d\dx", cells[4])


def test_chain_output_file_is_what_the_chain_loads(tmp_path: Path) -> None:
    """The bench times a load of gen.py's chain output beside the chain itself; the
    split it reports holds only if both put the same table into SQLite."""
    import sqlite3

    subprocess.run(
        [sys.executable, str(BENCH / "gen.py"), "--rows", "500", "--out", str(tmp_path)], check=True, timeout=60
    )
    gen = [sys.executable, str(BENCH / "gen.py"), "--rows", "500", "--out", str(tmp_path), "--format", "chain.parquet"]
    subprocess.run(gen, check=True, timeout=60)
    chained, direct = tmp_path / "chained.db", tmp_path / "direct.db"
    job = [
        "run",
        str(BENCH / "transform_chain.toml"),
        "--set",
        f"source.path={tmp_path / 'bench_500_scrambled.parquet'}",
        "--set",
        f"sink.path={chained}",
    ]
    for argv in (job, ["load", str(tmp_path / "bench_500_scrambled.chain.parquet"), str(direct), "--table", "t"]):
        done = subprocess.run(
            [sys.executable, "-m", "loader", *argv, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    def table(path: Path) -> tuple[list[tuple[str, str]], list[tuple]]:
        with sqlite3.connect(path) as conn:
            cols = [(r[1], r[2]) for r in conn.execute("PRAGMA table_info(t)")]
            return cols, conn.execute("SELECT * FROM t ORDER BY id").fetchall()

    cols, rows = table(chained)
    assert [c for c, _ in cols][-3:] == ["comment", "amount_cents", "label"] and len(rows) == 500
    assert table(direct) == (cols, rows)


def section_table(*args: str) -> tuple[str, list[list[str]]]:
    """The runner's one table for a section (``args``): its header line and each case's cells."""
    p = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert p.returncode == 0, p.stderr
    (table,) = [block.splitlines() for block in p.stdout.split("\n\n") if block.startswith("| ")]
    return table[0], [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]


def assert_measured(rows: list[list[str]], count: str) -> None:
    """Every case of a ratio table ran: its count, a positive median and peak, a ratio."""
    for cells in rows:
        assert cells[1] == count and float(cells[2]) > 0 and float(cells[5]) > 0, cells
        assert re.fullmatch(r"\d+\.\d\dx", cells[4]), cells


def test_jsonl_section_runs_loader_duckdb_and_pandas_into_the_same_table(tmp_path: Path) -> None:
    """``--jsonl``: one table, loader against DuckDB's read_json and pandas' read_json, every
    case measured; the JSON Lines gen.py writes load into SQLite as the CSV does."""
    import sqlite3

    header, rows = section_table("--jsonl", "--rows", "500", "--runs", "1", "--data", str(tmp_path))
    assert header == "| case | rows | median s | rows/s | vs DuckDB | peak RSS MB |"
    assert [r[0] for r in rows] == [
        "DuckDB read_json -> Arrow batches -> ADBC SQLite ingest",
        "pandas read_json(lines=True, chunksize=65536) -> to_sql",
        "loader jsonl -> sqlite",
    ]
    assert_measured(rows, "500")
    jsonl, csv_path = tmp_path / "bench_500_scrambled.jsonl", tmp_path / "bench_500_scrambled.csv"
    subprocess.run([sys.executable, str(BENCH / "gen.py"), "--rows", "500", "--out", str(tmp_path)], check=True)
    for src in (jsonl, csv_path):
        done = subprocess.run(
            [sys.executable, "-m", "loader", "load", str(src), str(src.with_suffix(".db")), "--table", "t", "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(jsonl.with_suffix(".db")) as a, sqlite3.connect(csv_path.with_suffix(".db")) as b:
        got, want = (c.execute("SELECT * FROM t ORDER BY rowid").fetchall() for c in (a, b))
    # the same values; event_ts is text in JSON ("2019-08-18 11:51:35"), a timestamp in CSV (ISO with T)
    assert [r[:5] + r[6:] for r in got] == [r[:5] + r[6:] for r in want]
    assert [r[5] for r in got] == [r[5].replace("T", " ")[:19] for r in want]


def test_many_files_section_cuts_the_rows_into_files_and_measures_every_case(tmp_path: Path) -> None:
    """``--many-files N``: the rows cut into N files (each with the header, every row once), the
    shell's import of each file and loader's cases measured, ratios to the shell's."""
    header, rows = section_table("--many-files", "7", "--rows", "300", "--runs", "1", "--data", str(tmp_path))
    assert header == "| case | files | median s | rows/s | vs `.import` | peak RSS MB |"
    assert [r[0] for r in rows] == [
        "sqlite3 shell `.import` of each file (typed table)",
        "loader csv -> sqlite (threads)",
        "loader csv -> sqlite (processes)",
        "loader csv -> leveldb (threads)",
    ]
    assert_measured(rows, "7")
    parts = sorted((tmp_path / "many_300_7").glob("*.csv"))
    assert len(parts) == 7
    whole = (tmp_path / "bench_300_scrambled.csv").read_text().splitlines()
    cut = [part.read_text().splitlines() for part in parts]
    assert all(lines[0] == whole[0] for lines in cut)
    assert [line for lines in cut for line in lines[1:]] == whole[1:]
