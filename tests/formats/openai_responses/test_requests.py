"""Responses requests -> IR (inbound) and IR -> Responses requests (outbound)."""

from __future__ import annotations

import pytest

from daemon.formats import openai_responses as fmt
from daemon.ir import (
    ApiError,
    ImagePart,
    Message,
    Opaque,
    Request,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from daemon.providers.profiles import profile_of
from tests.formats.openai_responses.samples import CODEX_REQUEST, DOC_REQUEST


def test_doc_request() -> None:
    req = fmt.decode_request(DOC_REQUEST)
    assert req.system == [TextPart("You are terse.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[0].parts == [
        TextPart("Weather in Paris?"),
        ImagePart(media_type="image/png", data="iVBOR", detail="auto"),
    ]
    assert req.messages[1].parts == [ToolCallPart("call_01", "get_weather", '{"city":"Paris"}')]
    assert req.messages[2].parts == [ToolResultPart("call_01", [TextPart("18C, cloudy")], name="get_weather")]
    assert req.tools[0].strict is True and req.max_tokens == 1024 and req.stream
    assert req.reasoning is not None and req.reasoning.effort == "medium"
    assert req.response_format is not None and req.response_format.kind == "json_schema"
    assert req.tool_choice is not None and req.tool_choice.parallel is True


def test_codex_request() -> None:
    req = fmt.decode_request(CODEX_REQUEST)
    assert req.system == [TextPart("You are Codex.")]  # the developer message; empty instructions add nothing
    assert [t.name for t in req.tools] == ["exec_command", "mcp__files__read"]
    assert req.tools[1].namespace == "mcp__files"
    assert fmt.builtin_tools(CODEX_REQUEST) == ["web_search"]
    thinking, call = req.messages[1].parts
    # A blob detour wrapped comes back as it went out, for providers.reasoning to unwrap.
    assert thinking == ThinkingPart(
        "Read it.", opaque=Opaque("openai_responses", "dtr1.up-anthropic.c2lnbmF0dXJl")
    )
    assert isinstance(call, ToolCallPart) and call.id == "call_1"
    assert req.tool_choice is not None and req.tool_choice.parallel is False


def test_openai_reasoning_keeps_its_item_id() -> None:
    item = {"type": "reasoning", "id": "rs_9", "summary": [], "encrypted_content": "gAAAA"}
    req = fmt.decode_request({"model": "m", "input": [item, {"role": "user", "content": "go"}]})
    part = req.messages[0].parts[0]
    assert isinstance(part, ThinkingPart) and part.opaque == Opaque("openai_responses", "rs_9 gAAAA")
    sent = fmt.encode_request(req, "gpt-5", profile_of("openai", "gpt-5"))["input"][0]
    assert sent == {"type": "reasoning", "id": "rs_9", "summary": [], "encrypted_content": "gAAAA"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ],
)
def test_refused_with_the_path(body: dict[str, object], where: str) -> None:
    with pytest.raises(ApiError) as e:
        fmt.decode_request({"model": "m", **body})
    assert e.value.status == 400 and where in e.value.message


def test_outbound_request() -> None:
    req = Request(
        model="r",
        system=[TextPart("Be terse.")],
        messages=[
            Message("user", [TextPart("Weather?")]),
            Message(
                "assistant",
                [
                    ThinkingPart("mine", opaque=Opaque("openai_responses", "rs_1 enc1")),
                    ThinkingPart("claude's", opaque=Opaque("foreign:up-anthropic", "sig")),
                    TextPart("Checking."),
                    ToolCallPart("toolu_1", "get_weather", '{"city":"Paris"}'),
                ],
            ),  # fmt: skip
            Message("user", [ToolResultPart("toolu_1", [TextPart("18C")])]),
            Message("system", [TextPart("Mid-conversation note.")]),
        ],
        tools=[Tool("get_weather", "Weather", {"type": "object", "properties": {}})],
        max_tokens=100,
        stream=True,
    )
    body = fmt.encode_request(req, "gpt-5", profile_of("openai", "gpt-5"))
    assert body["instructions"] == "Be terse." and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"] and body["max_output_tokens"] == 100
    assert body["tools"] == [{"type": "function", "name": "get_weather", "description": "Weather",
                              "parameters": {"type": "object", "properties": {}}, "strict": False}]  # fmt: skip
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "mine"}],
         "encrypted_content": "enc1"},
        {"role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "toolu_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "18C"},
        {"role": "developer", "content": [{"type": "input_text", "text": "Mid-conversation note."}]},
    ]  # fmt: skip
