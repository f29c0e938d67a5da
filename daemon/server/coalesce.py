"""Frames that are ready together leave in one socket write.

An upstream read often carries several frames, and each becomes an event, then
bytes for the client. Written one by one, that is a send a frame; the bare relay
this gateway is measured against sends one a read. :func:`next_event` takes the
next event if the stream has it without waiting; only when the stream would wait
(for the upstream's next bytes) does it first ``flush`` what was encoded so far,
then wait as a plain ``await`` would, cancellation and all. So the events of one
read go out together, and one that arrives alone goes out at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


async def next_event(events: AsyncIterator[T], flush: Callable[[], Awaitable[None]]) -> T:
    """``await anext(events)``, calling ``flush`` first when that would wait. Raises
    ``StopAsyncIteration`` at the end, and whatever the stream raises."""
    waiting: Generator[Any, None, T] = events.__anext__().__await__()
    try:
        signal = waiting.send(None)
    except StopIteration as ready:
        return ready.value  # type: ignore[no-any-return]
    # The stream is waiting now (``signal`` is what it waits on): out with what is ready.
    try:
        await flush()
    except BaseException:
        _unwind(waiting)
        raise
    # Then wait on the stream's behalf, as the task would, and let it go on.
    while True:
        try:
            if signal is None:
                await asyncio.sleep(0)  # a bare yield: the stream only gave way
            else:
                # A future the stream yields is marked as being waited on; the task clears
                # that mark on taking it, and so does this, before waiting on it itself.
                signal._asyncio_future_blocking = False
                await signal
        except BaseException as exc:  # cancelled while waiting: the stream handles it
            try:
                signal = waiting.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            continue
        try:
            signal = waiting.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _unwind(waiting: Generator[Any, None, Any]) -> None:
    """The flush failed (the client went away) while the stream was waiting: end the
    stream's wait as a cancellation would, so its generators close and clean up."""
    try:
        waiting.throw(asyncio.CancelledError())
    except BaseException:  # its own end: the cancellation, or what it made of it
        return
    waiting.close()  # it went on waiting despite the cancellation
