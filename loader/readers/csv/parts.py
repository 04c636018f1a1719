"""Byte-range parts of a plain CSV file: the rows that start in ``[start, end)``.

A cut point moves forward to the next row boundary: a newline after which the
quotes since the first data row that open and close values are balanced (so a quoted
field may hold newlines; a quote that is text in an unquoted field, ``12" pipe``, counts
not: ``cut.real_quotes``), and that the escape character does not escape (``a\\`` then
a newline is one value: ``cut.unescaped``).
The same point always moves to the same boundary, so parts cut at the same points
share out the rows of the file, each row to exactly one part. Finding a boundary
counts quotes and newlines from the first data row on (numpy, no parsing),
which also gives the part's first line number. A compressed or re-encoded file cannot be
cut so and its part is refused.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ... import storage
from ...config import SourceConfig
from ...errors import ConfigError
from .. import stream as streams
from .cut import Marks, QuoteState, byte_count, next_row_end, quote_count, read_piece
from .header import quote_and_escape, read_head

_PIECE = 1 << 20


@dataclass(frozen=True)
class Bounds:
    start: int  # the first row starting at or after the range's start
    end: int  # the first row starting at or after the range's end (or the file's end)
    line: int  # the line ``start`` is on


class _Scan:
    """Reads a file from its first data row, keeping the quote parity and the line. With
    ``delimiter``, the quotes are read as the parser reads them (``cut.read_piece``): a quote
    that is text in an unquoted field (``12" pipe``), or an escaped quote or newline, moves no cut."""

    def __init__(
        self,
        path: str,
        offset: int,
        line: int,
        quote: bytes | None,
        delimiter: bytes | None,
        escape: bytes | None,
        quote_only: bool = False,
    ) -> None:
        self.file = streams.open_stream(path, "utf-8")[0]
        try:
            streams.skip(self.file, offset)
        except BaseException:
            self.file.close()  # not made: no caller can close it
            raise
        self.pos, self.line, self.quote = offset, line, quote
        self.marks = Marks.of(quote, escape, delimiter, quote_only)
        self.state = QuoteState()  # where ``marks`` reads the quotes
        self.inside = False  # in a quoted field
        self.prev = b"\n"  # the byte before ``pos`` (the header ends in a newline)

    def advance(self, target: int) -> None:
        """Count quotes and newlines up to ``target``."""
        while self.pos < target:
            data = self.file.read(min(_PIECE, target - self.pos))
            if not data:
                return
            self._count(data)

    def _count(self, data: bytes) -> None:
        self.line += byte_count(data, 10)
        if self.marks is not None:
            buf, at, _ = read_piece(data, self.marks, 0, len(data), self.state)
            self.inside = self.state.inside
            self.prev = bytes(buf[at + len(data) - 1 : at + len(data)])  # an escaped newline starts no row
        else:
            self.inside ^= quote_count(data, self.quote, None) % 2 == 1
            self.prev = data[-1:]
        self.pos += len(data)

    def row_start(self) -> int:
        """The first row boundary at or after where the scan stands."""
        while not (self.prev == b"\n" and not self.inside):
            data = self.file.read(_PIECE)
            if not data:
                return self.pos
            nl = self._first_boundary(data)
            self._count(data[: nl + 1] if nl >= 0 else data)
            if nl >= 0:
                self.file.seek(self.pos)  # read past the boundary: back to it
        return self.pos

    def _first_boundary(self, data: bytes) -> int:
        """Index of the first newline in ``data`` that ends a row, or -1."""
        if self.marks is not None:
            return self._first_row_end(data, self.marks)
        inside, start = self.inside, 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                return -1
            inside ^= quote_count(data, self.quote, None, start, nl) % 2 == 1
            if not inside:
                return nl
            start = nl + 1

    def _first_row_end(self, data: bytes, marks: Marks) -> int:
        """``_first_boundary`` with the quotes read as the parser reads them."""
        state = dataclasses.replace(self.state)  # read again up to the boundary
        buf, at, real = read_piece(data, marks, 0, len(data), state)
        nl = next_row_end(buf, real, at, at + len(data), self.state.inside)
        return nl - at if nl >= 0 else -1

    def close(self) -> None:
        self.file.close()


def bounds(reader: Any, start: int, end: int, line: int = 0) -> Bounds:
    """Where the part ``[start, end)`` of ``reader``'s file begins and ends, on row boundaries.
    With ``line`` (the line ``start`` is on), ``start`` and ``end`` are such boundaries
    already, found by the plan (``row_starts``): nothing is scanned, so a part's reader
    reads its own range only, not the file up to it."""
    check(reader)
    if line:
        if start <= reader.data_offset:
            return Bounds(reader.data_offset, max(end, reader.data_offset), reader.data_line)
        return Bounds(start, end, line)
    quote_only = reader.config.escape_mode == "quote"
    scan = _Scan(
        reader.path, reader.data_offset, reader.data_line, reader.quote, reader.delimiter, reader.escape, quote_only
    )
    try:
        scan.advance(max(start, reader.data_offset))
        first = scan.row_start()
        line = scan.line
        scan.advance(max(end, first))
        return Bounds(first, scan.row_start(), line)
    finally:
        scan.close()


def row_starts(
    path: str,
    every: Iterable[int],
    quote: bytes | None,
    offset: int = 0,
    line: int = 1,
    delimiter: bytes | None = None,
    escape: bytes | None = None,
    quote_only: bool = False,
) -> Iterator[tuple[int, int]]:
    """Row boundaries from ``offset`` (on ``line``: a file's first data row) on, one at or
    after each of ``every``'s sizes in turn past the last (the first past the file's start,
    wherever its rows start), each with its line: the cut points a plan of parts uses
    (``loader.parts``), found as ``bounds`` finds them."""
    scan = _Scan(path, offset, line, quote, delimiter, escape, quote_only)
    try:
        cut = 0
        for size in every:
            scan.advance(cut + size)
            nxt = scan.row_start()
            if nxt <= cut or scan.prev != b"\n":
                return  # the end of the file: the last part runs to it
            yield nxt, scan.line
            cut = nxt
    finally:
        scan.close()


def data_scan(path: str, config: SourceConfig) -> tuple[bytes | None, int, int, bytes, bytes | None]:
    """How the reader of ``path`` finds its row boundaries (``bounds``): the quote it reads
    with (``source.quote_char``, or the one detected in the file), the offset and line of
    the first data row, where its scan starts, its delimiter and its escape character.
    Raises what reading the file's head raises."""
    assert isinstance(config.max_row_bytes, int)  # finish() parsed it
    head = read_head(path, config, config.max_row_bytes, None)
    head.stream.close()
    quote, escape = quote_and_escape(head.dialect, config)
    return quote, head.data_offset, head.data_line, head.dialect.delimiter.encode(), escape


def check(reader: Any) -> None:
    """Refuse a part where a cut point cannot be moved to a row boundary by quote parity."""
    why = None
    if reader.path == storage.STDIN:
        why = "standard input cannot be read in parts"
    elif os.path.splitext(reader.path)[1].lower() in streams.COMPRESSION:
        why = "a compressed file cannot be read in byte ranges"
    elif codecs.lookup(reader.config.encoding).name != "utf-8":
        why = "only a UTF-8 file can be read in byte ranges"
    if why is not None:
        raise ConfigError(f"{reader.path}: {why}", hint="read it whole (no part)")


class Limited:
    """A stream that ends after ``n`` more bytes (the end of a part)."""

    def __init__(self, raw: Any, n: int) -> None:
        self.raw, self.left = raw, n

    def read(self, n: int) -> bytes:
        data: bytes = self.raw.read(min(n, self.left))
        self.left -= len(data)
        return data

    def readinto(self, view: memoryview) -> int:
        k: int = self.raw.readinto(view[: self.left])
        self.left -= k
        return k

    def close(self) -> None:
        self.raw.close()
