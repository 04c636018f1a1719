"""The cast stage: types, formats, time zones, and the three on_error modes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from transforms_testutil import chunk_of, col

from loader.errors import ConfigError, LoaderError
from loader.expr import Expression
from loader.transforms import Cast, convert_with_format

UTC = dt.UTC


def test_casts_text_to_each_type() -> None:
    c = chunk_of(
        {
            "age": ["30", None, "7"],
            "price": ["1.5", "2", None],
            "amount": ["10.25", "0.10", "3"],
            "ok": ["true", "false", None],
            "day": ["2024-01-31", None, "2000-02-29"],
            "at": ["2024-01-31 10:00:00", "2024-01-31T11:30:00", None],
            "n": [1, 2, 3],
        }
    )
    stage = Cast(
        columns={
            "age": "int64",
            "price": "float64",
            "amount": "decimal(10,2)",
            "ok": "bool",
            "day": "date",
            "at": "timestamp",
            "n": "string",
        }
    )
    out = stage(c)
    schema = out.batch.schema
    assert schema.field("age").type == pa.int64() and col(out, "age") == [30, None, 7]
    assert schema.field("price").type == pa.float64() and col(out, "price") == [1.5, 2.0, None]
    assert schema.field("amount").type == pa.decimal128(10, 2)
    assert col(out, "amount") == [Decimal("10.25"), Decimal("0.10"), Decimal("3.00")]
    assert col(out, "ok") == [True, False, None]
    assert col(out, "day") == [dt.date(2024, 1, 31), None, dt.date(2000, 2, 29)]
    assert col(out, "at") == [dt.datetime(2024, 1, 31, 10), dt.datetime(2024, 1, 31, 11, 30), None]
    assert col(out, "n") == ["1", "2", "3"]
    assert schema.names == ["age", "price", "amount", "ok", "day", "at", "n"]  # positions kept
    assert out.rejects == [] and out.num_rows == 3


def test_reject_carries_file_row_stage_column_reason_and_original_values() -> None:
    c = chunk_of({"id": [1, 2, 3, 4], "age": ["30", "abc", "7", "x"], "price": ["1", "2", "z", "w"]}, first_row=10)
    out = Cast(columns={"age": "int64", "price": "float64"}, name="transform[1] (cast)")(c)
    assert col(out, "id") == [1] and col(out, "age") == [30] and col(out, "price") == [1.0]
    assert out.rows.to_pylist() == [10]
    assert out.rows_filtered == 0
    r = out.rejects
    assert [(x.file, x.row, x.stage, x.column) for x in r] == [
        ("t.csv", 11, "transform[1] (cast)", "age"),
        ("t.csv", 13, "transform[1] (cast)", "age"),  # first failing column wins for row 13
        ("t.csv", 12, "transform[1] (cast)", "price"),
    ]
    assert r[0].reason == "'abc' is not a valid int64"
    assert r[1].reason == "'x' is not a valid int64"
    assert r[2].reason == "'z' is not a valid float64"
    assert r[0].values == {"id": 2, "age": "abc", "price": "2"}  # the value as read, not null


def test_on_error_null() -> None:
    out = Cast(columns={"age": "int64"}, on_error="null")(chunk_of({"age": ["1", "x", None]}))
    assert col(out, "age") == [1, None, None] and out.rejects == []


def test_on_error_null_dates_a_zoned_timestamp_whose_local_midnight_does_not_exist() -> None:
    """Beirut's clocks go from 00:00 to 01:00 on 2024-03-31: the stage raised an internal error."""
    seconds = [1_711_875_600, 1_711_749_600]  # 2024-03-31 12:00 and 2024-03-30 00:00 in Beirut
    ts = pa.array([s * 10**9 for s in seconds], pa.timestamp("ns", "Asia/Beirut"))
    out = Cast(columns={"ts": "date"}, on_error="null")(chunk_of({"ts": ts}))
    assert col(out, "ts") == [None, dt.date(2024, 3, 30)] and out.rejects == []


def test_on_error_fail_names_file_row_column_value() -> None:
    c = chunk_of({"age": ["1", "2", "old"]}, file="people.csv")
    with pytest.raises(LoaderError) as info:
        Cast(columns={"age": "int64"}, on_error="fail", name="transform[1] (cast)")(c)
    e = info.value
    assert not isinstance(e, ConfigError)
    assert (e.stage, e.file, e.row, e.column) == ("transform[1] (cast)", "people.csv", 3, "age")
    assert str(e) == "transform[1] (cast): people.csv, row 3, column 'age': 'old' is not a valid int64"


