"""The report screen (key r) against the real daemon, after a scripted failover."""

from __future__ import annotations

import aiohttp
import pytest
from textual.widgets import DataTable, Static

from tests.fakes.base import Fault
from tests.report.test_report_e2e import mix_world, send
from tests.tui.test_app import until
from tui.app import DetourApp
from tui.report import ReportScreen


async def test_r_opens_the_report_of_the_running_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    async with mix_world(monkeypatch) as w:
        w.prim.script.append(Fault(429, "Rate limit reached", {"retry-after": "0"}))
        async with aiohttp.ClientSession() as http:
            assert [await send(http, w.daemon, i) for i in range(4)] == [200] * 4
        app = DetourApp(w.daemon.url, w.daemon.token)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ReportScreen) and app.screen.report is not None)
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            cov = screen.query_one("#coverage", DataTable)
            assert [cov.get_row_at(i) for i in range(cov.row_count)] == [["rate_limited", "1", "1", "0", "0"]]
            paths = screen.query_one("#paths", DataTable)
            names = [paths.get_row_at(i)[:2] for i in range(paths.row_count)]
            assert names == [
                ["coder: prim/m-primary (direct)", "3"],
                ["coder: prim/m-primary → fb/m-fallback", "1"],
            ]
            summary = str(screen.query_one("#report-summary", Static).render())
            assert "4 requests" in summary and "1 recovered (100.0%)" in summary
            chart = str(screen.query_one("#chart", Static).render())
            assert "covers 75.0%" in chart and "covers 100.0%" in chart
            await pilot.press("w")
            await until(
                pilot, lambda: screen.report is not None and screen.report["window"]["name"] == "week"
            )
            await pilot.press("escape")
            assert not isinstance(app.screen, ReportScreen)
