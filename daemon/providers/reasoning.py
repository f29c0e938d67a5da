"""Provider-opaque reasoning state across a provider switch.

Thinking signatures (Anthropic), thought signatures (Gemini) and encrypted
reasoning are valid only at the provider that issued them; sent anywhere else
they make the request fail, which wedges an agent's session after a failover.
So each ``Opaque`` names its issuer (``provider``) and the format it travels in
(``format``), and:

- a provider tags what it decodes with its own id (``from_provider``) and gets
  back only what it issued (``for_provider``): blobs from anyone else are left
  out of its request, as the format encoders leave out blobs of other formats
  (Anthropic then turns thinking off for that request, Gemini puts its
  documented placeholder);
- at the client boundary a blob issued by a provider of another format than
  the client speaks is wrapped as ``dtr1.<provider>.<blob>`` (``to_client``),
  so when the client sends the history back the issuer is known again
  (``from_client``). Same-format blobs reach the client unchanged, so a
  client history stays valid if the user later talks to the provider directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from daemon.ir import (
    WRAP,
    Message,
    Opaque,
    Part,
    PartStart,
    Request,
    Response,
    SignatureDelta,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    WebSearchPart,
)

_Convert = Callable[[Opaque], Opaque | None]
# A tuple, not a union: isinstance with a union builds it on every call (hot path).
_CARRIERS = (TextPart, ThinkingPart, ToolCallPart, WebSearchPart)


def _has_opaque(part: Part) -> bool:
    return isinstance(part, _CARRIERS) and part.opaque is not None


def _map_request(req: Request, convert: _Convert) -> Request:
    """A copy of the request with every opaque blob converted; untouched messages are shared."""
    if not _any_opaque(req.messages):
        return req
    messages = [
        Message(m.role, [_convert_part(p, convert) for p in m.parts])
        if any(_has_opaque(p) for p in m.parts)
        else m
        for m in req.messages
    ]
    return dataclasses.replace(req, messages=messages)


def _any_opaque(messages: list[Message]) -> bool:
    for m in messages:
        for p in m.parts:
            if isinstance(p, _CARRIERS) and p.opaque is not None:
                return True
    return False


def _convert_part(part: Part, convert: _Convert) -> Part:
    if isinstance(part, _CARRIERS) and part.opaque is not None:
        return dataclasses.replace(part, opaque=convert(part.opaque))
    return part


def for_provider(req: Request, provider_id: str, format_name: str) -> Request:
    """What a provider may see: the blobs it issued (or a client of its format sent raw),
    in its format; anyone else's are left out, as the encoders would leave out no blob."""

    def convert(o: Opaque) -> Opaque | None:
        if o.provider == provider_id or (o.provider is None and o.format == format_name):
            return Opaque(format_name, o.blob, provider_id)
        return None

    return _map_request(req, convert)


def from_provider_event(ev: StreamEvent, provider_id: str) -> StreamEvent:
    if isinstance(ev, SignatureDelta):
        return SignatureDelta(ev.index, Opaque(ev.opaque.format, ev.opaque.blob, provider_id))
    if isinstance(ev, PartStart) and (o := ev.part.opaque) is not None:
        ev.part.opaque = Opaque(o.format, o.blob, provider_id)
    return ev


def to_client(resp: Response, client_format: str, provider_format: str) -> Response:
    """Wrap blobs for a client of another format, so they come back attributable."""
    for part in resp.parts:
        if part.opaque is not None:
            part.opaque = _wrap(part.opaque, client_format, provider_format)
    return resp


def to_client_event(ev: StreamEvent, client_format: str, provider_format: str) -> StreamEvent:
    if isinstance(ev, SignatureDelta):
        return SignatureDelta(ev.index, _wrap(ev.opaque, client_format, provider_format))
    if isinstance(ev, PartStart) and ev.part.opaque is not None:
        ev.part.opaque = _wrap(ev.part.opaque, client_format, provider_format)
    return ev


def _wrap(o: Opaque, client_format: str, provider_format: str) -> Opaque:
    if client_format == provider_format:
        return Opaque(client_format, o.blob, o.provider)
    issuer = o.provider or o.format or ""
    return Opaque(client_format, f"{WRAP}{issuer}.{o.blob}", o.provider)


def from_client(req: Request) -> Request:
    """Unwrap blobs detour wrapped (their issuer is known again); raw ones keep only their format."""

    def convert(o: Opaque) -> Opaque:
        if o.blob.startswith(WRAP):
            issuer, _, blob = o.blob[len(WRAP) :].partition(".")
            if blob:
                return Opaque(None, blob, issuer)
        return o

    return _map_request(req, convert)
