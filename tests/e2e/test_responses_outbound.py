"""An ``openai`` provider with ``api = "responses"``: clients of every format through /v1/responses,
OpenAI's encrypted reasoning kept between turns whatever format the client speaks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.clients import CLIENTS
from tests.e2e.test_conversation_failover import Conversation
from tests.fakes.base import Answer, ToolCall
from tests.fakes.openai_responses import FakeOpenAIResponses

KEY = "sk-proj-TESTKEY-responses-dddddddddd"


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeOpenAIResponses, Daemon]]:
    fake = await FakeOpenAIResponses(key=KEY).start()
    monkeypatch.setenv("DETOUR_TEST_KEY_RESPONSES", KEY)
    config = f"""
[providers.up-responses]
kind = "openai"
api = "responses"
base_url = "{fake.url}/v1"
api_key_env = "DETOUR_TEST_KEY_RESPONSES"

[[routes]]
name = "via-responses"
chain = ["up-responses/gpt-5"]
"""
    daemon = await start_daemon(config)
    yield fake, daemon
    await daemon.close()
    await fake.close()


@pytest.mark.parametrize("client_format", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_goes_back_to_openai(
    upstream: tuple[FakeOpenAIResponses, Daemon], client_format: str, stream: bool
) -> None:
    fake, daemon = upstream
    fake.script.append(
        Answer(
            text=None,
            thinking="Need the weather tool.",
            tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
        )
    )
    fake.script.append(Answer(text="Paris is 18C."))
    client = CLIENTS[client_format](daemon.url, daemon.token)
    try:
        extra = {"openai": {"reasoning_effort": "medium"}}.get(client_format)
        conv = Conversation(client, "via-responses", stream, extra)
        first = await conv.say("Weather in Paris?")
        assert [(c.name, c.args) for c in first.calls] == [("get_weather", {"city": "Paris"})]
        second = await conv.answer(first, "18C")
        assert second.text == "Paris is 18C."
    finally:
        await client.close()
    sent = fake.last.body
    assert fake.last.path == "/v1/responses" and sent["store"] is False
    kinds = [i.get("type", "message") for i in sent["input"]]
    if client_format == "openai":
        # Chat Completions carries no reasoning back: nothing to return, and nothing invalid sent.
        assert "reasoning" not in kinds
    else:
        reasoning = next(i for i in sent["input"] if i.get("type") == "reasoning")
        assert reasoning["encrypted_content"] in fake.issued
    assert kinds[-2:] == ["function_call", "function_call_output"]
    assert json.loads(sent["input"][-2]["arguments"]) == {"city": "Paris"}
