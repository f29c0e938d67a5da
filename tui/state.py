"""What the dashboard shows, kept apart from how: loaded from ``/status`` (or ``/budget``)
and moved by each event from ``/events``. Pure data and arithmetic; no Textual, no I/O,
and time only through the clock it is given, so tests can freeze it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from daemon.telemetry.schema import (
    AttemptEvent,
    BudgetEvent,
    CircuitEvent,
    Event,
    FailoverEvent,
    ProjectStatus,
    RequestEvent,
    ResponseEvent,
    Status,
    TeamEvent,
    TeamStatus,
)

SCOPES = ("session", "day", "week", "team_daily", "team_weekly")
MAX_REQUESTS = 40
MAX_FAILOVERS = 30
SPEND_BUCKET_S = 5.0
SPEND_BUCKETS = 48  # four minutes


@dataclass(slots=True)
class TargetRow:
    provider: str
    model: str
    state: str
    cooldown_until: float  # on the dashboard's clock, so the countdown ticks locally
    reason: str = ""
    p50_ms: float | None = None
    p95_ms: float | None = None
    requests: int = 0
    errors: int = 0

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(slots=True)
class RequestRow:
    id: str
    route: str
    session: str
    started_ts: float
    stream: bool = False
    target: str | None = None  # waiting on, then served by
    attempts: str = ""
    status: int | None = None  # None while in flight
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: float | None = None
    ttft_ms: float | None = None

    @property
    def inflight(self) -> bool:
        return self.status is None


@dataclass(slots=True, frozen=True)
class FailoverRow:
    ts: float
    route: str
    from_: str
    to: str
    reason: str
    # The request's cost difference, on the last hop of its walk only: a walk of several
    # hops cost one difference, not one per hop.
    cost_delta_usd: float | None
    request_id: str = ""
    # A ``continued`` event: the answer was cut after this many characters had reached the
    # client, and ``to`` finished it. Its failover (same request, same hop) is this line, not
    # another; once the response says, what continuing saved against retrying the whole answer.
    continued_chars: int | None = None
    saved_usd: float | None = None


@dataclass(slots=True)
class Window:
    spent_usd: float = 0.0
    limit_usd: float | None = None
    resets_at: datetime | None = None

    @property
    def fraction(self) -> float:
        if self.limit_usd is None:
            return 0.0
        if self.limit_usd <= 0:
            return 1.0
        return min(1.0, self.spent_usd / self.limit_usd)


@dataclass(slots=True)
class ProviderRow:
    id: str
    kind: str
    has_key: bool


def team_line(team: TeamStatus) -> str:
    """One line: the team database's state (down since when) and this member's share."""
    state = "up" if team["state"] == "up" else f"DOWN since {team['since']}"
    line = f"team db {team['database']}: {state}; {team['member']} ${team['member_week_usd']:.4f} this week"
    if team["state"] != "up":
        line += f", ${team['offline_spent_usd']:.4f} spent offline"
    return line


@dataclass
class Dashboard:
    clock: Callable[[], float]
    providers: list[ProviderRow] = field(default_factory=list)
    targets: dict[str, TargetRow] = field(default_factory=dict)
    requests: dict[str, RequestRow] = field(default_factory=dict)
    failovers: deque[FailoverRow] = field(default_factory=lambda: deque(maxlen=MAX_FAILOVERS))
    budgets: dict[str, Window] = field(default_factory=dict)
    spend: dict[int, float] = field(default_factory=dict)  # bucket -> USD spent in it
    projects: list[ProjectStatus] = field(default_factory=list)  # indexed for pruned context
    simulated: bool = False
    has_status: bool = False
    team: str | None = None  # team mode: the database's state and this member's share, one line
    priced_responses: bool = False  # spend is drawn from response events once they come
    _costed: dict[str, None] = field(default_factory=dict)  # response ids already in ``spend``, oldest first

    # --- snapshots ---------------------------------------------------------------------

    def load_status(self, status: Status) -> None:
        now = self.clock()
        self.has_status = True
        kinds = {p["kind"] for p in status["providers"]}
        self.simulated = status["simulated"] or kinds == {"sim"}
        self.providers = [ProviderRow(p["id"], p["kind"], p["has_key"]) for p in status["providers"]]
        self.targets = {}
        for p in status["providers"]:
            for t in p["targets"]:
                target = TargetRow(
                    t["provider"], t["model"], t["state"], now + t["cooldown_s"], t["reason"],
                    t["p50_ms"], t["p95_ms"], t["requests"], t["errors"],
                )  # fmt: skip
                self.targets[target.name] = target
        self.load_budgets(cast(dict[str, Any], status["budgets"]))
        team = status.get("team")
        if team is not None:
            self.load_budgets(cast(dict[str, Any], team["budgets"]))
            self.team = team_line(team)
        live = {r.id: r for r in self.requests.values() if r.inflight}
        self.requests = {}
        for r in status["recent"]:
            self._response(r)
        for f in status["inflight"]:
            row = live.get(f["id"]) or RequestRow(
                f["id"], f["route"], f["session"], f["started_ts"], f["stream"]
            )
            row.target, row.attempts = f["target"], f["attempts"]
            self.requests[row.id] = row
        # /status lists failovers only: the continuations seen live stay (their failovers join them).
        continued = [f for f in self.failovers if f.continued_chars is not None]
        self.failovers.clear()
        for cut in sorted(continued, key=lambda f: f.ts):
            self._insert(cut)
        for fo in status["failovers"]:
            self._failover(fo)
        self.projects = list(status.get("projects", []))

    def load_budgets(self, budgets: dict[str, Any]) -> None:
        """The windows as /status and /budget both give them (``spent_usd``, ``limit_usd``, ``resets_at``)."""
        day = budgets.get("day")
        if not self.priced_responses and isinstance(day, dict) and "day" in self.budgets:
            # No response events to draw spend from (a daemon without /events): the day's growth will do.
            grown = float(day.get("spent_usd") or 0.0) - self.budgets["day"].spent_usd
            if grown > 0:
                self._spent(self.clock(), grown)
        for scope, w in budgets.items():
            if scope not in SCOPES or not isinstance(w, dict):
                continue
            resets = w.get("resets_at")
            self.budgets[scope] = Window(
                float(w.get("spent_usd") or 0.0),
                None if w.get("limit_usd") is None else float(w["limit_usd"]),
                datetime.fromisoformat(resets) if isinstance(resets, str) else None,
            )

    # --- live --------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        kind: str = event["type"]
        match kind:
            case "request":
                self._request(cast(RequestEvent, event))
            case "attempt":
                self._attempt(cast(AttemptEvent, event))
            case "response":
                self._response(cast(ResponseEvent, event))
            case "failover":
                self._failover(cast(FailoverEvent, event))
            case "continued":
                self._continued(cast(Mapping[str, Any], event))
            case "budget":
                self._budget(cast(BudgetEvent, event))
            case "circuit":
                self._circuit(cast(CircuitEvent, event))
            case "team":
                self._team(cast(TeamEvent, event))
            case "alert" | "dropped" | "adapted":
                pass  # the app shows these as notifications; nothing here to move
            case other:
                raise ValueError(f"unknown event type {other!r}")

    def _team(self, e: TeamEvent) -> None:
        """Between /status snapshots: the database went away or came back."""
        if self.team is not None and e["database"] == "down":
            self.team = self.team.split(":")[0] + ": DOWN (just now)"
        elif self.team is not None and e["database"] in ("up", "back"):
            self.team = self.team.replace("DOWN (just now)", "up")

    def _request(self, e: RequestEvent) -> None:
        self.requests[e["id"]] = RequestRow(e["id"], e["route"], e["session"], e["ts"], e["stream"])
        self._trim()

    def _attempt(self, e: AttemptEvent) -> None:
        row = self.requests.get(e["id"])
        if row is not None:
            step = f"{e['target']}:{e['step']}"
            # Not row.target: an attempt event says where the walk has been, not where it waits now.
            row.attempts = f"{row.attempts},{step}" if row.attempts else step
        target = self.targets.get(e["target"])
        if target is not None and e["called"]:
            target.requests += 1
            target.errors += e["failure"] is not None

    def _response(self, e: ResponseEvent) -> None:
        row = self.requests.get(e["id"])
        if row is None:
            row = self.requests[e["id"]] = RequestRow(
                e["id"], e["route"], e["session"], e["ts"] - e["latency_ms"] / 1000
            )
        row.target, row.attempts, row.status, row.error = e["target"], e["attempts"], e["status"], e["error"]
        row.tokens_in, row.tokens_out, row.cost_usd = e["tokens_in"], e["tokens_out"], e["cost_usd"]
        row.latency_ms, row.ttft_ms = e["latency_ms"], e["ttft_ms"]
        self._continuation_cost(e["id"], cast(Mapping[str, Any], e).get("continued"))
        if e["cost_usd"] and e["id"] not in self._costed:
            # /status repeats recent responses at every poll: each is counted once.
            self._costed[e["id"]] = None
            if len(self._costed) > 4 * MAX_REQUESTS:
                del self._costed[next(iter(self._costed))]
            self.priced_responses = True
            self._spent(e["ts"], e["cost_usd"])
        self._trim()

    def _spent(self, ts: float, usd: float) -> None:
        bucket = math.floor(ts / SPEND_BUCKET_S)
        self.spend[bucket] = self.spend.get(bucket, 0.0) + usd

    def _failover(self, e: FailoverEvent) -> None:
        rid = e.get("id", "")
        hop = None
        if rid:
            for i, row in enumerate(self.failovers):
                if row.request_id != rid:
                    continue
                if row.continued_chars is not None and (row.from_, row.to) == (e["from"], e["to"]):
                    hop = i  # the continuation's own line says this hop
                if row.cost_delta_usd is not None:
                    self.failovers[i] = dataclasses.replace(row, cost_delta_usd=None)
        if hop is not None:
            self.failovers[hop] = dataclasses.replace(self.failovers[hop], cost_delta_usd=e["cost_delta_usd"])
            return
        self._insert(
            FailoverRow(e["ts"], e["route"], e["from"], e["to"], e["reason"], e["cost_delta_usd"], rid)
        )

    def _continued(self, e: Mapping[str, Any]) -> None:
        """A cut answer handed to the next target (the ``continued`` event of CONTRACT.md)."""
        self._insert(
            FailoverRow(
                e["ts"], e["route"], e["from"], e["to"], str(e["reason"]), None, e["id"], int(e["chars"])
            )
        )

    def _continuation_cost(self, rid: str, continued: Mapping[str, Any] | None) -> None:
        if continued is None:
            return
        saved = float(continued["retry_usd"]) - float(continued["cost_usd"])
        for i, row in enumerate(self.failovers):
            if row.request_id == rid and row.continued_chars is not None:
                self.failovers[i] = dataclasses.replace(row, saved_usd=saved)

    def _insert(self, row: FailoverRow) -> None:
        """Newest first: a row older than the newest shown (a snapshot's) goes in its place."""
        i = 0
        while i < len(self.failovers) and self.failovers[i].ts > row.ts:
            i += 1
        if i == len(self.failovers) == self.failovers.maxlen:
            return  # older than everything a full list keeps
        if len(self.failovers) == self.failovers.maxlen:
            self.failovers.pop()
        self.failovers.insert(i, row)

    def _budget(self, e: BudgetEvent) -> None:
        w = self.budgets.setdefault(e["scope"], Window())
        w.spent_usd, w.limit_usd = e["spent"], e["limit"]

    def _circuit(self, e: CircuitEvent) -> None:
        name = f"{e['provider']}/{e['model']}"
        row = self.targets.get(name)
        if row is None:
            row = self.targets[name] = TargetRow(e["provider"], e["model"], "healthy", 0.0)
        row.state = {"closed": "healthy", "open": "open", "half_open": "half_open"}[e["state"]]
        if e["state"] == "closed":
            row.reason = ""

    def _trim(self) -> None:
        done = [r for r in self.requests.values() if not r.inflight]
        for r in done[: max(0, len(self.requests) - MAX_REQUESTS)]:
            del self.requests[r.id]
        buckets = sorted(self.spend)
        for b in buckets[: max(0, len(buckets) - SPEND_BUCKETS)]:
            del self.spend[b]

    # --- what the widgets read ---------------------------------------------------------

    def cooldown_left(self, row: TargetRow) -> float:
        return max(0.0, row.cooldown_until - self.clock())

    def state_of(self, row: TargetRow) -> str:
        """The state as of now: a cooldown that ran out locally reads healthy."""
        if row.state == "cooldown" and self.cooldown_left(row) <= 0:
            return "healthy"
        return row.state

    def request_rows(self) -> list[RequestRow]:
        """In flight first, then the rest, newest first."""
        rows = sorted(self.requests.values(), key=lambda r: r.started_ts, reverse=True)
        return [r for r in rows if r.inflight] + [r for r in rows if not r.inflight]

    def spend_series(self) -> list[float]:
        """USD per bucket over the last ``SPEND_BUCKETS`` buckets up to now, oldest first."""
        last = math.floor(self.clock() / SPEND_BUCKET_S)
        return [self.spend.get(b, 0.0) for b in range(last - SPEND_BUCKETS + 1, last + 1)]
