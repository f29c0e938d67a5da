"""Gemini generateContent (Developer API, v1beta): requests both ways.

The model and the streaming flag live in the URL
(``/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``),
so ``decode_request`` takes them from the server and ``encode_request`` leaves
them out for the provider to put in its URL. Answers, streams and errors are in
``gemini_stream``; schema dialects and name rules in ``gemini_schema``.

What Gemini holds a request to (a 400 otherwise), and how the encoder keeps it:
- roles are ``user``/``model``: every IR system message is hoisted, in order, into ``systemInstruction``;
- turn order, call/response pairing and thought signatures: ``gemini_contents``;
- property and function names are restricted: renamed (``gemini_schema.Renames``), mapped back in answers;
- an object schema without properties is refused: such tools are declared without parameters;
- a response schema goes as ``responseSchema`` in the OpenAPI subset, property names renamed like
  tools' (``gemini_stream`` maps the answer's keys back).

Call ids are optional on this wire. A call without one gets a deterministic id
from its position, and its response is paired with it by order and name. Ids go
back upstream only for a Gemini client (``source_format == "gemini"``), and
never ones detour made up.
"""

from __future__ import annotations

import functools
import re
from typing import Any, assert_never

import orjson

from daemon import ir
from daemon.formats import ids
from daemon.formats.continuation import held, instructed
from daemon.formats.fields import as_array, as_object, as_str, json_type, opt_str
from daemon.formats.gemini_contents import build_contents, guess_mime
from daemon.formats.gemini_schema import (
    Renames,
    from_openapi,
    lower_types,
    property_renames,
    rename_schema,
    sanitize,
    to_openapi,
)
from daemon.formats.gemini_stream import (
    ORIGIN,
    PLACEHOLDER_SIGNATURES,
    decode_error,
    encode_error,
    encode_response,
    error_frame,
    from_client_signature,
    stream_decoder,
    stream_encoder,
)
from daemon.formats.profile import Profile

__all__ = [
    "decode_error",
    "decode_request",
    "encode_error",
    "encode_request",
    "encode_response",
    "error_frame",
    "name",
    "stream_decoder",
    "stream_encoder",
]

name = "gemini"

_PAYLOADS = (
    "text", "inlineData", "fileData", "functionCall", "functionResponse",
    "executableCode", "codeExecutionResult", "toolCall", "toolResponse",
)  # fmt: skip
_EFFORTS: dict[str, ir.Effort] = {
    "MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "XHIGH": "xhigh",
}  # fmt: skip
_LEVELS: dict[ir.Effort, str] = {
    "none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH",
    "xhigh": "XHIGH", "max": "XHIGH",
}  # fmt: skip
# Gemini 2.5 takes a token budget instead of a level (Flash up to 24576, Pro up to 32768).
_BUDGETS: dict[ir.Effort, int] = {
    "none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768,
}  # fmt: skip
_LEAST_BUDGET = 128  # Gemini 2.5 Pro cannot stop thinking
_MAX_STOPS = 5


# -- wire -> IR ----------------------------------------------------------------------------------


def decode_request(body: Any, *, model: str | None = None, stream: bool | None = None) -> ir.Request:
    body = as_object(body, "request body")
    model = model or _model_field(body)
    contents = _field(body, "contents")
    if contents is None:
        raise ir.invalid("contents: required (a list of {role, parts})")
    req = ir.Request(
        model=model,
        messages=_History().decode(as_array(contents, "contents")),
        system=_system(_field(body, "systemInstruction")),
        tools=_tools(_field(body, "tools")),
        tool_choice=_tool_choice(_field(body, "toolConfig")),
        stream=bool(stream),
        source_format=name,
        cached_content=opt_str(_field(body, "cachedContent"), "cachedContent"),
    )
    gen = _field(body, "generationConfig")
    if gen is not None:
        _generation(as_object(gen, "generationConfig"), req)
    return req


