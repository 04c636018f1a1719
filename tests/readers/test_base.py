"""What the readers share: view-layout and extension-type columns in their plain types."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from loader.config import SourceConfig
from loader.errors import ConfigError
from loader.readers.base import declared_types, dedupe_names, plain_array, plain_columns, spelled


def views() -> pa.Array:
    """Lists by offset and size, out of order and overlapping, one null with a size."""
    values = pa.array(["a", "b", "c", "d"], pa.string_view())
    offsets, sizes = pa.array([2, 0, 1, 0, 3], pa.int32()), pa.array([2, 1, 3, 2, 0], pa.int32())
    return pa.ListViewArray.from_arrays(offsets, sizes, values, mask=pa.array([False, False, False, True, False]))


def test_a_list_view_becomes_a_list_of_the_same_values() -> None:
    arr = views().slice(1)
    out = plain_array(arr)
    out.validate(full=True)
    assert out.type == pa.list_(pa.large_string())
    assert out.to_pylist() == arr.to_pylist() == [["a"], ["b", "c", "d"], None, []]


def test_a_struct_and_a_large_list_keep_their_rows_and_nulls() -> None:
    inner = views()
    rec = pa.StructArray.from_arrays([inner, pa.array(["p", None, "q", "r", "s"], pa.string_view())], ["v", "s"])
    rec = pa.StructArray.from_arrays(
        rec.flatten(), fields=list(rec.type), mask=pa.array([True, False, False, False, False])
    )
    large = pa.array([["x"], None, [], ["y", "z"], ["w"]], pa.large_list_view(pa.binary_view()))
    batch = pa.RecordBatch.from_arrays([rec, large], ["rec", "large"]).slice(1)
    out = plain_columns(batch)
    out.validate(full=True)
    assert out.schema == pa.schema(
        [
            ("rec", pa.struct([("v", pa.list_(pa.large_string())), ("s", pa.large_string())])),
            ("large", pa.large_list(pa.large_binary())),
        ]
    )
    assert out.to_pylist() == batch.to_pylist()


def test_a_dictionary_of_string_view_keeps_its_indices() -> None:
    cat = pa.DictionaryArray.from_arrays(pa.array([1, None, 0], pa.uint32()), pa.array(["x", "y"], pa.string_view()))
    out = plain_array(cat)
    assert out.type == pa.dictionary(pa.uint32(), pa.large_string())
    assert out.indices.to_pylist() == [1, None, 0] and out.to_pylist() == ["y", None, "x"]


def test_a_batch_without_view_types_is_returned_as_it_is() -> None:
    batch = pa.record_batch({"s": ["a"], "l": [["b"]], "d": pa.array(["c"]).dictionary_encode()})
    assert plain_columns(batch) is batch


def uuids() -> pa.Array:
    storage = pa.array([b"\x01" * 16, None, b"\x02" * 16, b"\xff" * 16], pa.binary(16))
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def test_a_uuid_is_its_16_bytes_and_a_bool8_a_bool() -> None:
    bool8 = pa.ExtensionArray.from_storage(pa.bool8(), pa.array([0, 1, None, -3], pa.int8()))
    out = plain_columns(pa.RecordBatch.from_arrays([uuids(), bool8], ["u", "b"]))
    assert out.schema == pa.schema([("u", pa.binary(16)), ("b", pa.bool_())])
    assert out.column("u").to_pylist() == [b"\x01" * 16, None, b"\x02" * 16, b"\xff" * 16]
    assert out.column("b").to_pylist() == [False, True, None, True]  # any value but zero is true


def test_uuids_inside_lists_structs_and_maps_are_their_bytes() -> None:
    u = uuids()
    offsets, mask = pa.array([0, 1, 1, 4], pa.int32()), pa.array([False, True, False])
    nested = {
        "l": pa.ListArray.from_arrays(offsets, u, mask=mask),
        "f": pa.FixedSizeListArray.from_arrays(u, 2, mask=pa.array([False, True])),
        "s": pa.StructArray.from_arrays([u], ["x"], mask=pa.array([False, False, True, False])),
        "m": pa.MapArray.from_arrays(offsets, pa.array(["a", "b", "c", "d"]), u, mask=mask),
    }
    for arr in nested.values():
        for part in (arr, arr.slice(1)):
            out = plain_array(part)
            out.validate(full=True)
            assert "extension" not in str(out.type)
            assert _bytes(out.to_pylist()) == _bytes(part.to_pylist())


def _bytes(value: object) -> object:
    """``value`` with each UUID as its 16 bytes, as the plain array holds it."""
    if isinstance(value, list):
        return [_bytes(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_bytes(v) for v in value)
    if isinstance(value, dict):
        return {k: _bytes(v) for k, v in value.items()}
    return value.bytes if isinstance(value, uuid.UUID) else value


KELVIN = "\u212a"  # the Kelvin sign: Python's lower() makes it an ASCII k, SQLite keeps it apart


def test_a_repeated_name_is_one_sqlite_repeats_folding_ascii_letters_only() -> None:
    """``ñandú`` beside ``ÑANDÚ`` and ``k`` beside the Kelvin sign are two columns to SQLite:
    Python's ``lower`` had renamed the second of each ``_2``."""
    names = ["ñandú", "ÑANDÚ", "k", KELVIN, "Code", "CODE"]
    assert dedupe_names(names) == ["ñandú", "ÑANDÚ", "k", KELVIN, "Code", "CODE_2"]


def test_a_file_takes_the_settled_spelling_of_a_name_in_another_ascii_case_only() -> None:
    assert spelled(["ñandú", "CODE", "k"], ["ÑANDÚ", "code", KELVIN]) == ["ñandú", "code", "k"]


def test_a_declared_type_names_its_column_in_another_ascii_case_only() -> None:
    config = SourceConfig(path=["a.csv"], columns={"CODE": "string"})
    assert declared_types(config, ["code", "ÑANDÚ"], "a.csv") == {"code": pa.string()}
    config = SourceConfig(path=["a.csv"], columns={"ñandú": "string"})
    with pytest.raises(ConfigError) as info:
        declared_types(config, ["code", "ÑANDÚ"], "a.csv")
    assert (info.value.message, info.value.hint) == (
        "source.columns: no column 'ñandú' in a.csv",
        "columns are: code, ÑANDÚ",
    )
