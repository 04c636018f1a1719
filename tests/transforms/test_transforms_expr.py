"""The expression language: grammar, precedence, null semantics, functions, safety."""

from __future__ import annotations

import datetime as dt
import operator
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader import load
from loader.errors import ConfigError, LoaderError
from loader.expr import FUNCTIONS, Expression, parse
from loader.transforms import Derive
from tests.conftest import sqlite_rows

BATCH = pa.record_batch(
    {
        "age": pa.array([10, 20, None, 30], pa.int64()),
        "country": ["NO", "SE", "NO", None],
        "first": ["Ann", "Bø", None, "Çé"],
        "last": ["X", "Y", "Z", None],
        "price": [1.5, 2.0, 3.25, None],
        "qty": pa.array([2, 3, 4, 5], pa.int32()),
        "created": pa.array(
            [dt.datetime(2024, 5, 1, 10), dt.datetime(2023, 12, 31, 23, 59), None, dt.datetime(2024, 2, 29)],
            pa.timestamp("us"),
        ),
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 6, 30), None, dt.date(2025, 1, 1)], pa.date32()),
        "full name": ["a b", "c d", "e f", "g h"],
        "flag": [True, False, None, True],
    }
)


def ev(text: str) -> list[object]:
    return Expression(text).evaluate(BATCH).to_pylist()


def etype(text: str) -> pa.DataType:
    return Expression(text).bound(BATCH.schema).type


def config_error(text: str, key: str = "where", stage: str = "transform[2] (filter)") -> str:
    with pytest.raises(ConfigError) as info:
        Expression(text, key=key, stage=stage).evaluate(BATCH)
    assert info.value.stage == stage
    return str(info.value)


# ---- literals, columns, arithmetic, precedence


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),  # left associative
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("- (2 + 3)", -5),
        ("7 / 2", 3.5),  # true division
        ("7 % 3", 1),
        ("-7 % 3", 2),  # Python's modulo: sign of the divisor
        ("1.5e1 + .5", 15.5),
        ("'a' || 'b' || 1", "ab1"),
        ("'x' || 1 + 2", "x3"),  # + binds tighter than ||
        ("1 + 2 = 3", True),
        ("not 1 = 2", True),  # not is looser than comparison
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("not true or true", True),
        ("'it''s'", "it's"),
        ('"double ""q"""', 'double "q"'),
        ("null is null", True),
        ("TRUE AND NOT FALSE", True),  # keywords are case-insensitive
    ],
)
def test_constant_expressions(text: str, expected: object) -> None:
    assert ev(text) == [expected] * 4


def test_column_arithmetic_keeps_nulls_and_types() -> None:
    assert ev("price * qty") == [3.0, 6.0, 13.0, None]
    assert etype("price * qty") == pa.float64()
    assert ev("age + 1") == [11, 21, None, 31]
    assert etype("age + 1") == pa.int64()
    assert ev("age / 4") == [2.5, 5.0, None, 7.5]
    assert ev("age / 0") == [None] * 4  # division by zero is null, not an error
    assert ev("age % 0") == [None] * 4
    assert ev("-age") == [-10, -20, None, -30]


def test_comparisons_and_null_semantics() -> None:
    assert ev("age >= 18") == [False, True, None, True]
    assert ev("age = 20") == ev("age == 20") == [False, True, None, False]
    assert ev("age != 20") == ev("age <> 20") == [True, False, None, True]
    assert ev("age < 20 or age > 25") == [True, False, None, True]
    # Kleene logic: null and false is false, null or true is true.
    assert ev("age > 15 and false") == [False] * 4
    assert ev("age > 15 or true") == [True] * 4
    assert ev("flag") == [True, False, None, True]
    assert ev("not flag") == [False, True, None, False]


def test_in_and_not_in() -> None:
    assert ev("country in ('NO', 'SE')") == [True, True, True, None]
    assert ev("country not in ('NO')") == [False, True, False, None]
    assert ev("not country in ('NO')") == [False, True, False, None]
    assert ev("age in (10, 30)") == [True, False, None, True]
    assert ev("age in (-1, 20)") == [False, True, None, False]
    assert ev("price in (1.5, 3.25)") == [True, False, True, None]
    assert ev("day in ('2024-01-01')") == [True, False, None, False]


def test_is_null() -> None:
    assert ev("age is null") == [False, False, True, False]
    assert ev("age is not null") == [True, True, False, True]
    assert ev("country is null or age is null") == [False, False, True, True]


def test_string_concat_and_functions() -> None:
    assert ev("first || ' ' || last") == ["Ann X", "Bø Y", None, None]
    assert ev("concat(first, ' ', last)") == ["Ann X", "Bø Y", " Z", "Çé "]
    assert ev("lower(first)") == ["ann", "bø", None, "çé"]
    assert ev("upper(first)") == ["ANN", "BØ", None, "ÇÉ"]
    assert ev("trim('  x ')") == ["x"] * 4
    assert ev("length(first)") == [3, 2, None, 2]  # characters, not bytes
    assert ev("substr(first, 2)") == ["nn", "ø", None, "é"]
    assert ev("substr(first, 1, 1)") == ["A", "B", None, "Ç"]
    assert ev("substr('hello', -3)") == ["llo"] * 4
    assert ev("starts_with(first, 'A')") == [True, False, None, False]
    assert ev("ends_with(last, 'Y')") == [False, True, False, None]
    assert ev("contains(`full name`, ' ')") == [True] * 4
    assert ev("matches(country, '^N')") == [True, False, True, None]
    assert ev("replace(country, 'N', 'n')") == ["nO", "SE", "nO", None]
    assert ev("regexp_replace(country, '[A-Z]$', '_')") == ["N_", "S_", "N_", None]


# ---- values as text: concat, || and cast(x, 'string') write the loader's one text form

_DAY_10000 = 2_932_897  # 10000-01-01, past the years Arrow's own cast to text spells

