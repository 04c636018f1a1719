"""Where input files live: the one place that opens, sizes, lists and identifies them.

Readers, the planner and checkpoints go through these functions and never call ``open``
or ``os.stat`` on an input themselves. ``-`` is standard input everywhere.

An input may also be a URI in object storage, read through ``pyarrow.fs``:
``s3://bucket/key`` (and S3-compatible servers), ``gs://bucket/key`` and
``hdfs://host:port/path`` where pyarrow was built with them. S3 credentials come from
the environment as the AWS SDKs read them, or from the secrets mechanism
(``NAME_FILE``, ``/run/secrets/NAME``: see ``config.read_secret``), never from the job
file. Remote objects are read with ranged reads, never downloaded whole, and can seek
(resume by byte offset). A remote object's identity is its size, modification time and
ETag (where the store gives one), and its version id in a versioned bucket: a changed object
is noticed without reading it.
"""

from __future__ import annotations

import calendar
import errno
import functools
import glob as _glob
import itertools
import os
import re
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, NamedTuple

import pyarrow as pa

from .compat import sha256
from .config import read_secret
from .errors import (
    NO_SUCH_FILE,
    NO_SUCH_OBJECT,
    ConfigError,
    MissingInputError,
    SourceChangedError,
    SourceError,
    SourceReadError,
    one_line,
)
from .stopping import interruptible

STDIN = "-"
FINGERPRINT_BYTES = 64 << 10
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://([^/]*)(.*)$")
# Schemes pyarrow reads: each maps to the pyarrow.fs class it needs (absent in some builds).
SCHEMES = {"s3": "S3FileSystem", "gs": "GcsFileSystem", "gcs": "GcsFileSystem", "hdfs": "HadoopFileSystem"}
CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms, or /run/secrets), "
    "and AWS_ENDPOINT_URL for an S3-compatible server"
)
# AWS error codes (as pyarrow reports them) and what they mean to the user.
_AWS_ERRORS = {
    "NO_SUCH_BUCKET": ("no such bucket", "check the bucket name in the URI"),
    "RESOURCE_NOT_FOUND": (
        NO_SUCH_OBJECT,
        "check the URI; a glob such as s3://bucket/prefix/*.csv lists what exists",
    ),
    "NO_SUCH_KEY": (
        NO_SUCH_OBJECT,
        "check the URI; a glob such as s3://bucket/prefix/*.csv lists what exists",
    ),
    "ACCESS_DENIED": ("access denied", CREDENTIALS_HINT),
    "INVALID_ACCESS_KEY_ID": ("the access key is not valid", CREDENTIALS_HINT),
    "SIGNATURE_DOES_NOT_MATCH": ("the secret key does not match the access key", CREDENTIALS_HINT),
    "NETWORK_CONNECTION": (
        "cannot reach the storage service",
        "check AWS_ENDPOINT_URL (or AWS_REGION) and the network",
    ),
}
_AWS_CODE = re.compile(r"AWS Error (\w+)|HTTP status (\d+)")
_TIMED_OUT = re.compile(r"curlCode: 28\b|Timeout was reached")  # curl's CURLE_OPERATION_TIMEDOUT
TIMED_OUT_HINT = (
    "committed work is kept: rerun to resume; for a slow service, raise AWS_REQUEST_TIMEOUT "
    "(seconds without a byte; the AWS SDK's default is 3) or AWS_MAX_ATTEMPTS (3)"
)


