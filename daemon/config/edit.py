"""Changing the config file from a command: through tomlkit, so the file stays valid TOML
and keeps the user's comments and layout; checked whole before it replaces the old one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Array

from daemon.config.reader import ConfigError, parse


def add_project(path: Path, root: Path) -> None:
    """Appends ``[[projects]] root = ...`` to the config at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
        str(root).encode("utf-8")
    except UnicodeError:
        raise ConfigError(
            path, None, f"{str(root)!r} is not valid UTF-8; a TOML file cannot hold it"
        ) from None
    except OSError as e:
        raise ConfigError(path, None, f"cannot read: {e.strerror}") from None
    doc = tomlkit.parse(text)
    projects = doc.get("projects")
    if isinstance(projects, Array):  # written inline: projects = [{ root = "..." }]
        entry = tomlkit.inline_table()
        entry["root"] = str(root)
        projects.append(entry)
    else:
        table = tomlkit.table()
        table["root"] = str(root)
        if not isinstance(projects, AoT):
            projects = tomlkit.aot()
            if not text.endswith("\n\n"):
                doc.add(tomlkit.nl())  # a blank line before the new table, as a person writes it
            doc.append("projects", projects)
        elif len(projects) and projects[-1].as_string().endswith("\n\n"):
            table.add(tomlkit.nl())  # entries here end with a blank line: so does the new one
        elif len(projects):
            projects[-1].add(tomlkit.nl())  # a blank line between entries
        projects.append(table)
    replace(path, tomlkit.dumps(doc))


def replace(path: Path, text: str) -> None:
    """Writes ``text`` over the config at ``path`` in one step (an editor's atomic save), with
    the old file's mode, and only if it still loads: a command never leaves a broken config."""
    parse(text, path)
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
