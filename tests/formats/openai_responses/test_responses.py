"""Whole answers both ways, and the stream encoder and decoder against each other."""

from __future__ import annotations

from daemon.formats import openai_responses as fmt
from daemon.ir import ApiError, Response, StreamAssembler, TextPart, ThinkingPart, ToolCallPart, Usage
from tests.formats.openai_responses.samples import CODEX_REQUEST, frames, full_stream, ir_request
from tests.formats.whole import decode as decode_whole


def test_encode_then_decode_whole_answer() -> None:
    req = fmt.decode_request(CODEX_REQUEST)
    resp = Response(
        "msg_1",
        "claude",
        [TextPart("Reading."), ToolCallPart("call_2", "mcp__files__read", '{"p":1}')],
        finish="tool_use",
        usage=Usage(10, 5, cache_read_tokens=2),
    )
    out = fmt.encode_response(resp, req)
    assert out["id"].startswith("resp_") and out["status"] == "completed"
    call = out["output"][1]
    assert (call["namespace"], call["name"], call["call_id"]) == ("mcp__files", "read", "call_2")
    assert out["usage"]["input_tokens_details"]["cached_tokens"] == 2
    back = decode_whole(fmt, out, req)
    assert back.parts == resp.parts and back.finish == "tool_use" and back.usage == resp.usage


def test_length_is_incomplete() -> None:
    out = fmt.encode_response(Response("x", "m", [TextPart("cut")], finish="length"), ir_request())
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert decode_whole(fmt, out, ir_request()).finish == "length"


def test_failed_answer_raises() -> None:
    body = {"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}
    try:
        decode_whole(fmt, body, ir_request())
    except ApiError as e:
        assert e.kind == "rate_limit" and e.message == "slow down"
    else:
        raise AssertionError("a failed response must raise")


def test_stream_round_trip() -> None:
    req = ir_request()
    enc = fmt.stream_encoder(req)
    payload = b"".join(enc.feed(ev) for ev in full_stream())
    seen = frames(payload)
    assert [d["sequence_number"] for _, d in seen] == list(range(len(seen)))
    assert all(event == d["type"] for event, d in seen)
    assert seen[0][1]["type"] == "response.created" and seen[-1][1]["type"] == "response.completed"
    dec = fmt.stream_decoder(req)
    assembler = StreamAssembler()
    for event, data in seen:
        for ev in dec.feed(event, data):
            assembler.feed(ev)
    dec.close()
    got = assembler.response()
    thinking = got.parts[0]
    assert isinstance(thinking, ThinkingPart) and thinking.text == "Need to read the file."
    assert thinking.opaque is not None and thinking.opaque.blob.endswith("dtr1.up-anthropic.sig")
    assert got.parts[1:] == [
        TextPart("Reading it."),
        ToolCallPart("call_9", "exec_command", '{"cmd":"cat a"}'),
    ]
    assert got.finish == "tool_use" and got.usage.reasoning_tokens == 4


def test_stream_cut_and_inband_error() -> None:
    dec = fmt.stream_decoder(ir_request())
    dec.feed("response.created", {"type": "response.created", "response": {"id": "resp_1", "model": "m"}})
    try:
        dec.close()
    except ApiError as e:
        assert e.status == 502
    else:
        raise AssertionError("a cut stream must raise")
    dec = fmt.stream_decoder(ir_request())
    try:
        dec.feed("error", {"type": "error", "code": "rate_limit_exceeded", "message": "slow"})
    except ApiError as e:
        assert e.kind == "rate_limit"
    else:
        raise AssertionError("an error event must raise")


def test_encoder_error_after_content() -> None:
    enc = fmt.stream_encoder(ir_request())
    payload = b"".join(enc.feed(ev) for ev in full_stream()[:8])
    payload += enc.error(ApiError(529, "overloaded", "upstream overloaded"))
    kinds = [d["type"] for _, d in frames(payload)]
    assert kinds[-2:] == ["error", "response.failed"]
    failed = frames(payload)[-1][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"] == "upstream overloaded"
