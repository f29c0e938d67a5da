"""An answer cut mid-stream, finished by the next target (``continue_on_cut``), against the IR:
in-process providers that stream scripted events, no network."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from daemon.config import ProviderConfig, RouteSettings, Target
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Message,
    PartEnd,
    PartStart,
    Request,
    Response,
    StreamAssembler,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    Usage,
    UsageUpdate,
)
from daemon.providers.base import Provider
from daemon.routing import failures as f
from daemon.routing.chain import Chain, Lease, Meter, Walk
from daemon.routing.continuation import MIN_OVERLAP, Overlap
from daemon.routing.routes import Resolved
from daemon.telemetry.bus import Bus
from daemon.telemetry.schema import Event
from daemon.telemetry.trace import Telemetry
from tests.routing.test_chain import Heard

Step = StreamEvent | ApiError
RESET = ApiError(502, "server_error", "connection reset", cause=f.CONNECTION_RESET)
CUT = ApiError(502, "server_error", "the stream ended early", cause=f.STREAM_CUT)
IN_BAND = ApiError(529, "overloaded", "Overloaded", cause=f.IN_BAND)
ANSWER = "The quick brown fox jumps over the lazy dog, and then it rests."
REQ = Request("route", [Message("user", [TextPart("tell me")])], max_tokens=1000)


class Streams(Provider):
    """Streams one script per call (a StreamEvent is yielded, an ApiError raised), and keeps
    the requests it was sent."""

    def __init__(self, pid: str, *scripts: list[Step]) -> None:
        super().__init__(ProviderConfig(id=pid, kind="openai", base_url="", timeout_first_byte_s=1))
        self.scripts = list(scripts)
        self.requests: list[Request] = []

    @property
    def usable(self) -> bool:
        return True

    async def stream(self, req: Request, model: str) -> AsyncIterator[StreamEvent]:
        self.requests.append(req)
        for step in self.scripts.pop(0) if self.scripts else text(f"from {self.id}"):
            if isinstance(step, ApiError):
                raise step
            yield step


def text(answer: str, *, cut: int | None = None, error: ApiError = RESET, first: int = 0) -> list[Step]:
    """A text answer in deltas of 5 characters, cut with ``error`` after ``cut`` of them."""
    sent = answer if cut is None else answer[:cut]
    steps: list[Step] = [StreamStart("r", "m", Usage(input_tokens=10)), PartStart(first, TextPart(""))]
    steps += [TextDelta(first, sent[i : i + 5]) for i in range(0, len(sent), 5)]
    if cut is not None:
        return [*steps, error]
    return [*steps, PartEnd(first), StreamEnd("end", usage=Usage(input_tokens=10, output_tokens=20))]


def chain_of(*providers: Streams, on: bool = True, health: Any = None) -> tuple[Chain, Resolved]:
    chain = Chain({p.id: p for p in providers}, health or Heard())
    targets = tuple(Target(p.id, "m") for p in providers)
    settings = RouteSettings(name="r", chain=targets, max_wait_s=0, continue_on_cut=on)
    return chain, Resolved("r", targets, settings)


async def streamed(lease: Lease) -> tuple[list[StreamEvent], ApiError | None]:
    """What the relay does for a streaming client: every event, then one finish."""
    events, meter, failed = list(lease.held), Meter(), None
    try:
        async for ev in lease.rest:
            events.append(ev)
    except ApiError as err:
        failed = err
    for ev in events:
        meter.feed(ev)
    lease.finish(meter.usage, failed, complete=meter.complete, relayed_chars=meter.chars)
    return events, failed


def assembled(events: list[StreamEvent]) -> Response:
    assembler = StreamAssembler()
    for ev in events:
        assembler.feed(ev)
    return assembler.response()


def ordered(events: list[StreamEvent]) -> None:
    """The IR's order: one start, parts opened in index order and each ended once, then the end."""
    assert isinstance(events[0], StreamStart) and isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamStart | StreamEnd) for e in events) == 2
    starts = [e.index for e in events if isinstance(e, PartStart)]
    ends = [e.index for e in events if isinstance(e, PartEnd)]
    assert starts == sorted(starts) == list(range(len(starts))) and sorted(ends) == starts


