"""One team budget across three daemons (alice, bob, bob) against a real PostgreSQL:
200 concurrent requests in three formats, fakes that bill hidden prompt tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from tests.budget.test_calibration_e2e import HIDDEN, ask, billed_usd
from tests.e2e.clients import Client
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

            def one(i: int) -> Awaitable[int]:
                route = ROUTE[upstreams[(i // 3) % 3]]
                client = clients[i % 3][formats[(i // 7) % 3]]
                return ask(client, route, f"Question {i}: say hi", stream=(i // 9) % 2 == 0)

            statuses = await asyncio.gather(*(one(i) for i in range(200)))
    ledger = await shared_ledger(team_db)
    served = statuses.count(200)
    assert set(statuses) <= {200, 402}
    billed = sum(billed_usd(fmt, fake.bills) for fmt, fake in team.fakes.items())
    assert sum(len(f.bills) for f in team.fakes.values()) == served
    assert billed <= TEAM_WEEK
    affordable = TEAM_WEEK / (billed / served)
    print(f"served {served} of 200, ${billed:.5f} billed, {affordable:.0f} affordable; ledger {ledger}")
    assert served >= affordable / 2, (served, affordable)
    assert ledger["alice"] + ledger["bob"] == pytest.approx(billed, rel=0.01)
    assert ledger["bob"] <= BOB_WEEK
    # Every slice went back when the daemons stopped.
    assert all(v == pytest.approx(0, abs=1e-9) for k, v in ledger.items() if k.endswith(":leased"))
