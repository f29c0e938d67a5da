"""The dashboard's panels. Each redraws itself whole from a ``Dashboard`` on ``show``."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from daemon.telemetry.schema import ProjectStatus
from tui.state import SCOPES, Dashboard, FailoverRow, Window

STATE_STYLE = {
    "healthy": "green",
    "cooldown": "yellow",
    "half_open": "yellow",
    "open": "red",
    "auth_failed": "red",
}
SCOPE_NAME = {
    "session": "session",
    "day": "today",
    "week": "this week",
    "team_daily": "team day",
    "team_weekly": "team week",
}
BAR_WIDTH = 20
SPARKS = "▁▂▃▄▅▆▇█"


def usd(value: float | None, places: int = 4) -> str:
    return "-" if value is None else f"${value:.{places}f}"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def duration(seconds: float) -> str:
    s = int(max(0.0, seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


class ProvidersPanel(DataTable[Text | str]):
    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns("target", "state", "p50/p95", "failed", "why")

    def show(self, board: Dashboard) -> None:
        self.clear()
        for row in sorted(board.targets.values(), key=lambda r: r.name):
            state = board.state_of(row)
            left = board.cooldown_left(row)
            rate = row.error_rate
            latency = "-" if row.p50_ms is None else f"{row.p50_ms:.0f}/{ms(row.p95_ms)}"
            self.add_row(
                row.name,
                Text(state + (f" {left:.0f}s" if left > 0 else ""), style=STATE_STYLE.get(state, "")),
                latency,
                "-"
                if rate is None
                else Text(f"{row.errors}/{row.requests}", style="red" if rate > 0.2 else ""),
                Text(row.reason if state != "healthy" else "", style="dim"),
            )


class RequestsTable(DataTable[Text | str]):
    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns(
            "", "route", "session", "served by", "tokens in/out", "cost", "TTFT", "latency", "attempts"
        )

    def show(self, board: Dashboard) -> None:
        self.clear()
        for r in board.request_rows():
            if r.inflight:
                mark = Text("…", style="cyan")
            elif r.status == 200:
                mark = Text("✓", style="green")
            else:
                mark = Text(str(r.status), style="red")
            served = r.error if r.error and not r.inflight else r.target or "-"
            self.add_row(
                mark,
                r.route,
                Text(r.session, overflow="ellipsis", no_wrap=True),
                served,
                "" if r.inflight else f"{r.tokens_in}/{r.tokens_out}",
                "" if r.inflight else usd(r.cost_usd, 5),
                ms(r.ttft_ms) if r.stream or r.ttft_ms is not None else "",
                ms(r.latency_ms) if r.latency_ms is not None else "",
                steps(r.attempts),
            )


def steps(attempts: str) -> Text:
    """``a/m1:429,b/m2:ok`` as ``a 429 › b ok``: the model that answered is in "served by"."""
    out = Text(overflow="ellipsis", no_wrap=True)
    for i, step in enumerate(s for s in attempts.split(",") if s):
        target, _, outcome = step.rpartition(":")
        if i:
            out.append(" › ", style="dim")
        out.append(target.partition("/")[0] + " ")
        out.append(outcome, style="green" if outcome == "ok" else "yellow")
    return out


class FailoverFeed(DataTable[Text | str]):
    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns("at", "from", "", "to", "reason", "cost Δ")

    def show(self, board: Dashboard) -> None:
        self.clear()
        for f in board.failovers:
            delta = f.cost_delta_usd
            self.add_row(
                datetime.fromtimestamp(f.ts).strftime("%H:%M:%S"),
                Text(f.from_, style="red"),
                "→",
                Text(f.to, style="green"),
                _reason(f),
                "" if delta is None else Text(_usd_delta(delta), style="red" if delta > 0 else "green"),
            )


def _reason(f: FailoverRow) -> Text:
    if f.continued_chars is None:
        return Text(f.reason, style="yellow")
    out = Text("continued", style="bold cyan")
    out.append(f" after {f.continued_chars} chars, ")
    out.append(f.reason, style="yellow")
    if f.saved_usd is not None:
        out.append(
            f", {_usd_delta(-f.saved_usd)} against a retry", style="red" if f.saved_usd < 0 else "green"
        )
    return out


def _usd_delta(delta: float) -> str:
    sign = "+" if delta >= 0 else "-"
    return f"{sign}${abs(delta):.5f}"


class BudgetBars(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="bars")
        yield Static("spend per 5 s, last 4 min", classes="caption")
        yield Static(id="spend")
        projects = Static(id="projects")
        projects.display = False  # until a project is registered
        yield projects

    def show(self, board: Dashboard) -> None:
        lines = Text()
        for scope in SCOPES:
            w = board.budgets.get(scope)
            if w is None:
                continue
            lines.append_text(_bar(scope, w, board.clock()))
            lines.append("\n")
        if not board.budgets:
            lines.append("no budget figures yet", style="dim")
        if board.team is not None:
            lines.append(board.team, style="red" if "DOWN" in board.team else "dim")
        self.query_one("#bars", Static).update(lines)
        self.query_one("#spend", Static).update(sparkline(board.spend_series()))
        projects = Text()
        for p in board.projects:
            projects.append("\n").append_text(project_line(p))
        shown = self.query_one("#projects", Static)
        shown.display = bool(board.projects)
        shown.update(projects)


def project_line(p: ProjectStatus) -> Text:
    """``myrepo  indexing 120 of 600`` / ``myrepo  ready, 412 files · 2 larger than 512 KiB``"""
    line = Text(f"{p['root'].rstrip('/').rpartition('/')[2] or p['root']:<14} ")
    if p["state"] == "indexing":
        line.append(f"indexing {p['parsed']} of {p['to_parse']}", style="yellow")
    elif p["state"] == "ready":
        line.append(f"ready, {p['files']} files", style="green")
    elif p["state"] == "failed":
        line.append(f"cannot index: {p['error']}", style="red")
    else:
        line.append("waiting", style="dim")
    for reason, n in sorted(p["skipped"].items()):
        line.append(f" · {n} {reason}", style="dim")
    return line


def sparkline(series: list[float]) -> Text:
    top = max(series, default=0.0)
    if top <= 0:
        return Text("▁" * len(series), style="dim")
    line = Text()
    for v in series:
        level = 0 if v <= 0 else 1 + round(v / top * (len(SPARKS) - 2))
        line.append(SPARKS[level], style="dim" if level == 0 else "red" if level >= 6 else "yellow")
    line.append(f" {usd(top, 3)} peak", style="dim")
    return line


def _bar(scope: str, w: Window, now: float) -> Text:
    filled = round(w.fraction * BAR_WIDTH)
    colour = "green" if w.fraction < 0.6 else "yellow" if w.fraction < 0.9 else "red"
    line = Text(f"{SCOPE_NAME[scope]:<10}")
    if w.limit_usd is None:
        line.append("·" * BAR_WIDTH, style="dim")
        line.append(f" {usd(w.spent_usd)} (no limit)")
    else:
        line.append("█" * filled, style=colour)
        line.append("░" * (BAR_WIDTH - filled), style="dim")
        line.append(f" {usd(w.spent_usd)} of {usd(w.limit_usd, 2)}")
    if w.resets_at is not None:
        line.append(f"  ↻ {duration(w.resets_at.timestamp() - now)}", style="dim")
    return line
