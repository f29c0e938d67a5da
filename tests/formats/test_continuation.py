"""Each outbound encoder sends a continuation (``Request.continues``) as its provider takes it,
and the fake of that provider answers the rest of the answer, no more, no less."""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats import anthropic, gemini, openai_chat, openai_responses
from daemon.formats.continuation import CONTINUE_INSTRUCTION
from daemon.formats.profile import Profile
from daemon.ir import Message, Reasoning, Request, TextPart, ThinkingPart
from daemon.providers.profiles import lookup
from tests.fakes import anthropic_rules
from tests.fakes import gemini as gemini_fake
from tests.fakes import openai_chat as chat_fake
from tests.fakes import openai_responses as responses_fake
from tests.fakes.base import Answer, continued
from tests.formats.continuing import WIRES, answered, post

WHOLE = "The answer is forty-two,\n\nand here is why it could be nothing else at all."
FORMATS: dict[str, ModuleType] = {
    "anthropic": anthropic,
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "gemini": gemini,
}
# (wire, provider kind, model, base URL, the form its continuation takes)
TARGETS = [
    ("anthropic", "anthropic", "claude-sonnet-4-5", None, "prefill"),
    ("anthropic", "anthropic", "claude-opus-4-6", None, "instruction"),
    ("openai_chat", "openai", "gpt-4.1", None, "instruction"),
    ("openai_chat", "openai-compatible", "deepseek-chat", "https://api.deepseek.com/beta", "prefix"),
    ("openai_chat", "openai-compatible", "deepseek-chat", "https://api.deepseek.com", "instruction"),
    ("openai_chat", "openai-compatible", "mistral-large-latest", "https://api.mistral.ai/v1", "prefix"),
    ("openai_chat", "openai-compatible", "llama-3.3-70b", "http://localhost:8000/v1", "instruction"),
    ("openai_responses", "openai", "gpt-5", None, "instruction"),
    ("gemini", "gemini", "gemini-2.5-flash", None, "prefill"),
    ("gemini", "gemini", "gemini-3-pro-preview", None, "prefill"),
]
IDS = [f"{t[2]}-{t[4]}" for t in TARGETS]


def continuing(prefix: str, model: str = "client-model", **kw: Any) -> Request:
    """What ``cont`` builds: the client's request and the answer so far, to be continued."""
    history = [Message("user", [TextPart("Why forty-two?")]), Message("assistant", [TextPart(prefix)])]
    return Request(model, history, stream=True, continues=True, **kw)


def encoded(wire: str, req: Request, model: str, profile: Profile) -> dict[str, Any]:
    body = FORMATS[wire].encode_request(req, model, profile)
    return dict(orjson.loads(orjson.dumps(body)))


def tail(wire: str, body: dict[str, Any]) -> list[Any]:
    """The last two messages (items, contents) of an encoded body."""
    key = {
        "anthropic": "messages",
        "openai_chat": "messages",
        "openai_responses": "input",
        "gemini": "contents",
    }
    return list(body[key[wire]][-2:])


@pytest.mark.parametrize(("wire", "kind", "model", "base_url", "form"), TARGETS, ids=IDS)
def test_each_target_gets_its_form(wire: str, kind: str, model: str, base_url: str | None, form: str) -> None:
    profile = lookup(kind, model, None, base_url)
    assert profile.continuation == form
    prefix = WHOLE[:14]  # "The answer is " ends in a space
    last2 = tail(wire, encoded(wire, continuing(prefix), model, profile))
    match wire, form:
        case "anthropic", "prefill":
            assert last2[1] == {"role": "assistant", "content": prefix.rstrip()}
        case "anthropic", _:
            assert last2 == [
                {"role": "assistant", "content": prefix},
                {"role": "user", "content": CONTINUE_INSTRUCTION},
            ]
        case "openai_chat", "prefix":
            assert last2[1] == {"role": "assistant", "content": prefix, "prefix": True}
        case "openai_chat" | "openai_responses", _:
            assert last2[0] == {"role": "assistant", "content": prefix}
            assert last2[1]["role"] == "user" and CONTINUE_INSTRUCTION in orjson.dumps(last2[1]).decode()
        case "gemini", _:
            assert last2[1] == {"role": "model", "parts": [{"text": prefix}]}


def test_anthropic_turns_thinking_off_for_a_prefill_and_keeps_it_with_the_instruction() -> None:
    req = continuing(WHOLE[:20], reasoning=Reasoning(budget_tokens=4000))
    body = encoded("anthropic", req, "claude-sonnet-4-5", lookup("anthropic", "claude-sonnet-4-5"))
    assert "thinking" not in body and body["max_tokens"] == 8192
    anthropic_rules.validate(body)
    req = continuing(WHOLE[:20], reasoning=Reasoning(effort="high"))
    body = encoded("anthropic", req, "claude-opus-4-6", lookup("anthropic", "claude-opus-4-6"))
    assert (
        body["thinking"] == {"type": "adaptive"} and body["messages"][-1]["content"] == CONTINUE_INSTRUCTION
    )
    anthropic_rules.validate(body)