def attempts(lease: Lease) -> list[str]:
    return [str(a) for a in lease.attempts]


@pytest.mark.parametrize("error", [RESET, IN_BAND], ids=["reset", "in_band"])
async def test_a_stream_cut_after_text_is_finished_by_the_next_target(error: ApiError) -> None:
    a = Streams("a", text(ANSWER, cut=40, error=error))
    b = Streams("b", text(ANSWER[40:]))
    chain, resolved = chain_of(a, b)
    heard: list[tuple[str, str, int, str]] = []
    walk = Walk(None, lambda s, t, n, r: heard.append((str(s), str(t), n, r)))
    lease = await chain.open(REQ, resolved, walk=walk)
    events, failed = await streamed(lease)
    assert failed is None
    ordered(events)
    assert assembled(events).parts == [TextPart(ANSWER)]
    assert sum(isinstance(e, PartStart) for e in events) == 1  # the same text block, continued
    (to_b,) = b.requests
    assert to_b.continues and to_b.messages[:-1] == REQ.messages
    assert to_b.messages[-1] == Message("assistant", [TextPart(ANSWER[:40])])
    kind = str(f.classify(error).kind)
    assert heard == [("a/m", "b/m", 40, kind)]
    assert attempts(lease) == [f"a/m:{f.classify(error).label}", "b/m:ok"]
    assert lease.target == Target("b", "m") and lease.continued is not None
    assert lease.continued.source == Target("a", "m") and lease.continued.chars == 40
    assert chain.health.heard == [("a", kind), ("b", "success")]  # type: ignore[attr-defined]
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.usage.output_tokens == 20 + 14  # b's and a's 40 chars


async def test_a_whole_answer_cut_after_text_is_continued_not_retried() -> None:
    a = Streams("a", text(ANSWER, cut=40))
    b = Streams("b", text(ANSWER[40:]))
    chain, resolved = chain_of(a, b)
    lease = await chain.open(REQ, resolved, whole=True)
    ordered(lease.held)
    assert assembled(lease.held).parts == [TextPart(ANSWER)]
    assert [r.continues for r in b.requests] == [True]
    assert attempts(lease) == ["a/m:connection_reset", "b/m:ok"]
    assert [ev async for ev in lease.rest] == []
    lease.finish(Usage())
    assert chain.health.heard == [("a", "connection"), ("b", "success")]  # type: ignore[attr-defined]


async def test_without_continue_on_cut_a_cut_ends_the_stream_as_before() -> None:
    a = Streams("a", text(ANSWER, cut=40, error=CUT))
    b = Streams("b", text(ANSWER[40:]))
    chain, resolved = chain_of(a, b, on=False)
    events, failed = await streamed(await chain.open(REQ, resolved))
    assert failed is not None and failed.cause == f.STREAM_CUT and b.requests == []
    assert assembled(events).parts == [TextPart(ANSWER[:40])]
    # A whole answer is retried whole, from the start.
    a.scripts.append(text(ANSWER, cut=40, error=CUT))
    lease = await chain.open(REQ, resolved, whole=True)
    assert [r.continues for r in b.requests] == [False]
    assert assembled(lease.held).parts == [TextPart(ANSWER[40:])]


async def test_the_overlap_a_continuation_repeats_is_trimmed() -> None:
    a = Streams("a", text(ANSWER, cut=40))
    b = Streams("b", text(ANSWER[40 - 9 :]))  # repeats the last 9 characters it was given
    chain, resolved = chain_of(a, b)
    events, _ = await streamed(await chain.open(REQ, resolved))
    assert assembled(events).parts == [TextPart(ANSWER)]


