"""Transform stages: chunk -> chunk, column-wise, from a job file or from Python.

A job file lists ``[[transform]]`` tables; ``build_stages`` checks every key
and builds the stages. From Python, build the same stages with keyword
arguments that match the job-file keys::

    from loader.transforms import Cast, Filter, Rename
    stages = [Cast(columns={"age": "int64"}), Filter(where="age >= 18")]

Rows a stage cannot process go to the chunk's rejects (``chunk.reject``);
rows a stage drops on purpose (filter, dedupe, row functions returning
None) count as filtered (``chunk.keep``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import pyarrow as pa

from .._lazy import lazy_attributes
from ..chunk import Chunk
from ..config import shown
from ..errors import ConfigError, LoaderError, MissingColumnError, TransformError
from ..types import empty_batch
from ._base import StageBase, batch_failure, did_you_mean, exception_text, job_keys

if TYPE_CHECKING:
    from .basic import Drop, FillNull, Lower, Rename, Reorder, Replace, Select, Split, Trim, Upper
    from .cast import Cast, convert_with_format
    from .dedupe import Dedupe, KeyStore
    from .expr_stages import Derive, Filter
    from .flatten import Flatten
    from .python import Python
    from .validate import Validate

    Default = FillNull

# The stage classes are imported on first use: a load without transforms does
# not pay at start for the expression parser and the stage modules.
_MODULES = {
    **dict.fromkeys(
        ["Drop", "FillNull", "Lower", "Rename", "Reorder", "Replace", "Select", "Split", "Trim", "Upper"], "basic"
    ),
    **dict.fromkeys(["Cast", "convert_with_format"], "cast"),
    **dict.fromkeys(["Dedupe", "KeyStore"], "dedupe"),
    **dict.fromkeys(["Derive", "Filter"], "expr_stages"),
    "Flatten": "flatten",
    "Python": "python",
    "Validate": "validate",
}
_TYPES = {
    "select": "Select",
    "drop": "Drop",
    "rename": "Rename",
    "reorder": "Reorder",
    "flatten": "Flatten",
    "cast": "Cast",
    "filter": "Filter",
    "derive": "Derive",
    "fill_null": "FillNull",
    "default": "FillNull",
    "trim": "Trim",
    "lower": "Lower",
    "upper": "Upper",
    "replace": "Replace",
    "split": "Split",
    "validate": "Validate",
    "dedupe": "Dedupe",
    "python": "Python",
}


_lazy = lazy_attributes(__name__, _MODULES)


def __getattr__(name: str) -> Any:
    if name == "Default":  # job files may say type = "default"
        return _lazy("FillNull")
    if name == "STAGE_TYPES":
        return {kind: _lazy(cls) for kind, cls in _TYPES.items()}
    return _lazy(name)


__all__ = [
    "STAGE_TYPES",
    "Cast",
    "Dedupe",
    "Default",
    "Derive",
    "Drop",
    "FillNull",
    "Filter",
    "Flatten",
    "KeyStore",
    "Lower",
    "Python",
    "Rename",
    "Reorder",
    "Replace",
    "Select",
    "Split",
    "Stage",
    "Trim",
    "Upper",
    "Validate",
    "apply",
    "as_stage",
    "as_stages",
    "build_stages",
    "close_stages",
    "code_allowed",
    "convert_with_format",
    "hint_sink_column",
    "output_schema",
    "path_keys",
    "wait_as_sink",
]


@runtime_checkable
class Stage(Protocol):
    """Maps a chunk to a chunk. May also have ``close()``, called once at the end."""

    name: str

    def __call__(self, chunk: Chunk) -> Chunk: ...


# Stage types whose job-file table names code to import and run.
CODE_TYPES = ("python",)
ALLOW_CODE_HINT = (
    "if you trust this job file, allow its code: --allow-python, LOADER_ALLOW_PYTHON=1, "
    "or Pipeline(..., allow_python=True)"
)
ALLOW_CODE_ENV = "LOADER_ALLOW_PYTHON"


def code_allowed(allow: bool | None) -> bool:
    """``allow``; where None, the environment decides: ``LOADER_ALLOW_PYTHON=1`` alone allows a
    job file's code (fail-safe: ``true``, ``yes`` or a typo leave it refused, and say so)."""
    return allow if allow is not None else os.environ.get(ALLOW_CODE_ENV) == "1"


