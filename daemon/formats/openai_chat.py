"""The OpenAI Chat Completions wire format (``formats.base.WireFormat``).

Requests and whole answers live here; finish reasons, usage, errors and
streams in ``openai_chat_stream``.

Inbound (``POST /v1/chat/completions``): the first run of system/developer
messages becomes ``Request.system``, later ones stay in place; consecutive
``tool`` messages become one user message of tool results; DeepSeek's
``reasoning_content`` becomes thinking. Refused with a 400 naming the path:
audio and file parts, the deprecated ``function`` role and ``functions``,
``n`` > 1, non-function tools and tool choices. Ignored: harmless fields
(``store``, ``metadata``, ``service_tier``, ``stream_options``, penalties,
``seed``...). ``response_format`` becomes ``Request.response_format``.

Upstream: ``POST {base_url}/chat/completions`` (``base_url`` ends in ``/v1``),
``Authorization: Bearer``, ``stream`` in the body. Written for OpenAI itself:
``max_completion_tokens``, ids of at most 40 characters, function names
renamed to fit ``^[a-zA-Z0-9_-]{1,64}$`` (and mapped back in answers), tool
results right after their calls, no reasoning sent back.
"""

from __future__ import annotations

import time
from typing import Any, Final, TypeVar, assert_never

import orjson

from daemon.formats.continuation import fused, held, instructed
from daemon.formats.fields import as_array, as_object, as_str, json_type, opt_bool, opt_int, opt_num, opt_str
from daemon.formats.gemini_schema import sanitize
from daemon.formats.ids import for_openai
from daemon.formats.media import image_of_url
from daemon.formats.openai_chat_stream import (
    chat_id,
    decode_error,
    encode_error,
    encode_usage,
    error_frame,
    stream_decoder,
    stream_encoder,
    wire_finish,
    wire_name,
)
from daemon.formats.profile import Profile
from daemon.formats.schema_dialects import openai_name
from daemon.ir import (
    Effort,
    ImagePart,
    Message,
    Part,
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    WebSearchPart,
    invalid,
)

name: Final = "openai_chat"

__all__ = [
    "decode_error", "decode_request", "encode_error", "encode_request",
    "encode_response", "error_frame", "name", "stream_decoder", "stream_encoder",
]  # fmt: skip

EFFORTS: Final[dict[str, Effort]] = {
    "none": "none", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
    "xhigh": "xhigh", "max": "max",
}  # fmt: skip
MAX_STOP: Final = 4
JSON_HINT: Final = "Answer with a JSON object."
_UNSUPPORTED_PARTS: Final = frozenset({"input_audio", "file"})
_P = TypeVar("_P", bound=Part)

# --- requests: wire -> IR -----------------------------------------------------------------


def _texts(content: Any, path: str) -> list[TextPart]:
    """A string or an array of text parts (system, developer and tool messages)."""
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[TextPart] = []
    for j, raw in enumerate(as_array(content, f"{path}.content")):
        where = f"{path}.content[{j}]"
        block = as_object(raw, where)
        if block.get("type") != "text":
            raise invalid(f"{where}: expected a text part here, got type {block.get('type')!r}")
        parts.append(TextPart(as_str(block.get("text"), f"{where}.text"), cache_control=_cache(block, where)))
    return parts


def _cache(obj: dict[str, Any], where: str) -> dict[str, Any] | None:
    """An Anthropic cache marker as OpenRouter and LiteLLM take it on a message or a part."""
    value = obj.get("cache_control")
    return None if value is None else as_object(value, f"{where}.cache_control")


def _marked(parts: list[_P], m: dict[str, Any], path: str) -> list[_P]:
    """``parts`` with the message's own marker (OpenCode and Kilo send one) on its last block."""
    mark = _cache(m, path)
    if mark is not None:
        for p in reversed(parts):
            if isinstance(p, TextPart | ImagePart | ToolCallPart | ToolResultPart):
                p.cache_control = mark
                break
    return parts


def _image(raw: Any, where: str) -> ImagePart:
    spec = {"url": raw} if isinstance(raw, str) else as_object(raw, f"{where}.image_url")
    url = as_str(spec.get("url"), f"{where}.image_url.url")
    detail = opt_str(spec.get("detail"), f"{where}.image_url.detail")
    return image_of_url(url, detail, f"{where}.image_url.url")


