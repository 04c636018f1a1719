"""Streaming CSV reader with loss-free type inference and row-level rejects.

The file is cut into blocks at row boundaries by a quote-parity scan (so a
quoted field may hold newlines; ``cut``), each block is parsed by pyarrow into
raw binary columns, and each column is converted to its type by
``loader.convert`` (``parse``). Owning the cutting means the reader always knows
the byte offset, row number and line number at a block boundary: that is what
makes exact resume possible, and what lets a reject name its line.

Types are inferred from the first ``infer_rows`` rows (not one block; ``infer``),
and a later value that does not fit its column is rejected with a reason instead
of failing the load or being changed.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
from collections.abc import Generator, Iterator
from typing import Any

import pyarrow as pa

from ... import kernels, storage
from ...chunk import Chunk, Reject
from ...prefetch import ordered_map
from ...types import is_numeric, is_text
from .. import decimal_comma
from ..base import (
    Position,
    ReaderBase,
    bad_value_rejects,
    declared_types,
    row_numbers,
    spelled,
    split_chunk,
    strict_columns,
)
from ..dialect import Dialect, csv_rows
from ..stream import DiskProgress, close_stream, open_stream, parses_at_most, skip
from . import parts
from .cut import Cutter, Kept, block_bytes
from .header import quote_and_escape, read_head
from .infer import SMALL_FILE_BYTES, WholeSample, sample_guesses, sample_tables, schema_of, whole_sample
from .long_rows import Block
from .parse import BlockParser, Conversion, ParsedBlock, na_after_parse


class CSVReader(ReaderBase):
    """Reads one CSV file as chunks. Use as a context manager."""

    PARTS = "bytes"
    _stream: Any = None  # the file, once its head is read

    def _open(self) -> None:
        config, path = self.config, self.path
        assert isinstance(config.max_row_bytes, int)  # finish() parsed it
        self.max_row_bytes = config.max_row_bytes
        head = read_head(path, config, self.max_row_bytes, (self.resume or {}).get("dialect"))
        self._stream = head.stream
        self.seekable = head.seekable
        self.dialect: Dialect = head.dialect
        self.quote, self.escape = quote_and_escape(self.dialect, config)
        self.delimiter = self.dialect.delimiter.encode()
        self.data_offset, self.data_line = head.data_offset, head.data_line
        self.raw_names = head.raw_names
        self._pending = head.pending  # read past the header, not yet cut into blocks
        self._kept = Kept(head.pending) if path == storage.STDIN else None  # standard input is read once
        self.names = spelled(self.header_names(self.raw_names), self.spelling)
        self.block_bytes = block_bytes(config.block_size, len(self.names))
        if self.check_width is not None:
            self.check_width(len(self.names), path)
        self.declared = declared_types(config, self.names, path, self.raw_names)
        self.numbers = decimal_comma.number_style(config)
        if self.part is not None:
            parts.check(self)
        # not a bound method: a reader in a reference cycle would hold its unread bytes until a full collection
        rows = functools.partial(csv_rows, self.dialect, config.escape_char)
        quote_only = config.escape_mode == "quote"  # a cut reads the escapes as the parser's translation does
        self.cutter = Cutter(
            self.quote, self.escape, self.max_row_bytes, self.block_bytes, rows, self.delimiter, quote_only
        )
        self.parser = BlockParser(path, config, self.dialect, self.names, self.block_bytes)
        self.parser.header = head.header
        self._infer_schema()
        na = na_after_parse(config)
        self.conversion = Conversion(
            self.schema, self.strict, self.comma_columns, self.numbers, config.encoding, na, self.no_value
        )
        # spellings the parser nulls (quoted_nulls false) stay text in text columns, as ``convert`` keeps them
        self.parser.keep_na = {f.name for f in self.schema if is_text(f.type)} - self.no_value

    # ----------------------------------------------------------- inference

    def _infer_schema(self) -> None:
        """Types from the first ``infer_rows`` rows; the load's settled types and
        declared types win (those columns are not sampled for a type). A column with no
        value but ``null_values`` and ``na_values`` spellings in a sample that holds the
        whole file is ``null``: it has no say in any type (a file of only a header says
        nothing of its columns). A settled text column is sampled only for that: with no
        value here, its spellings load as NULL (``no_value``), as on a day it was null."""
        cfg = self.config
        need = [n for n in self.names if n not in self.declared and n not in self.types]
        check = [n for n in self.names if n in self.types and n not in self.declared and is_text(self.types[n])]
        check = check if cfg.na_values else []  # without spellings, text holds its values as read
        self.no_value: set[str] = set()
        empties = self.empty_columns
        if empties is not None and not need and all(n in empties for n in check):
            self.no_value, check = {n for n in check if empties[n]}, []
        if self.defer_types:  # the load's types are asked, not what the main pass reads
            if need and self.numbers.plain and parses_at_most(self.path, self.size, SMALL_FILE_BYTES):
                with contextlib.closing(self._head_blocks()) as blocks:
                    table = whole_sample(need + check, blocks, self.parser.parse, cfg.infer_rows)
                self.sample = WholeSample(table, need) if table is not None else None
            check = []
        empty: dict[str, pa.DataType] = {}
        if (need and self.sample is None) or check:
            with contextlib.closing(self._head_blocks()) as blocks:
                guesses, whole = sample_guesses(
                    need + check,
                    blocks,
                    self.parser.parse,
                    cfg.infer_rows,
                    self.workers,
                    na_after_parse(cfg),
                    typed=need,
                )
            self.guesses = {n: guesses[n] for n in need}
            if whole:
                nothing = {n for n, g in guesses.items() if g is not None and not g.values}
                empty = {n: pa.null() for n in need if n in nothing}
                self.no_value = nothing & set(check)
        self.inferred: set[str] = set(need)
        self.strict = strict_columns(self.names, self.types, self.declared)
        self.schema = schema_of(self.names, self.guesses, self.types | empty, self.declared)
        self.comma_columns: set[str] = set()
        if not self.numbers.plain:
            self._settle_decimal_commas()

    def _settle_decimal_commas(self) -> None:
        """Re-type inferred columns for decimal commas and thousands separators over the same
        sample; those that end numeric (inferred or declared) convert from their text as written."""
        inferred = [n for n in self.names if n in self.inferred]
        if inferred:
            with contextlib.closing(self._head_blocks()) as blocks:
                tables = sample_tables(blocks, self.parser.parse, self.config.infer_rows)
                self.schema = decimal_comma.guess_types(
                    self.schema, inferred, tables, self.numbers, na_after_parse(self.config)
                )
        self.comma_columns = {f.name for f in self.schema if is_numeric(f.type)}
        for name in self.comma_columns:
            # their text guess ('3,50', '1,234' are no numbers to it) must not outvote the comma reading
            # when the load unifies the files' types (loader.schema)
            self.guesses.pop(name, None)
        for f in self.schema:
            guess = self.guesses.get(f.name)
            if guess is not None and pa.types.is_string(f.type) and is_numeric(guess.result()):
                guess.as_text()  # '1.234' is a thousand here, not a number the file's text guess saw

    def _head_blocks(self) -> Generator[Block, None, None]:
        """Blocks from the first data row, for inference, without losing them for the main pass."""
        if self._kept is not None:  # standard input: what inference reads is replayed in the main pass
            yield from self.cutter.cut(self._stream, b"", self.data_offset, self._kept)
            return
        stream, _ = open_stream(self.path, self.config.encoding)
        try:
            skip(stream, self.data_offset)
            yield from self.cutter.cut(stream, b"", self.data_offset)
        finally:
            stream.close()

    def _cut(self, stream: Any, pending: bytes, offset: int, keep: bool = False) -> Iterator[Block]:
        """Blocks of whole rows, each with its byte offset (see ``Cutter.cut``)."""
        return self.cutter.cut(stream, pending, offset, self._kept if keep else None)

    def _prepare(self, item: Block) -> ParsedBlock:
        return self.conversion.prepare(self.parser, item)

    # ------------------------------------------------------------- reading

    def __iter__(self) -> Iterator[Chunk]:
        resume = self.resume or {}
        part = parts.bounds(self, *self.part) if self.part is not None else None
        first_line, start = (part.line, part.start) if part is not None else (self.data_line, self.data_offset)
        at = Position(int(resume.get("offset_row", 0)), int(resume.get("line", first_line)), int(resume.get("row", 0)))
        blocks = self._blocks(int(resume.get("offset", start)), part)
        disk = DiskProgress(self._stream, None if self.resume else 0)  # after _blocks: a resumed run reopens it
        for parsed in ordered_map(self._prepare, disk.tag(blocks), self.workers):
            n_total = parsed.parsed_rows + len(parsed.invalid)
            bytes_read = disk.bytes_read(parsed.size)
            if at.row_base + n_total <= at.done:  # wholly committed before: skip
                at.past(n_total, parsed.newlines)
                continue
            chunk = self._chunk(parsed, n_total, at, bytes_read)
            end, end_line = parsed.offset + parsed.size, at.line + parsed.newlines
            yield from self._split(chunk, parsed.offset, at.row_base, at.line, end, end_line, max(at.done, at.row_base))
            at.past(n_total, parsed.newlines)

    def _blocks(self, offset: int, part: parts.Bounds | None) -> Iterator[Block]:
        """The main pass's blocks, from ``offset`` (where a resumed run goes on or a part starts)."""
        if part is not None:
            self._stream.close()
            stream, _ = open_stream(self.path, self.config.encoding)
            skip(stream, offset)
            self._stream = parts.Limited(stream, part.end - offset)
            return self.cutter.cut(self._stream, b"", offset)
        if self._kept is not None:
            self._kept.final = True
            return self.cutter.cut(self._stream, b"", self.data_offset, self._kept)
        if self.resume:
            self._stream.close()
            self._stream, _ = open_stream(self.path, self.config.encoding)
            skip(self._stream, offset)
            return self.cutter.cut(self._stream, b"", offset)
        return self.cutter.cut(self._stream, self._pending, self.data_offset)

    def _width_reason(self, row: Any) -> str:
        """Why a row of the wrong field count is rejected; in a file read in another encoding,
        where the row holds bytes that encoding could not decode (a UTF-16 file cut at an odd
        byte loses its last comma so), that first: the field count follows from it."""
        width = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        if isinstance(row.text, str) or codecs.lookup(self.config.encoding).name == "utf-8":
            return width
        shown = row.text.rstrip(b"\r\n").decode("utf-8", "backslashreplace")  # as a value's reason shows it
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return f"not valid {self.config.encoding} text: '{shown}' ({width})"

    def _chunk(self, parsed: ParsedBlock, n_total: int, at: Position, bytes_read: int) -> Chunk:
        """A parsed block as a chunk: its rows and lines numbered, malformed rows and bad
        values rejected, rows an earlier run committed left out."""
        invalid = parsed.invalid
        simple = parsed.newlines + (0 if parsed.last_line_ended else 1) == n_total  # one line per row: exact lines
        rows = row_numbers(at.row_base, n_total, {r.number for r in invalid})
        lines = kernels.add(rows, at.line - at.row_base - 1) if simple else None
        rejects = [
            Reject(
                file=self.path,
                row=at.row_base + r.number,
                line=at.line + r.number - 1 if simple else None,
                reason=parsed.dropped or getattr(r, "reason", None) or self._width_reason(r),
                raw=r.text,
                raw_truncated=getattr(r, "cut", False) or None,
            )
            for r in invalid
            if at.row_base + r.number > at.done
        ]
        converted = parsed.converted
        if converted.bad is not None:
            assert parsed.table is not None
            more = bad_value_rejects(self.path, converted, parsed.table, rows, lines)
            rejects.extend(r for r in more if (r.row or 0) > at.done)
            rejects.sort(key=lambda r: r.row or 0)
        chunk = Chunk(
            batch=converted.batch,
            file=self.path,
            rows=rows,
            lines=lines,
            last_row=at.row_base + n_total,
            end={},
            rejects=rejects,
            bytes_read=bytes_read,
        )
        if converted.bad is not None:
            chunk = chunk.keep(kernels.invert(converted.bad), filtered=False)
        if at.done > at.row_base:  # resuming inside this block
            chunk = chunk.keep(kernels.greater(chunk.rows, at.done), filtered=False)
        return chunk

    def _split(
        self, chunk: Chunk, start: int, row_base: int, line: int, end: int, end_line: int, floor: int
    ) -> Iterator[Chunk]:
        """At most ``chunk_size`` rows per chunk; every piece knows where to resume."""
        dialect = self.dialect.to_json()  # fixed for the file: a resumed run must not sniff again
        final = {
            "offset": end,
            "offset_row": chunk.last_row,
            "line": end_line,
            "row": chunk.last_row,
            "dialect": dialect,
        }
        within = {"offset": start, "offset_row": row_base, "line": line, "dialect": dialect}
        return split_chunk(chunk, self.chunk_size, floor, final, within)

    # --------------------------------------------------------------- closing

    def close(self) -> None:
        if self._stream is not None:
            close_stream(self.path, self._stream)
        self._stream = None