TEXT_FORMS = {
    "b": (pa.array([True, False]), ["true", "false"]),
    "i": (pa.array([-7, 0], pa.int64()), ["-7", "0"]),
    "u": (pa.array([2**63 - 1, 1], pa.uint64()), ["9223372036854775807", "1"]),
    "f": (pa.array([2.0, -0.0]), ["2.0", "-0.0"]),
    "g": (pa.array([0.1, 1e20]), ["0.1", "1e+20"]),
    "f32": (pa.array([0.1, 2.0], pa.float32()), ["0.10000000149011612", "2.0"]),
    "dec": (
        pa.array([Decimal("1.50"), Decimal("0.000000100")], pa.decimal128(20, 9)),
        ["1.500000000", "0.000000100"],
    ),
    "d": (pa.array([19723, _DAY_10000], pa.date32()), ["2024-01-01", "10000-01-01"]),
    "ts": (
        pa.array([dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 10, 0, 0, 5)], pa.timestamp("us")),
        ["2024-01-01T10:00:00.000000", "2024-01-01T10:00:00.000005"],
    ),
    "tms": (pa.array([dt.datetime(2024, 1, 1, 10)] * 2, pa.timestamp("ms")), ["2024-01-01T10:00:00.000"] * 2),
    "tz": (
        pa.array([dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 7, 1, 8)], pa.timestamp("us", "Europe/Paris")),
        ["2024-01-01T09:00:00.000000Z", "2024-07-01T08:00:00.000000Z"],  # the UTC instant, as stored
    ),
    "far": (
        pa.array([_DAY_10000 * 86_400_000_000, 0], pa.timestamp("us")),
        ["10000-01-01T00:00:00.000000", "1970-01-01T00:00:00.000000"],
    ),
    "tm": (pa.array([dt.time(12, 30), dt.time(1, 2, 3, 4)], pa.time64("us")), ["12:30:00.000000", "01:02:03.000004"]),
    "dur": (pa.array([5_000_000, -1], pa.duration("us")), ["5000000", "-1"]),
    "bin": (pa.array([b"ab", b"\xc3\xa9"]), ["ab", "é"]),
}


def test_concat_and_pipes_write_values_as_cast_to_string_and_sqlite_do(tmp_path: Path) -> None:
    """concat('v', x) of the float 2.0 was 'v2' (Arrow's cast), of a naive timestamp
    'v2024-01-01 10:00:00.000000', of a zoned one local time with '+0100'; cast(x, 'string')
    and the SQLite writer give '2.0' and '...T10:00:00.000000Z'."""
    names = list(TEXT_FORMS)
    pq.write_table(pa.table({n: TEXT_FORMS[n][0] for n in names}), tmp_path / "t.parquet")
    exprs = {}
    for n in names:
        exprs |= {f"c_{n}": f"concat('v', {n})", f"p_{n}": f"{n} || ''", f"s_{n}": f"cast({n}, 'string')"}
    db = tmp_path / "t.db"
    report = load(tmp_path / "t.parquet", db, table="t", transforms=[Derive(columns=exprs)])
    assert (report.rows_written, report.rows_rejected) == (2, 0)
    for n in names:
        rows = sqlite_rows(db, f"SELECT c_{n}, p_{n}, s_{n} FROM t ORDER BY rowid")
        want = TEXT_FORMS[n][1]
        assert rows == [("v" + w, w, w) for w in want], n
    # the columns the writer itself stores as text hold that same text
    for n in ("dec", "d", "ts", "tms", "tz", "far", "tm"):
        assert sqlite_rows(db, f"SELECT {n} FROM t ORDER BY rowid") == [(w,) for w in TEXT_FORMS[n][1]], n


def test_the_csv_floats_of_the_report_concat_with_their_point(tmp_path: Path) -> None:
    (tmp_path / "z.csv").write_text("id,x\n1,0.0\n2,-0.0\n3,2.0\n4,1.5\n")
    db = tmp_path / "z.db"
    derive = Derive(columns={"label": "concat('v', x)", "piped": "'v' || x"})
    assert load(tmp_path / "z.csv", db, table="z", transforms=[derive]).rows_written == 4
    assert sqlite_rows(db, "SELECT label, piped FROM z ORDER BY id") == [
        ("v0.0", "v0.0"),
        ("v-0.0", "v-0.0"),
        ("v2.0", "v2.0"),
        ("v1.5", "v1.5"),
    ]


def test_literals_and_nulls_as_text() -> None:
    assert ev("concat('v', 2.0, -0.0, true, 1e300)") == ["v2.0-0.0true1e+300"] * 4
    assert ev("concat(price, '|', created)") == [
        "1.5|2024-05-01T10:00:00.000000",
        "2.0|2023-12-31T23:59:00.000000",
        "3.25|",
        "|2024-02-29T00:00:00.000000",
    ]
    assert ev("price || ''") == ["1.5", "2.0", "3.25", None]
    # bytes that are not UTF-8 are no text: null, as cast(x, 'string') gives
    batch = pa.record_batch({"raw": pa.array([b"ok", b"\xff"])})
    assert Expression("concat('v', raw)").evaluate(batch).to_pylist() == ["vok", "v"]
    assert Expression("raw || ''").evaluate(batch).to_pylist() == ["ok", None]


def test_numeric_functions() -> None:
    assert ev("coalesce(age, 0)") == [10, 20, 0, 30]
    assert ev("coalesce(price, 0)") == [1.5, 2.0, 3.25, 0.0]
    assert ev("abs(-age)") == [10, 20, None, 30]
    assert ev("round(price)") == [2.0, 2.0, 3.0, None]  # half away from zero
    assert ev("round(price, 1)") == [1.5, 2.0, 3.3, None]
    assert ev("round(-2.5)") == [-3.0] * 4
    assert ev("floor(price)") == [1.0, 2.0, 3.0, None]
    assert ev("ceil(price)") == [2.0, 2.0, 4.0, None]
    assert ev("floor(age)") == [10, 20, None, 30]
    assert etype("floor(age)") == pa.int64()


def test_date_functions() -> None:
    assert ev("date(created)") == [dt.date(2024, 5, 1), dt.date(2023, 12, 31), None, dt.date(2024, 2, 29)]
    assert etype("date(created)") == pa.date32()
    assert ev("date('2024-03-01T10:00:00')") == [dt.date(2024, 3, 1)] * 4
    assert ev("date('not a date')") == [None] * 4
    assert ev("year(created)") == [2024, 2023, None, 2024]
    assert ev("month(day)") == [1, 6, None, 1]
    assert ev("day(day)") == [1, 30, None, 1]
    assert ev("day >= '2024-06-01'") == [False, True, None, True]


def test_if_and_cast() -> None:
    assert ev("if(age >= 18, 'adult', 'minor')") == ["minor", "adult", "minor", "adult"]  # null -> else
    assert ev("if(flag, price, 0)") == [1.5, 0.0, 0.0, None]
    assert ev("cast(age, 'string')") == ["10", "20", None, "30"]
    assert ev("cast(country, 'int64')") == [None] * 4  # values that do not fit become null
    assert ev("cast('12', 'int64') + 1") == [13] * 4
    assert etype("cast(qty, 'float64')") == pa.float64()


