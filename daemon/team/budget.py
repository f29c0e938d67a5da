"""This daemon's side of the team budget: slices leased from the team database, spent locally.

Requests claim against the local slice synchronously (no await between check and
claim, as for the local windows); only when the slice is short does a request wait
for one grant transaction, shared by every request waiting at that moment. Settled
costs and unused slices go to the database in batches (``leases.settle``), renewals
every ``RENEW_S`` riding along. While the database is unreachable the daemon spends what its
slice still holds and then its ``offline_usd`` allowance, records each attempt, and
settles them all when the database returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import asyncpg

from daemon.budget import windows
from daemon.budget.accounts import EPSILON, Limits, Reservation
from daemon.config import TeamSettings
from daemon.ir import ApiError
from daemon.team import leases, unsent
from daemon.team.database import DOWN
from daemon.team.leases import Batch, Grant, Key, LeaseGone, Settled
from daemon.telemetry.schema import TeamStatus, WindowStatus

log = logging.getLogger(__name__)
TICK_S = 0.2  # how often the background looks for something to send
# Settled costs gather this long (or this many) before one transaction takes them all: the
# lease already holds the money, so settling later risks nothing and saves the database writes.
SETTLE_S = 10.0
SETTLE_BATCH = 256
RENEW_S = leases.LEASE_S / 3  # renewals ride along with settlements when there are any
IDLE_RETURN_S = 5.0  # a slice nobody drew on for this long goes back to the team
RETRY_S = 1.0  # while the database is down, how often to look for it
READ_S = 5.0  # how often the team's settled spend is read back, for /budget and /status
OFFLINE = ""  # Reservation.shared for a claim on the offline allowance
SCOPE_WORDS = {"team_weekly": "team's weekly", "team_daily": "team's daily", "week": "weekly", "day": "daily"}


@dataclass(slots=True)
class Slice:
    lease_id: str
    keys: tuple[Key, ...]
    free: float = 0.0
    drawn_at: float = 0.0  # monotonic time of the last claim
    granted: bool = False  # the database knows this lease


@dataclass(slots=True)
class Outage:
    since: float  # epoch seconds
    spent: float = 0.0  # settled from the offline allowance
    held: float = 0.0  # claimed from it by attempts not settled yet


@dataclass(slots=True)
class TeamBudget:
    settings: TeamSettings
    daemon: str  # this daemon's id, stable across restarts (attempt ids build on it)
    member_limits: Limits  # the member's own [budget]: held across all their daemons
    tz: tzinfo
    connect: Callable[[], Awaitable[asyncpg.Pool]]
    publish: Callable[[dict[str, Any]], None] = lambda event: None
    unsent_path: Path | None = None  # settlements a stop during an outage left unsent
    clock: Callable[[], float] = time.time
    grants: int = 0  # transactions, for the bench
    flushes: int = 0
    _slice: Slice | None = None
    _old: dict[str, Slice] = field(default_factory=dict)  # earlier windows' slices, until settled
    _batch: Batch = field(default_factory=Batch)
    _outage: Outage | None = None
    _refused: tuple[Key, float] | None = None  # the budget that was short at the last grant
    _granting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pool: asyncpg.Pool | None = None
    _renewed_at: float = 0.0
    _spent: dict[str, float] = field(default_factory=dict)  # scope -> settled, as last read
    _read_at: float = 0.0
    _asked_at: float = 0.0  # when /budget or /status last wanted the team's figures
    _pending_since: float | None = None  # monotonic time of the oldest unsent settlement
    _unsent_loaded: bool = False

    # --- what Accounts asks, synchronously --------------------------------------------------

    def room(self) -> tuple[float, str]:
        keys = self._keys()
        if not keys:
            return float("inf"), "team_weekly"
        s = self._current(keys)
        room = s.free
        if self._outage is not None:
            room += max(0.0, self.settings.offline_usd - self._outage.spent - self._outage.held)
        scope = self._refused[0].scope if self._refused else min(keys, key=lambda k: k.limit).scope
        return room, scope

    def take(self, res: Reservation) -> None:
        keys = self._keys()
        if not keys:
            res.shared = OFFLINE if self._outage else None
            return
        s = self._current(keys)
        if s.free + EPSILON >= res.amount or self._outage is None:
            s.free -= res.amount
            s.drawn_at = time.monotonic()
            res.shared = s.lease_id
        else:
            self._outage.held += res.amount
            res.shared = OFFLINE

    def settled(self, res: Reservation, usd: float) -> None:
        """The attempt's real cost (0 for one that never started): the rest goes back to its slice."""
        lease = res.shared or None
        if res.shared == OFFLINE and self._outage is not None:
            self._outage.held -= res.amount
            self._outage.spent += usd
        elif lease is not None:
            s = self._slice if self._slice and self._slice.lease_id == lease else self._old.get(lease)
            if s is not None:
                s.free += res.amount - usd
        if res.row_id is None or usd <= 0:
            return
        route, provider, model = res.where or ("", "", "")
        keys = tuple(k.key for k in self._keys())
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        now = self.clock()
        self._batch.settled.append(
            Settled(
                f"{self.daemon}:{res.row_id}", lease, keys, route, provider, model, usd,
                datetime.fromtimestamp(now, UTC),
            )
        )  # fmt: skip
        for scope in ("team_weekly", "team_daily", "member_weekly", "member_daily"):
            self._spent[scope] = self._spent.get(scope, 0.0) + usd  # until the next read

    def refusal(self, scope: str) -> ApiError:
        key, left = self._refused or (None, 0.0)
        limit = key.limit if key else 0.0
        whose = "" if scope.startswith("team") else f" of member {self.settings.member} (all their daemons)"
        now = datetime.fromtimestamp(self.clock(), UTC)
        tz = UTC if scope.startswith("team") else self.tz
        resets = (windows.day if scope in ("team_daily", "day") else windows.week)(now, tz).resets_at
        spent = f"${limit - left:.4f} of ${limit:.2f}; it resets at {resets.isoformat(timespec='minutes')}"
        return ApiError(
            402,
            "budget_exceeded",
            f"the {SCOPE_WORDS.get(scope, scope)} budget{whose} is spent: {spent}",
            details={
                "scope": scope,
                "spent_usd": round(limit - left, 6),
                "limit_usd": limit,
                "resets_at": resets.isoformat(),
            },
        )

    async def ensure(self, usd: float, least: float = 0.0) -> None:
        """Make the slice hold ``usd`` if the team's budgets allow, or at least ``least`` (the
        shortest useful answer) at the edge: at most one grant transaction."""
        keys = self._keys()
        if not keys or self._outage is not None or self._current(keys).free + EPSILON >= usd:
            return
        async with self._granting:
            s = self._current(keys)
            if s.free + EPSILON >= usd or self._outage is not None:
                return
            try:
                held = max(0.0, s.free)
                got = await self._grant(s, usd - held, max(0.0, least - held))
            except DOWN as e:
                self._down(e)
                return
            s.free += got.usd
            s.granted = s.granted or got.usd > 0
            self._refused = (got.refused, got.left) if got.refused else None

    async def _grant(self, s: Slice, need: float, least: float) -> Grant:
        pool = await self.connected()
        for _ in range(3):
            try:
                async with pool.acquire() as conn:
                    self.grants += 1
                    return await leases.grant(
                        conn, s.lease_id, self.daemon, self.settings.member, list(s.keys), need, least
                    )
            except LeaseGone:
                s.lease_id = self._new_id()  # the old one expired while away; its free part is gone
                s.free, s.granted = 0.0, False
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                continue
        return Grant(0.0)

    # --- windows and slices -------------------------------------------------------------------

    def _keys(self) -> tuple[Key, ...]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        out: list[Key] = []
        team = self.settings.budget
        for limit, win, scope in ((team.weekly_usd, windows.week(now, UTC), "team_weekly"),
                                  (team.daily_usd, windows.day(now, UTC), "team_daily")):  # fmt: skip
            if limit is not None:
                out.append(Key(f"team:{win.scope}:{win.start.isoformat()}", limit, scope))
        m = self.settings.member
        for limit, win in ((self.member_limits.week, windows.week(now, self.tz)),
                           (self.member_limits.day, windows.day(now, self.tz))):  # fmt: skip
            if limit is not None:
                out.append(Key(f"member:{m}:{win.scope}:{win.start.isoformat()}", limit, win.scope))
        for k in out:
            self._batch.limits.setdefault(k.key, k.limit)
        return tuple(out)

    def _current(self, keys: tuple[Key, ...]) -> Slice:
        s = self._slice
        if s is None or s.keys != keys:
            if s is not None:  # a window rolled over or a limit changed: the old slice goes back
                self._old[s.lease_id] = s
            s = self._slice = Slice(self._new_id(), keys)
        return s

    def _new_id(self) -> str:
        return f"{self.daemon}:{uuid.uuid4().hex[:12]}"

    # --- the background: settle, return, renew, reconnect ------------------------------------

    async def connected(self) -> asyncpg.Pool:
        async with self._connecting:  # one pool, however many ask at once
            if self._pool is None:
                self._pool = await self.connect()
            return self._pool

    async def run(self) -> None:
        """Until cancelled; ``close`` settles what is left."""
        if self.unsent_path is not None:
            left = await asyncio.to_thread(unsent.load, self.unsent_path)
            if left:
                self._batch.settled[:0] = left
                self._unsent_loaded = True
                self._pending_since = 0.0  # due at once
                log.info("settling %d attempts a stop during an outage left unsent", len(left))
        try:
            await self.connected()
        except DOWN as e:
            self._down(e)
        while True:
            await asyncio.sleep(RETRY_S if self._outage else TICK_S)
            try:
                if self._outage is not None:
                    await self._reconnect()
                self._collect_idle()
                await self.flush()
                now = time.monotonic()
                if now - self._read_at > READ_S and now - self._asked_at < 60:
                    await self._read_spent()
            except DOWN as e:
                self._down(e)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                pass  # another daemon's transaction won; the batch goes again next round
            except Exception:
                log.exception("team database step failed; retrying")

    def _collect_idle(self, everything: bool = False) -> None:
        now = time.monotonic()
        for s in [*self._old.values(), *([self._slice] if self._slice else [])]:
            old = s is not self._slice
            if s.free > 0 and (everything or old or now - s.drawn_at > IDLE_RETURN_S):
                self._batch.returned[s.lease_id] = self._batch.returned.get(s.lease_id, 0.0) + s.free
                s.free = 0.0

    def _due(self) -> bool:
        now = time.monotonic()
        pending = self._pending_since is not None and now - self._pending_since >= SETTLE_S
        renew = bool(self._renewable()) and now - self._renewed_at > RENEW_S
        return bool(self._batch.returned) or len(self._batch.settled) >= SETTLE_BATCH or pending or renew

    def _renewable(self) -> list[str]:
        """Leases worth keeping alive: holding money, or drawn on lately (attempts in flight)."""
        recent = time.monotonic() - leases.LEASE_S / 2
        return [
            s.lease_id
            for s in [self._slice, *self._old.values()]
            if s is not None and s.granted and (s.free > 0 or s.drawn_at > recent)
        ]

    async def flush(self, force: bool = False) -> None:
        """One transaction: settled attempts, returned slices, renewed leases."""
        if self._outage is not None or not (self._due() or (force and self._batch)):
            return
        batch, self._batch = self._batch, Batch(limits=dict(self._batch.limits))
        pending, self._pending_since = self._pending_since, None
        ids = self._renewable()
        pool = await self.connected()
        try:
            async with pool.acquire() as conn, conn.transaction():
                await leases.settle(conn, self.daemon, self.settings.member, batch)
                alive = await leases.renew(conn, ids)
            self.flushes += 1
        except BaseException:
            self._requeue(batch)
            self._pending_since = pending
            raise
        self._renewed_at = time.monotonic()
        self._old = {k: s for k, s in self._old.items() if s.free > 0}
        if self._unsent_loaded and self.unsent_path is not None:
            self.unsent_path.unlink(missing_ok=True)  # what it held went in this batch
            self._unsent_loaded = False
        s = self._slice
        if s is not None and s.lease_id in ids and s.lease_id not in alive:
            s.free, s.granted = 0.0, False  # expired while away: what it held was counted as spent
            s.lease_id = self._new_id()

    def _requeue(self, batch: Batch) -> None:
        self._batch.settled[:0] = batch.settled
        for lease, usd in batch.returned.items():
            self._batch.returned[lease] = self._batch.returned.get(lease, 0.0) + usd

    async def _reconnect(self) -> None:
        pool = await self.connected()
        await pool.fetchval("SELECT 1")
        outage, self._outage = self._outage, None
        assert outage is not None
        try:
            await self.flush(force=True)
        except BaseException:
            self._outage = outage
            raise
        log.warning("the team database is back; settled $%.4f spent while it was away", outage.spent)
        self.publish({"type": "team", "database": "back", "offline_spent": round(outage.spent, 6)})
        self.publish(_alert("recovered", "the team database is reachable again"))

    def _down(self, error: BaseException) -> None:
        if self._outage is not None:
            return
        self._outage = Outage(self.clock())
        log.warning(
            "the team database is unreachable (%s); spending at most $%.2f until it returns",
            type(error).__name__,
            self.settings.offline_usd,
        )
        self.publish({"type": "team", "database": "down", "offline_spent": 0.0})
        self.publish(
            _alert(
                "firing",
                f"the team database is unreachable: this daemon may spend ${self.settings.offline_usd:.2f}"
                " until it returns",
            )
        )

    async def close(self) -> None:
        """Settle everything and give every slice back (a stopped daemon holds nothing)."""
        self._collect_idle(everything=True)
        for _ in range(5):
            try:
                if self._outage is not None:
                    await self._reconnect()  # the database may be back: settle before leaving
                    break
                await self.flush(force=True)
                break
            except DOWN as e:
                log.warning(
                    "the team database is unreachable at shutdown (%s): $%.4f of settled spend is kept"
                    " and sent at the next start",
                    type(e).__name__,
                    sum(a.usd for a in self._batch.settled),
                )
                break
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                continue
        if self._batch.settled and self.unsent_path is not None:
            await asyncio.to_thread(unsent.save, self.unsent_path, self._batch.settled)
        if self._pool is not None:
            await self._pool.close()

    # --- what /budget and /status show ----------------------------------------------------------

    def _team_windows(self) -> list[tuple[str, float | None, windows.Window]]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        b = self.settings.budget
        return [
            ("team_weekly", b.weekly_usd, windows.week(now, UTC)),
            ("team_daily", b.daily_usd, windows.day(now, UTC)),
        ]

    async def _read_spent(self) -> None:
        (_, _, week), (_, _, day) = self._team_windows()
        now = datetime.fromtimestamp(self.clock(), UTC)
        mweek, mday = windows.week(now, self.tz), windows.day(now, self.tz)
        pool = await self.connected()
        row = await pool.fetchrow(
            "SELECT COALESCE(SUM(usd) FILTER (WHERE ts >= $1), 0),"
            " COALESCE(SUM(usd) FILTER (WHERE ts >= $2), 0),"
            " COALESCE(SUM(usd) FILTER (WHERE member = $5 AND ts >= $3), 0),"
            " COALESCE(SUM(usd) FILTER (WHERE member = $5 AND ts >= $4), 0)"
            " FROM team_attempts WHERE ts >= LEAST($1, $2, $3, $4)",
            week.start, day.start, mweek.start, mday.start, self.settings.member,
        )  # fmt: skip
        self._read_at = time.monotonic()
        for i, scope in enumerate(("team_weekly", "team_daily", "member_weekly", "member_daily")):
            self._spent[scope] = float(row[i])

    def windows(self) -> dict[str, WindowStatus]:
        """The team scopes as /budget shows every scope: settled spend, never unused slices."""
        self._asked_at = time.monotonic()
        out: dict[str, WindowStatus] = {}
        for scope, limit, win in self._team_windows():
            spent = self._spent.get(scope, 0.0)
            out[scope] = {
                "spent_usd": round(spent, 6),
                "limit_usd": limit,
                "remaining_usd": None if limit is None else round(max(0.0, limit - spent), 6),
                "resets_at": win.resets_at.isoformat(),
            }
        return out

    def status(self, where: str) -> TeamStatus:
        """The team line of /status: the database, the team's spend and this member's share."""
        o = self._outage
        return {
            "database": where,
            "state": "up" if o is None and self._pool is not None else "down",  # connected, not hoped
            "since": None
            if o is None
            else datetime.fromtimestamp(o.since, UTC).isoformat(timespec="seconds"),
            "offline_spent_usd": 0.0 if o is None else round(o.spent, 6),
            "member": self.settings.member,
            "member_week_usd": round(self._spent.get("member_weekly", 0.0), 6),
            "member_day_usd": round(self._spent.get("member_daily", 0.0), 6),
            "budgets": self.windows(),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _alert(state: str, message: str) -> dict[str, Any]:
    return {"type": "alert", "condition": "team_database", "state": state, "message": message}
