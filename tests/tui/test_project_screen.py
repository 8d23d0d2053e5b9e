"""The project screen driven with Pilot: runs, reruns, cancel, errors, detail, editing."""

from __future__ import annotations

import h5py

from avstudio.pipeline.events import Progress, StageFinished
from avstudio.tui.messages import PipelineEvent
from avstudio.tui.screens.dialogs import ConfirmScreen, ErrorScreen, HelpScreen
from avstudio.tui.screens.stage_detail import StageDetailScreen
from tests.tui.conftest import make_app, states, tap, text_of, wait_for


def _idle(app) -> bool:
    p = app.project_screen
    return p.status_loaded and not p.own_run and p.running_stage is None


async def test_fresh_workspace_lists_missing_stages_and_allowed_keys(ws_dir):
    app = make_app(ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready, what="first status")
        assert [s.name for s in screen.table.statuses] == ["source", "slow", "tail"]
        assert states(app) == {"source": "missing", "slow": "missing", "tail": "missing"}
        assert screen.table.status_of("source").reasons == ["never run"]
        assert screen.header.project == "ws (sonify)"
        assert screen.header.media == "clip.mp4"
        assert screen.header.device == "cpu"
        assert screen.check_action("run_stage", ()) is True
        assert screen.check_action("run_all", ()) is True
        assert screen.check_action("cancel_run", ()) is False  # nothing runs: hidden
        assert screen.check_action("checkpoints", ()) is False  # sonify without checkpoints/
        titles = {c.title for c in app.get_system_commands(screen)}
        assert "All: Run every stage that is not fresh" in titles
        assert not any(t.startswith("Stop:") for t in titles)


async def test_run_all_makes_every_stage_fresh_and_logs_follow(ws_dir):
    app = make_app(ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "a")
        await wait_for(pilot, lambda: _idle(app) and states(app) == dict.fromkeys(("source", "slow", "tail"), "fresh"),
                       what="all fresh")
        finished = [e.stage for e in screen.recent_events if isinstance(e, StageFinished)]
        assert finished == ["source", "slow", "tail"]
        assert screen.progress.progress_text.startswith("last run: ok in ")
        # the cursor followed the run to its last stage, and the log pane shows that stage
        assert screen.table.selected_stage == "tail"
        assert screen.log_pane.stage == "tail"
        assert f"total {sum(range(160))}" in screen.log_pane.shown_text()  # analysis.size = 160 (sonify default)
        await tap(pilot, "up")
        await wait_for(pilot, lambda: screen.log_pane.stage == "slow", what="log pane follows the cursor")
        assert "chunk 5/5" in screen.log_pane.shown_text()
        assert screen.check_action("run_stage", ()) is None  # fresh: greyed out
        assert screen.check_action("force_stage", ()) is True


async def test_rerun_makes_a_stale_stage_fresh(ran_ws_dir):
    from avstudio.workspace.workspace import Workspace

    Workspace(ran_ws_dir).manifest.set("analysis.size", 64)  # source reads analysis.size
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        assert states(app) == {"source": "stale", "slow": "stale", "tail": "stale"}
        assert any("analysis.size" in r for r in screen.table.status_of("source").reasons)
        assert screen.table.selected_stage == "source"
        await tap(pilot, "r")
        await wait_for(pilot, lambda: _idle(app) and states(app)["source"] == "fresh", what="source fresh")
        # r runs the selected stage (and what it needs), not its dependents
        assert states(app) == {"source": "fresh", "slow": "stale", "tail": "stale"}
        with h5py.File(ran_ws_dir / "store" / "source.h5", "r", locking=False) as f:  # as status reads it
            assert f["source/values"].shape == (64,)
        await tap(pilot, "a")
        await wait_for(pilot, lambda: _idle(app) and set(states(app).values()) == {"fresh"}, what="all fresh")
        with h5py.File(ran_ws_dir / "store" / "slow.h5", "r", locking=False) as f:  # as status reads it
            assert f["slow/total"][0] == sum(range(64))


