"""LevelDB's table files written directly from sorted keys and values, and added to a
closed store through a new MANIFEST.

LevelDB has no call to ingest table files (RocksDB's ``IngestExternalFile``), so a
sorted load through plyvel pays a Python call per row and LevelDB's memtable,
level-0 flushes and compactions. A sorted, duplicate-free stream of keys needs none
of that: it is already what LevelDB's bottom level holds. Here each batch of keys and
values becomes block entries column-wise (Arrow joins the pieces in C), blocks are cut
from those bytes, and the table files are placed on the bottom level by a new MANIFEST
that lists the store's files and these; writing ``CURRENT`` is the commit, as in
LevelDB itself. Until then the store is untouched, and files left by a killed ingest
are not in any version (LevelDB deletes them when it next opens the store).

Only a store that holds nothing in the key range of the load qualifies (``plan``): no
table file overlaps it and the write-ahead log is empty, so no older value or deletion
can shadow the new ones, whichever level they sit on.

The formats are LevelDB's documented ones (``doc/table_format.md``,
``doc/log_format.md``, ``db/version_edit.cc``), unchanged since LevelDB 1.0;
``tests/writers/test_leveldb_tables.py`` opens what this writes with the LevelDB plyvel
bundles, checksums verified, and compacts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import google_crc32c
import numpy as np
import pyarrow as pa

from .. import kernels
from ..files import fsync_path

NUM_LEVELS = 7
BOTTOM = NUM_LEVELS - 1
COMPARATOR = b"leveldb.BytewiseComparator"
TYPE_VALUE = 1
TABLE_MAGIC = 0xDB4775248B80FB57
RESTART_INTERVAL = 16  # LevelDB's default block_restart_interval
NO_COMPRESSION, SNAPPY = 0, 1
LOG_BLOCK = 32768
LOG_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# VersionEdit tags
COMPARATOR_TAG, LOG_NUMBER, NEXT_FILE, LAST_SEQUENCE, COMPACT_POINTER, DELETED_FILE, NEW_FILE = 1, 2, 3, 4, 5, 6, 7
PREV_LOG_NUMBER = 9
PENDING_BYTES = 512 << 10  # entry bytes gathered before blocks are cut from them

_EMPTY = pa.scalar(b"", pa.binary())


class FormatError(ValueError):
    """A store's MANIFEST or CURRENT this module cannot read."""


class ForeignComparator(FormatError):
    """The store's keys are ordered by another comparator than LevelDB's bytewise one."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the store uses the comparator {name}")
        self.name = name


# ------------------------------------------------------------------- encodings


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise FormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _read_prefixed(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _read_varint(data, pos)
    return data[pos : pos + n], pos + n


def masked_crc(*pieces: bytes | memoryview | pa.Buffer) -> int:
    crc = 0
    for piece in pieces:
        crc = google_crc32c.extend(crc, piece)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint_columns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's varint as byte columns (as many as the longest needs), and how many
    of them it uses."""
    used = np.ones(len(x), np.int64)
    for j in range(1, 5):
        used += x >= (1 << (7 * j))
    width = int(used.max()) if len(x) else 1
    cols = [((x >> (7 * j)) & 0x7F) | ((j < used - 1) << 7) for j in range(width)]
    return np.stack(cols, axis=1).astype(np.uint8), used


def entries(keys: pa.Array, values: pa.Array, trailer: bytes) -> pa.Array:
    """Each row as a block entry with no shared prefix: ``0``, ``varint(len(key) + 8)``,
    ``varint(len(value))``, the key, its 8-byte trailer, the value."""
    n = len(keys)
    key_lengths = kernels.binary_length(keys).to_numpy().astype(np.int64) + len(trailer)
    value_lengths = kernels.binary_length(values).to_numpy().astype(np.int64)
    k, k_used = _varint_columns(key_lengths)
    v, v_used = _varint_columns(value_lengths)
    table = np.concatenate([np.zeros((n, 1), np.uint8), k, v], axis=1)
    mask = np.concatenate(
        [
            np.ones((n, 1), bool),
            np.arange(k.shape[1]) < k_used[:, None],
            np.arange(v.shape[1]) < v_used[:, None],
        ],
        axis=1,
    )
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(1 + k_used + v_used, out=offsets[1:])
    heads = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(table[mask])])
    return kernels.binary_join_element_wise(heads, keys, pa.scalar(trailer, pa.binary()), values, _EMPTY)


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, arr.offset * 4).astype(np.int64)


