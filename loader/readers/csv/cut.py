"""Cutting a CSV byte stream into blocks of whole rows, by quote parity.

A quoted field may hold newlines, so a newline ends a row only where the quotes
before it (from the block's start) are balanced: the quotes that open and close
values, as the parser reads them, not a quote that is text in an unquoted field. A block depends only on the
bytes from its start, never on how reads fell: a resumed run cuts, and so
parses stray quotes, exactly as the first run did.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...config import MAX_CSV_BLOCK
from .long_rows import Block, drop_row, span

# Every block costs a few kernel calls per column (parse, infer, convert, encode). A wide
# file's block must hold about as many rows as one WIDE_COLUMNS wide, or that cost per cell
# grows with the width (quadratic in it): the block grows with the width, up to 16 blocks.
WIDE_COLUMNS = 256
WIDE_BLOCK_FACTOR = 16
# Above this many bytes a count runs in numpy (a vectorised compare, without the GIL, and
# a count of the matches: several times Arrow's compare to a bitmap and popcount), a slice
# at a time (the compare's booleans stay small); below it, bytes.count.
_NUMPY_COUNT_FROM = 64 << 10
_COUNT_SLICE = 1 << 20

CsvRows = Callable[[Iterable[str], bool], Iterator[list[str]]]  # lines -> rows (strict: an open quote fails)


def byte_count(data: bytes | bytearray, byte: int, start: int = 0, stop: int | None = None) -> int:
    stop = len(data) if stop is None else min(stop, len(data))
    if stop - start < _NUMPY_COUNT_FROM:
        return data.count(byte, start, stop)
    octets = np.frombuffer(data, np.uint8, stop - start, start)
    return sum(int(np.count_nonzero(octets[i : i + _COUNT_SLICE] == byte)) for i in range(0, len(octets), _COUNT_SLICE))


def quote_count(
    data: bytes | bytearray, quote: bytes | None, escape: bytes | None, start: int = 0, end: int | None = None
) -> int:
    if quote is None:
        return 0
    if not escape and len(quote) == 1 and start >= 0:
        return byte_count(data, quote[0], start, end)
    n = data.count(quote, start, end)
    if escape:
        n -= escaped_quotes(data, quote, escape, start, end)
    return n


def escaped_quotes(data: bytes | bytearray, quote: bytes, escape: bytes, start: int = 0, end: int | None = None) -> int:
    """How many quotes in ``data[start:end]`` the escape character escapes: those after an odd
    run of it, as the parser reads them (``\\"`` is an escaped backslash, then a quote that
    closes the value). Only a quote after two escapes needs its run counted."""
    n = data.count(escape + quote, start, end)
    if escape == quote:
        return n
    pair, k = escape + escape + quote, len(escape)
    i = data.find(pair, start, end)
    while i >= 0:
        run = 2
        while i - k >= start and data[i - k : i] == escape:
            i, run = i - k, run + 1
        n -= run % 2 == 0  # an even run escapes itself, not the quote
        i = data.find(pair, i + run * k, end)
    return n


@dataclass
class QuoteState:
    """Where a scan of quotes stands, carried from one piece of bytes to the next."""

    inside: bool = False  # in a quoted value
    prev: int = 10  # the byte before the piece (a newline: a row starts there)
    closed: bool = False  # that byte is a quote that closed a value


def exact(quote: bytes | None, escape: bytes | None, delimiter: bytes | None) -> bool:
    """Whether ``real_quotes`` can read the quotes as the parser does: one-byte quote and
    delimiter, no escape character (with one, the quotes are counted as before)."""
    return quote is not None and len(quote) == 1 and escape is None and delimiter is not None and len(delimiter) == 1


def real_quotes(
    data: bytes | bytearray, quote: int, delimiter: int, start: int, end: int, state: QuoteState
) -> np.ndarray:
    """Positions in ``data[start:end]`` of the quotes that open or close a value, as pyarrow
    and the csv module read them, from ``state`` (left where the scan ends). A quote opens a
    value only at a field's start (or as the second of ``""`` inside one); elsewhere outside
    a value (``12" pipe``) it is text. Counting every quote would take that one for an
    opening quote and move every cut after it inside a quoted value. Vectorised while the
    quotes alternate as counting them says (almost every file); a Python step per quote
    after the first quote that is text."""
    octets = np.frombuffer(data, np.uint8, max(0, end - start), start)
    found = np.flatnonzero(octets == quote)
    inside = state.inside
    # the quotes that open a value if the quotes alternate: each must begin a field or follow
    # the quote before it (``""``); the first that does neither is text
    opening = found[int(inside) :: 2]
    if len(opening):
        before = octets[np.maximum(opening - 1, 0)]
        if opening[0] == 0:
            before[0] = state.prev
        text = (before != delimiter) & (before != 10) & (before != 13) & (before != quote)
        if opening[0] == 0 and state.prev == quote:
            text[0] = not state.closed  # after a quote that was text, a quote is text too
        if text.any():
            first = int(inside) + 2 * int(np.argmax(text))
            closed_at = int(found[first - 1]) if first else -2
            starts = _starts(octets, found[first:], delimiter, state.prev)
            rest = _walk(found[first:].tolist(), starts, closed_at)
            found = np.concatenate([found[:first], np.array(rest, dtype=found.dtype)])
    if len(octets):
        state.inside = bool((int(inside) + len(found)) % 2)
        state.closed = bool(len(found)) and int(found[-1]) == len(octets) - 1 and not state.inside
        state.prev = int(octets[-1])
    return found + start


def _starts(octets: np.ndarray, found: np.ndarray, delimiter: int, prev: int) -> list[bool]:
    """Whether each quote at ``found`` begins a field (``prev``: the byte before ``octets``)."""
    before = octets[np.maximum(found - 1, 0)]
    if len(found) and found[0] == 0:
        before[0] = prev
    return ((before == delimiter) | (before == 10) | (before == 13)).tolist()  # type: ignore[no-any-return]


def _walk(found: list[int], starts: list[bool], closed_at: int) -> list[int]:
    """The quotes of ``found`` that open or close a value, from outside one: ``starts``
    says which begin a field, ``closed_at`` is where the last value closed."""
    kept: list[int] = []
    inside = False
    for at, begins in zip(found, starts, strict=True):
        if inside:
            inside, closed_at = False, at
            kept.append(at)
        elif begins or closed_at == at - 1:
            inside = True
            kept.append(at)
    return kept


def open_quotes(
    buf: bytes | bytearray,
    quote: bytes | None,
    escape: bytes | None,
    delimiter: bytes | None,
    start: int = 0,
    end: int | None = None,
) -> int:
    """How many quotes in ``buf[start:end]`` (a row starting at ``start``) open or close a
    value: odd when ``end`` is inside one."""
    if not exact(quote, escape, delimiter):
        return quote_count(buf, quote, escape, start, end)
    assert quote is not None and delimiter is not None  # exact() checked them
    stop = len(buf) if end is None else min(end, len(buf))
    return len(real_quotes(buf, quote[0], delimiter[0], start, stop, QuoteState()))


def safe_cut(
    buf: bytes | bytearray,
    quote: bytes | None,
    escape: bytes | None,
    end: int | None = None,
    start: int = 0,
    delimiter: bytes | None = None,
) -> int:
    """Index of the last newline in ``buf[start:end]`` that ends a row (not inside
    quotes, a row starting at ``start``), or -1. With ``delimiter``, the quotes are read as
    the parser reads them (``real_quotes``); without, every quote counts."""
    pos = len(buf) if end is None else min(end, len(buf))
    if exact(quote, escape, delimiter):
        assert quote is not None and delimiter is not None  # exact() checked them
        return _last_row_end(buf, real_quotes(buf, quote[0], delimiter[0], start, pos, QuoteState()), start, pos)
    inside = quote_count(buf, quote, escape, start, pos)
    while True:
        if inside % 2 and quote is not None and not escape:
            # no newline after the last quote ends a row: go back past it, not newline by
            # newline (a stray quote would cost a Python step for every line after it)
            pos = buf.rfind(quote, start, pos)
            inside -= 1
            continue
        nl = buf.rfind(b"\n", start, pos)
        if nl < 0:
            return -1
        inside -= quote_count(buf, quote, escape, nl, pos)
        if inside % 2 == 0:
            return nl
        pos = nl


def _last_row_end(buf: bytes | bytearray, real: np.ndarray, start: int, pos: int) -> int:
    """The last newline in ``buf[start:pos]`` after an even number of ``real`` quotes, or -1."""
    while True:
        nl = buf.rfind(b"\n", start, pos)
        if nl < 0:
            return -1
        k = int(np.searchsorted(real, nl))
        if k % 2 == 0:
            return nl
        pos = int(real[k - 1])  # inside the value that quote opened: back past it


def first_row_end(buf: bytes, quote: bytes | None, escape: bytes | None) -> int:
    """Index just past the first complete row of ``buf``, or -1."""
    start = 0
    inside = 0
    while True:
        nl = buf.find(b"\n", start)
        if nl < 0:
            return -1
        inside += quote_count(buf, quote, escape, start, nl)
        if inside % 2 == 0:
            return nl + 1
        start = nl + 1


def fill(stream: Any, head: bytes | bytearray | memoryview, n: int) -> bytearray:
    """``head`` and then the stream's next bytes, up to ``n`` in all (fewer at its end),
    in a new buffer. The stream reads straight into it: joining ``head`` and a read
    and then slicing off a block would copy each block twice, holding the GIL."""
    buf = bytearray(max(n, len(head)))
    buf[: len(head)] = head
    got = len(head)
    readinto = getattr(stream, "readinto", None)
    with memoryview(buf) as view:
        while got < n:
            if readinto is not None:
                k = readinto(view[got:n])
            else:  # a transcoding stream: one copy
                data = stream.read(n - got)
                k = len(data)
                view[got : got + k] = data
            if not k:
                break
            got += k
    return trimmed(buf, got)


def trimmed(buf: bytearray, n: int) -> bytearray:
    """``buf[:n]``, cut short in place where nothing else holds a view of ``buf``, else
    copied. A view may outlive the call that made it: a sampling profiler (every Dask
    worker runs one) holds frames it sampled after they return, and their locals with them."""
    try:
        del buf[n:]
    except BufferError:
        return buf[:n]
    return buf


def block_bytes(block_size: int, columns: int) -> int:
    """Bytes per block for a file this wide, in proportion to ``block_size`` (which
    ``--max-memory`` may have shrunk). A function of the config and the header only, so
    a resumed run cuts the file where the first run did. At most ``MAX_CSV_BLOCK``: pyarrow
    takes no larger one."""
    return min(block_size * max(1, min(columns // WIDE_COLUMNS, WIDE_BLOCK_FACTOR)), MAX_CSV_BLOCK)


@dataclass
class Kept:
    """What sampling cut of standard input (which cannot be read twice), for the next
    pass to replay. The main pass (``final``) replays it once and keeps nothing more."""

    rest: bytes  # read and not cut yet
    blocks: list[Block] = field(default_factory=list)
    final: bool = False

    def replay(self) -> Iterator[Block]:
        if self.final:
            while self.blocks:
                yield self.blocks.pop(0)
        else:
            yield from list(self.blocks)

    def note(self, item: Block, data: bytes | bytearray, pos: int) -> None:
        if not self.final:
            self.blocks.append(item)
            self.rest = bytes(data[pos:])


class Cutter:
    """Cuts one file's bytes into blocks of about ``size`` bytes. A row that does not end
    within ``cap`` bytes (too long, or its quote is not closed) and a last row whose
    quote never closes are dropped: a block of their own holding what the reject keeps,
    and cutting goes on at the next line, as if that line were not there."""

    def __init__(
        self, quote: bytes | None, escape: bytes | None, cap: int, size: int, rows: CsvRows, delimiter: bytes | None
    ) -> None:
        self.quote = quote
        self.escape = escape
        self.delimiter = delimiter
        self.cap = cap
        self.size = min(size, cap)
        self.rows = rows

    def cut(self, stream: Any, pending: bytes, offset: int, kept: Kept | None = None) -> Iterator[Block]:
        """Blocks of whole rows from ``stream`` (after ``pending``), each with its byte offset."""
        if kept is not None:
            for item in kept.replay():
                yield item
                offset = item[1] + span(item)
            pending = kept.rest
        data: bytes | bytearray = pending
        pos = 0  # data[pos:] is not cut yet; it starts a row, at ``offset`` in the file
        window = self.size
        while True:
            if len(data) - pos <= window:
                with memoryview(data) as view:
                    data = fill(stream, view[pos:], window + 1)
                pos = 0
            last = len(data) - pos <= window  # the rest of the file fits
            if last and pos == len(data):
                return
            cut = self._find_cut(data, pos, len(data) if last else pos + window, last)
            if cut < 0 and not last and window < self.cap:
                window = min(window * 2, self.cap)
                continue
            item, data, pos = self._take(stream, data, pos, cut, offset, window, last)
            offset += span(item)
            window = self.size
            if kept is not None:
                kept.note(item, data, pos)
            yield item

    def _find_cut(self, data: bytes | bytearray, pos: int, end: int, last: bool) -> int:
        """The newline that ends the block starting at ``pos`` (looked for before ``end``), or -1."""
        if last and open_quotes(data, self.quote, self.escape, self.delimiter, pos) % 2 == 0:
            return len(data) - 1
        cut = safe_cut(data, self.quote, self.escape, end, pos, self.delimiter)
        if cut < 0:
            cut = self._line_with_literal_quote(data, pos, end, last)
        return cut

    def _take(
        self, stream: Any, data: bytes | bytearray, pos: int, cut: int, offset: int, window: int, last: bool
    ) -> tuple[Block, bytes | bytearray, int]:
        """The block ``data[pos : cut + 1]`` (cut < 0: the row at ``pos`` dropped), and the
        bytes and position after it."""
        if cut < 0:  # the row at ``pos`` never ends, or not within the cap
            return drop_row(stream, data, pos, offset, last, self.cap)
        if pos == 0 and len(data) - cut <= window:
            # The block is its buffer, trimmed: only the start of the next row is copied.
            block = data if isinstance(data, bytearray) else bytearray(data)
            rest = bytes(block[cut + 1 :])
            return (trimmed(block, cut + 1), offset, None), rest, 0
        # a long rest (after a long or dropped row): blocks are copied out of it
        with memoryview(data) as view:
            item = (bytearray(view[pos : cut + 1]), offset, None)
        return item, data, cut + 1

    def _line_with_literal_quote(self, data: bytes | bytearray, pos: int, end: int, last: bool) -> int:
        """The end of the line at ``data[pos]`` (looked for before ``end``, the end of the
        window, so that resumed runs cut alike; at the end of the file, ``last``) when it is
        one whole row whose odd quote is text inside an unquoted field (``5,12" pipe``: the
        parser reads it so), else -1."""
        nl = data.find(b"\n", pos, end)
        stop = len(data) if nl < 0 and last else nl + 1
        if stop <= 0:
            return -1
        text = data[pos:stop].decode("utf-8", "surrogateescape")
        try:
            whole = len(list(self.rows(io.StringIO(text, newline=""), True))) == 1
        except csv.Error:  # a quoted field opened and not closed on this line
            return -1
        return stop - 1 if whole else -1
