"""The recovery report's figures, computed from stored rows: pure functions, no I/O.

Over a window (today, this week, a range of local dates), per route and overall:
- coverage: per failure class seen on a primary, how many requests a fallback
  (or a same-model retry) still answered and how many failed; the share recovered;
- cost per recovery: the extra spend of recovered requests beyond what the
  primary would have charged (``cost_delta_usd``), divided by recoveries; and
  what attempts that served nothing cost (the ledger's spend minus served costs);
- continuations: recoveries of answers cut mid-stream and finished by the next
  target (``continue_on_cut``), with what the continuations cost against what
  retrying those answers whole would have cost, overall and per path;
- latency per path (primary -> served): p50/p95/p99, mean, spread (standard
  deviation) of total latency and of time to first token, with sample counts;
- cost stability: spend per day against the daily limit, and its variation.
Probes are reported apart, per target, and never mixed into these figures.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from daemon.budget import windows
from daemon.report.store import RequestRow

WINDOWS = ("day", "week")
MAX_DAYS = 3660  # ten years: a report of every day since year 1 is not one anyone reads
SAMPLES = 1000


class BadWindow(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class Window:
    name: str
    start: datetime
    end: datetime

    def days(self) -> list[date]:
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def window(spec: str, now: datetime, tz: tzinfo) -> Window:
    """``day`` (since local midnight), ``week`` (since Monday), or ``YYYY-MM-DD..YYYY-MM-DD``."""
    local = now.astimezone(tz)
    if spec == "day":
        return Window(spec, windows.day(now, tz).start.astimezone(tz), local)
    if spec == "week":
        return Window(spec, windows.week(now, tz).start.astimezone(tz), local)
    first, sep, last = spec.partition("..")
    try:
        a, b = date.fromisoformat(first), date.fromisoformat(last if sep else first)
    except ValueError:
        raise BadWindow(f"window must be day, week or YYYY-MM-DD..YYYY-MM-DD, not {spec!r}") from None
    if b < a:
        raise BadWindow(f"window {spec!r} ends before it starts")
    if (b - a).days >= MAX_DAYS:
        raise BadWindow(f"window {spec!r} is longer than {MAX_DAYS} days")
    try:
        start = datetime.combine(a, time(), tz)
        end = datetime.combine(b + timedelta(days=1), time(), tz)
        start.timestamp(), end.timestamp()  # the first and last days of the calendar have none
    except (OverflowError, ValueError, OSError):
        raise BadWindow(f"window {spec!r} is outside the dates a report can cover") from None
    return Window(spec, start, end)


def quantile(data: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of sorted data."""
    pos = q * (len(data) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def distribution(xs: Iterable[float]) -> dict[str, Any]:
    data = sorted(xs)
    if not data:
        return {"n": 0}
    return {
        "n": len(data),
        "p50": round(quantile(data, 0.50), 3),
        "p95": round(quantile(data, 0.95), 3),
        "p99": round(quantile(data, 0.99), 3),
        "mean": round(statistics.fmean(data), 3),
        "stdev": round(statistics.pstdev(data), 3),
        "min": round(data[0], 3),
        "max": round(data[-1], 3),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _recovered(r: RequestRow) -> bool:
    return r.primary_failure is not None and r.status == 200


def _continued(r: RequestRow) -> bool:
    return r.continued_usd is not None and _recovered(r)


def continuations(rows: list[RequestRow]) -> dict[str, Any]:
    """Recovered answers finished by a continuation: their cost against retrying them whole."""
    done = [r for r in rows if _continued(r)]
    cost = sum(r.continued_usd or 0.0 for r in done)
    retry = sum(r.retry_usd or 0.0 for r in done)
    return {
        "continued": len(done),
        "continued_usd": round(cost, 9),
        "retry_usd": round(retry, 9),
        "continued_saved_usd": round(retry - cost, 9),
    }


def coverage(rows: list[RequestRow]) -> dict[str, Any]:
    failed_primary = [r for r in rows if r.primary_failure is not None]
    by_class: dict[str, list[RequestRow]] = defaultdict(list)
    for r in failed_primary:
        by_class[r.primary_failure or ""].append(r)
    recovered = [r for r in failed_primary if _recovered(r)]
    extra = sum(r.delta_usd or 0.0 for r in recovered)
    return {
        "requests": len(rows),
        "primary_failures": len(failed_primary),
        "recovered": len(recovered),
        "unrecovered": len(failed_primary) - len(recovered),
        "recovery_share": _share(len(recovered), len(failed_primary)),
        "by_failure": [
            {
                "failure": kind,
                "seen": len(rs),
                "recovered": sum(map(_recovered, rs)),
                "continued": sum(map(_continued, rs)),
                "failed": len(rs) - sum(map(_recovered, rs)),
            }
            for kind, rs in sorted(by_class.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "extra_usd": round(extra, 9),
        "cost_per_recovery_usd": round(extra / len(recovered), 9) if recovered else None,
        **continuations(failed_primary),
        "served_usd": round(sum(r.cost_usd for r in rows), 9),
        "cache_saved_usd": round(sum(r.cache_saved_usd for r in rows), 9),
    }


def paths(rows: list[RequestRow]) -> list[dict[str, Any]]:
    """Per primary -> served pair (requests nothing served have no path)."""
    groups: dict[tuple[str, str], list[RequestRow]] = defaultdict(list)
    for r in rows:
        if r.served is not None and r.primary_target is not None:
            groups[(r.primary_target, r.served)].append(r)
    out = []
    for (primary, served), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        ok = [r for r in rs if r.status == 200]
        recovered = [r for r in rs if _recovered(r)]
        out.append(
            {
                "primary": primary,
                "served": served,
                "failover": primary != served,
                "requests": len(rs),
                "ok": len(ok),
                "recovered": len(recovered),
                "extra_usd": round(sum(r.delta_usd or 0.0 for r in recovered), 9),
                **continuations(rs),
                "latency_ms": distribution(r.latency_ms for r in ok),
                "ttft_ms": distribution(r.ttft_ms for r in ok if r.ttft_ms is not None),
                # The newest samples, for the distribution charts.
                "latencies_ms": [round(r.latency_ms, 3) for r in ok][-SAMPLES:],
            }
        )
    return out


def spend_by_day(
    win: Window,
    spend: list[tuple[float, float]],
    limit: float | None,
    tz: tzinfo,
    today: tuple[date, float] | None = None,
) -> dict[str, Any]:
    """``today``: the running daemon's own total for the day, which its ledger may not hold yet."""
    per_day = dict.fromkeys(win.days(), 0.0)
    for ts, usd in spend:
        d = datetime.fromtimestamp(ts, tz).date()
        if d in per_day:
            per_day[d] += usd
    if today is not None and today[0] in per_day:
        per_day[today[0]] = today[1]
    amounts = list(per_day.values())
    mean = statistics.fmean(amounts) if amounts else 0.0
    stdev = statistics.pstdev(amounts) if amounts else 0.0
    return {
        "daily_limit_usd": limit,
        "days": [
            {"date": d.isoformat(), "usd": round(u, 9), "over_limit": limit is not None and u > limit}
            for d, u in per_day.items()
        ],
        "total_usd": round(sum(amounts), 9),
        "mean_usd": round(mean, 9),
        "stdev_usd": round(stdev, 9),
        "cv": round(stdev / mean, 4) if mean else None,
        "max_usd": round(max(amounts, default=0.0), 9),
        "days_over_limit": sum(limit is not None and u > limit for u in amounts),
    }


def probes(rows: list[RequestRow], enabled: bool, cap: float, spent_today: float) -> dict[str, Any]:
    by_target: dict[str, list[RequestRow]] = defaultdict(list)
    for r in rows:
        by_target[r.served or r.primary_target or ""].append(r)
    return {
        "enabled": enabled,
        "cap_usd_per_day": cap,
        "spent_today_usd": round(spent_today, 9),
        "runs": len(rows),
        "targets": [
            {
                "target": t,
                "runs": len(rs),
                "ok": sum(r.status == 200 for r in rs),
                "failures": dict(sorted(_count(r.primary_failure for r in rs if r.status != 200).items())),
                "usd": round(sum(r.cost_usd for r in rs), 9),
                "latency_ms": distribution(r.latency_ms for r in rs if r.status == 200),
                "ttft_ms": distribution(r.ttft_ms for r in rs if r.status == 200 and r.ttft_ms is not None),
            }
            for t, rs in sorted(by_target.items())
        ],
    }


def _count(xs: Iterable[str | None]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in xs:
        out[x or "error"] += 1
    return out


def build(
    win: Window,
    rows: list[RequestRow],
    spend: list[tuple[float, float]],
    settled_usd: float,
    daily_limit: float | None,
    tz: tzinfo,
    probe_state: dict[str, Any],
    today: tuple[date, float] | None = None,
) -> dict[str, Any]:
    """The whole report (the JSON of ``GET /report``)."""
    requests = [r for r in rows if not r.probe]
    by_route: dict[str, list[RequestRow]] = defaultdict(list)
    for r in requests:
        by_route[r.route].append(r)
    totals = coverage(requests)
    days = spend_by_day(win, spend, daily_limit, tz, today)
    # Attempts that served nothing but were paid for (an invalid-JSON answer, a cut stream
    # retried elsewhere, a reservation a killed daemon left): the ledger's settled spend holds
    # them all beside the answers served.
    totals["failed_attempts_usd"] = round(max(0.0, settled_usd - totals["served_usd"]), 9)
    return {
        "window": {"name": win.name, "start": win.start.isoformat(), "end": win.end.isoformat()},
        "totals": totals,
        "routes": [
            {"route": name, **coverage(rs), "paths": paths(rs)} for name, rs in sorted(by_route.items())
        ],
        "spend": days,
        "probes": probes([r for r in rows if r.probe], **probe_state),
    }
