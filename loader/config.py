"""Typed job configuration: TOML job files, environment overrides, ``--set``.

A job is four parts: ``[source]``, ``[[transform]]`` (zero or more),
``[sink]`` and ``[run]``. Every field below is documented where it is
declared, and docs/job-files.md mirrors them. Precedence, from
strongest: command-line flags and ``--set`` > ``LOADER_<SECTION>__<KEY>``
environment variables > the job file > the defaults here.

Unknown keys are errors (with a did-you-mean), never silently ignored.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import itertools
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Union

from . import cpus
from .errors import EXIT_CONFIG, ConfigError
from .suggest import did_you_mean

if TYPE_CHECKING:
    import ast

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")  # .json: BigQuery, mongoexport and Spark write JSON Lines
ARROW_SUFFIXES = (".arrow", ".arrows", ".feather", ".ipc")  # .arrows: the stream format's own
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst")
SECRETS_DIR = "/run/secrets"
# pandas' missing-value spellings less the NaN ones (those are floats already).
NA_VALUES = ("NA", "N/A", "n/a", "#N/A", "#N/A N/A", "#NA", "<NA>", "NULL", "null", "None")
# Field metadata. SIZE: a number of bytes, or text such as "100MB" parsed into bytes as the
# section is made (check_values); every key that holds bytes is one.
# PATH: a relative path in a job file resolves against the job file's directory.
Format = Literal["csv", "parquet", "jsonl", "arrow"]
SIZE: Mapping[str, Any] = MappingProxyType({"size": True})
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 512, 65536  # SQLite's own bounds on page_size
PATH: Mapping[str, Any] = MappingProxyType({"path": True})
PathArg = str | os.PathLike[str]  # a path as the constructors take it (made text)


@dataclass(frozen=True)
class SourceConfig:
    """Where rows come from (``[source]``)."""

    path: list[str] = field(metadata=PATH)
    """A path, a glob, or a list of them; ``-`` is standard input (CSV). ``s3://``, ``gs://`` and ``hdfs://`` URIs read from object storage (see Object storage). Files load in sorted order. ``*`` and ``**`` skip hidden names and the markers Spark and Hadoop write beside an output (``_temporary/``, ``_SUCCESS``); a file named exactly as the path is that file, ``[`` and all (see Globs)."""
    format: Format | None = None
    """``csv``, ``parquet``, ``jsonl`` (JSON Lines) or ``arrow`` (Arrow IPC / Feather); inferred from the file extension when omitted: ``.csv``, ``.tsv``, ``.txt``; ``.parquet``, ``.pq``; ``.jsonl``, ``.ndjson``, ``.json`` (read as JSON Lines: a file that is one JSON array is refused with a hint); ``.arrow``, ``.arrows`` (the stream format's), ``.feather``, ``.ipc`` (a CSV or JSON Lines file may add ``.gz``, ``.bz2`` or ``.zst``). A glob whose text has no extension (``inbox/*``, ``*.csv*``) takes the format of the files it matches, which must all have one and the same."""
    delimiter: str | None = None
    """CSV field separator, one ASCII character; detected from the file when omitted (ties go to a tab for ``.tsv``, else a comma). Not a line break, nor the quote or escape character. A tab may be written ``\\t``, the two characters a shell passes for ``'\\t'`` (``--delimiter '\\t'``)."""
    quote_char: str | Literal[False] | None = None
    """CSV quote character (one ASCII character), or ``false`` for none; detected (``"`` or ``'``) when omitted."""
    escape_char: str | Literal[False] = False
    """CSV escape character (one ASCII character), or ``false`` (quotes are escaped by doubling); not the quote (``"`` when ``quote_char`` is unset). A null or na spelling holding it (``\\N``) is matched on the field as written, before unescaping: an escaped ``\\\\N`` is the text ``\\N``."""
    escape_mode: Literal["literal", "c", "quote"] = "literal"
    """What the escape character means (see Escapes): ``literal``, the character after it is itself; ``c``, C escapes as PostgreSQL's text format and MySQL write them (``\\t`` tab, ``\\n`` and ``\\r`` line breaks, ``\\b``, ``\\f``, ``\\v``, ``\\0`` NUL, ``\\Z`` ctrl-Z; any other character itself); ``quote``, it escapes only a quote, or itself before one, as Spark writes CSV (any other is text: ``C:\\temp``). With ``c`` or ``quote``, ``escape_char`` defaults to ``\\``."""
    header: bool | None = None
    """Whether the first CSV row holds column names; detected when omitted. Without one, columns are ``column_1``..``column_N``."""
    column_names: list[str] | None = None
    """Column names for a CSV without a header: given, the file is read as headerless unless
    ``header = true``, where they replace the header's names. As many as the header has fields,
    or most sampled rows of a headerless file (else exit 2 before anything is written; a row
    of another count is rejected)."""
    encoding: str = "utf-8"
    """CSV and JSON Lines text encoding; other encodings are transcoded to UTF-8 on the fly (a row
    holding bytes the encoding cannot decode is rejected). A file plainly in another encoding is
    refused, naming the one to read it with: UTF-16 read as UTF-8 or cp1252 (by its first 4 KiB),
    UTF-8 read as cp1252, latin-1 or shift_jis (a UTF-8 byte order mark, or a first 4 KiB holding
    more than ASCII and a first 4 MiB, or all of a smaller file, that are all UTF-8)."""
    null_values: list[str] = field(default_factory=lambda: [""])
    """CSV values read as NULL; given, they replace the default, the empty field (quoted ``""`` or not),
    so add ``""`` to keep empty fields NULL (``--null-values '\\N' --null-values ''``)."""
    na_values: list[str] = field(default_factory=lambda: list(NA_VALUES))
    """CSV values read as NULL in a column whose other values are all numbers, booleans,
    dates or timestamps (or one declared so), or that has no other value in a file; given,
    they replace the default list, unlike pandas' ``na_values``, so name each default to keep
    (``--na-values '#DIV/0!' --na-values '#N/A'``). Beside other text they stay text. ``[]``: none."""
    quoted_nulls: bool = True
    """Whether a quoted CSV value may be NULL. ``false``: a quoted value is never NULL, whatever
    ``null_values`` and ``na_values`` say (``""`` is the empty string, ``"NA"`` the text NA), as
    PostgreSQL's ``COPY ... CSV``, Spark and R's ``write.csv`` tell NULL from text by quoting;
    unquoted values are read as with ``true``."""
    decimal_separator: Literal[".", ","] = "."
    """``","``: CSV numbers written ``3,50`` are numbers (float64 when exact, or a declared decimal); otherwise they stay text."""
    thousands_separator: Literal[",", "."] | None = None
    """CSV numbers grouped by it in threes are numbers: ``","`` reads ``1,234,567.5`` (US Excel),
    ``"."`` with ``decimal_separator = ","`` reads ``1.234.567,5`` (European Excel); ``1,234`` is
    then the integer 1234, never 1.234. A value holding it elsewhere (``1,23``, ``12,3456``) leaves
    an inferred column text and is rejected in a numeric one. Not the decimal separator; as the
    delimiter, values holding it must be quoted (``"1,234.56"``, as Excel writes them)."""
    skip_rows: int = 0
    """Lines to skip before the header."""
    columns: dict[str, str] = field(default_factory=dict)
    """Type overrides by column: ``--columns zip=string,amount=decimal(10,2)``, in a job file
    ``{ zip = "string", amount = "decimal(10,2)" }``. A file may lack a declared column (its rows
    hold null there); a name no input, table or checkpoint has is refused (exit 2)."""
    infer_rows: int = 100_000
    """CSV rows sampled to infer column types (types are never guessed from one block)."""
    block_size: int = field(default=1 << 20, metadata=SIZE)
    """Bytes of CSV parsed at a time; a chunk holds up to ``run.chunk_size`` rows. At most
    1023MB (pyarrow parses less than 2 GiB at a time, and a block gets room for twice its size)."""
    max_row_bytes: int = field(default=64 << 20, metadata=SIZE)
    """Longest CSV row (bytes); a longer row, or a quote not closed within it, is rejected.
    At most 2047MB (pyarrow parses less than 2 GiB at a time)."""
    allow_empty: bool = False
    """A glob that matches no file, or an empty list of paths, is not an error but a run of no files (useful on a schedule). Only where the glob's directories exist and can be listed: a missing one (the glob's fixed directory) or one the run's user cannot list stops the run with exit 66 naming it."""
    min_age: float = 0.0
    """Seconds since a file last changed before it loads (0: off). A file modified more recently
    (still being written into the glob by a copy or an upload) is left for a later run, listed
    with status ``too-new`` and counted in ``files_too_new``; it is neither loaded nor an error.
    Local files only (objects in object storage appear whole). See Run on a schedule."""
    partitioning: Literal["auto", "hive", "none"] = "auto"
    """Columns from ``key=value`` folders in the inputs' paths (Hive partitioning, as pyarrow, Spark and
    DuckDB write it): ``auto`` adds each input's own (a key another input's path has and its path
    lacks is NULL, as pyarrow reads it; after a run that loaded them, an input without them is an
    error); ``hive`` requires the same keys in every input's path (an input without them is an
    error); ``none`` never adds them. See Partitioned folders."""

    if (
        TYPE_CHECKING
    ):  # what the constructor takes (paths as os.PathLike and sizes as text), normalised in __post_init__

        def __init__(
            self,
            path: PathArg | Sequence[PathArg],
            format: Format | None = ...,
            delimiter: str | None = ...,
            quote_char: str | Literal[False] | None = ...,
            escape_char: str | Literal[False] = ...,
            escape_mode: Literal["literal", "c", "quote"] = ...,
            header: bool | None = ...,
            column_names: list[str] | None = ...,
            encoding: str = ...,
            null_values: list[str] = ...,
            na_values: list[str] = ...,
            quoted_nulls: bool = ...,
            decimal_separator: Literal[".", ","] = ...,
            thousands_separator: Literal[",", "."] | None = ...,
            skip_rows: int = ...,
            columns: dict[str, str] = ...,
            infer_rows: int = ...,
            block_size: int | str = ...,
            max_row_bytes: int | str = ...,
            allow_empty: bool = ...,
            min_age: float = ...,
            partitioning: Literal["auto", "hive", "none"] = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        _check_fields(self, "source")


@dataclass(frozen=True)
class SinkConfig:
    """Where rows go (``[sink]``)."""

    path: str = field(metadata=PATH)
    """The target: a SQLite file or a LevelDB directory."""
    type: str | None = None
    """``sqlite`` or ``leveldb`` (or a sink registered in ``loader.sinks``); inferred from the path's suffix when omitted."""
    table: str | None = None
    """SQLite table (default: the name of the first source path as given, not as files load in sorted order, without
    its extension and compression suffix, other dots kept: ``sales.2024-01.csv.gz`` gives ``sales.2024-01``; ``data``
    for standard input; required when ``source.path`` is a glob).
    Names starting with ``sqlite_`` are SQLite's own, and ``_loader_state``, ``_loader_stage`` and those starting with ``_loader_replace_`` the loader's: exit 2.
    The name is taken literally and the table is in the database's main schema: a schema-qualified name such as
    ``main.t`` or ``temp.t`` is refused (exit 2; name the table alone, ``t``), and so is a name that is not UTF-8 (a
    default from a file named in Latin-1 bytes, ``caf\\xe9.csv``: exit 2, name the table)."""
    mode: Literal["append", "replace", "upsert", "ignore"] = "append"
    """``append``; ``replace`` (SQLite: the rows load into a table of their own, which takes the table's place in the
    run's last commit, see [Reliability](reliability.md#replace-is-atomic-in-sqlite); LevelDB: the job's keys are deleted
    first, those under the key template's literal prefix and no other program's, see [LevelDB](leveldb.md)); ``upsert`` (on primary key); ``ignore`` (skip rows whose key is
    there already). A row the table's constraints refuse otherwise (a key already there under ``append``, a CHECK) is
    rejected, the others load."""
    primary_key: list[str] = field(default_factory=list)
    """Primary-key columns (SQLite); required for ``upsert`` and ``ignore``. A table the load creates declares them
    ``NOT NULL PRIMARY KEY``; an existing table must have a PRIMARY KEY or UNIQUE index on exactly these columns for
    ``upsert`` and ``ignore`` (exit 2 otherwise). A row with a null in any of them is rejected
    (``key column 'id' is null``)."""
    indexes: list[list[str]] = field(default_factory=list)
    """Indexes to create after the load, each a list of columns (SQLite), named ``idx_<table>_<columns>_<hash>``.
    One the table has on the same columns already, under any name, is kept and not made again."""
    batch_size: int | None = None
    """Rows per transaction (SQLite, default 50000) or checkpoint (LevelDB, default 8192; each chunk is one WriteBatch,
    and a LevelDB checkpoint also comes once its rows hold 512 bytes each of keys and values, or fill a sorted run)."""
    alter: bool = False
    """Add columns that later files bring (SQLite) instead of failing; a column without values yet has no declared
    type (``ANY`` in a ``STRICT`` table). A virtual table (FTS5, R*Tree) takes no new column: exit 65 either way."""
    busy_timeout: float = 30.0
    """Seconds to retry while another program holds the target (SQLite lock or LevelDB LOCK), then exit 75;
    from 0 to 2147483 (SQLite's longest wait, about 24 days)."""
    page_size: int = field(default=32 << 10, metadata=SIZE)
    """SQLite page size in bytes (a power of two from 512 to 65536) of a database this load
    creates; an existing database keeps its own. 32 KiB loads and scans faster than SQLite's
    default 4 KiB; lookups of single rows in a cached database are a little slower (docs/performance.md)."""
    cache_size: int = field(default=4 << 20, metadata=SIZE)
    """SQLite page cache in bytes. Appends touch only the right edge of each B-tree, so a
    small cache loads as fast as a large one; indexes filled in random order want more.
    ``run.max_memory`` shrinks it."""
    key: str | None = None
    """LevelDB key template over columns, e.g. ``user:{id}`` or ``{day}/{id:08d}``."""
    value: str = "json"
    """LevelDB value: ``json`` (an object of the row's columns) or one column stored raw (``column:NAME``
    always names a column: ``column:json`` is a column named json)."""
    sync: bool = False
    """LevelDB: fsync every WriteBatch."""
    write_buffer_size: int = field(default=8 << 20, metadata=SIZE)
    """LevelDB write buffer (memtable) in bytes. Two are held in memory, and each becomes a
    level-0 table that compaction maps into memory: it counts toward peak RSS, and
    ``run.max_memory`` shrinks it."""
    max_file_size: int = field(default=2 << 20, metadata=SIZE)
    """LevelDB table file size in bytes. Compaction maps its input tables into memory whole
    (with keys in no order, a table and the ~10 it overlaps one level down), so the memory
    ``run.max_memory`` shrinks it like ``write_buffer_size``."""
    max_open_files: int = 1000
    """LevelDB files kept open at once (LevelDB's minimum is 74; at most 2147483647, a C int)."""
    lru_cache_size: int = field(default=8 << 20, metadata=SIZE)
    """LevelDB block cache in bytes; ``run.max_memory`` shrinks it."""
    block_size: int = field(default=64 << 10, metadata=SIZE)
    """LevelDB table block in bytes (LevelDB's own default is 4 KiB). A flush writes a
    table one block per write call, so larger blocks mean fewer calls (bench/NOTES.md)."""
    compression: Literal["none", "snappy"] = "none"
    """LevelDB block compression. ``none`` loads faster than ``snappy`` and takes more
    disk (bench/NOTES.md)."""
    sort: Literal["auto", "always", "never"] = "auto"
    """LevelDB: hand keys to LevelDB in key order. ``auto`` writes directly while keys arrive
    in order (into an empty store, as table files) and sorts the rest from the first chunk
    out of order (runs sorted in memory, spilled to ``run.temp_dir``, merged at the end);
    ``always`` sorts from the first row; ``never`` writes in input order. Mode ``ignore``
    always writes in input order."""
    sort_run_size: int = field(default=8 << 20, metadata=SIZE)
    """LevelDB: bytes of keys and values sorted in memory per run when sorting (``sink.sort``); ``run.max_memory`` shrinks it."""
    merge_processes: int | None = None
    """LevelDB: processes that merge the sorted runs at once, each a range of keys written as
    table files of its own, forked from this one (on Linux, while it has no other thread).
    Unset: one per usable CPU, or 1 under ``run.max_memory`` (each process holds a merge's
    memory, and each keeps to the ceiling)."""

    if (
        TYPE_CHECKING
    ):  # what the constructor takes (paths as os.PathLike and sizes as text), normalised in __post_init__

        def __init__(
            self,
            path: PathArg,
            type: str | None = ...,
            table: str | None = ...,
            mode: Literal["append", "replace", "upsert", "ignore"] = ...,
            primary_key: list[str] = ...,
            indexes: list[list[str]] = ...,
            batch_size: int | None = ...,
            alter: bool = ...,
            busy_timeout: float = ...,
            page_size: int | str = ...,
            cache_size: int | str = ...,
            key: str | None = ...,
            value: str = ...,
            sync: bool = ...,
            write_buffer_size: int | str = ...,
            max_file_size: int | str = ...,
            max_open_files: int = ...,
            lru_cache_size: int | str = ...,
            block_size: int | str = ...,
            compression: Literal["none", "snappy"] = ...,
            sort: Literal["auto", "always", "never"] = ...,
            sort_run_size: int | str = ...,
            merge_processes: int | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        _check_fields(self, "sink")


@dataclass(frozen=True)
class RunConfig:
    """How the run behaves (``[run]``)."""

    chunk_size: int = 8192
    """Rows per chunk: the memory bound (each chunk in flight also exists as Python values
    for the writer; bench/NOTES.md has why 8192). Counted in rows of the benchmark's width
    (~100 bytes decoded): a file's wider rows make proportionally fewer, as many bytes."""
    report: str | None = field(default=None, metadata=PATH)
    """Write the run report as JSON here."""
    rejects: str | None = field(default=None, metadata=PATH)
    """Reject file (JSON lines); default ``<target>.<job>.rejects.jsonl`` next to the target."""
    max_rejects: int | float | None = None
    """Stop (exit 3) past this many rejected rows, or this fraction when below 1 (a finite number,
    0 or more; unset: no limit), checked after each chunk. A fraction is judged once a run read
    1,000 rows; a run of fewer rows (not resumed) is judged on all of them before its last commit
    (its rows stay committed, a replace's table is not swapped in, exit 3). ``0`` is strict: the chunk with the first reject is the last one read. With
    ``engine = "processes"`` or ``"dask"`` it is checked as each part commits: the part with the
    first reject is the last one committed, read whole."""
    job: str | None = None
    """Name that keys this job's checkpoints in the target (default: the table or key template).
    ``--job NAME`` on ``loader load`` and ``loader run``; on ``loader replay``, whose ``--job`` is
    the job file, ``--set run.job=NAME``."""
    on_change: Literal["error", "skip", "reload"] = "error"
    """What to do when a checkpointed source file changed."""
    restart: bool = False
    """Ignore checkpoints and load everything again."""
    drop_gone: bool = False
    """Let a ``restart`` with ``sink.mode = "replace"`` drop the rows of files the job loaded that
    are no longer among its inputs (a folder's retention removed them). Unset, such a run is
    refused before it changes anything (exit 2), naming them and their rows."""
    quiet: bool = False
    """No progress bar and no summary line."""
    lock_wait: float = 0.0
    """Seconds to wait for another run on the same target before exiting with 75 (a number, 0 or more)."""
    read_ahead: int = 2
    """Chunks parsed ahead in a background thread (0 reads in the writing thread)."""
    workers: int | None = None
    """Threads that parse and convert CSV and JSON Lines blocks at once, results kept in order.
    Unset: 2 for JSON Lines into SQLite when 2 or more CPUs are usable (affinity, cgroup
    quota), else 1: the SQLite writer needs a core of its own beside CSV parsing, and
    LevelDB's sorted ingest sorts and writes its runs on a thread of its own
    (bench/NOTES.md, docs/performance.md). With ``processes`` or a local ``dask``
    cluster: the worker processes, unset one per usable CPU."""
    max_memory: int | None = field(default=None, metadata=SIZE)
    """Peak memory ceiling, e.g. ``"100MB"`` or ``"1GB"`` (a bare number is bytes). Chunk, batch,
    CSV block and LevelDB write-buffer sizes shrink to fit under it; the report shows the sizes used."""
    log_format: Literal["text", "json"] = "text"
    """``text`` for people; ``json`` writes one JSON object per event on stderr for log collectors
    (the container image sets ``LOADER_RUN__LOG_FORMAT=json``)."""
    metrics_file: str | None = field(default=None, metadata=PATH)
    """Write Prometheus text-format metrics here after each run (for the node exporter's textfile collector)."""
    engine: Literal["threads", "processes", "dask"] = "threads"
    """Where the work runs: ``threads`` in this process; ``processes``, parts of the load on a
    local process pool sized to the usable CPUs; ``dask``, parts on a Dask cluster
    (``run.scheduler``; needs ``loader[dask]``). One process writes the target either way
    (docs/engines.md)."""
    scheduler: str | None = None
    """For ``engine = "dask"``: the scheduler's address (``tcp://host:8786``), or ``local``
    (the default) to start a local cluster of one single-threaded worker per usable CPU (docs/engines.md)."""
    part_size: int = field(default=32 << 20, metadata=SIZE)
    """With ``processes`` or ``dask``: input bytes per part (CSV byte ranges cut between
    rows, Parquet row-group ranges; a JSON Lines or Arrow file is one part); a smaller file
    is one part, and a longer one starts with parts of an eighth, a quarter and a half of it (the writer starts sooner)
    and ends with them in reverse (the writer waits less at the end)."""
    part_results: Literal["auto", "arrow", "database"] = "auto"
    """With ``processes`` or ``dask`` into SQLite: how a part's rows reach this process.
    ``database`` (a side SQLite database the target copies records from as they are) is the
    least work for this process, the single writer; ``arrow`` (Arrow IPC files, bound into
    the target here) moves that work from the workers to it. ``auto``: ``database``."""
    fork_workers: bool = True
    """With ``processes`` or a local ``dask`` cluster: fork the worker processes from this
    one where that is safe (on Linux, while this process has no other thread: docs/engines.md),
    so they start with loader already imported; ``false`` always starts fresh interpreters."""
    spill_dir: str | None = field(default=None, metadata=PATH)
    """Where parts' results wait for their commit (a directory every worker and this process
    can reach); default ``<target>.parts`` beside the target. Safe to share between loads of
    several targets, at once too: a part's files are named by its target and settings. Once
    empty, the default is removed, and so is a directory the run made; one that was there is left."""
    temp_dir: str | None = field(default=None, metadata=PATH)
    """Where sorted runs are spilled (LevelDB ``sink.sort``); default ``<target>.runs`` beside the target.
    Safe to share between loads of several stores, at once too, even with one key template (one
    job): a run's file name holds a hash of its store's real path and its job
    (``run-<hash>-000000.arrow``), and a load removes only its own store's runs. The runs are
    removed when the load ends, and so is the directory once empty if it is the default or the
    load made it; one that was there (a scratch disk) is left."""

    if (
        TYPE_CHECKING
    ):  # what the constructor takes (paths as os.PathLike and sizes as text), normalised in __post_init__

        def __init__(
            self,
            chunk_size: int = ...,
            report: PathArg | None = ...,
            rejects: PathArg | None = ...,
            max_rejects: int | float | None = ...,
            job: str | None = ...,
            on_change: Literal["error", "skip", "reload"] = ...,
            restart: bool = ...,
            drop_gone: bool = ...,
            quiet: bool = ...,
            lock_wait: float = ...,
            read_ahead: int = ...,
            workers: int | None = ...,
            max_memory: int | str | None = ...,
            log_format: Literal["text", "json"] = ...,
            metrics_file: PathArg | None = ...,
            engine: Literal["threads", "processes", "dask"] = ...,
            scheduler: str | None = ...,
            part_size: int | str = ...,
            part_results: Literal["auto", "arrow", "database"] = ...,
            fork_workers: bool = ...,
            spill_dir: PathArg | None = ...,
            temp_dir: PathArg | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        _check_fields(self, "run")


@dataclass(frozen=True)
class JobConfig:
    """A whole job: source, transform stages, sink, run settings.

    Each section checks its values' types and choices as it is made (and on
    ``dataclasses.replace``) with the job file's checks: a value of the wrong type or outside its
    choices raises ``ConfigError`` naming ``section.key``. Ranges and the rules that span keys
    are checked by ``resolve()``, which ``Pipeline(job)`` and ``load()`` call. A section may be given as a dict of its job-file keys."""

    source: SourceConfig
    sink: SinkConfig
    transform: list[dict[str, Any]] = field(default_factory=list)
    run: RunConfig = field(default_factory=RunConfig)
    resolved: bool = field(default=False, repr=False, compare=False)
    """Set by ``resolve()``: inferred values are filled in and every rule was checked."""

    if TYPE_CHECKING:  # what the constructor takes (a section as a dict of its keys), normalised in __post_init__

        def __init__(
            self,
            source: SourceConfig | Mapping[str, Any],
            sink: SinkConfig | Mapping[str, Any],
            transform: list[dict[str, Any]] = ...,
            run: RunConfig | Mapping[str, Any] = ...,
            resolved: bool = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            value: Any = getattr(self, name)
            if isinstance(value, Mapping):  # a section's table, built as a job file's is
                object.__setattr__(self, name, build_section(cls, value, name))
            elif not isinstance(value, cls):
                raise ConfigError(
                    f"{name}: expected a {cls.__name__}, got {value!r}",
                    hint=f"pass {cls.__name__}(...) or a dict of the job file's [{name}] keys",
                )
        object.__setattr__(self, "transform", _transforms({"transform": self.transform}))


SECTIONS: dict[str, type] = {"source": SourceConfig, "sink": SinkConfig, "run": RunConfig}


# ---------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SCALARS: dict[Any, Callable[[Any], bool]] = {
    Any: lambda v: True,
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: _is_number,
    str: lambda v: isinstance(v, str),
}


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if origin is Literal:  # of its type too: 0 == False, but 0 is no ``false``
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if origin is list:
        (inner,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        k, v = typing.get_args(hint)
        return isinstance(value, dict) and all(_type_ok(a, k) and _type_ok(b, v) for a, b in value.items())
    return isinstance(value, hint)


def _as_builtin(value: Any) -> Any:
    """A number of another library (numpy's ``int64``, a ``Fraction``) as Python's own int or
    float, as sizes computed with pandas or numpy come."""
    if isinstance(value, (bool, int, float)) or not isinstance(value, numbers.Real):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _as_lists(value: Any, hint: Any) -> Any:
    """Tuples where a field takes lists (``primary_key=("id",)``, ``indexes=[("a", "b")]``),
    as Python callers give them: lists, as a job file's are."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        lists = [h for h in typing.get_args(hint) if typing.get_origin(h) is list]
        return _as_lists(value, lists[0]) if len(lists) == 1 else value
    if origin is list and isinstance(value, (list, tuple)):
        (inner,) = typing.get_args(hint)
        return [_as_lists(v, inner) for v in value] if isinstance(value, tuple) or typing.get_origin(inner) else value
    return value


def describe(f: dataclasses.Field[Any], hint: Any) -> str:
    """What a key takes, in words (for errors and the job-file reference)."""
    if f.metadata.get("size"):
        return "a size such as 100MB or a number of bytes"
    return _describe(hint)


_SCALAR_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_SCALARS_WORDS = {str: "strings", int: "integers", float: "numbers", bool: "true or false values"}


def _describe(hint: Any, plural: bool = False) -> str:
    """``hint`` in words; ``plural`` for what a list or table holds (``a list of strings``)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(h, plural) for h in typing.get_args(hint) if h is not type(None))
    if origin is Literal:
        args = typing.get_args(hint)
        if all(isinstance(a, bool) for a in args):  # Literal[False]: as a job file spells it
            return " or ".join(str(a).lower() for a in args)
        return ("any of " if plural else "one of ") + ", ".join(repr(a) for a in args)
    if hint is type(None):
        return "nothing"
    if origin is list:
        return f"{'lists' if plural else 'a list'} of {_describe(typing.get_args(hint)[0], plural=True)}"
    if origin is dict:
        return f"{'tables' if plural else 'a table'} of {_describe(typing.get_args(hint)[1], plural=True)}"
    return (_SCALARS_WORDS if plural else _SCALAR_WORDS).get(hint, str(hint))


# Keys that would hold a credential: refused by name, so a secret never sits in a job file.
_SECRET_KEY = re.compile(r"secret|passw|token|credential|access_key|private_key|api_key", re.IGNORECASE)


def unknown_key(where: str, key: str, known: list[str]) -> ConfigError:
    if _SECRET_KEY.search(key):
        return ConfigError(
            f"{where}.{key}: credentials are never read from the job file",
            hint="set them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), "
            "as NAME_FILE naming a file, or in /run/secrets/NAME",
        )
    hint = did_you_mean(key, known) or "known keys: " + ", ".join(sorted(known))
    return ConfigError(f"{where}.{key}: unknown key", hint=hint)


def check_names(where: str, given: Iterable[str], known: list[str]) -> None:
    for key in given:
        if key not in known:
            raise unknown_key(where, key, known)


def build_section(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Check a table against a dataclass: unknown keys, missing keys, value types.
    A size may be given as text (``"100MB"``): it is parsed into bytes here."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    fields = dataclasses.fields(cls)
    check_names(where, data, [f.name for f in fields])
    for f in fields:
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{f.name}: required key is missing")
    return cls(**check_values(cls, data, where))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _as_path(value: Any) -> Any:
    """Text where Python callers may pass an ``os.PathLike`` (as ``open()`` takes either), ``~``
    expanded as in a job file (``rebase_paths``): a path given by ``--set``, the environment or
    a quoted flag (``'~/data/*.csv'``) names what the job file's would."""
    value = os.fspath(value) if isinstance(value, os.PathLike) else value
    return os.path.expanduser(value) if isinstance(value, str) and value.startswith("~") else value


def check_values(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A section's values checked against their fields' types, the one check of every route
    (job file, environment, ``--set``, ``load()``'s options, a config object made in Python).

    Returns them normalised: a path as text, ``source.path`` as a list, a size in bytes."""
    hints = _hints(cls)
    out = dict(values)
    for f in dataclasses.fields(cls):
        if f.name not in out:
            continue
        value = out[f.name]
        if f.metadata.get("path"):
            value = _as_path(value)
            if issubclass(cls, SourceConfig) and f.name == "path":  # one path, or a sequence of them
                value = [value] if isinstance(value, str) else value
                value = [_as_path(v) for v in value] if isinstance(value, (list, tuple)) else value
        if f.metadata.get("size") and isinstance(value, str):
            value = parse_size(value, f"{where}.{f.name}")
        if issubclass(cls, SourceConfig) and f.name == "delimiter":
            value = as_taken("source.delimiter", value)
        value = _as_lists(_as_builtin(value), hints[f.name])
        if not _type_ok(value, hints[f.name]):
            raise ConfigError(f"{where}.{f.name}: expected {describe(f, hints[f.name])}, got {value!r}")
        out[f.name] = _own(value)
    return out


# The text a shell passes for '\t' (``--delimiter '\t'``, as the loader's advice writes a tab):
# a delimiter is one character, so the two characters can only mean the tab.
_TAB_AS_TYPED = "\\t"


def as_taken(dotted: str, value: Any) -> Any:
    """The value a key holds for ``value`` as given: a delimiter typed ``\\t`` is a tab."""
    return "\t" if dotted == "source.delimiter" and value == _TAB_AS_TYPED else value


def _own(value: Any, plain: bool = False) -> Any:
    """A list or dict copied, with those inside it: a section keeps the values it was checked
    with, not the caller's (``null_values=nulls``, then ``nulls.append(...)`` for another job).
    ``plain``: only plain lists and dicts, and the standard library's dicts keeping their type
    (``_STD_DICTS``); a stage's other objects, a dict subclass of the caller's own among them,
    are kept as they are."""
    if type(value) is list or (not plain and isinstance(value, list)):
        return [_own(v, plain) for v in value]
    if type(value) is dict or (not plain and isinstance(value, dict)):
        return {k: _own(v, plain) for k, v in value.items()}
    if type(value) in _STD_DICTS:
        out = copy.copy(value)  # its order, its default_factory
        for k, v in value.items():
            out[k] = _own(v, plain)
        return out
    return value


# dicts of the standard library a stage's value may be (an ordered rename): copied as they are
_STD_DICTS = (collections.OrderedDict, collections.defaultdict, collections.Counter)


def shown(value: Any) -> str:
    """A value as an error shows it: its repr where that is one short line (``5``, ``b'a.csv'``),
    else what it is (``a DataFrame``)."""
    text = repr(value)
    return text if len(text) <= 80 and "\n" not in text else f"a {type(value).__name__}"


def _check_fields(section: Any, where: str) -> None:
    """``__post_init__`` of a section: its values checked, and normalised in place (it is frozen)."""
    given = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    for name, value in check_values(type(section), given, where).items():
        if value is not given[name]:
            object.__setattr__(section, name, value)


# A key's command-line flag: ``sink.batch_size`` is ``--batch-size``; a key in two sections
# names its section (``--source-block-size``).
_FLAG_NAMES = {("sink", "type"): "--sink", ("sink", "indexes"): "--index"}


@functools.cache
def _shared_keys() -> frozenset[str]:
    """Keys that stand in more than one section (their flags name the section)."""
    seen = collections.Counter(f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls))
    return frozenset(name for name, n in seen.items() if n > 1)


def flag_name(section: str, name: str) -> str:
    if (section, name) in _FLAG_NAMES:
        return _FLAG_NAMES[section, name]
    return "--" + (f"{section}_{name}" if name in _shared_keys() else name).replace("_", "-")


# ------------------------------------------------------------ interpolation

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _read_line(path: str) -> str:
    """A secret or value file's text, less its final newline."""
    with open(path, encoding="utf-8") as fh:
        return fh.read().rstrip("\r\n")


def read_secret(name: str, env: Mapping[str, str], *, empty_is_unset: bool = False) -> str | None:
    """``NAME``, else the file named by ``NAME_FILE``, else ``/run/secrets/NAME``;
    ``empty_is_unset``: a ``NAME`` set to nothing is passed over as an unset one.

    A ``NAME_FILE`` that cannot be read is an error: falling through to a
    default would hide a mount that went missing.
    """
    if env.get(name) or (name in env and not empty_is_unset):
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
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string, recursively. As in the
    shell, ``:-`` takes the default when ``VAR`` is unset or empty (Compose's
    ``DATA_DIR=${DATA_DIR}`` with none on the host, a pod spec's ``value: ""``); ``${VAR}``
    of an empty ``VAR`` is empty."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            default = m.group(2)
            found = read_secret(m.group(1), env, empty_is_unset=default is not None)
            if default is not None and not found:
                return default
            if found is not None:
                return found
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
    import tomllib  # here and in load_job only: a plain load never parses TOML (start-up time)

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def override_value(dotted: str, raw: str) -> Any:
    """The value of ``--set``/``LOADER_...`` text ``raw`` for the key ``dotted``: its TOML
    value where the key takes it, else the text as given. A table named ``2024``, a job
    ``20240101`` or a size ``1.5G`` stay text; a number, date or boolean where the key
    takes neither is refused quoting what was typed, not as Python shows it."""
    value = parse_value(raw)
    hint = _key_hint(dotted)
    if hint is None or isinstance(value, (str, list, dict)) or _type_ok(_as_lists(value, hint), hint):
        return value
    return raw


def _key_hint(dotted: str) -> Any:
    """The type of ``section.key``, None where it names no key (refused by ``set_key``)."""
    section, _, key = dotted.partition(".")
    cls = SECTIONS.get(section)
    return _hints(cls).get(key) if cls is not None else None


def set_key(data: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    """Set ``section.key`` (or ``section.key.sub``) in a raw job table."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"{origin}: expected SECTION.KEY=VALUE, got {dotted!r}")
    if parts[0] not in SECTIONS:
        hint = "transform stages are set in a job file's [[transform]] tables" if parts[0] == "transform" else None
        raise ConfigError(
            f"{origin}: {parts[0]!r} is not a section ({', '.join(SECTIONS)})",
            hint=hint or did_you_mean(parts[0], list(SECTIONS)) or None,
        )
    fields = [f.name for f in dataclasses.fields(SECTIONS[parts[0]])]
    if len(parts) == 2 and parts[1] not in fields:
        wrong = unknown_key(parts[0], parts[1], fields)
        if origin.startswith("environment"):  # the key is spelled otherwise there: name the variable
            raise ConfigError(f"{origin}: {wrong.message}", hint=wrong.hint)
        raise wrong
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
    return [(dotted, value) for dotted, value, _ in _env_settings(env)]


def _env_settings(env: Mapping[str, str]) -> list[tuple[str, Any, str]]:
    """``env_overrides`` with where each came from, the variable as it is spelled (and the file
    a ``_FILE`` one names): an error names what the operator set, not a name rebuilt from the key."""
    out = []
    for name in sorted(env):
        if not name.startswith("LOADER_") or "__" not in name:
            continue
        dotted = name[len("LOADER_") :].lower().replace("__", ".")
        if dotted.endswith("_file") and "." in dotted and not _is_key(dotted):
            dotted = dotted[: -len("_file")]
            try:
                # a setting's file ends as an editor or `echo "x "` leaves it: its trailing blanks
                # are not part of the value (`sp.db ` would be a second database beside sp.db)
                raw = _read_line(env[name]).rstrip()
            except OSError as exc:
                raise ConfigError(
                    f"{name}: cannot read {env[name]}: {exc.strerror}",
                    hint=f"mount the file it names, or unset the environment variable {name}",
                    verbatim=(name,),
                ) from None
            # the file's text is the value the plain variable would hold: a number sets a number
            out.append((dotted, override_value(dotted, raw), f"environment {name} ({env[name]})"))
        else:
            out.append((dotted, override_value(dotted, env[name]), f"environment {name}"))
    return out


def _check_overrides(sets: Any, env: Any) -> None:
    """``sets`` a list of texts (one text would be read a character at a time), ``env`` a mapping."""
    if sets is not None and not (isinstance(sets, (list, tuple)) and all(isinstance(s, str) for s in sets)):
        raise ConfigError(
            f"sets: expected a list of SECTION.KEY=VALUE texts, got {shown(sets)}",
            hint='e.g. sets=["sink.path=out/x.db"]',
        )
    if not isinstance(env, Mapping):
        raise ConfigError(f"env: expected a dict of environment variables, got {shown(env)}")


def apply_overrides(
    data: dict[str, Any],
    sets: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Sequence[tuple[str, Any]] = (),
    origins: dict[str, str] | None = None,
    *,
    sets_name: str = "--set",
) -> dict[str, Any]:
    """Environment first, then ``--set`` pairs, then flags (``("sink.table", "t")``), so flags win.
    Their values are interpolated; relative paths among them stay relative to the current directory.
    ``origins`` is given where each key set came from last (``environment LOADER_RUN__JOB``);
    ``sets_name`` is what the caller calls ``sets`` (``Pipeline.from_config``'s ``sets``)."""
    environ = env if env is not None else os.environ
    _check_overrides(sets, environ)
    pairs = _env_settings(environ)
    for n, pair in enumerate(sets or []):
        if "=" not in pair:
            raise ConfigError(f"{_set_origin(sets_name, n, pair)}: expected SECTION.KEY=VALUE")
        dotted, raw = pair.split("=", 1)
        pairs.append((dotted.strip(), override_value(dotted.strip(), raw), _set_origin(sets_name, n, dotted.strip())))
    for dotted, value in flags:
        pairs.append((dotted, value, "--" + dotted.split(".")[-1].replace("_", "-")))
    for dotted, value, origin in pairs:
        set_key(data, dotted, interpolate(value, environ, origin), origin)
        if origins is not None:
            origins[dotted] = origin
    return data


def _set_origin(sets_name: str, n: int, dotted: str) -> str:
    """Where a ``sets`` pair came from, as its caller gave it: ``--set sink.path`` on a command
    line, ``sets[0] sink.path`` in Python (whose caller never typed ``--set``)."""
    return f"--set {dotted}" if sets_name == "--set" else f"{sets_name}[{n}] {dotted}"


def job_from_overrides(
    data: dict[str, Any],
    sets: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Sequence[tuple[str, Any]] = (),
    *,
    sets_name: str = "--set",
) -> JobConfig:
    """``job_from_tables`` of ``data`` with its overrides applied (``apply_overrides``). An error
    about a key an environment variable set names the variable, which spells the key otherwise."""
    origins: dict[str, str] = {}
    merged = apply_overrides(data, sets, env, flags, origins, sets_name=sets_name)
    try:
        return job_from_tables(merged)
    except ConfigError as exc:
        origin = origins.get(_key_of(exc), "")
        if origin.startswith("environment"):
            exc.message = f"{origin}: {exc.message}"
            exc.args = (exc.message,)
            if exc.hint == ConfigError.default_hint:  # no flag nor job key is wrong: the variable is
                exc.hint = _env_hint(origin.split()[1])
                exc.verbatim = (*exc.verbatim, exc.hint)
        raise


def _env_hint(name: str) -> str:
    """The advice for a wrong value an environment variable ``name`` set."""
    return f"fix or unset the environment variable {name}"


def _key_of(exc: ConfigError) -> str:
    """The ``section.key`` an error is about: its ``key``, else as its message starts."""
    if exc.key is not None:
        return exc.key
    return exc.message.split(":", 1)[0].removeprefix("job.")  # job.sinks: a section named wrong


# --------------------------------------------------------------- job files


def _rebase(value: Any, base: str) -> Any:
    """A relative path (or each of a list) joined to ``base``; ``-``, URLs and absolute paths as they are."""
    if isinstance(value, list):
        return [_rebase(v, base) for v in value]
    if not isinstance(value, str) or value == "-" or "://" in value or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def rebase_paths(data: dict[str, Any], base: str) -> dict[str, Any]:
    """A job file's relative paths, made relative to the directory ``base`` it was read from,
    and ``~`` expanded: ``''`` (``job.toml`` named without a directory) is the current one, as
    ``.`` is, so that ``loader run job.toml`` and ``loader run ./job.toml`` load one target."""
    for section, cls in SECTIONS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for f in dataclasses.fields(cls):
            if f.metadata.get("path") and f.name in table:
                table[f.name] = _rebase(table[f.name], base)
    stages = data.get("transform")
    for n, table in enumerate([stages] if isinstance(stages, dict) else stages if isinstance(stages, list) else [], 1):
        if isinstance(table, dict):
            _rebase_stage(table, base, f"transform[{n}] ({table.get('type')})")
    return data


def _rebase_stage(table: dict[str, Any], base: str, stage: str) -> None:
    """A ``[[transform]]`` table's paths (dedupe's ``state_path``) rebased like the sections':
    every run of the job, from any directory, finds the same key store."""
    from .transforms import path_keys  # here: the stage modules import this one

    for key in path_keys(table.get("type")):
        if key in table:
            given = table[key]
            table[key] = _rebase(given, base)
            _refuse_store_left_behind(stage, key, given, table[key])
            _refuse_store_unwritable(stage, key, given, table[key], base)


def unwritable_dir(path: str) -> str | None:
    """The directory of ``path`` if it exists and this process cannot create files in it (a
    read-only mount, a Kubernetes ConfigMap, another uid's folder): a SQLite store there cannot
    be made, nor opened in WAL mode (its -wal and -shm files live beside it)."""
    parent = os.path.dirname(os.path.abspath(path))
    return parent if os.path.isdir(parent) and not os.access(parent, os.W_OK) else None


def _refuse_store_unwritable(stage: str, key: str, given: Any, path: Any, base: str) -> None:
    """Refused (exit 2, before anything is written): a relative ``state_path`` that the job
    file's directory, where it resolves, cannot hold. Every run would fail alike."""
    if not isinstance(given, str) or not isinstance(path, str) or given == path:
        return
    if os.path.isabs(os.path.expanduser(given)) or not unwritable_dir(path):  # ~/x: not the job file's
        return
    store = os.path.abspath(path)  # beside "resolved against": read as relative to the job file, it misleads
    raise ConfigError(
        f"{key}: cannot create the key store {store}: its directory is not writable (a relative {key} is "
        f"resolved against the job file's directory, {os.path.abspath(base)})",
        stage=stage,
        hint=f"give {key} as an absolute path in a writable directory (next to the target, say)",
        verbatim=(store,),
    )


def _refuse_store_left_behind(stage: str, key: str, given: Any, path: Any) -> None:
    """Refused (exit 78): a stage's relative ``state_path`` missing next to the job file but
    found relative to the current directory, where 0.1 kept it. The run
    would open a new, empty key store and load again every key the old one holds."""
    if not isinstance(given, str) or not isinstance(path, str) or given == path or os.path.exists(path):
        return
    old, new = os.path.abspath(os.path.expanduser(given)), os.path.abspath(path)
    if old == new or not os.path.isfile(old):
        return
    error = ConfigError(
        f"{key}: {new} does not exist, but {old} does: a relative {key} is relative to the job file now, "
        "not to the current directory, and a run would start an empty key store and load again the keys "
        "the old one holds",
        stage=stage,
        hint=f"move {old} to {new} (with its -wal and -shm files, if any) and rerun; if that store is not "
        f"this job's, give {key} as an absolute path",
    )
    if unwritable_dir(new):  # a read-only job file's directory (a ConfigMap): the store stays where it is
        error.hint = (
            f'{os.path.dirname(new)} is not writable: give {key} as an absolute path, {key} = "{old}", and rerun'
        )
    error.exit_code = EXIT_CONFIG
    raise error


def _transforms(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    transforms = data.get("transform", [])
    if isinstance(transforms, Mapping):
        transforms = [transforms]
    if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
        transforms = [transforms]  # refused below, naming what it is
    for t in transforms:
        if not isinstance(t, Mapping):
            raise ConfigError(
                f"transform: expected [[transform]] tables, got {t!r}",
                hint='each stage is a table (a dict in Python) with its type, e.g. {"type": "rename", "columns": {...}}',
            )
    return [{k: _own(v, plain=True) for k, v in t.items()} for t in transforms]


def job_from_tables(data: Mapping[str, Any]) -> JobConfig:
    """Build, check and resolve a job from tables whose values are final (interpolated)."""
    check_names("job", data, [*SECTIONS, "transform"])
    if "source" not in data:
        raise ConfigError("job: the [source] table is missing")
    if "sink" not in data:
        raise ConfigError("job: the [sink] table is missing")
    return resolve(
        JobConfig(
            source=build_section(SourceConfig, data["source"], "source"),
            sink=build_section(SinkConfig, data["sink"], "sink"),
            transform=_transforms(data),
            run=build_section(RunConfig, data.get("run", {}), "run"),
        )
    )


def job_from_dict(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> JobConfig:
    """Build, check and resolve a job from the raw tables of a job file (``${VAR}`` not yet replaced)."""
    return job_from_tables(interpolate(dict(data), env if env is not None else os.environ, "job"))


def read_job_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A job file's tables, read past a UTF-8 byte order mark (Windows editors and PowerShell's
    ``Out-File -Encoding utf8`` write one; TOML has no room for it, and it is invisible)."""
    import codecs
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.loads(fh.read().removeprefix(codecs.BOM_UTF8).decode())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such job file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML job file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None


def load_job(
    path: str | os.PathLike[str],
    sets: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Sequence[tuple[str, Any]] = (),
    *,
    sets_name: str = "--set",
) -> JobConfig:
    """Read a TOML job file, apply environment, ``--set`` and flag overrides, resolve it
    (``sets_name``: what errors call ``sets``, as ``apply_overrides``).

    Relative paths in the file are relative to the file's directory; those given by
    overrides are relative to the current directory."""
    if not isinstance(path, (str, os.PathLike)):  # open() would take an int as a file descriptor
        raise ConfigError(f"path: expected the job file's path, got {shown(path)}")
    environ = env if env is not None else os.environ
    _check_overrides(sets, environ)
    data = interpolate(read_job_file(path), environ, "job")
    rebase_paths(data, os.path.dirname(os.fspath(path)))
    written = _flat(data)
    try:
        return job_from_overrides(data, sets, environ, flags, sets_name=sets_name)
    except ConfigError as exc:
        # a key the file sets, and no override changed: the error names the file
        key = _key_of(exc)
        if exc.file is None and key in written and _same(_flat(data).get(key), written[key]):
            exc.file = os.fspath(path)
        raise


def _same(now: Any, written: Any) -> bool:
    """Whether an override left a key's value as the file wrote it: the very value, or an equal
    one (``nan`` equals nothing, not even itself, yet no override changed it)."""
    return now is written or bool(now == written)


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """A job's keys as ``section.key`` -> value, beside its top-level ones."""
    out: dict[str, Any] = dict(data)
    for name, value in data.items():
        if isinstance(value, dict):
            out.update({f"{name}.{key}": v for key, v in value.items()})
    return out


# ----------------------------------------------------------------- defaults


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_glob(path: str) -> bool:
    """Whether a source path is a pattern (``*``, ``?`` or ``[``) rather than a file."""
    return bool(set("*?[") & set(path))


def infer_format(path: str) -> Format | None:
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
        n = _bytes(m.group(1), _UNITS[m.group(2).lower()[:1]])
    if n < 1:
        raise ConfigError(f"{where}: expected a positive size, got {value!r}")
    return n


def _bytes(number: str, unit: int) -> int:
    """``number`` times ``unit``, exact (a float would move 2^53 and more); a fraction of a
    byte left over is dropped."""
    if number.isdigit():
        return int(number) * unit
    from decimal import Decimal, localcontext

    with localcontext() as exact:
        exact.prec = len(number) + 16  # every digit of the product (a unit has at most 13)
        return int(Decimal(number) * unit)


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


def _one_char(where: str, value: str | bool | None, *, or_false: bool) -> None:
    or_false_text = " or false" if or_false else ""
    if value is True or (isinstance(value, str) and len(value) != 1):
        raise ConfigError(f"{where}: expected one character{or_false_text}, got {value!r}")
    if isinstance(value, str) and not value.isascii():
        # pyarrow's parser takes one byte, of UTF-8 text (other encodings are transcoded to it
        # first): past ASCII a character is two bytes or more there, even latin-1's one-byte 'þ'
        raise ConfigError(
            f"{where}: expected an ASCII character{or_false_text}, got {value!r}",
            hint=f"the CSV parser reads it as one byte of UTF-8 text: rewrite the file's {value!r}"
            " as an ASCII character that no value holds, then load it",
        )


def _distinct_dialect(src: SourceConfig) -> None:
    """Refuse a delimiter, quote or escape character that is a line break or another of them:
    the parser could not tell them apart (pyarrow would blame the file)."""
    chars = {
        "source.delimiter": src.delimiter,
        "source.quote_char": src.quote_char,
        "source.escape_char": src.escape_char,
    }
    given = [(key, char) for key, char in chars.items() if isinstance(char, str)]
    for key, char in given:
        if char in ("\r", "\n"):
            raise ConfigError(f"{key}: expected a character other than a line break, got {char!r}")
    for (first, a), (second, b) in itertools.combinations(given, 2):
        if a == b:
            raise ConfigError(f"{second}: {b!r} is also {first}", hint=_DIALECT_HINTS[first, second])
    if src.quote_char is None and src.escape_char == '"':
        # an unset quote is detected, and it is " unless the file quotes with '
        raise ConfigError(
            "source.escape_char: '\"' is also the quote (source.quote_char unset: detected, \" by default)",
            hint=_DOUBLED,
            names=("source.quote_char",),
        )


def _distinct_separators(src: SourceConfig) -> None:
    """Refuse a thousands separator no number could be read with: the decimal separator
    (``1,234`` would be both), or the delimiter where nothing is quoted (it would split the value)."""
    thousands = src.thousands_separator
    if thousands is None:
        return
    if thousands == src.decimal_separator:
        raise ConfigError(
            f"source.thousands_separator: {thousands!r} is also source.decimal_separator",
            hint="the decimal separator is '.' unless decimal_separator = ',' (then thousands '.' fits)",
        )
    if thousands == src.delimiter and src.quote_char is False:
        raise ConfigError(
            f"source.thousands_separator: {thousands!r} is also source.delimiter, and source.quote_char"
            " is false: an unquoted 1,234 is two fields",
            hint='give the file\'s quote character, where its numbers are quoted ("1,234.56")',
        )


_DOUBLED = 'leave it unset where a quote inside a quoted field is doubled (""), or name the file\'s own escape'
_NO_QUOTE = "give the quote another character, or false for none (--quote-char false)"
_NO_ESCAPE = "the escape marks a delimiter inside a value: give it another character"
_DIALECT_HINTS = {  # (the key given first, the key refused)
    ("source.delimiter", "source.quote_char"): _NO_QUOTE,
    ("source.delimiter", "source.escape_char"): _NO_ESCAPE,
    ("source.quote_char", "source.escape_char"): _DOUBLED,
}


# (key, lowest allowed value, what the error says)
_SOURCE_FLOORS = (
    ("skip_rows", 0, "expected 0 or more"),
    ("infer_rows", 1, "expected 1 or more"),
    ("block_size", 1024, "expected at least 1024 bytes"),
    ("max_row_bytes", 1024, "expected at least 1024 bytes"),
)
_RUN_FLOORS = (
    ("chunk_size", 1, "expected 1 or more"),
    ("workers", 1, "expected 1 or more"),
    ("read_ahead", 0, "expected 0 or more"),
)
# LevelDB's sizes: it raises a value too small to its own least, but takes no negative one.
_SINK_FLOORS = (
    ("write_buffer_size", 0, "expected a size in bytes, 0 or more"),
    ("max_file_size", 0, "expected a size in bytes, 0 or more"),
    ("max_open_files", 0, "expected 0 or more"),
    ("lru_cache_size", 0, "expected a size in bytes, 0 or more"),
)
# SQLite's busy timeout is a 32-bit count of milliseconds: past it, SQLite does not wait at all.
MAX_BUSY_TIMEOUT = (2**31 - 1) // 1000
# Every integer key reaches a 64-bit integer somewhere (pyarrow, numpy, SQLite, a size_t).
MAX_INT = 2**63 - 1
# pyarrow's CSV and JSON readers take a block size below 2 GiB (an int32): a CSV block is
# parsed with room for twice its size, and a block grown for a long row with one byte more.
MAX_CSV_BLOCK = 1023 << 20
MAX_ROW_BYTES = 2047 << 20
# Keys the code under them takes less of than MAX_INT: (key, highest, why).
_SOURCE_CEILINGS = (
    ("block_size", MAX_CSV_BLOCK, "pyarrow parses less than 2 GiB at a time"),
    ("max_row_bytes", MAX_ROW_BYTES, "pyarrow parses less than 2 GiB at a time"),
)
_SINK_CEILINGS = (("max_open_files", 2**31 - 1, "LevelDB takes a C int"),)


def _floors(section: Any, where: str, floors: tuple[tuple[str, int, str], ...]) -> None:
    for key, lowest, message in floors:
        value = getattr(section, key)
        if value is not None and value < lowest:
            raise ConfigError(f"{where}.{key}: {message}")


def _ceilings(section: Any, where: str, ceilings: tuple[tuple[str, int, str], ...] = ()) -> None:
    """Every integer key at most its ceiling: past it, a library would raise OverflowError
    mid-load. A key that also takes a float (``run.max_rejects``) is only compared."""
    own = {key: (highest, why) for key, highest, why in ceilings}
    cls: type = type(section)
    hints = _hints(cls)
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if not isinstance(value, int) or isinstance(value, bool) or _takes_float(hints[f.name]):
            continue
        highest, why = own.get(f.name, (MAX_INT, "a 64-bit integer"))
        if value > highest:
            mb = f.metadata.get("size") and highest % (1 << 20) == 0
            most = f"{highest >> 20}MB ({highest} bytes: {why})" if mb else f"{highest} ({why})"
            raise ConfigError(f"{where}.{f.name}: expected at most {most}, got {value}")


def _takes_float(hint: Any) -> bool:
    return hint is float or float in typing.get_args(hint)


def _seconds(where: str, value: float, most: float = math.inf) -> None:
    """A wait in seconds: a number, 0 or more (not NaN, which compares false with every
    deadline, nor infinity, which SQLite's timeout cannot hold)."""
    if not (math.isfinite(value) and 0 <= value <= most):
        span = f"from 0 to {most}" if math.isfinite(most) else "0 or more"
        raise ConfigError(f"{where}: expected a number of seconds, {span}, got {value!r}")


def _sizes(section: Any, where: str) -> dict[str, Any]:
    """Every size field's value in bytes (text such as ``"100MB"`` parsed); None stays unset."""
    return {
        f.name: parse_size(getattr(section, f.name), f"{where}.{f.name}")
        for f in dataclasses.fields(section)
        if f.metadata.get("size") and getattr(section, f.name) is not None
    }


def _source_format(paths: list[str]) -> Format:
    formats = set().union(*map(_named_formats, paths))
    known = sorted(f for f in formats if f is not None)
    if len(known) > 1:
        raise ConfigError(
            f"source.path: the inputs mix formats ({', '.join(known)}); one load reads one format",
            hint="load each format in a run of its own (the same target and table may take them in turn)",
        )
    found = formats.pop() if len(formats) == 1 else None
    if found is None:
        _refuse_no_file(paths)  # a directory or a pipe has no format to tell: that is the news
        raise ConfigError(
            f"source.format: cannot tell the format of {', '.join(paths)}",
            hint='set source.format = "csv", "parquet", "jsonl" or "arrow" (or --format)',
        )
    return found


def _named_formats(path: str) -> set[Format | None]:
    """The format a path's name tells; for a glob whose text tells none (``inbox/*``,
    ``*.csv*``), the formats of the files it matches, by their extensions (None: one tells none)."""
    found = infer_format(path)
    if found is not None or not is_glob(path):
        return {found}
    from . import storage

    return {infer_format(name) for name in storage.glob(path)} or {None}


def _refuse_no_file(paths: list[str]) -> None:
    """A local input named without an extension that is a directory (``loader load data/
    out.db``) or a pipe (``<(zcat x.gz)``): its own error (``storage.check_file``), not a
    question of format whose answer meets that error next."""
    from . import storage

    for path in paths:
        if infer_format(path) is None and path != "-" and not is_glob(path) and not storage.is_remote(path):
            storage.check_file(path)


_ALLOW_EMPTY_HINT = "name the input files, or set source.allow_empty = true to load no file and succeed"


def resolve_source(src: SourceConfig) -> SourceConfig:
    paths = src.path
    if not paths and not src.allow_empty:
        raise ConfigError("source.path: expected at least one path", hint=_ALLOW_EMPTY_HINT)
    if src.delimiter is not None:
        _one_char("source.delimiter", src.delimiter, or_false=False)
    _one_char("source.quote_char", src.quote_char, or_false=True)
    _one_char("source.escape_char", src.escape_char, or_false=True)
    if src.escape_mode != "literal" and src.escape_char is False:
        src = replace(src, escape_char="\\")  # the escape C escapes and Spark's quote escapes are written with
    _distinct_dialect(src)
    _distinct_separators(src)
    # no path at all (an empty list with allow_empty): a run of no files, whose format is moot
    found = src.format or (_source_format(paths) if paths else "csv")
    src = replace(src, path=paths, format=found, **_sizes(src, "source"))
    if src.column_names is not None and src.header is None:
        # names given for the columns: the file has none (as pandas' names=), not a guessed header
        # that would take the first row away; header = true replaces a header's names instead
        src = replace(src, header=False)
    _floors(src, "source", _SOURCE_FLOORS)
    _ceilings(src, "source", _SOURCE_CEILINGS)
    _check_encoding(src.encoding)
    _seconds("source.min_age", src.min_age)
    return src


def resolve_sink(src: SourceConfig, sink: SinkConfig) -> SinkConfig:
    from . import sinks

    if not sink.path.strip():  # a Secret made from an empty or blank value: no path, whatever the type
        raise _path_refused(ConfigError("sink.path is empty"))
    if sink.type is None:
        sink = replace(sink, type=infer_sink_type(sink.path))
        if sink.type is None:
            raise _path_refused(
                ConfigError(
                    f"sink.type: cannot tell the database from {sink.path!r}",
                    hint=f"use a path ending in {sinks.suffix_list()}, or set sink.type (--sink)",
                )
            )
    sinks.refuse_others_keys(sink)
    sink = sinks.get(str(sink.type)).resolve(sink, src)
    if sink.block_size < 1024:
        raise ConfigError("sink.block_size: expected at least 1024 bytes")
    if sink.cache_size < 0:
        raise ConfigError(f"sink.cache_size: expected a size in bytes, 0 or more, got {sink.cache_size}")
    if not MIN_PAGE_SIZE <= sink.page_size <= MAX_PAGE_SIZE or sink.page_size & (sink.page_size - 1):
        raise ConfigError(
            f"sink.page_size: expected a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE} bytes, got {sink.page_size}",
            hint="e.g. 4096 (SQLite's default) or 32768",
        )
    if sink.batch_size is None or sink.batch_size < 1:
        raise ConfigError("sink.batch_size: expected 1 or more")
    _floors(sink, "sink", _SINK_FLOORS)
    _ceilings(sink, "sink", _SINK_CEILINGS)
    _seconds("sink.busy_timeout", sink.busy_timeout, MAX_BUSY_TIMEOUT)
    return sink


def _path_refused(exc: ConfigError) -> ConfigError:
    """``exc``, refusing ``sink.path``'s value: the error names where the path came from
    (``environment LOADER_SINK__PATH_FILE (/run/secrets/...)``, the job file)."""
    exc.key = "sink.path"
    return exc


def resolve_run(src: SourceConfig, sink: SinkConfig, run: RunConfig) -> RunConfig:
    if run.workers is None and run.engine == "threads":  # the engines' default: one per usable CPU
        from . import sinks

        run = replace(run, workers=sinks.get(str(sink.type)).default_workers(src.format, cpus.usable_cpus()))
    run = replace(run, **_sizes(run, "run"))
    _floors(run, "run", _RUN_FLOORS)
    _ceilings(run, "run")
    limit = run.max_rejects
    if limit is not None and not (math.isfinite(limit) and limit >= 0):  # NaN would turn the limit off
        raise ConfigError(f"run.max_rejects: expected 0 or more (a count, or a fraction below 1), got {limit!r}")
    _seconds("run.lock_wait", run.lock_wait)
    return run


def resolve(job: JobConfig) -> JobConfig:
    """The job with every inferred value filled in (format, sink type, batch size,
    workers, sizes in bytes) and every rule that spans keys checked.

    Pure: returns a new ``JobConfig`` marked ``resolved`` and returns a resolved one as
    it is, so each entry point (job file, environment, flags, Python) resolves exactly once."""
    if not isinstance(job, JobConfig):
        hint = "Pipeline.from_config(path) reads a job file" if isinstance(job, (str, os.PathLike)) else None
        raise ConfigError(
            f"job: expected a JobConfig, got {shown(job)}",
            hint=hint or "build one with JobConfig(source=..., sink=...), or read a job file with load_job(path)",
        )
    if job.resolved:
        return job
    source = resolve_source(job.source)
    sink = resolve_sink(source, job.sink)
    run = resolve_run(source, sink, job.run)
    return JobConfig(source=source, sink=sink, transform=list(job.transform), run=run, resolved=True)


# ---------------------------------------------------------------- reference


@functools.cache
def _module_tree() -> ast.Module:
    import ast

    with open(__file__, encoding="utf-8") as fh:
        return ast.parse(fh.read())


def field_docs(cls: type, tree: ast.Module | None = None) -> dict[str, str]:
    """Each field's attribute docstring (the string under it), as one line.

    Parsed from this module's source (or ``tree``) on demand: only ``--help`` and the docs ask."""
    import ast

    module = tree if tree is not None else _module_tree()
    (body,) = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    docs: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        text = after.value.value if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) else None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(text, str):
            docs[node.target.id] = " ".join(text.split())
    return docs
