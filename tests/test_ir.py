from __future__ import annotations

from daemon.ir import (
    ArgumentsDelta,
    Opaque,
    PartEnd,
    PartStart,
    SignatureDelta,
    StreamAssembler,
    StreamEnd,
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
    from daemon.ir import ArgumentsDelta, OnePartAtATime, PartEnd, PartStart, StreamEnd, ToolCallPart

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
