"""Gemini error bodies and in-stream errors, both ways."""

from __future__ import annotations

import pytest

from daemon import ir
from daemon.formats import gemini


@pytest.mark.parametrize(
    ("kind", "status", "gstatus"),
    [
        ("invalid_request", 400, "INVALID_ARGUMENT"), ("context_too_long", 400, "INVALID_ARGUMENT"),
        ("authentication", 401, "UNAUTHENTICATED"), ("permission", 403, "PERMISSION_DENIED"),
        ("not_found", 404, "NOT_FOUND"), ("rate_limit", 429, "RESOURCE_EXHAUSTED"), ("overloaded", 503, "UNAVAILABLE"),
        ("server_error", 500, "INTERNAL"), ("timeout", 504, "DEADLINE_EXCEEDED"), ("request_too_large", 413, "INVALID_ARGUMENT"),
        ("content_policy", 400, "INVALID_ARGUMENT"),
    ],
)  # fmt: skip
def test_encode_error_kinds(kind: ir.ErrorKind, status: int, gstatus: str) -> None:
    body = gemini.encode_error(ir.ApiError(status, kind, "why"))
    assert body == {"error": {"code": status, "message": "why", "status": gstatus}}
    back = gemini.decode_error(status, body, {})
    assert back.kind == kind or kind in ("context_too_long", "content_policy")


def test_detour_refusals_carry_error_info() -> None:
    budget = ir.ApiError(
        402,
        "budget_exceeded",
        "the daily budget is spent",
        details={"scope": "day", "spent_usd": 15.2, "resets_at": None},
    )
    assert gemini.encode_error(budget) == {
        "error": {
            "code": 402,
            "message": "the daily budget is spent",
            "status": "FAILED_PRECONDITION",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "budget_exceeded",
                    "domain": "detour",
                    "metadata": {"scope": "day", "spent_usd": "15.2"},
                }
            ],
        }
    }
    failed = ir.ApiError(
        503,
        "all_providers_failed",
        "every model failed",
        details={"attempts": [{"provider": "a", "outcome": "429"}]},
        retry_after_s=2.5,
    )
    error = gemini.encode_error(failed)["error"]
    assert error["status"] == "UNAVAILABLE"
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "all_providers_failed",
            "domain": "detour",
            "metadata": {"attempts": '[{"provider":"a","outcome":"429"}]'},
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"},
    ]


def test_decode_documented_429_and_other_upstream_errors() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"},
            ],
        }
    }
    err = gemini.decode_error(429, body, {})
    assert (err.status, err.kind, err.retry_after_s, err.message) == (
        429,
        "rate_limit",
        34.4,
        "You exceeded your current quota, please check your plan.",
    )
    assert err.upstream == body

    def kind(status: int, message: str = "m", gstatus: str = "", **headers: str) -> tuple[str, float | None]:
        e = gemini.decode_error(
            status, {"error": {"code": status, "message": message, "status": gstatus}}, headers
        )
        return e.kind, e.retry_after_s

    assert kind(
        400, "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    ) == ("context_too_long", None)
    assert kind(400, "Request contains an invalid argument.", "INVALID_ARGUMENT") == ("invalid_request", None)
    assert kind(503, "The model is overloaded.", "UNAVAILABLE", **{"Retry-After": "7"}) == ("overloaded", 7.0)
    assert kind(500, gstatus="INTERNAL", **{"retry-after-ms": "1500"}) == ("server_error", 1.5)
    assert kind(504, gstatus="DEADLINE_EXCEEDED") == ("timeout", None)
    assert kind(403, gstatus="PERMISSION_DENIED") == ("permission", None)
    assert kind(402, gstatus="RESOURCE_EXHAUSTED") == ("permission", None)  # prepaid credit spent
    assert kind(404, gstatus="NOT_FOUND") == ("not_found", None)
    bad_key = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}  # fmt: skip
    assert gemini.decode_error(400, bad_key, {}).kind == "authentication"
    assert gemini.decode_error(502, {"error": {"message": "<html>bad gateway"}}, {}).kind == "server_error"
    assert (
        gemini.decode_error(
            500, [{"error": {"code": 500, "message": "in an array", "status": "INTERNAL"}}], {}
        ).message
        == "in an array"
    )
