"""Numbers written with a decimal comma (``3,50``), read when ``source.decimal_separator = ","``.

A column is numeric only if every sampled value is a number once its comma is a
point and no value holds a point (``1.500`` is a thousand in a comma locale, never
1.5). Values are converted from the pointed text with the usual lossless rules;
the file's own text is kept for rejects and for columns that stay text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from .. import kernels
from ..convert import Converted, TypeGuess, _is_na, _mark, _merge, _null_where, _value_text, convert
from ..types import is_numeric

_COMMA_NUMBER = r"^[+-]?(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def pointed(text: pa.Array) -> pa.Array:
    """``text`` with the comma of each comma-decimal number made a point, as binary."""
    text = kernels.cast(text, pa.string())
    number = kernels.fill_null(kernels.match_substring_regex(text, _COMMA_NUMBER), False)
    return kernels.cast(kernels.if_else(number, kernels.replace_substring(text, ",", "."), text), pa.binary())


def has_point(text: pa.Array) -> pa.Array:
    return kernels.fill_null(kernels.match_substring(kernels.cast(text, pa.string()), "."), False)


def _without_na(raw: pa.Array, na: tuple[str, ...]) -> pa.Array:
    """``raw`` as text with the ``na`` spellings null: they load as NULL, and the point in
    one (``k.A.``, ``n.v.``) is no thousands separator."""
    text = kernels.cast(raw, pa.string())
    return _null_where(text, _is_na(text, na)) if na else text


class CommaGuess:
    """The type a column takes when its numbers use a decimal comma, fed piece by piece."""

    def __init__(self, na: Sequence[str] = ()) -> None:
        self.guess = TypeGuess(na=na)
        self.na = self.guess.na
        self.points = False

    def add(self, raw: pa.Array) -> None:
        try:
            text = _without_na(raw, self.na)
            self.points = self.points or bool(kernels.any(has_point(text)).as_py())
            if not self.points:
                self.guess.add(kernels.cast(pointed(text), pa.string()))
        except pa.ArrowInvalid:  # not UTF-8: text
            self.points = True

    def result(self, raw_type: pa.DataType) -> pa.DataType:
        """The column's type, given what it was inferred as from its text as written."""
        if not self.points:
            found = self.guess.result()
            if is_numeric(found):
                return found
        return pa.string() if is_numeric(raw_type) and self.points else raw_type


def guess_types(schema: pa.Schema, names: list[str], tables: Iterable[pa.Table], na: Sequence[str] = ()) -> pa.Schema:
    """``schema`` with the inferred ``names`` re-typed for decimal commas, over the sample ``tables``
    (``na``: missing-value spellings, as for ``TypeGuess``)."""
    guesses = {n: CommaGuess(na) for n in names}
    for table in tables:
        for n, g in guesses.items():
            g.add(table.column(n).combine_chunks())
    return pa.schema([pa.field(f.name, guesses[f.name].result(f.type)) if f.name in guesses else f for f in schema])


def convert_comma(
    raw: pa.Array, target: pa.DataType, *, strict: bool, encoding: str, may_hold_nul: bool, na: tuple[str, ...] = ()
) -> Converted:
    """``raw`` converted to a numeric ``target`` as decimal-comma text; a value with a point is rejected.
    Reasons quote the file's text (``'1,5'``), not the pointed text converted."""
    try:
        text = _without_na(raw, na)
    except pa.ArrowInvalid:  # not UTF-8: convert says so, value by value
        return convert(raw, target, strict=strict, encoding=encoding, may_hold_nul=may_hold_nul, na=na)
    values = pointed(text)
    out = _as_written(
        convert(values, target, strict=strict, encoding=encoding, may_hold_nul=may_hold_nul), values, text
    )
    points = has_point(text)
    if not kernels.any(points).as_py():
        return out
    mask, why = _mark(text, points, lambda v: f"{_value_text(v)!r} holds a '.' but source.decimal_separator is ','")
    bad, reasons = _merge(out.bad, out.reasons, mask, why)
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
