"""Stored Responses: SQLite rows of IR, so ``previous_response_id`` can go to any provider.

A row holds the whole input the response answered (the history a previous id
expanded to, plus the new input), the answer as IR, and the response object as
the client got it. Rows belong to the client token that made them. Old rows go
after ``retention_days``, and the oldest beyond ``max_mb``.

SQLite runs on one dedicated thread (``asyncio`` never waits on it); WAL keeps
committed rows through a killed daemon.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from daemon import private
from daemon.config import ResponsesConfig
from daemon.ir import Message
from daemon.migrations import Migration, migrate
from daemon.responses.codec import messages_from_json, messages_to_json

T = TypeVar("T")

# Ordered and append-only: a migration once released is never edited.
MIGRATIONS: list[Migration] = [
    (
        "responses",
        """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created REAL NOT NULL,
            bytes INTEGER NOT NULL,
            input BLOB NOT NULL,
            answer BLOB NOT NULL,
            object BLOB NOT NULL
        );
        CREATE INDEX responses_created ON responses (created);
        """,
    ),
]
# Pruning by size is a scan; once every this many writes is plenty.
_PRUNE_EVERY = 50


def owner_of(token: str) -> str:
    """Rows name their owner by a hash: the token itself never lands on disk."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Stored:
    id: str
    input: list[Message]
    answer: list[Message]
    object: bytes

    @property
    def conversation(self) -> list[Message]:
        return self.input + self.answer


class ResponseStore:
    def __init__(self, path: Path, config: ResponsesConfig, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.config = config
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detour-responses")
        self._db: sqlite3.Connection | None = None
        self._writes = 0

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                self._db = self._connect()
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def _connect(self) -> sqlite3.Connection:
        db = private.sqlite(self.path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, MIGRATIONS, self.clock)
        return db

    async def open(self) -> None:
        await self._run(lambda db: None)
        await self._run(self._prune)

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()
            self._db = None

        if self._db is not None:
            await self._run(shut)
        self._pool.shutdown(wait=True)

    async def put(self, resp_id: str, token: str, input: list[Message], answer: Message, obj: bytes) -> None:
        row = (
            resp_id,
            owner_of(token),
            self.clock(),
            messages_to_json(input),
            messages_to_json([answer]),
            obj,
        )
        size = sum(len(x) for x in row[3:])

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO responses (id, owner, created, bytes, input, answer, object)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row[:3], size, *row[3:]),
            )
            self._writes += 1
            if self._writes % _PRUNE_EVERY == 0:
                self._prune(db)

        await self._run(write)

    async def get(self, resp_id: str, token: str) -> Stored | None:
        def read(db: sqlite3.Connection) -> Any:
            return db.execute(
                "SELECT input, answer, object FROM responses WHERE id = ? AND owner = ? AND created >= ?",
                (resp_id, owner_of(token), self._oldest()),
            ).fetchone()

        row = await self._run(read)
        if row is None:
            return None
        return Stored(resp_id, messages_from_json(row[0]), messages_from_json(row[1]), bytes(row[2]))

    async def delete(self, resp_id: str, token: str) -> bool:
        def remove(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM responses WHERE id = ? AND owner = ?", (resp_id, owner_of(token)))
            if cur.rowcount > 0:
                private.forget(db)  # the text is gone from the file and the WAL, not only unlisted
            return cur.rowcount > 0

        return await self._run(remove)

    async def count(self) -> int:
        return int(await self._run(lambda db: db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]))

    def _oldest(self) -> float:
        return self.clock() - self.config.retention_days * 86400

    def _prune(self, db: sqlite3.Connection) -> None:
        before = db.total_changes
        self._drop_oldest(db)
        if db.total_changes != before:
            private.forget(db)

    def _drop_oldest(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM responses WHERE created < ?", (self._oldest(),))
        limit = int(self.config.max_mb * 1024 * 1024)
        total = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM responses").fetchone()[0]
        if total <= limit:
            return
        # Newest first, keep while under the limit; the rest (the oldest) go.
        kept = 0
        for resp_id, size in db.execute("SELECT id, bytes FROM responses ORDER BY created DESC").fetchall():
            kept += size
            if kept > limit:
                db.execute("DELETE FROM responses WHERE id = ?", (resp_id,))
