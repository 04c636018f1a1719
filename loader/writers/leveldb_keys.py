"""How a job's LevelDB keys are spelled, recorded in the store so that no later run of the
job spells them otherwise.

A key's text depends on its template and on the types of the columns it names: an integer
``{id}`` is zero-padded to 20 digits (``user:00000000000000000007``), a text one is the text as
read (``user:7``). A run whose key columns have other types than the job's keys were written
with (a column inferred anew over every file after ``--restart``, or declared otherwise) would
put every earlier row again under a second key beside its first. Under ``upsert``, ``ignore``
and ``append`` such a run is refused before it writes a key (``check``); ``replace``, which
deletes the job's keys first, records its own. The record is a checkpoint entry of the job
(``KEYS_ENTRY``) that ``--restart`` keeps: it forgets the files loaded, not the keys stored. The
writer makes it with the first key a run commits, so a run that writes none binds nothing.
The record also holds the columns the job's rows were written with, in order: a later run
without the checkpoint names a header as they do (``readers.base.Naming``), so that a
column's values keep their name in the values and keys.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pyarrow as pa

from ..errors import EXIT_CONFIG, ConfigError
from ..schema import stored_type
from ..types import type_name

if TYPE_CHECKING:
    from ..config import SinkConfig
    from .encode import KeyTemplate

KEYS_ENTRY = "keys"  # the job's checkpoint entry: its key template and its columns' types

_INTEGER = re.compile(r"^u?int\d+$")
_DECIMAL = re.compile(r"^decimal\(\d+, (-?\d+)\)$")
_ZONED = re.compile(r"^timestamp\[(\w+), .+\]$")
# Types whose value goes into a key as its bytes (text as UTF-8): ``spelled_types``' names
_BYTES = re.compile(r"^(string|string_view|binary|large_binary|binary_view|fixed_size_binary\[\d+\])$")
_TEXT = re.compile(r"^(large_)?string(_view)?$")
_FIXED = re.compile(r"^fixed_size_binary\[\d+\]$")  # a UUID's 16 bytes, most often


def spelled_types(template: KeyTemplate, schema: pa.Schema) -> dict[str, str]:
    """The type of each column ``template`` names, as the checkpoint records types (an int32
    as the int64 stored); a column typed null makes no key (its rows are rejected): left out."""
    out = {}
    for name in template.columns:
        if name not in schema.names:
            continue
        t = schema.field(name).type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if not pa.types.is_null(t):
            out[name] = type_name(stored_type(t))
    return out


def record(template: KeyTemplate, types: dict[str, str], columns: list[str] | None = None) -> str:
    """The entry that records keys spelled by ``template`` over columns of ``types``, of rows
    of ``columns`` (in their order)."""
    entry: dict[str, object] = {"template": template.template, "types": types}
    if columns:
        entry["columns"] = columns
    return json.dumps(entry, sort_keys=True)


def _parsed(entry: str | None) -> dict[str, object]:
    """A recorded entry as its JSON object (empty: none, or not one)."""
    try:
        got = json.loads(entry or "{}")
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def read(entry: str | None) -> tuple[str, dict[str, str]] | None:
    """The template and the column types of a recorded entry (None: none, or not one)."""
    return _recorded(_parsed(entry))


def _recorded(got: dict[str, object]) -> tuple[str, dict[str, str]] | None:
    types = got.get("types")
    if "template" not in got or not isinstance(types, dict):
        return None
    return (str(got["template"]), {str(n): str(t) for n, t in types.items()})


def updated(config: SinkConfig, template: KeyTemplate, schema: pa.Schema, entry: str | None) -> str:
    """The entry once this run's rows of ``schema`` are written: ``replace`` writes the keys
    anew; the other modes add the columns the record lacks (typed null before) to it."""
    new = spelled_types(template, schema)
    got = _parsed(entry)
    recorded = _recorded(got)
    if config.mode == "replace" or recorded is None or recorded[0] != template.template:
        return record(template, new, schema.names)
    known = _columns(got)
    return record(template, new | recorded[1], known + [n for n in schema.names if n not in known])


def columns(entry: str | None) -> list[str]:
    """The columns of the rows a recorded entry's keys were written for, in order (none for
    an entry without them, of an earlier version)."""
    return _columns(_parsed(entry))


def _columns(got: dict[str, object]) -> list[str]:
    names = got.get("columns", [])
    return [str(n) for n in names] if isinstance(names, list) else []


def check(config: SinkConfig, template: KeyTemplate, schema: pa.Schema, entry: str | None) -> None:
    """Refuse a run of ``upsert``, ``ignore`` or ``append`` whose keys of ``schema`` would be
    spelled otherwise than the job's keys in the store (``entry``, its record) are."""
    recorded = read(entry)
    if config.mode == "replace" or recorded is None:
        return
    old_template, old = recorded
    if old_template != template.template:  # a job named with run.job whose key changed
        raise _refused(
            config,
            f"sink.key: {template.template!r} is not the key {old_template!r} this job's keys in {config.path} "
            f"were written with: mode {config.mode} would write every row again under a second key",
            f"load with --key {old_template!r} to keep the store's keys",
        )
    new = spelled_types(template, schema)
    for _, name, spec in template.parts:
        if name is None or name not in old or name not in new or _alike(old[name], new[name], spec):
            continue
        was, now = old[name], new[name]
        keep = f"declare the old type (--columns {name}={was}) to keep the store's keys"
        if _FIXED.match(was):  # no job file names it, nor does any text convert to a UUID's bytes
            keep = f"load {name} as the job's earlier files hold it ({was}) to keep the store's keys"
        raise _refused(
            config,
            f"sink.key: column {name} is {now} in this run, but this job's keys in {config.path} were written "
            f"with it as {was} ({_words(was, spec)}; {_words(now, spec)}): mode {config.mode} would write "
            "every row again under a second key",
            keep,
        )


