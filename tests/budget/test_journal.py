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


def test_a_batch_longer_than_one_statement_writes_every_row_once(tmp_path: Path) -> None:
    """The daemon's own batches go in as multi-row statements of a few hundred rows each."""
    ledger = Ledger(tmp_path / "detour.db")
    ledger._per_insert = 3  # the limit SQLite's parameter count sets, made small
    writes: list[AttemptRow | Settlement] = []
    for i in range(1, 9):
        writes.append(AttemptRow(i, "s", "r", "p", "m", 0.5, 1700000000.0 + i))
        if i % 2:
            writes.append(Settlement(i, 0.01 * i, Usage(10, i), "usage"))
    ledger.apply(writes, fresh=True)
    ledger.apply([Settlement(2, 0.02, Usage(10, 2), "usage")], fresh=True)  # a later batch settles it
    settled = {1, 2, 3, 5, 7}
    rows = [(r["id"], r["state"], r["usd"], r["output_tokens"]) for r in ledger.rows()]
    assert rows == [
        (i, "settled", 0.01 * i, i) if i in settled else (i, "reserved", None, 0) for i in range(1, 9)
    ]
    ledger.close()
