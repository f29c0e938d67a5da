"""The config file, watched: a saved change to routes, budgets or alerts applies at once.

A file that does not load (bad TOML, a setting out of range, a route naming a
provider the daemon did not start with) is refused with its line and the fix,
and the config in force stays as it was. Changes to ``[server]``, providers and
``log_content`` are reported as needing a restart: they shape sockets, sessions
and keys made at start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import watchfiles
from aiohttp import web

from daemon.budget.accounts import LIMIT_FIELDS
from daemon.config import Config, ConfigError, load
from daemon.context.projects import ProjectSpec
from daemon.routing.routes import Routes
from daemon.server.context import PROJECTS
from daemon.server.inbound import ACCOUNTS, GATEWAY
from daemon.server.observe import NOTIFIER, RECORDER
from daemon.tasks import spawn, stop_all
from daemon.telemetry.alerts import Alerts

log = logging.getLogger(__name__)
ALERTS = web.AppKey("alerts", Alerts)
DEBOUNCE_MS = 200  # editors write a file in several steps


class LiveConfig:
    """The config in force, and how to put a newer one in force."""

    def __init__(self, app: web.Application, config: Config) -> None:
        self.app = app
        self.current = config

    async def reload(self, path: Path) -> bool:
        try:
            new = await asyncio.to_thread(load, path)
            self._check(new)
        except ConfigError as e:
            log.error("config change NOT applied (the previous config stays in force): %s", e)
            return False
        await self.apply(new)
        return True

    def _check(self, new: Config) -> None:
        running = self.app[GATEWAY].chain.providers
        for route in new.routes:
            for t in route.chain:
                if t.provider not in running:
                    raise ConfigError(
                        new.path,
                        None,
                        f"route {route.name!r} uses provider {t.provider!r}, which was not configured "
                        "when detour started; restart detour to add a provider",
                    )

    async def apply(self, new: Config) -> None:
        old, app = self.current, self.app
        applied = []
        if new.routes != old.routes:
            gateway = app[GATEWAY]
            # Each route's settings, whole: the next request resolves to the new ones.
            gateway.routes = Routes(replace(new, providers=old.providers))
            app[RECORDER].configured = tuple(dict.fromkeys(t for r in new.routes for t in r.chain))
            applied.append("routes")
        if new.routing != old.routing:
            # Routes inherit [routing]'s settings: a change there is in the new routes already.
            app[GATEWAY].routes = Routes(replace(new, providers=old.providers))
            app[GATEWAY].chain.health.apply(new.routing.health)
            applied.append("routing")
        if new.budget != old.budget:
            # Only what the edit changed: a limit set since with `detour budget set` stays.
            limits = {
                scope: getattr(new.budget, key)
                for key, scope in LIMIT_FIELDS.items()
                if getattr(new.budget, key) != getattr(old.budget, key)
            }
            await app[ACCOUNTS].set_limits(**limits)
            spend = app[GATEWAY].chain.spend
            if spend is not None:
                spend.on_exhausted = new.budget.on_exhausted
            applied.append("budget")
        if new.projects != old.projects:
            app[PROJECTS].register(ProjectSpec(p.root, p.exclude) for p in new.projects)
            applied.append("projects")
        if new.alerts != old.alerts:
            app[ALERTS].config = app[NOTIFIER].config = new.alerts
            applied.append("alerts")
        later = [
            name
            for name in ("server", "providers", "log_content")
            if getattr(new, name) != getattr(old, name)
        ]
        if later:
            log.warning("config: changes to %s apply at the next restart", ", ".join(later))
        self.current = replace(new, server=old.server, providers=old.providers, log_content=old.log_content)
        if applied:
            log.info("config: applied new %s from %s", ", ".join(applied), new.path)


LIVE_CONFIG = web.AppKey("live_config", LiveConfig)


async def watch_config(app: web.Application, config: Config) -> AsyncIterator[None]:
    """Cleanup context: watches the config file for the daemon's whole life."""
    live = app[LIVE_CONFIG] = LiveConfig(app, config)
    path = config.path
    if path is None:  # built in memory (tests, the demo): nothing to watch
        yield
        return
    stop = asyncio.Event()
    task = spawn(_watch(live, path, stop), name="detour-config-watch")
    try:
        yield
    finally:
        stop.set()
        await stop_all([task])


async def _watch(live: LiveConfig, path: Path, stop: asyncio.Event) -> None:
    path = path.absolute()
    # The directory is watched (an editor's atomic save replaces the file), but only changes to
    # the config file itself pass: a log written beside it must not wake the watcher each line.
    only_config = lambda _change, changed: Path(changed).name == path.name  # noqa: E731
    async for _ in watchfiles.awatch(
        path.parent, watch_filter=only_config, stop_event=stop, debounce=DEBOUNCE_MS, step=50, recursive=False
    ):
        if path.exists():
            await live.reload(path)
