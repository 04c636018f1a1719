"""One error family for the whole loader.

Every error carries the stage, file, row and column it is about, so a single
line can tell the user where to look. Each class also inherits the builtin it
resembles (as pyarrow's ``ArrowInvalid(ValueError)``), so callers can catch
either.
"""

from __future__ import annotations

import re
import signal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import FileReport, RunReport

# Exit codes, shared by the CLI and documented in docs/reliability.md. Codes past 4
# follow sysexits.h. Each says what an operator does next: FIX something, then rerun
# (an automatic retry repeats the failure), or RERUN and it resumes.
EXIT_OK = 0
EXIT_FAILED = 1  # an I/O error, a full disk, a crash: committed work is kept, a rerun resumes
EXIT_USAGE = 2  # bad flags or job file, found before anything was written
EXIT_REJECTS = 3  # more rejects than run.max_rejects
EXIT_NOTHING_LOADED = 4  # input had rows, none was written
EXIT_DATAERR = 65  # EX_DATAERR: the input or the target's schema must change first
EXIT_NOINPUT = 66  # EX_NOINPUT: an input file is missing or cannot be opened
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later
EXIT_CONFIG = 78  # EX_CONFIG: a configuration error found after rows were committed
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141  # the reader of the command's output went away (``| head``): the output is cut short
EXIT_SIGTERM = 143

FIX = "fix"
RERUN = "rerun"
OK = "ok"

EXIT_CLASS = {
    EXIT_OK: OK,
    EXIT_FAILED: RERUN,
    EXIT_USAGE: FIX,
    EXIT_REJECTS: FIX,
    EXIT_NOTHING_LOADED: FIX,
    EXIT_DATAERR: FIX,
    EXIT_NOINPUT: FIX,
    EXIT_LOCKED: RERUN,
    EXIT_CONFIG: FIX,
    EXIT_SIGINT: RERUN,
    EXIT_SIGTERM: RERUN,
}


def exit_class(code: int) -> str:
    """``ok``, ``fix`` (fix something, then rerun: a retry would fail the same way) or
    ``rerun`` (a rerun resumes where this one stopped); another signal's 128+N is a rerun."""
    return EXIT_CLASS.get(code, RERUN if code > 128 else FIX)


# Why an input that is not there cannot be read (``MissingInputError``'s message, a report's reason).
NO_SUCH_FILE = "no such file"
NO_SUCH_OBJECT = "no such object"  # a remote input's (``storage.remote_error``)
NOT_THERE = (NO_SUCH_FILE, NO_SUCH_OBJECT)  # an input gone: a local file's words, an object's

# How a load's hint ends where it speaks of the files it loaded (those before the one that
# stopped it, or none): a command that loads nothing says what to do instead (``no_load_hint``).
_LOADED_HINT_END = re.compile(
    r", then rerun: (?:the (?:files before it|other files) stay loaded"
    r"|every input is checked before the first loads, so this run loaded none)$"
)


def no_load_hint(exc: LoaderError, instead: str) -> None:
    """``exc``'s hint for a command that loads nothing (``inspect``, a dry run): its end that
    speaks of files loaded, or of none, replaced by ``instead`` (``", then inspect it again"``)."""
    if exc.hint:
        exc.hint = _LOADED_HINT_END.sub(instead, exc.hint)


# The hint for a failure that left committed work in place: the rerun picks it up.
RESUME_HINT = "committed work is kept; fix this and rerun the same command to resume"
# An engine that lost its workers (loader.engines): its parts committed so far stay.
PARTS_KEPT_HINT = "committed parts are kept: run the same command again to load the rest"
# --restart alone loads every file again beside the rows kept (mode append): with replace, once
RELOAD_ALL_HINT = "rerun with --restart --mode replace (every file of the job loads again)"
# Added to a fix-first error's own hint once rows were committed before it.
THEN_RESUME = "then rerun: committed work is kept and the rerun resumes"


def one_line(exc: BaseException) -> str:
    """A library's message as one line: its line breaks and control characters
    (some corrupt-file messages carry the bad byte) escaped."""
    text = str(exc).strip()
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def where(
    file: str | None,
    row: int | None,
    line: int | None,
    column: str | None,
    *,
    last_row: int | None = None,
    last_line: int | None = None,
) -> str:
    """Where a row's trouble is, as errors and reject notes name it: the file, its line
    (else its row), the column (``a.csv, line 3, column 'n'``). With ``last_line`` (else
    ``last_row``) past the first, a batch's rows: ``a.csv, lines 2-101``."""
    parts = []
    if file:
        parts.append(str(file))
    if line is not None:
        parts.append(_span("line", line, last_line))
    elif row is not None:
        parts.append(_span("row", row, last_row))
    if column:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _span(unit: str, first: int, last: int | None) -> str:
    """``line 3``, or ``lines 3-9`` for a range."""
    return f"{unit}s {first}-{last}" if last is not None and last != first else f"{unit} {first}"


