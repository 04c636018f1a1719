"""Cutting a CSV byte stream into blocks of whole rows, by quote parity.

A quoted field may hold newlines, so a newline ends a row only where the quotes
before it (from the block's start) are balanced: the quotes that open and close
values, as the parser reads them, not a quote that is text in an unquoted field, nor
a quote or newline the escape character escapes. A block depends only on the
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
    prev: int = 10  # the byte before the piece, as ``read_piece`` reads it (a newline: a row starts there)
    closed: bool = False  # that byte is a quote that closed a value
    escaped: bool = False  # the piece's first byte is escaped (the bytes before end in an odd run of the escape)


@dataclass(frozen=True)
class Marks:
    """The bytes that end values and rows, one byte each, as the parser reads them
    (``read_piece``): ``quote`` None where values are not quoted, ``escape`` None without
    an escape character."""

    quote: int | None
    delimiter: int
    escape: int | None
    quote_only: bool = False  # the escape escapes only a quote (``source.escape_mode = "quote"``)

    @classmethod
    def of(
        cls, quote: bytes | None, escape: bytes | None, delimiter: bytes | None, quote_only: bool = False
    ) -> Marks | None:
        """The marks, or None where one is not a single byte (its quotes are then counted)."""
        if delimiter is None or len(delimiter) != 1 or any(b is not None and len(b) != 1 for b in (quote, escape)):
            return None
        only = quote_only and quote is not None
        return cls(quote[0] if quote else None, delimiter[0], escape[0] if escape else None, only)


def read_piece(
    data: bytes | bytearray, marks: Marks, start: int, end: int, state: QuoteState
) -> tuple[bytes | bytearray, int, np.ndarray]:
    """``data[start:end]`` as the parser reads it, from ``state`` (left where it ends): the
    bytes, where they start in them (a byte the escape character escapes is made text:
    ``unescaped``), and there the positions of the quotes that open or close a value
    (``real_quotes``). Look for the newlines that end rows in these bytes, not ``data``."""
    if marks.escape is None:
        buf, at = data, start
    else:
        only = marks.quote if marks.quote_only else None
        buf, at = unescaped(data, marks.escape, start, end, state, only)
    stop = at + max(0, end - start)
    if marks.quote is not None:
        return buf, at, real_quotes(buf, marks.quote, marks.delimiter, at, stop, state)
    if stop > at:
        state.prev = buf[stop - 1]
    return buf, at, np.empty(0, np.intp)


def unescaped(
    data: bytes | bytearray, escape: int, start: int, end: int, state: QuoteState, only: int | None = None
) -> tuple[bytes | bytearray, int]:
    """``data[start:end]`` with each byte the escape character escapes replaced by that
    character, which neither quotes, delimits nor ends a row, and where it starts: a copy
    where something is escaped, else ``data`` and ``start``. A byte is escaped after an odd
    run of the escape, in a quoted value or not (pyarrow reads ``a\\,b`` as one field and
    ``a\\`` then a newline as a value holding it); from ``state.escaped``, left for the next piece
    (an escape as a piece's last byte escapes the next one's first). ``only``: the one byte
    the escape escapes (a quote, ``escape_mode = "quote"``); before any other it is text."""
    octets = np.frombuffer(data, np.uint8, max(0, end - start), start)
    if not len(octets) or not (state.escaped or escape in octets):
        return data, start
    escaped = escaped_bytes(octets, escape, state.escaped)
    if only is not None:  # the byte after the piece is not known yet: kept, judged in the next piece
        escaped = escaped[(escaped == len(octets)) | (octets[np.minimum(escaped, len(octets) - 1)] == only)]
    state.escaped = bool(len(escaped)) and int(escaped[-1]) == len(octets)
    if not len(escaped) or len(escaped) == state.escaped:
        return data, start
    with memoryview(data) as view:
        buf = bytearray(view[start:end])  # one copy (a slice of bytes would be another)
    np.frombuffer(buf, np.uint8)[escaped[: len(escaped) - state.escaped]] = escape
    return buf, 0


def escaped_bytes(octets: np.ndarray, escape: int, first_escaped: bool = False) -> np.ndarray:
    """Positions in ``octets`` of the bytes the escape escapes: each after an odd run of it
    (``len(octets)`` where the last run escapes the byte after them). ``first_escaped``: the
    first byte is escaped (the bytes before end in an odd run)."""
    found = np.flatnonzero(octets == escape)
    if not len(found):
        return np.zeros(1 if first_escaped else 0, np.intp)
    heads = np.flatnonzero(np.diff(found, prepend=-2) != 1)  # each run's first escape
    lengths = np.diff(heads, append=len(found))
    after = found[heads] + lengths  # the byte after each run
    if first_escaped and found[0] == 0:
        lengths[0] -= 1  # its first escape is escaped: text, not an escape
    escaped = after[(lengths & 1).astype(bool)]
    return np.concatenate(([0], escaped)).astype(np.intp) if first_escaped else escaped


def real_quotes(
    data: bytes | bytearray, quote: int, delimiter: int, start: int, end: int, state: QuoteState
) -> np.ndarray:
    """Positions in ``data[start:end]`` of the quotes that open or close a value, as pyarrow
    and the csv module read them, from ``state`` (left where the scan ends). A quote opens a
    value only at a field's start (or as the second of ``""`` inside one); elsewhere outside
    a value (``12" pipe``) it is text. Counting every quote would take that one for an
    opening quote and move every cut after it inside a quoted value.

    Vectorised, no step per quote: a run of adjacent quotes is all text or all real (after
    a text quote a quote is text; after a closing one it opens), so only its first quote is
    judged. A run that begins a field is real (it opens or closes). Any other is text
    outside a value and closes one inside it, so when it is odd it leaves the scan outside
    whatever it was, and when even as it was: the state before a run is the parity of the
    odd field-starting runs since the last odd other one."""
    octets = np.frombuffer(data, np.uint8, max(0, end - start), start)
    found = np.flatnonzero(octets == quote)
    inside = state.inside
    if len(found):
        text = _text_runs(octets, found, quote, delimiter, state)
        if text is not None:
            found = found[~text]
    if len(octets):
        state.inside = bool((int(inside) + len(found)) % 2)  # each real quote opens or closes
        state.closed = bool(len(found)) and int(found[-1]) == len(octets) - 1 and not state.inside
        state.prev = int(octets[-1])
    return found + start


def text_after_quotes(data: bytes | bytearray, marks: Marks) -> np.ndarray:
    """Positions in ``data`` (whole rows, from a row's start) of the quotes that close a value
    and are followed by text, not by the delimiter, a line end or another quote
    (``"Deluxe" pack``): proof that the field was not quoted CSV, which pyarrow and the csv
    module would read as ``Deluxe pack``. Vectorised: a scan of the quotes, as cutting does."""
    if marks.quote is None or not len(data):
        return np.empty(0, np.intp)
    buf, _, real = read_piece(data, marks, 0, len(data), QuoteState())  # a copy keeps the positions
    closing = real[1::2]  # a block starts outside a value: its real quotes open and close in turn
    closing = closing[closing + 1 < len(buf)]
    if not len(closing):
        return closing
    after = np.frombuffer(buf, np.uint8)[closing + 1]
    text = (after != marks.delimiter) & (after != 10) & (after != 13) & (after != marks.quote)
    return closing[text]  # type: ignore[no-any-return]


def _text_runs(
    octets: np.ndarray, found: np.ndarray, quote: int, delimiter: int, state: QuoteState
) -> np.ndarray | None:
    """Which quotes at ``found`` are text (None: none is), from ``state`` (see ``real_quotes``)."""
    if not _alternation_breaks(octets, found, quote, delimiter, state):
        return None
    heads = np.flatnonzero(np.diff(found, prepend=-2) != 1)  # each run's first quote
    lengths = np.diff(heads, append=len(found))
    before = octets[np.maximum(found[heads] - 1, 0)]
    begins = (before == delimiter) | (before == 10) | (before == 13)
    if found[0] == 0:  # the byte before is the previous piece's: maybe a quote of a run
        continued = state.prev == quote and state.closed and not state.inside  # ``""`` across
        begins[0] = state.prev in (delimiter, 10, 13) or continued
    if begins.all():
        return None  # every run real: the quotes alternate as counting them says
    odd = (lengths & 1).astype(bool)  # parities by bit, not division: cheaper
    resets = ~begins & odd
    flips = begins & odd
    toggles = np.cumsum(flips)  # odd field-starting runs up to each run
    # the toggles at the last reset before each run (none: the scan's own state)
    since = np.concatenate(([-int(state.inside)], toggles[resets]))[np.cumsum(resets) - resets]
    inside = ((toggles - flips - since) & 1).astype(bool)
    text = ~begins & ~inside
    if not text.any():
        return None
    return np.repeat(text, lengths)


def _alternation_breaks(octets: np.ndarray, found: np.ndarray, quote: int, delimiter: int, state: QuoteState) -> bool:
    """Whether a quote is text if the quotes alternate (counting them, as almost every file
    reads): some quote that would open a value neither begins a field nor follows the quote
    before it (``""``). Cheaper than judging the runs: most files stop here."""
    opening = found[int(state.inside) :: 2]
    if not len(opening):
        return False
    before = octets[np.maximum(opening - 1, 0)]
    if opening[0] == 0:
        before[0] = state.prev
    text = (before != delimiter) & (before != 10) & (before != 13) & (before != quote)
    if opening[0] == 0 and state.prev == quote:
        text[0] = not state.closed  # after a quote that was text, a quote is text too
    return bool(text.any())


def safe_cut(
    buf: bytes | bytearray, quote: bytes | None, escape: bytes | None, end: int | None = None, start: int = 0
) -> int:
    """Index of the last newline in ``buf[start:end]`` that ends a row (not inside
    quotes, a row starting at ``start``), or -1, every quote counted: the cut of a file
    whose marks are not single bytes (``Marks.of``; ``RowEnds`` cuts the others)."""
    pos = len(buf) if end is None else min(end, len(buf))
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


@dataclass
class RowEnds:
    """A scan of a block's bytes for the newlines that end rows, with the quotes and escapes
    read as the parser reads them (``read_piece``). A block that grows (its row is long) is scanned on
    from where it stood, not from its start again (a long value would cost its size at each
    read), and a slice at a time: what it holds stays small, whatever the block's size."""

    scanned: int = 0  # bytes scanned from the block's start
    last: int = -1  # the last row end among them (from the block's start), or -1
    state: QuoteState = field(default_factory=QuoteState)

    def scan(self, data: bytes | bytearray, marks: Marks, pos: int, end: int) -> None:
        """Scan on to ``end`` (``data[pos:end]`` is the block so far)."""
        at = pos + self.scanned
        while at < end:
            stop = min(end, at + _COUNT_SLICE)
            inside = self.state.inside
            buf, base, real = read_piece(data, marks, at, stop, self.state)
            nl = last_row_end(buf, real, base, base + stop - at, inside)
            if nl >= 0:
                self.last = nl - base + at - pos
            at = stop
        self.scanned = max(self.scanned, end - pos)


def last_row_end(data: bytes | bytearray, real: np.ndarray, start: int, stop: int, inside: bool) -> int:
    """The last newline in ``data[start:stop]`` outside a value, or -1: after an even number of
    ``real`` quotes (the quotes there that open or close one, from ``start``, which is
    ``inside`` one or not)."""
    nl = data.rfind(b"\n", start, stop)
    if nl < 0 or (int(np.searchsorted(real, nl)) + inside) % 2 == 0:
        return nl
    ends = _row_ends(data, real, start, nl, inside)
    return int(ends[-1]) if len(ends) else -1


def next_row_end(data: bytes | bytearray, real: np.ndarray, start: int, stop: int, inside: bool) -> int:
    """The first newline in ``data[start:stop]`` outside a value, or -1 (see ``last_row_end``)."""
    nl = data.find(b"\n", start, stop)
    if nl < 0 or (int(np.searchsorted(real, nl)) + inside) % 2 == 0:
        return nl
    ends = _row_ends(data, real, nl, stop, inside)
    return int(ends[0]) if len(ends) else -1


def _row_ends(data: bytes | bytearray, real: np.ndarray, start: int, stop: int, inside: bool) -> np.ndarray:
    """The newlines in ``data[start:stop]`` outside a value, all at once: a value of many
    lines would cost a Python step for each (``real``, ``inside``: see ``last_row_end``)."""
    lines = np.flatnonzero(np.frombuffer(data, np.uint8, stop - start, start) == 10) + start
    return lines[(np.searchsorted(real, lines) + inside) % 2 == 0]  # type: ignore[no-any-return]


def first_row_end(buf: bytes, quote: bytes | None, escape: bytes | None, marks: Marks | None = None) -> int:
    """Index just past the first complete row of ``buf``, or -1. ``marks``: the quotes and
    escapes read as the parser reads them (``read_piece``), so an escaped newline (MySQL's
    ``\\`` and a line feed in a value) does not end the row; without, the quotes counted."""
    if marks is not None:
        data, at, real = read_piece(buf, marks, 0, len(buf), QuoteState())
        nl = next_row_end(data, real, at, at + len(buf), False)
        return nl - at + 1 if nl >= 0 else -1
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
        self,
        quote: bytes | None,
        escape: bytes | None,
        cap: int,
        size: int,
        rows: CsvRows,
        delimiter: bytes | None,
        quote_only: bool = False,
    ) -> None:
        self.quote = quote
        self.escape = escape
        self.marks = Marks.of(quote, escape, delimiter, quote_only)
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
        ends = RowEnds()  # the scan of the block at ``pos``, kept while it grows
        while True:
            if len(data) - pos <= window:
                with memoryview(data) as view:
                    data = fill(stream, view[pos:], window + 1)
                pos = 0
            last = len(data) - pos <= window  # the rest of the file fits
            if last and pos == len(data):
                return
            cut = self._find_cut(data, pos, len(data) if last else pos + window, last, ends)
            if cut < 0 and not last and window < self.cap:
                window = min(window * 2, self.cap)
                continue
            item, data, pos = self._take(stream, data, pos, cut, offset, window, last)
            offset += span(item)
            window = self.size
            ends = RowEnds()
            if kept is not None:
                kept.note(item, data, pos)
            yield item

    def _find_cut(self, data: bytes | bytearray, pos: int, end: int, last: bool, ends: RowEnds) -> int:
        """The newline that ends the block starting at ``pos`` (looked for before ``end``), or -1.
        ``ends``: the block's scan so far, carried on."""
        if self.marks is not None:
            ends.scan(data, self.marks, pos, end)
            if last and not ends.state.inside:
                return len(data) - 1
            cut = pos + ends.last if ends.last >= 0 else -1
        elif last and quote_count(data, self.quote, self.escape, pos) % 2 == 0:
            return len(data) - 1
        else:
            cut = safe_cut(data, self.quote, self.escape, end, pos)
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
