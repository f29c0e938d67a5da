"""OpenAI Responses answers: output items, usage, the response object, and streams.

Streams are named events (``event: response.output_text.delta``), each with a
``sequence_number``, ending with ``response.completed`` / ``.incomplete`` /
``.failed`` (no ``[DONE]``). Usage appears only in those last events. Argument
deltas are keyed by the item id (``fc_…``), which the decoder maps to the call.
Errors share OpenAI's ``{"error": {...}}`` shape with Chat Completions.
"""

from __future__ import annotations

import time
from typing import Any, Final

from daemon.formats.openai_chat_stream import decode_error, encode_error, stream_error
from daemon.formats.openai_responses_items import (
    NAME,
    call_state_item,
    flat_name,
    new_id,
    pack,
    reasoning_item,
    search_item_id,
    search_state_item,
    web_search_item,
)
from daemon.formats.sse import frame
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    AssistantPart,
    FinishReason,
    Opaque,
    PartEnd,
    PartStart,
    Request,
    Response,
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

__all__ = ["decode_error", "encode_error", "stream_decoder", "stream_encoder"]

_INCOMPLETE: Final[dict[FinishReason, str]] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


def response_id(given: str) -> str:
    return given if given.startswith("resp_") else new_id("resp")


# --- usage ----------------------------------------------------------------------------------


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def decode_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    inp, out = raw.get("input_tokens_details"), raw.get("output_tokens_details")
    inp, out = inp if isinstance(inp, dict) else {}, out if isinstance(out, dict) else {}
    return Usage(
        input_tokens=_count(raw.get("input_tokens")),
        output_tokens=_count(raw.get("output_tokens")),
        cache_read_tokens=_count(inp.get("cached_tokens")),
        cache_write_tokens=_count(inp.get("cache_write_tokens")),
        reasoning_tokens=_count(out.get("reasoning_tokens")),
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


# --- output items and the response object ---------------------------------------------------


def tool_namespaces(req: Request) -> dict[str, tuple[str, str]]:
    """Flat name -> (namespace, name) of the tools that came in a ``namespace`` tool."""
    return {t.name: (t.namespace, t.name[len(t.namespace) + 2 :]) for t in req.tools if t.namespace}


def output_item(
    part: AssistantPart, item_id: str, status: str, namespaces: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    match part:
        case TextPart():
            text = {"type": "output_text", "text": part.text, "annotations": [], "logprobs": []}
            return {
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": status,
                "content": [text],
            }
        case ThinkingPart():
            item = reasoning_item(part, own=False) or {}
            return {**item, "id": item_id}
        case ToolCallPart():
            call: dict[str, Any] = {
                "type": "function_call",
                "id": item_id,
                "call_id": part.id,
                "name": part.name,
            }
            if part.name in namespaces:
                call["namespace"], call["name"] = namespaces[part.name]
            return {**call, "arguments": part.arguments, "status": status}
        case WebSearchPart():
            return web_search_item(part, item_id, status)


def item_prefix(part: AssistantPart) -> str:
    return {"text": "msg", "thinking": "rs", "tool_call": "fc", "web_search": "ws"}[part.kind]


def status_of(finish: FinishReason) -> str:
    return "incomplete" if finish in _INCOMPLETE else "completed"


def response_object(
    resp_id: str,
    req: Request,
    model: str,
    output: list[dict[str, Any]],
    status: str,
    *,
    usage: Usage | None = None,
    finish: FinishReason | None = None,
    error: ApiError | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    choice = req.tool_choice
    return {
        "id": resp_id,
        "object": "response",
        "created_at": created or int(time.time()),
        "status": status,
        "error": None if error is None else {"code": _error_code(error), "message": error.message},
        "incomplete_details": {"reason": _INCOMPLETE[finish]} if finish in _INCOMPLETE else None,
        "instructions": None,
        "max_output_tokens": req.max_tokens,
        "metadata": {},
        "model": model or req.model,
        "output": output,
        "parallel_tool_calls": choice is None or choice.parallel is not False,
        "temperature": req.temperature,
        "tool_choice": "auto" if choice is None or choice.mode == "tool" else choice.mode,
        "tools": [],
        "top_p": req.top_p,
        "store": True,
        "usage": None if usage is None else encode_usage(usage),
    }


def _error_code(err: ApiError) -> str:
    code = encode_error(err)["error"]["code"]
    return code if isinstance(code, str) else "server_error"


# --- streams: IR -> wire --------------------------------------------------------------------


class ResponsesStreamEncoder:
    """IR events -> the Responses event sequence the ``openai`` SDK's stream helpers follow."""

    def __init__(self, req: Request) -> None:
        # Its events number themselves (``sequence_number``) and name detour's own items: a
        # frame never comes back unchanged, so originals are never written.
        self.verbatim = False
        self._req = req
        self._namespaces = tool_namespaces(req)
        self._seq = 0
        self._id = ""
        self._model = req.model
        self._created = int(time.time())
        self._usage = Usage()
        self._items: list[dict[str, Any]] = []
        self._parts: dict[int, AssistantPart] = {}  # IR index -> the part as accumulated so far
        self._slot: dict[int, int] = {}  # IR index -> output index
        self._stated: set[int] = set()  # tool calls whose provider state went out

    def _event(self, kind: str, **fields: Any) -> bytes:
        self._seq += 1
        return frame({"type": kind, "sequence_number": self._seq - 1, **fields}, event=kind)

    def _response(self, status: str, **kw: Any) -> dict[str, Any]:
        return response_object(
            self._id, self._req, self._model, self._items, status, created=self._created, **kw
        )

    def feed(self, ev: StreamEvent) -> bytes:
        match ev:
            case StreamStart():
                self._id, self._model = response_id(ev.id), ev.model or self._model
                start = self._response("in_progress")
                return self._event("response.created", response=start) + self._event(
                    "response.in_progress", response=start
                )
            case PartStart():
                return self._start(ev.index, ev.part)
            case TextDelta() if ev.text:
                self._grow(ev.index, ev.text)
                return self._event(
                    "response.output_text.delta", item_id=self._item(ev.index)["id"],
                    output_index=self._slot[ev.index], content_index=0, delta=ev.text, logprobs=[],
                )  # fmt: skip
            case ThinkingDelta() if ev.text:
                self._grow(ev.index, ev.text)
                return self._event(
                    "response.reasoning_summary_text.delta", item_id=self._item(ev.index)["id"],
                    output_index=self._slot[ev.index], summary_index=0, delta=ev.text,
                )  # fmt: skip
            case ArgumentsDelta() if ev.fragment:
                self._grow(ev.index, ev.fragment)
                return self._event(
                    "response.function_call_arguments.delta", item_id=self._item(ev.index)["id"],
                    output_index=self._slot[ev.index], delta=ev.fragment,
                )  # fmt: skip
            case SignatureDelta():
                self._parts[ev.index].opaque = ev.opaque
                return b""
            case PartEnd():
                return self._end(ev.index)
            case UsageUpdate():
                self._usage = self._usage.merge(ev.usage)
                return b""
            case StreamEnd():
                self._usage = self._usage.merge(ev.usage)
                status = status_of(ev.finish)
                done = self._response(status, usage=self._usage, finish=ev.finish)
                return self._event(f"response.{status}", response=done)
            case _:
                return b""

    def error(self, err: ApiError) -> bytes:
        code = _error_code(err)
        failed = self._response("failed", usage=self._usage, error=err)
        return self._event("error", code=code, message=err.message, param=None) + self._event(
            "response.failed", response=failed
        )

    def _item(self, index: int) -> dict[str, Any]:
        return self._items[self._slot[index]]

    def _grow(self, index: int, text: str) -> None:
        part = self._parts[index]
        if isinstance(part, ToolCallPart):
            part.arguments += text
        elif not isinstance(part, WebSearchPart):  # a search gets no deltas
            part.text += text

    def _start(self, index: int, part: AssistantPart) -> bytes:
        if isinstance(part, WebSearchPart):
            return self._search(index, part)
        if isinstance(part, TextPart):
            fresh: AssistantPart = TextPart("", opaque=part.opaque)
        elif isinstance(part, ThinkingPart):
            fresh = ThinkingPart("", opaque=part.opaque, redacted=part.redacted)
        else:
            fresh = ToolCallPart(part.id, part.name, "", opaque=part.opaque)
        self._parts[index] = fresh
        out = self._call_state(index, fresh) if isinstance(fresh, ToolCallPart) else b""
        self._slot[index] = len(self._items)
        item = output_item(fresh, new_id(item_prefix(fresh)), "in_progress", self._namespaces)
        self._items.append(item)
        out += self._event("response.output_item.added", output_index=self._slot[index], item=item)
        if isinstance(fresh, TextPart):
            part0 = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added", item_id=item["id"], output_index=self._slot[index],
                content_index=0, part=part0,
            )  # fmt: skip
        elif isinstance(fresh, ThinkingPart):
            out += self._event(
                "response.reasoning_summary_part.added", item_id=item["id"], output_index=self._slot[index],
                summary_index=0, part={"type": "summary_text", "text": ""},
            )  # fmt: skip
        return out

    def _search(self, index: int, part: WebSearchPart) -> bytes:
        """A search arrives whole: its item opens, and the search runs, at once."""
        self._parts[index] = part
        slot = self._slot[index] = len(self._items)
        item = web_search_item(part, search_item_id(part), "in_progress")
        self._items.append(item)
        out = self._event("response.output_item.added", output_index=slot, item=item)
        where = {"item_id": item["id"], "output_index": slot}
        out += self._event("response.web_search_call.in_progress", **where)
        return out + self._event("response.web_search_call.searching", **where)

    def _end(self, index: int) -> bytes:
        part, slot = self._parts[index], self._slot[index]
        if isinstance(part, ToolCallPart) and not part.arguments.strip():
            part.arguments = "{}"
        item_id = self._items[slot]["id"]
        item = self._items[slot] = output_item(part, item_id, "completed", self._namespaces)
        where = {"item_id": item_id, "output_index": slot}
        match part:
            case TextPart():
                text = item["content"][0]
                out = self._event(
                    "response.output_text.done", **where, content_index=0, text=part.text, logprobs=[]
                )
                out += self._event("response.content_part.done", **where, content_index=0, part=text)
            case ThinkingPart():
                summary = {"type": "summary_text", "text": part.text}
                out = self._event(
                    "response.reasoning_summary_text.done", **where, summary_index=0, text=part.text
                )
                out += self._event(
                    "response.reasoning_summary_part.done", **where, summary_index=0, part=summary
                )
            case ToolCallPart():
                out = self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=part.arguments,
                )
            case WebSearchPart():
                out = self._event("response.web_search_call.completed", **where)
        out += self._event("response.output_item.done", output_index=slot, item=item)
        if isinstance(part, WebSearchPart):
            return out + self._state_item(search_state_item(part))
        return out + self._call_state(index, part) if isinstance(part, ToolCallPart) else out

    def _call_state(self, index: int, part: ToolCallPart) -> bytes:
        """A reasoning item carrying the call's provider state, once, as soon as it is known."""
        state = None if index in self._stated else call_state_item(part)
        if state is None:
            return b""
        self._stated.add(index)
        return self._state_item(state)

    def _state_item(self, state: dict[str, Any] | None) -> bytes:
        """A reasoning item of detour's that carries provider state, added and done at once."""
        if state is None:
            return b""
        slot = len(self._items)
        self._items.append(state)
        added = self._event("response.output_item.added", output_index=slot, item=state)
        return added + self._event("response.output_item.done", output_index=slot, item=state)


def stream_encoder(req: Request) -> ResponsesStreamEncoder:
    return ResponsesStreamEncoder(req)


# --- streams: wire -> IR --------------------------------------------------------------------


def _malformed(what: str) -> ApiError:
    return ApiError(502, "server_error", f"the OpenAI Responses stream sent {what}")


def finish_of(response: dict[str, Any], tool_calls: bool, refusal: bool) -> FinishReason:
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete" or reason:
        return "content_filter" if reason == "content_filter" else "length"
    if refusal:
        return "refusal"
    return "tool_use" if tool_calls else "end"


def failure(response: Any) -> ApiError:
    err = response.get("error") if isinstance(response, dict) else None
    err = err if isinstance(err, dict) else {}
    return stream_error(
        {"error": {"message": err.get("message") or "the response failed", "code": err.get("code")}}
    )


class ResponsesStreamDecoder:
    """Responses events -> IR events: one IR part per output item (a message's text parts joined)."""

    def __init__(self, req: Request) -> None:
        self._index = -1
        self._open: str | None = None  # item id of the open part
        self._parts: dict[str, int] = {}  # item id -> IR index
        self._argued: set[str] = set()  # items whose text or arguments came as deltas
        self._calls = False
        self._refusal = False
        self._started = False
        self._ended = False

    def feed(self, event: str | None, data: Any, original: str | None = None) -> list[StreamEvent]:
        if self._ended:
            return []
        if not isinstance(data, dict):
            raise _malformed(f"a frame that is not a JSON object: {str(data)[:80]!r}")
        kind = data.get("type") or event
        out: list[StreamEvent] = []
        match kind:
            case "response.created" | "response.in_progress" | "response.queued":
                if not self._started:
                    r = data.get("response")
                    r = r if isinstance(r, dict) else {}
                    self._started = True
                    out.append(StreamStart(str(r.get("id") or ""), str(r.get("model") or "")))
            case "response.output_item.added":
                self._added(data.get("item"), out)
            case "response.output_text.delta" | "response.refusal.delta":
                self._refusal |= kind == "response.refusal.delta"
                self._delta(data, TextDelta, out)
            case "response.reasoning_summary_text.delta" | "response.reasoning_text.delta":
                self._delta(data, ThinkingDelta, out)
            case "response.function_call_arguments.delta":
                self._delta(data, ArgumentsDelta, out)
            case "response.output_item.done":
                self._done(data.get("item"), out)
            case "response.completed" | "response.incomplete":
                self._finish(data.get("response"), out)
            case "response.failed":
                raise failure(data.get("response"))
            case "error":
                raise stream_error({"error": data})
            case _:
                pass  # part bounds, annotations, summary parts: nothing the IR needs
        return out

    def close(self) -> list[StreamEvent]:
        if not self._ended:
            raise ApiError(502, "server_error", "stream cut before its end: no response.completed")
        return []

    def _start(self, item_id: str, part: AssistantPart, out: list[StreamEvent]) -> int:
        self._close(out)
        self._index += 1
        self._parts[item_id] = self._index
        self._open = item_id
        out.append(PartStart(self._index, part))
        return self._index

    def _close(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            out.append(PartEnd(self._parts[self._open]))
            self._open = None

    def _added(self, raw: Any, out: list[StreamEvent]) -> None:
        item = raw if isinstance(raw, dict) else {}
        item_id = str(item.get("id") or new_id("item"))
        match item.get("type"):
            case "message":
                self._start(item_id, TextPart(""), out)
            case "reasoning":
                self._start(item_id, ThinkingPart(""), out)
            case "function_call":
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    raise _malformed("a function_call item without a name")
                if isinstance(ns := item.get("namespace"), str) and ns:
                    name = flat_name(ns, name)  # a tool the request sent in a namespace
                self._calls = True
                call_id = str(item.get("call_id") or item_id)
                self._start(item_id, ToolCallPart(call_id, name, ""), out)

    def _delta(self, data: dict[str, Any], event: type[Any], out: list[StreamEvent]) -> None:
        item_id = str(data.get("item_id") or "")
        delta = data.get("delta")
        if item_id not in self._parts or self._open != item_id:
            raise _malformed(f"a delta for item {item_id!r} that is not the open one")
        if isinstance(delta, str) and delta:
            self._argued.add(item_id)
            out.append(event(self._parts[item_id], delta))

    def _done(self, raw: Any, out: list[StreamEvent]) -> None:
        item = raw if isinstance(raw, dict) else {}
        item_id = str(item.get("id") or "")
        if item_id not in self._parts:
            return  # items detour does not carry (web_search_call)
        index = self._parts[item_id]
        if item_id not in self._argued:  # a server that sends whole items only
            match item.get("type"):
                case "function_call" if item.get("arguments"):
                    out.append(ArgumentsDelta(index, str(item["arguments"])))
                case "message":
                    texts = [c.get("text") or c.get("refusal") or "" for c in item.get("content") or []]
                    if text := "".join(t for t in texts if isinstance(t, str)):
                        out.append(TextDelta(index, text))
        if item.get("type") == "reasoning" and (enc := item.get("encrypted_content")):
            out.append(SignatureDelta(index, Opaque(NAME, pack(item_id, str(enc)))))
        if self._open == item_id:
            self._close(out)

    def _finish(self, raw: Any, out: list[StreamEvent]) -> None:
        response = raw if isinstance(raw, dict) else {}
        if not self._started:
            self._started = True
            out.append(StreamStart(str(response.get("id") or ""), str(response.get("model") or "")))
        self._close(out)
        usage = decode_usage(response.get("usage"))
        status = response.get("status")
        out.append(StreamEnd(finish_of(response, self._calls, self._refusal), str(status or ""), usage))
        self._ended = True


def stream_decoder(req: Request) -> ResponsesStreamDecoder:
    return ResponsesStreamDecoder(req)


def response_output(resp: Response, req: Request) -> list[dict[str, Any]]:
    namespaces = tool_namespaces(req)
    out: list[dict[str, Any]] = []
    for p in resp.parts:
        if isinstance(p, ToolCallPart) and (state := call_state_item(p)) is not None:
            out.append(state)
        if isinstance(p, WebSearchPart):
            # The search first, then its payload, as a stream gives them.
            out += [web_search_item(p, search_item_id(p), "completed"), *filter(None, [search_state_item(p)])]
            continue
        out.append(output_item(p, new_id(item_prefix(p)), "completed", namespaces))
    return out


def error_frame(err: ApiError) -> bytes:
    """The ``error`` event that ends a stream whose content already began, where the
    encoder that numbered its events is gone (an internal error mid-stream)."""
    body = {
        "type": "error",
        "sequence_number": 0,
        "code": _error_code(err),
        "message": err.message,
        "param": None,
    }
    return frame(body, event="error")
