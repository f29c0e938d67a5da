"""The dashboard driven by Pilot over real HTTP: against a scripted fake daemon (see
fake_daemon) and against the real one on simulated providers."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from daemon.telemetry.schema import AlertEvent, BudgetEvent, DroppedEvent, RequestEvent
from tests.daemon_harness import Daemon, start_daemon
from tests.fakes.base import Answer, StreamFault
from tests.fakes.openai_chat import FakeOpenAI
from tests.report.test_continued import ANSWER, has_continuations, streamed_text
from tests.report.test_report_e2e import KEY, config
from tests.tui.fake_daemon import NOW, TOKEN, FakeDaemon, continued, failover, response
from tests.wait import HANG_S
from tui.app import DetourApp


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeDaemon]:
    d = FakeDaemon()
    await d.start()
    yield d
    await d.stop()


def app_for(url: str, token: str = TOKEN, clock: Callable[[], float] | None = None) -> DetourApp:
    # Polling and ticking are driven by the tests, not by timers.
    return DetourApp(url, token, clock=clock or Clock(), poll_s=3600, tick_s=3600, label="test")


async def until(pilot: Pilot[Any], cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_S  # only a hang takes this long; a busy machine is waited for
    while not cond():
        assert time.monotonic() < deadline, "condition never met"
        await pilot.pause(0.02)


def cells(app: DetourApp, selector: str) -> list[str]:
    table = app.query_one(selector, DataTable)
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def link_text(app: DetourApp) -> str:
    return str(app.query_one("#link", Static).render())


def bars_text(app: DetourApp) -> str:
    return str(app.query_one("#bars", Static).render())


async def test_starts_from_status_then_goes_live(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        providers = cells(app, "#providers")
        assert len(providers) == 3
        assert any(
            "anthropic/claude-sonnet-4-5 cooldown 42s 420/1310ms 5/20 rate_limited (429)" in r
            for r in providers
        )
        assert any("gemini/gemini-2.5-pro open" in r for r in providers)
        requests = cells(app, "#requests")
        assert requests[0].startswith("… coder aider openai/gpt-4.1")  # in flight first
        assert "● live" in link_text(app)


async def test_failover_feed_shows_an_injected_failover(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        before = len(cells(app, "#failovers"))
        fake.emit(failover("r7", NOW, to="deepseek/deepseek-chat", reason="timeout", cost_delta_usd=-0.012))
        await until(pilot, lambda: len(cells(app, "#failovers")) == before + 1)
        newest = cells(app, "#failovers")[0]
        assert "anthropic/claude-sonnet-4-5 → deepseek/deepseek-chat timeout -$0.01200" in newest


async def test_a_two_hop_walk_shows_its_cost_difference_once(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        before = len(cells(app, "#failovers"))
        # One request, two hops: the daemon sends the request's one difference on each.
        fake.emit(failover("r8", NOW, to="openai/gpt-4.1", cost_delta_usd=0.0035))
        fake.emit(
            failover(
                "r8", NOW, **{"from": "openai/gpt-4.1"}, to="gemini/gemini-2.5-pro", cost_delta_usd=0.0035
            )
        )
        await until(pilot, lambda: len(cells(app, "#failovers")) == before + 2)
        last_hop, first_hop = cells(app, "#failovers")[:2]
        assert last_hop.endswith("+$0.00350") and "$" not in first_hop


async def test_request_moves_from_in_flight_to_done(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        req: RequestEvent = {
            "ts": NOW, "type": "request", "session": "roo", "id": "r10", "route": "coder",
            "format": "anthropic", "requested_model": "claude-sonnet-4-5", "stream": True,
        }  # fmt: skip
        fake.emit(req)
        await until(pilot, lambda: "r10" in app.board.requests)
        assert app.board.requests["r10"].inflight
        fake.emit(response("r10", NOW + 2, target="openai/gpt-4.1", cost_usd=0.02))
        await until(pilot, lambda: not app.board.requests["r10"].inflight)
        assert any(
            "openai/gpt-4.1" in r and "$0.02000" in r and "640ms" in r for r in cells(app, "#requests")
        )


async def test_budget_bar_moves_after_a_budget_event(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        assert "$1.2500 of $5.00" in bars_text(app)
        spark_before = str(app.query_one("#spend", Static).render())
        fake.emit(response("r11", NOW, cost_usd=0.5))
        event: BudgetEvent = {
            "ts": NOW,
            "type": "budget",
            "session": "s",
            "scope": "day",
            "spent": 4.0,
            "limit": 5.0,
        }
        fake.emit(event)
        await until(pilot, lambda: "$4.0000 of $5.00" in bars_text(app))
        assert str(app.query_one("#spend", Static).render()) != spark_before


async def test_cooldown_counts_down_without_the_daemon(fake: FakeDaemon) -> None:
    clock = Clock()
    app = app_for(fake.url, clock=clock)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        clock.now += 10
        app.tick()
        await pilot.pause()
        assert any("claude-sonnet-4-5 cooldown 32s" in r for r in cells(app, "#providers"))
        clock.now += 60
        app.tick()
        await pilot.pause()
        assert any("claude-sonnet-4-5 healthy" in r for r in cells(app, "#providers"))


async def edit_budget(pilot: Pilot[Any], **typed: str) -> None:
    """Open the budget screen, type into its fields (``daily_usd="7.5"``) and press Save."""
    await pilot.press("b")
    await until(pilot, lambda: bool(pilot.app.screen.query("#save")))
    for field, text in typed.items():
        pilot.app.screen.query_one(f"#{field}", Input).value = text
    await pilot.click("#save")


async def test_budget_edit_reaches_the_server(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        await edit_budget(pilot, daily_usd="7.5")
        await until(pilot, lambda: bool(fake.puts))
        assert fake.puts == [{"daily_usd": 7.5}]  # only what changed
        await until(pilot, lambda: "of $7.50" in bars_text(app))


async def test_budget_screen_refuses_what_is_not_money(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        await edit_budget(pilot, weekly_usd="lots")
        await pilot.pause()
        assert "'lots' is not an amount in USD" in str(app.screen.query_one("#budget-error", Static).render())
        assert fake.puts == []


async def test_keys_screen_says_which_providers_have_a_key(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        await pilot.press("k")
        await until(pilot, lambda: bool(app.screen.query("#keys")))
        rows = [" ".join(map(str, app.screen.query_one("#keys", DataTable).get_row_at(i))) for i in range(3)]
        assert rows == ["anthropic anthropic key set", "openai openai key set", "gemini gemini no key"]


async def test_reconnects_by_itself_after_a_daemon_restart(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        await fake.stop()
        await until(pilot, lambda: app.link.state == "unreachable")
        assert f"cannot reach the daemon at {fake.url}" in link_text(app)
        await fake.start()  # same port
        await until(pilot, lambda: app.link.state == "live")
        await fake.connected.wait()
        fake.emit(failover("r20", NOW, reason="overloaded"))
        await until(pilot, lambda: any("overloaded" in r for r in cells(app, "#failovers")))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_says_plainly_when_the_daemon_cannot_be_reached() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    app = app_for(url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "unreachable")
        text = link_text(app)
        assert f"cannot reach the daemon at {url}" in text and "detour serve" in text
        assert "retrying in" in text


async def test_a_wrong_token_is_named() -> None:
    fake = FakeDaemon(token="another")
    await fake.start()
    try:
        app = app_for(fake.url)
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.link.state == "refused")
            assert "detour token" in link_text(app)
    finally:
        await fake.stop()


async def test_a_daemon_without_events_still_shows_budgets() -> None:
    fake = FakeDaemon(has_events=False)
    await fake.start()
    try:
        app = app_for(fake.url)
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.link.state == "no_events")
            assert "the daemon has no /events yet" in link_text(app)
            await until(pilot, lambda: "$1.2500 of $5.00" in bars_text(app))
    finally:
        await fake.stop()


async def test_budget_edit_reaches_the_real_daemon(sim_daemon: Daemon) -> None:
    """The real daemon on sim providers: an edit made on the budget screen is the daemon's limit."""
    app = app_for(sim_daemon.url, sim_daemon.token)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state in ("no_events", "live"))
        await until(pilot, lambda: "day" in app.board.budgets)
        await edit_budget(pilot, daily_usd="3", weekly_usd="$12.5")
        await until(pilot, lambda: "of $3.00" in bars_text(app))
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim_daemon.url + "/budget", headers=sim_daemon.auth()) as r,
    ):
        budgets = (await r.json())["budgets"]
    assert budgets["day"]["limit_usd"] == 3.0
    assert budgets["week"]["limit_usd"] == 12.5


