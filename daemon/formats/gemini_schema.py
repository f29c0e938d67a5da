"""JSON Schema in the two dialects Gemini reads, and the names it allows.

A function declaration takes its parameters either as ``parametersJsonSchema``
(plain JSON Schema: what detour sends) or as ``parameters``, an OpenAPI 3.0
subset with upper-case types that answers 400 *Unknown name "X"* to most JSON
Schema keywords (``additionalProperties``, ``$ref``, ``const``, ``oneOf``...).
``from_openapi`` reads the subset into JSON Schema; ``to_openapi`` writes it
(for ``parameters`` and ``responseSchema``).

Either way, property names must match ``[A-Za-z_][A-Za-z0-9_]*`` (at most 64)
and function names ``[A-Za-z_][A-Za-z0-9_.:-]*`` (at most 128). MCP-style names
(``file-path``) are renamed on the way out and mapped back in answers. Each
mapping is a pure function of ``req.tools``, so every place that needs it
rebuilds it (``Renames.of``), and it gives one wire name per original name
across a whole tool, so it reverses without ambiguity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from daemon.ir import Tool

Schema = dict[str, Any]

# Keywords whose values are subschemas, by shape.
_SUB_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUB_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUB_ONE = (
    "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems",
)  # fmt: skip
# Annotations no provider needs; Gemini rejects them in `parameters`.
_NOISE = frozenset({"$schema", "$id", "$comment"})

_PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_NOT_PROPERTY_CHAR = re.compile(r"[^A-Za-z0-9_]")
_NOT_FUNCTION_CHAR = re.compile(r"[^A-Za-z0-9_.:-]")


def map_subschemas(schema: Schema, fn: Callable[[Any], Any]) -> Schema:
    """A copy of ``schema`` with ``fn`` applied to each direct subschema."""
    out: Schema = {}
    for key, value in schema.items():
        if key in _SUB_MAPS and isinstance(value, dict):
            out[key] = {k: fn(v) for k, v in value.items()}
        elif key in _SUB_LISTS and isinstance(value, list):
            out[key] = [fn(v) for v in value]
        elif key in _SUB_ONE:
            out[key] = [fn(v) for v in value] if isinstance(value, list) else fn(value)
        else:
            out[key] = value
    return out


def subschemas(schema: Schema) -> Iterator[Schema]:
    for key, value in schema.items():
        if key in _SUB_MAPS and isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, dict))
        elif key in (*_SUB_LISTS, *_SUB_ONE):
            values = value if isinstance(value, list) else [value]
            yield from (v for v in values if isinstance(v, dict))


def sanitize(schema: Any) -> Any:
    """JSON Schema without the annotations no model needs (``$schema``, ``$id``, ``$comment``)."""
    if not isinstance(schema, dict):
        return schema
    return map_subschemas({k: v for k, v in schema.items() if k not in _NOISE}, sanitize)


def lower_types(schema: Any) -> Any:
    """``type: "OBJECT"`` -> ``"object"``: Gemini takes either case, other providers only lower case."""
    if not isinstance(schema, dict):
        return schema
    out = map_subschemas(schema, lower_types)
    t = out.get("type")
    if isinstance(t, str):
        out["type"] = t.lower()
    elif isinstance(t, list):
        out["type"] = [x.lower() if isinstance(x, str) else x for x in t]
    return out


# -- OpenAPI subset -> JSON Schema (reading a client's `parameters`) -----------------------------

_SNAKE_KEYS = {
    "any_of": "anyOf", "min_items": "minItems", "max_items": "maxItems", "min_length": "minLength",
    "max_length": "maxLength", "min_properties": "minProperties", "max_properties": "maxProperties",
    "property_ordering": "propertyOrdering",
}  # fmt: skip
_INT_KEYS = frozenset({"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})


def from_openapi(schema: Any) -> Any:
    """Gemini's ``Schema`` (upper-case types, ``nullable``, int64 as strings) as JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for raw_key, value in schema.items():
        key = str(_SNAKE_KEYS.get(raw_key, raw_key))
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: from_openapi(v) for k, v in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = from_openapi(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [from_openapi(v) for v in value]
        elif key in _INT_KEYS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        elif key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out[key] = value.lower()
        elif key == "example":
            out["examples"] = [value]
        elif key == "format" and value == "enum":
            continue  # Gemini's marker for a string enum; `enum` says it already
        elif key in ("nullable", "propertyOrdering"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


# -- JSON Schema -> OpenAPI subset (for `parameters` / `responseSchema`) -------------------------

_KEEP = frozenset(
    {"title", "description", "minItems", "maxItems", "minProperties", "maxProperties", "minLength",
     "maxLength", "pattern", "minimum", "maximum", "default", "example", "propertyOrdering"}
)  # fmt: skip
_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})


