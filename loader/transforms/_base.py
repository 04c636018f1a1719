"""Shared helpers for the stages: option checks, column lookup, ordered rejects."""

from __future__ import annotations

import collections
import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import pyarrow as pa

from .. import kernels, suggest
from ..chunk import Chunk
from ..errors import ConfigError, TransformError
from ..types import parse_type, value_str

ON_ERROR = ("reject", "null", "fail")

# The metadata of a stage's field that holds what it learns as it runs (a schema's checks, a
# key store): a load's copy of the stage starts it afresh (``StageBase.for_load``).
PER_RUN = {"per_run": True}


def did_you_mean(word: str, options: Iterable[str]) -> str:
    guess = suggest.did_you_mean(word, options)
    return f" ({guess})" if guess else ""


def exception_text(exc: BaseException) -> str:
    """An exception as an error message or reject reason shows it: ``ValueError: bad``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def batch_span(chunk: Chunk) -> dict[str, Any]:
    """An error about a whole batch's rows: their first and last row and line, as
    ``LoaderError``'s keywords (``a.csv, lines 2-101``); nothing for a batch of none."""
    if not chunk.num_rows:
        return {}
    lines = chunk.lines
    return {
        "row": chunk.rows[0].as_py(),
        "last_row": chunk.rows[-1].as_py(),
        "line": lines[0].as_py() if lines is not None else None,
        "last_line": lines[-1].as_py() if lines is not None else None,
    }


def batch_failure(
    message: str, chunk: Chunk, *, stage: str, what: str, first: str, hint: str | None = None
) -> TransformError:
    """A user's function or stage object (``what``) failing on a batch, naming its first and last
    line (or row). On a 0-row batch, said to be the one ``output_schema`` passes before any row
    is read (the code may never have seen one), with the hint ``first`` unless ``hint`` fits any batch."""
    if chunk.num_rows:
        return TransformError(message, stage=stage, file=chunk.file, hint=hint, **batch_span(chunk))
    return TransformError(
        f"{message}, on the 0-row batch passed first to learn the columns the {what} returns",
        stage=stage,
        file=chunk.file,
        hint=hint or first,
    )


