"""A conservative token count for a request, with no tokenizer download.

Real tokenizers give about 4 characters a token for English and code, fewer for
other scripts; counting 3 characters a token (and a fixed cost per image and
message) overestimates, which is the safe side for context windows and budgets.
"""

from __future__ import annotations

import orjson

from daemon.ir import (
    ImagePart,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    WebSearchPart,
)

CHARS_PER_TOKEN = 3
IMAGE_TOKENS = 1600  # Anthropic's cap for a full-size image; Gemini and OpenAI charge less
MESSAGE_OVERHEAD = 4


def text_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def json_tokens(value: object) -> int:
    # Serialized, as the provider will see it; orjson is ~10x faster than str() here,
    # which matters with an agent's two dozen tool schemas on every request.
    return -(-len(orjson.dumps(value)) // CHARS_PER_TOKEN)


def request_tokens(req: Request) -> int:
    n = sum(text_tokens(p.text) for p in req.system)
    for tool in req.tools:
        n += text_tokens(tool.name) + text_tokens(tool.description or "")
        if tool.parameters:
            n += json_tokens(tool.parameters)
    if req.response_format is not None and req.response_format.schema:
        n += json_tokens(req.response_format.schema)
    for msg in req.messages:
        n += MESSAGE_OVERHEAD
        for part in msg.parts:
            match part:
                case TextPart():
                    n += text_tokens(part.text)
                case ImagePart():
                    n += IMAGE_TOKENS
                case ToolCallPart():
                    n += text_tokens(part.name) + text_tokens(part.arguments)
                case ToolResultPart():
                    for c in part.content:
                        n += IMAGE_TOKENS if isinstance(c, ImagePart) else text_tokens(c.text)
                case ThinkingPart():
                    n += text_tokens(part.text)
                case WebSearchPart():
                    n += text_tokens(part.query) + sum(text_tokens(s.url) for s in part.sources)
    return n
