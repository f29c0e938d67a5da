"""The official openai SDK reads what the encoders write, whole and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import openai
from aiohttp import web

from daemon.formats import openai_responses as fmt
from daemon.ir import ApiError
from tests.formats.openai_responses.samples import full_stream, ir_request


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/responses", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def streaming(payload: bytes) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for piece in (payload[i : i + 37] for i in range(0, len(payload), 37)):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    return handler


async def test_sdk_stream_helper_reads_every_event() -> None:
    enc = fmt.stream_encoder(ir_request())
    async with serving(streaming(b"".join(enc.feed(ev) for ev in full_stream()))) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        async with client.responses.stream(model="m", input="hi") as s:
            deltas = [ev.delta async for ev in s if ev.type == "response.output_text.delta"]
            final = await s.get_final_response()
        await client.close()
    assert deltas == ["Reading it."]
    kinds = [o.type for o in final.output]
    assert kinds == ["reasoning", "message", "function_call"]
    call = final.output[2]
    assert call.type == "function_call" and call.arguments == '{"cmd":"cat a"}' and call.call_id == "call_9"
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "dtr1.up-anthropic.sig"
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 4


async def test_sdk_raises_on_failed_stream() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = b"".join(enc.feed(ev) for ev in full_stream()[:8]) + enc.error(
        ApiError(529, "overloaded", "gone")
    )
    async with serving(streaming(payload)) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        async with client.responses.stream(model="m", input="hi") as s:
            events = [ev async for ev in s]
        await client.close()
    assert [ev.type for ev in events[-2:]] == ["error", "response.failed"]
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    assert failed.response.error.message == "gone"


async def test_sdk_reads_the_error_shape() -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        body = fmt.encode_error(ApiError(404, "not_found", "Response with id 'resp_x' not found."))
        return web.json_response(body, status=404)

    async with serving(refuse) as url:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        try:
            await client.responses.create(model="m", input="hi")
        except openai.NotFoundError as e:
            assert "resp_x" in e.message
        else:
            raise AssertionError("a 404 must raise")
        await client.close()
