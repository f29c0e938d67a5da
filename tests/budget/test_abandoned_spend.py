"""Spend on the safe side, end to end: a scripted mix with every failure kind, abandoned
attempts included, against fakes that bill what real providers may bill (an abandoned call
its prompt at the input price, a stream cut short its prompt and the text it sent). The
ledger's day spend, the budgets and the report's failed-attempts cost match what the fakes
billed within 1%; before, every attempt abandoned ahead of its content was settled at $0."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.daemon_harness import Daemon
from tests.e2e import raw
from tests.e2e.conftest import MODEL, open_world
from tests.fakes.base import (
    OUTPUT_CHARS_PER_TOKEN,
    Answer,
    Bill,
    FakeUpstream,
    Fault,
    HiddenPrompt,
    Reset,
    Slow,
    StreamFault,
)

FORMATS = ("anthropic", "openai", "gemini")
FALLBACK = {"anthropic": "openai", "openai": "gemini", "gemini": "anthropic"}
CLIENT = {"anthropic": "gemini", "openai": "anthropic", "gemini": "openai"}
# USD per million tokens (in, out), set in the config so the test prices bills the same way.
PRICE = {"anthropic": (3.0, 15.0), "openai": (2.0, 8.0), "gemini": (1.25, 10.0)}
HIDDEN = {
    "anthropic": HiddenPrompt(per_request=700, ratio=1.1),
    "openai": HiddenPrompt(per_request=400, ratio=1.2),
    "gemini": HiddenPrompt(per_request=900, ratio=1.3),
}
TEXT = "The answer, in a few pieces of text."
FIRST_BYTE_S, IDLE_S, HANG_S = 0.4, 0.3, 1.5
# Frames each fake sends before its first content, and a frame index after some content.
BEFORE_CONTENT = {"anthropic": 2, "openai": 1, "gemini": 0}
AFTER_CONTENT = {"anthropic": 4, "openai": 2, "gemini": 1}
OVERLOADED = {"anthropic": 529, "openai": 503, "gemini": 503}
TOO_LONG = {
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
    "openai": "This model's maximum context length is 128000 tokens. However, you asked for 130000.",
    "gemini": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
}
N = 300


def answer(**kw: Any) -> Answer:
    """The fakes' answer: its output tokens are its text at the fakes' partial-output rate."""
    return Answer(TEXT, output_tokens=math.ceil(len(TEXT) / OUTPUT_CHARS_PER_TOKEN), chunks=4, **kw)


def cut(where: dict[str, int], action: str) -> Callable[[str], list[Any]]:
    return lambda fmt: [answer(fault=StreamFault(where[fmt], action, stall_s=HANG_S))]


@dataclass(frozen=True)
class Case:
    name: str
    script: Callable[[str], list[Any]]
    gone_after_s: float | None = None  # the client hangs up this long after sending


CASES = [
    Case("ok", lambda f: []),
    Case("rate_limited", lambda f: [Fault(429, "slow down", {"retry-after": "0"})]),
    Case("overloaded", lambda f: [Fault(OVERLOADED[f], "overloaded")]),
    Case("503", lambda f: [Fault(503, "unavailable")]),
    Case("server_error", lambda f: [Fault(500, "boom")]),
    Case("reset", lambda f: [Reset()]),
    Case("first_byte_limit", lambda f: [Slow(HANG_S, answer())]),
    Case("cut_before_content", cut(BEFORE_CONTENT, "cut")),
    Case("in_band_before_content", cut(BEFORE_CONTENT, "error")),
    Case("malformed_before_content", cut(BEFORE_CONTENT, "malformed")),
    Case("cut_after_content", cut(AFTER_CONTENT, "cut")),
    Case("stall_after_content", cut(AFTER_CONTENT, "stall")),
    Case("context_too_long", lambda f: [Fault(400, TOO_LONG[f])]),
    Case("bad_request", lambda f: [Fault(400, "messages: malformed")]),
    Case("client_gone_before_content", lambda f: [Slow(HANG_S, answer())], gone_after_s=0.1),
    Case("ok_again", lambda f: []),
]
# Last, since each benches its provider for minutes: a rejected key, no credit, a retired model.
LAST = [
    Case("auth", lambda f: [Fault(401, "invalid x-api-key")]),
    Case("billing", lambda f: [Fault(402, "your credit balance is too low")]),
    Case("model_unavailable", lambda f: [Fault(404, "model: no such model")]),
]


def config(fakes: dict[str, FakeUpstream]) -> str:
    lines = ["[routing]", "max_wait_s = 0", "", "[routing.health]", "consecutive_failures = 1000",
             "minimum_requests = 1000", ""]  # fmt: skip
    base = {"anthropic": fakes["anthropic"].url, "openai": fakes["openai"].url + "/v1",
            "gemini": fakes["gemini"].url}  # fmt: skip
    for fmt in FORMATS:
        lines += [
            f"[providers.up-{fmt}]",
            f'kind = "{fmt}"',
            f'base_url = "{base[fmt]}"',
            f'api_key_env = "DETOUR_TEST_KEY_{fmt.upper()}"',
            f"timeout_first_byte_s = {FIRST_BYTE_S}",
            f"timeout_idle_s = {IDLE_S}",
            f'[providers.up-{fmt}.models."{MODEL[fmt]}"]',
            f"input_usd_mtok = {PRICE[fmt][0]}",
            f"output_usd_mtok = {PRICE[fmt][1]}",
            "",
        ]
    for fmt in FORMATS:
        chain = f'chain = ["up-{fmt}/{MODEL[fmt]}", "up-{FALLBACK[fmt]}/{MODEL[FALLBACK[fmt]]}"]'
        lines += ["[[routes]]", f'name = "{fmt}-first"', chain, ""]
    lines += ["[budget]", "daily_usd = 50.0", ""]
    return "\n".join(lines)


def usd(fmt: str, bills: list[Bill]) -> float:
    return sum(b.input_tokens * PRICE[fmt][0] / 1e6 + b.output_tokens * PRICE[fmt][1] / 1e6 for b in bills)


@dataclass
class Tally:
    billed: float = 0.0
    failed: float = 0.0  # billed for attempts that were not the answer the client got
    abandoned: float = 0.0  # of which: attempts given up before any content


@contextlib.asynccontextmanager
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Daemon, dict[str, FakeUpstream]]]:
    async with open_world(monkeypatch, config=config) as w:
        for fmt, fake in w.fakes.items():
            fake.hidden = HIDDEN[fmt]
            fake.default = answer()
        yield w.daemon, w.fakes


async def send(
    http: aiohttp.ClientSession, d: Daemon, fmt: str, route: str, prompt: str, case: Case, stream: bool
) -> str:
    """One request of the mix; the provider that served it ('' if none did)."""
    stream = stream or case.gone_after_s is not None
    path, body = raw.endpoint(fmt, route, stream)
    if fmt == "gemini":
        body["contents"][0]["parts"][0]["text"] = prompt
    else:
        body["messages"][0]["content"] = prompt
    post = http.post(d.url + path, json=body, headers=d.auth())
    if case.gone_after_s is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(case.gone_after_s), post as r:
                await r.read()
        return ""
    async with post as r:
        await r.read()
        return r.headers.get("x-detour-provider", "") if r.status == 200 else ""


async def settled(fakes: dict[str, FakeUpstream]) -> None:
    """Until every fake handler has returned: their bills are final."""
    await asyncio.sleep(0.02)
    for _ in range(500):
        if not any(f.in_flight for f in fakes.values()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a fake upstream never finished answering")


async def run(d: Daemon, fakes: dict[str, FakeUpstream]) -> Tally:
    tally = Tally()
    mix = [CASES[i % len(CASES)] for i in range(N - len(LAST) * 3)] + [c for c in LAST for _ in FORMATS]
    async with aiohttp.ClientSession() as http:
        for i, case in enumerate(mix):
            primary = FORMATS[(i // len(CASES)) % 3] if case not in LAST else FORMATS[i % 3]
            fakes[primary].script.extend(case.script(primary))
            before = {fmt: len(f.bills) for fmt, f in fakes.items()}
            prompt = f"Question {i}: " + "say a little more " * (i % 9)
            stream = (i // len(CASES)) % 2 == 0
            served = await send(http, d, CLIENT[primary], f"{primary}-first", prompt, case, stream)
            if case.gone_after_s is not None:  # the fallback answered, to no one: still the answer
                served = f"up-{FALLBACK[primary]}"
            await settled(fakes)
            for fmt, f in fakes.items():
                new = f.bills[before[fmt] :]
                tally.billed += usd(fmt, new)
                lease = new[-1:] if served == f"up-{fmt}" else []
                tally.failed += usd(fmt, new[: len(new) - len(lease)])
                tally.abandoned += usd(fmt, [b for b in new if not b.complete and b.output_tokens == 0])
                f.script.clear()
    return tally


async def report_of(http: aiohttp.ClientSession, d: Daemon) -> dict[str, Any]:
    """The day's report once every request is in it and every reservation settled."""
    assert d.data_dir is not None
    for _ in range(300):
        async with http.get(f"{d.url}/report", params={"window": "day"}, headers=d.auth()) as r:
            report: dict[str, Any] = await r.json()
        db = sqlite3.connect(d.data_dir / "detour.db")
        try:
            reserved = db.execute("SELECT count(*) FROM attempts WHERE state = 'reserved'").fetchone()[0]
        finally:
            db.close()
        if report["totals"]["requests"] == N and reserved == 0:
            return report
        await asyncio.sleep(0.05)
    raise AssertionError("the report never held every request")


