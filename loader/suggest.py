"""Did-you-mean suggestions, built the same way for every name a user can mistype."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from .errors import MissingColumnError

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """A name as SQLite compares identifiers: ASCII letters in lower case, any other letter as
    it is (``Ñ`` and ``ñ`` are two names to SQLite, where Python's ``lower`` makes them one).
    Every comparison of column or table names goes through it, so the loader and SQLite agree."""
    return name.translate(_ASCII_LOWER)


def normal_twin(name: str, known: Iterable[str], *, fold_case: bool = True) -> str | None:
    """The ``known`` name that differs from ``name`` only in Unicode normalization (``café``
    as one code point, NFC, and as ``e`` and a combining accent, NFD: macOS writes the one,
    Windows the other), or None. Such names look the same, but are two to SQLite and Python:
    a message showing both spells them out (``spelled_out``). ``fold_case``: also in ASCII case."""
    import unicodedata

    def forms(n: str) -> set[str]:  # folded before and after: ``E`` and an accent fold to ``e``, ``É`` stays
        nfc = unicodedata.normalize
        return {nfc("NFC", fold(n)), fold(nfc("NFC", n))} if fold_case else {nfc("NFC", n)}

    same = fold if fold_case else str  # names SQLite (or the key) takes as one differ in nothing
    own = forms(name)
    return next((k for k in known if same(k) != same(name) and forms(k) & own), None)


# A hint lists at most this many names, in about this many characters, then counts them all:
# a file of 2,000 columns made a hint of 52 KB, unreadable, and cut apart by container runtimes
NAMES_LISTED = 20
NAMES_TEXT = 1_000


def name_list(names: Sequence[str]) -> str:
    """``names`` joined by commas for a hint; of a long list the first few and ``... (2,000 columns)``."""
    shown: list[str] = []
    size = 0
    for name in names[:NAMES_LISTED]:
        size += len(name) + 2
        if shown and size > NAMES_TEXT:
            break
        shown.append(name)
    if len(shown) == len(names):
        return ", ".join(names)
    return ", ".join(shown) + f", ... ({len(names):,} columns)"


def spelled_out(name: str) -> str:
    """``name`` quoted with its code points past ASCII escaped (``'caf\\xe9'``, ``'cafe\\u0301'``):
    two names that differ only in Unicode normalization, shown apart."""
    return ascii(name)


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to ``word``, or None when none is close."""
    import difflib  # only when a name is wrong: it costs start-up time otherwise

    found = difflib.get_close_matches(word, list(known), n=1)
    return found[0] if found else None


def did_you_mean(word: str, known: Iterable[str], *, quote: bool = True) -> str | None:
    """``did you mean 'table'?`` (``quote=False``: ``did you mean --table?``), or None."""
    found = closest(word, known)
    if found is None:
        return None
    return f"did you mean {found!r}?" if quote else f"did you mean {found}?"


def require_columns(
    key: str, wanted: Iterable[str], names: Sequence[str], *, stage: str | None = None, fold_case: bool = False
) -> None:
    """A ``MissingColumnError`` for the first column a setting (``key``) names that the data lacks,
    with the nearest name or the columns there are as its hint: the same words for a
    sink's key, primary key and indexes and a stage's columns. ``fold_case``: names that
    differ only in case are one (SQLite's)."""
    present = {fold(n) for n in names} if fold_case else set(names)
    for c in wanted:
        if (fold(c) if fold_case else c) not in present:
            twin = normal_twin(c, names, fold_case=fold_case)
            if twin is not None:
                raise MissingColumnError(
                    f"{key}: no column {spelled_out(c)} in the data: it has {spelled_out(twin)}, "
                    "which differs only in Unicode normalization",
                    stage=stage,
                    hint=f"write the name as the data spells it: {json.dumps(twin)} (a TOML string)",
                )
            hint = did_you_mean(c, names) or f"columns are: {name_list(names) or '(none)'}"
            # the data's names, no advice: a column named ``source.path`` stays as it is
            raise MissingColumnError(f"{key}: no column {c!r} in the data", stage=stage, hint=hint, verbatim=(hint,))
