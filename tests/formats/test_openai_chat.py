"""OpenAI Chat Completions: wire <-> IR both ways, streams, errors, the real SDK on our output,
and the fake upstream judging what the encoder writes."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.utils import formatdate
from time import time
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats import openai_chat as fmt
from daemon.formats.ids import for_openai
from daemon.formats.openai_chat_stream import decode_usage, encode_usage, retry_after, wire_name
from daemon.formats.sse import SSEParser
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    ImagePart,
    Message,
    Opaque,
    PartEnd,
    PartStart,
    Reasoning,
    Request,
    Response,
    SignatureDelta,
    StreamAssembler,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall
from tests.fakes.openai_chat import FakeOpenAI

# --- fixtures from WIRE_FORMATS.md §2 and CLIENTS.md ---------------------------------------

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

DOC_REQUEST: dict[str, Any] = {
    "model": "gpt-4.1",
    "messages": [
        {"role": "developer", "content": "You are terse."},
        {"role": "user", "content": [
            {"type": "text", "text": "Weather in Paris? Describe the image."},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo...", "detail": "auto"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "content": "18C, cloudy"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get weather", "strict": False,
               "parameters": WEATHER}}],
    "tool_choice": "auto", "parallel_tool_calls": True,
    "max_completion_tokens": 1024, "temperature": 0.7, "stop": ["END"],
    "stream": True, "stream_options": {"include_usage": True},
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}}},
    "reasoning_effort": "medium",
}  # fmt: skip

DOC_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0", "object": "chat.completion", "created": 1770933892,
    "model": "gpt-4.1-nano-2025-04-14", "service_tier": "default", "system_fingerprint": "fp_de604bd877",
    "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "refusal": None, "annotations": [],
            "tool_calls": [{"id": "call_abc123", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
    "usage": {"prompt_tokens": 16, "completion_tokens": 300, "total_tokens": 316,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0}}}  # fmt: skip

# aider: stream, temperature 0, no tools, a system prompt and the conversation so far.
AIDER: dict[str, Any] = {
    "model": "openai/coder", "stream": True, "temperature": 0,
    "messages": [
        {"role": "system", "content": "Act as an expert software developer."},
        {"role": "user", "content": "Change hello.py to greet the world."},
        {"role": "assistant", "content": "Ok, I will edit hello.py."},
        {"role": "system", "content": "Reply with SEARCH/REPLACE blocks only."},
        {"role": "user", "content": "Go ahead."},
    ],
}  # fmt: skip

# What the openai SDK gives back as history (model_dump(exclude_none=True) of its message).
SDK_HISTORY: dict[str, Any] = {
    "model": "coder",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "annotations": [], "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}, {"type": "text", "text": ", sunny"}]},
        {"role": "user", "content": "Thanks. Which is warmer?"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
}  # fmt: skip


def ir_request(**kw: Any) -> Request:
    base: dict[str, Any] = {"model": "gpt-4.1", "messages": [Message("user", [TextPart("hi")])]}
    return Request(**{**base, **kw})


def decode_all(frames: list[Any], req: Request | None = None) -> list[StreamEvent]:
    dec = fmt.stream_decoder(req or ir_request())
    out: list[StreamEvent] = []
    for data in frames:
        out += dec.feed(None, data)
    return out + dec.close()


def parse_sse(raw: bytes) -> list[Any]:
    parser = SSEParser()
    frames = parser.feed(raw) + parser.close()
    assert all(f.event is None for f in frames)
    return [f.data if f.data == "[DONE]" else orjson.loads(f.data) for f in frames]


def assemble(events: list[StreamEvent]) -> Response:
    asm = StreamAssembler()
    for ev in events:
        asm.feed(ev)
    assert asm.finished
    return asm.response()


# --- requests: wire -> IR -> wire ----------------------------------------------------------------


def test_documented_request_decodes() -> None:
    req = fmt.decode_request(DOC_REQUEST)
    assert req.system == [TextPart("You are terse.")]
    assert req.messages == [
        Message("user", [TextPart("Weather in Paris? Describe the image."),
                         ImagePart("image/png", "iVBORw0KGgo...", detail="auto")]),
        Message("assistant", [ToolCallPart("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", '{"city":"Paris"}')]),
        Message("user", [ToolResultPart("call_DdmO9pD3xa9XTPNJ32zg2hcA", [TextPart("18C, cloudy")], name="get_weather")]),
    ]  # fmt: skip
    assert req.tools == [Tool("get_weather", "Get weather", WEATHER, False)]
    assert req.tool_choice == ToolChoice("auto", parallel=True)
    assert (req.max_tokens, req.temperature, req.stop, req.stream) == (1024, 0.7, ["END"], True)
    assert req.reasoning == Reasoning(effort="medium")
    assert req.source_format == "openai_chat"


def test_documented_request_round_trips() -> None:
    wire = fmt.encode_request(fmt.decode_request(DOC_REQUEST), "gpt-4.1")
    expected = copy.deepcopy(DOC_REQUEST)
    expected["messages"][0]["role"] = "system"
    expected["messages"][1]["content"][1]["image_url"]["url"] = "data:image/png;base64,iVBORw0KGgo..."
    assert wire == expected


def test_aider_request_keeps_system_messages_in_place() -> None:
    req = fmt.decode_request(AIDER, model="coder")
    assert req.model == "coder" and req.stream and req.temperature == 0
    assert req.system == [TextPart("Act as an expert software developer.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "system", "user"]
    wire = fmt.encode_request(req, "gpt-4.1")
    assert wire["messages"] == AIDER["messages"]
    assert wire["stream_options"] == {"include_usage": True}


def test_sdk_history_round_trips() -> None:
    req = fmt.decode_request(SDK_HISTORY)
    results = req.messages[2]
    assert results == Message("user", [
        ToolResultPart("call_1", [TextPart("18C, cloudy")], name="get_weather"),
        ToolResultPart("call_2", [TextPart("24C"), TextPart(", sunny")], name="get_weather"),
    ])  # fmt: skip
    assert req.messages[3] == Message("user", [TextPart("Thanks. Which is warmer?")])
    wire = fmt.encode_request(req, "gpt-4.1")
    assert wire["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": SDK_HISTORY["messages"][2]["tool_calls"],
    }
    assert wire["messages"][4] == {"role": "tool", "tool_call_id": "call_2", "content": "24C\n, sunny"}
    assert wire["tools"] == [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]


def test_leading_developer_run_is_the_system_prompt() -> None:
    body = {"model": "m", "messages": [
        {"role": "system", "content": "A"}, {"role": "developer", "content": [{"type": "text", "text": "B"}]},
        {"role": "user", "content": "hi"}, {"role": "developer", "content": "C"}]}  # fmt: skip
    req = fmt.decode_request(body)
    assert req.system == [TextPart("A"), TextPart("B")]
    assert req.messages[-1] == Message("system", [TextPart("C")])
    assert fmt.encode_request(req, "gpt-4.1")["messages"][0] == {"role": "system", "content": "A\n\nB"}


def test_deepseek_reasoning_and_custom_calls_in_history() -> None:
    body = {"model": "deepseek-reasoner", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "reasoning_content": "think", "content": [{"type": "refusal", "refusal": "no"}],
         "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin"}},
                        {"id": "c2", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": ""},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"}]}  # fmt: skip
    req = fmt.decode_request(body)
    assert req.messages[1] == Message("assistant", [
        ThinkingPart("think"), TextPart("no"), ToolCallPart("c1", "apply_patch", "*** Begin"), ToolCallPart("c2", "f", "{}")])  # fmt: skip
    assert req.messages[2].parts[0] == ToolResultPart("c1", [], name="apply_patch")
    wire = fmt.encode_request(req, "deepseek-reasoner")
    assert "reasoning_content" not in wire["messages"][1]
    assert wire["messages"][1]["content"] == "no"


def user(*parts: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body: expected a JSON object, got an array"),
        ({"model": "m"}, "messages: required"),
        ({"model": "m", "messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model: expected a string, got null"),
        (
            user({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}),
            "messages[0].content[0]: input_audio parts are not supported",
        ),
        (
            user({"type": "file", "file": {"file_id": "f"}}),
            "messages[0].content[0]: file parts are not supported",
        ),
        (user({"type": "video"}), "messages[0].content[0]: unknown part type 'video'"),
        (
            user({"type": "image_url", "image_url": {"url": "data:image/png,abc"}}),
            "messages[0].content[0].image_url.url: a data URL",
        ),
        (user({"type": "text"}), "messages[0].content[0].text: expected a string, got null"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content: required"),
        (
            {"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]},
            "messages[0].role: the deprecated 'function' role",
        ),
        (
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role: expected 'system'",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url"}]}],
            },
            "messages[0].content[0]: expected a text part here",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id: expected a string",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "assistant", "content": "x", "function_call": {"name": "f"}}],
            },
            "messages[0].function_call",
        ),
        (
            {"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "mcp"}]}]},
            "messages[0].tool_calls[0].type: expected 'function' or 'custom'",
        ),
        ({**user({"type": "text", "text": "x"}), "n": 2}, "n: detour answers with one choice"),
        ({**user({"type": "text", "text": "x"}), "functions": [{"name": "f"}]}, "functions: the deprecated"),
        (
            {**user({"type": "text", "text": "x"}), "modalities": ["text", "audio"]},
            "modalities: audio output",
        ),
        (
            {**user({"type": "text", "text": "x"}), "tools": [{"type": "custom", "custom": {"name": "p"}}]},
            "tools[0].type: only 'function' tools",
        ),
        (
            {**SDK_HISTORY, "tool_choice": {"type": "allowed_tools", "allowed_tools": {}}},
            "tool_choice.type: expected 'function', got 'allowed_tools'",
        ),
        ({**SDK_HISTORY, "tool_choice": "sometimes"}, "tool_choice: expected 'none', 'auto', 'required'"),
        ({**AIDER, "reasoning_effort": "extreme"}, "reasoning_effort: expected one of none, minimal"),
        ({**AIDER, "max_tokens": 0}, "max_tokens: must be at least 1"),
        ({**AIDER, "stop": ["a", 3]}, "stop[1]: expected a string, got a number"),
        ({**AIDER, "temperature": "hot"}, "temperature: expected a number, got a string"),
    ],
)
def test_invalid_input_is_a_clear_400(body: Any, message: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.decode_request(body)
    assert e.value.status == 400 and e.value.kind == "invalid_request"
    assert e.value.message.startswith(message), e.value.message


def test_parameters_decode() -> None:
    body = {**AIDER, "max_tokens": 50, "stop": "END", "user": "u-1", "top_k": 40, "reasoning_effort": "none",
            "store": True, "metadata": {"a": "b"}, "service_tier": "auto", "seed": 3, "logprobs": False}  # fmt: skip
    req = fmt.decode_request(body, stream=False)
    assert (req.max_tokens, req.stop, req.user, req.top_k, req.stream) == (50, ["END"], "u-1", 40, False)
    assert req.reasoning == Reasoning(enabled=False, effort="none")
    named = fmt.decode_request({**SDK_HISTORY, "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                                "parallel_tool_calls": False})  # fmt: skip
    assert named.tool_choice == ToolChoice("tool", "get_weather", parallel=False)
    assert fmt.decode_request({**SDK_HISTORY, "parallel_tool_calls": False}).tool_choice == ToolChoice(
        "auto", parallel=False
    )
    assert fmt.decode_request({**AIDER, "tool_choice": "none"}).tool_choice is None  # no tools to choose from


# --- requests: IR from other formats -> a body OpenAI accepts -------------------------------------

LONG_ID = "toolu_vrtx_01D7FLrfh4GYq7yT1ULFeyMV_0123456789"  # 47 characters


def anthropic_shaped() -> Request:
    """What Claude Code's history looks like in the IR: thinking, long ids, images in results,
    a system message between a call and its result, text after results."""
    return Request(
        model="claude-opus-4-8",
        system=[TextPart("You are Claude Code.", cache_control={"type": "ephemeral"}), TextPart("Be brief.")],
        messages=[
            Message("user", [TextPart("Look at shot.png and run the tests.")]),
            Message("assistant", [
                ThinkingPart("Need the file.", opaque=Opaque("anthropic", "sig")),
                TextPart("Reading it."),
                ToolCallPart(LONG_ID, "Read", '{"file_path": "shot.png"}'),
                ToolCallPart("toolu_02", "mcp.run.tests", "")]),
            Message("system", [TextPart("Reminder: stay in the repo.")]),
            Message("user", [
                ToolResultPart(LONG_ID, [TextPart("binary image"), ImagePart("image/png", "iVBORw0KGgo=")]),
                ToolResultPart("toolu_02", [TextPart("3 passed")], is_error=True),
                TextPart("Now fix it.")]),
            Message("assistant", [ThinkingPart("", redacted="xx")]),
            Message("user", [TextPart("Go on.")]),
        ],
        tools=[Tool("Read", "Read a file", {"properties": {"file_path": {"type": "string"}}}), Tool("mcp.run.tests")],
        tool_choice=ToolChoice("tool", "mcp.run.tests", parallel=False),
        max_tokens=64000, temperature=3.0, top_k=40, stop=["a", "b", "c", "d", "e"], stream=True,
        reasoning=Reasoning(True, budget_tokens=31999), user="user-abc", source_format="anthropic",
    )  # fmt: skip


def test_foreign_history_is_made_acceptable() -> None:
    req = anthropic_shaped()
    wire = fmt.encode_request(req, "gpt-4.1")
    long_id, run = for_openai(LONG_ID), wire_name("mcp.run.tests")
    assert len(long_id) <= 40 and run != "mcp.run.tests" and len(run) <= 64
    assert wire["messages"] == [
        {"role": "system", "content": "You are Claude Code.\n\nBe brief."},
        {"role": "user", "content": "Look at shot.png and run the tests."},
        {"role": "assistant", "content": "Reading it.", "tool_calls": [
            {"id": long_id, "type": "function", "function": {"name": "Read", "arguments": '{"file_path": "shot.png"}'}},
            {"id": "toolu_02", "type": "function", "function": {"name": run, "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": long_id, "content": "binary image"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": "3 passed"},
        {"role": "system", "content": "Reminder: stay in the repo."},
        {"role": "user", "content": [
            {"type": "text", "text": f"Images returned by tool call {long_id}:"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "text", "text": "Now fix it."}]},
        {"role": "user", "content": "Go on."},
    ]  # fmt: skip
    assert wire["tools"] == [
        {"type": "function", "function": {"name": "Read", "description": "Read a file",
         "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}}}},
        {"type": "function", "function": {"name": run, "parameters": {"type": "object", "properties": {}}}},
    ]  # fmt: skip
    assert wire["tool_choice"] == {"type": "function", "function": {"name": run}}
    assert wire["parallel_tool_calls"] is False
    assert wire["max_completion_tokens"] == 64000 and "max_tokens" not in wire
    assert wire["temperature"] == 2.0 and "top_k" not in wire
    assert wire["stop"] == ["a", "b", "c", "d"]
    assert wire["stream"] is True and wire["stream_options"] == {"include_usage": True}
    assert "reasoning_effort" not in wire  # gpt-4.1 takes none
    assert wire["user"] == "user-abc"


@pytest.mark.parametrize(
    ("reasoning", "source", "model", "effort"),
    [
        (Reasoning(True, budget_tokens=31999), "anthropic", "o3", "high"),
        (Reasoning(True, budget_tokens=8000), "anthropic", "gpt-5.1", "medium"),
        (Reasoning(True, budget_tokens=1024), "gemini", "o4-mini", "low"),
        (Reasoning(True, effort="xhigh"), "anthropic", "gpt-5", "xhigh"),
        (Reasoning(True, effort="high"), "anthropic", "gpt-4.1", None),
        (Reasoning(False), "anthropic", "o3", None),
        (Reasoning(True, effort="low"), "openai_chat", "deepseek-reasoner", "low"),
    ],
)
def test_reasoning_effort_per_model(
    reasoning: Reasoning, source: str, model: str, effort: str | None
) -> None:
    wire = fmt.encode_request(ir_request(reasoning=reasoning, source_format=source), model)
    assert wire.get("reasoning_effort") == effort


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (
            ir_request(messages=[Message("assistant", [ImagePart("image/png", "x")])]),
            "messages[0].parts[0]: an assistant message cannot carry a image",
        ),
        (
            ir_request(messages=[Message("user", [ToolCallPart("c", "f")])]),
            "messages[0].parts[0]: a user message cannot carry a tool_call",
        ),
        (
            ir_request(messages=[Message("system", [ImagePart(url="https://x")])]),
            "messages[0].parts[0]: a system message carries text only",
        ),
        (
            ir_request(tools=[Tool("f")], tool_choice=ToolChoice("tool")),
            "tool_choice: a forced tool choice needs",
        ),
    ],
)
def test_unencodable_ir_is_a_clear_400(req: Request, message: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.encode_request(req, "gpt-4.1")
    assert e.value.status == 400 and e.value.message.startswith(message), e.value.message


def test_no_tool_choice_without_tools_and_url_images() -> None:
    req = ir_request(
        tool_choice=ToolChoice("required", parallel=True),
        messages=[Message("user", [ImagePart(url="https://example.com/a.png", detail="low")])],
    )
    wire = fmt.encode_request(req, "gpt-4.1")
    assert "tool_choice" not in wire and "parallel_tool_calls" not in wire
    assert wire["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]}]  # fmt: skip


# --- whole answers --------------------------------------------------------------------------------


def test_documented_response_decodes_and_round_trips() -> None:
    req = fmt.decode_request(DOC_REQUEST)
    resp = fmt.decode_response(DOC_RESPONSE, req)
    assert resp == Response(
        "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0", "gpt-4.1-nano-2025-04-14",
        [ToolCallPart("call_abc123", "get_weather", '{"city":"Paris"}')], "tool_use", "tool_calls",
        Usage(input_tokens=16, output_tokens=300),
    )  # fmt: skip
    wire = fmt.encode_response(resp, req)
    expected = copy.deepcopy(DOC_RESPONSE)
    for key in ("service_tier", "system_fingerprint", "created"):
        expected.pop(key)
    assert {k: v for k, v in wire.items() if k != "created"} == {
        **expected,
        "usage": {"prompt_tokens": 16, "completion_tokens": 300, "total_tokens": 316,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
    }  # fmt: skip
    assert isinstance(wire["created"], int)
    assert fmt.decode_response(wire, req) == resp


def message_answer(message: dict[str, Any], finish: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        **kw,
    }


@pytest.mark.parametrize(
    ("message", "raw", "finish"),
    [
        ({"content": "hi"}, "stop", "end"),
        ({"content": "hi"}, "length", "length"),
        ({"content": None}, "content_filter", "content_filter"),
        ({"content": "hi"}, "weird", "other"),
        ({"content": None, "refusal": "I can't help."}, "stop", "refusal"),
        # A named forced tool_choice answers "stop" although it called the tool.
        (
            {"tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "stop",
            "tool_use",
        ),
        (
            {"tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "length",
            "length",
        ),
    ],
)
def test_finish_reasons(message: dict[str, Any], raw: str, finish: str) -> None:
    resp = fmt.decode_response(message_answer(message, raw), ir_request())
    assert (resp.finish, resp.raw_finish) == (finish, raw)
    assert fmt.encode_response(resp, ir_request())["choices"][0]["finish_reason"] == (
        raw if raw != "weird" else "stop"
    )


def test_foreign_finish_reasons_encode() -> None:
    for finish, raw, wire in [("end", "end_turn", "stop"), ("tool_use", "tool_use", "tool_calls"),
                              ("length", "MAX_TOKENS", "length"), ("refusal", "refusal", "content_filter"),
                              ("paused", "pause_turn", "stop"), ("content_filter", "SAFETY", "content_filter")]:  # fmt: skip
        body = fmt.encode_response(Response("msg_1", "claude", [TextPart("x")], finish, raw), ir_request())  # type: ignore[arg-type]
        assert body["choices"][0]["finish_reason"] == wire
        assert body["id"] == "chatcmpl-msg_1"


def test_refusal_goes_in_its_own_field() -> None:
    resp = fmt.decode_response(message_answer({"content": None, "refusal": "No."}, "stop"), ir_request())
    message = fmt.encode_response(resp, ir_request())["choices"][0]["message"]
    assert (message["content"], message["refusal"]) == (None, "No.")


def test_usage_both_ways() -> None:
    usage = Usage(
        input_tokens=1200,
        output_tokens=80,
        cache_read_tokens=1000,
        cache_write_tokens=50,
        reasoning_tokens=30,
    )
    wire = encode_usage(usage)
    assert wire == {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
                    "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 50},
                    "completion_tokens_details": {"reasoning_tokens": 30}}  # fmt: skip
    assert decode_usage(wire) == usage
    deepseek = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    assert decode_usage(deepseek) == Usage(input_tokens=100, output_tokens=5, cache_read_tokens=64)
    assert decode_usage(None) == Usage()


def test_answer_with_reasoning_renamed_tools_and_no_ids() -> None:
    req = ir_request(tools=[Tool("mcp.fs.read")])
    call = {"type": "function", "function": {"name": wire_name("mcp.fs.read"), "arguments": ""}}
    body = message_answer(
        {"reasoning_content": "hmm", "content": "Reading.", "tool_calls": [call]}, "tool_calls"
    )
    resp = fmt.decode_response(body, req)
    assert resp.parts[0] == ThinkingPart("hmm") and resp.parts[1] == TextPart("Reading.")
    tool = resp.parts[2]
    assert isinstance(tool, ToolCallPart) and (tool.name, tool.arguments) == ("mcp.fs.read", "{}")
    assert tool.id and tool.id == fmt.decode_response(body, req).parts[2].id  # type: ignore[union-attr]
    message = fmt.encode_response(resp, req)["choices"][0]["message"]
    assert (
        message["reasoning_content"] == "hmm"
        and message["tool_calls"][0]["function"]["name"] == "mcp.fs.read"
    )


def test_content_as_an_array_of_parts() -> None:
    """Some compatible servers (Mistral) answer with content parts instead of a string."""
    parts = [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]
    resp = fmt.decode_response(message_answer({"content": parts}, "stop"), ir_request())
    assert resp.parts == [TextPart("Hello")]
    events = decode_all([chunk({"content": parts}), chunk({}, "stop"), "[DONE]"])
    assert assemble(events).parts == [TextPart("Hello")]


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"error": {"message": "boom", "type": "server_error"}}, 500, "server_error"),
        ({"id": "x", "choices": []}, 502, "server_error"),
        ([1], 502, "server_error"),
    ],
)
def test_bad_answers_raise(body: Any, status: int, kind: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.decode_response(body, ir_request())
    assert (e.value.status, e.value.kind) == (status, kind)


# --- streams --------------------------------------------------------------------------------------

CHUNK = {
    "id": "chatcmpl-D8Z5",
    "object": "chat.completion.chunk",
    "created": 1770933892,
    "model": "gpt-4.1-nano",
}


def chunk(delta: dict[str, Any], finish: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        **CHUNK,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **kw,
    }


USAGE = {"prompt_tokens": 16, "completion_tokens": 300, "total_tokens": 316,
         "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip

# WIRE_FORMATS.md §2.4: the text capture, then the tool-call deltas.
TEXT_CAPTURE = [
    chunk({"role": "assistant", "content": "", "refusal": None}, usage=None, obfuscation="Qup1BsQ3"),
    chunk({"content": "Hello"}, usage=None),
    chunk({"content": " world"}, usage=None),
    chunk({}, "stop", usage=None),
    {**CHUNK, "choices": [], "usage": USAGE},
    "[DONE]",
]
TOOL_CAPTURE = [
    chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}),
    chunk({}, "tool_calls"),
    "[DONE]",
]  # fmt: skip


def test_text_capture_decodes_in_ir_order() -> None:
    assert decode_all(TEXT_CAPTURE) == [
        StreamStart("chatcmpl-D8Z5", "gpt-4.1-nano"),
        PartStart(0, TextPart("")),
        TextDelta(0, "Hello"),
        TextDelta(0, " world"),
        PartEnd(0),
        UsageUpdate(Usage(input_tokens=16, output_tokens=300)),
        StreamEnd("end", "stop", Usage(input_tokens=16, output_tokens=300)),
    ]


def test_tool_capture_decodes_one_part_at_a_time() -> None:
    events = decode_all(TOOL_CAPTURE)
    assert events == [
        StreamStart("chatcmpl-D8Z5", "gpt-4.1-nano"),
        PartStart(0, ToolCallPart("call_1", "get_weather", "")),
        ArgumentsDelta(0, '{"city":'),
        ArgumentsDelta(0, '"Paris"}'),
        PartEnd(0),
        PartStart(1, ToolCallPart("call_2", "get_weather", "")),
        ArgumentsDelta(1, '{"city":"Rome"}'),
        PartEnd(1),
        StreamEnd("tool_use", "tool_calls", Usage()),
    ]
    resp = assemble(events)
    assert [p.arguments for p in resp.parts] == ['{"city":"Paris"}', '{"city":"Rome"}']  # type: ignore[union-attr]


def test_deepseek_reasoning_stream_and_named_choice_quirk() -> None:
    frames = [
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"content": None, "reasoning_content": "Think"}),
        chunk({"content": None, "reasoning_content": "ing."}),
        chunk({"content": "Calling."}),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 20, "prompt_cache_hit_tokens": 8,
                                 "completion_tokens_details": {"reasoning_tokens": 12}}),
    ]  # fmt: skip
    events = decode_all(frames)  # no [DONE]: a finish reason is a proper end
    resp = assemble(events)
    assert resp.parts == [ThinkingPart("Thinking."), TextPart("Calling."), ToolCallPart("c1", "f", "{}")]
    assert (resp.finish, resp.raw_finish) == ("tool_use", "stop")
    assert resp.usage == Usage(input_tokens=10, output_tokens=20, cache_read_tokens=8, reasoning_tokens=12)


def test_calls_told_apart_by_id_renamed_back_and_without_ids() -> None:
    req = ir_request(tools=[Tool("a.b")])
    frames = [
        chunk({"tool_calls": [{"index": 0, "id": "x1", "function": {"name": wire_name("a.b"), "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "x1", "function": {"arguments": ""}}]}),  # the same id again
        chunk({"tool_calls": [{"index": 0, "id": "x2", "function": {"name": "g", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "}"}}]}),  # no index at all
        chunk({"tool_calls": [{"index": 1, "function": {"name": "h", "arguments": ""}}]}),  # no id
        chunk({}, "tool_calls"),
        "[DONE]",
    ]  # fmt: skip
    resp = assemble(decode_all(frames, req))
    assert [(p.id, p.name, p.arguments) for p in resp.parts][:2] == [("x1", "a.b", "{}"), ("x2", "g", "{}")]  # type: ignore[union-attr]
    third = resp.parts[2]
    assert isinstance(third, ToolCallPart) and third.name == "h" and third.id.startswith("call_")


def test_refusal_stream_and_usage_on_every_chunk() -> None:
    small = {"prompt_tokens": 5, "completion_tokens": 1}
    frames = [chunk({"role": "assistant", "refusal": "I can"}, usage=small), chunk({"refusal": "not."}, usage=small),
              chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 3}), "[DONE]"]  # fmt: skip
    events = decode_all(frames)
    assert [type(e).__name__ for e in events] == [
        "StreamStart", "PartStart", "TextDelta", "TextDelta", "PartEnd", "UsageUpdate", "StreamEnd"]  # fmt: skip
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish == "refusal" and end.usage.output_tokens == 3


def test_interleaved_arguments_are_refused_not_corrupted() -> None:
    frames = [
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
    ]  # fmt: skip
    with pytest.raises(ApiError) as e:
        decode_all(frames)
    assert e.value.status == 502 and "interleaved" in e.value.message


@pytest.mark.parametrize("frames", [TEXT_CAPTURE[:3], [], ["[DONE]"]])
def test_stream_cut_before_its_end(frames: list[Any]) -> None:
    with pytest.raises(ApiError) as e:
        decode_all(frames)
    assert (e.value.status, e.value.kind) == (502, "server_error") and "cut" in e.value.message


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (
            {"message": "The server had an error", "type": "server_error", "param": None, "code": None},
            500,
            "server_error",
        ),
        (
            {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"},
            429,
            "rate_limit",
        ),
        (
            {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"},
            400,
            "context_too_long",
        ),
        ({"message": "odd"}, 500, "server_error"),
    ],
)
def test_in_band_error_raises(error: dict[str, Any], status: int, kind: str) -> None:
    dec = fmt.stream_decoder(ir_request())
    dec.feed(None, TEXT_CAPTURE[0])
    with pytest.raises(ApiError) as e:
        dec.feed(None, {"error": error})
    assert (e.value.status, e.value.kind, e.value.message) == (status, kind, error["message"])


@pytest.mark.parametrize("frames", [TEXT_CAPTURE, TOOL_CAPTURE], ids=["text", "tools"])
def test_stream_reencodes_to_the_same_events(frames: list[Any]) -> None:
    events = decode_all(frames)
    enc = fmt.stream_encoder(ir_request())
    again = decode_all(parse_sse(b"".join(enc.feed(ev) for ev in events)))
    assert again[1:-1] == [e for e in events[1:-1] if not isinstance(e, UsageUpdate)] + [
        UsageUpdate(events[-1].usage)  # type: ignore[union-attr]
    ]
    assert isinstance(again[0], StreamStart) and again[0].id == "chatcmpl-D8Z5"
    assert again[-1] == events[-1]


def full_stream() -> list[StreamEvent]:
    return [
        StreamStart("msg_x1", "claude-opus-4-8", Usage(input_tokens=1200, cache_read_tokens=1000, output_tokens=1)),
        PartStart(0, ThinkingPart("")),
        ThinkingDelta(0, "Need the "),
        ThinkingDelta(0, "file."),
        SignatureDelta(0, Opaque("anthropic", "sig-abc")),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Reading "),
        TextDelta(1, "it."),
        PartEnd(1),
        PartStart(2, ToolCallPart("toolu_01", "Read", "")),
        ArgumentsDelta(2, '{"file_'),
        ArgumentsDelta(2, 'path": "a.py"}'),
        PartEnd(2),
        PartStart(3, ThinkingPart("", redacted="xx")),
        PartEnd(3),
        PartStart(4, TextPart("")),
        TextDelta(4, "And tests."),
        PartEnd(4),
        PartStart(5, ToolCallPart("toolu_02", "Bash", "")),
        PartEnd(5),
        UsageUpdate(Usage(output_tokens=30)),
        StreamEnd("tool_use", "tool_use", Usage(input_tokens=1200, output_tokens=42, cache_read_tokens=1000, reasoning_tokens=9)),
    ]  # fmt: skip


def test_encoder_chunks() -> None:
    enc = fmt.stream_encoder(ir_request())
    frames = parse_sse(b"".join(enc.feed(ev) for ev in full_stream()))
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("chatcmpl-msg_x1", chunks[0]["created"], "claude-opus-4-8", "chat.completion.chunk")}  # fmt: skip
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1:4] == [
        {"reasoning_content": "Need the "},
        {"reasoning_content": "file."},
        {"content": "Reading "},
    ]
    assert deltas[5] == {
        "tool_calls": [
            {"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "Read", "arguments": ""}}
        ]
    }
    assert deltas[6] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"file_'}}]}
    assert deltas[8] == {"content": "\n\nAnd tests."}
    assert deltas[9]["tool_calls"][0]["index"] == 1
    assert deltas[10] == {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}  # clients parse them
    assert deltas[-1] == {} and chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1000
    )
    resp = assemble(decode_all(frames))
    assert [type(p).__name__ for p in resp.parts] == [
        "ThinkingPart",
        "TextPart",
        "ToolCallPart",
        "TextPart",
        "ToolCallPart",
    ]


def test_encoder_error_frame() -> None:
    enc = fmt.stream_encoder(ir_request())
    frames = parse_sse(enc.feed(full_stream()[0]) + enc.error(ApiError(503, "overloaded", "busy")))
    assert frames[1:] == [
        {"error": {"message": "busy", "type": "server_error", "param": None, "code": "overloaded"}},
        "[DONE]",
    ]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "etype", "code"),
    [
        ("invalid_request", 400, "invalid_request_error", None),
        ("authentication", 401, "authentication_error", "invalid_api_key"),
        ("permission", 403, "permission_error", None),
        ("not_found", 404, "not_found_error", None),
        ("rate_limit", 429, "rate_limit_error", "rate_limit_exceeded"),
        ("overloaded", 503, "server_error", "overloaded"),
        ("server_error", 500, "server_error", None),
        ("timeout", 504, "server_error", "timeout"),
        ("budget_exceeded", 402, "budget_exceeded", "budget_exceeded"),
        ("all_providers_failed", 503, "all_providers_failed", "all_providers_failed"),
        ("context_too_long", 400, "invalid_request_error", "context_length_exceeded"),
    ],
)
def test_errors_both_ways(kind: Any, status: int, etype: str, code: str | None) -> None:
    body = fmt.encode_error(ApiError(status, kind, "why"))
    assert body == {"error": {"message": "why", "type": etype, "param": None, "code": code}}
    back = fmt.decode_error(status, body, {})
    assert (back.kind, back.status, back.message) == (kind, status, "why")


def test_error_details_are_kept() -> None:
    err = ApiError(402, "budget_exceeded", "daily budget spent", details={"scope": "day", "spent_usd": 15.2})
    assert fmt.encode_error(err)["error"]["details"] == {"scope": "day", "spent_usd": 15.2}
    upstream = {
        "error": {
            "message": "Invalid 'stop'",
            "type": "invalid_request_error",
            "param": "stop",
            "code": "array_above_max_length",
        }
    }
    passed = fmt.decode_error(400, upstream, {})
    assert fmt.encode_error(passed) == upstream


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "authentication",
        ),
        (
            429,
            {
                "error": {
                    "message": "Request too large for gpt-4o",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            "rate_limit",
        ),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            "rate_limit",
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "type": "invalid_request_error",
                    "code": None,
                }
            },
            "context_too_long",
        ),
        (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, "context_too_long"),
        (404, {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}}, "not_found"),
        (
            400,
            {"error": {"message": "Unsupported parameter: 'max_tokens'", "code": "unsupported_parameter"}},
            "invalid_request",
        ),
        (
            503,
            {"error": {"message": "The engine is currently overloaded", "type": "server_error"}},
            "overloaded",
        ),
        (502, {"detail": "Bad gateway"}, "server_error"),
        (422, {"error": "bad field"}, "invalid_request"),
        (413, "not json", "request_too_large"),
        (402, {"error": {"message": "Insufficient credits"}}, "rate_limit"),
    ],
)
def test_decode_error(status: int, body: Any, kind: str) -> None:
    err = fmt.decode_error(status, body, {})
    assert (err.status, err.kind) == (status, kind)
    assert err.message and err.upstream == body


def test_quota_code_is_kept_in_details() -> None:
    body = {
        "error": {
            "message": "quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    assert fmt.decode_error(429, body, {}).details == {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After": "7"}, 7.0),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "12ms",
          "x-ratelimit-remaining-requests": "59"}, 360.0),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
        ({"x-ratelimit-reset-requests": "12ms"}, 0.012),
        ({"x-ratelimit-reset-requests": "soon"}, None),
        ({"retry-after": "never"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    got = retry_after(headers)
    assert got == seconds if seconds is None else got == pytest.approx(seconds)


def test_retry_after_http_date() -> None:
    got = retry_after({"retry-after": formatdate(time() + 30, usegmt=True)})
    assert got is not None and 25 <= got <= 31


# --- IR -> wire -> IR for everything Chat can say ----------------------------------------------------

ident = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,12}", fullmatch=True)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
some_text = st.text(max_size=8)
b64 = st.binary(min_size=1, max_size=9).map(lambda b: base64.b64encode(b).decode())
image_part = st.builds(
    ImagePart,
    st.sampled_from(["image/png", "image/jpeg"]),
    b64,
    st.none(),
    st.sampled_from([None, "low", "auto"]),
) | st.builds(
    lambda u, d: ImagePart(url=f"https://example.com/{u}.png", detail=d),
    ident,
    st.sampled_from([None, "high"]),
)
json_values = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6)
arguments = st.dictionaries(ident, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())


@st.composite
def conversations(draw: st.DrawFn, tools: list[str]) -> list[Message]:
    messages: list[Message] = []
    pending: list[tuple[str, str]] = []
    for t in range(draw(st.integers(1, 4))):
        if pending:
            results = [ToolResultPart(cid, draw(st.lists(st.builds(TextPart, words), max_size=1)), name=name)
                       for cid, name in pending]  # fmt: skip
            messages.append(Message("user", list(results)))
        if messages and draw(st.booleans()):
            messages.append(Message("system", [TextPart(draw(words))]))
        if not pending or draw(st.booleans()):
            parts = draw(st.lists(st.builds(TextPart, some_text) | image_part, min_size=1, max_size=3))
            messages.append(Message("user", parts))
        if t > 0 and draw(st.booleans()):
            pending = []
            break
        answer: list[Any] = draw(st.lists(st.builds(TextPart, words), max_size=1))
        names = st.sampled_from(tools) if tools else ident
        pending = [(f"call_{t}{k}_{draw(ident)}", draw(names)) for k in range(draw(st.integers(0, 2)))]
        answer += [ToolCallPart(cid, name, draw(arguments)) for cid, name in pending]
        messages.append(Message("assistant", answer or [TextPart(draw(words))]))
    if pending:
        messages.append(Message("user", [ToolResultPart(cid, [], name=name) for cid, name in pending]))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> Request:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = draw(st.lists(st.builds(Tool, ident, st.none() | words, st.just(schema), st.none() | st.booleans()),
                          max_size=2, unique_by=lambda t: t.name))  # fmt: skip
    choices: list[Any] = [st.none()]
    if tools:
        parallel = st.none() | st.booleans()
        choices += [st.builds(ToolChoice, st.sampled_from(["auto", "required"]), st.none(), parallel),
                    st.just(ToolChoice("none")), st.builds(ToolChoice, st.just("tool"), st.just(tools[0].name), parallel)]  # fmt: skip
    effort = draw(st.sampled_from([None, "none", "minimal", "low", "high", "xhigh"]))
    return Request(
        model="gpt-4.1",
        messages=draw(conversations([t.name for t in tools])),
        system=draw(st.lists(st.builds(TextPart, words), max_size=1)),
        tools=tools,
        tool_choice=draw(st.one_of(choices)),
        max_tokens=draw(st.none() | st.integers(1, 100_000)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        stop=draw(st.lists(words, max_size=4)),
        stream=draw(st.booleans()),
        reasoning=None if effort is None else Reasoning(effort != "none", effort),  # type: ignore[arg-type]
        user=draw(st.none() | ident),
        source_format="openai_chat",
    )


@settings(max_examples=150, deadline=None)
@given(requests())
def test_ir_round_trips_through_the_wire(req: Request) -> None:
    wire = orjson.loads(orjson.dumps(fmt.encode_request(req, req.model)))
    assert fmt.decode_request(wire) == req


# --- the real SDK on what we write ------------------------------------------------------------------


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def streaming(
    payload: bytes, seen: list[Any] | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append((dict(request.headers), await request.json()))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (payload[i : i + 41] for i in range(0, len(payload), 41)):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    return handler


TOOLS = [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}}},
         {"type": "function", "function": {"name": "Bash", "parameters": {"type": "object", "properties": {}}}}]  # fmt: skip


async def test_sdk_stream_helper_accumulates_tool_calls() -> None:
    enc = fmt.stream_encoder(ir_request())
    seen: list[Any] = []
    async with serving(streaming(b"".join(enc.feed(ev) for ev in full_stream()), seen)) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        async with client.chat.completions.stream(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            tools=TOOLS,  # type: ignore[list-item]
        ) as s:
            done = await s.get_final_completion()
        await client.close()
    msg = done.choices[0].message
    assert msg.content == "Reading it.\n\nAnd tests."
    calls = msg.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("toolu_01", "Read", '{"file_path": "a.py"}'), ("toolu_02", "Bash", "{}")]  # fmt: skip
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (1200, 42)
    assert done.usage.prompt_tokens_details.cached_tokens == 1000  # type: ignore[union-attr]
    assert getattr(msg, "reasoning_content", None) == "Need the file."
    headers, body = seen[0]
    assert headers.get("Authorization") == "Bearer x" and body["stream"] is True
    assert fmt.decode_request(body).stream


async def test_sdk_create_stream_reads_every_chunk() -> None:
    enc = fmt.stream_encoder(ir_request())
    events = [StreamStart("abc", "gpt-x"), PartStart(0, TextPart("")), TextDelta(0, "Hi"), PartEnd(0),
              StreamEnd("length", None, Usage(input_tokens=3, output_tokens=1))]  # fmt: skip
    async with serving(streaming(b"".join(enc.feed(ev) for ev in events))) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [c async for c in stream]
        await client.close()
    assert {c.id for c in chunks} == {"chatcmpl-abc"}
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["", "Hi", None]
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4


async def test_sdk_parses_the_encoded_response_and_errors() -> None:
    resp = Response("msg_y", "claude-opus-4-8", [ThinkingPart("hm"), TextPart("Hi."), ToolCallPart("c1", "f", "not json")],
                    "tool_use", "tool_use", Usage(input_tokens=50, output_tokens=5, cache_write_tokens=20))  # fmt: skip
    answers: list[tuple[int, Any, dict[str, str]]] = [
        (200, fmt.encode_response(resp, ir_request()), {}),
        (429, fmt.encode_error(ApiError(429, "rate_limit", "slow down")), {"retry-after": "0"}),
        (402, fmt.encode_error(ApiError(402, "budget_exceeded", "daily budget spent")), {}),
        (400, fmt.encode_error(ApiError(400, "context_too_long", "too long")), {}),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body, headers = answers.pop(0)
        return web.json_response(body, status=status, headers=headers)

    async with serving(handler) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        kw: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        done = await client.chat.completions.create(**kw)
        msg = done.choices[0].message
        assert (msg.content, msg.tool_calls[0].function.arguments) == ("Hi.", "not json")  # type: ignore[index, union-attr]
        assert done.choices[0].finish_reason == "tool_calls"
        assert done.usage.prompt_tokens_details.cache_write_tokens == 20  # type: ignore[union-attr]
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**kw)
        with pytest.raises(openai.APIStatusError) as e:
            await client.chat.completions.create(**kw)
        assert e.value.status_code == 402 and "daily budget spent" in str(e.value)
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(**kw)
        assert bad.value.code == "context_length_exceeded"
        await client.close()


async def test_sdk_raises_the_encoded_in_stream_error() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = enc.feed(full_stream()[0]) + enc.error(ApiError(503, "overloaded", "upstream busy"))
    async with serving(streaming(payload)) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(openai.APIError) as e:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for _ in stream:
                pass
        await client.close()
    assert "upstream busy" in str(e.value)


# --- the fake upstream judges the encoder's output ----------------------------------------------------

KEY = "sk-proj-test-key-0000"
HEADERS = {"authorization": f"Bearer {KEY}"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    f = await FakeOpenAI(key=KEY).start()
    yield f
    await f.close()


async def post(fake: FakeOpenAI, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.url}/v1/chat/completions", json=body, headers=HEADERS if headers is None else headers
        ) as r,
    ):
        raw = await r.read()
        try:
            return r.status, json.loads(raw), raw
        except ValueError:
            return r.status, None, raw


def decode_stream(raw: bytes, req: Request) -> list[StreamEvent]:
    parser, dec = SSEParser(), fmt.stream_decoder(req)
    events: list[StreamEvent] = []
    for f in parser.feed(raw) + parser.close():
        events += dec.feed(f.event, f.data if f.data == "[DONE]" else orjson.loads(f.data))
    return events + dec.close()


async def test_fake_takes_foreign_history_and_streams_back(fake: FakeOpenAI) -> None:
    req = anthropic_shaped()
    fake.script.append(Answer(text="Fixed.", thinking="Tests fail.", tool_calls=[ToolCall(wire_name("mcp.run.tests"), {"k": 1})],
                              input_tokens=300, cache_read_tokens=200, output_tokens=25, reasoning_tokens=6, chunks=4))  # fmt: skip
    status, _, raw = await post(fake, fmt.encode_request(req, "gpt-4.1"))
    assert status == 200, raw
    events = decode_stream(raw, req)
    resp = assemble(events)
    assert resp.parts[:2] == [ThinkingPart("Tests fail."), TextPart("Fixed.")]
    call = resp.parts[2]
    assert isinstance(call, ToolCallPart) and (call.name, json.loads(call.arguments)) == (
        "mcp.run.tests",
        {"k": 1},
    )
    # A named forced choice: the fake answers "stop", as OpenAI does, and it is still tool use.
    assert (resp.finish, resp.raw_finish) == ("tool_use", "stop")
    assert resp.usage == Usage(input_tokens=300, output_tokens=25, cache_read_tokens=200, reasoning_tokens=6)
    assert fake.last.body["stream_options"] == {"include_usage": True}


async def test_fake_round_trip_of_a_client_body(fake: FakeOpenAI) -> None:
    fake.script.append(Answer(text="Paris is cooler.", input_tokens=40, output_tokens=6))
    req = fmt.decode_request(SDK_HISTORY)
    status, body, _ = await post(fake, fmt.encode_request(req, "gpt-4.1"))
    assert status == 200
    resp = fmt.decode_response(body, req)
    assert resp.parts == [TextPart("Paris is cooler.")] and resp.finish == "end"
    client_body = fmt.encode_response(resp, req)
    assert client_body["choices"][0]["message"]["content"] == "Paris is cooler."


async def test_fake_takes_the_reasoning_model_body(fake: FakeOpenAI) -> None:
    req = anthropic_shaped()
    req.temperature = None
    status, _, raw = await post(fake, fmt.encode_request(req, "o3"))
    assert status == 400 and b"'stop' is not supported" in raw  # o3 takes no stop sequences: adapt's job
    req.stop = []
    status, _, raw = await post(fake, fmt.encode_request(req, "o3"))
    assert status == 200, raw
    assert fake.last.body["reasoning_effort"] == "high"


PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def valid() -> dict[str, Any]:
    """The documented request, made acceptable: its "iVBORw0KGgo..." is no base64."""
    drop = ("stream_options", "reasoning_effort")  # gpt-4.1 is no reasoning model: it refuses the effort
    body = copy.deepcopy({k: v for k, v in DOC_REQUEST.items() if k not in drop} | {"stream": False})
    body["messages"][1]["content"][1]["image_url"]["url"] = f"data:image/png;base64,{PNG_B64}"
    return body


def broken(path: str, value: Any) -> dict[str, Any]:
    """The valid body with one value replaced, at a dotted path."""
    body = valid()
    *keys, last = path.split(".")
    target: Any = body
    for k in keys:
        target = target[int(k)] if isinstance(target, list) else target[k]
    target[int(last) if isinstance(target, list) else last] = value
    return body


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in valid().items() if k != key}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (broken("messages", []), "[] is too short - 'messages'"),
        (broken("messages.1.role", "robot"), "Invalid value: 'robot'. Supported values are"),
        (broken("top_k", 40), "Unrecognized request argument supplied: top_k"),
        (
            broken("stop", ["a", "b", "c", "d", "e"]),
            "array too long. Expected an array with maximum length 4",
        ),
        (
            broken("model", "o3-mini") | {"max_tokens": 10, "temperature": None},
            "Unsupported parameter: 'max_tokens' is not supported with this model.",
        ),
        (
            broken("model", "gpt-5.1") | {"temperature": 0.7},
            "Unsupported value: 'temperature' does not support 0.7",
        ),
        (
            broken("messages.2.tool_calls.0.id", "call_" + "x" * 40),
            "string too long. Expected a string with maximum length 40",
        ),
        (
            broken("messages.3", {"role": "user", "content": "skip the tool"}),
            "must be followed by tool messages responding to each 'tool_call_id'",
        ),
        (
            broken("messages.2", {"role": "assistant", "content": "no calls"}),
            "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
        ),
        (valid() | {"messages": valid()["messages"][:3]}, "must be followed by tool messages"),
        (
            broken("messages.1.content.1.image_url.url", "data:image/png;base64,***"),
            "Expected a base64-encoded data URL",
        ),
        (broken("messages.1.content.1.image_url.url", "ftp://x"), "Invalid image URL"),
        (broken("tools.0.function.name", "get.weather"), "string does not match pattern"),
        (
            broken("tools.0.function.parameters", {"type": "string"}),
            "schema must be a JSON Schema of 'type: \"object\"'",
        ),
        (without("tools"), "only allowed when 'tools' are specified"),
        (
            broken("tool_choice", {"type": "function", "function": {"name": "nope"}}),
            "function 'nope' is not among the 'tools'",
        ),
        (broken("temperature", 2.5), "Invalid 'temperature'"),
        (broken("stream_options", {"include_usage": True}), "only allowed when 'stream' is enabled"),
        (
            broken("messages.3.content", [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]),
            "Image URLs are only allowed for messages with role 'user'",
        ),
        (
            broken("messages.2.reasoning_content", "x"),
            "Additional properties are not allowed ('reasoning_content' was unexpected)",
        ),
        (valid(), ""),  # content null beside tool_calls is fine
    ],
)
async def test_fake_rejects_like_the_api(fake: FakeOpenAI, body: dict[str, Any], fragment: str) -> None:
    status, answer, raw = await post(fake, body)
    if not fragment:
        assert status == 200, raw
        return
    assert status == 400, raw
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert fragment in answer["error"]["message"], answer


async def test_fake_auth_faults_and_retry_hints(fake: FakeOpenAI) -> None:
    status, body, raw = await post(fake, valid(), {"authorization": "Bearer sk-wrong-key-1234"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key" and b"sk-wrong-key-1234" not in raw
    err = fmt.decode_error(status, body, {})
    assert err.kind == "authentication"
    status, body, _ = await post(fake, valid(), {})
    assert status == 401 and "didn't provide an API key" in body["error"]["message"]
    fake.script.append(
        Fault(
            429,
            "Rate limit reached for gpt-4.1",
            {"x-ratelimit-reset-tokens": "1m30s", "x-ratelimit-remaining-tokens": "0"},
        )
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/v1/chat/completions", json=valid(), headers=HEADERS) as r,
    ):
        err = fmt.decode_error(r.status, await r.json(), r.headers)
    assert (err.kind, err.retry_after_s) == ("rate_limit", 90.0)
    fake.script.append(Fault(429, "You exceeded your current quota"))
    status, body, _ = await post(fake, valid())
    assert fmt.decode_error(status, body, {}).details == {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
    fake.script.append(Answer(malformed=True))
    status, body, _ = await post(fake, valid())
    assert status == 200 and body is None


async def test_fake_streams_usage_only_when_asked(fake: FakeOpenAI) -> None:
    body = valid() | {"stream": True}
    status, _, raw = await post(fake, body)
    assert status == 200 and b'"usage"' not in raw and raw.endswith(b"data: [DONE]\n\n")
    resp = assemble(decode_stream(raw, ir_request()))
    assert resp.usage == Usage() and resp.parts == [TextPart("Hello from the fake upstream.")]


@pytest.mark.parametrize(
    ("action", "kind"), [("cut", "server_error"), ("error", "server_error"), ("malformed", None)]
)
async def test_fake_stream_faults_surface_as_api_errors(
    fake: FakeOpenAI, action: str, kind: str | None
) -> None:
    fake.script.append(
        Answer(text="partial answer", fault=StreamFault(after_frames=2, action=action, status=500))
    )
    req = ir_request(stream=True)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.url}/v1/chat/completions", json=fmt.encode_request(req, "gpt-4.1"), headers=HEADERS
        ) as r,
    ):
        raw = b""
        try:
            async for piece in r.content.iter_any():
                raw += piece
        except aiohttp.ClientPayloadError:
            pass
    if kind is None:
        with pytest.raises(orjson.JSONDecodeError):
            decode_stream(raw, req)
        return
    with pytest.raises(ApiError) as e:
        decode_stream(raw, req)
    assert e.value.kind == kind and e.value.status in (500, 502)


async def test_the_sdk_reads_the_fake_too(fake: FakeOpenAI) -> None:
    """The fake's hand-written frames are what the real SDK parses, so tests against it mean something."""
    fake.script.append(
        Answer(text="Checking.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_7")])
    )
    fake.script.append(Answer(text="18C."))
    client = openai.AsyncOpenAI(base_url=f"{fake.url}/v1", api_key=KEY, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    async with client.chat.completions.stream(
        model="gpt-4.1", messages=messages, tools=tools, stream_options={"include_usage": True}
    ) as s:
        done = await s.get_final_completion()
    msg = done.choices[0].message
    assert msg.content == "Checking." and msg.tool_calls is not None
    assert (msg.tool_calls[0].id, msg.tool_calls[0].function.arguments) == ("call_7", '{"city": "Paris"}')  # type: ignore[union-attr]
    assert done.usage is not None and done.usage.total_tokens == 19
    messages += [msg.model_dump(), {"role": "tool", "tool_call_id": "call_7", "content": "18C"}]
    req = fmt.decode_request({"model": "gpt-4.1", "messages": messages, "tools": tools})
    again = await client.chat.completions.create(**fmt.encode_request(req, "gpt-4.1"))
    assert again.choices[0].message.content == "18C."
    assert fake.last.body["messages"][1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}  # fmt: skip
    await client.close()
