"""Wire formats by name, each a module satisfying ``formats.base.WireFormat``."""

from __future__ import annotations

from daemon.formats import anthropic, gemini, openai_chat, openai_responses
from daemon.formats.base import WireFormat

FORMATS: dict[str, WireFormat] = {
    "anthropic": anthropic,
    "openai_chat": openai_chat,
    "gemini": gemini,
    "openai_responses": openai_responses,
}
