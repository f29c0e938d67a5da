"""Never refuse while something may work: a fallback cooling down for a second is waited
for, not answered with an instant 503; a chain that is out for longer is tried anyway."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.e2e import raw
from tests.e2e.clients import CLIENTS
from tests.e2e.conftest import MODEL, World, open_world
from tests.fakes.base import Answer, Fault

ROUTES = f"""
[[routes]]
name = "openai-alone"
chain = ["up-openai/{MODEL["openai"]}"]
max_wait_s = 0

[[routes]]
name = "anthropic-then-openai"
chain = ["up-anthropic/{MODEL["anthropic"]}", "up-openai/{MODEL["openai"]}"]
max_wait_s = 5

[[routes]]
name = "impatient"
chain = ["up-anthropic/{MODEL["anthropic"]}", "up-openai/{MODEL["openai"]}"]
max_wait_s = 0.2
"""


@pytest.fixture
async def waiting(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(monkeypatch, ROUTES) as w:
        yield w


async def rate_limit_openai(world: World, http: aiohttp.ClientSession, seconds: int) -> None:
    """The OpenAI model answers 429 with retry-after, as a primary elsewhere would."""
    world.fakes["openai"].script.append(Fault(429, "slow down", {"retry-after": str(seconds)}))
    out = await raw.ask(http, world.daemon.url, world.daemon.token, "openai", "openai-alone", False)
    assert out.status == 429 or out.status == 503, out.errors


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_fallback_cooling_down_for_a_second_is_waited_for(waiting: World, stream: bool) -> None:
    async with aiohttp.ClientSession() as http:
        await rate_limit_openai(waiting, http, 1)
        # Down for good: three calls (the first, and two more after a short backoff) fail.
        waiting.fakes["anthropic"].script.extend(Fault(500, "primary down") for _ in range(3))
        waiting.fakes["openai"].script.append(Answer("after the wait"))
        started = time.perf_counter()
        out = await raw.ask(
            http, waiting.daemon.url, waiting.daemon.token, "gemini", "anthropic-then-openai", stream
        )
        took = time.perf_counter() - started
    assert out.status == 200 and out.text == "after the wait", out.errors
    openai = f"up-openai/{MODEL['openai']}"
    assert out.attempts[:2] == [f"up-anthropic/{MODEL['anthropic']}:500", f"{openai}:cooldown"]
    assert sum(a.endswith(":500") for a in out.attempts) == 3
    assert out.attempts[-2].startswith(f"{openai}:waited_") and out.attempts[-1] == f"{openai}:ok"
    assert 0.4 < took < 3


async def test_the_sdk_gets_the_answer_after_the_wait(waiting: World) -> None:
    async with aiohttp.ClientSession() as http:
        await rate_limit_openai(waiting, http, 1)
    waiting.fakes["anthropic"].script.extend(Fault(529, "overloaded") for _ in range(3))
    waiting.fakes["openai"].script.append(Answer("after the wait"))
    sdk = CLIENTS["anthropic"](waiting.daemon.url, waiting.daemon.token)
    try:
        reply = await sdk.text("anthropic-then-openai", "hello", stream=True)
    finally:
        await sdk.close()
    assert reply.text == "after the wait"


async def test_a_chain_out_for_longer_than_the_wait_is_tried_anyway(waiting: World) -> None:
    async with aiohttp.ClientSession() as http:
        await rate_limit_openai(waiting, http, 30)
        waiting.fakes["anthropic"].script.append(Fault(429, "slow down", {"retry-after": "30"}))
        out = await raw.ask(http, waiting.daemon.url, waiting.daemon.token, "anthropic", "impatient", False)
        # The primary said 30 s and the fallback is cooling down for 30 s: called anyway.
        assert out.status == 200 and out.attempts[-2:] == [
            f"up-openai/{MODEL['openai']}:panic",
            f"up-openai/{MODEL['openai']}:ok",
        ]
        # Now both are cooling down for half a minute: the walk calls them anyway, in order.
        waiting.fakes["anthropic"].script.append(Answer("the primary, in panic mode"))
        out = await raw.ask(http, waiting.daemon.url, waiting.daemon.token, "openai", "impatient", True)
    assert out.status == 200 and out.text == "the primary, in panic mode"
    assert [a.rpartition(":")[2] for a in out.attempts] == ["cooldown", "cooldown", "panic", "ok"]
