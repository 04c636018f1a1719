"""``ignore`` into LevelDB: which rows of a batch put their key, noted in the checkpoint
before the batch's WriteBatches are written.

Under ``ignore`` a row is written when its key is not in the store, and counted ignored
when it is. A run stopped between a batch's WriteBatches and the checkpoint after them
leaves keys in the store that no checkpoint counts: the rerun reads those rows again,
finds their keys, and would count the job's own rows "ignored (key already there)". So
the checkpoint notes, before the WriteBatches, one bit per row of the batch (1: this row
put its key, or found it put by the stopped run), counted from the checkpoint's position
(or, for an engine's part, from the part's first row in key order). A rerun counts a row
whose bit is set and whose key it finds as written, and puts nothing for it: the note
changes counts, never what is written. The checkpoint after the batch drops the note.
"""

from __future__ import annotations

import base64
import json
import os
import zlib

from ..compat import sha256

OWN_ENTRY = "own"  # the note, in the job's checkpoint entries
NO_NOTE = "{}"  # the entry once there is no note (every entry is JSON to a reader of the log)


def encode(bits: bytes | bytearray, part: str = "") -> str:
    """The note's text: ``NO_NOTE`` when no bit is set (nothing of the job's is in the store unnoted)."""
    bits = bytes(bits).rstrip(b"\0")
    if not bits:
        return NO_NOTE
    note = {"bits": base64.b64encode(zlib.compress(bits)).decode("ascii")}  # a byte a row: runs compress well
    return json.dumps(note | {"part": part} if part else note)


def decode(text: str) -> tuple[bytes, str]:
    """The note's bits and the part they are of ("" : rows from the checkpoint's positions).
    A note that does not parse is no note: it changes counts only."""
    try:
        note = json.loads(text or NO_NOTE)
        return zlib.decompress(base64.b64decode(note.get("bits", ""))), str(note.get("part", ""))
    except (ValueError, TypeError, AttributeError, zlib.error):
        return b"", ""


def part_of(files: list[str]) -> str:
    """A part's name for its note: its result files' names, which its id and settings make."""
    return str(sha256("\0".join(os.path.basename(f) for f in files).encode()).hexdigest()[:16])


class OwnRows:
    """The note a run inherits from the checkpoint, and the bits of the batch it stages."""

    def __init__(self, entry: str = "") -> None:
        self.logged = entry or NO_NOTE  # the note as the checkpoint holds it
        self.inherited, self.part = decode(entry)
        self.bits = bytearray()  # the open batch's (or part's) rows, in the order they are written

    def inherited_of(self, part: str) -> bytes:
        """The inherited bits, if they are of ``part``'s rows ("": the rows from the checkpoint's positions)."""
        return self.inherited if self.part == part else b""

    def intent(self, part: str = "") -> str | None:
        """The note to log before the open batch's WriteBatches are written (this batch's bits,
        then what is left of the inherited ones past its rows: a rerun stopped again still
        knows them); None when the checkpoint holds it already."""
        inherited = self.inherited_of(part)
        text = encode(self.bits + inherited[len(self.bits) :], part)
        return None if text == self.logged else text

    def committed(self) -> dict[str, str]:
        """The note's entry for the checkpoint that commits the open batch (an empty dict where
        it is unchanged): what is left of the inherited bits past the batch's rows; after a
        part, or at the end of the input (``drop``), none."""
        rest = self.inherited_of("")[len(self.bits) :]
        self.inherited, self.part = rest, ""
        self.bits.clear()
        text = encode(rest)
        if text == self.logged:
            return {}
        self.logged = text
        return {OWN_ENTRY: text}

    def drop(self) -> None:
        """The input is done: inherited bits left over are of rows no run reads any more."""
        self.inherited, self.part = b"", ""
