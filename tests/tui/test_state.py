"""The dashboard's model without a screen: snapshots and events in, rows and series out."""

from __future__ import annotations

import pytest

from tests.tui.fake_daemon import NOW, continued, failover, response, sample_status
from tui.state import SPEND_BUCKET_S, Dashboard
from tui.widgets import project_line


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


def test_each_project_shows_its_indexing_state_and_what_it_skipped() -> None:
    board = Dashboard(clock=lambda: NOW)
    status = sample_status()
    status["projects"] = [
        {"root": "/src/app", "state": "indexing", "files": 0, "parsed": 120, "to_parse": 600, "skipped": {},
         "error": None},
        {"root": "/src/lib/", "state": "ready", "files": 412, "parsed": 3, "to_parse": 3,
         "skipped": {"larger than 512 KiB": 2, "parsing took over 10 s: indexed as text only": 1}, "error": None},
    ]  # fmt: skip
    board.load_status(status)
    assert [project_line(p).plain for p in board.projects] == [
        "app            indexing 120 of 600",
        "lib            ready, 412 files · 2 larger than 512 KiB · 1 parsing took over 10 s: indexed as text only",
    ]


def test_a_continued_answer_is_one_line_of_the_failover_list_with_its_saving() -> None:
    board = Dashboard(lambda: NOW)
    board.load_status(sample_status())
    # As the daemon sends them: the continuation as it starts; at the end its failover, then the response.
    board.apply(continued("r12", NOW - 3, chars=57, reason="overloaded"))
    board.apply(failover("r13", NOW - 2, reason="timeout"))
    board.apply(failover("r12", NOW - 1, reason="overloaded", cost_delta_usd=0.0012))
    done = response("r12", NOW, target="openai/gpt-4.1")
    done["continued"] = {  # type: ignore[typeddict-unknown-key]
        "from": "anthropic/claude-sonnet-4-5", "to": "openai/gpt-4.1", "chars": 57,
        "cost_usd": 0.002, "retry_usd": 0.0095,
    }  # fmt: skip
    board.apply(done)
    rows = [(f.request_id, f.continued_chars, f.cost_delta_usd) for f in board.failovers]
    assert rows == [("r13", None, -0.0041), ("r12", 57, 0.0012), ("r2", None, -0.0041)]
    cut = board.failovers[1]
    assert (cut.from_, cut.to, cut.reason) == ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "overloaded")
    assert cut.saved_usd == pytest.approx(
        0.0095 - 0.002
    )  # a retry of the whole answer, less the continuation
    # /status lists failovers only: a new snapshot keeps the continuation, its failover still joined to it.
    status = sample_status()
    status["failovers"].append(failover("r12", NOW - 1, reason="overloaded", cost_delta_usd=0.0012))
    board.load_status(status)
    assert [(f.request_id, f.continued_chars, f.cost_delta_usd) for f in board.failovers] == [
        ("r12", 57, 0.0012),
        ("r2", None, -0.0041),
    ]
    assert board.failovers[0].saved_usd == pytest.approx(0.0075)


def test_a_walk_that_failed_over_before_the_continuation_shows_its_cost_difference_once() -> None:
    board = Dashboard(lambda: NOW)
    board.apply(continued("r14", NOW - 3, **{"from": "openai/gpt-4.1"}, to="gemini/gemini-2.5-pro"))
    board.apply(failover("r14", NOW - 1, to="openai/gpt-4.1", cost_delta_usd=0.002))
    board.apply(failover("r14", NOW - 1, **{"from": "openai/gpt-4.1"}, to="gemini/gemini-2.5-pro",
                         reason="connection", cost_delta_usd=0.002))  # fmt: skip
    assert [(f.from_, f.continued_chars, f.cost_delta_usd) for f in board.failovers] == [
        ("anthropic/claude-sonnet-4-5", None, None),
        ("openai/gpt-4.1", 40, 0.002),
    ]
