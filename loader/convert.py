"""Column conversion that never loses information silently.

``infer_type`` (or ``TypeGuess``, fed block by block) picks a type for a
column of text from a sample, refusing to
guess a number where text would change (``007``, 20-digit ids, decimals
that float64 would round). ``convert`` turns one column of raw values into
its target type column-wise with ``pyarrow.compute``; values that do not fit are not turned
into nulls or rounded: they come back as a mask plus one reason each, so the
caller can reject exactly those rows. The per-value path runs only for
columns that actually hold a bad value.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import math
import re
import sys
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NoReturn

import pyarrow as pa

from . import kernels
from .chunk import NOT_UTF8, column_values
from .types import decimal_type, int_range, is_bytes, is_numeric, is_text, is_zoned, type_name, value_str

if TYPE_CHECKING:
    from .readers.decimal_comma import NumberStyle

_INT = r"^[+-]?(?:0|[1-9][0-9]*)$"
_FLOAT = r"^[+-]?(?:(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))$"
_BOOL = r"^(?:true|false|TRUE|FALSE|True|False)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?$"
# an offset of hours alone too (ISO-8601's ±hh): PostgreSQL's and DuckDB's CSV write +00 and -08
_TS_TZ = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"
)
# Any decimal text of at most 15 significant digits and no exponent (so within
# float64's normal range) reads back from a float64 as the same number.
_FLOAT_DIGITS = 15


@dataclass
class Converted:
    """A converted column; ``bad`` marks values that did not fit (with reasons)."""

    array: pa.Array
    bad: pa.Array | None = None
    reasons: list[str] | None = None


def chained(first: Converted, then: Converted) -> Converted:
    """``then``, a conversion of ``first.array``, with ``first``'s bad values too (a row keeps
    the first reason it got)."""
    if first.bad is None:
        return then
    if then.bad is None:
        return Converted(then.array, first.bad, first.reasons)
    bad, reasons = _merge(first.bad, first.reasons, then.bad, then.reasons or [])
    return Converted(then.array, bad, reasons)


def _all(mask: pa.Array) -> bool:
    return bool(kernels.all(mask).as_py() is not False)


def value_bytes(arr: pa.Array) -> pa.Buffer | None:
    """The bytes of a string or binary array's values (of its slice only), without a copy."""
    offsets_buf, data = arr.buffers()[1:3]
    if data is None or len(arr) == 0:
        return None
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = pa.Array.from_buffers(
        pa.int64() if large else pa.int32(), len(arr) + 1, [None, offsets_buf], offset=arr.offset
    )
    lo, hi = offsets[0].as_py(), offsets[-1].as_py()
    return data.slice(lo, hi - lo)


def _digits(arr: pa.Array) -> pa.Array:
    """A decimal text's significant digits: no sign, exponent, point, or leading and trailing zeros."""
    data = value_bytes(arr)
    raw = data.to_pybytes() if data is not None else b""
    if b"e" in raw or b"E" in raw:
        arr = kernels.replace_substring_regex(arr, r"[eE].*$", "")
    return kernels.ascii_trim(kernels.replace_substring(arr, ".", ""), "+-0")


def float_loses(arr: pa.Array) -> pa.Array:
    """True where a decimal text is not the same number as its float64's shortest
    representation (``0.10000000000000000001``, a 20-digit integer, ``1e400``).

    Two texts that round to the same float64 and share their significant digits
    are the same number (a power of ten apart, both could not round to it), so
    the digits are all that is compared. Only values longer than 15 bytes or with
    an exponent can lose anything; values that are no float at all are not
    marked here (the cast reports them).
    """
    maybe = kernels.greater(kernels.binary_length(arr), _FLOAT_DIGITS)  # bytes: no decoding
    data = value_bytes(arr)
    raw = data.to_pybytes() if data is not None else b""
    if b"e" in raw or b"E" in raw:
        maybe = kernels.or_(maybe, kernels.match_substring(arr, "e", ignore_case=True))
    maybe = kernels.fill_null(maybe, False)
    if not kernels.any(maybe).as_py():
        return maybe
    text = kernels.filter(arr, maybe)
    try:
        floats = kernels.cast(text, pa.float64())
    except pa.ArrowInvalid:
        floats = kernels.cast(_null_where(text, cast_failures(text, pa.float64(), known_to_fail=True)), pa.float64())
    back = kernels.cast(floats, pa.string())
    differ = kernels.fill_null(kernels.not_equal(text, back), False)  # most texts are already the shortest form
    if kernels.any(differ).as_py():
        same = kernels.equal(_digits(kernels.filter(text, differ)), _digits(kernels.filter(back, differ)))
        differ = kernels.replace_with_mask(differ, differ, kernels.fill_null(kernels.invert(same), False))
    if kernels.any(differ).as_py():
        differ = _printed_to_its_digits(text, floats, differ)
    return kernels.replace_with_mask(maybe, maybe, differ)


def _printed_to_its_digits(text: pa.Array, floats: pa.Array, differ: pa.Array) -> pa.Array:
    """Of the texts that are not their float's shortest form, those that are the float
    printed to as many significant digits as they have (at most 17: C's ``%.17g``, R's
    ``digits = 17``, ``8.3945900000000009``) lose nothing either: printing the stored float
    to that precision gives them back. Checked one by one, on these values only."""
    where = kernels.indices_nonzero(differ)
    lost = [
        not _same_at_its_digits(t, f)
        for t, f in zip(kernels.take(text, where).to_pylist(), kernels.take(floats, where).to_pylist(), strict=True)
    ]
    return kernels.replace_with_mask(differ, differ, pa.array(lost, pa.bool_()))


def _same_at_its_digits(text: str | None, value: float | None) -> bool:
    if text is None or value is None or not math.isfinite(value):
        return False
    mantissa = re.split("[eE]", text.strip(), maxsplit=1)[0]
    digits = mantissa.lstrip("+-").replace(".", "").lstrip("0") or "0"
    if len(digits) > 17:
        return False
    try:
        return Decimal(text) == Decimal(f"{value:.{len(digits)}g}")
    except InvalidOperation:
        return False


# Arrow's decimal cast to text writes a value in plain digits when its scale is 6 or less, or
# it is 10**-6 or more; else scientific notation (``1.00E-7``), always for a negative scale.
_PLAIN_SCALE = 6
# The digits of a small decimal's scientific text (``-1.23E-7``: ``123``).
_SCIENTIFIC_DIGITS = r"^-?([0-9])\.?([0-9]*)E.*$"


def decimal_text(arr: pa.Array) -> pa.Array:
    """Decimals as plain digits with the scale's digits (``0.000000100``, ``12300``), column-wise:
    what SQLite, LevelDB and the rejects hold. The values Arrow's cast writes in scientific
    notation are rewritten: the few below 10**-6 from their digits, a negative scale's by a cast
    to scale 0 first."""
    t = arr.type
    if t.scale < 0:
        return _whole_decimal_text(arr)
    text = kernels.cast(arr, pa.string())
    if t.scale <= _PLAIN_SCALE:
        return text
    scientific = kernels.fill_null(kernels.match_substring(text, "E"), False)
    if not kernels.any(scientific).as_py():
        return text
    # below 10**-6: "0." and the unscaled digits, zero-padded to the scale
    small = kernels.filter(text, scientific)
    digits = kernels.utf8_lpad(kernels.replace_substring_regex(small, _SCIENTIFIC_DIGITS, r"\1\2"), t.scale, "0")
    lead = kernels.if_else(kernels.starts_with(small, "-"), "-0.", "0.")
    return kernels.replace_with_mask(text, scientific, kernels.binary_join_element_wise(lead, digits, ""))


def _whole_decimal_text(arr: pa.Array) -> pa.Array:
    """Decimals of a negative scale (whole numbers: ``1.23E+4`` is ``12300``) as plain digits."""
    t = arr.type
    precision = t.precision - t.scale  # the digits at scale 0
    if precision <= 76:
        return kernels.cast(kernels.cast(arr, decimal_type(precision, 0)), pa.string())
    return pa.array([None if v is None else value_str(v) for v in arr.to_pylist()], pa.string())


# Every integer up to 2**53 is a float64, as is every power of ten up to 10**22: a quotient
# (or product) of two such floats is the float nearest the exact value (IEEE rounds it once).
_EXACT_DIGITS = 15  # an unscaled value of 15 digits is below 2**53
_EXACT_POWER = 22


def decimal_to_float(arr: pa.Array, target: pa.DataType | None = None) -> pa.Array:
    """Decimals as the float of ``target`` (float64 by default) nearest each value, as SQL's
    CAST gives and ``float(Decimal(text))`` does. Arrow's own cast is not correctly rounded
    (0.35 comes out 0.35000000000000003), so every decimal the loader makes a float goes
    through here: the unscaled integer divided by a power of ten where both are exact floats,
    else the decimal's text read as a float (fast_float reads text correctly rounded)."""
    target = pa.float64() if target is None else target
    t = arr.type
    if pa.types.is_float64(target) and _exact_as_quotient(t) and len(arr) and arr.buffers()[1] is not None:
        whole = kernels.cast(_unscaled(arr), pa.float64())
        power = float(10 ** abs(t.scale))
        return kernels.divide(whole, power) if t.scale >= 0 else kernels.multiply(whole, power)
    text = kernels.cast(arr, pa.string())  # exact digits (scientific notation for some scales)
    try:
        return kernels.cast(text, target)
    except pa.ArrowNotImplementedError:  # no text cast to this float (float16): by way of float64
        return kernels.cast(kernels.cast(text, pa.float64()), target, safe=False)


