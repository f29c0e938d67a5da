"""``detour budget``: through the running daemon when there is one (it holds the live
totals, reservations included), else straight from the ledger."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import platformdirs

from daemon import keys
from daemon.budget.accounts import LIMIT_FIELDS, Accounts, Limits
from daemon.budget.journal import LedgerBusy
from daemon.config import APP, Config


class Unreachable(Exception):
    """The daemon holds the ledger but cannot be reached over HTTP."""


def _daemon(
    config: Config, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    url = config.server.url + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {keys.client_token()}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            result: dict[str, Any] = json.loads(resp.read())
            return result
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def reachable(url: str) -> bool:
    """Whether a daemon answers ``/health`` at ``url``."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=3) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _ledger_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "detour.db"


async def _offline(config: Config, session: str | None, limits: dict[str, float | None]) -> dict[str, Any]:
    b = config.budget
    accounts = Accounts(_ledger_path(), Limits(b.session_usd, b.daily_usd, b.weekly_usd))
    try:
        await accounts.open()
    except LedgerBusy:
        await accounts.close()
        raise Unreachable(
            f"detour is running but did not answer on {config.server.url}; "
            "is that the port it serves on (`--port` overrides the config)?"
        ) from None
    try:
        if limits:
            await accounts.set_limits(**limits)
        report = await accounts.report(session)
    finally:
        await accounts.close()
    report["offline"] = True
    return report


def show(config: Config, session: str | None) -> dict[str, Any]:
    path = "/budget" + (f"?session={session}" if session else "")
    return _daemon(config, "GET", path) or asyncio.run(_offline(config, session, {}))


def set_limits(config: Config, body: dict[str, float | None]) -> dict[str, Any]:
    online = _daemon(config, "PUT", "/budget", body)
    if online is not None:
        return online
    return asyncio.run(_offline(config, None, {LIMIT_FIELDS[k]: v for k, v in body.items()}))
