"""One capability ``Profile`` per model: family rules from the providers' model pages,
context windows from genai-prices, then the config's per-model overrides.

Model names are matched here and nowhere else: routing looks a target's profile up
once (``Provider.profile``) and the encoders read what it says.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Final

import genai_prices

from daemon.config import ModelConfig
from daemon.formats.profile import ALL_PARAMS, Param, Profile, Thinking

# Maximum output tokens by model family. genai-prices carries context windows but not
# output limits; config overrides both per model.
_MAX_OUTPUT: Final = (
    (re.compile(r"claude-(opus-4-[5-9]|sonnet-4|haiku-4-5|sonnet-5|opus-5)"), 64_000),
    (re.compile(r"claude-opus-4"), 32_000),
    (re.compile(r"claude-3-7"), 64_000),
    (re.compile(r"claude-3-5"), 8_192),
    (re.compile(r"claude-"), 4_096),
    (re.compile(r"gpt-5|o[134]"), 100_000),
    (re.compile(r"gpt-4\.1"), 32_768),
    (re.compile(r"gpt-4o"), 16_384),
    (re.compile(r"gemini-(2\.5|3)"), 65_536),
    (re.compile(r"gemini-"), 8_192),
    (re.compile(r"deepseek-reasoner"), 64_000),
    (re.compile(r"deepseek-"), 8_192),
)
# Model names each provider kind serves, for names no route claims.
_KIND_OF_MODEL: Final = (
    (re.compile(r"claude-"), "anthropic"),
    (re.compile(r"(gpt-|o\d|chatgpt-|codex-)"), "openai"),
    (re.compile(r"gemini-"), "gemini"),
)
_PRICE_PROVIDER: Final = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}

# Claude: no thinking before 3.7; a budget only from 3.7 to 4.5; effort (adaptive) after.
_CLAUDE_NO_THINKING = re.compile(r"claude-(instant|2|3-(?!7))")
_CLAUDE_BUDGET_ONLY = re.compile(r"claude-3-7|claude-(opus|sonnet|haiku)-4(-[0-5])?$")
_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
# Anthropic's minimum cacheable prompt length by model; the first match wins.
_MIN_CACHE: Final = (
    (re.compile(r"claude-(opus-4-[56]|haiku-4-5)"), 4096),
    (re.compile(r"claude-(opus-4-7|sonnet-4-6|3-5-haiku|3-haiku|haiku-3)"), 2048),
    (re.compile(r"claude-(opus|sonnet|fable|mythos)-5"), 512),
)
# Claude models from before structured outputs (4.5 on, and Opus 4.1, have them).
_CLAUDE_NO_SCHEMA = re.compile(r"claude-(instant|2|3)|claude-(opus|sonnet)-4(-0)?(-\d{8})?$")
# OpenAI reasoning models (also behind a compatible server's "openai/" prefix): they take
# reasoning_effort, and no temperature or top_p; o3 and o4-mini take no stop either.
_OPENAI_REASONING = re.compile(r"(^|/)(o\d|gpt-5)")
_OPENAI_NO_STOP = re.compile(r"(^|/)(o3|o4-mini)")
# Gemini: 2.5 thinks with a budget, 3 on with a level.
_GEMINI_BUDGET = re.compile(r"gemini-2\.5")
_GEMINI_LEVEL = re.compile(r"gemini-[3-9]")
# Claude 4.6 on answers a prefill (a conversation ending with an assistant message) 400.
_CLAUDE_NO_PREFILL = re.compile(r"claude-((opus|sonnet|haiku)-4-([6-9]|\d\d)(?!\d)|[a-z]+-[5-9])")
# Models with a prefix mode (a last assistant message flagged ``"prefix": true``): Mistral's, and
# DeepSeek's, which its beta endpoint only serves (a base URL ending in /beta, ``lookup``).
_MISTRAL = re.compile(r"(mistral|codestral|devstral|magistral|ministral|pixtral|open-mi[sx]tral)-")
_DEEPSEEK = re.compile(r"deepseek-")


def kind_of_model(name: str) -> str | None:
    """The provider kind whose models carry this name (``claude-*`` -> anthropic, ...)."""
    return next((kind for pattern, kind in _KIND_OF_MODEL if pattern.match(name)), None)


def lookup(
    kind: str, model: str, override: ModelConfig | None = None, base_url: str | None = None
) -> Profile:
    """The profile of ``model`` served by a provider of ``kind`` at ``base_url``, with the
    config's override."""
    base = profile_of(kind, model)
    if _DEEPSEEK.match(model) and base.continuation == "prefix" and not _beta(base_url):
        base = dataclasses.replace(base, continuation="instruction")
    if override is None or not (override.context_window or override.max_output):
        return base
    return dataclasses.replace(
        base,
        context_window=override.context_window or base.context_window,
        max_output=override.max_output or base.max_output,
    )