def test_quoted_names_and_unicode() -> None:
    b = pa.record_batch({"navn på by": ["Tromsø", "Å"], "høyde": [1, 2]})
    assert Expression("`navn på by` || '!'").evaluate(b).to_pylist() == ["Tromsø!", "Å!"]
    assert Expression("høyde * 2").evaluate(b).to_pylist() == [2, 4]
    b2 = pa.record_batch({"a`b": [1]})
    assert Expression("`a``b` + 1").evaluate(b2).to_pylist() == [2]


def test_empty_batch_keeps_the_type() -> None:
    empty = BATCH.slice(0, 0)
    out = Expression("price * qty").evaluate(empty)
    assert len(out) == 0 and out.type == pa.float64()


def test_columns_property_and_rebind_on_schema_change() -> None:
    e = parse("a + b * a")
    assert e.columns == ["a", "b"]
    assert e.evaluate(pa.record_batch({"a": [1], "b": [2]})).to_pylist() == [3]
    # Same names, new types: re-bound, not reused.
    assert e.evaluate(pa.record_batch({"a": [0.5], "b": [2.0]})).to_pylist() == [1.5]
    first = e.bound(pa.schema([("a", pa.int64()), ("b", pa.int64())]))
    assert e.bound(pa.schema([("a", pa.int64()), ("b", pa.int64())])) is first


# ---- errors


def test_syntax_error_names_key_position_and_text() -> None:
    msg = config_error("age >= 18)")
    assert msg == "transform[2] (filter): where: unexpected ')' at position 10 in \"age >= 18)\""


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty expression"),
        ("age >=", "unexpected end of expression at position 7"),
        ("(age", "expected ')', found end of expression"),
        ("'abc", "unterminated string (missing closing ')"),
        ("`abc", "unterminated quoted name"),
        ("1 < 2 < 3", "comparisons cannot be chained"),
        ("age is 3", "expected null after 'is', found number 3"),
        ("age in 1", "expected '(' after in"),
        ("age in (age)", "in (...) takes literal values only"),
        ("age in ()", "unexpected ')'"),
        ("12abc", "invalid number '12a'"),
        ("age + 'x'", "'+' does not join text; use || or concat()"),
        ("lower(age)", "lower() needs text, got int64"),
        ("age and true", "'and' needs true/false values, got int64"),
        ("substr(first, 'a')", "argument 2 of substr() must be a whole number literal"),
        ("starts_with(first, last)", "argument 2 of starts_with() must be a string literal"),
        ("cast(age, 'int65')", "unknown type 'int65' in cast()"),
        ("matches(first, '(')", "invalid regular expression '('"),
        ("round(1, 2, 3)", "round() takes 1 to 2 arguments, got 3"),
        ("if(true, 1)", "if() takes 3 arguments, got 2"),
        ("age > country", "operator '>' cannot be applied to int64 and string"),
        ("year(country)", "year() needs a date or timestamp, got string (use date(x) first)"),
        ("country in ('NO', 1)", "in (...) values must all be of one type"),
        ("age in ('x')", "in (...) values of type string cannot be compared with int64"),
        ("day > 'soon'", "'soon' is not a valid date"),
        ("9223372036854775807 + 1", "operator '+' failed: overflow"),
    ],
)
def test_error_messages(text: str, fragment: str) -> None:
    msg = config_error(text)
    assert fragment in msg
    assert f'in "{text}"' in msg


def test_unknown_column_is_named_with_the_available_ones() -> None:
    msg = config_error("agee >= 18")
    assert "unknown column 'agee' at position 1" in msg
    assert "(did you mean 'age'?)" in msg
    assert "available: age, country, first, last, price, qty, created, day, full name, flag" in msg


def test_unknown_function_suggests_and_lists() -> None:
    msg = config_error("lowr(country)")
    assert "unknown function 'lowr' at position 1" in msg and "(did you mean 'lower'?)" in msg
    assert "functions: abs, cast" in msg


def test_function_list_has_the_documented_minimum() -> None:
    need = {
        "concat",
        "lower",
        "upper",
        "trim",
        "length",
        "substr",
        "coalesce",
        "abs",
        "round",
        "floor",
        "ceil",
        "date",
        "year",
        "month",
        "day",
        "starts_with",
        "ends_with",
        "contains",
        "replace",
        "if",
        "cast",
    }
    assert need <= set(FUNCTIONS)


def test_runtime_overflow_is_a_loader_error_not_config() -> None:
    with pytest.raises(LoaderError) as info:
        Expression("age * 9223372036854775807", key="columns.x", stage="derive").evaluate(BATCH)
    assert not isinstance(info.value, ConfigError)
    assert "columns.x: operator '*' failed: overflow at position 5" in str(info.value)


