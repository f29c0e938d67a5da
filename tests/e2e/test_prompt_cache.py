"""Anthropic prompt caching through a swap, with the official SDKs as clients.

The fake Anthropic keeps a cache per breakpoint prefix (a write the first time, a
read after) and answers more than 4 breakpoints with the API's 400. OpenAI Chat
clients' markers (on a message, on a part) must arrive on the blocks they marked;
Responses and Gemini clients send none, and detour must place them so that each
turn reads what the one before wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import genai_prices
import openai
import pytest
from google import genai
from google.genai import types as gtypes
from textual.widgets import Static

from daemon.report import figures, text
from tests.e2e.conftest import MODEL, ROUTE, World, open_world
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.anthropic_cache import PromptCache, breakpoints, prompt_blocks
from tests.tui.test_app import until
from tui.app import DetourApp
from tui.report import ReportScreen

MARK = {"type": "ephemeral"}
# Long enough to be cached on its own (Sonnet 4.5 caches from 1024 tokens).
SYSTEM = "You are a careful coding agent. " + " ".join(f"Rule {i}: keep the diff small." for i in range(250))
TOOLS = [
    {
        "name": f"tool_{i}",
        "description": f"Tool number {i}, which does one thing well.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    }
    for i in range(24)
]


@pytest.fixture
async def cached(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(monkeypatch) as w:
        fake = w.fakes["anthropic"]
        assert isinstance(fake, FakeAnthropic)
        fake.cache = PromptCache()
        yield w


def _chat(w: World) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=w.daemon.url + "/v1", api_key=w.daemon.token, max_retries=0)


def _marked(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = prompt_blocks(body)
    return [blocks[i] for i in breakpoints(body)]


async def test_chat_markers_arrive_on_the_blocks_they_marked(cached: World) -> None:
    """OpenCode's way (on the message) and OpenRouter's (on a part), streamed and not."""
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM, "cache_control": MARK},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here is the file.", "cache_control": MARK},
                {"type": "text", "text": "What does it do?"},
            ],
        },
        {"role": "assistant", "content": "It parses TOML."},
        {"role": "user", "content": "Now fix the bug.", "cache_control": MARK},
    ]
    async with _chat(cached) as sdk:
        await sdk.chat.completions.create(model=ROUTE["anthropic"], messages=messages)
        body = cached.fakes["anthropic"].last.body
        assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": MARK}]
        first, last = body["messages"][0]["content"], body["messages"][-1]["content"]
        assert first == [
            {"type": "text", "text": "Here is the file.", "cache_control": MARK},
            {"type": "text", "text": "What does it do?"},
        ]
        assert last == [{"type": "text", "text": "Now fix the bug.", "cache_control": MARK}]
        assert len(breakpoints(body)) == 3  # the client's, and none added
        async with sdk.chat.completions.stream(model=ROUTE["anthropic"], messages=messages) as s:
            await s.get_final_completion()
        assert cached.fakes["anthropic"].last.body["messages"] == body["messages"]
    fake = cached.fakes["anthropic"]
    assert isinstance(fake, FakeAnthropic) and fake.cache is not None
    assert fake.cache.log[1][1] > 0  # the second call read what the first wrote


async def test_six_client_markers_are_cut_to_the_last_four(cached: World) -> None:
    turns: list[Any] = [{"role": "system", "content": SYSTEM, "cache_control": MARK}]
    for i in range(5):
        role = "user" if i % 2 == 0 else "assistant"
        turns.append({"role": role, "content": f"turn {i}", "cache_control": MARK})
    async with _chat(cached) as sdk:
        done = await sdk.chat.completions.create(model=ROUTE["anthropic"], messages=turns)
    assert done.choices[0].message.content
    body = cached.fakes["anthropic"].last.body
    assert [b["text"] for b in _marked(body)] == ["turn 1", "turn 2", "turn 3", "turn 4"]


async def _responses_turns(w: World) -> list[dict[str, Any]]:
    tools: list[Any] = [{"type": "function", **t} for t in TOOLS]
    history: list[Any] = []
    async with _chat(w) as sdk:
        for turn in range(3):
            history.append({"role": "user", "content": f"Step {turn}: read the next file."})
            resp = await sdk.responses.create(
                model=ROUTE["anthropic"], instructions=SYSTEM, input=history, tools=tools
            )
            history.append({"role": "assistant", "content": resp.output_text})
            assert resp.usage is not None
            read = resp.usage.input_tokens_details.cached_tokens
            assert (read > 0) == (turn > 0), f"turn {turn} read {read} cached tokens"
    return [r.body for r in w.fakes["anthropic"].received]


async def _gemini_turns(w: World) -> list[dict[str, Any]]:
    sdk = genai.Client(api_key=w.daemon.token, http_options=gtypes.HttpOptions(base_url=w.daemon.url))
    decls = [
        gtypes.FunctionDeclaration(
            name=t["name"], description=t["description"], parameters_json_schema=t["parameters"]
        )
        for t in TOOLS
    ]
    config = gtypes.GenerateContentConfig(
        system_instruction=SYSTEM, tools=[gtypes.Tool(function_declarations=decls)]
    )
    history: list[gtypes.Content] = []
    try:
        for turn in range(3):
            history.append(gtypes.Content(role="user", parts=[gtypes.Part(text=f"Step {turn}: go on.")]))
            resp = await sdk.aio.models.generate_content(
                model=ROUTE["anthropic"], contents=history, config=config
            )
            history.append(gtypes.Content(role="model", parts=[gtypes.Part(text=resp.text or "ok")]))
            assert resp.usage_metadata is not None
            read = resp.usage_metadata.cached_content_token_count or 0
            assert (read > 0) == (turn > 0), f"turn {turn} read {read} cached tokens"
    finally:
        await sdk.aio.aclose()
    return [r.body for r in w.fakes["anthropic"].received]


@pytest.mark.parametrize("client", ["responses", "gemini"])
async def test_clients_without_markers_get_breakpoints_and_read_the_cache(cached: World, client: str) -> None:
    bodies = await (_responses_turns if client == "responses" else _gemini_turns)(cached)
    assert len(bodies) == 3
    for body in bodies:
        marks = breakpoints(body)
        assert 1 <= len(marks) <= 4
        blocks = prompt_blocks(body)
        shared = len(body["tools"]) + len(body["system"]) - 1
        assert shared in marks  # the system prompt, after the tools
        assert len(blocks) - 1 in marks  # the last user turn
    fake = cached.fakes["anthropic"]
    assert isinstance(fake, FakeAnthropic) and fake.cache is not None
    (_, read1, wrote1), (_, read2, _), (_, read3, _) = fake.cache.log
    assert read1 == 0 and wrote1 > 0
    assert read2 > 0 and read3 > read2  # each turn reads the conversation so far


async def test_a_turn_that_reads_the_cache_is_priced_at_cache_rates(cached: World) -> None:
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Read the file."},
    ]
    fake = cached.fakes["anthropic"]
    assert isinstance(fake, FakeAnthropic) and fake.cache is not None
    costs: list[float] = []
    async with _chat(cached) as sdk:
        for _ in range(2):
            raw = await sdk.chat.completions.with_raw_response.create(
                model=ROUTE["anthropic"], messages=messages
            )
            costs.append(float(raw.headers["x-detour-cost-usd"]))
            done = raw.parse()
            assert done.usage is not None and done.usage.prompt_tokens_details is not None
            assert done.usage.prompt_tokens_details.cached_tokens == fake.cache.log[-1][1]
    (prompt, read1, wrote1), (_, read2, wrote2) = fake.cache.log
    assert (read1, wrote2) == (0, 0) and read2 == wrote1 > 0
    for cost, read, wrote in zip(costs, (read1, read2), (wrote1, wrote2), strict=True):
        usage = genai_prices.Usage(
            input_tokens=prompt, cache_read_tokens=read, cache_write_tokens=wrote, output_tokens=7
        )
        expected = genai_prices.calc_price(usage, MODEL["anthropic"], provider_id="anthropic").total_price
        assert cost == pytest.approx(float(expected), abs=1e-6)
    assert costs[1] < costs[0] / 2


def _saved(prompt: int, read: int, wrote: int) -> float:
    def price(**cache: int) -> float:
        usage = genai_prices.Usage(input_tokens=prompt, output_tokens=7, **cache)
        return float(genai_prices.calc_price(usage, MODEL["anthropic"], provider_id="anthropic").total_price)

    return price() - price(cache_read_tokens=read, cache_write_tokens=wrote)


async def test_the_report_and_the_tui_say_what_the_cache_saved_per_route(cached: World) -> None:
    fake = cached.fakes["anthropic"]
    assert isinstance(fake, FakeAnthropic) and fake.cache is not None
    messages: list[Any] = [{"role": "system", "content": SYSTEM}]
    async with _chat(cached) as sdk:
        for turn in range(3):
            messages.append({"role": "user", "content": f"Step {turn}."})
            done = await sdk.chat.completions.create(model=ROUTE["anthropic"], messages=messages)
            messages.append({"role": "assistant", "content": done.choices[0].message.content})
        # Another route, served without a cache: it saved nothing.
        await sdk.chat.completions.create(model=ROUTE["openai"], messages=messages[:2])
    expected = sum(_saved(*turn) for turn in fake.cache.log)
    assert expected > 0  # turn 1's write cost more than input; turns 2 and 3 read it back
    report: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # the last answer's row is recorded once its response event is out
            async with http.get(cached.daemon.url + "/report", headers=cached.daemon.auth()) as r:
                report = await r.json()
            if report["totals"]["requests"] == 4:
                break
            await asyncio.sleep(0.05)
    routes = {r["route"]: r for r in report["routes"]}
    assert routes[ROUTE["anthropic"]]["cache_saved_usd"] == pytest.approx(expected, abs=1e-8)
    assert routes[ROUTE["openai"]]["cache_saved_usd"] == 0
    assert report["totals"]["cache_saved_usd"] == pytest.approx(expected, abs=1e-8)
    assert f"prompt cache saved {figures.usd(expected)}" in text.render(report)

    app = DetourApp(cached.daemon.url, cached.daemon.token)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReportScreen) and app.screen.report is not None)
        shown = str(app.screen.query_one("#report-cache", Static).render())
    assert f"{ROUTE['anthropic']} {figures.usd(expected, 4)}" in shown
    assert f"{ROUTE['openai']} $0.0000" in shown


@pytest.mark.parametrize("up", ["gemini", "anthropic"])
async def test_a_gemini_cached_content_goes_to_gemini_only(cached: World, up: str) -> None:
    sdk = genai.Client(
        api_key=cached.daemon.token, http_options=gtypes.HttpOptions(base_url=cached.daemon.url)
    )
    try:
        resp = await sdk.aio.models.generate_content(
            model=ROUTE[up],
            contents="Summarise the cached repository.",
            config=gtypes.GenerateContentConfig(cached_content="cachedContents/repo-123"),
        )
    finally:
        await sdk.aio.aclose()
    body = cached.fakes[up].last.body
    assert resp.sdk_http_response is not None and resp.sdk_http_response.headers is not None
    adapted = resp.sdk_http_response.headers.get("x-detour-adapted", "")
    if up == "gemini":
        assert body["cachedContent"] == "cachedContents/repo-123"
        assert "cachedContent" not in adapted
    else:
        assert "cachedContent" not in body and "cached_content" not in body
        assert "removed cachedContent cachedContents/repo-123" in adapted


OFF = f"""
[routing]
prompt_cache = "off"

[[routes]]
name = "cached"
chain = ["up-anthropic/{MODEL["anthropic"]}"]
prompt_cache = "auto"
"""


async def test_off_sends_no_breakpoints_and_a_route_may_override_it(monkeypatch: pytest.MonkeyPatch) -> None:
    marked: list[Any] = [
        {"role": "system", "content": SYSTEM, "cache_control": MARK},
        {"role": "user", "content": [{"type": "text", "text": "Go.", "cache_control": MARK}]},
    ]
    unmarked: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Go."}]
    async with open_world(monkeypatch, OFF) as w:
        fake = w.fakes["anthropic"]
        async with _chat(w) as sdk:
            for messages in (marked, unmarked):
                await sdk.chat.completions.create(model=ROUTE["anthropic"], messages=messages)
                assert breakpoints(fake.last.body) == []
            await sdk.chat.completions.create(model="cached", messages=unmarked)
            assert len(breakpoints(fake.last.body)) == 2  # the system prompt and the user turn
