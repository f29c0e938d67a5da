"""Gemini generateContent: wire <-> IR for requests, answers, streams and errors,
against the documented shapes, the fake upstream and the real google-genai SDK."""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from google import genai
from google.genai import types as gtypes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon import ir
from daemon.formats import gemini, ids
from daemon.formats.gemini_schema import Renames, from_openapi, property_renames, rename_args, to_openapi
from daemon.formats.gemini_stream import SKIP_SIGNATURE, to_client_signature
from daemon.formats.sse import SSEParser
from daemon.routing import reasoning
from tests.fakes.base import Answer, Fault, StreamFault, ToolCall
from tests.fakes.gemini import FakeGemini

SIG = base64.b64encode(b"a real gemini signature").decode()
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

# WIRE_FORMATS.md §4.2, with a real base64 signature.
DOC_REQUEST: dict[str, Any] = {
    "systemInstruction": {"parts": [{"text": "You are terse."}]},
    "contents": [
        {
            "role": "user",
            "parts": [{"text": "Weather in Paris?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}],
        },
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG}
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C, cloudy"}}}],
        },
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    "generationConfig": {
        "maxOutputTokens": 1024,
        "temperature": 0.7,
        "stopSequences": ["END"],
        "thinkingConfig": {"includeThoughts": True},
    },
}

# WIRE_FORMATS.md §4.3.
DOC_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "index": 0,
            "finishReason": "STOP",
            "content": {
                "role": "model",
                "parts": [
                    {"text": "thought summary...", "thought": True},
                    {
                        "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
                        "thoughtSignature": SIG,
                    },
                ],
            },
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 29,
        "candidatesTokenCount": 15,
        "thoughtsTokenCount": 804,
        "totalTokenCount": 848,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 29}],
    },
    "modelVersion": "gemini-3-pro-preview",
    "responseId": "QHiLaa6LBrb8vdIPoNztsAg",
}

# WIRE_FORMATS.md §4.4: the real capture's two frames.
USAGE = {
    "promptTokenCount": 29,
    "candidatesTokenCount": 15,
    "totalTokenCount": 848,
    "thoughtsTokenCount": 804,
}
DOC_STREAM = [
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
                            "thoughtSignature": SIG,
                        }
                    ],
                    "role": "model",
                },
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "QHiLaa6LBrb8vdIPoNztsAg",
    },
    {
        "candidates": [
            {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "QHiLaa6LBrb8vdIPoNztsAg",
    },
]

# CLIENTS.md: what Gemini CLI sends back after a tool call.
CLI_REQUEST: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "Read README.md"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "id": "read_file_1732200000000_0",
                        "name": "read_file",
                        "args": {"file_path": "README.md"},
                    },
                    "thoughtSignature": "skip_thought_signature_validator",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "read_file_1732200000000_0",
                        "name": "read_file",
                        "response": {"output": "# detour"},
                    }
                }
            ],
        },
    ],
    "systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI."}]},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "read_file",
                    "description": "Reads a file",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"file_path": {"type": "string"}},
                        "required": ["file_path"],
                    },
                },
                {
                    "name": "run_shell_command",
                    "parametersJsonSchema": {"type": "object", "properties": {"command": {"type": "string"}}},
                },
            ]
        }
    ],
    "generationConfig": {
        "temperature": 0,
        "topP": 0.95,
        "topK": 64,
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
    },
}


def user(*parts: ir.Part) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message("assistant", list(parts))


def weather_tool() -> ir.Tool:
    return ir.Tool(
        "get_weather",
        "Get weather",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )


def events_of(frames: list[Any], req: ir.Request) -> list[ir.StreamEvent]:
    dec = gemini.stream_decoder(req)
    out = [ev for f in frames for ev in dec.feed(None, f)]
    return out + dec.close()


def assemble(events: list[ir.StreamEvent]) -> ir.Response:
    asm = ir.StreamAssembler()
    for ev in events:
        asm.feed(ev)
    return asm.response()


def reparse(data: bytes) -> list[Any]:
    parser = SSEParser()
    frames = parser.feed(data) + parser.close()
    assert all(f.event is None for f in frames)
    return [orjson.loads(f.data) for f in frames]


# -- requests: documented shapes ---------------------------------------------------------------


def test_documented_request_decodes() -> None:
    req = gemini.decode_request(DOC_REQUEST, model="gemini-3-pro-preview", stream=True)
    assert req.model == "gemini-3-pro-preview" and req.stream and req.source_format == "gemini"
    assert req.system == [ir.TextPart("You are terse.")]
    first, call_turn, results = req.messages
    assert first == user(ir.TextPart("Weather in Paris?"), ir.ImagePart(media_type="image/png", data=PNG))
    (call,) = call_turn.parts
    assert isinstance(call, ir.ToolCallPart)
    assert call.id == ids.synthesize("gemini:1", 0)
    assert (call.name, orjson.loads(call.arguments), call.opaque) == (
        "get_weather",
        {"city": "Paris"},
        ir.Opaque("gemini", SIG),
    )
    assert results.parts == [ir.ToolResultPart(call.id, [ir.TextPart("18C, cloudy")], name="get_weather")]
    assert req.tools == [weather_tool()]
    assert req.tool_choice == ir.ToolChoice("tool", name="get_weather")
    assert (req.max_tokens, req.temperature, req.stop) == (1024, 0.7, ["END"])
    assert req.reasoning == ir.Reasoning(include_thoughts=True)


def test_documented_request_round_trips() -> None:
    req = gemini.decode_request(DOC_REQUEST, model="gemini-3-pro-preview")
    body = gemini.encode_request(req, "gemini-3-pro-preview")
    expected = copy.deepcopy(DOC_REQUEST)
    decl = expected["tools"][0]["functionDeclarations"][0]
    decl["parametersJsonSchema"] = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    del decl["parameters"]
    assert body == expected
    assert gemini.decode_request(body, model="gemini-3-pro-preview") == req


