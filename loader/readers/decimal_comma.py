"""Numbers spelled with a decimal comma (``3,50``) or a thousands separator (``1,234.5``,
``1.234,5``), read when ``source.decimal_separator = ","`` or ``source.thousands_separator``
is set.

A column is numeric only if every sampled value is a number once its separators are taken
out (thousands) or made a point (a decimal comma), and no value holds a separator elsewhere:
with a decimal comma a point is no decimal point (``1.500`` is a thousand, never 1.5), and a
thousands separator stands only between groups of three digits (``1,234,567``; ``1,23`` is
no number). Values are converted from the plain text with the usual lossless rules; the
file's own text is kept for rejects and for columns that stay text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from .. import kernels
from ..convert import Converted, TypeGuess, _is_na, _mark, _merge, _null_where, _value_text, convert
from ..types import is_numeric

if TYPE_CHECKING:
    from ..config import SourceConfig


@dataclass(frozen=True)
class NumberStyle:
    """How a source writes its numbers: the decimal separator, and the thousands separator if any."""

    decimal: str = "."
    thousands: str | None = None

    @property
    def plain(self) -> bool:
        """Numbers as every reader writes them (``1234.5``): nothing to read apart."""
        return self.decimal == "." and self.thousands is None

    @property
    def foreign(self) -> str | None:
        """The character a number holds only where the style puts it: the thousands
        separator (between groups of three), or with a decimal comma the point (none)."""
        return self.thousands or ("." if self.decimal == "," else None)

    @functools.cached_property
    def number(self) -> str:
        """A number as the style writes it (its separators at their places only)."""
        point = re.escape(self.decimal)
        whole = "[0-9]+"
        if self.thousands is not None:
            # a first group of 1-3 digits, not led by 0 (``0,123`` is no thousand), then groups of 3
            whole = rf"(?:[1-9][0-9]{{0,2}}(?:{re.escape(self.thousands)}[0-9]{{3}})+|[0-9]+)"
        return rf"^[+-]?(?:{whole}(?:{point}[0-9]*)?|{point}[0-9]+)(?:[eE][+-]?[0-9]+)?$"

    def stray_reason(self, value: str) -> str:
        """Why a value holding ``foreign`` where the style puts none is no number."""
        if self.thousands is None:
            return f"{value!r} holds a '.' but source.decimal_separator is ','"
        t = self.thousands
        return (
            f"{value!r} holds a {t!r} outside groups of three digits"
            f" (source.thousands_separator is {t!r}: 1{t}234{t}567)"
        )


PLAIN = NumberStyle()


def number_style(source: SourceConfig) -> NumberStyle:
    """How ``source``'s CSV numbers are written."""
    return NumberStyle(source.decimal_separator, source.thousands_separator)


def pointed(text: pa.Array, style: NumberStyle) -> pa.Array:
    """``text`` with each number in ``style`` written plain (``1.234,5`` as ``1234.5``), as binary."""
    text = kernels.cast(text, pa.string())
    if style.plain or (style.decimal == "." and not _holds(text, style.foreign)):
        return kernels.cast(text, pa.binary())  # no separator in the column: one check, nothing to change
    number = kernels.fill_null(kernels.match_substring_regex(text, style.number), False)
    plain = text
    if style.thousands is not None:
        plain = kernels.replace_substring(plain, style.thousands, "")
    if style.decimal != ".":
        plain = kernels.replace_substring(plain, style.decimal, ".")
    return kernels.cast(kernels.if_else(number, plain, text), pa.binary())


def _holds(text: pa.Array, char: str | None) -> bool:
    return char is not None and bool(kernels.any(kernels.match_substring(text, char)).as_py())


def strays(text: pa.Array, style: NumberStyle) -> pa.Array:
    """Where a value holds ``style.foreign`` and is no number in ``style`` (``1,23``
    with a thousands ',', ``1.5`` with a decimal comma): no number, never a wrong one."""
    text = kernels.cast(text, pa.string())
    foreign = style.foreign
    if foreign is None:  # plain numbers: no value holds a separator out of place
        return pa.array([False] * len(text), pa.bool_())
    holds = kernels.fill_null(kernels.match_substring(text, foreign), False)
    if style.thousands is None or not kernels.any(holds).as_py():
        return holds  # a decimal comma's number holds no point
    number = kernels.fill_null(kernels.match_substring_regex(text, style.number), False)
    return kernels.and_(holds, kernels.invert(number))


