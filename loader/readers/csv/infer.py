"""Types from the first ``infer_rows`` rows of a CSV file (not one block).

Blocks of the sample are parsed and checked on the workers, a few at a time when
they hold few rows (a wide file's), each group into a guess of its own, and folded
in order; at most ``workers`` + 1 groups are held at a time.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ... import kernels
from ...convert import GROUP_ROWS, TypeGuess
from ...prefetch import ordered_map
from ...schema import Sample
from .long_rows import Block
from .parse import array

# Blocks guessed together at most, and what they may hold parsed: a wide file's blocks
# hold few rows, and a guess costs kernel calls per column however few
# (``convert.GROUP_ROWS``), but a group is held whole on each worker.
MAX_GROUP, GROUP_BYTES = 16, 8 << 20
# A file this small (in the bytes parsed: a compressed file's decompressed) whose rows are all
# its sample is guessed with the next such files' (``SmallFiles``): a guess's kernel calls
# cost a small file more than its rows do.
SMALL_FILE_BYTES = 256 << 10

# What a table of a few rows holds beyond its buffers (``nbytes``): Arrow's and pyarrow's
# objects for each column (its arrays, field and buffers' records), 1.0 to 1.1 KB a column
# measured on 20-row tables of 3 to 30 text columns. Thousands of tiny files typed together
# hold far more of it than of their bytes: 1,659 files of 20 rows, 0.9 MB by their bytes, held 8 MB.
TABLE_COLUMN_BYTES = 1 << 10

Guesses = dict[str, TypeGuess | None]  # None: not valid UTF-8, the column stays text


def guess_column(values: pa.ChunkedArray, so_far: TypeGuess | None) -> TypeGuess | None:
    """A guess from one part of the sample; None when it is not valid UTF-8 (the
    column then stays text, and those rows are rejected). Candidates the parts
    merged ``so_far`` have ruled out are not tried again (it may be a little
    behind, which costs checks, never a wrong answer: merging ANDs)."""
    if so_far is None:
        return None
    try:
        text = kernels.cast(array(values), pa.string())
    except pa.ArrowInvalid:
        return None
    guess = TypeGuess(so_far)
    guess.add(text)  # any other error is a bug to see, not a reason to call the column text
    return guess


def sample_guesses(
    need: list[str],
    blocks: Iterator[Block],
    parse: Callable[[bytearray], tuple[pa.Table, Any]],
    infer_rows: int,
    workers: int,
    na: Sequence[str],
    typed: Sequence[str] | None = None,
) -> tuple[Guesses, bool]:
    """A guess for each column in ``need`` over the first ``infer_rows`` rows of ``blocks``,
    and whether those rows are all there are (the blocks ended first). ``typed``: the
    columns whose type is asked (default all); of the others only whether they hold a
    value is: with none typed, the sample stops once each column holds one (not whole)."""
    asked = set(need if typed is None else typed)
    guesses: Guesses = {n: TypeGuess(na=na, presence=n not in asked) for n in need}
    if not need:
        return guesses, False
    # only whether each holds a value is asked: the sample may stop once each does
    presence_only = typed is not None and not typed

    def guess_blocks(items: list[Block]) -> tuple[pa.Table, Guesses]:
        tables = [parse(item[0])[0] for item in items]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        return table, {n: guess_column(table.column(n), guesses[n]) for n in need}

    rows = 0
    group = [1]  # blocks per guess: after the first, enough for GROUP_ROWS rows (a wide file's are few)
    whole = _grouped((b for b in blocks if b[2] is None), group)
    with contextlib.closing(ordered_map(guess_blocks, whole, workers)) as parts:
        for table, found in parts:
            if rows == 0 and table.num_rows:
                per_block = table.nbytes / group[0]
                wanted = -(-GROUP_ROWS * group[0] // table.num_rows)
                group[0] = max(1, min(wanted, MAX_GROUP, int(GROUP_BYTES // per_block)))
            take = min(table.num_rows, infer_rows - rows)
            if take < table.num_rows:  # the sample ends inside these blocks: their head only
                found = {n: guess_column(table.column(n).slice(0, take), guesses[n]) for n in need}
            for n in need:
                guess, more = guesses[n], found[n]
                guesses[n] = None if guess is None or more is None else guess.merge(more)
            rows += take
            del table
            if rows >= infer_rows or (presence_only and _all_hold_values(guesses)):
                return guesses, False
    return guesses, True


def _all_hold_values(guesses: Guesses) -> bool:
    """Whether each column has a value in the sample so far (text that does not decode counts)."""
    return all(g is None or g.values for g in guesses.values())


def _grouped(blocks: Iterator[Block], size: list[int]) -> Iterator[list[Block]]:
    """``blocks`` in lists of ``size[0]`` (read as each list is made: it may change)."""
    group: list[Block] = []
    for block in blocks:
        group.append(block)
        if len(group) >= size[0]:
            yield group
            group = []
    if group:
        yield group


def schema_of(
    names: list[str], guesses: Guesses, types: dict[str, pa.DataType], declared: dict[str, pa.DataType]
) -> pa.Schema:
    """The load's settled types and declared types win; the rest as guessed (text when unsure)."""
    fields = []
    for n in names:
        guess = guesses.get(n)
        known = types.get(n, declared.get(n))
        fields.append(pa.field(n, known if known is not None else guess.result() if guess else pa.string()))
    return pa.schema(fields)


