"""The command line: a thin layer that builds a job config and calls ``Pipeline.run``.

Commands: ``load`` (one-liner), ``run`` (a job file), ``validate`` (``run
--dry-run``), ``inspect`` (schema and a few rows). Flags are the config keys
with dashes (``--batch-size`` is ``sink.batch_size``). Errors print one line
and a hint; ``--debug`` shows the traceback. Exit codes are in ``errors``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import re
import shlex
import sys
import traceback
import typing
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from . import __version__, sinks, stopping
from .chunk import Reject, reasons_in_order, row_values
from .config import (
    SECTIONS,
    JobConfig,
    SinkConfig,
    SourceConfig,
    field_docs,
    flag_name,
    is_glob,
    job_from_overrides,
    load_job,
    parse_value,
)
from .errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGPIPE,
    ConfigError,
    LoaderError,
    NothingLoadedError,
    no_load_hint,
    where,
)
from .logs import JsonLog
from .pipeline import Pipeline
from .progress import is_terminal, writable
from .report import RunReport
from .suggest import closest, did_you_mean

if typing.TYPE_CHECKING:
    import pyarrow as pa

# Flags are generated from the config classes: ``sink.batch_size`` is ``--batch-size``,
# its type and help come from the field. A key in two sections names its section
# (``--source-block-size``); the paths are the positional arguments.
_NOT_FLAGS = {("source", "path"), ("sink", "path")}
_COMMA_LISTS = {"primary_key", "column_names"}  # one flag, COL,COL; other lists repeat the flag
_METAVARS = {
    "key": "TEMPLATE",
    "table": "NAME",
    "delimiter": "CHAR",
    "value": "json|COLUMN",
    "columns": "NAME=TYPE,...",
    "primary_key": "COL,...",
    "indexes": "COL,...",
    "column_names": "NAME,...",
    "encoding": "NAME",
    "job": "NAME",
}
# the keys `run` and `validate` take as flags (the job file holds the rest; --set reaches any key)
RUN_KEYS = {"run.*", "sink.batch_size"}
# `replay` takes `load`'s flags, so a load's rejects replay with the load's command line as it was
# (README); an engine's flags, which a replay in this process does not use, change nothing. Not
# `--job NAME` (`run.job`): `--job` is replay's job file, the job's name `--set run.job=NAME`.
REPLAY_KEYS = {"run.*", "!run.job"}
# and the keys that say which job wrote the reject file: its sources and target, as given
REPLAY_JOB_KEYS = {"source.*", "sink.*"}
# the keys `inspect` takes as flags: every key that says how a file is read, as `load` takes them;
# not those that say which files a load takes (``!``: left out), which inspect would only ignore
INSPECT_KEYS = {"source.*", "!source.min_age", "!source.allow_empty"}

EXAMPLES = {
    "load": """examples:
  loader load events.csv out.db                        # table "events", types inferred
  loader load 'logs/*.csv.gz' out.db --table logs      # a glob needs --table
  loader load users.parquet users.ldb --key 'user:{id}'
  loader load data.csv out.db --mode upsert --primary-key id --set run.max_rejects=0""",
    "replay": """examples:
  loader replay out/events.db.table-events.rejects.jsonl --job job.toml
  loader replay fixed.jsonl --job job.toml --report replay.json
  loader replay out.db.table-events.rejects.jsonl events.csv out.db   # after `loader load events.csv out.db`

rows that fail again go to REJECTS.replay.jsonl; a row already replayed is not loaded twice.
--job is the job file here; a load's job name (`load --job NAME`) is --set run.job=NAME""",
    "run": """examples:
  loader run configs/quickstart.toml
  loader run job.toml --set sink.path=/tmp/test.db --dry-run
  LOADER_SINK__PATH=/data/out.db loader run job.toml   # environment overrides

relative paths in the job file are relative to its directory;
those in flags, --set and the environment to the current one""",
    "validate": """examples:
  loader validate configs/quickstart.toml
  loader validate job.toml --set source.path=sample.csv""",
    "inspect": """examples:
  loader inspect events.csv
  loader inspect data.txt --delimiter '|' --no-header --rows 20
  loader inspect export.csv --skip-rows 4 --null-values NA   # read as the load reads it

rows among the first that the load would reject are counted, with the first one's line and reason;
a file whose every row the load would reject fails as the load does (exit 4). Counted are the
reader's rejects and a map that repeats a key (rejected by SQLite and LevelDB's JSON values);
not the target's own: a uint64 past SQLite's 64-bit range, a LevelDB key that cannot be made,
a table's constraints, nor a stage's""",
}


