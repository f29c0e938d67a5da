"""Anthropic Messages requests -> IR, as clients (Claude Code above all) send them.

Kept: system messages inside ``messages`` (role ``system``), thinking and
``output_config.effort``, ``cache_control`` on every block and tool that takes one, signed
and redacted thinking. Refused with a 400 naming the path: blocks and tools the
IR cannot carry (documents, server tools, Files API images). Ignored: harmless
top-level fields (``context_management``, ``service_tier``, betas, the
top-level ``cache_control``). ``output_config.format`` becomes ``Request.response_format``.
"""

from __future__ import annotations

from typing import Any, Final

from daemon.formats.anthropic_response import ORIGIN, arguments_text, redacted, signed
from daemon.formats.fields import as_array, as_object, as_str, json_type, opt_bool, opt_int, opt_num, opt_str
from daemon.ir import (
    Effort,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    invalid,
)

EFFORTS: Final[dict[str, Effort]] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
# Known block types the IR cannot carry: refused by name rather than called unknown.
_UNSUPPORTED: Final = frozenset(
    {
        "document",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
        "tool_reference",
        "browser_state",
    }
)


def _cache(block: dict[str, Any], path: str) -> dict[str, Any] | None:
    value = block.get("cache_control")
    return None if value is None else as_object(value, f"{path}.cache_control")


def _unsupported(kind: Any, path: str) -> Exception:
    if not isinstance(kind, str):
        return invalid(f"{path}.type: expected a string, got {json_type(kind)}")
    if kind in _UNSUPPORTED:
        return invalid(f"{path}: {kind!r} blocks cannot be translated to other providers")
    return invalid(f"{path}: unknown block type {kind!r}")


def _text(b: dict[str, Any], path: str) -> TextPart:
    return TextPart(as_str(b.get("text"), f"{path}.text"), cache_control=_cache(b, path))


def _image(b: dict[str, Any], path: str) -> ImagePart:
    src = as_object(b.get("source"), f"{path}.source")
    match src.get("type"):
        case "base64":
            return ImagePart(
                media_type=as_str(src.get("media_type"), f"{path}.source.media_type"),
                data=as_str(src.get("data"), f"{path}.source.data"),
                cache_control=_cache(b, path),
            )
        case "url":
            return ImagePart(url=as_str(src.get("url"), f"{path}.source.url"), cache_control=_cache(b, path))
        case kind:
            raise invalid(
                f"{path}.source.type: image source {kind!r} cannot be translated; use base64 or url"
            )


def _tool_result(b: dict[str, Any], path: str) -> ToolResultPart:
    raw = b.get("content")
    content: list[TextPart | ImagePart] = []
    if isinstance(raw, str):
        content = [TextPart(raw)] if raw else []
    elif raw is not None:
        for j, item in enumerate(as_array(raw, f"{path}.content")):
            p = f"{path}.content[{j}]"
            inner = as_object(item, p)
            match inner.get("type"):
                case "text":
                    content.append(_text(inner, p))
                case "image":
                    content.append(_image(inner, p))
                case kind:
                    raise _unsupported(kind, p)
    return ToolResultPart(
        call_id=as_str(b.get("tool_use_id"), f"{path}.tool_use_id"),
        content=content,
        is_error=bool(opt_bool(b.get("is_error"), f"{path}.is_error")),
        cache_control=_cache(b, path),
    )


def _user_block(b: dict[str, Any], path: str) -> Part:
    match b.get("type"):
        case "text":
            return _text(b, path)
        case "image":
            return _image(b, path)
        case "tool_result":
            return _tool_result(b, path)
        case "tool_use" | "thinking" | "redacted_thinking" as kind:
            raise invalid(f"{path}: a {kind!r} block belongs in an assistant message")
        case kind:
            raise _unsupported(kind, path)


def _assistant_block(b: dict[str, Any], path: str) -> Part:
    match b.get("type"):
        case "text":
            return _text(b, path)
        case "thinking":
            text = as_str(b.get("thinking", ""), f"{path}.thinking")
            return ThinkingPart(text, opaque=signed(opt_str(b.get("signature"), f"{path}.signature")))
        case "redacted_thinking":
            return redacted(as_str(b.get("data"), f"{path}.data"))
        case "tool_use":
            return ToolCallPart(
                id=as_str(b.get("id"), f"{path}.id"),
                name=as_str(b.get("name"), f"{path}.name"),
                arguments=arguments_text(as_object(b.get("input", {}), f"{path}.input")),
                cache_control=_cache(b, path),
            )
        case "image" | "tool_result" as kind:
            raise invalid(f"{path}: a {kind!r} block belongs in a user message")
        case kind:
            raise _unsupported(kind, path)


def _system_block(b: dict[str, Any], path: str) -> Part:
    if b.get("type") != "text":
        raise invalid(f"{path}: system content takes text blocks only, got {b.get('type')!r}")
    return _text(b, path)


_BLOCKS: Final = {"user": _user_block, "assistant": _assistant_block, "system": _system_block}


def _message(raw: Any, path: str) -> Message:
    m = as_object(raw, path)
    role = m.get("role")
    if role not in ("user", "assistant", "system"):
        raise invalid(f"{path}.role: expected 'user', 'assistant' or 'system', got {role!r}")
    content = m.get("content")
    if isinstance(content, str):
        return Message(role, [TextPart(content)])
    if not isinstance(content, list):
        raise invalid(f"{path}.content: expected a string or an array of blocks, got {json_type(content)}")
    block = _BLOCKS[role]
    parts = [
        block(as_object(b, f"{path}.content[{j}]"), f"{path}.content[{j}]") for j, b in enumerate(content)
    ]
    return Message(role, parts)


