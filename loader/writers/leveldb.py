"""LevelDB writer: a ``WriteBatch`` per batch, written atomically with its checkpoint.

Keys come from a template over columns (see ``KeyTemplate``); values are a
JSON object of the row's columns or one column's raw bytes, both built
column-wise. Checkpoints live under the reserved prefix ``b"\\xff"``: no UTF-8
key can start with that byte, so they never collide with data keys and sort
after all of them.
"""

from __future__ import annotations

import time
from typing import Any

import plyvel
import pyarrow as pa
import pyarrow.compute as pc

from ..chunk import Chunk
from ..config import SinkConfig
from ..errors import RESUME_HINT, ConfigError, SinkError, TargetLockedError
from .base import Transactional
from .encode import KeyTemplate, json_objects, raw_values

STATE_PREFIX = b"\xffloader-state\x00"


def _text(exc: BaseException) -> str:
    """plyvel puts LevelDB's status text in bytes; show it as text."""
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def state_key(job: str, key: str) -> bytes:
    return STATE_PREFIX + job.encode() + b"\x00" + key.encode()


class LevelDBWriter(Transactional):
    """Loads batches into a LevelDB directory. Use as a context manager."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.target = config.path
        assert config.key is not None
        self.template = KeyTemplate(config.key)
        self.db: Any = None
        self.wb: Any = None
        self.columns: list[str] = []

    def __enter__(self) -> LevelDBWriter:
        # another process holding LOCK: retry with a growing delay for up to sink.busy_timeout
        deadline = time.monotonic() + self.config.busy_timeout
        delay = 0.05
        while True:
            try:
                self.db = plyvel.DB(
                    self.config.path,
                    create_if_missing=True,
                    write_buffer_size=self.config.write_buffer_size,
                    compression=None if self.config.compression == "none" else "snappy",
                )
                return self
            except plyvel.IOError as exc:
                if "lock" not in _text(exc).lower():
                    raise SinkError(f"cannot open LevelDB: {_text(exc)}", file=self.config.path) from None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TargetLockedError(
                        "LevelDB is locked by another program "
                        f"(still locked after sink.busy_timeout = {self.config.busy_timeout:g}s)",
                        file=self.config.path,
                        hint="another process has this LevelDB open; retry when it ends, or raise sink.busy_timeout",
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)
            except plyvel.Error as exc:
                raise SinkError(f"cannot open LevelDB: {_text(exc)}", file=self.config.path) from None

    def rollback(self) -> None:
        if self.wb is not None:
            self.wb.clear()  # staged puts are dropped, never half-written
        self.wb = None

    def close(self) -> None:
        self.wb = None
        if self.db is not None:
            self.db.close()
            self.db = None

    def describe(self) -> str:
        return f"{self.config.path} (key {self.config.key})"

    # --------------------------------------------------------------- state

    def read_state(self, job: str) -> dict[str, str]:
        prefix = state_key(job, "")
        return {k[len(prefix) :].decode(): v.decode() for k, v in self.db.iterator(prefix=prefix)}

    def clear_state(self, job: str) -> None:
        with self.db.write_batch(transaction=True) as wb:
            for k in self.db.iterator(prefix=state_key(job, ""), include_value=False):
                wb.delete(k)

    # ---------------------------------------------------------------- rows

    def prepare(self, schema: pa.Schema, *, fresh: bool) -> None:
        missing = self.template.missing(schema.names)
        if missing:
            raise ConfigError(
                f"sink.key: no column {missing[0]!r} in the data",
                hint="columns are: " + ", ".join(schema.names),
            )
        if self.config.value != "json" and self.config.value not in schema.names:
            raise ConfigError(
                f"sink.value: expected 'json' or a column name, got {self.config.value!r}",
                hint="columns are: " + ", ".join(schema.names),
            )
        if fresh and self.config.mode == "replace":
            self._wipe()

    def _wipe(self) -> None:
        """``replace``: delete every data key (checkpoints live after them)."""
        wb = self.db.write_batch(transaction=True)
        # a rerun after a crash mid-wipe wipes again, so bounded batches are safe
        for n, k in enumerate(self.db.iterator(stop=b"\xff", include_value=False), 1):
            wb.delete(k)
            if n % 100_000 == 0:
                wb.write()
                wb = self.db.write_batch(transaction=True)
        wb.write()

    def adapt(self, chunk: Chunk) -> Chunk:
        """Rows whose key would be null cannot be stored: reject them."""
        batch = chunk.batch
        for name in self.template.columns:
            nulls = pc.is_null(batch.column(name))
            if pc.any(nulls).as_py():
                chunk = chunk.reject(nulls, f"key column {name!r} is null", stage="write", column=name)
                batch = chunk.batch
        return chunk

    def encode(self, batch: pa.RecordBatch) -> tuple[list[bytes], list[bytes]]:
        """Keys and values as ready-made bytes. Touches no database, so the
        pipeline runs it in the read-ahead thread, off the writing thread."""
        keys = pc.cast(self.template.render(batch), pa.binary()).to_pylist()
        value = self.config.value
        return keys, json_objects(batch) if value == "json" else raw_values(batch.column(value))

    def write(self, batch: pa.RecordBatch, encoded: tuple[list[bytes], list[bytes]] | None = None) -> int:
        if batch.num_rows == 0:
            return 0
        keys, values = encoded if encoded is not None else self.encode(batch)
        if self.wb is None:
            self.wb = self.db.write_batch(transaction=True, sync=self.config.sync)
        put = self.wb.put
        if self.config.mode == "ignore":
            get = self.db.get
            for k, v in zip(keys, values, strict=True):
                if get(k) is None:
                    put(k, v)
        else:
            for k, v in zip(keys, values, strict=True):
                put(k, v)
        return batch.num_rows

    def commit(self, job: str, state: dict[str, str]) -> None:
        if self.wb is None:
            self.wb = self.db.write_batch(transaction=True, sync=self.config.sync)
        for k, v in state.items():
            self.wb.put(state_key(job, k), v.encode())
        try:
            self.wb.write()
        except plyvel.Error as exc:
            raise SinkError(f"LevelDB write failed: {_text(exc)}", file=self.config.path, hint=RESUME_HINT) from None
        finally:
            self.wb = None

    def finish(self) -> None:
        return None
