"""Gemini answers: GenerateContentResponse bodies, their SSE streams, and errors.

A stream is a series of ``data: <GenerateContentResponse>`` frames with no
event names and no end marker: it ends when the connection closes, so the
decoder's ``close()`` emits the end it owes (or raises if no ``finishReason``
ever came). Text arrives in increments, function calls whole. A non-streaming
body is decoded as a one-frame stream and assembled, so both share one path.

Thought signatures ride on the part they sign. An empty text part carrying
only a signature (Gemini ends answers with one) joins the text part before it,
when that part has no signature yet; otherwise it stays an empty ``TextPart``
holding the signature, which encoders of other formats drop like any empty text.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from daemon import ir
from daemon.formats import ids
from daemon.formats.fields import json_object
from daemon.formats.gemini_schema import Renames, property_renames
from daemon.formats.json_keys import KeyRenamer
from daemon.formats.retry import retry_after
from daemon.formats.sse import frame
from daemon.ir import WRAP

ORIGIN = "gemini"
# Documented stand-ins for a signature on history Gemini did not write.
SKIP_SIGNATURE = "skip_thought_signature_validator"
PLACEHOLDER_SIGNATURES = frozenset({SKIP_SIGNATURE, "context_engineering_is_the_way_to_go"})
# Where call arguments that are not a JSON object go, so Gemini's `args` object can hold them.
RAW_ARGUMENTS = "_raw_arguments"
# base64 of "dtr1.": how a wrapped blob starts once `to_client_signature` encoded it.
_WRAPPED_B64 = base64.urlsafe_b64encode(WRAP.encode()).decode()[:6]

_FILTERED = ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER")  # fmt: skip
FINISH_IN: dict[str, ir.FinishReason] = {
    "STOP": "end",
    "MAX_TOKENS": "length",
    # The answer was cut at a per-request limit; detour does not resend with the continuationToken.
    "CONTINUATION": "length",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    **dict.fromkeys(_FILTERED, "content_filter"),
}
FINISH_OUT: dict[ir.FinishReason, str] = {
    "end": "STOP", "stop_sequence": "STOP", "tool_use": "STOP", "length": "MAX_TOKENS",
    "content_filter": "SAFETY", "refusal": "SAFETY", "paused": "OTHER", "error": "OTHER", "other": "OTHER",
}  # fmt: skip
STATUS_OF_KIND: dict[ir.ErrorKind, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "context_too_long": "INVALID_ARGUMENT",
    "request_too_large": "INVALID_ARGUMENT",
    "content_policy": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "overloaded": "UNAVAILABLE",
    "server_error": "INTERNAL",
    "timeout": "DEADLINE_EXCEEDED",
    "budget_exceeded": "FAILED_PRECONDITION",
    "all_providers_failed": "UNAVAILABLE",
}
# Answer parts IR cannot hold (a request never asks for them: decode_request refuses those tools).
_UNTRANSLATABLE = ("inlineData", "fileData", "executableCode", "codeExecutionResult", "functionResponse",
                   "toolCall", "toolResponse")  # fmt: skip
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_TOO_MANY_TOKENS = "exceeds the maximum number of tokens"


def own_signature(opaque: ir.Opaque | None) -> str | None:
    """A signature Gemini issued, the only kind it takes back."""
    return opaque.blob if opaque is not None and opaque.format == ORIGIN else None


def _is_base64(text: str) -> bool:
    """What the Gemini SDK accepts for a bytes field: canonical base64, either alphabet."""
    std = text.replace("-", "+").replace("_", "/")
    padded = std + "=" * (-len(std) % 4)
    try:
        return base64.b64encode(base64.b64decode(padded, validate=True)).decode() == padded
    except (binascii.Error, ValueError):
        return False


def to_client_signature(sig: str) -> str:
    """A signature a Gemini SDK can hold. Its ``thoughtSignature`` is bytes, so detour's wrapped blobs
    from other providers (``dtr1.<origin>.<blob>``, not base64) go as the base64 of their text."""
    return sig if _is_base64(sig) else base64.urlsafe_b64encode(sig.encode()).decode()


def from_client_signature(sig: str) -> str:
    """``to_client_signature`` undone. The SDK sends its bytes back re-encoded (URL-safe), which
    Gemini takes as they are; only a blob detour wrapped needs its text back."""
    if not sig.startswith(_WRAPPED_B64):
        return sig
    try:
        text = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)).decode()
    except (binascii.Error, ValueError):
        return sig
    return text if text.startswith(WRAP) else sig


def args_object(arguments: str) -> dict[str, Any]:
    """IR arguments (JSON text, maybe broken) as the object Gemini's ``args`` must be."""
    return json_object(arguments, RAW_ARGUMENTS)


