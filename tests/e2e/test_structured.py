"""Structured output end to end: every SDK's way of asking for JSON x every upstream format,
plain and streaming; and what happens when a model answers something else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from google.genai import types as gtypes

from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.clients import CLIENTS, Client, GeminiClient, OpenAIClient
from tests.e2e.conftest import MODEL, ROUTE, World, world_config
from tests.e2e.structured_clients import (
    MODES,
    PROMPT,
    VALUE,
    Person,
    Tag,
    ask,
    gemini_wire,
    openai_parse,
)
from tests.fakes.base import Answer

UPSTREAMS = ["anthropic", "openai", "gemini"]
Sdk = Callable[[str], Client]


def produced(upstream: str) -> Any:
    """What the fake model writes: Gemini's wire names where the schema had dashes."""
    return gemini_wire(VALUE) if upstream == "gemini" else VALUE


@pytest.mark.parametrize(
    ("client", "mode", "upstream", "stream"),
    [(c, m, u, s) for c in MODES for m in MODES[c] for u in UPSTREAMS for s in (False, True)],
    ids=lambda v: {False: "plain", True: "stream"}.get(v, v) if isinstance(v, bool) else v,
)
async def test_sdk_gets_the_object_the_upstream_produced(
    world: World, sdk: Sdk, client: str, mode: str, upstream: str, stream: bool
) -> None:
    fake = world.fakes[upstream]
    fake.script.append(Answer(json=produced(upstream), chunks=5))
    got = await ask(sdk(client), mode, ROUTE[upstream], stream)
    if mode == "json_object" and upstream == "gemini":
        assert got == produced(upstream)  # no schema, so nothing to map back
    else:
        assert got == VALUE
    assert fake.last.body  # it went upstream (natively, or as a forced tool)


# -- invalid answers -----------------------------------------------------------------------------

JSON_ROUTE = "json-route"
INVALID = {
    "prose": "Sure! Ada is an admin who lives at 1 Loop.",
    "truncated": '{"name": "Ada", "file-path": "src/main.py", "role": "adm',
    "schema_violation": '{"name": "Ada", "role": "root"}',
}
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "role": {"enum": ["admin", "user"]}},
    "required": ["name", "role"],
}
OPENAI_FIRST = f"up-openai/{MODEL['openai']}"
ANTHROPIC_NEXT = f"up-anthropic/{MODEL['anthropic']}"


@pytest.fixture
async def json_daemon(world: World, request: pytest.FixtureRequest) -> AsyncIterator[Daemon]:
    """The world's fakes behind a route of OpenAI, then Anthropic, with ``on_invalid_json`` as parametrized."""
    policy = getattr(request, "param", "next")
    route = f'[[routes]]\nname = "{JSON_ROUTE}"\nchain = ["{OPENAI_FIRST}", "{ANTHROPIC_NEXT}"]\n'
    daemon = await start_daemon(world_config(world.fakes) + route + f'on_invalid_json = "{policy}"\n')
    yield daemon
    await daemon.close()


@pytest.mark.parametrize("kind", list(INVALID))
async def test_invalid_json_fails_over_to_the_next_model(
    world: World, json_daemon: Daemon, kind: str
) -> None:
    world.fakes["openai"].script.append(Answer(text=INVALID[kind]))
    world.fakes["anthropic"].script.append(Answer(json=VALUE))
    c = OpenAIClient(json_daemon.url, json_daemon.token)
    try:
        raw = await c.sdk.chat.completions.with_raw_response.parse(
            model=JSON_ROUTE, messages=[{"role": "user", "content": PROMPT}], response_format=Person
        )
        parsed = raw.parse().choices[0].message.parsed
    finally:
        await c.close()
    assert parsed is not None and parsed.model_dump(by_alias=True) == VALUE
    assert raw.headers["x-detour-attempts"] == f"{OPENAI_FIRST}:invalid_json,{ANTHROPIC_NEXT}:ok"
    assert raw.headers["x-detour-provider"] == "up-anthropic"


async def test_an_empty_stream_fails_over_before_any_content(world: World, json_daemon: Daemon) -> None:
    world.fakes["openai"].script.append(Answer(text=""))
    world.fakes["anthropic"].script.append(Answer(json=VALUE, chunks=4))
    c = OpenAIClient(json_daemon.url, json_daemon.token)
    try:
        got = await openai_parse(c, JSON_ROUTE, stream=True)
    finally:
        await c.close()
    assert got == VALUE
    assert len(world.fakes["anthropic"].received) == 1


def body_for(client: str, stream: bool) -> tuple[str, dict[str, Any]]:
    prompt = "Name and role as JSON"
    if client == "openai":
        spec = {"name": "n", "schema": SCHEMA}
        return "/v1/chat/completions", {
            "model": JSON_ROUTE,
            "messages": [{"role": "user", "content": prompt}],
            "response_format": {"type": "json_schema", "json_schema": spec},
            "stream": stream,
        }
    if client == "anthropic":
        return "/v1/messages", {
            "model": JSON_ROUTE,
            "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt}],
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
            "stream": stream,
        }
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{JSON_ROUTE}:{method}", {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
    }


