"""The command line: a thin layer that builds a job config and calls ``Pipeline.run``.

Commands: ``load`` (one-liner), ``run`` (a job file), ``validate`` (``run
--dry-run``), ``inspect`` (schema and a few rows). Flags are the config keys
with dashes (``--batch-size`` is ``sink.batch_size``). Errors print one line
and a hint; ``--debug`` shows the traceback. Exit codes are in ``errors``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from . import __version__
from .config import apply_overrides, job_from_dict, load_job, parse_value, set_key
from .errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, ConfigError, LoaderError
from .logs import JsonLog
from .metrics import write_metrics
from .pipeline import Pipeline
from .report import RunReport

# flag dest -> config key; a flag given on the command line beats the job file and the environment
RUN_FLAGS = {
    "chunk_size": "run.chunk_size",
    "report": "run.report",
    "rejects": "run.rejects",
    "max_rejects": "run.max_rejects",
    "job": "run.job",
    "on_change": "run.on_change",
    "lock_wait": "run.lock_wait",
    "read_ahead": "run.read_ahead",
    "workers": "run.workers",
    "max_memory": "run.max_memory",
    "log_format": "run.log_format",
    "metrics_file": "run.metrics_file",
    "batch_size": "sink.batch_size",
}
LOAD_FLAGS = {
    **RUN_FLAGS,
    "format": "source.format",
    "delimiter": "source.delimiter",
    "decimal_separator": "source.decimal_separator",
    "encoding": "source.encoding",
    "skip_rows": "source.skip_rows",
    "quote_char": "source.quote_char",
    "escape_char": "source.escape_char",
    "max_row_bytes": "source.max_row_bytes",
    "infer_rows": "source.infer_rows",
    "sink": "sink.type",
    "table": "sink.table",
    "mode": "sink.mode",
    "key": "sink.key",
    "value": "sink.value",
    "compression": "sink.compression",
}


def _columns(text: str) -> dict[str, str]:
    """``zip=string,amount=float64`` as a table."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"expected NAME=TYPE, got {part!r}")
        name, typ = part.split("=", 1)
        out[name.strip()] = typ.strip()
    return out


