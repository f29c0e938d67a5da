"""Property: IR -> Chat wire -> IR for everything Chat can say."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats import openai_chat as fmt
from daemon.ir import (
    ImagePart,
    Message,
    Reasoning,
    Request,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of

ident = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,12}", fullmatch=True)


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


some_text = st.text(max_size=8)


b64 = st.binary(min_size=1, max_size=9).map(lambda b: base64.b64encode(b).decode())


image_part = st.builds(
    ImagePart,
    st.sampled_from(["image/png", "image/jpeg"]),
    b64,
    st.none(),
    st.sampled_from([None, "low", "auto"]),
) | st.builds(
    lambda u, d: ImagePart(url=f"https://example.com/{u}.png", detail=d),
    ident,
    st.sampled_from([None, "high"]),
)


json_values = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6)


arguments = st.dictionaries(ident, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())


@st.composite
def conversations(draw: st.DrawFn, tools: list[str]) -> list[Message]:
    messages: list[Message] = []
    pending: list[tuple[str, str]] = []
    for t in range(draw(st.integers(1, 4))):
        if pending:
            results = [ToolResultPart(cid, draw(st.lists(st.builds(TextPart, words), max_size=1)), name=name)
                       for cid, name in pending]  # fmt: skip
            messages.append(Message("user", list(results)))
        if messages and draw(st.booleans()):
            messages.append(Message("system", [TextPart(draw(words))]))
        if not pending or draw(st.booleans()):
            parts = draw(st.lists(st.builds(TextPart, some_text) | image_part, min_size=1, max_size=3))
            messages.append(Message("user", parts))
        if t > 0 and draw(st.booleans()):
            pending = []
            break
        answer: list[Any] = draw(st.lists(st.builds(TextPart, words), max_size=1))
        names = st.sampled_from(tools) if tools else ident
        pending = [(f"call_{t}{k}_{draw(ident)}", draw(names)) for k in range(draw(st.integers(0, 2)))]
        answer += [ToolCallPart(cid, name, draw(arguments)) for cid, name in pending]
        messages.append(Message("assistant", answer or [TextPart(draw(words))]))
    if pending:
        messages.append(Message("user", [ToolResultPart(cid, [], name=name) for cid, name in pending]))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> Request:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = draw(st.lists(st.builds(Tool, ident, st.none() | words, st.just(schema), st.none() | st.booleans()),
                          max_size=2, unique_by=lambda t: t.name))  # fmt: skip
    choices: list[Any] = [st.none()]
    if tools:
        parallel = st.none() | st.booleans()
        choices += [st.builds(ToolChoice, st.sampled_from(["auto", "required"]), st.none(), parallel),
                    st.just(ToolChoice("none")), st.builds(ToolChoice, st.just("tool"), st.just(tools[0].name), parallel)]  # fmt: skip
    effort = draw(st.sampled_from([None, "none", "minimal", "low", "high", "xhigh"]))
    return Request(
        model="gpt-4.1",
        messages=draw(conversations([t.name for t in tools])),
        system=draw(st.lists(st.builds(TextPart, words), max_size=1)),
        tools=tools,
        tool_choice=draw(st.one_of(choices)),
        max_tokens=draw(st.none() | st.integers(1, 100_000)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        stop=draw(st.lists(words, max_size=4)),
        stream=draw(st.booleans()),
        reasoning=None if effort is None else Reasoning(effort != "none", effort),  # type: ignore[arg-type]
        user=draw(st.none() | ident),
        source_format="openai_chat",
    )


@settings(max_examples=150, deadline=None)
@given(requests())
def test_ir_round_trips_through_the_wire(req: Request) -> None:
    wire = orjson.loads(orjson.dumps(fmt.encode_request(req, req.model, profile_of("openai", req.model))))
    assert fmt.decode_request(wire) == req
