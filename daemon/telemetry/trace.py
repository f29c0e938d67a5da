"""What the request path tells telemetry: one ``Trace`` per request, turned into events.

The relay opens a trace once the request is routed and finishes it when the
answer is done (for a stream, when the stream ends), handing it to each call:
the chain's ``Walk`` tells ``attempt`` of each step as it is taken, and
``finish`` reads the whole walk. Building an event is building a dict: no
encoding, no I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from daemon.budget.accounts import SCOPES, Accounts
from daemon.config import Target
from daemon.ir import ApiError, Usage
from daemon.routing.chain import WALK_STEPS, Attempt, Outcome
from daemon.routing.health import Circuit
from daemon.routing.lease import Continued
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import (
    AdaptedEvent,
    AttemptEvent,
    BudgetEvent,
    CircuitEvent,
    Continuation,
    ContinuedEvent,
    FailoverEvent,
    RequestEvent,
    ResponseEvent,
)

CLIENT_GONE = 499  # the client went away before the answer was done (nginx's convention)
_ids = itertools.count(1)
_PREFIX = os.urandom(3).hex()


@dataclass(slots=True)
class Trace:
    id: str
    route: str
    session: str
    primary: Target | None  # the chain's first model: what a failover is priced against
    started: float  # perf_counter
    ttft_ms: float | None = None
    finished: bool = False
    ended: float | None = None  # perf_counter when the last byte went out (streams)

    def first_byte(self) -> None:
        """Content reached the client (streams): the first call sets the time to first token."""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000

    def last_byte(self) -> None:
        """The answer's last byte went out: latency stops here, not after the bookkeeping."""
        self.ended = time.perf_counter()


BUDGET_EVERY_S = 0.5


