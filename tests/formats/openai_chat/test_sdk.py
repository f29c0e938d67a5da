"""The official openai SDK reads what the encoders write, plain and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from aiohttp import web

from daemon.formats import openai_chat as fmt
from daemon.ir import (
    ApiError,
    PartEnd,
    PartStart,
    Response,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from tests.formats.openai_chat.samples import full_stream, ir_request


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def streaming(
    payload: bytes, seen: list[Any] | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append((dict(request.headers), await request.json()))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (payload[i : i + 41] for i in range(0, len(payload), 41)):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    return handler


TOOLS = [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}}},
         {"type": "function", "function": {"name": "Bash", "parameters": {"type": "object", "properties": {}}}}]  # fmt: skip


async def test_sdk_stream_helper_accumulates_tool_calls() -> None:
    enc = fmt.stream_encoder(ir_request())
    seen: list[Any] = []
    async with serving(streaming(b"".join(enc.feed(ev) for ev in full_stream()), seen)) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        async with client.chat.completions.stream(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            tools=TOOLS,  # type: ignore[list-item]
        ) as s:
            done = await s.get_final_completion()
        await client.close()
    msg = done.choices[0].message
    assert msg.content == "Reading it.\n\nAnd tests."
    calls = msg.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("toolu_01", "Read", '{"file_path": "a.py"}'), ("toolu_02", "Bash", "{}")]  # fmt: skip
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (1200, 42)
    assert done.usage.prompt_tokens_details.cached_tokens == 1000  # type: ignore[union-attr]
    assert getattr(msg, "reasoning_content", None) == "Need the file."
    headers, body = seen[0]
    assert headers.get("Authorization") == "Bearer x" and body["stream"] is True
    assert fmt.decode_request(body).stream


async def test_sdk_create_stream_reads_every_chunk() -> None:
    enc = fmt.stream_encoder(ir_request())
    events = [StreamStart("abc", "gpt-x"), PartStart(0, TextPart("")), TextDelta(0, "Hi"), PartEnd(0),
              StreamEnd("length", None, Usage(input_tokens=3, output_tokens=1))]  # fmt: skip
    async with serving(streaming(b"".join(enc.feed(ev) for ev in events))) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [c async for c in stream]
        await client.close()
    assert {c.id for c in chunks} == {"chatcmpl-abc"}
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["", "Hi", None]
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4


async def test_sdk_parses_the_encoded_response_and_errors() -> None:
    resp = Response("msg_y", "claude-opus-4-8", [ThinkingPart("hm"), TextPart("Hi."), ToolCallPart("c1", "f", "not json")],
                    "tool_use", "tool_use", Usage(input_tokens=50, output_tokens=5, cache_write_tokens=20))  # fmt: skip
    answers: list[tuple[int, Any, dict[str, str]]] = [
        (200, fmt.encode_response(resp, ir_request()), {}),
        (429, fmt.encode_error(ApiError(429, "rate_limit", "slow down")), {"retry-after": "0"}),
        (402, fmt.encode_error(ApiError(402, "budget_exceeded", "daily budget spent")), {}),
        (400, fmt.encode_error(ApiError(400, "context_too_long", "too long")), {}),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body, headers = answers.pop(0)
        return web.json_response(body, status=status, headers=headers)

    async with serving(handler) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        kw: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        done = await client.chat.completions.create(**kw)
        msg = done.choices[0].message
        assert (msg.content, msg.tool_calls[0].function.arguments) == ("Hi.", "not json")  # type: ignore[index, union-attr]
        assert done.choices[0].finish_reason == "tool_calls"
        assert done.usage.prompt_tokens_details.cache_write_tokens == 20  # type: ignore[union-attr]
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(**kw)
        with pytest.raises(openai.APIStatusError) as e:
            await client.chat.completions.create(**kw)
        assert e.value.status_code == 402 and "daily budget spent" in str(e.value)
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(**kw)
        assert bad.value.code == "context_length_exceeded"
        await client.close()


async def test_sdk_raises_the_encoded_in_stream_error() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = enc.feed(full_stream()[0]) + enc.error(ApiError(503, "overloaded", "upstream busy"))
    async with serving(streaming(payload)) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(openai.APIError) as e:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for _ in stream:
                pass
        await client.close()
    assert "upstream busy" in str(e.value)
