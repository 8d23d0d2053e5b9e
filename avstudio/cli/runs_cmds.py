"""Clients of a running run: ``avstudio attach``, ``stop`` and ``logs``."""

from __future__ import annotations

import time

import click

from avstudio.cli.common import complete_stages, interactive, open_workspace, workspace_option


def _running(ws, directory: str) -> dict:
    from avstudio.errors import LockError
    from avstudio.pipeline.runs import current_run

    holder = current_run(ws.layout)
    if not holder or not holder.get("run_id"):
        raise LockError(f"no run is going on in {directory}", hint=f"start one with `avstudio run -C {directory} --detach`")
    return holder


@click.command()
@workspace_option
def attach(directory: str) -> None:
    """Follow the running run with progress bars, from its start; exit with its exit code when it ends.

    Leaving (Ctrl-C) only stops following: the run keeps going.
    """
    from avstudio.cli.reporters import make_reporter
    from avstudio.pipeline.runs import exit_code, follow

    ws = open_workspace(directory)
    holder = _running(ws, directory)
    click.echo(f"attached to run {holder['run_id']} (pid {holder.get('pid')}); Ctrl-C leaves it running", err=True)
    reporter = make_reporter(as_json=False, interactive=interactive())
    seen = []
    try:
        for event in follow(ws.layout, holder["run_id"]):
            seen.append(event)
            reporter(event)
    except KeyboardInterrupt:
        reporter.close()
        click.echo("detached; the run goes on", err=True)
        raise SystemExit(0) from None
    reporter.close()
    code = exit_code(seen)
    if not any(e.kind == "run_finished" for e in seen):
        click.echo(f"error: run {holder['run_id']} ended without finishing (killed?); see `avstudio status -C "
                   f"{directory}`", err=True)
    raise SystemExit(code)


@click.command()
@workspace_option
def stop(directory: str) -> None:
    """Ask the running run to stop at its next chunk (the stage is marked interrupted, earlier outputs kept)."""
    from avstudio.pipeline.runs import request_stop

    ws = open_workspace(directory)
    holder = _running(ws, directory)
    pid = request_stop(holder)
    click.echo(f"asked run {holder['run_id']} (pid {pid}) to stop at the next chunk; "
               f"`avstudio run -C {directory}` resumes")


def _log_line(event) -> str | None:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    kind = event.kind
    if kind == "log":
        return f"{stamp} [{event.stage}] {event.message}"
    if kind == "stage_started":
        return f"{stamp} [{event.stage}] started ({event.reason})"
    if kind == "stage_finished":
        return f"{stamp} [{event.stage}] done in {event.seconds:.2f} s"
    if kind == "stage_failed":
        return f"{stamp} [{event.stage}] {'interrupted' if event.interrupted else 'failed'}: {event.message}"
    if kind == "run_started":
        return f"{stamp} run {event.run_id} started: {', '.join(event.plan) or 'nothing to do'}"
    if kind == "run_finished":
        what = "interrupted" if event.interrupted else ("ok" if event.ok else "failed")
        return f"{stamp} run {event.run_id} {what} in {event.seconds:.1f} s"
    return None


@click.command()
@click.argument("stage", required=False, shell_complete=complete_stages)
@workspace_option
@click.option("--run", "run_id", metavar="ID", help="A run id (or a unique start of one); default: the running or last run.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
def logs(stage: str | None, directory: str, run_id: str | None, follow: bool) -> None:
    """Print a run's log (all stages, or STAGE's), past and, with -f, live."""
    from avstudio.errors import ManifestError
    from avstudio.pipeline.runs import current_run, events_of, follow as follow_run, run_ids

    ws = open_workspace(directory)
    if stage and stage not in ws.stages:
        raise ManifestError(f"no stage named '{stage}' in this {ws.manifest.template} workspace",
                            hint=f"stages: {', '.join(ws.stages)}")
    ids = run_ids(ws.layout)
    if run_id:
        matches = [i for i in ids if i.startswith(run_id)]
        if len(matches) != 1:
            from avstudio.errors import LockError

            raise LockError(f"no run {run_id!r} in {directory}" if not matches else
                            f"run id {run_id!r} is ambiguous: {', '.join(matches)}",
                            hint="`avstudio logs` without --run shows the last run")
        run_id = matches[0]
    else:
        holder = current_run(ws.layout)
        run_id = (holder or {}).get("run_id") or (ids[-1] if ids else None)
    if run_id is None:
        click.echo(f"no runs yet in {directory}")
        return
    events = follow_run(ws.layout, run_id) if follow else iter(events_of(ws.layout, run_id))
    for event in events:
        if stage and getattr(event, "stage", None) != stage and event.kind not in ("run_started", "run_finished"):
            continue
        line = _log_line(event)
        if line:
            click.echo(line)


COMMANDS = [attach, stop, logs]
