"""The head of a CSV file: skipped lines, the dialect, and the column names.

What is read here is kept (``Head.pending``) for the rows: standard input is read once.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...config import SourceConfig
from ...errors import ConfigError, SourceError
from ..dialect import SNIFF_BYTES, Dialect, csv_rows, sample_rows, sniff
from ..stream import close_stream, encoding_hint, guess_encoding, lone_cr_fix, not_text, open_stream
from ..stream import utf16_hint as _utf16_hint
from .cut import Marks, QuoteState, first_row_end, read_piece
from .escapes import translated

BOM = b"\xef\xbb\xbf"


@dataclass
class Head:
    stream: Any  # open, past what ``pending`` holds
    seekable: bool
    dialect: Dialect
    data_offset: int  # byte offset of the first data row
    data_line: int
    raw_names: list[str]  # as the header (or ``source.column_names``) gives them
    pending: bytes  # read past the header, not yet cut into blocks
    header: list[str] | None = None  # the file's own header row (None: it has none), whatever names replace it


class _HeadReader:
    def __init__(self, path: str, config: SourceConfig, cap: int) -> None:
        self.path = path
        self.config = config
        self.cap = cap
        self.stream, self.seekable = open_stream(path, config.encoding)
        self.ended = False  # a read came back empty: what was read is the whole file

    def more(self, buf: bytes, start: int, what: str) -> bytes | None:
        """``buf`` and the next read (doubling: a long line costs no rescans); None at the
        end. A line read before the rows (no reject file can take it) is past the cap: stop."""
        more = self.stream.read(max(self.config.block_size, len(buf)))
        if not more:
            self.ended = True
            return None
        buf += more
        if len(buf) - start > self.cap:
            raise SourceError(
                f"{what} is longer than {self.cap} bytes (source.max_row_bytes) without ending",
                file=self.path,
                hint="check source.delimiter, source.quote_char and source.skip_rows, or raise source.max_row_bytes",
                names=("source.max_row_bytes",),
            )
        return buf

    def skip_lines(self, buf: bytes) -> tuple[bytes, int]:
        """Past ``source.skip_rows`` lines: the bytes read, and where the data starts in them."""
        pos = 0
        for _ in range(self.config.skip_rows):
            nl = buf.find(b"\n", pos)
            while nl < 0:
                grown = self.more(buf, pos, "a skipped line")
                if grown is None:
                    raise SourceError(f"has fewer than skip_rows={self.config.skip_rows} lines", file=self.path)
                buf = grown
                nl = buf.find(b"\n", pos)
            pos = nl + 1
        return buf, pos

    def settle_dialect(self, buf: bytes, pos: int, recorded: dict[str, Any] | None) -> tuple[bytes, Dialect]:
        """The dialect from the job, the rest sniffed from the first ``SNIFF_BYTES`` of data
        (read into ``buf``, which the reader goes on from: a pipe is read once). A resumed
        file keeps the dialect its checkpoint recorded."""
        if recorded:
            return buf, Dialect.from_json(recorded)
        while len(buf) - pos < SNIFF_BYTES:
            more = self.stream.read(SNIFF_BYTES)
            if not more:
                self.ended = True
                break
            buf += more
        sample = buf[pos : pos + SNIFF_BYTES]
        return buf, sniff(self.config, self.path, sample, complete=len(buf) - pos <= SNIFF_BYTES)

    def header(self, buf: bytes, pos: int, dialect: Dialect, line: int) -> tuple[bytes, int, list[str]]:
        """The header row at ``buf[pos]``: the bytes read, the position after it, its names."""
        quote, escape = quote_and_escape(dialect, self.config)
        marks = escape_marks(dialect, self.config)
        end = first_row_end(buf[pos:], quote, escape, marks)
        while end < 0:
            grown = self.more(buf, pos, "the header")
            if grown is None:
                _check_quotes_close(buf[pos:], dialect, self.config, self.path, line)
                end = len(buf) - pos
                break
            buf = grown
            end = first_row_end(buf[pos:], quote, escape, marks)
        header = buf[pos : pos + end]
        line += max(0, header.count(b"\n") - 1)
        try:
            text = header.decode("utf-8")
        except UnicodeDecodeError:
            raise not_text(self.path, "CSV") or SourceError(
                "header is not valid text in the declared encoding",
                file=self.path,
                line=line,
                hint=_utf16_hint(header) or _eight_bit_hint(header, self.config.encoding),
            ) from None
        if (
            "\r" in text.rstrip("\r\n") and b"\n" not in buf
        ):  # what csv would call "new-line character seen in unquoted field"
            raise SourceError(
                "lines end in a carriage return alone (old Mac style); loader reads LF or CRLF line ends",
                file=self.path,
                line=line,
                hint="convert the line ends first, e.g. " + lone_cr_fix(self.path, "tr '\\r' '\\n' < in.csv > out.csv"),
            )
        try:
            names, used = first_row(dialect, self.config.escape_char, text)
            if self.config.escape_mode != "literal":  # the names read as values are: the span as written
                seen = translated(self.config, dialect, text.encode("utf-8", "surrogateescape"))
                names = first_row(dialect, self.config.escape_char, seen.decode("utf-8", "surrogateescape"))[0]
        except csv.Error as exc:
            raise SourceError(
                f"header row is not valid CSV: {exc}", file=self.path, line=line, hint=_utf16_hint(header)
            ) from None
        if not names or names == [""]:
            raise SourceError("header row is empty", file=self.path, line=line)
        if self.config.column_names is None:  # names given instead replace the header's
            _check_nul(names, header, self.path, line)
        return buf, pos + len(text[: _line_end(text, used)].encode()), names

    def first_row_width(self, pending: bytes, dialect: Dialect) -> tuple[bytes, int]:
        """With no header: the bytes read and the field count of the first row (its end read
        as the cutter reads it: an escaped newline is in a value)."""
        quote, escape = quote_and_escape(dialect, self.config)
        marks = escape_marks(dialect, self.config)
        while True:
            seen = translated(self.config, dialect, pending)  # the rows as the parser reads them
            first = len(seen) - len(seen.lstrip(b"\r\n"))  # pyarrow skips empty lines
            end = first_row_end(seen[first:], quote, escape, marks)
            grown = None if end >= 0 else self.more(pending, 0, "the first row")
            if grown is None:
                break
            pending = grown
        row = seen[first : first + end if end > 0 else len(seen)].decode("utf-8", "replace")
        try:
            return pending, len(first_row(dialect, self.config.escape_char, row)[0])
        except csv.Error as exc:
            raise SourceError(f"first row is not valid CSV: {exc}", file=self.path) from None

    def sample_widths(self, pending: bytes, dialect: Dialect) -> list[int]:
        """The field counts of the rows read so far (the sniffed sample), in order; the last
        row counts only if the file ends with it."""
        escape = self.config.escape_char if isinstance(self.config.escape_char, str) else None
        text = translated(self.config, dialect, pending).decode("utf-8", "replace")
        return [len(row) for row in sample_rows(text, dialect.delimiter, dialect.quote, self.ended, escape)]

    def check_preamble(
        self, pending: bytes, dialect: Dialect, names: list[str], first_line: int, data_line: int
    ) -> None:
        """Stop a file whose header is the first of a few lines of fewer fields than nearly every
        sampled row after them (comment lines before the real header, pandas' ``salaries_comments.csv``):
        those lines would load as rows and every real row be rejected, the run "ok". Where the
        header alone is short, every row is rejected and the load's "nothing loaded" names the
        widths (``nothing_loaded_cause``); a preamble row loading hid that."""
        widths = self.sample_widths(pending, dialect)
        rows = preamble_rows(widths, len(names))
        if not rows:
            return
        common = widths[rows]
        text = translated(self.config, dialect, pending).decode("utf-8", "replace")
        last = data_line - 1 + _lines_of_rows(text, dialect, self.config.escape_char, rows)  # before the real header
        lines = f"the first {last} lines" if first_line == 1 else f"lines {first_line}-{last}"
        short = [len(names), *widths[:rows]]
        fields = (
            f"{short[0]} field{'s' if short[0] != 1 else ''}"
            if len(set(short)) == 1
            else f"{max(short)} fields or fewer"
        )
        rest = widths[rows:]
        after = (
            f"the {len(rest):,} rows after them"
            if rest.count(common) == len(rest)
            else f"{rest.count(common):,} of the {len(rest):,} rows after them"
        )
        flag = f"--skip-rows {last}"
        raise SourceError(
            f"{lines} have {fields} and {after} have {common}: lines before the header? try {flag}",
            file=self.path,
            hint=f"skip them with {flag} (or remove them from the file), then rerun: the files before it stay loaded",
            names=(flag,),
        )


def first_row(dialect: Dialect, escape_char: Any, text: str) -> tuple[list[str], int]:
    """The first row of ``text`` and the characters it spans, its line end too. A carriage
    return alone ends a line, as for the rows after it (pyarrow's parser, and Python's csv
    reading a file opened with ``newline=""``): the header of ``id,name\\r1,a\\n`` is ``id,name``."""
    taken = 0

    def lines() -> Iterator[str]:  # each with its end: LF, CRLF or a CR alone
        nonlocal taken
        for line in io.StringIO(text, newline=""):
            taken += len(line)  # csv asks for the next line only while its row goes on
            yield line

    return next(csv_rows(dialect, escape_char, lines()), []), taken


def _line_end(text: str, used: int) -> int:
    """Where the header's line ends in ``text``, whose first row spans ``used`` characters.
    A row ending in a carriage return alone and followed only by more of them and a LF
    (``id,name\\r\\r\\n``: Python's csv writing CRLF to a file opened in text mode on
    Windows) ends its line at that LF: what follows is an empty line, and the data would
    start with it, which leaves its blocks' rejects without a line."""
    if text[:used].endswith("\r") and _CRS_TO_LF.fullmatch(text, used):
        return len(text)
    return used


_CRS_TO_LF = re.compile(r"\r*\n")


def _check_nul(names: list[str], header: bytes, path: str, line: int) -> None:
    """A NUL byte in a column name: no table or key can take it, and it is most often
    a file in UTF-16 read as UTF-8."""
    bad = next((n for n in names if "\x00" in n), None)
    if bad is not None:
        raise not_text(path, "CSV") or SourceError(
            "the header's column name holds a NUL byte", file=path, line=line, column=bad, hint=_utf16_hint(header)
        )


def _check_quotes_close(header: bytes, dialect: Dialect, config: SourceConfig, path: str, line: int) -> None:
    """A header that runs to the end of the file: refused where a quote in it opens a value
    and never closes (``id,"name``), else every row after it would be read as one column's
    name and the file would load as none. A quote that is text (``id,na"me``) is read as such."""
    quote, escape = quote_and_escape(dialect, config)
    marks = Marks.of(quote, escape, dialect.delimiter.encode(), config.escape_mode == "quote")
    if marks is None:  # marks of more than one byte: only the line is known
        what = "a quote opened in it"
    else:
        state = QuoteState()
        data, at, real = read_piece(header, marks, 0, len(header), state)
        if not state.inside:
            return
        opened = int(real[-1])
        line += data.count(b"\n", at, opened)
        delimiters = np.flatnonzero(np.frombuffer(data, np.uint8, opened - at, at) == marks.delimiter) + at
        field = int(np.count_nonzero(np.searchsorted(real, delimiters) % 2 == 0)) + 1  # outside values
        what = f"the quote that opens its field {field}"
    raise SourceError(
        f"unterminated quoted field in the header: {what} is never closed",
        file=path,
        line=line,
        hint="close or remove the quote in the header (or read quotes as text: --quote-char false), then rerun",
    )


def _eight_bit_hint(header: bytes, encoding: str) -> str | None:
    """How to read a header that is not UTF-8 in a file read as UTF-8: the encoding it reads in."""
    found = guess_encoding(header) if codecs.lookup(encoding).name == "utf-8" else ("utf-8",)
    if found == ("utf-8",):
        return None
    return encoding_hint(found)


def quote_and_escape(dialect: Dialect, config: SourceConfig) -> tuple[bytes | None, bytes | None]:
    """The quote ``dialect`` reads with and ``source.escape_char``, as bytes (None: none)."""
    quote = dialect.quote.encode() if dialect.quote else None
    return quote, config.escape_char.encode() if isinstance(config.escape_char, str) else None


def escape_marks(dialect: Dialect, config: SourceConfig) -> Marks | None:
    """The marks a row's end is found with where the file has an escape (as the cutter's:
    ``escape_mode = "quote"`` escapes only a quote), else None (its quotes are counted)."""
    quote, escape = quote_and_escape(dialect, config)
    if escape is None:
        return None
    return Marks.of(quote, escape, dialect.delimiter.encode(), config.escape_mode == "quote")


_EXCEL_SEP = re.compile(rb"sep=([!-~\t])(?:\r?\n|\Z)")  # a tab too: Excel's for tab-separated text


def excel_separator(config: SourceConfig, head: bytes) -> SourceConfig:
    """``config`` for a file whose first line is Excel's ``sep=X``: X is the delimiter (unless
    the job gives one) and the line is skipped (unless ``skip_rows`` skips it already)."""
    found = _EXCEL_SEP.match(head)
    if found is None or found[1] in b"\"'":
        return config
    delimiter = config.delimiter if config.delimiter is not None else found[1].decode()
    return replace(config, delimiter=delimiter, skip_rows=config.skip_rows or 1)


def read_head(path: str, config: SourceConfig, cap: int, recorded: dict[str, Any] | None) -> Head:
    """Open ``path`` and read up to its first data row (``recorded``: the dialect a
    checkpoint kept; ``cap``: ``source.max_row_bytes``). The head's stream is the caller's
    to close; on an error it is closed here (the error would hold it open as long as it is kept)."""
    reader = _HeadReader(path, config, cap)
    try:
        return _read_head(reader, path, config, recorded)
    except BaseException:
        close_stream(path, reader.stream)
        raise


def _read_head(reader: _HeadReader, path: str, config: SourceConfig, recorded: dict[str, Any] | None) -> Head:
    buf = reader.stream.read(config.block_size)
    buf = buf if isinstance(buf, bytes) else bytes(buf)
    offset = len(BOM) if buf.startswith(BOM) else 0
    buf = buf[offset:]
    if not buf:
        raise SourceError("file is empty (no header, no rows)", file=path)
    if buf.startswith(b"PK\x03\x04"):  # a zip's head may read as text: refused before it loads as rows
        raise not_text(path, "CSV") or SourceError("is a zip archive, not CSV text", file=path)
    config = reader.config = excel_separator(config, buf)
    buf, pos = reader.skip_lines(buf)
    buf, dialect = reader.settle_dialect(buf, pos, recorded)
    line = config.skip_rows + 1
    names: list[str] = []
    header = None
    if dialect.header:
        before = pos
        buf, pos, names = reader.header(buf, pos, dialect, line)
        line += buf[before:pos].count(b"\n")
        header = names
    pending = buf[pos:]
    if not dialect.header:
        pending, width = reader.first_row_width(pending, dialect)
        names = [f"column_{i}" for i in range(1, width + 1)]
    if dialect.header and config.column_names is None and recorded is None:  # a resumed file was checked
        reader.check_preamble(pending, dialect, names, config.skip_rows + 1, line)
    if config.column_names is not None:
        widths = Counter({len(names): 1}) if dialect.header else Counter(reader.sample_widths(pending, dialect))
        _check_column_names(config.column_names, widths, path)
        names = list(config.column_names)
    return Head(reader.stream, reader.seekable, dialect, offset + pos, line, names, pending, header)


# Rows after a preamble, at the least, that tell its lines from a header of too few names
PREAMBLE_EVIDENCE = 3
PREAMBLE_SHARE = 0.9  # of the rows after it with their common field count: "nearly every"


def preamble_rows(widths: list[int], header: int) -> int:
    """How many of the sampled rows after a header of ``header`` fields (``widths``: their
    field counts, in order) are, with it, lines before the real header (0: none is): at
    least one, each of fewer fields than the row after them, whose count nearly every row
    from it on has, and the header's count too. A header of several fields followed by a line
    of as many is taken for a header and its first data row (a ragged file), not a preamble:
    comment lines before a header rarely share its width, and skipping real rows would lose them."""
    if not widths:
        return 0
    common = Counter(widths).most_common(1)[0][0]
    first = widths.index(common)
    rest = widths[first:]
    if first == 0 or common <= header or len(rest) < PREAMBLE_EVIDENCE:
        return 0
    if any(w >= common for w in widths[:first]) or rest.count(common) < PREAMBLE_SHARE * len(rest):
        return 0
    if header > 1 and header in widths[:first]:
        return 0
    return first


def _lines_of_rows(text: str, dialect: Dialect, escape_char: Any, rows: int) -> int:
    """The lines the first ``rows`` rows of ``text`` span, empty lines among them too."""
    reader = csv_rows(dialect, escape_char, io.StringIO(text, newline=""))
    seen = 0
    for row in reader:
        seen += bool(row)  # as ``sample_rows`` counts them: an empty line is no row
        if seen == rows:
            break
    return int(reader.line_num)  # type: ignore[attr-defined]


def _check_column_names(given: list[str], widths: Counter[int], path: str) -> None:
    """As many names as the header has fields, or, in a headerless file, as the most of its
    sampled rows have (``widths``: rows by field count): the count is known before anything
    is written, so a wrong one is the job's mistake (exit 2), not every row rejected. One
    malformed row (an extra field in the first row) is the file's: rejected as any row is.
    A file of no rows has no width to compare with."""
    if widths and widths[len(given)] < max(widths.values()):
        found = widths.most_common(1)[0][0]
        names = f"{len(given)} name{'s' if len(given) != 1 else ''}"
        columns = f"{found} column{'s' if found != 1 else ''}"
        raise ConfigError(f"source.column_names: {names} for {columns} in {path}")
