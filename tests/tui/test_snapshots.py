"""Snapshots at fixed terminal sizes (times frozen, TZ=UTC, device label given), and 80x24."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets import Footer

from avstudio.tui.screens.checkpoints import CheckpointsScreen
from avstudio.tui.screens.stage_detail import StageDetailScreen
from tests.tui.conftest import REPO, freeze_times, make_app, make_checkpoints, stub_previews, tap, wait_for


async def _ready(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.project_screen.ready, what="first status and history")
    await pilot.pause()


def test_project_screen_snapshot_80x24(ran_ws_dir, frozen_tz, snap_compare):
    freeze_times(ran_ws_dir)
    assert snap_compare(make_app(ran_ws_dir), terminal_size=(80, 24), run_before=_ready)


def test_stage_detail_snapshot(ran_ws_dir, frozen_tz, snap_compare):
    freeze_times(ran_ws_dir)

    async def open_detail(pilot):
        await _ready(pilot)
        await tap(pilot, "down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StageDetailScreen)
                       and pilot.app.screen.outputs is not None)

    assert snap_compare(make_app(ran_ws_dir), terminal_size=(80, 24), run_before=open_detail)


def test_checkpoint_comparison_snapshot(ran_ws_dir, frozen_tz, monkeypatch, snap_compare):
    make_checkpoints(ran_ws_dir / "checkpoints", [("ckpt-a", 1e-3, 64, False), ("ckpt-b", 3e-4, 128, True)])
    stub_previews(monkeypatch)
    freeze_times(ran_ws_dir)

    async def compare(pilot):
        await _ready(pilot)
        await tap(pilot, "c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckpointsScreen))
        await tap(pilot, "space", "down", "space")
        await wait_for(pilot, lambda: pilot.app.screen.preview_columns is not None)
        await pilot.pause()

    assert snap_compare(make_app(ran_ws_dir), terminal_size=(100, 50), run_before=compare)


async def test_renders_at_80x24(ran_ws_dir):
    app = make_app(ran_ws_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _ready(pilot)
        screen = app.project_screen
        table, log, footer = screen.table, screen.log_pane, screen.query_one(Footer)
        assert screen.header.region.y == 0 and footer.region.y == 23
        assert table.region.height == 4  # header row + 3 stages, nothing hidden
        assert table.virtual_size.width <= table.region.width  # no sideways scrolling
        assert log.region.height >= 10
        keys = [k for k in footer.query("FooterKey")]
        assert {k.key for k in keys} >= {"f", "d", "e", "question_mark", "q"}
        assert all(k.region.right <= 80 for k in keys)  # every key fits on the footer line


def test_importing_the_app_imports_no_heavy_library():
    code = ("import sys, time; t = time.perf_counter(); import avstudio.tui.app, avstudio.cli; "
            "print(time.perf_counter() - t); "
            "print(','.join(m for m in ('torch', 'cv2', 'librosa', 'h5py', 'av', 'scipy', 'soundfile', "
            "'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.splitlines()
    assert heavy == ""
    assert float(seconds) < 3.0  # ~0.3 s on an idle machine; generous for loaded CI
