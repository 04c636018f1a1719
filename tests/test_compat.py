"""loader.compat: each work-around still works on the library versions installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from loader.compat import CHECKED_PYARROW

ROOT = Path(__file__).parents[1]


def test_pyarrow_version_was_checked() -> None:
    major = int(pa.__version__.split(".")[0])
    assert major in CHECKED_PYARROW, (
        f"pyarrow {pa.__version__}: check loader/compat.py again, then widen CHECKED_PYARROW"
    )


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_keeps_pyarrow_from_importing_pandas_and_user_code_still_gets_it(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    (tmp_path / "in.csv").write_text("id,v\n1,2.5\n2,x\n")
    code = (
        "import sys, pyarrow as pa\n"
        "from loader import __main__ as command\n"
        f"sys.argv = ['loader', 'load', {str(tmp_path / 'in.csv')!r}, {str(tmp_path / 'o.db')!r}, '--quiet']\n"
        "code = command.main()\n"
        "print(code, 'pandas' in sys.modules)\n"
        # code that is not loader's (a python stage, the caller) still imports pandas through pyarrow
        "df = pa.table({'a': [1, 2]}).to_pandas()\n"
        "print(type(df).__name__, pa.Table.from_pandas(df).num_rows)\n"
    )
    assert _run(code) == ["0", "False", "DataFrame", "2"]


def test_without_the_command_pyarrow_imports_pandas_as_before() -> None:
    """The probe is real: without spare_pandas_import, one Arrow conversion imports pandas
    (if this starts failing, pyarrow stopped probing and loader.compat can go)."""
    pytest.importorskip("pandas")
    assert _run("import sys, pyarrow as pa; pa.array([1]); print('pandas' in sys.modules)") == ["True"]
