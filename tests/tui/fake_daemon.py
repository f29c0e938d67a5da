"""A real aiohttp server on 127.0.0.1 that stands in for the daemon's watch endpoints, so
a test can script exactly what the dashboard sees (states, clocks, failures) where the real
daemon would need real traffic; tests/tui/test_app.py also drives the real daemon.

Stands in for (same shapes as daemon/server/observe.py and inbound.py):
  GET /status   shape = telemetry.schema.Status
  GET /events   SSE, one JSON event per data: line
  GET /budget, PUT /budget   same validation

Tests script it: ``emit`` pushes an event to every open feed (``greeting`` to each as it
opens), ``stop``/``start`` on the same port is a daemon restart, ``has_events=False`` is a
daemon built before /events.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, cast

from aiohttp import web

from daemon.telemetry.schema import Event, FailoverEvent, ResponseEvent, Status, TargetStatus

TOKEN = "dtr-fake-token"
NOW = 1_780_000_000.0  # the frozen clock of the tests: 2026-05-28 20:26:40 UTC
RESETS_DAY = "2026-05-29T00:00:00+00:00"
RESETS_WEEK = "2026-06-01T00:00:00+00:00"


def target(provider: str, model: str, **kw: Any) -> TargetStatus:
    t: TargetStatus = {
        "provider": provider, "model": model, "state": "healthy", "cooldown_s": 0.0, "reason": "",
        "p50_ms": 420.0, "p95_ms": 1310.0, "requests": 20, "errors": 0,
    }  # fmt: skip
    t.update(kw)  # type: ignore[typeddict-item]
    return t


def response(id: str, ts: float, **kw: Any) -> ResponseEvent:
    r: ResponseEvent = {
        "ts": ts, "type": "response", "session": "claude-code", "id": id, "route": "coder",
        "target": "anthropic/claude-sonnet-4-5", "status": 200, "error": None,
        "attempts": "anthropic/claude-sonnet-4-5:ok", "tokens_in": 3200, "tokens_out": 410,
        "cost_usd": 0.01575, "latency_ms": 2310.0, "ttft_ms": 640.0,
    }  # fmt: skip
    r.update(kw)  # type: ignore[typeddict-item]
    return r


def failover(id: str, ts: float, **kw: Any) -> FailoverEvent:
    f: FailoverEvent = {
        "ts": ts, "type": "failover", "session": "claude-code", "id": id, "route": "coder",
        "from": "anthropic/claude-sonnet-4-5", "to": "openai/gpt-4.1", "reason": "rate_limited",
        "cost_delta_usd": -0.0041,
    }  # fmt: skip
    f.update(kw)  # type: ignore[typeddict-item]
    return f


def continued(id: str, ts: float, **kw: Any) -> Event:
    """The ``continued`` event (CONTRACT.md): an answer cut mid-stream handed to the next target."""
    c: dict[str, Any] = {
        "ts": ts, "type": "continued", "session": "claude-code", "id": id, "route": "coder",
        "from": "anthropic/claude-sonnet-4-5", "to": "openai/gpt-4.1", "chars": 40, "reason": "connection",
    }  # fmt: skip
    c.update(kw)
    return cast(Event, c)


def sample_status() -> Status:
    """A daemon some minutes into a day: one provider cooling down, one circuit open."""
    return {
        "version": "0.1.0",
        "simulated": True,
        "uptime_s": 600.0,
        "providers": [
            {"id": "anthropic", "kind": "anthropic", "has_key": True, "targets": [
                target("anthropic", "claude-sonnet-4-5", state="cooldown", cooldown_s=42.0,
                       reason="rate_limited (429)", errors=5),
            ]},
            {"id": "openai", "kind": "openai", "has_key": True, "targets": [
                target("openai", "gpt-4.1", p50_ms=380.0, p95_ms=990.0, requests=12),
            ]},
            {"id": "gemini", "kind": "gemini", "has_key": False, "targets": [
                target("gemini", "gemini-2.5-pro", state="open", reason="connection refused",
                       p50_ms=None, p95_ms=None, requests=5, errors=5),
            ]},
        ],
        "budgets": {
            "day": {"spent_usd": 1.25, "limit_usd": 5.0, "remaining_usd": 3.75, "resets_at": RESETS_DAY},
            "week": {"spent_usd": 4.5, "limit_usd": 25.0, "remaining_usd": 20.5, "resets_at": RESETS_WEEK},
        },
        "sessions": [{"id": "claude-code", "spent_usd": 0.4, "requests": 9, "last_ts": NOW - 2}],
        "inflight": [
            {"id": "r9", "route": "coder", "session": "aider", "target": "openai/gpt-4.1",
             "attempts": "anthropic/claude-sonnet-4-5:cooldown", "started_ts": NOW - 1, "stream": True},
        ],
        "recent": [
            response("r1", NOW - 60),
            response("r2", NOW - 30, target="openai/gpt-4.1", cost_usd=0.0097,
                     attempts="anthropic/claude-sonnet-4-5:429,openai/gpt-4.1:ok"),
            response("r3", NOW - 10, target=None, status=402, error="budget_exceeded", cost_usd=0.0,
                     tokens_in=0, tokens_out=0, ttft_ms=None, attempts="anthropic/claude-sonnet-4-5:budget"),
        ],
        "failovers": [failover("r2", NOW - 30)],
    }  # fmt: skip


class FakeDaemon:
    def __init__(self, status: Status | None = None, *, has_events: bool = True, token: str = TOKEN) -> None:
        self.status = status or sample_status()
        self.has_events = has_events
        self.token = token
        self.limits: dict[str, float | None] = {"session": None, "day": 5.0, "week": 25.0}
        self.puts: list[dict[str, Any]] = []
        self.greeting: list[Event] = []  # sent on every feed as it opens
        self.port = 0
        self._feeds: list[asyncio.Queue[Event | None]] = []
        self._runner: web.AppRunner | None = None
        self.connected = asyncio.Event()  # set each time a feed opens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/status", self._status)
        app.router.add_get("/events", self._events)
        app.router.add_get("/budget", self._budget)
        app.router.add_put("/budget", self._put_budget)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Ends every feed (as a daemon going down does) and closes the port."""
        for q in self._feeds:
            q.put_nowait(None)
        self._feeds.clear()
        self.connected.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def emit(self, event: Event) -> None:
        for q in self._feeds:
            q.put_nowait(event)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized(
                text='{"error": {"message": "missing or wrong local token"}}', content_type="application/json"
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def _status(self, request: web.Request) -> web.Response:
        if not self.has_events:
            raise web.HTTPNotFound()  # an older daemon, without /status and /events
        return web.json_response(copy.deepcopy(self.status))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self.has_events:
            raise web.HTTPNotFound()
        q: asyncio.Queue[Event | None] = asyncio.Queue()
        for greeted in self.greeting:
            q.put_nowait(greeted)
        self._feeds.append(q)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b": connected\n\n")
        self.connected.set()
        while (event := await q.get()) is not None:
            await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        return resp

    def _report(self) -> dict[str, Any]:
        budgets = {}
        for scope in ("day", "week"):
            w = dict(self.status["budgets"][scope])
            w["limit_usd"] = self.limits[scope]
            budgets[scope] = w
        return {"budgets": budgets, "top_models_week": []}

    async def _budget(self, request: web.Request) -> web.Response:
        return web.json_response(self._report())

    async def _put_budget(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.puts.append(body)
        names = {"session_usd": "session", "daily_usd": "day", "weekly_usd": "week"}
        for key, value in body.items():
            if key not in names or (value is not None and (not isinstance(value, int | float) or value < 0)):
                raise web.HTTPBadRequest(
                    text=f'{{"error": {{"message": "bad budget field {key}"}}}}',
                    content_type="application/json",
                )
            self.limits[names[key]] = value
        for scope in ("day", "week"):
            self.status["budgets"][scope]["limit_usd"] = self.limits[scope]
        return web.json_response(self._report())
