"""A fake Gemini Developer API (v1beta generateContent) that checks requests like the real one.

Serves ``POST /v1beta/models/{model}:generateContent`` (and the same under ``/v1``), ``:streamGenerateContent``
(SSE with ``?alt=sse``, else one JSON array) and ``:countTokens`` (answering what the next answer
will bill). Auth is the
``x-goog-api-key`` header or ``?key=``. Answers are rendered by hand from the
scripted ``Answer``: thoughts as ``{"text", "thought": true}`` parts, function
calls without ids (as the real API sends them), text in chunks, a last chunk
with ``finishReason: STOP`` and ``usageMetadata``; for ``gemini-3*`` models the
first function call carries a fresh thought signature, which must come back.

What it accepts, with the real API's messages where they are known, is
``gemini_rules``.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, shaped, split_text
from tests.fakes.gemini_rules import Bad, Validator, field

_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE",
}  # fmt: skip


def prompt_chars(body: dict[str, Any]) -> int:
    """The text of a prompt (a generateContent request), as the fake bills it."""
    system = field(body, "systemInstruction")
    n = 0
    for content in ([system] if isinstance(system, dict) else []) + list(field(body, "contents") or []):
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            call, result = field(part, "functionCall"), field(part, "functionResponse")
            n += len(part.get("text") or "")
            if isinstance(call, dict):
                n += len(call.get("name", "")) + len(json.dumps(call.get("args", {})))
            if isinstance(result, dict):
                n += len(result.get("name", "")) + len(json.dumps(result.get("response", {})))
    for tool in field(body, "tools") or []:
        for d in field(tool, "functionDeclarations") or []:
            schema = field(d, "parametersJsonSchema") or d.get("parameters") or {}
            n += len(d.get("name", "")) + len(d.get("description") or "") + len(json.dumps(schema))
    return n


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: the text of a
    trailing ``model`` content (thoughts aside); None when the last content is not one."""
    last = field(body, "contents")[-1]
    parts = last["parts"]
    if last.get("role") != "model" or any(field(p, "text") is None for p in parts):
        return None
    return "".join(p["text"] for p in parts if not p.get("thought")) or None


