"""The JSON-lines event log in ``logs/events.jsonl``: written by runs, followed by the TUI."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Iterator

from avstudio.errors import WorkspaceError
from avstudio.files import translate_os_errors
from avstudio.pipeline.events import Event, event_from_dict


class EventLogWriter:
    """Appends events, one JSON object per line, written through per event.

    A write that fails (disk full) raises one :class:`StorageError`; after
    that the log is closed and later events are dropped, so the failure of the
    stage in progress is still reported to the run's front-end.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with translate_os_errors(path.parent, what=path.name):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, event: Event) -> None:
        if self._fd is None:
            return
        line = (json.dumps(event.to_dict(), default=str) + "\n").encode("utf-8")
        try:
            with translate_os_errors(self.path.parent, needed_bytes=len(line), what=self.path.name):
                written = os.write(self._fd, line)  # one append per line: never half a line plus the next
                if written != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


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
        self._partial = b""

    def poll(self) -> Iterator[Event]:
        """Events written since the previous poll; half-written lines wait for the next.

        Lines that are not events (damaged, not UTF-8, fields of the wrong type) are skipped.

        Raises
        ------
        WorkspaceError
            The log is a folder or cannot be read.
        """
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise WorkspaceError(f"cannot read the event log {self.path}: {exc.strerror or exc}",
                                 hint="move it aside and the next run starts a new one") from None
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                yield event_from_dict(json.loads(line.decode("utf-8")))
            except (ValueError, KeyError, TypeError):
                continue


def last_run_events(path: Path) -> list[Event]:
    """The events of the newest run in the log (from its RunStarted on)."""
    events = list(EventLogFollower(path).poll())
    for i in range(len(events) - 1, -1, -1):
        if events[i].kind == "run_started":
            return events[i:]
    return events
