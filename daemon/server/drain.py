"""Stopping without dropping anyone: requests in flight finish, or end in their client's format.

On SIGTERM or SIGINT the daemon stops accepting connections and waits, up to a
bound, for the requests already in flight. What is still running after that is
cut: a request that has not answered yet gets a 503 in its client's format, a
stream already under way gets the format's in-band error event. Then the ledger
is flushed and the process exits 0.

The middleware keeps the set of handler tasks; cutting one is a cancellation the
middleware (or :func:`cuttable`, around a stream's events) turns into that error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from daemon.ir import ApiError, StreamEvent
from daemon.server.guard import error_response

log = logging.getLogger(__name__)
# Watchers stay until the bus closes; they are not requests to wait for.
UNTRACKED = frozenset({"/events", "/health"})
CUT_GRACE_S = 2.0  # after a cut: time for handlers to write their error and settle


def shutting_down() -> ApiError:
    return ApiError(
        503, "overloaded", "detour is shutting down (restarting or stopped); send the request again"
    )


class Drain:
    def __init__(self) -> None:
        self.inflight: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is None or request.path in UNTRACKED:
            return await handler(request)
        self.inflight.add(task)
        self._idle.clear()
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if not self.was_cut(task):
                raise
            return error_response(request.path, shutting_down())
        finally:
            self.inflight.discard(task)
            self._cut.discard(task)
            if not self.inflight:
                self._idle.set()

    def was_cut(self, task: asyncio.Task[object]) -> bool:
        """Whether a cancellation of ``task`` is ours; if so, it is taken back so the
        handler can still write its error."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True

    async def finish(self, grace_s: float) -> int:
        """Wait up to ``grace_s`` for the requests in flight, then cut the rest.
        Returns how many were cut."""
        started = time.monotonic()
        if self.inflight:
            log.info("waiting up to %gs for %d requests in flight", grace_s, len(self.inflight))
            try:
                async with asyncio.timeout(grace_s):
                    await self._idle.wait()
            except TimeoutError:
                pass
        left = list(self.inflight)
        for task in left:
            self._cut.add(task)
            task.cancel()
        if left:
            log.warning("cut %d requests still running after %gs", len(left), grace_s)
            try:
                async with asyncio.timeout(CUT_GRACE_S):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("%d requests did not end after the cut", len(self.inflight))
        log.info("drained in %.1fs", time.monotonic() - started)
        return len(left)


DRAIN = web.AppKey("drain", Drain)


async def cuttable(request: web.Request, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """A stream's events, ending in ``ApiError`` when the drain cuts it, so the relay
    closes the client's stream with a well-formed error event."""
    drain = request.app.get(DRAIN)
    task = asyncio.current_task()
    try:
        async for ev in events:
            yield ev
    except asyncio.CancelledError:
        if drain is None or task is None or not drain.was_cut(task):
            raise
        raise shutting_down() from None
