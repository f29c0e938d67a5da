"""What ``/status`` shows, kept up to date from the bus.

``Recorder`` is a bus listener: requests in flight, the last responses and
failovers, per-model latency and counts, sessions. ``status()`` joins that with
what the router and the budget know right now.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import cast

from daemon.budget.accounts import Accounts
from daemon.config import Target
from daemon.providers.base import Provider
from daemon.routing.health import Health
from daemon.telemetry.schema import (
    AttemptEvent,
    Event,
    FailoverEvent,
    InflightStatus,
    ProviderStatus,
    RequestEvent,
    ResponseEvent,
    SessionStatus,
    Status,
    TargetStatus,
    WindowStatus,
)

RECENT = 50
SAMPLES = 200  # latencies kept per model for p50/p95
SESSIONS = 50


@dataclass(slots=True)
class _TargetStats:
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    requests: int = 0
    errors: int = 0


class Recorder:
    def __init__(self, targets: Iterable[Target] = (), clock: Callable[[], float] = time.time) -> None:
        self.started = clock()
        self._clock = clock
        self.configured = tuple(dict.fromkeys(targets))  # every model of every route, in order
        self.inflight: dict[str, InflightStatus] = {}
        self.recent: deque[ResponseEvent] = deque(maxlen=RECENT)
        self.failovers: deque[FailoverEvent] = deque(maxlen=RECENT)
        self.targets: dict[str, _TargetStats] = {}
        self.sessions: dict[str, SessionStatus] = {}

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == "attempt":
            self._attempt(cast(AttemptEvent, event))
        elif kind == "request":
            self._request(cast(RequestEvent, event))
        elif kind == "response":
            self._response(cast(ResponseEvent, event))
        elif kind == "failover":
            self.failovers.append(cast(FailoverEvent, event))

    def _request(self, ev: RequestEvent) -> None:
        self.inflight[ev["id"]] = {
            "id": ev["id"],
            "route": ev["route"],
            "session": ev["session"],
            "target": None,
            "attempts": "",
            "started_ts": ev["ts"],
            "stream": ev["stream"],
        }

    def _attempt(self, ev: AttemptEvent) -> None:
        flight = self.inflight.get(ev["id"])
        if flight is not None:
            step = f"{ev['target']}:{ev['step']}"
            flight["attempts"] = f"{flight['attempts']},{step}" if flight["attempts"] else step
            # Known only once an attempt ends: the model that answered, streaming now.
            flight["target"] = ev["target"] if ev["outcome"] == "ok" else None
        if not ev["called"]:
            return
        stats = self.targets.get(ev["target"])
        if stats is None:
            stats = self.targets[ev["target"]] = _TargetStats()
        stats.requests += 1
        if ev["outcome"] == "ok":
            stats.latencies.append(ev["latency_ms"])
        else:
            stats.errors += 1

    def _response(self, ev: ResponseEvent) -> None:
        self.inflight.pop(ev["id"], None)
        if "content" in ev:  # bodies (log_content = true) belong in the log, not in every /status
            ev = cast(ResponseEvent, {k: v for k, v in ev.items() if k != "content"})
        self.recent.append(ev)
        s = self.sessions.pop(ev["session"], None)  # re-inserted: the dict stays in order of use
        if s is None:
            s = {"id": ev["session"], "spent_usd": 0.0, "requests": 0, "last_ts": ev["ts"]}  # see status()
        s["requests"] += 1
        s["last_ts"] = ev["ts"]
        self.sessions[ev["session"]] = s
        if len(self.sessions) > SESSIONS:
            del self.sessions[next(iter(self.sessions))]

    def uptime(self) -> float:
        return self._clock() - self.started

    def target_stats(self, target: str) -> tuple[float | None, float | None, int, int]:
        stats = self.targets.get(target)
        if stats is None:
            return None, None, 0, 0
        return *_percentiles(stats.latencies), stats.requests, stats.errors


def _percentiles(xs: Iterable[float]) -> tuple[float | None, float | None]:
    data = sorted(xs)
    if not data:
        return None, None
    if len(data) == 1:
        return data[0], data[0]
    q = statistics.quantiles(data, n=20, method="inclusive")
    return round(statistics.median(data), 3), round(q[18], 3)


def status(
    *,
    version: str,
    recorder: Recorder,
    providers: dict[str, Provider],
    health: Health,
    accounts: Accounts,
    session: str | None,
    simulated: bool,
    paused: Container[str] = (),
) -> Status:
    budgets: dict[str, WindowStatus] = accounts.windows(session)
    # Spend per session from the accounts: they count what this process's events never
    # saw (earlier runs, reservations still open).
    sessions: list[SessionStatus] = [
        {**s, "spent_usd": round(accounts.spent("session", s["id"]), 6)}
        for s in sorted(recorder.sessions.values(), key=lambda s: -s["last_ts"])
    ]
    return {
        "version": version,
        "simulated": simulated,
        "uptime_s": round(recorder.uptime(), 3),
        "providers": _providers(recorder, providers, health, paused),
        "budgets": budgets,
        "sessions": sessions,
        "inflight": list(recorder.inflight.values()),
        "recent": list(recorder.recent),
        "failovers": list(recorder.failovers),
    }


def _providers(
    recorder: Recorder, providers: dict[str, Provider], health: Health, paused: Container[str]
) -> list[ProviderStatus]:
    snap = health.snapshot()
    wanted = dict.fromkeys(recorder.configured)  # ordered, unique
    for name in list(recorder.targets) + list(snap):
        pid, sep, model = name.partition("/")
        if sep and pid in providers:
            wanted[Target(pid, model)] = None
    out: list[ProviderStatus] = []
    for pid, p in providers.items():
        rows: list[TargetStatus] = []
        for t in wanted:
            if t.provider == pid:
                rows.append(_target(recorder, snap, t))
        out.append({"id": pid, "kind": p.kind, "has_key": p.usable, "paused": pid in paused, "targets": rows})
    return out


def _target(recorder: Recorder, snap: dict[str, dict[str, object]], t: Target) -> TargetStatus:
    p50, p95, requests, errors = recorder.target_stats(str(t))
    row: TargetStatus = {
        "provider": t.provider,
        "model": t.model,
        "state": "healthy",
        "cooldown_s": 0.0,
        "reason": "",
        "p50_ms": p50,
        "p95_ms": p95,
        "requests": requests,
        "errors": errors,
    }
    disabled = snap.get(t.provider)
    h = snap.get(str(t))
    if disabled is not None:
        row["state"] = "auth_failed"
        row["cooldown_s"] = cast(float, disabled["cooldown_s"])
        row["reason"] = str(disabled["last_failure"])
    elif h is not None:
        cooldown = cast(float, h["cooldown_s"])
        circuit = h["circuit"]
        if circuit in ("open", "half_open"):
            row["state"] = "open" if circuit == "open" else "half_open"
        elif cooldown > 0:
            row["state"] = "cooldown"
        if row["state"] != "healthy":
            row["cooldown_s"] = cooldown
            row["reason"] = f"after {h['last_failure']}" if h["last_failure"] else ""
    return row
