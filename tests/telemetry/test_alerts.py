"""Alert conditions judged from events: each fires once and recovers once."""

from __future__ import annotations

import asyncio
from typing import Any

from daemon.config import AlertsConfig
from daemon.telemetry.alerts import Alerts
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import Event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(**config: Any) -> tuple[Alerts, list[Any], Clock]:
    bus = Bus()
    clock = Clock()
    alerts = Alerts(AlertsConfig(**config), bus, clock)
    bus.listen(alerts)
    seen: list[Any] = []
    bus.listen(lambda e: seen.append(e) if e["type"] == "alert" else None)
    return alerts, seen, clock


def failover(provider: str = "a") -> Event:
    return {  # type: ignore[typeddict-unknown-key]
        "ts": 0.0, "type": "failover", "session": "s", "id": "1", "route": "r",
        "from": f"{provider}/m", "to": "b/m", "reason": "server_error", "cost_delta_usd": None,
    }  # fmt: skip


def attempt(step: str, failure: str | None, target: str = "a/m", called: bool = True) -> Event:
    outcome = "ok" if step == "ok" else "failed" if called else "skipped"
    return {  # type: ignore[typeddict-unknown-key]
        "ts": 0.0, "type": "attempt", "session": "s", "id": "1", "route": "r", "target": target,
        "outcome": outcome, "step": step, "failure": failure, "latency_ms": 1.0, "called": called, "message": "",
    }  # fmt: skip


def budget(scope: str, spent: float, limit: float | None, session: str = "s", **extra: Any) -> Event:
    return {  # type: ignore[typeddict-unknown-key]
        "ts": 0.0, "type": "budget", "session": session, "scope": scope, "spent": spent, "limit": limit, **extra,
    }  # fmt: skip


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_failovers_spread_wider_than_the_window_never_fire() -> None:
    alerts, seen, clock = setup(failovers=3, window_s=10)
    for _ in range(6):
        alerts(failover())
        clock.now += 6
    await settle()
    assert seen == []


async def test_bursts_are_counted_per_provider() -> None:
    alerts, seen, _ = setup(failovers=2, window_s=10)
    alerts(failover("a"))
    alerts(failover("b"))
    await settle()
    assert seen == []
    alerts(failover("b"))
    await settle()
    assert [(a["condition"], a["provider"]) for a in seen] == [("failover_burst", "b")]
    alerts.close()


async def test_a_rejected_key_recovers_on_the_next_success() -> None:
    alerts, seen, _ = setup()
    alerts(attempt("401", "auth"))
    alerts(attempt("403", "auth"))
    alerts(attempt("auth", None, called=False))
    alerts(attempt("ok", None, target="b/m"))
    await settle()
    assert [(a["condition"], a["state"]) for a in seen] == [("key_rejected", "firing")]
    alerts(attempt("ok", None, target="a/other"))
    await settle()
    assert [(a["condition"], a["state"], a["provider"]) for a in seen] == [
        ("key_rejected", "firing", "a"),
        ("key_rejected", "recovered", "a"),
    ]


async def test_a_model_gone_from_its_provider_and_an_empty_account_are_named() -> None:
    alerts, seen, _ = setup()
    alerts(attempt("404", "model_unavailable", target="a/claude-3-opus"))
    alerts(attempt("404", "model_unavailable", target="a/claude-3-opus"))
    alerts(attempt("insufficient_quota", "billing", target="b/gpt-4.1"))
    alerts(attempt("ok", None, target="a/claude-sonnet-4-5"))  # another model of a: not a recovery
    await settle()
    assert [(a["condition"], a["state"]) for a in seen] == [
        ("model_gone", "firing"),
        ("out_of_credit", "firing"),
    ]
    assert (
        "does not serve claude-3-opus" in seen[0]["message"] and "fix the route's chain" in seen[0]["message"]
    )
    alerts(attempt("ok", None, target="a/claude-3-opus"))
    alerts(attempt("ok", None, target="b/gpt-4.1"))
    await settle()
    assert [(a["condition"], a["state"]) for a in seen[2:]] == [
        ("model_gone", "recovered"),
        ("out_of_credit", "recovered"),
    ]


async def test_budget_thresholds_per_window_and_session() -> None:
    alerts, seen, _ = setup()
    alerts(budget("day", 7.9, 10.0))
    alerts(budget("session", 4.0, 5.0, session="one"))
    alerts(budget("session", 1.0, 5.0, session="two"))
    alerts(budget("week", 100.0, None))
    await settle()
    assert [(a["condition"], a["session"]) for a in seen] == [("budget_80", "one")]
    alerts(budget("day", 8.0, 10.0))
    alerts(budget("day", 8.5, 10.0))
    alerts(budget("day", 8.6, 10.0, exhausted=True))
    await settle()
    assert [(a["condition"], a["message"]) for a in seen[1:]] == [
        ("budget_80", "the daily budget is at 80%: $8.00 of $10.00"),
        ("budget_100", "the daily budget is spent: $8.60 of $10.00"),
    ]
    # The window resets: spend falls to almost nothing.
    alerts(budget("day", 0.1, 10.0))
    await settle()
    assert sorted((a["condition"], a["state"]) for a in seen[3:]) == [
        ("budget_100", "recovered"),
        ("budget_80", "recovered"),
    ]


async def test_a_zero_budget_is_spent_at_once() -> None:
    alerts, seen, _ = setup()
    alerts(budget("day", 0.0, 0.0, exhausted=True))
    await settle()
    assert [a["condition"] for a in seen] == ["budget_100"]
