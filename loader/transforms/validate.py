"""The ``validate`` stage: per-column rules; a failing row is rejected with the rule it broke."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk, column_values
from ..config import PATH
from ..convert import text_form
from ..expr import day_start
from ..types import decoded, int_range, is_numeric, is_text, is_zoned, type_name, value_type
from ._base import PER_RUN, StageBase, did_you_mean, first_failure, reject_in_order, value_text
from .dedupe import KeyStore, canonical_floats

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


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


# A bound for min or max: a value of the column's type, or True when every value is
# beyond it (min = 1000 on an int8), False when none is (min = -1000 on an int8).
Bound: TypeAlias = pa.Scalar | bool

_WIDE = Context(prec=200)  # room to round any decimal(76, s) bound without a trap


def _number_bound(v: int | float | Decimal, t: pa.DataType, up: bool) -> Bound | None:
    """The rule number ``v`` as a bound on a numeric column of type ``t``, compared by value
    (min = -1000 on an int8, min = 2.5 on an int64). ``up``: a min (``x < v`` fails), which
    on whole numbers is ``x < ceil(v)``; else a max, ``x > floor(v)``. None for a NaN
    (no whole number or decimal compares with it)."""
    if pa.types.is_floating(t):  # read as the column's float type holds it (0.1 as a float32 0.1)
        rounded: pa.Scalar = kernels.cast(pa.scalar(float(v)), t, safe=False)
        return rounded
    d = _as_decimal(v)
    if d.is_nan():
        return None
    lo: int | Decimal
    hi: int | Decimal
    if pa.types.is_integer(t):
        lo, hi = int_range(t)
        w = d if d.is_infinite() else d.to_integral_value(ROUND_CEILING if up else ROUND_FLOOR, _WIDE)
    else:
        hi = Decimal(10**t.precision - 1).scaleb(-t.scale, _WIDE)
        lo = -hi
        w = d if d.is_infinite() or abs(d) > hi else _grid(d, t.scale, up)
    if w < lo:  # every value is above: a min holds for each, a max for none
        return not up
    if w > hi:
        return up
    return pa.scalar(int(w) if pa.types.is_integer(t) else w, t)


def _as_decimal(v: int | float | Decimal) -> Decimal:
    # a float as written (0.1, not 0.1000000000000000055...), as a decimal column reads text
    return v if isinstance(v, Decimal) else Decimal(str(v) if isinstance(v, float) else v)


def _grid(d: Decimal, scale: int, up: bool) -> Decimal:
    """``d`` rounded up (or down) to ``scale`` digits after the point."""
    return d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_CEILING if up else ROUND_FLOOR, context=_WIDE)


def _exact_values(spec: list[Any], t: pa.DataType) -> pa.Array:
    """The numbers of an ``allowed`` list that an integer or decimal column of type ``t``
    can hold; any other (1.5 for an int64, 1000 for an int8) equals none of its values."""
    out = []
    for v in spec:
        exact = _number_bound(v, t, up=True)
        if isinstance(exact, pa.Scalar) and exact.as_py() == _as_decimal(v):
            out.append(exact.as_py())
    return pa.array(out, t)


def _outside(kernel: Callable[[pa.Array, pa.Scalar], pa.Array], bound: Bound, t: pa.DataType) -> Check:
    if bound is True:
        return kernels.is_valid  # every value fails; nulls pass, as they pass every rule
    if bound is False:
        return lambda a: pa.repeat(pa.scalar(False), len(a))
    if pa.types.is_floating(t):  # NaN is neither below nor above a bound: it fails both
        return lambda a: kernels.or_(kernel(a, bound), kernels.is_nan(a))
    return lambda a: kernel(a, bound)


def _length_check(lo: int, hi: int) -> Check:
    def check(a: pa.Array) -> pa.Array:
        n = kernels.utf8_length(text_form(a))
        return kernels.or_(kernels.less(n, lo), kernels.greater(n, hi))

    return check


def _shown(values: pa.Array) -> list[str]:
    """Values as a reason shows them: dates and times in the text the targets store
    (``2024-01-01T10:00:00.000000Z``, nanoseconds and far years too), others by ``value_text``."""
    t = value_type(values.type)
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return [value_text(v) for v in text_form(decoded(values)).to_pylist()]
    return [value_text(v) for v in column_values(values)]


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
    state_path: str | None = field(default=None, metadata=PATH)  # in a job file, next to it (``rebase_paths``)
    name: str = ""
    store_wait: float = field(default=30.0, init=False, repr=False)  # the sink's busy_timeout (``wait_as_sink``)
    _schema: pa.Schema | None = field(default=None, init=False, repr=False, metadata=PER_RUN)
    _checks: list[tuple[str, str, Check]] = field(default_factory=list, init=False, repr=False, metadata=PER_RUN)
    _store: KeyStore | None = field(default=None, init=False, repr=False, metadata=PER_RUN)

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
        if pa.types.is_timestamp(t) and isinstance(value, dt.date):
            return self._instant(where, value, t, col)
        text_col = is_text(t)
        numeric_col = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        if (text_col and not isinstance(value, str)) or (numeric_col and isinstance(value, str)):
            raise self.error(f"{where}: {value!r} cannot be compared with {type_name(t)} values", column=col)
        try:
            return kernels.cast(pa.scalar(value), t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            raise self.error(f"{where}: {value!r} cannot be compared with {type_name(t)} values", column=col) from None

    def _instant(self, where: str, value: dt.date, t: pa.DataType, col: str) -> pa.Scalar:
        """A TOML date or date-time as a value of the timestamp type ``t``, read as the
        expressions read one: a date is the instant its day begins in the column's zone, a local
        date-time wall-clock time there; an offset on a column without a zone is refused, never
        dropped (Arrow's cast would read the first two as UTC and drop the third's zone)."""
        aware = isinstance(value, dt.datetime) and value.tzinfo is not None
        if aware and not is_zoned(t):
            raise self.error(
                f"{where}: {value.isoformat()} has a time zone, and the {type_name(t)} values have none",
                column=col,
                hint="write it without its offset, as a wall-clock time like the column's values",
            )
        try:  # a fraction finer than the column's unit, a year past its range: no value of it
            if aware or not is_zoned(t):
                return kernels.cast(pa.scalar(value), t)
            if not isinstance(value, dt.datetime):
                return day_start(pa.array([value], pa.date32()), t)[0]
            local = kernels.cast(pa.array([value], pa.timestamp("us")), pa.timestamp(t.unit))
        except pa.ArrowInvalid:
            shown = value.isoformat()
            raise self.error(f"{where}: {shown} cannot be compared with {type_name(t)} values", column=col) from None
        try:  # wall-clock time in the column's zone
            return kernels.assume_timezone(local, t.tz)[0]
        except pa.ArrowInvalid as exc:  # a daylight-saving gap or overlap: no one instant
            what = "is ambiguous" if "ambiguous" in str(exc) else "does not exist"
            raise self.error(f"{where}: {value.isoformat()} {what} in time zone {t.tz}", column=col) from None

    def _bound(self, where: str, value: Any, t: pa.DataType, col: str, *, up: bool) -> Bound:
        if _is_number(value) and is_numeric(t):
            bound = _number_bound(value, t, up)
            if bound is None:
                raise self.error(f"{where}: {value!r} cannot be compared with {type_name(t)} values", column=col)
            return bound
        return self._scalar(where, value, t, col)

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
        if rule in ("min", "max"):
            bound = self._bound(where, spec, t, col, up=rule == "min")
            return _outside(kernels.less if rule == "min" else kernels.greater, bound, t)
        if rule == "allowed":
            values = self._values(where, spec, t, col)
            if pa.types.is_floating(t):  # -0.0 is 0.0 and NaN is NaN, though each pair hashes apart
                values = canonical_floats(values)
                return lambda a: kernels.and_(
                    kernels.invert(kernels.is_in(canonical_floats(a), value_set=values)), kernels.is_valid(a)
                )
            return lambda a: kernels.and_(kernels.invert(kernels.is_in(a, value_set=values)), kernels.is_valid(a))
        if rule == "length":
            return _length_check(*((spec, spec) if isinstance(spec, int) else spec))
        return None  # unique: checked against the key store, not per batch

    def _values(self, where: str, spec: list[Any], t: pa.DataType, col: str) -> pa.Array:
        if all(map(_is_number, spec)) and (pa.types.is_integer(t) or pa.types.is_decimal(t)):
            return _exact_values(spec, t)
        if all(map(_is_number, spec)) and pa.types.is_floating(t):
            return kernels.cast(pa.array([float(v) for v in spec]), t, safe=False)
        if pa.types.is_timestamp(t) and any(isinstance(v, dt.date) for v in spec):
            return pa.array([self._scalar(where, v, t, col) for v in spec], t)  # each as min or max reads it
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
            return [f"{head} failed for {col}: {v}" for v in _shown(kernels.take(batch.column(col), idx))]

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
            repeated = self._repeated(chunk, unique)
            failures = [
                (dup, self._reasons(chunk.batch, col, "unique"), col) for col, dup in zip(unique, repeated, strict=True)
            ]
            if self.on_error == "fail":
                first_failure(chunk, failures, stage=self.name)
            else:
                chunk, _ = reject_in_order(chunk, failures, stage=self.name)
        return chunk

    def _repeated(self, chunk: Chunk, unique: list[str]) -> list[pa.Array]:
        """Per ``unique`` column, the rows whose value an earlier row claimed (nulls: none).
        A row that repeats one value claims none of its others."""
        if self._store is None:
            self._store = KeyStore(self.state_path, stage=self.name, busy_timeout=self.store_wait)
        batch = chunk.batch
        if len(unique) > 1:
            columns = [("unique:" + json.dumps(col), batch.column(col), col) for col in unique]
            return self._store.repeated_each(columns, chunk.rows, chunk.file, chunk.version)
        [col] = unique  # one column: its values checked column-wise
        arr = batch.column(col)
        present = kernels.is_valid(arr)
        some = arr.null_count > 0
        seen = self._store.first_seen(
            "unique:" + json.dumps(col),
            [kernels.filter(arr, present) if some else arr],
            kernels.filter(chunk.rows, present) if some else chunk.rows,
            chunk.file,
            [col],
            chunk.version,
        )
        dup = kernels.invert(seen)
        if some:  # back to one flag per batch row; null values are never repeats
            dup = kernels.replace_with_mask(pa.repeat(pa.scalar(False), len(arr)), present, dup)
        return [dup]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
