"""Checkpoints: list them, mark two or more to compare (params, metrics, loss curves,
preview frames), write the comparison PNG, and choose the one ``paint`` uses.

Listing and comparing read JSON only; preview frames (which open the weights and
run the mapper) and the PNG are made in thread workers.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from avstudio import humanize as fmt
from avstudio.errors import AvStudioError
from avstudio.tui.widgets.halfblock import PreviewGrid
from avstudio.tui.widgets.header import ProjectHeader
from avstudio.tui.widgets.plot import LinePlot, Series

PALETTE = ("#4EBF71", "#FEA62B", "#57A5E2", "#D17E92", "#B48EAD", "#88C0D0")
"""Curve colours, one per compared checkpoint (train loss is drawn in a dimmer twin)."""

KEY_METRICS = ("polarity_bacc", "mae")
"""Test-block metrics shown in the table (the painter's, matched by suffix)."""

NOT_COMPARED = frozenset({"best_epoch"})
"""Summary numbers that are not a quality (no "better" to mark)."""


def created_label(created: str | None) -> str:
    """ISO 8601 (UTC) as local ``MM-DD HH:MM``; the raw text if unparsable."""
    if not created:
        return ""
    try:
        stamp = _dt.datetime.fromisoformat(created)
    except ValueError:
        return created[:16]
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.timezone.utc)
    return stamp.astimezone().strftime("%m-%d %H:%M")


def metric_key(metrics: dict[str, float], suffix: str) -> str | None:
    """The metric named ``suffix``, preferring the painter's (``painter.mae``...)."""
    names = [k for k in metrics if k == suffix or k.endswith("." + suffix)]
    mapper = [k for k in names if ".painter." in f".{k}" or k.startswith("painter.")]
    return (mapper or names or [None])[0]


def params_table(table: dict[str, Any]) -> Table | Text:
    """The parameters that differ between the compared checkpoints."""
    names = table["checkpoints"]
    if len(names) < 2:
        return Text("(mark two or more checkpoints with space to see what differs)", style="dim")
    if not table["params"]:
        return Text("(same parameters)", style="dim")
    out = Table(box=None, padding=(0, 1), header_style="bold")
    out.add_column("param")
    for name in names:
        out.add_column(escape(name), overflow="fold")
    for key, values in table["params"].items():
        out.add_row(escape(key), *[escape(fmt.number(v)) for v in values])
    return out


def metrics_table(table: dict[str, Any]) -> Table | Text:
    """Metrics side by side; the better value of each row is bold with a ▲."""
    names = table["checkpoints"]
    if not table["metrics"]:
        return Text("(no metrics recorded)", style="dim")
    out = Table(box=None, padding=(0, 1), header_style="bold")
    out.add_column("metric")
    for name in names:
        out.add_column(escape(name), justify="right")
    for metric, row in table["metrics"].items():
        if metric in NOT_COMPARED:
            continue
        arrow = {True: "↓", False: "↑"}.get(row["lower_is_better"], "")
        cells = []
        for k, value in enumerate(row["values"]):
            if k in row["best"]:
                cells.append(Text(f"▲ {fmt.number(value)}", style="bold green"))
            else:
                cells.append(Text(fmt.number(value)))
        out.add_row(f"{escape(metric)} {arrow}", *cells)
    return out


def loss_series(infos: list[Any]) -> list[Series]:
    """Validation (and training) loss per epoch of each checkpoint."""
    series = []
    for k, info in enumerate(infos):
        color = PALETTE[k % len(PALETTE)]
        epochs = [h.get("epoch") for h in info.history]
        val = [h.get("val_loss") for h in info.history]
        train = [h.get("train_loss") for h in info.history]
        if any(v is not None for v in val):
            series.append(Series(f"{info.name} val", val, color, xs=epochs))
        if any(v is not None for v in train):
            series.append(Series(f"{info.name} train", train, _dim(color), xs=epochs))
    return series


