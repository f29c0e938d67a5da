"""The providers' free count endpoints: what a prompt will be billed, asked before sending it.

Anthropic ``POST /v1/messages/count_tokens`` takes the Messages body without
the sampling fields; Gemini ``:countTokens`` takes the whole request as
``generateContentRequest``; OpenAI counts on the Responses API only
(``POST /v1/responses/input_tokens``), so a Chat Completions body is restated
as Responses input. OpenAI-compatible providers have no count endpoint.
"""

from __future__ import annotations

from typing import Any

import orjson

TIMEOUT_S = 5.0  # a count is a fast call; one that hangs must not hold up the request

ANTHROPIC_FIELDS = (
    "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control",
)  # fmt: skip


def endpoint(kind: str, base_url: str, model: str, body: dict[str, Any]) -> tuple[str, Any] | None:
    """The count URL and body for a request encoded as ``body``; None without a count endpoint."""
    match kind:
        case "anthropic":
            return f"{base_url}/v1/messages/count_tokens", {k: body[k] for k in ANTHROPIC_FIELDS if k in body}
        case "gemini":
            inner = {"model": f"models/{model}", **body}
            return f"{base_url}/v1beta/models/{model}:countTokens", {"generateContentRequest": inner}
        case "openai":
            return f"{base_url}/responses/input_tokens", responses_input(body)
        case _:
            return None


def tokens(kind: str, status: int, raw: bytes) -> int | None:
    """The count in a count endpoint's answer, or None for anything but a well-formed one."""
    if status != 200:
        return None
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    key = "totalTokens" if kind == "gemini" else "input_tokens"
    value = answer.get(key) if isinstance(answer, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def responses_input(chat: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions body restated as a Responses input-token count body."""
    out: dict[str, Any] = {"model": chat["model"], "input": _items(chat.get("messages") or [])}
    if chat.get("tools"):
        out["tools"] = [_tool(t) for t in chat["tools"]]
    choice = chat.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        out["tool_choice"] = {"type": "function", "name": choice["function"]["name"]}
    elif choice is not None:
        out["tool_choice"] = choice
    if "parallel_tool_calls" in chat:
        out["parallel_tool_calls"] = chat["parallel_tool_calls"]
    if chat.get("reasoning_effort"):
        out["reasoning"] = {"effort": chat["reasoning_effort"]}
    rf = chat.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        out["text"] = {"format": {"type": "json_schema", **rf.get("json_schema", {})}}
    elif isinstance(rf, dict) and rf.get("type") == "json_object":
        out["text"] = {"format": {"type": "json_object"}}
    return out


def _items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": m["tool_call_id"], "output": _text(m["content"])}
            )
            continue
        if role == "assistant":
            if text := _text(m.get("content")):
                items.append({"role": "assistant", "content": text})
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call["id"],
                        "name": fn.get("name", ""),
                        "arguments": fn.get("arguments", ""),
                    }
                )
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = [_input_part(p) for p in content if isinstance(p, dict)]
        items.append({"role": role, "content": content})
    return items


def _input_part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") == "image_url":
        image = part.get("image_url") or {}
        return {"type": "input_image", "image_url": image.get("url"), "detail": image.get("detail", "auto")}
    return {"type": "input_text", "text": part.get("text", "")}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return tool
    fn = tool["function"]
    out = {"type": "function", "name": fn["name"]}
    for key in ("description", "parameters", "strict"):
        if fn.get(key) is not None:
            out[key] = fn[key]
    return out