def exit_code_for_signal(signum: int) -> int:
    """The shell convention: 128 + the signal number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


def _rebuild(cls: type[LoaderError], args: tuple[Any, ...]) -> LoaderError:
    """An error of ``cls`` with ``args``, its attributes to come (``LoaderError.__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError.__new__ leaves them to an overridden __init__, which this skips
    return error


class LoaderError(Exception):
    """Base of every error the loader raises on purpose."""

    exit_code = EXIT_FAILED
    default_hint: str | None = None
    report: RunReport | None = None
    """The run's report, set when a ``Pipeline.run`` fails with this error."""
    stopped_in: str | None = None
    """The checkpoint key of the file being loaded when this error stopped the run, if any."""
    worker: str | None = None
    """The worker (``host:pid``, a Dask worker's address) of the part that raised it, if any."""
    lock_refused: bool = False
    """The run stopped before it held the target's lock (another run holds it; a stop while
    it waited): the report and metrics files are the holder's, so it writes neither."""
    # Each front end spells the loader's advice its own way (``loader load``'s ``--table``,
    # ``loader run``'s ``--set sink.table=...``, ``load()``'s ``table=``: ``cli.hint_for``,
    # ``api._as_given``). A message tells of the data, so only what the code marks there is
    # advice; a hint is advice, so only what the code marks there is not.
    names: tuple[str, ...] = ()
    """The flags and job keys the message names as the loader's own, as written there
    (``--delimiter ';'``, ``sink.busy_timeout``): besides a key the message starts with, the
    only part of it a front end respells, never a value, column name or reason it quotes."""
    verbatim: tuple[str, ...] = ()
    """Text the hint quotes that no front end respells: a path, column names, a value, a
    job file's key named as a job file's (``source.columns in a job file``)."""

    def __init__(
        self,
        message: str,
        *,
        stage: str | None = None,
        file: str | None = None,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
        last_row: int | None = None,
        last_line: int | None = None,
        names: tuple[str, ...] = (),
        verbatim: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.file = file
        self.row = row
        self.line = line
        self.column = column
        # a batch's failure: its rows (lines) from ``row`` (``line``) to these
        self.last_row = last_row
        self.last_line = last_line
        self.hint = hint if hint is not None else self.default_hint
        if names:
            self.names = names
        if verbatim:
            self.verbatim = verbatim

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (a process pool's worker hands it back) and copied as it is: rebuilt
        # without __init__, whose arguments differ by class, then given its attributes
        # (message, hint, file, row, column, exit code, report).
        return (_rebuild, (type(self), self.args), self.__dict__)

    def where(self) -> str:
        return where(self.file, self.row, self.line, self.column, last_row=self.last_row, last_line=self.last_line)

    def __str__(self) -> str:
        where = self.where()
        prefix = f"{self.stage}: " if self.stage else ""
        return f"{prefix}{where}: {self.message}" if where else f"{prefix}{self.message}"


class ConfigError(LoaderError, ValueError):
    """A job file, flag or argument is wrong. Nothing was written."""

    exit_code = EXIT_USAGE
    default_hint = "check the job file or the keyword options; docs/job-files.md lists every key"
    key: str | None = None
    """The key whose value is refused, where the message starts with another one (``sink.type:
    cannot tell the database from ''`` refuses ``sink.path``'s value): the key whose origin, a
    variable or the job file, the error names."""

    @staticmethod
    def cli_hint(command: str) -> str:
        """The hint the CLI shows instead: the keys are ``command``'s flags (validate's are run's)."""
        if command in ("load", "inspect"):  # no job file
            return f"check the flags; `loader {command} --help` lists them"
        return f"check the job file or flags; `loader {'run' if command == 'validate' else command} --help` lists them"


class MissingColumnError(ConfigError):
    """A setting (a key, a primary key, an index, a stage's columns) names a column the
    data lacks; found on a later file, the error names that file."""


class SourceError(LoaderError, OSError):
    """An input cannot be read as data (empty, corrupt, not in its format or encoding):
    a rerun reads the same bytes, so the file must change first."""

    exit_code = EXIT_DATAERR
    default_hint = "fix or replace the file, then rerun: the files before it stay loaded"

    @classmethod
    def from_os(cls, exc: OSError, path: str, verb: str) -> SourceError:
        """An input the OS refused, as one line (``verb``: what was being done)."""
        if isinstance(exc, FileNotFoundError):
            return MissingInputError(NO_SUCH_FILE, file=path)
        if isinstance(exc, PermissionError):
            return MissingInputError("permission denied", file=path)
        return SourceReadError(f"cannot {verb}: {exc.strerror or exc}", file=path)


class MissingInputError(SourceError):
    """An input file is not there, or the OS does not let the loader open it."""

    exit_code = EXIT_NOINPUT
    default_hint = "fix the path or the file's permissions, then rerun: the files before it stay loaded"


class InputGoneError(MissingInputError):
    """An input the run listed (it matched the glob, it was there) that another program moved
    or deleted before its turn: nothing to fix, the next run lists the inputs again. On
    ``threads``, found as the file's turn comes, the run loads the other files first."""

    exit_code = EXIT_LOCKED  # EX_TEMPFAIL, class rerun: a scheduler retries, nobody is paged
    default_hint = (
        "nothing to fix: rerun the same command (it lists the inputs again, and loads the file if it is back)"
    )

    @classmethod
    def of(cls, path: str, what: str = NO_SUCH_FILE) -> InputGoneError:
        return cls(f"{what}: moved or deleted after the run listed its inputs", file=path)


def gone_at_turn(exc: LoaderError, file_report: FileReport, reading: bool = False) -> InputGoneError | None:
    """``exc`` as an ``InputGoneError`` where it says the file of ``file_report`` is not there
    and this run read none of its rows: the run listed it, so another program moved or
    deleted it since (an archiver emptying the inbox). The report says why it was not read.
    An object deleted from its bucket alike (a missing bucket is no such case), unless its
    reader had opened it (``reading``): its rows, read ahead of their count, are read by
    ranged requests, so it was deleted while it was read (66)."""
    absent = (NO_SUCH_FILE,) if reading else NOT_THERE
    if not isinstance(exc, MissingInputError) or exc.message not in absent:
        return None
    if exc.file != file_report.path or file_report.rows_read:
        return None
    gone = InputGoneError.of(exc.file, exc.message)
    file_report.status, file_report.reason = "unreadable", gone.message
    return gone


class SourceReadError(SourceError):
    """The OS failed a read of an input (an I/O error): the data may be fine."""

    exit_code = EXIT_FAILED
    default_hint = RESUME_HINT


class SourceChangedError(SourceError):
    """A checkpointed source file changed since it was (partly) loaded."""

    default_hint = (
        "set run.on_change to 'skip' (keep what was loaded) or 'reload', or pass --restart "
        "to load everything again, then rerun"
    )


class TransformError(LoaderError, ValueError):
    """A transform stage failed on the data (an expression's overflow, ``on_error = "fail"``,
    a user function that raised): a rerun reads the same rows and fails the same way."""

    exit_code = EXIT_DATAERR
    default_hint = "fix the data or the stage, then rerun: committed work is kept and the rerun resumes"


class SinkError(LoaderError, RuntimeError):
    """The target database refused a write or cannot be opened."""


class ConstraintError(SinkError):
    """The target's table refused a row by a constraint of its own, and the row could not be
    rejected alone (the table's conflict clause rolls back more than its statement): the
    same rows fail the same way again."""

    exit_code = EXIT_DATAERR


class SchemaMismatchError(SinkError):
    """The rows do not fit the target's table as it is (a column it does not have)."""

    exit_code = EXIT_DATAERR
    default_hint = "set sink.alter = true (--alter) to add new columns, then rerun"


class RejectLimitError(LoaderError):
    """More rows were rejected than run.max_rejects allows."""

    exit_code = EXIT_REJECTS
    default_hint = "committed rows are kept; read the reject file, then rerun with a higher --max-rejects to resume, or fix the input and rerun with --restart"


class NothingLoadedError(LoaderError):
    """The input had rows and every one was rejected or filtered out."""

    exit_code = EXIT_NOTHING_LOADED


class TargetLockedError(LoaderError):
    """Another run holds the target."""

    exit_code = EXIT_LOCKED
    # the message says who holds it; the hint, what the next run can do
    default_hint = "retry when it ends, or give --lock-wait the seconds to wait for it"


class EngineError(LoaderError, ConnectionError):
    """The engine cannot run parts: a Dask scheduler (``run.scheduler``) out of reach (this
    run wrote nothing), a local pool's worker that died, or a local cluster whose workers
    all ended (the committed parts are kept): a rerun goes on with the load. Also the
    refusal of ``processes``/``dask`` in a script without an ``if __name__ == "__main__":``
    guard (exit 2, class ``fix``: a rerun fails the same way until the script changes). A
    ``ConnectionError``, so ``except OSError`` catches it."""

    default_hint = "start the scheduler and its workers (docs/engines.md), or check run.scheduler"


class InterruptedLoad(LoaderError):
    """Stopped by SIGTERM or SIGINT at a batch boundary, checkpoint committed."""

    def __init__(self, signum: int, message: str | None = None) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            message or f"stopped by {name}; committed work is kept",
            hint="run the same command again to resume where it stopped",
        )
        self.signum = signum
        self.exit_code = exit_code_for_signal(signum)
