"""The reject file: one JSON object per line, for every row that did not load.

Each line names the job and its target, the source file, the row (1-based,
header excluded), the line where known, the stage and column, the reason, and
the raw text or values. Lines are flushed and fsynced before the batch they
belong to commits, and the checkpoint records how many of the job's lines
are committed. A run starts by dropping its own job's uncommitted lines and
a torn last line, never another job's or target's lines, so a file shared by
several jobs stays whole: no reject is written twice and none goes missing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .chunk import BASE64, NOT_UTF8, Reject
from .errors import RESUME_HINT, ConfigError, LoaderError, SinkError, TargetLockedError
from .files import NAME_MAX, fsync_path, make_parent, replace_file, write_durably
from .lock import acquire


def _write_error(path: str, exc: OSError) -> LoaderError:
    if exc.errno == errno.ENAMETOOLONG:  # no rerun writes it: the name must change first
        return ConfigError(
            f"cannot write the reject file: {exc.strerror or exc}",
            file=path,
            hint=f"a file name holds at most {NAME_MAX} bytes: name a shorter reject file with --rejects PATH "
            "(run.rejects), or, for a replay, replay a reject file of a shorter name",
        )
    return SinkError(
        f"cannot write the reject file: {exc.strerror or exc}",
        file=path,
        hint=RESUME_HINT,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_line(text: str) -> bytes:
    """A line of JSON written with ``ensure_ascii=False`` as UTF-8. A file name that is not
    UTF-8 holds its bytes as surrogates (``os.fsdecode``), which UTF-8 cannot encode: each is
    written as its JSON escape (``\\udce9``), as ``ensure_ascii`` writes it, and reads back as the
    same name. A surrogate is only ever inside one of the line's strings, where an escape is valid."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return escaped(text).encode("utf-8")


