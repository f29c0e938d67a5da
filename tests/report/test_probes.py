"""Synthetic probes: their own cap, their own ledger rows, never a session's spend."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest

from daemon.config import Target
from daemon.ir import Usage
from daemon.ir.tokens import request_tokens
from daemon.report.probe import MAX_TOKENS, SESSION, probe_request
from daemon.server.report import PROBER
from tests.report.test_report_e2e import (
    FALLBACK_PRICE,
    PRIMARY_PRICE,
    get_report,
    mix_world,
    send,
    usd,
    watch,
)
from tests.wait import until

CAP = 0.001
PROBE = f"[probe]\nenabled = false\nevery_s = 3600\ncap_usd_per_day = {CAP}\n"


def worst(price: tuple[float, float], model: str) -> float:
    return (request_tokens(probe_request(model)) * price[0] + MAX_TOKENS * price[1]) / 1e6


async def test_probes_stop_at_their_cap_and_stay_out_of_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    async with mix_world(monkeypatch, PROBE) as w, aiohttp.ClientSession() as http:
        d = w.daemon
        prober = d.runner.app[PROBER]
        seen: list[dict[str, Any]] = []
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch(http, d, seen, ready))
        await ready.wait()
        rounds = [await prober.round() for _ in range(20)]
        assert rounds[-1] == 0  # the cap reached: nothing more is sent
        sent = sum(rounds)
        prim_probes, fb_probes = len(w.prim.received), len(w.fb.received)
        assert prim_probes + fb_probes == sent > 0
        spent = prim_probes * usd(PRIMARY_PRICE) + fb_probes * usd(FALLBACK_PRICE)
        assert spent <= CAP
        # Stopped at the cap: not even the cheapest probe's worst case fits any more.
        assert spent + worst(PRIMARY_PRICE, "m-primary") > CAP
        assert prober.prices.usd(Target("prim", "m-primary"), Usage(12, 7)) == usd(PRIMARY_PRICE)
        assert all(
            r.body.get("max_completion_tokens", r.body.get("max_tokens")) == MAX_TOKENS and r.body["stream"]
            for r in w.prim.received
        )

        assert await send(http, d, 1) == 200  # one user request, answered by the primary
        async with http.get(f"{d.url}/budget", headers=d.auth()) as r:
            budget = await r.json()
        async with http.get(f"{d.url}/status", headers=d.auth()) as r:
            status = await r.json()
        report = await get_report(http, d)
        await until(
            lambda: (
                sum(bool(e.get("probe")) for e in seen) == sent and any(e["type"] == "response" for e in seen)
            ),
            "streamed every probe's event and the request's response",
        )
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    # The budgets saw only the user's request; no session is the probes'.
    assert budget["budgets"]["day"]["spent_usd"] == pytest.approx(usd(PRIMARY_PRICE), abs=1e-9)
    assert all(s["id"] != SESSION for s in status["sessions"])
    assert [s["spent_usd"] for s in status["sessions"]] == [pytest.approx(usd(PRIMARY_PRICE), abs=1e-9)]
    # The report keeps them apart: one request, `sent` probes with their own spend.
    assert report["totals"]["requests"] == 1
    assert report["spend"]["total_usd"] == pytest.approx(usd(PRIMARY_PRICE), abs=1e-9)
    probes = report["probes"]
    assert probes["runs"] == sent and probes["spent_today_usd"] == pytest.approx(spent, abs=1e-9)
    assert probes["cap_usd_per_day"] == CAP
    by_target = {p["target"]: p for p in probes["targets"]}
    assert by_target["prim/m-primary"]["runs"] == prim_probes
    assert by_target["fb/m-fallback"]["runs"] == fb_probes
    assert by_target["prim/m-primary"]["ttft_ms"]["n"] == prim_probes
    # Every probe is an event marked as one.
    probe_events = [e for e in seen if e.get("probe")]
    assert len(probe_events) == sent
    assert all(e["type"] == "attempt" and e["session"] == SESSION for e in probe_events)
    assert [e for e in seen if e["type"] == "response"] and all(
        not e.get("probe") for e in seen if e["type"] == "response"
    )


async def test_probes_run_on_their_schedule_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    enabled = PROBE.replace("enabled = false", "enabled = true")
    async with mix_world(monkeypatch, enabled) as w:
        await until(lambda: w.prim.received and w.fb.received, "probed both targets at start")
        assert len(w.prim.received) == len(w.fb.received) == 1  # the first round, at start
