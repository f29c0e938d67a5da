"""IR from other formats -> a Gemini request: ids and names, thought signatures, images,
system placement, sampling."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daemon import ir
from daemon.formats import gemini, ids
from daemon.formats.gemini_stream import SKIP_SIGNATURE
from daemon.providers.profiles import profile_of
from tests.formats.gemini.samples import PNG, SIG, assistant, foreign_request, user
from tests.formats.whole import decode as decode_whole


def test_foreign_conversation_encodes_to_valid_contents() -> None:
    body = gemini.encode_request(
        foreign_request(), "gemini-3-pro-preview", profile_of("gemini", "gemini-3-pro-preview")
    )
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are terse."}, {"text": "Mid-conversation rule."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                # ids stay home (not a Gemini client); no placeholder: the user's text after the results
                # starts a new turn, so this one is not validated
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "18C, cloudy"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "21C, sunny"}}},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"text": "Also summarise."},
            ],
        },
    ]


def test_placeholder_only_in_the_current_turn() -> None:
    call = ir.ToolCallPart("c1", "get_weather", '{"city":"Oslo"}')
    req = foreign_request()
    req.messages += [assistant(ir.TextPart("Both done.")), user(ir.TextPart("Now Oslo.")), assistant(call)]
    req.messages.append(user(ir.ToolResultPart("c1", [ir.TextPart("-3C")], name="get_weather")))
    contents = gemini.encode_request(
        req, "gemini-3-flash-preview", profile_of("gemini", "gemini-3-flash-preview")
    )["contents"]
    signed = [p for c in contents for p in c["parts"] if "functionCall" in p and "thoughtSignature" in p]
    # The old turn ended with a real user text; only the newest model turn needs a signature.
    assert signed == [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
            "thoughtSignature": SKIP_SIGNATURE,
        }
    ]


def test_gemini_signatures_go_back_on_their_parts_and_foreign_thinking_drops() -> None:
    req = ir.Request(
        model="g",
        messages=[
            user(ir.TextPart("q")),
            assistant(
                ir.ThinkingPart("mine", opaque=ir.Opaque("gemini", SIG)),
                ir.ThinkingPart("theirs", opaque=ir.Opaque("anthropic", "x", "up-a")),
                ir.ThinkingPart("", redacted="abc"),
                ir.TextPart("t", opaque=ir.Opaque("gemini", "c2ln")),
                ir.ToolCallPart("c", "f", "{}", opaque=ir.Opaque("gemini", SIG)),
            ),
        ],
    )
    (_, model_turn) = gemini.encode_request(req, "gemini-3-pro", profile_of("gemini", "gemini-3-pro"))[
        "contents"
    ]
    assert model_turn["parts"] == [
        {"text": "mine", "thought": True, "thoughtSignature": SIG},
        {"text": "t", "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG},
    ]


def test_turn_repairs() -> None:
    req = ir.Request(
        model="g",
        messages=[
            assistant(
                ir.TextPart("I start."), ir.ToolCallPart("a", "f", "not json"), ir.ToolCallPart("b", "g", "")
            ),
            user(ir.ToolResultPart("a", [ir.TextPart("failed")], is_error=True)),
            user(ir.TextPart("")),
            user(ir.TextPart("next")),
        ],
    )
    contents = gemini.encode_request(req, "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash"))[
        "contents"
    ]
    assert contents[0] == {"role": "user", "parts": [{"text": "."}]}
    assert contents[1]["parts"][1:] == [
        {"functionCall": {"name": "f", "args": {"_raw_arguments": "not json"}}},
        {"functionCall": {"name": "g", "args": {}}},
    ]
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f", "response": {"error": "failed"}}},
            {
                "functionResponse": {
                    "name": "g",
                    "response": {"error": "no result was returned for this call"},
                }
            },
            {"text": "next"},
        ],
    }
    assert len(contents) == 3


def test_results_pair_by_name_when_ids_differ_and_orphans_are_refused() -> None:
    req = ir.Request(
        model="g",
        messages=[
            user(ir.TextPart("q")),
            assistant(ir.ToolCallPart("call_A", "f", "{}")),
            user(ir.ToolResultPart("other-id", [ir.TextPart("r")], name="f")),
        ],
    )
    assert gemini.encode_request(req, "g", profile_of("gemini", "g"))["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": "r"}}}
    ]
    req.messages[2] = user(ir.ToolResultPart("other-id", [ir.TextPart("r")], name="zzz"))
    with pytest.raises(ir.ApiError, match="answers no tool call"):
        gemini.encode_request(req, "g", profile_of("gemini", "g"))


def test_ids_go_back_only_for_a_gemini_client_and_never_made_up_ones() -> None:
    made_up = ids.synthesize("gemini:1", 0)
    req = ir.Request(
        model="g",
        messages=[
            user(ir.TextPart("q")),
            assistant(ir.ToolCallPart("cli_1", "f", "{}"), ir.ToolCallPart(made_up, "f", "{}")),
            user(
                ir.ToolResultPart("cli_1", [ir.TextPart("1")]), ir.ToolResultPart(made_up, [ir.TextPart("2")])
            ),
        ],
        source_format="gemini",
    )
    contents = gemini.encode_request(req, "g", profile_of("gemini", "g"))["contents"]
    assert [p["functionCall"].get("id") for p in contents[1]["parts"]] == ["cli_1", None]
    assert [p["functionResponse"].get("id") for p in contents[2]["parts"]] == ["cli_1", None]
    req.source_format = "openai_chat"
    contents = gemini.encode_request(req, "g", profile_of("gemini", "g"))["contents"]
    assert all("id" not in p["functionCall"] for p in contents[1]["parts"])


def test_images_and_settings() -> None:
    req = ir.Request(
        model="g",
        messages=[
            user(
                ir.ImagePart(data=PNG),
                ir.ImagePart(url="data:image/webp;base64,UklGRxx"),
                ir.ImagePart(url="https://example.com/cat.PNG?x=1"),
                ir.ImagePart(url="gs://bucket/photo"),
            )
        ],
        temperature=3.5,
        top_p=0.9,
        top_k=40,
        max_tokens=100,
        stop=["a", "b", "c", "d", "e", "f"],
        tool_choice=ir.ToolChoice("required", parallel=False),
    )
    body = gemini.encode_request(req, "gemini-2.0-flash", profile_of("gemini", "gemini-2.0-flash"))
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRxx"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.PNG?x=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/photo"}},
    ]
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 2.0,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["a", "b", "c", "d", "e"],
    }
    assert "toolConfig" not in body and "tools" not in body  # no tools: nothing to configure


@pytest.mark.parametrize(
    ("model", "r", "expected"),
    [
        (
            "gemini-3-pro-preview",
            ir.Reasoning(effort="high", include_thoughts=True),
            {"thinkingLevel": "HIGH", "includeThoughts": True},
        ),
        ("gemini-3-pro-preview", ir.Reasoning(effort="max"), {"thinkingLevel": "XHIGH"}),
        ("gemini-3-flash-preview", ir.Reasoning(enabled=False), {"thinkingLevel": "MINIMAL"}),
        ("gemini-3-pro-preview", ir.Reasoning(enabled=False), {"thinkingLevel": "LOW"}),
        ("gemini-3-pro-preview", ir.Reasoning(budget_tokens=4096), {"thinkingBudget": 4096}),
        ("gemini-3-pro-preview", ir.Reasoning(), {}),
        ("gemini-2.5-flash", ir.Reasoning(effort="low"), {"thinkingBudget": 1024}),
        ("gemini-2.5-flash", ir.Reasoning(enabled=False), {"thinkingBudget": 0}),
        ("gemini-2.5-pro", ir.Reasoning(enabled=False), {"thinkingBudget": 128}),
        ("gemini-2.5-pro", ir.Reasoning(budget_tokens=31999), {"thinkingBudget": 31999}),
        (
            "gemini-2.5-flash",
            ir.Reasoning(include_thoughts=False),
            {"thinkingBudget": -1, "includeThoughts": False},
        ),
        ("gemini-2.0-flash", ir.Reasoning(effort="high"), None),
    ],
)
def test_thinking_config(model: str, r: ir.Reasoning, expected: dict[str, Any] | None) -> None:
    req = ir.Request(model="x", messages=[user(ir.TextPart("q"))], reasoning=r)
    assert (
        gemini.encode_request(req, model, profile_of("gemini", model))
        .get("generationConfig", {})
        .get("thinkingConfig")
        == expected
    )


def test_tool_declarations_sanitised_and_renamed() -> None:
    mcp = ir.Tool(
        "mcp__fs.read-file",
        "Read",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "file-path": {"type": "string", "$comment": "x"},
                "file_path": {"type": "string"},
                "opts": {
                    "type": "object",
                    "properties": {"max.lines": {"type": "integer"}},
                    "additionalProperties": {"type": "string"},
                },
            },
            "required": ["file-path"],
            "additionalProperties": False,
        },
    )
    no_args = ir.Tool("2fa", None, {"type": "object", "properties": {}})
    req = ir.Request(
        model="x",
        messages=[
            user(ir.TextPart("q")),
            assistant(
                ir.ToolCallPart(
                    "c",
                    "mcp__fs.read-file",
                    '{"file-path":"a","file_path":"b","opts":{"max.lines":3,"free-key":"v"}}',
                )
            ),
        ],
        tools=[mcp, no_args],
        tool_choice=ir.ToolChoice("tool", name="2fa"),
    )
    body = gemini.encode_request(req, "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash"))
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0] == {
        "name": "mcp__fs.read-file",
        "description": "Read",
        "parametersJsonSchema": {
            "type": "object",
            "properties": {
                "file_path_2": {"type": "string"},
                "file_path": {"type": "string"},
                "opts": {
                    "type": "object",
                    "properties": {"max_lines": {"type": "integer"}},
                    "additionalProperties": {"type": "string"},
                },
            },
            "required": ["file_path_2"],
            "additionalProperties": False,
        },
    }
    assert decls[1] == {"name": "_2fa"}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["_2fa"]}}
    # free-form keys (additionalProperties) keep their names
    assert body["contents"][1]["parts"][0]["functionCall"]["args"] == {
        "file_path_2": "a",
        "file_path": "b",
        "opts": {"max_lines": 3, "free-key": "v"},
    }
    # and an answer in wire names maps back to the client's names
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "_2fa", "args": {}}},
                        {
                            "functionCall": {
                                "name": "mcp__fs.read-file",
                                "args": {"file_path_2": "x", "opts": {"max_lines": 1}},
                            }
                        },
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "responseId": "r",
    }
    resp = decode_whole(gemini, answer, req)
    assert [(p.name, orjson.loads(p.arguments)) for p in resp.parts] == [  # type: ignore[union-attr]
        ("2fa", {}),
        ("mcp__fs.read-file", {"file-path": "x", "opts": {"max.lines": 1}}),
    ]
