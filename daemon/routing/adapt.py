"""Fitting a request to the model that will serve it.

The request the client sent stays as it was (the next model in the chain
needs it whole); each target gets a shallow copy with:

- ``max_tokens`` clamped to the model's maximum output, and to what its
  context window leaves after the prompt;
- the model skipped (``TooLong``) when its window cannot hold the prompt,
  counted conservatively (``ir.tokens``);
- sampling parameters the model rejects dropped (OpenAI reasoning models take
  no temperature/top_p; OpenAI takes no top_k; o3 and o4-mini take no stop);
- reasoning settings dropped for an OpenAI model without reasoning that the
  chain chose (a Chat client that names such a model itself keeps what it sent).

A JSON answer is asked for the way each target can give it by ``routing.structured``,
which the chain applies first.

Wire-level renames (``max_completion_tokens``, Anthropic's single sampling
parameter, thinking without signed history) are each format encoder's job.
Every change is logged at debug level with the target it was made for.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from dataclasses import dataclass

import genai_prices

from daemon.config import Config, Target
from daemon.ir import Request
from daemon.ir.tokens import request_tokens
from daemon.providers.base import Provider

log = logging.getLogger(__name__)

# Maximum output tokens by model family, from the providers' model pages. genai-prices
# carries context windows but not output limits; config overrides both per model.
_MAX_OUTPUT = (
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
_REASONING_OPENAI = re.compile(r"(o\d|gpt-5)")
_NO_STOP_OPENAI = re.compile(r"o3|o4-mini")
_PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}
MIN_OUTPUT = 256  # below this an answer is useless: skip the model rather than clamp


class TooLong(Exception):
    pass


@dataclass(slots=True, frozen=True)
class Profile:
    context_window: int | None
    max_output: int | None


class Profiles:
    """Capability profiles per target: config overrides, then genai-prices, then family defaults."""

    def __init__(self, overrides: dict[Target, Profile] | None = None) -> None:
        self._overrides = overrides or {}
        self._known: dict[Target, Profile] = {}  # a target's kind never changes while running

    @classmethod
    def from_config(cls, config: Config) -> Profiles:
        return cls(
            {
                Target(pid, name): Profile(m.context_window, m.max_output)
                for pid, p in config.providers.items()
                for name, m in p.models.items()
            }
        )

    def get(self, target: Target, kind: str) -> Profile:
        known = self._known.get(target)
        if known is None:
            o = self._overrides.get(target)
            window = o.context_window if o and o.context_window else _context_window(kind, target.model)
            output = o.max_output if o and o.max_output else _max_output(target.model)
            known = self._known[target] = Profile(window, output)
        return known


@functools.lru_cache(maxsize=512)
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


@functools.lru_cache(maxsize=512)
def _max_output(model: str) -> int | None:
    return next((n for pattern, n in _MAX_OUTPUT if pattern.search(model)), None)


def adapt(
    req: Request, target: Target, provider: Provider, profiles: Profiles, prompt: int | None = None
) -> Request:
    """``req`` fitted to the target; ``prompt`` is its token count, if already counted."""
    profile = profiles.get(target, provider.kind)
    changes: dict[str, object] = {}
    max_tokens = req.max_tokens
    if profile.max_output is not None and max_tokens is not None and max_tokens > profile.max_output:
        max_tokens = profile.max_output
    if profile.context_window is not None:
        if prompt is None:
            prompt = request_tokens(req)
        room = profile.context_window - prompt
        if room < MIN_OUTPUT:
            raise TooLong(
                f"the prompt (about {prompt} tokens, counted conservatively) does not fit "
                f"{target.model}'s {profile.context_window}-token context window"
            )
        if max_tokens is not None and max_tokens > room:
            max_tokens = room
    if max_tokens != req.max_tokens:
        changes["max_tokens"] = max_tokens
    if provider.kind in ("openai", "openai-compatible"):
        if req.top_k is not None:
            changes["top_k"] = None
        if _REASONING_OPENAI.match(target.model) and (req.temperature is not None or req.top_p is not None):
            changes["temperature"] = None
            changes["top_p"] = None
        if req.stop and _NO_STOP_OPENAI.match(target.model):
            changes["stop"] = []
    if (
        provider.kind == "openai"
        and req.reasoning is not None
        and req.model != target.model
        and not _REASONING_OPENAI.match(target.model)
    ):
        changes["reasoning"] = None  # gpt-4.1 and the like answer 400 to reasoning_effort
    if not changes:
        return req
    if log.isEnabledFor(logging.DEBUG):
        log.debug("adapted request for %s: %s", target, changes)
    return dataclasses.replace(req, **changes)  # type: ignore[arg-type]
