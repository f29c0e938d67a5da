"""Why an attempt failed, and what the chain does about it.

Every failure of an attempt lands in exactly one class, and each class has one
decided action::

    Failure
    ├── the provider cannot serve now -> fail over to the next model
    │   ├── rate_limited      429, Gemini RESOURCE_EXHAUSTED      cool down for retry-after (5 s if none)
    │   ├── overloaded        529, 503                            cool down for retry-after, if given
    │   ├── server_error      500, 502 and other 5xx               counts toward the circuit
    │   ├── timeout           504; connect, first content, idle    counts toward the circuit
    │   ├── connection        refused, reset                       reset: one same-model retry first
    │   ├── broken_stream     cut, malformed frame, in-band error  counts toward the circuit
    │   ├── invalid_json      the answer is not the JSON asked for  no cooldown; per route,
    │   │                     (routing.structured)                  on_invalid_json = "return" stops
    │   └── context_too_long  the prompt exceeds this model        skip to a model that fits, no cooldown
    ├── the provider is misconfigured -> skip it, alert, never retry it
    │   ├── auth              401, 403                             long cooldown for every model of it
    │   ├── billing           402, OpenAI insufficient_quota 429   an hour for every model of it,
    │   │                                                          whatever retry-after says
    │   └── model_unavailable 404 for a model the route chose      that model is skipped for ten
    │                         (retired, renamed, not on this key)  minutes; a model the client
    │                                                              named itself is bad_request
    └── the client's own request is at fault -> stop, pass the upstream's message through
        ├── bad_request       400, 413, 422 and other 4xx
        └── content_policy    a safety refusal of the request

The HTTP statuses named above mean the same class from every provider, whatever
error type its body gives (one table, ``_OF_STATUS``).

A failure *after* content reached the client cannot fail over: the stream ends
with a well-formed error event instead (``server.relay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from daemon.ir import ApiError
from daemon.ir.errors import (
    CONNECT_REFUSED,
    CONNECTION_RESET,
    IN_BAND,
    INVALID_JSON,
    MALFORMED,
    STREAM_CUT,
    TIMEOUT_CONNECT,
    TIMEOUT_FIRST_BYTE,
    TIMEOUT_IDLE,
)

__all__ = [
    "CONNECT_REFUSED", "CONNECTION_RESET", "IN_BAND", "INVALID_JSON", "MALFORMED", "STREAM_CUT",
    "TIMEOUT_CONNECT", "TIMEOUT_FIRST_BYTE", "TIMEOUT_IDLE", "TAKEN", "Action", "Failure", "FailureKind",
    "classify",
]  # fmt: skip


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BROKEN_STREAM = "broken_stream"
    INVALID_JSON = "invalid_json"
    CONTEXT_TOO_LONG = "context_too_long"
    AUTH = "auth"
    BILLING = "billing"
    MODEL_UNAVAILABLE = "model_unavailable"
    BAD_REQUEST = "bad_request"
    CONTENT_POLICY = "content_policy"


class Action(StrEnum):
    RETRY_SAME = "retry_same"
    FAIL_OVER = "fail_over"
    STOP = "stop"


# A 429 without retry-after: stay away briefly. An overload without one benches nothing: one
# 529 among successes says the provider is busy, not that the model is out (health counts it).
RATE_LIMIT_DEFAULT_S = 5.0
AUTH_COOLDOWN_S = 300.0
# Waiting does not refill a quota or add credit; someone has to act on the account.
BILLING_COOLDOWN_S = 3600.0
# A retired or renamed model stays so; ten minutes keeps a fixed config from waiting long.
MODEL_UNAVAILABLE_COOLDOWN_S = 600.0
# Provider-wide failures: every model behind the same key is out.
PROVIDER_WIDE = frozenset({FailureKind.AUTH, FailureKind.BILLING})
# Failures that say the provider is unwell, as opposed to busy or misused.
COUNTS_TOWARD_CIRCUIT = frozenset(
    {FailureKind.SERVER_ERROR, FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.BROKEN_STREAM,
     FailureKind.OVERLOADED}
)  # fmt: skip


# Failures after the provider took the prompt (it answered 200, or detour stopped waiting for
# its first content): it may bill the prompt and what it generated, so the attempt is paid.
TAKEN = frozenset({TIMEOUT_FIRST_BYTE, TIMEOUT_IDLE, STREAM_CUT, MALFORMED, IN_BAND})
# One table for every provider's HTTP statuses that say "busy" or "unwell": what a format's
# error type says (Anthropic's 503 comes as ``api_error``) does not change the class.
_OF_STATUS = {
    429: FailureKind.RATE_LIMITED, 503: FailureKind.OVERLOADED, 529: FailureKind.OVERLOADED,
    500: FailureKind.SERVER_ERROR, 502: FailureKind.SERVER_ERROR, 504: FailureKind.TIMEOUT,
}  # fmt: skip


@dataclass(slots=True, frozen=True)
class Failure:
    kind: FailureKind
    action: Action
    # How long this provider+model should be left alone (0: no cooldown).
    cooldown_s: float
    # What x-detour-attempts shows: the HTTP status where there was one, else the class.
    label: str


def classify(err: ApiError, *, named: bool = False) -> Failure:
    """``named``: the client asked for the failing model by name, so a 404 is its own to see."""
    kind = _kind(err, named)
    label = str(err.status) if err.cause is None and err.status >= 400 else str(err.cause or kind)
    match kind:
        case FailureKind.RATE_LIMITED:
            wait = err.retry_after_s if err.retry_after_s is not None else RATE_LIMIT_DEFAULT_S
            return Failure(kind, Action.FAIL_OVER, wait, label)
        case FailureKind.OVERLOADED:
            return Failure(kind, Action.FAIL_OVER, err.retry_after_s or 0.0, label)
        case FailureKind.CONNECTION if err.cause == CONNECTION_RESET:
            return Failure(kind, Action.RETRY_SAME, 0.0, label)
        case FailureKind.AUTH:
            return Failure(kind, Action.FAIL_OVER, AUTH_COOLDOWN_S, label)
        case FailureKind.BILLING:
            return Failure(kind, Action.FAIL_OVER, BILLING_COOLDOWN_S, label)
        case FailureKind.MODEL_UNAVAILABLE:
            return Failure(kind, Action.FAIL_OVER, MODEL_UNAVAILABLE_COOLDOWN_S, label)
        case FailureKind.BAD_REQUEST | FailureKind.CONTENT_POLICY:
            return Failure(kind, Action.STOP, 0.0, label)
        case _:
            return Failure(kind, Action.FAIL_OVER, 0.0, label)


def _kind(err: ApiError, named: bool) -> FailureKind:
    if err.cause in (CONNECT_REFUSED, CONNECTION_RESET):
        return FailureKind.CONNECTION
    if err.cause in (TIMEOUT_CONNECT, TIMEOUT_FIRST_BYTE, TIMEOUT_IDLE):
        return FailureKind.TIMEOUT
    if err.cause == INVALID_JSON:
        return FailureKind.INVALID_JSON
    if _out_of_credit(err):
        return FailureKind.BILLING
    if err.cause is None and err.status in _OF_STATUS and err.kind not in _DETOUR_OWN:
        return _OF_STATUS[err.status]
    match err.kind:
        case "rate_limit":
            return FailureKind.RATE_LIMITED
        case "overloaded":
            return FailureKind.OVERLOADED
        case "timeout":
            return FailureKind.TIMEOUT
        case "context_too_long":
            return FailureKind.CONTEXT_TOO_LONG
        case "authentication" | "permission":
            return FailureKind.AUTH
        case "content_policy":
            return FailureKind.CONTENT_POLICY
        case "server_error":
            if err.cause in (STREAM_CUT, MALFORMED, IN_BAND):
                return FailureKind.BROKEN_STREAM
            return FailureKind.SERVER_ERROR
        case "not_found" if err.status == 404 and not named:
            return FailureKind.MODEL_UNAVAILABLE
        case "invalid_request" | "not_found" | "request_too_large":
            return FailureKind.BAD_REQUEST
        case "budget_exceeded" | "all_providers_failed":
            return FailureKind.SERVER_ERROR
        case _:
            assert_never(err.kind)


# Another detour upstream of this one says so in its own words.
_DETOUR_OWN = frozenset({"budget_exceeded", "all_providers_failed"})


def _out_of_credit(err: ApiError) -> bool:
    """A 402 from a provider (prepaid credit spent), or OpenAI's quota 429, which the
    format keeps in ``details`` as ``code``/``type`` ``insufficient_quota``."""
    if err.status == 402 and err.kind != "budget_exceeded":
        return True
    d = err.details or {}
    return "insufficient_quota" in (d.get("code"), d.get("type"))