async def test_cancel_asks_then_stops_the_run_and_keeps_the_store(ran_ws_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("AVSTUDIO_FAKE_GATE", str(tmp_path / "never"))  # slow holds after 2 chunks
    with h5py.File(ran_ws_dir / "store" / "slow.h5", "r", locking=False) as f:  # as status reads it
        before = int(f["slow/total"][0])
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "down", "f")  # force-rerun slow
        await wait_for(pilot, lambda: "2/5 chunks" in screen.progress.progress_text, what="progress 2/5")
        assert screen.own_run and screen.running_stage == "slow"
        assert states(app)["slow"] == "running"
        for action in ("run_stage", "force_stage", "downstream", "run_all"):
            assert screen.check_action(action, ()) is None  # one writer at a time
        assert screen.header.run == "run from this TUI"
        await tap(pilot, "x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="ConfirmScreen")
        await tap(pilot, "n")  # asked first; "no" leaves it running
        assert screen.own_run and not screen.cancel_token.cancelled
        await tap(pilot, "x")
        await tap(pilot, "y")
        await wait_for(pilot, lambda: _idle(app) and states(app)["slow"] == "interrupted", what="interrupted")
        assert screen.table.status_of("slow").reasons == ["last run was interrupted"]
        assert screen.progress.progress_text.startswith("last run: interrupted")
        assert "interrupted" in screen.log_pane.shown_text()
        assert states(app)["source"] == "fresh"
    with h5py.File(ran_ws_dir / "store" / "slow.h5", "r", locking=False) as f:  # as status reads it
        assert int(f["slow/total"][0]) == before  # the previous output is intact
    assert not list((ran_ws_dir / ".avstudio" / "tmp").glob("*.h5"))


async def test_stage_failure_shows_a_modal_with_the_traceback_on_a_key(ran_ws_dir, monkeypatch):
    monkeypatch.setenv("AVSTUDIO_FAKE_FAIL", "1")
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "down", "f")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="error modal")
        modal = app.screen
        assert modal.title_text == "stage slow failed"
        assert modal.message == "the fake stage failed on purpose (unset AVSTUDIO_FAKE_FAIL)"
        assert "StageError" in modal.traceback
        await wait_for(pilot, lambda: modal.is_mounted, what="modal mounted")
        tb = modal.query_one("#traceback")
        assert not tb.display
        await tap(pilot, "t")
        await wait_for(pilot, lambda: tb.display, what="traceback shown")
        await tap(pilot, "escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the project screen")
        await wait_for(pilot, lambda: _idle(app) and states(app)["slow"] == "failed")
        assert states(app)["tail"] == "fresh"  # skipped, its old output stays


async def test_lock_held_elsewhere_refuses_the_run_with_a_modal(ran_ws_dir):
    from avstudio.workspace.lock import WorkspaceLock

    app = make_app(ran_ws_dir)
    lock = WorkspaceLock(ran_ws_dir / ".avstudio" / "lock")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        lock.acquire(command="test holder")  # this pid: the TUI does not take it for a headless run
        try:
            await tap(pilot, "f")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="lock modal")
            assert app.screen.title_text == "cannot start the run"
            assert app.screen.message.startswith("another avstudio run is writing to this workspace")
        finally:
            lock.release()


async def test_progress_bursts_collapse():
    a = PipelineEvent(Progress(stage="slow", done=1, total=5))
    b = PipelineEvent(Progress(stage="slow", done=2, total=5))
    other = PipelineEvent(Progress(stage="tail", done=1, total=5))
    log = PipelineEvent(StageFinished(stage="slow"))
    assert a.can_replace(b)
    assert not a.can_replace(other)
    assert not log.can_replace(a) and not a.can_replace(log)


async def test_enter_opens_stage_detail_with_params_and_store_shapes(ran_ws_dir):
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StageDetailScreen), what="StageDetailScreen")
        detail = app.screen
        await wait_for(pilot, lambda: detail.outputs is not None, what="store read")
        assert detail.stage == "slow"
        assert any(line.startswith("total  int64 (1,)") for line in detail.outputs)
        assert text_of(detail.query_one("#detail-params").content).split() == ["analysis.chunk", "256"]
        assert text_of(detail.query_one("#detail-state").content).split("\n")[:2] == ["state: ✓ fresh", "  up to date"]
        await tap(pilot, "escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the project screen")


async def test_edit_reloads_the_manifest_and_status(ran_ws_dir):
    app = make_app(ran_ws_dir)
    edited = []

    def fake_editor(path):
        path.write_text(path.read_text().replace("chunk = 256", "chunk = 128"))
        edited.append(path)
        return True

    app.edit_file = fake_editor
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        assert set(states(app).values()) == {"fresh"}
        await tap(pilot, "e")
        await wait_for(pilot, lambda: edited, what="the editor opened")
        assert edited == [ran_ws_dir / "avstudio.toml"]
        await wait_for(pilot, lambda: states(app)["slow"] == "stale", what="slow stale")
        assert states(app) == {"source": "fresh", "slow": "stale", "tail": "stale"}
        assert app.ws.manifest.get("analysis.chunk") == 128