def _max_rejects(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {text!r}") from None
    return int(value) if value >= 1 or value == 0 else value


def _allow_python(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-python",
        action="store_true",
        help="let the job's python stages import and run the code they name (also LOADER_ALLOW_PYTHON=1)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run options")
    g.add_argument("--chunk-size", type=int, metavar="ROWS", help="rows per chunk: the memory bound (default 8192)")
    g.add_argument(
        "--batch-size", type=int, metavar="ROWS", help="rows per transaction (SQLite) or checkpoint (LevelDB)"
    )
    g.add_argument("--report", metavar="PATH", help="write the run report as JSON")
    g.add_argument("--rejects", metavar="PATH", help="reject file (default TARGET.JOB.rejects.jsonl)")
    g.add_argument(
        "--max-rejects",
        type=_max_rejects,
        metavar="N",
        help="stop with exit 3 past N rejects (or a fraction < 1); 0 is strict",
    )
    g.add_argument("--job", metavar="NAME", help="name under which checkpoints are kept")
    g.add_argument("--on-change", choices=["error", "skip", "reload"], help="when a loaded file changed")
    g.add_argument("--lock-wait", type=float, metavar="SECONDS", help="wait this long for another run on the target")
    g.add_argument("--read-ahead", type=int, metavar="CHUNKS", help="chunks parsed ahead in a thread (0: none)")
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="threads parsing CSV blocks at once (default: 2 for CSV into LevelDB on 2+ cores, else 1)",
    )
    g.add_argument(
        "--max-memory", metavar="SIZE", help="peak memory ceiling, e.g. 100MB: chunk and batch sizes shrink to fit"
    )
    g.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text for people (default), json lines on stderr for log collectors",
    )
    g.add_argument(
        "--metrics-file", metavar="PATH", help="write Prometheus metrics of the run here (node exporter textfile)"
    )
    g.add_argument("--restart", action="store_true", default=None, help="ignore checkpoints and load everything again")
    g.add_argument("--dry-run", action="store_true", help="check config and sources, print the plan, write nothing")
    g.add_argument("-q", "--quiet", action="store_true", default=None, help="no progress bar, no summary line")
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loader",
        description="Stream CSV and Parquet files into SQLite or LevelDB with bounded memory.",
        epilog="exit codes: 0 ok, 1 load failed (rerun resumes), 2 usage or config error, "
        "3 too many rejects, 4 rows read but none loaded, 75 target locked by another run, 130/143 stopped by SIGINT/SIGTERM",
    )
    parser.add_argument("--version", action="version", version=f"loader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "load",
        help="load files into a target in one command",
        description="Load SOURCE files into TARGET (SQLite by .db/.sqlite/.sqlite3, LevelDB by .ldb/.leveldb).",
    )
    p.add_argument(
        "paths", nargs="+", metavar="SOURCE... TARGET", help="input files or globs ('-' for stdin), then the target"
    )
    g = p.add_argument_group("source options")
    g.add_argument("--format", choices=["csv", "parquet", "jsonl", "arrow"], help="input format (default: from the extension)")
    g.add_argument("--delimiter", metavar="CHAR", help="CSV delimiter (default: detected)")
    g.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        default=None,
        help="CSV has no header row (default: detected)",
    )
    g.add_argument("--decimal-separator", choices=[".", ","], help="',': numbers like 3,50 are numbers")
    g.add_argument("--quote-char", metavar="CHAR", help="CSV quote character (default: detected)")
    g.add_argument("--escape-char", metavar="CHAR", help="CSV escape character (default: none)")
    g.add_argument(
        "--null-values", action="append", metavar="TEXT", help="text read as NULL in every column (repeatable)"
    )
    g.add_argument(
        "--na-values", action="append", metavar="TEXT", help="text read as NULL in typed columns only (repeatable)"
    )
    g.add_argument("--max-row-bytes", metavar="SIZE", help="longest CSV row, e.g. 16MiB (default 64MiB)")
    g.add_argument("--encoding", metavar="NAME", help="CSV encoding (default utf-8)")
    g.add_argument("--skip-rows", type=int, metavar="N", help="lines to skip before the header")
    g.add_argument("--infer-rows", type=int, metavar="N", help="rows sampled for type inference")
    g.add_argument(
        "--columns", type=_columns, metavar="NAME=TYPE,...", help="type overrides, e.g. zip=string,amount=float64"
    )
    g = p.add_argument_group("sink options")
    g.add_argument("--sink", choices=["sqlite", "leveldb"], help="target type (default: from the suffix)")
    g.add_argument("--table", help="SQLite table (default: the first file's name)")
    g.add_argument("--mode", choices=["append", "replace", "upsert", "ignore"], help="how rows meet existing ones")
    g.add_argument("--primary-key", metavar="COL,...", help="primary-key columns (SQLite)")
    g.add_argument("--index", action="append", metavar="COL,...", help="create an index after the load (repeatable)")
    g.add_argument("--alter", action="store_true", default=None, help="add columns that later files bring")
    g.add_argument("--key", metavar="TEMPLATE", help='LevelDB key template, e.g. "user:{id}"')
    g.add_argument("--value", metavar="json|COLUMN", help="LevelDB value encoding")
    g.add_argument("--sync", action="store_true", default=None, help="LevelDB: fsync each WriteBatch")
    g.add_argument("--compression", choices=["none", "snappy"], help="LevelDB block compression (default none)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="set any job-file key (repeatable)"
    )
    _common(p)

    p = sub.add_parser("run", help="run a job file", description="Run the job described in a TOML job file.")
    p.add_argument("config", metavar="JOB.toml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override any job-file key (repeatable)")
    _allow_python(p)
    _common(p)

    p = sub.add_parser("validate", help="check a job file and its sources; write nothing, import nothing", description="Same as run --dry-run.")
    p.add_argument("config", metavar="JOB.toml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override any job-file key (repeatable)")
    _allow_python(p)
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser(
        "replay",
        help="load the rows of a reject file again, once each",
        description="Load the (fixed) rows of REJECTS.jsonl through the job's stages into its target, once each; "
        "rows that fail again go to REJECTS.replay.jsonl.",
    )
    p.add_argument("rejects_file", metavar="REJECTS.jsonl")
    p.add_argument("--job", dest="config", required=True, metavar="JOB.toml", help="the job that wrote the reject file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override any job-file key (repeatable)")
    _allow_python(p)
    p.add_argument("--report", metavar="PATH", help="write the run report as JSON")
    p.add_argument("--lock-wait", type=float, metavar="SECONDS", help="wait this long for another run on the target")
    p.add_argument("-q", "--quiet", action="store_true", default=None, help="no summary line")
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser(
        "inspect",
        help="print the inferred schema and a few rows",
        description="Print the schema loader infers for FILE and its first rows.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--rows", type=int, default=5, metavar="N", help="rows to show (default 5)")
    p.add_argument("--format", choices=["csv", "parquet", "jsonl", "arrow"])
    p.add_argument("--delimiter", metavar="CHAR")
    p.add_argument("--no-header", dest="header", action="store_false", default=None)
    p.add_argument("--decimal-separator", choices=[".", ","])
    p.add_argument("--encoding", metavar="NAME")
    p.add_argument("--columns", type=_columns, metavar="NAME=TYPE,...")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _flag_pairs(args: argparse.Namespace, table: dict[str, str]) -> list[tuple[str, Any]]:
    pairs = [(key, getattr(args, dest)) for dest, key in table.items() if getattr(args, dest, None) is not None]
    for dest, key in (("restart", "run.restart"), ("quiet", "run.quiet")):
        if getattr(args, dest, None):
            pairs.append((key, True))
    return pairs


