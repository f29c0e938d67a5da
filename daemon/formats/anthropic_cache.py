"""Prompt-cache breakpoints on an encoded Anthropic Messages body.

OpenAI and Gemini cache a repeated prompt prefix on their own; Anthropic caches
only up to the blocks a request marks with ``cache_control``, at most 4 of them
(a fifth is a 400), reading its prefix in the order tools, system, messages. So a
client that fails over to Anthropic mid-loop pays the full input price every turn
unless its markers survive the translation, or detour places some:

- ``client``: the client's markers are kept, the last 4 of them when it sent more
  (a later breakpoint covers more of the prefix; the earlier ones are cut);
- ``auto``: the same, and when the client sent none, markers go on the last tool or
  system block (what every turn shares) and on the last block of the last two user
  messages: this turn writes the conversation so far at its end, and the next turn
  finds it again at its second-to-last user message (the API looks back only 20
  blocks from a breakpoint, and an agent's tool loop can add more than that);
  a breakpoint whose prefix is shorter than the model's minimum cacheable length is
  not placed, since the API would cache nothing there;
- ``off``: every marker is stripped.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

import orjson

from daemon.ir import PromptCache

MAX_BREAKPOINTS: Final = 4
EPHEMERAL: Final = {"type": "ephemeral"}
# Minimum cacheable length when the profile names none (Sonnet's, the lowest in use).
DEFAULT_MIN_TOKENS: Final = 1024
# About 4 characters a token for English, code and JSON: a fair estimate, not a bound.
CHARS_PER_TOKEN: Final = 4
_CANNOT_MARK: Final = frozenset({"thinking", "redacted_thinking"})

Block = dict[str, Any]


def place(body: dict[str, Any], mode: PromptCache, min_tokens: int | None) -> None:
    """Fit the body's breakpoints to ``mode``, in place (before content is compacted to strings)."""
    blocks = _prefix(body)
    marked = [b for b in _with_nested(blocks) if "cache_control" in b]
    match mode:
        case "off":
            for b in marked:
                del b["cache_control"]
        case "client" | "auto":
            for b in marked[:-MAX_BREAKPOINTS]:
                del b["cache_control"]
            if mode == "auto" and not marked:
                _place_auto(blocks, min_tokens or DEFAULT_MIN_TOKENS)
        case _:
            assert_never(mode)


def _prefix(body: dict[str, Any]) -> list[tuple[str, Block]]:
    """Every top-level block in the order the API caches them, with where it sits."""
    out: list[tuple[str, Block]] = [("tools", t) for t in body.get("tools", ())]
    system = body.get("system")
    if isinstance(system, list):
        out += [("system", b) for b in system]
    for msg in body["messages"]:
        content = msg["content"]
        if isinstance(content, list):
            out += [(msg["role"], b) for b in content]
    return out


def _with_nested(blocks: list[tuple[str, Block]]) -> list[Block]:
    """Blocks and the blocks inside tool results, in order: markers in either count."""
    out: list[Block] = []
    for _, b in blocks:
        inner = b.get("content") if b.get("type") == "tool_result" else None
        if isinstance(inner, list):
            out += [c for c in inner if isinstance(c, dict)]
        out.append(b)
    return out


def _place_auto(blocks: list[tuple[str, Block]], min_tokens: int) -> None:
    wanted: list[int] = []
    shared = [i for i, (where, _) in enumerate(blocks) if where in ("tools", "system")]
    if shared:
        wanted.append(shared[-1])
    # The last markable block of each of the last two user messages: a user message's blocks
    # are contiguous, so its last one is where the next message starts, less one.
    ends = [
        i
        for i, (where, b) in enumerate(blocks)
        if where == "user"
        and (i + 1 == len(blocks) or blocks[i + 1][0] != "user")
        and b.get("type") not in _CANNOT_MARK
    ]
    wanted += ends[-2:]
    if not wanted:
        return
    chars, marks = 0, set(wanted)
    for i, (_, b) in enumerate(blocks[: max(wanted) + 1]):
        chars += len(orjson.dumps(b))
        if i in marks and chars // CHARS_PER_TOKEN >= min_tokens:
            b["cache_control"] = dict(EPHEMERAL)
