"""Bad input and unwelcome callers get a clear 4xx in the client's own error format."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest

from tests.daemon_harness import Daemon

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
GEMINI = "/v1beta/models/sim-model:generateContent"

GOOD = {
    OPENAI: {"model": "default", "messages": [{"role": "user", "content": "hi"}]},
    ANTHROPIC: {"model": "default", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
    GEMINI: {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


def error_type(path: str, body: dict[str, Any]) -> str:
    """The error's type as the client's own SDK would read it."""
    if path == ANTHROPIC:
        assert body["type"] == "error"
        return str(body["error"]["type"])
    if path == GEMINI:
        assert isinstance(body["error"]["code"], int)
        return str(body["error"]["status"])
    return str(body["error"]["type"])


async def post(d: Daemon, path: str, data: bytes | None = None, json: Any = None, **headers: str) -> Any:
    hdrs = {**d.auth(), **headers}
    async with aiohttp.ClientSession() as s, s.post(d.url + path, data=data, json=json, headers=hdrs) as r:
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, GEMINI])
async def test_good_request_is_answered(sim_daemon: Daemon, path: str) -> None:
    status, _ = await post(sim_daemon, path, json=GOOD[path])
    assert status == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [(OPENAI, "authentication_error"), (ANTHROPIC, "authentication_error"), (GEMINI, "UNAUTHENTICATED")],
)
async def test_missing_and_wrong_token(sim_daemon: Daemon, path: str, expected: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(sim_daemon.url + path, json=GOOD[path]) as r:
            assert r.status == 401
            assert error_type(path, await r.json()) == expected
        async with s.post(sim_daemon.url + path, json=GOOD[path], headers={"x-api-key": "nope"}) as r:
            assert r.status == 401
            body = await r.json()
            assert error_type(path, body) == expected
            assert "detour token" in str(body)


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-goog-api-key"])
async def test_every_sdk_auth_header_is_accepted(sim_daemon: Daemon, header: str) -> None:
    value = f"Bearer {sim_daemon.token}" if header == "Authorization" else sim_daemon.token
    async with (
        aiohttp.ClientSession() as s,
        s.post(sim_daemon.url + OPENAI, json=GOOD[OPENAI], headers={header: value}) as r,
    ):
        assert r.status == 200


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, GEMINI])
async def test_foreign_host_is_refused(sim_daemon: Daemon, path: str) -> None:
    status, body = await post(sim_daemon, path, json=GOOD[path], Host="evil.example:8787")
    assert status == 403
    assert "loopback" in str(body)


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:3000", "null"])
async def test_web_page_origin_is_refused(sim_daemon: Daemon, origin: str) -> None:
    status, body = await post(sim_daemon, OPENAI, json=GOOD[OPENAI], Origin=origin)
    assert status == 403
    assert error_type(OPENAI, body) == "permission_error"


async def test_editor_webview_origin_is_allowed(sim_daemon: Daemon) -> None:
    status, _ = await post(sim_daemon, OPENAI, json=GOOD[OPENAI], Origin="vscode-webview://abc")
    assert status == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [(OPENAI, "invalid_request_error"), (ANTHROPIC, "invalid_request_error"), (GEMINI, "INVALID_ARGUMENT")],
)
@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", b'"text"', b""],
    ids=["malformed", "array", "string", "empty"],
)
async def test_malformed_bodies(sim_daemon: Daemon, path: str, expected: str, data: bytes) -> None:
    status, body = await post(sim_daemon, path, data=data, **{"Content-Type": "application/json"})
    assert status == 400
    assert error_type(path, body) == expected


WRONG = {
    OPENAI: [
        {"model": "default", "messages": "hi"},
        {"model": "default", "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": "default", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
        {"messages": [{"role": "user", "content": "hi"}]},
    ],
    ANTHROPIC: [
        {"model": "default", "max_tokens": 10, "messages": {"role": "user"}},
        {"model": "default", "max_tokens": "ten", "messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "default",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "hologram"}]}],
        },
    ],
    GEMINI: [
        {"contents": "hi"},
        {"contents": [{"role": "user", "parts": [{"hologram": {}}]}]},
        {"contents": [{"role": "wizard", "parts": [{"text": "hi"}]}]},
    ],
}


@pytest.mark.parametrize(
    ("path", "index"), [(p, i) for p, bodies in WRONG.items() for i in range(len(bodies))]
)
async def test_wrong_types_and_unknown_blocks(sim_daemon: Daemon, path: str, index: int) -> None:
    status, body = await post(sim_daemon, path, json=WRONG[path][index])
    assert status == 400, body
    msg = str(body)
    assert "Traceback" not in msg


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, GEMINI])
async def test_fifty_megabyte_body(sim_daemon: Daemon, path: str) -> None:
    huge = b'{"model":"default","messages":[{"role":"user","content":"' + b"x" * (50 * 1024 * 1024) + b'"}]}'
    # A file object, so aiohttp streams it instead of warning about a blocking write.
    status, body = await post(sim_daemon, path, data=io.BytesIO(huge), **{"Content-Type": "application/json"})
    assert status == 413
    assert "larger than" in str(body)


async def test_health_needs_no_token_and_head_root_answers(sim_daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(sim_daemon.url + "/health") as r:
            assert r.status == 200
            assert await r.json() == {"status": "ok"}
        async with s.head(sim_daemon.url + "/?beta=true") as r:
            assert r.status < 500


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1beta/models/x:explode"])
async def test_unknown_paths_are_404_in_format(sim_daemon: Daemon, path: str) -> None:
    status, body = await post(sim_daemon, path, json={"contents": []})
    assert status == 404
    assert "error" in body


async def test_models_lists_route_names(sim_daemon: Daemon) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(sim_daemon.url + "/v1/models", headers=sim_daemon.auth()) as r,
    ):
        body = await r.json()
    assert [m["id"] for m in body["data"]] == ["default"]


async def test_response_headers(sim_daemon: Daemon) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            sim_daemon.url + OPENAI,
            json=GOOD[OPENAI],
            headers={**sim_daemon.auth(), "x-detour-session": "s1"},
        ) as r,
    ):
        assert r.headers["x-detour-provider"] == "sim"
        assert r.headers["x-detour-model"] == "sim-model"
        assert r.headers["x-detour-attempts"] == "sim/sim-model:ok"
        assert r.headers["x-detour-session"] == "s1"
        assert r.headers["x-detour-cost-usd"] == "0.000000"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}.evil.example",
        "127.0.0.1.evil.example:{port}",
        "127.0.0.1:99999",
        "127.0.0.1:{port}:1",
        "[::1]x",
    ],
)
async def test_the_whole_host_is_compared(sim_daemon: Daemon, host: str) -> None:
    status, body = await post(sim_daemon, OPENAI, json=GOOD[OPENAI], Host=host.format(port=sim_daemon.port))
    assert status == 403, body
    assert error_type(OPENAI, body) == "permission_error"


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost", "[::1]:{port}", "127.0.0.1"]
)
async def test_loopback_hosts_pass(sim_daemon: Daemon, host: str) -> None:
    status, body = await post(sim_daemon, OPENAI, json=GOOD[OPENAI], Host=host.format(port=sim_daemon.port))
    assert status == 200, body


RESPONSES = "/v1/responses"


@pytest.mark.parametrize(
    "model", ["default\r\nX-Injected 1", "default\n", "def\x00ault", "default\x7f", "a\u2028b"]
)
@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC, RESPONSES, GEMINI])
async def test_a_model_name_with_control_characters_is_a_400(
    sim_daemon: Daemon, path: str, model: str
) -> None:
    if path == GEMINI:
        from urllib.parse import quote

        status, body = await post(
            sim_daemon, f"/v1beta/models/{quote(model)}:generateContent", json=GOOD[GEMINI]
        )
    else:
        good = GOOD[OPENAI] if path == RESPONSES else GOOD[path]
        body_in = {"model": model, "input": "hi"} if path == RESPONSES else {**good, "model": model}
        status, body = await post(sim_daemon, path, json=body_in)
    assert status == 400, body
    assert error_type(path, body) in ("invalid_request_error", "INVALID_ARGUMENT")
    assert "control characters" in str(body)
