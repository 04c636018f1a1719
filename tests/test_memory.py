"""Peak memory depends on chunk size, not on input size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.reliability_util import cli

ROOT = Path(__file__).parents[1]


def make_csv(path: Path, rows: int) -> None:
    """Write a mixed-type CSV in slices, so the test itself stays small."""
    with pacsv.CSVWriter(str(path), schema := pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64()), ("zip", pa.string())])) as w:
        step = 100_000
        for lo in range(0, rows, step):
            n = min(step, rows - lo)
            ids = pa.array(range(lo, lo + n), pa.int64())
            w.write_batch(
                pa.record_batch(
                    [ids, pa.array([f"name {i}" for i in range(lo, lo + n)]), pa.array([i * 0.25 for i in range(lo, lo + n)]), pa.array([f"{i % 10000:05d}" for i in range(lo, lo + n)])],
                    schema=schema,
                )
            )


def peak(src: Path, target: Path, *extra: str) -> float:
    return float(run_report(src, target, *extra)["peak_rss_mb"])


def run_report(src: Path, target: Path, *extra: str) -> dict:
    report = target.with_suffix(".json")
    p = cli("load", str(src), str(target), "--quiet", "--report", str(report), *(["--key", "{id}"] if target.suffix == ".ldb" else []), *extra, timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(report.read_text())  # type: ignore[no-any-return]


@pytest.mark.slow
def convert_csv(csv_path: Path, fmt: str) -> Path:
    """The CSV file rewritten as ``fmt``, batch by batch."""
    if fmt == "csv":
        return csv_path
    out = csv_path.with_suffix({"parquet": ".parquet", "jsonl": ".jsonl", "arrow": ".arrow"}[fmt])
    with pacsv.open_csv(str(csv_path), convert_options=pacsv.ConvertOptions(column_types={"zip": pa.string()})) as reader:
        if fmt == "parquet":
            with pq.ParquetWriter(str(out), reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
        elif fmt == "arrow":
            with pa.ipc.new_file(str(out), reader.schema) as w:
                for batch in reader:
                    w.write_batch(batch)
        else:
            with open(out, "w", encoding="utf-8") as fh:
                for batch in reader:
                    batch.to_pandas().to_json(fh, orient="records", lines=True, double_precision=15)
    return out


@pytest.mark.parametrize("fmt,sink", [("csv", ".db"), ("parquet", ".ldb"), ("jsonl", ".db"), ("arrow", ".ldb")])
def test_peak_rss_is_flat_for_8x_input(tmp_path: Path, fmt: str, sink: str) -> None:
    small, large = 150_000, 1_200_000
    paths = {}
    for n in (small, large):
        csv_path = tmp_path / f"in{n}.csv"
        make_csv(csv_path, n)
        paths[n] = convert_csv(csv_path, fmt)
    p_small = peak(paths[small], tmp_path / f"small{sink}")
    p_large = peak(paths[large], tmp_path / f"large{sink}")
    assert p_large < p_small * 1.25, (p_small, p_large)


def test_the_command_asks_for_jemalloc_before_pyarrow_starts(tmp_path: Path) -> None:
    """The loader command sets Arrow's pool before pyarrow is imported; a user's choice wins."""
    probe = (
        "import sys, contextlib, loader.__main__ as m\n"
        "sys.argv = ['loader', 'validate', '--help']\n"
        "with contextlib.suppress(SystemExit):\n"
        "    m.main()\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-1] == "jemalloc"
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-1] == "system"


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


@pytest.mark.slow
@pytest.mark.parametrize("fmt,sink", [("csv", ".db"), ("parquet", ".db"), ("csv", ".ldb"), ("parquet", ".ldb")])
def test_default_peak_and_max_memory_ceiling(tmp_path: Path, fmt: str, sink: str) -> None:
    """Every reader and sink pair stays under 150 MB at default settings, and under
    the ceiling with --max-memory 100MB, which the report names with the sizes used."""
    src = tmp_path / "in.csv"
    make_csv(src, 400_000)
    if fmt == "parquet":
        pq.write_table(pacsv.read_csv(str(src)), str(tmp_path / "in.parquet"))
        src = tmp_path / "in.parquet"
    default = run_report(src, tmp_path / f"default{sink}")
    fitted = run_report(src, tmp_path / f"fitted{sink}", "--max-memory", "100MB")
    assert default["peak_rss_mb"] <= 150
    assert fitted["peak_rss_mb"] <= 100
    assert fitted["max_memory_mb"] == 100.0
    assert fitted["chunk_size"] < default["chunk_size"]
    assert fitted["rows_written"] == default["rows_written"] == 400_000


@pytest.mark.slow
def test_parsing_workers_stay_under_both_ceilings(tmp_path: Path) -> None:
    """Each worker holds a block of its own: the default run stays under 150 MB, and
    --max-memory shrinks the blocks to keep every worker under the ceiling."""
    src = tmp_path / "in.csv"
    make_csv(src, 400_000)
    default = run_report(src, tmp_path / "default.ldb", "--workers", "2")
    fitted = run_report(src, tmp_path / "fitted.ldb", "--workers", "2", "--max-memory", "100MB")
    assert default["workers"] == fitted["workers"] == 2
    assert default["peak_rss_mb"] <= 150
    assert fitted["peak_rss_mb"] <= 100
    assert fitted["rows_written"] == default["rows_written"] == 400_000
