"""``/report`` over any window and ``/budget`` over any query or body: never a 5xx, never a traceback."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.daemon_harness import Daemon
from tests.server.conftest import Collect

NO_LIMITS = {"session_usd": None, "daily_usd": None, "weekly_usd": None}
FIELDS = ("session_usd", "daily_usd", "weekly_usd")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
iso = dates.map(date.isoformat)
windows = st.one_of(
    st.sampled_from(["day", "week", "", "..", "month", "2026-02-30", "2026-13-01..2026-12-01"]),
    iso,
    st.tuples(iso, iso).map("..".join),
    st.tuples(st.sampled_from(["0001-01-01", "9999-12-31", "9999-12-30"]), iso).map("..".join),
    st.text(max_size=40),
)
numbers = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.one_of(
    numbers,
    st.text(max_size=10),
    st.lists(numbers, max_size=3),
    st.dictionaries(st.text(max_size=5), numbers, max_size=2),
)
bodies = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), values, max_size=4),
    values,
)


def check(status: int, text: str, log: Collect, what: str) -> None:
    assert status < 500, f"{what} -> {status} {text[:300]}"
    assert "Traceback" not in text, text[:300]
    if status >= 400:
        assert isinstance(json.loads(text)["error"]["message"], str)
    problems = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in log.records]
    log.records.clear()
    assert not problems, f"{what}: {problems}"


@FUZZ
@given(window=windows)
async def test_report_windows(sim_daemon: Daemon, daemon_log: Collect, window: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(
            sim_daemon.url + "/report", params={"window": window}, headers=sim_daemon.auth()
        ) as r:
            status, text = r.status, await r.text()
    check(status, text, daemon_log, f"/report?window={window!r}")
    if status == 200:
        assert "overall" in json.loads(text) or json.loads(text)


async def test_impossible_windows_are_400s(sim_daemon: Daemon) -> None:
    for window in ("9999-12-31..9999-12-31", "0001-01-01..9999-12-31", "2026-05-01..2026-04-01"):
        async with aiohttp.ClientSession() as s:
            async with s.get(
                sim_daemon.url + "/report", params={"window": window}, headers=sim_daemon.auth()
            ) as r:
                assert r.status == 400, await r.text()
                assert window in (await r.json())["error"]["message"]


@FUZZ
@given(body=bodies, session=st.text(max_size=20))
async def test_budget_bodies_and_sessions(
    sim_daemon: Daemon, daemon_log: Collect, body: Any, session: str
) -> None:
    headers = {**sim_daemon.auth(), "content-type": "application/json"}
    async with aiohttp.ClientSession() as s:
        async with s.put(sim_daemon.url + "/budget", data=json.dumps(body), headers=headers) as r:
            status, text = r.status, await r.text()
        check(status, text, daemon_log, f"PUT /budget {json.dumps(body)[:200]}")
        async with s.get(
            sim_daemon.url + "/budget", params={"session": session}, headers=sim_daemon.auth()
        ) as r:
            status, text = r.status, await r.text()
        check(status, text, daemon_log, f"GET /budget?session={session!r}")
        async with s.put(sim_daemon.url + "/budget", json=NO_LIMITS, headers=sim_daemon.auth()) as r:
            assert r.status == 200
