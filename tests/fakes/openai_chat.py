"""A fake OpenAI Chat Completions API: validates like the real one, answers by hand.

Serves ``POST /v1/chat/completions`` (a provider's ``base_url`` is ``<url>/v1``),
plain and streamed, and ``POST /v1/responses/input_tokens`` (``openai_count``), with
``Authorization: Bearer``. Every request is recorded before it is judged, so tests
can look at rejected payloads too; what it accepts, and its error bodies in the API's
own wording, is ``openai_chat_rules``.

``Answer.thinking`` is rendered as DeepSeek's ``reasoning_content`` (OpenAI
itself returns no reasoning text in Chat). Token counts are on the IR scale,
which is Chat's: ``prompt_tokens`` includes cached tokens, ``completion_tokens``
includes reasoning. Streams carry usage only when ``stream_options.include_usage``
asked for it. A named forced ``tool_choice`` ends with ``finish_reason: "stop"``
although tools were called, as the real API does.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from tests.fakes import openai_count as counting
from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, instructed, shaped, split_text
from tests.fakes.openai_chat_rules import Invalid, error_body, status_error, validate


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: the last message's
    text in prefix mode, or the assistant message's before detour's instruction to continue it;
    None for any other request (a trailing assistant message alone is answered afresh)."""
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "assistant" and last.get("prefix"):
        held = last
    elif (
        len(messages) > 1
        and messages[-2]["role"] == "assistant"
        and last["role"] == "user"
        and instructed(last["content"])
    ):
        held = messages[-2]
    else:
        return None
    content = held.get("content")
    text = "".join(p.get("text", "") for p in content) if isinstance(content, list) else content
    return text or None


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool this request makes the model call: named, or the last one for ``required``."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    if choice == "required" and body.get("tools"):
        return str(body["tools"][-1]["function"]["name"])
    return None


class FakeOpenAI(FakeUpstream):
    def __init__(self, key: str = "sk-fake-openai") -> None:
        super().__init__()
        self.key = key
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/responses/input_tokens", self.input_tokens),
        ]

    def inband_error(self, status: int) -> bytes:
        message = "The server had an error while processing your request. Sorry about that!"
        return frame(status_error(status, message if status >= 500 else f"injected {status}"))

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        spots = []
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            spots += [(delta, k) for k in ("reasoning_content", "content") if isinstance(delta.get(k), str)]
        return spots

    def _refusal(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return web.json_response(error_body(message, "invalid_request_error"), status=401)
        given = auth[7:]
        if given != self.key:
            masked = f"{given[:3]}{'*' * max(0, len(given) - 7)}{given[-4:]}"
            message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
            return web.json_response(
                error_body(message, "invalid_request_error", None, "invalid_api_key"), status=401
            )
        return None

    async def input_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            counting.validate_input_tokens(body)
        except counting.Invalid as e:
            return web.json_response(error_body(str(e), "invalid_request_error", e.param), status=400)
        n = self.counted(counting.responses_prompt_chars(body))
        return web.json_response({"object": "response.input_tokens", "input_tokens": n})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            validate(body)
        except Invalid as e:
            return web.json_response(error_body(str(e), "invalid_request_error", e.param, e.code), status=400)
        reply = await self.take_reply(request)
        if isinstance(reply, Fault):
            return web.json_response(
                status_error(reply.status, reply.message), status=reply.status, headers=reply.headers
            )
        try:
            reply = self.continuing(shaped(reply, forced_tool(body)), continuation_prefix(body))
        except Mismatch as e:
            return web.json_response(error_body(str(e), "invalid_request_error", "messages"), status=400)
        reply = self.billed(reply, counting.chat_prompt_chars(body), body["model"])
        chat_id = f"chatcmpl-fake{next(self._ids):04d}"
        named = isinstance(body.get("tool_choice"), dict)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            frames = self.stream_frames(reply, chat_id, body["model"], include, named)
            return await self.send_frames(request, frames, reply)
        if reply.malformed:
            return web.Response(text="<html>upstream hiccup", content_type="application/json")
        return web.json_response(self.completion(reply, chat_id, body["model"], named))

    # --- rendering, by hand ---

    def _call_id(self, index: int, given: str | None) -> str:
        return given or f"call_fake{index:02d}{next(self._ids):06d}"

    @staticmethod
    def usage(a: Answer) -> dict[str, Any]:
        prompt_details: dict[str, Any] = {"cached_tokens": a.cache_read_tokens, "audio_tokens": 0}
        if a.cache_write_tokens:
            prompt_details["cache_write_tokens"] = a.cache_write_tokens
        return {
            "prompt_tokens": a.input_tokens,
            "completion_tokens": a.output_tokens,
            "total_tokens": a.input_tokens + a.output_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": a.reasoning_tokens, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
            },
        }  # fmt: skip

    @staticmethod
    def _finish(a: Answer, named: bool) -> str:
        return "tool_calls" if a.tool_calls and not named else "stop"

    def completion(self, a: Answer, chat_id: str, model: str, named: bool = False) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": a.text, "refusal": None, "annotations": []}
        if a.thinking:
            message["reasoning_content"] = a.thinking
        if a.tool_calls:
            message["tool_calls"] = [
                {"id": self._call_id(i, tc.id), "type": "function",
                 "function": {"name": tc.name, "arguments": json.dumps(tc.args)}}
                for i, tc in enumerate(a.tool_calls)
            ]  # fmt: skip
        return {
            "id": chat_id, "object": "chat.completion", "created": 1770933892, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake0001",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish(a, named)}],
            "usage": self.usage(a),
        }  # fmt: skip

    def stream_frames(
        self, a: Answer, chat_id: str, model: str, include_usage: bool, named: bool = False
    ) -> list[bytes]:
        base: dict[str, Any] = {
            "id": chat_id, "object": "chat.completion.chunk", "created": 1770933892, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake0001",
        }  # fmt: skip
        tail = {"usage": None, "obfuscation": "Qup1BsQ3"} if include_usage else {"obfuscation": "Qup1BsQ3"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return frame({**base, "choices": [choice], **tail})

        deltas: list[dict[str, Any]] = []
        if a.thinking:
            deltas += [{"content": None, "reasoning_content": t} for t in split_text(a.thinking, a.chunks)]
        if a.text:
            deltas += [{"content": t} for t in split_text(a.text, a.chunks)]
        per_call: list[list[dict[str, Any]]] = []
        for i, tc in enumerate(a.tool_calls):
            first = {"index": i, "id": self._call_id(i, tc.id), "type": "function",
                     "function": {"name": tc.name, "arguments": ""}}  # fmt: skip
            pieces = [{"index": i, "function": {"arguments": p}} for p in split_text(json.dumps(tc.args), 3)]
            per_call.append([{"tool_calls": [first]}] + [{"tool_calls": [p]} for p in pieces])
        if a.interleave:
            deltas += [d for turn in itertools.zip_longest(*per_call) for d in turn if d is not None]
        else:
            deltas += [d for call in per_call for d in call]
        head = {"role": "assistant", "content": "", "refusal": None}
        if deltas and "tool_calls" in deltas[0]:
            deltas[0] = {"role": "assistant", "content": None, **deltas[0]}
        else:
            deltas.insert(0, head)
        frames = [chunk(d) for d in deltas]
        frames.append(chunk({}, self._finish(a, named)))
        if include_usage:
            frames.append(frame({**base, "choices": [], "usage": self.usage(a), "obfuscation": "x1"}))
        frames.append(b"data: [DONE]\n\n")
        return frames


def frame(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()
