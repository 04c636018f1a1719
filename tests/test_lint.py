"""The code stays clean: ruff format, ruff check and mypy --strict, as configured in pyproject.toml.

Files still exempt (``[tool.ruff.format] exclude``, ``[tool.ruff.lint.per-file-ignores]``) must
still need their exemption: once a file is clean, its line comes off the list.
"""

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


@pytest.mark.parametrize("tool", [["ruff", "format", "--check", "."], ["ruff", "check", "."], ["mypy"]])
def test_tool_is_clean(tool: list[str]) -> None:
    p = _run(*tool)
    assert p.returncode == 0, p.stdout + p.stderr


def test_complexity_rules_are_on() -> None:
    assert set(COMPLEXITY) <= set(_ruff_config()["lint"]["select"])


def test_format_exclusions_are_still_needed() -> None:
    excluded = _ruff_config()["format"]["exclude"]
    p = _run("ruff", "format", "--check", "--output-format", "concise", *excluded)
    unformatted = {path for path, _ in _flagged(p.stdout)}
    clean = [f for f in excluded if f not in unformatted]
    assert clean == [], f"formatted now (or gone): remove from [tool.ruff.format] exclude: {clean}\n{p.stderr}"


def test_complexity_exemptions_are_still_needed() -> None:
    ignores: dict[str, list[str]] = _ruff_config()["lint"].get("per-file-ignores", {})
    exempt = {(path, rule) for path, rules in ignores.items() for rule in rules if rule in COMPLEXITY}
    if not exempt:
        return
    # --isolated: the rules with their default limits, without the exemptions under test.
    files = sorted({path for path, _ in exempt})
    p = _run("ruff", "check", "--isolated", "--select", ",".join(COMPLEXITY), "--output-format", "concise", *files)
    unused = sorted(exempt - _flagged(p.stdout))
    assert unused == [], f"no longer needed: remove from [tool.ruff.lint.per-file-ignores]: {unused}\n{p.stderr}"