# ---- safety: the text is data, never Python


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('x')", "unexpected '.' at position 17"),
        ("__import__('os')", "unknown function '__import__' at position 1"),
        ("a.__class__", "unexpected '.' at position 2"),
        ("age.__class__.__mro__", "unexpected '.' at position 4"),
        ("x[0]", "unexpected '[' at position 2"),
        ("lambda: 1", "unexpected ':' at position 7"),
        ("lambda x: x", "unexpected ':' at position 9"),
        ("eval('1')", "unknown function 'eval'"),
        ("exec('import os')", "unknown function 'exec'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("getattr(age, 'real')", "unknown function 'getattr'"),
        ("`a`'); import os; ('", "unexpected string '); import os; (' at position 4"),
        ("`age` `x`", "unexpected name 'x' at position 7"),
        ("`ag'e`", 'unknown column "ag\'e"'),
        ("age; drop table t", "unexpected ';' at position 4"),
        ("{'a': 1}", "unexpected '{'"),
        ("age if age else 0", "unexpected name 'if'"),
        ("f'{age}'", "unexpected string '{age}'"),
        ("1 ** 2", "unexpected '*' at position 4"),
        ("age @ 2", "unexpected '@'"),
    ],
)
def test_injection_attempts_are_config_errors(text: str, fragment: str) -> None:
    import builtins

    calls: list[str] = []
    saved = {n: getattr(builtins, n) for n in ("eval", "exec", "compile")}

    def spy(name: str):  # type: ignore[no-untyped-def]
        def fn(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return saved[name](*args, **kwargs)

        return fn

    for n in saved:
        setattr(builtins, n, spy(n))
    try:
        with pytest.raises(ConfigError) as info:
            Expression(text, key="where", stage="transform[2] (filter)").evaluate(BATCH)
    finally:
        for n, f in saved.items():
            setattr(builtins, n, f)
    assert calls == []  # never handed to Python's eval/exec/compile
    assert fragment in str(info.value)


def test_deep_nesting_is_refused_cleanly() -> None:
    assert "nested too deeply" in config_error("(" * 500 + "1" + ")" * 500)


# ---- dictionary (category) columns hold their values


def _species() -> pa.RecordBatch:
    species = pa.array(["Adelie", "Gentoo", None, "Chinstrap"]).dictionary_encode()
    species = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2], pa.int8()), species.dictionary)
    return pa.record_batch({"species": species})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("species in ('Adelie', 'Gentoo')", [True, True, None, False]),
        ("species not in ('Adelie')", [False, True, None, True]),
        ("lower(species)", ["adelie", "gentoo", None, "chinstrap"]),
        ("length(species)", [6, 6, None, 9]),
        ("starts_with(species, 'G')", [False, True, None, False]),
        ("species = 'Gentoo'", [False, True, None, False]),
        ("species || '!'", ["Adelie!", "Gentoo!", None, "Chinstrap!"]),
        ("coalesce(species, 'none')", ["Adelie", "Gentoo", "none", "Chinstrap"]),
        ("species", ["Adelie", "Gentoo", None, "Chinstrap"]),
    ],
)
def test_dictionary_text_column_works_as_text(text: str, expected: list[object]) -> None:
    batch = _species()
    assert pa.types.is_dictionary(batch.schema.field("species").type)
    out = Expression(text).evaluate(batch)
    assert out.to_pylist() == expected
    assert not pa.types.is_dictionary(out.type)


# ---- integers beyond 2**53 with floats; decimals rounded past their precision

BIG = pa.record_batch(
    {
        "ns": pa.array([1700000000123456789, -(2**63), 7, None], pa.int64()),
        "u": pa.array([2**64 - 1, 2**63, 1, None], pa.uint64()),
        "f": pa.array([1.7e18, -(2.0**63), 7.0, 1.0]),
    }
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ns / 1000000000", [1700000000.1234567, -9223372036.854776, 7e-9, None]),
        ("ns / 1e9", [1700000000.1234567, -9223372036.854776, 7e-9, None]),
        ("ns * 1.5", [2.5500000001851853e18, -1.3835058055282164e19, 10.5, None]),
        ("ns + 0.5", [1.7000000001234568e18, -(2.0**63), 7.5, None]),
        ("u - 0.5", [2.0**64, 2.0**63, 0.5, None]),
        ("u / 2", [2.0**63, 2.0**62, 0.5, None]),
        ("if(ns > 0, ns, f)", [1.7000000001234568e18, -(2.0**63), 7.0, 1.0]),
        ("coalesce(ns, f)", [1.7000000001234568e18, -(2.0**63), 7.0, 1.0]),
    ],
)
def test_integers_mixed_with_floats_are_read_as_float(text: str, expected: list[object]) -> None:
    out = Expression(text).evaluate(BIG)
    assert out.type == pa.float64()
    assert out.to_pylist() == expected


def test_whole_number_next_to_a_uint64_is_a_uint64() -> None:
    out = Expression("u - 1").evaluate(BIG)
    assert out.type == pa.uint64()
    assert out.to_pylist() == [2**64 - 2, 2**63 - 1, 0, None]
    assert Expression("coalesce(u, 5)").evaluate(BIG).to_pylist() == [2**64 - 1, 2**63, 1, 5]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ns = f", [False, True, True, None]),  # 1700000000123456789 is not 1.7e18
        ("ns > f", [True, False, False, None]),
        ("ns = 1700000000123456768.0", [False, False, False, None]),  # the float ns rounds to
        ("u > 1", [True, True, False, None]),
        ("u = 18446744073709551615", [True, False, False, None]),
        ("u > ns", [True, True, False, None]),
        ("ns < 9223372036854775808", [True, True, True, None]),  # 2**63: a uint64 literal
        ("u = f", [False, False, False, None]),
        ("u >= 18446744073709551616.0", [False, False, False, None]),  # 2**64, where u rounds to
    ],
)
def test_integer_comparisons_are_exact_beyond_2_53(text: str, expected: list[object]) -> None:
    assert Expression(text).evaluate(BIG).to_pylist() == expected


_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_INT64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**62 + 1]),
)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        _INT64.flatmap(lambda i: st.tuples(st.just(i), st.one_of(st.just(float(i)), st.floats()))),
        min_size=1,
        max_size=20,
    ),
    op=st.sampled_from(sorted(_OPS)),
)
def test_int_float_comparison_matches_python(pairs: list[tuple[int, float]], op: str) -> None:
    ints, floats = [i for i, _ in pairs], [f for _, f in pairs]
    batch = pa.record_batch({"i": pa.array(ints, pa.int64()), "f": pa.array(floats, pa.float64())})
    assert Expression(f"i {op} f").evaluate(batch).to_pylist() == [_OPS[op](i, f) for i, f in pairs]
    assert Expression(f"f {op} i").evaluate(batch).to_pylist() == [_OPS[op](f, i) for i, f in pairs]


@pytest.mark.parametrize(
    "text, expected, type_",
    [
        ("round(p, 1)", ["100000000.0", "-100000000.0", "1.3"], pa.decimal128(10, 1)),
        ("round(p)", ["100000000", "-100000000", "1"], pa.decimal128(10, 0)),
        ("round(p, -2)", ["100000000", "-100000000", "0"], pa.decimal128(10, 0)),
        ("round(p, 2)", ["99999999.99", "-99999999.95", "1.25"], pa.decimal128(10, 2)),
        ("ceil(p)", ["100000000", "-99999999", "2"], pa.decimal128(10, 0)),
        ("floor(p)", ["99999999", "-100000000", "1"], pa.decimal128(10, 0)),
    ],
)
def test_decimal_rounding_widens_like_duckdb(text: str, expected: list[str], type_: pa.DataType) -> None:
    values = [Decimal("99999999.99"), Decimal("-99999999.95"), Decimal("1.25")]
    batch = pa.record_batch({"p": pa.array(values, pa.decimal128(10, 2))})
    out = Expression(text).evaluate(batch)
    assert out.type == type_
    assert out.to_pylist() == [Decimal(v) for v in expected]


# ---- text literals compared with a timestamp that has a zone

