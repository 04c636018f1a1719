"""A CSV or JSON Lines input as UTF-8 bytes: decompressed and re-encoded on the fly.

Both readers cut the bytes themselves, so they read through these streams;
``disk_position`` says how far into the file on disk a stream has read, where
that is not the count of bytes it gave (a compressed or re-encoded input).
"""

from __future__ import annotations

import codecs
import collections
import functools
import io
import os
import re
import shlex
import sys
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import pyarrow as pa

from .. import storage
from ..errors import MissingInputError, SourceError

T = TypeVar("T")
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
# Of a row dropped for its length, the reject keeps this much (the rest is skipped unread into memory).
KEPT_OF_LONG_ROW = 1 << 10


def _undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Bytes the source encoding cannot decode, as text whose UTF-8 is invalid: the UTF-8
    check rejects just their rows. A byte from 0x80 passes as itself (as surrogateescape
    passes it); a lower one, which surrogateescape refuses (the ``00`` of a stray UTF-16
    surrogate ``00 d8``), as its overlong two-byte form (``c0 80``): never valid UTF-8, and
    never a delimiter, quote or newline that would cut the row."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    escaped = []
    for byte in exc.object[exc.start : exc.end]:
        units = (byte,) if byte >= 0x80 else (0xC0 | byte >> 6, 0x80 | byte & 0x3F)
        escaped.append("".join(chr(0xDC00 + u) for u in units))  # surrogateescape's code points
    return "".join(escaped), exc.end


codecs.register_error("loader-undecodable", _undecodable)


CHECKED_HEAD = 4096  # of an input not in UTF-8, the bytes that must read as text in its declared encoding
# Of an input declared in an 8-bit encoding whose head is UTF-8 past ASCII, the bytes that must
# all be UTF-8 for it to be refused as such: a cp1252 file may hold mojibake (``â€™``, ``Ã©``,
# valid UTF-8 in cp1252) in its first rows, and its own cp1252 further on
UTF8_CHECKED = 4 << 20
_OTHER_ORDER = {"utf-16-le": ("utf-16-be",), "utf-16-be": ("utf-16-le",), "utf-16": ("utf-16-le", "utf-16-be")}


def _plain(text: str) -> float:
    """The share of ``text`` that is printable ASCII or a tab or line end."""
    return sum(" " <= c <= "~" or c in "\t\r\n" for c in text) / max(len(text), 1)


@dataclass
class _Shape:
    """What ``head`` holds read in one byte order: line ends, ASCII (delimiters, digits, line
    ends), and code points text hardly holds."""

    lines: int
    ascii: int
    odd: int
    length: int


def _odd(c: str) -> bool:
    """Unassigned, private use or a surrogate, the replacement character, or CJK compatibility
    and Extension A: where a Cyrillic or Greek letter read in the wrong byte order lands."""
    return "\u3300" <= c <= "\u4dbf" or c == "\ufffd" or unicodedata.category(c) in ("Cn", "Co", "Cs")


def _shape(head: bytes, order: str) -> _Shape:
    text = head.decode(order, "replace")
    return _Shape(
        lines=text.count("\n") + text.count("\r"),
        ascii=sum(c <= "\x7f" for c in text),
        odd=sum(map(_odd, text)),
        length=len(text),
    )


def _other_order(head: bytes, name: str) -> str | None:
    """The byte order ``head`` is text in, where that is not the declared one, by comparing the
    two: read in the wrong order, a line end is U+0A00, a comma U+2C00, and a Cyrillic or Greek
    letter a rare CJK character. None where the declared order is as likely as the other (or
    a byte order mark decides, for ``utf-16``)."""
    if name == "utf-16" and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return None
    own_order = "utf-16-be" if name == "utf-16-be" else "utf-16-le"  # utf-16 without a mark reads little-endian
    other_order = "utf-16-le" if own_order == "utf-16-be" else "utf-16-be"
    own, other = _shape(head, own_order), _shape(head, other_order)
    if own.lines != other.lines:  # no text holds U+0A00 or U+0D00 but by chance
        return other_order if other.lines > own.lines else None
    if other.ascii > 2 * own.ascii + 1 and 2 * other.ascii >= other.length:  # one line: mostly ASCII
        return other_order
    if own.ascii == other.ascii == 0 and own.odd > 2 * other.odd + 1:  # one line without ASCII
        return other_order
    return None


def check_head(head: bytes, encoding: str, path: str, read_on: Callable[[], bytes] = lambda: b"") -> None:
    """Refuse an input whose head is plainly text in another encoding than the declared one
    (the head of one declared UTF-16, or in an 8-bit or legacy multi-byte encoding): read on,
    it would load garbled with no row rejected. ``read_on``: the input's bytes after ``head``,
    up to ``UTF8_CHECKED`` in all, read only where the head alone cannot tell."""
    name = codecs.lookup(encoding).name
    if not head:
        return
    if name in _OTHER_ORDER:
        _check_utf16(head, name, path)
    elif not name.startswith("utf"):  # nor UTF-8 with a mark (utf-8-sig), UTF-7 or UTF-32
        _check_legacy(head, encoding, path, read_on)


