"""Keeping a project's index fresh with watchfiles.

Only the plan's roots are watched (``files.WatchPlan``): clean subtrees
recursively, directories with an excluded child flat. A new or removed
directory, or a changed ``.gitignore``, re-walks the project (unchanged files
come from the index, by mtime and size) and restarts the watch with the new
plan; any other change re-reads just the files named. Atomic saves (write a
temporary file, rename it over the original) arrive as an add of the target
path, which is re-read like any change.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import watchfiles

from daemon.context.index import ProjectIndex
from daemon.tasks import spawn, stop_all

log = logging.getLogger(__name__)
DEBOUNCE_MS = 30  # saves show up in the next query well within a second
SETTLE_S = 0.1  # for new OS watches to exist before the old ones are dropped


async def watch(index: ProjectIndex, on_change: Callable[[list[str]], None] | None = None) -> None:
    """Runs until cancelled."""
    changes: asyncio.Queue[set[tuple[watchfiles.Change, str]]] = asyncio.Queue()
    feeds = _start(index, changes)
    try:
        while True:
            batch = await changes.get()
            while not changes.empty():
                batch |= changes.get_nowait()
            if await _apply(index, batch, on_change):
                # The plan changed: the new watches are up before the old ones go, and a walk
                # after the switch catches whatever changed in between.
                old, feeds = feeds, _start(index, changes)
                await asyncio.sleep(SETTLE_S)
                await _stop(old)
                await _apply(index, set(), on_change, rewalk=True)
    finally:
        await _stop(feeds)


Feeds = tuple[asyncio.Event, list[asyncio.Task[None]]]


def _start(index: ProjectIndex, out: asyncio.Queue[set[tuple[watchfiles.Change, str]]]) -> Feeds:
    stop = asyncio.Event()
    plan = index.plan
    tasks = [
        spawn(_feed(paths, recursive, stop, out), name=f"detour-watch-{index.root}")
        for paths, recursive in ((plan.recursive, True), (plan.flat, False))
        if paths
    ]
    return stop, tasks


async def _stop(feeds: Feeds) -> None:
    stop, tasks = feeds
    stop.set()
    await stop_all(tasks)


async def _feed(
    paths: list[Path],
    recursive: bool,
    stop: asyncio.Event,
    out: asyncio.Queue[set[tuple[watchfiles.Change, str]]],
) -> None:
    stream: AsyncIterator[set[tuple[watchfiles.Change, str]]] = watchfiles.awatch(
        *paths, watch_filter=None, debounce=DEBOUNCE_MS, step=10, stop_event=stop, recursive=recursive
    )
    async for batch in stream:
        out.put_nowait(batch)


async def _apply(
    index: ProjectIndex,
    batch: set[tuple[watchfiles.Change, str]],
    on_change: Callable[[list[str]], None] | None,
    rewalk: bool = False,
) -> bool:
    """Brings the index up to date with one batch of events; True when the walk was redone."""
    root = str(index.root)
    rels: set[str] = set()
    for change, raw in batch:
        rel = os.path.relpath(raw, root).replace(os.sep, "/")
        if rel.startswith(".."):
            continue
        name = rel.rpartition("/")[2]
        if name == ".gitignore" or os.path.isdir(raw):
            rewalk = True
        elif change == watchfiles.Change.deleted and rel not in index.files:
            # A removed or renamed directory: any indexed file under it.
            rewalk = rewalk or any(f.startswith(rel + "/") for f in index.files)
        else:
            rels.add(rel)
    if rewalk:
        index.rules.forget_gitignores()
        before = set(index.files)
        await asyncio.to_thread(index.build)
        changed = sorted(before ^ set(index.files) | rels)
    else:
        changed = await asyncio.to_thread(index.update, rels) if rels else []
    if changed:
        await asyncio.to_thread(index.save_cache)
        if on_change is not None:
            on_change(changed)
    return rewalk