def _block(items: list[tuple[bytes, bytes]], interval: int) -> bytes:
    """A small block (index, meta-index) from key/value pairs, entries unshared."""
    out, restarts = bytearray(), [0]
    for i, (key, value) in enumerate(items):
        if i and i % interval == 0:
            restarts.append(len(out))
        out += b"\x00" + varint(len(key)) + varint(len(value)) + key + value
    return bytes(out) + struct.pack(f"<{len(restarts) + 1}I", *restarts, len(restarts))


# ---------------------------------------------------------------- table files


@dataclass(frozen=True)
class TableFile:
    """A table file as the MANIFEST lists it: level, number, size, first and last internal keys."""

    level: int
    number: int
    size: int
    smallest: bytes
    largest: bytes

    def overlaps(self, lo: bytes, hi: bytes | None) -> bool:
        return (hi is None or self.smallest[:-8] <= hi) and self.largest[:-8] >= lo


class _Table:
    """One table file being written: data blocks, then the index, meta-index and footer."""

    def __init__(self, path: str, number: int, compression: int) -> None:
        self.path = path
        self.number = number
        self.compression = compression
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by finish() or abandon()
        self.offset = 0
        self.index: list[tuple[bytes, bytes]] = []
        self.smallest = b""
        self.largest = b""

    def _write_block(self, pieces: list[bytes | pa.Buffer], compression: int) -> bytes:
        """A block with its trailer; its handle (offset and size) for the index."""
        if compression == SNAPPY:
            raw = b"".join(bytes(p) for p in pieces)
            packed = pa.compress(raw, "snappy", asbytes=True)
            if len(packed) < len(raw) - len(raw) // 8:  # LevelDB's rule: keep it if it saves 1/8
                pieces = [packed]
            else:
                compression = NO_COMPRESSION
        size = sum(len(p) for p in pieces)
        kind = bytes([compression])
        for p in pieces:
            self.file.write(p)
        self.file.write(kind + struct.pack("<I", masked_crc(*pieces, kind)))
        handle = varint(self.offset) + varint(size)
        self.offset += size + 5
        return handle

    def add_block(self, data: pa.Buffer, restarts: np.ndarray, first: bytes, last: bytes) -> None:
        tail = restarts.astype("<u4").tobytes() + struct.pack("<I", len(restarts))
        handle = self._write_block([data, tail], self.compression)
        if not self.smallest:
            self.smallest = first
        self.largest = last
        self.index.append((last, handle))

    def finish(self) -> TableFile:
        """The index, meta-index and footer written; the file is flushed, not yet synced."""
        meta = self._write_block([_block([], 1)], NO_COMPRESSION)
        index = self._write_block([_block(self.index, 1)], NO_COMPRESSION)
        footer = (meta + index).ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
        self.file.write(footer)
        self.offset += len(footer)
        self.file.flush()
        return TableFile(BOTTOM, self.number, self.offset, self.smallest, self.largest)

    def sync(self) -> None:
        try:
            os.fsync(self.file.fileno())
        finally:
            self.file.close()

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # what the buffer held is dropped: a full disk may refuse it
            self.file.close()

    def mark(self) -> tuple[_Table, int, int, bytes, bytes]:
        """What ``back_to`` needs to cut this file back to where it is now, at a block's end."""
        return self, self.offset, len(self.index), self.smallest, self.largest

    def back_to(self, offset: int, blocks: int, smallest: bytes, largest: bytes) -> None:
        """The file (written on, ended, or abandoned since ``mark``) cut back to ``offset``
        and open for more blocks."""
        self.abandon()
        self.file = open(self.path, "r+b")  # noqa: SIM115 - closed by finish() or abandon()
        self.file.truncate(offset)
        self.file.seek(offset)
        self.offset, self.smallest, self.largest = offset, smallest, largest
        del self.index[blocks:]


# A TableWriter's state to go back to: the file being written (and where), the next file
# number, the rows added, the rows in ended files.
Savepoint = tuple[tuple[_Table, int, int, bytes, bytes] | None, int, int, int]


