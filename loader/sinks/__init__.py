"""The sinks a load can write, by name: each one module, registered here.

A new sink is a module with a ``Sink`` object (see ``base``) and one
``register(...)`` line; the pipeline, the memory fitting and the path checks
ask it and never name a type.
"""

from __future__ import annotations

import difflib

from ..config import SinkConfig
from ..errors import ConfigError
from .base import Encoded, Encoder, MemoryProfile, Sink, SinkBase
from .leveldb import LevelDBSink
from .sqlite import SQLiteSink

__all__ = [
    "Encoded",
    "Encoder",
    "MemoryProfile",
    "Sink",
    "SinkBase",
    "for_path",
    "get",
    "names",
    "others_keys",
    "refuse_others_keys",
    "register",
]

_SINKS: dict[str, Sink] = {}


def register(sink: Sink) -> Sink:
    """Make ``sink`` available by its name and path suffixes (a later one with the same name wins)."""
    _SINKS[sink.name] = sink
    return sink


def names() -> list[str]:
    return list(_SINKS)


def suffix_list() -> str:
    """The path suffixes that choose a sink, for messages: ``.db/.sqlite (sqlite) or .ldb (leveldb)``."""
    return " or ".join(f"{'/'.join(s.suffixes)} ({s.name})" for s in _SINKS.values() if s.suffixes)


def get(name: str) -> Sink:
    try:
        return _SINKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, names(), n=1)
        raise ConfigError(
            f"sink.type: no sink {name!r}",
            hint=f"did you mean {close[0]!r}?" if close else "sinks are: " + ", ".join(names()),
        ) from None


def others_keys(own: Sink) -> dict[str, Sink]:
    """The ``[sink]`` keys ``own`` does not take, each with the sink that does: each sink's
    ``keys`` name what only it takes."""
    return {key: other for other in _SINKS.values() for key in sorted(other.keys - own.keys)}


def refuse_others_keys(sink: SinkConfig) -> None:
    """A key of another sink set for this one (``--sync`` on SQLite, ``--table`` on LevelDB)
    is a mistake to say, not a setting to drop."""
    own = get(str(sink.type))
    defaults = SinkConfig(path=sink.path)
    for key, other in others_keys(own).items():
        if getattr(sink, key) != getattr(defaults, key):
            raise ConfigError(f"sink.{key}: applies to {other.name} sinks, not {own.name}")


def for_path(path: str) -> Sink | None:
    """The sink whose suffix ends ``path`` (a directory's trailing slash ignored)."""
    name = path.lower().rstrip("/")
    return next((s for s in _SINKS.values() if name.endswith(s.suffixes)), None)


register(SQLiteSink())
register(LevelDBSink())
