"""Cache breakpoints on the Anthropic body: the client's kept (the last 4), placed when none
are sent and the prefix is long enough for the model, stripped when off. Dict in, dict out."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.formats import anthropic as fmt
from daemon.formats import openai_chat
from daemon.formats.anthropic_outbound import WEB_SEARCH_TOOL
from daemon.ir import Message, PromptCache, Request, TextPart, Tool, ToolCallPart, ToolResultPart
from daemon.providers.profiles import profile_of
from tests.fakes.anthropic_cache import breakpoints, prompt_blocks
from tests.fakes.anthropic_rules import validate

MARK = {"type": "ephemeral"}
LONG = "Keep the diff small and run the tests. " * 150  # about 1500 tokens at 4 characters a token


def encode(req: Request, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    body = fmt.encode_request(req, model, profile_of("anthropic", model))
    validate(body)
    return body


def loop(system: str, mode: PromptCache = "auto", turns: int = 3) -> Request:
    messages = [Message("user", [TextPart("Fix the bug.")])]
    for i in range(turns):
        messages.append(Message("assistant", [ToolCallPart(f"call_{i}", "read", '{"path": "a.py"}')]))
        messages.append(Message("user", [ToolResultPart(f"call_{i}", [TextPart(f"file {i}")])]))
    tools = [Tool("read", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})]
    return Request("m", messages, system=[TextPart(system)], tools=tools, prompt_cache=mode, web_search=True)


def test_auto_marks_the_system_prompt_and_the_last_two_user_turns() -> None:
    body = encode(loop(LONG))
    blocks = prompt_blocks(body)
    assert breakpoints(body) == [2, len(blocks) - 3, len(blocks) - 1]  # 2 tools, then the system
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": MARK}]
    assert body["messages"][-1]["content"][-1]["cache_control"] == MARK
    assert "cache_control" not in WEB_SEARCH_TOOL  # the shared constant was not marked


def test_auto_places_nothing_below_the_models_minimum() -> None:
    assert breakpoints(encode(loop("Be terse."))) == []
    # 1500 tokens are enough for Sonnet 4.5 (1024) but not for Haiku 4.5 (4096).
    assert breakpoints(encode(loop(LONG), "claude-haiku-4-5")) == []
    assert len(breakpoints(encode(loop(LONG * 3), "claude-haiku-4-5"))) == 3


@pytest.mark.parametrize("mode", ["client", "off"])
def test_client_and_off_place_none(mode: PromptCache) -> None:
    assert breakpoints(encode(loop(LONG, mode))) == []


def test_off_strips_the_clients_markers_and_client_keeps_them() -> None:
    req = loop(LONG, "off")
    req.system[0].cache_control = MARK
    assert breakpoints(encode(req)) == []
    req.prompt_cache = "client"
    assert breakpoints(encode(req)) == [2]
    assert req.system[0].cache_control == MARK  # the IR, which the next target gets, is untouched


def test_the_last_four_are_kept_nested_ones_included() -> None:
    req = loop(LONG, turns=4)
    req.tools[0].cache_control = MARK
    req.system[0].cache_control = MARK
    for m in req.messages[2::2]:
        result = m.parts[0]
        assert isinstance(result, ToolResultPart)
        result.content[0].cache_control = MARK  # a text block inside the tool result
    body = encode(req)
    assert len(breakpoints(body)) == 4
    assert "cache_control" not in body["system"][0] and "cache_control" not in body["tools"][0]
    inner = [m["content"][0]["content"] for m in body["messages"][2::2]]
    assert all(isinstance(c, list) and c[0]["cache_control"] == MARK for c in inner)


def test_chat_markers_on_a_message_and_on_a_part_land_on_their_blocks() -> None:
    chat = openai_chat.decode_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be terse.", "cache_control": MARK},
                {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": MARK},
                                             {"type": "text", "text": "b"}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                 "function": {"name": "read", "arguments": "{}"}}], "cache_control": MARK},
                {"role": "tool", "tool_call_id": "c1", "content": "file", "cache_control": MARK},
            ],
            "tools": [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}},
                       "cache_control": MARK}],
        }
    )  # fmt: skip
    body = encode(chat)
    assert body["system"] == [{"type": "text", "text": "Be terse.", "cache_control": MARK}]
    user, call, result = (m["content"] for m in body["messages"])
    assert user == [{"type": "text", "text": "a", "cache_control": MARK}, {"type": "text", "text": "b"}]
    assert call[0]["cache_control"] == MARK and result[0]["cache_control"] == MARK
    assert len(breakpoints(body)) == 4  # five marked: the tool's, first in the prefix, is cut
    assert "cache_control" not in body["tools"][0]
    assert chat.tools[0].cache_control == MARK


def test_a_bad_marker_is_a_400_naming_its_path() -> None:
    with pytest.raises(Exception, match=r"messages\[0\]\.cache_control"):
        openai_chat.decode_request(
            {"model": "m", "messages": [{"role": "user", "content": "x", "cache_control": 1}]}
        )
