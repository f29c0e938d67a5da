"""The ledger's write-ahead journal: what makes a write durable before SQLite has it.

An attempt must be on record before its request leaves for the provider, or a
daemon killed at that moment forgets money it spent. Waiting for SQLite on the
ledger thread puts a thread round trip and a commit in front of every request
(most of what detour added to a request, when measured). Instead, each ledger
write is appended here first, a line of JSON written with one ``os.write`` on
the event loop: a few microseconds, and in the kernel's hands once it
returns, which is all a kill -9 cannot undo. SQLite receives the same writes in
batches on its own thread; once a batch is committed its journal file is
deleted. On start, whatever a killed daemon left in journal files is replayed
into SQLite (idempotently) before anything else happens.

The journal does not guard against power loss any better than SQLite's
``synchronous=NORMAL`` does: both rely on the operating system flushing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from daemon import private
from daemon.budget.ledger import AttemptRow, Settlement, Write
from daemon.ir import Usage

PREFIX = "journal-"
# A file is replaced once this big; what it holds that SQLite already has replays harmlessly.
ROTATE_BYTES = 1 << 20
LOCK = "detour.lock"


class LedgerBusy(Exception):
    """Another process (a running daemon) has this ledger open."""


class DirectoryLock:
    """An exclusive lock on the data directory for as long as the ledger is open.

    Two writers would interleave journal files and replay (so delete) each other's:
    a second daemon on the same directory, or ``detour budget`` reading the ledger
    directly while the daemon runs but did not answer, must be refused instead."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
        self._fd = -1

    def acquire(self) -> None:
        private.directory(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, private.FILE_MODE)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one daemon per user is the norm
            self._fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LedgerBusy(f"another detour process has {self.path.parent} open") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the lock
            self._fd = -1


class Journal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._fd = -1
        self._path: Path | None = None
        self._seq = 0
        self.size = 0  # bytes in the current file

    def leftovers(self) -> list[Path]:
        """Journal files a previous run did not get to delete, oldest first."""
        return sorted(self.dir.glob(f"{PREFIX}*.jsonl"))

    def begin(self) -> None:
        """Start appending to a fresh file (after leftovers were replayed and deleted)."""
        for old in self.leftovers():
            self._seq = max(self._seq, int(old.stem.removeprefix(PREFIX)))
        self._next_file()

    def _next_file(self) -> None:
        self._seq += 1
        self._path = self.dir / f"{PREFIX}{self._seq:010d}.jsonl"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = 0

    def append(self, w: Write) -> None:
        # One write() of one line: appends of this size land whole, and the kernel
        # keeps them if the process dies the next instant.
        self.size += os.write(self._fd, encode(w))

    def rotate(self) -> Path:
        """Switch to a new file; the old one may go once what it holds is in SQLite."""
        assert self._path is not None
        old, fd = self._path, self._fd
        self._next_file()
        os.close(fd)
        return old

    def close(self) -> Path | None:
        """Stop appending; returns the file that was being appended to, if any."""
        if self._fd < 0:
            return None
        os.close(self._fd)
        self._fd = -1
        return self._path


def encode(w: Write) -> bytes:
    if isinstance(w, AttemptRow):
        fields = [w.id, w.ts, w.session, w.route, w.provider, w.model, w.reserved_usd]
        return orjson.dumps({"start": fields}) + b"\n"
    u = w.usage
    usage = [u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens]
    return orjson.dumps({"settle": [w.id, w.usd, w.source, *usage]}) + b"\n"


def read(path: Path) -> Iterator[Write]:
    """The writes in a journal file; a line cut short by the crash is skipped."""
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            record = orjson.loads(line)
            if "start" in record:
                id_, ts, session, route, provider, model, reserved = record["start"]
                yield AttemptRow(id_, session, route, provider, model, reserved, ts)
            else:
                id_, usd, source, *counts = record["settle"]
                yield Settlement(id_, usd, Usage(*counts), source)
