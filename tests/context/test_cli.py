"""`detour context add PATH` and `detour context FILE::SYMBOL` against `detour serve` in its own process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from daemon.context.cli import bar
from tests.context.samples import GO, PYTHON, write
from tests.daemon_harness import SIM_CONFIG
from tests.process_harness import start, stop


async def _detour(tmp: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "tests.memkeyring.MemoryKeyring",
        "DETOUR_TEST_KEYRING_FILE": str(tmp / "keyring.json"),
        "XDG_DATA_HOME": str(tmp / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "daemon.cli", "context", *args, "--config", str(tmp / "config.toml"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_add_a_project_then_ask_for_a_symbol_in_it(tmp_path: Path) -> None:
    py = write(tmp_path / "py", PYTHON)
    go = write(tmp_path / "go", GO)
    daemon = await start(tmp_path, SIM_CONFIG, {})
    try:
        # The port the daemon really serves on, as `detour context` reads it from the config.
        with (tmp_path / "config.toml").open("a") as f:
            f.write(f"\n[server]\nport = {daemon.port}\n")
        code, out, err = await _detour(tmp_path, "add", str(py))
        assert code == 0, err
        assert f"registered {py}" in out and "indexed" in out and "4 files" in out
        assert f'root = "{py}"' in (tmp_path / "config.toml").read_text()
        code, out, err = await _detour(
            tmp_path, str(py / "pkg/engine.py") + "::Engine.run", "--budget", "500"
        )
        assert code == 0, err
        assert "return helper(job) * times" in out and "pkg/util.py" in out
        # A file in no registered project: refused with the command that registers it, which works.
        code, out, err = await _detour(tmp_path, str(go / "engine.go") + "::Engine.Run", "--root", str(go))
        assert code == 1 and f"register it with `detour context add {go}`" in err and "Traceback" not in err
        code, out, err = await _detour(tmp_path, "add", str(go))
        assert code == 0 and f"registered {go}" in out and "indexed 3 files" in out, (out, err)
        code, out, err = await _detour(tmp_path, str(go / "engine.go") + "::Engine.Run", "--root", str(go))
        assert code == 0 and "func (e *Engine) Run(job string," in out, err
        code, out, err = await _detour(tmp_path, str(py / "pkg/engine.py") + "::Nope")
        assert code == 1 and "no symbol 'Nope'" in err and "Traceback" not in err
    finally:
        await stop(daemon)


def test_the_progress_bar_shows_files_parsed_of_total_the_rate_and_the_time_left() -> None:
    assert bar(0, 600, 0.0) == "[........................]   0/600 files  0 files/s  estimating"
    assert bar(150, 600, 3.0) == "[######..................] 150/600 files  50 files/s  9 s left"
    assert bar(600, 600, 12.0).startswith("[" + "#" * 24 + "] 600/600 files  50 files/s  0 s left")
