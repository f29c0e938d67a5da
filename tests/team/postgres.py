"""A real PostgreSQL server for the team tests: Debian's postgresql-15 binaries, run as
an unprivileged user (PostgreSQL refuses root), in a temporary directory, on a free
loopback port, with password authentication so a leaked password would be findable."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.process_harness import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"  # the OS user the server runs as when the tests run as root


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Server:
    root: Path
    port: int
    password: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://detour:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += " -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            _as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", opts])
            + ["-w", "-t", "30", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def start_server() -> Server:
    """initdb and start; ``Server.stop`` and ``shutil.rmtree(root)`` undo it."""
    if not (BIN / "initdb").exists():
        raise RuntimeError("PostgreSQL 15 is not installed: apt-get install postgresql-15")
    root = Path(tempfile.mkdtemp(prefix="detour-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = Server(root, free_port(), secrets.token_hex(12))
    pwfile = root / "pw"
    pwfile.write_text(server.password + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, pwd.getpwnam(USER).pw_uid, -1)
    subprocess.run(
        _as_owner(
            [str(BIN / "initdb"), "-D", str(server.data), "-U", "detour", "--pwfile", str(pwfile)]
            + ["-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pwfile.unlink()
    server.start()
    return server


def remove(server: Server) -> None:
    server.stop("immediate")
    shutil.rmtree(server.root, ignore_errors=True)