def _system(raw: Any) -> list[TextPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)] if raw else []
    out: list[TextPart] = []
    for i, b in enumerate(as_array(raw, "system")):
        part = _system_block(as_object(b, f"system[{i}]"), f"system[{i}]")
        assert isinstance(part, TextPart)
        out.append(part)
    return out


def _tools(raw: Any) -> list[Tool]:
    if raw is None:
        return []
    tools: list[Tool] = []
    for i, item in enumerate(as_array(raw, "tools")):
        path = f"tools[{i}]"
        t = as_object(item, path)
        kind = t.get("type")
        if kind not in (None, "custom"):
            raise invalid(
                f"{path}: {kind!r} ({t.get('name')!r}) is an Anthropic built-in tool; "
                "detour translates only custom tools with an input_schema"
            )
        # defer_loading, input_examples, eager_input_streaming: hints the IR
        # does not carry; the tool itself is whole without them.
        tools.append(
            Tool(
                name=as_str(t.get("name"), f"{path}.name"),
                description=opt_str(t.get("description"), f"{path}.description"),
                parameters=as_object(t.get("input_schema"), f"{path}.input_schema"),
                strict=opt_bool(t.get("strict"), f"{path}.strict"),
                cache_control=_cache(t, path),
            )
        )
    return tools


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    c = as_object(raw, "tool_choice")
    disable = opt_bool(c.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use")
    parallel = None if disable is None else not disable
    match c.get("type"):
        case "auto":
            return ToolChoice("auto", parallel=parallel)
        case "any":
            return ToolChoice("required", parallel=parallel)
        case "tool":
            return ToolChoice("tool", name=as_str(c.get("name"), "tool_choice.name"), parallel=parallel)
        case "none":
            return ToolChoice("none")
        case kind:
            raise invalid(f"tool_choice.type: expected 'auto', 'any', 'tool' or 'none', got {kind!r}")


def _reasoning(thinking: Any, output_config: Any) -> Reasoning | None:
    effort: Effort | None = None
    if output_config is not None:
        raw = as_object(output_config, "output_config").get("effort")
        if raw is not None:
            if not isinstance(raw, str) or raw not in EFFORTS:
                raise invalid(f"output_config.effort: expected one of {', '.join(EFFORTS)}, got {raw!r}")
            effort = EFFORTS[raw]
    if thinking is None:
        # Effort alone still asks for a level of effort, which every format can express.
        return None if effort is None else Reasoning(effort=effort)
    t = as_object(thinking, "thinking")
    display = t.get("display")
    if display not in (None, "summarized", "omitted"):
        raise invalid(f"thinking.display: expected 'summarized' or 'omitted', got {display!r}")
    include = None if display is None else display == "summarized"
    match t.get("type"):
        case "enabled":
            budget = opt_int(t.get("budget_tokens"), "thinking.budget_tokens", minimum=1)
            if budget is None:
                raise invalid("thinking.budget_tokens: required when thinking.type is 'enabled'")
            return Reasoning(True, effort, budget, include)
        case "adaptive" | "between_tools":
            return Reasoning(True, effort, None, include)
        case "disabled":
            return Reasoning(False, effort)
        case kind:
            raise invalid(
                f"thinking.type: expected 'enabled', 'adaptive', 'between_tools' or 'disabled', got {kind!r}"
            )


def _response_format(output_config: Any) -> ResponseFormat | None:
    if output_config is None:
        return None
    raw = as_object(output_config, "output_config").get("format")
    if raw is None:
        return None
    fmt = as_object(raw, "output_config.format")
    if fmt.get("type") != "json_schema":
        raise invalid(f"output_config.format.type: expected 'json_schema', got {fmt.get('type')!r}")
    return ResponseFormat("json_schema", schema=as_object(fmt.get("schema"), "output_config.format.schema"))


def _user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    return opt_str(as_object(metadata, "metadata").get("user_id"), "metadata.user_id")


def decode_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> Request:
    """A client's Messages body (or a count_tokens body, which has no ``max_tokens``) -> IR."""
    if not isinstance(body, dict):
        raise invalid(f"request body: expected a JSON object, got {json_type(body)}")
    raw_messages = body.get("messages")
    if raw_messages is None:
        raise invalid("messages: required")
    messages = [_message(m, f"messages[{i}]") for i, m in enumerate(as_array(raw_messages, "messages"))]
    if not messages:
        raise invalid("messages: at least one message is required")
    if stream is None:
        stream = bool(opt_bool(body.get("stream"), "stream"))
    stops = body.get("stop_sequences")
    return Request(
        model=model or as_str(body.get("model"), "model"),
        messages=messages,
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=opt_int(body.get("max_tokens"), "max_tokens", minimum=1),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        top_k=opt_int(body.get("top_k"), "top_k"),
        stop=[]
        if stops is None
        else [as_str(s, f"stop_sequences[{i}]") for i, s in enumerate(as_array(stops, "stop_sequences"))],
        stream=stream,
        reasoning=_reasoning(body.get("thinking"), body.get("output_config")),
        response_format=_response_format(body.get("output_config")),
        user=_user(body.get("metadata")),
        source_format=ORIGIN,
    )
