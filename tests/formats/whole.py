"""A recorded whole answer read the way the daemon reads every answer: as its stream.

Detour asks every upstream for a stream, so each format has one decoder. A test holding a
whole body (a documented answer, a capture, what a fake's non-streaming endpoint sends) turns
it here into the frames that would have carried it and decodes those.
"""

from __future__ import annotations

from typing import Any

import orjson

from daemon.formats import anthropic, gemini, openai_chat, openai_responses
from daemon.formats.openai_chat_stream import DONE
from daemon.ir import (
    ArgumentsDelta,
    PartEnd,
    PartStart,
    Request,
    Response,
    StreamAssembler,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    WebSearchPart,
)

Frame = tuple[str | None, Any]


def _anthropic(body: dict[str, Any]) -> list[Frame]:
    if body.get("type") == "error":
        return [("error", body)]
    blocks = body.get("content") if isinstance(body.get("content"), list) else []
    frames: list[Frame] = [("message_start", {"type": "message_start", "message": {**body, "content": []}})]
    for i, block in enumerate(blocks):
        frames.append(
            ("content_block_start", {"type": "content_block_start", "index": i, "content_block": block})
        )
        frames.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    stop = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
    frames.append(("message_delta", {"type": "message_delta", "delta": stop, "usage": body.get("usage")}))
    return [*frames, ("message_stop", {"type": "message_stop"})]


def _openai_chat(body: dict[str, Any]) -> list[Frame]:
    if body.get("error") is not None or not isinstance(body.get("choices"), list):
        return [(None, body)]
    choices = []
    for choice in body["choices"]:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            message["tool_calls"] = [
                {**c, "index": k} if isinstance(c, dict) else c for k, c in enumerate(calls)
            ]
        choices.append(
            {"index": choice.get("index", 0), "delta": message, "finish_reason": choice.get("finish_reason")}
        )
    chunk = {**body, "object": "chat.completion.chunk", "choices": choices}
    return [(None, chunk), (None, DONE)]


def _openai_responses(body: dict[str, Any]) -> list[Frame]:
    if body.get("status") == "failed" or body.get("error"):
        return [("response.failed", {"type": "response.failed", "response": body})]
    start = {"id": body.get("id"), "model": body.get("model"), "status": "in_progress", "output": []}
    frames: list[Frame] = [("response.created", {"type": "response.created", "response": start})]
    for k, item in enumerate(body.get("output") or []):
        frames.append(
            (
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": k, "item": item},
            )
        )
        frames.append(
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": k, "item": item},
            )
        )
    end = "response.incomplete" if body.get("status") == "incomplete" else "response.completed"
    return [*frames, (end, {"type": end, "response": body})]


_FRAMES = {
    anthropic.name: _anthropic,
    openai_chat.name: _openai_chat,
    openai_responses.name: _openai_responses,
    gemini.name: lambda body: [(None, body)],  # a whole Gemini answer is one chunk of its stream
}


def frames(format_name: str, body: Any) -> list[Frame]:
    """The stream frames (event name, parsed data) that would have carried ``body``."""
    if not isinstance(body, dict):
        return [(None, body)]
    return _FRAMES[format_name](body)


def decode(fmt: Any, body: Any, req: Request) -> Response:
    """``body``, a whole answer in ``fmt``'s wire shape, through ``fmt``'s stream decoder."""
    body = orjson.loads(body) if isinstance(body, (bytes, str)) else body
    decoder = fmt.stream_decoder(req)
    assembler = StreamAssembler()
    for event, data in frames(fmt.name, body):
        for ev in decoder.feed(event, data):
            assembler.feed(ev)
    for ev in decoder.close():
        assembler.feed(ev)
    return assembler.response()


def events(resp: Response) -> list[StreamEvent]:
    """A whole IR answer as the stream that would have carried it (one delta a part), to feed
    a stream encoder or ``routing.structured.guard``."""
    out: list[StreamEvent] = [StreamStart(resp.id, resp.model)]
    for i, part in enumerate(resp.parts):
        match part:
            case TextPart():
                out += [PartStart(i, TextPart("", opaque=part.opaque)), TextDelta(i, part.text)]
            case ThinkingPart() if part.redacted is not None:
                out.append(PartStart(i, part))
            case WebSearchPart():
                out.append(PartStart(i, part))
            case ThinkingPart():
                out += [PartStart(i, ThinkingPart("", opaque=part.opaque)), ThinkingDelta(i, part.text)]
            case ToolCallPart():
                out += [PartStart(i, ToolCallPart(part.id, part.name, "", opaque=part.opaque))]
                out.append(ArgumentsDelta(i, part.arguments))
        out.append(PartEnd(i))
    out.append(StreamEnd(resp.finish, resp.raw_finish, resp.usage, resp.stop_sequence))
    return out
