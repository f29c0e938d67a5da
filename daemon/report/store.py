"""Where the recovery report reads from: one durable row per finished request or probe.

The table lives in the spend ledger's database (its migration, ``requests``, is in
``budget.ledger``), beside the attempts it can be joined with by day. Rows are
written by ``report.recorder`` (user requests, from the events) and
``report.probe`` (synthetic probes, flagged ``probe = 1``), on this module's
own thread and connection, never on the event loop. Probe spend lives only
here: the attempts table, which every budget sums, never sees a probe.
"""

from __future__ import annotations

import asyncio
import operator
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from daemon import private
from daemon.rows import insert_rows

T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class RequestRow:
    """One finished request: the chain's first model, what served it, and why the first did not."""

    id: str
    ts: float
    session: str
    route: str
    primary_target: str | None  # provider/model first in the chain; None when nothing was tried
    served: str | None  # provider/model that answered; None when nothing did
    primary_failure: str | None  # failure class (or skip reason) of the primary; None when it answered
    status: int
    error: str | None
    calls: int  # upstream calls made
    latency_ms: float
    ttft_ms: float | None
    cost_usd: float  # what the answer cost (probes: what the probe cost)
    delta_usd: float | None  # cost beyond what the primary would have charged; failovers only
    probe: bool = False
    cache_saved_usd: float = 0.0  # the answer's price without the prompt cache, less its cost
    # An answer cut mid-stream and finished by the next target (continue_on_cut); None otherwise:
    continued_chars: int | None = None  # characters the client had received before the cut
    continued_usd: float | None = None  # what the continuation cost
    retry_usd: float | None = None  # what the same target would have charged to answer it whole


_COLUMNS = tuple(f.name for f in fields(RequestRow))
_values = operator.attrgetter(*_COLUMNS)
_INSERT = f"INSERT OR IGNORE INTO requests ({', '.join(_COLUMNS)}) VALUES"


def _row(values: tuple[Any, ...]) -> RequestRow:
    d = dict(zip(_COLUMNS, values, strict=True))
    d["probe"] = bool(d["probe"])
    return RequestRow(**d)


def read_rows(db: sqlite3.Connection, start: float, end: float) -> list[RequestRow]:
    cur = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM requests WHERE ts >= ? AND ts < ? ORDER BY ts", (start, end)
    )
    return [_row(v) for v in cur]


def read_spend(db: sqlite3.Connection, start: float, end: float) -> list[tuple[float, float]]:
    """(ts, usd) of every ledger attempt in the window: what the budgets count."""
    cur = db.execute(
        "SELECT ts, COALESCE(usd, reserved_usd) FROM attempts WHERE ts >= ? AND ts < ? ORDER BY ts",
        (start, end),
    )
    return [(float(t), float(u)) for t, u in cur]


def read_settled(db: sqlite3.Connection, start: float, end: float) -> float:
    """What the attempts that have ended in the window cost (open reservations left out)."""
    cur = db.execute(
        "SELECT COALESCE(SUM(usd), 0) FROM attempts WHERE ts >= ? AND ts < ? AND usd IS NOT NULL",
        (start, end),
    )
    return float(cur.fetchone()[0])


def read_daily_limit(db: sqlite3.Connection) -> float | None:
    row = db.execute("SELECT usd FROM limits WHERE scope = 'day'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def has_limit(db: sqlite3.Connection) -> bool:
    return int(db.execute("SELECT COUNT(*) FROM limits WHERE scope = 'day'").fetchone()[0]) > 0


def probe_spend(db: sqlite3.Connection, since: float) -> float:
    cur = db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE probe = 1 AND ts >= ?", (since,))
    return float(cur.fetchone()[0])


class Store:
    """The requests table on a thread of its own. Open after the ledger (which migrates it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detour-report")
        self._db: sqlite3.Connection | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "Store.open() first"
        return self._db

    async def open(self) -> None:
        self._db = await self.run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        db = private.sqlite(self._path, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        return db

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    def _insert(self, rows: list[RequestRow]) -> None:
        self.db.execute("BEGIN")
        try:
            # Plain tuples of the fields (astuple copies deep, 20 us a row).
            insert_rows(self.db, _INSERT, len(_COLUMNS), [_values(r) for r in rows])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    async def insert(self, rows: list[RequestRow]) -> None:
        if rows:
            await self.run(self._insert, rows)
