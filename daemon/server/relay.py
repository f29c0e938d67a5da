"""One request through the gateway: client wire -> IR -> provider -> IR -> client wire.

Every upstream call is a stream (``routing.chain``). For a streaming client,
events are translated one by one and written as they come; the chain holds
them back until the first content, so a failure that early fails over
invisibly, and one after it ends the client's stream with a well-formed error
event in the client's format. For a client that wants one body, the chain
holds the whole stream and the relay assembles it (``ir.StreamAssembler``):
one path for both. The relay ends the chain's lease once, however the answer
ended, which settles its cost and tells health.
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from daemon.config import Target
from daemon.formats.base import WireFormat
from daemon.ir import ApiError, Request, StreamAssembler, invalid
from daemon.ir import stream as stream_ir
from daemon.providers import Provider, reasoning
from daemon.routing.chain import Chain, Lease, Meter, Walk
from daemon.routing.routes import Resolved, Routes
from daemon.server.coalesce import next_event
from daemon.server.drain import cuttable
from daemon.server.guard import presented_token
from daemon.server.sessions import Sessions
from daemon.telemetry.trace import CLIENT_GONE, Telemetry, Trace

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Frames written together at most: a stream that never waits still reaches the client in steps.
MAX_PENDING = 64


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
            chain = tuple(Target(sim, t.model) for t in resolved.chain[:1])
            return Resolved(resolved.route, chain, resolved.settings)
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
    if _CONTROL.search(req.model):
        # It would reach an upstream's URL or headers, and the event log, as it is.
        raise invalid(f"model name {req.model!r} contains control characters")
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
    walk = Walk(functools.partial(tel.attempt, trace), functools.partial(tel.continued, trace))
    try:
        lease = await gateway.chain.open(
            req, resolved, session, whole=not req.stream, deadline_s=client_deadline(request), walk=walk
        )
        if lease.adapted:
            tel.adapted(trace, lease.target, lease.adapted)
        if req.stream:
            return await _stream(request, gateway, fmt, req, lease, trace)
        return _whole(gateway, fmt, req, lease, session, trace)
    except ApiError as err:
        tel.finish(trace, walk, target=None, error=err)
        raise
    except Exception:
        error = ApiError(500, "server_error", "detour hit an internal error")
        tel.finish(trace, walk, target=None, error=error)
        raise
    finally:
        # Cancelled (the client went away): the request still ends in the events (no-op if it did).
        tel.finish(trace, walk, target=None, status=CLIENT_GONE)


def client_deadline(request: web.Request) -> float | None:
    """Seconds the client said it will wait, where its SDK says (the OpenAI and Anthropic
    SDKs send ``x-stainless-timeout``; google-genai ``x-server-timeout``)."""
    for name in ("x-stainless-timeout", "x-server-timeout"):
        raw = request.headers.get(name)
        if raw:
            try:
                value = float(raw)
            except ValueError:
                continue
            if value > 0:
                return value
    return None


def _headers(lease: Lease, session: str) -> dict[str, str]:
    headers = {
        "x-detour-provider": lease.provider.id,
        "x-detour-model": lease.target.model,
        "x-detour-attempts": ",".join(str(a) for a in lease.attempts),
        "x-detour-session": session,
    }
    if lease.adapted:
        headers["x-detour-adapted"] = "; ".join(lease.adapted)
    return headers


def _whole(
    gateway: Gateway, fmt: WireFormat, req: Request, lease: Lease, session: str, trace: Trace
) -> web.Response:
    """The answer the walk held whole, assembled from its stream and encoded as one body."""
    assembler = StreamAssembler()
    for ev in lease.held:
        assembler.feed(ev)
    try:
        resp = reasoning.to_client(assembler.response(), fmt.name, lease.provider.format_name)
    except BaseException:
        # Not the target's doing: it is paid, and health hears nothing of it (a probe is freed).
        lease.finish(assembler.usage, complete=False)
        raise
    cost = lease.finish(resp.usage)
    headers = _headers(lease, session)
    if cost is not None:
        headers["x-detour-cost-usd"] = f"{cost:.6f}"
    answer = fmt.encode_response(resp, req)
    gateway.telemetry.finish(
        trace,
        lease.attempts,
        target=lease.target,
        usage=resp.usage,
        cost_usd=cost,
        content=answer,
        continued=lease.continued,
    )
    return web.Response(body=orjson.dumps(answer), content_type="application/json", headers=headers)


async def _stream(
    request: web.Request,
    gateway: Gateway,
    fmt: WireFormat,
    req: Request,
    lease: Lease,
    trace: Trace,
) -> web.StreamResponse:
    meter = Meter()
    failed: ApiError | None = None
    status = CLIENT_GONE
    for ev in lease.held:  # received, so paid, even if the client is gone before they go out
        meter.feed(ev)
    try:
        async with contextlib.aclosing(lease.rest):  # type: ignore[type-var]
            headers = _headers(lease, trace.session)
            out = web.StreamResponse(
                headers={**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
            )
            try:
                await out.prepare(request)
            except ConnectionResetError:  # the client left while the answer was on its way
                return out
            encoder = fmt.stream_encoder(req)
            ours = fmt.name
            # Frames of the client's own format may go as they came; a continuation's never do
            # (the stitch passes them through ``fresh``).
            encoder.verbatim = ours == lease.provider.format_name and stream_ir.ORIGINAL_BYTES
            pending: list[bytes] = []  # encoded, not written yet: frames ready together

            async def flush() -> None:
                if pending:
                    data = b"".join(pending)
                    pending.clear()
                    await out.write(data)
                    if trace.ttft_ms is None:
                        trace.first_byte()

            for ev in lease.held:  # already in the meter
                pending.append(encoder.feed(reasoning.to_client_event(ev, ours, lease.provider.format_name)))
            events = cuttable(request, lease.rest)
            try:
                while True:
                    try:
                        ev = await next_event(events, flush)  # flushes when the upstream makes it wait
                    except StopAsyncIteration:
                        break
                    meter.feed(ev)
                    # A continued answer's events are the continuing provider's (``lease.provider``).
                    chunk = encoder.feed(reasoning.to_client_event(ev, ours, lease.provider.format_name))
                    if chunk:
                        pending.append(chunk)
                        if len(pending) >= MAX_PENDING:
                            await flush()
            except ApiError as err:
                # Content already went out: end with a well-formed error, never a silent truncation.
                failed = err
                pending.append(encoder.error(err))
            except ConnectionResetError:  # the client left mid-answer: nobody to tell
                return out
            except Exception:
                with contextlib.suppress(ConnectionResetError):
                    await flush()  # what was ready goes out before the error the guard writes
                raise
            try:
                await flush()
                await out.write_eof()
            except ConnectionResetError:  # the client left before the end (a cut is still the target's)
                return out
            trace.last_byte()
            status = 200 if failed is None else failed.status
            return out
    finally:
        # However it ended (finished, cut, client gone), the attempt is paid for exactly once.
        cost = lease.finish(meter.usage, failed, complete=meter.complete, relayed_chars=meter.chars)
        gateway.telemetry.finish(
            trace,
            lease.attempts,
            target=lease.target,
            usage=meter.usage,
            cost_usd=cost,
            error=failed,
            status=status,
            continued=lease.continued,
        )
