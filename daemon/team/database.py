"""The team database: where its URL comes from, a small pool, and the schema's migrations.

The URL (with its password) is read from the environment variable ``[team]
database_env`` names, or the keyring entry ``team-database``; it is never logged,
never put in an event, and errors about the database name only host and port.
"""

from __future__ import annotations

import asyncio
import logging
import os
from urllib.parse import urlsplit

import asyncpg
import keyring
import keyring.errors

from daemon.config import TeamSettings
from daemon.keys import SERVICE, keyring_usable

log = logging.getLogger(__name__)
KEYRING_NAME = "team-database"
# A daemon serves one person's agents: a few connections are plenty, so the server's
# default 100 connections serve a whole team.
POOL_MAX = 4
CONNECT_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 5.0
# What "the database is unreachable" looks like from asyncpg, whatever the cause.
UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)
DOWN = (*UNREACHABLE, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError)


class NoDatabase(Exception):
    """Team mode is on but no database URL is set; the message says how to set one."""


def url(settings: TeamSettings) -> str:
    """Blocking (the keyring may be D-Bus): call it off the event loop."""
    found = os.environ.get(settings.database_env)
    if not found and keyring_usable():
        try:
            found = keyring.get_password(SERVICE, KEYRING_NAME)
        except keyring.errors.KeyringError as e:
            log.warning("keyring read failed for %s: %s", KEYRING_NAME, type(e).__name__)
    if not found:
        raise NoDatabase(
            f"[team] is on but no database is set: export {settings.database_env}=postgresql://... "
            f"or run `detour keys set {KEYRING_NAME}`"
        )
    if urlsplit(found).scheme not in ("postgresql", "postgres"):
        raise NoDatabase(f"{settings.database_env} must hold a postgresql:// URL")
    return found


def where(dsn: str) -> str:
    """The database as logs and /status may name it: host, port and name, never who or how."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or '/'}"


async def pool(dsn: str) -> asyncpg.Pool:
    """Opened lazily (no connection until first use), so a daemon starts while the database is down."""
    p = asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=POOL_MAX,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=60.0,
    )
    await p
    return p


# Ordered and append-only: a migration once released is never edited.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "budgets and leases",
        """
        -- One row per budget and window: 'team:week:<start>', 'member:bob:day:<start>'.
        CREATE TABLE team_budgets (
            key text PRIMARY KEY,
            limit_usd double precision NOT NULL,
            spent_usd double precision NOT NULL DEFAULT 0,   -- settled (and expired leases' worst case)
            leased_usd double precision NOT NULL DEFAULT 0   -- held by live leases
        );
        CREATE TABLE team_leases (
            id text PRIMARY KEY,
            daemon text NOT NULL,
            member text NOT NULL,
            keys text[] NOT NULL,
            usd double precision NOT NULL,   -- granted and not yet settled or returned
            state text NOT NULL DEFAULT 'active',   -- active | expired
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX team_leases_expiry ON team_leases (expires_at) WHERE state = 'active';
        CREATE TABLE team_attempts (
            attempt_id text PRIMARY KEY,     -- '<daemon>:<ledger row>': settling twice is a no-op
            daemon text NOT NULL,
            member text NOT NULL,
            lease_id text,                   -- NULL: spent from the offline allowance
            keys text[] NOT NULL,
            route text NOT NULL,
            provider text NOT NULL,
            model text NOT NULL,
            usd double precision NOT NULL,
            ts timestamptz NOT NULL
        );
        CREATE INDEX team_attempts_ts ON team_attempts (ts);
        """,
    ),
    (
        "report rows",
        """
        -- The recovery report's rows of every member (report.store.RequestRow): never a prompt.
        CREATE TABLE team_requests (
            daemon text NOT NULL,
            member text NOT NULL,
            id text NOT NULL,
            ts double precision NOT NULL,
            session text NOT NULL,
            route text NOT NULL,
            primary_target text,
            served text,
            primary_failure text,
            status int NOT NULL,
            error text,
            calls int NOT NULL,
            latency_ms double precision NOT NULL,
            ttft_ms double precision,
            cost_usd double precision NOT NULL,
            delta_usd double precision,
            probe boolean NOT NULL,
            PRIMARY KEY (daemon, id)
        );
        CREATE INDEX team_requests_ts ON team_requests (ts);
        """,
    ),
    (
        "report rows: what the prompt cache saved",
        "ALTER TABLE team_requests ADD COLUMN cache_saved_usd double precision NOT NULL DEFAULT 0;",
    ),
    (
        "report rows: answers continued after a cut",
        """
        ALTER TABLE team_requests ADD COLUMN continued_chars int;
        ALTER TABLE team_requests ADD COLUMN continued_usd double precision;
        ALTER TABLE team_requests ADD COLUMN retry_usd double precision;
        """,
    ),
]


async def migrate(p: asyncpg.Pool) -> int:
    """Apply the migrations this database lacks, under an advisory lock (many daemons start at once)."""
    async with p.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7365637)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS team_migrations (version int PRIMARY KEY, name text NOT NULL)"
        )
        done = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM team_migrations")
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version > done:
                await conn.execute(sql)
                await conn.execute("INSERT INTO team_migrations VALUES ($1, $2)", version, name)
        return len(MIGRATIONS) - int(done)


async def ping(p: asyncpg.Pool) -> None:
    await asyncio.wait_for(p.fetchval("SELECT 1"), CONNECT_TIMEOUT_S)
