"""Shared health over LISTEN/NOTIFY: a 429 with retry-after one daemon sees, the others honour;
and nowhere a daemon writes (logs, events, /status) holds the database URL or password."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from daemon.server.observe import BUS
from daemon.server.team import HEALTH_SHARE
from tests.daemon_harness import Daemon
from tests.fakes.base import Answer, Fault
from tests.team.world import open_team

BOTH = """
[[routes]]
name = "both"
chain = ["up-anthropic/claude-sonnet-4-5", "up-openai/gpt-4.1"]
"""


async def _ask(d: Daemon) -> tuple[int, str]:
    body = {"model": "both", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession(headers=d.auth()) as s, s.post(d.url + "/v1/messages", json=body) as r:
        await r.read()
        return r.status, r.headers.get("x-detour-served-by", "")


async def _state(d: Daemon, target: str) -> str:
    async with aiohttp.ClientSession(headers=d.auth()) as s, s.get(d.url + "/status") as r:
        body = await r.json()
    for p in body["providers"]:
        for t in p["targets"]:
            if f"{p['id']}/{t['model']}" == target:
                return str(t["state"])
    return "unknown"


async def test_a_retry_after_seen_by_one_daemon_is_honoured_by_another(
    monkeypatch: pytest.MonkeyPatch, team_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = team_db.split(":")[2].split("@")[0]
    async with open_team(monkeypatch, [("alice", BOTH), ("bob", BOTH)], "") as team:
        feeds = [d.runner.app[BUS].subscribe() for d in team.daemons]
        shares = [d.runner.app[HEALTH_SHARE] for d in team.daemons]
        while not all(s.listening for s in shares):
            await asyncio.sleep(0.02)
        a, b = team.daemons
        anthropic, openai = team.fakes["anthropic"], team.fakes["openai"]
        openai.default = Answer(text="hi", output_tokens=5)
        anthropic.script.append(Fault(429, "slow down", {"retry-after": "30"}))
        assert (await _ask(a))[0] == 200  # served by the next model of the chain
        seen = time.monotonic()
        while await _state(b, "up-anthropic/claude-sonnet-4-5") != "cooldown":
            assert time.monotonic() - seen < 2, "bob's daemon did not hear of the 429 within 2 s"
            await asyncio.sleep(0.02)
        calls = len([r for r in anthropic.received if r.path == "/v1/messages"])
        assert (await _ask(b))[0] == 200
        assert len([r for r in anthropic.received if r.path == "/v1/messages"]) == calls  # skipped
        frames = [f for feed in feeds for f in iter(feed.get_nowait, None)]
        statuses = []
        for d in team.daemons:
            async with aiohttp.ClientSession(headers=d.auth()) as s, s.get(d.url + "/status") as r:
                statuses.append(await r.text())
    written = "".join(f.sse().decode() for f in frames) + caplog.text + "".join(statuses)
    assert '"type":"team"' in written.replace(" ", "")
    assert password not in written and team_db not in written
