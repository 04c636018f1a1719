"""convert(): the lossless checks, including their fast paths."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader import convert as conv
from loader import load
from loader.convert import (
    TypeGuess,
    cast_failures,
    convert,
    decimal_to_float,
    float_loses,
    infer_type,
    leading_zero,
    other_type_holds,
)
from loader.readers.decimal_comma import NumberStyle
from loader.types import type_name
from tests.conftest import sqlite_rows
from tests.readers.test_csv import read_all

# how a timestamp's reject of an integer names the cast stage's epoch formats
EPOCH_HINT = ' (a count since 1970? a cast stage reads it with formats = { column = "epoch_ms" }, or epoch_s, epoch_us, epoch_ns)'


def bad_values(values: list[str | None], target: pa.DataType) -> list[str | None]:
    out = convert(pa.array(values, pa.string()), target, strict=True)
    if out.bad is None:
        return []
    return [v for v, b in zip(values, out.bad.to_pylist(), strict=True) if b]


@pytest.mark.parametrize("target", [pa.int64(), pa.float64()])
def test_leading_zeros_with_and_without_sign_are_refused(target: pa.DataType) -> None:
    values = ["12", "007", "-012", "+07", "0", "-0", None, "3"]
    assert bad_values(values, target) == ["007", "-012", "+07"]
    # no value starts with a bare zero: only the signed ones can be caught
    assert bad_values(["12", "-012"], target) == ["-012"]
    assert bad_values(["12", "+07"], target) == ["+07"]


def test_a_decimal_point_after_zero_is_no_leading_zero() -> None:
    assert bad_values(["0.5", "-0.25", "+0.1", "0e3", "10.0"], pa.float64()) == []
    assert bad_values(["0.5", "00.5"], pa.float64()) == ["00.5"]


@pytest.mark.parametrize("target", [pa.decimal128(10, 0), pa.decimal128(5, 2), pa.decimal256(40, 2)])
def test_a_decimal_settled_before_refuses_the_text_it_would_store_otherwise(target: pa.DataType) -> None:
    """A decimal recorded by an earlier run took ``007`` as 7, ``+2`` as 2 and ``1e1`` as 10,
    where a recorded int64 or float64 rejects the leading zero: a decimal keeps a number's digits
    as written, so a leading zero, a plus sign or an exponent it would drop is rejected."""
    name = type_name(target)
    out = convert(pa.array(["007", "1", "+2", "1e1", "00.5", "-0", "-007", "x", None]), target, strict=True)
    assert out.array.to_pylist() == [None, Decimal(1), None, None, None, Decimal(0), None, None, None]
    keep = "(declare the column as string to keep it)"
    assert out.reasons == [
        f"'007' has a leading zero that {name} would drop {keep}",
        f"'+2' has a plus sign that {name} would drop {keep}",
        f"'1e1' would be stored as {'10' if target.scale == 0 else '10.00'} by {name} {keep}",
        f"'00.5' has a leading zero that {name} would drop {keep}",
        f"'-007' has a leading zero that {name} would drop {keep}",
        f"'x' is not a valid {name}",
    ]
    # declared (not strict): read as the number it says, as a declared float64 is
    assert convert(pa.array(["007", "+2", "1e1"]), target).array.to_pylist() == [7, 2, 10]


def test_a_decimal_point_after_zero_is_no_leading_zero_in_a_decimal_either() -> None:
    out = convert(pa.array(["0.5", "-0.25", "0", "10.0", ".5", "5."]), pa.decimal128(5, 2), strict=True)
    assert out.bad is None
    assert out.array.to_pylist() == [Decimal(v) for v in ["0.50", "-0.25", "0.00", "10.00", "0.50", "5.00"]]


def test_a_hex_float_is_no_number_not_a_leading_zero() -> None:
    out = convert(pa.array(["1.5", "0x1p3", "007"]), pa.float64(), strict=True)
    assert out.reasons == [
        "'0x1p3' is not a valid float64",
        "'007' has a leading zero that float64 would drop (declare the column as string to keep it)",
    ]
    # an integer's cast would take 0x1f as 31: refused there as before
    assert bad_values(["1", "0x1f"], pa.int64()) == ["0x1f"]


@pytest.mark.parametrize("strict", [False, True])
def test_text_of_a_whole_number_converts_to_an_integer_type_exactly(strict: bool) -> None:
    """A number whose exact decimal value is whole (decided from its digits, never through a
    float) is that integer where the type holds it; any other text is rejected as before."""
    whole = {
        "2.0": 2,
        "2.000": 2,
        "-0.0": 0,
        "2.": 2,
        "1e+16": 10**16,
        "1.5e3": 1500,
        "1E2": 100,
        "100e-2": 1,
        ".5e1": 5,
        "0e9": 0,
        "12345678901234567.0": 12345678901234567,  # float64 would make it ...568
        "-9223372036854775808.000": -(2**63),
        "9.223372036854775807e18": 2**63 - 1,
        "7": 7,
    }
    out = convert(pa.array(list(whole)), pa.int64(), strict=strict)
    assert out.bad is None
    assert out.array.to_pylist() == list(whole.values())
    refused = ["2.5", "1e400", "1e-5", "9223372036854775808.0", "1e19", "NaN", "inf", "+2.0", "1e999999999999999999999"]
    out = convert(pa.array([*refused, "3.0"]), pa.int64(), strict=strict)
    assert out.array.to_pylist() == [None] * len(refused) + [3]
    assert out.reasons == [f"'{v}' is not a valid int64" for v in refused]
    # the range is the type's: 128.0 is no int8, 255.0 is a uint8, -1.0 no unsigned integer
    assert convert(pa.array(["127.0", "128.0"]), pa.int8(), strict=strict).array.to_pylist() == [127, None]
    assert convert(pa.array(["255.0", "-1.0"]), pa.uint8(), strict=strict).array.to_pylist() == [255, None]


def test_a_whole_number_column_of_floats_converts_without_a_look_at_each_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pandas writes a whole int64 column as ``2.0`` where one value is missing: converted in
    a few column-wide passes, no value cast on its own (``cast_failures`` finds nothing to bisect)."""
    text = pa.array([f"{i}.0" for i in range(100_000)] + [None])
    casts: list[pa.DataType] = []
    plain_cast = conv.kernels.cast

    def counted(arr: Any, target_type: pa.DataType, safe: bool = True) -> Any:
        casts.append(target_type)
        return plain_cast(arr, target_type, safe)

    monkeypatch.setattr(conv.kernels, "cast", counted)
    out = convert(text, pa.int64(), na=("",))
    assert len(casts) < 10
    assert out.bad is None
    assert out.array.to_pylist() == [*range(100_000), None]


def test_columns_without_any_zero_prefix_pass_untouched() -> None:
    out = convert(pa.array(["1", "22", "-3"], pa.string()), pa.int64(), strict=True)
    assert out.bad is None
    assert out.array.to_pylist() == [1, 22, -3]


def test_nul_scan_runs_only_when_the_caller_asks() -> None:
    arr = pa.array([b"a", b"b\x00c"], pa.binary())
    out = convert(arr, pa.string(), may_hold_nul=True)
    assert out.bad is not None and out.bad.to_pylist() == [False, True]
    assert out.reasons == ["NUL byte in value"]
    assert convert(arr, pa.string()).bad is None


def test_typed_text_keeps_its_nul_into_another_text_type() -> None:
    """A Parquet large_string (pandas 3, Polars) settled as string: converted, not scanned."""
    out = convert(pa.array(["c\x00d", None], pa.large_string()), pa.string())
    assert out.bad is None
    assert out.array.type == pa.string() and out.array.to_pylist() == ["c\x00d", None]


