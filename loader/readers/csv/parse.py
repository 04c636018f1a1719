"""Parsing a block of whole rows into raw binary columns, and converting them to
the schema's types. Runs on the worker threads: all its state is the block's own,
and neither the block's bytes nor its raw values outlive the worker unless a reject
needs them (blocks in flight are most of a load's memory)."""

from __future__ import annotations

import io
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ... import compat, kernels
from ...chunk import text_or_bytes
from ...config import SourceConfig
from ...convert import Converted, ConvertedBatch, convert, convert_columns
from ...errors import SourceError
from ...types import empty_batch
from .. import decimal_comma
from ..dialect import Dialect, csv_rows
from .cut import Marks, byte_count, text_after_quotes
from .escapes import Escapes, na_spellings
from .header import quote_and_escape
from .long_rows import Block, Dropped

# The reason a row's first half is rejected when the block (or part) it ends ends inside its
# quoted value: a quote in an unquoted field earlier (``12" pipe``) put the cut there, as
# counting quotes cannot tell it from one that opens a value.
CUT_IN_VALUE = (
    "unterminated quoted field: the row was cut inside a quoted value "
    "(a quote in an unquoted field before it moves the cuts)"
)
# A row that is the file's header again: exports joined with ``cat a.csv b.csv``
REPEATED_HEADER = "repeats the header row (files concatenated?)"
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark: each joined export may start with one


@dataclass
class ParsedBlock:
    """A block cut at row boundaries, parsed and converted."""

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
class InvalidRow:
    """A malformed row, as pyarrow's ``InvalidRow`` describes one."""

    number: int
    expected_columns: int
    actual_columns: int
    text: str | bytes  # bytes when they are not UTF-8
    cut: bool = False  # the text is only the row's first bytes
    reason: str | None = None  # why, when it is not the count of its fields


def _true_at(mask: pa.Array) -> list[int]:
    """The positions where ``mask`` is true."""
    return [int(i) for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False))]


def _without_marks(block: bytearray, table: pa.Table) -> pa.Table:
    """A UTF-8 byte order mark that starts a row (exports joined with ``cat``, each written
    with one) is no part of its first value, as the JSON Lines reader reads such a line."""
    if not table.num_columns or _BOM[:1] not in block:  # one byte: a memchr, where the mark's three take a scan
        return table
    first = array(table.column(0))
    if not kernels.any(kernels.starts_with(first, "\ufeff")).as_py():
        return table
    unmarked = kernels.replace_substring_regex(first, "^\ufeff", "", max_replacements=1)
    return table.set_column(0, table.field(0), unmarked)


