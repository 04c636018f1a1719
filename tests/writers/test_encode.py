"""Column-wise encoding shared by the writers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
import pytest

from loader.errors import ConfigError
from loader.schema import TextForm
from loader.writers.encode import KeyTemplate, form_text, iso_text


@pytest.mark.parametrize(
    ("form", "naive", "zoned"),
    [
        (TextForm(" ", 0, ""), ["2024-06-01 09:00:00", "2024-06-01 09:00:00.120000"], "2024-06-01 07:00:00"),
        (
            TextForm(" ", 6, ""),
            ["2024-06-01 09:00:00.000000", "2024-06-01 09:00:00.120000"],
            "2024-06-01 07:00:00.000000",
        ),
        (TextForm("T", 3, "Z"), ["2024-06-01T09:00:00.000", "2024-06-01T09:00:00.120"], "2024-06-01T07:00:00.000Z"),
        (
            TextForm(" ", 0, "+00:00"),
            ["2024-06-01 09:00:00", "2024-06-01 09:00:00.120000"],
            "2024-06-01 07:00:00+00:00",
        ),
    ],
)
def test_timestamps_as_an_existing_columns_text_form(form: TextForm, naive: list[str], zoned: str) -> None:
    """Separator and fraction as the column's, a fraction it has no room for kept whole; a zoned
    value in UTC with the column's offset style; a value without a zone with no offset."""
    values = [dt.datetime(2024, 6, 1, 9), dt.datetime(2024, 6, 1, 9, 0, 0, 120000), None]
    assert form_text(pa.array(values, pa.timestamp("us")), form).to_pylist() == [*naive, None]
    oslo = pa.array([dt.datetime(2024, 6, 1, 7, tzinfo=dt.UTC)], pa.timestamp("us", "Europe/Oslo"))
    assert form_text(oslo, form).to_pylist() == [zoned]
    seconds = pa.array([dt.datetime(2024, 6, 1, 9)], pa.timestamp("s"))  # no fraction of its own: the form's
    assert form_text(seconds, form).to_pylist() == [naive[0]]


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamps_as_iso_text_for_every_year_width(unit: str) -> None:
    """Four-digit years take the fast path (the separator is byte 10); a year of
    five digits, or before year 0, falls back to finding the space."""
    frac = {"s": "", "ms": ".000", "us": ".000000"}[unit]
    common = pa.array(
        [dt.datetime(999, 1, 2, 3, 4, 5), dt.datetime(2024, 12, 31, 23, 59, 59), None], pa.timestamp(unit)
    )
    assert iso_text(common).to_pylist() == [f"0999-01-02T03:04:05{frac}", f"2024-12-31T23:59:59{frac}", None]
    per_second = {"s": 1, "ms": 1000, "us": 1_000_000}[unit]
    far = pa.array([253_402_300_800 * per_second, 0], pa.timestamp(unit))  # 10000-01-01, 1970-01-01
    assert iso_text(far).to_pylist() == [f"10000-01-01T00:00:00{frac}", f"1970-01-01T00:00:00{frac}"]
    assert iso_text(pa.array([None], pa.timestamp(unit))).to_pylist() == [None]


def test_zoned_timestamps_are_utc_with_z() -> None:
    oslo = pa.array([dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)], pa.timestamp("s", tz="Europe/Oslo"))
    assert iso_text(oslo).to_pylist() == ["2024-06-01T12:00:00Z"]


# days and microseconds since 1970-01-01 of 0000-01-01 and 10000-01-01 (proleptic Gregorian)
_YEAR_0_DAYS, _YEAR_10000_DAYS = -719_528, 2_932_897


def _far_table() -> pa.Table:
    """Dates and timestamps outside Python's years 1..9999, nested and not; floats
    that JSON has no number for; an empty map."""
    day_us = 86_400_000_000
    dates = pa.array([_YEAR_0_DAYS, _YEAR_10000_DAYS - 1], pa.date32())
    stamps = pa.array([_YEAR_0_DAYS * day_us - 1, _YEAR_10000_DAYS * day_us], pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "id": [1, 2],
            "day": dates,
            "at": stamps,
            "span": pa.StructArray.from_arrays([dates, stamps], ["first", "last"]),
            "days": pa.array([[_YEAR_0_DAYS], []], pa.list_(pa.date32())),
            "tags": pa.array([[("a", _YEAR_0_DAYS)], []], pa.map_(pa.string(), pa.date32())),
            "x": [float("inf"), float("-inf")],
            "xs": pa.array([[float("nan"), 1.5], [float("inf")]], pa.list_(pa.float64())),
            "y": [float("nan"), 2.5],
        }
    )


_FAR_JSON = [
    {"id": 1, "day": "0000-01-01", "at": "-0001-12-31T23:59:59.999999Z",
     "span": {"first": "0000-01-01", "last": "-0001-12-31T23:59:59.999999Z"},
     "days": ["0000-01-01"], "tags": {"a": "0000-01-01"}, "x": "Infinity", "xs": [None, 1.5], "y": None},
    {"id": 2, "day": "9999-12-31", "at": "10000-01-01T00:00:00.000000Z",
     "span": {"first": "9999-12-31", "last": "10000-01-01T00:00:00.000000Z"},
     "days": [], "tags": {}, "x": "-Infinity", "xs": ["Infinity"], "y": 2.5},
]  # fmt: skip


def test_far_dates_infinities_and_empty_maps_as_json() -> None:
    import json

    from loader.writers.encode import json_objects

    objects = json_objects(_far_table().to_batches()[0]).to_pylist()
    assert [json.loads(o) for o in objects] == _FAR_JSON


