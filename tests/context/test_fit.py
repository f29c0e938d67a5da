"""The chain's pruning reads the index in a worker thread: the event loop runs on while it waits."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from daemon.config import Target
from daemon.context.fit import Pruning
from daemon.context.projects import Projects, ProjectSpec
from daemon.formats.profile import Profile
from daemon.ir import Message, Request, TextPart, ToolCallPart, ToolResultPart
from daemon.ir.tokens import request_tokens
from daemon.routing.adapt import MIN_OUTPUT


def _module() -> str:
    return "".join(
        f"def step_{i}(value: int, scale: int = {i}) -> int:\n"
        f'    """Scale step {i}."""\n    total = value * scale + {i}\n    return total - 1\n\n'
        for i in range(80)
    )


async def test_fit_waits_for_the_index_lock_in_a_worker_thread(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(_module())
    projects = Projects([ProjectSpec(tmp_path)], cache_dir=None)
    projects.start()
    try:
        index = await projects.get(tmp_path)
        read = ToolCallPart("c1", "Read", json.dumps({"file_path": str(tmp_path / "mod.py")}))
        req = Request(
            "m",
            [
                Message("user", [TextPart("Why?")]),
                Message("assistant", [read]),
                Message("user", [ToolResultPart("c1", [TextPart(_module())])]),
            ],
        )
        profile = Profile(context_window=request_tokens(req) // 2 + MIN_OUTPUT)
        pruning = Pruning(projects, {"coder": "fit"})
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with index.lock:  # as a re-index holds it
                held.set()
                release.wait(timeout=60)  # only so that a regression ends instead of hanging

        holder = threading.Thread(target=hold)
        holder.start()
        await asyncio.to_thread(held.wait)
        fitting = asyncio.ensure_future(pruning.fit(req, Target("p", "m"), profile, "coder"))
        for _ in range(10):
            await asyncio.sleep(0)  # the loop turns while fit waits for the lock
        assert not fitting.done()
        release.set()
        fitted = await fitting
        await asyncio.to_thread(holder.join)
        assert fitted is not None and fitted.adapted == [f"pruned {tmp_path / 'mod.py'} (401 lines)"]
        assert request_tokens(fitted) <= profile.context_window - MIN_OUTPUT  # type: ignore[operator]
    finally:
        await projects.close()
