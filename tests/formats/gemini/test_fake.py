"""The fake Gemini upstream judges the encoder's output the way the real API does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from daemon import ir
from daemon.formats import gemini
from daemon.formats.gemini_stream import SKIP_SIGNATURE
from daemon.formats.sse import SSEParser
from daemon.providers.profiles import profile_of
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall
from tests.fakes.gemini import FakeGemini
from tests.formats.gemini.samples import SIG, TEXT, assemble, events_of, foreign_request, user
from tests.formats.whole import decode as decode_whole

KEY = "AIzaSyTEST-gemini"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    f = await FakeGemini(key=KEY).start()
    yield f
    await f.close()


async def post(
    fake: FakeGemini, model: str, body: Any, *, stream: bool = False, key: str = KEY
) -> tuple[int, Any, bytes]:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{fake.url}/v1beta/models/{model}:{method}", json=body, headers={"x-goog-api-key": key}) as r,
    ):
        raw = b""
        try:
            async for chunk in r.content.iter_any():
                raw += chunk
        except aiohttp.ClientPayloadError:
            pass  # the upstream cut the stream: what came before is what there is
        return r.status, (None if stream and r.status == 200 else orjson.loads(raw)), raw


def stream_answer(raw: bytes, req: ir.Request) -> ir.Response:
    parser = SSEParser()
    dec = gemini.stream_decoder(req)
    events = [ev for f in parser.feed(raw) + parser.close() for ev in dec.feed(f.event, orjson.loads(f.data))]
    return assemble(events + dec.close())


def tool_turn() -> ir.Request:
    req = foreign_request()
    req.messages[-1].parts.pop()  # the turn is still open: the model turn before is validated
    return req


async def test_fake_accepts_our_request_and_its_stream_decodes(fake: FakeGemini) -> None:
    model = "gemini-3-pro-preview"
    fake.script.append(
        Answer(
            text="Checking both.",
            thinking="Paris first.",
            tool_calls=[ToolCall("get_weather", {"city": "Oslo"})],
            chunks=3,
            output_tokens=20,
            reasoning_tokens=5,
        )
    )
    req = tool_turn()
    status, _, raw = await post(
        fake, model, gemini.encode_request(req, model, profile_of("gemini", model)), stream=True
    )
    assert status == 200, raw
    assert b"\r\n\r\n" in raw  # CRLF-framed like the real thing
    sent = fake.last.body
    assert sent["contents"][1]["parts"][1]["thoughtSignature"] == SKIP_SIGNATURE
    assert fake.last.headers["x-goog-api-key"] == KEY and fake.last.query == {"alt": "sse"}
    resp = stream_answer(raw, req)
    thinking, text, call = resp.parts
    assert thinking == ir.ThinkingPart("Paris first.") and text == ir.TextPart("Checking both.")
    assert isinstance(call, ir.ToolCallPart) and (call.name, orjson.loads(call.arguments)) == (
        "get_weather",
        {"city": "Oslo"},
    )
    assert call.opaque is not None and call.opaque.format == "gemini"
    assert (resp.finish, resp.usage) == (
        "tool_use",
        ir.Usage(input_tokens=12, output_tokens=20, reasoning_tokens=5),
    )

    # The next request carries the fake's own signature back on the call; the fake checks it.
    req.messages += [
        ir.Message("assistant", list(resp.parts)),
        user(ir.ToolResultPart(call.id, [ir.TextPart("-3C")])),
    ]
    fake.script.append(Answer(text="Oslo is cold."))
    status, body, _ = await post(fake, model, gemini.encode_request(req, model, profile_of("gemini", model)))
    assert status == 200, body
    sent_call = fake.last.body["contents"][3]["parts"][-1]
    assert sent_call["thoughtSignature"] == call.opaque.blob
    answer = decode_whole(gemini, body, req)
    assert (answer.parts, answer.finish) == ([ir.TextPart("Oslo is cold.")], "end")


async def test_fake_accepts_renamed_mcp_tools(fake: FakeGemini) -> None:
    tool = ir.Tool(
        "mcp__fs__read",
        "Read",
        {
            "$schema": "x",
            "type": "object",
            "properties": {"file-path": {"type": "string"}},
            "additionalProperties": False,
        },
    )
    req = ir.Request(
        model="m",
        messages=[user(ir.TextPart("read it"))],
        tools=[tool, ir.Tool("noop", None, {"type": "object", "properties": {}})],
    )
    fake.script.append(Answer(text=None, tool_calls=[ToolCall("mcp__fs__read", {"file_path": "a.txt"})]))
    status, body, _ = await post(
        fake,
        "gemini-2.5-flash",
        gemini.encode_request(req, "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash")),
    )
    assert status == 200, body
    (call,) = decode_whole(gemini, body, req).parts
    assert orjson.loads(call.arguments) == {"file-path": "a.txt"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (
            "gemini-2.5-flash",
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role",
        ),
        ("gemini-2.5-flash", {"contents": [{"parts": [{"text": ""}]}]}, "empty text parameter"),
        (
            "gemini-2.5-flash",
            {"contents": [TEXT], "generationConfig": {"maxTokens": 5}},
            "Unknown name \"maxTokens\" at 'generation_config'",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"a": {"type": "string"}},
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}
                        ]
                    }
                ],
            },
            "should be non-empty for OBJECT type",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parametersJsonSchema": {"type": "object", "properties": {"file-path": {}}},
                            }
                        ]
                    }
                ],
            },
            "property name 'file-path'",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}},
                            {"functionCall": {"name": "f", "args": {}}},
                        ],
                    },
                    {"parts": [{"functionResponse": {"name": "f", "response": {}}}]},
                ]
            },
            "number of function response parts",
        ),
        (
            "gemini-2.5-flash",
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}]},
            "comes immediately after a user turn",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    {"parts": [{"functionResponse": {"name": "f", "response": {}}}]},
                ]
            },
            "missing a thought_signature",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "dtr1.x.y"}
                        ],
                    },
                ]
            },
            "Base64 decoding failed",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG}],
                    },
                ]
            },
            "Corrupted thought signature",
        ),
        (
            "gemini-2.5-pro",
            {"contents": [TEXT], "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
            "Thinking level is not supported",
        ),
        ("gemini-2.5-flash", {"contents": [TEXT], "generationConfig": {"temperature": 2.5}}, "temperature"),
    ],
)
async def test_fake_validates_like_the_real_api(
    fake: FakeGemini, model: str, body: dict[str, Any], message: str
) -> None:
    status, answer, _ = await post(fake, model, body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
    assert message in answer["error"]["message"]
    assert gemini.decode_error(status, answer, {}).kind == "invalid_request"


async def test_fake_auth_faults_and_broken_streams(fake: FakeGemini) -> None:
    body = {"contents": [TEXT]}
    status, answer, _ = await post(fake, "gemini-2.5-flash", body, key="wrong")
    assert status == 401 and gemini.decode_error(status, answer, {}).kind == "authentication"

    fake.script.append(
        Fault(429, "Resource has been exhausted (e.g. check quota).", headers={"retry-after": "3"})
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}", json=body) as r,
    ):
        err = gemini.decode_error(r.status, await r.json(), r.headers)
    assert (err.kind, err.retry_after_s) == ("rate_limit", 3.0)

    req = ir.Request(model="gemini-2.5-flash", messages=[user(ir.TextPart("x"))])
    fake.script.append(Answer(text="abcdefgh", chunks=4, fault=StreamFault(after_frames=2, action="cut")))
    _, _, raw = await post(fake, "gemini-2.5-flash", body, stream=True)
    with pytest.raises(ir.ApiError, match="cut before its finishReason"):
        stream_answer(raw, req)

    fake.script.append(
        Answer(text="abcdefgh", chunks=4, fault=StreamFault(after_frames=1, action="error", status=503))
    )
    _, _, raw = await post(fake, "gemini-2.5-flash", body, stream=True)
    with pytest.raises(ir.ApiError) as caught:
        stream_answer(raw, req)
    assert (caught.value.status, caught.value.kind) == (503, "overloaded")


async def test_fake_stream_without_alt_sse_is_an_array(fake: FakeGemini) -> None:
    fake.script.append(Answer(text="in an array", chunks=2))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{fake.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            json={"contents": [TEXT]},
            headers={"x-goog-api-key": KEY},
        ) as r,
    ):
        chunks = await r.json()
    req = ir.Request(model="gemini-2.5-flash", messages=[])
    assert assemble(events_of([chunks], req)).parts == [ir.TextPart("in an array")]


async def test_fake_count_tokens_v1_path_and_real_auth_codes() -> None:
    fake = await FakeGemini(key=KEY, real_auth_codes=True).start()
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{fake.url}/v1/models/gemini-2.5-flash:countTokens",
                json={"contents": [TEXT]},
                headers={"x-goog-api-key": KEY},
            ) as r:
                assert r.status == 200 and (await r.json())["totalTokens"] > 0
            async with s.post(url, json={"contents": [TEXT]}) as r:
                err = gemini.decode_error(r.status, await r.json(), r.headers)
                assert (err.status, err.kind) == (403, "permission")
            async with s.post(url, json={"contents": [TEXT]}, headers={"x-goog-api-key": "AIza-wrong"}) as r:
                err = gemini.decode_error(r.status, await r.json(), r.headers)
                assert (err.status, err.kind, err.message) == (
                    400,
                    "authentication",
                    "API key not valid. Please pass a valid API key.",
                )
    finally:
        await fake.close()
