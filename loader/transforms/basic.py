"""Column shaping and simple text stages: select, drop, rename, reorder,
fill_null, trim, lower, upper, replace, split.

All of them work on whole columns; missing columns are reported at the first
chunk (and again whenever the input schema changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk
from ..convert import convert, infer_type
from ..types import decoded, is_text, type_name, value_type
from ._base import PER_RUN, StageBase, replace_columns


@dataclass(kw_only=True)
class _SchemaCached(StageBase):
    """Remembers the last input schema so per-schema checks run once."""

    _schema: pa.Schema | None = field(default=None, init=False, repr=False, metadata=PER_RUN)

    def _bind(self, schema: pa.Schema) -> None:
        """Check ``schema`` and work out what the stage does to its batches."""
        raise NotImplementedError

    def _bound(self, schema: pa.Schema) -> None:
        """``_bind`` for a schema not bound yet. The schema is remembered only once its check
        passed: a check that failed must fail again on the next batch, or the next run."""
        old = self._schema
        if old is not None and (old is schema or old.equals(schema)):
            return
        self._bind(schema)
        self._schema = schema


class _ColumnList(_SchemaCached):
    """A stage over a list of ``columns`` that picks which columns to keep, in which order."""

    columns: list[str]
    _order: list[str]

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.names("columns", self.columns)

    def _pick(self, names: list[str]) -> list[str]:
        raise NotImplementedError

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.columns)
        self._order = self._pick(schema.names)

    def __call__(self, chunk: Chunk) -> Chunk:
        self._bound(chunk.batch.schema)
        return chunk.with_batch(chunk.batch.select(self._order))


@dataclass(kw_only=True)
class Select(_ColumnList):
    """Keep only ``columns``, in that order."""

    kind: ClassVar[str] = "select"
    columns: list[str]
    name: str = ""
    _order: list[str] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)

    def _pick(self, names: list[str]) -> list[str]:
        return self.columns


@dataclass(kw_only=True)
class Drop(_ColumnList):
    """Remove ``columns``."""

    kind: ClassVar[str] = "drop"
    columns: list[str]
    name: str = ""
    _order: list[str] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)

    def _pick(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.columns]


@dataclass(kw_only=True)
class Rename(_SchemaCached):
    """Rename columns: ``columns = { old = "new" }``."""

    kind: ClassVar[str] = "rename"
    columns: dict[str, str]
    name: str = ""
    _names: list[str] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.mapping("columns", self.columns)
        empty = next((k for k, t in self.columns.items() if not t), None)
        if empty is not None:
            raise self.error(f"columns.{empty}: an empty name is not allowed")
        targets = list(self.columns.values())
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise self.error(f"columns: two columns would be named {dup[0]!r}")

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.columns)
        self._names = [self.columns.get(n, n) for n in schema.names]
        for n in self._names:
            if self._names.count(n) > 1:
                raise self.error(
                    f"columns: renaming gives two columns named {n!r}; drop or rename the other one",
                    column=n,
                )

    def __call__(self, chunk: Chunk) -> Chunk:
        self._bound(chunk.batch.schema)
        return chunk.with_batch(chunk.batch.rename_columns(self._names))


@dataclass(kw_only=True)
class Reorder(_ColumnList):
    """Put ``columns`` first, in that order; the others follow in their order."""

    kind: ClassVar[str] = "reorder"
    columns: list[str]
    name: str = ""
    _order: list[str] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)

    def _pick(self, names: list[str]) -> list[str]:
        return self.columns + [n for n in names if n not in self.columns]


@dataclass(kw_only=True)
class FillNull(_SchemaCached):
    """Replace nulls with a value per column, cast to the column's type."""

    kind: ClassVar[str] = "fill_null"
    columns: dict[str, Any]
    name: str = ""
    _values: dict[str, pa.Scalar] = field(default_factory=dict, init=False, repr=False, metadata=PER_RUN)

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.mapping("columns", self.columns, values="any")
        for col, v in self.columns.items():
            if v is None or isinstance(v, (dict, list)):
                raise self.error(f"columns.{col}: expected a single value, got {v!r}")
            try:
                pa.scalar(v)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise self.error(f"columns.{col}: cannot use {v!r} as a value") from None

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.columns)
        self._values = {}
        for col, v in self.columns.items():
            t = schema.field(col).type
            raw = pa.scalar(v)
            if pa.types.is_null(t):  # no value in the whole file, nor a type recorded or declared
                self._values[col] = _untyped_fill(raw)
                continue
            self._values[col] = self._fill_value(col, v, raw, t)

    def _fill_value(self, col: str, v: object, raw: pa.Scalar, t: pa.DataType) -> pa.Scalar:
        """``v`` as a ``t`` value, converted as a column's values are: never rounded,
        and a bool is no number."""
        error = self.error(f"columns.{col}: cannot use {v!r} as a {type_name(t)} value", column=col)
        if pa.types.is_boolean(raw.type) != pa.types.is_boolean(t) and not is_text(t):
            raise error
        try:
            conv = convert(pa.array([raw.as_py()], raw.type), t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise error from None
        if conv.bad is not None and kernels.any(conv.bad).as_py():
            raise error
        return conv.array[0]

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        self._bound(batch.schema)
        new = {}
        for col, value in self._values.items():
            arr = batch.column(col)
            if arr.null_count:
                new[col] = pa.repeat(value, len(arr)) if pa.types.is_null(arr.type) else kernels.fill_null(arr, value)
        return chunk.with_batch(replace_columns(batch, new)) if new else chunk


def _untyped_fill(raw: pa.Scalar) -> pa.Scalar:
    """The fill of a column that no value, record or declaration types: the value's own type,
    and text that is a date or a timestamp (``day = "2024-01-01"``, as the docs spell a date's
    fill) as that, as CSV inference reads such text. An empty day's file then fills a date, as a
    load of it beside days with dates does (the column typed by them), not text a later stage
    (``year(day)``) refuses."""
    if not is_text(raw.type):
        return raw
    t = infer_type(pa.array([raw.as_py()], raw.type))
    if not (pa.types.is_date(t) or pa.types.is_timestamp(t)):
        return raw
    return convert(pa.array([raw.as_py()], raw.type), t).array[0]


class _TextColumns(_SchemaCached):
    """Apply one text kernel to each of ``columns``."""

    columns: list[str]

    def __post_init__(self) -> None:
        self._label()
        self.columns = self.names("columns", self.columns)

    def _kernel(self) -> Callable[[pa.Array], pa.Array]:
        raise NotImplementedError

    _key: ClassVar[str] = "columns"  # the job-file key that names the columns, for errors

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.columns, key=self._key)
        for col in self.columns:
            t = value_type(schema.field(col).type)
            if not (is_text(t) or pa.types.is_null(t)):
                raise self.error(
                    f"{self._key}: {self.kind} needs a text column, but {col!r} is {type_name(t)}", column=col
                )

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        self._bound(batch.schema)
        kernel = self._kernel()
        new = {
            c: kernel(decoded(batch.column(c)))
            for c in self.columns
            if not pa.types.is_null(batch.schema.field(c).type)
        }
        return chunk.with_batch(replace_columns(batch, new)) if new else chunk