async def test_spend_of_a_mix_with_every_failure_matches_what_the_fakes_billed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with world(monkeypatch) as (daemon, fakes):
        tally = await run(daemon, fakes)
        async with aiohttp.ClientSession() as http:
            report = await report_of(http, daemon)
            async with http.get(f"{daemon.url}/budget", headers=daemon.auth()) as r:
                budgets = (await r.json())["budgets"]
    day = report["spend"]["days"][-1]["usd"]
    failed = report["totals"]["failed_attempts_usd"]
    print(
        f"billed ${tally.billed:.6f} (failed attempts ${tally.failed:.6f}, abandoned before content "
        f"${tally.abandoned:.6f}); ledger day ${day:.6f}, /budget day ${budgets['day']['spent_usd']:.6f}, "
        f"report failed attempts ${failed:.6f}"
    )
    assert tally.abandoned > 0.01 * tally.billed  # the abandoned calls matter at 1%
    assert day == pytest.approx(tally.billed, rel=0.01)
    assert budgets["day"]["spent_usd"] == pytest.approx(tally.billed, rel=0.01)
    assert budgets["week"]["spent_usd"] == pytest.approx(tally.billed, rel=0.01)
    assert failed == pytest.approx(tally.failed, rel=0.01)
    # One failure table for every provider: a 503 is overloaded whoever sends it.
    kinds = {f["failure"]: f["seen"] for f in report["totals"]["by_failure"]}
    per_cycle = N // len(CASES)
    assert kinds["overloaded"] >= 2 * per_cycle and "server_error" in kinds
