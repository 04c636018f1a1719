"""The page sizes of a Parquet file, read from its page headers before it is loaded.

Arrow's Parquet reader holds, for every column it reads, the page it is decoding
(decompressed) and the column's dictionary, and reads each compressed page whole:
so the memory a Parquet load needs is set by how the file was written (its page size,
compression, dictionaries and column count), not by loader's sizes. A file written
with pandas' defaults (one row group, 1 MB pages, 1 MB dictionaries) needs more than
the benchmark's; one written with a page per column chunk needs whole column chunks.
``run.max_memory`` is checked against what the file needs (``file_layout``).

The footer's metadata gives each column chunk's place and total size but not its
pages, so their headers are read: a Thrift compact-protocol struct before each page
(``parquet.thrift``'s ``PageHeader``), of which the page type, its two sizes and a
dictionary page's value count are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .. import compat, storage
from ..errors import LoaderError

DICTIONARY_PAGE = 2
HEADER_READ = 256  # bytes read for a header first; longer ones (large statistics) are read again
MAX_HEADER = 1 << 20
# Headers read per column chunk: a writer cuts pages at one size, so the first pages
# (the dictionary among them) show the largest; a read each, a request each in object storage.
MAX_PAGES = 64
# What Arrow holds per column besides pages and dictionary (record reader, levels,
# builders), at most and per row of a row group; and per dictionary value of a string
# column (a pointer and a length).
COLUMN_BYTES = 128 << 10
COLUMN_ROW_BYTES = 128
STRING_DICTIONARY_VALUE_BYTES = 16


class PageHeaderError(ValueError):
    """Bytes that are not a Parquet page header."""


class _Short(Exception):
    """The header runs past the bytes read."""


# ------------------------------------------------------------ Thrift compact protocol


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Short
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = out = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if b < 0x80:
                return out
            shift += 7
            if shift > 63:
                raise PageHeaderError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, n: int) -> None:
        if n < 0:
            raise PageHeaderError("negative length")
        self.pos += n
        if self.pos > len(self.data):
            raise _Short

    def fields(self) -> Iterator[tuple[int, int]]:
        """A struct's (field id, type), each value to be read or skipped by the caller."""
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            kind, delta = head & 0x0F, head >> 4
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def skip_value(self, kind: int, depth: int = 0) -> None:
        if depth > 32:
            raise PageHeaderError("nested too deeply")
        if kind in _FIXED:
            self.skip(_FIXED[kind])
        elif kind in (4, 5, 6):  # integers: varints
            self.varint()
        elif kind == 8:  # binary
            self.skip(self.varint())
        elif kind in (9, 10):
            self._skip_list(depth)
        elif kind == 11:
            self._skip_map(depth)
        elif kind == 12:
            for _, inner in self.fields():
                self.skip_value(inner, depth + 1)
        else:
            raise PageHeaderError(f"unknown Thrift type {kind}")

    def _skip_list(self, depth: int) -> None:
        head = self.byte()
        size, element = head >> 4, head & 0x0F
        if size == 15:
            size = self.varint()
        for _ in range(size):
            # a boolean element is a byte of its own (in a struct its value is its type)
            self.skip(1) if element in (1, 2) else self.skip_value(element, depth + 1)

    def _skip_map(self, depth: int) -> None:
        size = self.varint()
        if size:
            head = self.byte()
            for _ in range(size):
                self.skip_value(head >> 4, depth + 1)
                self.skip_value(head & 0x0F, depth + 1)


# bytes of the fixed-size Thrift compact types: booleans (their value is their type),
# byte, double, uuid
_FIXED = {1: 0, 2: 0, 3: 1, 7: 8, 13: 16}


@dataclass(frozen=True)
class Page:
    """One page: its type, sizes in bytes, and (a dictionary page) how many values."""

    kind: int
    compressed: int
    uncompressed: int
    values: int
    header: int  # the header's own length


def parse_header(data: bytes) -> Page:
    """The page header at the start of ``data``; ``_Short`` if it runs past it."""
    cur = _Cursor(data)
    kind = compressed = uncompressed = values = -1
    for fid, ftype in cur.fields():
        if fid == 1 and ftype == 5:
            kind = cur.zigzag()
        elif fid == 2 and ftype == 5:
            uncompressed = cur.zigzag()
        elif fid == 3 and ftype == 5:
            compressed = cur.zigzag()
        elif fid == 7 and ftype == 12:  # DictionaryPageHeader: num_values first
            for inner, itype in cur.fields():
                if inner == 1 and itype == 5:
                    values = cur.zigzag()
                else:
                    cur.skip_value(itype)
        else:
            cur.skip_value(ftype)
    if kind < 0 or compressed < 0 or uncompressed < 0:
        raise PageHeaderError("a page header without its type or sizes")
    return Page(kind, compressed, uncompressed, max(values, 0), cur.pos)


