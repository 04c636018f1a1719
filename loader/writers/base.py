"""What every writer is: a context manager that commits rows with a checkpoint.

The pipeline calls, in order: ``read_state`` (checkpoints of earlier runs),
``prepare`` (create the table, or wipe for replace), then for each chunk
``write`` of what the sink's encoder made of it (``loader.sinks``: rows the
target cannot hold are rejected there) to stage it in the open transaction,
and ``commit`` with the new checkpoint entries, which are written in the same
atomic unit as the rows. ``finish`` runs after the
last commit (indexes). On an exception ``__exit__`` rolls back what was not
committed and re-raises.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from ..errors import MissingColumnError, SchemaMismatchError
from ..readers.partitions import path_values
from ..sinks.base import Encoded
from ..suggest import fold, normal_twin, spelled_out

if TYPE_CHECKING:
    from ..state import JobState


@dataclass(frozen=True)
class Refused:
    """A row the target's table refused by a constraint of its own: its place among the
    rows handed to the writer (0-based), why, the column(s) the constraint is on, and its
    values as the target stores them."""

    index: int
    reason: str
    column: str | None
    values: dict[str, Any]


class Transactional:
    """The exit half of every writer: on an exception, roll back what is not
    committed, close, and let the exception go on (never swallow it)."""

    worker_peak_rss_mb: float | None = None  # the highest peak of processes the writer forked, if any
    # How many of the commits handed to ``commit`` are durable (rows and checkpoint), in order
    # (see ``Writer.durable_commits``).
    durable_commits = 0

    def rollback(self) -> None:
        raise NotImplementedError

    def full(self) -> bool:
        """The open transaction holds as much as it should: commit now, whatever its row
        count (``sink.batch_size`` counts rows, and rows can be wide). Never, by default."""
        return False

    def gone(self, job: str, state: JobState) -> str | None:
        """Why ``job``'s checkpoint (``state``, as ``read_state`` gave it) is stale: it tells of
        rows a target that was deleted or dropped since held. None, by default."""
        return None

    def first_values(self, columns: list[str]) -> dict[str, Any]:
        """Of ``columns`` (of the table ``column_types`` reads), each one's first value that is
        not null; a column without one is left out. None, by default (no table)."""
        return {}

    def replaying(self, rejects: str) -> None:
        """The rows to come are a replay of the reject file ``rejects``. Nothing, by default."""

    def remake_if_empty(self, columns: list[str]) -> None:
        """An empty table of exactly ``columns`` may be made anew for columns it lacks. Nothing,
        by default (no table)."""

    def close(self) -> None:
        raise NotImplementedError

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        try:
            if exc_type is not None:
                self.rollback()
        finally:
            self.close()


class Writer(Protocol):
    target: str

    @property
    def worker_peak_rss_mb(self) -> float | None:
        """The highest peak of processes the writer forked, if any."""
        ...

    def read_state(self, job: str) -> dict[str, str]: ...

    def gone(self, job: str, state: JobState) -> str | None:
        """Why the checkpoint ``state`` of ``job`` tells of rows the target no longer holds
        (deleted or dropped since it was written), or None: the run then starts over."""
        ...

    def column_types(self) -> dict[str, str]:
        """Columns the target declares already, with their SQL types ({} where none)."""
        ...

    def first_values(self, columns: list[str]) -> dict[str, Any]:
        """Of ``columns`` (of those ``column_types`` names), each one's first value that is not
        null; a column without one is left out (``Transactional``: none)."""
        ...

    def replaying(self, rejects: str) -> None:
        """The rows to come are a replay of the reject file ``rejects`` (before ``read_state``):
        a writer that notes rows in the checkpoint keeps a replay's notes apart from a load's."""
        ...

    def remake_if_empty(self, columns: list[str]) -> None:
        """The table, when it is empty and has exactly ``columns`` (the job made it from a read
        none of whose rows loaded, whose columns a read with other source options replaces), is
        dropped by ``prepare`` and made anew where the columns to load do not fit it."""
        ...

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None: ...

    def write(self, encoded: Encoded) -> int:
        """Stage an encoded chunk in the open transaction; the rows written (for
        ``ignore``, those whose key was not there yet)."""
        ...

    def commit(self, job: str, state: dict[str, str]) -> None: ...

    @property
    def durable_commits(self) -> int:
        """How many of the calls to ``commit`` so far have their rows and checkpoint
        durable in the target, the earliest first. A commit may return before they are
        (LevelDB's sorted ingest holds rows until their run is on disk): the run's counts
        are those of the last durable commit, which is what a rerun resumes from."""
        ...

    def full(self) -> bool:
        """Commit now, before ``sink.batch_size`` rows: the open transaction holds its
        bytes' worth (``Transactional.full``: never)."""
        ...

    def clear_state(self, job: str, *, now: bool = False) -> None:
        """Forget ``job``'s checkpoint: in the target with the run's first commit (a run refused
        or stopped before it changes nothing), or at once with ``now``."""
        ...

    def finish(self) -> None:
        """Work left when the input is done (indexes, a sorted merge). Long work checks
        ``loader.stopping.check()`` at its own commit points, which raises ``InterruptedLoad``."""
        ...

    def describe(self) -> str: ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: Any) -> None: ...


