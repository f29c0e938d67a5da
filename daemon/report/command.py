"""``detour report``: from the running daemon, or read-only from the ledger when none runs."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from daemon.budget.command import _daemon as call_daemon
from daemon.config import APP, Config
from daemon.report import html as html_page
from daemon.report import measures, query
from daemon.report import text as text_table


def fetch(config: Config, window: str) -> dict[str, Any]:
    """Raises ValueError for a window that is not one, FileNotFoundError when there is no data."""
    measures.window(window, datetime.now(UTC), query.local_tz())  # a usage error before any I/O
    online = call_daemon(config, "GET", "/report?" + urllib.parse.urlencode({"window": window}))
    if online is not None:
        return online
    path = Path(platformdirs.user_data_dir(APP)) / "detour.db"
    report = query.offline(path, window, config.probe, config.budget.daily_usd, time.time())
    report["offline"] = True
    return report


def text(report: dict[str, Any]) -> str:
    out = text_table.render(report)
    if report.get("offline"):
        out += "\n\n(the daemon is not running: read from the ledger directly)"
    return out


def html(report: dict[str, Any]) -> str:
    return html_page.page(report)
