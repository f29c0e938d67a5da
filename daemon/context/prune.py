"""Shrinking a conversation's whole-file tool results to their pruned form. Pure.

An agent reads whole files into the conversation and they stay there, turn
after turn. When a target's context window cannot hold the conversation, the
oldest tool results that are whole files of an indexed project are replaced,
one at a time, by the file's pruned context (its outline and what it uses),
marked so the model knows where the full text is, until the request fits.
The client's request is never changed: changed messages and parts are copies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from daemon.ir import Message, Request, TextPart, ToolCallPart, ToolResultPart
from daemon.ir.tokens import request_tokens

# Argument names agents use for the file a read tool opens (Claude Code, Codex, Roo, Cline, aider).
PATH_ARGUMENTS = ("file_path", "path", "filePath", "absolute_path", "target_file", "file", "filename")
# Shrinks a whole file read from ``path`` whose tool result is ``text``; None when it is not one.
Shrink = Callable[[str, str], str | None]


@dataclass(slots=True, frozen=True)
class Pruned:
    request: Request
    notes: list[str]  # one per tool result replaced: "pruned PATH (N lines)"


def marker(lines: int, path: str) -> str:
    return f"[detour: pruned from {lines} lines; full text at {path}]"


def prune(req: Request, shrink: Shrink, fits: Callable[[Request], bool] | None = None) -> Pruned:
    """Replaces whole-file tool results, oldest first, until ``fits`` says the request fits;
    with ``fits`` None, every one that ``shrink`` accepts."""
    if fits is not None and fits(req):
        return Pruned(req, [])
    paths = _read_paths(req)
    messages = list(req.messages)
    notes: list[str] = []
    current = req
    for m, message in enumerate(req.messages):
        for p, part in enumerate(message.parts):
            if not isinstance(part, ToolResultPart) or part.call_id not in paths or part.is_error:
                continue
            text = "".join(c.text for c in part.content if isinstance(c, TextPart))
            if len(part.content) != 1 or not text:
                continue  # images, or several blocks: not a file read
            path = paths[part.call_id]
            short = shrink(path, text)
            if short is None or len(short) >= len(text):
                continue  # not an indexed whole file, or one too small to gain from its outline
            lines = text.count("\n") + 1
            replaced = dataclasses.replace(part, content=[TextPart(f"{marker(lines, path)}\n{short}")])
            parts = list(messages[m].parts)
            parts[p] = replaced
            messages[m] = Message(message.role, parts)
            notes.append(f"pruned {path} ({lines} lines)")
            current = dataclasses.replace(req, messages=list(messages))
            if fits is not None and fits(current):
                return Pruned(current, notes)
    return Pruned(current, notes)


def fits_within(limit: int) -> Callable[[Request], bool]:
    """The chain's own conservative count, so a request that fits here fits there."""
    return lambda r: request_tokens(r) <= limit


def _read_paths(req: Request) -> dict[str, str]:
    """Tool call id -> the file path it named, for every call with one."""
    found: dict[str, str] = {}
    for message in req.messages:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                try:
                    args = orjson.loads(part.arguments or "{}")
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(args, dict):
                    continue
                path = next((args[k] for k in PATH_ARGUMENTS if isinstance(args.get(k), str)), None)
                if path:
                    found[part.id] = path
    return found