class Remote(NamedTuple):
    """A URI as its filesystem names it: ``fs.open_input_file(path)``; ``uri(p)`` maps back."""

    fs: Any  # pyarrow.fs.FileSystem
    path: str
    prefix: str  # what goes before a filesystem path to make the URI

    def uri(self, path: str) -> str:
        return self.prefix + path


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI (``s3://...``) rather than a local path."""
    return _URI.match(path) is not None


def remote(uri: str) -> Remote | None:
    """The filesystem and path of a URI; None for a local path or standard input."""
    m = _URI.match(uri)
    if m is None:
        return None
    scheme, authority, rest = m.group(1).lower(), m.group(2), m.group(3)
    if ":" in authority.partition("@")[0] and "@" in authority:
        raise ConfigError(
            f"source.path: {scheme}://…@{authority.partition('@')[2]}{rest}: credentials are never read from a URI",
            hint=CREDENTIALS_HINT,
        )
    if scheme in ("s3", "gs", "gcs"):
        if not authority:
            raise ConfigError(
                f"source.path: {uri}: no bucket in the URI", hint=f"name the bucket: {scheme}://bucket/key"
            )
        return Remote(
            _filesystem(scheme, "", _s3_settings() if scheme == "s3" else ()), authority + rest, f"{scheme}://"
        )
    if scheme == "hdfs":
        return Remote(_filesystem(scheme, authority, ()), rest or "/", f"{scheme}://{authority}")
    raise ConfigError(
        f"source.path: {uri}: no filesystem for {scheme}://",
        hint="loader reads local paths, s3://, gs:// and hdfs:// (where pyarrow has them)",
    )


def normal(path: str) -> str:
    """One spelling of a URI for the file list, its de-duplication and checkpoint keys:
    its scheme in lower case (``S3://b/k`` is ``s3://b/k``); a local path as it is."""
    m = _URI.match(path)
    return m.group(1).lower() + path[len(m.group(1)) :] if m else path


def unaddressable(path: str) -> MissingInputError | None:
    """Why an object, listed by its store, cannot be read: an S3 or GCS key with an empty
    path segment (``in//b.csv``), which pyarrow refuses to name, or a ``.`` or ``..`` segment
    (``in/./y.csv``, ``in/sub/../x.csv``), which its client normalizes away and so reads
    another object (``in/y.csv``). None for any other path."""
    loc = remote(path) if path != STDIN else None
    if loc is None or loc.prefix.startswith("hdfs"):
        return None
    segments = loc.path.rstrip("/").split("/")
    if "" in segments[1:]:  # after the bucket
        what, fix = "an empty path segment ('//'), which pyarrow cannot open", "without '//'"
    elif dots := [s for s in segments[1:] if s in (".", "..")]:
        what = f"a {dots[0]!r} path segment, which pyarrow would read as another object's key"
        fix = "without '.' or '..' segments"
    else:
        return None
    return MissingInputError(
        f"cannot read: its key has {what}",
        file=path,
        hint=f"copy the object to a key {fix} (or leave it out of source.path), then rerun: the other files stay loaded",
    )


def _addressable(path: str) -> None:
    problem = unaddressable(path)
    if problem is not None:
        raise problem


def _s3_settings() -> tuple[tuple[str, str], ...]:
    """The S3 client's settings from the environment (and secrets), as the AWS SDKs name them."""
    env = os.environ
    key, secret = read_secret("AWS_ACCESS_KEY_ID", env), read_secret("AWS_SECRET_ACCESS_KEY", env)
    if (key is None) != (secret is None):
        missing = "AWS_SECRET_ACCESS_KEY" if secret is None else "AWS_ACCESS_KEY_ID"
        raise ConfigError(f"{missing} is not set, but its pair is", hint=CREDENTIALS_HINT)
    settings: dict[str, str | None] = {"access_key": key, "secret_key": secret}
    settings["session_token"] = read_secret("AWS_SESSION_TOKEN", env)
    settings["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    endpoint = _endpoint(env)
    if endpoint:
        settings["endpoint_override"], settings["scheme"] = endpoint
    for name, argument in _S3_LIMITS:
        settings[argument] = _limit(name, env.get(name) or "", whole=argument == "max_attempts")
    return tuple((k, v) for k, v in settings.items() if v)


# How long the S3 client waits and how often it tries (``_s3_arguments``): the environment
# variable and pyarrow's argument. AWS_MAX_ATTEMPTS as the AWS SDKs read it; the timeouts,
# in seconds, are the loader's own (the SDKs take them from code or their config files).
_S3_LIMITS = (
    ("AWS_CONNECT_TIMEOUT", "connect_timeout"),
    ("AWS_REQUEST_TIMEOUT", "request_timeout"),
    ("AWS_MAX_ATTEMPTS", "max_attempts"),
)


def _limit(name: str, value: str, whole: bool) -> str | None:
    """Variable ``name``'s ``value`` as the S3 client's setting (a number of seconds, or of
    attempts where ``whole``), None where unset; anything else a configuration error."""
    text = value.strip()
    if not text:
        return None
    try:
        number = int(text) if whole else float(text)
    except ValueError:
        number = 0
    if not 0 < number < float("inf"):
        expected = "a whole number of attempts, 1 or more" if whole else "a number of seconds above 0"
        raise ConfigError(f"{name}: {value!r}: expected {expected}", hint=f"set {name} to, say, 10, or unset it")
    return str(number)


def _s3_arguments(settings: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``_s3_settings``' as the arguments of pyarrow's ``S3FileSystem``."""
    import pyarrow.fs as pafs

    arguments: dict[str, Any] = dict(settings)
    for timeout in ("connect_timeout", "request_timeout"):
        if timeout in arguments:
            arguments[timeout] = float(arguments[timeout])
    if "max_attempts" in arguments:
        arguments["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=int(arguments.pop("max_attempts")))
    return arguments


_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$")


def _endpoint(env: Any) -> tuple[str, str] | None:
    """``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``, as pyarrow's ``endpoint_override``
    and ``scheme``: blanks around it dropped, its scheme in either case (``HTTP://``: URL
    schemes are case-insensitive, and the AWS CLI takes it), none meaning https. Anything but
    http(s) and host[:port] is refused naming the variable: pyarrow's own error names no
    variable, and a path would be taken for the bucket."""
    name = next((n for n in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") if (env.get(n) or "").strip()), None)
    if name is None:
        return None
    value = env[name]
    scheme, sep, host = value.strip().partition("://")
    scheme, host = (scheme.lower(), host.rstrip("/")) if sep else ("https", scheme.rstrip("/"))
    if scheme not in ("http", "https") or not _HOST_PORT.match(host):
        raise ConfigError(
            f"{name}: {value!r}: expected http:// or https:// and host[:port]",
            hint=f"set {name} to the service's address, such as http://minio:9000",
        )
    return host, scheme


@functools.lru_cache(maxsize=16)
def _filesystem(scheme: str, authority: str, settings: tuple[tuple[str, str], ...]) -> Any:
    """One filesystem per scheme and settings (a client holds connections worth reusing)."""
    import pyarrow.fs as pafs

    cls = getattr(pafs, SCHEMES[scheme], None)
    if cls is None:
        raise ConfigError(f"source.path: this pyarrow cannot read {scheme}:// (no {SCHEMES[scheme]})")
    try:
        if scheme == "hdfs":
            return interruptible(lambda: pafs.FileSystem.from_uri(f"hdfs://{authority}/")[0])
        return interruptible(lambda: cls(**_s3_arguments(settings)))
    except (OSError, pa.ArrowException) as exc:
        reason = one_line(exc).split("\\n")[0]  # libhdfs lists every place it looked for a JVM
        raise SourceError(
            f"cannot connect to {scheme}://{authority}: {reason}",
            hint="hdfs:// needs a JVM and libhdfs (JAVA_HOME, HADOOP_HOME, ARROW_LIBHDFS_DIR)"
            if scheme == "hdfs"
            else None,
        ) from None


def remote_error(exc: Exception, uri: str, verb: str) -> SourceError:
    """A storage service's failure as one line naming the URI, with a hint."""
    if isinstance(exc, FileNotFoundError):
        return MissingInputError(NO_SUCH_OBJECT, file=uri, hint=_AWS_ERRORS["RESOURCE_NOT_FOUND"][1])
    m = _AWS_CODE.search(str(exc))
    code = (m.group(1) or {"403": "ACCESS_DENIED", "404": "RESOURCE_NOT_FOUND"}.get(m.group(2), "")) if m else ""
    if code == "NETWORK_CONNECTION" and _TIMED_OUT.search(str(exc)):  # up, but slow: not out of reach
        return SourceReadError(
            f"cannot {verb}: the storage service did not answer in time (timed out)", file=uri, hint=TIMED_OUT_HINT
        )
    if code in _AWS_ERRORS:
        what, hint = _AWS_ERRORS[code]
        # an unreachable service may come back (rerun resumes); a name or a key must be fixed
        kind = SourceReadError if code == "NETWORK_CONNECTION" else MissingInputError
        return kind(f"cannot {verb}: {what}", file=uri, hint=hint)
    return SourceReadError(f"cannot {verb} ({one_line(exc)})", file=uri)


def missing(path: str) -> SourceError:
    """The error for an input that is not there: for a remote one, whether the bucket is."""
    loc = remote(path) if path != STDIN else None
    if loc is None or loc.prefix.startswith("hdfs"):
        return MissingInputError(NO_SUCH_FILE, file=path)
    if _no_bucket(loc):  # s3://bucket alone too
        return MissingInputError("no such bucket", file=path, hint=_AWS_ERRORS["NO_SUCH_BUCKET"][1])
    return remote_error(FileNotFoundError(path), path, "open")


def _no_bucket(loc: Remote) -> bool:
    """Whether the bucket ``loc.path`` starts with is missing (never for HDFS, which has none)."""
    import pyarrow.fs as pafs

    bucket = loc.path.strip("/").split("/")[0]
    if not bucket or loc.prefix.startswith("hdfs"):
        return False
    return bool(_info(Remote(loc.fs, bucket, loc.prefix), loc.uri(bucket)).type == pafs.FileType.NotFound)


# Objects' FileInfo while runs are on (``remembering``), by URI: a run checks, sizes and
# opens each input several times, and each ask is a request to the store.
_KNOWN: dict[str, Any] = {}
_runs = 0
_runs_lock = threading.Lock()


@contextmanager
def remembering() -> Iterator[None]:
    """Within it, an object's FileInfo is asked of the store once, or taken from the
    listing of the glob that matched it. ``identity`` always asks anew (a change is seen
    by it) and refreshes what is kept; a missing object or a prefix is never kept. What is
    kept is forgotten once no run is on (runs in threads of one process share it)."""
    global _runs
    with _runs_lock:
        _runs += 1
    try:
        yield
    finally:
        with _runs_lock:
            _runs -= 1
            if not _runs:
                _KNOWN.clear()


def _keep(uri: str, info: Any) -> Any:
    import pyarrow.fs as pafs

    if _runs and info.type == pafs.FileType.File:
        _KNOWN[uri] = info
    return info


def _info(loc: Remote, uri: str, fresh: bool = False) -> Any:
    """The object's pyarrow FileInfo (type, size, mtime); the one kept in this run unless ``fresh``."""
    _addressable(uri)
    known = None if fresh else _KNOWN.get(uri)
    if known is not None:
        return known
    try:
        return _keep(uri, interruptible(lambda: loc.fs.get_file_info(loc.path)))
    except (OSError, pa.ArrowException) as exc:
        raise remote_error(exc, uri, "read") from None


def check_file(path: str, glob_hint: str | None = None) -> None:
    """A one-line error for an input that is a directory (the user meant a glob: ``glob_hint``,
    the files of the input's format; None: of the format the directory's files are in) or no
    regular file at all (``not_a_file``), from its ``stat`` (links followed): never opened. A
    missing one is left to the caller."""
    loc = remote(path) if path != STDIN else None
    if loc is not None:
        _object_info(loc, path)
        return
    if path == STDIN:
        return
    mode = file_mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        glob_hint = glob_hint or f"dir/*.{_files_format(path)}"
        nested = glob_hint.replace("/*", "/**/*", 1)  # a Spark or Hive output keeps its files in partition folders
        raise SourceError(
            "is a directory, not a file",
            file=path,
            hint=f"use a glob such as {glob_hint}, or {nested} for the files in its folders too",
        )
    refuse_special(path, mode)


def _files_format(path: str) -> str:
    """The format most files in directory ``path`` and its folders are in, by their names (a
    Spark output's Parquet parts), from its first 100 folders; CSV where none tells. Folders
    starting with ``.`` or ``_`` (``_temporary``) are not looked in."""
    from .config import infer_format

    found: Counter[str] = Counter()
    for _, folders, names in itertools.islice(os.walk(path), 100):
        folders[:] = sorted(f for f in folders if not f.startswith((".", "_")))
        found.update(f for f in map(infer_format, names) if f is not None)
    return found.most_common(1)[0][0] if found else "csv"


def file_mode(path: str) -> int | None:
    """``path``'s file type and mode (links followed), None if it cannot be stat'ed."""
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def refuse_special(path: str, mode: int | None) -> None:
    """``not_a_file``'s error for a path that is there and is neither a regular file nor
    a directory (``mode``: ``file_mode``'s)."""
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise not_a_file(path, mode)


_SPECIAL = (
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_a_file(path: str, mode: int) -> MissingInputError:
    """The error for an input that is a pipe (``<(zcat x.gz)``, ``mkfifo``), a socket or a
    device: a run reads an input more than once (its fingerprint, its type sample, the load),
    and what a pipe gave is gone; opening a FIFO whose writer is gone blocks for ever."""
    kind = next((name for test, name in _SPECIAL if test(mode)), "not a regular file")
    return MissingInputError(
        f"is {kind}, not a regular file",
        file=path,
        hint="write it to a file first, or pipe it to standard input: `... | loader load - TARGET ...`",
    )


def _object_info(loc: Remote, uri: str, fresh: bool = False) -> Any:
    """The FileInfo of an object that is there (not missing, not a prefix), else a one-line error."""
    import pyarrow.fs as pafs

    info = _info(loc, uri, fresh)
    if info.type == pafs.FileType.Directory:
        raise SourceError("is a prefix, not an object", file=uri, hint=f"use a glob such as {uri.rstrip('/')}/*")
    if info.type == pafs.FileType.NotFound:
        raise missing(uri)
    return info


def size(path: str) -> int | None:
    """The input's size in bytes; None for standard input or an input that cannot be stat'ed."""
    if path == STDIN:
        return None
    try:
        loc = remote(path)
        if loc is not None:
            found = _info(loc, path).size
            return int(found) if found is not None else None
        return os.stat(path).st_size
    except OSError:
        return None


def exists(path: str) -> bool:
    """Whether the input is there (a remote one that cannot be asked about raises SourceError)."""
    if path == STDIN:
        return True
    loc = remote(path)
    if loc is not None:
        import pyarrow.fs as pafs

        return bool(_info(loc, path).type != pafs.FileType.NotFound)
    return os.path.exists(path)


# A directory that went away while it was walked, or a symlink loop's end: Python's glob
# passes over them as well, and neither is an inbox the run's user is kept out of.
_PASSED_OVER = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})
DIRECTORY_HINT = (
    "check source.path: a relative path in a job file is relative to the job file's directory "
    "(one given by a flag, --set or the environment, to the current directory)"
)


def _check_listable(pattern: str) -> None:
    """Refuse a local glob whose fixed directory is missing, or any of whose directories it has
    to list cannot be listed: Python's glob passes over both without a word, and a run would
    load the folders it can read (or none, an "ok" run under ``allow_empty``) for ever. The
    directories are walked as the glob walks them (``paths.skipped`` names are not entered)."""
    parts = pattern.split(os.sep)
    fixed = next((i for i, part in enumerate(parts) if _glob.has_magic(part)), None)
    if fixed is None:  # a file's name: not a glob's to list
        return
    head = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else os.curdir)
    try:
        mode = os.stat(head).st_mode
    except FileNotFoundError:
        raise MissingInputError(f"directory {head} does not exist", hint=DIRECTORY_HINT) from None
    except OSError as exc:
        raise _unlistable(head, exc) from None
    if not stat.S_ISDIR(mode):
        raise MissingInputError(f"{head} is not a directory", hint=DIRECTORY_HINT)
    rest = [part for part in parts[fixed:] if part]
    dirs = [head]
    for n, part in enumerate(rest):
        last = n == len(rest) - 1
        dirs = [found for d in dirs for found in _walk_step(d, part, descend=not last or part == "**")]


def _walk_step(directory: str, part: str, descend: bool) -> list[str]:
    """The directories under ``directory`` the glob segment ``part`` leads into (none unless
    ``descend``: the last segment's directories are only opened), in sorted order: the first
    that cannot be listed raises ``_unlistable``."""
    from .paths import name_matches, skipped

    if not _glob.has_magic(part):  # a literal name: glob asks for it, never lists ``directory``
        path = os.path.join(directory, part)
        try:
            return [path] if stat.S_ISDIR(os.stat(path).st_mode) else []
        except OSError as exc:
            if exc.errno in _PASSED_OVER:
                return []
            raise _unlistable(directory, exc) from None
    found: list[str] = []
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                subdirs = sorted(os.path.join(current, e.name) for e in entries if _is_dir(e)) if descend else []
            if not os.access(current, os.X_OK):  # listed, but no name in it can be opened (r--)
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), current)
        except OSError as exc:
            if exc.errno in _PASSED_OVER:
                continue
            raise _unlistable(current, exc) from None
        if part == "**":  # the directory itself and every folder below it but skipped names
            found.append(current)
            pending.extend(p for p in reversed(subdirs) if not skipped(os.path.basename(p)))  # in order
        else:
            found.extend(p for p in subdirs if name_matches(os.path.basename(p), part))
    return found


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether a listed name is a directory, a symlink to one included (as glob follows them)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _unlistable(directory: str, exc: OSError) -> SourceError:
    """The error of a directory the glob has to list and cannot: exit 66 where the OS refuses
    the run's user, as for an input file it cannot open."""
    if isinstance(exc, PermissionError):
        return MissingInputError(
            f"cannot list {directory}: permission denied",
            hint="give the user the loader runs as read and search (x) permission on the directory, then rerun",
        )
    return SourceReadError(f"cannot list {directory}: {exc.strerror or exc}")


