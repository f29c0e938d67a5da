"""The idle limit after the first content: the upstream's silence, never the client's pace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from daemon.config import ProviderConfig
from daemon.ir import ApiError, Message, Request, StreamEnd, StreamEvent, TextDelta, TextPart
from daemon.keys import Secret
from daemon.providers.http import HttpProvider
from daemon.redaction import Redactor

LIMIT_S = 0.05
REQ = Request("gpt-4.1", [Message("user", [TextPart("hi")])], max_tokens=10, stream=True)


def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({"id": "chatcmpl-1", "model": "gpt-4.1", "choices": [choice]}) + b"\n\n"


async def upstream(go_on: asyncio.Event) -> tuple[web.AppRunner, str]:
    """An OpenAI stream: one word, then (once ``go_on`` is set) the rest and its end."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        await out.write(chunk({"role": "assistant", "content": "one"}))
        await go_on.wait()
        await out.write(chunk({"content": " two"}) + chunk({}, "stop") + b"data: [DONE]\n\n")
        return out

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1"


async def events_of(go_on: asyncio.Event) -> AsyncIterator[tuple[HttpProvider, AsyncIterator[StreamEvent]]]:
    runner, base = await upstream(go_on)
    config = ProviderConfig(id="up", kind="openai", base_url=base, timeout_idle_s=LIMIT_S)
    try:
        async with aiohttp.ClientSession() as session:
            provider = HttpProvider(config, Secret("k"), session, Redactor([]))
            yield provider, provider.stream(REQ, "gpt-4.1")
    finally:
        go_on.set()
        await runner.cleanup()


async def first_text(events: AsyncIterator[StreamEvent]) -> None:
    async for ev in events:
        if isinstance(ev, TextDelta):
            return


async def test_a_silent_upstream_after_content_ends_in_a_timeout() -> None:
    go_on = asyncio.Event()
    async for _, events in events_of(go_on):
        await first_text(events)
        with pytest.raises(ApiError, match="went silent") as caught:
            await anext(events)
        assert caught.value.status == 504


async def test_a_client_slower_than_the_limit_is_no_silence_of_the_upstream() -> None:
    go_on = asyncio.Event()
    async for _, events in events_of(go_on):
        await first_text(events)
        go_on.set()
        await asyncio.sleep(LIMIT_S * 4)  # the consumer holds the stream past the limit
        rest = [ev async for ev in events]
        assert isinstance(rest[-1], StreamEnd)
        assert [ev.text for ev in rest if isinstance(ev, TextDelta)] == [" two"]


async def test_a_cancellation_while_waiting_stays_a_cancellation() -> None:
    go_on = asyncio.Event()
    async for _, events in events_of(go_on):
        await first_text(events)
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
