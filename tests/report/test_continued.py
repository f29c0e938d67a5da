"""Answers cut mid-stream and finished by the next target (``continue_on_cut``) in the
recovery report: recorded from the ``continued`` and ``response`` events, counted as
recoveries, with the continuations' price against retrying the answers whole."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.budget.ledger import MIGRATIONS, Ledger
from daemon.config import RouteSettings
from daemon.migrations import migrate
from daemon.report import html, measures, text
from daemon.report.recorder import ReportRecorder
from daemon.report.store import RequestRow, Store, read_rows
from daemon.tasks import spawn, stop_all
from tests.daemon_harness import start_daemon
from tests.fakes.base import Answer, StreamFault
from tests.fakes.openai_chat import FakeOpenAI
from tests.report.test_recorder import attempt, response
from tests.report.test_report_e2e import KEY, config, get_report, watch
from tests.wait import until

PROBES = {"enabled": False, "cap": 0.1, "spent_today": 0.0}


def continued(rid: str, reason: str = "connection", chars: int = 40) -> Any:
    return {
        "ts": 50.0, "type": "continued", "session": "s", "id": rid, "route": "coder",
        "from": "x/one", "to": "y/two", "chars": chars, "reason": reason,
    }  # fmt: skip


def answered(rid: str, cost: float, retry: float, chars: int = 40) -> Any:
    ev = response(rid, "y/two")
    ev["continued"] = {"from": "x/one", "to": "y/two", "chars": chars, "cost_usd": cost, "retry_usd": retry}
    return ev


async def test_a_continued_answer_is_a_recovery_with_its_own_price(tmp_path: Path) -> None:
    db = tmp_path / "detour.db"
    Ledger(db).close()
    store = Store(db)
    await store.open()
    rec = ReportRecorder(store)
    # The cut primary's attempt reads as a failure of its own.
    rec(attempt("a", "x/one", "stream_cut", "connection"))
    rec(continued("a"))
    rec(attempt("a", "y/two", "ok", None))
    rec(answered("a", 0.125, 0.5))
    # The cut primary's attempt reads as served (it delivered part of the answer): the
    # ``continued`` event's reason is why the request needed another target.
    rec(attempt("b", "x/one", "ok", None))
    rec(continued("b", reason="overloaded", chars=7))
    rec(attempt("b", "y/two", "ok", None))
    rec(answered("b", 0.25, 0.75, chars=7))
    rec(attempt("c", "x/one", "ok", None))
    rec(response("c", "x/one"))
    await rec.flush()
    rows = await store.run(read_rows, store.db, 0.0, 1000.0)
    await store.close()
    base = ("s", "coder", "x/one")
    assert rows == [
        RequestRow("a", 100.0, *base, "y/two", "connection", 200, None, 2, 42.0, 7.0, 0.5, None,
                   continued_chars=40, continued_usd=0.125, retry_usd=0.5),
        RequestRow("b", 100.0, *base, "y/two", "overloaded", 200, None, 2, 42.0, 7.0, 0.5, None,
                   continued_chars=7, continued_usd=0.25, retry_usd=0.75),
        RequestRow("c", 100.0, *base, "x/one", None, 200, None, 1, 42.0, 7.0, 0.5, None),
    ]  # fmt: skip


def test_a_ledger_from_before_continuations_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "detour.db"
    old = sqlite3.connect(path, isolation_level=None)
    before = [m for m in MIGRATIONS if m[0] != "requests_continued"]
    assert len(before) == len(MIGRATIONS) - 1
    migrate(old, before)
    old.execute(
        "INSERT INTO requests (id, ts, session, route, primary_target, served, primary_failure, status,"
        " error, calls, latency_ms, ttft_ms, cost_usd, delta_usd, probe)"
        " VALUES ('old', 5.0, 's', 'coder', 'x/one', 'x/one', NULL, 200, NULL, 1, 9.0, NULL, 0.5, NULL, 0)"
    )
    old.close()
    Ledger(path).close()  # the new migration adds the columns, empty for the old row
    db = sqlite3.connect(path)
    (row,) = read_rows(db, 0.0, 10.0)
    db.close()
    assert row == RequestRow(
        "old", 5.0, "s", "coder", "x/one", "x/one", None, 200, None, 1, 9.0, None, 0.5, None
    )


def row(rid: str, served: str, failure: str | None, **kw: Any) -> RequestRow:
    return RequestRow(
        rid, 10.0, "s", "coder", "x/one", served, failure, 200, None, 2, 100.0, 20.0, 0.5, None, **kw
    )


def report(rows: list[RequestRow]) -> dict[str, Any]:
    win = measures.window("1970-01-01..1970-01-02", datetime(1970, 1, 2, tzinfo=UTC), UTC)
    return measures.build(win, rows, [], 0.0, None, UTC, PROBES)


def test_continuations_are_counted_and_priced_overall_per_class_and_per_path() -> None:
    rows = [
        row("a", "y/two", "connection", continued_chars=40, continued_usd=0.125, retry_usd=0.5),
        row("b", "y/two", "overloaded", continued_chars=7, continued_usd=0.25, retry_usd=0.75),
        row("c", "y/two", "connection"),  # retried whole after a cut before any content
        row("d", "z/three", "connection", continued_chars=12, continued_usd=0.5, retry_usd=0.625),
        row("e", "x/one", None),
    ]
    r = report(rows)
    t = r["totals"]
    assert (t["recovered"], t["continued"]) == (4, 3)
    assert (t["continued_usd"], t["retry_usd"], t["continued_saved_usd"]) == (0.875, 1.875, 1.0)
    assert [(f["failure"], f["seen"], f["recovered"], f["continued"]) for f in t["by_failure"]] == [
        ("connection", 3, 3, 2),
        ("overloaded", 1, 1, 1),
    ]
    paths = {p["served"]: p for p in r["routes"][0]["paths"]}
    assert {s: (p["continued"], p["continued_usd"], p["retry_usd"]) for s, p in paths.items()} == {
        "y/two": (2, 0.375, 1.25),
        "z/three": (1, 0.5, 0.625),
        "x/one": (0, 0.0, 0.0),
    }
    assert paths["y/two"]["continued_saved_usd"] == 0.875

    table = text.render(r)
    assert re.search(r"connection\s+3\s+3\s+0\s+2\n", table)
    assert (
        "continuations       3 cut answers continued: $0.875000, against $1.875000 to retry them whole "
        "(saved $1.000000)" in table
    )
    assert "2 cut answers continued: $0.37500, against $1.25000 to retry them whole (saved $0.87500)" in table
    assert "1 cut answer continued: $0.50000, against $0.62500 to retry it whole (saved $0.12500)" in table
    page = html.page(r)
    assert "<h2>Answers continued after a cut</h2>" in page
    assert "<td>coder: x/one -&gt; y/two</td><td>2</td><td>$0.375000</td><td>$1.250000</td>" in page
    assert "continued after a cut<b>3 (saved $1.000000)</b>" in page


def test_a_report_without_continuations_does_not_mention_them() -> None:
    r = report([row("a", "y/two", "connection"), row("b", "x/one", None)])
    assert r["totals"]["continued"] == 0
    assert "continuations" not in text.render(r) and "cut answer" not in text.render(r)
    assert "continued after a cut" not in html.page(r)


def has_continuations() -> bool:
    """``continue_on_cut`` (the ``cont`` branch) and fakes that cut after N characters (``prefill``)."""
    try:
        StreamFault(after_chars=1, action="cut")  # type: ignore[call-arg]
    except TypeError:
        return False
    return "continue_on_cut" in {f.name for f in dataclasses.fields(RouteSettings)}


ANSWER = "Continued answers are recorded as recoveries, with their own price."


def streamed_text(raw: bytes) -> str:
    """The answer's text as a Chat Completions stream gave it out."""
    chunks = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith(b"data: {")]
    return "".join(c["delta"].get("content") or "" for chunk in chunks for c in chunk["choices"])