def array(column: pa.ChunkedArray) -> pa.Array:
    """A parsed column as one array, without a copy when it is one chunk (as a block's columns are)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


class BlockParser:
    """Parses blocks of one file (its dialect and column names) into raw binary columns."""

    def __init__(self, path: str, config: SourceConfig, dialect: Dialect, names: list[str], block_bytes: int) -> None:
        self.path = path
        self.config = config
        self.dialect = dialect
        self.names = names
        # In a file of one column an empty line is a row of an empty value (a NULL, as SQLite,
        # PostgreSQL and Excel write one and their readers read it back); in a wider one it is no row.
        self.one_column = len(names) == 1
        self.marks = Marks.of(*quote_and_escape(dialect, config), dialect.delimiter.encode())
        # the escapes as the file's writer meant them, translated for the parser (which reads an escaped byte as itself)
        self.escapes = Escapes.of(config, dialect)
        nulls = config.null_values if self.escapes is None else self.escapes.null_values(config.null_values)
        self.read = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=max(block_bytes, 1 << 20) * 2)
        self.convert = pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in names},
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=config.quoted_nulls,
        )
        # quoted_nulls false: the na spellings are nulled here, where pyarrow still knows which
        # value was quoted (a quoted one is text), in every column but ``keep_na``, and nowhere
        # after (``na_after_parse``): with their quoting gone a quoted "NA" would be nulled too
        self.na = na_at_parse(config)
        self.keep_na: set[str] = set()  # text columns, where unquoted spellings stay text: the reader's, once typed
        self.header: list[str] | None = None  # the file's own header row, as read (None: it has none)

    def parse(self, block: bytearray) -> tuple[pa.Table, list[Any]]:
        """One block as raw binary columns; malformed rows are set aside."""
        if self.escapes is not None:
            block = self.escapes.translate(block)
        while True:
            try:
                table, invalid = self._parse(block)
                table, invalid = self._text_after_quotes(block, table, invalid)
                table = _without_marks(block, self._na_as_written(table))
                return self._without_headers(block, table, self._as_written(invalid))
            except pa.ArrowCancelled:
                # A SIGINT or SIGTERM that pyarrow caught mid-parse (on the main thread, where
                # a Python handler is set) and handed on to that handler, which ran before
                # this: the run stops as it asked (at a batch boundary, or at once). Parsed
                # again, from the start: each retry took a signal of its own.
                continue

    def _without_headers(self, block: bytearray, table: pa.Table, invalid: list[Any]) -> tuple[pa.Table, list[Any]]:
        """Rows that are the header again, set aside as malformed (``REPEATED_HEADER``): loaded,
        a later file's header would be a junk row that turns a number column into text. Not
        in a file of one column, where a value may well be spelled as its column's name."""
        header = self.header
        if header is None or len(header) < 2 or header[0].encode("utf-8", "surrogateescape") not in block:
            return table, invalid
        again = None
        for name, column in zip(header, table.columns, strict=False):
            same = self._is_name(name, column)
            again = same if again is None else kernels.and_(again, same)
            if not kernels.any(again).as_py():  # the first column mostly tells
                return table, invalid
        assert again is not None
        taken = {r.number for r in invalid}
        numbers = [n for n in range(1, table.num_rows + len(invalid) + 1) if n not in taken]  # the table's rows
        text = self.dialect.delimiter.join(header)
        width = len(self.names)
        found = [InvalidRow(numbers[i], width, width, text, reason=REPEATED_HEADER) for i in _true_at(again)]
        return table.filter(kernels.invert(again)), sorted(invalid + found, key=lambda r: r.number)

    def _is_name(self, name: str, column: pa.ChunkedArray) -> pa.Array:
        """Where ``column``'s raw value is ``name``; an empty name (pandas' index column) or a
        null spelling is parsed as null."""
        same = kernels.fill_null(kernels.equal(array(column), name.encode("utf-8", "surrogateescape")), False)
        if name == "" or name in self.config.null_values:
            same = kernels.or_(same, kernels.is_null(array(column)))
        return same

    def _na_as_written(self, table: pa.Table) -> pa.Table:
        """Text columns (``keep_na``) keep an na spelling holding the escape as written,
        not as its sentinel (which the other columns null)."""
        if self.escapes is None or not self.escapes.na:
            return table
        for n in self.keep_na:
            i = self.names.index(n)
            table = table.set_column(i, n, self.escapes.na_as_written(array(table.column(i))))
        return table

    def na_field_as_written(self, name: str, value: str) -> str:
        """One field of column ``name`` (split by the csv module) as ``_na_as_written`` keeps it."""
        if self.escapes is None or name not in self.keep_na:
            return value
        for spelling in self.escapes.na:
            if value.encode("utf-8", "surrogateescape") == self.escapes.na_sentinel(spelling):
                return spelling.decode("utf-8", "surrogateescape")
        return value

    def _as_written(self, invalid: list[Any]) -> list[Any]:
        """Malformed rows with their text as written (``Escapes.as_written``), not as translated."""
        if self.escapes is None or not invalid:
            return invalid
        return [self._row_as_written(row, self.escapes) for row in invalid]

    @staticmethod
    def _row_as_written(row: Any, escapes: Escapes) -> InvalidRow:
        text = row.text
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        written = escapes.as_written(data)
        text = written if isinstance(text, bytes) else written.decode("utf-8", "surrogateescape")
        cut, reason = getattr(row, "cut", False), getattr(row, "reason", None)
        return InvalidRow(row.number, row.expected_columns, row.actual_columns, text, cut, reason)

    def _text_after_quotes(self, block: bytearray, table: pa.Table, invalid: list[Any]) -> tuple[pa.Table, list[Any]]:
        """The block parsed again, every byte kept, where a value has text after its closing
        quote (``"Deluxe" pack``): that row is rejected, not loaded changed (``Deluxe pack``).
        The quote was text there (an unquoted export), or the file is broken (DuckDB refuses it too)."""
        if self.marks is None or self.marks.quote is None:
            return table, invalid
        found = text_after_quotes(block, self.marks)
        return (table, invalid) if not len(found) else self._parse_keeping_bytes(block, found)

    def _parse(self, block: bytearray) -> tuple[pa.Table, list[Any]]:
        """Parsed with a last row after the block's own (``_end_row``): it tells whether the
        block ends inside a quoted value, which pyarrow and the csv module take as closed
        by the end of their input, its value cut short."""
        if not self.dialect.quote:
            return self._parse_rows(block)
        end = self._end_row(block, self.dialect.quote)
        table, invalid = self._parse_rows(block + end)
        return self._settle_end(table, invalid, end, block.endswith(b"\n"))

    def _end_row(self, block: bytearray, quote: str) -> bytes:
        """A row of a quote and more delimiters than the file has columns, on a line of its
        own. After a row that ends, its quote is never closed: one field (a malformed row, or
        in a file of one column a row). In a quoted value left open, its quote closes the
        value and its delimiters give that row more fields than the file has."""
        row = quote + self.dialect.delimiter * (len(self.names) + 1) + "\n"
        return (b"" if block.endswith(b"\n") else b"\n") + row.encode()

    def _settle_end(self, table: pa.Table, invalid: list[Any], end: bytes, ended: bool) -> tuple[pa.Table, list[Any]]:
        """The block's rows without the row ``_end_row`` added; its last row rejected if
        its quoted value was still open at the block's end."""
        width = len(self.names)
        last = invalid[-1] if invalid and invalid[-1].number == table.num_rows + len(invalid) else None
        if last is None:  # one column: the added row parsed as a row
            return table.slice(0, table.num_rows - 1), invalid
        if last.actual_columns <= width:  # the added row, malformed on its own: the block ended between rows
            return table, invalid[:-1]
        text = _strip_end(last.text, end[:-1], ended)
        invalid[-1] = InvalidRow(last.number, width, last.actual_columns - width - 1, text, reason=CUT_IN_VALUE)
        return table, invalid

    def may_hold_nul(self, block: bytes | bytearray) -> bool:
        """Whether a value parsed from ``block`` may hold a NUL byte: one in it, or a ``\\0``
        its C escapes read as one (``escape_mode = "c"``)."""
        if b"\x00" in block:
            return True
        return self.escapes is not None and self.escapes.mode == "c" and self.escapes.makes_nul(block)

    def empty_lines_are_rows(self, block: bytes | bytearray) -> bool:
        """Whether an empty line in ``block`` is a row: in a file of one column, unless its
        lines end in ``\\r\\r\\n`` (Python's csv writing CRLF in text mode on Windows), where
        the parser reads an empty line after each row that is none."""
        return self.one_column and b"\r\r\n" not in block

    def _parse_rows(self, block: bytearray) -> tuple[pa.Table, list[Any]]:
        read = self.read
        if len(block) >= read.block_size:  # a block grown for a long row: parsed in one piece
            read = pacsv.ReadOptions(column_names=self.names, use_threads=False, block_size=len(block) + 1)
        with compat.invalid_csv_rows() as invalid:
            parse = pacsv.ParseOptions(
                delimiter=self.dialect.delimiter,
                quote_char=self.dialect.quote or False,
                escape_char=self.config.escape_char,
                newlines_in_values=bool(self.dialect.quote),
                ignore_empty_lines=not self.empty_lines_are_rows(block),
                invalid_row_handler=invalid,
            )
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(block), read_options=read, parse_options=parse, convert_options=self.convert
                )
            except pa.ArrowInvalid as exc:
                if not invalid.undecodable:
                    raise SourceError(f"cannot parse: {exc}", file=self.path) from None
                return self._parse_keeping_bytes(block)
        return self._null_unquoted_na(block, read, parse, table), invalid.rows

    def _null_unquoted_na(
        self, block: bytearray, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, table: pa.Table
    ) -> pa.Table:
        """``table`` with the na spellings nulled where unquoted (``self.na``): its columns
        that hold one parsed again with them as ``null_values`` (only pyarrow saw the quotes)."""
        if not self.na:
            return table
        spelled = pa.array(self.na, pa.binary())
        names = [
            n
            for n in self.names
            if n not in self.keep_na and kernels.any(kernels.is_in(table.column(n), value_set=spelled)).as_py()
        ]
        if not names:
            return table
        nulls = pacsv.ConvertOptions(
            column_types={n: pa.binary() for n in names},
            null_values=[*self.convert.null_values, *self.na],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            include_columns=names,
        )
        with compat.invalid_csv_rows() as again:  # the same rows malformed as in the first parse
            parse.invalid_row_handler = again
            nulled = pacsv.read_csv(
                pa.BufferReader(block), read_options=read, parse_options=parse, convert_options=nulls
            )
        for n in names:
            table = table.set_column(self.names.index(n), n, nulled.column(n))
        return table

    def _parse_keeping_bytes(
        self, block: bytearray, after_quotes: np.ndarray | None = None
    ) -> tuple[pa.Table, list[Any]]:
        """Parse a block holding a malformed row with non-UTF-8 bytes (which pyarrow cannot
        report) with the csv module, every byte kept, so only the bad rows are rejected; and
        the rows holding a position of ``after_quotes`` (``text_after_quotes``)."""
        width = len(self.names)
        columns: list[list[bytes | None]] = [[] for _ in range(width)]
        invalid: list[Any] = []
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in io.StringIO(block.decode("utf-8", "surrogateescape"), newline=""):
                consumed.append(line)
                yield line

        number = start = 0
        empty_rows = self.empty_lines_are_rows(block)
        marks = after_quotes if after_quotes is not None else np.empty(0, np.intp)
        for fields in csv_rows(self.dialect, self.config.escape_char, lines()):
            whole = "".join(consumed)
            raw = whole.rstrip("\r\n")
            consumed.clear()
            at, start = start, start + len(whole.encode("utf-8", "surrogateescape"))
            if not fields:
                if not empty_rows:
                    continue  # an empty line is no row, as for pyarrow
                fields = [""]
            number += 1
            # text after a closing quote first: it is why such a row's fields may not count right
            quote = marks[np.searchsorted(marks, at) : np.searchsorted(marks, start)]
            if len(quote):
                text = text_or_bytes(raw.encode("utf-8", "surrogateescape"))
                reason = self._after_quote_reason(block, at, int(quote[0]))
                invalid.append(InvalidRow(number, width, len(fields), text, reason=reason))
                continue
            if len(fields) != width:
                text = text_or_bytes(raw.encode("utf-8", "surrogateescape"))
                invalid.append(InvalidRow(number, width, len(fields), text))
                continue
            for col, value, null in zip(columns, fields, self.nulls(fields, raw), strict=True):
                col.append(None if null else value.encode("utf-8", "surrogateescape"))
        table = pa.table({n: pa.array(c, pa.binary()) for n, c in zip(self.names, columns, strict=True)})
        return table, invalid

    def nulls(self, fields: list[str], raw: str) -> list[bool]:
        """Which of a row's ``fields`` (the csv module's, of its text ``raw``) are NULL, as
        ``_parse_rows`` reads them: ``null_values``, and ``self.na`` outside ``keep_na``; with
        quoted_nulls false none that was quoted (the csv module drops the quotes: read from
        ``raw``). A replay splits a reject's raw line so too."""
        nulls, na = self.convert.null_values, self.na
        null = [v in nulls or (v in na and n not in self.keep_na) for v, n in zip(fields, self.names, strict=True)]
        if self.config.quoted_nulls or not any(null):
            return null
        quoted = quoted_fields(raw, self.dialect.delimiter, self.dialect.quote, self.config.escape_char)
        return [n and not (i < len(quoted) and quoted[i]) for i, n in enumerate(null)]

    def _after_quote_reason(self, block: bytearray, start: int, quote: int) -> str:
        """Why the row at ``start`` is rejected: its value's text after the closing quote at ``quote``."""
        prefix = io.StringIO(block[start : quote + 1].decode("utf-8", "replace"), newline="")
        fields = next(csv_rows(self.dialect, self.config.escape_char, prefix), [""])
        column = self.names[min(len(fields), len(self.names)) - 1]
        ends = [
            i for i in (block.find(m, quote + 1) for m in (self.dialect.delimiter.encode(), b"\r", b"\n")) if i >= 0
        ]
        text = block[quote + 1 : min(ends, default=len(block))].decode("utf-8", "replace")
        text = text if len(text) <= 40 else text[:37] + "..."
        return (
            f"text after the closing quote in column {column!r}: {text!r} (a value is quoted whole; "
            "where quotes are text, --quote-char false reads the file unquoted)"
        )