def _check_utf16(head: bytes, name: str, path: str) -> None:
    """Refuse an input declared UTF-16 whose head is text rather in the other byte order or
    as 8-bit text: read on, it would load as one column of CJK-looking characters."""
    mark = {"utf-16-le": codecs.BOM_UTF16_BE, "utf-16-be": codecs.BOM_UTF16_LE}.get(name)
    if mark is not None and head.startswith(mark):
        raise SourceError(
            f"not {name} text: it starts with the byte order mark of {_OTHER_ORDER[name][0]}",
            file=path,
            hint='read it with --encoding utf-16 (source.encoding = "utf-16"), which follows the mark',
        )
    # 8-bit text has no NUL; UTF-16 of ASCII has one in every other byte
    found = guess_encoding(head) if b"\0" not in head and _plain(head.decode(name, "replace")) < 0.1 else None
    if found is not None and _plain(head.decode(found[0] if found else "latin-1", "replace")) >= 0.9:
        raise SourceError(f"not {name} text: {_reads_as(found, 'text')}", file=path, hint=_read_with(found))
    other = _other_order(head, name)
    if other is not None:
        raise SourceError(f"not {name} text: it reads as {other} text", file=path, hint=_read_with((other,)))


def _check_legacy(head: bytes, encoding: str, path: str, read_on: Callable[[], bytes]) -> None:
    """Refuse an input declared in an 8-bit or legacy multi-byte encoding (cp1252, latin-1,
    shift_jis) that is UTF-16 or UTF-8: each character past ASCII would load as others
    (``Zoë`` as ``ZoÃ«``). Text in those encodings has no NUL byte and no UTF-8 byte order
    mark, and where it holds more than ASCII, is seldom valid UTF-8 for long: a head of UTF-8
    past ASCII is refused only where the input's first ``UTF8_CHECKED`` bytes (all of a
    smaller one) are UTF-8 too, as a cp1252 file holding mojibake (``donâ€™t``) in its first
    rows is not. The encoding is named as the job spells it, as the rejects' reasons do."""
    hint = utf16_hint(head)
    if hint is not None:
        raise SourceError(f"not {encoding} text", file=path, hint=hint)
    if head.startswith(codecs.BOM_UTF8):  # as a mark, never text: it would start the first name (ï»¿id)
        raise SourceError(
            f"not {encoding} text: it starts with a UTF-8 byte order mark", file=path, hint=_read_with(("utf-8",))
        )
    if not head.isascii() and _decodes(head, "utf-8") is not None and _utf8_on(head, read_on()):
        raise SourceError(f"not {encoding} text: it reads as utf-8 text", file=path, hint=_read_with(("utf-8",)))


