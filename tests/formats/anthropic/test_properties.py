"""Properties: IR -> Anthropic wire -> IR for what Anthropic can say, and foreign history
always encoded into a body Anthropic accepts."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats import anthropic as fmt
from daemon.ir import (
    ImagePart,
    Message,
    Opaque,
    Reasoning,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of
from tests.fakes.anthropic_rules import NO_PREFILL, Invalid, validate

ident = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)


words = st.text(min_size=1, max_size=16).filter(lambda s: s.strip() != "")


cache = st.none() | st.just({"type": "ephemeral"})


text_part = st.builds(TextPart, words, cache_control=cache)


image_part = st.sampled_from(
    [ImagePart(media_type="image/png", data="iVBORw0KGgo="), ImagePart(url="https://example.com/a.png")]
)


json_values = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6)


thinking_part = st.builds(
    lambda t, s: ThinkingPart(t, opaque=Opaque("anthropic", s)), words, ident
) | st.builds(lambda d: ThinkingPart("", opaque=Opaque("anthropic", d), redacted=d), ident)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    pending: list[str] = []
    turns = draw(st.integers(1, 4))
    for t in range(turns):
        if not pending and draw(st.booleans()):
            messages.append(Message("system", [draw(text_part)]))
        content = st.lists(text_part | image_part, max_size=2)
        parts: list[Any] = [
            ToolResultPart(cid, draw(content), is_error=draw(st.booleans()), cache_control=draw(cache))
            for cid in pending
        ]
        parts += draw(st.lists(text_part | image_part, min_size=0 if pending else 1, max_size=2))
        messages.append(Message("user", parts))
        if t == turns - 1:
            break
        answer: list[Any] = draw(st.lists(thinking_part, max_size=1)) + draw(st.lists(text_part, max_size=1))
        pending = [f"toolu_{t}_{k}_{draw(ident)}" for k in range(draw(st.integers(0, 2)))]
        args = st.dictionaries(ident, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())
        answer += [ToolCallPart(cid, draw(ident), draw(args)) for cid in pending]
        messages.append(Message("assistant", answer or [draw(text_part)]))
    return messages


@st.composite
def requests(draw: st.DrawFn) -> Request:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools = draw(st.lists(st.builds(Tool, ident, st.none() | words, st.just(schema), st.none() | st.booleans()),
                          max_size=2, unique_by=lambda t: t.name))  # fmt: skip
    choices = [st.none()]
    if tools:
        parallel = st.none() | st.booleans()
        choices += [st.builds(ToolChoice, st.sampled_from(["auto", "required"]), st.none(), parallel),
                    st.just(ToolChoice("none")), st.builds(ToolChoice, st.just("tool"), st.just(tools[0].name), parallel)]  # fmt: skip
    temperature = draw(st.none() | st.floats(0, 1))
    return Request(
        model="claude-opus-4-8",
        messages=draw(conversations()),
        system=draw(st.lists(text_part, max_size=2)),
        tools=tools,
        tool_choice=draw(st.one_of(choices)),
        max_tokens=draw(st.integers(1, 100_000)),
        temperature=temperature,
        top_p=draw(st.none() | st.floats(0, 1)) if temperature is None else None,
        top_k=draw(st.none() | st.integers(1, 500)),
        stop=draw(st.lists(words, max_size=2)),
        stream=draw(st.booleans()),
        reasoning=draw(st.sampled_from([None, Reasoning(False)])),
        user=draw(st.none() | ident),
        source_format="anthropic",
    )


@settings(max_examples=150, deadline=None)
@given(requests())
def test_ir_round_trips_through_the_wire(req: Request) -> None:
    wire = orjson.loads(orjson.dumps(fmt.encode_request(req, req.model, profile_of("anthropic", req.model))))
    validate(wire)
    assert fmt.decode_request(wire) == _last_breakpoints(req)


def _last_breakpoints(req: Request) -> Request:
    """``req`` with only its last 4 cache markers, in the order Anthropic reads the prompt."""
    req = copy.deepcopy(req)
    marked: list[Any] = [t for t in req.tools if t.cache_control] + [t for t in req.system if t.cache_control]
    for m in req.messages:
        for p in m.parts:
            if isinstance(p, ToolResultPart):
                marked += [c for c in p.content if c.cache_control]
            if getattr(p, "cache_control", None):
                marked.append(p)
    for p in marked[:-4]:
        p.cache_control = None
    return req


# Foreign history: ids and tool names from anywhere, empty text, unsigned or foreign thinking,
# results split over OpenAI-style tool messages, system messages anywhere, any sampling.
maybe_blank = st.sampled_from(["", "  ", "\n"]) | words


weird_id = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=10)


foreign_thinking = st.builds(
    ThinkingPart,
    words,
    st.none() | st.builds(Opaque, st.sampled_from(["gemini", "openai_chat", None]), ident),
)


any_args = st.dictionaries(ident, json_values, max_size=2).map(
    lambda d: orjson.dumps(d).decode()
) | st.sampled_from(["", "not json", "[1, 2]", '{"a":'])


any_image = image_part | st.just(ImagePart(url="data:image/webp;base64,UklGRhIAAABXRUJQ"))


TOOL_NAMES = ["get_weather", "fs.read", "mcp:server:tool"]


@st.composite
def foreign_messages(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    pending: list[str] = []
    turns = draw(st.integers(1, 4))
    starts_with_assistant = draw(st.booleans())
    for t in range(turns):
        if draw(st.booleans()):
            messages.append(Message("system", [TextPart(draw(maybe_blank))]))
        if t or not starts_with_assistant:
            results = [ToolResultPart(cid, draw(st.lists(maybe_blank.map(TextPart) | any_image, max_size=2)),
                                      is_error=draw(st.booleans())) for cid in pending]  # fmt: skip
            if draw(st.booleans()):
                messages += [Message("user", [r]) for r in results]
            elif results:
                messages.append(Message("user", list(results)))
            extra = draw(st.lists(maybe_blank.map(TextPart) | any_image, max_size=2))
            if extra or not pending:
                messages.append(Message("user", extra or [TextPart(draw(words))]))
            pending = []
            if t == turns - 1 and draw(st.booleans()):
                break
        parts: list[Any] = draw(st.lists(foreign_thinking, max_size=1)) + draw(
            st.lists(maybe_blank.map(TextPart), max_size=1)
        )
        if t < turns - 1:
            calls = [ToolCallPart(f"{draw(weird_id)}#{t}.{k}", draw(st.sampled_from(TOOL_NAMES)), draw(any_args))
                     for k in range(draw(st.integers(0, 2)))]  # fmt: skip
            parts += calls
            pending = [c.id for c in calls]
        messages.append(Message("assistant", parts or [TextPart(draw(words))]))
    return messages


@st.composite
def foreign_requests(draw: st.DrawFn) -> Request:
    tools = [Tool(n, None, None) for n in TOOL_NAMES] if draw(st.booleans()) else []
    modes = st.sampled_from(["auto", "required", "none", "tool"])
    choice = draw(
        st.none() | st.builds(ToolChoice, modes, st.sampled_from(TOOL_NAMES), st.none() | st.booleans())
    )
    return Request(
        model="gpt-4.1",
        messages=draw(foreign_messages()),
        system=draw(st.lists(maybe_blank.map(TextPart), max_size=2)),
        tools=tools,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 64_000)),
        temperature=draw(st.none() | st.floats(0, 2)),
        top_p=draw(st.none() | st.floats(0, 1)),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=draw(st.lists(st.sampled_from(["\n", " ", "END", "###"]), max_size=3)),
        reasoning=draw(
            st.sampled_from(
                [
                    None,
                    Reasoning(effort="high"),
                    Reasoning(budget_tokens=3000),
                    Reasoning(False),
                    Reasoning(effort="none"),
                    Reasoning(effort="low", include_thoughts=False),
                ]
            )
        ),  # fmt: skip
        source_format=draw(st.sampled_from(["openai_chat", "gemini"])),
    )


@settings(max_examples=300, deadline=None)
@given(
    foreign_requests(), st.sampled_from(["claude-opus-4-8", "claude-sonnet-4-5", "claude-3-5-haiku-latest"])
)
def test_foreign_history_always_makes_an_acceptable_body(req: Request, model: str) -> None:
    body = orjson.loads(orjson.dumps(fmt.encode_request(req, model, profile_of("anthropic", model))))
    if NO_PREFILL.match(model) and body["messages"][-1]["role"] == "assistant":
        # A foreign history that ends with an assistant turn is a prefill, which Claude 4.6 on
        # refuses (a Chat client's trailing assistant message; left as it is).
        with pytest.raises(Invalid, match="does not support assistant message prefill"):
            validate(body)
        return
    validate(body)
