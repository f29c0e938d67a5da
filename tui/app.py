"""``detour tui``: the live dashboard of a running daemon, over HTTP only.

The state comes from ``GET /status`` at every (re)connection and then from the
``GET /events`` feed, with ``/status`` polled now and then for what events do not
carry (latency percentiles, cooldowns). A daemon without ``/status`` or
``/events`` (an older build) still gets budget bars from ``GET /budget``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from daemon.telemetry.schema import AlertEvent, Event, Status
from tui.client import Daemon, DaemonError, Missing, Refused
from tui.report import ReportScreen
from tui.screens import BudgetScreen, KeysScreen
from tui.state import Dashboard
from tui.widgets import BudgetBars, FailoverFeed, ProvidersPanel, RequestsTable

# Seconds between reconnection tries: quick at first (a restart takes a second), then patient.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)
NO_EVENTS_RETRY_S = 15.0


@dataclass
class Link:
    state: Literal["connecting", "live", "no_events", "unreachable", "refused"]
    detail: str = ""
    retry_at: float | None = None


@dataclass
class LinkChanged(Message):
    link: Link


@dataclass
class StatusLoaded(Message):
    status: Status


@dataclass
class BudgetLoaded(Message):
    report: dict[str, Any]


@dataclass
class EventArrived(Message):
    event: Event


class DetourApp(App[None]):
    TITLE = "detour"
    CSS_PATH = "styles/app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "budget", "Budgets"),
        Binding("k", "keys", "Keys"),
        Binding("r", "report", "Report"),
        Binding("f5", "refresh", "Refresh"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clock: Callable[[], float] = time.time,
        poll_s: float = 3.0,
        tick_s: float = 1.0,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.daemon = Daemon(url, token)
        self.board = Dashboard(clock)
        self.link = Link("connecting")
        self._redraw_due = False
        self._clock = clock
        self._poll_s, self._tick_s = poll_s, tick_s
        self.sub_title = label if label is not None else url

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="link")
        with Horizontal(id="top"):
            yield _box("providers-box", "Providers", ProvidersPanel(id="providers"))
            yield _box("budget-box", "Budgets", BudgetBars(id="budgets"))
        yield _box("requests-box", "Requests (in flight first)", RequestsTable(id="requests"))
        yield _box("failover-box", "Failovers", FailoverFeed(id="failovers"))
        yield Footer()

    async def on_mount(self) -> None:
        await self.daemon.open()
        self._show_link()
        self.redraw()
        self.follow()
        self.set_interval(self._poll_s, self.poll)
        self.set_interval(self._tick_s, self.tick)

    async def on_unmount(self) -> None:
        self.workers.cancel_all()
        await self.daemon.close()

    # --- workers -----------------------------------------------------------------------

    @work(exclusive=True, group="feed")
    async def follow(self) -> None:
        """Snapshot, then the live feed; on any break, back off and start over."""
        tries = 0
        while True:
            try:
                await self._snapshot()
                async with self.daemon.events() as feed:
                    tries = 0
                    self.post_message(LinkChanged(Link("live")))
                    async for event in feed:
                        self.post_message(EventArrived(event))
                tries = 0
                self.post_message(LinkChanged(Link("connecting", "the daemon closed the feed")))
                await asyncio.sleep(BACKOFF[0])
            except Missing as e:
                retry = self._clock() + NO_EVENTS_RETRY_S
                self.post_message(LinkChanged(Link("no_events", str(e), retry)))
                await asyncio.sleep(NO_EVENTS_RETRY_S)
            except Refused as e:
                self.post_message(LinkChanged(Link("refused", str(e))))
                await asyncio.sleep(BACKOFF[-1])
            except DaemonError as e:
                wait = BACKOFF[min(tries, len(BACKOFF) - 1)]
                tries += 1
                self.post_message(LinkChanged(Link("unreachable", str(e), self._clock() + wait)))
                await asyncio.sleep(wait)

    async def _snapshot(self) -> None:
        """/status where the daemon has it, else /budget; a missing /status is no failure."""
        try:
            self.post_message(StatusLoaded(await self.daemon.status()))
        except Missing:
            self.post_message(BudgetLoaded(await self.daemon.budget()))

    @work(exclusive=True, group="poll")
    async def poll(self) -> None:
        if self.link.state in ("unreachable", "refused"):
            return  # the feed worker is already retrying and saying why
        try:
            await self._snapshot()
        except DaemonError:
            pass  # the feed worker notices a daemon that went away

    # --- messages ----------------------------------------------------------------------

    def on_link_changed(self, message: LinkChanged) -> None:
        self.link = message.link
        self._show_link()

    def on_status_loaded(self, message: StatusLoaded) -> None:
        try:
            self.board.load_status(message.status)
        except (KeyError, TypeError, ValueError) as e:
            # A daemon of another version: say so rather than take the dashboard down.
            self.notify(f"/status has a shape this dashboard does not know ({e!r})", severity="error")
            return
        self.redraw()

    def on_budget_loaded(self, message: BudgetLoaded) -> None:
        self.board.load_budgets(message.report.get("budgets", {}))
        self.redraw()

    def on_event_arrived(self, message: EventArrived) -> None:
        event = message.event
        try:
            self.board.apply(event)
        except (KeyError, TypeError, ValueError):
            return  # an event of a newer or broken shape must not take the dashboard down
        if event["type"] == "dropped":
            self.poll()  # events were lost: the snapshot puts the picture right
        if event["type"] == "alert":
            alert: AlertEvent = event  # type: ignore[assignment]
            if alert["state"] == "firing":
                self.notify(alert["message"], title="detour alert", severity="warning", timeout=8)
        # A request brings several events at once: draw once they are all applied.
        if not self._redraw_due:
            self._redraw_due = True
            self.call_later(self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_due = False
        self.redraw()

    def tick(self) -> None:
        """Cooldowns count down and reset times move even when nothing happens."""
        self.query_one(ProvidersPanel).show(self.board)
        self.query_one(BudgetBars).show(self.board)
        self._show_link()

    def redraw(self) -> None:
        self.query_one(ProvidersPanel).show(self.board)
        self.query_one(BudgetBars).show(self.board)
        self.query_one(RequestsTable).show(self.board)
        self.query_one(FailoverFeed).show(self.board)

    def _show_link(self) -> None:
        link = self.link
        bar = self.query_one("#link", Static)
        text = {
            "connecting": "◌ connecting to the daemon…",
            "live": "● live" + (" · simulated providers" if self.board.simulated else ""),
            "no_events": f"◐ {link.detail}: refreshing from /status every few seconds"
            if self.board.has_status
            else f"◐ {link.detail}: showing budgets from /budget only "
            "(requests, failovers and providers need a daemon with /events and /status)",
            "unreachable": f"✖ {link.detail}",
            "refused": f"✖ {link.detail}",
        }[link.state]
        if link.retry_at is not None and link.state == "unreachable":
            text += f" · retrying in {max(0.0, link.retry_at - self._clock()):.0f}s"
        bar.update(text)
        bar.set_classes(f"link-{link.state.replace('_', '-')}")

    # --- actions -----------------------------------------------------------------------

    def action_budget(self) -> None:
        self.push_screen(BudgetScreen(self.daemon, self.board, self._budget_saved))

    def _budget_saved(self, report: dict[str, Any]) -> None:
        self.board.load_budgets(report.get("budgets", {}))
        self.redraw()

    def action_keys(self) -> None:
        self.push_screen(KeysScreen(self.board))

    def action_report(self) -> None:
        self.push_screen(ReportScreen(self.daemon))

    def action_refresh(self) -> None:
        self.poll()


def _box(id: str, title: str, body: Widget) -> Vertical:
    return Vertical(Static(title, classes="title"), body, id=id, classes="box")


def run(url: str, token: str) -> None:
    DetourApp(url, token).run()
