"""A world for fault injection: each upstream format as the primary of a route whose
fallback speaks another format, dead providers on a closed port, short timeouts.

    anthropic-first   up-anthropic -> up-openai
    openai-first      up-openai    -> up-gemini
    gemini-first      up-gemini    -> up-anthropic
    dead-<fmt>-first  dead-<fmt> (nothing listens) -> the same fallback as <fmt>-first
    <a>-then-<b>      up-<a> -> up-<b>, for every pair of formats

Requests are sent in the third format (neither primary nor fallback), so every
case also crosses a translation on the way in and out.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest

from daemon.config import Target
from daemon.routing.health import Health
from daemon.server.inbound import GATEWAY
from tests.daemon_harness import Daemon
from tests.e2e import raw
from tests.e2e.clients import Client
from tests.e2e.conftest import MODEL, open_world, sdk_clients
from tests.fakes.base import FakeUpstream

FORMATS = ("anthropic", "openai", "gemini")
FALLBACK = {"anthropic": "openai", "openai": "gemini", "gemini": "anthropic"}
CLIENT = {"anthropic": "gemini", "openai": "anthropic", "gemini": "openai"}
# A healthy fake answers in milliseconds, but a loaded machine (two cores shared by a
# dozen processes) has been seen to take 0.6 s to a fallback's first byte.
FIRST_BYTE_S = 1.0
IDLE_S = 0.3
# Long enough to trip a timeout, short enough that a fake handler still sleeping at
# teardown does not hold the test up for long.
HANG_S = 2.0


def target(fmt: str, provider: str = "up") -> str:
    return f"{provider}-{fmt}/{MODEL[fmt]}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(fakes: dict[str, FakeUpstream]) -> str:
    base = {"anthropic": fakes["anthropic"].url, "openai": fakes["openai"].url + "/v1",
            "gemini": fakes["gemini"].url}  # fmt: skip
    dead = closed_port()
    # No waiting for cooling models: each case sees the walk's first verdicts (waiting has its own tests).
    lines: list[str] = ["[routing]", "max_wait_s = 0", ""]
    for fmt in FORMATS:
        nowhere = f"http://127.0.0.1:{dead}" + ("/v1" if fmt == "openai" else "")
        for provider, url in (("up", base[fmt]), ("dead", nowhere)):
            lines += [
                f"[providers.{provider}-{fmt}]",
                f'kind = "{fmt}"',
                f'base_url = "{url}"',
                f'api_key_env = "DETOUR_TEST_KEY_{fmt.upper()}"',
                "timeout_connect_s = 0.5",
                f"timeout_first_byte_s = {FIRST_BYTE_S}",
                f"timeout_idle_s = {IDLE_S}",
                "",
            ]
    for fmt in FORMATS:
        fb = FALLBACK[fmt]
        lines += ["[[routes]]", f'name = "{fmt}-first"', f'chain = ["{target(fmt)}", "{target(fb)}"]', ""]
        lines += ["[[routes]]", f'name = "dead-{fmt}-first"',
                  f'chain = ["{target(fmt, "dead")}", "{target(fb)}"]', ""]  # fmt: skip
        for other in FORMATS:
            if other != fmt:
                lines += ["[[routes]]", f'name = "{fmt}-then-{other}"',
                          f'chain = ["{target(fmt)}", "{target(other)}"]', ""]  # fmt: skip
    return "\n".join(lines)


class Clock:
    """Monotonic time that a test can move forward, for cooldowns and open circuits."""

    def __init__(self, health: Health) -> None:
        self.offset = 0.0
        self._real = health._clock
        health._clock = self

    def __call__(self) -> float:
        return self._real() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class FaultWorld:
    daemon: Daemon
    fakes: dict[str, FakeUpstream]
    http: aiohttp.ClientSession
    health: Health
    clock: Clock

    async def ask(self, fmt: str, model: str, stream: bool) -> raw.Outcome:
        return await raw.ask(self.http, self.daemon.url, self.daemon.token, fmt, model, stream)

    def calls(self) -> dict[str, int]:
        return {fmt: len(f.received) for fmt, f in self.fakes.items()}

    def state(self, fmt: str, provider: str = "up") -> str:
        """The circuit of a primary target as /status will show it."""
        snap = self.health.snapshot()
        t = Target(f"{provider}-{fmt}", MODEL[fmt])
        return str(snap.get(str(t), {}).get("circuit", "closed"))


@contextlib.asynccontextmanager
async def fault_world(monkeypatch: pytest.MonkeyPatch, extra_config: str = "") -> AsyncIterator[FaultWorld]:
    """The fault world; ``extra_config`` is appended to its TOML."""
    async with open_world(monkeypatch, extra_config, config) as w, aiohttp.ClientSession() as http:
        health = w.daemon.runner.app[GATEWAY].chain.health
        yield FaultWorld(w.daemon, w.fakes, http, health, Clock(health))


@pytest.fixture
async def faults(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FaultWorld]:
    async with fault_world(monkeypatch) as world:
        yield world


@pytest.fixture
async def fault_sdk(faults: FaultWorld) -> AsyncIterator[Callable[[str], Client]]:
    """The official SDK clients, on the fault world's daemon."""
    async with sdk_clients(faults.daemon) as open_client:
        yield open_client
