"""The ``python`` stage: a user function, by import path or as a callable.

``mode = "batch"`` (default, the fast path): ``fn(pyarrow.RecordBatch) ->
RecordBatch`` with the same rows in the same order (the chunk's row and line numbers
are paired with them by position: a sorted batch would give rows each other's).
``mode = "row"`` (the slow path, one Python call per row): ``fn(dict) -> dict``, or
``None`` to drop the row; the output's columns are the input's and the declared ones,
a key the dict leaves out NULL in its row;
a row whose call raises goes to the rejects with the exception as reason, and so
does one with a value its column's type (declared, or else the input's) does not
hold exactly: nothing is rounded or cut to fit. A float16 or float32 column comes
out float64: a computed float rarely fits a float32, and both targets store float64.
In either mode, a column neither declared nor typed by the input keeps the type its
first values gave it: later chunks are held to it, as the target's column is.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk
from ..convert import Converted, convert
from ..errors import ConfigError, LoaderError, TransformError
from ..readers.base import plain_columns
from ..types import empty_batch, is_text, map_leaves, type_name, value_type
from ._base import (
    PER_RUN,
    StageBase,
    batch_failure,
    exception_text,
    reject_in_order,
    replace_columns,
    value_text,
)


def split_function(path: str, *, stage: str, key: str = "function") -> tuple[str, str]:
    """``"package.module:function"`` (or ``"package.module.function"``) as (module, attribute),
    checked without importing anything."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f'{key}: expected "package.module:function", got {path!r}', stage=stage)
    return module_name, attr


def import_function(path: str, *, stage: str, key: str = "function") -> Callable[..., Any]:
    """Resolve ``"package.module:function"`` (or ``"package.module.function"``)."""
    module_name, attr = split_function(path, stage=stage, key=key)
    try:
        obj: Any = _import(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{key}: cannot import {module_name!r} for {path!r}: {exc}",
            stage=stage,
            hint=_import_hint(module_name, exc),
        ) from None
    except Exception as exc:  # the module itself failed while importing
        raise ConfigError(
            f"{key}: importing {module_name!r} for {path!r} failed: {type(exc).__name__}: {exc}", stage=stage
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{key}: {module_name!r} has no {attr!r} (from {path!r})", stage=stage) from None
    if not callable(obj):
        raise ConfigError(f"{key}: {path!r} is not a function", stage=stage)
    function: Callable[..., Any] = obj
    return function


# The job file's directory, where the ``loader`` command looks for a stage's module first
# (``import_beside``): None under the Python API, whose caller's sys.path alone counts.
_JOB_DIRECTORY: list[str] = []


def import_beside(job_file: str) -> None:
    """Let a job's ``python`` stages import modules from the job file's directory, first: the
    same path under the ``loader`` command (its script's directory on ``sys.path``) and
    ``python -m loader`` (the current directory, which ``__main__`` takes off)."""
    directory = os.path.dirname(os.path.abspath(job_file))
    _JOB_DIRECTORY[:] = [directory]
    if directory not in sys.path:
        sys.path.insert(0, directory)


def _import_hint(module_name: str, exc: ImportError) -> str | None:
    """Where a stage's module is looked for, when it is the one not found (not a module it
    imports, whose own error says what to install)."""
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing is None or not (module_name == missing or module_name.startswith(missing + ".")):
        return None
    if _JOB_DIRECTORY:
        return (
            f"loader looks for {missing!r} in the job file's directory ({_JOB_DIRECTORY[0]}), then among the "
            "installed packages and PYTHONPATH: put it beside the job file, pip install it, or add its directory "
            "to PYTHONPATH"
        )
    return (
        f"loader looks for {missing!r} on this process's sys.path: pip install it, or add its directory to PYTHONPATH"
    )


# What each stage module this process imported was made of: the hash of its source file then
# (``load_code``). Inherited by a forked worker with the modules themselves.
_LOADED: dict[str, str] = {}
_LOADING = threading.Lock()  # a Dask worker runs parts on several threads


def _import(module_name: str) -> Any:
    """The module, its source's hash noted when this import is the first (hashed before: a
    file changed meanwhile is made again by the next ``load_code``)."""
    if module_name not in sys.modules:
        found = _source(module_name)
        module = importlib.import_module(module_name)
        if found is not None:
            _LOADED.setdefault(module_name, found[2])
        return module
    return importlib.import_module(module_name)


def _stage_modules(transforms: list[dict[str, Any]]) -> list[str]:
    """The modules a job's ``python`` stages name (their ``module:function``), in order."""
    out = []
    for spec in transforms:
        function = spec.get("function") if spec.get("type") == "python" else None
        if isinstance(function, str):
            out.append(function.partition(":")[0] if ":" in function else function.rpartition(".")[0])
    return out


def _source(module_name: str) -> tuple[str, bytes, str] | None:
    """A module's source file as an import would find it now: its path, bytes and hash (None:
    not found, or not a file)."""
    import importlib.util

    from ..compat import sha256

    try:
        found = importlib.util.find_spec(module_name)
        origin = found.origin if found is not None else None
        with open(str(origin), "rb") as fh:
            text = fh.read()
    except (ImportError, ValueError, OSError):
        return None
    return str(origin), text, sha256(text).hexdigest()


def code_identity(transforms: list[dict[str, Any]]) -> str:
    """What the code of a job's ``python`` stages is now: a hash of each named module's
    source file (its ``module:function``; the file found as an import would find it), so a
    part result made before a stage was fixed is never reused. A module whose file cannot be
    found counts as changed in every run; a change in a module it imports is not seen."""
    return _identity([_source(m) for m in _stage_modules(transforms)])


def _identity(sources: list[tuple[str, bytes, str] | None]) -> str:
    from ..compat import sha256

    seen = [s[2] if s is not None else f"unknown:{os.getpid()}:{time.time_ns()}" for s in sources]
    return sha256(json.dumps(seen).encode()).hexdigest()[:16] if seen else ""


def load_code(transforms: list[dict[str, Any]], code: str, worker: str) -> None:
    """On a worker (``worker``: its name), the job's ``python`` stages run the code the client
    hashed (``code``, ``code_identity``): a worker lives on across runs (a Dask cluster's own),
    and a module it imported in an earlier run stays imported, so a stage fixed since would run
    as it was. A module whose source changed since this process imported it is made again of
    the source just hashed (not of a cached ``.pyc``: an edit of the same size in the same
    second looks unchanged to it). Source this worker finds that differs from the client's is
    refused: its results would be named after code that did not make them."""
    names = _stage_modules(transforms)
    sources = [_source(m) for m in names]
    with _LOADING:
        for name, found in zip(names, sources, strict=True):
            module = sys.modules.get(name)
            if found is None or module is None or _LOADED.get(name) == found[2]:
                continue
            if getattr(module, "__file__", None) == found[0] and found[0].endswith(".py"):
                exec(compile(found[1], found[0], "exec", dont_inherit=True), module.__dict__)  # what a reload does
            else:  # not a plain source file (an extension module): reloaded as Python reloads it
                importlib.reload(module)
            _LOADED[name] = found[2]
    if code and all(s is not None for s in sources) and _identity(sources) != code:
        files = ", ".join(f"{n} ({s[0]})" for n, s in zip(names, sources, strict=True) if s is not None)
        raise ConfigError(
            f"python stages: worker {worker} finds other code for {files} than this process",
            hint="give the workers the same files or installed package of the stages as this process, then rerun",
        )


# What pa.array raises for a value the type does not take (or Python types that do not mix).
_UNFIT = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)