class FakeGemini(FakeUpstream):
    def __init__(self, key: str = "AIzaSyFAKE-gemini-key", *, strict_signatures: bool = True,
                 real_auth_codes: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.key = key
        # Only signatures this fake issued (or the documented placeholders) are accepted back.
        self.strict_signatures = strict_signatures
        # The real API answers a wrong key 400 API_KEY_INVALID and a missing one 403; else 401 for both.
        self.real_auth_codes = real_auth_codes
        self.issued: set[bytes] = set()
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        # The real API serves both; google-genai 3.x calls `v1` by default.
        return [web.post("/v1beta/models/{tail}", self.handle), web.post("/v1/models/{tail}", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        model, sep, method = request.match_info["tail"].partition(":")
        if not sep or method not in ("generateContent", "streamGenerateContent", "countTokens"):
            return error_response(404, f"Method not found: {request.match_info['tail']}")
        denied = self.check_auth(request)
        if denied is not None:
            return denied
        try:
            body = await self.record(request)
        except json.JSONDecodeError:
            return error_response(400, "Invalid JSON payload received. Unexpected token.")
        try:
            if method == "countTokens":
                inner = field(body, "generateContentRequest") or body
                Validator(self, model).check(inner)
                return web.json_response({"totalTokens": self.counted(prompt_chars(inner))})
            validator = Validator(self, model)
            validator.check(body)
        except Bad as bad:
            return error_response(400, str(bad))
        reply = await self.take_reply(request)
        if isinstance(reply, Fault):
            return self.fault(reply)
        try:
            reply = self.continuing(shaped(reply, validator.forced_tool(body)), continuation_prefix(body))
        except Mismatch as e:
            return error_response(400, str(e))
        reply = self.billed(reply, prompt_chars(body), model)
        searchable = any(isinstance(t, dict) and "googleSearch" in t for t in field(body, "tools") or [])
        if method == "generateContent":
            if reply.malformed:
                return web.Response(text="<html>upstream hiccup</html>", content_type="text/html")
            return web.json_response(self.whole(reply, model, searchable))
        chunks = self.chunks(reply, model, searchable)
        if request.query.get("alt") != "sse":
            return web.json_response(chunks)  # without alt=sse the stream is one JSON array
        frames = [b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks]
        return await self.send_frames(request, frames, reply)

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        spots = []
        for candidate in data.get("candidates") or [] if isinstance(data, dict) else []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if isinstance(part.get("text"), str):
                    spots.append((part, "text"))
        return spots

    def check_auth(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if given == self.key:
            return None
        info = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]  # fmt: skip
        if not self.real_auth_codes:
            return error_response(401, "API key not valid. Please pass a valid API key.", info)
        if not given:
            return error_response(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        return error_response(400, "API key not valid. Please pass a valid API key.", info)

    def fault(self, fault: Fault) -> web.Response:
        details: list[dict[str, Any]] = []
        retry = fault.headers.get("retry-after")
        if fault.status == 429 and retry is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"})
        return error_response(fault.status, fault.message, details, fault.headers)

    def inband_error(self, status: int) -> bytes:
        # Gemini breaks a stream with a bare JSON error body, not an SSE frame.
        body = {"error": {"code": status, "message": "The model is overloaded. Please try again later.",
                          "status": _STATUS.get(status, "UNKNOWN")}}  # fmt: skip
        return json.dumps(body, indent=2).encode() + b"\n"

    def sign(self, model: str) -> dict[str, str]:
        if not model.startswith("gemini-3"):
            return {}
        raw = secrets.token_bytes(24)
        self.issued.add(raw)
        return {"thoughtSignature": base64.b64encode(raw).decode()}

    def calls(self, answer: Answer, model: str) -> list[dict[str, Any]]:
        parts = []
        for i, call in enumerate(answer.tool_calls):
            fc: dict[str, Any] = {"name": call.name, "args": call.args}
            if call.id is not None:
                fc["id"] = call.id
            parts.append({"functionCall": fc, **(self.sign(model) if i == 0 else {})})
        return parts

    @staticmethod
    def usage(answer: Answer) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": answer.input_tokens,
            "candidatesTokenCount": answer.output_tokens - answer.reasoning_tokens,
            "totalTokenCount": answer.input_tokens + answer.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
        }
        if answer.reasoning_tokens:
            usage["thoughtsTokenCount"] = answer.reasoning_tokens
        if answer.cache_read_tokens:
            usage["cachedContentTokenCount"] = answer.cache_read_tokens
        return usage

    def envelope(self, rid: str, model: str, parts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        for key in ("finishReason", "groundingMetadata"):  # the candidate's, not the response's
            if key in extra:
                candidate[key] = extra.pop(key)
        candidate["index"] = 0
        return {"candidates": [candidate], **extra, "modelVersion": model, "responseId": rid}

    def whole(self, answer: Answer, model: str, searchable: bool = False) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if answer.thinking:
            parts.append({"text": answer.thinking, "thought": True})
        if answer.text:
            parts.append({"text": answer.text})
        parts += self.calls(answer, model)
        rid = f"fakeGemini{next(self._ids)}"
        return self.envelope(rid, model, parts or [{"text": ""}], finishReason="STOP",
                             usageMetadata=self.usage(answer), **self.grounding(answer, searchable))  # fmt: skip

    def chunks(self, answer: Answer, model: str, searchable: bool = False) -> list[dict[str, Any]]:
        rid = f"fakeGemini{next(self._ids)}"
        early = {"promptTokenCount": answer.input_tokens, "totalTokenCount": answer.input_tokens}
        out = []
        if answer.thinking:
            for piece in split_text(answer.thinking, 2):
                out.append(self.envelope(rid, model, [{"text": piece, "thought": True}], usageMetadata=early))
        for piece in split_text(answer.text, answer.chunks) if answer.text else []:
            out.append(self.envelope(rid, model, [{"text": piece}], usageMetadata=early))
        for part in self.calls(answer, model):
            out.append(self.envelope(rid, model, [part], usageMetadata=early))
        last = self.envelope(rid, model, [{"text": ""}], finishReason="STOP", usageMetadata=self.usage(answer),
                             **self.grounding(answer, searchable))  # fmt: skip
        return [*out, last]

    @staticmethod
    def grounding(answer: Answer, searchable: bool) -> dict[str, Any]:
        """Google Search grounding, when the request offered it, for ``envelope``'s candidate."""
        if answer.web_search is None or not searchable:
            return {}
        query, pages = answer.web_search
        return {"groundingMetadata": {
            "webSearchQueries": [query], "groundingChunks": [{"web": {"uri": u, "title": t}} for u, t in pages],
            "groundingSupports": [{"segment": {"endIndex": len(answer.text or "")}, "groundingChunkIndices": [0]}],
            "searchEntryPoint": {"renderedContent": f"<div>{query}</div>"}}}  # fmt: skip


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)
