"""The shared budget's transactions, each one short: no lock is held across a request.

A daemon is *granted* a slice of what is left (``grant``), spends from it locally,
and later *settles* each attempt's real cost and *returns* what it did not use
(``settle``). A lease not renewed expires: its unsettled remainder is counted as
spent at once (the worst case, as the local ledger reconciles a killed daemon's
reservations), so a dead daemon holds nothing, and a live daemon that comes back
late still settles and returns against it without counting anything twice::

    budget row:  spent + leased <= limit             (the guard of every grant)
    lease L active:   settle s -> spent += s, leased -= min(s, L.usd), L.usd -= min(s, L.usd)
    lease L expired:  settle s -> spent += s - min(s, L.usd)             (already counted)
                      return r -> spent -= r                               (refund)
    no lease (offline allowance): settle s -> spent += s

Settlement is idempotent on the attempt id: an attempt already in ``team_attempts``
changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

LEASE_S = 60.0
# A grant is at most this share of what is left, and at least what the attempt needs:
# slices shrink as a budget nears its limit, down to one request's reservation.
SHARE = 1 / 8
# ...and at most this many times the attempt's need, so a killed daemon's slice is small.
MAX_NEEDS = 64
CENT = 1e-12  # float noise never lets a grant through


@dataclass(slots=True, frozen=True)
class Key:
    key: str  # 'team:week:<start>', 'member:bob:day:<start>'
    limit: float
    scope: str  # what a refusal names: team_weekly, team_daily, week, day


@dataclass(slots=True)
class Grant:
    usd: float
    refused: Key | None = None  # the budget that was short, when less than the need was granted
    left: float = 0.0  # what that budget had left


@dataclass(slots=True, frozen=True)
class Settled:
    attempt_id: str
    lease_id: str | None
    keys: tuple[str, ...]
    route: str
    provider: str
    model: str
    usd: float
    ts: datetime


@dataclass(slots=True)
class _Delta:
    spent: float = 0.0
    leased: float = 0.0


class LeaseGone(Exception):
    """The lease expired while this daemon was away: ask again under a new one."""


async def grant(
    conn: asyncpg.Connection,
    lease_id: str,
    daemon: str,
    member: str,
    keys: list[Key],
    need: float,
    least: float = 0.0,
) -> Grant:
    """One transaction: expire stale leases, then grant ``need`` or more, as what is left allows.

    At the edge a grant smaller than ``need`` is still made if it is at least ``least``, what
    the shortest useful answer costs (its max_tokens is clamped to fit); less is refused, so
    a daemon never holds a slice it cannot spend."""
    names = sorted(k.key for k in keys)
    by_name = {k.key: k for k in keys}
    async with conn.transaction():
        await _upsert_budgets(conn, [by_name[n] for n in names])
        await expire(conn)
        rows = await conn.fetch(
            "SELECT key, limit_usd - spent_usd - leased_usd AS left FROM team_budgets"
            " WHERE key = ANY($1::text[]) ORDER BY key",
            names,
        )
        tightest = min(rows, key=lambda r: float(r["left"]))
        left = max(0.0, float(tightest["left"]))
        usd = min(left, max(need, min(left * SHARE, need * MAX_NEEDS)))
        if usd < min(need, least) or usd <= 0:
            return Grant(0.0, by_name[tightest["key"]], left)
        granted = await conn.fetch(
            "UPDATE team_budgets SET leased_usd = leased_usd + $2 WHERE key = ANY($1::text[])"
            " AND spent_usd + leased_usd + $2 <= limit_usd + $3 RETURNING key",
            names,
            usd,
            CENT,
        )
        if len(granted) != len(names):  # cannot happen under the row locks; never overrun if it does
            raise asyncpg.SerializationError("a budget moved under its row lock")
        lease = await conn.fetchval(
            "INSERT INTO team_leases (id, daemon, member, keys, usd, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))"
            " ON CONFLICT (id) DO UPDATE SET usd = team_leases.usd + EXCLUDED.usd,"
            " expires_at = EXCLUDED.expires_at WHERE team_leases.state = 'active' RETURNING id",
            lease_id,
            daemon,
            member,
            names,
            usd,
            LEASE_S,
        )
        if lease is None:
            raise LeaseGone(lease_id)
        short = by_name[tightest["key"]] if usd < need else None
        return Grant(usd, short, left)


async def _upsert_budgets(conn: asyncpg.Connection, keys: list[Key]) -> None:
    """Make the window's rows exist (and lock them, in key order); the config's limit is the limit."""
    await conn.execute(
        "INSERT INTO team_budgets (key, limit_usd) SELECT * FROM unnest($1::text[], $2::float8[])"
        " ON CONFLICT (key) DO UPDATE SET limit_usd = EXCLUDED.limit_usd",
        [k.key for k in keys],
        [k.limit for k in keys],
    )


async def expire(conn: asyncpg.Connection) -> int:
    """Leases not renewed in time: their unsettled remainder becomes spent (inside a transaction)."""
    gone = await conn.fetch(
        "UPDATE team_leases SET state = 'expired' WHERE id IN (SELECT id FROM team_leases"
        " WHERE state = 'active' AND expires_at < now() FOR UPDATE SKIP LOCKED) RETURNING keys, usd"
    )
    deltas: dict[str, _Delta] = defaultdict(_Delta)
    for row in gone:
        for key in row["keys"]:
            deltas[key].spent += row["usd"]
            deltas[key].leased -= row["usd"]
    await _apply(conn, deltas)
    return len(gone)


async def renew(conn: asyncpg.Connection, lease_ids: list[str]) -> set[str]:
    """Push the expiry of live leases; returns the ids still alive."""
    rows = await conn.fetch(
        "UPDATE team_leases SET expires_at = now() + make_interval(secs => $2)"
        " WHERE id = ANY($1::text[]) AND state = 'active' RETURNING id",
        lease_ids,
        LEASE_S,
    )
    return {r["id"] for r in rows}


@dataclass(slots=True)
class Batch:
    """What one daemon sends in one transaction: settled attempts and unused slices."""

    settled: list[Settled] = field(default_factory=list)
    returned: dict[str, float] = field(default_factory=dict)  # lease id -> usd
    limits: dict[str, float] = field(default_factory=dict)  # key -> limit, for rows not made yet

    def __bool__(self) -> bool:
        return bool(self.settled or self.returned)


async def settle(conn: asyncpg.Connection, daemon: str, member: str, batch: Batch) -> int:
    """One transaction for the whole batch; attempts already settled are skipped. Returns
    how many attempts were new."""
    async with conn.transaction():
        if batch.limits:  # budget rows first, in key order, as a grant takes them: no deadlock
            names = sorted(batch.limits)
            await conn.execute(
                "INSERT INTO team_budgets (key, limit_usd) SELECT * FROM unnest($1::text[], $2::float8[])"
                " ON CONFLICT (key) DO UPDATE SET limit_usd = team_budgets.limit_usd",
                names,
                [batch.limits[n] for n in names],
            )
        s = batch.settled
        new = await conn.fetch(
            "INSERT INTO team_attempts (attempt_id, daemon, member, lease_id, keys, route, provider,"
            " model, usd, ts) SELECT a, $2, $3, l, string_to_array(k, chr(31)), r, p, m, u, t"
            " FROM unnest($1::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
            " $9::float8[], $10::timestamptz[]) AS x(a, l, k, r, p, m, u, t)"
            " ON CONFLICT (attempt_id) DO NOTHING RETURNING attempt_id",
            [a.attempt_id for a in s],
            daemon,
            member,
            [a.lease_id for a in s],
            ["\x1f".join(a.keys) for a in s],
            [a.route for a in s],
            [a.provider for a in s],
            [a.model for a in s],
            [a.usd for a in s],
            [a.ts for a in s],
        )
        fresh = {r["attempt_id"] for r in new}
        per_lease: dict[str, float] = defaultdict(float)
        deltas: dict[str, _Delta] = defaultdict(_Delta)
        for a in s:
            if a.attempt_id not in fresh:
                continue
            if a.lease_id is None:
                for key in a.keys:
                    deltas[key].spent += a.usd
            else:
                per_lease[a.lease_id] += a.usd
        ids = sorted(set(per_lease) | set(batch.returned))
        leases = await conn.fetch(
            "SELECT id, usd, state, keys FROM team_leases WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            ids,
        )
        for lease in leases:
            _settle_lease(
                lease, per_lease.get(lease["id"], 0.0), batch.returned.get(lease["id"], 0.0), deltas
            )
        await conn.executemany(
            "UPDATE team_leases SET usd = $2 WHERE id = $1",
            [(lease["id"], lease["usd"] - _used(lease, per_lease, batch.returned)) for lease in leases],
        )
        await _apply(conn, deltas)
        return len(fresh)


def _used(lease: asyncpg.Record, per_lease: dict[str, float], returned: dict[str, float]) -> float:
    held = float(lease["usd"])
    take = min(per_lease.get(lease["id"], 0.0), held)
    return take + min(returned.get(lease["id"], 0.0), held - take)


def _settle_lease(lease: asyncpg.Record, spent: float, returned: float, deltas: dict[str, _Delta]) -> None:
    held = float(lease["usd"])
    take = min(spent, held)
    back = min(returned, held - take)
    active = lease["state"] == "active"
    for key in lease["keys"]:
        d = deltas[key]
        if active:
            d.spent += spent
            d.leased -= take + back
        else:  # its remainder was counted as spent when it expired
            d.spent += spent - take - back


async def _apply(conn: asyncpg.Connection, deltas: dict[str, _Delta]) -> None:
    if not deltas:
        return
    names = sorted(deltas)
    await conn.execute(
        "UPDATE team_budgets b SET spent_usd = b.spent_usd + d.s,"
        " leased_usd = GREATEST(0, b.leased_usd + d.l)"
        " FROM unnest($1::text[], $2::float8[], $3::float8[]) AS d(k, s, l) WHERE b.key = d.k",
        names,
        [deltas[n].spent for n in names],
        [deltas[n].leased for n in names],
    )
