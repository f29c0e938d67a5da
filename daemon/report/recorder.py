"""The report's bus listener: turns each request's events into one durable row.

From the ``attempt`` events it learns the chain's first model and why it did
not answer; from ``failover`` the cost delta; from ``continued`` why an answer
was cut; from ``response`` what served, the status, latency, time to first
token and cost, and for a continued answer (its ``continued`` key) what the
continuation cost against retrying the whole answer. The listener only touches
memory; rows reach SQLite in batches from ``run`` on the store's thread.
Probe events (``probe: true``) are skipped: the prober writes its own rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from daemon.report.store import RequestRow, Store
from daemon.telemetry.schema import AttemptEvent, Event, FailoverEvent, ResponseEvent

log = logging.getLogger(__name__)
FLUSH_S = 0.2  # rows gather this long before one commit
OPEN_MAX = 10_000  # requests whose response never came (a bug elsewhere) are forgotten past this


@dataclass(slots=True)
class _Open:
    primary: str | None = None
    failure: str | None = None
    calls: int = 0
    delta: float | None = None
    cut: str | None = None  # the failure kind of a cut the next target continued


class ReportRecorder:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._open: dict[str, _Open] = {}
        self._rows: list[RequestRow] = []
        self._wake = asyncio.Event()

    def __call__(self, event: Event) -> None:
        kind: str = event["type"]
        if kind == "attempt":
            self._attempt(cast(AttemptEvent, event))
        elif kind == "failover":
            ev = cast(FailoverEvent, event)
            self._get(ev["id"]).delta = ev["cost_delta_usd"]
        elif kind == "continued":
            cut = cast(Mapping[str, Any], event)
            self._get(cut["id"]).cut = str(cut["reason"])
        elif kind == "response":
            self._response(cast(ResponseEvent, event))

    def _get(self, rid: str) -> _Open:
        state = self._open.get(rid)
        if state is None:
            if len(self._open) >= OPEN_MAX:
                self._open.pop(next(iter(self._open)))
            state = self._open[rid] = _Open()
        return state

    def _attempt(self, ev: AttemptEvent) -> None:
        if ev.get("probe"):
            return
        state = self._get(ev["id"])
        state.calls += ev["called"]
        if state.primary is None:
            state.primary = ev["target"]
            if not ev["called"]:
                # Passed over without a call (cooling down, circuit open, no key, over budget).
                state.failure = f"{ev['step']} (skipped)"
            elif ev["outcome"] != "ok":
                state.failure = ev["failure"] or ev["step"]

    def _response(self, ev: ResponseEvent) -> None:
        state = self._open.pop(ev["id"], None) or _Open()
        # Read as a mapping: the key is optional and only continued answers carry it.
        cont = cast(Mapping[str, Any], ev).get("continued")
        if cont is not None and state.failure is None:
            # The cut target delivered part of the answer, so its attempt may read as served:
            # the request was still answered despite a failure, which is a recovery.
            state.failure = state.cut or "continued"
        self._rows.append(
            RequestRow(
                id=ev["id"],
                ts=ev["ts"],
                session=ev["session"],
                route=ev["route"],
                primary_target=state.primary,
                served=ev["target"],
                primary_failure=state.failure,
                status=ev["status"],
                error=ev["error"],
                calls=state.calls,
                latency_ms=ev["latency_ms"],
                ttft_ms=ev["ttft_ms"],
                cost_usd=ev["cost_usd"],
                delta_usd=state.delta if state.failure is not None else None,
                cache_saved_usd=ev.get("cache_saved_usd", 0.0),
                continued_chars=None if cont is None else int(cont["chars"]),
                continued_usd=None if cont is None else float(cont["cost_usd"]),
                retry_usd=None if cont is None else float(cont["retry_usd"]),
            )
        )
        self._wake.set()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        try:
            await self._store.insert(rows)
        except Exception as e:
            # The report loses these rows; the requests themselves are unaffected.
            log.error("the recovery report could not record %d requests: %s", len(rows), e)

    async def run(self) -> None:
        """Write rows as they come, a batch at a time, until cancelled (then the rest)."""
        try:
            while True:
                await self._wake.wait()
                await asyncio.sleep(FLUSH_S)
                self._wake.clear()
                await self.flush()
        finally:
            await asyncio.shield(self.flush())
