"""What detour adds to a request against the least a relay can do, in one run.

A fake OpenAI upstream that streams an answer of N frames (max_tokens content chunks,
then the finish chunk with usage), the floor (bench/_servers.py ``floor``: bare aiohttp +
orjson + uvloop, its own process) and ``detour serve`` run as separate processes.
Eight cases: the client wants a stream (the floor relays the bytes as they come) or one
body (the floor calls upstream streaming and joins the text, as detour does); answers of
65 and 1,000 frames; same format (OpenAI Chat in and out) or translated (Anthropic in,
OpenAI out). For each, in rounds that interleave the targets so drift and the other
processes' load hit all alike: sequential requests (client-side p50, the latency each
adds over calling the upstream directly, and each process's own CPU time a request, from
/proc: blind to other processes' load), then wrk with 16 connections (req/s). Ratios are
against the floor; the spread is the lowest and highest round's ratio. ``--before PATH``
runs a second detour from another checkout (e.g. a worktree at main) in the same rounds.
Then idle RSS and start-up time of each detour, and (``--subscribers N``) what N /events
readers add, and the time to translate a 200-message conversation.

    .venv/bin/python bench/overhead.py [--before /path/to/main] [--rounds 3] [--subscribers 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
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
TOKEN = "dtr-bench-token"
DETOUR_PID = [0]
FRAMES = (65, 1000)


def cpu_s(pid: int) -> float | None:
    """CPU seconds the process has used (Linux): unlike latency, blind to other processes' load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns_s(pid: int) -> float:
    """The same in nanoseconds (each thread's schedstat): fine enough for one round's requests."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue  # a thread that just ended
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


def config_for(upstream_port: int) -> str:
    return f"""
