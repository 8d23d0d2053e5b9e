"""The avstudio TUI application: opens a workspace on the project screen.

Importing this module is cheap (Textual and the light core only): no torch, cv2,
librosa or h5py. Workers import what they need when they run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from functools import partial
from pathlib import Path
from typing import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from avstudio.tui.device import quick_device, torch_device
from avstudio.tui.screens.dialogs import ConfirmScreen, ErrorScreen, HelpScreen
from avstudio.tui.screens.project import ProjectScreen
from avstudio.workspace.workspace import Workspace


class AvStudioApp(App[None]):
    """The TUI of one workspace.

    Parameters
    ----------
    ws : Workspace
        The opened workspace.
    device : str, optional
        The device label for the header; detected (without importing torch here) when None.
    poll_interval : float
        Seconds between looks at the lock and the event log (following a headless run).
    detach : bool
        Start runs as their own processes (``avstudio run --detach``), so they outlive
        the TUI, the terminal and SSH; ``q`` then just leaves. False runs them in a
        thread of this process (a run started here then ends with the TUI; ``q`` asks).
    """

    CSS_PATH = "app.tcss"
    TITLE = "avstudio"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", key_display="?",
                tooltip="The keys of this screen and what stage states mean"),
        Binding("q", "quit_app", "Leave", id="app.quit",
                tooltip="Leave the TUI (a run keeps going; stop it first with x)"),
    ]

    def __init__(self, ws: Workspace, *, device: str | None = None, poll_interval: float = 0.2,
                 detach: bool = True) -> None:
        super().__init__()
        self.ws = ws
        self.detach = detach
        self.device = device
        self.poll_interval = poll_interval
        self.device_label = device or "…"
        self.sub_title = str(ws.root)

    async def on_mount(self) -> None:
        await self.push_screen(ProjectScreen(poll_interval=self.poll_interval))
        if self.device is None:
            self.set_device(quick_device())
            self.detect_device()
        else:
            self.set_device(self.device)

    def set_device(self, label: str) -> None:
        """Show ``label`` as the device in the header."""
        self.device_label = label
        self.project_screen.header.device = label

    @property
    def project_screen(self) -> ProjectScreen:
        return next(s for s in self.screen_stack if isinstance(s, ProjectScreen))

    @work(exclusive=True, group="device", exit_on_error=False)
    async def detect_device(self) -> None:
        """Ask torch (in a child process) which device runs will use; update the header."""
        self.set_device(await torch_device())

    # -- actions ------------------------------------------------------------------------
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen, self.BINDINGS))

    def action_quit_app(self) -> None:
        project = self.project_screen
        if project.headless and project.holder:
            run_id = project.holder.get("run_id") or f"pid {project.holder.get('pid')}"
            self.exit(message=f"run {run_id} goes on in the background; follow it with `avstudio attach -C "
                              f"{self.ws.root}`, stop it with `avstudio stop -C {self.ws.root}`")
        elif project.own_run:
            self.push_screen(
                ConfirmScreen("Quit?", "A run started here is in progress. Stop it (at the next chunk; "
                              "earlier outputs are kept) and quit?", yes="Stop and quit"),
                self._quit_confirmed,
            )
        else:
            self.exit()

    def _quit_confirmed(self, yes: bool | None) -> None:
        if yes:
            project = self.project_screen
            if project.cancel_token is not None:
                project.cancel_token.cancel()
            self.exit()

    def edit_file(self, path: Path) -> bool:
        """Open ``path`` in ``$VISUAL`` / ``$EDITOR`` (default ``vi``) with the TUI suspended.

        Returns
        -------
        bool
            False if the editor could not be started (a message says why).
        """
        from textual.app import SuspendNotSupported

        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        try:
            with self.suspend():
                subprocess.run([*editor, str(path)], check=False)
        except SuspendNotSupported:
            self.push_screen(ErrorScreen("cannot open an editor here",
                                         f"this terminal cannot suspend the TUI; edit {path} in another shell"))
            return False
        except OSError as exc:
            self.push_screen(ErrorScreen("cannot start the editor",
                                         f"{editor[0]}: {exc.strerror} (set $EDITOR to an installed editor)"))
            return False
        return True

    # -- command palette: one command per binding that applies now ----------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from binding_commands(screen, [screen.focused] if screen.focused else [])
        for b in self.BINDINGS:
            yield SystemCommand(command_title(b), f"key {b.key_display or b.key}", partial(self.run_action, b.action))
        yield from (c for c in super().get_system_commands(screen) if c.title not in ("Quit", "Keys"))


def binding_commands(screen: Screen, widgets: list) -> Iterable[SystemCommand]:
    """A palette command for each binding of ``screen`` and ``widgets``: runnable when its action applies
    now, else listed as ``(unavailable)`` with the reason (``why_not``), which choosing it shows.

    Keys and commands cannot drift apart: both come from the same ``Binding`` (the footer
    word and the tooltip make the title, the key the help), and ``check_action`` filters both.
    """
    for node in [*widgets, screen]:
        if node is None or not type(node).__module__.startswith("avstudio."):
            continue
        for b in type(node).__dict__.get("BINDINGS", []):
            if not isinstance(b, Binding) or not b.description:
                continue
            action = b.action
            name = action.split("(", 1)[0]
            key = b.key_display or b.key.split(",")[0]
            if node.check_action(name, ()) is True:
                yield SystemCommand(command_title(b), f"key {key}", partial(node.run_action, action))
                continue
            why = getattr(node, "why_not", lambda _: None)(name)
            if why:  # listed, marked unavailable, and choosing it says why
                yield SystemCommand(f"(unavailable) {command_title(b)}", f"key {key}: {why}",
                                    partial(node.notify, f"{b.description}: {why}", severity="warning"))


def command_title(binding: Binding) -> str:
    """``Force: Rerun the selected stage even if it is fresh`` (footer word, then what it does)."""
    return f"{binding.description}: {binding.tooltip}" if binding.tooltip else binding.description