def _exact_as_quotient(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_decimal128(t)
        and t.precision <= _EXACT_DIGITS
        and abs(t.scale) <= _EXACT_POWER
        and sys.byteorder == "little"
    )


def _unscaled(arr: pa.Array) -> pa.Array:
    """A decimal128's unscaled integers as int64, without a copy of the values: each value is
    16 bytes, little-endian, whose low 8 hold the whole integer when it has 18 digits or fewer."""
    validity, data = arr.buffers()[:2]
    halves = pa.Array.from_buffers(pa.int64(), 2 * (arr.offset + len(arr)), [None, data])
    pairs = pa.Array.from_buffers(pa.list_(pa.int64(), 2), len(arr), [validity], offset=arr.offset, children=[halves])
    return kernels.list_element(pairs, 0)


def leading_zero(arr: pa.Array, *, decimal: bool) -> pa.Array:
    """True where a number has a leading zero that a numeric type would drop:
    after an optional sign, a ``0`` followed by anything (for decimals, by a digit)."""
    zero = kernels.fill_null(kernels.starts_with(arr, "0"), False)
    data = value_bytes(arr)
    raw = data.to_pybytes() if data is not None else b""
    for sign in ("-", "+"):
        if sign.encode() in raw:  # a memchr over the column's bytes rules out most columns
            zero = kernels.or_(zero, kernels.fill_null(kernels.starts_with(arr, sign + "0"), False))
    if not kernels.any(zero).as_py():
        return zero  # the usual case, no value starts with a zero: one prefix scan, not the regex
    # The regex only for the values that start with one (0.5 is common in a float
    # column; over every value the regex costs far more than the prefix scan).
    # a float takes no 0x.. or 0b.. (its cast rejects them as no number); an integer's cast takes
    # 0x1f as 31. Other text after the zero (0.5, 0e0) is no integer at all: the cast says so.
    pattern = r"(?s)^[+-]?0[0-9]" if decimal else r"(?s)^[+-]?0[0-9xX]"
    return kernels.replace_with_mask(zero, zero, kernels.match_substring_regex(kernels.filter(arr, zero), pattern))


def zero_reason(text: str, name: str) -> str:
    """Why a value ``leading_zero`` found is rejected: its zeros would go, or its hexadecimal
    spelling (``0x1F``) would be read as a number."""
    if text.lstrip("+-")[1:2] in ("x", "X"):
        return f"'{text}' is hexadecimal text that {name} would read as a number"
    return f"'{text}' has a leading zero that {name} would drop"


def _casts_to(target: pa.DataType) -> Callable[[pa.Array], bool]:
    def check(values: pa.Array) -> bool:
        try:
            kernels.cast(values, target)
            return True
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False

    return check


def _float_exact(values: pa.Array) -> bool:
    return not (kernels.any(leading_zero(values, decimal=True)).as_py() or kernels.any(float_loses(values)).as_py())


# Proofs: cheaper checks that, when they pass, show that every value matches
# the candidate's pattern and converts without loss. An RE2 pattern costs
# several times what a cast, a prefix scan or a set lookup costs a value. A proof
# that fails decides nothing: the pattern and the loss check then run as before.
# Each rests on what Arrow's cast accepts (tested against the patterns):
# integers: [-](digits | 0x hex), so with no leading zero the pattern holds;
# floats: fast_float's grammar plus inf, infinity and nan, which the byte check
# leaves to the pattern;
# dates: exactly YYYY-MM-DD; timestamps without zone: a date, then hh, hh:mm,
# hh:mm:ss or hh:mm:ss.f{1,6}, of which the pattern takes 16 characters and up.

_NUMBER_BYTES = b"0123456789.eE+-"
_CASTS_TO_DATE = _casts_to(pa.date32())  # for dates the loss check is its own proof
BOOL_TEXT = pa.array(["true", "false", "TRUE", "FALSE", "True", "False"])


def _proves_int(values: pa.Array) -> bool:
    return _casts_to(pa.int64())(values) and not kernels.any(leading_zero(values, decimal=False)).as_py()


def _proves_float(values: pa.Array) -> bool:
    data = value_bytes(values)
    if data is not None and data.to_pybytes().translate(None, _NUMBER_BYTES):
        return False  # a letter or sign of something else (inf, nan, 1_000): the pattern decides
    return _casts_to(pa.float64())(values) and _float_exact(values)


def _proves_timestamp(values: pa.Array) -> bool:
    return _casts_to(pa.timestamp("us"))(values) and kernels.min(kernels.binary_length(values)).as_py() >= 16


def _proves_bool(values: pa.Array) -> bool:
    return _all(kernels.is_in(values, value_set=BOOL_TEXT))


# What inference tries, in order: a pattern every value must match, the type,
# what must also hold for that type to keep every value (when it does not: an
# integer beyond int64, a float with a leading zero or that float64 would
# round, an impossible date; the column stays text), and a proof of both (see above).
_CANDIDATES: tuple[
    tuple[str, pa.DataType, Callable[[pa.Array], bool] | None, Callable[[pa.Array], bool] | None], ...
] = (
    (_BOOL, pa.bool_(), None, _proves_bool),
    (_INT, pa.int64(), _casts_to(pa.int64()), _proves_int),
    (_FLOAT, pa.float64(), _float_exact, _proves_float),
    (_DATE, pa.date32(), _CASTS_TO_DATE, _CASTS_TO_DATE),
    (_TS, pa.timestamp("us"), _casts_to(pa.timestamp("us")), _proves_timestamp),
    (_TS_TZ, pa.timestamp("us", tz="UTC"), _casts_to(pa.timestamp("us", tz="UTC")), None),
)
_INT_AT, _FLOAT_AT = 1, 2  # positions in _CANDIDATES
_HEAD = 256  # a text column usually fails on its first values: the pattern tries those first

# What every value must look like to match each candidate's pattern: the characters it may
# begin with, and its least and greatest length (None: any). Tried on a piece's head before
# the patterns: a pattern's kernel compiles its regex on every call (0.1-0.3 ms, most of a
# column's guess where a wide file's pieces hold few rows), and a text column's first
# values rule out every candidate. The float's (?i:inf|nan) may fold other characters: any
# non-ASCII first character is left to its pattern.
_DIGITS = frozenset("0123456789")
_SHAPES: tuple[tuple[frozenset[str], int, int | None], ...] = (
    (frozenset("tfTF"), 4, 5),
    (_DIGITS | {"+", "-"}, 1, None),
    (_DIGITS | frozenset("+-.iInN"), 1, None),
    (_DIGITS, 10, 10),
    (_DIGITS, 16, 26),
    (_DIGITS, 17, 32),
)


class _Head:
    """A piece's first values as ``_SHAPES`` looks at them: their first characters and
    the range of their lengths."""

    def __init__(self, head: pa.Array) -> None:
        texts = head.to_pylist()
        self.firsts = {t[:1] for t in texts}
        lengths = [len(t) for t in texts]
        self.shortest, self.longest = (min(lengths), max(lengths)) if lengths else (0, 0)
        self.seen = bool(texts)

    def may_match(self, i: int) -> bool:
        """Whether every value may match candidate ``i``'s pattern (False: one cannot)."""
        starts, shortest, longest = _SHAPES[i]
        if not self.seen:
            return True  # no head: the pattern over every value decides
        if self.shortest < shortest or (longest is not None and self.longest > longest):
            return False
        return all(f in starts or (i == _FLOAT_AT and f > "\x7f") for f in self.firsts)


@functools.lru_cache(maxsize=64)
def _na_array(na: tuple[str, ...]) -> pa.Array:
    return pa.array(na, pa.string())


def _is_na(arr: pa.Array, na: tuple[str, ...]) -> pa.Array:
    """Where a text column holds one of the ``na`` spellings (a hash lookup a value)."""
    return kernels.is_in(arr, value_set=kernels.cast(_na_array(na), arr.type))


def _nulls_na(na: tuple[str, ...], target: pa.DataType, strict: bool, na_text: bool) -> bool:
    """Whether text's ``na`` spellings are nulled before it converts to ``target``: in a
    text target they stay text unless ``na_text``."""
    if not na:
        return False
    return na_text or (not is_text(target) and _na_first(na, target, strict))


@functools.lru_cache(maxsize=256)
def _na_first(na: tuple[str, ...], target: pa.DataType, strict: bool) -> bool:
    """Whether ``na`` spellings must be nulled before converting to ``target``: some
    spelling would convert (``-999``) or be rejected by a strict check (``007``).
    Otherwise a clean column needs no lookup at all: only a failed cast looks for them."""
    if pa.types.is_null(target):  # a column with no value yet: its spellings are no value either
        return True
    values = _na_array(na)
    if not _all(cast_failures(values, target)):
        return True
    numeric = pa.types.is_integer(target) or pa.types.is_floating(target)
    if not (strict and numeric):
        return False
    floating = pa.types.is_floating(target)
    return bool(
        kernels.any(leading_zero(values, decimal=floating)).as_py()
        or (floating and kernels.any(float_loses(values)).as_py())
    )


@functools.lru_cache(maxsize=64)
def _na_typed(na: tuple[str, ...]) -> bool:
    """Whether some ``na`` spelling matches a typed candidate's pattern (``-999``)."""
    guess = TypeGuess()
    guess.add(_na_array(na))
    return any(guess.matching)


