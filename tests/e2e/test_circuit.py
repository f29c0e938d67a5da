"""Circuit breakers end to end: an open circuit costs no network call; half-open lets
exactly one probe through however many requests arrive together."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.faults import CLIENT, FALLBACK, FORMATS, FaultWorld, fault_world, faults, target
from tests.fakes.base import Answer, Fault, Slow, StreamFault

# A frame index of each fake's stream after some content went out.
AFTER = {"anthropic": 4, "openai": 2, "gemini": 1}

__all__ = ["faults"]  # the fixture


async def open_circuit(faults: FaultWorld, primary: str) -> None:
    faults.health.consecutive = 3
    faults.fakes[primary].script.extend(Fault(500, "down") for _ in range(3))
    for _ in range(3):
        out = await faults.ask(CLIENT[primary], f"{primary}-first", False)
        assert out.attempts[0] == f"{target(primary)}:500"
    assert faults.state(primary) == "open"


@pytest.mark.parametrize("primary", FORMATS)
async def test_open_circuit_makes_no_call_and_half_open_lets_one_probe_through(
    faults: FaultWorld, primary: str
) -> None:
    fake, fallback, client = faults.fakes[primary], FALLBACK[primary], CLIENT[primary]
    await open_circuit(faults, primary)
    calls = len(fake.received)
    for stream in (False, True):
        out = await faults.ask(client, f"{primary}-first", stream)
        assert out.attempts == [f"{target(primary)}:circuit_open", f"{target(fallback)}:ok"]
    assert len(fake.received) == calls

    faults.clock.advance(faults.health.open_s + 0.1)
    fake.script.append(Slow(0.3, Answer("the probe")))  # in flight while the others arrive
    outs = await asyncio.gather(*(faults.ask(client, f"{primary}-first", i % 2 == 1) for i in range(10)))
    assert len(fake.received) == calls + 1
    probes = [o for o in outs if o.attempts == [f"{target(primary)}:ok"]]
    assert [o.text for o in probes] == ["the probe"]
    others = [o for o in outs if o is not probes[0]]
    assert all(o.attempts == [f"{target(primary)}:circuit_open", f"{target(fallback)}:ok"] for o in others)
    assert all(o.status == 200 and o.text for o in outs)
    assert faults.state(primary) == "closed"
    out = await faults.ask(client, f"{primary}-first", False)
    assert out.attempts == [f"{target(primary)}:ok"]


async def test_a_failed_probe_reopens_the_circuit(faults: FaultWorld) -> None:
    fake = faults.fakes["openai"]
    await open_circuit(faults, "openai")
    faults.clock.advance(faults.health.open_s + 0.1)
    fake.script.append(Fault(502, "still down"))
    out = await faults.ask("anthropic", "openai-first", True)
    assert out.attempts == [f"{target('openai')}:502", f"{target('gemini')}:ok"]
    assert faults.state("openai") == "open"
    calls = len(fake.received)
    out = await faults.ask("anthropic", "openai-first", False)
    assert out.attempts[0] == f"{target('openai')}:circuit_open"
    assert len(fake.received) == calls


@pytest.mark.parametrize("primary", FORMATS)
async def test_a_target_that_always_cuts_mid_stream_is_ejected_after_the_configured_failures(
    monkeypatch: pytest.MonkeyPatch, primary: str
) -> None:
    """Each cut after content is one failure of the target (not a success and a failure):
    ``[routing.health] consecutive_failures = 3`` ejects it at the third; probed later."""
    extra = "\n[routing.health]\nconsecutive_failures = 3\nbase_ejection_s = 20\n"
    async with fault_world(monkeypatch, extra) as world:
        fake, fallback, client = world.fakes[primary], FALLBACK[primary], CLIENT[primary]
        cut = Answer(
            "Answer from the primary, in pieces.", chunks=6, fault=StreamFault(AFTER[primary], "cut")
        )
        fake.script.extend([cut] * 4)
        for i in range(3):
            assert world.state(primary) == "closed"
            out = await world.ask(client, f"{primary}-first", True)
            assert out.attempts == [f"{target(primary)}:ok"] and out.text and out.errors and not out.finished
            assert world.health.snapshot()[target(primary)]["recent_requests"] == (i + 1) % 3
        assert world.state(primary) == "open"
        calls = len(fake.received)
        out = await world.ask(client, f"{primary}-first", True)
        assert out.attempts == [f"{target(primary)}:circuit_open", f"{target(fallback)}:ok"]
        assert len(fake.received) == calls and out.finished
        world.clock.advance(20.1)
        out = await world.ask(client, f"{primary}-first", True)  # the probe: cut again
        assert out.attempts == [f"{target(primary)}:ok"] and len(fake.received) == calls + 1
        assert world.state(primary) == "open"
        world.clock.advance(40.1)  # the second ejection lasts twice as long
        out = await world.ask(client, f"{primary}-first", True)
        assert out.attempts == [f"{target(primary)}:ok"] and out.finished
        assert world.state(primary) == "closed"
