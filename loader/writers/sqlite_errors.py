"""SQLite's failures in the user's words: a lock (exit 75), a full disk, a read-only target,
a file that is no database, a refused row. ADBC's wording around SQLite's own is dropped."""

from __future__ import annotations

import re

from ..errors import (
    RESUME_HINT,
    ConfigError,
    ConstraintError,
    LoaderError,
    SchemaMismatchError,
    SinkError,
    TargetLockedError,
)

# ADBC wraps SQLite's message in its own words ("IO: Failed to step query: ...",
# "\nquery was: ..."); the user needs SQLite's part only.
_ADBC_PREFIX = re.compile(
    r"^(?:[A-Z_]+: )?(?:\[SQLite\] )?(?:[Ff]ailed to (?:step query|execute|prepare(?: query)?)(?: \([^)]*\))?: )?"
)
# SQLite refusing a table or column as the target's schema stands: a rerun meets it again
_SCHEMA = re.compile(
    r"may not be altered|there is already an? \w+ named|reserved for internal use|missing datatype|"
    r"^no such function: |^unknown function: |^foreign key mismatch",
    re.IGNORECASE,
)


def sqlite_message(exc: BaseException) -> str:
    """SQLite's own words from a driver error, on one line."""
    text = str(exc).split("\n", 1)[0]
    return _ADBC_PREFIX.sub("", text, count=1).strip() or type(exc).__name__


# SQLite's SQLITE_FULL in the user's words (a target's, a dedupe key store's)
DISK_FULL = "no space left on the device (SQLite: database or disk is full)"


def is_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL: the disk (or the database's page limit) is full."""
    return "database or disk is full" in sqlite_message(exc).lower()


def is_locked(exc: BaseException) -> bool:
    """SQLite's busy answer: another connection holds the lock the statement needs."""
    return "database is locked" in sqlite_message(exc).lower()


def db_error(exc: BaseException, path: str, busy_timeout: float, doing: str = "") -> LoaderError:
    """A SQLite error as one the user can act on: locked (exit 75), disk full, read-only."""
    msg = sqlite_message(exc)
    low = msg.lower()
    if is_locked(exc) or "database table is locked" in low:
        return TargetLockedError(
            f"the database is locked by another program (still locked after sink.busy_timeout = {busy_timeout:g}s)",
            file=path,
            hint="another connection holds a transaction on the target (a write, or in a rollback-journal "
            "database a read too); retry when it ends, or raise sink.busy_timeout",
            names=("sink.busy_timeout",),
        )
    if is_full(exc):
        return SinkError(DISK_FULL, file=path, hint=RESUME_HINT)
    if "readonly database" in low:
        return SinkError(f"the target is read-only (SQLite: {msg})", file=path, hint=RESUME_HINT)
    if "disk i/o error" in low:
        return SinkError(f"the OS refused a read or write (SQLite: {msg})", file=path, hint=RESUME_HINT)
    if "constraint failed" in low:
        keys = "unique constraint" in low or "primary key" in low
        return ConstraintError(
            msg,
            file=path,
            hint='the input repeats a key, or holds one the table has: use mode = "upsert" (the last row wins) or '
            '"ignore" (the first wins); committed work is kept'
            if keys
            else "fix the rows the table's constraint refuses, then rerun: committed work is kept",
        )
    if _SCHEMA.search(msg):
        return SchemaMismatchError(
            f"the target's schema refuses the load (SQLite: {msg}){doing}",
            file=path,
            hint="change the table or the job (--table, --alter), then rerun: committed work is kept",
        )
    if "file is not a database" in low:  # a rerun fails the same way: the user's to fix
        return ConfigError(
            f"sink.path: {path} is not a SQLite database (SQLite: {msg})",
            hint="name a new file or an existing SQLite database",
        )
    return SinkError(f"{msg}{doing}", file=path)
