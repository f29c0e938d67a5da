"""A fake Gemini Developer API (v1beta generateContent) that checks requests like the real one.

Serves ``POST /v1beta/models/{model}:generateContent`` (and the same under ``/v1``), ``:streamGenerateContent``
(SSE with ``?alt=sse``, else one JSON array) and ``:countTokens`` (answering what the next answer
will bill). Auth is the
``x-goog-api-key`` header or ``?key=``. Answers are rendered by hand from the
scripted ``Answer``: thoughts as ``{"text", "thought": true}`` parts, function
calls without ids (as the real API sends them), text in chunks, a last chunk
with ``finishReason: STOP`` and ``usageMetadata``; for ``gemini-3*`` models the
first function call carries a fresh thought signature, which must come back.

The checks are the real API's, with its messages where they are known:
unknown field names, roles, empty text, base64 of bytes fields, turn order and
call/response counts, the Gemini 3 thought-signature rule for the current turn,
function and property names, schema keywords ``parameters`` and ``responseSchema``
reject, a response schema without a JSON mime type, an object
without properties, sampling ranges, thinking settings per model family.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import secrets
from typing import Any

from aiohttp import web

from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, shaped, split_text

_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE",
}  # fmt: skip
PLACEHOLDERS = {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}

# Known field names, camelCase (the API also parses their snake_case forms).
_TOP = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "cachedContent",
    "generationConfig",
    "model",
    "continuationToken",
}
_CONTENT = {"role", "parts"}
_DATA = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
)
_PART = {*_DATA, "thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"}
_BLOB = {"mimeType", "data"}
_FILE = {"mimeType", "fileUri"}
_CALL = {"id", "name", "args"}
_RESPONSE = {"id", "name", "response", "parts", "willContinue", "scheduling"}
_GENERATION = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
}
_THINKING = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
_TOOL = {
    "functionDeclarations",
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "urlContext",
    "fileSearch",
    "computerUse",
    "googleMaps",
    "mcpServers",
}
_DECLARATION = {
    "name",
    "description",
    "behavior",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
}
_SCHEMA = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_TOOL_CONFIG = {"functionCallingConfig", "retrievalConfig"}
_CALLING = {"mode", "allowedFunctionNames"}
_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}
_LEVELS = {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"}
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SUBSCHEMAS = ("properties", "patternProperties", "$defs", "definitions", "items", "prefixItems", "anyOf",
               "oneOf", "allOf", "not", "additionalProperties", "if", "then", "else")  # fmt: skip
_MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
    "function call `default_api:{name}` , position {pos}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


class Bad(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", key).lower()


def _get(obj: dict[str, Any], camel: str) -> Any:
    return obj.get(camel, obj.get(_snake(camel)))


def prompt_chars(body: dict[str, Any]) -> int:
    """The text of a prompt (a generateContent request), as the fake bills it."""
    system = _get(body, "systemInstruction")
    n = 0
    for content in ([system] if isinstance(system, dict) else []) + list(_get(body, "contents") or []):
        for part in content.get("parts") or [] if isinstance(content, dict) else []:
            call, result = _get(part, "functionCall"), _get(part, "functionResponse")
            n += len(part.get("text") or "")
            if isinstance(call, dict):
                n += len(call.get("name", "")) + len(json.dumps(call.get("args", {})))
            if isinstance(result, dict):
                n += len(result.get("name", "")) + len(json.dumps(result.get("response", {})))
    for tool in _get(body, "tools") or []:
        for d in _get(tool, "functionDeclarations") or []:
            schema = _get(d, "parametersJsonSchema") or d.get("parameters") or {}
            n += len(d.get("name", "")) + len(d.get("description") or "") + len(json.dumps(schema))
    return n


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: the text of a
    trailing ``model`` content (thoughts aside); None when the last content is not one."""
    last = _get(body, "contents")[-1]
    parts = last["parts"]
    if last.get("role") != "model" or any(_get(p, "text") is None for p in parts):
        return None
    return "".join(p["text"] for p in parts if not p.get("thought")) or None


