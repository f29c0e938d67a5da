"""SQLite schema changes as an ordered list of named migrations, recorded in the database.

Each database module keeps its own ``MIGRATIONS``, ordered and append-only (a migration
once released is never edited), and runs ``migrate`` on the connection it opens. Each
migration runs in its own transaction with its record, so a failed one leaves the
database as it was and is tried again on the next start.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

Migration = tuple[str, str]  # (name, SQL statements separated by ";")


def migrate(
    db: sqlite3.Connection, migrations: Sequence[Migration], clock: Callable[[], float] = time.time
) -> None:
    """Apply the migrations ``db`` has not had yet, in order. ``db`` is in autocommit mode
    (``isolation_level=None``), so the transactions here are the only ones."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for name, sql in migrations:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, clock()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
