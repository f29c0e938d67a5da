"""A parse worker's life (``pool``): parse what it is sent until the daemon goes away or
nothing comes for a while. Run as ``python -m daemon.context.worker FD IDLE_S``."""

from __future__ import annotations

import contextlib
import signal
import sys
from multiprocessing.connection import Connection

from daemon.context.index import read_and_parse
from daemon.context.pool import Failed


def serve(conn: Connection, idle_s: float) -> None:
    try:
        conn.send("ready")
        while conn.poll(idle_s):
            job = conn.recv()
            try:
                answer: object = read_and_parse(*job)
            except Exception as e:  # noqa: BLE001 - the daemon records why, and goes on
                answer = Failed(f"cannot parse: {e}")
            conn.send(answer)
    except (EOFError, OSError):
        pass  # the daemon went away


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle; it ends us
    with contextlib.suppress(KeyboardInterrupt):
        serve(Connection(int(sys.argv[1])), float(sys.argv[2]))
