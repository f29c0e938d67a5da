"""Continued answers against a session budget: each part is admitted like any attempt, so
the budget's reservations hold however many answers are cut and continued at once. Whole
answers, so that each status says how many parts were billed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.budget.test_budget_e2e import Budgeted, request_in
from tests.e2e.conftest import open_world
from tests.e2e.test_continue import CUT_AT, EXTRA, WHOLE, config, route
from tests.fakes.base import Answer, StreamFault

LIMIT_USD = 0.05


async def test_concurrent_continued_answers_never_overrun_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = f"{EXTRA}\n[budget]\nsession_usd = {LIMIT_USD}\n"
    async with open_world(monkeypatch, budget, config) as w:
        a, b = w.fakes["anthropic"], w.fakes["gemini"]
        a.default = Answer(WHOLE, input_tokens=800, output_tokens=200, fault=StreamFault(after_chars=CUT_AT))
        b.default = Answer(WHOLE, input_tokens=820, output_tokens=150)
        prompt = "word " * 600
        headers = {**w.daemon.auth(), "x-detour-session": "tight"}
        clients = ["openai", "anthropic", "gemini"]

        async def one(i: int, s: aiohttp.ClientSession) -> tuple[int, Any]:
            path, body = request_in(clients[i % 3], route("anthropic", "gemini"), prompt, 600)
            async with s.post(w.daemon.url + path, json=body, headers=headers) as r:
                return r.status, await r.read()

        async with aiohttp.ClientSession() as s:
            results = await asyncio.gather(*(one(i, s) for i in range(60)))
        statuses = [status for status, _ in results]
        assert 200 in statuses and 402 in statuses
        # Refused at the start (402), nothing was called; a continuation the budget refused
        # leaves the cut (502) and one row; an answer continued has a row for each part.
        assert set(statuses) <= {200, 402, 502}
        rows = await Budgeted(w.daemon, w.fakes).ledger(2 * statuses.count(200) + statuses.count(502))
        assert {r["provider"] for r in rows} == {"up-anthropic", "up-gemini"}
        assert all(r["state"] == "settled" for r in rows)
        assert sum(r["usd"] for r in rows) <= LIMIT_USD
