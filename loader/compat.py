"""Everything that leans on a library's internals or works around them, each checked
by tests/test_compat.py.

- pyarrow's pandas probe (``spare_pandas_import``);
- Arrow's compute functions from pyarrow's private ``_compute`` module, without
  importing ``pyarrow.compute`` (``compute_function``, ``call_function``,
  ``cast_options``; ``loader.kernels`` builds on them);
- a malformed CSV row pyarrow cannot decode, which it reports only to
  ``sys.unraisablehook`` (``invalid_csv_rows``);
- a JSON block whose first value is ``null``, on which pyarrow 26's JSON reader crashes
  the process (``read_json_block``);
- Parquet read through pyarrow's private ``_parquet`` module, without importing
  ``pyarrow.parquet`` (``parquet_reader``);
- SHA-256 and SHA-1 from CPython's own modules, without ``hashlib`` (``sha256``, ``sha1``);
- the threads of a ``ThreadPoolExecutor`` waiting for work, from CPython's loop of its
  workers (``idle_pool_threads``);
- a spawned process still importing the main module (``spawn_bootstrapping``), from
  multiprocessing's ``_inheriting`` flag.

Checked with pyarrow 16-26 (``CHECKED_PYARROW``) and CPython 3.11-3.13
(``CHECKED_PYTHON``); the test fails on another major version until it is checked again.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

CHECKED_PYARROW = range(16, 27)
CHECKED_PYTHON = range(11, 14)  # 3.x

_OWN_PACKAGES = ("loader",)


# ------------------------------------------------------------- digests

# ``import hashlib`` maps OpenSSL's libcrypto (3.6 MB of RSS in every run, part of every
# memory floor) for digests that CPython's own modules compute alike: ``_sha256`` up to
# Python 3.11, ``_sha2`` from 3.12, ``_sha1``. hashlib only where a build has neither.


@functools.cache
def _digest(name: str) -> Callable[..., Any]:
    """CPython's own constructor of digest ``name``, found once (a failed import searches
    the path again on every try)."""
    import importlib

    for module in {"sha256": ("_sha2", "_sha256"), "sha1": ("_sha1",)}[name]:
        with contextlib.suppress(ImportError):
            return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    import hashlib

    return getattr(hashlib, name)  # type: ignore[no-any-return]


def sha256(data: bytes = b"") -> Any:
    """``hashlib.sha256(data)``: the same digests."""
    return _digest("sha256")(data)


def sha1(data: bytes = b"") -> Any:
    """``hashlib.sha1(data)``: the same digests."""
    return _digest("sha1")(data)


def _importer_is_own(frame: Any) -> bool:
    """Whether the first frame outside the import machinery is loader's."""
    while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        frame = frame.f_back
    if frame is None:
        return False
    name = frame.f_globals.get("__name__", "")
    return any(name == p or name.startswith(p + ".") for p in _OWN_PACKAGES)


