"""A finished answer, its usage, and why it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from daemon.ir.conversation import AssistantPart

FinishReason = Literal[
    "end",  # natural end of turn
    "stop_sequence",
    "length",  # max output tokens or the context window
    "tool_use",
    "content_filter",
    "refusal",
    "paused",  # Anthropic pause_turn: send back as-is to continue
    "error",
    "other",
]


@dataclass(slots=True)
class Usage:
    """Token counts on one scale for every provider.

    ``input_tokens`` is the whole prompt, cache reads and writes included;
    ``output_tokens`` is the whole completion, reasoning included.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def merge(self, newer: Usage) -> Usage:
        """Later reports win field by field where they carry a value (streams report cumulatively)."""
        return Usage(
            input_tokens=newer.input_tokens or self.input_tokens,
            output_tokens=newer.output_tokens or self.output_tokens,
            cache_read_tokens=newer.cache_read_tokens or self.cache_read_tokens,
            cache_write_tokens=newer.cache_write_tokens or self.cache_write_tokens,
            reasoning_tokens=newer.reasoning_tokens or self.reasoning_tokens,
        )


@dataclass(slots=True)
class Response:
    id: str
    model: str
    parts: list[AssistantPart] = field(default_factory=list)
    finish: FinishReason = "end"
    # The provider's own finish value, kept for logs and same-format pass-through.
    raw_finish: str | None = None
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None
