"""The SSE parser yields the same frames however the bytes are chunked or line-ended."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from daemon.formats.sse import Frame, SSEParser, frame

event_names = st.none() | st.sampled_from(["message_start", "content_block_delta", "error", "ping"])
payloads = st.dictionaries(
    st.text(min_size=1, max_size=8), st.text(max_size=30) | st.integers(-(2**63), 2**63 - 1), max_size=4
)


def render(frames: list[tuple[str | None, dict[str, object]]], newline: bytes) -> bytes:
    out = b""
    for event, data in frames:
        if event is not None:
            out += b"event: " + event.encode() + newline
        out += b"data: " + orjson.dumps(data) + newline + newline
    return out


def parse_chunked(data: bytes, cuts: list[int]) -> list[Frame]:
    parser = SSEParser()
    frames: list[Frame] = []
    last = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        frames += parser.feed(data[last:cut])
        last = max(last, cut)
    frames += parser.feed(data[last:])
    return frames + parser.close()


@given(
    st.lists(st.tuples(event_names, payloads), max_size=6),
    st.sampled_from([b"\n", b"\r\n"]),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_any_chunking_and_line_ending_gives_the_same_frames(
    frames: list[tuple[str | None, dict[str, object]]], newline: bytes, cuts: list[int]
) -> None:
    parsed = parse_chunked(render(frames, newline), cuts)
    assert [(f.event, orjson.loads(f.data)) for f in parsed] == frames


@given(st.lists(st.tuples(event_names, payloads), max_size=5))
def test_frame_writer_round_trips(frames: list[tuple[str | None, dict[str, object]]]) -> None:
    data = b"".join(frame(d, e) for e, d in frames)
    parsed = parse_chunked(data, [])
    assert [(f.event, orjson.loads(f.data)) for f in parsed] == frames


def test_multiline_data_comments_and_done() -> None:
    data = b': keep-alive\n\ndata: {"a":\ndata: 1}\n\ndata: [DONE]\n\n'
    frames = parse_chunked(data, [])
    assert [f.data for f in frames] == ['{"a":\n1}', "[DONE]"]


def test_raw_json_error_body_is_a_raw_frame() -> None:
    data = b'{\n  "error": {"code": 429}\n}\n'
    frames = parse_chunked(data, [3, 9])
    assert len(frames) == 1 and frames[0].raw
    assert orjson.loads(frames[0].data) == {"error": {"code": 429}}


def test_final_frame_without_blank_line_counts() -> None:
    assert [f.data for f in parse_chunked(b'data: {"x":1}', [])] == ['{"x":1}']
