"""How long an answer cut mid-stream waits for its continuation, and what the continuation
costs against retrying the whole answer (``continue_on_cut``), in one run.

Processes: ``detour serve``, and in this process a fake upstream of each kind (anthropic,
openai, gemini) as primaries and another of each as fallbacks (tests/fakes: real aiohttp
servers on loopback). A route per ordered pair of kinds, ``continue_on_cut = true``:

    <a>-<b>     p-<a> (streams the answer, cut after 40 characters) -> f-<b> (continues it)
    direct-<b>  f-<b> alone, uncut                                   (baseline)

Each cut is acted out both ways: ``cut`` (the connection reset) and ``error`` (the
provider's in-band error event). Requests are Chat Completions streams from a raw aiohttp
client, interleaved (one of each case per round) so drift hits all alike. Measured:

    gap from cut    the fake's cut instant (stamped in this process) to the first continued
                    byte at the client
    gap at client   the client's last byte before the cut to its first continued byte
    direct ttft     a fresh uncut request's first byte from the same fallback: what a
                    continuation's gap is compared with

and, from the daemon's ``response`` events (their ``continued`` key), what the
continuations cost against what the same fallbacks would have charged for the whole answer.

    .venv/bin/python bench/continuation.py [RUNS]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import ROOT, TOKEN, free_port, pct, running, spawn_detour  # noqa: E402

sys.path.insert(0, str(ROOT))
from daemon.config import ConfigError, parse  # noqa: E402
from daemon.tasks import spawn, stop_all  # noqa: E402
from tests.fakes.anthropic import FakeAnthropic  # noqa: E402
from tests.fakes.base import Answer, FakeUpstream, StreamFault  # noqa: E402
from tests.fakes.gemini import FakeGemini  # noqa: E402
from tests.fakes.openai_chat import FakeOpenAI  # noqa: E402

KINDS = ("anthropic", "openai", "gemini")
MODEL = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "gemini": "gemini-2.5-pro"}
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]
ACTIONS = ("cut", "error")
IN_BAND = {"anthropic": 529, "openai": 503, "gemini": 503}  # each one's "overloaded" mid-stream
CUT = 40
KEY = "sk-bench"
TEXT = " ".join(f"Step {i}: read the file, change line {i * 7}, run the tests again." for i in range(1, 13))
PROMPT = {"role": "user", "content": "Fix the failing test in tests/test_app.py. " * 40}


class Stamped:
    """A fake that notes the instant it broke a stream (after the reset, or the error frame)."""

    cut_at: float | None = None

    async def send_frames(
        self, request: web.Request, frames: list[bytes], answer: Answer
    ) -> web.StreamResponse:
        try:
            return await super().send_frames(request, frames, answer)  # type: ignore[misc]
        finally:
            if answer.fault is not None:
                self.cut_at = time.perf_counter()


class StampedAnthropic(Stamped, FakeAnthropic):
    pass


class StampedOpenAI(Stamped, FakeOpenAI):
    pass


class StampedGemini(Stamped, FakeGemini):
    pass


FAKES: dict[str, type[FakeUpstream]] = {"anthropic": StampedAnthropic, "openai": StampedOpenAI,
                                        "gemini": StampedGemini}  # fmt: skip


def base_url(kind: str, fake: FakeUpstream) -> str:
    return fake.url + ("/v1" if kind == "openai" else "")


def config(primaries: dict[str, FakeUpstream], fallbacks: dict[str, FakeUpstream]) -> str:
    # Health never ejects the cutting primaries: every request must meet its cut.
    lines = ["[routing]", "max_wait_s = 0", "", "[routing.health]", "consecutive_failures = 1000000",
             "minimum_requests = 1000000", "max_ejection_percent = 0", ""]  # fmt: skip
    for role, fakes in (("p", primaries), ("f", fallbacks)):
        for kind, fake in fakes.items():
            url = base_url(kind, fake)
            lines += [f"[providers.{role}-{kind}]", f'kind = "{kind}"', f'base_url = "{url}"',
                      'api_key_env = "BENCH_KEY"', ""]  # fmt: skip
    for a, b in PAIRS:
        lines += ["[[routes]]", f'name = "{a}-{b}"', f'chain = ["p-{a}/{MODEL[a]}", "f-{b}/{MODEL[b]}"]',
                  "continue_on_cut = true", ""]  # fmt: skip
    for b in KINDS:
        lines += ["[[routes]]", f'name = "direct-{b}"', f'chain = ["f-{b}/{MODEL[b]}"]', ""]
    return "\n".join(lines)


def answer(fault: StreamFault | None = None) -> Answer:
    return Answer(TEXT, input_tokens=len(PROMPT["content"]) // 4, output_tokens=len(TEXT) // 4, chunks=12,
                  fault=fault)  # fmt: skip


def cutting(kind: str, action: str) -> Answer:
    try:
        fault = StreamFault(after_chars=CUT, action=action, status=IN_BAND[kind])  # type: ignore[call-arg]
    except TypeError as e:
        raise SystemExit(
            f"the fakes cannot cut after {CUT} characters ({e}): StreamFault(after_chars=N) comes with "
            "the `prefill` branch; run this bench from a checkout that has it"
        ) from None
    return answer(fault)


@dataclass
class Stream:
    """One streamed answer as the client received it: its text and when each piece came."""

    text: str = ""
    error: str | None = None
    first: float | None = None  # the first content byte
    last_before_cut: float | None = None  # the piece that brought the text to exactly CUT characters
    first_after_cut: float | None = None  # the next piece: the continuation's first byte
    attempts: str = ""


async def ask(http: aiohttp.ClientSession, url: str, route: str, session: str) -> tuple[float, Stream]:
    body = {"model": route, "stream": True, "max_tokens": 1024, "messages": [PROMPT]}
    out = Stream()
    t0 = time.perf_counter()
    async with http.post(url, json=body, headers={"x-detour-session": session}) as r:
        out.attempts = r.headers.get("x-detour-attempts", "")
        if r.status != 200:
            out.error = f"{r.status} {(await r.text())[:200]}"
            return t0, out
        async for line in r.content:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                out.error = json.dumps(chunk["error"])[:200]
                break
            piece = "".join((c.get("delta") or {}).get("content") or "" for c in chunk.get("choices", []))
            if not piece:
                continue
            now = time.perf_counter()
            if out.first is None:
                out.first = now
            if out.last_before_cut is not None and out.first_after_cut is None:
                out.first_after_cut = now
            out.text += piece
            if len(out.text) == CUT and out.last_before_cut is None:
                # The fake splits the frame that crosses CUT, so this is the primary's last piece
                # (an answer retried whole from the start has no piece ending here).
                out.last_before_cut = now
    return t0, out


@dataclass
class Tally:
    from_cut: list[float] = field(default_factory=list)  # ms
    at_client: list[float] = field(default_factory=list)  # ms
    failed: list[str] = field(default_factory=list)
    attempts: set[str] = field(default_factory=set)


@dataclass
class Costs:
    cost: float = 0.0
    retry: float = 0.0
    n: int = 0


async def watch(url: str, costs: dict[str, Costs], ready: asyncio.Event) -> None:
    """The daemon's ``response`` events: what each continued answer cost against a whole retry."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.get(url + "/events", timeout=aiohttp.ClientTimeout(total=None)) as r,
    ):
        ready.set()
        async for line in r.content:
            if not line.startswith(b"data: "):
                continue
            ev = json.loads(line[6:])
            cont = ev.get("continued") if ev.get("type") == "response" else None
            if cont is not None:
                c = costs[ev["session"]]
                c.cost, c.retry, c.n = c.cost + cont["cost_usd"], c.retry + cont["retry_usd"], c.n + 1


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[dict[str, FakeUpstream], dict[str, FakeUpstream]]]:
    primaries = {k: await FAKES[k](key=KEY).start() for k in KINDS}  # type: ignore[call-arg]
    fallbacks = {k: await FAKES[k](key=KEY).start() for k in KINDS}  # type: ignore[call-arg]
    try:
        yield primaries, fallbacks
    finally:
        for f in [*primaries.values(), *fallbacks.values()]:
            await f.close()


