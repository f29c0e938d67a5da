"""`[server] ollama_compat`: Ollama's discovery shapes listing the routes, and keyless
loopback chat; off, both are refused as before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.daemon_harness import Daemon, start_daemon

CONFIG = """
[server]
ollama_compat = {on}

[providers.sim]
kind = "sim"

[providers.sim.models."small"]
context_window = 32000

[providers.oa]
kind = "openai"
api_key_env = "DETOUR_TEST_NO_SUCH_KEY"

[[routes]]
name = "coder"
chain = ["oa/gpt-4.1", "sim/small"]

[[routes]]
name = "default"
chain = ["sim/sim-model"]
"""


@pytest.fixture(params=[True, False], ids=["on", "off"])
async def daemon(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Daemon, bool]]:
    d = await start_daemon(CONFIG.format(on="true" if request.param else "false"))
    yield d, request.param
    await d.close()


async def test_discovery_in_ollama_shapes(daemon: tuple[Daemon, bool]) -> None:
    daemon, on = daemon
    async with aiohttp.ClientSession() as s:  # no key: what an IDE's Ollama provider sends
        async with s.get(daemon.url + "/api/tags") as r:
            tags_status, tags = r.status, await r.json()
        async with s.post(daemon.url + "/api/show", json={"model": "coder"}) as r:
            show_status, show = r.status, await r.json()
        async with s.get(daemon.url + "/api/version") as r:
            version_status, version = r.status, await r.json()
        async with s.post(daemon.url + "/api/show", json={"model": "nope"}) as r:
            missing_status, missing = r.status, await r.json()
    if not on:
        assert tags_status == show_status == version_status == missing_status == 401
        assert tags["error"]["type"] == "authentication_error"
        return
    assert tags_status == show_status == version_status == 200
    assert [m["name"] for m in tags["models"]] == ["coder", "default"]
    for m in tags["models"]:
        assert set(m) == {"name", "model", "modified_at", "size", "digest", "details"}
        assert len(m["digest"]) == 64 and isinstance(m["size"], int)
        assert set(m["details"]) >= {"format", "family", "families", "parameter_size", "quantization_level"}
    # The smallest window of the route's models (gpt-4.1's from genai-prices is larger).
    assert show["model_info"]["detour.context_length"] == 32000
    assert show["model_info"]["general.architecture"] == "detour"
    assert "tools" in show["capabilities"] and "completion" in show["capabilities"]
    assert set(show) >= {"modelfile", "parameters", "template", "details", "model_info", "capabilities"}
    assert version["version"].count(".") == 2
    assert missing_status == 404 and "coder" in missing["error"]


async def test_keyless_chat_from_loopback(daemon: tuple[Daemon, bool]) -> None:
    daemon, on = daemon
    body = {"model": "coder:latest", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(daemon.url + "/v1/chat/completions", json=body) as r:
            status, answer = r.status, await r.json()
        # Only Ollama's paths go keyless: the rest still want the token.
        async with s.post(daemon.url + "/v1/messages", json={**body, "max_tokens": 10}) as r:
            messages_status = r.status
        async with s.get(daemon.url + "/status") as r:
            status_status = r.status
    assert messages_status == status_status == 401
    if on:
        assert status == 200, answer
        assert answer["choices"][0]["message"]["content"]
    else:
        assert status == 401 and answer["error"]["type"] == "authentication_error"
