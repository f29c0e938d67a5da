"""Watching the daemon: ``/status`` (JSON), ``/events`` (Server-Sent Events), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import cast

import orjson
from aiohttp import web

from daemon.server.context import PROJECTS
from daemon.server.inbound import ACCOUNTS, GATEWAY
from daemon.telemetry.bus import Bus
from daemon.telemetry.metrics import CONTENT_TYPE, Metrics
from daemon.telemetry.notify import Notifier
from daemon.telemetry.schema import ProjectStatus
from daemon.telemetry.status import Recorder, status

BUS = web.AppKey("bus", Bus)
RECORDER = web.AppKey("recorder", Recorder)
METRICS = web.AppKey("metrics", Metrics)
NOTIFIER = web.AppKey("notifier", Notifier)
HEARTBEAT_S = 15.0  # a comment line this often, so a vanished client is noticed
BATCH_S = 0.1  # a watcher sees events at most this late; a screen needs no fresher
routes = web.RouteTableDef()

try:
    VERSION = importlib.metadata.version("detour-gateway")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    bus = request.app[BUS]
    sub = bus.subscribe()
    # A tray icon (`?notify=desktop`) shows the alerts itself while it watches: the daemon,
    # often a service outside the desktop session, then sends none of its own.
    notifier = request.app[NOTIFIER] if request.query.get("notify") == "desktop" else None
    if notifier is not None:
        notifier.trays += 1
    out = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
    )
    try:
        await out.prepare(request)
        await out.write(b": detour events\n\n")
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    frame = await sub.get()
            except TimeoutError:
                await out.write(b": keep-alive\n\n")
                continue
            if frame is None:
                break
            # Gather what follows for a moment: one write per batch, not per event, keeps
            # watchers off the requests' backs.
            await asyncio.sleep(BATCH_S)
            frames = [frame.sse()]
            while (frame := sub.get_nowait()) is not None:
                frames.append(frame.sse())
            await out.write(b"".join(frames))
    except ConnectionResetError:
        pass  # the watcher went away
    finally:
        bus.unsubscribe(sub)
        if notifier is not None:
            notifier.trays -= 1
    return out


@routes.get("/status")
async def status_json(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    body = status(
        version=VERSION,
        recorder=request.app[RECORDER],
        providers=gateway.chain.providers,
        health=gateway.chain.health,
        accounts=request.app[ACCOUNTS],
        session=request.query.get("session") or request.headers.get("x-detour-session"),
        simulated=gateway.simulated is not None,
        paused=gateway.chain.paused,
    )
    if PROJECTS in request.app:
        body["projects"] = cast(list[ProjectStatus], request.app[PROJECTS].states())
    return web.Response(body=orjson.dumps(body), content_type="application/json")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    return web.Response(body=request.app[METRICS].exposition(), headers={"Content-Type": CONTENT_TYPE})
