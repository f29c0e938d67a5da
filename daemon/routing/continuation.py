"""An answer cut mid-stream, finished by the next target of the chain (``continue_on_cut``).

With the route's ``continue_on_cut`` on, the answering attempt's events reach the
client through a ``Stitch``. When the stream is cut after content (a reset, a
stall, an in-band error, a malformed frame), the cut attempt is settled as it
stands (health hears of it, it is paid its partial usage) and the chain is
walked again, targets after the cut one first, for a continuation: the request
as the client sent it plus a trailing assistant message holding the text the
client already has (``Request.continues``). Its events join the same answer: its
``StreamStart`` is dropped (its usage kept), its first text continues the
client's open text part, other parts open after the client's, and the start of
its text that repeats the end of the prefix is trimmed. The client sees one
answer, one usage, one finish reason.

Tool calls are never stitched: each call's events are held until the call ends
and then released together. A cut inside a call the client has not seen drops
it (the continuation makes it anew); a cut after a call reached the client ends
as without continuation, with an error. A client that wants the whole answer
gets the stitched one: the chain drains the stitch (``drain``) before the relay
assembles it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Message,
    PartEnd,
    PartStart,
    Request,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallPart,
    Usage,
    UsageUpdate,
)
from daemon.ir.errors import STREAM_CUT
from daemon.ir.stream import fresh
from daemon.routing.failures import Failure, FailureKind, classify
from daemon.routing.lease import Continued, Lease, close, nothing, output_tokens
from daemon.routing.routes import Resolved
from daemon.routing.walk import OnContinued

MIN_OVERLAP = 6  # a shorter repeat of the prefix's end is taken for ordinary text, not trimmed
MAX_BUFFER = 400  # characters of a continuation's start held at most to find the overlap
# The failures that fail over before content; never a client gone, a shutdown, a bad request
# or a structured answer that does not hold (those are not the target's stream breaking).
CONTINUABLE = frozenset(
    {FailureKind.RATE_LIMITED, FailureKind.OVERLOADED, FailureKind.SERVER_ERROR, FailureKind.TIMEOUT,
     FailureKind.CONNECTION, FailureKind.BROKEN_STREAM}
)  # fmt: skip
# The chain's walk for a continuation: the request and the chain to walk, to a lease.
Opener = Callable[[Request, Resolved], Awaitable[Lease]]
_Indexed = PartStart | TextDelta | ThinkingDelta | ArgumentsDelta | SignatureDelta | PartEnd


def continuable(req: Request) -> bool:
    """Whether an answer to ``req`` may be finished elsewhere: not structured output, whose
    check needs the whole answer from one model."""
    return req.response_format is None or not req.response_format.wants_json


class Overlap:
    """The start of a continuation, held until it is clear how much of it repeats the prefix."""

    __slots__ = ("prefix", "buf")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.buf = ""

    def feed(self, text: str) -> str | None:
        """The text to send once decided (maybe empty), None while still deciding."""
        self.buf += text
        p, b = self.prefix, self.buf
        # Still the start of a longer repeat of the prefix's end: wait for more.
        if len(b) < MAX_BUFFER and p.find(b, 0, len(p) - 1) != -1:
            return None
        return self.flush()

    def flush(self) -> str:
        p, b = self.prefix, self.buf
        self.buf = ""
        trim = 0
        # A prefill is sent right-stripped where trailing whitespace is refused (Anthropic), so
        # the continuation may start with the whitespace the client already has.
        space = len(p) - len(p.rstrip())
        if space and b.startswith(p[-space:]):
            trim = space
        for k in range(min(len(b), len(p)), MIN_OVERLAP - 1, -1):
            if p.endswith(b[:k]):
                trim = max(trim, k)
                break
        return b[trim:]


@dataclass(slots=True)
class _View:
    """What the client has received so far."""

    text: list[str] = dataclasses.field(default_factory=list)
    chars: int = 0  # of text and thinking
    call_seen: bool = False
    top: int = -1  # the highest part index sent
    open: dict[int, bool] = dataclasses.field(default_factory=dict)  # open part index -> is text

    def saw(self, ev: StreamEvent) -> None:
        match ev:
            case PartStart():
                self.top = max(self.top, ev.index)
                self.open[ev.index] = isinstance(ev.part, TextPart)
                self.call_seen = self.call_seen or isinstance(ev.part, ToolCallPart)
            case TextDelta():
                self.text.append(ev.text)
                self.chars += len(ev.text)
            case ThinkingDelta():
                self.chars += len(ev.text)
            case PartEnd():
                self.open.pop(ev.index, None)
            case _:
                pass


class Stitch:
    """The answer's events as the client gets them, across cuts and their continuations."""

    def __init__(
        self,
        lease: Lease,
        original: Request,
        resolved: Resolved,
        open_next: Opener,
        on_continued: OnContinued | None,
    ) -> None:
        self.lease = lease
        self._original = original  # as the client sent it, before any target's adaptation
        self._resolved = resolved
        self._open_next = open_next
        self._on_continued = on_continued
        self._view = _View()
        self._queue: list[StreamEvent] = []  # held behind a tool call that has not ended
        self._calls: set[int] = set()  # tool calls held, not ended yet
        self._part = lease  # the attempt whose events flow now
        self._source = lease.rest
        self._ended = False  # the current attempt's StreamEnd came
        # The continuation under way, if any.
        self._map: dict[int, int] | None = None  # its part index -> the client's
        self._next = 0  # the client's next free part index
        self._join: int | None = None  # the client's open text part its first text continues
        self._overlap: Overlap | None = None
        self._overlap_index: int | None = None  # the client's part the overlap is trimmed in
        self._start_usage: Usage | None = None
        self._earlier_out = 0  # output tokens of the cut attempts, added to the client's usage
        lease.held = [out for ev in lease.held for out in self._first(ev)]
        lease.rest = self.events()

    @property
    def took_over(self) -> bool:
        """A cut happened: the lease's attempts are settled through it from now on."""
        return self._map is not None or self.lease.cut_settled

    async def drain(self) -> None:
        """The whole answer, for a client that wants one body: held, rest empty."""
        async with contextlib.aclosing(self.lease.rest):  # type: ignore[type-var]
            async for ev in self.lease.rest:
                self.lease.held.append(ev)
        self.lease.rest = nothing()

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                try:
                    async for ev in self._source:
                        for out in self._feed(ev):
                            yield out
                    if not self._ended:
                        raise ApiError(
                            502, "server_error", "the stream ended before its end", cause=STREAM_CUT
                        )
                    for out in self._release_all():
                        yield out
                    return
                except ApiError as err:
                    cut, failure = err, classify(err)
                    if self._view.call_seen or failure.kind not in CONTINUABLE:
                        raise
                for out in await self._continue(cut, failure):
                    yield out
        finally:
            await close(self._source)

    def _first(self, ev: StreamEvent) -> list[StreamEvent]:
        """An event of the attempt serving now, fed to its meter (held events already are)."""
        if isinstance(ev, StreamEnd):
            self._ended = True
        return self._hold(ev)

    def _feed(self, ev: StreamEvent) -> list[StreamEvent]:
        self._part.meter.feed(ev)
        if self._map is None:
            return self._first(ev)
        return [out for mapped in self._mapped(ev) for out in self._hold(fresh(mapped))]

    def _hold(self, ev: StreamEvent) -> list[StreamEvent]:
        """Tool calls go out whole: from a call's start to its end, everything waits."""
        if isinstance(ev, PartStart) and isinstance(ev.part, ToolCallPart):
            self._calls.add(ev.index)
        if not self._calls:
            self._view.saw(ev)
            return [ev]
        self._queue.append(ev)
        if isinstance(ev, PartEnd):
            self._calls.discard(ev.index)
        if isinstance(ev, StreamEnd | UsageUpdate) or not self._calls:
            return self._release_all()
        return []

    def _release_all(self) -> list[StreamEvent]:
        out, self._queue = self._queue, []
        self._calls.clear()
        for ev in out:
            self._view.saw(ev)
        return out

    def _mapped(self, ev: StreamEvent) -> list[StreamEvent]:
        """A continuation's event as part of the client's answer."""
        assert self._map is not None
        if self._overlap is not None and not (
            isinstance(ev, TextDelta) and self._map.get(ev.index) == self._overlap_index
        ):
            out = self._trimmed(None)
            return [*out, *self._mapped(ev)]
        match ev:
            case StreamStart():
                self._start_usage = ev.usage
                return []
            case PartStart():
                if isinstance(ev.part, TextPart) and self._join is not None:
                    self._map[ev.index], self._join = self._join, None
                    self._watch(self._map[ev.index])
                    return []
                out = self._close_join()
                self._map[ev.index] = self._next
                self._next += 1
                if isinstance(ev.part, TextPart):
                    self._watch(self._map[ev.index])
                return [*out, dataclasses.replace(ev, index=self._map[ev.index])]
            case TextDelta() if self._map.get(ev.index) == self._overlap_index and self._overlap is not None:
                return self._trimmed(ev.text)
            case UsageUpdate():
                return [*self._close_join(), UsageUpdate(self._usage(ev.usage))]
            case StreamEnd():
                self._ended = True
                return [*self._close_join(), dataclasses.replace(ev, usage=self._usage(ev.usage))]
            case _ if isinstance(ev, _Indexed) and ev.index in self._map:
                return [dataclasses.replace(ev, index=self._map[ev.index])]
            case _:
                return []  # a part it never started

    def _watch(self, index: int) -> None:
        """The continuation's first text, in the client's part ``index``: its overlap is trimmed."""
        if self._overlap is None and self._overlap_index is None and self._view.text:
            self._overlap, self._overlap_index = Overlap("".join(self._view.text)), index

    def _trimmed(self, text: str | None) -> list[StreamEvent]:
        assert self._overlap is not None and self._overlap_index is not None
        sent = self._overlap.flush() if text is None else self._overlap.feed(text)
        if sent is None:
            return []
        index = self._overlap_index
        self._overlap = None  # decided: the rest passes as it comes
        return [TextDelta(index, sent)] if sent else []

    def _close_join(self) -> list[StreamEvent]:
        """The continuation opens something else first: the client's text part ends here."""
        if self._join is None:
            return []
        index, self._join = self._join, None
        return [PartEnd(index)]

    def _usage(self, usage: Usage) -> Usage:
        merged = usage if self._start_usage is None else self._start_usage.merge(usage)
        return dataclasses.replace(merged, output_tokens=merged.output_tokens + self._earlier_out)

    async def _continue(self, err: ApiError, failure: Failure) -> list[StreamEvent]:
        """Settle the cut attempt and go on at the next target; raises ``err`` if none can."""
        cut = self._part
        source = cut.target
        await close(self._source)
        self._queue.clear()  # a tool call the client has not seen: the continuation makes it anew
        self._calls.clear()
        self.lease.cut(err)
        if cut.attempt is not None:  # its step says how it ended (``x-detour-attempts``)
            cut.attempt.cut(failure, err.message)
            if not self.lease.attempts.has(cut.attempt):  # a whole answer's: recorded only now
                self.lease.attempts.record(cut.attempt)
        self._earlier_out += output_tokens(cut.meter)
        prefix = "".join(self._view.text)
        req = self._original
        if prefix:
            message = Message("assistant", [TextPart(prefix)])
            req = dataclasses.replace(req, messages=[*req.messages, message], continues=True)
        chain = self._resolved.chain
        at = chain.index(source) if source in chain else len(chain) - 1
        resolved = Resolved(self._resolved.route, chain[at + 1 :] + chain[: at + 1], self._resolved.settings)
        try:
            nxt = await self._open_next(req, resolved)
        except ApiError:
            raise err from None  # no target can continue: the cut ends the answer, as without
        chars = self._view.chars
        self.lease.go_on(Continued(source, nxt.target, chars, str(failure.kind), self._earlier_out, nxt))
        if self._on_continued is not None:
            self._on_continued(source, nxt.target, chars, str(failure.kind))
        self._part, self._source, self._ended = nxt, nxt.rest, False
        self._map, self._next, self._overlap, self._overlap_index = {}, self._view.top + 1, None, None
        self._start_usage = None
        texts = [i for i, is_text in self._view.open.items() if is_text]
        self._join = texts[-1] if texts else None
        # Whatever else the client has open (thinking cut short) ends before the continuation.
        out: list[StreamEvent] = [PartEnd(i) for i in list(self._view.open) if i != self._join]
        for ev in out:
            self._view.saw(ev)
        for ev in nxt.held:  # already in its meter
            out += [o for mapped in self._mapped(ev) for o in self._hold(fresh(mapped))]
        return out