@dataclass(kw_only=True)
class Trim(_TextColumns):
    """Strip leading and trailing whitespace (or the given ``characters``)."""

    kind: ClassVar[str] = "trim"
    columns: list[str]
    characters: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.characters is not None:
            self.text("characters", self.characters)

    def _kernel(self) -> Callable[[pa.Array], pa.Array]:
        chars = self.characters
        if chars is None:
            return kernels.utf8_trim_whitespace
        return lambda a: kernels.utf8_trim(a, chars)


@dataclass(kw_only=True)
class Lower(_TextColumns):
    """Lower-case text (Unicode aware)."""

    kind: ClassVar[str] = "lower"
    columns: list[str]
    name: str = ""

    def _kernel(self) -> Callable[[pa.Array], pa.Array]:
        return kernels.utf8_lower


@dataclass(kw_only=True)
class Upper(_TextColumns):
    """Upper-case text (Unicode aware)."""

    kind: ClassVar[str] = "upper"
    columns: list[str]
    name: str = ""

    def _kernel(self) -> Callable[[pa.Array], pa.Array]:
        return kernels.utf8_upper


@dataclass(kw_only=True)
class Replace(_TextColumns):
    """Replace text in one column: literal by default, RE2 regex with ``regex = true``."""

    kind: ClassVar[str] = "replace"
    _key: ClassVar[str] = "column"  # one column, under ``column``: ``columns`` is only set from it
    column: str
    pattern: str
    replacement: str
    regex: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        self._label()
        self.text("column", self.column)
        self.text("pattern", self.pattern)
        self.text("replacement", self.replacement, allow_empty=True)
        self.flag("regex", self.regex)
        self.columns = [self.column]
        if self.regex:
            try:  # RE2 compiles the pattern on first use; check it now, not at row 1
                kernels.replace_substring_regex(pa.array([""]), self.pattern, self.replacement)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                first = str(exc).strip().splitlines()[0]
                raise self.error(f"pattern: invalid regular expression {self.pattern!r} ({first})") from None

    def _kernel(self) -> Callable[[pa.Array], pa.Array]:
        pattern, repl = self.pattern, self.replacement
        if self.regex:
            return lambda a: kernels.replace_substring_regex(a, pattern, repl)
        return lambda a: kernels.replace_substring(a, pattern, repl)