def utf16_hint(head: bytes) -> str | None:
    """How to read text that looks like UTF-16: a byte order mark, or a NUL byte beside (nearly)
    every other byte, as ASCII text has in UTF-16, and (next to) none between (U+4E00 has one)."""
    bom = head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and head[:4] != codecs.BOM_UTF32_LE
    even, odd = head[0::2], head[1::2]
    nul, other = (odd, even) if odd.count(0) > even.count(0) else (even, odd)
    if not bom and (other.count(0) > nul.count(0) // 32 or len(nul) < 2 or nul.count(0) < 0.75 * len(nul)):
        return None
    encoding = "utf-16" if bom else "utf-16-le" if nul is odd else "utf-16-be"  # a mark names its byte order
    return f'it looks like UTF-16: read it with --encoding {encoding} (source.encoding = "{encoding}")'


def _utf8_on(head: bytes, rest: bytes) -> bool:
    """Whether ``head`` and ``rest`` after it are UTF-8 (but for a character their end cuts),
    decoded a MiB at a time: the text is not kept."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(rest)
    try:
        decoder.decode(head)
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start : start + (1 << 20)])
    except UnicodeDecodeError:
        return False
    return True


def _decodes(head: bytes, encoding: str) -> str | None:
    """``head`` as text in ``encoding`` (but for a character its end cuts), or None where it is not."""
    try:
        return str(codecs.getincrementaldecoder(encoding)().decode(head))
    except UnicodeDecodeError:
        return None


# The encodings a file that is not UTF-8 is most often in, by what their text holds past ASCII
# (``_fits``): Western European, Cyrillic, Japanese (Windows' Shift-JIS), Simplified Chinese and
# Korean. Latin-1 is tried where cp1252 cannot decode a byte (81, 8d, 8f, 90 and 9d).
_GUESSES = ("cp1252", "cp1251", "cp932", "gb18030", "cp949")
# Punctuation and signs that tell none apart (cp1252 and cp1251 have most at the same bytes)
_PUNCTUATION = frozenset("€£©®™°±µ¶¬¦¤†‡‰‹›…–—‘’‚“”„«»•·§¿¡\xa0\xad№")
# Signs Western European text holds beside digits and words (1º, Nº, 2ª, 1½, 3×4, 5², don´t),
# where cp1251 has Cyrillic letters (є, Є, Ѕ, Ч, І): they fit cp1252 beside ASCII (``_fits``)
_WESTERN_SIGNS = frozenset("ªº¹²³¼½¾×÷¢¥´")
_WORD = re.compile(r"\w+|\S")
_SURE = 0.8  # of the characters past ASCII, the share that must fit an encoding's text
_FEW = 4  # bytes past ASCII too few to tell an encoding by: the Western European one is named
# Bytes past ASCII of a text that reads as common Hangul and common hanzi alike from which it is
# taken for Korean: GB 2312's rows that KS X 1001's Hangul fill hold hanzi up to about pinyin "r",
# and Chinese text of 8 characters holds one past them all but about once in 60.
_HANGUL_RUN = 16


def guess_encoding(head: bytes) -> tuple[str, ...]:
    """The encoding ``head`` is text in: ``("utf-8",)`` where it is valid UTF-8 (but for a
    character its end cuts), else the one of ``_GUESSES`` (or latin-1) whose reading of it
    fits text in it (``_fits``); where several fit about as well, those (Korean reads as
    common Chinese characters too); where none does, none, but for a head with too few
    bytes past ASCII to tell by: cp1252, or latin-1 where that cannot read it."""
    if _decodes(head, "utf-8") is not None:
        return ("utf-8",)
    readings: dict[str, float] = {}
    texts: set[str] = set()
    for encoding in (*_GUESSES, "latin-1"):
        text = _decodes(head, encoding) if encoding != "latin-1" or "cp1252" not in readings else None
        if text is not None and text not in texts:  # the same text read another way tells nothing more
            texts.add(text)
            readings[encoding] = _fits(text, encoding)
    best = max(readings.values(), default=0.0)
    fit = tuple(e for e, share in readings.items() if share >= _SURE and share >= best - 0.1)
    if fit == ("gb18030", "cp949") and readings["cp949"] >= readings["gb18030"] and _past_ascii(head) >= _HANGUL_RUN:
        return ("cp949",)  # Chinese text that long holds hanzi past the rows Korean's Hangul takes in GB 2312
    if fit:
        return fit
    if _past_ascii(head) < _FEW:
        return ("cp1252",) if "cp1252" in readings else ("latin-1",)
    return ()


def _past_ascii(head: bytes) -> int:
    return len(head) - len(head.translate(None, bytes(range(0x80, 0x100))))


def _fits(text: str, encoding: str) -> float:
    """The share of ``text``'s characters past ASCII (but punctuation) that text in ``encoding``
    is made of: for cp1252 and latin-1, Latin letters in a word that holds ASCII letters too
    (or alone), and the signs of ``_WESTERN_SIGNS`` beside ASCII; for cp1251, Cyrillic letters
    in a word of two or more that holds no ASCII letter (``1є``, ``tйrreo`` and a lone ``Ђ`` are
    cp1252's ``1º``, ``térreo`` and ``€`` read as cp1251); both in words cased as words are
    (``Zoë``, ``ЗОЯ``, not ``РХГы``). For the others, the common characters of their national
    standard: kana and JIS level 1 kanji, GB 2312 level 1 hanzi, KS X 1001 Hangul (where a
    Japanese or Korean file read as Chinese seldom lands, and the reverse)."""
    fits = total = 0
    western = encoding in ("cp1252", "latin-1")
    for match in _WORD.finditer(text):
        word = match.group()
        for i, c in enumerate(word, match.start()):
            if c.isascii() or c in _PUNCTUATION:
                continue
            total += 1
            if western and c in _WESTERN_SIGNS:  # beside ASCII, or at the head's start or end
                fits += text[i - 1 : i].isascii() or text[i + 1 : i + 2].isascii()
            else:
                fits += _fits_char(c, word, encoding)
    return fits / total if total else 1.0


def _fits_char(c: str, word: str, encoding: str) -> bool:
    name = unicodedata.name(c, "")
    if encoding in ("cp1252", "latin-1"):
        return name.startswith("LATIN") and _cased(word) and (len(word) == 1 or _has_ascii_letter(word))
    if encoding == "cp1251":
        return name.startswith("CYRILLIC") and _cyrillic(word) >= 2 and _cased(word) and not _has_ascii_letter(word)
    if "\u3000" <= c <= "\u303f" or "\uff01" <= c <= "\uff5e":  # ideographic punctuation, full-width ASCII
        return True
    if encoding == "cp932":
        return name.startswith(("HIRAGANA", "KATAKANA")) or _in(c, "cp932", 0x889F, 0x9872)  # not half-width kana
    if encoding == "gb18030":
        return _in(c, "gb2312", 0xB0A1, 0xD7FE)
    return name.startswith("HANGUL SYLLABLE") and _in(c, "euc_kr", 0xB0A1, 0xC8FE)


# What is asked of a word for each of its characters, worked out once: a head without spaces or
# commas (Japanese text read as cp1251) is one word of thousands.
@functools.lru_cache(maxsize=1024)
def _cased(word: str) -> bool:
    """Whether ``word``'s letters are lower case, upper case, or capitalized (``ß``, which
    has no capital in most text, aside)."""
    letters = "".join(c for c in word if c.isalpha() and c != "ß")
    return not letters or letters.islower() or letters.isupper() or letters.istitle()


@functools.lru_cache(maxsize=1024)
def _has_ascii_letter(word: str) -> bool:
    return any(c.isascii() and c.isalpha() for c in word)


@functools.lru_cache(maxsize=1024)
def _cyrillic(word: str) -> int:
    """``word``'s Cyrillic letters."""
    return sum(c.isalpha() and unicodedata.name(c, "").startswith("CYRILLIC") for c in word)


def _in(c: str, encoding: str, low: int, high: int) -> bool:
    """Whether ``c`` is a two-byte character of ``encoding`` from ``low`` to ``high``."""
    try:
        code = c.encode(encoding)
    except UnicodeEncodeError:
        return False
    return len(code) == 2 and low <= int.from_bytes(code, "big") <= high


def _reads_as(found: tuple[str, ...], what: str = "") -> str:
    """What ``found`` (``guess_encoding``) says text is: ``it reads as cp1252`` (``what`` after
    it); where it is not sure, that the text is not UTF-8, and what it may be."""
    if len(found) == 1:
        return f"it reads as {found[0]}" + (f" {what}" if what else "")
    if not found:
        return "it is not UTF-8, nor plainly in another encoding"
    return f"it is not UTF-8 but may be {', '.join(found[:-1])} or {found[-1]}"


def _read_with(found: tuple[str, ...]) -> str:
    """How to read text whose encoding ``found`` (``guess_encoding``) tells."""
    if len(found) == 1:
        return f'read it with --encoding {found[0]} (source.encoding = "{found[0]}")'
    return "read it with the encoding it was written in (--encoding NAME, source.encoding)"


def encoding_hint(found: tuple[str, ...]) -> str:
    """The hint for text not in its declared encoding, whose encoding ``found`` (``guess_encoding``)
    tells: ``it reads as cp1252: read it with --encoding cp1252 (source.encoding = "cp1252")``."""
    return f"{_reads_as(found)}: {_read_with(found)}"


def encoding_fix(found: tuple[str, ...]) -> tuple[str, str]:
    """The same, short, after a line's cause: ``the file reads as cp1252: try --encoding cp1252``,
    and the flag it names (the front ends spell it theirs: ``LoaderError.names``)."""
    flag = f"--encoding {found[0] if len(found) == 1 else 'NAME'}"
    how = flag if len(found) == 1 else f"the encoding it was written in ({flag})"
    return f"the file {_reads_as(found).removeprefix('it ')}: try {how}", flag


def rows_encoding_fix(rows: int, found: tuple[str, ...]) -> str:
    """For ``rows`` rejected as not UTF-8 by a run that wrote others (a mostly-ASCII file in an
    8-bit encoding rejects only its accented rows), whose text ``found`` (``guess_encoding``)
    tells: what it is, and how they load (a rerun reads no file loaded before: a replay)."""
    text = _reads_as(found).replace("it reads as", "not UTF-8 but read as").replace("it is ", "")
    flag = f"--encoding {found[0]}" if len(found) == 1 else "--encoding NAME (the encoding they were written in)"
    return f"{rows:,} of them {'is' if rows == 1 else 'are'} {text}: {_REPLAY_AS_RUN} and {flag}"


# how a run's rejected rows load once more: its reject file replayed as the run named its job
_REPLAY_AS_RUN = (
    "replay them with `loader replay` as the run was given (its job file, or its sources, target and flags)"
)


class Transcoder:
    """A byte stream re-encoded to UTF-8; undecodable bytes pass through as invalid UTF-8
    (``_undecodable``) so the UTF-8 check rejects just their rows."""

    def __init__(self, raw: Any, encoding: str, path: str) -> None:
        self.raw = raw
        self.encoding = encoding
        self.path = path
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="loader-undecodable")
        self.buffer = b""
        self.ahead = b""  # bytes read before their turn, to check the head (``check_head``)
        self.ahead_at = 0
        self.done = False
        self.started = False
        self.line_ended = False  # whether the text so far ends with a line end

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and not self.done:
            data = self._read_raw(max(n, 1 << 16))
            self.done = not data
            if not self.started:
                self.started = True
                self._check_head(data)
            try:
                text = self._end() if self.done else self.decoder.decode(data)
            except UnicodeError as exc:  # not bad bytes (those pass through) but a bad stream: UTF-16 without a BOM
                raise SourceError(
                    f"cannot read as {self.encoding}: {exc}",
                    file=self.path,
                    hint="for UTF-16 or UTF-32 without a byte order mark, name the byte order: utf-16-le, utf-16-be",
                ) from None
            if text:
                self.line_ended = text[-1] in "\r\n"
            self.buffer += text.encode("utf-8", "surrogateescape")
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _check_head(self, first: bytes) -> None:
        """``check_head`` on the input's first read, reading ahead where it asks for more."""

        def rest() -> bytes:
            return first[CHECKED_HEAD:UTF8_CHECKED] + self._look_ahead(UTF8_CHECKED - len(first))

        check_head(first[:CHECKED_HEAD], self.encoding, self.path, rest)

    def _read_raw(self, n: int) -> bytes:
        """Up to ``n`` bytes of the input: those read ahead (``_look_ahead``) first."""
        if not self.ahead:
            return bytes(self.raw.read(n))
        out = self.ahead[self.ahead_at : self.ahead_at + n]
        self.ahead_at += len(out)
        if self.ahead_at >= len(self.ahead):
            self.ahead, self.ahead_at = b"", 0
        return out

    def _look_ahead(self, n: int) -> bytes:
        """Up to ``n`` bytes more of the input, kept for the reads after (``_read_raw``)."""
        chunks = []
        while n > 0 and (chunk := bytes(self.raw.read(min(n, 1 << 20)))):
            chunks.append(chunk)
            n -= len(chunk)
        self.ahead = b"".join(chunks)
        return self.ahead

    def _end(self) -> str:
        """The end of the stream: a character it cuts short (a UTF-16 file cut at an odd
        byte) passes as undecodable bytes, which reject their row as not valid text in the
        encoding; after a line end it is no row's (half a line end's code unit, or of a
        row that has no character), and a phantom row of it would be rejected: dropped."""
        if self.line_ended and self.decoder.getstate()[0]:
            self.decoder.reset()
            return ""
        return str(self.decoder.decode(b"", final=True))

    def disk_position(self) -> int | None:
        inner = disk_position(self.raw)
        if inner is not None or self.path == storage.STDIN:
            return inner
        return int(self.raw.tell())

    def close(self) -> None:
        self.raw.close()


