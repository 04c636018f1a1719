"""Streaming CSV reader with loss-free type inference and row-level rejects.

The file is cut into blocks at row boundaries by a quote-parity scan (so a
quoted field may hold newlines), each block is parsed by pyarrow into raw
binary columns, and each column is converted to its type by
``loader.convert``. Owning the cutting means the reader always knows the byte
offset, row number and line number at a block boundary: that is what makes
exact resume possible, and what lets a reject name its line.

Types are inferred from the first ``infer_rows`` rows (not one block), and a
later value that does not fit its column is rejected with a reason instead
of failing the load or being changed.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import sys
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from .. import kernels as pc
from .. import storage
from ..chunk import Chunk, Reject
from ..convert import Converted, ConvertedBatch, TypeGuess, convert, convert_columns
from ..errors import ConfigError, SourceError, one_line
from ..prefetch import ordered_map
from . import decimal_comma
from .base import ReaderBase, bad_value_rejects, declared_types, dedupe_names, split_chunk, strict_columns
from .dialect import SNIFF_BYTES, Dialect, sniff

BOM = b"\xef\xbb\xbf"
# Every block costs a few kernel calls per column (parse, infer, convert, encode). A wide
# file's block must hold about as many rows as one WIDE_COLUMNS wide, or that cost per cell
# grows with the width (quadratic in it): the block grows with the width, up to 16 blocks.
WIDE_COLUMNS = 256
WIDE_BLOCK_FACTOR = 16
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
UNTERMINATED = "unterminated quoted field: a quote opened in this line is never closed"
# Of a row dropped for its length, the reject keeps this much (the rest is skipped unread into memory).
KEPT_OF_LONG_ROW = 1 << 10


class _Transcoder:
    """A byte stream re-encoded to UTF-8; undecodable bytes pass through as-is
    (surrogateescape) so the UTF-8 check rejects just their rows."""

    def __init__(self, raw: IO[bytes], encoding: str, path: str) -> None:
        self.raw = raw
        self.encoding = encoding
        self.path = path
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self.buffer = b""
        self.done = False

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and not self.done:
            data = self.raw.read(max(n, 1 << 16))
            self.done = not data
            try:
                text = self.decoder.decode(data, final=self.done)
            except UnicodeError as exc:  # not a bad byte (those pass through) but a bad stream: UTF-16 without a BOM
                raise SourceError(
                    f"cannot read as {self.encoding}: {exc}",
                    file=self.path,
                    hint="for UTF-16 or UTF-32 without a byte order mark, name the byte order: utf-16-le, utf-16-be",
                ) from None
            self.buffer += text.encode("utf-8", "surrogateescape")
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def close(self) -> None:
        self.raw.close()


class _Decompressing:
    """A decompressing stream whose failures (a truncated or corrupt file) name the file."""

    def __init__(self, raw: Any, path: str) -> None:
        self.raw = raw
        self.path = path

    def read(self, n: int) -> bytes:
        try:
            return self.raw.read(n)  # type: ignore[no-any-return]
        except OSError as exc:
            raise self._error(exc) from None

    def readinto(self, view: memoryview) -> int:
        try:
            return self.raw.readinto(view)  # type: ignore[no-any-return]
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> SourceError:
        return SourceError(
            f"compressed data is truncated or corrupt ({one_line(exc)})",
            file=self.path,
            hint="the file is incomplete or damaged: copy or download it again",
        )

    def close(self) -> None:
        self.raw.close()


def open_stream(path: str, encoding: str) -> tuple[Any, bool]:
    """The file as UTF-8 bytes, decompressed on the fly; also whether it can seek."""
    try:
        if path == "-":
            import sys

            raw: Any = sys.stdin.buffer
            seekable = False
        else:
            storage.check_file(path, "dir/*.csv")
            suffix = os.path.splitext(path)[1].lower()
            if suffix in _COMPRESSION:
                raw = _Decompressing(storage.open_arrow(path, _COMPRESSION[suffix]), path)
                seekable = False
            else:
                raw = storage.open_input(path)
                seekable = True
    except OSError as exc:
        raise SourceError.from_os(exc, path, "open") from None
    if codecs.lookup(encoding).name != "utf-8":
        return _Transcoder(raw, encoding, path), False
    return raw, seekable


# Above this many bytes a count runs in Arrow: a SIMD compare and a popcount,
# as much CPU as bytes.count on CSV text or less, and without the GIL, so the
# other threads run meanwhile.
_ARROW_COUNT_FROM = 64 << 10


def _byte_count(data: bytes | bytearray, byte: int, start: int = 0, stop: int | None = None) -> int:
    stop = len(data) if stop is None else min(stop, len(data))
    if stop - start < _ARROW_COUNT_FROM:
        return data.count(byte, start, stop)
    octets = pa.Array.from_buffers(pa.uint8(), stop - start, [None, pa.py_buffer(data)], offset=start)
    return int(pc.equal(octets, pa.scalar(byte, pa.uint8())).true_count)  # uint8: an int64 would widen every byte


def _quote_count(
    data: bytes | bytearray, quote: bytes | None, escape: bytes | None, start: int = 0, end: int | None = None
) -> int:
    if quote is None:
        return 0
    if not escape and len(quote) == 1 and start >= 0:
        return _byte_count(data, quote[0], start, end)
    n = data.count(quote, start, end)
    if escape:
        n -= data.count(escape + quote, start, end)
    return n


def safe_cut(
    buf: bytes | bytearray, quote: bytes | None, escape: bytes | None, end: int | None = None, start: int = 0
) -> int:
    """Index of the last newline in ``buf[start:end]`` that ends a row (not inside
    quotes, a row starting at ``start``), or -1."""
    pos = len(buf) if end is None else min(end, len(buf))
    inside = _quote_count(buf, quote, escape, start, pos)
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
        inside -= _quote_count(buf, quote, escape, nl, pos)
        if inside % 2 == 0:
            return nl
        pos = nl


@dataclass
class _Dropped:
    """A row rejected while cutting, unparsed: longer than the row cap, or its
    quote never closes. Reading goes on at the line after it."""

    reason: str
    size: int  # bytes it spans in the file (its block holds only what the reject keeps)
    ended: bool  # by a newline (not by the end of the file)


# A block: its bytes (a buffer of its own), its byte offset, and, for a row dropped
# while cutting, why.
Block = tuple[bytearray, int, _Dropped | None]


def _span(item: Block) -> int:
    """Bytes of the file a block covers."""
    return item[2].size if item[2] is not None else len(item[0])


def _fill(stream: Any, head: bytes | bytearray | memoryview, n: int) -> bytearray:
    """``head`` and then the stream's next bytes, up to ``n`` in all (fewer at its end),
    in a new buffer. The stream reads straight into it: joining ``head`` and a read
    and then slicing off a block copied each block twice, holding the GIL (~0.7 ms per MiB)."""
    buf = bytearray(max(n, len(head)))
    buf[: len(head)] = head
    got = len(head)
    readinto = getattr(stream, "readinto", None)
    with memoryview(buf) as view:
        while got < n:
            if readinto is not None:
                k = readinto(view[got:n])
            else:  # a transcoding stream: one copy, as before
                data = stream.read(n - got)
                k = len(data)
                view[got : got + k] = data
            if not k:
                break
            got += k
    del buf[got:]
    return buf


def block_bytes(block_size: int, columns: int) -> int:
    """Bytes per block for a file this wide, in proportion to ``block_size`` (which
    ``--max-memory`` may have shrunk). A function of the config and the header only, so
    a resumed run cuts the file where the first run did."""
    return block_size * max(1, min(columns // WIDE_COLUMNS, WIDE_BLOCK_FACTOR))


def _array(column: pa.ChunkedArray) -> pa.Array:
    """A parsed column as one array, without a copy when it is one chunk (as a block's columns are)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _guess_column(values: pa.ChunkedArray, so_far: TypeGuess | None) -> TypeGuess | None:
    """A guess from one part of the sample; None when it is not valid UTF-8 (the
    column then stays text, and those rows are rejected). Candidates the parts
    merged ``so_far`` have ruled out are not tried again (it may be a little
    behind, which costs checks, never a wrong answer: merging ANDs)."""
    if so_far is None:
        return None
    try:
        text = pc.cast(_array(values), pa.string())
    except pa.ArrowInvalid:
        return None
    guess = TypeGuess(so_far)
    guess.add(text)  # any other error is a bug to see, not a reason to call the column text
    return guess


def read_past_line(stream: Any, size: int) -> tuple[int, bytes, bool]:
    """Read on to the end of a line too long to keep, holding none of it: the bytes it
    spans (``size`` of them read already), the bytes read past its newline, and whether
    it had one (or ran to the end of the stream)."""
    while True:
        more = stream.read(1 << 20)
        if not more:
            return size, b"", False
        nl = more.find(b"\n")
        if nl >= 0:
            return size + nl + 1, bytes(more[nl + 1 :]), True
        size += len(more)


def row_numbers(base: int, n: int, skip: set[int]) -> pa.Array:
    """``base + 1 .. base + n`` as int64, less the block-relative numbers in ``skip``.
    Built by a kernel, not from a ``range``: a million Python ints cost 0.1 s of GIL."""
    if skip:
        return pa.array([base + i for i in range(1, n + 1) if i not in skip], pa.int64())
    return pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n), start=pa.scalar(base, pa.int64()))