def test_overlap_rules() -> None:
    prefix = "The quick brown fox "

    def trimmed(*pieces: str) -> str:
        o, out = Overlap(prefix), list[str]()
        for piece in pieces:
            sent = o.feed(piece)
            if sent is not None:
                return sent + "".join(pieces[len(out) + 1 :])
            out.append(piece)
        return o.flush()

    assert trimmed("jumps over") == "jumps over"
    assert trimmed(" jumps over") == "jumps over"  # the whitespace a right-stripped prefill left out
    assert trimmed("n fox jumps") == "jumps"  # a repeat of the prefix's end, whole
    assert trimmed("ro", "wn f", "ox jumps") == "jumps"  # decided only once it can be
    assert MIN_OVERLAP > len("fox ") and trimmed("fox ju", "mps") == "fox jumps"  # too short to trim
    assert trimmed("x ", "again") == "x again"  # too short a repeat to be one: ordinary text
    assert trimmed("quick") == "quick"  # the end of a short answer: sent as it is


async def test_a_cut_inside_an_unseen_tool_call_is_made_anew_whole_once() -> None:
    call = ToolCallPart("call_1", "get_weather", "")
    a_steps: list[Step] = [
        *text("Let me check.")[:-2],
        PartEnd(0),
        PartStart(1, call),
        ArgumentsDelta(1, '{"city": "Pa'),
        RESET,
    ]
    b_steps: list[Step] = [
        StreamStart("r2", "m"),
        PartStart(0, ToolCallPart("call_b", "get_weather", "")),
        ArgumentsDelta(0, '{"city": "Paris"}'),
        PartEnd(0),
        StreamEnd("tool_use"),
    ]
    a, b = Streams("a", a_steps), Streams("b", b_steps)
    chain, resolved = chain_of(a, b)
    events, failed = await streamed(await chain.open(REQ, resolved))
    assert failed is None
    ordered(events)
    resp = assembled(events)
    assert resp.parts == [
        TextPart("Let me check."),
        ToolCallPart("call_b", "get_weather", '{"city": "Paris"}'),
    ]
    assert resp.finish == "tool_use"
    assert b.requests[0].messages[-1] == Message("assistant", [TextPart("Let me check.")])
    # Nothing of a's call reached the client, not even its start.
    calls = [e.part for e in events if isinstance(e, PartStart) and isinstance(e.part, ToolCallPart)]
    assert [c.id for c in calls] == ["call_b"]


async def test_a_cut_after_a_tool_call_reached_the_client_ends_with_an_error() -> None:
    a_steps: list[Step] = [
        StreamStart("r", "m"),
        PartStart(0, ToolCallPart("call_1", "get_weather", "")),
        ArgumentsDelta(0, '{"city": "Paris"}'),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Checking now"),
        RESET,
    ]
    a, b = Streams("a", a_steps), Streams("b")
    chain, resolved = chain_of(a, b)
    events, failed = await streamed(await chain.open(REQ, resolved))
    assert failed is not None and failed.cause == f.CONNECTION_RESET and b.requests == []
    assert [type(e).__name__ for e in events[1:4]] == ["PartStart", "ArgumentsDelta", "PartEnd"]  # whole
    assert chain.health.heard == [("a", "connection")]  # type: ignore[attr-defined]


async def test_a_cut_during_thinking_is_answered_afresh_after_the_closed_thinking() -> None:
    a_steps: list[Step] = [
        StreamStart("r", "m"),
        PartStart(0, ThinkingPart("")),
        ThinkingDelta(0, "Let me think about "),
        IN_BAND,
    ]
    b = Streams("b", text(ANSWER))
    a = Streams("a", a_steps)
    chain, resolved = chain_of(a, b)
    lease = await chain.open(REQ, resolved)
    events, failed = await streamed(lease)
    assert failed is None
    ordered(events)
    assert assembled(events).parts == [ThinkingPart("Let me think about "), TextPart(ANSWER)]
    (to_b,) = b.requests
    assert not to_b.continues and to_b.messages == REQ.messages  # no prefix: an answer afresh
    assert lease.continued is not None and lease.continued.chars == len("Let me think about ")


