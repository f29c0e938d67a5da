"""How an attempt ends: what it is paid, and what health hears of it, once.

The chain hands the attempt that answers to the relay as a ``Lease``; its
``finish`` settles the cost and tells health the verdict when the answer is
done, however it ended: a stream that completed is a success, one cut after
content a failure of that target, a client gone says nothing of the target.
An attempt that failed inside the walk is settled by ``settle_failed``.

Spend errs on the safe side: once the provider took the prompt (it answered
200, or detour stopped waiting for its first content), the attempt is settled
at what it may bill, at least the prompt at the input price plus the output
received so far, never at nothing. Only a call the provider refused outright
(an HTTP error, a refused or reset connection) costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from daemon.config import Target
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Request,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    Usage,
    UsageUpdate,
)
from daemon.providers.base import Provider
from daemon.routing import structured
from daemon.routing.failures import TAKEN, classify
from daemon.routing.health import Health
from daemon.routing.purse import Admitted, Purse

if TYPE_CHECKING:
    from daemon.routing.walk import Attempt, Walk


class Meter:
    """What a stream has reported and relayed so far, to settle its cost however it ends."""

    __slots__ = ("usage", "chars", "complete", "content")

    def __init__(self) -> None:
        self.usage = Usage()
        self.chars = 0
        self.complete = False
        self.content = False

    def feed(self, ev: StreamEvent) -> None:
        match ev:
            case TextDelta() | ThinkingDelta():
                self.chars += len(ev.text)
                self.content = True
            case ArgumentsDelta():
                self.chars += len(ev.fragment)
                self.content = True
            case StreamStart() if ev.usage is not None:
                self.usage = self.usage.merge(ev.usage)
            case UsageUpdate():
                self.usage = self.usage.merge(ev.usage)
            case StreamEnd():
                self.usage = self.usage.merge(ev.usage)
                self.complete = True


def output_tokens(meter: Meter) -> int:
    """The output an attempt produced: as reported, or estimated from what it relayed."""
    return max(meter.usage.output_tokens, -(-meter.chars // 3))


@dataclass(slots=True)
class Continued:
    """An answer cut at ``source`` and finished by ``target`` (``routing.continuation``)."""

    source: Target
    target: Target
    chars: int  # of text and thinking the client had received at the cut
    reason: str  # the cut's failure class
    prefix_tokens: int  # output tokens of the cut attempts, the prefix the continuation was given
    lease: Lease  # the continuation's attempt: its meter and, once finished, its cost

    @property
    def cost_usd(self) -> float | None:
        return self.lease.cost_usd

    @property
    def usage(self) -> Usage:
        return self.lease.meter.usage


@dataclass(slots=True)
class Lease:
    """The attempt that answers: its events so far (``held``), the rest to relay, and
    ``finish``, which settles its cost and tells health how it ended, exactly once."""

    target: Target
    provider: Provider
    attempts: Walk
    request: Request  # as adapted for the target
    held: list[StreamEvent]
    rest: AsyncIterator[StreamEvent]
    _health: Health
    _spend: Purse | None
    _admission: Admitted | None
    _chain: tuple[Target, ...] = ()  # the route's chain, for health's max_ejection_percent
    _max_ejection_percent: float | None = None  # the route's own
    cost_usd: float | None = None
    _finished: bool = field(default=False)
    # What was changed to fit the request to this target, for the client (x-detour-adapted).
    adapted: list[str] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter)  # what the attempt's stream reported (continuations)
    attempt: Attempt | None = None  # its step of the walk
    # The answer went on at another target after a cut (``routing.continuation``): the last one.
    continued: Continued | None = None
    cut_settled: bool = False  # the attempt serving last was cut, and settled then
    _earlier_usd: float | None = None  # what the cut attempts cost

    def finish(
        self, usage: Usage, error: ApiError | None = None, *, complete: bool = True, relayed_chars: int = 0
    ) -> float | None:
        """``complete``: the stream reached its end. Not complete and no error: the client
        went away, which says nothing of the target's health; the prompt was sent, so it is paid.
        A continued answer settles its continuation at what that attempt itself reported."""
        if self._finished:
            return self.cost_usd
        self._finished = True
        if self.cut_settled:
            self.cost_usd = self._earlier_usd
        elif self.continued is not None:
            tail = self.continued.lease
            cost = tail.finish(tail.meter.usage, error, complete=complete, relayed_chars=tail.meter.chars)
            self.cost_usd = _plus(self._earlier_usd, cost)
        else:
            self.cost_usd = self._settle(usage, error, complete, relayed_chars)
        return self.cost_usd

    def cut(self, error: ApiError) -> None:
        """The attempt serving now was cut: settled as it stands (health hears of it, it is paid
        its partial output), before a continuation (``go_on``) takes over, if one can."""
        part = self if self.continued is None else self.continued.lease
        cost = part._settle(part.meter.usage, error, False, part.meter.chars)
        if part is not self:
            part._finished, part.cost_usd = True, cost
        self._earlier_usd = _plus(self._earlier_usd, cost)
        self.cut_settled = True

    def go_on(self, continued: Continued) -> None:
        """The answer goes on at ``continued.lease``'s target: what the relay reads is its."""
        nxt = continued.lease
        self.continued, self.cut_settled = continued, False
        self.target, self.provider, self.request, self.adapted = (
            nxt.target,
            nxt.provider,
            nxt.request,
            nxt.adapted,
        )

    def _settle(
        self, usage: Usage, error: ApiError | None, complete: bool, relayed_chars: int
    ) -> float | None:
        if error is not None:
            self._health.failure(self.target, classify(error), self._chain, self._max_ejection_percent)
        elif complete:
            self._health.success(self.target)
        else:
            self._health.release(self.target)
        if self._spend is None or self._admission is None:
            return None
        return self._spend.settle(
            self._admission, self.target, usage, complete=complete, relayed_chars=relayed_chars
        )


def _plus(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def settle_failed(
    spend: Purse | None, admission: Admitted | None, target: Target, err: ApiError, meter: Meter
) -> None:
    """A failed attempt costs what the provider may bill: the answer's usage for one refused
    as invalid JSON; the prompt and the output so far for one the provider took (cut, stalled,
    abandoned at the first-content limit); nothing for a call it refused."""
    if spend is None or admission is None:
        return
    if isinstance(err, structured.InvalidJson):
        spend.settle(admission, target, err.usage)
    elif meter.content or err.cause in TAKEN:
        spend.settle(admission, target, meter.usage, complete=False, relayed_chars=meter.chars)
    else:
        spend.release(admission)


# The rest of an answer held whole.
async def nothing() -> AsyncIterator[StreamEvent]:
    return
    yield  # an async generator that ends at once


async def close(events: AsyncIterator[StreamEvent]) -> None:
    """End a stream early, whatever it says about it."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