class TypeGuess:
    """Infers a text column's type from a sample fed in pieces, so a reader
    never holds the whole sample. Pieces may be guessed apart, on several
    threads, and merged in order.

    Values spelled as in ``na`` (``NA``, ``N/A``) are set aside: a column that is
    typed but for them takes that type (they load as NULL); any other text makes
    it text, and they stay text."""

    def __init__(self, start: TypeGuess | None = None, *, na: Sequence[str] = (), presence: bool = False) -> None:
        """``start``: begin from what another guess has ruled out already (and its ``na``).
        ``presence``: only whether the column holds a value is asked (its type is settled):
        values are counted, no type is checked."""
        self.na: tuple[str, ...] = start.na if start is not None else tuple(na)
        self.presence: bool = start.presence if start is not None else presence
        self.matching: list[bool] = (
            list(start.matching) if start else [True] * len(_CANDIDATES)
        )  # every value so far matches the pattern
        self.exact: list[bool] = (
            list(start.exact) if start else [True] * len(_CANDIDATES)
        )  # ... and converts without loss
        self.values = 0  # values but nulls and ``na`` spellings (any, once the column is text)

    def add(self, sample: pa.Array) -> None:
        count = len(sample) - sample.null_count
        if count == 0:
            return
        if self.presence:
            values = kernels.drop_null(sample)
            self.values += len(self._without_na(values) if self.na else values)
            return
        if not any(self.matching):
            self.values += count
            return  # text already: nothing to check, and no copy without the nulls
        values = kernels.drop_null(sample)
        if self.na and _na_typed(self.na):
            values = self._without_na(values)  # a spelling passes some check: set aside first
        elif self.na:
            # No spelling matches a pattern, so a piece holding one rules a candidate out:
            # a clean piece of a typed column needs no lookup.
            before = (list(self.matching), list(self.exact))
            self._check(values)
            if (self.matching, self.exact) == before:
                self.values += len(values)
                return
            without = self._without_na(values)
            if len(without) == len(values):
                self.values += len(values)
                return
            self.matching, self.exact = before
            values = without
        self.values += len(values)
        if len(values):
            self._check(values)  # with only missing values a piece has no say in the type

    def _without_na(self, values: pa.Array) -> pa.Array:
        missing = _is_na(values, self.na)
        return kernels.filter(values, kernels.invert(missing)) if kernels.any(missing).as_py() else values

    def _check(self, values: pa.Array) -> None:
        """Rule out the candidates some of ``values`` (no nulls) do not fit."""
        integers = False  # every value here matched the integer pattern
        head = values.slice(0, _HEAD)
        shape = _Head(head) if is_text(head.type) else None
        for i, (pattern, _, lossless, proof) in enumerate(_CANDIDATES):
            if not self.matching[i]:
                continue
            if i == _FLOAT_AT and integers:
                # An integer's text matches the float pattern and has no leading zero
                # a float drops: only rounding can still lose (one check, not three).
                if self.exact[i] and kernels.any(float_loses(values)).as_py():
                    self.exact[i] = False
                continue
            if (shape is not None and not shape.may_match(i)) or not _all(kernels.match_substring_regex(head, pattern)):
                self.matching[i] = False
                continue
            if proof is not None and proof(values):
                integers = integers or i == _INT_AT
                continue  # matching and exact hold for these values
            if not _all(kernels.match_substring_regex(values, pattern)):
                self.matching[i] = False
                continue
            integers = integers or i == _INT_AT
            # A loss check that is also the proof has just failed: no second run.
            if self.exact[i] and lossless is not None and (lossless is proof or not lossless(values)):
                self.exact[i] = False

    def as_text(self) -> TypeGuess:
        """This guess with every typed candidate ruled out: the column is text."""
        self.matching = [False] * len(self.matching)
        return self

    def merge(self, other: TypeGuess) -> TypeGuess:
        """Fold in the guess from another part of the sample, as if fed here."""
        self.matching = [a and b for a, b in zip(self.matching, other.matching, strict=True)]
        self.exact = [a and b for a, b in zip(self.exact, other.exact, strict=True)]
        self.values += other.values
        return self

    def result(self) -> pa.DataType:
        """The narrowest type that holds every value seen without loss."""
        if self.values:
            for (_, candidate, _, _), matching, exact in zip(_CANDIDATES, self.matching, self.exact, strict=True):
                if matching:
                    return candidate if exact else pa.string()
        return pa.string()

    def may_be_dated(self, sample: pa.Array) -> bool:
        """Whether each value of ``sample`` (nulls and ``na`` spellings aside) is a date or a
        timestamp, though the guess made of them all is text: parts of it that are dates and
        parts that are timestamps each have a dated type of their own (``schema.unify``)."""
        if not self.values or not is_text(self.result()):
            return False
        values = kernels.drop_null(kernels.cast(sample, pa.string()))
        if self.na:
            values = self._without_na(values)
        return bool(len(values)) and _all(kernels.match_substring_regex(values, _DATED))


_DATED = "|".join(f"(?:{pattern})" for pattern in (_DATE, _TS, _TS_TZ))


def infer_type(sample: pa.Array) -> pa.DataType:
    """The narrowest type that holds every value of a text sample without loss."""
    guess = TypeGuess()
    guess.add(sample)
    return guess.result()


def other_type_holds(values: Sequence[Any], *, style: NumberStyle | None = None) -> list[bool]:
    """For each rejected value (as its reject holds it), whether a type but text would hold
    it: the source typed it (a JSON number, a Parquet date), inference's candidates would
    (``30.5``, ``2024-01-05 10:00``, ``true``), or it is a number only text keeps (past
    int64, rounded by float64, ``007``). False for text that is a value of no type but text
    (``2024-13-05``, ``x``, ``1.2.3``): a typo to fix in the file, not a type to change.
    ``style``: how numbers are written (``source.decimal_separator``, ``source.thousands_separator``)."""
    held = [True] * len(values)
    texts: list[str] = []
    at: list[int] = []
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:  # no text at all: only the column's own bytes hold it
                held[i] = False
                continue
        if isinstance(v, str):
            texts.append(v)
            at.append(i)
    if texts:
        for i, typed in zip(at, _text_typed(pa.array(texts, pa.string()), style).to_pylist(), strict=True):
            held[i] = typed
    return held


def _text_typed(text: pa.Array, style: NumberStyle | None) -> pa.Array:
    """Where ``text`` (no nulls) is a value of a candidate's type (``other_type_holds``)."""
    numbers = text
    if style is not None and not style.plain:  # 1.500 is a thousand with a decimal comma
        from .readers.decimal_comma import pointed, strays  # (it imports this module)

        numbers = _null_where(kernels.cast(pointed(text, style), pa.string()), strays(text, style))
    # a leading zero (007, 0x1F): a number that only text keeps as written
    typed = leading_zero(numbers, decimal=False)
    if kernels.any(typed).as_py():
        zeros = kernels.filter(numbers, typed)
        number = kernels.invert(kernels.and_(cast_failures(zeros, pa.int64()), cast_failures(zeros, pa.float64())))
        typed = kernels.replace_with_mask(typed, typed, number)
    for pattern, t, _, _ in _CANDIDATES:
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
        match = kernels.fill_null(kernels.match_substring_regex(numbers if numeric else text, pattern), False)
        if numeric or not kernels.any(match).as_py():
            typed = kernels.or_(typed, match)  # a number's loss (past int64, rounding) is text's to keep
            continue
        # a date's or timestamp's pattern takes impossible ones (2024-13-05): its cast does not
        fits = kernels.invert(cast_failures(kernels.filter(text, match), t))
        typed = kernels.or_(typed, kernels.replace_with_mask(match, match, fits))
    return typed


def _merge(
    bad: pa.Array | None, reasons: list[str] | None, new_bad: pa.Array, why: list[str]
) -> tuple[pa.Array, list[str]]:
    """Combine two bad-masks; a row keeps the first reason it got."""
    if bad is None:
        return new_bad, why
    out_reasons: list[str] = []
    it_old = iter(reasons or [])
    it_new = iter(why)
    for old, new in zip(bad.to_pylist(), new_bad.to_pylist(), strict=True):
        if old and new:
            out_reasons.append(next(it_old))
            next(it_new)
        elif old:
            out_reasons.append(next(it_old))
        elif new:
            out_reasons.append(next(it_new))
    return kernels.or_(bad, new_bad), out_reasons


def bytes_as_text(value: Any) -> Any:
    """Bytes as text, those that are not UTF-8 shown as ``\\xNN``; anything else as it is."""
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _value_text(value: object) -> str:
    text = value_str(bytes_as_text(value))
    return text if len(text) <= 60 else text[:57] + "..."


ReasonOf = Callable[[Any], str]  # a bad value -> why it is bad


def _mark(arr: pa.Array, mask: pa.Array, reason_of: ReasonOf) -> tuple[pa.Array, list[str]]:
    mask = kernels.fill_null(mask, False)
    idx = kernels.indices_nonzero(mask).to_pylist()
    # as Python holds them, or as ISO text where it cannot (nanoseconds, years past 9999)
    values = column_values(kernels.take(arr, pa.array(idx, pa.int64()))) if idx else []
    return mask, [reason_of(v) for v in values]


def _null_where(arr: pa.Array, mask: pa.Array) -> pa.Array:
    return kernels.if_else(mask, pa.scalar(None, arr.type), arr)


_ONE_BY_ONE = 16  # below this many values, bisecting costs more than casting each


