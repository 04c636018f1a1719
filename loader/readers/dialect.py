"""CSV dialect: the delimiter, quote character and header, as given or sniffed.

What the job does not say is detected from the head of the file, as DuckDB's
sniffer and clevercsv do: each candidate (delimiter, quote) parses the sample,
and the one whose rows agree best on a field count of more than one wins
(clevercsv's pattern score, weighed by the share of values that fit a type); ``'`` is a
candidate quote where it encloses a field in the sample, and neither is where it leaves as
many fields with text after their closing quote (an unquoted export's ``"Deluxe" pack``) as
it encloses; between quotes, the one whose rows agree on one field count, then the higher
score per row (more rows must not win: a quote splitting multi-line values
makes more). Ties go to the quote that opens and closes more fields, to ``"``, to the
extension's default (a tab for ``.tsv``, else a comma, or ``;`` where every unquoted comma
reads as the declared decimal or thousands separator: the comma is then the last candidate, and
one only where its rows agree on one field count), then to the order of
``DELIMITERS``; a delimiter given as ``"`` or ``'`` is never the quote. The
first row is the header when a column has text over numbers or dates, or a
number or date over another kind (a pivot table's dates over numbers) and no
column has a number or date over its own kind; else unless it holds a number
or a date.
The sample is the first ``SNIFF_BYTES`` of the data, so the same file always
gives the same dialect.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..compat import sha256
from ..config import SourceConfig, _strip_compression
from ..errors import ConfigError

SNIFF_BYTES = 64 << 10
SNIFF_ROWS = 500
DELIMITERS = (",", "\t", ";", "|")
QUOTES = ('"', "'")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
_YEAR = re.compile(r"1[89]\d\d|2[01]\d\d")  # a column named by a year, as a pivot's are
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?")


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quote: str | None  # None: no quoting
    header: bool
    detected: tuple[str, ...] = ()  # which of "delimiter", "quote", "header" were sniffed

    def to_json(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "quote": self.quote,
            "header": self.header,
            "detected": list(self.detected),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dialect:
        return cls(data["delimiter"], data["quote"], bool(data["header"]), tuple(data.get("detected", ())))

    def describe(self) -> str:
        """One line for people: ``delimiter ';' (detected), quote '"', header (detected)``."""

        def how(key: str) -> str:
            return " (detected)" if key in self.detected else ""

        quote = repr(self.quote) if self.quote else "none"
        header = "header" if self.header else "no header"
        return f"delimiter {self.delimiter!r}{how('delimiter')}, quote {quote}{how('quote')}, {header}{how('header')}"


def csv_rows(dialect: Dialect, escape_char: Any, lines: Iterable[str], strict: bool = False) -> Iterator[list[str]]:
    """``lines`` read as rows by Python's csv module in ``dialect`` (``escape_char`` as
    ``source.escape_char`` gives it; ``strict``: a quote left open is an error)."""
    quote = dialect.quote
    return csv.reader(
        lines,
        delimiter=dialect.delimiter,
        quotechar=quote,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        escapechar=escape_char if isinstance(escape_char, str) else None,
        strict=strict,
    )


def default_delimiter(path: str) -> str:
    return "\t" if _strip_compression(path.lower()).endswith(".tsv") else ","


def sample_rows(
    text: str, delimiter: str, quote: str | None, complete: bool, escape: str | None = None
) -> list[list[str]]:
    """The non-empty rows of ``text`` (up to ``SNIFF_ROWS``), the last dropped unless
    ``complete`` (the file ends there): a row cut by the sample's end is no evidence."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        escapechar=escape,
    )
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > SNIFF_ROWS:
                complete = False
                break
    except csv.Error:
        pass  # a quote left open at the sample's end (or a NUL): the rows before it count
    if not complete and len(rows) > 1:
        rows.pop()  # cut by the sample's end
    return rows


Scored = tuple[float, bool, str | None, list[list[str]]]


def _score(text: str, delimiter: str, quote: str | None, complete: bool, escape: str | None) -> Scored:
    """How well ``text`` reads with ``delimiter`` and ``quote``: the pattern score, whether it
    is quoted, the quote, and the rows read."""
    found = sample_rows(text, delimiter, quote, complete, escape)
    return round(_pattern_score(found) * _type_score(found, delimiter), 6), quote is not None, quote, found


