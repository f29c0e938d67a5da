"""Per provider+model health: passive outlier detection, as Envoy does it.

A target is *ejected* (its circuit opens) when the requests it served in the
last ``window_s`` show it unwell: a failure rate of ``failure_rate`` or more
over at least ``min_requests`` requests, or ``consecutive`` failures in a row.
One failure among successes never benches a model. An ejection lasts
``open_s`` times the number of ejections in a row (capped at ``max_open_s``);
then the circuit goes half-open and lets one probe request through: success
closes it, failure ejects it again for longer. Health hears each attempt once,
when it ends (``Lease.finish``), so a stream cut after content is one failure.
Never more than ``max_ejection_percent`` of a chain's targets are ejected at
once (one always may be): past that, a failing target stays in and the chain
keeps it in its order, as Envoy does. The thresholds are ``[routing.health]``
(``config.HealthSettings``).

A cooldown is a different thing: the provider said how long to stay away (an
explicit ``retry-after`` on a 429/529/503, a rejected key, an account out of
credit) and the target is left alone for exactly that long.

``check`` says whether a target may be called now and, if not, when it may be
(``Skip.ready_at``), so the chain can wait for a target that is free soon or,
when nothing is, try them anyway (panic mode) instead of refusing. Requests
waiting for the same target are woken a few at a time (``wake_at``), spread
over the first moments after it frees, not all at once.

All state lives on the event loop thread; nothing here awaits, so the
check-and-claim of the half-open probe is atomic.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from daemon.config import HealthSettings, Target
from daemon.routing.failures import COUNTS_TOWARD_CIRCUIT, PROVIDER_WIDE, Failure, FailureKind

# Waiters on one target are woken WAKE_BATCH per WAKE_STEP_S, each at a random point of its
# step: 16 within the first 200 ms, more later at the same pace.
WAKE_BATCH = 2
WAKE_STEP_S = 0.025
MAX_OPEN_S = 300.0


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class TargetHealth:
    circuit: Circuit = Circuit.CLOSED
    # (time, failed) per finished attempt within the window, oldest first.
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)
    failed: int = 0  # failures among ``outcomes``
    consecutive: int = 0
    ejections: int = 0  # in a row, without a success between: lengthens the next ejection
    opened_until: float = 0.0
    cooldown_until: float = 0.0
    cooldown_reason: str = ""
    cooldown_final: bool = False  # waiting will not help within a request (a model that is gone)
    probing: bool = False
    last_failure: str = ""
    # The free time waiters were last told (``wake_at``), and how many were told it.
    waking_at: float = 0.0
    waking: int = 0


@dataclass(slots=True, frozen=True)
class Skip:
    """Why a target is passed over without a call, and when it may be called again."""

    label: str  # for x-detour-attempts: "cooldown", "circuit_open", "auth", "billing", ...
    detail: str
    # Monotonic time it is free again; None when waiting will not help within a request
    # (a rejected key, an account out of credit, a probe already in flight).
    ready_at: float | None = None
    # Whether panic mode may call it anyway: health says unwell or busy, not misconfigured.
    panickable: bool = True


class Health:
    def __init__(
        self,
        *,
        window_s: float = 30.0,
        min_requests: int = 10,
        failure_rate: float = 0.5,
        consecutive: int = 5,
        open_s: float = 10.0,
        max_open_s: float = MAX_OPEN_S,
        max_ejection_percent: float = 50.0,
        clock: Callable[[], float] = time.monotonic,
        on_circuit: Callable[[Target, Circuit], None] | None = None,
    ) -> None:
        self.window_s, self.min_requests, self.failure_rate = window_s, min_requests, failure_rate
        self.consecutive, self.open_s, self.max_open_s = consecutive, open_s, max_open_s
        self.max_ejection_percent = max_ejection_percent
        self._clock = clock
        self._on_circuit = on_circuit
        self._targets: dict[Target, TargetHealth] = {}
        # Provider id -> (until, label, why) for failures of every model behind its key.
        self._provider_until: dict[str, tuple[float, str, str]] = {}

    @classmethod
    def of(
        cls,
        settings: HealthSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_circuit: Callable[[Target, Circuit], None] | None = None,
    ) -> Health:
        health = cls(clock=clock, on_circuit=on_circuit)
        health.apply(settings)
        return health

    def apply(self, s: HealthSettings) -> None:
        """The thresholds of ``[routing.health]`` (at start and on reload; state is kept)."""
        self.consecutive, self.min_requests = s.consecutive_failures, s.minimum_requests
        self.failure_rate, self.window_s = s.failure_rate_percent / 100, s.interval_s
        self.open_s, self.max_ejection_percent = s.base_ejection_s, s.max_ejection_percent

    def now(self) -> float:
        return self._clock()

    def wake_at(self, target: Target, ready_at: float) -> float:
        """When a request waiting for ``target`` (free at ``ready_at``) should look again: the
        waiters of one free time are let go WAKE_BATCH per WAKE_STEP_S, with jitter, so a
        cooled model is not hit by all of them in the same instant."""
        h = self._get(target)
        if h.waking_at != ready_at:
            h.waking_at, h.waking = ready_at, 0
        step = h.waking // WAKE_BATCH
        h.waking += 1
        return ready_at + (step + random.random()) * WAKE_STEP_S

    def _get(self, target: Target) -> TargetHealth:
        h = self._targets.get(target)
        if h is None:
            h = self._targets[target] = TargetHealth()
        return h

    def claim(self, target: Target, *, panic: bool = False) -> Skip | None:
        """None if the target may be called now (claiming the probe if half-open), else why not.

        ``panic``: every target of the chain is out; call this one anyway unless it is
        misconfigured (its key rejected, its account out of credit, its model gone)."""
        skip = self._skip(target)
        if skip is not None and panic and skip.panickable:
            return None
        return skip

    def _skip(self, target: Target) -> Skip | None:
        now = self._clock()
        pu = self._provider_until.get(target.provider)
        if pu is not None and now < pu[0]:
            return Skip(pu[1], pu[2], None, panickable=False)
        h = self._targets.get(target)
        if h is None:
            return None
        if now < h.cooldown_until:
            left = h.cooldown_until - now
            why = f"cooling down for {left:.1f}s after {h.cooldown_reason}"
            if h.cooldown_final:
                return Skip("cooldown", why, None, panickable=False)
            return Skip("cooldown", why, h.cooldown_until)
        if h.circuit is Circuit.OPEN:
            if now < h.opened_until:
                return Skip("circuit_open", f"circuit open after {h.last_failure}", h.opened_until)
            self._set(target, h, Circuit.HALF_OPEN)
        if h.circuit is Circuit.HALF_OPEN:
            if h.probing:
                return Skip("circuit_open", "circuit half-open: a probe request is already in flight")
            h.probing = True
        return None

    def release(self, target: Target) -> None:
        """An attempt that was claimed ended without a verdict (e.g. the client went away)."""
        h = self._targets.get(target)
        if h is not None:
            h.probing = False

    def success(self, target: Target) -> None:
        h = self._get(target)
        h.probing = False
        h.consecutive = 0
        h.ejections = 0
        self._count(h, self._clock(), failed=False)
        if h.circuit is not Circuit.CLOSED:
            self._set(target, h, Circuit.CLOSED)

    def failure(self, target: Target, failure: Failure, chain: Sequence[Target] = ()) -> None:
        """``chain``: the targets of the chain the attempt was in, for ``max_ejection_percent``."""
        now = self._clock()
        h = self._get(target)
        h.probing = False
        h.last_failure = failure.label
        if failure.kind in PROVIDER_WIDE:
            why = (
                f"its key was rejected ({failure.label}); fix it with `detour keys set {target.provider}`"
                if failure.kind is FailureKind.AUTH
                else f"its account is out of credit or quota ({failure.label}); top it up, restart detour"
            )
            self._provider_until[target.provider] = (now + failure.cooldown_s, str(failure.kind), why)
            return
        if failure.cooldown_s > 0:
            h.cooldown_until = max(h.cooldown_until, now + failure.cooldown_s)
            h.cooldown_reason = f"{failure.kind} ({failure.label})"
            h.cooldown_final = failure.kind is FailureKind.MODEL_UNAVAILABLE
        if failure.kind not in COUNTS_TOWARD_CIRCUIT:
            return
        h.consecutive += 1
        self._count(h, now, failed=True)
        if h.circuit is Circuit.HALF_OPEN or (
            h.circuit is Circuit.CLOSED and self._unwell(h) and self._may_eject(target, chain)
        ):
            self._eject(target, h, now)

    def _may_eject(self, target: Target, chain: Sequence[Target]) -> bool:
        """Envoy's rule: an ejection may not take the chain's ejected share past
        ``max_ejection_percent``, unless none is ejected yet."""
        peers = set(chain) | {target}
        out = 0
        for t in peers:
            p = self._targets.get(t)
            out += t != target and p is not None and p.circuit is not Circuit.CLOSED
        return out == 0 or 100 * (out + 1) <= self.max_ejection_percent * len(peers)

    def _count(self, h: TargetHealth, now: float, *, failed: bool) -> None:
        h.outcomes.append((now, failed))
        h.failed += failed
        while h.outcomes and now - h.outcomes[0][0] > self.window_s:
            h.failed -= h.outcomes.popleft()[1]

    def _unwell(self, h: TargetHealth) -> bool:
        if h.consecutive >= self.consecutive:
            return True
        n = len(h.outcomes)
        return n >= self.min_requests and h.failed >= self.failure_rate * n

    def _eject(self, target: Target, h: TargetHealth, now: float) -> None:
        h.ejections += 1
        h.opened_until = now + min(self.open_s * h.ejections, self.max_open_s)
        h.outcomes.clear()
        h.failed = h.consecutive = 0
        self._set(target, h, Circuit.OPEN)

    def _set(self, target: Target, h: TargetHealth, state: Circuit) -> None:
        h.circuit = state
        if self._on_circuit is not None:
            self._on_circuit(target, state)

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per target: circuit state, cooldown left, recent failures (for /status)."""
        now = self._clock()
        out: dict[str, dict[str, object]] = {}
        for target, h in self._targets.items():
            out[str(target)] = {
                "circuit": str(h.circuit),
                "cooldown_s": round(max(0.0, h.cooldown_until - now), 3),
                "recent_failures": h.failed,
                "recent_requests": len(h.outcomes),
                "last_failure": h.last_failure,
            }
        for provider, (until, _, why) in self._provider_until.items():
            if until > now:
                out[provider] = {
                    "circuit": "disabled",
                    "cooldown_s": round(until - now, 3),
                    "last_failure": why,
                }
        return out
