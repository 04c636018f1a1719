"""What every writer is: a context manager that commits rows with a checkpoint.

The pipeline calls, in order: ``read_state`` (checkpoints of earlier runs),
``prepare`` (create the table, or wipe for replace), then for each chunk
``adapt`` (reject rows the target cannot hold) and ``write`` (stage rows in
the open transaction), and ``commit`` with the new checkpoint entries, which
are written in the same atomic unit as the rows. ``finish`` runs after the
last commit (indexes). On an exception ``__exit__`` rolls back what was not
committed and re-raises.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from ..chunk import Chunk


class Transactional:
    """The exit half of every writer: on an exception, roll back what is not
    committed, close, and let the exception go on (never swallow it)."""

    def rollback(self) -> None:
        raise NotImplementedError

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

    def read_state(self, job: str) -> dict[str, str]: ...

    def column_types(self) -> dict[str, str]:
        """Columns the target declares already, with their SQL types ({} where none)."""
        ...

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None: ...

    def adapt(self, chunk: Chunk) -> Chunk: ...

    def encode_columns(self, batch: pa.RecordBatch) -> tuple[pa.Array, ...] | None:
        """The part of ``encode`` that is Arrow kernels only: no database, no state,
        safe on any thread. With no stages in the job, the CSV reader's parse workers
        run it beside the parsing (``Chunk.premade``), before ``adapt``: for a batch
        ``adapt`` would change it returns None rather than fail."""
        ...

    def encode(self, batch: pa.RecordBatch, premade: tuple[pa.Array, ...] | None = None) -> Any:
        """What ``write`` needs, made from Arrow columns (from ``premade`` where
        ``encode_columns`` has run already); runs off the writing thread."""
        ...

    def write(self, batch: pa.RecordBatch, encoded: Any = None) -> int: ...

    def commit(self, job: str, state: dict[str, str]) -> None: ...

    def clear_state(self, job: str) -> None: ...

    def finish(self) -> None: ...

    def describe(self) -> str: ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: Any) -> None: ...
