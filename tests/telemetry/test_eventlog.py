"""The event log: JSON lines, metadata only unless log_content = true, rotated by size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from daemon.telemetry.eventlog import EventLog
from tests.daemon_harness import SIM_CONFIG, start_daemon

BODY = {"model": "default", "messages": [{"role": "user", "content": "the secret plan"}]}


async def served(tmp_path: Path, config: str) -> list[dict[str, Any]]:
    d = await start_daemon(config, data_dir=tmp_path)
    try:
        async with aiohttp.ClientSession(headers=d.auth()) as s:
            async with s.post(d.url + "/v1/chat/completions", json=BODY) as r:
                assert r.status == 200
            async with s.get(d.url + "/status") as r:
                assert '"content"' not in await r.text()  # bodies stay out of /status
    finally:
        await d.close()  # the last batch is written on the way out
    lines = (tmp_path / "events" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


async def test_events_are_logged_without_content(tmp_path: Path) -> None:
    events = await served(tmp_path, SIM_CONFIG)
    assert [e["type"] for e in events] == ["request", "attempt", "response"]
    assert "the secret plan" not in json.dumps(events)
    assert "content" not in events[0] and "content" not in events[2]


async def test_log_content_keeps_request_and_response_bodies(tmp_path: Path) -> None:
    events = await served(tmp_path, "log_content = true\n" + SIM_CONFIG)
    request, response = events[0], events[-1]
    assert request["content"] == BODY
    assert response["content"]["object"] == "chat.completion"


async def test_files_rotate_by_size_and_keep_a_few(tmp_path: Path) -> None:
    log = EventLog(tmp_path, max_bytes=200, keep=2)
    for n in range(12):
        log({"ts": float(n), "type": "dropped", "session": "x" * 50, "count": n})
        await log.flush()
    names = {p.name for p in tmp_path.iterdir()}
    assert (
        {"events.jsonl.1", "events.jsonl.2"} <= names <= {"events.jsonl", "events.jsonl.1", "events.jsonl.2"}
    )
    counts = []
    for name in ("events.jsonl.2", "events.jsonl.1", "events.jsonl"):
        if (tmp_path / name).exists():
            counts += [json.loads(line)["count"] for line in (tmp_path / name).read_text().splitlines()]
    assert counts == sorted(counts) and counts[-1] == 11 and len(counts) < 12  # the oldest went
