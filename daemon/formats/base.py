"""What every wire format module provides (``anthropic``, ``openai_chat``, ``gemini``).

A format is a module of pure functions plus two small stateful transducers for
streams. Decoders raise ``ApiError`` (400 ``invalid_request``) on content they
cannot represent, never drop it silently. The ``req`` passed to the response
side is the IR request being answered: the context a translation may need
(tool names for Gemini's results, renamed properties, the model asked for).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from daemon.formats.profile import Profile
from daemon.ir import ApiError, Request, Response, StreamEvent


class StreamDecoder(Protocol):
    """Upstream SSE frames (already parsed as JSON) -> IR stream events."""

    def feed(self, event: str | None, data: Any, original: str | None = None) -> list[StreamEvent]:
        """One frame; ``original`` is its data as it came, for a content delta that a client
        of this format would get back unchanged to carry (``ir.stream``). Raises ``ApiError``
        for an in-band error."""
        ...

    def close(self) -> list[StreamEvent]:
        """The upstream closed the stream. Emits what a clean end still owes
        (Gemini ends by closing); raises ``ApiError`` (kind ``server_error``)
        if the stream was cut before its end."""
        ...


class StreamEncoder(Protocol):
    """IR stream events -> SSE bytes in the client's format. ``verbatim``: the events come
    from a provider of this format, so a delta's original bytes may be written as they came."""

    verbatim: bool

    def feed(self, ev: StreamEvent) -> bytes: ...

    def error(self, err: ApiError) -> bytes:
        """A well-formed in-stream error that ends the stream for this format's client."""
        ...


class WireFormat(Protocol):
    name: str

    def decode_request(
        self, body: Any, *, model: str | None = None, stream: bool | None = None
    ) -> Request: ...

    def encode_request(self, req: Request, model: str, profile: Profile) -> dict[str, Any]:
        """The body for ``model``, fitted to what its ``profile`` says it takes."""
        ...

    def encode_response(self, resp: Response, req: Request) -> dict[str, Any]: ...

    def stream_decoder(self, req: Request) -> StreamDecoder: ...

    def stream_encoder(self, req: Request) -> StreamEncoder: ...

    def encode_error(self, err: ApiError) -> dict[str, Any]: ...

    def error_frame(self, err: ApiError) -> bytes:
        """The in-stream error that ends a stream already begun (what ``StreamEncoder.error`` writes)."""
        ...

    def decode_error(self, status: int, body: Any, headers: Mapping[str, str]) -> ApiError: ...
