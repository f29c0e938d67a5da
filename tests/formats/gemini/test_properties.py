"""Properties: IR -> Gemini wire -> IR, for requests and for answers streamed or not."""

from __future__ import annotations

import base64
import copy

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon import ir
from daemon.formats import gemini
from daemon.providers.profiles import profile_of
from tests.formats.gemini.samples import REQ, args, assemble, events_of, names, reparse, stream_events, texts
from tests.formats.whole import decode as decode_whole

sigs = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())


def merged(parts: list[ir.Part]) -> list[ir.Part]:
    """What Gemini's wire keeps apart: consecutive unsigned texts of one kind read back as one part."""
    out: list[ir.Part] = []
    for p in parts:
        prev = out[-1] if out else None
        if type(prev) is type(p) and isinstance(p, ir.TextPart | ir.ThinkingPart) and prev.opaque is None:  # type: ignore[union-attr]
            prev.text += p.text  # type: ignore[union-attr]
            prev.opaque = p.opaque  # type: ignore[union-attr]
        else:
            out.append(copy.deepcopy(p))
    return out


@st.composite
def user_parts(draw: st.DrawFn) -> list[ir.Part]:
    text = texts.map(ir.TextPart)
    image = st.builds(
        lambda m, d: ir.ImagePart(media_type=m, data=base64.b64encode(d).decode()),
        st.sampled_from(["image/png", "image/jpeg"]),
        st.binary(min_size=1, max_size=8),
    )
    return draw(st.lists(st.one_of(text, image), max_size=3))


@st.composite
def model_parts(draw: st.DrawFn, counter: list[int]) -> list[ir.Part]:
    def call(a: str, sig: str | None, name: str) -> ir.ToolCallPart:
        counter[0] += 1
        return ir.ToolCallPart(f"id{counter[0]}", name, a, opaque=ir.Opaque("gemini", sig) if sig else None)

    text = st.builds(
        lambda t, s: ir.TextPart(t, opaque=ir.Opaque("gemini", s) if s else None), texts, st.none() | sigs
    )
    thinking = st.builds(lambda t, s: ir.ThinkingPart(t, opaque=ir.Opaque("gemini", s)), texts, sigs)
    calls = st.builds(call, args, st.none() | sigs, names)
    return merged(draw(st.lists(st.one_of(text, thinking, calls), min_size=1, max_size=4)))


@st.composite
def conversations(draw: st.DrawFn) -> ir.Request:
    counter = [0]
    messages: list[ir.Message] = []
    pending: list[ir.Part] = []
    for _ in range(draw(st.integers(1, 3))):
        parts = pending + draw(user_parts())
        if not parts:
            parts = [ir.TextPart("hi")]
        messages.append(ir.Message("user", parts))
        reply = draw(model_parts(counter))
        messages.append(ir.Message("assistant", reply))
        pending = [
            ir.ToolResultPart(c.id, [ir.TextPart(draw(texts))], is_error=draw(st.booleans()), name=c.name)
            for c in reply
            if isinstance(c, ir.ToolCallPart)
        ]
    if pending:
        messages.append(ir.Message("user", pending))
    tool_names = draw(st.lists(names, unique=True, max_size=3))
    tools = [
        ir.Tool(
            n,
            draw(st.none() | texts),
            draw(st.none() | st.just({"type": "object", "properties": {"x": {"type": "string"}}})),
        )
        for n in tool_names
    ]
    choice = None
    if tools:
        choice = draw(
            st.none()
            | st.sampled_from(
                [
                    ir.ToolChoice("auto"),
                    ir.ToolChoice("required"),
                    ir.ToolChoice("none"),
                    ir.ToolChoice("tool", name=tools[0].name),
                ]
            )
        )
    reasoning_ = draw(
        st.none()
        | st.builds(
            ir.Reasoning,
            effort=st.sampled_from(["minimal", "low", "medium", "high", "xhigh"]),
            include_thoughts=st.none() | st.booleans(),
        )
    )
    return ir.Request(
        model="gemini-3-pro-preview",
        messages=messages,
        system=draw(st.lists(texts.map(ir.TextPart), max_size=2)),
        tools=tools,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 65536)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=draw(st.lists(texts, max_size=5)),
        reasoning=reasoning_,
        source_format="gemini",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_ir_round_trips_through_gemini(req: ir.Request) -> None:
    body = orjson.loads(orjson.dumps(gemini.encode_request(req, req.model, profile_of("gemini", req.model))))
    assert gemini.decode_request(body, model=req.model) == req


@st.composite
def answers(draw: st.DrawFn) -> ir.Response:
    counter = [0]
    parts = draw(model_parts(counter))
    calls = any(isinstance(p, ir.ToolCallPart) for p in parts)
    finish = "tool_use" if calls and draw(st.booleans()) else draw(st.sampled_from(["end", "length"]))
    if finish == "end" and calls:
        finish = "tool_use"
    raw = {"end": "STOP", "tool_use": "STOP", "length": "MAX_TOKENS"}[finish]
    reasoning_tokens = draw(st.integers(0, 50))
    usage = ir.Usage(
        input_tokens=(i := draw(st.integers(0, 10_000))),
        output_tokens=reasoning_tokens + draw(st.integers(0, 500)),
        cache_read_tokens=draw(st.integers(0, i)),
        reasoning_tokens=reasoning_tokens,
    )
    return ir.Response(
        id=draw(names), model="gemini-3-pro-preview", parts=parts, finish=finish, raw_finish=raw, usage=usage
    )  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(answers())
def test_answers_round_trip_plain_and_streamed(resp: ir.Response) -> None:
    assert decode_whole(gemini, orjson.loads(orjson.dumps(gemini.encode_response(resp, REQ))), REQ) == resp
    encoder = gemini.stream_encoder(REQ)
    data = b"".join(encoder.feed(ev) for ev in stream_events(resp))
    assert assemble(events_of(reparse(data), REQ)) == resp
