"""Streaming Arrow IPC reader (the file format, Feather v2 included, and the stream format).

The file is read record batch by record batch, never as a table, with plain
reads rather than a memory map (mapped pages that were read count as the
process's memory until the kernel drops them), so memory holds one batch. Resuming skips whole batches (by index in
the file format, by reading past them in the stream format) and re-reads only
the one that was half loaded. Each batch's values are checked as it is read (``checked``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.ipc as ipc

from .. import kernels, storage
from ..chunk import Chunk
from ..convert import Converted, convert
from ..errors import one_line
from .base import TypedFileReader

# Text types and the bytes of the same layout, to read text that is not UTF-8 as bytes
_BYTES_OF = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary(), pa.string_view(): pa.binary_view()}


def own_buffers(piece: pa.RecordBatch) -> pa.RecordBatch:
    """A slice of a record batch in buffers of its own: a slice keeps its whole batch alive
    (pyarrow's defaults write 64Ki-row batches, 6 MB of the benchmark's rows), so chunks
    queued ahead of the writer would hold the batch being sliced and the one before it."""
    return pa.RecordBatch.from_arrays([pa.concat_arrays([c]) for c in piece.columns], schema=piece.schema)


def checked(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[int]]:
    """``batch`` with its values checked: pyarrow reads a record batch without looking at
    them, and an offset past its data would crash the process. A column (text, or a dictionary
    of text) whose only fault is text that is not UTF-8 comes back as bytes, its position
    listed, for those rows to be rejected; any other fault raises ``ArrowInvalid``."""
    try:
        batch.validate(full=True)
        return batch, []
    except pa.ArrowInvalid as exc:
        whole = exc
    columns = list(batch.columns)
    found = [(i, fault) for i, col in enumerate(columns) if (fault := _fault(col))]
    if not found:
        raise whole
    for i, fault in found:
        raw = _text_bytes(columns[i])
        if raw is None or _fault(raw):
            raise pa.ArrowInvalid(f"column {batch.schema.names[i]!r}: {fault}")
        columns[i] = raw
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names), [i for i, _ in found]


def _fault(arr: pa.Array) -> str | None:
    """Why ``arr`` fails Arrow's full check; None when it passes."""
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid as exc:
        return one_line(exc).removeprefix("Invalid: ")
    return None


def _text_bytes(arr: pa.Array) -> pa.Array | None:
    """A text column (or a dictionary of text) as the bytes it holds, without a copy; None
    for another type."""
    if pa.types.is_dictionary(arr.type):
        raw = _text_bytes(arr.dictionary)
        return None if raw is None else pa.DictionaryArray.from_arrays(arr.indices, raw)
    target = _BYTES_OF.get(arr.type)
    return None if target is None else arr.view(target)