def cast_failures(arr: pa.Array, target: pa.DataType, *, known_to_fail: bool = False) -> pa.Array:
    """Which values fail to cast to ``target``: halves that cast are cleared whole,
    so the per-value casts run near the failing values only."""
    bad: list[int] = []

    def fails(values: pa.Array) -> bool:
        try:
            kernels.cast(values, target)
            return False
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            return True

    def visit(lo: int, hi: int) -> None:
        if hi - lo > _ONE_BY_ONE:
            mid = (lo + hi) // 2
            for a, b in ((lo, mid), (mid, hi)):
                if fails(arr.slice(a, b - a)):
                    visit(a, b)
            return
        bad.extend(i for i in range(lo, hi) if arr[i].is_valid and fails(arr.slice(i, 1)))

    if known_to_fail or fails(arr):
        visit(0, len(arr))
    return mask_of(bad, len(arr))


def mask_of(indices: list[int], n: int) -> pa.Array:
    """A mask of ``n`` values true at ``indices``, from a bitmap (no list of ``n``;
    ``pa.repeat`` would import ``pyarrow.compute``)."""
    bitmap = bytearray((n + 7) // 8)
    for i in indices:
        bitmap[i >> 3] |= 1 << (i & 7)
    return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bitmap)])


@dataclass
class _Column:
    """A column on its way to its target type: values found bad so far are nulled in ``arr``."""

    arr: pa.Array
    bad: pa.Array | None = None
    reasons: list[str] | None = None

    def reject(self, mask: pa.Array, reason_of: ReasonOf, shown: pa.Array | None = None) -> None:
        """Mark the values under ``mask`` bad, each with ``reason_of(value)``, and null them;
        ``shown``: the values as the reason gives them, where not ``arr``'s own."""
        if not kernels.any(kernels.fill_null(mask, False)).as_py():
            return
        mask, why = _mark(self.arr if shown is None else shown, mask, reason_of)
        self.bad, self.reasons = _merge(self.bad, self.reasons, mask, why)
        self.arr = _null_where(self.arr, mask)

    def done(self, array: pa.Array) -> Converted:
        return Converted(array, self.bad, self.reasons)


def convert(
    arr: pa.Array,
    target: pa.DataType,
    *,
    strict: bool = False,
    encoding: str = "utf-8",
    may_hold_nul: bool = False,
    na: tuple[str, ...] = (),
    explicit: bool = False,
    na_text: bool = False,
) -> Converted:
    """Convert ``arr`` to ``target``; values that do not fit are reported, not mangled.

    Raw CSV columns arrive as binary: they are checked for valid UTF-8 (and NUL
    bytes, below) first. ``strict`` (for inferred types) also refuses values a numeric
    type would silently change: leading zeros, and decimals that float64
    would round. ``encoding`` names the source's text encoding in the
    reason when its bytes were transcoded and some did not decode.
    ``may_hold_nul=True`` rejects a value holding a NUL byte: CSV's rule, its callers ask
    for it when a block holds one; text a file types itself (Parquet, Arrow, JSON) keeps
    its NUL. Text in ``na`` (``NA``, ``N/A``) converts to
    NULL for any target but text. ``explicit``: a cast the user wrote (the ``cast`` stage,
    an expression's ``cast()``), which turns a number into a boolean (zero is false) and a
    boolean into 1 or 0, as SQL's CAST does; a type read or recorded never does.
    ``na_text``: text in ``na`` is NULL in a text target too (the file holds no other
    value in the column, which was null there).
    """
    if explicit and is_numeric(arr.type) and _dated(target):
        _refuse_number_as_date(arr.type, target)
    col = _Column(arr)
    _text_first(col, target, encoding, explicit)
    if is_text(col.arr.type):
        if may_hold_nul:
            col.reject(_nul_held(col.arr, na), lambda v: "NUL byte in value")
        if _nulls_na(na, target, strict, na_text):
            col.arr = _null_where(col.arr, _is_na(col.arr, na))
            na = ()
        if is_text(target):
            return col.done(kernels.cast(col.arr, target))
        if strict:
            _refuse_silent_changes(col, target)
        _refuse_loose_bools(col, target, na, explicit)
        _refuse_hex(col, target)
    elif col.arr.type.equals(target):
        return col.done(col.arr)
    elif is_text(target):
        _refuse_repeated_map_keys(col)
        text = _stored_text(col.arr)
        if text is not None:
            return col.done(kernels.cast(text, target))
    return _cast(col, target, na, explicit)


def _nul_held(arr: pa.Array, na: tuple[str, ...]) -> pa.Array:
    """Where text holds a NUL byte, but for an na spelling's sentinel (a CSV spelling with
    the escape, matched as written: ``escapes.na_spellings``), which is no data."""
    nul = kernels.match_substring(arr, "\x00")
    if any("\x00" in s for s in na):
        nul = kernels.and_not(nul, _is_na(arr, na))
    return nul


def _refuse_repeated_map_keys(col: _Column) -> None:
    """A map that repeats a key, stored as its JSON text (its column is text in the load),
    would keep one value of the key: its value is rejected (``repeated_map_keys``)."""
    from .writers.encode import repeated_map_keys  # (the writers import this module)

    found = repeated_map_keys(col.arr, None)
    if found is not None:
        mask, reasons = found
        shown = kernels.replace_with_mask(pa.nulls(len(mask), pa.string()), mask, pa.array(reasons, pa.string()))
        col.reject(mask, str, shown)


def _refuse_number_as_date(source: pa.DataType, target: pa.DataType) -> NoReturn:
    """A cast asked for refuses a number into a date, time or timestamp, as SQL's CAST does, for
    every type alike: Arrow casts an int32 or int64 as a count since the epoch or midnight in
    the target's unit (``20240101`` a date in year 57385) and has no cast from the others."""
    raise pa.ArrowNotImplementedError(f"Unsupported cast from {source} to {target}: a number is no date or time")


def _text_first(col: _Column, target: pa.DataType, encoding: str, explicit: bool) -> None:
    """Bytes as the text they hold; a typed value of another kind as its text (``_through_text``)."""
    if not explicit and _through_text(col.arr.type, target):
        col.arr = text_form(col.arr)  # then read as a CSV file's text of the same value would be
    elif is_bytes(col.arr.type) and not is_bytes(target):
        _decode(col, encoding)


def _through_text(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a typed value converts to ``target`` by way of its text (``text_form``), as the
    same value in a CSV file would: Arrow has no cast between the two kinds (a time or a bool
    into a date), or its cast would make a number a count since the epoch or midnight, or
    drop a timestamp's date. Not for a kind ``_kind_change`` rejects as it is, nor for a target
    no text converts to (a list, an interval)."""
    if source.equals(target) or is_text(source) or is_bytes(source) or pa.types.is_dictionary(source):
        return False
    if is_text(target) or pa.types.is_null(target) or _kind_change(source, target) is not None:
        return False
    if (is_numeric(source) and _dated(target)) or (pa.types.is_timestamp(source) and pa.types.is_time(target)):
        return True
    return _no_cast(source, target) and _text_converts_to(target)


def _text_converts_to(target: pa.DataType) -> bool:
    """Whether text converts to ``target``: by Arrow's cast, or as a time of day or a duration's count."""
    return pa.types.is_time(target) or pa.types.is_duration(target) or not _no_cast(pa.string(), target)


@functools.lru_cache(maxsize=256)
def _no_cast(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether Arrow has no cast from ``source`` to ``target`` at all."""
    try:
        kernels.cast(pa.nulls(0, source), target)
    except pa.ArrowNotImplementedError:
        return True
    except pa.ArrowInvalid:
        return False
    return False


def text_form(arr: pa.Array) -> pa.Array:
    """Any column's values as the loader's one text form: what a TEXT column stores and
    ``cast(x, 'string')``, ``concat`` and ``validate``'s ``length`` and ``regex`` read
    (``2.0``, ``-0.0``, ``2024-01-01T10:00:00.000000``, ``...Z`` for a zoned timestamp, ``true``)."""
    if is_text(arr.type):
        return arr
    text = _stored_text(arr)
    if text is not None:
        return text
    try:
        return kernels.cast(arr, pa.string())
    except pa.ArrowInvalid:  # bytes that are not UTF-8: null, as cast(x, 'string') makes them
        bad = cast_failures(arr, pa.string(), known_to_fail=True)
        return kernels.cast(kernels.if_else(bad, pa.scalar(None, arr.type), arr), pa.string())


def _stored_text(arr: pa.Array) -> pa.Array | None:
    """Values as the text the targets store for them, where Arrow's cast writes other text:
    a decimal's digits (not ``1E-9``), ISO dates and times, floats with their point (``2.0``)
    and a float32 as the float64 it widens to (``0.10000000149011612``, not ``0.1``)."""
    from .writers.encode import float_text, iso_text  # (the writers import this module)

    t = arr.type
    nested = _nested_text(arr)  # a list or struct as the JSON text the targets store for it
    if nested is not None:
        return nested
    if pa.types.is_decimal(t):
        return decimal_text(arr)
    if _dated(t) or pa.types.is_interval(t):
        return iso_text(arr)
    if pa.types.is_floating(t):
        return float_text(kernels.cast(arr, pa.float64()))
    return None


def uuid_text(arr: pa.Array) -> pa.Array:
    """16-byte UUIDs as their canonical text, lower-case 8-4-4-4-12 hex, as DuckDB, pandas and
    Python print them: the text the files that hold a UUID as text have (decoding the bytes as
    UTF-8 would reject most and garble the rest)."""
    return pa.array([None if v is None else str(uuid.UUID(bytes=v)) for v in arr.to_pylist()], pa.string())


def _emptied(col: _Column) -> Converted:
    """A column settled as holding no value (``null``: no file had one): a value is rejected,
    not dropped."""
    col.reject(kernels.is_valid(col.arr), lambda v: f"'{_value_text(v)}' in a column no file had a value in")
    return col.done(pa.nulls(len(col.arr)))


def _dated(t: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t))