def test_format_dates_reject_impossible_ones() -> None:
    c = chunk_of({"day": ["31/12/2024", "31/02/2024", "1/2/2024", "2024-01-01", None]})
    out = Cast(columns={"day": "date"}, formats={"day": "%d/%m/%Y"})(c)
    assert col(out, "day") == [dt.date(2024, 12, 31), dt.date(2024, 2, 1), None]
    assert [(r.row, r.reason) for r in out.rejects] == [
        (2, "'31/02/2024' is not a valid date for format '%d/%m/%Y'"),  # not rolled over to 2 March
        (4, "'2024-01-01' is not a valid date for format '%d/%m/%Y'"),
    ]


def test_format_timestamp_in_time_zone() -> None:
    c = chunk_of({"at": ["01.07.2024 12:00", "01.01.2024 12:00", None]})
    out = Cast(columns={"at": "timestamp[us, UTC]"}, formats={"at": "%d.%m.%Y %H:%M"}, timezone="Europe/Oslo")(c)
    assert out.batch.schema.field("at").type == pa.timestamp("us", "UTC")
    assert col(out, "at") == [
        dt.datetime(2024, 7, 1, 10, tzinfo=UTC),  # CEST, UTC+2
        dt.datetime(2024, 1, 1, 11, tzinfo=UTC),  # CET, UTC+1
        None,
    ]


def test_time_zone_per_column_and_naive_target_takes_the_zone() -> None:
    c = chunk_of({"a": ["2024-01-01 00:00:00"], "b": ["2024-01-01 00:00:00"]})
    out = Cast(columns={"a": "timestamp", "b": "timestamp"}, timezone={"a": "Asia/Tokyo"})(c)
    assert out.batch.schema.field("a").type == pa.timestamp("us", "Asia/Tokyo")
    assert out.batch.schema.field("b").type == pa.timestamp("us")
    assert col(out, "a")[0].astimezone(UTC) == dt.datetime(2023, 12, 31, 15, tzinfo=UTC)


def test_time_zone_gap_is_rejected_not_shifted() -> None:
    c = chunk_of({"at": ["2024-03-31 02:30:00", "2024-03-31 03:30:00"]})
    out = Cast(columns={"at": "timestamp[us, UTC]"}, timezone="Europe/Oslo")(c)
    assert col(out, "at") == [dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC)]
    assert out.rejects[0].row == 1
    assert out.rejects[0].reason == "'2024-03-31 02:30:00' does not exist in time zone Europe/Oslo"


def test_offsets_in_text_need_no_zone() -> None:
    c = chunk_of({"at": ["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00Z"]})
    out = Cast(columns={"at": "timestamp[us, UTC]"})(c)
    assert col(out, "at") == [dt.datetime(2024, 1, 1, 8, tzinfo=UTC), dt.datetime(2024, 1, 1, 10, tzinfo=UTC)]


@pytest.mark.parametrize("target", ["timestamp[us, UTC]", "timestamp"])
def test_offsets_in_text_are_instants_when_a_zone_is_given(target: str) -> None:
    values = [
        "2024-01-01T10:00:00+05:00",
        "2024-06-01T10:00:00Z",
        "2024-06-01 10:00:00",
        None,
        "2024-06-01T10:00+99:00",
    ]
    out = Cast(columns={"at": target}, timezone="Europe/Oslo")(chunk_of({"at": values}))
    zone = "UTC" if "UTC" in target else "Europe/Oslo"
    assert out.batch.schema.field("at").type == pa.timestamp("us", zone)
    assert [v and v.astimezone(UTC) for v in col(out, "at")] == [
        dt.datetime(2024, 1, 1, 5, tzinfo=UTC),
        dt.datetime(2024, 6, 1, 10, tzinfo=UTC),
        dt.datetime(2024, 6, 1, 8, tzinfo=UTC),  # naive: Oslo summer time, UTC+2
        None,
    ]
    assert [(r.row, r.reason) for r in out.rejects] == [
        (5, f"'2024-06-01T10:00+99:00' is not a valid timestamp[us, {zone}]")
    ]


def test_a_zoned_timestamp_keeps_its_instant_in_the_given_zone() -> None:
    """A target without a zone takes the given one, as the naive values read in it do."""
    tokyo = pa.array([dt.datetime(2024, 1, 1, 9, tzinfo=UTC)], pa.timestamp("ms", "Asia/Tokyo"))
    out = Cast(columns={"at": "timestamp"}, timezone="Europe/Oslo")(chunk_of({"at": tokyo}))
    assert out.batch.schema.field("at").type == pa.timestamp("us", "Europe/Oslo")
    assert col(out, "at")[0].astimezone(UTC) == dt.datetime(2024, 1, 1, 9, tzinfo=UTC)  # not 18:00 Tokyo wall time


