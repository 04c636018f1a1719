"""loader: stream CSV, Parquet, JSON Lines and Arrow IPC files into SQLite or LevelDB with bounded memory.

The Python API and the CLI are the same thing: build a ``JobConfig`` (or read
one with ``Pipeline.from_config``), then ``Pipeline(job).run()`` returns a
``RunReport``. ``load()`` does both in one call (``loader/api.py``).
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .compat import spare_pandas_import

# Before any of loader's modules makes an Arrow array (some do as they are imported): pyarrow's
# first conversion would import pandas, ~55 MB resident, for a library load as for the command.
spare_pandas_import()

if TYPE_CHECKING:
    from .api import RunOptions, SinkOptions, SourceOptions, load
    from .chunk import Chunk, Reject
    from .config import JobConfig, RunConfig, SinkConfig, SourceConfig, load_job
    from .errors import (
        ConfigError,
        EngineError,
        InterruptedLoad,
        LoaderError,
        MissingInputError,
        NothingLoadedError,
        RejectLimitError,
        SinkError,
        SourceChangedError,
        SourceError,
        TargetLockedError,
        TransformError,
    )
    from .pipeline import Pipeline, Plan
    from .report import RunReport

# Names are imported on first use: ``import loader`` alone does not load
# pyarrow, which lets the CLI choose Arrow's memory pool before pyarrow starts.
_MODULES = {
    "Chunk": "chunk",
    "Reject": "chunk",
    "JobConfig": "config",
    "RunConfig": "config",
    "SinkConfig": "config",
    "SourceConfig": "config",
    "load_job": "config",
    "ConfigError": "errors",
    "InterruptedLoad": "errors",
    "LoaderError": "errors",
    "MissingInputError": "errors",
    "NothingLoadedError": "errors",
    "RejectLimitError": "errors",
    "SinkError": "errors",
    "SourceChangedError": "errors",
    "SourceError": "errors",
    "TargetLockedError": "errors",
    "TransformError": "errors",
    "EngineError": "errors",
    "Pipeline": "pipeline",
    "Plan": "pipeline",
    "load": "api",
    "RunOptions": "api",
    "SinkOptions": "api",
    "SourceOptions": "api",
    "RunReport": "report",
}


__getattr__ = lazy_attributes(__name__, _MODULES)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


__all__ = [
    "Chunk",
    "ConfigError",
    "EngineError",
    "InterruptedLoad",
    "JobConfig",
    "LoaderError",
    "MissingInputError",
    "NothingLoadedError",
    "Pipeline",
    "Plan",
    "Reject",
    "RejectLimitError",
    "RunConfig",
    "RunOptions",
    "RunReport",
    "SinkConfig",
    "SinkError",
    "SinkOptions",
    "SourceChangedError",
    "SourceConfig",
    "SourceError",
    "SourceOptions",
    "TargetLockedError",
    "TransformError",
    "load",
    "load_job",
]