@dataclass(kw_only=True)
class Split(_SchemaCached):
    """Split one text column into several at ``separator``.

    With n names in ``into`` the text is split at most n - 1 times, so the
    last column keeps the rest; missing parts are null. The new columns go
    where the source column is; ``keep = false`` removes the source.
    """

    kind: ClassVar[str] = "split"
    column: str
    into: list[str]
    separator: str = ","
    regex: bool = False
    keep: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        self._label()
        self.text("column", self.column)
        self.into = self.names("into", self.into)
        self.text("separator", self.separator)
        self.flag("regex", self.regex)
        self.flag("keep", self.keep)
        if self.keep and self.column in self.into:
            raise self.error(f"into: {self.column!r} is the source column; set keep = false to replace it")
        if self.regex:
            try:
                kernels.split_pattern_regex(pa.array(["a"]), self.separator)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                first = str(exc).strip().splitlines()[0]
                raise self.error(f"separator: invalid regular expression {self.separator!r} ({first})") from None

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, [self.column], key="column")
        t = value_type(schema.field(self.column).type)
        if not (is_text(t) or pa.types.is_null(t)):
            raise self.error(
                f"column: split needs a text column, but {self.column!r} is {type_name(t)}", column=self.column
            )
        for n in self.into:
            if n in schema.names and n != self.column:
                raise self.error(f"into: column {n!r} already exists", column=n)

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        self._bound(batch.schema)
        src = decoded(batch.column(self.column))
        if pa.types.is_null(src.type):  # a column without a value in a whole file: text, all null
            src = src.cast(pa.string())
        # Nulls become "" for the split (so every row has a list), and null again after.
        filled = kernels.fill_null(src, "") if src.null_count else src
        n = len(self.into)
        if self.regex:
            parts = kernels.split_pattern_regex(filled, self.separator, max_splits=n - 1)
        else:
            parts = kernels.split_pattern(filled, self.separator, max_splits=n - 1)
        null = pa.scalar(None, src.type)
        new_arrays = []
        for i in range(n):
            part = kernels.list_slice(parts, i, i + 1, return_fixed_size_list=True).flatten()
            if src.null_count:
                part = kernels.if_else(kernels.is_valid(src), part, null)
            new_arrays.append(part)
        fields, arrays = [], []
        for f, arr in zip(batch.schema, batch.columns, strict=True):
            if f.name != self.column:
                fields.append(f)
                arrays.append(arr)
                continue
            if self.keep:
                fields.append(f)
                arrays.append(arr)
            for name, part in zip(self.into, new_arrays, strict=True):
                fields.append(pa.field(name, part.type))
                arrays.append(part)
        out = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))
        return chunk.with_batch(out)