_UTC = dt.UTC
ZONED = pa.record_batch(
    {
        "t": pa.array(
            [dt.datetime(2023, 12, 31, 23, tzinfo=_UTC), dt.datetime(2024, 1, 1, tzinfo=_UTC), None],
            pa.timestamp("us", "UTC"),
        ),
        "oslo": pa.array(
            [dt.datetime(2023, 12, 31, 23, tzinfo=_UTC), dt.datetime(2024, 1, 1, tzinfo=_UTC), None],
            pa.timestamp("us", "Europe/Oslo"),
        ),
    }
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("t >= '2024-01-01'", [False, True, None]),
        ("t >= '2024-01-01 00:00:00'", [False, True, None]),
        ("t >= '2024-01-01T00:00:00Z'", [False, True, None]),
        ("t = '2024-01-01T01:00:00+01:00'", [False, True, None]),
        ("t in ('2024-01-01', '2023-12-31 23:00')", [True, True, None]),
        ("t not in ('2024-01-01')", [True, False, None]),
        # a naive literal is wall-clock time in the column's zone: Oslo's midnight is 23:00 UTC
        ("oslo = '2024-01-01'", [True, False, None]),
        ("oslo in ('2024-01-01 01:00:00')", [False, True, None]),
    ],
)
def test_naive_text_compared_with_zoned_timestamp_is_read_in_its_zone(text: str, expected: list[object]) -> None:
    assert Expression(text).evaluate(ZONED).to_pylist() == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("oslo = '2024-03-31 02:30'", "'2024-03-31 02:30' does not exist in time zone Europe/Oslo at position 8"),
        ("oslo = '2024-10-27 02:30'", "'2024-10-27 02:30' is ambiguous in time zone Europe/Oslo at position 8"),
        ("t < 'soon'", "'soon' is not a valid timestamp[us, UTC] at position 5"),
        ("t in ('soon')", "'soon' is not a valid timestamp[us, UTC] at position 3"),
    ],
)
def test_text_that_is_no_instant_in_the_zone_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Expression(text, key="where").evaluate(ZONED)
    assert str(info.value) == f'where: {message} in "{text}"'


# ---- a date, or a timestamp without a zone, next to a timestamp that has one

MIXED = pa.record_batch(
    {
        "d": pa.array([dt.date(2024, 1, 1)] * 3, pa.date32()),
        "local": pa.array([dt.datetime(2024, 1, 1, 9), None, None], pa.timestamp("us")),
        "t": ZONED.column("t"),
        "oslo": ZONED.column("oslo"),
    }
)


@pytest.mark.parametrize(
    "text, expected",
    [
        # Oslo's midnight of 2024-01-01 is 23:00 UTC the day before; Arrow read the date as UTC
        ("d = oslo", [True, False, None]),
        ("oslo = d", [True, False, None]),
        ("oslo > d", [False, True, None]),
        ("d < oslo", [False, True, None]),
        ("d = t", [False, True, None]),
        ("oslo >= date('2024-01-01')", [True, True, None]),
        ("oslo < date('2024-01-01')", [False, False, None]),
        ("d = oslo and oslo = '2024-01-01'", [True, False, None]),  # as the text literal
    ],
)
def test_a_date_compared_with_a_zoned_timestamp_is_its_midnight_in_that_zone(text: str, expected: list[object]) -> None:
    assert Expression(text).evaluate(MIXED).to_pylist() == expected


def test_a_date_whose_midnight_a_zone_skips_begins_at_the_days_first_instant() -> None:
    # Santiago's clocks went from 00:00 to 01:00 (-03) on 2023-09-03: the day began at 04:00 UTC
    b = pa.record_batch(
        {
            "d": pa.array([dt.date(2023, 9, 3)] * 2, pa.date32()),
            "s": pa.array(
                [dt.datetime(2023, 9, 3, 4, tzinfo=_UTC), dt.datetime(2023, 9, 3, 3, 59, tzinfo=_UTC)],
                pa.timestamp("us", "America/Santiago"),
            ),
        }
    )
    assert Expression("s >= d").evaluate(b).to_pylist() == [True, False]


_ZONE_HINT = "a time zone would be dropped or assumed; make the {} values timestamps with a zone first, with the cast stage's timezone"


@pytest.mark.parametrize(
    "text, message, naive",
    [
        # coalesce() dropped the zone (or read the naive value as UTC); if() said only
        # "All types must be compatible", and took a date as UTC midnight
        (
            "coalesce(local, t)",
            "coalesce() cannot be applied to timestamp[us] and timestamp[us, UTC] at position 1",
            "timestamp[us]",
        ),
        (
            "coalesce(t, local)",
            "coalesce() cannot be applied to timestamp[us, UTC] and timestamp[us] at position 1",
            "timestamp[us]",
        ),
        (
            "coalesce(oslo, null, d)",
            "coalesce() cannot be applied to timestamp[us, Europe/Oslo] and null and date at position 1",
            "date",
        ),
        (
            "if(true, d, oslo)",
            "if() cannot be applied to date and timestamp[us, Europe/Oslo] at position 1",
            "date",
        ),
        (
            "if(d is null, t, local)",
            "if() cannot be applied to timestamp[us, UTC] and timestamp[us] at position 1",
            "timestamp[us]",
        ),
        # Arrow refused it only at a batch's first row, as a transform error (exit 65)
        (
            "local < oslo",
            "operator '<' cannot be applied to timestamp[us] and timestamp[us, Europe/Oslo] at position 7",
            "timestamp[us]",
        ),
    ],
)
def test_values_with_and_without_a_time_zone_do_not_mix(text: str, message: str, naive: str) -> None:
    with pytest.raises(ConfigError) as info:
        Expression(text, key="columns.seen").bind(MIXED.schema)
    assert str(info.value) == f'columns.seen: {message} in "{text}" ({_ZONE_HINT.format(naive)})'


