"""Gemini answers and streams -> IR and back: parts, finish reasons, usage, stream frames."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from google.genai import types as gtypes

from daemon import ir
from daemon.formats import gemini, ids
from daemon.formats.gemini_stream import to_client_signature
from daemon.formats.sse import SSEParser
from tests.formats.gemini.samples import DOC_RESPONSE, DOC_STREAM, REQ, SIG, assemble, events_of, reparse
from tests.formats.whole import decode as decode_whole


def test_documented_response_decodes() -> None:
    resp = decode_whole(gemini, DOC_RESPONSE, REQ)
    assert resp.id == "QHiLaa6LBrb8vdIPoNztsAg" and resp.model == "gemini-3-pro-preview"
    assert resp.parts == [
        ir.ThinkingPart("thought summary..."),
        ir.ToolCallPart(
            ids.synthesize("QHiLaa6LBrb8vdIPoNztsAg", 0),
            "weather",
            '{"location":"San Francisco"}',
            opaque=ir.Opaque("gemini", SIG),
        ),
    ]
    assert (resp.finish, resp.raw_finish) == ("tool_use", "STOP")
    assert resp.usage == ir.Usage(input_tokens=29, output_tokens=819, reasoning_tokens=804)


def test_response_round_trips_through_the_client_shape() -> None:
    resp = decode_whole(gemini, DOC_RESPONSE, REQ)
    body = gemini.encode_response(resp, REQ)
    assert body["candidates"] == [
        {
            "content": {
                "parts": [
                    {"text": "thought summary...", "thought": True},
                    # a made-up id stays home: the real API sends none either
                    {
                        "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
                        "thoughtSignature": SIG,
                    },
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ]
    assert body["usageMetadata"] == {
        "promptTokenCount": 29,
        "candidatesTokenCount": 15,
        "totalTokenCount": 848,
        "thoughtsTokenCount": 804,
    }
    assert (body["modelVersion"], body["responseId"]) == ("gemini-3-pro-preview", "QHiLaa6LBrb8vdIPoNztsAg")
    assert decode_whole(gemini, body, REQ) == resp
    gtypes.GenerateContentResponse.model_validate(body)  # the SDK's own type takes it


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("STOP", "end"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"), ("BLOCKLIST", "content_filter"), ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"), ("IMAGE_OTHER", "content_filter"), ("MALFORMED_FUNCTION_CALL", "error"),
        ("UNEXPECTED_TOOL_CALL", "error"), ("LANGUAGE", "other"), ("OTHER", "other"), ("TOO_MANY_TOOL_CALLS", "other"),
        ("MISSING_THOUGHT_SIGNATURE", "other"), ("FINISH_REASON_UNSPECIFIED", "other"), ("CONTINUATION", "length"),
    ],
)  # fmt: skip
def test_finish_reasons(raw: str, finish: str) -> None:
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": raw}],
        "responseId": "r",
    }
    resp = decode_whole(gemini, body, REQ)
    assert (resp.finish, resp.raw_finish) == (finish, raw)
    # the same value goes back to a Gemini client when it still means the same
    assert (
        gemini.encode_response(resp, REQ)["candidates"][0]["finishReason"]
        == (raw if raw != "CONTINUATION" else "MAX_TOKENS")
        or finish == "other"
    )


def test_blocked_prompt_and_usage_details() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    resp = decode_whole(gemini, blocked, REQ)
    assert (resp.parts, resp.finish, resp.raw_finish, resp.usage.input_tokens) == (
        [],
        "content_filter",
        "PROHIBITED_CONTENT",
        8,
    )
    usage = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "toolUsePromptTokenCount": 5,
        "candidatesTokenCount": 7,
        "thoughtsTokenCount": 3,
    }
    body = {
        "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
        "usageMetadata": usage,
    }
    assert decode_whole(gemini, body, REQ).usage == ir.Usage(
        input_tokens=105, output_tokens=10, cache_read_tokens=60, reasoning_tokens=3
    )


def test_empty_text_signature_joins_the_text_before_it() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Hi"},
                        {"text": " there"},
                        {"text": "", "thoughtSignature": SIG},
                        {"text": ""},
                        {"text": "", "thoughtSignature": "c2ln"},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    resp = decode_whole(gemini, body, REQ)
    assert resp.parts == [
        ir.TextPart("Hi there", opaque=ir.Opaque("gemini", SIG)),
        ir.TextPart("", opaque=ir.Opaque("gemini", "c2ln")),
    ]


def test_answer_parts_detour_cannot_hold_fail_loudly() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"executableCode": {"code": "print(1)"}}]}, "finishReason": "STOP"}
        ]
    }
    with pytest.raises(ir.ApiError, match="executableCode") as caught:
        decode_whole(gemini, body, REQ)
    assert caught.value.status == 502
    with pytest.raises(ir.ApiError) as caught:
        decode_whole(
            gemini, {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}, REQ
        )
    assert caught.value.kind == "rate_limit"


def test_response_from_another_provider_for_a_gemini_client() -> None:
    resp = ir.Response(
        id="msg_01",
        model="claude-sonnet-4-5",
        parts=[
            ir.ThinkingPart("hmm", opaque=ir.Opaque("gemini", "dtr1.up-anthropic.EqQB+sig")),
            ir.ThinkingPart("", redacted="opaque-data"),
            ir.TextPart("Checking."),
            ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
        ],
        finish="tool_use",
        raw_finish="tool_use",
        usage=ir.Usage(input_tokens=21, output_tokens=6, cache_read_tokens=4),
    )
    body = gemini.encode_response(resp, REQ)
    parts = body["candidates"][0]["content"]["parts"]
    assert parts == [
        {
            "text": "hmm",
            "thought": True,
            "thoughtSignature": to_client_signature("dtr1.up-anthropic.EqQB+sig"),
        },
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_01"}},
    ]
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"] == {
        "promptTokenCount": 21,
        "candidatesTokenCount": 6,
        "totalTokenCount": 27,
        "cachedContentTokenCount": 4,
    }
    gtypes.GenerateContentResponse.model_validate(body)


def test_documented_stream_decodes_in_order() -> None:
    events = events_of(DOC_STREAM, REQ)
    call_id = ids.synthesize("QHiLaa6LBrb8vdIPoNztsAg", 0)
    assert events == [
        ir.StreamStart("QHiLaa6LBrb8vdIPoNztsAg", "gemini-3-pro-preview", usage=ir.Usage(input_tokens=29)),
        ir.PartStart(0, ir.ToolCallPart(call_id, "weather", "", opaque=ir.Opaque("gemini", SIG))),
        ir.ArgumentsDelta(0, '{"location":"San Francisco"}'),
        ir.PartEnd(0),
        ir.StreamEnd("tool_use", raw_finish="STOP", usage=ir.Usage(29, 819, reasoning_tokens=804)),
    ]
    # streamed or not, the same answer
    body = copy.deepcopy(DOC_RESPONSE)
    body["candidates"][0]["content"]["parts"] = body["candidates"][0]["content"]["parts"][1:]
    assert assemble(events) == decode_whole(gemini, body, REQ)


def frames_of(
    *chunks: list[dict[str, Any]], finish: str | None = "STOP", usage: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    out = [
        {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
            "responseId": "r1",
            "modelVersion": "gemini-2.5-flash",
        }
        for parts in chunks
    ]
    if finish is not None:
        out.append(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": ""}], "role": "model"},
                        "finishReason": finish,
                        "index": 0,
                    }
                ],
                "usageMetadata": usage or {"promptTokenCount": 3},
                "responseId": "r1",
            }
        )
    return out


def test_text_stream_is_incremental_and_thoughts_open_their_own_part() -> None:
    frames = frames_of(
        [{"text": "Let me", "thought": True}],
        [{"text": " think", "thought": True}],
        [{"text": "Hel"}],
        [
            {"text": "lo"},
            {"functionCall": {"name": "f", "args": {"a": 1}}},
            {"functionCall": {"name": "f", "args": {"a": 2}, "id": "given"}},
        ],
        [{"text": "after"}],
        usage={"promptTokenCount": 3, "candidatesTokenCount": 2},
    )
    frames[0]["usageMetadata"] = {"promptTokenCount": 3}
    events = events_of(frames, REQ)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "StreamStart", "PartStart", "ThinkingDelta", "ThinkingDelta", "PartEnd", "PartStart", "TextDelta", "TextDelta",
        "PartEnd", "PartStart", "ArgumentsDelta", "PartEnd", "PartStart", "ArgumentsDelta", "PartEnd", "PartStart",
        "TextDelta", "PartEnd", "StreamEnd",
    ]  # fmt: skip
    resp = assemble(events)
    assert [type(p).__name__ for p in resp.parts] == [
        "ThinkingPart",
        "TextPart",
        "ToolCallPart",
        "ToolCallPart",
        "TextPart",
    ]
    assert resp.parts[1] == ir.TextPart("Hello")
    assert [p.id for p in resp.parts[2:4]] == [ids.synthesize("r1", 0), "given"]  # type: ignore[union-attr]
    assert (resp.finish, resp.usage) == ("tool_use", ir.Usage(3, 2))


def test_stream_cut_before_finish_is_an_error_and_errors_in_band_raise() -> None:
    dec = gemini.stream_decoder(REQ)
    dec.feed(None, frames_of([{"text": "partial"}], finish=None)[0])
    with pytest.raises(ir.ApiError) as caught:
        dec.close()
    assert (caught.value.status, caught.value.kind) == (502, "server_error")
    with pytest.raises(ir.ApiError):
        gemini.stream_decoder(REQ).close()
    # a data: frame holding an error, and a bare JSON error body (SSEParser's raw frame)
    dec = gemini.stream_decoder(REQ)
    dec.feed(None, frames_of([{"text": "x"}], finish=None)[0])
    with pytest.raises(ir.ApiError) as caught:
        dec.feed(
            None, {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
        )
    assert (caught.value.status, caught.value.kind, caught.value.message) == (
        503,
        "overloaded",
        "The model is overloaded.",
    )
    parser = SSEParser()
    raw = b'data: {"candidates":[]}\r\n\r\n{\n  "error": {\n    "code": 500,\n    "message": "Internal error",\n    "status": "INTERNAL"\n  }\n}\n'
    frames = parser.feed(raw) + parser.close()
    assert frames[-1].raw
    dec = gemini.stream_decoder(REQ)
    with pytest.raises(ir.ApiError) as caught:
        for f in frames:
            dec.feed(f.event, orjson.loads(f.data))
    assert caught.value.kind == "server_error"


def test_stream_without_alt_sse_is_one_json_array() -> None:
    assert assemble(events_of([frames_of([{"text": "a"}], [{"text": "b"}])], REQ)).parts == [
        ir.TextPart("ab")
    ]


def test_stream_reencodes_and_reparses() -> None:
    frames = frames_of(
        [{"text": "Hmm", "thought": True}],
        [{"text": "", "thought": True, "thoughtSignature": SIG}],
        [{"text": "Let me "}],
        [{"text": "check."}],
        [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "c2lnbmF0dXJl",
            }
        ],
        usage={
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 2,
            "cachedContentTokenCount": 4,
        },
    )
    first = events_of(frames, REQ)
    encoder = gemini.stream_encoder(REQ)
    data = b"".join(encoder.feed(ev) for ev in first)
    assert b"[DONE]" not in data and b"event:" not in data
    again = reparse(data)
    assert again[2]["candidates"][0]["content"]["parts"] == [{"text": "Let me "}]  # one frame per text delta
    assert again[-1]["candidates"][0]["finishReason"] == "STOP"
    assert assemble(events_of(again, REQ)) == assemble(first)
    assert assemble(first).parts[0] == ir.ThinkingPart("Hmm", opaque=ir.Opaque("gemini", SIG))


def test_stream_encoder_error_frame() -> None:
    data = gemini.stream_encoder(REQ).error(ir.ApiError(529, "overloaded", "upstream overloaded"))
    assert reparse(data) == [
        {"error": {"code": 529, "message": "upstream overloaded", "status": "UNAVAILABLE"}}
    ]