def _type_score(rows: list[list[str]], delimiter: str) -> float:
    """The share of cells that fit a type, as clevercsv weighs its pattern score: a cell
    holding another delimiter's split (``5;45``, ``10:00;21``, `` John<TAB>42``) fits none,
    so a comma read inside decimal commas or ``Last, First`` names loses to the real one."""
    cells = [v for r in rows for v in r]
    if not cells:
        return 1.0
    split = sum(1 for v in cells if _split_cell(v, delimiter))
    return max(1 - split / len(cells), 0.01)


def _split_cell(value: str, delimiter: str) -> bool:
    """Whether ``value`` reads as two fields of another delimiter: a tab in it, or a ``;`` or
    ``|`` between digits in what is no number. A comma is left out: between digits it is a
    decimal comma, a thousands separator or a list (``{1,2,3}``), all text a cell holds."""
    if delimiter != "\t" and "\t" in value:
        return True
    return _kind(value) == "text" and any(_BETWEEN_DIGITS[d].search(value) for d in ";|" if d != delimiter)


_BETWEEN_DIGITS = {d: re.compile(rf"\d{re.escape(d)}\d") for d in ";|"}


def _first_best(scored: list[Scored], key: Callable[[Scored], Any], text: str, delimiter: str) -> Scored:
    """The best of ``scored`` by ``key``; of quotes tied there, the one enclosing more fields
    (counted only then: a regex pass over the sample), else the first."""
    top = key(max(scored, key=key))
    tied = [x for x in scored if key(x) == top]
    if len(tied) == 1 or not any(_opens_a_field(text, delimiter, x[2]) for x in tied[1:]):
        return tied[0]  # no later quote opens a field: none encloses more than the first
    return max(tied, key=lambda x: _enclosed(text, delimiter, x[2]))


def _quote_fit(scored: Scored) -> tuple[bool, float]:
    """How well a quote reads the rows, to choose between quotes: whether they agree on one
    width, then the pattern score per row. The plain score rises with the rows (and a one-column
    file's with a row split in two), so a quote splitting multi-line values apart would win."""
    rows = scored[3]
    return len({len(r) for r in rows}) == 1, round(scored[0] / max(len(rows), 1), 6)


def _may_quote(text: str, delimiter: str, quote: str | None, given: bool, escape: str | None) -> bool:
    """Whether ``quote`` is a candidate for ``delimiter``: given, ``"``, or a ``'`` that encloses
    a field; not one that leaves as many fields with text after their closing quote as it
    encloses (an unquoted export's ``"Deluxe" pack``, which read as quoted loses its quotes).
    One enclosing none reads as no quote, which is scored anyway; scored as a quote, a
    one-column file's apostrophe (``It's``) beat the ``"`` of its multi-line values, the split
    rows scoring higher."""
    if given:
        return True
    broken = _text_after_quote(text, delimiter, quote, escape)
    return (quote == '"' and not broken) or _enclosed(text, delimiter, quote) > broken


def _text_after_quote(text: str, delimiter: str, quote: str | None, escape: str | None) -> int:
    """How many values of ``text`` have text after their closing quote, as the parser reads the
    quotes (a quote inside a quoted value, or one that is text, is not counted)."""
    from .csv.cut import Marks, text_after_quotes  # the csv reader's package imports this module

    marks = Marks.of(quote.encode() if quote else None, escape.encode() if escape else None, delimiter.encode())
    return 0 if marks is None else len(text_after_quotes(text.encode(), marks))


def _opens_a_field(text: str, delimiter: str, quote: str | None) -> bool:
    """Whether ``quote`` stands at the start of a line or after the delimiter somewhere."""
    return quote is not None and (text.startswith(quote) or delimiter + quote in text or "\n" + quote in text)


def _enclosed(text: str, delimiter: str, quote: str | None) -> int:
    """How many fields of ``text`` ``quote`` opens and closes: at a line's start or after the
    delimiter, up to the delimiter or a line's end (an inch mark inside a field does not count)."""
    if quote is None:
        return 0
    d, q = re.escape(delimiter), re.escape(quote)
    return len(re.findall(rf"(?:^|(?<={d})){q}(?:[^{q}]|{q}{q})*{q}(?={d}|\r?$)", text, re.MULTILINE))


