"""A Responses ``web_search`` run by the provider itself (Anthropic's server web search
tool, Gemini's Google Search grounding) comes back to the openai SDK as ``web_search_call``
items, and Anthropic gets its own search blocks back verbatim in the next turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import ResponseFunctionWebSearch

from tests.e2e.conftest import ROUTE, World
from tests.fakes.base import Answer

PAGES = [("https://example.org/tides", "Tide tables"), ("https://example.net/moon", "The moon and tides")]
SEARCH = ("high tide Brest today", PAGES)
UPSTREAMS = ("anthropic", "gemini")


@pytest.fixture
async def client(world: World) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=world.daemon.url + "/v1", api_key=world.daemon.token, max_retries=0)
    yield sdk
    await sdk.close()


async def _ask(client: openai.AsyncOpenAI, model: str, stream: bool, **kw: Any) -> tuple[Any, list[str]]:
    """The final response, and the stream's event types (none when not streamed)."""
    if not stream:
        return await client.responses.create(model=model, tools=[{"type": "web_search"}], **kw), []
    async with client.responses.stream(model=model, tools=[{"type": "web_search"}], **kw) as s:
        kinds = [ev.type async for ev in s]
        return await s.get_final_response(), kinds


@pytest.mark.parametrize("up", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True])
async def test_web_search_call_item(world: World, client: openai.AsyncOpenAI, up: str, stream: bool) -> None:
    world.fakes[up].script.append(Answer(text="High tide is at 14:05.", web_search=SEARCH))
    resp, kinds = await _ask(client, ROUTE[up], stream, input="When is high tide in Brest?")
    searches = [o for o in resp.output if o.type == "web_search_call"]
    assert len(searches) == 1
    call = searches[0]
    assert isinstance(call, ResponseFunctionWebSearch) and call.id.startswith("ws_")
    assert call.status == "completed" and call.action.type == "search"
    assert call.action.query == "high tide Brest today"
    assert [s.url for s in call.action.sources or []] == [url for url, _ in PAGES]
    assert resp.output_text == "High tide is at 14:05."
    if stream:
        at = kinds.index("response.web_search_call.in_progress")
        assert kinds[at - 1 : at + 4] == [
            "response.output_item.added",
            "response.web_search_call.in_progress",
            "response.web_search_call.searching",
            "response.web_search_call.completed",
            "response.output_item.done",
        ]


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_gets_its_search_blocks_back(
    world: World, client: openai.AsyncOpenAI, stream: bool
) -> None:
    fake = world.fakes["anthropic"]
    fake.script += [Answer(text="High tide is at 14:05.", web_search=SEARCH), Answer(text="Around 20:20.")]
    first, _ = await _ask(client, ROUTE["anthropic"], stream, input="When is high tide in Brest?")
    # The blocks ride in a reasoning item of detour's, for clients that send the items back.
    assert [o.type for o in first.output] == ["web_search_call", "reasoning", "message"]
    issued = fake.searches[-1]  # as the fake rendered them, encrypted page content and all
    second, _ = await _ask(
        client, ROUTE["anthropic"], stream, input="And the next one?", previous_response_id=first.id
    )
    assert second.output_text == "Around 20:20."
    sent = fake.last.body["messages"][1]["content"]
    assert sent[:2] == issued
    assert sent[2] == {"type": "text", "text": "High tide is at 14:05."}


@pytest.mark.parametrize("stream", [False, True])
async def test_blocks_come_back_from_a_client_that_keeps_its_own_history(
    world: World, client: openai.AsyncOpenAI, stream: bool
) -> None:
    """``store: false``, as Codex sends: the client echoes the output items, and Anthropic still
    gets its blocks back verbatim."""
    fake = world.fakes["anthropic"]
    fake.script += [Answer(text="High tide is at 14:05.", web_search=SEARCH), Answer(text="Around 20:20.")]
    history: list[Any] = [{"role": "user", "content": "When is high tide in Brest?"}]
    first, _ = await _ask(client, ROUTE["anthropic"], stream, input=history, store=False)
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"role": "user", "content": "And the next one?"})
    second, _ = await _ask(client, ROUTE["anthropic"], stream, input=history, store=False)
    assert second.output_text == "Around 20:20."
    assert fake.last.body["messages"][1]["content"][:2] == fake.searches[-1]


async def test_another_provider_gets_the_text_only(world: World, client: openai.AsyncOpenAI) -> None:
    """A search Anthropic ran, continued at Gemini: Gemini gets the answer's text, no blocks."""
    world.fakes["anthropic"].script.append(Answer(text="High tide is at 14:05.", web_search=SEARCH))
    world.fakes["gemini"].script.append(Answer(text="Around 20:20."))
    first, _ = await _ask(client, ROUTE["anthropic"], False, input="When is high tide in Brest?")
    await _ask(client, ROUTE["gemini"], False, input="And the next one?", previous_response_id=first.id)
    model_turn = world.fakes["gemini"].last.body["contents"][1]
    assert model_turn == {"role": "model", "parts": [{"text": "High tide is at 14:05."}]}


class Tide(pydantic.BaseModel):
    time: str


@pytest.mark.parametrize("up", UPSTREAMS)
async def test_parse_takes_the_search_item(world: World, client: openai.AsyncOpenAI, up: str) -> None:
    world.fakes[up].script.append(Answer(json={"time": "14:05"}, web_search=SEARCH))
    resp = await client.responses.parse(
        model=ROUTE[up], input="High tide in Brest?", tools=[{"type": "web_search"}], text_format=Tide
    )
    assert resp.output_parsed == Tide(time="14:05")
    call = next(o for o in resp.output if o.type == "web_search_call")
    assert call.action.type == "search" and call.action.query == SEARCH[0]
