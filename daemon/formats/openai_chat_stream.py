"""OpenAI Chat Completions answers: finish reasons, usage, tool names, errors and streams.

Shared by whole answers (``openai_chat``) and streams (here). Streams are
``data:`` frames with no event names, ended by ``data: [DONE]``; the provider
passes that terminator through as the string ``"[DONE]"``. Usage arrives in a
last ``choices: []`` chunk after the finish chunk (only when the request asked
for it with ``stream_options.include_usage``, which detour always does).

Our encoder always sends that usage chunk: the IR has no field for the
client's ``include_usage``, and the SDK accepts a ``choices: []`` chunk
whether it asked or not.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

import orjson

from daemon.formats.ids import fit_name, renamed, synthesize
from daemon.formats.retry import retry_after
from daemon.formats.sse import frame
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    ErrorKind,
    FinishReason,
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
)
from daemon.ir.errors import STATUS_OF_KIND

DONE: Final = "[DONE]"

# --- finish reasons -------------------------------------------------------------------------

FINISH: Final[dict[str, FinishReason]] = {
    "stop": "end",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}
WIRE_FINISH: Final[dict[FinishReason, str]] = {
    "end": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "paused": "stop",
    "error": "stop",
    "other": "stop",
}


def finish_of(raw: Any, *, tool_calls: bool, refusal: bool) -> FinishReason:
    """A named forced ``tool_choice`` ends with ``stop`` although it called a tool,
    so tool use is read from the calls themselves."""
    if refusal:
        return "refusal"
    if tool_calls and raw in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    if raw is None:
        return "end"
    return FINISH.get(raw, "other") if isinstance(raw, str) else "other"


def wire_finish(finish: FinishReason, raw: str | None) -> str:
    """The provider's own value when it is a Chat value (same-format pass-through)."""
    return raw if raw in FINISH else WIRE_FINISH[finish]


# --- usage ----------------------------------------------------------------------------------

# IR field, wire key, key inside the wire key's details object.
_USAGE: Final = (
    ("input_tokens", "prompt_tokens", None),
    ("output_tokens", "completion_tokens", None),
    ("cache_read_tokens", "prompt_tokens_details", "cached_tokens"),
    ("cache_write_tokens", "prompt_tokens_details", "cache_write_tokens"),
    ("reasoning_tokens", "completion_tokens_details", "reasoning_tokens"),
)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def decode_usage(raw: Any) -> Usage:
    """``prompt_tokens`` already includes cached tokens and ``completion_tokens`` reasoning,
    which is the IR's scale."""
    if not isinstance(raw, dict):
        return Usage()
    counts: dict[str, int] = {}
    for field, key, inner in _USAGE:
        value = raw.get(key)
        if inner is not None:
            value = value.get(inner) if isinstance(value, dict) else None
        counts[field] = _count(value)
    if not counts["cache_read_tokens"]:
        counts["cache_read_tokens"] = _count(raw.get("prompt_cache_hit_tokens"))  # DeepSeek
    return Usage(**counts)


