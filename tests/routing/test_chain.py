"""The chain walk with scripted in-process providers: no network, exact control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from daemon.config import HealthSettings, ModelConfig, ProviderConfig, Target
from daemon.ir import (
    ApiError,
    Message,
    PartEnd,
    PartStart,
    Request,
    Response,
    ResponseFormat,
    StreamAssembler,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
)
from daemon.providers.base import Provider
from daemon.routing import failures as f
from daemon.routing.chain import Chain, Lease, Meter
from daemon.routing.health import WAKE_BATCH, WAKE_STEP_S, Health
from daemon.routing.routes import Resolved

Script = list[ApiError | str]


class Scripted(Provider):
    """Answers from a script: a string is a good answer, an ApiError is raised.

    For streams, ``before_content`` errors are raised before any content and
    ``after_content`` ones after the first character."""

    def __init__(
        self,
        pid: str,
        script: Script,
        *,
        after_content: bool = False,
        delay: float = 0,
        models: dict[str, ModelConfig] | None = None,
    ) -> None:
        config = ProviderConfig(
            id=pid, kind="openai", base_url="", timeout_first_byte_s=0.3, models=models or {}
        )
        super().__init__(config)
        self.script, self.after_content, self.delay = script, after_content, delay
        self.calls = 0

    @property
    def usable(self) -> bool:
        return True

    def _next(self) -> ApiError | str:
        self.calls += 1
        return self.script.pop(0) if self.script else "fine"

    async def stream(self, req: Request, model: str) -> AsyncIterator[StreamEvent]:
        step = self._next()
        yield StreamStart("r", model)
        await asyncio.sleep(self.delay)
        if isinstance(step, ApiError) and not self.after_content:
            raise step
        text = "partial" if isinstance(step, ApiError) else step
        yield PartStart(0, TextPart(""))
        yield TextDelta(0, text[:1])
        if isinstance(step, ApiError):
            raise step
        yield TextDelta(0, text[1:])
        yield PartEnd(0)
        yield StreamEnd("end")


REQ = Request("route", [Message("user", [TextPart("hi")])], max_tokens=1000)


def chain_of(*providers: Scripted, health: Health | None = None, wait_s: float = 0) -> tuple[Chain, Resolved]:
    chain = Chain({p.id: p for p in providers}, health or Health(), max_wait_s=wait_s)
    return chain, Resolved("r", tuple(Target(p.id, "m") for p in providers))


async def complete(chain: Chain, req: Request, resolved: Resolved) -> tuple[Response, Lease]:
    """What the relay does for a client that wants one body: the whole stream, assembled."""
    lease = await chain.open(req, resolved, whole=True)
    assembler = StreamAssembler()
    for ev in lease.held:
        assembler.feed(ev)
    lease.finish(assembler.usage)
    return assembler.response(), lease


async def test_fails_over_and_records_attempts() -> None:
    a = Scripted("a", [ApiError(429, "rate_limit", "slow", retry_after_s=60)])
    b = Scripted("b", ["from b"])
    chain, resolved = chain_of(a, b)
    resp, served = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("from b")]
    assert [str(x) for x in served.attempts] == ["a/m:429", "b/m:ok"]
    # The cooldown is honoured: no second call to a inside it.
    _, served = await complete(chain, REQ, resolved)
    assert a.calls == 1
    assert [str(x) for x in served.attempts] == ["a/m:cooldown", "b/m:ok"]
    assert not served.attempts[0].called


async def test_bad_request_stops_without_failover() -> None:
    a = Scripted("a", [ApiError(400, "invalid_request", "messages: bad")])
    b = Scripted("b", [])
    chain, resolved = chain_of(a, b)
    with pytest.raises(ApiError) as e:
        await complete(chain, REQ, resolved)
    assert e.value.status == 400 and b.calls == 0


async def test_a_routed_model_that_is_gone_is_skipped_for_a_while() -> None:
    gone = ApiError(404, "not_found", "model: claude-3-sonnet-20240229 does not exist")
    a, b = Scripted("a", [gone]), Scripted("b", [])
    chain, resolved = chain_of(a, b)
    _, served = await complete(chain, REQ, resolved)
    assert [str(x) for x in served.attempts] == ["a/m:404", "b/m:ok"]
    assert served.attempts[0].kind is f.FailureKind.MODEL_UNAVAILABLE
    _, served = await complete(chain, REQ, resolved)
    assert a.calls == 1 and str(served.attempts[0]) == "a/m:cooldown"


async def test_a_model_the_client_named_itself_passes_its_404_through() -> None:
    a, b = Scripted("a", [ApiError(404, "not_found", "no such model")]), Scripted("b", [])
    chain, resolved = chain_of(a, b)
    with pytest.raises(ApiError) as e:
        await complete(chain, Request("m", REQ.messages, max_tokens=10), resolved)  # asked for "m" by name
    assert e.value.status == 404 and b.calls == 0
    _, served = await complete(chain, REQ, resolved)  # and the model is not cooled down for others
    assert [str(x) for x in served.attempts] == ["a/m:ok"]


async def test_one_retry_on_connection_reset() -> None:
    a = Scripted("a", [ApiError(502, "server_error", "reset", cause=f.CONNECTION_RESET), "second try"])
    chain, resolved = chain_of(a, Scripted("b", []))
    resp, served = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("second try")]
    assert [str(x) for x in served.attempts] == ["a/m:connection_reset", "a/m:ok"]


async def test_all_failed_lists_every_attempt() -> None:
    a = Scripted("a", [ApiError(529, "overloaded", "busy")])
    b = Scripted("b", [ApiError(500, "server_error", "boom")])
    chain, resolved = chain_of(a, b)
    with pytest.raises(ApiError) as e:
        await complete(chain, REQ, resolved)
    assert e.value.status == 503 and e.value.kind == "all_providers_failed"
    assert "a/m: 529 (busy)" in e.value.message and "b/m: 500 (boom)" in e.value.message
    assert [x["outcome"] for x in e.value.details["attempts"]] == ["529", "500"]  # type: ignore[index]


async def test_stream_failure_before_content_fails_over_invisibly() -> None:
    a = Scripted("a", [ApiError(502, "server_error", "cut", cause=f.STREAM_CUT)])
    chain, resolved = chain_of(a, Scripted("b", ["from b"]))
    live = await chain.open(REQ, resolved)
    events = live.held + [ev async for ev in live.rest]
    text = "".join(ev.text for ev in events if isinstance(ev, TextDelta))
    assert text == "from b"
    assert [str(x) for x in live.attempts] == ["a/m:stream_cut", "b/m:ok"]


async def test_stream_failure_after_content_reaches_the_caller() -> None:
    a = Scripted("a", [ApiError(529, "overloaded", "busy", cause=f.IN_BAND)], after_content=True)
    chain, resolved = chain_of(a, Scripted("b", []))
    live = await chain.open(REQ, resolved)
    with pytest.raises(ApiError):
        async for _ in live.rest:
            pass


async def test_first_content_timeout_fails_over() -> None:
    a = Scripted("a", ["too late"], delay=5)
    chain, resolved = chain_of(a, Scripted("b", ["from b"]))
    live = await chain.open(REQ, resolved)
    assert [str(x) for x in live.attempts] == ["a/m:timeout_first_byte", "b/m:ok"]


async def test_open_circuit_makes_no_call_and_half_open_lets_one_probe_through() -> None:
    clock = [0.0]
    health = Health(consecutive=2, window_s=60, open_s=10, clock=lambda: clock[0])
    boom = ApiError(500, "server_error", "boom")
    a = Scripted("a", [boom, boom], delay=0.05)
    b = Scripted("b", [])
    chain, resolved = chain_of(a, b, health=health)
    for _ in range(2):
        await complete(chain, REQ, resolved)
    assert a.calls == 2
    await complete(chain, REQ, resolved)
    assert a.calls == 2  # open: skipped without a call
    clock[0] += 10
    results = await asyncio.gather(*(complete(chain, REQ, resolved) for _ in range(10)))
    assert a.calls == 3  # exactly one probe under concurrency
    assert sum(lease.target.provider == "a" for _, lease in results) == 1
    await complete(chain, REQ, resolved)
    assert a.calls == 4  # the probe succeeded: closed again


async def test_context_window_skips_and_max_tokens_is_clamped() -> None:
    small = Scripted("small", [], models={"m": ModelConfig(100, 50)})
    big = Scripted("big", [], models={"m": ModelConfig(10_000, 500)})
    chain = Chain({"small": small, "big": big}, Health(), max_wait_s=0)
    resolved = Resolved("r", (Target("small", "m"), Target("big", "m")))
    long = Request("route", [Message("user", [TextPart("x" * 3000)])], max_tokens=4000)
    _, served = await complete(chain, long, resolved)
    assert [str(x) for x in served.attempts] == ["small/m:context_too_long", "big/m:ok"]
    assert small.calls == 0
    assert served.request.max_tokens == 500
    assert long.max_tokens == 4000  # the client's request is left whole for the next link


JSON_REQ = Request(
    "route",
    [Message("user", [TextPart("hi")])],
    max_tokens=1000,
    response_format=ResponseFormat("json_schema", schema={"type": "object", "required": ["a"]}),
)


async def test_an_invalid_json_answer_fails_over_and_is_recorded() -> None:
    a, b = Scripted("a", ["Sure, here it is"]), Scripted("b", ['{"a": 1}'])
    chain, resolved = chain_of(a, b)
    resp, served = await complete(chain, JSON_REQ, resolved)
    assert resp.parts == [TextPart('{"a": 1}')]
    assert [str(x) for x in served.attempts] == ["a/m:invalid_json", "b/m:ok"]
    assert served.attempts[0].kind is f.FailureKind.INVALID_JSON


async def test_on_invalid_json_return_stops_at_the_first_invalid_answer() -> None:
    a, b = Scripted("a", ['{"b": 1}']), Scripted("b", ['{"a": 1}'])
    chain, resolved = chain_of(a, b)
    chain.invalid_json_returns = frozenset({resolved.route})
    with pytest.raises(ApiError, match=r"does not match the schema at \$: 'a' is a required property"):
        await complete(chain, JSON_REQ, resolved)
    assert b.calls == 0


def _attempts(lease: Lease) -> list[str]:
    return [str(x) for x in lease.attempts]


async def test_a_fallback_cooling_down_briefly_is_waited_for() -> None:
    hung = ApiError(504, "timeout", "hung", cause=f.TIMEOUT_FIRST_BYTE)
    a, b = Scripted("a", [hung]), Scripted("b", ["from b"])
    chain, resolved = chain_of(a, b, wait_s=10)
    chain.health.failure(Target("b", "m"), f.classify(ApiError(429, "rate_limit", "x", retry_after_s=0.3)))
    resp, lease = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("from b")]
    first, cooling, waited, served = _attempts(lease)
    assert (first, cooling, served) == ("a/m:timeout_first_byte", "b/m:cooldown", "b/m:ok")
    # What was left of the 0.3 s when the walk got there (less on a loaded machine).
    assert waited in ("b/m:waited_0.3s", "b/m:waited_0.2s", "b/m:waited_0.1s")


async def test_everything_out_for_long_is_tried_anyway_in_chain_order() -> None:
    a, b = Scripted("a", ["from a"]), Scripted("b", [])
    chain, resolved = chain_of(a, b, wait_s=1)
    for t in resolved.chain:
        chain.health.failure(t, f.classify(ApiError(429, "rate_limit", "x", retry_after_s=60)))
    resp, lease = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("from a")]
    assert _attempts(lease) == ["a/m:cooldown", "b/m:cooldown", "a/m:panic", "a/m:ok"]


async def test_panic_refuses_only_once_each_model_really_failed_now() -> None:
    a = Scripted("a", [ApiError(500, "server_error", "boom")])
    b = Scripted("b", [ApiError(500, "server_error", "boom")])
    chain, resolved = chain_of(a, b, wait_s=0)
    for t in resolved.chain:
        chain.health.failure(t, f.classify(ApiError(429, "rate_limit", "x", retry_after_s=60)))
    with pytest.raises(ApiError) as e:
        await complete(chain, REQ, resolved)
    assert e.value.status == 503 and a.calls == 1 and b.calls == 1


async def test_transient_failures_are_tried_again_within_the_wait() -> None:
    a = Scripted("a", [ApiError(500, "server_error", "boom"), "second try"])
    b = Scripted("b", [ApiError(503, "overloaded", "busy")])
    chain, resolved = chain_of(a, b, wait_s=10)
    resp, lease = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("second try")]
    assert _attempts(lease) == ["a/m:500", "b/m:503", "a/m:waited_0.1s", "a/m:ok"]


async def test_a_whole_answer_cut_after_content_still_fails_over() -> None:
    a = Scripted("a", [ApiError(502, "server_error", "cut", cause=f.STREAM_CUT)], after_content=True)
    chain, resolved = chain_of(a, Scripted("b", ["from b"]))
    resp, lease = await complete(chain, REQ, resolved)
    assert resp.parts == [TextPart("from b")]
    assert _attempts(lease) == ["a/m:stream_cut", "b/m:ok"]


class Heard(Health):
    """A real Health that also keeps what it was told, per target."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.heard: list[tuple[str, str]] = []

    def success(self, target: Target) -> None:
        self.heard.append((target.provider, "success"))
        super().success(target)

    def failure(self, target: Target, failure: f.Failure, chain: Sequence[Target] = ()) -> None:
        self.heard.append((target.provider, str(failure.kind)))
        super().failure(target, failure, chain)

    def release(self, target: Target) -> None:
        self.heard.append((target.provider, "release"))
        super().release(target)