def _columns(text: str) -> dict[str, str]:
    """``zip=string,amount=decimal(10, 2)`` as a table: commas inside brackets belong to the type."""
    out = {}
    for part in filter(None, (p.strip() for p in _top_level_split(text))):
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"expected NAME=TYPE, got {part!r}")
        name, typ = part.split("=", 1)
        out[name.strip()] = typ.strip()
    return out


def _top_level_split(text: str) -> list[str]:
    """``text`` split at the commas outside brackets (``timestamp[us, UTC]``, ``decimal(5, 2)``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _comma_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _max_rejects(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {text!r}") from None
    # inf and nan stay floats, for the config's check to refuse naming run.max_rejects
    return int(value) if value == 0 or 1 <= value < float("inf") else value


def _char_or_false(text: str) -> str | Literal[False]:
    return False if text.lower() in ("false", "none") else text


def _scalar(hint: Any) -> dict[str, Any]:
    """argparse options for a field of this (non-list) type."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return {"choices": list(typing.get_args(hint))}
    if args and len(args) == 1:
        return _scalar(args[0])
    if args and set(args) == {int, float}:
        return {"type": _max_rejects, "metavar": "N"}
    if typing.Literal[False] in args:  # a character, or false for none
        return {"type": _char_or_false, "metavar": "CHAR|false"}
    if hint is int:
        return {"type": int, "metavar": "N"}
    if hint is float:
        return {"type": float, "metavar": "SECONDS"}
    if hint == dict[str, str]:
        return {"type": _columns}
    return {}


def _flag_options(f: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    """argparse options (action, type, metavar, choices) for one config field."""
    inner = [a for a in typing.get_args(hint) if a is not type(None)]
    if type(None) in typing.get_args(hint) and len(inner) == 1:  # Optional: None is the flag's absence
        hint = inner[0]
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if hint == list[list[str]]:
        return {"action": "append", "type": _comma_list}
    if typing.get_origin(hint) is list:
        return {"type": _comma_list} if f.name in _COMMA_LISTS else {"action": "append", "metavar": "TEXT"}
    if f.metadata.get("size"):
        return {"metavar": "SIZE"}
    if f.metadata.get("path"):
        return {"metavar": "PATH"}
    return _scalar(hint)


_hints = functools.cache(typing.get_type_hints)


def _wanted(dotted: str, keys: set[str] | None) -> bool:
    if keys is not None and f"!{dotted}" in keys:
        return False
    return keys is None or dotted in keys or f"{dotted.split('.')[0]}.*" in keys


def _short_help(text: str, repeat: bool) -> str:
    """A field's docstring up to its first sentence's end, as argparse help: plain text, a
    Markdown link to a docs page its text and the page's path in the source tree."""
    first = re.split(r"(?<=[a-z)])\. (?=[A-Z])", text)[0].rstrip(".")
    plain = _MD_LINK.sub(lambda m: f"{m[1]} ({_doc_path(m[2])})", first)
    return plain.replace("``", "").replace("%", "%%") + (" (repeatable)" if repeat else "")


_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _doc_path(target: str) -> str:
    """A docstring link's target as a reader finds it: ``reliability.md#x`` is docs/reliability.md."""
    page = target.partition("#")[0]
    return f"docs/{page}" if page.endswith(".md") and "/" not in page and "://" not in page else target


def add_config_flags(p: argparse.ArgumentParser, keys: set[str] | None, helps: bool) -> None:
    """One flag per config key (``keys``: which; None: every key that fits a command line),
    grouped by section; the flag's dest is the dotted key."""
    for section, cls in SECTIONS.items():
        hints = _hints(cls)
        docs = field_docs(cls) if helps else {}
        group = p.add_argument_group(f"{section} options")
        for f in dataclasses.fields(cls):
            dotted = f"{section}.{f.name}"
            if (section, f.name) in _NOT_FLAGS or not _wanted(dotted, keys):
                continue
            options = {"metavar": _METAVARS.get(f.name, f.name.upper()), **_flag_options(f, hints[f.name])}
            if "choices" in options or options.get("action") is argparse.BooleanOptionalAction:
                options.pop("metavar")
            names = ["-q", "--quiet"] if dotted == "run.quiet" else [flag_name(section, f.name)]
            help_text = _short_help(docs[f.name], options.get("action") == "append") if f.name in docs else None
            group.add_argument(*names, dest=dotted, default=None, help=help_text, **options)


def _set_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="set any job-file key (repeatable)"
    )


