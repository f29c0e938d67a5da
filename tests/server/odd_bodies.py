"""Odd request bodies for every inbound endpoint: valid samples, mutated at random JSON paths.

A mutation replaces the value at a path (or adds a key, or drops one) with a
wrong type, a value from the formats' own vocabulary in the wrong place, deep
nesting, a huge or tiny number, null or unusual unicode. Bodies are written as
raw JSON text, so nesting deeper than any serializer allows and numbers no
Python float holds reach the daemon exactly as a hostile client sends them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.formats.anthropic import samples as anthropic
from tests.formats.gemini import samples as gemini
from tests.formats.openai_chat import samples as openai_chat

ROUTES = ("via-anthropic", "via-openai", "via-gemini")


@dataclass(frozen=True)
class Raw:
    """JSON text spliced into the body as it is: what no Python value serializes to."""

    text: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # `{model}` is a route name, for Gemini's model-in-the-path endpoints
    samples: tuple[dict[str, Any], ...]
    client: str  # whose error shape answers it: openai, anthropic or gemini
    model_in_body: bool = True


# A schema with the keywords the translators rewrite per provider.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "format": "email", "minLength": 1, "description": "who"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 2},
        "kind": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        "ref": {"$ref": "#/$defs/point"},
    },
    "required": ["name"],
    "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}}},
    "additionalProperties": False,
}
ANTHROPIC_STRUCTURED: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "messages": [{"role": "user", "content": "Fill the form."}],
    "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "high"},
    "thinking": {"type": "adaptive", "display": "summarized"},
    "tools": [{"name": "lookup", "input_schema": SCHEMA}],
    "tool_choice": {"type": "auto"},
}
OPENAI_STRUCTURED: dict[str, Any] = {
    "model": "gpt-4.1",
    "messages": [{"role": "user", "content": "Fill the form."}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "form", "schema": SCHEMA}},
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}],
    "tool_choice": {"type": "function", "function": {"name": "lookup"}},
}
GEMINI_STRUCTURED: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "Fill the form."}]}],
    "tools": [{"functionDeclarations": [{"name": "lookup", "parametersJsonSchema": SCHEMA}]}],
    "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
}
GEMINI_OPENAPI: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "Fill the form."}]}],
    "generationConfig": {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "a": {"type": "STRING", "nullable": True},
                "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            },
            "required": ["a"],
        },
    },
}


def _count_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}


ENDPOINTS = (
    Endpoint(
        "POST",
        "/v1/chat/completions",
        (openai_chat.DOC_REQUEST, openai_chat.AIDER, openai_chat.SDK_HISTORY, OPENAI_STRUCTURED),
        "openai",
    ),
    Endpoint(
        "POST",
        "/v1/messages",
        (anthropic.DOC_REQUEST, anthropic.CLAUDE_CODE, ANTHROPIC_STRUCTURED),
        "anthropic",
    ),
    Endpoint(
        "POST",
        "/v1/messages/count_tokens",
        (_count_body(anthropic.DOC_REQUEST), _count_body(anthropic.CLAUDE_CODE)),
        "anthropic",
    ),
    Endpoint(
        "POST",
        "/v1beta/models/{model}:generateContent",
        (gemini.DOC_REQUEST, gemini.CLI_REQUEST, GEMINI_STRUCTURED, GEMINI_OPENAPI),
        "gemini",
        False,
    ),
    Endpoint(
        "POST",
        "/v1beta/models/{model}:streamGenerateContent",
        (gemini.DOC_REQUEST, gemini.CLI_REQUEST, GEMINI_STRUCTURED),
        "gemini",
        False,
    ),
    Endpoint(
        "POST",
        "/v1beta/models/{model}:countTokens",
        (gemini.DOC_REQUEST, {"generateContentRequest": gemini.CLI_REQUEST}),
        "gemini",
        False,
    ),
    Endpoint("PUT", "/budget", ({"session_usd": 5.0, "daily_usd": None, "weekly_usd": 50},), "openai"),
)


def _strings(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        out.update(value)
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, str) and len(value) < 40:
        out.add(value)
    return out


# Words the decoders branch on (block types, roles, modes), to put in the wrong places.
VOCABULARY = sorted(
    _strings([s for e in ENDPOINTS for s in e.samples], set())
    | {"text", "image", "tool_use", "tool_result", "thinking", "function", "system", "tool", "model"}
    | {
        "format",
        "enum",
        "items",
        "anyOf",
        "oneOf",
        "$ref",
        "$defs",
        "minItems",
        "const",
        "default",
        "nullable",
    }
)


def _deep(depth: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    if kind == "object":
        return Raw('{"a":' * depth + "1" + "}" * depth)
    return Raw('[{"type":' * depth + '"text"' + "}]" * depth)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(VOCABULARY),
)
small_json = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(VOCABULARY), inner, max_size=3)
    ),
    max_leaves=6,
)
poison = st.one_of(
    small_json,
    st.builds(
        _deep,
        st.sampled_from([63, 64, 65, 66, 130, 253, 254, 255, 300, 1023, 1024, 1025]),
        st.sampled_from(["list", "object", "blocks"]),
    ),
    st.sampled_from(
        [
            Raw("1" + "0" * 400),  # an integer no float holds
            Raw("1e400"),
            Raw("-1e-400"),
            Raw("18446744073709551616"),
            Raw('"\\ud800"'),  # a lone surrogate
            Raw('"\\u0000\\u202e\\ufeff"'),
            Raw("[]"),
            Raw("{}"),
            Raw('""'),
        ]
    ),
)


_SCHEMA_KEYS = frozenset(
    {"input_schema", "parameters", "schema", "parametersJsonSchema", "responseJsonSchema", "responseSchema"}
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*at, i))
    return out


def _mutate(body: Any, path: tuple[Any, ...], action: str, value: Any, key: str) -> Any:
    if not path:
        if action == "add" and isinstance(body, dict):
            body[key] = value
        return value if action == "replace" else body
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if not isinstance(parent, dict | list):
        return body
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "drop":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][key] = value
    elif isinstance(parent[last], list):
        parent[last].append(value)
    return body


@st.composite
def odd_requests(draw: st.DrawFn) -> tuple[Endpoint, str, bytes]:
    """An endpoint, its URL path and a body: a sample with one to four mutations."""
    endpoint = draw(st.sampled_from(ENDPOINTS))
    body: Any = copy.deepcopy(draw(st.sampled_from(endpoint.samples)))
    route = draw(st.sampled_from(ROUTES))
    if endpoint.model_in_body and endpoint.path != "/budget":
        body["model"] = route
    for _ in range(draw(st.integers(1, 4))):
        if not isinstance(body, dict | list):
            break
        paths = _paths(body)
        if draw(st.booleans()):
            # Half the time inside a schema: free-form JSON each provider's translator rewrites.
            paths = [p for p in paths if _SCHEMA_KEYS.intersection(map(str, p))] or paths
        path = paths[draw(st.integers(0, len(paths) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        body = _mutate(body, path, action, draw(poison), draw(st.sampled_from(VOCABULARY)))
    return endpoint, endpoint.path.format(model=route), encode(body).encode("utf-8", "surrogatepass")


def encode(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)
