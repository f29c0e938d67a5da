"""``detour demo``: the daemon on simulated providers with scripted faults, and traffic.

Three simulated providers stand in for a coding route's chain. The primary has
bursts of 429, then an outage long enough to open its circuit; the second one
stalls during that outage, so some requests walk all three. Three agents send
requests in a loop, in two wire formats, streaming and not, with contexts of a
few thousand tokens at list-like prices, so budgets visibly burn. No keys, no
network beyond 127.0.0.1, and the spend goes to a throwaway ledger.

It runs on its own thread and event loop: the TUI (``cli``) owns the main one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
from pathlib import Path

import aiohttp
from aiohttp import web

from daemon.config import Config, parse
from daemon.server.app import create_app

log = logging.getLogger(__name__)

DEMO_CONFIG = """
[providers.anthropic]
kind = "sim"
latency_ms = 400
[[providers.anthropic.faults]]
kind = "rate_limit"         # a burst of 429 with retry-after: cooldown, then back
at_s = 6
for_s = 10
every_s = 60
[[providers.anthropic.faults]]
kind = "outage"             # connections refused: the circuit opens, then a probe closes it
at_s = 25
for_s = 20
every_s = 60
[providers.anthropic.models."claude-sonnet-4-5"]
input_usd_mtok = 3.0
output_usd_mtok = 15.0

[providers.openai]
kind = "sim"
latency_ms = 250
timeout_first_byte_s = 2
[[providers.openai.faults]]
kind = "stall"              # no first byte: the chain gives up after 2 s and moves on
at_s = 30
for_s = 6
every_s = 60
[providers.openai.models."gpt-4.1"]
input_usd_mtok = 2.0
output_usd_mtok = 8.0

[providers.deepseek]
kind = "sim"
latency_ms = 150
[providers.deepseek.models."deepseek-chat"]
input_usd_mtok = 0.27
output_usd_mtok = 1.1

[[routes]]
name = "coder"
match = ["claude-*", "gpt-*"]
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "deepseek/deepseek-chat"]

[[routes]]
name = "default"
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "deepseek/deepseek-chat"]

[budget]
session_usd = 2.0
daily_usd = 5.0
weekly_usd = 25.0
"""

AGENTS = ("claude-code", "roo-code", "aider")
WORDS = "def class return import self async await yield lambda match case with open path read write".split()


class Demo:
    """The daemon and its traffic on a thread of their own; ``start`` returns once it listens."""

    def __init__(self, data_dir: Path, config: Config | None = None, *, traffic: bool = True) -> None:
        self.data_dir = data_dir
        self.config = config or parse(DEMO_CONFIG)
        self.token = "dtr-demo-" + secrets.token_urlsafe(12)
        self.traffic = traffic
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="detour-demo", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise self._error
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # handed to the thread that waits in start()
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(create_app(self.config, self.token, self.data_dir), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            async with asyncio.TaskGroup() as tg:
                agents = (
                    [tg.create_task(agent(self.url, self.token, name, i), name=f"demo-{name}")
                     for i, name in enumerate(AGENTS)]
                    if self.traffic
                    else []
                )  # fmt: skip
                await self._stop.wait()
                for task in agents:
                    task.cancel()
        finally:
            await runner.cleanup()


async def agent(url: str, token: str, name: str, seed: int) -> None:
    """One coding agent: a request every second or so, its context growing as it works."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "x-detour-session": name}
    turn = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        while True:
            await asyncio.sleep(rng.uniform(0.4, 1.6))
            turn += 1
            context = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1500, 4000) + turn * 40))
            ask = f"{name} turn {turn}: refactor this module. {context}"
            try:
                if turn % 2:
                    await _anthropic(http, url, ask)
                else:
                    await _openai(http, url, ask, stream=turn % 4 == 0)
            except aiohttp.ClientError as e:
                log.info("demo agent %s: %s", name, e)


async def _anthropic(http: aiohttp.ClientSession, url: str, text: str) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    async with http.post(url + "/v1/messages", json=body) as r:
        await r.read()


async def _openai(http: aiohttp.ClientSession, url: str, text: str, *, stream: bool) -> None:
    body = {
        "model": "coder",
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    async with http.post(url + "/v1/chat/completions", json=body) as r:
        await r.read()
