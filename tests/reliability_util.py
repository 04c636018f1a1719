"""Helpers for the reliability tests: real `python -m loader` processes and target readers."""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import io
import json
import locale
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import plyvel

from loader.paths import lock_path
from loader.rejects import default_rejects_path
from loader.writers.leveldb import STATE_FILE
from loader.writers.statelog import read_state_log

ROOT = Path(__file__).parents[1]


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LOADER_")}
    out["PYTHONPATH"] = str(ROOT)
    out.update(extra or {})
    return out


def cli(
    *args: str,
    extra_env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    input: str | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``loader ARGS`` from this checkout, without the caller's LOADER_* variables; ``input``:
    its standard input. Run through ``loader.cli.main`` in this process (:func:`in_process`:
    no interpreter start, ~0.45 s of CPU each); ``process=True``: a real ``python -m loader``
    (``timeout`` applies there only), for what is about the process (signals, kills, what
    the command imports, its peak memory)."""
    if not process:
        return in_process(*args, extra_env=extra_env, cwd=cwd, input=input)
    return subprocess.run(
        [sys.executable, "-m", "loader", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(extra_env),
        timeout=timeout,
    )


# Python's own warning filters (``python -W`` unset, not in development mode): what a
# ``python -m loader`` shows or ignores, whatever filters pytest runs this test under.
_PYTHON_WARNING_FILTERS = [
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, None),
    ("ignore", PendingDeprecationWarning, None),
    ("ignore", ImportWarning, None),
    ("ignore", ResourceWarning, None),
]


def in_process(
    *args: str,
    extra_env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``loader ARGS`` as :func:`cli` runs it, but through ``loader.cli.main`` in this
    process: the same environment (:func:`env`), directory and standard input (a pipe's
    bytes: ``sys.stdin.buffer``), stdout and stderr taken as a pipe would take them and
    decoded as ``subprocess.run(text=True)`` decodes them, Python's default warning filters
    (a warning is printed on stderr). Every one of those is set back after; the process
    state the command must not change itself (signal handlers, the collector, logging,
    umask, Arrow's pool, ...: :func:`process_state`) is checked to be as it was."""
    from loader.cli import main

    before = process_state()
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO((input or "").encode(_ENCODING))), encoding=_ENCODING)
    out = io.TextIOWrapper(io.BytesIO(), encoding=_ENCODING, errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding=_ENCODING, errors="backslashreplace")
    with _environment(env(extra_env)), contextlib.chdir(cwd), _streams(stdin, out, err), _python_warnings(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # as the interpreter turns it into an exit status
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out.flush()
        err.flush()
    changed = state_changes(before, process_state())
    if changed:  # what only garbage holds is gone at the next collection (Dask's scheduler's log handler)
        gc.collect()
        changed = state_changes(before, process_state())
    assert not changed, f"loader {' '.join(args)} left the process changed (now, before): {changed}"
    return subprocess.CompletedProcess(["loader", *args], code, _decoded(out), _decoded(err))


_ENCODING = locale.getpreferredencoding(False)  # a pipe's, as subprocess.run(text=True) decodes it


def _decoded(stream: io.TextIOWrapper) -> str:
    """What ``subprocess.run(text=True)`` makes of the bytes a stream took: decoded, universal newlines."""
    data = stream.buffer.getvalue()  # type: ignore[attr-defined]  # a BytesIO
    return data.decode(_ENCODING).replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _streams(stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def _python_warnings(stderr: IO[str]) -> Iterator[None]:
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: Any) -> None:
        stderr.write(warnings.formatwarning(message, category, filename, lineno))

    with warnings.catch_warnings():  # sets back the filters and showwarning
        warnings.resetwarnings()
        for action, category, module in reversed(_PYTHON_WARNING_FILTERS):
            warnings.filterwarnings(action, category=category, module=module or "")  # type: ignore[arg-type]
        warnings.showwarning = show
        yield


def process_state() -> dict[str, Any]:
    """What of this process a command run in it must leave as it found it."""
    import pyarrow as pa

    umask = os.umask(0o022)
    os.umask(umask)
    return {
        "signals": {s: signal.getsignal(s) for s in signal.valid_signals() if s not in _UNREADABLE_SIGNALS},
        "gc": (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()),
        "logging": _logging_state(),
        "warnings": (list(warnings.filters), warnings.showwarning),
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "streams": (sys.stdin, sys.stdout, sys.stderr),
        "arrow": (pa.default_memory_pool().backend_name, pa.cpu_count(), pa.io_thread_count()),
        "threads": sorted(t.name for t in threading.enumerate() if not t.daemon),
        "interpreter": (sys.getswitchinterval(), sys.getrecursionlimit(), faulthandler.is_enabled()),
    }


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two :func:`process_state`s, as (after, before); loggers made
    meanwhile are not a change (a first import makes its own)."""
    after = {**after, "logging": {k: v for k, v in after["logging"].items() if k in before["logging"]}}
    return {k: (v, before[k]) for k, v in after.items() if v != before[k]}


_UNREADABLE_SIGNALS = {signal.SIGKILL, signal.SIGSTOP}


def _logging_state() -> dict[str, Any]:
    """Each logger's level, handlers, filters and propagation, of those that exist already
    (a library imported for the first time may make its own)."""
    loggers = [
        logging.getLogger(),
        *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    # Dask's own: a LocalCluster an earlier test of this process started adds and removes its
    # handlers as it closes in the background, whatever the command in between does
    return {
        x.name: (x.level, list(x.handlers), list(x.filters), x.propagate, x.disabled)
        for x in loggers
        if not x.name.startswith("distributed")
    }


def popen(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loader", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(extra_env),
    )


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)  # strings, numbers and lists are valid TOML as JSON


def write_job(path: Path, **sections: dict[str, Any] | list[dict[str, Any]]) -> Path:
    """A job file of ``sections``; a list (``transform=[{...}, ...]``) is an array of tables."""
    lines = []
    for name, tables in sections.items():
        for table in tables if isinstance(tables, list) else [tables]:
            lines.append(f"[[{name}]]" if isinstance(tables, list) else f"[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sqlite_table(db: Path, table: str = "t", order: str = "id") -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        exists = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        if not exists:
            return []
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
    finally:
        conn.close()


def sqlite_state(db: Path, job: str | None = None) -> dict[str, Any]:
    """The checkpoint entries of every job (or of ``job``) in a SQLite target, parsed."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        if not conn.execute("SELECT count(*) FROM sqlite_master WHERE name = '_loader_state'").fetchone()[0]:
            return {}
        where, params = ("WHERE job = ?", (job,)) if job is not None else ("", ())
        return {k: json.loads(v) for k, v in conn.execute(f"SELECT key, value FROM _loader_state {where}", params)}
    finally:
        conn.close()


def leveldb_items(path: Path) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """Data pairs (in key order) and parsed checkpoint entries of a LevelDB target."""
    # a kill inside LevelDB's own creation (directory made, CURRENT not yet written)
    # leaves a directory that holds no data
    if not (path / "CURRENT").exists():
        return [], {}
    db = plyvel.DB(str(path))
    try:
        data = list(db)
    finally:
        db.close()
    return data, {k: json.loads(v) for k, v in leveldb_state(path).items()}


def leveldb_state(path: Path) -> dict[str, str]:
    """The checkpoint entries a LevelDB target's log holds, as the loader reads it: whole
    lines only (a running load may be appending one)."""
    jobs, _ = read_state_log(str(path / STATE_FILE))
    return {k: v for entries in jobs.values() for k, v in entries.items()}


def file_totals(state: dict[str, Any]) -> dict[str, int]:
    """Row counts summed over the checkpoint's file entries."""
    out = {"rows_read": 0, "rows_written": 0, "rows_rejected": 0, "rows_filtered": 0}
    for key, entry in state.items():
        if key.startswith("file:"):
            for name in out:
                out[name] += entry[name]
    return out


def reject_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def rejects_of(target: Path | str, job: str = "table:t") -> Path:
    """The default reject file of ``job`` on ``target``."""
    return Path(default_rejects_path(str(target), job))


def process_alive(pid: int) -> bool:
    """Running, not a zombie left for a parent (or an init that may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system, all its threads) process ``pid`` has used so far; None
    once it is reaped. A load's progress in work done: on a busy machine its wall time
    stretches, its CPU time much less."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """The CPU time of this process's children reaped so far (a completed ``cli(process=True)``'s)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def times_open(pid: int, path: Path | str) -> int:
    """How many descriptors of process ``pid`` have ``path`` open."""
    want, count = os.path.realpath(path), 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/{pid}/fd/{fd}") == want
    return count


def holds_open(pid: int, path: Path | str) -> bool:
    """Whether process ``pid`` has ``path`` open (a run waiting on a lock file has it open)."""
    return times_open(pid, path) > 0


def wait_until(
    ready: Callable[[], bool], what: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 120
) -> None:
    """Poll ``ready`` until it holds, for what a test needs to have happened before it acts
    (a sleep guesses how long that takes, and a busy machine makes it longer). Fails naming
    ``what`` if ``proc`` ended first or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:g} s")
        time.sleep(0.005)


def lock_held_by(pid: int, target: Path | str) -> bool:
    """Whether process ``pid`` holds loader's lock on ``target`` (it writes its pid there once
    it has the lock, just before it opens the target)."""
    try:
        return Path(lock_path(str(target))).read_text() == f"{pid}\n"
    except OSError:
        return False
