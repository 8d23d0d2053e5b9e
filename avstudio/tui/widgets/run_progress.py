"""The progress line of the running stage: bar, count, frames/s and ETA; or the last outcome."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Sparkline

from avstudio import humanize as fmt


class RunProgress(Horizontal):
    """One line: ``features ━━━━━━━╺━━━━  40%  120/300 frames · 45.2 frames/s · ETA 0:04``.

    ``progress_text`` is kept as plain text for tests and the help of screen readers.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.progress_text = "idle"
        self.stage: str | None = None
        self.losses: list[float] = []
        """Validation loss per reported epoch of the running ``train`` (the curve)."""

    def compose(self) -> ComposeResult:
        yield Label("idle", id="progress-stage")
        yield ProgressBar(total=None, show_eta=False, show_percentage=True, id="progress-bar")
        yield Label("", id="progress-text")
        yield Sparkline([], id="progress-curve")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one(Sparkline).display = False

    def show_progress(self, stage: str, done: float, total: float | None, unit: str,
                      rate: float | None, metrics: dict[str, float] | None = None) -> None:
        """Show ``stage`` at ``done`` of ``total`` ``unit``, going at ``rate`` per second; while
        training, the last validation loss and its curve so far."""
        self.stage = stage
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total if total else None, progress=done)
        line = fmt.progress_line(stage, done, total, unit, rate, metrics)
        self.progress_text = line
        self.query_one("#progress-stage", Label).update(stage)
        self.query_one("#progress-text", Label).update(line[len(stage):].strip())
        if metrics and "val_loss" in metrics:
            self.losses.append(float(metrics["val_loss"]))
            curve = self.query_one(Sparkline)
            curve.display = len(self.losses) > 1
            curve.data = [-v for v in self.losses]  # lower is better: the curve climbs as it learns

    def show_started(self, stage: str) -> None:
        """A stage started; no progress reported yet."""
        self.stage = stage
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.losses = []
        self.query_one(Sparkline).display = False
        self.progress_text = f"{stage}  starting"
        self.query_one("#progress-stage", Label).update(stage)
        self.query_one("#progress-text", Label).update("starting…")

    def show_idle(self, text: str) -> None:
        """No stage runs; ``text`` says how the last run ended."""
        self.stage = None
        self.query_one(ProgressBar).display = False
        self.query_one(Sparkline).display = False
        self.progress_text = text
        self.query_one("#progress-stage", Label).update("idle")
        self.query_one("#progress-text", Label).update(text)