def _exact(values: list[Any], t: pa.DataType) -> Converted:
    """``values`` as ``t``, those ``t`` would change marked bad. Raises ``_UNFIT`` where the
    values' types do not mix, or where ``t`` takes a value not at all (text for an int64).

    Which kinds of value ``t`` takes is Python's conversion's call, but it truncates
    silently (2.5 to 2, a datetime to its date): the values as their own types go through
    ``convert``, the check the ``cast`` stage makes, to find the ones it changed."""
    try:
        own = pa.array(values)
    except _UNFIT:
        if len(values) > 1:
            raise  # mixed types: the caller tries value by value
        return Converted(pa.array(values, t))  # an int beyond int64: an integer type holds it exactly or refuses it
    if own.type.equals(t):
        return Converted(own)
    if pa.types.is_integer(own.type) and pa.types.is_floating(t):
        # Python's conversion refuses every integer past the float's exact range (2**60 too,
        # which float64 holds); ``convert`` keeps those the float holds and rejects the others
        return convert(own, t)
    out = pa.array(values, t)
    if is_text(own.type) or pa.types.is_null(own.type):
        return Converted(out)  # text Python's conversion takes is stored as it is (a dictionary's values)
    try:
        return convert(own, t)
    except pa.ArrowNotImplementedError:
        return Converted(out)  # no cast between the types (nested ones): Python's conversion stands


