"""Budgets that never overrun: reservations against every window, settled to the real cost.

The running totals live in memory on the event loop, so checking a budget and
reserving against it is one synchronous step: concurrent requests see each
other's reservations and no interleaving can overspend. Each reservation is
written to the ledger (on the ledger's own thread) before its attempt starts,
and settled when the answer ends.

Each ledger write is made durable at once by the journal (``budget.journal``)
and reaches SQLite in a batch a moment later, in order: one thread hop and one
commit for all the requests of that moment, and none in front of a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from daemon.budget import windows
from daemon.budget.journal import ROTATE_BYTES, DirectoryLock, Journal, read
from daemon.budget.ledger import AttemptRow, Ledger, Settlement, Write
from daemon.ir import ApiError, Usage
from daemon.tasks import spawn

T = TypeVar("T")
log = logging.getLogger(__name__)
# The personal budget scopes, each with the word that names its limit: the config's and
# PUT /budget's ``daily_usd``, ``detour budget set --daily``, "the daily budget".
SCOPE_WORDS: Final = {"session": "session", "day": "daily", "week": "weekly"}
SCOPES = tuple(SCOPE_WORDS)
# The config's and PUT /budget's limit fields -> the scope each sets.
LIMIT_FIELDS: Final = {f"{word}_usd": scope for scope, word in SCOPE_WORDS.items()}
# Float noise must never be what lets a request through.
EPSILON = 1e-9
# How long ledger writes gather before going to SQLite together (the journal has them already).
FLUSH_S = 0.05


@dataclass(slots=True)
class Limits:
    session: float | None = None
    day: float | None = None
    week: float | None = None

    def of(self, scope: str) -> float | None:
        value: float | None = getattr(self, scope)
        return value


@dataclass(slots=True)
class Reservation:
    session: str
    amount: float
    day_start: datetime
    week_start: datetime
    row_id: int | None = None
    settled: bool = False
    shared: str | None = None  # team mode: the lease it was claimed from ("" for the offline allowance)
    where: tuple[str, str, str] | None = None  # route, provider, model (for the team's rows)


class Shared(Protocol):
    """A budget beyond this daemon (team mode, ``daemon.team.budget``), claimed from a local slice."""

    def room(self) -> tuple[float, str]:
        """What may be claimed now without asking the database, and the scope that bounds it."""
        ...

    def take(self, res: Reservation) -> None: ...

    def settled(self, res: Reservation, usd: float) -> None: ...

    def refusal(self, scope: str) -> ApiError: ...

    def windows(self) -> dict[str, Any]: ...

    async def ensure(self, usd: float, least: float = 0.0) -> None:
        """Top the slice up to ``usd`` if the shared budgets allow, or at the edge to no less
        than ``least``, the shortest useful answer (one short transaction)."""
        ...


@dataclass(slots=True)
class _Totals:
    """Spend in the current windows: settled costs plus open reservations."""

    day_start: datetime
    week_start: datetime
    day: float = 0.0
    week: float = 0.0
    sessions: dict[str, float] = field(default_factory=dict)
    # Epoch seconds of the next reset of either window: until then nothing rolls over,
    # and the hot path need not work out local midnights.
    rolls_at: float = 0.0


def exceeded(scope: str, spent: float, limit: float, resets_at: datetime | None) -> ApiError:
    when = f"; it resets at {resets_at.isoformat(timespec='minutes')}" if resets_at else ""
    what = SCOPE_WORDS[scope]
    return ApiError(
        402,
        "budget_exceeded",
        f"the {what} budget is spent: ${spent:.4f} of ${limit:.2f}{when}. "
        f"Raise it with `detour budget set --{what} USD`"
        + (" or start a new session" if scope == "session" else ""),
        details={
            "scope": scope,
            "spent_usd": round(spent, 6),
            "limit_usd": limit,
            "resets_at": resets_at.isoformat() if resets_at else None,
        },
    )


class Accounts:
    def __init__(
        self,
        path: Path,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
    ) -> None:
        self._path = path
        self.limits = limits
        self._clock = clock
        self._tz = tz
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detour-ledger")
        self._ledger: Ledger | None = None
        self._totals: _Totals | None = None
        self.reconciled = 0
        self._journal = Journal(path.parent)
        self._lock = DirectoryLock(path.parent)
        self._queued: list[Write] = []
        self._batch_written: asyncio.Future[None] | None = None  # shared by the queued writes
        self._unsaved = False  # a batch failed: the journal must outlive this run
        self._last_id = 0
        self._writer: asyncio.Task[None] | None = None
        self.shared: Shared | None = None

    @property
    def tz(self) -> tzinfo:
        return self._tz or datetime.now().astimezone().tzinfo or UTC

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None, "Accounts.open() first"
        return self._ledger

    async def open(self) -> None:
        """Open the ledger; raises ``LedgerBusy`` if another process has it open."""
        await self._run(self._lock.acquire)
        self._ledger = await self._run(Ledger, self._path, self._clock)
        await self._run(self._replay)
        self.reconciled = await self._run(self.ledger.reconcile)
        self._last_id = await self._run(self.ledger.last_id)
        await self._run(self._journal.begin)
        stored = await self._run(self.ledger.limits)
        for scope, usd in stored.items():
            setattr(self.limits, scope, usd)
        await self._reload()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer  # every queued write reaches the ledger before it closes
        if self._ledger is not None:
            last = self._journal.close()
            if last is not None and not self._unsaved:  # SQLite has all it holds
                await self._run(self._commit, [], last)
            await self._run(self._ledger.close)
        self._lock.release()
        self._executor.shutdown(wait=True)

    def _replay(self) -> None:
        """Put into SQLite what a killed daemon had journalled but not yet written there."""
        for path in self._journal.leftovers():
            self._commit(list(read(path)), path)

    def _commit(self, writes: list[Write], journal_file: Path | None, fresh: bool = False) -> None:
        if writes:
            self.ledger.apply(writes, fresh=fresh)
        if journal_file is not None:
            journal_file.unlink(missing_ok=True)

    def _write(self, w: Write) -> asyncio.Future[None]:
        self._journal.append(w)
        self._queued.append(w)
        if self._batch_written is None:
            self._batch_written = asyncio.get_running_loop().create_future()
        if self._writer is None or self._writer.done():
            self._writer = spawn(self._write_batches(), name="detour-ledger-writer")
        return self._batch_written

    async def _write_batches(self) -> None:
        while self._queued:
            await asyncio.sleep(FLUSH_S)  # let the writes of this moment gather
            # No await between taking the batch and rotating: an old journal file holds
            # nothing newer than this batch, so it may go once the batch is committed.
            batch, self._queued = self._queued, []
            written, self._batch_written = self._batch_written, None
            full = self._journal.rotate() if self._journal.size > ROTATE_BYTES else None
            try:
                await self._run(self._commit, batch, full, True)
            except Exception as e:
                # The journal keeps the writes: the next start replays them.
                log.error("the spend ledger could not be written: %s", e)
                self._unsaved = True
                if written is not None and not written.done():
                    written.set_exception(e)
                continue
            if written is not None and not written.done():
                written.set_result(None)

    async def _reload(self) -> None:
        now = self._now()
        day, week = windows.day(now, self.tz), windows.week(now, self.tz)
        totals = _Totals(day.start, week.start, rolls_at=min(day.resets_at, week.resets_at).timestamp())
        totals.day = await self._run(self.ledger.spend, day.start.timestamp())
        totals.week = await self._run(self.ledger.spend, week.start.timestamp())
        totals.sessions = await self._run(self.ledger.session_spend)
        self._totals = totals

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _current(self) -> _Totals:
        """The totals, rolled over if a window has reset since the last request."""
        assert self._totals is not None, "Accounts.open() first"
        t = self._totals
        if self._clock() < t.rolls_at:
            return t
        now = self._now()
        day, week = windows.day(now, self.tz), windows.week(now, self.tz)
        t.rolls_at = min(day.resets_at, week.resets_at).timestamp()
        # Every attempt since a reset went through this process, and it started after
        # the reset; attempts still open began before it and belong to the old window.
        if day.start != t.day_start:
            t.day_start, t.day = day.start, 0.0
        if week.start != t.week_start:
            t.week_start, t.week = week.start, 0.0
        return t

    def spent(self, scope: str, session: str) -> float:
        return self.totals(session)[scope]

    def totals(self, session: str) -> dict[str, float]:
        """Spend in every window at once (one rollover check)."""
        t = self._current()
        return {"session": t.sessions.get(session, 0.0), "day": t.day, "week": t.week}

    def resets_at(self, scope: str) -> datetime | None:
        now = self._now()
        if scope == "day":
            return windows.day(now, self.tz).resets_at.astimezone(self.tz)
        if scope == "week":
            return windows.week(now, self.tz).resets_at.astimezone(self.tz)
        return None

    def headroom(self, session: str) -> tuple[float, str | None]:
        """The least money left in any window that applies, and which window that is."""
        best, which = float("inf"), None
        for scope in SCOPES:
            limit = self.limits.of(scope)
            if limit is not None:
                left = limit - self.spent(scope, session)
                if left < best:
                    best, which = left, scope
        if self.shared is not None:
            left, scope = self.shared.room()
            if left < best:
                best, which = left, scope
        return best, which

    def refusal(self, scope: str, session: str) -> ApiError:
        """The 402 for a window that cannot take more (a team scope's from the team budget)."""
        if scope in SCOPES:
            limit = self.limits.of(scope) or 0.0
            return exceeded(scope, self.spent(scope, session), limit, self.resets_at(scope))
        assert self.shared is not None
        return self.shared.refusal(scope)

    def reserve(self, session: str, amount: float) -> Reservation:
        """Claim ``amount`` against every window, or raise 402 naming the window it would overrun.

        Synchronous on purpose: check and claim happen with no await between them."""
        t = self._current()
        for scope in SCOPES:
            limit = self.limits.of(scope)
            if limit is None:
                continue
            spent = self.spent(scope, session)
            if spent + amount > limit + EPSILON:
                raise exceeded(scope, spent, limit, self.resets_at(scope))
        if self.shared is not None:
            room, scope = self.shared.room()
            if amount > room + EPSILON:
                raise self.shared.refusal(scope)
        t.day += amount
        t.week += amount
        t.sessions[session] = t.sessions.get(session, 0.0) + amount
        res = Reservation(session, amount, t.day_start, t.week_start)
        if self.shared is not None:
            self.shared.take(res)
        return res

    def record(self, res: Reservation, route: str, provider: str, model: str) -> asyncio.Future[None]:
        """Write the reservation before its attempt starts: a crash after this is reconciled."""
        self._last_id += 1
        res.row_id = self._last_id
        res.where = (route, provider, model)
        return self._write(
            AttemptRow(self._last_id, res.session, route, provider, model, res.amount, self._clock())
        )

    def _adjust(self, res: Reservation, delta: float) -> None:
        t = self._current()
        if res.day_start == t.day_start:
            t.day += delta
        if res.week_start == t.week_start:
            t.week += delta
        t.sessions[res.session] = t.sessions.get(res.session, 0.0) + delta

    def settle(self, res: Reservation, usd: float, usage: Usage, source: str) -> asyncio.Future[None] | None:
        """Replace the reservation by the real cost, once.

        The totals change at once; the ledger write is queued on the ledger thread and
        needs no await, so a request being cancelled (client gone) still settles. The
        returned future is for tests and shutdown, which want to see it written."""
        if res.settled:
            return None
        res.settled = True
        self._adjust(res, usd - res.amount)
        if self.shared is not None:
            self.shared.settled(res, usd)
        if res.row_id is None:
            return None
        return self._write(Settlement(res.row_id, usd, usage, source))

    def cancel(self, res: Reservation) -> None:
        """A reservation whose attempt never started (nothing was written)."""
        if not res.settled and res.row_id is None:
            res.settled = True
            self._adjust(res, -res.amount)
            if self.shared is not None:
                self.shared.settled(res, 0.0)

    async def set_limits(self, **usd: float | None) -> None:
        for scope, value in usd.items():
            if scope not in SCOPES:
                raise ValueError(scope)
            setattr(self.limits, scope, value)
            await self._run(self.ledger.set_limit, scope, value)

    def windows(self, session: str | None = None) -> dict[str, Any]:
        """Spend, limit, remaining and reset per window (the session's only if one is named)."""
        scopes: dict[str, Any] = {}
        for scope in SCOPES:
            if scope == "session" and session is None:
                continue
            limit = self.limits.of(scope)
            spent = self.spent(scope, session or "")
            resets = self.resets_at(scope)
            scopes[scope] = {
                "spent_usd": round(spent, 6),
                "limit_usd": limit,
                "remaining_usd": None if limit is None else round(max(0.0, limit - spent), 6),
                "resets_at": resets.isoformat() if resets else None,
            }
        if self.shared is not None:
            scopes.update(self.shared.windows())
        return scopes

    async def report(self, session: str | None = None) -> dict[str, Any]:
        """The windows, plus this week's costliest models (a ledger query)."""
        t = self._current()
        scopes = self.windows(session)
        top = await self._run(self.ledger.top_models, t.week_start.timestamp())
        return {
            "budgets": scopes,
            "top_models_week": [
                {"provider": p, "model": m, "usd": round(u, 6), "attempts": n} for p, m, u, n in top
            ],
        }
