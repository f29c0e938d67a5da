"""Conversation state detour keeps for Responses clients: ``previous_response_id`` across a
failover, the stored-response endpoints, restart survival, ``store: false``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from daemon.server.observe import BUS
from daemon.server.responses import STORE
from tests.daemon_harness import start_daemon
from tests.e2e.clients import WEATHER_TOOL
from tests.e2e.conftest import ROUTE, World, start_fakes, world_config
from tests.e2e.faults import FaultWorld, faults
from tests.fakes.base import Answer, Fault, ToolCall

__all__ = ["faults"]  # the fixture
TOOL: Any = {"type": "function", **WEATHER_TOOL}
PAIRS = [("anthropic", "gemini"), ("gemini", "openai"), ("openai", "anthropic")]


def sdk(url: str, token: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key=token, max_retries=0)


@pytest.fixture
async def client(world: World) -> AsyncIterator[openai.AsyncOpenAI]:
    c = sdk(world.daemon.url, world.daemon.token)
    yield c
    await c.close()


@pytest.mark.parametrize(("a", "b"), PAIRS)
@pytest.mark.parametrize("stream", [False, True])
async def test_three_turn_chain_fails_over_and_back(faults: FaultWorld, a: str, b: str, stream: bool) -> None:
    """Turn 1 at A (a tool call), turn 2 at B after A's 429 (the tool result, by id only),
    turn 3 back at A: each upstream gets the whole conversation, valid in its own format."""
    model = f"{a}-then-{b}"
    fa, fb = faults.fakes[a], faults.fakes[b]
    fa.script.append(Answer(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    fa.script.append(Fault(429, "slow down", {"retry-after": "1"}))
    fb.script.append(Answer(text="Paris is 18C."))
    fa.script.append(Answer(text="You asked about Paris."))
    c = sdk(faults.daemon.url, faults.daemon.token)

    async def ask(**kw: Any) -> Any:
        if stream:
            async with c.responses.stream(model=model, tools=[TOOL], **kw) as s:
                return await s.get_final_response()
        return await c.responses.create(model=model, tools=[TOOL], **kw)

    try:
        r1 = await ask(input="Weather in Paris?")
        call = next(o for o in r1.output if o.type == "function_call")
        r2 = await ask(
            previous_response_id=r1.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
        )
        assert r2.output_text == "Paris is 18C."
        sent_b = json.dumps(fb.last.body)
        assert "Weather in Paris?" in sent_b and "get_weather" in sent_b and "18C" in sent_b
        faults.clock.advance(1.5)
        r3 = await ask(previous_response_id=r2.id, input="What did I ask?")
        assert r3.output_text == "You asked about Paris."
        sent_a = json.dumps(fa.last.body)
        for piece in ("Weather in Paris?", "18C", "Paris is 18C.", "What did I ask?"):
            assert piece in sent_a
    finally:
        await c.close()


async def test_stored_endpoints(world: World, client: openai.AsyncOpenAI) -> None:
    r1 = await client.responses.create(model=ROUTE["anthropic"], input="Hello there")
    got = await client.responses.retrieve(r1.id)
    assert got.id == r1.id and got.output_text == r1.output_text
    items = await client.responses.input_items.list(r1.id)
    assert [i.type for i in items.data] == ["message"]
    r2 = await client.responses.create(model=ROUTE["gemini"], input="And again", previous_response_id=r1.id)
    items = await client.responses.input_items.list(r2.id, order="asc")
    texts = json.dumps([i.model_dump() for i in items.data])
    assert (
        texts.index("Hello there") < texts.index("Hello from the fake upstream.") < texts.index("And again")
    )
    count = await client.responses.input_tokens.count(
        model=ROUTE["gemini"], input="x", previous_response_id=r1.id
    )
    assert count.input_tokens > 0
    await client.responses.delete(r1.id)
    for call in (client.responses.retrieve(r1.id), client.responses.delete(r1.id)):
        with pytest.raises(openai.NotFoundError):
            await call


async def test_unknown_previous_id_is_404(world: World, client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model=ROUTE["openai"], input="hi", previous_response_id="resp_nope")
    body: Any = caught.value.body
    assert body["param"] == "previous_response_id" and "resp_nope" in body["message"]
    # Nothing was generated: at most the free count endpoint was asked what the prompt costs.
    assert [r.path for r in world.fakes["openai"].received if not r.path.endswith("/input_tokens")] == []


async def test_store_false_keeps_nothing(world: World, client: openai.AsyncOpenAI) -> None:
    store = world.daemon.runner.app[STORE]
    for stream in (False, True):
        if stream:
            async with client.responses.stream(model=ROUTE["gemini"], input="hi", store=False) as s:
                r = await s.get_final_response()
        else:
            r = await client.responses.create(model=ROUTE["gemini"], input="hi", store=False)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(r.id)
    assert await store.count() == 0
    await client.responses.create(model=ROUTE["gemini"], input="hi")
    assert await store.count() == 1


async def test_state_survives_restart(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    fakes = await start_fakes(monkeypatch)
    try:
        daemon = await start_daemon(world_config(fakes), data_dir=tmp_path)
        async with sdk(daemon.url, daemon.token) as c:
            r1 = await c.responses.create(model=ROUTE["anthropic"], input="Remember 42")
        await daemon.close()
        daemon = await start_daemon(world_config(fakes), data_dir=tmp_path)
        async with sdk(daemon.url, daemon.token) as c:
            await c.responses.create(model=ROUTE["openai"], input="What number?", previous_response_id=r1.id)
        await daemon.close()
        assert "Remember 42" in json.dumps(fakes["openai"].last.body)
    finally:
        for f in fakes.values():
            await f.close()


SEARCH_AT = {
    "anthropic": ("web_search ran as Anthropic's web search tool", {"type": "web_search_20250305"}),
    "gemini": ("web_search ran as Google Search grounding", {"googleSearch": {}}),
    "openai": ("removed built-in tool web_search", None),  # Chat Completions has no tool for it
}


@pytest.mark.parametrize("up", ["anthropic", "gemini", "openai"])
async def test_builtin_tools_mapped_or_removed_and_said(world: World, up: str) -> None:
    tools = [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}, TOOL]
    body = {"model": ROUTE[up], "input": "Search the news", "tools": tools}
    said, native = SEARCH_AT[up]
    events: list[Any] = []
    world.daemon.runner.app[BUS].listen(events.append)
    async with aiohttp.ClientSession() as http:
        for stream in (False, True):
            async with http.post(
                world.daemon.url + "/v1/responses",
                json={**body, "stream": stream},
                headers=world.daemon.auth(),
            ) as r:
                assert r.status == 200
                assert r.headers["x-detour-adapted"] == f"{said}; removed built-in tool file_search"
                await r.read()
    changes = [e["changes"] for e in events if e["type"] == "adapted"]
    assert changes == [[said, "removed built-in tool file_search"]] * 2
    sent = json.dumps(world.fakes[up].last.body)
    assert "get_weather" in sent and "file_search" not in sent and "vs_1" not in sent
    if native is None:
        assert "web_search" not in sent
    else:
        assert json.dumps(native)[1:-1] in sent


async def test_developer_input_carries_over_instructions_do_not(
    world: World, client: openai.AsyncOpenAI
) -> None:
    first: Any = [
        {"role": "developer", "content": "Always answer in French."},
        {"role": "user", "content": "Hello"},
    ]
    r1 = await client.responses.create(
        model=ROUTE["anthropic"], input=first, instructions="Old instructions."
    )
    await client.responses.create(
        model=ROUTE["anthropic"], input="Again", instructions="New instructions.", previous_response_id=r1.id
    )
    sent = world.fakes["anthropic"].last.body
    system = json.dumps(sent["system"])
    assert "New instructions." in system and "Always answer in French." in system
    assert "Old instructions." not in json.dumps(sent)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]


async def test_budget_refusal_in_the_responses_shape(world: World, client: openai.AsyncOpenAI) -> None:
    async with aiohttp.ClientSession(headers=world.daemon.auth()) as http:
        async with http.put(world.daemon.url + "/budget", json={"daily_usd": 0}) as r:
            assert r.status == 200
    with pytest.raises(openai.APIStatusError) as caught:
        await client.responses.create(model=ROUTE["openai"], input="hi")
    assert caught.value.status_code == 402
    body: Any = caught.value.body
    assert body["type"] == "budget_exceeded" and "daily" in body["message"].lower()
    # Nothing was generated: at most the free count endpoint was asked what the prompt costs.
    assert [r.path for r in world.fakes["openai"].received if not r.path.endswith("/input_tokens")] == []


async def test_streamed_answer_is_stored_whole(world: World, client: openai.AsyncOpenAI) -> None:
    world.fakes["gemini"].script.append(Answer(text="Streamed and kept.", chunks=4))
    async with client.responses.stream(model=ROUTE["gemini"], input="hi") as s:
        done = await s.get_final_response()
    got = await client.responses.retrieve(done.id)
    assert got.status == "completed" and got.output_text == "Streamed and kept." and got.usage == done.usage
    world.fakes["anthropic"].script.append(Answer(text="Next."))
    await client.responses.create(model=ROUTE["anthropic"], input="and?", previous_response_id=done.id)
    sent = world.fakes["anthropic"].last.body["messages"]
    assert sent[1] == {"role": "assistant", "content": "Streamed and kept."}
