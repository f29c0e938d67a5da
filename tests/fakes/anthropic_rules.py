"""What the fake Anthropic accepts: the Messages API's own 400s, in its own words.

Checked from the API's documentation and real answers: the top-level fields, block
types per role, tool_use/tool_result pairing, thinking blocks and signatures, tool
and sampling settings, the output-schema dialect and at most 4 cache breakpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tests.fakes.anthropic_cache import MAX_BREAKPOINTS, breakpoints
from tests.fakes.base import instructed

ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# Claude 4.6 on answers a conversation that ends with an assistant message (a prefill) 400.
NO_PREFILL = re.compile(r"claude-((opus|sonnet|haiku)-4-([6-9]|\d\d)(?!\d)|[a-z]+-[5-9])")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MEDIA = {"image/jpeg", "image/png", "image/gif", "image/webp"}
TOP_LEVEL = {
    "model", "max_tokens", "messages", "system", "stop_sequences", "temperature", "top_p", "top_k",
    "metadata", "tools", "tool_choice", "thinking", "stream", "cache_control", "service_tier",
    "output_config", "container", "context_management", "mcp_servers", "inference_geo",
}  # fmt: skip
COUNT_TOKENS_FIELDS = {
    "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control",
    "context_management", "mcp_servers",
}  # fmt: skip
USER_BLOCKS = {"text", "image", "tool_result", "document", "search_result"}
ASSISTANT_BLOCKS = {
    "text",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "server_tool_use",
    "web_search_tool_result",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class Invalid(Exception):
    pass


def error_body(status: int, message: str) -> dict[str, Any]:
    etype = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake0001"}


def _text_ok(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise Invalid(f"{where}.text: Field required")
    if not text:
        raise Invalid("messages: text content blocks must be non-empty")
    if not text.strip():
        raise Invalid("messages: text content blocks must contain non-whitespace text")


def _image_ok(block: dict[str, Any], where: str) -> None:
    src = block.get("source")
    if not isinstance(src, dict):
        raise Invalid(f"{where}.source: Field required")
    if src.get("type") == "base64":
        if src.get("media_type") not in MEDIA:
            raise Invalid(
                f"{where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            )
        if not isinstance(src.get("data"), str) or not src["data"]:
            raise Invalid(f"{where}.source.base64.data: Field required")
    elif src.get("type") == "url":
        if not isinstance(src.get("url"), str):
            raise Invalid(f"{where}.source.url.url: Field required")
    else:
        raise Invalid(
            f"{where}.source: Input tag {src.get('type')!r} found using 'type' does not match any of the expected tags"
        )


def _tool_result_ok(block: dict[str, Any], where: str) -> None:
    if not isinstance(block.get("tool_use_id"), str) or not ID.match(block["tool_use_id"]):
        raise Invalid(f"{where}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
    content = block.get("content")
    if isinstance(content, list):
        for k, inner in enumerate(content):
            if not isinstance(inner, dict) or inner.get("type") not in ("text", "image"):
                raise Invalid(f"{where}.content.{k}: Input tag does not match any of the expected tags")
            (_text_ok if inner["type"] == "text" else _image_ok)(inner, f"{where}.content.{k}")
    elif content is not None and not isinstance(content, str):
        raise Invalid(f"{where}.tool_result.content: Input should be a valid string or list")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise Invalid(f"{where}.tool_result.is_error: Input should be a valid boolean")


def _block_ok(block: Any, where: str, role: str) -> None:
    if not isinstance(block, dict):
        raise Invalid(f"{where}: Input should be a valid dictionary")
    kind = block.get("type")
    allowed = {"user": USER_BLOCKS, "assistant": ASSISTANT_BLOCKS, "system": {"text"}}[role]
    if kind not in allowed:
        raise Invalid(
            f"{where}: Input tag {kind!r} found using 'type' does not match any of the expected tags"
        )
    match kind:
        case "text":
            _text_ok(block, where)
        case "image":
            _image_ok(block, where)
        case "tool_use":
            if not isinstance(block.get("id"), str) or not ID.match(block["id"]):
                raise Invalid(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            if not isinstance(block.get("name"), str):
                raise Invalid(f"{where}.tool_use.name: Field required")
            if not isinstance(block.get("input"), dict):
                raise Invalid(f"{where}.tool_use.input: Input should be a valid dictionary")
        case "tool_result":
            _tool_result_ok(block, where)
        case "thinking":
            if not isinstance(block.get("thinking"), str) or not isinstance(block.get("signature"), str):
                raise Invalid(f"{where}.thinking: thinking and signature are required")
        case "redacted_thinking":
            if not isinstance(block.get("data"), str):
                raise Invalid(f"{where}.redacted_thinking.data: Field required")
        case "server_tool_use":
            if not str(block.get("id", "")).startswith("srvtoolu_") or block.get("name") != "web_search":
                raise Invalid(f"{where}.server_tool_use: id must be a srvtoolu_ id and name 'web_search'")
            if not isinstance(block.get("input"), dict):
                raise Invalid(f"{where}.server_tool_use.input: Input should be a valid dictionary")
        case "web_search_tool_result":
            _search_result_ok(block, where)


def _search_result_ok(block: dict[str, Any], where: str) -> None:
    """Pages come back only with the encrypted content this fake issued for them."""
    content = block.get("content")
    if not str(block.get("tool_use_id", "")).startswith("srvtoolu_") or not isinstance(content, list):
        raise Invalid(f"{where}.web_search_tool_result: tool_use_id and content are required")
    for k, page in enumerate(content):
        if not isinstance(page, dict) or page.get("encrypted_content") != encrypted(str(page.get("url"))):
            raise Invalid(f"{where}.web_search_tool_result.content.{k}: invalid encrypted_content")


def _content(m: dict[str, Any], i: int) -> list[dict[str, Any]]:
    content = m.get("content")
    if isinstance(content, str):
        if not content.strip():
            raise Invalid("messages: text content blocks must contain non-whitespace text")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise Invalid(
            f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        )
    for j, block in enumerate(content):
        _block_ok(block, f"messages.{i}.content.{j}", m["role"])
    return content


def _pairing_ok(turns: list[tuple[int, str, list[dict[str, Any]]]]) -> None:
    """tool_use needs its tool_result first thing in the next message; results need their call."""
    seen: set[str] = set()
    for n, (i, _role, blocks) in enumerate(turns):
        calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
        if seen & set(calls) or len(set(calls)) != len(calls):
            raise Invalid(f"messages.{i}: `tool_use` ids must be unique")
        seen |= set(calls)
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        if results:
            prev = turns[n - 1] if n else None
            expected = (
                {b["id"] for b in prev[2] if b["type"] == "tool_use"}
                if prev and prev[1] == "assistant"
                else set()
            )
            for j, rid in enumerate(results):
                if rid not in expected:
                    raise Invalid(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {rid}. "
                        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    )
            kinds = [b["type"] for b in blocks]
            if kinds[: len(results)] != ["tool_result"] * len(results):
                raise Invalid(f"messages.{i}: tool_result blocks must come first in the content array")
        if calls:
            nxt = turns[n + 1] if n + 1 < len(turns) else None
            if nxt is None:
                continue  # an assistant turn that ends the conversation is a prefill
            answered = {b["tool_use_id"] for b in nxt[2] if b["type"] == "tool_result"}
            missing = [c for c in calls if c not in answered]
            if nxt[1] != "user" or missing:
                raise Invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(missing or calls)}. Each `tool_use` block must have a corresponding `tool_result` "
                    "block in the next message."
                )


def _thinking_ok(body: dict[str, Any], turns: list[tuple[int, str, list[dict[str, Any]]]]) -> None:
    thinking = body.get("thinking")
    on = False
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if isinstance(body.get("max_tokens"), int) and budget >= body["max_tokens"]:
                raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        elif kind not in ("adaptive", "disabled"):
            raise Invalid(
                f"thinking: Input tag {kind!r} found using 'type' does not match any of the expected tags"
            )
        on = kind in ("enabled", "adaptive")
    for i, _, blocks in turns:
        kinds = [b["type"] for b in blocks]
        if any(k in ("thinking", "redacted_thinking") for k in kinds) and kinds[0] not in (
            "thinking",
            "redacted_thinking",
        ):
            raise Invalid(
                f"messages.{i}.content.0: If an assistant message contains any thinking blocks, "
                f"the first block must be thinking or redacted_thinking. Found {kinds[0]}."
            )
    if not turns:
        return
    last_i, last_role, last_blocks = turns[-1]
    if on and last_role == "assistant" and last_blocks[0]["type"] not in ("thinking", "redacted_thinking"):
        raise Invalid(
            f"messages.{last_i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{last_blocks[0]['type']}`. When `thinking` is enabled, a final `assistant` message must start "
            "with a thinking block. We recommend you include thinking blocks from previous turns. To avoid "
            "this requirement, disable `thinking`."
        )
    if on:
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")
        if body.get("temperature") not in (None, 1) or "top_k" in body:
            raise Invalid("temperature may only be set to 1 when thinking is enabled, and top_k not at all")
        if last_role == "user" and any(b["type"] == "tool_result" for b in last_blocks) and len(turns) > 1:
            i, role, blocks = turns[-2]
            if role == "assistant" and blocks[0]["type"] not in ("thinking", "redacted_thinking"):
                raise Invalid(
                    f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                    f"`{blocks[0]['type']}`. When `thinking` is enabled, a final `assistant` message must start "
                    "with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
                )
    elif last_role == "assistant" and any(
        b["type"] in ("thinking", "redacted_thinking") for b in last_blocks
    ):
        raise Invalid(
            f"messages.{last_i}.content.0: When thinking is disabled, an `assistant` message in the final "
            "position cannot contain `thinking`."
        )


def _tools_ok(body: dict[str, Any]) -> None:
    tools = body.get("tools", [])
    names: set[str] = set()
    if not isinstance(tools, list):
        raise Invalid("tools: Input should be a valid list")
    for i, t in enumerate(tools):
        if isinstance(t, dict) and str(t.get("type", "")).startswith("web_search_"):
            if t.get("name") != "web_search":
                raise Invalid(f"tools.{i}.web_search_20250305.name: Input should be 'web_search'")
            continue  # a server tool: Anthropic runs it, no schema
        if not isinstance(t, dict) or t.get("type") not in (None, "custom"):
            raise Invalid(f"tools.{i}: Input tag does not match any of the expected tags")
        if not isinstance(t.get("name"), str) or not TOOL_NAME.match(t["name"]):
            raise Invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if t["name"] in names:
            raise Invalid("tools: Tool names must be unique.")
        names.add(t["name"])
        schema = t.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice: Input tag does not match any of the expected tags")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid(f"tool_choice.name: tool {choice.get('name')!r} is not among the tools")


def _sampling_ok(body: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            raise Invalid(f"{key}: Input should be less than or equal to 1")
    if "temperature" in body and "top_p" in body:
        raise Invalid(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
        )
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or any(not isinstance(s, str) or not s.strip() for s in stops):
        raise Invalid("stop_sequences: each stop sequence must contain non-whitespace")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        raise Invalid("metadata: Extra inputs are not permitted")
    effort = (body.get("output_config") or {}).get("effort")
    if effort not in (None, "low", "medium", "high", "xhigh", "max"):
        raise Invalid("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is not None:
        if (
            not isinstance(fmt, dict)
            or fmt.get("type") != "json_schema"
            or not isinstance(fmt.get("schema"), dict)
        ):
            raise Invalid("output_config.format: Input tag does not match any of the expected tags")
        _output_schema_ok(fmt["schema"], "output_config.format.schema")


# Keywords structured outputs refuse (the SDK's transform_schema moves them into descriptions).
OUTPUT_SCHEMA_REFUSED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "maxItems", "uniqueItems", "minProperties", "maxProperties", "patternProperties",
    "propertyNames", "not", "if", "then", "else", "oneOf", "nullable",
}  # fmt: skip


def _output_schema_ok(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        return
    for key in schema:
        if key in OUTPUT_SCHEMA_REFUSED:
            raise Invalid(f"{where}: JSON schema keyword '{key}' is not supported in structured outputs")
    if schema.get("minItems") not in (None, 0, 1):
        raise Invalid(f"{where}: minItems values other than 0 or 1 are not supported")
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        raise Invalid(f"{where}: For 'object' type, 'additionalProperties' must be explicitly set to false")
    for name, sub in (schema.get("properties") or {}).items():
        _output_schema_ok(sub, f"{where}.properties.{name}")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            _output_schema_ok(sub, f"{where}.{key}.{name}")
    for key in ("anyOf", "allOf"):
        for k, sub in enumerate(schema.get(key) or []):
            _output_schema_ok(sub, f"{where}.{key}.{k}")
    _output_schema_ok(schema.get("items"), f"{where}.items")


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool this request makes the model call: named, or the last one for ``any``."""
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return str(choice["name"])
    if choice.get("type") == "any" and body.get("tools"):
        return str(body["tools"][-1]["name"])
    return None


