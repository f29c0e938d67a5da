"""Screenshots of the dashboard against fixed data on a frozen clock (pytest-textual-snapshot).

After a deliberate change of the look: ``pytest tests/tui/test_snapshots.py --snapshot-update``
and review the SVGs under ``__snapshots__``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.fake_daemon import NOW, TOKEN, FakeDaemon, failover
from tui.app import DetourApp

SIZE = (160, 48)
Compare = Callable[..., bool]


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def threaded_fake() -> Iterator[FakeDaemon]:
    """The fake daemon on a thread of its own: the snapshot runs the app on its own loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return await fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=10)

    fake: FakeDaemon = call(lambda: _make())  # created on its loop: it owns asyncio objects
    try:
        yield fake
    finally:
        call(fake.stop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


async def _make() -> FakeDaemon:
    fake = FakeDaemon()
    fake.status["failovers"].append(failover("r5", NOW - 5, to="deepseek/deepseek-chat", reason="timeout",
                                             cost_delta_usd=-0.0121))  # fmt: skip
    await fake.start()
    return fake


def frozen_app(fake: FakeDaemon) -> DetourApp:
    return DetourApp(
        fake.url, TOKEN, clock=lambda: NOW, poll_s=3600, tick_s=3600, label="http://127.0.0.1:8787"
    )


async def _loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, DetourApp)
    for _ in range(250):
        if app.link.state == "live" and app.board.failovers:
            break
        await pilot.pause(0.02)
    assert app.link.state == "live"
    await pilot.pause()


@pytest.mark.parametrize("key", ["", "b", "k"], ids=["dashboard", "budget_screen", "keys_screen"])
def test_screen(snap_compare: Compare, threaded_fake: FakeDaemon, utc: None, key: str) -> None:
    async def open_screen(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        if key:
            await pilot.press(key)
            await pilot.pause(0.2)
            for field in pilot.app.screen.query(Input):
                field.cursor_blink = False  # a blinking cursor would make the picture depend on timing
            await pilot.pause()

    assert snap_compare(frozen_app(threaded_fake), terminal_size=SIZE, run_before=open_screen)
