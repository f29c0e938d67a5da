"""The error every layer raises and every format encodes in its own shape.

    ApiError
    ├── client side: invalid_request (400), authentication (401), permission (403),
    │   not_found (404), request_too_large (413), context_too_long (400)
    ├── detour's own refusals: budget_exceeded (402), all_providers_failed (503)
    └── upstream side: rate_limit (429), overloaded (529/503), server_error (500/502),
        timeout (504), content_policy (400)

Each wire format maps ``kind`` to its own type string (``formats.*.encode_error``)
and back (``formats.*.decode_error``).
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "context_too_long",
    "budget_exceeded",
    "all_providers_failed",
    "rate_limit",
    "overloaded",
    "server_error",
    "timeout",
    "content_policy",
]

# The HTTP status of each kind, for errors that arrive without one (inside a stream, where the
# status was 200). Anthropic says 529 for overloaded.
STATUS_OF_KIND: dict[ErrorKind, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "context_too_long": 400,
    "budget_exceeded": 402,
    "all_providers_failed": 503,
    "rate_limit": 429,
    "overloaded": 503,
    "server_error": 500,
    "timeout": 504,
    "content_policy": 400,
}


# What ``ApiError.cause`` says of a failure with no HTTP answer to go by (set where the
# transport or a stream check saw it; classified in ``routing.failures``).
CONNECT_REFUSED = "connect_refused"
CONNECTION_RESET = "connection_reset"
STREAM_CUT = "stream_cut"
MALFORMED = "malformed"
IN_BAND = "in_band"
TIMEOUT_CONNECT = "timeout_connect"
TIMEOUT_FIRST_BYTE = "timeout_first_byte"
TIMEOUT_IDLE = "timeout_idle"
INVALID_JSON = "invalid_json"


class ApiError(Exception):
    """An error with an HTTP status, a kind every format can name, and a message a person can act on.

    ``upstream`` keeps the provider's parsed error body when the error came from
    one; ``retry_after_s`` the provider's hint, if it gave one.
    """

    def __init__(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        *,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
        upstream: Any = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind: ErrorKind = kind
        self.message = message
        self.retry_after_s = retry_after_s
        self.details = details
        self.upstream = upstream
        # The transport-level cause where there was one (refused, reset, cut, a timeout's phase),
        # for routing.failures to classify; None for an HTTP error answer.
        self.cause = cause
        # Response headers that go out with the error, e.g. x-detour-attempts of a failed walk.
        self.headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.kind!r}, {self.message!r})"


def invalid(message: str) -> ApiError:
    """The client sent something we cannot translate: a clear 400, never a silent drop."""
    return ApiError(400, "invalid_request", message)
