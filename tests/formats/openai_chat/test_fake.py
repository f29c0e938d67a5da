"""The fake OpenAI upstream judges the encoder's output the way the real API does."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from daemon.formats import openai_chat as fmt
from daemon.formats.openai_chat_stream import wire_name
from daemon.formats.sse import SSEParser
from daemon.ir import (
    ApiError,
    Request,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from daemon.providers.profiles import profile_of
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall
from tests.fakes.openai_chat import FakeOpenAI
from tests.formats.openai_chat.samples import (
    DOC_REQUEST,
    SDK_HISTORY,
    WEATHER,
    anthropic_shaped,
    assemble,
    ir_request,
)
from tests.formats.whole import decode as decode_whole

KEY = "sk-proj-test-key-0000"


HEADERS = {"authorization": f"Bearer {KEY}"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    f = await FakeOpenAI(key=KEY).start()
    yield f
    await f.close()


async def post(fake: FakeOpenAI, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.url}/v1/chat/completions", json=body, headers=HEADERS if headers is None else headers
        ) as r,
    ):
        raw = await r.read()
        try:
            return r.status, json.loads(raw), raw
        except ValueError:
            return r.status, None, raw


def decode_stream(raw: bytes, req: Request) -> list[StreamEvent]:
    parser, dec = SSEParser(), fmt.stream_decoder(req)
    events: list[StreamEvent] = []
    for f in parser.feed(raw) + parser.close():
        events += dec.feed(f.event, f.data if f.data == "[DONE]" else orjson.loads(f.data))
    return events + dec.close()


async def test_fake_takes_foreign_history_and_streams_back(fake: FakeOpenAI) -> None:
    req = anthropic_shaped()
    fake.script.append(Answer(text="Fixed.", thinking="Tests fail.", tool_calls=[ToolCall(wire_name("mcp.run.tests"), {"k": 1})],
                              input_tokens=300, cache_read_tokens=200, output_tokens=25, reasoning_tokens=6, chunks=4))  # fmt: skip
    status, _, raw = await post(fake, fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1")))
    assert status == 200, raw
    events = decode_stream(raw, req)
    resp = assemble(events)
    assert resp.parts[:2] == [ThinkingPart("Tests fail."), TextPart("Fixed.")]
    call = resp.parts[2]
    assert isinstance(call, ToolCallPart) and (call.name, json.loads(call.arguments)) == (
        "mcp.run.tests",
        {"k": 1},
    )
    # A named forced choice: the fake answers "stop", as OpenAI does, and it is still tool use.
    assert (resp.finish, resp.raw_finish) == ("tool_use", "stop")
    assert resp.usage == Usage(input_tokens=300, output_tokens=25, cache_read_tokens=200, reasoning_tokens=6)
    assert fake.last.body["stream_options"] == {"include_usage": True}


async def test_fake_round_trip_of_a_client_body(fake: FakeOpenAI) -> None:
    fake.script.append(Answer(text="Paris is cooler.", input_tokens=40, output_tokens=6))
    req = fmt.decode_request(SDK_HISTORY)
    status, body, _ = await post(fake, fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1")))
    assert status == 200
    resp = decode_whole(fmt, body, req)
    assert resp.parts == [TextPart("Paris is cooler.")] and resp.finish == "end"
    client_body = fmt.encode_response(resp, req)
    assert client_body["choices"][0]["message"]["content"] == "Paris is cooler."


async def test_fake_takes_the_reasoning_model_body(fake: FakeOpenAI) -> None:
    req = anthropic_shaped()
    req.temperature = None
    status, _, raw = await post(fake, fmt.encode_request(req, "o3", profile_of("openai", "o3")))
    assert status == 400 and b"'stop' is not supported" in raw  # o3 takes no stop sequences: adapt's job
    req.stop = []
    status, _, raw = await post(fake, fmt.encode_request(req, "o3", profile_of("openai", "o3")))
    assert status == 200, raw
    assert fake.last.body["reasoning_effort"] == "high"


PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def valid() -> dict[str, Any]:
    """The documented request, made acceptable: its "iVBORw0KGgo..." is no base64."""
    drop = ("stream_options", "reasoning_effort")  # gpt-4.1 is no reasoning model: it refuses the effort
    body = copy.deepcopy({k: v for k, v in DOC_REQUEST.items() if k not in drop} | {"stream": False})
    body["messages"][1]["content"][1]["image_url"]["url"] = f"data:image/png;base64,{PNG_B64}"
    return body


def broken(path: str, value: Any) -> dict[str, Any]:
    """The valid body with one value replaced, at a dotted path."""
    body = valid()
    *keys, last = path.split(".")
    target: Any = body
    for k in keys:
        target = target[int(k)] if isinstance(target, list) else target[k]
    target[int(last) if isinstance(target, list) else last] = value
    return body


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in valid().items() if k != key}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (broken("messages", []), "[] is too short - 'messages'"),
        (broken("messages.1.role", "robot"), "Invalid value: 'robot'. Supported values are"),
        (broken("top_k", 40), "Unrecognized request argument supplied: top_k"),
        (
            broken("stop", ["a", "b", "c", "d", "e"]),
            "array too long. Expected an array with maximum length 4",
        ),
        (
            broken("model", "o3-mini") | {"max_tokens": 10, "temperature": None},
            "Unsupported parameter: 'max_tokens' is not supported with this model.",
        ),
        (
            broken("model", "gpt-5.1") | {"temperature": 0.7},
            "Unsupported value: 'temperature' does not support 0.7",
        ),
        (
            broken("messages.2.tool_calls.0.id", "call_" + "x" * 40),
            "string too long. Expected a string with maximum length 40",
        ),
        (
            broken("messages.3", {"role": "user", "content": "skip the tool"}),
            "must be followed by tool messages responding to each 'tool_call_id'",
        ),
        (
            broken("messages.2", {"role": "assistant", "content": "no calls"}),
            "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
        ),
        (valid() | {"messages": valid()["messages"][:3]}, "must be followed by tool messages"),
        (
            broken("messages.1.content.1.image_url.url", "data:image/png;base64,***"),
            "Expected a base64-encoded data URL",
        ),
        (broken("messages.1.content.1.image_url.url", "ftp://x"), "Invalid image URL"),
        (broken("tools.0.function.name", "get.weather"), "string does not match pattern"),
        (
            broken("tools.0.function.parameters", {"type": "string"}),
            "schema must be a JSON Schema of 'type: \"object\"'",
        ),
        (without("tools"), "only allowed when 'tools' are specified"),
        (
            broken("tool_choice", {"type": "function", "function": {"name": "nope"}}),
            "function 'nope' is not among the 'tools'",
        ),
        (broken("temperature", 2.5), "Invalid 'temperature'"),
        (broken("stream_options", {"include_usage": True}), "only allowed when 'stream' is enabled"),
        (
            broken("messages.3.content", [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]),
            "Image URLs are only allowed for messages with role 'user'",
        ),
        (
            broken("messages.2.reasoning_content", "x"),
            "Additional properties are not allowed ('reasoning_content' was unexpected)",
        ),
        (valid(), ""),  # content null beside tool_calls is fine
    ],
)
async def test_fake_rejects_like_the_api(fake: FakeOpenAI, body: dict[str, Any], fragment: str) -> None:
    status, answer, raw = await post(fake, body)
    if not fragment:
        assert status == 200, raw
        return
    assert status == 400, raw
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert fragment in answer["error"]["message"], answer


async def test_fake_auth_faults_and_retry_hints(fake: FakeOpenAI) -> None:
    status, body, raw = await post(fake, valid(), {"authorization": "Bearer sk-wrong-key-1234"})
    assert status == 401 and body["error"]["code"] == "invalid_api_key" and b"sk-wrong-key-1234" not in raw
    err = fmt.decode_error(status, body, {})
    assert err.kind == "authentication"
    status, body, _ = await post(fake, valid(), {})
    assert status == 401 and "didn't provide an API key" in body["error"]["message"]
    fake.script.append(
        Fault(
            429,
            "Rate limit reached for gpt-4.1",
            {"x-ratelimit-reset-tokens": "1m30s", "x-ratelimit-remaining-tokens": "0"},
        )
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/v1/chat/completions", json=valid(), headers=HEADERS) as r,
    ):
        err = fmt.decode_error(r.status, await r.json(), r.headers)
    assert (err.kind, err.retry_after_s) == ("rate_limit", 90.0)
    fake.script.append(Fault(429, "You exceeded your current quota"))
    status, body, _ = await post(fake, valid())
    assert fmt.decode_error(status, body, {}).details == {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }
    fake.script.append(Answer(malformed=True))
    status, body, _ = await post(fake, valid())
    assert status == 200 and body is None


async def test_fake_streams_usage_only_when_asked(fake: FakeOpenAI) -> None:
    body = valid() | {"stream": True}
    status, _, raw = await post(fake, body)
    assert status == 200 and b'"usage"' not in raw and raw.endswith(b"data: [DONE]\n\n")
    resp = assemble(decode_stream(raw, ir_request()))
    assert resp.usage == Usage() and resp.parts == [TextPart("Hello from the fake upstream.")]


@pytest.mark.parametrize(
    ("action", "kind"), [("cut", "server_error"), ("error", "server_error"), ("malformed", None)]
)
async def test_fake_stream_faults_surface_as_api_errors(
    fake: FakeOpenAI, action: str, kind: str | None
) -> None:
    fake.script.append(
        Answer(text="partial answer", fault=StreamFault(after_frames=2, action=action, status=500))
    )
    req = ir_request(stream=True)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.url}/v1/chat/completions",
            json=fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1")),
            headers=HEADERS,
        ) as r,
    ):
        raw = b""
        try:
            async for piece in r.content.iter_any():
                raw += piece
        except aiohttp.ClientPayloadError:
            pass
    if kind is None:
        with pytest.raises(orjson.JSONDecodeError):
            decode_stream(raw, req)
        return
    with pytest.raises(ApiError) as e:
        decode_stream(raw, req)
    assert e.value.kind == kind and e.value.status in (500, 502)


async def test_the_sdk_reads_the_fake_too(fake: FakeOpenAI) -> None:
    """The fake's hand-written frames are what the real SDK parses, so tests against it mean something."""
    fake.script.append(
        Answer(text="Checking.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_7")])
    )
    fake.script.append(Answer(text="18C."))
    client = openai.AsyncOpenAI(base_url=f"{fake.url}/v1", api_key=KEY, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    async with client.chat.completions.stream(
        model="gpt-4.1", messages=messages, tools=tools, stream_options={"include_usage": True}
    ) as s:
        done = await s.get_final_completion()
    msg = done.choices[0].message
    assert msg.content == "Checking." and msg.tool_calls is not None
    assert (msg.tool_calls[0].id, msg.tool_calls[0].function.arguments) == ("call_7", '{"city": "Paris"}')  # type: ignore[union-attr]
    assert done.usage is not None and done.usage.total_tokens == 19
    messages += [msg.model_dump(), {"role": "tool", "tool_call_id": "call_7", "content": "18C"}]
    req = fmt.decode_request({"model": "gpt-4.1", "messages": messages, "tools": tools})
    again = await client.chat.completions.create(
        **fmt.encode_request(req, "gpt-4.1", profile_of("openai", "gpt-4.1"))
    )
    assert again.choices[0].message.content == "18C."
    assert fake.last.body["messages"][1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}  # fmt: skip
    await client.close()