def test_a_zone_is_neither_dropped_nor_assumed_without_a_timezone() -> None:
    zoned = pa.array([dt.datetime(2024, 1, 1, 10), None], pa.timestamp("us", "Europe/Paris"))
    out = Cast(columns={"at": "timestamp"})(chunk_of({"at": zoned}))
    assert col(out, "at") == [None]  # the null is no instant: it loads
    assert [(r.row, r.reason) for r in out.rejects] == [
        (1, "'2024-01-01 11:00:00+01:00' has a time zone that timestamp[us] would drop")
    ]
    naive = pa.array([dt.datetime(2024, 1, 1, 10)], pa.timestamp("us"))
    out = Cast(columns={"at": "timestamp[us, UTC]"})(chunk_of({"at": naive}))
    assert [r.reason for r in out.rejects] == [
        "'2024-01-01 10:00:00' has no time zone, and timestamp[us, UTC] would have to assume one"
        " (say which in the stage's timezone)"
    ]


def test_text_without_an_offset_into_a_zoned_target_is_refused_for_its_missing_zone() -> None:
    """The usual CSV case: naive text cast to ``timestamp[us, UTC]`` is a valid time with no
    zone, not one of a bad format; the reason says so and where the zone is given."""
    texts = ["2024-01-01 10:00:00", "2024-01-01T10:00:00Z", "2024-01-01", "1/1/2024"]
    out = Cast(columns={"s": "timestamp[us, UTC]"})(chunk_of({"s": texts}))
    assert col(out, "s") == [dt.datetime(2024, 1, 1, 10, tzinfo=UTC)]
    hint = " (say which in the stage's timezone)"
    assert [(r.row, r.reason) for r in out.rejects] == [
        (1, f"'2024-01-01 10:00:00' has no time zone, and timestamp[us, UTC] would have to assume one{hint}"),
        (3, f"'2024-01-01' has no time zone, and timestamp[us, UTC] would have to assume one{hint}"),
        (4, "'1/1/2024' is not a valid timestamp[us, UTC]"),
    ]


def test_a_cast_asked_for_turns_bools_and_numbers_into_each_other_as_sql_does() -> None:
    """A type read or recorded never does (tests/test_schema_across_files.py); a cast the
    job asks for is SQL's CAST: true is 1, any number but zero true."""
    flags = pa.array([True, False, None])
    numbers = pa.array([2, 0, -1], pa.int8())
    out = Cast(columns={"n": "int64", "b": "bool"})(chunk_of({"n": flags, "b": numbers}))
    assert (col(out, "n"), col(out, "b"), out.rejects) == ([1, 0, None], [True, False, True], [])
    batch = pa.record_batch({"n": flags, "b": numbers})
    assert Expression("cast(n, 'int64') + cast(b, 'int64')").evaluate(batch).to_pylist() == [3, 0, None]
    assert Expression("cast(b, 'bool')").evaluate(batch).to_pylist() == [True, False, True]


def test_a_nanosecond_local_time_that_does_not_exist_is_named_to_the_nanosecond() -> None:
    gap = pa.array([1711852200_123456789, 0], pa.timestamp("ns"))  # 2024-03-31 02:30 in Oslo: skipped
    out = Cast(columns={"at": "timestamp[ns]"}, timezone="Europe/Oslo")(chunk_of({"at": gap}))
    assert out.num_rows == 1
    [reject] = out.rejects
    assert reject.reason == "'2024-03-31T02:30:00.123456789' does not exist in time zone Europe/Oslo"
    assert reject.values == {"at": "2024-03-31T02:30:00.123456789"}


def test_unicode_and_empty_batch() -> None:
    out = Cast(columns={"n": "int64"})(chunk_of({"n": ["٣", "12", "１"]}))
    assert col(out, "n") == [12] and len(out.rejects) == 2
    empty = chunk_of(pa.record_batch({"n": pa.array([], pa.string())}))
    out = Cast(columns={"n": "int64"})(empty)
    assert out.num_rows == 0 and out.batch.schema.field("n").type == pa.int64()


