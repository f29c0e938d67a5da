"""Reservations that never undercount, end to end: fake upstreams bill hidden prompt
tokens (a template, a tool prompt) and their count endpoints say so; the official SDKs
spend against one session budget; what the fakes billed is summed and priced."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
import anthropic
import genai_prices
import openai
import orjson
import pytest
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tests.budget.test_budget_e2e import Budgeted
from tests.daemon_harness import start_daemon
from tests.e2e.clients import Client, GeminiClient
from tests.e2e.conftest import ROUTE, open_world, sdk_clients, start_fakes, world_config
from tests.fakes.base import Answer, Bill, FakeUpstream, HiddenPrompt
from tests.fakes.openai_chat import FakeOpenAI

PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}
# What each fake adds to every prompt it bills: a fixed template and a tokenizer ratio.
HIDDEN = {
    "anthropic": HiddenPrompt(per_request=700, ratio=1.1),
    "openai": HiddenPrompt(per_request=400, ratio=1.2),
    "gemini": HiddenPrompt(per_request=900, ratio=1.3),
}
MAX_TOKENS = 64


def billed_usd(fmt: str, bills: list[Bill]) -> float:
    """What the fake's bills cost, priced by genai-prices as detour prices usage."""
    return sum(
        float(
            genai_prices.calc_price(
                genai_prices.Usage(input_tokens=b.input_tokens, output_tokens=b.output_tokens),
                b.model,
                provider_id=PRICE_PROVIDER[fmt],
            ).total_price
        )
        for b in bills
    )


async def ask(client: Client, route: str, prompt: str, stream: bool) -> int:
    """One short question through the client's official SDK; the HTTP status it ended with."""
    try:
        if isinstance(client, GeminiClient):
            contents = [gtypes.Content(role="user", parts=[gtypes.Part(text=prompt)])]
            await client.ask(route, contents, stream, False, {"max_output_tokens": MAX_TOKENS})
        else:
            limit = "max_tokens" if client.name == "anthropic" else "max_completion_tokens"
            messages = [{"role": "user", "content": prompt}]
            await client.ask(route, messages, stream, False, {limit: MAX_TOKENS})
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return e.status_code
    except genai_errors.APIError as e:
        return e.code
    return 200


