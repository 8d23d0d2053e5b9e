"""``avstudio run`` and ``avstudio status``."""

from __future__ import annotations

import signal
import time

import click

from avstudio.cli.common import interactive, json_option, open_workspace, print_json, workspace_option
from avstudio.humanize import STATE_ICON, clock, duration, size

STATE_STYLE = {"fresh": "green", "stale": "yellow", "missing": "blue", "failed": "red", "running": "cyan"}


def run_with_sigint(ws, targets, *, force, downstream, reporter, command=None):
    """Run the pipeline; the first Ctrl-C cancels at the next chunk, a second one aborts."""
    from avstudio.cancel import CancelToken
    from avstudio.pipeline.runner import run as run_pipeline

    cancel = CancelToken()

    def on_sigint(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        click.echo("\nstopping at the next chunk (Ctrl-C again to abort)...", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return run_pipeline(ws, targets, force=force, downstream=downstream,
                            on_event=reporter, cancel=cancel, command=command)
    finally:
        signal.signal(signal.SIGINT, previous)
        reporter.close()


@click.command()
@click.argument("stages", nargs=-1, metavar="[STAGE]...")
@workspace_option
@click.option("--force", "-f", is_flag=True, help="Rerun the named stages (all if none) even if fresh.")
@click.option("--downstream", "-d", is_flag=True, help="Also run everything that depends on the named stages.")
@json_option
def run(stages: tuple[str, ...], directory: str, force: bool, downstream: bool, as_json: bool) -> None:
    """Run the stale stages needed for STAGE... (all stages by default).

    Stages whose inputs, params and upstream are unchanged are skipped. Progress
    bars show frames/s and ETA when the terminal is interactive; plain lines
    otherwise; --json prints one event per line. Every run also appends its
    events to DIR/logs/events.jsonl. Ctrl-C stops cleanly at the next chunk and
    keeps the previous outputs.
    """
    from avstudio.cli.reporters import make_reporter

    ws = open_workspace(directory)
    reporter = make_reporter(as_json=as_json, interactive=interactive())
    result = run_with_sigint(ws, stages, force=force, downstream=downstream, reporter=reporter)
    if not as_json:
        if result.interrupted:
            click.echo("interrupted: the stage was marked interrupted; earlier outputs are intact", err=True)
        elif result.failed:
            click.echo(f"failed: {', '.join(result.failed)} (see `avstudio status -C {directory}`)", err=True)
        elif not result.ran:
            click.echo("nothing to do: every stage is fresh")
    raise SystemExit(result.exit_code)


@click.command()
@workspace_option
@json_option
def status(directory: str, as_json: bool) -> None:
    """Show every stage's state (fresh, stale, missing, failed, running) and why."""
    ws = open_workspace(directory)
    rows = ws.status()
    if as_json:
        print_json({"workspace": str(ws.root), "template": ws.manifest.template,
                    "stages": [r.to_dict() for r in rows]})
        return
    if interactive():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{ws.manifest.get('project.name')} ({ws.manifest.template}) - {ws.root}")
        for col in ("stage", "state", "why", "last run", "took", "output"):
            table.add_column(col)
        for r in rows:
            style = STATE_STYLE[r.state]
            table.add_row(r.name, f"[{style}]{STATE_ICON[r.state]} {r.state}[/]", "\n".join(r.reasons),
                          clock(r.last_finished), duration(r.last_seconds), size(r.output_bytes))
        Console().print(table)
        return
    for r in rows:
        why = f"  ({'; '.join(r.reasons)})" if r.reasons else ""
        click.echo(f"{r.name:<10} {r.state:<8}{why}")


COMMANDS = [run, status]
