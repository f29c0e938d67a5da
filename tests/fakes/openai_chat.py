"""A fake OpenAI Chat Completions API: validates like the real one, answers by hand.

Serves ``POST /v1/chat/completions`` (a provider's ``base_url`` is ``<url>/v1``),
plain and streamed, and ``POST /v1/responses/input_tokens`` (``openai_count``), with
``Authorization: Bearer``. Every request is recorded before it is judged, so tests
can look at rejected payloads too. Error bodies use the API's own wording where it
is known (WIRE_FORMATS.md §2).

``Answer.thinking`` is rendered as DeepSeek's ``reasoning_content`` (OpenAI
itself returns no reasoning text in Chat). Token counts are on the IR scale,
which is Chat's: ``prompt_tokens`` includes cached tokens, ``completion_tokens``
includes reasoning. Streams carry usage only when ``stream_options.include_usage``
asked for it. A named forced ``tool_choice`` ends with ``finish_reason: "stop"``
although tools were called, as the real API does.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from aiohttp import web

from tests.fakes import openai_count as counting
from tests.fakes.base import Answer, FakeUpstream, Fault, Mismatch, instructed, shaped, split_text

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


def continuation_prefix(body: dict[str, Any]) -> str | None:
    """The start of the answer a (valid) request asks the model to continue: the last message's
    text in prefix mode, or the assistant message's before detour's instruction to continue it;
    None for any other request (a trailing assistant message alone is answered afresh)."""
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "assistant" and last.get("prefix"):
        held = last
    elif (
        len(messages) > 1
        and messages[-2]["role"] == "assistant"
        and last["role"] == "user"
        and instructed(last["content"])
    ):
        held = messages[-2]
    else:
        return None
    content = held.get("content")
    text = "".join(p.get("text", "") for p in content) if isinstance(content, list) else content
    return text or None


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


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool this request makes the model call: named, or the last one for ``required``."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    if choice == "required" and body.get("tools"):
        return str(body["tools"][-1]["function"]["name"])
    return None


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


class FakeOpenAI(FakeUpstream):
    def __init__(self, key: str = "sk-fake-openai") -> None:
        super().__init__()
        self.key = key
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat),
            web.post("/v1/responses/input_tokens", self.input_tokens),
        ]

    def inband_error(self, status: int) -> bytes:
        message = "The server had an error while processing your request. Sorry about that!"
        return frame(status_error(status, message if status >= 500 else f"injected {status}"))

    def answer_spots(self, data: Any) -> list[tuple[dict[str, Any], str]]:
        spots = []
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            spots += [(delta, k) for k in ("reasoning_content", "content") if isinstance(delta.get(k), str)]
        return spots

    def _refusal(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return web.json_response(error_body(message, "invalid_request_error"), status=401)
        given = auth[7:]
        if given != self.key:
            masked = f"{given[:3]}{'*' * max(0, len(given) - 7)}{given[-4:]}"
            message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
            return web.json_response(
                error_body(message, "invalid_request_error", None, "invalid_api_key"), status=401
            )
        return None

    async def input_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            counting.validate_input_tokens(body)
        except counting.Invalid as e:
            return web.json_response(error_body(str(e), "invalid_request_error", e.param), status=400)
        n = self.counted(counting.responses_prompt_chars(body))
        return web.json_response({"object": "response.input_tokens", "input_tokens": n})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            validate(body)
        except Invalid as e:
            return web.json_response(error_body(str(e), "invalid_request_error", e.param, e.code), status=400)
        reply = await self.take_reply(request)
        if isinstance(reply, Fault):
            return web.json_response(
                status_error(reply.status, reply.message), status=reply.status, headers=reply.headers
            )
        try:
            reply = self.continuing(shaped(reply, forced_tool(body)), continuation_prefix(body))
        except Mismatch as e:
            return web.json_response(error_body(str(e), "invalid_request_error", "messages"), status=400)
        reply = self.billed(reply, counting.chat_prompt_chars(body), body["model"])
        chat_id = f"chatcmpl-fake{next(self._ids):04d}"
        named = isinstance(body.get("tool_choice"), dict)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            frames = self.stream_frames(reply, chat_id, body["model"], include, named)
            return await self.send_frames(request, frames, reply)
        if reply.malformed:
            return web.Response(text="<html>upstream hiccup", content_type="application/json")
        return web.json_response(self.completion(reply, chat_id, body["model"], named))

    # --- rendering, by hand ---

    def _call_id(self, index: int, given: str | None) -> str:
        return given or f"call_fake{index:02d}{next(self._ids):06d}"

    @staticmethod
    def usage(a: Answer) -> dict[str, Any]:
        prompt_details: dict[str, Any] = {"cached_tokens": a.cache_read_tokens, "audio_tokens": 0}
        if a.cache_write_tokens:
            prompt_details["cache_write_tokens"] = a.cache_write_tokens
        return {
            "prompt_tokens": a.input_tokens,
            "completion_tokens": a.output_tokens,
            "total_tokens": a.input_tokens + a.output_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": a.reasoning_tokens, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
            },
        }  # fmt: skip

    @staticmethod
    def _finish(a: Answer, named: bool) -> str:
        return "tool_calls" if a.tool_calls and not named else "stop"

    def completion(self, a: Answer, chat_id: str, model: str, named: bool = False) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": a.text, "refusal": None, "annotations": []}
        if a.thinking:
            message["reasoning_content"] = a.thinking
        if a.tool_calls:
            message["tool_calls"] = [
                {"id": self._call_id(i, tc.id), "type": "function",
                 "function": {"name": tc.name, "arguments": json.dumps(tc.args)}}
                for i, tc in enumerate(a.tool_calls)
            ]  # fmt: skip
        return {
            "id": chat_id, "object": "chat.completion", "created": 1770933892, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake0001",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish(a, named)}],
            "usage": self.usage(a),
        }  # fmt: skip

    def stream_frames(
        self, a: Answer, chat_id: str, model: str, include_usage: bool, named: bool = False
    ) -> list[bytes]:
        base: dict[str, Any] = {
            "id": chat_id, "object": "chat.completion.chunk", "created": 1770933892, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake0001",
        }  # fmt: skip
        tail = {"usage": None, "obfuscation": "Qup1BsQ3"} if include_usage else {"obfuscation": "Qup1BsQ3"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return frame({**base, "choices": [choice], **tail})

        deltas: list[dict[str, Any]] = []
        if a.thinking:
            deltas += [{"content": None, "reasoning_content": t} for t in split_text(a.thinking, a.chunks)]
        if a.text:
            deltas += [{"content": t} for t in split_text(a.text, a.chunks)]
        per_call: list[list[dict[str, Any]]] = []
        for i, tc in enumerate(a.tool_calls):
            first = {"index": i, "id": self._call_id(i, tc.id), "type": "function",
                     "function": {"name": tc.name, "arguments": ""}}  # fmt: skip
            pieces = [{"index": i, "function": {"arguments": p}} for p in split_text(json.dumps(tc.args), 3)]
            per_call.append([{"tool_calls": [first]}] + [{"tool_calls": [p]} for p in pieces])
        if a.interleave:
            deltas += [d for turn in itertools.zip_longest(*per_call) for d in turn if d is not None]
        else:
            deltas += [d for call in per_call for d in call]
        head = {"role": "assistant", "content": "", "refusal": None}
        if deltas and "tool_calls" in deltas[0]:
            deltas[0] = {"role": "assistant", "content": None, **deltas[0]}
        else:
            deltas.insert(0, head)
        frames = [chunk(d) for d in deltas]
        frames.append(chunk({}, self._finish(a, named)))
        if include_usage:
            frames.append(frame({**base, "choices": [], "usage": self.usage(a), "obfuscation": "x1"}))
        frames.append(b"data: [DONE]\n\n")
        return frames


def frame(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()
