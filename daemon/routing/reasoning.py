"""Provider-opaque reasoning state across a provider switch.

Thinking signatures (Anthropic), thought signatures (Gemini) and encrypted
reasoning are valid only at the provider that issued them; sent anywhere else
they make the request fail, which wedges an agent's session after a failover.
So each ``Opaque`` names its issuer, and:

- a provider tags what it decodes with its own id (``for_provider`` /
  ``from_provider``) and gets back only what it issued; blobs from anyone else
  are marked foreign, and the format encoders drop them (Anthropic then turns
  thinking off for that request, Gemini puts its documented placeholder);
- at the client boundary a blob issued by a provider of another format than
  the client speaks is wrapped as ``dtr1.<provider>.<blob>`` (``to_client``),
  so when the client sends the history back the issuer is known again
  (``from_client``). Same-format blobs reach the client unchanged, so a
  client history stays valid if the user later talks to the provider directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from daemon.ir import (
    AssistantPart,
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
)

WRAP = "dtr1."
FOREIGN = "foreign:"
_Convert = Callable[[Opaque], Opaque]
# A tuple, not a union: isinstance with a union builds it on every call (hot path).
_CARRIERS = (TextPart, ThinkingPart, ToolCallPart)


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
    """What a provider may see: its own blobs under its format's name, others marked foreign."""

    def convert(o: Opaque) -> Opaque:
        if o.origin in (provider_id, format_name):
            return Opaque(format_name, o.signature)
        return Opaque(FOREIGN + o.origin, o.signature)

    return _map_request(req, convert)


def from_provider_parts(parts: Iterable[AssistantPart], provider_id: str) -> None:
    """Tag freshly decoded parts (owned by us, so changed in place) with their issuer."""
    for part in parts:
        if part.opaque is not None:
            part.opaque = Opaque(provider_id, part.opaque.signature)


def from_provider_event(ev: StreamEvent, provider_id: str) -> StreamEvent:
    if isinstance(ev, SignatureDelta):
        return SignatureDelta(ev.index, Opaque(provider_id, ev.opaque.signature))
    if isinstance(ev, PartStart) and ev.part.opaque is not None:
        ev.part.opaque = Opaque(provider_id, ev.part.opaque.signature)
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
        return Opaque(client_format, o.signature)
    return Opaque(client_format, f"{WRAP}{o.origin}.{o.signature}")


def from_client(req: Request) -> Request:
    """Unwrap blobs detour wrapped; raw ones keep the client's format as their origin."""

    def convert(o: Opaque) -> Opaque:
        if o.signature.startswith(WRAP):
            origin, _, blob = o.signature[len(WRAP) :].partition(".")
            if blob:
                return Opaque(origin, blob)
        return o

    return _map_request(req, convert)