def build_stages(
    specs: Sequence[Mapping[str, Any]], *, allow_code: bool | None = True, defer_imports: bool = False
) -> list[Stage]:
    """Build stages from ``[[transform]]`` tables; any mistake is a ConfigError naming it.

    Stages are named ``transform[N] (type)``, N counting from 1 in file order.
    A stage that names code (``python`` by import path) is refused unless
    ``allow_code`` (None: ``LOADER_ALLOW_PYTHON=1``, ``code_allowed``); with ``defer_imports`` its function is checked for syntax
    only and imported by the stage's ``resolve()``.
    """
    if not isinstance(specs, Sequence) or isinstance(specs, (str, bytes)):
        raise ConfigError(f"transform: expected a list of [[transform]] tables, got {specs!r}")
    return [
        _build_stage(n, spec, allow_code=allow_code, defer_imports=defer_imports)
        for n, spec in enumerate(specs, start=1)
    ]


def _build_stage(n: int, spec: object, *, allow_code: bool | None, defer_imports: bool) -> Stage:
    """The stage of the ``n``-th ``[[transform]]`` table."""
    where = f"transform[{n}]"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a table, got {spec!r}", stage=where)
    kind = _stage_type(where, spec.get("type"))
    cls = _lazy(_TYPES[kind])  # a stage's module is imported when a job uses it
    label = f"{where} ({kind})"
    options = {k: v for k, v in spec.items() if k != "type"}
    _check_keys(cls, kind, label, options)
    if kind in CODE_TYPES and isinstance(options.get("function"), str):
        _check_code(label, options["function"], allow_code=allow_code)
        if defer_imports:
            options["defer_import"] = True
    stage: Stage = cls(**options, name=label)
    return stage


def path_keys(kind: object) -> list[str]:
    """The keys of a ``[[transform]]`` table of type ``kind`` that hold paths (``config.PATH``):
    a job file's relative ones are relative to it (``config.rebase_paths``). Empty for an
    unknown type, which building the stages refuses."""
    if not isinstance(kind, str) or kind not in _TYPES:
        return []
    return [f.name for f in dataclasses.fields(_lazy(_TYPES[kind])) if f.metadata.get("path")]


def _stage_type(where: str, kind: object) -> str:
    if kind is None:
        raise ConfigError(f"type: required key is missing (one of: {', '.join(_TYPES)})", stage=where)
    if not isinstance(kind, str) or kind not in _TYPES:
        raise ConfigError(
            f"type: unknown transform type {kind!r}{did_you_mean(str(kind), _TYPES)}; types: {', '.join(_TYPES)}",
            stage=where,
        )
    return kind


def _check_keys(cls: type, kind: str, label: str, options: Mapping[str, Any]) -> None:
    keys, required = job_keys(cls)
    for key in options:
        if key not in keys:
            raise ConfigError(
                f"{key}: unknown key{did_you_mean(key, keys)}; {kind} takes: {', '.join(keys)}", stage=label
            )
    for key in required:
        if key not in options:
            raise ConfigError(f"{key}: required key is missing", stage=label)


def _check_code(label: str, function: str, *, allow_code: bool | None) -> None:
    if not code_allowed(allow_code):
        seen = os.environ.get(ALLOW_CODE_ENV) if allow_code is None else None
        # the variable was set, to a value that does not allow code: said, not taken as unset
        refused = f"{ALLOW_CODE_ENV} is {seen!r} here, which does not allow it (only 1 does); " if seen else ""
        raise ConfigError(
            f"function: {function!r} is code to import and run; a job file may run code only when allowed",
            stage=label,
            hint=refused + ALLOW_CODE_HINT,
        )


class _Callable:
    """A plain ``RecordBatch -> RecordBatch`` function as a stage (the same rows, in the same order)."""

    def __init__(self, fn: Callable[[pa.RecordBatch], pa.RecordBatch]) -> None:
        from .python import Python

        self._stage = Python(function=fn, name=getattr(fn, "__name__", None) or "python")
        self.name = self._stage.name

    def __call__(self, chunk: Chunk) -> Chunk:
        return self._stage(chunk)

    def close(self) -> None:
        self._stage.close()