def test_values_of_one_kind_of_time_still_mix() -> None:
    assert Expression("coalesce(local, d)").evaluate(MIXED).to_pylist() == [
        dt.datetime(2024, 1, 1, 9),
        dt.datetime(2024, 1, 1),
        dt.datetime(2024, 1, 1),
    ]
    both = Expression("coalesce(oslo, t)").evaluate(MIXED)  # two zones: instants kept
    assert both.type == pa.timestamp("us", "Europe/Oslo")
    assert both.to_pylist()[:2] == MIXED.column("oslo").to_pylist()[:2]
    # if() took one zone only: "All types must be compatible" (Arrow's words, exit 2)
    either = Expression("if(oslo > '2024-01-01 12:00', t, oslo)").evaluate(MIXED)
    assert either.type == pa.timestamp("us", "UTC")
    assert either.to_pylist() == [MIXED.column("oslo")[0].as_py(), MIXED.column("t")[1].as_py(), None]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-01", dt.date(2024, 5, 1)),
        ("2024-05-01T10:00", dt.date(2024, 5, 1)),
        ("2024-05-01 10:00:00.123456789", dt.date(2024, 5, 1)),
        ("2024-05-01T23:00:00-05:00", dt.date(2024, 5, 1)),  # the date as written
        ("9999-12-31T23:59:59Z", dt.date(9999, 12, 31)),
        ("2024-05-01garbage", None),
        ("2024-05-01 25:99", None),
        ("2024-05-01T", None),
        ("2024-02-30", None),
        (None, None),
    ],
)
def test_date_of_text_is_null_unless_a_date_with_an_optional_time(text: str | None, expected: object) -> None:
    batch = pa.record_batch({"s": pa.array([text], pa.string())})
    assert Expression("date(s)").evaluate(batch).to_pylist() == [expected]


@pytest.mark.parametrize(
    "text, expected",  # as SQL (DuckDB, PostgreSQL): start 0 is the position before the text
    [
        ("substr('hello', 0, 2)", "h"),
        ("substr('hello', 0, 1)", ""),
        ("substr('hello', 0)", "hello"),
        ("substr('hello', 1, 2)", "he"),
        ("substr('hello', -1, 2)", "o"),
        ("substr('hello', -7, 3)", "h"),
    ],
)
def test_substr_counts_like_sql(text: str, expected: str) -> None:
    assert ev(text) == [expected] * 4


@pytest.mark.parametrize(
    "text, expected",  # SQL's three-valued answers (as DuckDB gives them)
    [
        ("age in (10, null)", [True, None, None, None]),
        ("age not in (10, null)", [False, None, None, None]),
        ("age in (null)", [None, None, None, None]),
        ("age not in (10)", [False, True, None, True]),
    ],
)
def test_null_in_an_in_list_makes_a_value_not_found_unknown(text: str, expected: list[object]) -> None:
    assert ev(text) == expected


NUMBERS = pa.record_batch(
    {
        "f": pa.array([-0.0, 0.0, 1.0]),
        "j": pa.array([1, 2, -3]),
        "u": pa.array([2**63 + 1, 5, 2**64 - 1], pa.uint64()),
        "d": pa.array([Decimal("1.00"), Decimal("3.00"), Decimal("-99999999.99")], pa.decimal128(10, 2)),
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f in (0)", [True, True, False]),  # -0.0 is 0, as '=' says
        ("f in (-0.0, 5.5)", [True, True, False]),
        ("d in (1, 3)", [True, True, False]),
        ("u not in (-1)", [True, True, True]),  # no uint64 is -1
        ("f in (3, 9223372036854775807)", [False, False, False]),  # no float64 is 2**63 - 1
        ("j in (1.5, 2)", [False, True, False]),
        ("cast(j, 'decimal(10,2)')", [Decimal("1.00"), Decimal("2.00"), Decimal("-3.00")]),
    ],
)
def test_numbers_in_lists_casts_compare_by_value(text: str, expected: list[object]) -> None:
    assert Expression(text).evaluate(NUMBERS).to_pylist() == expected


def test_division_by_a_decimal_is_true_division() -> None:
    """A quotient in a decimal of fixed scale was cut: 2 / 3.00 gave 0.666666666, 4 / 99999999.99 gave 4.0E-8."""
    out = Expression("j / d").evaluate(NUMBERS)
    assert out.type == pa.float64()
    assert out.to_pylist() == pytest.approx([1.0, 2 / 3, -3 / -99999999.99], rel=1e-15)


def test_arithmetic_on_a_wide_decimal_is_exact_in_decimal256() -> None:
    """decimal(38, 10) + 1 needs 39 digits: Arrow's decimal128 refused the expression."""
    b = pa.record_batch({"e": pa.array([Decimal("1.5"), None], pa.decimal128(38, 10)), "j": pa.array([1, 2])})
    assert Expression("e + 1").evaluate(b).to_pylist() == [Decimal("2.5"), None]
    assert Expression("e * j").evaluate(b).to_pylist() == [Decimal("1.5"), None]
    assert Expression("coalesce(e, j)").evaluate(b).to_pylist() == [Decimal("1.5"), Decimal("2")]


def test_a_uint64_mixed_with_a_signed_integer_is_exact() -> None:
    """No 64-bit integer type holds 2**63 + 1 and -3: Arrow's int64 stopped the run."""
    b = pa.record_batch({"u": pa.array([2**63 + 1, 2**64 - 1], pa.uint64()), "j": pa.array([1, -3])})
    assert Expression("u + j").evaluate(b).to_pylist() == [2**63 + 2, 2**64 - 4]
    assert Expression("coalesce(u, j)").evaluate(b).to_pylist() == [2**63 + 1, 2**64 - 1]
    assert Expression("if(false, u, j)").evaluate(b).to_pylist() == [1, -3]
    assert Expression("u - 1").evaluate(b).type == pa.uint64()  # a literal next to a uint64 is one


# ---- a column without a value in a whole file (Arrow type null)

# Each typed column with an all-null twin: "n" (type null) must behave as the twin.
TYPED = pa.record_batch(
    {
        "n": pa.nulls(3),
        "s": ["a", None, "b"],
        "i": pa.array([1, None, 3]),
        "f": [1.5, None, -2.0],
        "bo": [True, None, False],
        "d": pa.array([dt.date(2024, 1, 2), None, dt.date(2025, 3, 4)], pa.date32()),
        "dec": pa.array([Decimal("1.25"), None, Decimal("-2.50")], pa.decimal128(5, 2)),
        "ns": pa.nulls(3, pa.string()),
        "ni": pa.nulls(3, pa.int64()),
        "nbo": pa.nulls(3, pa.bool_()),
        "nd": pa.nulls(3, pa.date32()),
        "ndec": pa.nulls(3, pa.decimal128(5, 2)),
    }
)

