from __future__ import annotations

from daemon.config import Target
from daemon.ir import ApiError
from daemon.routing.failures import classify
from daemon.routing.health import Circuit, Health

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