def test_numeric_narrowing_reports_values() -> None:
    c = chunk_of({"x": pa.array([1.0, 2.5, None], pa.float64())})
    out = Cast(columns={"x": "int32"})(c)
    assert col(out, "x") == [1, None]
    assert out.rejects[0].reason == "'2.5' is not a valid int32"


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"columns": {"age": "int65"}}, "columns.age: unknown type 'int65'"),
        ({"columns": {"age": "int64"}, "on_error": "skip"}, "on_error: expected one of 'reject', 'null', 'fail'"),
        ({"columns": {"d": "date"}, "formats": {"x": "%Y"}}, "formats.x: 'x' is not in columns"),
        (
            {"columns": {"age": "int64"}, "formats": {"age": "%Y"}},
            "formats.age: a format applies to date and timestamp",
        ),
        ({"columns": {"t": "timestamp"}, "timezone": "Mars/Base"}, "timezone: unknown time zone 'Mars/Base'"),
        ({"columns": {"t": "timestamp"}, "timezone": {"t": "Nowhere"}}, "timezone.t: unknown time zone 'Nowhere'"),
        ({"columns": {"d": "date"}, "timezone": {"d": "UTC"}}, "timezone.d: 'd' is not a timestamp column"),
        (
            {"columns": {"t": "timestamp"}, "formats": {"t": "%Y-%m-%d %H:%M%z"}},
            "formats.t: %z reads an offset, which timestamp[us] has no zone to keep",
        ),
    ],
)
def test_config_errors(kwargs: dict, fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        Cast(name="transform[4] (cast)", **kwargs)
    assert fragment in str(info.value)
    assert info.value.stage == "transform[4] (cast)"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%s", "formats.t: %s in '%s' is not a directive strptime reads"),
        ("%C%y-%m-%d", "formats.t: %C in '%C%y-%m-%d' is not a directive strptime reads"),
        ("%Y-%m-%d %", "formats.t: the % that ends '%Y-%m-%d %' is not a directive strptime reads"),
    ],
)
def test_a_format_with_a_directive_strptime_does_not_read_is_a_config_error(fmt: str, message: str) -> None:
    """%s (epoch seconds) validated, and every value was then rejected as not fitting it."""
    with pytest.raises(ConfigError) as info:
        Cast(columns={"t": "timestamp"}, formats={"t": fmt})
    assert str(info.value) == f"cast: column 't': {message}"
    assert info.value.hint == (
        "formats take the directives of Python's datetime.strptime, e.g. %d.%m.%Y %H:%M:%S.%f, "
        "or a count since 1970: epoch_s, epoch_ms, epoch_us, epoch_ns"
    )


def test_fractional_seconds_read_with_f_fit_the_unit_or_are_rejected() -> None:
    """Arrow's strptime reads no %f: every such value was rejected as 'not a valid time'."""
    texts = [
        "01.05.2024 10:00:00.500",
        "01.05.2024 10:00:00.5005",
        "01.05.2024 10:00:00",
        "31.02.2024 10:00:00.1",
        None,
    ]
    c = chunk_of({"seen_at": texts})
    out = Cast(columns={"seen_at": "timestamp[ms]"}, formats={"seen_at": "%d.%m.%Y %H:%M:%S.%f"})(c)
    assert col(out, "seen_at") == [dt.datetime(2024, 5, 1, 10, 0, 0, 500000), None]
    assert out.batch.column("seen_at").type == pa.timestamp("ms")
    assert [(r.row, r.reason) for r in out.rejects] == [
        (2, "'01.05.2024 10:00:00.5005' has digits below a millisecond that timestamp[ms] would drop"),
        (3, "'01.05.2024 10:00:00' is not a valid timestamp for format '%d.%m.%Y %H:%M:%S.%f'"),
        (4, "'31.02.2024 10:00:00.1' is not a valid timestamp for format '%d.%m.%Y %H:%M:%S.%f'"),
    ]
    zoned = Cast(columns={"t": "timestamp[ns, UTC]"}, formats={"t": "%Y-%m-%d %H:%M:%S.%f %z"})
    out = zoned(chunk_of({"t": ["2024-05-01 10:00:00.123456 +0200"]}))
    assert out.batch.column("t").cast(pa.int64()).to_pylist() == [1_714_550_400_123_456_000]


def test_a_value_arrow_misreads_is_read_as_python_strptime_reads_it() -> None:
    """Arrow's strptime read ISO weeks as 1900-01-01 (it printed back otherwise, Python's read
    it, and Arrow's value was kept); glibc's shorthands read as the directives they stand for."""
    out = Cast(columns={"d": "date"}, formats={"d": "%G-W%V-%u"})(chunk_of({"d": ["2024-W18-3", "2024-W01-1"]}))
    assert col(out, "d") == [dt.date(2024, 5, 1), dt.date(2024, 1, 1)]
    out = Cast(columns={"t": "timestamp[s]"}, formats={"t": "%e/%m/%Y %T"})(
        chunk_of({"t": [" 1/05/2024 10:00:00", "12/05/2024 23:59:59", "1/05/2024 10:00:61"]})
    )
    assert col(out, "t") == [dt.datetime(2024, 5, 1, 10), dt.datetime(2024, 5, 12, 23, 59, 59)]
    assert [r.reason for r in out.rejects] == ["'1/05/2024 10:00:61' is not a valid timestamp for format '%e/%m/%Y %T'"]


def test_missing_and_impossible_columns_at_first_chunk() -> None:
    with pytest.raises(ConfigError, match=r"columns: no column 'agge' in the data"):
        Cast(columns={"agge": "int64"})(chunk_of({"age": ["1"]}))
    with pytest.raises(ConfigError, match=r"columns.d: cannot convert date to int64"):
        Cast(columns={"d": "int64"})(chunk_of({"d": pa.array([dt.date(2024, 1, 1)])}))
    with pytest.raises(ConfigError, match=r"formats.n: the column is int64; a format parses text"):
        Cast(columns={"n": "date"}, formats={"n": "%Y"})(chunk_of({"n": [1]}))