def na_at_parse(config: SourceConfig) -> tuple[str, ...]:
    """The na spellings the parser nulls (``BlockParser.na``): with quoted_nulls false, all
    (those holding the escape as their sentinels: ``na_spellings``)."""
    return () if config.quoted_nulls else na_spellings(config)


def na_after_parse(config: SourceConfig) -> tuple[str, ...]:
    """The na spellings conversion and type inference look for: those the parser left."""
    return () if na_at_parse(config) else na_spellings(config)


def quoted_fields(raw: str, delimiter: str, quote: str | None, escape_char: Any) -> list[bool]:
    """Whether each field of the row ``raw`` is quoted: it opens with the quote, as for the csv
    module and pyarrow (a quote inside an unquoted field is text)."""
    escape = escape_char if isinstance(escape_char, str) else None
    quote = quote or ""  # none: no field is quoted
    flags: list[bool] = []
    i, end = 0, len(raw)
    while True:
        flags.append(bool(quote) and raw.startswith(quote, i))
        inside = flags[-1]
        i += inside
        while i < end and (inside or raw[i] != delimiter):
            if raw[i] == escape:
                i += 1
            elif inside and raw[i] == quote:
                inside = raw.startswith(quote, i + 1)  # a doubled quote is one quote, still inside
                i += inside
            i += 1
        if i >= end:
            return flags
        i += 1


