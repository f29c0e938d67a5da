"""Metrics counted from the events: what /metrics shows is what prometheus_client's own
calls would have made of the same events."""

from __future__ import annotations

import random

from daemon.telemetry.metrics import Metrics
from daemon.telemetry.schema import ResponseEvent


def response(i: int, route: str, latency_ms: float, ttft_ms: float | None) -> ResponseEvent:
    return {
        "ts": 0.0, "type": "response", "session": "s", "id": f"r{i}", "route": route,
        "target": "up/m", "status": 200, "error": None, "attempts": "up/m:ok", "tokens_in": 3,
        "tokens_out": 5, "cost_usd": 0.001, "latency_ms": latency_ms, "ttft_ms": ttft_ms,
    }  # fmt: skip


def lines(m: Metrics) -> list[str]:
    text = m.exposition().decode()
    # Sums are added in another order: equal to float rounding, so compared rounded.
    out = []
    for line in text.splitlines():
        if line.startswith("#") or "_created" in line:
            continue
        name, value = line.rsplit(" ", 1)
        out.append(f"{name} {float(value):.9g}")
    return out


def test_histograms_counted_in_buckets_expose_what_observe_would() -> None:
    rng = random.Random(7)
    counted, observed = Metrics(), Metrics()
    for i in range(400):
        route = rng.choice(["coder", "fast"])
        # Every bucket, the edges themselves (le is inclusive) and past the last one.
        latency = rng.choice([0.0, 0.05, 0.1, 300.0, 301.0, rng.uniform(0, 400)]) * 1000
        ttft = None if i % 3 else latency / 2
        counted(response(i, route, latency, ttft))
        observed._inc((observed.requests, route, "", "200"))
        observed._inc((observed.tokens, "up/m", "in"), 3)
        observed._inc((observed.tokens, "up/m", "out"), 5)
        observed._inc((observed.cost, "up/m"), 0.001)
        observed.latency.labels(route).observe(latency / 1000)
        if ttft is not None:
            observed.ttft.labels(route).observe(ttft / 1000)
        observed.overhead.observe((ttft if ttft is not None else latency) / 1000)
        if i == 200:  # a scrape halfway: what came before is in the registry, the rest adds to it
            assert lines(counted) == lines(observed)
    assert lines(counted) == lines(observed)
    assert any(line.startswith('detour_request_latency_seconds_bucket{le="+Inf"') for line in lines(counted))
