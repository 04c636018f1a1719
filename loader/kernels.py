"""Arrow's compute functions, as ``pyarrow.compute`` offers them, at a fraction of its import.

Importing ``pyarrow.compute`` makes a Python wrapper, a signature and a
docstring (parsed from numpydoc text) for each of Arrow's ~300 functions
before a run can start. Here a function's wrapper is made when the loader
first asks for it (from ``loader.compat.compute_function``), and it is called
the same way: inputs first, then the options positionally or by keyword
(``kernels.is_in(a, value_set=s)``).

pyarrow's own methods that compute (``Array.filter``, ``.cast``, ``.take``,
``.drop_null``) import ``pyarrow.compute`` on first use; the loader calls
these functions instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from .compat import call_function, cast_options, compute_function

_KEYWORDS = {"and_": "and", "or_": "or"}  # pyarrow's names for functions that are Python keywords


def _wrap(name: str) -> Callable[..., Any]:
    func, options_class, arity = compute_function(_KEYWORDS.get(name, name))

    def call(*args: Any, options: Any = None, memory_pool: pa.MemoryPool | None = None, **kwargs: Any) -> Any:
        inputs, extra = (args, ()) if arity is Ellipsis else (args[:arity], args[arity:])
        if extra or kwargs:
            if options_class is None:
                raise TypeError(f"{name}() takes {arity} input(s) and no options")
            if options is not None:
                raise TypeError(f"{name}(): options given both as options= and as arguments")
            options = options_class(*extra, **kwargs)
        return func.call(inputs, options, memory_pool)

    call.__name__ = call.__qualname__ = name
    return call


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        wrapper = _wrap(name)
    except KeyError:  # pa.ArrowKeyError: no such function
        raise AttributeError(f"Arrow has no compute function {name!r}") from None
    globals()[name] = wrapper  # made once
    return wrapper


# pyarrow.compute's own Python functions (not generated), kept to their behaviour.


def cast(arr: Any, target_type: pa.DataType, safe: bool = True) -> Any:
    return call_function("cast", [arr], cast_options(target_type, safe))


def fill_null(values: Any, fill_value: Any) -> Any:
    if not isinstance(fill_value, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        fill_value = pa.scalar(fill_value, type=values.type)
    elif values.type != fill_value.type:
        fill_value = pa.scalar(fill_value.as_py(), type=values.type)
    return call_function("coalesce", [values, fill_value])
