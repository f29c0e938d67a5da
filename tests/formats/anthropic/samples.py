"""Anthropic Messages fixtures from WIRE_FORMATS.md and CLIENTS.md, and helpers shared by its tests."""

from __future__ import annotations

import json
from typing import Any

import orjson

from daemon.formats import anthropic as fmt
from daemon.formats.sse import SSEParser
from daemon.ir import (
    ImagePart,
    Message,
    Opaque,
    Reasoning,
    Request,
    Response,
    StreamAssembler,
    StreamEvent,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

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
                ThinkingPart("gemini thoughts", opaque=Opaque("gemini", "gsig", "up-g")),
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
