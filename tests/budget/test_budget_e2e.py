"""Budgets through the real daemon: fake upstreams report usage, clients of every
format spend against one session budget, the ledger is read back from SQLite."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import genai_prices
import pytest

from tests.daemon_harness import Daemon
from tests.e2e.conftest import MODEL, ROUTE, open_world
from tests.fakes.base import Answer, FakeUpstream, Fault, StreamFault
from tests.wait import until

PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}


@dataclass
class Budgeted:
    daemon: Daemon
    fakes: dict[str, FakeUpstream]

    async def ledger(self, rows: int) -> list[sqlite3.Row]:
        """The ledger's ``rows`` once all are in SQLite and settled (they are written in
        batches off the event loop, a moment after the client has its answer)."""
        assert self.daemon.data_dir is not None
        path = self.daemon.data_dir / "detour.db"

        def settled() -> list[sqlite3.Row] | None:
            db = sqlite3.connect(path)
            db.row_factory = sqlite3.Row
            try:
                found = db.execute("SELECT * FROM attempts ORDER BY id").fetchall()
            finally:
                db.close()
            return found if len(found) == rows and all(r["state"] != "reserved" for r in found) else None

        return await until(settled, "settled every reservation")  # type: ignore[no-any-return]


@pytest.fixture
async def budgeted(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Budgeted]:
    async with open_world(monkeypatch, "\n[budget]\nsession_usd = 0.05\n") as w:
        yield Budgeted(w.daemon, w.fakes)


def request_in(fmt: str, route: str, prompt: str, max_tokens: int, stream: bool = False) -> tuple[str, Any]:
    """A path and body a client of ``fmt`` would send."""
    if fmt == "openai":
        body: Any = {"model": route, "max_tokens": max_tokens, "stream": stream}
        body["messages"] = [{"role": "user", "content": prompt}]
        return "/v1/chat/completions", body
    if fmt == "anthropic":
        body = {"model": route, "max_tokens": max_tokens, "stream": stream}
        body["messages"] = [{"role": "user", "content": prompt}]
        return "/v1/messages", body
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"maxOutputTokens": max_tokens},
    }
    return f"/v1beta/models/{route}:{method}", body


def budget_refusal(fmt: str, body: Any) -> str:
    """The error message of a 402, read the way the client's SDK reads its format."""
    if fmt == "openai":
        assert body["error"]["type"] == "budget_exceeded"
        return str(body["error"]["message"])
    if fmt == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "budget_exceeded"
        return str(body["error"]["message"])
    assert body["error"]["code"] == 402
    return str(body["error"]["message"])