async def test_a_firing_alert_pops_up(fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(fake.url)
    shown: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: shown.append(message))
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        alert: AlertEvent = {
            "ts": NOW, "type": "alert", "session": "", "condition": "failover_burst", "state": "firing",
            "message": "anthropic failed over 5 times in 10 minutes", "provider": "anthropic",
        }  # fmt: skip
        fake.emit(alert)
        await until(pilot, lambda: shown == ["anthropic failed over 5 times in 10 minutes"])


async def test_lost_events_bring_a_fresh_snapshot(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        fake.status["budgets"]["day"]["spent_usd"] = 3.0
        dropped: DroppedEvent = {"ts": NOW, "type": "dropped", "session": "", "count": 12}
        fake.emit(dropped)
        await until(pilot, lambda: "$3.0000 of $5.00" in bars_text(app))


REAL_FAILOVER = """
[providers.primary]
kind = "sim"
[[providers.primary.faults]]
kind = "rate_limit"
at_s = 0
for_s = 3600
[providers.primary.models."claude-sonnet-4-5"]
input_usd_mtok = 3.0
output_usd_mtok = 15.0

[providers.fallback]
kind = "sim"
[providers.fallback.models."gpt-4.1"]
input_usd_mtok = 2.0
output_usd_mtok = 8.0

[[routes]]
name = "coder"
chain = ["primary/claude-sonnet-4-5", "fallback/gpt-4.1"]

[budget]
daily_usd = 1.0
"""


async def test_a_real_failover_and_its_spend_reach_the_dashboard() -> None:
    """The real daemon, its primary rate limited: one request from an agent shows up as a
    failover in the feed and moves the day's budget bar."""
    daemon = await start_daemon(REAL_FAILOVER)
    try:
        app = app_for(daemon.url, daemon.token)
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.link.state == "live")
            await until(pilot, lambda: "$0.0000 of $1.00" in bars_text(app))
            body = {
                "model": "coder",
                "max_tokens": 200,
                "messages": [{"role": "user", "content": "hi " * 300}],
            }
            async with (
                aiohttp.ClientSession(headers=daemon.auth()) as http,
                http.post(daemon.url + "/v1/messages", json=body) as r,
            ):
                assert r.status == 200
                assert r.headers["x-detour-attempts"].startswith("primary/claude-sonnet-4-5:429,")
            await until(pilot, lambda: len(cells(app, "#failovers")) == 1)
            assert "primary/claude-sonnet-4-5 → fallback/gpt-4.1 rate_limited" in cells(app, "#failovers")[0]
            await until(pilot, lambda: "$0.0000 of $1.00" not in bars_text(app))
            assert "of $1.00" in bars_text(app)
    finally:
        await daemon.close()


