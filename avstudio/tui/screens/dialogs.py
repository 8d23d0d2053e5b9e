"""Modal dialogs: confirm a destructive action, show an error (and its traceback), help."""

from __future__ import annotations

from typing import Iterable

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static

from avstudio import humanize as fmt


class ConfirmScreen(ModalScreen[bool]):
    """Ask before a destructive action; dismisses with True (yes) or False (no)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Leave things as they are"),
    ]

    def __init__(self, title: str, message: str, *, yes: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ErrorScreen(ModalScreen[None]):
    """An error in one line (and its fix), with a key to show the traceback."""

    BINDINGS = [
        Binding("t", "toggle_traceback", "Traceback", id="error.traceback",
                tooltip="Show or hide the full traceback"),
        Binding("escape,enter,space", "close", "Close", id="error.close", tooltip="Close this message"),
    ]

    def __init__(self, title: str, message: str, *, traceback: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.traceback = traceback.rstrip()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            hint = "t: traceback · esc: close" if self.traceback else "esc: close"
            yield Label(hint, classes="dialog-hint")
            with VerticalScroll(id="traceback"):
                yield Static(self.traceback or "(no traceback)", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_traceback":
            return bool(self.traceback)
        return True

    def action_toggle_traceback(self) -> None:
        self.toggle_class("-traceback")

    def action_close(self) -> None:
        self.dismiss(None)


STATE_HELP = {
    "fresh": "its output matches its params, inputs and upstream stages",
    "stale": "something it reads changed (the why column names it)",
    "missing": "never run, or its output file is gone",
    "failed": "its last run failed (the why column says how)",
    "interrupted": "its last run was stopped (Ctrl-C, x, `avstudio stop`); its previous output is kept",
    "running": "running now (here, or in `avstudio run` in another terminal)",
}


def bindings_table(bindings: Iterable[Binding]) -> Table:
    """Key, name and what it does, for each binding with a description."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_column(style="dim")
    for b in bindings:
        if b.description:
            key = b.key_display or b.key.split(",")[0]
            key = {"question_mark": "?", "space": "space", "escape": "esc"}.get(key, key)
            table.add_row(escape(key), escape(b.description), escape(b.tooltip or ""))
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened from, and what the stage states mean."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, screen: Screen, app_bindings: Iterable[Binding]) -> None:
        super().__init__(classes="dialog")
        self.bindings_shown = [*_own_bindings(screen), *app_bindings]

    def compose(self) -> ComposeResult:
        states = Table(box=None, show_header=False, padding=(0, 1))
        states.add_column()
        states.add_column()
        for state, text in STATE_HELP.items():
            states.add_row(Text(f"{fmt.STATE_ICON[state]} {state}", style="bold"), text)
        with VerticalScroll(classes="dialog-box help-box"):
            yield Label("Keys", classes="dialog-title")
            yield Static(bindings_table(self.bindings_shown))
            yield Label("Stage states", classes="dialog-title")
            yield Static(states)
            yield Label("ctrl+p opens the command palette: every key above is also a command there.",
                        classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def _own_bindings(screen: Screen) -> list[Binding]:
    """The bindings a screen and its widgets declare (not Textual's built-in ones)."""
    out: list[Binding] = []
    nodes = [screen, *screen.query("*")]
    for node in nodes:
        if not type(node).__module__.startswith("avstudio."):
            continue
        for b in type(node).__dict__.get("BINDINGS", []):
            if isinstance(b, Binding) and b.description and b not in out:
                out.append(b)
    return out