def test_gemini_keeps_its_thinking_config_on_a_continuation() -> None:
    req = continuing(WHOLE[:20], reasoning=Reasoning(budget_tokens=2048))
    plain = dataclasses.replace(req, continues=False)
    for model in ("gemini-2.5-flash", "gemini-3-pro-preview"):
        profile = lookup("gemini", model)
        body = encoded("gemini", req, model, profile)
        assert body["generationConfig"] == encoded("gemini", plain, model, profile)["generationConfig"]
        assert "thinkingConfig" in body["generationConfig"]


@pytest.mark.parametrize(("wire", "kind", "model", "base_url", "form"), TARGETS, ids=IDS)
def test_without_continues_nothing_changes(
    wire: str, kind: str, model: str, base_url: str | None, form: str
) -> None:
    """A request that is no continuation encodes exactly as before, trailing assistant or not."""
    profile = lookup(kind, model, None, base_url)
    trailing = dataclasses.replace(continuing(WHOLE[:20]), continues=False)
    body = encoded(wire, trailing, model, profile)
    assert CONTINUE_INSTRUCTION not in orjson.dumps(body).decode() and b'"prefix"' not in orjson.dumps(body)
    # ``continues`` on a request whose last message holds no answer asks nothing either.
    asked = Request("m", [Message("user", [TextPart("Why?")])], stream=True)
    same = encoded(wire, dataclasses.replace(asked, continues=True), model, profile)
    assert same == encoded(wire, asked, model, profile)


@pytest.mark.parametrize(("wire", "kind", "model", "base_url", "form"), TARGETS, ids=IDS)
@pytest.mark.parametrize("cut", [14, 25, 40])
async def test_the_fake_answers_the_rest_of_what_the_encoder_sent(
    wire: str, kind: str, model: str, base_url: str | None, form: str, cut: int
) -> None:
    profile = lookup(kind, model, None, base_url)
    async with WIRES[wire].fake() as fake:
        fake.script.append(Answer(text=WHOLE, chunks=4))
        status, raw = await post(
            WIRES[wire], fake, model, encoded(wire, continuing(WHOLE[:cut]), model, profile)
        )
        assert status == 200, raw
        given = fake.continuations[0]
        # Anthropic's prefill goes without its trailing whitespace, and the model writes it again.
        assert given == (WHOLE[:cut].rstrip() if form == "prefill" and wire == "anthropic" else WHOLE[:cut])
        assert given + answered(fake, raw) == WHOLE


def prefix_read(wire: str, model: str, body: dict[str, Any]) -> str | None:
    """The prefix the fake of ``wire`` reads in an encoded body (None: no continuation)."""
    match wire:
        case "anthropic":
            anthropic_rules.validate(body)
            return anthropic_rules.continuation_prefix(body)
        case "openai_chat":
            chat_fake.validate(body)
            return chat_fake.continuation_prefix(body)
        case "openai_responses":
            responses_fake.validate(body, set())
            return responses_fake.continuation_prefix(body)
        case _:
            gemini_fake.Validator(gemini_fake.FakeGemini(), model).check(body)
            return gemini_fake.continuation_prefix(body)


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(" \n\t"), min_size=2
    ),
    st.data(),
    st.sampled_from(TARGETS),
)
def test_prefix_and_answered_rest_make_the_whole_answer(whole: str, data: st.DataObject, target: Any) -> None:
    wire, kind, model, base_url, _ = target
    cut = data.draw(st.integers(1, len(whole)))
    if not whole[:cut].strip():
        return  # nothing to continue (cont continues only after text reached the client)
    body = encoded(wire, continuing(whole[:cut]), model, lookup(kind, model, None, base_url))
    given = prefix_read(wire, model, body)
    assert given is not None
    rest = continued(Answer(text=whole), given).text or ""
    assert given + rest == whole


@pytest.mark.parametrize(("wire", "kind", "model", "base_url", "form"), TARGETS, ids=IDS)
def test_an_answer_in_several_parts_goes_as_one_prefix(
    wire: str, kind: str, model: str, base_url: str | None, form: str
) -> None:
    """Thinking and text as the client received them: the text, character for character (no
    blank line where two parts met), is the prefix the fake reads."""
    req = continuing("")
    req.messages[-1] = Message(
        "assistant", [ThinkingPart("Hmm."), TextPart(WHOLE[:10]), TextPart(WHOLE[10:30])]
    )
    assert prefix_read(wire, model, encoded(wire, req, model, lookup(kind, model, None, base_url))) == (
        WHOLE[:30].rstrip() if form == "prefill" and wire == "anthropic" else WHOLE[:30]
    )


@pytest.mark.parametrize(("wire", "kind", "model", "base_url", "form"), TARGETS, ids=IDS)
def test_an_answer_cut_in_its_thinking_goes_as_a_plain_request(
    wire: str, kind: str, model: str, base_url: str | None, form: str
) -> None:
    profile = lookup(kind, model, None, base_url)
    req = continuing("")
    req.messages[-1] = Message("assistant", [ThinkingPart("Let me see")])
    body = encoded(wire, req, model, profile)
    assert prefix_read(wire, model, body) is None
    assert body == encoded(wire, dataclasses.replace(req, continues=False), model, profile)