async def test_help_lists_keys_and_quit_asks_while_running(ran_ws_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("AVSTUDIO_FAKE_GATE", str(tmp_path / "gate"))
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="HelpScreen")
        keys = {b.key for b in app.screen.bindings_shown}
        assert {"r", "f", "d", "a", "x", "c", "e", "enter", "question_mark", "q"} <= keys
        await tap(pilot, "escape")
        await tap(pilot, "down", "f")
        await wait_for(pilot, lambda: "2/5" in screen.progress.progress_text)
        await tap(pilot, "q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="ConfirmScreen")
        await tap(pilot, "n")
        assert app.is_running
        (tmp_path / "gate").touch()
        await wait_for(pilot, lambda: _idle(app))


async def test_keys_that_cannot_act_say_why_and_the_palette_lists_them_unavailable(ran_ws_dir):
    from avstudio.tui.app import command_title

    app = make_app(ran_ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: _idle(app))
        assert set(states(app).values()) == {"fresh"}
        notes = []
        original = screen.notify
        screen.notify = lambda message, **kw: (notes.append(message), original(message, **kw))
        await tap(pilot, "r")  # the selected stage is fresh: nothing runs, a toast says why
        await wait_for(pilot, lambda: notes and notes[-1] == "Run: source is fresh (f reruns it anyway)")
        await tap(pilot, "a")
        await wait_for(pilot, lambda: notes[-1] == "All: every stage is fresh (f reruns the selected one)")
        assert screen.run_worker_ is None  # nothing was started
        titles = {c.title: c.help for c in app.get_system_commands(screen)}
        run_all = next(b for b in screen.BINDINGS if b.action == "run_all")
        assert titles[f"(unavailable) {command_title(run_all)}"] == "key a: every stage is fresh (f reruns the selected one)"
        await tap(pilot, "j", "j", "g")  # vi keys move the selection
        assert screen.table.selected_stage == "source"
        await tap(pilot, "G")
        assert screen.table.selected_stage == "tail"


async def test_l_opens_the_stage_log_with_past_runs_full_screen(ran_ws_dir):
    from avstudio.tui.screens.log_view import LogScreen

    app = make_app(ran_ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: _idle(app))
        await tap(pilot, "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), what="log screen")
        log = app.screen.query_one("#full-log")
        await wait_for(pilot, lambda: log.lines, what="log lines drawn")
        text = "\n".join(line.text for line in log.lines)
        assert "── run " in text and "wrote" in text  # a heading per run, the stage's own lines
        await tap(pilot, "escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back")


async def test_run_all_asks_first_when_the_plan_holds_gpu_work(ran_ws_dir):
    from avstudio.models.device import gpu_work
    from avstudio.tui.screens.dialogs import ConfirmScreen

    assert gpu_work({"render": {"backend": "sd15"}}, "paint") == "render.backend = sd15"
    assert gpu_work({"encoders": {"audio": "clap:x", "image": "builtin"}}, "embed") == "encoders.audio = clap:x"
    assert gpu_work({"encoders": {"audio": "builtin", "image": "builtin"}}, "embed") is None
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: _idle(app))
        import avstudio.models.device as device

        original = device.gpu_work
        device.gpu_work = lambda params, stage: "render.backend = sd15" if stage == "tail" else None
        try:
            for s in screen.table.statuses:
                s.state = "stale"
            await tap(pilot, "a")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
            assert "tail (render.backend = sd15)" in app.screen.message
            await tap(pilot, "escape")
            assert screen.run_worker_ is None  # declined: nothing started
        finally:
            device.gpu_work = original


async def test_slash_filters_the_stages_by_name_or_state(ran_ws_dir):
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: _idle(app))
        notes = []
        original = screen.notify
        screen.notify = lambda message, **kw: (notes.append(message), original(message, **kw))
        await tap(pilot, "slash")
        box = screen.query_one("#stage-filter")
        await wait_for(pilot, lambda: box.has_focus, what="the filter box focused")  # Textual moves focus later
        await tap(pilot, "s", "l")  # typing goes to the filter, not to the r/a/l... keys
        await wait_for(pilot, lambda: [k.value for k in screen.table.rows] == ["slow"], what="filtered")
        assert notes == [] and screen.run_worker_ is None
        await tap(pilot, "enter")
        await wait_for(pilot, lambda: screen.table.has_focus, what="the table focused again")
        assert screen.table.selected_stage == "slow"
        await tap(pilot, "escape")
        await wait_for(pilot, lambda: [k.value for k in screen.table.rows] == ["source", "slow", "tail"])


async def test_stage_detail_shows_a_sparkline_per_feature(tmp_path, solid_clip):
    """The real features stage: one sparkline per per-frame curve, with its range."""
    from textual.widgets import Sparkline

    from avstudio.pipeline.runner import run
    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.workspace import Workspace

    root = create_workspace(tmp_path / "real", template="sonify", video=solid_clip).root
    run(Workspace(root), ["features"])
    app = make_app(root)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.project_screen.ready)
        await tap(pilot, "down", "enter")  # features, the second stage
        await wait_for(pilot, lambda: isinstance(app.screen, StageDetailScreen), what="StageDetailScreen")
        detail = app.screen
        await wait_for(pilot, lambda: detail.curves is not None and detail.query(Sparkline), what="sparklines")
        assert detail.stage == "features"
        assert {"brightness", "contrast", "mass_fraction", "motion", "audio/rms"} <= set(detail.curves)
        sparks = list(detail.query(Sparkline))
        assert [s.name for s in sparks] == list(detail.curves) and all(len(s.data) == 72 for s in sparks)
        brightness = detail.curves["brightness"]
        assert abs(float(brightness.mean()) - (0.299 * 200 + 0.587 * 100 + 0.114 * 50)) < 2  # the clip's grey
