"""The progress line of the running stage: bar, count, frames/s and ETA; or the last outcome."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from avstudio import humanize as fmt


class RunProgress(Horizontal):
    """One line: ``features ━━━━━━━╺━━━━  40%  120/300 frames · 45.2 frames/s · ETA 0:04``.

    ``progress_text`` is kept as plain text for tests and the help of screen readers.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.progress_text = "idle"
        self.stage: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("idle", id="progress-stage")
        yield ProgressBar(total=None, show_eta=False, show_percentage=True, id="progress-bar")
        yield Label("", id="progress-text")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def show_progress(self, stage: str, done: float, total: float | None, unit: str,
                      rate: float | None) -> None:
        """Show ``stage`` at ``done`` of ``total`` ``unit``, going at ``rate`` per second."""
        self.stage = stage
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total if total else None, progress=done)
        line = fmt.progress_line(stage, done, total, unit, rate)
        self.progress_text = line
        self.query_one("#progress-stage", Label).update(stage)
        self.query_one("#progress-text", Label).update(line[len(stage):].strip())

    def show_started(self, stage: str) -> None:
        """A stage started; no progress reported yet."""
        self.stage = stage
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.progress_text = f"{stage}  starting"
        self.query_one("#progress-stage", Label).update(stage)
        self.query_one("#progress-text", Label).update("starting…")

    def show_idle(self, text: str) -> None:
        """No stage runs; ``text`` says how the last run ended."""
        self.stage = None
        self.query_one(ProgressBar).display = False
        self.progress_text = text
        self.query_one("#progress-stage", Label).update("idle")
        self.query_one("#progress-text", Label).update(text)
