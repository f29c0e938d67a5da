"""The HTTP provider's time limits against a real (fake) upstream."""

from __future__ import annotations

import aiohttp
import pytest

from daemon.config import ProviderConfig
from daemon.ir import ApiError, Message, Request, TextPart
from daemon.keys import Secret
from daemon.providers.http import COVERED_TOKENS, HttpProvider, whole_answer_allowance
from tests.fakes.base import Answer, Slow
from tests.fakes.openai_chat import FakeOpenAI

KEY = "sk-fake-openai"


def ask(max_tokens: int | None) -> Request:
    return Request("gpt-4.1", [Message("user", [TextPart("write at length")])], max_tokens=max_tokens)


async def test_a_long_non_streamed_answer_is_not_taken_for_a_hang() -> None:
    fake = await FakeOpenAI(key=KEY).start()
    config = ProviderConfig(id="o", kind="openai", base_url=fake.url + "/v1", timeout_first_byte_s=0.3)
    try:
        async with aiohttp.ClientSession() as session:
            provider = HttpProvider(config, Secret(KEY), session, lambda s: s)
            # An answer of up to 8k tokens may take minutes: one that takes 0.6 s is fine...
            fake.script.append(Slow(0.6, Answer(text="a long essay")))
            resp = await provider.complete(ask(8192), "gpt-4.1")
            assert resp.parts == [TextPart("a long essay")]
            # ...while a short one that silent is a hang, failed over at the first-byte limit.
            fake.script.append(Slow(0.6, Answer(text="too late")))
            with pytest.raises(ApiError) as e:
                await provider.complete(ask(500), "gpt-4.1")
            assert e.value.cause == "timeout_first_byte"
    finally:
        await fake.close()


def test_the_allowance_grows_with_the_answer_asked_for() -> None:
    assert whole_answer_allowance(COVERED_TOKENS) == 0
    assert whole_answer_allowance(128_000 + COVERED_TOKENS) == pytest.approx(3600)
    assert whole_answer_allowance(None) > 0  # no limit said: the model's own, which is long
