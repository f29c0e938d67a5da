"""``detour service install|uninstall|status``: start with the user's session, per platform.

The files come from ``packaging/`` (shipped in the wheel as ``daemon/packaging``),
filled in with the real path of the installed command:

- Linux: systemd user units in ``~/.config/systemd/user``, enabled with ``systemctl --user``;
- macOS: launchd agents in ``~/Library/LaunchAgents``, loaded with ``launchctl bootstrap gui/UID``;
- Windows: Task Scheduler logon tasks, registered with ``schtasks /Create /XML``.

Each restarts the daemon when it fails. The tray gets its own unit, started only in
a desktop session, when the ``tray`` extra is installed.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import platformdirs

from daemon.config import APP

PLATFORMS = ("systemd", "launchd", "windows")
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ServiceError(Exception):
    """A step of installing or removing the service failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class UnitFile:
    path: Path
    text: str
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class Plan:
    platform: str
    files: tuple[UnitFile, ...]
    install: tuple[tuple[str, ...], ...]
    uninstall: tuple[tuple[str, ...], ...]
    status: tuple[tuple[str, ...], ...]


def this_platform() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform == "win32":
        return "windows"
    return "systemd"


def templates_dir() -> Path:
    here = Path(__file__).parent
    shipped = here / "packaging"  # in the wheel
    return shipped if shipped.is_dir() else here.parent / "packaging"  # a source checkout


def command() -> list[str]:
    """How to run this very installation of detour: its console script, else its Python."""
    bindir = Path(sys.executable).parent
    for name in ("detour", "detour.exe"):
        if (bindir / name).is_file():
            return [str(bindir / name)]
    found = shutil.which("detour")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "daemon.cli"]


def tray_available() -> bool:
    return importlib.util.find_spec("pystray") is not None and importlib.util.find_spec("PIL") is not None


def plan(platform: str, home: Path, with_tray: bool, cmd: Sequence[str] | None = None) -> Plan:
    cmd = list(cmd or command())
    if platform == "systemd":
        return _systemd(home, cmd, with_tray)
    if platform == "launchd":
        return _launchd(home, cmd, with_tray)
    if platform == "windows":
        return _windows(cmd, with_tray)
    raise ValueError(platform)


def _render(template: str, **values: str) -> str:
    text = (templates_dir() / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _systemd(home: Path, cmd: list[str], with_tray: bool) -> Plan:
    unit_dir = home / ".config" / "systemd" / "user"
    # systemd's own quoting: a path with spaces in double quotes, specifiers (%) doubled.
    exec_line = " ".join(_systemd_quote(a) for a in cmd)
    names = ["detour.service"] + (["detour-tray.service"] if with_tray else [])
    files = tuple(UnitFile(unit_dir / n, _render(n, EXEC=exec_line)) for n in names)
    ctl = ("systemctl", "--user")
    return Plan(
        "systemd",
        files,
        install=((*ctl, "daemon-reload"), *((*ctl, "enable", "--now", n) for n in names)),
        uninstall=(*((*ctl, "disable", "--now", n) for n in reversed(names)), (*ctl, "daemon-reload")),
        status=tuple((*ctl, "status", "--no-pager", "--lines=5", n) for n in names),
    )


def _systemd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%")
    return f'"{arg}"' if any(c in arg for c in ' "\\') else arg


def _launchd(home: Path, cmd: list[str], with_tray: bool) -> Plan:
    agents = home / "Library" / "LaunchAgents"
    log = Path(platformdirs.user_log_dir(APP)) / "detour.log"
    labels = ["dev.detour.gateway"] + (["dev.detour.tray"] if with_tray else [])
    files = []
    for label in labels:
        text = _render(f"{label}.plist", EXEC=escape(cmd[0]), LOG=escape(str(log)))
        if len(cmd) > 1:  # `python -m daemon.cli`: the extra arguments before the subcommand
            extra = "".join(f"\n    <string>{escape(a)}</string>" for a in cmd[1:])
            text = text.replace(
                f"<string>{escape(cmd[0])}</string>", f"<string>{escape(cmd[0])}</string>{extra}", 1
            )
        files.append(UnitFile(agents / f"{label}.plist", text))
    domain = f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}"
    return Plan(
        "launchd",
        tuple(files),
        install=tuple(("launchctl", "bootstrap", domain, str(f.path)) for f in files),
        uninstall=tuple(("launchctl", "bootout", f"{domain}/{label}") for label in reversed(labels)),
        status=tuple(("launchctl", "print", f"{domain}/{label}") for label in labels),
    )