def test_far_dates_and_infinities_load_into_sqlite_and_leveldb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Dates and timestamps outside Python's years inside a struct, a list and a map, as in
    apache/parquet-testing's nested_structs.rust.parquet (see
    test_timestamps_of_years_the_cast_cannot_spell for its year 52951)."""
    import json
    import math

    import pyarrow.parquet as pq

    from loader import load
    from tests.conftest import sqlite_rows
    from tests.reliability_util import leveldb_items

    src = tmp_path / "far.parquet"
    pq.write_table(_far_table(), src)
    report = load(str(src), str(tmp_path / "far.db"), table="t")
    assert (report.status, report.rows_written, report.rows_rejected) == ("ok", 2, 0)
    rows = sqlite_rows(tmp_path / "far.db", "SELECT day, at, span, days, tags, x, xs, y FROM t ORDER BY id")
    for row, want in zip(rows, _FAR_JSON, strict=True):
        day, at, span, days, tags, x, xs, y = row
        assert (day, at) == (want["day"], want["at"])
        assert (json.loads(span), json.loads(days), json.loads(tags)) == (want["span"], want["days"], want["tags"])
        assert json.loads(xs) == want["xs"]
        assert math.isinf(x) and (x > 0) == (want["x"] == "Infinity")  # SQLite keeps infinities as REAL
        assert y == want["y"]  # NaN is NULL in SQLite
    assert sqlite_rows(tmp_path / "far.db", "SELECT typeof(x) FROM t") == [("real",), ("real",)]
    report = load(str(src), str(tmp_path / "far.ldb"), key="row:{id}")
    assert (report.status, report.rows_written) == ("ok", 2)
    items, _ = leveldb_items(tmp_path / "far.ldb")
    assert [json.loads(v) for _, v in items] == _FAR_JSON


# Seconds since 1970-01-01 and their text: years Arrow's cast to text spells wrong or not at
# all (its year has 16 bits: -32768, 32768, 33658), and both sides of each edge of the years
# it spells right (-32767 to 32767) and of 4-digit years.
_YEARS = [
    (10**12, "33658-09-27T01:46:40"),
    (-1_096_225_401_600, "-32768-01-01T00:00:00"),
    (-1_096_193_779_201, "-32768-12-31T23:59:59"),
    (-1_096_193_779_200, "-32767-01-01T00:00:00"),
    (-62_167_219_201, "-0001-12-31T23:59:59"),
    (-62_167_219_200, "0000-01-01T00:00:00"),
    (253_402_300_799, "9999-12-31T23:59:59"),
    (253_402_300_800, "10000-01-01T00:00:00"),
    (971_890_963_199, "32767-12-31T23:59:59"),
    (971_890_963_200, "32768-01-01T00:00:00"),
]


def _years(unit: str, tz: str | None) -> tuple[list[int | None], list[str | None]]:
    """``_YEARS`` in ``unit``, each half a second on (the fraction counts up from the
    second before the epoch too), a null last; and the ISO text of each."""
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    frac = {"s": "", "ms": ".500", "us": ".500000"}[unit]
    values: list[int | None] = [s * per_second + per_second // 2 for s, _ in _YEARS]
    texts: list[str | None] = [text + frac + ("Z" if tz else "") for _, text in _YEARS]
    return [*values, None], [*texts, None]


@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Tokyo"])
@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamps_of_years_the_cast_cannot_spell(unit: str, tz: str | None) -> None:
    values, texts = _years(unit, tz)
    t = pa.timestamp(unit, tz)
    assert iso_text(pa.array(values, t)).to_pylist() == texts
    for value, text in zip(values, texts, strict=True):  # alone: a column all in or all out of the cast's years
        assert iso_text(pa.array([value], t)).to_pylist() == [text]
    # apache/parquet-testing's nested_structs.rust.parquet: ul_observation_date.min (the cast said -12585-07-27)
    if unit == "us" and tz == "UTC":
        assert iso_text(pa.array([1_608_822_900_000_000_000], t)).to_pylist() == ["52951-07-27T10:00:00.000000Z"]


def test_nanosecond_timestamps_to_the_ends_of_int64() -> None:
    for tz, z in ((None, ""), ("UTC", "Z")):
        stamps = pa.array([-(2**63), 2**63 - 1, 1, None], pa.timestamp("ns", tz))
        assert iso_text(stamps).to_pylist() == [
            f"1677-09-21T00:12:43.145224192{z}",
            f"2262-04-11T23:47:16.854775807{z}",
            f"1970-01-01T00:00:00.000000001{z}",
            None,
        ]


# days since 1970-01-01 and their date: int32's ends, and both sides of the cast's years
_DAYS = [
    (-(2**31), "-5877641-06-23"),
    (-12_687_795, "-32769-12-31"),
    (-12_687_794, "-32768-01-01"),
    (-12_687_428, "-32767-01-01"),
    (-719_529, "-0001-12-31"),
    (0, "1970-01-01"),
    (11_248_737, "32767-12-31"),
    (11_248_738, "32768-01-01"),
    (2**31 - 1, "5881580-07-11"),
]


def test_dates_of_every_year_arrow_holds() -> None:
    days = [d for d, _ in _DAYS]
    texts = [text for _, text in _DAYS]
    assert iso_text(pa.array([*days, None], pa.date32())).to_pylist() == [*texts, None]
    ms = pa.array([d * 86_400_000 for d in days], pa.date64())
    assert iso_text(ms).to_pylist() == texts
    for d, text in _DAYS:
        assert iso_text(pa.array([d], pa.date32())).to_pylist() == [text]


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_far_timestamps_nested_in_structs_lists_and_maps(unit: str) -> None:
    """The same years inside nested values, in LevelDB's JSON and SQLite's text, also
    for a slice (an offset into the children) and under null parents."""
    import json

    from loader.writers.encode import json_objects, sqlite_array

    values, texts = _years(unit, "UTC")
    stamps = pa.array(values, pa.timestamp(unit, "UTC"))
    n = len(values)
    batch = pa.record_batch(
        {
            "id": list(range(n)),
            "at": stamps,
            "span": pa.StructArray.from_arrays([stamps], ["at"]),
            "list": pa.ListArray.from_arrays(pa.array(range(n + 1), pa.int32()), stamps),
            "big": pa.LargeListArray.from_arrays(pa.array(range(n + 1), pa.int64()), stamps),
            "pair": pa.FixedSizeListArray.from_arrays(
                pa.concat_arrays([stamps, stamps]).take(pa.array([i for k in range(n) for i in (k, n + k)])), 2
            ),
            "map": pa.MapArray.from_arrays(pa.array(range(n + 1), pa.int32()), pa.array(["k"] * n), stamps),
            "deep": pa.array([[{"at": [v]}] for v in values], pa.list_(pa.struct([("at", pa.list_(stamps.type))]))),
        }
    )
    want = [
        {"id": i, "at": text, "span": {"at": text}, "list": [text], "big": [text], "pair": [text, text],
         "map": {"k": text}, "deep": [{"at": [text]}]}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    for start in (0, 3):
        sliced = batch.slice(start)
        assert [json.loads(o) for o in json_objects(sliced).to_pylist()] == want[start:]
        for name in ("span", "list", "big", "pair", "map", "deep"):
            stored = sqlite_array(sliced.column(name)).to_pylist()
            assert [json.loads(x) for x in stored] == [w[name] for w in want[start:]]
    nulls = pa.StructArray.from_arrays([stamps], ["at"], mask=pa.array([i % 2 == 1 for i in range(n)]))
    expect = ['{"at":' + json.dumps(t) + "}" if i % 2 == 0 else None for i, t in enumerate(texts)]
    assert sqlite_array(nulls).to_pylist() == expect
    lists = pa.ListArray.from_arrays(
        pa.array(range(n + 1), pa.int32()), stamps, mask=pa.array([i % 2 == 1 for i in range(n)])
    )
    expect = ["[" + json.dumps(t) + "]" if i % 2 == 0 else None for i, t in enumerate(texts)]
    assert sqlite_array(lists.slice(1)).to_pylist() == expect[1:]


def test_nested_decimals_are_json_numbers_as_top_level_ones() -> None:
    """A decimal is a JSON number with its exact digits, nested or not (``0.10``, not
    ``"0.10"`` nor ``0.1``), in plain digits for a negative scale too (``12300``, not Arrow's ``1.23E+4``)."""
    from decimal import Decimal

    from loader.writers.encode import json_objects, sqlite_array

    cents = pa.decimal128(5, 2)
    hundreds = pa.decimal128(5, -2)
    batch = pa.record_batch(
        {
            "d": pa.array([Decimal("0.10"), Decimal("-12.00")], cents),
            "e": pa.array([Decimal("12300"), Decimal("0")], hundreds),
            "ds": pa.array([[Decimal("0.10")], [Decimal("-12.00"), None]], pa.list_(cents)),
            "s": pa.array(
                [{"d": Decimal("0.10"), "e": Decimal("12300")}, None], pa.struct([("d", cents), ("e", hundreds)])
            ),
            "m": pa.array([[(Decimal("0.10"), Decimal("1.50"))], []], pa.map_(cents, cents)),
            "big": pa.array(
                [[Decimal("1234567890123456789012345678901234567.890")], []], pa.list_(pa.decimal256(40, 3))
            ),
        }
    )
    assert json_objects(batch).to_pylist() == [
        b'{"d":0.10,"e":12300,"ds":[0.10],"s":{"d":0.10,"e":12300},"m":{"0.10":1.50},'
        b'"big":[1234567890123456789012345678901234567.890]}',
        b'{"d":-12.00,"e":0,"ds":[-12.00,null],"s":null,"m":{},"big":[]}',
    ]
    assert sqlite_array(batch.column("ds")).to_pylist() == ["[0.10]", "[-12.00,null]"]
    assert sqlite_array(batch.column("s")).to_pylist() == ['{"d":0.10,"e":12300}', None]


def test_whole_floats_keep_their_point_in_json_and_raw_values() -> None:
    """``3.0`` read back by a JSON reader is a float, ``3`` an integer: as Python's json writes
    them. Exponent forms are floats already; NaN and infinities as before."""
    import json

    from loader.writers.encode import json_objects, raw_values

    x = pa.array([3.0, -0.0, 2.5, 1e16, None, float("nan"), float("inf"), 1e6])
    values = [json.loads(v)["x"] for v in json_objects(pa.record_batch({"x": x})).to_pylist()]
    assert [type(v).__name__ for v in values] == [
        "float",
        "float",
        "float",
        "float",
        "NoneType",
        "NoneType",
        "str",
        "float",
    ]
    assert json_objects(pa.record_batch({"x": x.slice(0, 2)})).to_pylist() == [b'{"x":3.0}', b'{"x":-0.0}']
    assert raw_values(x.slice(0, 4)).to_pylist() == [b"3.0", b"-0.0", b"2.5", b"1e+16"]
    assert raw_values(pa.array([3.0], pa.float32())).to_pylist() == [b"3.0"]


def test_small_decimals_are_plain_digits_in_every_encoding() -> None:
    """Values below 10**-6 (Arrow's cast writes ``1E-9``) keep their plain digits and scale:
    in SQLite, in LevelDB's JSON (nested too), as raw values and in keys."""
    from decimal import Decimal

    from loader.writers.encode import KeyTemplate, json_objects, raw_values, sqlite_array

    t = pa.decimal128(38, 9)
    arr = pa.array([Decimal("0.000000001"), Decimal("0"), Decimal("-0.0000001"), None], t)
    texts = ["0.000000001", "0.000000000", "-0.000000100", None]
    assert sqlite_array(arr).to_pylist() == texts
    assert raw_values(arr).to_pylist() == [b"0.000000001", b"0.000000000", b"-0.000000100", b""]
    batch = pa.record_batch({"v": arr, "l": pa.array([[v] for v in arr.to_pylist()], pa.list_(t))})
    assert json_objects(batch).to_pylist() == [
        b'{"v":0.000000001,"l":[0.000000001]}',
        b'{"v":0.000000000,"l":[0.000000000]}',
        b'{"v":-0.000000100,"l":[-0.000000100]}',
        b'{"v":null,"l":[null]}',
    ]
    assert KeyTemplate("k:{v}").render(batch).to_pylist() == ["k:0.000000001", "k:0.000000000", "k:-0.000000100", None]


@pytest.mark.parametrize(
    "t,dictionary", [(pa.float32(), False), (pa.float16(), False), (pa.float32(), True)], ids=["f32", "f16", "dict"]
)
def test_narrow_floats_are_written_as_the_float64_sqlite_and_pyarrow_hold(t: pa.DataType, dictionary: bool) -> None:
    """A float32's 0.1 is 0.10000000149011612 as a float64: SQLite stores that and pyarrow
    returns it, so JSON (top level as nested), raw values and keys spell it too, not float32's
    shortest text ``0.1``, which reads back as another float64."""
    import json

    from loader.writers.encode import KeyTemplate, json_objects, raw_values, sqlite_array

    plain = pa.array([0.1, 3.0, None], t)
    arr = plain.dictionary_encode() if dictionary else plain
    wide = plain.to_pylist()  # pyarrow's float64 values
    assert wide[0] != 0.1 and sqlite_array(arr).to_pylist() == wide
    batch = pa.record_batch({"f": arr, "l": pa.array([[v] for v in wide], pa.list_(t))})
    objects = [json.loads(o) for o in json_objects(batch).to_pylist()]
    assert [o["f"] for o in objects] == [o["l"][0] for o in objects] == wide
    assert raw_values(arr).to_pylist() == [repr(wide[0]).encode(), b"3.0", b""]
    assert KeyTemplate("k:{f}").render(batch).to_pylist()[:2] == [f"k:{wide[0]!r}", "k:3.0"]  # as the raw value


def test_a_key_format_spec_is_checked_against_its_columns_type_before_any_row() -> None:
    from loader.errors import ConfigError
    from loader.writers.encode import KeyTemplate

    schema = pa.schema(
        [("name", pa.string()), ("amount", pa.float64()), ("id", pa.int64()), ("day", pa.date32()), ("ok", pa.bool_())]
    )
    KeyTemplate("{day:%Y%m%d}/{id:08d}/{amount:.2f}/{name:>5}/{ok:d}").check_types(schema)  # each fits its type
    for spec, column, message in [
        ("08d", "name", "does not fit column type string: Unknown format code 'd' for object of type 'str'"),
        (".2x", "amount", "does not fit column type double: Unknown format code 'x' for object of type 'float'"),
        ("%Y", "id", "does not fit column type int64: Invalid format specifier '%Y' for object of type 'int'"),
    ]:
        with pytest.raises(ConfigError) as caught:
            KeyTemplate(f"k:{{{column}:{spec}}}").check_types(schema)
        assert str(caught.value) == f"sink.key: format spec {spec!r} {message}"


_COUNTS = [1500, -86_400_000_001, None, 0]  # 1500 ns is no whole microsecond; a negative one past a day


def _nested_durations(unit: str) -> pa.RecordBatch:
    """Durations of ``unit`` in a list, a struct, a map and a list of structs, with a null
    inside each and a null parent."""
    t = pa.duration(unit)
    rows = [[c] for c in _COUNTS]
    return pa.record_batch(
        {
            "id": list(range(len(_COUNTS))),
            "list": pa.array([*rows[:3], None], pa.list_(t)),
            "struct": pa.array([{"d": c} for c in _COUNTS[:3]] + [None], pa.struct([("d", t)])),
            "map": pa.array([[("k", c)] for c in _COUNTS[:3]] + [None], pa.map_(pa.string(), t)),
            "deep": pa.array([[{"d": c}] for c in _COUNTS], pa.list_(pa.struct([("d", t)]))),
        }
    )


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_nested_durations_are_counts_of_their_unit_as_top_level_ones(unit: str) -> None:
    """A duration inside a list, struct or map is its integer count of the unit in LevelDB's
    JSON and SQLite's JSON text, as at top level: not Python's timedelta text, and a nanosecond
    count that is no whole microsecond does not fail; also for a slice."""
    import json

    from loader.writers.encode import json_objects, sqlite_array

    batch = _nested_durations(unit)
    want = [
        {"id": 0, "list": [1500], "struct": {"d": 1500}, "map": {"k": 1500}, "deep": [{"d": 1500}]},
        {"id": 1, "list": [-86_400_000_001], "struct": {"d": -86_400_000_001}, "map": {"k": -86_400_000_001},
         "deep": [{"d": -86_400_000_001}]},
        {"id": 2, "list": [None], "struct": {"d": None}, "map": {"k": None}, "deep": [{"d": None}]},
        {"id": 3, "list": None, "struct": None, "map": None, "deep": [{"d": 0}]},
    ]  # fmt: skip
    assert [json.loads(o) for o in json_objects(batch).to_pylist()] == want
    assert json_objects(batch).to_pylist()[1] == (
        b'{"id":1,"list":[-86400000001],"struct":{"d":-86400000001},"map":{"k":-86400000001},'
        b'"deep":[{"d":-86400000001}]}'
    )
    for name in ("list", "struct", "map", "deep"):
        stored = sqlite_array(batch.column(name)).to_pylist()
        assert [None if x is None else json.loads(x) for x in stored] == [w[name] for w in want]
        assert sqlite_array(batch.column(name).slice(1)).to_pylist() == stored[1:]


@pytest.mark.parametrize(
    ("template", "prefix"),
    [("a:{id}", "a:"), ("{id}", ""), ("{{x}}:{id}", "{x}:"), ("p{{q}}r{{{id}", "p{q}r{"), ("{{}}{id}{{z}}", "{}")],
)
def test_the_prefix_is_all_literal_text_before_the_first_field(template: str, prefix: str) -> None:
    assert KeyTemplate(template).prefix == prefix


@pytest.fixture(params=["America/New_York", "Asia/Kolkata"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The process's local time zone (TZ) set to one far from UTC, restored after."""
    import time

    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_epoch_seconds_in_a_key_do_not_depend_on_the_local_time_zone(local_zone: str) -> None:
    """strftime's %s read the value as local time: keys changed with the host's TZ."""
    batch = pa.record_batch(
        {
            "z": pa.array([dt.datetime(2020, 1, 2, 3, 4, 5)], pa.timestamp("ns", "America/Chicago")),
            "n": pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 500000)], pa.timestamp("us")),
            "d": pa.array([dt.date(2020, 7, 2)], pa.date32()),
        }
    )
    template = KeyTemplate("{z:%s}/{n:%s.%f}/{d:%Y %%s %s}")
    template.check_types(batch.schema)
    # 2020-01-02 03:04:05 UTC (stored as UTC, shown in Chicago); naive and dates as UTC wall time
    assert template.render(batch).to_pylist() == ["1577934245/-1.500000/2020 %s 1593648000"]