def test_gemini_cli_history_keeps_ids_and_placeholder() -> None:
    req = gemini.decode_request(CLI_REQUEST, model="gemini-3-pro-preview", stream=True)
    call = req.messages[1].parts[0]
    result = req.messages[2].parts[0]
    assert isinstance(call, ir.ToolCallPart) and isinstance(result, ir.ToolResultPart)
    assert call.id == result.call_id == "read_file_1732200000000_0"
    assert call.opaque is None  # the placeholder is not a signature to keep
    assert req.reasoning == ir.Reasoning(effort="high", include_thoughts=True)
    assert (req.temperature, req.top_p, req.top_k) == (0.0, 0.95, 64)
    body = gemini.encode_request(req, "gemini-3-pro-preview")
    assert body["contents"] == CLI_REQUEST["contents"]
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "HIGH", "includeThoughts": True}


def test_snake_case_fields_parse() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "hi"}, {"inline_data": {"mime_type": "image/png", "data": PNG}}],
            }
        ],
        "system_instruction": {"parts": [{"text": "sys"}]},
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "f",
                        "parameters_json_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                    }
                ]
            }
        ],
        "tool_config": {"function_calling_config": {"mode": "NONE"}},
        "generation_config": {
            "max_output_tokens": 5,
            "top_k": 3.0,
            "thinking_config": {"thinking_budget": 0},
        },
    }
    req = gemini.decode_request(body, model="m")
    assert req.messages[0].parts[1] == ir.ImagePart(media_type="image/png", data=PNG)
    assert req.system == [ir.TextPart("sys")] and req.tools[0].name == "f"
    assert req.tool_choice == ir.ToolChoice("none")
    assert (req.max_tokens, req.top_k, req.reasoning) == (5, 3, ir.Reasoning(enabled=False))


def test_system_instruction_as_string_and_model_from_body() -> None:
    req = gemini.decode_request(
        {
            "model": "models/gemini-2.5-flash",
            "systemInstruction": "Be brief.",
            "contents": [{"parts": [{"text": "x"}]}],
        }
    )
    assert req.model == "gemini-2.5-flash" and req.system == [ir.TextPart("Be brief.")]
    assert req.messages == [user(ir.TextPart("x"))]


def test_unknown_top_level_and_response_schema_are_ignored() -> None:
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT"},
            "seed": 3,
        },
    }
    assert gemini.decode_request(body, model="m").messages == [user(ir.TextPart("x"))]


# -- requests: calls and their responses ---------------------------------------------------------


def test_parallel_calls_without_ids_pair_by_name_then_order() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "a", "args": {"n": 1}}},
                    {"functionCall": {"name": "b", "args": {}}},
                    {"functionCall": {"name": "a", "args": {"n": 2}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "b", "response": {"output": "B"}}},
                    {"functionResponse": {"name": "a", "response": {"output": "A1"}}},
                    {"functionResponse": {"name": "a", "response": {"output": "A2"}}},
                ],
            },
        ]
    }
    req = gemini.decode_request(body, model="m")
    calls = req.messages[1].parts
    results = req.messages[2].parts
    assert [c.id for c in calls] == [ids.synthesize("gemini:1", i) for i in range(3)]  # type: ignore[union-attr]
    assert [(r.call_id, r.content[0].text) for r in results] == [  # type: ignore[union-attr]
        (calls[1].id, "B"),  # type: ignore[union-attr]
        (calls[0].id, "A1"),  # type: ignore[union-attr]
        (calls[2].id, "A2"),  # type: ignore[union-attr]
    ]
    # Deterministic: the same history gives the same ids on the next request.
    assert gemini.decode_request(body, model="m") == req
    # Back on the wire the responses follow the calls' order.
    names = [
        p["functionResponse"]["response"]["output"]
        for p in gemini.encode_request(req, "gemini-2.5-flash")["contents"][2]["parts"]
    ]
    assert names == ["A1", "B", "A2"]