def _user(content: Any, path: str) -> list[Part]:
    if content is None:
        raise invalid(f"{path}.content: required")
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for j, raw in enumerate(as_array(content, f"{path}.content")):
        where = f"{path}.content[{j}]"
        block = as_object(raw, where)
        match block.get("type"):
            case "text":
                parts.append(
                    TextPart(as_str(block.get("text"), f"{where}.text"), cache_control=_cache(block, where))
                )
            case "image_url":
                image = _image(block.get("image_url"), where)
                image.cache_control = _cache(block, where)
                parts.append(image)
            case kind if not isinstance(kind, str):
                raise invalid(f"{where}.type: expected a string, got {json_type(kind)}")
            case kind if kind in _UNSUPPORTED_PARTS:
                raise invalid(f"{where}: {kind} parts are not supported; detour carries text and images only")
            case kind:
                raise invalid(f"{where}: unknown part type {kind!r}")
    return parts


def _tool_call(raw: Any, where: str) -> ToolCallPart:
    call = as_object(raw, where)
    call_id = as_str(call.get("id"), f"{where}.id")
    match call.get("type", "function"):
        case "function":
            fn = as_object(call.get("function"), f"{where}.function")
            args = fn.get("arguments")
            if isinstance(args, dict):  # not the spec, but some clients send the object itself
                args = orjson.dumps(args).decode()
            text = as_str(args, f"{where}.function.arguments")
            return ToolCallPart(call_id, as_str(fn.get("name"), f"{where}.function.name"), text or "{}")
        case "custom":
            # Free-form input, not JSON: carried as is, as a model's invalid JSON would be.
            custom = as_object(call.get("custom"), f"{where}.custom")
            text = as_str(custom.get("input"), f"{where}.custom.input")
            return ToolCallPart(call_id, as_str(custom.get("name"), f"{where}.custom.name"), text)
        case kind:
            raise invalid(f"{where}.type: expected 'function' or 'custom', got {kind!r}")


def _assistant(m: dict[str, Any], path: str) -> Message:
    if m.get("function_call") is not None:
        raise invalid(f"{path}.function_call: the deprecated function_call is not supported; use tool_calls")
    if m.get("audio") is not None:
        raise invalid(f"{path}.audio: audio answers are not supported")
    parts: list[Part] = []
    reasoning = opt_str(m.get("reasoning_content"), f"{path}.reasoning_content")
    if reasoning:
        parts.append(ThinkingPart(reasoning))
    content = m.get("content")
    if isinstance(content, str):
        parts += [TextPart(content)] if content else []
    elif content is not None:
        for j, raw in enumerate(as_array(content, f"{path}.content")):
            where = f"{path}.content[{j}]"
            block = as_object(raw, where)
            kind = block.get("type")
            if kind not in ("text", "refusal"):
                raise invalid(f"{where}: expected a text or refusal part, got type {kind!r}")
            text = as_str(block.get(kind), f"{where}.{kind}")
            parts += [TextPart(text, cache_control=_cache(block, where))] if text else []
    if refusal := opt_str(m.get("refusal"), f"{path}.refusal"):
        parts.append(TextPart(refusal))
    calls = m.get("tool_calls")
    for k, raw in enumerate([] if calls is None else as_array(calls, f"{path}.tool_calls")):
        parts.append(_tool_call(raw, f"{path}.tool_calls[{k}]"))
    return Message("assistant", _marked(parts, m, path))


def _messages(raw: Any) -> tuple[list[TextPart], list[Message]]:
    if raw is None:
        raise invalid("messages: required")
    items = as_array(raw, "messages")
    if not items:
        raise invalid("messages: at least one message is required")
    system: list[TextPart] = []
    messages: list[Message] = []
    names: dict[str, str] = {}  # call id -> tool name, which Gemini needs on results
    leading, after_tool = True, False
    for i, raw_m in enumerate(items):
        path = f"messages[{i}]"
        m = as_object(raw_m, path)
        role = m.get("role")
        leading = leading and role in ("system", "developer")
        match role:
            case "system" | "developer":
                parts = _marked(_texts(m.get("content"), path), m, path)
                if leading:
                    system += parts
                elif parts:
                    messages.append(Message("system", list(parts)))
            case "user":
                messages.append(Message("user", _marked(_user(m.get("content"), path), m, path)))
            case "assistant":
                msg = _assistant(m, path)
                names.update({p.id: p.name for p in msg.parts if isinstance(p, ToolCallPart)})
                if msg.parts:  # an empty turn says nothing, and other formats reject it
                    messages.append(msg)
            case "tool":
                call_id = as_str(m.get("tool_call_id"), f"{path}.tool_call_id")
                content: list[TextPart | ImagePart] = list(_texts(m.get("content"), path))
                result = ToolResultPart(
                    call_id, content, name=names.get(call_id), cache_control=_cache(m, path)
                )
                if after_tool:
                    messages[-1].parts.append(result)
                else:
                    messages.append(Message("user", [result]))
            case "function":
                raise invalid(
                    f"{path}.role: the deprecated 'function' role is not supported; "
                    "send tool_calls and 'tool' messages"
                )
            case _:
                roles = "'system', 'developer', 'user', 'assistant' or 'tool'"
                raise invalid(f"{path}.role: expected {roles}, got {role!r}")
        after_tool = role == "tool"
    return system, messages


