"""A block's escapes translated to what pyarrow's parser reads (an escaped byte is itself),
as the system that wrote the file meant them (``source.escape_mode``), and the null
spellings that hold the escape matched on the field as written, before any unescaping.

All bytes reach the parser through ``BlockParser.parse``, which translates each block here
first. A block without the escape byte is returned as it is: one ``find``. A block starts
at a row's start, so its first byte is not escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from ... import kernels
from ...config import SourceConfig
from ..dialect import Dialect
from .cut import Marks, QuoteState, escaped_bytes, read_piece

EscapeMode = Literal["literal", "c", "quote"]

# C escapes, as PostgreSQL's text format and MySQL's LOAD DATA read them; an escaped byte
# not here is itself. Translated in place (``\\t`` -> the escape and a TAB): the parser then
# reads the escape's byte as itself, and the rows keep their structure and length.
_C_ESCAPES = {b"t": 9, b"n": 10, b"r": 13, b"b": 8, b"f": 12, b"v": 11, b"0": 0, b"Z": 26}
_C_TABLE = np.arange(256, dtype=np.uint8)
for _letter, _byte in _C_ESCAPES.items():
    _C_TABLE[_letter[0]] = _byte


@dataclass(frozen=True)
class Escapes:
    """How one file's escapes are read (``of``: None where the parser reads them as they are)."""

    escape: int
    mode: EscapeMode
    marks: Marks  # the file's quote, delimiter and escape, as its escape mode reads them
    nulls: tuple[bytes, ...]  # null spellings holding the escape, as written
    na: tuple[bytes, ...] = ()  # na spellings holding the escape, as written (``na_sentinel``)

    @classmethod
    def of(cls, config: SourceConfig, dialect: Dialect, null_values: bool = True) -> Escapes | None:
        """``null_values``: match the null spellings holding the escape (not in a header)."""
        escape = config.escape_char
        if not isinstance(escape, str):
            return None
        nulls = tuple(s.encode() for s in config.null_values if escape in s) if null_values else ()
        na = tuple(s.encode() for s in escaped_na(config)) if null_values else ()
        if config.escape_mode == "literal" and not nulls and not na:
            return None
        quote = dialect.quote.encode() if dialect.quote else None
        marks = Marks.of(quote, escape.encode(), dialect.delimiter.encode(), config.escape_mode == "quote")
        if marks is None or marks.escape is None:  # a multi-byte mark: checked in config, never here
            return None
        return cls(marks.escape, config.escape_mode, marks, nulls, na)

    def null_values(self, spellings: list[str]) -> list[str]:
        """The spellings the parser matches after unescaping: those without the escape, and
        a sentinel for each length of those with it (``_mark_nulls``)."""
        escape = chr(self.escape)
        sentinels = {sentinel(len(n)).decode("latin-1") for n in self.nulls}
        return [s for s in spellings if escape not in s] + sorted(sentinels)

    def translate(self, block: bytearray) -> bytearray:
        """``block`` as the parser should read it (the same object where it holds no escape)."""
        if block.find(self.escape) < 0:
            return block
        buf = bytearray(block)
        if self.nulls or self.na:
            self._mark_nulls(buf)
        if self.mode == "c":
            octets = np.frombuffer(buf, np.uint8)
            at = escaped_bytes(octets, self.escape)
            at = at[at < len(octets)]
            octets[at] = _C_TABLE[octets[at]]
        elif self.mode == "quote":
            buf = self._lone_escapes_doubled(buf)
        return buf

    def makes_nul(self, block: bytes | bytearray) -> bool:
        """Whether ``block`` may hold an escaped ``0`` (a NUL byte in C escapes)."""
        return bytes((self.escape, 48)) in block

    def as_written(self, text: bytes) -> bytes:
        """A malformed row's text as parsed (translated) back as written, for its reject (which
        a replay reads through ``translate`` again): the null sentinels as their spellings, the
        escapes ``quote`` mode doubled single again. C escapes stay their characters (read
        again, they are the same). The doubling is undone first: the spellings restored hold
        escapes that were never doubled."""
        if self.mode == "quote" and self.escape in text:
            text = self._doubled_undone(text)
        for spelling in sorted(self.nulls, key=len, reverse=True):
            text = text.replace(sentinel(len(spelling)), spelling)
        for spelling in self.na:
            text = text.replace(self.na_sentinel(spelling), spelling)
        return text

    def na_sentinel(self, spelling: bytes) -> bytes:
        """What an na spelling with the escape becomes for the parser: its escapes NUL. Not
        nulled by the parser (a text column keeps it, ``na_as_written``), apart from the null
        sentinels (all NUL: ``escaped_na`` leaves out spellings of escapes only)."""
        return spelling.replace(bytes((self.escape,)), b"\x00")

    def na_as_written(self, column: pa.Array) -> pa.Array:
        """A text column's na sentinels as their spellings (which it keeps as text)."""
        for spelling in self.na:
            found = kernels.equal(column, pa.scalar(self.na_sentinel(spelling), column.type))
            if kernels.any(found).as_py():
                column = kernels.if_else(found, pa.scalar(spelling, column.type), column)
        return column

    def _doubled_undone(self, text: bytes) -> bytes:
        """``text`` translated by ``_lone_escapes_doubled`` as it was before."""
        octets = np.frombuffer(text, np.uint8)
        found = np.flatnonzero(octets == self.escape)
        runs = np.flatnonzero(np.diff(found, append=-2) != 1)  # each run's last escape
        lone = np.repeat(~self._before_quote(octets, found[runs]), np.diff(runs, prepend=-1))
        keep = np.ones(len(octets), bool)
        keep[found[lone][1::2]] = False  # every lone run is doubled: drop every second escape
        return octets[keep].tobytes()

    def _before_quote(self, octets: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Whether the byte after each of ``at`` is a quote."""
        after = octets[np.minimum(at + 1, len(octets) - 1)] == self.marks.quote
        return (at + 1 < len(octets)) & after  # type: ignore[no-any-return]

    def _mark_nulls(self, buf: bytearray) -> None:
        """Each whole unquoted field spelled as a null spelling with the escape (``\\N``, its
        escape not escaped) replaced by a sentinel of its length, which the parser matches as
        null; an escaped ``\\\\N`` is the text ``\\N``. The sentinel's NUL bytes are never data:
        a value holding NUL is rejected."""
        marks = self.marks
        seen, start, real = read_piece(buf, marks, 0, len(buf), QuoteState())  # escaped bytes made text
        octets = np.frombuffer(buf, np.uint8)
        read = np.frombuffer(seen, np.uint8, len(buf), start)
        ends = np.array([marks.delimiter, 10, 13], np.uint8)
        marked = [(s, sentinel(len(s))) for s in self.nulls] + [(s, self.na_sentinel(s)) for s in self.na]
        for spelling, mark in marked:
            k = len(spelling)
            if k > len(buf):
                continue
            hit = np.ones(len(buf) - k + 1, bool)
            for j, byte in enumerate(spelling):
                hit &= octets[j : len(buf) - k + 1 + j] == byte
            at = np.flatnonzero(hit)
            at = at[
                ((at == 0) | np.isin(read[at - 1], ends))
                & ((at + k == len(buf)) | np.isin(read[np.minimum(at + k, len(buf) - 1)], ends))
            ]
            if len(real):  # not inside a quoted value: an even count of real quotes before it
                at = at[np.searchsorted(real, at) % 2 == 0]
            octets[(at[:, None] + np.arange(k)).ravel()] = np.tile(np.frombuffer(mark, np.uint8), len(at))

    def _lone_escapes_doubled(self, buf: bytearray) -> bytearray:
        """Spark's escapes (univocity's): the escape escapes only a quote, or itself before
        one; a run of it before any other byte is text, doubled here for the parser to read
        back as it is (``C:\\temp`` -> ``C:\\\\temp``)."""
        octets = np.frombuffer(buf, np.uint8)
        found = np.flatnonzero(octets == self.escape)
        runs = np.flatnonzero(np.diff(found, append=-2) != 1)  # each run's last escape
        lone = np.repeat(~self._before_quote(octets, found[runs]), np.diff(runs, prepend=-1))  # each escape's run
        counts = np.ones(len(octets), np.intp)
        counts[found[lone]] = 2
        return bytearray(np.repeat(octets, counts).tobytes())


def translated(config: SourceConfig, dialect: Dialect, data: bytes) -> bytes:
    """``data`` (a header, the first rows sampled) with its escapes translated as a block's
    are (``Escapes.translate``), for the csv module to read as the parser reads the rows."""
    escapes = Escapes.of(config, dialect, null_values=False)
    return data if escapes is None else bytes(escapes.translate(bytearray(data)))


def escaped_na(config: SourceConfig) -> tuple[str, ...]:
    """The na spellings matched as written (``Escapes.na``): those holding the escape but
    no null spelling, nor the escape alone (its sentinel would be a null's)."""
    escape = config.escape_char
    if not isinstance(escape, str):
        return ()
    nulls = set(config.null_values)
    return tuple(s for s in config.na_values if escape in s and s not in nulls and s.strip(escape))


def na_spellings(config: SourceConfig) -> tuple[str, ...]:
    """``config.na_values`` as the parsed values spell them: those holding the escape as
    their sentinel (``Escapes.na_sentinel``), matched in the field as written."""
    escaped, escape = set(escaped_na(config)), config.escape_char
    if not escaped or not isinstance(escape, str):
        return tuple(config.na_values)
    return tuple(s.replace(escape, "\x00") if s in escaped else s for s in config.na_values)


def sentinel(length: int) -> bytes:
    """What a null spelling with the escape, of ``length`` bytes, becomes for the parser."""
    return b"\x00" * length