def glob(pattern: str) -> list[str]:
    """The files a glob matches (``**`` recurses), sorted; a remote glob lists its prefix.
    A file or object named exactly ``pattern`` is the one file it matches: as a glob,
    ``report[1].csv`` would match ``report1.csv`` and never the file of that name.
    ``*`` and ``**`` skip hidden names and a job's output markers (``paths.skipped``)."""
    from .paths import glob_matches

    loc = remote(pattern)
    if loc is None:
        if os.path.isfile(pattern):
            return [pattern]
        _check_listable(pattern)
        listed = _glob.glob(pattern, recursive=True)  # its own hidden-name rule; ``_`` left to glob_matches
        return sorted(p for p in listed if os.path.isfile(p) and glob_matches(pattern, p, os.sep))
    import pyarrow.fs as pafs

    parts = loc.path.split("/")
    literal = next(i for i, p in enumerate(parts) if set("*?[") & set(p))
    base = "/".join(parts[:literal])
    recursive = literal < len(parts) - 1 or "**" in parts[literal]
    selector = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
    try:
        infos = interruptible(lambda: loc.fs.get_file_info(selector))
    except (OSError, pa.ArrowException) as exc:
        raise remote_error(exc, loc.uri(base), "list") from None
    found = {loc.uri(i.path): i for i in infos if i.type == pafs.FileType.File}
    named = loc.uri(loc.path)  # the listing holds the object named exactly so, if there is one
    matched = [named] if named in found else sorted(u for u, i in found.items() if glob_matches(loc.path, i.path))
    for uri in matched:
        _keep(uri, found[uri])
    if not matched and _no_bucket(Remote(loc.fs, base, loc.prefix)):  # at the bucket's root too
        raise MissingInputError(
            "cannot list: no such bucket", file=loc.uri(base), hint=_AWS_ERRORS["NO_SUCH_BUCKET"][1]
        )
    return matched