def test_inference_scans_past_the_head_of_the_sample() -> None:
    # the first 256 values look like integers; a later one does not
    assert infer_type(pa.array([str(i) for i in range(300)] + ["abc"])) == pa.string()
    assert infer_type(pa.array([str(i) for i in range(300)] + ["1.5"])) == pa.float64()
    assert infer_type(pa.array(["true"] * 300 + ["maybe"])) == pa.string()
    assert infer_type(pa.array(["2024-01-01"] * 300 + ["2024-01-01 10:00"])) == pa.string()
    assert infer_type(pa.array([str(i) for i in range(300)])) == pa.int64()


# values rejected for a column's type: a type but text would hold them (True), or a typo (False)
_HELD = {
    "30.5": True,  # a float into an int64
    "2024-01-05 10:00": True,  # a timestamp into a date
    "2024-01-05T10:00+02": True,
    "2024-01-05": True,
    "true": True,
    "99999999999999999999": True,  # past int64: text (or a decimal) holds it
    "9007199254740993": True,  # float64 rounds it
    "007": True,  # a leading zero only text keeps
    "0x1F": True,
    "-0.0": True,
    "inf": True,
    "2024-13-05": False,  # an impossible date or time: a typo
    "2024-02-30": False,
    "2024-01-05T25:00": False,
    "x": False,
    "1.2.3": False,
    "0x": False,
    "0b11": False,
    "yes": False,
    " 30": False,
}


def test_other_type_holds_tells_values_of_another_type_from_typos() -> None:
    assert dict(zip(_HELD, other_type_holds(list(_HELD)), strict=True)) == _HELD
    # a value the source typed (a JSON number, a Parquet date), or none to judge: another type's
    assert other_type_holds([5, 2.5, dt.date(2024, 1, 1), [1], None, b"12", b"\xff"]) == [True] * 6 + [False]


def test_other_type_holds_reads_numbers_with_a_decimal_comma() -> None:
    values = ["30,5", "-0,5", "1.500", "30.5", "2024-01-05 10:00:00.5", "x"]
    assert other_type_holds(values, style=NumberStyle(",")) == [True, True, False, False, True, False]
    assert other_type_holds(values) == [False, False, True, True, True, False]


def test_other_type_holds_reads_numbers_with_a_thousands_separator() -> None:
    values = ["1,234", "1,234.5", "1,23", "1.5", "1.234,5", "x"]
    assert other_type_holds(values, style=NumberStyle(".", ",")) == [True, True, False, True, False, False]
    assert other_type_holds(values, style=NumberStyle(",", ".")) == [True, False, True, False, True, False]


def test_nul_in_a_late_block_is_still_rejected(tmp_path: Path) -> None:
    p = tmp_path / "late_nul.csv"
    rows = b"".join(b"%d,value %d\n" % (i, i) for i in range(1, 400))
    p.write_bytes(b"a,b\n" + rows + b"400,bad\x00nul\n401,fine\n")
    _, chunks = read_all(p, block_size=1024)
    assert len(chunks) > 3  # the NUL sits in a later block than the first
    reasons = {rj.row: rj.reason for c in chunks for rj in c.rejects}
    assert reasons == {400: "NUL byte in value"}
    assert sum(c.batch.num_rows for c in chunks) == 400


@pytest.mark.parametrize(
    "pieces, expected",
    [
        ([["1", "2"], ["99999999999999999999"]], pa.string()),  # beyond int64 in a later piece: text
        ([["1", "2"], ["3"]], pa.int64()),
        ([["1.5"], ["007.5"]], pa.string()),  # a leading zero later on
        ([["1.5"], ["2"]], pa.float64()),
        ([["123"], ["1.5"]], pa.float64()),  # integers, then a decimal: float
        ([["12345678901234567"], ["1.5"]], pa.string()),  # 17 integer digits a float would round
        ([["-0", "0"], ["0.5"]], pa.float64()),
        ([["true"], ["1"]], pa.string()),
        ([["2024-02-28"], ["2024-02-30"]], pa.string()),  # matches the pattern, is no date
        ([["2024-02-28"], [None]], pa.date32()),
        ([[None], [None]], pa.string()),
    ],
)
def test_type_guess_fed_in_pieces_equals_inference_on_the_whole(
    pieces: list[list[str | None]], expected: pa.DataType
) -> None:
    guess = TypeGuess()
    for piece in pieces:
        guess.add(pa.array(piece, pa.string()))
    assert guess.result() == expected
    assert infer_type(pa.array([v for piece in pieces for v in piece], pa.string())) == expected
    apart = [TypeGuess() for _ in pieces]  # each piece guessed alone, as on worker threads, then merged
    for g, piece in zip(apart, pieces, strict=True):
        g.add(pa.array(piece, pa.string()))
    merged = apart[0]
    for g in apart[1:]:
        merged = merged.merge(g)
    assert merged.result() == expected


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_leading_zeros_found_with_signs_in_a_slice(text_type: pa.DataType) -> None:
    """The sign scan looks at the slice's own bytes: a sign outside it changes nothing."""
    arr = pa.array(["-07", "x", "-01", "+0.5", "0", None, "007", "0e5", "5"], text_type).slice(2)
    assert leading_zero(arr, decimal=True).to_pylist() == [True, False, False, False, True, False, False]
    # an integer's: a zero before a digit or an x (0x1f casts as 31); 0.5 and 0e5 are no integers at all
    assert leading_zero(arr, decimal=False).to_pylist() == [True, False, False, False, True, False, False]
    unsigned = pa.array(["-07", "1", "0.5", "0x1f", "-0X1F"], text_type).slice(1)
    assert leading_zero(unsigned, decimal=False).to_pylist() == [False, False, True, True]


def _near_misses(n: int) -> list[str]:
    """Values that look like numbers, booleans, dates and timestamps, or almost."""
    rng = random.Random(5)
    pieces = [
        *"0123456789",
        "0",
        "00",
        "1",
        "7",
        ".",
        "e",
        "E",
        "+",
        "-",
        ":",
        " ",
        "T",
        "t",
        "Z",
        "x",
        "_",
        ",",
        "inf",
        "nan",
        "NaN",
        "Infinity",
        "0x1f",
        "true",
        "True",
        "TRUE",
        "tRue",
        "false",
        "1e5",
        "1.5",
        "2024-02-28",
        "2024-02-30",
        "2024-1-01",
        "0000-01-01",
        "12:30",
        "12:30:45",
        "23:59:60",
        "24:00",
        ".5",
        ".123456",
        ".1234567",
        "+01:00",
        "+0100",
        "+01",
        "-05:00",
        "9223372036854775807",
        "99999999999999999999",
        "12345678901234567",
        "\u0661",
    ]
    values = []
    for _ in range(n):
        v = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:  # a well-formed date or timestamp, then bent
            v = rng.choice(["2024-02-28", "2024-02-28 12:30", "2024-02-28T12:30:45"]) + rng.choice(["", "", *pieces])
        values.append(v)
    return values


def _state(values: list[str]) -> tuple[list[bool], list[bool], pa.DataType]:
    guess = TypeGuess()
    guess.add(pa.array(values, pa.string()))
    return guess.matching, guess.exact, guess.result()


