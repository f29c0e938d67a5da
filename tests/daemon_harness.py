"""Start the real daemon app in-process on 127.0.0.1, port 0, for tests."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from daemon.config import Config, parse
from daemon.server.app import create_app

TOKEN = "dtr-test-token-0123456789"


@dataclass
class Daemon:
    runner: web.AppRunner
    port: int
    token: str = TOKEN
    data_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def close(self) -> None:
        await self.runner.cleanup()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


async def start_daemon(config: Config | str, token: str = TOKEN, data_dir: Path | None = None) -> Daemon:
    if isinstance(config, str):
        config = parse(config)
    own = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="detour-test-"))
    runner = web.AppRunner(create_app(config, token, data_dir), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    return Daemon(runner, server.sockets[0].getsockname()[1], token, data_dir if own else None)


SIM_CONFIG = """
[providers.sim]
kind = "sim"

[[routes]]
name = "default"
chain = ["sim/sim-model"]
"""
