"""Where detour's time goes on one request, module by module, before guessing at a fix.

Runs the daemon in this process against a fake OpenAI upstream, sends the same
chat completion (non-streamed unless ``--stream``) N times under cProfile, and
prints the profiled microseconds a request spent in each daemon module's own code
(cProfile inflates everything alike, so compare modules and runs, not absolutes).

    .venv/bin/python bench/hotpath.py [--requests 1500] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.memkeyring.MemoryKeyring")

from tests.daemon_harness import start_daemon  # noqa: E402
from tests.fakes.base import Answer  # noqa: E402
from tests.fakes.openai_chat import FakeOpenAI  # noqa: E402

KEY = "sk-hotpath"


async def profile(n: int, stream: bool) -> pstats.Stats:
    fake = await FakeOpenAI(key=KEY).start()
    fake.default = Answer("Hello there, five words here.")
    os.environ["HOTPATH_KEY"] = KEY
    config = f"""
[providers.up]
kind = "openai"
base_url = "{fake.url}/v1"
api_key_env = "HOTPATH_KEY"

[[routes]]
name = "bench"
chain = ["up/gpt-4.1"]
"""
    daemon = await start_daemon(config)
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 64,
        "stream": stream,
    }
    prof = cProfile.Profile()
    try:
        async with aiohttp.ClientSession(headers=daemon.auth()) as s:

            async def one() -> None:
                async with s.post(daemon.url + "/v1/chat/completions", json=body) as r:
                    await r.read()

            for _ in range(100):  # warm: imports, pools, caches
                await one()
            prof.enable()
            for _ in range(n):
                await one()
            prof.disable()
    finally:
        await daemon.close()
        await fake.close()
    return pstats.Stats(prof)


def per_module(stats: pstats.Stats, n: int) -> list[tuple[float, str]]:
    own: dict[str, float] = {}
    for (path, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "/daemon/" in path:
            key = "daemon/" + path.split("/daemon/")[-1]
        elif "aiohttp" in path:
            key = "aiohttp (server and client)"
        elif "/tests/" in path:
            key = "the fake upstream and the client"
        else:
            key = "stdlib and the rest"
        own[key] = own.get(key, 0.0) + tottime
    return sorted(((t / n * 1e6, k) for k, t in own.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--stream", action="store_true", help="the client asks for a stream")
    args = parser.parse_args()
    stats = asyncio.run(profile(args.requests, args.stream))
    rows = per_module(stats, args.requests)
    daemon_total = sum(us for us, k in rows if k.startswith("daemon/"))
    print(
        f"profiled us a request ({args.requests} requests, stream={args.stream}): daemon {daemon_total:.0f}"
    )
    for us, key in rows[:30]:
        print(f"{us:8.1f}  {key}")


if __name__ == "__main__":
    main()
