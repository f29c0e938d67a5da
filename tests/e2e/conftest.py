"""Fake upstreams of every format and the real daemon routed to them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.clients import CLIENTS, Client
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeUpstream
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI

# Distinctive, so a grep for them in anything detour wrote cannot miss.
KEYS = {
    "anthropic": "sk-ant-api03-TESTKEY-aaaaaaaaaaaaaaaa",
    "openai": "sk-proj-TESTKEY-bbbbbbbbbbbbbbbbbbbb",
    "gemini": "AIzaSyTESTKEY-cccccccccccccccccccc",
}
ROUTE = {"anthropic": "via-anthropic", "openai": "via-openai", "gemini": "via-gemini"}
MODEL = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "gemini": "gemini-3-flash-preview"}


@dataclass
class World:
    daemon: Daemon
    fakes: dict[str, FakeUpstream]


def world_config(fakes: dict[str, FakeUpstream]) -> str:
    base = {
        "anthropic": fakes["anthropic"].url,
        "openai": fakes["openai"].url + "/v1",
        "gemini": fakes["gemini"].url,
    }
    lines: list[str] = []
    for fmt in ("anthropic", "openai", "gemini"):
        lines += [
            f"[providers.up-{fmt}]",
            f'kind = "{fmt}"',
            f'base_url = "{base[fmt]}"',
            f'api_key_env = "DETOUR_TEST_KEY_{fmt.upper()}"',
            "",
        ]
    for fmt in ("anthropic", "openai", "gemini"):
        lines += ["[[routes]]", f'name = "{ROUTE[fmt]}"', f'chain = ["up-{fmt}/{MODEL[fmt]}"]', ""]
    return "\n".join(lines)


async def start_fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeUpstream]:
    """One fake of each format, with the keys the daemon reads from the environment."""
    fakes: dict[str, FakeUpstream] = {
        "anthropic": await FakeAnthropic(key=KEYS["anthropic"]).start(),
        "openai": await FakeOpenAI(key=KEYS["openai"]).start(),
        "gemini": await FakeGemini(key=KEYS["gemini"]).start(),
    }
    for fmt, key in KEYS.items():
        monkeypatch.setenv(f"DETOUR_TEST_KEY_{fmt.upper()}", key)
    return fakes


@contextlib.asynccontextmanager
async def open_world(
    monkeypatch: pytest.MonkeyPatch,
    extra_config: str = "",
    config: Callable[[dict[str, FakeUpstream]], str] | None = None,
) -> AsyncIterator[World]:
    """The three fakes and a daemon routed to them by ``config`` (``world_config``'s routes if
    not given); ``extra_config`` is appended to its TOML."""
    fakes = await start_fakes(monkeypatch)
    daemon = await start_daemon((config or world_config)(fakes) + extra_config)
    try:
        yield World(daemon, fakes)
    finally:
        await daemon.close()
        for f in fakes.values():
            await f.close()


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(monkeypatch) as w:
        yield w


@contextlib.asynccontextmanager
async def sdk_clients(daemon: Daemon) -> AsyncIterator[Callable[[str], Client]]:
    """Opens an official SDK client on the daemon by name; all are closed afterwards."""
    opened: list[Client] = []

    def open_client(name: str) -> Client:
        opened.append(CLIENTS[name](daemon.url, daemon.token))
        return opened[-1]

    try:
        yield open_client
    finally:
        for c in opened:
            await c.close()


@pytest.fixture
async def sdk(world: World) -> AsyncIterator[Callable[[str], Client]]:
    async with sdk_clients(world.daemon) as open_client:
        yield open_client
