"""Middlewares: errors in the client's own format, loopback and origin guard, the local token.

Order (outermost first): errors, guard, auth. So a refused Host or a missing
token still gets an answer the client's SDK can parse.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from daemon.config import is_loopback
from daemon.formats.base import WireFormat
from daemon.formats.registry import FORMATS
from daemon.ir import ApiError, ErrorKind

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health", "/"})
MAX_BODY = 32 * 1024 * 1024  # Anthropic's own limit for Messages; agent histories exceed 1 MiB
# The response a handler has already begun (a stream): an error after that cannot be a new response.
STARTED = web.RequestKey("started", web.StreamResponse)
_HOST = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[\w.~-]+)?)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?"
)


async def mark_started(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: remembers the response whose headers went out."""
    request[STARTED] = response


def format_for(path: str) -> WireFormat:
    """The wire format whose error shape a client on this path understands."""
    if path.startswith("/v1/messages"):
        return FORMATS["anthropic"]
    if path.startswith("/v1/responses"):
        return FORMATS["openai_responses"]
    if path.startswith("/v1beta") or (path.startswith("/v1/models/") and ":" in path):
        return FORMATS["gemini"]
    return FORMATS["openai_chat"]


def error_response(path: str, err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    body = format_for(path).encode_error(err)
    return web.Response(
        status=err.status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(request.path, err, err.headers or None)
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            request.path,
            ApiError(
                413, "request_too_large", f"request body is larger than detour's {MAX_BODY >> 20} MiB limit"
            ),
        )
    except web.HTTPException as e:
        if e.status < 400:
            raise
        kind: ErrorKind = "not_found" if e.status in (404, 405) else "invalid_request"
        msg = f"{request.method} {request.path}: {e.reason}"
        return error_response(request.path, ApiError(e.status, kind, msg))
    except Exception:
        # A bug of ours: the log gets the traceback, the client a clean message.
        log.exception("unhandled error on %s %s", request.method, request.path)
        ours = ApiError(500, "server_error", "detour hit an internal error; see its log")
        if STARTED not in request:
            return error_response(request.path, ours)
        # Mid-stream: a second response would land inside this one's body; end the stream instead.
        started = request[STARTED]
        with contextlib.suppress(ConnectionError):
            await started.write(format_for(request.path).error_frame(ours))
            await started.write_eof()
        return started


def guard(allowed_hosts: frozenset[str] | None) -> Middleware:
    """Refuse requests whose Host is not this machine (DNS rebinding) and any web page's Origin.

    ``allowed_hosts`` None means loopback only; with ``allow_remote`` the bound host is added.
    """

    verdicts: dict[str, bool] = {}  # Host header -> allowed: a client sends the same one every time

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        allowed = verdicts.get(request.host)
        if allowed is None:
            host = host_name(request.host)
            allowed = host is not None and (
                is_loopback(host) or (allowed_hosts is not None and host in allowed_hosts)
            )
            if len(verdicts) >= 256:
                verdicts.clear()
            verdicts[request.host] = allowed
        if not allowed:
            raise ApiError(
                403, "permission", f"Host {request.host!r} is not this machine; detour answers loopback only"
            )
        origin = request.headers.get("Origin")
        if origin is not None and _is_web_origin(origin):
            raise ApiError(403, "permission", f"requests from web pages (Origin {origin}) are refused")
        return await handler(request)

    return middleware


def host_name(header: str) -> str | None:
    """The host of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), lower-cased and
    unbracketed; None unless the whole header is one host and at most a port, so that
    ``127.0.0.1:8787.evil.example`` is not taken for loopback."""
    m = _HOST.fullmatch(header)
    if m is None or (m["port"] is not None and int(m["port"]) > 65535):
        return None
    return (m["v6"] or m["name"]).lower()


def _is_web_origin(origin: str) -> bool:
    # Editors' webviews and desktop apps use their own schemes; browsers send http(s) or "null".
    return origin == "null" or urlsplit(origin).scheme in ("http", "https")


def auth(token: str, keyless: frozenset[str] = frozenset()) -> Middleware:
    """``keyless``: paths a loopback peer may call without the token (``ollama_compat``)."""
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        # Some of these clients send a placeholder key ("ollama"): any key, or none, will do.
        if request.path in keyless and is_loopback(request.remote or ""):
            return await handler(request)
        given = presented_token(request)
        if given is None:
            raise ApiError(
                401,
                "authentication",
                "missing detour token: send it as the API key (`detour token` prints it)",
            )
        if not hmac.compare_digest(given.encode(), expected):
            raise ApiError(401, "authentication", "wrong detour token: `detour token` prints the right one")
        return await handler(request)

    return middleware


def presented_token(request: web.Request) -> str | None:
    h = request.headers
    bearer = h.get("Authorization", "")
    if bearer[:7].lower() == "bearer ":
        return bearer[7:].strip()
    return h.get("x-api-key") or h.get("x-goog-api-key") or request.query.get("key")
