"""One team budget across three daemons (alice, bob, bob) against a real PostgreSQL:
200 concurrent requests in three formats, fakes that bill hidden prompt tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiohttp
import pytest

from daemon.report import command
from daemon.status_view import render
from tests.budget.test_calibration_e2e import HIDDEN, ask, billed_usd
from tests.e2e.clients import AnthropicClient, Client, OpenAIClient
from tests.e2e.conftest import ROUTE, sdk_clients
from tests.fakes.base import Answer
from tests.team.world import open_team, shared_ledger

TEAM_WEEK = 0.05
BOB_WEEK = 0.02


async def test_three_daemons_never_overrun_the_team_week(
    monkeypatch: pytest.MonkeyPatch, team_db: str
) -> None:
    bob = f"[budget]\nweekly_usd = {BOB_WEEK}\n"
    members = [("alice", ""), ("bob", bob), ("bob", bob)]
    async with open_team(monkeypatch, members, f"[team.budget]\nweekly_usd = {TEAM_WEEK}\n") as team:
        for fmt, fake in team.fakes.items():
            fake.hidden = HIDDEN[fmt]
            fake.default = Answer(text="hi", output_tokens=20)
        async with (
            sdk_clients(team.daemons[0]) as sdk0,
            sdk_clients(team.daemons[1]) as sdk1,
            sdk_clients(team.daemons[2]) as sdk2,
        ):
            formats, upstreams = ["openai", "anthropic", "gemini"], list(team.fakes)
            clients: list[dict[str, Client]] = [
                {f: open_(f) for f in formats} for open_ in (sdk0, sdk1, sdk2)
            ]
            for c in (c for by_format in clients for c in by_format.values()):
                if isinstance(c, OpenAIClient | AnthropicClient):  # three daemons on one loop, a busy CI
                    c.sdk = c.sdk.with_options(timeout=120)  # type: ignore[assignment]

            def one(i: int) -> Awaitable[int]:
                route = ROUTE[upstreams[(i // 3) % 3]]
                client = clients[i % 3][formats[(i // 7) % 3]]
                return ask(client, route, f"Question {i}: say hi", stream=(i // 9) % 2 == 0)

            statuses = await asyncio.gather(*(one(i) for i in range(200)))
        alice = team.daemons[0]
        async with aiohttp.ClientSession(headers=alice.auth()) as s:
            body = {
                "model": ROUTE["anthropic"],
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "x"}],
            }
            async with s.post(alice.url + "/v1/messages", json=body) as r:
                refusal = (r.status, await r.json())
            async with s.get(alice.url + "/budget") as r:
                budgets = (await r.json())["budgets"]
            async with s.get(alice.url + "/status") as r:
                status = await r.json()
            billed = sum(billed_usd(fmt, fake.bills) for fmt, fake in team.fakes.items())
            report: dict[str, Any] = {"members": []}
            # Every daemon has sent its rows and settled (each within SETTLE_S).
            while (
                sum(m["requests"] for m in report["members"]) < 201
                or sum(m["spent_usd"] for m in report["members"]) < billed * 0.99
            ):
                async with s.get(alice.url + "/report", params={"window": "week", "scope": "team"}) as r:
                    report = await r.json()
    ledger = await shared_ledger(team_db)
    served = statuses.count(200)
    assert set(statuses) <= {200, 402}
    assert sum(len(f.bills) for f in team.fakes.values()) == served
    assert billed <= TEAM_WEEK
    affordable = TEAM_WEEK / (billed / served)
    print(f"served {served} of 200, ${billed:.5f} billed, {affordable:.0f} affordable; ledger {ledger}")
    assert served >= affordable / 2, (served, affordable)
    assert ledger["alice"] + ledger["bob"] == pytest.approx(billed, rel=0.01)
    assert ledger["bob"] <= BOB_WEEK
    # Seen everywhere: the refusal names the team's week, /budget and /status show it, and the
    # team report counts every member's requests.
    assert refusal[0] == 402 and "team's weekly" in refusal[1]["error"]["message"], refusal
    assert budgets["team_weekly"]["limit_usd"] == TEAM_WEEK
    assert budgets["team_weekly"]["spent_usd"] <= TEAM_WEEK
    assert status["team"]["state"] == "up" and status["team"]["member"] == "alice"
    assert "team database 127.0.0.1:" in render(alice.url, status)
    members = {m["member"]: m for m in report["members"]}
    assert set(members) == {"alice", "bob"}
    assert sum(m["requests"] for m in members.values()) == 201
    assert sum(m["spent_usd"] for m in members.values()) == pytest.approx(billed, rel=0.01)
    assert "alice" in command.text(report)
    # Every slice went back when the daemons stopped.
    assert all(v == pytest.approx(0, abs=1e-9) for k, v in ledger.items() if k.endswith(":leased")), ledger