@pytest.mark.skipif(not has_continuations(), reason="needs continue_on_cut and StreamFault(after_chars=N)")
async def test_the_report_of_a_real_daemon_counts_its_continuations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETOUR_REPORT_KEY", KEY)
    prim, fb = await FakeOpenAI(key=KEY).start(), await FakeOpenAI(key=KEY).start()
    daemon = await start_daemon(
        config(prim, fb).replace("max_wait_s = 0", "max_wait_s = 0\ncontinue_on_cut = true")
    )
    seen: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession() as http:
            ready = asyncio.Event()
            watcher = spawn(watch(http, daemon, seen, ready), name="report-test-events")
            await ready.wait()
            for action in ("cut", "error", None):
                fault = None if action is None else StreamFault(after_chars=40, action=action)  # type: ignore[call-arg]
                prim.script.append(Answer(ANSWER, fault=fault))
                fb.script.append(Answer(ANSWER))
                body = {"model": "coder", "stream": True, "messages": [{"role": "user", "content": "go"}]}
                async with http.post(
                    f"{daemon.url}/v1/chat/completions", json=body, headers=daemon.auth()
                ) as r:
                    assert r.status == 200 and streamed_text(await r.read()) == ANSWER
            await until(lambda: sum(e["type"] == "response" for e in seen) == 3, "every response event came")
            await stop_all([watcher])
            report = await get_report(http, daemon)
    finally:
        await daemon.close()
        await prim.close()
        await fb.close()
    cuts = [e for e in seen if e["type"] == "continued"]
    assert [(e["from"], e["to"], e["chars"]) for e in cuts] == [("prim/m-primary", "fb/m-fallback", 40)] * 2
    priced = [e["continued"] for e in seen if e["type"] == "response" and "continued" in e]
    assert len(priced) == 2 and all(0 < c["cost_usd"] < c["retry_usd"] for c in priced)
    t = report["totals"]
    assert (t["requests"], t["recovered"], t["continued"]) == (3, 2, 2)
    assert t["continued_usd"] == pytest.approx(sum(c["cost_usd"] for c in priced), abs=1e-9)
    assert t["retry_usd"] == pytest.approx(sum(c["retry_usd"] for c in priced), abs=1e-9)
    assert sorted(f["failure"] for f in t["by_failure"]) == sorted({e["reason"] for e in cuts})
    (path,) = [p for p in report["routes"][0]["paths"] if p["failover"]]
    assert (path["primary"], path["served"], path["continued"]) == ("prim/m-primary", "fb/m-fallback", 2)
    assert "2 cut answers continued" in text.render(report)
