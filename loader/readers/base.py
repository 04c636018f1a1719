"""What every reader is: a schema plus an iterator of chunks, closed when done."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

import pyarrow as pa

from .. import kernels, storage
from ..chunk import Chunk, Reject, row_values, text_or_bytes
from ..config import SourceConfig
from ..convert import Converted, ConvertedBatch, chained, convert, convert_columns, uuid_text
from ..errors import ConfigError, SourceError, one_line
from ..schema import spellings
from ..suggest import fold, name_list
from ..types import is_list_view, is_text, is_uuid, parse_type, plain_type, repeated_field, type_name

if TYPE_CHECKING:
    from .csv.infer import WholeSample


class Reader(Protocol):
    """One source file, read as a stream of chunks (like pyarrow's RecordBatchReader).

    ``resume`` is the ``end`` position of the last committed chunk: a reader
    started with it yields only rows after that point.
    """

    path: str
    schema: pa.Schema
    size: int | None
    guesses: dict[str, Any]  # column -> the ``TypeGuess`` behind its inferred type
    valueless: frozenset[str]  # columns of a known type without a value in the file (no say in types)
    sample: WholeSample | None  # with ``defer_types``, a small CSV file's rows as parsed, not guessed

    def __iter__(self) -> Iterator[Chunk]: ...

    def close(self) -> None: ...

    def read_version(self) -> dict[str, Any] | None: ...

    def __enter__(self) -> Reader: ...

    def __exit__(self, *exc: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Naming:
    """What names a header's empty and repeated cells where earlier versions' rule and this
    one's differ (``dedupe_names``). ``legacy``: the columns a checkpoint an earlier version
    wrote records (``state.JobState.legacy_names``). ``target``: for a job whose checkpoint
    records no columns (a new job, ``--restart``), the columns of the target it loads into, in
    their order (a table's; the record of a LevelDB job's keys): made before, by either rule."""

    legacy: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    # spellings of one name that a Parquet or Arrow file of the load holds side by side, each
    # with its own column (``schema.twin_columns``), in (spelling, column) pairs
    apart: tuple[tuple[str, str], ...] = ()


def dedupe_names(names: list[str], known: Iterable[str] = (), target: Sequence[str] = ()) -> list[str]:
    """Column names SQLite and LevelDB can both hold: none empty, none repeated.

    An empty name becomes ``column_N`` (its 1-based position); a repeat (in any ASCII case,
    as SQLite compares names: ``fold``) gets ``_2``, ``_3``... Names are otherwise kept
    exactly, quotes and all. A new name is never one the header itself holds, earlier or
    later (``x,X,x_2`` gives ``x``, ``X_3``, ``x_2``): each real column keeps its own name.
    ``known``: the columns a checkpoint an earlier version wrote records; where they hold the
    names that version gave such a header (``x``, ``X_2``, ``x_2_2``), those stay
    (``_legacy_names``). Not a checkpoint of this version: the old names may be the new ones in
    another order (``id,,column_2``), which only the rule the job recorded tells apart.
    ``target``: an existing target's columns in order; where the names of one rule alone are
    among them in the header's order, those stay (``header_names``).
    """
    return header_names(names, known, target)[0]


def header_names(names: list[str], known: Iterable[str] = (), target: Sequence[str] = ()) -> tuple[list[str], bool]:
    """``dedupe_names``, and whether the names are the earlier versions' where this rule's
    differ. A target made by the earlier rule from ``id,,column_2`` has ``column_2`` (the empty
    cell's) before ``column_2_2``; one made by this rule, ``column_2_2`` first: the rule whose
    names it holds in the header's order named it, and a later file's values go where its went."""
    new = _dedupe(names)
    recorded = {fold(n) for n in known}
    if not (recorded or target):
        return new, False
    legacy = _legacy_names(names)
    if legacy == new:
        return new, False
    if recorded and all(fold(old) in recorded for old, now in zip(legacy, new, strict=True) if old != now):
        return legacy, True  # a checkpoint made so: each column's later values go where its first went
    if target:
        position = {fold(c): i for i, c in reversed(list(enumerate(target)))}
        if _fits(legacy, new, position) and not _fits(new, legacy, position):
            return legacy, True
    return new, False


def _fits(naming: list[str], other: list[str], position: dict[str, int]) -> bool:
    """Whether a target's columns (``position``: each one's place, by folded name) hold the
    names ``naming`` gives where it differs from ``other``, in the header's order."""
    places = [position.get(fold(n), -1) for n, o in zip(naming, other, strict=True) if n != o]
    return min(places) >= 0 and places == sorted(places)


def _dedupe(names: list[str]) -> list[str]:
    header = {fold(name) for name in names if name.strip()}
    out: list[str] = []
    seen: set[str] = set()
    last: dict[str, int] = {}  # the suffix a base last got: a header of one name repeated stays linear
    for i, name in enumerate(names, 1):
        key = fold(name)
        if name.strip() and key not in seen:  # a name's first spelling keeps it
            candidate = name
        else:
            candidate = new_name(name if name.strip() else f"column_{i}", (seen, header), last)
        seen.add(fold(candidate))
        out.append(candidate)
    return out


def new_name(base: str, taken: tuple[set[str], set[str]], last: dict[str, int]) -> str:
    """``base``, else ``base_N`` from the suffix it last got on: the first in none of the
    ``taken`` sets of folded names (two sets, not their union: no copy per repeat)."""
    key = fold(base)
    n = last.get(key, 1)
    candidate = base if n == 1 else f"{base}_{n}"
    while any(fold(candidate) in names for names in taken):
        n += 1
        candidate = f"{base}_{n}"
    last[key] = n
    return candidate


def _legacy_names(names: list[str]) -> list[str]:
    """The names earlier versions gave a header: a suffix skipped only the names before
    it, so a repeat could take a later column's name (``x,X,x_2``: ``x``, ``X_2``, ``x_2_2``)."""
    out: list[str] = []
    seen: set[str] = set()
    last: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        base = name if name.strip() else f"column_{i}"
        n = last.get(fold(base), 1)
        candidate = base if n == 1 else f"{base}_{n}"
        while fold(candidate) in seen:
            n += 1
            candidate = f"{base}_{n}"
        last[fold(base)] = n
        seen.add(fold(candidate))
        out.append(candidate)
    return out


def spelled(names: list[str], spelling: Iterable[str]) -> list[str]:
    """A file's column names as the load spells them: a column the load's settled types
    name in another case (``Code`` in this file, ``code`` in the first) takes their spelling,
    so every file and run stores one column under one name."""
    known = spellings(spelling)
    return [known.get(fold(n), n) for n in names]


def spelled_apart(raw: list[str], names: list[str], apart: dict[str, str], path: str) -> list[str]:
    """A Parquet or Arrow file's column names (``names``, from its own ``raw`` ones) where the
    load holds spellings of one name apart (``apart``: Polars' ``a`` and ``A`` in one file):
    each such spelling goes to its own column, in every file. A file holding another spelling
    of such a name (``Id`` beside the columns of ``id`` and ``ID``) could mean either: refused,
    naming them, as JSON Lines rejects such a key."""
    if not apart:
        return names
    out = []
    for r, name in zip(raw, names, strict=True):
        if r in apart:
            out.append(apart[r])
            continue
        either = [c for s, c in apart.items() if fold(s) == fold(r)]
        if either:
            twins = [s for s, c in apart.items() if c in either]
            raise SourceError(
                f"could be either of the columns {', '.join(map(repr, either))} (another file of the load holds "
                f"{' and '.join(twins)} as two columns: names that differ only in case)",
                file=path,
                column=r,
                hint=f"rename the column in the file to one of {', '.join(twins)}, or load the file in a job of its "
                "own, then rerun: the files before it stay loaded",
            )
        out.append(name)
    # a spelling the file repeats exactly (``x,X,x``) keeps the file's own naming
    return out if len({fold(n) for n in out}) == len(out) else names


def declared_types(
    config: SourceConfig, names: list[str], path: str, raw: Sequence[str] = ()
) -> dict[str, pa.DataType]:
    """The ``[source] columns`` overrides of the file's columns as Arrow types, in any ASCII
    case (each takes the file's spelling). A declared column the file lacks is left out: of
    files that change over time, one may have it and the next not (the load checks that some
    input, the table or the checkpoint has it: ``Pipeline._check_declared_names``); standard
    input, which no load samples before, must have it. ``raw``: the file's own names, before
    ``a,A`` became ``a``, ``A_2`` (``check_case_twins``)."""
    known = spellings(names)
    for name in config.columns:
        check_case_twins(name, raw, names, known, path)
    declared = {known.get(fold(n), n): parse_type(t, where=f"source.columns.{n}") for n, t in config.columns.items()}
    unknown = sorted(set(declared) - set(names))
    if unknown and path == "-":
        raise unknown_declared(unknown[0], path, names)
    return {n: t for n, t in declared.items() if n in names}


def check_case_twins(declared: str, raw: Sequence[str], names: list[str], known: dict[str, str], path: str) -> None:
    """A declared name matching, in ASCII case, two spellings of one file's header (``code,CODE``,
    loaded as ``code`` and ``CODE_2``) goes to the column that keeps the name (``known``: by
    folded name): refused unless spelled as that column is in the file, before anything loads
    (``CODE`` typed ``code``, and every row was rejected for a value of a column not declared)."""
    twins = [i for i, r in enumerate(raw) if fold(r) == fold(declared)]
    if len({raw[i] for i in twins}) < 2:
        return
    target = known.get(fold(declared))
    if target in names and raw[names.index(target)] == declared:
        return
    found = [repr(raw[i]) + ("" if raw[i] == names[i] else f" (loaded as {names[i]!r})") for i in twins]
    use = ", ".join(names[i] for i in twins)
    raise ConfigError(
        f"source.columns: {declared!r} matches the columns {', '.join(found[:-1])} and {found[-1]} of {path}"
        f" (names that differ only in case): declare one of {use}"
    )


def unknown_declared(name: str, where: str, names: list[str]) -> ConfigError:
    """A ``source.columns`` name no input has: its hint lists the inputs' columns, if any
    (a hint listing none would only puzzle)."""
    hint = "columns are: " + name_list(names) if names else None
    return ConfigError(f"source.columns: no column {name!r} in {where}", hint=hint, verbatim=(hint,) if hint else ())


def strict_columns(names: list[str], types: dict[str, pa.DataType], declared: dict[str, pa.DataType]) -> set[str]:
    """Columns converted under the lossless rule: all but those read as declared."""
    return {n for n in names if n not in declared or (n in types and not types[n].equals(declared[n]))}


def bad_value_rejects(
    path: str, converted: ConvertedBatch, source: pa.Table | pa.RecordBatch, rows: pa.Array, lines: pa.Array | None
) -> list[Reject]:
    """A reject for each row where a value failed to convert, with the row's values as read
    (bytes that are not UTF-8 kept as bytes: the reject line holds them as base64)."""
    order = sorted(converted.why)
    index = pa.array(order, pa.int64())
    row_list = kernels.take(rows, index).to_pylist()
    line_list = kernels.take(lines, index).to_pylist() if lines is not None else [None] * len(order)
    return [
        Reject(
            file=path,
            row=row,
            line=line,
            column=converted.why[i][0],
            reason=converted.why[i][1],
            values={k: text_or_bytes(v) if isinstance(v, bytes) else v for k, v in values.items()},
        )
        for i, row, line, values in zip(
            order, row_list, line_list, row_values(_batch(kernels.take(source, index))), strict=True
        )
    ]


def times_of_day(read: Converted) -> Converted:
    """``read`` with its times outside 00:00:00..24:00:00 rejected: a Parquet TIME may hold
    any count (fastparquet writes a pandas timedelta as one), which is no time of day and
    which no target's time text holds. 24:00:00 (DuckDB's end of the day) is kept."""
    from ..writers.encode import outside_day, time_text

    arr = read.array
    if not pa.types.is_time(arr.type):
        return read
    bad = outside_day(arr)
    if not kernels.any(bad).as_py():
        return read
    texts = time_text(kernels.filter(arr, bad)).to_pylist()
    reasons = [f"{text} is not a time of day (00:00:00 to 24:00:00)" for text in texts]
    return chained(read, Converted(arr, bad, reasons))


def _batch(rows: pa.Table | pa.RecordBatch) -> pa.RecordBatch:
    """``rows`` as one record batch (a table's columns joined)."""
    if isinstance(rows, pa.RecordBatch):
        return rows
    return pa.RecordBatch.from_arrays([c.combine_chunks() for c in rows.columns], schema=rows.schema)


def plain_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its view-layout, run-end-encoded and extension-type columns in their plain types
    (``types.plain_type``): a reader's batches carry neither, so nothing after the reader
    meets one."""
    if not has_views(batch.schema):
        return batch
    columns = [plain_array(c) for c in batch.columns]
    fields = [f.with_type(c.type) for f, c in zip(batch.schema, columns, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


def has_views(schema: pa.Schema) -> bool:
    """Whether a column of ``schema`` has a view layout, runs or an extension type, at any depth."""
    return any(not plain_type(t).equals(t) for t in schema.types)


def plain_array(arr: pa.Array) -> pa.Array:
    """``arr`` in ``plain_type(arr.type)``. Lists, structs and maps are rebuilt from their
    values: Arrow casts a list_view to a list wrongly (pyarrow 26 keeps its offsets, not its
    sizes), casts no list_view's values and no extension type inside a list."""
    target = plain_type(arr.type)
    if target.equals(arr.type):
        return arr
    t = arr.type
    if isinstance(t, pa.BaseExtensionType):  # its storage, or a bool8's int8 as bool
        return _cast_to(plain_array(arr.storage), target)
    if pa.types.is_run_end_encoded(t):
        return _run_end_decoded(arr)
    if is_list_view(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return _plain_list(arr, target)
    if pa.types.is_fixed_size_list(t):
        n = t.list_size
        values = plain_array(arr.values.slice(arr.offset * n, len(arr) * n))
        return pa.FixedSizeListArray.from_arrays(values, type=target, mask=kernels.is_null(arr))
    if pa.types.is_struct(t):
        children = [plain_array(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=kernels.is_null(arr))
    if pa.types.is_map(t):
        return _plain_map(arr, target)
    return kernels.cast(arr, target)  # string_view, binary_view, a dictionary of them


def _run_end_decoded(arr: pa.Array) -> pa.Array:
    """A run-end-encoded array as its values, row by row. Arrow casts none, and its
    ``run_end_decode`` takes no dictionary or nested values: each row's run is found by
    decoding the runs' positions instead, and the values taken at them."""
    runs = row_numbers(-1, len(arr.values), set())  # 0, 1, ... one per run
    positions = pa.RunEndEncodedArray.from_arrays(arr.run_ends, runs).slice(arr.offset, len(arr))
    return kernels.take(plain_array(arr.values), kernels.run_end_decode(positions))


def _plain_map(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """A map's entries in ``target``. A slice's offsets index its whole keys and items:
    they are cut to the slice's entries and the offsets made to start at zero."""
    offsets = arr.offsets
    lo, hi = offsets[0].as_py(), offsets[-1].as_py()
    keys, items = (plain_array(a.slice(lo, hi - lo)) for a in (arr.keys, arr.items))
    rebased = kernels.subtract(offsets, pa.scalar(lo, offsets.type))
    return pa.MapArray.from_arrays(rebased, keys, items, type=target, mask=kernels.is_null(arr))


def _cast_to(arr: pa.Array, target: pa.DataType) -> pa.Array:
    return arr if arr.type.equals(target) else kernels.cast(arr, target)


def _plain_list(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """A list or list_view array as a list of ``target``: its values in row order, offsets
    from its lengths."""
    large = pa.types.is_large_list(target)
    width = pa.int64() if large else pa.int32()
    values = plain_array(kernels.list_flatten(arr))
    lengths = kernels.cast(kernels.fill_null(kernels.list_value_length(arr), 0), width)
    offsets = pa.concat_arrays([pa.array([0], width), kernels.cumulative_sum(lengths)])
    build = pa.LargeListArray if large else pa.ListArray
    return build.from_arrays(offsets, values, type=target, mask=kernels.is_null(arr))


@dataclass
class Position:
    """Where a reader of cut blocks stands: the next block's first row (less one) and
    line; rows up to ``done`` were committed by an earlier run."""

    row_base: int
    line: int
    done: int

    def past(self, rows: int, newlines: int) -> None:
        self.row_base += rows
        self.line += newlines


def row_numbers(base: int, n: int, skip: set[int]) -> pa.Array:
    """``base + 1 .. base + n`` as int64, less the block-relative numbers in ``skip``.
    Built by a kernel, not from a ``range`` of Python ints (which holds the GIL)."""
    if skip:
        return pa.array([base + i for i in range(1, n + 1) if i not in skip], pa.int64())
    return kernels.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n), start=pa.scalar(base, pa.int64()))


def split_chunk(chunk: Chunk, size: int, floor: int, final: dict[str, Any], within: dict[str, Any]) -> Iterator[Chunk]:
    """At most ``size`` rows per chunk, each knowing where to resume: the last piece
    at ``final`` (after the block), the others at ``within`` (the block's start) plus
    the row they end at. ``floor`` is the last row accounted for before ``chunk``."""
    n = chunk.num_rows
    if n <= size:
        chunk.end = final
        chunk.rows_read = chunk.last_row - floor
        yield chunk
        return
    prev = floor
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        last = hi == n
        upto = chunk.last_row if last else chunk.rows[hi - 1].as_py()
        piece = Chunk(
            batch=chunk.batch.slice(lo, hi - lo),
            file=chunk.file,
            rows=chunk.rows.slice(lo, hi - lo),
            lines=chunk.lines.slice(lo, hi - lo) if chunk.lines is not None else None,
            last_row=upto,
            end=final if last else {**within, "row": upto},
            rejects=[r for r in chunk.rejects if prev < (r.row or 0) <= upto],
            bytes_read=chunk.bytes_read if last else 0,
        )
        piece.rows_read = upto - prev
        prev = upto
        yield piece


class ReaderBase:
    """What both readers share: where they read, how far they may resume, and closing."""

    PARTS = ""  # what ``part`` ranges over, where a reader reads parts of a file

    def __init__(
        self,
        path: str,
        config: SourceConfig,
        *,
        chunk_size: int = 8192,
        bench_rows: int = 0,
        resume: dict[str, Any] | None = None,
        workers: int = 1,
        check_width: Callable[[int, str], None] | None = None,
        types: dict[str, pa.DataType] | None = None,
        part: tuple[int, ...] | None = None,
        defer_types: bool = False,
        empty_columns: dict[str, bool] | None = None,
        naming: Naming = Naming(),
    ) -> None:
        self.path = path
        if part is not None and not self.PARTS:
            raise ConfigError(f"{path}: this format is read whole, not in parts", hint="read it without a part")
        # Read only this part of the file (``PARTS``: CSV byte ranges, Parquet row groups),
        # ``[start, end)``; rows are numbered from 1 within a CSV part. A CSV part may add the
        # line ``start`` is on, when the plan found ``start`` and ``end`` (``csv.parts.bounds``).
        self.part = part
        # Called with the column count once the header is read, before the sample is
        # inferred: a file too wide for the sink fails in a moment, not after inference.
        self.check_width = check_width
        self.config = config
        self.chunk_size = chunk_size
        # ``run.chunk_size`` as the job gives it, in rows of the benchmark's width (0: none):
        # a reader that learns its own rows' width on opening (Parquet, from the footer) holds
        # its chunks to as many bytes, as a file outside the run's sampled widths can be wider
        # (``memory.input_width``). Only ever fewer rows than ``chunk_size``.
        self.bench_rows = bench_rows
        self.workers = workers  # threads parsing and converting parts at once (CSV blocks)
        self.resume = resume
        # Column types settled for the whole load (see ``loader.schema``): not inferred
        # here, and a value that does not fit is rejected as for an inferred type. A column
        # typed null (no value yet, in this load or an earlier run) gives only its spelling:
        # this file's values decide its type.
        self.spelling = list(types or {})
        self.types = {n: t for n, t in (types or {}).items() if not pa.types.is_null(t)}
        # What keeps an earlier version's naming of empty and repeated header names: a
        # checkpoint's columns recorded under it, an existing target's made by it (``Naming``).
        # Not ``types``: this load's own settled names are the documented ones, and may be the
        # old ones in another order (``id,,column_2``), which would take the old naming.
        self.naming = naming
        # The header took the earlier versions' names where this rule's differ: the job's
        # checkpoint records so (``JobState.names``), and its later runs name it alike.
        self.old_names = False
        # The guesses behind this file's inferred types (CSV), for the load to merge.
        self.guesses: dict[str, Any] = {}
        # Columns of a known type (Parquet's) that hold no value in this file, known from its
        # metadata: like a guessed column without values, they have no say in the load's types.
        self.valueless: frozenset[str] = frozenset()
        # CSV, for the load's types only: a small file's rows are kept as parsed (``sample``),
        # not guessed, to be guessed with other small files' (``csv.infer.SmallFiles``).
        self.defer_types = defer_types
        self.sample: WholeSample | None = None
        # CSV: the columns the load's types counted in this file, having seen every row of it,
        # each with whether it has no value (``SmallFiles.empty``): no second look at them
        self.empty_columns = empty_columns
        self.size = storage.size(path)
        try:
            self._open()
        except BaseException:
            self.close()  # not returned: no caller can close what it opened, and the error would hold it
            raise

    def _open(self) -> None:
        """Open the file and settle its schema (``self.schema``)."""
        raise NotImplementedError

    def header_names(self, names: list[str]) -> list[str]:
        """The header's names as columns (``dedupe_names`` under ``self.naming``)."""
        out, self.old_names = header_names(names, self.naming.legacy, self.naming.target)
        return out

    def close(self) -> None:
        """Close what the reader opened; also when ``_open`` failed part way (what it had
        not opened yet, it has not)."""
        raise NotImplementedError

    def read_version(self) -> dict[str, Any] | None:
        """The identity of the file the rows were read through, while the reader is open
        (``storage.read_version`` of its stream: CSV's and JSON Lines' ``_stream``, the
        Arrow formats' ``source``); None where not known."""
        stream = getattr(self, "_stream", None) or getattr(self, "source", None)
        return storage.read_version(self.path, stream) if stream is not None else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TypedFileReader(ReaderBase):
    """What the readers of files that carry their own types (Parquet, Arrow IPC) share:
    the checks before opening, the schema (settled, declared, or the file's), and the
    conversion of each batch to it."""

    KIND = ""  # "Parquet", for messages
    GLOB = ""  # "dir/*.parquet", for the hint on a directory

    def _check_path(self) -> None:
        if self.path == "-":
            raise ConfigError(
                f"source.path: {self.KIND} cannot be read from standard input",
                hint=stdin_hint(self.GLOB.rpartition(".")[2]),
            )
        storage.check_file(self.path, self.GLOB)
        if self.size == 0:
            raise SourceError("file is empty", file=self.path)

    def _unreadable_type(self, what: str, exc: pa.ArrowNotImplementedError) -> SourceError:
        """The error for a file whose schema holds a type pyarrow lacks (Polars' Int128): the
        file may be fine, and pyarrow's reason does not name the column (it fails on the schema
        as a whole), so the hint says what to write instead."""
        return SourceError(
            f"{what}: a column's type is not one pyarrow reads ({one_line(exc)})",
            file=self.path,
            hint="write that column in another type (a 128-bit integer as int64 or decimal), then rerun: "
            "the files before it stay loaded",
        )

    def _settle_schema(self, file_schema: pa.Schema) -> None:
        if not len(file_schema):  # no table can be created, nor a row written, from it
            raise SourceError("has no columns", file=self.path)
        self.file_names = tuple(file_schema.names)  # for the load's ``schema.twin_columns``
        own = spelled(self.header_names(list(file_schema.names)), self.spelling)
        self.names = spelled_apart(list(file_schema.names), own, dict(self.naming.apart), self.path)
        self._refuse_repeated_fields(file_schema)
        self.views = has_views(file_schema)  # batches to put in plain types (Polars writes views)
        # UUIDs (read as their 16 bytes): into a text column as their text (``uuid_text``)
        self.uuids = {n for n, f in zip(self.names, file_schema, strict=True) if is_uuid(f.type)}
        self.declared = declared_types(self.config, self.names, self.path, file_schema.names)
        self.schema = pa.schema(
            pa.field(n, self.types.get(n, self.declared.get(n, plain_type(f.type))))
            for n, f in zip(self.names, file_schema, strict=True)
        )
        # a type the load settled (other files, earlier runs) converts under the lossless rule
        self.strict = strict_columns(self.names, self.types, self.declared) & set(self.types)

    def _refuse_repeated_fields(self, file_schema: pa.Schema) -> None:
        """A struct with two fields of one name (pyarrow writes it) stops the load before any
        table is created: its JSON object, and Python's dict of its value, hold one member per
        name, so one field's values would be lost (a rename would invent a name no tool wrote)."""
        for name, f in zip(self.names, file_schema, strict=True):
            found = repeated_field(f.type)
            if found is not None:
                struct, field = found
                raise SourceError(
                    f"{type_name(struct)} holds two fields named {field!r}: "
                    "a JSON object holds one member per name, so one field's values would be lost",
                    file=self.path,
                    column=name,
                    hint="write the file again with one name per field, then rerun: the files before it stay loaded",
                )

    def _untyped(self, valueless: frozenset[str]) -> None:
        """The ``valueless`` columns that nothing settled or declared have no type yet (null), as
        a CSV column without values: the file's own type (pandas writes an all-missing column as
        double) would be recorded and bind later runs' values to it."""
        self.valueless = valueless
        free = valueless - set(self.types) - set(self.declared)
        self.schema = pa.schema(pa.field(f.name, pa.null()) if f.name in free else f for f in self.schema)

    def _read_column(self, name: str, col: pa.Array) -> Converted:
        """Column ``name`` as the file means it, where Arrow reads it as something else (a
        Parquet INTERVAL's 12 bytes); values it cannot hold are marked bad."""
        return Converted(col)

    def _convert(self, batch: pa.RecordBatch, rows: pa.Array, last: int, done: int, first: int) -> Chunk:
        """``batch`` (rows ``first``+1 on) in the schema's types, its bad values rejected,
        without the rows up to ``done`` that an earlier run committed."""
        if self.views:
            batch = plain_columns(batch)

        def one(field: pa.Field, col: pa.Array) -> Converted:
            if field.name in self.uuids and is_text(field.type):  # never the 16 bytes as UTF-8
                col = uuid_text(col)
            read = times_of_day(self._read_column(field.name, col))
            col = read.array
            if not col.type.equals(field.type):
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                return chained(read, convert(col, field.type, strict=field.name in self.strict))
            return read

        out = convert_columns(batch.columns, self.schema, one)
        chunk = Chunk(batch=out.batch, file=self.path, rows=rows, last_row=last, end={"row": last})
        if out.bad is not None:
            chunk = chunk.keep(kernels.invert(out.bad), filtered=False)
            chunk.rejects = bad_value_rejects(self.path, out, batch, rows, None)
        if first < done:
            chunk = chunk.keep(kernels.greater(chunk.rows, done), filtered=False)
            chunk.rejects = [r for r in chunk.rejects if (r.row or 0) > done]
        return chunk


def stdin_hint(fmt: str) -> str:
    """What to do with a format read from files only (seeking, or a line's offset in the file) piped in."""
    return f"save it to a file and load the file: `cat > in.{fmt}`, then `loader load in.{fmt} ...`"
