"""Delivering alerts: desktop notification, Slack-compatible webhook, DogStatsD counters.

The bus listener only queues (webhook, desktop) or sends one UDP datagram
(statsd, which never waits); a delivery task does the rest with timeouts.
A channel that fails is logged, never raised: alerts must not break the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from typing import cast
from urllib.parse import urlsplit

import aiohttp

from daemon.config import AlertsConfig
from daemon.telemetry.schema import AlertEvent, Event, FailoverEvent

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0
QUEUE = 100  # alerts waiting for delivery; more than that is a storm, and the rest are dropped


class Notifier:
    def __init__(self, config: AlertsConfig) -> None:
        self.config = config
        self._queue: asyncio.Queue[AlertEvent] = asyncio.Queue(QUEUE)
        self._statsd: asyncio.DatagramTransport | None = None
        self._desktop = desktop_command() if config.desktop else None
        # Tray icons watching /events show alerts in the desktop session themselves.
        self.trays = 0

    async def open(self) -> None:
        if self.config.statsd is not None:
            try:
                transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=self.config.statsd
                )
            except OSError as e:
                log.warning("statsd %s:%s is unreachable, counters are off: %s", *self.config.statsd, e)
            else:
                self._statsd = transport

    def close(self) -> None:
        if self._statsd is not None:
            self._statsd.close()

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == "failover" and self._statsd is not None:
            f = cast(FailoverEvent, event)
            self._count("ai.gateway.failover", model=f["from"], fallback=f["to"], reason=f["reason"])
        elif kind == "alert":
            a = cast(AlertEvent, event)
            if self._statsd is not None:
                self._count(
                    "ai.gateway.alert", condition=a["condition"], state=a["state"], provider=a.get("provider")
                )
            if self.config.webhook_url or self._desktop:
                try:
                    self._queue.put_nowait(a)
                except asyncio.QueueFull:
                    log.warning("alert dropped, %d are waiting for delivery: %s", QUEUE, a["message"])

    def _count(self, name: str, **tags: str | None) -> None:
        assert self._statsd is not None
        rendered = ",".join(f"{k}:{_tag(v)}" for k, v in tags.items() if v)
        self._statsd.sendto(f"{name}:1|c|#{rendered}".encode())

    async def run(self, session: aiohttp.ClientSession) -> None:
        while True:
            alert = await self._queue.get()
            text = f"detour: {alert['message']}"
            if alert["state"] == "recovered":
                text = f"detour (recovered): {alert['message']}"
            jobs = []
            if self.config.webhook_url:
                jobs.append(self._webhook(session, self.config.webhook_url, text))
            if self._desktop is not None and not self.trays:
                jobs.append(self._notify_desktop(self._desktop, text))
            for outcome in await asyncio.gather(*jobs, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.error("alert delivery failed", exc_info=outcome)

    async def _webhook(self, session: aiohttp.ClientSession, url: str, text: str) -> None:
        where = urlsplit(url).netloc  # the path of a Slack hook is its secret: never logged
        try:
            async with session.post(
                url, json={"text": text}, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as r:
                if r.status >= 300:
                    log.warning("alert webhook at %s answered %s", where, r.status)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("alert webhook at %s failed: %s", where, type(e).__name__)

    async def _notify_desktop(self, command: list[str], text: str) -> None:
        if _mac():
            argv = [*command[:-1], command[-1].replace("{text}", _applescript(text))]
        else:
            argv = [*command, text]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
        except OSError as e:
            log.warning("desktop notification failed: %s", e)
            return
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await proc.wait()
        except TimeoutError:
            pass
        finally:
            if proc.returncode is None:  # hung, or the daemon is stopping: never leave it behind
                proc.kill()
                await proc.wait()


def desktop_command() -> list[str] | None:
    """The platform's notification command, or None where there is no desktop to show it on."""
    if _mac():
        osascript = shutil.which("osascript")
        return [osascript, "-e", 'display notification "{text}" with title "detour"'] if osascript else None
    if sys.platform.startswith("linux") and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        notify = shutil.which("notify-send")
        return [notify, "--app-name=detour", "detour"] if notify else None
    return None


def _mac() -> bool:
    return sys.platform == "darwin"


def _applescript(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _tag(value: str) -> str:
    # DogStatsD separates tags with commas and fields with pipes.
    return value.replace(",", "_").replace("|", "_").replace("#", "_")
