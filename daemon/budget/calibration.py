"""What a provider bills for a prompt, learned against what detour counted.

Providers bill more prompt tokens than the text sent: a chat template around
every message, a system prompt for tool use, tiles for images. Their free count
endpoints report what they will bill, and every answer's usage says what they
did bill. Per target, detour keeps the recent pairs (counted, billed) and fits
``billed <= ratio * counted + overhead`` as the *upper envelope* of those
points: the line above every one of them that lies closest to them on average
(the upper convex hull's edge at their mean count). So an estimate inside the
range seen errs high, never low. How far points sit below that line is the
*scatter*: a new prompt could sit that far above it, which is the estimate's
doubt. A prompt longer than the range seen is not estimated at all.

Admission (``Calibration.size``) reserves the calibrated count while the budget
has room for every doubt in flight; until a target is calibrated, or when the
doubts would not fit, it asks the provider's count endpoint, which is exact.
A provider with no count endpoint gets a padded guess instead: the estimate plus
its doubt, or before any calibration ``SAFE_RATIO * counted + SAFE_OVERHEAD``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from daemon.budget.accounts import Accounts
from daemon.budget.prices import Prices, worst_prompt
from daemon.config import Target
from daemon.ir import Request, Usage
from daemon.providers.base import Provider

WINDOW = 64  # recent samples per target: a provider that changes its template is relearned
MIN_SAMPLES = 6  # fewer, and the target counts as uncalibrated
MIN_DOUBT = 0.02  # even a perfect fit is only known up to rounding and unseen shapes
RANGE_SLACK = 1.25  # a prompt this much longer than any seen is still estimated, with more doubt
# Before a target without a count endpoint has any calibration: what real providers add is a
# few tokens a message and a few hundred for tool use, and detour's count already runs high.
SAFE_RATIO = 1.5
SAFE_OVERHEAD = 600
# A count endpoint that failed is not asked again for this long (a hanging one would cost
# every request its timeout); the padded guess stands in meanwhile.
COUNT_RETRY_S = 60.0

Sample = tuple[int, int]  # (counted by detour, billed by the provider)


@dataclass(frozen=True, slots=True)
class Fit:
    ratio: float
    overhead: float
    low: int  # smallest and largest count seen
    high: int
    scatter: float  # how far below the line samples sit, as a share of the line

    def estimate(self, counted: int) -> tuple[int, int] | None:
        """(tokens, doubt) for a prompt detour counted at ``counted``; None beyond the range seen."""
        if counted > self.high * RANGE_SLACK:
            return None
        # Below the range, what a shorter prompt bills is at most what the shortest seen did.
        tokens = math.ceil(self.ratio * max(counted, self.low) + self.overhead)
        doubt = tokens * max(MIN_DOUBT, self.scatter)
        if counted > self.high:  # extrapolated: the true slope may be steeper
            doubt += max(self.ratio, SAFE_RATIO) * (counted - self.high)
        return tokens, math.ceil(doubt)


def envelope(samples: Iterable[Sample]) -> Fit:
    """The line above every sample with the least total slack (it supports their upper hull
    at the mean count), with a slope of at least zero."""
    best: dict[int, int] = {}
    for c, b in samples:
        best[c] = max(b, best.get(c, b))
    points = sorted(best.items())
    assert points, "an envelope needs samples"
    hull: list[Sample] = []
    for p in points:  # Andrew's monotone chain, upper half
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    mean = sum(c for c, _ in points) / len(points)
    ratio, overhead = 0.0, float(max(b for _, b in points))
    for (c0, b0), (c1, b1) in zip(hull, hull[1:], strict=False):
        if c0 <= mean <= c1:
            slope = (b1 - b0) / (c1 - c0)
            if slope > 0:
                ratio, overhead = slope, b0 - slope * c0
            break
    line = [ratio * c + overhead for c, _ in points]
    scatter = max((fit - b) / fit for fit, (_, b) in zip(line, points, strict=True) if fit > 0)
    return Fit(ratio, overhead, points[0][0], points[-1][0], max(0.0, scatter))


def _cross(o: Sample, a: Sample, b: Sample) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


@dataclass(slots=True)
class Learned:
    """One target's recent samples and their fit, worked out when first asked for: every
    answer adds a sample, but only a budgeted admission needs the fit."""

    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _fit: Fit | None = None
    _stale: bool = False

    def add(self, counted: int, billed: int) -> None:
        self.samples.append((counted, billed))
        self._stale = len(self.samples) >= MIN_SAMPLES

    @property
    def fit(self) -> Fit | None:
        if self._stale:
            self._fit, self._stale = envelope(self.samples), False
        return self._fit


@dataclass(frozen=True, slots=True)
class Sized:
    """A prompt's size for a reservation, and the doubt (USD) it carries while in flight."""

    tokens: int
    doubt_usd: float = 0.0
    how: str = "counted"  # counted | calibrated | endpoint | padded | guessed


