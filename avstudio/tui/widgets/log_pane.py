"""The log pane: the selected stage's log lines, following new ones live."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from avstudio.pipeline.events import Log
from avstudio.tui.bridge import LOG_LINES_KEPT

_LEVEL_STYLE = {"warning": "yellow", "error": "red", "debug": "dim"}


def log_line(event: Log) -> Text:
    """``12:01:05 message`` (warnings and errors coloured and prefixed)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time)) if event.time else ""
    text = Text(no_wrap=False)
    text.append(stamp + " ", style="dim")
    prefix = f"{event.level}: " if event.level in ("warning", "error") else ""
    text.append(prefix + event.message, style=_LEVEL_STYLE.get(event.level))
    return text


class LogPane(RichLog):
    """Per-stage log buffers; shows one stage (the selected one) and appends live."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=LOG_LINES_KEPT, wrap=True, markup=False, highlight=False, **kwargs)
        self.buffers: dict[str, deque[Log]] = {}
        self.stage: str | None = None
        self.can_focus = False

    def set_history(self, logs: dict[str, list[Log]]) -> None:
        """Fill the buffers from the event log (before live events arrive)."""
        for stage, lines in logs.items():
            self.buffers[stage] = deque(lines, maxlen=LOG_LINES_KEPT)
        self._redraw()

    def reset_stage(self, stage: str) -> None:
        """A new run of ``stage`` started: its old lines go."""
        self.buffers[stage] = deque(maxlen=LOG_LINES_KEPT)
        if stage == self.stage:
            self._redraw()

    def add(self, event: Log) -> None:
        """Append one log line (shown now if its stage is the one on display)."""
        lines = self.buffers.setdefault(event.stage, deque(maxlen=LOG_LINES_KEPT))
        lines.append(event)
        if event.stage == self.stage:
            if len(lines) == 1:
                self._redraw()  # replaces the "no log lines yet" placeholder
            else:
                self.write(log_line(event))

    def show_stage(self, stage: str | None) -> None:
        """Display ``stage``'s lines (no-op if it already is)."""
        if stage == self.stage:
            return
        self.stage = stage
        self._redraw()

    def _redraw(self) -> None:
        self.clear()
        self.border_title = f"log · {self.stage}" if self.stage else "log"
        lines = self.buffers.get(self.stage or "", ())
        if not lines:
            self.write(Text("(no log lines yet for this stage)", style="dim"))
        for event in lines:
            self.write(log_line(event))

    def shown_text(self) -> str:
        """The plain text of the lines on display (for tests)."""
        return "\n".join(e.message for e in self.buffers.get(self.stage or "", ()))
