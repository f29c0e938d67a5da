"""Several daemons of a team, in-process, routed to one set of fake upstreams."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from tests.daemon_harness import Daemon, start_daemon
from tests.e2e.conftest import start_fakes, world_config
from tests.fakes.base import FakeUpstream


@dataclass
class Team:
    daemons: list[Daemon]
    fakes: dict[str, FakeUpstream]


def member_config(fakes: dict[str, FakeUpstream], member: str, team_toml: str, own_toml: str = "") -> str:
    return world_config(fakes) + f'\n[team]\nmember = "{member}"\n{team_toml}\n' + own_toml


@contextlib.asynccontextmanager
async def open_team(
    monkeypatch: pytest.MonkeyPatch, members: list[tuple[str, str]], team_toml: str
) -> AsyncIterator[Team]:
    """``members``: (member name, that daemon's own extra TOML) per daemon."""
    fakes = await start_fakes(monkeypatch)
    daemons: list[Daemon] = []
    try:
        for member, own in members:
            daemons.append(await start_daemon(member_config(fakes, member, team_toml, own)))
        yield Team(daemons, fakes)
    finally:
        for d in daemons:
            await d.close()
        for f in fakes.values():
            await f.close()


async def shared_ledger(url: str) -> dict[str, float]:
    """Settled spend per member in the team database, and the budget rows' spent and leased."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT member, SUM(usd) AS usd FROM team_attempts GROUP BY member")
        out = {r["member"]: float(r["usd"]) for r in rows}
        for r in await conn.fetch("SELECT key, spent_usd, leased_usd FROM team_budgets"):
            out[r["key"] + ":spent"] = float(r["spent_usd"])
            out[r["key"] + ":leased"] = float(r["leased_usd"])
        for r in await conn.fetch("SELECT id, usd, state FROM team_leases WHERE usd > 1e-12"):
            out[f"lease {r['id']} {r['state']}"] = float(r["usd"])
        return out
    finally:
        await conn.close()
