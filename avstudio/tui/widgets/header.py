"""The one-line header: project, template, source media, device, and who holds the lock."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static


class ProjectHeader(Static):
    """``avstudio │ name (template) │ media: clip.mp4 │ device: cuda (…) │ run: …``."""

    project: reactive[str] = reactive("")
    media: reactive[str] = reactive("")
    device: reactive[str] = reactive("…")
    run: reactive[str] = reactive("")
    """What is running (``headless pid 123``), empty when idle."""

    def render(self) -> Content:
        width = self.size.width or 80
        fixed = len(f"avstudio │ {self.project} │ media:  │ device: {self.device}") + (len(self.run) + 5 if self.run else 0)
        fixed += 2  # the widget's padding
        media = self.media
        room = width - fixed
        if len(media) > room:  # keep both ends of the file name: "sectoid_sh…_90s.mp4"
            media = media[: room // 2 - 1] + "…" + media[-(room - room // 2):] if room >= 8 else ""
        parts = [
            Content.from_markup("[b]avstudio[/b]"),
            Content.from_markup("[b]$project[/b]", project=self.project),
            *([Content.from_markup("media: $media", media=media)] if media else []),
            Content.from_markup("device: $device", device=self.device),
        ]
        if self.run:
            parts.append(Content.from_markup("[$text-primary]▶ $run[/]", run=self.run))
        return Content(" │ ").join(parts)
