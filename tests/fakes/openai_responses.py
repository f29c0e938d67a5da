"""A fake OpenAI Responses API (``POST /v1/responses``): validates like the real one, answers by hand.

Stateless, as detour calls it (``store: false``): every request carries the
whole conversation. ``Answer.thinking`` comes back as a ``reasoning`` item with
a summary and an ``encrypted_content`` this fake issued (when the request
``include``s it); a reasoning item sent back must carry one this fake issued,
as the real API decrypts it (WIRE_FORMATS.md §3).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from tests.fakes import openai_count as counting
from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, instructed, shaped, split_text
from tests.fakes.openai_chat_rules import TOOL_NAME, Invalid, error_body, status_error

TOP_LEVEL = {
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
    "temperature", "top_p", "reasoning", "text", "store", "stream", "include", "safety_identifier", "user",
    "metadata", "previous_response_id", "prompt_cache_key", "truncation", "service_tier",
}  # fmt: skip
ITEM_TYPES = {"message", "function_call", "function_call_output", "reasoning"}


def _content_ok(content: Any, where: str, role: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Invalid(
            f"Invalid type for '{where}.content': expected a string or an array.", f"{where}.content"
        )
    allowed = (
        {"output_text", "refusal"} if role == "assistant" else {"input_text", "input_image", "input_file"}
    )
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise Invalid(f"Invalid value: '{kind}'.", f"{where}.content[{j}].type", "invalid_value")


def _items_ok(items: Any, issued: set[str]) -> None:
    if isinstance(items, str):
        return
    if not isinstance(items, list) or not items:
        raise Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    calls: set[str] = set()
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise Invalid(f"Invalid type for '{where}'.", where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind not in ITEM_TYPES:
            raise Invalid(f"Invalid value: '{kind}'.", f"{where}.type", "invalid_value")
        match kind:
            case "message":
                role = item.get("role")
                if role not in ("user", "assistant", "system", "developer"):
                    raise Invalid(f"Invalid value: '{role}'.", f"{where}.role", "invalid_value")
                _content_ok(item.get("content"), where, role)
            case "function_call":
                for key in ("call_id", "name", "arguments"):
                    if not isinstance(item.get(key), str):
                        raise Invalid(f"Missing required parameter: '{where}.{key}'.", f"{where}.{key}")
                calls.add(item["call_id"])
            case "function_call_output":
                if item.get("call_id") not in calls:
                    raise Invalid(
                        f"No tool call found for function call output with call_id {item.get('call_id')}."
                    )
            case "reasoning":
                if item.get("encrypted_content") not in issued:
                    raise Invalid(
                        f"The encrypted content for item {item.get('id')} could not be verified.",
                        code="invalid_encrypted_content",
                    )


def _tools_ok(body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for i, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or t.get("type") != "function":
            raise Invalid(f"Invalid value for 'tools[{i}].type'.", f"tools[{i}].type", "invalid_value")
        if "function" in t or not isinstance(t.get("name"), str):
            raise Invalid(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name")
        if not TOOL_NAME.match(t["name"]) or len(t["name"]) > 64:
            raise Invalid(f"Invalid 'tools[{i}].name': string does not match pattern.", f"tools[{i}].name")
        names.add(t["name"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("name") not in names:
        raise Invalid(f"Tool choice '{choice.get('name')}' not found in 'tools' parameter.", "tool_choice")
    return names


def validate(body: Any, issued: set[str]) -> None:
    if not isinstance(body, dict):
        raise Invalid("We could not parse the JSON body of your request.")
    for key in body:
        if key not in TOP_LEVEL:
            raise Invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    _items_ok(body.get("input"), issued)
    _tools_ok(body)


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: the text of the
    assistant message item before detour's instruction to continue it; None otherwise."""
    items = body.get("input")
    if not isinstance(items, list) or len(items) < 2:
        return None
    held, last = items[-2], items[-1]
    if (
        last.get("type", "message") != "message"
        or last.get("role") != "user"
        or not instructed(last.get("content"))
    ):
        return None
    if held.get("type", "message") != "message" or held.get("role") != "assistant":
        return None
    content = held.get("content")
    text = "".join(p.get("text", "") for p in content) if isinstance(content, list) else content
    return text or None


def forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice["name"])
    if choice == "required" and body.get("tools"):
        return str(body["tools"][-1]["name"])
    return None


