"""OpenAI error bodies and in-stream errors, both ways."""

from __future__ import annotations

from email.utils import formatdate
from time import time
from typing import Any

import pytest

from daemon.formats import openai_chat as fmt
from daemon.formats.openai_chat_stream import retry_after
from daemon.ir import (
    ApiError,
)


@pytest.mark.parametrize(
    ("kind", "status", "etype", "code"),
    [
        ("invalid_request", 400, "invalid_request_error", None),
        ("authentication", 401, "authentication_error", "invalid_api_key"),
        ("permission", 403, "permission_error", None),
        ("not_found", 404, "not_found_error", None),
        ("rate_limit", 429, "rate_limit_error", "rate_limit_exceeded"),
        ("overloaded", 503, "server_error", "overloaded"),
        ("server_error", 500, "server_error", None),
        ("timeout", 504, "server_error", "timeout"),
        ("budget_exceeded", 402, "budget_exceeded", "budget_exceeded"),
        ("all_providers_failed", 503, "all_providers_failed", "all_providers_failed"),
        ("context_too_long", 400, "invalid_request_error", "context_length_exceeded"),
    ],
)
def test_errors_both_ways(kind: Any, status: int, etype: str, code: str | None) -> None:
    body = fmt.encode_error(ApiError(status, kind, "why"))
    assert body == {"error": {"message": "why", "type": etype, "param": None, "code": code}}
    back = fmt.decode_error(status, body, {})
    assert (back.kind, back.status, back.message) == (kind, status, "why")


def test_error_details_are_kept() -> None:
    err = ApiError(402, "budget_exceeded", "daily budget spent", details={"scope": "day", "spent_usd": 15.2})
    assert fmt.encode_error(err)["error"]["details"] == {"scope": "day", "spent_usd": 15.2}
    upstream = {
        "error": {
            "message": "Invalid 'stop'",
            "type": "invalid_request_error",
            "param": "stop",
            "code": "array_above_max_length",
        }
    }
    passed = fmt.decode_error(400, upstream, {})
    assert fmt.encode_error(passed) == upstream


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "authentication",
        ),
        (
            429,
            {
                "error": {
                    "message": "Request too large for gpt-4o",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            "rate_limit",
        ),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            "rate_limit",
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "type": "invalid_request_error",
                    "code": None,
                }
            },
            "context_too_long",
        ),
        (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, "context_too_long"),
        (404, {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}}, "not_found"),
        (
            400,
            {"error": {"message": "Unsupported parameter: 'max_tokens'", "code": "unsupported_parameter"}},
            "invalid_request",
        ),
        (
            503,
            {"error": {"message": "The engine is currently overloaded", "type": "server_error"}},
            "overloaded",
        ),
        (502, {"detail": "Bad gateway"}, "server_error"),
        (422, {"error": "bad field"}, "invalid_request"),
        (413, "not json", "request_too_large"),
        (402, {"error": {"message": "Insufficient credits"}}, "rate_limit"),
    ],
)
def test_decode_error(status: int, body: Any, kind: str) -> None:
    err = fmt.decode_error(status, body, {})
    assert (err.status, err.kind) == (status, kind)
    assert err.message and err.upstream == body


def test_quota_code_is_kept_in_details() -> None:
    body = {
        "error": {
            "message": "quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    assert fmt.decode_error(429, body, {}).details == {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
    }


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After": "7"}, 7.0),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "12ms",
          "x-ratelimit-remaining-requests": "59"}, 360.0),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
        ({"x-ratelimit-reset-requests": "12ms"}, 0.012),
        ({"x-ratelimit-reset-requests": "soon"}, None),
        ({"retry-after": "never"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    got = retry_after(headers)
    assert got == seconds if seconds is None else got == pytest.approx(seconds)


def test_retry_after_http_date() -> None:
    got = retry_after({"retry-after": formatdate(time() + 30, usegmt=True)})
    assert got is not None and 25 <= got <= 31