async def relayed(lease: Lease) -> None:
    """What the relay does with a streaming lease: relay the rest, then finish it once."""
    meter, failed = Meter(), None
    for ev in lease.held:
        meter.feed(ev)
    try:
        async for ev in lease.rest:
            meter.feed(ev)
    except ApiError as err:
        failed = err
    lease.finish(meter.usage, failed, complete=meter.complete, relayed_chars=meter.chars)
    lease.finish(meter.usage, failed, complete=meter.complete)  # a second finish is no second verdict


async def test_lease_finish_tells_health_of_each_attempt_once() -> None:
    cut = ApiError(502, "server_error", "cut", cause=f.STREAM_CUT)
    health = Heard()
    a = Scripted("a", [cut, "fine", cut], after_content=True)
    chain, resolved = chain_of(a, Scripted("b", []), health=health)
    for _ in range(3):  # cut after content, a stream that ends well, cut again
        await relayed(await chain.open(REQ, resolved))
    assert health.heard == [("a", "broken_stream"), ("a", "success"), ("a", "broken_stream")]
    health.heard.clear()
    await complete(chain, REQ, resolved)  # a whole answer: one success, at its end
    assert health.heard == [("a", "success")]
    health.heard.clear()
    lease = await chain.open(REQ, resolved)
    lease.finish(Usage(), complete=False)  # the client went away: no verdict on the target
    assert health.heard == [("a", "release")]
    health.heard.clear()
    before = Scripted("c", [ApiError(500, "server_error", "boom")])
    chain, resolved = chain_of(before, Scripted("d", []), health=health)
    await relayed(await chain.open(REQ, resolved))  # a failure in the walk, then a good answer
    assert health.heard == [("c", "server_error"), ("d", "success")]


