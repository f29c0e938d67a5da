"""The report's listener: one row per request from its events, into the ledger's database."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from daemon.budget.ledger import Ledger
from daemon.report.recorder import ReportRecorder
from daemon.report.store import RequestRow, Store, read_rows


def attempt(rid: str, target: str, step: str, failure: str | None, called: bool = True, **kw: Any) -> Any:
    outcome = "ok" if step == "ok" else "failed" if called else "skipped"
    return {
        "ts": 1.0, "type": "attempt", "session": "s", "id": rid, "route": "coder", "target": target,
        "outcome": outcome, "step": step, "failure": failure, "latency_ms": 5.0, "called": called, "message": "",
        **kw,
    }  # fmt: skip


def response(rid: str, target: str | None, status: int = 200) -> Any:
    return {
        "ts": 100.0, "type": "response", "session": "s", "id": rid, "route": "coder", "target": target,
        "status": status, "error": None if status == 200 else "all_providers_failed", "attempts": "",
        "tokens_in": 1, "tokens_out": 1, "cost_usd": 0.5, "latency_ms": 42.0, "ttft_ms": 7.0,
    }  # fmt: skip


async def test_rows_from_events(tmp_path: Path) -> None:
    db = tmp_path / "detour.db"
    Ledger(db).close()  # migrates the requests table
    store = Store(db)
    await store.open()
    rec = ReportRecorder(store)
    # A primary passed over in cooldown, then served by the fallback.
    rec(attempt("a", "x/one", "cooldown", None, called=False))
    rec(attempt("a", "y/two", "ok", None))
    rec({"ts": 1.0, "type": "failover", "session": "s", "id": "a", "route": "coder",
         "from": "x/one", "to": "y/two", "reason": "cooldown", "cost_delta_usd": 0.25})  # fmt: skip
    rec(response("a", "y/two"))
    # A probe's attempt is not a request.
    rec(attempt("p", "x/one", "ok", None, probe=True))
    # Served by the primary after a same-model retry of a reset connection.
    rec(attempt("b", "x/one", "connection_reset", "connection"))
    rec(attempt("b", "x/one", "ok", None))
    rec(response("b", "x/one"))
    await rec.flush()
    rows = await store.run(read_rows, store.db, 0.0, 1000.0)
    await store.close()
    assert rows == [
        RequestRow("a", 100.0, "s", "coder", "x/one", "y/two", "cooldown (skipped)", 200, None, 1, 42.0, 7.0,
                   0.5, 0.25),
        RequestRow("b", 100.0, "s", "coder", "x/one", "x/one", "connection", 200, None, 2, 42.0, 7.0, 0.5, None),
    ]  # fmt: skip
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM requests").fetchone() == (2,)
