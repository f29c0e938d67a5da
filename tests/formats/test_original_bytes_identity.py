"""The original-bytes shortcut changes nothing a client receives (issue 22).

A frame from a provider of the client's own format that detour would re-encode to the
same frame is written as it came (``ir.stream``). This test records real streams of
every format from the fakes (which render them as the providers do), replays each one
through the daemon broken at every frame in every way (cut between frames, reset inside
one, stall, in-band error, malformed frame), once with the shortcut on and once off,
and asks that the client got the same frames. Whitespace inside a JSON frame is free
(the upstream's spacing survives in a frame written as it came); keys, their order and
values, events and frame boundaries must be the same. It also asks that the shortcut did
write frames as they came, so the comparison is never between two re-encodings only.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from daemon.ir import stream as stream_ir
from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.raw import sse_frames
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, FakeUpstream, ToolCall
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI
from tests.fakes.openai_responses import FakeOpenAIResponses

KEYS = {
    "anthropic": "sk-ant-api03-TESTKEY-identity-aaaaaaaa",
    "openai": "sk-proj-TESTKEY-identity-bbbbbbbbbb",
    "responses": "sk-proj-TESTKEY-identity-dddddddddd",
    "gemini": "AIzaSyTESTKEY-identity-cccccccccc",
}
KIND = {"anthropic": "anthropic", "openai": "openai", "responses": "openai", "gemini": "gemini"}
MODEL = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4.1",
    "responses": "gpt-5",
    "gemini": "gemini-3-flash-preview",
}
ANSWERS = {
    "text": Answer(text="The quick brown fox jumps over the lazy dog — naïve café, twice.", chunks=5),
    "thinking": Answer(text="It is 4, ½ of 8.", thinking="Two and two make four (½ of 8).", chunks=3),
    "tools": Answer(
        text="Looking… ☕",
        tool_calls=[ToolCall("read_file", {"path": "café.py"}), ToolCall("grep", {"pattern": "x"})],
        chunks=2,
    ),
}
SCENARIO = re.compile(rb"scenario=([\w-]+)")
FAULTS = ("cut", "reset", "error", "malformed")


@dataclass(frozen=True)
class Stream:
    """One recorded stream: an upstream format, an answer, and how its frames were rewritten."""

    fmt: str
    answer: str
    variant: str = "as-sent"

    @property
    def key(self) -> str:
        return f"{self.fmt}-{self.answer}-{self.variant}"


# How a Chat server may write the same chunks: OpenAI itself (compact, with usage: null and
# an obfuscation pad on each), a compatible server such as vLLM (compact, neither, thinking
# as a one-key delta) or DeepSeek (thinking beside "content": null). Only the compatible
# server's chunks come back unchanged; the others are near misses the shortcut must refuse.
VARIANTS = {"openai": ("text", "thinking"), "compatible": tuple(ANSWERS), "deepseek": ("thinking",)}
STREAMS = [Stream(fmt, answer) for fmt in KIND for answer in ANSWERS] + [
    Stream("openai", answer, variant) for variant, answers in VARIANTS.items() for answer in answers
]


def rewritten(frame: bytes, variant: str) -> bytes:
    """A Chat chunk of the fake's as ``variant`` writes it."""
    if not frame.startswith(b"data: {"):
        return frame
    chunk = json.loads(frame[6:])
    if chunk.get("choices") and variant != "openai":
        chunk.pop("obfuscation", None)
        if chunk.get("usage", 0) is None:
            del chunk["usage"]
        delta = chunk["choices"][0]["delta"]
        if variant == "compatible" and delta.get("reasoning_content") and delta.get("content", 0) is None:
            del delta["content"]
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()


def split_frames(raw: bytes) -> list[bytes]:
    """SSE frames with their blank line; the last piece as it is."""
    parts = re.split(rb"(\r?\n\r?\n)", raw)
    frames = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        frames.append(parts[-1])
    return frames