def open_input(path: str) -> IO[bytes]:
    """The input's bytes as a seekable binary file; the caller closes it."""
    loc = remote(path)
    if loc is not None:
        _addressable(path)
        try:
            file = interruptible(lambda: loc.fs.open_input_file(loc.path))
        except (OSError, pa.ArrowException) as exc:
            raise remote_error(exc, path, "open") from None
        return RemoteInput(file, path)  # type: ignore[return-value]
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SourceError.from_os(exc, path, "open") from None


class RemoteInput:
    """A remote object opened by ``open_input``: a read that fails names the URI and why,
    whether the object was deleted or rewritten since it was opened."""

    def __init__(self, file: Any, uri: str) -> None:
        self.file = file  # pyarrow's NativeFile
        self.uri = uri
        self.opened = opened_identity(uri, file)

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self.file.read(None if n < 0 else n))
        except (OSError, pa.ArrowException) as exc:
            raise read_error(self.uri, exc, self.opened) or remote_error(exc, self.uri, "read") from None

    def readinto(self, view: Any) -> int:
        try:
            return int(self.file.readinto(view))
        except (OSError, pa.ArrowException) as exc:
            raise read_error(self.uri, exc, self.opened) or remote_error(exc, self.uri, "read") from None

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self.file.seek(offset, whence))

    def tell(self) -> int:
        return int(self.file.tell())

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> RemoteInput:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def opened_identity(path: str, file: Any) -> dict[str, Any] | None:
    """The size and ETag a remote object had when ``file`` opened it (pyarrow asked for
    its headers then: no request here); None for a local file."""
    if remote(path) is None:
        return None
    return {"size": file.size(), "etag": _header(file.metadata(), "ETag")}