async def test_two_hundred_concurrent_requests_never_overrun_the_session(budgeted: Budgeted) -> None:
    # Counted conservatively (3 chars a token) the prompt is 1000 tokens; the upstream,
    # tokenizing like a real one, reports fewer, and a short answer.
    prompt = "word " * 600
    for fake in budgeted.fakes.values():
        fake.default = Answer(text="ok", input_tokens=800, output_tokens=200)
    upstreams = ["anthropic", "openai", "gemini"]
    clients = ["openai", "anthropic", "gemini"]
    headers = {**budgeted.daemon.auth(), "x-detour-session": "tight"}

    async def one(i: int, s: aiohttp.ClientSession) -> tuple[str, int, Any]:
        fmt = clients[i % 3]
        path, body = request_in(fmt, ROUTE[upstreams[(i // 3) % 3]], prompt, 600)
        async with s.post(budgeted.daemon.url + path, json=body, headers=headers) as r:
            return fmt, r.status, await r.json()

    async with aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(one(i, s) for i in range(200)))

    statuses = [status for _, status, _ in results]
    assert set(statuses) == {200, 402}
    for fmt, status, body in results:
        if status == 402:
            assert "session budget" in budget_refusal(fmt, body)
    # Refused requests cost nothing and left no row.
    rows = await budgeted.ledger(statuses.count(200))
    assert all(r["state"] == "settled" for r in rows)
    assert sum(r["usd"] for r in rows) <= 0.05
    async with aiohttp.ClientSession() as s:
        url = budgeted.daemon.url + "/budget?session=tight"
        async with s.get(url, headers=budgeted.daemon.auth()) as r:
            report = await r.json()
    assert report["budgets"]["session"]["spent_usd"] == pytest.approx(sum(r["usd"] for r in rows))
    assert report["budgets"]["session"]["spent_usd"] <= 0.05


@pytest.mark.parametrize("upstream", ["anthropic", "openai", "gemini"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_cache_and_reasoning_tokens_are_priced_as_genai_prices_does(
    budgeted: Budgeted, upstream: str, stream: bool
) -> None:
    # On the IR scale: the whole prompt is 30000 tokens, 20000 of them read from cache and
    # 5000 written to it; 700 output tokens of which 300 reasoning. Each fake writes these
    # in its own format's fields (Anthropic: input excludes cache; Gemini: the prompt
    # count includes it and thoughts are counted apart from the candidates).
    budgeted.fakes[upstream].script.append(
        Answer(
            text="cached answer",
            input_tokens=30000,
            cache_read_tokens=20000,
            cache_write_tokens=5000 if upstream == "anthropic" else 0,
            output_tokens=700,
            reasoning_tokens=300,
        )
    )
    path, body = request_in("openai", ROUTE[upstream], "hi", 1000, stream)
    async with aiohttp.ClientSession() as s:
        # The count endpoint says what the 30000-token prompt costs: more than $0.05.
        limit = {"session_usd": 1.0}
        async with s.put(budgeted.daemon.url + "/budget", json=limit, headers=budgeted.daemon.auth()) as r:
            assert r.status == 200
        async with s.post(budgeted.daemon.url + path, json=body, headers=budgeted.daemon.auth()) as r:
            assert r.status == 200
            await r.read()
            header = r.headers.get("x-detour-cost-usd")
    expected = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=30000,
            cache_read_tokens=20000,
            cache_write_tokens=5000 if upstream == "anthropic" else None,
            output_tokens=700,
        ),
        MODEL[upstream],
        provider_id=PRICE_PROVIDER[upstream],
    ).total_price
    [row] = await budgeted.ledger(1)
    assert row["source"] == "usage"
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (30000, 20000, 700)
    assert row["reasoning_tokens"] == 300
    assert row["usd"] == pytest.approx(float(expected))
    if not stream:  # a stream's headers go out before its cost is known
        assert header is not None and float(header) == pytest.approx(float(expected), abs=1e-6)


@pytest.mark.parametrize("upstream", ["anthropic", "openai", "gemini"])
async def test_stream_cut_mid_answer_settles_to_the_relayed_tokens(budgeted: Budgeted, upstream: str) -> None:
    text = "0123456789" * 30  # 300 characters in 10 chunks
    budgeted.fakes[upstream].script.append(
        Answer(text=text, chunks=10, input_tokens=40, output_tokens=900, fault=StreamFault(after_frames=6))
    )
    path, body = request_in("anthropic", ROUTE[upstream], "tell me", 2000, stream=True)
    received = b""
    async with aiohttp.ClientSession() as s:
        async with s.post(budgeted.daemon.url + path, json=body, headers=budgeted.daemon.auth()) as r:
            assert r.status == 200
            received = await r.read()
    assert b"event: error" in received  # the client was told, not handed a clean finish
    relayed = sum(len(piece) for piece in _anthropic_text_deltas(received))
    assert 0 < relayed < len(text)
    [row] = await budgeted.ledger(1)
    assert row["source"] == "estimate"
    assert row["output_tokens"] == math.ceil(relayed / 3)  # what was relayed, not the 900 reserved
    assert row["input_tokens"] > 0  # the prompt was sent: never zero
    worst = row["reserved_usd"]
    assert 0 < row["usd"] < worst


def _anthropic_text_deltas(raw: bytes) -> list[str]:
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            data = json.loads(line[6:])
            if data.get("type") == "content_block_delta" and data["delta"].get("type") == "text_delta":
                out.append(data["delta"]["text"])
    return out


async def test_failover_event_prices_the_lost_prompt_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = (
        '\n[[routes]]\nname = "a-then-o"\nchain = ["up-anthropic/claude-sonnet-4-5", "up-openai/gpt-4.1"]\n'
    )
    async with open_world(monkeypatch, chain) as w:
        anthropic, openai = w.fakes["anthropic"], w.fakes["openai"]
        # Turn 1: Claude serves, 30k of the 32k prompt read from its cache.
        anthropic.script.append(
            Answer(text="one", input_tokens=32000, cache_read_tokens=30000, output_tokens=100)
        )
        # Turn 2: Claude is rate limited; GPT-4.1 serves the grown prompt cold.
        anthropic.script.append(Fault(429, "slow down", headers={"retry-after": "30"}))
        openai.script.append(Answer(text="two", input_tokens=33000, output_tokens=100))
        headers = {**w.daemon.auth(), "x-detour-session": "agent-1"}
        path, body = request_in("anthropic", "a-then-o", "hi", 500)
        async with aiohttp.ClientSession(headers=headers) as s:
            for expected in ("up-anthropic", "up-openai"):
                async with s.post(w.daemon.url + path, json=body) as r:
                    assert r.status == 200 and r.headers["x-detour-provider"] == expected
            async with s.get(w.daemon.url + "/status") as r:
                failovers = (await r.json())["failovers"]
    [event] = failovers
    assert (event["from"], event["to"]) == ("up-anthropic/claude-sonnet-4-5", "up-openai/gpt-4.1")
    cold_gpt = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=33000, output_tokens=100), "gpt-4.1", provider_id="openai"
    ).total_price
    warm_claude = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=33000, cache_read_tokens=30000, output_tokens=100),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    ).total_price
    assert event["cost_delta_usd"] == pytest.approx(float(cold_gpt - warm_claude))
