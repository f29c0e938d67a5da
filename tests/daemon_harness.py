"""Start the real daemon app in-process on 127.0.0.1, port 0, for tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from daemon.config import Config, parse
from daemon.server.app import create_app

TOKEN = "dtr-test-token-0123456789"


@dataclass
class Daemon:
    runner: web.AppRunner
    port: int
    token: str = TOKEN

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_daemon(config: Config | str, token: str = TOKEN) -> Daemon:
    if isinstance(config, str):
        config = parse(config)
    runner = web.AppRunner(create_app(config, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    return Daemon(runner, server.sockets[0].getsockname()[1], token)


SIM_CONFIG = """
[providers.sim]
kind = "sim"

[[routes]]
name = "default"
chain = ["sim/sim-model"]
"""
