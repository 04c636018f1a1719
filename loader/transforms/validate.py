"""The ``validate`` stage: per-column rules; a failing row is rejected with the rule it broke."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk, column_values
from ..convert import text_form
from ..types import decoded, is_text, type_name, value_type
from ._base import StageBase, did_you_mean, first_failure, reject_in_order, value_text
from .dedupe import KeyStore

RULES = ("not_null", "regex", "min", "max", "allowed", "length", "unique")

# (mask of failing rows) from a column; built once per input schema.
Check = Callable[[pa.Array], pa.Array]


def _rule_text(rule: str, spec: Any) -> str:
    if isinstance(spec, bool):
        spec = "true" if spec else "false"
    elif isinstance(spec, str):
        spec = repr(spec)
    elif isinstance(spec, list):
        spec = "[" + ", ".join(value_text(v) for v in spec) + "]"
    return f"rule {rule}={spec}"


def _is_length(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _length_check(lo: int, hi: int) -> Check:
    def check(a: pa.Array) -> pa.Array:
        n = kernels.utf8_length(text_form(a))
        return kernels.or_(kernels.less(n, lo), kernels.greater(n, hi))

    return check


@dataclass(kw_only=True)
class Validate(StageBase):
    """Check rules per column: ``rules = { age = { min = 0, max = 150 } }``.

    Rules: ``not_null``, ``regex`` (RE2, searched: anchor with ^ and $),
    ``min``, ``max``, ``allowed`` (a list), ``length`` (n or [lo, hi]
    characters) and ``unique`` (within the run, kept in a SQLite side table
    like ``dedupe``; ``state_path`` keeps it for a resumed run). Rules other
    than ``not_null`` pass null values. ``on_error``: ``reject`` or ``fail``.
    """

    kind: ClassVar[str] = "validate"
    rules: dict[str, dict[str, Any]]
    on_error: str = "reject"
    state_path: str | None = None
    name: str = ""
    _schema: pa.Schema | None = field(default=None, init=False, repr=False)
    _checks: list[tuple[str, str, Check]] = field(default_factory=list, init=False, repr=False)
    _store: KeyStore | None = field(default=None, init=False, repr=False)

    @property
    def remembers_rows(self) -> bool:
        return any(bool(rules.get("unique")) for rules in self.rules.values())

    def __post_init__(self) -> None:
        self._label()
        self.on_error = self.choice("on_error", self.on_error, ("reject", "fail"))
        if not isinstance(self.rules, Mapping) or not self.rules:
            raise self.error(f"rules: expected a table like {{ age = {{ min = 0 }} }}, got {self.rules!r}")
        if self.state_path is not None:
            self.text("state_path", self.state_path)
        for col, rules in self.rules.items():
            where = f"rules.{col}"
            if not isinstance(rules, Mapping) or not rules:
                raise self.error(f"{where}: expected a table of rules like {{ not_null = true }}, got {rules!r}")
            for rule, spec in rules.items():
                if rule not in RULES:
                    raise self.error(
                        f"{where}: unknown rule {rule!r}{did_you_mean(rule, RULES)}; rules: {', '.join(RULES)}",
                        column=col,
                    )
                self._check_spec(f"{where}.{rule}", rule, spec, col)

    def _check_spec(self, where: str, rule: str, spec: Any, col: str) -> None:
        ok = True
        if rule in ("not_null", "unique"):
            ok = isinstance(spec, bool)
        elif rule == "regex":
            ok = isinstance(spec, str)
            if ok:
                try:
                    kernels.match_substring_regex(pa.array([""]), spec)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    first = str(exc).strip().splitlines()[0]
                    raise self.error(f"{where}: invalid regular expression {spec!r} ({first})", column=col) from None
        elif rule in ("min", "max"):
            ok = spec is not None and not isinstance(spec, (bool, list, dict))
        elif rule == "allowed":
            ok = isinstance(spec, list) and len(spec) > 0
        elif rule == "length":
            ok = _is_length(spec) or (
                isinstance(spec, list) and len(spec) == 2 and all(map(_is_length, spec)) and spec[0] <= spec[1]
            )
        if not ok:
            want = {
                "not_null": "true or false",
                "unique": "true or false",
                "regex": "a regular expression",
                "min": "a value",
                "max": "a value",
                "allowed": "a non-empty list of values",
                "length": "a length n or [min, max]",
            }[rule]
            raise self.error(f"{where}: expected {want}, got {spec!r}", column=col)

    # ---- binding: turn the rules into column checks for one schema

    def _scalar(self, where: str, value: Any, t: pa.DataType, col: str) -> pa.Scalar:
        text_col = is_text(t)
        numeric_col = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        if (text_col and not isinstance(value, str)) or (numeric_col and isinstance(value, str)):
            raise self.error(f"{where}: {value!r} cannot be compared with {type_name(t)} values", column=col)
        if pa.types.is_decimal(t) and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = Decimal(str(value))  # an int64 scalar casts to a decimal only as wide as 19 digits
        try:
            return kernels.cast(pa.scalar(value), t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            raise self.error(f"{where}: {value!r} cannot be compared with {type_name(t)} values", column=col) from None

    def _bind(self, schema: pa.Schema) -> None:
        self.require(schema, self.rules, key="rules")
        checks: list[tuple[str, str, Check]] = []
        for col, rules in self.rules.items():
            t = value_type(schema.field(col).type)  # rules check a dictionary column's values
            for rule, spec in rules.items():
                where = f"rules.{col}.{rule}"
                check = self._check(rule, where, spec, t, col)
                if check is not None:
                    self._try(check, where, t, col)
                    checks.append((col, rule, check))
        self._checks = checks

    def _check(self, rule: str, where: str, spec: Any, t: pa.DataType, col: str) -> Check | None:
        """The check of one rule on a column of type ``t``; None for a rule that checks nothing here."""
        if rule == "not_null":
            return kernels.is_null if spec else None
        if pa.types.is_null(t):
            return None  # a column without a value in a whole file: the other rules pass nulls
        if rule == "regex":
            return lambda a: kernels.invert(kernels.match_substring_regex(text_form(a), spec))
        if rule == "min":
            lo = self._scalar(where, spec, t, col)
            return lambda a: kernels.less(a, lo)
        if rule == "max":
            hi = self._scalar(where, spec, t, col)
            return lambda a: kernels.greater(a, hi)
        if rule == "allowed":
            values = self._values(where, spec, t, col)
            return lambda a: kernels.and_(kernels.invert(kernels.is_in(a, value_set=values)), kernels.is_valid(a))
        if rule == "length":
            return _length_check(*((spec, spec) if isinstance(spec, int) else spec))
        return None  # unique: checked against the key store, not per batch

    def _values(self, where: str, spec: list[Any], t: pa.DataType, col: str) -> pa.Array:
        try:
            return kernels.cast(pa.array(spec), t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            raise self.error(f"{where}: {spec!r} are not all {type_name(t)} values", column=col) from None

    def _try(self, check: Check, where: str, t: pa.DataType, col: str) -> None:
        """A type mismatch (min on text, say) shows now, not at row 1."""
        try:
            check(pa.array([], t))
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            first = str(exc).strip().splitlines()[0]
            raise self.error(f"{where}: cannot apply to a {type_name(t)} column ({first})", column=col) from None

    def _reasons(self, batch: pa.RecordBatch, col: str, rule: str) -> Callable[[pa.Array], list[str]]:
        head = _rule_text(rule, self.rules[col][rule])

        def build(idx: pa.Array) -> list[str]:
            return [
                f"{head} failed for {col}: {value_text(v)}"
                for v in column_values(kernels.take(batch.column(col), idx))  # nanoseconds, far years too
            ]

        return build

    def __call__(self, chunk: Chunk) -> Chunk:
        batch = chunk.batch
        if self._schema is None or not (self._schema is batch.schema or self._schema.equals(batch.schema)):
            self._bind(batch.schema)
            self._schema = batch.schema
        failures = []
        for col, rule, check in self._checks:
            failures.append((check(decoded(batch.column(col))), self._reasons(batch, col, rule), col))
        if self.on_error == "fail":
            first_failure(chunk, failures, stage=self.name)
        elif failures:
            chunk, _ = reject_in_order(chunk, failures, stage=self.name)
        # unique last: a row rejected by another rule must not claim its key.
        unique = [c for c, rules in self.rules.items() if rules.get("unique")]
        if unique and chunk.num_rows:
            if self._store is None:
                self._store = KeyStore(self.state_path, stage=self.name)
            batch = chunk.batch
            for col in unique:
                arr = batch.column(col)
                present = kernels.is_valid(arr)
                some = arr.null_count > 0
                seen = self._store.first_seen(
                    "unique:" + json.dumps(col),
                    [kernels.filter(arr, present) if some else arr],
                    kernels.filter(chunk.rows, present) if some else chunk.rows,
                    chunk.file,
                    [col],
                )
                dup = kernels.invert(seen)
                if some:  # back to one flag per batch row; null keys are never duplicates
                    dup = kernels.replace_with_mask(pa.repeat(pa.scalar(False), len(arr)), present, dup)
                failure = [(dup, self._reasons(batch, col, "unique"), col)]
                if self.on_error == "fail":
                    first_failure(chunk, failure, stage=self.name)
                else:
                    chunk, _ = reject_in_order(chunk, failure, stage=self.name)
                batch = chunk.batch
        return chunk

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
