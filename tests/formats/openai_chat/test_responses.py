"""OpenAI answers and streams -> IR and back: messages, tool calls, finish reasons, usage, chunks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from daemon.formats import openai_chat as fmt
from daemon.formats.openai_chat_stream import decode_usage, encode_usage, wire_name
from daemon.ir import (
    ApiError,
    ArgumentsDelta,
    PartEnd,
    PartStart,
    Response,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    Usage,
    UsageUpdate,
)
from tests.formats.openai_chat.samples import (
    DOC_REQUEST,
    DOC_RESPONSE,
    assemble,
    decode_all,
    full_stream,
    ir_request,
    parse_sse,
)
from tests.formats.whole import decode as decode_whole


def test_documented_response_decodes_and_round_trips() -> None:
    req = fmt.decode_request(DOC_REQUEST)
    resp = decode_whole(fmt, DOC_RESPONSE, req)
    assert resp == Response(
        "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0", "gpt-4.1-nano-2025-04-14",
        [ToolCallPart("call_abc123", "get_weather", '{"city":"Paris"}')], "tool_use", "tool_calls",
        Usage(input_tokens=16, output_tokens=300),
    )  # fmt: skip
    wire = fmt.encode_response(resp, req)
    expected = copy.deepcopy(DOC_RESPONSE)
    for key in ("service_tier", "system_fingerprint", "created"):
        expected.pop(key)
    assert {k: v for k, v in wire.items() if k != "created"} == {
        **expected,
        "usage": {"prompt_tokens": 16, "completion_tokens": 300, "total_tokens": 316,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
    }  # fmt: skip
    assert isinstance(wire["created"], int)
    assert decode_whole(fmt, wire, req) == resp


def message_answer(message: dict[str, Any], finish: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        **kw,
    }


@pytest.mark.parametrize(
    ("message", "raw", "finish"),
    [
        ({"content": "hi"}, "stop", "end"),
        ({"content": "hi"}, "length", "length"),
        ({"content": None}, "content_filter", "content_filter"),
        ({"content": "hi"}, "weird", "other"),
        ({"content": None, "refusal": "I can't help."}, "stop", "refusal"),
        # A named forced tool_choice answers "stop" although it called the tool.
        (
            {"tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "stop",
            "tool_use",
        ),
        (
            {"tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "length",
            "length",
        ),
    ],
)
def test_finish_reasons(message: dict[str, Any], raw: str, finish: str) -> None:
    resp = decode_whole(fmt, message_answer(message, raw), ir_request())
    assert (resp.finish, resp.raw_finish) == (finish, raw)
    assert fmt.encode_response(resp, ir_request())["choices"][0]["finish_reason"] == (
        raw if raw != "weird" else "stop"
    )


def test_foreign_finish_reasons_encode() -> None:
    for finish, raw, wire in [("end", "end_turn", "stop"), ("tool_use", "tool_use", "tool_calls"),
                              ("length", "MAX_TOKENS", "length"), ("refusal", "refusal", "content_filter"),
                              ("paused", "pause_turn", "stop"), ("content_filter", "SAFETY", "content_filter")]:  # fmt: skip
        body = fmt.encode_response(Response("msg_1", "claude", [TextPart("x")], finish, raw), ir_request())  # type: ignore[arg-type]
        assert body["choices"][0]["finish_reason"] == wire
        assert body["id"] == "chatcmpl-msg_1"


def test_refusal_goes_in_its_own_field() -> None:
    resp = decode_whole(fmt, message_answer({"content": None, "refusal": "No."}, "stop"), ir_request())
    message = fmt.encode_response(resp, ir_request())["choices"][0]["message"]
    assert (message["content"], message["refusal"]) == (None, "No.")


def test_usage_both_ways() -> None:
    usage = Usage(
        input_tokens=1200,
        output_tokens=80,
        cache_read_tokens=1000,
        cache_write_tokens=50,
        reasoning_tokens=30,
    )
    wire = encode_usage(usage)
    assert wire == {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
                    "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 50},
                    "completion_tokens_details": {"reasoning_tokens": 30}}  # fmt: skip
    assert decode_usage(wire) == usage
    deepseek = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }
    assert decode_usage(deepseek) == Usage(input_tokens=100, output_tokens=5, cache_read_tokens=64)
    assert decode_usage(None) == Usage()


def test_answer_with_reasoning_renamed_tools_and_no_ids() -> None:
    req = ir_request(tools=[Tool("mcp.fs.read")])
    call = {"type": "function", "function": {"name": wire_name("mcp.fs.read"), "arguments": ""}}
    body = message_answer(
        {"reasoning_content": "hmm", "content": "Reading.", "tool_calls": [call]}, "tool_calls"
    )
    resp = decode_whole(fmt, body, req)
    assert resp.parts[0] == ThinkingPart("hmm") and resp.parts[1] == TextPart("Reading.")
    tool = resp.parts[2]
    assert isinstance(tool, ToolCallPart) and (tool.name, tool.arguments) == ("mcp.fs.read", "{}")
    assert tool.id and tool.id == decode_whole(fmt, body, req).parts[2].id  # type: ignore[union-attr]
    message = fmt.encode_response(resp, req)["choices"][0]["message"]
    assert (
        message["reasoning_content"] == "hmm"
        and message["tool_calls"][0]["function"]["name"] == "mcp.fs.read"
    )


def test_content_as_an_array_of_parts() -> None:
    """Some compatible servers (Mistral) answer with content parts instead of a string."""
    parts = [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]
    resp = decode_whole(fmt, message_answer({"content": parts}, "stop"), ir_request())
    assert resp.parts == [TextPart("Hello")]
    events = decode_all([chunk({"content": parts}), chunk({}, "stop"), "[DONE]"])
    assert assemble(events).parts == [TextPart("Hello")]


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"error": {"message": "boom", "type": "server_error"}}, 500, "server_error"),
        ([1], 502, "server_error"),
    ],
)
def test_bad_answers_raise(body: Any, status: int, kind: str) -> None:
    with pytest.raises(ApiError) as e:
        decode_whole(fmt, body, ir_request())
    assert (e.value.status, e.value.kind) == (status, kind)


CHUNK = {
    "id": "chatcmpl-D8Z5",
    "object": "chat.completion.chunk",
    "created": 1770933892,
    "model": "gpt-4.1-nano",
}


def chunk(delta: dict[str, Any], finish: str | None = None, **kw: Any) -> dict[str, Any]:
    return {
        **CHUNK,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **kw,
    }


USAGE = {"prompt_tokens": 16, "completion_tokens": 300, "total_tokens": 316,
         "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip


# WIRE_FORMATS.md §2.4: the text capture, then the tool-call deltas.
TEXT_CAPTURE = [
    chunk({"role": "assistant", "content": "", "refusal": None}, usage=None, obfuscation="Qup1BsQ3"),
    chunk({"content": "Hello"}, usage=None),
    chunk({"content": " world"}, usage=None),
    chunk({}, "stop", usage=None),
    {**CHUNK, "choices": [], "usage": USAGE},
    "[DONE]",
]


TOOL_CAPTURE = [
    chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}),
    chunk({}, "tool_calls"),
    "[DONE]",
]  # fmt: skip


def test_text_capture_decodes_in_ir_order() -> None:
    assert decode_all(TEXT_CAPTURE) == [
        StreamStart("chatcmpl-D8Z5", "gpt-4.1-nano"),
        PartStart(0, TextPart("")),
        TextDelta(0, "Hello"),
        TextDelta(0, " world"),
        PartEnd(0),
        UsageUpdate(Usage(input_tokens=16, output_tokens=300)),
        StreamEnd("end", "stop", Usage(input_tokens=16, output_tokens=300)),
    ]


def test_tool_capture_keeps_each_call_open_until_the_finish() -> None:
    # A later fragment may still come for the first call (OpenAI interleaves parallel calls).
    events = decode_all(TOOL_CAPTURE)
    assert events == [
        StreamStart("chatcmpl-D8Z5", "gpt-4.1-nano"),
        PartStart(0, ToolCallPart("call_1", "get_weather", "")),
        ArgumentsDelta(0, '{"city":'),
        ArgumentsDelta(0, '"Paris"}'),
        PartStart(1, ToolCallPart("call_2", "get_weather", "")),
        ArgumentsDelta(1, '{"city":"Rome"}'),
        PartEnd(0),
        PartEnd(1),
        StreamEnd("tool_use", "tool_calls", Usage()),
    ]
    resp = assemble(events)
    assert [p.arguments for p in resp.parts] == ['{"city":"Paris"}', '{"city":"Rome"}']  # type: ignore[union-attr]


def test_deepseek_reasoning_stream_and_named_choice_quirk() -> None:
    frames = [
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
        chunk({"content": None, "reasoning_content": "Think"}),
        chunk({"content": None, "reasoning_content": "ing."}),
        chunk({"content": "Calling."}),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 20, "prompt_cache_hit_tokens": 8,
                                 "completion_tokens_details": {"reasoning_tokens": 12}}),
    ]  # fmt: skip
    events = decode_all(frames)  # no [DONE]: a finish reason is a proper end
    resp = assemble(events)
    assert resp.parts == [ThinkingPart("Thinking."), TextPart("Calling."), ToolCallPart("c1", "f", "{}")]
    assert (resp.finish, resp.raw_finish) == ("tool_use", "stop")
    assert resp.usage == Usage(input_tokens=10, output_tokens=20, cache_read_tokens=8, reasoning_tokens=12)


def test_calls_told_apart_by_id_renamed_back_and_without_ids() -> None:
    req = ir_request(tools=[Tool("a.b")])
    frames = [
        chunk({"tool_calls": [{"index": 0, "id": "x1", "function": {"name": wire_name("a.b"), "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "x1", "function": {"arguments": ""}}]}),  # the same id again
        chunk({"tool_calls": [{"index": 0, "id": "x2", "function": {"name": "g", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "}"}}]}),  # no index at all
        chunk({"tool_calls": [{"index": 1, "function": {"name": "h", "arguments": ""}}]}),  # no id
        chunk({}, "tool_calls"),
        "[DONE]",
    ]  # fmt: skip
    resp = assemble(decode_all(frames, req))
    assert [(p.id, p.name, p.arguments) for p in resp.parts][:2] == [("x1", "a.b", "{}"), ("x2", "g", "{}")]  # type: ignore[union-attr]
    third = resp.parts[2]
    assert isinstance(third, ToolCallPart) and third.name == "h" and third.id.startswith("call_")


def test_refusal_stream_and_usage_on_every_chunk() -> None:
    small = {"prompt_tokens": 5, "completion_tokens": 1}
    frames = [chunk({"role": "assistant", "refusal": "I can"}, usage=small), chunk({"refusal": "not."}, usage=small),
              chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 3}), "[DONE]"]  # fmt: skip
    events = decode_all(frames)
    assert [type(e).__name__ for e in events] == [
        "StreamStart", "PartStart", "TextDelta", "TextDelta", "PartEnd", "UsageUpdate", "StreamEnd"]  # fmt: skip
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish == "refusal" and end.usage.output_tokens == 3


INTERLEAVED = [
    chunk({"role": "assistant", "content": None,
           "tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"y": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": "2}"}}]}),
    chunk({}, "tool_calls"),
    "[DONE]",
]  # fmt: skip


def test_interleaved_tool_call_fragments_go_to_their_own_calls() -> None:
    events = decode_all(INTERLEAVED)
    calls = [p for p in assemble(events).parts if isinstance(p, ToolCallPart)]
    assert [(p.id, p.name, p.arguments) for p in calls] == [("a", "f", '{"x": 1}'), ("b", "g", '{"y": 2}')]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish == "tool_use"
    # Both stay open until the finish; each fragment names its own part.
    assert [(type(e).__name__, getattr(e, "index", None)) for e in events[1:-1]] == [
        ("PartStart", 0), ("PartStart", 1), ("ArgumentsDelta", 0), ("ArgumentsDelta", 1),
        ("ArgumentsDelta", 0), ("ArgumentsDelta", 1), ("PartEnd", 0), ("PartEnd", 1),
    ]  # fmt: skip


def test_arguments_for_a_call_that_ended_are_refused() -> None:
    frames = [
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}),
        chunk({"content": "and some text"}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
    ]  # fmt: skip
    with pytest.raises(ApiError) as e:
        decode_all(frames)
    assert e.value.status == 502 and "after it had ended" in e.value.message


@pytest.mark.parametrize("frames", [TEXT_CAPTURE[:3], [], ["[DONE]"]])
def test_stream_cut_before_its_end(frames: list[Any]) -> None:
    with pytest.raises(ApiError) as e:
        decode_all(frames)
    assert (e.value.status, e.value.kind) == (502, "server_error") and "cut" in e.value.message


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (
            {"message": "The server had an error", "type": "server_error", "param": None, "code": None},
            500,
            "server_error",
        ),
        (
            {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"},
            429,
            "rate_limit",
        ),
        (
            {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"},
            400,
            "context_too_long",
        ),
        ({"message": "odd"}, 500, "server_error"),
    ],
)
def test_in_band_error_raises(error: dict[str, Any], status: int, kind: str) -> None:
    dec = fmt.stream_decoder(ir_request())
    dec.feed(None, TEXT_CAPTURE[0])
    with pytest.raises(ApiError) as e:
        dec.feed(None, {"error": error})
    assert (e.value.status, e.value.kind, e.value.message) == (status, kind, error["message"])


@pytest.mark.parametrize("frames", [TEXT_CAPTURE, TOOL_CAPTURE], ids=["text", "tools"])
def test_stream_reencodes_to_the_same_events(frames: list[Any]) -> None:
    events = decode_all(frames)
    enc = fmt.stream_encoder(ir_request())
    again = decode_all(parse_sse(b"".join(enc.feed(ev) for ev in events)))
    assert again[1:-1] == [e for e in events[1:-1] if not isinstance(e, UsageUpdate)] + [
        UsageUpdate(events[-1].usage)  # type: ignore[union-attr]
    ]
    assert isinstance(again[0], StreamStart) and again[0].id == "chatcmpl-D8Z5"
    assert again[-1] == events[-1]


def test_encoder_chunks() -> None:
    enc = fmt.stream_encoder(ir_request())
    frames = parse_sse(b"".join(enc.feed(ev) for ev in full_stream()))
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("chatcmpl-msg_x1", chunks[0]["created"], "claude-opus-4-8", "chat.completion.chunk")}  # fmt: skip
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1:4] == [
        {"reasoning_content": "Need the "},
        {"reasoning_content": "file."},
        {"content": "Reading "},
    ]
    assert deltas[5] == {
        "tool_calls": [
            {"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "Read", "arguments": ""}}
        ]
    }
    assert deltas[6] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"file_'}}]}
    assert deltas[8] == {"content": "\n\nAnd tests."}
    assert deltas[9]["tool_calls"][0]["index"] == 1
    assert deltas[10] == {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}  # clients parse them
    assert deltas[-1] == {} and chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1000
    )
    resp = assemble(decode_all(frames))
    assert [type(p).__name__ for p in resp.parts] == [
        "ThinkingPart",
        "TextPart",
        "ToolCallPart",
        "TextPart",
        "ToolCallPart",
    ]


def test_encoder_error_frame() -> None:
    enc = fmt.stream_encoder(ir_request())
    frames = parse_sse(enc.feed(full_stream()[0]) + enc.error(ApiError(503, "overloaded", "busy")))
    assert frames[1:] == [
        {"error": {"message": "busy", "type": "server_error", "param": None, "code": "overloaded"}},
        "[DONE]",
    ]
