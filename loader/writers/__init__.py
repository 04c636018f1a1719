"""Writers, one per database; ``open_writer`` picks one for a sink config.

Each writer is imported when first used, so a SQLite load never loads LevelDB
and the other way round.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from ..config import SinkConfig
from .base import Writer
from .encode import KeyTemplate, sqlite_type

if TYPE_CHECKING:
    from .leveldb import LevelDBWriter
    from .sqlite import SQLiteWriter
    from .sqlite_schema import quote

__all__ = ["KeyTemplate", "LevelDBWriter", "SQLiteWriter", "Writer", "open_writer", "quote", "sqlite_type"]


__getattr__ = lazy_attributes(
    __name__, {"LevelDBWriter": "leveldb", "SQLiteWriter": "sqlite", "quote": "sqlite_schema"}
)


def open_writer(config: SinkConfig, table: str | None = None) -> Writer:
    """The writer of ``config``'s sink (``table`` names a SQLite table)."""
    from .. import sinks

    config = dataclasses.replace(config, table=table) if table else config
    return sinks.get(str(config.type)).open_writer(config, [])
