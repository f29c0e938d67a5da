"""Shared health: a cooldown, a rejected key or an ejection one daemon sees, every daemon of
the team honours within a second (PostgreSQL LISTEN/NOTIFY on ``detour_health``).

Only the provider, the model, the kind and the until-time travel; never a prompt, a key
or an error message. Notices from the network are applied as cooldowns and never sent
on again, so nothing echoes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson

from daemon.config import Target
from daemon.routing.failures import PROVIDER_WIDE, Failure, FailureKind
from daemon.routing.health import Health
from daemon.team.database import DOWN

log = logging.getLogger(__name__)
CHANNEL = "detour_health"
RETRY_S = 1.0
PING_S = 30.0
EJECTED = "ejected"


class SharedHealth(Health):
    """``Health`` that tells the team what it learns and honours what the team learns."""

    def __init__(self, share: HealthShare, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._share = share
        share.health = self

    def failure(
        self,
        target: Target,
        failure: Failure,
        chain: Sequence[Target] = (),
        max_ejection_percent: float | None = None,
    ) -> None:
        before = self._until(target, failure)
        super().failure(target, failure, chain, max_ejection_percent)
        after = self._until(target, failure)
        if after > before:
            kind = str(failure.kind) if after != self._ejected_until(target) else EJECTED
            self._share.send(target, kind, time.time() + after - self.now())

    def _ejected_until(self, target: Target) -> float:
        h = self._targets.get(target)
        return h.opened_until if h is not None else 0.0

    def _until(self, target: Target, failure: Failure) -> float:
        if failure.kind in PROVIDER_WIDE:
            pu = self._provider_until.get(target.provider)
            return pu[0] if pu else 0.0
        h = self._targets.get(target)
        return max(h.cooldown_until, h.opened_until) if h is not None else 0.0

    def honour(self, target: Target, kind: str, until_epoch: float) -> None:
        """Another daemon's notice: stay away from ``target`` until then."""
        left = until_epoch - time.time()
        if left <= 0:
            return
        now = self.now()
        if kind in (FailureKind.AUTH, FailureKind.BILLING):
            why = f"{kind}, seen by another daemon of the team"
            self._provider_until[target.provider] = (now + left, kind, why)
            return
        h = self._get(target)
        if now + left > h.cooldown_until:
            h.cooldown_until = now + left
            h.cooldown_reason = f"{kind}, seen by another daemon of the team"
            h.cooldown_final = False


class HealthShare:
    """The LISTEN connection and the NOTIFY sender of one daemon."""

    def __init__(self, dsn: str, daemon: str, pool: Callable[[], Awaitable[asyncpg.Pool]]) -> None:
        self._dsn, self._daemon, self._pool = dsn, daemon, pool
        self.health: SharedHealth | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self.sent = self.heard = 0
        self.listening = False

    def send(self, target: Target, kind: str, until_epoch: float) -> None:
        note = {"d": self._daemon, "p": target.provider, "m": target.model, "k": kind, "u": until_epoch}
        try:
            self._outbox.put_nowait(orjson.dumps(note).decode())
        except asyncio.QueueFull:
            log.warning("shared health: too many notices queued; dropping one")

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = orjson.loads(payload)
            if note["d"] == self._daemon or self.health is None:
                return
            self.health.honour(Target(str(note["p"]), str(note["m"])), str(note["k"]), float(note["u"]))
            self.heard += 1
        except (ValueError, KeyError, TypeError):
            log.warning("shared health: a notice that is not ours on %s; ignored", CHANNEL)

    async def listen(self) -> None:
        """Until cancelled: keep a LISTEN connection, reconnecting when the database returns."""
        while True:
            conn: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._heard)
                self.listening = True
                while not conn.is_closed():
                    # A server that goes away closes the connection; a silent network is
                    # found by a rare ping, not one a second from every daemon of the team.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), PING_S)
                    if lost.is_set():
                        break
                    await conn.execute("SELECT 1")
            except DOWN:
                pass
            finally:
                self.listening = False
                if conn is not None and not conn.is_closed():
                    await conn.close()
            await asyncio.sleep(RETRY_S)

    async def speak(self) -> None:
        """Until cancelled: send queued notices (dropped while the database is down: they expire)."""
        while True:
            payload = await self._outbox.get()
            try:
                pool = await self._pool()
                await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
                self.sent += 1
            except DOWN:
                pass