@dataclass(slots=True)
class Calibration:
    accounts: Accounts
    prices: Prices
    providers: Mapping[str, Provider] = field(default_factory=dict)
    targets: dict[Target, Learned] = field(default_factory=dict)
    dirty: set[Target] = field(default_factory=set)  # learned since the last save
    in_flight_doubt: float = 0.0  # USD the open reservations may still undercount by
    no_count_until: dict[str, float] = field(default_factory=dict)  # provider id -> monotonic time

    def fit(self, target: Target) -> Fit | None:
        learned = self.targets.get(target)
        return None if learned is None else learned.fit

    def observe(self, target: Target, counted: int, billed: int) -> None:
        """A pair from a count endpoint or an answer's usage."""
        if counted <= 0 or billed <= 0:
            return
        learned = self.targets.get(target)
        if learned is None:
            learned = self.targets[target] = Learned()
        learned.add(counted, billed)
        self.dirty.add(target)

    def restore(self, stored: Mapping[Target, Sequence[Sample]]) -> None:
        for target, samples in stored.items():
            learned = self.targets[target] = Learned()
            for c, b in samples:
                learned.add(c, b)

    async def size(self, req: Request, target: Target, session: str, counted: int, out: int) -> Sized:
        """How many prompt tokens to reserve for ``req`` (which detour counted at ``counted``)."""
        left, _ = self.accounts.headroom(session)
        if left == math.inf:  # no limit to keep: neither a round trip nor a fit is worth its time
            return Sized(counted, how="counted")
        fit = self.fit(target)
        est = None if fit is None else fit.estimate(counted)
        if est is not None:
            tokens, doubt = est
            worst = self.prices.require(target, worst_prompt(req, tokens, out))
            doubt_usd = self.prices.require(target, worst_prompt(req, doubt))
            if left - worst >= self.in_flight_doubt + doubt_usd:
                return Sized(tokens, doubt_usd, "calibrated")
        exact = await self._count(req, target)
        if exact is not None:
            self.observe(target, counted, exact)
            return Sized(exact, how="endpoint")
        if est is not None:  # no count to be had: reserve the doubt too
            return Sized(est[0] + est[1], how="padded")
        return Sized(math.ceil(counted * SAFE_RATIO + SAFE_OVERHEAD), how="guessed")

    async def _count(self, req: Request, target: Target) -> int | None:
        provider = self.providers.get(target.provider)
        if provider is None or time.monotonic() < self.no_count_until.get(provider.id, 0.0):
            return None
        exact = await provider.count_tokens(req, target.model)
        if exact is None:
            self.no_count_until[provider.id] = time.monotonic() + COUNT_RETRY_S
        return exact

    def hold(self, sized: Sized) -> None:
        self.in_flight_doubt += sized.doubt_usd

    def release(self, sized: Sized) -> None:
        self.in_flight_doubt = max(0.0, self.in_flight_doubt - sized.doubt_usd)

    def settled(self, sized: Sized, target: Target, counted: int, usage: Usage | None) -> None:
        """The attempt ended; ``usage`` is what the provider billed, if it said."""
        self.release(sized)
        if usage is not None:
            self.observe(target, counted, usage.input_tokens)
