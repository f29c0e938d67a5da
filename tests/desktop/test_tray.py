"""The tray against a real daemon on simulated providers: what the icon shows for each
daemon state, and every menu action. pystray itself needs a desktop; all of this does not."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.daemon_harness import Daemon, start_daemon
from tests.wait import until
from tui.tray.icon import draw
from tui.tray.look import State, look
from tui.tray.menu import Actions, DaemonLink, Entry, entries, launch

CONFIG = """
[providers.flaky]
kind = "sim"
[[providers.flaky.faults]]
kind = "rate_limit"
at_s = 0
for_s = 600

[providers.steady]
kind = "sim"
[providers.steady.models."m"]
input_usd_mtok = 1000.0
output_usd_mtok = 1000.0

[[routes]]
name = "coder"
chain = ["flaky/m", "steady/m"]

[[routes]]
name = "plain"
chain = ["steady/m"]
"""


async def _status(d: Daemon) -> State:
    s = await asyncio.to_thread(DaemonLink(d.url, d.token).status)
    return look(s).state


async def _ask(s: aiohttp.ClientSession, d: Daemon, route: str) -> None:
    body = {"model": route, "messages": [{"role": "user", "content": "hi"}]}
    async with s.post(d.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200, await r.text()


async def test_icon_state_follows_the_daemon(tmp_path: Path) -> None:
    d = await start_daemon(CONFIG, data_dir=tmp_path)
    try:
        link = DaemonLink(d.url, d.token)
        first = await asyncio.to_thread(link.status)
        assert first is not None
        seen = look(first)
        assert seen.state is State.HEALTHY and seen.providers == (("flaky", False), ("steady", False))
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            await _ask(s, d, "plain")  # costs money, no failover
            assert await _status(d) is State.HEALTHY
            await _ask(s, d, "coder")  # flaky is rate-limited: a failover to steady
            status = await asyncio.to_thread(link.status)
            shown = look(status)
            assert shown.state is State.FAILING_OVER and shown.headline == "failing over: flaky"
            # An hour on, the failover no longer colours the icon, but flaky's cooldown may.
            assert look(status, now=time.time() + 3600).state in (State.HEALTHY, State.FAILING_OVER)
            await asyncio.to_thread(link.set_paused, "flaky", True)  # out of the walk: no longer a worry
            paused = look(await asyncio.to_thread(link.status))
            assert paused.state is State.HEALTHY and "paused: flaky" in paused.tooltip
            async with s.get(d.url + "/budget") as r:
                spent = (await r.json())["budgets"]["day"]["spent_usd"]
            assert spent > 0
            async with s.put(d.url + "/budget", json={"daily_usd": spent / 0.85, "weekly_usd": 100.0}) as r:
                assert r.status == 200
            warn = look(await asyncio.to_thread(link.status))
            assert warn.state is State.BUDGET_WARN and warn.headline == "daily budget at 85%"
            assert f"today: ${spent:.2f} of ${spent / 0.85:.2f}" in warn.tooltip
            assert "this week: $" in warn.tooltip and "of $100.00" in warn.tooltip
            async with s.put(d.url + "/budget", json={"daily_usd": spent * 0.5}) as r:
                assert r.status == 200
            over = look(await asyncio.to_thread(link.status))
            assert over.state is State.STOPPED and over.headline == "over the daily budget"
    finally:
        await d.close()
    down = look(await asyncio.to_thread(DaemonLink(d.url, d.token).status))
    assert down.state is State.STOPPED and down.headline == "detour is not running"


def _stand_in(bindir: Path, name: str, record: Path) -> None:
    """A desktop program that writes down how it was started (argv, then stdin)."""
    script = bindir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}.argv"\n/bin/cat > "{record}.stdin"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


async def _eventually(path: Path) -> str:
    await until(lambda: path.exists() and path.stat().st_size, f"wrote {path}")
    return path.read_text()


def _find(items: tuple[Entry, ...], label: str) -> Entry:
    return next(e for e in items if e.label.startswith(label))


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the stand-ins are Unix shell scripts")
async def test_every_menu_action_against_a_real_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("xterm", "xclip", "xdg-open"):
        _stand_in(bindir, name, tmp_path / name)
    monkeypatch.setenv("PATH", str(bindir))  # only the stand-ins: no real terminal or clipboard
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    config = tmp_path / "config.toml"
    notes: list[str] = []
    quits: list[bool] = []
    d = await start_daemon(CONFIG, data_dir=tmp_path / "data")
    try:
        link = DaemonLink(d.url, d.token)
        actions = Actions(
            link, config, ["/opt/detour/bin/detour"], launch, lambda: quits.append(True), notes.append
        )

        async def menu() -> tuple[Entry, ...]:
            return entries(look(await asyncio.to_thread(link.status)), actions)

        items = await menu()
        assert [e.label for e in items] == [
            "detour: healthy (simulated providers)", "Open dashboard (TUI)", "Pause provider",
            "Open config", "Copy client token", "Quit tray",
        ]  # fmt: skip
        flaky = _find(_find(items, "Pause provider").children, "flaky")
        assert flaky.checked is False and flaky.action is not None
        await asyncio.to_thread(flaky.action)
        status = await asyncio.to_thread(link.status)
        assert status is not None and [p["paused"] for p in status["providers"]] == [True, False]
        items = await menu()
        flaky = _find(_find(items, "Pause provider").children, "flaky")
        assert flaky.checked is True and flaky.action is not None
        await asyncio.to_thread(flaky.action)  # resume
        status = await asyncio.to_thread(link.status)
        assert status is not None and not any(p["paused"] for p in status["providers"])

        await asyncio.to_thread(_find(items, "Open dashboard").action or (lambda: None))
        argv = (await _eventually(tmp_path / "xterm.argv")).splitlines()
        assert argv == ["-e", "/opt/detour/bin/detour", "tui", "--url", d.url]
        await asyncio.to_thread(_find(items, "Open config").action or (lambda: None))
        assert (await _eventually(tmp_path / "xdg-open.argv")).splitlines() == [str(config)]
        await asyncio.to_thread(_find(items, "Copy client token").action or (lambda: None))
        assert await _eventually(tmp_path / "xclip.stdin") == d.token
        assert (tmp_path / "xclip.argv").read_text().splitlines() == ["-selection", "clipboard"]
        assert notes == ["client token copied"]
        _find(items, "Quit tray").action()  # type: ignore[misc]
        assert quits == [True]
    finally:
        await d.close()
    # The daemon gone: the menu says so instead of offering providers.
    items = entries(look(await asyncio.to_thread(link.status)), actions)
    assert items[0].label == "detour: detour is not running"
    assert _find(items, "Pause provider").children == ()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    actions.copy_token()
    assert notes[-1] == "no clipboard tool found (xclip, xsel, wl-copy): run `detour token`"


def test_each_state_has_its_own_colour() -> None:
    centres = {s: draw(s).getpixel((10, 32)) for s in State}
    assert len(set(centres.values())) == len(State)
    for s, px in centres.items():
        assert px == (*s.rgb, 255)


def test_without_a_desktop_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "tray"], capture_output=True, text=True, env=env, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "detour: no desktop session here (neither DISPLAY nor WAYLAND_DISPLAY is set); "
        "`detour status` works without one"
    ]


ALERTING = """
[alerts]
failovers = 1
desktop = false