def first_row_end(buf: bytes, quote: bytes | None, escape: bytes | None) -> int:
    """Index just past the first complete row of ``buf``, or -1."""
    start = 0
    inside = 0
    while True:
        nl = buf.find(b"\n", start)
        if nl < 0:
            return -1
        inside += _quote_count(buf, quote, escape, start, nl)
        if inside % 2 == 0:
            return nl + 1
        start = nl + 1


_hook_lock = threading.Lock()
_hook_users = 0
_hook_previous: Any = None


def _route_unraisable(unraisable: Any) -> None:
    # pyarrow decodes a malformed row's text before calling the invalid-row handler;
    # bytes that are not UTF-8 fail there, unraisably, and the whole block with them
    found = getattr(unraisable.object, "undecodable", None)
    if isinstance(found, list) and issubclass(unraisable.exc_type, UnicodeDecodeError):
        found.append(True)
    else:
        _hook_previous(unraisable)


@contextlib.contextmanager
def _undecodable_rows() -> Iterator[None]:
    """Note undecodable malformed rows on their handler while blocks are parsed.
    The hook is process-wide, so it stays installed while any thread parses."""
    global _hook_users, _hook_previous
    with _hook_lock:
        if _hook_users == 0:
            _hook_previous, sys.unraisablehook = sys.unraisablehook, _route_unraisable
        _hook_users += 1
    try:
        yield
    finally:
        with _hook_lock:
            _hook_users -= 1
            if _hook_users == 0:
                sys.unraisablehook, _hook_previous = _hook_previous, None


