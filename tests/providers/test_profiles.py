"""The one table of model capabilities: what each family takes, and config overrides."""

from __future__ import annotations

import pytest

from daemon.config import ModelConfig, ProviderConfig
from daemon.providers.profiles import kind_of_model, lookup, profile_of
from daemon.providers.sim import SimProvider


@pytest.mark.parametrize(
    ("model", "thinking"),
    [("claude-3-5-sonnet-20241022", "none"), ("claude-3-7-sonnet-20250219", "budget"),
     ("claude-sonnet-4-20250514", "budget"), ("claude-opus-4-1", "budget"), ("claude-haiku-4-5", "budget"),
     ("claude-opus-4-6", "effort"), ("claude-sonnet-4-7", "effort"), ("claude-opus-5", "effort")],
)  # fmt: skip
def test_claude_thinking(model: str, thinking: str) -> None:
    assert profile_of("anthropic", model).thinking == thinking


@pytest.mark.parametrize(
    ("model", "thinking", "stops"),
    [("gemini-2.0-flash", "none", True), ("gemini-2.5-flash", "budget", True), ("gemini-2.5-pro", "budget", False),
     ("gemini-3-flash-preview", "effort", True), ("gemini-3-pro-preview", "effort", False),
     ("models/gemini-2.5-flash", "budget", True)],
)  # fmt: skip
def test_gemini_thinking(model: str, thinking: str, stops: bool) -> None:
    p = profile_of("gemini", model)
    assert (p.thinking, p.thinking_stops) == (thinking, stops)


def test_openai_params_by_family() -> None:
    assert profile_of("openai", "gpt-4.1").params == {"temperature", "top_p", "stop"}
    assert profile_of("openai", "o3").params == {"reasoning"}
    assert profile_of("openai", "gpt-5").params == {"stop", "reasoning"}
    # A compatible server keeps reasoning settings; "openai/" names are OpenAI's models.
    assert "reasoning" in profile_of("openai-compatible", "deepseek-chat").params
    assert profile_of("openai-compatible", "openai/o4-mini").thinking == "effort"


def test_structured_output_modes() -> None:
    assert profile_of("anthropic", "claude-sonnet-4-5").json_modes == {"json_schema"}
    assert profile_of("anthropic", "claude-3-5-haiku-latest").json_modes == set()
    assert profile_of("openai-compatible", "deepseek-chat").json_modes == {"json_object"}
    assert profile_of("gemini", "gemini-2.5-flash").any_root
    assert not profile_of("openai", "gpt-4.1").any_root


def test_config_overrides_and_family_output_limits() -> None:
    assert profile_of("anthropic", "claude-sonnet-4-5").max_output == 64_000
    assert profile_of("anthropic", "claude-sonnet-4-5").context_window  # from genai-prices
    over = lookup("anthropic", "claude-sonnet-4-5", ModelConfig(context_window=1000))
    assert (over.context_window, over.max_output) == (1000, 64_000)
    assert over.thinking == "budget"  # the rest of the profile is the family's
    provider = SimProvider(ProviderConfig("s", "sim", "", models={"m": ModelConfig(max_output=77)}))
    assert provider.profile("m").max_output == 77
    assert provider.profile("m") is provider.profile("m")  # looked up once per target


def test_kind_of_model() -> None:
    assert [kind_of_model(n) for n in ("claude-x", "o3", "gpt-4.1", "gemini-3-pro", "llama")] == [
        "anthropic", "openai", "openai", "gemini", None,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "model", "base_url", "form"),
    [
        ("anthropic", "claude-sonnet-4-5-20250929", "", "prefill"),
        ("anthropic", "claude-opus-4-20250514", "", "prefill"),
        ("anthropic", "claude-opus-4-6", "", "instruction"),
        ("anthropic", "claude-sonnet-5", "", "instruction"),
        ("gemini", "gemini-3-flash-preview", "", "prefill"),
        ("openai", "gpt-5", "", "instruction"),
        ("openai-compatible", "mistral-small-latest", "https://api.mistral.ai/v1", "prefix"),
        ("openai-compatible", "deepseek-chat", "https://api.deepseek.com/beta", "prefix"),
        ("openai-compatible", "deepseek-chat", "https://api.deepseek.com", "instruction"),
        ("openai-compatible", "qwen3-coder", "http://localhost:8000/v1", "instruction"),
    ],
)
def test_how_each_model_continues_an_answer(kind: str, model: str, base_url: str, form: str) -> None:
    """A provider's profile says how its model is asked to continue an answer cut short;
    DeepSeek's prefix mode only at its beta endpoint, which the provider's base URL names."""
    provider = SimProvider(ProviderConfig("p", kind, base_url))  # any provider looks profiles up alike
    assert provider.profile(model).continuation == form