@pytest.fixture(scope="module")
def german_locale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A locale that spells months, days and numbers unlike C: an installed one, else one made
    with localedef (LOCPATH); the test is skipped where none can be had."""
    import locale
    import os
    import shutil
    import subprocess

    saved, path = locale.setlocale(locale.LC_ALL), os.environ.get("LOCPATH")
    made = tmp_path_factory.mktemp("locales")
    localedef = shutil.which("localedef")
    if localedef:
        subprocess.run([localedef, "-i", "de_DE", "-f", "UTF-8", str(made / "de_DE.UTF-8")], capture_output=True)
    for name, locpath in [("de_DE.UTF-8", path), ("de_DE.utf8", path), ("de_DE.UTF-8", str(made))]:
        if locpath is None:
            os.environ.pop("LOCPATH", None)
        else:
            os.environ["LOCPATH"] = locpath
        try:
            locale.setlocale(locale.LC_ALL, name)
        except locale.Error:
            continue
        locale.setlocale(locale.LC_ALL, saved)
        try:
            yield name
        finally:
            locale.setlocale(locale.LC_ALL, saved)
            if path is None:
                os.environ.pop("LOCPATH", None)
            else:
                os.environ["LOCPATH"] = path
        return
    pytest.skip("no locale other than C can be set here")


def test_key_fields_are_spelled_as_in_the_c_locale_whatever_locale_the_host_set(german_locale: str) -> None:
    """Names of months and days, AM/PM and ``n`` followed the host's locale: a host that called
    setlocale wrote ``05-Mär-2024`` where the CLI wrote ``05-Mar-2024``, one row under two keys."""
    import locale

    batch = pa.record_batch(
        {
            "ts": pa.array([dt.datetime(2024, 3, 5, 14, 0), dt.datetime(2024, 12, 24, 9, 30)], pa.timestamp("s")),
            "day": pa.array([dt.date(2024, 5, 1), None], pa.date32()),
            "tod": pa.array([dt.time(13, 5), dt.time(0, 1)], pa.time64("us")),
            "n": pa.array([1234567, 2500000]),
            "f": pa.array([1234567.5, 0.25]),
        }
    )
    template = KeyTemplate("{ts:%d-%b-%Y %a %A %B %h %p %P|%c|%x|%X|%r|%%b}|{day:%a %b}|{tod:%p %r}|{n:n}|{f:n}")
    template.check_types(batch.schema)
    c_keys = template.render(batch).to_pylist()
    assert c_keys == [
        "05-Mar-2024 Tue Tuesday March Mar PM pm|Tue Mar  5 14:00:00 2024|03/05/24|14:00:00|02:00:00 PM|%b"
        "|Wed May|PM 01:05:00 PM|1234567|1.23457e+06",
        None,
    ]
    locale.setlocale(locale.LC_ALL, german_locale)
    try:
        assert format(dt.date(2024, 3, 5), "%b") != "Mar"  # the host's locale is not C's
        assert template.render(batch).to_pylist() == c_keys
        no_day = KeyTemplate("{ts:%x %X %B}|{tod:%a %p}").render(batch).to_pylist()
    finally:
        locale.setlocale(locale.LC_ALL, "C")
    assert no_day == ["03/05/24 14:00:00 March|Mon PM", "12/24/24 09:30:00 December|Mon AM"]


def test_epoch_seconds_of_a_time_of_day_are_refused() -> None:
    schema = pa.schema([("t", pa.time64("us"))])
    with pytest.raises(ConfigError) as e:
        KeyTemplate("k:{t:%H%s}").check_types(schema)
    assert str(e.value) == "sink.key: %s in {t:%H%s} takes a date or a timestamp, not column type time64[us]"


def test_a_strftime_key_cuts_a_nanosecond_time_to_microseconds() -> None:
    """A time64[ns] value with digits below the microsecond was rejected under a strftime spec
    (pyarrow cannot make a Python time of it); timestamps were cut, times were not."""
    noon = 12 * 3600 * 10**9
    batch = pa.record_batch({"tod": pa.array([noon, noon + 1, noon + 999_999, None], pa.time64("ns"))})
    template = KeyTemplate("{tod:%H%M}/{tod:%H:%M:%S.%f}")
    template.check_types(batch.schema)
    assert template.render(batch).to_pylist() == [
        "1200/12:00:00.000000",
        "1200/12:00:00.000000",
        "1200/12:00:00.000999",
        None,
    ]


def test_a_strftime_key_on_a_zoned_nanosecond_timestamp_takes_the_repeated_hour_of_a_dst_change() -> None:
    """Cutting nanoseconds floored the zoned value in local wall time, and Arrow raised on the
    repeated hour (02:00-02:59 twice in Berlin on 2024-10-27): an internal error for the load."""
    start = 1_729_972_800 * 10**9  # 2024-10-26 20:00 UTC, 22:00 in Berlin
    half_hour = 1800 * 10**9
    ts = pa.array([start + i * half_hour for i in range(12)] + [start + 7, None], pa.timestamp("ns", "Europe/Berlin"))
    template = KeyTemplate("{ts:%Y%m%d%H%M}/{ts:%S.%f}")
    template.check_types(pa.schema([("ts", ts.type)]))
    keys = template.render(pa.record_batch({"ts": ts})).to_pylist()
    # in UTC, as {ts} writes it: the two 02:30 in Berlin are 00:30 and 01:30 UTC
    hours = ["262000", "262030", "262100", "262130", "262200", "262230", "262300", "262330"]
    hours += ["270000", "270030", "270100", "270130"]
    assert keys == [f"202410{h}/00.000000" for h in hours] + ["202410262000/00.000000", None]


def test_a_duration_key_field_sorts_and_takes_specs_as_its_integer_count() -> None:
    """A duration was written as bare digits (``10`` sorted before ``9``), and ``{d:020d}`` was
    refused as a timedelta's format spec."""
    batch = pa.record_batch({"d": pa.array([9, 10, -1, None], pa.duration("ms"))})
    plain = KeyTemplate("k:{d}")
    assert plain.render(batch).to_pylist() == [
        "k:00000000000000000009",
        "k:00000000000000000010",
        "k:-9223372036854775807",
        None,
    ]
    padded = KeyTemplate("{d:06d}/{d:d}")
    padded.check_types(batch.schema)
    assert padded.render(batch).to_pylist() == ["000009/9", "000010/10", "-00001/-1", None]
    with pytest.raises(ConfigError) as e:
        KeyTemplate("{d:%H}").check_types(batch.schema)
    assert str(e.value) == (
        "sink.key: format spec '%H' does not fit column type duration[ms]: "
        "Invalid format specifier '%H' for object of type 'int'"
    )


