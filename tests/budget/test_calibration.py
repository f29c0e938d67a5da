"""The calibration model: an upper envelope that never lies under a sample, and when
admission trusts it, pads it, or asks the provider's count endpoint instead."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from daemon.budget.accounts import Accounts, Limits
from daemon.budget.calibration import MIN_SAMPLES, SAFE_OVERHEAD, SAFE_RATIO, Calibration, envelope
from daemon.budget.prices import Prices
from daemon.config import Target, parse
from daemon.ir import Message, Request, TextPart
from daemon.keys import Secret
from daemon.providers.http import HttpProvider
from daemon.redaction import Redactor
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import HiddenPrompt


def test_the_envelope_of_a_line_is_the_line() -> None:
    fit = envelope([(c, 500 + 9 * c // 10) for c in range(10, 400, 13)])
    assert fit.ratio == pytest.approx(0.9, abs=0.01) and fit.overhead == pytest.approx(500, abs=2)
    assert fit.scatter < 0.01


@pytest.mark.parametrize("seed", range(20))
def test_the_envelope_never_lies_under_a_sample(seed: int) -> None:
    rnd = random.Random(seed)
    overhead, ratio = rnd.randint(0, 2000), rnd.uniform(0.3, 3)
    samples = [(c, int(overhead + ratio * c * rnd.uniform(0.7, 1.3))) for c in rnd.sample(range(1, 5000), 30)]
    fit = envelope(samples)
    for c, billed in samples:
        est = fit.estimate(c)
        assert est is not None and est[0] >= billed
    assert fit.estimate(int(fit.high * 1.3)) is None  # far beyond what was seen: not guessed
    shortest = min(c for c, _ in samples)
    assert fit.estimate(1) == fit.estimate(shortest) or fit.ratio == 0  # shorter bills no more


def test_beyond_the_range_seen_the_doubt_grows() -> None:
    fit = envelope([(c, 300 + c) for c in range(100, 200, 10)])
    inside, beyond = fit.estimate(190), fit.estimate(230)
    assert inside is not None and beyond is not None
    assert beyond[1] - inside[1] >= SAFE_RATIO * 40


CONFIG = """
[providers.ant]
kind = "anthropic"
base_url = "{url}"
[providers.compat]
kind = "openai-compatible"
base_url = "{url}/v1"
[providers.compat.models."compat-chat"]
input_usd_mtok = 3.0
output_usd_mtok = 15.0
"""
ANT = Target("ant", "claude-sonnet-4-5")
COMPAT = Target("compat", "compat-chat")


@dataclass
class Bench:
    calibration: Calibration
    accounts: Accounts
    fake: FakeAnthropic

    def counts(self) -> int:
        return sum(r.path == "/v1/messages/count_tokens" for r in self.fake.received)


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    fake = await FakeAnthropic(key="k").start()
    fake.hidden = HiddenPrompt(per_request=400, ratio=1.0)
    config = parse(CONFIG.format(url=fake.url))
    accounts = Accounts(tmp_path / "detour.db", Limits(session=1.0))
    await accounts.open()
    try:
        async with aiohttp.ClientSession() as session:
            providers = {
                pid: HttpProvider(p, Secret("k"), session, Redactor([]))
                for pid, p in config.providers.items()
            }
            yield Bench(Calibration(accounts, Prices(config), providers), accounts, fake)
    finally:
        await accounts.close()
        await fake.close()


def hello(model: str) -> Request:
    return Request(model, [Message("user", [TextPart("hello there")])], max_tokens=100)


async def test_uncalibrated_targets_are_counted_then_trusted(bench: Bench) -> None:
    cal = bench.calibration
    first = await cal.size(hello(ANT.model), ANT, "s", 8, 100)
    assert (first.how, bench.counts()) == ("endpoint", 1)
    assert first.tokens == bench.fake.hidden.billed(len("hello there"))  # type: ignore[union-attr]
    cal.restore({ANT: [(c, 400 + c) for c in range(4, 4 + 10 * MIN_SAMPLES, 10)]})
    trusted = await cal.size(hello(ANT.model), ANT, "s", 8, 100)
    assert (trusted.how, bench.counts()) == ("calibrated", 1)
    assert trusted.tokens >= first.tokens and trusted.doubt_usd > 0


async def test_doubt_in_flight_near_the_limit_sends_admission_to_the_count(bench: Bench) -> None:
    cal = bench.calibration
    cal.restore({ANT: [(c, 400 + c) for c in range(4, 4 + 10 * MIN_SAMPLES, 10)]})
    left, _ = bench.accounts.headroom("s")
    cal.in_flight_doubt = left  # what is in flight may already undercount by all that is left
    sized = await cal.size(hello(ANT.model), ANT, "s", 8, 100)
    assert (sized.how, sized.doubt_usd, bench.counts()) == ("endpoint", 0.0, 1)


async def test_without_a_count_endpoint_the_guess_is_padded(bench: Bench) -> None:
    cal = bench.calibration
    guessed = await cal.size(hello(COMPAT.model), COMPAT, "s", 8, 100)
    assert (guessed.how, guessed.tokens) == ("guessed", int(8 * SAFE_RATIO + SAFE_OVERHEAD))
    cal.restore({COMPAT: [(c, 400 + c) for c in range(4, 4 + 10 * MIN_SAMPLES, 10)]})
    cal.in_flight_doubt = 1.0
    padded = await cal.size(hello(COMPAT.model), COMPAT, "s", 8, 100)
    fit = cal.fit(COMPAT)
    assert fit is not None and padded.how == "padded"
    assert padded.tokens == sum(fit.estimate(8) or ()) and padded.doubt_usd == 0.0
    assert bench.fake.received == []


async def test_without_a_limit_nothing_is_asked(bench: Bench) -> None:
    await bench.accounts.set_limits(session=None)
    sized = await bench.calibration.size(hello(ANT.model), ANT, "s", 8, 100)
    assert (sized.how, sized.tokens, bench.counts()) == ("counted", 8, 0)


async def test_a_failed_count_is_not_asked_again_at_once(bench: Bench) -> None:
    bench.fake.key = "rotated"  # every count is refused
    for _ in range(3):
        sized = await bench.calibration.size(hello(ANT.model), ANT, "s", 8, 100)
        assert sized.how == "guessed"
    assert bench.counts() == 1