def error_message(client: str, body: Any) -> str:
    match client:
        case "openai":
            return str(body["error"]["message"])
        case "anthropic":
            assert body["type"] == "error" and body["error"]["type"] == "api_error"
            return str(body["error"]["message"])
        case _:
            assert body["error"]["status"] == "INTERNAL"
            return str(body["error"]["message"])


@pytest.mark.parametrize("json_daemon", ["return"], indirect=True)
@pytest.mark.parametrize("client", ["openai", "anthropic", "gemini"])
async def test_return_policy_answers_a_clear_error_in_the_clients_format(
    world: World, json_daemon: Daemon, client: str
) -> None:
    world.fakes["openai"].script.append(Answer(text=INVALID["schema_violation"]))
    path, body = body_for(client, stream=False)
    async with aiohttp.ClientSession() as http:
        async with http.post(json_daemon.url + path, json=body, headers=json_daemon.auth()) as resp:
            status, answer = resp.status, await resp.json()
    assert status == 502
    message = error_message(client, answer)
    assert "does not match the schema at $.role: 'root' is not one of ['admin', 'user']" in message
    assert world.fakes["anthropic"].received == []


def last_event(client: str, raw: str) -> Any:
    frames = [f for f in raw.replace("\r\n", "\n").split("\n\n") if f.strip()]
    datas = [line[6:] for f in frames for line in f.split("\n") if line.startswith("data: ")]
    datas = [d for d in datas if d != "[DONE]"]
    return json.loads(datas[-1])


@pytest.mark.parametrize("client", ["openai", "anthropic", "gemini"])
async def test_a_stream_found_invalid_ends_with_an_error_event(
    world: World, json_daemon: Daemon, client: str
) -> None:
    world.fakes["openai"].script.append(Answer(text=INVALID["truncated"], chunks=3))
    path, body = body_for(client, stream=True)
    async with aiohttp.ClientSession() as http:
        async with http.post(json_daemon.url + path, json=body, headers=json_daemon.auth()) as resp:
            raw = await resp.text()
    assert "adm" in raw  # the deltas went out as they came
    message = error_message(client, last_event(client, raw))
    assert "not valid JSON" in message
    for clean_end in ('finish_reason": "stop', "message_stop", "finishReason"):
        assert clean_end not in raw
    assert world.fakes["anthropic"].received == []  # content had gone out: no failover


# -- the forced-tool path, and roots other than objects ------------------------------------------

COMPAT_ROUTE = "via-compatible"
PRIMARY_MODE = {"openai": "parse", "anthropic": "parse", "gemini": "response_schema"}


@pytest.fixture
async def compat_daemon(world: World) -> AsyncIterator[Daemon]:
    """The world plus an OpenAI-compatible provider (no json_schema mode) on the OpenAI fake."""
    extra = f"""
[providers.up-compat]
kind = "openai-compatible"
base_url = "{world.fakes["openai"].url}/v1"
api_key_env = "DETOUR_TEST_KEY_OPENAI"

[[routes]]
name = "{COMPAT_ROUTE}"
chain = ["up-compat/deepseek-chat"]
"""
    daemon = await start_daemon(world_config(world.fakes) + extra)
    yield daemon
    await daemon.close()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("client", list(PRIMARY_MODE))
async def test_a_target_without_json_schema_answers_through_a_forced_tool(
    world: World, compat_daemon: Daemon, client: str, stream: bool
) -> None:
    fake = world.fakes["openai"]
    fake.script.append(Answer(json=VALUE))
    c = CLIENTS[client](compat_daemon.url, compat_daemon.token)
    try:
        got = await ask(c, PRIMARY_MODE[client], COMPAT_ROUTE, stream)
    finally:
        await c.close()
    assert got == VALUE
    sent = fake.last.body
    assert "response_format" not in sent
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "json_answer"}}
    assert [t["function"]["name"] for t in sent["tools"]] == ["json_answer"]


TAGS = [{"label": "x", "weight": 2}, {"label": "y", "weight": None}]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("upstream", [*UPSTREAMS, "compatible"])
async def test_an_array_root_reaches_every_upstream(
    world: World, compat_daemon: Daemon, upstream: str, stream: bool
) -> None:
    fake = world.fakes["openai" if upstream == "compatible" else upstream]
    # Gemini takes the array as asked; the others get it under a "value" property.
    fake.script.append(Answer(json=TAGS if upstream == "gemini" else {"value": TAGS}, chunks=4))
    c = GeminiClient(compat_daemon.url, compat_daemon.token)
    try:
        config = gtypes.GenerateContentConfig(
            response_mime_type="application/json", response_schema=list[Tag]
        )
        route = COMPAT_ROUTE if upstream == "compatible" else ROUTE[upstream]
        if stream:
            text = ""
            async for chunk in await c.sdk.aio.models.generate_content_stream(
                model=route, contents=PROMPT, config=config
            ):
                text += chunk.text or ""
            got = [Tag.model_validate(t) for t in json.loads(text)]
        else:
            resp = await c.sdk.aio.models.generate_content(model=route, contents=PROMPT, config=config)
            got = resp.parsed
    finally:
        await c.close()
    assert [t.model_dump() for t in got] == TAGS
