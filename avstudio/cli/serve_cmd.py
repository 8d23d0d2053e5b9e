"""``avstudio serve``: the TUI in a browser, through textual-serve."""

from __future__ import annotations

import click

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _port_free(host: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@click.command()
@click.argument("path", metavar="[DIR]", default=None, required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("-C", "directory", default=".", metavar="DIR", show_default=True,
              type=click.Path(file_okay=False, path_type=str), help="Workspace directory (same as the argument).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only this machine can connect unless you name another address.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(path: str | None, directory: str, host: str, port: int) -> None:
    """Serve the TUI of the workspace in DIRECTORY to a web browser (textual-serve).

    Each browser tab gets its own TUI. By default only this machine can connect;
    from your laptop, forward the port over SSH and open the printed address:

    \b
      ssh -L 8000:127.0.0.1:8000 you@gpu-box
      http://127.0.0.1:8000
    """
    import shlex
    import sys
    from pathlib import Path

    from avstudio.errors import AvStudioError
    from avstudio.workspace.workspace import Workspace

    ws = Workspace(path or directory)  # a one-line error (not a workspace) before anything listens
    if not _port_free(host, port):
        raise AvStudioError(f"port {port} on {host} is in use (another `avstudio serve`?)",
                            hint=f"pass another port, e.g. --port {port + 1}")
    if host not in LOCAL_HOSTS:
        click.echo(f"warning: serving on {host}:{port}: anyone who can reach this address can start and stop "
                   "runs in this workspace", err=True)
    from textual_serve.server import Server

    command = f"{shlex.quote(sys.executable)} -m avstudio tui {shlex.quote(str(Path(ws.root).resolve()))}"
    click.echo(f"serving the TUI of {ws.root} at http://{host}:{port} (Ctrl-C stops serving)")
    if host in LOCAL_HOSTS:
        click.echo(f"from another machine: ssh -L {port}:127.0.0.1:{port} <this host>, then open "
                   f"http://127.0.0.1:{port}")
    Server(command, host=host, port=port, title=f"avstudio: {ws.manifest.get('project.name')}").serve()


COMMANDS = [serve]
