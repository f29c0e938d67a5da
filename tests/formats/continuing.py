"""Each format's fake, called the way detour calls it, for the continuation tests: post a
body (streamed), read back the answer text and thinking that came out, in order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeUpstream
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI
from tests.fakes.openai_responses import FakeOpenAIResponses

KEY = "sk-test-continuation-key"


@dataclass(frozen=True)
class Wire:
    """One outbound format: its fake, the path a model streams at, and the auth it takes."""

    name: str
    make: Callable[[], FakeUpstream]
    path: Callable[[str], str]
    headers: dict[str, str]

    @asynccontextmanager
    async def fake(self) -> AsyncIterator[FakeUpstream]:
        fake = await self.make().start()
        try:
            yield fake
        finally:
            await fake.close()


WIRES = {
    "anthropic": Wire(
        "anthropic",
        lambda: FakeAnthropic(key=KEY),
        lambda _model: "/v1/messages",
        {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    ),
    "openai_chat": Wire(
        "openai_chat",
        lambda: FakeOpenAI(key=KEY),
        lambda _model: "/v1/chat/completions",
        {"authorization": f"Bearer {KEY}"},
    ),
    "openai_responses": Wire(
        "openai_responses",
        lambda: FakeOpenAIResponses(key=KEY),
        lambda _model: "/v1/responses",
        {"authorization": f"Bearer {KEY}"},
    ),
    "gemini": Wire(
        "gemini",
        lambda: FakeGemini(key=KEY),
        lambda model: f"/v1beta/models/{model}:streamGenerateContent?alt=sse",
        {"x-goog-api-key": KEY},
    ),
}


async def post(wire: Wire, fake: FakeUpstream, model: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """POST ``body`` to the fake; (status, raw body). A stream cut short reads as far as it got."""
    raw = b""
    async with (
        aiohttp.ClientSession() as s,
        s.post(fake.url + wire.path(model), json=body, headers=wire.headers) as r,
    ):
        try:
            async for chunk in r.content.iter_any():
                raw += chunk
        except aiohttp.ClientPayloadError:
            pass  # a cut: what came before it is the answer so far
        return r.status, raw


def answered(fake: FakeUpstream, raw: bytes) -> str:
    """The answer text and thinking a stream carried, in order (its frames' answer spots)."""
    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                continue
            out += [obj[key] for obj, key in fake.answer_spots(data)]
    return "".join(out)
