"""A bug of detour's reaches the client as a clean error in its own format, never a traceback.

Before the answer began: a 500 in the client's shape. Mid-stream: the format's
in-stream error event ends the stream (a second HTTP response would land inside
the first one's body). Either way the log keeps the traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
import pytest

from daemon.formats import anthropic_stream, openai_chat_stream
from daemon.ir import StreamEvent, TextDelta
from daemon.server import inbound
from tests.daemon_harness import Daemon
from tests.formats.anthropic.samples import parse_sse
from tests.formats.openai_chat.samples import parse_sse as parse_openai_sse

SECRET = "secret-internal-detail"


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


async def test_a_bug_before_the_answer_is_a_clean_500(
    sim_daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(inbound, "request_tokens", broken)
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(
            sim_daemon.url + "/v1/messages/count_tokens", json=body, headers=sim_daemon.auth()
        ) as r:
            status, text = r.status, await r.text()
    assert status == 500
    assert orjson.loads(text) == {
        "type": "error",
        "error": {"type": "api_error", "message": "detour hit an internal error; see its log"},
    }
    assert SECRET in caplog.text and "Traceback" in caplog.text


def fails_after_first_text(feed: Any) -> Any:
    """The encoder's ``feed``, raising a bug at the second text delta (the first went out)."""
    texts = 0

    def wrapper(self: Any, ev: StreamEvent) -> bytes:
        nonlocal texts
        if isinstance(ev, TextDelta):
            texts += 1
            if texts == 2:
                raise RuntimeError(SECRET)
        out: bytes = feed(self, ev)
        return out

    return wrapper


@pytest.mark.parametrize("client", ["anthropic", "openai"])
async def test_a_bug_mid_stream_ends_the_stream_with_an_error_event(
    sim_daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    encoder = anthropic_stream.Encoder if client == "anthropic" else openai_chat_stream.ChatStreamEncoder
    monkeypatch.setattr(encoder, "feed", fails_after_first_text(encoder.feed))
    path = "/v1/messages" if client == "anthropic" else "/v1/chat/completions"
    body = {
        "model": "default",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with caplog.at_level(logging.ERROR):
        async with (
            aiohttp.ClientSession() as s,
            s.post(sim_daemon.url + path, json=body, headers=sim_daemon.auth()) as r,
        ):
            status, raw = r.status, await r.read()
    assert status == 200
    assert b"Hello" in raw or b"simulated" in raw  # content went out before the bug
    assert b"HTTP/1.1" not in raw and SECRET.encode() not in raw and b"Traceback" not in raw
    if client == "anthropic":
        frames = parse_sse(raw)
        assert frames[-1] == (
            "error",
            {
                "type": "error",
                "error": {"type": "api_error", "message": "detour hit an internal error; see its log"},
            },
        )
    else:
        assert raw.endswith(b"data: [DONE]\n\n")
        frames = parse_openai_sse(raw)
        assert frames[-2]["error"]["message"] == "detour hit an internal error; see its log"
    assert SECRET in caplog.text
