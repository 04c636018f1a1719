"""loader.paths: which paths an input glob matches, as Python's glob lists them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from loader.paths import glob_could_match, glob_matches

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


def test_names_that_start_with_an_underscore_match_only_a_segment_that_starts_with_one() -> None:
    """Spark's ``_temporary/`` attempt folders and ``_SUCCESS`` marker, skipped as Spark, Hive
    and pyarrow skip them; named on purpose, they match."""
    attempt = "/out/_temporary/0/_temporary/attempt_1/country=FR/part-1.parquet"
    assert not glob_could_match("/out/**/*.parquet", attempt)
    assert not glob_could_match("/out/*/*/*/*/*/*.parquet", attempt)
    assert not glob_could_match("/out/**", "/out/_SUCCESS")
    assert not glob_could_match("/out/*", "/out/_committed_123")
    assert glob_could_match("/out/**/*.parquet", "/out/country=DE/part-0.parquet")
    assert glob_could_match("/out/_temporary/**/*.parquet", "/out/_temporary/0/x/part-1.parquet")
    assert glob_could_match("/out/_*", "/out/_SUCCESS")
    assert glob_could_match("/out/a_b/*.csv", "/out/a_b/c_d.csv")  # an underscore inside a name is no matter


def test_a_volumes_own_folders_match_only_when_named() -> None:
    """``lost+found`` and an SMB share's ``System Volume Information`` never hold inputs:
    ``*`` and ``**`` pass over them (a glob over a volume's root need not list them)."""
    assert not glob_could_match("/data/*/*.csv", "/data/lost+found/x.csv")
    assert not glob_could_match("/data/**/*.csv", "/data/System Volume Information/x.csv")
    assert not glob_could_match("/data/**/*.csv", "/data/$RECYCLE.BIN/a/x.csv")
    assert glob_could_match("/data/lost+found/*.csv", "/data/lost+found/x.csv")
    assert glob_could_match("/data/**/*.csv", "/data/lost+and+found/x.csv")


def test_an_object_keys_dot_segments_are_matched_as_spelled_never_normalized_away() -> None:
    """``in/./y.csv`` and ``in/sub/../x.csv`` are keys of their own in S3: ``*`` and ``**``
    skip their ``.`` and ``..`` segments as any hidden name, where normalizing the key
    first matched them as ``in/y.csv`` and ``in/x.csv``."""
    assert not glob_matches("b/in/**/*.csv", "b/in/./y.csv")
    assert not glob_matches("b/in/**", "b/in/sub/../x.csv")
    assert not glob_matches("b/in/*/*/*.csv", "b/in/sub/../x.csv")
    assert not glob_matches("b/in/*.csv", "b/in/./y.csv")
    assert glob_matches("b/in/.*/*.csv", "b/in/./y.csv")  # named by a dotted segment: listed, then refused
    assert glob_matches("b/in/*.csv", "b/in//y.csv")  # listed as its one-slash spelling, then refused
    assert glob_matches("b/in/**/*.csv", "b/in/x/y.csv")
