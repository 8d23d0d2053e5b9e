"""Between the UI-free core and the TUI: runner events to messages, following a headless run.

Nothing here touches a widget; the functions run in workers or in timer callbacks and
hand plain data (or messages) to the screen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from textual.message_pump import MessagePump

from avstudio.pipeline.eventlog import EventLogFollower
from avstudio.pipeline.events import Event, Log
from avstudio.tui.messages import PipelineEvent

LOG_LINES_KEPT = 500
"""Log lines kept per stage for the log pane."""


def event_poster(target: MessagePump) -> Callable[[Event], None]:
    """An ``on_event`` callback for the runner that re-posts each event as a message.

    ``post_message`` is thread-safe, so the runner's worker thread may call it.
    """

    def on_event(event: Event) -> None:
        target.post_message(PipelineEvent(event))

    return on_event


def read_history(path: Path) -> tuple[dict[str, list[Log]], list[Event], EventLogFollower]:
    """Read the event log once: each stage's latest log lines and the newest run's events.

    Parameters
    ----------
    path : Path
        ``logs/events.jsonl`` (may not exist yet).

    Returns
    -------
    logs : dict of str to list of Log
        Per stage, the log lines of its most recent run (at most ``LOG_LINES_KEPT``).
    last_run : list of Event
        The newest run's events since its ``RunStarted`` (log lines left out, and only
        the latest progress event of each stage).
    follower : EventLogFollower
        Positioned after the last complete line, for following what is appended next.
    """
    follower = EventLogFollower(path)
    logs: dict[str, list[Log]] = {}
    last_run: list[Event] = []
    progress_at: dict[str, int] = {}  # only a stage's latest progress event is worth replaying
    for event in follower.poll():
        stage = getattr(event, "stage", "")
        if event.kind == "run_started":
            last_run, progress_at = [], {}
        if isinstance(event, Log):
            lines = logs.setdefault(stage, [])
            lines.append(event)
            if len(lines) > LOG_LINES_KEPT:
                del lines[: len(lines) - LOG_LINES_KEPT]
            continue
        if event.kind == "stage_started":
            logs[stage] = []
        if event.kind == "progress" and stage in progress_at:
            last_run[progress_at[stage]] = event
            continue
        if event.kind == "progress":
            progress_at[stage] = len(last_run)
        last_run.append(event)
    return logs, last_run, follower


def other_process(holder: dict[str, Any] | None) -> bool:
    """True when the lock is held by another process (a headless ``avstudio run``)."""
    return bool(holder) and holder.get("pid") != os.getpid()


