"""Tool-call ids that hold each provider's pattern, mapped deterministically.

The same function is applied to a call's id and to its result's ``call_id``, so
pairs stay paired without any state, and a client's ids that already fit go
through untouched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# Outside what Anthropic's ids and tool names and OpenAI's function and schema names take.
NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_-]")
OPENAI_MAX_ID = 40
_MADE_UP = re.compile(r"call_[0-9a-f]{20}_\d+")  # what `synthesize` writes


def _digest(text: str, n: int) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:n]


def for_anthropic(call_id: str) -> str:
    """Anthropic wants ``^[a-zA-Z0-9_-]+$``; a hash suffix keeps two ids that differ
    only in replaced characters apart."""
    if call_id and not NOT_NAME_CHAR.search(call_id):
        return call_id
    return (NOT_NAME_CHAR.sub("_", call_id) or "toolu") + "_" + _digest(call_id, 8)


def for_openai(call_id: str) -> str:
    """OpenAI has enforced at most 40 characters."""
    if call_id and len(call_id) <= OPENAI_MAX_ID:
        return call_id
    return "call_" + _digest(call_id, 32)


def synthesize(seed: str, index: int) -> str:
    """A stable id for a call that came without one (Gemini), valid everywhere."""
    return f"call_{_digest(seed, 20)}_{index}"


def made_up_id(call_id: str) -> bool:
    """Whether detour synthesized this id (``synthesize``) for a call that came without one."""
    return _MADE_UP.fullmatch(call_id) is not None


def fit_name(name: str, limit: int) -> str:
    """A tool name that matches ``^[a-zA-Z0-9_-]{1,limit}$`` (Anthropic 128, OpenAI 64); Gemini's
    may hold ``.`` and ``:``, MCP names run long. Deterministic, with a hash so two names that
    differ only in replaced or cut characters stay apart; ``renamed`` maps answers back."""
    if 1 <= len(name) <= limit and not NOT_NAME_CHAR.search(name):
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"{NOT_NAME_CHAR.sub('_', name)[: limit - 9]}_{digest}"


def renamed(names: Iterable[str], limit: int) -> dict[str, str]:
    """Fitted name -> the name the client gave, for the names ``fit_name`` changed."""
    return {fit_name(n, limit): n for n in names if fit_name(n, limit) != n}
