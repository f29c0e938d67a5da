"""Team mode's wiring: the team budget behind the local ledger, for the daemon's whole life.

Off unless ``[team]`` is in the config. The daemon starts whether or not the team
database is reachable: until it is, the offline allowance applies.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from daemon import private
from daemon.config import Config, HealthSettings
from daemon.ir import invalid
from daemon.report.measures import BadWindow
from daemon.routing.health import Health
from daemon.server.inbound import ACCOUNTS
from daemon.server.observe import BUS, TEAM_STATUS
from daemon.server.report import STORE
from daemon.tasks import spawn, stop_all
from daemon.team import database, report
from daemon.team.budget import TeamBudget
from daemon.team.health import HealthShare, SharedHealth
from daemon.telemetry.schema import TeamStatus

log = logging.getLogger(__name__)
TEAM = web.AppKey("team", TeamBudget)
TEAM_WHERE = web.AppKey("team_where", str)  # host:port/name, never who or how
HEALTH_SHARE = web.AppKey("health_share", HealthShare)
UPLOADER = web.AppKey("team_uploader", report.Uploader)


async def team_report(request: web.Request, spec: str) -> web.StreamResponse:
    """``GET /report?scope=team``: the recovery report over every member of the team."""
    from daemon.server.app import CONFIG  # app imports this module

    if request.query["scope"] != "team":
        raise invalid('scope must be "team" (or left out for this daemon\'s own report)')
    config = request.app[CONFIG]
    if TEAM not in request.app or config.team is None:
        raise invalid("team mode is off: add a [team] table to the config")
    await request.app[UPLOADER].upload()  # what this daemon just served belongs in it
    await request.app[TEAM].flush(force=True)
    pool = await request.app[TEAM].connected()
    try:
        body = await report.compute(pool, spec, config.probe, config.team.budget.daily_usd, UTC)
    except BadWindow as e:
        raise invalid(str(e)) from None
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def uploads_context(app: web.Application) -> AsyncIterator[None]:
    """After the report's store: this daemon's report rows go to the team database."""
    if TEAM not in app:
        yield
        return
    team = app[TEAM]
    uploader = app[UPLOADER] = report.Uploader(app[STORE], team.connected, team.daemon, team.settings.member)
    task = spawn(uploader.run(), name="detour-team-report")
    try:
        yield
    finally:
        await stop_all([task])
        try:
            await uploader.upload()
        except database.DOWN:
            log.warning("the team database is unreachable: the last report rows go at the next start")


def health(app: web.Application, settings: HealthSettings, **kwargs: Any) -> Health:
    """The gateway's health: shared with the team when ``[team] share_health`` is on."""
    health = SharedHealth(app[HEALTH_SHARE], **kwargs) if HEALTH_SHARE in app else Health(**kwargs)
    health.apply(settings)
    return health


def daemon_id(data_dir: Path) -> str:
    """This daemon's id, kept beside its ledger: attempt ids build on it, so a restart
    that settles again is recognised."""
    path = data_dir / "team-daemon-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        made = uuid.uuid4().hex[:16]
        private.write_bytes(path, (made + "\n").encode())
        return made


async def team_context(app: web.Application) -> AsyncIterator[None]:
    from daemon.server.app import CONFIG, DATA_DIR  # app imports this module

    config: Config = app[CONFIG]
    settings = config.team
    if settings is None:
        yield
        return
    dsn = await asyncio.to_thread(database.url, settings)
    accounts = app[ACCOUNTS]
    bus = app[BUS]

    def publish(event: dict[str, Any]) -> None:
        bus.publish({"ts": time.time(), "session": "", **event})  # type: ignore[typeddict-item]

    async def connect() -> asyncpg.Pool:
        pool = await database.pool(dsn)
        try:
            applied = await database.migrate(pool)
        except BaseException:
            await pool.close()
            raise
        if applied:
            log.info("team database %s: %d migrations applied", database.where(dsn), applied)
        publish({"type": "team", "database": "up", "offline_spent": 0.0})
        return pool

    team = TeamBudget(
        settings,
        await asyncio.to_thread(daemon_id, app[DATA_DIR]),
        accounts.limits,
        accounts.tz,
        connect,
        publish,
        unsent_path=app[DATA_DIR] / "team-unsent.jsonl",
    )
    app[TEAM], app[TEAM_WHERE] = team, database.where(dsn)
    status: Callable[[], TeamStatus] = functools.partial(team.status, app[TEAM_WHERE])
    app[TEAM_STATUS] = status
    accounts.shared = team
    log.info("team mode: member %s, database %s", settings.member, app[TEAM_WHERE])
    tasks = [spawn(team.run(), name="detour-team")]
    if settings.share_health:
        share = app[HEALTH_SHARE] = HealthShare(dsn, team.daemon, team.connected)
        tasks.append(spawn(share.listen(), name="detour-team-health-listen"))
        tasks.append(spawn(share.speak(), name="detour-team-health-speak"))
    try:
        yield
    finally:
        await stop_all(tasks)
        accounts.shared = None
        await team.close()
