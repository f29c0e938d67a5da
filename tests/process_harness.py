"""The daemon as a user runs it: `detour serve` in its own process, with its own
config, keyring file and data directory under a temporary folder."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.wait import until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start(tmp: Path, config: str, extra_env: dict[str, str]) -> Process:
    cfg = tmp / "config.toml"
    cfg.write_text(config)
    port = free_port()
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
        **extra_env,
    }
    log = tmp / "daemon.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.cli", "serve", "--config", str(cfg), "--port", str(port),
            "--log-level", "DEBUG", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip

    async def healthy() -> bool:
        if proc.returncode is not None:
            raise AssertionError("daemon exited:\n" + log.read_text())
        try:
            async with s.get(f"http://127.0.0.1:{port}/health") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    async with aiohttp.ClientSession() as s:
        try:
            await until(healthy, "served /health", every_s=0.05)
        except AssertionError:
            proc.kill()
            raise AssertionError("daemon did not start:\n" + log.read_text()) from None
    return Process(proc, port, log)


async def stop(p: Process) -> str:
    p.proc.terminate()
    assert await asyncio.wait_for(p.proc.wait(), 10) == 0
    return p.log.read_text()


async def client_token(tmp: Path) -> str:
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_DATA_HOME": str(tmp / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon.cli", "token", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()
