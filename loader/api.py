"""The one-call Python API: ``load(source, target, ...)``.

It builds the same resolved ``JobConfig`` a job file does (same key names, same
checks, same did-you-mean for a mistyped name) and runs it. The option dicts
are typed: ``SourceOptions``, ``SinkOptions`` and ``RunOptions`` list the keys of
the job file's ``[source]``, ``[sink]`` and ``[run]`` tables (docs/job-files.md
describes each one).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .config import (
    SECTIONS,
    JobConfig,
    RunConfig,
    SinkConfig,
    SourceConfig,
    as_taken,
    build_section,
    check_names,
    check_values,
    flag_name,
    parse_value,
    resolve,
    shown,
)
from .errors import ConfigError, LoaderError

if TYPE_CHECKING:
    import pyarrow as pa

    from .report import RunReport
    from .transforms import Stage

PathLike = str | os.PathLike[str]


class SourceOptions(TypedDict, total=False):
    """Keys of ``[source]`` (all but ``path``, which is ``load()``'s first argument)."""

    format: Literal["csv", "parquet", "jsonl", "arrow"] | None
    delimiter: str | None
    quote_char: str | Literal[False] | None
    escape_char: str | Literal[False]
    escape_mode: Literal["literal", "c", "quote"]
    header: bool | None
    column_names: list[str] | None
    encoding: str
    null_values: list[str]
    na_values: list[str]
    quoted_nulls: bool
    decimal_separator: Literal[".", ","]
    thousands_separator: Literal[",", "."] | None
    skip_rows: int
    columns: dict[str, str]
    infer_rows: int
    block_size: int | str
    max_row_bytes: int | str
    allow_empty: bool
    min_age: float
    partitioning: Literal["auto", "hive", "none"]


class SinkOptions(TypedDict, total=False):
    """Keys of ``[sink]`` (all but ``path``, which is ``load()``'s ``target``)."""

    type: Literal["sqlite", "leveldb"] | None
    table: str | None
    mode: Literal["append", "replace", "upsert", "ignore"]
    primary_key: list[str]
    indexes: list[list[str]]
    batch_size: int | None
    alter: bool
    busy_timeout: float
    page_size: int | str
    cache_size: int | str
    key: str | None
    value: str
    sync: bool
    write_buffer_size: int | str
    max_file_size: int | str
    max_open_files: int
    lru_cache_size: int | str
    block_size: int | str
    compression: Literal["none", "snappy"]
    sort: Literal["auto", "always", "never"]
    sort_run_size: int | str
    merge_processes: int | None


class RunOptions(TypedDict, total=False):
    """Keys of ``[run]``."""

    chunk_size: int
    report: PathLike | None
    rejects: PathLike | None
    max_rejects: int | float | None
    job: str | None
    on_change: Literal["error", "skip", "reload"]
    restart: bool
    drop_gone: bool
    quiet: bool
    lock_wait: float
    read_ahead: int
    workers: int | None
    max_memory: int | str | None
    log_format: Literal["text", "json"]
    metrics_file: PathLike | None
    engine: Literal["threads", "processes", "dask"]
    scheduler: str | None
    part_size: int | str
    part_results: Literal["auto", "arrow", "database"]
    fork_workers: bool
    spill_dir: PathLike | None
    temp_dir: PathLike | None


def _table(cls: type, where: str, options: Mapping[str, Any] | None, given: Mapping[str, Any]) -> Any:
    """A config section from keyword options: the job file's name and type checks,
    with errors named after the argument (``sink_options.mdoe``)."""
    options = dict(options or {})
    given = {k: v for k, v in given.items() if v is not None}
    for name in options.keys() & given.keys():
        argument = {"path": "source" if cls is SourceConfig else "target"}.get(name, f"{name}=")
        raise ConfigError(
            f"{where}.{name}: load() takes it as its {argument} argument",
            hint=f"pass it once, as load()'s {argument} argument",
        )
    fields = [f.name for f in dataclasses.fields(cls)]
    check_names(where, options, [name for name in fields if name not in given])
    return build_section(cls, {**options, **given}, where)  # os.PathLike paths become text there


# The job keys load() takes as arguments of its own; the others are in its option dicts.
_ARGUMENTS = {"source.path": "source", "sink.path": "target", "sink.table": "table", "sink.key": "key"}


def _paths(source: Any) -> list[str]:
    """``source`` as a list of paths: one path, or any iterable of them (a list, ``Path.glob``'s
    generator, a set, a pandas Series). A table of data (a DataFrame: its iteration gives its
    column names), a mapping or bytes is refused, not taken as paths one item at a time."""
    if isinstance(source, (str, os.PathLike)):
        return [os.fspath(source)]
    table = isinstance(source, (bytes, bytearray, Mapping)) or hasattr(source, "columns")
    paths = None if table or not isinstance(source, Iterable) else list(source)
    if paths is None or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise ConfigError(
            f"source: expected a path or a list of paths, got {shown(source)}",
            hint="pass a path or glob (str or os.PathLike), or a list of them",
        )
    return [os.fspath(p) for p in paths]


def _check_arguments(target: Any, texts: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    if not isinstance(target, (str, os.PathLike)):
        raise ConfigError(
            f"target: expected a path, got {shown(target)}", hint="pass the database's path (str or os.PathLike)"
        )
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {shown(value)}")
    for name, value in options.items():
        if value is not None and not isinstance(value, Mapping):
            section = name.removesuffix("_options")
            raise ConfigError(
                f"{name}: expected a dict of the job file's [{section}] keys, got {shown(value)}",
                hint=f"pass a dict (or None), as the typed {section.title()}Options lists them",
            )


# A job key in an error's message or hint: ``run.chunk_size: ...``, ``(still locked after
# sink.busy_timeout = 2s)``, ``use run.engine = 'threads'``, ``source.columns.id``, with the value
# after ``=`` if any; not a part of a path (``/tmp/run.report``) nor of ``--set run.x=...``.
_KEY = re.compile(
    r"(?<![\w./\\'\"-])(?<!--set )([a-z]+)\.([a-z_]+)(?![\w-])"
    r"(?P<value> = (?>'[^']*'|\"[^\"]*\"|[^\s,;)]+)(?!,\s*['\"]))?"  # not the first of a list of values
)
# A command-line flag in advice, and the value after it if any (never the next flag, as in
# ``--restart --mode replace``): ``--mode replace``, ``(--table)``, ``--set run.on_change=reload``;
# it begins a word, as on a command line (``out--key.db`` holds none).
_FLAG = re.compile(r"(?<![^\s(])--([a-z][a-z-]*)(?: (?!-)('[^']*'|\"[^\"]*\"|[^\s),;]+))?")
# A keyword said twice, as a hint that gave the key and its flag: ``sink.alter = true (--alter)``.
_TWICE = re.compile(r"(\w+_options=\{[^{}]*\}|\w+=(?:\"[^\"]*\"|\S+?)) \(\1\)")


def respell(
    pattern: re.Pattern[str],
    spell: Callable[[re.Match[str]], str],
    text: str,
    *,
    names: tuple[str, ...] | None = None,
    lead: bool = False,
    keep: tuple[str, ...] = (),
) -> str:
    """``pattern.sub(spell, text)`` over the loader's own advice alone (``LoaderError.names``,
    ``.verbatim``): in a message (``names`` given), a match that starts one of ``names``, or
    the message (``lead``: its key); in a hint, any match that overlaps no ``keep`` text."""
    starts = None if names is None else {m.start() for n in names for m in re.finditer(re.escape(n), text)}
    if starts is not None and lead:
        starts.add(0)
    kept = [(m.start(), m.end()) for k in keep if k for m in re.finditer(re.escape(k), text)]

    def one(m: re.Match[str]) -> str:
        marked = starts is None or m.start() in starts
        if not marked or any(m.start() < end and start < m.end() for start, end in kept):
            return m.group(0)
        return spell(m)

    return pattern.sub(one, text)


def _as_given(exc: LoaderError) -> None:
    """An error's advice as ``load()`` takes it: the job key its message starts with and those it
    names (``LoaderError.names``: ``still locked after sink.busy_timeout = 2s``) as ``load()``
    took them (``run_options.chunk_size``, ``target``), and its hint's keys and command-line
    flags, but for its verbatim text, as ``load()``'s keywords (``--restart`` and
    ``run.restart = true``: ``run_options={"restart": True}``); a column name, value or reason
    the message quotes stays as it is."""
    message = respell(_FLAG, _keyword, exc.message, names=exc.names)
    message = respell(_KEY, _argument, message, names=exc.names, lead=True)
    if message != exc.message:
        exc.message = message
        exc.args = (message,)
    if exc.hint:
        hint = respell(_FLAG, _keyword, exc.hint, keep=exc.verbatim)
        hint = respell(_KEY, _key_keyword, hint, keep=exc.verbatim)
        exc.hint = _TWICE.sub(r"\1", hint)


def _job_key(m: re.Match[str]) -> str | None:
    """The job key ``m`` found (``sink.busy_timeout``), None where it is none: not a section's
    key, or a key followed by more of a name (``run.report.json``) that is no key's table entry."""
    section, key = m.group(1), m.group(2)
    if section not in SECTIONS or key not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
        return None
    dotted = f"{section}.{key}"
    if re.match(r"\.\w", m.string[m.end(2) :]) and not _table_key(dotted):
        return None
    return dotted


def _argument(m: re.Match[str]) -> str:
    """A job key as ``load()`` takes it: ``sink_options.busy_timeout``, ``table``; a value said after it stays."""
    dotted = _job_key(m)
    if dotted is None:
        return m.group(0)
    section, key = dotted.split(".")
    return _ARGUMENTS.get(dotted, f"{section}_options.{key}") + (m.group("value") or "")


def _key_keyword(m: re.Match[str]) -> str:
    """A hint's job key given a value ``load()``'s keyword with it (``run_options={"engine": "threads"}``), else as ``_argument``."""
    dotted, value = _job_key(m), m.group("value")
    if dotted is not None and value is not None:
        typed = parse_value(value.removeprefix(" = "))
        if _taken(dotted, typed):
            return _option(dotted, typed)
    return _argument(m)


@functools.cache
def _flags() -> dict[str, str]:
    """Each key's flag (``max-rejects``) -> its dotted key (``run.max_rejects``)."""
    keys = {f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    return {flag_name(*dotted.split(".")).removeprefix("--"): dotted for dotted in keys}


def _keyword(m: re.Match[str]) -> str:
    """One flag of a hint (and its value, where the key takes what follows) as ``load()`` takes it."""
    flag, value = m.groups()
    if flag == "set" and value and "=" in value:
        dotted, raw = value.split("=", 1)
        return _option(dotted, parse_value(raw)) if _taken(dotted, parse_value(raw)) else m.group(0)
    dotted = _flags().get(flag)
    if dotted is None:
        return m.group(0)
    if value is not None and _table_key(dotted) and "=" in value:  # a table's entry: --columns zip=int64
        name, _, entry = value.strip("'").partition("=")
        return _option(dotted, {name: entry})
    if value is not None and _taken(dotted, parse_value(value.rstrip("."))):
        return _option(dotted, parse_value(value.rstrip("."))) + value[len(value.rstrip(".")) :]
    rest = m.group(0)[len(flag) + 2 :]
    if _hint_of(dotted) is bool:  # a switch: on
        return _option(dotted, True) + rest
    section, key = dotted.split(".")
    return (_ARGUMENTS.get(dotted, f"{section}_options.{key}") + "=" * (dotted in _ARGUMENTS)) + rest


def _table_key(dotted: str) -> bool:
    """Whether a key holds a table (``source.columns``): its entries are keys of their own
    (``source.columns.id``)."""
    return typing.get_origin(_hint_of(dotted)) is dict


def _hint_of(dotted: str) -> Any:
    section, key = dotted.split(".")
    return typing.get_type_hints(SECTIONS[section]).get(key)


def _taken(dotted: str, value: Any) -> bool:
    """Whether ``value`` is one the key takes (the word after a flag may be the hint's own)."""
    section, key = dotted.split(".")
    if section not in SECTIONS or key not in {f.name for f in dataclasses.fields(SECTIONS[section])}:
        return False
    try:
        check_values(SECTIONS[section], {key: value}, section)
    except ConfigError:
        return False
    return _hint_of(dotted) is not bool or isinstance(value, bool)


def _option(dotted: str, value: Any) -> str:
    """``table="x"``, ``sink_options={"mode": "replace"}``; a value as the key holds it
    (``--delimiter '\\t'``: ``source_options={"delimiter": "\\t"}``, a tab)."""
    value = as_taken(dotted, value)
    text = isinstance(value, str) or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))
    shown = json.dumps(value) if text else repr(value)  # {"zip": "int64"}, as the JSON around it
    if dotted in _ARGUMENTS:
        return f"{_ARGUMENTS[dotted]}={shown}"
    section, key = dotted.split(".")
    return f'{section}_options={{"{key}": {shown}}}'


def load(
    source: PathLike | Iterable[PathLike],
    target: PathLike,
    *,
    table: str | None = None,
    key: str | None = None,
    transforms: Sequence[Stage | Callable[[pa.RecordBatch], pa.RecordBatch]] = (),
    source_options: SourceOptions | None = None,
    sink_options: SinkOptions | None = None,
    run_options: RunOptions | None = None,
) -> RunReport:
    """Load files into a SQLite or LevelDB target in one call; returns the run report.

    Args:
        source: A path, a glob, or an iterable of them (text or ``os.PathLike``); ``"-"`` is
            standard input. The format comes from the extension unless
            ``source_options["format"]`` says it.
        target: The database: a SQLite file (``.db``, ``.sqlite``, ``.sqlite3``) or a
            LevelDB directory (``.ldb``, ``.leveldb``); ``sink_options["type"]`` for others.
        table: SQLite table (default: the first source file's name without its extension and
            compression suffix: ``sales.2024-01.csv.gz`` gives ``sales.2024-01``).
        key: LevelDB key template over columns, e.g. ``"user:{id}"`` (required for LevelDB).
        transforms: Stage objects or ``RecordBatch -> RecordBatch`` functions, applied in
            order; the caller's own code, trusted.
        source_options: Keys of the job file's ``[source]`` table (``SourceOptions``).
        sink_options: Keys of the job file's ``[sink]`` table (``SinkOptions``).
        run_options: Keys of the job file's ``[run]`` table (``RunOptions``).

    Returns:
        The ``RunReport``: rows read, written, rejected and filtered, files, sizes used
        (also written to ``run_options["report"]`` and ``["metrics_file"]`` when given,
        after a failed load too, as the CLI writes them).

    Raises:
        ConfigError: An unknown option name (with a did-you-mean), a value or an argument of
            the wrong type, or options that do not fit together; nothing is written. A key is
            named as ``load()`` took it: ``run_options.chunk_size``, ``target``.
        LoaderError: The load failed; committed work is kept and a rerun resumes it. The
            error's ``report`` is the run's report.
    """
    from .pipeline import Pipeline  # pyarrow and the readers load on the first call

    paths = _paths(source)
    options = {"source_options": source_options, "sink_options": sink_options, "run_options": run_options}
    _check_arguments(target, {"table": table, "key": key}, options)
    job = JobConfig(
        source=_table(SourceConfig, "source_options", source_options, {"path": paths}),
        sink=_table(SinkConfig, "sink_options", sink_options, {"path": os.fspath(target), "table": table, "key": key}),
        run=_table(RunConfig, "run_options", run_options, {}),
    )
    if not paths and not job.source.allow_empty:
        # most often a Path.glob that matched nothing: allow_empty makes that a run of no files
        raise ConfigError(
            "source: the iterable of paths given is empty (a Path.glob() that matched no file?)",
            hint='pass source_options={"allow_empty": True} to load no file and succeed (a scheduled run), '
            "or the glob as text, whose error names it",
        )
    try:
        return Pipeline(resolve(job), transforms=transforms).run()
    except LoaderError as exc:
        _as_given(exc)
        raise


__all__ = ["RunOptions", "SinkOptions", "SourceOptions", "load"]