# -- upstream answers -> IR ----------------------------------------------------------------------


class _Reader:
    """GenerateContentResponse frames -> IR stream events (the contract in ``ir.stream``)."""

    __slots__ = (
        "_req", "_renames", "_started", "_id", "_model", "_open", "_open_kind", "_signed", "_next",
        "_calls", "_finish", "_blocked", "_usage", "_keys", "_grounding",
    )  # fmt: skip

    def __init__(self, req: ir.Request) -> None:
        self._req = req
        self._renames = Renames.of(req.tools)
        self._started = False
        self._id = ""
        self._model = req.model
        self._open: int | None = None
        self._open_kind = ""  # "text" | "thinking" | "call"
        self._signed = False
        self._next = 0
        self._calls = 0
        self._finish: str | None = None
        self._blocked: str | None = None
        self._usage: ir.Usage | None = None
        # The latest grounding metadata (Google Search ran): its searches go out at the end,
        # since a stream may repeat it as it grows.
        self._grounding: dict[str, Any] | None = None
        # A response schema's renamed property names, mapped back in the answer's text.
        rf = req.response_format
        wire = property_renames(rf.schema) if rf is not None and rf.tool is None and rf.schema else {}
        self._keys = KeyRenamer({v: k for k, v in wire.items()}) if wire else None

    def feed(self, data: Any) -> list[ir.StreamEvent]:
        if isinstance(data, list):  # the stream endpoint without alt=sse answers one JSON array
            return [ev for item in data for ev in self.feed(item)]
        if not isinstance(data, dict):
            raise ir.ApiError(502, "server_error", "gemini sent a frame that is not a JSON object")
        if "error" in data:
            err = data["error"]
            code = err.get("code") if isinstance(err, dict) else None
            raise decode_error(code if isinstance(code, int) and code >= 400 else 500, data, {})
        events: list[ir.StreamEvent] = []
        usage = _usage(data.get("usageMetadata"))
        if usage is not None:
            self._usage = usage
        if not self._started:
            self._started = True
            self._id = str(data.get("responseId") or "")
            self._model = str(data.get("modelVersion") or self._req.model)
            first = ir.Usage(usage.input_tokens, cache_read_tokens=usage.cache_read_tokens) if usage else None
            events.append(ir.StreamStart(self._id, self._model, usage=first))
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = str(feedback["blockReason"])
        candidates = data.get("candidates")
        if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
            candidate = candidates[0]
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict):
                    self._part(part, events)
            if candidate.get("finishReason"):
                self._finish = str(candidate["finishReason"])
            if isinstance(candidate.get("groundingMetadata"), dict):
                self._grounding = candidate["groundingMetadata"]
        return events

    def finish(self, *, cut_is_error: bool) -> list[ir.StreamEvent]:
        """The end owed once the upstream is done."""
        if self._finish is None and self._blocked is None and cut_is_error:
            raise ir.ApiError(502, "server_error", "gemini stream cut before its finishReason")
        events: list[ir.StreamEvent] = []
        if not self._started:
            events.append(ir.StreamStart(self._id, self._model))
        self._close(events)
        for search in web_searches(self._grounding, self._id or self._model):
            index, self._next = self._next, self._next + 1
            events += [ir.PartStart(index, search), ir.PartEnd(index)]
        finish: ir.FinishReason
        if self._finish is not None:
            raw: str | None = self._finish
            finish = FINISH_IN.get(self._finish, "other")
            if finish == "end" and self._calls:
                finish = "tool_use"
        elif self._blocked is not None:
            raw, finish = self._blocked, "content_filter"
        else:
            raw, finish = None, "other"
        events.append(ir.StreamEnd(finish, raw_finish=raw, usage=self._usage or ir.Usage()))
        return events

    def _part(self, part: dict[str, Any], events: list[ir.StreamEvent]) -> None:
        sig = part.get("thoughtSignature")
        opaque = ir.Opaque(ORIGIN, sig) if isinstance(sig, str) and sig else None
        if isinstance(part.get("functionCall"), dict):
            self._call(part["functionCall"], opaque, events)
            return
        foreign = [k for k in _UNTRANSLATABLE if k in part]
        if foreign:
            raise ir.ApiError(
                502, "server_error", f"gemini answered with a part detour cannot translate ({foreign[0]})"
            )
        text = part.get("text")
        self._text(text if isinstance(text, str) else "", part.get("thought") is True, opaque, events)

    def _text(self, text: str, thought: bool, opaque: ir.Opaque | None, events: list[ir.StreamEvent]) -> None:
        kind = "thinking" if thought else "text"
        if self._open is not None and self._open_kind == kind and not self._signed:
            index = self._open
        elif not text and opaque is None:
            return  # an empty text carries nothing
        else:
            self._close(events)
            index = self._start(ir.ThinkingPart() if thought else ir.TextPart(""), kind, events)
        if not thought and self._keys is not None:
            text = self._keys.feed(text)
        if text:
            events.append(ir.ThinkingDelta(index, text) if thought else ir.TextDelta(index, text))
        if opaque is not None:
            events.append(ir.SignatureDelta(index, opaque))
            self._signed = True

    def _call(self, fc: dict[str, Any], opaque: ir.Opaque | None, events: list[ir.StreamEvent]) -> None:
        self._close(events)
        tool = self._renames.tool_name(str(fc.get("name") or ""))
        args = fc.get("args") if isinstance(fc.get("args"), dict) else {}
        arguments = orjson.dumps(self._renames.args_in(tool, args)).decode()
        # No id is the norm: one from the response id and the call's rank, the same streamed or not.
        call_id = fc.get("id") or ids.synthesize(self._id or f"{self._model}:{tool}:{arguments}", self._calls)
        self._calls += 1
        index = self._start(ir.ToolCallPart(str(call_id), tool, "", opaque=opaque), "call", events)
        events += [ir.ArgumentsDelta(index, arguments), ir.PartEnd(index)]
        self._open = None

    def _start(self, part: ir.AssistantPart, kind: str, events: list[ir.StreamEvent]) -> int:
        index, self._next = self._next, self._next + 1
        events.append(ir.PartStart(index, part))
        self._open, self._open_kind, self._signed = index, kind, False
        return index

    def _close(self, events: list[ir.StreamEvent]) -> None:
        if self._open is not None:
            if self._open_kind == "text" and self._keys is not None and (held := self._keys.flush()):
                events.append(ir.TextDelta(self._open, held))
            events.append(ir.PartEnd(self._open))
            self._open = None


