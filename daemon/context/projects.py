"""The daemon's indexed projects: those registered in the config, and no others.

Indexing and every query run in worker threads (parsing in worker processes);
the event loop only awaits them. A project is indexed in the background at
start-up; a request for a project not indexed yet waits for it. A root that is
not registered is refused with the command that registers it: nothing outside
a registered root is ever read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from daemon.context import extract
from daemon.context.files import Rules
from daemon.context.index import ProjectIndex
from daemon.context.pool import ParsePool
from daemon.context.tokens import count
from daemon.context.watch import watch
from daemon.tasks import spawn, stop_all

log = logging.getLogger(__name__)


class UnknownProject(LookupError):
    pass


class BadPath(ValueError):
    """A root or target that names no path at all (empty, a NUL byte, relative, unresolvable)."""


def registered_root(raw: str) -> Path:
    """``raw`` as the absolute, resolved path a registered project would have."""
    expanded = os.path.expanduser(raw)
    if not raw.strip() or "\0" in raw or not os.path.isabs(expanded):
        raise BadPath(f"root must be the absolute path of a registered project, not {raw[:200]!r}")
    try:
        return Path(expanded).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop, a name too long
        raise BadPath(f"root {raw[:200]!r} cannot be resolved: {e}") from None


def _text_only(index: ProjectIndex, rel: str, budget: int) -> extract.Context:
    """A file indexed as text only (its parse failed): its first lines, numbered, within the budget."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(index.lines(rel), 1):
        numbered = f"{i:>6}| {line}"
        used += count(numbered) + 1
        if used > budget:
            break
        out.append(numbered)
    while out and count(text := "\n".join(out)) > budget:
        out.pop()
    text = "\n".join(out)
    return extract.Context(text, count(text), [rel])


def _unregistered(path: Path) -> UnknownProject:
    return UnknownProject(
        f"{path} is not a registered project; register it with `detour context add {shlex.quote(str(path))}`"
    )


@dataclass(slots=True, frozen=True)
class ProjectSpec:
    root: Path
    exclude: tuple[str, ...] = ()


