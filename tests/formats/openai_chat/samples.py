"""OpenAI Chat Completions fixtures from WIRE_FORMATS.md §2 and CLIENTS.md, and helpers shared by its tests."""

from __future__ import annotations

from typing import Any

import orjson

from daemon.formats import openai_chat as fmt
from daemon.formats.sse import SSEParser
from daemon.ir import (
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
