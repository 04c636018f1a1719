"""What a sink is: one object that owns every fact about one kind of target.

A sink names its type and the path suffixes that choose it, checks and fills in
its ``[sink]`` keys, says which files its database writes beside or inside the
target, names a job, describes its target in a plan, states what its writer
costs in memory, hands out the encoder the pipeline maps over chunks, and opens
its writer. The pipeline asks these questions and never branches on the type
(see ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import pyarrow as pa

from .. import kernels
from ..chunk import Chunk, Reject
from ..errors import LoaderError
from ..suggest import fold

if TYPE_CHECKING:
    from ..config import RunConfig, SinkConfig, SourceConfig
    from ..schema import TextForm
    from ..writers.base import Writer


class Peek(NamedTuple):
    """What an existing target holds for a run, read without creating or changing anything
    (``--dry-run``); empty where there is none."""

    entries: dict[str, str]
    """The job's checkpoint entries."""
    declared: dict[str, str]
    """The table's columns and their declared types."""
    required: tuple[str, ...] = ()
    """The table's columns every input must hold: it gives them no value of its own
    (SQLite: NOT NULL without a default)."""
    generated: tuple[str, ...] = ()
    """The table's columns no input may hold: it computes their values (SQLite: GENERATED)."""
    fixed: bool = False
    """The table takes no new columns, ``alter`` or not (SQLite: a virtual table)."""
    note: str | None = None
    """Why the target was not read, for the plan to say (SQLite: a crashed writer's pending journal)."""
    unusable: tuple[tuple[str | None, LoaderError], ...] = ()
    """Why the table takes no rows as its schema stands (SQLite: a trigger calling a function
    the loader lacks): with None, any input; with a column, an input without that column
    (its DEFAULT is what fails)."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """A chunk made ready for one sink: its rows the target can hold (rows it cannot
    hold moved to the chunk's rejects) and the sink's payload for those rows. ``refused``:
    rows of the payload the target's table refused by a constraint of its own, which the
    writer adds as it writes them (written to the reject file with the chunk's rejects)."""

    chunk: Chunk
    payload: Any = None
    refused: list[Reject] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return int(self.chunk.batch.num_rows)


Encoder = Callable[[Chunk], Encoded]
"""Pure: no database handle and no shared state, safe on any thread of a pool."""


def reject_null_keys(chunk: Chunk, columns: Iterable[str], *, fold_case: bool = False) -> Chunk:
    """``chunk`` without the rows whose value in a key column is null (a column the rows
    lack is null in every row): they go to the rejects, the column named. A null key
    would be stored under no key at all, or under one the database picks. ``fold_case``:
    ``ID`` names the column ``id`` (SQLite's names)."""
    for name in columns:
        if fold_case:
            name = next((n for n in chunk.batch.schema.names if fold(n) == fold(name)), name)
        if name not in chunk.batch.schema.names:
            bad = pa.array([True] * chunk.batch.num_rows, pa.bool_())
        elif chunk.batch.column(name).null_count:  # known without a pass over the column
            bad = kernels.is_null(chunk.batch.column(name))
        else:
            continue
        chunk = chunk.reject(bad, f"key column {name!r} is null", stage="write", column=name)
    return chunk


def reject_repeated_map_keys(chunk: Chunk, columns: Iterable[str] | None = None) -> Chunk:
    """``chunk`` without the rows whose map, in one of ``columns`` (None: every column) and at
    any depth, repeats a key: they go to the rejects, the column and the key named. Its JSON
    object would keep one value of the key and lose the others (``repeated_map_keys``)."""
    from ..writers.encode import repeated_map_keys

    names = chunk.batch.schema.names
    for name in names if columns is None else [n for n in dict.fromkeys(columns) if n in names]:
        # the column as it is now: a reject by an earlier column has dropped rows
        found = repeated_map_keys(chunk.batch.column(name), name)
        if found is not None:
            chunk = chunk.reject(found[0], found[1], stage="write", column=name)
    return chunk


# Room above a sink's floor (``Sink.floor_mb``) kept for run-to-run variation (LevelDB's
# compaction timing, a floor measured on fewer runs): never shared out among the sizes.
FLOOR_MARGIN_MB = 8
# Peak resident MB per MiB of CSV block a parsing worker reads: the raw bytes, the parsed
# table and its converted columns, and what the writer then holds of its rows (bench/NOTES.md).
BLOCK_MB_PER_MIB = 40


def at_most(asked: int, fitted: int, smallest: int) -> int:
    """A size under a ceiling: ``fitted`` (the room's share), never below ``smallest`` (what
    the floor was measured at) and never above ``asked`` (the job's own, set or default): a
    ceiling only ever shrinks what the job asked for."""
    return min(asked, max(smallest, fitted))


@dataclass(frozen=True)
class MemoryProfile:
    """What a sink's writer costs in memory, for ``memory.fit_memory``."""

    floor_mb: dict[str, int]
    """Resident MB at the smallest sizes before any data, per reader ("csv", "parquet", "jsonl", "arrow")."""
    row_bytes: int
    """Resident bytes per row in flight: Arrow columns plus what the encoder makes of them."""
    holds: str = ""
    """What besides the runtime the floor holds, for the refusal of a lower ceiling."""
    batches_in_memory: bool = False
    """An open batch is held whole in memory until its commit: halve it near the ceiling."""
    file_kb: float = 3.0
    """Resident KB a run keeps of each input file until it ends (its plan, checkpoint state and
    report entry, what the sink keeps of its commits), measured on thousands of tiny files."""
    entry_kb: float = 3.5
    """Resident KB each entry of the job's checkpoint costs a run (read and parsed whole before
    any row: an entry per file the job ever loaded, and per part an engine committed)."""


class Sink(Protocol):
    """One kind of target. Registered in ``loader.sinks``; a new one is one module."""

    name: str
    suffixes: tuple[str, ...]
    """Path suffixes (lower case) that choose this sink when ``sink.type`` is not set."""
    side_files: tuple[str, ...]
    """Suffixes of files the database writes beside the target (``out.db-wal``)."""
    inner_files: tuple[str, ...]
    """Names of files the database writes inside a target directory."""
    memory: MemoryProfile
    keys: frozenset[str]
    """The ``[sink]`` keys only this sink takes (``table``, ``key``): another sink refuses
    them when set (``sinks.refuse_others_keys``)."""
    encoder_thread: bool
    """The encoder is a large share of a load's work (LevelDB's JSON values and keys): it
    runs on a thread of its own between the reading and the writer (one more chunk in
    flight, which ``memory.fit_memory`` counts). A light one runs where the rows are read."""

    def resolve(self, sink: SinkConfig, source: SourceConfig) -> SinkConfig:
        """The ``[sink]`` keys checked and their defaults filled in, as a new config."""
        ...

    def default_workers(self, source_format: str | None, cpus: int) -> int:
        """``run.workers`` when it is not set."""
        ...

    def table(self, sink: SinkConfig, paths: list[str]) -> str | None:
        """The table rows go to, for sinks that have tables."""
        ...

    def job_name(self, sink: SinkConfig, paths: list[str]) -> str:
        """A job's default name: what its checkpoint is stored under."""
        ...

    def gone(self, sink: SinkConfig) -> str | None:
        """Why the target is gone under the checkpoints it keeps, found without opening it
        (an open would make a LevelDB store anew and hide that it was gone); None where it is
        there, or where only an open can tell (``Writer.gone``)."""
        ...

    def floor_mb(self, sink: SinkConfig, reader: str) -> int:
        """Resident MB at the smallest sizes before any data, for ``reader`` ("csv", "parquet",
        "jsonl" or "arrow"): ``memory.floor_mb`` unless the sink's settings change it."""
        ...

    def margin_mb(self, sink: SinkConfig) -> int:
        """Room kept above the floor for run-to-run variation: never shared out among the sizes."""
        ...

    def block_mb_per_mib(self, sink: SinkConfig) -> int:
        """Peak resident MB per MiB of CSV block (each parsing worker's), for sharing out
        the room above the floor."""
        ...

    def plan_line(self, sink: SinkConfig, paths: list[str]) -> str:
        """The ``target:`` line of ``--dry-run``."""
        ...

    def check_schema(self, sink: SinkConfig, schema: pa.Schema, entries: dict[str, str] | None = None) -> None:
        """Refuse, before a row is read, data the keys or values cannot be made from (with
        ``entries``, the job's checkpoint entries in the target: as the job's keys there are)."""
        ...

    def warnings(self, sink: SinkConfig, schema: pa.Schema) -> list[str]:
        """What the settings make of data of ``schema`` that loads but may not be what was
        meant (LevelDB: key fields that run together): the summary's and the dry run's warnings."""
        ...

    def check_checkpoint(self, sink: SinkConfig, run: RunConfig, entries: dict[str, str]) -> None:
        """Refuse, before a row is read, a load the job's checkpoint ``entries`` cannot go on
        from (LevelDB: the sorted runs it names are gone); the run and the dry run alike."""
        ...

    def name_clash(self, names: list[str]) -> str | None:
        """Why two of ``names`` would be one column in the target (SQLite's names match in any
        ASCII case), or None where the target tells them all apart."""
        ...

    def peek(self, sink: SinkConfig, paths: list[str], job: str) -> Peek:
        """An existing target's checkpoint entries of ``job``, its declared column types and
        the columns it requires, read without creating or changing anything (``--dry-run``)."""
        ...

    def named_columns(self, entries: dict[str, str], declared: dict[str, str]) -> list[str]:
        """The columns, in order, earlier loads made in the target (``declared``: a table's;
        ``entries``: the job's checkpoint entries, those --restart keeps too): a header an
        earlier version named otherwise keeps the names they hold (``readers.base.Naming``)."""
        ...

    def first_values(self, sink: SinkConfig, paths: list[str], columns: list[str]) -> dict[str, Any]:
        """Of ``columns`` of the table ``peek`` read, each one's first value that is not null
        (``Writer.first_values``), read without creating or changing anything (``--dry-run``)."""
        ...

    def width_check(self) -> Callable[[int, str], None] | None:
        """A limit on the column count, checked on a header; None for none."""
        ...

    def fit_memory(self, sink: SinkConfig, chunk: int, spare_mb: float) -> SinkConfig:
        """The sink's own sizes within its share of ``spare_mb``."""
        ...

    def sizes(self, sink: SinkConfig) -> dict[str, int]:
        """The sink's own sizes a run uses, for its report."""
        ...

    def encoder(self, sink: SinkConfig, writer: Writer, forms: Mapping[str, TextForm] | None = None) -> Encoder:
        """The function the pipeline maps over chunks before ``writer.write``. ``forms``, given
        only where there are some: an existing table's columns of date-time text
        (``schema.text_forms``, from ``Writer.first_values``), which timestamps are written into in that form."""
        ...

    def open_writer(self, sink: SinkConfig, paths: list[str], run: RunConfig | None = None) -> Writer:
        """The writer for this target (a context manager); ``run``: the run's settings, when loading."""
        ...


class SinkBase:
    """Defaults for a sink with no tables, no extra files and no sizes of its own."""

    name: str = ""
    suffixes: tuple[str, ...] = ()
    side_files: tuple[str, ...] = ()
    inner_files: tuple[str, ...] = ()
    memory: MemoryProfile = MemoryProfile({"csv": 75, "parquet": 91, "jsonl": 75, "arrow": 75}, 250)
    keys: frozenset[str] = frozenset()
    encoder_thread: bool = False
    default_batch_size: int = 50_000

    def resolve(self, sink: SinkConfig, source: SourceConfig) -> SinkConfig:
        return sink if sink.batch_size is not None else replace(sink, batch_size=self.default_batch_size)

    def default_workers(self, source_format: str | None, cpus: int) -> int:
        return 1

    def table(self, sink: SinkConfig, paths: list[str]) -> str | None:
        return None

    def job_name(self, sink: SinkConfig, paths: list[str]) -> str:
        return f"{self.name}:{sink.path}"

    def gone(self, sink: SinkConfig) -> str | None:
        return None

    def floor_mb(self, sink: SinkConfig, reader: str) -> int:
        return self.memory.floor_mb[reader]

    def margin_mb(self, sink: SinkConfig) -> int:
        return FLOOR_MARGIN_MB

    def block_mb_per_mib(self, sink: SinkConfig) -> int:
        return BLOCK_MB_PER_MIB

    def plan_line(self, sink: SinkConfig, paths: list[str]) -> str:
        return f"target: {self.name} {sink.path}, mode {sink.mode}"

    def check_schema(self, sink: SinkConfig, schema: pa.Schema, entries: dict[str, str] | None = None) -> None:
        return None

    def warnings(self, sink: SinkConfig, schema: pa.Schema) -> list[str]:
        return []

    def check_checkpoint(self, sink: SinkConfig, run: RunConfig, entries: dict[str, str]) -> None:
        return None

    def named_columns(self, entries: dict[str, str], declared: dict[str, str]) -> list[str]:
        return list(declared)  # a table's columns, in its order

    def name_clash(self, names: list[str]) -> str | None:
        return None  # every spelling its own column (LevelDB's JSON keys)

    def peek(self, sink: SinkConfig, paths: list[str], job: str) -> Peek:
        return Peek({}, {})

    def first_values(self, sink: SinkConfig, paths: list[str], columns: list[str]) -> dict[str, Any]:
        return {}

    def width_check(self) -> Callable[[int, str], None] | None:
        return None

    def fit_memory(self, sink: SinkConfig, chunk: int, spare_mb: float) -> SinkConfig:
        return sink

    def sizes(self, sink: SinkConfig) -> dict[str, int]:
        return {}
