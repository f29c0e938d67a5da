"""Which session a request belongs to (CONTRACT.md, Sessions).

The ``x-detour-session`` header names it; else the client's own user id
(Anthropic ``metadata.user_id``, OpenAI ``user``); else one session per client
token that ends after 30 idle minutes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

IDLE_S = 30 * 60


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._idle: dict[str, tuple[str, float]] = {}  # token digest -> (session id, last seen)
        self._who: dict[str, str] = {}  # token -> its digest (one token, or a few, a daemon)

    def resolve(self, header: str | None, user: str | None, token: str) -> str:
        if header:
            return header[:128]
        if user:
            # Claude Code sends a JSON blob here; a digest keeps the header short and opaque.
            return "user-" + hashlib.blake2b(user.encode(), digest_size=8).hexdigest()
        return self._idle_session(token)

    def _idle_session(self, token: str) -> str:
        now = self._clock()
        who = self._who.get(token)
        if who is None:
            if len(self._who) >= 64:
                self._who.clear()
            who = self._who[token] = hashlib.blake2b(token.encode(), digest_size=4).hexdigest()
        current = self._idle.get(who)
        if current is None or now - current[1] > IDLE_S:
            sid = f"auto-{who}-{int(now)}"
        else:
            sid = current[0]
        self._idle[who] = (sid, now)
        return sid
