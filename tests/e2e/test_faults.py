"""Fault injection, end to end: every failure class x every upstream format as the
primary x plain/streaming, through the real daemon and raw HTTP (exact headers and
frames). What each class must do is in ``daemon.routing.failures``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from daemon.server.inbound import ACCOUNTS
from tests.e2e.clients import CLIENTS, Client
from tests.e2e.faults import CLIENT, FALLBACK, FORMATS, HANG_S, IDLE_S, FaultWorld, fault_sdk, faults, target
from tests.fakes.base import Answer, Fault, Reset, Slow, StreamFault, ToolCall

__all__ = ["fault_sdk", "faults"]  # the fixtures

FALLBACK_TEXT = "Answer from the fallback."
PRIMARY_TEXT = "Answer from the primary, in pieces."
# Frames each fake sends before its first content, and a frame index after some content went out.
BEFORE_CONTENT = {"anthropic": 2, "openai": 1, "gemini": 0}
AFTER_CONTENT = {"anthropic": 4, "openai": 2, "gemini": 1}
OVERLOADED = {"anthropic": 529, "openai": 503, "gemini": 503}

Script = list[Answer | Fault | Reset | Slow]
# Each provider's own words for a prompt over the model's window: a 400 that fails over.
TOO_LONG = {
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
    "openai": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
    "gemini": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
}


@dataclass(frozen=True)
class Case:
    """A fault the primary acts out before any content, and the label x-detour-attempts shows."""

    name: str
    script: Callable[[str], Script]
    label: Callable[[str], str]
    modes: tuple[bool, ...] = (False, True)
    # How many calls reach the primary (a reset is retried once on the same model; nothing
    # listens behind a refused connection).
    calls: int = 1
    route: str = "{fmt}-first"


def _stream_fault(action: str, **kw: float) -> Callable[[str], Script]:
    return lambda fmt: [Answer(PRIMARY_TEXT, fault=StreamFault(BEFORE_CONTENT[fmt], action, **kw))]  # type: ignore[arg-type]


CASES = [
    Case("429", lambda f: [Fault(429, "slow down", {"retry-after": "7"})], lambda f: "429"),
    Case("overloaded", lambda f: [Fault(OVERLOADED[f], "overloaded")], lambda f: str(OVERLOADED[f])),
    Case("500", lambda f: [Fault(500, "boom")], lambda f: "500"),
    Case("502", lambda f: [Fault(502, "bad gateway")], lambda f: "502"),
    Case("503", lambda f: [Fault(503, "unavailable")], lambda f: "503"),
    Case("401", lambda f: [Fault(401, "bad key")], lambda f: "401"),
    Case("too-long", lambda f: [Fault(400, TOO_LONG[f])], lambda f: "400"),
    Case("reset", lambda f: [Reset(), Reset()], lambda f: "connection_reset", calls=2),
    Case("refused", lambda f: [], lambda f: "connect_refused", calls=0, route="dead-{fmt}-first"),
    Case("hang", lambda f: [Slow(HANG_S)], lambda f: "timeout_first_byte"),
    # Every upstream call is a stream, whatever the client asked for: stream faults for both.
    Case("cut", _stream_fault("cut"), lambda f: "stream_cut"),
    Case("stall", _stream_fault("stall", stall_s=HANG_S), lambda f: "timeout_first_byte"),
    Case("in-band", _stream_fault("error", status=529), lambda f: "in_band"),
    Case("malformed-frame", _stream_fault("malformed"), lambda f: "malformed"),
]
failover_cases = pytest.mark.parametrize(
    ("case", "primary", "stream"),
    [(c, p, s) for c in CASES for p in FORMATS for s in c.modes],
    ids=lambda v: v.name if isinstance(v, Case) else {False: "plain", True: "stream"}.get(v, v),
)


@failover_cases
async def test_failover_before_content(faults: FaultWorld, case: Case, primary: str, stream: bool) -> None:
    """The client sees one clean answer from the fallback; the attempt names the class."""
    fallback, client = FALLBACK[primary], CLIENT[primary]
    faults.fakes[primary].script.extend(case.script(primary))
    faults.fakes[fallback].script.append(Answer(FALLBACK_TEXT))
    before = faults.calls()
    route = case.route.format(fmt=primary)
    out = await faults.ask(client, route, stream)
    assert out.status == 200, out.errors
    assert out.text == FALLBACK_TEXT
    assert not out.errors
    assert out.finished or not stream
    assert out.messages() == (1 if stream else 0)
    provider = "dead" if route.startswith("dead") else "up"
    failed = [f"{target(primary, provider)}:{case.label(primary)}"] * max(case.calls, 1)
    assert out.attempts == [*failed, f"{target(fallback)}:ok"]
    assert out.headers["x-detour-provider"] == f"up-{fallback}"
    after = faults.calls()
    assert after[primary] - before[primary] == case.calls
    assert after[fallback] - before[fallback] == 1


# fault -> (StreamFault action, what the client's error message says)
AFTER = {
    "cut": ("cut", "the stream was cut"),
    "stall": ("stall", f"went silent for {IDLE_S:g}s mid-stream"),
    "in-band": ("error", ""),  # the upstream's own words, passed through
    "malformed-frame": ("malformed", "malformed stream frame"),
}


@pytest.mark.parametrize("primary", FORMATS)
@pytest.mark.parametrize("fault", list(AFTER))
async def test_failure_after_content_ends_with_an_error_in_the_clients_format(
    faults: FaultWorld, fault: str, primary: str
) -> None:
    """Content already went out: no failover, a well-formed error event, never a clean finish."""
    fallback, client = FALLBACK[primary], CLIENT[primary]
    action, says = AFTER[fault]
    answer = Answer(PRIMARY_TEXT, chunks=6, fault=StreamFault(AFTER_CONTENT[primary], action, stall_s=HANG_S))
    faults.fakes[primary].script.append(answer)
    before = faults.calls()
    out = await faults.ask(client, f"{primary}-first", True)
    assert out.status == 200
    assert out.attempts == [f"{target(primary)}:ok"]
    assert out.text and PRIMARY_TEXT.startswith(out.text) and out.text != PRIMARY_TEXT
    assert not out.finished
    assert len(out.errors) == 1
    assert out.error_message().startswith(f"up-{primary}") and says in out.error_message()
    last_event, last_data = out.frames[-1]
    if client == "openai":
        assert last_data == "[DONE]"
        assert out.errors[0]["error"]["type"] in ("server_error", "rate_limit_error")
        assert not any('"finish_reason": "' in d or '"finish_reason":"' in d for _, d in out.frames)
    elif client == "anthropic":
        assert last_event == "error"
        assert out.errors[0]["type"] == "error"
        assert not any(e in ("message_stop", "message_delta") for e, _ in out.frames)
    else:
        assert "error" in last_data and out.errors[0]["error"]["status"] in ("INTERNAL", "UNAVAILABLE",
                                                                           "DEADLINE_EXCEEDED")  # fmt: skip
    assert faults.calls()[fallback] == before[fallback]
    assert faults.calls()[primary] == before[primary] + 1


@pytest.mark.parametrize("primary", FORMATS)
async def test_a_rate_limited_primary_is_not_called_during_its_cooldown(
    faults: FaultWorld, primary: str
) -> None:
    fake, fallback, client = faults.fakes[primary], FALLBACK[primary], CLIENT[primary]
    fake.script.append(Fault(429, "slow down", {"retry-after": "7"}))
    first = await faults.ask(client, f"{primary}-first", False)
    assert first.attempts == [f"{target(primary)}:429", f"{target(fallback)}:ok"]
    calls = len(fake.received)
    for stream in (False, True):
        again = await faults.ask(client, f"{primary}-first", stream)
        assert again.attempts == [f"{target(primary)}:cooldown", f"{target(fallback)}:ok"]
    assert len(fake.received) == calls
    faults.clock.advance(7.5)
    back = await faults.ask(client, f"{primary}-first", False)
    assert back.attempts == [f"{target(primary)}:ok"]


async def test_retry_after_ms_and_short_hints_are_honoured(faults: FaultWorld) -> None:
    faults.fakes["anthropic"].script.append(Fault(429, "slow down", {"retry-after-ms": "1500"}))
    await faults.ask("gemini", "anthropic-first", False)
    faults.clock.advance(1.0)
    assert (await faults.ask("gemini", "anthropic-first", False)).attempts[0].endswith(":cooldown")
    faults.clock.advance(0.6)
    assert (await faults.ask("gemini", "anthropic-first", False)).attempts == [f"{target('anthropic')}:ok"]


async def test_exhausted_openai_quota_is_a_billing_failure_with_a_long_cooldown(faults: FaultWorld) -> None:
    fake = faults.fakes["openai"]
    fake.script.append(
        Fault(429, "You exceeded your current quota, please check your plan.", {"retry-after": "1"})
    )
    first = await faults.ask("anthropic", "openai-first", False)
    assert first.attempts == [f"{target('openai')}:429", f"{target('gemini')}:ok"]
    faults.clock.advance(600)  # the retry-after said 1 s; waiting does not refill a quota
    second = await faults.ask("anthropic", "openai-first", False)
    assert second.attempts[0] == f"{target('openai')}:billing"
    assert len(fake.received) == 1


@pytest.mark.parametrize("primary", FORMATS)
async def test_a_rejected_key_disables_the_provider(faults: FaultWorld, primary: str) -> None:
    fake, fallback = faults.fakes[primary], FALLBACK[primary]
    fake.script.append(Fault(401, "invalid x-api-key"))
    await faults.ask(CLIENT[primary], f"{primary}-first", False)
    calls = len(fake.received)
    out = await faults.ask(CLIENT[primary], f"{primary}-first", True)
    assert out.attempts == [f"{target(primary)}:auth", f"{target(fallback)}:ok"]
    assert len(fake.received) == calls
    assert faults.health.snapshot()[f"up-{primary}"]["circuit"] == "disabled"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("primary", FORMATS)
async def test_a_reset_is_retried_once_on_the_same_model_and_paid_once(
    faults: FaultWorld, primary: str, stream: bool
) -> None:
    faults.fakes[primary].script.extend([Reset(), Answer(PRIMARY_TEXT, input_tokens=100_000)])
    out = await faults.ask(CLIENT[primary], f"{primary}-first", stream)
    assert out.text == PRIMARY_TEXT
    assert out.attempts == [f"{target(primary)}:connection_reset", f"{target(primary)}:ok"]
    assert len(faults.fakes[FALLBACK[primary]].received) == 0
    report = await faults.daemon.runner.app[ACCOUNTS].report()
    assert report["budgets"]["day"]["spent_usd"] > 0.01  # the retry's answer is on the ledger


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("primary", FORMATS)
async def test_a_bad_request_is_passed_through_without_failover(
    faults: FaultWorld, primary: str, stream: bool
) -> None:
    client = CLIENT[primary]
    faults.fakes[primary].script.append(Fault(400, "messages.0: the upstream's own complaint"))
    out = await faults.ask(client, f"{primary}-first", stream)
    assert out.status == 400
    assert out.error_type(client) == ("INVALID_ARGUMENT" if client == "gemini" else "invalid_request_error")
    assert "the upstream's own complaint" in out.error_message()
    assert out.attempts == [f"{target(primary)}:400"]
    assert len(faults.fakes[FALLBACK[primary]].received) == 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("primary", FORMATS)
async def test_all_failed_is_a_503_listing_every_attempt(
    faults: FaultWorld, primary: str, stream: bool
) -> None:
    client, fallback = CLIENT[primary], FALLBACK[primary]
    faults.fakes[primary].script.append(Fault(500, "primary down"))
    faults.fakes[fallback].script.append(Fault(OVERLOADED[fallback], "fallback overloaded"))
    out = await faults.ask(client, f"{primary}-first", stream)
    assert out.status == 503
    assert out.error_type(client) == ("UNAVAILABLE" if client == "gemini" else "all_providers_failed")
    message = out.error_message()
    assert f"{target(primary)}: 500" in message and "primary down" in message
    assert f"{target(fallback)}: {OVERLOADED[fallback]}" in message and "fallback overloaded" in message


def status_of(e: BaseException) -> int | None:
    """The HTTP status an SDK's error carries (openai/anthropic ``status_code``, google-genai ``code``)."""
    return getattr(e, "status_code", None) or getattr(e, "code", None)


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_sdks_raise_on_a_stream_cut_after_content(
    faults: FaultWorld, fault_sdk: Callable[[str], Client], client: str
) -> None:
    """An official SDK reading the stream must raise, never return a truncated answer as finished."""
    primary = next(p for p in FORMATS if p != client)
    answer = Answer(PRIMARY_TEXT, chunks=6, fault=StreamFault(AFTER_CONTENT[primary], "cut"))
    faults.fakes[primary].script.append(answer)
    with pytest.raises(Exception) as raised:  # noqa: B017 - each SDK has its own error class
        await fault_sdk(client).text(f"{primary}-first", "Say hello", True)
    assert "stream" in str(raised.value).lower() or status_of(raised.value)
    assert type(raised.value).__module__.split(".")[0] in ("openai", "anthropic", "google")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("client", list(CLIENTS))
