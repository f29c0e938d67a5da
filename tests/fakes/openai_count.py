"""The fake OpenAI's billing: the text of a prompt, in Chat Completions or Responses shape.

OpenAI counts input tokens on the Responses API only (``POST /v1/responses/input_tokens``,
answering ``{"object": "response.input_tokens", "input_tokens": N}``); both shapes of
one prompt must come to the same number, as they do at OpenAI.
"""

from __future__ import annotations

import json
from typing import Any

INPUT_TOKENS_FIELDS = {
    "model", "input", "instructions", "tools", "tool_choice", "text", "reasoning",
    "parallel_tool_calls", "previous_response_id", "conversation", "truncation",
}  # fmt: skip
ITEM_TYPES = {"message", "function_call", "function_call_output", "custom_tool_call", "reasoning"}


class Invalid(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _text(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return 0


def _tool(name: Any, description: Any, parameters: Any) -> int:
    return len(name or "") + len(description or "") + len(json.dumps(parameters or {}))


def _schema(fmt: Any) -> int:
    return len(json.dumps(fmt["schema"])) if isinstance(fmt, dict) and "schema" in fmt else 0


def chat_prompt_chars(body: dict[str, Any]) -> int:
    n = 0
    for m in body.get("messages") or []:
        n += _text(m.get("content"))
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            n += len(fn.get("name", "")) + len(fn.get("arguments", ""))
    for t in body.get("tools") or []:
        fn = t.get("function") or {}
        n += _tool(fn.get("name"), fn.get("description"), fn.get("parameters"))
    rf = body.get("response_format")
    return n + (_schema(rf.get("json_schema")) if isinstance(rf, dict) else 0)


def responses_prompt_chars(body: dict[str, Any]) -> int:
    n = _text(body.get("instructions"))
    items = body.get("input")
    for item in items if isinstance(items, list) else [{"content": items}]:
        match item.get("type"):
            case "function_call":
                n += len(item.get("name", "")) + len(item.get("arguments", ""))
            case "function_call_output":
                n += _text(item.get("output"))
            case _:
                n += _text(item.get("content"))
    for t in body.get("tools") or []:
        n += _tool(t.get("name"), t.get("description"), t.get("parameters"))
    fmt = (body.get("text") or {}).get("format")
    return n + _schema(fmt)


def validate_input_tokens(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid body: expected an object.")
    for key in body:
        if key not in INPUT_TOKENS_FIELDS:
            raise Invalid(f"Unknown parameter: '{key}'.", key)
    if not isinstance(body.get("model"), str):
        raise Invalid("Missing required parameter: 'model'.", "model")
    items = body.get("input")
    if isinstance(items, str) or items is None:
        return
    if not isinstance(items, list):
        raise Invalid("Invalid type for 'input': expected a string or an array.", "input")
    for i, item in enumerate(items):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind not in ITEM_TYPES:
            raise Invalid(f"Invalid value: '{kind}'.", f"input[{i}].type")
        if kind == "message" and item.get("role") not in ("user", "assistant", "system", "developer"):
            raise Invalid(f"Invalid value: '{item.get('role')}'.", f"input[{i}].role")
        if kind in ("function_call", "function_call_output") and not isinstance(item.get("call_id"), str):
            raise Invalid(f"Missing required parameter: 'input[{i}].call_id'.", f"input[{i}].call_id")
