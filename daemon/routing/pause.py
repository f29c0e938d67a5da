"""Providers the user paused (from the tray or ``POST /providers/{id}/pause``).

A paused provider is skipped by every route, without a network call, until it is
resumed. The set is kept in the data directory, so a restart does not quietly
resume what the user paused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from daemon import private

log = logging.getLogger(__name__)
FILE = "paused.json"


class Paused:
    def __init__(self, data_dir: Path | None = None) -> None:
        self._ids: set[str] = set()
        self._path = data_dir / FILE if data_dir is not None else None

    def __contains__(self, provider: object) -> bool:
        return provider in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ids))

    async def load(self, known: set[str]) -> None:
        if self._path is None:
            return
        try:
            raw = await asyncio.to_thread(self._path.read_text)
            ids = json.loads(raw)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("ignored %s: %s", self._path, e)
            return
        if isinstance(ids, list):
            self._ids = {i for i in ids if isinstance(i, str) and i in known}
        if self._ids:
            log.warning("providers still paused from before: %s (resume them from the tray)", ", ".join(self))

    async def set(self, provider: str, paused: bool) -> None:
        if paused:
            self._ids.add(provider)
        else:
            self._ids.discard(provider)
        if self._path is not None:
            await asyncio.to_thread(_write_atomic, self._path, json.dumps(sorted(self._ids)))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    private.write_bytes(tmp, text.encode())
    os.replace(tmp, path)
