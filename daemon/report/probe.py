"""Synthetic probes: a small fixed request to every target of every route, on a schedule,
so each fallback path's latency is known before an outage, not only during one.

Opt-in (``[probe] enabled``). Probes call the provider objects directly, never
through the chain: no session, no budget window, no cooldown. Their spend is
their own: each probe's worst case must fit under ``cap_usd_per_day`` beside
what probes already spent today, or the round stops. It is recorded in the
report's table (``probe = 1``), never in the attempts the budgets sum. Each
probe is published as an ``attempt`` event with ``probe: true``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo

from daemon.budget import windows
from daemon.budget.prices import Prices
from daemon.config import ProbeConfig, Target
from daemon.ir import (
    ApiError,
    Message,
    Request,
    StreamEnd,
    StreamStart,
    TextPart,
    Usage,
    UsageUpdate,
    is_content,
)
from daemon.ir.tokens import request_tokens
from daemon.providers.base import Provider
from daemon.report import store
from daemon.report.store import RequestRow, Store
from daemon.routing.failures import classify
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import AttemptEvent

log = logging.getLogger(__name__)
PROMPT = "Reply with the single word: ok"
MAX_TOKENS = 16
SESSION = "probe"  # never a client's session: the budgets never see it
LIMIT_S = 120.0  # a probe that takes longer than this is a timeout, whatever the provider's limits
_ids = itertools.count(1)


def probe_request(model: str) -> Request:
    return Request(
        model=model,
        messages=[Message("user", [TextPart(PROMPT)])],
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        stream=True,
    )


class Prober:
    def __init__(
        self,
        config: ProbeConfig,
        targets: Iterable[tuple[str, Target]],  # (route, target), each target probed once
        providers: dict[str, Provider],
        prices: Prices,
        store: Store,
        bus: Bus,
        tz: tzinfo,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        seen: dict[Target, str] = {}
        for route, t in targets:
            seen.setdefault(t, route)
        self.targets = [(route, t) for t, route in seen.items()]
        self.providers = providers
        self.prices = prices
        self.store = store
        self.bus = bus
        self.tz = tz
        self.clock = clock

    async def spent_today(self) -> float:
        today = windows.day(datetime.fromtimestamp(self.clock(), UTC), self.tz).start.timestamp()
        return await self.store.run(store.probe_spend, self.store.db, today)

    async def round(self) -> int:
        """Probe every target once, in order, while the day's cap allows. Returns probes sent."""
        spent = await self.spent_today()
        sent = 0
        for route, target in self.targets:
            provider = self.providers.get(target.provider)
            if provider is None or not provider.usable:
                continue
            req = probe_request(target.model)
            worst = self.prices.usd(target, Usage(request_tokens(req), MAX_TOKENS))
            if worst is None:
                continue  # an unknown price cannot be kept under a cap
            if spent + worst > self.config.cap_usd_per_day:
                log.info(
                    "probes stopped for today: $%.4f of the $%.2f cap spent",
                    spent,
                    self.config.cap_usd_per_day,
                )
                break
            row = await self._probe(route, target, provider, req)
            spent += row.cost_usd
            await self.store.insert([row])
            sent += 1
        return sent

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("a probe round failed")
            await asyncio.sleep(self.config.every_s)

    async def _probe(self, route: str, target: Target, provider: Provider, req: Request) -> RequestRow:
        started = time.perf_counter()
        ttft: float | None = None
        usage = Usage()
        error: ApiError | None = None
        try:
            async with asyncio.timeout(LIMIT_S):
                async for ev in provider.stream(req, target.model):
                    if ttft is None and is_content(ev):
                        ttft = (time.perf_counter() - started) * 1000
                    if isinstance(ev, StreamStart) and ev.usage is not None:
                        usage = usage.merge(ev.usage)
                    elif isinstance(ev, UsageUpdate | StreamEnd):
                        usage = usage.merge(ev.usage)
        except ApiError as e:
            error = e
        except TimeoutError:
            error = ApiError(504, "timeout", f"no answer within {LIMIT_S:g}s", cause="timeout_first_byte")
        latency = (time.perf_counter() - started) * 1000
        if error is None and usage.input_tokens == 0:
            usage = Usage(request_tokens(req), usage.output_tokens)  # the prompt was sent: it is paid
        cost = self.prices.usd(target, usage) or 0.0
        failure = classify(error) if error is not None else None
        row = RequestRow(
            id=f"probe-{next(_ids)}-{int(self.clock() * 1000)}",
            ts=self.clock(),
            session=SESSION,
            route=route,
            primary_target=str(target),
            served=str(target) if error is None else None,
            primary_failure=str(failure.kind) if failure is not None else None,
            status=200 if error is None else error.status,
            error=error.kind if error is not None else None,
            calls=1,
            latency_ms=round(latency, 3),
            ttft_ms=None if ttft is None else round(ttft, 3),
            cost_usd=round(cost, 9),
            delta_usd=None,
            probe=True,
        )
        self._publish(row, failure.label if failure is not None else "ok", error)
        return row

    def _publish(self, row: RequestRow, step: str, error: ApiError | None) -> None:
        event: AttemptEvent = {
            "ts": row.ts,
            "type": "attempt",
            "session": SESSION,
            "id": row.id,
            "route": row.route,
            "target": row.primary_target or "",
            "outcome": "ok" if error is None else "failed",
            "step": step,
            "failure": row.primary_failure,
            "latency_ms": row.latency_ms,
            "called": True,
            "message": error.message if error is not None else "",
            "probe": True,
            "ttft_ms": row.ttft_ms,
            "cost_usd": row.cost_usd,
        }
        self.bus.publish(event)
