"""The aiohttp application: wiring only. Long-lived resources are cleanup contexts."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import platformdirs
from aiohttp import web

from daemon import keys, private
from daemon.budget.accounts import Accounts, Limits
from daemon.budget.calibration import Calibration
from daemon.budget.calibration_store import kept
from daemon.budget.prices import Prices
from daemon.budget.spend import Spend
from daemon.config import APP, Config, ProviderConfig
from daemon.context.fit import Pruning
from daemon.context.projects import Projects, ProjectSpec
from daemon.providers import Provider, build
from daemon.redaction import Redactor
from daemon.responses.store import ResponseStore
from daemon.routing.chain import Chain
from daemon.routing.pause import Paused
from daemon.routing.routes import Routes
from daemon.server import context, guard, observe, ollama, pausing, reload, report, responses, team
from daemon.server.drain import DRAIN, Drain
from daemon.server.inbound import ACCOUNTS, GATEWAY, routes
from daemon.server.observe import BUS, METRICS, NOTIFIER, RECORDER
from daemon.server.relay import Gateway
from daemon.server.sessions import Sessions
from daemon.tasks import spawn, stop_all
from daemon.telemetry.alerts import Alerts
from daemon.telemetry.bus import Bus
from daemon.telemetry.eventlog import EventLog
from daemon.telemetry.metrics import Metrics
from daemon.telemetry.notify import Notifier
from daemon.telemetry.status import Recorder
from daemon.telemetry.trace import Telemetry

log = logging.getLogger(__name__)
CONFIG = web.AppKey("config", Config)
DATA_DIR = web.AppKey("data_dir", Path)
EVENT_LOG_DIR = web.AppKey("event_log_dir", Path)
TELEMETRY = web.AppKey("telemetry", Telemetry)
CLIENT_TOKEN = web.AppKey("client_token", str)


def create_app(config: Config, token: str, data_dir: Path | None = None) -> web.Application:
    allowed = None if not config.server.allow_remote else frozenset({config.server.host})
    drain = Drain()
    keyless = ollama.KEYLESS if config.server.ollama_compat else frozenset()
    app = web.Application(
        client_max_size=guard.MAX_BODY,
        middlewares=[drain.middleware, guard.errors, guard.guard(allowed), guard.auth(token, keyless)],
    )
    app[DRAIN] = drain
    if config.server.ollama_compat:
        app.add_routes(ollama.routes)
        log.warning(ollama.BANNER, "*" * 72, "*" * 72)
    app[CONFIG] = config
    app[CLIENT_TOKEN] = token
    app[DATA_DIR] = data_dir or Path(platformdirs.user_data_dir(APP))
    app[EVENT_LOG_DIR] = data_dir / "events" if data_dir else Path(platformdirs.user_state_dir(APP))
    app.add_routes(routes)
    app.add_routes(observe.routes)
    app.add_routes(context.routes)
    app.add_routes(report.routes)
    app.add_routes(pausing.routes)
    app.add_routes(responses.routes)
    app.cleanup_ctx.append(_private)
    app.cleanup_ctx.append(_accounts)
    app.cleanup_ctx.append(_responses)
    app.cleanup_ctx.append(_telemetry)
    app.cleanup_ctx.append(team.team_context)
    app.cleanup_ctx.append(_projects)
    app.cleanup_ctx.append(_gateway)
    app.cleanup_ctx.append(report.report_context)
    app.cleanup_ctx.append(team.uploads_context)
    app.cleanup_ctx.append(functools.partial(reload.watch_config, config=config))
    app.cleanup_ctx.append(_frozen)  # last: once everything above is built
    app.on_shutdown.append(_end_event_streams)
    app.on_response_prepare.append(guard.mark_started)
    return app


async def _frozen(app: web.Application) -> AsyncIterator[None]:
    """What start-up built lives as long as the daemon: out of the collector's sight, so its
    full collections (50 ms each, every few thousand requests) walk only what requests made."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # a process that runs more than one app (the tests) gets them collected again


async def _private(app: web.Application) -> AsyncIterator[None]:
    """What an older version left readable by other users (0644 files, 0755 directories) is
    made private before anything is served."""
    dirs = [app[DATA_DIR], app[EVENT_LOG_DIR], _cache_dir(app)]
    await asyncio.to_thread(private.tighten, *dirs)
    yield


def _cache_dir(app: web.Application) -> Path:
    """The context index cache: beside the data of a daemon given its own data directory."""
    data_dir = app[DATA_DIR]
    if data_dir != Path(platformdirs.user_data_dir(APP)):
        return data_dir / "cache"
    return Path(platformdirs.user_cache_dir(APP)) / "context"