@pytest.mark.parametrize(
    ("spec", "t"),
    [("d", pa.date32()), (">12", pa.timestamp("us")), ("%%", pa.time64("us")), ("x%%y", pa.date32())],
)
def test_a_temporal_spec_without_a_directive_is_refused(spec: str, t: pa.DataType) -> None:
    """Such a spec is literal text to strftime: {day:d} gave every row the key 'd', and the
    load kept one row of many."""
    template = KeyTemplate(f"{{v:{spec}}}/k")
    with pytest.raises(ConfigError) as e:
        template.check_types(pa.schema([("v", t)]))
    assert str(e.value) == (
        f"sink.key: format spec {spec!r} of column 'v' ({'date' if t == pa.date32() else t}) has no strftime "
        f"directive: the field would be the same text in every row's key (in '{{v:{spec}}}/k')"
    )


def test_a_temporal_spec_with_a_directive_beside_a_percent_sign_is_taken() -> None:
    template = KeyTemplate("{v:%Y%%}")
    template.check_types(pa.schema([("v", pa.date32())]))
    batch = pa.record_batch({"v": pa.array([dt.date(2024, 1, 2)])})
    assert template.render(batch).to_pylist() == ["2024%"]


def test_a_dictionary_temporal_spec_without_a_directive_is_refused() -> None:
    """A pandas Categorical of datetimes is a dictionary column: its {ts:d} gave every key 'd'."""
    with pytest.raises(ConfigError) as e:
        KeyTemplate("{ts:d}").check_types(pa.schema([("ts", pa.dictionary(pa.int8(), pa.timestamp("us")))]))
    assert str(e.value).startswith("sink.key: format spec 'd' of column 'ts' (timestamp[us]) has no strftime directive")