@pytest.mark.parametrize(
    ("response", "text", "is_error"),
    [
        ({"output": "plain"}, "plain", False),
        ({"output": {"temp": 18}}, '{"temp":18}', False),
        ({"error": "boom"}, "boom", True),
        ({"error": {"code": 7}}, '{"code":7}', True),
        ({"output": "x", "error": "y"}, '{"output":"x","error":"y"}', True),
        ({"temp": 18, "unit": "C"}, '{"temp":18,"unit":"C"}', False),
        ({"output": ""}, None, False),
    ],
)
def test_function_response_content(response: dict[str, Any], text: str | None, is_error: bool) -> None:
    body = {
        "contents": [
            {"parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"parts": [{"functionResponse": {"name": "f", "response": response}}]},
        ]
    }
    (result,) = gemini.decode_request(body, model="m").messages[2].parts
    assert isinstance(result, ir.ToolResultPart)
    assert result.content == ([ir.TextPart(text)] if text is not None else [])
    assert result.is_error is is_error and result.name == "f"


def test_thought_chunks_join_and_wrapped_signatures_come_back() -> None:
    wrapped = "dtr1.up-anthropic.EqQBsig"
    body = {
        "contents": [
            {"parts": [{"text": "q"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Let me ", "thought": True},
                    {"text": "think.", "thought": True},
                    {"text": "", "thought": True, "thoughtSignature": to_client_signature(wrapped)},
                    {"text": "Hel"},
                    {"text": "lo"},
                    {"text": "", "thoughtSignature": SIG},
                ],
            },
        ]
    }
    req = gemini.decode_request(body, model="m")
    assert req.messages[1].parts == [
        ir.ThinkingPart("Let me think.", opaque=ir.Opaque("gemini", wrapped)),
        ir.TextPart("Hello", opaque=ir.Opaque("gemini", SIG)),
    ]
    # routing then knows who issued the thinking signature again
    unwrapped = reasoning.from_client(req)
    assert unwrapped.messages[1].parts[0].opaque == ir.Opaque("up-anthropic", "EqQBsig")  # type: ignore[union-attr]


def test_reasoning_settings_decode() -> None:
    def reasoning_of(tc: dict[str, Any]) -> ir.Reasoning | None:
        body = {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"thinkingConfig": tc}}
        return gemini.decode_request(body, model="m").reasoning

    assert reasoning_of({"thinkingBudget": 0}) == ir.Reasoning(enabled=False)
    assert reasoning_of({"thinkingBudget": -1}) == ir.Reasoning()
    assert reasoning_of({"thinkingBudget": 2048, "includeThoughts": False}) == ir.Reasoning(
        budget_tokens=2048, include_thoughts=False
    )
    for level, effort in [
        ("MINIMAL", "minimal"),
        ("LOW", "low"),
        ("MEDIUM", "medium"),
        ("HIGH", "high"),
        ("XHIGH", "xhigh"),
    ]:
        assert reasoning_of({"thinkingLevel": level}) == ir.Reasoning(effort=effort)  # type: ignore[arg-type]


# -- requests: invalid input -------------------------------------------------------------------

TEXT = {"parts": [{"text": "x"}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": "hi"}, "contents: expected an array"),
        ({}, "contents: required"),
        (
            {"contents": [{"role": "wizard", "parts": [{"text": "hi"}]}]},
            "contents[0].role: must be 'user' or 'model'",
        ),
        ({"contents": [{"parts": [{"hologram": {}}]}]}, "contents[0].parts[0]: expected one of text"),
        ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text: expected a string"),
        (
            {"contents": [{"parts": [{"text": "a", "inlineData": {}}]}]},
            "contents[0].parts[0]: a part holds one kind of data",
        ),
        (
            {"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]},
            "contents[0].parts[0].executableCode",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AA=="}}]}]},
            "'application/pdf' is not an image",
        ),
        (
            {
                "contents": [
                    {"parts": [{"fileData": {"fileUri": "gs://b/doc.pdf", "mimeType": "application/pdf"}}]}
                ]
            },
            "fileData.mimeType",
        ),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]},
            "function calls belong in model contents",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": []}}]}]},
            "functionCall.args: expected an object",
        ),
        (
            {"contents": [TEXT, {"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "no function call of the model turn before",
        ),
        (
            {
                "contents": [
                    TEXT,
                    {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
                    {"parts": [{"functionResponse": {"name": "f", "response": "ok"}}]},
                ]
            },
            "functionResponse.response: expected an object",
        ),
        (
            {"contents": [TEXT], "tools": [{"googleSearch": {}}]},
            "tools[0].googleSearch: a Gemini built-in tool",
        ),
        ({"contents": [TEXT], "tools": [{"codeExecution": {}}]}, "tools[0].codeExecution"),
        (
            {
                "contents": [TEXT],
                "tools": [
                    {"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}
                ],
            },
            "mutually exclusive",
        ),
        (
            {"contents": [TEXT], "tools": [{"functionDeclarations": [{"description": "d"}]}]},
            "functionDeclarations[0].name: expected a string",
        ),
        (
            {"contents": [TEXT], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "mode: 'SOMETIMES' is not one of",
        ),
        (
            {"contents": [TEXT], "generationConfig": {"candidateCount": 2}},
            "candidateCount: detour answers with one candidate",
        ),
        (
            {"contents": [TEXT], "generationConfig": {"temperature": "hot"}},
            "generationConfig.temperature: expected a number",
        ),
        (
            {"contents": [TEXT], "generationConfig": {"thinkingConfig": {"thinkingLevel": "HUGE"}}},
            "thinkingLevel: 'HUGE'",
        ),
        (
            {"contents": [TEXT], "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}},
            "thinkingBudget",
        ),
        (
            {
                "contents": [TEXT],
                "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]},
            },
            "systemInstruction.parts[0]",
        ),
        ([1, 2], "request body: expected an object"),
    ],
)
def test_invalid_requests_name_the_field(body: Any, message: str) -> None:
    with pytest.raises(ir.ApiError) as caught:
        gemini.decode_request(body, model="m")
    assert caught.value.status == 400 and caught.value.kind == "invalid_request"
    assert message in caught.value.message


# -- requests: IR from other formats -> Gemini -------------------------------------------------


def foreign_request(**kw: Any) -> ir.Request:
    """What an Anthropic or OpenAI client's conversation looks like in IR."""
    messages = [
        ir.Message("system", [ir.TextPart("Mid-conversation rule.")]),
        user(ir.TextPart("Weather in Paris and Rome?")),
        assistant(
            ir.ThinkingPart("User wants weather...", opaque=ir.Opaque("foreign:anthropic", "EqQB")),
            ir.TextPart("Let me check."),
            ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
            ir.ToolCallPart("toolu_02", "get_weather", '{"city":"Rome"}'),
        ),
        user(
            ir.ToolResultPart("toolu_02", [ir.TextPart("21C, sunny")]),
            ir.ToolResultPart(
                "toolu_01", [ir.TextPart("18C, cloudy"), ir.ImagePart(media_type="image/png", data=PNG)]
            ),
            ir.TextPart("Also summarise."),
        ),
    ]
    base: dict[str, Any] = {
        "model": "via-gemini",
        "messages": messages,
        "system": [ir.TextPart("You are terse.")],
        "tools": [weather_tool()],
        "source_format": "anthropic",
    }
    return ir.Request(**(base | kw))


def test_foreign_conversation_encodes_to_valid_contents() -> None:
    body = gemini.encode_request(foreign_request(), "gemini-3-pro-preview")
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
    contents = gemini.encode_request(req, "gemini-3-flash-preview")["contents"]
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
                ir.ThinkingPart("theirs", opaque=ir.Opaque("foreign:anthropic", "x")),
                ir.ThinkingPart("", redacted="abc"),
                ir.TextPart("t", opaque=ir.Opaque("gemini", "c2ln")),
                ir.ToolCallPart("c", "f", "{}", opaque=ir.Opaque("gemini", SIG)),
            ),
        ],
    )
    (_, model_turn) = gemini.encode_request(req, "gemini-3-pro")["contents"]
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
    contents = gemini.encode_request(req, "gemini-2.5-flash")["contents"]
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
    assert gemini.encode_request(req, "g")["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": "r"}}}
    ]
    req.messages[2] = user(ir.ToolResultPart("other-id", [ir.TextPart("r")], name="zzz"))
    with pytest.raises(ir.ApiError, match="answers no tool call"):
        gemini.encode_request(req, "g")


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
    contents = gemini.encode_request(req, "g")["contents"]
    assert [p["functionCall"].get("id") for p in contents[1]["parts"]] == ["cli_1", None]
    assert [p["functionResponse"].get("id") for p in contents[2]["parts"]] == ["cli_1", None]
    req.source_format = "openai_chat"
    contents = gemini.encode_request(req, "g")["contents"]
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
    body = gemini.encode_request(req, "gemini-2.0-flash")
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
    assert gemini.encode_request(req, model).get("generationConfig", {}).get("thinkingConfig") == expected


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
    body = gemini.encode_request(req, "gemini-2.5-flash")
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
    resp = gemini.decode_response(answer, req)
    assert [(p.name, orjson.loads(p.arguments)) for p in resp.parts] == [  # type: ignore[union-attr]
        ("2fa", {}),
        ("mcp__fs.read-file", {"file-path": "x", "opts": {"max.lines": 1}}),
    ]


