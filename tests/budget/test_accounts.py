from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.budget.accounts import Accounts, Limits
from daemon.ir import ApiError, Usage

BERLIN = ZoneInfo("Europe/Berlin")


async def written(fut: asyncio.Future[None] | None) -> None:
    if fut is not None:
        await fut


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    a = Accounts(tmp_path / "detour.db", Limits(session=0.05))
    await a.open()
    yield a
    await a.close()


async def test_concurrent_reservations_never_overrun(accounts: Accounts) -> None:
    refused = 0

    async def one(i: int) -> float:
        nonlocal refused
        try:
            res = accounts.reserve("s1", 0.001)
        except ApiError as e:
            assert e.status == 402 and e.kind == "budget_exceeded"
            refused += 1
            return 0.0
        await accounts.record(res, "r", "p", "m")
        await asyncio.sleep(0.001 * (i % 5))
        await written(accounts.settle(res, 0.0007, Usage(100, 10), "usage"))
        return 0.0007

    settled = await asyncio.gather(*(one(i) for i in range(200)))
    total = accounts.spent("session", "s1")
    assert sum(settled) <= 0.05 + 1e-9
    assert abs(total - sum(settled)) < 1e-9
    assert refused > 0


async def test_exceeded_error_names_scope_spent_limit_and_reset(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 24, 10, 30, tzinfo=BERLIN))
    a = Accounts(tmp_path / "d.db", Limits(day=1.0), clock=clock, tz=BERLIN)
    await a.open()
    res = a.reserve("s", 0.9)
    await a.record(res, "r", "p", "m")
    with pytest.raises(ApiError) as e:
        a.reserve("s", 0.2)
    err = e.value
    assert err.status == 402
    assert err.details == {
        "scope": "day",
        "spent_usd": 0.9,
        "limit_usd": 1.0,
        "resets_at": datetime(2026, 11, 25, tzinfo=BERLIN).isoformat(),
    }
    assert "daily budget" in err.message and "--daily" in err.message
    await a.close()


async def test_day_resets_at_local_midnight_across_dst(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN))  # Saturday before the EU DST change
    a = Accounts(tmp_path / "d.db", Limits(day=1.0, week=1.5), clock=clock, tz=BERLIN)
    await a.open()
    res = a.reserve("s", 0.8)
    await a.record(res, "r", "p", "m")
    await written(a.settle(res, 0.8, Usage(), "usage"))
    clock.now = datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN).timestamp()  # Sunday, after midnight
    assert a.spent("day", "s") == 0.0
    assert a.spent("week", "s") == pytest.approx(0.8)
    with pytest.raises(ApiError) as e:
        a.reserve("s", 0.8)  # the week still holds last day's spend
    assert e.value.details["scope"] == "week"  # type: ignore[index]
    clock.now = datetime(2026, 10, 26, 0, 0, tzinfo=BERLIN).timestamp()  # Monday 00:00, 25h later
    assert a.spent("week", "s") == 0.0
    a.reserve("s", 0.8)
    await a.close()


async def test_restart_reconciles_open_reservations_once(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    a = Accounts(path, Limits())
    await a.open()
    done = a.reserve("s", 0.5)
    await a.record(done, "r", "p", "m")
    await written(a.settle(done, 0.1, Usage(10, 10), "usage"))
    for _ in range(3):
        await a.record(a.reserve("s", 0.2), "r", "p", "m")
    # A killed daemon: the ledger is left as is, nothing more is written.
    a._executor.shutdown(wait=True)
    a._lock.release()  # as the kernel does for a dead process
    b = Accounts(path, Limits())
    await b.open()
    assert b.reconciled == 3
    rows = await asyncio.to_thread(b.ledger.rows)
    assert [r["state"] for r in rows] == ["settled", "reconciled", "reconciled", "reconciled"]
    assert b.spent("session", "s") == pytest.approx(0.1 + 3 * 0.2)
    await b.close()
    c = Accounts(path, Limits())
    await c.open()
    assert c.reconciled == 0
    assert c.spent("session", "s") == pytest.approx(0.7)
    await c.close()


async def test_limits_set_persist(tmp_path: Path) -> None:
    a = Accounts(tmp_path / "d.db", Limits(week=50))
    await a.open()
    await a.set_limits(week=40.0, day=12.0, session=3.0)
    await a.close()
    b = Accounts(tmp_path / "d.db", Limits(week=50))
    await b.open()
    assert (b.limits.session, b.limits.day, b.limits.week) == (3.0, 12.0, 40.0)
    report = await b.report("s")
    assert report["budgets"]["week"]["limit_usd"] == 40.0
    await b.close()
