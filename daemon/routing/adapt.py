"""Fitting a request to the model that will serve it.

The request the client sent stays as it was (the next model in the chain
needs it whole); each target gets a shallow copy with:

- ``max_tokens`` clamped to the model's maximum output, and to what its
  context window leaves after the prompt;
- the model skipped (``TooLong``) when its window cannot hold the prompt,
  counted conservatively (``ir.tokens``);
- sampling parameters the model rejects dropped (OpenAI reasoning models take
  no temperature/top_p; OpenAI takes no top_k; o3 and o4-mini take no stop);
- reasoning settings dropped for an OpenAI model without reasoning that the
  chain chose (a Chat client that names such a model itself keeps what it sent);
- a Gemini ``cachedContent`` dropped for a model that cannot read it, and the
  client told so (``x-detour-adapted``): the answer lacks what it held.

What a model takes is its ``Profile`` (``daemon.providers.profiles``), looked up
once per target by the chain.

A JSON answer is asked for the way each target can give it by ``routing.structured``,
which the chain applies first.

A client's built-in tools (Responses ``web_search``, ``file_search``) are each format
encoder's to map or leave out; ``builtin_notes`` says what became of them at a target.

Wire-level renames (``max_completion_tokens``, Anthropic's single sampling
parameter, thinking without signed history) are each format encoder's job.
Every change is logged at debug level with the target it was made for.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Final, Protocol

from daemon.config import Target
from daemon.formats.openai_responses import WEB_SEARCH
from daemon.formats.profile import Profile
from daemon.ir import Request
from daemon.ir.tokens import request_tokens

log = logging.getLogger(__name__)

MIN_OUTPUT = 256  # below this an answer is useless: skip the model rather than clamp
_SAMPLING = ("temperature", "top_p", "top_k")


# The formats whose providers run a Responses web_search themselves, and as what.
SEARCHES: Final = {
    "anthropic": "Anthropic's web search tool",
    "gemini": "Google Search grounding",
    "openai_responses": "OpenAI's web_search",
}


class TooLong(Exception):
    pass


class Pruner(Protocol):
    """A route's ``prune`` setting (``context.fit``, a layer above): whole-file tool results
    shrunk to their pruned form, where ``adapt`` alone finds the request too long."""

    async def always(self, req: Request, route: str) -> Request:
        """Before the walk, for a route with ``prune = "always"``."""
        ...

    async def fit(self, req: Request, target: Target, profile: Profile, route: str) -> Request | None:
        """``req`` pruned and fitted to a target it was too long for; None if it still is not."""
        ...


def builtin_notes(req: Request, served_format: str) -> list[str]:
    """What became of the client's built-in tools at a target of ``served_format``."""
    notes: list[str] = []
    for kind in dict.fromkeys(req.builtin_tools):
        if kind in WEB_SEARCH and served_format in SEARCHES:
            notes.append(f"{kind} ran as {SEARCHES[served_format]}")
        else:
            notes.append(f"removed built-in tool {kind}")
    return notes


def adapt(req: Request, target: Target, profile: Profile, prompt: int | None = None) -> Request:
    """``req`` fitted to the target's profile; ``prompt`` is its token count, if already counted."""
    changes: dict[str, object] = {}
    max_tokens = req.max_tokens
    if profile.max_output is not None and max_tokens is not None and max_tokens > profile.max_output:
        max_tokens = profile.max_output
    if profile.context_window is not None:
        if prompt is None:
            prompt = request_tokens(req)
        room = profile.context_window - prompt
        if room < MIN_OUTPUT:
            raise TooLong(
                f"the prompt (about {prompt} tokens, counted conservatively) does not fit "
                f"{target.model}'s {profile.context_window}-token context window"
            )
        if max_tokens is not None and max_tokens > room:
            max_tokens = room
    if max_tokens != req.max_tokens:
        changes["max_tokens"] = max_tokens
    for param in _SAMPLING:
        if param not in profile.params and getattr(req, param) is not None:
            changes[param] = None
    if req.stop and "stop" not in profile.params:
        changes["stop"] = []
    if req.reasoning is not None and req.model != target.model and "reasoning" not in profile.params:
        changes["reasoning"] = None  # a model the client named keeps what the client sent for it
    if req.cached_content and not profile.cached_content:
        changes["cached_content"] = None
        changes["adapted"] = [
            *req.adapted,
            f"removed cachedContent {req.cached_content} (only Gemini reads it, not {target.model})",
        ]
    if not changes:
        return req
    if log.isEnabledFor(logging.DEBUG):
        log.debug("adapted request for %s: %s", target, changes)
    return dataclasses.replace(req, **changes)  # type: ignore[arg-type]
