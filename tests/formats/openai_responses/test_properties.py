"""Property: IR conversation -> Responses items -> IR, for every turn shape Responses can say."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.formats.openai_responses_items import decode_input, encode_items
from daemon.ir import ImagePart, Message, Opaque, TextPart, ThinkingPart, ToolCallPart, ToolResultPart

ident = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,12}", fullmatch=True)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
b64 = st.binary(min_size=1, max_size=9).map(lambda b: base64.b64encode(b).decode())
image = st.builds(ImagePart, st.sampled_from(["image/png", "image/jpeg"]), b64, st.none(), st.just("auto"))
user_turn = st.lists(st.one_of(words.map(TextPart), image), min_size=1, max_size=3).map(
    lambda parts: Message("user", list(parts))
)
signed = st.builds(
    lambda t, s: ThinkingPart(t, opaque=Opaque("openai_responses", f"rs_{s} {s}")), words, ident
)
# A call may carry its provider's state (a Gemini thought signature), wrapped by detour.
call_state = st.one_of(st.none(), ident.map(lambda s: Opaque("openai_responses", f"dtr1.up-gemini.{s}")))
call = st.builds(ToolCallPart, ident, ident, st.just('{"a":1}'), call_state)


@st.composite
def conversation(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    for _ in range(draw(st.integers(1, 4))):
        messages.append(draw(user_turn))
        thinking = draw(st.lists(signed, max_size=1))
        text = draw(st.lists(words.map(TextPart), max_size=1))
        calls = draw(st.lists(call, max_size=2, unique_by=lambda c: c.id))
        if not (thinking or text or calls):
            continue
        messages.append(Message("assistant", [*thinking, *text, *calls]))
        if calls:
            results = [ToolResultPart(c.id, [TextPart(draw(words))], name=c.name) for c in calls]
            messages.append(Message("user", list(results)))
    return messages


@settings(max_examples=60, deadline=None)
@given(conversation())
def test_items_round_trip(messages: list[Message]) -> None:
    system, back = decode_input(encode_items(messages, outbound=False), None)
    assert system == []
    assert back == messages