class TableWriter:
    """Writes sorted, unique keys with their values as LevelDB table files in ``directory``,
    numbered from ``first_number``, every entry with sequence number ``sequence``.
    ``add`` takes keys in ascending order, each greater than all before; a file ends
    once it holds ``file_size`` bytes. ``take`` returns the files ended so far (fsynced),
    ``flush`` ends the file being written too. ``rows_added`` counts the rows given,
    ``rows_ended`` those in ended files. ``rewind`` drops the rows added since a
    ``savepoint``."""

    def __init__(
        self,
        directory: str,
        first_number: int,
        sequence: int,
        *,
        block_size: int,
        file_size: int,
        compression: int = NO_COMPRESSION,
    ) -> None:
        self.directory = directory
        self.next_number = first_number
        self.trailer = struct.pack("<Q", (sequence << 8) | TYPE_VALUE)
        self.block_size = block_size
        self.file_size = file_size
        self.compression = compression
        self.files: list[TableFile] = []
        self._table: _Table | None = None
        # Finished files are fsynced by a thread while the next is built (fsync releases the GIL).
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="loader-fsync")
        self._synced: list[Future[None]] = []
        self._entries: list[pa.Array] = []
        self._keys: list[pa.Array] = []
        self._pending = 0
        self.rows_added = 0
        self._rows_cut = 0  # rows in blocks written
        self.rows_ended = 0

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if self._table is not None and kind is not None:
            self._table.abandon()
        self._syncer.shutdown(wait=True)

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        if not len(keys):
            return
        made = entries(keys, values, self.trailer)
        self._entries.append(made)
        self._keys.append(keys)
        self.rows_added += len(keys)
        self._pending += made.nbytes
        if self._pending >= PENDING_BYTES:
            self._cut(final=False)

    def flush(self) -> list[TableFile]:
        """The file being written finished, and every file synced: those finished since
        the last flush or take. The next ``add`` starts a new file."""
        self._cut(final=True)
        if self._table is not None:
            self._finish(self._table)
        return self.take()

    def savepoint(self) -> Savepoint:
        """The rows added so far, for a ``rewind`` to keep: the entries gathered are cut into
        blocks (the last one short), and the file being written stays open."""
        self._cut(final=True)
        table = self._table.mark() if self._table is not None else None
        return table, self.next_number, self.rows_added, self.rows_ended

    def rewind(self, saved: Savepoint) -> None:
        """Back to ``saved``, the files ended before it all taken: the rows added since are
        dropped, with the files they began, and the file then being written is open again,
        cut back to its length then."""
        table, first_new, rows, ended = saved
        for done in self._synced:
            done.result()
        self._synced.clear()
        if self._table is not None:
            self._table.abandon()
        self._table, self.files = None, []
        for number in range(first_new, self.next_number):
            with contextlib.suppress(FileNotFoundError):
                os.remove(table_path(self.directory, number))
        if table is not None:
            table[0].back_to(*table[1:])
            self._table = table[0]
        self._entries, self._keys, self._pending = [], [], 0
        self.rows_added = self._rows_cut = rows
        self.rows_ended = ended

    def take(self) -> list[TableFile]:
        """The files finished since the last flush or take, synced; the file being
        written stays open."""
        for done in self._synced:
            done.result()  # an fsync's error, raised here
        self._synced.clear()
        new, self.files = self.files, []
        return new

    def _finish(self, table: _Table) -> None:
        self.files.append(table.finish())
        self._synced.append(self._syncer.submit(table.sync))
        self._table = None
        self.rows_ended = self._rows_cut

    def _cut(self, *, final: bool) -> None:
        """Blocks of about ``block_size`` cut from the gathered entries; without
        ``final`` the last, partly filled block waits for more entries."""
        if not self._entries:
            return
        made = pa.concat_arrays(self._entries) if len(self._entries) > 1 else self._entries[0]
        keys = pa.concat_arrays(self._keys) if len(self._keys) > 1 else self._keys[0]
        offsets = _offsets(made)
        starts = offsets[:-1] - offsets[0]
        block_of = starts // self.block_size
        firsts = np.flatnonzero(np.diff(block_of, prepend=-1))
        ends = np.append(firsts[1:], len(made))
        if not final:  # the last block may still grow
            firsts, ends = firsts[:-1], ends[:-1]
        data = made.buffers()[2]
        for a, b in zip(firsts.tolist(), ends.tolist(), strict=True):
            table = self._table or self._open()
            restarts = offsets[a:b:RESTART_INTERVAL] - offsets[a]
            first = keys[a].as_py() + self.trailer if not table.smallest else b""
            table.add_block(
                data.slice(int(offsets[a]), int(offsets[b] - offsets[a])),
                restarts,
                first,
                keys[b - 1].as_py() + self.trailer,
            )
            self._rows_cut += b - a
            if table.offset >= self.file_size:
                self._finish(table)
        rest = int(ends[-1]) if len(ends) else 0
        self._entries = [made.slice(rest)] if rest < len(made) else []
        self._keys = [keys.slice(rest)] if rest < len(made) else []
        self._pending = sum(e.nbytes for e in self._entries)

    def _open(self) -> _Table:
        number = self.next_number
        self.next_number += 1
        self._table = _Table(table_path(self.directory, number), number, self.compression)
        return self._table


