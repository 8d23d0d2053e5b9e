"""Textual messages carrying the runner's plain events (and other background results) to widgets.

Threads never touch widgets: a worker posts one of these and the screen's handlers,
running on the event loop, update the widgets.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from avstudio.pipeline.events import Event, Progress


class PipelineEvent(Message):
    """One runner event, from a run in this process or followed in ``logs/events.jsonl``.

    Parameters
    ----------
    event : avstudio.pipeline.events.Event
    headless : bool
        True when the event comes from another process (``avstudio run`` in a terminal).
    """

    def __init__(self, event: Event, *, headless: bool = False) -> None:
        super().__init__()
        self.event = event
        self.headless = headless

    def can_replace(self, message: Message) -> bool:
        """A newer progress event of the same stage supersedes this one (bursts collapse)."""
        return (
            isinstance(self.event, Progress)
            and isinstance(message, PipelineEvent)
            and isinstance(message.event, Progress)
            and message.event.stage == self.event.stage
        )


class StatusRefreshed(Message):
    """The stage statuses were recomputed (in a worker).

    Parameters
    ----------
    statuses : list of StageStatus
    error : str or None
        Why the status could not be computed (e.g. a manifest with a syntax error).
    """

    def __init__(self, statuses: list[Any], *, error: str | None = None) -> None:
        super().__init__()
        self.statuses = statuses
        self.error = error


class HistoryLoaded(Message):
    """The event log was read once at start-up.

    Parameters
    ----------
    logs : dict of str to list of Log
        Each stage's log lines from its most recent run.
    last_run : list of Event
        The events of the newest run (replayed when attaching to a run in progress).
    follower : EventLogFollower
        Positioned at the end of the log, for following new events.
    """

    def __init__(self, logs: dict[str, list[Any]], last_run: list[Event], follower: Any) -> None:
        super().__init__()
        self.logs = logs
        self.last_run = last_run
        self.follower = follower