class Projects:
    def __init__(
        self,
        specs: Iterable[ProjectSpec],
        cache_dir: Path | None,
        on_change: Callable[[Path, list[str]], None] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.on_change = on_change
        self._specs = {s.root.expanduser().resolve(): s for s in specs}
        self._ready: dict[Path, asyncio.Future[ProjectIndex]] = {}
        self._indexes: dict[Path, ProjectIndex] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.pool = ParsePool()  # its workers start on the first parse

    @property
    def roots(self) -> list[Path]:
        return list(self._specs)

    def start(self) -> None:
        for root in self._specs:
            self._begin(root)

    def register(self, specs: Iterable[ProjectSpec]) -> None:
        """Projects added to the config while running: indexed and watched from now on."""
        for spec in specs:
            root = spec.root.expanduser().resolve()
            if root not in self._specs:
                self._specs[root] = ProjectSpec(root, spec.exclude)
                self._begin(root)

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.close)  # parses in flight end at once
        await stop_all(self._tasks)
        self._tasks.clear()

    async def get(self, root: str | Path | None) -> ProjectIndex:
        """The index of ``root`` (one registered project when None), indexing it first if new."""
        if root is None:
            if len(self._specs) != 1:
                raise UnknownProject(
                    f"name the project root: {len(self._specs)} projects are registered"
                    + (f" ({', '.join(map(str, self._specs))})" if self._specs else "")
                )
            path = next(iter(self._specs))
        else:
            path = registered_root(str(root))
            if path not in self._specs:
                raise _unregistered(path)
        return await asyncio.shield(self._begin(path))

    def states(self) -> list[dict[str, object]]:
        """Each project's indexing state, for ``/status``: indexing n of m, ready, files skipped and why."""
        out: list[dict[str, object]] = []
        for root in self._specs:
            index = self._indexes.get(root)
            p = index.progress if index is not None else None
            out.append(
                {
                    "root": str(root),
                    "state": p.state if p else "waiting",
                    "files": len(index.files) if index else 0,
                    "parsed": p.done if p else 0,
                    "to_parse": p.total if p else 0,
                    "skipped": index.skipped() if index else {},
                    "error": p.error if p else None,
                }
            )
        return out

    def ready(self) -> list[ProjectIndex]:
        """Projects whose index is built, for callers that cannot wait (pruning in the chain)."""
        return [f.result() for f in self._ready.values() if f.done() and not f.exception()]

    def owner(self, path: str) -> tuple[ProjectIndex, str] | None:
        """The ready project holding an absolute ``path``, and the path relative to it."""
        p = Path(path)
        for index in self.ready():
            if p.is_relative_to(index.root):
                return index, p.relative_to(index.root).as_posix()
        return None

    async def context(self, root: str | None, target: str, budget: int) -> tuple[extract.Context, str | None]:
        """The context, and why its file is shown as text only (None when it is parsed)."""
        index, target = await self._locate(root, target)
        rel = extract.split_target(target)[0]
        entry = index.files.get(rel)
        if entry is not None and entry.symbols is None and entry.note:
            raise extract.TargetNotFound(f"{rel!r} is not indexed: {entry.note}")
        note = index.note(rel)
        if note is not None and not extract.split_target(target)[1]:
            return await asyncio.to_thread(_text_only, index, rel, budget), note
        try:
            found = await asyncio.to_thread(extract.context, index, target, budget)
        except extract.TargetNotFound as e:
            raise extract.TargetNotFound(f"{e.args[0]} ({note})" if note else e.args[0]) from None
        return found, note

    async def outline(self, root: str | None, file: str) -> str:
        index, rel = await self._locate(root, file)
        return await asyncio.to_thread(extract.outline, index, extract.split_target(rel)[0])

    async def find_symbol(self, root: str | None, name: str) -> str:
        index = await self.get(root)
        return await asyncio.to_thread(extract.find_symbol, index, name)

    async def _locate(self, root: str | None, target: str) -> tuple[ProjectIndex, str]:
        """An absolute target path picks its project when no root is given."""
        if "\0" in target:
            raise BadPath("target must be a path, and a path has no NUL byte")
        if root is None and Path(target.partition("::")[0]).is_absolute():
            path = Path(os.path.realpath(target.partition("::")[0]))
            for known in self._specs:
                if path.is_relative_to(known):
                    root = str(known)
                    break
            else:
                raise UnknownProject(
                    f"{path} is in no registered project; register its project with `detour context add ROOT`"
                )
        index = await self.get(root)
        file, sep, symbol = target.partition("::")
        if Path(file).is_absolute():
            resolved = Path(os.path.realpath(file))
            if not resolved.is_relative_to(index.root):
                raise UnknownProject(f"{file} is not inside {index.root}")
            file = resolved.relative_to(index.root).as_posix()
        return index, file + sep + symbol

    def _begin(self, root: Path) -> asyncio.Future[ProjectIndex]:
        found = self._ready.get(root)
        if found is not None and not (found.done() and found.exception()):
            return found
        ready: asyncio.Future[ProjectIndex] = asyncio.get_running_loop().create_future()
        self._ready[root] = ready
        task = spawn(self._run(root, ready), name=f"detour-index-{root}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ready

    async def _run(self, root: Path, ready: asyncio.Future[ProjectIndex]) -> None:
        spec = self._specs[root]
        index = self._indexes[root] = ProjectIndex(root, Rules(root, spec.exclude), self.cache_dir, self.pool)
        try:
            stats = await asyncio.to_thread(index.build)
        except Exception as e:  # an unreadable tree must not take the daemon down
            log.warning("cannot index %s: %s", root, e)
            index.progress.state, index.progress.error = "failed", str(e) or type(e).__name__
            ready.set_exception(UnknownProject(f"cannot index {root}: {e}"))
            ready.exception()  # retrieved: a later request retries
            return
        log.info("indexed %s: %d files (%d parsed) in %.2fs", root, stats.files, stats.parsed, stats.seconds)
        ready.set_result(index)

        def changed(paths: list[str]) -> None:
            if self.on_change is not None:
                self.on_change(root, paths)

        await watch(index, changed)