def _fields(obj: Any, known: set[str], at: str) -> dict[str, Any]:
    """The real API's 'Unknown name' check, on an object that must be one."""
    if not isinstance(obj, dict):
        raise Bad(f"Invalid value at '{at}', {json.dumps(obj)}: expected an object")
    for key in obj:
        if _camel(key) not in known:
            where = f" at '{at}'" if at else ""
            raise Bad(f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.')
    return obj


def _b64(value: Any, at: str) -> bytes:
    """A bytes field: base64 in either alphabet (SDKs send back URL-safe what they got standard)."""
    if not isinstance(value, str):
        raise Bad(f"Invalid value at '{at}' (TYPE_BYTES), {json.dumps(value)}")
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Bad(f"Invalid value at '{at}' (TYPE_BYTES), Base64 decoding failed for \"{value}\"") from None


class Validator:
    """One request's checks; ``check`` raises ``Bad`` with the first violation."""

    def __init__(self, fake: FakeGemini, model: str) -> None:
        self.fake = fake
        self.model = model
        self.names: set[str] = set()

    def check(self, body: Any) -> None:
        _fields(body, _TOP, "")
        self.tools(_get(body, "tools"))
        contents = _get(body, "contents")
        if not contents:
            raise Bad("* GenerateContentRequest.contents: contents is not specified")
        if not isinstance(contents, list):
            raise Bad("Invalid value at 'contents': expected a list")
        for i, content in enumerate(contents):
            self.content(content, f"contents[{i}]")
        self.turns(contents)
        if self.model.startswith("gemini-3"):
            self.signatures(contents)
        system = _get(body, "systemInstruction")
        if system is not None:
            if not isinstance(system, dict):
                raise Bad(
                    "Invalid value at 'system_instruction' "
                    f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {json.dumps(system)}"
                )
            self.content(system, "system_instruction")
        self.tool_config(_get(body, "toolConfig"))
        self.generation(_get(body, "generationConfig"))

    def content(self, content: Any, at: str) -> None:
        _fields(content, _CONTENT, at)
        role = content.get("role", "")
        if role not in ("", "user", "model") and at != "system_instruction":
            raise Bad("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Bad(f"* GenerateContentRequest.{at}.parts: contents.parts must not be empty.")
        for j, part in enumerate(parts):
            self.part(part, f"{at}.parts[{j}]")

    def part(self, part: Any, at: str) -> None:
        _fields(part, _PART, at)
        data = [k for k in _DATA if _get(part, k) is not None]
        if not data:
            raise Bad(
                f"* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field"
            )
        if len(data) > 1:
            raise Bad(
                f"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{data[1]}'"
            )
        sig = _get(part, "thoughtSignature")
        if sig is not None:
            raw = _b64(sig, f"{at}.thought_signature")
            if self.fake.strict_signatures and sig not in PLACEHOLDERS and raw not in self.fake.issued:
                raise Bad("Corrupted thought signature.")
        if _get(part, "thought") not in (None, True, False):
            raise Bad(f"Invalid value at '{at}.thought' (TYPE_BOOL)")
        value = _get(part, data[0])
        match data[0]:
            case "text":
                if not isinstance(value, str):
                    raise Bad(f"Invalid value at '{at}.text' (TYPE_STRING), {json.dumps(value)}")
                if not value and sig is None:
                    raise Bad(
                        "Unable to submit request because it has an empty text parameter. "
                        "Add a value to the parameter and try again."
                    )
            case "inlineData":
                _fields(value, _BLOB, f"{at}.inline_data")
                if not isinstance(_get(value, "mimeType"), str):
                    raise Bad(f"* GenerateContentRequest.{at}.inline_data.mime_type: mime_type is required")
                _b64(value.get("data"), f"{at}.inline_data.data")
            case "fileData":
                _fields(value, _FILE, f"{at}.file_data")
                if not isinstance(_get(value, "fileUri"), str):
                    raise Bad(f"* GenerateContentRequest.{at}.file_data.file_uri: file_uri is required")
            case "functionCall":
                _fields(value, _CALL, f"{at}.function_call")
                self.function_name(value.get("name"), f"{at}.function_call.name")
                if value.get("args") is not None and not isinstance(value["args"], dict):
                    raise Bad(
                        f"Invalid value at '{at}.function_call.args' (type.googleapis.com/google.protobuf.Struct)"
                    )
            case "functionResponse":
                _fields(value, _RESPONSE, f"{at}.function_response")
                self.function_name(value.get("name"), f"{at}.function_response.name")
                if not isinstance(value.get("response"), dict):
                    raise Bad(
                        f"Invalid value at '{at}.function_response.response' "
                        f"(type.googleapis.com/google.protobuf.Struct), {json.dumps(value.get('response'))}"
                    )

    @staticmethod
    def function_name(name: Any, at: str) -> None:
        if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
            raise Bad(
                f"* GenerateContentRequest.{at}: Invalid function name. Must start with a letter or an underscore. "
                "Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), "
                "with a maximum length of 128."
            )

    @staticmethod
    def turns(contents: list[dict[str, Any]]) -> None:
        def count(c: dict[str, Any], kind: str) -> int:
            return sum(1 for p in c["parts"] if _get(p, kind) is not None)

        for i, content in enumerate(contents):
            calls = count(content, "functionCall")
            answers = count(content, "functionResponse")
            before = contents[i - 1] if i else None
            if calls:
                if before is None or before.get("role", "user") != "user":
                    raise Bad(
                        "Please ensure that function call turn comes immediately after a user turn or after a "
                        "function response turn."
                    )
                after = contents[i + 1] if i + 1 < len(contents) else None
                if after is not None and count(after, "functionResponse") != calls:
                    raise Bad(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
            if answers and (before is None or not count(before, "functionCall")):
                raise Bad(
                    "Please ensure that function response turn comes immediately after a function call turn."
                )

    @staticmethod
    def signatures(contents: list[dict[str, Any]]) -> None:
        """Gemini 3: since the last user content with more than function responses, each model turn's
        first function call must carry a signature."""
        start = 0
        for i, c in enumerate(contents):
            if c.get("role", "user") == "user" and any(
                _get(p, "functionResponse") is None for p in c["parts"]
            ):
                start = i + 1
        for c in contents[start:]:
            if c.get("role") != "model":
                continue
            for j, p in enumerate(c["parts"]):
                call = _get(p, "functionCall")
                if call is not None:
                    if _get(p, "thoughtSignature") is None:
                        raise Bad(_MISSING_SIGNATURE.format(name=call.get("name"), pos=j + 1))
                    break

    def tools(self, tools: Any) -> None:
        if tools is None:
            return
        if not isinstance(tools, list):
            raise Bad("Invalid value at 'tools': expected a list")
        for i, tool in enumerate(tools):
            _fields(tool, _TOOL, f"tools[{i}]")
            for j, decl in enumerate(_get(tool, "functionDeclarations") or []):
                self.declaration(decl, f"tools[{i}].function_declarations[{j}]")

    def declaration(self, decl: Any, at: str) -> None:
        _fields(decl, _DECLARATION, at)
        name = decl.get("name")
        self.function_name(name, f"{at}.name")
        if name in self.names:
            raise Bad(f"* GenerateContentRequest.{at}.name: Duplicate function declaration found: {name}")
        self.names.add(name)
        params, json_schema = _get(decl, "parameters"), _get(decl, "parametersJsonSchema")
        if params is not None and json_schema is not None:
            raise Bad(
                f"* GenerateContentRequest.{at}: parameters and parameters_json_schema cannot both be set"
            )
        if params is not None:
            self.schema(params, f"{at}.parameters")
        if json_schema is not None:
            if not isinstance(json_schema, dict):
                raise Bad(
                    f"Invalid value at '{at}.parameters_json_schema' (type.googleapis.com/google.protobuf.Value)"
                )
            self.json_schema(json_schema, f"{at}.parameters_json_schema")

    def schema(self, schema: Any, at: str) -> None:
        """The OpenAPI subset of ``parameters``: JSON Schema's extras are unknown names here."""
        _fields(schema, _SCHEMA, at)
        t = schema.get("type")
        if t is not None and (not isinstance(t, str) or t.upper() not in _TYPES):
            raise Bad(
                f"Invalid value at '{at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {json.dumps(t)}"
            )
        if any(not isinstance(v, str) for v in schema.get("enum") or []):
            raise Bad(f"Invalid value at '{at}.enum' (TYPE_STRING)")
        props = schema.get("properties")
        if props is not None and not isinstance(props, dict):
            raise Bad(f"Invalid value at '{at}.properties' (Map), {json.dumps(props)}")
        if isinstance(t, str) and t.upper() == "OBJECT" and props is not None and not props:
            raise Bad(f"* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type")
        for name, sub in (props or {}).items():
            self.property_name(name, f"{at}.properties")
            self.schema(sub, f"{at}.properties[{name}].value")
        if schema.get("items") is not None:
            self.schema(schema["items"], f"{at}.items")
        for k, sub in enumerate(_get(schema, "anyOf") or []):
            self.schema(sub, f"{at}.any_of[{k}]")

    def json_schema(self, schema: Any, at: str) -> None:
        if not isinstance(schema, dict):
            return
        props = schema.get("properties")
        for name in props if isinstance(props, dict) else {}:
            self.property_name(name, f"{at}.properties")
        for key in _SUBSCHEMAS:
            value = schema.get(key)
            if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
                for sub in value.values():
                    self.json_schema(sub, at)
            elif isinstance(value, list):
                for sub in value:
                    self.json_schema(sub, at)
            else:
                self.json_schema(value, at)

    @staticmethod
    def property_name(name: str, at: str) -> None:
        if not _PROPERTY_NAME.fullmatch(name):
            raise Bad(
                f"* GenerateContentRequest.{at}: property name {name!r} is invalid: it must match "
                "^[a-zA-Z_][a-zA-Z0-9_]*$ with a maximum length of 64."
            )

    def tool_config(self, config: Any) -> None:
        if config is None:
            return
        calling = _get(_fields(config, _TOOL_CONFIG, "tool_config"), "functionCallingConfig")
        if calling is None:
            return
        _fields(calling, _CALLING, "tool_config.function_calling_config")
        mode = calling.get("mode", "AUTO")
        if mode not in _MODES:
            raise Bad(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
        allowed = _get(calling, "allowedFunctionNames")
        if allowed:
            if mode not in ("ANY", "VALIDATED"):
                raise Bad(
                    "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                    "only allowed when mode is ANY or VALIDATED"
                )
            for name in allowed:
                if name not in self.names:
                    raise Bad(
                        f"* GenerateContentRequest.tool_config: function {name!r} is not declared in tools"
                    )

    def generation(self, gen: Any) -> None:
        if gen is None:
            return
        at = "generation_config"
        _fields(gen, _GENERATION, at)
        self.number(_get(gen, "temperature"), 0.0, 2.0, f"{at}.temperature")
        self.number(_get(gen, "topP"), 0.0, 1.0, f"{at}.top_p")
        top_k, max_tokens = _get(gen, "topK"), _get(gen, "maxOutputTokens")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise Bad(f"* GenerateContentRequest.{at}.top_k: must be a positive integer")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise Bad(f"* GenerateContentRequest.{at}.max_output_tokens: must be a positive integer")
        self.response_schema(gen, at)
        stops = _get(gen, "stopSequences")
        if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
            raise Bad(f"* GenerateContentRequest.{at}.stop_sequences: at most 5 stop sequences are allowed")
        thinking = _get(gen, "thinkingConfig")
        if thinking is not None:
            self.thinking(_fields(thinking, _THINKING, f"{at}.thinking_config"))

    def response_schema(self, gen: dict[str, Any], at: str) -> None:
        """``responseSchema`` is the OpenAPI subset (JSON Schema's extras are unknown names there);
        ``responseJsonSchema`` plain JSON Schema; either needs a JSON mime type."""
        openapi, plain = _get(gen, "responseSchema"), _get(gen, "responseJsonSchema")
        if openapi is not None and plain is not None:
            raise Bad(
                f"* GenerateContentRequest.{at}: response_schema and response_json_schema cannot both be set"
            )
        mime = _get(gen, "responseMimeType")
        if mime not in (None, "text/plain", "application/json", "text/x.enum"):
            raise Bad(f"* GenerateContentRequest.{at}.response_mime_type: unsupported mime type {mime!r}")
        if (openapi is not None or plain is not None) and mime not in ("application/json", "text/x.enum"):
            raise Bad(
                f"* GenerateContentRequest.{at}.response_mime_type: response_schema requires "
                "response_mime_type to be 'application/json' or 'text/x.enum'"
            )
        if openapi is not None:
            self.schema(openapi, f"{at}.response_schema")
        if plain is not None:
            self.json_schema(plain, f"{at}.response_json_schema")

    def forced_tool(self, body: dict[str, Any]) -> str | None:
        calling = _get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}
        allowed = _get(calling, "allowedFunctionNames") or []
        return str(allowed[0]) if calling.get("mode") == "ANY" and len(allowed) == 1 else None

    @staticmethod
    def number(value: Any, low: float, high: float, at: str) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise Bad(
                f"* GenerateContentRequest.{at}: must be in the range [{low:g}, {high:g}], got {value!r}"
            )

    def thinking(self, config: dict[str, Any]) -> None:
        if not re.match(r"gemini-(2\.5|[3-9])", self.model):
            raise Bad("Thinking is not supported for this model.")
        level, budget = _get(config, "thinkingLevel"), _get(config, "thinkingBudget")
        if level is not None and budget is not None:
            raise Bad("You can only set only one of thinking budget and thinking level.")
        if level is not None:
            if level not in _LEVELS:
                raise Bad(f"Invalid value at 'generation_config.thinking_config.thinking_level', \"{level}\"")
            if not self.model.startswith("gemini-3"):
                raise Bad("Thinking level is not supported for this model.")
        if budget == 0 and "pro" in self.model:
            raise Bad("Budget 0 is invalid. This model only works in thinking mode.")


class FakeGemini(FakeUpstream):
    def __init__(self, key: str = "AIzaSyFAKE-gemini-key", *, strict_signatures: bool = True,
                 real_auth_codes: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.key = key
        # Only signatures this fake issued (or the documented placeholders) are accepted back.
        self.strict_signatures = strict_signatures
        # The real API answers a wrong key 400 API_KEY_INVALID and a missing one 403; else 401 for both.
        self.real_auth_codes = real_auth_codes
        self.issued: set[bytes] = set()
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        # The real API serves both; google-genai 3.x calls `v1` by default.
        return [web.post("/v1beta/models/{tail}", self.handle), web.post("/v1/models/{tail}", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        model, sep, method = request.match_info["tail"].partition(":")
        if not sep or method not in ("generateContent", "streamGenerateContent", "countTokens"):
            return error_response(404, f"Method not found: {request.match_info['tail']}")
        denied = self.check_auth(request)
        if denied is not None:
            return denied
        try:
            body = await self.record(request)
        except json.JSONDecodeError:
            return error_response(400, "Invalid JSON payload received. Unexpected token.")
        try:
            if method == "countTokens":
                inner = _get(body, "generateContentRequest") or body
                Validator(self, model).check(inner)
                return web.json_response({"totalTokens": self.counted(prompt_chars(inner))})
            validator = Validator(self, model)
            validator.check(body)
        except Bad as bad:
            return error_response(400, str(bad))
        reply = await self.take_reply(request)
        if isinstance(reply, Fault):
            return self.fault(reply)
        try:
            reply = self.continuing(shaped(reply, validator.forced_tool(body)), continuation_prefix(body))
        except Mismatch as e:
            return error_response(400, str(e))
        reply = self.billed(reply, prompt_chars(body), model)
        searchable = any(isinstance(t, dict) and "googleSearch" in t for t in _get(body, "tools") or [])
        if method == "generateContent":
            if reply.malformed:
                return web.Response(text="<html>upstream hiccup</html>", content_type="text/html")
            return web.json_response(self.whole(reply, model, searchable))
        chunks = self.chunks(reply, model, searchable)
        if request.query.get("alt") != "sse":
            return web.json_response(chunks)  # without alt=sse the stream is one JSON array
        frames = [b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks]
        return await self.send_frames(request, frames, reply)

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        spots = []
        for candidate in data.get("candidates") or [] if isinstance(data, dict) else []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if isinstance(part.get("text"), str):
                    spots.append((part, "text"))
        return spots

    def check_auth(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if given == self.key:
            return None
        info = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]  # fmt: skip
        if not self.real_auth_codes:
            return error_response(401, "API key not valid. Please pass a valid API key.", info)
        if not given:
            return error_response(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        return error_response(400, "API key not valid. Please pass a valid API key.", info)

    def fault(self, fault: Fault) -> web.Response:
        details: list[dict[str, Any]] = []
        retry = fault.headers.get("retry-after")
        if fault.status == 429 and retry is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"})
        return error_response(fault.status, fault.message, details, fault.headers)

    def inband_error(self, status: int) -> bytes:
        # Gemini breaks a stream with a bare JSON error body, not an SSE frame.
        body = {"error": {"code": status, "message": "The model is overloaded. Please try again later.",
                          "status": _STATUS.get(status, "UNKNOWN")}}  # fmt: skip
        return json.dumps(body, indent=2).encode() + b"\n"

    def sign(self, model: str) -> dict[str, str]:
        if not model.startswith("gemini-3"):
            return {}
        raw = secrets.token_bytes(24)
        self.issued.add(raw)
        return {"thoughtSignature": base64.b64encode(raw).decode()}

    def calls(self, answer: Answer, model: str) -> list[dict[str, Any]]:
        parts = []
        for i, call in enumerate(answer.tool_calls):
            fc: dict[str, Any] = {"name": call.name, "args": call.args}
            if call.id is not None:
                fc["id"] = call.id
            parts.append({"functionCall": fc, **(self.sign(model) if i == 0 else {})})
        return parts

    @staticmethod
    def usage(answer: Answer) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": answer.input_tokens,
            "candidatesTokenCount": answer.output_tokens - answer.reasoning_tokens,
            "totalTokenCount": answer.input_tokens + answer.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
        }
        if answer.reasoning_tokens:
            usage["thoughtsTokenCount"] = answer.reasoning_tokens
        if answer.cache_read_tokens:
            usage["cachedContentTokenCount"] = answer.cache_read_tokens
        return usage

    def envelope(self, rid: str, model: str, parts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        for key in ("finishReason", "groundingMetadata"):  # the candidate's, not the response's
            if key in extra:
                candidate[key] = extra.pop(key)
        candidate["index"] = 0
        return {"candidates": [candidate], **extra, "modelVersion": model, "responseId": rid}

    def whole(self, answer: Answer, model: str, searchable: bool = False) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if answer.thinking:
            parts.append({"text": answer.thinking, "thought": True})
        if answer.text:
            parts.append({"text": answer.text})
        parts += self.calls(answer, model)
        rid = f"fakeGemini{next(self._ids)}"
        return self.envelope(rid, model, parts or [{"text": ""}], finishReason="STOP",
                             usageMetadata=self.usage(answer), **self.grounding(answer, searchable))  # fmt: skip

    def chunks(self, answer: Answer, model: str, searchable: bool = False) -> list[dict[str, Any]]:
        rid = f"fakeGemini{next(self._ids)}"
        early = {"promptTokenCount": answer.input_tokens, "totalTokenCount": answer.input_tokens}
        out = []
        if answer.thinking:
            for piece in split_text(answer.thinking, 2):
                out.append(self.envelope(rid, model, [{"text": piece, "thought": True}], usageMetadata=early))
        for piece in split_text(answer.text, answer.chunks) if answer.text else []:
            out.append(self.envelope(rid, model, [{"text": piece}], usageMetadata=early))
        for part in self.calls(answer, model):
            out.append(self.envelope(rid, model, [part], usageMetadata=early))
        last = self.envelope(rid, model, [{"text": ""}], finishReason="STOP", usageMetadata=self.usage(answer),
                             **self.grounding(answer, searchable))  # fmt: skip
        return [*out, last]

    @staticmethod
    def grounding(answer: Answer, searchable: bool) -> dict[str, Any]:
        """Google Search grounding, when the request offered it, for ``envelope``'s candidate."""
        if answer.web_search is None or not searchable:
            return {}
        query, pages = answer.web_search
        return {"groundingMetadata": {
            "webSearchQueries": [query], "groundingChunks": [{"web": {"uri": u, "title": t}} for u, t in pages],
            "groundingSupports": [{"segment": {"endIndex": len(answer.text or "")}, "groundingChunkIndices": [0]}],
            "searchEntryPoint": {"renderedContent": f"<div>{query}</div>"}}}  # fmt: skip


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)