def _fit_values(values: list[Any], t: pa.DataType) -> Converted:
    """A row function's values for a column of type ``t``: those ``t`` does not hold
    exactly are nulled and marked bad, with a reason naming each."""
    try:
        return _exact(values, t)
    except _UNFIT:
        pass
    parts: list[pa.Array] = []
    bad: list[bool] = []
    reasons: list[str] = []
    for v in values:  # slow path: only for a column with a value of another kind
        try:
            one = _exact([v], t)
        except _UNFIT:
            one = Converted(pa.nulls(1, t), pa.array([True]), [f"{value_text(v)} is not a valid {type_name(t)}"])
        parts.append(one.array)
        bad.append(one.bad is not None and bool(one.bad[0].as_py()))
        reasons += one.reasons or []
    arr = pa.concat_arrays(parts) if parts else pa.array([], t)
    return Converted(arr, pa.array(bad, pa.bool_()) if any(bad) else None, reasons or None)


def _mixed_type(values: list[Any]) -> pa.DataType | None:
    """The type of a column whose values are of kinds (Python types) no one type takes: that of
    its values of the first kind that is not text, else of the first kind; None where those make
    no type either. Text beside numbers or dates is most often a marker or a value the function
    formatted; and whichever value a chunk starts with, every part's stage (--engine processes)
    types the same mix alike, as one stage over the whole file types it by its first chunk."""
    kinds = sorted(dict.fromkeys(type(v) for v in values if v is not None), key=lambda k: k in (str, bytes))
    try:
        t = pa.array([v for v in values if type(v) is kinds[0]]).type
    except _UNFIT:
        return None
    return None if pa.types.is_null(t) else t


# The hints of a batch function's failure on the 0-row batch ``output_schema`` passes first.
_HANDLE_EMPTY = "make the function handle a batch of 0 rows: return a 0-row batch with the columns it adds"
_CALLED_FIRST = (
    "the function is called first with a batch of 0 rows (the input's columns), before any row is read, "
    "to learn the columns it returns: make it handle that batch too, returning 0 rows with the columns it adds"
)

# How a frame of these packages (by the module of its type) becomes a pyarrow Table.
_TO_ARROW = {"pandas": "pa.Table.from_pandas(df, preserve_index=False)", "polars": "df.to_arrow()"}


def _arrow_hint(out: object) -> str:
    """The hint for a batch function's result of another type: a pandas or Polars frame's way to Arrow."""
    hint = "return a pyarrow.RecordBatch or Table"
    if out is None:
        return f"{hint}: the function returned nothing (is its return statement missing?)"
    example = _TO_ARROW.get(type(out).__module__.partition(".")[0])
    return f"{hint}, e.g. {example}" if example else hint


def _same_values(a: pa.DataType, b: pa.DataType) -> bool:
    """Two types that differ in layout only (a dictionary's, text's or bytes' offsets): a cast
    between them changes no value."""
    a, b = value_type(a), value_type(b)
    binary = (pa.binary(), pa.large_binary())
    return a.equals(b) or (is_text(a) and is_text(b)) or (a in binary and b in binary)


def _widened(t: pa.DataType) -> pa.DataType:
    """A row function's column type: float16 and float32 as float64, at any depth (a list of
    float32 too), which holds each of their values exactly and what the function computes
    from them (``1.1 * 2`` is no float32). Both targets store floats as float64, so nothing
    they hold changes."""
    return map_leaves(t, _widened_leaf)


def _widened_leaf(t: pa.DataType) -> pa.DataType:
    return pa.float64() if pa.types.is_float16(t) or pa.types.is_float32(t) else t


# Values a row function may change after returning them (a buffer it clears and refills).
_MUTABLE = frozenset({list, dict, set, bytearray})


def _taken(result: dict[str, Any]) -> dict[str, Any]:
    """A row function's dict as it is now: the rows are made into columns after the chunk's
    last call, so a dict (or a list in it) the function reuses for the next row would give
    every row the last one's values. Containers are copied only where there are some (a row
    of plain values costs one shallow copy)."""
    if _MUTABLE.isdisjoint(map(type, result.values())):
        return dict(result)
    return {k: copy.deepcopy(v) if type(v) in _MUTABLE else v for k, v in result.items()}


