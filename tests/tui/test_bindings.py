"""Every key has a description, an id and a command-palette twin; the real sonify pipeline runs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding

import avstudio.tui
from avstudio.tui.app import command_title
from tests.tui.conftest import make_app, states, tap, wait_for


def _tui_classes():
    for info in pkgutil.walk_packages(avstudio.tui.__path__, "avstudio.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and "BINDINGS" in cls.__dict__:
                yield cls


def test_every_binding_has_a_description_an_id_and_help():
    classes = list(_tui_classes())
    assert {c.__name__ for c in classes} >= {"AvStudioApp", "ProjectScreen", "StageTable", "CheckpointsScreen",
                                             "StageDetailScreen", "ConfirmScreen", "ErrorScreen", "HelpScreen"}
    ids = []
    for cls in classes:
        for b in cls.__dict__["BINDINGS"]:
            assert isinstance(b, Binding), (cls, b)
            assert b.description and b.id and b.tooltip, (cls.__name__, b.key)
            ids.append(b.id)
    assert len(ids) == len(set(ids))  # ids are unique, so a keymap can rebind any of them


async def test_palette_commands_mirror_the_keys_that_apply_now(ws_dir):
    app = make_app(ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        for b in screen.BINDINGS:
            applies = screen.check_action(b.action, ()) is True
            assert (command_title(b) in commands) == applies, b.key
        run_all = "All: Run every stage that is not fresh"
        assert commands[run_all].help == "key a"
        assert "Details: Open the selected stage: params it reads, outputs with shapes, why stale" in commands
        assert "Help: The keys of this screen and what stage states mean" in commands
        # choosing the command does what the key does
        await commands[run_all].callback()
        await wait_for(pilot, lambda: not screen.own_run and set(states(app).values()) == {"fresh"})
        titles = {c.title for c in app.get_system_commands(screen)}
        assert run_all not in titles  # nothing stale any more
        assert "Force: Rerun the selected stage even if it is fresh" in titles


async def test_the_real_sonify_pipeline_runs_from_the_tui(tmp_path, clip):
    from avstudio.workspace.create import create_workspace

    ws_dir = create_workspace(tmp_path / "real", template="sonify", video=clip).root
    app = make_app(ws_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        assert list(states(app)) == ["extract", "features", "sonify", "assemble"]
        await tap(pilot, "a")
        await wait_for(pilot, lambda: not screen.own_run and set(states(app).values()) == {"fresh"}, timeout=60,
                       what="sonify pipeline")
        progress = [e for e in screen.recent_events if e.kind == "progress" and e.stage == "extract"]
        assert progress[-1].done == progress[-1].total == 12 and progress[-1].unit == "frames"
        await tap(pilot, "up", "up", "up")
        await wait_for(pilot, lambda: screen.log_pane.stage == "extract")
        assert "12 frames (1.000 s), audio: none" in screen.log_pane.shown_text()
    assert (ws_dir / "outputs" / "sonified.wav").stat().st_size > 44100 * 2 * 2


async def test_a_run_started_from_the_tui_is_its_own_process_and_outlives_the_tui(tmp_path, clip):
    import os
    import time

    from avstudio.workspace.create import create_workspace
    from avstudio.workspace.lock import read_holder
    from avstudio.workspace.workspace import Workspace

    ws_dir = create_workspace(tmp_path / "real", template="sonify", video=clip).root
    lock = Workspace(ws_dir).layout.lock_file
    app = make_app(ws_dir, detach=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.project_screen
        await wait_for(pilot, lambda: screen.ready)
        await tap(pilot, "a")
        await wait_for(pilot, lambda: screen.headless, what="the detached run")
        holder = read_holder(lock)
        assert holder["pid"] != os.getpid() and os.getsid(holder["pid"]) != os.getsid(0)
        await tap(pilot, "q")  # just leaves: no question, the run goes on
    assert app.return_code in (0, None)
    deadline = time.time() + 60
    while read_holder(lock) is not None and time.time() < deadline:
        time.sleep(0.05)
    assert {s.state for s in Workspace(ws_dir).status()} == {"fresh"}