def _tools(raw: Any) -> list[Tool]:
    tools: list[Tool] = []
    for i, item in enumerate([] if raw is None else as_array(raw, "tools")):
        where = f"tools[{i}]"
        t = as_object(item, where)
        if t.get("type") != "function":
            raise invalid(f"{where}.type: only 'function' tools are supported, got {t.get('type')!r}")
        fn = as_object(t.get("function"), f"{where}.function")
        params = fn.get("parameters")
        tools.append(
            Tool(
                as_str(fn.get("name"), f"{where}.function.name"),
                opt_str(fn.get("description"), f"{where}.function.description"),
                None if params is None else as_object(params, f"{where}.function.parameters"),
                opt_bool(fn.get("strict"), f"{where}.function.strict"),
                cache_control=_cache(t, where),
            )
        )
    return tools


def _tool_choice(raw: Any, parallel: bool | None, tools: list[Tool]) -> ToolChoice | None:
    if not tools:
        return None  # the API rejects a choice without tools; there is nothing to choose
    match raw:
        case None:
            return None if parallel is None else ToolChoice("auto", parallel=parallel)
        case "auto" | "required":
            return ToolChoice(raw, parallel=parallel)
        case "none":
            return ToolChoice("none")
        case {"type": "function", "function": {"name": str(fn_name)}}:
            return ToolChoice("tool", name=fn_name, parallel=parallel)
        case {"type": kind}:
            raise invalid(f"tool_choice.type: expected 'function', got {kind!r}")
        case _:
            raise invalid(f"tool_choice: expected 'none', 'auto', 'required' or a function, got {raw!r}")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    n = opt_int(body.get("n"), "n", minimum=1)
    if n is not None and n > 1:
        raise invalid("n: detour answers with one choice; send n = 1 or leave it out")
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise invalid("functions: the deprecated functions/function_call are not supported; use tools")
    modalities = body.get("modalities")
    if body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities):
        raise invalid("modalities: audio output is not supported")


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    return [as_str(s, f"stop[{i}]") for i, s in enumerate(as_array(raw, "stop"))]


def reasoning_of(raw: Any, path: str = "reasoning_effort") -> Reasoning | None:
    """An OpenAI effort value (Chat ``reasoning_effort``, Responses ``reasoning.effort``)."""
    if raw is None:
        return None
    effort = EFFORTS.get(raw) if isinstance(raw, str) else None
    if effort is None:
        raise invalid(f"{path}: expected one of {', '.join(EFFORTS)}, got {raw!r}")
    return Reasoning(enabled=effort != "none", effort=effort)


def _response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    rf = as_object(raw, "response_format")
    match rf.get("type"):
        case "text":
            return None
        case "json_object":
            return ResponseFormat("json_object")
        case "json_schema":
            path = "response_format.json_schema"
            js = as_object(rf.get("json_schema"), path)
            schema = js.get("schema")
            return ResponseFormat(
                "json_object" if schema is None else "json_schema",
                schema=None if schema is None else as_object(schema, f"{path}.schema"),
                name=as_str(js.get("name"), f"{path}.name"),
                description=opt_str(js.get("description"), f"{path}.description"),
                strict=opt_bool(js.get("strict"), f"{path}.strict"),
            )
        case kind:
            raise invalid(
                f"response_format.type: expected 'text', 'json_object' or 'json_schema', got {kind!r}"
            )