def web_searches(grounding: dict[str, Any] | None, seed: str) -> list[ir.WebSearchPart]:
    """Google Search grounding as searches: one per query Gemini ran. It does not say which
    query found which page, so the pages go with the first. Gemini takes none of it back
    (no opaque): the answer's text carries what was found."""
    if not grounding:
        return []
    chunks = grounding.get("groundingChunks")
    sources = [
        ir.WebSource(str(web.get("uri", "")), web["title"] if isinstance(web.get("title"), str) else None)
        for c in (chunks if isinstance(chunks, list) else [])
        if isinstance(c, dict) and isinstance(web := c.get("web"), dict)
    ]
    raw = grounding.get("webSearchQueries")
    queries = [q for q in raw if isinstance(q, str)] if isinstance(raw, list) else []
    if not queries and not sources:
        return []
    return [
        ir.WebSearchPart(ids.synthesize(f"{seed}:search", i), q, sources if i == 0 else [])
        for i, q in enumerate(queries or [""])
    ]


def _usage(meta: Any) -> ir.Usage | None:
    if not isinstance(meta, dict):
        return None

    def count(key: str) -> int:
        value = meta.get(key)
        return value if isinstance(value, int) else 0

    thoughts = count("thoughtsTokenCount")
    return ir.Usage(
        # promptTokenCount includes the cached tokens; tool-use prompt tokens are input too.
        input_tokens=count("promptTokenCount") + count("toolUsePromptTokenCount"),
        output_tokens=count("candidatesTokenCount") + thoughts,
        cache_read_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


class StreamDecoder:
    __slots__ = ("_reader",)

    def __init__(self, req: ir.Request) -> None:
        self._reader = _Reader(req)

    def feed(self, event: str | None, data: Any, original: str | None = None) -> list[ir.StreamEvent]:
        return self._reader.feed(data)

    def close(self) -> list[ir.StreamEvent]:
        return self._reader.finish(cut_is_error=True)


def stream_decoder(req: ir.Request) -> StreamDecoder:
    return StreamDecoder(req)


# -- IR answers -> a Gemini client ---------------------------------------------------------------


def _signed(part: dict[str, Any], opaque: ir.Opaque | None) -> dict[str, Any]:
    sig = own_signature(opaque)
    if sig is not None:
        part["thoughtSignature"] = to_client_signature(sig)
    return part


def _call_out(part: ir.ToolCallPart, arguments: str, opaque: ir.Opaque | None) -> dict[str, Any]:
    fc: dict[str, Any] = {"name": part.name, "args": args_object(arguments)}
    if not ids.made_up_id(part.id):
        fc["id"] = part.id  # another provider's id: the client echoes it, so pairing survives
    return _signed({"functionCall": fc}, opaque)


def _part_out(part: ir.AssistantPart) -> dict[str, Any] | None:
    match part:
        case ir.TextPart():
            if not part.text and own_signature(part.opaque) is None:
                return None
            return _signed({"text": part.text}, part.opaque)
        case ir.ThinkingPart():
            if part.redacted is not None or (not part.text and own_signature(part.opaque) is None):
                return None  # Anthropic's redacted thinking means nothing to a Gemini client
            return _signed({"text": part.text, "thought": True}, part.opaque)
        case ir.ToolCallPart():
            return _call_out(part, part.arguments, part.opaque)
        case ir.WebSearchPart():
            return None  # grounding is not a part on this wire; the text, kept, says what was found


def _finish_out(finish: ir.FinishReason, raw: str | None) -> str:
    """Gemini's own value when it came from Gemini and still means the same, else the table's."""
    if raw == "CONTINUATION":
        return "MAX_TOKENS"  # no continuationToken goes with it: to the client it is a plain cut
    if raw is not None and (FINISH_IN.get(raw) == finish or (raw == "STOP" and finish == "tool_use")):
        return raw
    return FINISH_OUT[finish]


def usage_metadata(u: ir.Usage) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": max(u.output_tokens - u.reasoning_tokens, 0),
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.cache_read_tokens:
        meta["cachedContentTokenCount"] = u.cache_read_tokens
    if u.reasoning_tokens:
        meta["thoughtsTokenCount"] = u.reasoning_tokens
    return meta


def encode_response(resp: ir.Response, req: ir.Request) -> dict[str, Any]:
    parts = [p for p in (_part_out(part) for part in resp.parts) if p is not None]
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    candidate["finishReason"] = _finish_out(resp.finish, resp.raw_finish)
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(resp.usage),
        "modelVersion": resp.model or req.model,
        "responseId": resp.id,
    }


