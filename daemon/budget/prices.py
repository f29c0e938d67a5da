"""USD prices from genai-prices' bundled table (never a hand-written list), or the config's
``[providers.ID.models."NAME"]`` prices for a model genai-prices does not know.
Simulated models are free unless the config prices them (``detour demo`` does, to show spend)."""

from __future__ import annotations

import functools
from typing import Any

import genai_prices

from daemon.config import Config, Target
from daemon.ir import ApiError, Usage

# genai-prices names providers by its own ids; our kinds map onto them.
_PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}


class Prices:
    def __init__(self, config: Config) -> None:
        self._kinds = {pid: p.kind for pid, p in config.providers.items()}
        self._overrides = {
            Target(pid, name): (m.input_usd_mtok, m.output_usd_mtok)
            for pid, p in config.providers.items()
            for name, m in p.models.items()
            if m.input_usd_mtok is not None and m.output_usd_mtok is not None
        }

    def usd(self, target: Target, usage: Usage) -> float | None:
        """What the usage costs at the target, or None where no price is known."""
        kind = self._kinds.get(target.provider, "sim")
        override = self._overrides.get(target)
        if override is None and kind == "sim":
            return 0.0
        if override is not None:
            uncached = usage.input_tokens - usage.cache_read_tokens
            # Without a cache price, cache reads are charged as input: never under-charged.
            return (uncached + usage.cache_read_tokens) * override[0] / 1e6 + usage.output_tokens * override[
                1
            ] / 1e6
        model_price = _model_price(_PRICE_PROVIDER.get(kind), target.model)
        if model_price is None:
            return None
        result = model_price.calc_price(
            genai_prices.Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens or None,
                cache_write_tokens=usage.cache_write_tokens or None,
            )
        )
        return float(result["total_price"])

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


@functools.lru_cache(maxsize=256)
def _model_price(provider: str | None, model: str) -> Any:
    """The model's current price entry; looked up once, since matching names is the slow part."""
    try:
        calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1), model, provider_id=provider)
    except LookupError:
        return None
    return calc.model_price
