"""IR from other formats -> a request body OpenAI accepts: ids, tool messages, images,
reasoning models' parameters."""

from __future__ import annotations

import pytest

from daemon.formats import openai_chat as fmt
from daemon.formats.ids import for_openai
from daemon.formats.openai_chat_stream import wire_name
from daemon.ir import (
    ApiError,
    ImagePart,
    Message,
    Reasoning,
    Request,
    Tool,
    ToolCallPart,
    ToolChoice,
)
from daemon.providers.profiles import profile_of
from tests.formats.openai_chat.samples import LONG_ID, anthropic_shaped, ir_request


def test_foreign_history_is_made_acceptable() -> None:
    req = anthropic_shaped()
    wire = fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
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
    wire = fmt.encode_request(
        ir_request(reasoning=reasoning, source_format=source), model, profile_of("openai", model)
    )
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
        fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
    assert e.value.status == 400 and e.value.message.startswith(message), e.value.message


def test_no_tool_choice_without_tools_and_url_images() -> None:
    req = ir_request(
        tool_choice=ToolChoice("required", parallel=True),
        messages=[Message("user", [ImagePart(url="https://example.com/a.png", detail="low")])],
    )
    wire = fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
    assert "tool_choice" not in wire and "parallel_tool_calls" not in wire
    assert wire["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]}]  # fmt: skip
