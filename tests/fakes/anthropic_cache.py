"""Anthropic's prompt cache as the fake bills it: prefixes up to each breakpoint."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_BREAKPOINTS = 4
CHARS_PER_TOKEN = 4
LOOKBACK = 20  # blocks before a breakpoint the API checks for a cached prefix


def prompt_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level blocks in the order the cache reads them: tools, system, messages."""
    blocks = list(body.get("tools") or [])
    system = body.get("system")
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for m in body["messages"]:
        content = m["content"]
        blocks += [{"type": "text", "text": content}] if isinstance(content, str) else content
    return blocks


def breakpoints(body: dict[str, Any]) -> list[int]:
    """Indexes into ``prompt_blocks`` of the blocks marked ``cache_control`` (or holding one)."""
    marked = []
    for i, b in enumerate(prompt_blocks(body)):
        inner = b.get("content") if b.get("type") == "tool_result" else None
        nested = [c for c in inner if "cache_control" in c] if isinstance(inner, list) else []
        marked += [i] * (len(nested) + ("cache_control" in b))
    return marked


class PromptCache:
    """Anthropic's prompt cache, per model: the prefixes up to each breakpoint a request
    marked (of at least ``min_tokens``), at 4 characters a token. A request reads the
    longest stored prefix ending at a breakpoint or up to 20 blocks before one, and
    writes the rest up to its last breakpoint."""

    def __init__(self, min_tokens: int = 1024) -> None:
        self.min_tokens = min_tokens
        self.prefixes: set[tuple[str, str]] = set()
        self.log: list[tuple[int, int, int]] = []  # (prompt, read, written) per request

    def bill(self, body: dict[str, Any]) -> tuple[int, int, int]:
        blocks = prompt_blocks(body)
        keys, ends, chars, digest = [], [], 0, hashlib.sha256(body["model"].encode())
        for b in blocks:
            plain = {k: v for k, v in b.items() if k != "cache_control"}
            text = json.dumps(plain, sort_keys=True)
            digest.update(text.encode())
            keys.append((body["model"], digest.hexdigest()))
            chars += len(text)
            ends.append(chars // CHARS_PER_TOKEN)
        prompt = max(1, chars // CHARS_PER_TOKEN)
        marks = sorted(set(breakpoints(body)))
        read = 0
        for m in marks:
            for i in range(m, max(-1, m - LOOKBACK - 1), -1):
                if keys[i] in self.prefixes:
                    read = max(read, ends[i])
                    break
        written = 0
        for m in marks:
            if ends[m] >= self.min_tokens:
                self.prefixes.add(keys[m])
                written = max(written, ends[m] - read)
        self.log.append((prompt, read, written))
        return prompt, read, written
