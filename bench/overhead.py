"""What detour adds to a request, against a bare aiohttp pass-through, in one run.

A fake OpenAI upstream, a bare pass-through proxy and `detour serve` run as
separate processes; the same chat completion goes (a) straight to the upstream,
(b) through the pass-through, (c) through detour: 300 sequential, then 600 at
16 in flight; and the same question to detour's ``/v1/responses`` (stored, and
with ``store: false``), 300 sequential. Prints p50/p99 and the latency each proxy adds, the ratio of
detour's to the pass-through's, and the time to translate a 200-message
tool-calling conversation Anthropic -> IR -> OpenAI. Then the cost of watching:
detour's added latency with and without ``--subscribers`` (default 5) clients
reading ``/events``, in alternating rounds so drift hits both alike.

    .venv/bin/python bench/overhead.py [--subscribers N]   (0 skips that section)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BODY = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello in five words."},
    ],
    "max_tokens": 64,
}
# The same question as a Responses request, stored (the SDK's default) and not.
RESPONSES_BODY = {
    "model": "bench",
    "instructions": "You are terse.",
    "input": "Say hello in five words.",
    "max_output_tokens": 64,
}
TOKEN = "dtr-bench-token"
DETOUR_PID = [0]


def cpu_s(pid: int) -> float | None:
    """CPU seconds the process has used (Linux): unlike latency, blind to other processes' load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(session: aiohttp.ClientSession, url: str, n: int, cpu: list[float]) -> list[float]:
    """``sequential``, adding detour's CPU seconds for the run to ``cpu``."""
    before = cpu_s(DETOUR_PID[0])
    out = await sequential(session, url, n)
    after = cpu_s(DETOUR_PID[0])
    if before is not None and after is not None:
        cpu.append(after - before)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def processes(tmp: Path) -> Iterator[dict[str, int]]:
    ports = {"upstream": free_port(), "passthrough": free_port(), "detour": free_port()}
    config = f"""
[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{ports["upstream"]}/v1"
api_key_env = "BENCH_KEY"

[[routes]]
name = "bench"
chain = ["up/gpt-4.1"]
"""
    servers = [
        ["upstream", str(ports["upstream"])],
        ["passthrough", str(ports["passthrough"]), str(ports["upstream"])],
    ]
    with detour_and(tmp, config, servers, ports["detour"]):
        yield ports


@contextmanager
def detour_and(tmp: Path, config: str, servers: list[list[str]], detour_port: int) -> Iterator[None]:
    """`detour serve` with ``config`` on ``detour_port``, and each bench/_servers.py command, as processes."""
    (tmp / "config.toml").write_text(config)
    env = {
        **os.environ,
        "BENCH_KEY": "sk-bench",
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "PYTHONPATH": str(ROOT),
    }
    (tmp / "keyring.json").write_text(json.dumps({"detour\0client-token": TOKEN}))
    script = ROOT / "bench" / "_servers.py"
    procs = [subprocess.Popen([sys.executable, str(script), *args], env=env) for args in servers]
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon.cli",
                "serve",
                "--config",
                str(tmp / "config.toml"),
                "--port",
                str(detour_port),
                "--log-level",
                "WARNING",
            ],
            env=env,
            cwd=ROOT,
        )  # fmt: skip
    )
    try:
        DETOUR_PID[0] = procs[-1].pid
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def wait_up(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(400):
        try:
            async with session.post(url, json=BODY) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"{url} never answered")


async def sequential(
    session: aiohttp.ClientSession, url: str, n: int, body: dict[str, object] = BODY
) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        async with session.post(url, json=body) as r:
            await r.read()
            assert r.status == 200, r.status
        out.append((time.perf_counter() - t) * 1000)
    return out


async def concurrent(
    session: aiohttp.ClientSession, url: str, n: int, inflight: int
) -> tuple[list[float], float]:
    lat: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            t = time.perf_counter()
            async with session.post(url, json=BODY) as r:
                await r.read()
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return lat, n / (time.perf_counter() - t0)


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100)[int(p) - 1] if len(xs) > 1 else xs[0]


async def measure(ports: dict[str, int], subscribers: int) -> None:
    urls = {name: f"http://127.0.0.1:{port}/v1/chat/completions" for name, port in ports.items()}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as s:
        for url in urls.values():
            await wait_up(s, url)
        for url in urls.values():  # warm connection pools and caches
            await sequential(s, url, 50)
        cpu: list[float] = []
        seq = {
            name: await (timed(s, url, 300, cpu) if name == "detour" else sequential(s, url, 300))
            for name, url in urls.items()
        }
        responses = f"http://127.0.0.1:{ports['detour']}/v1/responses"
        for label, store in (("detour /v1/responses", True), ("  store: false", False)):
            await sequential(s, responses, 50, {**RESPONSES_BODY, "store": store})
            seq[label] = await sequential(s, responses, 300, {**RESPONSES_BODY, "store": store})
        conc = {name: await concurrent(s, url, 600, 16) for name, url in urls.items()}
    print("\n== 300 sequential requests (ms) ==")
    print(f"{'path':<22}{'p50':>8}{'p99':>8}{'added p50':>11}")
    base = pct(seq["upstream"], 50)
    for name, xs in seq.items():
        print(f"{name:<22}{pct(xs, 50):8.3f}{pct(xs, 99):8.3f}{pct(xs, 50) - base:11.3f}")
    added_pt = pct(seq["passthrough"], 50) - base
    added_dt = pct(seq["detour"], 50) - base
    print(f"detour adds {added_dt:.3f} ms p50; the bare pass-through {added_pt:.3f} ms; "
          f"ratio {added_dt / added_pt if added_pt > 0 else float('nan'):.2f}x")  # fmt: skip
    if cpu:  # CPU time is blind to other processes' load, unlike latency
        print(f"detour's own CPU: {sum(cpu) / 300 * 1e6:.0f} us a request")
    print("\n== 600 requests, 16 in flight ==")
    print(f"{'path':<12}{'p50':>8}{'p99':>8}{'req/s':>9}")
    for name, (xs, rps) in conc.items():
        print(f"{name:<12}{pct(xs, 50):8.3f}{pct(xs, 99):8.3f}{rps:9.0f}")
    print(f"detour serves {conc['detour'][1] / conc['passthrough'][1]:.2f}x the pass-through's requests/s")
    if subscribers:
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as s:
            await watched(s, ports, subscribers)


