"""Hive-style partition columns: the ``key=value`` folders of a file's path.

pyarrow's ``write_to_dataset(partition_cols=...)``, Spark and DuckDB's
``COPY ... (PARTITION_BY ...)`` keep a partition column's value only in the folder
name (``sales/country=DE/part-0.parquet``). ``settle`` checks once per load that the
files fit the layout ``source.partitioning`` asks for; ``Partitioned`` adds them to every
chunk of one file, each a single value repeated, typed as a CSV column's text is
(``yr=2024`` is an integer, ``code=007`` text) over every file's values: its
``schema`` and ``guesses`` go into the load's one schema like any file's columns.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk, Reject, row_values
from ..config import SourceConfig
from ..convert import TypeGuess, convert
from ..errors import ConfigError
from ..rejects import escaped
from ..schema import spellings
from ..storage import STDIN
from ..suggest import fold
from ..types import parse_type
from .base import Reader

if TYPE_CHECKING:
    from .csv.infer import WholeSample

NULL_VALUE = "__HIVE_DEFAULT_PARTITION__"  # Hive's, pyarrow's and Spark's folder name for a null
_SEGMENT = re.compile(r"^([^=]+)=(.*)$")


def path_values(path: str) -> dict[str, str | None]:
    """The ``key=value`` folders of ``path`` in path order, key and value URL-decoded
    (``%2F`` is ``/``), a byte that is not UTF-8 as its JSON escape (``\\udcfc``);
    ``__HIVE_DEFAULT_PARTITION__`` and an empty value are null.
    A key met twice keeps its innermost value. The file name itself is no folder."""
    if path == STDIN:
        return {}
    found: dict[str, str | None] = {}
    for segment in re.split(r"[/\\]", path)[:-1]:
        m = _SEGMENT.match(segment)
        if m is None:
            continue
        # a folder named in bytes that are not UTF-8 (Latin-1 ``city=Z\xfcrich``) is spelled as the
        # reject file spells such a name (``Z\udcfcrich``): text, and no folder's value holds a ``\``
        key, value = escaped(urllib.parse.unquote(m.group(1))), escaped(urllib.parse.unquote(m.group(2)))
        found.pop(key, None)  # the innermost folder decides, and its place
        found[key] = None if value in ("", NULL_VALUE) else value
    return found


def _keys(path: str) -> frozenset[str]:
    return frozenset(fold(k) for k in path_values(path))  # one column in any ASCII case, as SQLite has it


def settle(config: SourceConfig, files: list[str], earlier: frozenset[str] = frozenset()) -> SourceConfig:
    """``config`` checked for a load of ``files``: under ``auto`` each reader adds the keys of
    its own file's path, and a file whose path lacks a key another file has loads that column
    as NULL (as pyarrow's ``partitioning="hive"`` discovery does: no file's folders are dropped
    because another file sits at another depth); ``hive`` refuses a file whose keys are not
    the first file's. Once earlier runs of the job loaded partition columns (``earlier``,
    ``recorded_keys``), both refuse a file without them: its rows would load those columns
    as NULL where every earlier file had a value."""
    if config.partitioning == "none":
        return config
    keys = [_keys(f) for f in files]
    first = keys[0] if keys else frozenset()
    for path, found in zip(files, keys, strict=True):
        if earlier - found:
            folders = ", ".join(f"{k}=" for k in sorted(earlier - found))
            raise _outside(
                config,
                path,
                f"no {folders} folder in its path, but earlier runs of the job loaded {_listed(earlier)} from such folders",
            )
        if config.partitioning == "auto":
            continue
        if not found:
            raise _outside(config, path, "no key=value folder in its path")
        if found != first:
            raise _outside(config, path, f"partition keys {_listed(found)}, not {_listed(first)} as in {files[0]}")
    return config


def load_keys(config: SourceConfig, files: Iterable[str]) -> tuple[str, ...]:
    """The partition keys a load of ``files`` adds as columns to every file's rows (``Partitioned``'s
    ``keys``): each key of a ``key=value`` folder in any file's path, in the order first met and
    spelled as first met (one column in any ASCII case); none under ``none``. A file whose path lacks
    one loads it as NULL, so the load's one schema (its types, the table it makes) holds them all
    from its first file on, whichever depth sorts first."""
    if config.partitioning == "none":
        return ()
    keys: dict[str, str] = {}
    for path in files:
        for key in path_values(path):
            keys.setdefault(fold(key), key)
    return tuple(keys.values())


def recorded_keys(loaded: Iterable[str], columns: Iterable[str]) -> frozenset[str]:
    """The partition keys earlier runs of a job loaded as columns: the ``key=value`` folders
    in the path of every file its checkpoint lists (``loaded``) whose key its recorded
    schema (``columns``) holds, folded (``fold``)."""
    paths = [p for p in loaded if p != STDIN]
    if not paths:
        return frozenset()
    common = frozenset.intersection(*(_keys(p) for p in paths))
    return common & {fold(c) for c in columns}


def _outside(config: SourceConfig, path: str, what: str) -> ConfigError:
    """The error for a file outside the partitioned layout ``hive`` (or ``auto`` after earlier
    runs loaded partition columns) holds the files to."""
    return ConfigError(
        f"source.partitioning = '{config.partitioning}': {what}",
        file=path,
        hint='move the file into the partitioned folders, leave it out of source.path, or set source.partitioning = "none"',
    )


def _listed(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


def values_for(path: str, config: SourceConfig) -> dict[str, str | None]:
    """The partition values a reader of ``path`` adds: none under ``partitioning = "none"``.
    ``auto`` takes the file's own (the load settles it over all its files first: ``settle``)."""
    return {} if config.partitioning == "none" else path_values(path)


