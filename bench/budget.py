"""What budgets cost: requests per second through detour with budgets on vs off.

A fake OpenAI upstream and two detour processes take the same chat completion
at 16 in flight (rounds alternate so drift hits both alike): `detour serve`
with session, daily and weekly limits, and the same app with spend tracking
removed altogether (detour always keeps its ledger, so "off" is a bench-only
build; see bench/_servers.py). Then the ledger on its own: attempts
recorded before their call and settled after, as the chain does, per second.

    .venv/bin/python bench/budget.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overhead import ROOT, TOKEN, concurrent, free_port, pct, wait_up  # noqa: E402

ROUNDS = 3
PER_ROUND = 600
BUDGET = "\n[budget]\nweekly_usd = 1000000.0\ndaily_usd = 1000000.0\nsession_usd = 1000000.0\n"
SERVERS = ROOT / "bench" / "_servers.py"


def start(tmp: Path) -> tuple[list[subprocess.Popen[bytes]], dict[str, int]]:
    ports = {"upstream": free_port(), "off": free_port(), "on": free_port()}
    env = {
        **os.environ,
        "BENCH_KEY": "sk-bench",
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "PYTHONPATH": str(ROOT),
    }
    (tmp / "keyring.json").write_text(json.dumps({"detour\0client-token": TOKEN}))
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_servers.py"), "upstream", str(ports["upstream"])]
        )
    ]
    for name in ("off", "on"):
        config = tmp / f"{name}.toml"
        config.write_text(
            f'[providers.up]\nkind = "openai"\nbase_url = "http://127.0.0.1:{ports["upstream"]}/v1"\n'
            f'api_key_env = "BENCH_KEY"\n\n[[routes]]\nname = "bench"\nchain = ["up/gpt-4.1"]\n'
            + (BUDGET if name == "on" else "")
        )
        cmd = [
            sys.executable,
            "-m",
            "daemon.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(ports[name]),
        ]
        procs.append(
            subprocess.Popen(
                [*cmd, "--log-level", "WARNING"], env={**env, "XDG_DATA_HOME": str(tmp / name)}, cwd=ROOT
            )
        )
    return procs, ports


async def through_daemons(ports: dict[str, int], tmp: Path) -> None:
    urls = {name: f"http://127.0.0.1:{ports[name]}/v1/chat/completions" for name in ("off", "on")}
    rps: dict[str, list[float]] = {"off": [], "on": []}
    lat: dict[str, list[float]] = {"off": [], "on": []}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as s:
        for url in urls.values():
            await wait_up(s, url)
            await concurrent(s, url, 200, 16)  # warm up
        busy_on = 0.0
        for r in range(ROUNDS):
            for name in ("off", "on") if r % 2 == 0 else ("on", "off"):
                t = time.perf_counter()
                xs, per_s = await concurrent(s, urls[name], PER_ROUND, 16)
                if name == "on":
                    busy_on += time.perf_counter() - t
                rps[name].append(per_s)
                lat[name] += xs
    off, on = sum(rps["off"]) / ROUNDS, sum(rps["on"]) / ROUNDS
    print(f"\n== {ROUNDS} x {PER_ROUND} requests at 16 in flight, alternating ==")
    print(f"{'budgets':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, value in (("off", off), ("on", on)):
        print(f"{name:<10}{value:9.0f}{pct(lat[name], 50):9.3f}{pct(lat[name], 99):9.3f}")
    print(f"budgets cost {(1 - on / off) * 100:.1f}% of throughput (aim: under 10%)")
    await asyncio.sleep(0.5)  # the ledger writes in batches, a moment behind
    db = sqlite3.connect(tmp / "on" / "detour" / "detour.db")
    rows = db.execute("SELECT count(*) FROM attempts").fetchone()[0]
    db.close()
    print(f"ledger rows written by the daemon: {rows}, {rows / busy_on:.0f} per second of budgeted load")


async def ledger_alone(tmp: Path, n: int = 5000) -> None:
    from daemon.budget.accounts import Accounts, Limits
    from daemon.ir import Usage

    accounts = Accounts(tmp / "alone.db", Limits(None, None, 1e9))
    await accounts.open()
    usage = Usage(input_tokens=20, output_tokens=7)
    t = time.perf_counter()
    last = None
    for _ in range(n):
        res = accounts.reserve("bench", 0.001)
        accounts.record(res, "bench", "up", "gpt-4.1")  # journalled at once, as the chain does
        last = accounts.settle(res, 0.0005, usage, "usage")
        await asyncio.sleep(0)  # let the writer run as it would between requests
    on_loop = (time.perf_counter() - t) / n * 1e6
    assert last is not None
    await last  # every row committed to SQLite
    per_s = n / (time.perf_counter() - t)
    await accounts.close()
    print(f"ledger alone: {per_s:.0f} attempts/s recorded, settled and committed; "
          f"{on_loop:.1f} us of event-loop time per attempt")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        procs, ports = start(tmp)
        try:
            asyncio.run(through_daemons(ports, tmp))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
        asyncio.run(ledger_alone(tmp))


if __name__ == "__main__":
    main()
