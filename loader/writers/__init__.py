"""Writers, one per database; ``open_writer`` picks one for a sink config."""

from __future__ import annotations

from ..config import SinkConfig
from .base import Writer
from .encode import KeyTemplate, sqlite_type
from .leveldb import LevelDBWriter
from .sqlite import SQLiteWriter, quote

__all__ = ["KeyTemplate", "LevelDBWriter", "SQLiteWriter", "Writer", "open_writer", "quote", "sqlite_type"]


def open_writer(config: SinkConfig, table: str | None = None) -> Writer:
    if config.type == "leveldb":
        return LevelDBWriter(config)
    return SQLiteWriter(config, table or config.table or "data")