def loaded_keys(config: SourceConfig, loaded: Iterable[str], columns: Iterable[str]) -> frozenset[str]:
    """The partition keys the job's loads added as columns, folded: every key of a
    ``key=value`` folder in the path of a file its checkpoint lists (``loaded``) that its
    recorded schema (``columns``) holds (each file added its own path's keys: ``settle``)."""
    if config.partitioning == "none":
        return frozenset()
    keys = frozenset().union(*(_keys(p) for p in loaded if p != STDIN))
    return keys & {fold(c) for c in columns}


def folder_values(path: str, keys: frozenset[str], recorded: Iterable[str]) -> dict[str, str | None]:
    """The folder values a reject's raw row from ``path`` loads with on a replay: those of the
    partition keys the job's loads added (``loaded_keys``), spelled as its checkpoint records
    them. Another folder of the path, of a key the load added no column for, adds nothing:
    the file's own column of that name keeps the row's value."""
    names = spellings(recorded)
    return {names[fold(k)]: v for k, v in path_values(path).items() if fold(k) in keys}


def folder_note(name: str, value: str) -> str:
    """How a reject's reason names the folder whose value does not fit its column."""
    return f"(the folder {name}={value})"


def folder_rejected(reason: str, path: str, config: SourceConfig) -> str | None:
    """The ``key=value`` folder of ``path`` whose value ``reason`` says does not fit its
    column, or None: a reason about the file's own values."""
    for key, value in values_for(path, config).items():
        if value is not None and folder_note(key, value).lower() in reason.lower():
            return f"{key}={value}"
    return None


