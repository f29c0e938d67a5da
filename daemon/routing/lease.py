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
    from daemon.routing.chain import Attempt


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


@dataclass(slots=True)
class Lease:
    """The attempt that answers: its events so far (``held``), the rest to relay, and
    ``finish``, which settles its cost and tells health how it ended, exactly once."""

    target: Target
    provider: Provider
    attempts: list[Attempt]
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

    def finish(
        self, usage: Usage, error: ApiError | None = None, *, complete: bool = True, relayed_chars: int = 0
    ) -> float | None:
        """``complete``: the stream reached its end. Not complete and no error: the client
        went away, which says nothing of the target's health; the prompt was sent, so it is paid."""
        if self._finished:
            return self.cost_usd
        self._finished = True
        if error is not None:
            self._health.failure(self.target, classify(error), self._chain, self._max_ejection_percent)
        elif complete:
            self._health.success(self.target)
        else:
            self._health.release(self.target)
        if self._spend is not None and self._admission is not None:
            self.cost_usd = self._spend.settle(
                self._admission, self.target, usage, complete=complete, relayed_chars=relayed_chars
            )
        return self.cost_usd


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