class StreamEncoder:
    """IR events -> ``data:`` frames a Gemini SDK reads: one per text delta, each call whole at its end."""

    __slots__ = ("verbatim", "_order", "_id", "_model", "_part", "_opaque", "_arguments", "_usage")

    def __init__(self, req: ir.Request) -> None:
        # Each frame repeats the answer's running usage and ids: originals are never written.
        self.verbatim = False
        self._order = ir.OnePartAtATime()
        self._id = ""
        self._model = req.model
        self._part: ir.AssistantPart | None = None
        self._opaque: ir.Opaque | None = None
        self._arguments: list[str] = []
        self._usage = ir.Usage()

    def feed(self, ev: ir.StreamEvent) -> bytes:
        ordered = self._order.feed(ev)  # this wire has one block at a time
        if len(ordered) == 1:
            return self._event(ordered[0])
        return b"".join(self._event(e) for e in ordered)

    def _event(self, ev: ir.StreamEvent) -> bytes:
        match ev:
            case ir.StreamStart():
                self._id, self._model = ev.id, ev.model or self._model
                if ev.usage is not None:
                    self._usage = self._usage.merge(ev.usage)
            case ir.PartStart():
                self._part, self._opaque, self._arguments = ev.part, ev.part.opaque, []
            case ir.TextDelta():
                return self._frame([{"text": ev.text}]) if ev.text else b""
            case ir.ThinkingDelta():
                return self._frame([{"text": ev.text, "thought": True}]) if ev.text else b""
            case ir.ArgumentsDelta():
                self._arguments.append(ev.fragment)
            case ir.SignatureDelta():
                self._opaque = ev.opaque
            case ir.PartEnd():
                return self._end_part()
            case ir.UsageUpdate():
                self._usage = self._usage.merge(ev.usage)
            case ir.StreamEnd():
                usage = self._usage.merge(ev.usage)
                candidate = {"finishReason": _finish_out(ev.finish, ev.raw_finish), "index": 0}
                return self._frame(None, candidate, usageMetadata=usage_metadata(usage))
        return b""

    def _end_part(self) -> bytes:
        part, self._part = self._part, None
        match part:
            case ir.ToolCallPart():
                return self._frame([_call_out(part, "".join(self._arguments), self._opaque)])
            case ir.TextPart() | ir.ThinkingPart() if own_signature(self._opaque) is not None:
                # The text went out in deltas; its signature closes it, as Gemini's own last chunk does.
                closing: dict[str, Any] = {"text": ""}
                if isinstance(part, ir.ThinkingPart):
                    closing["thought"] = True
                return self._frame([_signed(closing, self._opaque)])
        return b""

    def _frame(
        self, parts: list[dict[str, Any]] | None, candidate: dict[str, Any] | None = None, **extra: Any
    ) -> bytes:
        cand: dict[str, Any] = {}
        if parts is not None:
            cand["content"] = {"parts": parts, "role": "model"}
        cand.update(candidate or {"index": 0})
        return frame({"candidates": [cand], **extra, "modelVersion": self._model, "responseId": self._id})

    def error(self, err: ir.ApiError) -> bytes:
        return error_frame(err)