def new_columns(
    table: str | None, columns: Iterable[str], schema: pa.Schema, *, alter: bool, fixed: bool = False
) -> list[pa.Field]:
    """The fields of ``schema`` that ``table`` (its ``columns``; names match as SQLite's do,
    ``fold``) lacks; without ``alter``, or in a ``fixed`` table (one that takes no new
    column: SQLite's virtual tables), the first is a ``SchemaMismatchError``."""
    columns = list(columns)  # read again for a name in another normalization (``_missing``)
    known = {fold(c) for c in columns}
    new = []
    for f in schema:
        if fold(f.name) not in known:
            if fixed:
                raise SchemaMismatchError(
                    f"table {table!r} has no column {f.name!r}, and it is a virtual table, to which SQLite adds no columns",
                    column=f.name,
                    hint='leave the column out of the input (a [[transform]] type = "drop"), or make the table '
                    "anew with it, then rerun",
                )
            if not alter:
                raise _missing(table, f.name, columns)
            new.append(f)
            known.add(fold(f.name))
    return new


def _missing(table: str | None, name: str, columns: Iterable[str]) -> SchemaMismatchError:
    """The table lacks ``name``: where it has the same name in another Unicode normalization
    (NFC ``café`` beside NFD), both spelled out, and no --alter in the hint (it would add a
    second column that looks the same)."""
    columns = list(columns)
    twin = normal_twin(name, columns)
    padded = next((c for c in columns if fold(c.strip()) == fold(name.strip())), None)
    if twin is None and padded is not None:  # a spreadsheet's header with a space (or tab) around it
        return SchemaMismatchError(
            f"table {table!r} has no column {name!r}: it has {padded!r}, which differs only in the spaces around it",
            column=name,
            hint=f'rename the column to the table\'s spelling ([[transform]] type = "rename", columns = '
            f"{{ {json.dumps(name)} = {json.dumps(padded)} }}), then rerun: --alter would add a second column that looks the same",
        )
    if twin is None:
        return SchemaMismatchError(f"table {table!r} has no column {name!r}", column=name)
    return SchemaMismatchError(
        f"table {table!r} has no column {spelled_out(name)}: it has {spelled_out(twin)},"
        " which differs only in Unicode normalization",
        column=name,
        hint=f'rename the column to the table\'s spelling ([[transform]] type = "rename", columns = '
        f"{{ {json.dumps(name)} = {json.dumps(twin)} }}), then rerun: --alter would add a second column that looks the same",
    )


def check_required(table: str | None, required: Iterable[str], schema: pa.Schema) -> None:
    """Every column the table gives no value of its own (``required``: NOT NULL without a
    default) is in ``schema``: else every row would be refused, so the input is, up front."""
    names = {fold(n) for n in schema.names}
    for name in required:
        if fold(name) not in names:
            raise SchemaMismatchError(
                f"table {table!r} has column {name!r} NOT NULL without a default, and the input has no such column",
                column=name,
                hint="give the input the column (a derive stage can make it), or give the table's column a default",
            )


def check_generated(table: str | None, generated: Iterable[str], schema: pa.Schema) -> None:
    """No column of ``schema`` is one the table computes (``generated``): SQLite refuses
    any value for it, so the input is refused, up front."""
    names = {fold(n): n for n in schema.names}
    for name in generated:
        if fold(name) in names:
            raise SchemaMismatchError(
                f"table {table!r} has column {name!r} GENERATED ALWAYS: SQLite computes its values, "
                "and the input's cannot be written",
                column=names[fold(name)],
                hint='leave the column out of the input (a [[transform]] type = "drop"), then rerun',
            )


@contextlib.contextmanager
def naming_file(file: str) -> Iterator[None]:
    """A column the target lacks, or one a setting names that the file lacks, found while
    one input file's rows are prepared for or written (a stage may make one as the rows go
    by), names that file."""
    try:
        yield
    except (SchemaMismatchError, MissingColumnError) as exc:
        if exc.file is None:
            exc.file = file
        folders = {fold(k) for k in path_values(file)}
        if isinstance(exc, SchemaMismatchError) and exc.hint == exc.default_hint and fold(exc.column or "") in folders:
            # a table made before its input's folders became columns (or from other files)
            exc.hint = (
                f"the column is the path's folder {exc.column}=...: set sink.alter = true (--alter) to add it, "
                'or source.partitioning = "none" (--partitioning none) to load without folder columns, then rerun'
            )
        raise


def prepare_for(writer: Writer, schema: pa.Schema, *, fresh: bool, file: str) -> None:
    """``writer.prepare`` for one input file's rows."""
    with naming_file(file):
        writer.prepare(schema, fresh=fresh)