def _pattern_score(rows: list[list[str]]) -> float:
    """clevercsv's pattern score on field counts: high when rows agree on many fields."""
    if not rows:
        return 0.0
    counts = Counter(len(r) for r in rows)
    return sum(n * max(width - 1, 0.01) / width for width, n in counts.items()) / len(counts)


def _kind(value: str) -> str:
    if _INTEGER.fullmatch(value):
        return "integer"
    if _NUMBER.fullmatch(value):
        return "decimal"
    if _DATE.fullmatch(value):
        return "date"
    return "text"


def _family(kind: str) -> str:
    return "number" if kind in ("integer", "decimal") else kind


def _verdict(head: str | None, kinds: set[str]) -> str | None:
    """What one column says of its first value ``head`` over the ``kinds`` of its other values:
    ``label`` (text over numbers or dates: a header); ``name`` (a number or date over text only,
    a date over numbers, a number over dates) and ``year`` (a whole number over decimals only),
    both a header unless another column says ``data`` (a number or date of the column's own
    kind); None (text over text, or nothing to compare: no telling)."""
    if head is None or not kinds:
        return None
    if head == "text":
        return None if "text" in kinds else "label"
    # a decimal column may hold whole numbers; a whole number over decimals only may be a year
    if head in kinds or (head == "decimal" and "integer" in kinds):
        return "data"
    return "year" if _family(head) in {_family(k) for k in kinds} else "name"


def looks_like_header(rows: list[list[str]], nulls: Iterable[str] = ()) -> bool:
    """Whether the first row names columns rather than holding data (``nulls``: values that,
    like an empty one, say nothing of their column's kind)."""
    empty = {"", *nulls}
    if len(rows) < 2:
        # one row: a header with no data, unless it holds only numbers or dates (no name)
        kinds = {_kind(v) for v in rows[0] if v not in empty} if rows else set()
        return not kinds or "text" in kinds
    first, rest = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    heads = [_kind(v) if v not in empty else None for v in first]
    verdicts = set()
    for j, head in enumerate(heads):
        verdict = _verdict(head, {_kind(r[j]) for r in rest if r[j] not in empty})
        if verdict == "year" and not _YEAR.fullmatch(first[j]):
            # a whole number over decimals names a column only as a year does (region,2019,2020):
            # apple,1 over banana,0.5 is data, a whole number where the others have fractions
            verdict = "data"
        verdicts.add(verdict)
    if "label" in verdicts:
        return True
    if "data" not in verdicts and ("name" in verdicts or ("year" in verdicts and "text" in heads)):
        return True
    # no column tells: a header unless the row holds a number or a date
    return not any(h not in (None, "text") for h in heads)


# Dialects sniffed, by a digest of the sample and what else decides them: a load opens each
# file for its types, then to read it, and a sniff costs far more than a digest.
_SNIFFED: OrderedDict[tuple[Any, ...], Dialect] = OrderedDict()
SNIFFED_KEPT = 4096


def sniff(config: SourceConfig, path: str, sample: bytes, complete: bool) -> Dialect:
    """The file's dialect: what ``config`` gives, the rest detected from ``sample``
    (the head of the data, after any skipped lines; ``complete``: the whole of it)."""
    key = (
        sha256(sample).digest(),
        complete,
        default_delimiter(path),
        config.delimiter,
        config.quote_char,
        config.escape_char,
        config.header,
        config.decimal_separator,
        config.thousands_separator,
        tuple(config.null_values),
        tuple(config.na_values),
    )
    found = _SNIFFED.get(key)
    if found is None:
        found = _SNIFFED[key] = _sniff(config, path, sample, complete)
        if len(_SNIFFED) > SNIFFED_KEPT:
            _SNIFFED.popitem(last=False)
    return found


