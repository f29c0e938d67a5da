"""Per provider+model health: cooldowns and circuit breakers.

A cooldown (from retry-after, an overload, a rejected key, an account out of
credit) makes the chain skip the target until it ends. A circuit breaker counts
failures that say the target is unwell; after ``threshold`` of them within
``window_s`` it opens and the target is skipped without a network call; after
``open_s`` it goes half-open and lets exactly one probe request through: success
closes it, failure reopens it.

All state lives on the event loop thread; nothing here awaits, so the
check-and-claim of the half-open probe is atomic.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from daemon.config import Target
from daemon.routing.failures import COUNTS_TOWARD_CIRCUIT, PROVIDER_WIDE, Failure, FailureKind


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class TargetHealth:
    circuit: Circuit = Circuit.CLOSED
    failures: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0
    cooldown_until: float = 0.0
    cooldown_reason: str = ""
    probing: bool = False
    last_failure: str = ""


@dataclass(slots=True, frozen=True)
class Skip:
    """Why a target is passed over without a call."""

    label: str  # for x-detour-attempts: "cooldown", "circuit_open", "auth", "billing"
    detail: str


class Health:
    def __init__(
        self,
        *,
        threshold: int = 5,
        window_s: float = 60.0,
        open_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_circuit: Callable[[Target, Circuit], None] | None = None,
    ) -> None:
        self.threshold, self.window_s, self.open_s = threshold, window_s, open_s
        self._clock = clock
        self._on_circuit = on_circuit
        self._targets: dict[Target, TargetHealth] = {}
        # Provider id -> (until, label, why) for failures of every model behind its key.
        self._provider_until: dict[str, tuple[float, str, str]] = {}

    def _get(self, target: Target) -> TargetHealth:
        h = self._targets.get(target)
        if h is None:
            h = self._targets[target] = TargetHealth()
        return h

    def claim(self, target: Target) -> Skip | None:
        """None if the target may be called now (claiming the probe if half-open), else why not."""
        now = self._clock()
        pu = self._provider_until.get(target.provider)
        if pu is not None and now < pu[0]:
            return Skip(pu[1], pu[2])
        h = self._targets.get(target)
        if h is None:
            return None
        if now < h.cooldown_until:
            return Skip(
                "cooldown", f"cooling down for {h.cooldown_until - now:.1f}s after {h.cooldown_reason}"
            )
        if h.circuit is Circuit.OPEN:
            if now - h.opened_at < self.open_s:
                return Skip("circuit_open", f"circuit open after {h.last_failure}")
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
        h = self._targets.get(target)
        if h is None:
            return
        h.probing = False
        h.failures.clear()
        if h.circuit is not Circuit.CLOSED:
            self._set(target, h, Circuit.CLOSED)

    def failure(self, target: Target, failure: Failure) -> None:
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
        if failure.kind not in COUNTS_TOWARD_CIRCUIT:
            return
        if h.circuit is Circuit.HALF_OPEN:
            h.opened_at = now
            self._set(target, h, Circuit.OPEN)
            return
        h.failures.append(now)
        while h.failures and now - h.failures[0] > self.window_s:
            h.failures.popleft()
        if len(h.failures) >= self.threshold and h.circuit is Circuit.CLOSED:
            h.opened_at = now
            self._set(target, h, Circuit.OPEN)

    def _set(self, target: Target, h: TargetHealth, state: Circuit) -> None:
        h.circuit = state
        if state is Circuit.CLOSED:
            h.failures.clear()
        if self._on_circuit is not None:
            self._on_circuit(target, state)

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per target: circuit state, cooldown left, recent failures (for /status later)."""
        now = self._clock()
        out: dict[str, dict[str, object]] = {}
        for target, h in self._targets.items():
            out[str(target)] = {
                "circuit": str(h.circuit),
                "cooldown_s": round(max(0.0, h.cooldown_until - now), 3),
                "recent_failures": len(h.failures),
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