def test_the_shapes_of_a_heads_values_never_decide_other_than_the_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate ruled out by its values' first characters or lengths (``_SHAPES``) is
    one its pattern rules out: the same state with and without that look, over values
    alone and in mixed groups, at both lengths of a head."""
    values = [*_near_misses(2500), "", "tru", "falsey", "İnf", "ınf", "ＮaN", "٠", "2024-02-28 12:30:45.1234567+01:00"]
    values += ["2024-02-28T12:30Z", "2024-02-28T12:30:45.123456", "2024-02-28T12:30:45.123456+01:00", "false", "True"]
    groups = [[v] for v in values] + [values[i : i + 3] for i in range(0, 600, 3)]
    shaped = [_state(g) for g in groups]
    monkeypatch.setattr(conv._Head, "may_match", lambda self, i: True)
    unshaped = [_state(g) for g in groups]
    assert [(g, a, b) for g, a, b in zip(groups, shaped, unshaped, strict=True) if a != b] == []
    assert {str(s[2]) for s in unshaped} >= {"bool", "int64", "double", "date32[day]", "timestamp[us]", "string"}


def test_the_cheap_proofs_never_decide_other_than_the_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value alone and in small mixed groups: the guess with the proofs
    (casts, prefix scans, set lookups) ends in the same state as the one that
    runs every pattern over every value."""
    monkeypatch.setattr(conv, "_HEAD", 0)  # no head check: every value goes to the proofs
    values = _near_misses(2500)
    groups = [[v] for v in values] + [values[i : i + 3] for i in range(0, 600, 3)]
    fast = [_state(g) for g in groups]
    monkeypatch.setattr(conv, "_CANDIDATES", tuple((p, t, lossless, None) for p, t, lossless, _ in conv._CANDIDATES))
    slow = [_state(g) for g in groups]
    differ = [(g, f, s) for g, f, s in zip(groups, fast, slow, strict=True) if f != s]
    assert differ == []
    found = {str(s[2]) for s in slow}  # the values reach every candidate, so every proof was put to the test
    assert found >= {"bool", "int64", "double", "date32[day]", "timestamp[us]", "timestamp[us, tz=UTC]", "string"}


@pytest.mark.parametrize(
    "lead, values, expected",
    [
        ("1", ["-0", "0"], pa.int64()),
        ("1", ["0x1f"], pa.string()),  # Arrow's cast reads hex; the pattern does not
        ("1.5", ["inf"], pa.float64()),  # as pandas and numpy write it
        ("1.5", ["-Infinity", "NaN", "INF", "+nan"], pa.float64()),
        ("1.5", ["infinite"], pa.string()),
        ("1.5", [".5", "5.", "-1e5"], pa.float64()),
        ("2024-02-28 12:30", ["2024-02-28"], pa.string()),  # the cast takes a bare date; the pattern does not
        ("2024-02-28 12:30", ["2024-02-28 12"], pa.string()),
        ("2024-02-28 12:30", ["2024-02-28T12:30:45.123456"], pa.timestamp("us")),
        ("True", ["false"], pa.bool_()),
        ("True", ["yes"], pa.string()),
    ],
)
def test_what_the_cast_takes_and_the_pattern_refuses_stays_refused(
    lead: str, values: list[str], expected: pa.DataType
) -> None:
    assert infer_type(pa.array([lead] * 256 + values, pa.string())) == expected  # past the head, where the proofs run


_LOOSE_BOOL = "is not a valid bool: it takes true, false, True, False, TRUE and FALSE only"


@pytest.mark.parametrize("strict", [True, False], ids=["inferred", "declared"])
def test_a_bool_column_takes_only_the_spellings_inference_reads_as_one(strict: bool) -> None:
    """Arrow's cast read 1 and 0 (numbers) and true in any case (tRUE) as booleans: a column
    inferred, recorded or declared bool took them where inference would have made it text."""
    values = ["true", "False", "TRUE", "1", "0", "tRUE", None, "NA", "yes"]
    out = convert(pa.array(values, pa.string()), pa.bool_(), strict=strict, na=("NA",))
    assert out.array.to_pylist() == [True, False, True, None, None, None, None, None, None]
    assert out.bad is not None and out.bad.to_pylist() == [False, False, False, True, True, True, False, False, True]
    assert out.reasons == [f"'{v}' {_LOOSE_BOOL}" for v in ("1", "0", "tRUE", "yes")]


def test_a_cast_asked_for_still_reads_a_number_as_a_bool() -> None:
    out = convert(pa.array(["1", "0", "true"], pa.string()), pa.bool_(), explicit=True)
    assert (out.array.to_pylist(), out.bad) == ([True, False, True], None)


@pytest.mark.parametrize("source", [pa.int64(), pa.uint64()], ids=str)
def test_an_integer_a_float64_holds_exactly_is_kept_past_two_to_the_53(source: pa.DataType) -> None:
    """Arrow's safe cast refused every integer past 2**53 (2**60, 10**18: "not a valid float64"),
    though float64 holds them; only those it would round are rejected."""
    low = [-(2**63)] if source == pa.int64() else []
    out = convert(pa.array([2**60, 10**18, 9007199254740993, 2**63 - 1, None, 5, *low], source), pa.float64())
    assert out.array.to_pylist() == [2.0**60, 1e18, None, None, None, 5.0, *[-(2.0**63)] * len(low)]
    assert out.reasons == [
        f"'{v}' would be stored as {w} by float64 (declare the column as decimal(p, s) or string)"
        for v, w in ((9007199254740993, "9007199254740992.0"), (2**63 - 1, "9.223372036854776e+18"))
    ]


def test_an_integer_a_float32_would_round_is_rejected_with_what_it_would_store() -> None:
    out = convert(pa.array([16777217, 2**30, -(2**31), 3], pa.int32()), pa.float32())
    assert out.array.to_pylist() == [None, 2.0**30, -(2.0**31), 3.0]
    assert out.reasons == [
        "'16777217' would be stored as 16777216.0 by float32 (declare the column as decimal(p, s) or string)"
    ]


KEPT = [
    "0.6369616873214543",
    "100.10",
    "1e-7",
    "-0.0",
    "2.8251599147121498",
    "1.5E3",
    "0.30000000000000004",
    "5e-324",
    "1.7976931348623157e308",
    "+12345678.125",
    "1000000000000000000000",
    "0.000000000000000000000000012",
    "8.3945900000000009",  # the float 8.39459 printed with 17 digits (R's digits = 17, C's %.17g)
]
ROUNDED = [
    "8.3945900000000001",  # 17 digits, but not how 8.39459 prints: a different number
    "0.10000000000000000001",
    "12345678901234567890",
    "1e400",
    "-1e400",
    "1e-400",
    "0.1000000000000000055511151231257827",
    "9007199254740993",
    "2.82515991471214981",
]


def test_a_float_is_a_decimal_that_reads_back_as_the_same_number() -> None:
    values = KEPT + ROUNDED + [None, "x", "inf", "nan", "this is no number at all", "e"]  # no float: the cast says so
    mask = float_loses(pa.array(values, pa.string())).to_pylist()
    assert [v for v, lost in zip(values, mask, strict=True) if lost] == ROUNDED
    assert infer_type(pa.array(KEPT, pa.string())) == pa.float64()
    for v in ROUNDED:
        assert infer_type(pa.array(["1.5", v], pa.string())) == pa.string(), v
    assert infer_type(pa.array(["1", "12345678901234567890"], pa.string())) == pa.string()
    assert infer_type(pa.array(["0.6369616873214543", "100.10"], pa.string())) == pa.float64()


def test_the_round_trip_agrees_with_python_on_random_spellings() -> None:
    """Against an oracle that parses with Python and compares exact decimals."""
    from decimal import Decimal

    rng = random.Random(7)
    values = []
    for _ in range(3000):
        x = rng.choice(
            [rng.random(), rng.uniform(-1e6, 1e6), 10 ** rng.uniform(-30, 30), float(rng.randint(0, 10**18))]
        )
        spelling = rng.choice(["{!r}", "{:.17g}", "{:.16g}", "{:.15e}", "{:.20f}", "{:.18E}", "{!r}0", "{:.1f}"])
        values.append(spelling.format(x) if "!r" not in spelling else repr(x) + spelling[4:])
    mask = float_loses(pa.array(values, pa.string())).to_pylist()

    def kept(v: str) -> bool:  # its float's shortest form, or its float printed to its own digits
        n = len(v.split("e")[0].split("E")[0].lstrip("+-").replace(".", "").lstrip("0") or "0")
        return Decimal(v) == Decimal(repr(float(v))) or (n <= 17 and Decimal(v) == Decimal(f"{float(v):.{n}g}"))

    expected = [not kept(v) for v in values]
    assert mask == expected
    assert not all(expected) and any(expected)
    assert 100 < sum(expected) < 2900  # both outcomes were put to the test


