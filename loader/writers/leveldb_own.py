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

A replay's rows are another sequence than its load's (the reject file's rows not replayed
yet): its note is its own (``replay_note``), in an entry of its own, so that neither takes
the other's bits for its rows, nor drops the other's note with its checkpoint.
"""

from __future__ import annotations

import base64
import json
import os
import zlib

from ..compat import sha256

OWN_ENTRY = "own"  # the note, in the job's checkpoint entries
REPLAY_ENTRY = "own:replay"  # a replay's note
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
    return str(sha256("\0".join(os.path.basename(f) for f in files).encode()).hexdigest())[:16]


def replay_note(rejects: str) -> tuple[str, str]:
    """The entry and the stream name of the note of a replay of the reject file ``rejects``
    (a note of another file's rows is none of this one's)."""
    return REPLAY_ENTRY, "replay:" + sha256(os.path.abspath(rejects).encode()).hexdigest()[:16]


class OwnRows:
    """The note a run inherits from the checkpoint, and the bits of the batch it stages.
    ``key`` is the note's checkpoint entry, ``stream`` the name of the rows the run reads in
    order from where its checkpoint is ("": a load's; a replay's, ``replay_note``)."""

    def __init__(self, entry: str = "", key: str = OWN_ENTRY, stream: str = "") -> None:
        self.key, self.stream = key, stream
        self.logged = entry or NO_NOTE  # the note as the checkpoint holds it
        self.inherited, self.part = decode(entry)
        self.bits = bytearray()  # the open batch's (or part's) rows, in the order they are written

    def inherited_of(self, part: str) -> bytes:
        """The inherited bits, if they are of ``part``'s rows ("": the rows from the checkpoint's positions)."""
        return self.inherited if self.part == part else b""

    def stopped_run_put(self, inherited: bytes) -> bool:
        """Whether the next row (the ``len(bits)``-th) put its key in a run stopped before its
        checkpoint, by the ``inherited`` bits of the rows it reads: stored, it is the job's own."""
        n = len(self.bits)
        return n < len(inherited) and bool(inherited[n])

    def intent(self, part: str | None = None) -> str | None:
        """The note to log before the open batch's WriteBatches are written (this batch's bits,
        then what is left of the inherited ones past its rows: a rerun stopped again still
        knows them); None when the checkpoint holds it already. ``part``: an engine's part, else the stream."""
        part = self.stream if part is None else part
        inherited = self.inherited_of(part)
        text = encode(self.bits + inherited[len(self.bits) :], part)
        return None if text == self.logged else text

    def committed(self) -> dict[str, str]:
        """The note's entry for the checkpoint that commits the open batch (an empty dict where
        it is unchanged): what is left of the inherited bits past the batch's rows; after a
        part, or at the end of the input (``drop``), none."""
        rest = self.inherited_of(self.stream)[len(self.bits) :]
        self.inherited, self.part = rest, self.stream
        self.bits.clear()
        text = encode(rest, self.stream)
        if text == self.logged:
            return {}
        self.logged = text
        return {self.key: text}

    def drop(self) -> None:
        """The input is done: inherited bits left over are of rows no run reads any more."""
        self.inherited, self.part = b"", self.stream