async def test_a_target_that_always_cuts_mid_stream_is_ejected_then_probed() -> None:
    clock = [0.0]
    health = Health.of(HealthSettings(consecutive_failures=3, base_ejection_s=10), clock=lambda: clock[0])
    cut = ApiError(502, "server_error", "cut", cause=f.STREAM_CUT)
    a = Scripted("a", [cut] * 4, after_content=True)
    chain, resolved = chain_of(a, Scripted("b", []), health=health)
    for _ in range(3):
        lease = await chain.open(REQ, resolved)
        assert lease.target.provider == "a"  # content went out first: no failover, the cut is a's
        await relayed(lease)
    lease = await chain.open(REQ, resolved)
    assert _attempts(lease) == ["a/m:circuit_open", "b/m:ok"] and a.calls == 3
    await relayed(lease)
    clock[0] += 10
    lease = await chain.open(REQ, resolved)  # the probe
    assert lease.target.provider == "a" and a.calls == 4
    await relayed(lease)  # cut again: ejected for longer
    clock[0] += 10
    assert _attempts(await chain.open(REQ, resolved)) == ["a/m:circuit_open", "b/m:ok"]
    clock[0] += 10
    lease = await chain.open(REQ, resolved)  # a's script is spent: the probe answers whole
    await relayed(lease)
    assert a.calls == 5 and health.snapshot()["a/m"]["circuit"] == "closed"


async def test_requests_waiting_for_one_cooling_model_are_let_go_a_few_at_a_time() -> None:
    woken: list[float] = []

    class Recorded(Health):
        def wake_at(self, target: Target, ready_at: float) -> float:
            at = super().wake_at(target, ready_at)
            woken.append(at - ready_at)
            return at

    b = Scripted("b", [])
    chain, resolved = chain_of(b, health=Recorded(), wait_s=10)
    chain.health.failure(Target("b", "m"), f.classify(ApiError(429, "rate_limit", "x", retry_after_s=0.2)))
    leases = await asyncio.gather(*(complete(chain, REQ, resolved) for _ in range(12)))
    assert b.calls == 12 and all(_attempts(lease)[-1] == "b/m:ok" for _, lease in leases)
    # Each waiter was given its own moment: WAKE_BATCH per WAKE_STEP_S, in the order they came.
    assert sorted(int(w // WAKE_STEP_S) for w in woken) == [i // WAKE_BATCH for i in range(12)]
