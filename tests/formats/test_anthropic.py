"""Anthropic Messages: wire <-> IR both ways, streams, errors, the real SDK on our output,
and the fake upstream judging what the encoder writes."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats import anthropic as fmt
from daemon.formats.anthropic_outbound import thinking_tier
from daemon.formats.anthropic_response import decode_usage, encode_usage, tool_name
from daemon.formats.ids import for_anthropic
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
from tests.fakes.anthropic import FakeAnthropic, validate
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall

# --- fixtures from WIRE_FORMATS.md and CLIENTS.md ------------------------------------------

DOC_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather in Paris? Describe the image."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo..."}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "User wants weather...", "signature": "EqQBCgIYAhIM..."},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01D7FLrfh4GYq7yT1ULFeyMV", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01D7FLrfh4GYq7yT1ULFeyMV",
             "content": [{"type": "text", "text": "18C, cloudy"}], "is_error": False},
            {"type": "text", "text": "Also summarise."}]},
    ],
    "tools": [{"name": "get_weather", "description": "Get weather",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": False},
    "stop_sequences": ["END"], "temperature": 0.7, "metadata": {"user_id": "hashed-123"}, "stream": False,
}  # fmt: skip

CLAUDE_CODE: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 64000,
    "stream": True,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "List the files."}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should run ls.", "signature": "sig-1"},
            {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.py\nb.py",
             "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Two files.", "signature": "sig-2"},
            {"type": "text", "text": "a.py and b.py."}]},
        {"role": "system", "content": "The user switched to plan mode."},
        {"role": "user", "content": "Now read a.py"},
    ],
    "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"command": {"type": "string"}}, "required": ["command"], "additionalProperties": False}}],
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "metadata": {"user_id": json.dumps({"device_id": "abc", "session_id": "s-1"})},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
}  # fmt: skip

DOC_RESPONSE: dict[str, Any] = {
    "id": "msg_011CcnjVcgeY1HxJJJBmgZBe", "type": "message", "role": "assistant", "model": "claude-opus-4-7",
    "content": [
        {"type": "thinking", "thinking": "...", "signature": "EqQB..."},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "name": "get_weather", "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None, "stop_details": None,
    "usage": {"input_tokens": 21, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
              "output_tokens_details": {"thinking_tokens": 0}, "service_tier": "standard"},
}  # fmt: skip

# WIRE_FORMATS §1.4, the real capture.
CAPTURE: list[tuple[str, dict[str, Any]]] = [
    ("message_start", {"type": "message_start", "message": {
        "model": "claude-sonnet-4-5-20250929", "id": "msg_01GE2RKp1VYsPzdFs3sS9z5S", "type": "message",
        "role": "assistant", "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 565, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 7}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "I'll update the issue list for"}}),
    ("ping", {"type": "ping"}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "name": "updateIssueList", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ""}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"input_tokens": 565, "output_tokens": 48}}),
    ("message_stop", {"type": "message_stop"}),
]  # fmt: skip


def ir_request(**kw: Any) -> Request:
    base: dict[str, Any] = {"model": "m", "messages": [Message("user", [TextPart("hi")])]}
    return Request(**{**base, **kw})


def decode_all(frames: list[tuple[str | None, Any]], req: Request | None = None) -> list[StreamEvent]:
    dec = fmt.stream_decoder(req or ir_request())
    events: list[StreamEvent] = []
    for event, data in frames:
        events += dec.feed(event, data)
    return events + dec.close()


def parse_sse(raw: bytes) -> list[tuple[str | None, Any]]:
    parser = SSEParser()
    frames = parser.feed(raw) + parser.close()
    return [(f.event, orjson.loads(f.data)) for f in frames]


def assemble(events: list[StreamEvent]) -> Response:
    a = StreamAssembler()
    for ev in events:
        a.feed(ev)
    return a.response()


# --- requests: wire -> IR -> wire ---------------------------------------------------------


def test_documented_request_decodes_and_round_trips() -> None:
    req = fmt.decode_request(DOC_REQUEST)
    assert req.source_format == "anthropic" and req.model == "claude-sonnet-4-5" and req.max_tokens == 1024
    assert req.system == [TextPart("You are terse.", cache_control={"type": "ephemeral", "ttl": "5m"})]
    user, assistant, results = req.messages
    assert user.parts[1] == ImagePart(media_type="image/png", data="iVBORw0KGgo...")
    assert assistant.parts == [
        ThinkingPart("User wants weather...", opaque=Opaque("anthropic", "EqQBCgIYAhIM...")),
        TextPart("Let me check."),
        ToolCallPart("toolu_01D7FLrfh4GYq7yT1ULFeyMV", "get_weather", '{"city":"Paris"}'),
    ]
    assert results.parts == [
        ToolResultPart("toolu_01D7FLrfh4GYq7yT1ULFeyMV", [TextPart("18C, cloudy")]),
        TextPart("Also summarise."),
    ]
    assert req.tools == [Tool("get_weather", "Get weather", DOC_REQUEST["tools"][0]["input_schema"])]
    assert req.tool_choice == ToolChoice("auto", parallel=True)
    assert (req.stop, req.temperature, req.user, req.stream) == (["END"], 0.7, "hashed-123", False)

    expected = copy.deepcopy(DOC_REQUEST)
    # Normalised on the way: a lone plain-text result goes as a string; is_error false is the default.
    result = expected["messages"][2]["content"][0]
    result["content"] = "18C, cloudy"
    del result["is_error"]
    assert fmt.encode_request(req, "claude-sonnet-4-5") == expected


def test_claude_code_request_round_trips_with_system_messages_in_place() -> None:
    req = fmt.decode_request(CLAUDE_CODE)
    assert req.messages[4] == Message("system", [TextPart("The user switched to plan mode.")])
    assert req.messages[2].parts == [
        ToolResultPart("toolu_01A", [TextPart("a.py\nb.py")], cache_control={"type": "ephemeral"})
    ]
    assert req.reasoning == Reasoning(True, "high")
    assert req.user == CLAUDE_CODE["metadata"]["user_id"] and req.stream is True

    expected = copy.deepcopy(CLAUDE_CODE)
    del expected["context_management"]  # a beta hint the IR does not carry
    expected["messages"][0]["content"] = "List the files."  # one plain text block goes as a string
    assert fmt.encode_request(req, "claude-opus-4-8") == expected


def test_native_system_message_never_parts_calls_from_results() -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]}  # fmt: skip
    roles = [m["role"] for m in fmt.encode_request(fmt.decode_request(body), "m")["messages"]]
    assert roles == ["user", "assistant", "user", "system"]


def test_stream_flag_and_model_from_the_route_win() -> None:
    req = fmt.decode_request({**DOC_REQUEST, "stream": True}, model="routed", stream=False)
    assert (req.model, req.stream) == ("routed", False)


def test_count_tokens_body_has_no_max_tokens() -> None:
    body = {k: v for k, v in DOC_REQUEST.items() if k not in ("max_tokens", "stream", "temperature")}
    req = fmt.decode_request(body)
    assert req.max_tokens is None and req.stream is False


@pytest.mark.parametrize(
    ("thinking", "output_config", "reasoning"),
    [
        ({"type": "enabled", "budget_tokens": 31999}, None, Reasoning(True, None, 31999)),
        ({"type": "adaptive", "display": "omitted"}, {"effort": "max"}, Reasoning(True, "max", None, False)),
        ({"type": "disabled"}, None, Reasoning(False)),
        (None, {"effort": "low"}, Reasoning(True, "low")),
        (None, {"format": {"type": "json_schema", "schema": {}}}, None),
    ],
)
def test_thinking_and_effort_decode(thinking: Any, output_config: Any, reasoning: Reasoning | None) -> None:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if thinking is not None:
        body["thinking"] = thinking
    if output_config is not None:
        body["output_config"] = output_config
    assert fmt.decode_request(body).reasoning == reasoning


def test_sdk_dumped_blocks_with_null_extras_decode() -> None:
    """What ``block.model_dump()`` gives back from the SDK (tests/e2e does exactly this)."""
    body = {"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"citations": None, "text": "Let me check.", "type": "text"},
            {"id": "toolu_1", "caller": None, "input": {"city": "Paris"}, "name": "get_weather", "type": "tool_use",
             "toolset_name": None}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]},
    ]}  # fmt: skip
    assert fmt.decode_request(body).messages[1].parts == [
        TextPart("Let me check."),
        ToolCallPart("toolu_1", "get_weather", '{"city":"Paris"}'),
    ]


# --- requests: IR from other formats -> a body Anthropic accepts ----------------------------


def openai_shaped() -> Request:
    """History as the OpenAI Chat decoder would hand it over, with every trap at once."""
    return Request(
        model="gpt-4.1",
        source_format="openai_chat",
        temperature=1.4,
        top_p=0.9,
        messages=[
            Message("system", [TextPart("Be brief.")]),
            Message("assistant", [TextPart("Earlier answer.")]),
            Message("user", [TextPart("Weather in Paris and Rome?"), TextPart("  ")]),
            Message("assistant", [
                ThinkingPart("gemini thoughts", opaque=Opaque("foreign:up-g", "gsig")),
                TextPart(""),
                ToolCallPart("call:1/a", "get_weather", '{"city":"Paris"}'),
                ToolCallPart("call:2", "get.weather", "not json"),
            ]),
            Message("user", [ToolResultPart("call:1/a", [TextPart("18C")])]),
            Message("system", [TextPart("Answer in French.")]),
            Message("user", [
                TextPart("And Rome?"),
                ToolResultPart("call:2", [TextPart("20C")], is_error=True),
                ImagePart(url="data:image/png;base64,iVBORw0KGgoAAA"),
            ]),
        ],
        tools=[
            Tool("get_weather", "Get weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
            Tool("get.weather", None, None),
        ],
        tool_choice=ToolChoice("required"),
        reasoning=Reasoning(effort="high"),
    )  # fmt: skip


def test_foreign_history_is_made_acceptable() -> None:
    out = fmt.encode_request(openai_shaped(), "claude-sonnet-4-5")
    renamed = tool_name("get.weather")
    assert renamed != "get.weather" and renamed.startswith("get_weather_")
    c1, c2 = for_anthropic("call:1/a"), for_anthropic("call:2")
    assert out == {
        "model": "claude-sonnet-4-5",
        # Thinking could not stay on (the calls carry no Anthropic signature), so the plain default.
        "max_tokens": 8192,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}],
        "messages": [
            {"role": "user", "content": "(continued)"},
            {"role": "assistant", "content": "Earlier answer."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": c1, "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": c2, "name": renamed, "input": {"_raw": "not json"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": c1, "content": "18C"},
                {"type": "tool_result", "tool_use_id": c2, "content": "20C", "is_error": True},
                {"type": "text", "text": "And Rome?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAA"}}]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Get weather",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": renamed, "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "any"},
        "temperature": 1,
        "stream": False,
    }  # fmt: skip


def signed_turn(**kw: Any) -> Request:
    return ir_request(
        messages=[
            Message("user", [TextPart("go")]),
            Message("assistant", [
                ThinkingPart("plan", opaque=Opaque("anthropic", "sig")),
                ToolCallPart("toolu_1", "f", "{}"),
            ]),
            Message("user", [ToolResultPart("toolu_1", [TextPart("ok")]), TextPart("go on")]),
        ],
        tools=[Tool("f")],
        **kw,
    )  # fmt: skip


def test_signed_history_keeps_thinking_and_unforces_the_tool_choice() -> None:
    req = signed_turn(
        reasoning=Reasoning(budget_tokens=50_000),
        max_tokens=20_000,
        tool_choice=ToolChoice("tool", name="f", parallel=False),
        temperature=0.2,
        top_k=5,
        top_p=0.97,
    )
    out = fmt.encode_request(req, "claude-sonnet-4-5")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 10_000}  # below max_tokens, room to answer
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "temperature" not in out and "top_k" not in out and out["top_p"] == 0.97
    assert out["messages"][1]["content"][0] == {"type": "thinking", "thinking": "plan", "signature": "sig"}


@pytest.mark.parametrize(
    ("model", "reasoning", "max_tokens", "thinking", "effort"),
    [
        ("claude-opus-4-8", Reasoning(effort="medium"), None, {"type": "adaptive"}, "medium"),
        ("claude-opus-4-8", Reasoning(effort="minimal", include_thoughts=True), 4000,
         {"type": "adaptive", "display": "summarized"}, "low"),
        ("claude-opus-4-8", Reasoning(effort="none"), None, None, None),
        ("claude-sonnet-4-5-20250929", Reasoning(effort="high"), None, {"type": "enabled", "budget_tokens": 16384}, None),
        ("claude-3-7-sonnet-latest", Reasoning(budget_tokens=500), 4000, {"type": "enabled", "budget_tokens": 1024}, None),
        ("claude-sonnet-4-5", Reasoning(budget_tokens=4000), 1024, None, None),
        ("claude-3-5-haiku-latest", Reasoning(effort="high"), None, None, None),
        ("claude-opus-4-8", Reasoning(enabled=False, effort="low"), None, None, "low"),
    ],
)  # fmt: skip
def test_reasoning_encodes_per_model(
    model: str, reasoning: Reasoning, max_tokens: int | None, thinking: Any, effort: str | None
) -> None:
    out = fmt.encode_request(
        signed_turn(reasoning=reasoning, max_tokens=max_tokens, source_format="openai_chat"), model
    )
    assert out.get("thinking") == thinking
    assert out.get("output_config", {}).get("effort") == effort
    assert out["max_tokens"] == (max_tokens or (32000 if thinking else 8192))


def test_disabled_thinking_is_sent_only_for_a_client_that_sent_it() -> None:
    assert "thinking" not in fmt.encode_request(signed_turn(reasoning=Reasoning(False)), "claude-opus-4-8")
    native = signed_turn(reasoning=Reasoning(False), source_format="anthropic")
    assert fmt.encode_request(native, "claude-opus-4-8")["thinking"] == {"type": "disabled"}


def test_thinking_is_stripped_from_a_final_prefill_when_off() -> None:
    req = ir_request(
        messages=[
            Message("user", [TextPart("hi")]),
            Message(
                "assistant", [ThinkingPart("x", opaque=Opaque("anthropic", "s")), TextPart("The answer is")]
            ),
        ]
    )
    assert fmt.encode_request(req, "claude-opus-4-8")["messages"][-1] == {
        "role": "assistant",
        "content": "The answer is",
    }


@pytest.mark.parametrize(
    ("model", "tier"),
    [("claude-3-5-sonnet-20241022", "none"), ("claude-3-7-sonnet-20250219", "budget"),
     ("claude-sonnet-4-20250514", "budget"), ("claude-opus-4-1", "budget"), ("claude-haiku-4-5", "budget"),
     ("claude-opus-4-6", "adaptive"), ("claude-sonnet-4-7", "adaptive"), ("claude-opus-5", "adaptive")],
)  # fmt: skip
def test_thinking_tiers(model: str, tier: str) -> None:
    assert thinking_tier(model) == tier


def test_system_only_and_images() -> None:
    req = ir_request(
        source_format="openai_chat",
        messages=[
            Message("system", [TextPart("You are a poet.")]),
            Message(
                "user", [ImagePart(data="/9j/4AAQ"), ImagePart(url="https://x.test/a.png", detail="high")]
            ),
        ],
    )
    out = fmt.encode_request(req, "claude-opus-4-8")
    assert out["system"] == "You are a poet."
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]  # fmt: skip
    only_system = ir_request(source_format="openai_chat", messages=[Message("system", [TextPart("Hi.")])])
    assert fmt.encode_request(only_system, "m")["messages"] == [{"role": "user", "content": "(continued)"}]


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (ir_request(messages=[Message("user", [ImagePart(media_type="image/bmp", data="Qk0")])]),
         "messages[0].parts[0]: Anthropic takes JPEG, PNG, GIF and WebP images only, not image/bmp"),
        (ir_request(tools=[Tool("f", parameters={"type": "array"})]),
         "tools[0] (f): Anthropic takes object input schemas only, not type 'array'"),
        (ir_request(messages=[Message("user", [ToolCallPart("c", "f")])]),
         "messages[0].parts[0]: a user message cannot carry a tool_call part"),
    ],
)  # fmt: skip
def test_unencodable_ir_is_a_clear_400(req: Request, message: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.encode_request(req, "claude-opus-4-8")
    assert (e.value.status, e.value.message) == (400, message)


# --- invalid client input ---------------------------------------------------------------------


def user(*blocks: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": list(blocks)}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body: expected a JSON object, got an array"),
        ({"model": "m"}, "messages: required"),
        ({"model": "m", "messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model: expected a string, got null"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]},
         "messages[0].role: expected 'user', 'assistant' or 'system', got 'tool'"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]},
         "messages[0].content: expected a string or an array of blocks, got a number"),
        (user({"type": "foo"}), "messages[0].content[0]: unknown block type 'foo'"),
        (user({"type": "document", "source": {}}),
         "messages[0].content[0]: 'document' blocks cannot be translated to other providers"),
        (user({"type": "tool_use", "id": "a", "name": "f", "input": {}}),
         "messages[0].content[0]: a 'tool_use' block belongs in an assistant message"),
        (user({"type": "text"}), "messages[0].content[0].text: expected a string, got null"),
        (user({"type": "image", "source": {"type": "file", "file_id": "f1"}}),
         "messages[0].content[0].source.type: image source 'file' cannot be translated; use base64 or url"),
        (user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result"}]}),
         "messages[0].content[0].content[0]: 'search_result' blocks cannot be translated to other providers"),
        ({**user({"type": "text", "text": "x"}), "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
         "tools[0]: 'web_search_20250305' ('web_search') is an Anthropic built-in tool; "
         "detour translates only custom tools with an input_schema"),
        ({**user({"type": "text", "text": "x"}), "tool_choice": {"type": "bogus"}},
         "tool_choice.type: expected 'auto', 'any', 'tool' or 'none', got 'bogus'"),
        ({**user({"type": "text", "text": "x"}), "thinking": {"type": "enabled"}},
         "thinking.budget_tokens: required when thinking.type is 'enabled'"),
        ({**user({"type": "text", "text": "x"}), "max_tokens": "many"}, "max_tokens: expected an integer, got a string"),
        ({**user({"type": "text", "text": "x"}), "output_config": {"effort": "ultra"}},
         "output_config.effort: expected one of low, medium, high, xhigh, max, got 'ultra'"),
    ],
)  # fmt: skip
def test_invalid_input_is_a_clear_400(body: Any, message: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.decode_request(body)
    assert (e.value.status, e.value.kind, e.value.message) == (400, "invalid_request", message)


# --- responses and usage ----------------------------------------------------------------------


def test_documented_response_round_trips() -> None:
    resp = fmt.decode_response(DOC_RESPONSE, ir_request())
    assert resp.parts == [
        ThinkingPart("...", opaque=Opaque("anthropic", "EqQB...")),
        TextPart("Checking."),
        ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "get_weather", '{"city":"Paris"}'),
    ]
    assert (resp.finish, resp.raw_finish, resp.usage) == ("tool_use", "tool_use", Usage(21, 6))
    expected = copy.deepcopy(DOC_RESPONSE)
    del expected["stop_details"]
    for key in ("cache_creation", "output_tokens_details", "service_tier"):
        del expected["usage"][key]
    assert fmt.encode_response(resp, ir_request()) == expected


def test_usage_counts_cache_into_input_and_back() -> None:
    wire = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50,
            "output_tokens": 30, "output_tokens_details": {"thinking_tokens": 12}}  # fmt: skip
    usage = decode_usage(wire)
    assert usage == Usage(
        input_tokens=160, output_tokens=30, cache_read_tokens=100, cache_write_tokens=50, reasoning_tokens=12
    )
    assert encode_usage(usage) == wire


@pytest.mark.parametrize(
    ("raw", "finish"),
    [("end_turn", "end"), ("stop_sequence", "stop_sequence"), ("max_tokens", "length"),
     ("model_context_window_exceeded", "length"), ("tool_use", "tool_use"), ("pause_turn", "paused"),
     ("refusal", "refusal"), ("something_new", "other")],
)  # fmt: skip
def test_finish_reasons_both_ways(raw: str, finish: str) -> None:
    resp = fmt.decode_response({**DOC_RESPONSE, "stop_reason": raw, "content": []}, ir_request())
    assert (resp.finish, resp.raw_finish) == (finish, raw)
    back = fmt.encode_response(resp, ir_request())["stop_reason"]
    assert back == (raw if raw != "something_new" else "end_turn")


def test_foreign_finish_reasons_encode() -> None:
    call = ToolCallPart("call.1", "f", "")
    cases = [("end", [call], "tool_use"), ("content_filter", [], "refusal"), ("length", [], "max_tokens")]
    for finish, parts, expected in cases:
        body = fmt.encode_response(Response("r", "gpt", list(parts), finish, raw_finish="stop"), ir_request())  # type: ignore[arg-type]
        assert body["stop_reason"] == expected
    body = fmt.encode_response(Response("r", "gpt", [call], "tool_use"), ir_request())
    assert body["content"] == [{"type": "tool_use", "id": for_anthropic("call.1"), "name": "f", "input": {}}]


def test_renamed_tools_come_back_under_the_clients_name() -> None:
    req = ir_request(tools=[Tool("fs.read")])
    body = {
        **DOC_RESPONSE,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": tool_name("fs.read"), "input": {}}],
    }
    assert fmt.decode_response(body, req).parts == [ToolCallPart("toolu_1", "fs.read", "{}")]


def test_malformed_answers_are_upstream_errors() -> None:
    with pytest.raises(ApiError) as e:
        fmt.decode_response(
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, ir_request()
        )
    assert (e.value.status, e.value.kind) == (529, "overloaded")
    with pytest.raises(ApiError) as e:
        fmt.decode_response({"id": "msg_1", "content": "nope"}, ir_request())
    assert (e.value.status, e.value.kind) == (502, "server_error")


def test_server_tool_blocks_in_an_answer_are_skipped() -> None:
    body = {**DOC_RESPONSE, "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "text", "text": "Done."}]}  # fmt: skip
    parts = fmt.decode_response(body, ir_request()).parts
    assert parts == [
        ThinkingPart("", opaque=Opaque("anthropic", "EmwKAhgB"), redacted="EmwKAhgB"),
        TextPart("Done."),
    ]


# --- streams ----------------------------------------------------------------------------------


def test_capture_decodes_in_ir_order() -> None:
    events = decode_all(CAPTURE)  # type: ignore[arg-type]
    assert events == [
        StreamStart("msg_01GE2RKp1VYsPzdFs3sS9z5S", "claude-sonnet-4-5-20250929", Usage(565, 7)),
        PartStart(0, TextPart("")),
        TextDelta(0, "I'll update the issue list for"),
        PartEnd(0),
        PartStart(1, ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "")),
        PartEnd(1),
        UsageUpdate(Usage(565, 48)),
        StreamEnd("tool_use", "tool_use", Usage(565, 48)),
    ]
    resp = assemble(events)
    assert resp.parts[1] == ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "{}")
    assert (resp.finish, resp.usage) == ("tool_use", Usage(565, 48))


def thinking_stream() -> list[tuple[str | None, Any]]:
    def delta(i: int, d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}

    def start(i: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": i, "content_block": block}

    def stop(i: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": i}

    return [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude-opus-4-8",
         "usage": {"input_tokens": 5, "cache_read_input_tokens": 1000, "output_tokens": 1}}}),
        start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        delta(0, {"type": "thinking_delta", "thinking": "think."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBsig"}),
        stop(0),
        start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"q":1}'}),
        stop(1),
        ("ping", {"type": "ping"}),
        start(2, {"type": "redacted_thinking", "data": "EmwKAhgB"}),
        stop(2),
        ("content_block_meta", {"type": "content_block_meta", "index": 2}),
        start(3, {"type": "text", "text": ""}),
        delta(3, {"type": "text_delta", "text": "Hello"}),
        delta(3, {"type": "citations_delta", "citation": {}}),
        stop(3),
        start(4, {"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {}}),
        delta(4, {"type": "input_json_delta", "partial_json": ""}),
        delta(4, {"type": "input_json_delta", "partial_json": '{"file_path":'}),
        delta(4, {"type": "input_json_delta", "partial_json": '"a.py"}'}),
        stop(4),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 40, "output_tokens_details": {"thinking_tokens": 20}}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


def test_thinking_stream_skips_unknown_blocks_and_renumbers() -> None:
    events = decode_all(thinking_stream())
    starts = [ev for ev in events if isinstance(ev, PartStart)]
    assert [s.index for s in starts] == [0, 1, 2, 3]
    assert SignatureDelta(0, Opaque("anthropic", "EqQBsig")) in events
    resp = assemble(events)
    assert resp.parts == [
        ThinkingPart("Let me think.", opaque=Opaque("anthropic", "EqQBsig")),
        ThinkingPart("", opaque=Opaque("anthropic", "EmwKAhgB"), redacted="EmwKAhgB"),
        TextPart("Hello"),
        ToolCallPart("toolu_9", "Read", '{"file_path":"a.py"}'),
    ]
    # message_delta omitted input and cache counts: the message_start values stand.
    assert resp.usage == Usage(
        input_tokens=1005, output_tokens=40, cache_read_tokens=1000, reasoning_tokens=20
    )


@pytest.mark.parametrize("frames", [CAPTURE, thinking_stream()], ids=["capture", "thinking"])
def test_stream_reencodes_to_the_same_events(frames: list[tuple[str | None, Any]]) -> None:
    events = decode_all(frames)
    enc = fmt.stream_encoder(ir_request())
    raw = b"".join(enc.feed(ev) for ev in events)
    again = decode_all(parse_sse(raw))
    # The re-encoding carries usage in full on message_delta, so only the final report differs.
    strip = [ev for ev in events if not isinstance(ev, UsageUpdate)]
    assert [ev for ev in again if not isinstance(ev, UsageUpdate)] == strip


def test_encoder_puts_the_signature_last_and_drops_gemini_ones() -> None:
    enc = fmt.stream_encoder(ir_request())
    events: list[StreamEvent] = [
        StreamStart("r1", "gemini-3-pro"),
        PartStart(0, ThinkingPart("", opaque=Opaque("anthropic", "early"))),
        ThinkingDelta(0, "hmm"),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Hi"),
        SignatureDelta(1, Opaque("anthropic", "gemini-text-sig")),
        PartEnd(1),
        PartStart(2, ToolCallPart("read_file_17_0", "read_file", "")),
        ArgumentsDelta(2, '{"a":1}'),
        PartEnd(2),
        StreamEnd("end", "STOP", Usage(10, 5)),
    ]
    frames = parse_sse(b"".join(enc.feed(ev) for ev in events))
    names = [e for e, _ in frames]
    assert names[:5] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ]
    assert frames[3][1]["delta"] == {"type": "signature_delta", "signature": "early"}
    assert not any(d.get("delta", {}).get("signature") == "gemini-text-sig" for _, d in frames)
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"  # calls came back: agents loop on it
    assert frames[-1] == ("message_stop", {"type": "message_stop"})


@pytest.mark.parametrize(
    ("etype", "message", "status", "kind"),
    [("overloaded_error", "Overloaded", 529, "overloaded"), ("rate_limit_error", "slow down", 429, "rate_limit"),
     ("api_error", "Internal server error", 500, "server_error"), ("timeout_error", "late", 504, "timeout"),
     ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", 400, "context_too_long"),
     ("brand_new_error", "?", 500, "server_error")],
)  # fmt: skip
def test_in_band_error_raises(etype: str, message: str, status: int, kind: str) -> None:
    frames = CAPTURE[:3] + [("error", {"type": "error", "error": {"type": etype, "message": message}})]
    with pytest.raises(ApiError) as e:
        decode_all(frames)  # type: ignore[arg-type]
    assert (e.value.status, e.value.kind, e.value.message) == (status, kind, message)


def test_stream_cut_before_message_stop() -> None:
    dec = fmt.stream_decoder(ir_request())
    for event, data in CAPTURE[:-1]:
        dec.feed(event, data)
    with pytest.raises(ApiError) as e:
        dec.close()
    assert (e.value.status, e.value.kind) == (502, "server_error")


def test_encoder_error_frame() -> None:
    raw = fmt.stream_encoder(ir_request()).error(ApiError(529, "overloaded", "Overloaded"))
    assert parse_sse(raw) == [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    ]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "etype"),
    [("invalid_request", 400, "invalid_request_error"), ("authentication", 401, "authentication_error"),
     ("permission", 403, "permission_error"), ("not_found", 404, "not_found_error"),
     ("request_too_large", 413, "request_too_large"), ("rate_limit", 429, "rate_limit_error"),
     ("overloaded", 529, "overloaded_error"), ("server_error", 500, "api_error"), ("timeout", 504, "timeout_error"),
     ("budget_exceeded", 402, "budget_exceeded"), ("all_providers_failed", 503, "all_providers_failed")],
)  # fmt: skip
def test_errors_both_ways(kind: Any, status: int, etype: str) -> None:
    err = ApiError(status, kind, "went wrong", details={"error_code": "x_1"})
    body = fmt.encode_error(err)
    assert body == {
        "type": "error",
        "error": {"type": etype, "message": "went wrong", "details": {"error_code": "x_1"}},
    }
    back = fmt.decode_error(status, body, {})
    assert (back.status, back.kind, back.message, back.details) == (
        status,
        kind,
        "went wrong",
        {"error_code": "x_1"},
    )


def test_kinds_that_share_a_type_encode() -> None:
    assert (
        fmt.encode_error(ApiError(400, "context_too_long", "m"))["error"]["type"] == "invalid_request_error"
    )
    assert fmt.encode_error(ApiError(400, "content_policy", "m"))["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry"),
    [
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "r"}}, {"Retry-After": "7"}, "rate_limit", 7.0),
        (429, {"error": {"message": "r"}}, {"retry-after-ms": "1500", "retry-after": "9"}, "rate_limit", 1.5),
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {}, "overloaded", None),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "prompt is too long: 210000 tokens > 200000 maximum"}}, {}, "context_too_long", None),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000"}},
         {}, "context_too_long", None),
        (402, {"type": "error", "error": {"type": "billing_error", "message": "credit balance too low"}}, {}, "permission", None),
        (502, {"error": {"message": "<html>bad gateway</html>"}}, {"retry-after": "soon"}, "server_error", None),
        (503, "not json at all", {}, "overloaded", None),
        (504, {}, {}, "timeout", None),
        (413, {"type": "error", "error": {"type": "invalid_request_error", "message": "too big"}}, {}, "request_too_large", None),
    ],
)  # fmt: skip
def test_decode_error(
    status: int, body: Any, headers: dict[str, str], kind: str, retry: float | None
) -> None:
    err = fmt.decode_error(status, body, headers)
    assert (err.status, err.kind, err.retry_after_s) == (status, kind, retry)
    assert err.message


# --- the property: IR -> wire -> IR for what Anthropic can say ----------------------------------

ident = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
words = st.text(min_size=1, max_size=16).filter(lambda s: s.strip() != "")
cache = st.none() | st.just({"type": "ephemeral"})
text_part = st.builds(TextPart, words, cache_control=cache)
image_part = st.sampled_from(
    [ImagePart(media_type="image/png", data="iVBORw0KGgo="), ImagePart(url="https://example.com/a.png")]
)
json_values = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6)
thinking_part = st.builds(
    lambda t, s: ThinkingPart(t, opaque=Opaque("anthropic", s)), words, ident
) | st.builds(lambda d: ThinkingPart("", opaque=Opaque("anthropic", d), redacted=d), ident)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    pending: list[str] = []
    turns = draw(st.integers(1, 4))
    for t in range(turns):
        if not pending and draw(st.booleans()):
            messages.append(Message("system", [draw(text_part)]))
        content = st.lists(text_part | image_part, max_size=2)
        parts: list[Any] = [
            ToolResultPart(cid, draw(content), is_error=draw(st.booleans()), cache_control=draw(cache))
            for cid in pending
        ]
        parts += draw(st.lists(text_part | image_part, min_size=0 if pending else 1, max_size=2))
        messages.append(Message("user", parts))
        if t == turns - 1:
            break
        answer: list[Any] = draw(st.lists(thinking_part, max_size=1)) + draw(st.lists(text_part, max_size=1))
        pending = [f"toolu_{t}_{k}_{draw(ident)}" for k in range(draw(st.integers(0, 2)))]
        args = st.dictionaries(ident, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())
        answer += [ToolCallPart(cid, draw(ident), draw(args)) for cid in pending]
        messages.append(Message("assistant", answer or [draw(text_part)]))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> Request:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = draw(st.lists(st.builds(Tool, ident, st.none() | words, st.just(schema), st.none() | st.booleans()),
                          max_size=2, unique_by=lambda t: t.name))  # fmt: skip
    choices = [st.none()]
    if tools:
        parallel = st.none() | st.booleans()
        choices += [st.builds(ToolChoice, st.sampled_from(["auto", "required"]), st.none(), parallel),
                    st.just(ToolChoice("none")), st.builds(ToolChoice, st.just("tool"), st.just(tools[0].name), parallel)]  # fmt: skip
    temperature = draw(st.none() | st.floats(0, 1))
    return Request(
        model="claude-opus-4-8",
        messages=draw(conversations()),
        system=draw(st.lists(text_part, max_size=2)),
        tools=tools,
        tool_choice=draw(st.one_of(choices)),
        max_tokens=draw(st.integers(1, 100_000)),
        temperature=temperature,
        top_p=draw(st.none() | st.floats(0, 1)) if temperature is None else None,
        top_k=draw(st.none() | st.integers(1, 500)),
        stop=draw(st.lists(words, max_size=2)),
        stream=draw(st.booleans()),
        reasoning=draw(st.sampled_from([None, Reasoning(False)])),
        user=draw(st.none() | ident),
        source_format="anthropic",
    )


@settings(max_examples=150, deadline=None)
@given(requests())
def test_ir_round_trips_through_the_wire(req: Request) -> None:
    wire = orjson.loads(orjson.dumps(fmt.encode_request(req, req.model)))
    validate(wire)
    assert fmt.decode_request(wire) == req


# Foreign history: ids and tool names from anywhere, empty text, unsigned or foreign thinking,
# results split over OpenAI-style tool messages, system messages anywhere, any sampling.
maybe_blank = st.sampled_from(["", "  ", "\n"]) | words
weird_id = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=10)
foreign_thinking = st.builds(
    ThinkingPart,
    words,
    st.none() | st.builds(Opaque, st.sampled_from(["foreign:up-g", "gemini", "openai"]), ident),
)
any_args = st.dictionaries(ident, json_values, max_size=2).map(
    lambda d: orjson.dumps(d).decode()
) | st.sampled_from(["", "not json", "[1, 2]", '{"a":'])
any_image = image_part | st.just(ImagePart(url="data:image/webp;base64,UklGRhIAAABXRUJQ"))
TOOL_NAMES = ["get_weather", "fs.read", "mcp:server:tool"]


@st.composite
def foreign_messages(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    pending: list[str] = []
    turns = draw(st.integers(1, 4))
    starts_with_assistant = draw(st.booleans())
    for t in range(turns):
        if draw(st.booleans()):
            messages.append(Message("system", [TextPart(draw(maybe_blank))]))
        if t or not starts_with_assistant:
            results = [ToolResultPart(cid, draw(st.lists(maybe_blank.map(TextPart) | any_image, max_size=2)),
                                      is_error=draw(st.booleans())) for cid in pending]  # fmt: skip
            if draw(st.booleans()):
                messages += [Message("user", [r]) for r in results]
            elif results:
                messages.append(Message("user", list(results)))
            extra = draw(st.lists(maybe_blank.map(TextPart) | any_image, max_size=2))
            if extra or not pending:
                messages.append(Message("user", extra or [TextPart(draw(words))]))
            pending = []
            if t == turns - 1 and draw(st.booleans()):
                break
        parts: list[Any] = draw(st.lists(foreign_thinking, max_size=1)) + draw(
            st.lists(maybe_blank.map(TextPart), max_size=1)
        )
        if t < turns - 1:
            calls = [ToolCallPart(f"{draw(weird_id)}#{t}.{k}", draw(st.sampled_from(TOOL_NAMES)), draw(any_args))
                     for k in range(draw(st.integers(0, 2)))]  # fmt: skip
            parts += calls
            pending = [c.id for c in calls]
        messages.append(Message("assistant", parts or [TextPart(draw(words))]))
    return messages


@st.composite
def foreign_requests(draw: st.DrawFn) -> Request:
    tools = [Tool(n, None, None) for n in TOOL_NAMES] if draw(st.booleans()) else []
    modes = st.sampled_from(["auto", "required", "none", "tool"])
    choice = draw(
        st.none() | st.builds(ToolChoice, modes, st.sampled_from(TOOL_NAMES), st.none() | st.booleans())
    )
    return Request(
        model="gpt-4.1",
        messages=draw(foreign_messages()),
        system=draw(st.lists(maybe_blank.map(TextPart), max_size=2)),
        tools=tools,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 64_000)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=draw(st.lists(st.sampled_from(["\n", " ", "END", "###"]), max_size=3)),
        reasoning=draw(
            st.sampled_from(
                [
                    None,
                    Reasoning(effort="high"),
                    Reasoning(budget_tokens=3000),
                    Reasoning(False),
                    Reasoning(effort="none"),
                    Reasoning(effort="low", include_thoughts=False),
                ]
            )
        ),  # fmt: skip
        source_format=draw(st.sampled_from(["openai_chat", "gemini"])),
    )


@settings(max_examples=300, deadline=None)
@given(
    foreign_requests(), st.sampled_from(["claude-opus-4-8", "claude-sonnet-4-5", "claude-3-5-haiku-latest"])
)
def test_foreign_history_always_makes_an_acceptable_body(req: Request, model: str) -> None:
    validate(orjson.loads(orjson.dumps(fmt.encode_request(req, model))))


# --- the real SDK on what we write --------------------------------------------------------------


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


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
        PartStart(2, ToolCallPart("call:odd/id", "Read", "")),
        ArgumentsDelta(2, '{"file_'),
        ArgumentsDelta(2, 'path": "a.py"}'),
        PartEnd(2),
        UsageUpdate(Usage(output_tokens=30)),
        StreamEnd("tool_use", "tool_use", Usage(input_tokens=1200, output_tokens=42, cache_read_tokens=1000, reasoning_tokens=9)),
    ]  # fmt: skip


async def test_sdk_accumulates_the_encoded_stream() -> None:
    seen: dict[str, str] = {}
    enc = fmt.stream_encoder(ir_request())
    payload = b"".join(enc.feed(ev) for ev in full_stream())

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update({k.lower(): v for k, v in request.headers.items()})
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (payload[i : i + 37] for i in range(0, len(payload), 37)):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        async with client.messages.stream(
            model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            msg = await s.get_final_message()
        await client.close()
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert (msg.content[0].thinking, msg.content[0].signature) == ("Need the file.", "sig-abc")  # type: ignore[union-attr]
    assert msg.content[1].text == "Reading it."  # type: ignore[union-attr]
    tool = msg.content[2]
    assert (tool.id, tool.input) == (for_anthropic("call:odd/id"), {"file_path": "a.py"})  # type: ignore[union-attr]
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (
        200,
        1000,
        42,
    )
    # What the SDK sends a server: the headers detour must accept inbound.
    assert seen.get("authorization") == "Bearer x" or seen.get("x-api-key") == "x"
    assert seen.get("anthropic-version")
    print(
        "SDK headers:",
        {k: v for k, v in seen.items() if k in ("authorization", "x-api-key", "anthropic-version")},
    )


async def test_sdk_parses_the_encoded_response_and_errors() -> None:
    resp = Response(
        "msg_y", "claude-opus-4-8",
        [ThinkingPart("", opaque=Opaque("anthropic", "R3d"), redacted="R3d"), TextPart("Hi."),
         ToolCallPart("c1", "f", "not json")],
        "tool_use", usage=Usage(input_tokens=50, output_tokens=5, cache_write_tokens=20),
    )  # fmt: skip
    answers: list[tuple[int, Any, dict[str, str]]] = [
        (200, fmt.encode_response(resp, ir_request()), {}),
        (429, fmt.encode_error(ApiError(429, "rate_limit", "slow down")), {"retry-after": "0"}),
        (529, fmt.encode_error(ApiError(529, "overloaded", "busy")), {}),
        (402, fmt.encode_error(ApiError(402, "budget_exceeded", "daily budget spent")), {}),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body, headers = answers.pop(0)
        return web.json_response(body, status=status, headers=headers)

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        kw: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        msg = await client.messages.create(**kw)
        assert [b.type for b in msg.content] == ["redacted_thinking", "text", "tool_use"]
        assert msg.content[2].input == {"_raw": "not json"}  # type: ignore[union-attr]
        assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens) == (30, 20)
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(**kw)
        with pytest.raises(anthropic.APIStatusError) as e:
            await client.messages.create(**kw)
        assert e.value.status_code == 529
        with pytest.raises(anthropic.APIStatusError) as e:
            await client.messages.create(**kw)
        assert e.value.status_code == 402 and "daily budget spent" in str(e.value)
        await client.close()


async def test_sdk_raises_the_encoded_in_stream_error() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = enc.feed(full_stream()[0]) + enc.error(ApiError(529, "overloaded", "Overloaded"))

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, content_type="text/event-stream")

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as e:
            async with client.messages.stream(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as s:
                await s.get_final_message()
        await client.close()
    assert "overloaded_error" in str(e.value)


# --- the fake upstream judges the encoder's output ------------------------------------------------

KEY = "sk-ant-test-key"
HEADERS = {"x-api-key": KEY, "anthropic-version": fmt.API_VERSION}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    f = await FakeAnthropic(key=KEY).start()
    yield f
    await f.close()


async def post(
    fake: FakeAnthropic, body: Any, headers: dict[str, str] | None = None, path: str = "/v1/messages"
) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(fake.url + path, json=body, headers=headers or HEADERS) as r,
    ):
        return r.status, await r.read()


async def test_fake_takes_foreign_history_and_streams_back(fake: FakeAnthropic) -> None:
    # The model calls the tool by the name it was given; the decoder maps it back.
    call = ToolCall(tool_name("get.weather"), {"city": "Rome"})
    fake.script.append(Answer(text="Il fait 20C.", thinking="Rome is warm.", tool_calls=[call], input_tokens=300,
                              cache_read_tokens=200, output_tokens=25, reasoning_tokens=6, chunks=4))  # fmt: skip
    req = openai_shaped()
    req.stream = True
    body = fmt.encode_request(req, "claude-sonnet-4-5")
    status, raw = await post(fake, body)
    assert status == 200, raw
    assert fake.last.body == body and fake.last.path == "/v1/messages"
    resp = assemble(decode_all(parse_sse(raw), req))
    assert resp.parts[0] == ThinkingPart("Rome is warm.", opaque=Opaque("anthropic", "sig-msg_fake0001"))
    assert resp.parts[1] == TextPart("Il fait 20C.")
    assert isinstance(resp.parts[2], ToolCallPart) and (
        resp.parts[2].name,
        json.loads(resp.parts[2].arguments),
    ) == (
        "get.weather",
        {"city": "Rome"},
    )
    assert resp.finish == "tool_use"
    assert resp.usage == Usage(input_tokens=300, output_tokens=25, cache_read_tokens=200, reasoning_tokens=6)


async def test_fake_takes_the_claude_code_request_and_the_continuation(fake: FakeAnthropic) -> None:
    fake.script.append(Answer(text="Here is a.py.", tool_calls=[ToolCall("Bash", {"command": "cat a.py"})]))
    req = fmt.decode_request({**CLAUDE_CODE, "stream": False})
    body = fmt.encode_request(req, "claude-opus-4-8")
    status, raw = await post(
        fake, body, {"authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}
    )
    assert status == 200, raw
    resp = fmt.decode_response(orjson.loads(raw), req)
    assert resp.parts[0] == TextPart("Here is a.py.") and resp.finish == "tool_use"
    call = resp.parts[1]
    assert isinstance(call, ToolCallPart)
    # The next turn: the answer (no signed thinking) plus the result. Thinking must go off.
    req.messages += [
        Message("assistant", list(resp.parts)),
        Message("user", [ToolResultPart(call.id, [TextPart("print(1)")])]),
    ]
    body = fmt.encode_request(req, "claude-opus-4-8")
    assert "thinking" not in body and body["output_config"] == {"effort": "high"}
    status, raw = await post(fake, body)
    assert status == 200, raw


async def test_fake_counts_tokens(fake: FakeAnthropic) -> None:
    body = {k: v for k, v in CLAUDE_CODE.items() if k not in ("max_tokens", "stream", "metadata")}
    assert fmt.decode_request(body).max_tokens is None
    status, raw = await post(fake, body, path="/v1/messages/count_tokens")
    assert status == 200 and orjson.loads(raw)["input_tokens"] > 0


def valid() -> dict[str, Any]:
    return {"model": "claude-opus-4-8", "max_tokens": 100, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}]}  # fmt: skip


def broken(path: str, value: Any) -> dict[str, Any]:
    body = valid()
    target: Any = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (broken("max_tokens", KeyError), "max_tokens: Field required"),
        (broken("messages.0.role", "assistant"), 'first message must use the "user" role'),
        (broken("messages.0.content", " "), "must contain non-whitespace text"),
        (broken("messages.1.content.0.id", "call:1"), "String should match pattern"),
        (broken("messages.2.content", "no result"), "`tool_use` ids were found without `tool_result` blocks"),
        (broken("messages.2.content", [{"type": "tool_result", "tool_use_id": t, "content": "ok"} for t in ("toolu_1", "toolu_2")]),
         "unexpected `tool_use_id`"),
        (broken("temperature", 0.5) | {"top_p": 0.5}, "cannot both be specified"),
        (broken("thinking", {"type": "enabled", "budget_tokens": 500}), "greater than or equal to 1024"),
        (broken("thinking", {"type": "enabled", "budget_tokens": 2000}), "`max_tokens` must be greater"),
        (broken("thinking", {"type": "adaptive"}), "Expected `thinking` or `redacted_thinking`"),
        (broken("tools.0.input_schema", {"type": "array"}), "Input should be 'object'"),
        (broken("tools.0.name", "fs.read"), "String should match pattern"),
        (broken("messages.0.content", [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk0"}}]),
         "media_type"),
        (broken("reasoning", {"effort": "high"}), "reasoning: Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_fake_rejects_like_the_api(fake: FakeAnthropic, body: dict[str, Any], fragment: str) -> None:
    status, raw = await post(fake, body)
    error = orjson.loads(raw)
    assert status == 400 and error["error"]["type"] == "invalid_request_error"
    assert fragment in error["error"]["message"]
    assert (await post(fake, valid()))[0] == 200


async def test_fake_auth_and_faults(fake: FakeAnthropic) -> None:
    status, raw = await post(fake, valid(), {"x-api-key": "wrong", "anthropic-version": "2023-06-01"})
    assert status == 401 and orjson.loads(raw)["error"]["type"] == "authentication_error"
    status, raw = await post(fake, valid(), {"x-api-key": KEY})
    assert status == 400 and "anthropic-version" in orjson.loads(raw)["error"]["message"]
    fake.script.append(
        Fault(429, "Number of request tokens has exceeded your rate limit", {"retry-after": "3"})
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(fake.url + "/v1/messages", json=valid(), headers=HEADERS) as r,
    ):
        err = fmt.decode_error(r.status, await r.json(), r.headers)
    assert (err.status, err.kind, err.retry_after_s) == (429, "rate_limit", 3.0)


@pytest.mark.parametrize(("action", "kind"), [("cut", "server_error"), ("error", "overloaded")])
async def test_fake_stream_faults_surface_as_api_errors(fake: FakeAnthropic, action: str, kind: str) -> None:
    fake.script.append(Answer(text="partial answer", fault=StreamFault(after_frames=4, action=action)))
    body = valid() | {"stream": True}
    dec = fmt.stream_decoder(ir_request())
    with pytest.raises(ApiError) as e:
        async with (
            aiohttp.ClientSession() as s,
            s.post(fake.url + "/v1/messages", json=body, headers=HEADERS) as r,
        ):
            parser = SSEParser()
            try:
                async for chunk in r.content.iter_any():
                    for f in parser.feed(chunk):
                        dec.feed(f.event, orjson.loads(f.data))
            except aiohttp.ClientPayloadError:
                pass
            dec.close()
    assert e.value.kind == kind
