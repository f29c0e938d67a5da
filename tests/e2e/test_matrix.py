"""Every client SDK x every upstream format, plain and streaming: text with a
system prompt, a two-turn tool round trip, and an image."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e import upstream_view as view
from tests.e2e.clients import CLIENTS, PNG_B64, SYSTEM, Client
from tests.e2e.conftest import ROUTE, World
from tests.fakes.base import Answer, ToolCall

UPSTREAMS = ["anthropic", "openai", "gemini"]
pairings = pytest.mark.parametrize(
    ("client", "upstream", "stream"),
    [(c, u, s) for c in CLIENTS for u in UPSTREAMS for s in (False, True)],
    ids=lambda v: {False: "plain", True: "stream"}.get(v, v) if isinstance(v, bool) else v,
)


Sdk = Callable[[str], Client]


@pairings
async def test_text_with_system_prompt(
    world: World, sdk: Sdk, client: str, upstream: str, stream: bool
) -> None:
    fake = world.fakes[upstream]
    fake.script.append(Answer(text="Bonjour from the upstream, in pieces.", chunks=4))
    reply = await sdk(client).text(ROUTE[upstream], "Say hello", stream)
    assert reply.text == "Bonjour from the upstream, in pieces."
    assert reply.calls == []
    body = fake.last.body
    assert view.system_text(upstream, body) == SYSTEM or SYSTEM in view.system_text(upstream, body)
    assert "Say hello" in view.user_texts(upstream, body)


@pairings
async def test_tool_round_trip(world: World, sdk: Sdk, client: str, upstream: str, stream: bool) -> None:
    fake = world.fakes[upstream]
    fake.script.append(Answer(text="Let me check.", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    fake.script.append(Answer(text="It is 18C and cloudy in Paris."))
    first, second = await sdk(client).tool_round_trip(ROUTE[upstream], stream)
    assert [(c.name, c.args) for c in first.calls] == [("get_weather", {"city": "Paris"})]
    assert all(c.id for c in first.calls) or client == "gemini"
    assert second.text == "It is 18C and cloudy in Paris."
    assert second.calls == []
    first_body, second_body = fake.received[-2].body, fake.received[-1].body
    assert view.tool_names(upstream, first_body) == ["get_weather"]
    exchange = view.tool_exchange(upstream, second_body)
    assert [(name, text) for _, name, text in exchange] == [("get_weather", "18C, cloudy")]


@pairings
async def test_image(world: World, sdk: Sdk, client: str, upstream: str, stream: bool) -> None:
    fake = world.fakes[upstream]
    fake.script.append(Answer(text="A single pixel."))
    reply = await sdk(client).image(ROUTE[upstream], stream)
    assert reply.text == "A single pixel."
    assert view.image_data(upstream, fake.last.body) == [PNG_B64]
