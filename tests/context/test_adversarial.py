"""Files that once froze the daemon, saved into a watched project while agents stream through it.

`detour serve` runs in its own process. While two clients stream chat
completions one after another and a third asks for `/health` every 20 ms, the
adversarial files are saved into the registered root: a 1 MB file of one
function and 13,000 comment lines, 2,500 nested functions, a 600 KB line of
JavaScript, and a 500 KB file tree-sitter needs tens of seconds for. Every stream
completes, `/health` stays quick, and SIGTERM ends the daemon while a parse runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.context.adversarial import FILES, one_function_then_comments, save
from tests.context.samples import PYTHON, write
from tests.daemon_harness import SIM_CONFIG
from tests.process_harness import client_token, start

HEALTH_P99_MS = 250  # the acceptance bound (issue 20); bench/context.py measures the real figures


def _children_running(pid: int) -> bool:
    """A child of ``pid`` (a parse worker) is on a CPU or waiting for one."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()[0] == "R":
                    return True
            except OSError:
                continue
    return False


async def _until(check: Callable[[], Any]) -> None:
    while not await check():
        await asyncio.sleep(0.05)


async def test_saving_adversarial_files_never_stalls_serving_and_sigterm_still_ends_the_daemon(
    tmp_path: Path,
) -> None:
    root = write(tmp_path / "proj", PYTHON)
    config = SIM_CONFIG.replace('kind = "sim"', 'kind = "sim"\nlatency_ms = 10')
    daemon = await start(tmp_path, config + f"\n[[projects]]\nroot = {json.dumps(str(root))}\n", {})
    try:
        auth = {"authorization": f"Bearer {(await client_token(tmp_path)).strip()}"}
        async with aiohttp.ClientSession() as s:

            async def project() -> dict[str, Any]:
                async with s.get(f"{daemon.url}/status", headers=auth) as r:
                    found: dict[str, Any] = (await r.json())["projects"][0]
                    return found

            async def ready() -> bool:
                return (await project())["state"] == "ready"

            await _until(ready)
            stop = asyncio.Event()
            health_ms: list[float] = []
            streams: list[bool] = []

            async def health() -> None:
                while not stop.is_set():
                    started = time.perf_counter()
                    async with s.get(f"{daemon.url}/health") as r:
                        assert r.status == 200
                    health_ms.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.02)

            async def stream() -> None:
                body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
                while not stop.is_set():
                    async with s.post(f"{daemon.url}/v1/chat/completions", json=body, headers=auth) as r:
                        text = await r.text()
                    streams.append(r.status == 200 and text.rstrip().endswith("data: [DONE]"))

            async def indexed() -> bool:
                p = await project()
                return bool(p["files"] == len(PYTHON) + 3 and p["skipped"] == {"larger than 512 KiB": 2})

            async with asyncio.TaskGroup() as group:
                for work in (health, stream, stream):
                    group.create_task(work())
                try:
                    for name in FILES:
                        save(root, name)
                    await _until(indexed)
                    (root / "slow.py").write_bytes(one_function_then_comments()[:500_000])
                    await _until(lambda: asyncio.sleep(0, _children_running(daemon.proc.pid)))
                finally:
                    stop.set()
        assert streams and all(streams), streams
        health_ms.sort()
        p99 = health_ms[int(len(health_ms) * 0.99)]
        assert p99 < HEALTH_P99_MS, (p99, health_ms[-5:])
        daemon.proc.terminate()  # while slow.py is parsing
        assert await asyncio.wait_for(daemon.proc.wait(), 10) == 0
    finally:
        if daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
