"""What the fake OpenAI Chat Completions accepts: the API's own 400s, in its own words.

Roles and message keys, content parts and images, tool calls and their results'
pairing, tool and function names, parameters per model family (reasoning models
refuse sampling settings), strict schemas and response formats, DeepSeek-style
``prefix`` continuations; error bodies in the API's shape (WIRE_FORMATS.md §2).
"""

from __future__ import annotations

import json
import re
from typing import Any

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
TOP_LEVEL = {
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
}  # fmt: skip
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    # The SDK's own message object goes back as history (the cookbook way), annotations and all.
    "assistant": {
        "role",
        "content",
        "name",
        "tool_calls",
        "refusal",
        "audio",
        "function_call",
        "annotations",
        "prefix",  # DeepSeek's and Mistral's prefix mode (``_prefix_ok``)
    },
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
NO_STOP_MODEL = re.compile(r"^(o3|o4-mini)")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$")
MAX_ID = 40
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("tokens", "rate_limit_exceeded"),
}


class Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def error_body(message: str, etype: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def status_error(status: int, message: str) -> dict[str, Any]:
    etype, code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    if status == 429 and "quota" in message:
        etype, code = "insufficient_quota", "insufficient_quota"
    return error_body(message, etype, None, code)


def _too_long(path: str, value: str, limit: int) -> Invalid:
    return Invalid(
        f"Invalid '{path}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {len(value)} instead.",
        path,
        "string_above_max_length",
    )


def _text_parts(content: Any, path: str, role: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise Invalid(f"Invalid '{path}': expected a string or a non-empty array.", path, "invalid_type")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            raise Invalid(
                f"Invalid '{path}'. Image URLs are only allowed for messages with role 'user', "
                f"but this message with role '{role}' contains an image URL.",
                path,
                "invalid_value",
            )
        if kind != "text" or not isinstance(part.get("text"), str):
            raise Invalid(
                f"Invalid value: '{kind}'. Supported values are: 'text'.",
                f"{path}[{j}].type",
                "invalid_value",
            )


def _image_ok(image: Any, path: str) -> None:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        raise Invalid(
            f"Missing required parameter: '{path}.url'.", f"{path}.url", "missing_required_parameter"
        )
    if url.startswith("data:"):
        if not DATA_URL.match(url):
            raise Invalid(
                f"Invalid '{path}.url'. Expected a base64-encoded data URL with an image MIME type "
                "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid value.",
                f"{path}.url",
                "invalid_value",
            )
    elif not url.startswith(("http://", "https://")):
        raise Invalid(
            "Invalid image URL: expected an http(s) URL or a data URL.", f"{path}.url", "invalid_value"
        )
    if image.get("detail") not in (None, "auto", "low", "high"):
        raise Invalid("Invalid value for 'detail'.", f"{path}.detail", "invalid_value")


def _user_content(content: Any, path: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise Invalid(
            f"Invalid '{path}': array too short. Expected an array with minimum length 1, but got an array with length 0 instead.",
            path,
            "empty_array",
        )
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{path}[{j}]"
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise Invalid(
                    f"Missing required parameter: '{where}.text'.",
                    f"{where}.text",
                    "missing_required_parameter",
                )
        elif kind == "image_url":
            _image_ok(part.get("image_url"), f"{where}.image_url")
        elif kind not in ("input_audio", "file"):
            raise Invalid(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'.",
                f"{where}.type",
                "invalid_value",
            )


def _tool_calls(calls: Any, path: str) -> list[str]:
    if not isinstance(calls, list) or not calls:
        raise Invalid(
            f"Invalid '{path}': empty array. Expected an array with minimum length 1.", path, "empty_array"
        )
    ids: list[str] = []
    for k, call in enumerate(calls):
        where = f"{path}[{k}]"
        if not isinstance(call, dict) or call.get("type") not in ("function", "custom"):
            raise Invalid(
                f"Missing required parameter: '{where}.type'.", f"{where}.type", "missing_required_parameter"
            )
        cid = call.get("id")
        if not isinstance(cid, str):
            raise Invalid(
                f"Missing required parameter: '{where}.id'.", f"{where}.id", "missing_required_parameter"
            )
        if len(cid) > MAX_ID:
            raise _too_long(f"{where}.id", cid, MAX_ID)
        fn = call.get("function") if call["type"] == "function" else call.get("custom")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise Invalid(
                f"Missing required parameter: '{where}.function.name'.",
                f"{where}.function.name",
                "missing_required_parameter",
            )
        if call["type"] == "function" and not isinstance(fn.get("arguments"), str):
            raise Invalid(
                f"Invalid type for '{where}.function.arguments': expected a string, but got an object instead.",
                f"{where}.function.arguments",
                "invalid_type",
            )
        ids.append(cid)
    return ids


def _message_ok(m: Any, i: int) -> str:
    path = f"messages[{i}]"
    role = m.get("role") if isinstance(m, dict) else None
    if role not in ROLES:
        raise Invalid(
            f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
            f"{path}.role",
            "invalid_value",
        )
    extra = sorted(set(m) - MESSAGE_KEYS[role])
    if extra:
        raise Invalid(f"Additional properties are not allowed ('{extra[0]}' was unexpected) - 'messages.{i}'")
    content = m.get("content")
    match role:
        case "system" | "developer" | "tool":
            if content is None:
                raise Invalid(
                    f"Missing required parameter: '{path}.content'.",
                    f"{path}.content",
                    "missing_required_parameter",
                )
            _text_parts(content, f"{path}.content", role)
        case "user":
            if content is None:
                raise Invalid(
                    f"Missing required parameter: '{path}.content'.",
                    f"{path}.content",
                    "missing_required_parameter",
                )
            _user_content(content, f"{path}.content")
        case "assistant":
            if content is None and not m.get("tool_calls") and not m.get("function_call"):
                raise Invalid(
                    "Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content"
                )
            if content is not None and not isinstance(content, str | list):
                raise Invalid(f"Invalid type for '{path}.content'.", f"{path}.content", "invalid_type")
    return role


# OpenAI's own models: an assistant message takes no ``prefix`` there.
OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-|codex-)")


def _prefix_ok(body: dict[str, Any]) -> None:
    """Prefix mode (DeepSeek's, Mistral's): ``"prefix": true`` on the last message only, an
    assistant one; OpenAI's own models know no such field."""
    messages = body["messages"]
    for i, m in enumerate(messages):
        if "prefix" not in m:
            continue
        if OPENAI_MODEL.match(body["model"]):
            raise Invalid(f"Additional properties are not allowed ('prefix' was unexpected) - 'messages.{i}'")
        if not isinstance(m["prefix"], bool):
            raise Invalid(
                f"Invalid type for 'messages[{i}].prefix': expected a boolean.", f"messages[{i}].prefix"
            )
        if m["prefix"] and (i != len(messages) - 1 or m["role"] != "assistant"):
            raise Invalid(
                "Invalid 'prefix': only the last message may be a prefix, and it must be an assistant message.",
                f"messages[{i}].prefix",
            )


def _pairing_ok(messages: list[dict[str, Any]]) -> None:
    """After an assistant message with tool_calls, one tool message per id before anything else."""
    pending: list[str] = []
    expected: set[str] = set()
    opened_at = 0
    for i, m in enumerate(messages):
        role = m["role"]
        if role == "tool":
            cid = m.get("tool_call_id")
            if not isinstance(cid, str):
                raise Invalid(
                    f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                    f"messages[{i}].tool_call_id",
                    "missing_required_parameter",
                )
            if len(cid) > MAX_ID:
                raise _too_long(f"messages[{i}].tool_call_id", cid, MAX_ID)
            if cid not in expected:
                raise Invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            if cid in pending:
                pending.remove(cid)
            continue
        if pending:
            raise Invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
                f"messages.[{opened_at}].role",
            )
        expected = set()
        if role == "assistant" and m.get("tool_calls"):
            pending = _tool_calls(m["tool_calls"], f"messages[{i}].tool_calls")
            expected, opened_at = set(pending), i
    if pending:
        raise Invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
            f"messages.[{opened_at}].role",
        )