def _strip_end(text: str | bytes, end: bytes, ended: bool) -> str | bytes:
    """A row's text without what ``_end_row`` added after it, and without the newline the
    block ended in (as a row's text is without its newline)."""
    body = text[: len(text) - (len(end) if isinstance(text, bytes) else len(end.decode()))]
    last = body[-2:]
    last_two = last.decode("latin-1") if isinstance(last, bytes) else last
    newline = 2 if last_two == "\r\n" else 1 if last_two.endswith("\n") else 0
    return body[: len(body) - newline] if ended else body


@dataclass
class Conversion:
    """How a parsed block's raw columns become the schema's types."""

    schema: pa.Schema
    strict: set[str]  # converted under the lossless rule
    comma_columns: set[str]  # numbers written in ``style`` (a decimal comma, a thousands separator)
    style: decimal_comma.NumberStyle
    encoding: str
    na: tuple[str, ...]
    no_value: set[str]  # text columns this file holds only null and na spellings in: those load as NULL

    def prepare(self, parser: BlockParser, item: Block) -> ParsedBlock:
        """Parse and convert one block: the pure part of reading, run on worker threads."""
        block, offset, dropped = item
        if dropped is not None:
            return self.dropped_block(item, dropped)
        table, invalid = parser.parse(block)
        may_hold_nul = parser.may_hold_nul(block)

        def one(field: pa.Field, col: pa.Array) -> Converted:
            how: dict[str, Any] = {
                "strict": field.name in self.strict,
                "encoding": self.encoding,
                "may_hold_nul": may_hold_nul,
                "na": self.na,
            }
            if field.name in self.comma_columns:
                return decimal_comma.convert_comma(col, field.type, self.style, **how)
            return convert(col, field.type, na_text=field.name in self.no_value, **how)

        converted = convert_columns([array(c) for c in table.columns], self.schema, one, alike=self._alike)
        return ParsedBlock(
            size=len(block),
            offset=offset,
            dropped=None,
            newlines=byte_count(block, 10),
            last_line_ended=block.endswith(b"\n"),
            parsed_rows=table.num_rows,
            table=table if converted.bad is not None else None,
            invalid=invalid,
            converted=converted,
        )

    def _alike(self, field: pa.Field) -> Hashable:
        """Fields ``prepare`` converts the same way: one type, one rule, one reading of commas."""
        return (
            str(field.type),
            field.name in self.strict,
            field.name in self.comma_columns,
            field.name in self.no_value,
        )

    def dropped_block(self, item: Block, dropped: Dropped) -> ParsedBlock:
        """A row dropped while cutting: no rows, one malformed row with its reason."""
        cut = len(item[0]) < dropped.size - dropped.ended  # a long row: only its first bytes were kept
        text = text_or_bytes(bytes(item[0]).rstrip(b"\r\n"), cut)
        empty = empty_batch(self.schema)
        return ParsedBlock(
            size=dropped.size,
            offset=item[1],
            dropped=dropped.reason,
            newlines=int(dropped.ended),
            last_line_ended=dropped.ended,
            parsed_rows=0,
            table=None,
            invalid=[InvalidRow(1, len(self.schema), 0, text, cut)],
            converted=ConvertedBatch(empty, None, {}),
        )
