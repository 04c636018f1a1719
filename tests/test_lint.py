"""The code stays clean: ruff format, ruff check (with the complexity rules) and mypy --strict,
as configured in pyproject.toml, with no file exempt."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
COMPLEXITY = ("C901", "PLR0912", "PLR0915")


def _exe(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: install the test extra (pip install '.[test]')")
    return name


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_exe(argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _ruff_config() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        ruff: dict[str, Any] = tomllib.load(fh)["tool"]["ruff"]
    return ruff


def _flagged(output: str) -> set[tuple[str, str]]:
    """(path, rule) from ruff's concise output: ``path:line:col: RULE message``."""
    found = set()
    for line in output.splitlines():
        head, sep, rest = line.partition(": ")
        if sep and head.count(":") >= 2 and rest:
            found.add((head.split(":")[0], rest.split()[0]))
    return found


@pytest.mark.parametrize(
    "tool", [["ruff", "format", "--check", "."], ["ruff", "check", "."], pytest.param(["mypy"], marks=pytest.mark.slow)]
)
def test_tool_is_clean(tool: list[str]) -> None:
    p = _run(*tool)
    assert p.returncode == 0, p.stdout + p.stderr


def test_complexity_rules_are_on() -> None:
    assert set(COMPLEXITY) <= set(_ruff_config()["lint"]["select"])


def test_nothing_is_exempt() -> None:
    """Every file is formatted and held to the same rules: no exclusions, no per-file
    ignores, no relaxed mypy modules."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        tool: dict[str, Any] = tomllib.load(fh)["tool"]
    assert "exclude" not in tool["ruff"].get("format", {})
    assert "per-file-ignores" not in tool["ruff"]["lint"]
    assert tool["mypy"]["strict"] is True and "overrides" not in tool["mypy"]