def test_convert_with_format_directly() -> None:
    conv = convert_with_format(pa.array(["2024-05-01 08:00", "bad"]), pa.timestamp("ms"), "%Y-%m-%d %H:%M")
    assert conv.array.to_pylist() == [dt.datetime(2024, 5, 1, 8), None]
    assert conv.bad is not None and conv.bad.to_pylist() == [False, True]
    assert conv.reasons == ["'bad' is not a valid timestamp for format '%Y-%m-%d %H:%M'"]


def test_casts_arrow_calls_safe_but_that_change_values_reject() -> None:
    """Arrow lets a float round to a decimal's scale or a narrower float, and a
    timestamp lose its time of day to a date: each such value is rejected."""
    c = chunk_of(
        {
            "price": [0.1, 0.125, None, None, 1.5],
            "seen": [dt.datetime(2024, 5, 1, 23, 30), None, None, None, dt.datetime(2024, 5, 3)],
            "f": [None, None, 16777217.0, None, float("nan")],
            "d": pa.array([None, None, None, Decimal("12345678901234567.89"), Decimal("3.10")], pa.decimal128(20, 2)),
        }
    )
    out = Cast(columns={"price": "decimal(10,2)", "seen": "date", "f": "float32", "d": "float64"})(c)
    assert sorted((r.row, r.column, r.reason) for r in out.rejects) == [
        (1, "seen", "'2024-05-01 23:30:00' has a time of day that date would drop"),
        (2, "price", "0.125 would be rounded by decimal(10, 2)"),
        (3, "f", "16777217.0 would be rounded by float32"),
        (4, "d", "12345678901234567.89 would be rounded by float64"),
    ]
    [kept] = out.batch.to_pylist()
    assert kept["price"] == Decimal("1.50") and kept["seen"] == dt.date(2024, 5, 3) and kept["d"] == 3.1
    assert kept["f"] != kept["f"]  # NaN stays NaN: no value changed
    assert Cast(columns={"f": "float32"})(chunk_of({"f": [0.1, 1.5e-45]})).rejects[0].reason == (
        "1.5e-45 would be rounded by float32"  # the float32's shortest text of 0.1 is 0.1: kept
    )


def test_a_float_a_narrower_float_holds_exactly_is_kept() -> None:
    """1.100000023841858 is a float32's value (1.1 as float32, widened): nothing to round."""
    out = Cast(columns={"f": "float32"})(chunk_of({"f": [1.100000023841858, 1.123456789]}))
    assert col(out, "f") == [1.100000023841858]
    assert [r.reason for r in out.rejects] == ["1.123456789 would be rounded by float32"]


def test_a_zoned_timestamp_keeps_its_local_midnight_as_a_date() -> None:
    oslo = pa.array([dt.datetime(2024, 5, 1, 22), dt.datetime(2024, 5, 2, 1)], pa.timestamp("us", "Europe/Oslo"))
    out = Cast(columns={"t": "date"})(chunk_of({"t": oslo}))
    assert col(out, "t") == [dt.date(2024, 5, 2)]  # 22:00Z is midnight in Oslo
    assert [r.reason for r in out.rejects] == ["'2024-05-02 03:00:00+02:00' has a time of day that date would drop"]


def test_dates_and_timestamps_cast_to_text_are_the_iso_text_a_load_stores() -> None:
    c = chunk_of(
        {
            "t": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("us", "UTC")),
            "n": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6)], pa.timestamp("ms")),
            "d": [dt.date(2024, 1, 2)],
        }
    )
    out = Cast(columns={"t": "string", "n": "string", "d": "string"})(c)
    assert out.batch.to_pylist() == [
        {"t": "2024-01-02T03:04:05.000000Z", "n": "2024-01-02T03:04:05.000", "d": "2024-01-02"}
    ]


def test_a_float_cast_to_string_is_its_text() -> None:
    """It stopped the run with ValueError: Non-fixed width type."""
    c = chunk_of({"f": [1.5, 2.0, None], "h": pa.array([0.1, 1e20, 3.0], pa.float32())})
    out = Cast(columns={"f": "string", "h": "string"})(c)
    assert col(out, "f") == ["1.5", "2.0", None]
    assert col(out, "h") == ["0.10000000149011612", "1.0000000200408773e+20", "3.0"]


