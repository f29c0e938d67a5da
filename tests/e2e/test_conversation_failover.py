"""A failover in the middle of an agent's conversation, with each official SDK as the client.

Turn 1: the primary A answers with a tool call (Anthropic: signed thinking first;
Gemini 3: a thoughtSignature on the call). Turn 2: A is rate limited; the fallback
B (each other format) gets the history translated, valid for it (its fake
validates like the real API; FakeGemini accepts only signatures it issued or the
documented placeholder) and free of A's signatures and thinking, and answers with
a tool call of its own. Turn 3: A is back (the health clock moved past the
cooldown) and gets the whole history valid for it: its own signatures intact where
the client's format could carry them, B's turn without any, Anthropic thinking
turned off because the last tool turn is B's and unsigned, and Gemini's
``skip_thought_signature_validator`` on B's call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types as gtypes

from tests.e2e import upstream_view as view
from tests.e2e.clients import CLIENTS, Client, Reply
from tests.e2e.faults import FaultWorld, fault_sdk, faults
from tests.fakes.base import Answer, FakeUpstream, Fault, ToolCall
from tests.fakes.gemini import FakeGemini

__all__ = ["fault_sdk", "faults"]  # the fixtures

THINKING = "The user wants Paris weather; call the tool."
PLACEHOLDER = "skip_thought_signature_validator"
PROMPT = "Weather in Paris, then Lyon? Use get_weather."
# How each client asks for thinking (Anthropic A) with the budget Anthropic needs.
THINK = {
    "anthropic": {"max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048}},
    "openai": {"reasoning_effort": "medium"},
    "gemini": {"thinking_config": gtypes.ThinkingConfig(include_thoughts=True, thinking_budget=2048)},
}


class Conversation:
    """One agent session through an SDK: the history as that SDK's client keeps it."""

    def __init__(self, client: Client, model: str, stream: bool, extra: dict[str, Any] | None) -> None:
        self.client, self.model, self.stream, self.extra = client, model, stream, extra
        self.history: list[Any] = []

    async def say(self, text: str) -> Reply:
        if self.client.name == "gemini":
            self.history.append(gtypes.Content(role="user", parts=[gtypes.Part(text=text)]))
        else:
            self.history.append({"role": "user", "content": text})
        return await self._ask()

    async def answer(self, reply: Reply, result: str) -> Reply:
        """Send the results of ``reply``'s tool calls back."""
        name = self.client.name
        if name == "openai":
            self.history += [{"role": "tool", "tool_call_id": c.id, "content": result} for c in reply.calls]
        elif name == "anthropic":
            blocks = [{"type": "tool_result", "tool_use_id": c.id, "content": result} for c in reply.calls]
            self.history.append({"role": "user", "content": blocks})
        else:
            parts = [
                gtypes.Part(
                    function_response=gtypes.FunctionResponse(
                        id=c.id, name=c.name, response={"output": result}
                    )
                )
                for c in reply.calls
            ]
            self.history.append(gtypes.Content(role="user", parts=parts))
        return await self._ask()

    async def _ask(self) -> Reply:
        reply = await self.client.ask(self.model, self.history, self.stream, True, self.extra)  # type: ignore[arg-type]
        self.history.append(reply.raw_assistant)
        return reply


def same_bytes(a: str, b: str) -> bool:
    """Two base64 spellings (standard or URL-safe) of the same bytes."""
    return base64.urlsafe_b64decode(a.replace("+", "-").replace("/", "_")) == base64.b64decode(b)


