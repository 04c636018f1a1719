"""Peak memory depends on chunk size, not on input size."""

from __future__ import annotations

import functools
import gc
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from loader.report import RunReport, peak_rss_mb
from tests.conftest import sqlite_rows
from tests.reliability_util import cli as any_cli

# real processes: what a load's memory is (its peak, its ceiling's batches) is its own process's
cli = functools.partial(any_cli, process=True)

ROOT = Path(__file__).parents[1]


_MADE: dict[tuple[int, bool], Path] = {}
_MADE_DIR = tempfile.TemporaryDirectory(prefix="memory-inputs-")  # removed as the test process ends


def make_csv(path: Path, rows: int, *, scrambled: bool = False) -> None:
    """Write a mixed-type CSV in slices, so the test itself stays small. ``scrambled``:
    unique ids in no order, ``(i + 1) * 2654435761 mod 2**32``, as hashed ids arrive.

    The same file is asked for by many tests (400k rows by seven): it is made once per test
    process and copied, byte for byte, to ``path``."""
    key = (rows, scrambled)
    if key not in _MADE:
        made = Path(_MADE_DIR.name) / f"{rows}-{int(scrambled)}.csv"
        _write_csv(made, rows, scrambled=scrambled)
        _MADE[key] = made
    shutil.copyfile(_MADE[key], path)


