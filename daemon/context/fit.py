"""The chain's side of pruning: a route's ``prune`` setting applied to a request.

``always``: every whole-file tool result of an indexed project above a size is
pruned before the walk. ``fit`` (and ``always``): a target whose context window
cannot hold the request gets it with the oldest whole-file results pruned until
it fits, instead of being skipped. What was pruned goes into the request's
``adapted`` notes (the ``x-detour-adapted`` header) and an ``adapted`` event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from daemon.config import Target
from daemon.context import extract
from daemon.context.index import ProjectIndex
from daemon.context.projects import Projects
from daemon.context.prune import Pruned, Shrink, fits_within, prune
from daemon.context.tokens import count
from daemon.formats.profile import Profile
from daemon.ir import Request
from daemon.routing.adapt import MIN_OUTPUT, TooLong, adapt

ALWAYS_FROM_TOKENS = 2000  # "always" leaves smaller files whole: their outline would save little
SHARE = 5  # a pruned file gets a fifth of what the whole file cost, and at least FLOOR tokens
FLOOR = 400


class Pruning:
    """The chain calls ``always`` for a route whose prune is "always", and ``fit`` for one
    whose prune is not "off"; the route's setting is the chain's to read."""

    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    async def always(self, req: Request, route: str) -> Request:
        """Before the walk, for a route with prune = "always"."""
        if not self.projects.ready():
            return req
        pruned = await asyncio.to_thread(prune, req, self._shrink(ALWAYS_FROM_TOKENS))
        return _noted(pruned)

    async def fit(self, req: Request, target: Target, profile: Profile, route: str) -> Request | None:
        """``req`` pruned and adapted to a target it was too long for; None if it still is not.

        The pruning runs in a worker thread: it takes the index's lock and counts tokens."""
        if not self.projects.ready():
            return None
        if profile.context_window is None:
            return None
        fits = fits_within(profile.context_window - MIN_OUTPUT)
        pruned = await asyncio.to_thread(prune, req, self._shrink(0), fits)
        if not pruned.notes:
            return None
        try:
            fitted = adapt(_noted(pruned), target, profile)
        except TooLong:
            return None
        return fitted

    def _shrink(self, min_tokens: int) -> Shrink:
        def shrink(path: str, text: str) -> str | None:
            """Runs in a worker thread: the index is read under its lock."""
            tokens = count(text)
            if tokens < min_tokens:
                return None
            found = self._owner(path)
            if found is None:
                return None
            index, rel = found
            symbols = index.symbols(rel)
            # A read with an offset or a limit is not the whole file: leave it as the agent asked.
            if symbols is None or text.count("\n") + 1 < symbols.lines - 2:
                return None
            return extract.context(index, rel, max(FLOOR, tokens // SHARE)).text

        return shrink

    def _owner(self, path: str) -> tuple[ProjectIndex, str] | None:
        if Path(path).is_absolute():
            return self.projects.owner(path)
        for index in self.projects.ready():  # a relative path: whichever project has that file
            rel = Path(path).as_posix().removeprefix("./")
            if rel in index.files:
                return index, rel
        return None


def _noted(pruned: Pruned) -> Request:
    if not pruned.notes:
        return pruned.request
    return dataclasses.replace(pruned.request, adapted=[*pruned.request.adapted, *pruned.notes])
