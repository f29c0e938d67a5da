"""What the icon shows for a ``/status`` answer (None: no daemon answered)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from daemon.telemetry.schema import Status, WindowStatus

RECENT_FAILOVER_S = 300.0  # a failover this recent still colours the icon
WARN_SHARE = 0.8


class State(enum.Enum):
    """In rising order of concern; the icon shows the worst that applies."""

    HEALTHY = ("healthy", (46, 160, 67))
    FAILING_OVER = ("failing over", (242, 194, 0))
    BUDGET_WARN = ("a budget is at 80%", (240, 127, 22))
    STOPPED = ("over budget or not running", (217, 45, 32))

    def __init__(self, label: str, rgb: tuple[int, int, int]) -> None:
        self.label = label
        self.rgb = rgb


@dataclass(frozen=True, slots=True)
class Look:
    state: State
    headline: str  # why, in a few words: the menu's first line
    tooltip: str
    providers: tuple[tuple[str, bool], ...]  # (id, paused), in config order


def look(status: Status | None, now: float | None = None) -> Look:
    if status is None:
        return Look(State.STOPPED, "detour is not running", "detour: not running", ())
    now = time.time() if now is None else now
    budgets = status["budgets"]
    providers = tuple((p["id"], bool(p.get("paused", False))) for p in status["providers"])
    over = [scope for scope, w in budgets.items() if _share(w) >= 1.0]
    warn = [scope for scope, w in budgets.items() if _share(w) >= WARN_SHARE]
    failing = _failing(status, now)
    if over:
        state, headline = State.STOPPED, f"over the {_names(over)} budget"
    elif warn:
        state, headline = (
            State.BUDGET_WARN,
            f"{_names(warn)} budget at {max(_share(budgets[s]) for s in warn):.0%}",
        )
    elif failing:
        state, headline = State.FAILING_OVER, f"failing over: {', '.join(failing)}"
    else:
        state, headline = State.HEALTHY, "healthy" + (" (simulated providers)" if status["simulated"] else "")
    lines = [f"detour: {headline}"]
    for scope, name in (("day", "today"), ("week", "this week")):
        w = budgets.get(scope)
        if w is not None:
            limit = f" of ${w['limit_usd']:.2f}" if w["limit_usd"] is not None else " (no limit)"
            lines.append(f"{name}: ${w['spent_usd']:.2f}{limit}")
    paused = [pid for pid, p in providers if p]
    if paused:
        lines.append(f"paused: {', '.join(paused)}")
    return Look(state, headline, "\n".join(lines), providers)


def _share(w: WindowStatus) -> float:
    limit = w["limit_usd"]
    if limit is None:
        return 0.0
    if limit <= 0:
        return 1.0  # a zero limit blocks all spend
    return w["spent_usd"] / limit


def _names(scopes: list[str]) -> str:
    return " and ".join({"day": "daily", "week": "weekly"}.get(s, s) for s in scopes)


def _failing(status: Status, now: float) -> list[str]:
    """Providers failing over now: a recent failover away from them, or a model not healthy.
    A paused provider is out of the walk: its past failures no longer matter."""
    paused = {p["id"] for p in status["providers"] if p.get("paused")}
    names: dict[str, None] = {}
    for ev in status["failovers"]:
        if now - ev["ts"] <= RECENT_FAILOVER_S:
            names[ev["from"].partition("/")[0]] = None
    for p in status["providers"]:
        if any(t["state"] != "healthy" for t in p["targets"]):
            names[p["id"]] = None
    return [n for n in names if n not in paused]
