"""Which keys a LevelDB replace may delete (``leveldb_wipe``)."""

from __future__ import annotations

import pytest

from loader.writers import KeyTemplate
from loader.writers.leveldb_wipe import JobKeys, foreign, shape


@pytest.mark.parametrize(
    ("template", "types", "spelled", "not_spelled"),
    [
        ("{id}", {"id": "int64"}, [b"00000000000000000042", b"-9223372036854775807"], [b"42", b"meta:version"]),
        ("{id}", {"id": "uint64"}, [b"18446744073709551615"], [b"0000000000000000000042"]),
        ("{wait}", {"wait": "duration[s]"}, [b"00000000000000000090"], [b"90"]),
        ("{id:d}", {"id": "int64"}, [b"42", b"anything"], []),  # under a spec: any text
        ("{d}/{id}", {"d": "date", "id": "string"}, [b"2024-01-31/x", b"-0001-01-01/"], [b"x/2024-01-31"]),
        ("{t}", {"t": "timestamp[us]"}, [b"2024-01-31T08:00:00.000000", b"10000-01-01T00:00:00"], [b"2024-01-31"]),
        ("{t}", {"t": "timestamp[us, UTC]"}, [b"2024-01-31T08:00:00.000000Z"], [b"2024-01-31T08:00:00.000000"]),
        ("{t}", {"t": "time64[us]"}, [b"08:00:00.000000"], [b"8:00"]),
        ("{a}", {"a": "decimal(10, 2)"}, [b"-1.50", b"7"], [b"1e5"]),
        ("{s}", {"s": "string"}, [b"", b"meta:version", b"a\nb"], []),
        ("{s}", {}, [b"any"], []),  # a type the run does not know: any text
        ("{{x}}{id}", {"id": "int64"}, [], []),  # a prefix: not a shape's job
    ],
)
def test_shape_is_the_text_each_field_spells(
    template: str, types: dict[str, str], spelled: list[bytes], not_spelled: list[bytes]
) -> None:
    pattern = shape(KeyTemplate(template), types)
    assert [k for k in spelled if not pattern.fullmatch(k)] == []
    assert [k for k in not_spelled if pattern.fullmatch(k)] == []


def test_job_keys_are_under_its_prefixes_or_of_its_shapes_and_none_without_a_checkpoint() -> None:
    keys = [b"u:1", b"v:00000000000000000001", b"00000000000000000001", b"meta"]
    prefixed = JobKeys([(KeyTemplate("u:{id}"), {"id": "string"})], recorded=True)
    assert (prefixed.whole_store, prefixed.ranges()) == (False, ["u:"])
    assert [k for k in keys if prefixed.accounts_for(k)] == [b"u:1"]
    bare = JobKeys.of(
        KeyTemplate("{id}"),
        {"id": "string"},
        '{"template": "v:{id}", "types": {"id": "int64"}}',  # the record: keys the job wrote before
        recorded=True,
    )
    assert (bare.whole_store, bare.ranges(), bare.templates) == (True, [None], ["{id}", "v:{id}"])
    assert foreign(keys, bare) == (0, [])  # a string spells any key
    nested = JobKeys([(KeyTemplate("u:{id}"), {}), (KeyTemplate("u:x{id}"), {})], recorded=True)
    assert nested.ranges() == ["u:"]  # keys under u:x are under u: already
    stranger = JobKeys([(KeyTemplate("{id}"), {"id": "int64"})], recorded=False)
    assert foreign([b"00000000000000000001", *keys], stranger) == (
        5,
        [b"00000000000000000001", b"u:1", b"v:00000000000000000001"],
    )
