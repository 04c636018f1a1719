"""How a job's LevelDB keys are spelled, recorded so that no later run spells them otherwise."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

from loader.config import SinkConfig
from loader.errors import ConfigError
from loader.writers import KeyTemplate, leveldb_keys


def sink(mode: str = "upsert") -> SinkConfig:
    return SinkConfig(path="s.ldb", type="leveldb", key="k", mode=mode)


def recorded(template: str, **types: str) -> str:
    return leveldb_keys.record(KeyTemplate(template), types)


def check(template: str, entry: str, mode: str = "upsert", **types: pa.DataType) -> None:
    leveldb_keys.check(sink(mode), KeyTemplate(template), pa.schema(list(types.items())), entry)


def test_a_key_column_of_another_type_is_refused_with_both_types() -> None:
    with pytest.raises(ConfigError) as refused:
        check("user:{id}", recorded("user:{id}", id="int64"), id=pa.string())
    assert refused.value.exit_code == 78
    assert str(refused.value) == (
        "sink.key: column id is string in this run, but this job's keys in s.ldb were written with it as int64 "
        "(int64 keys are zero-padded to 20 digits; string keys are the text as read): mode upsert would write "
        "every row again under a second key"
    )
    assert refused.value.hint == (
        "declare the old type (--columns id=int64) to keep the store's keys, "
        "or rerun with --mode replace to write the job's keys anew"
    )


@pytest.mark.parametrize("mode", ["ignore", "append"])
def test_every_mode_that_keeps_the_keys_refuses(mode: str) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"date keys are ISO dates; timestamp[us] keys are ISO text with 6 fraction digits): mode {mode}"
        ),
    ):
        check("{day}/{id}", recorded("{day}/{id}", day="date", id="int64"), mode, day=pa.timestamp("us"), id=pa.int64())


def test_replace_writes_the_keys_anew_and_records_its_own() -> None:
    entry = recorded("user:{id}", id="int64")
    check("user:{id}", entry, "replace", id=pa.string())
    schema = pa.schema([("id", pa.string())])
    assert json.loads(leveldb_keys.updated(sink("replace"), KeyTemplate("user:{id}"), schema, entry)) == {
        "template": "user:{id}",
        "types": {"id": "string"},
        "columns": ["id"],
    }
    # the other modes keep the record, and add a column it lacks (typed null before)
    two = KeyTemplate("{a}/{id}")
    schema = pa.schema([("a", pa.string()), ("id", pa.int64())])
    assert json.loads(leveldb_keys.updated(sink(), two, schema, recorded("{a}/{id}", a="string"))) == {
        "template": "{a}/{id}",
        "types": {"a": "string", "id": "int64"},
        "columns": ["a", "id"],
    }


def test_the_record_keeps_the_columns_the_rows_were_first_written_with_in_order() -> None:
    """Its columns name a later header as the job's rows were named (``readers.base.Naming``):
    the modes that keep the keys add a new column after them; replace records its own."""
    key = KeyTemplate("{id}")
    first = leveldb_keys.updated(sink(), key, pa.schema([("id", pa.int64()), ("column_2", pa.string())]), None)
    assert leveldb_keys.columns(first) == ["id", "column_2"]
    later = pa.schema([("id", pa.int64()), ("column_2_2", pa.string()), ("column_2", pa.string())])
    assert leveldb_keys.columns(leveldb_keys.updated(sink(), key, later, first)) == ["id", "column_2", "column_2_2"]
    assert leveldb_keys.columns(leveldb_keys.updated(sink("replace"), key, later, first)) == later.names
    assert leveldb_keys.columns(recorded("{id}", id="int64")) == []  # an entry without them
    assert leveldb_keys.columns(None) == leveldb_keys.columns("not json") == []


def test_types_that_spell_a_key_alike_pass() -> None:
    check("{id}", recorded("{id}", id="int64"), id=pa.int32())  # any integer: 20 padded digits
    check("{id}", recorded("{id}", id="int64"), id=pa.dictionary(pa.int8(), pa.int64()))
    check("{p}", recorded("{p}", p="decimal(5, 2)"), p=pa.decimal128(9, 2))  # the same places
    check("{d:%Y%m%d}", recorded("{d:%Y%m%d}", d="date"), d=pa.timestamp("ms"))  # strftime's text either way
    check("{id}", recorded("{id}", id="int64"), id=pa.null())  # no value: no key
    check("{id}", None)  # nothing recorded
    with pytest.raises(ConfigError, match=re.escape("decimal(5, 3) keys have 3 decimal places")):
        check("{p}", recorded("{p}", p="decimal(5, 2)"), p=pa.decimal128(5, 3))
    with pytest.raises(ConfigError, match="float64 keys are the number's text"):
        check("{id}", recorded("{id}", id="int64"), id=pa.float32())


@pytest.mark.parametrize(
    ("was", "now", "template"),
    [
        ("timestamp[us, UTC]", pa.timestamp("us", "Europe/Paris"), "{t}"),  # ISO text in UTC either way
        ("timestamp[ns, +00:00]", pa.timestamp("ns", "Etc/UTC"), "{t}"),
        ("date", pa.date64(), "{t}"),  # ISO dates
        ("date64[ms]", pa.date32(), "{t:%Y%m%d}"),
        ("time32[s]", pa.time64("ns"), "{t:%H%M%S%f}"),  # strftime's text of the time
        ("string", pa.binary(), "{t}"),  # the value's bytes
        ("large_binary", pa.binary(3), "{t}"),
        ("binary", pa.large_string(), "x{t}"),
    ],
)
def test_types_whose_keys_are_spelled_alike_pass(was: str, now: pa.DataType, template: str) -> None:
    check(template, recorded(template, t=was), t=now)


@pytest.mark.parametrize(
    ("was", "now", "template", "words"),
    [
        (
            "timestamp[us, UTC]",
            pa.timestamp("us"),
            "{t}",
            "timestamp[us, UTC] keys are ISO text in UTC (ending in Z) with 6 fraction digits; "
            "timestamp[us] keys are ISO text with 6 fraction digits",
        ),
        (
            "timestamp[us, UTC]",
            pa.timestamp("ms", "Europe/Paris"),
            "{t}",
            "timestamp[us, UTC] keys are ISO text in UTC (ending in Z) with 6 fraction digits; timestamp[ms, "
            "Europe/Paris] keys are ISO text in UTC (ending in Z) with 3 fraction digits",
        ),
        ("time32[s]", pa.time32("ms"), "{t}", "time32[s] keys are time32[s] values as text"),
        ("string", pa.binary(), "{t:>4}", "string keys are formatted by '>4'; binary keys are formatted by '>4'"),
        ("date", pa.timestamp("s"), "{t}", "date keys are ISO dates; timestamp[s] keys are ISO text with 0 fraction"),
        (  # a UUID's 16 bytes, then its text: two keys for one value (text beside bytes was let through)
            "fixed_size_binary[16]",
            pa.string(),
            "{t}",
            "fixed_size_binary[16] keys are the value's bytes as they are, a UUID's 16 bytes and not its text; "
            "string keys are the text as read",
        ),
        ("large_string", pa.binary(16), "x{t}", "large_string keys are large_string values as text; fixed_size_binary"),
    ],
)
def test_types_whose_keys_can_be_spelled_otherwise_are_refused(
    was: str, now: pa.DataType, template: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)):
        check(template, recorded(template, t=was), t=now)


def test_a_named_job_whose_key_template_changed_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("'u:{id}' is not the key 'user:{id}' this job's keys in s.ldb were written with")
    ):
        check("u:{id}", recorded("user:{id}", id="int64"), id=pa.int64())
