"""Walking a route's chain: one way through for every answer, streamed or whole.

Every upstream call is a stream. The walk holds each attempt's events back
until the client may see them: for a streaming client, up to the first real
content; for a client that wants the whole answer, to the end (so a failure
anywhere in it still fails over invisibly, and the first-content and idle
limits mean the same thing for both). The attempt that answers is handed to
the relay as a ``Lease``; the relay's ``finish`` settles its cost and tells
health how it ended, once.

Before a call, a target must have a key, fit the prompt in its context window,
be callable by health (``routing.health``) and fit the budget. When no target
of the chain is callable now, the walk waits for the soonest one if it is free
within ``max_wait_s`` (never past the client's own deadline), woken with the others
waiting for it a few at a time (``Health.wake_at``); otherwise it
tries the targets it has not called anyway, in chain order (Envoy's panic
mode), and refuses only when they really failed now. A transient failure
(rate limit, overload, 5xx, reset, broken stream) leaves the target in the
walk for another try after a short backoff, within the same waiting budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterator
from dataclasses import dataclass, field

from daemon.config import Target
from daemon.ir import ApiError, Request, StreamEnd, StreamEvent, Usage, is_content
from daemon.ir.tokens import request_tokens
from daemon.providers.base import Provider
from daemon.routing import structured
from daemon.routing.adapt import Pruner, TooLong, adapt, builtin_notes
from daemon.routing.continuation import Stitch, continuable
from daemon.routing.failures import TIMEOUT_FIRST_BYTE, Action, Failure, FailureKind, classify
from daemon.routing.health import Health
from daemon.routing.lease import Lease, Meter, close, nothing, settle_failed
from daemon.routing.purse import Admitted, OverBudget, Purse
from daemon.routing.routes import Resolved
from daemon.routing.walk import WALK_STEPS, Attempt, Outcome, Walk

__all__ = ["WALK_STEPS", "Attempt", "Chain", "Lease", "Meter", "Outcome", "Walk", "all_failed"]
MAX_TRIES = 3  # calls to one target within one request, a reset's immediate retry included
BACKOFF_S = 0.1  # before another try of a target that just failed transiently; doubles per try
# Failures worth another try of the same target later in the same request: the provider
# was busy or hiccuped. A timeout is not (it already cost the whole first-byte limit).
_TRANSIENT = frozenset(
    {FailureKind.RATE_LIMITED, FailureKind.OVERLOADED, FailureKind.SERVER_ERROR, FailureKind.CONNECTION,
     FailureKind.BROKEN_STREAM}
)  # fmt: skip


@dataclass(slots=True)
class _Candidate:
    """A target of the chain as this request's walk sees it."""

    target: Target
    provider: Provider
    order: int
    request: Request | None = None  # fitted to the target, once the walk first reaches it
    adapted: list[str] = field(default_factory=list)  # what fitting it changed, said to the client
    counted: int = 0
    tries: int = 0
    not_before: float = 0.0  # backoff after a transient failure, on the health clock
    skip_shown: bool = False
    out: bool = False  # nothing more to try on it in this request
    route: str = ""
    prune: str = "off"  # the route's prune setting


@dataclass(slots=True)
class _Pick:
    candidate: _Candidate | None
    soonest: float | None = None  # when the first blocked candidate is free, on the health clock
    soonest_target: Target | None = None
    panickable: bool = False  # an uncalled candidate that panic mode may call


