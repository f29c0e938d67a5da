"""The report from the database: used by the daemon (``GET /report``) and by
``detour report`` when no daemon runs (a read-only look at the ledger file)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from daemon.budget import windows
from daemon.config import ProbeConfig
from daemon.report import measures, store


def local_tz() -> tzinfo:
    return datetime.now().astimezone().tzinfo or UTC


def compute(
    db: sqlite3.Connection,
    spec: str,
    probe: ProbeConfig,
    daily_limit: float | None,
    now: float,
    tz: tzinfo,
    today_usd: float | None = None,
) -> dict[str, Any]:
    """``daily_limit``: the one in force (the daemon knows it; offline it is the stored or configured one).
    ``today_usd``: the daemon's live total for today (reservations included), newer than its ledger."""
    moment = datetime.fromtimestamp(now, UTC)
    win = measures.window(spec, moment, tz)
    start, end = win.start.timestamp(), win.end.timestamp()
    if win.name in measures.WINDOWS:
        end = now + 1.0  # up to this moment, whatever finishes as we read
    rows = store.read_rows(db, start, end)
    spend = store.read_spend(db, start, end)
    today = windows.day(moment, tz).start.timestamp()
    state = {
        "enabled": probe.enabled,
        "cap": probe.cap_usd_per_day,
        "spent_today": store.probe_spend(db, today),
    }
    today_total = None if today_usd is None else (moment.astimezone(tz).date(), today_usd)
    settled = store.read_settled(db, start, end)
    return measures.build(win, rows, spend, settled, daily_limit, tz, state, today_total)


def offline(
    path: Path, spec: str, probe: ProbeConfig, configured_limit: float | None, now: float
) -> dict[str, Any]:
    """Straight from the ledger file, read-only (the running daemon's lock does not stop a reader)."""
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}: detour has not served a request yet")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        limit = store.read_daily_limit(db) if store.has_limit(db) else configured_limit
        return compute(db, spec, probe, limit, now, local_tz())
    except sqlite3.OperationalError as e:
        raise FileNotFoundError(f"the ledger at {path} has no report data yet ({e})") from None
    finally:
        db.close()
