"""The fast check says "valid" exactly where jsonschema does, for the keywords it compiles."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from daemon.routing.schema_check import compile_check
from tests.routing.test_structured import SCHEMA, VALUE

SCHEMAS: list[dict[str, Any]] = [
    SCHEMA,
    {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
    {"type": ["string", "null"], "minLength": 2, "maxLength": 4, "pattern": "^a"},
    {"enum": [1, "1", True, None, [1], {"a": 1}]},
    {"const": False},
    {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
    {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]},
    {"allOf": [{"required": ["a"]}, {"properties": {"a": {"type": "string"}}}], "maxProperties": 2},
    {"not": {"type": "object"}},
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "integer"}},
            }
        },
        "$ref": "#/$defs/node",
    },
    {"type": "object", "additionalProperties": {"type": "boolean"}, "properties": {"x": True, "y": False}},
    {"title": "annotations only", "description": "x", "format": "email", "nullable": True},
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-20, 20)
    | st.floats(-20, 20, allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "x", "y", "next", "v", "name", "role"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_fast_check_agrees_with_jsonschema(schema: dict[str, Any], value: Any) -> None:
    check = compile_check(schema)
    assert check is not None
    assert check(value) == Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (VALUE, True),
        ({**VALUE, "role": "root"}, False),
        ({**VALUE, "extra": 1}, False),
        ({**VALUE, "tags": [{"label": "x", "weight": 1.0}]}, True),  # 1.0 is an integer
        ({**VALUE, "tags": [{"label": "x", "weight": True}]}, False),  # true is not
        ({**VALUE, "home": {"street": "s"}}, False),
        ({**VALUE, "name": ""}, False),
    ],
)
def test_fast_check_on_the_structured_schema(value: Any, valid: bool) -> None:
    check = compile_check(SCHEMA)
    assert check is not None and check(value) is valid
    assert Draft202012Validator(SCHEMA).is_valid(value) is valid


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"type": "array", "uniqueItems": True},
        {"if": {"type": "string"}, "then": {"minLength": 1}},
        {"$ref": "https://example.com/schema"},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
        {"type": "array", "items": [{"type": "string"}]},
    ],
)
def test_what_it_does_not_compile_goes_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_check(schema) is None
