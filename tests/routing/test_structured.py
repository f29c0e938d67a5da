"""Structured answers: the request each target gets, schema dialects, and the check on the answer."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from daemon import ir
from daemon.formats import anthropic, gemini, openai_chat
from daemon.formats.json_keys import KeyRenamer
from daemon.providers.profiles import profile_of
from daemon.routing import structured
from daemon.routing.failures import FailureKind, classify
from tests.fakes import anthropic_rules as fake_anthropic
from tests.fakes import gemini as fake_gemini
from tests.fakes import openai_chat as fake_openai
from tests.formats.whole import decode as decode_whole
from tests.formats.whole import events as whole_events

# Nested objects, an array of objects, an enum, $ref/$defs, a nullable field, and dashes in names.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip-code": {"type": "string"}},
            "required": ["street", "zip-code"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "file-path": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "user"]},
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "home": {"$ref": "#/$defs/Address"},
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "weight": {"type": "integer", "minimum": 0}},
                "required": ["label"],
            },
        },
    },
    "required": ["name", "file-path", "role", "nickname", "home", "tags"],
    "additionalProperties": False,
}
VALUE = {
    "name": "Ada",
    "file-path": "src/main.py",
    "role": "admin",
    "nickname": None,
    "home": {"street": "1 Loop", "zip-code": "12345"},
    "tags": [{"label": "x", "weight": 2}, {"label": "y"}],
}
# The same value with Gemini's wire names.
WIRE_VALUE = {
    **{k: v for k, v in VALUE.items() if k != "file-path"},
    "file_path": "src/main.py",
    "home": {"street": "1 Loop", "zip_code": "12345"},
}


def request(rf: ir.ResponseFormat | None, **kw: Any) -> ir.Request:
    return ir.Request(
        "m", [ir.Message("user", [ir.TextPart("Describe Ada as JSON")])], response_format=rf, **kw
    )


def schema_format() -> ir.ResponseFormat:
    return ir.ResponseFormat("json_schema", schema=copy.deepcopy(SCHEMA), name="person")


# -- schema dialects ----------------------------------------------------------------------------


def test_gemini_gets_the_openapi_subset_with_renamed_properties() -> None:
    gen = gemini.encode_request(
        request(schema_format()), "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash")
    )["generationConfig"]
    assert gen == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "name": {"type": "STRING", "minLength": 1},
                "file_path": {"type": "STRING"},
                "role": {"type": "STRING", "enum": ["admin", "user"]},
                "nickname": {"type": "STRING", "nullable": True},
                "home": {
                    "type": "OBJECT",
                    "properties": {"street": {"type": "STRING"}, "zip_code": {"type": "STRING"}},
                    "required": ["street", "zip_code"],
                },
                "tags": {
                    "type": "ARRAY",
                    "items": {
                        "type": "OBJECT",
                        "properties": {
                            "label": {"type": "STRING"},
                            "weight": {"type": "INTEGER", "minimum": 0},
                        },
                        "required": ["label"],
                    },
                },
            },
            "required": ["name", "file_path", "role", "nickname", "home", "tags"],
        },
    }
    # And the fake, which refuses what the real API refuses in responseSchema, takes it.
    fake_gemini.Validator(fake_gemini.FakeGemini(), "gemini-2.5-flash").generation(gen)


@pytest.mark.parametrize(
    "keyword", ["additionalProperties", "$ref", "const", "oneOf", "$defs", "exclusiveMinimum"]
)
def test_fake_gemini_refuses_json_schema_keywords_in_response_schema(keyword: str) -> None:
    gen = {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT", keyword: {}}}
    with pytest.raises(fake_gemini.Bad, match=re.escape(f'Unknown name "{keyword}"')):
        fake_gemini.Validator(fake_gemini.FakeGemini(), "gemini-2.5-flash").generation(gen)


def test_anthropic_gets_closed_objects_and_constraints_in_descriptions() -> None:
    out = anthropic.encode_request(
        request(schema_format()), "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5")
    )["output_config"]
    schema = out["format"]["schema"]
    assert out["format"]["type"] == "json_schema"
    assert schema["properties"]["name"] == {"type": "string", "description": "{minLength: 1}"}
    assert schema["properties"]["tags"]["items"]["additionalProperties"] is False
    assert schema["properties"]["home"] == {"$ref": "#/$defs/Address"}
    fake_anthropic._output_schema_ok(schema, "output_config.format.schema")
    with pytest.raises(fake_anthropic.Invalid, match="additionalProperties"):
        fake_anthropic._output_schema_ok(SCHEMA["properties"]["tags"]["items"], "x")


def test_openai_gets_the_schema_as_given() -> None:
    rf = schema_format()
    rf.strict = False
    body = openai_chat.encode_request(request(rf), "gpt-4.1", profile_of("openai", "gpt-4.1"))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": SCHEMA, "strict": False},
    }
    fake_openai.validate(body)


def test_openai_json_object_mode_says_json_when_the_client_did_not() -> None:
    req = ir.Request(
        "m",
        [ir.Message("user", [ir.TextPart("Describe Ada")])],
        response_format=ir.ResponseFormat("json_object"),
    )
    body = openai_chat.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0] == {"role": "system", "content": openai_chat.JSON_HINT}
    fake_openai.validate(body)


# -- inbound, every format -----------------------------------------------------------------------


def test_inbound_openai_response_format() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "p", "schema": SCHEMA, "strict": True},
        },
    }
    assert openai_chat.decode_request(body).response_format == ir.ResponseFormat(
        "json_schema", schema=SCHEMA, name="p", strict=True
    )
    body["response_format"] = {"type": "json_object"}
    assert openai_chat.decode_request(body).response_format == ir.ResponseFormat("json_object")
    body["response_format"] = {"type": "xml"}
    with pytest.raises(ir.ApiError, match="response_format.type"):
        openai_chat.decode_request(body)


def test_inbound_anthropic_output_config_format() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": SCHEMA}},
    }
    req = anthropic.decode_request(body)
    assert req.response_format == ir.ResponseFormat("json_schema", schema=SCHEMA)
    assert req.reasoning == ir.Reasoning(effort="low")


def test_inbound_gemini_both_schema_fields() -> None:
    base: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    openapi = {"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True}}, "required": ["a"]}
    req = gemini.decode_request(
        {**base, "generationConfig": {"responseMimeType": "application/json", "responseSchema": openapi}},
        model="g",
    )
    assert req.response_format == ir.ResponseFormat(
        "json_schema",
        schema={"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": ["a"]},
    )
    plain = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}  # Gemini CLI writes upper case
    req = gemini.decode_request(
        {**base, "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": plain}},
        model="g",
    )
    assert req.response_format is not None and req.response_format.schema == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }
    req = gemini.decode_request(
        {**base, "generationConfig": {"responseMimeType": "application/json"}}, model="g"
    )
    assert req.response_format == ir.ResponseFormat("json_object")
    with pytest.raises(ir.ApiError, match="responseMimeType"):
        gemini.decode_request({**base, "generationConfig": {"responseSchema": openapi}}, model="g")


# -- Gemini's renamed keys, mapped back ----------------------------------------------------------


def gemini_body(text: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "responseId": "r1",
    }


def test_gemini_answer_keys_are_mapped_back() -> None:
    resp = decode_whole(gemini, gemini_body(json.dumps(WIRE_VALUE)), request(schema_format()))
    text = "".join(p.text for p in resp.parts if isinstance(p, ir.TextPart))
    assert json.loads(text) == VALUE


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_gemini_streamed_keys_are_mapped_back_across_any_split(size: int) -> None:
    text = json.dumps(WIRE_VALUE, indent=1)
    decoder = gemini.stream_decoder(request(schema_format()))
    events: list[ir.StreamEvent] = []
    for i in range(0, len(text), size):
        events += decoder.feed(None, gemini_body(text[i : i + size]) | {"candidates": [
            {"content": {"role": "model", "parts": [{"text": text[i : i + size]}]}}
        ]})  # fmt: skip
    events += decoder.feed(None, gemini_body(""))
    events += decoder.close()
    out = "".join(ev.text for ev in events if isinstance(ev, ir.TextDelta))
    assert json.loads(out) == VALUE


def test_key_renamer_leaves_values_and_escapes_alone() -> None:
    r = KeyRenamer({"file_path": "file-path"})
    text = '{"file_path": "file_path", "note": "a \\"file_path\\": b", "x": ["file_path"], "file_path":1}'
    out = "".join(r.feed(ch) for ch in text) + r.flush()
    assert json.loads(out) == {"file-path": 1, "note": 'a "file_path": b', "x": ["file_path"]}
    long_value = '{"k": "' + "y" * 500 + '"}'
    assert r.feed(long_value[:100]).startswith('{"k": "yyy')  # long strings are not held


# -- plan: native or a forced tool ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "model", "rf_kind", "native"),
    [
        ("openai", "gpt-4.1", "json_schema", True),
        ("openai", "gpt-4.1", "json_object", True),
        ("gemini", "gemini-2.5-flash", "json_schema", True),
        ("anthropic", "claude-sonnet-4-5", "json_schema", True),
        ("anthropic", "claude-sonnet-4-5", "json_object", False),
        ("anthropic", "claude-3-5-haiku-latest", "json_schema", False),
        ("anthropic", "claude-sonnet-4-20250514", "json_schema", False),
        ("anthropic", "claude-opus-4-1", "json_schema", True),
        ("anthropic", "claude-haiku-4-5", "json_schema", True),
        ("openai-compatible", "deepseek-chat", "json_schema", False),
        ("openai-compatible", "deepseek-chat", "json_object", True),
    ],
)
def test_plan_goes_native_or_through_a_forced_tool(kind: str, model: str, rf_kind: str, native: bool) -> None:
    rf = schema_format() if rf_kind == "json_schema" else ir.ResponseFormat("json_object")
    req = request(rf)
    planned = structured.plan(req, profile_of(kind, model))
    if native:
        assert planned is req
        return
    assert planned.response_format is not None and planned.response_format.tool == structured.TOOL_NAME
    assert planned.tool_choice == ir.ToolChoice("tool", name=structured.TOOL_NAME, parallel=False)
    (tool,) = planned.tools
    assert tool.parameters == (SCHEMA if rf_kind == "json_schema" else {"type": "object"})
    assert req.tools == [] and req.response_format is rf  # the client's request stays whole


def test_a_map_goes_to_anthropic_through_the_tool() -> None:
    schema = {
        "type": "object",
        "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}}},
    }
    planned = structured.plan(
        request(ir.ResponseFormat("json_schema", schema=schema)), profile_of("anthropic", "claude-sonnet-4-5")
    )
    assert planned.response_format is not None and planned.response_format.tool == structured.TOOL_NAME
    assert planned.tools[0].parameters == schema


def test_plan_with_client_tools_requires_some_tool() -> None:
    req = request(ir.ResponseFormat("json_object"), tools=[ir.Tool("json_answer"), ir.Tool("read")])
    planned = structured.plan(req, profile_of("anthropic", "claude-sonnet-4-5"))
    assert [t.name for t in planned.tools] == ["json_answer", "read", "json_answer_"]
    assert planned.tool_choice == ir.ToolChoice("required", parallel=False)
    body = anthropic.encode_request(
        planned, "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5")
    )
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_plan_refuses_a_broken_schema() -> None:
    with pytest.raises(ir.ApiError, match="not valid JSON Schema"):
        structured.plan(
            request(ir.ResponseFormat("json_schema", schema={"type": 12})), profile_of("openai", "gpt-4.1")
        )


# -- check and guard -----------------------------------------------------------------------------


def answer(*parts: ir.AssistantPart, finish: ir.FinishReason = "end") -> ir.Response:
    return ir.Response("r", "m", list(parts), finish=finish, usage=ir.Usage(10, 5))


async def checked(req: ir.Request, resp: ir.Response) -> ir.Response:
    """A whole answer through ``guard``, as its stream, and assembled again."""
    assembler = ir.StreamAssembler()
    async for ev in structured.guard(req, events_of(*whole_events(resp))):
        assembler.feed(ev)
    return assembler.response()


async def test_check_passes_valid_json() -> None:
    resp = await checked(request(schema_format()), answer(ir.TextPart(json.dumps(VALUE))))
    assert resp.parts == [ir.TextPart(json.dumps(VALUE))] and resp.finish == "end"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Sure! Here is Ada.", "not valid JSON"),
        (json.dumps(VALUE)[:-9], "not valid JSON"),
        (json.dumps({**VALUE, "role": "root"}), "at $.role: 'root' is not one of"),
        (json.dumps({**VALUE, "tags": [{"weight": 1}]}), "at $.tags[0]: 'label' is a required property"),
        ("", "an empty answer"),
    ],
)
async def test_check_fails_the_attempt_as_invalid_json(text: str, why: str) -> None:
    with pytest.raises(structured.InvalidJson, match=why.replace("[", r"\[").replace("$", r"\$")) as caught:
        await checked(request(schema_format()), answer(ir.TextPart(text)))
    failure = classify(caught.value)
    assert (failure.kind, failure.label) == (FailureKind.INVALID_JSON, "invalid_json")
    assert caught.value.usage == ir.Usage(10, 5)


async def test_check_unwraps_the_forced_tool() -> None:
    planned = structured.plan(request(schema_format()), profile_of("anthropic", "claude-3-5-haiku-latest"))
    call = ir.ToolCallPart("toolu_1", structured.TOOL_NAME, json.dumps(VALUE))
    resp = await checked(planned, answer(ir.TextPart("Here:"), call, finish="tool_use"))
    assert resp.parts == [ir.TextPart(json.dumps(VALUE))]
    assert (resp.finish, resp.raw_finish) == ("end", None)


async def test_check_leaves_client_tool_calls_and_refusals_alone() -> None:
    call = ir.ToolCallPart("c1", "read", "{}")
    assert (await checked(request(schema_format()), answer(call, finish="tool_use"))).parts == [call]
    refusal = answer(ir.TextPart("I can't help with that."), finish="refusal")
    assert await checked(request(schema_format()), refusal) == refusal


async def events_of(*evs: ir.StreamEvent) -> AsyncIterator[ir.StreamEvent]:
    for ev in evs:
        yield ev


def stream_of(index_part: ir.AssistantPart, pieces: list[str]) -> list[ir.StreamEvent]:
    delta: Any = ir.ArgumentsDelta if isinstance(index_part, ir.ToolCallPart) else ir.TextDelta
    return [
        ir.StreamStart("r", "m"),
        ir.PartStart(0, index_part),
        *(delta(0, p) for p in pieces),
        ir.PartEnd(0),
        ir.StreamEnd("tool_use" if isinstance(index_part, ir.ToolCallPart) else "end", usage=ir.Usage(3, 4)),
    ]


async def test_guard_unwraps_a_forced_tool_stream() -> None:
    planned = structured.plan(request(schema_format()), profile_of("openai-compatible", "deepseek-chat"))
    text = json.dumps(VALUE)
    pieces = [text[:10], text[10:]]
    src = stream_of(ir.ToolCallPart("c", structured.TOOL_NAME, ""), pieces)
    out = [ev async for ev in structured.guard(planned, events_of(*src))]
    assert out[1] == ir.PartStart(0, ir.TextPart(""))
    assert [ev.text for ev in out if isinstance(ev, ir.TextDelta)] == pieces
    assert isinstance(out[-1], ir.StreamEnd) and out[-1].finish == "end"


async def test_guard_raises_in_place_of_the_end_of_an_invalid_stream() -> None:
    src = stream_of(ir.TextPart(""), ['{"name": ', '"Ada"'])  # truncated
    seen: list[ir.StreamEvent] = []
    with pytest.raises(structured.InvalidJson, match="not valid JSON") as caught:
        async for ev in structured.guard(request(schema_format()), events_of(*src)):
            seen.append(ev)
    assert not any(isinstance(ev, ir.StreamEnd) for ev in seen)
    assert [ev.text for ev in seen if isinstance(ev, ir.TextDelta)] == ['{"name": ', '"Ada"']
    assert caught.value.usage == ir.Usage(3, 4)


def test_guard_is_a_no_op_without_a_json_request() -> None:
    src = events_of()
    assert structured.guard(request(None), src) is src


def test_validators_are_compiled_once_per_distinct_schema() -> None:
    structured._compiled.cache_clear()
    for _ in range(5):
        structured.verdict(schema_format(), json.dumps(VALUE))
    assert structured._compiled.cache_info().misses == 1


# -- roots other than objects --------------------------------------------------------------------

LIST_SCHEMA = {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "$defs": {"Tag": {"type": "string"}}}


@pytest.mark.parametrize(("kind", "wrapped"), [("openai", True), ("anthropic", True), ("gemini", False)])
def test_plan_wraps_roots_other_than_objects_where_the_target_needs_it(kind: str, wrapped: bool) -> None:
    rf = ir.ResponseFormat("json_schema", schema=LIST_SCHEMA)
    planned = structured.plan(
        request(rf), profile_of(kind, "claude-sonnet-4-5" if kind == "anthropic" else "m")
    )
    assert planned.response_format is not None and planned.response_format.wrapped is wrapped
    if wrapped:
        assert planned.response_format.schema == {
            "type": "object",
            "properties": {"value": {"type": "array", "items": {"$ref": "#/$defs/Tag"}}},
            "required": ["value"],
            "additionalProperties": False,
            "$defs": {"Tag": {"type": "string"}},
        }


async def test_check_unwraps_a_wrapped_answer() -> None:
    planned = structured.plan(
        request(ir.ResponseFormat("json_schema", schema=LIST_SCHEMA)), profile_of("openai", "m")
    )
    resp = await checked(planned, answer(ir.TextPart('{"value": ["a", "b"]}')))
    assert resp.parts == [ir.TextPart('["a", "b"]')]
    with pytest.raises(structured.InvalidJson, match=r"at \$.value\[1\]"):
        await checked(planned, answer(ir.TextPart('{"value": ["a", 2]}')))


@pytest.mark.parametrize("size", [1, 2, 5, 100])
@pytest.mark.parametrize("value", [["a}", "b"], "x}y", 3, [{"k": "}"}]])
async def test_guard_unwraps_a_wrapped_stream_across_any_split(size: int, value: Any) -> None:
    schema: dict[str, Any] = {"type": ["array", "string", "integer"]}
    planned = structured.plan(
        request(ir.ResponseFormat("json_schema", schema=schema)), profile_of("openai", "m")
    )
    text = json.dumps({"value": value}, indent=2)
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    out = [ev async for ev in structured.guard(planned, events_of(*stream_of(ir.TextPart(""), pieces)))]
    assert json.loads("".join(ev.text for ev in out if isinstance(ev, ir.TextDelta))) == value
    assert all(ev.text for ev in out if isinstance(ev, ir.TextDelta))
