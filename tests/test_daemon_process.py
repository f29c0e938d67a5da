"""The daemon as a user runs it: `detour serve` in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, Fault
from tests.fakes.openai_chat import FakeOpenAI
from tests.process_harness import client_token, free_port, start, stop
from tests.wait import until

KEYRING_KEY = "sk-ant-api03-KEYRINGSECRET-zzzzzzzzzzzzzzzz"
ENV_KEY = "sk-proj-ENVSECRET-yyyyyyyyyyyyyyyyyyyy"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeAnthropic, FakeOpenAI]]:
    a = await FakeAnthropic(key=KEYRING_KEY).start()
    o = await FakeOpenAI(key=ENV_KEY).start()
    yield a, o
    await a.close()
    await o.close()


async def test_no_key_reaches_any_output(tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]) -> None:
    fa, fo = fakes
    (tmp_path / "keyring.json").write_text(json.dumps({"detour\0fa": KEYRING_KEY}))
    config = f"""
[providers.fa]
kind = "anthropic"
base_url = "{fa.url}"

[providers.fo]
kind = "openai"
base_url = "{fo.url}/v1"
api_key_env = "FO_KEY"

[[routes]]
name = "a"
chain = ["fa/claude-sonnet-4-5"]

[[routes]]
name = "o"
chain = ["fo/gpt-4.1"]
"""
    p = await start(tmp_path, config, {"FO_KEY": ENV_KEY})
    token = (await client_token(tmp_path)).strip()
    seen: list[str] = []
    # Upstreams that echo the key in their error messages, as some do.
    fa.script.extend([Answer(text="fine"), Fault(401, f"invalid x-api-key {KEYRING_KEY}")])
    fo.script.extend([Answer(text="fine"), Fault(401, f"Incorrect API key provided: {ENV_KEY}.")])
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        for model in ("a", "o"):
            for _ in range(2):
                for stream in (False, True):
                    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
                    async with s.post(p.url + "/v1/chat/completions", json=body) as r:
                        seen.append(str(r.status) + str(dict(r.headers)) + await r.text())
                    if model == "a":
                        fa.script.append(Fault(401, f"invalid x-api-key {KEYRING_KEY}"))
                    else:
                        fo.script.append(Fault(401, f"Incorrect API key provided: {ENV_KEY}."))
        for path in ("/v1/models", "/v1beta/models", "/health"):
            async with s.get(p.url + path) as r:
                seen.append(await r.text())
    log = await stop(p)
    everything = "\n".join(seen) + log
    assert "200" in everything and "401" in everything  # both paths were exercised
    for key in (KEYRING_KEY, ENV_KEY):
        assert key not in everything
        assert key[8:24] not in everything


async def test_fresh_start_writes_config_and_serves_simulated(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: no config, no keys -> simulated, and it says so."""
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for var in ("DETOUR_CONFIG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        env.pop(var, None)
    port = free_port()
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.cli", "serve", "--port", str(port),
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    reply = ""
    async with aiohttp.ClientSession() as s:
        # The daemon makes the client token on its first start: ask for it once it serves.

        async def serving() -> bool:
            try:
                async with s.get(f"http://127.0.0.1:{port}/health") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await until(serving, "served /health", every_s=0.05)
        token = (await client_token(tmp_path)).strip()
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with s.post(
            f"http://127.0.0.1:{port}/v1/messages", json=body, headers={"x-api-key": token}
        ) as r:
            reply = await r.text()
            assert r.headers["x-detour-provider"] == "sim"
    proc.terminate()
    await proc.wait()
    text = log.read_text()
    assert (tmp_path / "config" / "detour" / "config.toml").exists()
    assert "SIMULATED" in text
    assert "simulated" in reply
