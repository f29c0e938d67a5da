"""The client-facing endpoints of CONTRACT.md, one per inbound format."""

from __future__ import annotations

import os
from typing import Any

import orjson
from aiohttp import web

from daemon.budget.accounts import LIMIT_FIELDS, Accounts
from daemon.formats.fields import check_depth, json_type
from daemon.formats.registry import FORMATS
from daemon.ir import invalid
from daemon.ir.tokens import request_tokens
from daemon.server.relay import Gateway, relay

GATEWAY = web.AppKey("gateway", Gateway)
ACCOUNTS = web.AppKey("accounts", Accounts)
routes = web.RouteTableDef()


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.RequestPayloadError:  # a body whose Content-Encoding does not decode
        encoding = request.headers.get("Content-Encoding", "none")
        raise invalid(f"request body does not decode as its Content-Encoding ({encoding})") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise invalid(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise invalid(f"request body must be a JSON object, not {type(body).__name__}")
    check_depth(body)
    return body


@routes.post("/v1/chat/completions")
async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await relay(request, request.app[GATEWAY], FORMATS["openai_chat"], await json_body(request))


@routes.post("/v1/messages")
async def messages(request: web.Request) -> web.StreamResponse:
    return await relay(request, request.app[GATEWAY], FORMATS["anthropic"], await json_body(request))


@routes.post("/v1/messages/count_tokens")
async def count_tokens(request: web.Request) -> web.StreamResponse:
    req = FORMATS["anthropic"].decode_request(await json_body(request))
    return web.json_response({"input_tokens": request_tokens(req)}, dumps=_dumps)


@routes.post("/v1beta/models/{tail}")
@routes.post("/v1/models/{tail}")  # google-genai's `api_version="v1"` path; same wire format
async def gemini(request: web.Request) -> web.StreamResponse:
    model, sep, method = request.match_info["tail"].partition(":")
    if not sep or not model:
        raise web.HTTPNotFound(reason="expected /v1beta/models/MODEL:METHOD")
    fmt = FORMATS["gemini"]
    body = await json_body(request)
    if method == "generateContent":
        return await relay(request, request.app[GATEWAY], fmt, body, model=model, stream=False)
    if method == "streamGenerateContent":
        return await relay(request, request.app[GATEWAY], fmt, body, model=model, stream=True)
    if method == "countTokens":
        inner = body.get("generateContentRequest") or body
        if not isinstance(inner, dict):
            raise invalid(f"generateContentRequest: expected an object, got {json_type(inner)}")
        req = fmt.decode_request(inner, model=model, stream=False)
        return web.json_response({"totalTokens": request_tokens(req)}, dumps=_dumps)
    raise web.HTTPNotFound(reason=f"unknown Gemini method {method!r}")


@routes.get("/v1/models")
async def models(request: web.Request) -> web.StreamResponse:
    names = request.app[GATEWAY].routes.names
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "detour"} for n in names]
    return web.json_response({"object": "list", "data": data}, dumps=_dumps)


@routes.get("/v1beta/models")
async def gemini_models(request: web.Request) -> web.StreamResponse:
    names = request.app[GATEWAY].routes.names
    data = [
        {"name": f"models/{n}", "displayName": n, "supportedGenerationMethods": ["generateContent"]}
        for n in names
    ]
    return web.json_response({"models": data}, dumps=_dumps)


@routes.get("/health")
async def health(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"}, dumps=_dumps)


@routes.get("/")
async def root(request: web.Request) -> web.StreamResponse:
    # Claude Code probes `HEAD /` before its first call; any non-5xx answer will do.
    # The PID lets a second daemon on this port say who holds it.
    return web.json_response({"name": "detour", "status": "ok", "pid": os.getpid()}, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@routes.get("/budget")
async def budget_show(request: web.Request) -> web.StreamResponse:
    session = request.query.get("session") or request.headers.get("x-detour-session")
    return web.json_response(await request.app[ACCOUNTS].report(session), dumps=_dumps)


@routes.put("/budget")
async def budget_set(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    names = LIMIT_FIELDS
    unknown = set(body) - set(names)
    if unknown:
        raise invalid(f"unknown budget field {sorted(unknown)[0]!r}; known: {', '.join(names)}")
    limits: dict[str, float | None] = {}
    for key, value in body.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise invalid(f"{key} must be a non-negative number of USD, or null for no limit")
        limits[names[key]] = None if value is None else float(value)
    await request.app[ACCOUNTS].set_limits(**limits)
    return web.json_response(await request.app[ACCOUNTS].report(None), dumps=_dumps)