async def test_two_hundred_sdk_requests_settle_within_the_budget_as_billed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with open_world(monkeypatch, "\n[budget]\nsession_usd = 0.05\n") as w, sdk_clients(w.daemon) as sdk:
        for fmt, fake in w.fakes.items():
            fake.hidden = HIDDEN[fmt]
            fake.default = Answer(text="hi", output_tokens=20)
        clients = {name: sdk(name) for name in ("openai", "anthropic", "gemini")}
        formats, upstreams = list(clients), list(w.fakes)

        def one(i: int) -> Awaitable[int]:
            route = ROUTE[upstreams[(i // 3) % 3]]
            return ask(clients[formats[i % 3]], route, f"Question {i}: say hi", stream=(i // 9) % 2 == 0)

        statuses = await asyncio.gather(*(one(i) for i in range(200)))
        served = statuses.count(200)
        assert set(statuses) <= {200, 402}
        rows = await Budgeted(w.daemon, w.fakes).ledger(served)

    billed = {fmt: billed_usd(fmt, fake.bills) for fmt, fake in w.fakes.items()}
    assert sum(len(f.bills) for f in w.fakes.values()) == served  # a refusal cost nothing
    assert sum(billed.values()) <= 0.05
    # Settled spend is what the providers billed, not what detour counted.
    assert sum(r["usd"] for r in rows) == pytest.approx(sum(billed.values()))
    affordable = 0.05 / (sum(billed.values()) / served)
    print(f"served {served} of 200, ${sum(billed.values()):.5f} billed, {affordable:.0f} affordable")
    assert served >= affordable / 2, (served, affordable)
    # The counts asked for were exactly what was then billed, in every format.
    for fake in w.fakes.values():
        assert any("count" in r.path.lower() or "input_tokens" in r.path for r in fake.received)


def calibrated_config(fakes: dict[str, FakeUpstream], session_usd: float) -> str:
    return world_config(fakes) + f"\n[budget]\nsession_usd = {session_usd}\n"


async def post_anthropic(url: str, token: str, prompt: str) -> int:
    body = {
        "model": ROUTE["anthropic"],
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": prompt}],
    }
    async with aiohttp.ClientSession(headers={"x-api-key": token}) as s:
        async with s.post(url + "/v1/messages", json=body) as r:
            await r.read()
            return r.status


async def test_calibration_survives_a_restart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fakes = await start_fakes(monkeypatch)
    fake = fakes["anthropic"]
    fake.hidden = HiddenPrompt(per_request=500, ratio=1.2)
    fake.default = Answer(text="hi", output_tokens=20)
    config = calibrated_config(fakes, 1.0)
    try:
        daemon = await start_daemon(config, data_dir=tmp_path)
        for k in range(8):  # prompts of several lengths, so the fit has a slope to go by
            assert await post_anthropic(daemon.url, daemon.token, "word " * (10 + 10 * k)) == 200
        counts_before = sum(r.path == "/v1/messages/count_tokens" for r in fake.received)
        await daemon.close()
        db = sqlite3.connect(tmp_path / "detour.db")
        try:
            [(ratio, overhead, samples)] = db.execute(
                "SELECT ratio, overhead, samples FROM calibration WHERE provider = 'up-anthropic'"
            ).fetchall()
        finally:
            db.close()
        pairs = orjson.loads(samples)
        assert counts_before >= 1 and len(pairs) >= 8
        assert ratio > 0 and all(ratio * c + overhead >= b - 1e-6 for c, b in pairs)  # an upper envelope

        fake.received.clear()
        daemon = await start_daemon(config, data_dir=tmp_path)
        assert await post_anthropic(daemon.url, daemon.token, "word " * 45) == 200
        await daemon.close()
        # Calibrated from the last run: no count was needed, and the reservation covered the bill.
        assert [r.path for r in fake.received] == ["/v1/messages"]
        row = (
            sqlite3.connect(tmp_path / "detour.db")
            .execute("SELECT reserved_usd, usd, input_tokens FROM attempts ORDER BY id DESC LIMIT 1")
            .fetchone()
        )
        reserved, usd, billed_input = row
        assert billed_input == fake.bills[-1].input_tokens and usd <= reserved
        price_in, price_out = 3.0e-6, 15.0e-6  # claude-sonnet-4-5 per token
        assert round((reserved - MAX_TOKENS * price_out) / price_in, 6) >= billed_input
    finally:
        for f in fakes.values():
            await f.close()


NO_COUNT_CONFIG = """
[providers.compat]
kind = "openai-compatible"
base_url = "{url}/v1"
api_key_env = "DETOUR_TEST_KEY_COMPAT"
[providers.compat.models."compat-chat"]
input_usd_mtok = 2.0
output_usd_mtok = 8.0

[[routes]]
name = "compat"
chain = ["compat/compat-chat"]

[budget]
session_usd = 0.02
"""


async def test_a_provider_without_a_count_endpoint_is_padded_then_learned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = await FakeOpenAI(key="sk-compat-TESTKEY").start()
    monkeypatch.setenv("DETOUR_TEST_KEY_COMPAT", "sk-compat-TESTKEY")
    fake.hidden = HiddenPrompt(per_request=300, ratio=1.2)  # within detour's padding for the unknown
    fake.default = Answer(text="hi", output_tokens=20)
    daemon = await start_daemon(NO_COUNT_CONFIG.format(url=fake.url), data_dir=tmp_path)
    try:
        async with aiohttp.ClientSession(headers=daemon.auth()) as s:

            async def one(i: int) -> int:
                body = {
                    "model": "compat",
                    "max_tokens": MAX_TOKENS,
                    "messages": [{"role": "user", "content": f"Q{i}"}],
                }
                async with s.post(daemon.url + "/v1/chat/completions", json=body) as r:
                    await r.read()
                    return r.status

            first = await asyncio.gather(*(one(i) for i in range(60)))
            then = [await one(100 + i) for i in range(40)]  # one at a time, learned from usage
    finally:
        await daemon.close()
        await fake.close()
    assert set(first) <= {200, 402} and 200 in first
    assert not any(r.path.endswith("input_tokens") for r in fake.received)  # none asked for
    billed = sum(b.input_tokens * 2e-6 + b.output_tokens * 8e-6 for b in fake.bills)
    assert billed <= 0.02
    served = first.count(200) + then.count(200)
    assert served >= (0.02 / (billed / served)) / 2
    con = sqlite3.connect(tmp_path / "detour.db")
    try:
        rows = con.execute("SELECT reserved_usd, usd FROM attempts ORDER BY id").fetchall()
        [(ratio, overhead, samples)] = con.execute("SELECT ratio, overhead, samples FROM calibration")
    finally:
        con.close()
    assert all(usd <= reserved for reserved, usd in rows)
    # Learned from usage: later reservations are tighter than the first, padded guesses,
    # and still above every bill seen.
    assert all(ratio * c + overhead >= b - 1e-6 for c, b in orjson.loads(samples))
    assert rows[-1][0] < rows[0][0]
    print(f"served {first.count(200)} at once, {then.count(200)} one by one; billed ${billed:.5f}")