class FakeOpenAIResponses(FakeUpstream):
    def __init__(self, key: str = "sk-fake-openai") -> None:
        super().__init__()
        self.key = key
        self.issued: set[str] = set()
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/responses", self.create)]

    def inband_error(self, status: int) -> bytes:
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        return frame({"type": "error", "code": code, "message": f"injected {status}", "param": None})

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        kinds = ("response.output_text.delta", "response.reasoning_summary_text.delta")
        return [(data, "delta")] if data.get("type") in kinds else []

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if request.headers.get("authorization", "") != f"Bearer {self.key}":
            return web.json_response(
                error_body("Incorrect API key provided.", "invalid_request_error"), status=401
            )
        try:
            validate(body, self.issued)
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
            return web.json_response(error_body(str(e), "invalid_request_error", "input"), status=400)
        reply = self.billed(reply, counting.responses_prompt_chars(body), body["model"])
        encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
        resp_id = f"resp_fake{next(self._ids):04d}"
        items = self.output(reply, encrypted)
        if body.get("stream"):
            return await self.send_frames(
                request, self.stream_frames(reply, resp_id, body["model"], items), reply
            )
        return web.json_response(self.response(reply, resp_id, body["model"], items, "completed"))

    # --- rendering, by hand ---

    def output(self, a: Answer, encrypted: bool) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        n = next(self._ids)
        if a.thinking:
            item: dict[str, Any] = {"type": "reasoning", "id": f"rs_fake{n:04d}",
                                    "summary": [{"type": "summary_text", "text": a.thinking}]}  # fmt: skip
            if encrypted:
                item["encrypted_content"] = f"gAAAA-fake-{n:04d}"
                self.issued.add(item["encrypted_content"])
            items.append(item)
        if a.text:
            text = {"type": "output_text", "text": a.text, "annotations": [], "logprobs": []}
            items.append({"type": "message", "id": f"msg_fake{n:04d}", "role": "assistant", "status": "completed",
                          "content": [text]})  # fmt: skip
        for i, tc in enumerate(a.tool_calls):
            items.append({"type": "function_call", "id": f"fc_fake{n:04d}{i}", "call_id": tc.id or f"call_fake{n:04d}{i}",
                          "name": tc.name, "arguments": json.dumps(tc.args), "status": "completed"})  # fmt: skip
        return items

    @staticmethod
    def response(
        a: Answer, resp_id: str, model: str, items: list[dict[str, Any]], status: str
    ) -> dict[str, Any]:
        usage = {
            "input_tokens": a.input_tokens, "input_tokens_details": {"cached_tokens": a.cache_read_tokens},
            "output_tokens": a.output_tokens, "output_tokens_details": {"reasoning_tokens": a.reasoning_tokens},
            "total_tokens": a.input_tokens + a.output_tokens,
        }  # fmt: skip
        return {
            "id": resp_id, "object": "response", "created_at": 1770933892, "status": status, "error": None,
            "incomplete_details": None, "model": model, "output": items, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "usage": usage if status != "in_progress" else None,
        }  # fmt: skip

    def stream_frames(self, a: Answer, resp_id: str, model: str, items: list[dict[str, Any]]) -> list[bytes]:
        seq = itertools.count()
        out: list[bytes] = []

        def event(kind: str, **fields: Any) -> None:
            out.append(frame({"type": kind, "sequence_number": next(seq), **fields}))

        start = self.response(a, resp_id, model, [], "in_progress")
        event("response.created", response=start)
        event("response.in_progress", response=start)
        for k, item in enumerate(items):
            where = {"item_id": item["id"], "output_index": k}
            match item["type"]:
                case "message":
                    event(
                        "response.output_item.added",
                        output_index=k,
                        item={**item, "content": [], "status": "in_progress"},
                    )
                    for piece in split_text(item["content"][0]["text"], a.chunks):
                        event(
                            "response.output_text.delta", **where, content_index=0, delta=piece, logprobs=[]
                        )
                case "reasoning":
                    event("response.output_item.added", output_index=k, item={**item, "summary": []})
                    for piece in split_text(item["summary"][0]["text"], a.chunks):
                        event("response.reasoning_summary_text.delta", **where, summary_index=0, delta=piece)
                case "function_call":
                    event("response.output_item.added", output_index=k, item={**item, "arguments": ""})
                    for piece in split_text(item["arguments"], 3):
                        event("response.function_call_arguments.delta", **where, delta=piece)
                    event("response.function_call_arguments.done", **where, arguments=item["arguments"])
            event("response.output_item.done", output_index=k, item=item)
        event("response.completed", response=self.response(a, resp_id, model, items, "completed"))
        return out


def frame(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()
