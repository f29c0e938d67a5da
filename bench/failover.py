"""What a failover costs beyond the failed call itself, in one run.

Processes: a fake OpenAI upstream that answers (the fallback), one that answers
429 at once with ``retry-after: 0`` (so it is called every time), one that answers
429 with ``retry-after: 3600`` (called once, then in cooldown), one that answers
500 (its circuit opens after five), and ``detour serve`` with a route per case:

    direct     the fallback alone                          (baseline)
    failover   429 primary -> fallback, every request
    cooldown   primary cooling down -> fallback, no call to the primary
    circuit    primary's circuit open -> fallback, no call to the primary

Requests are interleaved (one of each path per round) so drift hits all alike.
The failover penalty is what ``failover`` takes beyond ``direct`` plus the 429's
own round trip measured straight against the 429 server.

    .venv/bin/python bench/failover.py [ROUNDS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import BODY, ROOT, TOKEN, detour_and, free_port, pct  # noqa: E402

ROUTES = {"direct": ["ok"], "failover": ["limited"], "cooldown": ["cooling"], "circuit": ["failing"]}


def config(ports: dict[str, int]) -> str:
    lines = []
    for name in ("ok", "limited", "cooling", "failing"):
        lines += [f"[providers.{name}]", 'kind = "openai"', f'base_url = "http://127.0.0.1:{ports[name]}/v1"',
                  'api_key_env = "BENCH_KEY"', ""]  # fmt: skip
    for route, primary in ROUTES.items():
        chain = ", ".join(f'"{p}/gpt-4.1"' for p in [*primary, "ok"] if route != "direct" or p == "ok")
        lines += ["[[routes]]", f'name = "{route}"', f"chain = [{chain}]", ""]
    return "\n".join(lines)


async def once(session: aiohttp.ClientSession, url: str, model: str | None, status: int) -> float:
    body = BODY if model is None else {**BODY, "model": model}
    t = time.perf_counter()
    async with session.post(url, json=body) as r:
        await r.read()
        assert r.status == status, (url, model, r.status)
    return (time.perf_counter() - t) * 1000


async def measure(ports: dict[str, int], rounds: int) -> dict[str, list[float]]:
    detour = f"http://127.0.0.1:{ports['detour']}/v1/chat/completions"
    raw429 = f"http://127.0.0.1:{ports['limited']}/v1/chat/completions"
    paths = {route: (detour, route, 200) for route in ROUTES} | {"raw 429": (raw429, None, 429)}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as s:
        for _ in range(400):
            try:
                await once(s, detour, "direct", 200)
                break
            except (aiohttp.ClientError, AssertionError):
                await asyncio.sleep(0.05)
        else:
            raise SystemExit("detour never answered")
        for _ in range(50):  # warm pools; sends the cooling primary into cooldown, opens the circuit
            for url, model, status in paths.values():
                await once(s, url, model, status)
        out: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, (url, model, status) in paths.items():
                out[name].append(await once(s, url, model, status))
        for route in ROUTES:  # what each path really did
            async with s.post(detour, json={**BODY, "model": route}) as r:
                print(f"{route:<10}x-detour-attempts: {r.headers.get('x-detour-attempts')}")
    return out


def report(lat: dict[str, list[float]]) -> None:
    print(f"\n== {len(lat['direct'])} interleaved rounds, sequential (ms) ==")
    print(f"{'path':<10}{'p50':>8}{'p99':>8}{'vs direct p50':>15}")
    d50, d99 = pct(lat["direct"], 50), pct(lat["direct"], 99)
    for name, xs in lat.items():
        print(f"{name:<10}{pct(xs, 50):8.3f}{pct(xs, 99):8.3f}{pct(xs, 50) - d50:+15.3f}")
    r50 = pct(lat["raw 429"], 50)
    f50 = pct(lat["failover"], 50)
    print(f"\nfailover penalty beyond the primary's own 429 round trip (p50): {f50 - d50 - r50:+.3f} ms")
    print(f"  = failover {f50:.3f} - direct {d50:.3f} - raw 429 {r50:.3f}; failover/direct {f50 / d50:.2f}x")
    for name in ("cooldown", "circuit"):
        x50, x99 = pct(lat[name], 50), pct(lat[name], 99)
        print(f"{name:<9} penalty vs direct: p50 {x50 - d50:+.3f} ms, p99 {x99 - d99:+.3f} ms "
              f"({x50 / d50:.2f}x p50)")  # fmt: skip


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    sys.path.insert(0, str(ROOT))
    ports = {name: free_port() for name in ("ok", "limited", "cooling", "failing", "detour")}
    servers = [
        ["upstream", str(ports["ok"])],
        ["refuse", str(ports["limited"]), "429", "0"],
        ["refuse", str(ports["cooling"]), "429", "3600"],
        ["refuse", str(ports["failing"]), "500", "-"],
    ]
    with tempfile.TemporaryDirectory() as tmp, detour_and(Path(tmp), config(ports), servers, ports["detour"]):
        report(asyncio.run(measure(ports, rounds)))


if __name__ == "__main__":
    main()
