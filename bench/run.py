"""Benchmark runner: ``loader`` against the sqlite3 shell and hand-written loops.

Every case runs as its own process, timed from outside (wall clock) with
peak RSS from the OS (``os.wait4``'s rusage of that child), several runs
each, interleaved so that a slow moment on the machine hits every case
alike; the table shows medians and ratios computed within this one run.

    python bench/run.py                      # 1M rows, 5 runs, growth series 1M/4M
    python bench/run.py --quick              # 100k rows, 1 run, small series
    python bench/run.py --with-16m           # the growth series goes on to 16M rows
    python bench/run.py --out bench/results/latest.md
    python bench/run.py --jsonl              # JSON Lines -> SQLite against DuckDB and pandas only
    python bench/run.py --scaling --rows 1M  # the engines with 1 and 2 workers (docs/engines.md)
    python bench/plot.py                     # the plots of docs/performance.md, from latest.json

Ids are scrambled (unique, in no order, as hashed or allocated ids arrive), so
LevelDB sees real key order; sorted ids and UUID keys are extra, labelled cases.

The table is Markdown on stdout, ready for the README; ``--json`` (by default beside
``--out``) keeps every measurement for ``bench/plot.py``. Missing baselines
(no ``sqlite3`` shell) are skipped with a note, never faked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from columns import CHAIN_OUTPUT, COLUMNS, IDS, data_path  # noqa: E402  (no pyarrow: see run_child)

SQLITE3_SHELL = "/usr/bin/sqlite3"
LEVELDB_KEY = "{id}"


@dataclass
class Case:
    name: str
    fmt: str  # input format
    sink: str  # sqlite | leveldb
    argv: Callable[[str, str], list[str]]  # (data path, target) -> command
    setup: Callable[[str], None] | None = None  # untimed, before each run
    group: str = "loader"  # loader | baseline
    env: dict[str, str] = field(default_factory=dict)  # extra settings, as LOADER_* variables
    ids: str = IDS[0]  # the input's id column: scrambled, sorted or uuid (see gen.py)
    times: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass
class Result:
    seconds: float
    rss_mb: float


def run_child(argv: list[str], env: dict[str, str] | None = None) -> Result:
    """Run one process; wall time and its peak RSS as the OS counts it.

    Linux carries a parent's peak RSS into a forked child's ``ru_maxrss``, so
    this runner never imports pyarrow: it stays ~15 MB, below any child. The disk is
    synced first, untimed: an earlier run's writes still going out (gigabytes at 16M rows)
    would slow whichever case ran next."""
    if hasattr(os, "sync"):
        os.sync()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Result(elapsed, rss)


def clean(target: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".lock", ".rejects.jsonl", ".parts", ".runs"):
        path = target + suffix
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def loader_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADER_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def compile_package() -> None:
    """Time the package as pip installs it, its bytecode compiled. From a
    checkout under PYTHONDONTWRITEBYTECODE (set in many containers) each timed
    run would compile every module again: ~40 ms a run, 2% of a 1M-row load."""
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "loader"), quiet=1)


def loader_argv(*extra: str) -> Callable[[str, str], list[str]]:
    def argv(data: str, target: str) -> list[str]:
        sink = ["--key", LEVELDB_KEY] if target.endswith(".ldb") else ["--table", "t"]
        return [sys.executable, "-m", "loader", "load", data, target, *sink, "--quiet", *extra]

    return argv


def create_typed_table(target: str) -> None:
    conn = sqlite3.connect(target)
    cols = ", ".join(f'"{name}" {t}' for name, t in COLUMNS)
    conn.execute(f"CREATE TABLE t ({cols})")
    conn.commit()
    conn.close()


def find_shell() -> str | None:
    """The sqlite3 shell: Debian's, else the first on PATH."""
    return SQLITE3_SHELL if os.access(SQLITE3_SHELL, os.X_OK) else shutil.which("sqlite3")


def shell_case(name: str, shell: str | None, command: Callable[[str], str], notes: list[str]) -> list[Case]:
    """The sqlite3 shell's baseline, running ``command(data)`` in CSV mode into a typed table
    (none, and a note, without a shell)."""
    if not shell:
        notes.append(
            f"sqlite3 shell not found at {SQLITE3_SHELL} (Debian package `sqlite3`): `.import` baseline skipped, no ratios to it"
        )
        return []
    return [
        Case(
            name,
            "csv",
            "sqlite",
            lambda d, t: [shell, "-cmd", ".mode csv", t, command(d)],
            setup=create_typed_table,
            group="baseline",
        )
    ]