def sample_tables(
    blocks: Iterator[Block], parse: Callable[[bytearray], tuple[pa.Table, Any]], infer_rows: int
) -> Iterator[pa.Table]:
    """The sample's raw tables, block by block, up to ``infer_rows`` rows (decimal commas)."""
    rows = 0
    for item in blocks:
        table = parse(item[0])[0]
        yield table.slice(0, infer_rows - rows)
        rows += table.num_rows
        if rows >= infer_rows:
            return


@dataclass
class WholeSample:
    """A small file's every row as parsed: the columns whose type is guessed, and beside them
    settled text columns, only counted (``SmallFiles.empty``)."""

    table: pa.Table
    guessed: list[str]


def whole_sample(
    need: list[str], blocks: Iterator[Block], parse: Callable[[bytearray], tuple[pa.Table, Any]], infer_rows: int
) -> pa.Table | None:
    """The ``need`` columns of every row of ``blocks`` as parsed, when they are fewer than
    ``infer_rows`` (the whole file is its sample, as ``sample_guesses`` tells it) and some;
    None otherwise."""
    tables, rows = [], 0
    for item in blocks:
        if item[2] is not None:  # as ``sample_guesses``: a block a long row was cut from is no sample
            continue
        table = parse(item[0])[0]
        rows += table.num_rows
        if rows >= infer_rows:
            return None
        tables.append(table.select(need))
    return pa.concat_tables(tables) if rows else None


