"""One request through the gateway: client wire -> IR -> provider -> IR -> client wire.

Streams are translated event by event and written as they come; nothing is
buffered whole. Before the first content arrives nothing is sent, so a failure
that early still becomes a proper HTTP error in the client's format.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from daemon.budget.prices import price_usd
from daemon.config import Target
from daemon.formats.base import WireFormat
from daemon.ir import CONTENT_EVENTS, ApiError, Request, StreamEnd, StreamEvent
from daemon.providers import Provider
from daemon.routing.routes import Routes
from daemon.server.guard import presented_token
from daemon.server.sessions import Sessions


@dataclass(slots=True)
class Gateway:
    routes: Routes
    providers: dict[str, Provider]
    sessions: Sessions
    simulated: Provider | None  # set when no real provider has a key: everything goes there

    def pick(self, requested: str) -> tuple[Target, Provider]:
        resolved = self.routes.resolve(requested)
        if self.simulated is not None:
            target = Target(self.simulated.id, resolved.chain[0].model)
            return target, self.simulated
        for target in resolved.chain:
            provider = self.providers[target.provider]
            if provider.usable:
                return target, provider
        missing = ", ".join(sorted({t.provider for t in resolved.chain}))
        raise ApiError(
            503,
            "all_providers_failed",
            f"route {resolved.route!r}: no provider in its chain has a key ({missing}); "
            "run `detour keys set PROVIDER` or set api_key_env in the config",
        )


async def relay(
    request: web.Request,
    gateway: Gateway,
    fmt: WireFormat,
    body: Any,
    *,
    model: str | None = None,
    stream: bool | None = None,
) -> web.StreamResponse:
    req = fmt.decode_request(body, model=model, stream=stream)
    session = gateway.sessions.resolve(
        request.headers.get("x-detour-session"), req.user, presented_token(request) or ""
    )
    target, provider = gateway.pick(req.model)
    headers = {
        "x-detour-provider": provider.id,
        "x-detour-model": target.model,
        "x-detour-attempts": f"{target}:ok",
        "x-detour-session": session,
    }
    if req.stream:
        return await _stream(request, fmt, req, provider.stream(req, target.model), headers)
    resp = await provider.complete(req, target.model)
    cost = price_usd(provider.kind, target.model, resp.usage)
    if cost is not None:
        headers["x-detour-cost-usd"] = f"{cost:.6f}"
    return web.Response(
        body=orjson.dumps(fmt.encode_response(resp, req)), content_type="application/json", headers=headers
    )


async def _stream(
    request: web.Request,
    fmt: WireFormat,
    req: Request,
    events: AsyncIterator[StreamEvent],
    headers: dict[str, str],
) -> web.StreamResponse:
    async with contextlib.aclosing(events):
        held: list[StreamEvent] = []
        async for ev in events:  # errors before content propagate: a clean HTTP error
            held.append(ev)
            if isinstance(ev, CONTENT_EVENTS | StreamEnd):
                break
        out = web.StreamResponse(
            headers={**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await out.prepare(request)
        encoder = fmt.stream_encoder(req)
        chunk = b"".join(encoder.feed(ev) for ev in held)
        if chunk:
            await out.write(chunk)
        try:
            async for ev in events:
                chunk = encoder.feed(ev)
                if chunk:
                    await out.write(chunk)
        except ApiError as err:
            # Content already went out: end with a well-formed error, never a silent truncation.
            await out.write(encoder.error(err))
        await out.write_eof()
        return out
