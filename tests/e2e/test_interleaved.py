"""OpenAI's parallel tool calls with their stream fragments interleaved (call 0, call 1,
call 0, ...), relayed through the daemon to each official SDK, which must parse every
call whole with its own arguments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e import upstream_view as view
from tests.e2e.clients import CLIENTS, Client
from tests.e2e.conftest import ROUTE, World
from tests.fakes.base import Answer, ToolCall

CALLS = [
    ToolCall("get_weather", {"city": "Paris"}, id="call_paris"),
    ToolCall("get_weather", {"city": "Rome"}, id="call_rome"),
    ToolCall("get_weather", {"city": "Lisbon, Portugal"}, id="call_lisbon"),
]


@pytest.mark.parametrize("client", CLIENTS)
async def test_interleaved_tool_calls_reach_every_sdk_whole(
    world: World, sdk: Callable[[str], Client], client: str
) -> None:
    fake = world.fakes["openai"]
    fake.script.append(Answer(text=None, tool_calls=CALLS, interleave=True))
    fake.script.append(Answer(text="Sunny, mild and windy."))
    first, second = await sdk(client).tool_round_trip(ROUTE["openai"], stream=True)
    assert [(c.name, c.args) for c in first.calls] == [(c.name, c.args) for c in CALLS]
    assert second.text == "Sunny, mild and windy."
    # Each result went back paired with its own call.
    exchange = view.tool_exchange("openai", fake.last.body)
    assert [name for _, name, _ in exchange] == ["get_weather"] * 3
    sent = fake.last.body["messages"]
    calls = next(m["tool_calls"] for m in sent if m["role"] == "assistant")
    assert [c["function"]["arguments"].replace(" ", "") for c in calls] == [
        '{"city":"Paris"}',
        '{"city":"Rome"}',
        '{"city":"Lisbon,Portugal"}',
    ]