class Partitioned:
    """A reader of one file with its partition columns: the file's columns, a column of
    the same name (in any ASCII case) replaced by the folder's value, then the other
    partition columns in path order, then the load's other ``keys`` (``load_keys``) its path
    lacks, as NULL, unless the file has a column of that name: as pyarrow's hive discovery
    reads it, the file's own values. Other attributes are the file reader's."""

    def __init__(
        self,
        values: dict[str, str | None],
        path: str,
        config: SourceConfig,
        options: dict[str, Any],
        open_file: Callable[..., Reader],
        keys: Iterable[str] = (),
    ) -> None:
        types: dict[str, pa.DataType] = options.get("types") or {}
        names = spellings(types)  # a partition key takes the spelling the load settled
        self.raw = {names.get(fold(k), k): v for k, v in values.items()}
        mine = {fold(k) for k in self.raw}
        inner = replace(config, columns={n: t for n, t in config.columns.items() if fold(n) not in mine})
        # the file's own column of a partition key's name is read as the file has it: the folder's value replaces it
        others = {n: t for n, t in types.items() if fold(n) not in mine}
        # guessed here, file by file: a partition column's type comes from this file's folder
        self.inner = open_file(path, inner, **{**options, "types": others, "defer_types": False})
        self.path, self.size = self.inner.path, self.inner.size
        own = mine | {fold(n) for n in self.inner.schema.names}
        self.raw |= {names.get(fold(k), k): None for k in keys if fold(k) not in own}
        self.sample: WholeSample | None = None
        try:
            declared = {fold(n): parse_type(t, where=f"source.columns.{n}") for n, t in config.columns.items()}
            self.guesses: dict[str, Any] = dict(self.inner.guesses)
            self.typed = {n: self._typed(n, v, types.get(n), declared.get(fold(n))) for n, v in self.raw.items()}
            self.schema = self._schema()
        except BaseException:
            self.inner.close()  # not returned: no caller can close the file, and the error would hold it
            raise

    def _typed(
        self, name: str, value: str | None, settled: pa.DataType | None, declared: pa.DataType | None
    ) -> tuple[pa.DataType, pa.Scalar | None, str | None]:
        """The column's type, and its value as a typed scalar or, where it does not fit that
        type, None and why; the guess behind an inferred type goes to ``self.guesses``."""
        if settled is not None and pa.types.is_null(settled):
            settled = None  # a column without a value yet: this file's value decides
        target = settled or declared
        text = pa.array([value], pa.string())
        if target is None:
            guess = TypeGuess()
            guess.add(text)
            self.guesses[name] = guess
            target = guess.result() if value is not None else pa.null()
        if value is None:
            return target, pa.scalar(None, target), None
        out = convert(text, target, strict=declared is None or not target.equals(declared))
        if out.bad is not None:
            return target, None, f"{(out.reasons or ['does not fit'])[0]} {folder_note(name, value)}"
        return target, out.array[0], None

    def _schema(self) -> pa.Schema:
        fields = list(self.inner.schema)
        where = {fold(f.name): i for i, f in enumerate(fields)}
        self.position: dict[str, int] = {}
        for name, (target, _, _) in self.typed.items():
            i = where.get(fold(name), len(fields))
            if i == len(fields):
                fields.append(pa.field(name, target))
            else:
                fields[i] = pa.field(name, target)
                self.guesses.pop(self.inner.schema.field(i).name, None)
            self.position[name] = i
        return pa.schema(fields)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)  # dialect, keys...: the file reader's

    def __iter__(self) -> Iterator[Chunk]:
        for chunk in self.inner:
            yield self._added(chunk)

    def _added(self, chunk: Chunk) -> Chunk:
        """``chunk`` with the partition columns; every row rejected where a folder's value
        does not fit its column's type (settled by an earlier run, or declared)."""
        for r in chunk.rejects:
            if r.values is not None:
                r.values = self._with_folders(r.values)
        bad = next(((n, why) for n, (_, _, why) in self.typed.items() if why is not None), None)
        if bad is not None and chunk.num_rows:
            chunk = self._rejected(chunk, *bad)
        columns = list(chunk.batch.columns)
        n = chunk.num_rows
        for name, (target, value, _) in self.typed.items():
            column = pa.repeat(value, n) if value is not None else pa.nulls(n, target)
            i = self.position[name]
            columns[i : i + 1] = [column]
        return replace(chunk, batch=pa.RecordBatch.from_arrays(columns, schema=self.schema))

    def _rejected(self, chunk: Chunk, column: str, reason: str) -> Chunk:
        rows = chunk.rows.to_pylist()
        lines = chunk.lines.to_pylist() if chunk.lines is not None else [None] * len(rows)
        new = [
            Reject(file=chunk.file, row=row, line=line, column=column, reason=reason, values=self._with_folders(values))
            for row, line, values in zip(rows, lines, row_values(chunk.batch), strict=True)
        ]
        out = chunk.keep(kernels.is_null(chunk.rows), filtered=False)  # no row number is null: none kept
        out.rejects = chunk.rejects + new
        return out

    def _with_folders(self, values: dict[str, Any]) -> dict[str, Any]:
        """A rejected row's values as the load reads the row, for a replay: the folders' values
        in place of the file's own columns of their names in any case (``Country`` beside the
        folder's ``country`` was a column no replay knows)."""
        names = {fold(k): k for k in self.raw}  # renamed in its place, as the schema has it
        return {names.get(fold(k), k): v for k, v in values.items()} | self.raw

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Partitioned:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
