"""IR -> a Messages body the Anthropic API accepts, written for ``anthropic-version: 2023-06-01``.

What the API would otherwise answer 400 to, and what is done instead:

- ``max_tokens`` is required: 8192 by default, 32000 when thinking is on;
- a system prompt lives in top-level ``system``: mid-conversation system
  messages stay in place only for a client that spoke Anthropic itself (its
  API took them), and are hoisted otherwise;
- the first message must be ``user``: a placeholder turn is put before history
  that starts with the assistant;
- ``tool_result`` blocks go first in the user message after the calls, with any
  text after them; consecutive same-role messages are merged;
- empty and whitespace-only text is dropped, and so are whitespace-only stop
  sequences and the trailing whitespace of a final assistant prefill (a
  continuation's is one; the model continues after the stripped text);
- a continuation (``Request.continues``) goes as that prefill, or, to a model
  that takes none (Claude 4.6 on), with ``CONTINUE_INSTRUCTION`` after it;
- ids and tool names are made to fit ``^[a-zA-Z0-9_-]+$``; arguments that are
  not a JSON object go as ``{"_raw": text}``;
- thinking goes back only if Anthropic signed it; when the assistant turns of
  the current exchange that call tools, or a final assistant message (a
  prefill), do not start with signed thinking, or the model has no thinking,
  thinking is turned off for the request; with
  thinking on, a forced tool choice becomes ``auto`` and temperature/top_k are
  dropped; ``temperature`` and ``top_p`` are never sent together;
- a JSON schema for the answer goes in ``output_config.format`` in the dialect
  structured outputs take (``schema_dialects.for_anthropic``); routing sends other
  JSON requests as a forced tool instead (``routing.structured``);
- cache breakpoints: the client's ``cache_control`` markers go on the blocks they
  marked, never more than 4, or detour places them (``anthropic_cache``).
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from daemon.formats import anthropic_cache, ids
from daemon.formats.anthropic_response import ORIGIN, arguments_object, tool_name
from daemon.formats.anthropic_search import blocks as search_blocks
from daemon.formats.continuation import held, instructed
from daemon.formats.media import sniff_mime, split_data_url
from daemon.formats.profile import Profile, Thinking
from daemon.formats.schema_dialects import for_anthropic
from daemon.ir import (
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    WebSearchPart,
    invalid,
)

DEFAULT_MAX_TOKENS: Final = 8192
# Every Claude model that thinks can write at least this much.
DEFAULT_MAX_TOKENS_THINKING: Final = 32000
MIN_BUDGET: Final = 1024
PLACEHOLDER: Final = "(continued)"
_THINKING: Final = ("thinking", "redacted_thinking")
# For models that take only a thinking budget, from the one effort scale.
EFFORT_BUDGET: Final = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 31999,
}
ANTHROPIC_EFFORT: Final = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
_MEDIA: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


# --- content ---------------------------------------------------------------------------------


def _has_text(text: str) -> bool:
    return bool(text.strip())


def _text_block(p: TextPart) -> dict[str, Any]:
    return _marked({"type": "text", "text": p.text}, p.cache_control)


def _marked(block: dict[str, Any], mark: dict[str, Any] | None) -> dict[str, Any]:
    if mark:
        block["cache_control"] = mark
    return block


def _image_block(p: ImagePart, path: str) -> dict[str, Any]:
    return _marked(_image_source(p, path), p.cache_control)


def _image_source(p: ImagePart, path: str) -> dict[str, Any]:
    media, data = p.media_type, p.data
    if data is None and p.url:
        inline = split_data_url(p.url)
        if inline is None:
            return {"type": "image", "source": {"type": "url", "url": p.url}}
        media, data = inline
    if not data:
        raise invalid(f"{path}: an image needs base64 data or a url")
    media = (media or sniff_mime(data) or "").lower()
    media = "image/jpeg" if media == "image/jpg" else media
    if media not in _MEDIA:
        raise invalid(
            f"{path}: Anthropic takes JPEG, PNG, GIF and WebP images only, not {media or 'unknown'}"
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def _tool_result_block(p: ToolResultPart, path: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": ids.for_anthropic(p.call_id)}
    content: list[dict[str, Any]] = []
    for j, q in enumerate(p.content):
        if isinstance(q, TextPart):
            if _has_text(q.text):
                content.append(_text_block(q))
        else:
            content.append(_image_block(q, f"{path}.content[{j}]"))
    if len(content) == 1 and content[0]["type"] == "text" and "cache_control" not in content[0]:
        block["content"] = content[0]["text"]
    elif content:
        block["content"] = content
    if p.is_error:
        block["is_error"] = True
    return _marked(block, p.cache_control)


def _user_blocks(parts: list[Part], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        match p:
            case TextPart():
                if _has_text(p.text):
                    out.append(_text_block(p))
            case ImagePart():
                out.append(_image_block(p, f"{path}.parts[{j}]"))
            case ToolResultPart():
                out.append(_tool_result_block(p, f"{path}.parts[{j}]"))
            case ToolCallPart() | ThinkingPart() | WebSearchPart():
                raise invalid(f"{path}.parts[{j}]: a user message cannot carry a {p.kind} part")
            case _:
                assert_never(p)
    return out


def _assistant_blocks(parts: list[Part], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        match p:
            case ThinkingPart():
                # Signatures hold only where they were issued; foreign thinking is dropped by design.
                if p.opaque is not None and p.opaque.format == ORIGIN:
                    if p.redacted is not None:
                        out.append({"type": "redacted_thinking", "data": p.redacted})
                    else:
                        out.append({"type": "thinking", "thinking": p.text, "signature": p.opaque.blob})
            case TextPart():
                if _has_text(p.text):
                    out.append(_text_block(p))
            case ToolCallPart():
                call = {
                    "type": "tool_use",
                    "id": ids.for_anthropic(p.id),
                    "name": tool_name(p.name),
                    "input": arguments_object(p.arguments),
                }
                out.append(_marked(call, p.cache_control))
            case WebSearchPart():
                # Anthropic's own search goes back verbatim; anyone else's is left out (its
                # opaque was dropped by routing), and the answer's text still says what it found.
                out += search_blocks(p)
            case ImagePart() | ToolResultPart():
                raise invalid(f"{path}.parts[{j}]: an assistant message cannot carry a {p.kind} part")
            case _:
                assert_never(p)
    return out


def _system_texts(m: Message, path: str) -> list[TextPart]:
    texts: list[TextPart] = []
    for j, p in enumerate(m.parts):
        if not isinstance(p, TextPart):
            raise invalid(f"{path}.parts[{j}]: a system message carries text only, not a {p.kind} part")
        if _has_text(p.text):
            texts.append(p)
    return texts


# --- messages --------------------------------------------------------------------------------


def _messages(req: Request, hoisted: list[TextPart]) -> list[dict[str, Any]]:
    native = req.source_format == ORIGIN
    out: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        path = f"messages[{i}]"
        match m.role:
            case "system":
                texts = _system_texts(m, path)
                if not native:
                    hoisted.extend(texts)
                elif texts:
                    out.append({"role": "system", "content": [_text_block(t) for t in texts]})
                continue
            case "user":
                blocks = _user_blocks(m.parts, path)
            case "assistant":
                blocks = _assistant_blocks(m.parts, path)
        if not blocks:
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": m.role, "content": blocks})
    for msg in out:
        if msg["role"] == "user":
            # Stable: results first in their order, then everything else in its order.
            msg["content"].sort(key=lambda b: b["type"] != "tool_result")
    _results_after_calls(out)
    first = next((i for i, msg in enumerate(out) if msg["role"] != "system"), None)
    if first is None or out[first]["role"] == "assistant":
        out.insert(
            len(out) if first is None else first,
            {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER}]},
        )
    return out


def _results_after_calls(out: list[dict[str, Any]]) -> None:
    """Results must be in the very next message after their calls: system messages in
    between move to after the results."""
    for i, msg in enumerate(out):
        if msg["role"] != "assistant" or not any(b["type"] == "tool_use" for b in msg["content"]):
            continue
        j = i + 1
        while j < len(out) and out[j]["role"] == "system":
            j += 1
        if j > i + 1 and j < len(out) and out[j]["role"] == "user":
            out[i + 1 : j + 1] = [out[j], *out[i + 1 : j]]


def _signed_history(messages: list[dict[str, Any]]) -> bool:
    """With thinking on, the assistant turns of the current exchange that call tools must
    start with signed thinking, or the API answers 400. The exchange began at the last user
    message without tool results: one with results continues the tool loop, text or not.
    So must a final assistant message (a prefill, such as a continuation's): thinking is
    turned off for one that does not, the closest request the API takes."""
    if messages and messages[-1]["role"] == "assistant":
        blocks = messages[-1]["content"]
        if blocks and blocks[0]["type"] not in _THINKING:
            return False
    start = 0
    for i, msg in enumerate(messages):
        if msg["role"] == "user" and all(b["type"] != "tool_result" for b in msg["content"]):
            start = i
    for msg in messages[start:]:
        blocks = msg["content"]
        if msg["role"] == "assistant" and any(b["type"] == "tool_use" for b in blocks):
            if blocks[0]["type"] not in ("thinking", "redacted_thinking"):
                return False
    return True


def _fit_prefill(messages: list[dict[str, Any]], thinking_on: bool) -> None:
    """A final assistant message (a prefill) may not end in whitespace, nor hold thinking
    when thinking is off."""
    last = messages[-1]
    if last["role"] != "assistant":
        return
    blocks = last["content"]
    if not thinking_on:
        blocks[:] = [b for b in blocks if b["type"] not in ("thinking", "redacted_thinking")]
    if blocks and blocks[-1]["type"] == "text":
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = {**blocks[-1], "text": text}
        else:
            blocks.pop()
    if not blocks:
        messages.pop()


def _compact(messages: list[dict[str, Any]]) -> None:
    for msg in messages:
        content = msg["content"]
        if len(content) == 1 and content[0]["type"] == "text" and "cache_control" not in content[0]:
            msg["content"] = content[0]["text"]


# --- parameters ------------------------------------------------------------------------------


def _fit_budget(budget: int, max_tokens: int) -> int | None:
    """``budget_tokens`` must be at least 1024 and below ``max_tokens``; None if no budget fits."""
    if budget >= max_tokens:
        budget = max_tokens // 2  # leave room for the answer itself
    budget = max(budget, MIN_BUDGET)
    return budget if budget < max_tokens else None


def _thinking(
    r: Reasoning | None, tier: Thinking, native: bool, max_tokens: int, signed_ok: bool
) -> tuple[dict[str, Any] | None, str | None]:
    """(the ``thinking`` object, ``output_config.effort``), either None to leave it out.
    ``tier``: none (Claude 3 but 3.7), a budget only (3.7 to 4.5), or adaptive with an
    effort (4.6 on, and names not known yet)."""
    if r is None:
        return None, None
    effort = ANTHROPIC_EFFORT.get(r.effort or "") if tier == "effort" else None
    if not r.enabled or r.effort == "none" or tier == "none" or not signed_ok:
        # Some models reject {"type":"disabled"}: only a client that sent it itself knows it works.
        off = {"type": "disabled"} if native and not r.enabled and tier != "none" else None
        return off, effort
    budget = r.budget_tokens
    if budget is None and tier == "budget":
        budget = EFFORT_BUDGET.get(r.effort or "medium", EFFORT_BUDGET["medium"])
    thinking: dict[str, Any]
    if budget is not None:
        fitted = _fit_budget(budget, max_tokens)
        if fitted is None:
            return None, effort
        thinking = {"type": "enabled", "budget_tokens": fitted}
    else:
        thinking = {"type": "adaptive"}
    if r.include_thoughts is not None and tier == "effort":
        thinking["display"] = "summarized" if r.include_thoughts else "omitted"
    return thinking, effort


# Anthropic's server-side web search: it runs the searches and answers with cited text.
WEB_SEARCH_TOOL: Final = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


def _tool(t: Tool, path: str) -> dict[str, Any]:
    schema = t.parameters or {"type": "object", "properties": {}}
    kind = schema.get("type")
    if kind is None:
        schema = {"type": "object", **schema}
    elif kind != "object":
        raise invalid(f"{path} ({t.name}): Anthropic takes object input schemas only, not type {kind!r}")
    out: dict[str, Any] = {"name": tool_name(t.name)}
    if t.description:
        out["description"] = t.description
    out["input_schema"] = schema
    if t.strict is not None:
        out["strict"] = t.strict
    return _marked(out, t.cache_control)


def _tool_choice(c: ToolChoice, thinking_on: bool) -> dict[str, Any]:
    mode = c.mode
    if thinking_on and mode in ("required", "tool"):
        mode = "auto"  # "Thinking may not be enabled when tool_choice forces tool use."
    out: dict[str, Any]
    match mode:
        case "none":
            return {"type": "none"}
        case "auto":
            out = {"type": "auto"}
        case "required":
            out = {"type": "any"}
        case "tool":
            if not c.name:
                raise invalid("tool_choice: a named tool choice needs the tool's name")
            out = {"type": "tool", "name": tool_name(c.name)}
        case _:
            assert_never(mode)
    if c.parallel is not None:
        out["disable_parallel_tool_use"] = not c.parallel
    return out


def _sampling(req: Request, thinking_on: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if thinking_on:
        # Thinking takes no temperature or top_k, and top_p only from 0.95 up.
        if req.top_p is not None and 0.95 <= req.top_p <= 1:
            out["top_p"] = req.top_p
        return out
    if req.temperature is not None:
        out["temperature"] = min(max(req.temperature, 0), 1)  # Anthropic's range is 0-1
    elif req.top_p is not None:
        out["top_p"] = req.top_p
    if req.top_k is not None:
        out["top_k"] = req.top_k
    return out


def encode_request(req: Request, model: str, profile: Profile) -> dict[str, Any]:
    if held(req) and profile.continuation != "prefill":
        req = instructed(req)  # Claude 4.6 on takes no prefill
    hoisted: list[TextPart] = []
    messages = _messages(req, hoisted)
    max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS_THINKING
    native = req.source_format == ORIGIN
    thinking, effort = _thinking(
        req.reasoning, profile.thinking, native, max_tokens, _signed_history(messages)
    )
    thinking_on = thinking is not None and thinking["type"] != "disabled"
    if not thinking_on:
        max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS
    _fit_prefill(messages, thinking_on)
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    system = [t for t in req.system if _has_text(t.text)] + hoisted
    if system:
        body["system"] = [_text_block(t) for t in system]
    body["messages"] = messages
    if req.tools:
        body["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(req.tools)]
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice, thinking_on)
    if req.web_search:
        body.setdefault("tools", []).append(dict(WEB_SEARCH_TOOL))  # a breakpoint may go on it
    if thinking is not None:
        body["thinking"] = thinking
    output_config: dict[str, Any] = {}
    if effort is not None:
        output_config["effort"] = effort
    rf = req.response_format
    if rf is not None and rf.kind == "json_schema" and rf.tool is None and rf.schema is not None:
        output_config["format"] = {"type": "json_schema", "schema": for_anthropic(rf.schema)}
    if output_config:
        body["output_config"] = output_config
    body.update(_sampling(req, thinking_on))
    anthropic_cache.place(body, req.prompt_cache, profile.min_cache_tokens)
    _compact(messages)
    if system and len(body["system"]) == 1 and "cache_control" not in body["system"][0]:
        body["system"] = body["system"][0]["text"]
    # Whitespace-only stops (OpenAI clients send "\n") are a 400 here; they cannot be kept.
    stops = [s for s in req.stop if s.strip()]
    if stops:
        body["stop_sequences"] = stops
    if req.user:
        body["metadata"] = {"user_id": req.user}
    body["stream"] = req.stream
    return body
