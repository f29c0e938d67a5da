"""The watched config: an edit changes the route of the next request; a broken edit is
refused with its line and fix, and the old config keeps serving."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import aiohttp
import pytest

from daemon.config import load
from daemon.server.inbound import GATEWAY
from tests.daemon_harness import start_daemon
from tests.wait import until

CONFIG = """
[providers.first]
kind = "sim"

[providers.second]
kind = "sim"

[[routes]]
name = "coder"
chain = ["{provider}/sim-model"]

[budget]
daily_usd = {daily}

[alerts]
failovers = {failovers}
"""


async def _served_by(s: aiohttp.ClientSession, url: str) -> str:
    body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}
    async with s.post(url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200, await r.text()
        return r.headers["x-detour-provider"]


async def _until(
    s: aiohttp.ClientSession, url: str, provider: str, save: tuple[Path, str] | None = None
) -> float:
    """Until ``provider`` serves; ``save``: the edit, written again each second until it takes."""
    started = time.monotonic()
    saved = 0.0

    async def served() -> bool:
        nonlocal saved
        if save is not None and time.monotonic() - saved > 1.0:
            save[0].write_text(save[1])
            saved = time.monotonic()
        return await _served_by(s, url) == provider

    await until(served, f"took the edit: still not {provider}", every_s=0.05)
    return time.monotonic() - started


async def test_edit_changes_the_route_and_a_broken_edit_keeps_the_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(provider="first", daily=5.0, failovers=5))
    d = await start_daemon(load(path))
    caplog.set_level(logging.INFO, logger="daemon.server.reload")
    try:
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            assert await _served_by(s, d.url) == "first"
            # The watcher has no "ready" to wait for: the edit is saved again until it takes.
            health = "\n[routing.health]\nconsecutive_failures = 2\nmax_ejection_percent = 100\n"
            edit = CONFIG.format(provider="second", daily=7.5, failovers=2) + health
            await _until(s, d.url, "second", save=(path, edit))
            async with s.get(d.url + "/budget") as r:
                assert (await r.json())["budgets"]["day"]["limit_usd"] == 7.5
            assert "applied new routes, routing, budget, alerts" in caplog.text
            chain = d.runner.app[GATEWAY].chain
            assert (chain.health.consecutive, chain.health.max_ejection_percent) == (2, 100)
            # Broken: a route naming a provider that is not configured (line 9 names the route).
            caplog.clear()
            path.write_text(CONFIG.format(provider="third", daily=9.0, failovers=2))
            await until(lambda: "NOT applied" in caplog.text, "refused the edit")
            assert (
                f"{path}:9: route 'coder': provider 'third' is not configured; add [providers.third]"
                in caplog.text
            )
            # And not TOML at all.
            caplog.clear()
            broken = CONFIG.format(provider="first", daily=9.0, failovers=2) + "[[routes\n"
            path.write_text(broken)
            await until(lambda: "NOT applied" in caplog.text, "refused the broken file")
            assert f"{path}:{len(broken.splitlines())}: not valid TOML" in caplog.text
            assert await _served_by(s, d.url) == "second"
            async with s.get(d.url + "/budget") as r:
                assert (await r.json())["budgets"]["day"]["limit_usd"] == 7.5
    finally:
        await d.close()
