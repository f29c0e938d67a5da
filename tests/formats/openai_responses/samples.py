"""OpenAI Responses fixtures from WIRE_FORMATS.md §3 and CLIENTS.md (Codex CLI 0.169.0)."""

from __future__ import annotations

from typing import Any

from daemon.formats import openai_responses as fmt
from daemon.formats.sse import SSEParser
from daemon.ir import (
    ArgumentsDelta,
    Opaque,
    PartEnd,
    PartStart,
    Request,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    Usage,
    UsageUpdate,
)

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

DOC_REQUEST: dict[str, Any] = {
    "model": "gpt-5", "instructions": "You are terse.",
    "input": [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Weather in Paris?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"}]},
        {"type": "function_call", "call_id": "call_01", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_01", "output": "18C, cloudy"}],
    "tools": [{"type": "function", "name": "get_weather", "description": "Get weather", "strict": True,
               "parameters": WEATHER}],
    "tool_choice": "auto", "parallel_tool_calls": True, "max_output_tokens": 1024,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}},
    "store": False, "stream": True,
}  # fmt: skip

# What Codex CLI 0.169.0 sends on its second turn (CLIENTS.md), trimmed.
CODEX_REQUEST: dict[str, Any] = {
    "model": "gpt-5-codex", "instructions": "", "stream": True, "store": False,
    "reasoning": {"summary": "auto"}, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "abc",
    "tool_choice": "auto", "parallel_tool_calls": False,
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What does notes.txt say?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Read it."}],
         "encrypted_content": "dtr1.up-anthropic.c2lnbmF0dXJl"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
         "arguments": "{\"cmd\":\"cat notes.txt\"}", "status": "completed"},
        {"type": "function_call_output", "call_id": "call_1", "output": "the answer is 42"}],
    "tools": [
        {"type": "function", "name": "exec_command", "description": "Run a command", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
        {"type": "namespace", "name": "mcp__files", "description": "File tools", "tools": [
            {"type": "function", "name": "read", "parameters": {"type": "object", "properties": {}}}]},
        {"type": "web_search"}],
}  # fmt: skip


def ir_request(**kw: Any) -> Request:
    return fmt.decode_request({"model": "gpt-5", "input": "hi", **kw})


def full_stream() -> list[StreamEvent]:
    """Reasoning with a signature, two text parts, a call: every event the encoder handles."""
    from daemon.ir import SignatureDelta

    return [
        StreamStart("msg_up1", "claude-sonnet-4-5"),
        PartStart(0, ThinkingPart("")),
        ThinkingDelta(0, "Need to read "),
        ThinkingDelta(0, "the file."),
        SignatureDelta(0, Opaque("openai_responses", "dtr1.up-anthropic.sig")),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Reading it."),
        PartEnd(1),
        PartStart(2, ToolCallPart("call_9", "exec_command", "")),
        ArgumentsDelta(2, '{"cmd":'),
        ArgumentsDelta(2, '"cat a"}'),
        PartEnd(2),
        UsageUpdate(Usage(input_tokens=30, output_tokens=12)),
        StreamEnd("tool_use", "tool_use", Usage(input_tokens=30, output_tokens=12, reasoning_tokens=4)),
    ]


def frames(payload: bytes) -> list[tuple[str | None, Any]]:
    """SSE bytes -> (event, parsed data) pairs, as a provider's parser sees them."""
    import orjson

    parser = SSEParser()
    out = parser.feed(payload) + parser.close()
    return [(f.event, orjson.loads(f.data)) for f in out]
