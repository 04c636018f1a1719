"""A load cut into parts that can run anywhere: whole files, byte ranges of CSV and JSON
Lines files cut at row boundaries, and row-group ranges of Parquet files.

A part has a stable id made from its file's checkpoint key, identity and range, so a rerun, another
process or another machine names the same part the same way. A CSV file is cut only
where the cut is provably between rows: the quotes before the cut that open and close
values (as the parser reads them: not a quote that is text in an unquoted field, nor one
the escape character escapes) are even in number (a newline inside a quoted value follows
an odd count), and the newline is not escaped. A file that cannot be cut safely
(compressed, read from standard input, text not in UTF-8) is one part, and the plan says why.
"""

from __future__ import annotations

import codecs
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from . import storage
from .compat import parquet_reader, sha256
from .errors import LoaderError

if TYPE_CHECKING:
    from .config import SourceConfig

Unit = Literal["file", "bytes", "row_groups"]
PART_BYTES = 64 << 20  # a part's size, to balance work across workers
# A file longer than a part starts with smaller ones (part_bytes divided by these), so the
# single writer has a first part to commit soon after the workers start, not a whole part later.
RAMP = (8, 4, 2)
SMALL = "not larger than run.part_size: read whole"
UNREADABLE = "no Parquet footer read: read whole, its reader reports why"
UNREADABLE_HEAD = "no CSV header read: read whole, its reader reports why"
_COMPRESSED = (".gz", ".bz2", ".zst", ".zstd", ".lz4", ".xz", ".br")


@dataclass(frozen=True)
class Part:
    """One piece of a load: ``path`` from ``start`` to ``end`` (bytes, or row groups)."""

    path: str
    unit: Unit = "file"
    start: int = 0
    end: int | None = None
    size: int = 0  # bytes of input, for balancing and progress
    fingerprint: str = ""  # the file's identity when planned
    # its modification time (not in the id: a checkpoint's ids outlive it): a part's results
    # made from another version of the file, rewritten in place at the same size, are not reused
    version: str = ""
    line: int = 0  # CSV byte ranges: the line ``start`` is on (1 for the first part), as the plan found it
    # the checkpoint key of the file it counts to, in its id too: by default its path's; that of
    # an entry of another name of the file this run goes on in (``state.plan_files``) otherwise
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", storage.key(self.path))

    @cached_property  # asked for many times per part (checkpoint, results' names, events)
    def id(self) -> str:
        return self._id(self.key)

    def id_spelled(self, uri: str) -> str:
        """The id a run before URI schemes were lower-cased gave this part of ``uri`` as its
        job spelled it (``S3://b/k``): it hashed the URI as written."""
        return self._id("file:" + uri)

    def _id(self, key: str) -> str:
        text = json.dumps([key, self.fingerprint, self.unit, self.start, self.end])
        return str(sha256(text.encode()).hexdigest()[:16])

    def describe(self) -> str:
        if self.unit == "file":
            return self.path
        what = "bytes" if self.unit == "bytes" else "row groups"
        return f"{self.path} {what} {self.start}-{self.end}"


@dataclass(frozen=True)
class FilePlan:
    """How one file is cut, and why when it is not."""

    parts: tuple[Part, ...]
    note: str = ""


