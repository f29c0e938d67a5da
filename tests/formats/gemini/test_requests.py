"""Gemini generateContent requests -> IR: the documented shapes, calls paired with their
responses, and invalid input as a clear 400."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from daemon import ir
from daemon.formats import gemini, ids
from daemon.formats.gemini_stream import to_client_signature
from daemon.providers import reasoning
from daemon.providers.profiles import profile_of
from tests.formats.gemini.samples import CLI_REQUEST, DOC_REQUEST, PNG, SIG, TEXT, user, weather_tool


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
    body = gemini.encode_request(req, "gemini-3-pro-preview", profile_of("gemini", "gemini-3-pro-preview"))
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
    body = gemini.encode_request(req, "gemini-3-pro-preview", profile_of("gemini", "gemini-3-pro-preview"))
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
        for p in gemini.encode_request(req, "gemini-2.5-flash", profile_of("gemini", "gemini-2.5-flash"))[
            "contents"
        ][2]["parts"]
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
    assert unwrapped.messages[1].parts[0].opaque == ir.Opaque(None, "EqQBsig", "up-anthropic")  # type: ignore[union-attr]


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
