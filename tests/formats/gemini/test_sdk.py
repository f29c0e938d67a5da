"""The official google-genai SDK reads what the encoders write, plain and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from google import genai
from google.genai import types as gtypes

from daemon import ir
from daemon.formats import gemini
from daemon.providers import reasoning
from tests.formats.gemini.samples import REQ, stream_events, weather_tool


class Scripted:
    """A local server that answers each request with the next scripted bytes or JSON and keeps what came."""

    def __init__(self) -> None:
        self.replies: list[bytes | dict[str, Any]] = []
        self.bodies: list[Any] = []
        self.paths: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        self.paths.append(request.path_qs)
        reply = self.replies.pop(0)
        if isinstance(reply, dict):
            return web.json_response(reply)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(reply)
        await resp.write_eof()
        return resp


@pytest.fixture
async def sdk() -> AsyncIterator[tuple[genai.Client, Scripted]]:
    scripted = Scripted()
    app = web.Application()
    # google-genai 3.x calls the stable `v1` path by default; v1beta is what other clients use.
    app.router.add_post("/v1beta/models/{tail}", scripted.handle)
    app.router.add_post("/v1/models/{tail}", scripted.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # Our own session: the SDK would otherwise subclass aiohttp.ClientSession, which aiohttp warns about.
    async with aiohttp.ClientSession() as session:
        options = gtypes.HttpOptions(base_url=f"http://127.0.0.1:{port}", aiohttp_client=session)
        client = genai.Client(api_key="x", http_options=options)
        yield client, scripted
        await client.aio.aclose()
    await runner.cleanup()


WRAPPED = "dtr1.up-anthropic.EqQBCgIYAhIM+sig/=="


TOOLS = [
    gtypes.Tool(
        function_declarations=[
            gtypes.FunctionDeclaration(
                name="get_weather",
                description="Get weather",
                parameters_json_schema=weather_tool().parameters,
            )
        ]
    )
]


async def test_sdk_reads_our_stream_and_sends_history_we_read_back(
    sdk: tuple[genai.Client, Scripted],
) -> None:
    client, scripted = sdk
    answer = ir.Response(
        id="msg_01",
        model="claude-sonnet-4-5",
        parts=[
            ir.ThinkingPart("Weather needs a tool.", opaque=ir.Opaque("gemini", WRAPPED)),
            ir.TextPart("Let me check."),
            ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
            ir.ToolCallPart("toolu_02", "get_weather", '{"city":"Rome"}'),
        ],
        finish="tool_use",
        usage=ir.Usage(20, 9, reasoning_tokens=4),
    )
    encoder = gemini.stream_encoder(REQ)
    scripted.replies.append(b"".join(encoder.feed(ev) for ev in stream_events(answer)))
    config = gtypes.GenerateContentConfig(tools=TOOLS, system_instruction="Be brief.")
    contents = [gtypes.Content(role="user", parts=[gtypes.Part(text="Weather in Paris and Rome?")])]
    parts: list[gtypes.Part] = []
    last = None
    async for chunk in await client.aio.models.generate_content_stream(
        model="via-gemini", contents=contents, config=config
    ):
        last = chunk
        if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
            parts += chunk.candidates[0].content.parts
    assert scripted.paths[0] == "/v1/models/via-gemini:streamGenerateContent?alt=sse"
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("toolu_01", "get_weather", {"city": "Paris"}),
        ("toolu_02", "get_weather", {"city": "Rome"}),
    ]  # type: ignore[union-attr]
    assert "".join(p.text or "" for p in parts if not p.thought) == "Let me check."
    assert last is not None and last.candidates[0].finish_reason == gtypes.FinishReason.STOP  # type: ignore[index]
    assert last.usage_metadata is not None and last.usage_metadata.thoughts_token_count == 4

    # The SDK sends the turn back as it kept it; detour reads it as the same conversation.
    contents.append(gtypes.Content(role="model", parts=parts))
    contents.append(
        gtypes.Content(
            role="user",
            parts=[
                gtypes.Part(
                    function_response=gtypes.FunctionResponse(
                        id=c.id, name=c.name, response={"output": f"{i}C"}
                    )
                )
                for i, c in enumerate(calls)
            ],
        )  # type: ignore[union-attr]
    )
    scripted.replies.append(
        gemini.encode_response(ir.Response(id="r2", model="m", parts=[ir.TextPart("Done.")]), REQ)
    )
    reply = await client.aio.models.generate_content(model="via-gemini", contents=contents, config=config)
    assert reply.candidates and reply.candidates[0].content and reply.candidates[0].content.parts
    assert reply.candidates[0].content.parts[0].text == "Done."
    req = reasoning.from_client(gemini.decode_request(scripted.bodies[1], model="via-gemini"))
    assert req.system == [ir.TextPart("Be brief.")]
    model_turn, results = req.messages[1], req.messages[2]
    assert model_turn.parts == [
        ir.ThinkingPart(
            "Weather needs a tool.", opaque=ir.Opaque(None, "EqQBCgIYAhIM+sig/==", "up-anthropic")
        ),
        ir.TextPart("Let me check."),
        ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
        ir.ToolCallPart("toolu_02", "get_weather", '{"city":"Rome"}'),
    ]
    assert [(r.call_id, r.content) for r in results.parts] == [
        ("toolu_01", [ir.TextPart("0C")]),
        ("toolu_02", [ir.TextPart("1C")]),
    ]  # type: ignore[union-attr]
    assert req.tools == [weather_tool()]


async def test_sdk_reads_our_plain_answer_and_error_frame(sdk: tuple[genai.Client, Scripted]) -> None:
    client, scripted = sdk
    answer = ir.Response(
        id="r1", model="gpt-4.1", parts=[ir.TextPart("Bonjour.")], usage=ir.Usage(5, 2, cache_read_tokens=1)
    )
    scripted.replies.append(gemini.encode_response(answer, REQ))
    reply = await client.aio.models.generate_content(model="via-openai", contents="Say hello")
    assert reply.text == "Bonjour."
    assert reply.usage_metadata is not None and (
        reply.usage_metadata.prompt_token_count,
        reply.usage_metadata.cached_content_token_count,
    ) == (5, 1)
    assert reply.response_id == "r1" and reply.model_version == "gpt-4.1"

    encoder = gemini.stream_encoder(REQ)
    head = b"".join(
        encoder.feed(ev)
        for ev in [ir.StreamStart("r2", "m"), ir.PartStart(0, ir.TextPart("")), ir.TextDelta(0, "Par")]
    )
    scripted.replies.append(
        head + encoder.error(ir.ApiError(503, "overloaded", "upstream overloaded mid-stream"))
    )
    seen = []
    with pytest.raises(genai.errors.APIError) as caught:
        async for chunk in await client.aio.models.generate_content_stream(model="m", contents="x"):
            seen.append(chunk.text)
    assert seen == ["Par"] and caught.value.code == 503 and "upstream overloaded" in str(caught.value.message)