# Formats a file's first bytes name beyond doubt: (magic, what it is, the fix). No text starts
# with these (control bytes, or bzip2's block magic after "BZh" and a digit); an Arrow IPC file's
# "ARROW1" is padded to 8 bytes with NULs. Parquet's "PAR1" is text: see ``_PARQUET``.
_MAGIC = (
    (b"\x1f\x8b", "gzip data", "name it {name}.gz: a .gz file is decompressed as it is read"),
    (b"(\xb5/\xfd", "zstd data", "name it {name}.zst: a .zst file is decompressed as it is read"),
    (b"PK\x03\x04", "a zip archive (or an xlsx workbook)", "unzip it first, then load the files it holds"),
    (b"ARROW1\x00\x00", "an Arrow IPC file", "name it .arrow, or pass --format arrow"),
)
# A Parquet file starts and ends with "PAR1" (its footer's magic): text may start with it too.
_PARQUET = b"PAR1"
_PARQUET_FIX = "name it .parquet, or pass --format parquet"
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_BZIP2_FIX = "name it {name}.bz2: a .bz2 file is decompressed as it is read"
MAGIC_BYTES = 10
_COMPRESSION_NAMES = {"gzip": "gzip", "bz2": "bzip2", "zstd": "zstd"}
# what standard input's data is piped through first, by what its magic bytes say it is
_STDIN_FIX = {
    "gzip data": "pipe it decompressed: `gzip -dc x.gz | loader load - ...`",
    "zstd data": "pipe it decompressed: `zstd -dc x.zst | loader load - ...`",
    "bzip2 data": "pipe it decompressed: `bzip2 -dc x.bz2 | loader load - ...`",
    "an Arrow IPC file": "write it to a file named .arrow and load that",
}


