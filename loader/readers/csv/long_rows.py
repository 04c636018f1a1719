"""Rows dropped while cutting, unparsed: longer than ``source.max_row_bytes``, or a
quote that never closes. Each becomes a block of its own holding what the reject
keeps, and reading goes on at the line after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..stream import KEPT_OF_LONG_ROW, read_past_line

UNTERMINATED = "unterminated quoted field: a quote opened in this line is never closed"


@dataclass
class Dropped:
    """Why a row was dropped, and what it spans."""

    reason: str
    size: int  # bytes it spans in the file (its block holds only what the reject keeps)
    ended: bool  # by a newline (not by the end of the file)


# A block: its bytes (a buffer of its own), its byte offset, and, for a row dropped
# while cutting, why.
Block = tuple[bytearray, int, Dropped | None]


def span(item: Block) -> int:
    """Bytes of the file a block covers."""
    return item[2].size if item[2] is not None else len(item[0])


def drop_row(
    stream: Any, data: bytes | bytearray, pos: int, offset: int, last: bool, cap: int
) -> tuple[Block, bytes | bytearray, int]:
    """The row at ``data[pos]`` as a dropped block, and the bytes and position after it.
    A quote never closed drops the line it opens in; a row with no newline within the
    cap drops up to the next newline, read through and not kept."""
    nl = data.find(b"\n", pos, len(data) if last else pos + cap)
    if nl >= 0 or last:
        stop = len(data) if nl < 0 else nl + 1
        reason = (
            UNTERMINATED
            if last
            else f"unterminated quoted field: a quote opened in this line is not closed within {cap} bytes (source.max_row_bytes)"
        )
        return (bytearray(data[pos:stop]), offset, Dropped(reason, stop - pos, nl >= 0)), data, stop
    reason = f"row longer than {cap} bytes (source.max_row_bytes)"
    kept = bytearray(data[pos : pos + KEPT_OF_LONG_ROW])
    nl = data.find(b"\n", pos)
    if nl >= 0:
        return (kept, offset, Dropped(reason, nl + 1 - pos, True)), data, nl + 1
    size, rest, ended = read_past_line(stream, len(data) - pos)
    return (kept, offset, Dropped(reason, size, ended)), rest, 0