def _tools_ok(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or t.get("type") not in ("function", "custom"):
                raise Invalid(f"Invalid value for 'tools[{i}].type'.", f"tools[{i}].type", "invalid_value")
            fn = t.get("function") if t["type"] == "function" else t.get("custom")
            name = fn.get("name") if isinstance(fn, dict) else None
            if not isinstance(name, str):
                raise Invalid(
                    f"Missing required parameter: 'tools[{i}].function.name'.",
                    f"tools[{i}].function.name",
                    "missing_required_parameter",
                )
            if len(name) > 64:
                raise _too_long(f"tools[{i}].function.name", name, 64)
            if not TOOL_NAME.match(name):
                raise Invalid(
                    f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{i}].function.name",
                    "invalid_value",
                )
            params = fn.get("parameters") if t["type"] == "function" else None
            if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
                got = params.get("type") if isinstance(params, dict) else type(params).__name__
                raise Invalid(
                    f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'.",
                    f"tools[{i}].function.parameters",
                    "invalid_function_parameters",
                )
            names.add(name)
    for key in ("tool_choice", "parallel_tool_calls"):
        if key in body and not tools:
            raise Invalid(
                f"Invalid value for '{key}': '{key}' is only allowed when 'tools' are specified.", key
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if choice.get("type") != "function" or wanted not in names:
            raise Invalid(
                f"Invalid value for 'tool_choice': function '{wanted}' is not among the 'tools'.",
                "tool_choice",
            )
    elif choice is not None and choice not in ("none", "auto", "required"):
        raise Invalid(
            f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
            "tool_choice",
            "invalid_value",
        )


def _unsupported(param: str) -> Invalid:
    return Invalid(
        f"Unsupported parameter: '{param}' is not supported with this model."
        + (" Use 'max_completion_tokens' instead." if param == "max_tokens" else ""),
        param,
        "unsupported_parameter",
    )


def _params_ok(body: dict[str, Any]) -> None:
    model = body["model"]
    reasoning = bool(REASONING_MODEL.match(model))
    if reasoning and "max_tokens" in body:
        raise _unsupported("max_tokens")
    if not reasoning and "reasoning_effort" in body:
        raise _unsupported("reasoning_effort")
    if NO_STOP_MODEL.match(model) and "stop" in body:
        raise _unsupported("stop")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if reasoning and value != 1:
            raise Invalid(
                f"Unsupported value: '{key}' does not support {value} with this model. Only the default (1) value is supported.",
                key,
                "unsupported_value",
            )
        top = 2 if key == "temperature" else 1
        if not isinstance(value, int | float) or not 0 <= value <= top:
            raise Invalid(
                f"Invalid '{key}': decimal out of range. Expected a value between 0 and {top}, but got {value} instead.",
                key,
                "decimal_above_max_value",
            )
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        raise Invalid(
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length {len(stop)} instead.",
            "stop",
            "array_above_max_length",
        )
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise Invalid(
                f"Invalid '{key}': integer below minimum value. Expected a value >= 1.",
                key,
                "integer_below_min_value",
            )
    if "stream_options" in body and not body.get("stream"):
        raise Invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )


NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _strict_schema_ok(schema: Any, where: str) -> None:
    """What ``strict: true`` holds a schema to: closed objects with every property required."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            raise Invalid(
                f"Invalid schema for response_format: In context={where}, 'additionalProperties' is required "
                "to be supplied and to be false.",
                "response_format",
                "invalid_json_schema",
            )
        props = schema.get("properties") or {}
        missing = [k for k in props if k not in (schema.get("required") or [])]
        if missing:
            raise Invalid(
                f"Invalid schema for response_format: In context={where}, 'required' is required to be supplied "
                f"and to be an array including every key in properties. Missing '{missing[0]}'.",
                "response_format",
                "invalid_json_schema",
            )
        for name, sub in props.items():
            _strict_schema_ok(sub, f"{where}+('properties', '{name}')")
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            _strict_schema_ok(sub, f"{where}+('{key}', '{name}')")
    for k, sub in enumerate(schema.get("anyOf") or []):
        _strict_schema_ok(sub, f"{where}+('anyOf', {k})")
    _strict_schema_ok(schema.get("items"), f"{where}+('items',)")


def _response_format_ok(body: dict[str, Any]) -> None:
    rf = body.get("response_format")
    if rf is None:
        return
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise Invalid("Invalid value: 'response_format.type'.", "response_format.type", "invalid_value")
    if (
        kind == "json_object"
        and "json" not in json.dumps([m.get("content") for m in body["messages"]]).lower()
    ):
        raise Invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            "messages",
        )
    if kind == "json_schema":
        spec = rf.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise Invalid(
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema.name",
                "missing_required_parameter",
            )
        if not NAME.match(spec["name"]):
            raise Invalid(
                "Invalid 'response_format.json_schema.name': string does not match pattern.",
                "response_format.json_schema.name",
                "invalid_value",
            )
        schema = spec.get("schema")
        if schema is not None and (not isinstance(schema, dict) or schema.get("type") != "object"):
            raise Invalid(
                "Invalid schema for response_format: schema must be a JSON Schema of 'type: \"object\"'.",
                "response_format",
                "invalid_json_schema",
            )
        if spec.get("strict") is True:
            _strict_schema_ok(schema, "()")


def validate(body: Any) -> None:
    """Raise ``Invalid`` where the real API answers 400."""
    if not isinstance(body, dict):
        raise Invalid("We could not parse the JSON body of your request.")
    for key in body:
        if key not in TOP_LEVEL:
            raise Invalid(f"Unrecognized request argument supplied: {key}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise Invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not messages:
        raise Invalid("[] is too short - 'messages'")
    for i, m in enumerate(messages):
        _message_ok(m, i)
    _pairing_ok(messages)
    _prefix_ok(body)
    _tools_ok(body)
    _params_ok(body)
    _response_format_ok(body)
