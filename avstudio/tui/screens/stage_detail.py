"""One stage in detail: what it does, why it is stale, the params it reads, its outputs."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from avstudio.errors import AvStudioError
from avstudio import humanize as fmt
from avstudio.tui.widgets.header import ProjectHeader


def params_table(params: dict[str, Any]) -> Table | Text:
    """``key = value`` rows of the manifest values a stage reads."""
    if not params:
        return Text("(reads no manifest values)", style="dim")
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    for key, value in sorted(params.items()):
        table.add_row(escape(key), escape(repr(value) if isinstance(value, str) else str(value)))
    return table


def store_lines(ws: Any, stage: str) -> list[str]:
    """The stage's committed outputs: datasets with dtype and shape, groups, attributes.

    Blocking (opens HDF5): call it from a worker.
    """
    from avstudio.workspace.show import walk

    if not ws.store.has(stage):
        return ["(nothing in the store yet)"]
    with ws.store.read(stage) as group:
        return list(walk(group)) or ["(empty group)"]


def store_curves(ws: Any, stage: str, *, points: int = 72, limit: int = 2_000_000) -> dict[str, Any]:
    """The stage's one-dimensional float datasets (per-frame features, ...), each as ``points`` bucket means.

    Blocking (opens HDF5): call it from a worker. Datasets longer than
    ``limit`` (an audio track) are left out.

    Returns
    -------
    dict of str to np.ndarray [shape=(<= points,), float64]
        By dataset path inside the stage's group (``brightness``, ``audio/rms``).
    """
    import h5py
    import numpy as np

    if not ws.store.has(stage):
        return {}
    curves: dict[str, Any] = {}
    with ws.store.read(stage) as group:
        def visit(name: str, obj: Any) -> None:
            if (isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.dtype.kind == "f"
                    and 2 <= obj.shape[0] <= limit):
                data = np.asarray(obj[:], np.float64)
                if np.isfinite(data).all():
                    curves[name] = np.array([part.mean() for part in np.array_split(data, min(points, len(data)))])

        group.visititems(visit)
    return curves


class StageDetailScreen(Screen):
    """The detail of one stage (escape goes back)."""

    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="detail.back", tooltip="Back to the stage table"),
    ]

    def __init__(self, stage: str, status: Any) -> None:
        super().__init__()
        self.stage = stage
        self.status = status
        self.outputs: list[str] | None = None
        self.curves: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        ws = self.app.ws
        stage = ws.stages[self.stage]
        st = self.status
        yield ProjectHeader(id="header")
        with VerticalScroll(id="detail"):
            yield Label(f"{self.stage}: {stage.description}", classes="section-title")
            state = f"{fmt.STATE_ICON.get(st.state, '?')} {st.state}" if st else "unknown"
            why = "\n".join(f"  • {r}" for r in st.reasons) if st and st.reasons else "  up to date"
            yield Static(f"state: {state}\n{why}", markup=False, id="detail-state")
            deps = ", ".join(stage.deps) or "none (reads the source media)"
            last = ""
            if st and st.last_status:
                last = (f"\nlast run: {st.last_status} in {fmt.duration(st.last_seconds)}"
                        f" at {fmt.clock(st.last_finished)}")
                if st.last_error:
                    last += f"\n  {st.last_error}"
            yield Static(f"upstream: {deps}{last}", markup=False)
            yield Label("params it reads", classes="section-title")
            yield Static(params_table(ws.stage_params(stage)), id="detail-params")
            yield Label("outputs in the store", classes="section-title")
            yield Static("loading…", id="detail-store", markup=False)
            files = stage.outputs(ws)
            if files:
                yield Label("output files", classes="section-title")
                lines = [f"{p.relative_to(ws.root) if p.is_relative_to(ws.root) else p}  "
                         f"{fmt.size(p.stat().st_size) if p.is_file() else '(missing)'}" for p in files]
                yield Static("\n".join(lines), markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        project = self.app.project_screen.header
        header = self.query_one(ProjectHeader)
        header.project, header.media, header.device = project.project, project.media, project.device
        self.load_store()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load_store(self) -> None:
        """Worker: open the stage's HDF5 file (h5py is imported here, never at start-up)."""
        try:
            lines = store_lines(self.app.ws, self.stage)
            curves = store_curves(self.app.ws, self.stage)
        except AvStudioError as exc:
            lines, curves = [f"cannot read the store: {exc.one_line()}"], {}
        self.app.call_from_thread(self._show_store, lines, curves)

    def _show_store(self, lines: list[str], curves: dict[str, Any]) -> None:
        """The store listing, then a sparkline per curve (a section only when the stage has curves)."""
        from textual.widgets import Sparkline

        self.query_one("#detail-store", Static).update("\n".join(lines))
        if curves:
            box = self.query_one("#detail", VerticalScroll)
            widgets: list[Any] = [Label("curves over the video", classes="section-title")]
            for name, values in curves.items():
                widgets.append(Static(f"{name}  {values.min():.3g} .. {values.max():.3g}", markup=False))
                widgets.append(Sparkline(values.tolist(), summary_function=max, classes="curve", name=name))
            box.mount_all(widgets, after=self.query_one("#detail-store"))
        self.curves = curves
        self.outputs = lines

    def action_back(self) -> None:
        self.app.pop_screen()
