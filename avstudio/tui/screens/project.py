"""The project screen: stage table, progress of the running stage, the selected stage's log.

Runs happen in a thread worker (``run_pipeline``); the runner's events come back as
:class:`~avstudio.tui.messages.PipelineEvent` messages. A run started by ``avstudio run``
in another terminal is followed through ``logs/events.jsonl`` and the lock file, polled
by a timer; while another process holds the lock every run key is disabled.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from avstudio.cancel import CancelToken
from avstudio.errors import AvStudioError, LockError
from avstudio.pipeline.events import Event, Log, Progress
from avstudio import humanize as fmt
from avstudio.pipeline.runs import request_stop
from avstudio.tui.bridge import event_poster, other_process, read_history
from avstudio.tui.messages import HistoryLoaded, PipelineEvent, StatusRefreshed
from avstudio.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from avstudio.tui.widgets.header import ProjectHeader
from avstudio.tui.widgets.log_pane import LogPane
from avstudio.tui.widgets.run_progress import RunProgress
from avstudio.tui.widgets.stage_table import StageTable
from avstudio.workspace.lock import describe, read_holder

RUN_ACTIONS = ("run_stage", "force_stage", "downstream", "run_all")


class ProjectScreen(Screen):
    """Stages, the running stage's progress, and the selected stage's log."""

    BINDINGS = [
        Binding("r", "run_stage", "Run", id="stage.run",
                tooltip="Run the selected stage (and its stale upstream stages) if it is not fresh"),
        Binding("f", "force_stage", "Force", id="stage.force",
                tooltip="Rerun the selected stage even if it is fresh"),
        Binding("d", "downstream", "+Down", id="stage.downstream",
                tooltip="Rerun the selected stage and every stage downstream of it"),
        Binding("a", "run_all", "All", id="run.all", tooltip="Run every stage that is not fresh"),
        Binding("x", "cancel_run", "Stop", id="run.cancel",
                tooltip="Stop the running stage at its next chunk (asks first); earlier outputs stay"),
        Binding("c", "checkpoints", "Ckpts", id="screen.checkpoints",
                tooltip="List, compare and choose mapper checkpoints"),
        Binding("e", "edit_manifest", "Edit", id="manifest.edit",
                tooltip="Open avstudio.toml in $EDITOR, then reload it"),
        Binding("l", "full_log", "Log", id="log.full",
                tooltip="The selected stage's log full screen, past runs included, scrollable by keyboard"),
        Binding("slash", "filter", "Filter", id="stage.filter", key_display="/", show=False,
                tooltip="Show only stages whose name or state contains what you type (empty: all)"),
    ]

    AUTO_FOCUS = "StageTable"

    def __init__(self, *, poll_interval: float = 0.2, status_interval: float = 5.0) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.status_interval = status_interval
        self.holder: dict[str, Any] | None = None
        """The lock holder last seen (this process's run or another's)."""
        self.headless = False
        """True while another process (``avstudio run``) holds the workspace lock."""
        self.run_worker_: Worker | None = None
        self.last_outcome = "idle"
        """How the last run ended (the status line returns to it once an error is fixed)."""
        self.cancel_token: CancelToken | None = None
        self.cancelling = False
        self.running_stage: str | None = None
        self.follower: Any = None
        self.status_loaded = False
        self.history_loaded = False
        self.status_error: str | None = None
        self.recent_events: deque[Event] = deque(maxlen=500)
        """The latest runner events handled (for tests and debugging)."""
        self._own_run = False
        self._follow_next_stage = False
        self._last_started: str | None = None
        self._manifest_mtime: float | None = None

    # -- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield ProjectHeader(id="header")
        yield Input(placeholder="filter stages by name or state (enter keeps it, escape clears)", id="stage-filter")
        yield StageTable(id="stages")
        yield RunProgress(id="progress")
        yield LogPane(id="log")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> StageTable:
        return self.query_one(StageTable)

    @property
    def progress(self) -> RunProgress:
        return self.query_one(RunProgress)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def header(self) -> ProjectHeader:
        return self.query_one(ProjectHeader)

    @property
    def ready(self) -> bool:
        """The first status and the event-log history have arrived."""
        return self.status_loaded and self.history_loaded

    @property
    def own_run(self) -> bool:
        """A run started from this TUI is in progress (until its worker's end is handled)."""
        return self._own_run

    @property
    def busy(self) -> bool:
        """Some run (here or headless) holds the workspace."""
        return self.own_run or self.headless

    def on_mount(self) -> None:
        ws = self.app.ws
        self.header.project = f"{ws.manifest.get('project.name')} ({ws.manifest.template})"
        self.header.media = ws.manifest.media_path().name
        self.log_pane.border_title = "log"
        self.progress.show_idle("")
        self.refresh_status()
        self.load_history()
        self.set_interval(self.poll_interval, self.poll_lock_and_log, name="attach-poll")
        self.set_interval(self.status_interval, self.refresh_status, name="status-poll")

    # -- background: status and history -----------------------------------------------
    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def refresh_status(self) -> None:
        """Recompute every stage's state (reads the manifest again if it changed on disk)."""
        ws = self.app.ws
        error = None
        try:
            mtime = ws.layout.manifest.stat().st_mtime
            if self._manifest_mtime is not None and mtime != self._manifest_mtime:
                ws.reload()
            self._manifest_mtime = mtime
            statuses = ws.status()
        except AvStudioError as exc:
            error, statuses = exc.one_line(), None
        except OSError as exc:
            error, statuses = f"cannot read the workspace: {exc}", None
        self.post_message(StatusRefreshed(statuses or [], error=error))

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load_history(self) -> None:
        """Read ``logs/events.jsonl`` once: stage logs, the newest run, and a follower at its end."""
        logs, last_run, follower = read_history(self.app.ws.layout.event_log)
        self.post_message(HistoryLoaded(logs, last_run, follower))

    def on_status_refreshed(self, message: StatusRefreshed) -> None:
        error = message.error
        if error:
            if error != self.status_error:
                self.app.push_screen(ErrorScreen("cannot read the workspace", error))
                self.progress.show_idle(f"cannot read the workspace: {error}")
            self.status_error = error
            return
        if self.status_error or (not self.busy and self.progress.progress_text.startswith(("not started", "cannot"))):
            self.progress.show_idle(self.last_outcome)  # fixed: the old error leaves the status line
        self.status_error = None
        first = not self.status_loaded
        self.status_loaded = True
        statuses = message.statuses
        if self.running_stage and self.own_run:
            # the worker may have read the state between two events; the run knows better
            for s in statuses:
                if s.name == self.running_stage:
                    s.state = "running"
        self.table.update_statuses(statuses)
        if first and statuses:
            if self.running_stage:  # attached to a run before the table had rows
                self.table.select_stage(self.running_stage)
            self.log_pane.show_stage(self.table.selected_stage)
        self.refresh_bindings()

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.history_loaded = True
        self.follower = message.follower
        self.log_pane.set_history(message.logs)
        holder = read_holder(self.app.ws.layout.lock_file)
        if other_process(holder) and message.last_run:
            # attaching to a run in progress: catch up with what it did so far
            self._set_holder(holder)
            for event in message.last_run:
                self.handle_event(event, headless=True, replay=True)
        elif message.last_run and message.last_run[-1].kind == "run_finished":
            self.last_outcome = _outcome(message.last_run[-1])
            self.progress.show_idle(self.last_outcome)

    # -- following a headless run ------------------------------------------------------
    def poll_lock_and_log(self) -> None:
        """Timer: who holds the lock, and what a headless run appended to the event log."""
        holder = read_holder(self.app.ws.layout.lock_file)
        was_headless = self.headless
        self._set_holder(holder)
        if self.follower is None:
            return
        events = list(self.follower.poll())
        if self.own_run:
            return  # our own events arrive as messages from the worker
        latest_progress: dict[str, Progress] = {}
        for event in events:
            if isinstance(event, Progress):  # a burst collapses to each stage's latest
                latest_progress[event.stage] = event
                continue
            for stage in list(latest_progress):
                if getattr(event, "stage", None) == stage:
                    self.handle_event(latest_progress.pop(stage), headless=True)
            self.handle_event(event, headless=True)
        for event in latest_progress.values():
            self.handle_event(event, headless=True)
        if was_headless and not self.headless:
            self.refresh_status()

    def _set_holder(self, holder: dict[str, Any] | None) -> None:
        headless = other_process(holder)
        changed = headless != self.headless or (holder or {}).get("stage") != (self.holder or {}).get("stage")
        self.holder = holder
        self.headless = headless
        if headless:
            self.header.run = f"run pid {holder.get('pid', '?')}" + (f": {holder['stage']}" if holder.get("stage") else "")
        elif self.own_run:
            self.header.run = "run from this TUI"
        else:
            self.header.run = ""
            self.cancelling = self.cancelling and self.own_run
        if changed:
            if headless and not self.running_stage:
                self._follow_next_stage = True
            if not headless and not self.own_run and self.running_stage:
                self.running_stage = None
            self.refresh_status()
            self.refresh_bindings()

    # -- runner events ------------------------------------------------------------------
    def on_pipeline_event(self, message: PipelineEvent) -> None:
        self.handle_event(message.event, headless=message.headless)

    def handle_event(self, event: Event, *, headless: bool = False, replay: bool = False) -> None:
        """Update the widgets for one runner event (own run, followed, or replayed)."""
        self.recent_events.append(event)
        kind = event.kind
        stage = getattr(event, "stage", "")
        if kind == "run_started":
            self._follow_next_stage = True
        elif kind == "stage_started":
            previous = self._last_started
            self.running_stage = self._last_started = stage
            if not replay:  # replayed: the history already holds this run's lines
                self.log_pane.reset_stage(stage)
            self.progress.show_started(stage)
            self.table.mark_running(stage)
            if self._follow_next_stage or self.table.selected_stage in (previous, None):
                self.table.select_stage(stage)
                self.log_pane.show_stage(stage)
            self._follow_next_stage = False
        elif kind == "progress":
            self.progress.show_progress(stage, event.done, event.total, event.unit, event.rate,
                                        getattr(event, "metrics", None))
        elif kind == "log":
            self.log_pane.add(event)
        elif kind == "stage_finished":
            self.log_pane.add(Log(stage=stage, message=f"done in {fmt.duration(event.seconds)}", time=event.time))
            if not replay:
                self.table.mark(stage, "fresh", [])  # at once; the status refresh then fills took/output
            self._stage_ended(stage)
        elif kind == "stage_failed":
            what = "interrupted" if event.interrupted else "failed"
            if not replay:
                self.table.mark(stage, what, [f"last run was {what}" if event.interrupted else
                                              f"last run failed: {event.message}"])
            self.log_pane.add(Log(stage=stage, level="warning" if event.interrupted else "error",
                                  message=f"{what}: {event.message}", time=event.time))
            self._stage_ended(stage)
            if event.interrupted:
                self.notify(f"{stage} interrupted; its previous output is kept", severity="warning")
            elif not replay:
                self.app.push_screen(ErrorScreen(f"stage {stage} failed", event.message, traceback=event.traceback))
        elif kind == "stage_skipped":
            if event.reason != "fresh":
                self.log_pane.add(Log(stage=stage, level="warning", message=f"skipped: {event.reason}", time=event.time))
        elif kind == "run_finished":
            self.running_stage = None
            self.last_outcome = _outcome(event)
            self.progress.show_idle(self.last_outcome)
            self.refresh_status()
            if not replay:  # the run may have taken hours: say so, and ring the terminal's bell
                self.notify(_outcome(event).removeprefix("last run: ").capitalize(),
                            title="run finished", severity="information" if event.ok else "warning")
                self.app.bell()
        self.refresh_bindings()

    def _stage_ended(self, stage: str) -> None:
        if self.running_stage == stage:
            self.running_stage = None
        self.progress.show_idle(f"{stage} ended")
        self.refresh_status()

    # -- starting and stopping runs -------------------------------------------------------
    def start_run(self, targets: tuple[str, ...], *, force: bool = False, downstream: bool = False) -> None:
        """Start the runner in a thread worker (unless some run already holds the workspace)."""
        if self.busy:
            self.notify("a run is already in progress", severity="warning")
            return
        holder = read_holder(self.app.ws.layout.lock_file)
        if other_process(holder):
            self._set_holder(holder)
            self.notify("another avstudio run holds this workspace; following it", severity="warning")
            return
        if self.app.detach:
            self.start_detached_run(targets, force, downstream)
            return
        self.cancel_token = CancelToken()
        self.cancelling = False
        self._follow_next_stage = True
        self.progress.show_idle("starting…")
        self._own_run = True
        self.run_worker_ = self.run_pipeline(targets, force, downstream, self.cancel_token)
        self.header.run = "run from this TUI"
        self.refresh_bindings()

    def start_detached_run(self, targets: tuple[str, ...], force: bool, downstream: bool) -> None:
        """Start the run as its own process (it outlives this TUI); the timer follows it from the event log."""
        from avstudio.pipeline.runs import start_detached

        self.progress.show_idle("starting…")
        self._follow_next_stage = True
        try:
            started = start_detached(self.app.ws.layout, targets, force=force, downstream=downstream)
        except AvStudioError as exc:
            self.progress.show_idle("not started")
            self.app.push_screen(ErrorScreen("cannot start the run", exc.one_line()))
            return
        self.notify(f"run {started['run_id']} started in the background (pid {started['pid']}); "
                    "it keeps going if you quit or lose the connection")
        self.poll_lock_and_log()

    @work(thread=True, exclusive=True, group="run", exit_on_error=False, description="avstudio run")
    def run_pipeline(self, targets: tuple[str, ...], force: bool, downstream: bool, cancel: CancelToken) -> Any:
        """Worker thread: the runner on its own Workspace object; events are posted back."""
        from avstudio.pipeline.runner import run
        from avstudio.workspace.workspace import Workspace

        ws = Workspace(self.app.ws.root)
        return run(ws, targets, force=force, downstream=downstream, on_event=event_poster(self),
                   cancel=cancel, command="avstudio tui")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self.run_worker_ or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                 WorkerState.CANCELLED):
            return
        if self.follower is not None:
            list(self.follower.poll())  # our own events are in the log too; skip them
        self._own_run = False
        self.cancelling = False
        self.header.run = ""
        if event.state == WorkerState.ERROR:
            self.running_stage = None
            error = worker.error
            if isinstance(error, LockError):
                self.progress.show_idle("not started: another run holds the workspace")
                self.app.push_screen(ErrorScreen("cannot start the run", error.one_line()))
            elif isinstance(error, AvStudioError):
                self.progress.show_idle(f"not started: {error.message}")
                self.app.push_screen(ErrorScreen("the run could not start", error.one_line()))
            else:
                import traceback

                tb = "".join(traceback.format_exception(error)) if error else ""
                self.progress.show_idle("the run crashed")
                self.app.push_screen(ErrorScreen("the run crashed", f"{type(error).__name__}: {error}", traceback=tb))
        self.refresh_status()
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------
    def why_not(self, action: str) -> str | None:
        """Why ``action`` cannot act now (None when it can): said in a toast when its key is pressed
        and next to its command in the palette."""
        if action in RUN_ACTIONS:
            if self.busy:
                return "a run is in progress (x stops it)"
            if not self.status_loaded:
                return "still reading the workspace"
            if action == "run_all":
                return None if any(s.state != "fresh" for s in self.table.statuses) else \
                    "every stage is fresh (f reruns the selected one)"
            status = self.table.status_of(self.table.selected_stage)
            if status is None:
                return "no stage is selected"
            if action == "run_stage" and status.state == "fresh":
                return f"{status.name} is fresh (f reruns it anyway)"
            return None
        if action == "cancel_run":
            if not self.busy:
                return "nothing is running"
            return "already stopping at the next chunk" if self.cancelling else None
        if action == "full_log" and not self.table.selected_stage:
            return "no stage is selected"
        if action == "checkpoints":
            ws = self.app.ws
            return None if "train" in ws.stages or ws.layout.checkpoints.is_dir() else \
                f"a {ws.manifest.template} workspace trains no painter"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        reason = self.why_not(action)
        if reason is None:
            return True
        hidden = (action == "cancel_run" and not self.busy) or action == "checkpoints"
        return False if hidden else None  # x shows only while a run goes, c only where painters train

    def on_key(self, event: Any) -> None:
        """A key whose action cannot act now says why instead of doing nothing."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.key == event.key:
                reason = self.why_not(binding.action)
                if reason:
                    self.notify(f"{binding.description}: {reason}", severity="warning", timeout=3)
                    event.stop()
                return

    def action_run_stage(self) -> None:
        self.start_run((self.table.selected_stage,))

    def action_force_stage(self) -> None:
        self.start_run((self.table.selected_stage,), force=True)

    def action_downstream(self) -> None:
        self.start_run((self.table.selected_stage,), force=True, downstream=True)

    def action_run_all(self) -> None:
        from avstudio.models.device import gpu_work

        params = self.app.ws.manifest.params
        gpu = [f"{s.name} ({why})" for s in self.table.statuses
               if s.state != "fresh" and (why := gpu_work(params, s.name))]
        if not gpu:
            self.start_run(())
            return
        self.app.push_screen(
            ConfirmScreen("Run every stale stage?", f"The plan includes GPU work: {'; '.join(gpu)}. "
                          "It can take long and hold the GPU.", yes="Run"),
            lambda yes: self.start_run(()) if yes else None,
        )

    def action_cancel_run(self) -> None:
        if self.own_run:
            what = f"the running stage ({self.running_stage})" if self.running_stage else "the run"
        else:
            what = f"the headless run ({describe(self.holder or {})})"
        self.app.push_screen(
            ConfirmScreen("Stop the run?", f"Stop {what} at its next chunk? The stage is marked "
                          "interrupted and its previous output is kept.", yes="Stop"),
            self._cancel_confirmed,
        )

    def _cancel_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        if self.own_run and self.cancel_token is not None:
            self.cancel_token.cancel()
            self.cancelling = True
            self.notify("stopping at the next chunk…")
        elif self.headless and self.holder:
            try:
                pid = request_stop(self.holder)
            except LockError as exc:
                self.app.push_screen(ErrorScreen("cannot stop the run", exc.one_line()))
                return
            self.cancelling = True
            self.notify(f"sent Ctrl-C (SIGINT) to pid {pid}; it stops at the next chunk")
        self.refresh_bindings()

    def action_filter(self) -> None:
        box = self.query_one("#stage-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#stage-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#stage-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        box = self.query_one("#stage-filter", Input)
        box.display = bool(event.value.strip())  # a filter in force stays visible
        self.table.focus()

    def key_escape(self) -> None:
        box = self.query_one("#stage-filter", Input)
        if box.has_focus or box.display:
            box.value = ""
            box.display = False
            self.table.set_filter("")
            self.table.focus()

    def action_full_log(self) -> None:
        from avstudio.tui.screens.log_view import LogScreen

        self.app.push_screen(LogScreen(self.table.selected_stage or ""))

    def action_checkpoints(self) -> None:
        from avstudio.tui.screens.checkpoints import CheckpointsScreen

        self.app.push_screen(CheckpointsScreen())

    def action_edit_manifest(self) -> None:
        path = self.app.ws.layout.manifest
        if not self.app.edit_file(path):
            return
        self._manifest_mtime = None
        try:
            self.app.ws.reload()
        except AvStudioError as exc:
            self.app.push_screen(ErrorScreen("the manifest has an error", exc.one_line()))
            return
        self.notify("manifest reloaded")
        self.refresh_status()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self.log_pane.show_stage(self.table.selected_stage)
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        from avstudio.tui.screens.stage_detail import StageDetailScreen

        stage = self.table.selected_stage
        if stage:
            self.app.push_screen(StageDetailScreen(stage, self.table.status_of(stage)))


def _outcome(event: Any) -> str:
    """``last run: ok in 3.20 s`` / ``failed (features)`` / ``interrupted``."""
    if event.interrupted:
        return f"last run: interrupted after {fmt.duration(event.seconds)}"
    if event.failed:
        return f"last run: failed ({', '.join(event.failed)})"
    return f"last run: ok in {fmt.duration(event.seconds)}"