def escaped(text: str) -> str:
    """``text`` with each surrogate (a byte of a name that is not UTF-8, ``os.fsdecode``)
    spelled as its JSON escape, ``\\udce9``: text UTF-8 can encode."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def versioned(rejects: Iterable[Reject], version: int) -> None:
    """The rejects of a file's ``version`` (past its first) say so, unless they say already
    (a replay's rows keep their own)."""
    for r in rejects:
        if r.version is None:
            r.version = version


# A default reject file's name leaves room within ``NAME_MAX`` for what is derived from it: a
# replay's ``.replay`` and a rewrite's temporary name (``replace_file``: a dot, a dot and 8
# characters, ``.tmp``).
_REJECTS_SUFFIX = ".rejects.jsonl"
DEFAULT_NAME_MAX = NAME_MAX - len(".replay") - len("..12345678.tmp")
_HASH = 12  # hex digits of the SHA-256 of the name a shortened name stands for


def default_rejects_path(target: str, job: str) -> str:
    """``<target>.<job>.rejects.jsonl``: one file per target and job (``table:t`` -> ``table-t``),
    beside the file a symlinked target points to, so every name of a target shares it. A name
    past ``DEFAULT_NAME_MAX`` bytes (a long table or file name) keeps its readable start and
    ends in a hash of the whole name (``fitted``): a name the loader makes always fits."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", job).strip("-.") or "job"
    base = target.rstrip("/\\") or target
    if os.path.islink(base):
        base = os.path.realpath(base)
    parent, stem = os.path.split(base)
    return os.path.join(parent, fitted(f"{stem}.{name}", DEFAULT_NAME_MAX - len(_REJECTS_SUFFIX)) + _REJECTS_SUFFIX)


def fitted(name: str, limit: int) -> str:
    """``name`` if it fits in ``limit`` bytes (as the file system stores it, ``os.fsencode``);
    else as much of its start as fits beside ``-`` and a hash of the whole name: deterministic,
    so every run derives the same name, and two long names apart unless their hashes meet."""
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    import hashlib  # here: it maps libcrypto, which a plain load never needs (test_cli)

    digest = hashlib.sha256(raw).hexdigest()[:_HASH]
    room = limit - _HASH - 1
    keep = name[:room]  # a character is at least one byte
    while len(os.fsencode(keep)) > room:  # whole characters: no UTF-8 sequence cut in two
        keep = keep[:-1]
    return f"{keep}-{digest}"


def _row_of(line: bytes) -> tuple[Any, ...] | None:
    """The row a reject line is of (its file, row and file version), as a replay tells rows
    apart; None for a line of no row number, or not JSON."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("row"), int):
        return None
    return (obj.get("path") or obj.get("file"), obj["row"], obj.get("version") or 1)


def reject_target(path: str) -> str:
    """The target as its reject lines name it (``target``): its real path, so the lines of two
    targets that share a reject file and a job name (``table:events`` into day1.db and day2.db)
    stay apart, however a run spells the target."""
    return os.path.realpath(path)


@dataclass
class Committed:
    """The checkpoint's view of the reject file: its length and this job's line count at
    the last commit, and which file that was (a rewrite by another job makes a new one)."""

    size: int = 0
    lines: int | None = None  # None: a checkpoint from before lines were counted
    inode: int | None = None


# Bytes of rows rejected as not UTF-8 kept to tell their encoding by: as many as a CSV head's sniff reads
NOT_UTF8_SAMPLE = 64 << 10
_NOT_UTF8_LINE = b'"reason": "' + NOT_UTF8.encode()  # a reject line's, as ``Reject.to_json`` writes it


@dataclass
class NotUtf8:
    """The rows a run rejected at the read as invalid UTF-8, and the first of their bytes
    (``NOT_UTF8_SAMPLE``): in a file read as UTF-8, the file's own bytes, whose encoding
    ``stream.guess_encoding`` tells (a Latin-1 export is mostly ASCII: only its accented
    rows are rejected, and the run succeeds)."""

    rows: int = 0
    sample: bytearray = field(default_factory=bytearray)

    def add(self, r: Reject) -> None:
        self._add(r.stage, r.reason, [r.raw, *(r.values or {}).values()])

    def add_line(self, line: bytes) -> None:
        """A reject line written elsewhere (a part's): parsed only while the sample has room."""
        if _NOT_UTF8_LINE not in line:
            return
        if len(self.sample) >= NOT_UTF8_SAMPLE:
            self.rows += b'"stage": "read"' in line
            return
        entry = json.loads(line)
        values = [entry.get("raw"), *(entry.get("values") or {}).values()]
        self._add(str(entry.get("stage") or "read"), str(entry.get("reason")), [_base64(v) for v in values])

    def _add(self, stage: str, reason: str, values: list[Any]) -> None:
        if stage != "read" or not reason.startswith(NOT_UTF8):
            return
        self.rows += 1
        for value in values:
            if isinstance(value, bytes) and len(self.sample) < NOT_UTF8_SAMPLE:
                self.sample += value[: NOT_UTF8_SAMPLE - len(self.sample)] + b"\n"


def _base64(value: Any) -> bytes | None:
    """The bytes of a reject line's ``{"base64": ...}``, None for any other value."""
    if not (isinstance(value, dict) and list(value) == [BASE64]):
        return None
    try:
        return base64.b64decode(value[BASE64], validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None


class RejectFile:
    """Appends the job's rejects; opened lazily so a clean run leaves no empty file.

    The open file is ``flock``ed, so two runs that share a reject file (jobs of
    different targets) take turns rather than interleave.
    """

    def __init__(self, path: str, job: str = "", wait: float = 0.0, target: str = "") -> None:
        if os.path.isdir(path):
            raise ConfigError(f"run.rejects: {path} is a directory, expected a file path")
        self.path = path
        self.job = job
        self.wait = wait
        # each line starts with its job and target (``reject_target``), so a start-up scan tells
        # lines apart without parsing them: two targets of one job (day1.db and day2.db loading
        # table events) may share a reject file
        job_head = '{"job": ' + json.dumps(job, ensure_ascii=False) + ", "
        self._head = job_head + (f'"target": {json.dumps(target, ensure_ascii=False)}, ' if target else "")
        self._tag = utf8_line(self._head)
        # a line of the job without a target: an earlier loader's, taken as this target's
        self._legacy = utf8_line(job_head) if target else None
        self._fh: IO[bytes] | None = None
        self.count = 0
        self.size = 0
        self.lines = 0  # this job's lines in the file, committed or staged
        self.not_utf8 = NotUtf8()  # this run's rows rejected as invalid UTF-8, to tell their encoding by
        self._forget: int | None = None  # this job's first lines, which the next ``sync`` drops (``start_over``)
        self._side: str | None = None  # a restart's new file, waiting for its commit to be durable (``settle``)
        self._held: IO[bytes] | None = None  # the old file, locked, meanwhile

    def committed(self) -> Committed:
        inode = os.fstat(self._fh.fileno()).st_ino if self._fh is not None else None
        return Committed(self.size, self.lines, inode)

    def _open(self) -> IO[bytes]:
        """The file, opened for appending and locked (created on the first reject)."""
        while self._fh is None:
            try:
                make_parent(self.path)
                fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
                if not acquire(fh, self.wait):
                    fh.close()
                    raise TargetLockedError("another loader run is writing this reject file", file=self.path)
                if os.fstat(fh.fileno()).st_ino != os.stat(self.path).st_ino:
                    fh.close()  # replaced by a repair while this run waited: lock the new file
                    continue
            except OSError as exc:
                raise _write_error(self.path, exc) from None
            self._fh = fh
        return self._fh

    def start(self, keep: Committed) -> None:
        """Keep every committed line (this job's first ``keep.lines``, every other job's);
        drop this job's uncommitted lines and a torn last line."""
        self.size = self.lines = 0
        self._settle_left(keep)
        if not os.path.exists(self.path):
            return
        fh = self._open()
        st = os.fstat(fh.fileno())
        if keep.lines is None:  # an older checkpoint: the file is this job's alone
            self._truncate(min(st.st_size, keep.size))
            self._repair(None)
        elif st.st_size != keep.size or st.st_ino != keep.inode:
            grown = st.st_ino == keep.inode and st.st_size > keep.size
            if grown and self._tail_is_own(keep.size) and not self._fixes(offset=keep.size):
                self._truncate(keep.size)  # only this job wrote since its commit: the usual resume
                self.lines = keep.lines
            else:
                self._repair(keep.lines)
        else:
            self.lines = keep.lines
        self.size = os.fstat(self._open().fileno()).st_size

    def start_over(self, *, now: bool = False) -> None:
        """The run forgets the job's checkpoint (``--restart``): this job's committed lines
        (every line of it ``start`` kept) go with the run's first commit (``sync`` writes the
        file without them beside it, ``settle`` puts it in place once that commit is durable),
        or ``now``. A run refused or stopped before its first commit leaves them, as it leaves
        the checkpoint that counts them."""
        self._forget = self.lines
        if now:
            self._drop_forgotten()

    def _drop_forgotten(self) -> None:
        """The file rewritten without the job's lines ``start_over`` forgot (atomic); the job's
        lines written since stay."""
        forget, self._forget = self._forget, None
        if not forget:
            return
        try:
            replace_file(self.path, self._unforgotten(forget), durable=True)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        self.close()  # the lock was on the old file; take it on the new one
        self.lines -= forget
        self.size = os.fstat(self._open().fileno()).st_size

    def _stage_forgotten(self) -> None:
        """The restart's first commit: the file without the job's lines ``start_over`` forgot,
        written (durably) beside it (``_side_path``), where this run's lines go from here. The
        old file stays, locked, until ``settle``: a commit that fails or is killed leaves the
        lines its checkpoint counts, and the next ``start`` finds which of the two it holds."""
        forget, self._forget = self._forget, None
        if not forget:
            return
        side = self._side_path()
        try:
            # anew (a leftover of a run before is gone by ``start``), on disk before the commit naming it
            write_durably(side, self._unforgotten(forget), like=os.path.realpath(self.path))
            new = open(side, "ab")  # noqa: SIM115 - closed in settle() or close()
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        acquire(new, 0.0)  # a name no other run writes: the lock is only for those that find it in place
        self._held, self._fh, self._side = self._fh, new, side
        self.lines -= forget
        self.size = os.fstat(new.fileno()).st_size

    def settle(self) -> None:
        """The commit of the checkpoint the last ``sync`` returned is durable: a restart's new
        file (``_stage_forgotten``) takes the old one's place, and its lock."""
        side, self._side = self._side, None
        if side is None:
            return
        self._put_in_place(side)
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(OSError):
                held.close()

    def _settle_left(self, keep: Committed) -> None:
        """A restart's new file that a run stopped before ``settle`` left: in place if the
        checkpoint is of it (the commit was made), else removed (the old file is the one)."""
        side = self._side_path()
        try:
            inode = os.stat(side).st_ino
        except OSError:
            return
        if inode != keep.inode:
            with contextlib.suppress(OSError):
                os.unlink(side)
            return
        if os.path.exists(self.path):
            self._open()  # the old file's lock: a run waiting on it finds the new file (``_open``)
        self._put_in_place(side)
        self.close()

    def _put_in_place(self, side: str) -> None:
        try:
            os.replace(side, os.path.realpath(self.path))
            fsync_path(os.path.dirname(side))
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def _side_path(self) -> str:
        """Where a restart's new file waits (``_stage_forgotten``): a hidden name beside the
        file (the one a symlink reaches, as ``replace_file``), named after the job and target
        (a CRC of its lines' head) so jobs that share the file keep theirs apart."""
        parent, name = os.path.split(os.path.realpath(self.path))
        return os.path.join(parent, f".{name}.{binascii.crc32(self._tag):08x}.restart")

    def _unforgotten(self, forget: int) -> Iterator[bytes]:
        """The file's lines but the job's first ``forget``."""
        seen = 0
        with open(self.path, "rb") as src:
            for line in src:
                own = line.endswith(b"\n") and self._is_own(line)
                seen += own
                if not (own and seen <= forget):
                    yield line

    def _is_own(self, line: bytes) -> bool:
        """Whether ``line`` is this job's and target's (or an earlier loader's of the job)."""
        if line.startswith(self._tag):
            return True
        legacy = self._legacy
        return legacy is not None and line.startswith(legacy) and not line.startswith(b'"target": ', len(legacy))

    def _tail_is_own(self, offset: int) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            return all(self._is_own(line) or not line.endswith(b"\n") for line in fh)

    def _fixes(self, *, offset: int | None = None, lines: int = 0) -> set[tuple[Any, ...]]:
        """The rows (``_row_of``) that this job's lines past the committed ones (from byte
        ``offset``, else past its first ``lines``) share with a committed line of the job: fixed
        copies a user appended after the line each fixes (docs/reliability.md, "Replaying fixed
        rows"), to keep. A stopped run's uncommitted lines are of rows no committed line is of
        (a rerun reads only rows past the checkpoint). Read only when such lines are there."""
        tail: set[tuple[Any, ...]] = set()
        for past, line in self._own_lines(offset, lines):
            row = _row_of(line) if past else None
            if row is not None:
                tail.add(row)
        if not tail:
            return tail
        return {row for past, line in self._own_lines(offset, lines) if not past and (row := _row_of(line)) in tail}

    def _own_lines(self, offset: int | None, lines: int) -> Iterator[tuple[bool, bytes]]:
        """This job's whole lines, each with whether it is past the committed ones."""
        seen = position = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                start, position = position, position + len(line)
                if line.endswith(b"\n") and self._is_own(line):
                    yield (start >= offset if offset is not None else seen >= lines), line
                    seen += 1

    def _truncate(self, size: int) -> None:
        try:
            self._open().truncate(size)
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def _repair(self, keep_lines: int | None) -> None:
        """Rewrite the file without this job's lines past ``keep_lines`` (None: keep all)
        and without a torn last line; atomic, and only when something must go."""
        fixes = self._fixes(lines=keep_lines) if keep_lines is not None else set()
        counts = [0, 0]
        for _ in self._keep(keep_lines, fixes, counts):
            pass  # a first pass only counts: most files need no rewrite
        own, dropped = counts
        self.lines = own
        if not dropped:
            return
        try:
            replace_file(self.path, self._keep(keep_lines, fixes, [0, 0]), durable=True)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        self.close()  # the lock was on the old file; take it on the new one
        self._open()

    def _keep(self, keep_lines: int | None, fixes: set[tuple[Any, ...]], counts: list[int]) -> Iterator[bytes]:
        """The lines to keep, streamed; ``counts`` gets [this job's kept, dropped]. This job's
        lines past ``keep_lines`` go, but for fixed copies of committed ones (``fixes``)."""
        with open(self.path, "rb") as src:
            for line in src:
                if not line.endswith(b"\n"):
                    counts[1] += 1  # torn by a kill mid-write: never part of a commit
                elif (
                    self._is_own(line)
                    and keep_lines is not None
                    and counts[0] >= keep_lines
                    and not (fixes and _row_of(line) in fixes)
                ):
                    counts[1] += 1
                else:
                    counts[0] += self._is_own(line)
                    yield line

    def write(self, rejects: Iterable[Reject]) -> None:
        try:
            for r in rejects:
                self.not_utf8.add(r)
                self._append(utf8_line(self._head + r.to_json()[1:] + "\n"))
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def append_from(self, path: str, row_offset: int = 0, version: int = 1) -> None:
        """Append this job's lines written elsewhere (a part's rejects); ``row_offset``:
        the file's rows before the part, which the part's row numbers start after;
        ``version``: the file's (``Reject.version``)."""
        try:
            with open(path, "rb") as src:
                for line in src:
                    if row_offset or version > 1:
                        entry = json.loads(line)
                        if isinstance(entry.get("row"), int):
                            entry["row"] += row_offset
                        if version > 1:
                            entry["version"] = version
                        line = utf8_line(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                    self.not_utf8.add_line(line)
                    self._append(line)
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def _append(self, line: bytes) -> None:
        """One reject line written (the file opened at the first)."""
        fh = self._fh or self._open()
        fh.write(line)
        self.size += len(line)
        self.count += 1
        self.lines += 1

    def sync(self) -> Committed:
        """Make written rejects durable; returns what is committed with the batch. The first
        commit of a run that starts over is of a file without the lines of the checkpoint it
        forgets (``start_over``), in place once that commit is durable (``settle``)."""
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise _write_error(self.path, exc) from None
        if self._forget is not None:
            self._stage_forgotten()
        return self.committed()

    def close(self) -> None:
        self._side = None  # a restart's new file never put in place: the next ``start`` settles it
        if self._held is not None:
            held, self._held = self._held, None
            with contextlib.suppress(OSError):
                held.close()
        if self._fh is not None:
            fh, self._fh = self._fh, None
            with contextlib.suppress(OSError):
                fh.close()  # unsynced lines belong to an uncommitted batch; the next run drops them

    def __enter__(self) -> RejectFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
