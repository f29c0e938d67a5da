"""The ledger's write-ahead journal: replay is exact, idempotent, and survives a torn line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daemon.budget.accounts import Accounts, Limits
from daemon.budget.journal import Journal, LedgerBusy, read
from daemon.budget.ledger import AttemptRow, Ledger, Settlement
from daemon.ir import Usage


def test_writes_round_trip_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.begin()
    start = AttemptRow(7, "s", "coder", "anthropic", "claude-sonnet-4-5", 0.25, 1700000000.5)
    settle = Settlement(7, 0.01, Usage(100, 20, 50, 10, 5), "usage")
    j.append(start)
    j.append(settle)
    path = j.close()
    assert path is not None
    with path.open("ab") as f:
        f.write(b'{"start": [8, 1.0, "s"')  # the crash cut this one short
    assert list(read(path)) == [start, settle]


async def test_leftover_journal_is_replayed_once_then_deleted(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.begin()
    j.append(AttemptRow(1, "s", "r", "p", "m", 0.5, time.time()))
    j.append(Settlement(1, 0.2, Usage(10, 10), "usage"))
    j.append(AttemptRow(2, "s", "r", "p", "m", 0.5, time.time()))  # never settled: killed mid-attempt
    j.close()
    accounts = Accounts(tmp_path / "detour.db", Limits())
    await accounts.open()
    rows = [(r["id"], r["state"], r["usd"]) for r in accounts.ledger.rows()]
    assert rows == [(1, "settled", 0.2), (2, "reconciled", 0.5)]
    assert accounts.spent("week", "s") == accounts.spent("session", "s") == 0.7
    await accounts.close()
    assert list(tmp_path.glob("journal-*")) == []
    again = Accounts(tmp_path / "detour.db", Limits())
    await again.open()
    assert [(r["id"], r["state"], r["usd"]) for r in again.ledger.rows()] == rows
    await again.close()


async def test_a_second_process_cannot_open_the_same_ledger(tmp_path: Path) -> None:
    first = Accounts(tmp_path / "detour.db", Limits())
    await first.open()
    second = Accounts(tmp_path / "detour.db", Limits())
    with pytest.raises(LedgerBusy, match=str(tmp_path)):
        await second.open()
    await second.close()
    await first.close()
    third = Accounts(tmp_path / "detour.db", Limits())
    await third.open()  # released with the first
    await third.close()


def test_a_replay_settles_an_attempt_whose_start_was_already_written(tmp_path: Path) -> None:
    """Killed after a batch wrote an attempt's start but before its settlement: the journal
    holds both, and the replay must not drop the settlement with the repeated start."""
    ledger = Ledger(tmp_path / "detour.db")
    start = AttemptRow(1, "s", "r", "p", "m", 0.5, time.time())
    ledger.apply([start])
    ledger.apply([start, Settlement(1, 0.01, Usage(10, 5), "usage")])
    [row] = ledger.rows()
    assert (row["state"], row["usd"], row["input_tokens"]) == ("settled", 0.01, 10)
    ledger.close()
