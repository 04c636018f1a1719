"""Which keys of a LevelDB store a ``replace`` deletes: only keys the job could have written.

A store may hold keys other programs wrote (an application's ``meta:version``, its
``session:*`` beside the job's ``user:*``). SQLite's ``replace`` drops one table, never the
database; here the analogue of the table is the template's literal prefix: under ``u:{id}``
every key starting ``u:`` is the job's, whoever wrote it, and no other key is.

A template without a literal prefix (``{id}``) tells its keys by their shape instead: its
literals in order, and for each field the text its column's type spells without a format spec
(an integer is 20 digits, or ``-`` and 19; a date, a time and a timestamp ISO text; a decimal
plain digits). A field whose text can be anything (a string, or any field under a spec)
matches any text. The shapes are those of the types the job's checkpoint records and of this
run's. A key of another shape, or any key where the job's checkpoint holds nothing (it wrote
nothing into this store), is one the job cannot account for: the replace is refused before a
key goes (``foreign_error``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import ConfigError
from . import leveldb_keys
from .encode import KeyTemplate

# The text a field without a format spec spells for its column's type (``leveldb_keys``
# names), as a regex; a type not listed (text, bytes, floats, booleans) spells any text.
_DIGITS = r"(?:\d{20}|-\d{19})"  # ``encode.sortable_int``
_DATE = r"-?\d{4,}-\d\d-\d\d"
_TIME = r"\d\d:\d\d:\d\d(?:\.\d+)?"
_FIELDS = [
    (re.compile(r"^u?int\d+$|^duration\["), _DIGITS),
    (re.compile(r"^date(?:64\[ms\])?$"), _DATE),
    (re.compile(r"^time(?:32|64)\["), _TIME),
    (re.compile(r"^timestamp\[\w+\]$"), _DATE + "T" + _TIME),
    (re.compile(r"^timestamp\[\w+, .+\]$"), _DATE + "T" + _TIME + "Z"),
    (re.compile(r"^decimal\("), r"-?\d+(?:\.\d+)?"),
]
SAMPLE = 3  # foreign keys the refusal names


def _field(type_name: str | None, spec: str) -> str:
    """The regex of the text one field spells."""
    if not spec and type_name is not None:
        for pattern, text in _FIELDS:
            if pattern.match(type_name):
                return text
    return ".*"


def shape(template: KeyTemplate, types: dict[str, str]) -> re.Pattern[bytes]:
    """The keys ``template`` spells over columns of ``types``."""
    parts = []
    for literal, name, spec in template.parts:
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(_field(types.get(name), spec))
    return re.compile("".join(parts).encode("utf-8"), re.DOTALL)


class JobKeys:
    """The keys of a store that a job's ``replace`` may delete. ``templates``: the job's
    template with this run's column types, and the one its checkpoint records, if any (its
    keys in the store were spelled so); ``recorded``: whether the job's checkpoint holds
    anything in the store (none: every key there is another's)."""

    def __init__(self, templates: Iterable[tuple[KeyTemplate, dict[str, str]]], *, recorded: bool) -> None:
        self.prefixes: list[str] = []  # every key under one of these is the job's
        self.shapes: list[re.Pattern[bytes]] = []  # templates without a literal prefix: keys of these shapes
        self.templates: list[str] = []
        for template, types in templates:
            self.templates.append(template.template)
            if template.prefix:
                self.prefixes.append(template.prefix)
            else:
                self.shapes.append(shape(template, types))
        self.recorded = recorded

    @classmethod
    def of(cls, template: KeyTemplate, types: dict[str, str], record: str | None, *, recorded: bool) -> JobKeys:
        """The job's keys: spelled by ``template`` over this run's ``types``, or as the
        checkpoint's ``record`` (``leveldb_keys``) says they were."""
        templates = [(template, types)]
        old = leveldb_keys.read(record)
        if old is not None and (old[0], old[1]) != (template.template, types):
            try:
                templates.append((KeyTemplate(old[0]), old[1]))
            except ConfigError:
                pass  # a record that does not parse tells nothing
        return cls(templates, recorded=recorded)

    @property
    def whole_store(self) -> bool:
        """Whether the job's keys can be anywhere in the store (a template without a prefix)."""
        return bool(self.shapes)

    def ranges(self) -> list[str | None]:
        """The key prefixes to delete under (None: the whole store)."""
        if self.whole_store:
            return [None]
        return [p for p in self.prefixes if not any(p != q and p.startswith(q) for q in self.prefixes)]

    def accounts_for(self, key: bytes) -> bool:
        """Whether ``key`` is one the job could have written."""
        if not self.recorded:
            return False
        return any(key.startswith(p.encode("utf-8")) for p in self.prefixes) or any(
            s.fullmatch(key) for s in self.shapes
        )


def foreign(keys: Iterable[bytes], job_keys: JobKeys) -> tuple[int, list[bytes]]:
    """How many of ``keys`` the job cannot account for, and the first few."""
    count, sample = 0, list[bytes]()
    for key in keys:
        if not job_keys.accounts_for(key):
            count += 1
            if len(sample) < SAMPLE:
                sample.append(key)
    return count, sample


def _shown(key: bytes) -> str:
    """A key as text in quotes; one that is not UTF-8 as Python spells its bytes (``'a\\xff'``)."""
    try:
        return repr(key.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(key)[1:]


def foreign_error(path: str, job: str, job_keys: JobKeys, count: int, sample: list[bytes]) -> ConfigError:
    """The refusal of a ``replace`` that would delete keys the job cannot account for."""
    shown = ", ".join(_shown(k) for k in sample)
    more = ", ..." if count > len(sample) else ""
    template = job_keys.templates[0]
    why = (
        "the job has no checkpoint in the store (it wrote none of its keys)"
        if not job_keys.recorded
        else f"{template!r} spells no key like {'these' if count != 1 else 'this one'}"
    )
    return ConfigError(
        f"sink.mode = 'replace' would delete {count:,} key{'s' if count != 1 else ''} of {path} that job {job!r} "
        f"cannot account for ({shown}{more}): its key template {template!r} has no literal prefix, and {why}",
        hint="give the key template a prefix of its own (e.g. 'u:{id}'): replace then deletes only the keys "
        "under it; or delete those keys, or the store, and load again",
    )