def _without_na(raw: pa.Array, na: tuple[str, ...]) -> pa.Array:
    """``raw`` as text with the ``na`` spellings null: they load as NULL, and the point in
    one (``k.A.``, ``n.v.``) is no thousands separator."""
    text = kernels.cast(raw, pa.string())
    return _null_where(text, _is_na(text, na)) if na else text


class CommaGuess:
    """The type a column takes when its numbers are written in ``style``, fed piece by piece."""

    def __init__(self, style: NumberStyle, na: Sequence[str] = ()) -> None:
        self.style = style
        self.guess = TypeGuess(na=na)
        self.na = self.guess.na
        self.points = False  # a value holds a separator out of place: the column is text

    def add(self, raw: pa.Array) -> None:
        try:
            text = _without_na(raw, self.na)
            self.points = self.points or bool(kernels.any(strays(text, self.style)).as_py())
            if not self.points:
                self.guess.add(kernels.cast(pointed(text, self.style), pa.string()))
        except pa.ArrowInvalid:  # not UTF-8: text
            self.points = True

    def result(self, raw_type: pa.DataType) -> pa.DataType:
        """The column's type, given what it was inferred as from its text as written."""
        if not self.points:
            found = self.guess.result()
            if is_numeric(found):
                return found
        return pa.string() if is_numeric(raw_type) and self.points else raw_type


def guess_types(
    schema: pa.Schema, names: list[str], tables: Iterable[pa.Table], style: NumberStyle, na: Sequence[str] = ()
) -> pa.Schema:
    """``schema`` with the inferred ``names`` re-typed for numbers in ``style``, over the
    sample ``tables`` (``na``: missing-value spellings, as for ``TypeGuess``)."""
    guesses = {n: CommaGuess(style, na) for n in names}
    for table in tables:
        for n, g in guesses.items():
            g.add(table.column(n).combine_chunks())
    return pa.schema([pa.field(f.name, guesses[f.name].result(f.type)) if f.name in guesses else f for f in schema])


def convert_comma(
    raw: pa.Array,
    target: pa.DataType,
    style: NumberStyle,
    *,
    strict: bool,
    encoding: str,
    may_hold_nul: bool,
    na: tuple[str, ...] = (),
) -> Converted:
    """``raw`` converted to a numeric ``target`` as text in ``style``; a value holding a
    separator out of place is rejected. Reasons quote the file's text (``'1,5'``), not the
    plain text converted."""
    try:
        text = _without_na(raw, na)
    except pa.ArrowInvalid:  # not UTF-8: convert says so, value by value
        return convert(raw, target, strict=strict, encoding=encoding, may_hold_nul=may_hold_nul, na=na)
    values = pointed(text, style)
    out = _as_written(
        convert(values, target, strict=strict, encoding=encoding, may_hold_nul=may_hold_nul), values, text
    )
    stray = strays(text, style)
    if not kernels.any(stray).as_py():
        return out
    mask, why = _mark(text, stray, lambda v: style.stray_reason(_value_text(v)))
    # its separator out of place first: the reason to fix (not "'1,23' is not a valid int64")
    bad, reasons = (mask, why) if out.bad is None else _merge(mask, why, out.bad, out.reasons or [])
    return Converted(out.array, bad, reasons)


def _as_written(out: Converted, values: pa.Array, text: pa.Array) -> Converted:
    """``out`` with each reason quoting the value as the file wrote it: ``values`` are
    ``text`` with a comma made a point, and the reasons were built from them."""
    if out.bad is None or not out.reasons:
        return out
    rows = kernels.indices_nonzero(out.bad)
    converted = kernels.cast(kernels.take(values, rows), pa.string()).to_pylist()
    written = kernels.take(text, rows).to_pylist()
    reasons = [
        why.replace(f"'{_value_text(c)}'", f"'{_value_text(w)}'", 1)
        if c != w and c is not None and w is not None
        else why
        for why, c, w in zip(out.reasons, converted, written, strict=True)
    ]
    return Converted(out.array, out.bad, reasons)
