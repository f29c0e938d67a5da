"""The OpenAI Responses wire format (``formats.base.WireFormat``).

Items <-> messages live in ``openai_responses_items``; output items, usage and
streams in ``openai_responses_stream``.

Inbound (``POST /v1/responses``): ``input`` as a string or items, ``instructions``
and leading ``system``/``developer`` messages as the system prompt, function
tools and the function tools inside ``namespace`` tools (flattened to
``<namespace>__<name>`` and split back in answers). Built-in tools
(``web_search`` and the rest) are not decoded here: ``builtin_tools`` names
them, and the endpoint decides what becomes of them. State
(``previous_response_id``, ``store``) is the endpoint's too.

Upstream (``api = "responses"`` on an ``openai`` provider): ``POST
{base_url}/responses``, ``store: false`` (detour keeps the state) and
``include: ["reasoning.encrypted_content"]`` so OpenAI's reasoning comes back
in each answer and goes back, to OpenAI only, in the next request.
"""

from __future__ import annotations

from typing import Any, Final

from daemon.formats.continuation import fused, held, instructed
from daemon.formats.fields import as_array, as_object, as_str, json_type, opt_bool, opt_int, opt_num, opt_str
from daemon.formats.gemini_schema import sanitize
from daemon.formats.openai_chat import effort_of_budget, reasoning_of
from daemon.formats.openai_responses_items import NAME, decode_input, encode_items, flat_name
from daemon.formats.openai_responses_stream import (
    decode_error,
    encode_error,
    error_frame,
    response_id,
    response_object,
    response_output,
    status_of,
    stream_decoder,
    stream_encoder,
)
from daemon.formats.profile import Profile
from daemon.formats.schema_dialects import openai_name
from daemon.ir import (
    Reasoning,
    Request,
    Response,
    ResponseFormat,
    Tool,
    ToolChoice,
    invalid,
)

name: Final = NAME

__all__ = [
    "builtin_tools", "decode_error", "decode_request", "encode_error", "encode_request",
    "encode_response", "error_frame", "name", "stream_decoder", "stream_encoder",
]  # fmt: skip

_FUNCTION_TYPES: Final = frozenset({"function", "namespace"})
_REFUSED: Final = ("conversation", "background", "prompt")
WEB_SEARCH: Final = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})


def builtin_tools(body: dict[str, Any]) -> list[str]:
    """The types of the request's built-in tools (``web_search``, ``file_search``, ...)."""
    tools = body.get("tools")
    kinds = (t.get("type") for t in tools if isinstance(t, dict)) if isinstance(tools, list) else ()
    return [str(k) for k in kinds if k not in _FUNCTION_TYPES]


def _function(t: dict[str, Any], where: str, namespace: str | None) -> Tool:
    fn_name = as_str(t.get("name"), f"{where}.name")
    params = t.get("parameters")
    return Tool(
        flat_name(namespace, fn_name) if namespace else fn_name,
        opt_str(t.get("description"), f"{where}.description"),
        None if params is None else as_object(params, f"{where}.parameters"),
        opt_bool(t.get("strict"), f"{where}.strict"),
        namespace=namespace,
    )


def _tools(raw: Any) -> list[Tool]:
    tools: list[Tool] = []
    for i, item in enumerate([] if raw is None else as_array(raw, "tools")):
        where = f"tools[{i}]"
        t = as_object(item, where)
        match t.get("type"):
            case "function":
                tools.append(_function(t, where, None))
            case "namespace":
                ns = as_str(t.get("name"), f"{where}.name")
                for j, inner in enumerate(as_array(t.get("tools"), f"{where}.tools")):
                    spec = as_object(inner, f"{where}.tools[{j}]")
                    if spec.get("type") == "function":
                        tools.append(_function(spec, f"{where}.tools[{j}]", ns))
            case _:
                pass  # built-in: the endpoint maps or removes it (``builtin_tools``)
    return tools


def _tool_choice(raw: Any, parallel: bool | None, tools: list[Tool]) -> ToolChoice | None:
    if not tools:
        return None
    match raw:
        case None | {"type": "allowed_tools"}:
            return None if parallel is None else ToolChoice("auto", parallel=parallel)
        case "auto" | "required":
            return ToolChoice(raw, parallel=parallel)
        case "none":
            return ToolChoice("none")
        case {"type": "function", "name": str(fn_name)}:
            ns = raw.get("namespace")
            return ToolChoice("tool", name=flat_name(ns, fn_name) if ns else fn_name, parallel=parallel)
        case _:
            raise invalid(f"tool_choice: expected 'none', 'auto', 'required' or a function, got {raw!r}")


def _reasoning(raw: Any) -> Reasoning | None:
    return (
        None if raw is None else reasoning_of(as_object(raw, "reasoning").get("effort"), "reasoning.effort")
    )