def read_error(path: str, exc: Exception, opened: dict[str, Any] | None) -> SourceError | None:
    """Why a read of a remote object failed, where the object or the service is why: it is
    gone (66), it was rewritten since ``opened`` (65), or the service's error. None for a
    local file, or a failure of the bytes themselves (corrupt compressed data)."""
    loc = remote(path)
    if loc is None:
        return None
    try:
        now = _remote_identity(loc, path)
    except MissingInputError as gone:  # deleted while it was read (or the keys lost their access)
        return gone
    except SourceError:
        now = None  # the service cannot say: its first error stands
    if opened is not None and now is not None and not _same_object(opened, now):
        return changed_while_read(path)
    return remote_error(exc, path, "read") if _AWS_CODE.search(str(exc)) else None


def failed_read(
    path: str, exc: Exception, opened: dict[str, Any] | None, what: str, hint: str | None = None
) -> SourceError:
    """The one error for an input's read that failed, for every reader: a remote object that
    is gone (66), rewritten (65) or a service out of reach (1) as ``read_error`` says; else
    the bytes themselves, ``what`` with the library's reason (65, ``hint`` or the default)."""
    failed = read_error(path, exc, opened)
    if failed is not None:
        return failed
    return SourceError(f"{what} ({one_line(exc)})", file=path, hint=hint)