[providers.flaky1]
kind = "sim"
[[providers.flaky1.faults]]
kind = "rate_limit"
at_s = 0
for_s = 600

[providers.flaky2]
kind = "sim"
[[providers.flaky2.faults]]
kind = "outage"
at_s = 0
for_s = 600

[providers.steady]
kind = "sim"

[[routes]]
name = "one"
chain = ["flaky1/m", "steady/m"]

[[routes]]
name = "two"
chain = ["flaky2/m", "steady/m"]
"""


async def test_alerts_show_from_the_tray_while_it_watches(tmp_path: Path) -> None:
    import threading

    from daemon.server.observe import NOTIFIER

    shown = tmp_path / "daemon-notified"
    d = await start_daemon(ALERTING, data_dir=tmp_path / "data")
    notifier = d.runner.app[NOTIFIER]
    # The daemon's own desktop notification, as a command that writes down what it showed.
    notifier._desktop = [
        sys.executable,
        "-c",
        f"import sys; open({str(shown)!r}, 'a').write(sys.argv[-1] + '\\n')",
    ]
    got: list[str] = []
    link = DaemonLink(d.url, d.token)
    tray = threading.Thread(target=lambda: got.extend(link.alerts()), daemon=True)
    try:
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            await _ask(s, d, "one")  # no tray yet: the daemon notifies
            assert "flaky1" in await _eventually(shown)
            tray.start()
            await until(lambda: notifier.trays == 1, "showed the tray")
            await _ask(s, d, "two")
            await until(lambda: got, "notified")
            assert got and got[0].startswith("detour: ") and "flaky2" in got[0]
            await asyncio.sleep(0.3)
            assert "flaky2" not in shown.read_text()  # the tray showed it, the daemon did not
    finally:
        await d.close()
    await asyncio.to_thread(tray.join, 5)
    assert not tray.is_alive()  # the daemon's stop ends the watch
