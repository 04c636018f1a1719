"""bench/plot.py draws the performance page's plots from bench/run.py's results file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.image
import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import plot  # noqa: E402


def point(name: str, group: str, rows: int, seconds: float, rss: float) -> dict[str, object]:
    fmt, sink = ("csv", "sqlite") if group == "baseline" else (name.split()[1], name.split()[-1])
    return {"name": name, "group": group, "format": fmt, "sink": sink, "rows": rows, "seconds": seconds, "rss_mb": rss}


RESULTS = {
    "environment": "2 cores, test",
    "rows": 2000,
    "runs": 1,
    "cases": [],
    "series": [
        point("loader csv -> sqlite", "loader", 200_000, 0.5, 90.0),
        point("loader csv -> sqlite", "loader", 50_000, 0.2, 85.0),
        point("loader parquet -> leveldb", "loader", 50_000, 0.3, 80.0),
        {
            "name": "loader parquet -> leveldb",
            "group": "loader",
            "format": "parquet",
            "sink": "leveldb",
            "rows": 200_000,
            "error": "exited 1",
        },
        point("sqlite3 shell `.import` (typed table)", "baseline", 50_000, 0.1, 20.0),
    ],
}


def test_points_by_case_sorted_by_size_without_failed_runs() -> None:
    by_case = plot.lines(RESULTS["series"])
    assert [p["rows"] for p in by_case["loader csv -> sqlite"]] == [50_000, 200_000]
    assert [p["rows"] for p in by_case["loader parquet -> leveldb"]] == [50_000]
    assert set(by_case) == {
        "loader csv -> sqlite",
        "loader parquet -> leveldb",
        "sqlite3 shell `.import` (typed table)",
    }


def test_plot_writes_the_images_the_performance_page_shows(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    results.write_text(json.dumps(RESULTS))
    out = tmp_path / "img"
    assert plot.main([str(results), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["growth-peak-rss.png", "growth-rows-per-s.png"]
    for name in names:
        height, width, _ = matplotlib.image.imread(out / name).shape
        assert (width, height) == (770, 550)
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    for name in names:
        assert f"](img/{name})" in page and (ROOT / "docs" / "img" / name).exists()


def test_plot_without_a_series_says_so(tmp_path: Path) -> None:
    results = tmp_path / "latest.json"
    results.write_text(json.dumps({**RESULTS, "series": []}))
    with pytest.raises(
        SystemExit, match=r"^plot: no growth series in the results \(run bench/run.py without --no-series\)$"
    ):
        plot.main([str(results), "--out", str(tmp_path)])
    assert not list(tmp_path.glob("*.png"))