def test_map_keys_are_spelled_as_their_values_are_in_the_json() -> None:
    """A key that is not text was Python's ``str``: ``"b'\\x00\\xff'"``, ``"True"``, a NaN ``"None"``.
    Now each key is its JSON text as a value of its type is written (a string's without quotes)."""
    from decimal import Decimal

    from loader.writers.encode import nested_json, sqlite_array

    def keys(values: list[object], t: pa.DataType, item: pa.DataType | None = None) -> str | None:
        return nested_json(pa.array([[(k, 1) for k in values]], pa.map_(t, item or pa.int64())))[0]

    assert keys([b"\x00\xff", b"ab"], pa.binary()) == '{"AP8=":1,"YWI=":1}'  # base64, as bytes values are
    assert keys([b"\x00\xff"], pa.binary(2)) == '{"AP8=":1}'
    assert keys([True, False], pa.bool_()) == '{"true":1,"false":1}'
    floats = [float("nan"), 1.5, 2.0, -0.0, float("inf"), float("-inf")]
    assert keys(floats, pa.float64()) == '{"null":1,"1.5":1,"2.0":1,"-0.0":1,"Infinity":1,"-Infinity":1}'
    assert keys([0.1], pa.float32()) == '{"0.10000000149011612":1}'  # the float64 it widens to
    assert keys([7, -2], pa.int8()) == '{"7":1,"-2":1}'
    assert keys([dt.date(2024, 1, 31)], pa.date32()) == '{"2024-01-31":1}'
    assert keys([dt.datetime(2024, 1, 31, 8)], pa.timestamp("ms", "UTC")) == '{"2024-01-31T08:00:00.000Z":1}'
    assert keys([dt.timedelta(seconds=90)], pa.duration("s")) == '{"90":1}'
    assert keys(["a\\b"], pa.large_string()) == '{"a\\\\b":1}'
    # the slow path of a type holding decimals writes keys the same way
    assert keys([Decimal("1.50")], pa.decimal128(5, 2), pa.decimal128(5, 2)) == '{"1.50":1.00}'
    assert keys([True], pa.bool_(), pa.decimal128(5, 2)) == '{"true":1.00}'
    # nested: a map in a list in a struct, sliced, a null map beside it
    inner = pa.map_(pa.bool_(), pa.binary())
    deep = pa.array([None, {"l": [[(True, b"\x01")], None]}], pa.struct([("l", pa.list_(inner))])).slice(1)
    assert sqlite_array(deep).to_pylist() == ['{"l":[{"true":"AQ=="},null]}']


