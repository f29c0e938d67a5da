"""Anthropic Messages streams, both ways.

Upstream: ``message_start``, per block ``content_block_start`` / ``_delta`` /
``_stop``, ``message_delta`` (cumulative usage: it overwrites), ``message_stop``.
``ping`` and unknown events are ignored; blocks of unknown types are skipped
with their deltas, and the blocks kept are renumbered so an IR index is still
a position in the final parts. ``event: error`` raises. A stream that ends
without ``message_stop`` was cut.

To the client: the same sequence, as the SDK's accumulator expects it: blocks
open empty (``"input": {}`` for tool use), a thinking block's signature comes
in one ``signature_delta`` just before its stop, redacted thinking arrives
whole, and usage goes in full on ``message_delta``.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from daemon.formats import ids
from daemon.formats.anthropic_response import (
    arguments_text,
    decode_finish,
    decode_usage,
    encode_error,
    encode_usage,
    original_names,
    redacted,
    signed,
    stop_reason,
    stream_error,
)
from daemon.formats.anthropic_search import PendingSearch, is_search_use
from daemon.formats.anthropic_search import blocks as search_blocks
from daemon.formats.sse import frame
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    AssistantPart,
    OnePartAtATime,
    PartEnd,
    PartStart,
    Request,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    Usage,
    UsageUpdate,
    WebSearchPart,
)

_USAGE_KEYS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


class Decoder:
    __slots__ = (
        "_names",
        "_index",
        "_open",
        "_usage",
        "_stop",
        "_stop_sequence",
        "_started",
        "_done",
        "_search",
        "_search_wire",
    )

    def __init__(self, req: Request) -> None:
        self._names = original_names(req)
        self._search = PendingSearch()  # a server web search, held until its result comes
        self._search_wire: int | None = None
        self._index: dict[int, int] = {}  # wire block index -> IR part index
        self._open: int | None = None
        self._usage: dict[str, Any] = {}  # raw cumulative counts, overwritten as they come
        self._stop: str | None = None
        self._stop_sequence: str | None = None
        self._started = False
        self._done = False

    def feed(self, event: str | None, data: Any, original: str | None = None) -> list[StreamEvent]:
        if self._done or not isinstance(data, dict):
            return []
        match data.get("type", event):
            case "content_block_delta" if original is not None:
                events = self._delta(data)
                if len(events) == 1 and _as_encoded(data, events[0]):
                    events[0].original = original  # type: ignore[union-attr]
                return events
            case "message_start":
                return self._start(data.get("message"))
            case "content_block_start":
                return self._ensure_started() + self._block_start(data)
            case "content_block_delta":
                return self._delta(data)
            case "content_block_stop":
                return self._block_stop(data)
            case "message_delta":
                return self._ensure_started() + self._message_delta(data)
            case "message_stop":
                return self._ensure_started() + self._end()
            case "error":
                raise stream_error(data)
            case _:
                return []  # ping, and events newer than this code

    def close(self) -> list[StreamEvent]:
        if not self._done:
            raise ApiError(502, "server_error", "the Anthropic stream was cut before message_stop")
        return []

    def _take_usage(self, usage: Any) -> Usage:
        if isinstance(usage, dict):
            self._usage.update({k: usage[k] for k in _USAGE_KEYS if usage.get(k) is not None})
        return decode_usage(self._usage)

    def _start(self, message: Any) -> list[StreamEvent]:
        if self._started:
            return []
        self._started = True
        m = message if isinstance(message, dict) else {}
        usage = self._take_usage(m.get("usage"))
        return [StreamStart(str(m.get("id", "")), str(m.get("model", "")), usage)]

    def _ensure_started(self) -> list[StreamEvent]:
        return [] if self._started else self._start(None)

    def _close_open(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [PartEnd(index)]

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        block = data.get("content_block")
        wire = data.get("index")
        if not isinstance(block, dict) or not isinstance(wire, int):
            return []
        part: AssistantPart
        follow: list[StreamEvent] = []
        index = len(self._index)
        if is_search_use(block):
            self._search.start(block)
            self._search_wire = wire
            return self._close_open()
        match block.get("type"):
            case "text":
                part = TextPart("")
                if block.get("text"):
                    follow.append(TextDelta(index, str(block["text"])))
            case "thinking":
                part = ThinkingPart("")
                if block.get("thinking"):
                    follow.append(ThinkingDelta(index, str(block["thinking"])))
                if (sig := signed(block.get("signature"))) is not None:
                    follow.append(SignatureDelta(index, sig))
            case "redacted_thinking":
                part = redacted(str(block.get("data", "")))
            case "tool_use":
                name = str(block.get("name", ""))
                part = ToolCallPart(str(block.get("id", "")), self._names.get(name, name), "")
                # Some relays send the whole input here instead of as deltas.
                if isinstance(block.get("input"), dict) and block["input"]:
                    follow.append(ArgumentsDelta(index, arguments_text(block["input"])))
            case "web_search_tool_result":
                found = self._search.finish(block)
                if found is None:
                    return []
                part = found
            case _:
                return []  # other server tools and future block types: not ours to relay
        self._index[wire] = index
        events: list[StreamEvent] = [*self._close_open(), PartStart(index, part), *follow]
        self._open = index
        return events

    def _mapped(self, data: dict[str, Any]) -> int | None:
        wire = data.get("index")
        return self._index.get(wire) if isinstance(wire, int) else None

    def _delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        index = self._mapped(data)
        delta = data.get("delta")
        searching = self._search_wire is not None and data.get("index") == self._search_wire
        if searching and isinstance(delta, dict):
            self._search.fragment(str(delta.get("partial_json", "")))  # the search's query
            return []
        if index is None or not isinstance(delta, dict):
            return []
        match delta.get("type"):
            case "text_delta":
                text = str(delta.get("text", ""))
                return [TextDelta(index, text)] if text else []
            case "thinking_delta":
                text = str(delta.get("thinking", ""))
                return [ThinkingDelta(index, text)] if text else []
            case "input_json_delta":
                fragment = str(delta.get("partial_json", ""))
                return [ArgumentsDelta(index, fragment)] if fragment else []
            case "signature_delta":
                sig = signed(delta.get("signature"))
                return [SignatureDelta(index, sig)] if sig is not None else []
            case _:
                return []  # citations_delta and newer kinds carry nothing the IR holds

    def _block_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        if self._search_wire is not None and data.get("index") == self._search_wire:
            self._search_wire = None
            return []
        index = self._mapped(data)
        if index is None or index != self._open:
            return []
        return self._close_open()

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta")
        if isinstance(delta, dict):
            if isinstance(delta.get("stop_reason"), str):
                self._stop = delta["stop_reason"]
            seq = delta.get("stop_sequence")
            self._stop_sequence = seq if isinstance(seq, str) else self._stop_sequence
        return [*self._close_open(), UsageUpdate(self._take_usage(data.get("usage")))]

    def _end(self) -> list[StreamEvent]:
        self._done = True
        return [
            *self._close_open(),
            StreamEnd(decode_finish(self._stop), self._stop, decode_usage(self._usage), self._stop_sequence),
        ]


# The delta object of each kind as the encoder writes it: its keys, in order.
_DELTA_KEYS: Final = {
    TextDelta: ["type", "text"],
    ThinkingDelta: ["type", "thinking"],
    ArgumentsDelta: ["type", "partial_json"],
}


def _as_encoded(data: dict[str, Any], ev: StreamEvent) -> bool:
    """Whether the encoder would write this ``content_block_delta`` for ``ev`` as it came: the
    same keys (no ``citations_delta`` extras), and the block at the index the IR gave it."""
    keys = _DELTA_KEYS.get(type(ev))
    return (
        keys is not None
        and list(data) == _FRAME_KEYS
        and list(data["delta"]) == keys
        and type(data["delta"][keys[1]]) is str
        and type(data["index"]) is int
        and data["index"] == ev.index  # type: ignore[union-attr]
    )


_FRAME_KEYS: Final = ["type", "index", "delta"]


class Encoder:
    __slots__ = ("verbatim", "_order", "_usage", "_kinds", "_signatures", "_calls", "_wire", "_search_blocks")

    def __init__(self, req: Request) -> None:
        # IR index -> wire block index: a web search is two blocks here, or none.
        self._wire: dict[int, int] = {}
        self._search_blocks = 0
        self.verbatim = False
        self._order = OnePartAtATime()
        self._usage = Usage()
        self._kinds: dict[int, str] = {}
        self._signatures: dict[int, str] = {}
        self._calls = False

    def feed(self, ev: StreamEvent) -> bytes:
        ordered = self._order.feed(ev)  # this wire has one block at a time
        if len(ordered) == 1:
            return self._event(ordered[0])
        return b"".join(self._event(e) for e in ordered)

    def _event(self, ev: StreamEvent) -> bytes:
        match ev:
            case StreamStart():
                if ev.usage is not None:
                    self._usage = self._usage.merge(ev.usage)
                return self._message_start(ev)
            case PartStart() if isinstance(ev.part, WebSearchPart):
                return self._search(ev.part)
            case PartStart():
                self._wire[ev.index] = self._blocks()
                return self._block_start(ev.index, ev.part)
            case TextDelta() | ThinkingDelta() | ArgumentsDelta() if (
                ev.original is not None and self.verbatim and self._wire[ev.index] == ev.index
            ):
                return b"event: content_block_delta\ndata: " + ev.original.encode() + b"\n\n"
            case TextDelta():
                return self._block_delta(ev.index, {"type": "text_delta", "text": ev.text})
            case ThinkingDelta():
                return self._block_delta(ev.index, {"type": "thinking_delta", "thinking": ev.text})
            case ArgumentsDelta():
                return self._block_delta(ev.index, {"type": "input_json_delta", "partial_json": ev.fragment})
            case SignatureDelta():
                # Only thinking blocks have a signature on this wire; Gemini's on text or
                # calls has nowhere to go.
                if self._kinds.get(ev.index) == "thinking":
                    self._signatures[ev.index] = ev.opaque.blob
                return b""
            case PartEnd():
                return self._block_stop(ev.index) if ev.index in self._wire else b""
            case UsageUpdate():
                self._usage = self._usage.merge(ev.usage)
                return b""
            case StreamEnd():
                self._usage = self._usage.merge(ev.usage)
                return self._message_end(ev)
            case _:
                assert_never(ev)

    def error(self, err: ApiError) -> bytes:
        return error_frame(err)

    def _message_start(self, ev: StreamStart) -> bytes:
        message: dict[str, Any] = {
            "id": ev.id or "msg_detour",
            "type": "message",
            "role": "assistant",
            "model": ev.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": encode_usage(self._usage),
        }
        return frame({"type": "message_start", "message": message}, "message_start")

    def _block_start(self, index: int, part: AssistantPart) -> bytes:
        block: dict[str, Any]
        match part:
            case TextPart():
                block = {"type": "text", "text": ""}
            case ThinkingPart() if part.redacted is not None:
                block = {"type": "redacted_thinking", "data": part.redacted}
            case ThinkingPart():
                block = {"type": "thinking", "thinking": "", "signature": ""}
                if part.opaque is not None:
                    self._signatures[index] = part.opaque.blob
            case ToolCallPart():
                self._calls = True
                block = {"type": "tool_use", "id": ids.for_anthropic(part.id), "name": part.name, "input": {}}
            case WebSearchPart():
                raise AssertionError("a web search goes out through _search")
            case _:
                assert_never(part)
        self._kinds[index] = block["type"]
        return _start_frame(self._wire[index], block)

    def _blocks(self) -> int:
        return len(self._wire) + self._search_blocks

    def _search(self, part: WebSearchPart) -> bytes:
        """Anthropic's own search as the blocks it came in, each whole; another
        provider's search has no block here (the answer's text says what it found)."""
        out = b""
        for block in search_blocks(part):
            wire = self._blocks()
            self._search_blocks += 1
            opened = {**block, "input": {}} if block.get("type") == "server_tool_use" else block
            out += _start_frame(wire, opened)
            if opened is not block:
                delta = {"type": "input_json_delta", "partial_json": arguments_text(block.get("input") or {})}
                out += frame(
                    {"type": "content_block_delta", "index": wire, "delta": delta}, "content_block_delta"
                )
            out += frame({"type": "content_block_stop", "index": wire}, "content_block_stop")
        return out

    def _block_delta(self, index: int, delta: dict[str, Any]) -> bytes:
        wire = self._wire[index]
        return frame({"type": "content_block_delta", "index": wire, "delta": delta}, "content_block_delta")

    def _block_stop(self, index: int) -> bytes:
        out = b""
        sig = self._signatures.pop(index, None)
        if sig is not None:
            out = self._block_delta(index, {"type": "signature_delta", "signature": sig})
        return out + frame({"type": "content_block_stop", "index": self._wire[index]}, "content_block_stop")

    def _message_end(self, ev: StreamEnd) -> bytes:
        delta = {
            "stop_reason": stop_reason(ev.finish, ev.raw_finish, self._calls),
            "stop_sequence": ev.stop_sequence,
        }
        usage = encode_usage(self._usage)
        return frame({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta") + frame(
            {"type": "message_stop"}, "message_stop"
        )


def _start_frame(wire: int, block: dict[str, Any]) -> bytes:
    return frame(
        {"type": "content_block_start", "index": wire, "content_block": block}, "content_block_start"
    )


def stream_decoder(req: Request) -> Decoder:
    return Decoder(req)


def stream_encoder(req: Request) -> Encoder:
    return Encoder(req)


def error_frame(err: ApiError) -> bytes:
    """The ``event: error`` that ends a stream whose content already began."""
    return frame(encode_error(err), "error")
