"""The fake Responses upstream refuses what the real API refuses, so outbound tests mean something."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes.openai_responses import FakeOpenAIResponses


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "No tool call found"),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "forged"}]},
         "could not be verified"),
        ({"input": "x", "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools[0].name"),
        ({"input": "x", "max_tokens": 5}, "Unknown parameter"),
    ],
)  # fmt: skip
async def test_refuses_invalid(body: dict[str, object], fragment: str) -> None:
    fake = await FakeOpenAIResponses(key="k").start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                fake.url + "/v1/responses",
                json={"model": "gpt-5", **body},
                headers={"authorization": "Bearer k"},
            ) as r:
                assert r.status == 400
                assert fragment in (await r.json())["error"]["message"]
    finally:
        await fake.close()
