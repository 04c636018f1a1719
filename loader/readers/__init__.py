"""Readers: a schema plus an iterator of chunks, one file at a time.

``expand_paths`` turns a source's paths and globs into the sorted list of
files a run loads; ``open_reader`` opens one of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import storage
from .._lazy import lazy_attributes
from ..config import SourceConfig, infer_format, is_glob
from ..errors import ConfigError
from .base import Naming, Reader, dedupe_names

if TYPE_CHECKING:
    from .arrow import ArrowReader
    from .csv import CSVReader
    from .jsonl import JSONLReader
    from .parquet import ParquetReader


# each reader is imported when first used: a CSV load never loads libparquet
__getattr__ = lazy_attributes(
    __name__, {"CSVReader": "csv", "ParquetReader": "parquet", "JSONLReader": "jsonl", "ArrowReader": "arrow"}
)

__all__ = [
    "ArrowReader",
    "CSVReader",
    "JSONLReader",
    "Naming",
    "ParquetReader",
    "Reader",
    "dedupe_names",
    "empty_lines",
    "empty_text_files",
    "expand_paths",
    "file_format",
    "input_spellings",
    "open_reader",
    "passed_over",
    "too_new",
]


def expand_paths(config: SourceConfig) -> list[str]:
    """Every input file, in sorted order, each once (by its own name, where the inputs hold it)."""
    return [names[0] for names in input_spellings(config)]


def input_spellings(config: SourceConfig) -> list[list[str]]:
    """Every input file's spellings among the paths and globs (``spellings``)."""
    files: list[str] = []
    for pattern in config.path:
        if pattern == "-":
            from .stream import check_stdin  # pyarrow: only where standard input is read

            check_stdin()
            files.append("-")
        elif is_glob(pattern):
            matched = storage.glob(pattern)
            if not matched and not config.allow_empty:
                raise ConfigError(f"source.path: no file matches {pattern!r}", hint=_no_match_hint(pattern))
            files.extend(matched)
        elif storage.unaddressable(pattern) is not None:  # never asked about: refused once the others load
            files.append(storage.normal(pattern))
        elif not storage.exists(pattern):
            raise storage.missing(pattern)
        else:
            if not storage.is_remote(pattern):  # a directory, a pipe: refused before anything opens it
                storage.check_file(pattern, f"dir/*.{config.format or infer_format(pattern) or 'csv'}")
            files.append(storage.normal(pattern))  # S3://b/k and s3://b/k: one object, one checkpoint
    return spellings(files)


def _no_match_hint(pattern: str) -> str:
    """The hint of a glob that matches nothing; for one with ``[``, how to match a ``[`` that
    is part of a name (a glob reads ``report[1].csv`` as ``report1.csv``); and what it passed over."""
    hint = "check the pattern, or set source.allow_empty = true for scheduled runs"
    if "[" in pattern:
        escaped = pattern.replace("[", "[[]")
        hint = f"{hint}; '[' starts a set of characters in a glob: write '[[]' for a '[' in a name ({escaped!r})"
    return hint + passed_over(pattern)


def passed_over(pattern: str) -> str:
    """For a local glob that matches nothing, the files it passes over as hidden names or a job's
    output markers (``paths.skipped``: ``.git/``, ``_temporary/``), said so that a user whose
    files are there knows why; empty if none (or in object storage: no second listing)."""
    if storage.is_remote(pattern):
        return ""
    import glob

    found = sorted(p for p in glob.glob(pattern, recursive=True, include_hidden=True) if os.path.isfile(p))
    if not found:
        return ""
    many = f"{len(found):,} files" if len(found) > 1 else "1 file"
    return (
        f"; it passes over {many} under hidden names or a job's output markers ({found[0]!r}): "
        "a pattern segment that starts with the same character names them"
    )


def too_new(spelled: list[list[str]], min_age: float) -> tuple[list[list[str]], list[tuple[str, float]]]:
    """The inputs split by ``source.min_age``: those to load, and those changed less than
    ``min_age`` seconds ago (their first spelling and age in seconds), left for a later run: a
    copy or upload still writing into the glob would load cut short, and then be a changed
    file. Local files only: an object in object storage appears whole; standard input has no age."""
    if min_age <= 0:
        return spelled, []
    now = time.time()
    ready: list[list[str]] = []
    young: list[tuple[str, float]] = []
    for names in spelled:
        age = _age(names[0], now)
        if age is not None and age < min_age:  # a time ahead of the clock is young too
            young.append((names[0], age))
        else:
            ready.append(names)
    return ready, young


EMPTY_REASON = "0 bytes: no header, no rows"


