"""Screens over the dashboard: budget limits (PUT /budget) and which providers have a key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from tui.client import Daemon, DaemonError
from tui.state import Dashboard

# The field PUT /budget takes for each window, and how the screen names it.
FIELDS = (
    ("session", "session_usd", "Per session"),
    ("day", "daily_usd", "Per day"),
    ("week", "weekly_usd", "Per week"),
)


def parse_limit(text: str) -> float | None:
    """A limit as typed: blank or 'none' for no limit, else a non-negative amount of USD."""
    text = text.strip().lstrip("$")
    if not text or text.lower() == "none":
        return None
    value = float(text)  # ValueError names the bad text
    if value < 0:
        raise ValueError("a budget cannot be negative")
    return value


class BudgetScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Back")]

    def __init__(self, daemon: Daemon, board: Dashboard, saved: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.daemon, self.board, self.saved = daemon, board, saved

    def compose(self) -> ComposeResult:
        self.initial: dict[str, str] = {}
        with Vertical(id="dialog", classes="box"):
            yield Static("Budget limits (USD; blank = no limit)", classes="title")
            with Grid(id="limits"):
                for scope, field, name in FIELDS:
                    w = self.board.budgets.get(scope)
                    text = "" if w is None or w.limit_usd is None else f"{w.limit_usd:g}"
                    self.initial[field] = text
                    # A window the daemon did not report (the session one, from /budget) is left as it is
                    # unless typed into.
                    hint = "no limit" if w is not None else "unchanged"
                    yield Label(name)
                    yield Input(text, placeholder=hint, id=field)
            yield Label("", id="budget-error")
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss()

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def save(self) -> None:
        limits: dict[str, float | None] = {}
        for _, field, name in FIELDS:
            text = self.query_one(f"#{field}", Input).value
            if text.strip() == self.initial[field]:
                continue  # only what was changed is sent
            try:
                limits[field] = parse_limit(text)
            except ValueError:
                self._error(f"{name}: {text!r} is not an amount in USD (leave it blank for no limit)")
                return
        if not limits:
            self.dismiss()
            return
        self.put(limits)

    @work(exclusive=True, group="budget")
    async def put(self, limits: dict[str, float | None]) -> None:
        try:
            report = await self.daemon.set_budget(limits)
        except DaemonError as e:
            self._error(f"not saved: {e}")
            return
        self.saved(report)
        self.dismiss()

    def _error(self, message: str) -> None:
        self.query_one("#budget-error", Label).update(Text(message, style="red"))


class KeysScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Back")]

    def __init__(self, board: Dashboard) -> None:
        super().__init__()
        self.board = board

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="box"):
            yield Static(
                "Provider keys (the daemon says which it has; it never sends a key)", classes="title"
            )
            yield DataTable[Text | str](id="keys", cursor_type="none")
            yield Static(
                "Add one with `detour keys set PROVIDER`, then restart the daemon.", classes="caption"
            )
            with Horizontal(id="buttons"):
                yield Button("Back", id="back")

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("provider", "kind", "key")
        for p in self.board.providers:
            if p.kind == "sim":
                key = Text("none needed (simulated)", style="dim")
            elif p.has_key:
                key = Text("key set", style="green")
            else:
                key = Text("no key", style="red")
            table.add_row(p.id, p.kind, key)
        if not self.board.has_status:
            table.add_row("-", "-", Text("needs a daemon with /status", style="dim"))

    @on(Button.Pressed, "#back")
    def back(self) -> None:
        self.dismiss()