# (expression over "n", the twin n stands for there); every function and operator appears.
NULL_CASES = [
    ("concat(n, s)", "ns"),
    ("concat(s, n, i)", "ns"),
    *((f"{fn}(n)", "ns") for fn in ("lower", "upper", "trim", "ltrim", "rtrim", "length")),
    ("substr(n, 2, 1)", "ns"),
    ("coalesce(n, s)", "ns"),
    ("coalesce(n, 'x')", "ns"),
    ("coalesce(s, n)", "ns"),
    ("coalesce(n, i)", "ni"),
    ("coalesce(n, 7)", "ni"),
    ("coalesce(n, f)", "ni"),
    ("coalesce(n, bo)", "nbo"),
    ("coalesce(n, d)", "nd"),
    ("coalesce(n, dec)", "ndec"),
    ("coalesce(n, n, s)", "ns"),
    *((f"{fn}(n)", "ni") for fn in ("abs", "round", "floor", "ceil")),
    ("round(n, 1)", "ni"),
    ("date(n)", "ns"),
    *((f"{fn}(n)", "nd") for fn in ("year", "month", "day")),
    ("starts_with(n, 'a')", "ns"),
    ("ends_with(n, 'a')", "ns"),
    ("contains(n, 'a')", "ns"),
    ("matches(n, '^a')", "ns"),
    ("replace(n, 'a', 'b')", "ns"),
    ("regexp_replace(n, 'a', 'b')", "ns"),
    ("if(n, s, 'x')", "nbo"),
    ("if(bo, n, s)", "ns"),
    ("if(bo, i, n)", "ni"),
    ("if(bo, n, 2.5)", "ni"),
    ("cast(n, 'int64')", "ni"),
    ("cast(n, 'string')", "ns"),
    *((f"n {op} s", "ns") for op in ("=", "!=", "<", "<=", ">", ">=")),
    *((f"i {op} n", "ni") for op in ("=", "!=", "<", "<=", ">", ">=")),
    ("n = 1.5", "ni"),
    ("n = '2024-01-02'", "ns"),
    ("d >= n", "nd"),
    ("n = null", "ns"),
    ("n in ('a', 'b')", "ns"),
    ("n not in (1, 2)", "ni"),
    ("n in (null, 'a')", "ns"),
    ("n is null", "ns"),
    ("n is not null", "ns"),
    *((f"n {op} i", "ni") for op in ("+", "-", "*", "/", "%")),
    *((f"f {op} n", "ni") for op in ("+", "-", "*", "/", "%")),
    ("n + dec", "ndec"),
    ("-n", "ni"),
    ("+n", "ni"),
    ("not n", "nbo"),
    ("n and bo", "nbo"),
    ("bo or n", "nbo"),
    ("n || s", "ns"),
    ("s || n", "ns"),
]


def test_every_function_and_operator_has_a_null_column_case() -> None:
    called = {name for text, _ in NULL_CASES for name in FUNCTIONS if f"{name}(" in text}
    assert called == set(FUNCTIONS)


@pytest.mark.parametrize("text, twin", NULL_CASES)
def test_a_null_typed_column_behaves_as_an_all_null_column_of_the_other_type(text: str, twin: str) -> None:
    """A CSV column without a value in a whole file is typed null: coalesce(mid, name) and
    coalesce(mid, 'x') were configuration errors (no Arrow kernel for null and string)."""
    got = Expression(text).evaluate(TYPED)
    want = Expression(re.sub(r"\bn\b", twin, text)).evaluate(TYPED)
    assert got.to_pylist() == want.to_pylist()
    # a result with nothing to take a type from stays null; else it is the twin's
    assert got.type in (want.type, pa.null())


def test_a_null_typed_column_takes_the_type_of_the_other_operand() -> None:
    assert Expression("coalesce(n, s)").evaluate(TYPED).to_pylist() == ["a", None, "b"]
    assert Expression("coalesce(n, 'x')").evaluate(TYPED).to_pylist() == ["x"] * 3
    assert Expression("coalesce(n, i)").bound(TYPED.schema).type == pa.int64()
    assert Expression("n / 2").bound(TYPED.schema).type == pa.float64()  # true division, as for an integer
    assert Expression("year(n)").bound(TYPED.schema).type == pa.int64()


CENTS = pa.record_batch(
    {
        "price": pa.array([Decimal(v) for v in ["0.35", "0.34", "0.36", "1.01"]] + [None], pa.decimal128(10, 2)),
        "f": pa.array([0.35, 0.3, 0.36, 1.0100000000000002, 1.0]),
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a number literal is the decimal it says, compared exactly (as DuckDB and SQLite do)
        ("price <= 0.35", [True, True, False, False, None]),
        ("price = 0.35", [True, False, False, False, None]),
        ("0.35 >= price", [True, True, False, False, None]),
        ("price != 0.350", [False, True, True, True, None]),
        ("price < 0.355", [True, True, False, False, None]),
        ("price > 0.355", [False, False, True, True, None]),
        ("price = 1.01", [False, False, False, True, None]),
        ("price < 1e20", [True, True, True, True, None]),
        ("price > 1e-300", [True, True, True, True, None]),  # no common decimal: as floats
        ("price < 1e400", [True, True, True, True, None]),  # inf
        ("price in (0.35)", [True, False, False, False, None]),
        ("price in (0.355, 1.01)", [False, False, False, True, None]),
        # a float column: the decimal is the float nearest it
        ("price = f", [True, False, True, False, None]),
        ("f >= price", [True, False, True, True, None]),
    ],
)
def test_a_decimal_compares_with_a_float_by_value(text: str, expected: list[object]) -> None:
    """The repro: Arrow read a decimal(10, 2) 0.35 as 0.35000000000000003, so price <= 0.35
    dropped the row holding 0.35, and price = 0.35 and price in (0.35) were false."""
    assert Expression(text).evaluate(CENTS).to_pylist() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("price * 1.0", [0.35, 0.34, 0.36, 1.01, None]),
        ("price / 1", [0.35, 0.34, 0.36, 1.01, None]),
        ("price + 0.0", [0.35, 0.34, 0.36, 1.01, None]),
        ("coalesce(price, 0.5)", [0.35, 0.34, 0.36, 1.01, 0.5]),
        ("if(true, price, 0.5)", [0.35, 0.34, 0.36, 1.01, None]),
        ("cast(price, 'float64')", [0.35, 0.34, 0.36, 1.01, None]),
    ],
)
def test_a_decimal_read_as_a_float_is_the_float_nearest_it(text: str, expected: list[object]) -> None:
    out = Expression(text).evaluate(CENTS)
    assert out.type == pa.float64()
    assert out.to_pylist() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("round(p, -8)", ["100000000", "-100000000", "0"]),
        ("round(p, -9)", ["0", "0", "0"]),
        ("round(p, -10)", ["0", "0", "0"]),
        ("round(p, -300)", ["0", "0", "0"]),
    ],
)
def test_rounding_a_decimal_past_its_whole_digits_gives_zero(text: str, expected: list[str]) -> None:
    """round(d, -9) of a decimal(10, 2) stopped the run: "Rounding to -9 digits will not fit
    in precision of decimal128(11, 2)"; DuckDB gives 0."""
    values = [Decimal("99999999.99"), Decimal("-99999999.95"), Decimal("1.25")]
    batch = pa.record_batch({"p": pa.array([*values, None], pa.decimal128(10, 2))})
    out = Expression(text).evaluate(batch)
    assert out.type == pa.decimal128(10, 0)
    assert out.to_pylist() == [Decimal(v) for v in expected] + [None]


