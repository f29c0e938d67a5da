"""The tray menu and what each entry does, independent of any tray toolkit.

Every action talks to the daemon over HTTP or starts a desktop program; how a
program is started (``launch``) is passed in, so tests can run each action.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from daemon.telemetry.schema import Status
from tui.tray.look import Look

# /events sends a keep-alive every 15 s: a read this long without one means the daemon is gone.
ALERTS_READ_S = 40.0
# Starts a program, feeding it ``stdin`` if given; does not wait for it to finish.
Launch = Callable[[Sequence[str], bytes | None], None]


@dataclass(frozen=True, slots=True)
class Entry:
    label: str
    action: Callable[[], None] | None = None  # None: a line of text
    checked: bool | None = None  # a check box when not None
    default: bool = False  # what a plain click on the icon does
    children: tuple[Entry, ...] = field(default_factory=tuple)


class DaemonLink:
    """The daemon's URL and token, and the few calls the tray makes."""

    def __init__(self, url: str, token: str, timeout_s: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def status(self) -> Status | None:
        """The daemon's ``/status``, or None when nothing answers (stopped, restarting)."""
        try:
            return cast(Status, self._call("GET", "/status"))
        except (OSError, ValueError):
            return None

    def alerts(self) -> Iterator[str]:
        """Alert texts from ``/events`` as they come, until the daemon goes away. Watching with
        ``notify=desktop`` tells the daemon the tray shows them, so it sends none itself."""
        req = urllib.request.Request(
            self.url + "/events?notify=desktop", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=ALERTS_READ_S) as resp:
            for raw in resp:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event.get("type") == "alert":
                    state = " (recovered)" if event.get("state") == "recovered" else ""
                    yield f"detour{state}: {event.get('message', '')}"

    def set_paused(self, provider: str, paused: bool) -> None:
        self._call("POST", f"/providers/{provider}/{'pause' if paused else 'resume'}")

    def _call(self, method: str, path: str) -> object:
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())


class Actions:
    def __init__(
        self,
        link: DaemonLink,
        config_path: Path,
        detour: Sequence[str],
        launch: Launch,
        quit: Callable[[], None],
        notify: Callable[[str], None],
    ) -> None:
        self.link, self.config_path, self.detour = link, config_path, list(detour)
        self.launch, self.quit, self.notify = launch, quit, notify

    def open_tui(self) -> None:
        argv = terminal_command([*self.detour, "tui", "--url", self.link.url])
        if argv is None:
            self.notify("no terminal program found: run `detour tui` in a terminal")
            return
        self.launch(argv, None)

    def open_config(self) -> None:
        self.launch(opener_command(self.config_path), None)

    def copy_token(self) -> None:
        argv = clipboard_command()
        if argv is None:
            self.notify("no clipboard tool found (xclip, xsel, wl-copy): run `detour token`")
            return
        self.launch(argv, self.link.token.encode())
        self.notify("client token copied")

    def toggle(self, provider: str, paused_now: bool) -> None:
        try:
            self.link.set_paused(provider, not paused_now)
        except (OSError, ValueError) as e:
            self.notify(f"could not {'resume' if paused_now else 'pause'} {provider}: {e}")


def entries(look: Look, actions: Actions) -> tuple[Entry, ...]:
    running = bool(look.providers) or look.headline != "detour is not running"
    pause = tuple(
        Entry(pid, (lambda pid=pid, p=p: actions.toggle(pid, p)), checked=p)  # type: ignore[misc]
        for pid, p in look.providers
    )
    return (
        Entry(f"detour: {look.headline}"),
        Entry("Open dashboard (TUI)", actions.open_tui, default=True),
        Entry("Pause provider", children=pause) if running else Entry("Pause provider (daemon not running)"),
        Entry("Open config", actions.open_config),
        Entry("Copy client token", actions.copy_token),
        Entry("Quit tray", actions.quit),
    )


def terminal_command(argv: list[str]) -> list[str] | None:
    if sys.platform == "darwin":
        script = " ".join(_sh_quote(a) for a in argv)
        return ["osascript", "-e", f'tell application "Terminal" to do script "{script}"']
    if sys.platform == "win32":
        return ["cmd", "/c", "start", "detour", *argv]
    for term, flag in (
        ("x-terminal-emulator", "-e"),
        ("gnome-terminal", "--"),
        ("konsole", "-e"),
        ("xterm", "-e"),
    ):
        if shutil.which(term):
            return [term, flag, *argv]
    return None


def opener_command(path: Path) -> list[str]:
    if sys.platform == "darwin":
        return ["open", str(path)]
    if sys.platform == "win32":
        return ["cmd", "/c", "start", "", str(path)]
    return ["xdg-open", str(path)]


def clipboard_command() -> list[str] | None:
    if sys.platform == "darwin":
        return ["pbcopy"]
    if sys.platform == "win32":
        return ["clip"]
    wayland = [["wl-copy"]] if os.environ.get("WAYLAND_DISPLAY") else []
    for argv in [*wayland, ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]:
        if shutil.which(argv[0]):
            return argv
    return None


def _sh_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'" if any(c in arg for c in " '\"$") else arg


def launch(argv: Sequence[str], stdin: bytes | None) -> None:
    """Start a desktop program and let it run on its own."""
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    # Reaped when it ends, so no zombie is left behind.
    threading.Thread(target=proc.wait, name=f"detour-tray-{Path(argv[0]).name}", daemon=True).start()
