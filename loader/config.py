"""Typed job configuration: TOML job files, environment overrides, ``--set``.

A job is four parts: ``[source]``, ``[[transform]]`` (zero or more),
``[sink]`` and ``[run]``. Every field below is documented where it is
declared, and docs/job-files.md mirrors them. Precedence, from
strongest: command-line flags and ``--set`` > ``LOADER_<SECTION>__<KEY>``
environment variables > the job file > the defaults here.

Unknown keys are errors (with a did-you-mean), never silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from .errors import ConfigError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst")
SECRETS_DIR = "/run/secrets"
# pandas' missing-value spellings less the NaN ones (those are floats already).
NA_VALUES = ("NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA", "<NA>", "NULL", "null", "None")


@dataclass
class SourceConfig:
    """Where rows come from (``[source]``)."""

    path: list[str]
    """A path, a glob, or a list of them; ``-`` is standard input (CSV). Files load in sorted order."""
    format: Literal["csv", "parquet", "jsonl", "arrow"] | None = None
    """``csv``, ``parquet``, ``jsonl`` (JSON Lines) or ``arrow`` (Arrow IPC / Feather); inferred from the file extension when omitted."""
    delimiter: str | None = None
    """CSV field separator; detected from the file when omitted (ties go to a tab for ``.tsv``, else a comma)."""
    quote_char: str | bool | None = None
    """CSV quote character, or ``false`` for none; detected (``"`` or ``'``) when omitted."""
    escape_char: str | bool = False
    """CSV escape character, or ``false`` (quotes are escaped by doubling)."""
    header: bool | None = None
    """Whether the first CSV row holds column names; detected when omitted. Without one, columns are ``column_1``..``column_N``."""
    column_names: list[str] | None = None
    """Column names for a CSV without a header (or to replace the header's)."""
    encoding: str = "utf-8"
    """CSV text encoding; other encodings are transcoded to UTF-8 on the fly."""
    null_values: list[str] = field(default_factory=lambda: [""])
    """CSV values read as NULL. By default only the empty field."""
    na_values: list[str] = field(default_factory=lambda: list(NA_VALUES))
    """CSV values read as NULL in a column whose other values are all numbers, booleans,
    dates or timestamps (or one declared so); in a text column they stay text. ``[]``: none."""
    decimal_separator: Literal[".", ","] = "."
    """``","``: CSV numbers written ``3,50`` are numbers (float64 when exact, or a declared decimal); otherwise they stay text."""
    skip_rows: int = 0
    """Lines to skip before the header."""
    columns: dict[str, str] = field(default_factory=dict)
    """Type overrides by column, e.g. ``{ zip = "string", amount = "float64" }``."""
    infer_rows: int = 100_000
    """CSV rows sampled to infer column types (types are never guessed from one block)."""
    block_size: int = 1 << 20
    """Bytes of CSV parsed at a time; a chunk holds up to ``run.chunk_size`` rows."""
    max_row_bytes: int | str = 64 << 20
    """Longest CSV row (bytes); a longer row, or a quote not closed within it, is rejected."""
    allow_empty: bool = False
    """A glob that matches no file is not an error (useful on a schedule)."""


@dataclass
class SinkConfig:
    """Where rows go (``[sink]``)."""

    path: str
    """The target: a SQLite file or a LevelDB directory."""
    type: Literal["sqlite", "leveldb"] | None = None
    """``sqlite`` or ``leveldb``; inferred from the path's suffix when omitted."""
    table: str | None = None
    """SQLite table (default: the first source file's name without extension)."""
    mode: Literal["append", "replace", "upsert", "ignore"] = "append"
    """``append``; ``replace`` (drop and recreate); ``upsert`` (on primary key); ``ignore`` (skip duplicates)."""
    primary_key: list[str] = field(default_factory=list)
    """Primary-key columns (SQLite); required for ``upsert`` and ``ignore``."""
    indexes: list[list[str]] = field(default_factory=list)
    """Indexes to create after the load, each a list of columns (SQLite)."""
    batch_size: int | None = None
    """Rows per transaction (SQLite, default 50000) or checkpoint (LevelDB, default 8192; each chunk is one WriteBatch)."""
    alter: bool = False
    """Add columns that later files bring (SQLite) instead of failing."""
    busy_timeout: float = 30.0
    """Seconds to retry while another program holds the target (SQLite lock or LevelDB LOCK), then exit 75."""
    key: str | None = None
    """LevelDB key template over columns, e.g. ``user:{id}`` or ``{day}/{id:08d}``."""
    value: str = "json"
    """LevelDB value: ``json`` (an object of the row's columns) or one column stored raw."""
    sync: bool = False
    """LevelDB: fsync every WriteBatch."""
    write_buffer_size: int = 8 << 20
    """LevelDB write buffer (memtable) in bytes. Two are held in memory, and each becomes a
    level-0 table that compaction maps into memory: it counts toward peak RSS, and
    ``run.max_memory`` shrinks it."""
    max_file_size: int = 2 << 20
    """LevelDB table file size in bytes. Compaction maps its input tables into memory whole
    (with keys in no order, a table and the ~10 it overlaps one level down), so the memory
    ``run.max_memory`` shrinks it like ``write_buffer_size``."""
    max_open_files: int = 1000
    """LevelDB files kept open at once (LevelDB's minimum is 74)."""
    lru_cache_size: int = 8 << 20
    """LevelDB block cache in bytes; ``run.max_memory`` shrinks it."""
    block_size: int = 64 << 10
    """LevelDB table block in bytes (LevelDB's own default is 4 KiB). A flush writes a
    table one block per write call: 64 KiB made 1M-row loads ~4% faster (57k write calls
    fewer), with random reads as fast and scans ~8% faster."""
    compression: Literal["none", "snappy"] = "none"
    """LevelDB block compression. ``none`` loads ~1.6x faster than ``snappy``
    (bench: 1M rows of JSON values) and takes ~2x the disk."""


@dataclass
class RunConfig:
    """How the run behaves (``[run]``)."""

    chunk_size: int = 8192
    """Rows per chunk: the memory bound (each chunk in flight also exists as Python values
    for the writer; 8192 measured as fast as 65536 with 70 MB less peak RSS on Parquet)."""
    report: str | None = None
    """Write the run report as JSON here (also ``--report``)."""
    rejects: str | None = None
    """Reject file (JSON lines); default ``<target>.<job>.rejects.jsonl`` next to the target."""
    max_rejects: int | float | None = None
    """Stop (exit 3) past this many rejected rows, or this fraction when below 1. ``0`` is strict."""
    job: str | None = None
    """Name that keys this job's checkpoints in the target (default: the table or key template)."""
    on_change: Literal["error", "skip", "reload"] = "error"
    """What to do when a checkpointed source file changed."""
    restart: bool = False
    """Ignore checkpoints and load everything again."""
    quiet: bool = False
    """No progress bar and no summary line."""
    lock_wait: float = 0.0
    """Seconds to wait for another run on the same target before exiting with 75."""
    read_ahead: int = 2
    """Chunks parsed ahead in a background thread (0 reads in the writing thread)."""
    workers: int | None = None
    """Threads that parse and convert CSV blocks at once, results kept in order. Unset:
    2 for CSV into LevelDB when ``usable_cpus()`` (affinity, cgroup quota) is 2 or more, else 1. Measured on
    2 cores: CSV -> LevelDB 8% faster with 2 for ~16 MB more; CSV -> SQLite 10% slower,
    its writer needing a core of its own (see docs/performance.md)."""
    max_memory: int | str | None = None
    """Peak memory ceiling, e.g. ``"100MB"`` or ``"1GB"`` (a bare number is bytes). Chunk, batch,
    CSV block and LevelDB write-buffer sizes shrink to fit under it; the report shows the sizes used."""
    log_format: Literal["text", "json"] = "text"
    """``text`` for people; ``json`` writes one JSON object per event on stderr for log collectors
    (the container image sets ``LOADER_RUN__LOG_FORMAT=json``)."""
    metrics_file: str | None = None
    """Write Prometheus text-format metrics here after each run (for the node exporter's textfile collector)."""


@dataclass
class JobConfig:
    """A whole job: source, transform stages, sink, run settings."""

    source: SourceConfig
    sink: SinkConfig
    transform: list[dict[str, Any]] = field(default_factory=list)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        finish(self)


SECTIONS: dict[str, type] = {"source": SourceConfig, "sink": SinkConfig, "run": RunConfig}


# ---------------------------------------------------------------- validation


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (inner,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        k, v = typing.get_args(hint)
        return isinstance(value, dict) and all(_type_ok(a, k) and _type_ok(b, v) for a, b in value.items())
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint) if h is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "nothing"
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return "a table of " + _describe(typing.get_args(hint)[1])
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def unknown_key(where: str, key: str, known: list[str]) -> ConfigError:
    guess = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {guess[0]!r}?" if guess else "known keys: " + ", ".join(sorted(known))
    return ConfigError(f"{where}.{key}: unknown key", hint=hint)


def build_section(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Check a table against a dataclass: unknown keys, missing keys, value types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise unknown_key(where, key, list(fields))
    values = dict(data)
    if cls is SourceConfig and isinstance(values.get("path"), str):
        values["path"] = [values["path"]]
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: required key is missing")
            continue
        if not _type_ok(values[name], hints[name]):
            raise ConfigError(f"{where}.{name}: expected {_describe(hints[name])}, got {values[name]!r}")
    return cls(**values)


# ------------------------------------------------------------ interpolation

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _read_line(path: str) -> str:
    """A secret or value file's text, less its final newline."""
    with open(path, encoding="utf-8") as fh:
        return fh.read().rstrip("\r\n")


def read_secret(name: str, env: Mapping[str, str]) -> str | None:
    """``NAME``, else the file named by ``NAME_FILE``, else ``/run/secrets/NAME``.

    A ``NAME_FILE`` that cannot be read is an error: falling through to a
    default would hide a mount that went missing.
    """
    if name in env:
        return env[name]
    named = env.get(f"{name}_FILE")
    if named:
        try:
            return _read_line(named)
        except OSError as exc:
            raise ConfigError(
                f"{name}_FILE: cannot read {named}: {exc.strerror}", hint="mount the secret file or unset the variable"
            ) from None
    path = os.path.join(SECRETS_DIR, name)
    if os.path.isfile(path):
        return _read_line(path)
    return None


def interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string, recursively."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            found = read_secret(m.group(1), env)
            if found is not None:
                return found
            if m.group(2) is not None:
                return m.group(2)
            raise ConfigError(
                f"{where}: environment variable {m.group(1)} is not set",
                hint=f"set {m.group(1)} (or {m.group(1)}_FILE), or write ${{{m.group(1)}:-default}}",
            )

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}") for k, v in value.items()}
    return value


# ----------------------------------------------------------------- overrides


def parse_value(raw: str) -> Any:
    """A TOML value when it parses as one (``50000``, ``true``, ``["id"]``), else the text."""
    import tomllib  # here and in load_job only: a plain load never parses TOML (4 ms of every start)

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def set_key(data: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    """Set ``section.key`` (or ``section.key.sub``) in a raw job table."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"{origin}: expected SECTION.KEY=VALUE, got {dotted!r}")
    if parts[0] not in SECTIONS:
        raise unknown_key(origin, parts[0], list(SECTIONS))
    node = data.setdefault(parts[0], {})
    for part in parts[1:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {dotted} does not name a table")
    node[parts[-1]] = value


def _is_key(dotted: str) -> bool:
    """``run.metrics_file`` is a key of its own, not ``run.metrics`` read from a file."""
    section, _, key = dotted.partition(".")
    cls = SECTIONS.get(section)
    return cls is not None and key in {f.name for f in dataclasses.fields(cls)}


def env_overrides(env: Mapping[str, str]) -> list[tuple[str, Any]]:
    """``LOADER_SINK__PATH=x`` becomes ``("sink.path", "x")``; ``..._FILE`` reads the file."""
    out = []
    for name in sorted(env):
        if not name.startswith("LOADER_") or "__" not in name:
            continue
        dotted = name[len("LOADER_") :].lower().replace("__", ".")
        if dotted.endswith("_file") and "." in dotted and not _is_key(dotted):
            dotted = dotted[: -len("_file")]
            try:
                raw = _read_line(env[name])
            except OSError as exc:
                raise ConfigError(f"{name}: cannot read {env[name]}: {exc.strerror}") from None
            out.append((dotted, raw))
        else:
            out.append((dotted, parse_value(env[name])))
    return out


def apply_overrides(
    data: dict[str, Any], sets: list[str] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Environment first, then ``--set`` pairs, so flags win."""
    for dotted, value in env_overrides(env if env is not None else os.environ):
        set_key(data, dotted, value, f"environment LOADER_{dotted.upper().replace('.', '__')}")
    for pair in sets or []:
        if "=" not in pair:
            raise ConfigError(f"--set {pair}: expected SECTION.KEY=VALUE")
        dotted, raw = pair.split("=", 1)
        set_key(data, dotted.strip(), parse_value(raw), f"--set {dotted.strip()}")
    return data


# --------------------------------------------------------------- job files


def job_from_dict(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> JobConfig:
    """Build and check a job from the raw tables of a job file."""
    data = interpolate(dict(data), env if env is not None else os.environ, "job")
    for key in data:
        if key not in (*SECTIONS, "transform"):
            raise unknown_key("job", key, [*SECTIONS, "transform"])
    if "source" not in data:
        raise ConfigError("job: the [source] table is missing")
    if "sink" not in data:
        raise ConfigError("job: the [sink] table is missing")
    transforms = data.get("transform", [])
    if isinstance(transforms, dict):
        transforms = [transforms]
    if not isinstance(transforms, list) or not all(isinstance(t, dict) for t in transforms):
        raise ConfigError("transform: expected [[transform]] tables")
    return JobConfig(
        source=build_section(SourceConfig, data["source"], "source"),
        sink=build_section(SinkConfig, data["sink"], "sink"),
        transform=list(transforms),
        run=build_section(RunConfig, data.get("run", {}), "run"),
    )


def load_job(
    path: str | os.PathLike[str],
    sets: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> JobConfig:
    """Read a TOML job file, apply environment and ``--set`` overrides, check it."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such job file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML job file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    environ = env if env is not None else os.environ
    return job_from_dict(apply_overrides(data, sets, environ), environ)


# ----------------------------------------------------------------- defaults


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_glob(path: str) -> bool:
    """Whether a source path is a pattern (``*``, ``?`` or ``[``) rather than a file."""
    return bool(set("*?[") & set(path))


def infer_format(path: str) -> str | None:
    name = _strip_compression(path.lower())
    if name.endswith(CSV_SUFFIXES) or path == "-":
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(ARROW_SUFFIXES):
        return "arrow"
    return None


def infer_sink_type(path: str) -> str | None:
    from . import sinks

    sink = sinks.for_path(path)
    return sink.name if sink is not None else None


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: int | str, where: str) -> int:
    """Bytes from ``104857600``, ``"100MB"``, ``"100MiB"`` or ``"1.5G"`` (units are powers of 1024)."""
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE.match(value)
        if m is None:
            raise ConfigError(f"{where}: expected a size such as 100MB or 1GB, got {value!r}")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()[:1]])
    if n < 1:
        raise ConfigError(f"{where}: expected a positive size, got {value!r}")
    return n


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPUs a cgroup quota allows (``docker run --cpus``, a Kubernetes CPU
    limit), or None when there is none: cgroup v2's ``cpu.max``, else v1's CFS files."""
    try:
        with open(os.path.join(root, "cpu.max"), encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us"), encoding="ascii") as fh:
            quota_us = int(fh.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us"), encoding="ascii") as fh:
            period_us = int(fh.read())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cpus(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """Whole CPUs this process may keep busy: its affinity mask (a cpuset), capped
    by a cgroup CPU quota (a container's CPU limit)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return cpus if quota is None else max(1, min(cpus, int(quota)))


def _check_encoding(name: str) -> None:
    import codecs

    try:
        text = getattr(codecs.lookup(name), "_is_text_encoding", True)  # not base64, zlib, ...
    except LookupError:
        text = False
    if not text:
        raise ConfigError(
            f"source.encoding: {name!r} is not a text encoding Python knows", hint="e.g. utf-8, cp1252, latin-1, utf-16"
        )


def finish(job: JobConfig) -> None:
    """Fill in inferred values and check rules that span several keys."""
    src, sink, run = job.source, job.sink, job.run
    # Python callers may pass pathlib.Path (any os.PathLike) where a job file has text
    if isinstance(src.path, (str, os.PathLike)):
        src.path = [src.path]  # type: ignore[list-item]
    src.path = [os.fspath(p) for p in src.path]
    sink.path = os.fspath(sink.path)
    if not src.path:
        raise ConfigError("source.path: expected at least one path")
    if src.format is None:
        formats = {infer_format(p) for p in src.path}
        if len(formats) != 1 or None in formats:
            raise ConfigError(
                f"source.format: cannot tell the format of {', '.join(src.path)}",
                hint='set source.format = "csv", "parquet", "jsonl" or "arrow" (or --format)',
            )
        src.format = formats.pop()  # type: ignore[assignment]
    if src.delimiter is not None and len(src.delimiter) != 1:
        raise ConfigError(f"source.delimiter: expected one character, got {src.delimiter!r}")
    for key in ("quote_char", "escape_char"):
        value = getattr(src, key)
        if value is True or (isinstance(value, str) and len(value) != 1):
            raise ConfigError(f"source.{key}: expected one character or false, got {value!r}")
    if src.skip_rows < 0:
        raise ConfigError("source.skip_rows: expected 0 or more")
    if src.infer_rows < 1:
        raise ConfigError("source.infer_rows: expected 1 or more")
    if src.block_size < 1024:
        raise ConfigError("source.block_size: expected at least 1024 bytes")
    src.max_row_bytes = parse_size(src.max_row_bytes, "source.max_row_bytes")
    _check_encoding(src.encoding)
    if src.max_row_bytes < 1024:
        raise ConfigError("source.max_row_bytes: expected at least 1024 bytes")
    from . import sinks

    if sink.type is None:
        sink.type = infer_sink_type(sink.path)  # type: ignore[assignment]
        if sink.type is None:
            raise ConfigError(
                f"sink.type: cannot tell the database from {sink.path!r}",
                hint="use a .db/.sqlite/.sqlite3 or .ldb/.leveldb path, or set sink.type (--sink)",
            )
    job.sink = sink = sinks.get(sink.type).resolve(sink, src)
    if sink.block_size < 1024:
        raise ConfigError("sink.block_size: expected at least 1024 bytes")
    if sink.batch_size is None or sink.batch_size < 1:
        raise ConfigError("sink.batch_size: expected 1 or more")
    if run.chunk_size < 1:
        raise ConfigError("run.chunk_size: expected 1 or more")
    if run.workers is None:
        run.workers = sinks.get(str(sink.type)).default_workers(src.format, usable_cpus())
    if run.workers < 1:
        raise ConfigError("run.workers: expected 1 or more")
    if run.max_rejects is not None and run.max_rejects < 0:
        raise ConfigError("run.max_rejects: expected 0 or more (a count, or a fraction below 1)")
    if run.max_memory is not None:
        run.max_memory = parse_size(run.max_memory, "run.max_memory")