def decode_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> Request:
    if not isinstance(body, dict):
        raise invalid(f"request body: expected a JSON object, got {json_type(body)}")
    _refuse_unsupported(body)
    system, messages = _messages(body.get("messages"))
    tools = _tools(body.get("tools"))
    max_tokens = body.get("max_completion_tokens")
    max_key = "max_completion_tokens" if max_tokens is not None else "max_tokens"
    return Request(
        model=model or as_str(body.get("model"), "model"),
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=_tool_choice(
            body.get("tool_choice"), opt_bool(body.get("parallel_tool_calls"), "parallel_tool_calls"), tools
        ),
        max_tokens=opt_int(body.get(max_key), max_key, minimum=1),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        top_k=opt_int(body.get("top_k"), "top_k"),  # OpenAI-compatible servers (vLLM) take it
        stop=_stop(body.get("stop")),
        stream=bool(opt_bool(body.get("stream"), "stream")) if stream is None else stream,
        reasoning=reasoning_of(body.get("reasoning_effort")),
        response_format=_response_format(body.get("response_format")),
        user=opt_str(body.get("user"), "user"),
        source_format=name,
    )


# --- requests: IR -> wire -----------------------------------------------------------------


def _joined(parts: list[Part] | list[TextPart], path: str) -> str:
    texts: list[str] = []
    for j, p in enumerate(parts):
        if not isinstance(p, TextPart):
            raise invalid(f"{path}.parts[{j}]: a system message carries text only, not {p.kind}")
        texts.append(p.text)
    return "\n\n".join(texts)


def _wire_image(p: ImagePart) -> dict[str, Any]:
    url = p.url if p.data is None else f"data:{p.media_type or 'image/png'};base64,{p.data}"
    image: dict[str, Any] = {"url": url}
    if p.detail is not None:
        image["detail"] = p.detail
    return {"type": "image_url", "image_url": image}