class ArrowReader(TypedFileReader):
    """Reads one Arrow IPC file or stream as chunks. Use as a context manager."""

    KIND = "Arrow files"
    GLOB = "dir/*.arrow"

    def _open(self) -> None:
        path = self.path
        self._check_path()
        self.source = storage.open_arrow(path)
        self.opened = storage.opened_identity(path, self.source)
        self.file: ipc.RecordBatchFileReader | None = None
        magic, kind = b"", "file or stream"
        try:
            magic = self.source.read(6)
            self.source.seek(0)
            kind = "file" if magic == b"ARROW1" else kind
            if magic == b"ARROW1":  # the file format (Feather v2); anything else is read as a stream
                self.file = ipc.open_file(self.source)
                file_schema = self.file.schema
            else:
                file_schema = ipc.open_stream(self.source).schema
        except pa.ArrowNotImplementedError as exc:  # a type or feature pyarrow lacks: the file may be fine
            raise self._unreadable_type(f"not a readable Arrow IPC {kind}", exc) from None
        except (pa.ArrowInvalid, OSError) as exc:
            hint = (
                "Feather v1 files are not read: rewrite them with pyarrow.feather.write_feather"
                if magic[:4] == b"FEA1"
                else "the file is incomplete or damaged, or not Arrow IPC"
            )
            raise storage.failed_read(path, exc, self.opened, f"not a readable Arrow IPC {kind}", hint) from None
        self._settle_schema(file_schema)
        self.undecoded: set[str] = set()  # the batch's text columns read as bytes (``checked``)
        self._untyped(self._valueless())

    def _valueless(self) -> frozenset[str]:
        """The columns without a value in the file, which have no say in the load's types:
        every column of a file without rows; in the file format also a column null in every
        batch. A stream would have to be read twice for the latter: there only the former."""
        try:
            left = self._null_columns() if self.file is not None else self._stream_columns_if_no_rows()
        except (pa.ArrowException, OSError):
            return frozenset()  # the batch is read again as the file loads, and its fault reported then
        return frozenset(self.names[i] for i in left)

    def _null_columns(self) -> list[int]:
        """The columns null in every batch of the file format: batch by batch, reading only
        the columns null so far (most hold a value in the first batch, and the rest is not read)."""
        assert self.file is not None
        left, reader = list(range(len(self.names))), self.file
        for i in range(self.file.num_record_batches):
            if not left:
                break
            batch = reader.get_batch(i)
            still = [c for c, col in zip(left, batch.columns, strict=True) if col.null_count == len(col)]
            if still != left:
                reader = ipc.open_file(self.source, options=ipc.IpcReadOptions(included_fields=still))
            left = still
        return left

    def _stream_columns_if_no_rows(self) -> list[int]:
        """Every column of a stream without rows; none of another (read as far as its first row)."""
        self.source.seek(0)
        rows = any(batch.num_rows for batch in ipc.open_stream(self.source))
        self.source.seek(0)
        return [] if rows else list(range(len(self.names)))

    def _batches(self, first: int) -> Iterator[pa.RecordBatch]:
        """Record batches from index ``first`` on."""
        if self.file is not None:
            for i in range(first, self.file.num_record_batches):
                yield self.file.get_batch(i)
            return
        self.source.seek(0)
        for i, batch in enumerate(ipc.open_stream(self.source)):
            if i >= first:  # earlier batches are read past, one at a time
                yield batch

    def __iter__(self) -> Iterator[Chunk]:
        resume = self.resume or {}
        index, row_base = int(resume.get("batch", 0)), int(resume.get("batch_row", 0))
        done = int(resume.get("row", 0))
        position = self._position(index - 1) if index else 0  # bytes of the file read so far, for progress
        try:
            for read in self._batches(index):
                batch, undecoded = checked(read)
                self.undecoded = {self.names[i] for i in undecoded}
                del read
                n = batch.num_rows
                for lo in range(0, n, self.chunk_size):
                    hi = min(lo + self.chunk_size, n)
                    last = row_base + hi
                    if last <= done:
                        continue
                    rows = kernels.cumulative_sum(
                        pa.repeat(pa.scalar(1, pa.int64()), hi - lo), start=pa.scalar(row_base + lo, pa.int64())
                    )
                    piece = batch.slice(lo, hi - lo).rename_columns(self.names)
                    if n > self.chunk_size:
                        piece = own_buffers(piece)
                    chunk = self._convert(piece, rows, last, done, row_base + lo)
                    whole = hi == n
                    chunk.end = {
                        "batch": index + 1 if whole else index,
                        "batch_row": last if whole else row_base,
                        "row": last,
                    }
                    chunk.rows_read = last - max(row_base + lo, done)
                    if whole:
                        now = self._position(index)
                        chunk.bytes_read, position = max(now - position, 0), now
                    yield chunk
                del batch  # freed before the next one is decoded
                row_base += n
                index += 1
        except (pa.ArrowException, OSError) as exc:
            what = f"cannot read Arrow record batch {index} near row {row_base + 1}"
            raise storage.failed_read(self.path, exc, self.opened, what) from None

    def _read_column(self, name: str, col: pa.Array) -> Converted:
        """A text column of this batch that ``checked`` found not all UTF-8, as text: the
        values that are not are rejected."""
        if name not in self.undecoded:
            return Converted(col)
        return convert(col.dictionary_decode() if pa.types.is_dictionary(col.type) else col, pa.string())

    def _position(self, index: int) -> int:
        """About how many bytes of the file lie before the end of batch ``index``."""
        if self.file is None:
            return int(self.source.tell())  # the stream format reads in order
        return int(
            (self.size or 0) * (index + 1) // max(self.file.num_record_batches, 1)
        )  # read at offsets: no position

    def close(self) -> None:
        source = getattr(self, "source", None)  # missing after a failed open that did not get to it
        if source is not None:
            source.close()
