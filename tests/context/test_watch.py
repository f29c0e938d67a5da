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


async def test_symlinks_made_while_watched_never_lead_out_of_the_root(
    watched: ProjectIndex, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    (outside / "secret").mkdir(parents=True)
    (outside / "key.py").write_text("def private_key():\n    return 'hunter2'\n")
    (outside / "secret" / "more.py").write_text("def more_secret():\n    pass\n")
    (watched.root / "link.py").symlink_to(outside / "key.py")
    (watched.root / "pkg" / "linked").symlink_to(outside / "secret", target_is_directory=True)
    (watched.root / "inner.py").symlink_to(
        watched.root / "pkg" / "util.py"
    )  # inside, but a link all the same
    (watched.root / "pkg" / "after.py").write_text("def after():\n    pass\n")  # seen after the links
    await _within(5.0, lambda: "pkg/after.py" in watched.files)
    await asyncio.to_thread(watched.update, {"link.py", "inner.py", "pkg/linked/more.py"})  # asked outright
    assert not {"link.py", "inner.py", "pkg/linked/more.py"} & set(watched.files)
    assert "private_key" not in extract.find_symbol(watched, "private_key")
    assert watched.lines("link.py") == [] and watched.lines("pkg/linked/more.py") == []
    # A file indexed, then swapped for a link: dropped, and never read through the link.
    (watched.root / "pkg" / "after.py").unlink()
    (watched.root / "pkg" / "after.py").symlink_to(outside / "key.py")
    await _within(5.0, lambda: "pkg/after.py" not in watched.files)
    assert watched.lines("pkg/after.py") == []


async def test_the_size_limit_holds_for_files_the_watcher_sees(watched: ProjectIndex) -> None:
    (watched.root / "pkg" / "huge.py").write_bytes(b"def huge():\n    pass\n" + b"#" * 600_000 + b"\n")
    await _within(5.0, lambda: "pkg/huge.py" in watched.files)
    entry = watched.files["pkg/huge.py"]
    assert entry.symbols is None and entry.note == "larger than 512 KiB"
    assert watched.lines("pkg/huge.py") == [] and watched.skipped() == {"larger than 512 KiB": 1}
