"""filter and derive: expression stages over chunks."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from transforms_testutil import chunk_of, col

from loader.errors import ConfigError, LoaderError
from loader.transforms import Derive, Filter
from tests.reliability_util import write_job

PEOPLE = {
    "name": ["Åse", "Bo", "Cé", "Dan", None],
    "age": [34, 17, None, 18, 50],
    "country": ["NO", "SE", "NO", "DK", "SE"],
}


def test_filter_counts_false_and_null_as_filtered_not_rejected() -> None:
    c = chunk_of(PEOPLE)
    out = Filter(where="age >= 18 and country in ('NO', 'SE')")(c)
    assert col(out, "name") == ["Åse", None]
    assert out.rows.to_pylist() == [1, 5]
    assert out.rows_filtered == 3 and out.rejects == []
    assert out.rows_read == 5
    assert out.last_row == c.last_row


def test_filter_not_in_a_list_with_null_keeps_no_row() -> None:
    out = Filter(where="country not in ('DK', null)")(chunk_of(PEOPLE))  # SQL: never true
    assert out.num_rows == 0 and out.rows_filtered == 5
    out = Filter(where="country in ('DK', null)")(chunk_of(PEOPLE))  # a match is still true
    assert col(out, "name") == ["Dan"]


def test_filter_all_and_none_and_empty() -> None:
    c = chunk_of(PEOPLE)
    assert Filter(where="true")(c) is c  # every row kept: the chunk as it was, no copy
    assert Filter(where="age > 0 or age is null")(c) is c
    nothing = Filter(where="false")(c)
    assert nothing.num_rows == 0 and nothing.rows_filtered == 5
    assert nothing.batch.schema == c.batch.schema
    assert Filter(where="null")(c).num_rows == 0
    empty = chunk_of(pa.record_batch(PEOPLE).slice(0, 0))
    assert Filter(where="age > 1")(empty).num_rows == 0


def test_filter_needs_a_condition() -> None:
    with pytest.raises(ConfigError) as info:
        Filter(where="age + 1", name="transform[2] (filter)")(chunk_of(PEOPLE))
    assert str(info.value) == 'transform[2] (filter): where: the condition gives int64, not true/false, in "age + 1"'


def test_filter_parse_error_at_construction_and_unknown_column_at_first_chunk() -> None:
    with pytest.raises(ConfigError) as info:
        Filter(where="age >= 18)", name="transform[2] (filter)")
    assert str(info.value) == "transform[2] (filter): where: unexpected ')' at position 10 in \"age >= 18)\""
    stage = Filter(where="agee >= 18", name="transform[2] (filter)")  # columns are known only at run time
    with pytest.raises(ConfigError) as info:
        stage(chunk_of(PEOPLE))
    assert "unknown column 'agee' at position 1" in str(info.value)
    assert "available: name, age, country" in str(info.value)


def test_filter_rebinds_when_schema_changes() -> None:
    stage = Filter(where="age > 20")
    assert stage(chunk_of({"age": [10, 30]})).num_rows == 1
    assert stage(chunk_of({"age": [10.5, 30.5], "x": [1, 2]})).num_rows == 1
    with pytest.raises(ConfigError, match=r"unknown column 'age'"):
        stage(chunk_of({"other": [1]}))


def test_filter_runtime_error_names_the_file() -> None:
    c = chunk_of({"a": [2**62, 1]}, file="big.csv")
    with pytest.raises(LoaderError) as info:
        Filter(where="a * 4 > 0", name="f")(c)
    assert info.value.file == "big.csv" and "overflow" in str(info.value)


def test_derive_adds_and_replaces_in_order() -> None:
    c = chunk_of(
        {
            "price": [1.5, 2.0, None],
            "quantity": [2, 3, 4],
            "first": ["Åse", "Bo", None],
            "last": ["Li", None, "Z"],
            "created_at": pa.array([dt.datetime(2024, 5, 1, 23), None, dt.datetime(2020, 1, 1)], pa.timestamp("us")),
        }
    )
    stage = Derive(
        columns={
            "total": "price * quantity",
            "full_name": "concat(first, ' ', last)",
            "day": "date(created_at)",
            "price": "coalesce(price, 0)",
            "total_vat": "total * 1.25",  # sees the column derived above
            "source": "'csv'",
        }
    )
    out = stage(c)
    s = out.batch.schema
    assert s.names == [
        "price",
        "quantity",
        "first",
        "last",
        "created_at",
        "total",
        "full_name",
        "day",
        "total_vat",
        "source",
    ]
    assert col(out, "total") == [3.0, 6.0, None]
    assert col(out, "full_name") == ["Åse Li", "Bo ", " Z"]
    assert col(out, "day") == [dt.date(2024, 5, 1), None, dt.date(2020, 1, 1)]
    assert s.field("day").type == pa.date32()
    assert col(out, "price") == [1.5, 2.0, 0.0]
    assert col(out, "total_vat") == [3.75, 7.5, None]
    assert col(out, "source") == ["csv", "csv", "csv"]
    assert out.num_rows == 3 and out.rows_filtered == 0


def test_derive_empty_batch_keeps_types() -> None:
    c = chunk_of(pa.record_batch({"a": pa.array([], pa.int32())}))
    out = Derive(columns={"b": "a * 2", "c": "'x'"})(c)
    assert out.num_rows == 0
    assert out.batch.schema.field("b").type == pa.int64()  # int literals are int64
    assert out.batch.schema.field("c").type == pa.string()


def test_derive_error_names_the_column_key() -> None:
    with pytest.raises(ConfigError) as info:
        Derive(columns={"total": "price * "}, name="transform[3] (derive)")
    assert str(info.value) == (
        'transform[3] (derive): columns.total: unexpected end of expression at position 9 in "price * "'
    )
    with pytest.raises(ConfigError, match=r"columns.x: unknown column 'nope' at position 1 in \"nope\""):
        Derive(columns={"x": "nope"})(chunk_of({"a": [1]}))


def test_a_run_refuses_coalesce_of_a_zoned_and_a_naive_timestamp(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Row 1 was loaded as 2024-01-01T10:00:00 (zone dropped), row 2 as 09:00Z (UTC assumed)."""
    from loader.cli import main

    (tmp_path / "co.csv").write_text("id,local,utc\n1,,2024-01-01T12:00:00+02:00\n2,2024-01-01T09:00:00,\n")
    job = write_job(
        tmp_path / "co.toml",
        source={"path": str(tmp_path / "co.csv")},
        sink={"type": "sqlite", "path": str(tmp_path / "co.db"), "table": "t"},
        transform=[{"type": "derive", "columns": {"seen": "coalesce(local, utc)"}}],
    )
    assert main(["run", str(job), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        f"loader: error: transform[1] (derive): {tmp_path / 'co.csv'}: columns.seen: coalesce() cannot be applied to "
        'timestamp[us] and timestamp[us, UTC] at position 1 in "coalesce(local, utc)" (a time zone would '
        "be dropped or assumed; make the timestamp[us] values timestamps with a zone first, with the cast "
        "stage's timezone)\n"
    ) in err
