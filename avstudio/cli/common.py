"""Options shared by every command (defined once) and the error boundary."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import click

from avstudio.errors import AvStudioError, debug

workspace_option = click.option(
    "-C", "directory", default=".", metavar="DIR", show_default=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Workspace directory to act on (like git -C / make -C).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def interactive() -> bool:
    """True when stdout is a terminal (progress bars, colours)."""
    return sys.stdout.isatty()


def open_workspace(directory: str, *, template: str | None = None, command: str | None = None):
    """Open the workspace in ``directory``; with ``template``, refuse one of another template in one line."""
    from avstudio.workspace.workspace import Workspace

    ws = Workspace(directory)
    if template and ws.manifest.template != template:
        from avstudio.errors import ManifestError

        raise ManifestError(
            f"`avstudio {command}` works on {template} workspaces; {directory} is a {ws.manifest.template} workspace",
            hint=f"make one with `avstudio init DIR --template {template} --video CLIP`",
        )
    return ws


class AvGroup(click.Group):
    """The top-level group: turns AvStudioError into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AvStudioError as exc:
            if debug():
                traceback.print_exc()
            click.echo(f"error: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `avstudio status | head`: the reader has what it wanted
            from avstudio.cli.reporters import silence_stdout

            silence_stdout()
            ctx.exit(0)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a bug: one line unless debugging
            if debug():
                traceback.print_exc()
            click.echo(
                f"error: internal error: {type(exc).__name__}: {exc} "
                "(set AVSTUDIO_DEBUG=1 for the traceback and report it)",
                err=True,
            )
            ctx.exit(1)


def complete_stages(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion: the stage names of the workspace in ``-C DIR`` (or here)."""
    try:
        from avstudio.workspace.workspace import Workspace

        names = list(Workspace(ctx.params.get("directory") or ".").stages)
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_checkpoints(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion: ``best``, ``latest`` and the checkpoint names of the workspace in ``-C DIR``."""
    try:
        from pathlib import Path

        from avstudio.mapper.checkpoint import list_checkpoints

        root = Path(ctx.params.get("directory") or ".") / "checkpoints"
        names = ["best", "latest"] + [i.name for i in list_checkpoints(root)]
    except Exception:  # noqa: BLE001
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_templates(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion: the workspace templates."""
    from avstudio.workspace.sections import TEMPLATES

    return [t for t in TEMPLATES if t.startswith(incomplete)]