def _header_at(source: Any, offset: int) -> Page:
    size = HEADER_READ
    while True:
        data = source.read_at(size, offset)
        try:
            return parse_header(data)
        except _Short:
            if len(data) < size or size >= MAX_HEADER:
                raise PageHeaderError("a page header runs past the end of the file") from None
            size *= 4


def chunk_pages(source: Any, column: Any, limit: int | None = None) -> list[Page]:
    """The pages of one column chunk (``ColumnChunkMetaData``), at most ``limit`` (``MAX_PAGES``)."""
    limit = MAX_PAGES if limit is None else limit
    start = column.data_page_offset
    if column.has_dictionary_page and 0 < column.dictionary_page_offset < start:
        start = column.dictionary_page_offset
    end = start + column.total_compressed_size
    pages: list[Page] = []
    pos = start
    while pos < end and len(pages) < limit:
        page = _header_at(source, pos)
        pages.append(page)
        pos += page.header + page.compressed
    return pages


@dataclass(frozen=True)
class ColumnNeed:
    """What Arrow holds to read one column: its largest page (compressed, decompressed)
    and its dictionary (decompressed, and how many values)."""

    page_compressed: int = 0
    page_uncompressed: int = 0
    dictionary: int = 0
    dictionary_values: int = 0
    strings: bool = False
    compressed: bool = True
    rows: int = 1 << 20

    @property
    def held(self) -> int:
        """Held while the column is read: the decompressed page (its buffer is reused, so
        the larger of a data page and the dictionary page), the decoded dictionary, and
        for strings the room their builder reserves for the rest of a page's values."""
        decoded = self.dictionary
        if self.strings:
            decoded += STRING_DICTIONARY_VALUE_BYTES * self.dictionary_values + self.page_uncompressed
        return max(self.page_uncompressed, self.dictionary) + decoded + min(COLUMN_BYTES, COLUMN_ROW_BYTES * self.rows)


def column_need(source: Any, column: Any, rows: int) -> ColumnNeed:
    """One column chunk's (of a row group of ``rows``) need from its page headers; from
    its totals (one page) when they cannot be read."""
    strings = column.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")
    compressed = column.compression != "UNCOMPRESSED"
    try:
        pages = chunk_pages(source, column) if column.num_values else []
    except (PageHeaderError, OSError, ValueError):
        return ColumnNeed(column.total_compressed_size, column.total_uncompressed_size, 0, 0, strings, compressed, rows)
    data = [p for p in pages if p.kind != DICTIONARY_PAGE]
    dictionary = [p for p in pages if p.kind == DICTIONARY_PAGE]
    return ColumnNeed(
        page_compressed=max((p.compressed for p in pages), default=0),
        page_uncompressed=max((p.uncompressed for p in data), default=0),
        dictionary=sum(p.uncompressed for p in dictionary),
        dictionary_values=sum(p.values for p in dictionary),
        strings=strings,
        compressed=compressed,
        rows=rows,
    )


def column_needs(source: Any, metadata: Any) -> list[ColumnNeed]:
    """Per column, the need in the file's largest row group (by compressed size): one
    writer's settings make its row groups alike, and the largest holds the largest
    dictionaries."""
    if metadata.num_row_groups == 0:
        return []
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    group = max(groups, key=lambda g: sum(g.column(c).total_compressed_size for c in range(g.num_columns)))
    return [column_need(source, group.column(c), group.num_rows) for c in range(group.num_columns)]


def reader_bytes(needs: list[ColumnNeed]) -> int:
    """Arrow memory the reader holds at most: every column's pages and dictionary, and
    one compressed page being read (columns are read one after another)."""
    reading = max((n.page_compressed for n in needs if n.compressed), default=0)
    return sum(n.held for n in needs) + reading


# ----------------------------------------------------------------- encryption

FOOTER_TAIL = 8  # the footer's length (4 bytes, little-endian) and the magic
ENCRYPTED_FOOTER = b"PARE"
ENCRYPTION_ALGORITHM = 8  # FileMetaData's field set in an encrypted file whose footer is plaintext


