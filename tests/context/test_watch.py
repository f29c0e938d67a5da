"""The watched index: saves, deletes, renames, new directories and .gitignore changes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from daemon.context import extract
from daemon.context.index import ProjectIndex
from daemon.context.watch import watch
from tests.context.samples import PYTHON, write


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[ProjectIndex]:
    index = ProjectIndex(write(tmp_path, {**PYTHON, "node_modules/x/index.js": "function f() {}\n"}))
    await asyncio.to_thread(index.build)
    task = asyncio.create_task(watch(index), name="test-watch")
    await asyncio.sleep(0.2)  # the OS watches exist
    try:
        yield index
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _within(seconds: float, check: Callable[[], bool]) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > seconds:
            raise AssertionError(f"not seen within {seconds}s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


def _atomic_save(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_an_atomic_save_of_a_callee_signature_shows_in_the_next_query_within_a_second(
    watched: ProjectIndex,
) -> None:
    util = watched.root / "pkg/util.py"
    _atomic_save(
        util,
        util.read_text().replace(
            "def helper(job: str) -> str:", "def helper(job: str,\n           urgent: bool) -> str:"
        ),
    )

    def fresh() -> bool:
        return "urgent: bool" in extract.context(watched, "pkg/engine.py::Engine.run", 2000).text

    assert await _within(1.0, fresh) < 1.0


async def test_new_directories_deletes_renames_and_gitignore_changes(watched: ProjectIndex) -> None:
    root = watched.root
    (root / "pkg/fresh").mkdir()
    (root / "pkg/fresh/mod.py").write_text("def brand_new():\n    pass\n")
    await _within(2.0, lambda: "brand_new" in extract.find_symbol(watched, "brand_new"))
    (root / "pkg/other.py").rename(root / "pkg/moved.py")
    await _within(2.0, lambda: "pkg/moved.py" in watched.files and "pkg/other.py" not in watched.files)
    (root / "pkg/moved.py").unlink()
    await _within(2.0, lambda: "pkg/moved.py" not in watched.files)
    (root / ".gitignore").write_text("pkg/fresh/\n")
    await _within(2.0, lambda: "pkg/fresh/mod.py" not in watched.files)
    assert root / "pkg/fresh" not in watched.plan.recursive
    assert not any("node_modules" in str(p) for p in watched.plan.recursive + watched.plan.flat)
