"""What team mode costs and how far it scales.

1. Added latency per request, team on vs off, same run: a fake OpenAI upstream and two
   in-process daemons (one with ``[team]`` on a real PostgreSQL 15 started here, one
   without) take the same chat completion one at a time, rounds alternating.
2. Database writes (commits) per request at 1, 10 and 100 simulated daemons: real
   ``TeamBudget`` objects against the real database, each serving requests at a steady
   rate (lease, claim, settle exactly as the daemon does, without the HTTP around it).
3. The paper figure of issue 23: 1,000 daemons at 1 request/s each, simulated with the
   same slice, settle and renew rules and no database, against one write per request.

    .venv/bin/python bench/team.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.memkeyring.MemoryKeyring")

from daemon.budget.accounts import Limits, Reservation  # noqa: E402
from daemon.config import TeamBudget as TeamLimits  # noqa: E402
from daemon.config import TeamSettings  # noqa: E402
from daemon.team import budget as team_budget  # noqa: E402
from daemon.team import database, leases  # noqa: E402
from daemon.team.budget import TeamBudget  # noqa: E402
from tests.daemon_harness import start_daemon  # noqa: E402
from tests.fakes.openai_chat import FakeOpenAI  # noqa: E402
from tests.team.postgres import Server, remove, start_server  # noqa: E402

ROUNDS, PER_ROUND = 5, 60
NEED, COST = 0.02, 0.008  # a request's worst case and what it really costs, USD


def pct(xs: list[float], p: int) -> float:
    return statistics.quantiles(xs, n=100)[p - 1]


async def latency(server: Server) -> None:
    fake = await FakeOpenAI(key="sk-bench").start()
    os.environ["BENCH_KEY"] = "sk-bench"
    base = (
        f'[providers.up]\nkind = "openai"\nbase_url = "{fake.url}/v1"\napi_key_env = "BENCH_KEY"\n'
        '[[routes]]\nname = "bench"\nchain = ["up/gpt-4.1"]\n[budget]\nweekly_usd = 1000.0\n'
    )
    await _create(server, "bench_latency")
    os.environ["DETOUR_TEAM_DATABASE"] = server.url("bench_latency")
    off = await start_daemon(base)
    on = await start_daemon(base + '[team]\nmember = "bench"\n[team.budget]\nweekly_usd = 1000.0\n')
    times: dict[str, list[float]] = {"off": [], "on": []}
    body = {"model": "bench", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with aiohttp.ClientSession(headers=off.auth()) as s:
            for _ in range(ROUNDS * PER_ROUND):  # alternating, so drift hits both alike
                for name, d in (("off", off), ("on", on)):
                    t0 = time.perf_counter()
                    async with s.post(d.url + "/v1/chat/completions", json=body) as r:
                        await r.read()
                        assert r.status == 200, await r.text()
                    times[name].append((time.perf_counter() - t0) * 1000)
        from daemon.server.team import TEAM

        team = on.runner.app[TEAM]
        grants, flushes = team.grants, team.flushes
    finally:
        await on.close()
        await off.close()
        await fake.close()
    p50 = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: pct(v, 95) for k, v in times.items()}
    n = len(times["on"])
    print(f"1. latency, {n} requests each, one at a time (in-process daemons, fake upstream)")
    for k in ("off", "on"):
        print(f"   team {k:<3}  p50 {p50[k]:6.2f} ms   p95 {p95[k]:6.2f} ms")
    print(
        f"   added by team mode: p50 {p50['on'] - p50['off']:+.2f} ms ({p50['on'] / p50['off']:.2f}x), "
        f"p95 {p95['on'] - p95['off']:+.2f} ms; {grants} grants + {flushes} settlements in the run"
    )


async def _create(server: Server, name: str) -> None:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()


async def simulated(server: Server, daemons: int, seconds: float, rate: float) -> None:
    name = f"bench_sim_{daemons}"
    await _create(server, name)
    pool = await database.pool(server.url(name))
    await database.migrate(pool)

    async def shared() -> asyncpg.Pool:
        return pool

    settings = TeamSettings(member="m", budget=TeamLimits(weekly_usd=1e6))
    teams = [TeamBudget(settings, f"d{i}", Limits(), UTC, shared) for i in range(daemons)]
    runs = [asyncio.create_task(t.run()) for t in teams]
    before = await pool.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name)
    served = 0

    async def one_daemon(t: TeamBudget) -> None:
        nonlocal served
        row = 0
        start = time.monotonic()
        await asyncio.sleep(1 / rate * (hash(t.daemon) % 100) / 100)  # not all in step
        while time.monotonic() - start < seconds:
            await t.ensure(NEED)
            now = datetime.now(UTC)
            res = Reservation("s", NEED, now, now)
            room, _ = t.room()
            if room >= NEED:
                t.take(res)
                row += 1
                res.row_id, res.where = row, ("bench", "up", "model")
                await asyncio.sleep(0.05)  # the upstream call
                t.settled(res, COST)
                served += 1
            await asyncio.sleep(1 / rate)

    await asyncio.gather(*(one_daemon(t) for t in teams))
    for task in runs:
        task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    for t in teams:  # as close() does, but the pool is shared: closed once below
        t._collect_idle(everything=True)
        await t.flush(force=True)
    after = await pool.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name)
    ours = sum(t.grants + t.flushes for t in teams)
    await pool.close()
    print(
        f"   {daemons:>3} daemons: {served:>5} requests, {ours:>4} grant/settle transactions "
        f"= {ours / served:.3f} writes per request ({(after - before) / served:.3f} commits per request "
        "counting the server's own)"
    )


def paper(daemons: int = 1000, seconds: int = 600, limit: float = 50_000.0) -> None:
    """Second by second: each daemon serves one request a second from its slice."""
    spent = leased = 0.0
    free = [0.0] * daemons
    pending = [0] * daemons
    since = [0.0] * daemons
    writes = 0
    for second in range(seconds):
        for d in range(daemons):
            if free[d] < NEED:
                left = limit - spent - leased
                grant = min(left, max(NEED, min(left * leases.SHARE, NEED * leases.MAX_NEEDS)))
                writes += 1
                if grant < NEED:
                    continue
                free[d] += grant
                leased += grant
            free[d] -= COST  # reserved NEED, settled to COST: the difference stays in the slice
            leased -= COST
            spent += COST
            pending[d] += 1
            if pending[d] == 1:
                since[d] = second
            if pending[d] >= team_budget.SETTLE_BATCH or second - since[d] >= team_budget.SETTLE_S:
                writes += 1
                pending[d] = 0
    requests = daemons * seconds
    print(
        f"3. {daemons} daemons at 1 request/s for {seconds} s (${NEED} worst case, ${COST} billed): "
        f"{writes / seconds:.0f} writes/s against {daemons} writes/s for one write per request "
        f"({writes / requests:.3f} per request)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="how long each simulated team runs")
    args = ap.parse_args()
    server = start_server()
    try:
        await latency(server)
        print(f"2. database writes per request, simulated daemons at 2 requests/s for {args.seconds:g} s")
        for n in (1, 10, 100):
            await simulated(server, n, args.seconds, 2.0)
    finally:
        remove(server)
    paper()


if __name__ == "__main__":
    asyncio.run(main())
