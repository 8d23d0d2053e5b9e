"""The ``avstudio`` command line. Imports no heavy library (torch, cv2, librosa, h5py).

Each command group lives in its own module; this module only assembles them.
"""

from __future__ import annotations

import click

from avstudio import __version__
from avstudio.cli.common import AvGroup


@click.group(cls=AvGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avstudio")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """avstudio: cross-modal audio <-> visual generation in a project workspace.

    \b
    Quick start:
      avstudio demo                      make a workspace from the bundled clip and run it
      avstudio init DIR --template sonify --video clip.mp4
      avstudio run -C DIR                run the stale stages (progress bars, Ctrl-C stops cleanly)
      avstudio status -C DIR             every stage: fresh / stale / missing / failed / interrupted / running, and why
      avstudio tui DIR                   the terminal UI (also: `avstudio` with no arguments in a workspace)

    Set AVSTUDIO_DEBUG=1 to see tracebacks.
    """
    if ctx.invoked_subcommand is None:
        from pathlib import Path

        if (Path.cwd() / "avstudio.toml").is_file() and "tui" in cli.commands:
            ctx.invoke(cli.commands["tui"], directory=".")
        else:
            click.echo(ctx.get_help())


def _register() -> None:
    from avstudio.cli import info_cmds, painter_cmds, run_cmds, runs_cmds, serve_cmd, workspace_cmds

    for module in (workspace_cmds, run_cmds, runs_cmds, painter_cmds, info_cmds, serve_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)
    try:
        from avstudio.cli import tui_cmd
    except ImportError:  # pragma: no cover - TUI module optional during development
        return
    cli.add_command(tui_cmd.tui)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="avstudio")