async def watched(session: aiohttp.ClientSession, ports: dict[str, int], n: int, rounds: int = 20) -> None:
    """Detour's added p50 with and without n clients streaming /events.

    Short rounds in ABBA order, so drift and other processes' load hit both alike; the
    subscribers live in a process of their own that sleeps while they are off, so reading
    the events costs nothing to this process, the one timing the requests."""
    upstream = f"http://127.0.0.1:{ports['upstream']}/v1/chat/completions"
    detour = f"http://127.0.0.1:{ports['detour']}/v1/chat/completions"
    servers = ROOT / "bench" / "_servers.py"
    argv = [sys.executable, str(servers), "subscribers", str(ports["detour"]), str(n), TOKEN]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def command(line: bytes) -> bytes:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(line + b"\n")
        await proc.stdin.drain()
        return (await proc.stdout.readline()).strip()

    base: list[float] = []
    bare: list[float] = []
    observed: list[float] = []
    received: list[int] = []
    cpu_bare: list[float] = []
    cpu_observed: list[float] = []
    per = 60
    for i in range(rounds):
        base += await sequential(session, upstream, per)
        for watching in (False, True) if i % 2 == 0 else (True, False):
            if watching:
                assert await command(b"on") == b"ready"
                observed += await timed(session, detour, per, cpu_observed)
                received += [int(x) for x in (await command(b"off")).split()]
            else:
                bare += await timed(session, detour, per, cpu_bare)
    proc.stdin.close()
    await proc.wait()
    b = pct(base, 50)
    added_bare, added_watched = pct(bare, 50) - b, pct(observed, 50) - b
    growth = (added_watched - added_bare) / added_bare * 100 if added_bare > 0 else float("nan")
    print(
        f"\n== {rounds}x{per} sequential requests (ABBA), detour without / with {n} /events readers (ms) =="
    )
    print(f"{'path':<16}{'p50':>8}{'p99':>8}{'added p50':>11}")
    print(f"{'upstream':<16}{b:8.3f}{pct(base, 99):8.3f}{0.0:11.3f}")
    print(f"{'detour':<16}{pct(bare, 50):8.3f}{pct(bare, 99):8.3f}{added_bare:11.3f}")
    label = f"detour+{n} subs"
    print(f"{label:<16}{pct(observed, 50):8.3f}{pct(observed, 99):8.3f}{added_watched:11.3f}")
    print(f"the subscribers add {added_watched - added_bare:.3f} ms p50 to detour's overhead "
          f"({growth:+.1f}%); each got {min(received)}-{max(received)} events a round")  # fmt: skip
    if cpu_bare and cpu_observed:
        per_bare = sum(cpu_bare) / len(bare) * 1e6
        per_observed = sum(cpu_observed) / len(observed) * 1e6
        print(f"detour's own CPU per request: {per_bare:.0f} us without, {per_observed:.0f} us with "
              f"({(per_observed - per_bare) / per_bare * 100:+.1f}%)")  # fmt: skip


def translation() -> None:
    from daemon.formats import anthropic, openai_chat
    from daemon.providers.profiles import profile_of

    messages: list[dict[str, object]] = []
    for i in range(100):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Step {i}: reading a file."},
                    {
                        "type": "tool_use",
                        "id": f"toolu_{i:04d}",
                        "name": "Read",
                        "input": {"file_path": f"/src/m{i}.py"},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i:04d}", "content": "x = 1\n" * 40}
                ],
            }
        )
    messages.insert(0, {"role": "user", "content": "Refactor the project."})
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": "You are a coding agent.",
        "messages": messages[:200],
        "tools": [
            {
                "name": "Read",
                "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
            }
        ],
    }
    n = 200
    profile = profile_of("openai", "gpt-4.1")
    t = time.perf_counter()
    for _ in range(n):
        openai_chat.encode_request(anthropic.decode_request(body), "gpt-4.1", profile)
    per = (time.perf_counter() - t) / n * 1000
    print(f"\n== translate a 200-message tool conversation Anthropic -> IR -> OpenAI: {per:.3f} ms ==")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=5, help="/events clients to measure (0: skip)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp, processes(Path(tmp)) as ports:
        asyncio.run(measure(ports, args.subscribers))
    translation()


if __name__ == "__main__":
    main()
