"""Gemini generateContent fixtures from WIRE_FORMATS.md and CLIENTS.md, and helpers shared by its tests."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import strategies as st

from daemon import ir
from daemon.formats import gemini
from daemon.formats.sse import SSEParser

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


TEXT = {"parts": [{"text": "x"}]}


def foreign_request(**kw: Any) -> ir.Request:
    """What an Anthropic or OpenAI client's conversation looks like in IR."""
    messages = [
        ir.Message("system", [ir.TextPart("Mid-conversation rule.")]),
        user(ir.TextPart("Weather in Paris and Rome?")),
        assistant(
            ir.ThinkingPart("User wants weather...", opaque=ir.Opaque("anthropic", "EqQB", "up-a")),
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


REQ = ir.Request(model="gemini-3-pro-preview", messages=[user(ir.TextPart("q"))], source_format="gemini")


names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)


json_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), texts)


args = st.dictionaries(names, json_values, max_size=3).map(lambda d: orjson.dumps(d).decode())


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
