"""IR from other formats -> a request body Anthropic accepts: ids, tool pairing, system
placement, thinking signatures and their tiers."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.formats import anthropic as fmt
from daemon.formats.anthropic_response import tool_name
from daemon.formats.ids import for_anthropic
from daemon.ir import (
    ApiError,
    ImagePart,
    Message,
    Opaque,
    Reasoning,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of
from tests.formats.anthropic.samples import ir_request, openai_shaped


def test_foreign_history_is_made_acceptable() -> None:
    out = fmt.encode_request(
        openai_shaped(), "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5")
    )
    renamed = tool_name("get.weather")
    assert renamed != "get.weather" and renamed.startswith("get_weather_")
    c1, c2 = for_anthropic("call:1/a"), for_anthropic("call:2")
    assert out == {
        "model": "claude-sonnet-4-5",
        # Thinking could not stay on (the calls carry no Anthropic signature), so the plain default.
        "max_tokens": 8192,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}],
        "messages": [
            {"role": "user", "content": "(continued)"},
            {"role": "assistant", "content": "Earlier answer."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": c1, "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": c2, "name": renamed, "input": {"_raw": "not json"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": c1, "content": "18C"},
                {"type": "tool_result", "tool_use_id": c2, "content": "20C", "is_error": True},
                {"type": "text", "text": "And Rome?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAA"}}]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Get weather",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": renamed, "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "any"},
        "temperature": 1,
        "stream": False,
    }  # fmt: skip


def signed_turn(**kw: Any) -> Request:
    return ir_request(
        messages=[
            Message("user", [TextPart("go")]),
            Message("assistant", [
                ThinkingPart("plan", opaque=Opaque("anthropic", "sig")),
                ToolCallPart("toolu_1", "f", "{}"),
            ]),
            Message("user", [ToolResultPart("toolu_1", [TextPart("ok")]), TextPart("go on")]),
        ],
        tools=[Tool("f")],
        **kw,
    )  # fmt: skip


def test_signed_history_keeps_thinking_and_unforces_the_tool_choice() -> None:
    req = signed_turn(
        reasoning=Reasoning(budget_tokens=50_000),
        max_tokens=20_000,
        tool_choice=ToolChoice("tool", name="f", parallel=False),
        temperature=0.2,
        top_k=5,
        top_p=0.97,
    )
    out = fmt.encode_request(req, "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5"))
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 10_000}  # below max_tokens, room to answer
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "temperature" not in out and "top_k" not in out and out["top_p"] == 0.97
    assert out["messages"][1]["content"][0] == {"type": "thinking", "thinking": "plan", "signature": "sig"}


@pytest.mark.parametrize(
    ("model", "reasoning", "max_tokens", "thinking", "effort"),
    [
        ("claude-opus-4-8", Reasoning(effort="medium"), None, {"type": "adaptive"}, "medium"),
        ("claude-opus-4-8", Reasoning(effort="minimal", include_thoughts=True), 4000,
         {"type": "adaptive", "display": "summarized"}, "low"),
        ("claude-opus-4-8", Reasoning(effort="none"), None, None, None),
        ("claude-sonnet-4-5-20250929", Reasoning(effort="high"), None, {"type": "enabled", "budget_tokens": 16384}, None),
        ("claude-3-7-sonnet-latest", Reasoning(budget_tokens=500), 4000, {"type": "enabled", "budget_tokens": 1024}, None),
        ("claude-sonnet-4-5", Reasoning(budget_tokens=4000), 1024, None, None),
        ("claude-3-5-haiku-latest", Reasoning(effort="high"), None, None, None),
        ("claude-opus-4-8", Reasoning(enabled=False, effort="low"), None, None, "low"),
    ],
)  # fmt: skip
def test_reasoning_encodes_per_model(
    model: str, reasoning: Reasoning, max_tokens: int | None, thinking: Any, effort: str | None
) -> None:
    out = fmt.encode_request(
        signed_turn(reasoning=reasoning, max_tokens=max_tokens, source_format="openai_chat"),
        model,
        profile_of("anthropic", model),
    )
    assert out.get("thinking") == thinking
    assert out.get("output_config", {}).get("effort") == effort
    assert out["max_tokens"] == (max_tokens or (32000 if thinking else 8192))


def test_disabled_thinking_is_sent_only_for_a_client_that_sent_it() -> None:
    assert "thinking" not in fmt.encode_request(
        signed_turn(reasoning=Reasoning(False)), "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8")
    )
    native = signed_turn(reasoning=Reasoning(False), source_format="anthropic")
    assert fmt.encode_request(native, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))[
        "thinking"
    ] == {"type": "disabled"}


def test_thinking_is_stripped_from_a_final_prefill_when_off() -> None:
    req = ir_request(
        messages=[
            Message("user", [TextPart("hi")]),
            Message(
                "assistant", [ThinkingPart("x", opaque=Opaque("anthropic", "s")), TextPart("The answer is")]
            ),
        ]
    )
    assert fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))["messages"][
        -1
    ] == {
        "role": "assistant",
        "content": "The answer is",
    }


def test_system_only_and_images() -> None:
    req = ir_request(
        source_format="openai_chat",
        messages=[
            Message("system", [TextPart("You are a poet.")]),
            Message(
                "user", [ImagePart(data="/9j/4AAQ"), ImagePart(url="https://x.test/a.png", detail="high")]
            ),
        ],
    )
    out = fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))
    assert out["system"] == "You are a poet."
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]  # fmt: skip
    only_system = ir_request(source_format="openai_chat", messages=[Message("system", [TextPart("Hi.")])])
    assert fmt.encode_request(only_system, "m", profile_of("anthropic", "m"))["messages"] == [
        {"role": "user", "content": "(continued)"}
    ]


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (ir_request(messages=[Message("user", [ImagePart(media_type="image/bmp", data="Qk0")])]),
         "messages[0].parts[0]: Anthropic takes JPEG, PNG, GIF and WebP images only, not image/bmp"),
        (ir_request(tools=[Tool("f", parameters={"type": "array"})]),
         "tools[0] (f): Anthropic takes object input schemas only, not type 'array'"),
        (ir_request(messages=[Message("user", [ToolCallPart("c", "f")])]),
         "messages[0].parts[0]: a user message cannot carry a tool_call part"),
    ],
)  # fmt: skip
def test_unencodable_ir_is_a_clear_400(req: Request, message: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))
    assert (e.value.status, e.value.message) == (400, message)