def test_repeated_map_keys_are_found_at_any_depth_by_the_keys_text() -> None:
    """A map may hold one key twice (pyarrow writes it): its JSON object kept the last value only."""
    from loader.writers.encode import repeated_map_keys

    m = pa.map_(pa.string(), pa.int64())
    flat = pa.array([[("a", 1), ("b", 2)], [("a", 1), ("a", 2), ("a", 3)], None, [], [("x", 1), ("x", 2)]], m)
    mask, reasons = repeated_map_keys(flat, "m") or (None, [])
    assert mask is not None and mask.to_pylist() == [False, True, False, False, True]
    assert reasons == [
        "the map in column 'm' holds the key 'a' 3 times: a JSON object keeps one value per key",
        "the map in column 'm' holds the key 'x' twice: a JSON object keeps one value per key",
    ]
    found = repeated_map_keys(flat.slice(2), None)  # a slice's own rows; the column unnamed
    assert found is not None and found[0].to_pylist() == [False, False, True]
    assert found[1] == ["the map holds the key 'x' twice: a JSON object keeps one value per key"]
    assert repeated_map_keys(flat.slice(0, 1), "m") is None
    assert repeated_map_keys(pa.array([1, 2]), "n") is None  # no map: no pass over the values
    # one key in each of two maps of a row is no repeat; two in one map, in a struct, is
    listed = pa.array([[[("a", 1)], [("a", 2)]], [[("a", 1)], [("a", 2), ("a", 3)]]], pa.list_(m))
    nested = pa.StructArray.from_arrays([listed], ["ms"], mask=pa.array([False, False]))
    found = repeated_map_keys(nested, "s")
    assert found is not None and found[0].to_pylist() == [False, True]
    assert found[1] == ["the map at .ms[] in column 's' holds the key 'a' twice: a JSON object keeps one value per key"]
    hidden = pa.StructArray.from_arrays([listed], ["ms"], mask=pa.array([False, True]))  # the repeat under a null
    assert repeated_map_keys(hidden, "s") is None
    # keys compared as their names: two NaN keys are both "null", bytes shown as base64
    nan = repeated_map_keys(pa.array([[(float("nan"), 1), (float("nan"), 2)]], pa.map_(pa.float64(), pa.int64())), "f")
    assert nan is not None and nan[1] == [
        "the map in column 'f' holds the key 'null' twice: a JSON object keeps one value per key"
    ]
    raw = repeated_map_keys(pa.array([[(b"\xff", 1), (b"\xff", 2)]], pa.map_(pa.binary(), pa.int64())), "b")
    assert raw is not None and raw[1] == [
        "the map in column 'b' holds the key '/w==' twice: a JSON object keeps one value per key"
    ]
    within = pa.map_(pa.string(), m)  # a map in a map's values
    deep = repeated_map_keys(pa.array([[("k", [("a", 1), ("a", 2)])]], within), "d")
    assert deep is not None and deep[1] == [
        "the map at [] in column 'd' holds the key 'a' twice: a JSON object keeps one value per key"
    ]


