from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.formats.registry import FORMATS
from daemon.formats.retry import retry_after
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
    assert (
        classify(ApiError(402, "budget_exceeded", "a detour upstream's budget")).kind
        is not FailureKind.BILLING
    )


NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()  # a Friday


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:30 GMT"}, 30.0),
        ({"anthropic-ratelimit-tokens-remaining": "0",
          "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:42Z",
          "anthropic-ratelimit-requests-remaining": "40",
          "anthropic-ratelimit-requests-reset": "2027-01-15T08:05:00Z"}, 42.0),
        ({"anthropic-ratelimit-input-tokens-reset": "2027-01-15T08:00:05Z"}, 5.0),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        ({"x-ratelimit-reset": "12"}, 12.0),
        ({"x-ratelimit-reset": str(int(NOW + 20) * 1000)}, 20.0),
        ({"ratelimit-remaining": "3", "ratelimit-reset": "30"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_retry_hints_from_headers(headers: dict[str, str], seconds: float | None) -> None:
    got = retry_after(headers, now=NOW)
    assert got == seconds if seconds is None else got == pytest.approx(seconds)


def test_every_format_reads_the_hint_into_the_cooldown() -> None:
    from daemon.formats import anthropic_response, gemini_stream, openai_chat_stream

    rate = {"error": {"type": "rate_limit_error", "message": "slow"}}
    got = anthropic_response.decode_error(429, rate, {"retry-after-ms": "1500"})
    assert classify(got).cooldown_s == 1.5
    got = openai_chat_stream.decode_error(
        429, {"error": {"message": "slow", "type": "tokens"}}, {"retry-after": "4"}
    )
    assert classify(got).cooldown_s == 4
    body = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]}}  # fmt: skip
    got = gemini_stream.decode_error(429, body, {"retry-after": "2"})
    assert classify(got).cooldown_s == 34.4


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("anthropic", {"type": "error", "error": {"type": "api_error", "message": "Service unavailable"}}),
        ("anthropic", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        (
            "openai_chat",
            {"error": {"message": "The server is overloaded", "type": "server_error", "code": None}},
        ),
        ("gemini", {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
    ],
)
def test_a_503_is_overloaded_from_every_provider(fmt: str, body: dict[str, object]) -> None:
    """One table for every provider's statuses, whatever error type its body gives."""
    failure = classify(FORMATS[fmt].decode_error(503, body, {}))
    assert (failure.kind, failure.label) == (FailureKind.OVERLOADED, "503")
    gateway = classify(FORMATS[fmt].decode_error(502, {"error": {"message": "bad gateway"}}, {}))
    assert gateway.kind is FailureKind.SERVER_ERROR