def test_a_later_value_is_checked_by_the_same_round_trip() -> None:
    out = convert(
        pa.array(["1.5", "2.8251599147121498", "0.10000000000000000001", "inf", "-Infinity", "NaN"]),
        pa.float64(),
        strict=True,
    )
    assert out.bad is not None and out.bad.to_pylist() == [False, False, True, False, False, False]
    assert out.reasons == [
        "'0.10000000000000000001' would be stored as 0.1 by float64 (declare the column as decimal(p, s) or string)"
    ]
    assert out.array.to_pylist()[:2] == [1.5, 2.8251599147121498]
    assert out.array.to_pylist()[3:5] == [float("inf"), float("-inf")]


@pytest.mark.parametrize("target", [pa.int64(), pa.float64(), pa.date32(), pa.string()])
def test_cast_failures_marks_exactly_the_values_that_fail(target: pa.DataType) -> None:
    rng = random.Random(3)
    good = {pa.int64(): "12", pa.float64(): "1.5", pa.date32(): "2024-02-29", pa.string(): b"ok"}[target]
    for n, bad_at in [(1, {0}), (17, {16}), (1000, {0, 999}), (5000, set(rng.sample(range(5000), 40))), (300, set())]:
        values: list[object] = [None if i % 97 == 5 else good for i in range(n)]
        for i in bad_at:
            values[i] = b"\xff" if target == pa.string() else "2024-02-30" if target == pa.date32() else "x"
        arr = pa.array(values, pa.binary() if target == pa.string() else pa.string())
        assert pc.indices_nonzero(cast_failures(arr, target)).to_pylist() == sorted(
            i for i in bad_at if values[i] is not None
        )


def test_a_declared_float_takes_every_spelling_of_infinity_and_nan() -> None:
    values = ["Infinity", "-inf", "INF", "NaN", "nan", "1.5"]
    out = convert(pa.array(values), pa.float64())
    assert out.bad is None
    got = out.array.to_pylist()
    assert got[:3] == [float("inf"), float("-inf"), float("inf")] and all(v != v for v in got[3:5]) and got[5] == 1.5


@pytest.mark.parametrize(
    ("target", "values", "bad"),
    [
        (pa.float64(), ["1e400", "-1E+400", "1e-400", "-0.1e-330"], ["inf", "-inf", "0.0", "-0.0"]),
        (pa.float32(), ["1e39", "-3.5e38", "1e-50"], ["inf", "-inf", "0.0"]),
    ],
)
def test_a_declared_float_rejects_a_number_past_its_range_rounding_the_rest(
    target: pa.DataType, values: list[str], bad: list[str]
) -> None:
    """Rounding is declared (``0.10000000000000000001`` is 0.1); a finite number made an
    infinity, or a number not zero made 0, is no rounding. Spelled infinities, NaN, zero
    and a subnormal (``1e-310``) are kept."""
    kept = ["inf", "-Infinity", "NaN", "0e5", "-0.000", "1e-310" if target == pa.float64() else "1e-40", "1.5"]
    kept += ["0.10000000000000000001"]
    out = convert(pa.array(kept + values + [None]), target)
    assert out.bad is not None and out.bad.to_pylist() == [False] * len(kept) + [True] * len(values) + [False]
    assert out.reasons == [
        f"'{v}' would be stored as {b} by {type_name(target)}" for v, b in zip(values, bad, strict=True)
    ]
    got = out.array.to_pylist()
    assert got[:2] == [float("inf"), float("-inf")] and got[2] != got[2] and got[3:5] == [0.0, 0.0]
    assert 0 < got[5] < 1e-39 and got[7] == pytest.approx(0.1) and got[len(kept) :] == [None] * (len(values) + 1)


def test_columns_of_a_short_block_converted_together_give_what_each_alone_gives() -> None:
    """A wide file's block: 40 columns of 300 rows, bad values here and there; converted
    in groups of one type and rule (one call each) or one by one, the same batch, the
    same bad rows and the same first failing column and reason for each."""
    from loader.convert import convert_columns

    rows = 300
    columns, fields = [], []
    for c in range(40):
        kind = c % 4
        if kind == 0:
            values = [str(i * 7) for i in range(rows)]
        elif kind == 1:
            values = [f"{i * 0.25}" for i in range(rows)]
        elif kind == 2:
            values = [f"2024-01-{1 + i % 28:02d}" for i in range(rows)]
        else:
            values = [f"text {i}" for i in range(rows)]
        if kind != 3:
            values[(c * 37) % rows] = "oops"
        if kind == 0:
            values[(c * 11) % rows] = "0042"  # a leading zero: refused under the lossless rule
        columns.append(pa.array([v.encode() for v in values], pa.binary()))
        typ = [pa.int64(), pa.float64(), pa.date32(), pa.string()][kind]
        fields.append(pa.field(f"c{c}", typ))
    schema = pa.schema(fields)
    strict = {f"c{c}" for c in range(0, 40, 8)}  # some int columns under the rule, some not
    calls = []

    def one(field: pa.Field, col: pa.Array):  # type: ignore[no-untyped-def]
        calls.append(field.name)
        return convert(col, field.type, strict=field.name in strict)

    alone = convert_columns(columns, schema, one)
    assert len(calls) == 40
    calls.clear()
    together = convert_columns(columns, schema, one, alike=lambda f: (str(f.type), f.name in strict))
    assert len(calls) == 5  # int strict, int, float, date, text
    assert together.batch.equals(alone.batch)
    assert together.bad is not None and alone.bad is not None and together.bad.equals(alone.bad)
    assert together.why == alone.why
    assert alone.why[0][0] == "c0" and "0042" in alone.why[0][1]  # c0's leading zero, row 0
    assert {column for column, _ in alone.why.values()} >= {"c1", "c2", "c4"}


# Decimals as text: plain digits with the scale's digits, never Arrow's scientific notation
# (which its cast writes below 10**-6 and for every negative scale).


@pytest.mark.parametrize(
    "t,values,texts",
    [
        (
            pa.decimal128(38, 9),
            ["0.000000001", "0", "0.0000001", "-0.000000123", "0.000001", "123.000000001", None],
            ["0.000000001", "0.000000000", "0.000000100", "-0.000000123", "0.000001000", "123.000000001", None],
        ),
        (pa.decimal128(10, 6), ["0.000001", "0", "-1.5"], ["0.000001", "0.000000", "-1.500000"]),
        (pa.decimal256(76, 75), ["1E-75", "0"], ["0." + "0" * 74 + "1", "0." + "0" * 75]),
        (pa.decimal128(5, -2), ["1.23E+4", "0", "-4.5E+3", None], ["12300", "0", "-4500", None]),
        (pa.decimal256(76, -5), ["1.23E+7", "-1E+5"], ["12300000", "-100000"]),  # 81 digits at scale 0
        (pa.decimal64(18, 9), ["0.000000001"], ["0.000000001"]),
    ],
)
def test_decimal_text_is_plain_digits_with_the_scale(t: pa.DataType, values: list[str | None], texts: list) -> None:
    from decimal import Decimal

    from loader.convert import decimal_text

    arr = pa.array([None if v is None else Decimal(v) for v in values], t)
    assert decimal_text(arr).to_pylist() == texts
    assert convert(arr, pa.string()).array.to_pylist() == texts  # the cast stage's and expressions' path
    assert decimal_text(arr.slice(1)).to_pylist() == texts[1:]