def _windows(cmd: list[str], with_tray: bool) -> Plan:
    data = Path(platformdirs.user_data_dir(APP))
    user = _windows_user()
    # Windowless: pythonw runs the same installation without a console window at logon.
    pythonw = Path(sys.executable).with_name("pythonw.exe")
    exe, base = (
        (str(pythonw), ["-m", "daemon.cli"])
        if cmd[0].endswith(".exe") and pythonw.exists()
        else (cmd[0], cmd[1:])
    )
    tasks = [("detour", "detour local LLM gateway", "serve")]
    if with_tray:
        tasks.append(("detour-tray", "detour tray icon", "tray"))
    files = tuple(
        UnitFile(
            data / f"{name}-task.xml",
            _render(
                "detour-task.xml",
                NAME=name,
                DESCRIPTION=escape(desc),
                USER=escape(user),
                EXEC=escape(exe),
                ARGS=escape(subprocess.list2cmdline([*base, sub])),
            ),
            encoding="utf-16",
        )
        for name, desc, sub in tasks
    )
    names = [t[0] for t in tasks]
    return Plan(
        "windows",
        files,
        install=tuple(
            step
            for f, n in zip(files, names, strict=True)
            for step in (
                ("schtasks", "/Create", "/TN", n, "/XML", str(f.path), "/F"),
                ("schtasks", "/Run", "/TN", n),
            )
        ),
        uninstall=tuple(
            step
            for n in reversed(names)
            for step in (("schtasks", "/End", "/TN", n), ("schtasks", "/Delete", "/TN", n, "/F"))
        ),
        status=tuple(("schtasks", "/Query", "/TN", n, "/V", "/FO", "LIST") for n in names),
    )


def _windows_user() -> str:
    domain = os.environ.get("USERDOMAIN")
    user = os.environ.get("USERNAME") or getpass.getuser()
    return f"{domain}\\{user}" if domain else user


def describe(p: Plan, action: str) -> str:
    """What ``--dry-run`` prints: each file in full, then each command."""
    out: list[str] = []
    if action == "install":
        for f in p.files:
            out += [f"# {f.path}", f.text.rstrip(), ""]
    commands = {"install": p.install, "uninstall": p.uninstall, "status": p.status}[action]
    if action == "uninstall":
        out += [f"# then remove {f.path}" for f in p.files]
    out += ["# commands:"] + [shlex.join(c) for c in commands]
    return "\n".join(out)


def run(p: Plan, action: str, runner: Runner) -> list[str]:
    """Carry out ``action``; returns what each command printed. Raises ``ServiceError``."""
    if action == "install":
        for f in p.files:
            f.path.parent.mkdir(parents=True, exist_ok=True)
            f.path.write_text(f.text, encoding=f.encoding)
    outputs: list[str] = []
    commands = {"install": p.install, "uninstall": p.uninstall, "status": p.status}[action]
    for c in commands:
        try:
            done = runner(c)
        except FileNotFoundError:
            raise ServiceError(f"`{c[0]}` is not on this machine; is this a {p.platform} system?") from None
        outputs.append((done.stdout or "") + (done.stderr or ""))
        if done.returncode != 0 and action == "install":
            raise ServiceError(
                f"`{shlex.join(c)}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()}"
            )
    if action == "uninstall":
        for f in p.files:
            f.path.unlink(missing_ok=True)
    return outputs


def run_command(c: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(c), capture_output=True, text=True, timeout=60, check=False)