def table_path(directory: str, number: int) -> str:
    return os.path.join(directory, f"{number:06d}.ldb")


# -------------------------------------------------------------------- MANIFEST


@dataclass
class Version:
    """What a store's MANIFEST says: its counters and its live table files by number."""

    log_number: int = 0
    prev_log_number: int = 0
    next_file: int = 0
    last_sequence: int = 0
    files: dict[int, TableFile] = field(default_factory=dict)

    def apply(self, edit: bytes) -> None:
        """One VersionEdit record, applied."""
        pos = 0
        while pos < len(edit):
            tag, pos = _read_varint(edit, pos)
            if tag == COMPARATOR_TAG:
                name, pos = _read_prefixed(edit, pos)
                if name != COMPARATOR:
                    raise ForeignComparator(name.decode(errors="replace"))
            elif tag in (LOG_NUMBER, PREV_LOG_NUMBER, NEXT_FILE, LAST_SEQUENCE):
                value, pos = _read_varint(edit, pos)
                attr = {LOG_NUMBER: "log_number", PREV_LOG_NUMBER: "prev_log_number", NEXT_FILE: "next_file"}
                setattr(self, attr.get(tag, "last_sequence"), value)
            elif tag == COMPACT_POINTER:
                _, pos = _read_varint(edit, pos)
                _, pos = _read_prefixed(edit, pos)
            elif tag == DELETED_FILE:
                _, pos = _read_varint(edit, pos)
                number, pos = _read_varint(edit, pos)
                self.files.pop(number, None)
            elif tag == NEW_FILE:
                level, pos = _read_varint(edit, pos)
                number, pos = _read_varint(edit, pos)
                size, pos = _read_varint(edit, pos)
                smallest, pos = _read_prefixed(edit, pos)
                largest, pos = _read_prefixed(edit, pos)
                self.files[number] = TableFile(level, number, size, smallest, largest)
            else:
                raise FormatError(f"unknown MANIFEST tag {tag}")

    def snapshot(self) -> bytes:
        """The whole version as one VersionEdit (what LevelDB writes first in a new MANIFEST)."""
        out = bytearray(varint(COMPARATOR_TAG) + varint(len(COMPARATOR)) + COMPARATOR)
        for tag, value in (
            (LOG_NUMBER, self.log_number),
            (PREV_LOG_NUMBER, self.prev_log_number),
            (NEXT_FILE, self.next_file),
            (LAST_SEQUENCE, self.last_sequence),
        ):
            out += varint(tag) + varint(value)
        for f in sorted(self.files.values(), key=lambda f: (f.level, f.smallest)):
            out += varint(NEW_FILE) + varint(f.level) + varint(f.number) + varint(f.size)
            out += varint(len(f.smallest)) + f.smallest + varint(len(f.largest)) + f.largest
        return bytes(out)


def log_records(data: bytes) -> Iterator[bytes]:
    """The records of a LevelDB log file (a MANIFEST), fragments joined, checksums checked.
    A torn record at the end (a writer that died) ends the file, as LevelDB reads it."""
    pos, parts = 0, bytearray()
    while pos + LOG_HEADER <= len(data):
        left = LOG_BLOCK - pos % LOG_BLOCK
        if left < LOG_HEADER:  # the block's zero trailer
            pos += left
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        payload = data[pos + LOG_HEADER : pos + LOG_HEADER + length]
        if len(payload) < length:
            return
        if kind == 0 and length == 0:  # preallocated space
            pos += left
            continue
        if masked_crc(bytes([kind]), payload) != crc:
            raise FormatError("a MANIFEST record fails its checksum")
        pos += LOG_HEADER + length
        if kind == FULL:
            yield payload
        elif kind == FIRST:
            parts = bytearray(payload)
        elif kind == MIDDLE:
            parts += payload
        elif kind == LAST:
            yield bytes(parts + payload)