def error_frame(err: ir.ApiError) -> bytes:
    """The error chunk that ends a stream whose content already began."""
    return frame(encode_error(err))


def stream_encoder(req: ir.Request) -> StreamEncoder:
    return StreamEncoder(req)


# -- errors --------------------------------------------------------------------------------------


def encode_error(err: ir.ApiError) -> dict[str, Any]:
    """``{"error": {code, message, status, details?}}``; detour's own refusals name
    themselves in an ErrorInfo, and a retry hint goes in a RetryInfo."""
    error: dict[str, Any] = {"code": err.status, "message": err.message, "status": STATUS_OF_KIND[err.kind]}
    details: list[dict[str, Any]] = []
    if err.details or err.kind in ("budget_exceeded", "all_providers_failed"):
        metadata = {
            k: v if isinstance(v, str) else orjson.dumps(v).decode()
            for k, v in (err.details or {}).items()
            if v is not None
        }
        details.append({"@type": _ERROR_INFO, "reason": err.kind, "domain": "detour", "metadata": metadata})
    if err.retry_after_s is not None:
        details.append({"@type": _RETRY_INFO, "retryDelay": f"{err.retry_after_s:g}s"})
    if details:
        error["details"] = details
    return {"error": error}


def decode_error(status: int, body: Any, headers: Mapping[str, str]) -> ir.ApiError:
    if isinstance(body, list) and body:
        body = body[0]  # the stream endpoint without alt=sse wraps errors in an array too
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    message = error.get("message") if isinstance(error.get("message"), str) else None
    gstatus = str(error.get("status") or "")
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    reasons = {d.get("reason") for d in details if d.get("@type") == _ERROR_INFO}
    retry = _retry_delay(details)
    if retry is None:
        retry = retry_after(headers)
    return ir.ApiError(
        status,
        _error_kind(status, gstatus, message or "", reasons),
        message or f"gemini answered HTTP {status}",
        retry_after_s=retry,
        upstream=body,
    )


def _error_kind(status: int, gstatus: str, message: str, reasons: set[Any]) -> ir.ErrorKind:
    if status == 401 or gstatus == "UNAUTHENTICATED" or "API_KEY_INVALID" in reasons:
        return "authentication"  # Gemini answers a bad key with 400 INVALID_ARGUMENT + API_KEY_INVALID
    if status in (402, 403) or gstatus in ("PERMISSION_DENIED", "FAILED_PRECONDITION"):
        # The account, not the request: prepaid credit spent (402), a region or billing plan refused.
        return "permission"
    if status == 404 or gstatus == "NOT_FOUND":
        return "not_found"
    if status == 413:
        return "request_too_large"
    if status == 429 or gstatus == "RESOURCE_EXHAUSTED":
        return "rate_limit"
    if status in (503, 529) or gstatus == "UNAVAILABLE":
        return "overloaded"
    if status in (408, 504) or gstatus == "DEADLINE_EXCEEDED":
        return "timeout"
    if status >= 500 or gstatus in ("INTERNAL", "CANCELLED", "UNKNOWN"):
        return "server_error"
    if _TOO_MANY_TOKENS in message.lower():
        return "context_too_long"
    return "invalid_request"


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for d in details:
        delay = d.get("retryDelay")
        if d.get("@type") == _RETRY_INFO and isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None
