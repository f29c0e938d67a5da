"""The fakes' side of continue_on_cut: a stream broken after exactly N characters of answer,
and a continuation request, in each wire's form, answered with the rest of the answer."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from daemon.formats.continuation import CONTINUE_INSTRUCTION
from tests.fakes.base import Answer, StreamFault
from tests.formats.continuing import WIRES, answered, post

WHOLE = "The answer is forty-two, and here is why it could be nothing else at all."
THOUGHT = "Think about the question first."
MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai_chat": "gpt-4.1",
    "openai_responses": "gpt-5",
    "gemini": "gemini-2.5-flash",
}


def plain(wire: str, model: str) -> dict[str, Any]:
    """A streamed request with nothing to continue, in ``wire``'s form."""
    match wire:
        case "anthropic":
            return {
                "model": model,
                "max_tokens": 500,
                "stream": True,
                "messages": [{"role": "user", "content": "Why?"}],
            }
        case "openai_chat":
            return {"model": model, "stream": True, "messages": [{"role": "user", "content": "Why?"}]}
        case "openai_responses":
            return {"model": model, "stream": True, "input": [{"role": "user", "content": "Why?"}]}
        case _:
            return {"contents": [{"role": "user", "parts": [{"text": "Why?"}]}]}


def continuation(wire: str, model: str, prefix: str, form: str) -> dict[str, Any]:
    """A request to continue an answer that starts with ``prefix``, in ``wire``'s ``form``
    (prefill, prefix or instruction), written by hand as detour's encoders should."""
    body = plain(wire, model)
    instruction = form == "instruction"
    match wire:
        case "anthropic":
            body["messages"].append({"role": "assistant", "content": prefix})
            if instruction:
                body["messages"].append({"role": "user", "content": CONTINUE_INSTRUCTION})
        case "openai_chat":
            body["messages"].append(
                {"role": "assistant", "content": prefix, **({"prefix": True} if form == "prefix" else {})}
            )
            if instruction:
                body["messages"].append({"role": "user", "content": CONTINUE_INSTRUCTION})
        case "openai_responses":
            body["input"] += [
                {"role": "assistant", "content": prefix},
                {"role": "user", "content": CONTINUE_INSTRUCTION},
            ]
        case _:
            body["contents"].append({"role": "model", "parts": [{"text": prefix}]})
    return body


FORMS = [
    ("anthropic", "claude-sonnet-4-5", "prefill"),
    ("anthropic", "claude-opus-4-6", "instruction"),
    ("openai_chat", "deepseek-chat", "prefix"),
    ("openai_chat", "mistral-large-latest", "prefix"),
    ("openai_chat", "gpt-4.1", "instruction"),
    ("openai_responses", "gpt-5", "instruction"),
    ("gemini", "gemini-2.5-flash", "prefill"),
]


@pytest.mark.parametrize("wire", list(WIRES))
@pytest.mark.parametrize("action", ["cut", "error", "malformed"])
@pytest.mark.parametrize("after", [0, 5, len(THOUGHT), len(THOUGHT) + 17, len(THOUGHT + WHOLE)])
async def test_a_stream_breaks_after_exactly_n_characters(wire: str, action: str, after: int) -> None:
    async with WIRES[wire].fake() as fake:
        fake.script.append(
            Answer(
                text=WHOLE, thinking=THOUGHT, chunks=3, fault=StreamFault(after_chars=after, action=action)
            )
        )
        status, raw = await post(WIRES[wire], fake, MODELS[wire], plain(wire, MODELS[wire]))
        assert status == 200
        assert answered(fake, raw) == (THOUGHT + WHOLE)[:after]
        if action == "error":
            assert raw.endswith(fake.inband_error(529))
        assert fake.bills[-1].complete is False


@pytest.mark.parametrize("wire", list(WIRES))
async def test_a_stall_sat_through_sends_the_rest(wire: str) -> None:
    async with WIRES[wire].fake() as fake:
        fault = StreamFault(after_chars=9, action="stall", stall_s=0.05)
        fake.script.append(Answer(text=WHOLE, chunks=2, fault=fault))
        status, raw = await post(WIRES[wire], fake, MODELS[wire], plain(wire, MODELS[wire]))
        assert status == 200 and answered(fake, raw) == WHOLE
        assert fake.bills[-1].complete


