"""The spend ledger: one SQLite row per attempt that may cost money.

A row is written *before* its attempt starts (state ``reserved``, with the
worst-case cost), and settled to the real cost when the answer ends. A daemon
killed mid-attempt leaves ``reserved`` rows; the next start settles them at
their worst case (``reconciled``), so spend is never forgotten and never
counted twice.

The ledger is synchronous; ``budget.accounts`` calls it from one dedicated
thread so the event loop never blocks on SQLite and writes stay ordered.
WAL with ``synchronous=NORMAL`` survives a killed process (a committed
transaction is in the WAL file), which is what this ledger must survive.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from daemon import private
from daemon.ir import Usage
from daemon.migrations import Migration, migrate
from daemon.rows import insert_rows

# Ordered and append-only: a migration once released is never edited.
MIGRATIONS: list[Migration] = [
    (
        "attempts",
        """
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            session TEXT NOT NULL,
            route TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('reserved', 'settled', 'reconciled')),
            reserved_usd REAL NOT NULL,
            usd REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            source TEXT CHECK (source IN ('usage', 'estimate', 'worst_case'))
        );
        CREATE INDEX attempts_ts ON attempts (ts);
        CREATE INDEX attempts_session ON attempts (session);
        CREATE INDEX attempts_state ON attempts (state) WHERE state = 'reserved';
        """,
    ),
    (
        "limits",
        """
        CREATE TABLE limits (
            scope TEXT PRIMARY KEY CHECK (scope IN ('session', 'day', 'week')),
            usd REAL
        );
        """,
    ),
    (
        # What each target bills against what detour counts (budget.calibration): the recent
        # (counted, billed) pairs as JSON, and the fit they give, for people reading the file.
        "calibration",
        """
        CREATE TABLE calibration (
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            ratio REAL,
            overhead REAL,
            samples TEXT NOT NULL,
            updated REAL NOT NULL,
            PRIMARY KEY (provider, model)
        );
        """,
    ),
    (
        # One row per finished request or synthetic probe, for the recovery report
        # (written by daemon.report; probes' spend lives only here, never in attempts).
        "requests",
        """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            ts REAL NOT NULL,
            session TEXT NOT NULL,
            route TEXT NOT NULL,
            primary_target TEXT,
            served TEXT,
            primary_failure TEXT,
            status INTEGER NOT NULL,
            error TEXT,
            calls INTEGER NOT NULL,
            latency_ms REAL NOT NULL,
            ttft_ms REAL,
            cost_usd REAL NOT NULL,
            delta_usd REAL,
            probe INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX requests_ts ON requests (ts);
        """,
    ),
    (
        # What the prompt cache saved on each answer (report.measures sums it per route).
        "requests_cache_saved",
        "ALTER TABLE requests ADD COLUMN cache_saved_usd REAL NOT NULL DEFAULT 0",
    ),
    (
        # Answers cut mid-stream and finished by the next target (continue_on_cut): what the
        # client had received, what the continuation cost, what retrying the whole would have.
        "requests_continued",
        """
        ALTER TABLE requests ADD COLUMN continued_chars INTEGER;
        ALTER TABLE requests ADD COLUMN continued_usd REAL;
        ALTER TABLE requests ADD COLUMN retry_usd REAL
        """,
    ),
]

# What a row costs now: settled rows their cost, open reservations their worst case.
_COST = "COALESCE(usd, reserved_usd)"
# OR IGNORE: replaying the journal after a crash may meet rows already written.
_INSERT = (
    "INSERT OR IGNORE INTO attempts (id, ts, session, route, provider, model, state, reserved_usd, usd,"
    " source, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens) VALUES"
)


@dataclass(slots=True, frozen=True)
class AttemptRow:
    id: int
    session: str
    route: str
    provider: str
    model: str
    reserved_usd: float
    ts: float = 0.0


@dataclass(slots=True, frozen=True)
class Settlement:
    id: int
    usd: float
    usage: Usage
    source: str  # usage | estimate


Write = AttemptRow | Settlement


def _outcome(s: Settlement | None) -> tuple[object, ...]:
    """(usd, source, tokens...) of a settlement; an open reservation has none yet."""
    if s is None:
        return (None, None, 0, 0, 0, 0, 0)
    u = s.usage
    return (
        s.usd, s.source,
        u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens,
    )  # fmt: skip


class Ledger:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.db = private.sqlite(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        migrate(self.db, MIGRATIONS, clock)

    def close(self) -> None:
        self.db.close()

    def last_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM attempts").fetchone()[0])

    def apply(self, writes: list[Write], *, fresh: bool = False) -> None:
        """Several writes in one transaction: under load one commit serves many.

        An attempt that started and ended within the batch becomes one settled row;
        other settlements update rows written by an earlier batch. ``fresh``: no attempt
        of the batch was written before (the running daemon's own batches, not a replay)."""
        settled = {w.id: w for w in writes if isinstance(w, Settlement)}
        rows = []
        inserted = set()
        for w in writes:
            if isinstance(w, AttemptRow):
                s = settled.get(w.id)
                state = "reserved" if s is None else "settled"
                head = (w.id, w.ts or self._clock(), w.session, w.route, w.provider, w.model, state)
                rows.append((*head, w.reserved_usd, *_outcome(s)))
                inserted.add(w.id)
        # A settlement is also an update, unless its row was inserted settled just now: a
        # replayed journal holds the start of an attempt an earlier batch already wrote (its
        # insert is ignored) together with its settlement.
        updates = [(*_outcome(s), s.id) for s in settled.values() if not (fresh and s.id in inserted)]
        self.db.execute("BEGIN")
        try:
            insert_rows(self.db, _INSERT, 15, rows)
            self.db.executemany(
                "UPDATE attempts SET usd = ?, source = ?, input_tokens = ?, output_tokens = ?,"
                " cache_read_tokens = ?, cache_write_tokens = ?, reasoning_tokens = ?, state = 'settled'"
                " WHERE id = ? AND state = 'reserved'",
                updates,
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def reconcile(self) -> int:
        """Settle reservations a killed daemon left open at their worst case."""
        cur = self.db.execute(
            "UPDATE attempts SET state = 'reconciled', usd = reserved_usd, source = 'worst_case'"
            " WHERE state = 'reserved'"
        )
        return cur.rowcount

    def spend(self, since: float | None = None, session: str | None = None) -> float:
        sql = f"SELECT COALESCE(SUM({_COST}), 0) FROM attempts WHERE 1 = 1"
        args: list[float | str] = []
        if since is not None:
            sql += " AND ts >= ?"
            args.append(since)
        if session is not None:
            sql += " AND session = ?"
            args.append(session)
        return float(self.db.execute(sql, args).fetchone()[0])

    def session_spend(self) -> dict[str, float]:
        return {
            s: float(v)
            for s, v in self.db.execute(f"SELECT session, SUM({_COST}) FROM attempts GROUP BY session")
        }

    def top_models(self, since: float, limit: int = 5) -> list[tuple[str, str, float, int]]:
        """(provider, model, usd, attempts) by cost since a moment, costliest first."""
        rows = self.db.execute(
            f"SELECT provider, model, SUM({_COST}) AS usd, COUNT(*) FROM attempts WHERE ts >= ?"
            " GROUP BY provider, model ORDER BY usd DESC LIMIT ?",
            (since, limit),
        )
        return [(p, m, float(u), int(n)) for p, m, u, n in rows]

    def rows(self) -> list[sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        try:
            return list(self.db.execute("SELECT * FROM attempts ORDER BY id"))
        finally:
            self.db.row_factory = None

    def set_limit(self, scope: str, usd: float | None) -> None:
        self.db.execute(
            "INSERT INTO limits (scope, usd) VALUES (?, ?)"
            " ON CONFLICT (scope) DO UPDATE SET usd = excluded.usd",
            (scope, usd),
        )

    def limits(self) -> dict[str, float | None]:
        return {scope: usd for scope, usd in self.db.execute("SELECT scope, usd FROM limits")}
