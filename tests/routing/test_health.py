from __future__ import annotations

from daemon.config import HealthSettings, Target
from daemon.ir import ApiError
from daemon.routing.failures import classify
from daemon.routing.health import WAKE_BATCH, WAKE_STEP_S, Circuit, Health

T = Target("p", "m")
BOOM = classify(ApiError(500, "server_error", "boom"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cooldown_from_retry_after() -> None:
    clock = Clock()
    h = Health(clock=clock)
    h.failure(T, classify(ApiError(429, "rate_limit", "x", retry_after_s=20)))
    skip = h.claim(T)
    assert skip is not None and skip.label == "cooldown"
    clock.now += 19.9
    assert h.claim(T) is not None
    clock.now += 0.2
    assert h.claim(T) is None


def test_consecutive_failures_eject_then_half_open_lets_one_probe() -> None:
    clock = Clock()
    changes: list[Circuit] = []
    h = Health(consecutive=3, open_s=30, clock=clock, on_circuit=lambda t, s: changes.append(s))
    for _ in range(2):
        h.failure(T, BOOM)
    assert h.claim(T) is None
    h.failure(T, BOOM)
    assert changes == [Circuit.OPEN]
    skip = h.claim(T)
    assert skip is not None and skip.label == "circuit_open" and skip.ready_at == clock.now + 30
    clock.now += 30
    assert h.claim(T) is None  # the probe
    assert h.claim(T) is not None  # everyone else waits for the probe
    assert changes == [Circuit.OPEN, Circuit.HALF_OPEN]
    h.success(T)
    assert changes[-1] is Circuit.CLOSED
    assert h.claim(T) is None and h.claim(T) is None


def test_one_failure_among_successes_benches_nothing() -> None:
    h = Health(clock=Clock())
    for i in range(100):
        h.failure(T, BOOM) if i % 5 == 0 else h.success(T)
        assert h.claim(T) is None
    # Overloaded without retry-after: counted, not a cooldown.
    h.failure(T, classify(ApiError(529, "overloaded", "busy")))
    assert h.claim(T) is None


def test_a_failure_rate_over_the_minimum_volume_ejects() -> None:
    clock = Clock()
    h = Health(min_requests=10, failure_rate=0.5, consecutive=100, window_s=30, clock=clock)
    for i in range(9):
        h.failure(T, BOOM) if i % 2 == 0 else h.success(T)
    assert h.claim(T) is None  # 5 of 9: under the minimum volume
    h.failure(T, BOOM)  # 6 of 10
    assert h.claim(T) is not None


def test_each_ejection_in_a_row_lasts_longer() -> None:
    clock = Clock()
    h = Health(consecutive=1, open_s=5, clock=clock)
    h.failure(T, BOOM)
    clock.now += 5
    assert h.claim(T) is None  # the probe
    h.failure(T, BOOM)
    skip = h.claim(T)
    assert skip is not None and skip.label == "circuit_open" and skip.ready_at == clock.now + 10


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    h = Health(min_requests=2, failure_rate=0.5, consecutive=100, window_s=10, clock=clock)
    h.failure(T, BOOM)
    clock.now += 11
    h.failure(T, BOOM)
    assert h.claim(T) is None


def test_panic_calls_an_ejected_model_but_never_a_rejected_key() -> None:
    h = Health(consecutive=1, clock=Clock())
    h.failure(T, BOOM)
    assert h.claim(T) is not None and h.claim(T, panic=True) is None
    h.failure(T, classify(ApiError(401, "authentication", "bad key")))
    assert h.claim(T, panic=True) is not None


def test_auth_failure_disables_every_model_of_the_provider() -> None:
    h = Health(clock=Clock())
    h.failure(T, classify(ApiError(401, "authentication", "bad key")))
    skip = h.claim(Target("p", "other-model"))
    assert skip is not None and skip.label == "auth" and "detour keys set p" in skip.detail
    assert h.claim(Target("q", "m")) is None


def test_rate_limits_do_not_trip_the_circuit() -> None:
    clock = Clock()
    h = Health(consecutive=2, clock=clock)
    for _ in range(5):
        h.failure(T, classify(ApiError(429, "rate_limit", "x", retry_after_s=0.001)))
    clock.now += 1
    assert h.claim(T) is None


def test_never_more_than_max_ejection_percent_of_a_chain_is_ejected() -> None:
    chain = tuple(Target("p", m) for m in "abcd")
    h = Health(consecutive=1, max_ejection_percent=50, clock=Clock())
    for t in chain:
        h.failure(t, BOOM, chain)
    # Two of four ejected; the other two keep failing but stay in the chain's order.
    assert [h.claim(t) is None for t in chain] == [False, False, True, True]
    assert h.snapshot()["p/c"]["circuit"] == "closed"


def test_one_target_may_always_be_ejected_whatever_the_percent() -> None:
    a, b = Target("p", "a"), Target("p", "b")
    h = Health(consecutive=1, max_ejection_percent=10, clock=Clock())
    h.failure(a, BOOM, (a, b))
    h.failure(b, BOOM, (a, b))
    assert h.claim(a) is not None and h.claim(b) is None


def test_a_freed_share_lets_the_next_failing_target_be_ejected() -> None:
    clock = Clock()
    a, b = Target("p", "a"), Target("p", "b")
    h = Health(consecutive=2, open_s=5, max_ejection_percent=50, clock=clock)
    for _ in range(2):
        h.failure(a, BOOM, (a, b))
        h.failure(b, BOOM, (a, b))
    assert h.claim(b) is None  # a is out: b may not be too
    clock.now += 5
    assert h.claim(a) is None  # a's probe...
    h.success(a)  # ...closes it
    h.failure(b, BOOM, (a, b))  # b still over its threshold: now it goes
    assert h.claim(b) is not None


def test_settings_from_the_config_set_the_thresholds() -> None:
    h = Health.of(HealthSettings(consecutive_failures=2, base_ejection_s=7), clock=Clock())
    h.failure(T, BOOM)
    assert h.claim(T) is None
    h.failure(T, BOOM)
    skip = h.claim(T)
    assert skip is not None and skip.ready_at == h.now() + 7
    h.apply(HealthSettings(failure_rate_percent=25, minimum_requests=4, consecutive_failures=9))
    assert (h.failure_rate, h.min_requests, h.consecutive) == (0.25, 4, 9)


def test_waiters_on_one_target_are_woken_a_few_at_a_time() -> None:
    h = Health(clock=Clock())
    free = h.now() + 3
    wakes = [h.wake_at(T, free) - free for _ in range(20)]
    assert all(w >= 0 for w in wakes)
    steps = [int(w // WAKE_STEP_S) for w in wakes]
    assert steps == [i // WAKE_BATCH for i in range(20)]  # WAKE_BATCH per step, in arrival order
    assert sum(w < 0.2 for w in wakes) == 0.2 / WAKE_STEP_S * WAKE_BATCH  # 16 in the first 200 ms
    # A new free time starts the count again.
    assert h.wake_at(T, free + 10) - (free + 10) < WAKE_STEP_S