def _write_csv(path: Path, rows: int, *, scrambled: bool) -> None:
    with pacsv.CSVWriter(
        str(path),
        schema := pa.schema(
            [("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64()), ("zip", pa.string())]
        ),
    ) as w:
        step = 100_000
        for lo in range(0, rows, step):
            n = min(step, rows - lo)
            order = [(i + 1) * 2654435761 % 2**32 for i in range(lo, lo + n)] if scrambled else range(lo, lo + n)
            ids = pa.array(order, pa.int64())
            w.write_batch(
                pa.record_batch(
                    [
                        ids,
                        pa.array([f"name {i}" for i in range(lo, lo + n)]),
                        pa.array([i * 0.25 for i in range(lo, lo + n)]),
                        pa.array([f"{i % 10000:05d}" for i in range(lo, lo + n)]),
                    ],
                    schema=schema,
                )
            )


def peak(src: Path, target: Path, *extra: str) -> float:
    return float(run_report(src, target, *extra)["peak_rss_mb"])


def run_report(src: Path, target: Path, *extra: str) -> dict[str, Any]:
    report = target.with_suffix(".json")
    p = cli(
        "load",
        str(src),
        str(target),
        "--quiet",
        "--report",
        str(report),
        *(["--key", "{id}"] if target.suffix == ".ldb" else []),
        *extra,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(report.read_text())  # type: ignore[no-any-return]


SUFFIXES = {
    "parquet": ".parquet",
    "jsonl": ".jsonl",
    "jsonl.gz": ".jsonl.gz",
    "arrow": ".arrow",
    "arrow-stream": ".arrow",
}


def convert_csv(csv_path: Path, fmt: str) -> Path:
    """The CSV file rewritten as ``fmt``, batch by batch (``arrow``: the IPC file format,
    ``arrow-stream``: the stream format)."""
    if fmt == "csv":
        return csv_path
    out = csv_path.with_suffix(SUFFIXES[fmt])
    with pacsv.open_csv(
        str(csv_path), convert_options=pacsv.ConvertOptions(column_types={"zip": pa.string()})
    ) as reader:
        if fmt == "parquet":
            with pq.ParquetWriter(str(out), reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
        elif fmt.startswith("arrow"):
            with (pa.ipc.new_file if fmt == "arrow" else pa.ipc.new_stream)(str(out), reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
        else:
            gz = fmt.endswith(".gz")
            with (
                gzip.open(out, "wt", encoding="utf-8", compresslevel=1)
                if gz
                else open(out, "w", encoding="utf-8") as fh
            ):
                for batch in reader:
                    batch.to_pandas().to_json(fh, orient="records", lines=True, double_precision=15)
    return out


@pytest.mark.parametrize(
    "fmt,sink",
    [
        ("csv", ".db"),
        ("parquet", ".ldb"),
        ("jsonl", ".db"),
        ("jsonl.gz", ".ldb"),
        ("arrow", ".ldb"),
        ("arrow-stream", ".db"),
    ],
)
def test_peak_rss_is_flat_for_8x_input(tmp_path: Path, fmt: str, sink: str) -> None:
    small, large = 100_000, 800_000
    paths = {}
    for n in (small, large):
        csv_path = tmp_path / f"in{n}.csv"
        make_csv(csv_path, n)
        paths[n] = convert_csv(csv_path, fmt)
    p_small = peak(paths[small], tmp_path / f"small{sink}")
    p_large = peak(paths[large], tmp_path / f"large{sink}")
    assert p_large < p_small * 1.25, (p_small, p_large)


@pytest.mark.slow
def test_index_build_stays_in_the_memory_budget(tmp_path: Path) -> None:
    """CREATE INDEX sorts the whole table: its peak must not grow with the input
    (in memory it took 137 MB at 100k rows and 179 MB at 800k)."""
    small, large = 100_000, 800_000
    peaks = {}
    for n in (small, large):
        make_csv(tmp_path / f"in{n}.csv", n)
        target = tmp_path / f"idx{n}.db"
        peaks[n] = peak(
            tmp_path / f"in{n}.csv", target, "--table", "t", "--index", "name,zip,amount", "--max-memory", "170MB"
        )
        [(name,)] = (
            sqlite3.connect(target)
            .execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't'")
            .fetchall()
        )
        assert name.startswith("idx_t_name_zip_amount_")
    assert peaks[large] < peaks[small] * 1.12, peaks
    assert peaks[large] < 170, peaks
    # the sort's temp files go beside the target, not into /tmp, and are gone afterwards
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("etilqs")) == []


def test_the_command_asks_for_jemalloc_before_pyarrow_starts(tmp_path: Path) -> None:
    """The loader command sets Arrow's pool and its jemalloc's settings before pyarrow is
    imported; a user's choices win."""
    probe = (
        "import os, sys, contextlib, loader.__main__ as m\n"
        "sys.argv = ['loader', 'validate', '--help']\n"
        "with contextlib.suppress(SystemExit):\n"
        "    m.main()\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name, os.environ['JE_ARROW_MALLOC_CONF'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "JE_ARROW_MALLOC_CONF")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["jemalloc", "narenas:1,dirty_decay_ms:250,muzzy_decay_ms:0"]
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    env["JE_ARROW_MALLOC_CONF"] = "narenas:2"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["system", "narenas:2"]


def test_the_command_starts_no_blas_threads_unless_the_user_asks(tmp_path: Path) -> None:
    """numpy's OpenBLAS (pyarrow imports numpy) starts no thread of its own under the
    loader command; a user's OPENBLAS_NUM_THREADS wins (one BLAS thread more at 2)."""
    probe = (
        "import os, sys, contextlib, loader.__main__ as m\n"
        "sys.argv = ['loader', 'validate', '--help']\n"
        "with contextlib.suppress(SystemExit):\n"
        "    m.main()\n"
        "import numpy\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))\n"
    )

    def threads(**blas: str) -> tuple[str, int]:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | blas
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
        setting, count = out.stdout.split()[-2:]
        return setting, int(count)

    ours, theirs = threads(), threads(OPENBLAS_NUM_THREADS="2")
    assert ours[0] == "1" and theirs[0] == "2"
    assert theirs[1] == ours[1] + 1


def test_the_command_collects_nothing_while_it_imports_and_freezes_the_heap_at_the_end() -> None:
    """No collection runs while the CLI and what it imports (pyarrow) load; the
    collector is on again afterwards, and the heap is frozen when the command ends."""
    probe = (
        "import gc, sys, loader.__main__ as m\n"
        "during = []\n"
        "def note(phase, info):\n"
        "    if phase == 'start' and not hasattr(sys.modules.get('loader.cli'), 'main'):\n"
        "        during.append(info['generation'])\n"
        "gc.callbacks.append(note)\n"
        "sys.argv = ['loader', 'validate', '--help']\n"
        "code = m.main()\n"
        "print(code, len(during), gc.isenabled(), gc.get_freeze_count() > 0, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "0 0 True True True"


# 100 MB, or the lowest ceiling the pair accepts where that is higher
# (test_a_ceiling_below_the_floor_is_refused): Parquet's reader holds a page and a
# dictionary per column, and into LevelDB sorted runs and their merge.
CEILING = {("csv", ".db"): 100, ("parquet", ".db"): 100, ("csv", ".ldb"): 100, ("parquet", ".ldb"): 100}


@pytest.mark.slow
@pytest.mark.parametrize("fmt,sink", [("csv", ".db"), ("parquet", ".db"), ("csv", ".ldb"), ("parquet", ".ldb")])
def test_default_peak_and_max_memory_ceiling(tmp_path: Path, fmt: str, sink: str) -> None:
    """Every reader and sink pair stays under 150 MB at default settings, and under
    the ceiling with --max-memory, which the report names with the sizes used."""
    src = tmp_path / "in.csv"
    make_csv(src, 400_000)
    if fmt == "parquet":
        pq.write_table(pacsv.read_csv(str(src)), str(tmp_path / "in.parquet"))
        src = tmp_path / "in.parquet"
    ceiling = CEILING[fmt, sink]
    default = run_report(src, tmp_path / f"default{sink}")
    fitted = run_report(src, tmp_path / f"fitted{sink}", "--max-memory", f"{ceiling}MB")
    assert default["peak_rss_mb"] <= 150
    assert fitted["peak_rss_mb"] <= ceiling
    assert fitted["max_memory_mb"] == ceiling
    assert fitted["status"] == "ok" and fitted["memory_exceeded"] is False
    assert fitted["chunk_size"] < default["chunk_size"]
    assert fitted["rows_written"] == default["rows_written"] == 400_000
    if sink == ".db":  # SQLite's page cache is one of the sizes fitted
        assert fitted["sizes"]["cache_size"] < default["sizes"]["cache_size"] == 4 << 20


@pytest.mark.slow
def test_parsing_workers_stay_under_both_ceilings(tmp_path: Path) -> None:
    """Each worker holds a block of its own: the default run stays under 150 MB, and
    --max-memory shrinks the blocks to keep every worker under the ceiling."""
    src = tmp_path / "in.csv"
    make_csv(src, 400_000)
    default = run_report(src, tmp_path / "default.ldb", "--workers", "2")
    fitted = run_report(src, tmp_path / "fitted.ldb", "--workers", "2", "--max-memory", "125MB")
    assert default["workers"] == fitted["workers"] == 2
    assert default["peak_rss_mb"] <= 150
    assert fitted["peak_rss_mb"] <= 125
    assert fitted["rows_written"] == default["rows_written"] == 400_000


def make_long_rows(path: Path, rows: int) -> None:
    """Scrambled ids with 0.5-3 KB of text each: a CSV block holds few rows, each costly."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,n,text\n")
        for i in range(rows):
            fh.write(f"{(i + 1) * 2654435761 % 2**32},{i},{'word ' * (100 + (i * 7919) % 500)}\n")


@pytest.mark.slow
def test_long_rows_hold_the_ceiling_whichever_way_leveldb_is_written(tmp_path: Path) -> None:
    """A CSV block costs what its rows turn into: sorted, bytes soon in a run; with
    ``--sort never``, LevelDB's memtables and compactions too. So a sorted load parses
    larger blocks under the same room, and both hold their ceilings on long rows."""
    src = tmp_path / "long.csv"
    make_long_rows(src, 60_000)
    for sort, ceiling in (("auto", 110), ("never", 150)):
        fitted = run_report(src, tmp_path / f"{sort}.ldb", "--sort", sort, "--max-memory", f"{ceiling}MB")
        assert fitted["peak_rss_mb"] <= ceiling, (sort, fitted)
        assert (fitted["status"], fitted["rows_written"]) == ("ok", 60_000), (sort, fitted)
        if sort == "auto":  # priced at 16 MB per MiB of block, not 40: 0.49 MiB, not 0.2
            assert fitted["workers"] == 1 and fitted["sizes"]["block_size"] > 400 << 10, fitted


@pytest.mark.slow
def test_leveldb_ceiling_holds_with_keys_in_no_order(tmp_path: Path) -> None:
    """Scrambled ids are sorted through runs (``sink.sort = auto``) before LevelDB sees
    them: 100 MB (CSV -> LevelDB accepts 94 MB) holds as the OS measures the
    peak, with the run size and LevelDB sizes chosen for it in the report."""
    src = tmp_path / "in.csv"
    make_csv(src, 300_000, scrambled=True)
    default = run_report(src, tmp_path / "default.ldb")
    fitted = run_report(src, tmp_path / "fitted.ldb", "--max-memory", "100MB")
    assert fitted["peak_rss_mb"] <= 100, fitted
    assert (fitted["status"], fitted["memory_exceeded"], fitted["max_memory_mb"]) == ("ok", False, 100.0)
    assert (default["status"], default["memory_exceeded"], default["max_memory_mb"]) == ("ok", False, None)
    assert fitted["rows_written"] == default["rows_written"] == 300_000
    sizes, asked = fitted["sizes"], default["sizes"]
    assert (
        asked["write_buffer_size"] == 8 << 20 and asked["max_file_size"] == 2 << 20 and asked["max_open_files"] == 1000
    )
    for name in (
        "write_buffer_size",
        "max_file_size",
        "max_open_files",
        "lru_cache_size",
        "block_size",
        "sort_run_size",
    ):
        assert sizes[name] < asked[name], name


def test_a_ceiling_below_the_floor_is_refused(tmp_path: Path) -> None:
    """A ceiling the pair cannot keep is refused before anything is read or created,
    naming the lowest workable figure."""
    src = tmp_path / "in.csv"
    make_csv(src, 10)
    pq.write_table(pacsv.read_csv(str(src)), str(tmp_path / "in.parquet"))
    for data, target, lowest, what, sort in [
        (src, tmp_path / "t.ldb", 94, "csv -> leveldb", []),
        (tmp_path / "in.parquet", tmp_path / "t.ldb", 100, "parquet -> leveldb", []),
        (src, tmp_path / "t.ldb", 125, "csv -> leveldb", ["--sort", "never"]),  # LevelDB compacts scrambled tables
        (src, tmp_path / "t.db", 86, "csv -> sqlite", []),
    ]:
        key = ["--key", "{id}"] if target.suffix == ".ldb" else []
        p = cli("load", str(data), str(target), *key, *sort, "--max-memory", "100MB" if lowest > 100 else "80MB")
        assert p.returncode == 2, p.stderr
        asked = 100 if lowest > 100 else 80
        leveldb = (
            ", LevelDB's memtables and compaction, or the sorted runs and their merge"
            if target.suffix == ".ldb"
            else ""
        )
        assert p.stderr == (
            f"loader: error: run.max_memory: {asked} MB is below what {what} needs at its smallest sizes "
            f"({lowest} MB: the runtime and its libraries{leveldb})\n"
            f"  hint: set --max-memory {lowest}MB or more\n"
        )
        assert not target.exists()


def test_a_peak_past_the_ceiling_is_not_plain_ok() -> None:
    """After a load that went past its ceiling (this process's own peak is far above
    1 MB), the status says so and the summary warns; without a ceiling it is ok."""
    over = RunReport(max_memory_mb=1.0, target="t.ldb")
    over.start()
    over.finish("ok")
    assert (over.status, over.memory_exceeded) == ("memory_exceeded", True)
    assert over.summary().startswith("memory_exceeded: 0 rows written to t.ldb")
    assert over.summary().endswith(f"; WARNING peak memory {over.peak_rss_mb:.0f} MB went past --max-memory 1 MB")
    failed = RunReport(max_memory_mb=1.0)
    failed.start()
    failed.finish("failed")
    assert (failed.status, failed.memory_exceeded) == ("failed", True)
    plain = RunReport()
    plain.start()
    plain.finish("ok")
    assert (plain.status, plain.memory_exceeded) == ("ok", False)
    assert "WARNING" not in plain.summary()


def test_a_workers_peak_past_the_ceiling_is_not_plain_ok() -> None:
    """With an engine every process keeps to the ceiling: a worker's peak past it makes the
    status memory_exceeded, and the warning says whose it was."""
    ceiling = float(round(peak_rss_mb()) + 100)  # above this process's own peak
    over = RunReport(max_memory_mb=ceiling, worker_peak_rss_mb=ceiling + 1, target="t.db")
    over.start()
    over.finish("ok")
    assert (over.status, over.memory_exceeded) == ("memory_exceeded", True)
    assert over.summary().endswith(
        f"; WARNING peak memory {ceiling + 1:.0f} MB (a worker's) went past --max-memory {ceiling:g} MB"
    )
    within = RunReport(max_memory_mb=ceiling, worker_peak_rss_mb=ceiling - 1)
    within.start()
    within.finish("ok")
    assert (within.status, within.memory_exceeded) == ("ok", False)


def test_dask_is_refused_a_ceiling_below_its_client_and_the_pair(tmp_path: Path) -> None:
    """The coordinator imports Dask's client (30 MB) and local workers are forked from it:
    the lowest ceiling counts it, named, before a cluster is started or a file made."""
    src = tmp_path / "in.csv"
    make_csv(src, 100)
    p = cli("load", str(src), str(tmp_path / "t.db"), "--engine", "dask", "--max-memory", "100MB")
    assert p.returncode == 2, p.stderr
    assert p.stderr == (
        "loader: error: run.max_memory: 100 MB is below what csv -> sqlite needs at its smallest sizes "
        "(118 MB: the runtime and its libraries, Dask's client in every process (32 MB))\n"
        "  hint: set --max-memory 118MB or more\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


@pytest.mark.slow
def test_processes_hold_the_ceiling_in_every_process_and_report_it(tmp_path: Path) -> None:
    """--max-memory with a local pool: the sizes are fitted for every process, the report
    states the ceiling and the highest worker's peak, and both peaks are under it."""
    src = tmp_path / "in.csv"
    make_csv(src, 300_000, scrambled=True)
    fitted = run_report(
        src, tmp_path / "t.ldb", "--engine", "processes", "--set", "run.part_size=4MB", "--max-memory", "100MB"
    )
    assert (fitted["status"], fitted["rows_written"], fitted["engine"]) == ("ok", 300_000, "processes")
    assert fitted["max_memory_mb"] == 100.0 and fitted["memory_exceeded"] is False
    assert len(fitted["parts"]) > 1 and fitted["worker_peak_rss_mb"] == max(
        p["worker_peak_rss_mb"] for p in fitted["parts"]
    )
    assert 0 < fitted["worker_peak_rss_mb"] <= 100 and fitted["peak_rss_mb"] <= 100, fitted
    assert fitted["chunk_size"] < 8192 and fitted["sizes"]["sort_run_size"] < 8 << 20, fitted


def refused_then_held(src: Path, target: Path, asked: int, detail: str, rows: int) -> tuple[int, list[str]]:
    """``src`` refused at ``asked`` MB, nothing created, with the lowest ceiling named and
    what the file needs (``detail``, a pattern); then loaded within that lowest ceiling.
    The lowest ceiling and the groups of ``detail``."""
    p = cli("load", str(src), str(target), "--max-memory", f"{asked}MB")
    assert p.returncode == 2, p.stderr
    match = re.fullmatch(
        rf"loader: error: run\.max_memory: {asked} MB is below what [a-z]+ -> [a-z]+ needs at its smallest sizes "
        rf"\((\d+) MB: the runtime and its libraries, and {detail}\)\n  hint: set --max-memory (\d+)MB or more\n",
        p.stderr,
    )
    assert match, p.stderr
    lowest, *named, hinted = match.groups()
    assert lowest == hinted and not target.exists()
    # far below the floor: the same figure, the file's need counted (it was the base floor)
    far = cli("load", str(src), str(target), "--max-memory", "1MB")
    assert (far.returncode, far.stderr) == (2, p.stderr.replace(f": {asked} MB is below", ": 1 MB is below"))
    fitted = run_report(src, target, "--max-memory", f"{lowest}MB")
    assert (fitted["status"], fitted["rows_written"], fitted["max_memory_mb"]) == ("ok", rows, int(lowest))
    assert fitted["peak_rss_mb"] <= int(lowest)
    return int(lowest), named


@pytest.mark.slow
def test_a_parquet_file_with_pandas_row_groups_gets_the_ceiling_it_needs(tmp_path: Path) -> None:
    """pandas (pyarrow's defaults: one row group of up to 1Mi rows, 1 MB dictionaries)
    writes files that need more memory to read than the benchmark's: the lowest ceiling
    comes from the file's page headers, a lower one is refused naming the file, and the
    lowest holds as the OS measures the peak."""
    csv_path = tmp_path / "in.csv"
    make_csv(csv_path, 400_000)
    table = pacsv.read_csv(str(csv_path))
    wide = pa.table({f"{name}_{i}": table.column(name) for i in range(3) for name in table.column_names})
    src = tmp_path / "pandas.parquet"
    wide.to_pandas().to_parquet(src)
    detail = r"(\d+) MB to read (.+) as it was written \(12 columns, (\d+) MB of pages and dictionaries\)"
    lowest, (reading, path, pages) = refused_then_held(src, tmp_path / "t.db", 99, detail, 400_000)
    assert path == str(src)
    assert lowest > 99 + 8 and int(pages) >= 20 and int(reading) >= int(pages)


def test_a_wide_csv_file_gets_the_ceiling_its_columns_need(tmp_path: Path) -> None:
    """200 columns: each costs arrays in flight whatever the block's bytes, so the lowest
    ceiling grows with the header's width; a lower one is refused naming the file, and
    the figure named holds."""
    src = tmp_path / "wide.csv"
    header = ",".join(f"c{c}" for c in range(200))
    rows = [
        ",".join(str((i * 7 + c) % 1000) if c % 2 else f"{i * c * 0.37:.3f}" for c in range(200)) for i in range(3000)
    ]
    src.write_text(header + "\n" + "\n".join(rows) + "\n")
    lowest, (columns_mb, path) = refused_then_held(
        src, tmp_path / "t.db", 86, r"(\d+) MB for the 200 columns of (.+)", 3000
    )
    assert path == str(src) and lowest == 86 + int(columns_mb) and int(columns_mb) >= 5


def test_a_wide_json_lines_file_gets_the_ceiling_its_columns_need(tmp_path: Path) -> None:
    """The keys of its first lines are its columns, counted as a CSV header's are: 88 MB was
    accepted for 2,000 of them and peaked at 117. A lower ceiling is refused naming the file,
    and the figure named holds."""
    src = tmp_path / "wide.jsonl"
    rows = [
        {"id": i} | {f"c{c}": (i * 7 + c) % 1000 if c % 2 else f"s{(i + c) % 97}x" for c in range(299)}
        for i in range(300)
    ]
    src.write_text("".join(json.dumps(row) + "\n" for row in rows))
    lowest, (columns_mb, path) = refused_then_held(
        src, tmp_path / "t.db", 88, r"(\d+) MB for the 300 columns of (.+)", 300
    )
    assert path == str(src) and lowest == 88 + int(columns_mb) and int(columns_mb) >= 6


def test_a_library_load_leaves_the_hosts_frozen_objects_frozen(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("id\n1\n2\n")
    probe = (
        "import gc, sys, pyarrow as pa, loader\n"
        "kept = [object()]\n"
        "gc.freeze()\n"
        "loader.load(sys.argv[1], sys.argv[2])\n"
        "thawed = any(o is kept for o in gc.get_objects())  # the collector's generations, not the frozen\n"
        "print(gc.get_freeze_count() > 0, thawed, gc.isenabled(), pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", probe, str(src), str(tmp_path / "a.db")], capture_output=True, text=True, env=env
    )
    assert out.stdout.split() == ["True", "False", "True", "mimalloc"], out.stderr


def test_loads_at_once_leave_the_collector_and_the_pool_as_they_found_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load in switches the pool and the second fails; the first ends first."""
    from loader import TransformError, load

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    decays: list[int] = []
    monkeypatch.setattr(pa, "jemalloc_set_decay_ms", decays.append)  # the host's jemalloc settings stay
    src = tmp_path / "a.csv"
    src.write_text("id\n1\n2\n")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def first_stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        first_in.set()
        assert second_in.wait(10)
        return batch

    def second_stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        second_in.set()
        assert first_out.wait(10)
        raise ValueError("no")

    def first() -> None:
        try:
            load(src, tmp_path / "a.db", transforms=[first_stage], run_options={"max_memory": "200MB"})
        finally:
            first_out.set()

    def second() -> None:
        try:
            load(src, tmp_path / "b.db", transforms=[second_stage])
        except TransformError as exc:
            raised.append(exc)

    host_pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    try:
        assert gc.isenabled()
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        threads[0].start()
        assert first_in.wait(10)
        threads[1].start()
        for t in threads:
            t.join()
        assert (pa.default_memory_pool().backend_name, gc.isenabled(), decays) == ("mimalloc", True, [])
    finally:
        pa.set_memory_pool(host_pool)
        gc.enable()
    assert len(raised) == 1
    assert sqlite_rows(tmp_path / "a.db", "SELECT count(*) FROM a") == [(2,)]


def make_wide_parquet(path: Path, rows: int, columns: int = 500) -> None:
    """An id and ``columns - 1`` integer columns (8 bytes each decoded: 4 KB a row at 500),
    in one row group."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = {"id": pa.array(np.arange(rows))} | {
        f"c{i}": pa.array(rng.integers(0, 1000, rows)) for i in range(columns - 1)
    }
    pq.write_table(pa.table(data), str(path))


def make_nested_parquet(path: Path, rows: int) -> None:
    """A list of ~100 integers and a struct holding a list of text in every row (~1 KB decoded)."""
    import numpy as np

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 200, rows)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    values = pa.ListArray.from_arrays(offsets, pa.array(rng.integers(0, 10**6, int(lengths.sum()))))
    tag_offsets = pa.array(np.concatenate([[0], np.cumsum(lengths // 4)]), pa.int32())
    tags = pa.ListArray.from_arrays(
        tag_offsets, pa.array([f"t{x}" for x in rng.integers(0, 1000, int((lengths // 4).sum()))])
    )
    meta = pa.StructArray.from_arrays(
        [pa.array(rng.random(rows)), pa.array([f"name{i}" for i in range(rows)]), tags], ["score", "name", "tags"]
    )
    pq.write_table(pa.table({"id": pa.array(np.arange(rows)), "vals": values, "meta": meta}), str(path))


def test_benchmark_rows_keep_their_chunks_and_wider_ones_hold_as_many_bytes(tmp_path: Path) -> None:
    """The benchmark's own files (10 columns) keep 8192-row chunks in every format; 500
    integer columns (4,000 bytes a row decoded, 41.7 times the benchmark's 96) get 196."""
    from loader.config import JobConfig, SinkConfig, SourceConfig, resolve
    from loader.memory import fit_memory, input_width

    for fmt in ("csv", "parquet", "jsonl"):
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gen.py"),
                "--rows",
                "20000",
                "--out",
                str(tmp_path),
                "--format",
                fmt,
            ],
            check=True,
            capture_output=True,
        )
    make_wide_parquet(tmp_path / "wide.parquet", 100)
    chunks = {}
    for path in sorted(tmp_path.iterdir()):
        job = resolve(JobConfig(source=SourceConfig(path=[str(path)]), sink=SinkConfig(path=str(tmp_path / "t.db"))))
        width = input_width(job, [str(path)])
        chunks[path.name] = (fit_memory(job, None, width).run.chunk_size, width.scale if width else None)
    assert chunks == {
        "bench_20000_scrambled.csv": (8192, 1.0),
        "bench_20000_scrambled.jsonl": (8192, 1.0),
        "bench_20000_scrambled.parquet": (8192, 1.0),
        "wide.parquet": (196, 4000 / 96),
    }


def test_a_few_long_lines_first_do_not_make_every_row_wide(tmp_path: Path) -> None:
    """One 1.2 MB note in the first row (or two 700 KB ones) made a whole narrow file count as
    1 MB a row, and its chunks 16 rows: four times slower. The longest lines of the first
    blocks are left out of the width, and lines longer than a block are read past; a file of
    long lines alone still counts as wide."""
    from loader.config import JobConfig, SinkConfig, SourceConfig, resolve
    from loader.memory import fit_memory, input_width

    def chunk(path: Path, block_size: int = 1 << 20, max_row_bytes: int = 64 << 20) -> int:
        source = SourceConfig(path=[str(path)], block_size=block_size, max_row_bytes=max_row_bytes)
        job = resolve(JobConfig(source=source, sink=SinkConfig(path=str(tmp_path / "t.db"))))
        return fit_memory(job, None, input_width(job, [str(path)])).run.chunk_size

    narrow = "".join(f"{i},0.{i:06d},ok\n" for i in range(1, 20_000))
    (tmp_path / "one.csv").write_text("id,a,note\n0,0.5," + "x" * 1_200_000 + "\n" + narrow)
    narrow_json = "".join(json.dumps({"id": i, "note": "ok"}) + "\n" for i in range(2, 20_000))
    (tmp_path / "two.jsonl").write_text(
        "".join(json.dumps({"id": i, "note": "x" * 700_000}) + "\n" for i in range(2)) + narrow_json
    )
    (tmp_path / "long.csv").write_text("id,note\n" + "".join(f"{i}," + "x" * 400_000 + "\n" for i in range(20)))
    assert [chunk(tmp_path / n) for n in ("one.csv", "two.jsonl", "long.csv")] == [8192, 8192, 16]
    # a first line longer than the 8 blocks read (64 KiB each, as under a ceiling) is read past
    with gzip.open(tmp_path / "first.csv.gz", "wt") as f:
        f.write("id,a,note\n0,0.5," + "x" * 2_000_000 + "\n" + narrow)
    (tmp_path / "first.jsonl").write_text(json.dumps({"id": 0, "note": "x" * 2_000_000}) + "\n" + narrow_json)
    assert [chunk(tmp_path / n, 64 << 10) for n in ("first.csv.gz", "first.jsonl", "long.csv")] == [8192, 8192, 16]
    # long lines are read past up to ``source.max_row_bytes`` of them: past that the file counts as wide
    (tmp_path / "three.csv").write_text(
        "id,a,note\n" + "".join(f"{i},0.5," + "x" * 400_000 + "\n" for i in range(3)) + narrow
    )
    assert [chunk(tmp_path / "three.csv", 64 << 10, cap) for cap in (64 << 20, 1 << 20)] == [8192, 16]


def test_wide_rows_hold_the_ceiling_and_stay_low_without_one(tmp_path: Path) -> None:
    """500 columns: chunks counted in rows held 8192 of them (32 MB each, five in flight
    into LevelDB): 267 MB at default settings, and 303 under an accepted 260 MB ceiling.
    Counted by the rows' bytes, both stay near the reader's own need."""
    src = tmp_path / "wide.parquet"
    make_wide_parquet(src, 16_384)
    default = run_report(src, tmp_path / "default.ldb")
    fitted = run_report(src, tmp_path / "fitted.ldb", "--max-memory", "260MB")
    assert (default["status"], default["rows_written"], default["chunk_size"]) == ("ok", 16_384, 196)
    assert default["peak_rss_mb"] <= 180, default
    assert (fitted["status"], fitted["memory_exceeded"], fitted["rows_written"]) == ("ok", False, 16_384)
    assert fitted["peak_rss_mb"] <= 260 and fitted["chunk_size"] <= 196, fitted


def test_a_wide_parquet_file_the_width_sample_leaves_out_holds_its_own_chunks(tmp_path: Path) -> None:
    """Without a ceiling the run measures 32 of 33 files' widths; the one left out (16 KB
    rows) was read in the narrow files' 8192-row chunks: 234 MB against 123 MB alone. Each
    Parquet file now sizes its chunks from its own footer: the glob peaks as the file alone."""
    import numpy as np

    src = tmp_path / "in"
    src.mkdir()
    for i in range(32):
        pq.write_table(
            pa.table({"id": np.arange(i * 10, i * 10 + 10), "txt": ["t"] * 10}), str(src / f"f{i:02d}.parquet")
        )
    wide = pa.table({"id": np.arange(1000, 9000), "txt": ["y" * 16_000 + str(j) for j in range(8000)]})
    pq.write_table(wide, str(src / "f32.parquet"))  # the 33rd file: not among the 32 measured
    glob = run_report(src / "*.parquet", tmp_path / "t.db", "--table", "t")
    assert (glob["status"], glob["rows_written"], glob["chunk_size"]) == ("ok", 8320, 8192), glob
    assert glob["peak_rss_mb"] <= 160, glob


def test_nested_rows_hold_the_ceiling(tmp_path: Path) -> None:
    """Lists are counted by their elements (~1 KB a row, not the 10 columns' few bytes):
    into SQLite the default stays low, and 120 MB holds (it peaked at 141 with 8192-row chunks)."""
    src = tmp_path / "nested.parquet"
    make_nested_parquet(src, 10_000)
    default = run_report(src, tmp_path / "default.db")
    fitted = run_report(src, tmp_path / "fitted.db", "--max-memory", "120MB")
    assert default["chunk_size"] < 1024 and default["peak_rss_mb"] <= 120, default
    assert (fitted["status"], fitted["memory_exceeded"], fitted["rows_written"]) == ("ok", False, 10_000)
    assert fitted["peak_rss_mb"] <= 120, fitted


def test_a_wide_parquet_file_holds_the_lowest_ceiling_named(tmp_path: Path) -> None:
    """The lowest figure counts the smallest chunk of the file's own rows (16 here, as
    many bytes as 1024 of the benchmark's), and holds as the OS measures the peak."""
    src = tmp_path / "wide.parquet"
    make_wide_parquet(src, 4096)
    detail = r"(\d+) MB to read (.+) as it was written \(500 columns, (\d+) MB of pages and dictionaries\)"
    lowest, (reading, path, pages) = refused_then_held(src, tmp_path / "t.db", 120, detail, 4096)
    assert path == str(src) and lowest > 120 and int(reading) >= int(pages)


def test_a_library_loads_peak_is_its_own(tmp_path: Path) -> None:
    """A host that touched 400 MB before (its VmHWM stays there) and two loads in a row:
    each report's peak is that load's own, within the ceiling, not the host's."""
    src = tmp_path / "a.csv"
    src.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1000)))
    probe = (
        "import sys, loader\n"
        "blob = bytearray(400 << 20)\n"
        "del blob\n"
        "for name in ('a', 'b'):\n"
        "    r = loader.load(sys.argv[1], f'{sys.argv[2]}/{name}.db', table='t', run_options={'max_memory': '150MB'})\n"
        "    print(r.status, r.memory_exceeded, r.peak_rss_mb < 150)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(src), str(tmp_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.stdout.split("\n") == ["ok False True", "ok False True", ""], out.stderr


def test_a_library_load_holds_the_lowest_ceiling_without_pandas(tmp_path: Path) -> None:
    """``load()`` at CSV -> SQLite's lowest figure (86 MB) stays under it as the command
    does: pyarrow's first conversion imports no pandas (+~40 MB) in the host either."""
    src = tmp_path / "a.csv"
    src.write_text("id,name,v\n" + "".join(f"{i},n{i},{i * 0.5}\n" for i in range(1000)))
    probe = (
        "import sys, loader\n"
        "r = loader.load(sys.argv[1], sys.argv[2], table='t', run_options={'max_memory': '86MB'})\n"
        "print(r.status, r.rows_written, r.peak_rss_mb <= 86, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(src), str(tmp_path / "a.db")], capture_output=True, text=True, cwd=ROOT
    )
    assert out.stdout.split() == ["ok", "1000", "True", "False"], out.stdout + out.stderr


def test_where_the_peak_cannot_be_reset_only_a_peak_risen_during_the_run_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without clear_refs (another OS, a sandbox) the peak counts from the process's start:
    a peak the run never raised is not called past the ceiling; one it raised is."""
    import loader.report as report_module

    monkeypatch.setattr(report_module, "reset_peak_rss", lambda: False)
    peaks = iter([400.0, 400.0, 100.0, 180.0])  # (start, finish) of two runs
    monkeypatch.setattr(report_module, "peak_rss_mb", lambda: next(peaks))
    for expected in (("ok", False), ("memory_exceeded", True)):
        run = RunReport(max_memory_mb=150.0)
        run.start()
        run.finish("ok")
        assert (run.status, run.memory_exceeded) == expected


def test_the_warning_shows_the_peak_above_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """150.3 MB past 150 MB reads so, not "150 MB went past --max-memory 150 MB"; a peak
    whole MB show above the ceiling keeps whole MB."""
    import loader.report as report_module

    for peak, shown in ((150.3, "150.3"), (163.4, "163")):
        monkeypatch.setattr(report_module, "peak_rss_mb", lambda peak=peak: peak)
        run = RunReport(max_memory_mb=150.0, target="t.db")
        run.start()
        run.finish("ok")
        assert run.summary().endswith(f"; WARNING peak memory {shown} MB went past --max-memory 150 MB")


def test_a_wide_csv_on_standard_input_is_refused_a_ceiling_its_columns_need_more_than(tmp_path: Path) -> None:
    """Standard input's header is read only once the run starts: a ceiling below what its
    200 columns need is refused then, as the same file's is before the run, and the
    target the run opened is gone (exit 2: nothing written)."""
    from tests.reliability_util import env

    header = ",".join(f"c{c}" for c in range(200))
    data = header + "\n" + "\n".join(",".join(str(i + c) for c in range(200)) for i in range(100)) + "\n"
    target = tmp_path / "t.db"
    p = subprocess.run(
        [sys.executable, "-m", "loader", "load", "-", str(target), "--table", "t", "--max-memory", "86MB"],
        input=data,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(None),
    )
    assert p.returncode == 2, p.stderr
    assert re.fullmatch(
        r"loader: error: run\.max_memory: 86 MB is below what csv -> sqlite needs at its smallest sizes "
        r"\((\d+) MB: the runtime and its libraries, and \d+ MB for the 200 columns of standard input\)\n"
        r"  hint: set --max-memory \1MB or more\n",
        p.stderr,
    ), p.stderr
    assert not target.exists()


def test_a_ceiling_never_raises_a_size_the_job_asked_for(tmp_path: Path) -> None:
    """Sizes below the smallest the floors were measured at stay as the job set them (a
    ceiling only shrinks); sizes left at their defaults still shrink to fit."""
    from loader.config import job_from_dict
    from loader.memory import fit_memory

    leveldb = fit_memory(
        job_from_dict(
            {
                "source": {"path": "a.csv"},
                "sink": {"path": "a.ldb", "key": "{id}", "batch_size": 50, "write_buffer_size": 65536},
                "run": {"chunk_size": 100, "max_memory": "200MB"},
            }
        )
    )
    assert (leveldb.run.chunk_size, leveldb.sink.batch_size, leveldb.sink.write_buffer_size) == (100, 50, 65536)
    assert leveldb.sink.max_file_size < 2 << 20 and leveldb.sink.max_open_files < 1000  # defaults, fitted
    sqlite = fit_memory(
        job_from_dict(
            {
                "source": {"path": "a.csv", "block_size": 16384},
                "sink": {"path": "a.db", "cache_size": 65536},
                "run": {"chunk_size": 100, "max_memory": "90MB"},
            }
        )
    )
    assert (sqlite.run.chunk_size, sqlite.source.block_size, sqlite.sink.cache_size) == (100, 16384, 65536)
    src = tmp_path / "a.csv"
    make_csv(src, 3000)
    report = run_report(src, tmp_path / "k.ldb", "--chunk-size", "100", "--batch-size", "50", "--max-memory", "200MB")
    assert (report["status"], report["rows_written"], report["chunk_size"], report["batch_size"]) == (
        "ok",
        3000,
        50,
        50,
    )


def test_json_lines_and_arrow_are_refused_in_their_own_names_and_figures(tmp_path: Path) -> None:
    """A ceiling below the floor names the real reader, with its own lowest figure: JSON Lines
    into SQLite parses on two workers (88 MB, CSV's 86), Arrow IPC of small batches as CSV."""
    src = tmp_path / "in.csv"
    make_csv(src, 10)
    for fmt, target, lowest in (("jsonl", "t.db", 88), ("arrow", "t.ldb", 94), ("arrow", "t.db", 86)):
        data = convert_csv(src, fmt)
        key = ["--key", "{id}"] if target.endswith(".ldb") else []
        p = cli("load", str(data), str(tmp_path / target), *key, "--max-memory", "80MB")
        sink = "leveldb" if target.endswith(".ldb") else "sqlite"
        holds = ", LevelDB's memtables and compaction, or the sorted runs and their merge" if key else ""
        assert (p.returncode, p.stderr) == (
            2,
            f"loader: error: run.max_memory: 80 MB is below what {fmt} -> {sink} needs at its smallest sizes "
            f"({lowest} MB: the runtime and its libraries{holds})\n  hint: set --max-memory {lowest}MB or more\n",
        )


@pytest.mark.slow
def test_arrow_files_of_large_record_batches_get_the_ceiling_they_need(tmp_path: Path) -> None:
    """pyarrow's defaults (``write_feather``: 64Ki-row batches, LZ4) decode a batch whole: the
    lowest ceiling adds what the file's first batch needs, a lower one is refused naming the
    file, and the lowest holds as the OS measures the peak."""
    import pyarrow.feather as feather

    csv_path = tmp_path / "in.csv"
    make_csv(csv_path, 400_000)
    src = tmp_path / "in.arrow"
    feather.write_feather(pacsv.read_csv(str(csv_path)), str(src))
    detail = r"(\d+) MB to read (.+) as it was written \(4 columns, record batches of ([\d.]+) MB decoded\)"
    lowest, (reading, path, batch) = refused_then_held(src, tmp_path / "t.db", 86, detail, 400_000)
    assert path == str(src) and lowest > 86 and float(batch) > 1
    assert abs(int(reading) - 2 * float(batch)) <= 1  # the batch, and the body read to decode it


@pytest.mark.slow
def test_an_upsert_on_a_text_key_holds_the_lowest_ceiling(tmp_path: Path) -> None:
    """Upsert and ignore on random text keys (UUIDs) merge into pages all over the key's index:
    each merge's statement journal stays on disk, and the load holds CSV -> SQLite's lowest
    ceiling as an append does (it peaked 4 MB over it)."""
    import uuid

    src = tmp_path / "u.csv"
    with src.open("w") as fh:
        fh.write("id,u,name,amount\n")
        for i in range(200_000):
            fh.write(
                f"{i},{uuid.UUID(int=(i + 1) * 0x9E3779B97F4A7C15F39CC0605CEDC835 % 2**128)},name {i},{i * 0.25}\n"
            )
    for mode in ("upsert", "ignore"):
        report = run_report(src, tmp_path / f"{mode}.db", "--mode", mode, "--primary-key", "u", "--max-memory", "86MB")
        assert (report["status"], report["rows_written"]) == ("ok", 200_000), report
        assert report["peak_rss_mb"] <= 86


def test_a_ceiling_counts_what_the_run_keeps_of_each_of_many_files(tmp_path: Path) -> None:
    """A run keeps a record of each input file (its plan, state and report entry): 5,000
    small files peaked 91 MB under an accepted 86 MB ceiling. The lowest figure adds them, and
    holds: 4,000 files peaked 108 MB under the 98 MB named for them (the small files typed
    together held 8 MB past what their bytes counted), 10,000 into LevelDB 144 MB under 124."""
    from loader import sinks
    from loader.memory import files_mb

    sqlite, leveldb = sinks.get("sqlite"), sinks.get("leveldb")
    assert [files_mb(n, sqlite) for n in (1, 2, 1000, 5000)] == [0, 1, 3, 15]
    assert [files_mb(n, leveldb) for n in (1, 2, 1000, 5000)] == [0, 1, 7, 35]
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2000):
        (folder / f"f{i:04d}.csv").write_text(f"id,v\n{i},x\n")
    # far below the floor too (refused before the files are listed): one refusal, the whole figure
    for ceiling in ("86MB", "50MB"):
        p = cli("load", str(folder / "*.csv"), str(tmp_path / "t.db"), "--table", "t", "--max-memory", ceiling)
        assert (p.returncode, p.stderr) == (
            2,
            f"loader: error: run.max_memory: {ceiling[:-2]} MB is below what csv -> sqlite needs at its smallest sizes "
            "(92 MB: the runtime and its libraries, and the run's records of its 2,000 input files (6 MB))\n"
            "  hint: set --max-memory 92MB or more\n",
        )
    assert not (tmp_path / "t.db").exists()
    report = run_report(folder / "*.csv", tmp_path / "t.db", "--table", "t", "--max-memory", "92MB")
    assert (report["status"], report["rows_written"], report["peak_rss_mb"] <= 92) == ("ok", 2000, True), report
    # a rerun of one file reads the job's whole checkpoint (2,000 files' entries): counted once it is read
    one = str(folder / "f0001.csv")
    p = cli("load", one, str(tmp_path / "t.db"), "--table", "t", "--max-memory", "91MB")
    assert p.returncode == 2, p.stderr
    assert (
        "(92 MB: the runtime and its libraries, and the job's checkpoint of 2,000 entries, 1,999 of them beyond "
        "the input files' (6 MB))"
    ) in p.stderr
    report = run_report(one, tmp_path / "t.db", "--table", "t", "--max-memory", "92MB")
    assert (report["status"], report["files_skipped"], report["peak_rss_mb"] <= 92) == ("ok", 1, True), report


def test_an_engines_ceiling_counts_its_parts_of_many_files(tmp_path: Path) -> None:
    """The processes coordinator holds each part's task, result, report entry and checkpoint
    entry: 4,000 one-row files loaded into SQLite at the 98 MB named for threads peaked
    119 MB. The lowest figure adds the parts (none under threads, nor for one file), and holds."""
    from loader.config import JobConfig, RunConfig, SinkConfig, SourceConfig
    from loader.memory import parts_mb

    def job(engine: str) -> JobConfig:
        return JobConfig(
            SourceConfig(path=["x.csv"]), SinkConfig(type="sqlite", path="t.db"), run=RunConfig(engine=engine)
        )

    assert [parts_mb(job("processes"), n) for n in (1, 2, 1000, 4000)] == [0, 1, 6, 24]
    assert [parts_mb(job("threads"), n) for n in (1, 4000)] == [0, 0]
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(300):
        (folder / f"f{i:03d}.csv").write_text(f"id,v\n{i},a\n")
    args = ("load", str(folder / "*.csv"), str(tmp_path / "t.db"), "--table", "t", "--engine", "processes")
    p = cli(*args, "--max-memory", "50MB")
    assert p.returncode == 2
    assert p.stderr.startswith(
        "loader: error: run.max_memory: 50 MB is below what csv -> sqlite needs at its smallest sizes (94 MB: the "
        "runtime and its libraries, the process pool (5 MB), and the run's records of its 300 input files (1 MB), and the processes engine's "
        "parts of them (2 MB))\n"
    ), p.stderr
    report = run_report(
        folder / "*.csv", tmp_path / "t.db", "--table", "t", "--engine", "processes", "--max-memory", "94MB"
    )
    assert (report["status"], report["rows_written"], report["peak_rss_mb"] <= 94) == ("ok", 300, True), report


def test_a_rerun_of_the_files_a_ceiling_loaded_is_held_to_that_ceiling(tmp_path: Path) -> None:
    """hunt26e 6: 4,000 files loaded at 98 MB (peak 95), and every rerun of them was refused
    (112 MB: the files' records and the checkpoint's entries of those very files, counted
    twice), though it peaked at 85; the dry run said the ceiling was valid. An input's entry
    counts once, with the input; only the entries beyond the inputs add, dry run and load alike."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(400):
        (folder / f"f{i:03d}.csv").write_text(f"id,v\n{i},a\n")
    glob, db = str(folder / "*.csv"), str(tmp_path / "t.db")
    low = cli("load", glob, db, "--table", "t", "--max-memory", "50MB", "--dry-run")
    ceiling = re.findall(r"set --max-memory (\d+)MB or more", low.stderr)[0] + "MB"
    args = ("load", glob, db, "--table", "t", "--max-memory", ceiling)
    for run in ("load", "rerun"):
        assert cli(*args, "--dry-run").returncode == 0, run
        done = cli(*args)
        assert done.returncode == 0, (run, done.stderr)
    assert " from 0 files, 400 already loaded in " in done.stderr
    # one file of them: the 399 entries beyond it count, and the dry run refuses what the load refuses
    one = ("load", str(folder / "f000.csv"), db, "--table", "t", "--max-memory", f"{int(ceiling[:-2]) - 1}MB")
    plan, load = cli(*one, "--dry-run"), cli(*one)
    assert (plan.returncode, load.returncode) == (2, 2)
    assert "and the job's checkpoint of 400 entries, 399 of them beyond the input files' (2 MB))" in load.stderr
    assert plan.stderr.splitlines()[0] == load.stderr.splitlines()[0]


def test_small_files_typed_together_hold_the_room_the_blocks_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows of small CSV files typed together (``SmallFiles``) held 65,536 rows of any
    width: 640 files of 2 KB rows held 130 MB under a 150 MB ceiling. They hold a share of the
    room the CSV blocks are given (``sample_bytes``), fitted to the ceiling as the blocks are."""
    from loader import Pipeline
    from loader.config import job_from_dict
    from loader.memory import SAMPLE_COPIES, fit_memory, sample_bytes
    from loader.readers.csv import infer

    def fitted(sink: dict[str, Any], ceiling: str | None) -> Any:
        return fit_memory(job_from_dict({"source": {"path": "a.csv"}, "sink": sink, "run": {"max_memory": ceiling}}))

    default = fitted({"path": "a.db"}, None)
    assert sample_bytes(default) == (1 << 20) * 40 // SAMPLE_COPIES  # a 1 MiB block at 40 MB per MiB
    for sink in ({"path": "a.db"}, {"path": "a.ldb", "key": "{id}"}):
        low, high = sample_bytes(fitted(sink, "120MB")), sample_bytes(fitted(sink, "200MB"))
        assert 0 < low < high <= sample_bytes(fitted(sink, None)), sink
    for i in range(48):
        (tmp_path / f"d{i:02d}.csv").write_text(
            "id,a,b\n" + "".join(f"{i * 100 + j},{'x' * 1000},{'y' * 1000}\n" for j in range(100))
        )
    held: list[int] = []
    real = infer.SmallFiles.samples

    def samples(self: infer.SmallFiles) -> list[Any]:
        held.append(self.nbytes)
        return real(self)

    monkeypatch.setattr(infer.SmallFiles, "samples", samples)
    job = job_from_dict(
        {
            "source": {"path": str(tmp_path / "d*.csv")},
            "sink": {"path": str(tmp_path / "d.db"), "table": "d"},
            "run": {"max_memory": "120MB"},
        }
    )
    pipe = Pipeline(job)
    assert pipe.run().rows_written == 4800  # its peak is this test process's: see the command's below
    room = sample_bytes(pipe.job)
    assert room < 48 * 200_000  # the files' rows do not fit at once
    assert len([n for n in held if n]) > 1 and max(held) <= room, (held, room)
    assert sqlite_rows(tmp_path / "d.db", "SELECT typeof(id), typeof(a), count(*) FROM d GROUP BY 1, 2") == [
        ("integer", "text", 4800)
    ]


def make_documents(path: Path, rows: int = 600) -> None:
    """Rows of 100 KB of templated text (a mail, a page): a gzip of them is a few hundred KB."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as fh:
        fh.write("id,note,x\n")
        for i in range(rows):
            fh.write(f"{(i + 1) * 2654435761 % 2**32},{(f'lorem ipsum dolor {i} ' * 5000)[:100_000]},{i / 7}\n")


@pytest.mark.slow
@pytest.mark.parametrize("name,target", [("docs.csv.gz", "gz.db"), ("docs.csv", "docs.ldb")])
def test_documents_hold_the_ceiling_compressed_and_into_leveldb(tmp_path: Path, name: str, target: str) -> None:
    """A .gz small on disk was typed as a small file, parsed whole (203 MB under 100 MB); rows
    of 100 KB into LevelDB took the merge of their sorted runs 8 MB past 100 MB (a batch of a
    run holds a row at least: 100 KB, not 16)."""
    src = tmp_path / name
    make_documents(src)
    assert src.suffix != ".gz" or src.stat().st_size < 256 << 10
    fitted = run_report(src, tmp_path / target, "--max-memory", "100MB")
    assert (fitted["status"], fitted["rows_written"]) == ("ok", 600), fitted
    assert fitted["peak_rss_mb"] <= 100, fitted


@pytest.mark.slow
def test_many_small_files_of_wide_rows_hold_the_ceiling(tmp_path: Path) -> None:
    """400 files of 100 rows of 2 KB: typed together they held every row (80 MB) at once."""
    folder = tmp_path / "days"
    folder.mkdir()
    for f in range(400):
        (folder / f"day{f:04d}.csv").write_text(
            "id,"
            + ",".join(f"c{j}" for j in range(20))
            + "\n"
            + "".join(
                f"{f * 100 + i}," + ",".join(f"{j:02d}{i:03d}" * 20 for j in range(20)) + "\n" for i in range(100)
            )
        )
    fitted = run_report(folder / "*.csv", tmp_path / "days.db", "--table", "days", "--max-memory", "150MB")
    assert (fitted["status"], fitted["rows_written"]) == ("ok", 40_000), fitted
    assert fitted["peak_rss_mb"] <= 150, fitted
