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

from daemon.telemetry.schema import Event
from tests.tui.fake_daemon import NOW, TOKEN, FakeDaemon, continued, failover, response
from tui.app import DetourApp
from tui.screens import BudgetScreen, KeysScreen

SIZE = (160, 48)
HANG_S = 60.0  # only a hung app takes this long; a busy machine is waited for
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


def a_continued_answer() -> list[Event]:
    """An answer cut after 40 characters and finished by the fallback, as the live feed tells it."""
    done = response("r6", NOW - 2, target="openai/gpt-4.1", cost_usd=0.0031,
                    attempts="anthropic/claude-sonnet-4-5:connection,openai/gpt-4.1:ok")  # fmt: skip
    done["continued"] = {"from": "anthropic/claude-sonnet-4-5", "to": "openai/gpt-4.1", "chars": 40,  # type: ignore[typeddict-unknown-key]
                         "cost_usd": 0.0031, "retry_usd": 0.0102}  # fmt: skip
    return [
        continued("r6", NOW - 3),
        failover("r6", NOW - 2, reason="connection", cost_delta_usd=0.0009),
        done,
    ]


def frozen_app(fake: FakeDaemon) -> DetourApp:
    return DetourApp(
        fake.url, TOKEN, clock=lambda: NOW, poll_s=3600, tick_s=3600, label="http://127.0.0.1:8787"
    )


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition``, however long a busy machine takes (the deadline only stops a hang)."""
    deadline = time.monotonic() + HANG_S
    while not condition():
        assert time.monotonic() < deadline, f"never {what}"
        await pilot.pause(0.02)


async def _settled(pilot: Pilot[Any]) -> None:
    """Until the picture stops changing: animations done, the app idle, and two pictures
    in a row the same (a screen draws over several frames; a loaded machine spaces them)."""
    app = pilot.app
    last = None
    deadline = time.monotonic() + HANG_S
    while True:
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        picture = app.export_screenshot()
        if picture == last:
            return
        assert time.monotonic() < deadline, "the screen never settled"
        last = picture


async def _loaded(pilot: Pilot[Any], live: bool) -> None:
    """Live, with the snapshot's failovers and, with ``live``, the continuation from the feed."""
    app = pilot.app
    assert isinstance(app, DetourApp)

    def loaded() -> bool:
        if not live:
            return bool(app.board.failovers)
        return any(f.saved_usd for f in app.board.failovers if f.continued_chars is not None)

    await _until(pilot, lambda: app.link.state == "live" and loaded(), "went live")


@pytest.mark.parametrize(
    ("key", "screen"),
    [("", DetourApp), ("b", BudgetScreen), ("k", KeysScreen)],
    ids=["dashboard", "budget_screen", "keys_screen"],
)
def test_screen(
    snap_compare: Compare, threaded_fake: FakeDaemon, utc: None, key: str, screen: type[object]
) -> None:
    # The dashboard shows a continuation that came live. The screens over it do without: rows
    # that come late leave a covered table's column widths to be worked out (not before idle).
    if not key:
        threaded_fake.greeting += a_continued_answer()

    async def open_screen(pilot: Pilot[Any]) -> None:
        await _loaded(pilot, live=not key)
        # The dashboard first: a screen pushed over it stops its tables from finishing their
        # layout (column widths are worked out when the screen is idle), so it must be done.
        await _settled(pilot)
        if key:
            await pilot.press(key)
            await _until(pilot, lambda: isinstance(pilot.app.screen, screen), f"showed {screen.__name__}")
            for field in pilot.app.screen.query(Input):
                field.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        await _settled(pilot)

    assert snap_compare(frozen_app(threaded_fake), terminal_size=SIZE, run_before=open_screen)
