"""Where detour's time goes on one request, module by module, before guessing at a fix.

Runs the daemon in this process against a fake OpenAI upstream, sends the same
chat completion (non-streamed unless ``--stream``) N times under cProfile, and
prints the profiled microseconds a request spent in each daemon module's own code
(cProfile inflates everything alike, so compare modules and runs, not absolutes).

With ``--frames N`` the upstream streams its answer in N-1 text chunks (and a finish),
and the figures are also given a frame; ``--anthropic`` sends the request as Anthropic
Messages (translated to the OpenAI upstream); ``--functions K`` lists the K functions
with most own time, to see which code inside a module is hot.

With ``--sample`` there is no cProfile: a CPU-time timer (``ITIMER_PROF``) interrupts
the process every 0.7 ms of CPU and the stack it lands in is counted, so the figures
are real microseconds of CPU a request (with a sampling error of about 1/sqrt(samples)),
inclusive per daemon function. cProfile's overhead a call makes many small calls look
costly: the budget's admission and settlement, ~450 profiled us, sample at ~60 us.

    .venv/bin/python bench/hotpath.py [--requests 1500] [--stream] [--frames 65] [--anthropic] [--sample]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.memkeyring.MemoryKeyring")

from tests.daemon_harness import start_daemon  # noqa: E402
from tests.fakes.base import Answer  # noqa: E402
from tests.fakes.openai_chat import FakeOpenAI  # noqa: E402

KEY = "sk-hotpath"


class Sampler:
    """Counts, every ``interval_s`` of the process's CPU, the daemon functions on the stack."""

    def __init__(self, interval_s: float = 0.0007) -> None:
        self.interval_s = interval_s
        self.samples = 0
        self.inclusive: Counter[str] = Counter()
        self.cpu_s = 0.0
        self._cpu0 = 0.0

    def _tick(self, _sig: int, frame: FrameType | None) -> None:
        self.samples += 1
        seen: set[str] = set()
        while frame is not None:
            path = frame.f_code.co_filename
            if "/daemon/" in path:
                seen.add(f"daemon/{path.split('/daemon/')[-1]}:{frame.f_code.co_name}")
            frame = frame.f_back
        self.inclusive.update(seen)

    def enable(self) -> None:
        signal.signal(signal.SIGPROF, self._tick)
        self._cpu0 = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.interval_s, self.interval_s)

    def disable(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        self.cpu_s = time.process_time() - self._cpu0


async def profile(
    n: int, stream: bool, frames: int, anthropic: bool, prof: cProfile.Profile | Sampler | None = None
) -> pstats.Stats:
    fake = await FakeOpenAI(key=KEY).start()
    fake.default = Answer(" ".join(f"w{i}" for i in range(frames - 1)), chunks=frames - 1)
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
    path = "/v1/messages" if anthropic else "/v1/chat/completions"
    prof = prof or cProfile.Profile()
    try:
        async with aiohttp.ClientSession(headers=daemon.auth()) as s:

            async def one() -> None:
                async with s.post(daemon.url + path, json=body) as r:
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
    return pstats.Stats(prof) if isinstance(prof, cProfile.Profile) else pstats.Stats()


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
    parser.add_argument("--frames", type=int, default=4, help="frames the upstream streams")
    parser.add_argument("--anthropic", action="store_true", help="the client speaks Anthropic")
    parser.add_argument("--functions", type=int, default=0, help="also the K hottest functions")
    parser.add_argument("--sample", action="store_true", help="real CPU by sampling, no cProfile")
    args = parser.parse_args()
    if args.sample:
        sampled(args.requests, args.stream, args.frames, args.anthropic)
        return
    stats = asyncio.run(profile(args.requests, args.stream, args.frames, args.anthropic))
    rows = per_module(stats, args.requests)
    daemon_total = sum(us for us, k in rows if k.startswith("daemon/"))
    print(
        f"profiled us a request ({args.requests} requests, stream={args.stream}, {args.frames} frames):"
        f" daemon {daemon_total:.0f} ({daemon_total / args.frames:.1f} a frame)"
    )
    for us, key in rows[:30]:
        print(f"{us:8.1f}  {key}")
    if args.functions:
        print(f"\nthe {args.functions} functions with most own time (us a frame, calls a frame)")
        hot = sorted(
            stats.stats.items(),  # type: ignore[attr-defined]
            key=lambda kv: kv[1][2],
            reverse=True,
        )
        per = args.requests * args.frames
        for (path, line, fn), (_, calls, tottime, _, _) in hot[: args.functions]:
            where = path.split("/daemon/")[-1] if "/daemon/" in path else path.rsplit("/", 1)[-1]
            print(f"{tottime / per * 1e6:8.2f} {calls / per:6.2f}  {where}:{line} {fn}")


def sampled(n: int, stream: bool, frames: int, anthropic: bool) -> None:
    sampler = Sampler()
    asyncio.run(profile(n, stream, frames, anthropic, sampler))
    us = sampler.cpu_s / n * 1e6
    print(
        f"CPU us a request ({n} requests, stream={stream}, {frames} frames), sampled"
        f" {sampler.samples} times: {us:.0f} in all (the client and the fake upstream included)"
    )
    for where, count in sampler.inclusive.most_common(45):
        print(f"{us * count / max(1, sampler.samples):8.0f}  {where}")


if __name__ == "__main__":
    main()
