"""The official openai SDK's Responses calls through detour, against fakes of every format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pydantic
import pytest

from tests.e2e.clients import PNG_B64, WEATHER_TOOL
from tests.e2e.conftest import ROUTE, World
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall

FORMATS = ("anthropic", "openai", "gemini")
TOOL = {"type": "function", **WEATHER_TOOL}


@pytest.fixture
async def client(world: World) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=world.daemon.url + "/v1", api_key=world.daemon.token, max_retries=0)
    yield sdk
    await sdk.close()


@pytest.mark.parametrize("up", FORMATS)
@pytest.mark.parametrize("stream", [False, True])
async def test_text(world: World, client: openai.AsyncOpenAI, up: str, stream: bool) -> None:
    world.fakes[up].script.append(Answer(text="Bonjour de loin."))
    if stream:
        async with client.responses.stream(model=ROUTE[up], input="Say hi", instructions="Be terse.") as s:
            kinds = [ev.type async for ev in s]
            resp = await s.get_final_response()
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-1] == "response.completed"
        assert "response.output_text.delta" in kinds
    else:
        resp = await client.responses.create(model=ROUTE[up], input="Say hi", instructions="Be terse.")
    assert resp.output_text == "Bonjour de loin."
    assert resp.id.startswith("resp_")
    assert resp.usage is not None and resp.usage.input_tokens == 12 and resp.usage.output_tokens == 7
    assert "Be terse." in json.dumps(world.fakes[up].last.body)


@pytest.mark.parametrize("up", FORMATS)
async def test_image(world: World, client: openai.AsyncOpenAI, up: str) -> None:
    content: Any = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}", "detail": "auto"},
    ]
    resp = await client.responses.create(model=ROUTE[up], input=[{"role": "user", "content": content}])
    assert resp.output_text == "Hello from the fake upstream."
    assert PNG_B64 in json.dumps(world.fakes[up].last.body)


@pytest.mark.parametrize("up", FORMATS)
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_round_trip_parallel(
    world: World, client: openai.AsyncOpenAI, up: str, stream: bool
) -> None:
    """Two calls in one turn, answered by ``function_call_output`` items on the client's own history."""
    calls = [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Lyon"})]
    world.fakes[up].script.extend([Answer(text=None, tool_calls=calls), Answer(text="Paris 18C, Lyon 20C.")])
    history: list[Any] = [{"role": "user", "content": "Weather in Paris and Lyon?"}]
    first = await _ask(client, ROUTE[up], history, stream, store=False)
    got = [(o.name, json.loads(o.arguments)) for o in first.output if o.type == "function_call"]
    assert got == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Lyon"})]
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history += [
        {
            "type": "function_call_output",
            "call_id": o.call_id,
            "output": f"{json.loads(o.arguments)['city']}: fine",
        }
        for o in first.output
        if o.type == "function_call"
    ]
    second = await _ask(client, ROUTE[up], history, stream, store=False)
    assert second.output_text == "Paris 18C, Lyon 20C."
    sent = json.dumps(world.fakes[up].last.body)
    assert "Paris: fine" in sent and "Lyon: fine" in sent


async def _ask(client: openai.AsyncOpenAI, model: str, input: Any, stream: bool, **kw: Any) -> Any:
    if stream:
        async with client.responses.stream(model=model, input=input, tools=[TOOL], **kw) as s:  # type: ignore[list-item]
            return await s.get_final_response()
    return await client.responses.create(model=model, input=input, tools=[TOOL], **kw)  # type: ignore[list-item]


class City(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("up", FORMATS)
async def test_parse(world: World, client: openai.AsyncOpenAI, up: str) -> None:
    world.fakes[up].script.append(Answer(json={"city": "Paris", "celsius": 18}))
    resp = await client.responses.parse(model=ROUTE[up], input="Paris weather as JSON", text_format=City)
    assert resp.output_parsed == City(city="Paris", celsius=18)


@pytest.mark.parametrize("up", FORMATS)
async def test_failure_after_content_ends_with_response_failed(
    world: World, client: openai.AsyncOpenAI, up: str
) -> None:
    world.fakes[up].script.append(
        Answer(text="Partial answer that breaks", chunks=6, fault=StreamFault(4, "cut"))
    )
    async with client.responses.stream(model=ROUTE[up], input="Say hi") as s:
        events = [ev async for ev in s]
    assert [ev.type for ev in events[-2:]] == ["error", "response.failed"]
    assert any(ev.type == "response.output_text.delta" for ev in events)
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    with pytest.raises(openai.NotFoundError):  # a failed answer is not kept
        await client.responses.retrieve(failed.response.id)


async def test_errors_in_the_responses_shape(world: World, client: openai.AsyncOpenAI) -> None:
    world.fakes["gemini"].script.append(Fault(400, "bad thing"))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=ROUTE["gemini"], input="hi")
    assert caught.value.response.headers["x-detour-attempts"]
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model=ROUTE["gemini"], input=[{"type": "item_reference", "id": "x"}])
    assert "item_reference" in bad.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_claude_thinking_rides_in_reasoning_items(
    world: World, client: openai.AsyncOpenAI, stream: bool
) -> None:
    """Claude's signed thinking comes back as a reasoning item whose encrypted_content detour
    wrapped; sent back statelessly (``store: false``, as Codex does), Claude gets its signature."""
    fake = world.fakes["anthropic"]
    call = ToolCall("get_weather", {"city": "Paris"})
    fake.script.extend([Answer(text=None, thinking="Use the tool.", tool_calls=[call]), Answer(text="18C.")])
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await _ask(client, ROUTE["anthropic"], history, stream, store=False, reasoning={"effort": "high"})
    reasoning = next(o for o in first.output if o.type == "reasoning")
    assert reasoning.encrypted_content.startswith("dtr1.up-anthropic.")
    assert reasoning.summary[0].text == "Use the tool."
    fc = next(o for o in first.output if o.type == "function_call")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": fc.call_id, "output": "18C"})
    await _ask(client, ROUTE["anthropic"], history, stream, store=False, reasoning={"effort": "high"})
    turn = fake.last.body["messages"][1]["content"]
    assert turn[0]["type"] == "thinking" and turn[0]["thinking"] == "Use the tool."
    assert reasoning.encrypted_content.endswith(turn[0]["signature"])


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_call_signature_rides_in_a_reasoning_item(
    world: World, client: openai.AsyncOpenAI, stream: bool
) -> None:
    """Gemini signs the call itself; a function_call item has no field for it, so detour's own
    reasoning item carries it, and Gemini gets its own signature back, not the placeholder."""
    fake = world.fakes["gemini"]
    call = ToolCall("get_weather", {"city": "Paris"})
    fake.script.extend([Answer(text=None, tool_calls=[call]), Answer(text="18C.")])
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await _ask(client, ROUTE["gemini"], history, stream, store=False)
    fc = next(o for o in first.output if o.type == "function_call")
    state = next(o for o in first.output if o.type == "reasoning")
    assert state.id == f"rs_dtrcall_{fc.call_id}" and state.encrypted_content.startswith("dtr1.up-gemini.")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": fc.call_id, "output": "18C"})
    second = await _ask(client, ROUTE["gemini"], history, stream, store=False)
    assert second.output_text == "18C."
    parts = fake.last.body["contents"][1]["parts"]
    sent = next(p for p in parts if "functionCall" in p)["thoughtSignature"]
    assert state.encrypted_content.endswith(sent) and sent != "skip_thought_signature_validator"
