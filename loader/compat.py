"""Work-arounds that lean on a library's internals, each checked by tests/test_compat.py.

Checked with pyarrow 16-26 (``CHECKED_PYARROW``); the test fails on another
major version until it is checked again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

CHECKED_PYARROW = range(16, 27)

_OWN_PACKAGES = ("loader",)


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
    imported), and importing pandas adds ~55 MB to the peak RSS of a run that never
    uses it. User code (a ``python`` stage, ``Table.to_pandas``) imports it as usual.
    """

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "pandas" and _importer_is_own(sys._getframe(1)):
            raise ImportError("loader keeps pyarrow from importing pandas for its own conversions")
        return None


_FINDER = _PandasProbeFinder()


def spare_pandas_import() -> None:
    """For a process that loader owns (the command): keep pyarrow's pandas probe from
    importing pandas. Does nothing when pandas is already imported."""
    if "pandas" in sys.modules or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)
