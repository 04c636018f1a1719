"""Type names of job files."""

from __future__ import annotations

import pytest

from loader.errors import ConfigError
from loader.types import parse_type


def test_json_is_no_type_and_the_hint_names_string() -> None:
    with pytest.raises(ConfigError) as info:
        parse_type("json", where="source.columns.payload")
    assert str(info.value) == "source.columns.payload: unknown type 'json'"
    assert info.value.hint == "declare it string: a JSON Lines object or array is kept as its JSON text"
