"""``GET /report``: the recovery report, and the cleanup context that feeds it.

The context opens the report's store, puts its recorder on the bus, and runs
the recorder's writer and (when ``[probe] enabled``) the prober, for the
daemon's whole life.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from daemon.budget.prices import Prices
from daemon.ir import invalid
from daemon.report import query
from daemon.report.measures import BadWindow
from daemon.report.probe import Prober
from daemon.report.recorder import ReportRecorder
from daemon.report.store import Store
from daemon.server.inbound import ACCOUNTS, GATEWAY
from daemon.server.observe import BUS
from daemon.tasks import spawn, stop_all

STORE = web.AppKey("report_store", Store)
REPORT_RECORDER = web.AppKey("report_recorder", ReportRecorder)
PROBER = web.AppKey("prober", Prober)
routes = web.RouteTableDef()


async def report_context(app: web.Application) -> AsyncIterator[None]:
    """After the ledger (which migrates the table), the bus and the gateway (the providers)."""
    from daemon.server.app import CONFIG, DATA_DIR  # app imports this module

    config = app[CONFIG]
    store = app[STORE] = Store(app[DATA_DIR] / "detour.db")
    await store.open()
    recorder = app[REPORT_RECORDER] = ReportRecorder(store)
    app[BUS].listen(recorder)
    tasks = [spawn(recorder.run(), name="detour-report-writer")]
    targets = [(r.name, t) for r in config.routes for t in r.chain]
    providers = app[GATEWAY].chain.providers
    prober = Prober(config.probe, targets, providers, Prices(config), store, app[BUS], app[ACCOUNTS].tz)
    app[PROBER] = prober
    if config.probe.enabled:
        tasks.append(spawn(prober.run(), name="detour-probes"))
    try:
        yield
    finally:
        await stop_all(tasks)
        await store.close()


@routes.get("/report")
async def report(request: web.Request) -> web.StreamResponse:
    from daemon.server.app import CONFIG

    app = request.app
    store = app[STORE]
    await app[REPORT_RECORDER].flush()  # what has just finished belongs in it
    accounts = app[ACCOUNTS]
    spec = request.query.get("window", "day")
    probe, limit, today = app[CONFIG].probe, accounts.limits.day, accounts.spent("day", "")
    if request.query.get("scope", "member") != "member":
        from daemon.server.team import team_report  # it reads this module's store

        return await team_report(request, spec)
    try:
        body = await store.run(query.compute, store.db, spec, probe, limit, time.time(), accounts.tz, today)
    except BadWindow as e:
        raise invalid(str(e)) from None
    return web.Response(body=orjson.dumps(body), content_type="application/json")
