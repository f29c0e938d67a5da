"""The team's recovery report: every member's report rows, uploaded to the team database,
and the same report built over all of them (``GET /report?scope=team``).

Rows are what ``report.store`` keeps locally (routes, models, outcomes, costs, timings);
prompts never leave the laptop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import astuple, fields
from datetime import UTC, datetime, tzinfo
from typing import Any

import asyncpg

from daemon.config import ProbeConfig
from daemon.report import measures
from daemon.report.store import RequestRow, Store, read_rows
from daemon.team.database import DOWN

log = logging.getLogger(__name__)
UPLOAD_S = 5.0
COLUMNS = tuple(f.name for f in fields(RequestRow))


class Uploader:
    """Sends this daemon's new report rows to the team database, in batches, idempotently."""

    def __init__(
        self, store: Store, pool: Callable[[], Awaitable[asyncpg.Pool]], daemon: str, member: str
    ) -> None:
        self._store, self._pool, self._daemon, self._member = store, pool, daemon, member
        self._since = time.time() - 7 * 86400  # a restart sends the week again; duplicates are skipped

    async def upload(self) -> int:
        now = time.time()
        rows = await self._store.run(read_rows, self._store.db, self._since, now + 1)
        if rows:
            pool = await self._pool()
            cols = ", ".join(("daemon", "member", *COLUMNS))
            marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 3))
            await pool.executemany(
                f"INSERT INTO team_requests ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                [(self._daemon, self._member, *astuple(r)) for r in rows],
            )
        self._since = max([self._since, *(r.ts for r in rows)])
        return len(rows)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(UPLOAD_S)
            try:
                await self.upload()
            except DOWN:
                pass  # the next round sends them
            except Exception:
                log.exception("uploading report rows to the team database failed; retrying")


async def compute(
    pool: asyncpg.Pool, spec: str, probe: ProbeConfig, daily_limit: float | None, tz: tzinfo
) -> dict[str, Any]:
    """The recovery report over every member, with each member's share. Raises BadWindow."""
    win = measures.window(spec, datetime.now(UTC), tz)
    start, end = win.start.timestamp(), win.end.timestamp()
    if win.name in measures.WINDOWS:
        end = time.time() + 1.0
    records = await pool.fetch(
        f"SELECT member, {', '.join(COLUMNS)} FROM team_requests WHERE ts >= $1 AND ts < $2 ORDER BY ts",
        start,
        end,
    )
    rows = [RequestRow(**{c: r[c] for c in COLUMNS}) for r in records]
    spend_rows = await pool.fetch(
        "SELECT member, extract(epoch FROM ts) AS t, usd FROM team_attempts"
        " WHERE ts >= to_timestamp($1) AND ts < to_timestamp($2) ORDER BY ts",
        start,
        end,
    )
    spend = [(float(r["t"]), float(r["usd"])) for r in spend_rows]
    state = {"enabled": probe.enabled, "cap": probe.cap_usd_per_day, "spent_today": 0.0}
    body = measures.build(win, rows, spend, sum(u for _, u in spend), daily_limit, tz, state)
    members: dict[str, dict[str, float]] = defaultdict(lambda: {"requests": 0, "spent_usd": 0.0})
    for r in records:
        if not r["probe"]:
            members[r["member"]]["requests"] += 1
    for r in spend_rows:
        members[r["member"]]["spent_usd"] += float(r["usd"])
    body["scope"] = "team"
    body["members"] = [
        {"member": m, "requests": int(v["requests"]), "spent_usd": round(v["spent_usd"], 6)}
        for m, v in sorted(members.items())
    ]
    return body
