from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from loader import sinks
from loader.chunk import Chunk
from loader.sinks import Encoded
from loader.writers.base import Writer
from tests.s3_server import Bucket, S3Server

DATA = Path(__file__).parent / "data"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker more than the usable CPUs. Most tests wait on the loads they start
    (other processes, fsync, a lock): one more worker keeps the CPUs busy meanwhile."""
    return len(os.sched_getaffinity(0)) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` tests first (the sort keeps the order otherwise): under xdist one started near
    the end runs on alone while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def data_dir() -> Path:
    return DATA


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


# Fields as a file read with escape_char "\\" spells them: escaped delimiters, quotes and
# newlines (a CR too) in quoted values and unquoted ones, escaped escapes before a closing
# quote, quotes that are text in an unquoted field, doubled quotes, text after a closing quote.
ESCAPED_FIELDS = [
    "a",
    '12" pipe',
    "x\\,y",
    "x\\\ny",
    '"a\\"b"',
    '"multi\nline"',
    '"C:\\\\temp\\\\"',
    '"a""b"',
    'a\\"b',
    '"x\\\ny"',
    "\\\\",
    '"ab\\\\\\"c\nd"',
    '"q"\\"x',
    '\\"',
    'z"',
    '"e"f"g',
    "\\\\\\\n",
    "x\\\r",
]


# fields with text after their closing quote: a row holding one is rejected (a value is quoted whole)
AFTER_QUOTE = {'"q"\\"x', '"e"f"g'}


def escaped_rows(rnd: Any, rows: int, columns: int = 3) -> tuple[str, str, set[int]]:
    """``rows`` rows as ``escaped_text`` draws them: the text, the text of the rows the reader
    loads, and the (0-based) rows it rejects, those with a field of ``AFTER_QUOTE``."""
    drawn = [[rnd.choice(ESCAPED_FIELDS) for _ in range(columns)] for _ in range(rows)]
    bad = {i for i, row in enumerate(drawn) if AFTER_QUOTE & set(row)}
    lines = [",".join(row) + "\n" for row in drawn]
    return "".join(lines), "".join(x for i, x in enumerate(lines) if i not in bad), bad


def escaped_text(rnd: Any, rows: int, columns: int = 3, fields: list[str] = ESCAPED_FIELDS) -> str:
    """``rows`` rows of ``columns`` fields drawn from ``fields``, each ended by a newline."""
    return "".join(",".join(rnd.choice(fields) for _ in range(columns)) + "\n" for _ in range(rows))


def pyarrow_rows(data: bytes, columns: int = 3, quote: str | None = '"') -> list[tuple[str, ...]]:
    """``data``'s rows as pyarrow reads the whole of it in one go, with escape_char "\\", every
    value text: the reference a file cut in blocks or parts must load as."""
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(columns)]
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=max(len(data), 1 << 20) + 1),
        parse_options=pacsv.ParseOptions(escape_char="\\", quote_char=quote or False, newlines_in_values=bool(quote)),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    return [tuple(row.values()) for row in table.to_pylist()]


def calls_made(work: Callable[[], Any]) -> tuple[Any, int]:
    """``work()``'s result and the function calls it made, Python's and the C functions
    it called, in every thread it started: a measure of work that, unlike a clock, is
    the same on any machine however busy."""
    counter = itertools.count()

    def count(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            next(counter)

    sys.setprofile(count)
    threading.setprofile(count)
    try:
        result = work()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return result, next(counter)


def heads_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the CSV files whose head a load reads from here on, once a read, in order."""
    from loader.readers.csv import CSVReader

    heads: list[str] = []
    real = CSVReader._head_blocks

    def counting(self: CSVReader) -> object:
        heads.append(Path(self.path).name)
        return real(self)

    monkeypatch.setattr(CSVReader, "_head_blocks", counting)
    return heads


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only for this process (as a ConfigMap mount is): by its mode, or
    for root, whom modes do not stop, by a read-only bind mount; skips where neither works."""
    folder.chmod(0o555)
    mounted = False
    try:
        if os.access(folder, os.W_OK):
            p = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
            if p.returncode != 0 or os.access(folder, os.W_OK):
                pytest.skip("cannot make a read-only directory here")
            mounted = True
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        folder.chmod(0o755)


def sqlite_rows(db: Path | str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-compatible server (moto) on localhost for the whole session."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket on the local server; this process reaches it through the AWS_* environment."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return Bucket(s3_server)


# The writer tests' way in: what the pipeline hands a writer, made by the sink's own encoder.


def as_chunk(batch: pa.RecordBatch) -> Chunk:
    return Chunk(
        batch=batch, file="f", rows=pa.array(range(1, batch.num_rows + 1), pa.int64()), last_row=batch.num_rows, end={}
    )


def encode(w: Writer, batch: pa.RecordBatch) -> Encoded:
    """What the pipeline hands the writer for ``batch``: its sink's encoder's output."""
    return sinks.get(str(w.config.type)).encoder(w.config, w)(as_chunk(batch))


def put(w: Writer, batch: pa.RecordBatch) -> int:
    return w.write(encode(w, batch))


def adapt(w: Writer, chunk: Chunk) -> Chunk:
    """The chunk as the encoder leaves it: rows the target cannot hold moved to the rejects."""
    return sinks.get(str(w.config.type)).encoder(w.config, w)(chunk).chunk


@dataclasses.dataclass
class SilentEndpoint:
    url: str
    held: list[socket.socket]  # the connections accepted: a request in flight


@pytest.fixture
def silent_endpoint() -> Iterator[SilentEndpoint]:
    """An S3 endpoint that accepts connections and never answers: pyarrow's request blocks
    in C++ for its timeouts and retries (3 attempts of 3 s each, ~11 s in all)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield SilentEndpoint(f"http://127.0.0.1:{server.getsockname()[1]}", held)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