def _refused(config: SinkConfig, message: str, keep: str) -> ConfigError:
    """A refusal found once the store holds the job's keys (exit 78)."""
    error = ConfigError(message, hint=f"{keep}, or rerun with --mode replace to write the job's keys anew")
    error.exit_code = EXIT_CONFIG
    return error


def _alike(a: str, b: str, spec: str) -> bool:
    """Whether a value keys the same under either type (``spelled_types``' names)."""
    return a == b or (_kind(a, spec) == _kind(b, spec) and not _fixed_beside_text(a, b))


def _fixed_beside_text(a: str, b: str) -> bool:
    """Fixed-size bytes beside text: a UUID's 16 bytes key as they are, its text (which a file
    holding it as text has, and which a UUID in a text column is) as its 36 characters."""
    return any(_FIXED.match(x) is not None and _TEXT.match(y) is not None for x, y in ((a, b), (b, a)))


def _kind(name: str, spec: str) -> str:
    """What a field of the type ``name`` spells a value as: every integer alike (zero-padded
    digits, or ``spec``'s), a decimal by its scale (its places), a date and a timestamp alike
    under a ``strftime`` spec (its directives), a time of any unit likewise; without a spec a
    date of either width alike (ISO), a zoned timestamp by its unit whatever the zone (ISO
    text in UTC, ``Z``: only the unit's fraction digits differ), text and bytes alike (the
    value's bytes as they are; ``_alike`` keeps text apart from fixed-size bytes, a UUID's);
    any other type by its name."""
    if _INTEGER.match(name):
        return "integer"
    decimal = _DECIMAL.match(name)
    if decimal:
        return f"decimal places {decimal.group(1)}"
    if "%" in spec:
        if name.startswith(("date", "timestamp[")):
            return "strftime"
        if name.startswith("time"):
            return "strftime time"
    if spec:
        return name
    if name.startswith("date"):
        return "date"
    zoned = _ZONED.match(name)
    if zoned:
        return f"timestamp[{zoned.group(1)}, UTC]"
    if _BYTES.match(name):
        return "bytes"
    return name


def _words(name: str, spec: str) -> str:
    """How a field of the type ``name`` is spelled, for the message."""
    if spec:
        return f"{name} keys are formatted by {spec!r}"
    if _INTEGER.match(name):
        return f"{name} keys are zero-padded to 20 digits"
    decimal = _DECIMAL.match(name)
    if decimal:
        return f"{name} keys have {decimal.group(1)} decimal places"
    if name.startswith("timestamp["):
        digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}.get(name[10:12].rstrip(",]"), 6)
        zone = " in UTC (ending in Z)" if _ZONED.match(name) else ""
        return f"{name} keys are ISO text{zone} with {digits} fraction digits"
    if name.startswith("date"):
        return f"{name} keys are ISO dates"
    if _FIXED.match(name):
        return f"{name} keys are the value's bytes as they are, a UUID's 16 bytes and not its text"
    words = {"string": "the text as read", "float64": "the number's text (3.0)"}
    return f"{name} keys are {words.get(name, f'{name} values as text')}"
