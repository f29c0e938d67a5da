"""Parsing in worker processes: a time limit per file, a worker's death, shutting down mid-parse."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.context import extract
from daemon.context.files import MAX_FILE_BYTES
from daemon.context.index import IndexedFile, ProjectIndex
from daemon.context.pool import Failed, ParsePool, PoolClosed
from daemon.context.projects import Projects, ProjectSpec
from tests.context.adversarial import one_function_then_comments
from tests.context.samples import PYTHON, write

SLOW = one_function_then_comments()[:200_000]  # seconds of tree-sitter's time, under the size limit


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    p = ParsePool(workers=1, timeout_s=0.5)
    yield p
    p.close()


def _busy_pid(pool: ParsePool) -> int:
    while True:  # until a started worker has the job
        busy = [w for w in list(pool._busy) if w.started]
        if busy:
            pid = busy[0].process.pid
            assert pid is not None
            return pid
        time.sleep(0.01)


def test_a_parse_over_the_time_limit_fails_and_the_next_file_parses_in_a_new_worker(
    tmp_path: Path, pool: ParsePool
) -> None:
    root = write(tmp_path, {**PYTHON, "slow.py": SLOW.decode()})
    answer = pool.run((str(root), "slow.py", None, MAX_FILE_BYTES))
    assert answer == Failed("parsing took over 0.5 s")
    answer = pool.run((str(root), "pkg/util.py", None, MAX_FILE_BYTES))
    assert isinstance(answer, IndexedFile) and answer.symbols is not None and answer.symbols.definitions


def test_a_file_that_times_out_is_indexed_as_text_only_and_says_so(tmp_path: Path, pool: ParsePool) -> None:
    root = write(tmp_path, {**PYTHON, "slow.py": SLOW.decode()})
    index = ProjectIndex(root, pool=pool)
    index.build()
    entry = index.files["slow.py"]
    assert entry.symbols is not None and entry.symbols.definitions == []
    assert entry.note == "parsing took over 0.5 s: indexed as text only"
    assert index.skipped() == {"parsing took over 0.5 s: indexed as text only": 1}
    found, note = asyncio.run(_context(root, pool))
    assert found.text.startswith("     1| def only(a, b):\n") and "\n    30| # x" in found.text
    assert found.tokens <= 1000
    assert note == "parsing took over 0.5 s: indexed as text only"
    assert index.files["pkg/engine.py"].note is None and index.progress.state == "ready"


async def _context(root: Path, pool: ParsePool) -> tuple[extract.Context, str | None]:
    projects = Projects([ProjectSpec(root)], None)
    projects.pool = pool
    try:
        return await projects.context(str(root), "slow.py", 1000)
    finally:
        await projects.close()


def test_a_worker_killed_mid_parse_is_replaced_and_the_file_parsed(tmp_path: Path) -> None:
    root = write(tmp_path, {"slow.py": SLOW[:60_000].decode()})
    pool = ParsePool(workers=1, timeout_s=120)
    answers: list[object] = []
    runner = threading.Thread(
        target=lambda: answers.append(pool.run((str(root), "slow.py", None, MAX_FILE_BYTES)))
    )
    runner.start()
    first = _busy_pid(pool)
    os.kill(first, signal.SIGKILL)
    runner.join()
    try:
        assert isinstance(answers[0], IndexedFile) and answers[0].symbols is not None
        assert [d.name for d in answers[0].symbols.definitions] == ["only"]
        assert [w.process.pid for w in pool._idle] != [first]
    finally:
        pool.close()


def test_closing_the_pool_ends_a_parse_in_flight(tmp_path: Path) -> None:
    root = write(tmp_path, {"slow.py": SLOW.decode()})
    pool = ParsePool(workers=1, timeout_s=120)
    raised: list[BaseException] = []

    def parse() -> None:
        try:
            pool.run((str(root), "slow.py", None, MAX_FILE_BYTES))
        except PoolClosed as e:
            raised.append(e)

    runner = threading.Thread(target=parse)
    runner.start()
    _busy_pid(pool)
    pool.close()
    runner.join()
    assert len(raised) == 1
    with pytest.raises(PoolClosed):
        pool.run((str(root), "slow.py", None, MAX_FILE_BYTES))
