"""The daemon's life as a process: a clean stop under load, one instance per data directory
and port, recovery from a killed predecessor, and `detour status`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.base import Answer, Slow, StreamFault
from tests.fakes.openai_chat import FakeOpenAI
from tests.process_harness import Process, client_token, start, stop
from tests.wait import until

KEY = "sk-proj-LIFECYCLE-yyyyyyyyyyyyyyyyyyyy"


def _config(quick: FakeOpenAI, stuck: FakeOpenAI, drain_s: float = 2.0) -> str:
    return f"""
[server]
drain_s = {drain_s}

[providers.quick]
kind = "openai"
base_url = "{quick.url}/v1"
api_key_env = "FAKE_KEY"

[providers.stuck]
kind = "openai"
base_url = "{stuck.url}/v1"
api_key_env = "FAKE_KEY"

[[routes]]
name = "quick"
chain = ["quick/gpt-4.1"]

[[routes]]
name = "stuck"
chain = ["stuck/gpt-4.1"]
"""


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FAKE_KEY": KEY,
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
    }


async def _detour(tmp: Path, *args: str, timeout: float = 20) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon.cli", *args, env=_env(tmp),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _ask(
    s: aiohttp.ClientSession, url: str, route: str, stream: bool, answering: list[str] | None = None
) -> tuple[int, str]:
    """``answering`` hears the route once the answer has begun (the relay answers a stream
    only once it has content)."""
    body = {"model": route, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with s.post(url + "/v1/chat/completions", json=body) as r:
        if answering is not None:
            answering.append(route)
        return r.status, await r.text()


def _check_stream(text: str) -> bool:
    """A well-formed OpenAI stream: every data line JSON or [DONE], ending in [DONE].
    Returns whether it ended in an error event."""
    data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert data and data[-1] == "[DONE]", text
    events = [json.loads(d) for d in data[:-1]]
    assert any(e.get("choices") for e in events), text  # content went out before any cut
    return "error" in events[-1]


async def test_sigterm_drains_twenty_requests_then_exits_0(tmp_path: Path) -> None:
    quick, stuck = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    quick.script.extend(Slow(0.6, Answer(text="quick answer here", chunks=4)) for _ in range(10))
    stalled = Answer(text="a long answer that stalls", chunks=6, fault=StreamFault(2, "stall", 60))
    stuck.default = stalled
    stuck.script.extend(Slow(60) for _ in range(5))  # the non-streamed ones never answer
    try:
        p = await start(tmp_path, _config(quick, stuck), {"FAKE_KEY": KEY})
        token = (await client_token(tmp_path)).strip()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            stuck_plain = [asyncio.create_task(_ask(s, p.url, "stuck", False)) for _ in range(5)]
            await until(lambda: len(stuck.received) == 5, "took the Slow(60) replies")
            answering: list[str] = []
            calls = stuck_plain + [
                asyncio.create_task(_ask(s, p.url, route, stream, answering if stream else None))
                for route in ("quick", "stuck")
                for stream in (False, True)
                for _ in range(5 if (route, stream) != ("stuck", False) else 0)
            ]
            await until(lambda: len(quick.received) == 10 and len(stuck.received) == 10, "reached both")
            await until(lambda: answering.count("stuck") == 5, "began the stalled streams")
            p.proc.send_signal(signal.SIGTERM)
            results = await asyncio.wait_for(asyncio.gather(*calls), 15)
            code = await asyncio.wait_for(p.proc.wait(), 15)
    finally:
        await quick.close()
        await stuck.close()
    log = p.log.read_text()
    assert code == 0, log
    assert len(results) == 20
    # In the order sent: stuck non-streamed, quick non-streamed, quick streams, stuck streams.
    plain_stuck, plain_quick, streams_quick, streams_stuck = (results[i : i + 5] for i in range(0, 20, 5))
    assert all(
        st == 200 and json.loads(t)["choices"][0]["message"]["content"] == "quick answer here"
        for st, t in plain_quick
    )
    for st, t in plain_stuck:  # cut before any answer: a 503 in OpenAI's error shape
        assert st == 503 and "shutting down" in json.loads(t)["error"]["message"], t
    assert all(st == 200 and not _check_stream(t) for st, t in streams_quick)
    assert all(st == 200 and _check_stream(t) for st, t in streams_stuck)
    assert "cut 10 requests still running" in log and "detour stopped" in log
    # The ledger holds every attempt, settled: nothing left open for a successor to reconcile.
    db = tmp_path / "data" / "detour" / "detour.db"
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM attempts GROUP BY state").fetchall())
    assert states == {"settled": 20}, states
    quick2, stuck2 = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    try:
        again = await start(tmp_path, _config(quick2, stuck2), {"FAKE_KEY": KEY})
        log2 = await stop(again)
    finally:
        await quick2.close()
        await stuck2.close()
    assert "stopped daemon left open" not in log2


async def test_one_daemon_per_data_dir_and_port_and_a_killed_ones_lock_is_taken_over(tmp_path: Path) -> None:
    cfg = '[providers.sim]\nkind = "sim"\n[[routes]]\nname = "default"\nchain = ["sim/m"]\n'
    p = await start(tmp_path, cfg, {})
    code, out = await _detour(tmp_path, "serve", "--config", str(tmp_path / "config.toml"), "--port", "0")
    assert code == 1
    assert f"already running (PID {p.proc.pid}, {p.url})" in out and "Traceback" not in out
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.toml").write_text(cfg)
    code, out = await _detour(other, "serve", "--config", str(other / "config.toml"), "--port", str(p.port))
    assert code == 1
    assert out.strip().endswith(
        f"detour: detour is already running on {p.url} (PID {p.proc.pid}); stop it first, or start this one with --port N"
    )
    p.proc.kill()
    await p.proc.wait()
    assert (tmp_path / "data" / "detour" / "daemon.lock").read_text()  # left behind, naming the dead
    again: Process = await start(tmp_path, cfg, {})
    log = await stop(again)
    assert f"took over the lock a stopped detour (PID {p.proc.pid}) left behind" in log


async def test_status_shows_the_running_daemon_and_fails_without_one(tmp_path: Path) -> None:
    cfg = '[budget]\ndaily_usd = 3.0\n[providers.sim]\nkind = "sim"\n[[routes]]\nname = "default"\nchain = ["sim/m"]\n'
    p = await start(tmp_path, cfg, {})
    try:
        code, out = await _detour(tmp_path, "status", "--url", p.url)
        jcode, jout = await _detour(tmp_path, "status", "--url", p.url, "--json")
    finally:
        p.proc.send_signal(signal.SIGINT)  # Ctrl-C stops it as cleanly as SIGTERM
        assert await asyncio.wait_for(p.proc.wait(), 15) == 0
    assert "detour stopped" in p.log.read_text()
    assert code == 0, out
    assert f"on {p.url}" in out and "SIMULATED" in out
    assert "$3.00" in out and "sim" in out
    status: dict[str, Any] = json.loads(jout)
    assert jcode == 0 and status["budgets"]["day"]["limit_usd"] == 3.0
    code, out = await _detour(tmp_path, "status", "--url", p.url)
    assert code == 1
    assert (
        out.strip().splitlines()[-1]
        == f"detour: no daemon answers on {p.url}; start it with `detour serve` (or `detour service install`)"
    )


@pytest.mark.parametrize("flag", ["--version"])
async def test_version(tmp_path: Path, flag: str) -> None:
    code, out = await _detour(tmp_path, flag)
    assert code == 0 and out.startswith("detour ")