def to_openapi(schema: Schema) -> Schema:
    """JSON Schema as Gemini's OpenAPI subset: ``$ref`` inlined, ``allOf`` merged, ``oneOf`` as
    ``anyOf``, a null alternative as ``nullable``, ``const`` as a one-value ``enum``, enums as strings,
    upper-case types; keywords the subset lacks are dropped. A recursive ``$ref`` ends in a bare object."""
    return _to_openapi(schema, schema, ("#",))


def _to_openapi(schema: Any, root: Schema, refs: tuple[str, ...]) -> Schema:
    if not isinstance(schema, dict):
        return {}  # `true` / `false` subschemas: no constraint the subset can say
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = resolve_ref(root, ref)
        if target is None or ref in refs:
            return {"type": "OBJECT"}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _to_openapi({**target, **rest}, root, (*refs, ref))
    if isinstance(schema.get("allOf"), list):
        return _to_openapi(_merge_all(schema, root), root, refs)
    if isinstance(schema.get("type"), list):
        return _type_list(schema, root, refs)
    alternatives = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(alternatives, list):
        return _alternatives(schema, alternatives, root, refs)
    return _plain(schema, root, refs)


def _type_list(schema: Schema, root: Schema, refs: tuple[str, ...]) -> Schema:
    types = [t for t in schema["type"] if t != "null"]
    nullable = len(types) < len(schema["type"])
    if len(types) == 1:
        out = _to_openapi({**schema, "type": types[0]}, root, refs)
    else:
        out = {"anyOf": [_to_openapi({**schema, "type": t}, root, refs) for t in types]}
    if nullable:
        out["nullable"] = True
    return out


def _alternatives(schema: Schema, alternatives: list[Any], root: Schema, refs: tuple[str, ...]) -> Schema:
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
    real = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
    nullable = len(real) < len(alternatives)
    if len(real) == 1:
        # The common Optional[X]: X itself, nullable, keeping the outer description.
        out = _to_openapi({**real[0], **rest}, root, refs)
    else:
        out = _plain(rest, root, refs)
        out["anyOf"] = [_to_openapi(a, root, refs) for a in real]
    if nullable:
        out["nullable"] = True
    return out


def _plain(schema: Schema, root: Schema, refs: tuple[str, ...]) -> Schema:
    out: Schema = {k: v for k, v in schema.items() if k in _KEEP}
    if "example" not in out and isinstance(schema.get("examples"), list) and schema["examples"]:
        out["example"] = schema["examples"][0]
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    t = schema.get("type")
    if isinstance(values, list):
        if None in values:
            out["nullable"] = True
        out["enum"] = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values if v is not None]
        t = "string"  # Gemini enums are string-only
    elif t is None:
        t = "object" if "properties" in schema else "array" if "items" in schema else None
    if isinstance(t, str) and t.lower() in _TYPES:
        out["type"] = t.upper()
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(out["type"], ()):
            out["format"] = fmt
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {k: _to_openapi(v, root, refs) for k, v in props.items()}
        required = [r for r in schema.get("required") or [] if r in props]
        if required:
            out["required"] = required
    items = schema.get("items")
    if isinstance(items, dict):
        out["items"] = _to_openapi(items, root, refs)
    return out


