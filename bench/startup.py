"""`detour serve` from start to its first `/health` 200, and its resident memory once idle.

    .venv/bin/python bench/startup.py [SOURCE_TREE ...]

Each tree (default: this one) is started in turn, seven times, with a sim-only config in a
fresh data directory: wall time to ready, CPU time to ready (steadier than wall time on a
busy machine) and RSS after 3 s idle, as medians. Give two trees (e.g. `git archive main`
unpacked in /tmp) for a before/after of the same run. Targets: ready within 1 s, idle RSS
under 80 MB.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CONFIG = """[server]
port = {port}

[providers.sim]
kind = "sim"

[[routes]]
name = "default"
chain = ["sim/m"]
"""
RUNS = 7


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def once(tree: Path) -> tuple[float, float, float]:
    tmp = Path(tempfile.mkdtemp())
    port = _port()
    config = tmp / "config.toml"
    config.write_text(CONFIG.format(port=port))
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        **{f"XDG_{d}_HOME": str(tmp / d.lower()) for d in ("DATA", "STATE", "CACHE", "CONFIG")},
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "serve", "--config", str(config)],
        env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.01)
        ready = time.perf_counter() - started
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        time.sleep(3)
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    finally:
        proc.terminate()
        proc.wait()
    return ready, cpu, rss


def main() -> None:
    trees = [Path(a).resolve() for a in sys.argv[1:]] or [Path(__file__).resolve().parent.parent]
    results: dict[Path, list[tuple[float, float, float]]] = {t: [] for t in trees}
    for _ in range(RUNS):  # interleaved: a busy moment falls on every tree alike
        for tree in trees:
            results[tree].append(once(tree))
    for tree, runs in results.items():
        ready, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{tree}: ready {ready:.2f} s (wall), {cpu:.2f} s CPU; idle RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
