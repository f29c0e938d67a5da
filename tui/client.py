"""The daemon as the TUI sees it: a few HTTP endpoints behind the local client token.

Failures are sorted into what the screen tells the user::

    DaemonError
    ├── Unreachable   nothing answers at the URL (not started, restarting, wrong port)
    ├── Refused       it answered 401/403: the token is not the one the daemon uses
    └── Missing       it answered 404: a daemon without this endpoint (older build)

Any other HTTP error is a ``DaemonError`` carrying the daemon's own message.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp

from daemon.telemetry.schema import Event, Status

CALL_TIMEOUT = aiohttp.ClientTimeout(total=5)
# The feed may stay quiet for minutes; only connecting is bounded.
FEED_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=None)


class DaemonError(Exception):
    pass


class Unreachable(DaemonError):
    pass


class Refused(DaemonError):
    pass


class Missing(DaemonError):
    def __init__(self, path: str) -> None:
        super().__init__(f"the daemon has no {path} yet")
        self.path = path


class Daemon:
    """One running daemon at ``url``; the session is opened and closed by the app that owns it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(headers=self._headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Daemon.open() first"
        return self._session

    async def status(self) -> Status:
        return cast(Status, await self._call("GET", "/status"))

    async def budget(self) -> dict[str, Any]:
        return await self._call("GET", "/budget")

    async def report(self, window: str = "day") -> dict[str, Any]:
        """The recovery report (GET /report): coverage, cost per recovery, latency per path."""
        return await self._call("GET", f"/report?window={window}")

    async def set_budget(self, limits: dict[str, float | None]) -> dict[str, Any]:
        """``limits`` as PUT /budget takes them: session_usd, daily_usd, weekly_usd (None: no limit)."""
        return await self._call("PUT", "/budget", limits)

    async def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        try:
            async with self.session.request(method, self.url + path, json=body, timeout=CALL_TIMEOUT) as resp:
                await _check(resp, path)
                data = await resp.json()
        except (aiohttp.ClientConnectionError, TimeoutError) as e:
            raise Unreachable(_unreachable(self.url, e)) from None
        except (aiohttp.ClientError, ValueError) as e:
            raise DaemonError(f"{path}: the daemon's answer is not JSON ({type(e).__name__})") from None
        if not isinstance(data, dict):
            raise DaemonError(f"{path} answered {type(data).__name__}, not a JSON object")
        return data

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[Event]]:
        """The live feed: entered once the daemon has accepted it, iterated until it ends."""
        try:
            async with self.session.get(self.url + "/events", timeout=FEED_TIMEOUT) as resp:
                await _check(resp, "/events")
                yield _feed(resp)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
            raise Unreachable(_unreachable(self.url, e)) from None


async def _feed(resp: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    # One JSON event per `data:` line (CONTRACT.md); comments and other fields are keep-alives.
    async for raw in resp.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.startswith("data:"):
            continue
        try:
            event = json.loads(line[5:])
        except ValueError:
            continue
        if isinstance(event, dict) and "type" in event:
            yield cast(Event, event)


async def _check(resp: aiohttp.ClientResponse, path: str) -> None:
    if resp.status < 400:
        return
    if resp.status == 404:
        raise Missing(path)
    message = await _message(resp)
    if resp.status in (401, 403):
        raise Refused(f"the daemon refused the token ({message}); is it the one `detour token` prints?")
    raise DaemonError(f"{path}: {resp.status} {message}")


async def _message(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        return resp.reason or ""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))
    return str(err or body)


def _unreachable(url: str, err: BaseException) -> str:
    why = "timed out" if isinstance(err, TimeoutError) else "connection refused"
    if isinstance(err, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        why = "connection closed"
    return f"cannot reach the daemon at {url} ({why}); start it with `detour serve`"