def _text_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    fmt = as_object(raw, "text").get("format")
    if fmt is None:
        return None
    f = as_object(fmt, "text.format")
    match f.get("type"):
        case "text":
            return None
        case "json_object":
            return ResponseFormat("json_object")
        case "json_schema":
            return ResponseFormat(
                "json_schema",
                schema=as_object(f.get("schema"), "text.format.schema"),
                name=opt_str(f.get("name"), "text.format.name"),
                description=opt_str(f.get("description"), "text.format.description"),
                strict=opt_bool(f.get("strict"), "text.format.strict"),
            )
        case kind:
            raise invalid(f"text.format.type: expected 'text', 'json_object' or 'json_schema', got {kind!r}")


def decode_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> Request:
    if not isinstance(body, dict):
        raise invalid(f"request body: expected a JSON object, got {json_type(body)}")
    for key in _REFUSED:
        if body.get(key):
            raise invalid(f"{key}: not supported by detour; send the input items (or previous_response_id)")
    system, messages = decode_input(body.get("input"), opt_str(body.get("instructions"), "instructions"))
    tools = _tools(body.get("tools"))
    parallel = opt_bool(body.get("parallel_tool_calls"), "parallel_tool_calls")
    builtins = builtin_tools(body)
    return Request(
        model=model or as_str(body.get("model"), "model"),
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), parallel, tools),
        max_tokens=opt_int(body.get("max_output_tokens"), "max_output_tokens", minimum=1),
        temperature=opt_num(body.get("temperature"), "temperature"),
        top_p=opt_num(body.get("top_p"), "top_p"),
        stream=bool(opt_bool(body.get("stream"), "stream")) if stream is None else stream,
        reasoning=_reasoning(body.get("reasoning")),
        response_format=_text_format(body.get("text")),
        user=opt_str(body.get("safety_identifier") or body.get("user"), "user"),
        source_format=name,
        web_search=any(kind in WEB_SEARCH for kind in builtins),
        builtin_tools=builtins,
    )


# --- requests: IR -> wire -----------------------------------------------------------------


def _wire_tool(t: Tool) -> dict[str, Any]:
    params = t.parameters or {"type": "object", "properties": {}}
    out: dict[str, Any] = {"type": "function", "name": t.name}
    if t.description is not None:
        out["description"] = t.description
    # Responses makes a tool without ``strict`` strict, which a client of another format never asked for.
    return {**out, "parameters": params, "strict": bool(t.strict)}


def _wire_choice(c: ToolChoice) -> Any:
    if c.mode == "tool":
        if c.name is None:
            raise invalid("tool_choice: a forced tool choice needs the tool's name")
        return {"type": "function", "name": c.name}
    return c.mode


def _effort(r: Reasoning | None) -> str | None:
    if r is None:
        return None
    if r.effort is not None:
        return r.effort
    if not r.enabled:
        return "none"
    return None if r.budget_tokens is None else effort_of_budget(r.budget_tokens)


def _wire_format(rf: ResponseFormat) -> dict[str, Any]:
    if rf.kind == "json_object" or rf.schema is None:
        return {"type": "json_object"}
    out: dict[str, Any] = {"type": "json_schema", "name": openai_name(rf.name), "schema": sanitize(rf.schema)}
    if rf.description:
        out["description"] = rf.description
    if rf.strict is not None:
        out["strict"] = rf.strict
    return out


def encode_request(req: Request, model: str, profile: Profile) -> dict[str, Any]:
    """``profile``: what the model takes; ``routing.adapt`` already dropped what it does not.
    A continuation goes as the assistant message item followed by the instruction to continue it."""
    if held(req):
        req = instructed(fused(req))
    body: dict[str, Any] = {"model": model, "input": encode_items(req.messages, outbound=True)}
    if req.system:
        body["instructions"] = "\n\n".join(p.text for p in req.system)
    if req.tools or req.web_search:
        body["tools"] = [_wire_tool(t) for t in req.tools] + (
            [{"type": "web_search"}] if req.web_search else []
        )
        if (c := req.tool_choice) is not None:
            body["tool_choice"] = _wire_choice(c)
            if c.parallel is not None and c.mode != "none":
                body["parallel_tool_calls"] = c.parallel
    if req.max_tokens is not None:
        body["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = min(2.0, max(0.0, req.temperature))
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if (effort := _effort(req.reasoning)) is not None:
        body["reasoning"] = {"effort": effort, "summary": "auto"}
    rf = req.response_format
    if rf is not None and rf.wants_json and rf.tool is None:
        body["text"] = {"format": _wire_format(rf)}
    if req.user is not None:
        body["safety_identifier"] = req.user
    # Stateless at OpenAI: detour holds the conversation, and reasoning rides in each request.
    body["store"] = False
    body["include"] = ["reasoning.encrypted_content"]
    if req.stream:
        body["stream"] = True
    return body


# --- whole answers --------------------------------------------------------------------------


def encode_response(resp: Response, req: Request) -> dict[str, Any]:
    output = response_output(resp, req)
    return response_object(
        response_id(resp.id),
        req,
        resp.model,
        output,
        status_of(resp.finish),
        usage=resp.usage,
        finish=resp.finish,
    )