def _decode(col: _Column, encoding: str) -> None:
    """Binary to text; values that are not valid text are rejected."""
    try:
        col.arr = kernels.cast(col.arr, pa.string())
        return
    except pa.ArrowInvalid:
        invalid = cast_failures(col.arr, pa.string(), known_to_fail=True)
    # quoted as the reject's values show them: a repr would double each \xNN's backslash
    if codecs.lookup(encoding).name == "utf-8":
        col.reject(invalid, lambda v: f"{NOT_UTF8} '{_value_text(v)}'")
    else:  # the bytes came through a transcoder: they were invalid in the source encoding
        col.reject(invalid, lambda v: f"not valid {encoding} text: '{_value_text(v)}'")
    col.arr = kernels.cast(col.arr, pa.string())


def _text_count(col: _Column, target: pa.DataType) -> None:
    """Text into a duration (Arrow has no such cast) as the whole count of its unit that the
    targets store for one (``90``); other text (``1.5``, ``007``, ``x``) is rejected."""
    if not (pa.types.is_duration(target) and is_text(col.arr.type)):
        return
    name = type_name(target)
    col.reject(leading_zero(col.arr, decimal=False), lambda v: zero_reason(_value_text(v), name))
    col.reject(
        cast_failures(col.arr, pa.int64()), lambda v: f"'{_value_text(v)}' is not a valid {name} (a count of its unit)"
    )
    col.arr = kernels.cast(col.arr, pa.int64())


# an interval as the targets store it (``writers.encode.interval_text``): P<months>M<days>DT<seconds>S
_INTERVAL_TEXT = re.compile(r"P(-?\d+)M(-?\d+)DT(-?\d+(?:\.\d{1,9})?)S")


def _text_interval(col: _Column, target: pa.DataType) -> None:
    """Text into a month-day-nanosecond interval (Arrow has no such cast; a replay's values are
    text) read in the one spelling the targets store for it, ``P1M2DT0.003S``; other text, or
    a part Arrow cannot hold, is rejected."""
    if not (pa.types.is_interval(target) and is_text(col.arr.type)):
        return
    values = [None if v is None else _interval(v) for v in col.arr.to_pylist()]
    bad = kernels.and_(kernels.is_valid(col.arr), pa.array([v is None for v in values]))
    name = type_name(target)
    col.reject(bad, lambda v: f"'{_value_text(v)}' is not a valid {name} (as P1M2DT0.5S: months, days, seconds)")
    col.arr = pa.array(values, target)


def _interval(text: str) -> tuple[int, int, int] | None:
    """The months, days and nanoseconds of an interval's text, or None where it is none."""
    m = _INTERVAL_TEXT.fullmatch(text)
    if m is None:
        return None
    months, days = int(m.group(1)), int(m.group(2))
    nanoseconds = int(Decimal(m.group(3)).scaleb(9))
    # Arrow holds months and days in 32 bits, nanoseconds in 64
    if not (min(months, days) >= -(1 << 31) and max(months, days) < 1 << 31 and -(1 << 63) <= nanoseconds < 1 << 63):
        return None
    return months, days, nanoseconds


# an offset with seconds, as Python writes a zone's local mean time (Europe/Amsterdam before 1937: +00:19:32)
_OFFSET_SECONDS = r"[+-]\d\d:\d\d:\d\d(\.\d{1,6})?$"


def _text_offset_seconds(col: _Column, target: pa.DataType) -> None:
    """Text into a zoned timestamp whose offset has seconds (Python's and pandas' text of a
    pre-1940 time in many zones, a reject file's too), which Arrow does not read, as the same
    instant in UTC; text Python does not read either is left for the cast to reject."""
    if not (is_zoned(target) and is_text(col.arr.type)):
        return
    found = kernels.fill_null(kernels.match_substring_regex(col.arr, _OFFSET_SECONDS), False)
    if not kernels.any(found).as_py():
        return
    texts = kernels.filter(col.arr, found).to_pylist()
    col.arr = kernels.replace_with_mask(col.arr, found, pa.array([_in_utc(t) for t in texts], col.arr.type))


def _in_utc(text: str) -> str:
    """A timestamp's text with an offset as the same instant in UTC, or as it is where Python cannot read it."""
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC).isoformat()
    except ValueError:
        return text


_TIME_TEXT = r"^\d\d:\d\d(:\d\d(\.\d+)?)?$"  # hh:mm[:ss[.fraction]], as the targets store a time


FRACTION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _text_fraction(col: _Column, target: pa.DataType) -> None:
    """Text into a time or timestamp whose fraction has more digits than the unit counts: Arrow
    refuses them all, zeros too (``01:00:00.500000`` into a ``time32[ms]``, as the targets write a
    finer unit's value). Zeros past the unit are dropped; a value with other digits there is
    rejected as one the unit would change."""
    if not (is_text(col.arr.type) and (pa.types.is_time(target) or pa.types.is_timestamp(target))):
        return
    digits = FRACTION_DIGITS[target.unit]
    # the shortest text with a digit past the unit: hh:mm:ss. or yyyy-mm-ddThh:mm:ss., the unit's
    # digits and one more; a column of shorter text (as most are) is spared the regex's pass
    shortest = (9 if pa.types.is_time(target) else 20) + digits + 1
    longest = kernels.max(kernels.binary_length(col.arr)).as_py()
    if longest is None or longest < shortest:
        return
    if not kernels.any(kernels.match_substring_regex(col.arr, rf"\.\d{{{digits + 1}}}")).as_py():
        return
    head = rf"(\.\d{{{digits}}})" if digits else r"\."
    kept = r"\1" if digits else ""
    trimmed = kernels.replace_substring_regex(col.arr, rf"{head}0+(\D|$)", rf"{kept}\{1 + bool(digits)}")
    cut = kernels.replace_substring_regex(trimmed, rf"{head}\d+", kept)  # the digits past the unit dropped
    finer = kernels.not_equal(cut, trimmed)
    changed = kernels.and_(kernels.not_equal(trimmed, col.arr), _reads_as(trimmed, target))
    col.arr = kernels.if_else(kernels.fill_null(changed, False), trimmed, col.arr)
    name, unit = type_name(target), _UNIT_NAMES[target.unit]
    col.reject(
        kernels.and_(finer, _reads_as(cut, target)),
        lambda v: f"'{_value_text(v)}' has digits below a {unit} that {name} would drop",
    )


def _reads_as(text: pa.Array, target: pa.DataType) -> pa.Array:
    """Where text reads as a value of the time or timestamp ``target`` (as ``_text_time`` reads a time)."""
    if pa.types.is_timestamp(target):
        return kernels.invert(cast_failures(text, target))
    shaped = kernels.fill_null(kernels.match_substring_regex(text, _TIME_TEXT), False)
    return kernels.and_(shaped, kernels.invert(cast_failures(_on_epoch_day(text), pa.timestamp(target.unit))))


def _text_time(col: _Column, target: pa.DataType) -> None:
    """Text into a time of day (Arrow has no such cast, as when a CSV file comes into a column an
    earlier run's Parquet file made a time): ``hh:mm[:ss[.fraction]]`` within a day, read on the
    epoch's day; other text, or a fraction finer than the unit, is rejected."""
    if not (pa.types.is_time(target) and is_text(col.arr.type)):
        return
    name, day = type_name(target), pa.timestamp(target.unit)

    def reason(v: Any) -> str:
        return f"'{_value_text(v)}' is not a valid {name}"

    shaped = kernels.fill_null(kernels.match_substring_regex(col.arr, _TIME_TEXT), True)
    col.reject(kernels.invert(shaped), reason)
    col.reject(cast_failures(_on_epoch_day(col.arr), day), reason)
    count = kernels.cast(_on_epoch_day(col.arr), day).view(pa.int64())
    if pa.types.is_time32(target):
        count = kernels.cast(count, pa.int32())  # within a day: a count of seconds or milliseconds fits
    col.arr = count.view(target)


def _on_epoch_day(text: pa.Array) -> pa.Array:
    return kernels.binary_join_element_wise("1970-01-01T", text, "")


def _refuse_silent_changes(col: _Column, target: pa.DataType) -> None:
    """Reject text a numeric ``target`` would change: leading zeros, decimals float64 rounds,
    and text a decimal would store spelled otherwise (``_refuse_respelled``)."""
    is_float, is_decimal = pa.types.is_floating(target), pa.types.is_decimal(target)
    if not (is_float or is_decimal or pa.types.is_integer(target)):
        return
    name = type_name(target)
    col.reject(
        leading_zero(col.arr, decimal=is_float or is_decimal),
        lambda v: zero_reason(_value_text(v), name) + " (declare the column as string to keep it)",
    )
    if is_float:
        col.reject(
            float_loses(col.arr),
            lambda v: (
                f"{_value_text(v)!r} would be stored as {float(v)!r} by {name} "
                "(declare the column as decimal(p, s) or string)"
            ),
        )
    if is_decimal:
        _refuse_respelled(col, target)


# A plus sign or an exponent: text a decimal reads, but stores spelled otherwise.
_RESPELLED = r"^\+|[eE]"