def encode_usage(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
    if usage.cache_write_tokens:
        out["prompt_tokens_details"]["cache_write_tokens"] = usage.cache_write_tokens
    return out


# --- ids and tool names ---------------------------------------------------------------------

TOOL_NAME_MAX: Final = 64


def wire_name(name: str) -> str:
    """Function names must match ``^[a-zA-Z0-9_-]{1,64}$``; others (Gemini's ``a.b``, long
    MCP names) get a deterministic stand-in that answers map back with ``tool_names``."""
    return fit_name(name, TOOL_NAME_MAX)


def tool_names(req: Request) -> dict[str, str]:
    """Wire name -> the client's name, for the tools that were renamed."""
    return renamed((t.name for t in req.tools), TOOL_NAME_MAX)


def text_of(content: Any) -> str:
    """A message's text: a string, or (from some compatible servers) an array of text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "".join(t for t in texts if isinstance(t, str))


def chat_id(given: str) -> str:
    if given.startswith("chatcmpl-"):
        return given
    return "chatcmpl-" + (given or uuid.uuid4().hex)


# --- errors ---------------------------------------------------------------------------------

_TYPE_OF_KIND: Final[dict[ErrorKind, tuple[str, str | None]]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "context_too_long": ("invalid_request_error", "context_length_exceeded"),
    "budget_exceeded": ("budget_exceeded", "budget_exceeded"),
    "all_providers_failed": ("all_providers_failed", "all_providers_failed"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "overloaded": ("server_error", "overloaded"),
    "server_error": ("server_error", None),
    "timeout": ("server_error", "timeout"),
    "content_policy": ("invalid_request_error", "content_policy_violation"),
}
# Codes and types say more than the status: OpenAI answers a bad key with 401 and type
# invalid_request_error, and an exhausted quota (insufficient_quota) with 429 like a rate limit.
_KIND_OF_CODE: Final[dict[str, ErrorKind]] = {
    "context_length_exceeded": "context_too_long",
    "invalid_api_key": "authentication",
    "insufficient_quota": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "model_not_found": "not_found",
    "content_policy_violation": "content_policy",
    "content_filter": "content_policy",
    "budget_exceeded": "budget_exceeded",
    "all_providers_failed": "all_providers_failed",
}
_KIND_OF_TYPE: Final[dict[str, ErrorKind]] = {
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "insufficient_quota": "rate_limit",
    "tokens": "rate_limit",
    "requests": "rate_limit",
    "budget_exceeded": "budget_exceeded",
    "all_providers_failed": "all_providers_failed",
}
_KIND_OF_STATUS: Final[dict[int, ErrorKind]] = {
    400: "invalid_request", 401: "authentication", 402: "rate_limit", 403: "permission",
    404: "not_found", 408: "timeout", 413: "request_too_large", 422: "invalid_request",
    429: "rate_limit", 503: "overloaded", 504: "timeout", 529: "overloaded",
}  # fmt: skip
_TOO_LONG = re.compile(r"maximum context length|context length|context window|too many tokens", re.I)
_WIRE_KEYS: Final = ("type", "code", "param")


def encode_error(err: ApiError) -> dict[str, Any]:
    etype, code = _TYPE_OF_KIND[err.kind]
    details = err.details or {}
    passed = details.get("code")  # an OpenAI upstream's own code, kept when passing it through
    error: dict[str, Any] = {
        "message": err.message,
        "type": etype,
        "param": details.get("param"),
        "code": passed if isinstance(passed, str) else code,
    }
    extra = {k: v for k, v in details.items() if k not in _WIRE_KEYS}
    if extra:
        error["details"] = extra
    return {"error": error}


def _kind(status: int | None, etype: Any, code: Any, message: str) -> ErrorKind:
    kind = _KIND_OF_CODE.get(code) if isinstance(code, str) else None
    kind = kind or (_KIND_OF_TYPE.get(etype) if isinstance(etype, str) else None)
    if kind is None and status is not None:
        kind = _KIND_OF_STATUS.get(status) or ("server_error" if status >= 500 else "invalid_request")
    kind = kind or "server_error"
    if kind == "invalid_request" and _TOO_LONG.search(message):
        return "context_too_long"
    return kind


def _fields(body: Any, fallback: str) -> tuple[str, dict[str, Any]]:
    """The message and the wire type/code/param of an error body, however a compatible server shapes it."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        message = err.get("message")
        wire = {k: err[k] for k in _WIRE_KEYS if err.get(k) is not None}
    else:
        message = err if isinstance(err, str) else None
        if message is None and isinstance(body, dict):
            message = body.get("message") or body.get("detail")
        wire = {}
    return (message if isinstance(message, str) and message else fallback), wire


def decode_error(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    """``insufficient_quota`` comes as a 429 and becomes ``rate_limit``, though waiting will not
    help: ``details.code`` keeps it for whoever decides how long to stay away."""
    message, wire = _fields(body, f"HTTP {status} from the OpenAI-compatible upstream")
    return ApiError(
        status,
        _kind(status, wire.get("type"), wire.get("code"), message),
        message,
        retry_after_s=retry_after(headers),
        details=wire or None,
        upstream=body,
    )


def error_frame(err: ApiError) -> bytes:
    """The error chunk, then ``[DONE]``, that end a stream whose content already began."""
    return frame(encode_error(err)) + b"data: [DONE]\n\n"


def stream_error(data: Any) -> ApiError:
    """A ``data: {"error": ...}`` frame: the HTTP status was 200, so it comes from the kind."""
    message, wire = _fields(data, "error in the OpenAI stream")
    kind = _kind(None, wire.get("type"), wire.get("code"), message)
    return ApiError(STATUS_OF_KIND[kind], kind, message, details=wire or None, upstream=data)


# --- streams: wire -> IR --------------------------------------------------------------------

_Text = Literal["text", "thinking"]


def _malformed(what: str) -> ApiError:
    return ApiError(502, "server_error", f"the OpenAI stream sent {what}")


class ChatStreamDecoder:
    """Chunks -> IR events. Text and reasoning (DeepSeek's ``reasoning_content``) open one
    part at a time; tool calls are keyed by their wire ``index``, and several stay open at
    once, since parallel calls' fragments may come interleaved (0, 1, 0, 1, ...)."""

    __slots__ = (
        "_names", "_id", "_started", "_index", "_text", "_calls", "_open_calls", "_refusal",
        "_raw_finish", "_usage", "_ended", "_prefix", "_keys", "_nth", "_starts",
    )  # fmt: skip

    def __init__(self, req: Request) -> None:
        self._names = tool_names(req)
        self._id = ""
        self._started = False
        self._index = -1  # IR index of the newest part
        self._text: _Text | None = None  # the open text or reasoning part, at self._index
        self._calls: dict[int, str] = {}  # wire index -> call id, every call so far
        self._open_calls: dict[int, int] = {}  # wire index -> IR index, calls still open
        self._refusal = False
        self._raw_finish: str | None = None
        self._usage = Usage()
        self._ended = False
        # Original bytes: the text every chunk of the stream starts with up to its choices, and
        # how many keys a chunk has, when a chunk built on the stream's head would be the same
        # (None when it would not: then no frame is written as it came).
        self._prefix: str | None = None
        self._keys = 0
        self._nth: dict[int, int] = {}  # wire index -> the call's place among calls, as encoded
        self._starts = 0

    def feed(self, event: str | None, data: Any, original: str | None = None) -> list[StreamEvent]:
        if self._ended:
            return []
        if data == DONE:
            return self._end()
        if not isinstance(data, dict):
            raise _malformed(f"a frame that is not a JSON object: {str(data)[:80]!r}")
        if data.get("error") is not None:
            raise stream_error(data)
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            self._id = str(data.get("id") or "")
            out.append(StreamStart(self._id, str(data.get("model") or ""), head=self._head(data, original)))
        choices = data.get("choices") or []
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # detour asks for one choice
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
                # Written as it came only if encoding it again gives the same chunk: the
                # stream's head, one choice holding nothing but a delta of one key, as the
                # encoder writes it. Its text shows the keys' order (cheapest tests first).
                if (
                    len(data) == self._keys
                    and original is not None
                    and self._prefix is not None
                    and original.startswith(self._prefix)
                    and original.endswith(_TAIL)
                    and len(choices) == 1
                    and len(choice) == 4
                    and len(delta) == 1
                    and out
                    and len(out) == 1 + (type(out[0]) is PartStart)
                ):
                    self._as_encoded(delta, out[-1], original)
            if (raw := choice.get("finish_reason")) is not None:
                self._close(out)
                self._raw_finish = str(raw)
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._usage = decode_usage(usage)
            # Some servers report usage on every chunk; the contract wants it after the finish.
            if self._raw_finish is not None:
                out.append(UsageUpdate(self._usage))
        return out

    def _head(self, data: dict[str, Any], original: str | None) -> dict[str, Any] | None:
        """The first chunk's stream-wide fields, when they are the ones an encoder repeats
        (``_HEAD``, before ``choices``, with what ``ChatStreamEncoder`` would write there);
        its text up to the choices becomes the prefix every chunk written as it came shares."""
        keys = list(data)
        if "choices" not in keys:
            return None
        cut = keys.index("choices")
        head = {k: data[k] for k in keys[:cut]}
        if not (
            set(head) <= _HEAD
            and _REQUIRED <= set(head)
            and head["object"] == "chat.completion.chunk"
            and isinstance(head["id"], str)
            and head["id"] == chat_id(head["id"])
            and isinstance(head["model"], str)
            and head["model"]
            and type(head["created"]) is int
        ):
            return None
        end = original.find('"choices":[') if original is not None else -1
        if original is not None and end > 0 and original[end - 1] == ",":  # a key, not a value
            self._prefix = original[:end] + _CHOICES
            self._keys = len(head) + 1
        return head

    def _as_encoded(self, delta: dict[str, Any], ev: StreamEvent, original: str) -> None:
        """``ev`` carries ``original`` when its chunk's one-key delta is the one the encoder
        writes for it (a tool call's numbered as the encoder numbers it)."""
        match ev:
            case TextDelta() if type(delta.get("content")) is str:
                ev.original = original
            case ThinkingDelta() if type(delta.get("reasoning_content")) is str:
                ev.original = original
            case ArgumentsDelta():
                calls = delta.get("tool_calls")
                call = calls[0] if isinstance(calls, list) and len(calls) == 1 else None
                fn = call.get("function") if isinstance(call, dict) else None
                if (
                    isinstance(fn, dict)
                    and list(call) == ["index", "function"]  # type: ignore[arg-type]
                    and list(fn) == ["arguments"]
                    and self._nth.get(call["index"]) == call["index"]  # type: ignore[index]
                ):
                    ev.original = original

    def close(self) -> list[StreamEvent]:
        if self._ended:
            return []
        if self._raw_finish is None:
            raise ApiError(502, "server_error", "stream cut before its end: no finish_reason and no [DONE]")
        return self._end()

    def _end(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not self._started:
            raise ApiError(502, "server_error", "stream cut: [DONE] came before any chunk")
        self._close(out)
        finish = finish_of(self._raw_finish, tool_calls=bool(self._calls), refusal=self._refusal)
        out.append(StreamEnd(finish, self._raw_finish, self._usage))
        self._ended = True
        return out

    def _delta(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        # Most deltas hold content alone: each key is looked at only when present.
        if (reasoning := delta.get("reasoning_content") or delta.get("reasoning")) and (
            reasoning := text_of(reasoning)
        ):
            self._open_text("thinking", out)
            out.append(ThinkingDelta(self._index, reasoning))
        for key in ("content", "refusal"):
            if (text := delta.get(key)) and (text := text_of(text)):
                self._refusal |= key == "refusal"
                if self._text != "text":
                    self._open_text("text", out)
                out.append(TextDelta(self._index, text))
        if calls := delta.get("tool_calls"):
            for fragment in calls if isinstance(calls, list) else []:
                if not isinstance(fragment, dict):
                    raise _malformed(f"a tool_calls entry that is not an object: {fragment!r}")
                self._tool_fragment(fragment, out)

    def _open_text(self, kind: _Text, out: list[StreamEvent]) -> None:
        if self._text == kind:
            return
        self._close(out)  # text after calls: the calls are done
        self._index += 1
        self._text = kind
        out.append(PartStart(self._index, TextPart("") if kind == "text" else ThinkingPart("")))

    def _tool_fragment(self, fragment: dict[str, Any], out: list[StreamEvent]) -> None:
        wire = fragment.get("index")
        wire = 0 if wire is None else wire  # a server that streams one call at a time may leave it out
        fn = fragment.get("function") or fragment.get("custom")
        fn = fn if isinstance(fn, dict) else {}
        call_id, name, args = fragment.get("id"), fn.get("name"), fn.get("arguments", fn.get("input"))
        args = args if isinstance(args, str) else ""
        known = self._calls.get(wire)
        # Some servers number every call 0 and tell them apart only by id.
        if known is None or (isinstance(call_id, str) and call_id and call_id != known):
            self._start_call(wire, call_id, name, out)
        elif wire not in self._open_calls:
            if args:
                raise _malformed(f"arguments for tool call {wire} after it had ended")
            return
        if args:
            out.append(ArgumentsDelta(self._open_calls[wire], args))

    def _start_call(self, wire: Any, call_id: Any, name: Any, out: list[StreamEvent]) -> None:
        if not isinstance(wire, int) or isinstance(wire, bool):
            raise _malformed(f"a tool call with index {wire!r}")
        if not isinstance(name, str) or not name:
            raise _malformed(f"tool call {wire} without a function name in its first fragment")
        self._close_text(out)
        if (replaced := self._open_calls.pop(wire, None)) is not None:
            out.append(PartEnd(replaced))  # the same wire index, a new id: that call is done
        self._index += 1
        self._open_calls[wire] = self._index
        self._nth[wire] = self._starts  # as the encoder numbers calls: in the order they start
        self._starts += 1
        cid = call_id if isinstance(call_id, str) and call_id else synthesize(self._id or "chat", self._index)
        self._calls[wire] = cid
        out.append(PartStart(self._index, ToolCallPart(cid, self._names.get(name, name), "")))

    def _close_text(self, out: list[StreamEvent]) -> None:
        if self._text is not None:
            out.append(PartEnd(self._index))
            self._text = None

    def _close(self, out: list[StreamEvent]) -> None:
        self._close_text(out)
        out.extend(PartEnd(index) for index in self._open_calls.values())
        self._open_calls.clear()


def stream_decoder(req: Request) -> ChatStreamDecoder:
    return ChatStreamDecoder(req)


# --- streams: IR -> wire --------------------------------------------------------------------


_NO_FINISH: Final = b',"logprobs":null,"finish_reason":null}]}\n\n'
# The stream-wide chunk fields a same-format encoder repeats from the upstream.
_HEAD: Final = frozenset(("id", "object", "created", "model", "system_fingerprint", "service_tier"))
_REQUIRED: Final = frozenset(("id", "object", "created", "model"))
# A chunk written as it came starts with the stream's head then this, and ends with _TAIL:
# the encoder's own spacing, which OpenAI's and compatible servers' compact JSON shares.
_CHOICES: Final = '"choices":[{"index":0,"delta":{'
_TAIL: Final = '},"logprobs":null,"finish_reason":null}]}'


class ChatStreamEncoder:
    """IR events -> ``chat.completion.chunk`` frames the ``openai`` SDK accumulates.

    Tool calls are numbered 0, 1, ... among tool calls (the SDK inserts them into a list
    by that index); one that got no arguments gets ``{}``, as OpenAI sends, since clients
    parse them. Two text parts are joined by a blank line, as in whole answers.
    """

    __slots__ = (
        "verbatim", "_model", "_id", "_created", "_calls", "_argless", "_usage", "_texted", "_gap",
        "_head", "_base",
    )  # fmt: skip

    def __init__(self, req: Request) -> None:
        self.verbatim = False
        self._model = req.model
        self._id = ""
        self._created = int(time.time())
        self._base: dict[str, Any] | None = None  # the upstream's stream-wide fields, when repeated
        self._head = self._chunk_head()
        self._calls: dict[int, int] = {}  # IR index -> wire tool-call index
        self._argless: set[int] = set()
        self._usage = Usage()
        self._texted = False
        self._gap = False

    def feed(self, ev: StreamEvent) -> bytes:
        match ev:
            case StreamStart():
                self._id, self._model = chat_id(ev.id), ev.model or self._model
                # A Chat upstream's own created, system_fingerprint, ...: a client of its format
                # gets them as it sent them, and a chunk written as it came agrees with the rest.
                self._base = ev.head
                self._head = self._chunk_head()
                if ev.usage is not None:
                    self._usage = self._usage.merge(ev.usage)
                return self._chunk({"role": "assistant", "content": ""})
            case PartStart(part=ToolCallPart() as call):
                n = self._calls[ev.index] = len(self._calls)
                self._argless.add(ev.index)
                fn = {"name": call.name, "arguments": ""}
                start = {"index": n, "id": call.id, "type": "function", "function": fn}
                return self._chunk({"tool_calls": [start]})
            case PartStart(part=TextPart()):
                self._gap = self._texted
                return b""
            case TextDelta() if ev.text:
                if self._gap:
                    self._texted, self._gap = True, False
                    return self._chunk({"content": "\n\n" + ev.text})
                self._texted = True
                if ev.original is not None and self.verbatim:
                    return b"data: " + ev.original.encode() + b"\n\n"
                return self._chunk({"content": ev.text})
            case ThinkingDelta() if ev.text:
                if ev.original is not None and self.verbatim:
                    return b"data: " + ev.original.encode() + b"\n\n"
                return self._chunk({"reasoning_content": ev.text})
            case ArgumentsDelta() if ev.fragment:
                self._argless.discard(ev.index)
                if ev.original is not None and self.verbatim:
                    return b"data: " + ev.original.encode() + b"\n\n"
                return self._arguments(ev.index, ev.fragment)
            case PartEnd() if ev.index in self._argless:
                self._argless.discard(ev.index)
                return self._arguments(ev.index, "{}")
            case UsageUpdate():
                self._usage = self._usage.merge(ev.usage)
                return b""
            case StreamEnd():
                self._usage = self._usage.merge(ev.usage)
                finish = self._chunk({}, wire_finish(ev.finish, ev.raw_finish))
                usage = {**self._fields(), "choices": [], "usage": encode_usage(self._usage)}
                return finish + frame(usage) + b"data: [DONE]\n\n"
            case PartStart() | TextDelta() | ThinkingDelta() | ArgumentsDelta():
                # Empty deltas, reasoning that arrives whole (redacted), and a search the
                # provider ran: Chat has no item for it; the text that follows says what it found.
                return b""
            case SignatureDelta() | PartEnd():
                return b""  # reasoning signatures and part bounds have no Chat form

    def error(self, err: ApiError) -> bytes:
        return error_frame(err)

    def _arguments(self, index: int, fragment: str) -> bytes:
        call = {"index": self._calls[index], "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _fields(self) -> dict[str, Any]:
        if self._base is not None:
            return self._base
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    def _chunk_head(self) -> bytes:
        """Every chunk's bytes up to its delta: the same for the whole stream."""
        return b"data: " + orjson.dumps(self._fields())[:-1] + b',"choices":[{"index":0,"delta":'

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        """``{**self._fields(), "choices": [{"index": 0, "delta": delta, "logprobs": None,
        "finish_reason": finish}]}`` as a frame, the same bytes, with only the delta encoded."""
        if finish is None:
            return self._head + orjson.dumps(delta) + _NO_FINISH
        return (
            self._head
            + orjson.dumps(delta)
            + b',"logprobs":null,"finish_reason":'
            + orjson.dumps(finish)
            + b"}]}\n\n"
        )


def stream_encoder(req: Request) -> ChatStreamEncoder:
    return ChatStreamEncoder(req)
