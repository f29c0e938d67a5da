"""Anthropic Messages requests: wire -> IR -> wire, and invalid client input as a clear 400."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.formats import anthropic as fmt
from daemon.ir import (
    ApiError,
    ImagePart,
    Message,
    Opaque,
    Reasoning,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of
from tests.formats.anthropic.samples import CLAUDE_CODE, DOC_REQUEST


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
    assert (
        fmt.encode_request(req, "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5")) == expected
    )


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
    assert fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8")) == expected


def test_native_system_message_never_parts_calls_from_results() -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]}  # fmt: skip
    roles = [
        m["role"]
        for m in fmt.encode_request(fmt.decode_request(body), "m", profile_of("anthropic", "m"))["messages"]
    ]
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
