"""One schema per load: the column types every file of a load is read with.

Each file's head is sampled (``TypeGuess`` per column, as for one file) and
the guesses are merged, so several files give the type one file holding all
their values would get: int64 + a leading-zero text is text, int64 + float64
is float64, anything + text is text; a date column and a timestamp column
make a timestamp, timestamps of two units the finer unit, of two zones UTC.
Types known from the files (Parquet, Arrow) unify to the narrowest type that
holds both as what they are: decimals to a decimal of both's digits, durations
and times to the finer unit, bytes of any layout to binary, lists and structs element by
element; where only text would hold them, text (a nested value as its JSON
text). Types fixed before (recorded with the job's checkpoint, or
declared by an existing SQLite table) are kept: a later value that does not
fit is rejected, never coerced.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .convert import FRACTION_DIGITS, TypeGuess
from .errors import ConfigError
from .suggest import fold
from .types import decimal_type, int_range, is_bytes, is_text, parse_type, type_name, value_type

# A multi-file load samples at most this many infer_rows' worth in all, and each file at least _MIN_ROWS.
TOTAL_SAMPLES = 10
_MIN_ROWS = 1000


def rows_per_file(infer_rows: int, files: int) -> int:
    """Rows sampled from each file's head so that the whole sample stays bounded."""
    return min(infer_rows, max(_MIN_ROWS, TOTAL_SAMPLES * infer_rows // max(files, 1)))


@dataclass
class Sample:
    """One file's types and, for the columns it inferred, the guesses behind them."""

    schema: pa.Schema
    guesses: dict[str, TypeGuess | None]
    valueless: frozenset[str] = frozenset()  # columns of a known type without a value in the file
    # a Parquet or Arrow file's own names, in the schema's order (before ``a,A`` became ``a``, ``A_2``)
    raw: tuple[str, ...] = ()


_UNITS = ("s", "ms", "us", "ns")  # coarse to fine: a coarser value is a finer one exactly


def _dated(t: pa.DataType) -> bool:
    return bool(pa.types.is_date32(t) or pa.types.is_timestamp(t))


def _unify_dated(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """Dates and timestamps: the finer unit; zones that differ meet in UTC. A naive
    timestamp (or a date) beside a zoned one is text: no zone can be assumed for it."""
    if pa.types.is_date32(a) and pa.types.is_date32(b):
        return a
    if pa.types.is_date32(a) or pa.types.is_date32(b):
        ts = b if pa.types.is_date32(a) else a
        return ts if ts.tz is None else pa.string()
    if (a.tz is None) != (b.tz is None):
        return pa.string()
    unit = max(a.unit, b.unit, key=_UNITS.index)
    return pa.timestamp(unit, tz=None if a.tz is None else a.tz if a.tz == b.tz else "UTC")


def _unify_two(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type holding both types' values (types known, not guessed: Parquet, declared).
    ``null`` (a column without values) holds none: the other type decides. Where only text holds
    both, text: a nested value as its JSON text, anything else as the text it is stored as."""
    if a.equals(b) or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if _dated(a) and _dated(b):
        return _unify_dated(a, b)
    exact = _unify_exact(a, b)
    return pa.string() if exact is None else exact


def _unify_exact(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The narrowest type holding both types' values as what they are (a number stays a number,
    bytes stay bytes, a list a list), or None where only text would hold them."""
    a, b = value_type(a), value_type(b)  # a dictionary's values are what a column holds
    if a.equals(b):
        return a
    if _nested(a) or _nested(b):
        return _unify_nested(a, b) if _nested(a) and _nested(b) else None
    if is_text(a) and is_text(b):
        return pa.string()
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return pa.int64() if pa.uint64() not in (a, b) else None
    if {pa.types.is_integer(a) or pa.types.is_floating(a), pa.types.is_integer(b) or pa.types.is_floating(b)} == {True}:
        return pa.float64()
    digits_a, digits_b = _decimal_digits(a), _decimal_digits(b)
    if digits_a is not None and digits_b is not None:  # a decimal beside a decimal or an integer
        return _unify_decimal(digits_a, digits_b)
    finer = _finer_unit(a, b)
    if finer is not None:
        return finer
    if _bytes(a) and _bytes(b):
        return _unify_bytes(a, b)
    if _dated(a) and _dated(b):
        dated = _unify_dated(a, b)
        return None if is_text(dated) else dated
    return None


def _finer_unit(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """Two durations, or two times, in the finer unit, as for timestamps (a time of day is then
    one text, as many fraction digits in every file); None for any other pair."""
    if pa.types.is_duration(a) and pa.types.is_duration(b):
        return pa.duration(max(a.unit, b.unit, key=_UNITS.index))
    if pa.types.is_time(a) and pa.types.is_time(b):
        return time_type(max(a.unit, b.unit, key=_UNITS.index))
    return None


def time_type(unit: str) -> pa.DataType:
    """A time of day in ``unit``: Arrow keeps seconds and milliseconds in 32 bits, finer ones in 64."""
    return pa.time32(unit) if unit in ("s", "ms") else pa.time64(unit)


def _decimal_digits(t: pa.DataType) -> tuple[int, int] | None:
    """A decimal's (digits before the point, scale); an integer type's as a decimal of scale 0
    (int64: 19 digits); None for any other type."""
    if pa.types.is_decimal(t):
        return t.precision - t.scale, t.scale
    if pa.types.is_integer(t):
        return len(str(int_range(t)[1])), 0
    return None


def _unify_decimal(a: tuple[int, int], b: tuple[int, int]) -> pa.DataType | None:
    """Decimals (or a decimal and an integer), by ``_decimal_digits``: as many digits before the
    point as either has, and the larger scale after it, within 76 digits (decimal256); else None."""
    scale = max(a[1], b[1])
    precision = max(a[0], b[0]) + scale
    return decimal_type(precision, scale) if 1 <= precision <= _MAX_DECIMAL_DIGITS else None


_MAX_DECIMAL_DIGITS = 76  # decimal256's


def _bytes(t: pa.DataType) -> bool:
    """Bytes of any layout (binary, large_binary, fixed_size_binary), or an extension type stored
    as them (``arrow.uuid``)."""
    return is_bytes(t.storage_type if isinstance(t, pa.BaseExtensionType) else t)


def _unify_bytes(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """Bytes beside bytes are bytes: one width where both have it (a UUID beside DuckDB's 16
    bytes), else of any length (``large_binary`` where either file's is)."""
    a = a.storage_type if isinstance(a, pa.BaseExtensionType) else a
    b = b.storage_type if isinstance(b, pa.BaseExtensionType) else b
    if a.equals(b):
        return a
    return pa.large_binary() if pa.types.is_large_binary(a) or pa.types.is_large_binary(b) else pa.binary()


def _nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_map(t))


def _lists(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _unify_nested(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """Nested types element by element: lists of any layout are a list (``large_list`` where either
    is one) of the elements' type, structs with the same field names a struct of the fields' types
    (in the first's order). Structs with other fields, or elements no type holds as they are, are
    None: the column is JSON text, each value as its file alone writes it (an added field would
    give every value the other's key as null)."""
    if _lists(a) and _lists(b):
        item = _unify_field(a.value_field, b.value_field)
        if item is None:
            return None
        if pa.types.is_fixed_size_list(a) and pa.types.is_fixed_size_list(b) and a.list_size == b.list_size:
            return pa.list_(item, a.list_size)
        return pa.large_list(item) if pa.types.is_large_list(a) or pa.types.is_large_list(b) else pa.list_(item)
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        others = {f.name: f for f in b}
        if len(others) != b.num_fields or sorted(others) != sorted(f.name for f in a):
            return None
        fields = [_unify_field(f, others[f.name]) for f in a]
        return None if any(f is None for f in fields) else pa.struct(fields)
    if pa.types.is_map(a) and pa.types.is_map(b):
        key, item = _unify_exact(a.key_type, b.key_type), _unify_field(a.item_field, b.item_field)
        return None if key is None or item is None else pa.map_(key, item, a.keys_sorted and b.keys_sorted)
    return None


def _unify_field(a: pa.Field, b: pa.Field) -> pa.Field | None:
    """A nested field holding both fields' values: nullable where either is."""
    if pa.types.is_null(b.type) or pa.types.is_null(a.type):
        t: pa.DataType | None = a.type if pa.types.is_null(b.type) else b.type
    else:
        t = _unify_exact(a.type, b.type)
    return None if t is None else pa.field(a.name, t, nullable=a.nullable or b.nullable)


@dataclass
class _Column:
    """What the sampled files say of one column, folded in file by file: a load of
    thousands of files holds one guess per column, not one per file."""

    known: pa.DataType | None = None  # the files' types, unified in file order
    types: int = 0
    guessed: int = 0  # files that guessed it from text
    undecodable: bool = False  # a file's sample is not valid UTF-8: that column is text there
    dated: bool = True
    merged: TypeGuess | None = None

    def add(self, t: pa.DataType, guess: TypeGuess | None, from_text: bool) -> None:
        self.known = t if self.known is None else _unify_two(self.known, t)
        self.types += 1
        self.dated = self.dated and _dated(t)
        if not from_text:
            return
        self.guessed += 1
        if guess is None:
            self.undecodable = True
        elif not self.undecodable:
            self.merged = (self.merged or TypeGuess()).merge(guess)

    def merged_with(self, other: _Column) -> _Column:
        """What this column and ``other`` say together (one column's parts, in the order met)."""
        if other.known is not None:
            self.known = other.known if self.known is None else _unify_two(self.known, other.known)
        self.types += other.types
        self.guessed += other.guessed
        self.dated = self.dated and other.dated
        self.undecodable = self.undecodable or other.undecodable
        if other.merged is not None:
            self.merged = other.merged if self.merged is None else self.merged.merge(other.merged)
        return self

    def result(self, unsure: bool) -> pa.DataType:
        if self.known is None:
            # No file has a value in its head: text holds whatever comes past it; where the
            # heads were the whole files (``null``), the column has no type until a value comes.
            return pa.string() if unsure else pa.null()
        if self.guessed < self.types:
            return self.known
        if self.undecodable or self.merged is None:
            return pa.string()
        found = self.merged.result()  # every file guessed from text: what they ruled out, merged
        # The guesses have no date-or-timestamp candidate: files of dates and files of timestamps.
        return self.known if is_text(found) and self.dated else found


def spellings(names: Iterable[str]) -> dict[str, str]:
    """Each column's one spelling, by its name ``fold``ed: the first met. Names that differ only
    in the case of ASCII letters (``Code`` in one file, ``code`` in the next) are one column, as in
    SQLite; ``ÑANDÚ`` and ``ñandú`` are two."""
    out: dict[str, str] = {}
    for name in names:
        out.setdefault(fold(name), name)
    return out


def bound(types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """The columns ``types`` gives a type: one typed null (no value yet) binds none."""
    return {n: t for n, t in types.items() if not pa.types.is_null(t)}


def unify(
    samples: Iterable[Sample],
    fixed: dict[str, pa.DataType] | None = None,
    from_text: set[str] | None = None,
    apart: dict[str, str] | None = None,
) -> dict[str, pa.DataType]:
    """Each column's type over every sampled file; a file without values in a column has no say.
    ``fixed`` types (earlier runs') win over the files', but one typed null gives only its
    spelling. Names that differ only in case are one column (``spellings``), under one name:
    ``fixed``'s spelling, else the first file's; but spellings a Parquet or Arrow file holds
    side by side are a column each (``twin_columns``), which ``apart`` gets. ``from_text`` gets
    the columns (``fold``ed) that a file reads from text (CSV, JSON Lines), its values or not:
    their text is the source's."""
    fixed = fixed or {}
    parts = _Parts()
    for sample in samples:
        parts.add(sample, from_text)
    twins = twin_columns(parts.raws, fixed)
    if apart is not None:
        apart.update(twins)
    spelled = spellings(fixed)
    columns: dict[str, _Column] = {}
    unsure: set[str] = set()
    for part, column in parts.columns.items():
        name = _column_of(part, parts.names[part], twins)
        if name is None:  # a third spelling beside two columns: its reader refuses the file
            continue
        key = fold(name)
        spelled.setdefault(key, name)
        columns[key] = columns[key].merged_with(column) if key in columns else column
        if part in parts.unsure:
            unsure.add(key)
    unified = {spelled[key]: column.result(key in unsure) for key, column in columns.items()}
    return fixed | unified | bound(fixed)


@dataclass
class _Parts:
    """``unify``'s files, folded in as they come (no file's guesses are kept): by name, and a
    Parquet or Arrow file's columns by their own spelling too, to be put in their columns once
    every file's spellings are known (``twin_columns``)."""

    columns: dict[tuple[str, ...], _Column] = field(default_factory=dict)
    names: dict[tuple[str, ...], str] = field(default_factory=dict)  # each part's name as first met
    unsure: set[tuple[str, ...]] = field(default_factory=set)  # no value in a file's head, maybe past it
    raws: list[tuple[str, ...]] = field(default_factory=list)  # each typed file's own names

    def add(self, sample: Sample, from_text: set[str] | None) -> None:
        self.raws += [sample.raw] if sample.raw else []
        # the file's own columns, then any its folders give (``key=value``: no spelling of the file's)
        own: list[str | None] = [*sample.raw, *[None] * (len(sample.schema) - len(sample.raw))]
        for f, raw in zip(sample.schema, own, strict=True):
            part = (fold(f.name),) if raw is None else (fold(f.name), raw)
            self.names.setdefault(part, f.name)
            column = self.columns.setdefault(part, _Column())
            if f.name not in sample.guesses:
                if f.name not in sample.valueless:  # an empty day's doubles have no say
                    column.add(f.type, None, from_text=False)  # a known type: declared, or Parquet's
                continue
            guess = sample.guesses[f.name]
            if from_text is not None:
                from_text.add(fold(f.name))
            if guess is not None and not guess.values:
                if not pa.types.is_null(f.type):
                    self.unsure.add(part)
                continue  # all null in this file's head: no say
            column.add(f.type, guess, from_text=True)


def twin_columns(raws: list[tuple[str, ...]], fixed: Iterable[str] = ()) -> dict[str, str]:
    """The column of each spelling that a Parquet or Arrow file (of ``raws``: each file's own
    names) holds beside another spelling of its name (Polars writes ``a`` and ``A``; DuckDB and
    pandas cannot, and write ``A`` alone), as SQLite can hold them: the spelling itself where no
    other column of the load takes its name, else with a suffix (``a_2``), as a file's own
    ``a,A`` gives ``a`` and ``A_2``. Each file's column of such a spelling goes to its column,
    whichever file came first: ``A`` alone in one file and ``a,A`` in the next give ``A`` and
    ``a_2``. A spelling ``fixed`` (earlier runs) holds exactly keeps its name. Empty where no
    file holds two spellings of a name."""
    paired: dict[str, None] = {}  # the spellings met beside another of their name, in order
    for raw in raws:
        groups: dict[str, list[str]] = {}
        for r in dict.fromkeys(raw):
            groups.setdefault(fold(r), []).append(r)
        paired.update(dict.fromkeys(r for group in groups.values() if len(group) > 1 for r in group))
    if not paired:
        return {}
    twins = {fold(r) for r in paired}
    met = [r for raw in raws for r in raw if r in paired]
    order = sorted(dict.fromkeys(met), key=lambda r: r not in fixed)  # a recorded spelling first
    others = {fold(r) for raw in raws for r in raw if fold(r) not in twins}
    used: set[str] = set()
    last: dict[str, int] = {}
    out: dict[str, str] = {}
    for r in order:
        name = _suffixed(r, (used, others), last)
        used.add(fold(name))
        out[r] = name
    return out


def _suffixed(base: str, taken: tuple[set[str], set[str]], last: dict[str, int]) -> str:
    """``base``, else ``base_N``: the first whose folded name is in none of ``taken``."""
    from .readers.base import new_name  # (the readers import this module)

    return new_name(base, taken, last)


def _column_of(part: tuple[str, ...], name: str, twins: dict[str, str]) -> str | None:
    """The column of a part of ``unify``'s (a name folded, and a Parquet or Arrow file's own
    spelling of it): a spelling ``twins`` holds apart goes to its own; another spelling of such
    a name (a third) to none; any other to its sampled ``name``."""
    raw = part[1] if len(part) > 1 else None
    if raw is None or not twins:
        return name
    if raw in twins:
        return twins[raw]
    return None if any(fold(raw) == fold(r) for r in twins) else name


def declared_pins(
    declared: dict[str, str],
    types: dict[str, pa.DataType],
    recorded: dict[str, pa.DataType] | None = None,
    *,
    own: Iterable[str] = (),
    first_values: Callable[[list[str]], dict[str, Any]] | None = None,
    from_text: Collection[str] | None = None,
) -> dict[str, pa.DataType]:
    """Types an existing table's declared column types impose on a load's columns.

    An INTEGER or REAL column takes only values that its type holds without loss
    (``01234`` is rejected, not stored as 1234; an integer a float rounds is rejected
    by a REAL column); a TEXT column takes numbers, booleans, dates and timestamps as
    their source text (``1.50``, not 1.5; ``2024-01-01 09:00:00+02:00``, not the loader's
    ISO text in UTC), and so does a NUMERIC column named for dates or times (``DATETIME``,
    ``DATE``, ``TIMESTAMP``: the text its rows hold is the user's format, compared as text).
    A column the job declares (``own``, source.columns) keeps its type, and the checks of its
    type: no column takes it as text. Dates and timestamps keep their type, too, where an
    earlier run ``recorded`` the column as a date or timestamp, or where the column's first
    value that is not null (``first_values``: those of the table's columns it is given) is the
    loader's ISO text (``iso_text``): a table the loader made declares TEXT for them, and its
    rows hold that form after ``--restart``, for another job and from older versions alike. So
    do those whose first value is date-time text of another form (``text_form``: pandas',
    SQLAlchemy's) where no file of the load reads the column from text (``from_text``, the
    ``fold``ed names of those that do; None: any may): a Parquet timestamp is written in the
    column's form (``text_forms``), a CSV's text stays as it is. A NUMERIC column's text is
    checked by the encoder (``numeric_text``)."""
    pins: dict[str, pa.DataType] = {}
    by_lower = {fold(n): _kind(d) for n, d in declared.items()}
    own_names = {fold(n) for n in own}
    kept = _iso_columns(declared, types, recorded or {}, own_names, first_values, from_text)
    for name, t in types.items():
        affinity, date_named = by_lower.get(fold(name), (None, False))
        number = pa.types.is_integer(t) or pa.types.is_floating(t)
        as_text = fold(name) not in own_names and (
            (affinity == "TEXT" and (number or pa.types.is_boolean(t)))
            or (_dated(t) and fold(name) not in kept and _dates_as_text(affinity, date_named))
        )
        if affinity == "INTEGER" and not (pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_duration(t)):
            pins[name] = pa.int64()
        elif as_text:
            pins[name] = pa.string()
        elif affinity == "REAL" and not (pa.types.is_floating(t) or pa.types.is_boolean(t)):
            pins[name] = pa.float64()  # integers too: SQLite makes them floats (a bool goes in as 1 or 0)
    return pins


def _dates_as_text(affinity: str | None, date_named: bool) -> bool:
    """A column whose rows hold dates as the user's text: TEXT, or NUMERIC named for dates."""
    return affinity == "TEXT" or (affinity == "NUMERIC" and date_named)


def _iso_columns(
    declared: dict[str, str],
    types: dict[str, pa.DataType],
    recorded: dict[str, pa.DataType],
    own: set[str],
    first_values: Callable[[list[str]], dict[str, Any]] | None,
    from_text: Collection[str] | None,
) -> set[str]:
    """The columns (``fold``ed) whose dates and timestamps keep their type (``declared_pins``):
    recorded as such, holding the loader's own text (``iso_text``), or, where no file reads the
    column's values from text (``from_text``: None, any may), holding date-time text of another
    form (``text_form``), which the encoder writes their values in. One query per column, only
    for the columns that would take them as text otherwise."""
    kept = {fold(n) for n, t in recorded.items() if _dated(t)}
    spelled = {fold(n): n for n in declared}
    asked = {
        spelled[fold(n)]: t
        for n, t in types.items()
        if _dated(t)
        and fold(n) in spelled
        and fold(n) not in own | kept
        and _dates_as_text(*_kind(declared[spelled[fold(n)]]))
    }
    held = first_values(list(asked)) if asked and first_values is not None else {}
    typed = {fold(n) for n in asked} - {fold(n) for n in from_text} if from_text is not None else set()
    return kept | {
        fold(n) for n, v in held.items() if iso_text(v, asked[n]) or (fold(n) in typed and text_form(v) is not None)
    }


def text_forms(
    declared: dict[str, str], types: dict[str, pa.DataType], first_values: Callable[[list[str]], dict[str, Any]]
) -> dict[str, TextForm]:
    """The existing table's columns (``fold``ed) that the load gives timestamps (``types``:
    those the encoder gets) and whose first value is date-time text of a form other than the
    one the loader writes for their type (``text_form``, ``_own_form``): their form, which the
    encoder writes them in (``encode.form_text``). Not an INTEGER or REAL column: its values
    are numbers."""
    spelled = {fold(n): n for n in declared}
    asked = {
        spelled[fold(n)]: t
        for n, t in types.items()
        if pa.types.is_timestamp(t)
        and fold(n) in spelled
        and _affinity(declared[spelled[fold(n)]].upper()) not in ("INTEGER", "REAL")
    }
    held = first_values(list(asked)) if asked else {}
    forms = {fold(n): (text_form(v), _own_form(asked[n])) for n, v in held.items()}
    # a T form with another unit's fraction (``.000Z`` for microseconds) is the column's too: the
    # loader's own digits would sort apart from its rows as text ('.000000Z' < '.000Z')
    return {n: form for n, (form, own) in forms.items() if form is not None and form != own}


def _own_form(t: pa.DataType) -> TextForm:
    """The form the loader writes a timestamp type's values in (``encode.iso_text``)."""
    assert isinstance(t, pa.TimestampType)
    return TextForm("T", FRACTION_DIGITS[t.unit], "Z" if t.tz else "")


def _kind(declared: str) -> tuple[str, bool]:
    """A declared type's affinity, and whether it names dates or times."""
    return _affinity(declared.upper()), _date_named(declared.upper())


@dataclass(frozen=True)
class TextForm:
    """How a table's date-time text is spelled (docs/types.md, "Timestamps into an existing
    table"): ``sep`` between date and time (``T`` or a space), ``digits`` of the fraction of a
    second (0, 3, 6 or 9), ``offset``: ``Z``, ``+00:00`` (any numeric offset), or none."""

    sep: str = "T"
    digits: int = 6
    offset: str = ""


# The common date-time texts: ISO 8601 as the loader, Python's isoformat(), pandas' to_sql and
# SQLAlchemy write them. A date's text, ``2024-01-01``, is the CSV text the loader reads as a date
# too: it tells nothing.
_DATE_TIME_TEXT = re.compile(r"[+-]?\d{4,}-\d\d-\d\d([T ])\d\d:\d\d:\d\d(?:\.(\d{3}|\d{6}|\d{9}))?(Z|[+-]\d\d:\d\d)?")


def text_form(value: Any) -> TextForm | None:
    """The form of a table's value if it is date-time text of a form ``_DATE_TIME_TEXT`` knows."""
    found = _DATE_TIME_TEXT.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return None
    sep, fraction, offset = found.groups()
    return TextForm(sep, len(fraction or ""), "+00:00" if offset and offset != "Z" else offset or "")


def iso_text(value: Any, t: pa.DataType | None = None) -> bool:
    """Whether ``value`` (a table's) is a timestamp's text as the loader writes it: ``T`` between
    date and time, a fraction of 3, 6 or 9 digits (a unit's), ``Z`` for UTC or nothing. Without a
    fraction only for a type ``t`` in seconds: ``2024-01-01T10:00:00`` is Python's isoformat()
    (sqlite-utils'), whose column keeps a CSV's text."""
    form = text_form(value)
    if form is None or form.sep != "T" or form.offset == "+00:00":
        return False
    return form.digits > 0 or (isinstance(t, pa.TimestampType) and t.unit == "s")


def _date_named(declared: str) -> bool:
    """A declared type naming dates or times (``DATE``, ``DATETIME``, ``TIMESTAMP``, ``TIME``)."""
    return "DATE" in declared or "TIME" in declared


def numeric_text(mode: str, declared: dict[str, str], *, staged: bool = True) -> dict[str, str]:
    """The columns (``fold``ed) of an existing table whose affinity turns text that looks
    like a number into one (``007`` into 7), or an integer into a float (REAL), with that
    affinity: the encoder checks what reaches them. A NUMERIC column's text always does; an
    INTEGER or REAL column's when transform stages made its values (``staged``; without
    them, ``declared_pins`` types the columns as they are read, and a part's result, named
    after this map, stays the same whatever columns the load has added). Empty for
    ``replace``: its table is made by the loader, with its own types."""
    if mode == "replace":
        return {}
    checked = ("NUMERIC", "INTEGER", "REAL") if staged else ("NUMERIC",)
    affinities = {fold(n): _affinity(d.upper()) for n, d in declared.items()}
    return {n: a for n, a in affinities.items() if a in checked}


def _affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type, by its rules in their order."""
    if "INT" in declared:
        return "INTEGER"
    if any(s in declared for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    return "REAL" if any(s in declared for s in ("REAL", "FLOA", "DOUB")) else "NUMERIC"


_NO_TYPE = "null"  # a column without a value yet: its spelling is recorded, no type


def stored_type(t: pa.DataType) -> pa.DataType:
    """The type the targets store ``t``'s values as (SQLite's INTEGER and REAL, LevelDB's JSON
    numbers): an integer narrower than 64 bits as int64, a float16 or float32 as the float64 it
    widens to; any other type as it is. Recorded for later runs, so that tomorrow's 3000000000 or
    0.1 loads as one load of both days' files would (int32 + int64 is int64)."""
    if pa.types.is_integer(t) and t.bit_width < 64:
        return pa.int64()
    if pa.types.is_floating(t) and t.bit_width < 64:
        return pa.float64()
    return t


def encode_types(types: dict[str, pa.DataType], before: str | None = None) -> str:
    """The types as checkpoint text: those a job file can name (a narrow integer or float as the
    type the targets store it as, ``stored_type``), durations, and nested types
    (lists, structs, maps: exactly, as ``arrow:`` text, for a replay; they bind no later run,
    ``binding``). A column typed null is recorded as ``"null"``: its name's spelling binds later
    runs, no type. ``before`` (the checkpoint's text so far): its nested types stay recorded for
    the columns ``types`` lacks, so that rows rejected by an earlier run replay with theirs."""
    return json.dumps(_kept(before, types) | _type_names(stored_types(types)), sort_keys=True)


def stored_types(types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """Each type but the nested ones as the type stored (``stored_type``)."""
    return {n: t if _nested(t) else stored_type(t) for n, t in types.items()}


def _type_names(types: dict[str, pa.DataType]) -> dict[str, str]:
    """The types as text, those with no name a job file can use (``large_binary``) left out."""
    out = {}
    for name, t in types.items():
        if pa.types.is_null(t):
            out[name] = _NO_TYPE
        elif _nested(t):
            out[name] = _exact(name, t)
        else:
            try:
                # large_string (pandas' strings through pyarrow) holds what string holds
                if _recorded_type(type_name(t)).equals(t) or is_text(t):
                    out[name] = type_name(t)
            except ConfigError:
                continue
    return out


def _kept(before: str | None, types: dict[str, pa.DataType]) -> dict[str, str]:
    """The nested types ``before`` records for columns ``types`` lacks (in any ASCII case), as recorded."""
    present = {fold(n) for n in types}
    recorded = json.loads(before) if before else {}
    return {
        n: t
        for n, t in recorded.items()
        if t.startswith(_EXACT) and fold(n) not in present and _nested(_recorded_type(t))
    }


def decode_types(text: str | None) -> dict[str, pa.DataType]:
    """The types checkpoint text records, nested ones included (a replay's, a worker's)."""
    if not text:
        return {}
    return {name: pa.null() if t == _NO_TYPE else _recorded_type(t) for name, t in json.loads(text).items()}


def binding(types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """The recorded types a later run is read with: not the nested ones, which are recorded for
    a replay only (a later run's list or struct is stored as its file holds it); a narrow integer
    or float as the type stored (``stored_type``: older checkpoints recorded int32 and float32)."""
    return {n: t for n, t in stored_types(types).items() if not _nested(t)}


def as_declared(recorded: dict[str, pa.DataType], declared: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """``recorded`` types with each column declared (in any ASCII case) as declared, where both
    are stored as one type: a declared ``int32`` stays the range every run reads, though its
    checkpoint records int64. A nested type, which binds no later run (``encode_types``), gives
    way to a declared one too: a replay with ``payload = "string"`` reads each object as its JSON
    text, as a load declaring it does, where the type an earlier run's sample gave rejected it."""
    by_name = {fold(n): t for n, t in declared.items()}
    out = dict(recorded)
    for name, t in recorded.items():
        own = by_name.get(fold(name))
        if own is not None and not pa.types.is_null(t) and (_nested(t) or stored_type(own).equals(stored_type(t))):
            out[name] = own
    return out


_EXACT = "arrow:"  # a type exactly, as a serialized Arrow schema of one field


@functools.lru_cache(maxsize=256)  # recorded again at each file a load reads
def _exact(name: str, t: pa.DataType) -> str:
    serialized = pa.schema([pa.field(name, t)]).serialize().to_pybytes()
    return _EXACT + base64.b64encode(serialized).decode("ascii")


def task_types(types: dict[str, pa.DataType]) -> str:
    """The types as text for a worker process: the checkpoint's, but as this run reads them
    (an int32 not recorded as int64), and those it leaves out (``large_binary``, times)
    exactly, so that every engine reads a file with the same types."""
    out = _type_names(types)
    for name, t in types.items():
        if name not in out:
            out[name] = _exact(name, t)
    return json.dumps(out, sort_keys=True)


# A duration's unit binds later runs (a count of seconds is no count of milliseconds), and so does
# a time's (its text has as many fraction digits as its unit: one key for one time of day), but a
# job file declares neither: the checkpoint alone names them.
_DURATION = re.compile(r"^duration\[(s|ms|us|ns)\]$")
_TIME = re.compile(r"^time(?:32\[(s|ms)\]|64\[(us|ns)\])$")


def _recorded_type(name: str) -> pa.DataType:
    if name.startswith(_EXACT):
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(name[len(_EXACT) :]))).field(0).type
    m = _DURATION.match(name)
    if m:
        return pa.duration(m.group(1))
    m = _TIME.match(name)
    return time_type(m.group(1) or m.group(2)) if m else parse_type(name)