def _allow_python(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-python",
        action="store_true",
        help="let the job's python stages import and run the code they name (also LOADER_ALLOW_PYTHON=1)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("command options")
    g.add_argument("--dry-run", action="store_true", help="check config and sources, print the plan, write nothing")
    _progress(
        g,
        "show the progress line on stderr, or not (default: when stderr is a terminal); "
        "never with --quiet or --log-format json",
    )
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def _progress(g: Any, help_text: str) -> None:
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help=help_text)


class _Parser(argparse.ArgumentParser):
    """argparse, whose help or version on a stdout whose reader went away ends the command
    as other output does (argparse drops the error: the exit code would say the help was shown)."""

    def _print_message(self, message: str, file: Any = None) -> None:  # file: None is stderr
        if not message or file is not sys.stdout:
            super()._print_message(message, file)
            return
        try:
            file.write(message)
        except BrokenPipeError:
            raise _OutputClosed from None


def _command(sub: Any, name: str, usage: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    return sub.add_parser(  # type: ignore[no-any-return]
        name, usage=usage, epilog=EXAMPLES.get(name), formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def _job_flags(p: argparse.ArgumentParser) -> None:
    """What every command that reads a job file takes besides its own flags."""
    _set_flag(p)
    _allow_python(p)
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser(helps: bool = True) -> argparse.ArgumentParser:
    """The command line. ``helps=False`` skips reading the flags' help from the config
    fields' docstrings (only ``--help`` shows it)."""
    parser = _Parser(
        prog="loader",
        description="Stream CSV, Parquet, JSON Lines and Arrow files into SQLite or LevelDB with bounded memory.",
        epilog="exit codes: 0 ok; rerun and it resumes: 1 I/O error, 75 target locked, 130/143 SIGINT/SIGTERM; "
        "fix something, then rerun: 2 usage or config, 3 too many rejects, 4 none loaded, 65 data to fix, "
        "66 missing input, 78 config error after a commit",
    )
    parser.add_argument("--version", action="version", version=f"loader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(
        sub,
        "load",
        "%(prog)s [options] SOURCE [SOURCE ...] TARGET",
        help="load files into a target in one command",
        description="Load SOURCE files into TARGET (SQLite by .db/.sqlite/.sqlite3, LevelDB by .ldb/.leveldb).\n"
        "Every job-file key is a flag (sink.batch_size is --batch-size); --set reaches any key.\n"
        "A SIZE is a number of bytes or text such as 64MiB, 100MB or 1.5G.",
    )
    p.add_argument(
        "paths", nargs="+", metavar="SOURCE ... TARGET", help="input files or globs ('-' for stdin), then the target"
    )
    add_config_flags(p, None, helps)
    _set_flag(p)
    _common(p)

    p = _command(
        sub,
        "run",
        "%(prog)s JOB.toml [options]",
        help="run a job file",
        description="Run the job described in a TOML job file.\n"
        "A SIZE is a number of bytes or text such as 64MiB, 100MB or 1.5G.",
    )
    p.add_argument("config", metavar="JOB.toml")
    add_config_flags(p, RUN_KEYS, helps)
    _set_flag(p)
    _allow_python(p)
    _common(p)

    p = _command(
        sub,
        "validate",
        "%(prog)s JOB.toml [options]",
        help="check a job file and its sources; write nothing, import nothing",
        description="Same as run --dry-run, but it takes no key flags: set keys with --set "
        "(--set run.engine=processes for run's --engine processes).",
    )
    p.add_argument("config", metavar="JOB.toml")
    _job_flags(p)

    p = _command(
        sub,
        "replay",
        "%(prog)s REJECTS.jsonl (--job JOB.toml | SOURCE [SOURCE ...] TARGET) [options]",
        help="load the rows of a reject file again, once each",
        description="Load the (fixed) rows of REJECTS.jsonl through the job's stages into its target, once each; "
        "rows that fail again go to REJECTS.replay.jsonl.\n"
        "The job is the job file that wrote the reject file (--job), or the SOURCE ... TARGET and the\n"
        "flags of the `loader load` that wrote it, given as they were given to the load (its --job NAME\n"
        "as --set run.job=NAME); the engine's flags (--engine, --workers, --part-size, ...) change nothing:\n"
        "a replay runs in this process.",
    )
    p.add_argument("rejects_file", metavar="REJECTS.jsonl")
    p.add_argument(
        "paths", nargs="*", metavar="SOURCE ... TARGET", help="without --job: the sources and target of the load"
    )
    p.add_argument(
        "--job", dest="config", metavar="JOB.toml", help="the job file of the job that wrote the reject file"
    )
    add_config_flags(p, REPLAY_KEYS | REPLAY_JOB_KEYS, helps)
    _job_flags(p)
    _progress(p, "taken as `loader load` takes it: a replay draws no progress line")

    p = _command(
        sub,
        "inspect",
        "%(prog)s FILE [options]",
        help="print the inferred schema and a few rows",
        description="Print the schema loader infers for FILE and its first rows, read as `loader load` reads them:\n"
        "it takes the same [source] flags. FILE may be a glob: its first file is shown.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--rows", type=_row_count, default=5, metavar="N", help="rows to show (default 5; 0: the schema alone)"
    )
    add_config_flags(p, INSPECT_KEYS, helps)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def flag_pairs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """``(dotted key, value)`` for every config flag given on the command line."""
    return [(k, v) for k, v in vars(args).items() if "." in k and v is not None]


def job_for(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> JobConfig:
    """The resolved job a command line describes: flags > --set > environment > job file."""
    environ = os.environ if env is None else env
    if args.command == "replay":
        _check_replay_job(args)
    if args.command != "load" and args.config is not None:
        job = load_job(args.config, args.set, environ, flag_pairs(args))
        if any(t.get("type") == "python" for t in job.transform):
            from .transforms.python import import_beside

            import_beside(os.fspath(args.config))  # where its stages' modules are looked for first
        return job
    if len(args.paths) < 2:
        raise ConfigError(f"{args.command}: expected one or more SOURCE files and a TARGET")
    *sources, target = args.paths
    # The paths typed on the command line are flags too: neither --set nor LOADER_SINK__PATH overrides them.
    paths = [("source.path", sources), ("sink.path", target)]
    return job_from_overrides({}, args.set, environ, [*paths, *flag_pairs(args)])


def _check_replay_job(args: argparse.Namespace) -> None:
    """A replay's job: a job file (``--job``) or a load's paths, one of the two."""
    if args.config is not None and args.paths:
        hint = (
            "give the job file, or the sources and target of the `loader load` that wrote the reject file; "
            f"replay's --job is the job file: a load's --job {args.config} (the job's name) "
            f"is --set run.job={args.config} here"
        )
        raise ConfigError(
            f"replay: --job {args.config} and SOURCE ... TARGET ({' '.join(args.paths)}) both name the job",
            hint=hint,
            verbatim=(hint,),  # the flags it quotes are load's and replay's, not to respell
        )
    if args.config is None and not args.paths:
        raise ConfigError(
            "replay: expected --job JOB.toml, or the SOURCE ... TARGET of the `loader load` that wrote the reject file",
            hint="e.g. loader replay out.db.table-events.rejects.jsonl events.csv out.db",
        )


def _row_count(text: str) -> int:
    """``--rows``: 0 or more (a negative count was taken as 0)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {n}")
    return n


def _inspect(args: argparse.Namespace) -> int:
    try:
        return _inspect_file(args)
    except LoaderError as exc:
        no_load_hint(exc, ", then inspect it again")
        raise


def _inspect_file(args: argparse.Namespace) -> int:
    from .config import build_section, resolve_source
    from .readers import empty_lines, empty_text_files, expand_paths, open_reader, passed_over
    from .readers.partitions import load_keys, settle
    from .types import type_name

    table = {"path": [args.file], **{dotted.split(".")[1]: v for dotted, v in flag_pairs(args)}}
    source = resolve_source(build_section(SourceConfig, table, "source"))
    files = expand_paths(dataclasses.replace(source, allow_empty=True))  # a glob: the first file a load of it reads
    if not files:
        raise ConfigError(
            f"no file matches {args.file!r}",
            hint="check the pattern: inspect shows the first file it matches" + passed_over(args.file),
        )
    # the load passes over files of no text (Spark's empty parts): the first it reads is shown
    spelled, empty = empty_text_files([[f] for f in files], source)
    if is_glob(args.file):
        _say(
            f"{args.file}: {len(files):,} {'file' if len(files) == 1 else 'files'}; the first, read as a load of them all reads it:"
        )
        for line in empty_lines(empty) if empty else []:
            _say(line)
    files = [names[0] for names in spelled]
    # settled as a load of these files settles it: the partition columns it adds, or "hive" refusing a file
    source = settle(source, files)
    types, keys = _glob_types(source, files), load_keys(source, files)
    with open_reader(files[0], source, chunk_size=max(args.rows, 1), types=types, partitions=keys) as reader:
        _say(f"{files[0]}: {len(reader.schema)} columns")
        dialect = getattr(reader, "dialect", None)
        if dialect is not None:
            _say(f"dialect: {dialect.describe()}")
        width = max((len(n) for n in reader.schema.names), default=0)
        for f in reader.schema:
            _say(f"  {f.name.ljust(width)}  {type_name(f.type)}")
        if args.rows > 0:
            head = _head(reader, args.rows)
            if head.rejects and not head.rows:  # every row of the file: the load stops on it
                raise _nothing_readable(reader, source, head)
            _say("first rows:")
            for row in head.rows:
                _say("  " + ", ".join(f"{k}={_show(v)}" for k, v in row.items()))
            if head.rejects:
                _say(head.rejected())
    return EXIT_OK


def _glob_types(source: SourceConfig, files: list[str]) -> dict[str, pa.DataType] | None:
    """The types a new load of several ``files`` reads each with: one file's own may differ
    (``zip`` int64 in one file, text in another, is text in all). None for one file."""
    if len(files) < 2:
        return None
    # the target is never opened: a new load's types depend on the files alone
    job = JobConfig(source=source, sink=SinkConfig(path="inspect.db", table="inspect"))
    return Pipeline(job).new_load_types(files)


@dataclasses.dataclass
class _Head:
    """A file's first rows as the load reads them: those it would write (``rows``), and those
    it would reject among them (``rejects``)."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rejects: list[Reject] = dataclasses.field(default_factory=list)
    rows_read: int = 0  # rows the chunks read, good or rejected (the whole file's, where it was read to its end)

    def rejected(self) -> str:
        """The line saying how many of the head's rows the load would reject, and where the first is."""
        first = min(self.rejects, key=lambda r: (r.row is None, r.row or 0))
        place = where(None, first.row, first.line, first.column)
        shown = f"{place}: {first.reason}" if place else first.reason
        rows = len(self.rows) + len(self.rejects)
        return (
            f"rejected: {len(self.rejects):,} of the first {rows:,} rows, as a load would "
            f"({'' if len(self.rejects) == 1 else 'the first: '}{shown})"
        )


def _head(reader: Any, n: int) -> _Head:
    """The first ``n`` rows of ``reader`` that the load would write, and the rows it would
    reject before the last of them; the whole file where fewer than ``n`` are good. Rejects
    that depend on the target (its kind, its table) are not known here."""
    from .sinks.base import reject_repeated_map_keys

    head = _Head()
    for chunk in reader:
        # rejected on write by either target (SQLite, LevelDB's JSON values): a load without stages does too
        chunk = reject_repeated_map_keys(chunk)
        values = row_values(chunk.batch)[: n - len(head.rows)]  # a nanosecond or far-year value too
        head.rows += values
        head.rows_read += chunk.rows_read
        if len(head.rows) < n:
            head.rejects += chunk.rejects
            continue
        last = chunk.rows[len(values) - 1].as_py()  # the last row shown: the rejects after it are not shown
        head.rejects += [r for r in chunk.rejects if r.row is not None and r.row < last]
        break
    return head


def _nothing_readable(reader: Any, source: SourceConfig, head: _Head) -> NothingLoadedError:
    """The error a load of this file stops with when it rejects every row, with the same cause."""
    from .readers.dialect import nothing_loaded_cause

    dialect = getattr(reader, "dialect", None)
    reasons = Counter(reasons_in_order(head.rejects))
    cause = nothing_loaded_cause(
        head.rows_read,
        len(head.rejects),
        0,
        reasons,
        reader.path,
        source,
        dialect.to_json() if dialect is not None else None,
    )
    return NothingLoadedError(
        f"nothing loaded: {cause.text}",
        file=reader.path,
        names=cause.names,
        hint="`loader load` would reject every row of this file the same way: fix the cause, then inspect it again",
    )


def _show(value: Any) -> str:
    """A value as a person reads it: text quoted, dates in ISO-8601, NULL as null."""
    from decimal import Decimal

    from .types import value_str

    if value is None:
        return "null"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, Decimal):
        return f"Decimal('{value_str(value)}')"  # the digits the targets store, not 1E-9
    if isinstance(value, dict):  # a struct's or a map's values read as the column's own would be
        return "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


class _OutputClosed(Exception):
    """Standard output's reader went away (``loader inspect f.csv | head -3``)."""


def _say(line: str) -> None:
    """A line of the command's output on stdout."""
    try:
        try:
            print(line)
        except UnicodeEncodeError:  # a file name in bytes that are not UTF-8
            _say_bytes(line)
    except BrokenPipeError:
        raise _OutputClosed from None


def _say_bytes(line: str) -> None:
    """``line`` with the name's bytes (held as surrogates, ``os.fsdecode``) printed as themselves,
    as ``ls`` prints it, whatever stdout's error handler: Python writes them so only in the C
    locale, and elsewhere a plan naming the file failed where its load did not."""
    out = sys.stdout
    out.flush()  # the lines printed before come first
    out.buffer.write(line.encode(out.encoding or "utf-8", "surrogateescape") + b"\n")
    out.flush()


def _flushed(code: int) -> int:
    """``code`` once stdout is flushed; ``EXIT_SIGPIPE`` where its reader went away."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _output_closed()
    return code


def _output_closed() -> int:
    """End quietly, as a Unix tool whose reader went away does (exit 141, no message).
    Python flushes stdout once more at exit: /dev/null takes what is left there."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: no file descriptor (a test's capture)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_SIGPIPE


def _print_error(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    if isinstance(exc, LoaderError):
        _to_stderr(f"loader: error: {exc}")
        if exc.hint:
            _to_stderr(f"  hint: {exc.hint}")
    else:
        _to_stderr(f"loader: internal error: {type(exc).__name__}: {exc}")
        if not debug:
            _to_stderr("  hint: run again with --debug to see the traceback")


def _to_stderr(line: str) -> None:
    """``line`` on stderr; nothing where there is none (``2>&-``: Python's print would take
    stdout instead, which may be another program's input)."""
    out = writable(sys.stderr)
    if out is not None:
        print(line, file=out)


def _show_progress(args: argparse.Namespace, quiet: bool, log: JsonLog | None) -> bool:
    """Never with ``--quiet`` nor with JSON logs (stderr is then JSON lines only: the progress
    goes as ``progress`` events); else ``--progress`` / ``--no-progress`` decide, or a terminal."""
    if quiet or log is not None:
        return False
    forced = getattr(args, "progress", None)
    return bool(forced) if forced is not None else is_terminal(sys.stderr)


def _early_log(args: argparse.Namespace) -> JsonLog | None:
    """JSON logs as asked by ``--log-format`` or ``LOADER_RUN__LOG_FORMAT``, known before
    the job file is read, so an error in the job file is logged as JSON too."""
    raw = os.environ.get("LOADER_RUN__LOG_FORMAT")
    given = vars(args)
    fmt = given.get("run.log_format") or (parse_value(raw) if raw is not None else "text")
    return JsonLog(quiet=bool(given.get("run.quiet"))) if fmt == "json" else None


# the key flags each command that reads a job file takes; ``--set`` reaches the others
_JOB_COMMAND_KEYS: dict[str, set[str]] = {"run": RUN_KEYS, "replay": REPLAY_KEYS | REPLAY_JOB_KEYS, "validate": set()}


def hint_for(text: str, command: str, *, names: tuple[str, ...] | None = None, keep: tuple[str, ...] = ()) -> str:
    """The advice of a hint (``keep``: its verbatim text, left as it is) or of a message (``names``:
    its only advice, ``LoaderError.names``) as ``command`` takes it: advice names ``loader
    load``'s flags, and a key flag a job command lacks (``loader run`` has no ``--mode``, nor
    ``--table``) is spelled ``--set KEY=VALUE``, with the flag's placeholder where no value is given."""
    from .api import _FLAG, _flags, _hint_of, respell

    keys = _JOB_COMMAND_KEYS.get(command)
    if keys is None:
        return text

    def spelled(m: re.Match[str]) -> str:
        flag, value = m.groups()
        dotted = _flags().get(flag)
        if dotted is None or _wanted(dotted, keys):
            return m.group(0)
        given = None if value is None else _set_value(dotted, flag, value)
        if given is not None:
            return given
        rest = m.group(0)[len(flag) + 2 :]  # the word after the flag, if any, is the hint's own
        if _hint_of(dotted) is bool:  # a switch: on
            return f"--set {dotted}=true" + rest
        return _set_pair(dotted, _placeholder(flag)) + rest

    return respell(_FLAG, spelled, text, names=names, keep=keep)


@functools.cache
def _load_flags() -> dict[str, argparse.Action]:
    """``loader load``'s key flags by name (``table``): the flags hints are written with."""
    load = _commands(build_parser(helps=False))["load"]
    return {o[2:]: a for a in load._actions for o in a.option_strings if o.startswith("--")}


def _set_value(dotted: str, flag: str, value: str) -> str | None:
    """``--set`` for a flag and its value (``--columns id=int64``: ``--set source.columns.id=int64``),
    None where the key does not take the value: then the word is the hint's own."""
    from .api import _taken

    if _taken(dotted, parse_value(value)):
        return f"--set {dotted}={value}"
    convert = _load_flags()[flag].type
    try:
        # a value the hint quotes for the shell (``--columns 'amount=decimal(10,2)'``) is the quoted text
        typed = convert(value.strip("'")) if callable(convert) else None
    except (argparse.ArgumentTypeError, ValueError):
        return None
    if isinstance(typed, dict) and typed and _taken(dotted, typed):
        return " ".join(_set_pair(dotted, f"{k}={v}") for k, v in typed.items())
    return None


def _placeholder(flag: str) -> str:
    """What ``--set`` takes for a flag given no value in a hint: its metavar (``NAME``,
    ``NAME=TYPE``: one column of a table), else the key's name in capitals (``ENGINE``)."""
    action = _load_flags()[flag]
    shown = action.metavar if isinstance(action.metavar, str) else action.dest.split(".")[-1].upper()
    return shown.removesuffix(",...")


def _set_pair(dotted: str, value: str) -> str:
    """``--set KEY=VALUE``; a table's entry (``NAME=TYPE``) is set by its own key, as ``--set`` takes it."""
    from .api import _table_key

    if _table_key(dotted) and "=" in value:
        name, _, typ = value.partition("=")
        return f"--set {shlex.quote(f'{dotted}.{name}={typ}')}"
    return f"--set {dotted}={value}"


STAGE_HINT = "check the stage in the job file (docs/transforms.md lists each stage's keys and syntax)"


def _fail(exc: BaseException, code: int, command: _Command) -> None:
    if isinstance(exc, ConfigError) and exc.hint and exc.hint.startswith(ConfigError.default_hint):
        # the Python API's hint does not fit a command line (nor does it once a rerun would resume)
        # a stage's key or syntax: run --help lists no stage, the stages' page does
        first = STAGE_HINT if exc.stage else ConfigError.cli_hint(command.args.command)
        exc.hint = first + exc.hint[len(ConfigError.default_hint) :]
    if isinstance(exc, LoaderError) and exc.hint:
        exc.hint = hint_for(exc.hint, command.args.command, keep=exc.verbatim)
    if isinstance(exc, LoaderError) and exc.names:  # a flag its message says to try (``try --delimiter ';'``)
        exc.message = hint_for(exc.message, command.args.command, names=exc.names)
        exc.args = (exc.message,)
    debug, log = command.debug, command.log
    with _stderr_may_fail():
        if log is not None:
            log.error(exc, code, debug)
        else:
            _print_error(exc, debug)


def _print_summary(report: RunReport) -> None:
    with _stderr_may_fail():
        _to_stderr(report.summary())


@contextlib.contextmanager
def _stderr_may_fail() -> Iterator[None]:
    """A line stderr cannot take (a full disk, a closed pipe) is dropped: the run's report
    and exit code say how it ended, and a failed write must not turn into another error."""
    try:
        yield
    except OSError:
        pass


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """argparse, with a did-you-mean for a mistyped command or flag (exits 2 like argparse)."""
    commands = _commands(parser)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in commands and not {"-h", "--help", "--version"} & set(argv):
        guess = did_you_mean(first, commands)
        parser.error(f"unknown command {first!r}; " + (guess or "commands: " + ", ".join(commands)))
    args, extras = parser.parse_known_args(argv)
    if args.command == "replay" and extras and not any(e.startswith("-") for e in extras):
        # a load's paths after a flag (``replay R.jsonl --job-flags ... SOURCE TARGET``): argparse
        # gave the positionals out with REJECTS.jsonl, the first word
        args.paths, extras = [*args.paths, *extras], []
    if extras:
        sub = commands[args.command]
        names = [o[2:] for action in sub._actions for o in action.option_strings if o.startswith("--")]
        unknown = next((e.split("=")[0] for e in extras if e.startswith("--")), None)
        guess = _guess_flag(unknown[2:], names, args) if unknown else None  # compared without the dashes
        sub.error(f"unrecognized arguments: {' '.join(extras)}" + (f" (did you mean {guess}?)" if guess else ""))
    return args


def _guess_flag(word: str, names: list[str], args: argparse.Namespace) -> str | None:
    """``--NAME``s nearest to ``word``. A key two sections share (``--block-size``) is each
    section's flag (``--source-block-size``), but a sink's only where the target's sink
    takes the key: a SQLite load meant the source's."""
    shared = [n for n in (f"source-{word}", f"sink-{word}") if n in names]
    if not shared:
        guess = closest(word, names)
        return None if guess is None else f"--{guess}"
    sink = _target_sink(args)
    if sink is not None and word.replace("-", "_") in sinks.others_keys(sink):
        shared.remove(f"sink-{word}")
    return " or ".join(f"--{n}" for n in shared)


def _target_sink(args: argparse.Namespace) -> sinks.Sink | None:
    """The sink ``loader load``'s flags name (``--sink``, the target's suffix); None when
    they do not (a job file's target is not read for a usage error)."""
    named = getattr(args, "sink.type", None)
    if named is not None:
        return sinks.get(named) if named in sinks.names() else None
    paths = getattr(args, "paths", None) or []
    return sinks.for_path(paths[-1]) if len(paths) >= 2 else None


class _Command:
    """One command's run: the job, and how it logs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.debug = bool(getattr(args, "debug", False))
        self.quiet = False
        self.log = _early_log(args)

    def execute(self) -> int:
        args = self.args
        if args.command == "inspect" or args.command == "validate" or getattr(args, "dry_run", False):
            stopping.stop_listening_early()  # no run to stop at a batch boundary: signals as usual
        if args.command == "inspect":
            return _inspect(args)
        job = job_for(args)
        self.quiet = job.run.quiet
        self.log = log = JsonLog(quiet=self.quiet) if job.run.log_format == "json" else None
        pipeline = Pipeline(
            job,
            handle_signals=stopping.on_main_thread(),  # the command run by a host's thread: the host's handlers
            progress=_show_progress(args, self.quiet, log),
            on_event=log.on_event if log else None,
            allow_python=True if getattr(args, "allow_python", False) else None,  # None: LOADER_ALLOW_PYTHON decides
        )
        if args.command == "validate" or getattr(args, "dry_run", False):
            plan = pipeline.plan()
            for line in plan.lines():
                _say(line)
            _say(plan.ok_line())
            return EXIT_OK
        report = pipeline.replay(args.rejects_file) if args.command == "replay" else pipeline.run()
        if not self.quiet and log is None:
            _print_summary(report)
        return EXIT_OK

    def failed(self, exc: Exception) -> int:
        """The exit code of a command that raised ``exc``; ``Pipeline.run`` wrote its report and metrics."""
        code = exc.exit_code if isinstance(exc, LoaderError) else EXIT_FAILED
        report: RunReport | None = getattr(exc, "report", None)
        if report is not None and report.rows_read and not self.quiet and self.log is None:
            _print_summary(report)  # what was committed before the stop
        _fail(exc, code, self)
        return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(helps=bool({"-h", "--help"} & set(argv)))
    try:
        args = parse(parser, argv)
    except SystemExit as exc:  # argparse: --help is 0, bad usage is 2
        return _flushed(int(exc.code or 0))
    except _OutputClosed:
        return _output_closed()
    command = _Command(args)
    try:
        return _flushed(command.execute())
    except _OutputClosed:
        return _output_closed()
    except KeyboardInterrupt as exc:
        _fail(exc, 130, command)
        return 130
    except Exception as exc:  # one line for the user, the traceback behind --debug
        return command.failed(exc)
