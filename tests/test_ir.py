from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daemon.ir import (
    ArgumentsDelta,
    OnePartAtATime,
    Opaque,
    PartEnd,
    PartStart,
    SignatureDelta,
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


def test_assembler_builds_the_final_response() -> None:
    a = StreamAssembler()
    events = [
        StreamStart("m1", "model-x", Usage(input_tokens=10)),
        PartStart(0, ThinkingPart("")),
        ThinkingDelta(0, "hmm "),
        ThinkingDelta(0, "ok"),
        SignatureDelta(0, Opaque("anthropic", "sig1")),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Hel"),
        TextDelta(1, "lo"),
        PartEnd(1),
        PartStart(2, ToolCallPart("c1", "f", "")),
        ArgumentsDelta(2, '{"a"'),
        ArgumentsDelta(2, ":1}"),
        PartEnd(2),
        PartStart(3, ToolCallPart("c2", "g", "")),
        PartEnd(3),
        UsageUpdate(Usage(output_tokens=5)),
        StreamEnd("tool_use", "tool_use", Usage(output_tokens=9)),
    ]
    for ev in events:
        a.feed(ev)
    r = a.response()
    assert r.id == "m1" and r.model == "model-x" and r.finish == "tool_use"
    assert r.parts == [
        ThinkingPart("hmm ok", opaque=Opaque("anthropic", "sig1")),
        TextPart("Hello"),
        ToolCallPart("c1", "f", '{"a":1}'),
        ToolCallPart("c2", "g", "{}"),
    ]
    assert r.usage == Usage(input_tokens=10, output_tokens=9)
    # The events' own parts were not mutated: other consumers may hold them.
    assert events[6] == PartStart(1, TextPart(""))


def test_unfinished_stream_reports_error_finish() -> None:
    a = StreamAssembler()
    a.feed(StreamStart("x", "m"))
    assert not a.finished
    assert a.response().finish == "error"


def test_one_part_at_a_time_holds_a_later_part_until_the_open_one_ends() -> None:
    interleaved = [
        PartStart(0, ToolCallPart("a", "f", "")),
        PartStart(1, ToolCallPart("b", "g", "")),
        ArgumentsDelta(0, "{"),
        ArgumentsDelta(1, "["),
        ArgumentsDelta(0, "}"),
        PartStart(2, ToolCallPart("c", "h", "")),
        ArgumentsDelta(1, "]"),
        PartEnd(0),
        ArgumentsDelta(2, "x"),
        PartEnd(1),
        PartEnd(2),
        StreamEnd("tool_use"),
    ]
    order = OnePartAtATime()
    out = [e for ev in interleaved for e in order.feed(ev)]
    assert [(type(e).__name__, getattr(e, "index", None)) for e in out] == [
        ("PartStart", 0), ("ArgumentsDelta", 0), ("ArgumentsDelta", 0), ("PartEnd", 0),
        ("PartStart", 1), ("ArgumentsDelta", 1), ("ArgumentsDelta", 1), ("PartEnd", 1),
        ("PartStart", 2), ("ArgumentsDelta", 2), ("PartEnd", 2), ("StreamEnd", None),
    ]  # fmt: skip
    # Nothing interleaved: every event passes at once.
    order = OnePartAtATime()
    sequential = [PartStart(0, ToolCallPart("a", "f", "")), ArgumentsDelta(0, "{}"), PartEnd(0)]
    assert [order.feed(ev) for ev in sequential] == [[ev] for ev in sequential]


@st.composite
def _interleaved_calls(draw: st.DrawFn) -> list[StreamEvent]:
    """Tool calls started in index order, their fragments and ends in any order after their start."""
    n = draw(st.integers(1, 4))
    pieces = [draw(st.lists(st.text(min_size=1, max_size=3), max_size=4)) for _ in range(n)]
    queues: list[list[StreamEvent]] = [
        [PartStart(i, ToolCallPart(f"c{i}", "f", "")), *(ArgumentsDelta(i, p) for p in ps), PartEnd(i)]
        for i, ps in enumerate(pieces)
    ]
    out: list[StreamEvent] = []
    started = 0
    while any(queues):
        # The next part may start only after the previous ones have started.
        ready = [i for i, q in enumerate(queues) if q and i <= started]
        i = draw(st.sampled_from(ready))
        started = max(started, i + 1)
        out.append(queues[i].pop(0))
    return out


@given(_interleaved_calls())
def test_one_part_at_a_time_keeps_every_part_whole(events: list[StreamEvent]) -> None:
    stream = [StreamStart("r", "m"), *events, StreamEnd("tool_use")]
    order = OnePartAtATime()
    out = [e for ev in stream for e in order.feed(ev)]
    open_parts: set[int] = set()
    for ev in out:
        if isinstance(ev, PartStart):
            assert not open_parts  # one at a time
            open_parts.add(ev.index)
        elif isinstance(ev, PartEnd):
            open_parts.discard(ev.index)
        elif isinstance(ev, ArgumentsDelta):
            assert ev.index in open_parts
    before, after = StreamAssembler(), StreamAssembler()
    for ev in stream:
        before.feed(ev)
    for ev in out:
        after.feed(ev)
    assert after.response() == before.response()
    assert sorted(map(id, out)) == sorted(map(id, stream))  # nothing lost, nothing made up
