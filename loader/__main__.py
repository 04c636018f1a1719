"""``python -m loader`` and the ``loader`` command."""

import gc
import os
import sys

# Arrow's jemalloc, read when it starts: one arena for every thread (memory one thread
# frees, the others reuse), freed pages returned after 250 ms instead of 1 s, and purged
# outright rather than left to the kernel (MADV_FREE pages count in RSS until reclaimed).
JEMALLOC_CONF = "narenas:1,dirty_decay_ms:250,muzzy_decay_ms:0"


def main() -> int:
    # Importing loader's modules and pyarrow makes tens of thousands of objects and no
    # garbage: the collections their allocations trigger cost ~6 ms of a ~105 ms start.
    was = gc.isenabled()
    gc.disable()
    try:
        # The first thing imported: a signal while the command starts stops its run with a
        # report. (Before this, SIGTERM has its default action, which kills the process
        # unsaid, or, for PID 1 in a container without an init, is dropped by the kernel.)
        from .stopping import listen_early

        listen_early()
        # Arrow fixes its default memory pool when pyarrow starts, so the choice is
        # made here, before anything imports it: jemalloc returns freed memory to the
        # OS where mimalloc kept it (bench CSV -> SQLite peak RSS 113-116 MB instead
        # of 126 MB when the pool was switched later). A user's own choice wins.
        if sys.platform.startswith("linux"):
            os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
            os.environ.setdefault("JE_ARROW_MALLOC_CONF", JEMALLOC_CONF)  # a user's own wins too
        # pyarrow imports numpy, whose OpenBLAS starts a spinning thread per core that loader
        # never uses (no matrix algebra): ~0.1 s of CPU every start, and in every worker.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from .compat import spare_pandas_import

        spare_pandas_import()  # before the first Arrow conversion, which would import pandas
        from .cli import main as cli_main
    finally:
        if was:
            gc.enable()
    code = cli_main()
    from .stopping import abandoned

    if abandoned():  # a storage request a signal stopped the wait for: exit now, not after its timeouts
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    # The process ends now, every file and database closed: spare it the
    # collector's last pass over every object at exit (~14 ms).
    gc.freeze()
    return code


def _drop_current_directory() -> None:
    """``python -m loader`` puts the current directory first on ``sys.path``, the ``loader``
    command does not: taken off, a job's python stages import from the same places under both
    (the job file's directory, the installed packages, PYTHONPATH). Kept where loader itself
    is imported from there (a source checkout run without installing it)."""
    here = os.getcwd()
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if sys.path and sys.path[0] in ("", here) and package != here:
        del sys.path[0]


if __name__ == "__main__":
    _drop_current_directory()
    sys.exit(main())
