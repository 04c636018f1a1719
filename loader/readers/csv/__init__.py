"""The CSV reader: ``stream`` opens the bytes, ``header`` reads the head, ``cut`` cuts
blocks of whole rows, ``long_rows`` drops rows past the cap, ``infer`` samples the
types, ``parse`` parses and converts a block, ``reader`` streams chunks and resumes."""

from __future__ import annotations

from ..base import row_numbers
from ..stream import KEPT_OF_LONG_ROW, open_stream, read_past_line
from .cut import block_bytes, first_row_end, safe_cut
from .cut import fill as _fill
from .header import BOM
from .long_rows import UNTERMINATED
from .reader import CSVReader

__all__ = [
    "BOM",
    "KEPT_OF_LONG_ROW",
    "UNTERMINATED",
    "CSVReader",
    "_fill",
    "block_bytes",
    "first_row_end",
    "open_stream",
    "read_past_line",
    "row_numbers",
    "safe_cut",
]