[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
api_key_env = "BENCH_KEY"

[[routes]]
name = "bench"
chain = ["up/gpt-4.1"]
"""


def bench_env(tmp: Path, root: Path = ROOT) -> dict[str, str]:
    (tmp / "keyring.json").write_text(json.dumps({"detour\0client-token": TOKEN}))
    return {
        **os.environ,
        "BENCH_KEY": "sk-bench",
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "PYTHONPATH": str(root),
    }


def spawn_detour(tmp: Path, config: str, port: int, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """`detour serve` from the checkout at ``root`` (this one's venv: same dependencies)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.toml").write_text(config)
    argv = [sys.executable, "-m", "daemon.cli", "serve", "--config", str(tmp / "config.toml"),
            "--port", str(port), "--log-level", "WARNING"]  # fmt: skip
    # Its log goes to a file: wrk cuts its last streams mid-answer, and those get logged.
    with (tmp / "detour.log").open("ab") as log:
        return subprocess.Popen(argv, env=bench_env(tmp, root), cwd=root, stderr=log)


@contextmanager
def running(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


@contextmanager
def detour_and(tmp: Path, config: str, servers: list[list[str]], detour_port: int) -> Iterator[None]:
    """`detour serve` with ``config`` on ``detour_port``, and each bench/_servers.py command, as processes."""
    script = ROOT / "bench" / "_servers.py"
    env = bench_env(tmp)
    procs = [subprocess.Popen([sys.executable, str(script), *args], env=env) for args in servers]
    procs.append(spawn_detour(tmp, config, detour_port))
    with running(procs):
        DETOUR_PID[0] = procs[-1].pid
        yield


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


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100)[int(p) - 1] if len(xs) > 1 else xs[0]


# --- the matrix: stream/whole x 65/1,000 frames x same-format/translated ----------------------


@dataclass(frozen=True)
class Case:
    stream: bool
    frames: int
    translated: bool

    @property
    def label(self) -> str:
        return (f"{'stream' if self.stream else 'whole'} {self.frames:>4} frames "
                f"{'anthropic->openai' if self.translated else 'openai->openai'}")  # fmt: skip

    @property
    def path(self) -> str:
        return "/v1/messages" if self.translated else "/v1/chat/completions"

    def body(self) -> dict[str, object]:
        tokens = self.frames - 1
        if self.translated:
            return {"model": "bench", "max_tokens": tokens, "stream": self.stream, "system": "You are terse.",
                    "messages": [{"role": "user", "content": "Say hello in five words."}]}  # fmt: skip
        return {**BODY, "max_tokens": tokens, "stream": self.stream}


@dataclass
class Tally:
    """One target's figures in one case, summed over the rounds (and each round's own)."""

    lat: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    requests: int = 0
    rps: list[float] = field(default_factory=list)
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (cpu a request, p50) a round

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")


def wrk(url: str, body: dict[str, object], seconds: float, tmp: Path) -> float:
    script = tmp / "wrk.lua"
    lua_body = json.dumps(body).replace("\\", "\\\\").replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{lua_body}'\n"
        f"wrk.headers['Content-Type'] = 'application/json'\n"
        f"wrk.headers['Authorization'] = 'Bearer {TOKEN}'\n"
    )
    argv = ["wrk", "-t1", "-c16", f"-d{seconds:g}s", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk got errors from {url}:\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert m, out
    return float(m.group(1))


async def interleaved(
    s: aiohttp.ClientSession, calls: dict[str, tuple[str, dict[str, object], int]], n: int
) -> dict[str, tuple[list[float], float]]:
    """``n`` requests to each (url, body, pid), one to each in turn (so a burst of the other
    engineers' load hits all alike): each one's latencies, and its process's CPU seconds."""
    for url, body, _ in calls.values():
        await sequential(s, url, 5, body)  # warm
    lat: dict[str, list[float]] = {name: [] for name in calls}
    cpu = {name: cpu_ns_s(pid) if pid else 0.0 for name, (_, _, pid) in calls.items()}
    names = list(calls)
    for i in range(n):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            url, body, _ = calls[name]
            lat[name] += await sequential(s, url, 1, body)
    return {
        name: (lat[name], (cpu_ns_s(pid) - cpu[name]) if pid else 0.0) for name, (_, _, pid) in calls.items()
    }


async def matrix(
    targets: dict[str, tuple[int, int]],
    upstream: int,
    rounds: int,
    n: int,
    wrk_s: float,
    tmp: Path,
    only: str = "",
) -> dict[Case, dict[str, Tally]]:
    """``targets``: name -> (port, pid). Each round runs every case on every target in turn."""
    cases = [Case(s, f, t) for s in (True, False) for f in FRAMES for t in (False, True)]
    cases = [c for c in cases if only in " ".join(c.label.split())]
    out = {c: {name: Tally() for name in ("upstream", *targets)} for c in cases}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as s:
        for port, _ in targets.values():
            await wait_up(s, f"http://127.0.0.1:{port}/v1/chat/completions")
        direct = f"http://127.0.0.1:{upstream}/v1/chat/completions"
        for r in range(rounds):
            for case in cases:
                n_case = n if case.frames < 1000 else max(n // 4, 10)
                body = case.body()
                order = list(targets.items()) if r % 2 == 0 else list(reversed(targets.items()))
                # The upstream on its own: the answer as a stream, the floor of latency for both modes.
                alone = {**BODY, "stream": True, "max_tokens": case.frames - 1}
                calls = {"upstream": (direct, alone, 0)} | {
                    name: (f"http://127.0.0.1:{port}{case.path}", body, pid) for name, (port, pid) in order
                }
                lats = await interleaved(s, calls, n_case)
                for name, (lat, used) in lats.items():
                    t = out[case][name]
                    t.lat += lat
                    t.cpu_s += used
                    t.requests += n_case
                    t.rounds.append((used / n_case * 1e6, pct(lat, 50)))
                if wrk_s > 0:
                    for name, (port, _) in order:
                        url = f"http://127.0.0.1:{port}{case.path}"
                        out[case][name].rps.append(wrk(url, body, wrk_s, tmp))
    return out


def report(results: dict[Case, dict[str, Tally]]) -> None:
    print("\n== per case: each target's own CPU a request, added p50 over the upstream, req/s at 16 "
          "in flight (wrk); x = ratio to the floor (the spread: lowest-highest round) ==")  # fmt: skip
    for case, tallies in results.items():
        print(f"\n{case.label}   (upstream alone p50 {pct(tallies['upstream'].lat, 50):.3f} ms)")
        print(f"  {'target':<8}{'CPU us/req':>11}{'x floor':>18}{'added p50 ms':>14}{'x floor':>22}"
              f"{'req/s':>8}{'x floor':>18}")  # fmt: skip
        base = pct(tallies["upstream"].lat, 50)
        floor = tallies["floor"]
        f_added = pct(floor.lat, 50) - base
        f_rps = statistics.median(floor.rps) if floor.rps else float("nan")
        for name, t in tallies.items():
            if name == "upstream":
                continue
            added = pct(t.lat, 50) - base
            rps = statistics.median(t.rps) if t.rps else float("nan")
            cpu_spread = [a / b for (a, _), (b, _) in zip(t.rounds, floor.rounds, strict=True)]
            lat_spread = [
                (a - base) / (b - base) for (_, a), (_, b) in zip(t.rounds, floor.rounds, strict=True)
            ]
            rps_spread = [a / b for a, b in zip(t.rps, floor.rps, strict=True)] or [float("nan")]
            print(f"  {name:<8}{t.cpu_us:11.0f}{ratio(t.cpu_us / floor.cpu_us, cpu_spread):>18}"
                  f"{added:14.3f}{ratio(added / f_added, lat_spread):>22}"
                  f"{rps:8.0f}{ratio(rps / f_rps, rps_spread):>18}")  # fmt: skip


def ratio(x: float, spread: list[float]) -> str:
    return f"{x:.2f} ({min(spread):.2f}..{max(spread):.2f})"


def idle_and_startup(tmp: Path, upstream: int, roots: dict[str, Path]) -> None:
    """Each detour's start-up (spawn -> first answer, best of 3) and RSS once idle after answering."""
    print("\n== start-up (spawn -> first answer, best of 3) and idle RSS after 50 answers ==")
    for name, root in roots.items():
        times: list[float] = []
        rss = 0.0
        for i in range(3):
            port = free_port()
            t = time.perf_counter()
            proc = spawn_detour(tmp / f"start-{name}-{i}", config_for(upstream), port, root)
            with running([proc]):
                times.append(asyncio.run(first_answer(port)) - t)
                asyncio.run(answers(port, 50))
                time.sleep(1.0)
                rss = max(rss, rss_mb(proc.pid))
        print(f"  {name:<8} start-up {min(times):.2f} s (worst {max(times):.2f}), idle RSS {rss:.1f} MB")


async def first_answer(port: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        while True:
            try:
                async with s.post(url, json=BODY) as r:
                    if r.status == 200:
                        return time.perf_counter()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.005)


async def answers(port: int, n: int) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        await sequential(s, f"http://127.0.0.1:{port}/v1/chat/completions", n, {**BODY, "stream": True})


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
    parser.add_argument("--before", type=Path, help="another checkout's detour to run in the same rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--requests", type=int, default=60, help="sequential a round (1,000 frames: a quarter)"
    )
    parser.add_argument("--wrk-seconds", type=float, default=3.0, help="0 skips wrk")
    parser.add_argument("--only", default="", help="the cases whose label holds this, e.g. 'stream 65'")
    parser.add_argument("--subscribers", type=int, default=0, help="/events clients to measure (0: skip)")
    args = parser.parse_args()
    if args.wrk_seconds and shutil.which("wrk") is None:
        raise SystemExit("wrk is missing (apt-get install -y wrk), or pass --wrk-seconds 0")
    sys.path.insert(0, str(ROOT))
    roots = {"detour": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    script = str(ROOT / "bench" / "_servers.py")
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        up, fl = free_port(), free_port()
        quiet = subprocess.DEVNULL
        helpers = [subprocess.Popen([sys.executable, script, *a], env=bench_env(tmp), stderr=quiet)
                   for a in (["upstream", str(up)], ["floor", str(fl), str(up)])]  # fmt: skip
        stack.enter_context(running(helpers))
        targets = {"floor": (fl, helpers[1].pid)}
        for label, root in roots.items():
            port = free_port()
            proc = spawn_detour(tmp / label, config_for(up), port, root)
            stack.enter_context(running([proc]))
            targets[label] = (port, proc.pid)
        results = asyncio.run(
            matrix(targets, up, args.rounds, args.requests, args.wrk_seconds, tmp, args.only)
        )
        report(results)
        if not args.only:
            idle_and_startup(tmp, up, roots)
        if args.subscribers:
            DETOUR_PID[0] = targets["detour"][1]
            ports = {"upstream": up, "detour": targets["detour"][0]}
            asyncio.run(subscribed(ports, args.subscribers))
    translation()


async def subscribed(ports: dict[str, int], n: int) -> None:
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {TOKEN}"}, connector=aiohttp.TCPConnector(limit=0)
    ) as s:
        await watched(s, ports, n)


if __name__ == "__main__":
    main()