class Replay:
    """The upstream the daemon talks to: records a fake's stream once, then plays it back,
    broken as the request's scenario (in its prompt) says."""

    def __init__(self, fakes: dict[str, FakeUpstream]) -> None:
        self.fakes = fakes
        self.recorded: dict[str, list[bytes]] = {}
        self.recording: Stream | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Replay:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        found = SCENARIO.search(body)
        assert found is not None, body[:300]
        key, _, fault = found.group(1).decode().rpartition("-at-")
        if self.recording is not None:
            await self._record(request, body)
        frames = self.recorded[key.rpartition("-fault-")[0]]
        kind, at = key.rpartition("-fault-")[2], int(fault)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        assert request.transport is not None
        for i, frame in enumerate(frames):
            if i == at:
                match kind:
                    case "cut":
                        request.transport.abort()
                        return resp
                    case "reset":  # inside the frame: half of it, then the connection goes
                        await resp.write(frame[: len(frame) // 2])
                        await resp.drain()
                        request.transport.abort()
                        return resp
                    case "stall":
                        await _until_gone(request)
                        return resp
                    case "error":
                        await resp.write(self.fakes[self._fmt(key)].inband_error(500))
                        await resp.write_eof()
                        return resp
                    case "malformed":
                        await resp.write(b"data: {this is not json\n\n")
                        await resp.write_eof()
                        return resp
            await resp.write(frame)
        await resp.write_eof()
        return resp

    @staticmethod
    def _fmt(key: str) -> str:
        return key.split("-", 1)[0]

    async def _record(self, request: web.Request, body: bytes) -> None:
        """The fake's own answer to the daemon's own request, kept as its frames."""
        stream = self.recording
        assert stream is not None
        fake = self.fakes[stream.fmt]
        fake.default = ANSWERS[stream.answer]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as session,
            session.post(fake.url + request.path_qs, data=body, headers=headers) as r,
        ):
            raw = await r.read()
        assert r.status == 200, raw[:500]
        frames = split_frames(raw)
        if stream.variant != "as-sent":
            frames = [rewritten(f, stream.variant) for f in frames]
        self.recorded[stream.key] = frames
        self.recording = None


async def _until_gone(request: web.Request) -> None:
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.05)


def config(url: str) -> str:
    base = {"anthropic": url, "openai": url + "/v1", "responses": url + "/v1", "gemini": url}
    lines = ["[routing]", "max_wait_s = 0", "", "[routing.health]", "consecutive_failures = 1000000", ""]
    lines += ["minimum_requests = 1000000", ""]
    for fmt in KIND:
        for stall, timeouts in (("", ""), ("-stall", "timeout_first_byte_s = 0.5\ntimeout_idle_s = 0.5\n")):
            lines += [f"[providers.up-{fmt}{stall}]", f'kind = "{KIND[fmt]}"', f'base_url = "{base[fmt]}"']
            lines += [f'api_key_env = "DETOUR_TEST_KEY_{fmt.upper()}"', timeouts]
            if fmt == "responses":
                lines += ['api = "responses"', ""]
    for fmt in KIND:
        for stall in ("", "-stall"):
            lines += [
                "[[routes]]",
                f'name = "via-{fmt}{stall}"',
                f'chain = ["up-{fmt}{stall}/{MODEL[fmt]}"]',
                "",
            ]
    return "\n".join(lines)


def request_of(fmt: str, route: str, scenario: str) -> tuple[str, dict[str, Any]]:
    """A streamed question in ``fmt`` (the client's format, the upstream's too), naming its scenario."""
    prompt = f"Answer me. scenario={scenario}"
    tools = [{"name": "read_file"}, {"name": "grep"}]
    match fmt:
        case "openai":
            fns = [
                {"type": "function", "function": {"name": t["name"], "parameters": {"type": "object"}}}
                for t in tools
            ]
            return "/v1/chat/completions", {
                "model": route, "stream": True, "messages": [{"role": "user", "content": prompt}], "tools": fns,
            }  # fmt: skip
        case "responses":
            fns = [{"type": "function", "name": t["name"], "parameters": {"type": "object"}} for t in tools]
            return "/v1/responses", {"model": route, "stream": True, "input": prompt, "tools": fns}
        case "anthropic":
            fns = [{"name": t["name"], "input_schema": {"type": "object"}} for t in tools]
            return "/v1/messages", {
                "model": route, "stream": True, "max_tokens": 512, "tools": fns,
                "messages": [{"role": "user", "content": prompt}],
            }  # fmt: skip
        case _:
            fns = [{"name": t["name"], "parameters": {"type": "object"}} for t in tools]
            return f"/v1beta/models/{route}:streamGenerateContent?alt=sse", {
                "contents": [{"role": "user", "parts": [{"text": prompt}]}],
                "tools": [{"functionDeclarations": fns}],
            }  # fmt: skip


