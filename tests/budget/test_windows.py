from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from daemon.budget.windows import day, week

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")


def test_day_and_week_in_local_time() -> None:
    now = datetime(2026, 11, 24, 10, 30, tzinfo=BERLIN)  # a Tuesday
    d = day(now, BERLIN)
    assert d.start == datetime(2026, 11, 24, tzinfo=BERLIN)
    assert d.resets_at == datetime(2026, 11, 25, tzinfo=BERLIN)
    w = week(now, BERLIN)
    assert w.start == datetime(2026, 11, 23, tzinfo=BERLIN)  # Monday
    assert w.resets_at == datetime(2026, 11, 30, tzinfo=BERLIN)


def test_spring_forward_day_is_23_hours_and_resets_at_local_midnight() -> None:
    now = datetime(2026, 3, 8, 12, 0, tzinfo=NY)  # US DST starts 2026-03-08
    d = day(now, NY)
    assert (d.resets_at - d.start).total_seconds() == 23 * 3600
    assert d.resets_at.astimezone(NY).hour == 0


def test_fall_back_week_is_one_hour_longer() -> None:
    now = datetime(2026, 10, 28, 9, 0, tzinfo=BERLIN)  # EU DST ends Sunday 2026-10-25
    w = week(datetime(2026, 10, 22, 9, 0, tzinfo=BERLIN), BERLIN)
    assert (w.resets_at - w.start).total_seconds() == 7 * 24 * 3600 + 3600
    assert week(now, BERLIN).start == w.resets_at


def test_utc_moment_maps_to_the_local_day() -> None:
    # 23:30 UTC on Monday is already Tuesday in Berlin.
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert day(now, BERLIN).start == datetime(2026, 11, 24, tzinfo=BERLIN)
