"""OpenAI Chat Completions requests: wire -> IR -> wire, and invalid client input as a clear 400."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.formats import openai_chat as fmt
from daemon.ir import (
    ApiError,
    ImagePart,
    Message,
    Reasoning,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of
from tests.formats.openai_chat.samples import AIDER, DOC_REQUEST, SDK_HISTORY, WEATHER


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
    wire = fmt.encode_request(fmt.decode_request(DOC_REQUEST), "gpt-4.1", profile_of("openai", "gpt-4.1"))
    expected = copy.deepcopy(DOC_REQUEST)
    expected["messages"][0]["role"] = "system"
    expected["messages"][1]["content"][1]["image_url"]["url"] = "data:image/png;base64,iVBORw0KGgo..."
    assert wire == expected


def test_aider_request_keeps_system_messages_in_place() -> None:
    req = fmt.decode_request(AIDER, model="coder")
    assert req.model == "coder" and req.stream and req.temperature == 0
    assert req.system == [TextPart("Act as an expert software developer.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "system", "user"]
    wire = fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
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
    wire = fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
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
    assert fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))["messages"][0] == {
        "role": "system",
        "content": "A\n\nB",
    }


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
    wire = fmt.encode_request(req, "deepseek-reasoner", profile_of("openai", "deepseek-reasoner"))
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
