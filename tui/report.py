"""The recovery report screen (key ``r``): ``GET /report`` as tables and a latency chart.

The chart is drawn with Rich text: one row per fallback path on a shared log
scale of milliseconds, the bar running from the path's p50 to its p99 (the
spread an agent loop feels), with its coverage beside it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from daemon.report import figures
from daemon.report.figures import ms, share, usd
from tui.client import Daemon, DaemonError

WINDOWS = ("day", "week")
BAR = 48  # columns of the latency chart
NAME = 60  # columns of the path names beside it
COLORS = ("dodger_blue1", "dark_orange", "spring_green3", "orchid", "gold1", "cyan")


def path_name(route: str, p: dict[str, Any]) -> str:
    return f"{route}: {figures.path_name(p, arrow='→')}"


def coverage(route: dict[str, Any], p: dict[str, Any]) -> float:
    """Failover paths: the share of the route's primary failures they recovered; direct: answered."""
    if p["failover"]:
        return p["recovered"] / route["primary_failures"] if route["primary_failures"] else 0.0
    return float(p["ok"] / route["requests"]) if route["requests"] else 0.0


def cache_saved(report: dict[str, Any]) -> str:
    """What the prompt cache saved: the answers priced without it, less what they cost."""
    routes = " · ".join(f"{r['route']} {usd(r['cache_saved_usd'], 4)}" for r in report["routes"])
    total = f"prompt cache saved {usd(report['totals']['cache_saved_usd'], 4)}"
    return f"{total}: {routes}" if routes else total


def latency_chart(report: dict[str, Any]) -> Text:
    rows = [(r, p) for r in report["routes"] for p in r["paths"] if p["latency_ms"]["n"]]
    if not rows:
        return Text("no answered requests in this window", style="dim")
    ends = [p["latency_ms"][k] for _, p in rows for k in ("p50", "p99")]
    lo = math.log10(max(0.5, min(ends)) / 1.5)
    hi = max(lo + 1, math.log10(max(ends) * 1.5))

    def col(v: float) -> int:
        return round((math.log10(max(v, 0.5)) - lo) / (hi - lo) * (BAR - 1))

    out = Text()
    for i, (route, p) in enumerate(rows):
        d, color = p["latency_ms"], COLORS[i % len(COLORS)]
        a, b = col(d["p50"]), col(d["p99"])
        line = Text(f"{path_name(route['route'], p)[: NAME - 1]:<{NAME}}")
        line.append(" " * a)
        line.append("●", style=color)
        line.append("━" * max(0, b - a - 1), style=color)
        if b > a:
            line.append("┫", style=color)
        line.append(" " * (BAR - max(a, b) - 1))
        line.append(f" {d['p50']:.0f}–{d['p99']:.0f} ms  covers {share(coverage(route, p))}  n={d['n']}")
        out.append_text(line)
        out.append("\n")
    left, right = f"{10**lo:.1f} ms", f"{10**hi:.0f} ms"
    scale = " " * NAME + left + " " * (BAR - len(left) - len(right)) + right + "  (log scale)"
    out.append(scale, style="dim")
    return out


class ReportScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "window", "Day/week"),
        Binding("r", "load", "Reload"),
    ]

    def __init__(self, daemon: Daemon, window: str = "day") -> None:
        super().__init__()
        self.daemon, self.window = daemon, window
        self.report: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="report", classes="box"):
            yield Static("Recovery report", classes="title", id="report-title")
            yield Static("loading…", id="report-summary")
            yield DataTable[str](id="coverage", cursor_type="none")
            yield DataTable[str](id="paths", cursor_type="none")
            yield Static(classes="title", id="chart-title")
            yield Static(id="chart")
            yield Static(id="report-spend", classes="caption")
            yield Static(id="report-cache", classes="caption")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#coverage", DataTable).add_columns(
            "failure on the primary", "seen", "recovered", "failed", "continued"
        )
        self.query_one("#paths", DataTable).add_columns(
            "path", "reqs", "p50 ms", "p95 ms", "p99 ms", "spread", "n", "ttft p50", "ttft p99", "extra"
        )
        self.action_load()

    def action_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self.action_load()

    def action_load(self) -> None:
        self.load()

    @work(exclusive=True, group="report")
    async def load(self) -> None:
        try:
            report = await self.daemon.report(self.window)
        except DaemonError as e:
            self.query_one("#report-summary", Static).update(Text(f"no report: {e}", style="red"))
            return
        self.show(report)

    def show(self, report: dict[str, Any]) -> None:
        self.report = report
        t, s, pr = report["totals"], report["spend"], report["probes"]
        self.query_one("#report-title", Static).update(
            f"Recovery report: {report['window']['name']} (w switches day/week)"
        )
        self.query_one("#report-summary", Static).update(
            f"{t['requests']} requests · {t['primary_failures']} primary failures · "
            f"{t['recovered']} recovered ({share(t['recovery_share'])}) · {t['unrecovered']} still failed · "
            f"{usd(t['cost_per_recovery_usd'])} per recovery · "
            f"failed attempts {usd(t['failed_attempts_usd'])}"
            + (f" · {figures.continued(t)}" if t["continued"] else "")
        )
        cov = self.query_one("#coverage", DataTable)
        cov.clear()
        for f in t["by_failure"]:
            cov.add_row(
                f["failure"], str(f["seen"]), str(f["recovered"]), str(f["failed"]), str(f["continued"])
            )
        paths = self.query_one("#paths", DataTable)
        paths.clear()
        for r in report["routes"]:
            for p in r["paths"]:
                lat, ttft = p["latency_ms"], p["ttft_ms"]
                paths.add_row(
                    path_name(r["route"], p), str(p["requests"]), ms(lat, "p50"), ms(lat, "p95"),
                    ms(lat, "p99"), ms(lat, "stdev"), str(lat["n"]), ms(ttft, "p50"), ms(ttft, "p99"),
                    usd(p["extra_usd"]) if p["failover"] else "-",
                )  # fmt: skip
        self.query_one("#chart-title", Static).update("Latency per path, p50 ● to p99 ┫")
        self.query_one("#chart", Static).update(latency_chart(report))
        limit = s["daily_limit_usd"]
        probes = "on" if pr["enabled"] else "off"
        self.query_one("#report-spend", Static).update(
            f"spend {usd(s['total_usd'], 4)} over {len(s['days'])} day(s), mean {usd(s['mean_usd'], 4)}/day "
            f"against {usd(limit, 2) if limit is not None else 'no'} daily limit, "
            f"{s['days_over_limit']} over · probes {probes}: {pr['runs']} runs, "
            f"{usd(pr['spent_today_usd'], 4)} of {usd(pr['cap_usd_per_day'], 2)} today"
        )
        self.query_one("#report-cache", Static).update(cache_saved(report))