def _merge_all(schema: Schema, root: Schema) -> Schema:
    """``allOf`` folded into one schema: properties and required united, other keys first-wins."""
    merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
    for branch in schema["allOf"]:
        if isinstance(branch, dict) and isinstance(branch.get("$ref"), str):
            branch = resolve_ref(root, branch["$ref"]) or {}
        if not isinstance(branch, dict):
            continue
        for key, value in branch.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def resolve_ref(root: Schema, ref: str) -> Schema | None:
    """A local ``#/...`` JSON pointer into ``root``; None for anything else."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].split("/")[1:] if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return None
        node = node[token]
    return node if isinstance(node, dict) else None


# -- names Gemini accepts ------------------------------------------------------------------------


def property_names(schema: Schema) -> list[str]:
    """Every property name declared anywhere in the schema, in first-seen order."""
    seen: dict[str, None] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        props = node.get("properties")
        if isinstance(props, dict):
            seen.update(dict.fromkeys(props))
        stack.extend(reversed(list(subschemas(node))))
    return list(seen)


def _safe_names(
    names: Iterable[str], valid: re.Pattern[str], bad: re.Pattern[str], limit: int
) -> dict[str, str]:
    """Invalid names -> valid ones, unique among all the names (a ``_2`` suffix on collision)."""
    names = list(names)
    taken = {n for n in names if valid.fullmatch(n)}
    out: dict[str, str] = {}
    for name in names:
        if name in taken or name in out:
            continue
        base = bad.sub("_", name)
        if not base or not (base[0].isalpha() or base[0] == "_"):
            base = "_" + base
        base = base[:limit]
        candidate, n = base, 2
        while candidate in taken:
            suffix = f"_{n}"
            candidate, n = base[: limit - len(suffix)] + suffix, n + 1
        taken.add(candidate)
        out[name] = candidate
    return out


def property_renames(schema: Schema | None) -> dict[str, str]:
    """Property names Gemini would reject -> the names sent instead (only the changed ones)."""
    if not schema:
        return {}
    names = property_names(schema)
    if all(_PROPERTY_NAME.fullmatch(n) for n in names):
        return {}
    return _safe_names(names, _PROPERTY_NAME, _NOT_PROPERTY_CHAR, 64)


def rename_schema(schema: Any, renames: dict[str, str]) -> Any:
    """The schema with its declared property names renamed (``required`` and orderings too)."""
    if not isinstance(schema, dict) or not renames:
        return schema
    out = map_subschemas(schema, lambda s: rename_schema(s, renames))
    if isinstance(out.get("properties"), dict):
        out["properties"] = {renames.get(k, k): v for k, v in out["properties"].items()}
    for key in ("required", "propertyOrdering"):
        if isinstance(out.get(key), list):
            out[key] = [renames.get(k, k) if isinstance(k, str) else k for k in out[key]]
    return out


def rename_args(value: Any, schema: Schema, renames: dict[str, str], *, back: bool = False) -> Any:
    """Call arguments with declared property keys renamed (``back``: wire names to the originals).
    Guided by the schema, so keys of free-form objects stay as they are."""
    if not renames:
        return value
    inverse = {v: k for k, v in renames.items()} if back else {}
    return _rename_value(value, [schema], schema, renames, inverse, back)


def _rename_value(
    value: Any, schemas: list[Any], root: Schema, renames: dict[str, str], inverse: dict[str, str], back: bool
) -> Any:
    flat = _flatten(schemas, root)
    if isinstance(value, dict):
        props: dict[str, list[Any]] = {}
        extra: list[Any] = []
        for s in flat:
            for k, sub in (s.get("properties") or {}).items():
                props.setdefault(k, []).append(sub)
            if isinstance(s.get("additionalProperties"), dict):
                extra.append(s["additionalProperties"])
            if isinstance(s.get("patternProperties"), dict):
                extra.extend(s["patternProperties"].values())
        out: dict[str, Any] = {}
        for key, v in value.items():
            orig = inverse.get(key, key) if back else key
            if orig in props:
                sub = _rename_value(v, props[orig], root, renames, inverse, back)
                out[orig if back else renames.get(orig, orig)] = sub
            else:
                out[key] = _rename_value(v, extra, root, renames, inverse, back) if extra else v
        return out
    if isinstance(value, list):
        items = [s["items"] for s in flat if isinstance(s.get("items"), dict)]
        if items:
            return [_rename_value(v, items, root, renames, inverse, back) for v in value]
    return value


def _flatten(schemas: list[Any], root: Schema) -> list[Schema]:
    """The schemas with ``$ref`` resolved and combinator branches expanded, each once."""
    out: list[Schema] = []
    seen: set[int] = set()
    stack = list(reversed(schemas))
    while stack:
        s = stack.pop()
        if not isinstance(s, dict) or id(s) in seen:
            continue
        seen.add(id(s))
        out.append(s)
        if isinstance(s.get("$ref"), str):
            target = resolve_ref(root, s["$ref"])
            if target is not None:
                stack.append(target)
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(s.get(key), list):
                stack.extend(reversed(s[key]))
    return out


@dataclass(slots=True, frozen=True)
class Renames:
    """How the request's tools are named on Gemini's wire, both ways."""

    tools: dict[str, str]  # tool name -> wire name, changed ones only
    tools_back: dict[str, str]
    properties: dict[str, tuple[dict[str, str], Schema]]  # tool name -> (renames, schema), non-empty only

    @classmethod
    def of(cls, tools: list[Tool]) -> Renames:
        names = [t.name for t in tools]
        renamed = {} if all(_FUNCTION_NAME.fullmatch(n) for n in names) else _function_renames(names)
        props = {}
        for t in tools:
            r = property_renames(t.parameters)
            if r and t.parameters is not None:
                props[t.name] = (r, t.parameters)
        return cls(renamed, {v: k for k, v in renamed.items()}, props)

    def wire_name(self, name: str) -> str:
        return self.tools.get(name) or (name if _FUNCTION_NAME.fullmatch(name) else _function_name(name))

    def tool_name(self, wire_name: str) -> str:
        return self.tools_back.get(wire_name, wire_name)

    def args_out(self, tool: str, args: Any) -> Any:
        found = self.properties.get(tool)
        return rename_args(args, found[1], found[0]) if found else args

    def args_in(self, tool: str, args: Any) -> Any:
        found = self.properties.get(tool)
        return rename_args(args, found[1], found[0], back=True) if found else args


def _function_renames(names: list[str]) -> dict[str, str]:
    return _safe_names(names, _FUNCTION_NAME, _NOT_FUNCTION_CHAR, 128)


def _function_name(name: str) -> str:
    """A name from history that no declared tool has: made valid the same way, on its own."""
    return _function_renames([name]).get(name, name)
