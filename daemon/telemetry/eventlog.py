"""The event log: every event as one JSON line, in files rotated by size.

The bus listener only appends to a list. A flusher task hands the batch to a
thread of the log's own every ``interval_s``, which encodes and writes it, so neither
encoding nor disk ever runs on the event loop. Batches are written in order, and a
write once handed over finishes even if the flusher is cancelled: ``flush`` returns
once every event logged before it is in the file, so the last one on the way out
(and a test) can count on it. The log holds what the events hold:
metadata, and request/response bodies only with ``log_content = true``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from daemon import private
from daemon.telemetry.schema import DroppedEvent, Event

log = logging.getLogger(__name__)
NAME = "events.jsonl"
MAX_BYTES = 16 * 1024 * 1024
KEEP = 5  # rotated files kept besides the current one
PENDING = 50_000  # events waiting for the writer before new ones are dropped


class EventLog:
    def __init__(
        self, directory: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP, interval_s: float = 0.5
    ) -> None:
        self.path = directory / NAME
        self.max_bytes, self.keep, self.interval_s = max_bytes, keep, interval_s
        self._pending: list[Event] = []
        self._dropped = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="detour-event-log")

    def __call__(self, event: Event) -> None:
        if len(self._pending) >= PENDING:
            self._dropped += 1
            return
        self._pending.append(event)

    async def run(self) -> None:
        """Flush until cancelled; a final flush writes what is left."""
        try:
            # Inside the try: a daemon stopped before the folder exists still writes its last batch.
            await asyncio.to_thread(private.directory, self.path.parent)
            while True:
                await asyncio.sleep(self.interval_s)
                await self.flush()
        finally:
            await self.flush()
            self._writer.shutdown(wait=False)

    async def flush(self) -> None:
        """Write what is pending; returns once every event logged so far is in the file."""
        batch, self._pending = self._pending, []
        if self._dropped:
            lost: DroppedEvent = {"ts": time.time(), "type": "dropped", "session": "", "count": self._dropped}
            batch.append(lost)
            self._dropped = 0
        # One writer thread takes batches in order: when this one is written, so is every one
        # before it (an empty batch is just that wait). Shielded: a cancelled flush still writes.
        await asyncio.shield(asyncio.wrap_future(self._writer.submit(self._write, batch)))

    def _write(self, batch: list[Any]) -> None:
        if not batch:
            return
        try:
            self._append(batch)
        except OSError as e:
            log.warning("cannot write the event log %s: %s", self.path, e)

    def _append(self, batch: list[Any]) -> None:
        data = b"".join(orjson.dumps(ev) + b"\n" for ev in batch)
        with private.file(self.path).open("ab") as f:
            f.write(data)
            size = f.tell()
        if size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """events.jsonl -> events.jsonl.1 -> ... -> events.jsonl.KEEP (the oldest goes)."""
        for i in range(self.keep, 0, -1):
            older = self.path.with_name(f"{NAME}.{i}")
            newer = self.path.with_name(f"{NAME}.{i - 1}") if i > 1 else self.path
            if newer.exists():
                newer.replace(older)
