"""POST /providers/{id}/pause|resume: a paused provider is skipped by every route, across restarts."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.daemon_harness import start_daemon

CONFIG = """
[providers.a]
kind = "sim"

[providers.b]
kind = "sim"

[[routes]]
name = "coder"
chain = ["a/m", "b/m"]

[[routes]]
name = "other"
chain = ["a/n", "b/n"]
"""


async def _ask(s: aiohttp.ClientSession, url: str, route: str) -> tuple[str, str]:
    body = {"model": route, "messages": [{"role": "user", "content": "hi"}]}
    async with s.post(url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200
        return r.headers["x-detour-provider"], r.headers["x-detour-attempts"]


async def test_pause_skips_in_every_route_until_resumed(tmp_path: Path) -> None:
    d = await start_daemon(CONFIG, data_dir=tmp_path)
    try:
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            assert (await _ask(s, d.url, "coder"))[0] == "a"
            async with s.post(d.url + "/providers/a/pause") as r:
                assert r.status == 200 and await r.json() == {"id": "a", "paused": True, "all_paused": ["a"]}
            assert await _ask(s, d.url, "coder") == ("b", "a/m:paused,b/m:ok")
            assert await _ask(s, d.url, "other") == ("b", "a/n:paused,b/n:ok")
            async with s.get(d.url + "/status") as r:
                paused = {p["id"]: p["paused"] for p in (await r.json())["providers"]}
            assert paused == {"a": True, "b": False}
            async with s.post(d.url + "/providers/nope/pause") as r:
                assert r.status == 404 and "configured: a, b" in (await r.json())["error"]["message"]
    finally:
        await d.close()
    d = await start_daemon(CONFIG, data_dir=tmp_path)  # a restart keeps what the user paused
    try:
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            assert (await _ask(s, d.url, "coder"))[0] == "b"
            async with s.post(d.url + "/providers/a/resume") as r:
                assert (await r.json())["all_paused"] == []
            assert (await _ask(s, d.url, "coder"))[0] == "a"
        async with aiohttp.ClientSession() as s, s.post(d.url + "/providers/a/pause") as r:
            assert r.status == 401  # the token is needed, as everywhere
    finally:
        await d.close()
