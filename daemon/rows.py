"""Many rows into a SQLite table in a few statements.

``executemany`` steps once a row, letting go of the GIL and taking it back from the event
loop each time; one ``INSERT ... VALUES (...), (...), ...`` a few hundred rows does not.
The ledger's and the report's batches go in this way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

MAX_ROWS = 500  # a statement's rows at most, within SQLite's limit on parameters too


def insert_rows(db: sqlite3.Connection, head: str, width: int, rows: Sequence[Sequence[Any]]) -> None:
    """``head`` (``INSERT ... VALUES``, without the values) for every row of ``width``
    values, inside the caller's transaction."""
    one = f"({', '.join('?' * width)})"
    per = max(1, min(MAX_ROWS, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        db.execute(f"{head} {', '.join([one] * len(chunk))}", [v for row in chunk for v in row])
