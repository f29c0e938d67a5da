"""A daemon routed to fake Anthropic and OpenAI upstreams, plus local catchers for alerts:
a webhook server and a DogStatsD socket, each on port 0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from daemon.server.observe import BUS
from daemon.telemetry.bus import Bus
from tests.daemon_harness import Daemon, start_daemon
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai_chat import FakeOpenAI

ANTHROPIC_KEY = "sk-ant-api03-TELEMETRYKEY-aaaaaaaaaaaa"
OPENAI_KEY = "sk-proj-TELEMETRYKEY-bbbbbbbbbbbbbbbb"
PRIMARY = "up-anthropic/claude-sonnet-4-5"
FALLBACK = "up-openai/gpt-4.1"
CHAT = {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}


class Webhook:
    """A Slack-compatible webhook: records each JSON body posted to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        self.arrived.set()
        return web.Response(text="ok")

    async def start(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class StatsD(asyncio.DatagramProtocol):
    """A DogStatsD listener on 127.0.0.1, port 0."""

    def __init__(self) -> None:
        self.datagrams: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append(data.decode())

    async def start(self) -> StatsD:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport
        return self

    @property
    def address(self) -> str:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class World:
    daemon: Daemon
    anthropic: FakeAnthropic
    openai: FakeOpenAI
    webhook: Webhook
    statsd: StatsD
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)
    streams: list[aiohttp.ClientResponse] = field(default_factory=list)

    @property
    def bus(self) -> Bus:
        return self.daemon.runner.app[BUS]

    async def chat(self, **extra: Any) -> tuple[int, dict[str, str], Any]:
        body = {**CHAT, **extra}
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.daemon.url + "/v1/chat/completions", json=body, headers=self.daemon.auth()) as r,
        ):
            return r.status, dict(r.headers), await r.read()

    async def get_json(self, path: str) -> Any:
        return json.loads(await self.get_text(path))

    async def get_text(self, path: str) -> str:
        async with (
            aiohttp.ClientSession() as s,
            s.get(self.daemon.url + path, headers=self.daemon.auth()) as r,
        ):
            assert r.status == 200, await r.text()
            return await r.text()


def config(webhook: Webhook, statsd: StatsD, anthropic: FakeAnthropic, openai: FakeOpenAI, extra: str) -> str:
    return f"""
[providers.up-anthropic]
kind = "anthropic"
base_url = "{anthropic.url}"
api_key_env = "DETOUR_TELEMETRY_KEY_ANTHROPIC"

[providers.up-openai]
kind = "openai"
base_url = "{openai.url}/v1"
api_key_env = "DETOUR_TELEMETRY_KEY_OPENAI"

[[routes]]
name = "coder"
chain = ["{PRIMARY}", "{FALLBACK}"]
max_wait_s = 0

[alerts]
failovers = 3
window_s = 2.0
webhook_url = "{webhook.url}"
statsd = "{statsd.address}"
desktop = false
{extra}
"""


async def open_world(monkeypatch: Any, extra: str = "") -> AsyncIterator[World]:
    monkeypatch.setenv("DETOUR_TELEMETRY_KEY_ANTHROPIC", ANTHROPIC_KEY)
    monkeypatch.setenv("DETOUR_TELEMETRY_KEY_OPENAI", OPENAI_KEY)
    anthropic = await FakeAnthropic(key=ANTHROPIC_KEY).start()
    openai = await FakeOpenAI(key=OPENAI_KEY).start()
    webhook = await Webhook().start()
    statsd = await StatsD().start()
    assert isinstance(anthropic, FakeAnthropic) and isinstance(openai, FakeOpenAI)
    daemon = await start_daemon(config(webhook, statsd, anthropic, openai, extra))
    world = World(daemon, anthropic, openai, webhook, statsd)
    try:
        yield world
    finally:
        for r in world.streams:
            r.close()
        for s in world.sessions:
            await s.close()
        await daemon.close()
        await anthropic.close()
        await openai.close()
        await webhook.close()
        statsd.close()


class EventStream:
    """``GET /events`` read as a client would: one JSON object per ``data:`` line."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                line = await self.response.content.readline()
                assert line, "the event stream ended"
                if line.startswith(b"data: "):
                    event: dict[str, Any] = json.loads(line[6:])
                    self.seen.append(event)
                    return event

    async def until(self, type_: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                if event["type"] == type_ and all(event.get(k) == v for k, v in fields.items()):
                    return event


async def event_stream(world: World) -> EventStream:
    session = aiohttp.ClientSession()
    world.sessions.append(session)
    r = await session.get(world.daemon.url + "/events", headers=world.daemon.auth())
    world.streams.append(r)
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    # The stream opens with a comment; after it the subscription is live.
    assert (await r.content.readline()).startswith(b":")
    return EventStream(r)