def cases(shell: str | None, stdlib: bool) -> tuple[list[Case], list[str]]:
    notes: list[str] = []
    out = shell_case("sqlite3 shell `.import` (typed table)", shell, lambda d: f".import --skip 1 {d} t", notes)
    py = sys.executable
    out.append(
        Case(
            "pyarrow open_csv thread -> executemany (hand-written)",
            "csv",
            "sqlite",
            lambda d, t: [py, os.path.join(HERE, "baselines", "pyarrow_sqlite.py"), d, t],
            group="baseline",
        )
    )
    if stdlib:
        types = ",".join(t for _, t in COLUMNS)
        out.append(
            Case(
                "stdlib csv -> executemany",
                "csv",
                "sqlite",
                lambda d, t: [py, os.path.join(HERE, "baselines", "stdlib_sqlite.py"), d, t, types],
                group="baseline",
            )
        )
    out += [
        Case("loader csv -> sqlite", "csv", "sqlite", loader_argv()),
        Case("loader parquet -> sqlite", "parquet", "sqlite", loader_argv()),
        Case("loader csv -> leveldb (json values)", "csv", "leveldb", loader_argv()),
        Case("loader csv -> leveldb, --sort never", "csv", "leveldb", loader_argv("--sort", "never")),
        Case("loader csv -> leveldb, --workers 2", "csv", "leveldb", loader_argv("--workers", "2")),
        Case("loader parquet -> leveldb (json values)", "parquet", "leveldb", loader_argv()),
        Case("loader parquet -> leveldb, --sort never", "parquet", "leveldb", loader_argv("--sort", "never")),
        Case(
            "loader parquet -> leveldb, compression snappy",
            "parquet",
            "leveldb",
            loader_argv("--compression", "snappy"),
        ),
        Case("loader csv -> leveldb, UUID keys", "csv", "leveldb", loader_argv(), ids="uuid"),
        Case(
            "loader csv -> leveldb, sorted ids (extra: LevelDB's best case)",
            "csv",
            "leveldb",
            loader_argv(),
            ids="sorted",
        ),
        Case("loader parquet -> leveldb, sorted ids (extra)", "parquet", "leveldb", loader_argv(), ids="sorted"),
        Case("loader csv -> sqlite, --max-memory 100MB", "csv", "sqlite", loader_argv("--max-memory", "100MB")),
        Case("loader parquet -> sqlite, --max-memory 100MB", "parquet", "sqlite", loader_argv("--max-memory", "100MB")),
        Case("loader csv -> leveldb, --max-memory 100MB", "csv", "leveldb", loader_argv("--max-memory", "100MB")),
        Case(
            "loader parquet -> leveldb, --max-memory 100MB", "parquet", "leveldb", loader_argv("--max-memory", "100MB")
        ),
        *engine_cases(),
        Case(CHAIN, "csv", "sqlite", chain_argv),
        Case(CHAIN_PARQUET, "parquet", "sqlite", chain_argv),
        Case(CHAIN_OUTPUT_LOAD, CHAIN_OUTPUT, "sqlite", loader_argv()),
    ]
    return out, notes


def engine_cases() -> list[Case]:
    """The engines against threads (the cases above): a process pool, and a Dask
    LocalCluster started by the run (its start-up is in the time)."""
    return [
        Case(f"loader csv -> {sink}, --engine {engine}", "csv", sink, loader_argv("--engine", engine))
        for sink in ("sqlite", "leveldb")
        for engine in ("processes", "dask")
    ]


SCALING_WORKERS = (1, 2)
SCALING_PARTS = 16  # run.part_size a 16th of the file (21 parts with the ramps): every worker busy to the end
PROJECTED_WORKERS = (8, 32)


