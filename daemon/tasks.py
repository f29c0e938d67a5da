"""Background tasks: named, held until they end, a crash logged, stopped together.

No bare ``asyncio.create_task`` in the daemon: the loop keeps only a weak reference to
a task, so one nobody holds can vanish mid-run, and an exception in a task nobody
awaits is lost. ``spawn`` starts a task that is held until it ends; ``stop_all``
cancels tasks and waits until each has ended (what every cleanup context does with
the tasks it started).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_held: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    """``coro`` as a task named ``name``, held until it ends; a crash is logged as it happens."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _held.add(task)
    task.add_done_callback(_ended)
    return task


def _ended(task: asyncio.Task[Any]) -> None:
    _held.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task %s failed", task.get_name(), exc_info=error)


async def stop_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended, whatever it ended with."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
