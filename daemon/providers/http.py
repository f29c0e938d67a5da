"""Providers reached over HTTP: Anthropic, OpenAI (and compatible), Gemini.

They differ only in URL, auth header and wire format; the request/stream
plumbing is shared. Connection failures and timeouts become ``ApiError`` with a
message naming the provider; every error raised here has been through ``Redactor``
(an upstream may echo a key anywhere in its error), so none carries a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from daemon.config import ProviderConfig
from daemon.formats.anthropic import API_VERSION
from daemon.formats.base import StreamDecoder, WireFormat
from daemon.formats.registry import FORMATS
from daemon.formats.sse import Frame, SSEParser
from daemon.ir import ApiError, PartStart, Request, SignatureDelta, StreamEvent, is_content
from daemon.ir import errors as causes
from daemon.keys import Secret
from daemon.providers import count, reasoning
from daemon.providers.base import Provider
from daemon.redaction import Redactor

_ERROR_BODY = 64 * 1024
_PROVENANCE = (PartStart, SignatureDelta)
_SHOWN = 500  # of a plain-text error body, in the message
_KEY_ROOM = 1024  # longer than any key


class HttpProvider(Provider):
    def __init__(
        self,
        config: ProviderConfig,
        key: Secret | None,
        session: aiohttp.ClientSession,
        redact: Redactor,
    ) -> None:
        super().__init__(config)
        self._key = key
        self._session = session
        self._redact = redact
        self.format: WireFormat = FORMATS[
            "openai_responses" if config.api == "responses" else FORMAT_OF_KIND[config.kind]
        ]

    @property
    def usable(self) -> bool:
        return self._key is not None

    @property
    def format_name(self) -> str:
        return self.format.name

    def url(self, model: str) -> str:
        base = self.config.base_url
        match self.kind:
            case "anthropic":
                return f"{base}/v1/messages"
            case "gemini":
                return f"{base}/v1beta/models/{model}:streamGenerateContent?alt=sse"
            case _:
                return f"{base}/responses" if self.config.api == "responses" else f"{base}/chat/completions"

    def headers(self) -> dict[str, str]:
        key = self._key.value if self._key else ""
        h = {"content-type": "application/json"}
        match self.kind:
            case "anthropic":
                h["x-api-key"] = key
                h["anthropic-version"] = API_VERSION
            case "gemini":
                h["x-goog-api-key"] = key
            case _:
                h["authorization"] = f"Bearer {key}"
        return h

    async def stream(self, req: Request, model: str) -> AsyncIterator[StreamEvent]:
        if not req.stream:
            req = dataclasses.replace(req, stream=True)
        req = reasoning.for_provider(req, self.id, self.format.name)
        body = self.format.encode_request(req, model, self.profile(model))
        # No socket read limit: until the first content, the chain's first-content timeout
        # governs (a reasoning model may send a role chunk, then think for a minute); after
        # it, the idle limit, timed here between chunks.
        timeout = aiohttp.ClientTimeout(sock_connect=self.config.timeout_connect_s, sock_read=None)
        decoder = self.format.stream_decoder(req)
        # A frame's original bytes matter only to a client of this provider's own format; for
        # any other, the decoder is spared telling which frames would come back unchanged.
        originals = req.source_format == self.format.name
        parser = SSEParser()
        try:
            async with asyncio.timeout(self.config.timeout_first_byte_s):
                resp = await self._session.post(
                    self.url(model), data=orjson.dumps(body), headers=self.headers(), timeout=timeout
                )
        except TimeoutError as e:
            raise self._timeout(e, self.config.timeout_first_byte_s) from None
        except aiohttp.ClientError as e:
            raise self._transport_error(e) from None
        async with resp:
            if resp.status >= 400:
                raise self._http_error(resp.status, await _head(resp), resp.headers)
            chunks = resp.content.iter_any().__aiter__()
            silence = Silence(asyncio.get_running_loop())
            try:
                while True:
                    silence.begin()
                    try:
                        chunk = await anext(chunks, None)
                    except asyncio.CancelledError:
                        if silence.expired():
                            limit = self.config.timeout_idle_s
                            raise self._timeout(TimeoutError(), limit, streaming=True) from None
                        raise
                    silence.task = None
                    if chunk is None:
                        break
                    for fr in parser.feed(chunk):
                        for ev in self._decode(decoder, fr, originals):
                            if silence.limit is None and is_content(ev):
                                silence.arm(self.config.timeout_idle_s)
                            yield ev
                for fr in parser.close():
                    for ev in self._decode(decoder, fr, originals):
                        yield ev
            except aiohttp.ClientError as e:
                raise self._transport_error(e, streaming=True) from None
            finally:
                silence.close()
            try:
                tail = decoder.close()
            except ApiError as err:
                raise self._tag(err, causes.STREAM_CUT) from None
            for ev in tail:
                yield ev

    async def count_tokens(self, req: Request, model: str) -> int | None:
        """What the provider will bill for the prompt, from its free count endpoint; None where
        it has none or the count failed (the caller then pads its guess)."""
        req = reasoning.for_provider(req, self.id, self.format.name)
        try:
            body = self.format.encode_request(req, model, self.profile(model))
        except ApiError:
            return None
        where = count.endpoint(self.kind, self.config.base_url, model, body)
        if where is None:
            return None
        url, asked = where
        try:
            async with asyncio.timeout(count.TIMEOUT_S):
                async with self._session.post(url, data=orjson.dumps(asked), headers=self.headers()) as http:
                    return count.tokens(self.kind, http.status, await http.read())
        except (TimeoutError, aiohttp.ClientError):
            return None

    def _decode(self, decoder: StreamDecoder, fr: Frame, originals: bool) -> list[StreamEvent]:
        try:
            # Its data as it came, for a frame the client may get as it is (one line of it).
            original = fr.data if originals and "\n" not in fr.data else None
            events = decoder.feed(fr.event, self._frame_json(fr), original)
        except ApiError as err:
            raise self._tag(err, causes.IN_BAND) from None
        except orjson.JSONEncodeError:  # nested deeper than orjson writes back (tool arguments)
            raise ApiError(
                502, "server_error", f"{self.id} sent a frame nested too deep", cause=causes.MALFORMED
            ) from None
        for i, ev in enumerate(events):
            if type(ev) in _PROVENANCE:  # what may carry a signature: marked as this provider's
                events[i] = reasoning.from_provider_event(ev, self.id)
        return events

    def _tag(self, err: ApiError, cause: str) -> ApiError:
        if err.cause is None:
            err.cause = cause
        if not err.message.startswith(f"{self.id}: "):
            err.message = f"{self.id}: {err.message}"
        return self._redact.error(err)

    def _frame_json(self, fr: Frame) -> Any:
        if fr.data == "[DONE]":
            return fr.data
        try:
            return orjson.loads(fr.data)
        except orjson.JSONDecodeError:
            raise ApiError(
                502, "server_error", f"{self.id} sent a malformed stream frame", cause=causes.MALFORMED
            ) from None

    def _http_error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> ApiError:
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Redacted before the cut (with room for a key straddling it): a cut key would leave
            # a piece no longer recognised.
            text = raw[: _SHOWN + _KEY_ROOM].decode("utf-8", "replace")
            body = {"error": {"message": self._redact.text(text)[:_SHOWN]}}
        err = self.format.decode_error(status, body, headers)
        err.message = f"{self.id}: {err.message}"
        err.upstream = None  # the message and details carry what matters
        return self._redact.error(err)

    def _transport_error(self, e: aiohttp.ClientError, streaming: bool = False) -> ApiError:
        if isinstance(e, aiohttp.ClientConnectorError):
            why, cause = (
                f"cannot connect to {self.config.base_url} ({e.os_error.strerror or e.os_error})",
                causes.CONNECT_REFUSED,
            )
        elif streaming:
            why, cause = "the stream was cut", causes.STREAM_CUT
        elif isinstance(
            e, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
        ):
            why, cause = "the connection was reset", causes.CONNECTION_RESET
        else:
            why, cause = f"transport error ({type(e).__name__})", causes.CONNECTION_RESET
        return self._redact.error(ApiError(502, "server_error", f"{self.id}: {why}", cause=cause))

    def _timeout(self, e: BaseException, limit_s: float, streaming: bool = False) -> ApiError:
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            what, cause = f"no connection within {self.config.timeout_connect_s:g}s", causes.TIMEOUT_CONNECT
        elif streaming:
            what, cause = f"went silent for {limit_s:g}s mid-stream", causes.TIMEOUT_IDLE
        else:
            what, cause = f"sent no response within {limit_s:g}s", causes.TIMEOUT_FIRST_BYTE
        return self._redact.error(ApiError(504, "timeout", f"{self.id} {what}", cause=cause))


async def _head(resp: aiohttp.ClientResponse) -> bytes:
    """The first ``_ERROR_BODY`` bytes of an error answer: enough for any provider's error, and
    a bound on what redaction reads (a proxy's error page can be megabytes)."""
    raw = bytearray()
    while len(raw) < _ERROR_BODY:
        chunk = await resp.content.read(_ERROR_BODY - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)


class Silence:
    """The idle limit of one stream: one timer for the whole stream, not one a chunk.

    Each wait for a chunk notes when it began (``since``) and which task waits; the timer,
    when it goes off early, is set again for the current wait's own end, and when a wait
    has gone on too long it cancels the waiting task, which ``expired`` then tells apart
    from any other cancellation (as ``asyncio.timeout`` does)."""

    __slots__ = ("loop", "limit", "since", "task", "_handle", "_fired")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.limit: float | None = None  # no limit until the first content (the chain's then)
        self.since = 0.0
        self.task: asyncio.Task[Any] | None = None  # the task waiting now, if any
        self._handle: asyncio.TimerHandle | None = None
        self._fired: asyncio.Task[Any] | None = None

    def arm(self, limit_s: float) -> None:
        self.limit = limit_s

    def begin(self) -> None:
        """A wait for the next chunk starts now."""
        self.task = asyncio.current_task()
        self.since = self.loop.time()
        if self._handle is None and self.limit is not None:
            self._handle = self.loop.call_at(self.since + self.limit, self._check)

    def _check(self) -> None:
        assert self.limit is not None
        self._handle = None
        if self.task is None:
            return  # none awaited now (the client is slow to take the last ones): the next wait sets it
        due = self.since + self.limit
        if self.loop.time() >= due:
            self._fired = self.task
            self.task.cancel()
        else:  # a chunk came since: the current wait's own end
            self._handle = self.loop.call_at(due, self._check)

    def expired(self) -> bool:
        """Whether the cancellation being handled is this limit's own (and no one else's)."""
        task, self._fired = self._fired, None
        return task is not None and task.uncancel() == 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


FORMAT_OF_KIND = {
    "anthropic": "anthropic",
    "openai": "openai_chat",
    "openai-compatible": "openai_chat",
    "gemini": "gemini",
}
