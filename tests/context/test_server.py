"""``POST /context`` on the real daemon, and ``detour mcp`` as an MCP client sees it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import keyring
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from daemon.config import parse
from daemon.server.context import PROJECTS
from daemon.server.inbound import GATEWAY
from daemon.server.reload import LIVE_CONFIG
from tests.context.samples import PYTHON, write
from tests.daemon_harness import SIM_CONFIG, Daemon, start_daemon


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    root = write(tmp_path / "proj", {**PYTHON, "pkg/broken.py": "def fine():\n    pass\n\ndef broken(:\n"})
    d = await start_daemon(SIM_CONFIG + f"\n[[projects]]\nroot = {json.dumps(str(root))}\n")
    try:
        yield d
    finally:
        await d.close()


async def _post(d: Daemon, body: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{d.url}/context", json=body, headers=d.auth()) as r:
            return r.status, await r.json()


async def test_context_for_a_symbol_of_the_one_registered_project(daemon: Daemon) -> None:
    status, body = await _post(daemon, {"target": "pkg/engine.py::Engine.run", "budget_tokens": 800})
    assert status == 200, body
    assert "return helper(job) * times" in str(body["text"])
    assert body["files"] == ["pkg/engine.py", "pkg/util.py"]
    assert isinstance(body["tokens"], int) and 0 < body["tokens"] <= 800
    # The file with a syntax error is indexed as far as it parses, and the daemon is unharmed.
    status, body = await _post(daemon, {"target": "pkg/broken.py::fine"})
    assert status == 200 and "def fine" in str(body["text"])
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{daemon.url}/v1/chat/completions",
            json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
            headers=daemon.auth(),
        ) as r:
            assert r.status == 200


async def test_only_registered_roots_are_served_and_odd_roots_are_400s(
    daemon: Daemon, tmp_path: Path
) -> None:
    other = write(
        tmp_path / "other", {"lib/x.go": "package lib\n\n// Do does.\nfunc Do() int { return 1 }\n"}
    )
    for root in (str(other), "~", "/"):
        status, body = await _post(daemon, {"root": root, "target": "lib/x.go::Do", "budget_tokens": 300})
        assert status == 404 and "register it with `detour context add " in json.dumps(body), (root, body)
    for root in ("", "  ", "rel/ative", "a\0b", "/tmp/\0", 7, ["x"], {"a": 1}, True):
        status, body = await _post(daemon, {"root": root, "target": "lib/x.go"})
        assert status == 400 and body["error"]["type"] == "invalid_request_error", (root, body)  # type: ignore[index]
    status, body = await _post(daemon, {"target": str(other / "lib/x.go") + "::Do"})
    assert status == 404 and "detour context add" in json.dumps(body)
    status, body = await _post(daemon, {"target": "pkg/engine.py\0::x"})
    assert status == 400
    assert not (await daemon.runner.app[PROJECTS].get(None)).root.is_relative_to(other)  # type: ignore[index]
    # Registered (as `detour context add` does, through the config), it is served.
    app = daemon.runner.app
    assert app is not None
    config = app[LIVE_CONFIG].current
    await app[LIVE_CONFIG].apply(parse(SIM_CONFIG + "".join(
        f"\n[[projects]]\nroot = {json.dumps(str(r))}\n" for r in (*app[PROJECTS].roots, other)
    )))  # fmt: skip
    assert config is not app[LIVE_CONFIG].current
    status, body = await _post(daemon, {"root": str(other), "target": "lib/x.go::Do", "budget_tokens": 300})
    assert status == 200 and "func Do() int" in str(body["text"])
    # Two projects now: a request must name its root.
    status, body = await _post(daemon, {"target": "pkg/engine.py"})
    assert status == 404 and "name the project root" in json.dumps(body)
    status, body = await _post(daemon, {"root": str(other), "target": "lib/x.go::Nope"})
    assert status == 404 and "no symbol 'Nope'" in json.dumps(body)
    status, body = await _post(daemon, {"root": str(other), "target": "lib/x.go", "budget_tokens": "lots"})
    assert status == 400
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{daemon.url}/context", json={"target": "x"}) as r:
            assert r.status == 401
        async with s.get(f"{daemon.url}/status", headers=daemon.auth()) as r:
            projects = {p["root"]: p for p in (await r.json())["projects"]}
    assert projects[str(other)]["state"] == "ready" and projects[str(other)]["files"] == 1


async def test_an_mcp_client_lists_and_calls_the_tools_over_stdio(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = tmp_path / "keyring.json"
    monkeypatch.setenv("DETOUR_TEST_KEYRING_FILE", str(ring))
    keyring.set_password("detour", "client-token", daemon.token)  # what `detour mcp` will present
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "daemon.cli", "mcp", "--url", daemon.url, "--root", str(tmp_path / "proj")],
        env={**os.environ, "DETOUR_TEST_KEYRING_FILE": str(ring)},
        cwd=str(Path(__file__).parents[2]),
    )
    async with stdio_client(params) as (read, write_), ClientSession(read, write_) as session:
        await session.initialize()
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"get_context", "find_symbol", "outline"}
        assert set(tools["get_context"].input_schema["properties"]) == {"target", "budget_tokens"}
        got = await session.call_tool(
            "get_context", {"target": "pkg/engine.py::Engine.run", "budget_tokens": 600}
        )
        assert not got.is_error and "return helper(job) * times" in got.content[0].text  # type: ignore[union-attr]
        found = await session.call_tool("find_symbol", {"name": "shared"})
        assert "pkg/util.py:6" in found.content[0].text and "pkg/other.py:1" in found.content[0].text  # type: ignore[union-attr]
        outline = await session.call_tool("outline", {"file": "pkg/engine.py"})
        assert "class Engine" in outline.content[0].text  # type: ignore[union-attr]
        missing = await session.call_tool("get_context", {"target": "pkg/nope.py"})
        assert missing.is_error


async def test_a_config_change_registers_projects_and_prune_settings_live(
    daemon: Daemon, tmp_path: Path
) -> None:
    app = daemon.runner.app
    assert app is not None
    other = write(tmp_path / "later", {"m.py": "def later():\n    pass\n"})
    live = app[LIVE_CONFIG]
    text = SIM_CONFIG.replace('chain = ["sim/sim-model"]', 'chain = ["sim/sim-model"]\nprune = "fit"')
    await live.apply(parse(text + f"\n[[projects]]\nroot = {json.dumps(str(other))}\n"))
    assert app[GATEWAY].routes.resolve("default").settings.prune == "fit"
    assert other.resolve() in app[PROJECTS].roots
    index = await app[PROJECTS].get(str(other))
    assert "m.py" in index.files
