"""Each provider's count endpoint, asked the way detour asks it, says exactly what the
fake then bills for the same request: tools, tool calls and results, system text."""

from __future__ import annotations

import aiohttp
import pytest

from daemon.config import ProviderConfig
from daemon.ir import Message, Request, TextPart, Tool, ToolCallPart, ToolResultPart
from daemon.keys import Secret
from daemon.providers.http import HttpProvider
from daemon.redaction import Redactor
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeUpstream, HiddenPrompt
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI
from tests.test_sim import whole

MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "gemini": "gemini-2.5-flash"}
WEATHER = Tool(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def conversation(model: str) -> Request:
    call = ToolCallPart("call_1", "get_weather", '{"city": "Paris"}')
    return Request(
        model,
        [
            Message("user", [TextPart("Weather in Paris? Use get_weather.")]),
            Message("assistant", [TextPart("Let me look."), call]),
            Message("user", [ToolResultPart("call_1", [TextPart("18C, cloudy")], name="get_weather")]),
        ],
        system=[TextPart("You are terse.")],
        tools=[WEATHER],
        max_tokens=100,
    )


def fake_of(kind: str) -> FakeUpstream:
    if kind == "anthropic":
        return FakeAnthropic(key="k")
    return FakeOpenAI(key="k") if kind in ("openai", "openai-compatible") else FakeGemini(key="k")


@pytest.mark.parametrize("kind", ["anthropic", "openai", "gemini"])
async def test_the_count_is_what_is_then_billed(kind: str) -> None:
    fake = await fake_of(kind).start()
    fake.hidden = HiddenPrompt(per_request=321, ratio=1.3)
    base = fake.url + "/v1" if kind == "openai" else fake.url
    config = ProviderConfig(id="p", kind=kind, base_url=base)
    try:
        async with aiohttp.ClientSession() as session:
            provider = HttpProvider(config, Secret("k"), session, Redactor([]))
            req = conversation(MODELS[kind])
            counted = await provider.count_tokens(req, MODELS[kind])
            resp = await whole(provider, req, MODELS[kind])
    finally:
        await fake.close()
    [bill] = fake.bills
    assert counted == bill.input_tokens == resp.usage.input_tokens
    assert counted > 321 + 40  # the text of every part was counted, not only the overhead


async def test_an_openai_compatible_provider_is_never_asked() -> None:
    fake = await fake_of("openai-compatible").start()
    config = ProviderConfig(id="p", kind="openai-compatible", base_url=fake.url + "/v1")
    try:
        async with aiohttp.ClientSession() as session:
            provider = HttpProvider(config, Secret("k"), session, Redactor([]))
            assert await provider.count_tokens(conversation("deepseek-chat"), "deepseek-chat") is None
    finally:
        await fake.close()
    assert fake.received == []


async def test_a_failing_count_endpoint_gives_no_count() -> None:
    fake = await FakeAnthropic(key="k").start()
    config = ProviderConfig(id="p", kind="anthropic", base_url=fake.url)
    try:
        async with aiohttp.ClientSession() as session:
            wrong_key = HttpProvider(config, Secret("wrong"), session, Redactor([]))
            assert (
                await wrong_key.count_tokens(conversation("claude-sonnet-4-5"), "claude-sonnet-4-5") is None
            )
    finally:
        await fake.close()
