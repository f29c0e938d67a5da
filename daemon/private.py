"""Private by default: every file detour writes is 0600, every directory it creates 0700.

Stored conversations, spend, the event log and the context cache (docstrings of indexed
files) are nobody else's business on a shared machine. The daemon also sets a umask of
0077 when it starts (``detour serve``), so whatever a library creates is private too; the
modes here are explicit where files are made, for the in-process daemons of tests and for
files an older version left 0644 (``tighten`` at start).

SQLite stores open through ``sqlite``: the file is made 0600 before SQLite first writes it
(its WAL and shared-memory files take the database file's mode), and ``secure_delete`` is
on, so a deleted row's text is overwritten, not left in free pages. A store that deletes
text then calls ``forget`` to checkpoint and truncate the WAL, where the text still was.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077
_SIDES = ("-wal", "-shm", "-journal")
log = logging.getLogger(__name__)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink():
            os.chmod(path, mode)
    except PermissionError:
        log.warning("cannot make %s private (mode %o): it belongs to another user", path, mode)


def directory(path: Path) -> Path:
    """``path`` (and any missing parents) made; ``path`` itself 0700, however it was before."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _chmod(path, DIR_MODE)
    return path


def file(path: Path) -> Path:
    """``path`` created empty where missing, in a private directory, and 0600 either way:
    before anything is written to it."""
    directory(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    _chmod(path, FILE_MODE)
    return path


def write_bytes(path: Path, data: bytes) -> None:
    """``path`` written whole, created 0600 (a temporary file renamed over the old one keeps this mode)."""
    directory(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    _chmod(path, FILE_MODE)


def sqlite(
    path: Path, *, check_same_thread: bool = True, isolation_level: str | None = ""
) -> sqlite3.Connection:
    """An autocommit connection to the database at ``path`` (transactions are explicit):
    the file and its WAL 0600, ``secure_delete`` on."""
    file(path)
    for side in _SIDES:
        p = path.with_name(path.name + side)
        if p.exists():
            _chmod(p, FILE_MODE)
    db = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    db.execute("PRAGMA secure_delete = ON")
    return db


def forget(db: sqlite3.Connection) -> None:
    """After deleting text: fold the WAL into the database (where ``secure_delete`` zeroed it)
    and truncate the WAL, whose older frames still held it."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def tighten(*dirs: Path) -> None:
    """At start: every directory under ``dirs`` 0700 and every file 0600, whatever an older
    version left. Symbolic links are neither followed nor changed."""
    for top in dirs:
        if not top.is_dir() or top.is_symlink():
            continue
        _chmod(top, DIR_MODE)
        for root, subdirs, files in os.walk(top):
            for name in subdirs:
                _chmod(Path(root, name), DIR_MODE)
            for name in files:
                _chmod(Path(root, name), FILE_MODE)