def job_for(args: argparse.Namespace, env: dict[str, str] | None = None) -> Any:
    """The JobConfig a command line describes: flags > --set > environment > job file."""
    environ = dict(os.environ) if env is None else env
    if args.command == "load":
        if len(args.paths) < 2:
            raise ConfigError("load: expected one or more SOURCE files and a TARGET")
        *sources, target = args.paths
        data: dict[str, Any] = {"source": {"path": sources}, "sink": {"path": target}}
        apply_overrides(data, args.set, environ)
        pairs = _flag_pairs(args, LOAD_FLAGS)
        for dest in ("null_values", "na_values"):
            if getattr(args, dest) is not None:
                pairs.append((f"source.{dest}", getattr(args, dest)))
        if args.header is not None:
            pairs.append(("source.header", args.header))
        if args.columns:
            pairs.append(("source.columns", args.columns))
        if args.primary_key:
            pairs.append(("sink.primary_key", [c.strip() for c in args.primary_key.split(",") if c.strip()]))
        if args.index:
            pairs.append(("sink.indexes", [[c.strip() for c in i.split(",") if c.strip()] for i in args.index]))
        for dest in ("alter", "sync"):
            if getattr(args, dest):
                pairs.append((f"sink.{dest}", True))
        for dotted, value in pairs:
            set_key(data, dotted, value, "--" + dotted.split(".")[1].replace("_", "-"))
        return job_from_dict(data, environ)
    job = load_job(args.config, args.set, environ)
    if args.command in ("run", "replay"):
        for dotted, value in _flag_pairs(args, RUN_FLAGS):
            section, key = dotted.split(".")
            setattr(getattr(job, section), key, value)
        # re-check rules that span keys after flags changed them
        from .config import finish

        finish(job)
    return job


