"""The fake Anthropic upstream judges the encoder's output the way the real API does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from daemon.formats import anthropic as fmt
from daemon.formats.anthropic_response import tool_name
from daemon.formats.sse import SSEParser
from daemon.ir import (
    ApiError,
    Message,
    Opaque,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from daemon.providers.profiles import profile_of
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall
from tests.formats.anthropic.samples import (
    CLAUDE_CODE,
    assemble,
    decode_all,
    ir_request,
    openai_shaped,
    parse_sse,
)
from tests.formats.whole import decode as decode_whole

KEY = "sk-ant-test-key"


HEADERS = {"x-api-key": KEY, "anthropic-version": fmt.API_VERSION}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    f = await FakeAnthropic(key=KEY).start()
    yield f
    await f.close()


async def post(
    fake: FakeAnthropic, body: Any, headers: dict[str, str] | None = None, path: str = "/v1/messages"
) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(fake.url + path, json=body, headers=headers or HEADERS) as r,
    ):
        return r.status, await r.read()


async def test_fake_takes_foreign_history_and_streams_back(fake: FakeAnthropic) -> None:
    # The model calls the tool by the name it was given; the decoder maps it back.
    call = ToolCall(tool_name("get.weather"), {"city": "Rome"})
    fake.script.append(Answer(text="Il fait 20C.", thinking="Rome is warm.", tool_calls=[call], input_tokens=300,
                              cache_read_tokens=200, output_tokens=25, reasoning_tokens=6, chunks=4))  # fmt: skip
    req = openai_shaped()
    req.stream = True
    body = fmt.encode_request(req, "claude-sonnet-4-5", profile_of("anthropic", "claude-sonnet-4-5"))
    status, raw = await post(fake, body)
    assert status == 200, raw
    assert fake.last.body == body and fake.last.path == "/v1/messages"
    resp = assemble(decode_all(parse_sse(raw), req))
    assert resp.parts[0] == ThinkingPart("Rome is warm.", opaque=Opaque("anthropic", "sig-msg_fake0001"))
    assert resp.parts[1] == TextPart("Il fait 20C.")
    assert isinstance(resp.parts[2], ToolCallPart) and (
        resp.parts[2].name,
        json.loads(resp.parts[2].arguments),
    ) == (
        "get.weather",
        {"city": "Rome"},
    )
    assert resp.finish == "tool_use"
    assert resp.usage == Usage(input_tokens=300, output_tokens=25, cache_read_tokens=200, reasoning_tokens=6)


async def test_fake_takes_the_claude_code_request_and_the_continuation(fake: FakeAnthropic) -> None:
    fake.script.append(Answer(text="Here is a.py.", tool_calls=[ToolCall("Bash", {"command": "cat a.py"})]))
    req = fmt.decode_request({**CLAUDE_CODE, "stream": False})
    body = fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))
    status, raw = await post(
        fake, body, {"authorization": f"Bearer {KEY}", "anthropic-version": "2023-06-01"}
    )
    assert status == 200, raw
    resp = decode_whole(fmt, orjson.loads(raw), req)
    assert resp.parts[0] == TextPart("Here is a.py.") and resp.finish == "tool_use"
    call = resp.parts[1]
    assert isinstance(call, ToolCallPart)
    # The next turn: the answer (no signed thinking) plus the result. Thinking must go off.
    req.messages += [
        Message("assistant", list(resp.parts)),
        Message("user", [ToolResultPart(call.id, [TextPart("print(1)")])]),
    ]
    body = fmt.encode_request(req, "claude-opus-4-8", profile_of("anthropic", "claude-opus-4-8"))
    assert "thinking" not in body and body["output_config"] == {"effort": "high"}
    status, raw = await post(fake, body)
    assert status == 200, raw


async def test_fake_counts_tokens(fake: FakeAnthropic) -> None:
    body = {k: v for k, v in CLAUDE_CODE.items() if k not in ("max_tokens", "stream", "metadata")}
    assert fmt.decode_request(body).max_tokens is None
    status, raw = await post(fake, body, path="/v1/messages/count_tokens")
    assert status == 200 and orjson.loads(raw)["input_tokens"] > 0


def valid() -> dict[str, Any]:
    return {"model": "claude-opus-4-8", "max_tokens": 100, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}]}  # fmt: skip


def broken(path: str, value: Any) -> dict[str, Any]:
    body = valid()
    target: Any = body
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (broken("max_tokens", KeyError), "max_tokens: Field required"),
        (broken("messages.0.role", "assistant"), 'first message must use the "user" role'),
        (broken("messages.0.content", " "), "must contain non-whitespace text"),
        (broken("messages.1.content.0.id", "call:1"), "String should match pattern"),
        (broken("messages.2.content", "no result"), "`tool_use` ids were found without `tool_result` blocks"),
        (broken("messages.2.content", [{"type": "tool_result", "tool_use_id": t, "content": "ok"} for t in ("toolu_1", "toolu_2")]),
         "unexpected `tool_use_id`"),
        (broken("temperature", 0.5) | {"top_p": 0.5}, "cannot both be specified"),
        (broken("thinking", {"type": "enabled", "budget_tokens": 500}), "greater than or equal to 1024"),
        (broken("thinking", {"type": "enabled", "budget_tokens": 2000}), "`max_tokens` must be greater"),
        (broken("thinking", {"type": "adaptive"}), "Expected `thinking` or `redacted_thinking`"),
        (broken("tools.0.input_schema", {"type": "array"}), "Input should be 'object'"),
        (broken("tools.0.name", "fs.read"), "String should match pattern"),
        (broken("messages.0.content", [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk0"}}]),
         "media_type"),
        (broken("reasoning", {"effort": "high"}), "reasoning: Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_fake_rejects_like_the_api(fake: FakeAnthropic, body: dict[str, Any], fragment: str) -> None:
    status, raw = await post(fake, body)
    error = orjson.loads(raw)
    assert status == 400 and error["error"]["type"] == "invalid_request_error"
    assert fragment in error["error"]["message"]
    assert (await post(fake, valid()))[0] == 200


async def test_fake_auth_and_faults(fake: FakeAnthropic) -> None:
    status, raw = await post(fake, valid(), {"x-api-key": "wrong", "anthropic-version": "2023-06-01"})
    assert status == 401 and orjson.loads(raw)["error"]["type"] == "authentication_error"
    status, raw = await post(fake, valid(), {"x-api-key": KEY})
    assert status == 400 and "anthropic-version" in orjson.loads(raw)["error"]["message"]
    fake.script.append(
        Fault(429, "Number of request tokens has exceeded your rate limit", {"retry-after": "3"})
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(fake.url + "/v1/messages", json=valid(), headers=HEADERS) as r,
    ):
        err = fmt.decode_error(r.status, await r.json(), r.headers)
    assert (err.status, err.kind, err.retry_after_s) == (429, "rate_limit", 3.0)


@pytest.mark.parametrize(("action", "kind"), [("cut", "server_error"), ("error", "overloaded")])
async def test_fake_stream_faults_surface_as_api_errors(fake: FakeAnthropic, action: str, kind: str) -> None:
    fake.script.append(Answer(text="partial answer", fault=StreamFault(after_frames=4, action=action)))
    body = valid() | {"stream": True}
    dec = fmt.stream_decoder(ir_request())
    with pytest.raises(ApiError) as e:
        async with (
            aiohttp.ClientSession() as s,
            s.post(fake.url + "/v1/messages", json=body, headers=HEADERS) as r,
        ):
            parser = SSEParser()
            try:
                async for chunk in r.content.iter_any():
                    for f in parser.feed(chunk):
                        dec.feed(f.event, orjson.loads(f.data))
            except aiohttp.ClientPayloadError:
                pass
            dec.close()
    assert e.value.kind == kind
