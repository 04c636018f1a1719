"""What a run reads and writes, and the one check that no write can destroy data.

Every path is compared resolved (``os.path.realpath``: symlinks, ``..``), so
two names for one file are one file. A path loader writes (report, rejects,
metrics, lock, a stage's key store) must not be, or lie inside, the target
(a SQLite file with its journal files, or a LevelDB directory), an input, or
another output; an input must not be the target or inside it; and nothing
written may match an input glob, or the next run would read it back.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
from collections.abc import Iterable, Sequence

from . import sinks
from .config import is_glob
from .errors import ConfigError
from .files import NAME_MAX

GLOB_CHARS = "*?["

HINT = "write it outside the target and the inputs; nothing was written"


# Names a glob's ``*``, ``?``, ``[...]`` and ``**`` pass over: hidden ones (``.git/``, a macOS
# ``._a.csv``, an object key's ``.`` and ``..`` segments), as Python's glob does, and the
# folders and markers Spark, Hadoop and Delta write beside a job's output (its ``_temporary/``
# attempt folders, whose files move into place when it commits), which are not, or not yet, the
# data. Other names that start with ``_`` (a user's ``_2024/``, ``_b.csv``) are matched as ever.
# And a volume's own folders (``VOLUME_FOLDERS``).
JOB_MARKERS = frozenset({"_temporary", "_SUCCESS", "_delta_log", "_spark_metadata", "_metadata", "_common_metadata"})
JOB_MARKER_PREFIXES = ("_committed_", "_started_")
# Folders a file system keeps at a volume's root, never inputs, and often closed to the run's
# user: ext4's ``lost+found`` (root's, 0700) at the root of every Kubernetes volume, and those
# Windows writes on an SMB share.
VOLUME_FOLDERS = frozenset({"lost+found", "System Volume Information", "$RECYCLE.BIN"})


def skipped(name: str) -> bool:
    """Whether a glob matches ``name`` only by a pattern segment that starts as it does."""
    return name.startswith(".") or name in JOB_MARKERS or name.startswith(JOB_MARKER_PREFIXES) or name in VOLUME_FOLDERS


def name_matches(name: str, part: str) -> bool:
    """One path segment against one pattern segment: a ``skipped`` name only by a segment
    that starts with the same character (``.*.csv``, ``_temporary``)."""
    if skipped(name) and not part.startswith(name[0]):
        return False
    return fnmatch.fnmatchcase(name, part)


def _segments_match(pp: list[str], tp: list[str]) -> bool:
    if not tp:
        return not pp or pp == ["**"]
    if not pp:
        return False
    if pp[0] == "**":  # any number of segments, none of them skipped
        spans = itertools.takewhile(lambda i: i == 0 or not skipped(tp[i - 1]), range(len(tp) + 1))
        return any(_segments_match(pp[1:], tp[i:]) for i in spans)
    return name_matches(tp[0], pp[0]) and _segments_match(pp[1:], tp[1:])


def glob_matches(pattern: str, path: str, sep: str = "/") -> bool:
    """Whether ``path`` matches ``pattern`` segment by segment, both taken as spelled: never
    normalized, which would read an object key's ``.`` and ``..`` segments away and match
    ``in/./y.csv`` as ``in/y.csv``. Empty segments are left out, so a ``//`` key is listed
    (and refused by name, ``storage.unaddressable``) as the glob of its one-slash spelling."""
    return _segments_match([s for s in pattern.split(sep) if s], [s for s in path.split(sep) if s])


def glob_could_match(pattern: str, path: str) -> bool:
    """Whether ``storage.glob(pattern)`` would list the local ``path`` once it exists (both
    made absolute, so a relative pattern and an absolute path compare)."""
    return glob_matches(os.path.abspath(pattern), os.path.abspath(path), os.sep)


def resolved_pattern(pattern: str) -> str:
    """The glob with its literal leading directories resolved (a symlinked input directory)."""
    parts = os.path.abspath(pattern).split(os.sep)
    literal = next((i for i, p in enumerate(parts) if any(c in p for c in GLOB_CHARS)), len(parts))
    head = os.path.realpath(os.sep.join(parts[:literal]) or os.sep)
    return os.path.join(head, *parts[literal:])


def lock_path(target: str) -> str:
    """The lock beside the resolved target: ``t.db`` and a symlink to it share one lock."""
    return os.path.realpath(target.rstrip("/\\") or target) + ".lock"


def within(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies inside it (both resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def target_paths(target: str, sink_type: str) -> list[str]:
    """The target and what its database writes beside it, as typed and resolved."""
    base = target.rstrip("/\\") or target
    out = [base, os.path.realpath(base)]
    out += [p + suffix for p in out[:2] for suffix in sinks.get(sink_type).side_files]
    return out


def check_directory(key: str, path: str | None) -> None:
    """Refuse (exit 2) a directory setting with a file where the directory, or one it would
    be made in, has to be: the run would otherwise fail at its first spill."""
    if not path:
        return
    here = os.path.abspath(path)
    while not os.path.exists(here) and os.path.dirname(here) != here:
        here = os.path.dirname(here)
    if not os.path.isdir(here):
        raise ConfigError(f"{key}: {path} cannot be a directory: {here} is a file")
    _check_name_lengths(key, path, here)


def _check_name_lengths(key: str, path: str, existing: str) -> None:
    """Refuse (exit 2) a directory to be made whose name is longer than the file system takes:
    ``os.path.exists`` says False of it, and the first spill failed with an internal OSError."""
    try:
        most = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):  # no such query on this platform: every common file system's
        most = NAME_MAX
    to_make = os.path.relpath(os.path.abspath(path), existing).split(os.sep)
    for name in to_make:
        size = len(os.fsencode(name))
        if size > most:
            raise ConfigError(
                f"{key}: {path} cannot be a directory: its folder name {name[:20]}... is {size} bytes, "
                f"longer than the {most} a name holds on {existing}",
                hint=f"set {key} to a path of shorter folder names",
            )


def check_paths(
    target: str,
    sink_type: str,
    inputs: Sequence[str],
    patterns: Sequence[str],
    outputs: Iterable[tuple[str, str | None]],
) -> None:
    """Refuse (exit 2, before anything is written) a run whose writes could destroy data.

    ``outputs`` are (config key, path) pairs of everything the run may write
    besides the target itself; ``inputs`` the expanded input files.
    """
    written = [(k, p) for k, p in outputs if p]
    for key, path in written:
        if os.path.isdir(path):
            raise ConfigError(f"{key}: {path} is a directory, expected a file path")
    owned = {os.path.realpath(p) for p in target_paths(target, sink_type)}
    real_target = os.path.realpath(target)
    files = {os.path.realpath(f): f for f in inputs if f != "-"}
    for real, shown in files.items():
        if real == real_target:
            raise ConfigError(f"sink.path: the target {target} is also an input file")
        if real in owned or within(real, real_target):
            raise ConfigError(f"sink.path: the input {shown} belongs to the target {target}", hint=HINT)
    seen: dict[str, tuple[str, str]] = {}
    for key, path in written:
        real = os.path.realpath(path)
        if real in owned or within(real, real_target):
            raise ConfigError(f"{key}: writing {path} would overwrite the target {target}", hint=HINT)
        if real in files:
            raise ConfigError(f"{key}: writing {path} would overwrite the input {files[real]}", hint=HINT)
        if real in seen:
            other_key, other = seen[real]
            raise ConfigError(
                f"{key}: {path} is also {other_key} ({other}); each output needs a file of its own", hint=HINT
            )
        seen[real] = (key, path)
        _check_not_foreign(key, path)
    _check_globs(target, sink_type, patterns, written)


# How the files loader writes begin: an existing file that begins otherwise is someone's data.
_OWN_START = {"run.report": b"{", "run.rejects": b"{", "run.metrics_file": b"#"}


def _check_not_foreign(key: str, path: str) -> None:
    """A report, reject or metrics path that holds another kind of file (a database, a
    CSV) is refused: the run would replace or cut it."""
    start = _OWN_START.get(key)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return  # not there yet (or unreadable: the write will say so)
    if start is None or not head or head.lstrip()[:1] == start:
        return
    what = "a SQLite database" if head.startswith(b"SQLite format 3\x00") else "not a file loader wrote"
    raise ConfigError(
        f"{key}: {path} exists and is {what}; the run would overwrite it",
        hint="name a new file (or remove this one if it is loader's own); nothing was written",
    )


def _check_globs(target: str, sink_type: str, patterns: Sequence[str], written: list[tuple[str, str]]) -> None:
    """What a run writes must never match an input glob, or the next run would read it back."""
    sink = target.rstrip("/\\") or target
    checks = [("sink.path", sink, p) for p in target_paths(target, sink_type)]
    inner = sinks.get(sink_type).inner_files
    checks += [("sink.path", sink, os.path.join(os.path.realpath(sink), name)) for name in inner]
    for key, path in written:
        checks += [(key, path, path), (key, path, os.path.realpath(path))]
    for pattern in patterns:
        if pattern == "-" or not is_glob(pattern):
            continue
        forms = {pattern, resolved_pattern(pattern)}
        for key, shown, path in checks:
            if any(glob_could_match(form, path) for form in forms):
                what = "the target" if key == "sink.path" else "the file"
                raise ConfigError(
                    f"{key}: {what} {shown} matches the input pattern {pattern!r}",
                    hint="a later run would read it as input; write it outside the input directory or narrow the pattern",
                )