class SmallFiles:
    """Small files' samples, guessed together: a guess per column for files that have the same
    columns, in place of one per file (thousands of small files cost a guess each otherwise).

    Merging guesses ANDs what each part rules out, so one guess of the files' values together
    is the merge of their guesses. Each file's own type matters only where the merged guess is
    text and every file's values are dates or timestamps (``schema.unify`` gives the finer of
    their types): there the files are guessed one by one."""

    MAX_ROWS = 1 << 16  # held at once, as text

    def __init__(self, na: Sequence[str], max_bytes: int) -> None:
        """``max_bytes``: what the files' rows held at once may take as parsed (wide rows
        reach it in fewer than ``MAX_ROWS``, thousands of tiny files in fewer tables than
        that: ``held_bytes``; ``memory.sample_bytes``)."""
        self.na = tuple(na)
        self.max_bytes = max_bytes
        self.paths: list[str] = []
        self.schemas: list[pa.Schema] = []
        self.tables: list[pa.Table] = []
        self.rows = self.nbytes = 0
        self.guessed: list[str] = []
        # each file's columns counted, and whether each is without a value (nulls and ``na``
        # spellings only): its main pass needs to know of its text columns, and need not read
        # the file twice to (``no_value``)
        self.empty: dict[str, dict[str, bool]] = {}

    def add(self, path: str, schema: pa.Schema, sample: WholeSample) -> bool:
        """Take a file's sample (its schema, its whole rows as parsed); False when it does not fit."""
        table = sample.table
        if self.tables and (
            schema.names != self.schemas[0].names
            or table.column_names != self.tables[0].column_names
            or sample.guessed != self.guessed
            or self.rows + table.num_rows > self.MAX_ROWS
            or self.nbytes + held_bytes(table) > self.max_bytes
        ):
            return False
        self.paths.append(path)
        self.schemas.append(schema)
        self.tables.append(table)
        self.guessed = sample.guessed
        self.rows += table.num_rows
        self.nbytes += held_bytes(table)
        return True

    def samples(self) -> list[Sample]:
        """The files taken so far as samples for ``schema.unify`` (one for all where that says
        the same), and a fresh start."""
        paths, schemas, tables, guessed = self.paths, self.schemas, self.tables, self.guessed
        self.paths, self.schemas, self.tables, self.rows, self.nbytes, self.guessed = [], [], [], 0, 0, []
        if not tables:
            return []
        together = pa.concat_tables(tables)
        self._note_empty(paths, [t.num_rows for t in tables], together)
        together = together.select(guessed)
        guesses = self._guesses(together)
        if any(g is not None and g.may_be_dated(array(together.column(n))) for n, g in guesses.items()):
            each = [self._guesses(t.select(guessed)) for t in tables]
            return [Sample(_typed(schema, g), g) for schema, g in zip(schemas, each, strict=True)]
        return [Sample(_typed(schemas[0], guesses), guesses)]

    def _note_empty(self, paths: list[str], rows: list[int], together: pa.Table) -> None:
        """Each file's columns without a value, from its values counted in ``together``."""
        ends = list(itertools.accumulate(rows))
        empty: dict[str, dict[str, bool]] = {p: {} for p in paths}
        for name in together.column_names:
            column = array(together.column(name))
            held = kernels.is_valid(column)
            if self.na:
                spelled = kernels.cast(pa.array(self.na, pa.string()), column.type)
                held = kernels.and_(held, kernels.invert(kernels.is_in(column, value_set=spelled)))
            counts = kernels.cumulative_sum(kernels.cast(held, pa.int64())).to_pylist()
            for path, start, end in zip(paths, [0, *ends], ends, strict=False):
                empty[path][name] = counts[end - 1] == (counts[start - 1] if start else 0)
        self.empty.update(empty)

    def _guesses(self, table: pa.Table) -> Guesses:
        start = TypeGuess(na=self.na)
        return {n: guess_column(table.column(n), start) for n in table.column_names}


def held_bytes(table: pa.Table) -> int:
    """What a small file's sample holds as ``SmallFiles`` counts it: its buffers, and
    Arrow's objects for each of its columns (``TABLE_COLUMN_BYTES``)."""
    return int(table.nbytes + TABLE_COLUMN_BYTES * table.num_columns)


def _typed(schema: pa.Schema, guesses: Guesses) -> pa.Schema:
    """A whole file's schema with its guessed columns typed as ``CSVReader`` types them: a
    column without a value is ``null`` (it has no say), one not valid UTF-8 text."""
    fields = []
    for f in schema:
        if f.name in guesses:
            guess = guesses[f.name]
            f = pa.field(f.name, pa.string() if guess is None else guess.result() if guess.values else pa.null())
        fields.append(f)
    return pa.schema(fields, schema.metadata)  # built once: a set() per column copies the schema each time