async def test_a_continued_answer_shows_in_the_failover_list(fake: FakeDaemon) -> None:
    app = app_for(fake.url)
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.link.state == "live")
        before = len(cells(app, "#failovers"))
        fake.emit(continued("r21", NOW, chars=40, reason="connection"))
        await until(pilot, lambda: len(cells(app, "#failovers")) == before + 1)
        newest = cells(app, "#failovers")[0]
        assert newest.endswith(
            "anthropic/claude-sonnet-4-5 → openai/gpt-4.1 continued after 40 chars, connection "
        )
        # Its failover is the same line: the hop's cost difference joins it.
        fake.emit(failover("r21", NOW + 1, to="openai/gpt-4.1", reason="connection", cost_delta_usd=0.0021))
        done = response("r21", NOW + 1, target="openai/gpt-4.1", cost_usd=0.003)
        done["continued"] = {  # type: ignore[typeddict-unknown-key]
            "from": "anthropic/claude-sonnet-4-5", "to": "openai/gpt-4.1", "chars": 40,
            "cost_usd": 0.003, "retry_usd": 0.01,
        }  # fmt: skip
        fake.emit(done)
        await until(pilot, lambda: "against a retry" in cells(app, "#failovers")[0])
        assert cells(app, "#failovers")[0].endswith("connection, -$0.00700 against a retry +$0.00210")
        assert len(cells(app, "#failovers")) == before + 1


@pytest.mark.skipif(not has_continuations(), reason="needs continue_on_cut and StreamFault(after_chars=N)")
async def test_a_real_continuation_is_one_line_with_its_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real daemon, its primary cutting the answer after 40 characters: the dashboard shows
    one line for the cut (its failover joined to it) with what continuing saved."""
    monkeypatch.setenv("DETOUR_REPORT_KEY", KEY)
    prim, fb = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    text = config(prim, fb).replace("max_wait_s = 0", "max_wait_s = 0\ncontinue_on_cut = true")
    daemon = await start_daemon(text)
    try:
        app = app_for(daemon.url, daemon.token)
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.link.state == "live")
            prim.script.append(Answer(ANSWER, fault=StreamFault(after_chars=40, action="cut")))  # type: ignore[call-arg]
            fb.script.append(Answer(ANSWER))
            body = {"model": "coder", "stream": True, "messages": [{"role": "user", "content": "go"}]}
            async with (
                aiohttp.ClientSession(headers=daemon.auth()) as http,
                http.post(daemon.url + "/v1/chat/completions", json=body) as r,
            ):
                assert streamed_text(await r.read()) == ANSWER
            await until(pilot, lambda: "against a retry" in " ".join(cells(app, "#failovers")))
            (line,) = cells(app, "#failovers")
            assert "prim/m-primary → fb/m-fallback continued after 40 chars, " in line
    finally:
        await daemon.close()
        await prim.close()
        await fb.close()
