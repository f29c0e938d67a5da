"""detour's per-tier rates against genai-prices' own calc_price, which they are read from."""

from __future__ import annotations

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.budget.prices import Prices, worst_prompt
from daemon.config import Target, parse
from daemon.ir import Request, Usage

CONFIG = """
[providers.anthropic]
kind = "anthropic"
[providers.openai]
kind = "openai"
[providers.gemini]
kind = "gemini"
[providers.local]
kind = "openai-compatible"
base_url = "http://127.0.0.1:1/v1"
[providers.local.models."my-model"]
input_usd_mtok = 1.0
output_usd_mtok = 2.0

[[routes]]
name = "default"
chain = ["anthropic/claude-sonnet-4-5"]
"""
PRICES = Prices(parse(CONFIG))
# Flat, tiered at 200k (Anthropic, Gemini Pro) and with cache prices of every kind.
MODELS = [
    ("anthropic", "anthropic", "claude-sonnet-4-5"),
    ("anthropic", "anthropic", "claude-opus-4-1"),
    ("anthropic", "anthropic", "claude-haiku-4-5"),
    ("openai", "openai", "gpt-4.1"),
    ("openai", "openai", "o4-mini"),
    ("gemini", "google", "gemini-2.5-pro"),
    ("gemini", "google", "gemini-3-flash-preview"),
]


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    total = draw(st.sampled_from([0, 1, 199_999, 200_000, 200_001]) | st.integers(0, 400_000))
    read = draw(st.integers(0, total))
    write = draw(st.integers(0, total - read))
    return Usage(
        input_tokens=total,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=draw(st.integers(0, 100_000)),
    )


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(MODELS), usage=usages())
def test_rates_price_every_usage_as_calc_price_does(model: tuple[str, str, str], usage: Usage) -> None:
    provider, price_provider, name = model
    expected = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
        ),
        name,
        provider_id=price_provider,
    ).total_price
    assert PRICES.usd(Target(provider, name), usage) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_config_prices_for_a_model_genai_prices_does_not_know() -> None:
    usd = PRICES.usd(Target("local", "my-model"), Usage(input_tokens=1_000_000, output_tokens=500_000))
    assert usd == pytest.approx(2.0)


def test_unknown_model_is_refused_by_name() -> None:
    assert PRICES.usd(Target("openai", "gpt-nonexistent-9"), Usage(input_tokens=1)) is None
    with pytest.raises(Exception, match="gpt-nonexistent-9"):
        PRICES.require(Target("openai", "gpt-nonexistent-9"), Usage(input_tokens=1))


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_a_reservation_prices_the_prompt_as_a_cache_write_unless_caching_is_off(mode: str) -> None:
    req = Request(model="claude-sonnet-4-5", messages=[], prompt_cache=mode)  # type: ignore[arg-type]
    usage = worst_prompt(req, 50_000, 2_000)
    got = PRICES.usd(Target("anthropic", "claude-sonnet-4-5"), usage)
    written = 50_000 if mode == "auto" else None
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=50_000, cache_write_tokens=written, output_tokens=2_000),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    ).total_price
    assert got == pytest.approx(float(expected))
