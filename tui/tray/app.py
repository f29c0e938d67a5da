"""The tray icon itself, with pystray: polls the daemon, recolours, rebuilds its menu.

It reconnects by itself: a daemon that stops turns the icon red, and the next
answer after a restart brings it back.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tui.tray import menu
from tui.tray.look import Look, look

POLL_S = 3.0


def desktop_missing() -> str | None:
    """Why no tray can be shown here, or None."""
    if sys.platform in ("darwin", "win32"):
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return (
            "no desktop session here (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "`detour status` works without one"
        )
    return None


def run(url: str, token: str, config_path: Path, detour: Sequence[str]) -> int:
    why = desktop_missing()
    if why is not None:
        print(f"detour: {why}", file=sys.stderr)
        return 2
    try:
        import pystray  # the `tray` extra; it connects to the display as it loads
    except ImportError:
        print("detour: the tray needs the tray extra: pipx install 'detour-gateway[tray]'", file=sys.stderr)
        return 2
    except Exception as e:  # python-xlib and friends raise their own errors for a bad display
        print(f"detour: cannot reach the desktop session to show a tray icon: {e}", file=sys.stderr)
        return 2
    if not getattr(pystray.Icon, "HAS_MENU", True):
        # pystray's plain X11 backend: a click opens the dashboard, but there is no menu.
        print(
            "detour: this tray backend has no menu (a click opens the dashboard); for the menu install "
            "GTK's bindings (Debian: python3-gi) and `pipx install --system-site-packages`",
            file=sys.stderr,
        )
    try:
        Tray(pystray, menu.DaemonLink(url, token), config_path, detour).run()
    except Exception as e:  # the toolkit's own failure (no D-Bus session for GTK, ...): one line
        print(f"detour: the tray icon could not run on this desktop: {e}", file=sys.stderr)
        return 1
    return 0


class Tray:
    def __init__(self, pystray: Any, link: menu.DaemonLink, config_path: Path, detour: Sequence[str]) -> None:
        from tui.tray.icon import draw

        self._pystray, self._draw, self.link = pystray, draw, link
        self._stop = threading.Event()
        self.look: Look = look(None)
        self.actions = menu.Actions(link, config_path, detour, menu.launch, self.quit, self.notify)
        self.icon = pystray.Icon(
            "detour", draw(self.look.state), self.look.tooltip, menu=pystray.Menu(self._items)
        )

    def run(self) -> None:
        poller = threading.Thread(target=self._poll, name="detour-tray-poll", daemon=True)
        alerts = threading.Thread(target=self._alerts, name="detour-tray-alerts", daemon=True)

        def setup(icon: Any) -> None:
            icon.visible = True
            poller.start()
            alerts.start()

        self.icon.run(setup=setup)

    def quit(self) -> None:
        self._stop.set()
        self.icon.stop()

    def notify(self, text: str) -> None:
        if getattr(self.icon, "HAS_NOTIFICATION", False):
            self.icon.notify(text, "detour")
        else:
            print(f"detour tray: {text}", file=sys.stderr)

    def refresh(self) -> None:
        new = look(self.link.status())
        if new != self.look:
            if new.state != self.look.state:
                self.icon.icon = self._draw(new.state)
            self.look = new
            self.icon.title = new.tooltip
            self.icon.update_menu()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(POLL_S)

    def _alerts(self) -> None:
        """The daemon's alerts as desktop notifications, from this process in the desktop session."""
        while not self._stop.is_set():
            try:
                for text in self.link.alerts():
                    self.notify(text)
            except (OSError, ValueError):
                pass  # not running, restarting: try again
            self._stop.wait(POLL_S)

    def _items(self) -> list[Any]:
        return [self._item(e) for e in menu.entries(self.look, self.actions)]

    def _item(self, e: menu.Entry) -> Any:
        pystray = self._pystray
        if e.children:
            return pystray.MenuItem(e.label, pystray.Menu(*(self._item(c) for c in e.children)))
        if e.action is None:
            return pystray.MenuItem(e.label, None, enabled=False)
        # pystray counts a callback's parameters: (icon, item) and (item) exactly, no defaults.
        return pystray.MenuItem(e.label, _on_click(e.action), checked=_state(e.checked), default=e.default)


def _on_click(action: Callable[[], None]) -> Callable[[Any, Any], None]:
    def clicked(icon: Any, item: Any) -> None:
        action()

    return clicked


def _state(checked: bool | None) -> Callable[[Any], bool] | None:
    if checked is None:
        return None

    def state(item: Any) -> bool:
        return checked

    return state