def _dim(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"#{r // 2:02x}{g // 2:02x}{b // 2:02x}"


class CheckpointsScreen(Screen):
    """Checkpoints of the workspace; space marks them for comparison."""

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="ckpt.mark",
                tooltip="Mark or unmark the checkpoint under the cursor for comparison"),
        Binding("w", "write_sheet", "Sheet", id="ckpt.sheet",
                tooltip="Write the comparison contact sheet (PNG) of the marked checkpoints"),
        Binding("u", "use_for_paint", "Use", id="ckpt.use",
                tooltip="Make paint use the checkpoint under the cursor (sets paint.checkpoint)"),
        Binding("ctrl+r", "reload", "Reload", id="ckpt.reload", tooltip="List the checkpoints again"),
        Binding("escape,backspace", "back", "Back", id="ckpt.back", tooltip="Back to the stages"),
    ]

    AUTO_FOCUS = "#ckpt-table"

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[Any] = []
        self.marked: list[str] = []
        self.compared: list[str] = []
        self.comparison: dict[str, Any] | None = None
        self.preview_columns: dict[str, Any] | None = None
        self.preview_error: str | None = None
        self.sheet_path: Any = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield ProjectHeader(id="header")
        yield DataTable(id="ckpt-table", cursor_type="row")
        yield Label("", id="ckpt-status")
        with VerticalScroll(id="compare"):
            yield Label("differing params", classes="section-title")
            yield Static(id="compare-params")
            yield Label("metrics (▲ better)", classes="section-title")
            yield Static(id="compare-metrics")
            yield Label("loss per epoch", classes="section-title")
            yield LinePlot(id="loss-plot")
            yield Label("test-block frames: true | mean frame | checkpoints", classes="section-title")
            yield Static("", id="preview-status", markup=False)
            yield PreviewGrid(id="preview")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable:
        return self.query_one("#ckpt-table", DataTable)

    def on_mount(self) -> None:
        project = self.app.project_screen.header
        header = self.query_one(ProjectHeader)
        header.project, header.media, header.device = project.project, project.media, project.device
        self.action_reload()

    # -- listing -----------------------------------------------------------------------
    def action_reload(self) -> None:
        try:
            from avstudio.mapper.checkpoint import list_checkpoints
        except ImportError as exc:  # pragma: no cover - core module missing
            self.error = f"checkpoints cannot be listed: {exc}"
            self._status(self.error)
            return
        self.infos = list_checkpoints(self.app.ws.layout.checkpoints)
        names = {i.name for i in self.infos}
        self.marked = [m for m in self.marked if m in names]
        self._fill_table()
        self._update_comparison()

    def _metric_columns(self) -> list[tuple[str, str]]:
        cols = []
        for suffix in KEY_METRICS:
            key = next((metric_key(i.metrics, suffix) for i in self.infos if metric_key(i.metrics, suffix)), None)
            if key:
                cols.append((suffix, key))
        return cols

    def _fill_table(self) -> None:
        table = self.table
        selected = self.cursor_name
        table.clear(columns=True)
        metric_cols = self._metric_columns()
        for label in ("✓", "checkpoint", "model", "lr", "val loss", *[m for m, _ in metric_cols], "created"):
            table.add_column(label, key=label)
        in_use = self._in_use()
        for info in self.infos:
            mapper = info.config.get("mapper", {})
            train = info.config.get("train", {})
            name = Text(("★ " if info.best else "  ") + info.name, style="bold" if info.best else "")
            if info.name == in_use:
                name.append(" ◆", style="bold")
            if info.broken:
                name.append(f" ({info.broken})", style="red")
            model = f"{mapper.get('hidden', '?')}×{mapper.get('depth', '?')}" if mapper else ""
            table.add_row(
                "●" if info.name in self.marked else " ",
                name,
                model,
                fmt.number(train.get("lr")) if train.get("lr") is not None else "",
                fmt.number(info.metrics.get("selection_loss", info.metrics.get("best_val_loss"))),
                *[fmt.number(info.metrics.get(key)) for _, key in metric_cols],
                created_label(info.created),
                key=info.name,
            )
        if selected in {i.name for i in self.infos}:
            table.move_cursor(row=table.get_row_index(selected))
        status = f"{len(self.infos)} checkpoints · ★ best · ◆ used by paint · space marks · tab scrolls"
        if not self.infos:
            status = f"no checkpoints in {self.app.ws.layout.checkpoints} (run train first)"
        self._status(status)

    def _in_use(self) -> str | None:
        params = self.app.ws.manifest.params
        return params.get("paint", {}).get("checkpoint")

    @property
    def cursor_name(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _status(self, text: str) -> None:
        self.query_one("#ckpt-status", Label).update(text)

    # -- comparing ---------------------------------------------------------------------
    def selection(self) -> list[Any]:
        """What is compared: the marked checkpoints, or the one under the cursor."""
        names = self.marked if self.marked else ([self.cursor_name] if self.cursor_name else [])
        by_name = {i.name: i for i in self.infos}
        return [by_name[n] for n in names if n in by_name and by_name[n].broken is None]

    def _update_comparison(self) -> None:
        infos = self.selection()
        names = [i.name for i in infos]
        if names == self.compared and self.comparison is not None:
            return
        self.compared = names
        from avstudio.evaluate.compare import compare_table

        self.comparison = compare_table(infos)
        self.query_one("#compare-params", Static).update(params_table(self.comparison))
        self.query_one("#compare-metrics", Static).update(metrics_table(self.comparison))
        self.query_one(LinePlot).series = loss_series(infos)
        self.preview_columns, self.preview_error = None, None
        self.query_one(PreviewGrid).set_columns({})
        if infos:
            self.query_one("#preview-status", Static).update("loading preview frames…")
            self.load_previews(infos)
        else:
            self.query_one("#preview-status", Static).update("")

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def load_previews(self, infos: list[Any]) -> None:
        """Worker: paint the test block with each checkpoint (opens weights, runs the painter)."""
        try:
            from avstudio.evaluate.preview import preview_frames

            result = preview_frames(self.app.ws, infos)
            columns = result[1] if isinstance(result, tuple) else result
            error = None
        except AvStudioError as exc:
            columns, error = None, exc.one_line()
        except Exception as exc:  # noqa: BLE001 - shown, not raised: the rest of the screen works
            columns, error = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._show_previews, [i.name for i in infos], columns, error)

    def _show_previews(self, names: list[str], columns: dict[str, Any] | None, error: str | None) -> None:
        if names != self.compared:
            return  # the selection changed meanwhile
        self.preview_columns, self.preview_error = columns, error
        status = self.query_one("#preview-status", Static)
        if error:
            status.update(f"no preview: {error}")
            return
        status.update("")
        self.query_one(PreviewGrid).set_columns(columns or {})

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.marked:
            self._update_comparison()
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_mark":
            return True if self.cursor_name else None
        if action == "write_sheet":
            return True if self.selection() else None
        if action == "use_for_paint":
            if "paint" not in self.app.ws.manifest.params:
                return False  # this template does not paint
            info = next((i for i in self.infos if i.name == self.cursor_name), None)
            return True if info is not None and info.broken is None else None
        return True

    def action_toggle_mark(self) -> None:
        name = self.cursor_name
        if name is None:
            return
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        self.table.update_cell(name, "✓", "●" if name in self.marked else " ")
        self._update_comparison()
        self.refresh_bindings()

    def action_write_sheet(self) -> None:
        infos = self.selection()
        out = self.app.ws.layout.outputs / f"compare-{'-vs-'.join(i.name for i in infos)}.png"
        self._status(f"writing {out.name}…")
        self.write_sheet(infos, out)

    @work(thread=True, exclusive=True, group="sheet", exit_on_error=False)
    def write_sheet(self, infos: list[Any], out: Any) -> None:
        """Worker: the contact sheet PNG (true | mean frame | checkpoints, over the loss curves)."""
        try:
            from avstudio.evaluate.preview import write_comparison

            out.parent.mkdir(parents=True, exist_ok=True)
            path, error = write_comparison(self.app.ws, infos, out), None
        except AvStudioError as exc:
            path, error = None, exc.one_line()
        except Exception as exc:  # noqa: BLE001
            path, error = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._sheet_written, path, error)

    def _sheet_written(self, path: Any, error: str | None) -> None:
        if error:
            self._status(f"no contact sheet: {error}")
            self.notify(error, title="contact sheet", severity="error")
            return
        self.sheet_path = path
        self._status(f"wrote {path}")
        self.notify(str(path), title="contact sheet written")

    def action_use_for_paint(self) -> None:
        name = self.cursor_name
        if name is None:
            return
        try:
            self.app.ws.manifest.set("paint.checkpoint", name)
        except AvStudioError as exc:
            self.notify(exc.one_line(), severity="error")
            return
        self._fill_table()
        self.notify(f"paint.checkpoint = {name!r} (paint is now stale)")
        self.app.project_screen.refresh_status()

    def action_back(self) -> None:
        self.app.pop_screen()
