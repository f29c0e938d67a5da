"""Scripted faults of the simulated provider, and what the real chain makes of them."""

from __future__ import annotations

import aiohttp
import pytest

from daemon.budget.prices import Prices
from daemon.config import ConfigError, Fault, ProviderConfig, Target, parse
from daemon.ir import ApiError, Message, Request, TextPart, Usage
from daemon.providers.sim import SimProvider
from daemon.routing.failures import FailureKind, classify
from tests.daemon_harness import start_daemon
from tests.test_sim import whole

REQ = Request("m", [Message("user", [TextPart("hello")])])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sim(*faults: Fault, first_byte_s: float = 60.0) -> tuple[SimProvider, Clock]:
    clock = Clock()
    config = ProviderConfig(id="p", kind="sim", base_url="", timeout_first_byte_s=first_byte_s, faults=faults)
    return SimProvider(config, clock), clock


def test_a_fault_window_repeats() -> None:
    f = Fault("rate_limit", at_s=10, for_s=5, every_s=60)
    assert [f.active(t) for t in (9.9, 10, 12, 15, 69, 71)] == [0, 5, 3, 0, 0, 4]
    assert Fault("outage", at_s=0, for_s=5).active(100) == 0


async def test_a_rate_limit_burst_is_a_429_with_retry_after_to_its_end() -> None:
    provider, clock = sim(Fault("rate_limit", at_s=10, for_s=8))
    assert (await whole(provider, REQ, "m")).parts
    clock.now += 12
    with pytest.raises(ApiError) as e:
        await whole(provider, REQ, "m")
    assert e.value.status == 429 and e.value.retry_after_s == 6.0
    failure = classify(e.value)
    assert failure.kind is FailureKind.RATE_LIMITED and failure.cooldown_s == 6.0
    clock.now += 6
    assert (await whole(provider, REQ, "m")).parts


async def test_an_outage_refuses_the_connection_in_streams_too() -> None:
    provider, _ = sim(Fault("outage", at_s=0, for_s=30))
    with pytest.raises(ApiError) as e:
        async for _ in provider.stream(REQ, "m"):
            pass
    assert classify(e.value).kind is FailureKind.CONNECTION


async def test_a_stall_sends_nothing_until_the_first_byte_timeout() -> None:
    provider, _ = sim(Fault("stall", at_s=0, for_s=30), first_byte_s=0.01)
    with pytest.raises(ApiError) as e:
        await whole(provider, REQ, "m")
    assert classify(e.value).kind is FailureKind.TIMEOUT


FAULTY = """
[providers.primary]
kind = "sim"
[[providers.primary.faults]]
kind = "outage"
at_s = 0
for_s = 600
[providers.primary.models."big"]
input_usd_mtok = 3.0
output_usd_mtok = 15.0

[providers.backup]
kind = "sim"

[[routes]]
name = "default"
chain = ["primary/big", "backup/small"]
"""


def test_faults_parse_and_only_for_simulated_providers() -> None:
    config = parse(FAULTY)
    assert config.providers["primary"].faults == (Fault("outage", 0.0, 600.0),)
    with pytest.raises(ConfigError, match="unknown setting 'faults'"):
        parse('[providers.x]\nkind = "openai"\n[[providers.x.faults]]\nkind = "outage"\nfor_s = 1\n')
    with pytest.raises(ConfigError, match="kind must be one of rate_limit, stall, outage"):
        parse('[providers.x]\nkind = "sim"\n[[providers.x.faults]]\nkind = "flood"\nfor_s = 1\n')
    with pytest.raises(ConfigError, match="every_s >= for_s"):
        parse('[providers.x]\nkind = "sim"\n[[providers.x.faults]]\nkind = "stall"\nfor_s = 5\nevery_s = 2\n')


def test_simulated_models_cost_what_the_config_prices_them_at() -> None:
    prices = Prices(parse(FAULTY))
    assert prices.usd(Target("primary", "big"), Usage(input_tokens=1_000_000)) == 3.0
    assert prices.usd(Target("backup", "small"), Usage(input_tokens=1_000_000)) == 0.0


async def test_a_daemon_of_simulated_providers_walks_its_chain() -> None:
    daemon = await start_daemon(FAULTY)
    try:
        body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
        async with (
            aiohttp.ClientSession() as http,
            http.post(daemon.url + "/v1/chat/completions", json=body, headers=daemon.auth()) as r,
        ):
            assert r.status == 200
            assert r.headers["x-detour-attempts"] == "primary/big:connect_refused,backup/small:ok"
            assert r.headers["x-detour-provider"] == "backup"
    finally:
        await daemon.close()
