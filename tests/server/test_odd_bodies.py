"""No body makes the daemon answer 5xx or log a traceback, on any inbound endpoint.

Mutated sample bodies (``odd_bodies``) go through the real daemon to fake
upstreams of every format; each answer must be below 500, an error must be in
the client's own shape, and the daemon's log must stay free of errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from tests.daemon_harness import Daemon
from tests.e2e.conftest import World, open_world
from tests.server.conftest import Collect
from tests.server.odd_bodies import Endpoint, odd_requests

NO_LIMITS = {"session_usd": None, "daily_usd": None, "weekly_usd": None}


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(monkeypatch) as w:
        yield w


def _no_json_answer(status: int, text: str) -> bool:
    """The one 5xx a body may earn: a schema the fake's canned answer does not meet, so the
    route's only model failed as ``invalid_json`` (the gateway's documented answer)."""
    return status == 503 and ": invalid_json (" in text and text.count(": invalid_json (") == 1


def assert_client_error_shape(client: str, text: str) -> None:
    body = orjson.loads(text)
    if client == "anthropic":
        assert body["type"] == "error" and isinstance(body["error"]["message"], str)
    elif client == "gemini":
        assert isinstance(body["error"]["code"], int) and isinstance(body["error"]["status"], str)
    else:
        assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
    ],
)
@given(case=odd_requests())
async def test_no_body_gets_a_5xx(
    world: World, daemon_log: Collect, case: tuple[Endpoint, str, bytes]
) -> None:
    endpoint, path, raw = case
    d = world.daemon
    headers = {**d.auth(), "content-type": "application/json"}
    async with aiohttp.ClientSession() as s:
        async with s.request(endpoint.method, d.url + path, data=raw, headers=headers) as r:
            status, text = r.status, await r.text()
        if endpoint.path == "/budget":
            async with s.put(d.url + "/budget", json=NO_LIMITS, headers=d.auth()) as r:
                assert r.status == 200
    shown = raw[:300].decode(errors="replace")
    assert status < 500 or _no_json_answer(status, text), (
        f"{endpoint.method} {path} {shown} -> {status} {text[:500]}"
    )
    assert "Traceback" not in text and "internal error" not in text, text[:500]
    if status >= 400:
        assert_client_error_shape(endpoint.client, text)
    problems = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in daemon_log.records]
    daemon_log.records.clear()
    assert not problems, f"{endpoint.method} {path} {shown}: {problems}"


DEEP = '{"a":' * 299 + "1" + "}" * 299
PRIMARY = {"messages": [{"role": "user", "content": "hi"}], "model": "default", "max_tokens": 10}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
DEEP_CASES = [
    ("POST", "/v1/chat/completions", {**PRIMARY, "tools": [{"type": "function", "function": {"name": "f", "parameters": "DEEP"}}]}, "openai", "tools[0].function.parameters.a.a…"),
    ("POST", "/v1/messages", {**PRIMARY, "tools": [{"name": "f", "input_schema": "DEEP"}]}, "anthropic", "tools[0].input_schema.a.a.a…"),
    ("POST", "/v1/messages/count_tokens", {**PRIMARY, "metadata": "DEEP"}, "anthropic", "metadata.a.a.a.a.a…"),
    ("POST", "/v1beta/models/sim-model:generateContent", {**GEMINI, "generationConfig": {"responseJsonSchema": "DEEP"}}, "gemini", "generationConfig.responseJsonSchema.a.a.a.a…"),
    ("POST", "/v1beta/models/sim-model:streamGenerateContent", {**GEMINI, "contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": "DEEP"}}]}]}, "gemini", "contents[0].parts[0].functionCall.args…"),
    ("POST", "/v1beta/models/sim-model:countTokens", {"generateContentRequest": {**GEMINI, "x": "DEEP"}}, "gemini", "generateContentRequest.x.a.a.a.a…"),
    ("PUT", "/budget", {"session_usd": "DEEP"}, "openai", "session_usd.a.a.a.a.a…"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "client", "where"), DEEP_CASES)
async def test_deep_nesting_is_a_400_naming_where(
    sim_daemon: Daemon, method: str, path: str, body: dict[str, Any], client: str, where: str
) -> None:
    raw = orjson.dumps(body).replace(b'"DEEP"', DEEP.encode())
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, sim_daemon.url + path, data=raw, headers=sim_daemon.auth()) as r,
    ):
        status, text = r.status, await r.text()
    assert status == 400
    assert_client_error_shape(client, text)
    assert (
        orjson.loads(text)["error"]["message"]
        == f"{where.removesuffix('…')}…{'.a' * 2}: nested deeper than 64 levels"
    )


MISTYPED = [
    ("/v1/messages", {**PRIMARY, "messages": [{"role": "user", "content": [{"type": ["text"], "text": "hi"}]}]}, "anthropic", "messages[0].content[0].type: expected a string, got an array"),
    ("/v1/messages", {**PRIMARY, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": {"t": 1}}]}]}, "anthropic", "messages[1].content[0].type: expected a string, got an object"),
    ("/v1/messages", {**PRIMARY, "output_config": {"effort": ["high"]}}, "anthropic", "output_config.effort: expected one of low, medium, high, xhigh, max, got ['high']"),
    ("/v1/chat/completions", {**PRIMARY, "messages": [{"role": "user", "content": [{"type": {"x": 1}, "text": "hi"}]}]}, "openai", "messages[0].content[0].type: expected a string, got an object"),
    ("/v1beta/models/sim-model:countTokens", {"generateContentRequest": [GEMINI]}, "gemini", "generateContentRequest: expected an object, got an array"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "client", "message"), MISTYPED)
async def test_a_mistyped_field_is_a_400_naming_it(
    sim_daemon: Daemon, path: str, body: dict[str, Any], client: str, message: str
) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(sim_daemon.url + path, json=body, headers=sim_daemon.auth()) as r,
    ):
        status, text = r.status, await r.text()
    assert status == 400
    assert_client_error_shape(client, text)
    assert orjson.loads(text)["error"]["message"] == message


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decompress_is_a_400(sim_daemon: Daemon, encoding: str) -> None:
    headers = {**sim_daemon.auth(), "Content-Encoding": encoding, "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(sim_daemon.url + "/v1/messages", data=b"not " + encoding.encode(), headers=headers) as r,
    ):
        status, text = r.status, await r.text()
    assert status == 400
    assert_client_error_shape("anthropic", text)
    assert (
        orjson.loads(text)["error"]["message"]
        == f"request body does not decode as its Content-Encoding ({encoding})"
    )
