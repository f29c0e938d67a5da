"""The shape of every event and of ``/status``: the contract between the daemon
and anything that watches it (the TUI, ``/events`` consumers, the event log).

Events travel as one JSON object each, ``{"ts", "type", "session", ...}``
(CONTRACT.md). This module imports nothing from the daemon so the TUI can use
it without pulling the daemon in. Money is USD as a float; times are epoch
seconds (``ts``) or milliseconds (``*_ms``); a model is named ``provider/model``.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

EventType = Literal[
    "request", "attempt", "failover", "response", "budget", "alert", "circuit", "dropped", "adapted", "team",
    "continued",
]  # fmt: skip
EVENT_TYPES: tuple[EventType, ...] = (
    "request", "attempt", "failover", "response", "budget", "alert", "circuit", "dropped", "adapted", "team",
    "continued",
)  # fmt: skip


Outcome = Literal["ok", "failed", "skipped", "waited", "panic"]


class Event(TypedDict):
    ts: float
    type: EventType
    session: str


class RequestEvent(Event):
    """A client request arrived and was routed (before any upstream call)."""

    id: str  # unique per request; every later event of this request carries it
    route: str
    format: str  # the inbound wire format: anthropic | openai_chat | gemini
    requested_model: str
    stream: bool
    content: NotRequired[object]  # the request body, only with log_content = true


class AttemptEvent(Event):
    """One step of the chain walk: a call made, or a target skipped without one."""

    id: str
    route: str
    target: str  # provider/model
    outcome: Outcome  # how the step ended (routing.chain.Outcome)
    step: str  # as x-detour-attempts shows it: "ok", an HTTP status, a failure class, the skip reason
    waited_s: NotRequired[float]  # outcome "waited": how long the walk waited for the target
    failure: str | None  # the failure class (rate_limited, overloaded, ...) or None
    latency_ms: float
    called: bool  # False when skipped without a network call
    message: str
    probe: NotRequired[bool]  # a synthetic probe (report.probe), never a client's request
    ttft_ms: NotRequired[float | None]  # probes only: time to the first content
    cost_usd: NotRequired[float]  # probes only: what the probe cost (its own cap, no budget)


# `from` is a Python keyword, so it can only be declared this way.
_From = TypedDict("_From", {"from": str})  # provider/model that failed


class FailoverEvent(Event, _From):
    """The walk moved from one target to the next; emitted once the request is served
    (or has failed everywhere), so the cost delta is known."""

    id: str
    route: str
    to: str
    reason: str  # the failure class that made `from` fail
    cost_delta_usd: float | None  # cost as served minus what the primary would have cost


class ContinuedEvent(Event, _From):
    """An answer cut mid-stream at `from` goes on at `to` (route ``continue_on_cut``), sent when
    the continuation starts."""

    id: str
    route: str
    to: str
    chars: int  # characters of text and thinking the client had received at the cut
    reason: str  # the failure class of the cut


class Continuation(TypedDict, _From):
    """A continued answer, in its ``response`` event."""

    to: str
    chars: int
    cost_usd: float  # what the continuation attempt cost
    retry_usd: float  # what `to` would have cost for the whole answer (the prefix's tokens as output)


class ResponseEvent(Event):
    """The request is finished: answered (status 200) or refused with an error."""

    id: str
    route: str
    target: str | None  # what answered, None when nothing did
    status: int
    error: str | None  # the error type when status != 200
    attempts: str  # the x-detour-attempts value
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None  # streams only: time to the first content byte sent to the client
    # Prompt caching: the answer's price without the cache, less its cost (negative on a write).
    cache_saved_usd: NotRequired[float]
    content: NotRequired[object]  # the response body (not streams), only with log_content = true
    continued: NotRequired[Continuation]  # cut mid-stream and finished by another target


class BudgetEvent(Event):
    """Spend moved in a window (after each settled request) or crossed a threshold."""

    scope: Literal["session", "day", "week"]
    spent: float
    limit: float | None
    exhausted: NotRequired[bool]  # True when a request was just refused (402) for this window


class AlertEvent(Event):
    condition: str  # failover_burst | budget_80 | budget_100 | key_rejected
    state: Literal["firing", "recovered"]
    message: str  # one line a person can act on
    provider: NotRequired[str]


class CircuitEvent(Event):
    provider: str
    model: str
    state: Literal["closed", "open", "half_open"]


class AdaptedEvent(Event):
    """The request was changed to fit the target that serves it (a built-in tool removed or
    run as the target's own, whole-file tool results pruned for a smaller context window):
    what ``x-detour-adapted`` says, once the target answers."""

    changes: list[str]
    id: str
    route: str
    target: str


class TeamEvent(Event):
    """Team mode: the team database went away, or came back (with what was spent meanwhile)."""

    database: Literal["up", "down", "back"]
    offline_spent: float  # USD spent from the offline allowance (on "back": all of it, now settled)


class DroppedEvent(Event):
    """Sent to a subscriber that fell behind: how many events it lost."""

    count: int


# --- /status ------------------------------------------------------------------------------


class TargetStatus(TypedDict):
    provider: str
    model: str
    state: Literal["healthy", "cooldown", "open", "half_open", "auth_failed"]
    cooldown_s: float  # seconds of cooldown left, 0 when none
    reason: str  # why it is not healthy, "" when it is
    p50_ms: float | None
    p95_ms: float | None
    requests: int
    errors: int


class ProviderStatus(TypedDict):
    id: str
    kind: str
    has_key: bool  # never the key itself
    paused: bool  # by the user: skipped by every route until resumed
    targets: list[TargetStatus]


class WindowStatus(TypedDict):
    spent_usd: float
    limit_usd: float | None
    remaining_usd: float | None
    resets_at: str | None  # ISO 8601, local time


class InflightStatus(TypedDict):
    id: str
    route: str
    session: str
    target: str | None  # what it is waiting on now
    attempts: str
    started_ts: float
    stream: bool


class SessionStatus(TypedDict):
    id: str
    spent_usd: float
    requests: int
    last_ts: float


class ProjectStatus(TypedDict):
    root: str
    state: Literal["waiting", "indexing", "ready", "failed"]
    files: int  # indexed, skipped ones included
    parsed: int  # of ``to_parse``, in the pass under way (or the last one)
    to_parse: int
    skipped: dict[str, int]  # files skipped or shown as text only, by reason
    error: str | None


class TeamStatus(TypedDict):
    """Team mode's line: never the database's URL or password, only host:port/name."""

    database: str
    state: Literal["up", "down"]
    since: str | None  # ISO 8601, when it became unreachable
    offline_spent_usd: float
    member: str
    member_week_usd: float
    member_day_usd: float
    budgets: dict[str, WindowStatus]  # team_weekly, team_daily


class Status(TypedDict):
    version: str
    simulated: bool
    uptime_s: float
    providers: list[ProviderStatus]
    budgets: dict[str, WindowStatus]  # "day", "week", and "session" for the asking session
    sessions: list[SessionStatus]
    inflight: list[InflightStatus]
    recent: list[ResponseEvent]  # newest last, at most 50
    failovers: list[FailoverEvent]  # newest last, at most 50
    projects: NotRequired[list[ProjectStatus]]  # the indexed projects (from the server's context part)
    team: NotRequired[TeamStatus]  # team mode only
