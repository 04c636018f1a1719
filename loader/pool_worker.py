"""The first thing a process of ``run.engine = "processes"`` runs (the pool's initializer).

A module of its own, importing nothing heavy: it must run before the worker imports
loader's modules, whose first Arrow conversion would import pandas (``loader.compat``).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import signal
import sys

from .compat import spare_pandas_import

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def setup(coordinator: int) -> None:
    """A pool's worker leaves signals to the coordinator (``leave_signals``) and dies with
    it (``coordinator``, its pid), however that dies. What it starts with is frozen: a
    forked worker's copy of the coordinator's objects is never walked by the collections
    after its parts (``work.collect_garbage``), nor copied page by page as they would be."""
    leave_signals()
    die_with(coordinator)
    spare_pandas_import()
    gc.freeze()


def leave_signals() -> None:
    """Ctrl-C reaches the terminal's whole process group: the coordinator stops at a part's
    commit (exit 130), and a local worker (a pool's, or a local Dask cluster's) leaves the
    signal to it. SIGTERM ends the worker (a forked one would otherwise run the
    coordinator's handler)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def die_with(parent: int) -> None:
    """On Linux the kernel kills this process when ``parent`` dies, SIGKILL included: a
    pool's worker would otherwise wait on its task queue for ever, an orphan, and a forked
    Dask worker retry its dead scheduler. (When the thread that forked it ends, in fact: the
    workers are forked on the main thread, which ends with the process.)"""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the kernel was asked
        os._exit(1)


def warm() -> str:
    """Import what a part needs, while the coordinator plans the load; the loader this
    process runs (``code_version``), for the coordinator to compare with its own."""
    from .engines import work  # noqa: F401
    from .readers import csv, parquet  # noqa: F401

    return code_version()


@functools.cache
def code_version() -> str:
    """This process's loader: its version and a digest of its modules' source, the same in
    two processes only if they run the same code (a worker with another checkout on its
    PYTHONPATH skips the checks added since, silently)."""
    from . import __version__

    root = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return f"{__version__} (code {digest.hexdigest()[:12]})"
