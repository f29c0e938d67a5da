"""The failover cost delta, cache included, priced by genai-prices."""

from __future__ import annotations

import genai_prices
import pytest

from daemon.budget.delta import CacheMemory, failover_delta
from daemon.budget.prices import Prices
from daemon.config import Target, parse
from daemon.ir import Usage

CONFIG = """
[providers.anthropic]
kind = "anthropic"

[providers.openai]
kind = "openai"

[[routes]]
name = "coder"
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]
"""
CLAUDE = Target("anthropic", "claude-sonnet-4-5")
GPT = Target("openai", "gpt-4.1")


def price(model: str, provider: str, **usage: int) -> float:
    return float(
        genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price
    )


def test_delta_prices_the_primary_with_the_cache_it_had() -> None:
    prices = Prices(parse(CONFIG))
    memory = CacheMemory()
    # Last turn Claude served 40k prompt tokens, 38k of them from cache, 2k written to it.
    memory.saw("s1", CLAUDE, Usage(input_tokens=40000, cache_read_tokens=38000, cache_write_tokens=2000))
    # This turn GPT-4.1 served it cold: 41k prompt tokens, 500 out.
    served = Usage(input_tokens=41000, output_tokens=500)
    delta = failover_delta(prices, GPT, served, CLAUDE, memory.cached("s1", CLAUDE))
    cold_gpt = price("gpt-4.1", "openai", input_tokens=41000, output_tokens=500)
    warm_claude = price(
        "claude-sonnet-4-5", "anthropic", input_tokens=41000, cache_read_tokens=40000, output_tokens=500
    )
    assert delta == pytest.approx(cold_gpt - warm_claude)
    # Without the cache the comparison would be cold against cold, and a different answer.
    cold_claude = price("claude-sonnet-4-5", "anthropic", input_tokens=41000, output_tokens=500)
    assert delta != pytest.approx(cold_gpt - cold_claude)


def test_cache_memory_is_per_session_and_bounded() -> None:
    memory = CacheMemory(max_entries=2)
    memory.saw("a", CLAUDE, Usage(cache_read_tokens=10))
    memory.saw("b", CLAUDE, Usage(cache_read_tokens=20))
    memory.saw("c", CLAUDE, Usage(cache_write_tokens=30))
    assert memory.cached("a", CLAUDE) == 0  # evicted, oldest first
    assert (memory.cached("b", CLAUDE), memory.cached("c", CLAUDE)) == (20, 30)
    assert memory.cached("b", GPT) == 0


def test_unknown_price_gives_no_delta() -> None:
    prices = Prices(parse(CONFIG))
    assert failover_delta(prices, Target("openai", "no-such-model"), Usage(input_tokens=1), CLAUDE, 0) is None
