"""bench/context.py's serving part: a chat request every 50 ms through `detour serve` while it
indexes a repository cold and while adversarial files are saved, against the same daemon idle.

The daemon runs in its own process (the simulated provider answers at once, so
the figures are the daemon's own time: its event loop, and what indexing takes
from it). Requests are sent on a fixed 50 ms schedule, each on its own, so a
stall shows in every request it delays rather than in one.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.context.adversarial import FILES, one_function_then_comments, save
from tests.daemon_harness import SIM_CONFIG
from tests.process_harness import Process, client_token, start

EVERY_S = 0.05
IDLE_S = 3.0  # a window of the daemon idle, before each loaded one
ROUNDS = 3
BODY = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


def serving(source: Path, tmp: Path) -> None:
    asyncio.run(_serving(source, tmp))


async def _serving(source: Path, tmp: Path) -> None:
    """Idle windows alternate with the loaded ones, so that the machine's other load (when it
    has any) falls on both alike."""
    home = tmp / "serving"
    roots = [home / f"repo{n}" for n in range(ROUNDS)]
    for root in roots:  # a cold index takes seconds: a few of them, for enough requests
        shutil.copytree(source, root)
    daemon = await start(home, SIM_CONFIG, {"XDG_CACHE_HOME": str(home / "cache")})
    try:
        async with _Client(daemon, home) as c:
            idle: list[float] = []
            cold: list[float] = []
            saves: list[float] = []
            for n, root in enumerate(roots):
                idle += await c.measure(_after(IDLE_S))
                # Registered as `detour context add` does it: the daemon reloads its config.
                with (home / "config.toml").open("a") as f:
                    f.write(f"\n[[projects]]\nroot = {json.dumps(str(root))}\n")
                started = time.perf_counter()
                cold += await c.measure(c.ready(n))
                seconds = time.perf_counter() - started
            files = (await c.project(0))["files"]
            print(f"indexing {files} files cold: {seconds:.1f} s (the last of {ROUNDS})")
            for n in range(ROUNDS):
                idle += await c.measure(_after(IDLE_S))
                (roots[n] / "adversarial").mkdir()
                for name in FILES:
                    save(roots[n] / "adversarial", name)
                (roots[n] / "adversarial" / "slow.py").write_bytes(one_function_then_comments()[:500_000])
                saves += await c.measure(c.slow_done(n))
            print(f"serving idle ({len(idle)} requests in {2 * ROUNDS} windows): {_figures(idle)}")
            print(f"while indexing cold ({ROUNDS} projects):    {_figures(cold)}")
            print(f"while adversarial files are saved ({ROUNDS}x): {_figures(saves)}")
            base = _p99(idle)
            print(
                f"p99 vs idle: indexing cold {_p99(cold) / base:.2f}x, adversarial {_p99(saves) / base:.2f}x"
            )
            _rss(daemon)
    finally:
        daemon.proc.terminate()
        await asyncio.wait_for(daemon.proc.wait(), 10)


class _Client:
    def __init__(self, daemon: Process, home: Path) -> None:
        self.daemon, self.home = daemon, home

    async def __aenter__(self) -> _Client:
        self.auth = {"authorization": f"Bearer {(await client_token(self.home)).strip()}"}
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def project(self, n: int) -> dict[str, Any]:
        async with self.http.get(f"{self.daemon.url}/status", headers=self.auth) as r:
            projects: list[dict[str, Any]] = (await r.json())["projects"]
            return projects[n] if n < len(projects) else {"state": "unknown", "skipped": {}}

    def ready(self, n: int) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            return bool((await self.project(n))["state"] == "ready")

        return done

    def slow_done(self, n: int) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            """slow.py, the last file saved, timed out and is indexed as text only."""
            return any("text only" in reason for reason in (await self.project(n))["skipped"])

        return done

    async def measure(self, done: Callable[[], Awaitable[bool]]) -> list[float]:
        """Chat requests every 50 ms until ``done``: each one's time in ms."""
        times: list[float] = []

        async def one() -> None:
            started = time.perf_counter()
            async with self.http.post(
                f"{self.daemon.url}/v1/chat/completions", json=BODY, headers=self.auth
            ) as r:
                await r.read()
                assert r.status == 200, r.status
            times.append((time.perf_counter() - started) * 1000)

        async with asyncio.TaskGroup() as group:
            start = time.perf_counter()
            tick = 0
            while not await done():
                group.create_task(one())
                tick += 1
                await asyncio.sleep(max(0.0, start + tick * EVERY_S - time.perf_counter()))
        return times


def _after(seconds: float) -> Callable[[], Awaitable[bool]]:
    until = time.perf_counter() + seconds

    async def done() -> bool:
        return time.perf_counter() >= until

    return done


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[98]


def _figures(times: list[float]) -> str:
    p50, p99 = statistics.median(times), _p99(times)
    return f"{len(times)} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(times):.1f} ms"


def _rss(daemon: Process) -> None:
    """The daemon's resident memory now (parse workers are separate processes, counted apart)."""
    status = Path(f"/proc/{daemon.proc.pid}/status").read_text()
    rss = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    children = Path(f"/proc/{daemon.proc.pid}/task/{daemon.proc.pid}/children").read_text().split()
    print(f"daemon RSS after indexing: {int(rss) / 1024:.0f} MiB; {len(children)} parse worker(s) alive")
