"""The JSON-lines event log in ``logs/events.jsonl``: written by runs, followed by the TUI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from avstudio.pipeline.events import Event, event_from_dict


class EventLogWriter:
    """Appends events, one JSON object per line, flushed per event."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def write(self, event: Event) -> None:
        self._file.write(json.dumps(event.to_dict(), default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class EventLogFollower:
    """Reads events appended to the log since the last call (``tail -f`` without blocking).

    Parameters
    ----------
    path : Path
    from_end : bool
        Start at the current end of the file (only new events) instead of the start.
    """

    def __init__(self, path: Path, *, from_end: bool = False) -> None:
        self.path = path
        self._offset = path.stat().st_size if from_end and path.exists() else 0
        self._partial = ""

    def poll(self) -> Iterator[Event]:
        """Events written since the previous poll; half-written lines wait for the next."""
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                yield event_from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue


def last_run_events(path: Path) -> list[Event]:
    """The events of the newest run in the log (from its RunStarted on)."""
    events = list(EventLogFollower(path).poll())
    for i in range(len(events) - 1, -1, -1):
        if events[i].kind == "run_started":
            return events[i:]
    return events