def _is_stage(fn: object) -> TypeGuard[Stage]:
    return isinstance(getattr(fn, "name", None), str) and callable(fn)


def as_stage(fn: Stage | Callable[[pa.RecordBatch], pa.RecordBatch]) -> Stage:
    """A stage as is; a plain batch function wrapped as one.

    Anything with a ``name`` attribute is taken to be a stage (it gets
    chunks); any other callable gets the batch and must return a batch of
    the same rows in the same order (the row count is checked, else the run
    stops with a LoaderError; the order cannot be).
    """
    if _is_stage(fn):
        return fn
    if callable(fn):
        return _Callable(fn)
    raise ConfigError(f"transforms: expected a stage or a function of a RecordBatch, got {fn!r}")


def as_stages(transforms: Sequence[Stage | Callable[[pa.RecordBatch], pa.RecordBatch]]) -> list[Stage]:
    """A caller's ``transforms``, a list or tuple of stages and functions, as stages. One
    stage or function alone (or a text, which would go a character at a time) is refused."""
    if not isinstance(transforms, (list, tuple)):
        one = callable(transforms)
        raise ConfigError(
            f"transforms: expected a list of stages or functions, got {shown(transforms)}",
            hint="pass it in a list: transforms=[fn]" if one else "e.g. transforms=[Filter(...), fn]",
        )
    return [as_stage(t) for t in transforms]


def for_load(stages: Iterable[Stage]) -> list[Stage]:
    """The stages of one load: the loader's own as copies whose per-run state starts afresh
    (``StageBase.for_load``: the caller's list may serve other loads at the same time); a
    caller's own stage objects as they are (their state is the caller's to keep)."""
    return [s.for_load() if isinstance(s, StageBase) else s for s in stages]


def wait_as_sink(stages: Iterable[Stage], busy_timeout: float) -> None:
    """Stages that keep keys in a SQLite store (``dedupe``, ``validate``'s ``unique``) wait
    for one another run holds as long as the load waits for its target."""
    for stage in stages:
        if hasattr(stage, "store_wait"):
            stage.store_wait = busy_timeout


def output_schema(
    stages: Sequence[Stage],
    schema: pa.Schema,
    path: str = "",
    *,
    name_clash: Callable[[list[str]], str | None] | None = None,
) -> pa.Schema:
    """The schema ``stages`` make of rows of ``schema`` (an empty chunk through them, a stage
    at a time). ``name_clash``: the target's reason two names are one column to it (SQLite's
    match in any case), or None; a stage that makes such a pair, or leaves no column, is a
    ConfigError naming it."""
    chunk = Chunk(
        batch=empty_batch(schema),
        file=path,
        rows=pa.array([], pa.int64()),
        last_row=0,
        end={},
    )
    clash = name_clash(schema.names) if name_clash is not None else None
    for n, stage in enumerate(stages):
        given = chunk.batch.schema.names
        try:
            chunk = _through(stage, chunk)
        except ConfigError as exc:
            _hint_undeclared(exc, stages[:n])
            _hint_unflattened(exc, stages[:n])
            raise
        if given and not chunk.batch.schema.names:  # no table or value can be made of no column
            raise ConfigError(
                f"the stage leaves no column of the input's ({', '.join(given)})",
                stage=stage.name,
                file=path or None,
                hint="keep at least one column for the target",
            )
        if name_clash is None or clash is not None:
            continue  # a clash the input had already is not the stage's
        clash = name_clash(chunk.batch.schema.names)
        if clash is not None:
            # flatten renames and drops nothing: it says what works for it
            hint = getattr(stage, "clash_hint", "rename one of them, or drop one, in the stage")
            raise ConfigError(clash, stage=stage.name, file=path or None, hint=hint)
    return chunk.batch.schema