@pytest.mark.parametrize(("unit", "per_second"), [("s", 1), ("ms", 1000), ("us", 10**6), ("ns", 10**9)])
def test_times_at_or_past_the_end_of_the_day_are_their_clock_text_never_arrows_diagnostic(
    unit: str, per_second: int
) -> None:
    """DuckDB's TIME '24:00:00' and fastparquet's timedeltas are Parquet TIMEs Arrow holds but
    spells `<value out of range: N>`; that text was stored as the value."""
    t = pa.time32(unit) if unit in ("s", "ms") else pa.time64(unit)
    fraction = "" if unit == "s" else "." + "0" * (len(str(per_second)) - 1)
    day = 86400 * per_second
    far = 100 * day if unit != "ms" else 24 * day  # within int32
    arr = pa.array([day, 3600 * per_second, -5 * per_second, None, far], t)
    assert iso_text(arr).to_pylist() == [
        f"24:00:00{fraction}",
        f"01:00:00{fraction}",
        f"-00:00:05{fraction}",
        None,
        f"2400:00:00{fraction}" if unit != "ms" else "576:00:00.000",
    ]


def test_a_time_spec_refuses_the_end_of_the_day_rather_than_key_it_as_midnight() -> None:
    from loader.writers.encode import UnfitKeys

    batch = pa.record_batch({"t": pa.array([86_400_000_000, 0], pa.time64("us"))})
    with pytest.raises(UnfitKeys) as caught:
        KeyTemplate("k{t:%H%M}").render(batch)
    assert caught.value.bad.to_pylist() == [True, False]
    assert caught.value.reasons == [
        "key column 't': format spec '%H%M' cannot spell 24:00:00 (it would be 00:00:00's key)"
    ]


