"""The first thing a process of ``run.engine = "processes"`` runs (the pool's initializer).

A module of its own, importing nothing heavy: it must run before the worker imports
loader's modules, whose first Arrow conversion would import pandas (``loader.compat``).
"""

from __future__ import annotations

import signal

from .compat import spare_pandas_import


def setup() -> None:
    """Ctrl-C reaches the terminal's whole process group: the coordinator stops at a part's
    commit (exit 130), and the pool's workers leave the signal to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spare_pandas_import()


def warm() -> None:
    """Import what a part needs, while the coordinator plans the load."""
    from .engines import work  # noqa: F401
    from .readers import csv, parquet  # noqa: F401