def _same_object(opened: dict[str, Any], now: dict[str, Any]) -> bool:
    """Same size and, where both have one, same ETag."""
    tags = opened.get("etag"), now.get("etag")
    return bool(opened.get("size") == now.get("size") and (None in tags or tags[0] == tags[1]))


CHANGED_WHILE_READ = "changed while it was read"


def changed_while_read(path: str) -> SourceChangedError:
    """The error for an input that changed while it was read. Its hint is ``threads``':
    the parts engines say what their rerun does (``engines.Coordinator``)."""
    return SourceChangedError(
        CHANGED_WHILE_READ,
        file=path,
        hint="rerun once it is written whole: the rows committed from it stay, and run.on_change "
        "(error, skip or reload) decides what the rerun does with them",
    )


def check_unchanged(path: str, before: dict[str, Any] | None, read: dict[str, Any] | None = None) -> None:
    """After the last read of an input: it is still the one identified as ``before`` (as
    the run began), else ``SourceChangedError`` (a remote object can be rewritten between
    two of its ranged reads, a local file in place under an open handle). ``read``: the
    identity of the open file its rows came through (``read_version``), where known: a
    file renamed over or deleted meanwhile leaves that one whole, its rows one version, and
    the next run finds the path changed. Else the path's: a local file touched during the
    load counts as changed, its rows may mix two versions."""
    if before is None:  # standard input, a replay
        return
    if not same_version(before, read if read is not None else identity(path)):
        raise changed_while_read(path)


