"""Peak hours: every provider fails one call in five, and detour still answers.

3,000 requests, 16 in flight, in the three inbound formats, half streaming, through
three-provider chains whose every provider fails 20% of its calls (429 with
``retry-after: 1``, 500, 503, a reset, a stream cut and an in-band error before any
content). The daemon runs as its own process, as a user runs it, so its memory can
be read; the clients are the official SDKs. Every answer must be one the upstreams
really served, whole and once; every other answer an error the client's SDK parsed
(a well-formed error in its format); nothing lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from tests import process_harness
from tests.e2e.clients import CLIENTS
from tests.e2e.conftest import KEYS, MODEL, start_fakes
from tests.e2e.test_faults import status_of
from tests.fakes.base import Answer, FakeUpstream, Fault, Reset, StreamFault

FORMATS = ("anthropic", "openai", "gemini")
REQUESTS = 3000
IN_FLIGHT = 16
FAULT_SHARE = 0.2
# Frames each fake sends before its first content.
BEFORE_CONTENT = {"anthropic": 2, "openai": 1, "gemini": 0}


def faults(fmt: str) -> list[Answer | Fault | Reset]:
    return [
        Fault(429, "rate limited", {"retry-after": "1"}),
        Fault(500, "internal error"),
        Fault(503, "unavailable"),
        Reset(),
        Answer("cut", fault=StreamFault(BEFORE_CONTENT[fmt], "cut")),
        Answer("in-band", fault=StreamFault(BEFORE_CONTENT[fmt], "error", status=529)),
    ]


def script(fake: FakeUpstream, fmt: str, rng: random.Random, n: int) -> None:
    """``n`` replies, one in five a fault; each good answer's text is unique, so a client's
    answer can be traced to exactly one the upstream served."""
    kinds = faults(fmt)
    for i in range(n):
        if rng.random() < FAULT_SHARE:
            fake.script.append(rng.choice(kinds))
        else:
            fake.script.append(Answer(f"{fmt} answer {i}", chunks=3))


def config(fakes: dict[str, FakeUpstream]) -> str:
    base = {"anthropic": fakes["anthropic"].url, "openai": fakes["openai"].url + "/v1",
            "gemini": fakes["gemini"].url}  # fmt: skip
    lines: list[str] = []
    for fmt in FORMATS:
        lines += [f"[providers.up-{fmt}]", f'kind = "{fmt}"', f'base_url = "{base[fmt]}"',
                  f'api_key_env = "DETOUR_TEST_KEY_{fmt.upper()}"', ""]  # fmt: skip
    for i, fmt in enumerate(FORMATS):
        order = FORMATS[i:] + FORMATS[:i]
        chain = ", ".join(f'"up-{f}/{MODEL[f]}"' for f in order)
        lines += ["[[routes]]", f'name = "{fmt}-first"', f"chain = [{chain}]", ""]
    return "\n".join(lines)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the daemon's memory from /proc")
async def test_peak_hours_are_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261207)
    fakes = await start_fakes(monkeypatch)
    for fmt, fake in fakes.items():
        script(fake, fmt, rng, 3 * REQUESTS)
    env = {f"DETOUR_TEST_KEY_{fmt.upper()}": key for fmt, key in KEYS.items()}
    daemon = await process_harness.start(tmp_path, config(fakes), env)
    try:
        token = (await process_harness.client_token(tmp_path)).strip()
        sdks = {fmt: CLIENTS[fmt](daemon.url, token) for fmt in FORMATS}
        jobs = [(FORMATS[i % 3], f"{FORMATS[(i // 3) % 3]}-first", i % 2 == 1) for i in range(REQUESTS)]
        answers: list[str] = []
        refusals: list[tuple[int | None, str]] = []
        limit = asyncio.Semaphore(IN_FLIGHT)

        async def one(client: str, route: str, stream: bool) -> None:
            async with limit:
                try:
                    answers.append((await sdks[client].text(route, "Say hello.", stream)).text)
                except (openai.APIError, anthropic.APIError, genai_errors.APIError) as e:
                    refusals.append((status_of(e), type(e).__name__))

        try:
            await asyncio.gather(*(one(*j) for j in jobs[:100]))  # warm: imports, pools, caches
            before = rss_mb(daemon.proc.pid)
            started = time.perf_counter()
            await asyncio.gather(*(one(*j) for j in jobs[100:]))
            took = time.perf_counter() - started
            grown = rss_mb(daemon.proc.pid) - before
        finally:
            for sdk in sdks.values():
                await sdk.close()
        print(f"\n{REQUESTS - 100} requests in {took:.1f}s; daemon grew {grown:.1f} MB")
    finally:
        log = await process_harness.stop(daemon)
        for f in fakes.values():
            await f.close()

    assert len(answers) + len(refusals) == REQUESTS  # none lost: each answered or refused
    print(f"answered {len(answers)} of {REQUESTS}; refused: {Counter(refusals)}")
    assert len(answers) >= 0.99 * REQUESTS, Counter(refusals)
    # Refusals are errors the SDK parsed, with the status detour sent (never a bare 500).
    assert all(status is not None and status != 500 for status, _ in refusals), refusals
    served = Counter(answers)
    assert all(n == 1 for n in served.values()), served.most_common(3)
    assert all(" answer " in t for t in served), [t for t in served if " answer " not in t][:3]
    assert grown < 50, f"the daemon grew by {grown:.1f} MB"
    assert "Traceback" not in log
