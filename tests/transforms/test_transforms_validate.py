"""validate: rules per column, reasons, reject vs fail, unique within a run."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest
from transforms_testutil import chunk_of, col

from loader.errors import ConfigError, LoaderError
from loader.transforms import Validate

RULES = {
    "email": {"not_null": True, "regex": "^.+@.+$"},
    "age": {"min": 0, "max": 150},
    "status": {"allowed": ["a", "b"]},
    "code": {"length": [2, 3]},
}


def data() -> dict:  # type: ignore[type-arg]
    return {
        "email": ["a@x.no", None, "bob", "ø@å.no", "c@d", "e@f"],
        "age": [30, 40, 50, -3, 151, None],
        "status": ["a", "b", "a", "b", "c", None],
        "code": ["NO", "SWE", "N", "DK", "XX", "ABCD"],
    }


def test_rejects_carry_the_rule_that_failed() -> None:
    stage = Validate(rules=RULES, name="transform[5] (validate)")
    out = stage(chunk_of(data(), first_row=100))
    assert col(out, "email") == ["a@x.no"]
    got = sorted((r.row, r.column, r.reason) for r in out.rejects)
    assert got == [
        (101, "email", "rule not_null=true failed for email: null"),
        (102, "email", "rule regex='^.+@.+$' failed for email: 'bob'"),
        (103, "age", "rule min=0 failed for age: -3"),
        (104, "age", "rule max=150 failed for age: 151"),  # status 'c' fails too; the first rule wins
        (105, "code", "rule length=[2, 3] failed for code: 'ABCD'"),  # null age/status pass
    ]
    assert {r.stage for r in out.rejects} == {"transform[5] (validate)"}
    assert {r.file for r in out.rejects} == {"t.csv"}
    assert out.rows_filtered == 0
    assert out.rejects[0].values is not None


def test_allowed_and_exact_length() -> None:
    c = chunk_of({"s": ["a", "c", None], "k": ["abc", "ab", "xyz"]})
    out = Validate(rules={"s": {"allowed": ["a", "b"]}, "k": {"length": 3}})(c)
    assert col(out, "s") == ["a", None]
    # Row 2 breaks both rules; it is rejected once, for the first.
    assert [r.reason for r in out.rejects] == ["rule allowed=['a', 'b'] failed for s: 'c'"]


def test_fail_mode_raises_for_the_first_bad_row() -> None:
    c = chunk_of(data(), file="people.csv")
    with pytest.raises(LoaderError) as info:
        Validate(rules=RULES, on_error="fail", name="v")(c)
    e = info.value
    assert (e.file, e.row, e.column, e.stage) == ("people.csv", 2, "email", "v")
    assert e.message == "rule not_null=true failed for email: null"


def test_unique_within_a_run_across_chunks() -> None:
    stage = Validate(rules={"id": {"unique": True}})
    try:
        a = stage(chunk_of({"id": [1, 2, 2, None, None]}, first_row=1))
        b = stage(chunk_of({"id": [3, 1, None]}, first_row=6))
    finally:
        stage.close()
    assert col(a, "id") == [1, 2, None, None]  # nulls are never duplicates
    assert col(b, "id") == [3, None]
    assert [(r.row, r.reason) for r in a.rejects + b.rejects] == [
        (3, "rule unique=true failed for id: 2"),
        (7, "rule unique=true failed for id: 1"),
    ]


def test_unique_ignores_rows_rejected_by_other_rules() -> None:
    stage = Validate(rules={"id": {"min": 0, "unique": True}})
    out = stage(chunk_of({"id": [-1, 5]}))
    out2 = stage(chunk_of({"id": [-1]}, first_row=3))
    stage.close()
    assert [r.reason for r in out.rejects + out2.rejects] == [
        "rule min=0 failed for id: -1",
        "rule min=0 failed for id: -1",
    ]


@pytest.mark.parametrize("split", [False, True])
def test_a_row_repeating_one_unique_column_claims_the_value_of_none_of_the_others(split: bool) -> None:
    """``email`` and ``username`` both unique: row 2 repeats row 1's username, and had claimed
    its email already, so row 3, whose email only row 2 held, was rejected too (in one batch
    or the next). It claims nothing; row 3 loads."""
    rules = {"email": {"unique": True}, "username": {"unique": True}}
    emails, names = (
        ["a@x.com", "b@x.com", "b@x.com", "c@x.com", None, None],
        ["alice", "alice", "bob", "bob", "eve", "eve"],
    )
    stage = Validate(rules=rules)
    try:
        if split:
            outs = [stage(chunk_of({"email": emails[:2], "username": names[:2]}))]
            outs.append(stage(chunk_of({"email": emails[2:], "username": names[2:]}, first_row=3)))
        else:
            outs = [stage(chunk_of({"email": emails, "username": names}))]
    finally:
        stage.close()
    assert [r for out in outs for r in out.rows.to_pylist()] == [1, 3, 5]
    assert [(r.row, r.column, r.reason) for out in outs for r in out.rejects] == [
        (2, "username", "rule unique=true failed for username: 'alice'"),
        (4, "username", "rule unique=true failed for username: 'bob'"),
        (6, "username", "rule unique=true failed for username: 'eve'"),
    ]


def test_a_row_repeating_two_unique_columns_is_rejected_for_the_first_of_them() -> None:
    stage = Validate(rules={"email": {"unique": True}, "username": {"unique": True}})
    try:
        out = stage(chunk_of({"email": ["a", "a"], "username": ["x", "x"]}))
    finally:
        stage.close()
    assert [(r.row, r.reason) for r in out.rejects] == [(2, "rule unique=true failed for email: 'a'")]


def test_unique_on_several_columns_stops_at_the_first_repeat_with_on_error_fail() -> None:
    stage = Validate(rules={"email": {"unique": True}, "username": {"unique": True}}, on_error="fail")
    try:
        with pytest.raises(LoaderError) as info:
            stage(chunk_of({"email": ["a", "b", "b"], "username": ["x", "x", "y"]}))
    finally:
        stage.close()
    assert (info.value.row, info.value.column) == (2, "username")


def test_empty_batch_and_unicode() -> None:
    empty = chunk_of(pa.record_batch(data()).slice(0, 0))
    assert Validate(rules=RULES)(empty).num_rows == 0
    out = Validate(rules={"s": {"length": [1, 2]}})(chunk_of({"s": ["ø", "øå", "øåæ"]}))
    assert col(out, "s") == ["ø", "øå"]


@pytest.mark.parametrize(
    "rules, fragment",
    [
        ({"age": {"minn": 0}}, "rules.age: unknown rule 'minn' (did you mean 'min'?)"),
        ({"age": {"min": [0]}}, "rules.age.min: expected a value, got [0]"),
        ({"age": {"length": [3, 2]}}, "rules.age.length: expected a length n or [min, max]"),
        ({"e": {"regex": "("}}, "rules.e.regex: invalid regular expression '('"),
        ({"e": {"not_null": "yes"}}, "rules.e.not_null: expected true or false"),
        ({"e": {"allowed": []}}, "rules.e.allowed: expected a non-empty list of values"),
        ({"e": []}, "rules.e: expected a table of rules"),
    ],
)
def test_rule_spec_errors(rules: dict, fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        Validate(rules=rules, name="transform[1] (validate)")
    assert fragment in str(info.value)


def test_rule_type_mismatch_and_missing_column_at_first_chunk() -> None:
    with pytest.raises(ConfigError, match=r"rules.age.min: 'x' cannot be compared with int64 values"):
        Validate(rules={"age": {"min": "x"}})(chunk_of({"age": [1]}))
    with pytest.raises(ConfigError, match=r"rules.name.max: 5 cannot be compared with string values"):
        Validate(rules={"name": {"max": 5}})(chunk_of({"name": ["a"]}))
    with pytest.raises(ConfigError, match=r"rules: no column 'agee' in the data"):
        Validate(rules={"agee": {"min": 1}})(chunk_of({"age": [1]}))


def test_a_reason_names_a_nanosecond_value_exactly() -> None:
    ts = pa.array([1, 2 * 10**18 + 1], pa.timestamp("ns"))  # a digit below the microsecond
    out = Validate(rules={"ts": {"max": "2020-01-01"}}, name="transform[1] (validate)")(chunk_of({"ts": ts}))
    assert [(r.reason, r.values) for r in out.rejects] == [
        (
            "rule max='2020-01-01' failed for ts: '2033-05-18T03:33:20.000000001'",
            {"ts": "2033-05-18T03:33:20.000000001"},
        )
    ]


def test_min_and_max_compare_with_a_decimal_column() -> None:
    from decimal import Decimal

    amounts = pa.array(
        [Decimal("-1000.00"), Decimal("0.25"), Decimal("99.99"), Decimal("100.01")], pa.decimal128(10, 2)
    )
    stage = Validate(rules={"amount": {"min": -900, "max": 100}}, name="transform[1] (validate)")
    out = stage(chunk_of({"amount": amounts}))
    assert col(out, "amount") == [Decimal("0.25"), Decimal("99.99")]
    assert [r.reason for r in out.rejects] == [
        "rule min=-900 failed for amount: -1000.00",
        "rule max=100 failed for amount: 100.01",
    ]
    half = Validate(rules={"amount": {"min": 0.5}}, name="transform[1] (validate)")(chunk_of({"amount": amounts}))
    assert col(half, "amount") == [Decimal("99.99"), Decimal("100.01")]


def test_small_decimals_show_and_match_as_their_stored_digits() -> None:
    """A decimal below 10**-6 is ``0.000000001`` in a reason, to a regex and in the reject's
    values, as the targets store it (Python's ``str`` and Arrow's cast write ``1E-9``)."""
    import json
    from decimal import Decimal

    amounts = pa.array([Decimal("-0.000000001"), Decimal("0.000000100"), Decimal("0.5")], pa.decimal128(38, 9))
    stage = Validate(rules={"amount": {"min": 0, "regex": r"^0\.000000"}}, name="transform[1] (validate)")
    out = stage(chunk_of({"amount": amounts}))
    assert col(out, "amount") == [Decimal("0.000000100")]
    assert [r.reason for r in out.rejects] == [
        "rule min=0 failed for amount: -0.000000001",
        "rule regex='^0\\\\.000000' failed for amount: 0.500000000",
    ]
    assert json.loads(out.rejects[0].to_json())["values"] == {"amount": "-0.000000001"}


def test_length_and_regex_read_values_as_the_targets_store_them() -> None:
    """A float 1.0 had length 1 and a zoned timestamp was local text with '+0100' (Arrow's
    cast), not the '1.0' and '...T10:00:00.000000Z' SQLite stores."""
    import datetime as dt

    data = {
        "x": pa.array([1.0, -0.0, 12.5, None]),
        "f32": pa.array([0.1, 2.0, 0.5, 1.0], pa.float32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 10)] * 4, pa.timestamp("us", "Europe/Paris")),  # 10:00 UTC
    }
    rules = {"x": {"length": 3}, "f32": {"length": [3, 3]}, "at": {"regex": r"^2024-01-01T10:00:00\.000000Z$"}}
    out = Validate(rules=rules, name="transform[1] (validate)")(chunk_of(data))
    assert col(out, "x") == [None]
    assert [r.reason for r in out.rejects] == [
        "rule length=3 failed for x: -0.0",
        "rule length=3 failed for x: 12.5",
        "rule length=[3, 3] failed for f32: 0.10000000149011612",
    ]


def test_reasons_show_dates_and_times_as_the_targets_store_them() -> None:
    """A zoned timestamp showed as Python writes it (``2024-01-01 11:00:00+01:00``)."""
    import datetime as dt

    at = pa.array([dt.datetime(2024, 1, 1, 10), None], pa.timestamp("us", "Europe/Paris"))
    day = pa.array([dt.date(2024, 1, 2), None]).dictionary_encode()
    out = Validate(rules={"at": {"regex": "^1999"}, "day": {"regex": "^1999"}})(chunk_of({"at": at, "day": day}))
    assert [r.reason for r in out.rejects] == [
        "rule regex='^1999' failed for at: '2024-01-01T10:00:00.000000Z'",
    ]
    out = Validate(rules={"day": {"regex": "^1999"}})(chunk_of({"day": day}))
    assert [r.reason for r in out.rejects] == ["rule regex='^1999' failed for day: '2024-01-02'"]


_OSLO = pa.timestamp("us", "Europe/Oslo")


def _oslo(*utc: tuple[int, ...]) -> pa.Array:
    import datetime as dt

    return pa.array([dt.datetime(*t, tzinfo=dt.UTC) for t in utc], _OSLO)


@pytest.mark.parametrize("bound", ["date", "local"])
def test_a_local_date_or_time_bound_on_a_zoned_column_is_in_the_columns_zone(bound: str) -> None:
    """hunt23a #3: ``max = 2024-04-01`` (or ``2024-04-01T00:00:00``) on an Oslo column was
    midnight UTC, 02:00 in Oslo, so 00:19 to 01:33 on April 1 in Oslo loaded. It is midnight
    in Oslo, as the expressions read a date or naive text beside a zoned timestamp."""
    import datetime as dt

    at = _oslo((2024, 3, 31, 21, 59), (2024, 3, 31, 22), (2024, 3, 31, 22, 19), (2024, 3, 31, 23, 33))
    value = dt.date(2024, 4, 1) if bound == "date" else dt.datetime(2024, 4, 1)
    out = Validate(rules={"at": {"max": value}})(chunk_of({"at": at}))
    assert col(out, "at") == at.slice(0, 2).to_pylist()  # up to midnight in Oslo (UTC+2), inclusive
    assert [r.row for r in out.rejects] == [3, 4]
    out = Validate(rules={"at": {"min": value}})(chunk_of({"at": at}))
    assert [r.row for r in out.rejects] == [1]
    out = Validate(rules={"at": {"allowed": [value]}})(chunk_of({"at": at}))
    assert col(out, "at") == [dt.datetime(2024, 4, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))]


def test_a_bound_with_an_offset_keeps_its_instant_on_a_zoned_column() -> None:
    import datetime as dt

    at = _oslo((2024, 3, 31, 22), (2024, 3, 31, 22, 19))
    plus2 = dt.datetime(2024, 4, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out = Validate(rules={"at": {"max": plus2}})(chunk_of({"at": at}))
    assert [r.row for r in out.rejects] == [2]


def test_a_bound_with_an_offset_on_a_column_without_a_zone_is_refused() -> None:
    """It was read as its UTC wall clock (``2024-04-01T00:00:00+02:00`` as 22:00), its zone
    dropped; the expressions refuse a zoned value beside a naive one, and so does the rule."""
    import datetime as dt

    naive = pa.array([dt.datetime(2024, 1, 1, 5)], pa.timestamp("us"))
    plus5 = dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    for rule, spec in (("max", plus5), ("allowed", [plus5])):
        with pytest.raises(ConfigError) as e:
            Validate(rules={"at": {rule: spec}}, name="transform[1] (validate)")(chunk_of({"at": naive}))
        assert str(e.value) == (
            f"transform[1] (validate): column 'at': rules.at.{rule}: 2024-01-01T10:00:00+05:00 has a time zone, "
            "and the timestamp[us] values have none"
        )
        assert e.value.hint == "write it without its offset, as a wall-clock time like the column's values"
    out = Validate(rules={"at": {"max": dt.datetime(2024, 1, 1, 4)}})(chunk_of({"at": naive}))  # local: as it was
    assert [r.row for r in out.rejects] == [1]


def test_a_local_bound_that_does_not_exist_in_the_columns_zone_is_refused() -> None:
    import datetime as dt

    at = _oslo((2024, 3, 31, 0))
    with pytest.raises(ConfigError, match=r"rules.at.max: 2024-03-31T02:30:00 does not exist in time zone Europe/Oslo"):
        Validate(rules={"at": {"max": dt.datetime(2024, 3, 31, 2, 30)}})(chunk_of({"at": at}))
    with pytest.raises(
        ConfigError, match=r"rules.at.min: 2024-03-31T10:00:00.500000 cannot be compared with timestamp"
    ):
        seconds = pa.array([0], pa.timestamp("s", "Europe/Oslo"))
        Validate(rules={"at": {"min": dt.datetime(2024, 3, 31, 10, 0, 0, 500000)}})(chunk_of({"at": seconds}))


def test_length_and_regex_read_bytes_that_are_not_utf8_as_null() -> None:
    """Their text is null, as ``cast(x, 'string')`` makes it, so the rules pass them as
    they pass nulls (Arrow's cast raised "Invalid UTF8 payload": an internal error)."""
    for t in (pa.binary(), pa.large_binary()):
        data = {"b": pa.array([b"ok", b"\xff\xfe", None, b"long one"], t)}
        out = Validate(rules={"b": {"length": [0, 5], "regex": "^[a-z]"}})(chunk_of(data))
        assert col(out, "b") == [b"ok", b"\xff\xfe", None]
        assert [r.reason for r in out.rejects] == ["rule length=[0, 5] failed for b: 'long one'"]


def test_rules_check_a_dictionary_columns_values() -> None:
    stage = Validate(rules={"species": {"allowed": ["Adelie", "Gentoo"], "length": [1, 6], "regex": "^[A-Z]"}})
    species = pa.array(["Adelie", "Gentoo", "Chinstrap", "adelie", None]).dictionary_encode()
    out = stage(chunk_of({"species": species}))
    assert col(out, "species") == ["Adelie", "Gentoo", None]
    assert [(r.row, r.reason) for r in out.rejects] == [
        (3, "rule allowed=['Adelie', 'Gentoo'] failed for species: 'Chinstrap'"),
        (4, "rule allowed=['Adelie', 'Gentoo'] failed for species: 'adelie'"),
    ]


@pytest.mark.parametrize(
    "rules",
    [{"allowed": ["a"]}, {"min": 1}, {"max": "z"}, {"regex": "^a"}, {"length": [1, 2]}, {"unique": True}],
)
def test_rules_pass_a_column_without_a_value_in_a_whole_file(rules: dict) -> None:  # type: ignore[type-arg]
    """Such a column is typed null: allowed, min and max were configuration errors
    ("['a'] are not all null values") that depended on the data."""
    out = Validate(rules={"mid": rules})(chunk_of({"id": [1, 2], "mid": pa.nulls(2)}))
    assert (col(out, "id"), out.rejects) == ([1, 2], [])


def test_not_null_rejects_every_row_of_a_null_typed_column() -> None:
    out = Validate(rules={"mid": {"not_null": True, "allowed": ["a"]}})(chunk_of({"id": [1, 2], "mid": pa.nulls(2)}))
    assert col(out, "id") == []
    assert [r.reason for r in out.rejects] == ["rule not_null=true failed for mid: null"] * 2


# ---- numbers compare by value, whatever the column's numeric type


def _reasons(rules: dict, data: dict) -> tuple[list, list[str]]:  # type: ignore[type-arg]
    out = Validate(rules=rules, name="transform[1] (validate)")(chunk_of(data))
    return out.rows.to_pylist(), [r.reason for r in out.rejects]


def test_min_and_max_beyond_an_integer_types_range_compare_by_value() -> None:
    """min = -1000 on an int8 (pandas' small integers in Parquet) stopped the run:
    '-1000 cannot be compared with int8 values'."""
    score = pa.array([5, -3, 100, None], pa.int8())
    assert _reasons({"score": {"min": -1000, "max": 1000}}, {"score": score}) == ([1, 2, 3, 4], [])
    assert _reasons({"score": {"min": 1000}}, {"score": score}) == (
        [4],
        [
            "rule min=1000 failed for score: 5",
            "rule min=1000 failed for score: -3",
            "rule min=1000 failed for score: 100",
        ],
    )
    assert _reasons({"score": {"max": -1000}}, {"score": score})[0] == [4]
    u = pa.array([0, 2**64 - 1], pa.uint64())
    assert _reasons({"u": {"min": -1, "max": 2**63}}, {"u": u}) == (
        [1],
        ["rule max=9223372036854775808 failed for u: 18446744073709551615"],
    )


def test_a_fraction_bounds_an_integer_column_by_value() -> None:
    ids = pa.array([1, 2, 3, -3, -2])
    assert _reasons({"id": {"min": 2.5}}, {"id": ids}) == (
        [3],
        [
            "rule min=2.5 failed for id: 1",
            "rule min=2.5 failed for id: 2",
            "rule min=2.5 failed for id: -3",
            "rule min=2.5 failed for id: -2",
        ],
    )
    assert _reasons({"id": {"min": -2.5, "max": 2.5}}, {"id": ids}) == (
        [1, 2, 5],
        ["rule min=-2.5 failed for id: -3", "rule max=2.5 failed for id: 3"],
    )
    assert _reasons({"id": {"min": float("-inf"), "max": float("inf")}}, {"id": ids})[1] == []


def test_a_decimal_bound_with_more_digits_than_the_column_compares_by_value() -> None:
    from decimal import Decimal

    amounts = pa.array([Decimal("0.50"), Decimal("0.51"), Decimal("999.99")], pa.decimal128(5, 2))
    assert _reasons({"a": {"min": 0.505, "max": 1e6}}, {"a": amounts}) == (
        [2, 3],
        ["rule min=0.505 failed for a: 0.50"],
    )
    assert _reasons({"a": {"max": 0.505, "min": -1e6}}, {"a": amounts})[0] == [1]
    assert _reasons({"a": {"min": 1000}}, {"a": amounts})[0] == []


def test_allowed_numbers_compare_by_value() -> None:
    """allowed = [0.0, 1.5] rejected -0.0 (the two hash apart), and a number an integer
    column cannot hold made the rule a configuration error."""
    delta = pa.array([0.0, -0.0, 1.5, float("nan"), None])
    assert _reasons({"d": {"allowed": [0.0, 1.5]}}, {"d": delta}) == (
        [1, 2, 3, 5],
        ["rule allowed=[0.0, 1.5] failed for d: nan"],
    )
    assert _reasons({"d": {"allowed": [-0.0, float("nan")]}}, {"d": delta})[0] == [1, 2, 4, 5]
    score = pa.array([5, -3, 100], pa.int8())
    assert _reasons({"s": {"allowed": [5, 100.0, 2.5, 1000]}}, {"s": score}) == (
        [1, 3],
        ["rule allowed=[5, 100.0, 2.5, 1000] failed for s: -3"],
    )
    assert _reasons({"s": {"allowed": [1000]}}, {"s": score})[0] == []


def test_unique_takes_minus_zero_for_zero() -> None:
    stage = Validate(rules={"x": {"unique": True}})
    out = stage(chunk_of({"x": [0.0, -0.0, float("nan"), float("nan")]}))
    stage.close()
    assert [(r.row, r.reason) for r in out.rejects] == [
        (2, "rule unique=true failed for x: -0.0"),
        (4, "rule unique=true failed for x: nan"),
    ]


def test_a_run_on_an_int8_column_takes_wide_bounds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The bug hunt's file: pandas writes int8; the rule stopped the run with exit 2."""
    import pandas as pd

    from loader.cli import main

    pd.DataFrame(
        {"id": [1, 2, 3], "score": pd.Series([5, -3, 100], dtype="int8"), "delta": [0.0, -0.0, 1.5]}
    ).to_parquet(tmp_path / "v8.parquet")
    job = tmp_path / "v.toml"
    job.write_text(
        f'[source]\npath = "{tmp_path / "v8.parquet"}"\n[sink]\ntype = "sqlite"\npath = "{tmp_path / "v.db"}"\n'
        'table = "t"\n[[transform]]\ntype = "validate"\n'
        "rules = { score = { min = -1000, max = 1000 }, id = { min = 1.5 }, delta = { allowed = [0.0, 1.5] } }\n"
    )
    assert main(["run", str(job), "-q"]) == 0
    with sqlite3.connect(tmp_path / "v.db") as conn:
        assert conn.execute("SELECT id, score FROM t ORDER BY id").fetchall() == [(2, -3), (3, 100)]


@pytest.mark.parametrize("float_type", [pa.float64(), pa.float32()], ids=str)
def test_nan_fails_min_and_max(float_type: pa.DataType) -> None:
    """NaN passed both: NaN < -90 and NaN > 60 are false, but so is -90 <= NaN."""
    temps = pa.array([21.5, float("nan"), -400.0, 99.0, None], float_type)
    out = Validate(rules={"temp": {"min": -90, "max": 60}})(chunk_of({"id": [1, 2, 3, 4, 5], "temp": temps}))
    assert col(out, "id") == [1, 5]
    assert [(r.row, r.reason) for r in out.rejects] == [
        (2, "rule min=-90 failed for temp: nan"),
        (3, "rule min=-90 failed for temp: -400.0"),
        (4, "rule max=60 failed for temp: 99.0"),
    ]
    out = Validate(rules={"temp": {"max": float("inf")}})(chunk_of({"temp": temps}))
    assert [r.reason for r in out.rejects] == ["rule max=inf failed for temp: nan"]