def part_sizes(part_bytes: int, total: int | None = None) -> Iterator[int]:
    """The size of each part of a file longer than ``part_bytes``, in turn: the ``RAMP``, then
    ``part_bytes``. For a file of ``total`` bytes, its last parts take the ``RAMP`` in reverse
    too, as much of it as fits (the writer waits less for the last part), and the parts
    between share the rest evenly."""
    ups = [max(1, part_bytes // share) for share in RAMP]
    yield from ups
    if total is not None:
        rest = total - sum(ups)
        downs: list[int] = []  # from the last part back
        for size in ups:
            if rest <= size:
                break
            downs.append(size)
            rest -= size
        if rest > 0:
            count = -(-rest // part_bytes)
            yield from [rest // count] * count
        yield from reversed(downs)
    yield from itertools.repeat(part_bytes)


def _fingerprint(path: str) -> tuple[str, str]:
    """The file's fingerprint (size and head and tail digest, or ETag) and its version."""
    ident = storage.identity(path)
    if ident is None:
        return "", ""
    return f"{ident.get('size')}:{ident.get('sha256_head_tail', ident.get('etag', ''))}", str(ident.get("mtime_ns"))


def plan_file(
    path: str,
    fmt: str,
    *,
    part_bytes: int = PART_BYTES,
    quote: str | None = '"',
    encoding: str = "utf-8",
    source: SourceConfig | None = None,
) -> FilePlan:
    """The parts of one input file. ``source``: a CSV file is cut as its reader finds rows,
    by the quote it reads with (given or detected, not ``quote``) and its escape character,
    from its first data row."""
    size = storage.size(path) or 0
    fingerprint, version = _fingerprint(path) if path != storage.STDIN else ("", "")
    whole = Part(path, size=size, fingerprint=fingerprint, version=version)
    if path == storage.STDIN:
        return FilePlan((whole,), "standard input is read whole")
    if path.lower().endswith(_COMPRESSED):
        return FilePlan((whole,), "compressed: read whole")
    if fmt == "parquet":
        return _parquet(path, whole, part_bytes)
    if fmt not in ("csv", "jsonl"):
        return FilePlan((whole,), "read whole")
    if size <= part_bytes:
        return FilePlan((whole,), SMALL)
    if fmt == "csv" and codecs.lookup(encoding).name != "utf-8":
        # the reader transcodes a stream from its start; a byte range of it is UTF-8 only
        return FilePlan((whole,), f"encoding {encoding}: read whole")
    scan: tuple[bytes | None, int, int, bytes | None, bytes | None]
    scan = (quote.encode() if fmt == "csv" and quote else None), 0, 1, None, None
    if fmt == "csv" and source is not None:
        try:
            scan = _csv_scan(path, source)
        except (LoaderError, OSError):
            return FilePlan((whole,), UNREADABLE_HEAD)
    from .readers.csv.parts import row_starts  # the reader's own scan: a planned cut is where it puts one

    quote_only = source is not None and source.escape_mode == "quote"
    reads, offset, first_line, delimiter, escape = scan  # unpacked: mypy cannot star a union of tuples here
    sizes = part_sizes(part_bytes, size)
    cuts = list(row_starts(path, sizes, reads, offset, first_line, delimiter, escape, quote_only))
    bounds = [(0, 1), *cuts, (size, 0)]
    parts = tuple(
        replace(whole, unit="bytes", start=a, end=b, size=b - a, line=line if fmt == "csv" else 0)
        for (a, line), (b, _) in itertools.pairwise(bounds)
        if b > a
    )
    return FilePlan(parts, f"{len(parts)} byte ranges cut at row boundaries")


def _csv_scan(path: str, source: SourceConfig) -> tuple[bytes | None, int, int, bytes, bytes | None]:
    """The quote a CSV file's reader reads it with, its first data row's offset and line, its
    delimiter and its escape character."""
    from .readers.csv.parts import data_scan

    return data_scan(path, source)


def _parquet(path: str, whole: Part, part_bytes: int) -> FilePlan:
    import pyarrow as pa

    try:
        with storage.open_arrow(path) as source:
            meta = parquet_reader(source, buffer_size=0).metadata
    except (pa.ArrowException, OSError):
        # its reader says why, with the file's name, at its turn: after the files before it
        # load, as with threads (raised here, the error stopped the run before any file loaded)
        return FilePlan((whole,), UNREADABLE)
    groups = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
    if len(groups) < 2:
        return FilePlan((whole,), "one row group: read whole")
    if sum(groups) <= part_bytes:
        return FilePlan((whole,), SMALL)
    parts: list[Part] = []
    first, start, done = 0, 0, 0
    # cut where the sizes add up to, not a size after each cut: a row group can be much
    # larger than a part of the ramps, and each part's excess would eat into the next
    ends = itertools.accumulate(part_sizes(part_bytes, sum(groups)))
    end = next(ends)
    for i, nbytes in enumerate(groups):
        done += nbytes
        if done >= end or i == len(groups) - 1:
            parts.append(replace(whole, unit="row_groups", start=first, end=i + 1, size=done - start))
            first, start = i + 1, done
            while end <= done:
                end = next(ends)
    return FilePlan(tuple(parts), f"{len(parts)} row-group ranges")
