"""The daemon's indexed projects: those in the config, and any root a client names.

Indexing and every query run in worker threads; the event loop only awaits
them. A project is indexed in the background at start-up; a request for a root
not indexed yet waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from daemon.context import extract
from daemon.context.files import Rules
from daemon.context.index import ProjectIndex
from daemon.context.watch import watch
from daemon.tasks import spawn, stop_all

log = logging.getLogger(__name__)


class UnknownProject(LookupError):
    pass


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
        self._tasks: set[asyncio.Task[None]] = set()

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
            path = Path(root).expanduser().resolve()
            if not path.is_dir():
                raise UnknownProject(f"{path} is not a directory")
            self._specs.setdefault(path, ProjectSpec(path))
        return await asyncio.shield(self._begin(path))

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

    async def context(self, root: str | None, target: str, budget: int) -> extract.Context:
        index, target = await self._locate(root, target)
        return await asyncio.to_thread(extract.context, index, target, budget)

    async def outline(self, root: str | None, file: str) -> str:
        index, rel = await self._locate(root, file)
        return await asyncio.to_thread(extract.outline, index, extract.split_target(rel)[0])

    async def find_symbol(self, root: str | None, name: str) -> str:
        index = await self.get(root)
        return await asyncio.to_thread(extract.find_symbol, index, name)

    async def _locate(self, root: str | None, target: str) -> tuple[ProjectIndex, str]:
        """An absolute target path picks its project when no root is given."""
        if root is None and Path(target.partition("::")[0]).is_absolute():
            path = Path(target.partition("::")[0]).resolve()
            for known in self._specs:
                if path.is_relative_to(known):
                    root = str(known)
                    break
            else:
                raise UnknownProject(f"{path} is in no registered project; name its root")
        index = await self.get(root)
        file, sep, symbol = target.partition("::")
        if Path(file).is_absolute():
            resolved = Path(file).resolve()
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
        index = ProjectIndex(root, Rules(root, spec.exclude), self.cache_dir)
        try:
            stats = await asyncio.to_thread(index.build)
        except Exception as e:  # an unreadable tree must not take the daemon down
            log.warning("cannot index %s: %s", root, e)
            ready.set_exception(UnknownProject(f"cannot index {root}: {e}"))
            ready.exception()  # retrieved: a later request retries
            return
        log.info("indexed %s: %d files (%d parsed) in %.2fs", root, stats.files, stats.parsed, stats.seconds)
        ready.set_result(index)

        def changed(paths: list[str]) -> None:
            if self.on_change is not None:
                self.on_change(root, paths)

        await watch(index, changed)