class Telemetry:
    """The request path's side of telemetry; everything it learns goes onto the bus."""

    def __init__(self, bus: Bus, accounts: Accounts | None, log_content: bool = False) -> None:
        self.bus = bus
        self.accounts = accounts
        self.log_content = log_content
        # Set by the gateway once spend exists: (session, primary, served, usage) -> delta,
        # pricing the primary with the prompt cache it held for the session.
        self.failover_delta: Callable[[str, Target, Target, Usage], float | None] | None = None
        # What the prompt cache saved on an answer (``Prices.cache_saved``).
        self.cache_saved: Callable[[Target, Usage], float | None] | None = None
        # What a usage costs at a target (``Prices.usd``): a continuation against a whole answer.
        self.price: Callable[[Target, Usage], float | None] | None = None
        self._budget_sent: dict[tuple[str, str], tuple[float, int]] = {}  # (session, scope) -> (ts, level)

    def begin(
        self,
        *,
        session: str,
        route: str,
        fmt: str,
        requested: str,
        stream: bool,
        primary: Target | None,
        content: object = None,
    ) -> Trace:
        trace = Trace(f"{_PREFIX}-{next(_ids)}", route, session, primary, time.perf_counter())
        event: RequestEvent = {
            "ts": time.time(),
            "type": "request",
            "session": session,
            "id": trace.id,
            "route": route,
            "format": fmt,
            "requested_model": requested,
            "stream": stream,
        }
        if self.log_content and content is not None:
            event["content"] = content
        self.bus.publish(event)
        return trace

    def attempt(self, trace: Trace, attempt: Attempt) -> None:
        """One step of the walk of ``trace``'s request (``Walk(on_step=...)``), as it is taken."""
        event: AttemptEvent = {
            "ts": time.time(),
            "type": "attempt",
            "session": trace.session,
            "id": trace.id,
            "route": trace.route,
            "target": str(attempt.target),
            "outcome": attempt.outcome.value,
            "step": attempt.step,
            "failure": str(attempt.kind) if attempt.kind is not None else None,
            "latency_ms": round(attempt.latency_ms, 3),
            "called": attempt.called,
            "message": attempt.message,
        }
        if attempt.outcome is Outcome.WAITED:
            event["waited_s"] = round(attempt.waited_s, 3)
        self.bus.publish(event)

    def adapted(self, trace: Trace, target: Target, changes: list[str]) -> None:
        """``trace``'s request was changed to fit ``target``, the one that serves it."""
        event: AdaptedEvent = {
            "ts": time.time(),
            "type": "adapted",
            "session": trace.session,
            "id": trace.id,
            "route": trace.route,
            "target": str(target),
            "changes": changes,
        }
        self.bus.publish(event)

    def continued(self, trace: Trace, source: Target, target: Target, chars: int, reason: str) -> None:
        """``trace``'s answer, cut at ``source`` after ``chars`` characters, goes on at ``target``
        (``Walk(on_continued=...)``), as the continuation starts."""
        event: ContinuedEvent = {
            "ts": time.time(),
            "type": "continued",
            "session": trace.session,
            "id": trace.id,
            "route": trace.route,
            "from": str(source),
            "to": str(target),
            "chars": chars,
            "reason": reason,
        }
        self.bus.publish(event)

    def circuit(self, target: Target, state: Circuit) -> None:
        """``Health(on_circuit=...)``."""
        event: CircuitEvent = {
            "ts": time.time(),
            "type": "circuit",
            "session": "",
            "provider": target.provider,
            "model": target.model,
            "state": state.value,
        }
        self.bus.publish(event)

    def finish(
        self,
        trace: Trace,
        attempts: Sequence[Attempt],
        *,
        target: Target | None,
        usage: Usage | None = None,
        cost_usd: float | None = None,
        error: ApiError | None = None,
        status: int | None = None,
        content: object = None,
        continued: Continued | None = None,
    ) -> None:
        """The request is done: its failovers, its response, and the budgets it moved. Once."""
        if trace.finished:
            return
        trace.finished = True
        usage = usage or Usage()
        now = time.time()
        for event in self._failovers(trace, attempts, target, usage, cost_usd, now):
            self.bus.publish(event)
        if status is None:
            status = error.status if error is not None else 200
        response: ResponseEvent = {
            "ts": now,
            "type": "response",
            "session": trace.session,
            "id": trace.id,
            "route": trace.route,
            "target": str(target) if target is not None else None,
            "status": status,
            "error": error.kind if error is not None else ("client_gone" if status == CLIENT_GONE else None),
            "attempts": ",".join(str(a) for a in attempts),
            "tokens_in": usage.input_tokens,
            "tokens_out": usage.output_tokens,
            "cost_usd": round(cost_usd or 0.0, 8),
            "latency_ms": round(((trace.ended or time.perf_counter()) - trace.started) * 1000, 3),
            "ttft_ms": None if trace.ttft_ms is None else round(trace.ttft_ms, 3),
        }
        saved = self.cache_saved(target, usage) if self.cache_saved and target is not None else None
        if saved:
            response["cache_saved_usd"] = round(saved, 8)
        if self.log_content and content is not None:
            response["content"] = content
        if continued is not None:
            response["continued"] = self._continuation(continued)
        self.bus.publish(response)
        if self.accounts is None:
            return
        if cost_usd:
            self._budgets(trace.session, now, SCOPES)
        elif error is not None and error.kind == "budget_exceeded" and error.details:
            self._budgets(trace.session, now, (str(error.details.get("scope")),), exhausted=True)

    def _continuation(self, c: Continued) -> Continuation:
        """The continuation's cost, and what its target would have charged for the whole answer:
        its usage with the prefix's tokens added to the output."""
        usage = c.usage
        whole = dataclasses.replace(usage, output_tokens=usage.output_tokens + c.prefix_tokens)
        retry = self.price(c.target, whole) if self.price is not None else None
        return {
            "from": str(c.source),
            "to": str(c.target),
            "chars": c.chars,
            "cost_usd": round(c.cost_usd or 0.0, 8),
            "retry_usd": round(retry or 0.0, 8),
        }

    def _failovers(
        self,
        trace: Trace,
        walk: Sequence[Attempt],
        served: Target | None,
        usage: Usage,
        cost_usd: float | None,
        now: float,
    ) -> list[FailoverEvent]:
        """One event per hop of the walk to another model (a same-model retry is no failover,
        nor a walk that ended on the primary after waiting for it or trying it again)."""
        if served is not None and served == trace.primary:
            return []
        attempts = [a for a in walk if a.outcome not in WALK_STEPS]
        hops = [
            (a, attempts[i + 1])
            for i, a in enumerate(attempts[:-1])
            if a.outcome is not Outcome.OK and attempts[i + 1].target != a.target
        ]
        if not hops:
            return []
        # One figure for every hop: what was served, against what the primary would have cost.
        delta = self._delta(trace.session, trace.primary, served, usage, cost_usd)
        return [
            {
                "ts": now,
                "type": "failover",
                "session": trace.session,
                "id": trace.id,
                "route": trace.route,
                "from": str(a.target),
                "to": str(nxt.target),
                "reason": str(a.kind) if a.kind is not None else a.step,
                "cost_delta_usd": delta,
            }
            for a, nxt in hops
        ]

    def _delta(
        self,
        session: str,
        primary: Target | None,
        served: Target | None,
        usage: Usage,
        cost_usd: float | None,
    ) -> float | None:
        """What serving elsewhere cost beyond what the primary would have charged for the same usage."""
        if served is None or primary is None or cost_usd is None:
            return None
        if self.failover_delta is None:
            return None
        return self.failover_delta(session, primary, served, usage)

    def _budgets(self, session: str, now: float, scopes: Iterable[str], exhausted: bool = False) -> None:
        """Spend per window, at most every BUDGET_EVERY_S per window and session unless it
        crosses 80% or 100% of its limit: a busy agent would otherwise triple the events."""
        assert self.accounts is not None
        totals = self.accounts.totals(session)
        for scope in scopes:
            if scope not in totals:
                continue
            limit = self.accounts.limits.of(scope)
            level = (
                0 if not limit else 2 if totals[scope] >= limit else 1 if totals[scope] >= 0.8 * limit else 0
            )
            key = (session, scope)
            last = self._budget_sent.get(key)
            if not exhausted and last is not None and last[1] == level and now - last[0] < BUDGET_EVERY_S:
                continue
            if len(self._budget_sent) >= 4096:
                self._budget_sent.clear()  # forgetting only means one event sent early
            self._budget_sent[key] = (now, level)
            event: BudgetEvent = {
                "ts": now,
                "type": "budget",
                "session": session,
                "scope": scope,  # type: ignore[typeddict-item]
                "spent": round(totals[scope], 8),
                "limit": limit,
            }
            if exhausted:
                event["exhausted"] = True
            self.bus.publish(event)
