"""kill -9 with requests in flight: after a restart the ledger holds every started
attempt exactly once, and the spend it reports is what those rows say."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, Received, Slow
from tests.process_harness import client_token, start, stop
from tests.wait import until

KEY = "sk-ant-api03-CRASHTEST-aaaaaaaaaaaaaaaa"
CONFIG = """
[providers.fa]
kind = "anthropic"
base_url = "{url}"
api_key_env = "FA_KEY"

[[routes]]
name = "coder"
chain = ["fa/claude-sonnet-4-5"]

[budget]
weekly_usd = 100.0
"""


def ledger(tmp: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(tmp / "data" / "detour" / "detour.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM attempts ORDER BY id").fetchall()
    finally:
        db.close()


async def week_spent(url: str, token: str) -> float:
    async with aiohttp.ClientSession(headers={"x-api-key": token}) as s:
        async with s.get(url + "/budget") as r:
            body = await r.json()
            assert "budgets" in body, (r.status, body)
            return float(body["budgets"]["week"]["spent_usd"])


def attempts(fake: FakeAnthropic) -> list[Received]:
    """Calls for answers (the budget also asks the count endpoint)."""
    return [r for r in fake.received if r.path == "/v1/messages"]


@pytest.fixture
async def upstream() -> FakeAnthropic:
    fake = await FakeAnthropic(key=KEY).start()
    yield fake  # type: ignore[misc]
    await fake.close()


async def test_kill_nine_with_twenty_in_flight(tmp_path: Path, upstream: FakeAnthropic) -> None:
    config = CONFIG.format(url=upstream.url)
    p = await start(tmp_path, config, {"FA_KEY": KEY})
    token = (await client_token(tmp_path)).strip()
    body = {"model": "coder", "max_tokens": 1000, "messages": [{"role": "user", "content": "go"}]}

    async with aiohttp.ClientSession(headers={"x-api-key": token}) as s:

        async def ask() -> int:
            async with s.post(p.url + "/v1/messages", json=body) as r:
                await r.read()
                return r.status

        upstream.script.extend(Answer(text="done", input_tokens=10, output_tokens=5) for _ in range(5))
        assert await asyncio.gather(*(ask() for _ in range(5))) == [200] * 5
        upstream.script.extend(Slow(60.0) for _ in range(20))
        in_flight = [asyncio.ensure_future(ask()) for _ in range(20)]
        await until(lambda: len(attempts(upstream)) == 25, "had every attempt reach the upstream")
        p.proc.send_signal(signal.SIGKILL)
        await p.proc.wait()
        for task in in_flight:
            with pytest.raises(aiohttp.ClientError):
                await task

    p = await start(tmp_path, config, {"FA_KEY": KEY})
    rows = ledger(tmp_path)
    assert [r["id"] for r in rows] == list(range(1, 26))  # every attempt, once
    assert [r["state"] for r in rows].count("settled") == 5
    reconciled = [r for r in rows if r["state"] == "reconciled"]
    assert len(reconciled) == 20
    assert all(r["usd"] == r["reserved_usd"] and r["source"] == "worst_case" for r in reconciled)
    total = sum(r["usd"] for r in rows)
    assert await week_spent(p.url, token) == pytest.approx(total)
    await stop(p)

    # A second restart finds nothing left open: the twenty are not counted again.
    p = await start(tmp_path, config, {"FA_KEY": KEY})
    assert await week_spent(p.url, token) == pytest.approx(total)
    assert [tuple(r) for r in ledger(tmp_path)] == [tuple(r) for r in rows]
    await stop(p)


async def test_kill_nine_right_after_answers_keeps_their_real_cost(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    """Settlements not yet in SQLite when the daemon dies are in its journal: the restart
    records what the answers really cost, not their worst case."""
    config = CONFIG.format(url=upstream.url)
    p = await start(tmp_path, config, {"FA_KEY": KEY})
    token = (await client_token(tmp_path)).strip()
    body = {"model": "coder", "max_tokens": 1000, "messages": [{"role": "user", "content": "go"}]}
    upstream.script.extend(Answer(text="done", input_tokens=100, output_tokens=50) for _ in range(5))
    costs = []
    async with aiohttp.ClientSession(headers={"x-api-key": token}) as s:
        for _ in range(5):
            async with s.post(p.url + "/v1/messages", json=body) as r:
                assert r.status == 200
                costs.append(float(r.headers["x-detour-cost-usd"]))
    p.proc.send_signal(signal.SIGKILL)  # at once: within the moment the ledger batches writes
    await p.proc.wait()

    p = await start(tmp_path, config, {"FA_KEY": KEY})
    rows = ledger(tmp_path)
    assert [(r["state"], r["source"]) for r in rows] == [("settled", "usage")] * 5
    assert [r["usd"] for r in rows] == pytest.approx(costs)
    assert await week_spent(p.url, token) == pytest.approx(sum(costs))
    await stop(p)