def packed(head: bytes, path: str, tail: Callable[[], bytes] = lambda: b"") -> tuple[str, str] | None:
    """What the file ``path`` starting with ``head`` is, where its magic bytes say it is
    compressed or binary (not text), and the fix; None for anything else. ``tail``: the
    file's last bytes, read only to tell a Parquet file (``PAR1`` at both ends) from text."""
    name = os.path.basename(path)
    found: tuple[str, str] | None
    if _BZIP2.match(head):
        found = "bzip2 data", _BZIP2_FIX.format(name=name)
    elif head.startswith(_PARQUET) and tail().endswith(_PARQUET):
        found = "a Parquet file", _PARQUET_FIX
    else:
        found = next(((what, fix.format(name=name)) for magic, what, fix in _MAGIC if head.startswith(magic)), None)
    if found is not None and path == storage.STDIN:  # no name to give it
        found = found[0], _STDIN_FIX.get(found[0], found[1])
    return found


def file_head(path: str) -> bytes:
    """The first ``MAGIC_BYTES`` of an input on disk or in storage, read again for an error's
    sake; of standard input, those its reader saw first (``standard_input``: it is read once);
    nothing for an input that cannot be read now."""
    if path == storage.STDIN:
        return _stdin_head()
    try:
        with storage.open_input(path) as fh:
            return bytes(fh.read(MAGIC_BYTES))
    except (OSError, pa.ArrowException):  # SourceError is an OSError
        return b""


def file_tail(path: str, n: int = len(_PARQUET), decompressed: bool = True) -> bytes:
    """The last ``n`` bytes of an input on disk or in storage (nothing for standard input, or
    one that cannot be read now); a compressed one's decompressed, read through, unless not
    ``decompressed`` (its own bytes)."""
    compression = compression_of(path) if decompressed else None
    try:
        if compression is not None:
            stream = Decompressing(path, compression)
            try:
                last = b""
                while chunk := stream.read(1 << 20):
                    last = (last + chunk)[-n:]
                return last
            finally:
                stream.close()
        size = storage.size(path)
        if size is None:
            return b""
        with storage.open_input(path) as fh:
            fh.seek(max(0, size - n))
            return bytes(fh.read(n))
    except (OSError, pa.ArrowException):
        return b""


def not_text(path: str, kind: str) -> SourceError | None:
    """Where the first read of a ``kind`` file (CSV, JSON Lines) failed as text, or it is a zip:
    the error naming what the magic bytes of what the reader decoded say it is (gzip data
    named .csv; a .csv.gz holding gzip data again), else None."""
    found = packed(decoded_head(path), path, lambda: file_tail(path))
    if found is None:
        return None
    return SourceError(f"is {found[0]}, not {kind} text", file=path, hint=found[1])


def compression_of(path: str) -> str | None:
    """The compression a file is decompressed with as it is read, by its suffix (``COMPRESSION``)."""
    return None if path == storage.STDIN else COMPRESSION.get(os.path.splitext(path)[1].lower())


