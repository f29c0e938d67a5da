"""USD prices from genai-prices' bundled table: never a hand-written list."""

from __future__ import annotations

import functools
from typing import Any

import genai_prices

from daemon.ir import Usage

# genai-prices names providers by its own ids; our kinds map onto them.
_PRICE_PROVIDER = {
    "anthropic": "anthropic",
    "openai": "openai",
    "gemini": "google",
}


def price_usd(kind: str, model: str, usage: Usage) -> float | None:
    """What the usage costs at ``model``, or None where genai-prices has no price."""
    if kind == "sim":
        return 0.0
    model_price = _model_price(_PRICE_PROVIDER.get(kind), model)
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


@functools.lru_cache(maxsize=256)
def _model_price(provider: str | None, model: str) -> Any:
    """The model's current price entry; looked up once, since matching names is the slow part."""
    try:
        calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1), model, provider_id=provider)
    except LookupError:
        return None
    return calc.model_price
