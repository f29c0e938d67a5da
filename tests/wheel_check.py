"""The install a user does: build the wheel, install it into a fresh venv with pip alone,
then `detour --version`, `detour service install --dry-run` and `detour serve` answering /health.

Run through `make wheel-check` (about a minute: the venv downloads every dependency).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        sys.exit(f"FAILED ({done.returncode}): {' '.join(map(str, argv))}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="detour-wheel-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.monotonic()
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", ROOT)
        (wheel,) = (tmp / "dist").glob("detour_gateway-*.whl")
        print(f"built {wheel.name}")
        run(sys.executable, "-m", "venv", tmp / "venv")  # the venv has pip and nothing else
        py = tmp / "venv" / "bin" / "python"
        run(py, "-m", "pip", "install", "-q", wheel)
        detour = tmp / "venv" / "bin" / "detour"
        print(run(detour, "--version").strip())
        home = tmp / "home"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"),
        }
        unit = run(detour, "service", "install", "--dry-run", "--platform", "systemd", env=env)
        assert f"ExecStart={detour} serve" in unit, unit
        print(f"service unit renders with ExecStart={detour} serve")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = (tmp / "serve.log").open("w")
        proc = subprocess.Popen([detour, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
        try:
            body = None
            for _ in range(300):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        body = json.loads(r.read())
                        break
                except OSError:
                    time.sleep(0.1)
            assert body == {"status": "ok"}, (tmp / "serve.log").read_text()
            print(f"detour serve answers /health on port {port}: {body}")
        finally:
            proc.terminate()
            code = proc.wait(30)
            log.close()
        assert code == 0, f"detour serve exited {code}:\n{(tmp / 'serve.log').read_text()}"
        print(f"stopped cleanly (exit 0); all in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
