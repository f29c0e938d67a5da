"""Tier 1: what is never read. A deny list, the project's own globs, and every ``.gitignore``;
nothing reached through a symbolic link, nothing over the size limit (``open_inside``).

The walk never enters an excluded directory, and the watcher is given roots
that contain none (``WatchPlan``): OS watches exist before any filter runs, so
filtering events after the fact would still watch ``node_modules``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from daemon.context.languages import EXTENSIONS

MAX_FILE_BYTES = 512 * 1024  # bigger source files are generated; an agent would not want them whole
DENY_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "dist",
        "build",
        "out",
        "target",
        "vendor",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        ".nuxt",
        ".gradle",
        ".idea",
        ".eggs",
        "site-packages",
    }
)
DENY_FILES = pathspec.PathSpec.from_lines(
    "gitignore",
    [
        "*.lock",
        "package-lock.json",
        "pnpm-lock.yaml",
        "go.sum",
        "*.min.js",
        "*.min.css",
        "*.bundle.js",
        "*.map",
        "*.pb.go",
        "*_pb2.py",
    ],
)


def is_binary(head: bytes) -> bool:
    return b"\0" in head[:8192]


def is_minified(source: bytes) -> bool:
    """One enormous line, or lines far longer than anyone writes by hand."""
    lines = source.count(b"\n") + 1
    return len(source) > 4096 and len(source) / lines > 300


def inside(root: str, rel: str) -> bool:
    """``rel`` names a path below ``root`` reached without following a symbolic link."""
    path = os.path.normpath(os.path.join(root, rel))
    return path.startswith(root.rstrip(os.sep) + os.sep) and os.path.realpath(path) == path


def open_inside(root: str, rel: str, max_bytes: int) -> tuple[os.stat_result, bytes | None] | None:
    """A regular file's stat and bytes (None when over ``max_bytes``); None if absent, not a
    regular file, or reached through a symbolic link."""
    if not inside(root, rel):
        return None
    try:
        fd = os.open(os.path.join(root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > max_bytes:
            return st, None
        source = f.read(max_bytes + 1)
    return st, (source if len(source) <= max_bytes else None)


@dataclass(slots=True)
class WatchPlan:
    """Directories to watch recursively (nothing excluded below them) and flat (an
    excluded directory sits somewhere below: its children are planned one by one)."""

    recursive: list[Path] = field(default_factory=list)
    flat: list[Path] = field(default_factory=list)


class Rules:
    def __init__(self, root: Path, exclude: Iterable[str] = (), max_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.exclude = pathspec.PathSpec.from_lines("gitignore", list(exclude))
        self._ignores: dict[str, pathspec.PathSpec[Any] | None] = {}  # dir (rel, "" = root) -> its .gitignore

    def forget_gitignores(self) -> None:
        self._ignores.clear()

    def _gitignore(self, rel_dir: str) -> pathspec.PathSpec[Any] | None:
        if rel_dir not in self._ignores:
            rel = f"{rel_dir}/.gitignore" if rel_dir else ".gitignore"
            try:
                opened = open_inside(str(self.root), rel, self.max_bytes)
            except OSError:
                opened = None
            if opened is None or opened[1] is None:
                self._ignores[rel_dir] = None
            else:
                lines = opened[1].decode(errors="replace").splitlines()
                self._ignores[rel_dir] = pathspec.GitIgnoreSpec.from_lines(lines)
        return self._ignores[rel_dir]

    def excluded(self, rel: str, is_dir: bool) -> bool:
        """``rel`` is root-relative with forward slashes. Its parents are assumed not excluded."""
        parts = rel.split("/")
        name = parts[-1]
        if is_dir:
            if name in DENY_DIRS or (self.root / rel / "pyvenv.cfg").exists():
                return True
        elif DENY_FILES.match_file(name):
            return True
        probe = rel + "/" if is_dir else rel
        if self.exclude.match_file(probe):
            return True
        for depth in range(len(parts)):
            spec = self._gitignore("/".join(parts[:depth]))
            if spec is not None and spec.match_file("/".join(parts[depth:]) + ("/" if is_dir else "")):
                return True
        return False

    def indexable(self, rel: str) -> bool:
        """A source file detour parses, in a directory the walk may enter."""
        if os.path.splitext(rel)[1] not in EXTENSIONS:
            return False
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self.excluded("/".join(parts[:depth]), is_dir=True):
                return False
        return not self.excluded(rel, is_dir=False)

    def walk(self) -> tuple[dict[str, os.stat_result], WatchPlan]:
        """Every indexable file with its stat (the index skips those over ``max_bytes``), and where
        to watch. Symbolic links are not followed: a link is neither a file nor a directory here."""
        files: dict[str, os.stat_result] = {}
        mixed: set[str] = set()  # dirs with an excluded directory directly inside
        dirs: list[str] = [""]
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                entries = list(os.scandir(self.root / rel_dir))
            except OSError:
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if self.excluded(rel, is_dir=True):
                            mixed.add(rel_dir)
                        else:
                            dirs.append(rel)
                            stack.append(rel)
                    elif entry.is_file(follow_symlinks=False):
                        if os.path.splitext(entry.name)[1] not in EXTENSIONS:
                            continue
                        if not self.excluded(rel, is_dir=False):
                            files[rel] = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
        return files, self._plan(dirs, mixed)

    def _plan(self, dirs: list[str], mixed: set[str]) -> WatchPlan:
        flat: set[str] = set()
        for d in mixed:
            while True:
                flat.add(d)
                if not d:
                    break
                d = d.rpartition("/")[0]
        plan = WatchPlan()
        for d in sorted(flat):
            plan.flat.append(self.root / d)
        for d in dirs:
            parent = d.rpartition("/")[0] if d else None
            if d not in flat and (parent is None or parent in flat):
                plan.recursive.append(self.root / d)
        return plan
