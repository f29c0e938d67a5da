"""JSON Schema -> Gemini's schema dialects (OpenAPI subset, parametersJsonSchema)."""

from __future__ import annotations

from daemon import ir
from daemon.formats.gemini_schema import Renames, from_openapi, property_renames, rename_args, to_openapi


def test_json_schema_to_openapi_subset() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["x", "ghost"],
            }
        },
        "properties": {
            "at": {"$ref": "#/$defs/Point", "description": "where"},
            "maybe": {
                "anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}],
                "description": "optional",
            },
            "either": {"type": ["integer", "null"], "format": "int32"},
            "many": {"type": ["string", "integer"]},
            "mode": {"const": "fast"},
            "level": {"enum": [1, 2, None]},
            "choice": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}]
            },
            "merged": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}},
                ]
            },
            "empty": {"type": "object", "properties": {}, "additionalProperties": True},
            "self": {"$ref": "#"},
            "noted": {"type": "string", "examples": ["e1", "e2"], "pattern": "^a", "not": {"const": "b"}},
        },
        "required": ["at"],
        "additionalProperties": False,
    }
    out = to_openapi(schema)
    assert out == {
        "type": "OBJECT",
        "properties": {
            "at": {
                "type": "OBJECT",
                "description": "where",
                "properties": {"x": {"type": "NUMBER"}},
                "required": ["x"],
            },
            "maybe": {"type": "STRING", "description": "optional", "nullable": True},
            "either": {"type": "INTEGER", "format": "int32", "nullable": True},
            "many": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
            "mode": {"type": "STRING", "enum": ["fast"]},
            "level": {"type": "STRING", "enum": ["1", "2"], "nullable": True},
            "choice": {
                "anyOf": [{"type": "STRING"}, {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": 1}]
            },
            "merged": {
                "type": "OBJECT",
                "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
                "required": ["a"],
            },
            "empty": {"type": "OBJECT"},
            "self": {"type": "OBJECT"},
            "noted": {"type": "STRING", "pattern": "^a", "example": "e1"},
        },
        "required": ["at"],
    }


def test_openapi_subset_to_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True, "example": "Ann"},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": "1"},
            "any": {"any_of": [{"type": "INTEGER"}, {"type": "BOOLEAN"}], "nullable": True},
        },
        "propertyOrdering": ["name", "kind"],
        "required": ["name"],
    }
    assert from_openapi(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "examples": ["Ann"]},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "any": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "null"}]},
        },
        "required": ["name"],
    }


def test_property_renames_are_collision_safe_and_reversible() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a-b": {"type": "string"},
            "a_b": {"type": "string"},
            "a.b": {"type": "string"},
            "9lives": {"type": "integer"},
            "x" * 70: {"type": "string"},
            "list": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "alt": {
                "anyOf": [{"type": "object", "properties": {"k-1": {"type": "string"}}}, {"type": "null"}]
            },
        },
        "$defs": {"Item": {"type": "object", "properties": {"item-id": {"type": "string"}}}},
    }
    renames = property_renames(schema)
    assert renames == {
        "a-b": "a_b_2",
        "a.b": "a_b_3",
        "9lives": "_9lives",
        "x" * 70: "x" * 64,
        "k-1": "k_1",
        "item-id": "item_id",
    }
    args = {"a-b": 1, "a_b": 2, "a.b": 3, "list": [{"item-id": "i"}], "alt": {"k-1": "v"}, "extra-key": 0}
    wire = rename_args(args, schema, renames)
    assert wire == {
        "a_b_2": 1,
        "a_b": 2,
        "a_b_3": 3,
        "list": [{"item_id": "i"}],
        "alt": {"k_1": "v"},
        "extra-key": 0,
    }
    assert rename_args(wire, schema, renames, back=True) == args
    assert property_renames({"type": "object", "properties": {"fine_name": {}}}) == {}
    assert Renames.of([ir.Tool("ok.name:v1-x")]).tools == {}