def empty_text_files(
    spelled: list[list[str]],
    config: SourceConfig,
    planned: Callable[[list[str]], bool] | None = None,
    loaded: Callable[[list[str]], bool] | None = None,
) -> tuple[list[list[str]], list[str]]:
    """The inputs split: those to load, and the CSV and JSON Lines files of no text (the first
    spelling of each): 0 bytes, a compressed file of nothing, a byte order mark alone
    (``holds_no_text``), a JSON Lines file of blank lines alone: files of 0 rows: Spark and Hadoop write one for a task without rows,
    and it stopped the load of every part file after it. Where every input is one, none is
    split off: the load stops on the first (an input that loads nothing is no success). A
    Parquet or Arrow file of 0 bytes is no such file but a corrupt one, and is read (and refused).
    ``planned``: the inputs (their spellings) not looked in, left to the plan: those the job's
    checkpoint has loaded (one truncated since is a changed file, one unchanged is skipped unread).
    ``loaded``: the inputs the job's checkpoint has an entry of: one emptied since and reloaded
    (run.on_change = reload) is split off even where every input is empty: the job loaded it,
    and its new version of no rows is recorded, not refused at every later run."""
    from .stream import holds_no_text  # pyarrow's import, for a run that reads files anyway

    empty = [
        names
        for names in spelled
        if names[0] != storage.STDIN
        and (kind := file_format(names[0], config)) in ("csv", "jsonl")
        and not (planned is not None and planned(names))
        and holds_no_text(names[0], config.encoding, blank_lines=kind == "jsonl")
    ]
    if len(empty) == len(spelled) and not (loaded is not None and any(loaded(names) for names in empty)):
        return spelled, []
    gone = {names[0] for names in empty}
    return [names for names in spelled if names[0] not in gone], [names[0] for names in empty]


def empty_lines(empty: list[str], shown: int = 50) -> list[str]:
    """The lines listing the inputs ``empty_text_files`` passed over: a dry run's plan and
    ``loader inspect`` of a glob say them alike."""
    lines = [f"empty ({len(empty)}): {EMPTY_REASON}, nothing to load", *(f"  {f}" for f in empty[:shown])]
    return lines + ([f"  ... and {len(empty) - shown} more"] if len(empty) > shown else [])


def _age(path: str, now: float) -> float | None:
    """Seconds since ``path`` last changed; None where it has no age to go by (standard input,
    an object, a file that cannot be looked at: the run reports that as it would)."""
    if path == "-" or storage.is_remote(path):
        return None
    try:
        return now - os.stat(path).st_mtime
    except OSError:
        return None


def spellings(files: list[str]) -> list[list[str]]:
    """The spellings of each file ``files`` reach (``a.csv``, ``./a.csv``, a link to it, a path
    through a linked folder), its own names first (``own_name``), then the rest, each part
    sorted; the files in sorted order of their first. A run loads a file under the spelling
    its checkpoint knows (``state.recorded_spellings``), else the first: a link that later
    goes or points elsewhere leaves the file known under its own name."""
    groups: dict[str, list[str]] = {}
    for f in sorted(set(files)):
        same = f if f == "-" or storage.is_remote(f) else os.path.realpath(f)
        groups.setdefault(same, []).append(f)
    # a file reached once is most: no second look at its path
    out = [names if len(names) == 1 else sorted(names, key=lambda f: not own_name(f)) for names in groups.values()]
    return sorted(out, key=lambda names: (names[0] == "-", names[0]))


def own_name(f: str) -> bool:
    """Whether ``f`` names a file by no link: none as its last part, nor a folder on the way."""
    return f == "-" or storage.is_remote(f) or os.path.realpath(f) == os.path.abspath(f)


def open_reader(path: str, config: SourceConfig, **options: Any) -> Reader:
    """A reader for one file, chosen by ``config.format`` (or the file's extension), with
    the partition columns of its ``key=value`` folders (``partitions``) unless
    ``config.partitioning`` is ``none``. ``options`` are the reader's own: ``chunk_size``,
    ``bench_rows``, ``resume``, ``workers``, ``check_width``, ``types`` and ``part`` (see ``ReaderBase``);
    ``partitions``, the load's partition keys (``partitions.load_keys``), is this function's: a
    file whose path lacks one of them gets it as a NULL column."""
    from .partitions import Partitioned, values_for

    keys = options.pop("partitions", ())
    values = values_for(path, config)
    if values or (keys and config.partitioning != "none"):
        return Partitioned(values, path, config, options, open_file, keys)
    return open_file(path, config, **options)


def file_format(path: str, config: SourceConfig) -> str | None:
    """The format ``path`` is read as: ``config.format``, else the file's extension's."""
    return config.format or infer_format(path)


def open_file(path: str, config: SourceConfig, **options: Any) -> Reader:
    """A reader for one file's own columns (``open_reader`` without partition columns)."""
    fmt = file_format(path, config)
    if fmt == "parquet":
        from .parquet import ParquetReader

        return ParquetReader(path, config, **options)
    if fmt == "csv":
        from .csv import CSVReader

        return CSVReader(path, config, **options)
    if fmt == "jsonl":
        from .jsonl import JSONLReader

        return JSONLReader(path, config, **options)
    if fmt == "arrow":
        from .arrow import ArrowReader

        return ArrowReader(path, config, **options)
    raise ConfigError(
        f"source.format: cannot tell the format of {path}",
        hint='set source.format = "csv", "parquet", "jsonl" or "arrow"',
    )
