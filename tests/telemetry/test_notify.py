"""Alert delivery: a failing channel is logged, never raised; desktop only where there is one."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import aiohttp
import pytest

from daemon.config import AlertsConfig
from daemon.telemetry import notify
from daemon.telemetry.notify import Notifier
from daemon.telemetry.schema import AlertEvent

ALERT: AlertEvent = {
    "ts": 0.0, "type": "alert", "session": "", "condition": "key_rejected", "state": "firing",
    "message": 'up-anthropic rejected its "key"', "provider": "up-anthropic",
}  # fmt: skip


def test_no_desktop_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert notify.desktop_command() is None
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(notify.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert notify.desktop_command() == ["/usr/bin/notify-send", "--app-name=detour", "detour"]


async def test_desktop_runs_the_command_without_waiting_on_it(tmp_path: Path) -> None:
    out = tmp_path / "shown"
    notifier = Notifier(AlertsConfig(desktop=False))
    notifier._desktop = [sys.executable, "-c", f"import sys; open({str(out)!r}, 'w').write(sys.argv[-1])"]
    notifier(ALERT)  # returns at once; delivery is the task's job
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(notifier.run(session))
        try:
            async with asyncio.timeout(20):
                while not out.exists() or not out.read_text():
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert out.read_text() == 'detour: up-anthropic rejected its "key"'


async def test_an_unreachable_webhook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(AlertsConfig(desktop=False, webhook_url="http://127.0.0.1:9/T000/SECRET"))
    notifier(ALERT)
    with caplog.at_level(logging.WARNING, logger="daemon.telemetry.notify"):
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(notifier.run(session))
            async with asyncio.timeout(10):
                while not caplog.records:
                    await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert "alert webhook at 127.0.0.1:9 failed" in caplog.text
    assert "SECRET" not in caplog.text