def _model_field(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ir.invalid("model: required (it is taken from the URL /v1beta/models/{model}:generateContent)")
    return model.removeprefix("models/")


class _History:
    """Contents -> IR messages, pairing each function response with the call it answers."""

    __slots__ = ("messages", "_open", "_last_role")

    def __init__(self) -> None:
        self.messages: list[ir.Message] = []
        self._open: list[tuple[str, str]] = []  # (id, name) of calls not answered yet
        self._last_role = ""

    def decode(self, contents: list[Any]) -> list[ir.Message]:
        for ci, content in enumerate(contents):
            self._content(ci, as_object(content, f"contents[{ci}]"))
        return self.messages

    def _content(self, ci: int, content: dict[str, Any]) -> None:
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise ir.invalid(f"contents[{ci}].role: must be 'user' or 'model', not {role!r}")
        if role == "model" and self._last_role != "model":
            self._open = []  # a new model turn: older calls can no longer be answered
        self._last_role = role
        parts: list[ir.Part] = []
        for pi, raw in enumerate(as_array(content.get("parts") or [], f"contents[{ci}].parts")):
            part = self._part(ci, pi, as_object(raw, f"contents[{ci}].parts[{pi}]"), role)
            if part is None:
                continue
            if role == "model" and parts and _continues(parts[-1], part):
                _join(parts[-1], part)
            else:
                parts.append(part)
        if parts:
            self.messages.append(ir.Message("assistant" if role == "model" else "user", parts))

    def _part(self, ci: int, pi: int, p: dict[str, Any], role: str) -> ir.Part | None:
        path = f"contents[{ci}].parts[{pi}]"
        opaque = _signature(p, path)
        present = [k for k in _PAYLOADS if _field(p, k) is not None]
        if len(present) > 1:
            raise ir.invalid(f"{path}: a part holds one kind of data, this one has {', '.join(present)}")
        if not present and opaque is None:
            raise ir.invalid(f"{path}: expected one of {', '.join(_PAYLOADS[:5])}")
        kind = present[0] if present else "text"  # a bare signature rides on an empty text
        value = _field(p, kind)
        match kind:
            case "text":
                return _text(value or "", _field(p, "thought") is True, opaque, role, path)
            case "inlineData" | "fileData":
                return _media(p, path)
            case "functionCall":
                return self._call(ci, pi, as_object(value, f"{path}.functionCall"), opaque, role, path)
            case "functionResponse":
                return self._response(as_object(value, f"{path}.functionResponse"), role, path)
            case _:
                raise ir.invalid(
                    f"{path}.{kind}: Gemini code execution and server-side tool parts cannot be translated "
                    "to other providers"
                )

    def _call(
        self, ci: int, pi: int, fc: dict[str, Any], opaque: ir.Opaque | None, role: str, path: str
    ) -> ir.ToolCallPart:
        if role != "model":
            raise ir.invalid(f"{path}.functionCall: function calls belong in model contents")
        fname = as_str(_field(fc, "name"), f"{path}.functionCall.name")
        args = as_object(fc.get("args") if fc.get("args") is not None else {}, f"{path}.functionCall.args")
        given = fc.get("id")
        call_id = as_str(given, f"{path}.functionCall.id") if given else ids.synthesize(f"gemini:{ci}", pi)
        self._open.append((call_id, fname))
        return ir.ToolCallPart(call_id, fname, orjson.dumps(args).decode(), opaque=opaque)

    def _response(self, fr: dict[str, Any], role: str, path: str) -> ir.ToolResultPart:
        path += ".functionResponse"
        if role != "user":
            raise ir.invalid(f"{path}: function responses belong in user contents")
        fname = as_str(_field(fr, "name"), f"{path}.name")
        response = as_object(fr.get("response") if fr.get("response") is not None else {}, f"{path}.response")
        given = fr.get("id")
        call_id = self._pair(as_str(given, f"{path}.id") if given else None, fname, path)
        text, is_error = _result_text(response)
        content: list[ir.TextPart | ir.ImagePart] = [ir.TextPart(text)] if text else []
        for i, raw in enumerate(as_array(fr.get("parts") or [], f"{path}.parts")):
            content.append(_media(as_object(raw, f"{path}.parts[{i}]"), f"{path}.parts[{i}]"))
        return ir.ToolResultPart(call_id, content, is_error=is_error, name=fname)

    def _pair(self, given: str | None, fname: str, path: str) -> str:
        """The id of the call a response answers: its own, else the first open call of that name,
        else the first open call (Gemini pairs by order)."""
        if given is not None:
            self._open = [c for c in self._open if c[0] != given]
            return given
        for i, (call_id, call_name) in enumerate(self._open):
            if call_name == fname:
                del self._open[i]
                return call_id
        if self._open:
            return self._open.pop(0)[0]
        raise ir.invalid(f"{path}: no function call of the model turn before awaits it ({fname!r})")


def _continues(prev: ir.Part, part: ir.Part) -> bool:
    """Streamed chunks kept as separate parts (what SDKs send back) form one part again, the way the
    stream decoder reads them: text after text of the same kind, until a signature closes it."""
    if isinstance(prev, ir.TextPart) and isinstance(part, ir.TextPart):
        return prev.opaque is None
    if isinstance(prev, ir.ThinkingPart) and isinstance(part, ir.ThinkingPart):
        return prev.opaque is None
    return False


def _join(prev: ir.Part, part: ir.Part) -> None:
    assert isinstance(prev, ir.TextPart | ir.ThinkingPart) and isinstance(part, ir.TextPart | ir.ThinkingPart)
    prev.text += part.text
    prev.opaque = part.opaque


def _signature(p: dict[str, Any], path: str) -> ir.Opaque | None:
    sig = _field(p, "thoughtSignature")
    if sig is None:
        return None
    sig = as_str(sig, f"{path}.thoughtSignature")
    # The documented placeholders stand for "no signature": never one to carry back.
    if not sig or sig in PLACEHOLDER_SIGNATURES:
        return None
    return ir.Opaque(ORIGIN, from_client_signature(sig))


def _text(value: Any, thought: bool, opaque: ir.Opaque | None, role: str, path: str) -> ir.Part | None:
    text = as_str(value, f"{path}.text")
    if not text and opaque is None:
        return None  # an empty text carries nothing (Gemini ends streams with one)
    if thought and role == "model":
        return ir.ThinkingPart(text, opaque=opaque)
    return ir.TextPart(text, opaque=opaque)


def _result_text(response: dict[str, Any]) -> tuple[str, bool]:
    """Gemini's reading of ``response``: ``output`` is the result, ``error`` a failure,
    anything else the whole object."""
    keys = set(response)
    if keys == {"output"}:
        out = response["output"]
        return (out if isinstance(out, str) else orjson.dumps(out).decode()), False
    if keys == {"error"}:
        err = response["error"]
        return (err if isinstance(err, str) else orjson.dumps(err).decode()), True
    return orjson.dumps(response).decode(), "error" in keys


def _media(p: dict[str, Any], path: str) -> ir.ImagePart:
    """An inlineData or fileData part: images only, the one kind of media every format carries."""
    if _field(p, "inlineData") is not None:
        d, path = as_object(_field(p, "inlineData"), f"{path}.inlineData"), f"{path}.inlineData"
        mime = as_str(_field(d, "mimeType"), f"{path}.mimeType")
        image = ir.ImagePart(media_type=mime, data=as_str(d.get("data"), f"{path}.data"))
    elif _field(p, "fileData") is not None:
        d, path = as_object(_field(p, "fileData"), f"{path}.fileData"), f"{path}.fileData"
        uri = as_str(_field(d, "fileUri"), f"{path}.fileUri")
        given = _field(d, "mimeType")
        mime = as_str(given, f"{path}.mimeType") if given is not None else guess_mime(uri)
        image = ir.ImagePart(media_type=mime, url=uri)
    else:
        raise ir.invalid(f"{path}: expected inlineData or fileData")
    if not mime.startswith("image/"):
        raise ir.invalid(f"{path}.mimeType: {mime!r} is not an image; only images translate to other formats")
    return image


def _system(value: Any) -> list[ir.TextPart]:
    if value is None:
        return []
    if isinstance(value, str):
        return [ir.TextPart(value)] if value else []
    parts = value if isinstance(value, list) else as_object(value, "systemInstruction").get("parts") or []
    out: list[ir.TextPart] = []
    for i, raw in enumerate(as_array(parts, "systemInstruction.parts")):
        text = _field(as_object(raw, f"systemInstruction.parts[{i}]"), "text")
        if text is None:
            raise ir.invalid(f"systemInstruction.parts[{i}]: only text can be a system instruction here")
        if as_str(text, f"systemInstruction.parts[{i}].text"):
            out.append(ir.TextPart(text))
    return out


def _tools(value: Any) -> list[ir.Tool]:
    if value is None:
        return []
    out: list[ir.Tool] = []
    for ti, raw in enumerate(as_array(value, "tools")):
        for key, decls in as_object(raw, f"tools[{ti}]").items():
            if decls is None:
                continue
            if key not in ("functionDeclarations", "function_declarations"):
                raise ir.invalid(
                    f"tools[{ti}].{key}: a Gemini built-in tool runs on Google's side and cannot be "
                    "served by other providers; declare functions (functionDeclarations) instead"
                )
            path = f"tools[{ti}].functionDeclarations"
            for i, d in enumerate(as_array(decls, path)):
                out.append(_declaration(as_object(d, f"{path}[{i}]"), f"{path}[{i}]"))
    return out


def _declaration(d: dict[str, Any], path: str) -> ir.Tool:
    fname = as_str(_field(d, "name"), f"{path}.name")
    description = _field(d, "description")
    schema = _either_schema(d, "parameters", "parametersJsonSchema", path)
    desc = as_str(description, f"{path}.description") if description is not None else None
    return ir.Tool(fname, desc or None, schema)


def _either_schema(obj: dict[str, Any], openapi_key: str, json_key: str, path: str) -> dict[str, Any] | None:
    """A schema given in the OpenAPI subset or as plain JSON Schema (never both), as JSON Schema."""
    openapi, json_schema = _field(obj, openapi_key), _field(obj, json_key)
    if openapi is not None and json_schema is not None:
        raise ir.invalid(f"{path}: {openapi_key} and {json_key} are mutually exclusive; send one")
    if json_schema is not None:
        return lower_types(as_object(json_schema, f"{path}.{json_key}"))  # type: ignore[no-any-return]
    if openapi is not None:
        return from_openapi(as_object(openapi, f"{path}.{openapi_key}"))  # type: ignore[no-any-return]
    return None


def _tool_choice(value: Any) -> ir.ToolChoice | None:
    if value is None:
        return None
    config = _field(as_object(value, "toolConfig"), "functionCallingConfig")
    if config is None:
        return None
    path = "toolConfig.functionCallingConfig"
    config = as_object(config, path)
    mode = _field(config, "mode") or "AUTO"
    names = as_array(_field(config, "allowedFunctionNames") or [], f"{path}.allowedFunctionNames")
    allowed = [as_str(n, f"{path}.allowedFunctionNames[{i}]") for i, n in enumerate(names)]
    match mode:
        case "AUTO" | "VALIDATED" | "MODE_UNSPECIFIED":
            return ir.ToolChoice("auto")
        case "ANY":
            # One allowed name forces that function; several only narrow the choice, which IR cannot say.
            return ir.ToolChoice("tool", name=allowed[0]) if len(allowed) == 1 else ir.ToolChoice("required")
        case "NONE":
            return ir.ToolChoice("none")
        case _:
            raise ir.invalid(f"{path}.mode: {mode!r} is not one of AUTO, ANY, NONE, VALIDATED")


def _generation(gen: dict[str, Any], req: ir.Request) -> None:
    path = "generationConfig"
    req.temperature = _num(_field(gen, "temperature"), f"{path}.temperature")
    req.top_p = _num(_field(gen, "topP"), f"{path}.topP")
    req.top_k = _int(_field(gen, "topK"), f"{path}.topK")
    req.max_tokens = _int(_field(gen, "maxOutputTokens"), f"{path}.maxOutputTokens")
    stops = _field(gen, "stopSequences")
    if stops is not None:
        stops = as_array(stops, f"{path}.stopSequences")
        req.stop = [as_str(s, f"{path}.stopSequences[{i}]") for i, s in enumerate(stops)]
    count = _int(_field(gen, "candidateCount"), f"{path}.candidateCount")
    if count is not None and count > 1:
        raise ir.invalid(f"{path}.candidateCount: detour answers with one candidate, not {count}")
    thinking = _field(gen, "thinkingConfig")
    if thinking is not None:
        req.reasoning = _reasoning(as_object(thinking, f"{path}.thinkingConfig"), f"{path}.thinkingConfig")
    req.response_format = _response_format(gen, path)


def _response_format(gen: dict[str, Any], path: str) -> ir.ResponseFormat | None:
    mime = _field(gen, "responseMimeType")
    schema = _either_schema(gen, "responseSchema", "responseJsonSchema", path)
    if mime in (None, "text/plain"):
        if schema is not None:
            raise ir.invalid(
                f"{path}.responseMimeType: a response schema needs responseMimeType 'application/json'"
            )
        return None
    if mime != "application/json":
        raise ir.invalid(
            f"{path}.responseMimeType: {mime!r} cannot be translated to other providers; "
            "use 'application/json' or 'text/plain'"
        )
    return ir.ResponseFormat("json_object" if schema is None else "json_schema", schema=schema)


def _reasoning(tc: dict[str, Any], path: str) -> ir.Reasoning:
    include = _field(tc, "includeThoughts")
    if include is not None and not isinstance(include, bool):
        raise ir.invalid(f"{path}.includeThoughts: expected true or false")
    r = ir.Reasoning(include_thoughts=include)
    level = _field(tc, "thinkingLevel")
    if level is not None and level != "THINKING_LEVEL_UNSPECIFIED":
        effort = _EFFORTS.get(str(level).upper())
        if effort is None:
            raise ir.invalid(f"{path}.thinkingLevel: {level!r} is not one of {', '.join(_EFFORTS)}")
        r.effort = effort
    budget = _int(_field(tc, "thinkingBudget"), f"{path}.thinkingBudget")
    if budget == 0:
        r.enabled = False
    elif budget is not None and budget > 0:
        r.budget_tokens = budget
    elif budget is not None and budget != -1:
        raise ir.invalid(f"{path}.thinkingBudget: 0 (off), -1 (automatic) or a positive number of tokens")
    return r


# -- IR -> wire ----------------------------------------------------------------------------------


def encode_request(req: ir.Request, model: str, profile: Profile) -> dict[str, Any]:
    # A continuation goes as the trailing model content Gemini continues.
    if held(req) and profile.continuation == "instruction":
        req = instructed(req)
    renames = Renames.of(req.tools)
    body: dict[str, Any] = {"contents": build_contents(req, renames)}
    system = _system_parts(req)
    if system:
        body["systemInstruction"] = {"parts": system}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_declaration_out(t, renames) for t in req.tools]}]
        config = _tool_config(req.tool_choice, renames)
        if config is not None:
            body["toolConfig"] = config
    if req.web_search:  # Google Search grounding, Gemini's own web search
        body.setdefault("tools", []).append({"googleSearch": {}})
    gen = _generation_config(req, profile)
    if gen:
        body["generationConfig"] = gen
    if req.cached_content:
        body["cachedContent"] = req.cached_content
    return body