async def _accounts(app: web.Application) -> AsyncIterator[None]:
    """The spend ledger, open for the daemon's whole life; reconciles a killed predecessor's rows."""
    b = app[CONFIG].budget
    accounts = Accounts(app[DATA_DIR] / "detour.db", Limits(b.session_usd, b.daily_usd, b.weekly_usd))
    await accounts.open()
    if accounts.reconciled:
        log.warning(
            "settled %d attempts a stopped daemon left open, at their worst-case cost", accounts.reconciled
        )
    app[ACCOUNTS] = accounts
    try:
        yield
    finally:
        await accounts.close()


async def _responses(app: web.Application) -> AsyncIterator[None]:
    """Stored Responses state, its own SQLite file beside the ledger."""
    store = ResponseStore(app[DATA_DIR] / "responses.db", app[CONFIG].responses)
    await store.open()
    app[responses.STORE] = store
    try:
        yield
    finally:
        await store.close()


async def _telemetry(app: web.Application) -> AsyncIterator[None]:
    """The event bus and what listens to it: status, metrics, alerts and their delivery, the event log."""
    config = app[CONFIG]
    bus = app[BUS] = Bus()
    app[RECORDER] = Recorder(t for r in config.routes for t in r.chain)
    app[METRICS] = Metrics()
    alerts = Alerts(config.alerts, bus)
    notifier = app[NOTIFIER] = Notifier(config.alerts)
    app[reload.ALERTS] = alerts
    event_log = EventLog(app[EVENT_LOG_DIR])
    for listener in (app[RECORDER], app[METRICS], alerts, notifier, event_log):
        bus.listen(listener)
    app[TELEMETRY] = Telemetry(bus, app[ACCOUNTS], config.log_content)
    await notifier.open()
    async with aiohttp.ClientSession() as session:
        tasks = [
            spawn(event_log.run(), name="detour-event-log"),
            spawn(notifier.run(session), name="detour-alert-delivery"),
        ]
        try:
            yield
        finally:
            bus.close()
            alerts.close()
            await stop_all(tasks)
            notifier.close()


async def _projects(app: web.Application) -> AsyncIterator[None]:
    """The indexed projects and their watchers; indexing runs in the background from here."""
    specs = [ProjectSpec(p.root, p.exclude) for p in app[CONFIG].projects]
    projects = app[context.PROJECTS] = Projects(specs, _cache_dir(app))
    projects.start()
    try:
        yield
    finally:
        await projects.close()


async def _end_event_streams(app: web.Application) -> None:
    """Before the server waits for open requests: /events streams would never end by themselves."""
    if BUS in app:
        app[BUS].close()


async def _gateway(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    # Keyring reads block (D-Bus): off the event loop.
    found = await asyncio.to_thread(lambda: {pid: keys.get_key(p) for pid, p in config.providers.items()})
    # Every secret detour holds: an upstream error may echo any of them, the client's token too.
    redact = Redactor([*(k.value for k in found.values() if k is not None), app[CLIENT_TOKEN]])
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:
        providers: dict[str, Provider] = {
            pid: build(p, found[pid], session, redact) for pid, p in config.providers.items()
        }
        real = [p for p in providers.values() if p.kind != "sim"]
        simulated: Provider | None = None
        if not any(p.usable for p in real):
            simulated = next((p for p in providers.values() if p.kind == "sim"), None)
            if simulated is None:
                simulated = build(_implicit_sim(), None, session, redact)
                providers[simulated.id] = simulated
        prices = Prices(config)
        calibration = Calibration(app[ACCOUNTS], prices, providers)
        spend = Spend(app[ACCOUNTS], prices, config.budget.on_exhausted, calibration=calibration)
        telemetry = app[TELEMETRY]
        health = team.health(app, config.routing.health, on_circuit=telemetry.circuit)
        paused = app[pausing.PAUSED] = Paused(app[DATA_DIR])
        await paused.load(set(providers))
        chain = Chain(
            providers,
            health,
            spend,
            paused=paused,
            pruning=Pruning(app[context.PROJECTS]),
        )
        telemetry.failover_delta = spend.failover_delta
        telemetry.cache_saved = spend.prices.cache_saved
        telemetry.price = spend.prices.usd
        app[GATEWAY] = Gateway(Routes(config), chain, Sessions(), simulated, telemetry)
        _announce(providers, simulated)
        async with kept(app[DATA_DIR] / "detour.db", calibration):
            yield


def _implicit_sim() -> ProviderConfig:
    return ProviderConfig(id="sim", kind="sim", base_url="")


def _announce(providers: dict[str, Provider], simulated: Provider | None) -> None:
    for p in providers.values():
        if p.kind != "sim" and not p.usable:
            env = p.config.api_key_env
            hint = f"export {env}" if env else f"run `detour keys set {p.id}`"
            log.warning("provider %s has no key: %s", p.id, hint)
    if simulated is not None:
        bar = "*" * 72
        log.warning(
            "\n%s\n  NO API KEYS CONFIGURED: every request is answered by the SIMULATED provider.\n"
            "  Answers are canned, not from a real model. Add a key with `detour keys set anthropic`\n"
            "  (or openai, gemini), then restart.\n%s",
            bar,
            bar,
        )