async def test_no_target_to_continue_ends_with_the_cut_as_before() -> None:
    boom = ApiError(500, "server_error", "boom")
    a = Streams("a", text(ANSWER, cut=40), [boom])  # the cut target is tried last
    b = Streams("b", [boom])
    chain, resolved = chain_of(a, b)
    events, failed = await streamed(await chain.open(REQ, resolved))
    assert failed is not None and failed.cause == f.CONNECTION_RESET
    assert assembled(events).parts == [TextPart(ANSWER[:40])]
    # a told of its cut once, each continuation of its failure; no second verdict at the finish.
    heard = chain.health.heard  # type: ignore[attr-defined]
    assert heard == [("a", "connection"), ("b", "server_error"), ("a", "server_error")]


async def test_a_bad_request_or_invalid_answer_is_never_continued() -> None:
    bad = ApiError(400, "invalid_request", "no")
    a, b = Streams("a", text(ANSWER, cut=40, error=bad)), Streams("b")
    chain, resolved = chain_of(a, b)
    _, failed = await streamed(await chain.open(REQ, resolved))
    assert failed is bad and b.requests == []


async def test_a_continuation_cut_again_goes_on_at_the_next() -> None:
    a = Streams("a", text(ANSWER, cut=20))
    b = Streams("b", text(ANSWER[20:], cut=20))
    c = Streams("c", text(ANSWER[40:]))
    chain, resolved = chain_of(a, b, c)
    lease = await chain.open(REQ, resolved)
    events, failed = await streamed(lease)
    assert failed is None and assembled(events).parts == [TextPart(ANSWER)]
    assert c.requests[0].messages[-1] == Message("assistant", [TextPart(ANSWER[:40])])
    assert attempts(lease) == ["a/m:connection_reset", "b/m:connection_reset", "c/m:ok"]
    heard = chain.health.heard  # type: ignore[attr-defined]
    assert heard == [("a", "connection"), ("b", "connection"), ("c", "success")]


async def test_usage_of_the_continuation_start_is_kept_without_a_second_start() -> None:
    b_steps = text(ANSWER[40:])
    b_steps[0] = StreamStart("r2", "m", Usage(input_tokens=99))
    b_steps[-1] = StreamEnd("end", usage=Usage(output_tokens=7))
    a, b = Streams("a", text(ANSWER, cut=40)), Streams("b", b_steps)
    chain, resolved = chain_of(a, b)
    events, _ = await streamed(await chain.open(REQ, resolved))
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.usage == Usage(input_tokens=99, output_tokens=7 + 14)
    assert not any(isinstance(e, UsageUpdate) for e in events)


async def test_telemetry_tells_of_the_continuation_and_prices_it_against_a_whole_answer() -> None:
    bus, seen = Bus(), list[Event]()
    bus.listen(seen.append)
    tel = Telemetry(bus, None)
    tel.price = lambda target, usage: usage.input_tokens * 1e-6 + usage.output_tokens * 1e-5
    a = Streams("a", text(ANSWER, cut=40, error=IN_BAND))
    b = Streams("b", text(ANSWER[40:]))
    chain, resolved = chain_of(a, b)
    trace = tel.begin(
        session="s", route="r", fmt="anthropic", requested="r", stream=True, primary=Target("a", "m")
    )
    walk = Walk(functools.partial(tel.attempt, trace), functools.partial(tel.continued, trace))
    lease = await chain.open(REQ, resolved, walk=walk)
    events, _ = await streamed(lease)
    tel.finish(trace, lease.attempts, target=lease.target, usage=Usage(), continued=lease.continued)
    (continued,) = [dict(e) for e in seen if e["type"] == "continued"]
    assert {k: v for k, v in continued.items() if k != "ts"} == {
        "type": "continued", "session": "s", "id": trace.id, "route": "r",
        "from": "a/m", "to": "b/m", "chars": 40, "reason": "overloaded",
    }  # fmt: skip
    (response,) = [dict(e) for e in seen if e["type"] == "response"]
    assert response["attempts"] == "a/m:in_band,b/m:ok" and response["target"] == "b/m"
    # b reported 10 in and 20 out; the 40 characters it was given count 14 more out for a retry.
    assert response["continued"] == {
        "from": "a/m",
        "to": "b/m",
        "chars": 40,
        "cost_usd": 0.0,
        "retry_usd": round(10e-6 + 34e-5, 8),
    }