async def up(http: aiohttp.ClientSession, url: str, proc_alive: Any) -> None:
    for _ in range(600):
        if not proc_alive():
            raise SystemExit("detour exited at start: see the log above")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url.rsplit("/v1", 1)[0] + "/status") as r:
                if r.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise SystemExit("detour never answered")


async def measure(runs: int, tmp: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    chat = url + "/v1/chat/completions"
    async with fakes() as (primaries, fallbacks):
        text = config(primaries, fallbacks)
        check_config(text)
        for kind in KINDS:
            cutting(kind, "cut")  # says what is missing before anything starts
        with running_detour(tmp, text, port) as alive:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(limit=0)
            ) as http:
                await up(http, chat, alive)
                costs: dict[str, Costs] = defaultdict(Costs)
                ready = asyncio.Event()
                watcher = spawn(watch(url, costs, ready), name="bench-events")
                await ready.wait()
                try:
                    tallies, direct = await rounds(http, chat, runs, primaries, fallbacks)
                    await asyncio.sleep(0.5)  # the last response events
                finally:
                    await stop_all([watcher])
    report(runs, tallies, direct, costs)


async def rounds(
    http: aiohttp.ClientSession,
    chat: str,
    runs: int,
    primaries: dict[str, FakeUpstream],
    fallbacks: dict[str, FakeUpstream],
) -> tuple[dict[tuple[str, str, str], Tally], dict[str, list[float]]]:
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    direct: dict[str, list[float]] = defaultdict(list)
    for i in range(runs + 3):  # three rounds of warm-up: pools, prices, first imports
        for a, b in PAIRS:
            for action in ACTIONS:
                prim, fb = primaries[a], fallbacks[b]
                prim.script.append(cutting(a, action))
                fb.script.append(answer())
                prim.cut_at = None  # type: ignore[attr-defined]
                t0, s = await ask(http, chat, f"{a}-{b}", f"{a}-{b}-{action}")
                prim.script.clear()
                fb.script.clear()
                if i < 3:
                    continue
                tally = tallies[(a, b, action)]
                tally.attempts.add(s.attempts)
                if s.error or s.text != TEXT or s.first_after_cut is None or s.last_before_cut is None:
                    tally.failed.append(s.error or why(s))
                    continue
                cut_at = getattr(prim, "cut_at", None)
                if cut_at is not None:
                    tally.from_cut.append((s.first_after_cut - cut_at) * 1000)
                tally.at_client.append((s.first_after_cut - s.last_before_cut) * 1000)
        for b in KINDS:
            fallbacks[b].script.append(answer())
            t0, s = await ask(http, chat, f"direct-{b}", f"direct-{b}")
            if i >= 3 and s.first is not None and not s.error:
                direct[b].append((s.first - t0) * 1000)
    return tallies, direct


