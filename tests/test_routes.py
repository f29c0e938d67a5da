from __future__ import annotations

import pytest

from daemon.config import Target, parse
from daemon.ir import ApiError
from daemon.routing.routes import Routes

CONFIG = """
[providers.anthropic]
kind = "anthropic"
[providers.openai]
kind = "openai"
[providers.gemini]
kind = "gemini"

[[routes]]
name = "coder"
match = ["claude-sonnet-*", "gpt-4.1*"]
chain = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]

[[routes]]
name = "default"
chain = ["openai/gpt-4.1-mini", "gemini/gemini-2.5-flash"]
"""


@pytest.fixture
def routes() -> Routes:
    return Routes(parse(CONFIG))


def test_route_name(routes: Routes) -> None:
    r = routes.resolve("coder")
    assert r.route == "coder" and r.chain[0] == Target("anthropic", "claude-sonnet-4-5")


def test_match_globs(routes: Routes) -> None:
    assert routes.resolve("claude-sonnet-4-6").route == "coder"
    assert routes.resolve("gpt-4.1-2025").route == "coder"


def test_provider_of_the_model_then_default(routes: Routes) -> None:
    r = routes.resolve("claude-opus-4-8")
    assert r.chain == (
        Target("anthropic", "claude-opus-4-8"),
        Target("openai", "gpt-4.1-mini"),
        Target("gemini", "gemini-2.5-flash"),
    )
    assert routes.resolve("gemini-3-pro").chain[0] == Target("gemini", "gemini-3-pro")


def test_explicit_provider_and_model(routes: Routes) -> None:
    assert routes.resolve("gemini/gemini-2.5-pro").chain[0] == Target("gemini", "gemini-2.5-pro")


def test_unknown_goes_to_default(routes: Routes) -> None:
    assert routes.resolve("llama-70b").route == "default"


def test_no_default_is_a_clear_404() -> None:
    routes = Routes(parse('[providers.s]\nkind = "sim"\n[[routes]]\nname = "x"\nchain = ["s/m"]\n'))
    with pytest.raises(ApiError) as e:
        routes.resolve("llama-70b")
    assert e.value.status == 404 and "'default'" in e.value.message
