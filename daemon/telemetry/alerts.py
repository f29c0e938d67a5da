"""Alerts: conditions a person should hear about, judged from the bus.

Each condition is tracked per subject (a provider, a budget window) and fires
once when it starts and once more, ``recovered``, when it clears; nothing in
between, so a flapping provider cannot flood anyone.

    failover_burst  a provider failed over ``failovers`` times within ``window_s``;
                    recovered after a whole window without one
    key_rejected    a provider answered 401/403 (its key is wrong or revoked);
                    recovered when a call to it succeeds again
    out_of_credit   a provider's account has no credit or quota left (402,
                    insufficient_quota); recovered likewise
    model_gone      a model in a route's chain does not exist there (404): retired,
                    renamed, or not open to this key; recovered when it answers
    budget_80       a budget window is 80% spent
    budget_100      a budget window is spent, or a request was refused for it (402);
                    both recover when the window resets or its limit is raised

Alerts go back onto the bus as ``alert`` events; ``notify`` delivers them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from daemon.budget.accounts import SCOPE_WORDS
from daemon.config import AlertsConfig
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import AlertEvent, AttemptEvent, BudgetEvent, Event, FailoverEvent

BUDGET_LEVELS = ((1.0, "budget_100"), (0.8, "budget_80"))


@dataclass(slots=True)
class _Firing:
    limit: float | None = None
    spent: float = 0.0


_RECOVERED = {
    "key_rejected": "{provider} accepts its API key again",
    "out_of_credit": "{provider} answers again: the account has credit",
    "model_gone": "{target} answers again",
}


class Alerts:
    def __init__(self, config: AlertsConfig, bus: Bus, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.bus = bus
        self._clock = clock
        self._failovers: dict[str, deque[float]] = {}
        self._quiet: dict[str, asyncio.TimerHandle] = {}  # provider -> its burst's recovery check
        self._firing: dict[tuple[str, str, str], _Firing] = {}  # (condition, subject, session)

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == "failover":
            self._failover(cast(FailoverEvent, event))
        elif kind == "attempt":
            self._attempt(cast(AttemptEvent, event))
        elif kind == "budget":
            self._budget(cast(BudgetEvent, event))

    def close(self) -> None:
        for handle in self._quiet.values():
            handle.cancel()
        self._quiet.clear()

    # --- conditions ---------------------------------------------------------------------

    def _failover(self, ev: FailoverEvent) -> None:
        provider = ev["from"].partition("/")[0]
        now, window = self._clock(), self.config.window_s
        times = self._failovers.get(provider)
        if times is None:
            times = self._failovers[provider] = deque()
        times.append(now)
        while times and now - times[0] > window:
            times.popleft()
        key = ("failover_burst", provider, "")
        if key in self._firing:
            self._recheck_quiet(provider)
        elif len(times) >= self.config.failovers:
            self._fire(
                key,
                f"{provider} failed over {len(times)} times in the last {_span(window)} "
                f"(last: {ev['reason']} on {ev['from']}, served by {ev['to']})",
                provider=provider,
            )
            self._recheck_quiet(provider)

    def _recheck_quiet(self, provider: str) -> None:
        old = self._quiet.pop(provider, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._quiet[provider] = loop.call_later(self.config.window_s, self._quiet_now, provider)

    def _quiet_now(self, provider: str) -> None:
        self._quiet.pop(provider, None)
        self._failovers.pop(provider, None)
        self._recover(
            ("failover_burst", provider, ""),
            f"{provider} has not failed over for {_span(self.config.window_s)}",
            provider=provider,
        )

    def _attempt(self, ev: AttemptEvent) -> None:
        if not ev["called"]:
            return
        provider, _, model = ev["target"].partition("/")
        if ev["outcome"] == "ok":
            for key in (
                ("key_rejected", provider, ""),
                ("out_of_credit", provider, ""),
                ("model_gone", ev["target"], ""),
            ):
                if key in self._firing:
                    self._recover(
                        key,
                        _RECOVERED[key[0]].format(provider=provider, target=ev["target"]),
                        provider=provider,
                    )
            return
        match ev["failure"]:
            case "auth":
                key, why = (
                    ("key_rejected", provider, ""),
                    (
                        f"{provider} rejected its API key ({ev['step']}); its models are skipped until "
                        f"it is fixed: `detour keys set {provider}`"
                    ),
                )
            case "billing":
                key, why = (
                    ("out_of_credit", provider, ""),
                    (
                        f"{provider} says the account is out of credit or quota ({ev['step']}); "
                        "its models are skipped for an hour, or until it answers again"
                    ),
                )
            case "model_unavailable":
                key, why = (
                    ("model_gone", ev["target"], ""),
                    (
                        f"{provider} does not serve {model} ({ev['step']}: retired, renamed or not open "
                        "to this key); it is skipped for ten minutes: fix the route's chain in the config"
                    ),
                )
            case _:
                return
        if key not in self._firing:
            self._fire(key, why, provider=provider)

    def _budget(self, ev: BudgetEvent) -> None:
        limit, spent, scope = ev["limit"], ev["spent"], ev["scope"]
        session = ev["session"] if scope == "session" else ""
        what = SCOPE_WORDS[scope]
        for level, condition in BUDGET_LEVELS:
            key = (condition, scope, session)
            firing = self._firing.get(key)
            if firing is not None:
                # Spend only falls when the window resets; open reservations settling lower is noise.
                if limit != firing.limit or spent < firing.spent / 2:
                    self._recover(key, f"the {what} budget has room again", session=session)
                continue
            if limit is None:
                continue
            reached = (limit > 0 and spent >= level * limit - 1e-9) or (level == 1.0 and ev.get("exhausted"))
            if reached:
                pct = f"{spent / limit:.0%}" if limit > 0 else "100%"
                state = "is spent" if level == 1.0 else "is at " + pct
                self._fire(
                    key,
                    f"the {what} budget {state}: ${spent:.2f} of ${limit:.2f}",
                    session=session,
                    firing=_Firing(limit, spent),
                )

    # --- firing -------------------------------------------------------------------------

    def _fire(
        self,
        key: tuple[str, str, str],
        message: str,
        *,
        provider: str | None = None,
        session: str = "",
        firing: _Firing | None = None,
    ) -> None:
        self._firing[key] = firing or _Firing()
        self._emit(key[0], "firing", message, provider, session)

    def _recover(
        self, key: tuple[str, str, str], message: str, *, provider: str | None = None, session: str = ""
    ) -> None:
        if self._firing.pop(key, None) is not None:
            self._emit(key[0], "recovered", message, provider, session)

    def _emit(self, condition: str, state: str, message: str, provider: str | None, session: str) -> None:
        event: AlertEvent = {
            "ts": time.time(),
            "type": "alert",
            "session": session,
            "condition": condition,
            "state": state,  # type: ignore[typeddict-item]
            "message": message,
        }
        if provider is not None:
            event["provider"] = provider
        # After the event that caused it has reached everyone, not in the middle of it.
        asyncio.get_running_loop().call_soon(self.bus.publish, event)


def _span(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g}s"
