"""What a model takes, as the encoders need to know it without knowing model names.

The table that fills one in per model (family rules, genai-prices, config
overrides) is ``daemon.providers.profiles``; routing looks a target's profile
up once and hands it to ``adapt``, ``structured.plan`` and the format encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# How a model takes reasoning settings: not at all, as a token budget (Claude 3.7 to 4.5,
# Gemini 2.5), or as an effort or level (Claude 4.6 on, Gemini 3, OpenAI o-series and gpt-5).
Thinking = Literal["none", "budget", "effort"]
JsonMode = Literal["json_object", "json_schema"]
# The JSON Schema subset a model's structured output takes: plain JSON Schema with any root
# (the simulator), OpenAI's and Anthropic's strict subsets (object roots only; Anthropic's
# closed objects cannot say maps), Gemini's OpenAPI subset (any root).
SchemaDialect = Literal["json_schema", "openai", "anthropic", "openapi"]
# How the model is asked to continue an answer cut short (``Request.continues``): "prefill", the
# trailing assistant message it continues (Claude to 4.5, Gemini); "prefix", that message flagged
# ``"prefix": true`` (DeepSeek's beta endpoint, Mistral); "instruction", that message and then a
# user turn asking to continue it (``formats.continuation.CONTINUE_INSTRUCTION``), for the rest.
Continuation = Literal["prefill", "prefix", "instruction"]
Param = Literal["temperature", "top_p", "top_k", "stop", "reasoning"]
ALL_PARAMS: Final[frozenset[Param]] = frozenset({"temperature", "top_p", "top_k", "stop", "reasoning"})


@dataclass(slots=True, frozen=True)
class Profile:
    context_window: int | None = None
    max_output: int | None = None
    # Request parameters the model accepts; others are dropped before the call.
    params: frozenset[Param] = ALL_PARAMS
    thinking: Thinking = "none"
    # Whether thinking can be turned (nearly) off: Gemini's Pro models think at least a little.
    thinking_stops: bool = True
    # The JSON answers it gives natively; others are asked for with a forced tool.
    json_modes: frozenset[JsonMode] = frozenset()
    schema_dialect: SchemaDialect = "json_schema"
    # Anthropic refuses thinking together with a forced tool choice.
    thinks_with_forced_tool: bool = True
    # Anthropic caches a prefix only this long or longer: a shorter breakpoint is wasted.
    min_cache_tokens: int | None = None
    # Gemini serves a client's ``cachedContent``; other models cannot take it.
    cached_content: bool = False
    continuation: Continuation = "instruction"

    @property
    def any_root(self) -> bool:
        """Whether a response schema may have a root other than an object."""
        return self.schema_dialect in ("json_schema", "openapi")
