"""Per-target parameter fitting: what each model rejects is dropped, with a debug line."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from daemon.config import Target
from daemon.formats import anthropic, openai_chat
from daemon.ir import Message, Reasoning, Request, TextPart
from daemon.providers.profiles import profile_of
from daemon.routing.adapt import adapt


def request(**kw: object) -> Request:
    return Request("coder", [Message("user", [TextPart("hi")])], max_tokens=1000, **kw)  # type: ignore[arg-type]


def fitted(kind: str, model: str, req: Request) -> Request:
    return adapt(req, Target(f"up-{kind}", model), profile_of(kind, model))


@pytest.mark.parametrize("model", ["o3", "o3-mini", "o4-mini", "o3-pro"])
def test_o3_and_o4_mini_get_no_stop_nor_sampling(model: str, caplog: pytest.LogCaptureFixture) -> None:
    req = request(stop=["END"], temperature=0.2, top_p=0.9)
    with caplog.at_level(logging.DEBUG, logger="daemon.routing.adapt"):
        out = fitted("openai", model, req)
    assert (out.stop, out.temperature, out.top_p) == ([], None, None)
    assert req.stop == ["END"]  # the next model in the chain still gets the client's request
    assert f"up-openai/{model}" in caplog.text and "'stop': []" in caplog.text
    body = openai_chat.encode_request(out, model, profile_of("openai", model))
    assert "stop" not in body and "temperature" not in body
    assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-4o-mini"])
def test_other_openai_models_keep_stop_and_sampling(model: str) -> None:
    out = fitted("openai", model, request(stop=["END"], temperature=0.2))
    assert (out.stop, out.temperature) == (["END"], 0.2)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-1", "claude-opus-4-5"])
def test_newer_claude_gets_temperature_without_top_p(model: str) -> None:
    body = anthropic.encode_request(
        fitted("anthropic", model, request(temperature=0.3, top_p=0.8)), model, profile_of("anthropic", model)
    )
    assert body["temperature"] == 0.3 and "top_p" not in body


def test_reasoning_is_dropped_for_a_chosen_openai_model_without_it() -> None:
    asked = request(reasoning=Reasoning(effort="medium"), source_format="openai_chat")
    routed = fitted("openai", "gpt-4.1", asked)  # the route chose gpt-4.1, e.g. as a fallback
    assert routed.reasoning is None
    assert "reasoning_effort" not in openai_chat.encode_request(
        routed, "gpt-4.1", profile_of("openai", "gpt-4.1")
    )
    assert fitted("openai", "o3", asked).reasoning == Reasoning(effort="medium")
    named = dataclasses.replace(asked, model="gpt-4.1")  # the client chose the model itself
    assert fitted("openai", "gpt-4.1", named).reasoning == Reasoning(effort="medium")