def read_version(path: str, file: Any) -> dict[str, Any] | None:
    """The identity (``identity``'s keys) of the local file ``file`` reads through its open
    descriptor, whatever the path names now; None for standard input, a remote object or a
    stream without a descriptor."""
    if path == STDIN or remote(path) is not None:
        return None
    fd = _descriptor(file)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        return _local_identity(path, st, lambda at: os.pread(fd, FINGERPRINT_BYTES, at))
    except OSError as exc:
        raise SourceError.from_os(exc, path, "read") from None


def _descriptor(file: Any) -> int | None:
    """The descriptor under a stream and the wrappers the readers put round it (a
    decompressor's ``file``, a transcoder's or a part's ``raw``)."""
    for _ in range(4):
        if file is None:
            return None
        try:
            return int(file.fileno())
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            file = getattr(file, "file", None) or getattr(file, "raw", None)
    return None


# A file read front to back (a compressed one) is read in pieces this large: for a remote
# object each piece is one request.
SEQUENTIAL_READ_BYTES = 1 << 20


def open_arrow(path: str) -> pa.NativeFile:
    """The input as a random-access Arrow file (ranged reads for a remote object)."""
    loc = remote(path)
    if loc is not None:
        _addressable(path)
    try:
        return (
            interruptible(lambda: loc.fs.open_input_file(loc.path)) if loc is not None else pa.OSFile(os.fsencode(path))
        )
    except (OSError, pa.ArrowException) as exc:
        if loc is not None:
            raise remote_error(exc, path, "open") from None
        raise SourceError.from_os(exc, path, "open") from None


def sequential(path: str, file: pa.NativeFile) -> pa.NativeFile:
    """``file`` (opened by ``open_arrow``) to be read front to back: a remote object
    through a buffer of ``SEQUENTIAL_READ_BYTES``, so each request fetches that much."""
    return pa.BufferedInputStream(file, SEQUENTIAL_READ_BYTES) if remote(path) is not None else file


def identity(path: str) -> dict[str, Any] | None:
    """Size, mtime, a content fingerprint (head and tail) and the real path (links resolved);
    None for standard input.
    A remote object's: size, mtime (its LastModified) and ETag (None where the store gives
    none), and ``version_id`` in a versioned bucket, unread."""
    if path == STDIN:
        return None
    loc = remote(path)
    if loc is not None:
        return _remote_identity(loc, path)
    check_file(path)  # an input that vanished or is a directory is the user's error, in one line
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            return _local_identity(path, st, lambda at: _read_at(fh, at))
    except OSError as exc:
        raise SourceError.from_os(exc, path, "read") from None


def _read_at(fh: IO[bytes], at: int) -> bytes:
    fh.seek(at)
    return fh.read(FINGERPRINT_BYTES)


