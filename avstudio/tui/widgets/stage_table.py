"""The stage table: name, state (icon + colour), why, last duration, last run, output size."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from avstudio import humanize as fmt

COLUMNS = ("stage", "state", "why", "took", "last run", "output")


class StageTable(DataTable):
    """One row per stage, keyed by stage name; the cursor selects the stage keys act on."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Details", id="stage.details",
                tooltip="Open the selected stage: params it reads, outputs with shapes, why stale"),
        Binding("j", "cursor_down", "Next", id="stage.next", show=False, tooltip="Select the next stage (vi key)"),
        Binding("k", "cursor_up", "Previous", id="stage.previous", show=False,
                tooltip="Select the previous stage (vi key)"),
        Binding("g", "scroll_top", "First", id="stage.first", show=False, tooltip="Select the first stage"),
        Binding("G", "scroll_bottom", "Last", id="stage.last", show=False, tooltip="Select the last stage"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.statuses: list[Any] = []
        self.filter_text = ""
        """Only stages whose name or state contains this are shown (``/`` sets it)."""
        self._built_why_width = 0

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    @property
    def selected_stage(self) -> str | None:
        """The stage under the cursor (None while the table is empty)."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return key.value

    def select_stage(self, name: str) -> None:
        """Move the cursor to ``name``'s row (no-op if it has none)."""
        try:
            self.move_cursor(row=self.get_row_index(name))
        except Exception:  # RowDoesNotExist
            pass

    def _why_width(self) -> int:
        """What the other columns leave of the table's width (the why column is cut to it)."""
        others = 0
        for k, name in enumerate(COLUMNS):
            if name != "why":
                cells = [self._plain_cells(s)[k] for s in self.statuses]
                others += max([len(name), *(len(c) for c in cells)])
        width = self.size.width or 80
        return max(12, width - others - 2 * self.cell_padding * len(COLUMNS) - 1)

    @staticmethod
    def _plain_cells(status: Any) -> list[str]:
        return [
            status.name,
            f"{fmt.STATE_ICON.get(status.state, '?')} {status.state}",
            "",
            fmt.duration(status.last_seconds),
            fmt.clock(status.last_finished),
            fmt.size(status.output_bytes),
        ]

    def _cells(self, status: Any, why_width: int) -> list[Any]:
        name, state, _, took, last, size = self._plain_cells(status)
        color = self.app.get_css_variables().get(fmt.STATE_COLOR.get(status.state, ""), "")
        why = "; ".join(status.reasons) if status.state != "fresh" else ""
        return [
            Text(name, style="bold"),
            Text(state, style=color or None),
            Text(fmt.clip(why, why_width), style="dim" if status.state == "running" else ""),
            took,
            last,
            size,
        ]

    def update_statuses(self, statuses: list[Any]) -> None:
        """Show ``statuses`` (a list of StageStatus), keeping the cursor on the same stage.

        Cells are updated in place when the stages and column widths stay the same;
        otherwise the table is rebuilt.
        """
        self.statuses = list(statuses)
        same = [s.name for s in self.shown] == [k.value for k in self.rows]
        why_width = self._why_width()
        if same and why_width == self._built_why_width:
            for status in self.shown:
                for col, value in zip(COLUMNS, self._cells(status, why_width)):
                    self.update_cell(status.name, col, value, update_width=True)
            return
        selected = self.selected_stage
        self._rebuild()
        if selected is not None:
            self.select_stage(selected)

    def _rebuild(self) -> None:
        self.clear(columns=True)
        for name in COLUMNS:
            self.add_column(name, key=name)
        why_width = self._built_why_width = self._why_width()
        for status in self.shown:
            self.add_row(*self._cells(status, why_width), key=status.name)

    @property
    def shown(self) -> list[Any]:
        """The statuses the filter lets through."""
        text = self.filter_text.lower()
        return [s for s in self.statuses if not text or text in s.name.lower() or text in s.state]

    def set_filter(self, text: str) -> None:
        """Show only stages whose name or state contains ``text`` (empty: all)."""
        self.filter_text = text.strip()
        self.update_statuses(self.statuses)

    def mark_running(self, name: str) -> None:
        """Show ``name`` as running now, before the next status refresh confirms it."""
        self.mark(name, "running", ["running now"])

    def mark(self, name: str, state: str, reasons: list[str]) -> None:
        """Show ``name`` in ``state`` at once (an event said so); the next status refresh confirms it."""
        for status in self.statuses:
            if status.name == name:
                status.state, status.reasons = state, reasons
        self.update_statuses(self.statuses)

    def status_of(self, name: str | None) -> Any:
        """The StageStatus of ``name`` (None if unknown)."""
        return next((s for s in self.statuses if s.name == name), None)

    def on_resize(self) -> None:
        if self.statuses:  # the why column gets the width there is
            selected = self.selected_stage
            self._rebuild()
            if selected is not None:
                self.select_stage(selected)
