"""The JSON schema of ``text.format`` (providers/text_format.py), flat or nested, as every adapter reads it."""

from __future__ import annotations

import msgspec
import pytest

from ferryman.providers.text_format import json_schema, structured
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import TextConfig, TextFormat

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def fmt(**fields: object) -> TextFormat:
    return msgspec.convert({"type": "json_schema", **fields}, TextFormat)


def test_the_flat_shape() -> None:
    spec = json_schema(fmt(name="City", schema=SCHEMA, description="a city", strict=False))
    assert (spec.schema, spec.name, spec.description, spec.strict) == (SCHEMA, "City", "a city", False)


def test_the_nested_shape_and_flat_fields_win() -> None:
    nested = {"name": "Inner", "schema": {"type": "string"}, "description": "inner", "strict": True}
    spec = json_schema(fmt(json_schema=nested))
    assert (spec.schema, spec.name, spec.description, spec.strict) == ({"type": "string"}, "Inner", "inner", True)
    spec = json_schema(fmt(name="Outer", schema=SCHEMA, strict=False, json_schema=nested))
    assert (spec.schema, spec.name, spec.description, spec.strict) == (SCHEMA, "Outer", "inner", False)


def test_no_schema_is_a_400() -> None:
    with pytest.raises(InvalidRequestError) as info:
        json_schema(fmt(name="City", json_schema={"name": "City"}))
    assert info.value.param == "text.format.schema" and info.value.code == "missing_required_parameter"


def test_plain_text_asks_for_nothing() -> None:
    assert structured(None) is None
    assert structured(TextConfig()) is None
    assert structured(TextConfig(format=TextFormat(type="text"))) is None
    assert structured(TextConfig(format=fmt(schema=SCHEMA))) == fmt(schema=SCHEMA)
