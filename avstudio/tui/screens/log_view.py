"""The full-screen log of one stage: every run's lines from the event log, scrollable by keyboard."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, RichLog

from avstudio.tui.widgets.log_pane import log_line


def stage_log_lines(layout: Any, stage: str, *, runs: int = 20) -> list[Text]:
    """The log lines of ``stage`` in its last ``runs`` runs, each run under a heading, oldest first."""
    from avstudio.pipeline.eventlog import EventLogFollower
    from avstudio.pipeline.events import Log

    by_run: dict[str, list[Any]] = {}
    started: dict[str, float] = {}
    for event in EventLogFollower(layout.event_log).poll():
        if event.kind == "run_started":
            started[event.run_id] = event.time
        if getattr(event, "stage", None) != stage:
            continue
        if event.kind == "log":
            by_run.setdefault(event.run_id, []).append(event)
        elif event.kind == "stage_failed":
            what = "interrupted" if event.interrupted else "failed"
            by_run.setdefault(event.run_id, []).append(Log(stage=stage, level="warning" if event.interrupted else
                                                           "error", message=f"{what}: {event.message}",
                                                           time=event.time))
        elif event.kind == "stage_finished":
            by_run.setdefault(event.run_id, []).append(Log(stage=stage, message=f"done in {event.seconds:.2f} s",
                                                           time=event.time))
    out: list[Text] = []
    for run_id in list(by_run)[-runs:]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started.get(run_id, by_run[run_id][0].time)))
        out.append(Text(f"── run {run_id} · {when} ──", style="bold"))
        out.extend(log_line(event) for event in by_run[run_id])
    return out or [Text(f"(no log lines for {stage} yet)", style="dim")]


class LogScreen(Screen):
    """``stage``'s log over its past runs, full screen; arrows, page keys, home/end scroll, escape leaves."""

    BINDINGS = [
        Binding("escape,l,q", "app.pop_screen", "Back", id="log.back", tooltip="Back to the stage table"),
        Binding("g", "scroll_home", "Top", id="log.top", show=False, tooltip="Scroll to the first line"),
        Binding("G", "scroll_end", "End", id="log.end", show=False, tooltip="Scroll to the last line"),
    ]

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage

    def compose(self) -> ComposeResult:
        log = RichLog(wrap=True, markup=False, highlight=False, id="full-log")
        log.border_title = f"log · {self.stage} · past runs"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in stage_log_lines(self.app.ws.layout, self.stage):
            log.write(line)
        log.focus()

    def action_scroll_home(self) -> None:
        self.query_one(RichLog).scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.query_one(RichLog).scroll_end(animate=False)