def log_file(records: Iterable[bytes]) -> bytes:
    """Records framed as a LevelDB log file: 32 KiB blocks, long records in fragments."""
    out = bytearray()
    for record in records:
        pos, begin = 0, True
        while True:
            left = LOG_BLOCK - len(out) % LOG_BLOCK
            if left < LOG_HEADER:
                out += b"\x00" * left
                left = LOG_BLOCK
            piece = record[pos : pos + left - LOG_HEADER]
            pos += len(piece)
            end = pos >= len(record)
            kind = FULL if begin and end else FIRST if begin else LAST if end else MIDDLE
            out += struct.pack("<IHB", masked_crc(bytes([kind]), piece), len(piece), kind) + piece
            begin = False
            if end:
                break
    return bytes(out)


def current_manifest(directory: str) -> str:
    """The name of the MANIFEST that ``CURRENT`` names."""
    with open(os.path.join(directory, "CURRENT"), "rb") as f:
        name = f.read().decode("ascii", "replace").strip()
    if not re.fullmatch(r"MANIFEST-\d+", name):
        raise FormatError(f"CURRENT names {name!r}, not a MANIFEST")
    return name


def read_version(directory: str) -> Version:
    name = current_manifest(directory)
    with open(os.path.join(directory, name), "rb") as f:
        data = f.read()
    version = Version()
    for record in log_records(data):
        version.apply(record)
    if not version.next_file:
        raise FormatError("the MANIFEST has no next file number")
    return version


def write_version(directory: str, version: Version, number: int) -> None:
    """``version`` as MANIFEST-``number``, then ``CURRENT`` pointed at it: the commit. The
    MANIFEST it supersedes is removed once that is durable, as LevelDB removes it: each
    lists every file, so a load of many commits kept their squares' worth of bytes. Killed
    before, it stays, and LevelDB removes it when it next opens the store."""
    try:
        superseded: str | None = current_manifest(directory)
    except (OSError, FormatError):
        superseded = None
    name = f"MANIFEST-{number:06d}"
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(log_file([version.snapshot()]))
        f.flush()
        os.fsync(f.fileno())
    temp = os.path.join(directory, f"{number:06d}.dbtmp")
    with open(temp, "wb") as f:
        f.write(name.encode("ascii") + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, os.path.join(directory, "CURRENT"))
    fsync_path(directory)  # CURRENT names the new MANIFEST for good: the old one is no longer needed
    if superseded is not None and superseded != name:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, superseded))


# --------------------------------------------------------------------- ingest


def _log_is_empty(directory: str, version: Version) -> bool:
    for name in os.listdir(directory):
        m = re.fullmatch(r"(\d+)\.log", name)
        replayed = m is not None and (int(m[1]) >= version.log_number or int(m[1]) == version.prev_log_number)
        if replayed and os.path.getsize(os.path.join(directory, name)):
            return False
    return True


def plan(directory: str, lo: bytes, hi: bytes | None) -> Version | None:
    """The store's version if keys ``lo``..``hi`` (``None``: no upper bound) can be added
    as bottom-level table files: the store (closed) holds no table file that overlaps
    them and nothing in its log."""
    try:
        version = read_version(directory)
    except (OSError, FormatError):
        return None
    if not _log_is_empty(directory, version):
        return None
    if any(f.overlaps(lo, hi) for f in version.files.values()):
        return None
    return version


@contextmanager
def locked(directory: str) -> Iterator[None]:
    """The store's LOCK, taken as LevelDB takes it (an fcntl lock on the whole file):
    no other process opens the store while this one writes its files. Raises
    ``BlockingIOError`` if another holds it."""
    fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # the lock goes with the descriptor


def remove_orphans(directory: str, version: Version) -> None:
    """Files a killed ingest left: table files in no version (one being written when a
    MANIFEST was, has a number below its ``next_file``), and MANIFESTs numbered from
    ``next_file`` on. The store is closed: no compaction of LevelDB's is writing one."""
    for name in os.listdir(directory):
        m = re.fullmatch(r"(\d+)\.(ldb|sst)|(\d+)\.dbtmp|MANIFEST-(\d+)", name)
        if not m:
            continue
        orphan = int(m[1]) not in version.files if m[1] else int(m[3] or m[4]) >= version.next_file
        if orphan:
            os.remove(os.path.join(directory, name))


