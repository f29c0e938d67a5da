"""Calibration kept in the ledger database, so a restart does not start from guesses.

Its own SQLite connection on its own thread (the spend ledger's thread keeps its
writes ordered and is not to be held up): loaded once at start, then what was
learned is saved every few seconds and once more at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from daemon import private
from daemon.budget.calibration import Calibration, Sample
from daemon.config import Target
from daemon.tasks import spawn, stop_all

T = TypeVar("T")
log = logging.getLogger(__name__)
SAVE_EVERY_S = 2.0

Row = tuple[str, str, float | None, float | None, str, float]


class CalibrationStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detour-calibration")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load(self) -> dict[Target, list[Sample]]:
        """What earlier runs learned. The table is the ledger's: open the ledger first."""
        return await self._run(self._load)

    async def save(self, calibration: Calibration) -> None:
        """Write the targets learned from since the last save, in one transaction."""
        rows: list[Row] = []
        for target in calibration.dirty:
            learned = calibration.targets[target]
            fit = learned.fit
            samples = orjson.dumps(list(learned.samples)).decode()
            rows.append(
                (
                    target.provider,
                    target.model,
                    None if fit is None else fit.ratio,
                    None if fit is None else fit.overhead,
                    samples,
                    time.time(),
                )
            )
        calibration.dirty.clear()
        if rows:
            await self._run(self._save, rows)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
        self._executor.shutdown(wait=True)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = private.sqlite(self._path)
            self._db.execute("PRAGMA busy_timeout=5000")
        return self._db

    def _load(self) -> dict[Target, list[Sample]]:
        found: dict[Target, list[Sample]] = {}
        for provider, model, samples in self._connect().execute(
            "SELECT provider, model, samples FROM calibration"
        ):
            try:
                found[Target(provider, model)] = [(int(c), int(b)) for c, b in orjson.loads(samples)]
            except (orjson.JSONDecodeError, TypeError, ValueError):
                log.warning("ignoring an unreadable calibration for %s/%s", provider, model)
        return found

    def _save(self, rows: list[Row]) -> None:
        db = self._connect()
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO calibration (provider, model, ratio, overhead, samples, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, model) DO UPDATE SET"
                " ratio = excluded.ratio, overhead = excluded.overhead, samples = excluded.samples,"
                " updated = excluded.updated",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


@contextlib.asynccontextmanager
async def kept(path: Path, calibration: Calibration) -> AsyncIterator[None]:
    """Calibration restored from ``path`` and saved back while the daemon runs."""
    store = CalibrationStore(path)
    calibration.restore(await store.load())

    async def save_now_and_then() -> None:
        while True:
            await asyncio.sleep(SAVE_EVERY_S)
            try:
                await store.save(calibration)
            except sqlite3.Error as e:  # learned again from the next answers; not worth a crash
                log.error("calibration could not be saved: %s", e)

    saver = spawn(save_now_and_then(), name="detour-calibration-saver")
    try:
        yield
    finally:
        await stop_all([saver])
        try:
            await store.save(calibration)
        finally:
            await store.close()
