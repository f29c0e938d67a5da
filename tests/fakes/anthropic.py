"""A fake Anthropic Messages API: validates like the real one, answers by hand.

With ``cache`` set (a ``PromptCache``, tests/fakes/anthropic_cache.py), it bills prompts
as Anthropic's prompt cache would: the first request with a breakpoint prefix writes it,
later ones read it. Either way it answers more than 4 breakpoints with the API's 400.

Serves ``POST /v1/messages`` (plain and streamed) and
``POST /v1/messages/count_tokens`` (answering what the next answer will bill). Auth by ``x-api-key`` or
``Authorization: Bearer``; ``anthropic-version`` is required. Every request
is recorded before it is judged (tests/fakes/anthropic_rules.py says what passes),
so tests can look at rejected payloads too.

``Answer`` token counts are on the IR scale: ``input_tokens`` is the whole
prompt, so the wire ``input_tokens`` is what is left after cache reads and writes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_cache import PromptCache
from tests.fakes.anthropic_rules import (
    Invalid,
    continuation_prefix,
    encrypted,
    error_body,
    forced_tool,
    prompt_chars,
    validate,
)
from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, shaped, split_text

__all__ = ["FakeAnthropic", "PromptCache", "frame"]


class FakeAnthropic(FakeUpstream):
    def __init__(self, key: str = "sk-ant-fake") -> None:
        super().__init__()
        self.key = key
        self._ids = itertools.count(1)
        self.searches: list[list[dict[str, Any]]] = []  # the server web searches it rendered
        self.cache: PromptCache | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self.messages),
            web.post("/v1/messages/count_tokens", self.count_tokens),
        ]

    def inband_error(self, status: int) -> bytes:
        return frame("error", error_body(status, "Overloaded" if status == 529 else f"injected {status}"))

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        delta = data.get("delta") if data.get("type") == "content_block_delta" else None
        kind = {"text_delta": "text", "thinking_delta": "thinking"}.get((delta or {}).get("type"))
        return [(delta, kind)] if delta is not None and kind is not None else []

    def _refusal(self, request: web.Request) -> web.Response | None:
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or (
            bearer[7:] if bearer.lower().startswith("bearer ") else None
        )
        if key != self.key:
            return web.json_response(error_body(401, "invalid x-api-key"), status=401)
        if not request.headers.get("anthropic-version"):
            return web.json_response(error_body(400, "anthropic-version: header is required"), status=400)
        return None

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            validate(body, count_tokens=True)
        except Invalid as e:
            return web.json_response(error_body(400, str(e)), status=400)
        return web.json_response({"input_tokens": self.counted(prompt_chars(body))})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            validate(body)
        except Invalid as e:
            return web.json_response(error_body(400, str(e)), status=400)
        reply = await self.take_reply(request)
        if isinstance(reply, Fault):
            return web.json_response(
                error_body(reply.status, reply.message), status=reply.status, headers=reply.headers
            )
        try:
            reply = self.continuing(shaped(reply, forced_tool(body)), continuation_prefix(body))
        except Mismatch as e:
            return web.json_response(error_body(400, str(e)), status=400)
        if self.cache is not None:
            prompt, read, written = self.cache.bill(body)
            reply = dataclasses.replace(
                reply, input_tokens=prompt, cache_read_tokens=read, cache_write_tokens=written
            )
        reply = self.billed(reply, prompt_chars(body), body["model"])
        msg_id = f"msg_fake{next(self._ids):04d}"
        searched = self._search_blocks(reply, body)
        if body.get("stream"):
            frames = self.stream_frames(reply, msg_id, body["model"], searched)
            return await self.send_frames(request, frames, reply)
        if reply.malformed:
            return web.Response(text="<html>upstream hiccup", content_type="application/json")
        return web.json_response(self.message(reply, msg_id, body["model"], searched))

    # --- rendering, by hand ---

    def _tool_id(self, index: int, given: str | None) -> str:
        return given or f"toolu_fake{index:02d}{next(self._ids):06d}"

    def _usage(self, a: Answer) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": max(0, a.input_tokens - a.cache_read_tokens - a.cache_write_tokens),
            "cache_creation_input_tokens": a.cache_write_tokens,
            "cache_read_input_tokens": a.cache_read_tokens,
            "output_tokens": a.output_tokens,
        }
        if a.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": a.reasoning_tokens}
        return usage

    def _search_blocks(self, a: Answer, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The server web search's two blocks, when scripted and the request offered the tool."""
        offered = any(str(t.get("type", "")).startswith("web_search_") for t in body.get("tools", []))
        if a.web_search is None or not offered:
            return []
        query, pages = a.web_search
        use_id = f"srvtoolu_fake{next(self._ids):06d}"
        results = [
            {"type": "web_search_result", "url": url, "title": title, "encrypted_content": encrypted(url),
             "page_age": None}
            for url, title in pages
        ]  # fmt: skip
        self.searches.append(
            [
                {"type": "server_tool_use", "id": use_id, "name": "web_search", "input": {"query": query}},
                {"type": "web_search_tool_result", "tool_use_id": use_id, "content": results},
            ]
        )
        return self.searches[-1]

    def message(self, a: Answer, msg_id: str, model: str, searched: list[dict[str, Any]]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if a.thinking:
            content.append({"type": "thinking", "thinking": a.thinking, "signature": f"sig-{msg_id}"})
        content += searched
        if a.text:
            content.append({"type": "text", "text": a.text})
        for i, tc in enumerate(a.tool_calls):
            content.append(
                {"type": "tool_use", "id": self._tool_id(i, tc.id), "name": tc.name, "input": tc.args}
            )
        return {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": "tool_use" if a.tool_calls else "end_turn", "stop_sequence": None,
            "usage": self._usage(a),
        }  # fmt: skip

    def stream_frames(
        self, a: Answer, msg_id: str, model: str, searched: list[dict[str, Any]]
    ) -> list[bytes]:
        usage = self._usage(a)
        start = {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1},
        }  # fmt: skip
        frames = [
            frame("message_start", {"type": "message_start", "message": start}),
            frame("ping", {"type": "ping"}),
        ]
        index = 0

        def block(kind_start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
            nonlocal index
            frames.append(
                frame(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": kind_start},
                )
            )
            for d in deltas:
                frames.append(
                    frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                )
            frames.append(frame("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1

        if a.thinking:
            deltas = [{"type": "thinking_delta", "thinking": t} for t in split_text(a.thinking, a.chunks)]
            block(
                {"type": "thinking", "thinking": "", "signature": ""},
                [*deltas, {"type": "signature_delta", "signature": f"sig-{msg_id}"}],
            )
        for b in searched:  # the query streams as input JSON; the result comes whole
            if b["type"] == "server_tool_use":
                pieces = split_text(json.dumps(b["input"]), 2)
                block({**b, "input": {}}, [{"type": "input_json_delta", "partial_json": p} for p in pieces])
            else:
                block(b, [])
        if a.text:
            block(
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": t} for t in split_text(a.text, a.chunks)],
            )
        for i, tc in enumerate(a.tool_calls):
            args = json.dumps(tc.args)
            pieces = ["", *split_text(args, 3)]
            block(
                {"type": "tool_use", "id": self._tool_id(i, tc.id), "name": tc.name, "input": {}},
                [{"type": "input_json_delta", "partial_json": p} for p in pieces],
            )
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if a.tool_calls else "end_turn", "stop_sequence": None},
            "usage": usage,
        }
        frames.append(frame("message_delta", end))
        frames.append(frame("message_stop", {"type": "message_stop"}))
        return frames


def frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