def _refuse_respelled(col: _Column, target: pa.DataType) -> None:
    """A decimal stores a number's digits as written (``1.50``), so text it would store spelled
    otherwise is rejected, as a leading zero is: a plus sign it drops (``+44``, a phone number)
    and an exponent it writes out (``1e1`` as ``10``, as a part code ``1E5`` would be). Text
    that is no number at all is left to the cast's reason."""
    data = value_bytes(col.arr)
    raw = data.to_pybytes() if data is not None else b""
    if b"+" not in raw and b"e" not in raw and b"E" not in raw:
        return  # a memchr rules out nearly every column
    marked = kernels.fill_null(kernels.match_substring_regex(col.arr, _RESPELLED), False)
    if not kernels.any(marked).as_py():
        return
    unread = cast_failures(kernels.filter(col.arr, marked), target)
    marked = kernels.replace_with_mask(marked, marked, kernels.invert(unread))
    name = type_name(target)

    def reason(v: Any) -> str:
        text = _value_text(v)
        if text.startswith("+"):
            return f"{text!r} has a plus sign that {name} would drop (declare the column as string to keep it)"
        stored = decimal_text(kernels.cast(pa.array([v], pa.string()), target))[0].as_py()
        return f"{text!r} would be stored as {stored} by {name} (declare the column as string to keep it)"

    col.reject(marked, reason)


