"""Budget windows in local time: the day starts at midnight, the week on Monday.

Midnights are built from the local date with zoneinfo, never by adding 24
hours, so a DST change moves the wall clock and not the window: the day of a
spring-forward change is 23 hours long and still resets at local midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo


@dataclass(slots=True, frozen=True)
class Window:
    scope: str  # "day" | "week"
    start: datetime  # aware, UTC
    resets_at: datetime  # aware, UTC


def _midnight(d: date, tz: tzinfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def day(now: datetime, tz: tzinfo) -> Window:
    today = now.astimezone(tz).date()
    return Window("day", _midnight(today, tz), _midnight(today + timedelta(days=1), tz))


def week(now: datetime, tz: tzinfo) -> Window:
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    return Window("week", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz))