def _system_parts(req: ir.Request) -> list[dict[str, Any]]:
    texts = [p.text for p in req.system]
    for mi, m in enumerate(req.messages):
        if m.role != "system":
            continue
        for pi, p in enumerate(m.parts):
            if not isinstance(p, ir.TextPart):
                raise ir.invalid(f"messages[{mi}].parts[{pi}]: a system message carries text only")
            texts.append(p.text)
    return [{"text": t} for t in texts if t]


def _declaration_out(tool: ir.Tool, renames: Renames) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": renames.wire_name(tool.name)}
    if tool.description:
        decl["description"] = tool.description
    schema = tool.parameters
    if schema is not None and _takes_arguments(schema):
        props = renames.properties.get(tool.name)
        decl["parametersJsonSchema"] = rename_schema(sanitize(schema), props[0] if props else {})
    return decl


def _takes_arguments(schema: dict[str, Any]) -> bool:
    """Gemini refuses an object without properties: such tools are declared without parameters."""
    if schema.get("properties") or schema.get("additionalProperties") or schema.get("patternProperties"):
        return True
    return any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref"))


def _tool_config(choice: ir.ToolChoice | None, renames: Renames) -> dict[str, Any] | None:
    if choice is None:
        return None
    config: dict[str, Any]
    match choice.mode:
        case "auto":
            config = {"mode": "AUTO"}
        case "required":
            config = {"mode": "ANY"}
        case "none":
            config = {"mode": "NONE"}
        case "tool":
            config = {"mode": "ANY"}
            if choice.name:
                config["allowedFunctionNames"] = [renames.wire_name(choice.name)]
        case _:
            assert_never(choice.mode)
    # No parallel-calls switch exists in Gemini: `choice.parallel` has nowhere to go.
    return {"functionCallingConfig": config}


