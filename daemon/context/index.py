"""Tier 2: one project's parsed files, its symbol graph, and their on-disk cache.

Every method here blocks (file IO, parsing): the daemon calls them in worker
threads (``projects``), and a cold index of many files parses in a process
pool so that the event loop's thread keeps the GIL to itself while it runs.
All state changes and reads go through ``lock``.

The cache is keyed by path, mtime, size and content hash: a file whose mtime
and size match is trusted; one whose mtime moved but whose bytes hash the same
(a checkout, a touch) is not parsed again.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from daemon import private
from daemon.context.files import Rules, WatchPlan, is_binary, is_minified
from daemon.context.languages import EXTENSIONS
from daemon.context.parse import Definition, FileSymbols, parse_source

log = logging.getLogger(__name__)
CACHE_VERSION = 2
POOL_FROM = 1500  # files to parse before a process pool beats its start-up (spawning costs ~1 s a worker)
AMBIGUOUS = 12  # a name defined in more places than this says nothing about which one is meant


@dataclass(slots=True)
class IndexedFile:
    mtime_ns: int
    size: int
    digest: str
    symbols: FileSymbols | None  # None: binary, minified or unreadable; skipped until it changes


@dataclass(slots=True, frozen=True)
class Ref:
    """One definition: the file it is in and its position in that file's list."""

    path: str
    at: int


@dataclass(slots=True)
class BuildStats:
    files: int = 0
    parsed: int = 0
    seconds: float = 0.0


def read_and_parse(root: str, rel: str, known_digest: str | None = None) -> IndexedFile | None:
    """The file's index entry; None if it vanished. Module-level so a process pool can run it."""
    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            source = f.read()
    except OSError:
        return None
    digest = hashlib.blake2b(source, digest_size=16).hexdigest()
    if digest == known_digest:
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, None)  # caller keeps its symbols
    if is_binary(source) or is_minified(source):
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, None)
    language = EXTENSIONS[os.path.splitext(rel)[1]]
    return IndexedFile(st.st_mtime_ns, st.st_size, digest, parse_source(source, language, rel))


def _parse_many(root: str, rels: list[str]) -> list[tuple[str, IndexedFile | None]]:
    return [(rel, read_and_parse(root, rel)) for rel in rels]


