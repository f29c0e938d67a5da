"""Keys never leave: upstreams that echo the key into every field of every error they send.

For each provider kind (anthropic, openai, openai with the Responses API, gemini,
openai-compatible) and each error shape (a JSON 400, a plain-text 400 whose key straddles
the 500-byte cut, a 500, an in-band error before content, a streamed error after content),
clients of every inbound format ask, streaming and not, the chat ones keyless through the
Ollama path. Afterwards no response body or header, no event (``/events`` and
events.jsonl), no log record and no file under the data directory (the WAL included) holds
any 8-character piece of any key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon_harness import Daemon, start_daemon
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Answer, FakeUpstream, Fault, StreamFault
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_chat import FakeOpenAI
from tests.fakes.openai_responses import FakeOpenAIResponses

# provider id -> (kind, extra config, model)
PROVIDERS = {
    "anthropic": ("anthropic", "", "claude-sonnet-4-5"),
    "openai": ("openai", "", "gpt-4.1"),
    "responses": ("openai", 'api = "responses"', "gpt-5"),
    "gemini": ("gemini", "", "gemini-2.5-flash"),
    "compatible": ("openai-compatible", "", "qwen3-coder"),
}
PIECE = 8


def fakes_for(keys: dict[str, str]) -> dict[str, FakeUpstream]:
    return {
        "anthropic": FakeAnthropic(key=keys["anthropic"]),
        "openai": FakeOpenAI(key=keys["openai"]),
        "responses": FakeOpenAIResponses(key=keys["responses"]),
        "gemini": FakeGemini(key=keys["gemini"]),
        "compatible": FakeOpenAI(key=keys["compatible"]),
    }


def config_for(fakes: dict[str, FakeUpstream]) -> str:
    lines = ["[server]", "ollama_compat = true", "", "[routing]", "max_wait_s = 0", ""]
    for pid, (kind, extra, _) in PROVIDERS.items():
        suffix = "" if kind in ("anthropic", "gemini") else "/v1"
        lines += [f"[providers.{pid}]", f'kind = "{kind}"', f'base_url = "{fakes[pid].url}{suffix}"', extra]
        lines += [f'api_key_env = "DETOUR_LEAK_KEY_{pid.upper()}"', ""]
    lines += ['[providers.compatible.models."qwen3-coder"]', "input_usd_mtok = 1", "output_usd_mtok = 2", ""]
    for pid, (_, _, model) in PROVIDERS.items():
        lines += ["[[routes]]", f'name = "leak-{pid}"', f'match = ["leak-{pid}-*"]']
        lines += [f'chain = ["{pid}/{model}"]', ""]
    return "\n".join(lines)


def shapes(key: str) -> dict[str, Answer | Fault]:
    """Every error shape, each echoing ``key`` (the fakes' ``echo`` soaks every field)."""
    cut = "x" * (500 - PIECE // 2)  # the key straddles the 500th byte a plain-text body is cut at
    return {
        "json-400": Fault(400, f"bad request for key {key}"),
        "text-400": Fault(400, text=f"{cut}{key} and the rest of the page"),
        "json-500": Fault(500, f"internal error with {key}"),
        "inband-before": Answer(text="never", fault=StreamFault(after_frames=0, action="error", status=500)),
        "inband-after": Answer(
            text="some words first", chunks=3, fault=StreamFault(after_frames=3, action="error")
        ),
    }


def ask(fmt: str, model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    messages = [{"role": "user", "content": "Say hello."}]
    if fmt == "chat":
        return "/v1/chat/completions", {"model": model, "messages": messages, "stream": stream}
    if fmt == "anthropic":
        return "/v1/messages", {"model": model, "max_tokens": 64, "messages": messages, "stream": stream}
    if fmt == "responses":
        return "/v1/responses", {"model": model, "input": "Say hello.", "stream": stream}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{method}", {"contents": [{"role": "user", "parts": [{"text": "Hi."}]}]}


def pieces(keys: dict[str, str]) -> set[str]:
    return {k[i : i + PIECE] for k in keys.values() for i in range(len(k) - PIECE + 1)}


def leaked(text: str, found: set[str]) -> list[str]:
    return sorted(p for p in found if p in text)


@contextlib.asynccontextmanager
async def upstreams(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[dict[str, str], dict[str, FakeUpstream]]]:
    keys = {pid: f"sk-{pid[:3]}-{secrets.token_urlsafe(24)}" for pid in PROVIDERS}
    fakes = fakes_for(keys)
    for pid, fake in fakes.items():
        fake.echo = keys[pid]
        await fake.start()
        monkeypatch.setenv(f"DETOUR_LEAK_KEY_{pid.upper()}", keys[pid])
    try:
        yield keys, fakes
    finally:
        for fake in fakes.values():
            await fake.close()


async def watch_events(daemon: Daemon, into: list[str]) -> None:
    async with aiohttp.ClientSession() as s, s.get(daemon.url + "/events", headers=daemon.auth()) as r:
        async for line in r.content:
            into.append(line.decode())


async def test_no_piece_of_any_key_leaves(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with upstreams(monkeypatch) as (keys, fakes):
        daemon = await start_daemon(config_for(fakes))
        assert daemon.data_dir is not None
        data_dir = daemon.data_dir
        events: list[str] = []
        watcher = asyncio.create_task(watch_events(daemon, events), name="watch-events")
        seen: list[str] = []  # every response's status line, headers and body
        redacted = 0
        try:
            async with aiohttp.ClientSession() as session:
                for pid in PROVIDERS:
                    for shape, reply in shapes(keys[pid]).items():
                        for fmt in ("chat", "anthropic", "responses", "gemini"):
                            for stream in (False, True):
                                fakes[pid].default = reply
                                path, body = ask(fmt, f"leak-{pid}-{shape}", stream)
                                # The chat client is keyless: the Ollama path takes loopback calls without the token.
                                headers = {} if fmt == "chat" else daemon.auth()
                                async with session.post(daemon.url + path, json=body, headers=headers) as r:
                                    raw = (await r.read()).decode()
                                    seen.append(
                                        f"{pid} {shape} {fmt} {stream} {r.status} {dict(r.headers)}\n{raw}"
                                    )
                                    redacted += "***" in raw
            requests = sum(len(f.received) for f in fakes.values())
            # Every request reached its upstream and got the key back, which detour then redacted.
            assert requests >= len(PROVIDERS) * 5 * 4 * 2
            assert redacted >= len(PROVIDERS) * 3 * 4 * 2
            on_disk_live = files_under(data_dir)  # the WAL is still there while the daemon runs
        finally:
            await daemon.runner.cleanup()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        found = pieces(keys)
        for where, text in [
            *((f"response {i}", s) for i, s in enumerate(seen)),
            ("/events", "".join(events)),
            ("log", caplog.text),
            *on_disk_live.items(),
            *files_under(data_dir).items(),
        ]:
            assert not leaked(text, found), f"{where} holds a piece of a key: {leaked(text, found)[:3]}"
        assert any('"attempt"' in e for e in events)
        assert any(p.name.startswith("events.jsonl") for p in data_dir.rglob("*"))
        await daemon.close()


def files_under(root: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()}


def test_error_bodies_are_echoed_into_every_field() -> None:
    """The fake's echo reaches every string and adds the key as a field of every object."""
    from tests.fakes.base import echoed_frame, echoing

    body = echoing({"error": {"message": "m", "type": "invalid_request_error", "details": [{"a": "b"}]}}, "K")
    assert body["error"]["message"] == "m K" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "K" and body["K"] == ["K", {"details": "K"}]
    assert body["error"]["details"][0]["a"] == "b K" and body["error"]["details"][-1] == "K"
    frame = echoed_frame(b'event: error\ndata: {"type": "error", "error": {"message": "x"}}\n\n', "K")
    assert json.loads(frame.split(b"\n")[1][6:])["error"]["message"] == "x K"