def _generation_config(req: ir.Request, profile: Profile) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    if req.max_tokens is not None:
        gen["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        gen["temperature"] = min(max(req.temperature, 0.0), 2.0)
    if req.top_p is not None:
        gen["topP"] = req.top_p
    if req.top_k is not None:
        gen["topK"] = req.top_k
    if req.stop:
        gen["stopSequences"] = req.stop[:_MAX_STOPS]
    if req.reasoning is not None and profile.thinking != "none":
        gen["thinkingConfig"] = _thinking_config(req.reasoning, profile)
    rf = req.response_format
    if rf is not None and rf.wants_json and rf.tool is None:
        gen["responseMimeType"] = "application/json"
        if rf.schema is not None:
            # The OpenAPI subset every Gemini model takes (responseJsonSchema is newer, and
            # its keyword support varies by model); the answer is validated against the
            # client's own schema, so what the subset cannot say is still enforced.
            schema = rename_schema(sanitize(rf.schema), property_renames(rf.schema))
            gen["responseSchema"] = to_openapi(schema)
    return gen


def _thinking_config(r: ir.Reasoning, profile: Profile) -> dict[str, Any]:
    """Gemini 3 takes a level, 2.5 a budget; neither turns thinking fully off on every model."""
    levels = profile.thinking == "effort"
    config: dict[str, Any] = {}
    if not r.enabled or r.effort == "none":
        if levels:
            config["thinkingLevel"] = "MINIMAL" if profile.thinking_stops else "LOW"
        else:
            config["thinkingBudget"] = 0 if profile.thinking_stops else _LEAST_BUDGET
    elif r.effort is not None:
        if levels:
            config["thinkingLevel"] = _LEVELS[r.effort]
        else:
            config["thinkingBudget"] = _BUDGETS[r.effort]
    elif r.budget_tokens is not None:
        config["thinkingBudget"] = r.budget_tokens  # Gemini 3 still accepts a budget
    elif not levels:
        config["thinkingBudget"] = -1
    if r.include_thoughts is not None:
        config["includeThoughts"] = r.include_thoughts
    return config


# -- field access with clear 400s ----------------------------------------------------------------


def _field(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name or the snake_case one the API parses too."""
    value = obj.get(camel)
    return value if value is not None else obj.get(_snake(camel))


@functools.cache
def _snake(camel: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", camel).lower()


def _num(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ir.invalid(f"{path}: expected a number, got {json_type(value)}")
    return float(value)


def _int(value: Any, path: str) -> int | None:
    """An integer; proto JSON may write int64 as a string, the SDK some as floats."""
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ir.invalid(f"{path}: expected an integer, got {value!r}")
    return value