# -- schema dialects ---------------------------------------------------------------------------


def test_json_schema_to_openapi_subset() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["x", "ghost"],
            }
        },
        "properties": {
            "at": {"$ref": "#/$defs/Point", "description": "where"},
            "maybe": {
                "anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}],
                "description": "optional",
            },
            "either": {"type": ["integer", "null"], "format": "int32"},
            "many": {"type": ["string", "integer"]},
            "mode": {"const": "fast"},
            "level": {"enum": [1, 2, None]},
            "choice": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}]
            },
            "merged": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}},
                ]
            },
            "empty": {"type": "object", "properties": {}, "additionalProperties": True},
            "self": {"$ref": "#"},
            "noted": {"type": "string", "examples": ["e1", "e2"], "pattern": "^a", "not": {"const": "b"}},
        },
        "required": ["at"],
        "additionalProperties": False,
    }
    out = to_openapi(schema)
    assert out == {
        "type": "OBJECT",
        "properties": {
            "at": {
                "type": "OBJECT",
                "description": "where",
                "properties": {"x": {"type": "NUMBER"}},
                "required": ["x"],
            },
            "maybe": {"type": "STRING", "description": "optional", "nullable": True},
            "either": {"type": "INTEGER", "format": "int32", "nullable": True},
            "many": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
            "mode": {"type": "STRING", "enum": ["fast"]},
            "level": {"type": "STRING", "enum": ["1", "2"], "nullable": True},
            "choice": {
                "anyOf": [{"type": "STRING"}, {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": 1}]
            },
            "merged": {
                "type": "OBJECT",
                "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
                "required": ["a"],
            },
            "empty": {"type": "OBJECT"},
            "self": {"type": "OBJECT"},
            "noted": {"type": "STRING", "pattern": "^a", "example": "e1"},
        },
        "required": ["at"],
    }


def test_openapi_subset_to_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING", "nullable": True, "example": "Ann"},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": "1"},
            "any": {"any_of": [{"type": "INTEGER"}, {"type": "BOOLEAN"}], "nullable": True},
        },
        "propertyOrdering": ["name", "kind"],
        "required": ["name"],
    }
    assert from_openapi(schema) == {
        "type": "object",
        "properties": {
            "name": {"type": ["string", "null"], "examples": ["Ann"]},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "any": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "null"}]},
        },
        "required": ["name"],
    }


def test_property_renames_are_collision_safe_and_reversible() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a-b": {"type": "string"},
            "a_b": {"type": "string"},
            "a.b": {"type": "string"},
            "9lives": {"type": "integer"},
            "x" * 70: {"type": "string"},
            "list": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "alt": {
                "anyOf": [{"type": "object", "properties": {"k-1": {"type": "string"}}}, {"type": "null"}]
            },
        },
        "$defs": {"Item": {"type": "object", "properties": {"item-id": {"type": "string"}}}},
    }
    renames = property_renames(schema)
    assert renames == {
        "a-b": "a_b_2",
        "a.b": "a_b_3",
        "9lives": "_9lives",
        "x" * 70: "x" * 64,
        "k-1": "k_1",
        "item-id": "item_id",
    }
    args = {"a-b": 1, "a_b": 2, "a.b": 3, "list": [{"item-id": "i"}], "alt": {"k-1": "v"}, "extra-key": 0}
    wire = rename_args(args, schema, renames)
    assert wire == {
        "a_b_2": 1,
        "a_b": 2,
        "a_b_3": 3,
        "list": [{"item_id": "i"}],
        "alt": {"k_1": "v"},
        "extra-key": 0,
    }
    assert rename_args(wire, schema, renames, back=True) == args
    assert property_renames({"type": "object", "properties": {"fine_name": {}}}) == {}
    assert Renames.of([ir.Tool("ok.name:v1-x")]).tools == {}