@dataclass
class _Block:
    """A block cut at row boundaries, parsed and converted. Neither its bytes nor
    its raw values are kept past the worker unless a reject needs them: blocks in
    flight are most of a load's memory."""

    size: int  # bytes
    offset: int  # byte offset of its first row
    dropped: str | None  # a row dropped while cutting, and why: the block is its one malformed row
    newlines: int  # counted here, on the worker thread
    last_line_ended: bool  # the block ends in a newline
    parsed_rows: int
    table: pa.Table | None  # raw values, for the rejects of bad values (None: there are none)
    invalid: list[Any]  # malformed rows, as pyarrow describes them
    converted: ConvertedBatch


@dataclass
class _InvalidRow:
    """A malformed row, as pyarrow's ``InvalidRow`` describes one."""

    number: int
    expected_columns: int
    actual_columns: int
    text: str


class CSVReader(ReaderBase):
    """Reads one CSV file as chunks. Use as a context manager."""

    def _open(self) -> None:
        config, path = self.config, self.path
        self.dialect = Dialect(",", '"', True)  # settled from the head of the file while opening
        self.quote: bytes | None = None
        self.escape = config.escape_char.encode() if isinstance(config.escape_char, str) else None
        assert isinstance(config.max_row_bytes, int)  # finish() parsed it
        self.max_row_bytes = config.max_row_bytes
        self._stream: Any = None
        self._pending = b""  # bytes read past the header, not yet cut into blocks
        self.data_offset = 0  # byte offset of the first data row
        self.data_line = 1
        self.raw_names: list[str] = []
        self._sample: list[Block] = []  # blocks kept for stdin, which cannot be re-read
        self._open_and_read_header()
        self.names = dedupe_names(self.raw_names)
        self.block_bytes = block_bytes(config.block_size, len(self.names))
        if self.check_width is not None:
            self.check_width(len(self.names), path)
        self.declared = declared_types(config, self.names, path)
        self._options = self._parse_options()
        self.schema = self._infer_schema()
        self.comma_columns: set[str] = set()
        if config.decimal_separator == ",":
            self._settle_decimal_commas()

    # ------------------------------------------------------------- opening

    def _open_and_read_header(self) -> None:
        self._stream, self.seekable = open_stream(self.path, self.config.encoding)
        cfg = self.config
        buf = self._read_at_least(1)
        if buf.startswith(BOM):
            buf = buf[len(BOM) :]
            self.data_offset = len(BOM)
        if not buf:
            raise SourceError("file is empty (no header, no rows)", file=self.path)
        pos = 0
        for _ in range(cfg.skip_rows):
            nl = buf.find(b"\n", pos)
            while nl < 0:
                more = self._stream.read(max(cfg.block_size, len(buf)))  # doubling: a long line costs no rescans
                if not more:
                    raise SourceError(f"has fewer than skip_rows={cfg.skip_rows} lines", file=self.path)
                buf += more
                self._check_head(len(buf) - pos, "a skipped line")
                nl = buf.find(b"\n", pos)
            pos = nl + 1
        self.data_line = cfg.skip_rows + 1
        buf = self._settle_dialect(buf, pos)
        if self.dialect.header:
            end = first_row_end(buf[pos:], self.quote, self.escape)
            while end < 0:
                more = self._stream.read(max(cfg.block_size, len(buf)))
                if not more:
                    end = len(buf) - pos
                    break
                buf += more
                self._check_head(len(buf) - pos, "the header")
                end = first_row_end(buf[pos:], self.quote, self.escape)
            header = buf[pos : pos + end]
            self.data_line += header.count(b"\n")
            pos += end
            try:
                text = header.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise SourceError(
                    "header is not valid text in the declared encoding", file=self.path, line=self.data_line - 1
                ) from None
            reader = self._csv_rows([text])
            names = next(reader, [])
            if not names or names == [""]:
                raise SourceError("header row is empty", file=self.path, line=self.data_line - 1)
            self.raw_names = names
        self.data_offset += pos
        self._pending = buf[pos:]
        if cfg.column_names is not None:
            if self.dialect.header and len(cfg.column_names) != len(self.raw_names):
                raise ConfigError(
                    f"source.column_names: {len(cfg.column_names)} names for {len(self.raw_names)} columns in {self.path}"
                )
            self.raw_names = list(cfg.column_names)
        elif not self.dialect.header:
            while b"\n" not in self._pending:
                more = self._stream.read(max(cfg.block_size, len(self._pending)))
                if not more:
                    break
                self._pending += more
                self._check_head(len(self._pending), "the first row")
            first = len(self._pending) - len(self._pending.lstrip(b"\r\n"))  # pyarrow skips empty lines
            end = first_row_end(self._pending[first:], self.quote, self.escape)
            row = self._pending[first : first + end if end > 0 else len(self._pending)].decode("utf-8", "replace")
            width = len(next(self._csv_rows([row.rstrip("\r\n")]), []))
            self.raw_names = [f"column_{i}" for i in range(1, width + 1)]

    def _settle_dialect(self, buf: bytes, pos: int) -> bytes:
        """The dialect from the job, the rest sniffed from the first ``SNIFF_BYTES`` of data
        (read into ``buf``, which the reader goes on from: a pipe is read once). A resumed
        file keeps the dialect its checkpoint recorded."""
        recorded = (self.resume or {}).get("dialect")
        if recorded:
            self.dialect = Dialect.from_json(recorded)
        else:
            while len(buf) - pos < SNIFF_BYTES:
                more = self._stream.read(SNIFF_BYTES)
                if not more:
                    break
                buf += more
            sample = buf[pos : pos + SNIFF_BYTES]
            self.dialect = sniff(self.config, self.path, sample, complete=len(buf) - pos <= SNIFF_BYTES)
        self.quote = self.dialect.quote.encode() if self.dialect.quote else None
        return buf

    def _settle_decimal_commas(self) -> None:
        """Re-type inferred columns for decimal commas over the same sample; those that
        end numeric (inferred or declared) convert from their comma text."""
        inferred = [n for n in self.names if n in self.inferred]

        def sample() -> Iterator[pa.Table]:
            rows = 0
            with contextlib.closing(self._head_blocks()) as blocks:
                for item in blocks:
                    table = self._parse(item)[0]
                    yield table.slice(0, self.config.infer_rows - rows)
                    rows += table.num_rows
                    if rows >= self.config.infer_rows:
                        return

        if inferred:
            self.schema = decimal_comma.guess_types(self.schema, inferred, sample(), self.config.na_values)
        self.comma_columns = {f.name for f in self.schema if decimal_comma.is_numeric(f.type)}
        for name in self.comma_columns:
            # their text guess ('3,50' is no number to it) must not outvote the comma reading
            # when the load unifies the files' types (loader.schema)
            self.guesses.pop(name, None)

    def _check_head(self, size: int, what: str) -> None:
        """A line read before the rows (no reject file can take it) is past the row cap: stop."""
        if size > self.max_row_bytes:
            raise SourceError(
                f"{what} is longer than {self.max_row_bytes} bytes (source.max_row_bytes) without ending",
                file=self.path,
                hint="check source.delimiter, source.quote_char and source.skip_rows, or raise source.max_row_bytes",
            )

    def _csv_rows(self, lines: Iterable[str], strict: bool = False) -> Iterator[list[str]]:
        cfg = self.config
        quote = self.dialect.quote
        return csv.reader(
            lines,
            delimiter=self.dialect.delimiter,
            quotechar=quote,
            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
            escapechar=cfg.escape_char if isinstance(cfg.escape_char, str) else None,
            strict=strict,
        )

    def _read_at_least(self, n: int) -> bytes:
        buf = self._stream.read(max(n, self.config.block_size))
        return buf if isinstance(buf, bytes) else bytes(buf)

    # ----------------------------------------------------------- inference

    def _infer_schema(self) -> pa.Schema:
        """Types from the first ``infer_rows`` rows; the load's settled types and
        declared types win (those columns are not sampled). Blocks of
        the sample are parsed and checked on the workers, each into a guess of its
        own, and folded in order; at most ``workers`` + 1 blocks are held at a time."""
        need = [n for n in self.names if n not in self.declared and n not in self.types]
        guesses: dict[str, TypeGuess | None] = {n: TypeGuess(na=self.config.na_values) for n in need}
        rows = 0
        if need:

            def guess_block(item: Block) -> tuple[pa.Table, dict[str, TypeGuess | None]]:
                table, _invalid = self._parse(item)
                return table, {n: _guess_column(table.column(n), guesses[n]) for n in need}

            with contextlib.closing(self._head_blocks()) as blocks, contextlib.closing(ordered_map(guess_block, (b for b in blocks if b[2] is None), self.workers)) as parts:
                for table, found in parts:
                    take = min(table.num_rows, self.config.infer_rows - rows)
                    if take < table.num_rows:  # the sample ends inside this block: its head only
                        found = {n: _guess_column(table.column(n).slice(0, take), guesses[n]) for n in need}
                    for n in need:
                        guess, more = guesses[n], found[n]
                        guesses[n] = None if guess is None or more is None else guess.merge(more)
                    rows += take
                    del table
                    if rows >= self.config.infer_rows:
                        break
        self.guesses = guesses
        self.inferred: set[str] = set(need)
        self.strict = strict_columns(self.names, self.types, self.declared)
        fields = []
        for n in self.names:
            guess = guesses.get(n)
            known = self.types.get(n, self.declared.get(n))
            fields.append(pa.field(n, known if known is not None else guess.result() if guess else pa.string()))
        return pa.schema(fields)

    def _head_blocks(self) -> Generator[Block, None, None]:
        """Blocks from the first data row, for inference, without losing them for the main pass."""
        if self.seekable or self.path != "-":
            stream, _ = open_stream(self.path, self.config.encoding)
            try:
                self._skip(stream, self.data_offset)
                yield from self._cut(stream, b"", self.data_offset)
            finally:
                stream.close()
        else:  # stdin: keep what inference reads, replay it in the main pass
            yield from self._cut(self._stream, self._pending, self.data_offset, keep=True)

    # -------------------------------------------------------------- cutting

    def _skip(self, stream: Any, n: int) -> None:
        if hasattr(stream, "seek") and not isinstance(stream, _Transcoder) and isinstance(stream, io.BufferedReader):
            stream.seek(n)
            return
        while n > 0:
            got = stream.read(min(n, 1 << 20))
            if not got:
                break
            n -= len(got)

    def _cut(self, stream: Any, pending: bytes, offset: int, keep: bool = False) -> Iterator[Block]:
        """Blocks of whole rows, each with its byte offset. A row that does not end
        within ``max_row_bytes`` (too long, or its quote is not closed) and a last row
        whose quote never closes are dropped: a block of their own holding what the
        reject keeps, and cutting goes on at the next line, as if that line were not there."""
        if keep:
            for item in self._sample:
                yield item
                offset = item[1] + _span(item)
            pending = self._pending
        data: bytes | bytearray = pending
        pos = 0  # data[pos:] is not cut yet; it starts a row, at ``offset`` in the file
        cap = self.max_row_bytes
        size = min(self.block_bytes, cap)
        window = size
        while True:
            # A block depends only on the bytes from its start, never on how reads fell: a
            # resumed run then cuts, and so parses stray quotes, exactly as the first run did.
            if len(data) - pos <= window:
                with memoryview(data) as view:
                    data = _fill(stream, view[pos:], window + 1)
                pos = 0
            last = len(data) - pos <= window  # the rest of the file fits
            if last and pos == len(data):
                return
            if last and _quote_count(data, self.quote, self.escape, pos) % 2 == 0:
                cut = len(data) - 1
            else:
                cut = safe_cut(data, self.quote, self.escape, len(data) if last else pos + window, pos)
            if cut < 0:
                cut = self._line_with_literal_quote(data, pos, len(data) if last else pos + window, last)
            if cut < 0 and not last and window < cap:
                window = min(window * 2, cap)
                continue
            if cut < 0:  # the row at ``pos`` never ends, or not within the cap
                item, data, pos = self._drop_row(stream, data, pos, offset, last)
                offset += _span(item)
            elif pos == 0 and len(data) - cut <= window:
                # The block is its buffer, trimmed: only the start of the next row is copied.
                block = data if isinstance(data, bytearray) else bytearray(data)
                data = bytes(block[cut + 1 :])
                del block[cut + 1 :]
                item = (block, offset, None)
                offset += len(block)
            else:  # a long rest (after a long or dropped row): blocks are copied out of it
                with memoryview(data) as view:
                    item = (bytearray(view[pos : cut + 1]), offset, None)
                pos = cut + 1
                offset += len(item[0])
            window = size
            if keep:
                self._sample.append(item)
                self._pending = bytes(data[pos:])
            yield item

    def _line_with_literal_quote(self, data: bytes | bytearray, pos: int, end: int, last: bool) -> int:
        """The end of the line at ``data[pos]`` (looked for before ``end``, the end of the
        window, so that resumed runs cut alike; at the end of the file, ``last``) when it is one whole row whose odd quote is text inside an
        unquoted field (``5,12" pipe``: the parser reads it so), else -1."""
        nl = data.find(b"\n", pos, end)
        stop = len(data) if nl < 0 and last else nl + 1
        if stop <= 0:
            return -1
        text = data[pos:stop].decode("utf-8", "surrogateescape")
        try:
            whole = len(list(self._csv_rows(io.StringIO(text, newline=""), strict=True))) == 1
        except csv.Error:  # a quoted field opened and not closed on this line
            return -1
        return stop - 1 if whole else -1

    def _drop_row(
        self, stream: Any, data: bytes | bytearray, pos: int, offset: int, last: bool
    ) -> tuple[Block, bytes | bytearray, int]:
        """The row at ``data[pos]`` as a dropped block, and the bytes and position
        after it. A quote never closed drops the line it opens in; a row with no
        newline within the cap drops up to the next newline, read through and not kept."""
        cap = self.max_row_bytes
        nl = data.find(b"\n", pos, len(data) if last else pos + cap)
        if nl >= 0 or last:
            stop = len(data) if nl < 0 else nl + 1
            reason = (
                UNTERMINATED
                if last
                else f"unterminated quoted field: a quote opened in this line is not closed within {cap} bytes (source.max_row_bytes)"
            )
            return (bytearray(data[pos:stop]), offset, _Dropped(reason, stop - pos, nl >= 0)), data, stop
        reason = f"row longer than {cap} bytes (source.max_row_bytes)"
        kept = bytearray(data[pos : pos + KEPT_OF_LONG_ROW])
        nl = data.find(b"\n", pos)
        if nl >= 0:
            return (kept, offset, _Dropped(reason, nl + 1 - pos, True)), data, nl + 1
        size, rest, ended = read_past_line(stream, len(data) - pos)
        return (kept, offset, _Dropped(reason, size, ended)), rest, 0

    def _parse_options(self) -> tuple[pacsv.ReadOptions, pacsv.ConvertOptions]:
        cfg = self.config
        read = pacsv.ReadOptions(column_names=self.names, use_threads=False, block_size=max(self.block_bytes, 1 << 20) * 2)
        conv = pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in self.names},
            null_values=cfg.null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        return read, conv

    def _parse(self, item: Block) -> tuple[pa.Table, list[Any]]:
        """One block as raw binary columns; malformed rows are set aside. Safe to run
        on several threads at once: all its state is its own."""
        cfg = self.config
        invalid: list[Any] = []

        def on_invalid(row: Any) -> str:
            invalid.append(row)
            return "skip"

        on_invalid.undecodable = []  # type: ignore[attr-defined]
        parse = pacsv.ParseOptions(
            delimiter=self.dialect.delimiter,
            quote_char=self.dialect.quote or False,
            escape_char=cfg.escape_char,
            newlines_in_values=self.quote is not None,
            invalid_row_handler=on_invalid,
        )
        read, conv = self._options
        if len(item[0]) >= read.block_size:  # a block grown for a long row: parsed in one piece
            read = pacsv.ReadOptions(column_names=self.names, use_threads=False, block_size=len(item[0]) + 1)
        with _undecodable_rows():
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(item[0]), read_options=read, parse_options=parse, convert_options=conv
                )
            except pa.ArrowInvalid as exc:
                if not on_invalid.undecodable:  # type: ignore[attr-defined]
                    raise SourceError(f"cannot parse: {exc}", file=self.path) from None
                return self._parse_keeping_bytes(item[0])
        return table, invalid

    def _prepare(self, item: Block) -> _Block:
        """Parse and convert one block: the pure part of reading, run on worker threads."""
        block, offset, dropped = item
        if dropped is not None:
            return self._dropped_block(item, dropped)
        table, invalid = self._parse(item)
        may_hold_nul = b"\x00" in item[0]
        na = tuple(self.config.na_values)

        def one(field: pa.Field, col: pa.Array) -> Converted:
            how = decimal_comma.convert_comma if field.name in self.comma_columns else convert
            return how(
                col,
                field.type,
                strict=field.name in self.strict,
                encoding=self.config.encoding,
                may_hold_nul=may_hold_nul,
                na=na,
            )

        columns = [_array(c) for c in table.columns]
        converted = convert_columns(columns, self.schema, one)
        return _Block(
            size=len(block),
            offset=offset,
            dropped=None,
            newlines=_byte_count(block, 10),
            last_line_ended=block.endswith(b"\n"),
            parsed_rows=table.num_rows,
            table=table if converted.bad is not None else None,
            invalid=invalid,
            converted=converted,
        )

    def _dropped_block(self, item: Block, dropped: _Dropped) -> _Block:
        """A row dropped while cutting: no rows, one malformed row with its reason."""
        text = item[0].decode("utf-8", "backslashreplace").rstrip("\r\n")
        empty = pa.RecordBatch.from_pylist([], schema=self.schema)
        return _Block(
            size=dropped.size,
            offset=item[1],
            dropped=dropped.reason,
            newlines=int(dropped.ended),
            last_line_ended=dropped.ended,
            parsed_rows=0,
            table=None,
            invalid=[_InvalidRow(1, len(self.names), 0, text)],
            converted=ConvertedBatch(empty, None, {}),
        )

    def _parse_keeping_bytes(self, block: bytearray) -> tuple[pa.Table, list[_InvalidRow]]:
        """Parse a block holding a malformed row with non-UTF-8 bytes (which pyarrow cannot
        report) with the csv module, every byte kept, so only the bad rows are rejected."""
        width = len(self.names)
        columns: list[list[bytes | None]] = [[] for _ in range(width)]
        invalid: list[_InvalidRow] = []
        nulls = set(self.config.null_values)
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in io.StringIO(block.decode("utf-8", "surrogateescape"), newline=""):
                consumed.append(line)
                yield line

        number = 0
        for fields in self._csv_rows(lines()):  # type: ignore[arg-type]
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            if not fields:
                continue  # an empty line is no row, as for pyarrow
            number += 1
            if len(fields) != width:
                text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                invalid.append(_InvalidRow(number, width, len(fields), text))
                continue
            for col, value in zip(columns, fields, strict=True):
                col.append(None if value in nulls else value.encode("utf-8", "surrogateescape"))
        table = pa.table({n: pa.array(c, pa.binary()) for n, c in zip(self.names, columns, strict=True)})
        return table, invalid

    # ------------------------------------------------------------- reading

    def __iter__(self) -> Iterator[Chunk]:
        resume = self.resume or {}
        offset = int(resume.get("offset", self.data_offset))
        row_base = int(resume.get("offset_row", 0))
        line = int(resume.get("line", self.data_line))
        done_row = int(resume.get("row", 0))
        if self.path == "-":
            blocks = self._cut(self._stream, self._pending, self.data_offset, keep=True)
            self._sample_replay = True
        elif resume:
            self._stream.close()
            self._stream, _ = open_stream(self.path, self.config.encoding)
            self._skip(self._stream, offset)
            blocks = self._cut(self._stream, b"", offset)
        else:
            blocks = self._cut(self._stream, self._pending, self.data_offset)
        for parsed in ordered_map(self._prepare, blocks, self.workers):
            start, invalid = parsed.offset, parsed.invalid
            n_total = parsed.parsed_rows + len(invalid)
            if row_base + n_total <= done_row:  # wholly committed before: skip
                row_base += n_total
                line += parsed.newlines
                continue
            simple = (
                parsed.newlines + (0 if parsed.last_line_ended else 1) == n_total
            )  # one line per row: line numbers are exact
            rows = row_numbers(row_base, n_total, {r.number for r in invalid})
            lines = pc.add(rows, line - row_base - 1) if simple else None
            rejects = [
                Reject(
                    file=self.path,
                    row=row_base + r.number,
                    line=line + r.number - 1 if simple else None,
                    reason=parsed.dropped or f"expected {r.expected_columns} fields, found {r.actual_columns}",
                    raw=r.text,
                )
                for r in invalid
                if row_base + r.number > done_row
            ]
            converted = parsed.converted
            if converted.bad is not None:
                assert parsed.table is not None
                more = bad_value_rejects(self.path, converted, parsed.table, rows, lines)
                rejects.extend(r for r in more if (r.row or 0) > done_row)
                rejects.sort(key=lambda r: r.row or 0)
            chunk = Chunk(
                batch=converted.batch,
                file=self.path,
                rows=rows,
                lines=lines,
                last_row=row_base + n_total,
                end={},
                rejects=rejects,
                bytes_read=parsed.size,
            )
            if converted.bad is not None:
                chunk = chunk.keep(pc.invert(converted.bad), filtered=False)
            if done_row > row_base:  # resuming inside this block
                chunk = chunk.keep(pc.greater(chunk.rows, done_row), filtered=False)
            next_offset = start + parsed.size
            next_line = line + parsed.newlines
            yield from self._split(chunk, start, row_base, line, next_offset, next_line, max(done_row, row_base))
            row_base += n_total
            line = next_line

    def _split(
        self, chunk: Chunk, start: int, row_base: int, line: int, end: int, end_line: int, floor: int
    ) -> Iterator[Chunk]:
        """At most ``chunk_size`` rows per chunk; every piece knows where to resume."""
        dialect = self.dialect.to_json()  # fixed for the file: a resumed run must not sniff again
        final = {"offset": end, "offset_row": chunk.last_row, "line": end_line, "row": chunk.last_row, "dialect": dialect}
        within = {"offset": start, "offset_row": row_base, "line": line, "dialect": dialect}
        return split_chunk(chunk, self.chunk_size, floor, final, within)

    # --------------------------------------------------------------- closing

    def close(self) -> None:
        if self._stream is not None and self.path != "-":
            self._stream.close()
        self._stream = None