def test_decimal_text_agrees_with_python_for_every_magnitude() -> None:
    from decimal import Decimal

    from loader.convert import decimal_text
    from loader.types import value_str

    rng = random.Random(7)
    for scale in (0, 6, 7, 9, 20, 38):
        t = pa.decimal128(38, scale)
        values = [
            Decimal(f"{rng.randrange(-(10 ** rng.randrange(1, 39)) + 1, 10 ** rng.randrange(1, 39))}E-{scale}")
            for _ in range(300)
        ]
        values = [v for v in values if len(v.as_tuple().digits) <= 38]
        assert decimal_text(pa.array(values, t)).to_pylist() == [value_str(v) for v in values]


def test_a_reason_names_a_value_python_cannot_hold_as_its_iso_text() -> None:
    far = convert(pa.array([-800000000, 0], pa.date32()), pa.timestamp("ns"))
    assert far.reasons == ["'-2188356-05-24' is outside the range of timestamp[ns] (years 1677 to 2262)"]
    fine = convert(pa.array([1704067200123456789], pa.timestamp("ns")), pa.date32())
    assert fine.reasons == ["'2024-01-01T00:00:00.123456789' has a time of day that date would drop"]


@pytest.mark.parametrize("unit", ["s", "ns"])
def test_a_zoned_timestamp_becomes_its_local_date_where_midnight_does_not_exist_or_repeats(unit: str) -> None:
    """Finding a time of day floored the zoned value to its local midnight, and Arrow raised
    where that midnight does not exist (Beirut goes from 00:00 to 01:00 on 2024-03-31) or names
    two instants (Havana's 00:00-00:59 repeats on 2024-11-03): an internal error in a cast."""
    utc = dt.UTC
    beirut = [dt.datetime(2024, 3, 31, 9, tzinfo=utc), dt.datetime(2024, 3, 29, 22, tzinfo=utc)]
    beirut += [dt.datetime(2024, 3, 30, 22, tzinfo=utc), None]  # 12:00, 00:00 the day before, 01:00
    out = convert(pa.array(beirut, pa.timestamp(unit, "Asia/Beirut")), pa.date32())
    assert out.array.to_pylist() == [None, dt.date(2024, 3, 30), None, None]
    assert out.bad is not None and out.bad.to_pylist() == [True, False, True, False]
    assert out.reasons == [
        "'2024-03-31 12:00:00+03:00' has a time of day that date would drop",
        "'2024-03-31 01:00:00+03:00' has a time of day that date would drop",
    ]
    havana = [dt.datetime(2024, 11, 3, 4, tzinfo=utc), dt.datetime(2024, 11, 3, 5, tzinfo=utc)]
    havana += [dt.datetime(2024, 11, 3, 4, 30, tzinfo=utc)]  # 00:00 twice, then 00:30
    out = convert(pa.array(havana, pa.timestamp(unit, "America/Havana")), pa.date32(), explicit=True)
    assert out.array.to_pylist() == [dt.date(2024, 11, 3), dt.date(2024, 11, 3), None]
    assert out.reasons == ["'2024-11-03 00:30:00-04:00' has a time of day that date would drop"]


def test_a_declared_date_of_a_zoned_parquet_timestamp_rejects_a_row_not_the_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    src, db = tmp_path / "beirut.parquet", tmp_path / "t.db"
    ts = pa.array([1_711_875_600, 1_711_749_600], pa.timestamp("s", "Asia/Beirut"))  # 03-31 12:00, 03-30 00:00
    pq.write_table(pa.table({"ts": ts, "v": [1, 2]}), src)
    report = load(str(src), str(db), table="t", source_options={"columns": {"ts": "date"}})
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert sqlite_rows(db, "SELECT ts, v FROM t") == [("2024-03-30", 2)]
    rejected = json.loads(Path(f"{db}.table-t.rejects.jsonl").read_text())
    assert rejected["reason"] == "'2024-03-31 12:00:00+03:00' has a time of day that date would drop"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("ovf.csv", "id,a\n1,1.5\n2,1e400\n3,inf\n4,1e-400\n"),
        ("ovf.jsonl", '{"id":1,"a":1.5}\n{"id":2,"a":1e400}\n{"id":3,"a":"inf"}\n{"id":4,"a":"1e-400"}\n'),
    ],
)
def test_a_declared_float64_rejects_1e400_rather_than_store_an_infinity(tmp_path: Path, name: str, text: str) -> None:
    src, db = tmp_path / name, tmp_path / "t.db"
    src.write_text(text)
    report = load(str(src), str(db), table="t", source_options={"columns": {"a": "float64"}})
    assert (report.rows_written, report.rows_rejected) == (2, 2)
    assert sqlite_rows(db, "SELECT id, a FROM t ORDER BY id") == [(1, 1.5), (3, float("inf"))]
    rejected = [json.loads(line) for line in Path(f"{db}.table-t.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["column"], r["reason"]) for r in rejected] == [
        (3 if name.endswith(".csv") else 2, "a", "'1e400' would be stored as inf by float64"),
        (5 if name.endswith(".csv") else 4, "a", "'1e-400' would be stored as 0.0 by float64"),
    ]


def test_a_column_settled_as_empty_rejects_a_value_instead_of_dropping_it() -> None:
    out = convert(pa.array([None, b"x", None], pa.binary()), pa.null(), strict=True)
    assert out.array.type == pa.null() and len(out.array) == 3
    assert out.bad is not None and out.bad.to_pylist() == [False, True, False]
    assert out.reasons == ["'x' in a column no file had a value in"]


@pytest.mark.parametrize(
    ("arr", "texts"),
    [
        (
            pa.array([1.5, 2.0, 1e20, 1e-7, -0.0, float("nan"), float("inf"), None]),
            ["1.5", "2.0", "1e+20", "1e-7", "-0.0", "nan", "inf", None],
        ),
        (pa.array([0.1, 3.0], pa.float32()), ["0.10000000149011612", "3.0"]),  # the float64 the targets store
        (pa.array([1.5], pa.float16()), ["1.5"]),
        (pa.array([7, -(2**63)]), ["7", str(-(2**63))]),
        (pa.array([2**64 - 1], pa.uint64()), [str(2**64 - 1)]),
        (pa.array([True, False]), ["true", "false"]),
        (pa.array([Decimal("1.50")], pa.decimal128(5, 2)), ["1.50"]),
        (pa.array([dt.date(2024, 1, 2)]), ["2024-01-02"]),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("ms")), ["2024-01-02T03:04:05.000"]),
        (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("us", "UTC")), ["2024-01-02T03:04:05.000000Z"]),
        (pa.array([[1, 2], None], pa.list_(pa.int32())), ["[1,2]", None]),  # a list beside text: its JSON text
        (pa.array([{"a": Decimal("0.10"), "b": b"\x01"}]), ['{"a":0.10,"b":"AQ=="}']),
    ],
    ids=[
        "float64",
        "float32",
        "float16",
        "int64",
        "uint64",
        "bool",
        "decimal",
        "date",
        "timestamp",
        "zoned",
        "list",
        "struct",
    ],
)
@pytest.mark.parametrize("target", [pa.string(), pa.large_string()])
def test_a_number_bool_or_date_into_a_text_column_is_the_text_the_targets_store(
    arr: pa.Array, texts: list[str | None], target: pa.DataType
) -> None:
    """A float into text (a Parquet float in a column another file made text) crashed:
    ValueError: Non-fixed width type, from a float check reading the text type's bit width."""
    out = convert(arr, target)
    assert (out.array.type, out.array.to_pylist(), out.bad) == (target, texts, None)


# ---- decimals and floats: the nearest float, and a float's shortest text

_CENTS = st.integers(0, 19999)  # decimal(10, 2) from 0.00 to 199.99, unscaled


