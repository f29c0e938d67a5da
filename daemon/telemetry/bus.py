"""The event bus: every event goes to in-process listeners and to live subscribers.

Publishing never waits. Listeners (metrics, status, alerts, the event log) are
plain calls that only update memory. Subscribers (``/events`` streams) each get
a bounded queue: one that falls behind loses the newest events rather than
slowing a request, and is told how many with a ``dropped`` event when it reads
again. Events are dicts shaped as ``telemetry.schema`` says. Subscribers get
each one wrapped in a ``Frame`` that encodes it at most once, however many
subscribers send it, and only when one does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

import orjson

from daemon.telemetry.schema import DroppedEvent, Event

log = logging.getLogger(__name__)
QUEUE = 1024  # events a subscriber may be behind before it starts losing them

Listener = Callable[[Event], None]


class Frame:
    """One event on its way to subscribers; its Server-Sent Events frame is built once, on demand."""

    __slots__ = ("event", "_sse")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._sse: bytes | None = None

    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = b"data: " + orjson.dumps(self.event) + b"\n\n"
        return self._sse


class Subscription:
    """One subscriber's queue. ``get`` waits for the next frame; None once the bus closed."""

    __slots__ = ("_queue", "_max", "_waiter", "dropped", "closed")

    def __init__(self, maxsize: int) -> None:
        self._queue: deque[Frame] = deque()
        self._max = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0  # lost since the last event it was given
        self.closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, frame: Frame) -> None:
        if len(self._queue) >= self._max:
            self.dropped += 1
            return
        if self.dropped:
            # The gap is reported where it happened: after what was kept, before what comes next.
            self._queue.append(_dropped(self.dropped, frame.event["ts"]))
            self.dropped = 0
        self._queue.append(frame)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self._wake()

    def get_nowait(self) -> Frame | None:
        if self._queue:
            return self._queue.popleft()
        if self.dropped:
            lost, self.dropped = self.dropped, 0
            return _dropped(lost, time.time())
        return None

    async def get(self) -> Frame | None:
        while True:
            event = self.get_nowait()
            if event is not None or self.closed:
                return event
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


def _dropped(count: int, ts: float) -> Frame:
    event: DroppedEvent = {"ts": ts, "type": "dropped", "session": "", "count": count}
    return Frame(event)


class Bus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._subscribers: set[Subscription] = set()
        self.closed = False

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def subscribe(self, maxsize: int = QUEUE) -> Subscription:
        sub = Subscription(maxsize)
        if self.closed:
            sub.close()
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: Event) -> None:
        """Hand the event to everyone; never raises, never waits."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                # A telemetry bug must never fail the request it describes.
                log.exception("event listener %r failed on a %s event", listener, event.get("type"))
        if self._subscribers:
            frame = Frame(event)
            for sub in self._subscribers:
                sub.put(frame)

    def close(self) -> None:
        """Wake every subscriber so its stream can end (the daemon is stopping)."""
        self.closed = True
        for sub in self._subscribers:
            sub.close()
        self._subscribers.clear()
