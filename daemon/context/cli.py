"""``detour context``: the command's work, kept out of ``daemon.cli``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon import keys
from daemon.config import Config, edit
from daemon.context.client import ContextClient, DaemonError

__all__ = ["DaemonError", "add", "show"]


async def show(config: Config, target: str, budget: int, root: str | None) -> str:
    file, sep, symbol = target.partition("::")
    path = Path(file).expanduser().resolve()
    if root is None and not any(path.is_relative_to(p.root.expanduser().resolve()) for p in config.projects):
        root = str(_project_root(path))  # not registered: the daemon indexes it on first use
    client = ContextClient(config.server.url, keys.client_token(), root)
    answer = await client.ask("context", f"{path}{sep}{symbol}", budget)
    return f"{answer['text']}\n\n({answer['tokens']} tokens at most)"


def add(config: Config, root: Path) -> str:
    """Registers ``root`` in the config file, and has a running daemon index it now."""
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
    try:
        answer = asyncio.run(
            ContextClient(config.server.url, keys.client_token(), str(root)).ask("index", None)
        )
    except DaemonError:
        return f"{said}; the daemon is not running, it will index the project when it starts"
    return f"{said}; {answer['text']}"


def _project_root(path: Path) -> Path:
    """The nearest directory above ``path`` holding a VCS root, else the file's directory."""
    start = path if path.is_dir() else path.parent
    for d in (start, *start.parents):
        if (d / ".git").exists() or (d / ".hg").exists():
            return d
    return start
