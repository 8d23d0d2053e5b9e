"""``avstudio tui``: the terminal UI. Textual is imported only when the command runs."""

from __future__ import annotations

import click


@click.command()
@click.argument("path", metavar="[DIR]", default=None, required=False,
                type=click.Path(file_okay=False, path_type=str))
@click.option("-C", "directory", default=".", metavar="DIR", show_default=True,
              type=click.Path(file_okay=False, path_type=str), help="Workspace directory (same as the argument).")
@click.option("--device", "device", default=None, metavar="LABEL",
              help="Device label for the header (skips detection), e.g. cpu.")
def tui(path: str | None, directory: str, device: str | None) -> None:
    """Open the terminal UI on the workspace in DIRECTORY (default: here).

    \b
    Stage table with states and why, live progress and logs, runs as their own
    processes that outlive the TUI and the SSH session (r run, f force,
    d downstream, a all stale, x stop), stage details (enter), checkpoints (c),
    the manifest in $EDITOR (e), help (?); q leaves, the run goes on. A run
    started with `avstudio run` in another terminal is followed live.
    Works over SSH at 80x24 with the keyboard only.
    """
    from avstudio.workspace.workspace import Workspace

    ws = Workspace(path or directory)  # a one-line error (not a workspace) before the screen opens
    from avstudio.tui.app import AvStudioApp

    AvStudioApp(ws, device=device).run()


COMMANDS = [tui]
