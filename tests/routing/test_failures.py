from __future__ import annotations

import pytest

from daemon.ir import ApiError
from daemon.routing import failures as f
from daemon.routing.failures import Action, FailureKind, classify


@pytest.mark.parametrize(
    ("err", "kind", "action", "label"),
    [
        (ApiError(429, "rate_limit", "slow down", retry_after_s=30), FailureKind.RATE_LIMITED, Action.FAIL_OVER, "429"),
        (ApiError(529, "overloaded", "busy"), FailureKind.OVERLOADED, Action.FAIL_OVER, "529"),
        (ApiError(503, "overloaded", "busy"), FailureKind.OVERLOADED, Action.FAIL_OVER, "503"),
        (ApiError(500, "server_error", "oops"), FailureKind.SERVER_ERROR, Action.FAIL_OVER, "500"),
        (ApiError(504, "timeout", "slow"), FailureKind.TIMEOUT, Action.FAIL_OVER, "504"),
        (ApiError(502, "server_error", "x", cause=f.CONNECT_REFUSED), FailureKind.CONNECTION, Action.FAIL_OVER,
         "connect_refused"),
        (ApiError(502, "server_error", "x", cause=f.CONNECTION_RESET), FailureKind.CONNECTION, Action.RETRY_SAME,
         "connection_reset"),
        (ApiError(504, "timeout", "x", cause=f.TIMEOUT_FIRST_BYTE), FailureKind.TIMEOUT, Action.FAIL_OVER,
         "timeout_first_byte"),
        (ApiError(502, "server_error", "x", cause=f.STREAM_CUT), FailureKind.BROKEN_STREAM, Action.FAIL_OVER,
         "stream_cut"),
        (ApiError(529, "overloaded", "x", cause=f.IN_BAND), FailureKind.OVERLOADED, Action.FAIL_OVER, "in_band"),
        (ApiError(400, "context_too_long", "long"), FailureKind.CONTEXT_TOO_LONG, Action.FAIL_OVER, "400"),
        (ApiError(401, "authentication", "bad key"), FailureKind.AUTH, Action.FAIL_OVER, "401"),
        (ApiError(403, "permission", "no"), FailureKind.AUTH, Action.FAIL_OVER, "403"),
        (ApiError(400, "invalid_request", "bad"), FailureKind.BAD_REQUEST, Action.STOP, "400"),
        (ApiError(400, "content_policy", "no"), FailureKind.CONTENT_POLICY, Action.STOP, "400"),
    ],
)  # fmt: skip
def test_each_class_has_its_action(err: ApiError, kind: FailureKind, action: Action, label: str) -> None:
    failure = classify(err)
    assert (failure.kind, failure.action, failure.label) == (kind, action, label)


def test_cooldowns() -> None:
    assert classify(ApiError(429, "rate_limit", "x", retry_after_s=30)).cooldown_s == 30
    assert classify(ApiError(429, "rate_limit", "x")).cooldown_s == f.RATE_LIMIT_DEFAULT_S
    assert classify(ApiError(401, "authentication", "x")).cooldown_s == f.AUTH_COOLDOWN_S
    assert classify(ApiError(500, "server_error", "x")).cooldown_s == 0


def test_an_exhausted_quota_is_billing_not_a_rate_limit() -> None:
    quota = ApiError(429, "rate_limit", "quota", retry_after_s=1, details={"code": "insufficient_quota"})
    failure = classify(quota)
    assert (failure.kind, failure.action, failure.label) == (FailureKind.BILLING, Action.FAIL_OVER, "429")
    assert failure.cooldown_s == f.BILLING_COOLDOWN_S  # the 1 s retry-after is not waited for
    assert classify(ApiError(402, "permission", "credit spent")).kind is FailureKind.BILLING
    assert classify(ApiError(402, "budget_exceeded", "a detour upstream's budget")).kind is not FailureKind.BILLING