def _local_identity(path: str, st: os.stat_result, read_at: Callable[[int], bytes]) -> dict[str, Any]:
    """A local file's identity from its ``st`` and ``read_at(offset)`` (``FINGERPRINT_BYTES``
    from there): size, mtime, the fingerprint of its head and tail, the real path."""
    h = sha256()
    h.update(read_at(0))
    if st.st_size > FINGERPRINT_BYTES:
        h.update(read_at(max(FINGERPRINT_BYTES, st.st_size - FINGERPRINT_BYTES)))
    # the file it reaches: one loaded under another spelling (a link) is known by it (``state.plan_files``)
    real = os.path.realpath(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_head_tail": h.hexdigest(), "real": real}


def _remote_identity(loc: Remote, uri: str) -> dict[str, Any]:
    """One request (a HEAD: pyarrow opens an object by its headers, no data read): size,
    LastModified, ETag, version id. The listing has no ETag, so it cannot stand for it."""
    try:
        with interruptible(lambda: loc.fs.open_input_file(loc.path)) as fh:
            size, meta = fh.size(), fh.metadata()
    except (OSError, pa.ArrowException) as exc:
        _object_info(loc, uri, fresh=True)  # a missing object or a prefix: said so
        # "read", as its info's request says it (``_info``): the identity is taken before each
        # commit too, and a service gone mid-load is a read that failed, whichever request saw it
        raise remote_error(exc, uri, "read") from None
    mtime_ns = _modified_ns(meta)
    if mtime_ns is None:  # a store whose headers pyarrow does not pass on: its info asked (a HEAD more)
        info = _object_info(loc, uri, fresh=True)
        size, mtime_ns = info.size, info.mtime_ns
    else:  # kept, as a fresh info would be: what the run sizes it by after this
        _keep(uri, _file_info(loc.path, size, mtime_ns))
    found = {"size": size, "mtime_ns": mtime_ns, "etag": _header(meta, "ETag")}
    version = _header(meta, "VersionId")  # a versioned bucket's: each put has its own
    return found | ({"version_id": version} if version else {})


def _modified_ns(meta: Any) -> int | None:
    """An opened object's Last-Modified (pyarrow gives it as ``2026-12-07T20:15:22Z``, whole
    seconds, as S3 does) in nanoseconds, as its FileInfo's ``mtime_ns``; None where absent or
    otherwise written."""
    text = _header(meta, "Last-Modified")
    try:
        return calendar.timegm(time.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ")) * 1_000_000_000
    except ValueError:
        return None


def _file_info(path: str, size: int, mtime_ns: int) -> Any:
    import pyarrow.fs as pafs

    return pafs.FileInfo(path, pafs.FileType.File, mtime_ns=mtime_ns, size=size)


def _header(meta: Any, name: str) -> str | None:
    """Header ``name`` among an opened object's (pyarrow's metadata), where the store gives it."""
    meta = meta or {}
    value = meta.get(name) or meta.get(name.encode())
    return value.decode() if isinstance(value, bytes) else value


def same_content(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """Same size and fingerprint (a touched but unchanged file is the same). A remote
    object (its identity has ``etag``): same size and ETag, or mtime where there is no ETag."""
    if old is None or new is None:
        return old is new
    if "etag" in old or "etag" in new:
        tag = "etag" if old.get("etag") and new.get("etag") else "mtime_ns"
        return bool(old.get("size") == new.get("size") and old.get(tag) == new.get(tag))
    return bool(old.get("size") == new.get("size") and old.get("sha256_head_tail") == new.get("sha256_head_tail"))


def same_version(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """``same_content``, and the same mtime too: a file rewritten in place at the same size
    may keep its first and last 64 KiB, never its modification time; an object put back as
    it was (a retry, a restore) has its ETag again, never its LastModified (whole seconds) nor,
    in a versioned bucket, its version id. A side without one (a checkpoint from before
    version ids, a store without LastModified) is not compared by it."""
    if not same_content(old, new):
        return False
    if old is None or new is None:
        return True
    if "etag" not in old:
        return bool(old.get("mtime_ns") == new.get("mtime_ns"))
    return all(old[k] == new[k] for k in ("mtime_ns", "version_id") if old.get(k) and new.get(k))


def key(path: str) -> str:
    """The checkpoint's name for an input: its absolute path, or its URI (scheme in lower case)."""
    return "file:" + (path if path == STDIN else normal(path) if is_remote(path) else os.path.abspath(path))
