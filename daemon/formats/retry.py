"""How long a provider asked us to stay away, from the headers of its error answer.

Read in the order the official SDKs read them: ``retry-after-ms``, then
``retry-after`` (seconds or an HTTP date); failing those, the reset of whichever
rate limit is used up:

- OpenAI ``x-ratelimit-reset-{requests,tokens}``: Go durations (``6m0s``, ``12ms``);
- Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset``:
  RFC 3339 instants;
- plain ``x-ratelimit-reset`` / ``ratelimit-reset`` (compatible servers): seconds
  to wait, or a Unix time in seconds or milliseconds.

A limit counts as used up when its ``-remaining`` twin is 0 or absent. Gemini's
``RetryInfo`` rides in the body and is read by its format before these.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Final

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_ANTHROPIC_LIMITS: Final = ("requests", "tokens", "input-tokens", "output-tokens")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    h = {k.lower(): v.strip() for k, v in headers.items()}
    now = time.time() if now is None else now
    if (ms := _number(h.get("retry-after-ms"))) is not None:
        return max(0.0, ms / 1000)
    if (ra := h.get("retry-after")) is not None:
        seconds = _number(ra)
        if seconds is None:
            seconds = _http_date(ra, now)
        if seconds is not None:
            return max(0.0, seconds)
    resets: list[float | None] = []
    for what in ("requests", "tokens"):
        if _used_up(h, f"x-ratelimit-remaining-{what}"):
            resets.append(duration(h.get(f"x-ratelimit-reset-{what}", "")))
    for what in _ANTHROPIC_LIMITS:
        if _used_up(h, f"anthropic-ratelimit-{what}-remaining"):
            resets.append(_rfc3339(h.get(f"anthropic-ratelimit-{what}-reset", ""), now))
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        if _used_up(h, name.replace("reset", "remaining")):
            resets.append(_epoch_or_delta(h.get(name), now))
    found = [r for r in resets if r is not None]
    return max(found) if found else None


def duration(value: str) -> float | None:
    """Go-style durations as in ``x-ratelimit-reset-tokens: 6m0s`` or ``12ms``."""
    value = value.strip()
    pieces = _DURATION.findall(value)
    if not pieces or "".join(n + u for n, u in pieces) != value:
        return None
    return sum(float(n) * _UNIT[u] for n, u in pieces)


def _used_up(h: dict[str, str], remaining: str) -> bool:
    return h.get(remaining) in (None, "0")


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _http_date(value: str, now: float) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def _rfc3339(value: str, now: float) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
    except ValueError:
        return None


def _epoch_or_delta(value: str | None, now: float) -> float | None:
    n = _number(value)
    if n is None:
        return None
    if n > 1e12:  # Unix milliseconds
        return max(0.0, n / 1000 - now)
    if n > 1e9:  # Unix seconds
        return max(0.0, n - now)
    return max(0.0, n)
