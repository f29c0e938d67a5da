"""Waiting in tests on a condition, never on an amount of time.

A busy machine (CI, two cores shared by a dozen processes) may take seconds more than
an idle one; a test that sleeps a fixed time, or gives up after a few seconds, fails
there. ``until`` polls a condition and gives up only after ``HANG_S``, which nothing
but a hang reaches.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

HANG_S = 60.0


async def until(condition: Callable[[], Any | Awaitable[Any]], what: str, *, every_s: float = 0.02) -> Any:
    """The first true value of ``condition()`` (which may be a coroutine function)."""
    deadline = time.monotonic() + HANG_S
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {HANG_S:g}s and it never {what}")
        await asyncio.sleep(every_s)