def _wire_assistant(m: Message, path: str) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, p in enumerate(m.parts):
        match p:
            case TextPart():
                texts += [p.text] if p.text else []
            case ThinkingPart():
                pass  # Chat takes no reasoning back (DeepSeek even rejects reasoning_content)
            case WebSearchPart():
                pass  # Chat has no search item; the answer's text, kept, says what was found
            case ToolCallPart():
                fn = {"name": wire_name(p.name), "arguments": p.arguments or "{}"}
                calls.append({"id": for_openai(p.id), "type": "function", "function": fn})
            case ImagePart() | ToolResultPart():
                raise invalid(f"{path}.parts[{j}]: an assistant message cannot carry a {p.kind} part")
            case _:
                assert_never(p)
    if not texts and not calls:
        return None  # only reasoning: nothing Chat can say
    out: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _wire_user(m: Message, path: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Tool messages first (they must follow the calls), then a user message with the rest:
    the user's own text and images, and images from tool results, which ``tool`` cannot hold."""
    results: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for j, p in enumerate(m.parts):
        match p:
            case ToolResultPart():
                call_id = for_openai(p.call_id)
                text = "\n".join(c.text for c in p.content if isinstance(c, TextPart))
                results.append({"role": "tool", "tool_call_id": call_id, "content": text})
                images = [_wire_image(c) for c in p.content if isinstance(c, ImagePart)]
                if images:
                    moved += [{"type": "text", "text": f"Images returned by tool call {call_id}:"}, *images]
            case TextPart():
                content.append({"type": "text", "text": p.text})
            case ImagePart():
                content.append(_wire_image(p))
            case ThinkingPart() | ToolCallPart() | WebSearchPart():
                raise invalid(f"{path}.parts[{j}]: a user message cannot carry a {p.kind} part")
            case _:
                assert_never(p)
    content = moved + content
    if not content:
        return results, None
    if len(content) == 1 and content[0]["type"] == "text":
        return results, {"role": "user", "content": content[0]["text"]}
    return results, {"role": "user", "content": content}


def _wire_messages(req: Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if req.system:
        out.append({"role": "system", "content": _joined(req.system, "system")})
    # A system message between tool calls and their results (Claude Code puts them anywhere)
    # waits until the results are in: tool messages must follow their calls directly.
    held: list[dict[str, Any]] = []
    awaiting = False
    for i, m in enumerate(req.messages):
        path = f"messages[{i}]"
        match m.role:
            case "system":
                (held if awaiting else out).append({"role": "system", "content": _joined(m.parts, path)})
            case "assistant":
                out += held
                held = []
                msg = _wire_assistant(m, path)
                if msg is not None:
                    out.append(msg)
                    awaiting = "tool_calls" in msg
            case "user":
                results, user = _wire_user(m, path)
                out += results + held
                held, awaiting = [], False
                if user is not None:
                    out.append(user)
            case _:
                assert_never(m.role)
    return out + held


def _wire_tool(t: Tool) -> dict[str, Any]:
    params = t.parameters or {"type": "object", "properties": {}}
    if "type" not in params:
        params = {"type": "object", **params}
    fn: dict[str, Any] = {"name": wire_name(t.name)}
    if t.description is not None:
        fn["description"] = t.description
    fn["parameters"] = params
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def _wire_choice(c: ToolChoice) -> Any:
    if c.mode == "tool":
        if c.name is None:
            raise invalid("tool_choice: a forced tool choice needs the tool's name")
        return {"type": "function", "function": {"name": wire_name(c.name)}}
    return c.mode


def _effort(req: Request, profile: Profile) -> str | None:
    """Only models with reasoning take reasoning_effort; others answer 400 to it. A client
    speaking Chat gets its own value passed through whatever the model, since it chose both."""
    r = req.reasoning
    if r is None or not (req.source_format == name or profile.thinking != "none"):
        return None
    if r.effort is not None:
        return r.effort
    if not r.enabled or r.budget_tokens is None:
        return None  # "off" has no value every reasoning model takes; its default it is
    return effort_of_budget(r.budget_tokens)


def effort_of_budget(tokens: int) -> Effort:
    """A thinking budget (Anthropic, Gemini 2.5) on OpenAI's effort scale."""
    return "low" if tokens < 4096 else "medium" if tokens < 16384 else "high"


def encode_request(req: Request, model: str, profile: Profile) -> dict[str, Any]:
    # A continuation: the answer so far as a prefix (DeepSeek's, Mistral's prefix mode), or
    # followed by the instruction to continue it.
    prefix = held(req) and profile.continuation == "prefix"
    if held(req):
        req = fused(req) if prefix else instructed(fused(req))
    body: dict[str, Any] = {"model": model, "messages": _wire_messages(req)}
    if prefix and body["messages"][-1]["role"] == "assistant":
        body["messages"][-1]["prefix"] = True
    if req.tools:
        body["tools"] = [_wire_tool(t) for t in req.tools]
        if (c := req.tool_choice) is not None:
            body["tool_choice"] = _wire_choice(c)
            if c.parallel is not None and c.mode != "none":
                body["parallel_tool_calls"] = c.parallel
    if req.max_tokens is not None:
        body["max_completion_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = min(2.0, max(0.0, req.temperature))
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop"] = req.stop[:MAX_STOP]  # the API takes four; later ones rarely matter
    if (effort := _effort(req, profile)) is not None:
        body["reasoning_effort"] = effort
    if req.user is not None:
        body["user"] = req.user
    rf = req.response_format
    if rf is not None and rf.wants_json and rf.tool is None:
        body["response_format"] = _wire_response_format(rf)
        if rf.kind == "json_object" and not _mentions_json(body["messages"]):
            # "'messages' must contain the word 'json' in some form, to use 'response_format'
            # of type 'json_object'": a client of another format never had to say it.
            body["messages"].insert(0, {"role": "system", "content": JSON_HINT})
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _wire_response_format(rf: ResponseFormat) -> dict[str, Any]:
    if rf.kind == "json_object" or rf.schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": openai_name(rf.name)}
    if rf.description:
        spec["description"] = rf.description
    spec["schema"] = sanitize(rf.schema)
    if rf.strict is not None:
        spec["strict"] = rf.strict
    return {"type": "json_schema", "json_schema": spec}


def _mentions_json(messages: list[dict[str, Any]]) -> bool:
    return "json" in orjson.dumps([m.get("content") for m in messages]).decode().lower()


# --- whole answers --------------------------------------------------------------------------


def encode_response(resp: Response, req: Request) -> dict[str, Any]:
    """A full ``chat.completion``. A refusal's text goes in ``refusal``, where the SDK's
    structured-output helpers look for it. A search the provider ran has no Chat form and is
    left out; the answer's text says what it found."""
    texts = [p.text for p in resp.parts if isinstance(p, TextPart) and p.text]
    thinking = "".join(p.text for p in resp.parts if isinstance(p, ThinkingPart))
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments or "{}"}}
        for p in resp.parts
        if isinstance(p, ToolCallPart)
    ]
    text = "\n\n".join(texts) if texts else None
    refused = resp.finish == "refusal"
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refused else text,
        "refusal": text if refused else None,
        "annotations": [],
    }
    if thinking:
        message["reasoning_content"] = thinking
    if calls:
        message["tool_calls"] = calls
    finish = wire_finish(resp.finish, resp.raw_finish)
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return {
        "id": chat_id(resp.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.model or req.model,
        "choices": [choice],
        "usage": encode_usage(resp.usage),
    }