def test_floats_and_decimals_cast_into_each_other_when_they_fit() -> None:
    """float64 0.35 as decimal(10,3) was rejected ("0.35 would be rounded by decimal(10, 3)")
    while 0.1 loaded, and decimal 1.005 or 0.35 as float64 "would be rounded by float64"."""
    out = Cast(columns={"d": "decimal(10,3)"})(chunk_of({"d": [0.35, 0.1, 1.005, 0.41, 0.0005]}))
    assert col(out, "d") == [Decimal("0.350"), Decimal("0.100"), Decimal("1.005"), Decimal("0.410")]
    assert [(r.row, r.reason) for r in out.rejects] == [(5, "0.0005 would be rounded by decimal(10, 3)")]
    decimals = pa.array([Decimal("0.350"), Decimal("1.005"), Decimal("0.410")], pa.decimal128(10, 3))
    out = Cast(columns={"d": "float64"})(chunk_of({"d": decimals}))
    assert (col(out, "d"), out.rejects) == ([0.35, 1.005, 0.41], [])
    as_float = Expression("cast(d, 'float64')").evaluate(pa.record_batch({"d": decimals}))
    assert as_float.to_pylist() == [0.35, 1.005, 0.41]  # was null for all three


def test_text_a_float_would_round_or_overflow_is_rejected() -> None:
    """Text went to a float unchecked: 12345678901234567.89 stored rounded, 1e400 as inf,
    1e-400 as 0.0, and 16777217 as a float32's 16777216.0."""
    texts = ["12345678901234567.89", "1e400", "1e-400", "0.5", "16777217", "0.1", "nan"]
    out = Cast(columns={"f": "float64", "g": "float32"})(chunk_of({"f": texts, "g": texts}))
    assert [(r.row, r.column, r.reason) for r in out.rejects] == [
        (1, "f", "'12345678901234567.89' would be stored as 1.2345678901234568e+16 by float64"),
        (2, "f", "'1e400' would be stored as inf by float64"),
        (3, "f", "'1e-400' would be stored as 0.0 by float64"),
        (5, "g", "'16777217' would be stored as 16777216.0 by float32"),
    ]
    assert col(out, "f")[:2] == [0.5, 0.1] and col(out, "g")[:2] == [0.5, 0.10000000149011612]


def test_the_cast_function_nulls_text_a_float_would_change() -> None:
    batch = pa.record_batch({"t": ["12345678901234567.89", "1e400", "1e-400", "0.5", "16777217"]})
    assert Expression("cast(t, 'float64')").evaluate(batch).to_pylist() == [None, None, None, 0.5, 16777217.0]
    assert Expression("cast(t, 'float32')").evaluate(batch).to_pylist() == [None, None, None, 0.5, None]


def test_hexadecimal_text_is_no_integer() -> None:
    """Arrow's cast read 0x10 as 16 (and 0xFF as -1 in an int8) but refused 0b11."""
    out = Cast(columns={"n": "int8"})(chunk_of({"n": ["0x10", "0XFF", "0b11", "12"]}))
    assert col(out, "n") == [12]
    assert [r.reason for r in out.rejects] == [
        "'0x10' is not a valid int8",
        "'0XFF' is not a valid int8",
        "'0b11' is not a valid int8",
    ]
    batch = pa.record_batch({"n": ["0x10", "16"]})
    assert Expression("cast(n, 'int64')").evaluate(batch).to_pylist() == [None, 16]


def test_text_of_a_whole_number_cast_to_an_integer_is_that_integer() -> None:
    """The rule of a fixed integer column: ``2.0`` and ``1e+16`` are the integers their digits
    say exactly; ``2.5`` and a whole number past the type are rejected."""
    out = Cast(columns={"n": "int64"})(chunk_of({"n": ["2.0", "1e+16", "12345678901234567.0", "2.5", "1e19"]}))
    assert col(out, "n") == [2, 10**16, 12345678901234567]
    assert [r.reason for r in out.rejects] == ["'2.5' is not a valid int64", "'1e19' is not a valid int64"]
    batch = pa.record_batch({"n": ["-0.0", "1.5e3", "0.5"]})
    assert Expression("cast(n, 'int64')").evaluate(batch).to_pylist() == [0, 1500, None]


@pytest.mark.parametrize(
    ("values", "target", "message"),
    [  # Arrow casts an int32 or int64 as a count since the epoch (20240101 was year 57385)
        (pa.array([20240101, None], pa.int32()), "date", "columns.n: cannot convert int32 to date"),
        (pa.array([2**60, 5], pa.int64()), "timestamp", "columns.n: cannot convert int64 to timestamp[us]"),
        (pa.array([5], pa.int16()), "timestamp[ms, UTC]", "columns.n: cannot convert int16 to timestamp[ms, UTC]"),
        (pa.array([None], pa.int32()), "date", "columns.n: cannot convert int32 to date"),
        (pa.array([20240101], pa.int64()), "date", "columns.n: cannot convert int64 to date"),
        (pa.array([1.5], pa.float64()), "date", "columns.n: cannot convert float64 to date"),
    ],
)
def test_a_number_into_a_date_or_timestamp_is_refused_for_every_width(
    values: pa.Array, target: str, message: str
) -> None:
    stage = Cast(name="transform[1] (cast)", columns={"n": target})
    with pytest.raises(ConfigError) as info:
        stage(chunk_of({"id": list(range(len(values))), "n": values}))
    assert (info.value.message, info.value.stage, info.value.column) == (message, "transform[1] (cast)", "n")
    assert info.value.exit_code == 2
    spelled = 'cast n to "string" in a stage before this one, then read it with formats.n (say "%Y%m%d")'
    counted = 'a count since 1970: formats.n = "epoch_ms" (or epoch_s, epoch_us, epoch_ns); a date spelled as digits: '
    assert info.value.hint == (spelled if target == "date" else counted + spelled)


