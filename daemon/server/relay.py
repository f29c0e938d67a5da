"""One request through the gateway: client wire -> IR -> provider -> IR -> client wire.

Streams are translated event by event and written as they come; nothing is
buffered whole. The chain holds a stream back until its first content, so a
failure that early fails over invisibly; one after it ends the client's stream
with a well-formed error event in the client's format.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from daemon.config import Target
from daemon.formats.base import WireFormat
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Request,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    Usage,
    UsageUpdate,
)
from daemon.providers import Provider
from daemon.routing import reasoning
from daemon.routing.chain import Chain, LiveStream, Served
from daemon.routing.failures import classify
from daemon.routing.routes import Resolved, Routes
from daemon.server.guard import presented_token
from daemon.server.sessions import Sessions
from daemon.telemetry.trace import CLIENT_GONE, Telemetry, Trace


@dataclass(slots=True)
class Gateway:
    routes: Routes
    chain: Chain
    sessions: Sessions
    simulated: Provider | None  # set when no real provider has a key: everything goes there
    telemetry: Telemetry

    def resolve(self, requested: str) -> Resolved:
        resolved = self.routes.resolve(requested)
        # The simulated provider stands in for real ones that have no key; a chain of simulated
        # providers only (``detour demo``) is walked as written, scripted faults and all.
        if self.simulated is not None and not self._all_simulated(resolved):
            sim = self.simulated.id
            return Resolved(resolved.route, tuple(Target(sim, t.model) for t in resolved.chain[:1]))
        return resolved

    def _all_simulated(self, resolved: Resolved) -> bool:
        providers = self.chain.providers
        return bool(resolved.chain) and all(
            t.provider in providers and providers[t.provider].kind == "sim" for t in resolved.chain
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
    req = reasoning.from_client(fmt.decode_request(body, model=model, stream=stream))
    session = gateway.sessions.resolve(
        request.headers.get("x-detour-session"), req.user, presented_token(request) or ""
    )
    resolved = gateway.resolve(req.model)
    tel = gateway.telemetry
    trace = tel.begin(
        session=session,
        route=resolved.route,
        fmt=fmt.name,
        requested=req.model,
        stream=req.stream,
        primary=resolved.chain[0] if resolved.chain else None,
        content=body,
    )
    try:
        if req.stream:
            live = await gateway.chain.stream(req, resolved, session)
            return await _stream(request, gateway, fmt, req, live, _headers(live.served, session), trace)
        resp, served = await gateway.chain.complete(req, resolved, session)
        headers = _headers(served, session)
        if served.cost_usd is not None:
            headers["x-detour-cost-usd"] = f"{served.cost_usd:.6f}"
        reasoning.to_client(resp, fmt.name, served.provider.format_name)
        answer = fmt.encode_response(resp, req)
        tel.finish(trace, target=served.target, usage=resp.usage, cost_usd=served.cost_usd, content=answer)
        return web.Response(body=orjson.dumps(answer), content_type="application/json", headers=headers)
    except ApiError as err:
        tel.finish(trace, target=None, error=err)
        raise
    except Exception:
        tel.finish(trace, target=None, error=ApiError(500, "server_error", "detour hit an internal error"))
        raise
    finally:
        # Cancelled (the client went away): the request still ends in the events (no-op if it did).
        tel.finish(trace, target=None, status=CLIENT_GONE)


def _headers(served: Served, session: str) -> dict[str, str]:
    headers = {
        "x-detour-provider": served.provider.id,
        "x-detour-model": served.target.model,
        "x-detour-attempts": ",".join(str(a) for a in served.attempts),
        "x-detour-session": session,
    }
    if served.request.adapted:
        headers["x-detour-adapted"] = "; ".join(served.request.adapted)
    return headers


async def _stream(
    request: web.Request,
    gateway: Gateway,
    fmt: WireFormat,
    req: Request,
    live: LiveStream,
    headers: dict[str, str],
    trace: Trace,
) -> web.StreamResponse:
    served = live.served
    meter = Meter()
    failed: ApiError | None = None
    status = CLIENT_GONE
    try:
        async with contextlib.aclosing(live.rest):  # type: ignore[type-var]
            out = web.StreamResponse(
                headers={**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
            )
            await out.prepare(request)
            encoder = fmt.stream_encoder(req)
            theirs = served.provider.format_name
            for ev in live.held:
                meter.feed(ev)
            chunk = b"".join(
                encoder.feed(reasoning.to_client_event(ev, fmt.name, theirs)) for ev in live.held
            )
            if chunk:
                await out.write(chunk)
                trace.first_byte()
            try:
                async for ev in live.rest:
                    meter.feed(ev)
                    chunk = encoder.feed(reasoning.to_client_event(ev, fmt.name, theirs))
                    if chunk:
                        await out.write(chunk)
                        trace.first_byte()
            except ApiError as err:
                # Content already went out: end with a well-formed error, never a silent truncation.
                gateway.chain.health.failure(served.target, classify(err))
                failed = err
                await out.write(encoder.error(err))
            await out.write_eof()
            status = 200 if failed is None else failed.status
            return out
    finally:
        # However it ended (finished, cut, client gone), the attempt is paid for exactly once.
        spend = gateway.chain.spend
        cost = None
        if spend is not None and served.admission is not None:
            cost = spend.settle(
                served.admission,
                served.target,
                meter.usage,
                complete=meter.complete,
                relayed_chars=meter.chars,
            )
        gateway.telemetry.finish(
            trace, target=served.target, usage=meter.usage, cost_usd=cost, error=failed, status=status
        )


class Meter:
    """What a stream has reported and relayed so far, to settle its cost however it ends."""

    __slots__ = ("usage", "chars", "complete")

    def __init__(self) -> None:
        self.usage = Usage()
        self.chars = 0
        self.complete = False

    def feed(self, ev: StreamEvent) -> None:
        match ev:
            case TextDelta() | ThinkingDelta():
                self.chars += len(ev.text)
            case ArgumentsDelta():
                self.chars += len(ev.fragment)
            case StreamStart() if ev.usage is not None:
                self.usage = self.usage.merge(ev.usage)
            case UsageUpdate():
                self.usage = self.usage.merge(ev.usage)
            case StreamEnd():
                self.usage = self.usage.merge(ev.usage)
                self.complete = True
