"""The team line of the TUI and of ``detour status``: the database's state and the member's share."""

from __future__ import annotations

from typing import Any, cast

from daemon.status_view import render
from daemon.telemetry.schema import Status, TeamEvent
from tui.state import Dashboard

TEAM = {
    "database": "db.example:5432/team",
    "state": "down",
    "since": "2026-12-07T23:00:00+00:00",
    "offline_spent_usd": 0.125,
    "member": "alice",
    "member_week_usd": 1.5,
    "member_day_usd": 0.25,
    "budgets": {
        "team_weekly": {"spent_usd": 12.0, "limit_usd": 200.0, "remaining_usd": 188.0, "resets_at": None},
    },
}


def _status(team: dict[str, Any]) -> Status:
    return cast(
        Status,
        {
            "version": "0", "simulated": False, "uptime_s": 1.0, "providers": [], "budgets": {},
            "sessions": [], "inflight": [], "recent": [], "failovers": [], "team": team,
        },
    )  # fmt: skip


def test_the_dashboard_and_detour_status_say_the_team_database_is_down() -> None:
    board = Dashboard(clock=lambda: 0.0)
    board.load_status(_status(TEAM))
    assert board.team is not None and "DOWN since 2026-12-07T23:00" in board.team
    assert "$0.1250 spent offline" in board.team
    assert board.budgets["team_weekly"].limit_usd == 200.0
    back: TeamEvent = {"ts": 1.0, "type": "team", "session": "", "database": "back", "offline_spent": 0.125}
    board.load_status(_status({**TEAM, "state": "up", "since": None}))
    board.apply(back)
    assert board.team is not None and ": up;" in board.team
    text = render("http://127.0.0.1:8787", _status(TEAM))
    assert "team database db.example:5432/team: DOWN (unreachable since 2026-12-07T23:00" in text
    assert "team_weekly" in text and "member alice: $1.5000 this week" in text
