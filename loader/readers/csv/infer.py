"""Types from the first ``infer_rows`` rows of a CSV file (not one block).

Blocks of the sample are parsed and checked on the workers, a few at a time when
they hold few rows (a wide file's), each group into a guess of its own, and folded
in order; at most ``workers`` + 1 groups are held at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from ... import kernels
from ...convert import GROUP_ROWS, TypeGuess
from ...prefetch import ordered_map
from .long_rows import Block
from .parse import array

# Blocks guessed together at most, and what they may hold parsed: a wide file's blocks
# hold few rows, and a guess costs kernel calls per column however few
# (``convert.GROUP_ROWS``), but a group is held whole on each worker.
MAX_GROUP, GROUP_BYTES = 16, 8 << 20

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
