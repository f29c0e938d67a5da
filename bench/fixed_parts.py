"""What each part of a request's fixed cost takes, timed alone on the daemon's own objects.

Starts the daemon in this process (a fake OpenAI upstream, one route, as
``bench/hotpath.py``), sends a few requests so every cache is warm, then calls each
per-request part the relay calls, with the same arguments a 2-frame answer gives
them, many times over: the CPU microseconds each takes a request. Sampling
(``hotpath.py --sample``) says where a request's time goes but lands its samples a
little after the code that spent them; this says what each part costs on its own.

    .venv/bin/python bench/fixed_parts.py [--calls 20000]

``--root PATH`` times another checkout's daemon (e.g. /work/main) with the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-parts"


def timed(fn: Callable[[], object], calls: int) -> float:
    """CPU microseconds a call, the best of three runs (the machine is shared)."""
    best = float("inf")
    for _ in range(3):
        gc.collect()
        t = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - t) / calls * 1e6)
    return best


async def atimed(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(3):
        gc.collect()
        t = time.process_time()
        for _ in range(calls):
            await fn()  # type: ignore[misc]
        best = min(best, (time.process_time() - t) / calls * 1e6)
    return best


async def parts(calls: int) -> dict[str, float]:
    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from daemon.ir import Request, Usage
    from daemon.ir.conversation import Message, TextPart
    from daemon.routing.chain import Attempt, Outcome, Walk
    from daemon.server.guard import auth, guard
    from daemon.server.inbound import GATEWAY
    from daemon.server.relay import _headers
    from tests.daemon_harness import start_daemon
    from tests.fakes.base import Answer
    from tests.fakes.openai_chat import FakeOpenAI

    fake = await FakeOpenAI(key=KEY).start()
    fake.default = Answer("w0", chunks=1)
    os.environ["FIXED_PARTS_KEY"] = KEY
    daemon = await start_daemon(
        f'[providers.up]\nkind = "openai"\nbase_url = "{fake.url}/v1"\napi_key_env = "FIXED_PARTS_KEY"\n'
        '\n[[routes]]\nname = "bench"\nchain = ["up/gpt-4.1"]\n'
    )
    out: dict[str, float] = {}
    try:
        body = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 1}
        async with aiohttp.ClientSession(headers=daemon.auth()) as s:
            for stream in (False, True) * 20:  # warm: pools, caches, the calibration's first count
                async with s.post(daemon.url + "/v1/chat/completions", json={**body, "stream": stream}) as r:
                    await r.read()
        app = daemon.runner.app
        gw = app[GATEWAY]
        tel = gw.telemetry
        chain = gw.chain
        spend = chain.spend
        assert spend is not None
        target = gw.resolve("bench").chain[0]
        provider = chain.providers[target.provider]
        req = Request(model="gpt-4.1", messages=[Message("user", [TextPart("Say hello.")])], max_tokens=1)
        usage = Usage(input_tokens=12, output_tokens=1)
        max_out = provider.profile(target.model).max_output

        out["sessions.resolve"] = timed(lambda: gw.sessions.resolve(None, None, "dtr-token"), calls)
        checks = [guard(None), auth(daemon.token)]
        asked = make_mocked_request(
            "POST", "/v1/chat/completions", headers={"Host": "127.0.0.1:8787", **daemon.auth()}
        )

        async def answered(_: web.Request) -> web.StreamResponse:
            return web.Response()

        async def guarded() -> None:
            await checks[0](asked, functools.partial(checks[1], handler=answered))

        out["guard + auth middlewares"] = await atimed(guarded, calls)
        out["routes.resolve"] = timed(lambda: gw.resolve("bench"), calls)

        def health() -> None:
            chain.health.claim(target)
            chain.health.success(target)

        out["health claim + success"] = timed(health, calls)

        async def budget() -> None:
            adm = await spend.admit(req, target, "s1", "bench", max_out, 12)
            spend.settle(adm, target, usage)

        out["budget admit + settle"] = await atimed(budget, calls)

        def telemetry() -> None:
            trace = tel.begin(
                session="s1",
                route="bench",
                fmt="openai_chat",
                requested="bench",
                stream=False,
                primary=target,
            )
            walk = Walk(lambda a: tel.attempt(trace, a))
            walk.record(Attempt(target, Outcome.OK, latency_ms=1.0))
            tel.finish(trace, walk, target=target, usage=usage, cost_usd=0.0001)

        out["telemetry: events + listeners"] = timed(telemetry, calls)
        lease = type("L", (), {})()
        lease.provider, lease.target, lease.attempts, lease.adapted = (
            provider,
            target,
            [Attempt(target, Outcome.OK)],
            [],
        )
        out["response headers"] = timed(lambda: _headers(lease, "s1"), calls)
        await asyncio.sleep(0.5)  # let batched writes land before closing
    finally:
        await daemon.close()
        await fake.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose daemon to time")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.memkeyring.MemoryKeyring")
    results = asyncio.run(parts(args.calls))
    print(f"CPU us a call, best of 3 x {args.calls} ({args.root}):")
    for name, us in results.items():
        print(f"  {name:<32}{us:8.2f}")


if __name__ == "__main__":
    main()
