"""Asking a target to continue an answer cut short (``Request.continues``, continue_on_cut).

The request's last message is an assistant message holding what the client already
received. Each format sends it as its provider takes it (``Profile.continuation``):
a prefill the model continues (Anthropic, Gemini), an assistant message flagged
``"prefix": true`` (DeepSeek's and Mistral's prefix mode), or, where neither is
taken, the assistant message followed by ``CONTINUE_INSTRUCTION`` as a user turn.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from daemon.ir import Message, Part, Request, TextPart

# The user turn that asks a model with no prefill or prefix mode to continue the assistant
# message before it. The fakes recognise the instruction form by this text.
CONTINUE_INSTRUCTION: Final = (
    "Your previous answer was cut off. Continue it from exactly where it stopped: "
    "do not repeat any of it, do not comment on the interruption; your first character "
    "follows its last one directly."
)


def instructed(req: Request) -> Request:
    """``req`` with ``CONTINUE_INSTRUCTION`` as a user turn after the assistant message to continue."""
    return dataclasses.replace(
        req, messages=[*req.messages, Message("user", [TextPart(CONTINUE_INSTRUCTION)])]
    )


def held(req: Request) -> bool:
    """Whether ``req`` asks to continue the answer its last message holds: an assistant message
    with text. One with none (cut during thinking) has nothing a model can continue, and goes
    as a plain request."""
    if not req.continues or not req.messages or req.messages[-1].role != "assistant":
        return False
    return any(isinstance(p, TextPart) and p.text.strip() for p in req.messages[-1].parts)


def fused(req: Request) -> Request:
    """``req`` with the answer so far as one text part, for formats that would join several
    with a blank line: the prefix must be what the client received, character for character."""
    last = req.messages[-1]
    texts = [p for p in last.parts if isinstance(p, TextPart)]
    if len(texts) < 2:
        return req
    at = last.parts.index(texts[0])
    parts: list[Part] = [p for p in last.parts if not isinstance(p, TextPart)]
    parts.insert(at, TextPart("".join(p.text for p in texts)))
    return dataclasses.replace(req, messages=[*req.messages[:-1], dataclasses.replace(last, parts=parts)])
