"""Plots for docs/performance.md from the results ``bench/run.py`` writes (``--json``).

For the growth series: rows/s and peak RSS against input size, one line per reader -> sink
pair at default settings, the baselines beside them (dashed).

    python bench/plot.py                                   # bench/results/latest.json -> docs/img/
    python bench/plot.py RESULTS.json --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# (file name, y label, the value of one measured point)
PLOTS = (
    ("growth-rows-per-s.png", "rows/s", lambda p: p["rows"] / p["seconds"]),
    ("growth-peak-rss.png", "peak RSS (MB)", lambda p: p["rss_mb"]),
)


def lines(series: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The measured points of each case, by input size; failed runs left out."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in series:
        if "seconds" in point:
            out[point["name"]].append(point)
    return {name: sorted(points, key=lambda p: p["rows"]) for name, points in out.items()}


def _rows(x: float) -> str:
    return f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k"


def plot(results: dict[str, Any], out_dir: str) -> list[str]:
    """Write the plots; return their paths."""
    by_case = lines(results["series"])
    if not by_case:
        raise SystemExit("plot: no growth series in the results (run bench/run.py without --no-series)")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, label, value in PLOTS:
        fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
        for case, points in sorted(by_case.items(), key=lambda kv: (kv[1][0]["group"] != "loader", kv[0])):
            style = "-o" if points[0]["group"] == "loader" else "--s"
            ax.plot([p["rows"] for p in points], [value(p) for p in points], style, label=case, markersize=4)
        sizes = sorted({p["rows"] for points in by_case.values() for p in points})
        ax.set_xscale("log")
        ax.set_xticks(sizes, [_rows(n) for n in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("input rows (10 columns)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        ax.set_title(f"{label} against input size", fontsize=10)
        fig.text(0.01, 0.01, results["environment"], fontsize=5, color="gray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = os.path.join(out_dir, name)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Plot bench/run.py's growth series for docs/performance.md.")
    ap.add_argument("results", nargs="?", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "img"), help="directory for the PNG files")
    args = ap.parse_args(argv)
    with open(args.results, encoding="utf-8") as fh:
        results = json.load(fh)
    for path in plot(results, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
