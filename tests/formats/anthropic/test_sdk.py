"""The official anthropic SDK reads what the encoders write, plain and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import pytest
from aiohttp import web

from daemon.formats import anthropic as fmt
from daemon.formats.ids import for_anthropic
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Opaque,
    PartEnd,
    PartStart,
    Response,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    Usage,
    UsageUpdate,
)
from tests.formats.anthropic.samples import ir_request


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def full_stream() -> list[StreamEvent]:
    return [
        StreamStart("msg_x1", "claude-opus-4-8", Usage(input_tokens=1200, cache_read_tokens=1000, output_tokens=1)),
        PartStart(0, ThinkingPart("")),
        ThinkingDelta(0, "Need the "),
        ThinkingDelta(0, "file."),
        SignatureDelta(0, Opaque("anthropic", "sig-abc")),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Reading "),
        TextDelta(1, "it."),
        PartEnd(1),
        PartStart(2, ToolCallPart("call:odd/id", "Read", "")),
        ArgumentsDelta(2, '{"file_'),
        ArgumentsDelta(2, 'path": "a.py"}'),
        PartEnd(2),
        UsageUpdate(Usage(output_tokens=30)),
        StreamEnd("tool_use", "tool_use", Usage(input_tokens=1200, output_tokens=42, cache_read_tokens=1000, reasoning_tokens=9)),
    ]  # fmt: skip


async def test_sdk_accumulates_the_encoded_stream() -> None:
    seen: dict[str, str] = {}
    enc = fmt.stream_encoder(ir_request())
    payload = b"".join(enc.feed(ev) for ev in full_stream())

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update({k.lower(): v for k, v in request.headers.items()})
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (payload[i : i + 37] for i in range(0, len(payload), 37)):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        async with client.messages.stream(
            model="m", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            msg = await s.get_final_message()
        await client.close()
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert (msg.content[0].thinking, msg.content[0].signature) == ("Need the file.", "sig-abc")  # type: ignore[union-attr]
    assert msg.content[1].text == "Reading it."  # type: ignore[union-attr]
    tool = msg.content[2]
    assert (tool.id, tool.input) == (for_anthropic("call:odd/id"), {"file_path": "a.py"})  # type: ignore[union-attr]
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (
        200,
        1000,
        42,
    )
    # What the SDK sends a server: the headers detour must accept inbound.
    assert seen.get("authorization") == "Bearer x" or seen.get("x-api-key") == "x"
    assert seen.get("anthropic-version")
    print(
        "SDK headers:",
        {k: v for k, v in seen.items() if k in ("authorization", "x-api-key", "anthropic-version")},
    )


async def test_sdk_parses_the_encoded_response_and_errors() -> None:
    resp = Response(
        "msg_y", "claude-opus-4-8",
        [ThinkingPart("", opaque=Opaque("anthropic", "R3d"), redacted="R3d"), TextPart("Hi."),
         ToolCallPart("c1", "f", "not json")],
        "tool_use", usage=Usage(input_tokens=50, output_tokens=5, cache_write_tokens=20),
    )  # fmt: skip
    answers: list[tuple[int, Any, dict[str, str]]] = [
        (200, fmt.encode_response(resp, ir_request()), {}),
        (429, fmt.encode_error(ApiError(429, "rate_limit", "slow down")), {"retry-after": "0"}),
        (529, fmt.encode_error(ApiError(529, "overloaded", "busy")), {}),
        (402, fmt.encode_error(ApiError(402, "budget_exceeded", "daily budget spent")), {}),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body, headers = answers.pop(0)
        return web.json_response(body, status=status, headers=headers)

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        kw: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        msg = await client.messages.create(**kw)
        assert [b.type for b in msg.content] == ["redacted_thinking", "text", "tool_use"]
        assert msg.content[2].input == {"_raw": "not json"}  # type: ignore[union-attr]
        assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens) == (30, 20)
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(**kw)
        with pytest.raises(anthropic.APIStatusError) as e:
            await client.messages.create(**kw)
        assert e.value.status_code == 529
        with pytest.raises(anthropic.APIStatusError) as e:
            await client.messages.create(**kw)
        assert e.value.status_code == 402 and "daily budget spent" in str(e.value)
        await client.close()


async def test_sdk_raises_the_encoded_in_stream_error() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = enc.feed(full_stream()[0]) + enc.error(ApiError(529, "overloaded", "Overloaded"))

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, content_type="text/event-stream")

    async with serving(handler) as url:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as e:
            async with client.messages.stream(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as s:
                await s.get_final_message()
        await client.close()
    assert "overloaded_error" in str(e.value)