@functools.lru_cache(maxsize=512)
def profile_of(kind: str, model: str) -> Profile:
    window, output = _context_window(kind, model), _max_output(model)
    match kind:
        case "anthropic":
            return Profile(
                window,
                output,
                thinking=_claude_thinking(model),
                json_modes=frozenset() if _CLAUDE_NO_SCHEMA.match(model) else frozenset({"json_schema"}),
                schema_dialect="anthropic",
                thinks_with_forced_tool=False,
                min_cache_tokens=next((n for pat, n in _MIN_CACHE if pat.search(model)), 1024),
                continuation="instruction" if _CLAUDE_NO_PREFILL.match(model) else "prefill",
            )
        case "openai" | "openai-compatible":
            reasoning = _OPENAI_REASONING.search(model) is not None
            params: set[Param] = {"stop", "reasoning"}
            if not reasoning:
                params |= {"temperature", "top_p"}
                if kind == "openai":
                    params.discard("reasoning")  # gpt-4.1 and the like answer 400 to reasoning_effort
            if _OPENAI_NO_STOP.search(model):
                params.discard("stop")
            modes = {"json_object", "json_schema"} if kind == "openai" else {"json_object"}
            return Profile(
                window,
                output,
                frozenset(params),
                "effort" if reasoning else "none",
                json_modes=frozenset(modes),  # type: ignore[arg-type]
                schema_dialect="openai",
                continuation="prefix"
                if kind == "openai-compatible" and (_MISTRAL.match(model) or _DEEPSEEK.match(model))
                else "instruction",
            )
        case "gemini":
            model = model.removeprefix("models/")
            level = _GEMINI_LEVEL.match(model) is not None
            thinking: Thinking = "effort" if level else "budget" if _GEMINI_BUDGET.match(model) else "none"
            return Profile(
                window,
                output,
                thinking=thinking,
                # Gemini 3 Flash goes down to a minimal level, 2.5 Flash to no budget; Pro models do not.
                thinking_stops="flash" in model if level else "pro" not in model,
                json_modes=frozenset({"json_object", "json_schema"}),
                schema_dialect="openapi",
                cached_content=True,
                continuation="prefill",
            )
        case "sim":
            return Profile(None, output, ALL_PARAMS, json_modes=frozenset({"json_object", "json_schema"}))
        case _:
            return Profile(window, output)


def _beta(base_url: str | None) -> bool:
    """Whether a DeepSeek base URL is its beta endpoint (``https://api.deepseek.com/beta``)."""
    return base_url is not None and base_url.rstrip("/").endswith("/beta")


def _claude_thinking(model: str) -> Thinking:
    if _CLAUDE_NO_THINKING.search(model):
        return "none"
    if _CLAUDE_BUDGET_ONLY.search(_DATE_SUFFIX.sub("", model)):
        return "budget"
    return "effort"


def _context_window(kind: str, model: str) -> int | None:
    if kind == "sim":
        return None
    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=1), model, provider_id=_PRICE_PROVIDER.get(kind)
        )
    except LookupError:
        return None
    window = calc.model.context_window
    return int(window) if window else None


def _max_output(model: str) -> int | None:
    return next((n for pattern, n in _MAX_OUTPUT if pattern.search(model)), None)