def _inspect(args: argparse.Namespace) -> int:
    from .config import SourceConfig
    from .readers import open_reader
    from .types import type_name

    options: dict[str, Any] = {"path": [args.file]}
    for key in ("format", "delimiter", "encoding", "header", "columns", "decimal_separator"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    source = SourceConfig(**options)
    if source.format is None:
        from .config import infer_format

        source.format = infer_format(args.file)  # type: ignore[assignment]
    with open_reader(args.file, source, chunk_size=max(args.rows, 1)) as reader:
        print(f"{args.file}: {len(reader.schema)} columns")
        dialect = getattr(reader, "dialect", None)
        if dialect is not None:
            print(f"dialect: {dialect.describe()}")
        width = max((len(n) for n in reader.schema.names), default=0)
        for f in reader.schema:
            print(f"  {f.name.ljust(width)}  {type_name(f.type)}")
        shown = 0
        if args.rows > 0:
            print("first rows:")
            for chunk in reader:
                for row in chunk.batch.to_pylist():
                    print("  " + ", ".join(f"{k}={_show(v)}" for k, v in row.items()))
                    shown += 1
                    if shown >= args.rows:
                        break
                if shown >= args.rows:
                    break
    return EXIT_OK


def _show(value: Any) -> str:
    """A value as a person reads it: text quoted, dates in ISO-8601, NULL as null."""
    if value is None:
        return "null"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return repr(value)


def _print_error(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    if isinstance(exc, LoaderError):
        print(f"loader: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
    else:
        print(f"loader: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if not debug:
            print("  hint: run again with --debug to see the traceback", file=sys.stderr)


def _early_log(args: argparse.Namespace) -> JsonLog | None:
    """JSON logs as asked by ``--log-format`` or ``LOADER_RUN__LOG_FORMAT``, known before
    the job file is read, so an error in the job file is logged as JSON too."""
    raw = os.environ.get("LOADER_RUN__LOG_FORMAT")
    fmt = getattr(args, "log_format", None) or (parse_value(raw) if raw is not None else "text")
    return JsonLog(quiet=bool(getattr(args, "quiet", None))) if fmt == "json" else None


def _fail(exc: BaseException, code: int, debug: bool, log: JsonLog | None) -> None:
    if log is not None:
        log.error(exc, code, debug)
    else:
        _print_error(exc, debug)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, bad usage is 2
        return int(exc.code or 0)
    debug = bool(getattr(args, "debug", False))
    report: RunReport | None = None
    report_path = None
    metrics_path = None
    quiet = False
    log = _early_log(args)
    try:
        if args.command == "inspect":
            return _inspect(args)
        job = job_for(args)
        report_path = job.run.report
        metrics_path = job.run.metrics_file
        quiet = job.run.quiet
        log = JsonLog(quiet=quiet) if job.run.log_format == "json" else None
        pipeline = Pipeline(
            job,
            handle_signals=True,
            progress=not quiet and log is None,
            on_event=log.on_event if log else None,
            allow_python=True if getattr(args, "allow_python", False) else None,  # None: LOADER_ALLOW_PYTHON decides
        )
        if args.command == "validate" or getattr(args, "dry_run", False):
            for line in pipeline.plan().lines():
                print(line)
            print("ok: configuration and sources are valid; nothing was written")
            return EXIT_OK
        report = pipeline.replay(args.rejects_file) if args.command == "replay" else pipeline.run()
        if report_path:
            report.write(report_path)
        if metrics_path:
            write_metrics(metrics_path, report)
        if not quiet and log is None:
            print(report.summary(), file=sys.stderr)
        return EXIT_OK
    except KeyboardInterrupt as exc:
        _fail(exc, 130, debug, log)
        return 130
    except Exception as exc:  # one line for the user, the traceback behind --debug
        code = exc.exit_code if isinstance(exc, LoaderError) else EXIT_FAILED
        report = getattr(exc, "report", None)
        # a usage error writes nothing (the report or metrics path may be the very mistake);
        # one raised after a commit has exit 1 and a report like any failure
        if report is not None and report_path and code != EXIT_USAGE:
            try:
                report.write(report_path)
            except OSError:
                pass
        # a run refused by the lock leaves the metrics file to the run that holds the lock
        if report is not None and metrics_path and code not in (EXIT_LOCKED, EXIT_USAGE):
            try:
                write_metrics(metrics_path, report)
            except OSError:
                pass
        if report is not None and report.rows_read and not quiet and log is None:
            print(report.summary(), file=sys.stderr)  # what was committed before the stop
        _fail(exc, code, debug, log)
        return code