class _PandasProbeFinder:
    """Refuses ``import pandas`` when loader's own code asks (through pyarrow).

    pyarrow probes for pandas on its first Python-to-Arrow conversion (``pa.array``,
    ``pa.scalar``, and its C++ sequence converter on every call until pandas is
    imported), and importing pandas adds much to the peak RSS of a run that never
    uses it (bench/NOTES.md). User code (a ``python`` stage, ``Table.to_pandas``, the
    host of a library load) imports it as usual.

    pyarrow remembers a refused probe: it would take a pandas Series the user converts
    afterwards for a plain sequence (NaN kept, no categories). So once it has refused, the
    user's own import of pandas tells pyarrow it is there (``_Announcing``).
    """

    def __init__(self) -> None:
        self.refused = False

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "pandas":
            return None
        if _importer_is_own(sys._getframe(1)):
            self.refused = True
            raise ImportError("loader keeps pyarrow from importing pandas for its own conversions")
        if not self.refused:
            return None
        spec = _spec_elsewhere(self, name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Announcing(spec.loader, self)  # type: ignore[assignment]
        return spec


def _spec_elsewhere(
    skip: object, name: str, path: Sequence[str] | None, target: ModuleType | None
) -> ModuleSpec | None:
    """The spec the finders after ``skip`` give for ``name``, as the import would find it."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if finder is skip or find is None:
            continue
        spec = find(name, path, target)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


class _Announcing:
    """pandas' own loader, which tells pyarrow (whose probe was refused) once pandas is in."""

    def __init__(self, loader: Any, finder: _PandasProbeFinder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        import pyarrow as pa

        # pandas is in sys.modules now: pyarrow's shim probes again (raising, so not cached
        # as absent) and finds it
        with contextlib.suppress(Exception):
            pa.lib._pandas_api.pd  # noqa: B018
            self._finder.refused = False

    def __getattr__(self, name: str) -> Any:  # resources, source: pandas' loader's own
        return getattr(self._loader, name)


_FINDER = _PandasProbeFinder()


def spare_pandas_import() -> None:
    """Keep pyarrow's pandas probe from importing pandas for loader's own conversions: in a
    process that loader owns (the command, its workers) and in a library load's host (a
    ``Pipeline`` made). Does nothing when pandas is already imported."""
    if "pandas" in sys.modules or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)


# ------------------------------------------------------- Arrow's compute functions


@functools.cache
def _compute() -> ModuleType:
    # pyarrow.compute wraps every one of Arrow's ~300 functions (signature, docstring) on
    # import; its private _compute module holds the registry and options classes it wraps
    import importlib

    return importlib.import_module("pyarrow._compute")


def compute_function(name: str) -> tuple[Any, Callable[..., Any] | None, Any]:
    """Arrow's compute function ``name`` (``pa.ArrowKeyError`` if none): the function,
    its options class (None: it takes none) and its arity (Ellipsis: any number of inputs)."""
    module = _compute()
    func = module.function_registry().get_function(name)
    options_name = func._doc.options_class
    return func, (getattr(module, options_name) if options_name else None), func.arity


def call_function(name: str, args: Sequence[Any], options: Any = None) -> Any:
    """``pyarrow.compute.call_function``."""
    return _compute().call_function(name, list(args), options)


def cast_options(target_type: Any, safe: bool) -> Any:
    """``pyarrow.compute.CastOptions.safe`` or ``.unsafe``."""
    options = _compute().CastOptions
    return options.safe(target_type) if safe else options.unsafe(target_type)


# ------------------------------------------------------ Parquet without pyarrow.fs


def parquet_reader(source: Any, *, buffer_size: int) -> Any:
    """``source`` opened by ``pyarrow._parquet.ParquetReader``, what ``pyarrow.parquet.ParquetFile``
    wraps: importing ``pyarrow.parquet`` imports ``pyarrow.fs`` and the S3 filesystem's
    libraries with it, resident in every Parquet load (bench/NOTES.md). No ``pre_buffer``:
    its read-ahead grows with the file. Page checksums are verified: a page whose CRC
    (parquet-mr and Spark write them) fails is an ``OSError``, not values stored as they
    decode; a page without one is read as before."""
    import importlib

    reader = importlib.import_module("pyarrow._parquet").ParquetReader()
    # INT96 (Spark, Impala, Hive) in microseconds, as Spark and DuckDB read it: in pyarrow's
    # default nanoseconds a year past 2262 (9999-12-31, the usual "no end" date) wraps round
    reader.open(
        source,
        buffer_size=buffer_size,
        pre_buffer=False,
        coerce_int96_timestamp_unit="us",
        page_checksum_verification=True,
    )
    return reader


# ------------------------------------------------ CSV rows pyarrow cannot decode


class InvalidRows:
    """pyarrow.csv's ``invalid_row_handler``: keeps each malformed row (skipped from the
    table) and notes a malformed row that was not UTF-8. pyarrow decodes a malformed
    row's text before calling the handler; when that fails it reports the error only
    to ``sys.unraisablehook`` (naming this handler) and fails the whole block."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.undecodable = False

    def __call__(self, row: Any) -> str:
        self.rows.append(row)
        return "skip"


class _UnraisableRouter:
    """Installed as ``sys.unraisablehook`` while any thread parses CSV (the hook is
    process-wide); passes every other unraisable error on to the hook it replaced."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.previous: Callable[[Any], object] | None = None

    def __call__(self, unraisable: Any) -> None:
        handler = unraisable.object
        if isinstance(handler, InvalidRows) and issubclass(unraisable.exc_type, UnicodeDecodeError):
            handler.undecodable = True
        elif self.previous is not None:
            self.previous(unraisable)

    def __enter__(self) -> None:
        with self.lock:
            if self.users == 0:
                self.previous, sys.unraisablehook = sys.unraisablehook, self
            self.users += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.previous is not None:
                sys.unraisablehook, self.previous = self.previous, None


_ROUTER = _UnraisableRouter()


@contextlib.contextmanager
def invalid_csv_rows() -> Iterator[InvalidRows]:
    """A handler for one ``pyarrow.csv`` parse (``ParseOptions(invalid_row_handler=...)``),
    with undecodable malformed rows noted on it while the block is parsed."""
    with _ROUTER:
        yield InvalidRows()


# ------------------------------------------------------------- JSON blocks

# The first byte of a block's first value, past a UTF-8 byte order mark and JSON's whitespace
_FIRST_VALUE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*([^ \t\r\n])")


def read_json_block(data: bytes, read_options: Any, parse_options: Any) -> Any:
    """``pyarrow.json.read_json`` of one block of JSON Lines, refusing (``pa.ArrowInvalid``)
    a block whose first value is not an object, which pyarrow refuses or misreads anyway:
    pyarrow 26 segfaults on a block whose first value is ``null``, with or without a schema."""
    import pyarrow as pa
    import pyarrow.json as pajson

    first = _FIRST_VALUE.match(data)
    if first is not None and first.group(1) != b"{":
        raise pa.ArrowInvalid("a JSON block's first value is not an object")
    return pajson.read_json(pa.BufferReader(data), read_options=read_options, parse_options=parse_options)


# ------------------------------------------------------------- idle pools


def idle_pool_threads() -> set[int]:
    """The idents of ``ThreadPoolExecutor`` workers waiting for work: the innermost frame
    of each is the pool's own loop (``concurrent.futures.thread._worker``), blocked on its
    queue or between two tasks, so it runs no task and holds no lock of one. A thread
    running a task has the task's frames above that loop, and is not here."""
    loop = _pool_loop()
    return {ident for ident, frame in sys._current_frames().items() if loop is not None and frame.f_code is loop}


def pool_threads() -> set[int]:
    """The idents of ``ThreadPoolExecutor`` workers, idle or running a task: the pool's own
    loop (``_pool_loop``) is among each one's frames."""
    loop = _pool_loop()
    out = set()
    for ident, frame in sys._current_frames().items():
        f: Any = frame
        while f is not None and f.f_code is not loop:
            f = f.f_back
        if f is not None and loop is not None:
            out.add(ident)
    return out


def _pool_loop() -> Any:
    """The code of a ``ThreadPoolExecutor`` worker's loop (``concurrent.futures.thread._worker``);
    None where this Python has none."""
    from concurrent.futures import thread as pool

    return getattr(getattr(pool, "_worker", None), "__code__", None)


# ----------------------------------------------------------- spawned workers


def spawn_bootstrapping() -> bool:
    """Whether this process is a spawned multiprocessing worker still preparing, as it
    imports the main module (``multiprocessing.spawn`` sets ``_inheriting`` for that time)."""
    import multiprocessing

    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))
