"""Anthropic Messages answers, usage, finish reasons and errors, both ways.

Also the pieces the request and stream halves share: tool names that fit
Anthropic's pattern (reversed from the request's tools), arguments as objects,
and the lookup tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, assert_never

import orjson

from daemon.formats import ids
from daemon.formats.anthropic_search import blocks as search_blocks
from daemon.formats.fields import json_object
from daemon.formats.retry import retry_after
from daemon.ir import (
    ApiError,
    AssistantPart,
    ErrorKind,
    FinishReason,
    Opaque,
    Request,
    Response,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
    WebSearchPart,
)
from daemon.ir.errors import STATUS_OF_KIND

ORIGIN: Final = "anthropic"

# Arguments that are not a JSON object (models do write invalid JSON) still have to
# go upstream as an object: they travel whole under this key.
RAW_ARGUMENTS: Final = "_raw"

TOOL_NAME_MAX: Final = 128


def tool_name(name: str) -> str:
    """A tool name Anthropic accepts (``^[a-zA-Z0-9_-]{1,128}$``); ``original_names`` maps
    answers back."""
    return ids.fit_name(name, TOOL_NAME_MAX)


def original_names(req: Request) -> dict[str, str]:
    """Renamed tool name -> the name the client gave, for the tools that needed renaming."""
    return ids.renamed((t.name for t in req.tools), TOOL_NAME_MAX)


def arguments_object(text: str) -> dict[str, Any]:
    return json_object(text, RAW_ARGUMENTS)


def arguments_text(value: Mapping[str, Any]) -> str:
    return orjson.dumps(value).decode()


# --- usage -----------------------------------------------------------------------------------


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def decode_usage(u: Mapping[str, Any]) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; the IR's includes them."""
    read = _count(u.get("cache_read_input_tokens"))
    write = _count(u.get("cache_creation_input_tokens"))
    details = u.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=_count(u.get("input_tokens")) + read + write,
        output_tokens=_count(u.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=_count(thinking),
    )


def encode_usage(u: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": max(0, u.input_tokens - u.cache_read_tokens - u.cache_write_tokens),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
    }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


# --- finish reasons --------------------------------------------------------------------------

FINISH: Final[dict[str, FinishReason]] = {
    "end_turn": "end",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_use",
    "pause_turn": "paused",
    "refusal": "refusal",
}
STOP_REASON: Final[dict[FinishReason, str]] = {
    "end": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_use": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
    "paused": "pause_turn",
    "error": "end_turn",
    "other": "end_turn",
}


def decode_finish(raw: Any) -> FinishReason:
    return FINISH.get(raw, "other") if isinstance(raw, str) else "other"


def stop_reason(finish: FinishReason, raw: str | None, has_calls: bool) -> str:
    """The provider's own value where it says the same thing (so ``model_context_window_exceeded``
    survives a same-format trip); ``tool_use`` whenever calls came back with a plain end
    (OpenAI says ``stop`` for a named tool choice), since agents loop on it."""
    if raw is not None and FINISH.get(raw) == finish:
        return raw
    if finish == "end" and has_calls:
        return "tool_use"
    return STOP_REASON[finish]


# --- content ---------------------------------------------------------------------------------


def signed(signature: Any) -> Opaque | None:
    return Opaque(ORIGIN, signature) if isinstance(signature, str) and signature else None


def redacted(data: str) -> ThinkingPart:
    # The blob doubles as the opaque tag, so routing can tell whose it is like any signature.
    return ThinkingPart("", opaque=Opaque(ORIGIN, data), redacted=data)


def encode_part(part: AssistantPart) -> list[dict[str, Any]]:
    match part:
        case TextPart():
            return [{"type": "text", "text": part.text}]
        case ThinkingPart() if part.redacted is not None:
            return [{"type": "redacted_thinking", "data": part.redacted}]
        case ThinkingPart():
            sig = part.opaque.blob if part.opaque is not None else ""
            return [{"type": "thinking", "thinking": part.text, "signature": sig}]
        case ToolCallPart():
            return [
                {
                    "type": "tool_use",
                    "id": ids.for_anthropic(part.id),
                    "name": part.name,
                    "input": arguments_object(part.arguments),
                }
            ]
        case WebSearchPart():
            # Anthropic's own search goes back as its blocks; another provider's search has
            # no block this client could send back, and the answer's text says what it found.
            return search_blocks(part)
        case _:
            assert_never(part)