class ProjectIndex:
    def __init__(self, root: Path, rules: Rules | None = None, cache_dir: Path | None = None) -> None:
        self.root = root.resolve()
        self.rules = rules or Rules(self.root)
        self.cache_path = (
            cache_dir / f"{hashlib.blake2b(str(self.root).encode(), digest_size=8).hexdigest()}.json"
            if cache_dir
            else None
        )
        self.lock = threading.RLock()
        self.files: dict[str, IndexedFile] = {}
        self.plan = WatchPlan()
        self._by_name: dict[str, list[Ref]] = defaultdict(list)
        self._modules: dict[str, str] = {}  # module key (path stem) -> file

    # -- building and updating ------------------------------------------------

    def build(self) -> BuildStats:
        started = time.perf_counter()
        found, plan = self.rules.walk()
        cached = self._load_cache()
        files: dict[str, IndexedFile] = {}
        todo: list[str] = []
        for rel, st in found.items():
            old = cached.get(rel)
            if old is not None and old.mtime_ns == st.st_mtime_ns and old.size == st.st_size:
                files[rel] = old
            else:
                todo.append(rel)
        for rel, entry in self._parse(todo, cached):
            if entry is not None:
                files[rel] = entry
        with self.lock:
            self.files = files
            self.plan = plan
            self._rebuild_maps()
        if todo or len(cached) != len(files):
            self.save_cache()
        return BuildStats(len(files), len(todo), time.perf_counter() - started)

    def _parse(self, todo: list[str], cached: dict[str, IndexedFile]) -> list[tuple[str, IndexedFile | None]]:
        root = str(self.root)
        if len(todo) < POOL_FROM:
            return [(rel, self._reparse(rel, cached.get(rel))) for rel in todo]
        workers = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))
        chunks = [todo[i::workers] for i in range(workers)]
        # spawn, not fork: the daemon has threads, and a forked child may inherit a held lock.
        context = multiprocessing.get_context("spawn")
        try:
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                return [r for part in pool.map(_parse_many, [root] * workers, chunks) for r in part]
        except (concurrent.futures.process.BrokenProcessPool, OSError) as e:
            # No processes to be had (a sandbox, a frozen app without a guarded main): in this thread.
            log.warning("parsing %s in one thread: the process pool failed (%s)", self.root, e)
            return [(rel, self._reparse(rel, cached.get(rel))) for rel in todo]

    def _reparse(self, rel: str, old: IndexedFile | None) -> IndexedFile | None:
        entry = read_and_parse(str(self.root), rel, old.digest if old else None)
        if entry is not None and old is not None and entry.digest == old.digest:
            entry.symbols = old.symbols
        return entry

    def update(self, rels: set[str]) -> list[str]:
        """Re-read the named files (changed, added or deleted); returns those that changed."""
        changed: list[str] = []
        for rel in sorted(rels):
            if not (self.root / rel).is_file() or not self.rules.indexable(rel):
                with self.lock:
                    if self.files.pop(rel, None) is not None:
                        changed.append(rel)
                continue
            with self.lock:
                old = self.files.get(rel)
            entry = self._reparse(rel, old)
            with self.lock:
                if entry is None:
                    if self.files.pop(rel, None) is not None:
                        changed.append(rel)
                elif old is None or entry.digest != old.digest or entry.mtime_ns != old.mtime_ns:
                    self.files[rel] = entry
                    changed.append(rel)
        if changed:
            with self.lock:
                self._rebuild_maps()
        return changed

    def _rebuild_maps(self) -> None:
        by_name: dict[str, list[Ref]] = defaultdict(list)
        modules: dict[str, str] = {}
        for rel, entry in self.files.items():
            stem = os.path.splitext(rel)[0]
            modules[stem] = rel
            if stem.endswith(("/__init__", "/index", "/mod")):
                modules[stem.rpartition("/")[0]] = rel
            if entry.symbols is None:
                continue
            for i, d in enumerate(entry.symbols.definitions):
                by_name[d.name].append(Ref(rel, i))
        self._by_name, self._modules = by_name, modules

    # -- reading ----------------------------------------------------------------

    def definition(self, ref: Ref) -> Definition:
        symbols = self.files[ref.path].symbols
        assert symbols is not None
        return symbols.definitions[ref.at]

    def symbols(self, rel: str) -> FileSymbols | None:
        entry = self.files.get(rel)
        return entry.symbols if entry else None

    def named(self, name: str) -> list[Ref]:
        return list(self._by_name.get(name, ()))

    def module_file(self, key: str) -> str | None:
        """A module key to its file, allowing a source layout prefix (``src/``)."""
        found = self._modules.get(key)
        if found is None and key:
            found = next((f for k, f in self._modules.items() if k.endswith("/" + key)), None)
        return found

    def resolve(self, rel: str, name: str) -> list[tuple[Ref, float]]:
        """What ``name`` mentioned in file ``rel`` most likely means, each with a weight."""
        symbols = self.symbols(rel)
        if symbols is not None and name in symbols.imports:
            key, member = symbols.imports[name]
            target = self.module_file(key)
            if target is not None and member:
                refs = [r for r in self._by_name.get(member, ()) if r.path == target]
                if refs:
                    return [(r, 1.0) for r in refs]
            return []  # imported from outside the project: not something the index holds
        candidates = self._by_name.get(name, ())
        local = [r for r in candidates if r.path == rel]
        if local:
            return [(r, 1.0) for r in local]
        if not candidates or len(candidates) > AMBIGUOUS:
            return []
        weight = 1.0 / len(candidates)
        return [(r, weight) for r in candidates]

    # -- the disk cache -----------------------------------------------------------

    def save_cache(self) -> None:
        if self.cache_path is None:
            return
        with self.lock:
            data = {
                "version": CACHE_VERSION,
                "root": str(self.root),
                "files": {
                    rel: [e.mtime_ns, e.size, e.digest, asdict(e.symbols) if e.symbols else None]
                    for rel, e in self.files.items()
                },
            }
        tmp = self.cache_path.with_suffix(".tmp")
        private.write_bytes(tmp, orjson.dumps(data))
        os.replace(tmp, self.cache_path)

    def _load_cache(self) -> dict[str, IndexedFile]:
        if self.cache_path is None:
            return {}
        try:
            data = orjson.loads(self.cache_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        if data.get("version") != CACHE_VERSION or data.get("root") != str(self.root):
            return {}
        out: dict[str, IndexedFile] = {}
        try:
            for rel, (mtime_ns, size, digest, raw) in data["files"].items():
                symbols = None
                if raw is not None:
                    defs = [
                        Definition(**{**d, "doc_lines": tuple(d["doc_lines"]) if d["doc_lines"] else None})
                        for d in raw.pop("definitions")
                    ]
                    imports = {k: (v[0], v[1]) for k, v in raw.pop("imports").items()}
                    symbols = FileSymbols(definitions=defs, imports=imports, **raw)
                out[rel] = IndexedFile(mtime_ns, size, digest, symbols)
        except (TypeError, ValueError, KeyError):
            log.warning("context cache %s is unreadable; reindexing", self.cache_path)
            return {}
        return out
