"""The wheel holds what an installed detour needs: both packages, the service templates
where `detour service` looks for them, the tray, the command and the dependencies.
(`make wheel-check` goes further: a fresh venv, pip alone, `detour serve` answering /health.)"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contents(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("detour_gateway-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(info).decode())
        entry = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    templates = {p.name for p in (ROOT / "packaging").iterdir()}
    assert templates >= {
        "detour.service",
        "detour-tray.service",
        "dev.detour.gateway.plist",
        "detour-task.xml",
    }
    assert {f"daemon/packaging/{t}" for t in templates} <= names
    assert {"daemon/cli.py", "daemon/service.py", "tui/app.py", "tui/tray/app.py", "daemon/py.typed"} <= names
    assert not any(n.startswith("tests/") for n in names)
    assert "detour = daemon.cli:main" in entry
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("watchfiles") for r in requires)
    assert any(r.startswith("pystray") and "extra == 'tray'" in r for r in requires)
    assert not any(r.startswith("pystray") and "extra" not in r for r in requires)  # only in the extra
