"""Anthropic error bodies and in-stream errors, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.formats import anthropic as fmt
from daemon.ir import (
    ApiError,
)


@pytest.mark.parametrize(
    ("kind", "status", "etype"),
    [("invalid_request", 400, "invalid_request_error"), ("authentication", 401, "authentication_error"),
     ("permission", 403, "permission_error"), ("not_found", 404, "not_found_error"),
     ("request_too_large", 413, "request_too_large"), ("rate_limit", 429, "rate_limit_error"),
     ("overloaded", 529, "overloaded_error"), ("server_error", 500, "api_error"), ("timeout", 504, "timeout_error"),
     ("budget_exceeded", 402, "budget_exceeded"), ("all_providers_failed", 503, "all_providers_failed")],
)  # fmt: skip
def test_errors_both_ways(kind: Any, status: int, etype: str) -> None:
    err = ApiError(status, kind, "went wrong", details={"error_code": "x_1"})
    body = fmt.encode_error(err)
    assert body == {
        "type": "error",
        "error": {"type": etype, "message": "went wrong", "details": {"error_code": "x_1"}},
    }
    back = fmt.decode_error(status, body, {})
    assert (back.status, back.kind, back.message, back.details) == (
        status,
        kind,
        "went wrong",
        {"error_code": "x_1"},
    )


def test_kinds_that_share_a_type_encode() -> None:
    assert (
        fmt.encode_error(ApiError(400, "context_too_long", "m"))["error"]["type"] == "invalid_request_error"
    )
    assert fmt.encode_error(ApiError(400, "content_policy", "m"))["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry"),
    [
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "r"}}, {"Retry-After": "7"}, "rate_limit", 7.0),
        (429, {"error": {"message": "r"}}, {"retry-after-ms": "1500", "retry-after": "9"}, "rate_limit", 1.5),
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, {}, "overloaded", None),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "prompt is too long: 210000 tokens > 200000 maximum"}}, {}, "context_too_long", None),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000"}},
         {}, "context_too_long", None),
        (402, {"type": "error", "error": {"type": "billing_error", "message": "credit balance too low"}}, {}, "permission", None),
        (502, {"error": {"message": "<html>bad gateway</html>"}}, {"retry-after": "soon"}, "server_error", None),
        (503, "not json at all", {}, "overloaded", None),
        (504, {}, {}, "timeout", None),
        (413, {"type": "error", "error": {"type": "invalid_request_error", "message": "too big"}}, {}, "request_too_large", None),
    ],
)  # fmt: skip
def test_decode_error(
    status: int, body: Any, headers: dict[str, str], kind: str, retry: float | None
) -> None:
    err = fmt.decode_error(status, body, headers)
    assert (err.status, err.kind, err.retry_after_s) == (status, kind, retry)
    assert err.message