def scaling_cases() -> list[Case]:
    """CSV -> SQLite on a process pool and on a Dask LocalCluster (started by the run) of 1
    and 2 workers, ``run.part_size`` a ``SCALING_PARTS``th of the file; each run writes its report, whose
    parts hold the workers' and the coordinator's seconds."""

    def argv(engine: str, n: int, side: str) -> Callable[[str, str], list[str]]:
        def make(data: str, target: str) -> list[str]:
            part = str(max(1 << 20, os.path.getsize(data) // SCALING_PARTS + 1))
            flags = ("--engine", engine, "--workers", str(n), "--part-size", part, "--report", target + ".report.json")
            return loader_argv(*flags, "--set", f"run.part_results={side}")(data, target)

        return make

    # the parts' results as side databases (the default: the writer's ceiling for a larger
    # cluster), and as Arrow files (the writer binds every row)
    return [
        Case(
            f"loader csv -> sqlite,{SIDE_NAMES[side]} --engine {engine} --workers {n}",
            "csv",
            "sqlite",
            argv(engine, n, side),
        )
        for engine, side in (("processes", "database"), ("processes", "arrow"), ("dask", "database"))
        for n in SCALING_WORKERS
    ]


SIDE_NAMES = {"database": "", "arrow": " parts as Arrow files,"}


@dataclass
class Scaling:
    """One scaling case's runs, from their reports."""

    engine: str
    workers: int
    side: str
    busy_rows_s: list[float] = field(default_factory=list)  # rows / the workers' seconds on parts
    commit_rows_s: list[float] = field(default_factory=list)  # rows / the coordinator's seconds committing


def run_scaling_table(args: argparse.Namespace, rows: int, runs: int, work: str) -> tuple[list[str], list[Case]]:
    """The engines' scaling: 1 and 2 workers, rows/s per worker as a ratio to 1 worker, the
    workers' rate while busy and the single writer's while committing (its ceiling)."""
    all_cases = [Case(PLAIN, "csv", "sqlite", loader_argv()), *scaling_cases()]
    data = ensure_data(args.data, rows)["csv"]
    scaling = {
        c.name: Scaling(c.name.split()[-3], int(c.name.split()[-1]), "arrow" if "Arrow files" in c.name else "database")
        for c in all_cases[1:]
    }

    def run_all() -> None:
        for run in range(runs):
            for i, c in enumerate(all_cases):
                if c.error is None:
                    print(f"run {run + 1}/{runs}: {c.name}", file=sys.stderr, flush=True)
                    target = target_for(work, i, c.sink)
                    run_case(c, data, target)
                    if c.name in scaling and c.error is None:
                        note_scaling(scaling[c.name], target + ".report.json")

    how = measured(runs, run_all)
    out = [
        f"Engine scaling: CSV -> SQLite, {rows:,} rows ({os.path.getsize(data) / 1e6:.0f} MB), {how}",
        "",
        *scaling_table(all_cases, scaling, rows),
    ]
    notes = [f"{c.name} failed: {c.error}" for c in all_cases if c.error]
    return out + [f"Note: {n}" for n in notes], all_cases


def note_scaling(into: Scaling, report_path: str) -> None:
    with open(report_path, encoding="utf-8") as fh:
        report = json.load(fh)
    os.remove(report_path)
    parts = report["parts"]
    into.busy_rows_s.append(report["rows_read"] / max(sum(p["seconds"] for p in parts), 1e-9))
    into.commit_rows_s.append(report["rows_written"] / max(sum(p["commit_seconds"] for p in parts), 1e-9))


def scaling_table(all_cases: list[Case], scaling: dict[str, Scaling], rows: int) -> list[str]:
    lines = [
        "| case | median s | rows/s | rows/s per worker | per worker vs 1 worker "
        "| a worker's rows/s while busy | the writer's rows/s while committing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    one: dict[str, float] = {}
    for c in all_cases:
        if not c.times or c.error is not None:
            lines.append(f"| {c.name} | failed | | | | | |")
            continue
        rate = rows / statistics.median(c.times)
        s = scaling.get(c.name)
        if s is None:  # threads: the reference
            lines.append(f"| {c.name} | {statistics.median(c.times):.2f} | {rate:,.0f} | | | | |")
            continue
        per = rate / s.workers
        one.setdefault(c.name.rsplit(" --workers", 1)[0], per)
        lines.append(
            f"| {c.name} | {statistics.median(c.times):.2f} | {rate:,.0f} | {per:,.0f} "
            f"| {fmt_ratio(per / one[c.name.rsplit(' --workers', 1)[0]])} "
            f"| {statistics.median(s.busy_rows_s):,.0f} | {statistics.median(s.commit_rows_s):,.0f} |"
        )
    for side in ("database", "arrow"):
        measured = [s for s in scaling.values() if s.side == side and s.commit_rows_s]
        if measured:
            lines += ["", projection(measured, side)]
    return lines


def projection(scaling: list[Scaling], side: str) -> str:
    """Rows/s for more workers: each adds a worker's rate while busy, up to the writer's ceiling."""
    busy = statistics.median(r for s in scaling for r in s.busy_rows_s)
    ceiling = statistics.median(r for s in scaling for r in s.commit_rows_s)
    guesses = ", ".join(f"{n} workers ~{min(n * busy, ceiling):,.0f} rows/s" for n in PROJECTED_WORKERS)
    return (
        f"Projection (docs/engines.md), parts as {'Arrow files' if side == 'arrow' else 'side databases'}: "
        f"a worker's rate while busy {busy:,.0f} rows/s, the single writer's ceiling {ceiling:,.0f} rows/s "
        f"(medians over the cases), reached from {math.ceil(ceiling / busy)} workers on; {guesses}."
    )


CHAIN = "loader csv -> sqlite, 5 transform stages"
PLAIN = "loader csv -> sqlite"
CHAIN_PARQUET = "loader parquet -> sqlite, 5 transform stages"
PLAIN_PARQUET = "loader parquet -> sqlite"
# the chain's output written by gen.py, loaded without stages: what storing its columns costs
CHAIN_OUTPUT_LOAD = "loader parquet -> sqlite, the chain's output as input, no stages"


def chain_argv(data: str, target: str) -> list[str]:
    job = os.path.join(HERE, "transform_chain.toml")
    return [
        sys.executable,
        "-m",
        "loader",
        "run",
        job,
        "--quiet",
        "--set",
        f"source.path={data}",
        "--set",
        f"sink.path={target}",
    ]


def chain_overhead(all_cases: list[Case]) -> str | None:
    """The transform chain's cost as a share of the same load without it."""
    times = {c.name: statistics.median(c.times) for c in all_cases if c.times and c.error is None}
    if CHAIN not in times or PLAIN not in times:
        return None
    extra = times[CHAIN] / times[PLAIN] - 1
    text = (
        f"Transform chain (cast, filter, derive, rename, fill_null; bench/transform_chain.toml): "
        f"{extra:+.1%} time against the same load without it (target: under +15%)."
    )
    if all(name in times for name in (CHAIN_PARQUET, PLAIN_PARQUET, CHAIN_OUTPUT_LOAD)):
        chain = times[CHAIN_PARQUET] / times[PLAIN_PARQUET] - 1
        output = times[CHAIN_OUTPUT_LOAD] / times[PLAIN_PARQUET] - 1
        text += (
            f" Split on Parquet input: the chain {chain:+.1%}; the same output loaded from a file that already"
            f" holds it, no stages, {output:+.1%} (its derive adds two columns for SQLite to store);"
            f" so the stages themselves {chain - output:+.1%}."
        )
    return text


def target_for(work: str, case_index: int, sink: str) -> str:
    return os.path.join(work, f"case{case_index}" + (".db" if sink == "sqlite" else ".ldb"))


def run_case(case: Case, data: str, target: str) -> None:
    clean(target)
    if case.setup is not None:
        case.setup(target)
    env = {**loader_env(), **case.env} if case.group == "loader" else None
    try:
        r = run_child(case.argv(data, target), env)
    except RuntimeError as exc:
        case.error = str(exc)
        return
    case.times.append(r.seconds)
    case.rss_mb.append(r.rss_mb)
    clean(target)


def fmt_ratio(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}x"


def main_table(all_cases: list[Case], rows: int) -> list[str]:
    def median(c: Case) -> float | None:
        return statistics.median(c.times) if c.times and c.error is None else None

    imp = next((median(c) for c in all_cases if c.name.startswith("sqlite3 shell")), None)
    loop = next((median(c) for c in all_cases if c.name.startswith("pyarrow open_csv")), None)
    lines = [
        "| case | rows | median s | rows/s | vs `.import` | vs pyarrow loop | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in all_cases:
        m = median(c)
        if m is None:
            lines.append(f"| {c.name} | {rows:,} | failed | | | | |")
            continue
        lines.append(
            f"| {c.name} | {rows:,} | {m:.2f} | {rows / m:,.0f} | {fmt_ratio(imp / m if imp else None)} "
            f"| {fmt_ratio(loop / m if loop else None)} | {statistics.median(c.rss_mb):.0f} |"
        )
    return lines


def growth_table(series: list[int], results: dict[tuple[str, str], dict[int, Result | str]]) -> list[str]:
    head = (
        "| reader -> sink | "
        + " | ".join(f"{n:,} rows: rows/s, peak MB" for n in series)
        + " | RSS growth | speed change |"
    )
    lines = [head, "|---|" + "---:|" * (len(series) + 2)]
    for (fmt, sink), per in results.items():
        cells = []
        for n in series:
            r = per.get(n)
            cells.append(f"{n / r.seconds:,.0f}, {r.rss_mb:.0f}" if isinstance(r, Result) else "failed" if r else "-")
        ran = [n for n in series if isinstance(per.get(n), Result)]
        a, b = (per.get(ran[0]), per.get(ran[-1])) if ran else (None, None)
        if isinstance(a, Result) and isinstance(b, Result):
            growth = f"{b.rss_mb / a.rss_mb:.2f}x"
            speed = f"{(ran[-1] / b.seconds) / (ran[0] / a.seconds):.2f}x"
        else:
            growth = speed = ""
        lines.append(f"| {fmt} -> {sink} | " + " | ".join(cells) + f" | {growth} | {speed} |")
    return lines


JSONL_BASELINES = [
    # (name, module it needs, script in bench/baselines)
    ("DuckDB read_json -> Arrow batches -> ADBC SQLite ingest", "duckdb", "duckdb_jsonl_sqlite.py"),
    ("pandas read_json(lines=True, chunksize=65536) -> to_sql", "pandas", "pandas_jsonl_sqlite.py"),
]


def jsonl_cases() -> tuple[list[Case], list[str]]:
    """JSON Lines -> SQLite: loader, DuckDB's reader and pandas' (each skipped with a note if not installed)."""
    from importlib.util import find_spec  # finds without importing: the runner stays small

    out, notes = [], []
    for name, module, script in JSONL_BASELINES:
        if find_spec(module) is None:
            notes.append(f"{module} is not installed: {name!r} skipped")
            continue
        path = os.path.join(HERE, "baselines", script)
        out.append(
            Case(name, "jsonl", "sqlite", lambda d, t, path=path: [sys.executable, path, d, t], group="baseline")
        )
    return [*out, Case("loader jsonl -> sqlite", "jsonl", "sqlite", loader_argv())], notes


def run_jsonl_table(args: argparse.Namespace, rows: int, runs: int, work: str) -> tuple[list[str], list[Case]]:
    """The JSON Lines section: every case ``runs`` times, interleaved, rows/s and peak RSS against DuckDB's."""
    all_cases, notes = jsonl_cases()
    data = data_path(args.data, rows, "jsonl")
    if not os.path.exists(data):
        gen = [sys.executable, os.path.join(HERE, "gen.py"), "--rows", str(rows), "--out", args.data]
        subprocess.run([*gen, "--format", "jsonl"], check=True)
    how = measured(runs, lambda: run_interleaved(all_cases, runs, work, lambda c: data))
    out = [
        f"JSON Lines -> SQLite: {rows:,} rows x {len(COLUMNS)} columns ({os.path.getsize(data) / 1e6:.0f} MB, "
        f"as pandas' to_json writes them), {how}",
        "",
        "| case | rows | median s | rows/s | vs DuckDB | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
        *ratio_lines(all_cases, rows, f"{rows:,}", JSONL_BASELINES[0][0]),
    ]
    notes += [f"{c.name} failed: {c.error}" for c in all_cases if c.error]
    return out + [f"Note: {n}" for n in notes], all_cases


def ratio_lines(all_cases: list[Case], rows: int, count: str, baseline: str | None) -> list[str]:
    """A table line per case: ``count`` (its rows, or files), median seconds, rows/s, the
    ratio to the ``baseline`` case's median, peak RSS."""
    medians = {c.name: statistics.median(c.times) for c in all_cases if c.times and c.error is None}
    base = medians.get(baseline) if baseline is not None else None
    out = []
    for c in all_cases:
        m = medians.get(c.name)
        if m is None:
            out.append(f"| {c.name} | {count} | failed | | | |")
            continue
        ratio = fmt_ratio(base / m if base else None)
        out.append(f"| {c.name} | {count} | {m:.2f} | {rows / m:,.0f} | {ratio} | {statistics.median(c.rss_mb):.0f} |")
    return out


def many_files(data_dir: str, rows: int, files: int) -> tuple[str, str]:
    """The main CSV cut into ``files`` files of equal rows (each with the header) in a folder of
    their own, made once; the glob of its files, and a sqlite3 shell script importing each."""
    source = ensure_data(data_dir, rows)["csv"]
    folder = os.path.join(data_dir, f"many_{rows}_{files}")
    script = folder + ".sql"
    if not os.path.exists(script):
        os.makedirs(folder, exist_ok=True)
        per = -(-rows // files)
        names = []
        with open(source, encoding="utf-8") as fh:  # the generator writes no line break inside a value
            header = fh.readline()
            for i in range(files):
                names.append(os.path.join(folder, f"part-{i:05d}.csv"))
                with open(names[-1], "w", encoding="utf-8") as out:
                    out.write(header)
                    out.writelines(line for _, line in zip(range(per), fh, strict=False))
        with open(script + ".tmp", "w", encoding="utf-8") as out:
            out.writelines(f".import --skip 1 {name} t\n" for name in names)
        os.replace(script + ".tmp", script)
    return os.path.join(folder, "*.csv"), script


def many_cases(shell: str | None, script: str) -> tuple[list[Case], list[str]]:
    """Many small CSV files: the sqlite3 shell importing each (a transaction per file), and loader
    on the glob, into SQLite on each engine and into LevelDB."""
    notes: list[str] = []
    out = shell_case("sqlite3 shell `.import` of each file (typed table)", shell, lambda d: f".read {script}", notes)
    out += [
        Case("loader csv -> sqlite (threads)", "csv", "sqlite", loader_argv()),
        Case("loader csv -> sqlite (processes)", "csv", "sqlite", loader_argv("--engine", "processes")),
        Case("loader csv -> leveldb (threads)", "csv", "leveldb", loader_argv()),
    ]
    return out, notes


def run_many_table(args: argparse.Namespace, rows: int, runs: int, work: str) -> tuple[list[str], list[Case]]:
    """The many-files section: ``rows`` rows cut into ``--many-files`` files, every case ``runs``
    times, interleaved; rows/s and peak RSS against the shell's import of each file."""
    files = args.many_files
    glob, script = many_files(args.data, rows, files)
    shell = find_shell()
    all_cases, notes = many_cases(shell, script)
    how = measured(runs, lambda: run_interleaved(all_cases, runs, work, lambda c: glob))
    out = [
        f"Many files: {rows:,} rows x {len(COLUMNS)} columns cut into {files:,} CSV files of "
        f"{-(-rows // files):,} rows, {how}",
        "",
        "| case | files | median s | rows/s | vs `.import` | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
        *ratio_lines(all_cases, rows, f"{files:,}", all_cases[0].name if shell else None),
    ]
    notes += [f"{c.name} failed: {c.error}" for c in all_cases if c.error]
    return out + [f"Note: {n}" for n in notes], all_cases


def ensure_data(out_dir: str, rows: int, chain: bool = False, ids: str = IDS[0]) -> dict[str, str]:
    """CSV and Parquet inputs of ``rows`` rows (and the transform chain's output,
    if asked), generated (in a child process) once."""
    gen = [sys.executable, os.path.join(HERE, "gen.py"), "--rows", str(rows), "--out", out_dir, "--ids", ids]
    paths = {fmt: data_path(out_dir, rows, fmt, ids) for fmt in ("csv", "parquet")}
    if not all(os.path.exists(p) for p in paths.values()):
        subprocess.run(gen, check=True)
    if chain:
        paths[CHAIN_OUTPUT] = data_path(out_dir, rows, CHAIN_OUTPUT, ids)
        if not os.path.exists(paths[CHAIN_OUTPUT]):
            subprocess.run([*gen, "--format", CHAIN_OUTPUT], check=True)
    return paths


def load_average() -> str:
    """The 1-minute load average: other work on the machine slows every case alike, not the ratios."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def environment() -> str:
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, pyarrow {version('pyarrow')}, "
        f"SQLite {sqlite3.sqlite_version} (Python's sqlite3: the baselines), "
        f"adbc-driver-sqlite {version('adbc-driver-sqlite')} (loader), {time.strftime('%Y-%m-%d')}"
    )


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("mk")) * mult))
    return out


def results_json(rows: int, runs: int, env: str, all_cases: list[Case], series: list[dict[str, object]]) -> str:
    """Every measurement of this run, machine-readable: the main cases and the growth series."""
    main = [
        {
            "name": c.name,
            "group": c.group,
            "format": c.fmt,
            "sink": c.sink,
            "ids": c.ids,
            "rows": rows,
            "seconds": c.times,
            "rss_mb": c.rss_mb,
            "error": c.error,
        }
        for c in all_cases
    ]
    return (
        json.dumps({"environment": env, "rows": rows, "runs": runs, "cases": main, "series": series}, indent=1) + "\n"
    )


def point_json(name: str, group: str, fmt: str, sink: str, rows: int, r: Result | str) -> dict[str, object]:
    point: dict[str, object] = {"name": name, "group": group, "format": fmt, "sink": sink, "rows": rows}
    point.update({"seconds": r.seconds, "rss_mb": r.rss_mb} if isinstance(r, Result) else {"error": r})
    return point


def run_baseline(case: Case, data: str, target: str) -> Result | str:
    """One run of a baseline for the growth series, its setup untimed."""
    clean(target)
    if case.setup is not None:
        case.setup(target)
    try:
        return run_child(case.argv(data, target))
    except RuntimeError as exc:
        return str(exc)
    finally:
        clean(target)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Benchmark loader against the sqlite3 shell and hand-written loops.")
    ap.add_argument("--rows", type=parse_sizes, default=None, help="rows for the main table (default 1M; --quick 100k)")
    ap.add_argument("--runs", type=int, default=None, help="runs per case, interleaved (default 5; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="100k rows, 1 run, series 50k,200k,800k")
    ap.add_argument("--series", type=parse_sizes, default=None, help="growth sizes (default 1M,4M)")
    ap.add_argument(
        "--with-16m", action="store_true", help="extend the growth series to 16M rows (LevelDB pairs only; ~2 GB CSV)"
    )
    ap.add_argument("--no-series", action="store_true", help="skip the memory-growth series")
    ap.add_argument("--engines", action="store_true", help="only `.import` and CSV loads on each run.engine")
    ap.add_argument("--scaling", action="store_true", help="the engines' scaling table only (1 and 2 workers)")
    ap.add_argument("--no-stdlib", action="store_true", help="skip the stdlib csv baseline")
    ap.add_argument(
        "--jsonl",
        action="store_true",
        help="only the JSON Lines section: loader against DuckDB's read_json and pandas' read_json, into SQLite",
    )
    ap.add_argument(
        "--many-files",
        type=int,
        default=None,
        metavar="N",
        help="only the many-files section: the rows (default 100k) cut into N CSV files, against the shell's import of each",
    )
    ap.add_argument(
        "--only",
        default=None,
        help="run only the loader cases whose name matches this regular expression (and the baselines)",
    )
    ap.add_argument("--data", default=os.path.join(HERE, "data"), help="where generated inputs are kept")
    ap.add_argument("--work", default=None, help="where targets are written (default: DATA/work)")
    ap.add_argument("--out", help="also write the Markdown here (e.g. bench/results/latest.md)")
    ap.add_argument(
        "--json", help="write every measurement as JSON here (default: --out with .json, for bench/plot.py)"
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = (args.rows or [100_000 if args.quick or args.many_files else 1_000_000])[0]
    runs = args.runs or (1 if args.quick else 5)
    series = args.series or ([50_000, 200_000, 800_000] if args.quick else [1_000_000, 4_000_000])
    huge = [16_000_000] if args.with_16m else []
    work = args.work or os.path.join(args.data, "work")
    os.makedirs(work, exist_ok=True)
    main_section = (
        run_jsonl_table
        if args.jsonl
        else run_scaling_table
        if args.scaling
        else run_many_table
        if args.many_files
        else run_main_table
    )
    out, all_cases = main_section(args, rows, runs, work)
    points: list[dict[str, object]] = []
    if not args.no_series and not args.jsonl and not args.scaling and not args.many_files:
        out += run_series(args.data, work, series, huge, all_cases, points)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    json_path = args.json or (os.path.splitext(args.out)[0] + ".json" if args.out else None)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as fh:
            fh.write(results_json(rows, runs, environment(), all_cases, points))
    return 0


def measured(runs: int, run_all: Callable[[], None]) -> str:
    """``run_all`` (every case ``runs`` times) on freshly compiled sources; what says how its
    medians were taken: the runs, the machine, and its load before and after."""
    compile_package()
    load = load_average()
    run_all()
    return (
        f"median of {runs} run{'s' if runs != 1 else ''}; {environment()}; "
        f"load average {load} at the start, {load_average()} at the end."
    )


def run_interleaved(all_cases: list[Case], runs: int, work: str, data_for: Callable[[Case], str]) -> None:
    """Every case that can run, ``runs`` times, the cases interleaved so drift hits them alike."""
    for run in range(runs):
        for i, c in enumerate(all_cases):
            if c.error is None:
                print(f"run {run + 1}/{runs}: {c.name}", file=sys.stderr, flush=True)
                run_case(c, data_for(c), target_for(work, i, c.sink))


def run_main_table(args: argparse.Namespace, rows: int, runs: int, work: str) -> tuple[list[str], list[Case]]:
    """Every case ``runs`` times, interleaved; the main table's lines with its notes."""
    shell = find_shell()
    all_cases, notes = cases(shell, stdlib=not args.no_stdlib)
    if args.engines:  # the engines, threads and `.import` only
        keep = {"loader csv -> sqlite", "loader csv -> leveldb (json values)"} | {c.name for c in engine_cases()}
        all_cases = [c for c in all_cases if c.name in keep or c.name.startswith("sqlite3 shell")]
    if args.only:
        all_cases = [c for c in all_cases if c.group == "baseline" or re.search(args.only, c.name)]
    inputs = {
        ids: ensure_data(args.data, rows, chain=ids == IDS[0], ids=ids) for ids in sorted({c.ids for c in all_cases})
    }
    how = measured(runs, lambda: run_interleaved(all_cases, runs, work, lambda c: inputs[c.ids][c.fmt]))
    main_inputs = inputs[IDS[0]]
    out = [
        f"Benchmark: {rows:,} rows x {len(COLUMNS)} columns ({os.path.getsize(main_inputs['csv']) / 1e6:.0f} MB CSV, "
        f"{os.path.getsize(main_inputs['parquet']) / 1e6:.0f} MB Parquet), ids scrambled unless the case says otherwise, "
        f"LevelDB key `{LEVELDB_KEY}`, {how}",
        "",
    ]
    out += main_table(all_cases, rows)
    overhead = chain_overhead(all_cases)
    if overhead:
        out += ["", overhead]
    ran = [c.name for c in all_cases if c.group == "baseline" and c.error is None]
    out += ["", "Baselines that ran: " + (", ".join(ran) if ran else "none") + "."]
    notes += [f"{c.name} failed: {c.error}" for c in all_cases if c.error]
    return out + [f"Note: {n}" for n in notes], all_cases


def run_series(
    data_dir: str, work: str, series: list[int], huge: list[int], all_cases: list[Case], points: list[dict[str, object]]
) -> list[str]:
    """The memory-growth series (one run each; ``huge`` sizes into LevelDB only) and its table's lines;
    every measurement, the baselines' too, is appended to ``points``."""
    baselines = [c for c in all_cases if c.group == "baseline" and c.error is None]
    results: dict[tuple[str, str], dict[int, Result | str]] = {}
    for n in series + huge:
        data = ensure_data(data_dir, n)
        for fmt in ("csv", "parquet"):
            for sink in ("sqlite", "leveldb") if n not in huge else ("leveldb",):
                print(f"series {n:,}: {fmt} -> {sink}", file=sys.stderr, flush=True)
                target = os.path.join(work, f"series_{fmt}" + (".db" if sink == "sqlite" else ".ldb"))
                results.setdefault((fmt, sink), {})[n] = series_point(data[fmt], target)
                points.append(point_json(f"loader {fmt} -> {sink}", "loader", fmt, sink, n, results[(fmt, sink)][n]))
        for c in baselines if n not in huge else []:
            print(f"series {n:,}: {c.name}", file=sys.stderr, flush=True)
            result = run_baseline(c, data[c.fmt], os.path.join(work, "series_baseline.db"))
            points.append(point_json(c.name, c.group, c.fmt, c.sink, n, result))
    head = f"Growth at default settings, {series[0]:,} to {(series + huge)[-1]:,} rows, scrambled ids (one run each):"
    return ["", head, "", *growth_table(series + huge, results)]


def series_point(data: str, target: str) -> Result | str:
    """One load of the growth series into a fresh ``target``: its result, or why it failed."""
    clean(target)
    try:
        return run_child(loader_argv()(data, target), loader_env())
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return str(exc)
    finally:
        clean(target)


if __name__ == "__main__":
    sys.exit(main())
