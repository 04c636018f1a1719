"""loader.paths: which paths an input glob matches, as Python's glob lists them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from loader.paths import glob_could_match

TREE = [
    "a.csv",
    "._a.csv",
    ".hidden.csv",
    "sub/b.csv",
    "sub/._b.csv",
    "sub/deep/c.csv",
    ".git/d.csv",
    "sub/.cache/e.csv",
    ".cache/deep/f.csv",
]
PATTERNS = [
    "*.csv",
    ".*.csv",
    "?a.csv",
    "[._]*.csv",
    "**/*.csv",
    "**",
    "**/.*.csv",
    "*/*.csv",
    ".git/*.csv",
    ".*/*.csv",
    "sub/**/*.csv",
    "sub/.cache/*.csv",
    ".cache/**/*.csv",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_glob_matches_the_files_glob_lists_hidden_names_only_by_a_dotted_segment(
    tmp_path: Path, pattern: str
) -> None:
    """Object storage lists keys and matches them with glob_could_match: the same files as
    a local glob, so ``*`` and ``**`` skip a name that starts with a dot (a macOS ``._a.csv``)."""
    for name in TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("id\n1\n")
    full = os.path.join(str(tmp_path), pattern)
    listed = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    matched = sorted(str(tmp_path / name) for name in TREE if glob_could_match(full, str(tmp_path / name)))
    assert matched == listed


def test_hidden_names_match_only_a_pattern_segment_that_starts_with_a_dot() -> None:
    assert not glob_could_match("/in/*.csv", "/in/._a.csv")
    assert glob_could_match("/in/.*.csv", "/in/._a.csv")
    assert not glob_could_match("/in/**/*.csv", "/in/.git/a.csv")
    assert glob_could_match("/in/**/*.csv", "/in/x/y/a.csv")
    assert glob_could_match("/in/.git/*.csv", "/in/.git/a.csv")