def test_epoch_formats_read_counts_since_1970_exactly_from_numbers_and_text() -> None:
    c = chunk_of(
        {
            "ms": [1704103200123, None, -1],  # pandas' to_json, pino
            "s": [1704103200.1234567, 1.5, 0.0],  # zap: float seconds, to the nanosecond their text says
            "t": ["1704103200123", "1e3", None],  # CSV text, a JSON string ($numberLong)
        }
    )
    cols = {"ms": "timestamp[ms]", "s": "timestamp[ns, UTC]", "t": "timestamp[ms, UTC]"}
    out = Cast(columns=cols, formats={"ms": "epoch_ms", "s": "epoch_s", "t": "epoch_ms"})(c)
    assert out.rejects == []
    assert col(out, "ms") == [
        dt.datetime(2024, 1, 1, 10, 0, 0, 123000),
        None,
        dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
    ]
    assert out.batch.column("s").cast(pa.int64()).to_pylist() == [1704103200123456700, 1500000000, 0]
    assert col(out, "t") == [
        dt.datetime(2024, 1, 1, 10, 0, 0, 123000, tzinfo=UTC),
        dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        None,
    ]


@pytest.mark.parametrize(
    ("values", "fmt", "target", "reason"),
    [
        (
            pa.array([1.5]),
            "epoch_ms",
            "timestamp[ms]",
            "1.5 has digits below a millisecond that timestamp[ms] would drop",
        ),
        (
            pa.array([1704103200.1234567]),
            "epoch_s",
            "timestamp[us]",
            "1704103200.1234567 has digits below a microsecond that timestamp[us] would drop",
        ),
        (
            pa.array([10**18]),
            "epoch_ms",
            "timestamp[ms]",
            "1000000000000000000 is outside the range of timestamp[ms] (years 1 to 9999)",
        ),
        (
            pa.array([2**62]),
            "epoch_s",
            "timestamp[ns]",
            "4611686018427387904 is outside the range of timestamp[ns] (years 1677 to 2262)",
        ),
        (
            pa.array(["1e9999999"]),
            "epoch_s",
            "timestamp[s, UTC]",
            "'1e9999999' is outside the range of timestamp[s, UTC] (years 1 to 9999)",
        ),
        (
            pa.array(["-1E+1000001"]),
            "epoch_ms",
            "timestamp[ms]",
            "'-1E+1000001' is outside the range of timestamp[ms] (years 1 to 9999)",
        ),
        (
            pa.array(["1e-9999999"]),
            "epoch_s",
            "timestamp[s]",
            "'1e-9999999' has digits below a second that timestamp[s] would drop",
        ),
        (
            pa.array(["1704103200." + "0" * 5000 + "1"]),
            "epoch_s",
            "timestamp[s]",
            "'1704103200." + "0" * 45 + "... has digits below a second that timestamp[s] would drop",
        ),
        (
            pa.array(["1_000"]),
            "epoch_s",
            "timestamp",
            "'1_000' is not a count of seconds since 1970 for format 'epoch_s'",
        ),
        (
            pa.array([float("nan")]),
            "epoch_s",
            "timestamp",
            "nan is not a count of seconds since 1970 for format 'epoch_s'",
        ),
    ],
)
def test_an_epoch_count_that_does_not_fit_is_rejected_never_rounded(
    values: pa.Array, fmt: str, target: str, reason: str
) -> None:
    out = Cast(columns={"v": target}, formats={"v": fmt})(chunk_of({"v": values}))
    assert [r.reason for r in out.rejects] == [reason]


def test_an_epoch_count_written_with_an_exponent_or_zeros_is_read_exactly() -> None:
    values = ["1.704103200123E+12", "0e9999999", "-0", "1704103200123." + "0" * 5000, "17041032001230000e-4"]
    out = Cast(columns={"v": "timestamp[ms]"}, formats={"v": "epoch_ms"})(chunk_of({"v": values}))
    assert out.rejects == []
    assert out.batch.column("v").cast(pa.int64()).to_pylist() == [1704103200123, 0, 0, 1704103200123, 1704103200123]


def test_an_epoch_count_is_an_instant_a_zone_shows_on_its_clock() -> None:
    out = Cast(columns={"v": "timestamp[s]"}, formats={"v": "epoch_s"}, timezone="Europe/Oslo")(chunk_of({"v": [0]}))
    assert out.batch.schema.field("v").type == pa.timestamp("s", "Europe/Oslo")
    assert out.batch.column("v").cast(pa.int64()).to_pylist() == [0]


