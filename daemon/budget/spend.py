"""What the chain asks of the budget before and after each attempt.

Before: price the attempt's worst case (counted prompt tokens at the input
price, or the prompt-cache write price where that is dearer, plus ``max_tokens``
at the output price) and reserve it against every
window. If it does not fit, clamp ``max_tokens`` to what the money left can
pay for; if even a short answer does not fit, refuse with 402, or with
``on_exhausted = "cheapest"`` let the chain try the cheaper models in it.
After: settle to the real cost from the provider's usage, or an estimate
from what was relayed when the answer was cut short or abandoned (at least
the prompt: the provider took it). Only a call the provider refused is
released at nothing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from daemon.budget.accounts import Accounts, Reservation
from daemon.budget.calibration import Calibration, Sized
from daemon.budget.delta import CacheMemory, failover_delta
from daemon.budget.prices import Prices, worst_prompt
from daemon.config import Target
from daemon.ir import ApiError, Request, Usage
from daemon.ir.tokens import request_tokens
from daemon.routing.purse import OverBudget

DEFAULT_OUTPUT = 4096  # worst case for a request without max_tokens to a model of unknown limit
MIN_OUTPUT = 256  # a shorter answer is useless: refuse rather than clamp below it


@dataclass(slots=True)
class Admission:
    request: Request  # possibly with max_tokens clamped to what the budget can pay
    reservation: Reservation
    prompt_tokens: int
    sized: Sized | None = None  # how the prompt was sized (budget.calibration)
    counted: int = 0  # detour's own count of the prompt, to learn what the provider bills for it


@dataclass(slots=True)
class Spend:
    accounts: Accounts
    prices: Prices
    on_exhausted: str = "block"
    cache: CacheMemory = field(default_factory=CacheMemory)
    calibration: Calibration | None = None

    async def admit(
        self, req: Request, target: Target, session: str, route: str, max_output: int | None, prompt: int
    ) -> Admission:
        """Reserve the attempt's worst case (``prompt``: detour's token count of it) and journal it."""
        adm = await self._sized(req, target, session, max_output, prompt)
        self.accounts.record(adm.reservation, route, target.provider, target.model)
        return adm

    def worst_case_usd(self, req: Request, target: Target, max_output: int | None) -> float:
        out = req.max_tokens or max_output or DEFAULT_OUTPUT
        usd = self.prices.usd(target, worst_prompt(req, request_tokens(req), out))
        return float("inf") if usd is None else usd

    async def _sized(
        self, req: Request, target: Target, session: str, max_output: int | None, counted: int
    ) -> Admission:
        out = req.max_tokens or max_output or DEFAULT_OUTPUT
        if self.calibration is None:
            await self._top_up(req, target, counted, out)
            return self._admit(req, target, session, counted, out)
        if self.accounts.shared is None and self.accounts.headroom(session)[0] == math.inf:
            # No limit and no team: nothing to size against, nothing to lease (no await at all);
            # the answer's usage still teaches the calibration.
            adm = self._admit(req, target, session, counted, out)
            adm.sized, adm.counted = Sized(counted, how="counted"), counted
            return adm
        # What the provider will bill, not what detour counted; no await from here to the claim.
        sized = await self.calibration.size(req, target, session, counted, out)
        keep = self.calibration.in_flight_doubt + sized.doubt_usd  # room others' estimates may need
        await self._top_up(req, target, sized.tokens, out, keep)
        keep = self.calibration.in_flight_doubt + sized.doubt_usd
        adm = self._admit(req, target, session, sized.tokens, out, keep)
        adm.sized, adm.counted = sized, counted
        self.calibration.hold(sized)
        return adm

    async def _top_up(self, req: Request, target: Target, prompt: int, out: int, keep: float = 0.0) -> None:
        """Team mode: lease what this attempt may cost from the team, if the local slice lacks it:
        priced as ``_admit`` will reserve it (the prompt at the cache-write price where dearer)."""
        shared = self.accounts.shared
        if shared is None:  # no team: nothing to price twice on every request
            return
        usd = self.prices.usd(target, worst_prompt(req, prompt, out))
        least = self.prices.usd(target, worst_prompt(req, prompt, min(out, MIN_OUTPUT)))
        if usd is not None and least is not None:
            await shared.ensure(usd + keep, least + keep)

    def _admit(
        self, req: Request, target: Target, session: str, prompt: int, out: int, keep: float = 0.0
    ) -> Admission:
        worst = self.prices.require(target, worst_prompt(req, prompt, out))
        try:
            self._keep_room(session, worst, keep)
            return Admission(req, self.accounts.reserve(session, worst), prompt)
        except ApiError as refused:
            clamped = self._affordable(req, target, session, prompt, keep)
            if clamped is None or clamped >= out:
                raise OverBudget(refused) from None
            cost = self.prices.require(target, worst_prompt(req, prompt, clamped))
            try:
                res = self.accounts.reserve(session, cost)
            except ApiError:
                raise OverBudget(refused) from None
            return Admission(dataclasses.replace(req, max_tokens=clamped), res, prompt)

    def _keep_room(self, session: str, worst: float, keep: float) -> None:
        """Refuse a claim that would leave less than ``keep`` unspent."""
        if keep <= 0:
            return
        left, scope = self.accounts.headroom(session)
        if keep > 0 and scope is not None and left - worst < keep:
            raise self.accounts.refusal(scope, session)

    def _affordable(
        self, req: Request, target: Target, session: str, prompt: int, keep: float = 0.0
    ) -> int | None:
        """The most output tokens the money left pays for, if that is a useful answer."""
        left, _ = self.accounts.headroom(session)
        left -= keep
        base = self.prices.require(target, worst_prompt(req, prompt))
        per_token = (self.prices.require(target, worst_prompt(req, prompt, 1_000_000)) - base) / 1e6
        if per_token <= 0 or left <= base:
            return None
        tokens = int((left - base) / per_token)
        return tokens if tokens >= MIN_OUTPUT else None

    def cost(self, target: Target, usage: Usage) -> float:
        return self.prices.usd(target, usage) or 0.0

    def settle(
        self, adm: Admission, target: Target, usage: Usage, *, complete: bool = True, relayed_chars: int = 0
    ) -> float:
        """Settle to the reported usage; for an answer cut short, to what the provider reported
        so far or an estimate of what was relayed, whichever is more.

        Never zero (the prompt was sent) and never the whole reservation by mistake."""
        source = "usage"
        if not complete or (usage.input_tokens == 0 and usage.output_tokens == 0):
            usage = dataclasses.replace(
                usage,
                input_tokens=usage.input_tokens or adm.prompt_tokens,
                output_tokens=max(usage.output_tokens, -(-relayed_chars // 3)),
            )
            source = "estimate"
        usd = self.cost(target, usage)
        self.accounts.settle(adm.reservation, usd, usage, source)
        if self.calibration is not None and adm.sized is not None:
            self.calibration.settled(adm.sized, target, adm.counted, usage if source == "usage" else None)
            adm.sized = None  # once
        if complete:
            self.cache.saw(adm.reservation.session, target, usage)
        return usd

    def failover_delta(self, session: str, primary: Target, served: Target, usage: Usage) -> float | None:
        """What serving from ``served`` cost beyond what ``primary`` would have, its cache included."""
        return failover_delta(self.prices, served, usage, primary, self.cache.cached(session, primary))

    def release(self, adm: Admission) -> None:
        """The provider refused the call (an HTTP error, no connection): it cost nothing."""
        self.accounts.settle(adm.reservation, 0.0, Usage(), "usage")
        if self.calibration is not None and adm.sized is not None:
            self.calibration.release(adm.sized)
            adm.sized = None