def _system_ok(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise Invalid("system: Input should be a valid string or list")
    for i, block in enumerate(system):
        _block_ok(block, f"system.{i}", "system")


def _breakpoints_ok(body: dict[str, Any]) -> None:
    found = len(breakpoints(body))
    if found > MAX_BREAKPOINTS:
        raise Invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
        )


def validate(body: Any, *, count_tokens: bool = False) -> None:
    """Raise ``Invalid`` with the API's own wording where the real API would answer 400."""
    if not isinstance(body, dict):
        raise Invalid("Input should be a valid dictionary")
    allowed = COUNT_TOKENS_FIELDS if count_tokens else TOP_LEVEL
    for key in body:
        if key not in allowed:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    if not count_tokens:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: Field required")
    _system_ok(body.get("system"))
    turns: list[tuple[int, str, list[dict[str, Any]]]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise Invalid(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
        blocks = _content(m, i)
        if m["role"] != "system":  # system messages sit between turns and do not count as one
            turns.append((i, m["role"], blocks))
    if not turns or turns[0][1] != "user":
        raise Invalid('messages: first message must use the "user" role')
    if turns[-1][1] == "assistant":
        if NO_PREFILL.match(body["model"]):
            raise Invalid(
                "This model does not support assistant message prefill. The conversation must end with a user message."
            )
        last = turns[-1][2][-1]
        if last["type"] == "text" and last["text"] != last["text"].rstrip():
            raise Invalid("messages: final assistant content cannot end with trailing whitespace")
    _pairing_ok(turns)
    _breakpoints_ok(body)
    _tools_ok(body)
    _thinking_ok(body, turns)
    _sampling_ok(body)


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: a prefill's text
    (a last assistant message of text, maybe after thinking), or the text of the assistant
    message before detour's instruction to continue it; None for any other request."""
    messages = [m for m in body["messages"] if m["role"] != "system"]
    last = messages[-1]
    if last["role"] == "assistant":
        held = last
    elif len(messages) > 1 and messages[-2]["role"] == "assistant" and instructed(last["content"]):
        held = messages[-2]
    else:
        return None
    content = held["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if any(b["type"] not in ("text", "thinking", "redacted_thinking") for b in blocks):
        return None
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    return text or None


def prompt_chars(body: dict[str, Any]) -> int:
    """The text of a prompt (a Messages or count_tokens body), as the fake bills it."""
    n = _content_chars(body.get("system"))
    for m in body.get("messages") or []:
        n += _content_chars(m.get("content") if isinstance(m, dict) else None)
    for t in body.get("tools") or []:
        n += (
            len(t.get("name", ""))
            + len(t.get("description") or "")
            + len(json.dumps(t.get("input_schema", {})))
        )
    return n


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    n = 0
    for block in content if isinstance(content, list) else []:
        match block.get("type") if isinstance(block, dict) else None:
            case "text":
                n += len(block["text"])
            case "tool_use":
                n += len(block["name"]) + len(json.dumps(block["input"]))
            case "tool_result":
                n += _content_chars(block.get("content"))
            case "thinking":
                n += len(block["thinking"])
    return n


def encrypted(url: str) -> str:
    """The ``encrypted_content`` the fake gives a search result, and so accepts back."""
    return "Eo8BCioIAhgB" + hashlib.sha256(url.encode()).hexdigest()[:24]
