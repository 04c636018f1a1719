"""select, drop, rename, reorder, fill_null, trim/lower/upper, replace, split."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from transforms_testutil import chunk_of, col

from loader.errors import ConfigError
from loader.transforms import (
    Default,
    Drop,
    FillNull,
    Lower,
    Rename,
    Reorder,
    Replace,
    Select,
    Split,
    Stage,
    Trim,
    Upper,
)

DATA = {"id": [1, 2, 3], "name": ["Åse", None, "bob"], "age": [30, None, 7]}


def test_select_keeps_order_and_bookkeeping() -> None:
    c = chunk_of(DATA)
    out = Select(columns=["age", "id"])(c)
    assert out.batch.schema.names == ["age", "id"]
    assert col(out, "age") == [30, None, 7]
    assert out.rows.to_pylist() == [1, 2, 3] and out.rows_filtered == 0


def test_select_missing_column_names_it_and_the_available() -> None:
    with pytest.raises(ConfigError) as info:
        Select(columns=["id", "agee"], name="transform[1] (select)")(chunk_of(DATA))
    assert str(info.value) == "transform[1] (select): columns: no column 'agee' in the data"
    assert (info.value.stage, info.value.hint) == ("transform[1] (select)", "did you mean 'age'?")
    with pytest.raises(ConfigError) as info:
        Select(columns=["zzz"], name="transform[1] (select)")(chunk_of(DATA))
    assert info.value.hint == "columns are: id, name, age"


def test_drop_and_empty_batch() -> None:
    c = chunk_of(pa.record_batch(DATA).slice(0, 0))
    out = Drop(columns=["name"])(c)
    assert out.batch.schema.names == ["id", "age"] and out.num_rows == 0
    with pytest.raises(ConfigError, match=r"no column 'nope' in the data"):
        Drop(columns=["nope"])(c)


def test_rename_and_swap() -> None:
    out = Rename(columns={"name": "navn", "age": "alder"})(chunk_of(DATA))
    assert out.batch.schema.names == ["id", "navn", "alder"]
    assert col(out, "navn") == ["Åse", None, "bob"]
    swapped = Rename(columns={"id": "age", "age": "id"})(chunk_of(DATA))
    assert swapped.batch.schema.names == ["age", "name", "id"]
    assert col(swapped, "age") == [1, 2, 3]


def test_rename_collision_and_missing() -> None:
    with pytest.raises(ConfigError, match=r"renaming gives two columns named 'id'"):
        Rename(columns={"name": "id"})(chunk_of(DATA))
    with pytest.raises(ConfigError, match=r"columns: two columns would be named 'x'"):
        Rename(columns={"name": "x", "age": "x"})
    with pytest.raises(ConfigError, match=r"no column 'nam' in the data"):
        Rename(columns={"nam": "x"})(chunk_of(DATA))


def test_reorder_puts_listed_first() -> None:
    out = Reorder(columns=["age"])(chunk_of(DATA))
    assert out.batch.schema.names == ["age", "id", "name"]
    assert col(out, "age") == [30, None, 7]


def test_fill_null_casts_value_to_column_type() -> None:
    data = {
        "country": ["SE", None],
        "age": pa.array([None, 5], pa.int32()),
        "price": [None, 1.5],
        "day": pa.array([None, dt.date(2024, 1, 2)], pa.date32()),
        "empty": pa.nulls(2),
    }
    stage = FillNull(columns={"country": "NO", "age": 0, "price": 0, "day": "2024-01-01", "empty": "x"})
    out = stage(chunk_of(data))
    assert col(out, "country") == ["SE", "NO"]
    assert col(out, "age") == [0, 5] and out.batch.schema.field("age").type == pa.int32()
    assert col(out, "price") == [0.0, 1.5] and out.batch.schema.field("price").type == pa.float64()
    assert col(out, "day") == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    assert col(out, "empty") == ["x", "x"]
    assert Default is FillNull


def test_fill_null_of_a_column_without_a_value_reads_date_text_as_a_date() -> None:
    """hunt23a #5: ``dt = "2024-01-01"`` on a column no value, record or declaration types
    (an empty day's file) made it text, so ``year(dt)`` after it failed on such days only.
    Text that is a date or a timestamp is that, as CSV inference reads it; other text stays text."""
    values = {
        "day": "2024-01-01",
        "at": "2024-01-01T10:00:00",
        "utc": "2024-01-01 10:00:00Z",
        "code": "12",
        "name": "x",
        "n": 0,
        "on": dt.date(2024, 1, 2),
    }
    out = FillNull(columns=values)(chunk_of({c: pa.nulls(2) for c in values}))
    assert {f.name: f.type for f in out.batch.schema} == {
        "day": pa.date32(),
        "at": pa.timestamp("us"),
        "utc": pa.timestamp("us", "UTC"),
        "code": pa.string(),  # quoted: text, as TOML has numbers of its own
        "name": pa.string(),
        "n": pa.int64(),
        "on": pa.date32(),
    }
    assert col(out, "day") == [dt.date(2024, 1, 1)] * 2
    assert col(out, "at") == [dt.datetime(2024, 1, 1, 10)] * 2


def test_fill_null_of_an_empty_days_date_column_loads_as_a_load_of_every_day_does(tmp_path: Path) -> None:
    """Daily runs (the day without a date first) and one run over both files give the same
    rows, and a stage after the fill that needs a date works on both."""
    import pyarrow.parquet as pq

    from loader import JobConfig, Pipeline, SinkConfig, SourceConfig
    from tests.conftest import sqlite_rows

    pq.write_table(pa.table({"id": [1, 2], "dt": pa.array([None, None], pa.date32())}), tmp_path / "day1.parquet")
    pq.write_table(pa.table({"id": [3], "dt": pa.array([dt.date(2024, 3, 1)])}), tmp_path / "day2.parquet")
    stages = [
        {"type": "fill_null", "columns": {"dt": "2024-01-01"}},
        {"type": "derive", "columns": {"y": "year(dt)"}},
    ]

    def run(paths: list[str], db: Path) -> None:
        src = SourceConfig(path=[str(tmp_path / p) for p in paths])
        Pipeline(JobConfig(source=src, sink=SinkConfig(path=str(db), table="t"), transform=stages)).run()

    run(["day1.parquet"], tmp_path / "daily.db")
    run(["day2.parquet"], tmp_path / "daily.db")
    run(["day1.parquet", "day2.parquet"], tmp_path / "once.db")
    run(["day2.parquet"], tmp_path / "recorded.db")  # the date type recorded, then the empty day
    run(["day1.parquet"], tmp_path / "recorded.db")
    rows = [(1, "2024-01-01", 2024), (2, "2024-01-01", 2024), (3, "2024-03-01", 2024)]
    for db in ("daily.db", "once.db", "recorded.db"):
        assert sqlite_rows(tmp_path / db, "SELECT id, dt, y FROM t ORDER BY id") == rows


def test_fill_null_bad_value_for_type() -> None:
    with pytest.raises(ConfigError) as info:
        FillNull(columns={"age": "old"}, name="transform[3] (default)")(chunk_of(DATA))
    assert "columns.age: cannot use 'old' as a int64 value" in str(info.value)
    with pytest.raises(ConfigError, match=r"columns.age: expected a single value"):
        FillNull(columns={"age": [1]})


def test_trim_lower_upper_unicode_and_nulls() -> None:
    c = chunk_of({"s": ["  Ærø  ", None, "\tÖlü\n", ""], "n": [1, 2, 3, 4]})
    assert col(Trim(columns=["s"])(c), "s") == ["Ærø", None, "Ölü", ""]
    assert col(Trim(columns=["s"], characters=" Æ")(c), "s") == ["rø", None, "\tÖlü\n", ""]
    assert col(Lower(columns=["s"])(c), "s") == ["  ærø  ", None, "\tölü\n", ""]
    assert col(Upper(columns=["s"])(c), "s") == ["  ÆRØ  ", None, "\tÖLÜ\n", ""]
    with pytest.raises(ConfigError, match=r"lower needs a text column, but 'n' is int64"):
        Lower(columns=["n"])(c)


def test_replace_literal_and_regex() -> None:
    c = chunk_of({"p": ["+47 123 45", None, "a.b.c"]})
    assert col(Replace(column="p", pattern=" ", replacement="")(c), "p") == ["+4712345", None, "a.b.c"]
    # Literal mode: "." is a dot, not "any character".
    assert col(Replace(column="p", pattern=".", replacement="-")(c), "p") == ["+47 123 45", None, "a-b-c"]
    assert col(Replace(column="p", pattern=r"[^0-9]", replacement="", regex=True)(c), "p") == ["4712345", None, ""]
    assert col(Replace(column="p", pattern=r"(\w)\.", replacement=r"\1!", regex=True)(c), "p") == [
        "+47 123 45",
        None,
        "a!b!c",
    ]
    with pytest.raises(ConfigError, match=r"pattern: invalid regular expression '\('"):
        Replace(column="p", pattern="(", replacement="", regex=True)
    with pytest.raises(ConfigError, match=r"column: no column 'q' in the data"):
        Replace(column="q", pattern="a", replacement="b")(c)


def test_replace_on_a_non_text_column_names_its_key_column() -> None:
    # the stage has one ``column``; an error naming ``columns`` points at a key the job has not
    with pytest.raises(ConfigError) as info:
        Replace(column="n", pattern="0", replacement="1", name="transform[2] (replace)")(chunk_of({"n": [10]}))
    assert (
        str(info.value) == "transform[2] (replace): column 'n': column: replace needs a text column, but 'n' is int64"
    )


def test_split_into_columns() -> None:
    c = chunk_of({"id": [1, 2, 3, 4, 5], "name": ["Ada Lovelace", "Plato", None, "Jean Paul Sartre", ""]})
    out = Split(column="name", into=["first", "last"], separator=" ")(c)
    assert out.batch.schema.names == ["id", "name", "first", "last"]
    assert col(out, "first") == ["Ada", "Plato", None, "Jean", ""]
    assert col(out, "last") == ["Lovelace", None, None, "Paul Sartre", None]  # the last part keeps the rest
    dropped = Split(column="name", into=["first", "last"], separator=" ", keep=False)(c)
    assert dropped.batch.schema.names == ["id", "first", "last"]
    regex = Split(column="name", into=["a", "b", "c"], separator=r"\s+", regex=True)(
        chunk_of({"name": ["x  y\tz", "ø"]})
    )
    assert col(regex, "a") == ["x", "ø"] and col(regex, "b") == ["y", None] and col(regex, "c") == ["z", None]


def test_split_errors() -> None:
    with pytest.raises(ConfigError, match=r"into: column 'id' already exists"):
        Split(column="name", into=["id", "x"])(chunk_of(DATA))
    with pytest.raises(ConfigError, match=r"split needs a text column, but 'age' is int64"):
        Split(column="age", into=["a", "b"])(chunk_of(DATA))
    with pytest.raises(ConfigError, match=r"set keep = false to replace it"):
        Split(column="name", into=["name", "x"])
    out = Split(column="name", into=["name", "rest"], separator="s", keep=False)(chunk_of(DATA))
    assert out.batch.schema.names == ["id", "name", "rest", "age"]


def test_split_empty_batch() -> None:
    c = chunk_of(pa.record_batch({"s": pa.array([], pa.string())}))
    out = Split(column="s", into=["a", "b"])(c)
    assert out.batch.schema.names == ["s", "a", "b"] and out.num_rows == 0


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: Select(columns="id"), "columns: expected a list of column names, got 'id'"),
        (lambda: Select(columns=[]), "columns: the list is empty"),
        (lambda: Drop(columns=["a", "a"]), "columns: column 'a' is listed twice"),
        (lambda: Rename(columns=["a"]), "columns: expected a table like { column = value }"),
        (lambda: Rename(columns={"a": 1}), "columns.a: expected text, got 1"),
        (lambda: Replace(column="a", pattern="x", replacement="y", regex="yes"), "regex: expected true or false"),
        (lambda: Split(column="a", into=["b"], separator=""), "separator: expected non-empty text"),
    ],
)
def test_option_checks(make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        make()
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)), 0.125),  # would round to 0.12
        (pa.array([1, None], pa.int64()), True),  # a bool is no number
        (pa.array([1.5, None], pa.float32()), 16777217),  # float32 holds 16777216
    ],
)
def test_fill_null_refuses_a_value_the_column_would_change(column: pa.Array, value: object) -> None:
    with pytest.raises(ConfigError, match=r"columns.x: cannot use"):
        FillNull(columns={"x": value})(chunk_of({"x": column}))


def test_fill_null_converts_a_value_that_fits() -> None:
    out = FillNull(columns={"x": 0.5, "n": 0, "s": True})(
        chunk_of({"x": pa.array([None], pa.decimal128(10, 2)), "n": pa.array([None], pa.float64()), "s": [None]})
    )
    assert out.batch.to_pylist() == [{"x": Decimal("0.50"), "n": 0.0, "s": True}]


def _category(values: list[str | None]) -> pa.Array:
    return pa.array(values).dictionary_encode()


@pytest.mark.parametrize(
    "stage, expected",
    [
        (Trim(columns=["s"]), ["Adelie", "Gentoo", None]),
        (Lower(columns=["s"]), [" adelie ", "gentoo", None]),
        (Upper(columns=["s"]), [" ADELIE ", "GENTOO", None]),
        (Replace(column="s", pattern="e", replacement="E"), [" AdEliE ", "GEntoo", None]),
    ],
)
def test_text_stages_take_a_dictionary_column(stage: object, expected: list[str | None]) -> None:
    out = stage(chunk_of({"s": _category([" Adelie ", "Gentoo", None])}))  # type: ignore[operator]
    assert col(out, "s") == expected
    assert out.batch.schema.field("s").type == pa.string()


def test_split_takes_a_dictionary_column() -> None:
    out = Split(column="s", into=["a", "b"], separator=" ")(chunk_of({"s": _category(["x y", None, "z"])}))
    assert (col(out, "a"), col(out, "b")) == (["x", None, "z"], ["y", None, None])


def test_split_takes_a_null_typed_column_as_text() -> None:
    """A column without a value in a whole file is typed null: split called it no text column."""
    out = Split(column="mid", into=["a", "b"])(chunk_of({"id": [1, 2], "mid": pa.nulls(2)}))
    assert out.batch.schema.names == ["id", "mid", "a", "b"]
    assert [out.batch.schema.field(c).type for c in ("a", "b")] == [pa.string(), pa.string()]
    assert col(out, "a") == col(out, "b") == [None, None]


def test_rename_to_an_empty_name_says_so() -> None:
    """It said "two columns would be named ''" of one column."""
    with pytest.raises(ConfigError) as info:
        Rename(columns={"name": ""}, name="transform[1] (rename)")
    assert str(info.value) == "transform[1] (rename): columns.name: an empty name is not allowed"


@pytest.mark.parametrize(
    "stage",
    [
        Select(columns=["nope"]),
        Rename(columns={"id": "age"}),
        FillNull(columns={"age": "abc"}),
        Trim(columns=["id"]),
        Split(column="name", into=["a", "age"]),
    ],
    ids=lambda s: s.kind,
)
def test_a_schema_whose_check_failed_is_checked_again(stage: Stage) -> None:
    """The schema is remembered as checked only once its check passed: the next batch of it
    (or the next run's) fails the same way, not staged as if it had passed."""
    errors = []
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            stage(chunk_of(DATA))
        errors.append(str(info.value))
    assert errors[0] == errors[1]
