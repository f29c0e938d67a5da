"""The bus never makes a request wait: a subscriber that stops reading loses events, not time."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from daemon.server.observe import BUS
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import Event
from tests.daemon_harness import Daemon

BODY = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


def event(n: int) -> Event:
    return {"ts": float(n), "type": "request", "session": f"s{n}"}


async def test_a_full_queue_drops_the_newest_and_reports_how_many() -> None:
    bus = Bus()
    sub = bus.subscribe(maxsize=3)
    for n in range(10):
        bus.publish(event(n))
    assert len(sub) == 3
    got = [f.event for f in iter(sub.get_nowait, None)]
    assert [e["session"] for e in got[:3]] == ["s0", "s1", "s2"]
    assert got[3] == {"ts": got[3]["ts"], "type": "dropped", "session": "", "count": 7}
    assert len(got) == 4


async def test_the_gap_is_reported_where_it_happened() -> None:
    bus = Bus()
    sub = bus.subscribe(maxsize=2)
    for n in range(4):
        bus.publish(event(n))
    assert next(iter(sub.get_nowait, None)).event["session"] == "s0"
    bus.publish(event(4))
    kinds = []
    for f in iter(sub.get_nowait, None):
        kinds.append(f.event["type"] if f.event["type"] == "dropped" else f.event["session"])
    assert kinds == ["s1", "dropped", "s4"]


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    bus = Bus()
    seen: list[Event] = []

    def broken(_: Event) -> None:
        raise RuntimeError("bug")

    bus.listen(broken)
    bus.listen(seen.append)
    sub = bus.subscribe()
    bus.publish(event(1))
    assert len(seen) == 1 and len(sub) == 1


def test_a_frame_is_encoded_once_for_every_subscriber() -> None:
    bus = Bus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish(event(1))
    fa, fb = a.get_nowait(), b.get_nowait()
    assert fa is fb and fa is not None
    assert fa.sse() is fa.sse()
    assert fa.sse() == b'data: {"ts":1.0,"type":"request","session":"s1"}\n\n'


async def test_closing_wakes_a_waiting_subscriber() -> None:
    bus = Bus()
    sub = bus.subscribe()
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.close()
    assert await waiting is None
    assert bus.subscribers == 0


async def requests(d: Daemon, n: int) -> list[int]:
    async with aiohttp.ClientSession() as s:

        async def one() -> int:
            async with s.post(d.url + "/v1/chat/completions", json=BODY, headers=d.auth()) as r:
                await r.read()
                return r.status

        return list(await asyncio.gather(*(one() for _ in range(n))))


@pytest.mark.parametrize("stalled", [False, True])
async def test_a_stalled_subscriber_neither_slows_nor_grows(sim_daemon: Daemon, stalled: bool) -> None:
    bus = sim_daemon.runner.app[BUS]
    published: list[Any] = []
    bus.listen(published.append)
    sub = bus.subscribe(maxsize=16) if stalled else None
    # Also one real /events client that never reads its socket.
    async with (
        aiohttp.ClientSession() as s,
        s.get(sim_daemon.url + "/events", headers=sim_daemon.auth()) as r,
    ):
        assert r.status == 200
        statuses = await requests(sim_daemon, 40)
        assert statuses == [200] * 40
        assert len(published) >= 40 * 3
        if sub is not None:
            assert len(sub) <= 17  # bounded: its 16, plus at most one drop marker
            got = [f.event for f in iter(sub.get_nowait, None)]
            assert len(got) == 17
            assert all(e["type"] != "dropped" for e in got[:16])
            assert got[16]["type"] == "dropped"
            assert got[16]["count"] == len(published) - 16  # type: ignore[typeddict-item]
