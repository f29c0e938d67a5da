"""Ollama's model discovery, for IDEs whose only local option is an "Ollama" provider.

With ``[server] ollama_compat = true`` detour answers ``GET /api/tags``, ``POST
/api/show`` and ``GET /api/version`` in the shapes of Ollama's API docs, listing
the route names as models, and those clients' keyless ``/v1/chat/completions``
calls are taken from loopback peers (they send no API key). Off by default:
anything on this machine could then spend through detour without the token.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from daemon.server.inbound import GATEWAY
from daemon.server.relay import Gateway

# The Ollama release whose API these shapes follow; clients check for a minimum version.
OLLAMA_API_VERSION = "0.12.0"
DEFAULT_CONTEXT = 128_000  # when no model of a route has a known window
KEYLESS = frozenset({"/api/tags", "/api/show", "/api/version", "/v1/chat/completions"})
BANNER = (
    "\n%s\n  OLLAMA COMPATIBILITY IS ON ([server] ollama_compat = true): /api/tags, /api/show and\n"
    "  /api/version answer, and /v1/chat/completions takes calls WITHOUT the token from this\n"
    "  machine. Any local program can spend through detour. Turn it off when no IDE needs it.\n%s"
)
routes = web.RouteTableDef()
_STARTED = datetime.now(UTC).isoformat()


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "detour",
        "family": "detour",
        "families": ["detour"],
        "parameter_size": "",
        "quantization_level": "",
    }


@routes.get("/api/version")
async def version(request: web.Request) -> web.StreamResponse:
    return _json({"version": OLLAMA_API_VERSION})


@routes.get("/api/tags")
async def tags(request: web.Request) -> web.StreamResponse:
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": _STARTED,
            "size": 0,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": _details(),
        }
        for name in request.app[GATEWAY].routes.names
    ]
    return _json({"models": models})


@routes.post("/api/show")
async def show(request: web.Request) -> web.StreamResponse:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    name = body.get("model") or body.get("name") if isinstance(body, dict) else None
    gateway = request.app[GATEWAY]
    if not isinstance(name, str) or name.removesuffix(":latest") not in gateway.routes.names:
        # Ollama's own 404 shape: {"error": "..."}.
        found = f"model '{name}' not found; detour's routes: {', '.join(gateway.routes.names)}"
        return web.Response(status=404, body=orjson.dumps({"error": found}), content_type="application/json")
    context = context_length(gateway, name.removesuffix(":latest"))
    return _json(
        {
            "modelfile": "",
            "parameters": "",
            "template": "",
            "details": _details(),
            "model_info": {
                "general.architecture": "detour",
                "general.basename": name,
                "detour.context_length": context,
            },
            "capabilities": ["completion", "tools"],
            "modified_at": _STARTED,
        }
    )


def context_length(gateway: Gateway, route: str) -> int:
    """The smallest known window of the route's models: what every fallback can hold."""
    windows = []
    for target in gateway.routes.resolve(route).chain:
        provider = gateway.chain.providers.get(target.provider)
        if provider is not None:
            window = provider.profile(target.model).context_window
            if window:
                windows.append(window)
    return min(windows, default=DEFAULT_CONTEXT)