def decoded_head(path: str) -> bytes:
    """The first ``MAGIC_BYTES`` the readers decode as text: a compressed file's decompressed
    (its own magic only says it is what its name says). Nothing where they cannot be read
    now: the reader says why."""
    compression = compression_of(path)
    if compression is None:
        return file_head(path)
    try:
        stream = Decompressing(path, compression)
    except SourceError:
        return b""
    try:
        return stream.read(MAGIC_BYTES)
    except SourceError:
        return b""
    finally:
        stream.close()


_DECOMPRESS = {"gzip": "gzip -dc", "bz2": "bzip2 -dc", "zstd": "zstd -dc"}


def lone_cr_fix(path: str, plain: str) -> str:
    """How to end in newlines the lines of ``path`` that end in a carriage return alone:
    ``plain`` (a ``tr`` command) for a file read as it is; a compressed file's bytes are
    decompressed first (``tr`` on them would corrupt it), the text loaded as it is."""
    compression = compression_of(path)
    if compression is None:
        return plain
    name = os.path.basename(path)
    text = os.path.splitext(name)[0]
    return f"{_DECOMPRESS[compression]} {shlex.quote(name)} | tr '\\r' '\\n' > {shlex.quote(text)}, then load that"


class Decompressing:
    """A file decompressed as it is read, whose failures (a truncated or corrupt file)
    name the file; it knows how far into the compressed file it has read."""

    def __init__(self, path: str, compression: str) -> None:
        self.path = path
        self.compression = compression
        self.file = storage.open_arrow(path)
        self.opened = storage.opened_identity(path, self.file)
        self.delivered = 0  # decompressed bytes given so far
        self.rest: _GzipRest | None = None  # reads on where Arrow failed at the end of gzip data
        self.failure: OSError | None = None  # Arrow's error, where ``rest`` reads on
        try:
            self.raw = pa.CompressedInputStream(storage.sequential(path, self.file), compression)
        except (pa.ArrowException, OSError) as exc:
            self.file.close()
            raise self._error(exc) from None

    def read(self, n: int) -> bytes:
        if self.rest is not None:
            return self._read_rest(n)
        try:
            data = bytes(self.raw.read(n))
        except OSError as exc:
            self._resume(exc)
            return self._read_rest(n)
        self.delivered += len(data)
        return data

    def readinto(self, view: memoryview) -> int:
        if self.rest is None:
            try:
                got = int(self.raw.readinto(view))
                self.delivered += got
                return got
            except OSError as exc:
                self._resume(exc)
        data = self._read_rest(len(view))
        view[: len(data)] = data
        return len(data)

    def _resume(self, exc: OSError) -> None:
        """Arrow's gzip reads any bytes after a member as the next member's header, and fails
        on the zero padding gzip(1) reads as the end: the file is read on from what was given
        by ``_GzipRest``, which fails where Arrow's failure was real (``exc`` is its error)."""
        if self.compression != "gzip":
            raise self._error(exc) from None
        self.failure = exc
        self.rest = _GzipRest(self.path)
        skip = self.delivered  # what Arrow gave already, decompressed again and dropped
        while skip:
            got = len(self._read_rest(min(skip, 1 << 20)))
            if not got:
                raise self._error(exc) from None
            skip -= got

    def _read_rest(self, n: int) -> bytes:
        assert self.rest is not None and self.failure is not None
        try:
            return self.rest.read(n)
        except (zlib.error, _Truncated):  # damaged after all: Arrow's error stands
            raise self._error(self.failure) from None
        except SourceError:  # bytes after the gzip data, named
            raise
        except OSError as exc:
            raise self._error(exc) from None

    def disk_position(self) -> int:
        return int(self.file.tell()) if self.rest is None else self.rest.position()

    def _error(self, exc: Exception) -> SourceError:
        head = file_head(self.path)
        if head and not _starts_as(head, self.compression):  # not damaged: never this compression
            stem, suffix = os.path.splitext(self.path)
            found = packed(head, stem, lambda: file_tail(self.path, decompressed=False))
            what, fix = (
                found if found is not None else ("plain text", f"name it {os.path.basename(stem)}, without {suffix}")
            )
            name = _COMPRESSION_NAMES.get(self.compression, self.compression)
            return SourceError(f"is not {name} data: it is {what}", file=self.path, hint=fix)
        return storage.failed_read(
            self.path,
            exc,
            self.opened,
            "compressed data is truncated or corrupt",
            hint="the file is incomplete or damaged: copy or download it again",
        )

    def close(self) -> None:
        self.raw.close()
        self.file.close()
        if self.rest is not None:
            self.rest.close()


class _Truncated(Exception):
    """The gzip data ends inside a member."""


_GZIP_MAGIC = b"\x1f\x8b"


