"""The Anthropic and Gemini fakes script a web search in each provider's real wire shape,
streamed and whole, only when the request offered the search tool; detour's decoders read it."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp
import orjson
import pytest

from daemon.formats import anthropic, gemini
from daemon.formats.sse import SSEParser
from daemon.ir import Message, Request, Response, TextPart, WebSearchPart, WebSource
from daemon.providers.profiles import profile_of
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, FakeUpstream
from tests.fakes.gemini import FakeGemini
from tests.formats.anthropic.samples import assemble
from tests.formats.whole import decode as decode_whole

PAGES = [("https://a.example/t", "Tides"), ("https://b.example/m", "Moon")]
ANSWER = Answer(text="High tide 14:05.", web_search=("tides Brest", PAGES))
MODEL = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
FORMAT: dict[str, Any] = {"anthropic": anthropic, "gemini": gemini}


async def _ask(fake: FakeUpstream, fmt: str, req: Request) -> tuple[int, Response | bytes]:
    codec = FORMAT[fmt]
    body = codec.encode_request(req, MODEL[fmt], profile_of(fmt, MODEL[fmt]))
    if fmt == "anthropic":
        url, headers = fake.url + "/v1/messages", {"x-api-key": fake.key, "anthropic-version": "2023-06-01"}  # type: ignore[attr-defined]
    else:
        method = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        url, headers = f"{fake.url}/v1beta/models/{MODEL[fmt]}:{method}", {"x-goog-api-key": fake.key}  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as r:
        raw = await r.read()
    if r.status != 200:
        return r.status, raw
    if not req.stream:
        return 200, decode_whole(codec, orjson.loads(raw), req)
    dec = codec.stream_decoder(req)
    frames = SSEParser().feed(raw)
    return 200, assemble([ev for f in frames for ev in dec.feed(f.event, orjson.loads(f.data))] + dec.close())


def _request(**kw: Any) -> Request:
    return Request(model="m", messages=[Message("user", [TextPart("When is high tide in Brest?")])], **kw)


@pytest.mark.parametrize("fmt", ["anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
async def test_fake_renders_a_search_only_when_offered(fmt: str, stream: bool) -> None:
    fake: FakeUpstream = FakeAnthropic() if fmt == "anthropic" else FakeGemini()
    await fake.start()
    try:
        fake.script += [copy.deepcopy(ANSWER), copy.deepcopy(ANSWER)]
        status, resp = await _ask(fake, fmt, _request(web_search=True, stream=stream))
        assert status == 200 and isinstance(resp, Response)
        search = next(p for p in resp.parts if isinstance(p, WebSearchPart))
        assert (search.query, search.sources) == ("tides Brest", [WebSource(u, t) for u, t in PAGES])
        assert [p for p in resp.parts if isinstance(p, TextPart)] == [TextPart("High tide 14:05.")]
        _, plain = await _ask(fake, fmt, _request(stream=stream))
        assert isinstance(plain, Response) and plain.parts == [TextPart("High tide 14:05.")]
    finally:
        await fake.close()


async def test_anthropic_fake_refuses_search_results_it_did_not_issue() -> None:
    fake = await FakeAnthropic().start()
    try:
        fake.script.append(copy.deepcopy(ANSWER))
        _, first = await _ask(fake, "anthropic", _request(web_search=True))
        assert isinstance(first, Response)
        search = first.parts[0]
        assert isinstance(search, WebSearchPart) and search.opaque is not None
        search.opaque.blob = search.opaque.blob.replace("Eo8BCioIAhgB", "forged")
        history = _request(web_search=True)
        history.messages += [Message("assistant", first.parts), Message("user", [TextPart("next?")])]
        status, raw = await _ask(fake, "anthropic", history)
        assert status == 400 and b"encrypted_content" in raw  # type: ignore[operator]
    finally:
        await fake.close()
