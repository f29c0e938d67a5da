"""Tool-call ids that hold each provider's pattern, mapped deterministically.

The same function is applied to a call's id and to its result's ``call_id``, so
pairs stay paired without any state, and a client's ids that already fit go
through untouched.
"""

from __future__ import annotations

import hashlib
import re

_ANTHROPIC_BAD = re.compile(r"[^A-Za-z0-9_-]")
OPENAI_MAX_ID = 40


def _digest(text: str, n: int) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:n]


def for_anthropic(call_id: str) -> str:
    """Anthropic wants ``^[a-zA-Z0-9_-]+$``; a hash suffix keeps two ids that differ
    only in replaced characters apart."""
    if call_id and not _ANTHROPIC_BAD.search(call_id):
        return call_id
    return (_ANTHROPIC_BAD.sub("_", call_id) or "toolu") + "_" + _digest(call_id, 8)


def for_openai(call_id: str) -> str:
    """OpenAI has enforced at most 40 characters."""
    if call_id and len(call_id) <= OPENAI_MAX_ID:
        return call_id
    return "call_" + _digest(call_id, 32)


def synthesize(seed: str, index: int) -> str:
    """A stable id for a call that came without one (Gemini), valid everywhere."""
    return f"call_{_digest(seed, 20)}_{index}"
