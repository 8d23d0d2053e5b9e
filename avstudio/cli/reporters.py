"""Turning runner events into terminal output: Rich progress bars, plain lines, or JSON lines."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from avstudio.humanize import rate
from avstudio.pipeline.events import Event


def _rate(value: float | None, unit: str) -> str:
    return rate(value, unit).replace("frames/s", "fps")


def print_traceback(event: Event) -> None:
    """With ``AVSTUDIO_DEBUG=1``, the traceback a failed stage left in its event, on stderr."""
    from avstudio.errors import debug

    if debug() and getattr(event, "traceback", "") and not event.interrupted:
        click.echo(event.traceback.rstrip("\n"), err=True)


class JsonReporter:
    """One JSON object per event per line (``--json``)."""

    def __call__(self, event: Event) -> None:
        click.echo(json.dumps(event.to_dict(), default=str))

    def close(self) -> None:
        pass


class PlainReporter:
    """Log lines for non-interactive output (CI logs, nohup, pipes)."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._finished: set[str] = set()

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind == "stage_started":
            self._finished.discard(event.stage)
            click.echo(f"[{event.stage}] started ({event.reason})")
        elif kind == "progress":
            now = time.monotonic()
            done_all = event.total is not None and event.done >= event.total
            if done_all and event.stage in self._finished:
                return
            if now - self._last.get(event.stage, 0.0) >= self.every or done_all:
                if done_all:
                    self._finished.add(event.stage)
                self._last[event.stage] = now
                total = f"/{event.total:,.0f}" if event.total else ""
                rate = _rate(event.rate, event.unit)
                loss = event.metrics.get("val_loss")
                click.echo(f"[{event.stage}] {event.done:,.0f}{total} {event.unit}" + (f" ({rate})" if rate else "")
                           + (f", val loss {loss:.4g}" if loss is not None else ""))
        elif kind == "log":
            prefix = "warning: " if event.level == "warning" else ""
            click.echo(f"[{event.stage}] {prefix}{event.message}")
        elif kind == "stage_finished":
            click.echo(f"[{event.stage}] done in {event.seconds:.2f} s")
        elif kind == "stage_failed":
            what = "interrupted" if event.interrupted else "failed"
            click.echo(f"[{event.stage}] {what}: {event.message}", err=True)
            print_traceback(event)
        elif kind == "stage_skipped":
            click.echo(f"[{event.stage}] skipped: {event.reason}")

    def close(self) -> None:
        pass


class RichReporter:
    """A Rich progress bar per stage (frames/s, ETA) and log lines above them."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        kind = event.kind
        p = self.progress
        if kind == "stage_started":
            self.tasks[event.stage] = p.add_task(event.stage, total=None, unit="", rate="")
            p.console.print(f"[bold]{event.stage}[/]: [dim]{event.reason}[/]")
        elif kind == "progress" and event.stage in self.tasks:
            loss = event.metrics.get("val_loss")
            p.update(self.tasks[event.stage], completed=event.done, total=event.total, unit=event.unit,
                     rate=_rate(event.rate, event.unit) + (f" val loss {loss:.4g}" if loss is not None else ""))
        elif kind == "log":
            style = "yellow" if event.level == "warning" else "dim"
            p.console.print(f"  [{style}]{event.stage}: {event.message}[/]")
        elif kind == "stage_finished":
            task = self.tasks.get(event.stage)
            if task is not None:
                total = p.tasks[task].total or p.tasks[task].completed or 1
                p.update(task, completed=total, total=total)
            p.console.print(f"[green]✓[/] {event.stage} [dim]({event.seconds:.2f} s)[/]")
        elif kind == "stage_failed":
            what = "interrupted" if event.interrupted else "failed"
            p.console.print(f"[red]✗ {event.stage} {what}[/]: {event.message}")
            print_traceback(event)
        elif kind == "stage_skipped":
            p.console.print(f"[dim]· {event.stage}: {event.reason}[/]")

    def close(self) -> None:
        self.progress.stop()


class Quiet:
    """Wraps a reporter so a closed pipe (``avstudio run | head``) or a vanished terminal (SIGHUP) never
    raises into the run: output stops, the run goes on."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter
        self.gone = False

    def __call__(self, event: Event) -> None:
        if self.gone:
            return
        try:
            self.reporter(event)
        except OSError:  # BrokenPipeError, EIO from a closed terminal
            self.gone = True
            silence_stdout()

    def close(self) -> None:
        if not self.gone:
            try:
                self.reporter.close()
            except OSError:
                silence_stdout()


def silence_stdout() -> None:
    """Point stdout and stderr at /dev/null so nothing more is written to a closed pipe or terminal."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass


def make_reporter(*, as_json: bool, interactive: bool):
    if as_json:
        return Quiet(JsonReporter())
    return Quiet(RichReporter() if interactive else PlainReporter())