def anthropic_assistants(body: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [m["content"] for m in body["messages"] if m["role"] == "assistant"]


def gemini_calls(body: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """(name, args, thoughtSignature) of every functionCall part, in order."""
    return [
        (p["functionCall"]["name"], p["functionCall"].get("args", {}), p.get("thoughtSignature"))
        for c in body["contents"]
        if c.get("role") == "model"
        for p in c["parts"]
        if "functionCall" in p
    ]


stream_ids = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


def fallback_got_the_history(b: FakeUpstream, fmt: str, *foreign: str) -> None:
    """B got A's tool call and its result, translated, and none of A's signatures."""
    body = b.last.body
    assert view.tool_calls(fmt, body) == [("get_weather", {"city": "Paris"})]
    assert [(name, text) for _, name, text in view.tool_exchange(fmt, body)] == [
        ("get_weather", "18C, cloudy")
    ]
    dumped = json.dumps(body)
    assert "dtr1." not in dumped and all(f not in dumped for f in foreign)


@stream_ids
@pytest.mark.parametrize("fallback", ["openai", "gemini"])
@pytest.mark.parametrize("client_name", list(CLIENTS))
async def test_anthropic_with_thinking_fails_over_and_comes_back(
    faults: FaultWorld, client_name: str, fallback: str, stream: bool, fault_sdk: Callable[[str], Client]
) -> None:
    a, b = faults.fakes["anthropic"], faults.fakes[fallback]
    talk = Conversation(fault_sdk(client_name), f"anthropic-then-{fallback}", stream, THINK[client_name])

    a.script.append(Answer(None, [ToolCall("get_weather", {"city": "Paris"})], thinking=THINKING))
    first = await talk.say(PROMPT)
    assert [(c.name, c.args) for c in first.calls] == [("get_weather", {"city": "Paris"})]
    assert a.last.body["thinking"]["type"] in ("enabled", "adaptive")

    a.script.append(Fault(429, "rate limited", {"retry-after": "1"}))
    b.script.append(Answer(None, [ToolCall("get_weather", {"city": "Lyon"})]))
    second = await talk.answer(first, "18C, cloudy")
    assert [(c.name, c.args) for c in second.calls] == [("get_weather", {"city": "Lyon"})]
    rate_limited = a.last.body  # the request A refused was valid for it, thinking still on where signed
    if client_name != "openai":
        assert rate_limited["thinking"]["type"] == "enabled"
        assert anthropic_assistants(rate_limited)[0][0]["signature"].startswith("sig-msg_fake")
    fallback_got_the_history(b, fallback, "sig-msg_", THINKING)

    faults.clock.advance(1.5)
    a.script.append(Answer("Paris 18C, Lyon 21C."))
    third = await talk.answer(second, "21C, sunny")
    assert third.text == "Paris 18C, Lyon 21C."
    to_a = a.last.body
    assert to_a.get("thinking", {"type": "disabled"})["type"] == "disabled"  # B's tool turn is unsigned
    turn1, turn2 = anthropic_assistants(to_a)
    if client_name == "openai":  # Chat carries no reasoning signature back
        assert [blk["type"] for blk in turn1] == ["tool_use"]
    else:
        assert turn1[0]["type"] == "thinking"
        assert turn1[0]["thinking"] == THINKING and turn1[0]["signature"].startswith("sig-msg_fake")
        assert [blk["type"] for blk in turn1[1:]] == ["tool_use"]
    assert [(blk["type"], blk.get("input")) for blk in turn2] == [("tool_use", {"city": "Lyon"})]
    assert "dtr1." not in json.dumps(to_a)


@stream_ids
@pytest.mark.parametrize("fallback", ["anthropic", "openai"])
@pytest.mark.parametrize("client_name", list(CLIENTS))
async def test_gemini3_signed_call_fails_over_and_comes_back(
    faults: FaultWorld, client_name: str, fallback: str, stream: bool, fault_sdk: Callable[[str], Client]
) -> None:
    a, b = faults.fakes["gemini"], faults.fakes[fallback]
    assert isinstance(a, FakeGemini) and a.strict_signatures
    talk = Conversation(fault_sdk(client_name), f"gemini-then-{fallback}", stream, None)

    a.script.append(Answer(None, [ToolCall("get_weather", {"city": "Paris"})]))
    first = await talk.say(PROMPT)
    assert [(c.name, c.args) for c in first.calls] == [("get_weather", {"city": "Paris"})]
    (issued,) = a.issued
    signature = base64.b64encode(issued).decode()

    a.script.append(Fault(429, "rate limited", {"retry-after": "1"}))
    b.script.append(Answer(None, [ToolCall("get_weather", {"city": "Lyon"})]))
    second = await talk.answer(first, "18C, cloudy")
    assert [(c.name, c.args) for c in second.calls] == [("get_weather", {"city": "Lyon"})]
    fallback_got_the_history(b, fallback, signature, base64.urlsafe_b64encode(issued).decode())

    faults.clock.advance(1.5)
    a.script.append(Answer("Paris 18C, Lyon 21C."))
    third = await talk.answer(second, "21C, sunny")
    assert third.text == "Paris 18C, Lyon 21C."
    to_a = a.last.body
    (own, theirs) = gemini_calls(to_a)
    assert own[:2] == ("get_weather", {"city": "Paris"})
    if client_name == "gemini":  # only a Gemini client keeps the signature on the call
        assert own[2] is not None and same_bytes(own[2], signature)  # the SDK re-encodes it URL-safe
    else:
        assert own[2] == PLACEHOLDER
    assert theirs == ("get_weather", {"city": "Lyon"}, PLACEHOLDER)
