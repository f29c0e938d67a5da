"""Anthropic answers and streams -> IR and back: content, usage, stop reasons, stream events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.formats import anthropic as fmt
from daemon.formats.anthropic_response import decode_usage, encode_usage, tool_name
from daemon.formats.ids import for_anthropic
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    Opaque,
    PartEnd,
    PartStart,
    Response,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    Tool,
    ToolCallPart,
    Usage,
    UsageUpdate,
)
from tests.formats.anthropic.samples import CAPTURE, DOC_RESPONSE, assemble, decode_all, ir_request, parse_sse
from tests.formats.whole import decode as decode_whole


def test_documented_response_round_trips() -> None:
    resp = decode_whole(fmt, DOC_RESPONSE, ir_request())
    assert resp.parts == [
        ThinkingPart("...", opaque=Opaque("anthropic", "EqQB...")),
        TextPart("Checking."),
        ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "get_weather", '{"city":"Paris"}'),
    ]
    assert (resp.finish, resp.raw_finish, resp.usage) == ("tool_use", "tool_use", Usage(21, 6))
    expected = copy.deepcopy(DOC_RESPONSE)
    del expected["stop_details"]
    for key in ("cache_creation", "output_tokens_details", "service_tier"):
        del expected["usage"][key]
    assert fmt.encode_response(resp, ir_request()) == expected


def test_usage_counts_cache_into_input_and_back() -> None:
    wire = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50,
            "output_tokens": 30, "output_tokens_details": {"thinking_tokens": 12}}  # fmt: skip
    usage = decode_usage(wire)
    assert usage == Usage(
        input_tokens=160, output_tokens=30, cache_read_tokens=100, cache_write_tokens=50, reasoning_tokens=12
    )
    assert encode_usage(usage) == wire


@pytest.mark.parametrize(
    ("raw", "finish"),
    [("end_turn", "end"), ("stop_sequence", "stop_sequence"), ("max_tokens", "length"),
     ("model_context_window_exceeded", "length"), ("tool_use", "tool_use"), ("pause_turn", "paused"),
     ("refusal", "refusal"), ("something_new", "other")],
)  # fmt: skip
def test_finish_reasons_both_ways(raw: str, finish: str) -> None:
    resp = decode_whole(fmt, {**DOC_RESPONSE, "stop_reason": raw, "content": []}, ir_request())
    assert (resp.finish, resp.raw_finish) == (finish, raw)
    back = fmt.encode_response(resp, ir_request())["stop_reason"]
    assert back == (raw if raw != "something_new" else "end_turn")


def test_foreign_finish_reasons_encode() -> None:
    call = ToolCallPart("call.1", "f", "")
    cases = [("end", [call], "tool_use"), ("content_filter", [], "refusal"), ("length", [], "max_tokens")]
    for finish, parts, expected in cases:
        body = fmt.encode_response(Response("r", "gpt", list(parts), finish, raw_finish="stop"), ir_request())  # type: ignore[arg-type]
        assert body["stop_reason"] == expected
    body = fmt.encode_response(Response("r", "gpt", [call], "tool_use"), ir_request())
    assert body["content"] == [{"type": "tool_use", "id": for_anthropic("call.1"), "name": "f", "input": {}}]


def test_renamed_tools_come_back_under_the_clients_name() -> None:
    req = ir_request(tools=[Tool("fs.read")])
    body = {
        **DOC_RESPONSE,
        "content": [{"type": "tool_use", "id": "toolu_1", "name": tool_name("fs.read"), "input": {}}],
    }
    assert decode_whole(fmt, body, req).parts == [ToolCallPart("toolu_1", "fs.read", "{}")]


def test_malformed_answers_are_upstream_errors() -> None:
    with pytest.raises(ApiError) as e:
        decode_whole(
            fmt, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, ir_request()
        )
    assert (e.value.status, e.value.kind) == (529, "overloaded")
    with pytest.raises(ApiError) as e:
        decode_whole(fmt, ["not", "a", "message"], ir_request())
    assert (e.value.status, e.value.kind) == (502, "server_error")


def test_server_tool_blocks_in_an_answer_are_skipped() -> None:
    body = {**DOC_RESPONSE, "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "text", "text": "Done."}]}  # fmt: skip
    parts = decode_whole(fmt, body, ir_request()).parts
    assert parts == [
        ThinkingPart("", opaque=Opaque("anthropic", "EmwKAhgB"), redacted="EmwKAhgB"),
        TextPart("Done."),
    ]


def test_capture_decodes_in_ir_order() -> None:
    events = decode_all(CAPTURE)  # type: ignore[arg-type]
    assert events == [
        StreamStart("msg_01GE2RKp1VYsPzdFs3sS9z5S", "claude-sonnet-4-5-20250929", Usage(565, 7)),
        PartStart(0, TextPart("")),
        TextDelta(0, "I'll update the issue list for"),
        PartEnd(0),
        PartStart(1, ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "")),
        PartEnd(1),
        UsageUpdate(Usage(565, 48)),
        StreamEnd("tool_use", "tool_use", Usage(565, 48)),
    ]
    resp = assemble(events)
    assert resp.parts[1] == ToolCallPart("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", "{}")
    assert (resp.finish, resp.usage) == ("tool_use", Usage(565, 48))


def thinking_stream() -> list[tuple[str | None, Any]]:
    def delta(i: int, d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}

    def start(i: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": i, "content_block": block}

    def stop(i: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": i}

    return [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "claude-opus-4-8",
         "usage": {"input_tokens": 5, "cache_read_input_tokens": 1000, "output_tokens": 1}}}),
        start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        delta(0, {"type": "thinking_delta", "thinking": "think."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBsig"}),
        stop(0),
        start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"q":1}'}),
        stop(1),
        ("ping", {"type": "ping"}),
        start(2, {"type": "redacted_thinking", "data": "EmwKAhgB"}),
        stop(2),
        ("content_block_meta", {"type": "content_block_meta", "index": 2}),
        start(3, {"type": "text", "text": ""}),
        delta(3, {"type": "text_delta", "text": "Hello"}),
        delta(3, {"type": "citations_delta", "citation": {}}),
        stop(3),
        start(4, {"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {}}),
        delta(4, {"type": "input_json_delta", "partial_json": ""}),
        delta(4, {"type": "input_json_delta", "partial_json": '{"file_path":'}),
        delta(4, {"type": "input_json_delta", "partial_json": '"a.py"}'}),
        stop(4),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 40, "output_tokens_details": {"thinking_tokens": 20}}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


def test_thinking_stream_skips_unknown_blocks_and_renumbers() -> None:
    events = decode_all(thinking_stream())
    starts = [ev for ev in events if isinstance(ev, PartStart)]
    assert [s.index for s in starts] == [0, 1, 2, 3]
    assert SignatureDelta(0, Opaque("anthropic", "EqQBsig")) in events
    resp = assemble(events)
    assert resp.parts == [
        ThinkingPart("Let me think.", opaque=Opaque("anthropic", "EqQBsig")),
        ThinkingPart("", opaque=Opaque("anthropic", "EmwKAhgB"), redacted="EmwKAhgB"),
        TextPart("Hello"),
        ToolCallPart("toolu_9", "Read", '{"file_path":"a.py"}'),
    ]
    # message_delta omitted input and cache counts: the message_start values stand.
    assert resp.usage == Usage(
        input_tokens=1005, output_tokens=40, cache_read_tokens=1000, reasoning_tokens=20
    )


@pytest.mark.parametrize("frames", [CAPTURE, thinking_stream()], ids=["capture", "thinking"])
def test_stream_reencodes_to_the_same_events(frames: list[tuple[str | None, Any]]) -> None:
    events = decode_all(frames)
    enc = fmt.stream_encoder(ir_request())
    raw = b"".join(enc.feed(ev) for ev in events)
    again = decode_all(parse_sse(raw))
    # The re-encoding carries usage in full on message_delta, so only the final report differs.
    strip = [ev for ev in events if not isinstance(ev, UsageUpdate)]
    assert [ev for ev in again if not isinstance(ev, UsageUpdate)] == strip


def test_encoder_puts_the_signature_last_and_drops_gemini_ones() -> None:
    enc = fmt.stream_encoder(ir_request())
    events: list[StreamEvent] = [
        StreamStart("r1", "gemini-3-pro"),
        PartStart(0, ThinkingPart("", opaque=Opaque("anthropic", "early"))),
        ThinkingDelta(0, "hmm"),
        PartEnd(0),
        PartStart(1, TextPart("")),
        TextDelta(1, "Hi"),
        SignatureDelta(1, Opaque("anthropic", "gemini-text-sig")),
        PartEnd(1),
        PartStart(2, ToolCallPart("read_file_17_0", "read_file", "")),
        ArgumentsDelta(2, '{"a":1}'),
        PartEnd(2),
        StreamEnd("end", "STOP", Usage(10, 5)),
    ]
    frames = parse_sse(b"".join(enc.feed(ev) for ev in events))
    names = [e for e, _ in frames]
    assert names[:5] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ]
    assert frames[3][1]["delta"] == {"type": "signature_delta", "signature": "early"}
    assert not any(d.get("delta", {}).get("signature") == "gemini-text-sig" for _, d in frames)
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"  # calls came back: agents loop on it
    assert frames[-1] == ("message_stop", {"type": "message_stop"})


@pytest.mark.parametrize(
    ("etype", "message", "status", "kind"),
    [("overloaded_error", "Overloaded", 529, "overloaded"), ("rate_limit_error", "slow down", 429, "rate_limit"),
     ("api_error", "Internal server error", 500, "server_error"), ("timeout_error", "late", 504, "timeout"),
     ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", 400, "context_too_long"),
     ("brand_new_error", "?", 500, "server_error")],
)  # fmt: skip
def test_in_band_error_raises(etype: str, message: str, status: int, kind: str) -> None:
    frames = CAPTURE[:3] + [("error", {"type": "error", "error": {"type": etype, "message": message}})]
    with pytest.raises(ApiError) as e:
        decode_all(frames)  # type: ignore[arg-type]
    assert (e.value.status, e.value.kind, e.value.message) == (status, kind, message)


def test_stream_cut_before_message_stop() -> None:
    dec = fmt.stream_decoder(ir_request())
    for event, data in CAPTURE[:-1]:
        dec.feed(event, data)
    with pytest.raises(ApiError) as e:
        dec.close()
    assert (e.value.status, e.value.kind) == (502, "server_error")


def test_encoder_error_frame() -> None:
    raw = fmt.stream_encoder(ir_request()).error(ApiError(529, "overloaded", "Overloaded"))
    assert parse_sse(raw) == [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    ]