@pytest.mark.parametrize(("wire", "model", "form"), FORMS)
async def test_a_continuation_is_answered_with_the_rest(wire: str, model: str, form: str) -> None:
    prefix = WHOLE[:40]
    async with WIRES[wire].fake() as fake:
        fake.script.append(Answer(text=WHOLE, thinking=THOUGHT, chunks=4, input_tokens=100, output_tokens=30))
        status, raw = await post(WIRES[wire], fake, model, continuation(wire, model, prefix, form))
        assert status == 200, raw
        assert answered(fake, raw) == WHOLE[40:]
        assert fake.continuations == [prefix]
        # Its prompt holds the prefix; its output is the rest alone.
        assert fake.bills[-1].input_tokens == 100 + math.ceil(40 / 4)
        assert fake.bills[-1].output_tokens == math.ceil(30 * len(WHOLE[40:]) / len(WHOLE + THOUGHT))


@pytest.mark.parametrize(("wire", "model", "form"), FORMS)
async def test_a_model_that_repeats_itself_repeats_the_prefix_end(wire: str, model: str, form: str) -> None:
    async with WIRES[wire].fake() as fake:
        fake.script.append(Answer(text=WHOLE, repeat_chars=6))
        status, raw = await post(WIRES[wire], fake, model, continuation(wire, model, WHOLE[:30], form))
        assert status == 200 and answered(fake, raw) == WHOLE[24:]


@pytest.mark.parametrize(("wire", "model", "form"), FORMS)
async def test_a_wrong_prefix_is_a_400_in_the_providers_shape(wire: str, model: str, form: str) -> None:
    async with WIRES[wire].fake() as fake:
        fake.script.append(Answer(text=WHOLE))
        status, raw = await post(
            WIRES[wire], fake, model, continuation(wire, model, "The answer is six", form)
        )
        body = json.loads(raw)
        assert status == 400
        match wire:
            case "anthropic":
                assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
            case "gemini":
                assert body["error"]["status"] == "INVALID_ARGUMENT"
            case _:
                assert body["error"]["type"] == "invalid_request_error"
        assert "continuation prefix" in json.dumps(body) and fake.continuations == []


async def post_anthropic(body: dict[str, Any]) -> tuple[int, str]:
    wire = WIRES["anthropic"]
    async with wire.fake() as fake:
        fake.default = Answer(text=WHOLE)
        status, raw = await post(wire, fake, body["model"], body)
        return status, raw.decode()


async def test_anthropic_refuses_a_prefill_ending_in_whitespace() -> None:
    status, raw = await post_anthropic(continuation("anthropic", "claude-sonnet-4-5", WHOLE[:14], "prefill"))
    assert status == 400 and "final assistant content cannot end with trailing whitespace" in raw


async def test_anthropic_refuses_a_prefill_with_thinking_on() -> None:
    body = continuation("anthropic", "claude-sonnet-4-5", WHOLE[:13], "prefill")
    body["thinking"], body["max_tokens"] = {"type": "enabled", "budget_tokens": 1024}, 4000
    status, raw = await post_anthropic(body)
    assert status == 400 and "a final `assistant` message must start with a thinking block" in raw
    assert "invalid_request_error" in raw


async def test_claude_4_6_refuses_a_prefill_and_takes_the_instruction() -> None:
    status, raw = await post_anthropic(continuation("anthropic", "claude-opus-4-6", WHOLE[:13], "prefill"))
    assert status == 400 and "does not support assistant message prefill" in raw
    body = continuation("anthropic", "claude-opus-4-6", WHOLE[:13], "instruction")
    body["thinking"] = {"type": "adaptive"}
    status, raw = await post_anthropic(body)
    assert status == 200, raw


async def test_chat_takes_prefix_on_the_last_assistant_message_only() -> None:
    wire = WIRES["openai_chat"]
    async with wire.fake() as fake:
        fake.default = Answer(text=WHOLE)
        body = continuation("openai_chat", "deepseek-chat", WHOLE[:13], "prefix")
        body["messages"].append({"role": "user", "content": "And?"})
        status, raw = await post(wire, fake, "deepseek-chat", body)
        assert status == 400 and b"only the last message may be a prefix" in raw
        status, raw = await post(
            wire, fake, "gpt-4.1", continuation("openai_chat", "gpt-4.1", WHOLE[:13], "prefix")
        )
        assert status == 400 and b"'prefix' was unexpected" in raw
        # A trailing assistant message alone asks nothing to be continued: the answer comes whole.
        status, raw = await post(
            wire, fake, "gpt-4.1", continuation("openai_chat", "gpt-4.1", WHOLE[:13], "prefill")
        )
        assert status == 200 and answered(fake, raw) == WHOLE and fake.continuations == []
