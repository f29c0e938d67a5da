"""Prometheus metrics, counted from the bus into a registry of the app's own.

Like TensorZero's gateway, detour publishes its own overhead: the time a
request spent in detour rather than waiting on a provider.

A request's counts only add to a plain dict (amounts summed per counter and
label set): prometheus_client takes a lock on every ``inc``, six a request, and
two more a histogram observation. Histograms are counted the same way, a bucket
index found by bisection and a sum per label set. The registry gets the sums
when ``/metrics`` is read; the dicts hold one entry a label set, so they stay
small however long no one reads them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from daemon.telemetry.schema import (
    AlertEvent,
    AttemptEvent,
    Event,
    FailoverEvent,
    RequestEvent,
    ResponseEvent,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
OVERHEAD_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class Metrics:
    """A bus listener; ``exposition()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "detour_requests", "Client requests by route, inbound format and status.",
            ["route", "format", "status"], registry=r,
        )  # fmt: skip
        self.attempts = Counter(
            "detour_attempts", "Chain attempts by provider, model, outcome and failure class.",
            ["provider", "model", "outcome", "failure"], registry=r,
        )  # fmt: skip
        self.failovers = Counter(
            "detour_failovers", "Moves from one model to the next.", ["from", "to", "reason"], registry=r
        )
        self.tokens = Counter(
            "detour_tokens", "Tokens by the model that answered, in and out.", ["model", "direction"],
            registry=r,
        )  # fmt: skip
        self.cost = Counter("detour_cost_usd", "USD spent by the model that answered.", ["model"], registry=r)
        self.alerts = Counter(
            "detour_alerts", "Alerts by condition and state.", ["condition", "state"], registry=r
        )
        self.latency = Histogram(
            "detour_request_latency_seconds", "Whole request, arrival to last byte.", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "detour_ttft_seconds", "Streams: arrival to the first content sent to the client.", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.overhead = Histogram(
            "detour_overhead_seconds",
            "Time spent in detour, not waiting on providers (to the first byte for streams).",
            buckets=OVERHEAD_BUCKETS, registry=r,
        )  # fmt: skip
        # Per request in flight: its inbound format, and time spent in upstream calls so far.
        self._format: dict[str, str] = {}
        self._upstream_ms: dict[str, float] = {}
        self._children: dict[tuple[object, ...], Any] = {}
        # Not yet in the registry: amounts per (counter, *labels); per (histogram, *labels),
        # the sum observed and the count a bucket (the last one +Inf).
        self._counts: dict[tuple[Any, ...], float] = {}
        self._observed: dict[tuple[Any, ...], tuple[list[float], list[int]]] = {}
        self._bounds = {h: (*b, float("inf")) for h, b in ((self.latency, LATENCY_BUCKETS),
                        (self.ttft, LATENCY_BUCKETS), (self.overhead, OVERHEAD_BUCKETS))}  # fmt: skip

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: labels() validates and locks on every call."""
        if not labels:
            return metric  # a metric without labels is its own child
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _inc(self, key: tuple[Any, ...], amount: float = 1.0) -> None:
        self._counts[key] = self._counts.get(key, 0.0) + amount

    def _observe(self, key: tuple[Any, ...], value: float) -> None:
        """``histogram.labels(*labels).observe(value)``, for ``key`` (histogram, *labels)."""
        seen = self._observed.get(key)
        if seen is None:
            seen = self._observed[key] = ([0.0], [0] * len(self._bounds[key[0]]))
        seen[0][0] += value
        seen[1][bisect_left(self._bounds[key[0]], value)] += 1  # the first bucket with value <= le

    def _apply(self) -> None:
        """Put the counts the events added since the last time into the registry."""
        counts, self._counts = self._counts, {}
        for key, amount in counts.items():
            self._child(*key).inc(amount)
        observed, self._observed = self._observed, {}
        for key, (total, buckets) in observed.items():
            # What Histogram.observe does, a bucket's worth at a time (prometheus_client 0.2x).
            child = self._child(*key)
            child._sum.inc(total[0])
            for i, n in enumerate(buckets):
                if n:
                    child._buckets[i].inc(n)

    def exposition(self) -> bytes:
        self._apply()
        return generate_latest(self.registry)

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == "attempt":
            a = cast(AttemptEvent, event)
            provider, _, model = a["target"].partition("/")
            self._inc((self.attempts, provider, model, a["outcome"], a["failure"] or ""))
            if a["called"]:
                self._upstream_ms[a["id"]] = self._upstream_ms.get(a["id"], 0.0) + a["latency_ms"]
        elif kind == "request":
            r = cast(RequestEvent, event)
            self._format[r["id"]] = r["format"]
        elif kind == "response":
            self._response(cast(ResponseEvent, event))
        elif kind == "failover":
            f = cast(FailoverEvent, event)
            self._inc((self.failovers, f["from"], f["to"], f["reason"]))
        elif kind == "alert":
            al = cast(AlertEvent, event)
            self.alerts.labels(al["condition"], al["state"]).inc()

    def _response(self, ev: ResponseEvent) -> None:
        fmt = self._format.pop(ev["id"], "")
        upstream_ms = self._upstream_ms.pop(ev["id"], 0.0)
        route = ev["route"]
        self._inc((self.requests, route, fmt, str(ev["status"])))
        self._observe((self.latency, route), ev["latency_ms"] / 1000)
        if ev["ttft_ms"] is not None:
            self._observe((self.ttft, route), ev["ttft_ms"] / 1000)
        if ev["target"] is not None:
            model = ev["target"]
            self._inc((self.tokens, model, "in"), ev["tokens_in"])
            self._inc((self.tokens, model, "out"), ev["tokens_out"])
            self._inc((self.cost, model), ev["cost_usd"])
            until = ev["ttft_ms"] if ev["ttft_ms"] is not None else ev["latency_ms"]
            self._observe((self.overhead,), max(0.0, until - upstream_ms) / 1000)