class TableLoad:
    """Sorted, unique keys and values added to the closed store at ``directory`` (whose
    ``version`` ``plan`` returned) as table files, committed in steps: ``commit`` points
    ``CURRENT`` at a new MANIFEST listing every file ended so far (with ``end``, the file
    being written is ended first). Files written after the last commit are in no version
    (LevelDB deletes them)."""

    def __init__(
        self, directory: str, version: Version, *, block_size: int, file_size: int, compression: int = NO_COMPRESSION
    ) -> None:
        remove_orphans(directory, version)
        self.directory = directory
        self.version = version
        self.sequence = version.last_sequence + 1
        self.writer = TableWriter(
            directory,
            version.next_file,
            self.sequence,
            block_size=block_size,
            file_size=file_size,
            compression=compression,
        )
        self.added: list[TableFile] = []
        self._saved: Savepoint | None = None  # where ``rewind`` goes back to

    def __enter__(self) -> TableLoad:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.writer.__exit__(kind, exc, tb)

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        self.writer.add(keys, values)

    @property
    def rows_added(self) -> int:
        return self.writer.rows_added

    def commit(self, *, end: bool = True) -> int:
        """The files ended (all, with ``end``) in the store's version; how many of the rows
        added are in it. Without ``end``, a ``rewind`` comes back here."""
        saved = None if end else self.writer.savepoint()
        files = self.writer.flush() if end else self.writer.take()
        if files:
            self._saved = None  # the version is changing: nothing before it to go back to
            self._commit(files)
        self._saved = saved  # a failure before here goes back to the commit before
        return self.writer.rows_ended

    def rewind(self) -> bool:
        """Back to the last commit (the rows added since dropped, the file then being written
        open again); False, with nothing done, if there is none to go back to (none made,
        the last one ended every file, or a MANIFEST failed)."""
        if self._saved is None:
            return False
        self.writer.rewind(self._saved)
        return True

    def _commit(self, files: list[TableFile]) -> None:
        manifest = self.writer.next_number
        self.writer.next_number += 1
        commit_files(self.directory, self.version, files, self.sequence, manifest)
        self.added += files


def commit_files(directory: str, version: Version, files: list[TableFile], sequence: int, manifest: int) -> None:
    """Table files written (synced) added to ``version`` on the bottom level, committed as
    MANIFEST-``manifest``; file numbers from then on start after it."""
    for f in files:
        version.files[f.number] = f
    version.next_file = manifest + 1
    version.last_sequence = sequence
    fsync_path(directory)  # the table files' names, before CURRENT can name them
    write_version(directory, version, manifest)


def write_tables(
    directory: str,
    first_number: int,
    sequence: int,
    batches: Iterable[tuple[pa.Array, pa.Array]],
    *,
    block_size: int,
    file_size: int,
    compression: int = NO_COMPRESSION,
) -> list[TableFile]:
    """Sorted, unique keys and values (in ``batches``) written as table files numbered from
    ``first_number``, synced, in no version yet (``commit_files`` adds them)."""
    with TableWriter(
        directory, first_number, sequence, block_size=block_size, file_size=file_size, compression=compression
    ) as writer:
        for keys, values in batches:
            writer.add(keys, values)
        return writer.flush()


def numbers_needed(data_bytes: int, file_size: int) -> int:
    """File numbers that table files of keys and values that took ``data_bytes`` in sorted
    runs can use at most: entries add at most 15 bytes a row to a run's bytes (three
    varints and the trailer, against the run's two 4-byte offsets), so at most three times
    its bytes, and every file but the last holds ``file_size`` bytes or more."""
    return 3 * data_bytes // file_size + 2


def ingest(
    directory: str,
    version: Version,
    batches: Iterable[tuple[pa.Array, pa.Array]],
    *,
    block_size: int,
    file_size: int,
    compression: int = NO_COMPRESSION,
) -> list[TableFile]:
    """Sorted, unique keys and values (in ``batches``) added to the closed store at
    ``directory`` whose ``version`` ``plan`` returned, in one commit; the files it added."""
    remove_orphans(directory, version)
    sequence = version.last_sequence + 1
    files = write_tables(
        directory,
        version.next_file,
        sequence,
        batches,
        block_size=block_size,
        file_size=file_size,
        compression=compression,
    )
    if files:
        commit_files(directory, version, files, sequence, files[-1].number + 1)  # the MANIFEST: the next number
    return files