async def test_sdks_get_the_fallbacks_answer_or_a_503(
    faults: FaultWorld, fault_sdk: Callable[[str], Client], client: str, stream: bool
) -> None:
    primary = next(p for p in FORMATS if p != client and FALLBACK[p] != client)
    fallback = FALLBACK[primary]
    sdk = fault_sdk(client)
    faults.fakes[primary].script.append(Fault(429, "slow down", {"retry-after": "3"}))
    faults.fakes[fallback].script.append(Answer(FALLBACK_TEXT))
    assert (await sdk.text(f"{primary}-first", "Say hello", stream)).text == FALLBACK_TEXT
    # The fallback fails too: the cooling primary is tried anyway (panic mode), and only when
    # it has really failed now is the request refused.
    faults.fakes[fallback].script.append(Fault(500, "fallback down"))
    faults.fakes[primary].script.append(Fault(502, "primary still down"))
    with pytest.raises(Exception) as raised:  # noqa: B017 - each SDK has its own error class
        await sdk.text(f"{primary}-first", "Say hello", stream)
    assert status_of(raised.value) == 503
    assert f"{target(primary)}: cooldown" in str(raised.value)
    assert f"{target(fallback)}: 500" in str(raised.value)
    assert f"{target(primary)}: 502" in str(raised.value)


async def test_an_answer_nested_too_deep_fails_over(faults: FaultWorld) -> None:
    """Tool arguments nested past what orjson writes back: a malformed answer, not a 500."""
    deep: dict[str, object] = {}
    for _ in range(300):
        deep = {"a": deep}
    faults.fakes["gemini"].script.append(Answer(None, tool_calls=[ToolCall("read", deep)]))
    faults.fakes["anthropic"].script.append(Answer(FALLBACK_TEXT))
    out = await faults.ask("openai", "gemini-first", False)
    assert out.status == 200 and out.text == FALLBACK_TEXT
    assert out.attempts[0] == f"{target('gemini')}:malformed"
