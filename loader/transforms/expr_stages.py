"""Stages driven by expressions: ``filter`` and ``derive`` (see ``loader.expr``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk
from ..errors import LoaderError, TransformError
from ..expr import Expression
from ..types import type_name
from ._base import PER_RUN, StageBase, replace_columns


def _first_failing_row(evaluate: Callable[[pa.RecordBatch], object], batch: pa.RecordBatch) -> int | None:
    """The first row of ``batch`` on which ``evaluate`` fails, by halving (only once it failed)."""
    lo, hi = 0, batch.num_rows
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            evaluate(batch.slice(lo, mid - lo))
        except TransformError:
            hi = mid
            continue
        lo = mid
    return lo if hi - lo == 1 else None


def _locate(
    exc: LoaderError, chunk: Chunk, batch: pa.RecordBatch, evaluate: Callable[[pa.RecordBatch], object]
) -> None:
    """Name the file, row and line an expression failed on."""
    exc.file = exc.file or chunk.file
    if isinstance(exc, TransformError) and exc.row is None:
        i = _first_failing_row(evaluate, batch)
        if i is not None:
            exc.row = chunk.rows[i].as_py()
            exc.line = chunk.lines[i].as_py() if chunk.lines is not None else None


@dataclass(kw_only=True)
class Filter(StageBase):
    """Keep the rows where ``where`` is true; false or null rows count as filtered."""

    kind: ClassVar[str] = "filter"
    where: str
    name: str = ""
    _expr: Expression = field(init=False, repr=False)
    _checked: object = field(default=None, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        self.text("where", self.where)
        self._expr = Expression(self.where, key="where", stage=self.name)

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        bound = self._expr.bound(batch.schema)
        if bound is not self._checked:
            if not (pa.types.is_boolean(bound.type) or pa.types.is_null(bound.type)):
                raise self.error(
                    f'where: the condition gives {type_name(bound.type)}, not true/false, in "{self.where}"'
                )
            self._checked = bound
        try:
            mask = bound.array(batch)
        except LoaderError as exc:
            _locate(exc, chunk, batch, bound.array)
            raise
        if pa.types.is_null(mask.type):
            mask = kernels.cast(mask, pa.bool_())
        return chunk.keep(mask)


@dataclass(kw_only=True)
class Derive(StageBase):
    """Add or replace columns from expressions, in order (later ones see earlier ones)."""

    kind: ClassVar[str] = "derive"
    columns: dict[str, str]
    name: str = ""
    _exprs: dict[str, Expression] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.mapping("columns", self.columns)
        self._exprs = {
            col: Expression(text, key=f"columns.{col}", stage=self.name) for col, text in self.columns.items()
        }

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        try:
            for col, expr in self._exprs.items():
                value = expr.evaluate(batch)
                batch = replace_columns(batch, {col: value})
        except LoaderError as exc:
            _locate(exc, chunk, batch, expr.evaluate)
            raise
        return chunk.with_batch(batch)
