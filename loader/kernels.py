"""Arrow's compute functions, as ``pyarrow.compute`` offers them, at a fraction of its import.

Importing ``pyarrow.compute`` makes a Python wrapper, a signature and a
docstring (parsed from numpydoc text) for each of Arrow's ~300 functions:
~30 ms before a run can start, 2% of a 1M-row load. Here a function's wrapper
is made when the loader first asks for it, from the same registry and options
classes (``pyarrow._compute``), and it is called the same way: inputs first,
then the options positionally or by keyword (``pc.is_in(a, value_set=s)``).

Use it as ``from loader import kernels as pc``. pyarrow's own methods that
compute (``Array.filter``, ``.cast``, ``.take``, ``.drop_null``) import
``pyarrow.compute`` on first use; the loader calls these functions instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from pyarrow import _compute

_REGISTRY = _compute.function_registry()
_KEYWORDS = {"and_": "and", "or_": "or"}  # pyarrow's names for functions that are Python keywords


def _wrap(name: str) -> Callable[..., Any]:
    func = _REGISTRY.get_function(_KEYWORDS.get(name, name))
    options_name = func._doc.options_class
    options_class = getattr(_compute, options_name) if options_name else None
    arity = func.arity  # Ellipsis for functions of any number of inputs

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
    options = _compute.CastOptions.safe(target_type) if safe else _compute.CastOptions.unsafe(target_type)
    return _compute.call_function("cast", [arr], options)


def fill_null(values: Any, fill_value: Any) -> Any:
    if not isinstance(fill_value, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        fill_value = pa.scalar(fill_value, type=values.type)
    elif values.type != fill_value.type:
        fill_value = pa.scalar(fill_value.as_py(), type=values.type)
    return _compute.call_function("coalesce", [values, fill_value])
