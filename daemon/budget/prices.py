"""USD prices from genai-prices' bundled table (never a hand-written list), or the config's
``[providers.ID.models."NAME"]`` prices for a model genai-prices does not know.

genai-prices' ``calc_price`` takes 0.1-0.2 ms a call, and every request is priced
at least twice (its worst case before, its usage after): more than the rest of
the gateway's overhead together. Within one price tier a model's price is
linear in each kind of token, and tiers switch on the prompt size alone
(``input_tokens > tier.start``). So each model's per-token rates are read off
``calc_price`` itself, once per tier, and a request's price is four products;
tests/budget/test_prices.py checks the result against ``calc_price`` across
models, tiers and cache mixes.

Simulated models are free unless the config prices them (``detour demo`` does, to show spend).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import genai_prices

from daemon.config import Config, Target
from daemon.ir import ApiError, Request, Usage

# genai-prices names providers by its own ids; our kinds map onto them.
_PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}


@dataclass(frozen=True, slots=True)
class _Table:
    """A model genai-prices knows: its price entry, under genai-prices' provider id."""

    provider: str | None
    price: Any


SOURCES_MAX = 1024  # targets whose price source is remembered
_FREE, _UNKNOWN = "free", "unknown"  # a simulated model no one priced; a model with no price
_Source = tuple[float, float] | _Table | str  # config prices (input, output per Mtok), or the above


class Prices:
    def __init__(self, config: Config) -> None:
        self._kinds = {pid: p.kind for pid, p in config.providers.items()}
        self._sources: dict[Target, _Source] = {}
        self._overrides = {
            Target(pid, name): (m.input_usd_mtok, m.output_usd_mtok)
            for pid, p in config.providers.items()
            for name, m in p.models.items()
            if m.input_usd_mtok is not None and m.output_usd_mtok is not None
        }

    def usd(self, target: Target, usage: Usage) -> float | None:
        """What the usage costs at the target, or None where no price is known."""
        source = self._sources.get(target)
        if source is None:
            if len(self._sources) >= SOURCES_MAX:  # models a client names can be any string
                self._sources.clear()
            source = self._sources[target] = self._source(target)
        if isinstance(source, _Table):
            return _rates(source.provider, target.model, source.price, usage.input_tokens).usd(usage)
        if isinstance(source, tuple):
            # Without a cache price, cached tokens are charged as input: never under-charged.
            input_usd, output_usd = source
            return (usage.input_tokens * input_usd + usage.output_tokens * output_usd) / 1e6
        return 0.0 if source is _FREE else None

    def _source(self, target: Target) -> _Source:
        """Where the target's price comes from, worked out once per target (a request prices
        its target at least twice)."""
        kind = self._kinds.get(target.provider, "sim")
        override = self._overrides.get(target)
        if override is not None:
            return override
        if kind == "sim":
            return _FREE
        provider = _PRICE_PROVIDER.get(kind)
        model_price = _model_price(provider, target.model)
        return _UNKNOWN if model_price is None else _Table(provider, model_price)

    def cache_saved(self, target: Target, usage: Usage) -> float | None:
        """What the prompt cache saved on ``usage``: its price with no cache, less its price.
        Negative on a turn that wrote more than it read (a write costs more than input)."""
        if not (usage.cache_read_tokens or usage.cache_write_tokens):
            return 0.0
        uncached = Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        full, paid = self.usd(target, uncached), self.usd(target, usage)
        return None if full is None or paid is None else full - paid

    def require(self, target: Target, usage: Usage) -> float:
        """The price, or a clear refusal: a budget cannot be enforced on an unknown price."""
        usd = self.usd(target, usage)
        if usd is None:
            raise ApiError(
                400,
                "invalid_request",
                f"no price is known for {target.model} (provider {target.provider}), so its cost "
                f"cannot be kept within your budget; add input_usd_mtok and output_usd_mtok under "
                f'[providers.{target.provider}.models."{target.model}"] in the config',
            )
        return usd


def worst_prompt(req: Request, prompt: int, output: int = 0) -> Usage:
    """A prompt of ``prompt`` tokens at its dearest: all of it written to the prompt cache
    (Anthropic bills a write at 1.25 times input; elsewhere a write is priced as input),
    unless the route sends no cache breakpoints."""
    written = 0 if req.prompt_cache == "off" else prompt
    return Usage(input_tokens=prompt, output_tokens=output, cache_write_tokens=written)


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token of each kind, in one price tier."""

    uncached: float
    cache_read: float
    cache_write: float
    output: float

    def usd(self, usage: Usage) -> float:
        uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        return (
            uncached * self.uncached
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
            + usage.output_tokens * self.output
        )


# (provider, model, tier) -> rates; a few entries per model ever priced.
_RATES: dict[tuple[str | None, str, int], Rates] = {}


def _rates(provider: str | None, model: str, model_price: Any, input_tokens: int) -> Rates:
    starts = _tier_starts(provider, model, model_price)
    tier = sum(input_tokens > start for start in starts)
    key = (provider, model, tier)
    rates = _RATES.get(key)
    if rates is None:
        # The first prompt size seen in a tier stands for all of them; an empty prompt
        # cannot show the input rates, so a one-token prompt of the same tier does.
        probe = input_tokens or 1
        if sum(probe > start for start in starts) != tier:
            return _read_rates(model_price, input_tokens)
        rates = _RATES[key] = _read_rates(model_price, probe)
    return rates


def _read_rates(model_price: Any, input_tokens: int) -> Rates:
    """The rates of the tier ``input_tokens`` falls in, read off calc_price."""

    def price(**counts: int) -> float:
        return float(model_price.calc_price(genai_prices.Usage(**counts))["total_price"])

    n, million = input_tokens, 1_000_000
    if n == 0:  # no prompt: only the output rate can matter
        return Rates(0.0, 0.0, 0.0, price(input_tokens=0, output_tokens=million) / million)
    base = price(input_tokens=n)
    return Rates(
        uncached=base / n,
        cache_read=price(input_tokens=n, cache_read_tokens=n) / n,
        cache_write=price(input_tokens=n, cache_write_tokens=n) / n,
        output=(price(input_tokens=n, output_tokens=million) - base) / million,
    )


_STARTS: dict[tuple[str | None, str], tuple[int, ...]] = {}


def _tier_starts(provider: str | None, model: str, model_price: Any) -> tuple[int, ...]:
    """Every prompt size at which one of the model's prices changes tier."""
    starts = _STARTS.get((provider, model))
    if starts is None:
        values = [v for k, v in vars(model_price).items() if not k.startswith("_")]
        tiered = [v for v in values if isinstance(v, genai_prices.types.TieredPrices)]
        starts = _STARTS[(provider, model)] = tuple(sorted({t.start for v in tiered for t in v.tiers}))
    return starts


@functools.lru_cache(maxsize=256)
def _model_price(provider: str | None, model: str) -> Any:
    """The model's current price entry; looked up once, since matching names is the slow part."""
    try:
        calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1), model, provider_id=provider)
    except LookupError:
        return None
    return calc.model_price
