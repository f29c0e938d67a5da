"""The recovery report against a known mix: a real daemon in front of two fake OpenAI
upstreams, faults scripted per request, every figure checked against the script."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.report import html, text
from daemon.report.measures import quantile
from tests.daemon_harness import Daemon, start_daemon
from tests.fakes.base import Answer, Fault, Slow
from tests.fakes.openai_chat import FakeOpenAI
from tests.wait import until

KEY = "sk-proj-REPORTTEST-0123456789"
# USD per million tokens (in, out); the fakes answer 12 in, 7 out.
PRIMARY_PRICE, FALLBACK_PRICE = (1.0, 2.0), (10.0, 20.0)
FIRST_BYTE_S = 0.3
N = 40
RATE_LIMITED = {1, 4, 7, 10, 13, 16, 19, 22, 25, 28}
TIMEOUTS = {30, 34, 38}  # streamed (even): the first-byte limit applies to streams
UNRECOVERED = {33, 39}  # the primary and the fallback both fail
# The primary answers prose where JSON was asked for: paid for, then recovered by the fallback.
INVALID_JSON = {21}
SCHEMA = {
    "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False,
}  # fmt: skip


def usd(price: tuple[float, float]) -> float:
    return (12 * price[0] + 7 * price[1]) / 1e6


def config(prim: FakeOpenAI, fb: FakeOpenAI, probe: str = "") -> str:
    lines = []
    for pid, fake, model, price, extra in (
        ("prim", prim, "m-primary", PRIMARY_PRICE, f"timeout_first_byte_s = {FIRST_BYTE_S}"),
        ("fb", fb, "m-fallback", FALLBACK_PRICE, ""),
    ):
        lines += [
            f"[providers.{pid}]",
            'kind = "openai"',
            f'base_url = "{fake.url}/v1"',
            'api_key_env = "DETOUR_REPORT_KEY"',
            extra,
            f'[providers.{pid}.models."{model}"]',
            f"input_usd_mtok = {price[0]}",
            f"output_usd_mtok = {price[1]}",
            "",
        ]
    # No waiting for a cooled-down model: each request's outcome is what its script says.
    chain = 'chain = ["prim/m-primary", "fb/m-fallback"]'
    lines += ["[[routes]]", 'name = "coder"', chain, "max_wait_s = 0", ""]
    lines += ["[budget]", "daily_usd = 1.0", "", probe]
    return "\n".join(lines)


@dataclass
class Mix:
    daemon: Daemon
    prim: FakeOpenAI
    fb: FakeOpenAI


@contextlib.asynccontextmanager
async def mix_world(monkeypatch: pytest.MonkeyPatch, probe: str = "") -> AsyncIterator[Mix]:
    monkeypatch.setenv("DETOUR_REPORT_KEY", KEY)
    prim, fb = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    daemon = await start_daemon(config(prim, fb, probe))
    try:
        yield Mix(daemon, prim, fb)
    finally:
        await daemon.close()
        await prim.close()
        await fb.close()


def script(w: Mix, i: int) -> None:
    if i in RATE_LIMITED:
        w.prim.script.append(Fault(429, "Rate limit reached", {"retry-after": "0"}))
    elif i in TIMEOUTS:
        w.prim.script.append(Slow(FIRST_BYTE_S + 1.0))
    elif i in UNRECOVERED:
        w.prim.script.append(Fault(500, "boom"))
        w.fb.script.append(Fault(500, "boom too"))
    elif i in INVALID_JSON:
        w.prim.script.append(Answer("Sure! Here is what you asked for."))
        w.fb.script.append(Answer(json={"ok": True}))


async def send(http: aiohttp.ClientSession, d: Daemon, i: int) -> int:
    body: dict[str, Any] = {
        "model": "coder", "messages": [{"role": "user", "content": f"turn {i}"}], "stream": i % 2 == 0,
    }  # fmt: skip
    if i in INVALID_JSON:
        schema = {"name": "verdict", "schema": SCHEMA, "strict": True}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    async with http.post(f"{d.url}/v1/chat/completions", json=body, headers=d.auth()) as r:
        await r.read()
        return r.status


async def watch(
    http: aiohttp.ClientSession, d: Daemon, seen: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with http.get(f"{d.url}/events", headers=d.auth()) as r:
        ready.set()  # the daemon subscribed before it answered: every later event comes
        async for line in r.content:
            if line.startswith(b"data: "):
                seen.append(json.loads(line[6:]))


async def get_report(http: aiohttp.ClientSession, d: Daemon, window: str = "day") -> dict[str, Any]:
    async with http.get(f"{d.url}/report", params={"window": window}, headers=d.auth()) as r:
        assert r.status == 200, await r.text()
        report: dict[str, Any] = await r.json()
        return report


async def run_mix(w: Mix) -> tuple[list[int], list[dict[str, Any]], dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        ready = asyncio.Event()
        watcher = asyncio.create_task(watch(http, w.daemon, seen, ready))
        await ready.wait()
        statuses = []
        for i in range(N):
            script(w, i)
            statuses.append(await send(http, w.daemon, i))
        responses = lambda: sum(e["type"] == "response" for e in seen) == N  # noqa: E731
        await until(responses, "streamed every request's response event")
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        return statuses, seen, await get_report(http, w.daemon)


def dist_of(xs: list[float]) -> dict[str, float]:
    data = sorted(xs)
    return {k: round(quantile(data, q), 3) for k, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}


async def test_every_figure_matches_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    async with mix_world(monkeypatch) as w:
        statuses, events, report = await run_mix(w)

    assert statuses == [503 if i in UNRECOVERED else 200 for i in range(N)]
    recovered = len(RATE_LIMITED) + len(TIMEOUTS) + len(INVALID_JSON)
    primary_ok = N - recovered - len(UNRECOVERED)
    delta = round(usd(FALLBACK_PRICE) - usd(PRIMARY_PRICE), 9)
    served_usd = primary_ok * usd(PRIMARY_PRICE) + recovered * usd(FALLBACK_PRICE)

    totals = report["totals"]
    assert totals["requests"] == N
    assert totals["primary_failures"] == recovered + len(UNRECOVERED)
    assert totals["recovered"] == recovered
    assert totals["unrecovered"] == len(UNRECOVERED)
    assert totals["recovery_share"] == round(recovered / (recovered + len(UNRECOVERED)), 4)
    # No route here continues a cut: none of its recoveries is a continuation.
    assert totals["continued"] == 0 and [f.pop("continued") for f in totals["by_failure"]] == [0] * 4
    assert totals["by_failure"] == [
        {"failure": "rate_limited", "seen": len(RATE_LIMITED), "recovered": len(RATE_LIMITED), "failed": 0},
        {"failure": "timeout", "seen": len(TIMEOUTS), "recovered": len(TIMEOUTS), "failed": 0},
        {"failure": "server_error", "seen": len(UNRECOVERED), "recovered": 0, "failed": len(UNRECOVERED)},
        {"failure": "invalid_json", "seen": len(INVALID_JSON), "recovered": len(INVALID_JSON), "failed": 0},
    ]
    assert totals["extra_usd"] == pytest.approx(recovered * delta, abs=1e-9)
    assert totals["cost_per_recovery_usd"] == pytest.approx(delta, abs=1e-9)
    assert totals["served_usd"] == pytest.approx(served_usd, abs=1e-9)
    # Failures before an answer were released unpaid; the prose the primary answered was paid,
    # and so was each prompt the primary took and left unanswered past the first-byte limit.
    paid_for_nothing = len(INVALID_JSON) * usd(PRIMARY_PRICE) + len(TIMEOUTS) * 12 * PRIMARY_PRICE[0] / 1e6
    assert totals["failed_attempts_usd"] == pytest.approx(paid_for_nothing, abs=1e-9)

    (route,) = report["routes"]
    assert route["route"] == "coder"
    assert {k: route[k] for k in ("requests", "recovered", "unrecovered")} == {
        "requests": N, "recovered": recovered, "unrecovered": len(UNRECOVERED),
    }  # fmt: skip

    responses = {e["id"]: e for e in events if e["type"] == "response"}
    assert len(responses) == N
    direct, failover = route["paths"]
    streamed = {i for i in range(N) if i % 2 == 0}
    for path, served, n, failures in (
        (direct, "prim/m-primary", primary_ok, set()),
        (failover, "fb/m-fallback", recovered, RATE_LIMITED | TIMEOUTS | INVALID_JSON),
    ):
        assert (path["primary"], path["served"], path["requests"], path["ok"]) == (
            "prim/m-primary",
            served,
            n,
            n,
        )
        assert path["recovered"] == len(failures)
        ours = [e for e in responses.values() if e["target"] == served]
        assert path["latency_ms"]["n"] == n == len(ours)
        assert {k: path["latency_ms"][k] for k in ("p50", "p95", "p99")} == dist_of(
            [e["latency_ms"] for e in ours]
        )
        ttfts = [e["ttft_ms"] for e in ours if e["ttft_ms"] is not None]
        took_path = failures or set(range(N)) - RATE_LIMITED - TIMEOUTS - UNRECOVERED - INVALID_JSON
        expected_streams = len(streamed & took_path)
        assert path["ttft_ms"]["n"] == len(ttfts) == expected_streams
        assert {k: path["ttft_ms"][k] for k in ("p50", "p95", "p99")} == dist_of(ttfts)
    # The timeouts waited out the first-byte limit: the failover path's tail shows it.
    assert failover["latency_ms"]["max"] >= FIRST_BYTE_S * 1000
    assert failover["latency_ms"]["p50"] < FIRST_BYTE_S * 1000
    assert direct["latency_ms"]["max"] < FIRST_BYTE_S * 1000

    spend = report["spend"]
    assert spend["daily_limit_usd"] == 1.0
    assert spend["days"][-1]["usd"] == pytest.approx(served_usd + paid_for_nothing, abs=1e-9)
    assert spend["total_usd"] == pytest.approx(served_usd + paid_for_nothing, abs=1e-9)
    assert spend["days_over_limit"] == 0
    assert report["probes"]["runs"] == 0 and report["probes"]["enabled"] is False


async def test_a_bad_window_is_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    async with mix_world(monkeypatch) as w, aiohttp.ClientSession() as http:
        d = w.daemon
        async with http.get(f"{d.url}/report", params={"window": "fortnight"}, headers=d.auth()) as r:
            assert r.status == 400
            assert "YYYY-MM-DD" in (await r.json())["error"]["message"]
        report = await get_report(http, d, "2026-01-01..2026-01-03")
        assert [day["date"] for day in report["spend"]["days"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]


async def test_the_report_renders_as_text_and_html(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async with mix_world(monkeypatch) as w:
        _, _, report = await run_mix(w)
    table = text.render(report)
    assert "rate_limited" in table and "server_error" in table
    assert re.search(r"rate_limited\s+10\s+10\s+0", table)
    assert re.search(r"prim/m-primary -> fb/m-fallback\s+14\s+14", table)
    assert "recovered 14 (87.5%)   still failed 2" in table
    page = html.page(report)
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert page.count("<svg") == page.count("</svg>") == 3  # the matrix, the distributions, the spend
    assert "prim/m-primary → fb/m-fallback" not in page  # paths are named one way everywhere
    assert "coder: prim/m-primary -&gt; fb/m-fallback" in page
