"""/status, /events and /metrics of a daemon in front of fake upstreams."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import typing
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.telemetry import schema
from tests.daemon_harness import Daemon
from tests.fakes.base import Answer, Fault, Slow
from tests.telemetry.world import (
    ANTHROPIC_KEY,
    FALLBACK,
    OPENAI_KEY,
    PRIMARY,
    World,
    event_stream,
    open_world,
)
from tests.wait import until


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async for w in open_world(monkeypatch):
        yield w


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_attempts_and_failovers(world: World) -> None:
    for _ in range(3):
        status, headers, _ = await world.chat()
        assert status == 200 and headers["x-detour-model"] == "claude-sonnet-4-5"
    world.anthropic.script.append(Fault(500))
    status, headers, _ = await world.chat()
    assert status == 200 and headers["x-detour-model"] == "gpt-4.1"

    found = samples(await world.get_text("/metrics"))
    assert value(found, "detour_requests_total", route="coder", format="openai_chat", status="200") == 4
    primary = {"provider": "up-anthropic", "model": "claude-sonnet-4-5"}
    assert value(found, "detour_attempts_total", **primary, outcome="ok", failure="") == 3
    assert value(found, "detour_attempts_total", **primary, outcome="failed", failure="server_error") == 1
    fallback = {"provider": "up-openai", "model": "gpt-4.1"}
    assert value(found, "detour_attempts_total", **fallback, outcome="ok", failure="") == 1
    assert (
        value(found, "detour_failovers_total", **{"from": PRIMARY, "to": FALLBACK, "reason": "server_error"})
        == 1
    )
    assert value(found, "detour_tokens_total", model=PRIMARY, direction="in") == 3 * 12
    assert value(found, "detour_tokens_total", model=FALLBACK, direction="out") == 7
    assert value(found, "detour_cost_usd_total", model=PRIMARY) > 0
    assert value(found, "detour_request_latency_seconds_count", route="coder") == 4
    assert value(found, "detour_overhead_seconds_count") == 4


async def test_metrics_time_to_first_token_of_streams(world: World) -> None:
    status, _, body = await world.chat(stream=True)
    assert status == 200 and b"[DONE]" in body
    found = samples(await world.get_text("/metrics"))
    assert value(found, "detour_ttft_seconds_count", route="coder") == 1


def required(shape: Any) -> set[str]:
    # Not __required_keys__: with postponed annotations Python 3.11 cannot see NotRequired there.
    hints = typing.get_type_hints(shape, include_extras=True)
    return {k for k, h in hints.items() if typing.get_origin(h) is not typing.NotRequired}


def assert_shape(value: Any, shape: Any) -> None:
    """Every key the TypedDict requires is present."""
    assert required(shape) <= set(value), required(shape) - set(value)


async def test_status_has_every_key_and_shows_a_cooldown_after_429(world: World) -> None:
    world.anthropic.script.append(Fault(429, headers={"retry-after": "30"}))
    status, headers, _ = await world.chat(user="alice")
    assert status == 200 and headers["x-detour-model"] == "gpt-4.1"
    session = headers["x-detour-session"]

    body = await world.get_json(f"/status?session={session}")
    assert_shape(body, schema.Status)
    assert body["simulated"] is False
    assert set(body["budgets"]) == {"session", "day", "week"}
    for window in body["budgets"].values():
        assert_shape(window, schema.WindowStatus)
    providers = {p["id"]: p for p in body["providers"]}
    assert set(providers) == {"up-anthropic", "up-openai"}
    for p in providers.values():
        assert_shape(p, schema.ProviderStatus)
        assert p["has_key"] is True
        for t in p["targets"]:
            assert_shape(t, schema.TargetStatus)
    [primary] = providers["up-anthropic"]["targets"]
    assert primary["state"] == "cooldown"
    assert 25 < primary["cooldown_s"] <= 30
    assert primary["requests"] == 1 and primary["errors"] == 1
    [fallback] = providers["up-openai"]["targets"]
    assert fallback["state"] == "healthy" and fallback["p50_ms"] is not None
    assert fallback["requests"] == 1 and fallback["errors"] == 0

    [recent] = body["recent"]
    assert_shape(recent, schema.ResponseEvent)
    assert recent["target"] == FALLBACK and recent["attempts"] == f"{PRIMARY}:429,{FALLBACK}:ok"
    [failover] = body["failovers"]
    assert_shape(failover, schema.FailoverEvent)
    assert (failover["from"], failover["to"], failover["reason"]) == (PRIMARY, FALLBACK, "rate_limited")
    [s] = body["sessions"]
    assert_shape(s, schema.SessionStatus)
    assert s["id"] == session and s["requests"] == 1 and s["spent_usd"] > 0
    assert body["inflight"] == []

    # The next request skips the cooling model without calling it.
    status, headers, _ = await world.chat()
    assert headers["x-detour-attempts"] == f"{PRIMARY}:cooldown,{FALLBACK}:ok"


async def test_status_lists_a_request_in_flight(world: World) -> None:
    world.anthropic.script.append(Slow(0.5, Answer()))
    pending = asyncio.create_task(world.chat())

    async def inflight() -> list[Any]:
        return (await world.get_json("/status"))["inflight"]  # type: ignore[no-any-return]

    [flight] = await until(inflight, "listed the request in flight", every_s=0.01)
    assert_shape(flight, schema.InflightStatus)
    assert flight["route"] == "coder" and flight["stream"] is False
    assert (await pending)[0] == 200
    assert (await world.get_json("/status"))["inflight"] == []


async def test_events_stream_every_event_of_a_failover(world: World) -> None:
    stream = await event_stream(world)
    world.anthropic.script.append(Fault(529))
    status, _, _ = await world.chat()
    assert status == 200
    response = await stream.until("response")
    kinds = [e["type"] for e in stream.seen]
    assert kinds[:4] == ["request", "attempt", "attempt", "failover"], kinds
    request = stream.seen[0]
    assert_shape(request, schema.RequestEvent)
    assert "content" not in request  # never a prompt unless log_content = true
    for e in stream.seen:
        assert e["id"] == request["id"] and e["session"] == request["session"]
    failover = stream.seen[3]
    assert (failover["from"], failover["to"], failover["reason"]) == (PRIMARY, FALLBACK, "overloaded")
    assert isinstance(failover["cost_delta_usd"], float)
    assert_shape(response, schema.ResponseEvent)
    assert response["status"] == 200 and response["tokens_in"] == 12 and response["tokens_out"] == 7
    budgets = [await stream.next() for _ in range(3)]
    assert [b["scope"] for b in budgets] == ["session", "day", "week"]
    for b in budgets:
        assert_shape(b, schema.BudgetEvent)
        assert b["spent"] == pytest.approx(response["cost_usd"])


async def test_a_circuit_opening_is_an_event(world: World) -> None:
    stream = await event_stream(world)
    for _ in range(5):  # Health's default threshold
        world.anthropic.script.append(Fault(500))
        assert (await world.chat())[0] == 200
    circuit = await stream.until("circuit")
    assert_shape(circuit, schema.CircuitEvent)
    assert (circuit["provider"], circuit["model"], circuit["state"]) == (
        "up-anthropic",
        "claude-sonnet-4-5",
        "open",
    )
    body = await world.get_json("/status")
    [primary] = next(p for p in body["providers"] if p["id"] == "up-anthropic")["targets"]
    assert primary["state"] == "open" and primary["reason"] == "after 500"


async def test_events_and_metrics_need_the_token(world: World) -> None:
    async with aiohttp.ClientSession() as s:
        for path in ("/events", "/status", "/metrics"):
            async with s.get(world.daemon.url + path) as r:
                assert r.status == 401, path


async def test_a_refused_request_ends_in_a_response_event(world: World) -> None:
    stream = await event_stream(world)
    world.anthropic.script.append(Fault(500))
    world.openai.script.append(Fault(500))
    status, _, _ = await world.chat()
    assert status == 503
    response = await stream.until("response")
    assert response["status"] == 503 and response["error"] == "all_providers_failed"
    assert response["target"] is None
    assert response["attempts"] == f"{PRIMARY}:500,{FALLBACK}:500"
    failover = next(e for e in stream.seen if e["type"] == "failover")
    assert failover["cost_delta_usd"] is None


async def test_no_key_in_any_event_or_status(world: World) -> None:
    stream = await event_stream(world)
    world.anthropic.script.append(Fault(401, message=f"invalid x-api-key {ANTHROPIC_KEY}"))
    await world.chat()
    await stream.until("alert", condition="key_rejected")
    text = repr(stream.seen) + repr(await world.get_json("/status")) + await world.get_text("/metrics")
    assert ANTHROPIC_KEY not in text and OPENAI_KEY not in text


def test_the_daemon_never_imports_textual() -> None:
    code = (
        "import sys\n"
        "from daemon.config import parse\n"
        "from daemon.server.app import create_app\n"
        "import daemon.cli, daemon.telemetry.schema\n"
        "create_app(parse('[providers.sim]\\nkind = \"sim\"\\n'), 'token')\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.') or m == 'tui')\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_sim_daemon_status(sim_daemon: Daemon) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(sim_daemon.url + "/status", headers=sim_daemon.auth()) as r,
    ):
        body = await r.json()
    assert body["simulated"] is True
    assert [p["id"] for p in body["providers"]] == ["sim"]