def why(s: Stream) -> str:
    if s.text != TEXT:
        return f"the client got {len(s.text)} characters, not the answer's {len(TEXT)}: {s.text[:70]!r}..."
    return f"no piece ended at {CUT} characters: the answer was retried whole, not continued"


def check_config(text: str) -> None:
    try:
        parse(text)
    except ConfigError as e:
        raise SystemExit(
            f"this checkout's config does not take the bench's routes ({e}): `continue_on_cut` comes "
            "with the `cont` branch; run this bench from a checkout that has it"
        ) from None


@contextlib.contextmanager
def running_detour(tmp: Path, text: str, port: int) -> Iterator[Any]:
    proc = spawn_detour(tmp, text, port)
    with running([proc]):
        yield lambda: proc.poll() is None
    log = (tmp / "detour.log").read_text(errors="replace").strip()
    if log:
        print(f"-- detour's log (last lines) --\n{log[-2000:]}\n")


def ms(xs: list[float], p: float) -> str:
    return f"{pct(xs, p):8.1f}" if xs else f"{'-':>8}"


def report(
    runs: int,
    tallies: dict[tuple[str, str, str], Tally],
    direct: dict[str, list[float]],
    costs: dict[str, Costs],
) -> None:
    print(
        f"== a streamed answer of {len(TEXT)} characters cut after {CUT}, {runs} interleaved runs per case =="
    )
    print("gap: to the first continued byte at the client (ms); direct: a fresh request's first byte")
    head = (f"{'primary -> fallback':<22}{'cut by':<7}{'ok':>5}{'cut p50':>8}{'cut p95':>8}"
            f"{'cli p50':>8}{'cli p95':>8}{'direct':>8}{'gap/direct':>11}{'cost':>11}{'retry':>11}"
            f"{'cost/retry':>11}")  # fmt: skip
    print(head)
    for a, b in PAIRS:
        for action in ACTIONS:
            t = tallies[(a, b, action)]
            c = costs.get(f"{a}-{b}-{action}", Costs())
            gap = t.from_cut or t.at_client
            ratio = f"{pct(gap, 50) / pct(direct[b], 50):11.2f}" if gap and direct[b] else f"{'-':>11}"
            share = f"{c.cost / c.retry:11.3f}" if c.retry else f"{'-':>11}"
            print(
                f"{a + ' -> ' + b:<22}{action:<7}{len(t.at_client):>5}"
                f"{ms(t.from_cut, 50)}{ms(t.from_cut, 95)}{ms(t.at_client, 50)}{ms(t.at_client, 95)}"
                f"{ms(direct[b], 50)}{ratio}{c.cost / max(1, c.n):11.6f}{c.retry / max(1, c.n):11.6f}{share}"
            )
    print("\ncost, retry: USD per continued answer, the continuation's and a whole answer's from the same")
    print("fallback (the response events' `continued`: cost_usd, retry_usd);")
    print("cost/retry below 1 is what continuing saved against answering the whole again.")
    for (a, b, action), t in tallies.items():
        if t.failed:
            print(
                f"\n{a} -> {b} ({action}): {len(t.failed)} not continued; "
                f"x-detour-attempts {sorted(t.attempts)}"
            )
            for why in sorted(set(t.failed))[:3]:
                print(f"  {why}")
    missing = sum(c.n for c in costs.values()) == 0
    if missing:
        print(
            "\nno response event carried `continued`: the daemon in this checkout does not continue cuts yet"
        )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(runs, Path(tmp)))


if __name__ == "__main__":
    main()