def file_rows(metadata: Any) -> int:
    """The rows of a Parquet file: its row groups' sum. The footer's own count is not
    trusted: parquet-rs 0.3.0 wrote 0 there for a file whose row group holds rows, and
    Arrow reads those rows."""
    return sum(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))


def leaf_paths(metadata: Any) -> list[str]:
    """The dotted path of each leaf column of a Parquet file with a row group, from the first
    (pyarrow's ``metadata.schema`` and the footer refer to each other: a cycle, which a run's
    paused collector kept to its end, 7.5 KB a file: ``memory.gc_paused``)."""
    group = metadata.row_group(0)
    return [group.column(i).path_in_schema for i in range(metadata.num_columns)]


def valueless(metadata: Any, file_names: list[str], names: list[str]) -> frozenset[str]:
    """The columns (by ``names``, the file's ``file_names`` as the load spells them) that hold
    no value in the file, from its footer: every column of a file without rows, and a plain
    column whose every row group's statistics count a null for each row (pandas writes an
    empty day's or an all-missing integer column as double). Asked after ``encrypted``."""
    if file_rows(metadata) == 0:
        return frozenset(names)
    leaves = {path: i for i, path in enumerate(leaf_paths(metadata))}
    # a nested column has leaves of other paths: not known here
    left = {leaves[f]: name for f, name in zip(file_names, names, strict=True) if f in leaves}
    for g in range(metadata.num_row_groups):  # most columns hold a value in the first group
        if not left:
            break
        group = metadata.row_group(g)
        left = {i: name for i, name in left.items() if _all_null(group, i)}
    return frozenset(left.values())


def _all_null(group: Any, column: int) -> bool:
    stats = group.column(column).statistics
    return bool(stats is not None and stats.has_null_count and stats.null_count == group.num_rows)


def encrypted(source: Any, metadata: Any) -> bool:
    """Whether the Parquet file ``source`` (its footer read as ``metadata``) has encrypted
    columns: pyarrow ends the process (a C++ exception it cannot pass on) when their
    metadata is read without the keys, so this is asked before ``row_group(g).column(c)``.
    A plaintext footer is followed by its signature: a footer longer than the metadata
    pyarrow read is walked for the field that marks the file encrypted."""
    size = source.size()
    if size < FOOTER_TAIL:
        return False
    tail = source.read_at(FOOTER_TAIL, size - FOOTER_TAIL)
    if tail[4:] == ENCRYPTED_FOOTER:
        return True
    length = int.from_bytes(tail[:4], "little")
    if length <= metadata.serialized_size or length > size - FOOTER_TAIL:
        return False
    cursor = _Cursor(source.read_at(length, size - FOOTER_TAIL - length))
    try:
        for field, kind in cursor.fields():
            if field == ENCRYPTION_ALGORITHM:
                return True
            cursor.skip_value(kind)
    except (_Short, PageHeaderError):
        return False
    return False


def file_layout(path: str) -> tuple[float, int, float]:
    """What reading the Parquet file ``path`` (local or in object storage) holds: MB of
    pages and dictionaries (``reader_bytes``), its columns and its bytes per row decoded
    (``row_bytes``). Nothing for a file that cannot be read as Parquet, its columns
    encrypted among them (the load reports that, with its reason, when it opens it)."""
    try:
        source = storage.open_arrow(path)
    except LoaderError:
        return 0.0, 0, 0.0
    with source:
        try:
            reader = compat.parquet_reader(source, buffer_size=1 << 16)
            metadata = reader.metadata
        except (OSError, ValueError, pa.ArrowException):  # a type pyarrow lacks too: the reader says which
            return 0.0, 0, 0.0
        if encrypted(source, metadata):
            return 0.0, 0, 0.0
        pages = reader_bytes(column_needs(source, metadata)) / (1 << 20)
        return pages, metadata.num_columns, reader_row_bytes(reader, source)


# Bytes a value of a physical type takes in Arrow (a BOOLEAN's bit counted as a byte:
# the sinks' encoders make one of it).
VALUE_BYTES = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}
OFFSET_BYTES = 4  # per value of a string column
ROW_GROUPS_SIZED = 4