_NINE, _TEN = dt.datetime(2024, 1, 1, 9, tzinfo=UTC), dt.datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "formats", "target", "instants"),
    [
        (
            ["2024-01-01T10:00:00+0100", "2024-01-01 10:00:00"],
            ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"],
            "timestamp[us, UTC]",
            [_NINE, _NINE],
        ),
        (["1704103200000", "2024-01-01 10:00:00"], ["epoch_ms", "%Y-%m-%d %H:%M:%S"], "timestamp[ms]", [_TEN, _NINE]),
        (["2024-01-01 10:00:00", "1704103200000"], ["%Y-%m-%d %H:%M:%S", "epoch_ms"], "timestamp[ms]", [_NINE, _TEN]),
    ],
)
def test_a_list_of_formats_localizes_only_the_values_a_naive_format_read(
    values: list[str], formats: list[str], target: str, instants: list[dt.datetime]
) -> None:
    """An offset or a count since 1970 is an instant; the list's other formats read wall-clock time."""
    out = Cast(columns={"t": target}, formats={"t": formats}, timezone="Europe/Oslo")(chunk_of({"t": values}))
    assert out.rejects == []
    assert [v.astimezone(UTC) for v in col(out, "t")] == instants


def test_a_list_of_formats_reports_a_local_time_the_zone_skips() -> None:
    c = chunk_of({"t": ["2024-03-31 02:30:00", "0"]})
    stage = Cast(columns={"t": "timestamp[s]"}, formats={"t": ["%Y-%m-%d %H:%M:%S", "epoch_s"]}, timezone="Europe/Oslo")
    out = stage(c)
    assert [(r.row, r.reason) for r in out.rejects] == [
        (1, "'2024-03-31 02:30:00' does not exist in time zone Europe/Oslo")
    ]
    assert out.batch.column("t").cast(pa.int64()).to_pylist() == [0]


def test_a_list_of_formats_reads_each_value_by_the_first_that_reads_it() -> None:
    """BigQuery's export writes a timestamp's fraction only where it is not zero."""
    c = chunk_of({"ts": ["2020-01-01 12:34:56.789 UTC", "2020-06-01 00:00:00 UTC", "2020-06-01", None]})
    fmts = ["%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%d %H:%M:%S UTC"]
    out = Cast(columns={"ts": "timestamp[us, UTC]"}, formats={"ts": fmts})(c)
    assert col(out, "ts") == [
        dt.datetime(2020, 1, 1, 12, 34, 56, 789000, tzinfo=UTC),
        dt.datetime(2020, 6, 1, tzinfo=UTC),
        None,
    ]
    assert [(r.row, r.reason) for r in out.rejects] == [
        (3, "'2020-06-01' is not a valid timestamp for format '%Y-%m-%d %H:%M:%S.%f UTC'")
    ]


@pytest.mark.parametrize(
    ("formats", "message"),
    [
        ({"d": "epoch_s"}, "formats.d: epoch_s (a count since 1970) applies to timestamp columns"),
        ({"t": []}, "formats.t: expected a format, or a list of them, got []"),
        ({"t": ["%Y", 5]}, "formats.t: expected a format, or a list of them, got ['%Y', 5]"),
        (
            {"t": "epoch_millis"},  # Elasticsearch's and Java's name
            "formats.t: 'epoch_millis' is no format: a count since 1970 is epoch_s, epoch_ms, epoch_us or epoch_ns "
            "(did you mean 'epoch_ms'?)",
        ),
        (
            {"t": ["%Y-%m-%d", "EPOCH_SEC"]},
            "formats.t: 'EPOCH_SEC' is no format: a count since 1970 is epoch_s, epoch_ms, epoch_us or epoch_ns "
            "(did you mean 'epoch_s'?)",
        ),
        ({"t": "unix"}, "formats.t: 'unix' holds no % directive: it reads that very text alone, no date or time"),
        ({"d": "100%% date"}, "formats.d: '100%% date' holds no % directive"),
    ],
)
def test_epoch_formats_and_lists_of_formats_are_checked(formats: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Cast(columns={"d": "date", "t": "timestamp"}, formats=formats)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_an_epoch_format_reads_a_number_column_where_a_strptime_format_is_refused() -> None:
    c = chunk_of({"v": pa.array([5], pa.int32())})
    assert col(Cast(columns={"v": "timestamp[s]"}, formats={"v": "epoch_s"})(c), "v") == [
        dt.datetime(1970, 1, 1, 0, 0, 5)
    ]
    with pytest.raises(ConfigError, match=r"formats\.v: the column is int32; a format parses text"):
        Cast(columns={"v": "timestamp[s]"}, formats={"v": "%Y"})(c)
