"""Walking a route's chain: one attempt per model until one answers.

Each attempt is recorded (provider, model, outcome, latency) for
``x-detour-attempts`` and events. Targets in cooldown or behind an open circuit
are skipped without a network call. A stream counts as answered once its first
real content arrives: anything that fails before that fails over invisibly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from daemon.config import Target
from daemon.ir import ApiError, Request, Response, StreamEnd, StreamEvent, is_content
from daemon.providers.base import Provider
from daemon.routing.adapt import Profiles, TooLong, adapt
from daemon.routing.failures import TIMEOUT_FIRST_BYTE, Action, Failure, FailureKind, classify
from daemon.routing.health import Health
from daemon.routing.routes import Resolved


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


@dataclass(slots=True)
class LiveStream:
    served: Served
    held: list[StreamEvent]  # everything up to and including the first content
    rest: AsyncIterator[StreamEvent]


@dataclass(slots=True)
class Chain:
    providers: dict[str, Provider]
    health: Health
    profiles: Profiles
    # Route name -> first-content timeout override.
    first_byte_s: dict[str, float] = field(default_factory=dict)
    on_attempt: Callable[[Attempt], None] | None = None

    async def complete(self, req: Request, resolved: Resolved) -> tuple[Response, Served]:
        attempts: list[Attempt] = []
        for target, provider, adapted in self._candidates(req, resolved, attempts):
            retried = False
            while True:
                started = time.perf_counter()
                try:
                    resp = await provider.complete(adapted, target.model)
                except ApiError as err:
                    failure = self._failed(target, err, started, attempts)
                    if failure.action is Action.RETRY_SAME and not retried:
                        retried = True
                        continue
                    if failure.action is Action.STOP:
                        raise
                    break
                self._ok(target, started, attempts)
                return resp, Served(target, provider, attempts, adapted)
        raise all_failed(resolved, attempts)

    async def stream(self, req: Request, resolved: Resolved) -> LiveStream:
        attempts: list[Attempt] = []
        for target, provider, adapted in self._candidates(req, resolved, attempts):
            retried = False
            while True:
                started = time.perf_counter()
                events = provider.stream(adapted, target.model)
                try:
                    held = await self._first_content(events, self._first_byte_s(resolved, provider))
                except ApiError as err:
                    await _close(events)
                    failure = self._failed(target, err, started, attempts)
                    if failure.action is Action.RETRY_SAME and not retried:
                        retried = True
                        continue
                    if failure.action is Action.STOP:
                        raise
                    break
                except BaseException:
                    await _close(events)
                    self.health.release(target)
                    raise
                self._ok(target, started, attempts)
                return LiveStream(Served(target, provider, attempts, adapted), held, events)
        raise all_failed(resolved, attempts)

    def _candidates(
        self, req: Request, resolved: Resolved, attempts: list[Attempt]
    ) -> Iterator[tuple[Target, Provider, Request]]:
        """Targets that may be called now, in order, each with the request adapted to it."""
        return _Walk(self, req, resolved, attempts)

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

    def _failed(self, target: Target, err: ApiError, started: float, attempts: list[Attempt]) -> Failure:
        failure = classify(err)
        self.health.failure(target, failure)
        self._record(
            attempts,
            Attempt(target, failure.label, failure.kind, (time.perf_counter() - started) * 1000, err.message),
        )
        return failure

    def _ok(self, target: Target, started: float, attempts: list[Attempt]) -> None:
        self.health.success(target)
        self._record(attempts, Attempt(target, "ok", None, (time.perf_counter() - started) * 1000))

    def _record(self, attempts: list[Attempt], attempt: Attempt) -> None:
        attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)


class _Walk:
    """Iterates a chain lazily: each target is checked (key, health, fit) only when reached."""

    def __init__(self, chain: Chain, req: Request, resolved: Resolved, attempts: list[Attempt]) -> None:
        self._chain, self._req, self._attempts = chain, req, attempts
        self._targets = iter(resolved.chain)

    def __iter__(self) -> _Walk:
        return self

    def __next__(self) -> tuple[Target, Provider, Request]:
        chain = self._chain
        for target in self._targets:
            provider = chain.providers[target.provider]
            if not provider.usable:
                chain._record(
                    self._attempts, Attempt(target, "no_key", None, 0.0, "no API key", called=False)
                )
                continue
            try:
                adapted = adapt(self._req, target, provider, chain.profiles)
            except TooLong as e:
                chain._record(
                    self._attempts,
                    Attempt(
                        target, "context_too_long", FailureKind.CONTEXT_TOO_LONG, 0.0, str(e), called=False
                    ),
                )
                continue
            skip = chain.health.claim(target)
            if skip is not None:
                chain._record(
                    self._attempts, Attempt(target, skip.label, None, 0.0, skip.detail, called=False)
                )
                continue
            return target, provider, adapted
        raise StopIteration


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


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