@dataclass
class Got:
    status: int
    raw: bytes

    def frames(self) -> list[tuple[str | None, Any]]:
        """Each frame's event name and data, JSON read with its keys in order (spacing aside)."""
        out: list[tuple[str | None, Any]] = []
        text = self.raw.decode()
        if self.status != 200:
            return [(None, json.loads(text, object_pairs_hook=list))]
        for event, data in sse_frames(text):
            try:
                value: Any = json.loads(data, object_pairs_hook=list)
            except ValueError:
                value = data
            out.append((event, value))
        return out


# What detour's Responses server makes up itself, new on every request (the answer's and its
# items' ids, its clock): the same on both sides once named by the order they first appear
# in. Only a Responses client gets them, and a Responses frame is never written as it came;
# every other format is compared as it is.
_MINTED = re.compile(r"^(resp|msg|rs|fc)_[0-9a-f]{32}$")
_CLOCK = {"created_at"}


def canonical(frames: list[tuple[str | None, Any]]) -> list[tuple[str | None, Any]]:
    names: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return [(k, "<clock>" if k in _CLOCK and isinstance(v, int) else walk(v)) for k, v in value]
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and _MINTED.match(value):
            return names.setdefault(value, f"<id {len(names)}>")
        return value

    return [(event, walk(data)) for event, data in frames]


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Daemon, Replay]]:
    fakes: dict[str, FakeUpstream] = {
        "anthropic": await FakeAnthropic(key=KEYS["anthropic"]).start(),
        "openai": await FakeOpenAI(key=KEYS["openai"]).start(),
        "responses": await FakeOpenAIResponses(key=KEYS["responses"]).start(),
        "gemini": await FakeGemini(key=KEYS["gemini"]).start(),
    }
    for fmt, key in KEYS.items():
        monkeypatch.setenv(f"DETOUR_TEST_KEY_{fmt.upper()}", key)
    replay = await Replay(fakes).start()
    daemon = await start_daemon(config(replay.url))
    try:
        yield daemon, replay
    finally:
        await daemon.close()
        await replay.close()
        for f in fakes.values():
            await f.close()


async def ask(session: aiohttp.ClientSession, daemon: Daemon, stream: Stream, fault: str, at: int) -> Got:
    route = f"via-{stream.fmt}" + ("-stall" if fault == "stall" else "")
    path, body = request_of(stream.fmt, route, f"{stream.key}-fault-{fault}-at-{at}")
    async with session.post(daemon.url + path, json=body, headers=daemon.auth()) as r:
        return Got(r.status, await r.read())


async def test_clients_get_the_same_frames_with_the_shortcut_on_and_off(
    rig: tuple[Daemon, Replay], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, replay = rig
    cases: list[tuple[Stream, str, int]] = []
    async with aiohttp.ClientSession() as session:
        for stream in STREAMS:  # one at a time: each is recorded from its fake once
            replay.recording = stream
            got = await ask(session, daemon, stream, "none", -1)
            assert got.status == 200 and stream.key in replay.recorded, got.raw[:500]
            frames = len(replay.recorded[stream.key])
            cases.append((stream, "none", -1))
            cases += [(stream, fault, at) for fault in FAULTS for at in range(frames)]
            cases += [(stream, "stall", at) for at in (1, frames // 2)]
        gate = asyncio.Semaphore(8)

        async def one(case: tuple[Stream, str, int]) -> Got:
            async with gate:
                return await ask(session, daemon, *case)

        results: dict[bool, list[Got]] = {}
        for on in (True, False):
            monkeypatch.setattr(stream_ir, "ORIGINAL_BYTES", on)
            results[on] = await asyncio.gather(*(one(c) for c in cases))

    verbatim = set()
    for case, on, off in zip(cases, results[True], results[False], strict=True):
        stream, fault, at = case
        where = f"{stream.key}, {fault} at frame {at}"
        assert on.status == off.status, where
        same = canonical if stream.fmt == "responses" else list
        assert same(on.frames()) == same(off.frames()), f"{where}:\n{on.raw!r}\n{off.raw!r}"
        if on.raw != off.raw:
            verbatim.add(stream.key)
    # The shortcut did write frames as they came (told apart from the re-encoded ones by
    # their escapes, \u00e9 for é, and spacing), wherever a frame comes back unchanged:
    # Anthropic's deltas and a compatible server's chunks.
    assert {s.key for s in STREAMS if s.fmt == "anthropic" or s.variant == "compatible"} <= verbatim
