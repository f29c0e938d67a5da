"""Walking a route's chain: one attempt per model until one answers.

Each attempt is recorded (provider, model, outcome, latency) for
``x-detour-attempts`` and events. Before a call, a target must have a key, fit
the prompt in its context window, be out of cooldown with its circuit closed
(or win the half-open probe), and fit the budget; otherwise it is skipped
without a network call. A stream counts as answered once its first real
content arrives: anything that fails before that fails over invisibly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from daemon.budget.spend import Admission, OverBudget, Spend
from daemon.config import Target
from daemon.ir import ApiError, Request, Response, StreamEnd, StreamEvent, Usage, is_content
from daemon.providers.base import Provider
from daemon.routing import structured
from daemon.routing.adapt import Profiles, TooLong, adapt
from daemon.routing.failures import TIMEOUT_FIRST_BYTE, Action, Failure, FailureKind, classify
from daemon.routing.health import Health
from daemon.routing.routes import Resolved
from daemon.routing.tokens import request_tokens

if TYPE_CHECKING:
    from daemon.context.fit import Pruning


@dataclass(slots=True)
class Attempt:
    target: Target
    outcome: str  # "ok", an HTTP status, a failure class, or why it was skipped
    kind: FailureKind | None = None
    latency_ms: float = 0.0
    message: str = ""
    called: bool = True  # False when skipped without a network call

    def __str__(self) -> str:
        return f"{self.target}:{self.outcome}"


@dataclass(slots=True)
class Served:
    """The target that answered, and how the walk got there."""

    target: Target
    provider: Provider
    attempts: list[Attempt]
    request: Request  # as adapted for the target
    admission: Admission | None = None
    cost_usd: float | None = None


@dataclass(slots=True)
class LiveStream:
    served: Served
    held: list[StreamEvent]  # everything up to and including the first content
    rest: AsyncIterator[StreamEvent]


@dataclass(slots=True)
class _Slot:
    target: Target
    provider: Provider
    request: Request
    admission: Admission | None


@dataclass(slots=True)
class Chain:
    providers: dict[str, Provider]
    health: Health
    profiles: Profiles
    spend: Spend | None = None
    # Route name -> first-content timeout override.
    first_byte_s: dict[str, float] = field(default_factory=dict)
    # Routes whose on_invalid_json is "return": an answer that is not the JSON asked for stops there.
    invalid_json_returns: frozenset[str] = frozenset()
    on_attempt: Callable[[Attempt], None] | None = None
    pruning: Pruning | None = None  # a route's prune setting: whole-file tool results shrunk to fit

    async def complete(self, req: Request, resolved: Resolved, session: str = "") -> tuple[Response, Served]:
        attempts: list[Attempt] = []
        with _attempts_shown(attempts):
            return await self._complete(req, resolved, session, attempts)

    async def _complete(
        self, req: Request, resolved: Resolved, session: str, attempts: list[Attempt]
    ) -> tuple[Response, Served]:
        async for slot in self._walk(req, resolved, session, attempts):
            retried = False
            while True:
                started = time.perf_counter()
                try:
                    resp = await slot.provider.complete(slot.request, slot.target.model)
                    resp = structured.check(slot.request, resp)
                except ApiError as err:
                    failure = self._failed(slot, err, started, attempts, retry_left=not retried)
                    if failure.action is Action.RETRY_SAME and not retried:
                        retried = True
                        continue
                    if failure.action is Action.STOP or self._returns(resolved, failure):
                        raise
                    break
                except BaseException:
                    self._abandoned(slot)
                    raise
                self._ok(slot.target, started, attempts)
                served = Served(slot.target, slot.provider, attempts, slot.request, slot.admission)
                if self.spend is not None and slot.admission is not None:
                    served.cost_usd = self.spend.settle(slot.admission, slot.target, resp.usage)
                return resp, served
        raise all_failed(resolved, attempts)

    async def stream(self, req: Request, resolved: Resolved, session: str = "") -> LiveStream:
        attempts: list[Attempt] = []
        with _attempts_shown(attempts):
            return await self._stream(req, resolved, session, attempts)

    async def _stream(
        self, req: Request, resolved: Resolved, session: str, attempts: list[Attempt]
    ) -> LiveStream:
        async for slot in self._walk(req, resolved, session, attempts):
            retried = False
            while True:
                started = time.perf_counter()
                events = structured.guard(slot.request, slot.provider.stream(slot.request, slot.target.model))
                try:
                    held = await self._first_content(events, self._first_byte_s(resolved, slot.provider))
                except ApiError as err:
                    await _close(events)
                    failure = self._failed(slot, err, started, attempts, retry_left=not retried)
                    if failure.action is Action.RETRY_SAME and not retried:
                        retried = True
                        continue
                    if failure.action is Action.STOP or self._returns(resolved, failure):
                        raise
                    break
                except BaseException:
                    await _close(events)
                    self._abandoned(slot)
                    raise
                self._ok(slot.target, started, attempts)
                served = Served(slot.target, slot.provider, attempts, slot.request, slot.admission)
                return LiveStream(served, held, events)
        raise all_failed(resolved, attempts)

    async def _walk(
        self, req: Request, resolved: Resolved, session: str, attempts: list[Attempt]
    ) -> AsyncIterator[_Slot]:
        """Targets that may be called now, in order, each with the request fitted to it.

        Each target is checked only when the walk reaches it, so a half-open circuit's
        probe is claimed by the request that will really make the call."""
        refused: OverBudget | None = None
        targets = list(resolved.chain)
        if self.pruning is not None:
            req = await self.pruning.always(req, resolved.route)
        prompt = request_tokens(req)  # once: every target counts the same prompt
        while targets:
            target = targets.pop(0)
            provider = self.providers[target.provider]
            if not provider.usable:
                self._skip(attempts, target, "no_key", "no API key configured")
                continue
            planned = structured.plan(req, provider.kind, target.model)
            # A forced tool carries the schema the client asked for: that request is longer.
            counted = prompt if planned is req else request_tokens(planned)
            try:
                fitted = adapt(planned, target, provider, self.profiles, counted)
            except TooLong as e:
                pruned = (
                    await self.pruning.fit(planned, target, provider, self.profiles, resolved.route)
                    if self.pruning
                    else None
                )
                if pruned is None:
                    self._skip(attempts, target, "context_too_long", str(e), FailureKind.CONTEXT_TOO_LONG)
                    continue
                fitted, counted = pruned, request_tokens(pruned)
            skip = self.health.claim(target)
            if skip is not None:
                self._skip(attempts, target, skip.label, skip.detail)
                continue
            admission = None
            if self.spend is not None:
                profile = self.profiles.get(target, provider.kind)
                try:
                    admission = self.spend.admit(fitted, target, session, profile.max_output, counted)
                except OverBudget as e:
                    self.health.release(target)
                    self._skip(attempts, target, "budget", e.error.message)
                    if self.spend.on_exhausted != "cheapest":
                        raise e.error from None
                    if refused is None:
                        refused = e
                        targets.sort(key=lambda t: self._worst_case(req, t))
                    continue
                except ApiError:
                    self.health.release(target)
                    raise
                fitted = admission.request
                self.spend.accounts.record(
                    admission.reservation, resolved.route, target.provider, target.model
                )
            yield _Slot(target, provider, fitted, admission)
        if refused is not None:
            raise refused.error

    def _worst_case(self, req: Request, target: Target) -> float:
        assert self.spend is not None
        provider = self.providers[target.provider]
        out = req.max_tokens or self.profiles.get(target, provider.kind).max_output or 4096
        usd = self.spend.prices.usd(target, Usage(input_tokens=request_tokens(req), output_tokens=out))
        return float("inf") if usd is None else usd

    def _first_byte_s(self, resolved: Resolved, provider: Provider) -> float:
        return self.first_byte_s.get(resolved.route, provider.config.timeout_first_byte_s)

    async def _first_content(self, events: AsyncIterator[StreamEvent], timeout_s: float) -> list[StreamEvent]:
        held: list[StreamEvent] = []
        try:
            async with asyncio.timeout(timeout_s):
                async for ev in events:
                    held.append(ev)
                    if is_content(ev) or isinstance(ev, StreamEnd):
                        return held
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"no content within {timeout_s:g}s", cause=TIMEOUT_FIRST_BYTE
            ) from None
        raise ApiError(502, "server_error", "the stream ended before any content", cause="stream_cut")

    def _returns(self, resolved: Resolved, failure: Failure) -> bool:
        return failure.kind is FailureKind.INVALID_JSON and resolved.route in self.invalid_json_returns

    def _failed(
        self, slot: _Slot, err: ApiError, started: float, attempts: list[Attempt], retry_left: bool
    ) -> Failure:
        failure = classify(err, named=slot.request.model == slot.target.model)
        self.health.failure(slot.target, failure)
        retrying = failure.action is Action.RETRY_SAME and retry_left
        # A same-model retry keeps the reservation: released, the retry's answer would go unpaid.
        if self.spend is not None and slot.admission is not None and not retrying:
            if isinstance(err, structured.InvalidJson):
                self.spend.settle(slot.admission, slot.target, err.usage)  # answered, so paid for
            else:
                self.spend.release(slot.admission)
        latency = (time.perf_counter() - started) * 1000
        self._record(attempts, Attempt(slot.target, failure.label, failure.kind, latency, err.message))
        return failure

    def _abandoned(self, slot: _Slot) -> None:
        """The caller went away mid-attempt: no verdict on health; the prompt was sent, so it is paid."""
        self.health.release(slot.target)
        if self.spend is not None and slot.admission is not None:
            self.spend.settle(slot.admission, slot.target, Usage(), complete=False)

    def _ok(self, target: Target, started: float, attempts: list[Attempt]) -> None:
        self.health.success(target)
        self._record(attempts, Attempt(target, "ok", None, (time.perf_counter() - started) * 1000))

    def _skip(
        self, attempts: list[Attempt], target: Target, label: str, why: str, kind: FailureKind | None = None
    ) -> None:
        self._record(attempts, Attempt(target, label, kind, 0.0, why, called=False))

    def _record(self, attempts: list[Attempt], attempt: Attempt) -> None:
        attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)


def all_failed(resolved: Resolved, attempts: list[Attempt]) -> ApiError:
    lines = "; ".join(f"{a.target}: {a.outcome}" + (f" ({a.message})" if a.message else "") for a in attempts)
    return ApiError(
        503,
        "all_providers_failed",
        f"every model of route {resolved.route!r} failed: {lines or 'the chain is empty'}",
        details={
            "attempts": [
                {
                    "provider": a.target.provider,
                    "model": a.target.model,
                    "outcome": a.outcome,
                    "message": a.message,
                }
                for a in attempts
            ]
        },
    )


@contextlib.contextmanager
def _attempts_shown(attempts: list[Attempt]) -> Iterator[None]:
    """An error that ends the walk (a 400 passed through, all failed, over budget) still
    tells the client which models were tried."""
    try:
        yield
    except ApiError as err:
        if attempts:
            err.headers.setdefault("x-detour-attempts", ",".join(str(a) for a in attempts))
        raise


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