@dataclass(slots=True)
class Chain:
    providers: dict[str, Provider]
    health: Health
    spend: Purse | None = None
    # Provider ids the user paused: skipped by every route until resumed.
    paused: Container[str] = frozenset()
    pruning: Pruner | None = None  # for a route's prune setting: whole-file tool results shrunk to fit
    # A route's own settings (first-byte limit, max wait, on-invalid-json, prune) come with
    # each request, as ``Resolved.settings``.

    async def open(
        self,
        req: Request,
        resolved: Resolved,
        session: str = "",
        *,
        whole: bool = False,
        deadline_s: float | None = None,
        walk: Walk | None = None,
    ) -> Lease:
        """The first target that answers, its events held up to the first content (``whole``:
        to the end). ``deadline_s``: seconds the client will wait in all, if it said.
        ``walk``: where the steps are recorded, for a caller that follows them."""
        attempts = Walk() if walk is None else walk
        with _attempts_shown(attempts):
            return await self._open(req, resolved, session, whole, deadline_s, attempts, True)

    async def _open(
        self,
        req: Request,
        resolved: Resolved,
        session: str,
        whole: bool,
        deadline_s: float | None,
        attempts: Walk,
        first: bool,
    ) -> Lease:
        """``first``: the answer's first walk, not one for a continuation after a cut."""
        settings = resolved.settings
        original = req if first and settings.continue_on_cut and continuable(req) else None
        if req.prompt_cache != settings.prompt_cache:  # Anthropic encoders place breakpoints by it
            req = dataclasses.replace(req, prompt_cache=settings.prompt_cache)
        if self.pruning is not None and settings.prune == "always":
            req = await self.pruning.always(req, resolved.route)
        cands = [
            _Candidate(t, self.providers[t.provider], i, route=resolved.route, prune=settings.prune)
            for i, t in enumerate(resolved.chain)
        ]
        prompt = request_tokens(req)  # once: every target counts the same prompt
        wait_left = settings.max_wait_s
        if deadline_s is not None:
            wait_left = max(0.0, min(wait_left, deadline_s / 2))
        panic = False
        refused: OverBudget | None = None
        while True:
            pick = await self._pick(req, prompt, cands, attempts, panic)
            c = pick.candidate
            if c is None:
                delay = None if pick.soonest is None else max(0.0, pick.soonest - self.health.now())
                if delay is not None and delay <= wait_left:
                    assert pick.soonest is not None and pick.soonest_target is not None
                    # Woken a few at a time, not with every other request waiting for it (and
                    # never past the waiting budget: by then the target is free).
                    woken = self.health.wake_at(pick.soonest_target, pick.soonest) - self.health.now()
                    slept = min(max(delay, woken), wait_left)
                    await asyncio.sleep(slept)
                    wait_left = max(0.0, wait_left - slept)
                    self._record(attempts, Attempt(pick.soonest_target, Outcome.WAITED, waited_s=delay))
                    continue
                if pick.panickable and not panic:
                    panic = True
                    continue
                break
            assert c.request is not None
            admission = None
            if self.spend is not None:
                try:
                    admission = await self._admit(c, resolved, session)
                except OverBudget as e:
                    self.health.release(c.target)
                    c.out = True
                    self._skip(attempts, c.target, "budget", e.error.message)
                    if self.spend.on_exhausted != "cheapest":
                        raise e.error from None
                    if refused is None:
                        refused = e
                        cands.sort(key=lambda x: self._worst_case(req, x.target))
                    continue
                except BaseException:  # a refusal, or the client gone while the prompt was counted
                    self.health.release(c.target)
                    raise
            lease = await self._try(c, admission, resolved, whole, attempts, original, session)
            if lease is not None:
                return lease
        if refused is not None:
            raise refused.error
        raise all_failed(resolved, attempts)

    async def _pick(
        self, req: Request, prompt: int, cands: list[_Candidate], attempts: Walk, panic: bool
    ) -> _Pick:
        """The first candidate in chain order that may be called now (claimed), else when one may."""
        now = self.health.now()
        pick = _Pick(None)
        for c in cands:
            if c.out:
                continue
            if c.request is None and not await self._fit(req, prompt, c, attempts):
                continue
            if c.not_before > now:
                self._later(pick, c.not_before, c.target)
                continue
            skip = self.health.claim(c.target, panic=panic and c.tries == 0)
            if skip is None:
                if panic and c.tries == 0:
                    self._record(attempts, Attempt(c.target, Outcome.PANIC, message="every model was out"))
                pick.candidate = c
                return pick
            if not c.skip_shown:
                c.skip_shown = True
                self._skip(attempts, c.target, skip.label, skip.detail)
            if skip.panickable and c.tries == 0:
                pick.panickable = True
            if skip.ready_at is not None:
                self._later(pick, skip.ready_at, c.target)
            elif not (skip.panickable and c.tries == 0):
                c.out = True
        return pick

    @staticmethod
    def _later(pick: _Pick, at: float, target: Target) -> None:
        if pick.soonest is None or at < pick.soonest:
            pick.soonest, pick.soonest_target = at, target

    async def _fit(self, req: Request, prompt: int, c: _Candidate, attempts: Walk) -> bool:
        """Fit the request to the candidate once; False (and out of the walk) if it cannot serve."""
        if not c.provider.usable:
            c.out = True
            self._skip(attempts, c.target, "no_key", "no API key configured")
            return False
        if c.target.provider in self.paused:
            c.out = True
            self._skip(attempts, c.target, "paused", f"{c.target.provider} is paused until resumed")
            return False
        profile = c.provider.profile(c.target.model)
        planned = structured.plan(req, profile)
        # A forced tool carries the schema the client asked for: that request is longer.
        c.counted = prompt if planned is req else request_tokens(planned)
        try:
            c.request = adapt(planned, c.target, profile, c.counted)
        except TooLong as e:
            pruned = (
                await self.pruning.fit(planned, c.target, profile, c.route)
                if self.pruning is not None and c.prune != "off"
                else None
            )
            if pruned is None:
                c.out = True
                self._skip(attempts, c.target, "context_too_long", str(e), FailureKind.CONTEXT_TOO_LONG)
                return False
            c.request, c.counted = pruned, request_tokens(pruned)
        c.adapted = [*c.request.adapted, *builtin_notes(req, c.provider.format_name)]
        return True

    async def _admit(self, c: _Candidate, resolved: Resolved, session: str) -> Admitted:
        assert self.spend is not None and c.request is not None
        profile = c.provider.profile(c.target.model)
        return await self.spend.admit(
            c.request, c.target, session, resolved.route, profile.max_output, c.counted
        )

    async def _try(
        self,
        c: _Candidate,
        admission: Admitted | None,
        resolved: Resolved,
        whole: bool,
        attempts: Walk,
        original: Request | None = None,
        session: str = "",
    ) -> Lease | None:
        """Call the candidate (again at once after a reset); a Lease, or None to walk on.
        ``original``: the request as the client sent it, when a cut answer is to be continued."""
        request = admission.request if admission is not None else c.request
        assert request is not None
        while True:
            c.tries += 1
            started = time.perf_counter()
            meter = Meter()
            events = structured.guard(request, c.provider.stream(request, c.target.model))
            stitch: Stitch | None = None
            ok = Attempt(c.target, Outcome.OK)
            try:
                held = await self._hold(
                    events, meter, whole and original is None, self._first_byte_s(resolved, c.provider)
                )
                if original is not None:
                    ok.latency_ms = (time.perf_counter() - started) * 1000
                    lease = self._lease(c, admission, resolved, attempts, request, held, events, meter, ok)
                    stitch = Stitch(
                        lease, original, resolved, self._opener(session, attempts), attempts.on_continued
                    )
                    if whole:
                        await stitch.drain()
            except ApiError as err:
                await close(events)
                if stitch is not None and stitch.took_over:  # the cut attempt is settled: the answer ends
                    stitch.lease.finish(Usage(), err, complete=False)
                    raise
                failure = classify(err, named=request.model == c.target.model)
                self.health.failure(c.target, failure, resolved.chain, resolved.settings.max_ejection_percent)
                again = failure.action is Action.RETRY_SAME and c.tries == 1
                if not again:  # a same-model retry keeps the reservation, or its answer goes unpaid
                    settle_failed(self.spend, admission, c.target, err, meter)
                latency = (time.perf_counter() - started) * 1000
                self._record(
                    attempts,
                    Attempt(c.target, Outcome.FAILED, failure.label, failure.kind, latency, err.message),
                )
                if failure.action is Action.STOP or self._returns(resolved, failure):
                    raise
                if again:
                    continue
                if failure.kind in _TRANSIENT and c.tries < MAX_TRIES:
                    c.not_before = self.health.now() + BACKOFF_S * 2 ** (c.tries - 1)
                else:
                    c.out = True
                return None
            except BaseException:
                await close(events)
                if stitch is not None and stitch.took_over:
                    stitch.lease.finish(Usage(), complete=False)
                    raise
                self.health.release(c.target)
                if self.spend is not None and admission is not None:
                    self.spend.settle(
                        admission, c.target, meter.usage, complete=False, relayed_chars=meter.chars
                    )
                raise
            if whole:
                await close(events)
            # How it ends (and so what health hears of it) is told once, by the lease's finish.
            if stitch is None or not attempts.has(ok):  # a whole answer cut has it recorded by then
                ok.latency_ms = (time.perf_counter() - started) * 1000
                self._record(attempts, ok)
            if stitch is not None:
                return stitch.lease
            rest = nothing() if whole else events
            return self._lease(c, admission, resolved, attempts, request, held, rest, meter, ok)

    def _lease(
        self,
        c: _Candidate,
        admission: Admitted | None,
        resolved: Resolved,
        attempts: Walk,
        request: Request,
        held: list[StreamEvent],
        rest: AsyncIterator[StreamEvent],
        meter: Meter,
        ok: Attempt,
    ) -> Lease:
        return Lease(
            c.target, c.provider, attempts, request, held, rest, self.health, self.spend, admission,
            resolved.chain, resolved.settings.max_ejection_percent, adapted=c.adapted, meter=meter,
            attempt=ok,
        )  # fmt: skip

    def _opener(self, session: str, attempts: Walk) -> Callable[[Request, Resolved], Awaitable[Lease]]:
        """The walk for a continuation: a walk of its own, recorded with the answer's."""

        async def open_next(req: Request, resolved: Resolved) -> Lease:
            return await self._open(req, resolved, session, False, None, attempts, False)

        return open_next

    async def _hold(
        self, events: AsyncIterator[StreamEvent], meter: Meter, whole: bool, first_byte_s: float
    ) -> list[StreamEvent]:
        held: list[StreamEvent] = []
        try:
            async with asyncio.timeout(first_byte_s):
                async for ev in events:
                    held.append(ev)
                    meter.feed(ev)
                    if is_content(ev) or isinstance(ev, StreamEnd):
                        break
                else:
                    raise ApiError(
                        502, "server_error", "the stream ended before any content", cause="stream_cut"
                    )
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"no content within {first_byte_s:g}s", cause=TIMEOUT_FIRST_BYTE
            ) from None
        if whole and not meter.complete:
            # The rest under the provider's idle limit, as a streaming client would get it.
            async for ev in events:
                held.append(ev)
                meter.feed(ev)
            if not meter.complete:
                raise ApiError(502, "server_error", "the stream ended before its end", cause="stream_cut")
        return held

    def _worst_case(self, req: Request, target: Target) -> float:
        assert self.spend is not None
        provider = self.providers[target.provider]
        return self.spend.worst_case_usd(req, target, provider.profile(target.model).max_output)

    def _first_byte_s(self, resolved: Resolved, provider: Provider) -> float:
        return resolved.settings.timeout_first_byte_s or provider.config.timeout_first_byte_s

    def _returns(self, resolved: Resolved, failure: Failure) -> bool:
        return failure.kind is FailureKind.INVALID_JSON and resolved.settings.on_invalid_json == "return"

    def _skip(
        self, attempts: Walk, target: Target, label: str, why: str, kind: FailureKind | None = None
    ) -> None:
        self._record(attempts, Attempt(target, Outcome.SKIPPED, label, kind, 0.0, why))

    def _record(self, attempts: Walk, attempt: Attempt) -> None:
        attempts.record(attempt)


def all_failed(resolved: Resolved, attempts: list[Attempt]) -> ApiError:
    tried = [a for a in attempts if a.outcome not in WALK_STEPS]
    lines = "; ".join(f"{a.target}: {a.step}" + (f" ({a.message})" if a.message else "") for a in tried)
    return ApiError(
        503,
        "all_providers_failed",
        f"every model of route {resolved.route!r} failed: {lines or 'the chain is empty'}",
        details={
            "attempts": [
                {
                    "provider": a.target.provider,
                    "model": a.target.model,
                    "outcome": a.step,
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