def _sniff(config: SourceConfig, path: str, sample: bytes, complete: bool) -> Dialect:
    text = sample.decode("utf-8", "replace")
    given_quote = config.quote_char if isinstance(config.quote_char, str) else None
    quote_given = config.quote_char is not None
    delimiters = [config.delimiter] if config.delimiter is not None else _candidates(path, config, text)
    # one the sample lacks reads every row as one field: it cannot beat the first candidate
    delimiters = [d for i, d in enumerate(delimiters) if i == 0 or d in text]
    # " and a ' the sample holds, each scored: the one enclosing more fields wins a tie, else "
    quotes = [given_quote] if quote_given else [q for q in QUOTES if q == '"' or q in text]
    escape = config.escape_char if isinstance(config.escape_char, str) else None
    best: tuple[float, float, int] | None = None
    choice: tuple[str, str | None] = (delimiters[0], quotes[0])
    rows: list[list[str]] = []
    for rank, delimiter in enumerate(delimiters):
        # The delimiter is also scored unquoted: one stray quote must not make a quoted
        # parse swallow the sample and a one-column reading win. The quote stays a quote.
        candidates = [q for q in quotes if q != delimiter and _may_quote(text, delimiter, q, quote_given, escape)]
        candidates += [] if quote_given else [None]
        scored = [_score(text, delimiter, quote, complete, escape) for quote in candidates]
        if delimiter == "," and numeric_commas(config, text):  # numbers' commas: one width, or no delimiter
            scored = [x for x in scored if len({len(r) for r in x[3]}) == 1]
        if not scored:
            continue
        top = _first_best(scored, lambda x: x[:2], text, delimiter)
        with_quote = [x for x in scored if x[2] is not None]
        quoted = _first_best(with_quote, _quote_fit, text, delimiter) if with_quote else top
        key = (top[0], quoted[0], -rank)
        if best is None or key > best:
            best, choice, rows = key, (delimiter, quoted[2]), (quoted if top[2] else top)[3]
    detected = tuple(
        k
        for k, given in (("delimiter", config.delimiter), ("quote", config.quote_char), ("header", config.header))
        if given is None
    )
    # an empty first line is an empty header (an error), as it always was
    nulls = (*config.null_values, *config.na_values)
    header = (
        config.header if config.header is not None else text.startswith(("\n", "\r")) or looks_like_header(rows, nulls)
    )
    return Dialect(choice[0], choice[1], header, detected)


def _ordered(first: str) -> list[str]:
    return [first] + [d for d in DELIMITERS if d != first]


def _candidates(path: str, config: SourceConfig, text: str) -> list[str]:
    """The delimiters to try, the extension's default first. Where every comma outside quotes
    in ``text`` reads as the declared decimal comma or thousands comma (``numeric_commas``),
    the comma comes last, so another delimiter that scores as well wins the tie (a ``.csv``
    ties to ``;``, as Excel writes decimal commas); ``_sniff`` then tries it only where its
    rows agree on one field count."""
    first = default_delimiter(path)
    if not numeric_commas(config, text):
        return _ordered(first)
    return [d for d in _ordered(";" if first == "," else first) if d != ","] + [","]


def numeric_commas(config: SourceConfig, text: str) -> bool:
    """Whether every comma outside quotes in ``text`` reads as part of a number: between
    digits with a decimal comma (``1,5``); in digit groups of exactly three with a thousands
    comma (``1,234``, ``12,345,678``; not ``1001,2002``, nor ``1,2``)."""
    if config.decimal_separator == ",":
        numbers = _DECIMAL_COMMA
    elif config.thousands_separator == ",":
        numbers = _GROUPED
    else:
        return False
    return "," not in numbers.sub("", _QUOTED.sub("", text))


_QUOTED = re.compile(r'"[^"]*"')
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_GROUPED = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])")


class HeaderRule:
    """The header the files of one load are read with, where it is detected: the same for
    every file. Sniffed per file, a header-less part whose first value is text over numbers
    (``A-1`` over ``17``: Spark's ``part-0000*.csv``) lost that row as a header, and the
    other parts' ``column_N`` went to new columns."""

    def __init__(self) -> None:
        self.first: tuple[str, bool] | None = None

    def check(self, path: str, dialect: Dialect | None) -> None:
        """Note ``path``'s ``dialect``; a detected header unlike an earlier file's is refused
        (nothing is written yet), naming both files and the flags that settle it."""
        if dialect is None or "header" not in dialect.detected:
            return
        if self.first is None:
            self.first = (path, dialect.header)
            return
        first, header = self.first
        if dialect.header != header:
            how = {True: "with", False: "without"}
            raise ConfigError(
                f"read {how[dialect.header]} a header, but {first} {how[header]} one:"
                " the files of one load are read with one header rule",
                file=path,
                hint="give --header if every file starts with column names, else --no-header",
                names=("--header", "--no-header"),
                verbatim=(first,),
            )


