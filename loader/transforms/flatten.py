"""The ``flatten`` stage: struct columns (nested JSON objects, Parquet groups) as their leaf
columns, ``actor__login`` for ``{"actor": {"login": ...}}``, so later stages, the target's
columns and a key template can name what was inside an object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from ..chunk import Chunk
from ..types import is_text, type_name
from ._base import PER_RUN
from .basic import _SchemaCached

# Why a column of objects may be text (docs/types.md, JSON Lines)
_TEXT = (
    " (JSON Lines objects are read as JSON text where their keys vary, or are only null in"
    " the sample: see flatten in docs/transforms.md)"
)


@dataclass(frozen=True)
class _Leaf:
    """One column of the output: its field, and where it comes from (``a.b`` for a struct's
    field ``b`` of column ``a``), for an error naming both sides of a clash."""

    field: pa.Field
    origin: tuple[str, ...]


@dataclass(kw_only=True)
class Flatten(_SchemaCached):
    """Struct columns as their leaf columns, ``parent<separator>child``, in the struct's place.

    ``columns``: which struct columns (default every one); ``max_depth``: how many levels of
    structs to open (default all). A column that is no struct (a list, a map, JSON text) stays
    as it is."""

    kind: ClassVar[str] = "flatten"
    columns: list[str] | None = None
    # SQL needs no quotes around ``actor__login``: ``actor.login`` reads as table ``actor``'s
    # column ``login`` unless quoted in every query (dlt's separator, for the same reason)
    separator: str = "__"
    max_depth: int | None = None
    name: str = ""
    _out: pa.Schema | None = field(default=None, init=False, repr=False, metadata=PER_RUN)
    _open: list[bool] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)
    # the input's columns the stage would open but could not (no struct), by name: their types
    _kept: dict[str, pa.DataType] = field(default_factory=dict, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        if self.columns is not None:
            self.columns = self.names("columns", self.columns)
        self.text("separator", self.separator)
        depth = self.max_depth
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise self.error(f"max_depth: expected a whole number of levels, 1 or more, got {depth!r}")

    def _wanted(self, f: pa.Field) -> bool:
        return pa.types.is_struct(f.type) and (self.columns is None or f.name in self.columns)

    def _bind(self, schema: pa.Schema) -> None:
        if self.columns is not None:
            self.require(schema, self.columns)
        self._open = [self._wanted(f) for f in schema]
        asked = schema.names if self.columns is None else self.columns
        self._kept = {n: schema.field(n).type for n in asked if not pa.types.is_struct(schema.field(n).type)}
        leaves: list[_Leaf] = []
        for f, opened in zip(schema, self._open, strict=True):
            leaves += [_Leaf(lf, origin) for lf, _, origin in self._leaves(f, None, opened)]
        self._refuse_clash(leaves)
        self._out = pa.schema([leaf.field for leaf in leaves], metadata=schema.metadata)

    def _leaves(
        self, f: pa.Field, arr: pa.Array | None, opened: bool
    ) -> Iterator[tuple[pa.Field, pa.Array | None, tuple[str, ...]]]:
        """The columns column ``f`` (values ``arr``, or None for its fields alone) becomes."""
        depth = self.max_depth if opened else 0
        yield from _leaves(f, arr, self.separator, depth, (f.name,))

    def _refuse_clash(self, leaves: list[_Leaf]) -> None:
        """Two output columns of one name: an error naming where each comes from."""
        seen: dict[str, _Leaf] = {}
        for leaf in leaves:
            other = seen.setdefault(leaf.field.name, leaf)
            if other is leaf:
                continue
            raise self.error(
                f"flattening gives two columns named {leaf.field.name!r}: "
                f"{_said(other.origin)} and {_said(leaf.origin)}",
                column=leaf.field.name,
                hint="rename one of them in a stage before this one, or choose another separator",
            )

    # two of its names that are one column to the target (SQLite's case): fields of one struct,
    # which no stage before it can rename, or a field and a column of the input
    clash_hint: ClassVar[str] = (
        "leave the struct out of the stage's columns (it stays as it is), "
        "or choose another separator where one of them is a column of the input"
    )

    def unopened(self, message: str) -> str | None:
        """Why a column ``message`` says is missing may be one this stage left as it is: its
        name is a column the stage kept, then the separator (``'payload__action'``)."""
        for col, t in self._kept.items():
            if f"'{col}{self.separator}" in message:
                why = f"{self.name} left {col!r} as it is: it is {type_name(t)}, not a struct"
                return why + (_TEXT if is_text(t) else "")
        return None

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        self._bound(batch.schema)
        if not any(self._open):
            return chunk
        arrays: list[pa.Array] = []
        for f, arr, opened in zip(batch.schema, batch.columns, self._open, strict=True):
            arrays += [a for _, a, _ in self._leaves(f, arr, opened) if a is not None]
        return chunk.with_batch(pa.RecordBatch.from_arrays(arrays, schema=self._out))


def _leaves(
    f: pa.Field, arr: pa.Array | None, sep: str, depth: int | None, origin: tuple[str, ...]
) -> Iterator[tuple[pa.Field, pa.Array | None, tuple[str, ...]]]:
    """``f`` opened ``depth`` levels down (None: all): each leaf's field, values and origin.
    A struct without fields stays (it has no leaf to become)."""
    t = f.type
    if depth == 0 or not pa.types.is_struct(t) or t.num_fields == 0:
        yield f, arr, origin
        return
    # StructArray.flatten gives each child the parent's nulls (a null object's fields are
    # null, not whatever its slot holds), and shares the values' buffers
    children: list[pa.Array | None] = list(arr.flatten()) if arr is not None else [None] * t.num_fields
    below = None if depth is None else depth - 1
    for child, values in zip(t, children, strict=True):
        leaf = child.with_name(f"{f.name}{sep}{child.name}").with_nullable(child.nullable or f.nullable)
        yield from _leaves(leaf, values, sep, below, (*origin, child.name))


def _said(origin: tuple[str, ...]) -> str:
    """Where an output column comes from: ``column 'x'`` or ``field b.c of column 'a'``."""
    if len(origin) == 1:
        return f"column {origin[0]!r}"
    return f"field {'.'.join(origin[1:])} of column {origin[0]!r}"