def hint_sink_column(exc: BaseException, stages: Sequence[Stage]) -> None:
    """A column a sink's setting (``sink.key``, ``sink.primary_key``, ``sink.indexes``) names and
    the stages' output lacks gets the hint a later stage naming it would: a row function that
    did not declare it, a ``flatten`` that left its struct as it is."""
    if isinstance(exc, MissingColumnError) and exc.stage is None and exc.message.startswith("sink."):
        _hint_undeclared(exc, stages)
        _hint_unflattened(exc, stages)


def _hint_undeclared(exc: ConfigError, before: Sequence[Stage]) -> None:
    """A column a later stage names and the data lacks may be one a row-mode python stage
    before it adds: its output is known before any row only as far as its ``columns`` say."""
    rows = next((s for s in before if getattr(s, "kind", "") == "python" and getattr(s, "mode", "") == "row"), None)
    if rows is None or not (isinstance(exc, MissingColumnError) or "unknown column" in exc.message):
        return
    declare = (
        f'if {rows.name} adds it, declare it there: columns = {{ name = "type" }} '
        "(the stages after a row function know only the columns it declares)"
    )
    exc.hint = declare if exc.hint in (None, exc.default_hint) else f"{exc.hint}; {declare}"


def _hint_unflattened(exc: ConfigError, before: Sequence[Stage]) -> None:
    """A column a later stage names as a flattened one (``payload__action``) whose column a
    ``flatten`` before it left as it is: no struct (JSON text, where the objects' keys varied)."""
    if not (isinstance(exc, MissingColumnError) or "unknown column" in exc.message):
        return
    for stage in before:
        unopened = getattr(stage, "unopened", None) if getattr(stage, "kind", "") == "flatten" else None
        why = unopened(exc.message) if callable(unopened) else None
        if why:
            exc.hint = why if exc.hint in (None, exc.default_hint) else f"{exc.hint}; {why}"
            return


def _through(stage: Stage, chunk: Chunk) -> Chunk:
    """``chunk`` through ``stage``; a mistake the stage finds in the file's columns (one a
    later file lacks) names the file."""
    try:
        return next(apply([stage], iter([chunk])), chunk)
    except ConfigError as exc:
        if exc.file is None and chunk.file:
            exc.file = chunk.file
        raise


def apply(stages: Sequence[Stage], chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """Lazily pass every chunk through every stage, in order (one chunk in memory at a time).

    Ending, by exhaustion, an error or ``close()``, closes ``chunks`` too: a reader's
    iteration holds parse workers, which must not wait for a collection to stop."""
    stages = list(stages)
    try:
        for chunk in chunks:
            for stage in stages:
                chunk = stage(chunk) if isinstance(stage, (StageBase, _Callable)) else _run_own(stage, chunk)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _run_own(stage: Stage, chunk: Chunk) -> Chunk:
    """A stage object of the user's on one chunk. Like a plain function's, its exception or
    a result that is no chunk is a TransformError naming it, the file and the chunk's first
    and last line (a rerun fails the same way); the loader's own errors, KeyboardInterrupt and SystemExit pass as they are."""
    try:
        out = stage(chunk)
    except LoaderError:
        raise
    except Exception as exc:
        raise _own_failure(stage, f"the stage raised {exception_text(exc)}", chunk) from exc
    if not isinstance(out, Chunk):
        raise _own_failure(
            stage,
            f"the stage returned {type(out).__name__}, expected a loader.chunk.Chunk",
            chunk,
            hint="return chunk.with_batch(batch) for a new batch with the same rows, chunk.keep(mask) to drop rows",
        )
    return out


# The hint of a stage object's failure on the 0-row batch ``output_schema`` passes first.
_STAGE_CALLED_FIRST = (
    "the stage is called first with a chunk of 0 rows (the input's columns), before any row is read, "
    "to learn the columns it returns: make it handle that chunk too"
)


def _own_failure(stage: Stage, message: str, chunk: Chunk, *, hint: str | None = None) -> TransformError:
    return batch_failure(message, chunk, stage=stage.name, what="stage", first=_STAGE_CALLED_FIRST, hint=hint)


def close_stages(stages: Iterable[Stage]) -> None:
    """Call ``close()`` on every stage that has one (temp files of dedupe/unique)."""
    for stage in stages:
        close = getattr(stage, "close", None)
        if callable(close):
            close()