# -- answers -----------------------------------------------------------------------------------

REQ = ir.Request(model="gemini-3-pro-preview", messages=[user(ir.TextPart("q"))], source_format="gemini")


def test_documented_response_decodes() -> None:
    resp = gemini.decode_response(DOC_RESPONSE, REQ)
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
    resp = gemini.decode_response(DOC_RESPONSE, REQ)
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
    assert gemini.decode_response(body, REQ) == resp
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
    resp = gemini.decode_response(body, REQ)
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
    resp = gemini.decode_response(blocked, REQ)
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
    assert gemini.decode_response(body, REQ).usage == ir.Usage(
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
    resp = gemini.decode_response(body, REQ)
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
        gemini.decode_response(body, REQ)
    assert caught.value.status == 502
    with pytest.raises(ir.ApiError) as caught:
        gemini.decode_response(
            {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}, REQ
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


# -- streams -----------------------------------------------------------------------------------


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
    assert assemble(events) == gemini.decode_response(body, REQ)


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


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "gstatus"),
    [
        ("invalid_request", 400, "INVALID_ARGUMENT"), ("context_too_long", 400, "INVALID_ARGUMENT"),
        ("authentication", 401, "UNAUTHENTICATED"), ("permission", 403, "PERMISSION_DENIED"),
        ("not_found", 404, "NOT_FOUND"), ("rate_limit", 429, "RESOURCE_EXHAUSTED"), ("overloaded", 503, "UNAVAILABLE"),
        ("server_error", 500, "INTERNAL"), ("timeout", 504, "DEADLINE_EXCEEDED"), ("request_too_large", 413, "INVALID_ARGUMENT"),
        ("content_policy", 400, "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_encode_error_kinds(kind: ir.ErrorKind, status: int, gstatus: str) -> None:
    body = gemini.encode_error(ir.ApiError(status, kind, "why"))
    assert body == {"error": {"code": status, "message": "why", "status": gstatus}}
    back = gemini.decode_error(status, body, {})
    assert back.kind == kind or kind in ("context_too_long", "content_policy")


def test_detour_refusals_carry_error_info() -> None:
    budget = ir.ApiError(
        402,
        "budget_exceeded",
        "the daily budget is spent",
        details={"scope": "day", "spent_usd": 15.2, "resets_at": None},
    )
    assert gemini.encode_error(budget) == {
        "error": {
            "code": 402,
            "message": "the daily budget is spent",
            "status": "FAILED_PRECONDITION",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "budget_exceeded",
                    "domain": "detour",
                    "metadata": {"scope": "day", "spent_usd": "15.2"},
                }
            ],
        }
    }
    failed = ir.ApiError(
        503,
        "all_providers_failed",
        "every model failed",
        details={"attempts": [{"provider": "a", "outcome": "429"}]},
        retry_after_s=2.5,
    )
    error = gemini.encode_error(failed)["error"]
    assert error["status"] == "UNAVAILABLE"
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "all_providers_failed",
            "domain": "detour",
            "metadata": {"attempts": '[{"provider":"a","outcome":"429"}]'},
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"},
    ]


def test_decode_documented_429_and_other_upstream_errors() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"},
            ],
        }
    }
    err = gemini.decode_error(429, body, {})
    assert (err.status, err.kind, err.retry_after_s, err.message) == (
        429,
        "rate_limit",
        34.4,
        "You exceeded your current quota, please check your plan.",
    )
    assert err.upstream == body

    def kind(status: int, message: str = "m", gstatus: str = "", **headers: str) -> tuple[str, float | None]:
        e = gemini.decode_error(
            status, {"error": {"code": status, "message": message, "status": gstatus}}, headers
        )
        return e.kind, e.retry_after_s

    assert kind(
        400, "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    ) == ("context_too_long", None)
    assert kind(400, "Request contains an invalid argument.", "INVALID_ARGUMENT") == ("invalid_request", None)
    assert kind(503, "The model is overloaded.", "UNAVAILABLE", **{"Retry-After": "7"}) == ("overloaded", 7.0)
    assert kind(500, gstatus="INTERNAL", **{"retry-after-ms": "1500"}) == ("server_error", 1.5)
    assert kind(504, gstatus="DEADLINE_EXCEEDED") == ("timeout", None)
    assert kind(403, gstatus="PERMISSION_DENIED") == ("permission", None)
    assert kind(402, gstatus="RESOURCE_EXHAUSTED") == ("permission", None)  # prepaid credit spent
    assert kind(404, gstatus="NOT_FOUND") == ("not_found", None)
    bad_key = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}  # fmt: skip
    assert gemini.decode_error(400, bad_key, {}).kind == "authentication"
    assert gemini.decode_error(502, {"error": {"message": "<html>bad gateway"}}, {}).kind == "server_error"
    assert (
        gemini.decode_error(
            500, [{"error": {"code": 500, "message": "in an array", "status": "INTERNAL"}}], {}
        ).message
        == "in an array"
    )


# -- property: IR -> Gemini -> IR -----------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)
sigs = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())
json_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), texts)
args = st.dictionaries(names, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())


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
    body = orjson.loads(orjson.dumps(gemini.encode_request(req, req.model)))
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


