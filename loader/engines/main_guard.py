"""Whether the main script runs this load again in each spawned worker.

A spawned worker (``run.engine = "processes"`` or a local Dask cluster, when a fork is not
safe) imports the main module, as ``__mp_main__``, before it takes work: a script that calls
``load()`` outside ``if __name__ == "__main__":`` would start the load again there.
"""

from __future__ import annotations

import ast
import inspect
import sys
import threading
from types import FrameType

from ..compat import spawn_bootstrapping
from ..errors import EXIT_USAGE, EngineError

SHOWN_THREADS = 4  # a refusal names this many threads, then says how many more


def unguarded_call() -> tuple[str, int] | None:
    """The main script's path and the line of its top level that is running this load,
    where that line is outside ``if __name__ == "__main__":``; None otherwise (a call from
    a function, or a main module without a source file: nothing to run again)."""
    return _unguarded_line(inspect.currentframe())


def unguarded_main_thread() -> tuple[str, int] | None:
    """The main script's path and the line of its top level that the main thread is
    running, where that line is outside ``if __name__ == "__main__":``; None otherwise.
    A load on another thread was started from there (its ``join()``, a server's loop), and
    a worker importing the script runs that line again. Once the main thread is past the
    script's top level, no frame says which line started the thread: None."""
    main = threading.main_thread()
    if main is threading.current_thread() or main.ident is None:
        return None
    return _unguarded_line(sys._current_frames().get(main.ident))


def _unguarded_line(frame: FrameType | None) -> tuple[str, int] | None:
    """The main script's path and the line of its top level in ``frame``'s stack, where
    that line is outside ``if __name__ == "__main__":``; None otherwise."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None or not isinstance(path, str):
        return None
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return None
    statement = next((s for s in tree.body if s.lineno <= line <= (s.end_lineno or s.lineno)), None)
    return None if statement is None or _is_guard(statement) else (path, line)


def _is_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.comparators) != 1:
        return False
    sides = [node.test.left, node.test.comparators[0]]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    texts = {s.value for s in sides if isinstance(s, ast.Constant)}
    return isinstance(node.test.ops[0], ast.Eq) and names == {"__name__"} and texts == {"__main__"}


def refuse_daemonic(engine: str) -> None:
    """Refuse worker processes ``multiprocessing`` would start from a daemonic process (a
    ``multiprocessing.Pool``'s worker, a Dask worker's task): it refuses a daemonic process
    children, raw (``AssertionError``, Dask's "Nanny failed to start"), however often the
    load is run again."""
    import multiprocessing

    if not multiprocessing.current_process().daemon:
        return
    raise _refusal(
        f"run.engine = {engine!r} starts {_whose(engine)} worker processes, and this process is a daemonic worker "
        "(a multiprocessing.Pool's, a Dask worker's), which cannot start worker processes",
        hint="use run.engine = 'threads' in this process, "
        "or load from a process that is not daemonic (docs/engines.md)",
    )


def refuse_unguarded(engine: str, fork: bool) -> None:
    """Refuse spawned workers where they would run the load again: in the script (found
    before any worker starts), or in a worker importing it (``spawn``'s bootstrap); or
    where they cannot import it at all (``unimportable_main``).
    ``fork``: the job let them be forked (``run.fork_workers``)."""
    if spawn_bootstrapping():
        why = "this process is a spawned worker importing the main script"
        raise unguarded_error(engine, why, spawn_reason(fork))
    if unimportable_main():
        raise _refusal(
            f"run.engine = {engine!r} spawns {_whose(engine)} workers ({spawn_reason(fork)}), and each imports the "
            "main script, which this process read from standard input: no worker can import it",
            hint="save the script to a file and run that, or use run.engine = 'threads' (docs/engines.md)",
        )
    found = unguarded_call()
    if found is not None:
        path, line = found
        why = f'{path} calls this load at line {line}, outside if __name__ == "__main__"'
        raise unguarded_error(engine, why, spawn_reason(fork))
    found = unguarded_main_thread()
    if found is not None:
        path, line = found
        why = f'{path} runs line {line} on its main thread, outside if __name__ == "__main__", while this load runs'
        raise unguarded_error(engine, why, spawn_reason(fork))


def unimportable_main() -> bool:
    """Whether a spawned worker would fail to import the main script: ``multiprocessing``
    runs the main module's ``__file__`` again (one not run with ``-m``), and a script read
    from standard input (``python - < job.py``) has ``<stdin>`` there, no file. A main module
    without ``__file__`` (``python -c``, a console) is not imported at all."""
    main = sys.modules.get("__main__")
    return getattr(main, "__spec__", None) is None and getattr(main, "__file__", None) == "<stdin>"


def spawn_reason(fork: bool) -> str:
    """Why the workers are spawned, not forked: the job says so, or a fork is not safe
    here (``forking.can_fork``)."""
    if not fork:
        return "fork_workers = false"
    if not sys.platform.startswith("linux"):
        return f"workers are forked on Linux only, this is {sys.platform}"
    if threading.current_thread() is not threading.main_thread():
        return "the load runs off the main thread"
    names = other_threads()
    if not names:
        return "this process has other threads"
    shown = ", ".join(names[:SHOWN_THREADS]) + (
        f" and {len(names) - SHOWN_THREADS} more" if names[SHOWN_THREADS:] else ""
    )
    # named: they may be a library's, left by an earlier load (Dask's, after a ``dask`` one)
    return f"this process has other threads: {shown}"


def other_threads() -> list[str]:
    """The names of the threads that keep a fork from being safe (``forking.can_fork``):
    Python's other than this one, else the native ones of libraries not known to survive a fork."""
    me = threading.current_thread()
    names = [t.name for t in threading.enumerate() if t is not me]
    if names:
        return names
    from ..forking import foreign_threads

    return [n for n in foreign_threads(python={me.native_id} if me.native_id is not None else set()) if n != "?"]


def unguarded_error(engine: str, why: str, because: str) -> EngineError:
    return _refusal(
        f"run.engine = {engine!r} spawns {_whose(engine)} workers ({because}), and each runs "
        f"the main script's top level again: {why}",
        hint='put the script\'s load under if __name__ == "__main__":, then rerun (docs/engines.md)',
    )


def _whose(engine: str) -> str:
    """Whose worker processes ``engine`` starts, in a refusal."""
    return "its local Dask cluster's" if engine == "dask" else "its"


def _refusal(message: str, hint: str) -> EngineError:
    """An engine refused in this process before any worker starts: a usage error (exit 2),
    not the engine's failure, since a rerun here fails the same way."""
    error = EngineError(message, hint=hint)
    error.exit_code = EXIT_USAGE
    return error