@settings(max_examples=60, deadline=None, derandomize=True)
@given(cents=st.lists(st.one_of(_CENTS, st.none()), min_size=1, max_size=200), cut=st.integers(0, 5))
def test_a_decimal_becomes_the_float_nearest_it(cents: list[int | None], cut: int) -> None:
    """Arrow's cast gave 0.35 as 0.35000000000000003 and 1.005 as 1.0050000000000001."""
    texts = [None if c is None else f"{c // 100}.{c % 100:02d}" for c in cents]
    arr = pa.array([None if t is None else Decimal(t) for t in texts], pa.decimal128(10, 2)).slice(cut // 2)
    expected = [None if t is None else float(Decimal(t)) for t in texts][cut // 2 :]
    assert decimal_to_float(arr).to_pylist() == expected
    assert convert(arr, pa.float64()).array.to_pylist() == expected


def test_every_cent_below_200_is_the_float_of_its_text() -> None:
    texts = [f"{c // 100}.{c % 100:02d}" for c in range(20000)]
    arr = pa.array([Decimal(t) for t in texts], pa.decimal128(10, 2))
    assert decimal_to_float(arr).to_pylist() == [float(t) for t in texts]
    assert decimal_to_float(pa.array([Decimal("0.35"), Decimal("1.005")], pa.decimal128(10, 3))).to_pylist() == [
        0.35,
        1.005,
    ]


@pytest.mark.parametrize(
    ("t", "values"),
    [
        (pa.decimal128(38, 18), ["0.35", "1.005", "-123456789.123456789012345678", "12345678901234567.89"]),
        (pa.decimal256(50, 10), ["0.35", "-1.005", "1234567890123456789012345678901234567890.0123456789"]),
        (pa.decimal128(5, -2), ["12300", "-100"]),
        (pa.decimal128(20, 9), ["0.000000100", "0.35", "0.000000001"]),
        (pa.decimal128(15, 15), ["0.123456789012345", "-0.000000000000001"]),
    ],
)
def test_any_decimal_becomes_the_float_nearest_it(t: pa.DataType, values: list[str]) -> None:
    arr = pa.array([Decimal(v) for v in values] + [None], t)
    assert decimal_to_float(arr).to_pylist() == [float(Decimal(v)) for v in values] + [None]
    float32 = decimal_to_float(arr, pa.float32())
    assert float32.type == pa.float32()
    assert float32.to_pylist()[:-1] == [float(pa.scalar(float(Decimal(v)), pa.float32()).as_py()) for v in values]


def test_a_decimal_cast_to_float64_is_kept_unless_float64_rounds_its_digits() -> None:
    arr = pa.array([Decimal(v) for v in ["0.350", "1.005", "0.410", "12345678901234567.890"]], pa.decimal128(21, 3))
    out = convert(arr, pa.float64(), explicit=True)
    assert out.array.to_pylist() == [0.35, 1.005, 0.41, None]
    assert out.reasons == ["12345678901234567.890 would be rounded by float64"]


def test_a_float_cast_to_decimal_is_the_decimal_its_shortest_text_says() -> None:
    """0.35 as decimal(10, 3) was rejected as rounded (checked through Arrow's inexact cast
    back to float), while 0.1 loaded."""
    values = [0.35, 0.1, 1.005, 0.41, -0.0, 100.0, None, 0.0005, 1e20, float("nan"), float("inf")]
    out = convert(pa.array(values, pa.float64()), pa.decimal128(10, 3), explicit=True)
    assert out.array.to_pylist()[:7] == [Decimal(v) for v in ["0.350", "0.100", "1.005", "0.410", "0", "100"]] + [None]
    assert out.bad is not None and out.bad.to_pylist() == [False] * 7 + [True] * 4
    assert out.reasons == [
        "0.0005 would be rounded by decimal(10, 3)",
        "'1e+20' is not a valid decimal(10, 3)",
        "'nan' is not a valid decimal(10, 3)",
        "'inf' is not a valid decimal(10, 3)",
    ]


def test_a_float32_cast_to_decimal_is_the_float64_it_widens_to() -> None:
    """A float32 is everywhere the float64 it widens to (types.md): its 0.1 was read as its own
    shortest text and loaded as 0.100 into a decimal column, though SQLite stores the float32
    as 0.10000000149011612 in a REAL one."""
    out = convert(pa.array([0.1, 1.25, None, 2.3], pa.float32()), pa.decimal128(10, 3))
    assert out.array.to_pylist() == [None, Decimal("1.250"), None, None]
    assert out.reasons == [
        "0.10000000149011612 would be rounded by decimal(10, 3)",
        "2.299999952316284 would be rounded by decimal(10, 3)",
    ]
    wide = convert(pa.array([0.1], pa.float32()), pa.decimal128(20, 17))  # its every digit held
    assert wide.array.to_pylist() == [Decimal("0.10000000149011612")] and wide.bad is None


# ---- bytes and durations a later file brings to a type settled before


@pytest.mark.parametrize("source", [pa.large_binary(), pa.binary(1)])
def test_bytes_of_any_layout_that_are_not_text_are_rejected_with_their_bytes_as_shown(source: pa.DataType) -> None:
    out = convert(pa.array([b"a", b"\xfe"], source), pa.string())
    assert out.array.to_pylist() == ["a", None]
    assert out.reasons == ["invalid UTF-8 in '\\xfe'"]  # one backslash, as the reject's values show it


def test_a_duration_of_a_finer_unit_converts_where_whole_and_is_rejected_where_not() -> None:
    out = convert(pa.array([2000, 90, None], pa.duration("ms")), pa.duration("s"))
    assert out.array.cast(pa.int64()).to_pylist() == [2, None, None]
    assert out.reasons == ["'90 ms' has digits below a second that duration[s] would drop"]
    out = convert(pa.array([90, 2**62], pa.duration("s")), pa.duration("ns"))
    assert out.reasons == [f"'{2**62} s' is outside the range of duration[ns]"]
    out = convert(pa.array([5], pa.duration("ns")), pa.duration("us"))
    assert out.reasons == ["'5 ns' has digits below a microsecond that duration[us] would drop"]


def test_text_into_a_duration_is_a_whole_count_of_its_unit() -> None:
    out = convert(pa.array(["45", "1.5", "007", "x", None, "-3"]), pa.duration("ms"), strict=True)
    assert out.array.cast(pa.int64()).to_pylist() == [45, None, None, None, None, -3]
    assert out.reasons == [
        "'1.5' is not a valid duration[ms] (a count of its unit)",
        "'007' has a leading zero that duration[ms] would drop",
        "'x' is not a valid duration[ms] (a count of its unit)",
    ]


def test_text_into_an_interval_reads_the_spelling_the_targets_store() -> None:
    """A replay's value of DuckDB's INTERVAL, as the load wrote it (``writers.encode.interval_text``)."""
    from loader.writers.encode import interval_text

    t = pa.month_day_nano_interval()
    stored = interval_text(pa.array([(1, 2, 3_000_000), (-1, 0, -5), (0, 0, 0)], t)).to_pylist()
    assert stored == ["P1M2DT0.003S", "P-1M0DT-0.000000005S", "P0M0DT0S"]
    out = convert(pa.array([*stored, None, "1 month", f"P{2**31}M0DT0S"]), t, strict=True)
    assert out.array.to_pylist()[:4] == [(1, 2, 3_000_000), (-1, 0, -5), (0, 0, 0), None]
    assert out.reasons == [
        f"'{v}' is not a valid month_day_nano_interval (as P1M2DT0.5S: months, days, seconds)"
        for v in ("1 month", f"P{2**31}M0DT0S")
    ]


def test_text_with_an_offset_in_seconds_into_a_zoned_timestamp_is_its_instant() -> None:
    """Python and pandas write a zone's local mean time with seconds (Amsterdam before 1937):
    Arrow reads no such offset."""
    t = pa.timestamp("us", "Europe/Amsterdam")
    out = convert(pa.array(["1920-06-01 12:00:00+01:19:32", "1920-06-01T12:00:00.5-00:00:30", "x+01:19:32"]), t)
    utc = [dt.datetime(1920, 6, 1, 10, 40, 28), dt.datetime(1920, 6, 1, 12, 0, 30, 500_000), None]
    assert [v and v.replace(tzinfo=None) for v in out.array.cast(pa.timestamp("us", "UTC")).to_pylist()] == utc
    assert out.reasons == ["'x+01:19:32' is not a valid timestamp[us, Europe/Amsterdam]"]


def test_a_list_struct_or_map_into_a_number_or_bool_is_rejected_by_kind() -> None:
    """Arrow has no such cast: the column raised ArrowNotImplementedError, which ended the run."""
    lists = pa.array([[1], None, [2, 3]], pa.list_(pa.int64()))
    out = conv.convert(lists, pa.bool_())
    assert out.array.null_count == 3 and out.bad is not None and out.bad.to_pylist() == [True, False, True]
    assert out.reasons == [
        "'[1]' is a list, not a boolean: bool takes true and false only",
        "'[2,3]' is a list, not a boolean: bool takes true and false only",
    ]
    structs = pa.array([{"a": 1}], pa.struct([("a", pa.int64())]))
    assert conv.convert(structs, pa.decimal128(10, 2)).reasons == [
        "'{\"a\":1}' is a struct, not a number: decimal(10, 2) takes numbers only"
    ]
    maps = pa.array([[("k", "v")]], pa.map_(pa.string(), pa.string()))
    assert conv.convert(maps, pa.int32()).reasons == ['\'{"k":"v"}\' is a map, not a number: int32 takes numbers only']


def test_a_declared_integer_takes_no_hexadecimal_text(tmp_path: Path) -> None:
    """A declared int64 column read 0x10 as 16, its bits as they came (0xFFFFFFFFFFFFFFFF: -1)."""
    path = tmp_path / "hex.csv"
    path.write_text("id,n\n1,0x10\n2,0xFFFFFFFFFFFFFFFF\n3,16\n")
    _, chunks = read_all(path, columns={"n": "int64"})
    assert [row for c in chunks for row in c.batch.to_pylist()] == [{"id": 3, "n": 16}]
    assert [(r.row, r.reason) for c in chunks for r in c.rejects] == [
        (1, "'0x10' is not a valid int64"),
        (2, "'0xFFFFFFFFFFFFFFFF' is not a valid int64"),
    ]


def test_a_presence_guess_counts_values_but_na_spellings_and_checks_no_type() -> None:
    guess = TypeGuess(na=["NA"], presence=True)
    guess.add(pa.array(["NA", None, "12", "NA"]))
    assert guess.values == 1
    assert all(guess.matching)  # no candidate tried: its type is not asked
    merged = TypeGuess(guess)
    merged.add(pa.array(["NA"]))
    assert (merged.presence, guess.merge(merged).values) == (True, 1)


UTC_US = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    "values, expected",
    [
        (["2023-12-31 19:00:00+00", "2024-01-01 00:00:00-08"], UTC_US),  # PostgreSQL's and DuckDB's CSV
        (["2024-01-01T00:00+05", "2024-01-01 00:00:00.5+05:30", "2024-01-01 00:00:00Z"], UTC_US),
        (["2024-01-01 00:00:00+05", "2024-01-01+05"], pa.string()),  # a date and an offset: no timestamp
        (["2024-01-01 00:00:00+5"], pa.string()),
        (["2024-01-01 00:00:00+05:"], pa.string()),
        (["2024-01-01 00+05"], pa.string()),  # an hour alone is no time, as without an offset
    ],
)
def test_an_offset_of_hours_alone_is_a_zoned_timestamp(values: list[str], expected: pa.DataType) -> None:
    assert infer_type(pa.array(values, pa.string())) == expected
    assert infer_type(pa.array(["2024-01-01 00:00:00+00:00"] * 256 + values, pa.string())) == expected


def test_an_offset_of_hours_alone_loads_in_the_sample_past_it_and_in_a_later_run(tmp_path: Path) -> None:
    first, later, db = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "t.db"
    first.write_text("id,ts\n1,2024-01-01 00:00:00+00\n2,2024-01-01 00:00:00-08\n3,2024-01-01 00:00:00+0530\n")
    later.write_text("id,ts\n4,2024-06-01 12:00:00+02\n5,2024-06-01+02\n")
    assert load(str(first), str(db), table="t", source_options={"infer_rows": 2}).rows_rejected == 0
    report = load(str(later), str(db), table="t")  # the type recorded by the first run
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    assert sqlite_rows(db, "SELECT id, ts FROM t ORDER BY id") == [
        (1, "2024-01-01T00:00:00.000000Z"),
        (2, "2024-01-01T08:00:00.000000Z"),
        (3, "2023-12-31T18:30:00.000000Z"),
        (4, "2024-06-01T10:00:00.000000Z"),
    ]
    rejected = json.loads(Path(f"{db}.table-t.rejects.jsonl").read_text().splitlines()[-1])
    assert rejected["reason"].startswith("'2024-06-01+02' is not a valid timestamp[us, UTC]; ts is timestamp[us, UTC]")


@pytest.mark.parametrize(
    ("values", "target", "reasons"),
    [  # Arrow has no cast between these kinds: the run stopped as if the file were damaged
        ([dt.time(1, 2, 3), None], pa.date32(), ["'01:02:03.000000' is not a valid date"]),
        ([True, None], pa.date32(), ["'true' is not a valid date"]),
        ([20240101, None], pa.date32(), ["'20240101' is not a valid date"]),
        ([dt.date(2024, 1, 1), None], pa.time64("us"), ["'2024-01-01' is not a valid time64[us]"]),
        ([1.5, None], pa.duration("s"), ["'1.5' is not a valid duration[s] (a count of its unit)"]),
        # Arrow's cast would make a number a count since the epoch, or drop a timestamp's date
        (pa.array([20240101, None], pa.int32()), pa.date32(), ["'20240101' is not a valid date"]),
        ([5, None], pa.timestamp("us"), ["'5' is not a valid timestamp[us]" + EPOCH_HINT]),
        ([dt.datetime(2024, 1, 1), None], pa.time64("us"), ["'2024-01-01T00:00:00.000000' is not a valid time64[us]"]),
    ],
)
def test_a_typed_value_of_another_kind_is_rejected_as_its_text_would_be(
    values: list[object] | pa.Array, target: pa.DataType, reasons: list[str]
) -> None:
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    out = convert(arr, target, strict=True)
    assert (out.array.type, out.array.to_pylist()) == (target, [None, None])
    assert out.bad is not None and out.bad.to_pylist() == [True, False]
    assert out.reasons == reasons
    as_csv = convert(conv.text_form(arr), target, strict=True)
    assert (out.array.equals(as_csv.array), out.reasons) == (True, as_csv.reasons)


def test_a_typed_value_whose_text_converts_is_kept_as_csv_text_would_be() -> None:
    """An int32 into a duration is its count, as an int64 is; a date into bytes is its text's bytes."""
    out = convert(pa.array([90, None], pa.int32()), pa.duration("s"), strict=True)
    assert (out.bad, out.array.to_pylist()) == (None, [dt.timedelta(seconds=90), None])
    out = convert(pa.array([dt.date(2024, 1, 1), None]), pa.binary(), strict=True)
    assert (out.bad, out.array.to_pylist()) == (None, [b"2024-01-01", None])


@pytest.mark.parametrize(
    ("values", "target"),
    [  # Arrow would make 5 a microsecond past the epoch, and an int32's 20240101 a day in 57385
        (pa.array([5]), pa.timestamp("us")),
        (pa.array([20240101], pa.int32()), pa.date32()),
        (pa.array([None], pa.int16()), pa.timestamp("ms", "UTC")),
        (pa.array([1], pa.int32()), pa.time32("s")),
        (pa.array([dt.time(1, 2, 3)]), pa.date32()),  # Arrow has no such cast
    ],
)
def test_a_cast_asked_for_refuses_a_number_or_a_time_as_a_date(values: pa.Array, target: pa.DataType) -> None:
    with pytest.raises(pa.ArrowNotImplementedError):
        convert(values, target, explicit=True)


@pytest.mark.parametrize(
    ("text", "target", "stored"),
    [  # zeros past the unit, as the targets write a finer unit's value
        ("00:00:01.500000", pa.time32("ms"), dt.time(0, 0, 1, 500000)),
        ("02:00:00.500000000", pa.time32("ms"), dt.time(2, 0, 0, 500000)),
        ("00:00:01.000", pa.time32("s"), dt.time(0, 0, 1)),
        ("00:00:01.000000000", pa.time64("us"), dt.time(0, 0, 1)),
        ("2023-11-14 22:13:20.123000", pa.timestamp("ms"), dt.datetime(2023, 11, 14, 22, 13, 20, 123000)),
        ("2023-11-14T22:13:20.000", pa.timestamp("s"), dt.datetime(2023, 11, 14, 22, 13, 20)),
        ("9999-12-31T00:00:00.100000000000", pa.timestamp("us"), dt.datetime(9999, 12, 31, 0, 0, 0, 100000)),
    ],
)
def test_text_with_zeros_past_a_times_unit_converts(text: str, target: pa.DataType, stored: object) -> None:
    out = convert(pa.array([text, None]), target)
    assert (out.array.to_pylist(), out.bad) == ([stored, None], None)


def test_text_with_zeros_past_a_zoned_timestamps_unit_converts() -> None:
    out = convert(pa.array(["2023-11-14 22:13:20.123000Z", "2023-11-14 22:13:20.100+01:00"]), pa.timestamp("ms", "UTC"))
    assert out.bad is None
    assert [v.replace(tzinfo=None) for v in out.array.to_pylist()] == [
        dt.datetime(2023, 11, 14, 22, 13, 20, 123000),
        dt.datetime(2023, 11, 14, 21, 13, 20, 100000),
    ]


def test_text_without_an_offset_into_a_zoned_timestamp_says_the_zone_is_missing() -> None:
    """A valid time with no offset is no bad format: the reason says what is missing, as for a
    naive typed timestamp; text that is no time at all is still not a valid one."""
    texts = ["2024-01-01 10:00:00", "2024-01-01", "2024-01-01T10:00", "bad", "2024-06-01+02", None]
    out = convert(pa.array(texts), pa.timestamp("ms", "Europe/Oslo"))
    assert out.array.to_pylist() == [None] * 6
    assert out.reasons == [
        "'2024-01-01 10:00:00' has no time zone, and timestamp[ms, Europe/Oslo] would have to assume one",
        "'2024-01-01' has no time zone, and timestamp[ms, Europe/Oslo] would have to assume one",
        "'2024-01-01T10:00' has no time zone, and timestamp[ms, Europe/Oslo] would have to assume one",
        "'bad' is not a valid timestamp[ms, Europe/Oslo]",
        "'2024-06-01+02' is not a valid timestamp[ms, Europe/Oslo]",
    ]


@pytest.mark.parametrize(
    ("text", "target", "reason"),
    [
        (
            "02:00:00.5000001",
            pa.time32("ms"),
            "'02:00:00.5000001' has digits below a millisecond that time32[ms] would drop",
        ),
        ("00:00:01.5", pa.time32("s"), "'00:00:01.5' has digits below a second that time32[s] would drop"),
        ("25:00:00.000000", pa.time32("ms"), "'25:00:00.000000' is not a valid time32[ms]"),
        (
            "2023-11-14 22:13:20.123000001",
            pa.timestamp("ms"),
            "'2023-11-14 22:13:20.123000001' has digits below a millisecond that timestamp[ms] would drop",
        ),
        ("2023-13-14 22:13:20.1234", pa.timestamp("ms"), "'2023-13-14 22:13:20.1234' is not a valid timestamp[ms]"),
    ],
)
def test_text_with_other_digits_past_a_times_unit_is_rejected(text: str, target: pa.DataType, reason: str) -> None:
    out = convert(pa.array(["00:00:00" if pa.types.is_time(target) else "2024-01-01", text]), target)
    assert out.array[1].as_py() is None
    assert out.bad is not None and out.bad.to_pylist() == [False, True]
    assert out.reasons == [reason]


@pytest.mark.parametrize(
    ("values", "target", "stored"),
    [  # float64 holds 2**60 exactly, as at top level
        (pa.array([[2**60], [3], None]), pa.list_(pa.float64()), [[2.0**60], [3.0], None]),
        (pa.array([[2**60, None]]), pa.large_list(pa.float64()), [[2.0**60, None]]),
        (pa.array([[2**60, 1]], pa.list_(pa.int64(), 2)), pa.list_(pa.float64(), 2), [[2.0**60, 1.0]]),
        (
            pa.array([{"n": 10**18, "s": "x"}]),
            pa.struct([("n", pa.float64()), ("s", pa.string())]),
            [{"n": 1e18, "s": "x"}],
        ),
        (
            pa.array([[(1, 2**60)]], pa.map_(pa.int64(), pa.int64())),
            pa.map_(pa.int64(), pa.float64()),
            [[(1, 2.0**60)]],
        ),
    ],
)
def test_nested_integers_a_float_holds_exactly_convert(
    values: pa.Array, target: pa.DataType, stored: list[object]
) -> None:
    out = convert(values, target)
    assert (out.array.to_pylist(), out.bad) == (stored, None)


def test_a_nested_integer_a_float_rounds_rejects_its_row() -> None:
    out = convert(pa.array([[2**60], [2**53 + 1], [None, 2**63 - 1]]), pa.list_(pa.float64()))
    assert out.array.to_pylist() == [[2.0**60], None, None]
    assert out.reasons == [
        "'[9007199254740993]' holds an integer that list<item: double> would round (declare the column as string)",
        "'[null,9223372036854775807]' holds an integer that list<item: double> would round "
        "(declare the column as string)",
    ]
    out = convert(pa.array([{"n": 2**24 + 1}]), pa.struct([("n", pa.float32())]))
    assert out.reasons == [
        "'{\"n\":16777217}' holds an integer that struct<n: float> would round (declare the column as string)"
    ]
    out = convert(pa.array([[300]]), pa.list_(pa.int8()))  # no float: Arrow's safe cast decides
    assert out.reasons == ["'[300]' is not a valid list<item: int8>"]


def test_a_map_repeating_a_key_into_a_text_column_is_rejected_not_cut() -> None:
    """A map column that unifies to ``string`` is stored as its JSON text, which kept one value of a repeated key."""
    maps = pa.array([[("a", 1), ("a", 2)], [("a", 1), ("b", 2)], None], pa.map_(pa.string(), pa.int64()))
    out = conv.convert(maps, pa.string())
    assert out.array.to_pylist() == [None, '{"a":1,"b":2}', None]
    assert out.bad is not None and out.bad.to_pylist() == [True, False, False]
    assert out.reasons == ["the map holds the key 'a' twice: a JSON object keeps one value per key"]


@pytest.mark.parametrize("target", [pa.timestamp("ms"), pa.timestamp("ms", "UTC")])
def test_an_integer_a_timestamp_does_not_read_is_rejected_as_maybe_an_epoch_count(target: pa.DataType) -> None:
    out = convert(pa.array(["1704103200123", "x"]), target)
    name = type_name(target)
    assert out.reasons == [
        f"'1704103200123' is not a valid {name}{EPOCH_HINT}",
        f"'x' is not a valid {name}",
    ]


def test_uuid_text_is_the_canonical_lower_case_form() -> None:
    """As DuckDB, pandas and Python print a UUID: 8-4-4-4-12 lower-case hex; a null stays null."""
    raw = pa.array([bytes(range(16)), None, b"\xab" * 16], pa.binary(16))
    assert conv.uuid_text(raw).to_pylist() == [
        "00010203-0405-0607-0809-0a0b0c0d0e0f",
        None,
        "abababab-abab-abab-abab-abababababab",
    ]
