"""Crashes and outages: a daemon killed with -9 holding reservations, and the team
database stopped mid-load and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.budget.test_calibration_e2e import HIDDEN, ask, billed_usd, post_anthropic
from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.clients import Client
from tests.e2e.conftest import ROUTE, sdk_clients, start_fakes
from tests.fakes.base import Answer, Slow
from tests.process_harness import client_token, start
from tests.team.postgres import Server
from tests.team.world import member_config, open_team, shared_ledger
from tests.wait import until

TEAM_WEEK = 0.05


async def _status(d: Daemon) -> dict[str, object]:
    async with aiohttp.ClientSession(headers=d.auth()) as s, s.get(d.url + "/status") as r:
        body: dict[str, object] = await r.json()
        return body


async def _team_up(url: str, token: str) -> bool:
    """The daemon holds a connection to the team database (a daemon that started while it
    was out of reach spends offline, which is another test's case)."""
    async with aiohttp.ClientSession(headers={"x-api-key": token}) as s, s.get(url + "/status") as r:
        body = await r.json()
    return bool(body.get("team", {}).get("state") == "up")


async def test_a_killed_daemon_holds_nothing_for_long(
    monkeypatch: pytest.MonkeyPatch, team_db: str, tmp_path: Path
) -> None:
    team_toml = f"[team.budget]\nweekly_usd = {TEAM_WEEK}\n"
    async with open_team(monkeypatch, [("bob", ""), ("carol", "")], team_toml) as team:
        fake = team.fakes["anthropic"]
        fake.hidden = HIDDEN["anthropic"]
        fake.default = Slow(0.5, Answer(text="hi", output_tokens=20))
        doomed = await start(tmp_path, member_config(team.fakes, "alice", team_toml), {})
        token = (await client_token(tmp_path)).strip()
        await until(lambda: _team_up(doomed.url, token), "had alice's daemon reach the team database")
        burst = [asyncio.ensure_future(post_anthropic(doomed.url, token, f"Q{i}")) for i in range(30)]
        while len(fake.received) < 10:  # the burst is under way: alice holds reservations
            assert not any(f.done() for f in burst), [f.result() for f in burst if f.done()]
            await asyncio.sleep(0.05)
        os.kill(doomed.proc.pid, signal.SIGKILL)
        await doomed.proc.wait()
        await asyncio.gather(*burst, return_exceptions=True)
        fake.default = Answer(text="hi", output_tokens=20)

        # The others spend what is left, and the dead daemon's lease stops holding any of it.
        deadline = time.monotonic() + 90
        others, i = team.daemons, 0
        while True:
            i += 1
            status = await post_anthropic(others[i % 2].url, others[i % 2].token, f"after {i}")
            assert status in (200, 402)
            ledger = await shared_ledger(team_db)
            leased = sum(v for k, v in ledger.items() if k.endswith(":leased"))
            if status == 402 and leased < 1e-9:
                break
            assert time.monotonic() < deadline, ("the dead daemon's lease never expired", ledger)
            if status == 402:
                await asyncio.sleep(1)
    billed = billed_usd("anthropic", fake.bills)
    spent = next(v for k, v in ledger.items() if k.startswith("team:week") and k.endswith(":spent"))
    assert billed <= TEAM_WEEK + 1e-9
    assert spent <= TEAM_WEEK + 1e-9
    # Nothing is stuck: what is left is less than one more request would need (its prompt
    # reserved at the cache-write price, 1.25 times input, as the route caches prompts).
    worst = (HIDDEN["anthropic"].per_request + 200) * 3.75e-6 + 64 * 15e-6
    assert spent >= TEAM_WEEK - 2 * worst, ledger


async def test_the_database_stopped_mid_load(
    monkeypatch: pytest.MonkeyPatch, team_db: str, pg_server: Server
) -> None:
    team_toml = "offline_usd = 0.50\n[team.budget]\nweekly_usd = 5.0\n"
    async with open_team(monkeypatch, [("alice", ""), ("bob", "")], team_toml) as team:
        for fmt, fake in team.fakes.items():
            fake.hidden = HIDDEN[fmt]
            fake.default = Slow(0.2, Answer(text="hi", output_tokens=20))
        async with sdk_clients(team.daemons[0]) as sdk0, sdk_clients(team.daemons[1]) as sdk1:
            formats = ["openai", "anthropic", "gemini"]
            clients: list[dict[str, Client]] = [{f: o(f) for f in formats} for o in (sdk0, sdk1)]

            async def one(i: int) -> int:
                await asyncio.sleep(0.05 * i)  # a steady load across the outage
                client = clients[i % 2][formats[i % 3]]
                route = ROUTE[list(team.fakes)[(i // 2) % 3]]
                return await asyncio.wait_for(ask(client, route, f"Q{i}", stream=i % 4 == 0), 15)

            load = asyncio.ensure_future(asyncio.gather(*(one(i) for i in range(120))))
            while sum(len(f.bills) for f in team.fakes.values()) < 20:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(pg_server.stop)
            while (await _status(team.daemons[0])).get("team", {}).get("state") != "down":  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
            await asyncio.to_thread(pg_server.start)
            statuses = await load
            for d in team.daemons:
                while (await _status(d)).get("team", {}).get("state") != "up":  # type: ignore[union-attr]
                    await asyncio.sleep(0.1)
    assert set(statuses) == {200}, statuses
    billed = sum(billed_usd(fmt, fake.bills) for fmt, fake in team.fakes.items())
    ledger = await shared_ledger(team_db)
    assert ledger["alice"] + ledger["bob"] == pytest.approx(billed, rel=0.01)


async def test_a_daemon_stopped_during_an_outage_settles_at_its_next_start(
    monkeypatch: pytest.MonkeyPatch, team_db: str, pg_server: Server, tmp_path: Path
) -> None:
    fakes = await start_fakes(monkeypatch)
    fakes["anthropic"].default = Answer(text="hi", output_tokens=20)
    config = member_config(fakes, "alice", "offline_usd = 0.50\n[team.budget]\nweekly_usd = 5.0\n")
    try:
        await asyncio.to_thread(pg_server.stop)
        try:
            daemon = await start_daemon(config, data_dir=tmp_path)
            assert await post_anthropic(daemon.url, daemon.token, "while the database is down") == 200
            status = await _status(daemon)
            assert status["team"]["state"] == "down"  # type: ignore[index]
            await daemon.close()
        finally:
            await asyncio.to_thread(pg_server.start)
        assert (tmp_path / "team-unsent.jsonl").exists()
        daemon = await start_daemon(config, data_dir=tmp_path)
        try:
            billed = billed_usd("anthropic", fakes["anthropic"].bills)
            while True:
                try:
                    if (await shared_ledger(team_db)).get("alice", 0.0) >= billed * 0.99:
                        break
                except asyncpg.UndefinedTableError:
                    pass  # the daemon has not reached the database yet
                await asyncio.sleep(0.1)
        finally:
            await daemon.close()
        assert (await shared_ledger(team_db))["alice"] == pytest.approx(billed)
        assert not (tmp_path / "team-unsent.jsonl").exists()
    finally:
        for f in fakes.values():
            await f.close()
