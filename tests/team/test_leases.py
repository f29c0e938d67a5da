"""The lease arithmetic against the real database: settling twice counts once, an expired
lease's remainder is spent at once and refunded when its daemon comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from daemon.team import database, leases
from daemon.team.leases import Batch, Key, Settled

KEY = Key("team:week:w", 1.0, "team_weekly")


async def _budget(conn: asyncpg.Connection) -> tuple[float, float]:
    row = await conn.fetchrow("SELECT spent_usd, leased_usd FROM team_budgets WHERE key = $1", KEY.key)
    return round(row["spent_usd"], 9), round(row["leased_usd"], 9)


def _attempt(n: int, lease: str | None, usd: float) -> Settled:
    return Settled(f"d:{n}", lease, (KEY.key,), "r", "p", "m", usd, datetime.now(UTC))


async def test_settling_twice_counts_once_and_slices_shrink_at_the_edge(team_db: str) -> None:
    pool = await database.pool(team_db)
    try:
        assert await database.migrate(pool) == len(database.MIGRATIONS)
        assert await database.migrate(pool) == 0
        async with pool.acquire() as conn:
            first = await leases.grant(conn, "L1", "d", "alice", [KEY], 0.01)
            assert first.usd == 1.0 * leases.SHARE  # far from the limit: a slice, not one request
            batch = Batch([_attempt(1, "L1", 0.05)], {"L1": 0.0}, {KEY.key: 1.0})
            assert await leases.settle(conn, "d", "alice", batch) == 1
            assert await leases.settle(conn, "d", "alice", batch) == 0  # the same attempt again
            assert await _budget(conn) == (0.05, 0.075)
            await conn.execute("UPDATE team_budgets SET spent_usd = 0.95 WHERE key = $1", KEY.key)
            edge = await leases.grant(conn, "L1", "d", "alice", [KEY], 0.01)
            assert edge.usd == 0.0 and edge.refused == KEY  # 0.95 + 0.075 leaves nothing
    finally:
        await pool.close()


async def test_an_expired_lease_counts_as_spent_until_its_daemon_returns(team_db: str) -> None:
    pool = await database.pool(team_db)
    try:
        await database.migrate(pool)
        async with pool.acquire() as conn:
            await leases.grant(conn, "L1", "d", "alice", [KEY], 0.1)  # 0.125 leased
            await conn.execute("UPDATE team_leases SET expires_at = now() - interval '1 s'")
            async with conn.transaction():
                assert await leases.expire(conn) == 1
            assert await _budget(conn) == (0.125, 0.0)  # worst case: all of it may have been spent
            # The daemon was only away: it settles 0.02 and gives back the 0.105 it never used.
            batch = Batch([_attempt(1, "L1", 0.02)], {"L1": 0.105}, {KEY.key: 1.0})
            await leases.settle(conn, "d", "alice", batch)
            assert await _budget(conn) == (0.02, 0.0)
            assert await conn.fetchval("SELECT usd FROM team_leases WHERE id = 'L1'") == 0.0
            assert await leases.renew(conn, ["L1"]) == set()  # expired stays expired
    finally:
        await pool.close()
