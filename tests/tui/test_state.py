"""The dashboard's model without a screen: snapshots and events in, rows and series out."""

from __future__ import annotations

from tests.tui.fake_daemon import NOW, response, sample_status
from tui.state import SPEND_BUCKET_S, Dashboard


def test_polling_status_again_does_not_count_spend_twice() -> None:
    board = Dashboard(lambda: NOW)
    board.load_status(sample_status())
    once = sum(board.spend_series())
    board.load_status(sample_status())
    board.apply(response("r2", NOW - 30, cost_usd=0.0097))  # the same response, live
    assert sum(board.spend_series()) == once == 0.01575 + 0.0097


def test_without_response_events_the_day_s_growth_is_the_spend() -> None:
    now = NOW
    board = Dashboard(lambda: now)
    board.load_budgets({"day": {"spent_usd": 1.0, "limit_usd": 5.0, "resets_at": None}})
    now += SPEND_BUCKET_S
    board.load_budgets({"day": {"spent_usd": 1.25, "limit_usd": 5.0, "resets_at": None}})
    assert board.spend_series()[-1] == 0.25 and sum(board.spend_series()) == 0.25


def test_a_daemon_of_simulated_providers_reads_as_simulated() -> None:
    status = sample_status()
    status["simulated"] = False
    for p in status["providers"]:
        p["kind"] = "sim"
    board = Dashboard(lambda: NOW)
    board.load_status(status)
    assert board.simulated