def stream_events(resp: ir.Response) -> list[ir.StreamEvent]:
    events: list[ir.StreamEvent] = [ir.StreamStart(resp.id, resp.model)]
    for i, p in enumerate(resp.parts):
        match p:
            case ir.TextPart():
                events += [
                    ir.PartStart(i, ir.TextPart("")),
                    ir.TextDelta(i, p.text[:3]),
                    ir.TextDelta(i, p.text[3:]),
                ]
            case ir.ThinkingPart():
                events += [ir.PartStart(i, ir.ThinkingPart()), ir.ThinkingDelta(i, p.text)]
            case ir.ToolCallPart():
                events += [
                    ir.PartStart(i, ir.ToolCallPart(p.id, p.name, "")),
                    ir.ArgumentsDelta(i, p.arguments[:2]),
                    ir.ArgumentsDelta(i, p.arguments[2:]),
                ]
        if p.opaque is not None:
            events.append(ir.SignatureDelta(i, p.opaque))
        events.append(ir.PartEnd(i))
    return events + [ir.UsageUpdate(resp.usage), ir.StreamEnd(resp.finish, resp.raw_finish)]


@settings(max_examples=150, deadline=None)
@given(answers())
def test_answers_round_trip_plain_and_streamed(resp: ir.Response) -> None:
    assert gemini.decode_response(orjson.loads(orjson.dumps(gemini.encode_response(resp, REQ))), REQ) == resp
    encoder = gemini.stream_encoder(REQ)
    data = b"".join(encoder.feed(ev) for ev in stream_events(resp))
    assert assemble(events_of(reparse(data), REQ)) == resp


# -- against the fake upstream -----------------------------------------------------------------

KEY = "AIzaSyTEST-gemini"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    f = await FakeGemini(key=KEY).start()
    yield f
    await f.close()


async def post(
    fake: FakeGemini, model: str, body: Any, *, stream: bool = False, key: str = KEY
) -> tuple[int, Any, bytes]:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{fake.url}/v1beta/models/{model}:{method}", json=body, headers={"x-goog-api-key": key}) as r,
    ):
        raw = b""
        try:
            async for chunk in r.content.iter_any():
                raw += chunk
        except aiohttp.ClientPayloadError:
            pass  # the upstream cut the stream: what came before is what there is
        return r.status, (None if stream and r.status == 200 else orjson.loads(raw)), raw


def stream_answer(raw: bytes, req: ir.Request) -> ir.Response:
    parser = SSEParser()
    dec = gemini.stream_decoder(req)
    events = [ev for f in parser.feed(raw) + parser.close() for ev in dec.feed(f.event, orjson.loads(f.data))]
    return assemble(events + dec.close())


def tool_turn() -> ir.Request:
    req = foreign_request()
    req.messages[-1].parts.pop()  # the turn is still open: the model turn before is validated
    return req


async def test_fake_accepts_our_request_and_its_stream_decodes(fake: FakeGemini) -> None:
    model = "gemini-3-pro-preview"
    fake.script.append(
        Answer(
            text="Checking both.",
            thinking="Paris first.",
            tool_calls=[ToolCall("get_weather", {"city": "Oslo"})],
            chunks=3,
            output_tokens=20,
            reasoning_tokens=5,
        )
    )
    req = tool_turn()
    status, _, raw = await post(fake, model, gemini.encode_request(req, model), stream=True)
    assert status == 200, raw
    assert b"\r\n\r\n" in raw  # CRLF-framed like the real thing
    sent = fake.last.body
    assert sent["contents"][1]["parts"][1]["thoughtSignature"] == SKIP_SIGNATURE
    assert fake.last.headers["x-goog-api-key"] == KEY and fake.last.query == {"alt": "sse"}
    resp = stream_answer(raw, req)
    thinking, text, call = resp.parts
    assert thinking == ir.ThinkingPart("Paris first.") and text == ir.TextPart("Checking both.")
    assert isinstance(call, ir.ToolCallPart) and (call.name, orjson.loads(call.arguments)) == (
        "get_weather",
        {"city": "Oslo"},
    )
    assert call.opaque is not None and call.opaque.origin == "gemini"
    assert (resp.finish, resp.usage) == (
        "tool_use",
        ir.Usage(input_tokens=12, output_tokens=20, reasoning_tokens=5),
    )

    # The next request carries the fake's own signature back on the call; the fake checks it.
    req.messages += [
        ir.Message("assistant", list(resp.parts)),
        user(ir.ToolResultPart(call.id, [ir.TextPart("-3C")])),
    ]
    fake.script.append(Answer(text="Oslo is cold."))
    status, body, _ = await post(fake, model, gemini.encode_request(req, model))
    assert status == 200, body
    sent_call = fake.last.body["contents"][3]["parts"][-1]
    assert sent_call["thoughtSignature"] == call.opaque.signature
    answer = gemini.decode_response(body, req)
    assert (answer.parts, answer.finish) == ([ir.TextPart("Oslo is cold.")], "end")


