"""Parsing in worker processes: the daemon's own process never runs tree-sitter.

tree-sitter holds the GIL while it parses, and some shapes of file take it
quadratic time (one function then 13,000 comment lines: over a minute), so a
parse on a thread of the daemon would stall every request. Each file is read
and parsed in a child process instead, under a time limit: a worker that
overruns (or dies) is killed and replaced and the pool carries on; the file is
kept as text only. Workers start on first use, are few (the daemon shares a
laptop with the agent it serves), run at a lower priority, and exit after a
while without work, so an idle daemon holds none.

``parse`` blocks: the index calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

log = logging.getLogger(__name__)
WORKERS = 2
PARSE_TIMEOUT_S = 10.0  # any hand-written file parses in well under a second
IDLE_EXIT_S = 60.0  # a worker with nothing to do for this long exits (its memory goes back)
START_S = 60.0  # for a worker to start (a loaded laptop); not counted in the parse's time
NICE = 10  # parsing yields the cores to the daemon's event loop and the agent


class PoolClosed(Exception):
    """The daemon is shutting down: no more parses."""


@dataclass(slots=True, frozen=True)
class Failed:
    """A parse that gave no answer: ``reason`` says why, for the user."""

    reason: str


class _Worker:
    """``python -m daemon.context.worker``, spoken to over a socket pair. Not a multiprocessing
    child: those import the parent's ``__main__`` again (all of ``daemon.cli``: half a second
    and 10 MB more a worker) before they run anything."""

    def __init__(self, idle_s: float) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daemon.context.worker", str(theirs.fileno()), str(idle_s)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
            self.conn = Connection(os.dup(ours.fileno()))
        with contextlib.suppress(OSError):  # from its first instruction: its imports yield too
            os.setpriority(
                os.PRIO_PROCESS, self.process.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
            )
        self.started = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_started(self) -> None:
        """A new worker says it is ready once its imports are done; raises EOFError if it died."""
        if not self.started:
            if not self.conn.poll(START_S):
                raise EOFError("the parse worker did not start")
            self.conn.recv()
            self.started = True

    def end(self) -> None:
        """Kills the process; a thread waiting on it sees the socket close."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def kill(self) -> None:
        self.end()
        self.conn.close()


class ParsePool:
    def __init__(
        self, workers: int = WORKERS, timeout_s: float = PARSE_TIMEOUT_S, idle_s: float = IDLE_EXIT_S
    ):
        self.workers = workers
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._slots = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False

    def run(self, job: tuple[object, ...]) -> object:
        """``read_and_parse(*job)`` in a worker: its answer, or ``Failed`` (timed out, crashed)."""
        with self._slot():
            for attempt in range(2):
                worker = self._take()
                try:
                    worker.wait_started()
                    worker.conn.send(job)
                    if not worker.conn.poll(self.timeout_s):
                        self._drop(worker)
                        return Failed(f"parsing took over {self.timeout_s:g} s")
                    answer = worker.conn.recv()
                except (EOFError, OSError):
                    # Died: of this file (a crash of the parser), or of idleness just as the
                    # job was sent, or killed by close(). A fresh worker tries once more.
                    self._drop(worker)
                    if self._closed:
                        raise PoolClosed from None
                    if attempt == 0:
                        continue
                    return Failed("the parser crashed")
                self._give(worker)
                return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Ends every worker now; parses in flight raise ``PoolClosed``."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
        for worker in idle:
            worker.kill()
        for worker in busy:
            worker.end()  # the thread waiting on it closes its pipe

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self._closed:
            raise PoolClosed
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise PoolClosed
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    break
                worker.conn.close()  # exited when idle
            else:
                worker = _Worker(self.idle_s)
            self._busy.add(worker)
            return worker

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)

    def _drop(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()


@functools.cache
def shared() -> ParsePool:
    """The pool of indexes made without one (tests, benchmarks, the CLI); the daemon has its own."""
    return ParsePool()