def dictionary_columns(schema: Any) -> frozenset[str]:
    """The columns of an Arrow ``schema`` read as dictionaries (the type the file stores, as
    a pandas Categorical's), by name."""
    return frozenset(f.name for f in schema if pa.types.is_dictionary(f.type))


def dictionary_page_bytes(column: Any) -> float:
    """About how many of a column chunk's uncompressed bytes its dictionary page holds: its
    compressed span (from the footer's offsets) at the chunk's compression ratio."""
    start, data = column.dictionary_page_offset, column.data_page_offset
    if not column.has_dictionary_page or not 0 < start < data or not column.total_compressed_size:
        return 0.0
    ratio = column.total_uncompressed_size / column.total_compressed_size
    return float(min(column.total_uncompressed_size, (data - start) * ratio))


def column_bytes(column: Any, dictionary: bool = False, source: Any = None) -> float:
    """What one column chunk's values take decoded into Arrow: fixed-width values at their
    width (a list's every element counted: ``num_values``); text at its uncompressed
    size, or where a dictionary makes that small, at the mean length of its min and max,
    or, without them (a writer leaves out statistics of long values), at the mean length of
    the dictionary's values (its page header, read from ``source``, counts them).
    A column read as a dictionary (``dictionary``) holds it once for its rows, not per row,
    and a file whose Arrow dictionary is whole in every row group has one far larger than
    the group's rows: its dictionary page is left out (``file_layout`` counts it held)."""
    values = column.num_values
    width = VALUE_BYTES.get(column.physical_type)
    if width is not None:
        return float(width * values)
    size = float(column.total_uncompressed_size)
    if dictionary:
        size -= dictionary_page_bytes(column)
    stats = column.statistics if column.is_stats_set else None
    present = values - ((stats.null_count or 0) if stats is not None else 0)
    if stats is not None and stats.has_min_max and isinstance(stats.min, (str, bytes)):
        size = max(size, (len(stats.min) + len(stats.max)) / 2 * present)
    elif not dictionary and source is not None:
        size = max(size, dictionary_value_bytes(source, column) * present)
    return float(size + OFFSET_BYTES * values)


def dictionary_value_bytes(source: Any, column: Any) -> float:
    """The mean length of the values in a column chunk's dictionary page (PLAIN: each
    after its 4-byte length); 0 without one, or when its header cannot be read."""
    start = column.dictionary_page_offset
    if not column.has_dictionary_page or not 0 < start < column.data_page_offset:
        return 0.0
    try:
        page = _header_at(source, start)
    except (PageHeaderError, OSError, ValueError):
        return 0.0
    if page.kind != DICTIONARY_PAGE or page.values <= 0:
        return 0.0
    return max(0.0, (page.uncompressed - 4 * page.values) / page.values)


def row_bytes(metadata: Any, dictionaries: frozenset[str] = frozenset(), source: Any = None) -> float:
    """Bytes per row decoded, in the widest row groups (by their encoded bytes per row; a
    few, as a file of thousands of groups and columns would take long): from the footer,
    and the dictionary page headers (read from ``source``) of text without statistics.
    ``dictionaries``: the columns read as dictionaries (``dictionary_columns``)."""
    groups = [g for g in map(metadata.row_group, range(metadata.num_row_groups)) if g.num_rows]
    groups.sort(key=lambda g: g.total_byte_size / g.num_rows, reverse=True)
    widest = 0.0
    for group in groups[:ROW_GROUPS_SIZED]:
        columns = [group.column(c) for c in range(group.num_columns)]
        total = sum(column_bytes(c, c.path_in_schema in dictionaries, source) for c in columns)
        widest = max(widest, total / group.num_rows)
    return widest


def reader_row_bytes(reader: Any, source: Any = None) -> float:
    """``row_bytes`` of an open Parquet file (``compat.parquet_reader``) read from ``source``."""
    return float(row_bytes(reader.metadata, dictionary_columns(reader.schema_arrow), source))


def file_row_bytes(path: str) -> float:
    """``row_bytes`` of the Parquet file ``path``; 0 for one that cannot be read as Parquet
    (or whose columns are encrypted)."""
    try:
        source = storage.open_arrow(path)
    except LoaderError:
        return 0.0
    with source:
        try:
            reader = compat.parquet_reader(source, buffer_size=1 << 16)
            if encrypted(source, reader.metadata):
                return 0.0
            return reader_row_bytes(reader, source)
        except (OSError, ValueError, pa.ArrowException):  # a type pyarrow lacks too: the reader says which
            return 0.0
