"""Tier 2: one project's parsed files, its symbol graph, and their on-disk cache.

Every method here blocks (file IO, waiting on parses): the daemon calls them in
worker threads (``projects``). Files are read and parsed in worker processes
(``pool``), under a time limit, so the daemon's process never runs tree-sitter.
All state changes and reads go through ``lock``.

Nothing outside the root is read: a path is opened only if no part of it below
the root is a symbolic link, and never past the size limit.

The cache is keyed by path, mtime, size and content hash: a file whose mtime
and size match is trusted; one whose mtime moved but whose bytes hash the same
(a checkout, a touch) is not parsed again.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from daemon import private
from daemon.context.files import MAX_FILE_BYTES, Rules, WatchPlan, inside, is_binary, is_minified, open_inside
from daemon.context.languages import EXTENSIONS
from daemon.context.parse import Definition, FileSymbols, parse_source
from daemon.context.pool import Failed, ParsePool, shared

log = logging.getLogger(__name__)
CACHE_VERSION = 3
AMBIGUOUS = 12  # a name defined in more places than this says nothing about which one is meant
TEXT_ONLY = "indexed as text only"


@dataclass(slots=True)
class IndexedFile:
    mtime_ns: int
    size: int
    digest: str
    symbols: FileSymbols | None  # None: skipped (``note`` says why) until it changes
    # Why it is skipped, or why it is text only (symbols without definitions); None when parsed.
    note: str | None = None
    # Its line of the on-disk cache, made with it (in the parse worker); None when it changed since.
    line: bytes | None = field(default=None, compare=False, repr=False)


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


@dataclass(slots=True)
class Progress:
    """Where indexing stands, for ``/status`` and ``detour context add``."""

    state: str = "waiting"  # waiting | indexing | ready | failed
    done: int = 0  # files parsed of ``total`` in this pass
    total: int = 0
    error: str | None = None


def too_large(max_bytes: int) -> str:
    return f"larger than {max_bytes // 1024} KiB"


def cache_line(rel: str, e: IndexedFile) -> bytes:
    if e.line is None:
        e.line = orjson.dumps(
            [rel, e.mtime_ns, e.size, e.digest, asdict(e.symbols) if e.symbols else None, e.note]
        )
    return e.line


def read_and_parse(
    root: str, rel: str, known_digest: str | None = None, max_bytes: int = MAX_FILE_BYTES, parse: bool = True
) -> IndexedFile | None:
    """The file's index entry with its cache line; None if it vanished. Runs in a parse worker
    (``pool``); ``parse=False`` makes the text-only entry of a file whose parse failed."""
    entry = _read_and_parse(root, rel, known_digest, max_bytes, parse)
    if entry is not None:
        cache_line(rel, entry)
    return entry


def _read_and_parse(
    root: str, rel: str, known_digest: str | None, max_bytes: int, parse: bool
) -> IndexedFile | None:
    try:
        opened = open_inside(root, rel, max_bytes)
    except OSError:
        return None
    if opened is None:
        return None
    st, source = opened
    if source is None:
        return IndexedFile(st.st_mtime_ns, st.st_size, "", None, too_large(max_bytes))
    digest = hashlib.blake2b(source, digest_size=16).hexdigest()
    if digest == known_digest:
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, None)  # caller keeps its symbols
    if is_binary(source):
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, None, "binary")
    if is_minified(source):
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, None, "minified or generated")
    language = EXTENSIONS[os.path.splitext(rel)[1]]
    if not parse:
        lines = source.count(b"\n") + 1
        return IndexedFile(st.st_mtime_ns, st.st_size, digest, FileSymbols(language, lines, [], {}, False))
    return IndexedFile(st.st_mtime_ns, st.st_size, digest, parse_source(source, language, rel))


class ProjectIndex:
    def __init__(
        self,
        root: Path,
        rules: Rules | None = None,
        cache_dir: Path | None = None,
        pool: ParsePool | None = None,
    ) -> None:
        self.root = root.resolve()
        self.rules = rules or Rules(self.root)
        self.pool = pool or shared()
        self.cache_path = (
            cache_dir / f"{hashlib.blake2b(str(self.root).encode(), digest_size=8).hexdigest()}.json"
            if cache_dir
            else None
        )
        self.lock = threading.RLock()
        self.files: dict[str, IndexedFile] = {}
        self.plan = WatchPlan()
        self.progress = Progress()
        self._by_name: dict[str, list[Ref]] = defaultdict(list)
        self._modules: dict[str, str] = {}  # module key (path stem) -> file

    # -- building and updating ------------------------------------------------

    def build(self) -> BuildStats:
        started = time.perf_counter()
        if self.progress.state != "ready":
            self.progress.state = "indexing"
        found, plan = self.rules.walk()
        with self.lock:
            cached = dict(self.files)
        cached = cached or self._load_cache()
        files: dict[str, IndexedFile] = {}
        todo: list[str] = []
        for rel, st in found.items():
            old = cached.get(rel)
            if old is not None and old.mtime_ns == st.st_mtime_ns and old.size == st.st_size:
                files[rel] = old
            elif st.st_size > self.rules.max_bytes:  # not even read
                files[rel] = IndexedFile(
                    st.st_mtime_ns, st.st_size, "", None, too_large(self.rules.max_bytes)
                )
            else:
                todo.append(rel)
        self.progress.done, self.progress.total = 0, len(todo)
        with concurrent.futures.ThreadPoolExecutor(self.pool.workers, "detour-parse") as threads:
            entries = threads.map(lambda rel: self._reparse(rel, cached.get(rel)), todo)
            for rel, entry in zip(todo, entries, strict=True):
                self.progress.done += 1
                if entry is not None:
                    files[rel] = entry
        with self.lock:
            self.files = files
            self.plan = plan
            self._rebuild_maps()
        if todo or len(cached) != len(files):
            self.save_cache()
        self.progress.state = "ready"
        return BuildStats(len(files), len(todo), time.perf_counter() - started)

    def _reparse(self, rel: str, old: IndexedFile | None) -> IndexedFile | None:
        root, max_bytes = str(self.root), self.rules.max_bytes
        answer = self.pool.run((root, rel, old.digest if old else None, max_bytes))
        if isinstance(answer, Failed):
            log.warning("%s/%s: %s; %s", root, rel, answer.reason, TEXT_ONLY)
            entry = read_and_parse(root, rel, None, max_bytes, parse=False)  # reads and hashes only
            if entry is not None and entry.symbols is not None:
                entry.note, entry.line = f"{answer.reason}: {TEXT_ONLY}", None
            return entry
        assert answer is None or isinstance(answer, IndexedFile)
        if answer is not None and old is not None and answer.digest == old.digest:
            answer.symbols, answer.note, answer.line = old.symbols, old.note, None
        return answer

    def update(self, rels: set[str]) -> list[str]:
        """Re-read the named files (changed, added or deleted); returns those that changed."""
        changed: list[str] = []
        for rel in sorted(rels):
            if not self.rules.indexable(rel) or not inside(str(self.root), rel):
                with self.lock:
                    if self.files.pop(rel, None) is not None:
                        changed.append(rel)
                continue
            with self.lock:
                old = self.files.get(rel)
            entry = self._reparse(rel, old)  # None: gone, or no longer a regular file inside the root
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

    def note(self, rel: str) -> str | None:
        """Why a file is skipped or text only; None when it is parsed (or not indexed)."""
        entry = self.files.get(rel)
        return entry.note if entry else None

    def skipped(self) -> dict[str, int]:
        """How many files are skipped or text only, by reason."""
        with self.lock:
            return dict(Counter(e.note for e in self.files.values() if e.note))

    def lines(self, rel: str) -> list[str]:
        """An indexed file's text as the index reads it: inside the root, within the size limit."""
        try:
            opened = open_inside(str(self.root), rel, self.rules.max_bytes)
        except OSError:
            return []
        if opened is None or opened[1] is None:
            return []
        return opened[1].decode(errors="replace").splitlines()

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
        """One JSON line a file, mostly made by the parse workers: serializing a whole index at
        once (orjson holds the GIL throughout) would stall the daemon for tens of milliseconds."""
        if self.cache_path is None:
            return
        with self.lock:
            files = list(self.files.items())
        header = orjson.dumps({"version": CACHE_VERSION, "root": str(self.root)})
        private.directory(self.cache_path.parent)
        tmp = self.cache_path.with_suffix(".tmp")
        private.write_bytes(tmp, b"\n".join([header, *(cache_line(rel, e) for rel, e in files)]))
        os.replace(tmp, self.cache_path)

    def _load_cache(self) -> dict[str, IndexedFile]:
        if self.cache_path is None:
            return {}
        try:
            header, *lines = self.cache_path.read_bytes().split(b"\n")
            data = orjson.loads(header)
        except (OSError, orjson.JSONDecodeError):
            return {}
        if (
            not isinstance(data, dict)
            or data.get("version") != CACHE_VERSION
            or data.get("root") != str(self.root)
        ):
            return {}
        out: dict[str, IndexedFile] = {}
        try:
            for line in lines:
                rel, mtime_ns, size, digest, raw, note = orjson.loads(line)
                symbols = None
                if raw is not None:
                    defs = [
                        Definition(**{**d, "doc_lines": tuple(d["doc_lines"]) if d["doc_lines"] else None})
                        for d in raw.pop("definitions")
                    ]
                    imports = {k: (v[0], v[1]) for k, v in raw.pop("imports").items()}
                    symbols = FileSymbols(definitions=defs, imports=imports, **raw)
                out[rel] = IndexedFile(mtime_ns, size, digest, symbols, note, line)
        except (TypeError, ValueError, KeyError):
            log.warning("context cache %s is unreadable; reindexing", self.cache_path)
            return {}
        return out