@dataclass(kw_only=True)
class Python(StageBase):
    """Run a user function on each batch (``mode = "batch"``: it returns the same rows in the
    same order) or row (``mode = "row"``).

    A function named by import path is imported at once, unless built with
    ``defer_import=True`` (job files: ``loader validate`` imports nothing, and a
    run imports through ``resolve()`` before it writes anything)."""

    kind: ClassVar[str] = "python"
    function: str | Callable[..., Any]
    mode: str = "batch"
    columns: dict[str, str] = field(default_factory=dict)
    name: str = ""
    defer_import: InitVar[bool] = False
    _fn: Callable[..., Any] | None = field(init=False, repr=False, default=None)
    _types: dict[str, pa.DataType] = field(init=False, repr=False, default_factory=dict)
    # a column's type as the function's values first set it (one not declared, nor typed by
    # the input): later chunks are held to it, as the target's column is made of it
    _settled: dict[str, pa.DataType] = field(init=False, repr=False, default_factory=dict, metadata=PER_RUN)

    def __post_init__(self, defer_import: bool) -> None:
        self._label()
        self.mode = self.choice("mode", self.mode, ("batch", "row"))
        if self.columns:
            if self.mode != "row":
                raise self.error('columns: declares the columns a row function returns; use it with mode = "row"')
            self.columns = self.mapping("columns", self.columns)
            self._types = {c: _widened(self.column_type(c, t)) for c, t in self.columns.items()}
        if isinstance(self.function, str):
            split_function(self.function, stage=self.name)
            if not defer_import:
                self.resolve()
        elif callable(self.function):
            self._fn = self.function
        else:
            raise self.error(f'function: expected "package.module:function" or a callable, got {self.function!r}')

    def _declared(self, schema: pa.Schema) -> pa.Schema:
        """The input's columns with the declared ones' types, then the declared new ones:
        the schema a row function's output is known to have before any row is read
        (float16 and float32 as float64: ``_widened``)."""
        fields = [pa.field(f.name, self._types.get(f.name, _widened(f.type))) for f in schema]
        fields += [pa.field(c, t) for c, t in self._types.items() if c not in schema.names]
        return pa.schema(fields)

    @property
    def resolved(self) -> bool:
        """Whether the function is imported (a deferred stage cannot run, or show its output schema, yet)."""
        return self._fn is not None

    def resolve(self) -> None:
        """Import the function named by path; a ConfigError naming it if that fails."""
        if self._fn is None:
            self._fn = import_function(str(self.function), stage=self.name)

    def close(self) -> None:
        """The run is over: the next one's columns are typed anew (its target may be another)."""
        self._settled.clear()

    def __call__(self, chunk: Chunk) -> Chunk:
        self.resolve()
        return self._rows(chunk) if self.mode == "row" else self._batch(chunk)

    def _batch(self, chunk: Chunk) -> Chunk:
        assert self._fn is not None
        try:
            out = self._fn(chunk.batch)
        except LoaderError:
            raise
        except Exception as exc:
            raise self._failure(f"the function raised {exception_text(exc)}", chunk, first=_CALLED_FIRST) from exc
        if isinstance(out, pa.Table):
            parts = out.combine_chunks().to_batches()
            out = parts[0] if parts else empty_batch(out.schema)
        if not isinstance(out, pa.RecordBatch):
            raise self._failure(
                f"the function returned {type(out).__name__}, expected a pyarrow.RecordBatch or Table",
                chunk,
                hint=_arrow_hint(out),
            )
        if out.num_rows != chunk.num_rows:
            raise self._failure(
                f"the function returned {out.num_rows} rows for {chunk.num_rows}; a batch function must keep "
                'the row count (drop rows with a filter stage, or use mode = "row" and return None)',
                chunk,
            )
        if not out.num_columns and chunk.batch.num_columns and not chunk.num_rows:
            # RecordBatch.from_pylist([]): what the function adds cannot be learnt from it
            raise self._failure("the function returned a batch with no columns", chunk)
        return self._held(chunk, plain_columns(out))  # a Polars-made batch's views, as a reader's

    def _failure(
        self, message: str, chunk: Chunk, *, hint: str | None = None, first: str = _HANDLE_EMPTY
    ) -> TransformError:
        """A batch function's failure (``batch_failure``)."""
        return batch_failure(message, chunk, stage=self.name, what="function", first=first, hint=hint)

    def _held(self, chunk: Chunk, out: pa.RecordBatch) -> Chunk:
        """``out`` with each column in the type the function's first batch gave it (the 0-row
        one of ``output_schema`` too: the table's column is made of it); values of another
        kind, or that the type does not hold exactly, reject their rows."""
        arrays: dict[str, pa.Array] = {}
        failures: list[tuple[pa.Array, list[str], str | None]] = []
        for f, arr in zip(out.schema, out.columns, strict=True):
            t = self._settled.get(f.name)
            if t is None:
                if not pa.types.is_null(f.type):
                    self._settled[f.name] = f.type
            elif f.type.equals(t):
                continue
            elif _same_values(f.type, t):
                arrays[f.name] = kernels.cast(arr, t)  # another layout of the same values
            else:
                fit = _fit_values(arr.to_pylist(), t)
                arrays[f.name] = fit.array
                if fit.bad is not None:
                    hint = f"; the function returned {type_name(t)} for the column before: return one type from every batch"
                    failures.append((fit.bad, [why + hint for why in fit.reasons or []], f.name))
        if not arrays:
            return chunk.with_batch(out)
        out = replace_columns(out, arrays)
        chunk, alive = reject_in_order(chunk, failures, stage=self.name)  # with the values the function got
        return chunk.with_batch(out if alive is None else kernels.filter(out, alive))

    def _rows(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        if batch.num_rows == 0:
            declared = self._declared(batch.schema)
            if declared.equals(batch.schema):
                return chunk
            return chunk.with_batch(empty_batch(declared))
        assert self._fn is not None
        out: list[dict[str, Any]] = []
        failed: list[bool] = []
        dropped: list[bool] = []
        reasons: list[str] = []
        for i, row in enumerate(batch.to_pylist()):
            try:
                result = self._fn(row)
            except Exception as exc:
                failed.append(True)
                dropped.append(False)
                reasons.append(exception_text(exc))
                continue
            failed.append(False)
            if result is None:
                dropped.append(True)
                continue
            if not isinstance(result, dict):
                raise TransformError(
                    f"the function returned {type(result).__name__} for a row; expected a dict or None",
                    stage=self.name,
                    file=chunk.file,
                    row=chunk.rows[i].as_py(),
                    line=chunk.lines[i].as_py() if chunk.lines is not None else None,
                )
            dropped.append(False)
            out.append(_taken(result))
        if any(failed):
            chunk = chunk.reject(pa.array(failed, pa.bool_()), reasons, stage=self.name)
        if any(dropped):
            keep = pa.array([not d for d, f in zip(dropped, failed, strict=True) if not f], pa.bool_())
            chunk = chunk.keep(keep)
        misfits: dict[str, Converted] = {}
        done = self._to_batch(out, self._declared(batch.schema), chunk, misfits)
        failures = [(c.bad, c.reasons or [], col) for col, c in misfits.items() if c.bad is not None]
        # rejected with their values as the function got them, as when its call raises
        chunk, alive = reject_in_order(chunk, failures, stage=self.name)
        return chunk.with_batch(done if alive is None else kernels.filter(done, alive))

    def _column(
        self,
        n: str,
        values: list[Any],
        schema: pa.Schema,
        chunk: Chunk,
        misfits: dict[str, Converted],
    ) -> pa.Array:
        """One column of the function's rows as an array (see ``_to_batch``)."""
        target = self._types.get(n) or (schema.field(n).type if n in schema.names else None)
        if target is None or pa.types.is_null(target):  # null: no type yet, the values decide
            target = self._settled.get(n)
        if target is None:
            try:
                arr = pa.array(values)
            except _UNFIT as exc:
                # values of two kinds before the column has a type: one kind types it and the
                # others are rejected, as in a later chunk held to that type
                target = _mixed_type(values)
                if target is None:
                    raise TransformError(
                        f"column {n!r} returned by the function has values of mixed types: {exc}",
                        stage=self.name,
                        file=chunk.file,
                        column=n,
                        hint=f'declare its type in the stage: columns = {{ {n} = "string" }}',
                    ) from None
            else:
                if not pa.types.is_null(arr.type):
                    self._settled[n] = arr.type
                return arr
            self._settled[n] = target
        fit = _fit_values(values, target)
        if fit.bad is not None:
            hint = "" if n in self._types else "; declare the column's type in the stage's columns to change it"
            misfits[n] = Converted(fit.array, fit.bad, [why + hint for why in fit.reasons or []])
        return fit.array

    def _to_batch(
        self,
        rows: list[dict[str, Any]],
        schema: pa.Schema,
        chunk: Chunk,
        misfits: dict[str, Converted],
    ) -> pa.RecordBatch:
        """Rows back to a batch: a declared column takes its declared type, another input
        column its input type, values that type does not hold exactly noted in ``misfits``
        (and nulled); a new undeclared column gets the type of its values."""
        if not rows:
            return empty_batch(schema)
        # the input's and the declared columns always, as the 0-row batch has them: a key
        # every row of a batch leaves out is NULL there, not a column gone for later stages
        names: dict[str, None] = dict.fromkeys(schema.names)
        for r in rows:
            for k in r:
                names.setdefault(k, None)
        arrays = [self._column(n, [r.get(n) for r in rows], schema, chunk, misfits) for n in names]
        fields = [pa.field(n, arr.type) for n, arr in zip(names, arrays, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