@pytest.mark.parametrize(
    ("template", "warned"),
    [
        ("{a:d}{b:d}", ["{a:d}{b:d}"]),
        ("{s}{b:d}", ["{s}{b:d}"]),  # text varies in width
        ("{s}{b}", []),  # hunt28b D9: b is 20 digits in every row, so where s ends is known
        ("{a:>5}{b:d}", ["{a:>5}{b:d}"]),  # space fill: text past the width runs on
        ("{a:d}{b}", []),
        ("{a:03d}{b}", []),
        ("{a:d}{b}{c:d}", ["{a:d}{b}{c:d}"]),  # a=1,b=23,c=45 and a=10,b=234,c=5
        ("{a:d}{b}{a:d}", []),  # one text twice: the run's width tells its width
        ("{day}{s}{b}{a:d}/{s}", ["{s}{b}{a:d}"]),
        ("{a:d}{s}{b:d}", ["{a:d}{s}", "{s}{b:d}"]),
        ("{a}{b}", []),  # an integer without a spec: 20 digits
        ("{a:08d}{b:d}", ["{a:08d}{b:d}"]),  # a width is a minimum: an int64 may pass 8 digits
        ("{a:0>8}{b:d}", ["{a:0>8}{b:d}"]),
        ("{a:020d}{b:d}", []),  # -9223372036854775808 is 20 characters, as 0 padded is
        ("{a:019d}{b:d}", ["{a:019d}{b:d}"]),
        ("{a:+020d}{b:d}", []),  # a sign on every value: 20 wide for all of int64
        ("{small:03d}{b:d}", []),  # a uint8 never passes 3 digits
        ("{small:02d}{b:d}", ["{small:02d}{b:d}"]),
        ("{tiny:04d}{b:d}", []),  # int8: -128 is 4 wide
        ("{tiny:03d}{b:d}", ["{tiny:03d}{b:d}"]),
        ("{f:08.2f}{b:d}", ["{f:08.2f}{b:d}"]),
        ("{s:0>8}{b:d}", ["{s:0>8}{b:d}"]),  # text longer than 8 runs on
        ("{day:%Y%m%d}{a:d}", []),  # fixed-width directives only
        ("{day:%Y-%m-%d}{a:d}", []),
        ("{day:%d}{a:d}", []),
        ("{at:%Y%m%dT%H%M%S.%f}{a:d}", []),
        ("{day:%j%%}{a:d}", []),
        ("{day:%B}{a:d}", ["{day:%B}{a:d}"]),  # month names vary in width
        ("{day:%s}{a:d}", ["{day:%s}{a:d}"]),  # epoch seconds vary in width
        ("{at:%Y%m%d%z}{a:d}", ["{at:%Y%m%d%z}{a:d}"]),  # an offset or none
        ("{day}{a:d}", []),  # ISO text
        ("{at}{s}", []),
        ("{u}{s}", []),  # fixed-size bytes
        ("{a:d}/{b:d}", []),
        ("{a:d}{{x}}{b:d}", []),  # an escaped brace is text between them
        ("{nope}{b:d}", []),  # no such column: refused by ``require``
    ],
)
def test_key_fields_that_run_together_are_warned_of(template: str, warned: list[str]) -> None:
    """hunt26c 5: a=1,b=23 and a=12,b=3 both spelled 123 under {a:d}{b:d}, and one row was lost.
    hunt26e 8: {a:02d}{b:02d} was not warned of, though a=10,b=101 and a=101,b=1 both spell
    10101; {day:%Y%m%d}{id} was, though its date has one width."""
    schema = pa.schema(
        [
            ("a", pa.int64()),
            ("b", pa.int64()),
            ("s", pa.string()),
            ("day", pa.date32()),
            ("at", pa.timestamp("us")),
            ("u", pa.binary(16)),
            ("small", pa.uint8()),
            ("tiny", pa.int8()),
            ("f", pa.float64()),
            ("c", pa.int64()),
        ]
    )
    warnings = KeyTemplate(template).run_together(schema)
    assert [w.split(" run together: ")[0].removeprefix("key fields ") for w in warnings] == warned


@pytest.mark.parametrize(
    ("template", "example"),
    [
        ("{a:d}{b:d}", " (a=1, b=23 and a=12, b=3 are both 123)"),
        ("k:{s}{b:d}/{day}", " (s='1', b=23 and s='12', b=3 are both k:123/1970-01-01)"),
        ("{f}{a:d}", " (f=1.5, a=23 and f=1.52, a=3 are both 1.523)"),
        ("{a:08d}{b:d}", ""),  # none of the small values meets: no example rather than a false one
        ("{a:d}{b}{c:d}", ""),
    ],
)
def test_the_run_together_warning_quotes_two_rows_the_template_really_gives_one_key(
    template: str, example: str
) -> None:
    """hunt28b D9: every warning said "1 and 23, 12 and 3: 123", true of {a:d}{b:d} only."""
    schema = pa.schema(
        [
            ("a", pa.int64()),
            ("b", pa.int64()),
            ("c", pa.int64()),
            ("s", pa.string()),
            ("f", pa.float64()),
            ("day", pa.date32()),
        ]
    )
    fields = KeyTemplate(template).run_together(schema)[0].split(" run together")[0].removeprefix("key fields ")
    first = fields[: fields.index("}") + 1]
    last = fields[fields.rindex("{") :]
    assert KeyTemplate(template).run_together(schema) == [
        f"key fields {fields} run together: {first} and {last} vary in width, so two rows can "
        f"spell one key{example} and the later overwrites the other; "
        f"put text between them, e.g. {first}/{fields[len(first) :]}"
    ]
