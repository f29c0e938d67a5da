"""Alerts from a running daemon, delivered to a local webhook, a DogStatsD socket and /events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from tests.fakes.base import Answer, Fault
from tests.telemetry.world import ANTHROPIC_KEY, FALLBACK, PRIMARY, World, event_stream, open_world
from tests.wait import until

PRICED = """
[providers.up-anthropic.models."claude-sonnet-4-5"]
input_usd_mtok = 1000.0
output_usd_mtok = 1000.0

[budget]
daily_usd = 0.5
"""


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async for w in open_world(monkeypatch):
        yield w


@pytest.fixture
async def priced(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """The primary at $0.001 a token and a daily budget of $0.50."""
    async for w in open_world(monkeypatch, PRICED):
        yield w


async def wait_for(predicate: Callable[[], bool]) -> None:
    await until(predicate, "came")


async def test_failover_burst_fires_once_at_the_threshold_and_once_on_recovery(world: World) -> None:
    # [alerts] failovers = 3 within window_s = 2 (room for a loaded machine)
    for i in range(4):
        world.anthropic.script.append(Fault(500))
        status, headers, _ = await world.chat()
        assert status == 200 and headers["x-detour-model"] == "gpt-4.1"
        if i == 1:
            await asyncio.sleep(0.05)
            assert world.webhook.received == []  # two failovers: not yet
    await wait_for(lambda: len(world.webhook.received) == 1)
    [firing] = world.webhook.received
    assert firing["text"].startswith("detour: up-anthropic failed over 3 times")

    await wait_for(lambda: len(world.webhook.received) == 2)
    recovered = world.webhook.received[1]["text"]
    assert recovered.startswith("detour (recovered): up-anthropic has not failed over")
    await asyncio.sleep(0.1)
    assert len(world.webhook.received) == 2

    failovers = [d for d in world.statsd.datagrams if d.startswith("ai.gateway.failover:")]
    assert (
        failovers == [f"ai.gateway.failover:1|c|#model:{PRIMARY},fallback:{FALLBACK},reason:server_error"] * 4
    )
    alerts = [d for d in world.statsd.datagrams if d.startswith("ai.gateway.alert:")]
    assert alerts == [
        "ai.gateway.alert:1|c|#condition:failover_burst,state:firing,provider:up-anthropic",
        "ai.gateway.alert:1|c|#condition:failover_burst,state:recovered,provider:up-anthropic",
    ]


async def test_a_rejected_key_fails_over_and_alerts_on_the_event_stream(world: World) -> None:
    stream = await event_stream(world)
    world.anthropic.script.append(Fault(401, message=f"invalid x-api-key: {ANTHROPIC_KEY}"))
    status, headers, _ = await world.chat()
    assert status == 200
    assert headers["x-detour-attempts"] == f"{PRIMARY}:401,{FALLBACK}:ok"
    alert = await stream.until("alert", condition="key_rejected")
    assert alert["state"] == "firing" and alert["provider"] == "up-anthropic"
    assert "detour keys set up-anthropic" in alert["message"]
    await wait_for(lambda: len(world.webhook.received) == 1)
    assert ANTHROPIC_KEY not in repr(stream.seen) + repr(world.webhook.received)

    # Its models are now skipped without a call: still served, and no second alert.
    status, headers, _ = await world.chat()
    assert status == 200 and headers["x-detour-attempts"] == f"{PRIMARY}:auth,{FALLBACK}:ok"
    await stream.until("response")
    await asyncio.sleep(0.05)
    assert len(world.webhook.received) == 1


async def test_budget_alerts_at_80_and_100_percent_and_recovery(priced: World) -> None:
    w = priced
    stream = await event_stream(w)
    # $0.412 of $0.50: past 80%.
    w.anthropic.script.append(Answer(output_tokens=400))
    status, _, _ = await w.chat(max_tokens=300)
    assert status == 200
    alert = await stream.until("alert", condition="budget_80")
    assert alert["state"] == "firing"
    assert alert["message"] == "the daily budget is at 82%: $0.41 of $0.50"

    # The next one cannot be paid for: refused, and the budget is spent.
    status, _, body = await w.chat(max_tokens=300)
    assert status == 402, body
    exhausted = await stream.until("budget", scope="day")
    assert exhausted["exhausted"] is True
    alert = await stream.until("alert", condition="budget_100")
    assert alert["state"] == "firing" and alert["message"].startswith("the daily budget is spent")

    # Once more: nothing new fires.
    status, _, _ = await w.chat(max_tokens=300)
    assert status == 402

    # Raising the limit clears both.
    async with (
        aiohttp.ClientSession() as s,
        s.put(w.daemon.url + "/budget", json={"daily_usd": 100}, headers=w.daemon.auth()) as r,
    ):
        assert r.status == 200
    status, _, _ = await w.chat(max_tokens=300)
    assert status == 200
    cleared = {(await stream.until("alert", state="recovered"))["condition"] for _ in range(2)}
    assert cleared == {"budget_80", "budget_100"}
    await wait_for(lambda: len(w.webhook.received) == 4)
    alerts = [e for e in stream.seen if e["type"] == "alert"]
    assert [(a["condition"], a["state"]) for a in alerts] == [
        ("budget_80", "firing"),
        ("budget_100", "firing"),
        ("budget_100", "recovered"),
        ("budget_80", "recovered"),
    ]