# Every expression that reads text, and its values for name = ['ann', None, 'bob'].
TEXT_EXPRESSIONS = {
    "'hi ' || name": ["hi ann", None, "hi bob"],
    "name || name": ["annann", None, "bobbob"],
    "concat(name, 'x', 1)": ["annx1", "x1", "bobx1"],
    "lower(name)": ["ann", None, "bob"],
    "upper(name)": ["ANN", None, "BOB"],
    "trim(name)": ["ann", None, "bob"],
    "ltrim(name)": ["ann", None, "bob"],
    "rtrim(name)": ["ann", None, "bob"],
    "length(name)": [3, None, 3],
    "substr(name, 2, 1)": ["n", None, "o"],
    "coalesce(name, 'z')": ["ann", "z", "bob"],
    "starts_with(name, 'a')": [True, None, False],
    "ends_with(name, 'b')": [False, None, True],
    "contains(name, 'n')": [True, None, False],
    "matches(name, '^b')": [False, None, True],
    "replace(name, 'a', 'b')": ["bnn", None, "bob"],
    "regexp_replace(name, '[ab]', 'c')": ["cnn", None, "coc"],
    "if(name = 'ann', name, 'x')": ["ann", "x", "x"],
    "cast(name, 'string')": ["ann", None, "bob"],
    "date(name)": [None, None, None],
    "name in ('bob')": [False, None, True],
    "name < 'b'": [True, None, False],
}


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string(), pa.string_view()], ids=str)
@pytest.mark.parametrize("text", list(TEXT_EXPRESSIONS))
def test_every_text_function_takes_each_text_layout(text: str, text_type: pa.DataType) -> None:
    """|| and concat() refused large_string (pandas 3 writes it: "no kernel matching input
    types (string, large_string, string)"), and most functions refused string_view."""
    batch = pa.record_batch({"name": pa.array(["ann", None, "bob"], text_type)})
    assert Expression(text).evaluate(batch).to_pylist() == TEXT_EXPRESSIONS[text]


def test_in_and_equals_agree_on_a_float32_column() -> None:
    """'rate = 0.1' matched no row while 'rate in (0.1)' matched the float32 0.1, whose value
    is 0.10000000149011612: 'in' read 0.1 as a float32 first."""
    batch = pa.record_batch({"rate": pa.array([0.1, 0.2, 0.5, None], pa.float32())})
    pairs = [
        ("rate = 0.1", "rate in (0.1)", [False, False, False, None]),
        ("rate != 0.1", "rate not in (0.1)", [True, True, True, None]),
        ("rate = 0.5", "rate in (0.5)", [False, False, True, None]),
        ("rate = 0.10000000149011612", "rate in (0.10000000149011612)", [True, False, False, None]),
    ]
    for equals, in_list, expected in pairs:
        assert Expression(equals).evaluate(batch).to_pylist() == expected, equals
        assert Expression(in_list).evaluate(batch).to_pylist() == expected, in_list


def test_negation_abs_and_round_widen_narrow_integers_as_arithmetic_does() -> None:
    """-x and abs(x) of an int8 -128 overflowed where 0 - x gives 128, and round(x, -1) of an
    int8 failed with "round() failed: Rounding  up to multiples of " (Arrow's int8 shown as
    characters)."""
    batch = pa.record_batch(
        {"x": pa.array([-128, 127, 5, None], pa.int8()), "u": pa.array([250, 5, 0, None], pa.uint8())}
    )
    cases = {
        "-x": [128, -127, -5, None],
        "0 - x": [128, -127, -5, None],
        "abs(x)": [128, 127, 5, None],
        "round(x, -1)": [-130, 130, 10, None],
        "round(x, -3)": [0, 0, 0, None],
    }
    for text, expected in cases.items():
        out = Expression(text).evaluate(batch)
        assert (out.type, out.to_pylist()) == (pa.int64(), expected), text
    assert Expression("-u").evaluate(batch).to_pylist() == [-250, -5, 0, None]  # was a config error


@pytest.mark.parametrize("text", ["cast(qty, 'date')", "cast(age, 'timestamp')", "cast(age, 'date')"])
def test_cast_of_a_number_to_a_date_or_timestamp_is_refused(text: str) -> None:
    """As SQL's CAST: Arrow made an int32 a count of days and an int64 one of microseconds."""
    message = config_error(f"{text} is not null")
    assert "cast() cannot be applied to int" in message
    assert ": a number is no date or time)" in message


_TIMES = pa.record_batch(
    {
        "tm": pa.array([dt.time(1), dt.time(0, 15), None, dt.time(1, 0, 0, 1)], pa.time64("us")),
        "t32": pa.array([3_600_000, 1_500, None, 0], pa.time32("ms")),
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tm = '01:00'", [True, False, None, False]),
        ("tm > '00:30'", [True, False, None, True]),
        ("'00:30' < tm", [True, False, None, True]),
        ("tm != '01:00:00.000001'", [True, True, None, False]),
        ("tm in ('01:00', '00:15:00')", [True, True, None, False]),
        ("t32 = '01:00:00.000000'", [True, False, None, False]),  # zeros past the unit
        ("t32 >= '00:00:01.5'", [True, True, None, False]),
    ],
)
def test_text_literals_compare_with_times_as_with_dates(text: str, expected: list[object]) -> None:
    assert Expression(text).evaluate(_TIMES).to_pylist() == expected


def test_a_text_literal_that_is_no_time_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Expression("tm = '1 pm'", key="where", stage="transform[1] (filter)").evaluate(_TIMES)
    assert str(info.value) == (
        "transform[1] (filter): where: '1 pm' is not a valid time64[us] at position 6 in \"tm = '1 pm'\""
    )