def _cast(col: _Column, target: pa.DataType, na: tuple[str, ...], explicit: bool = False) -> Converted:
    """Cast the column; when that fails, the values that do not cast are rejected one by one."""
    if pa.types.is_null(target):
        return _emptied(col)
    _text_count(col, target)
    _text_interval(col, target)
    _text_offset_seconds(col, target)
    _text_fraction(col, target)
    _text_time(col, target)
    kind = _kind_change(col.arr.type, target, explicit)
    if kind is not None:  # every value would change what it is: none is cast
        col.reject(kernels.is_valid(col.arr), kind, _nested_text(col.arr))
        return col.done(pa.nulls(len(col.arr), target))
    if pa.types.is_floating(col.arr.type) and pa.types.is_decimal(target):
        return _float_to_decimal(col, target)
    if pa.types.is_integer(col.arr.type) and pa.types.is_decimal(target):
        # Arrow refuses an integer type no decimal of this precision holds whole (int64 into
        # decimal(10, 2)): by way of the widest decimal, each value is checked instead
        wide = pa.decimal256(76, target.scale) if target.precision > 38 else pa.decimal128(38, target.scale)
        col.arr = kernels.cast(col.arr, wide)
    try:
        return _unchanged(col, _cast_values(col.arr, target), target, explicit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if isinstance(exc, pa.ArrowNotImplementedError) and len(col.arr) and kernels.count(col.arr).as_py():
            # No conversion exists at all: a config problem, not a row problem.
            raise
    if na and is_text(col.arr.type):
        cast = _cast_without_na(col, target, na)
        if cast is not None:
            return cast
    shown = None
    if is_text(col.arr.type) and pa.types.is_integer(target):
        col.arr, shown = _whole_numbers(col.arr, target), col.arr  # a reason shows the text as written
    col.reject(cast_failures(col.arr, target, known_to_fail=shown is None), _cast_reason(col.arr.type, target), shown)
    return _unchanged(col, _cast_values(col.arr, target), target, explicit)


# A whole number written with a point and zeros only after it (``2.0``, ``-0.00``, ``2.``): its
# digits before the point, cut in one pass (pandas writes a whole column so where one value is
# missing). Other spellings of a number with a point or an exponent go through Decimal.
_POINT_ZEROS = r"^(-?[0-9]+)\.0*$"
_POINT_OR_EXPONENT = r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+$|^-?[0-9]*\.[0-9]+$"


def _whole_numbers(text: pa.Array, target: pa.DataType) -> pa.Array:
    """``text`` with each number whose exact decimal value is a whole number ``target`` holds
    (``2.0``, ``-0.0``, ``1e+16``, ``1.5e3``) as that integer's digits, as a Parquet file's whole
    float casts to it; other text as it is. Decided from the digits, never through a float
    (``12345678901234567.0`` is 12345678901234567). Only for text the integer cast refused."""
    cut = kernels.replace_substring_regex(text, _POINT_ZEROS, r"\1")
    rest = kernels.fill_null(kernels.match_substring_regex(cut, _POINT_OR_EXPONENT), False)
    if not kernels.any(rest).as_py():
        return cut
    low, high = int_range(target)
    spelled = kernels.filter(cut, rest).to_pylist()
    digits = [_whole_digits(s, low, high) or s for s in spelled]
    return kernels.replace_with_mask(cut, rest, pa.array(digits, cut.type))


def _whole_digits(text: str, low: int, high: int) -> str | None:
    """The digits of the integer ``text`` (a number's text) is exactly, if within
    ``low``..``high``; else None."""
    try:
        number = Decimal(text)  # exact: the constructor never rounds
    except InvalidOperation:  # an exponent past Decimal's own (1e999999999999999999)
        return None
    if number.is_zero():
        return "0"
    if not 0 <= number.adjusted() < 20:  # below 1, or past any 64-bit integer: no int() of 1e999999
        return None
    whole = int(number)
    return str(whole) if whole == number and low <= whole <= high else None


def _cast_values(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """Arrow's cast, but a decimal becomes the float nearest it (``decimal_to_float``)."""
    if pa.types.is_decimal(arr.type) and pa.types.is_floating(target):
        return decimal_to_float(arr, target)
    if pa.types.is_integer(arr.type) and pa.types.is_floating(target):
        # Arrow's safe cast refuses every integer past the float's exact range (2**60 too, which
        # float64 holds): cast as is, and ``_changed_by_cast`` rejects the integers that round
        return kernels.cast(arr, target, safe=False)
    try:
        return kernels.cast(arr, target)
    except pa.ArrowInvalid:
        if not _ints_into_floats(arr.type, target):
            raise
        return kernels.cast(arr, target, safe=False)  # as at top level, inside lists and structs


def _ints_into_floats(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether nested ``source`` and ``target`` differ in integers that become floats only
    (``list<int64>`` into ``list<double>``), each other value kept as it is."""
    if pa.types.is_integer(source) and pa.types.is_floating(target):
        return True
    if pa.types.is_struct(source) and pa.types.is_struct(target):
        names = [f.name for f in source] == [f.name for f in target]
        return names and all(_ints_into_floats(a.type, b.type) for a, b in zip(source, target, strict=True))
    if pa.types.is_map(source) and pa.types.is_map(target):
        keys = _ints_into_floats(source.key_type, target.key_type)
        return keys and _ints_into_floats(source.item_type, target.item_type)
    if _listed(source) and _listed(target):  # a list and a large list alike
        return _ints_into_floats(source.value_type, target.value_type)
    fixed = pa.types.is_fixed_size_list(source) and pa.types.is_fixed_size_list(target)
    if fixed and source.list_size == target.list_size:
        return _ints_into_floats(source.value_type, target.value_type)
    return bool(source.equals(target))


def _listed(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t))


def _float_to_decimal(col: _Column, target: pa.DataType) -> Converted:
    """Floats as the decimals their shortest text says (0.35 is 0.350 in a ``decimal(10, 3)``,
    not the binary value's 0.34999999999999997...), as SQL reads a number: one that would need
    rounding to the scale, or that the precision does not hold, is rejected. A float32 or float16
    is the float64 it widens to, as everywhere (its 0.1 is 0.10000000149011612), not its own
    shortest text."""
    wide = kernels.cast(col.arr, pa.float64())  # exact: every narrower float is a float64
    col.arr = kernels.cast(wide, pa.string())  # the shortest text that reads back as the float64
    col.reject(cast_failures(col.arr, target), _float_decimal_reason(target))
    return col.done(kernels.cast(col.arr, target))


def _float_decimal_reason(target: pa.DataType) -> ReasonOf:
    name = type_name(target)

    def reason(text: str) -> str:
        value = Decimal(text)  # nan and inf too
        if value.is_finite() and int(value.as_tuple().exponent) < -target.scale:
            return f"{text} would be rounded by {name}"
        return f"{text!r} is not a valid {name}"

    return reason


def _kind_change(source: pa.DataType, target: pa.DataType, explicit: bool = False) -> ReasonOf | None:
    """Why every value of ``source`` would change what it is as ``target``, where Arrow's
    safe cast lets it through; None where it keeps it. A boolean is no number, nor a number
    a boolean (``2`` would be true, true would be 1: another JSON type too), and a timestamp
    keeps its zone or its lack of one: a zone dropped leaves the UTC wall clock, and one added
    would have to be guessed (the cast stage's ``timezone`` says which, before converting)."""
    name = type_name(target)
    if not explicit:  # a CAST asked for turns true into 1, and any number but zero into true
        if pa.types.is_boolean(source) and is_numeric(target):
            return lambda v: f"'{str(v).lower()}' is a boolean, not a number: {name} takes numbers only"
        if is_numeric(source) and pa.types.is_boolean(target):
            return lambda v: f"'{_value_text(v)}' is a number, not a boolean: {name} takes true and false only"
        nested = _nested_kind(source)
        if nested is not None and is_numeric(target):  # Arrow has no such cast: not the file's fault
            return lambda v: f"'{_value_text(v)}' is {nested}, not a number: {name} takes numbers only"
        if nested is not None and pa.types.is_boolean(target):
            return lambda v: f"'{_value_text(v)}' is {nested}, not a boolean: {name} takes true and false only"
        kind = _temporal_kind(source)
        # Arrow would make a count since an epoch or midnight, its unit the writing tool's choice;
        # a duration into an integer is its count of its own unit, as it is stored
        if (
            kind is not None
            and is_numeric(target)
            and not (pa.types.is_duration(source) and pa.types.is_integer(target))
        ):
            shown = (lambda v: _count_text(v, source.unit)) if pa.types.is_duration(source) else _value_text
            return lambda v: f"'{shown(v)}' is {kind}, not a number: {name} takes numbers only"
    if not pa.types.is_timestamp(target) or not (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        return None
    if is_zoned(source) and not is_zoned(target):
        return lambda v: f"'{_value_text(v)}' has a time zone that {name} would drop"
    if is_zoned(target) and not is_zoned(source):
        return lambda v: no_zone_reason(f"'{_value_text(v)}'", name)
    return None


NO_ZONE = "would have to assume one"  # how a reason for a value without a zone ends


def no_zone_reason(shown: str, name: str) -> str:
    """Why a value without a zone (``shown`` as the reason quotes it) does not go into the zoned ``name``."""
    return f"{shown} has no time zone, and {name} {NO_ZONE}"


def _temporal_kind(t: pa.DataType) -> str | None:
    """What a date, time, timestamp, duration or interval type's values are, in a reason."""
    kinds = (
        (pa.types.is_timestamp, "a timestamp"),
        (pa.types.is_date, "a date"),
        (pa.types.is_time, "a time of day"),
        (pa.types.is_duration, "a duration"),
        (pa.types.is_interval, "an interval"),
    )
    return next((kind for test, kind in kinds if test(t)), None)


def _nested_kind(t: pa.DataType) -> str | None:
    """What a list, struct, map or union type's values are, in a reason."""
    kinds = (
        (pa.types.is_map, "a map"),  # before the lists: a map is a list of entries to Arrow
        (pa.types.is_struct, "a struct"),
        (pa.types.is_union, "a union"),
    )
    if not pa.types.is_nested(t):
        return None
    return next((kind for test, kind in kinds if test(t)), "a list")


def _nested_text(arr: pa.Array) -> pa.Array | None:
    """A nested column's values as the JSON text the targets store (``[1,2]``), for a reason;
    None for any other column (its values show as they are)."""
    from .writers.encode import is_nested, nested_json  # (the writers import this module)

    return pa.array(nested_json(arr), pa.string()) if is_nested(arr.type) else None


def _cast_reason(source: pa.DataType, target: pa.DataType) -> ReasonOf:
    name = type_name(target)
    if pa.types.is_duration(target) and pa.types.is_duration(source):
        if _finer(source.unit, target.unit):
            return lambda v: (
                f"'{_count_text(v, source.unit)}' has digits below a {_UNIT_NAMES[target.unit]} that {name} would drop"
            )
        return lambda v: f"'{_count_text(v, source.unit)}' is outside the range of {name}"
    same_kind = pa.types.is_timestamp(target) and pa.types.is_timestamp(source)
    same_kind = same_kind or (pa.types.is_time(target) and pa.types.is_time(source))
    if same_kind and _finer(source.unit, target.unit):
        return lambda v: f"'{_value_text(v)}' has digits below a {_UNIT_NAMES[target.unit]} that {name} would drop"
    if pa.types.is_timestamp(target) and (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        # a finer unit counts fewer years (nanoseconds: only 1677 to 2262)
        years = " (years 1677 to 2262)" if target.unit == "ns" else ""
        return lambda v: f"'{_value_text(v)}' is outside the range of {name}{years}"
    if is_text(source) and pa.types.is_timestamp(target):
        return _epoch_hint(
            _zoned_text_reason(target) if is_zoned(target) else lambda v: f"{_value_text(v)!r} is not a valid {name}"
        )
    return lambda v: f"{_value_text(v)!r} is not a valid {name}"


def _epoch_hint(reason: ReasonOf) -> ReasonOf:
    """``reason``, and for an integer (pandas' ``to_json`` writes epoch milliseconds, pino
    too), how a cast stage reads a count since 1970."""

    def hinted(v: Any) -> str:
        if re.fullmatch(r"-?[0-9]+", _value_text(v)):
            return f'{reason(v)} (a count since 1970? a cast stage reads it with formats = {{ column = "epoch_ms" }}, or epoch_s, epoch_us, epoch_ns)'
        return reason(v)

    return hinted


def _zoned_text_reason(target: pa.DataType) -> ReasonOf:
    """Text a zoned timestamp does not read: the usual case is a valid time with no offset
    (``2024-01-01 10:00:00``), which is no bad format but a zone missing, so the reason says so."""
    name, naive = type_name(target), pa.timestamp(target.unit)

    def reason(v: Any) -> str:
        text = _value_text(v)
        if _reads_as(pa.array([text], pa.string()), naive)[0].as_py():
            return no_zone_reason(repr(text), name)
        return f"{text!r} is not a valid {name}"

    return reason


_UNIT_NAMES = {"s": "second", "ms": "millisecond", "us": "microsecond", "ns": "nanosecond"}


def _count_text(value: object, unit: str) -> str:
    """A duration as its count of the unit, the number the targets store (``90 ms``): Python's
    timedelta text (``0:00:00.090000``) does not say which count."""
    if isinstance(value, dt.timedelta):  # whole in its own unit
        micros = value // dt.timedelta(microseconds=1)
        # nanoseconds come as pandas' Timedelta where pandas is imported, its count in ``value``
        value = getattr(value, "value", micros * 1000) if unit == "ns" else micros // _MICROSECONDS[unit]
    return f"{value} {unit}"


_MICROSECONDS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _finer(unit: str, than: str) -> bool:
    return list(_UNIT_NAMES).index(unit) > list(_UNIT_NAMES).index(than)


def _unchanged(col: _Column, out: pa.Array, target: pa.DataType, explicit: bool = False) -> Converted:
    """``out``, the cast of ``col``, with the values the cast changed rejected. Text becomes a
    float as declared (rounded, a type read) unless the cast is ``explicit``, which never rounds;
    a number past the float's range is rejected either way (``_text_float_beyond``)."""
    if is_text(col.arr.type):
        changed = _text_float_changed(col.arr, out) if explicit else _text_float_beyond(col.arr, out)
        reason = _text_float_reason(target)
    else:
        changed, reason = _changed_by_cast(col.arr, out), _change_reason(col.arr.type, target)
    if changed is None or not kernels.any(changed).as_py():
        return col.done(out)
    col.reject(changed, reason, _nested_text(col.arr))
    return col.done(_cast_values(col.arr, target))


def _text_float_changed(text: pa.Array, out: pa.Array) -> pa.Array | None:
    """Where a float ``out`` is not the number its ``text`` says: rounded (``16777217`` in a
    float32), or past the float's range (``1e400``, ``1e-400``), by inference's own check;
    None where ``out`` is no float."""
    t = out.type
    if not pa.types.is_floating(t):
        return None
    changed = float_loses(text)  # against float64
    if t.bit_width < 64:  # and a float64 the narrower float does not keep
        wide = kernels.cast(_null_where(text, changed), pa.float64())
        narrowed = _changed_by_cast(wide, out)
        changed = changed if narrowed is None else kernels.or_(changed, kernels.fill_null(narrowed, False))
    return changed


# Text of the number zero, as the float cast reads it (``0``, ``-0.00``, ``0e5``, ``.0``).
_ZERO_TEXT = r"^[+-]?[0.]*([eE][+-]?[0-9]+)?$"


def _text_float_beyond(text: pa.Array, out: pa.Array) -> pa.Array | None:
    """Where a declared float ``out`` is no rounding of its ``text`` but a number past the
    float's range: an infinity from digits (``1e400``; a spelled ``inf`` has none) or zero
    from a number that is not (``1e-400``). None where ``out`` is no float."""
    if not pa.types.is_floating(out.type):
        return None
    inf, zero = kernels.is_inf(out), kernels.equal(out, 0)
    if not kernels.any(kernels.fill_null(kernels.or_(inf, zero), False)).as_py():
        return None  # no infinity nor zero: most columns are ruled out by this alone
    infinite = kernels.and_(inf, kernels.match_substring_regex(text, "[0-9]"))
    zeroed = kernels.and_(zero, kernels.invert(kernels.match_substring_regex(text, _ZERO_TEXT)))
    return kernels.fill_null(kernels.or_(infinite, zeroed), False)


def _text_float_reason(target: pa.DataType) -> ReasonOf:
    name = type_name(target)

    def reason(text: str) -> str:
        stored = kernels.cast(kernels.cast(pa.array([text]), pa.float64()), target, safe=False)[0].as_py()
        return f"'{_value_text(text)}' would be stored as {stored!r} by {name}"

    return reason


def _refuse_loose_bools(col: _Column, target: pa.DataType, na: tuple[str, ...], explicit: bool) -> None:
    """Reject text a bool column would take that inference never reads as one: Arrow's cast
    also reads ``1`` and ``0`` (numbers: ``2`` is rejected) and ``true`` in any case (``tRUE``).
    ``na`` spellings are left to the cast, which nulls them; a cast asked for reads them all."""
    if explicit or not pa.types.is_boolean(target):
        return
    loose = kernels.invert(kernels.is_in(col.arr, value_set=kernels.cast(BOOL_TEXT, col.arr.type)))
    if na:
        loose = kernels.and_(loose, kernels.invert(_is_na(col.arr, na)))
    col.reject(
        kernels.and_(loose, kernels.is_valid(col.arr)),
        lambda v: f"{_value_text(v)!r} is not a valid bool: it takes true, false, True, False, TRUE and FALSE only",
    )


# Arrow reads an integer's text in hexadecimal too, as its bits: "0xFF" is -1 in an int8.
_HEX = r"^0[xX]"


def _refuse_hex(col: _Column, target: pa.DataType) -> None:
    """Reject hexadecimal text (``0x1f``) for an integer or duration: no other base is read,
    and its bits wrap into a negative number (``0xFF`` in an int8 is -1)."""
    if not (pa.types.is_integer(target) or pa.types.is_duration(target)):
        return
    data = value_bytes(col.arr)
    raw = data.to_pybytes() if data is not None else b""
    if b"x" not in raw and b"X" not in raw:
        return  # a memchr rules out nearly every column
    name = type_name(target)
    col.reject(kernels.match_substring_regex(col.arr, _HEX), lambda v: f"{_value_text(v)!r} is not a valid {name}")


def _changed_by_cast(src: pa.Array, out: pa.Array) -> pa.Array | None:
    """Where a cast Arrow's safe mode lets through still changed a value: a float or
    decimal whose shortest text the new float type does not keep (unless it holds the
    value exactly: a decimal of more digits than a float64 keeps, ``12345678901234567.89``),
    a timestamp whose time of day a date drops. None where no such change can happen."""
    s, t = src.type, out.type
    if pa.types.is_integer(s) and pa.types.is_floating(t):
        return _int_rounded(src, out)
    if pa.types.is_nested(s) and not s.equals(t) and _ints_into_floats(s, t):
        return _nested_rounded(src, out)
    if pa.types.is_timestamp(s) and pa.types.is_date(t):
        return _time_of_day(src)
    narrower = pa.types.is_floating(s) and pa.types.is_floating(t) and s.bit_width > t.bit_width
    if not (pa.types.is_floating(t) and (narrower or pa.types.is_decimal(s))):
        return None
    text = kernels.cast(out, pa.string())  # the new float's shortest text, read back as the old type
    back_type = pa.float64() if pa.types.is_floating(s) else s
    unreadable = cast_failures(text, back_type)  # a decimal that rounded past its precision
    back = kernels.cast(_null_where(text, unreadable), back_type)
    changed = kernels.or_(kernels.fill_null(kernels.not_equal(back, src), False), unreadable)
    if not narrower:
        return changed
    # NaN, and a value the narrower float holds exactly (a float32's own value, widened), stay as they are
    kept = kernels.fill_null(kernels.or_(kernels.is_nan(src), kernels.equal(kernels.cast(out, s), src)), False)
    return kernels.and_(changed, kernels.invert(kept))


def _time_of_day(src: pa.Array) -> pa.Array:
    """Where a timestamp is not at midnight on the clock of its zone, whose date is its date.
    The wall clock is floored, not the zoned value: Arrow floors that in local time and makes
    it an instant again, which raises where the day's midnight does not exist (Asia/Beirut's
    clocks go from 00:00 to 01:00 on 2024-03-31) or where a wall time names two instants."""
    wall = kernels.local_timestamp(src) if is_zoned(src.type) else src
    return kernels.not_equal(kernels.floor_temporal(wall, unit="day"), wall)


def _nested_rounded(src: pa.Array, out: pa.Array) -> pa.Array | None:
    """Where a list's or struct's integers are not their floats in ``out``: read back as
    integers, the value is another (Arrow's unsafe cast wraps one past the integer type).
    None where every integer is within the floats' exact range (Arrow's safe cast takes them)."""
    try:
        kernels.cast(src, out.type)
        return None
    except pa.ArrowInvalid:
        pass
    back = kernels.cast(out, src.type, safe=False)
    from .writers.encode import nested_json  # (the writers import this module)

    return pa.array([a != b for a, b in zip(nested_json(src), nested_json(back), strict=True)], pa.bool_())


# The integers each float holds every one of (2**53 for a float64); past them, only some.
_EXACT_INTS = {16: 2**11, 32: 2**24, 64: 2**53}


def _int_rounded(src: pa.Array, out: pa.Array) -> pa.Array | None:
    """Where integers ``src`` are not their floats ``out``: the float is read back as the
    integer type (exactly, below the type's bound, which a float may round up to); None
    where every value is within the float's exact range."""
    low, high = kernels.min_max(src).values()
    exact = _EXACT_INTS[out.type.bit_width]
    if not low.is_valid or (-exact <= low.as_py() and high.as_py() <= exact):
        return None
    t = src.type
    wide = kernels.cast(out, pa.float64())
    bound = float(2 ** (t.bit_width - (0 if pa.types.is_unsigned_integer(t) else 1)))
    beyond = kernels.fill_null(kernels.greater_equal(wide, bound), False)  # 2**63 is no int64
    back = kernels.cast(_null_where(wide, beyond), t, safe=False)
    return kernels.or_(beyond, kernels.fill_null(kernels.not_equal(back, src), False))


def _change_reason(source: pa.DataType, target: pa.DataType) -> ReasonOf:
    name = type_name(target)
    if pa.types.is_integer(source) and pa.types.is_floating(target):
        return _int_float_reason(source, target)
    if pa.types.is_nested(source):
        return lambda v: f"'{v}' holds an integer that {name} would round (declare the column as string)"
    if pa.types.is_date(target):
        return lambda v: f"'{v}' has a time of day that {name} would drop"
    return lambda v: f"{_value_text(v)} would be rounded by {name}"


def _int_float_reason(source: pa.DataType, target: pa.DataType) -> ReasonOf:
    """An integer a float rounds, worded as for text (``_refuse_silent_changes``)."""
    name = type_name(target)

    def reason(v: int) -> str:
        stored = kernels.cast(pa.array([v], source), target, safe=False)[0].as_py()
        return f"'{v}' would be stored as {stored!r} by {name} (declare the column as decimal(p, s) or string)"

    return reason


def _cast_without_na(col: _Column, target: pa.DataType, na: tuple[str, ...]) -> Converted | None:
    """No spelling in ``na`` converts: the cast failed on them, or on a bad value. Null them and retry."""
    missing = _is_na(col.arr, na)
    if not kernels.any(missing).as_py():
        return None
    col.arr = _null_where(col.arr, missing)
    try:
        return col.done(kernels.cast(col.arr, target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


@dataclass
class ConvertedBatch:
    """A batch converted to its schema; ``why`` names each bad row's first failing column."""

    batch: pa.RecordBatch
    bad: pa.Array | None
    why: dict[int, tuple[str, str]]  # row index -> (column, reason)


# A column costs a few dozen kernel calls however few its rows: below this many rows
# (a block of a wide CSV file, or one a memory ceiling shrank), columns that convert alike
# are converted as one array, their values end to end, and cut apart after.
GROUP_ROWS = 4096


def convert_columns(
    columns: list[pa.Array],
    schema: pa.Schema,
    convert_one: Callable[[pa.Field, pa.Array], Converted],
    alike: Callable[[pa.Field], Hashable] | None = None,
) -> ConvertedBatch:
    """Every column through ``convert_one``; rows that failed anywhere, and why (first
    column wins). ``alike``: a key under which fields convert the same way (value by
    value): with few rows, columns of one type that share it are converted together."""
    done: dict[int, Converted] = {}
    if alike is not None and columns and len(columns[0]) < GROUP_ROWS:
        for group in _alike(columns, schema, alike):
            together = _convert_together([columns[i] for i in group], schema.field(group[0]), convert_one)
            done.update(zip(group, together, strict=True))
    arrays = []
    bad: pa.Array | None = None
    why: dict[int, tuple[str, str]] = {}
    for i, (field, col) in enumerate(zip(schema, columns, strict=True)):
        out = done.pop(i, None) or convert_one(field, col)
        arrays.append(out.array)
        if out.bad is not None:
            for row, reason in zip(kernels.indices_nonzero(out.bad).to_pylist(), out.reasons or [], strict=True):
                why.setdefault(row, (field.name, reason))
            bad = out.bad if bad is None else kernels.or_(bad, out.bad)
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema) if arrays else pa.RecordBatch.from_pylist([])
    return ConvertedBatch(batch, bad, why)


def _alike(columns: list[pa.Array], schema: pa.Schema, alike: Callable[[pa.Field], Hashable]) -> list[list[int]]:
    """Positions of columns to convert together: two or more of one type and one key."""
    groups: dict[tuple[str, Hashable], list[int]] = {}
    for i, (field, col) in enumerate(zip(schema, columns, strict=True)):
        groups.setdefault((str(col.type), alike(field)), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _convert_together(
    columns: list[pa.Array], field: pa.Field, convert_one: Callable[[pa.Field, pa.Array], Converted]
) -> list[Converted]:
    """Columns of equal length converted as one array (as ``field``), then cut apart:
    each column's values, bad marks and reasons."""
    n = len(columns[0])
    out = convert_one(field, pa.concat_arrays(columns))
    reasons: list[list[str]] = [[] for _ in columns]  # each column's, in row order
    if out.bad is not None:
        for at, reason in zip(kernels.indices_nonzero(out.bad).to_pylist(), out.reasons or [], strict=True):
            reasons[at // n].append(reason)
    return [
        Converted(
            out.array.slice(j * n, n),
            out.bad.slice(j * n, n) if out.bad is not None and reasons[j] else None,
            reasons[j] or None,
        )
        for j in range(len(columns))
    ]