async def test_fake_accepts_renamed_mcp_tools(fake: FakeGemini) -> None:
    tool = ir.Tool(
        "mcp__fs__read",
        "Read",
        {
            "$schema": "x",
            "type": "object",
            "properties": {"file-path": {"type": "string"}},
            "additionalProperties": False,
        },
    )
    req = ir.Request(
        model="m",
        messages=[user(ir.TextPart("read it"))],
        tools=[tool, ir.Tool("noop", None, {"type": "object", "properties": {}})],
    )
    fake.script.append(Answer(text=None, tool_calls=[ToolCall("mcp__fs__read", {"file_path": "a.txt"})]))
    status, body, _ = await post(fake, "gemini-2.5-flash", gemini.encode_request(req, "gemini-2.5-flash"))
    assert status == 200, body
    (call,) = gemini.decode_response(body, req).parts
    assert orjson.loads(call.arguments) == {"file-path": "a.txt"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (
            "gemini-2.5-flash",
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role",
        ),
        ("gemini-2.5-flash", {"contents": [{"parts": [{"text": ""}]}]}, "empty text parameter"),
        (
            "gemini-2.5-flash",
            {"contents": [TEXT], "generationConfig": {"maxTokens": 5}},
            "Unknown name \"maxTokens\" at 'generation_config'",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"a": {"type": "string"}},
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}
                        ]
                    }
                ],
            },
            "should be non-empty for OBJECT type",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [TEXT],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parametersJsonSchema": {"type": "object", "properties": {"file-path": {}}},
                            }
                        ]
                    }
                ],
            },
            "property name 'file-path'",
        ),
        (
            "gemini-2.5-flash",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}},
                            {"functionCall": {"name": "f", "args": {}}},
                        ],
                    },
                    {"parts": [{"functionResponse": {"name": "f", "response": {}}}]},
                ]
            },
            "number of function response parts",
        ),
        (
            "gemini-2.5-flash",
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}]},
            "comes immediately after a user turn",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    {"parts": [{"functionResponse": {"name": "f", "response": {}}}]},
                ]
            },
            "missing a thought_signature",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "dtr1.x.y"}
                        ],
                    },
                ]
            },
            "Base64 decoding failed",
        ),
        (
            "gemini-3-pro-preview",
            {
                "contents": [
                    TEXT,
                    {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SIG}],
                    },
                ]
            },
            "Corrupted thought signature",
        ),
        (
            "gemini-2.5-pro",
            {"contents": [TEXT], "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
            "Thinking level is not supported",
        ),
        ("gemini-2.5-flash", {"contents": [TEXT], "generationConfig": {"temperature": 2.5}}, "temperature"),
    ],
)
async def test_fake_validates_like_the_real_api(
    fake: FakeGemini, model: str, body: dict[str, Any], message: str
) -> None:
    status, answer, _ = await post(fake, model, body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
    assert message in answer["error"]["message"]
    assert gemini.decode_error(status, answer, {}).kind == "invalid_request"


async def test_fake_auth_faults_and_broken_streams(fake: FakeGemini) -> None:
    body = {"contents": [TEXT]}
    status, answer, _ = await post(fake, "gemini-2.5-flash", body, key="wrong")
    assert status == 401 and gemini.decode_error(status, answer, {}).kind == "authentication"

    fake.script.append(
        Fault(429, "Resource has been exhausted (e.g. check quota).", headers={"retry-after": "3"})
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}", json=body) as r,
    ):
        err = gemini.decode_error(r.status, await r.json(), r.headers)
    assert (err.kind, err.retry_after_s) == ("rate_limit", 3.0)

    req = ir.Request(model="gemini-2.5-flash", messages=[user(ir.TextPart("x"))])
    fake.script.append(Answer(text="abcdefgh", chunks=4, fault=StreamFault(after_frames=2, action="cut")))
    _, _, raw = await post(fake, "gemini-2.5-flash", body, stream=True)
    with pytest.raises(ir.ApiError, match="cut before its finishReason"):
        stream_answer(raw, req)

    fake.script.append(
        Answer(text="abcdefgh", chunks=4, fault=StreamFault(after_frames=1, action="error", status=503))
    )
    _, _, raw = await post(fake, "gemini-2.5-flash", body, stream=True)
    with pytest.raises(ir.ApiError) as caught:
        stream_answer(raw, req)
    assert (caught.value.status, caught.value.kind) == (503, "overloaded")


async def test_fake_stream_without_alt_sse_is_an_array(fake: FakeGemini) -> None:
    fake.script.append(Answer(text="in an array", chunks=2))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{fake.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            json={"contents": [TEXT]},
            headers={"x-goog-api-key": KEY},
        ) as r,
    ):
        chunks = await r.json()
    req = ir.Request(model="gemini-2.5-flash", messages=[])
    assert assemble(events_of([chunks], req)).parts == [ir.TextPart("in an array")]


async def test_fake_count_tokens_v1_path_and_real_auth_codes() -> None:
    fake = await FakeGemini(key=KEY, real_auth_codes=True).start()
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{fake.url}/v1/models/gemini-2.5-flash:countTokens",
                json={"contents": [TEXT]},
                headers={"x-goog-api-key": KEY},
            ) as r:
                assert r.status == 200 and (await r.json())["totalTokens"] > 0
            async with s.post(url, json={"contents": [TEXT]}) as r:
                err = gemini.decode_error(r.status, await r.json(), r.headers)
                assert (err.status, err.kind) == (403, "permission")
            async with s.post(url, json={"contents": [TEXT]}, headers={"x-goog-api-key": "AIza-wrong"}) as r:
                err = gemini.decode_error(r.status, await r.json(), r.headers)
                assert (err.status, err.kind, err.message) == (
                    400,
                    "authentication",
                    "API key not valid. Please pass a valid API key.",
                )
    finally:
        await fake.close()


# -- against the real google-genai SDK -----------------------------------------------------------


class Scripted:
    """A local server that answers each request with the next scripted bytes or JSON and keeps what came."""

    def __init__(self) -> None:
        self.replies: list[bytes | dict[str, Any]] = []
        self.bodies: list[Any] = []
        self.paths: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        self.paths.append(request.path_qs)
        reply = self.replies.pop(0)
        if isinstance(reply, dict):
            return web.json_response(reply)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(reply)
        await resp.write_eof()
        return resp


