"""loader: stream CSV and Parquet files into SQLite or LevelDB with bounded memory.

The Python API and the CLI are the same thing: build a ``JobConfig`` (or read
one with ``Pipeline.from_config``), then ``Pipeline(job).run()`` returns a
``RunReport``. ``load()`` does both in one call.
"""

__version__ = "0.1.0"

from .chunk import Chunk, Reject
from .config import JobConfig, RunConfig, SinkConfig, SourceConfig, load_job
from .errors import (
    ConfigError,
    InterruptedLoad,
    LoaderError,
    RejectLimitError,
    SinkError,
    SourceChangedError,
    SourceError,
    TargetLockedError,
)
from .pipeline import Pipeline, Plan, load
from .report import RunReport

__all__ = [
    "Chunk",
    "ConfigError",
    "InterruptedLoad",
    "JobConfig",
    "LoaderError",
    "Pipeline",
    "Plan",
    "Reject",
    "RejectLimitError",
    "RunConfig",
    "RunReport",
    "SinkConfig",
    "SinkError",
    "SourceChangedError",
    "SourceConfig",
    "SourceError",
    "TargetLockedError",
    "load",
    "load_job",
]
