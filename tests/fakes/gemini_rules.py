"""What the fake Gemini accepts: the Developer API's own 400s, in its own words.

Unknown field names, roles, empty text, base64 of bytes fields, turn order and
call/response counts, the Gemini 3 thought-signature rule for the current turn,
function and property names, schema keywords ``parameters`` and ``responseSchema``
reject, a response schema without a JSON mime type, an object without properties,
sampling ranges, thinking settings per model family.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.gemini import FakeGemini

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


def field(obj: dict[str, Any], camel: str) -> Any:
    return obj.get(camel, obj.get(_snake(camel)))


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
        self.tools(field(body, "tools"))
        contents = field(body, "contents")
        if not contents:
            raise Bad("* GenerateContentRequest.contents: contents is not specified")
        if not isinstance(contents, list):
            raise Bad("Invalid value at 'contents': expected a list")
        for i, content in enumerate(contents):
            self.content(content, f"contents[{i}]")
        self.turns(contents)
        if self.model.startswith("gemini-3"):
            self.signatures(contents)
        system = field(body, "systemInstruction")
        if system is not None:
            if not isinstance(system, dict):
                raise Bad(
                    "Invalid value at 'system_instruction' "
                    f"(type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {json.dumps(system)}"
                )
            self.content(system, "system_instruction")
        self.tool_config(field(body, "toolConfig"))
        self.generation(field(body, "generationConfig"))

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
        data = [k for k in _DATA if field(part, k) is not None]
        if not data:
            raise Bad(
                f"* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field"
            )
        if len(data) > 1:
            raise Bad(
                f"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{data[1]}'"
            )
        sig = field(part, "thoughtSignature")
        if sig is not None:
            raw = _b64(sig, f"{at}.thought_signature")
            if self.fake.strict_signatures and sig not in PLACEHOLDERS and raw not in self.fake.issued:
                raise Bad("Corrupted thought signature.")
        if field(part, "thought") not in (None, True, False):
            raise Bad(f"Invalid value at '{at}.thought' (TYPE_BOOL)")
        value = field(part, data[0])
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
                if not isinstance(field(value, "mimeType"), str):
                    raise Bad(f"* GenerateContentRequest.{at}.inline_data.mime_type: mime_type is required")
                _b64(value.get("data"), f"{at}.inline_data.data")
            case "fileData":
                _fields(value, _FILE, f"{at}.file_data")
                if not isinstance(field(value, "fileUri"), str):
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
            return sum(1 for p in c["parts"] if field(p, kind) is not None)

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
                field(p, "functionResponse") is None for p in c["parts"]
            ):
                start = i + 1
        for c in contents[start:]:
            if c.get("role") != "model":
                continue
            for j, p in enumerate(c["parts"]):
                call = field(p, "functionCall")
                if call is not None:
                    if field(p, "thoughtSignature") is None:
                        raise Bad(_MISSING_SIGNATURE.format(name=call.get("name"), pos=j + 1))
                    break

    def tools(self, tools: Any) -> None:
        if tools is None:
            return
        if not isinstance(tools, list):
            raise Bad("Invalid value at 'tools': expected a list")
        for i, tool in enumerate(tools):
            _fields(tool, _TOOL, f"tools[{i}]")
            for j, decl in enumerate(field(tool, "functionDeclarations") or []):
                self.declaration(decl, f"tools[{i}].function_declarations[{j}]")

    def declaration(self, decl: Any, at: str) -> None:
        _fields(decl, _DECLARATION, at)
        name = decl.get("name")
        self.function_name(name, f"{at}.name")
        if name in self.names:
            raise Bad(f"* GenerateContentRequest.{at}.name: Duplicate function declaration found: {name}")
        self.names.add(name)
        params, json_schema = field(decl, "parameters"), field(decl, "parametersJsonSchema")
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
        for k, sub in enumerate(field(schema, "anyOf") or []):
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
        calling = field(_fields(config, _TOOL_CONFIG, "tool_config"), "functionCallingConfig")
        if calling is None:
            return
        _fields(calling, _CALLING, "tool_config.function_calling_config")
        mode = calling.get("mode", "AUTO")
        if mode not in _MODES:
            raise Bad(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
        allowed = field(calling, "allowedFunctionNames")
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
        self.number(field(gen, "temperature"), 0.0, 2.0, f"{at}.temperature")
        self.number(field(gen, "topP"), 0.0, 1.0, f"{at}.top_p")
        top_k, max_tokens = field(gen, "topK"), field(gen, "maxOutputTokens")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise Bad(f"* GenerateContentRequest.{at}.top_k: must be a positive integer")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise Bad(f"* GenerateContentRequest.{at}.max_output_tokens: must be a positive integer")
        self.response_schema(gen, at)
        stops = field(gen, "stopSequences")
        if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
            raise Bad(f"* GenerateContentRequest.{at}.stop_sequences: at most 5 stop sequences are allowed")
        thinking = field(gen, "thinkingConfig")
        if thinking is not None:
            self.thinking(_fields(thinking, _THINKING, f"{at}.thinking_config"))

    def response_schema(self, gen: dict[str, Any], at: str) -> None:
        """``responseSchema`` is the OpenAPI subset (JSON Schema's extras are unknown names there);
        ``responseJsonSchema`` plain JSON Schema; either needs a JSON mime type."""
        openapi, plain = field(gen, "responseSchema"), field(gen, "responseJsonSchema")
        if openapi is not None and plain is not None:
            raise Bad(
                f"* GenerateContentRequest.{at}: response_schema and response_json_schema cannot both be set"
            )
        mime = field(gen, "responseMimeType")
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
        calling = field(field(body, "toolConfig") or {}, "functionCallingConfig") or {}
        allowed = field(calling, "allowedFunctionNames") or []
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
        level, budget = field(config, "thinkingLevel"), field(config, "thinkingBudget")
        if level is not None and budget is not None:
            raise Bad("You can only set only one of thinking budget and thinking level.")
        if level is not None:
            if level not in _LEVELS:
                raise Bad(f"Invalid value at 'generation_config.thinking_config.thinking_level', \"{level}\"")
            if not self.model.startswith("gemini-3"):
                raise Bad("Thinking level is not supported for this model.")
        if budget == 0 and "pro" in self.model:
            raise Bad("Budget 0 is invalid. This model only works in thinking mode.")