def sniff_file(path: str, config: SourceConfig) -> Dialect | None:
    """Sniff a file on disk afresh (for an error's hint), or None if it cannot be read."""
    sample = _head(path, config.encoding)
    if sample is None:
        return None
    free = SourceConfig(
        path=[path],
        format="csv",
        delimiter=None,
        quote_char=None,
        header=None,
        decimal_separator=config.decimal_separator,
        thousands_separator=config.thousands_separator,
    )
    return sniff(free, path, sample[:SNIFF_BYTES], len(sample) <= SNIFF_BYTES)


def _head(path: str, encoding: str) -> bytes | None:
    """The first ``SNIFF_BYTES`` + 1 bytes of a file on disk as UTF-8, or None if it cannot be read."""
    if path == "-" or not os.path.isfile(path):
        return None
    from .stream import open_stream

    try:
        stream, _ = open_stream(path, encoding)
        try:
            return bytes(stream.read(SNIFF_BYTES + 1))
        finally:
            stream.close()
    except OSError:
        return None


class Cause(NamedTuple):
    """Why a load gave no rows to write, and the flags it says to try (``LoaderError.names``:
    the only part of it a front end respells, never the reject reason it quotes)."""

    text: str
    names: tuple[str, ...] = ()


def _encoding_fix(reason: str, path: str | None, config: SourceConfig) -> Cause:
    """For rows rejected as invalid UTF-8 from a CSV file read as UTF-8: the encoding its
    head reads in, as a fix to try (or that it is not plain which)."""
    if not reason.startswith("invalid UTF-8 in") or path is None or config.format not in (None, "csv"):
        return Cause("")
    if codecs.lookup(config.encoding).name != "utf-8":
        return Cause("")  # transcoded: its bytes are the declared encoding's
    from .stream import encoding_fix, guess_encoding

    head = _head(path, "utf-8")
    found = guess_encoding(head[:SNIFF_BYTES]) if head else ("utf-8",)
    if found == ("utf-8",):
        return Cause("")
    fix, flag = encoding_fix(found)
    return Cause(f"; {fix}", (flag,))


_WIDTH = re.compile(r"expected (\d+) fields, found (\d+)")


def _all_rows(rows: int) -> str:
    return "the one row was" if rows == 1 else f"all {rows:,} rows were"


def nothing_loaded_cause(
    rows: int,
    rejected: int,
    filtered: int,
    reasons: Counter[str],
    path: str | None,
    config: SourceConfig,
    dialect: dict[str, Any] | None,
) -> Cause:
    """Why ``rows`` rows gave none to write, in one line, with the fix a dialect sniff suggests."""
    if filtered == rows:
        return Cause(f"{_all_rows(rows)} filtered out by the transforms")
    if rejected < rows:
        return Cause(f"{rows:,} rows read and none written: {rejected:,} rejected, {filtered:,} filtered out")
    top, _ = reasons.most_common(1)[0] if reasons else ("see the reject file", 0)
    width = _WIDTH.fullmatch(top)
    if not (width and reasons[top] == rows):
        fix = _encoding_fix(top, path, config)
        return Cause(f"{_all_rows(rows)} rejected ({top}){fix.text}", fix.names)
    named = "the header" if dialect is None or dialect.get("header") else "the first row"
    cause = f"all {rows:,} rows have {width[2]} fields but {named} has {width[1]}"
    fresh = sniff_file(path, config) if path else None
    used = (dialect or {}).get("delimiter", config.delimiter)
    if fresh is None or fresh.delimiter == used:
        return Cause(cause)
    # repr: a tab is '\t', which a shell passes as the two characters source.delimiter takes for a tab
    flag = f"--delimiter {fresh.delimiter!r}"
    return Cause(f"{cause}; the file looks {fresh.delimiter!r}-delimited: try {flag}", (flag,))
