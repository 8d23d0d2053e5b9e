"""Following a headless ``avstudio run`` started in another process (a subprocess here)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from avstudio.pipeline.eventlog import last_run_events
from avstudio.pipeline.events import Progress
from avstudio.workspace.lock import read_holder
from avstudio.tui.screens.dialogs import ConfirmScreen
from tests.tui.conftest import REPO, headless_env, make_app, states, tap, wait_for


def start_headless(ws_dir, gate, *args: str) -> subprocess.Popen:
    """``python -m tests.tui.headless run -C DIR ...``: avstudio run with the fake pipeline."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tui.headless", "run", "-C", str(ws_dir), *args],
        cwd=REPO, env=headless_env(AVSTUDIO_FAKE_GATE=str(gate)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def held_at_slow(ws_dir) -> bool:
    """The headless run holds the lock and has reported chunk 2 of slow (then waits at the gate)."""
    holder = read_holder(ws_dir / ".avstudio" / "lock")
    events = last_run_events(ws_dir / "logs" / "events.jsonl")
    return bool(holder) and any(isinstance(e, Progress) and e.stage == "slow" and e.done == 2 for e in events)


async def test_open_tui_follows_a_headless_run_and_can_stop_it(ran_ws_dir, tmp_path):
    app = make_app(ran_ws_dir)
    proc = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.project_screen
            await wait_for(pilot, lambda: screen.ready)
            assert not screen.headless
            proc = start_headless(ran_ws_dir, tmp_path / "gate", "--force", "slow")
            await wait_for(pilot, lambda: "2/5 chunks" in screen.progress.progress_text, timeout=20,
                           what="headless progress")
            assert screen.headless and not screen.own_run
            assert screen.holder["pid"] == proc.pid
            assert screen.header.run.startswith(f"run pid {proc.pid}")
            assert screen.running_stage == "slow" and screen.table.selected_stage == "slow"
            assert "chunk 2/5" in screen.log_pane.shown_text()
            await wait_for(pilot, lambda: states(app)["slow"] == "running")
            # never a second writer: run keys are disabled while another process holds the lock
            for action in ("run_stage", "force_stage", "downstream", "run_all"):
                assert screen.check_action(action, ()) is None
            await tap(pilot, "f", "a")
            assert not screen.own_run
            assert screen.check_action("cancel_run", ()) is True
            await tap(pilot, "x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await tap(pilot, "y")  # SIGINT to the holder: it stops at the next chunk
            await wait_for(pilot, lambda: not screen.headless and states(app)["slow"] == "interrupted", timeout=20,
                           what="headless run interrupted")
            assert screen.table.status_of("slow").reasons == ["last run was interrupted"]
            assert screen.progress.progress_text.startswith("last run: interrupted")
            assert screen.header.run == ""
        assert proc.wait(timeout=10) == 130
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


async def test_tui_opened_during_a_headless_run_catches_up_and_sees_it_finish(ran_ws_dir, tmp_path):
    gate = tmp_path / "gate"
    proc = start_headless(ran_ws_dir, gate, "--force", "slow")
    try:
        deadline = time.monotonic() + 20
        while not held_at_slow(ran_ws_dir):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the headless run did not reach chunk 2"
            time.sleep(0.02)
        app = make_app(ran_ws_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.project_screen
            await wait_for(pilot, lambda: screen.ready and screen.headless)
            # replayed from logs/events.jsonl: the stage, its progress and its log so far
            assert screen.running_stage == "slow"
            assert screen.progress.progress_text.startswith("slow  2/5 chunks · ")
            assert "chunk 2/5" in screen.log_pane.shown_text()
            gate.touch()
            await wait_for(pilot, lambda: not screen.headless and set(states(app).values()) == {"fresh"},
                           timeout=20, what="headless run finished")
            assert [e.done for e in screen.recent_events if isinstance(e, Progress)][-1] == 5
            assert screen.progress.progress_text.startswith("last run: ok in ")
            assert screen.check_action("force_stage", ()) is True
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
