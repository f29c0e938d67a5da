"""``detour demo`` without its screen: the daemon on faulty simulated providers, and traffic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from daemon.config import parse
from daemon.demo import DEMO_CONFIG, Demo
from tests.wait import until


def test_the_demo_config_scripts_faults_on_a_priced_chain() -> None:
    config = parse(DEMO_CONFIG)
    kinds = {f.kind for p in config.providers.values() for f in p.faults}
    assert kinds == {"rate_limit", "stall", "outage"}
    assert all(p.kind == "sim" for p in config.providers.values())
    assert len(config.routes[0].chain) == 3


async def test_the_demo_serves_traffic_and_spends(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    url = await asyncio.to_thread(demo.start)
    try:
        headers = {"Authorization": f"Bearer {demo.token}"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def spent() -> float:
                async with http.get(url + "/budget") as r:
                    return float((await r.json())["budgets"]["day"]["spent_usd"])

            await until(spent, "spent anything", every_s=0.1)
    finally:
        await asyncio.to_thread(demo.stop)


def test_the_daemon_never_imports_textual() -> None:
    code = (
        "import sys, daemon.server.app, daemon.cli, daemon.demo\n"
        "from daemon.cli import _parser\n"
        "_parser()\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tui')))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_tui_imports_nothing_of_the_daemon_but_the_schema() -> None:
    code = (
        "import sys, tui.app\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('daemon.') and m != 'daemon.telemetry.schema'\n"
        "                and m not in ('daemon.telemetry', 'daemon.report', 'daemon.report.figures'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tui_command_finds_the_daemon_from_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tui.app
    from daemon import cli, keys

    launched: list[tuple[str, str]] = []
    monkeypatch.setattr(tui.app, "run", lambda url, token: launched.append((url, token)))
    config = tmp_path / "config.toml"
    config.write_text('[server]\nport = 9123\n\n[providers.sim]\nkind = "sim"\n')
    assert cli.main(["tui", "--config", str(config)]) == 0
    assert cli.main(["tui", "--url", "http://127.0.0.1:1"]) == 0
    assert launched == [
        ("http://127.0.0.1:9123", keys.client_token()),
        ("http://127.0.0.1:1", keys.client_token()),
    ]
