"""``avstudio run`` and ``avstudio status``."""

from __future__ import annotations

import signal
import time

import click

from avstudio.cli.common import (complete_stages, interactive, json_option, open_workspace, print_json,
                                 workspace_option)
from avstudio.humanize import STATE_ICON, clock, duration, size

STATE_STYLE = {"fresh": "green", "stale": "yellow", "missing": "blue", "failed": "red", "interrupted": "magenta",
               "running": "cyan"}


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each stops a run at the next chunk (stage marked interrupted, lock released); exit 128 + signal."""


def _say(message: str) -> None:
    """Print to stderr unless the terminal is gone (SIGHUP: writing would fail)."""
    try:
        click.echo(message, err=True)
    except OSError:
        pass


def run_with_sigint(ws, targets, *, force, downstream, reporter, command=None, run_id=None):
    """Run the pipeline; Ctrl-C, SIGTERM or SIGHUP cancel at the next chunk, a second Ctrl-C aborts.

    Returns the runner's result with ``signal`` set to the number of the signal
    that stopped it (None otherwise).
    """
    from avstudio.cancel import CancelToken
    from avstudio.pipeline.runner import run as run_pipeline

    cancel = CancelToken()
    received: list[int] = []

    def on_signal(signum, frame):
        if cancel.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        cancel.cancel()
        what = "Ctrl-C again to abort" if signum == signal.SIGINT else signal.Signals(signum).name
        _say(f"\nstopping at the next chunk ({what}); `avstudio run --detach` starts runs that outlive the terminal")

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        result = run_pipeline(ws, targets, force=force, downstream=downstream,
                              on_event=reporter, cancel=cancel, command=command, run_id=run_id)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reporter.close()
    result.signal = received[0] if received else None
    return result


@click.command()
@click.argument("stages", nargs=-1, metavar="[STAGE]...", shell_complete=complete_stages)
@workspace_option
@click.option("--force", "-f", is_flag=True, help="Rerun the named stages (all if none) even if fresh.")
@click.option("--downstream", "-d", is_flag=True, help="Also run everything that depends on the named stages.")
@click.option("--detach", is_flag=True,
              help="Start the run in its own session and return at once: it outlives the terminal, SSH and the TUI. "
                   "Output goes to DIR/logs/run-<id>.log; follow with `avstudio attach`, stop with `avstudio stop`.")
@click.option("--dry-run", "-n", is_flag=True, help="Print what would run, and why, without running anything.")
@click.option("--run-id", hidden=True, help="Run id to use (set by --detach for the process it starts).")
@json_option
def run(stages: tuple[str, ...], directory: str, force: bool, downstream: bool, detach: bool, dry_run: bool,
        run_id: str | None, as_json: bool) -> None:
    """Run the stale stages needed for STAGE... (all stages by default).

    Stages whose inputs, params and upstream are unchanged are skipped. Progress
    bars show frames/s and ETA when the terminal is interactive; plain lines
    otherwise; --json prints one event per line. Every run also appends its
    events to DIR/logs/events.jsonl. Ctrl-C (or SIGTERM, or SIGHUP when the
    terminal goes away) stops cleanly at the next chunk and keeps the previous
    outputs; --detach starts a run that survives all of them.
    """
    from avstudio.cli.reporters import make_reporter

    ws = open_workspace(directory)
    if dry_run:
        _print_plan(ws, stages, force=force, downstream=downstream, as_json=as_json)
        return
    if detach:
        from avstudio.pipeline.runs import start_detached

        started = start_detached(ws.layout, stages, force=force, downstream=downstream)
        if as_json:
            print_json(started)
        else:
            click.echo(f"started run {started['run_id']} (pid {started['pid']}) in the background; "
                       f"log: {started['log']}")
            click.echo(f"follow: avstudio attach -C {directory}   |   stop: avstudio stop -C {directory}   |   "
                       f"logs: avstudio logs -C {directory} -f")
        return
    reporter = make_reporter(as_json=as_json, interactive=interactive())
    result = run_with_sigint(ws, stages, force=force, downstream=downstream, reporter=reporter, run_id=run_id)
    if not as_json:
        if result.interrupted:
            _say("interrupted: the stage was marked interrupted; earlier outputs are intact")
        elif result.failed:
            _say(f"failed: {', '.join(result.failed)} (see `avstudio status -C {directory}`)")
        elif not result.ran:
            click.echo("nothing to do: every stage is fresh")
    raise SystemExit(128 + result.signal if result.interrupted and result.signal else result.exit_code)


def _print_plan(ws, stages, *, force: bool, downstream: bool, as_json: bool) -> None:
    """``run --dry-run``: each stage of the plan, whether it would run, and why (upstream stages that would
    rerun make their dependents run too, as in the real run)."""
    from avstudio.pipeline import graph

    deps = ws.deps
    order = graph.plan(deps, stages, downstream=downstream)
    forced = graph.forced(deps, stages, force=force, downstream=downstream)
    status = {s.name: s for s in ws.status()}
    runs: dict[str, list[str]] = {}
    for name in order:
        st = status[name]
        upstream = [d for d in graph.ancestors(deps, name) if d in runs]
        if st.state != "fresh":
            runs[name] = st.reasons or [st.state]
        elif name in forced:
            runs[name] = ["forced"]
        elif upstream:
            runs[name] = [f"upstream {upstream[-1]} reruns"]
    if as_json:
        print_json([{"stage": n, "runs": n in runs, "why": runs.get(n, [])} for n in order])
        return
    for name in order:
        if name in runs:
            click.echo(f"would run {name:<10} ({'; '.join(runs[name])})")
        else:
            click.echo(f"skip      {name:<10} (fresh)")
    if not runs:
        click.echo("nothing to do: every stage is fresh")


@click.command()
@workspace_option
@json_option
def status(directory: str, as_json: bool) -> None:
    """Show every stage's state (fresh, stale, missing, failed, interrupted, running) and why."""
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
