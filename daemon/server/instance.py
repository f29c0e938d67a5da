"""One daemon per data directory: a lock file holding the running daemon's PID and URL.

The lock is an OS file lock, which dies with its process: a daemon that was
killed leaves the file behind but not the lock, and the next one takes it over.
A second daemon started on the same port finds the port taken and is told who
holds it (``GET /`` names a detour and its PID).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import IO, Any

from daemon import private

log = logging.getLogger(__name__)
LOCK_NAME = "daemon.lock"  # detour.lock is the ledger's own


class AlreadyRunning(Exception):
    """Another daemon holds the data directory or the port; the message names it."""


class InstanceLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = private.file(self.path).open("a+")
        if not _try_lock(f):
            holder = _read(f)
            f.close()
            pid = holder.get("pid", "?")
            url = holder.get("url", "an unknown URL")
            raise AlreadyRunning(
                f"detour is already running (PID {pid}, {url}) with data directory {self.path.parent}; "
                "stop it first (`detour service uninstall` if it is the service) or use it as it is"
            )
        stale = _read(f)
        if stale.get("pid") and stale.get("pid") != os.getpid():
            log.info("took over the lock a stopped detour (PID %s) left behind", stale["pid"])
        self._file = f
        self.announce(None)

    def announce(self, url: str | None) -> None:
        """Write who holds the lock, so a second daemon can say so."""
        f = self._file
        assert f is not None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "url": url}))
        f.flush()

    def release(self) -> None:
        if self._file is None:
            return
        # Emptied before unlocking: a file that outlives us names no one.
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
        self._file.close()
        self._file = None


def _read(f: IO[str]) -> dict[str, Any]:
    try:
        f.seek(0)
        data = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


if sys.platform == "win32":
    import msvcrt

    # Locked far past the text, so the holder's PID stays readable to others.
    _LOCK_OFFSET = 1 << 20

    def _try_lock(f: IO[str]) -> bool:
        pos = f.tell()
        try:
            f.seek(_LOCK_OFFSET)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            f.seek(pos)
        return True

else:
    import fcntl

    def _try_lock(f: IO[str]) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def holder_of(url: str) -> str | None:
    """The PID of the detour answering at ``url``, or None when what answers is not detour."""
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    if isinstance(body, dict) and body.get("name") == "detour":
        return str(body.get("pid", "?"))
    return None
