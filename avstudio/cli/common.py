"""Options shared by every command (defined once) and the error boundary."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import click

from avstudio.errors import AvStudioError

workspace_option = click.option(
    "-C", "directory", default=".", metavar="DIR", show_default=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Workspace directory to act on (like git -C / make -C).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def debug() -> bool:
    return os.environ.get("AVSTUDIO_DEBUG", "") not in ("", "0")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def interactive() -> bool:
    """True when stdout is a terminal (progress bars, colours)."""
    return sys.stdout.isatty()


def open_workspace(directory: str):
    from avstudio.workspace.workspace import Workspace

    return Workspace(directory)


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