class _GzipRest:
    """A gzip file's decompressed bytes, read as gzip(1) reads them: members one after
    another, then zero bytes as the end (padding to a block). Any other bytes after the last
    member stop the read, naming how many; a member that does not decompress raises
    ``zlib.error``, or ``_Truncated`` where the file ends inside it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = storage.sequential(path, storage.open_arrow(path))
        self.inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self.pending = b""  # compressed bytes read and not yet given to ``inflate``
        self.ended = False

    def read(self, n: int) -> bytes:
        while not self.ended:
            if self.inflate.eof:
                self._next_member()
                continue
            data = self.pending or self.inflate.unconsumed_tail or self.file.read(1 << 16)
            self.pending = b""
            out = self.inflate.decompress(data, n)  # at the file's end, what zlib still holds
            if out:
                return out
            if not data and not self.inflate.eof:
                raise _Truncated()
        return b""

    def _next_member(self) -> None:
        """After a member: the next one, or the end (nothing, or zero bytes only)."""
        rest = self.inflate.unused_data
        while len(rest) < len(_GZIP_MAGIC):
            more = self.file.read(1 << 16)
            if not more:
                break
            rest += more
        if rest.startswith(_GZIP_MAGIC):
            self.inflate, self.pending = zlib.decompressobj(zlib.MAX_WBITS | 16), rest
            return
        after = len(rest)
        zeros = not rest.strip(b"\x00")
        while more := self.file.read(1 << 20):
            after += len(more)
            zeros = zeros and not more.strip(b"\x00")
        if not zeros:
            name = os.path.basename(self.path)
            fix = f"gzip -dc {shlex.quote(name)} > {shlex.quote(os.path.splitext(name)[0])}"
            raise SourceError(
                f"{after} bytes after the end of the gzip data",
                file=self.path,
                hint=f"{fix} reads the data before them (it says 'trailing garbage ignored'): load that if the data is whole",
            )
        self.ended = True

    def position(self) -> int:
        return int(self.file.tell())

    def close(self) -> None:
        self.file.close()


class TextBytes:
    """A text stream as UTF-8 bytes: a ``sys.stdin`` without a ``buffer`` (``io.StringIO``,
    a wrapper of a service's or a notebook's). Its text is decoded already, so
    ``source.encoding`` does not apply; the caller's stream is left open."""

    def __init__(self, text: IO[str]) -> None:
        self.text = text
        self.pending = b""

    def read(self, n: int) -> bytes:
        while len(self.pending) < n:
            more = self.text.read(n - len(self.pending))  # characters: as many bytes or more
            if not more:
                break
            self.pending += _utf8(more)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self) -> None:
        pass


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; the bytes a surrogateescape decode kept as themselves, and any other
    lone surrogate as bytes that are not UTF-8 (its row is rejected, as an undecodable byte's)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def check_stdin() -> None:
    """Refuse ``-`` where the process has no standard input (pythonw, a service started
    without one), before the target is made."""
    if sys.stdin is None:
        raise MissingInputError(
            "there is no standard input (sys.stdin is None)",
            file=storage.STDIN,
            hint="pass the input's path instead of -, or give the process a standard input (a pipe, < file)",
        )


def standard_input() -> tuple[Any, bool]:
    """``sys.stdin`` as bytes, and whether the configured encoding still applies to them."""
    check_stdin()
    stdin = sys.stdin
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        return TextBytes(stdin), False
    _note_stdin_head(buffer)
    return buffer, True


# standard input's buffer and its first bytes, as the reader got them (``file_head``)
_STDIN_HEAD: tuple[Any, bytes] | None = None


def _note_stdin_head(buffer: Any) -> None:
    """Keep the first bytes of standard input as the reader is about to read them: peeked into
    its buffer, not consumed (a pipe cannot be read again for an error's sake). Only its first
    opening's: a later one starts where an earlier reader left it."""
    global _STDIN_HEAD
    if _STDIN_HEAD is not None and _STDIN_HEAD[0] is buffer:
        return
    peek = getattr(buffer, "peek", None)
    try:
        head = bytes(peek(MAGIC_BYTES)[:MAGIC_BYTES]) if callable(peek) else b""
    except (OSError, ValueError):  # closed or unreadable: the reader says why
        head = b""
    _STDIN_HEAD = (buffer, head)


def _stdin_head() -> bytes:
    """The first bytes of the standard input the reader read (``_note_stdin_head``)."""
    stdin = sys.stdin
    if _STDIN_HEAD is None or stdin is None or _STDIN_HEAD[0] is not getattr(stdin, "buffer", None):
        return b""
    return _STDIN_HEAD[1]


def open_stream(path: str, encoding: str, glob_hint: str = "dir/*.csv") -> tuple[Any, bool]:
    """The file as UTF-8 bytes, decompressed on the fly; also whether it can seek."""
    raw: Any
    if path == storage.STDIN:
        raw, encoded = standard_input()
        if not encoded:
            return raw, False
        seekable = False
    else:
        storage.check_file(path, glob_hint)
        suffix = os.path.splitext(path)[1].lower()
        if suffix in COMPRESSION:
            raw, seekable = Decompressing(path, COMPRESSION[suffix]), False
        else:
            raw, seekable = storage.open_input(path), True
    if codecs.lookup(encoding).name != "utf-8":
        return Transcoder(raw, encoding, path), False
    return raw, seekable


def close_stream(path: str, stream: Any) -> None:
    """Close a stream ``open_stream`` gave for ``path``; standard input is the process's, left open."""
    if path != storage.STDIN:
        stream.close()


def _starts_as(head: bytes, compression: str) -> bool:
    """Whether ``head`` starts as data of ``compression`` does (``COMPRESSION``'s names)."""
    if compression == "bz2":
        return head.startswith(b"BZh")
    magic = {"gzip": b"\x1f\x8b", "zstd": b"(\xb5/\xfd"}.get(compression)
    return magic is None or head.startswith(magic)


def parses_at_most(path: str, size: int | None, limit: int) -> bool:
    """Whether a reader parses at most ``limit`` bytes of ``path`` (``size`` on disk, None where
    not known). A compressed file's are its decompressed bytes, of which at most ``limit`` + 1
    are read to tell: a file small on disk may hold megabytes (templated text compresses
    a hundredfold). One that cannot be read is not small: the reader says why."""
    if size is None or size > limit or path == storage.STDIN:
        return False
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in COMPRESSION:
        return True
    try:
        stream = Decompressing(path, COMPRESSION[suffix])
    except SourceError:
        return False
    try:
        held = 0
        while held <= limit:
            data = stream.read(limit + 1 - held)
            if not data:
                return True
            held += len(data)
        return False
    except SourceError:
        return False
    finally:
        stream.close()


# Past this many bytes on disk a file holds text if it holds anything: a compressed file of
# nothing is smaller (gzip 20 bytes, 20 more with a stored name; bz2 14; zstd 13), as is a mark.
NO_TEXT_MAX_BYTES = 256
# A JSON Lines file of whitespace alone holds no row either (pandas' ``to_json(lines=True)`` of no
# rows writes one newline): one of at most this many bytes on disk is read up to its first text.
BLANK_MAX_BYTES = 1 << 16
_JSON_WHITESPACE = b" \t\r\n"


def holds_no_text(path: str, encoding: str, blank_lines: bool = False) -> bool:
    """Whether ``path`` holds no text: 0 bytes, or at most ``NO_TEXT_MAX_BYTES`` on disk that
    decompress and decode to nothing or a byte order mark alone (Hadoop's GzipCodec writes a
    20-byte ``.csv.gz`` for a task without rows); with ``blank_lines`` (JSON Lines), at most
    ``BLANK_MAX_BYTES`` holding JSON's whitespace besides. Only such small files are opened: a
    bigger one is not read twice. One that cannot be read holds text here: its reader says why."""
    size = storage.size(path)
    if size is None or size > (BLANK_MAX_BYTES if blank_lines else NO_TEXT_MAX_BYTES):
        return False
    if size == 0:
        return True
    try:
        stream, _ = open_stream(path, encoding)
    except SourceError:
        return False
    try:
        return not _holds_text(stream, _JSON_WHITESPACE if blank_lines else b"")
    except SourceError:
        return False
    finally:
        close_stream(path, stream)


def _holds_text(stream: Any, blank: bytes) -> bool:
    """Whether ``stream`` holds a byte besides a leading byte order mark and ``blank`` ones;
    read up to the first such byte."""
    head = b""
    while len(head) <= len(codecs.BOM_UTF8) and (more := stream.read(NO_TEXT_MAX_BYTES)):
        head += more
    chunk = head[len(codecs.BOM_UTF8) :] if head.startswith(codecs.BOM_UTF8) else head
    while chunk:
        if chunk.strip(blank):
            return True
        chunk = stream.read(BLANK_MAX_BYTES)
    return False


def disk_position(stream: Any) -> int | None:
    """How far into the file on disk ``stream`` has read, for a stream that decompresses
    or re-encodes it; None for one whose bytes are the file's (count those)."""
    position = getattr(stream, "disk_position", None)
    return position() if position is not None else None


class DiskProgress:
    """Bytes of the file on disk each block moved past, for a stream that decompresses or
    re-encodes the file (its blocks count other bytes); a block's own size otherwise."""

    def __init__(self, stream: Any, start: int | None = None) -> None:
        """``start``: where the count begins (0: the file's head, read before, counts
        with the first block); by default where the stream stands."""
        self.stream = stream
        self.last = disk_position(stream)
        if self.last is not None and start is not None:
            self.last = start
        self.ends: collections.deque[int] = collections.deque()

    def tag(self, blocks: Iterator[T]) -> Iterator[T]:
        """``blocks`` as they are cut, noting how far the stream stood at each (they are
        parsed and come back in this order)."""
        for item in blocks:
            if self.last is not None:
                self.ends.append(disk_position(self.stream) or 0)
            yield item

    def bytes_read(self, size: int) -> int:
        """For the next block back (of ``size`` bytes as cut)."""
        if self.last is None:
            return size
        end = self.ends.popleft()
        n, self.last = max(end - self.last, 0), end
        return n


def skip(stream: IO[bytes] | Any, n: int) -> None:
    """Move ``n`` bytes on from the start: a seek where the stream is a plain file."""
    if isinstance(stream, io.BufferedReader):
        stream.seek(n)
        return
    while n > 0:
        got = stream.read(min(n, 1 << 20))
        if not got:
            break
        n -= len(got)


def read_past_line(stream: Any, size: int) -> tuple[int, bytes, bool]:
    """Read on to the end of a line too long to keep, holding none of it: the bytes it
    spans (``size`` of them read already), the bytes read past its newline, and whether
    it had one (or ran to the end of the stream)."""
    while True:
        more = stream.read(1 << 20)
        if not more:
            return size, b"", False
        nl = more.find(b"\n")
        if nl >= 0:
            return size + nl + 1, bytes(more[nl + 1 :]), True
        size += len(more)