def encode_response(resp: Response, req: Request) -> dict[str, Any]:
    has_calls = any(isinstance(p, ToolCallPart) for p in resp.parts)
    return {
        "id": resp.id or "msg_detour",
        "type": "message",
        "role": "assistant",
        "model": resp.model or req.model,
        "content": [block for p in resp.parts for block in encode_part(p)],
        "stop_reason": stop_reason(resp.finish, resp.raw_finish, has_calls),
        "stop_sequence": resp.stop_sequence,
        "usage": encode_usage(resp.usage),
    }


# --- errors ----------------------------------------------------------------------------------

_TYPE_OF_KIND: Final[dict[ErrorKind, str]] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "context_too_long": "invalid_request_error",
    "budget_exceeded": "budget_exceeded",
    "all_providers_failed": "all_providers_failed",
    "rate_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "server_error": "api_error",
    "timeout": "timeout_error",
    "content_policy": "invalid_request_error",
}
_KIND_OF_TYPE: Final[dict[str, ErrorKind]] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    # No credit left: this provider cannot serve until someone pays, like a bad key.
    "billing_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "server_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    # Another detour upstream of us.
    "budget_exceeded": "budget_exceeded",
    "all_providers_failed": "all_providers_failed",
}
_KIND_OF_STATUS: Final[dict[int, ErrorKind]] = {
    400: "invalid_request",
    401: "authentication",
    402: "permission",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    429: "rate_limit",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}
# For errors that arrive inside a stream, where the HTTP status was 200.
_STATUS_OF_KIND: Final[dict[ErrorKind, int]] = {**STATUS_OF_KIND, "overloaded": 529}
_TOO_LONG = re.compile(
    r"prompt is too long|exceed(s|ed)? (the )?context|context (limit|window|length)|too many (input )?tokens",
    re.IGNORECASE,
)
_POLICY = re.compile(r"content (filtering )?policy|usage polic", re.IGNORECASE)


def encode_error(err: ApiError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": _TYPE_OF_KIND[err.kind], "message": err.message}
    if err.details:
        error["details"] = err.details
    return {"type": "error", "error": error}


def _kind(status: int, etype: Any, message: str) -> ErrorKind:
    kind = _KIND_OF_TYPE.get(etype) if isinstance(etype, str) else None
    if kind is None:
        kind = _KIND_OF_STATUS.get(status) or ("server_error" if status >= 500 else "invalid_request")
    if kind == "invalid_request":
        if status == 413:
            return "request_too_large"
        if _TOO_LONG.search(message):
            return "context_too_long"
        if _POLICY.search(message):
            return "content_policy"
    return kind


def _error_fields(body: Any, fallback: str) -> tuple[Any, str, dict[str, Any] | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, fallback, None
    message = error.get("message")
    details = error.get("details")
    return (
        error.get("type"),
        message if isinstance(message, str) and message else fallback,
        details if isinstance(details, dict) else None,
    )


def decode_error(status: int, body: Any, headers: Mapping[str, str]) -> ApiError:
    etype, message, details = _error_fields(body, f"HTTP {status} from Anthropic")
    return ApiError(
        status,
        _kind(status, etype, message),
        message,
        retry_after_s=retry_after(headers),
        details=details,
        upstream=body,
    )


def stream_error(data: Any) -> ApiError:
    """An ``event: error`` frame: the HTTP status was 200, so it comes from the type."""
    etype, message, details = _error_fields(data, "error event in the Anthropic stream")
    kind = _KIND_OF_TYPE.get(etype, "server_error") if isinstance(etype, str) else "server_error"
    kind = _kind(_STATUS_OF_KIND[kind], etype, message)
    return ApiError(_STATUS_OF_KIND[kind], kind, message, details=details, upstream=data)
