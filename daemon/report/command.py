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


def fetch(config: Config, window: str, team: bool = False) -> dict[str, Any]:
    """Raises ValueError for a window that is not one, FileNotFoundError when there is no data.

    ``team``: the report over every member of the team (asks the running daemon)."""
    measures.window(window, datetime.now(UTC), query.local_tz())  # a usage error before any I/O
    params = {"window": window, **({"scope": "team"} if team else {})}
    online = call_daemon(config, "GET", "/report?" + urllib.parse.urlencode(params))
    if online is not None:
        return online
    if team:
        raise FileNotFoundError(
            "`detour report --team` asks the running daemon: start it with `detour serve`"
        )
    path = Path(platformdirs.user_data_dir(APP)) / "detour.db"
    report = query.offline(path, window, config.probe, config.budget.daily_usd, time.time())
    report["offline"] = True
    return report


def text(report: dict[str, Any]) -> str:
    out = text_table.render(report)
    if report.get("members"):
        out += "\n\nmember          requests       spent"
        for m in report["members"]:
            out += f"\n{m['member']:<14}{m['requests']:>10}  ${m['spent_usd']:>9.4f}"
    if report.get("offline"):
        out += "\n\n(the daemon is not running: read from the ledger directly)"
    return out


def html(report: dict[str, Any]) -> str:
    return html_page.page(report)