@pytest.fixture
async def sdk() -> AsyncIterator[tuple[genai.Client, Scripted]]:
    scripted = Scripted()
    app = web.Application()
    # google-genai 3.x calls the stable `v1` path by default; v1beta is what other clients use.
    app.router.add_post("/v1beta/models/{tail}", scripted.handle)
    app.router.add_post("/v1/models/{tail}", scripted.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # Our own session: the SDK would otherwise subclass aiohttp.ClientSession, which aiohttp warns about.
    async with aiohttp.ClientSession() as session:
        options = gtypes.HttpOptions(base_url=f"http://127.0.0.1:{port}", aiohttp_client=session)
        client = genai.Client(api_key="x", http_options=options)
        yield client, scripted
        await client.aio.aclose()
    await runner.cleanup()


WRAPPED = "dtr1.up-anthropic.EqQBCgIYAhIM+sig/=="
TOOLS = [
    gtypes.Tool(
        function_declarations=[
            gtypes.FunctionDeclaration(
                name="get_weather",
                description="Get weather",
                parameters_json_schema=weather_tool().parameters,
            )
        ]
    )
]


async def test_sdk_reads_our_stream_and_sends_history_we_read_back(
    sdk: tuple[genai.Client, Scripted],
) -> None:
    client, scripted = sdk
    answer = ir.Response(
        id="msg_01",
        model="claude-sonnet-4-5",
        parts=[
            ir.ThinkingPart("Weather needs a tool.", opaque=ir.Opaque("gemini", WRAPPED)),
            ir.TextPart("Let me check."),
            ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
            ir.ToolCallPart("toolu_02", "get_weather", '{"city":"Rome"}'),
        ],
        finish="tool_use",
        usage=ir.Usage(20, 9, reasoning_tokens=4),
    )
    encoder = gemini.stream_encoder(REQ)
    scripted.replies.append(b"".join(encoder.feed(ev) for ev in stream_events(answer)))
    config = gtypes.GenerateContentConfig(tools=TOOLS, system_instruction="Be brief.")
    contents = [gtypes.Content(role="user", parts=[gtypes.Part(text="Weather in Paris and Rome?")])]
    parts: list[gtypes.Part] = []
    last = None
    async for chunk in await client.aio.models.generate_content_stream(
        model="via-gemini", contents=contents, config=config
    ):
        last = chunk
        if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
            parts += chunk.candidates[0].content.parts
    assert scripted.paths[0] == "/v1/models/via-gemini:streamGenerateContent?alt=sse"
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("toolu_01", "get_weather", {"city": "Paris"}),
        ("toolu_02", "get_weather", {"city": "Rome"}),
    ]  # type: ignore[union-attr]
    assert "".join(p.text or "" for p in parts if not p.thought) == "Let me check."
    assert last is not None and last.candidates[0].finish_reason == gtypes.FinishReason.STOP  # type: ignore[index]
    assert last.usage_metadata is not None and last.usage_metadata.thoughts_token_count == 4

    # The SDK sends the turn back as it kept it; detour reads it as the same conversation.
    contents.append(gtypes.Content(role="model", parts=parts))
    contents.append(
        gtypes.Content(
            role="user",
            parts=[
                gtypes.Part(
                    function_response=gtypes.FunctionResponse(
                        id=c.id, name=c.name, response={"output": f"{i}C"}
                    )
                )
                for i, c in enumerate(calls)
            ],
        )  # type: ignore[union-attr]
    )
    scripted.replies.append(
        gemini.encode_response(ir.Response(id="r2", model="m", parts=[ir.TextPart("Done.")]), REQ)
    )
    reply = await client.aio.models.generate_content(model="via-gemini", contents=contents, config=config)
    assert reply.candidates and reply.candidates[0].content and reply.candidates[0].content.parts
    assert reply.candidates[0].content.parts[0].text == "Done."
    req = reasoning.from_client(gemini.decode_request(scripted.bodies[1], model="via-gemini"))
    assert req.system == [ir.TextPart("Be brief.")]
    model_turn, results = req.messages[1], req.messages[2]
    assert model_turn.parts == [
        ir.ThinkingPart("Weather needs a tool.", opaque=ir.Opaque("up-anthropic", "EqQBCgIYAhIM+sig/==")),
        ir.TextPart("Let me check."),
        ir.ToolCallPart("toolu_01", "get_weather", '{"city":"Paris"}'),
        ir.ToolCallPart("toolu_02", "get_weather", '{"city":"Rome"}'),
    ]
    assert [(r.call_id, r.content) for r in results.parts] == [
        ("toolu_01", [ir.TextPart("0C")]),
        ("toolu_02", [ir.TextPart("1C")]),
    ]  # type: ignore[union-attr]
    assert req.tools == [weather_tool()]


async def test_sdk_reads_our_plain_answer_and_error_frame(sdk: tuple[genai.Client, Scripted]) -> None:
    client, scripted = sdk
    answer = ir.Response(
        id="r1", model="gpt-4.1", parts=[ir.TextPart("Bonjour.")], usage=ir.Usage(5, 2, cache_read_tokens=1)
    )
    scripted.replies.append(gemini.encode_response(answer, REQ))
    reply = await client.aio.models.generate_content(model="via-openai", contents="Say hello")
    assert reply.text == "Bonjour."
    assert reply.usage_metadata is not None and (
        reply.usage_metadata.prompt_token_count,
        reply.usage_metadata.cached_content_token_count,
    ) == (5, 1)
    assert reply.response_id == "r1" and reply.model_version == "gpt-4.1"

    encoder = gemini.stream_encoder(REQ)
    head = b"".join(
        encoder.feed(ev)
        for ev in [ir.StreamStart("r2", "m"), ir.PartStart(0, ir.TextPart("")), ir.TextDelta(0, "Par")]
    )
    scripted.replies.append(
        head + encoder.error(ir.ApiError(503, "overloaded", "upstream overloaded mid-stream"))
    )
    seen = []
    with pytest.raises(genai.errors.APIError) as caught:
        async for chunk in await client.aio.models.generate_content_stream(model="m", contents="x"):
            seen.append(chunk.text)
    assert seen == ["Par"] and caught.value.code == 503 and "upstream overloaded" in str(caught.value.message)
