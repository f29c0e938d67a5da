"""next_event: events ready together are flushed together, and waiting stays a plain await."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from daemon.server.coalesce import next_event


class Upstream:
    """An async generator fed by the test: each ``send`` is one read of several items."""

    def __init__(self) -> None:
        self.reads: asyncio.Queue[list[str] | BaseException | None] = asyncio.Queue()
        self.closed = False

    async def items(self) -> AsyncIterator[str]:
        try:
            while (read := await self.reads.get()) is not None:
                if isinstance(read, BaseException):
                    raise read
                for item in read:
                    yield item
        finally:
            self.closed = True


async def drain(events: AsyncIterator[str], written: list[list[str]]) -> None:
    pending: list[str] = []

    async def flush() -> None:
        if pending:
            written.append(pending[:])
            pending.clear()

    while True:
        try:
            pending.append(await next_event(events, flush))
        except StopAsyncIteration:
            break
    await flush()


async def turns_until(done: Callable[[], bool]) -> None:
    """Let the loop turn until ``done`` (a condition, not a time); a hundred turns is plenty."""
    for _ in range(100):
        if done():
            return
        await asyncio.sleep(0)


async def test_what_one_read_brings_is_flushed_once_and_a_lone_item_at_once() -> None:
    up = Upstream()
    written: list[list[str]] = []
    relay = asyncio.ensure_future(drain(up.items(), written))
    up.reads.put_nowait(["a", "b", "c"])
    await turns_until(lambda: bool(written))
    assert written == [["a", "b", "c"]]  # flushed as soon as the stream waits again
    up.reads.put_nowait(["d"])
    await turns_until(lambda: len(written) == 2)
    assert written == [["a", "b", "c"], ["d"]]
    up.reads.put_nowait(None)
    await relay
    assert up.closed


async def test_an_error_while_waiting_comes_out_of_the_stream_as_raised() -> None:
    up = Upstream()
    events = up.items()
    flushed = 0

    async def flush() -> None:
        nonlocal flushed
        flushed += 1

    up.reads.put_nowait(["a"])
    assert await next_event(events, flush) == "a"
    got = asyncio.ensure_future(next_event(events, flush))
    await asyncio.sleep(0)
    up.reads.put_nowait(ValueError("cut"))
    with pytest.raises(ValueError, match="cut"):
        await got
    assert flushed == 1 and up.closed


async def test_cancelled_while_waiting_the_stream_sees_the_cancellation() -> None:
    up = Upstream()
    events = up.items()

    async def flush() -> None:
        pass

    waiting = asyncio.ensure_future(next_event(events, flush))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert up.closed  # its finally ran: the cancellation reached the stream's own await


async def test_a_failed_flush_ends_the_streams_wait_and_raises() -> None:
    up = Upstream()
    events = up.items()

    async def flush() -> None:
        raise ConnectionResetError("client gone")

    with pytest.raises(ConnectionResetError):
        await next_event(events, flush)
    assert up.closed
    with pytest.raises(StopAsyncIteration):  # ended, not stuck "already running"
        await events.__anext__()