class StageBase:
    """Common behaviour of the stage dataclasses (each defines ``name`` and ``kind``)."""

    kind: ClassVar[str] = ""
    name: str

    if TYPE_CHECKING:  # each stage's own: a list of stages of several kinds is a list of Stage

        def __call__(self, chunk: Chunk) -> Chunk: ...

    @property
    def remembers_rows(self) -> bool:
        """Whether the stage decides a row by rows before it in the load (a key seen
        before): it must see every row, so the load cannot be cut into parts."""
        return False

    def for_load(self) -> Self:
        """A copy of the stage for one load, its ``PER_RUN`` fields as a new stage's. One
        stage object may serve many loads, at once in threads too (a module's list of
        stages): what a load learns as it runs must be that load's, not the shared
        object's (another load's column names, or key store, would be taken for its own)."""
        own = copy.copy(self)
        fields: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(own) if dataclasses.is_dataclass(own) else ()
        for f in fields:
            if f.metadata.get("per_run"):
                fresh = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                setattr(own, f.name, fresh)
        return own

    def _label(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            self.name = self.kind

    def error(self, message: str, **where: Any) -> ConfigError:
        return ConfigError(message, stage=self.name, **where)

    # ---- option checks (job files arrive as plain TOML values)

    def names(self, key: str, value: Any, *, allow_empty: bool = False) -> list[str]:
        if (
            isinstance(value, str)
            or not isinstance(value, Sequence)
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise self.error(f"{key}: expected a list of column names, got {value!r}")
        if not value and not allow_empty:
            raise self.error(f"{key}: the list is empty")
        dup = sorted(v for v, n in collections.Counter(value).items() if n > 1)
        if dup:
            raise self.error(f"{key}: column {dup[0]!r} is listed twice")
        return list(value)

    def column_type(self, col: str, tname: str) -> pa.DataType:
        """A type named for a column (``columns = { col = "int64" }``), or a ConfigError naming both."""
        try:
            return parse_type(tname, where=f"columns.{col}")
        except ConfigError as exc:
            exc.stage, exc.column = self.name, col  # the type's own error, said of this stage's column
            raise exc from None

    def mapping(self, key: str, value: Any, *, values: str = "str") -> dict[str, Any]:
        if not isinstance(value, Mapping) or not value:
            raise self.error(f"{key}: expected a table like {{ column = value }}, got {value!r}")
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise self.error(f"{key}: column names must be text, got {k!r}")
            if values == "str" and not isinstance(v, str):
                raise self.error(f"{key}.{k}: expected text, got {v!r}")
        return dict(value)

    def text(self, key: str, value: Any, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.error(f"{key}: expected {'text' if allow_empty else 'non-empty text'}, got {value!r}")
        return value

    def flag(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(f"{key}: expected true or false, got {value!r}")
        return value

    def choice(self, key: str, value: Any, options: Sequence[str]) -> str:
        if value not in options:
            hint = did_you_mean(str(value), options)
            raise self.error(f"{key}: expected one of {', '.join(map(repr, options))}, got {value!r}{hint}")
        return str(value)

    # ---- columns

    def require(self, schema: pa.Schema, columns: Iterable[str], key: str = "columns") -> None:
        """A ConfigError naming the first missing column and the nearest name or the ones there are."""
        suggest.require_columns(key, columns, schema.names, stage=self.name)


def job_keys(cls: type) -> tuple[list[str], list[str]]:
    """(all keys, required keys) a job-file table may hold for a stage class."""
    keys, required = [], []
    for f in dataclasses.fields(cls):
        if f.name == "name" or not f.init or f.name.startswith("_"):
            continue
        keys.append(f.name)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return keys, required


def value_text(value: Any) -> str:
    """A value as a reject reason shows it: null, numbers bare, text quoted, cut at 60."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    text = repr(value) if isinstance(value, str) else value_str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def replace_columns(batch: pa.RecordBatch, new: Mapping[str, pa.Array]) -> pa.RecordBatch:
    """``batch`` with some columns swapped (same position) or appended (at the end)."""
    fields, arrays = list(batch.schema), list(batch.columns)
    index = {f.name: i for i, f in enumerate(fields)}
    for name, arr in new.items():
        if name in index:
            i = index[name]
            fields[i], arrays[i] = fields[i].with_type(arr.type), arr
        else:
            index[name] = len(fields)
            fields.append(pa.field(name, arr.type))
            arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))


Reasons = list[str] | Callable[[pa.Array], list[str]]


def reject_in_order(
    chunk: Chunk, failures: Sequence[tuple[pa.Array, Reasons, str | None]], *, stage: str
) -> tuple[Chunk, pa.Array | None]:
    """Reject rows failing any check; a row rejected once keeps its first reason.

    Each failure is (mask over the chunk's rows, reasons, column). Reasons are
    either one text per true mask entry or a function of the original row
    indices of the rows actually rejected (so reasons are only built for
    those). Returns the new chunk and the mask of surviving original rows
    (None when nothing was rejected).
    """
    alive: pa.Array | None = None
    for mask, reasons, column in failures:
        mask = kernels.fill_null(mask, False)
        effective = mask if alive is None else kernels.and_(mask, alive)
        if not kernels.any(effective).as_py():
            continue
        if callable(reasons):
            why = reasons(kernels.indices_nonzero(effective))
        elif alive is None:
            why = reasons
        else:
            keep = kernels.filter(alive, mask).to_pylist()
            why = [r for r, k in zip(reasons, keep, strict=True) if k]
        local = effective if alive is None else kernels.filter(effective, alive)
        chunk = chunk.reject(local, why, stage=stage, column=column)
        alive = kernels.invert(mask) if alive is None else kernels.and_(alive, kernels.invert(mask))
    return chunk, alive


def first_failure(chunk: Chunk, failures: Sequence[tuple[pa.Array, Reasons, str | None]], *, stage: str) -> None:
    """For on_error = "fail": raise a TransformError for the earliest failing row, if any."""
    best: tuple[int, str, str | None] | None = None
    for mask, reasons, column in failures:
        mask = kernels.fill_null(mask, False)
        idx = kernels.indices_nonzero(mask)
        if len(idx) == 0:
            continue
        i = idx[0].as_py()
        if best is None or i < best[0]:
            why = reasons(idx.slice(0, 1))[0] if callable(reasons) else reasons[0]
            best = (i, why, column)
    if best is None:
        return
    i, why, column = best
    raise TransformError(
        why,
        stage=stage,
        file=chunk.file,
        row=chunk.rows[i].as_py(),
        line=chunk.lines[i].as_py() if chunk.lines is not None else None,
        column=column,
    )
