"""The ``/providers`` endpoints the tray (or a script) uses: pause and resume a provider in every route."""

from __future__ import annotations

import orjson
from aiohttp import web

from daemon.ir import ApiError
from daemon.routing.pause import Paused
from daemon.server.inbound import GATEWAY

PAUSED = web.AppKey("paused", Paused)
routes = web.RouteTableDef()


@routes.post("/providers/{id}/pause")
async def pause(request: web.Request) -> web.StreamResponse:
    return await _set(request, True)


@routes.post("/providers/{id}/resume")
async def resume(request: web.Request) -> web.StreamResponse:
    return await _set(request, False)


async def _set(request: web.Request, paused: bool) -> web.StreamResponse:
    pid = request.match_info["id"]
    providers = request.app[GATEWAY].chain.providers
    if pid not in providers:
        raise ApiError(404, "not_found", f"no provider {pid!r}; configured: {', '.join(providers)}")
    state = request.app[PAUSED]
    await state.set(pid, paused)
    body = {"id": pid, "paused": paused, "all_paused": list(state)}
    return web.Response(body=orjson.dumps(body), content_type="application/json")
