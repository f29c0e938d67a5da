"""``detour context``: the command's work, kept out of ``daemon.cli``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from daemon import keys
from daemon.config import Config, edit
from daemon.context.client import ContextClient, DaemonError

__all__ = ["DaemonError", "add", "show"]
POLL_S = 0.25
PICKUP_S = 10.0  # the daemon reloads a saved config within a second; past this it is not watching ours
BAR = 24


async def show(config: Config, target: str, budget: int, root: str | None) -> str:
    file, sep, symbol = target.partition("::")
    path = Path(file).expanduser().resolve()
    if root is None and not any(path.is_relative_to(p.root.expanduser().resolve()) for p in config.projects):
        root = str(
            _project_root(path)
        )  # not registered: the daemon's 404 names the command that registers it
    client = ContextClient(config.server.url, keys.client_token(), root)
    answer = await client.ask("context", f"{path}{sep}{symbol}", budget)
    note = f"\n({answer['note']})" if answer.get("note") else ""
    return f"{answer['text']}\n\n({answer['tokens']} tokens at most){note}"


def add(config: Config, root: Path, out: TextIO = sys.stderr) -> str:
    """Registers ``root`` in the config file, and follows a running daemon indexing it."""
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise DaemonError(f"{root} is not a directory")
    if config.path is None:
        raise DaemonError("no config file to register the project in")
    if any(p.root.expanduser().resolve() == root for p in config.projects):
        said = f"{root} is already registered in {config.path}"
    else:
        edit.add_project(config.path, root)
        said = f"registered {root} in {config.path}"
    client = ContextClient(config.server.url, keys.client_token(), str(root))
    try:
        return f"{said}; {asyncio.run(_follow(client, root, config.path, out))}"
    except DaemonError:
        return f"{said}; the daemon is not running, it will index the project when it starts"


async def _follow(client: ContextClient, root: Path, config_path: Path, out: TextIO) -> str:
    """Polls ``/status`` until the project is indexed, drawing a progress bar on a terminal."""
    started = time.monotonic()
    drawn = False
    try:
        while True:
            project = next(
                (p for p in (await client.status()).get("projects", []) if p["root"] == str(root)), None
            )
            if project is None and time.monotonic() - started > PICKUP_S:
                return (
                    f"the daemon has not taken it up: is it running with another config than {config_path}?"
                )
            if project is not None and project["state"] in ("ready", "failed"):
                return _summary(project)
            if project is not None and project["state"] == "indexing" and out.isatty():
                out.write("\r" + bar(project["parsed"], project["to_parse"], time.monotonic() - started))
                out.flush()
                drawn = True
            await asyncio.sleep(POLL_S)
    finally:
        if drawn:
            out.write("\r\x1b[K")


def bar(done: int, total: int, elapsed: float) -> str:
    """``[#####.......]  120/600 files  45 files/s  11 s left``"""
    filled = BAR * done // total if total else 0
    rate = done / elapsed if elapsed > 0 else 0.0
    left = f"{(total - done) / rate:.0f} s left" if rate > 0 else "estimating"
    count = f"{done:>{len(str(total))}}/{total}"
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {count} files  {rate:.0f} files/s  {left}"


def _summary(project: dict[str, Any]) -> str:
    if project["state"] == "failed":
        return f"it cannot be indexed: {project['error']}"
    skipped = project["skipped"]
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    return f"indexed {project['files']} files" + (f" ({why})" if why else "")


def _project_root(path: Path) -> Path:
    """The nearest directory above ``path`` holding a VCS root, else the file's directory."""
    start = path if path.is_dir() else path.parent
    for d in (start, *start.parents):
        if (d / ".git").exists() or (d / ".hg").exists():
            return d
    return start
